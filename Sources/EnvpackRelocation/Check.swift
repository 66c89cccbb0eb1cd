// `--check`: what in an environment still refers to a prefix it no longer
// has. Only the files the manifest lists are read, so it is cheap.
#if canImport(Glibc)
import Glibc
#endif

public struct CheckFinding: Sendable, Equatable {
    public var path: String
    public var prefix: String
    public var occurrences: Int
    /// The occurrences are where nothing reads them at run time (a static
    /// library, an object file, unloaded ELF sections, unmanaged binary
    /// data): left as they are, not a problem.
    public var left: Bool = false

    public init(path: String, prefix: String, occurrences: Int, left: Bool = false) {
        self.path = path
        self.prefix = prefix
        self.occurrences = occurrences
        self.left = left
    }

    /// The line `--check` prints.
    public var description: String {
        "\(path): \(occurrences) reference(s) to \(prefix)" + (left ? " left (not loaded at run time)" : "")
    }
}

/// Files that still hold an old prefix. Occurrences that are not loaded at
/// run time are reported apart, as `left`.
public func staleReferences(root: String, manifest: Manifest) -> [CheckFinding] {
    var old = manifest.previousPrefixes.filter { $0 != root }
    if manifest.prefix != root { old.append(manifest.prefix) }
    old += manifest.files.map(\.placeholder).filter { $0 != root && !old.contains($0) }
    guard !old.isEmpty else { return [] }
    var findings: [CheckFinding] = []
    for file in manifest.files {
        let path = joinPath(root, file.path)
        // Only regular files inside the root, reached without a symlink.
        guard let (fd, _) = try? openRegularInside(root: root, file.path) else { continue }
        defer { close(fd) }
        var current = StreamingMatcher(needle: Array(root.utf8))
        var matchers = old.map { StreamingMatcher(needle: Array($0.utf8)) }
        guard (try? forEachChunk(fd: fd, path: path, { chunk in
            current.feed(chunk)
            for i in matchers.indices { matchers[i].feed(chunk) }
        })) != nil else { continue }
        let elf = file.isELF ? (try? readELFInfo(fd: fd, path: path)) ?? nil : nil
        let head = (try? readAt(fd: fd, offset: 0, count: 8, path: path)) ?? []
        let neverLoaded = file.mode == .binary
            && isNeverLoaded(head: head, elf: elf, isELF: file.isELF, isManaged: file.isManaged, mode: file.mode)
        for (prefix, matcher) in zip(old, matchers) {
            let hits = staleOccurrences(of: prefix, current: root, hits: matcher.offsets, currentHits: current.offsets)
            let loaded = neverLoaded ? [] : hits.filter { elf?.isLoaded(offset: $0) ?? true }
            if !loaded.isEmpty { findings.append(CheckFinding(path: file.path, prefix: prefix, occurrences: loaded.count)) }
            if hits.count > loaded.count {
                findings.append(CheckFinding(path: file.path, prefix: prefix, occurrences: hits.count - loaded.count, left: true))
            }
        }
    }
    return findings
}

/// Occurrences of an old prefix that are not part of the current one (an
/// environment moved from /a/env to /a/env2 holds "/a/env" inside every
/// "/a/env2").
public func staleOccurrences(of old: String, current: String, in bytes: [UInt8]) -> [Int] {
    bytes.withUnsafeBytes { buffer in
        staleOccurrences(of: old, current: current, hits: occurrences(of: Array(old.utf8), in: buffer),
                         currentHits: occurrences(of: Array(current.utf8), in: buffer))
    }
}

/// The same, from the offsets of both prefixes in a file.
public func staleOccurrences(of old: String, current: String, hits: [Int], currentHits: [Int]) -> [Int] {
    guard !hits.isEmpty else { return [] }
    let inside = Array(current.utf8).withUnsafeBytes { occurrences(of: Array(old.utf8), in: $0) }
    guard !inside.isEmpty else { return hits }
    var covered = Set<Int>()
    for q in currentHits {
        for i in inside { covered.insert(q + i) }
    }
    return hits.filter { !covered.contains($0) }
}
