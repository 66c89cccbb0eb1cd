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
    /// `problems` holds the first few of `count` problems.
    case preflight(to: String, problems: [String], count: Int, longestAllowed: Int?)
    case io(FileIOError)
    case interrupted(from: String, to: String, requested: String)
    /// A manifest line names something relocation must never touch.
    case unsafeEntry(manifest: String, line: Int, path: String, reason: String)
    /// Something in the environment relocation must never write through.
    case unsafeFile(path: String, reason: String)

    public var description: String {
        switch self {
        case .noManifest(let path):
            return "\(path) is missing: this environment was not packed by envpack (use `envpack relocate --from OLD`)"
        case .badManifest(let message):
            return message
        case .preflight(let to, let problems, let count, let longest):
            var text = "cannot relocate to \(to) (\(to.utf8.count) bytes), nothing was changed: "
            text += problems.prefix(8).joined(separator: "; ")
            if count > min(8, problems.count) { text += "; and \(count - min(8, problems.count)) more" }
            if let longest { text += "; the longest prefix the binary files allow is \(longest) bytes" }
            return text
        case .io(let e):
            return e.description
        case .interrupted(let from, let to, let requested):
            return "a relocation from \(from) to \(to) was interrupted; move the environment back to \(to) and run it again to finish it (it is at \(requested) now)"
        case .unsafeEntry(let manifest, let line, let path, let reason):
            return "refusing to relocate, nothing was changed: \(manifest) line \(line) names \(escapeField(path)), which \(reason)"
        case .unsafeFile(let path, let reason):
            return "refusing to relocate, nothing was changed: \(path) \(reason)"
        }
    }
}

/// What to change in one file.
public struct FilePlan: Sendable {
    public var file: PrefixFile
    /// The string the file holds now (its placeholder, or `--from`).
    public var old: String
    public var edits: [Edit]
    /// Occurrences left as they are: not loaded at run time, too long to fit.
    public var leftUnloaded: Int { leftOffsets.count }
    /// Their offsets (each the start of a string left as it is).
    public var leftOffsets: [Int] = []
    /// The `/bin/perl -w` of a `#!PREFIX/bin/perl -w` line replaced by
    /// `#!/usr/bin/env perl` (the environment lacks the interpreter).
    public var originalShebang: String? = nil
}

public struct RelocationPlan: Sendable {
    public var from: String
    public var to: String
    public var files: [FilePlan]
    /// Files a previous, interrupted run already finished.
    public var alreadyDone: [PrefixFile]
    /// Their new manifest entries, as that run recorded them in the journal
    /// (absent for a journal that recorded none).
    public var doneEntries: [String: JournalEntry] = [:]
    public var resuming: Bool
    public var manifest: Manifest

    /// Files not rewritten at all: every occurrence they hold is not loaded
    /// at run time and the new prefix does not fit there.
    public var leftUntouched: [String] = []
    /// Files where occurrences not loaded at run time were left as they are.
    public var leftFiles: [String] { files.filter { $0.leftUnloaded > 0 }.map(\.file.path) + leftUntouched }
    /// The one warning to print about them, if any.
    public var leftWarning: String? { leftOccurrencesWarning(files: leftFiles, to: to) }
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
    /// Warnings (occurrences left where they are not loaded at run time),
    /// printed once per run; standard error by default.
    public var warn: (String) -> Void = { message in
        let line = Array("envpack: warning: \(message)\n".utf8)
        _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }
    /// Called after each file's new content is written ("written") and
    /// after its rename ("renamed"), with the file's index: the tests use it
    /// to kill the process at exact points.
    public var faultHook: (_ event: String, _ index: Int) -> Void = { _, _ in }

    public init(root: String, to: String, fromOverride: String? = nil) {
        self.root = root
        self.to = to
        self.fromOverride = fromOverride
    }

    /// Reads the manifest: reached without following symlinks, a regular
    /// file, bounded in size, parsed line by line.
    public func loadManifest() throws(RelocationError) -> Manifest {
        let path = joinPath(root, Manifest.relativePath)
        let parent: RootedName
        do { parent = try openParent(root: root, relative: Manifest.relativePath) } catch {
            if error.code == ENOENT { throw .noManifest(path) }
            throw .io(error)
        }
        defer { parent.close() }
        guard statAt(parent.directory, parent.name) != nil else { throw .noManifest(path) }
        let opened: (fd: Int32, status: stat)
        do { opened = try openRegularAt(parent.directory, parent.name, display: path) } catch { throw .io(error) }
        defer { close(opened.fd) }
        guard Int(opened.status.st_size) <= ManifestLimits.maxBytes else {
            throw .badManifest("\(path): \(opened.status.st_size) bytes, more than the \(ManifestLimits.maxBytes) a manifest may have")
        }
        // Every listed file must be a regular file of the environment: a
        // manifest naming files that are not there is refused at its first
        // such line, before it can fill memory with entries.
        let root = self.root
        return try Manifest.load(fd: opened.fd, path: path) { relative in
            let parent: RootedName
            do throws(FileIOError) { parent = try openParent(root: root, relative: relative) } catch { return error.reason }
            defer { parent.close() }
            guard let st = statAt(parent.directory, parent.name) else { return "not in the environment" }
            return (st.st_mode & S_IFMT) == S_IFREG ? nil : "\(fileTypeName(st.st_mode)), not a regular file"
        }
    }

    // MARK: Plan and preflight

    public func plan(_ manifest: Manifest) throws(RelocationError) -> RelocationPlan {
        try checkOwnFolder()
        var journal: Journal? = nil
        do { journal = try Journal.load(root: root) } catch { throw .io(error) }
        if let j = journal, j.to != to {
            throw .interrupted(from: j.from, to: j.to, requested: to)
        }
        let from = journal?.from ?? fromOverride ?? manifest.prefix
        let knownOld = Self.knownOldPrefixes(manifest, from: from, to: to)
        var plans: [FilePlan] = []
        var done: [PrefixFile] = []
        var doneEntries: [String: JournalEntry] = [:]
        var leftOnly: [String] = []
        var problems: [String] = []
        var problemCount = 0
        var longest: Int? = nil
        func problem(_ text: String) {
            problemCount += 1
            // Paths and prefixes from a manifest may hold control bytes:
            // the message stays one line.
            if problems.count < 8 { problems.append(controlEscaped(text)) }
        }

        for file in manifest.files {
            // Every path is checked before anything else, whatever the
            // rest of the line says: a bad one refuses the whole run.
            let opened: OpenedEntry
            switch try openEntry(file) {
            case .missing(let reason): problem("\(file.path): \(reason)"); continue
            case .opened(let o): opened = o
            }
            defer { opened.close() }
            // The rewrite goes through `.envpack-tmp-NAME` beside each file
            // (and each hardlink): that name must fit, or the run would
            // stop half-way.
            if (file.hardlinks + [file.path]).contains(where: { temporaryPrefix.utf8.count + lastComponent($0).utf8.count > 255 }) {
                problem("\(file.path): its name (or a hardlink's) is too long for envpack's temporary file beside it")
                continue
            }
            // The manifest's prefix may be overridden; a package placeholder
            // (a file conda left unpatched) is what the file holds.
            let old = file.placeholder == manifest.prefix ? from : file.placeholder
            if old == to { continue }
            // A file an interrupted run finished: its recorded entry (when
            // there is one) must describe what is on disk.
            func finished() {
                if let entry = journal?.entries[file.path] {
                    if let reason = entry.mismatch(fd: opened.fd, size: Int(opened.status.st_size)) {
                        problem("\(file.path): \(reason)")
                        return
                    }
                    doneEntries[file.path] = entry
                }
                done.append(file)
            }
            // A `done` line counts only with the entry it recorded; without
            // one (an older journal, or one that came in an archive) the
            // file is planned again, and counts as done only if it no
            // longer holds the old prefix where the manifest says.
            if journal?.done.contains(file.path) == true && journal?.entries[file.path] != nil { finished(); continue }
            do {
                let plan = try planEdits(for: file, fd: opened.fd, size: Int(opened.status.st_size),
                                         path: joinPath(root, file.path), old: old, to: to,
                                         kernelShebangLimit: kernelShebangLimit,
                                         writableFolder: requireWritable ? opened.parent.directory : nil,
                                         root: root, knownOld: knownOld)
                // Nothing would change (an environment already relocated
                // here, or only occurrences that are left): the file is not
                // rewritten.
                if plan.edits.allSatisfy({ $0.expected == $0.replacement }) {
                    if plan.leftUnloaded > 0 { leftOnly.append(file.path) }
                    continue
                }
                plans.append(plan)
            } catch {
                switch error {
                case .doesNotFit(let allowed):
                    longest = min(longest ?? allowed, allowed)
                    problem("\(file.path): binary prefix of \(allowed) bytes")
                case .changed(let reason):
                    if journal?.started.contains(file.path) == true || journal?.done.contains(file.path) == true {
                        // The file in flight when the last run stopped: renamed already.
                        finished()
                    } else {
                        problem("\(file.path): \(reason)")
                    }
                case .other(let reason):
                    problem("\(file.path): \(reason)")
                }
            }
        }
        if !problems.isEmpty { throw .preflight(to: to, problems: problems, count: problemCount, longestAllowed: longest) }
        var plan = RelocationPlan(from: from, to: to, files: plans, alreadyDone: done,
                                  resuming: journal != nil, manifest: manifest)
        plan.doneEntries = doneEntries
        plan.leftUntouched = leftOnly
        return plan
    }

    /// Where the environment's files were before, besides `from`: its
    /// earlier prefixes and the package placeholders its files hold. RPATH
    /// entries inside them are made relative too.
    static func knownOldPrefixes(_ manifest: Manifest, from: String, to: String) -> [String] {
        var seen: Set<String> = [to, from]
        var result: [String] = []
        func add(_ p: String) {
            // An ancestor of where the files are (or go) is no old location.
            guard p.hasPrefix("/"), result.count < 64, !to.hasPrefix(p + "/"), !from.hasPrefix(p + "/") else { return }
            if seen.insert(p).inserted { result.append(p) }
        }
        for p in manifest.previousPrefixes { add(p) }
        add(manifest.prefix)
        // Entries share their placeholder strings: one pass, nothing copied.
        for file in manifest.files where file.placeholder != manifest.prefix {
            add(file.placeholder)
            if result.count >= 64 { break }
        }
        return result
    }

    /// conda-meta/envpack/ holds only what envpack writes there: anything
    /// but a regular file at the manifest's, the journal's or their
    /// temporary names (a symlink an archive planted) refuses the run.
    func checkOwnFolder() throws(RelocationError) {
        let folder: RootedName
        do { folder = try openParent(root: root, relative: Manifest.relativePath) } catch {
            if error.code == ENOENT { return }
            throw .io(error)
        }
        defer { folder.close() }
        let names = [lastComponent(Manifest.relativePath), Journal.name]
        for name in names + names.map({ $0 + ".envpack-tmp" }) {
            if let st = statAt(folder.directory, name), (st.st_mode & S_IFMT) != S_IFREG {
                throw .unsafeFile(path: joinPath(root, parentDirectory(Manifest.relativePath) + "/" + name),
                                  reason: "is \(fileTypeName(st.st_mode)) where envpack keeps its own file")
            }
        }
    }

    /// A manifest entry's file, open for reading, with its folder.
    struct OpenedEntry {
        let parent: RootedName
        let fd: Int32
        let status: stat
        func close() { _ = Glibc.close(fd); parent.close() }
    }
    enum EntryState { case opened(OpenedEntry), missing(String) }

    /// Opens the file a manifest entry names, after checking that it and
    /// its hardlink paths stay inside the root without passing through a
    /// symlink and name regular files. A missing file is a preflight
    /// problem; anything unsafe refuses the run at once.
    func openEntry(_ file: PrefixFile) throws(RelocationError) -> EntryState {
        let manifestPath = joinPath(root, Manifest.relativePath)
        func refuse(_ line: Int, _ path: String, _ reason: String) -> RelocationError {
            .unsafeEntry(manifest: manifestPath, line: line, path: path, reason: reason)
        }
        for (i, other) in file.hardlinks.enumerated() {
            let line = i < file.hardlinkLines.count ? file.hardlinkLines[i] : file.line
            if let reason = unsafePathReason(other) { throw refuse(line, other, "is refused: \(reason)") }
            let parent: RootedName
            do { parent = try openParent(root: root, relative: other) } catch {
                if error.code == ENOENT { continue }
                throw refuse(line, other, "cannot be reached safely: \(error.reason)")
            }
            defer { parent.close() }
            if let st = statAt(parent.directory, parent.name), (st.st_mode & S_IFMT) != S_IFREG {
                throw refuse(line, other, "is \(fileTypeName(st.st_mode)), not a regular file")
            }
        }
        if let reason = unsafePathReason(file.path) { throw refuse(file.line, file.path, "is refused: \(reason)") }
        let parent: RootedName
        do { parent = try openParent(root: root, relative: file.path) } catch {
            if error.code == ENOENT { return .missing(error.reason) }
            throw refuse(file.line, file.path, "cannot be reached safely: \(error.reason)")
        }
        guard let st = statAt(parent.directory, parent.name) else {
            let reason = errnoText()
            parent.close()
            return .missing(reason)
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            parent.close()
            throw refuse(file.line, file.path, "is \(fileTypeName(st.st_mode)), not a regular file")
        }
        do {
            let (fd, status) = try openRegularAt(parent.directory, parent.name, display: joinPath(root, file.path))
            return .opened(OpenedEntry(parent: parent, fd: fd, status: status))
        } catch {
            parent.close()
            throw refuse(file.line, file.path, error.reason)
        }
    }

    // MARK: Apply

    /// Applies a plan under the journal; returns the updated manifest, which
    /// is also written to the environment.
    @discardableResult
    public func apply(_ plan: RelocationPlan) throws(RelocationError) -> Manifest {
        // An environment relocated for the first time (moved by hand) has
        // no envpack folder yet; it is created without following symlinks.
        let folder: RootedName
        do { folder = try openParent(root: root, relative: Manifest.relativePath, create: true) } catch { throw .io(error) }
        defer { folder.close() }
        var journal = Journal(directory: folder.directory, path: joinPath(root, Journal.relativePath), from: plan.from, to: plan.to)
        do {
            if plan.resuming, let existing = try Journal.load(root: root) {
                journal.adopt(existing)
            } else {
                try journal.create()
            }
        } catch { throw .io(error) }

        var updated: [String: PrefixFile?] = [:]
        for (index, filePlan) in plan.files.enumerated() {
            let file = filePlan.file
            let path = joinPath(root, file.path)
            do throws(FileIOError) {
                let parent = try openParent(root: root, relative: file.path)
                defer { parent.close() }
                let temporary = temporaryPrefix + parent.name
                try journal.record("start", file.path)
                var entry = try rewriteFile(in: parent.directory, name: parent.name, temporary: temporary,
                                            edits: filePlan.edits, display: path, file: file, to: to)
                if entry == nil && (filePlan.originalShebang != nil || (file.isELF && file.offsets.isEmpty)) {
                    // It holds no prefix now, but envpack changed it (a
                    // `#!/usr/bin/env` line, an RPATH entry of a file that
                    // held no prefix): its entry stays, saying what changed,
                    // so pack can still check it against its package.
                    var kept = PrefixFile(path: file.path, mode: file.mode, placeholder: to, isELF: file.isELF,
                                          isManaged: file.isManaged)
                    kept.originalShebang = filePlan.originalShebang
                    entry = kept
                } else if entry == nil && !filePlan.leftOffsets.isEmpty {
                    // Only occurrences that were left remain: the entry keeps
                    // them, holding the old prefix, so `--check` lists them
                    // and a later move tries them again.
                    var left = PrefixFile(path: file.path, mode: file.mode, placeholder: filePlan.old,
                                          isShebang: false, isELF: file.isELF, isManaged: file.isManaged,
                                          offsets: filePlan.leftOffsets, exemptOffsets: filePlan.leftOffsets)
                    left.room = file.room.filter { filePlan.leftOffsets.contains($0.key) }
                    entry = left
                }
                if var e = entry {
                    e.hardlinks = file.hardlinks
                    if e.originalShebang == nil { e.originalShebang = filePlan.originalShebang }
                    if file.mode == .binary {
                        let offsets = Set(e.offsets)
                        e.room = Self.room(after: filePlan.edits, old: file.room).filter { offsets.contains($0.key) }
                    }
                    entry = e
                }
                // The new entry is in the journal before the rename, so a
                // run that resumes after it knows the file's room.
                try journal.record("written", file.path, entry: JournalEntry(entry: entry))
                faultHook("written", index)
                // Its bytecode goes before the source changes; a resumed run
                // removes it again (below).
                try removeBytecode(directory: parent.directory, sourceName: parent.name, display: parentDirectory(path))
                guard renameat(parent.directory, temporary, parent.directory, parent.name) == 0 else {
                    throw FileIOError(path: path, reason: errnoText())
                }
                faultHook("renamed", index)
                try relink(file, source: parent)
                try journal.record("done", file.path)
                // updateValue: a nil entry (the file holds no prefix now)
                // must drop the file's old entry, not keep it.
                updated.updateValue(entry, forKey: file.path)
            } catch {
                throw .io(error)
            }
            log("relocated \(file.path)\(filePlan.leftUnloaded > 0 ? " (\(filePlan.leftUnloaded) occurrence(s) left: not loaded at run time)" : "")")
        }
        for file in plan.alreadyDone {
            // A run killed between a rename and its hardlinks: link them now.
            do throws(FileIOError) {
                let parent = try openParent(root: root, relative: file.path)
                defer { parent.close() }
                try relink(file, source: parent)
                try removeBytecode(directory: parent.directory, sourceName: parent.name, display: parentDirectory(joinPath(root, file.path)))
            } catch { throw .io(error) }
            if let recorded = plan.doneEntries[file.path] {
                updated.updateValue(recorded.entry, forKey: file.path)
            } else {
                updated.updateValue(rescan(file), forKey: file.path)
            }
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
            try writeFileAtomically(directory: folder.directory, name: lastComponent(Manifest.relativePath),
                                    display: joinPath(root, Manifest.relativePath)) { (write) throws(FileIOError) in
                try manifest.write(to: write)
            }
        } catch { throw .io(error) }
        journal.remove()
        if let warning = plan.leftWarning { warn(warning) }
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

    /// Points the other paths of a hardlink group at the new file, through
    /// folders reached without following symlinks.
    private func relink(_ file: PrefixFile, source: RootedName) throws(FileIOError) {
        for other in file.hardlinks {
            let path = joinPath(root, other)
            if let reason = unsafePathReason(other) { throw FileIOError(path: path, reason: reason) }
            let target: RootedName
            do { target = try openParent(root: root, relative: other) } catch {
                if error.code == ENOENT { continue }
                throw error
            }
            defer { target.close() }
            guard let st = statAt(target.directory, target.name) else { continue }
            guard (st.st_mode & S_IFMT) == S_IFREG else {
                throw FileIOError(path: path, reason: "is \(fileTypeName(st.st_mode)), not a regular file")
            }
            let temporary = temporaryPrefix + target.name
            unlinkat(target.directory, temporary, 0)
            guard linkat(source.directory, source.name, target.directory, temporary, 0) == 0 else {
                throw FileIOError(path: path, reason: errnoText())
            }
            guard renameat(target.directory, temporary, target.directory, target.name) == 0 else {
                let reason = errnoText()
                unlinkat(target.directory, temporary, 0)
                throw FileIOError(path: path, reason: reason)
            }
            try removeBytecode(directory: target.directory, sourceName: target.name, display: parentDirectory(path))
        }
    }

    /// The manifest entry of a file relocated by an earlier, interrupted run
    /// that recorded none (a journal from an older helper).
    private func rescan(_ file: PrefixFile) -> PrefixFile? {
        guard let (fd, _) = try? openRegularInside(root: root, file.path) else { return nil }
        defer { close(fd) }
        var detector = PrefixDetector(prefix: to, placeholder: nil)
        guard (try? forEachChunk(fd: fd, path: file.path, { detector.feed($0) })) != nil else { return nil }
        var entry = try? detector.result(path: file.path, fd: fd, recordMode: file.mode, isManaged: file.isManaged)
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
/// it needs. A symlink, FIFO or device at `path` is refused unopened.
/// With `environmentRoot`, a shebang naming an interpreter the environment
/// lacks becomes `#!/usr/bin/env NAME`.
public func planEdits(for file: PrefixFile, at path: String, old: String, to: String,
                      kernelShebangLimit: Int = runningKernelShebangLimit(),
                      requireWritable: Bool = false, knownOld: [String] = [],
                      environmentRoot: String? = nil) throws(PlanFailure) -> FilePlan {
    let opened: (fd: Int32, status: stat)
    do { opened = try openRegularFile(path) } catch { throw .other(error.reason) }
    defer { close(opened.fd) }
    guard !requireWritable || access(parentDirectory(path).isEmpty ? "." : parentDirectory(path), W_OK) == 0 else {
        throw .other("folder is not writable")
    }
    return try planEdits(for: file, fd: opened.fd, size: Int(opened.status.st_size), path: path, old: old, to: to,
                         kernelShebangLimit: kernelShebangLimit, writableFolder: nil, root: environmentRoot,
                         knownOld: knownOld)
}

/// The same, on an open regular file of `size` bytes. Every offset the
/// manifest gives is checked against the size before it is used.
func planEdits(for file: PrefixFile, fd: Int32, size: Int, path: String, old: String, to: String,
               kernelShebangLimit: Int, writableFolder: Int32?, root: String?,
               knownOld: [String]) throws(PlanFailure) -> FilePlan {
        if let folder = writableFolder, faccessat(folder, ".", W_OK, 0) != 0 {
            throw .other("folder is not writable")
        }
        guard !old.isEmpty else { throw .other("the manifest gives an empty prefix for it") }
        guard file.offsets.count <= size else {
            throw .changed("the manifest lists \(file.offsets.count) occurrences in a file of \(size) bytes")
        }
        for offset in file.offsets {
            let (end, overflow) = offset.addingReportingOverflow(old.utf8.count)
            guard !overflow, end <= size else {
                throw .changed("the manifest gives offset \(offset), beyond the end of the file (\(size) bytes)")
            }
        }
        let oldBytes = Array(old.utf8), newBytes = Array(to.utf8)
        var edits: [Edit] = []
        var leftOffsets: [Int] = []
        var originalShebang: String? = nil

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
                    let inside = String(interpreter.dropFirst(old.count))
                    let newLine: String
                    if let root, !interpreterExists(root: root, inside: inside) {
                        // The environment lacks it (openssl's c_rehash names
                        // PREFIX/bin/perl): as conda does, find it on PATH.
                        newLine = envShebang(interpreter: interpreter, argument: argument)
                        originalShebang = inside + (argument.isEmpty ? "" : " " + argument)
                    } else {
                        do {
                            newLine = try relocatedShebang(interpreter: to + inside, argument: argument,
                                                           kernelLimit: kernelShebangLimit)
                        } catch { throw .other(error.description) }
                    }
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
                do { elf = try readELFInfo(fd: fd, path: path) } catch { throw PlanFailure.other(error.description) }
            }
            // Entries into the prefix, and those naming a known old
            // location (a build placeholder, an earlier prefix), in every
            // ELF file the manifest lists, also one that holds no prefix.
            for rpath in elf?.rpaths ?? [] {
                var value = relocatedRPath(rpath.value, placeholder: old, objectDirectory: parentDirectory(file.path),
                                           knownOld: knownOld)
                if value.utf8.count > rpath.capacity {
                    value = relocatedRPath(rpath.value, placeholder: old, objectDirectory: parentDirectory(file.path),
                                           knownOld: knownOld, dropKnownOld: true)
                }
                if value == rpath.value { continue }
                guard value.utf8.count <= rpath.capacity else {
                    throw .other("new \(rpath.tag.rawValue) \(value) does not fit in \(rpath.capacity) bytes")
                }
                edits.append(Edit(offset: rpath.fileOffset, expected: Array(rpath.value.utf8),
                                  replacement: Array(value.utf8) + Array(repeating: 0, count: rpath.capacity - value.utf8.count)))
            }
            // A static library, an object file or unmanaged binary data is
            // never loaded: what does not fit there is left as it is.
            let neverLoaded = isNeverLoaded(head: try bytes(at: 0, count: 8), elf: elf, isELF: file.isELF,
                                            isManaged: file.isManaged, mode: file.mode)
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
                // The string may also use the NUL padding it owns, which
                // (with its terminator) must lie inside the file.
                let room = file.room[offset]?.bytes ?? 0
                if room > 0 {
                    let (end, overflow) = (offset + string.count).addingReportingOverflow(room)
                    guard !overflow, end < size else {
                        throw .changed("the manifest gives \(room) bytes of room after offset \(offset), beyond the end of the file")
                    }
                    guard try bytes(at: offset + string.count, count: room + 1) == [UInt8](repeating: 0, count: room + 1) else {
                        throw .changed("padding after offset \(offset) is not empty as the manifest says")
                    }
                }
                let loaded = !neverLoaded && (elf?.isLoaded(offset: offset) ?? true)
                guard let replaced = relocatedCString(string[...], old: oldBytes, new: newBytes, capacity: string.count + room) else {
                    if !loaded { leftOffsets.append(offset); coveredUntil = offset + string.count; continue }
                    let k = file.offsets.filter { $0 >= offset && $0 < offset + string.count }.count
                    throw .doesNotFit(allowed: oldBytes.count + room / max(k, 1))
                }
                edits.append(Edit(offset: offset, expected: string + [UInt8](repeating: 0, count: room), replacement: replaced))
                coveredUntil = offset + string.count
            }
        }
        // Edits are applied in one forward pass: from a hostile manifest
        // they could overlap (an offset listed twice, or inside another
        // occurrence), which is refused here rather than half-way through.
        edits.sort { $0.offset < $1.offset }
        for (a, b) in zip(edits, edits.dropFirst()) where b.offset < a.offset + a.length {
            throw .changed("the manifest gives overlapping occurrences at offsets \(a.offset) and \(b.offset)")
        }
        var plan = FilePlan(file: file, old: old, edits: edits, leftOffsets: leftOffsets)
        plan.originalShebang = originalShebang ?? file.originalShebang
        return plan
    }

/// `text` with control characters written as `\xNN`, so a message built
/// from hostile fields stays on one line.
func controlEscaped(_ text: String) -> String {
    guard text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else { return text }
    var out = ""
    for scalar in text.unicodeScalars {
        if scalar.value < 0x20 || scalar.value == 0x7f {
            let hex = String(scalar.value, radix: 16)
            out += "\\x" + (hex.count == 1 ? "0" + hex : hex)
        } else {
            out.unicodeScalars.append(scalar)
        }
    }
    return out
}
