// Unpacking an archive made by conda-pack. Such an archive has no envpack
// manifest; what it knows about prefixes is in `bin/conda-unpack`, a python
// script that embeds a list `_prefix_records = [(path, placeholder, mode),
// ...]`. That list is read here as DATA (the script is never run), every
// record is validated as hostile input, and an envpack manifest is built
// from it and from a scan of the extracted files, so the relocation engine
// can do the whole job: text and binary prefixes (conda-pack leaves binary
// files it did not get from the package cache unrelocated), ELF RPATHs, and
// shebangs. conda-pack rewrites `#!/old/prefix/bin/X` to `#!/usr/bin/env X`;
// those lines are put back to the environment's own interpreter (a
// trampoline when the path is too long for the kernel), as envpack does.
import EnvpackRelocation
import Foundation
import Crypto
#if canImport(Glibc)
import Glibc
#endif

public enum CondaPackArchive {
    /// One `(path, placeholder, mode)` record of conda-unpack.
    public struct Record: Sendable, Equatable {
        public var path: String
        public var placeholder: String
        public var mode: PrefixMode
    }

    public static let scriptPath = "bin/conda-unpack"
    /// conda's classic placeholder, used for restored shebangs when the
    /// records never name the environment's own prefix.
    static let condaPlaceholder = "/opt/anaconda1anaconda2" + "anaconda3"
    static let maxScriptBytes = 64 << 20
    static let maxRecords = 1_000_000
    /// conda-pack's own files, left as they are.
    static let ownFiles: Set<String> = ["bin/conda-unpack", "bin/conda_unpack_progress.py"]

    /// Whether an extracted tree at `root` is a conda-pack environment.
    public static func isCondaPack(root: String) -> Bool {
        FileStatus.lstat(root + "/bin")?.kind == .directory
            && FileStatus.lstat(root + "/" + scriptPath)?.kind == .regular
    }

    // MARK: Reading the records

    /// The records embedded in the conda-unpack script's text. `name` names
    /// the script in errors.
    public static func records(script: [UInt8], name: String) throws -> [Record] {
        func bad(_ reason: String) -> EnvpackError {
            .archive(path: name, reason: "conda-pack's record list cannot be read: \(reason)")
        }
        guard let text = String(validating: script, as: UTF8.self) else { throw bad("the script is not UTF-8") }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(where: { $0 == "_prefix_records = [" }) else {
            throw bad("no `_prefix_records = [` line (not a conda-pack archive, or an unknown conda-pack version)")
        }
        var records: [Record] = []
        var closed = false
        for (n, line) in lines[(start + 1)...].enumerated() {
            if line == "]" { closed = true; break }
            // An environment with nothing to relocate has an empty list.
            if line.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" }) { continue }
            guard records.count < maxRecords else { throw bad("more than \(maxRecords) records") }
            do {
                records.append(try parseRecord(Substring(line)))
            } catch let reason as RecordError {
                throw bad("line \(start + n + 2): \(reason.text)")
            }
        }
        guard closed else { throw bad("the list is not closed with `]`") }
        for r in records {
            if let problem = pathProblem(r.path) { throw bad("path '\(r.path)': \(problem)") }
            if let problem = placeholderProblem(r.placeholder) { throw bad("placeholder of \(r.path): \(problem)") }
        }
        return records
    }

    struct RecordError: Error { var text: String }

    /// `('path', 'placeholder', 'mode'),` as python's repr writes it.
    static func parseRecord(_ line: Substring) throws -> Record {
        var scanner = PythonLiteralScanner(Array(line.utf8))
        try scanner.expect(UInt8(ascii: "("))
        let path = try scanner.string()
        try scanner.expect(UInt8(ascii: ","))
        let placeholder = try scanner.string()
        try scanner.expect(UInt8(ascii: ","))
        let modeText = try scanner.string()
        try scanner.expect(UInt8(ascii: ")"))
        scanner.skipSpaces()
        if scanner.peek == UInt8(ascii: ",") { scanner.index += 1 }
        scanner.skipSpaces()
        guard scanner.atEnd else { throw RecordError(text: "unexpected text after the record") }
        guard let mode = PrefixMode(rawValue: modeText) else {
            throw RecordError(text: "mode '\(modeText)' is neither text nor binary")
        }
        return Record(path: path, placeholder: placeholder, mode: mode)
    }

    /// Why a record's path cannot be used, or nil.
    static func pathProblem(_ path: String) -> String? {
        if path.isEmpty { return "empty" }
        if path.utf8.count > 4096 { return "longer than 4096 bytes" }
        if path.hasPrefix("/") { return "absolute" }
        if path.utf8.contains(0) || path.contains("\n") { return "holds a NUL or newline" }
        for component in path.split(separator: "/", omittingEmptySubsequences: false) {
            if component.isEmpty || component == "." { return "has an empty or '.' component" }
            if component == ".." { return "leaves the environment (..)" }
        }
        return nil
    }

    static func placeholderProblem(_ placeholder: String) -> String? {
        if !placeholder.hasPrefix("/") || placeholder.utf8.count < 2 { return "not an absolute path" }
        if placeholder.utf8.count > 4096 { return "longer than 4096 bytes" }
        if placeholder.utf8.contains(0) || placeholder.contains("\n") || placeholder.contains("\t") {
            return "holds a NUL, tab or newline"
        }
        return nil
    }

    // MARK: Building the manifest

    /// What was prepared, for the summary.
    public struct Prepared: Sendable {
        public var manifest: Manifest
        public var records: Int
        public var restoredShebangs: [String]
    }

    /// Reads conda-unpack's records at `root`, restores the shebangs
    /// conda-pack replaced by `/usr/bin/env`, and writes an envpack manifest
    /// that the relocation engine then follows. `archive` names the archive
    /// in errors.
    @discardableResult
    public static func prepare(root: String, archive: String) throws -> Prepared {
        let scriptFile = root + "/" + scriptPath
        guard let st = FileStatus.lstat(scriptFile), st.kind == .regular else {
            throw EnvpackError.archive(path: archive, reason: "\(scriptPath) is not a regular file")
        }
        guard st.size <= maxScriptBytes else {
            throw EnvpackError.archive(path: archive, reason: "\(scriptPath) is larger than \(maxScriptBytes >> 20) MiB")
        }
        let bytes: [UInt8]
        do { bytes = try readWholeFile(scriptFile) } catch {
            throw EnvpackError.unreadable(path: scriptFile, reason: error.reason)
        }
        let records = try records(script: bytes, name: "\(archive): \(scriptPath)")
        for r in records {
            if let problem = walkProblem(root: root, path: r.path) {
                throw EnvpackError.archive(path: archive, reason: "conda-pack record \(r.path): \(problem)")
            }
        }

        // The environment's own prefix at pack time: the placeholder conda-pack
        // gave files it read from the environment itself (not a package's
        // build placeholder). The most common one wins.
        var counts: [String: Int] = [:]
        for r in records where !isBuildPlaceholder(r.placeholder) { counts[r.placeholder, default: 0] += 1 }
        let oldPrefix = counts.max { ($0.value, $1.key) < ($1.value, $0.key) }?.key ?? condaPlaceholder

        let restored = try restoreShebangs(root: root, prefix: oldPrefix)

        var manifest = try PrefixScanner.scan(root: root, prefix: oldPrefix)
        manifest.files.removeAll { ownFiles.contains($0.path) }
        var known = Set(manifest.files.map(\.path))
        for entry in manifest.files { known.formUnion(entry.hardlinks) }
        // Records the scan did not find (a package placeholder no conda-meta
        // record describes): read each file for its placeholder.
        for r in records where !known.contains(r.path) && !ownFiles.contains(r.path) {
            let full = root + "/" + r.path
            var detector = PrefixDetector(prefix: r.placeholder, placeholder: nil)
            do { try forEachChunk(of: full) { detector.feed($0) } } catch {
                throw EnvpackError.unreadable(path: full, reason: error.reason)
            }
            do {
                if let file = try detector.result(path: r.path, absolutePath: full, recordMode: r.mode, isManaged: false) {
                    manifest.files.append(file)
                    known.insert(r.path)
                }
            } catch {
                throw EnvpackError.malformedFile(path: full, reason: error.description)
            }
        }
        manifest.files.sort { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
        manifest.prefix = oldPrefix
        do {
            let folder = root + "/" + (Manifest.relativePath as NSString).deletingLastPathComponent
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw EnvpackError.writeFailed(path: root + "/conda-meta/envpack", reason: "cannot create the folder")
        }
        do {
            try writeFileAtomically(root + "/" + Manifest.relativePath, Array(manifest.serialized().utf8))
        } catch {
            throw EnvpackError.writeFailed(path: error.path, reason: error.reason)
        }
        try installHelper(root: root)
        return Prepared(manifest: manifest, records: records.count, restoredShebangs: restored)
    }

    /// conda-pack's bin/conda-unpack (a python script naming the old prefix
    /// in every record) has done its work once envpack relocated the
    /// environment. It is replaced, as in an envpack archive, by the static
    /// helper with bin/conda-unpack leading to it, so a later move is fixed
    /// by running either; without a helper at hand the stale script is
    /// removed. Only conda-pack's two files are touched.
    static func installHelper(root: String) throws {
        for name in ownFiles { unlink(root + "/" + name) }
        guard let helper = try? HelperLocator.locate() else { return }
        let target = root + "/bin/envpack-unpack"
        if FileStatus.lstat(target) != nil { return }  // the environment has its own: left alone
        do {
            try FileManager.default.copyItem(atPath: helper, toPath: target)
        } catch {
            throw EnvpackError.writeFailed(path: target, reason: "cannot copy the helper \(helper)")
        }
        chmod(target, 0o755)
        guard symlink("envpack-unpack", root + "/" + scriptPath) == 0 else {
            throw EnvpackError.writeFailed(path: root + "/" + scriptPath, reason: errnoMessage())
        }
    }

    /// conda-build's and conda's placeholders, which name no real prefix.
    static func isBuildPlaceholder(_ p: String) -> Bool {
        p.contains("anaconda1anaconda2") || p.contains("_placehold")
    }

    /// Why `path` under `root` is not a regular file reached through real
    /// folders only, or nil.
    static func walkProblem(root: String, path: String) -> String? {
        var current = root
        let components = path.split(separator: "/")
        for (i, component) in components.enumerated() {
            current += "/" + component
            guard let st = FileStatus.lstat(current) else { return "not in the archive" }
            if i < components.count - 1 {
                if st.kind == .symlink { return "goes through the symlink \(components[...i].joined(separator: "/"))" }
                if st.kind != .directory { return "\(components[...i].joined(separator: "/")) is not a folder" }
            } else if st.kind != .regular {
                return st.kind == .symlink ? "is a symlink" : "is not a regular file"
            }
        }
        return nil
    }

    /// Puts `#!PREFIX/bin/NAME ARGS` back where conda-pack wrote
    /// `#!/usr/bin/env NAME ARGS`: scripts in bin/ whose NAME is a program of
    /// the environment, and which conda did not install that way (a file a
    /// conda-meta record lists with the hash it has now is left alone).
    static func restoreShebangs(root: String, prefix: String) throws -> [String] {
        let env = try? CondaEnvironment.load(prefix: root)
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: root + "/bin")) ?? []).sorted()
        var restored: [String] = []
        for name in names {
            let relative = "bin/" + name
            let full = root + "/" + relative
            guard !ownFiles.contains(relative), let st = FileStatus.lstat(full), st.kind == .regular,
                  st.size < 16 << 20 else { continue }
            guard let data = FileManager.default.contents(atPath: full) else { continue }
            let bytes = [UInt8](data)
            let marker = Array("#!/usr/bin/env ".utf8)
            guard bytes.starts(with: marker) else { continue }
            let lineEnd = bytes.firstIndex(of: 0x0a) ?? bytes.count
            guard let line = String(validating: bytes[marker.count..<lineEnd], as: UTF8.self) else { continue }
            let program = line.prefix { $0 != " " && $0 != "\t" }
            let args = line.dropFirst(program.count)
            guard !program.isEmpty, !program.contains("/"), !program.contains("="), !program.hasPrefix("-"),
                  let target = FileStatus.lstat(root + "/bin/" + program),
                  target.kind == .regular || target.kind == .symlink else { continue }
            if let managed = env?.managed[relative] {
                let hash = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
                if hash == managed.entry.sha256 || hash == managed.entry.sha256InPrefix { continue }
            }
            var rewritten = Array("#!\(prefix)/bin/\(program)\(args)".utf8)
            rewritten.append(contentsOf: bytes[lineEnd...])
            do {
                try writeFileAtomically(full, rewritten, mode: mode_t(st.mode))
            } catch {
                throw EnvpackError.writeFailed(path: full, reason: error.reason)
            }
            restored.append(relative)
        }
        return restored
    }
}

/// Reads python string literals as `repr()` writes them: '...' or "...",
/// with \\ \' \" \n \r \t \xHH \uHHHH \UHHHHHHHH escapes. Nothing else
/// (no expressions, no concatenation) is accepted.
struct PythonLiteralScanner {
    let bytes: [UInt8]
    var index = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { index >= bytes.count }
    var peek: UInt8? { atEnd ? nil : bytes[index] }

    mutating func skipSpaces() {
        while let b = peek, b == 0x20 || b == 0x09 || b == 0x0d { index += 1 }
    }

    mutating func expect(_ byte: UInt8) throws {
        skipSpaces()
        guard peek == byte else {
            throw CondaPackArchive.RecordError(text: "expected '\(Character(Unicode.Scalar(byte)))' at column \(index + 1)")
        }
        index += 1
    }

    mutating func string() throws -> String {
        skipSpaces()
        guard let quote = peek, quote == UInt8(ascii: "'") || quote == UInt8(ascii: "\"") else {
            throw CondaPackArchive.RecordError(text: "expected a quoted string at column \(index + 1)")
        }
        index += 1
        var scalars = String.UnicodeScalarView()
        var raw: [UInt8] = []
        func flush() throws {
            guard !raw.isEmpty else { return }
            guard let s = String(validating: raw, as: UTF8.self) else {
                throw CondaPackArchive.RecordError(text: "a string is not UTF-8")
            }
            scalars.append(contentsOf: s.unicodeScalars)
            raw.removeAll()
        }
        while true {
            guard let b = peek else { throw CondaPackArchive.RecordError(text: "unterminated string") }
            index += 1
            if b == quote { break }
            if b != UInt8(ascii: "\\") { raw.append(b); continue }
            guard let e = peek else { throw CondaPackArchive.RecordError(text: "unterminated string") }
            index += 1
            try flush()
            switch e {
            case UInt8(ascii: "\\"), UInt8(ascii: "'"), UInt8(ascii: "\""): scalars.append(Unicode.Scalar(e))
            case UInt8(ascii: "n"): scalars.append("\n")
            case UInt8(ascii: "r"): scalars.append("\r")
            case UInt8(ascii: "t"): scalars.append("\t")
            case UInt8(ascii: "x"): scalars.append(try hexScalar(2))
            case UInt8(ascii: "u"): scalars.append(try hexScalar(4))
            case UInt8(ascii: "U"): scalars.append(try hexScalar(8))
            default: throw CondaPackArchive.RecordError(text: "unknown escape \\\(Character(Unicode.Scalar(e)))")
            }
        }
        try flush()
        return String(scalars)
    }

    private mutating func hexScalar(_ digits: Int) throws -> Unicode.Scalar {
        guard index + digits <= bytes.count,
              let text = String(validating: bytes[index..<(index + digits)], as: UTF8.self),
              text.allSatisfy(\.isHexDigit), let value = UInt32(text, radix: 16),
              let scalar = Unicode.Scalar(value) else {
            throw CondaPackArchive.RecordError(text: "bad \\x/\\u escape")
        }
        index += digits
        return scalar
    }
}
