// Small path helpers for the Foundation-free module: environments are
// relocated by relative path, and `$ORIGIN` RPATHs are computed from the
// folder of the object to the folder it loads from.

/// Splits a `/`-separated path into its components, resolving `.` and `..`.
func pathComponents(_ path: String) -> [Substring] {
    var parts: [Substring] = []
    for part in path.split(separator: "/") {
        if part == "." || part.isEmpty { continue }
        if part == ".." { if !parts.isEmpty { parts.removeLast() }; continue }
        parts.append(part)
    }
    return parts
}

/// The folder part of a relative path ("" for a top-level name).
public func parentDirectory(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "" }
    return String(path[..<slash])
}

/// The last component of a path.
public func lastComponent(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return path }
    return String(path[path.index(after: slash)...])
}

/// The relative path from folder `from` to `to`, both relative to one root.
public func relativePath(from: String, to: String) -> String {
    let a = pathComponents(from), b = pathComponents(to)
    var common = 0
    while common < a.count && common < b.count && a[common] == b[common] { common += 1 }
    let ups = Array(repeating: "..", count: a.count - common)
    let downs = b[common...].map(String.init)
    return (ups + downs).joined(separator: "/")
}

/// `root` joined with a relative path.
public func joinPath(_ root: String, _ relative: String) -> String {
    if relative.isEmpty { return root }
    return root.hasSuffix("/") ? root + relative : root + "/" + relative
}
