// Reading the manifest's text form. The manifest comes from an archive, so
// every line is hostile input: paths must stay inside the environment,
// numbers are bounded, lists, lines and the record count have limits
// (checked before anything is allocated for them), and no path is listed
// twice. The loader streams the file, so memory holds the parsed entries
// but never the whole text.
#if canImport(Glibc)
import Glibc
#endif

extension Manifest {
    /// Parses the manifest read from `fd` in chunks, so memory holds the
    /// parsed entries but never the whole text.
    /// `onDisk` says why a listed path is not a regular file of the
    /// environment (nil when it is); a line naming such a path is refused as
    /// it is read, so memory only ever holds entries for files that exist.
    static func load(fd: Int32, path: String, onDisk: ((String) -> String?)? = nil) throws(RelocationError) -> Manifest {
        var parser = ManifestParser()
        parser.onDisk = onDisk
        // A first pass counts the lines and bytes: too many is refused before
        // any entry is allocated, and the entries' storage is reserved once.
        var lines = 0, bytes = 0
        do {
            try forEachChunk(fd: fd, path: path) { chunk in
                bytes += chunk.count
                for byte in chunk where byte == 0x0a { lines += 1 }
            }
        } catch { throw .io(error) }
        guard bytes <= ManifestLimits.maxBytes else {
            throw .badManifest("\(path): larger than \(ManifestLimits.maxBytes) bytes, refused")
        }
        guard lines <= ManifestLimits.maxRecords + 1024 else {
            throw .badManifest("\(path): more than \(ManifestLimits.maxRecords) lines, refused")
        }
        guard lseek(fd, 0, SEEK_SET) == 0 else { throw .io(FileIOError(path: path, reason: errnoText())) }
        parser.expectedRecords = lines
        func fail(_ error: ManifestError) -> RelocationError { .badManifest("\(path): \(error.description)") }
        var failure: ManifestError? = nil
        do {
            try forEachLine(fd: fd, path: path, maxLine: ManifestLimits.maxLineBytes) { line in
                do throws(ManifestError) { try parser.consume(line) } catch { failure = error; return false }
                return true
            }
        } catch { throw .io(error) }
        if let failure { throw fail(failure) }
        do throws(ManifestError) { return try parser.finish() } catch { throw fail(error) }
    }
}

/// Bounds on what a manifest may hold, checked before anything is
/// allocated for it.
public enum ManifestLimits {
    /// The whole manifest.
    public static let maxBytes = 1 << 30
    /// Records (lines that are not comments or blank).
    public static let maxRecords = 4_000_000
    /// One line.
    public static let maxLineBytes = 16 << 20
    /// Items of one comma-separated list (offsets, room).
    public static let maxListItems = 1 << 20
    /// Any number (an offset or a byte count): 256 TiB, far beyond any file.
    public static let maxNumber = 1 << 48
}

/// The line-by-line reader behind `Manifest(parsing:)` and the streaming
/// loader.
struct ManifestParser {
    var prefix: String? = nil
    var previous: [String] = []
    var packages: [ManifestPackage] = []
    var files: [PrefixFile] = []
    var sawHeader = false
    var lineNumber = 0
    var records = 0
    /// Records the caller counted in advance (0 when unknown), to reserve
    /// the entries' storage once.
    var expectedRecords = 0
    /// One copy of each placeholder string, shared by every entry.
    var placeholders: [String: String] = [:]
    /// Checks each listed path against the environment as it is read (see
    /// `Manifest.load`).
    var onDisk: ((String) -> String?)? = nil

    mutating func consume<Bytes: Collection<UInt8>>(_ bytes: Bytes) throws(ManifestError) {
        lineNumber += 1
        let lineNumber = self.lineNumber
        if bytes.isEmpty || bytes.first == 0x23 { return }
        records += 1
        guard records <= ManifestLimits.maxRecords else {
            throw ManifestError(line: lineNumber, reason: "more than \(ManifestLimits.maxRecords) records, refused")
        }
        guard bytes.count <= ManifestLimits.maxLineBytes else {
            throw ManifestError(line: lineNumber, reason: "line longer than \(ManifestLimits.maxLineBytes) bytes")
        }
        let rawLine = String(decoding: bytes, as: UTF8.self)
        let fields = rawLine.split(separator: "\t", maxSplits: 16, omittingEmptySubsequences: false)
        let kind = String(fields[0].prefix(40))
        func field(_ i: Int) throws(ManifestError) -> String {
            guard i < fields.count else {
                throw ManifestError(line: lineNumber, reason: "'\(kind)' needs \(i + 1) fields")
            }
            guard let value = unescapeField(String(fields[i])) else {
                throw ManifestError(line: lineNumber, reason: "bad escape in field \(i + 1)")
            }
            return value
        }
        func safePath(_ i: Int) throws(ManifestError) -> String {
            let path = try field(i)
            if let reason = unsafePathReason(path) ?? onDisk?(path) {
                throw ManifestError(line: lineNumber, reason: "refused path '\(escapeField(path))': \(reason)")
            }
            return path
        }
        if !sawHeader {
            guard kind == "envpack-manifest" else {
                throw ManifestError(line: lineNumber, reason: "not an envpack manifest")
            }
            guard let v = Int(try field(1)), v >= 1, v <= Manifest.formatVersion else {
                throw ManifestError(line: lineNumber, reason: "unsupported manifest version \(fields.count > 1 ? String(fields[1].prefix(20)) : "")")
            }
            sawHeader = true
            return
        }
        switch kind {
        case "prefix":
            let value = try field(1)
            // Absolute, or relative as `pack --dest-prefix ./env` writes it
            // (conda-pack's habit); only ever a string to find, never a path
            // that is followed.
            guard !value.isEmpty, !value.utf8.contains(where: { $0 < 0x20 }) else {
                throw ManifestError(line: lineNumber, reason: "the prefix is empty or holds control characters")
            }
            prefix = value
        case "previous":
            let value = try field(1)
            guard !value.isEmpty, !value.utf8.contains(where: { $0 < 0x20 }) else {
                throw ManifestError(line: lineNumber, reason: "an earlier prefix is empty or holds control characters")
            }
            previous.append(value)
        case "package":
            packages.append(ManifestPackage(name: try field(1), version: try field(2),
                                            build: try field(3), channel: try field(4)))
        case "file":
            let path = try safePath(1)
            guard let mode = PrefixMode(rawValue: try field(2)) else {
                throw ManifestError(line: lineNumber, reason: "unknown mode '\(escapeField(String(fields[2].prefix(40))))'")
            }
            let flags = try field(3).split(separator: ",")
            var placeholder = try field(4)
            guard !placeholder.isEmpty else { throw ManifestError(line: lineNumber, reason: "empty placeholder") }
            if placeholder == prefix, let prefix { placeholder = prefix }
            else if let shared = placeholders[placeholder] { placeholder = shared }
            else if placeholders.count < 1024 { placeholders[placeholder] = placeholder }
            guard let offsets = splitInts(try field(5)), let exempt = splitInts(try field(6)) else {
                throw ManifestError(line: lineNumber, reason: "bad offsets (each a number from 0 to \(ManifestLimits.maxNumber), at most \(ManifestLimits.maxListItems))")
            }
            guard exempt.count <= offsets.count else {
                throw ManifestError(line: lineNumber, reason: "more exempt offsets than offsets")
            }
            if files.isEmpty && expectedRecords > 0 { files.reserveCapacity(expectedRecords) }
            var file = PrefixFile(path: path, mode: mode, placeholder: placeholder,
                                  isShebang: flags.contains("shebang"), isELF: flags.contains("elf"),
                                  isManaged: !flags.contains("unmanaged"),
                                  offsets: offsets, exemptOffsets: exempt)
            file.line = lineNumber
            if fields.count > 7 {
                guard let room = splitRoom(try field(7)) else {
                    throw ManifestError(line: lineNumber, reason: "bad room field")
                }
                if !room.isEmpty {
                    let known = Set(offsets)
                    for (offset, r) in room {
                        guard known.contains(offset), r.occurrences <= offsets.count else {
                            throw ManifestError(line: lineNumber, reason: "room at offset \(offset) does not match the offsets")
                        }
                    }
                }
                file.room = room
            }
            files.append(file)
        case "rpath":
            let path = try field(1)
            guard let tag = RPathEntry.Tag(rawValue: try field(2)) else {
                throw ManifestError(line: lineNumber, reason: "unknown rpath tag '\(escapeField(String(fields[2].prefix(40))))'")
            }
            guard let last = files.indices.last, files[last].path == path else {
                throw ManifestError(line: lineNumber, reason: "rpath for '\(escapeField(path))' does not follow its file")
            }
            guard files[last].rpaths.count < 64 else { throw ManifestError(line: lineNumber, reason: "too many rpath records") }
            files[last].rpaths.append(RPathEntry(tag: tag, value: try field(3)))
        case "hardlink":
            let path = try field(1)
            guard let last = files.indices.last, files[last].path == path else {
                throw ManifestError(line: lineNumber, reason: "hardlink for '\(escapeField(path))' does not follow its file")
            }
            let other = try safePath(2)
            guard files[last].hardlinks.count < 0xffff else { throw ManifestError(line: lineNumber, reason: "too many hardlink records") }
            files[last].hardlinks.append(other)
            files[last].hardlinkLines.append(lineNumber)
        case "shebang":
            let path = try field(1)
            guard let last = files.indices.last, files[last].path == path else {
                throw ManifestError(line: lineNumber, reason: "shebang for '\(escapeField(path))' does not follow its file")
            }
            let line = try field(2)
            guard line.hasPrefix("/"), line.utf8.count <= 4096, !line.utf8.contains(0x0a) else {
                throw ManifestError(line: lineNumber, reason: "bad original shebang")
            }
            files[last].originalShebang = line
        default:
            // Unknown records come from newer writers; skipping them keeps
            // older helpers working.
            return
        }
    }

    /// No path may be named twice (two `file` records, or a `hardlink`
    /// naming a file already listed): a second rewrite of one file would
    /// fail half-way. Paths are compared as bytes, through one sorted array
    /// of indices rather than a set of strings, to keep memory small.
    func refuseDuplicates() throws(ManifestError) {
        var keys: [Int] = []
        keys.reserveCapacity(files.count)
        for (i, f) in files.enumerated() {
            keys.append(i << 16)
            for j in f.hardlinks.indices { keys.append(i << 16 | (j + 1)) }
        }
        func path(_ key: Int) -> String {
            let i = key >> 16, j = key & 0xffff
            return j == 0 ? files[i].path : files[i].hardlinks[j - 1]
        }
        keys.sort { path($0).utf8.lexicographicallyPrecedes(path($1).utf8) }
        for (a, b) in zip(keys, keys.dropFirst()) where path(a).utf8.elementsEqual(path(b).utf8) {
            let later = max(a, b)
            let i = later >> 16, j = later & 0xffff
            let line = j == 0 ? files[i].line : (j - 1 < files[i].hardlinkLines.count ? files[i].hardlinkLines[j - 1] : files[i].line)
            throw ManifestError(line: line, reason: "'\(escapeField(path(b)))' is listed twice")
        }
    }

    func finish() throws(ManifestError) -> Manifest {
        guard sawHeader else { throw ManifestError(line: lineNumber, reason: "empty manifest") }
        guard let prefix else { throw ManifestError(line: lineNumber, reason: "no prefix line") }
        try refuseDuplicates()
        var manifest = Manifest(prefix: prefix, packages: packages, files: files)
        manifest.previousPrefixes = previous
        return manifest
    }
}

