// How far reading an archive file has got, for unpack's percentage and ETA:
// the compressed bytes read over the file's size. The archive reader owns
// the file descriptor (a feeding thread reads it), so the position is read
// from outside, through /proc/self/fdinfo of the descriptor that has the
// archive's device and inode open. When it cannot be found (no /proc, a
// pipe), there is no percentage, only counts.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct InputPosition {
    let size: Int
    private let fd: Int32
    private let device: UInt64
    private let inode: UInt64

    /// The archive at `path` ("-" for standard input), once it is open.
    /// Nil when it is not a regular file or its descriptor is not found.
    init?(path: String) {
        var target = stat()
        if path == "-" {
            guard fstat(STDIN_FILENO, &target) == 0 else { return nil }
        } else {
            guard stat(path, &target) == 0 else { return nil }
        }
        guard target.st_mode & S_IFMT == S_IFREG, target.st_size > 0 else { return nil }
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return nil }
        var found: Int32? = nil
        for name in names.sorted(by: { (Int($0) ?? 0) > (Int($1) ?? 0) }) {
            guard let fd = Int32(name) else { continue }
            var st = stat()
            guard fstat(fd, &st) == 0, st.st_dev == target.st_dev, st.st_ino == target.st_ino else { continue }
            found = fd
            break
        }
        guard let found else { return nil }
        fd = found
        device = UInt64(target.st_dev)
        inode = UInt64(target.st_ino)
        size = Int(target.st_size)
    }

    /// Bytes read so far.
    func position() -> Int? {
        // The reader closes the file when it has read all of it; the number
        // may then name another file.
        var st = stat()
        guard fstat(fd, &st) == 0, UInt64(st.st_dev) == device, UInt64(st.st_ino) == inode else { return size }
        guard let text = try? String(contentsOfFile: "/proc/self/fdinfo/\(fd)", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("pos:") {
            return Int(line.dropFirst(4).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }
}
