// --exclude and --include, as conda-pack applies them: shell patterns on the
// path inside the environment, taken in order, each one removing files from
// or adding files back to the set.
#if canImport(Glibc)
import Glibc
#endif

public struct PathFilter: Sendable, Equatable {
    public enum Rule: Sendable, Equatable { case exclude(String), include(String) }
    public var rules: [Rule]

    public init(rules: [Rule] = []) { self.rules = rules }

    /// Whether a path stays in the archive. `*` matches `/` as well, as in
    /// Python's fnmatch, so `*.pyc` reaches into every folder.
    public func keeps(_ path: String) -> Bool {
        var kept = true
        for rule in rules {
            switch rule {
            case .exclude(let pattern) where kept && fnmatch(pattern, path, 0) == 0: kept = false
            case .include(let pattern) where !kept && fnmatch(pattern, path, 0) == 0: kept = true
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
