// `--check`: what in an environment still refers to a prefix it no longer
// has. Only the files the manifest lists are read, so it is cheap.
#if canImport(Glibc)
import Glibc
#endif

public struct CheckFinding: Sendable, Equatable {
    public var path: String
    public var prefix: String
    public var occurrences: Int
}

/// Files that still hold an old prefix in data that matters: for ELF
/// objects, occurrences the loader never maps are not counted.
public func staleReferences(root: String, manifest: Manifest) -> [CheckFinding] {
    var old = manifest.previousPrefixes.filter { $0 != root }
    if manifest.prefix != root { old.append(manifest.prefix) }
    old += manifest.files.map(\.placeholder).filter { $0 != root && !old.contains($0) }
    guard !old.isEmpty else { return [] }
    var findings: [CheckFinding] = []
    for file in manifest.files {
        let path = joinPath(root, file.path)
        guard let bytes = try? readWholeFile(path) else { continue }
        let elf = file.isELF ? (try? readELFInfo(path: path)) ?? nil : nil
        for prefix in old {
            let hits = bytes.withUnsafeBytes { occurrences(of: Array(prefix.utf8), in: $0) }
                .filter { elf?.isLoaded(offset: $0) ?? true }
            if !hits.isEmpty { findings.append(CheckFinding(path: file.path, prefix: prefix, occurrences: hits.count)) }
        }
    }
    return findings
}
