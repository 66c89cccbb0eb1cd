// What interrupted unpack and install runs leave beside a destination (and
// inside it, for a mount point), dealt with when the next run starts:
//   - a staging folder whose lock is free (its process is gone) is removed;
//   - one whose lock file records a --force swap cut between its two renames
//     is finished or undone, so DEST holds the old or the new environment;
//   - one whose lock file records a mount point's move-up is finished;
//   - folders from envpack before 0.3 (`.NAME.envpack-unpack-PID`, no lock)
//     are removed only when no process with that PID exists, and
//     `.NAME.envpack-old-PID` (an environment --force moved aside) is put
//     back when NAME is missing and otherwise left, with a word why.
// Whatever it does, it says so on standard error, in one line.
import CSupport
import EnvpackExtract
import Foundation
#if canImport(Glibc)
import Glibc
#endif

enum StagingLeftovers {
    static let kinds = ["unpack", "install"]

    /// Where a --force swap without RENAME_EXCHANGE keeps the outgoing
    /// destination between its renames.
    static func asidePath(_ staging: String) -> String { staging + ".old" }

    /// Deals with the leftovers in `parent` and in `destination`.
    static func reclaim(parent: String, destination: String) {
        var removed: [String] = []
        var events: [String] = []
        var folders = [parent]
        if FileStatus.lstat(destination)?.kind == .directory { folders.append(destination) }
        for folder in folders {
            for kind in kinds {
                removed += OwnedFolder.reclaimStale(in: folder, kind: kind) { stale, note in
                    resolve(stale, note: note, events: &events)
                }
            }
            reclaimOldStyle(in: folder, inside: folder == destination, removed: &removed, events: &events)
        }
        guard !removed.isEmpty || !events.isEmpty else { return }
        var parts: [String] = []
        if !removed.isEmpty {
            let shown = removed.prefix(3).joined(separator: ", ") + (removed.count > 3 ? " and \(removed.count - 3) more" : "")
            parts.append("removed \(removed.count == 1 ? "a folder" : "\(removed.count) folders") left by interrupted envpack runs: \(shown)")
        }
        let line = Array(("envpack: " + (parts + events).joined(separator: "; ") + "\n").utf8)
        _ = line.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }

    /// A stale OwnedFolder: what its lock file's record asks for.
    private static func resolve(_ folder: String, note: String, events: inout [String]) -> OwnedFolder.Recovery {
        var fields: [String: String] = [:]
        for line in note.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
        }
        switch fields["state"] {
        case "swap": return recoverSwap(folder, fields, events: &events)
        case "moveup": return finishMoveUp(folder, fields, events: &events)
        default: return .remove
        }
    }

    /// A --force swap by two renames (DEST -> ASIDE, STAGING -> DEST,
    /// ASIDE -> STAGING) whose process died: ASIDE missing means it had not
    /// begun or had finished (the staging folder goes either way); DEST
    /// missing means it died between the first two, and DEST comes back
    /// from ASIDE; DEST being the incoming folder means only the clean-up
    /// was left.
    private static func recoverSwap(_ folder: String, _ fields: [String: String], events: inout [String]) -> OwnedFolder.Recovery {
        let aside = asidePath(folder)
        let parent = (folder as NSString).deletingLastPathComponent
        guard let dest = fields["dest"], let incoming = fields["incoming"], fields["aside"] == aside,
              (dest as NSString).deletingLastPathComponent == parent else {
            events.append("left \(folder) and its lock file: its record of a --force replacement does not make sense")
            return .keep
        }
        guard FileStatus.lstat(aside) != nil else { return .remove }
        if let now = FileStatus.lstat(dest) {
            guard "\(now.device):\(now.inode)" == incoming else {
                events.append("left \(aside): it holds what an interrupted --force replacement moved away from \(dest), which has changed since; move it back or remove it yourself")
                return .keep
            }
            guard (try? FileManager.default.removeItem(atPath: aside)) != nil else { return .keep }
            events.append("finished an interrupted --force replacement of \(dest)")
            return .remove
        }
        do {
            try renameNoReplace(aside, dest)
        } catch {
            events.append("left \(aside): cannot put it back at \(dest) (\(error))")
            return .keep
        }
        events.append("restored \(dest), which an interrupted --force replacement had moved aside")
        return .remove
    }

    /// A mount point's staged entries, moved up into it when the process
    /// died: the rest are moved up too (never over anything).
    private static func finishMoveUp(_ folder: String, _ fields: [String: String], events: inout [String]) -> OwnedFolder.Recovery {
        let dest = (folder as NSString).deletingLastPathComponent
        guard fields["dest"] == dest else {
            events.append("left \(folder) and its lock file: its record of a move into \(fields["dest"] ?? "?") does not make sense")
            return .keep
        }
        guard FileStatus.lstat(folder)?.kind == .directory else { return .done }
        do {
            for item in (try directoryEntries(folder)) ?? [] {
                try renameNoReplace(folder + "/" + item, dest + "/" + item)
            }
            guard rmdir(folder) == 0 else { throw EnvpackError.writeFailed(path: folder, reason: errnoMessage()) }
        } catch {
            events.append("left \(folder): cannot finish moving it into \(dest) (\(error))")
            return .keep
        }
        events.append("finished moving an interrupted unpack or install into \(dest)")
        return .done
    }

    /// Folders named by envpack before 0.3, which had no lock.
    private static func reclaimOldStyle(in folder: String, inside: Bool, removed: inout [String], events: inout [String]) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return }
        for name in names {
            guard let old = parseOldName(name), old.base.isEmpty == inside else { continue }
            let path = folder + "/" + name
            var st = stat()
            guard lstat(path, &st) == 0, st.st_mode & S_IFMT == S_IFDIR, st.st_uid == geteuid() else { continue }
            guard !processExists(old.pid) else {
                events.append("left \(path): process \(old.pid) (the envpack run that made it, or a later process with its number) still exists")
                continue
            }
            if old.kind == "old" {
                let original = folder + "/" + old.base
                if FileStatus.lstat(original) == nil, (try? renameNoReplace(path, original)) != nil {
                    events.append("restored \(original), which an interrupted envpack --force had moved to \(name)")
                } else {
                    events.append("left \(path): it holds what an earlier envpack --force moved away from \(original); remove it yourself if you do not need it")
                }
            } else if (try? FileManager.default.removeItem(atPath: path)) != nil {
                removed.append(path)
            }
        }
    }

    /// `.NAME.envpack-KIND-PID` (beside DEST) or `.envpack-KIND-PID`
    /// (inside a mount point), KIND unpack, install or old.
    static func parseOldName(_ name: String) -> (base: String, kind: String, pid: Int32)? {
        for kind in ["unpack", "install", "old"] {
            let marker = ".envpack-\(kind)-"
            guard let range = name.range(of: marker, options: .backwards) else { continue }
            let digits = name[range.upperBound...]
            guard (1...9).contains(digits.count), digits.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let pid = Int32(digits), pid > 0 else { continue }
            if range.lowerBound == name.startIndex {
                return kind == "old" ? nil : ("", kind, pid)
            }
            guard name.hasPrefix("."), name.index(after: name.startIndex) < range.lowerBound else { continue }
            return (String(name[name.index(after: name.startIndex)..<range.lowerBound]), kind, pid)
        }
        return nil
    }

    private static func processExists(_ pid: Int32) -> Bool {
        guard pid > 0, pid != getpid() else { return false }
        return kill(pid, 0) == 0 || errno == EPERM
    }

    /// rename(2) that never replaces what is at `to`.
    static func renameNoReplace(_ from: String, _ to: String) throws {
        if envpack_renameat2(AT_FDCWD, from, AT_FDCWD, to, ENVPACK_RENAME_NOREPLACE) == 0 { return }
        var code = errno
        if code == EINVAL || code == ENOSYS {
            if FileStatus.lstat(to) != nil {
                code = EEXIST
            } else if rename(from, to) == 0 {
                return
            } else {
                code = errno
            }
        }
        throw EnvpackError.writeFailed(path: to, reason: errnoMessage(code))
    }
}
