// Foundation-free file access for the relocation engine and the static
// helper: whole small files, reads at an offset, and writing a replacement
// file beside the original.
#if canImport(Glibc)
import Glibc
#endif

public struct FileIOError: Error, CustomStringConvertible, Equatable {
    public var path: String
    public var reason: String
    public init(path: String, reason: String) { self.path = path; self.reason = reason }
    public var description: String { "\(path): \(reason)" }
}

func errnoText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

/// Reads a whole file into memory (manifests and other small files).
public func readWholeFile(_ path: String) throws(FileIOError) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw FileIOError(path: path, reason: errnoText()) }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            throw FileIOError(path: path, reason: errnoText())
        }
        if n == 0 { return bytes }
        bytes.append(contentsOf: chunk[0..<n])
    }
}

/// Up to `count` bytes at `offset` (fewer at the end of the file).
func readAt(fd: Int32, offset: Int, count: Int, path: String) throws(FileIOError) -> [UInt8] {
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
/// reader sees the old file or the new one, never half of one.
public func writeFileAtomically(_ path: String, _ contents: [UInt8], mode: mode_t = 0o644) throws(FileIOError) {
    let temporary = path + ".envpack-tmp"
    let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
    guard fd >= 0 else { throw FileIOError(path: temporary, reason: errnoText()) }
    do {
        try writeFully(fd: fd, contents, path: temporary)
    } catch {
        close(fd); unlink(temporary)
        throw error
    }
    close(fd)
    guard rename(temporary, path) == 0 else {
        let reason = errnoText()
        unlink(temporary)
        throw FileIOError(path: path, reason: reason)
    }
}

/// Whether a path exists (without following a final symlink).
public func pathExists(_ path: String) -> Bool {
    var st = stat()
    return lstat(path, &st) == 0
}

/// Reads a file in 1 MiB chunks, so memory stays bounded whatever its size.
public func forEachChunk(of path: String, _ body: (UnsafeRawBufferPointer) -> Void) throws(FileIOError) {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw FileIOError(path: path, reason: errnoText()) }
    defer { close(fd) }
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
