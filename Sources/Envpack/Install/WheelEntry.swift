// One PyPI wheel a lock file names (a `# pip name @ URL#sha256=…` line of an
// explicit spec, a conda-lock `manager: pip` entry, a pixi `pypi:` entry):
// where it is, its mandatory sha256, and how messages name it. Anything that
// is not a wheel (an sdist, a source tree) is refused here, named: it needs
// a build, which envpack does not do.
import Foundation

public struct WheelEntry: Sendable, Equatable {
    /// The distribution name as the lock file gives it.
    public var name: String
    /// The lock's version, when it gives one.
    public var version: String?
    /// The file to fetch and verify (`fileName` is the `.whl` name).
    public var spec: SpecEntry
    /// The tags of `spec.fileName`.
    public var fileName: WheelFileName
    /// For direct_url.json: the URL as written (`${VAR}` kept, no
    /// credentials), a file:// URL for a path.
    public var directURL: String
    /// How messages name it: "pip entry NAME (FILE.whl)".
    public var label: String { "PyPI package \(name) (\(spec.fileName))" }

    /// The most wheels one install takes.
    public static let maxWheels = 20_000

    /// Checks one locked wheel. `written` is the location as the lock file
    /// writes it, `resolved` the same with `${VAR}` expanded.
    static func make(name: String, version: String?, written: String, resolved: String, sha256: String?, line: Int,
                     baseDirectory: String, fail: (String) -> EnvpackError) throws -> WheelEntry {
        let what = "PyPI package \(name.prefix(100))"
        var location = resolved
        var hash = sha256
        // `URL#sha256=HEX` (explicit renders, pixi URLs).
        if let sharp = location.lastIndex(of: "#") {
            let fragment = location[location.index(after: sharp)...]
            location = String(location[..<sharp])
            if fragment.hasPrefix("sha256=") {
                let hex = fragment.dropFirst("sha256=".count).lowercased()
                guard hex.count == 64, hex.allSatisfy(\.isHexDigit) else { throw fail("\(what): '\(fragment.prefix(80))' is not a sha256 hash (64 hex digits)") }
                if let given = hash, given != hex { throw fail("\(what): two different sha256 hashes (\(given), \(hex))") }
                hash = hex
            }
        }
        let url = URL(string: location)
        let isURL = url?.scheme.map { $0.count > 1 } ?? false
        let fileName = isURL ? (url?.lastPathComponent ?? "") : (location as NSString).lastPathComponent
        guard fileName.lowercased().hasSuffix(".whl") else {
            throw fail("\(what) (\(written.prefix(200))) is a source package, not a wheel: it needs a build, which envpack does not do (lock a wheel instead, or install it with pip afterwards)")
        }
        guard let tags = WheelFileName(fileName) else {
            throw fail("\(what): '\(fileName.prefix(200))' is not a wheel file name (NAME-VERSION-PYTHON-ABI-PLATFORM.whl)")
        }
        guard let hash else {
            throw fail("\(what) (\(fileName.prefix(200))) has no sha256: envpack installs a wheel only when the lock file gives its sha256")
        }
        var entry = try ExplicitSpec.makeEntry(location: location, md5: nil, sha256: hash, line: line, baseDirectory: baseDirectory,
                                               fail: fail, allowWheel: true)
        entry.location = String(written.split(separator: "#", maxSplits: 1).first ?? Substring(written))
        var direct = entry.location
        if case .local(let path) = entry.source, !direct.lowercased().hasPrefix("file:") {
            direct = URL(fileURLWithPath: path).absoluteString
        }
        return WheelEntry(name: name, version: version, spec: entry, fileName: tags, directURL: direct)
    }

    /// `name @ URL#sha256=HEX` of an explicit spec's `# pip` line.
    static func parsePipLine(_ text: String, line: Int, baseDirectory: String, fail: (String) -> EnvpackError) throws -> WheelEntry {
        guard let at = text.range(of: " @ ") else { throw fail("'# pip \(text.prefix(200))' is not `# pip NAME @ URL#sha256=HASH`") }
        let name = text[..<at.lowerBound].trimmingCharacters(in: .whitespaces)
        let location = text[at.upperBound...].trimmingCharacters(in: .whitespaces)
        let bare = String(name.prefix { !"[ =<>!~;".contains($0) })
        guard !bare.isEmpty, !location.isEmpty else { throw fail("'# pip \(text.prefix(200))' is not `# pip NAME @ URL#sha256=HASH`") }
        let resolved = try LockYAML.expandVariables(location) { fail("PyPI package \(bare.prefix(100)): \($0)") }
        return try make(name: bare, version: nil, written: location, resolved: resolved, sha256: nil, line: line,
                        baseDirectory: baseDirectory, fail: fail)
    }
}
