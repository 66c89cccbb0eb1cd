// Python's compiled files must not outlive a rewrite of their source. python
// trusts `__pycache__/NAME.TAG.pyc` while the source's mtime and size match
// what the .pyc recorded (or forever, for an unchecked hash-based .pyc); a
// move to a prefix of the same length keeps the size, and times are clamped,
// so the old bytecode, with the old prefix in its constants, would keep
// running. Every rewritten `.py` therefore gets a new mtime and its
// bytecode is removed; python writes it again on the next import.
#if canImport(Glibc)
import Glibc
#endif

/// Whether a rewrite of this file must drop its bytecode.
func isPythonSource(_ path: String) -> Bool { path.hasSuffix(".py") }

/// Whether `name` (in `__pycache__`) is bytecode of the module `stem`:
/// `stem.TAG.pyc` or `stem.TAG.opt-N.pyc`, TAG holding no dot.
func isBytecode(_ name: String, of stem: String) -> Bool {
    guard name.hasPrefix(stem + "."), name.hasSuffix(".pyc") else { return false }
    let middle = name.dropFirst(stem.count + 1).dropLast(4)
    let parts = middle.split(separator: ".", omittingEmptySubsequences: false)
    guard let tag = parts.first, !tag.isEmpty else { return false }
    switch parts.count {
    case 1: return true
    case 2: return parts[1].hasPrefix("opt-")
    default: return false
    }
}

/// The source (`DIR/NAME.py`) whose bytecode `path` is, when `path` is
/// `DIR/__pycache__/NAME.TAG[.opt-N].pyc`; pack leaves such files out when
/// it rewrites their source (`--dest-prefix`).
public func bytecodeSource(_ path: String) -> String? {
    guard path.hasSuffix(".pyc") else { return nil }
    let folder = parentDirectory(path)
    guard lastComponent(folder) == "__pycache__" else { return nil }
    let name = lastComponent(path)
    guard let dot = name.firstIndex(of: "."), isBytecode(name, of: String(name[..<dot])) else { return nil }
    let outer = parentDirectory(folder)
    let source = String(name[..<dot]) + ".py"
    return outer.isEmpty ? source : outer + "/" + source
}

/// Removes the bytecode of `sourceName` from `__pycache__` in the open
/// folder `directory`, reached without following a symlink. Only regular
/// files are removed. Returns how many.
@discardableResult
func removeBytecode(directory: Int32, sourceName: String, display: String) throws(FileIOError) -> Int {
    guard isPythonSource(sourceName) else { return 0 }
    let stem = String(sourceName.dropLast(3))
    let cache = openat(directory, "__pycache__", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
    guard cache >= 0 else {
        if errno == ENOENT || errno == ENOTDIR || errno == ELOOP { return 0 }
        throw FileIOError(path: display, reason: errnoText())
    }
    guard let stream = fdopendir(cache) else {
        let reason = errnoText()
        close(cache)
        throw FileIOError(path: display, reason: reason)
    }
    defer { closedir(stream) }
    var names: [String] = []
    while let entry = readdir(stream) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        if isBytecode(name, of: stem) { names.append(name) }
    }
    var removed = 0
    for name in names {
        var st = stat()
        guard fstatat(cache, name, &st, AT_SYMLINK_NOFOLLOW) == 0, (st.st_mode & S_IFMT) == S_IFREG else { continue }
        if unlinkat(cache, name, 0) == 0 {
            removed += 1
        } else if errno != ENOENT {
            throw FileIOError(path: display + "/__pycache__/" + name, reason: errnoText())
        }
    }
    return removed
}
