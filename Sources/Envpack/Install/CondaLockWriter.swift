// `envpack export --format conda-lock`: a conda-lock unified file (version 1)
// from an environment's records, one platform, category main: each conda
// package with its url, md5/sha256 and dependencies (from the record's
// `depends`), and each exportable pip distribution (PipExport) as a
// `manager: pip` entry with its wheel URL and sha256. Strings are written
// as YAML double-quoted scalars, so no value from a record can change the
// document's structure.
import Foundation

enum CondaLockWriter {
    static func text(records: [PackageRecord], wheels: [ExportedWheel], platform: String, left: [String]) throws -> String {
        var y = "# conda-lock unified lock file written by envpack \(envpackVersion) (envpack export --format conda-lock).\n"
        y += "# Install it with: envpack install --file <this file> -p <prefix>\n"
        for note in left { y += "# not exported (PyPI): \(oneLine(note))\n" }
        y += "version: 1\nmetadata:\n  content_hash:\n    \(q(platform)): \(q("envpack-export"))\n  channels: []\n"
        y += "  platforms:\n  - \(q(platform))\n  sources: []\npackage:\n"
        for r in records {
            guard let url = r.url, !url.isEmpty else {
                throw EnvpackError.malformedFile(path: r.distName, reason: "its record has no url: cannot be exported")
            }
            y += "- name: \(q(r.name))\n  version: \(q(r.version))\n  manager: conda\n  platform: \(q(platform))\n"
            let deps = r.depends ?? []
            if deps.isEmpty { y += "  dependencies: {}\n" } else {
                y += "  dependencies:\n"
                var seen = Set<String>()
                for d in deps {
                    let name = LockYAML.specName(d)
                    guard !name.isEmpty, seen.insert(name).inserted else { continue }
                    let rest = d.trimmingCharacters(in: .whitespaces).dropFirst(name.count).trimmingCharacters(in: .whitespaces)
                    y += "    \(q(name)): \(q(rest.isEmpty ? "*" : rest))\n"
                }
            }
            y += "  url: \(q(url))\n  hash:\n"
            if let md5 = r.md5 { y += "    md5: \(q(md5))\n" }
            if let sha = r.sha256 { y += "    sha256: \(q(sha))\n" }
            if r.md5 == nil && r.sha256 == nil { y += "    {}\n" }
            y += "  category: main\n  optional: false\n"
        }
        for w in wheels {
            y += "- name: \(q(w.name))\n  version: \(q(w.version))\n  manager: pip\n  platform: \(q(platform))\n  dependencies: {}\n"
            y += "  url: \(q(w.url))\n  hash:\n    sha256: \(q(w.sha256))\n  category: main\n  optional: false\n"
        }
        return y
    }

    /// A YAML double-quoted scalar (a JSON string literal is one).
    static func q(_ s: String) -> String { JSONValue.quoted(s) }

    static func oneLine(_ s: String) -> String {
        String(String.UnicodeScalarView(s.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7f ? "?" : $0 }))
    }
}
