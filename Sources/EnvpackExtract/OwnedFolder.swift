// Folders envpack builds beside their final place (unpack's, install's and
// the helper's staging folders, the package cache's extractions) belong to
// the process that made them: each has a lock file beside it, `NAME.lock`,
// held with flock for as long as that process lives. A kill -9 or a closed
// terminal leaves the folder behind; the kernel drops the lock with the
// process, so the next run finds the lock free, knows the owner is gone and
// removes the folder. A folder without such a lock file, or whose lock is
// held, is never touched: envpack only ever reclaims what it made.
//
// Names are short and fixed in length (`.envpack-KIND-PID-N`), so a staging
// folder fits beside a destination whose own name is as long as a file name
// can be. Foundation-free: the static helper stages through it too.
import CSupport
#if canImport(Glibc)
import Glibc
#endif

public final class OwnedFolder: @unchecked Sendable {
    /// The folder (created by init when asked; otherwise the caller makes
    /// it, or renames something to it).
    public let path: String
    public let lockPath: String
    private var lockFD: Int32

    /// The name prefix of every owned folder of `kind` (`unpack`, `install`,
    /// `extract`, ...).
    public static func namePrefix(_ kind: String) -> String { ".envpack-\(kind)-" }

    /// Takes a new name in `parent`, holds its lock and writes `note` in the
    /// lock file. The folder itself is created when `create` is true.
    public init(in parent: String, kind: String, create: Bool = true, note: String? = nil) throws(ExtractError) {
        let base = parent == "/" ? "" : parent
        while true {
            let folder = base + "/" + Self.namePrefix(kind) + "\(getpid())-\(envpack_next_serial())"
            let lock = folder + ".lock"
            let fd = open(lock, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
            if fd < 0 {
                if errno == EEXIST { continue }
                throw .writeFailed(path: lock, reason: errnoMessage())
            }
            guard flock(fd, LOCK_EX | LOCK_NB) == 0, Self.sameFile(fd, lock) else {
                // A reclaimer took the file between open and flock: try another name.
                close(fd)
                continue
            }
            if create && mkdir(folder, 0o755) != 0 {
                let reason = errnoMessage()
                unlink(lock); close(fd)
                throw .writeFailed(path: folder, reason: reason)
            }
            path = folder
            lockPath = lock
            lockFD = fd
            break
        }
        do {
            try self.note(note ?? "pid \(getpid())\n")
        } catch {
            if create { rmdir(path) }
            release()
            throw error
        }
    }

    /// A folder still there at the end (an error path that neither removed
    /// nor committed it) keeps its lock file, so a later run reclaims it.
    deinit {
        if ExtractedTree.kind(path) == nil { release() } else { abandon() }
    }

    /// Replaces the lock file's text: what a later run needs to finish or undo
    /// this process's work if it dies (for example the two sides of a swap).
    public func note(_ text: String) throws(ExtractError) {
        let bytes = Array(text.utf8)
        guard lockFD >= 0, ftruncate(lockFD, 0) == 0,
              bytes.withUnsafeBytes({ pwrite(lockFD, $0.baseAddress, $0.count, 0) }) == bytes.count,
              fsync(lockFD) == 0 else {
            throw .writeFailed(path: lockPath, reason: errnoMessage())
        }
    }

    /// Drops the lock file. Call once the folder is gone or renamed into place.
    public func release() {
        guard lockFD >= 0 else { return }
        unlink(lockPath)
        close(lockFD)
        lockFD = -1
    }

    /// Lets the lock go but keeps the lock file: the folder could not be
    /// removed, and a later run will try again.
    public func abandon() {
        guard lockFD >= 0 else { return }
        close(lockFD)
        lockFD = -1
    }

    /// What `reclaimStale`'s caller decides for a stale folder.
    public enum Recovery {
        /// Remove the folder (the default).
        case remove
        /// Dealt with: drop the lock file.
        case done
        /// Leave the folder and its lock file for a later run or the user.
        case keep
    }

    /// Removes the folders of `kind` in `parent` whose owners are gone (their
    /// lock is free, and the lock file is this user's). `resolve` sees each
    /// with its lock file's text first. Returns the paths removed.
    @discardableResult
    public static func reclaimStale(in parent: String, kind: String,
                                    resolve: (_ folder: String, _ note: String) -> Recovery = { _, _ in .remove }) -> [String] {
        let base = parent == "/" ? "" : parent
        var reclaimed: [String] = []
        for name in ExtractedTree.names(in: parent) ?? [] where name.hasPrefix(namePrefix(kind)) && name.hasSuffix(".lock") {
            let lock = base + "/" + name
            let fd = open(lock, O_RDWR | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            // Held: its owner is alive. Replaced since we opened it: not ours to judge.
            guard flock(fd, LOCK_EX | LOCK_NB) == 0, sameFile(fd, lock) else { continue }
            // Another user's lock file (a shared folder such as /tmp): not ours.
            var owner = stat()
            guard fstat(fd, &owner) == 0, owner.st_uid == geteuid() else { continue }
            let folder = String(lock.dropLast(".lock".count))
            var text = [UInt8](repeating: 0, count: 16384)
            let n = text.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
            let note = String(decoding: text.prefix(max(0, n)), as: UTF8.self)
            switch resolve(folder, note) {
            case .keep:
                continue
            case .done:
                break
            case .remove:
                if ExtractedTree.kind(folder) != nil {
                    guard ExtractedTree.remove(folder) else { continue }
                    reclaimed.append(folder)
                }
            }
            unlink(lock)
        }
        return reclaimed
    }

    /// Whether the open file `fd` is still the file at `path`.
    private static func sameFile(_ fd: Int32, _ path: String) -> Bool {
        var a = stat(), b = stat()
        return fstat(fd, &a) == 0 && lstat(path, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev
    }
}
