// --exclude and --include, as conda-pack applies them: shell patterns on the
// path inside the environment, taken in order, each one removing files from
// or adding files back to the set. The first rule is always conda-pack's own
// exclusion of a base install's state (the package cache, other
// environments, conda-build's work folder, locks, editor backups), which an
// --include brings back.
#if canImport(Glibc)
import Glibc
#endif

public struct PathFilter: Sendable, Equatable {
    public enum Rule: Sendable, Equatable {
        case exclude(String), include(String)
        /// What conda-pack leaves out of a base install (`condaState`).
        case excludeCondaState
    }
    public var rules: [Rule]

    public init(rules: [Rule] = []) { self.rules = rules }

    /// Top-level names conda-pack never packs: a base install's package
    /// cache (`pkgs/`, whose binary caches would cap every destination),
    /// other environments (`envs/`), conda-build's folders, locks and the
    /// state of admin/unionfs installs.
    public static let condaStateNames: Set<String> = [
        "pkgs", "envs", "conda-bld", "conda-recipes", ".conda_lock", "users", ".index", ".unionfs",
        ".nonadmin", "python.app", "Launcher.app",
    ]

    /// conda-pack's exclusions: the names above at the top of the
    /// environment, and top-level names ending in `~` or `.DS_STORE`.
    public static func isCondaState(_ path: String) -> Bool {
        let top = path.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? path
        if condaStateNames.contains(top) { return true }
        return !path.contains("/") && (path.hasSuffix("~") || path.hasSuffix(".DS_STORE"))
    }

    /// The filter pack uses: conda-pack's exclusions, then the user's rules.
    public static func withCondaState(_ rules: [Rule]) -> PathFilter {
        PathFilter(rules: [.excludeCondaState] + rules)
    }

    /// Whether a path stays in the archive. `*` matches `/` as well, as in
    /// Python's fnmatch, so `*.pyc` reaches into every folder.
    public func keeps(_ path: String) -> Bool {
        var kept = true
        for rule in rules {
            switch rule {
            case .exclude(let pattern) where kept && fnmatch(pattern, path, 0) == 0: kept = false
            case .include(let pattern) where !kept && fnmatch(pattern, path, 0) == 0: kept = true
            case .excludeCondaState where kept && PathFilter.isCondaState(path): kept = false
            default: continue
            }
        }
        return kept
    }

    /// Filters a sorted tree. Rules apply to files and links; a directory is
    /// kept when anything below it is, or when it is empty and not excluded.
    public func apply(_ entries: [TreeEntry]) -> [TreeEntry] {
        guard !rules.isEmpty else { return entries }
        var keep = entries.map { $0.status.kind == .directory ? false : keeps($0.path) }
        var neededDirectories = Set<String>()
        for (i, e) in entries.enumerated() where keep[i] {
            var parent = Substring(e.path)
            while let slash = parent.lastIndex(of: "/") {
                parent = parent[..<slash]
                if !neededDirectories.insert(String(parent)).inserted { break }
            }
        }
        for (i, e) in entries.enumerated() where e.status.kind == .directory {
            if neededDirectories.contains(e.path) {
                keep[i] = true
            } else {
                let isEmpty = i + 1 == entries.count || !entries[i + 1].path.hasPrefix(e.path + "/")
                keep[i] = isEmpty && keeps(e.path)
            }
        }
        return entries.indices.filter { keep[$0] }.map { entries[$0] }
    }
}
