// Walking an environment's directory tree. Entries come out sorted, so the
// archive is the same whatever order the filesystem lists them in, and
// hardlink groups are resolved to the first path of each group.
import Foundation

public struct TreeEntry: Sendable, Equatable {
    /// Path relative to the prefix, `/`-separated.
    public var path: String
    public var status: FileStatus
    /// For symlinks: where the link points (kept as written, even dangling).
    public var linkTarget: String?
    /// For the second and later paths of a hardlink group: the first one.
    public var hardlinkTarget: String?
}

public enum EnvironmentTree {
    /// Lists everything below `prefix`. Symlinks are never followed, so a
    /// link to a directory is stored as a link.
    public static func walk(prefix: String) throws -> [TreeEntry] {
        var entries: [TreeEntry] = []
        var pending: [String] = [""]
        while let relative = pending.popLast() {
            let absolute = relative.isEmpty ? prefix : prefix + "/" + relative
            guard let names = try directoryEntries(absolute) else {
                throw EnvpackError.unreadable(path: absolute, reason: errnoMessage())
            }
            for name in names {
                let path = relative.isEmpty ? name : relative + "/" + name
                let full = prefix + "/" + path
                guard let status = FileStatus.lstat(full) else {
                    throw EnvpackError.unreadable(path: full, reason: errnoMessage())
                }
                var entry = TreeEntry(path: path, status: status)
                switch status.kind {
                case .directory:
                    pending.append(path)
                case .symlink:
                    guard let target = readLink(full) else {
                        throw EnvpackError.unreadable(path: full, reason: errnoMessage())
                    }
                    entry.linkTarget = target
                case .regular:
                    break
                case .other:
                    throw EnvpackError.unreadable(path: full, reason: "not a regular file, directory or symlink (sockets, FIFOs and devices cannot be packed)")
                }
                entries.append(entry)
            }
        }
        entries.sort { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
        return entries
    }

    /// Marks the second and later members of each hardlink group, in sorted
    /// order, as links to the first. Run after filtering, so the target is
    /// always an entry that is written.
    public static func resolveHardlinks(_ entries: inout [TreeEntry]) {
        var firstPath: [FileID: String] = [:]
        for i in entries.indices where entries[i].status.kind == .regular && entries[i].status.linkCount > 1 {
            let id = FileID(device: entries[i].status.device, inode: entries[i].status.inode)
            if let first = firstPath[id] {
                entries[i].hardlinkTarget = first
            } else {
                firstPath[id] = entries[i].path
                entries[i].hardlinkTarget = nil
            }
        }
    }

    struct FileID: Hashable { var device: UInt64; var inode: UInt64 }
}
