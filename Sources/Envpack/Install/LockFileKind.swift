// What kind of install input a file is, told from its content (the name is
// only a hint for the message): an explicit spec, a conda-lock unified file,
// a pixi.lock, or an unlocked input (environment.yml, pixi.toml,
// pyproject.toml, requirements.txt) that needs a solver envpack does not have.
import Foundation
import Yams

public enum LockFileKind: Sendable, Equatable {
    case explicitSpec
    case condaLock
    case pixiLock
    /// An input that names packages without pinning them: the reason.
    case unlocked(String)
    /// A YAML document (it opens with `key:`) that does not parse: why.
    case brokenYAML(String)

    /// The largest file `envpack install --file` reads (a conda-lock.yml for
    /// many platforms and categories is a few MB).
    public static let maxFileSize = 64 << 20
    /// The most package entries a lock file may list.
    public static let maxEntries = 200_000

    /// Decides from the text; `root` is the parsed YAML document when the
    /// text is YAML (so callers parse once).
    static func detect(text: String, path: String) -> (LockFileKind, Node?) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true).lazy
            .map { $0.trimmingCharacters(in: .whitespaces) }
        if lines.contains("@EXPLICIT") { return (.explicitSpec, nil) }
        // TOML manifests (pixi.toml, pyproject.toml) open tables with [name].
        if let first = lines.first(where: { !$0.isEmpty && !$0.hasPrefix("#") }), first.hasPrefix("["), first.hasSuffix("]") {
            return (.unlocked("a TOML manifest (pixi.toml or pyproject.toml)"), nil)
        }
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch {
            // A lock file with a YAML mistake: say so, not "unsupported URL scheme".
            if let first = lines.first(where: { !$0.isEmpty && !$0.hasPrefix("#") }), looksLikeYAMLKey(first) {
                return (.brokenYAML(String(describing: error).split(separator: "\n").first.map(String.init) ?? "invalid YAML"), nil)
            }
            return (.explicitSpec, nil)
        }
        guard let root, let map = root.mapping else { return (.explicitSpec, nil) }
        let keys = Set(map.keys.compactMap { $0.string })
        if keys.contains("package"), keys.contains("metadata") || keys.contains("version") { return (.condaLock, root) }
        if keys.contains("environments"), keys.contains("packages"), keys.contains("version") { return (.pixiLock, root) }
        if keys.contains("dependencies") || keys.contains("channels") {
            return (.unlocked("a conda environment file (environment.yml)"), root)
        }
        return (.explicitSpec, nil)
    }

    /// `version: 1`, `package:`: a YAML key, not a URL or a path.
    static func looksLikeYAMLKey(_ line: String) -> Bool {
        guard let colon = line.firstIndex(of: ":") else { return false }
        let key = line[..<colon]
        let after = line[colon...].dropFirst()
        return !key.isEmpty && key.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" } && (after.isEmpty || after.first == " ")
    }
}

extension ExplicitSpec {
    /// Any accepted input: an explicit spec, or a lock file whose entries for
    /// `selection` are turned into spec entries, conda dependencies first.
    /// Unlocked inputs are refused with the way forward.
    public static func load(path: String, selection: LockSelection) throws -> ExplicitSpec {
        let data: Data
        switch SmallFile.read(path, limit: LockFileKind.maxFileSize, followLinks: true) {
        case .data(let d): data = d
        case .missing: throw EnvpackError.unreadable(path: path, reason: errnoMessage(ENOENT))
        case .notRegular: throw EnvpackError.unreadable(path: path, reason: "not a regular file: give the spec or lock file itself")
        case .tooLarge(let size): throw EnvpackError.malformedFile(path: path, reason: "\(size) bytes, more than an install input may be (\(LockFileKind.maxFileSize))")
        case .unreadable(let reason): throw EnvpackError.unreadable(path: path, reason: reason)
        }
        let text = String(decoding: data, as: UTF8.self)
        let base = (absolutePath(path) as NSString).deletingLastPathComponent
        switch LockFileKind.detect(text: text, path: path) {
        case (.explicitSpec, _):
            return try parse(text, specPath: path, baseDirectory: base)
        case (.condaLock, let root?):
            return try CondaLockFile.spec(root: root, path: path, baseDirectory: base, selection: selection)
        case (.pixiLock, let root?):
            return try PixiLockFile.spec(root: root, path: path, baseDirectory: base, selection: selection)
        case (.brokenYAML(let why), _):
            throw LockYAML.error(path, 0, "not valid YAML (\(why.prefix(300))), as a conda-lock.yml or pixi.lock must be")
        case (.unlocked(let what), _):
            throw EnvpackError.malformedFile(path: path, reason: "\(what): it names packages without pinning them and needs a solver; turn it into a lock file with conda-lock (conda-lock lock -f FILE) or pixi (pixi lock), then install that")
        default:
            return try parse(text, specPath: path, baseDirectory: base)
        }
    }
}
