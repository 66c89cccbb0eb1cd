// The manifest: the list of every file in an environment that holds its
// prefix, written at pack time so that relocation never has to scan a file
// it need not touch.
//
// It is a small line-oriented text format (see docs/manifest.md) rather than
// JSON so that the static helper can read it without Foundation.
#if canImport(Glibc)
import Glibc
#endif

/// How a prefix is stored in a file, which decides how it can be rewritten.
public enum PrefixMode: String, Sendable, Equatable {
    /// Plain text: the prefix can be replaced by one of any length.
    case text
    /// Binary: C strings are rewritten in place and padded with NUL bytes,
    /// so the file keeps its length and the new prefix may not be longer.
    case binary
}

/// One RPATH or RUNPATH entry of an ELF file that points into the prefix.
public struct RPathEntry: Sendable, Equatable {
    public enum Tag: String, Sendable { case rpath = "RPATH", runpath = "RUNPATH" }
    public var tag: Tag
    /// The whole DT_RPATH/DT_RUNPATH string, colon-separated as in the file.
    public var value: String

    public init(tag: Tag, value: String) {
        self.tag = tag
        self.value = value
    }
}

/// A file that holds a prefix.
public struct PrefixFile: Sendable, Equatable {
    /// Path relative to the environment root.
    public var path: String
    public var mode: PrefixMode
    /// The string to replace: the environment's prefix, or the package's
    /// placeholder when the file was installed without being patched.
    public var placeholder: String
    /// A script whose first line is `#!` followed by the placeholder.
    public var isShebang: Bool
    /// True for ELF objects; their RPATH/RUNPATH entries are in `rpaths`.
    public var isELF: Bool
    /// True when a conda-meta record lists the file.
    public var isManaged: Bool
    /// Byte offsets of each occurrence of the placeholder.
    public var offsets: [Int]
    /// Offsets (a subset of `offsets`) that never limit a move: in parts of
    /// an ELF file that are not loaded at run time (debug info, `.comment`),
    /// or inside an RPATH/RUNPATH string, which is rewritten on its own.
    public var exemptOffsets: [Int]
    public var rpaths: [RPathEntry]
    /// Other paths of the environment that are hardlinks to this file; a
    /// rewrite must keep them pointing at the same content.
    public var hardlinks: [String]
    /// For binary files: the NUL bytes after a C string (keyed by the offset
    /// where the string starts) that belong to it. conda pads a string with
    /// NULs when it puts a shorter prefix in place of a package's long
    /// placeholder; that room lets a later move use a longer prefix.
    public var room: [Int: Room] = [:]
    /// For a script whose `#!PREFIX/...` line envpack replaced by
    /// `#!/usr/bin/env NAME` (the environment lacks the interpreter): the
    /// original interpreter path inside the environment and its argument
    /// (`/bin/perl -w`), so pack can check the script against its package.
    public var originalShebang: String? {
        get { shebangBox?.line }
        set { shebangBox = newValue.map(ShebangBox.init) }
    }
    /// Rare, so boxed: one pointer in every entry rather than a string
    /// (a manifest may hold millions of entries).
    private var shebangBox: ShebangBox? = nil
    /// The manifest line this entry came from (0 when not parsed), and the
    /// lines of its `hardlink` records: for error messages only, not part
    /// of equality.
    public var line: Int = 0
    public var hardlinkLines: [Int] = []

    public static func == (a: PrefixFile, b: PrefixFile) -> Bool {
        a.path == b.path && a.mode == b.mode && a.placeholder == b.placeholder && a.isShebang == b.isShebang
            && a.isELF == b.isELF && a.isManaged == b.isManaged && a.offsets == b.offsets
            && a.exemptOffsets == b.exemptOffsets && a.rpaths == b.rpaths && a.hardlinks == b.hardlinks && a.room == b.room
            && a.originalShebang == b.originalShebang
    }

    public init(path: String, mode: PrefixMode, placeholder: String, isShebang: Bool = false,
                isELF: Bool = false, isManaged: Bool = true, offsets: [Int] = [],
                exemptOffsets: [Int] = [], rpaths: [RPathEntry] = [], hardlinks: [String] = []) {
        self.path = path
        self.mode = mode
        self.placeholder = placeholder
        self.isShebang = isShebang
        self.isELF = isELF
        self.isManaged = isManaged
        self.offsets = offsets
        self.exemptOffsets = exemptOffsets
        self.rpaths = rpaths
        self.hardlinks = hardlinks
    }

    /// Occurrences that must fit when the file is rewritten in place.
    public var loadedOffsets: [Int] {
        if exemptOffsets.isEmpty { return offsets }
        let exempt = Set(exemptOffsets)
        return offsets.filter { !exempt.contains($0) }
    }
}

/// Immutable, so entries that share one stay values.
final class ShebangBox: Sendable {
    let line: String
    init(_ line: String) { self.line = line }
}

/// NUL padding a binary string owns, shared by its `occurrences` of the
/// prefix: each occurrence may grow by `bytes / occurrences`.
public struct Room: Sendable, Equatable {
    public var bytes: Int
    public var occurrences: Int
    public init(bytes: Int, occurrences: Int) {
        self.bytes = bytes
        self.occurrences = max(1, occurrences)
    }
}

/// A package of the environment, for summaries.
public struct ManifestPackage: Sendable, Equatable {
    public var name: String
    public var version: String
    public var build: String
    public var channel: String

    public init(name: String, version: String, build: String, channel: String) {
        self.name = name
        self.version = version
        self.build = build
        self.channel = channel
    }
}

public struct Manifest: Sendable, Equatable {
    public static let formatVersion = 1
    /// Where the manifest lives inside an environment.
    public static let relativePath = "conda-meta/envpack/manifest.tsv"

    /// The prefix the environment's files hold now.
    public var prefix: String
    /// Prefixes the environment had before (where it was packed, earlier
    /// relocations), oldest first: what `--check` looks for.
    public var previousPrefixes: [String] = []
    public var packages: [ManifestPackage]
    public var files: [PrefixFile]

    public init(prefix: String, packages: [ManifestPackage] = [], files: [PrefixFile] = []) {
        self.prefix = prefix
        self.packages = packages
        self.files = files
    }

    /// The longest new prefix the binary files allow, or nil when nothing
    /// limits it. Only occurrences in loaded data count; RPATH entries are
    /// rewritten to `$ORIGIN` and have no limit.
    public var longestAllowedPrefix: Int? {
        var limit: Int? = nil
        for file in files {
            if let allowed = Manifest.allowedPrefix(of: file) { limit = min(limit ?? allowed, allowed) }
        }
        return limit
    }

    /// The files that set `longestAllowedPrefix`.
    public var limitingFiles: [String] {
        guard let limit = longestAllowedPrefix else { return [] }
        return files.filter { Manifest.allowedPrefix(of: $0) == limit }.map(\.path)
    }

    /// Files holding the prefix where it is not loaded at run time (static
    /// libraries, object files, unloaded ELF sections, unmanaged binary
    /// data): occurrences there are left as they are when a longer prefix
    /// does not fit.
    public var notLoadedFiles: [String] {
        files.filter { file in
            guard file.mode == .binary, !file.exemptOffsets.isEmpty else { return false }
            let placeholder = Array(file.placeholder.utf8)
            let inRPaths = file.rpaths.reduce(0) { sum, r in
                sum + Array(r.value.utf8).withUnsafeBytes { occurrences(of: placeholder, in: $0).count }
            }
            return file.exemptOffsets.count > inRPaths
        }.map(\.path)
    }

    /// The longest new prefix one file allows, or nil when it sets no limit.
    public static func allowedPrefix(of file: PrefixFile) -> Int? {
        guard file.mode == .binary else { return nil }
        // Room belongs to the string that starts at its offset; a string
        // with one occurrence may grow by all of it. The numbers come
        // from the manifest: every sum saturates instead of trapping.
        let length = file.placeholder.utf8.count
        var limit: Int? = nil
        var skip = 0
        for offset in file.loadedOffsets.sorted() {
            if skip > 0 { skip -= 1; continue }
            var allowed = length
            if let room = file.room[offset] {
                let share = room.bytes / max(1, room.occurrences)
                let (sum, overflow) = allowed.addingReportingOverflow(share)
                allowed = overflow ? Int.max : sum
                skip = max(0, room.occurrences - 1)
            }
            limit = min(limit ?? allowed, allowed)
        }
        return limit
    }
}

// MARK: - Text form

public struct ManifestError: Error, CustomStringConvertible, Equatable {
    public var line: Int
    public var reason: String
    public var description: String { "manifest line \(line): \(reason)" }
}

extension Manifest {
    /// The text form: one record a line, fields separated by tabs.
    public func serialized() -> String {
        var out = ""
        forEachRecord { out += $0 }
        return out
    }

    /// The text form in pieces (a few records each), for writing a large
    /// manifest without holding all of its text.
    func forEachRecord(_ body: (String) -> Void) {
        var head = "envpack-manifest\t\(Manifest.formatVersion)\n"
        head += "prefix\t\(escapeField(prefix))\n"
        for p in previousPrefixes { head += "previous\t\(escapeField(p))\n" }
        body(head)
        for p in packages {
            body("package\t\(escapeField(p.name))\t\(escapeField(p.version))\t\(escapeField(p.build))\t\(escapeField(p.channel))\n")
        }
        for f in files { body(Manifest.records(of: f)) }
    }

    /// Writes the text form through `write`, 1 MiB at a time.
    func write(to write: ([UInt8]) throws(FileIOError) -> Void) throws(FileIOError) {
        var pending: [UInt8] = []
        pending.reserveCapacity(1 << 20)
        var failure: FileIOError? = nil
        forEachRecord { text in
            guard failure == nil else { return }
            pending.append(contentsOf: text.utf8)
            if pending.count >= 1 << 20 {
                do throws(FileIOError) { try write(pending) } catch { failure = error }
                pending.removeAll(keepingCapacity: true)
            }
        }
        if let failure { throw failure }
        try write(pending)
    }

    /// The `file` record of one entry and its `rpath` and `hardlink` records.
    static func records(of f: PrefixFile) -> String {
        var flags: [String] = []
        if f.isShebang { flags.append("shebang") }
        if f.isELF { flags.append("elf") }
        flags.append(f.isManaged ? "managed" : "unmanaged")
        var out = "file\t\(escapeField(f.path))\t\(f.mode.rawValue)\t\(flags.joined(separator: ","))\t"
        out += "\(escapeField(f.placeholder))\t\(joinInts(f.offsets))\t\(joinInts(f.exemptOffsets))\t\(joinRoom(f.room))\n"
        for r in f.rpaths {
            out += "rpath\t\(escapeField(f.path))\t\(r.tag.rawValue)\t\(escapeField(r.value))\n"
        }
        for link in f.hardlinks {
            out += "hardlink\t\(escapeField(f.path))\t\(escapeField(link))\n"
        }
        if let line = f.originalShebang {
            out += "shebang\t\(escapeField(f.path))\t\(escapeField(line))\n"
        }
        return out
    }

    /// Parses the text form. Every field is checked: paths are relative and
    /// stay inside the environment, numbers are bounded, lists and lines
    /// have a maximum size, and no path is listed twice.
    public init(parsing text: String) throws(ManifestError) {
        var parser = ManifestParser()
        let bytes = Array(text.utf8)
        var start = 0
        while start < bytes.count {
            let end = bytes[start...].firstIndex(of: 0x0a) ?? bytes.count
            try parser.consume(bytes[start..<end])
            start = end + 1
        }
        self = try parser.finish()
    }
}

private func joinInts(_ values: [Int]) -> String {
    values.isEmpty ? "-" : values.map(String.init).joined(separator: ",")
}

private func joinRoom(_ room: [Int: Room]) -> String {
    room.isEmpty ? "-" : room.keys.sorted().map { "\($0):\(room[$0]!.bytes):\(room[$0]!.occurrences)" }.joined(separator: ",")
}

func splitRoom(_ text: String) -> [Int: Room]? {
    if text == "-" { return [:] }
    var result: [Int: Room] = [:]
    var count = 0
    for part in text.split(separator: ",") {
        count += 1
        guard count <= ManifestLimits.maxListItems else { return nil }
        let fields = part.split(separator: ":", maxSplits: 3)
        guard fields.count == 3, let o = Int(fields[0]), let r = Int(fields[1]), let k = Int(fields[2]),
              (0...ManifestLimits.maxNumber).contains(o), (0...ManifestLimits.maxNumber).contains(r),
              (1...ManifestLimits.maxListItems).contains(k), result[o] == nil else { return nil }
        result[o] = Room(bytes: r, occurrences: k)
    }
    return result
}

func splitInts(_ text: String) -> [Int]? {
    if text == "-" { return [] }
    var result: [Int] = []
    for part in text.split(separator: ",") {
        guard result.count < ManifestLimits.maxListItems, let v = Int(part),
              (0...ManifestLimits.maxNumber).contains(v) else { return nil }
        result.append(v)
    }
    return result
}

/// Escapes tab, newline, backslash and other control bytes so that any file
/// name fits in one field.
func escapeField(_ s: String) -> String {
    if s.isEmpty { return "\\0" }
    var out = ""
    for scalar in s.unicodeScalars {
        switch scalar {
        case "\\": out += "\\\\"
        case "\t": out += "\\t"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        default:
            if scalar.value < 0x20 || scalar.value == 0x7f {
                let hex = String(scalar.value, radix: 16)
                out += "\\x" + (hex.count == 1 ? "0" + hex : hex)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out
}

func unescapeField(_ s: String) -> String? {
    if s == "\\0" { return "" }
    guard s.contains("\\") else { return s }
    var out = ""
    var it = s.unicodeScalars.makeIterator()
    while let c = it.next() {
        guard c == "\\" else { out.unicodeScalars.append(c); continue }
        switch it.next() {
        case "\\": out += "\\"
        case "t": out += "\t"
        case "n": out += "\n"
        case "r": out += "\r"
        case "x":
            guard let a = it.next(), let b = it.next(),
                  let v = UInt32(String(a) + String(b), radix: 16), let u = Unicode.Scalar(v) else { return nil }
            out.unicodeScalars.append(u)
        default: return nil
        }
    }
    return out
}
