// RPATH/RUNPATH entries that point into the environment become relative to
// the object (`$ORIGIN/...`): that frees them from any length limit and keeps
// them right after later moves, without touching them again. Absolute entries
// outside the environment are dropped: conda-build leaves build-machine paths
// (/home/conda/feedstock_root/...) there, and on another machine such a path
// would let whoever owns it inject libraries.

/// The relocated value of a colon-separated RPATH/RUNPATH string.
/// - Parameters:
///   - placeholder: the prefix the entries point into now.
///   - objectDirectory: the object's folder, relative to the environment.
public func relocatedRPath(_ value: String, placeholder: String, objectDirectory: String) -> String {
    var result: [String] = []
    for component in value.split(separator: ":", omittingEmptySubsequences: true).map(String.init) {
        let entry: String
        if component == placeholder || component.hasPrefix(placeholder + "/") {
            let inside = String(component.dropFirst(placeholder.count))
            let relative = relativePath(from: objectDirectory, to: inside)
            entry = relative.isEmpty ? "$ORIGIN" : "$ORIGIN/" + relative
        } else if component.hasPrefix("/") {
            continue
        } else {
            entry = component
        }
        if !result.contains(entry) { result.append(entry) }
    }
    return result.joined(separator: ":")
}
