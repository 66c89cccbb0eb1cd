// Unpacking a wheel without trusting it: the zip is extracted with the same
// rules as every archive envpack reads (ArchiveReader, SafeExtractor: no
// absolute paths, no `..`, no writing through a symlink, each name once),
// into a scratch folder; then a wheel may hold only regular files and
// folders, exactly one NAME-VERSION.dist-info matching its file name, a
// WHEEL of version 1, and a RECORD that lists every file it holds with the
// right hash and size (and no file it does not hold). Anything else is
// refused, naming the wheel and the path.
import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct UnpackedWheel {
    /// The scratch folder the wheel was extracted into.
    var folder: String
    /// `NAME-VERSION.dist-info`.
    var distInfo: String
    /// `NAME-VERSION.data`.
    var dataDir: String
    /// Every regular file (relative path) with its sha256 and size.
    var files: [String: FileDigest]
    /// The distribution's name and version, from the dist-info folder.
    var name: String
    var version: String
    var consoleScripts: [EntryPoint]
    var guiScripts: [EntryPoint]
}

enum WheelArchive {
    /// The largest RECORD or entry_points.txt read.
    static let maxMetadataSize = 64 << 20

    static func unpack(_ wheel: WheelEntry, archive: String, into folder: String) throws -> UnpackedWheel {
        func refuse(_ why: String) -> EnvpackError {
            .malformedFile(path: archive, reason: "\(wheel.label): \(why)")
        }
        let extraction: SafeExtractor.Extraction
        do {
            extraction = try SafeExtractor.extractHashing(reader: try asEnvpackError { try ArchiveReader(path: archive) }, into: folder)
        } catch let error as EnvpackError {
            if case .archive(_, let reason) = error { throw refuse("not a usable wheel: \(reason)") }
            throw error
        }
        // Only files and folders: a wheel has no symlinks, devices or links.
        var files: [String: FileDigest] = [:]
        var topLevel = Set<String>()
        let entries = try EnvironmentTree.walk(prefix: folder)
        for e in entries {
            topLevel.insert(String(e.path.split(separator: "/").first ?? ""))
            switch e.status.kind {
            case .directory: continue
            case .regular:
                files[e.path] = try extraction.files[e.path] ?? {
                    let h = try hashFile(folder + "/" + e.path, md5: false)
                    return FileDigest(sha256: h.sha256, size: h.size)
                }()
            default: throw refuse("\(e.path) is not a regular file (a wheel holds only files and folders)")
            }
        }
        let distInfos = topLevel.filter { $0.hasSuffix(".dist-info") }
        guard distInfos.count == 1, let distInfo = distInfos.first else {
            throw refuse(distInfos.isEmpty ? "no .dist-info folder" : "\(distInfos.count) .dist-info folders (a wheel has one)")
        }
        let stem = String(distInfo.dropLast(".dist-info".count))
        let parts = stem.split(separator: "-", maxSplits: 1).map(String.init)
        guard parts.count == 2, PipOwnership.normalizedName(parts[0]) == PipOwnership.normalizedName(wheel.fileName.distribution) else {
            throw refuse("its \(distInfo) does not match the file name's distribution \(wheel.fileName.distribution)")
        }
        let dataDir = stem + ".data"
        for name in topLevel where name.hasSuffix(".data") && name != dataDir {
            throw refuse("\(name) is not its .data folder (\(dataDir))")
        }
        // WHEEL: Wheel-Version 1.x.
        let wheelText = try smallText(folder, distInfo + "/WHEEL", refuse)
        let versionLine = wheelText.split(separator: "\n").first { $0.lowercased().hasPrefix("wheel-version:") }
        let wheelVersion = versionLine.map { $0.dropFirst("wheel-version:".count).trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
        guard wheelVersion.split(separator: ".").first == "1" else {
            throw refuse("\(distInfo)/WHEEL says Wheel-Version '\(wheelVersion.prefix(20))' (envpack installs version 1 wheels)")
        }
        try verifyRecord(folder: folder, distInfo: distInfo, files: files, refuse: refuse)
        var console: [EntryPoint] = [], gui: [EntryPoint] = []
        if files[distInfo + "/entry_points.txt"] != nil {
            (console, gui) = try entryPoints(try smallText(folder, distInfo + "/entry_points.txt", refuse), refuse: refuse)
        }
        return UnpackedWheel(folder: folder, distInfo: distInfo, dataDir: dataDir, files: files, name: parts[0], version: parts[1],
                             consoleScripts: console, guiScripts: gui)
    }

    /// A metadata file of the wheel as text, bounded.
    static func smallText(_ folder: String, _ path: String, _ refuse: (String) -> EnvpackError) throws -> String {
        switch SmallFile.read(folder + "/" + path, limit: maxMetadataSize) {
        case .data(let data): return String(decoding: data, as: UTF8.self)
        case .missing, .notRegular: throw refuse("no \(path)")
        case .tooLarge, .unreadable: throw refuse("\(path) is unreadable or larger than \(maxMetadataSize) bytes")
        }
    }

    /// Every file but RECORD (and its signatures) is listed with a matching
    /// hash; every listed path is one of the wheel's files, listed once.
    static func verifyRecord(folder: String, distInfo: String, files: [String: FileDigest],
                             refuse: (String) -> EnvpackError) throws {
        let recordPath = distInfo + "/RECORD"
        let text = try smallText(folder, recordPath, refuse)
        let unlisted: Set<String> = [recordPath, recordPath + ".jws", recordPath + ".p7s"]
        var listed = Set<String>()
        for (index, line) in text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }).enumerated() {
            let row = WheelRecord.parseRow(String(line))
            guard row.count >= 1, let path = row.first, !path.isEmpty else { continue }
            let where_ = "RECORD line \(index + 1) (\(path.prefix(200)))"
            guard !path.hasPrefix("/"), !path.split(separator: "/").contains(".."), !path.contains("\\"),
                  let normal = PipOwnership.resolve(path), normal == path else {
                throw refuse("\(where_) is not a plain path inside the wheel")
            }
            guard listed.insert(path).inserted else { throw refuse("\(where_) lists the path a second time") }
            if unlisted.contains(path) { continue }
            guard let digest = files[path] else { throw refuse("\(where_) names a file the wheel does not hold") }
            let hash = row.count > 1 ? row[1] : ""
            guard let equal = hash.firstIndex(of: "=") else { throw refuse("\(where_) has no hash") }
            let algorithm = hash[..<equal].lowercased()
            guard let expected = WheelRecord.decodeHash(String(hash[hash.index(after: equal)...])) else {
                throw refuse("\(where_): '\(hash.prefix(100))' is not a hash")
            }
            let actual: [UInt8]
            switch algorithm {
            case "sha256": actual = WheelRecord.bytes(ofHex: digest.sha256)
            case "sha384", "sha512": actual = try WheelRecord.digest(of: folder + "/" + path, algorithm: algorithm)
            default: throw refuse("\(where_): hash algorithm \(algorithm.prefix(20)) is not sha256, sha384 or sha512")
            }
            guard actual == expected else { throw refuse("\(path) does not match its RECORD hash: the wheel was altered or RECORD lies") }
            if row.count > 2, !row[2].isEmpty, Int(row[2]) != digest.size {
                throw refuse("\(path) is \(digest.size) bytes, its RECORD says \(row[2].prefix(20))")
            }
        }
        for path in files.keys where !listed.contains(path) && !unlisted.contains(path) {
            throw refuse("\(path) is not listed in its RECORD")
        }
    }

    /// `[console_scripts]` and `[gui_scripts]` of entry_points.txt.
    static func entryPoints(_ text: String, refuse: (String) -> EnvpackError) throws -> ([EntryPoint], [EntryPoint]) {
        var console: [EntryPoint] = [], gui: [EntryPoint] = []
        var section = ""
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") { section = String(line.dropFirst().dropLast()); continue }
            guard section == "console_scripts" || section == "gui_scripts" else { continue }
            guard let ep = EntryPoint(line) else { throw refuse("entry_points.txt: '\(line.prefix(200))' is not `name = module:function`") }
            guard InstallPlan.isPlainName(ep.command), ep.module.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." }),
                  ep.function.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." }) else {
                throw refuse("entry_points.txt: '\(line.prefix(200))' is not a plain command name and python name")
            }
            if section == "console_scripts" { console.append(ep) } else { gui.append(ep) }
        }
        return (console, gui)
    }
}
