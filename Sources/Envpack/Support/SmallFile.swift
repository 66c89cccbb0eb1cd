// Reading a file that should be small (a conda-meta record, a package's
// info/ file, a wheel's metadata, a spec or lock file, a hint such as
// conda-meta/history) when the file is hostile input: it must be a regular
// file before it is opened (opening a device can do something) and again on
// the descriptor (O_NONBLOCK: a pipe swapped in cannot stall us), and it is
// read only up to `limit` bytes, even if it grows meanwhile. Callers turn
// each outcome into their own message.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

enum SmallFile {
    case data(Data)
    case missing
    /// A folder, a device, a pipe, or (without `followLinks`) a symlink.
    case notRegular
    case tooLarge(size: Int)
    case unreadable(reason: String)

    /// Reads `path`; a symlink is followed only with `followLinks`.
    static func read(_ path: String, limit: Int, followLinks: Bool = false) -> SmallFile {
        // Looked at before it is opened: opening a device can do something.
        var seen = stat()
        guard (followLinks ? stat(path, &seen) : lstat(path, &seen)) == 0 else {
            return errno == ENOENT || errno == ENOTDIR ? .missing : .unreadable(reason: errnoMessage())
        }
        guard seen.st_mode & S_IFMT == S_IFREG else { return .notRegular }
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | (followLinks ? 0 : O_NOFOLLOW))
        guard fd >= 0 else {
            switch errno {
            case ENOENT, ENOTDIR: return .missing
            case ELOOP: return .notRegular
            default: return .unreadable(reason: errnoMessage())
            }
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return .unreadable(reason: errnoMessage()) }
        guard st.st_mode & S_IFMT == S_IFREG else { return .notRegular }
        guard Int(st.st_size) <= limit else { return .tooLarge(size: Int(st.st_size)) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(st.st_size))
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return .unreadable(reason: errnoMessage())
            }
            if n == 0 { break }
            bytes += chunk[0..<n]
            if bytes.count > limit { return .tooLarge(size: bytes.count) }
        }
        return .data(Data(bytes))
    }

    /// The bytes, or nil for any other outcome (for hints).
    var data: Data? {
        if case .data(let d) = self { return d }
        return nil
    }
}
