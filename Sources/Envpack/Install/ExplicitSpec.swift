// Explicit spec files, as `conda list --explicit --md5|--sha256` writes them:
// comments, `# platform: linux-64`, `@EXPLICIT`, then one package a line: an
// http(s) or file:// URL or a local path, optionally followed by `#<md5>`,
// `#<sha256>` or `#sha256:<hex>`.
import Foundation

public struct SpecEntry: Sendable, Equatable {
    public enum Source: Sendable, Equatable {
        case remote(URL)
        case local(String)
    }
    public var source: Source
    public var md5: String?
    public var sha256: String?
    /// 1-based line in the spec file, for messages.
    public var line: Int
    /// The file name: `name-version-build.conda` or `.tar.bz2`.
    public var fileName: String
    /// The spec line as written (without the hash), for records.
    public var location: String

    /// `name-version-build`, from the file name.
    public var distName: String {
        for ext in [".conda", ".tar.bz2"] where fileName.hasSuffix(ext) { return String(fileName.dropLast(ext.count)) }
        return fileName
    }
}

public struct ExplicitSpec: Sendable, Equatable {
    public var platform: String?
    public var entries: [SpecEntry]
    /// PyPI wheels, installed after the conda packages, in the file's order.
    public var wheels: [WheelEntry] = []

    public static func load(path: String) throws -> ExplicitSpec {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw EnvpackError.unreadable(path: path, reason: errnoMessage())
        }
        let base = (absolutePath(path) as NSString).deletingLastPathComponent
        return try parse(String(decoding: data, as: UTF8.self), specPath: path, baseDirectory: base)
    }

    /// Parses spec text. Relative local paths are taken from `baseDirectory`
    /// (the spec's folder), so a bundle can move.
    public static func parse(_ text: String, specPath: String, baseDirectory: String) throws -> ExplicitSpec {
        var spec = ExplicitSpec(platform: nil, entries: [])
        var sawExplicit = false
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineNumber = index + 1
            let line = raw.trimmingCharacters(in: .whitespaces)
            func bad(_ why: String) -> EnvpackError {
                .malformedFile(path: "\(specPath):\(lineNumber)", reason: why)
            }
            if line.isEmpty { continue }
            if line.hasPrefix("#") {
                let comment = line.dropFirst().trimmingCharacters(in: .whitespaces)
                // conda-lock's explicit render: `# pip name @ URL#sha256=...`,
                // installed after the conda packages, never dropped.
                if comment.hasPrefix("pip "), comment.contains(" @ ") {
                    spec.wheels.append(try WheelEntry.parsePipLine(String(comment.dropFirst(4)), line: lineNumber,
                                                                   baseDirectory: baseDirectory, fail: bad))
                    guard spec.wheels.count <= WheelEntry.maxWheels else { throw bad("more than \(WheelEntry.maxWheels) PyPI packages") }
                    continue
                }
                if comment.hasPrefix("platform:") {
                    spec.platform = comment.dropFirst("platform:".count).trimmingCharacters(in: .whitespaces)
                }
                continue
            }
            if line == "@EXPLICIT" { sawExplicit = true; continue }
            if line.hasPrefix("@") { throw bad("unknown directive \(line)") }

            var location = line
            var md5: String? = nil, sha256: String? = nil
            if let hash = line.lastIndex(of: "#") {
                location = String(line[..<hash])
                var digest = String(line[line.index(after: hash)...]).lowercased()
                var saysSHA256 = false
                if digest.hasPrefix("sha256:") { digest.removeFirst("sha256:".count); saysSHA256 = true }
                guard digest.allSatisfy(\.isHexDigit) else { throw bad("'\(digest)' is not an md5 or sha256 hash") }
                switch digest.count {
                case 32 where !saysSHA256: md5 = digest
                case 64: sha256 = digest
                default:
                    throw bad(saysSHA256 ? "'sha256:\(digest)' is not a sha256 hash (64 hex digits, not \(digest.count))"
                                         : "'\(digest)' is not an md5 (32 hex) or sha256 (64 hex) hash")
                }
            }
            let entry = try makeEntry(location: location, md5: md5, sha256: sha256, line: lineNumber,
                                      baseDirectory: baseDirectory, fail: bad)
            guard sawExplicit else { throw bad("package line before @EXPLICIT") }
            spec.entries.append(entry)
        }
        guard sawExplicit else {
            throw EnvpackError.malformedFile(path: specPath, reason: "not an explicit spec (no @EXPLICIT line)")
        }
        return spec
    }

    /// One package location (URL or path, relative paths from
    /// `baseDirectory`) checked as a spec entry: http(s) and file URLs only,
    /// and a plain `.conda`/`.tar.bz2` file name. Lock files use it too.
    static func makeEntry(location: String, md5: String?, sha256: String?, line: Int, baseDirectory: String,
                          fail: (String) -> EnvpackError, allowWheel: Bool = false) throws -> SpecEntry {
        let source: SpecEntry.Source
        let fileName: String
        if let url = URL(string: location), let scheme = url.scheme?.lowercased(), scheme.count > 1 {
            switch scheme {
            case "http", "https": source = .remote(url)
            case "file":
                guard !url.path.isEmpty else { throw fail("empty file:// URL") }
                source = .local(url.path)
            default: throw fail("unsupported URL scheme '\(scheme)' (use http, https, file or a path)")
            }
            fileName = url.lastPathComponent
        } else {
            let path = location.hasPrefix("/") ? location : base(baseDirectory, location)
            source = .local(path)
            fileName = (path as NSString).lastPathComponent
        }
        // The file name becomes a name in the package cache: one plain name only.
        guard !fileName.contains("/"), !fileName.hasPrefix("."), !fileName.utf8.contains(0),
              fileName.utf8.count <= 255 else {
            throw fail("'\(fileName)' (from \(location)) is not a plain file name; refusing it")
        }
        guard fileName.hasSuffix(".conda") || fileName.hasSuffix(".tar.bz2") || allowWheel && fileName.hasSuffix(".whl") else {
            throw fail("'\(fileName)' is not a conda package (.conda or .tar.bz2)")
        }
        return SpecEntry(source: source, md5: md5, sha256: sha256, line: line, fileName: fileName, location: location)
    }

    /// The entries with duplicates dropped: a later line naming the same
    /// package (`name-version-build`) from the same place with no conflicting
    /// hash is the same package and goes (each such line is returned, for a
    /// note); the same package with different hashes, or from two places
    /// that no shared hash proves identical, is an error naming both lines.
    public func deduplicated(specPath: String) throws -> (entries: [SpecEntry], dropped: [(SpecEntry, kept: SpecEntry)]) {
        var firstByDist: [String: Int] = [:]
        var kept: [SpecEntry] = []
        var dropped: [(SpecEntry, kept: SpecEntry)] = []
        for entry in entries {
            guard let i = firstByDist[entry.distName] else {
                firstByDist[entry.distName] = kept.count
                kept.append(entry)
                continue
            }
            var first = kept[i]
            func conflict(_ why: String) -> EnvpackError {
                .malformedFile(path: specPath, reason: "lines \(first.line) and \(entry.line) both name \(entry.distName) \(why); keep one of them")
            }
            if let a = first.sha256, let b = entry.sha256, a != b { throw conflict("with different sha256 hashes") }
            if let a = first.md5, let b = entry.md5, a != b { throw conflict("with different md5 hashes") }
            let sameHash = (first.sha256 != nil && first.sha256 == entry.sha256) || (first.md5 != nil && first.md5 == entry.md5)
            if first.location != entry.location && !sameHash { throw conflict("from different places (\(first.location), \(entry.location)) with no hash proving them the same") }
            // Keep every hash either line gives.
            first.sha256 = first.sha256 ?? entry.sha256
            first.md5 = first.md5 ?? entry.md5
            kept[i] = first
            dropped.append((entry, kept: first))
        }
        return (kept, dropped)
    }

    private static func base(_ directory: String, _ relative: String) -> String {
        absolutePath(directory + "/" + relative)
    }

    /// conda's name for this machine's platform.
    public static var currentPlatform: String {
        #if arch(x86_64)
        return "linux-64"
        #elseif arch(arm64)
        return "linux-aarch64"
        #else
        return "linux-unknown"
        #endif
    }
}
