// Foundation-free file access for the relocation engine and the static
// helper: whole small files, reads at an offset, and writing a replacement
// file beside the original.
#if canImport(Glibc)
import Glibc
#endif

public struct FileIOError: Error, CustomStringConvertible, Equatable {
    public var path: String
    public var reason: String
    /// The errno behind it, when there is one (0 otherwise).
    public var code: Int32 = 0
    public init(path: String, reason: String, code: Int32 = 0) { self.path = path; self.reason = reason; self.code = code }
    public var description: String { "\(path): \(reason)" }
}

func errnoText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

/// Reads a whole small file into memory (a journal, a test's file): never
/// through a final symlink, never blocking on a FIFO, and refused when it
/// is larger than `limit` before anything is allocated.
public func readWholeFile(_ path: String, limit: Int = 1 << 30) throws(FileIOError) -> [UInt8] {
    let (fd, st) = try openRegularFile(path)
    defer { close(fd) }
    return try readWhole(fd: fd, size: Int(st.st_size), limit: limit, path: path)
}

func readWhole(fd: Int32, size: Int, limit: Int, path: String) throws(FileIOError) -> [UInt8] {
    guard size <= limit else { throw FileIOError(path: path, reason: "is \(size) bytes, more than the \(limit) bytes allowed") }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(size)
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            throw FileIOError(path: path, reason: errnoText())
        }
        if n == 0 { return bytes }
        guard bytes.count + n <= limit else { throw FileIOError(path: path, reason: "grew past \(limit) bytes while being read") }
        bytes.append(contentsOf: chunk[0..<n])
    }
}

/// Up to `count` bytes at `offset` (fewer at the end of the file).
public func readAt(fd: Int32, offset: Int, count: Int, path: String) throws(FileIOError) -> [UInt8] {
    guard offset >= 0, count >= 0 else { throw FileIOError(path: path, reason: "offset \(offset) is out of range") }
    // Never allocate more than the file holds: the count may come from a
    // hostile manifest.
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw FileIOError(path: path, reason: errnoText()) }
    let available = offset >= Int(st.st_size) ? 0 : Int(st.st_size) - offset
    let count = min(count, available)
    var bytes = [UInt8](repeating: 0, count: count)
    var got = 0
    while got < count {
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + got, count - got, off_t(offset + got)) }
        if n < 0 {
            if errno == EINTR { continue }
            throw FileIOError(path: path, reason: errnoText())
        }
        if n == 0 { break }
        got += n
    }
    return Array(bytes[0..<got])
}

/// Writes every byte to `fd`.
func writeFully(fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(FileIOError) {
    var done = 0
    while done < bytes.count {
        let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
        if n < 0 {
            if errno == EINTR { continue }
            throw FileIOError(path: path, reason: errnoText())
        }
        done += n
    }
}

/// Writes an array's bytes to `fd`.
func writeFully(fd: Int32, _ bytes: [UInt8], path: String) throws(FileIOError) {
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, bytes.count - done) }
        if n < 0 {
            if errno == EINTR { continue }
            throw FileIOError(path: path, reason: errnoText())
        }
        done += n
    }
}

/// Writes `contents` to `path` through a temporary file and a rename, so a
/// reader sees the old file or the new one, never half of one. The
/// temporary file is never reached through a symlink.
public func writeFileAtomically(_ path: String, _ contents: [UInt8], mode: mode_t = 0o644) throws(FileIOError) {
    let folder = parentDirectory(path)
    let directory = open(folder.isEmpty ? (path.hasPrefix("/") ? "/" : ".") : folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard directory >= 0 else { throw FileIOError(path: path, reason: errnoText()) }
    defer { close(directory) }
    try writeFileAtomically(directory: directory, name: lastComponent(path), display: path, mode: mode) { (write) throws(FileIOError) in
        try write(contents)
    }
}

/// Whether a path exists (without following a final symlink).
public func pathExists(_ path: String) -> Bool {
    var st = stat()
    return lstat(path, &st) == 0
}

/// Whether a path is a folder (without following a final symlink).
public func isDirectory(_ path: String) -> Bool {
    var st = stat()
    return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
}

/// Reads a file in 1 MiB chunks, so memory stays bounded whatever its size.
public func forEachChunk(of path: String, _ body: (UnsafeRawBufferPointer) -> Void) throws(FileIOError) {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw FileIOError(path: path, reason: errnoText()) }
    defer { close(fd) }
    try forEachChunk(fd: fd, path: path, body)
}

/// Reads a file from an open descriptor in 1 MiB chunks.
func forEachChunk(fd: Int32, path: String, _ body: (UnsafeRawBufferPointer) -> Void) throws(FileIOError) {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
    defer { buffer.deallocate() }
    while true {
        let n = read(fd, buffer.baseAddress, buffer.count)
        if n < 0 {
            if errno == EINTR { continue }
            throw FileIOError(path: path, reason: errnoText())
        }
        if n == 0 { return }
        body(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
    }
}

/// Calls `body` with each line (without its newline) of the file open at
/// `fd`, reading it in chunks, until `body` returns false; a line longer
/// than `maxLine` is an error.
func forEachLine(fd: Int32, path: String, maxLine: Int, _ body: (UnsafeBufferPointer<UInt8>) -> Bool) throws(FileIOError) {
    var carry: [UInt8] = []
    let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: 1 << 20)
    defer { buffer.deallocate() }
    while true {
        let n = read(fd, buffer.baseAddress, buffer.count)
        if n < 0 {
            if errno == EINTR { continue }
            throw FileIOError(path: path, reason: errnoText())
        }
        if n == 0 { break }
        let chunk = UnsafeBufferPointer(rebasing: buffer[0..<n])
        var start = 0
        while let newline = chunk[start...].firstIndex(of: 0x0a) {
            let more: Bool
            if carry.isEmpty {
                more = body(UnsafeBufferPointer(rebasing: chunk[start..<newline]))
            } else {
                carry.append(contentsOf: chunk[start..<newline])
                more = carry.withUnsafeBufferPointer { body($0) }
                carry.removeAll(keepingCapacity: true)
            }
            if !more { return }
            start = newline + 1
        }
        carry.append(contentsOf: chunk[start...])
        guard carry.count <= maxLine else { throw FileIOError(path: path, reason: "has a line longer than \(maxLine) bytes") }
    }
    if !carry.isEmpty { _ = carry.withUnsafeBufferPointer { body($0) } }
}
