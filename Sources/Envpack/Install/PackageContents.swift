// What an extracted package says about itself: its index, the paths it
// installs (paths.json, or files + has_prefix + no_link), noarch python entry
// points (link.json) and link scripts.
import Foundation

public struct PackageContents {
    public var directory: String
    /// `info/index.json`, kept whole: records carry every index field.
    public var index: [String: JSONValue]
    public var paths: [PathEntry]
    public var entryPoints: [String]

    public var name: String { index["name"]?.string ?? "" }
    public var version: String { index["version"]?.string ?? "" }
    public var build: String { index["build"]?.string ?? "" }
    public var subdir: String? { index["subdir"]?.string }
    public var isNoarchPython: Bool {
        if let s = index["noarch"]?.string { return s == "python" }
        return index["noarch"]?.object?["type"]?.string == "python"
    }

    /// Link scripts the package carries (`bin/.NAME-post-link.sh` and co).
    public var linkScripts: [String] {
        paths.map(\.path).filter {
            let file = ($0 as NSString).lastPathComponent
            return $0.hasPrefix("bin/.") && (file.hasSuffix("-post-link.sh") || file.hasSuffix("-pre-link.sh") || file.hasSuffix("-pre-unlink.sh"))
        }
    }

    public static func load(directory: String) throws -> PackageContents {
        let info = directory + "/info"
        guard let data = try PackageInfo.readInfoFile(info + "/index.json"),
              let index = try? JSONDecoder().decode([String: JSONValue].self, from: data) else {
            throw EnvpackError.malformedFile(path: info + "/index.json", reason: "unreadable package index")
        }
        let paths = try PackageInfo.paths(infoDirectory: URL(fileURLWithPath: info))
        var entryPoints: [String] = []
        if let data = try PackageInfo.readInfoFile(info + "/link.json"),
           let link = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
           let noarch = link["noarch"] as? [String: Any] {
            entryPoints = noarch["entry_points"] as? [String] ?? []
        }
        return PackageContents(directory: directory, index: index, paths: paths, entryPoints: entryPoints)
    }
}
