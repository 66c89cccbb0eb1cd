// The relocation engine: makes an environment's files hold a new prefix.
// One engine serves the static helper, `envpack unpack`, `envpack relocate`
// and `envpack pack --dest-prefix`.
//
// It works in three steps. Plan: from the manifest, read only what each
// change needs (a shebang line, the C strings around binary occurrences,
// ELF dynamic entries) and compute every edit. Preflight: anything that
// cannot be done (a binary prefix that does not fit, a file that is gone or
// changed) stops the run here, before any file is touched, with the files
// named. Apply: each file is rewritten beside itself and renamed over, under
// a journal, and the manifest is updated last, which is the commit point.
#if canImport(Glibc)
import Glibc
#endif

public enum RelocationError: Error, CustomStringConvertible, Equatable {
    case noManifest(String)
    case badManifest(String)
    case preflight(to: String, problems: [String], longestAllowed: Int?)
    case io(FileIOError)
    case interrupted(from: String, to: String, requested: String)

    public var description: String {
        switch self {
        case .noManifest(let path):
            return "\(path) is missing: this environment was not packed by envpack (use `envpack relocate --from OLD`)"
        case .badManifest(let message):
            return message
        case .preflight(let to, let problems, let longest):
            var text = "cannot relocate to \(to) (\(to.utf8.count) bytes), nothing was changed: "
            text += problems.prefix(8).joined(separator: "; ")
            if problems.count > 8 { text += "; and \(problems.count - 8) more" }
            if let longest { text += "; the longest prefix the binary files allow is \(longest) bytes" }
            return text
        case .io(let e):
            return e.description
        case .interrupted(let from, let to, let requested):
            return "a relocation from \(from) to \(to) was interrupted; move the environment back to \(to) and run it again to finish it (it is at \(requested) now)"
        }
    }
}

/// What to change in one file.
public struct FilePlan: Sendable {
    public var file: PrefixFile
    /// The string the file holds now (its placeholder, or `--from`).
    public var old: String
    public var edits: [Edit]
    /// Occurrences left as they are: in unloaded ELF data, too long to fit.
    public var leftUnloaded: Int
}

public struct RelocationPlan: Sendable {
    public var from: String
    public var to: String
    public var files: [FilePlan]
    /// Files a previous, interrupted run already finished.
    public var alreadyDone: [PrefixFile]
    public var resuming: Bool
    public var manifest: Manifest
}

public struct Relocator {
    /// Where the environment's files are now.
    public let root: String
    /// The prefix they must hold (usually `root`).
    public let to: String
    /// The prefix the files hold, when it is not the manifest's.
    public let fromOverride: String?
    public var kernelShebangLimit = runningKernelShebangLimit()
    /// Whether planning requires write access to each file's folder (not
    /// when the edits are applied elsewhere, as by pack --dest-prefix).
    public var requireWritable = true
    /// Progress lines for -v.
    public var log: (String) -> Void = { _ in }
    /// Called after each file's new content is written ("written") and
    /// after its rename ("renamed"), with the file's index: the tests use it
    /// to kill the process at exact points.
    public var faultHook: (_ event: String, _ index: Int) -> Void = { _, _ in }

    public init(root: String, to: String, fromOverride: String? = nil) {
        self.root = root
        self.to = to
        self.fromOverride = fromOverride
    }

    public func loadManifest() throws(RelocationError) -> Manifest {
        let path = joinPath(root, Manifest.relativePath)
        guard pathExists(path) else { throw .noManifest(path) }
        let bytes: [UInt8]
        do { bytes = try readWholeFile(path) } catch { throw .io(error) }
        do { return try Manifest(parsing: String(decoding: bytes, as: UTF8.self)) } catch {
            throw .badManifest("\(path): \(error.description)")
        }
    }

    // MARK: Plan and preflight

    public func plan(_ manifest: Manifest) throws(RelocationError) -> RelocationPlan {
        var journal: Journal? = nil
        do { journal = try Journal.load(root: root) } catch { throw .io(error) }
        if let j = journal, j.to != to {
            throw .interrupted(from: j.from, to: j.to, requested: to)
        }
        let from = journal?.from ?? fromOverride ?? manifest.prefix
        var plans: [FilePlan] = []
        var done: [PrefixFile] = []
        var problems: [String] = []
        var longest: Int? = nil

        for file in manifest.files {
            // The manifest's prefix may be overridden; a package placeholder
            // (a file conda left unpatched) is what the file holds.
            let old = file.placeholder == manifest.prefix ? from : file.placeholder
            if old == to { continue }
            if journal?.done.contains(file.path) == true { done.append(file); continue }
            do {
                let plan = try planFile(file, old: old)
                plans.append(plan)
            } catch {
                switch error {
                case .doesNotFit(let allowed):
                    longest = min(longest ?? allowed, allowed)
                    problems.append("\(file.path): binary prefix of \(allowed) bytes")
                case .changed(let reason):
                    if journal?.started.contains(file.path) == true {
                        // The file in flight when the last run stopped: renamed already.
                        done.append(file)
                    } else {
                        problems.append("\(file.path): \(reason)")
                    }
                case .other(let reason):
                    problems.append("\(file.path): \(reason)")
                }
            }
        }
        if !problems.isEmpty { throw .preflight(to: to, problems: problems, longestAllowed: longest) }
        return RelocationPlan(from: from, to: to, files: plans, alreadyDone: done,
                              resuming: journal != nil, manifest: manifest)
    }

    private func planFile(_ file: PrefixFile, old: String) throws(PlanFailure) -> FilePlan {
        try planEdits(for: file, at: joinPath(root, file.path), old: old, to: to,
                      kernelShebangLimit: kernelShebangLimit, requireWritable: requireWritable)
    }

    // MARK: Apply

    /// Applies a plan under the journal; returns the updated manifest, which
    /// is also written to the environment.
    @discardableResult
    public func apply(_ plan: RelocationPlan) throws(RelocationError) -> Manifest {
        var journal = Journal(path: joinPath(root, Journal.relativePath), from: plan.from, to: plan.to)
        // An environment relocated for the first time (moved by hand) has
        // no envpack folder yet.
        var folder = ""
        for component in parentDirectory(Manifest.relativePath).split(separator: "/") {
            folder = folder.isEmpty ? String(component) : folder + "/" + component
            mkdir(joinPath(root, folder), 0o755)
        }
        do {
            if plan.resuming, let existing = try Journal.load(root: root) {
                journal = existing
            } else {
                try journal.create()
            }
        } catch { throw .io(error) }

        var updated: [String: PrefixFile?] = [:]
        for (index, filePlan) in plan.files.enumerated() {
            let file = filePlan.file
            let path = joinPath(root, file.path)
            let temporary = temporaryPath(for: path)
            var detector = PrefixDetector(prefix: to, placeholder: nil)
            do {
                try journal.record("start", file.path)
                try rewriteFile(source: path, destination: temporary, edits: filePlan.edits, detector: &detector)
                let entry = try? detector.result(path: file.path, absolutePath: temporary,
                                                 recordMode: file.mode, isManaged: file.isManaged)
                faultHook("written", index)
                guard rename(temporary, path) == 0 else { throw FileIOError(path: path, reason: errnoText()) }
                faultHook("renamed", index)
                try relink(file)
                try journal.record("done", file.path)
                updated[file.path] = entry.map { e in
                    var e = e
                    e.hardlinks = file.hardlinks
                    if file.mode == .binary {
                        let offsets = Set(e.offsets)
                        e.room = Self.room(after: filePlan.edits, old: file.room).filter { offsets.contains($0.key) }
                    }
                    return e
                }
            } catch let error as FileIOError {
                throw .io(error)
            } catch {
                throw .io(FileIOError(path: path, reason: "\(error)"))
            }
            log("relocated \(file.path)\(filePlan.leftUnloaded > 0 ? " (\(filePlan.leftUnloaded) occurrence(s) in unloaded data left)" : "")")
        }
        for file in plan.alreadyDone {
            updated[file.path] = rescan(file)
        }

        var manifest = plan.manifest
        manifest.files = manifest.files.compactMap { file in
            guard let new = updated[file.path] else { return file }
            return new
        }
        if plan.from != to {
            manifest.previousPrefixes.removeAll { $0 == to }
            if !manifest.previousPrefixes.contains(plan.from) { manifest.previousPrefixes.append(plan.from) }
        }
        manifest.prefix = to
        do {
            try writeFileAtomically(joinPath(root, Manifest.relativePath), Array(manifest.serialized().utf8))
        } catch { throw .io(error) }
        journal.remove()
        return manifest
    }

    /// The padding each rewritten string still owns: its capacity minus the
    /// new string's length.
    public static func room(after edits: [Edit], old: [Int: Room]) -> [Int: Room] {
        var room: [Int: Room] = [:]
        for edit in edits {
            let used = edit.replacement.firstIndex(of: 0) ?? edit.replacement.count
            if edit.replacement.count - used > 0 {
                room[edit.offset] = Room(bytes: edit.replacement.count - used, occurrences: old[edit.offset]?.occurrences ?? 1)
            }
        }
        return room
    }

    /// Points the other paths of a hardlink group at the new file.
    private func relink(_ file: PrefixFile) throws(FileIOError) {
        let target = joinPath(root, file.path)
        for other in file.hardlinks {
            let path = joinPath(root, other)
            guard pathExists(path) else { continue }
            let temporary = temporaryPath(for: path)
            unlink(temporary)
            guard link(target, temporary) == 0 else { throw FileIOError(path: path, reason: errnoText()) }
            guard rename(temporary, path) == 0 else {
                unlink(temporary)
                throw FileIOError(path: path, reason: errnoText())
            }
        }
    }

    /// The manifest entry of a file relocated by an earlier, interrupted run.
    private func rescan(_ file: PrefixFile) -> PrefixFile? {
        let path = joinPath(root, file.path)
        var detector = PrefixDetector(prefix: to, placeholder: nil)
        guard (try? forEachChunk(of: path, { detector.feed($0) })) != nil else { return nil }
        var entry = try? detector.result(path: file.path, absolutePath: path, recordMode: file.mode, isManaged: file.isManaged)
        entry?.hardlinks = file.hardlinks
        return entry
    }
}

/// Why a file's edits cannot be planned.
public enum PlanFailure: Error, Equatable {
    /// A binary string cannot hold the new prefix; `allowed` is the longest that fits.
    case doesNotFit(allowed: Int)
    /// The file does not hold the prefix where the manifest says.
    case changed(String)
    case other(String)

    public var description: String {
        switch self {
        case .doesNotFit(let allowed): return "binary prefix of \(allowed) bytes"
        case .changed(let reason), .other(let reason): return reason
        }
    }
}

/// The edits that make the file at `path` (described by `file`) hold `to`
/// where it holds `old`: shebang lines, text occurrences, binary C strings
/// (with the room they own) and ELF RPATH/RUNPATH entries. Reads only what
/// it needs.
public func planEdits(for file: PrefixFile, at path: String, old: String, to: String,
                      kernelShebangLimit: Int = runningKernelShebangLimit(),
                      requireWritable: Bool = false) throws(PlanFailure) -> FilePlan {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .other(errnoText()) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { throw .other("not a regular file") }
        guard !requireWritable || access(parentDirectory(path).isEmpty ? "." : parentDirectory(path), W_OK) == 0 else {
            throw .other("folder is not writable")
        }
        let oldBytes = Array(old.utf8), newBytes = Array(to.utf8)
        var edits: [Edit] = []
        var leftUnloaded = 0

        func bytes(at offset: Int, count: Int) throws(PlanFailure) -> [UInt8] {
            do { return try readAt(fd: fd, offset: offset, count: count, path: path) } catch { throw .other(error.reason) }
        }

        switch file.mode {
        case .text:
            var covered = 0
            if file.isShebang {
                let head = try bytes(at: 0, count: 4096)
                let lineEnd = head.firstIndex(of: 0x0a) ?? head.count
                let line = Array(head[0..<lineEnd])
                if let (interpreter, argument) = parseShebang(line), interpreter.hasPrefix(old) {
                    let newInterpreter = to + interpreter.dropFirst(old.count)
                    let newLine: String
                    do {
                        newLine = try relocatedShebang(interpreter: String(newInterpreter), argument: argument,
                                                       kernelLimit: kernelShebangLimit)
                    } catch { throw .other(error.description) }
                    edits.append(Edit(offset: 0, expected: line, replacement: Array(newLine.utf8)))
                    covered = lineEnd
                }
            }
            for offset in file.offsets where offset >= covered {
                guard try bytes(at: offset, count: oldBytes.count) == oldBytes else {
                    throw .changed("does not hold \(old) at offset \(offset) as the manifest says")
                }
                edits.append(Edit(offset: offset, expected: oldBytes, replacement: newBytes))
            }

        case .binary:
            var elf: ELFInfo? = nil
            if file.isELF {
                do { elf = try readELFInfo(path: path) } catch { throw PlanFailure.other(error.description) }
            }
            for rpath in elf?.rpaths ?? [] where rpath.value.containsBytes(of: old) {
                let value = relocatedRPath(rpath.value, placeholder: old, objectDirectory: parentDirectory(file.path))
                guard value.utf8.count <= rpath.capacity else {
                    throw .other("new \(rpath.tag.rawValue) \(value) does not fit in \(rpath.capacity) bytes")
                }
                edits.append(Edit(offset: rpath.fileOffset, expected: Array(rpath.value.utf8),
                                  replacement: Array(value.utf8) + Array(repeating: 0, count: rpath.capacity - value.utf8.count)))
            }
            var coveredUntil = 0
            for offset in file.offsets.sorted() where offset >= coveredUntil {
                if let elf, elf.isInRPath(offset: offset) { continue }
                // The C string runs from the occurrence to its NUL.
                var string: [UInt8] = []
                var cursor = offset
                while true {
                    let chunk = try bytes(at: cursor, count: 4096)
                    if let nul = chunk.firstIndex(of: 0) { string += chunk[0..<nul]; break }
                    string += chunk
                    cursor += chunk.count
                    if chunk.isEmpty || string.count > 1 << 16 { break }
                }
                guard string.starts(with: oldBytes) else {
                    throw .changed("does not hold \(old) at offset \(offset) as the manifest says")
                }
                // The string may also use the NUL padding it owns.
                let room = file.room[offset]?.bytes ?? 0
                if room > 0 {
                    guard try bytes(at: offset + string.count, count: room + 1) == [UInt8](repeating: 0, count: room + 1) else {
                        throw .changed("padding after offset \(offset) is not empty as the manifest says")
                    }
                }
                let loaded = elf?.isLoaded(offset: offset) ?? true
                guard let replaced = relocatedCString(string[...], old: oldBytes, new: newBytes, capacity: string.count + room) else {
                    if !loaded { leftUnloaded += 1; coveredUntil = offset + string.count; continue }
                    let k = file.offsets.filter { $0 >= offset && $0 < offset + string.count }.count
                    throw .doesNotFit(allowed: oldBytes.count + room / max(k, 1))
                }
                edits.append(Edit(offset: offset, expected: string + [UInt8](repeating: 0, count: room), replacement: replaced))
                coveredUntil = offset + string.count
            }
            edits.sort { $0.offset < $1.offset }
        }
        return FilePlan(file: file, old: old, edits: edits, leftUnloaded: leftUnloaded)
    }
