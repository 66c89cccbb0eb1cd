// The helper's all-or-nothing staging, Foundation-free: the archive is
// extracted and relocated in `.envpack-unpack-PID-N` beside DEST and only a
// complete environment is renamed into place. The folder is an OwnedFolder
// (EnvpackExtract), as envpack's own staging is (its lock file notes "pid P"
// and "dest D"), so a kill -9 leaves only that folder, which the next run
// of the helper or of `envpack unpack` recognises by its free lock and
// removes. -f replaces only an empty folder
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
    private let owner: OwnedFolder
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
        owner = try OwnedFolder(in: parent, kind: "unpack", note: "pid \(getpid())\ndest \(destination)\n")
        staging = owner.path
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
        if ExtractedTree.remove(staging) { owner.release() } else { owner.abandon() }
    }

    /// Staging folders of `.envpack-unpack-` runs whose process is gone
    /// (their lock is free): removed. One whose lock file records a --force
    /// swap or a mount point's move-up cut short is left for
    /// `envpack unpack`, which knows how to finish it.
    static func reclaim(in parent: String) {
        let removed = OwnedFolder.reclaimStale(in: parent, kind: "unpack") { folder, note in
            guard containsText(note, "\nstate ") else { return .remove }
            say("envpack-unpack: warning: \(folder).lock records an interrupted replacement; run `envpack unpack` to finish it", to: 2)
            return .keep
        }
        for folder in removed { say("envpack-unpack: removed \(folder), left by an interrupted run", to: 2) }
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
