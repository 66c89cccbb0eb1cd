// The helper's all-or-nothing staging, Foundation-free: the archive is
// extracted and relocated in `.envpack-unpack-PID-N` beside DEST and only a
// complete environment is renamed into place. The folder follows envpack's
// OwnedFolder protocol (a `NAME.lock` beside it, held with flock while this
// process lives, noting "pid P" and "dest D"), so a kill -9 leaves only
// that folder, which the next run of the helper or of `envpack unpack`
// recognises by its free lock and removes. -f replaces only an empty folder
// or a conda environment, in one atomic exchange (renameat2), as
// `envpack unpack --force` does; where the filesystem cannot exchange, or
// DEST is a mount point, the helper refuses and says to use envpack.
import CSupport
import EnvpackExtract
import EnvpackRelocation
#if canImport(Glibc)
import Glibc
#endif

final class Staging {
    let destination: String
    let staging: String
    private let lockPath: String
    private var lockFD: Int32
    private let replacing: Bool
    private var committed = false

    init(destination path: String, force: Bool) throws(ExtractError) {
        destination = absolute(path)
        guard !destination.contains("\n") else { throw .refused("\(destination): a destination with a line break in its name is not supported") }
        let parent = parentDirectory(destination).isEmpty ? "/" : parentDirectory(destination)
        var st = stat()
        guard stat(parent, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else {
            throw .refused("output directory \(parent) does not exist")
        }
        Staging.reclaim(in: parent)
        replacing = try Staging.check(destination, parent: parent, force: force)
        var n = 0
        while true {
            n += 1
            let folder = parent == "/" ? "/.envpack-unpack-\(getpid())-\(n)" : parent + "/.envpack-unpack-\(getpid())-\(n)"
            let lock = folder + ".lock"
            let fd = open(lock, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
            if fd < 0 {
                if errno == EEXIST && n < 1000 { continue }
                throw .writeFailed(path: lock, reason: String(cString: strerror(errno)))
            }
            guard flock(fd, LOCK_EX | LOCK_NB) == 0 else { close(fd); continue }
            let note = Array("pid \(getpid())\ndest \(destination)\n".utf8)
            let written = note.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
            guard written == note.count, fsync(fd) == 0, mkdir(folder, 0o755) == 0 else {
                let reason = String(cString: strerror(errno))
                unlink(lock); close(fd)
                throw .writeFailed(path: folder, reason: reason)
            }
            staging = folder
            lockPath = lock
            lockFD = fd
            return
        }
    }

    /// May DEST be written? Returns whether it is replaced (-f).
    private static func check(_ destination: String, parent: String, force: Bool) throws(ExtractError) -> Bool {
        var link = stat()
        guard lstat(destination, &link) == 0 else { return false }
        if link.st_mode & S_IFMT == S_IFLNK { throw .refused("\(destination) is a symbolic link: give the folder itself") }
        guard link.st_mode & S_IFMT == S_IFDIR else { throw .writeFailed(path: destination, reason: "exists and is not a folder") }
        guard let names = ExtractedTree.names(in: destination) else {
            throw .unreadable(path: destination, reason: String(cString: strerror(errno)))
        }
        var parentStatus = stat()
        let mountPoint = stat(parent, &parentStatus) == 0 && parentStatus.st_dev != link.st_dev
        if mountPoint {
            throw .refused("\(destination) is a mount point: unpack into a new folder inside it, or use `envpack unpack`")
        }
        if names.isEmpty { return false }
        guard ExtractedTree.kind(destination + "/conda-meta") == .directory else {
            throw .refused("\(destination) is not empty and is not a conda environment (no conda-meta/ folder): only an empty folder or an environment is replaced, even with -f; choose a new or empty folder")
        }
        guard force else { throw .refused("\(destination) is a conda environment already (use -f to replace it)") }
        return true
    }

    /// Puts the staged environment in place: a rename, or for -f an atomic
    /// exchange after which the old environment sits in the staging folder.
    func commit() throws(ExtractError) {
        if replacing {
            guard ExtractedTree.kind(destination + "/conda-meta") == .directory || ExtractedTree.names(in: destination)?.isEmpty == true else {
                throw .refused("\(destination) changed and is no longer a conda environment: not replacing it")
            }
            if envpack_renameat2(AT_FDCWD, staging, AT_FDCWD, destination, ENVPACK_RENAME_EXCHANGE) != 0 {
                if errno == EINVAL || errno == ENOSYS {
                    throw .refused("\(destination): this filesystem cannot exchange two folders atomically; remove the old environment first, or use `envpack unpack --force`")
                }
                throw .writeFailed(path: destination, reason: String(cString: strerror(errno)))
            }
        } else if rename(staging, destination) != 0 {
            throw .writeFailed(path: destination, reason: String(cString: strerror(errno)))
        }
        committed = true
    }

    /// Removes the staging folder (after a failure, or the replaced
    /// environment after a commit) and the lock file; a folder that cannot
    /// be removed keeps its lock file, for a later run.
    func finish() {
        guard lockFD >= 0 else { return }
        if ExtractedTree.remove(staging) { unlink(lockPath) }
        close(lockFD)
        lockFD = -1
    }

    /// Staging folders of `.envpack-unpack-` runs whose process is gone
    /// (their lock is free): removed. One whose lock file records a --force
    /// swap or a mount point's move-up cut short is left for
    /// `envpack unpack`, which knows how to finish it.
    static func reclaim(in parent: String) {
        for name in ExtractedTree.names(in: parent) ?? [] where name.hasPrefix(".envpack-unpack-") && name.hasSuffix(".lock") {
            let lock = parent == "/" ? "/" + name : parent + "/" + name
            let fd = open(lock, O_RDWR | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            var held = stat(), named = stat()
            guard flock(fd, LOCK_EX | LOCK_NB) == 0, fstat(fd, &held) == 0, lstat(lock, &named) == 0,
                  held.st_ino == named.st_ino, held.st_dev == named.st_dev, held.st_uid == geteuid() else { continue }
            var text = [UInt8](repeating: 0, count: 16384)
            let n = text.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
            let note = String(decoding: text.prefix(max(0, n)), as: UTF8.self)
            if containsText(note, "\nstate ") {
                say("envpack-unpack: warning: \(lock) records an interrupted replacement; run `envpack unpack` to finish it", to: 2)
                continue
            }
            let folder = String(lock.dropLast(".lock".count))
            if ExtractedTree.remove(folder) {
                unlink(lock)
                say("envpack-unpack: removed \(folder), left by an interrupted run", to: 2)
            }
        }
    }
}

/// `path` made absolute against the working directory, "." and ".." parts
/// resolved by name.
func absolute(_ path: String) -> String {
    var full = path
    if !path.hasPrefix("/") {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return path }
        let cwd = buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }
        full = String(decoding: cwd, as: UTF8.self) + "/" + path
    }
    var parts: [Substring] = []
    for part in full.split(separator: "/") {
        if part == "." { continue }
        if part == ".." { if !parts.isEmpty { parts.removeLast() }; continue }
        parts.append(part)
    }
    return "/" + parts.joined(separator: "/")
}
