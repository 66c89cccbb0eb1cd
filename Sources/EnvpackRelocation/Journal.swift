// The relocation journal, `conda-meta/envpack/journal`: while it exists the
// environment is half-relocated, and running the relocation again finishes
// the job. Each file is logged as started, then (before its rename) written
// with the manifest entry its new content has, then done once its hardlinks
// follow. Its temporary name is fixed, so after a kill -9 the one file in
// flight is either still original (its temporary file is discarded and it
// is done again) or already renamed (it counts as done, and its recorded
// entry, room included, goes into the manifest exactly as an uninterrupted
// run would have written it).
//
// The journal may come from an archive, so it is read like the manifest:
// never through a symlink, bounded, and every recorded entry is parsed with
// the manifest's checks and compared with the file on disk before use.
#if canImport(Glibc)
import Glibc
#endif

/// The manifest entry a relocated file got, as recorded in the journal
/// (nil when the new content holds no prefix at all).
public struct JournalEntry: Sendable, Equatable {
    public var entry: PrefixFile?
    public init(entry: PrefixFile?) { self.entry = entry }

    /// Why the file open at `fd` is not what this entry describes, or nil
    /// when it holds the entry's string at each of its offsets.
    func mismatch(fd: Int32, size: Int) -> String? {
        guard let entry else { return nil }
        let needle = Array(entry.placeholder.utf8)
        guard entry.offsets.count <= size else { return "the relocation journal does not match it" }
        for offset in entry.offsets {
            let (end, overflow) = offset.addingReportingOverflow(needle.count)
            guard !overflow, end <= size,
                  let bytes = try? readAt(fd: fd, offset: offset, count: needle.count, path: entry.path),
                  bytes == needle else {
                return "the relocation journal does not match it (offset \(offset))"
            }
        }
        return nil
    }

    /// The journal field: the entry's manifest records, escaped into one field.
    var field: String {
        guard let entry else { return "-" }
        return escapeField(Manifest.records(of: entry))
    }

    /// Parses a journal field for `path`, with every check the manifest
    /// parser makes; nil when it is not valid.
    init?(field: String, path: String, to: String) {
        if field == "-" { self.entry = nil; return }
        guard let records = unescapeField(field),
              let parsed = try? Manifest(parsing: "envpack-manifest\t1\nprefix\t\(escapeField(to))\n" + records),
              parsed.files.count == 1, parsed.files[0].path == path,
              // An entry of occurrences left as they were holds the old prefix.
              parsed.files[0].placeholder == to || parsed.files[0].offsets == parsed.files[0].exemptOffsets else { return nil }
        self.entry = parsed.files[0]
    }
}

public struct Journal {
    public static let relativePath = "conda-meta/envpack/journal"
    static let name = lastComponent(relativePath)
    /// The open conda-meta/envpack folder (-1 for a journal only read).
    let directory: Int32
    public let path: String
    public var from: String
    public var to: String
    public private(set) var started: Set<String> = []
    public private(set) var done: Set<String> = []
    /// The entries recorded by `written` lines.
    public private(set) var entries: [String: JournalEntry] = [:]

    /// Reads an existing journal, or nil when there is none.
    public static func load(root: String) throws(FileIOError) -> Journal? {
        let path = joinPath(root, relativePath)
        let parent: RootedName
        do { parent = try openParent(root: root, relative: relativePath) } catch {
            if error.code == ENOENT { return nil }
            throw error
        }
        defer { parent.close() }
        guard statAt(parent.directory, parent.name) != nil else { return nil }
        let (fd, st) = try openRegularAt(parent.directory, parent.name, display: path)
        defer { close(fd) }
        guard Int(st.st_size) <= ManifestLimits.maxBytes else {
            throw FileIOError(path: path, reason: "relocation journal of \(st.st_size) bytes is too large")
        }
        var from: String? = nil, to: String? = nil
        var started: Set<String> = [], done: Set<String> = []
        var entries: [String: JournalEntry] = [:]
        var bad: String? = nil
        try forEachLine(fd: fd, path: path, maxLine: ManifestLimits.maxLineBytes) { bytes in
            let line = String(decoding: bytes, as: UTF8.self)
            let fields = line.split(separator: "\t", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
            guard fields.count >= 2, let value = unescapeField(fields[1]) else { return true }
            switch fields[0] {
            case "from": from = value
            case "to": to = value
            case "start": started.insert(value)
            case "done": done.insert(value)
            case "written":
                guard fields.count == 3, let to, let entry = JournalEntry(field: fields[2], path: value, to: to) else {
                    bad = value; return false
                }
                entries[value] = entry
            default: break
            }
            return true
        }
        if let bad { throw FileIOError(path: path, reason: "the relocation journal's entry for \(escapeField(bad)) is not valid") }
        guard let from, let to, from.hasPrefix("/"), to.hasPrefix("/") else {
            throw FileIOError(path: path, reason: "unreadable relocation journal")
        }
        var journal = Journal(directory: -1, path: path, from: from, to: to)
        journal.started = started
        journal.done = done
        journal.entries = entries
        return journal
    }

    /// - Parameter directory: the open conda-meta/envpack folder.
    init(directory: Int32, path: String, from: String, to: String) {
        self.directory = directory
        self.path = path
        self.from = from
        self.to = to
    }

    /// Takes over what an earlier run recorded.
    mutating func adopt(_ other: Journal) {
        from = other.from
        to = other.to
        started = other.started
        done = other.done
        entries = other.entries
    }

    /// Starts a new journal on disk.
    func create() throws(FileIOError) {
        let text = Array("envpack-journal\t1\nfrom\t\(escapeField(from))\nto\t\(escapeField(to))\n".utf8)
        try writeFileAtomically(directory: directory, name: Journal.name, display: path) { (write) throws(FileIOError) in
            try write(text)
        }
    }

    mutating func record(_ event: String, _ file: String, entry: JournalEntry? = nil) throws(FileIOError) {
        // O_NOFOLLOW: a symlink put at the journal's name is never written through.
        let fd = openat(directory, Journal.name, O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw FileIOError(path: path, reason: errnoText()) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw FileIOError(path: path, reason: "the relocation journal is not a regular file")
        }
        var text = "\(event)\t\(escapeField(file))"
        if let entry { text += "\t" + entry.field }
        let line = Array((text + "\n").utf8)
        do { try writeFully(fd: fd, line, path: path) } catch { close(fd); throw error }
        guard close(fd) == 0 else { throw FileIOError(path: path, reason: errnoText()) }
        if event == "start" { started.insert(file) } else if event == "done" { done.insert(file) }
        if let entry { entries[file] = entry }
    }

    func remove() { unlinkat(directory, Journal.name, 0) }
}
