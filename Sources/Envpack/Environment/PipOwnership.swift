// pip over conda: in ML environments pip routinely installs over packages
// conda installed. A file that a pip distribution's `*.dist-info/RECORD`
// lists now belongs to pip ("clobbered by pip"): pack takes it as an
// unmanaged file (scanned for the prefix like any other), not as a conda
// file that was changed. A conda package whose own dist-info pip removed
// (pip uninstalled it and installed its own version) is "replaced
// wholesale": its missing files are explained, not an error. Either way pack
// says so, once per conda package and pip distribution.
import Foundation

public struct PipOwnership: Sendable {
    /// Path in the environment -> the pip distribution ("name version")
    /// whose RECORD lists it.
    public var owner: [String: String] = [:]
    /// Normalised distribution name -> "name version", for every pip
    /// distribution (INSTALLER is not conda).
    public var distributions: [String: String] = [:]

    public init() {}

    /// Reads every `lib/pythonX.Y/site-packages/*.dist-info` whose INSTALLER
    /// is not conda. `entries` is the walked tree (no extra directory walk).
    /// A dist-info a conda package ships (its RECORD is a managed file) is
    /// conda's, whatever its INSTALLER says.
    public static func load(prefix: String, entries: [TreeEntry], env: CondaEnvironment) -> PipOwnership {
        var result = PipOwnership()
        for e in entries where e.status.kind == .regular && e.path.hasSuffix(".dist-info/RECORD") && env.managed[e.path] == nil {
            let distInfo = String(e.path.dropLast("/RECORD".count))
            guard let slash = distInfo.lastIndex(of: "/") else { continue }
            let sitePackages = String(distInfo[..<slash])
            let installer = (try? String(contentsOfFile: prefix + "/" + distInfo + "/INSTALLER", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            if installer == "conda" { continue }
            // RECORD is bounded: a few MB at most for real distributions.
            guard e.status.size < 64 << 20,
                  let text = try? String(contentsOfFile: prefix + "/" + e.path, encoding: .utf8) else { continue }
            let dirName = String(distInfo[distInfo.index(after: slash)...].dropLast(".dist-info".count))
            let parts = dirName.split(separator: "-", maxSplits: 1).map(String.init)
            let label = parts.count == 2 ? "\(parts[0]) \(parts[1])" : dirName
            result.distributions[normalizedName(parts[0])] = label
            for line in text.split(separator: "\n") {
                guard let path = csvFirstField(String(line)), !path.isEmpty, !path.hasPrefix("/") else { continue }
                guard let resolved = resolve(sitePackages + "/" + path) else { continue }
                result.owner[resolved] = label
            }
        }
        return result
    }

    /// PEP 503 normalisation: lower case, runs of `-`, `_`, `.` as one `-`.
    public static func normalizedName(_ name: String) -> String {
        var out = ""
        var lastDash = false
        for ch in name.lowercased() {
            if ch == "-" || ch == "_" || ch == "." {
                if !lastDash { out.append("-") }
                lastDash = true
            } else {
                out.append(ch)
                lastDash = false
            }
        }
        return out
    }

    /// The first field of a RECORD line (CSV; paths with commas are quoted).
    static func csvFirstField(_ line: String) -> String? {
        if line.hasPrefix("\"") {
            var out = ""
            var it = line.dropFirst().makeIterator()
            while let c = it.next() {
                if c == "\"" {
                    if let n = it.next(), n == "\"" { out.append("\""); continue }
                    return out
                }
                out.append(c)
            }
            return nil
        }
        return line.split(separator: ",", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init)
    }

    /// `a/b/../c` -> `a/c`; nil when it leaves the environment.
    static func resolve(_ path: String) -> String? {
        var parts: [Substring] = []
        for part in path.split(separator: "/") {
            if part == "." { continue }
            if part == ".." {
                guard !parts.isEmpty else { return nil }
                parts.removeLast()
            } else {
                parts.append(part)
            }
        }
        return parts.joined(separator: "/")
    }
}
