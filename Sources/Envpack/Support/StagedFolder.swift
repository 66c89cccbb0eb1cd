// Building a folder beside its destination and renaming it into place:
// how unpack and install stay all-or-nothing. The staging folder is an
// OwnedFolder (`.envpack-KIND-PID-N` beside DEST, inside it for a mount
// point), so a kill -9 leaves something a later run recognises and removes
// (StagingLeftovers). A failure removes the staging folder; the destination
// only ever holds a complete result, or what it held before.
//
// --force replaces only an empty folder or a conda environment (a folder
// with conda-meta/), never anything else. The replacement is one atomic
// exchange (renameat2 RENAME_EXCHANGE): DEST holds the old environment or
// the new one at every instant, and the old one then sits in the staging
// folder until it is removed. Where the filesystem cannot exchange, two
// renames are recorded in the staging folder's lock file first, so a later
// run puts the old environment back if this one dies between them.
import CSupport
import EnvpackExtract
import Foundation
#if canImport(Glibc)
import Glibc
#endif

final class StagedFolder {
    let destination: String
    let staging: String
    /// The destination exists and is not empty (allowed with --force).
    let replacing: Bool
    /// The destination is a mount point: staging cannot sit beside it.
    let isMountPoint: Bool

    private let owner: OwnedFolder
    private let destinationExisted: Bool
    private enum State { case staging, committed, finished }
    private var state = State.staging
    /// Mount point: the entries moved up into DEST.
    private var movedUp: [String] = []

    /// Checks a destination without creating anything: its parent exists;
    /// it is a folder, empty, or (with `force`) a conda environment; a mount
    /// point only when empty. Leftovers of interrupted runs beside it (and in
    /// it) are dealt with first. Returns (replacing, isMountPoint).
    static func check(destination path: String, force: Bool) throws -> (Bool, Bool) {
        let destination = absolutePath(path)
        let parent = (destination as NSString).deletingLastPathComponent
        guard statFollowing(parent)?.kind == .directory else { throw EnvpackError.outputDirectoryMissing(parent) }
        StagingLeftovers.reclaim(parent: parent, destination: destination)
        return try inspect(destination, force: force)
    }

    private static func inspect(_ destination: String, force: Bool) throws -> (Bool, Bool) {
        let parent = (destination as NSString).deletingLastPathComponent
        if let link = FileStatus.lstat(destination), link.kind == .symlink {
            throw EnvpackError.invalidOption("\(destination) is a symbolic link (to \(readLink(destination) ?? "?")): give the folder itself")
        }
        guard let status = statFollowing(destination) else { return (false, false) }
        guard status.kind == .directory else {
            throw EnvpackError.writeFailed(path: destination, reason: "exists and is not a folder")
        }
        guard let empty = isEmptyFolder(destination) else {
            throw EnvpackError.unreadable(path: destination, reason: errnoMessage())
        }
        var replacing = false
        if !empty {
            guard isEnvironment(destination) else {
                throw EnvpackError.invalidOption("\(destination) is not empty and is not a conda environment (no conda-meta/ folder): envpack replaces only an empty folder or an environment, even with --force; choose a new or empty folder")
            }
            guard force else {
                throw EnvpackError.invalidOption("\(destination) is a conda environment already (use --force to replace it)")
            }
            replacing = true
        }
        let mountPoint = status.device != statFollowing(parent)?.device
        if mountPoint && replacing {
            throw EnvpackError.invalidOption("\(destination) is a mount point and not empty: empty it first")
        }
        return (replacing, mountPoint)
    }

    /// Whether a folder has no entries (nil: unreadable). Names are not
    /// decoded: any entry at all counts.
    static func isEmptyFolder(_ path: String) -> Bool? {
        guard let dir = opendir(path) else { return nil }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let dot = withUnsafeBytes(of: entry.pointee.d_name) { name in
                name[0] == 0x2E && (name[1] == 0 || (name[1] == 0x2E && name[2] == 0))
            }
            if !dot { return false }
        }
        return true
    }

    /// A folder --force may replace: one with a real conda-meta/ folder.
    static func isEnvironment(_ path: String) -> Bool {
        FileStatus.lstat(path + "/conda-meta")?.kind == .directory
    }

    /// Checks the destination and creates the staging folder beside it
    /// (inside it, for a mount point).
    init(destination path: String, kind: String, force: Bool) throws {
        destination = absolutePath(path)
        // The lock file records DEST one per line (see StagingLeftovers).
        guard !destination.contains("\n") else {
            throw EnvpackError.invalidOption("\(destination.debugDescription): a destination with a line break in its name is not supported")
        }
        let parent = (destination as NSString).deletingLastPathComponent
        (replacing, isMountPoint) = try Self.check(destination: destination, force: force)
        destinationExisted = FileStatus.lstat(destination) != nil
        owner = try OwnedFolder.take(in: isMountPoint ? destination : parent, kind: kind, note: "pid \(getpid())\ndest \(destination)\n")
        staging = owner.path
    }

    /// Puts the staged folder in place. A destination it replaces is kept
    /// (in the staging folder) until `finish()`, or put back by
    /// `undoCommit()`. For a mount point the staged entries move up.
    func commit() throws {
        precondition(state == .staging)
        FaultPoint.reached("staged")
        if isMountPoint {
            try moveUp()
        } else if replacing {
            // Still an environment (or emptied) since the check?
            guard Self.isEnvironment(destination) || Self.isEmptyFolder(destination) == true else {
                throw EnvpackError.invalidOption("\(destination) changed and is no longer a conda environment: not replacing it")
            }
            try swap()
        } else {
            // rename(2) also replaces an empty folder, never a full one.
            guard rename(staging, destination) == 0 else {
                throw EnvpackError.writeFailed(path: destination, reason: errnoMessage())
            }
        }
        state = .committed
    }

    /// After a commit, puts the destination back as it was (a failing link
    /// script) and removes the new result.
    func undoCommit() throws {
        guard state == .committed else { return }
        let aside = StagingLeftovers.asidePath(staging)
        if FileStatus.lstat(staging) == nil && FileStatus.lstat(aside) != nil { _ = rename(aside, staging) }
        if isMountPoint {
            guard mkdir(staging, 0o755) == 0 || errno == EEXIST else {
                throw EnvpackError.writeFailed(path: staging, reason: errnoMessage())
            }
            for item in movedUp {
                guard rename(destination + "/" + item, staging + "/" + item) == 0 else {
                    throw EnvpackError.writeFailed(path: destination + "/" + item, reason: errnoMessage())
                }
            }
            movedUp = []
        } else if replacing {
            try swap()
        } else {
            guard rename(destination, staging) == 0 else {
                throw EnvpackError.writeFailed(path: destination, reason: errnoMessage())
            }
            if destinationExisted { mkdir(destination, 0o755) }
        }
        state = .staging
        discard()
    }

    /// After a commit: removes the replaced destination, if any, and lets
    /// the staging name go.
    func finish() {
        guard state == .committed else { return }
        state = .finished
        removeStaging()
    }

    /// Removes the staging folder (after a failure).
    func discard() {
        guard state == .staging else { return }
        state = .finished
        removeStaging()
    }

    private func removeStaging() {
        for path in [staging, StagingLeftovers.asidePath(staging)] where FileStatus.lstat(path) != nil {
            guard (try? FileManager.default.removeItem(atPath: path)) != nil else {
                owner.abandon()  // a later run tries again
                return
            }
        }
        owner.release()
    }

    /// Exchanges the staging folder and the destination.
    private func swap() throws {
        if getenv("ENVPACK_NO_RENAME_EXCHANGE") == nil {
            if envpack_renameat2(AT_FDCWD, staging, AT_FDCWD, destination, ENVPACK_RENAME_EXCHANGE) == 0 {
                FaultPoint.reached("swap")
                return
            }
            guard errno == EINVAL || errno == ENOSYS else {
                throw EnvpackError.writeFailed(path: destination, reason: errnoMessage())
            }
        }
        // Two renames, written down first: DEST -> ASIDE, STAGING -> DEST,
        // ASIDE -> STAGING. See StagingLeftovers.recoverSwap.
        let aside = StagingLeftovers.asidePath(staging)
        guard let incoming = FileStatus.lstat(staging) else {
            throw EnvpackError.writeFailed(path: staging, reason: errnoMessage())
        }
        let plain = "pid \(getpid())\ndest \(destination)\n"
        try owner.record(plain + "state swap\naside \(aside)\nincoming \(incoming.device):\(incoming.inode)\n")
        guard rename(destination, aside) == 0 else {
            let reason = errnoMessage()
            try? owner.note(plain)
            throw EnvpackError.writeFailed(path: destination, reason: reason)
        }
        FaultPoint.reached("swap")
        guard rename(staging, destination) == 0 else {
            let reason = errnoMessage()
            if rename(aside, destination) == 0 { try? owner.note(plain) }
            throw EnvpackError.writeFailed(path: destination, reason: reason)
        }
        // The swap is done. Should this last rename fail, the outgoing
        // folder stays at ASIDE, where finish() or a later run removes it
        // (the lock file still says so).
        if rename(aside, staging) == 0 { try? owner.note(plain) }
    }

    /// Mount point: moves the staged entries up into DEST, one by one. The
    /// lock file says so first, so a later run finishes the move if this
    /// one dies half-way (StagingLeftovers.finishMoveUp).
    private func moveUp() throws {
        let plain = "pid \(getpid())\ndest \(destination)\n"
        try owner.record(plain + "state moveup\n")
        do {
            guard let items = try directoryEntries(staging) else {
                throw EnvpackError.unreadable(path: staging, reason: errnoMessage())
            }
            for item in items {
                try StagingLeftovers.renameNoReplace(staging + "/" + item, destination + "/" + item)
                movedUp.append(item)
                FaultPoint.reached("moveup")
            }
            guard rmdir(staging) == 0 else { throw EnvpackError.writeFailed(path: staging, reason: errnoMessage()) }
        } catch {
            for item in movedUp { _ = rename(destination + "/" + item, staging + "/" + item) }
            movedUp = []
            try? owner.note(plain)
            throw error
        }
    }
}

/// Fault injection for the tests: ENVPACK_KILL_AT=NAME kills the process
/// with SIGKILL when it reaches the point NAME.
enum FaultPoint {
    static func reached(_ name: String) {
        if let value = getenv("ENVPACK_KILL_AT"), String(cString: value) == name { raise(SIGKILL) }
    }
}
