// Finding a prefix in bytes. Prefix detection reads every file once, so this
// is on the hot path: it leans on glibc's memmem, which is vectorised.
import CSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Offsets of every occurrence of `needle` in `haystack` (non-overlapping).
public func occurrences(of needle: [UInt8], in haystack: UnsafeRawBufferPointer) -> [Int] {
    guard !needle.isEmpty, haystack.count >= needle.count, let base = haystack.baseAddress else { return [] }
    var result: [Int] = []
    needle.withUnsafeBytes { n in
        var start = 0
        while start + needle.count <= haystack.count {
            guard let hit = envpack_memmem(base + start, haystack.count - start, n.baseAddress, needle.count) else { break }
            let offset = base.distance(to: UnsafeRawPointer(hit))
            result.append(offset)
            start = offset + needle.count
        }
    }
    return result
}

/// Streams a file through fixed-size chunks and reports every occurrence of
/// `needle`, including ones that straddle two chunks. Memory stays bounded
/// whatever the file size.
public struct StreamingMatcher {
    public let needle: [UInt8]
    private var carry: [UInt8] = []
    private var consumed = 0
    public private(set) var offsets: [Int] = []

    public init(needle: [UInt8]) { self.needle = needle }

    /// Feeds the next chunk of the file.
    public mutating func feed(_ chunk: UnsafeRawBufferPointer) {
        guard !needle.isEmpty else { return }
        // Matches may not overlap: the next one starts after the last ends.
        var nextAllowed = offsets.last.map { $0 + needle.count } ?? 0
        if !carry.isEmpty {
            // Occurrences that start in the carried tail and end in this chunk.
            let base = consumed - carry.count
            var joined = carry
            joined.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[0..<min(chunk.count, needle.count - 1)]))
            let from = max(0, nextAllowed - base)
            if from < carry.count {
                joined.withUnsafeBytes { buf in
                    for o in occurrences(of: needle, in: UnsafeRawBufferPointer(rebasing: buf[from...]))
                    where from + o < carry.count {
                        offsets.append(base + from + o)
                    }
                }
                nextAllowed = offsets.last.map { $0 + needle.count } ?? 0
            }
        }
        let skip = max(0, nextAllowed - consumed)
        if skip < chunk.count {
            for o in occurrences(of: needle, in: UnsafeRawBufferPointer(rebasing: chunk[skip...])) {
                offsets.append(consumed + skip + o)
            }
        }
        let keep = min(chunk.count, needle.count - 1)
        if chunk.count >= needle.count - 1 {
            carry = Array(UnsafeRawBufferPointer(rebasing: chunk[(chunk.count - keep)...]))
        } else {
            carry.append(contentsOf: chunk)
            if carry.count > needle.count - 1 { carry.removeFirst(carry.count - (needle.count - 1)) }
        }
        consumed += chunk.count
    }
}

extension String {
    /// Substring search without _StringProcessing (kept out of the static
    /// helper to keep it small), on UTF-8 bytes.
    public func containsBytes(of other: String) -> Bool {
        if other.isEmpty { return true }
        var me = self, needle = other
        return me.withUTF8 { hay in
            needle.withUTF8 { n in
                envpack_memmem(hay.baseAddress, hay.count, n.baseAddress, n.count) != nil
            }
        }
    }
}
