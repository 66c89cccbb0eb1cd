// Folders envpack builds beside their final place (unpack's and install's
// staging folders, the package cache's extractions) belong to the process
// that made them: each has a lock file beside it, `NAME.lock`, held with
// flock for as long as that process lives. A kill -9 or a closed terminal
// leaves the folder behind; the kernel drops the lock with the process, so
// the next run finds the lock free, knows the owner is gone and removes the
// folder. A folder without such a lock file, or whose lock is held, is never
// touched: envpack only ever reclaims what it made.
//
// Names are short and fixed in length (`.envpack-KIND-PID-N`), so a staging
// folder fits beside a destination whose own name is as long as a file name
// can be.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

final class OwnedFolder: @unchecked Sendable {
    /// The folder (not created by init: the caller makes it, or renames
    /// something to it).
    let path: String
    let lockPath: String
    private var lockFD: Int32

    private static let counter = Locked(0)

    /// The name prefix of every owned folder of `kind` (`unpack`, `install`,
    /// `extract`, ...).
    static func namePrefix(_ kind: String) -> String { ".envpack-\(kind)-" }

    /// Takes a new name in `parent` and holds its lock. The folder itself is
    /// created when `create` is true.
    init(in parent: String, kind: String, create: Bool = true) throws {
        while true {
            let n = Self.counter.withLock { value -> Int in value += 1; return value }
            let name = Self.namePrefix(kind) + "\(getpid())-\(n)"
            let folder = parent + "/" + name
            let lock = folder + ".lock"
            let fd = open(lock, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
            if fd < 0 {
                if errno == EEXIST { continue }
                throw EnvpackError.writeFailed(path: lock, reason: errnoMessage())
            }
            guard flock(fd, LOCK_EX | LOCK_NB) == 0, Self.sameFile(fd, lock) else {
                // A reclaimer took the file between open and flock: try another name.
                close(fd)
                continue
            }
            if create && mkdir(folder, 0o755) != 0 {
                let reason = errnoMessage()
                unlink(lock); close(fd)
                throw EnvpackError.writeFailed(path: folder, reason: reason)
            }
            path = folder
            lockPath = lock
            lockFD = fd
            _ = try? note("pid \(getpid())\n")
            return
        }
    }

    /// A folder still there at the end (an error path that neither removed
    /// nor committed it) keeps its lock file, so a later run reclaims it.
    deinit {
        if FileStatus.lstat(path) == nil { release() } else { abandon() }
    }

    /// Replaces the lock file's text: what a later run needs to finish or undo
    /// this process's work if it dies (for example the two sides of a swap).
    func note(_ text: String) throws {
        let bytes = Array(text.utf8)
        guard lockFD >= 0, ftruncate(lockFD, 0) == 0,
              bytes.withUnsafeBytes({ pwrite(lockFD, $0.baseAddress, $0.count, 0) }) == bytes.count,
              fsync(lockFD) == 0 else {
            throw EnvpackError.writeFailed(path: lockPath, reason: errnoMessage())
        }
    }

    /// Drops the lock file. Call once the folder is gone or renamed into place.
    func release() {
        guard lockFD >= 0 else { return }
        unlink(lockPath)
        close(lockFD)
        lockFD = -1
    }

    /// Lets the lock go but keeps the lock file: the folder could not be
    /// removed, and a later run will try again.
    func abandon() {
        guard lockFD >= 0 else { return }
        close(lockFD)
        lockFD = -1
    }

    /// What `resolve` decides for a stale folder.
    enum Recovery {
        /// Remove the folder (the default).
        case remove
        /// Dealt with: drop the lock file.
        case done
        /// Leave the folder and its lock file for a later run or the user.
        case keep
    }

    /// Removes the folders of `kind` in `parent` whose owners are gone.
    /// `recover` sees each such folder with its lock file's text first and may
    /// deal with it itself (returning true); otherwise the folder is removed.
    /// Returns the paths reclaimed, for a message.
    @discardableResult
    static func reclaimStale(in parent: String, kind: String,
                             recover: (_ folder: String, _ note: String) -> Bool = { _, _ in false }) -> [String] {
        reclaimStale(in: parent, kind: kind, resolve: { recover($0, $1) ? .done : .remove })
    }

    /// Like reclaimStale(in:kind:recover:), with a three-way decision.
    @discardableResult
    static func reclaimStale(in parent: String, kind: String,
                             resolve: (_ folder: String, _ note: String) -> Recovery) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: parent) else { return [] }
        var reclaimed: [String] = []
        for name in names where name.hasPrefix(namePrefix(kind)) && name.hasSuffix(".lock") {
            let lock = parent + "/" + name
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
                if let status = FileStatus.lstat(folder) {
                    if status.kind == .directory {
                        guard (try? FileManager.default.removeItem(atPath: folder)) != nil else { continue }
                    } else {
                        unlink(folder)
                    }
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
