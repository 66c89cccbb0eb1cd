// Checks that run before anything is written: an archive of an environment
// with missing files or editable installs would not work where it lands, so
// envpack refuses, naming the packages and files, unless told otherwise.
import Foundation

public enum EnvironmentChecks {
    public struct Missing: Sendable {
        /// "path (package)" for every managed file that is gone unexplained.
        public var missing: [String] = []
        /// Conda packages whose files are gone because pip replaced the
        /// package wholesale -> the pip distribution.
        public var replacedByPip: [String: String] = [:]
    }

    /// Managed files (per the records) that are not on disk. Compiled
    /// python files (`.pyc`, whether typed `pyc_file` or listed in `files`)
    /// are skipped: conda writes them itself and python rebuilds them. A
    /// package pip replaced wholesale (a pip distribution of the same name is
    /// installed) explains its own missing files.
    public static func missingFiles(in env: CondaEnvironment, present: Set<String>, filter: PathFilter,
                                    pip: PipOwnership = PipOwnership()) -> Missing {
        var result = Missing()
        for (path, info) in env.managed {
            switch info.entry.pathType {
            case .directory, .pycFile: continue
            default: break
            }
            guard !path.hasSuffix(".pyc"), !present.contains(path), filter.keeps(path) else { continue }
            let record = env.records[info.recordIndex]
            if let dist = pip.distributions[PipOwnership.normalizedName(record.name)] {
                result.replacedByPip[record.distName] = dist
                continue
            }
            result.missing.append("\(path) (\(record.distName))")
        }
        result.missing.sort()
        return result
    }

    /// Editable pip installs: `direct_url.json` marked editable, `.egg-link`
    /// files and `__editable__` path files in site-packages.
    public static func editableInstalls(prefix: String, entries: [TreeEntry]) -> [String] {
        var found: [String] = []
        for e in entries where e.status.kind == .regular && e.path.contains("site-packages/") {
            let name = e.path.split(separator: "/").last.map(String.init) ?? e.path
            if name.hasSuffix(".egg-link") || (name.hasPrefix("__editable__") && name.hasSuffix(".pth")) {
                found.append(e.path)
            } else if name == "direct_url.json", e.path.contains(".dist-info/"),
                      let data = SmallFile.read(prefix + "/" + e.path, limit: (1 << 20) - 1).data,
                      let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                      let dirInfo = json["dir_info"] as? [String: Any],
                      dirInfo["editable"] as? Bool == true {
                found.append(String(e.path.dropLast("/direct_url.json".count)))
            }
        }
        return found
    }
}
