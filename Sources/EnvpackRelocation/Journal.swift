// The relocation journal, `conda-meta/envpack/journal`: while it exists the
// environment is half-relocated, and running the relocation again finishes
// the job. Each file is logged as started before its rename and done after,
// and its temporary name is fixed, so after a kill -9 the one file in flight
// is either still original (its temporary file is discarded and it is done
// again) or already renamed (it counts as done).
#if canImport(Glibc)
import Glibc
#endif

public struct Journal {
    public static let relativePath = "conda-meta/envpack/journal"
    public let path: String
    public var from: String
    public var to: String
    public private(set) var started: Set<String> = []
    public private(set) var done: Set<String> = []

    /// Reads an existing journal, or nil when there is none.
    public static func load(root: String) throws(FileIOError) -> Journal? {
        let path = joinPath(root, relativePath)
        guard pathExists(path) else { return nil }
        let text = String(decoding: try readWholeFile(path), as: UTF8.self)
        var from: String? = nil, to: String? = nil
        var started: Set<String> = [], done: Set<String> = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 2, let value = unescapeField(fields[1]) else { continue }
            switch fields[0] {
            case "from": from = value
            case "to": to = value
            case "start": started.insert(value)
            case "done": done.insert(value)
            default: continue
            }
        }
        guard let from, let to else { throw FileIOError(path: path, reason: "unreadable relocation journal") }
        var journal = Journal(path: path, from: from, to: to)
        journal.started = started
        journal.done = done
        return journal
    }

    public init(path: String, from: String, to: String) {
        self.path = path
        self.from = from
        self.to = to
    }

    /// Starts a new journal on disk.
    public func create() throws(FileIOError) {
        let text = "envpack-journal\t1\nfrom\t\(escapeField(from))\nto\t\(escapeField(to))\n"
        try writeFileAtomically(path, Array(text.utf8))
    }

    public mutating func record(_ event: String, _ file: String) throws(FileIOError) {
        let fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard fd >= 0 else { throw FileIOError(path: path, reason: errnoText()) }
        defer { close(fd) }
        let line = Array("\(event)\t\(escapeField(file))\n".utf8)
        try writeFully(fd: fd, line, path: path)
        if event == "start" { started.insert(file) } else if event == "done" { done.insert(file) }
    }

    public func remove() { unlink(path) }
}
