// Checks that run before anything is written: an archive of an environment
// with missing files or editable installs would not work where it lands, so
// envpack refuses, naming the packages and files, unless told otherwise.
import Foundation

public enum EnvironmentChecks {
    /// Managed files (per the records) that are not on disk. `.pyc` entries
    /// are skipped: conda writes them itself and python rebuilds them.
    public static func missingFiles(in env: CondaEnvironment, present: Set<String>, filter: PathFilter) -> [String] {
        env.managed.compactMap { path, info -> String? in
            switch info.entry.pathType {
            case .directory, .pycFile: return nil
            default: break
            }
            guard !present.contains(path), filter.keeps(path) else { return nil }
            return "\(path) (\(env.records[info.recordIndex].distName))"
        }.sorted()
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
                      let data = FileManager.default.contents(atPath: prefix + "/" + e.path),
                      let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                      let dirInfo = json["dir_info"] as? [String: Any],
                      dirInfo["editable"] as? Bool == true {
                found.append(String(e.path.dropLast("/direct_url.json".count)))
            }
        }
        return found
    }
}
