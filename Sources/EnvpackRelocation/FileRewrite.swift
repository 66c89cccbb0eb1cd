// Applying a file's edits: the new content is written to a temporary file
// beside the old one and renamed over it, so a running program is never
// written in place ("text file busy") and a reader never sees half a file.
// The output is scanned for the new prefix as it is written, which gives
// the manifest entry of the relocated file without reading it again.
#if canImport(Glibc)
import Glibc
#endif

/// One change to a file: `length` bytes at `offset`, which must equal
/// `expected`, become `replacement`.
public struct Edit: Sendable, Equatable {
    public var offset: Int
    public var expected: [UInt8]
    public var replacement: [UInt8]
    public var length: Int { expected.count }
}

/// The temporary name a rewrite of `path` uses; fixed, so an interrupted run
/// can tell whether its rename happened.
public func temporaryPath(for path: String) -> String {
    let dir = parentDirectory(path)
    let name = ".envpack-tmp-" + lastComponent(path)
    return dir.isEmpty ? name : dir + "/" + name
}

/// Writes `source` with `edits` applied (sorted, not overlapping) to
/// `destination`, keeping mode, owner and times. Returns the detector fed
/// with the new content.
func rewriteFile(source: String, destination: String, edits: [Edit],
                 detector: inout PrefixDetector) throws(FileIOError) {
    let input = open(source, O_RDONLY | O_CLOEXEC)
    guard input >= 0 else { throw FileIOError(path: source, reason: errnoText()) }
    defer { close(input) }
    var st = stat()
    guard fstat(input, &st) == 0 else { throw FileIOError(path: source, reason: errnoText()) }
    unlink(destination)
    let output = open(destination, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    guard output >= 0 else { throw FileIOError(path: destination, reason: errnoText()) }
    var succeeded = false
    defer {
        close(output)
        if !succeeded { unlink(destination) }
    }

    let chunkSize = 1 << 20
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
    defer { buffer.deallocate() }

    func emit(_ bytes: UnsafeRawBufferPointer) throws(FileIOError) {
        detector.feed(bytes)
        try writeFully(fd: output, bytes, path: destination)
    }
    /// Copies the source from its current position up to `end`.
    func copy(upTo end: Int, from position: inout Int) throws(FileIOError) {
        while position < end {
            let n = read(input, buffer.baseAddress, min(chunkSize, end - position))
            if n < 0 {
                if errno == EINTR { continue }
                throw FileIOError(path: source, reason: errnoText())
            }
            if n == 0 { throw FileIOError(path: source, reason: "file is shorter than the manifest says") }
            try emit(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            position += n
        }
    }

    var position = 0
    let size = Int(st.st_size)
    for edit in edits {
        try copy(upTo: edit.offset, from: &position)
        let current = try readAt(fd: input, offset: edit.offset, count: edit.length, path: source)
        guard current == edit.expected else {
            throw FileIOError(path: source, reason: "changed since it was planned (offset \(edit.offset))")
        }
        guard lseek(input, off_t(edit.offset + edit.length), SEEK_SET) >= 0 else {
            throw FileIOError(path: source, reason: errnoText())
        }
        position = edit.offset + edit.length
        edit.replacement.withUnsafeBytes { detector.feed($0) }
        try writeFully(fd: output, edit.replacement, path: destination)
    }
    try copy(upTo: size, from: &position)

    // Mode, owner (when allowed) and times of the original.
    fchmod(output, st.st_mode & 0o7777)
    if geteuid() == 0 { fchown(output, st.st_uid, st.st_gid); fchmod(output, st.st_mode & 0o7777) }
    var times = [st.st_atim, st.st_mtim]
    futimens(output, &times)
    succeeded = true
}
