// Prefixes in binary files are rewritten the way conda does: each C string
// that holds the old prefix gets every occurrence replaced, and is padded
// with NUL bytes to its old length, so nothing else in the file moves. A new
// prefix longer than the old one cannot fit.
//
// Linker tail merging: a linker may store a string the program uses (say
// "greeting.txt") as the tail of a longer one ("/prefix/share/greeting.txt").
// Padding moves the tail, so the shorter string then reads differently.
// conda and conda-pack have the same hazard; envpack keeps conda's exact
// strings (a program that prints or compares its compiled-in path sees the
// new path, not a padded one) and so shares it. Moving to a prefix of the
// same length avoids it entirely. See docs/relocation.md.

/// The string with each `old` replaced by `new` and NUL padding to
/// `capacity` bytes (default: the string's own length), or nil when it does
/// not fit.
public func relocatedCString(_ string: ArraySlice<UInt8>, old: [UInt8], new: [UInt8], capacity: Int? = nil) -> [UInt8]? {
    let capacity = capacity ?? string.count
    var out: [UInt8] = []
    out.reserveCapacity(string.count)
    var i = string.startIndex
    while i < string.endIndex {
        if string[i] == old.first, string.endIndex - i >= old.count, string[i..<(i + old.count)].elementsEqual(old) {
            out.append(contentsOf: new)
            i += old.count
        } else {
            out.append(string[i])
            i += 1
        }
    }
    guard out.count <= capacity else { return nil }
    out.append(contentsOf: repeatElement(0, count: capacity - out.count))
    return out
}
