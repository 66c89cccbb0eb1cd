// Which part of a lock file to install (platform, conda-lock categories,
// pixi environment), and the helpers both lock formats share: reading YAML
// nodes with their line numbers, `${VAR}` expansion, and turning one locked
// conda package into a spec entry.
import Foundation
import Yams

public struct LockSelection: Sendable, Equatable {
    /// conda's platform name; nil: this machine's.
    public var platform: String?
    /// conda-lock categories besides `main`.
    public var categories: [String] = []
    /// conda-lock: every optional category.
    public var withOptional = false
    /// pixi: the environment.
    public var environment = "default"

    public init() {}

    var resolvedPlatform: String { platform ?? ExplicitSpec.currentPlatform }
}

/// One locked conda package before ordering.
struct LockedConda {
    var name: String
    var entry: SpecEntry
    /// Names of the packages it depends on.
    var dependencies: [String]
}

enum LockYAML {
    /// Most keys a package entry may have, and most dependency names all
    /// entries together may list: aliases can make a small file name the same
    /// big mapping many times.
    static let maxKeys = 1000
    static let maxDependencies = 4_000_000

    static func value(_ node: Node, _ key: String) -> Node? {
        guard let map = node.mapping else { return nil }
        for (k, v) in map where k.string == key { return v }
        return nil
    }

    static func line(_ node: Node) -> Int { node.mark?.line ?? 0 }

    /// A message about `path` (and a line in it), kept on one line: text
    /// from the file may hold newlines or control characters.
    static func error(_ path: String, _ line: Int, _ why: String) -> EnvpackError {
        let clean = String(String.UnicodeScalarView(why.unicodeScalars.prefix(2000).map {
            $0.value < 0x20 || $0.value == 0x7f ? "?" : $0
        }))
        return .malformedFile(path: line > 0 ? "\(path):\(line)" : path, reason: clean)
    }

    /// A scalar field as text (nil when absent or not a scalar).
    static func string(_ node: Node, _ key: String) -> String? { value(node, key).flatMap { $0.scalar?.string } }

    /// A hex digest field of `count` digits, lowercased; a wrong one is an error.
    static func digest(_ node: Node, _ key: String, count: Int, fail: (String) -> EnvpackError) throws -> String? {
        guard let raw = string(node, key), !raw.isEmpty else { return nil }
        let hex = raw.lowercased()
        guard hex.count == count, hex.allSatisfy(\.isHexDigit) else {
            throw fail("\(key) '\(raw.prefix(80))' is not \(count) hex digits")
        }
        return hex
    }

    /// `${NAME}` in a URL taken from the environment (conda-lock writes
    /// them for credentials); an unset one is an error naming it.
    static func expandVariables(_ text: String, fail: (String) -> EnvpackError) throws -> String {
        guard text.contains("${") else { return text }
        var out = ""
        var rest = Substring(text)
        while let open = rest.range(of: "${") {
            out += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].firstIndex(of: "}") else { throw fail("unterminated ${ in its URL") }
            let name = String(rest[open.upperBound..<close])
            guard let first = name.unicodeScalars.first, first == "_" || (first.isASCII && CharacterSet.letters.contains(first)),
                  name.unicodeScalars.allSatisfy({ $0.isASCII && ($0 == "_" || CharacterSet.alphanumerics.contains($0)) }) else {
                throw fail("'${\(name.prefix(60))}' in its URL is not an environment variable name")
            }
            guard let value = ProcessInfo.processInfo.environment[name] else {
                throw fail("its URL needs the environment variable \(name), which is not set")
            }
            out += value
            rest = rest[rest.index(after: close)...]
        }
        return out + rest
    }

    /// The package name in a match spec: `libgcc-ng >=12`, `python 3.12.* *_cpython`,
    /// `conda-forge::zlib`, `numpy[version='>=1']`.
    static func specName(_ spec: String) -> String {
        var s = Substring(spec.trimmingCharacters(in: .whitespaces))
        if let colons = s.range(of: "::") { s = s[colons.upperBound...] }
        let end = s.firstIndex { " =<>!~[;,".contains($0) } ?? s.endIndex
        return String(s[..<end]).lowercased()
    }
}
