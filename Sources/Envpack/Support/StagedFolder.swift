// Building a folder beside its destination and renaming it into place:
// how unpack and install stay all-or-nothing. A failure removes the staging
// folder; the destination only ever holds a complete result (or what it
// held before).
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct StagedFolder {
    let destination: String
    let staging: String
    /// The destination exists and is not empty (allowed with --force).
    let replacing: Bool
    /// The destination is a mount point: staging cannot sit beside it.
    let isMountPoint: Bool

    /// Checks a destination without creating anything: its parent exists;
    /// it is a folder, empty unless `force`; a mount point only when empty.
    /// Returns (replacing, isMountPoint).
    static func check(destination path: String, force: Bool) throws -> (Bool, Bool) {
        let destination = absolutePath(path)
        let parent = (destination as NSString).deletingLastPathComponent
        guard statFollowing(parent)?.kind == .directory else { throw EnvpackError.outputDirectoryMissing(parent) }
        var replacing = false, mountPoint = false
        if let status = statFollowing(destination) {
            guard status.kind == .directory else {
                throw EnvpackError.writeFailed(path: destination, reason: "exists and is not a folder")
            }
            if !((try? FileManager.default.contentsOfDirectory(atPath: destination)) ?? []).isEmpty {
                guard force else { throw EnvpackError.invalidOption("\(destination) is not empty (use --force to replace it)") }
                replacing = true
            }
            mountPoint = status.device != statFollowing(parent)?.device
            if mountPoint && replacing {
                throw EnvpackError.invalidOption("\(destination) is a mount point and not empty: empty it first")
            }
        }
        return (replacing, mountPoint)
    }

    /// Checks the destination and creates `.NAME.envpack-KIND-PID` beside it
    /// (inside it, for a mount point).
    init(destination path: String, kind: String, force: Bool) throws {
        destination = absolutePath(path)
        let parent = (destination as NSString).deletingLastPathComponent
        (replacing, isMountPoint) = try Self.check(destination: destination, force: force)
        let mountPoint = isMountPoint
        let name = (destination as NSString).lastPathComponent
        staging = mountPoint ? destination + "/.envpack-\(kind)-\(getpid())" : parent + "/." + name + ".envpack-\(kind)-\(getpid())"
        guard mkdir(staging, 0o755) == 0 else { throw EnvpackError.writeFailed(path: staging, reason: errnoMessage()) }
    }

    /// Puts the staged folder in place. A destination it replaces is moved
    /// aside and returned, for the caller to delete once nothing can fail
    /// (or to put back). For a mount point the staged entries move up.
    func commit() throws -> String? {
        if isMountPoint {
            var moved: [String] = []
            do {
                for item in try FileManager.default.contentsOfDirectory(atPath: staging) {
                    guard rename(staging + "/" + item, destination + "/" + item) == 0 else {
                        throw EnvpackError.writeFailed(path: destination + "/" + item, reason: errnoMessage())
                    }
                    moved.append(item)
                }
                try FileManager.default.removeItem(atPath: staging)
            } catch {
                for item in moved { try? FileManager.default.removeItem(atPath: destination + "/" + item) }
                throw error
            }
            return nil
        }
        guard replacing else {
            // rename(2) also replaces an empty folder.
            guard rename(staging, destination) == 0 else { throw EnvpackError.writeFailed(path: destination, reason: errnoMessage()) }
            return nil
        }
        let parent = (destination as NSString).deletingLastPathComponent
        let old = parent + "/." + (destination as NSString).lastPathComponent + ".envpack-old-\(getpid())"
        guard rename(destination, old) == 0 else { throw EnvpackError.writeFailed(path: destination, reason: errnoMessage()) }
        guard rename(staging, destination) == 0 else {
            let reason = errnoMessage()
            _ = rename(old, destination)
            throw EnvpackError.writeFailed(path: destination, reason: reason)
        }
        return old
    }

    /// Removes the staging folder (after a failure).
    func discard() {
        try? FileManager.default.removeItem(atPath: staging)
    }
}
