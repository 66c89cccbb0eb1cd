// RPATH/RUNPATH entries that point into the environment become relative to
// the object (`$ORIGIN/...`): that frees them from any length limit and keeps
// them right after later moves, without touching them again. So do entries
// that point at a known old location of the environment's files: a
// conda-build placeholder (`.../_h_env_placehold.../lib`), a prefix the
// environment had before, or a package's build prefix. Other build-machine
// paths (`/home/conda/feedstock_root/...`, `.../conda-bld/...`, a build or
// test environment) are dropped: on another machine whoever owns such a path
// could inject libraries. Entries pointing at system locations outside the
// environment (`/usr/local/cuda/lib64`) are kept as they are.

/// The relocated value of a colon-separated RPATH/RUNPATH string.
/// - Parameters:
///   - placeholder: the prefix the entries point into now.
///   - objectDirectory: the object's folder, relative to the environment.
///   - knownOld: other prefixes the environment's files were at (earlier
///     prefixes, package placeholders): entries inside them are made
///     relative too.
///   - dropKnownOld: drop those entries instead (when the relative form
///     does not fit the string's room).
public func relocatedRPath(_ value: String, placeholder: String, objectDirectory: String,
                           knownOld: [String] = [], dropKnownOld: Bool = false) -> String {
    var result: [String] = []
    func origin(_ inside: String) -> String {
        let relative = relativePath(from: objectDirectory, to: inside)
        return relative.isEmpty ? "$ORIGIN" : "$ORIGIN/" + relative
    }
    for component in value.split(separator: ":", omittingEmptySubsequences: true).map(String.init) {
        let entry: String
        if let inside = pathInside(component, prefix: placeholder) {
            entry = origin(inside)
        } else if let inside = knownOld.lazy.compactMap({ pathInside(component, prefix: $0) }).first
                    ?? buildPlaceholderInside(component) {
            if dropKnownOld { continue }
            entry = origin(inside)
        } else if isBuildLocation(component) {
            continue
        } else {
            entry = component
        }
        if !result.contains(entry) { result.append(entry) }
    }
    return result.joined(separator: ":")
}

/// Whether an RPATH/RUNPATH value names a known old location (anything
/// `relocatedRPath` rewrites or drops besides the current prefix).
public func rpathNamesOldLocation(_ value: String, knownOld: [String] = []) -> Bool {
    value.split(separator: ":", omittingEmptySubsequences: true).contains { part in
        let component = String(part)
        return buildPlaceholderInside(component) != nil || isBuildLocation(component)
            || knownOld.contains { pathInside(component, prefix: $0) != nil }
    }
}

/// The part of `component` inside `prefix` ("" for the prefix itself, else
/// starting with "/"), or nil when it is not inside.
func pathInside(_ component: String, prefix: String) -> String? {
    guard prefix.count > 1, !prefix.hasSuffix("/") else { return nil }
    if component == prefix { return "" }
    if component.hasPrefix(prefix + "/") { return String(component.dropFirst(prefix.count)) }
    return nil
}

/// conda-build's host prefix (`.../_h_env_placehold_placehold...`, or a
/// shorter `_h_env`): the part of the component inside it.
func buildPlaceholderInside(_ component: String) -> String? {
    guard component.hasPrefix("/") else { return nil }
    let parts = component.split(separator: "/", omittingEmptySubsequences: false)
    guard let i = parts.firstIndex(where: { $0.hasPrefix("_h_env") }) else { return nil }
    let rest = parts[(i + 1)...]
    return rest.isEmpty ? "" : "/" + rest.joined(separator: "/")
}

/// A path on the machine a package was built on.
func isBuildLocation(_ component: String) -> Bool {
    guard component.hasPrefix("/") else { return false }
    if component.containsBytes(of: "/conda-bld/") || component.containsBytes(of: "/feedstock_root/") || component.containsBytes(of: "/build_artifacts/") {
        return true
    }
    return component.split(separator: "/").contains {
        $0.hasPrefix("_build_env") || $0.hasPrefix("_b_env") || $0.hasPrefix("_test_env") || $0.hasPrefix("_h_env")
    }
}
