// Building a manifest by reading an environment, for environments that have
// none (moved by hand, or by conda-pack) and for `pack --dest-prefix`, which
// must know every edit before it writes an entry. It reads exactly what pack
// reads and detects the prefix the same way.
import EnvpackRelocation
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public enum PrefixScanner {
    /// Whether pack and scan look inside a file for the prefix.
    static func isScanned(_ path: String) -> Bool {
        !path.hasSuffix(".pyc") && !path.hasPrefix("conda-meta/")
    }

    /// The manifest of the environment whose files are at `root` and hold
    /// `prefix`. conda-meta records, when present, give file modes and say
    /// which files are managed.
    public static func scan(root: String, prefix: String, entries: [TreeEntry]? = nil) throws -> Manifest {
        let env = try? CondaEnvironment.load(prefix: root)
        var tree = try entries ?? EnvironmentTree.walk(prefix: root)
        if entries == nil { EnvironmentTree.resolveHardlinks(&tree) }

        var files: [PrefixFile] = []
        var index: [String: Int] = [:]
        for entry in tree where entry.status.kind == .regular {
            if let target = entry.hardlinkTarget {
                if let i = index[target] { files[i].hardlinks.append(entry.path) }
                continue
            }
            guard isScanned(entry.path) else { continue }
            let managed = env?.managed[entry.path]
            var detector = PrefixDetector(prefix: prefix, placeholder: managed?.entry.prefixPlaceholder)
            let full = root + "/" + entry.path
            do { try forEachChunk(of: full) { detector.feed($0) } } catch {
                throw EnvpackError.unreadable(path: full, reason: error.reason)
            }
            do {
                if let file = try detector.result(path: entry.path, absolutePath: full,
                                                  recordMode: recordMode(managed), isManaged: managed != nil) {
                    index[entry.path] = files.count
                    files.append(file)
                }
            } catch {
                throw EnvpackError.malformedFile(path: full, reason: error.description)
            }
        }
        let packages = (env?.records ?? []).map {
            ManifestPackage(name: $0.name, version: $0.version, build: $0.build, channel: $0.channelName)
        }
        return Manifest(prefix: prefix, packages: packages, files: files)
    }

    /// The mode a record gives a file, when the record has placeholder data.
    static func recordMode(_ managed: CondaEnvironment.ManagedPath?) -> PrefixMode? {
        guard let m = managed, m.entry.prefixPlaceholder != nil, let mode = m.entry.fileMode else { return nil }
        return mode == .binary ? .binary : .text
    }
}
