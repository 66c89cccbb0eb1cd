// `pack --force` into a folder that does not exist yet, and `unpack ARCHIVE
// a/b/DEST` under missing parents, as conda-pack users expect (`mkdir -p`).
// Only the missing folders are created, each recorded, so that a failure
// removes exactly those again (and only while they are still empty): envpack
// never deletes what it did not create.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public final class MissingFolders {
    /// The folders this run created, outermost first.
    public private(set) var created: [String] = []

    public init() {}

    /// Creates `folder` and every missing folder above it. An existing
    /// component that is not a folder (a file, a dangling link) is an error
    /// naming it.
    public func create(_ folder: String) throws {
        let absolute = absolutePath(folder)
        var missing: [String] = []
        var path = absolute
        while path != "/" && !path.isEmpty {
            if let status = statFollowing(path) {
                guard status.kind == .directory else {
                    throw EnvpackError.writeFailed(path: path, reason: "exists and is not a folder")
                }
                break
            }
            missing.append(path)
            path = (path as NSString).deletingLastPathComponent
        }
        for dir in missing.reversed() {
            guard mkdir(dir, 0o755) == 0 || (errno == EEXIST && statFollowing(dir)?.kind == .directory) else {
                let reason = errnoMessage()
                removeCreated()
                throw EnvpackError.writeFailed(path: dir, reason: "cannot create the folder: \(reason)")
            }
            created.append(dir)
        }
    }

    /// After a failure: removes the folders this run created, innermost
    /// first, each only if it is still empty.
    public func removeCreated() {
        for dir in created.reversed() { _ = rmdir(dir) }
        created = []
    }
}
