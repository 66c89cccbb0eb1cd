// conda-meta records, written as conda writes them, so conda, conda-pack and
// envpack's own pack recognise the environment: the package's index fields,
// then url, channel, fn, md5, sha256, size, files, paths_data (with
// sha256_in_prefix where the prefix was patched), link, requested_spec.
import Foundation

enum RecordWriter {
    static func recordPath(_ package: PlannedPackage, staging: String) -> String {
        staging + "/conda-meta/" + package.distName + ".json"
    }

    static func write(_ package: PlannedPackage, paths: [PathEntry], linkType: Int, staging: String) throws {
        var record = package.contents.index
        let fetched = package.fetched
        let url: String
        switch fetched.entry.source {
        case .remote(let u): url = u.absoluteString
        case .local(let path): url = URL(fileURLWithPath: path).absoluteString
        }
        let subdir = package.contents.subdir ?? "noarch"
        record["url"] = url
        record["channel"] = package.channel
        record["fn"] = fetched.entry.fileName
        record["md5"] = fetched.md5
        record["sha256"] = fetched.sha256
        record["size"] = fetched.size
        record["files"] = paths.filter { $0.pathType != .directory }.map(\.path)
        record["paths_data"] = ["paths_version": 1, "paths": paths.map(pathJSON)] as [String: Any]
        record["link"] = ["source": package.contents.directory, "type": linkType] as [String: Any]
        record["extracted_package_dir"] = package.contents.directory
        record["package_tarball_full_path"] = fetched.archivePath
        record["requested_spec"] = "\(package.channel)/\(subdir)::\(package.contents.name)==\(package.contents.version)=\(package.contents.build)[sha256=\(fetched.sha256)]"
        try save(record, to: recordPath(package, staging: staging))
    }

    static func pathJSON(_ entry: PathEntry) -> [String: Any] {
        var json: [String: Any] = ["_path": entry.path, "path_type": entry.pathType.rawValue]
        if let v = entry.sha256 { json["sha256"] = v }
        if let v = entry.sha256InPrefix { json["sha256_in_prefix"] = v }
        if let v = entry.sizeInBytes { json["size_in_bytes"] = v }
        if let v = entry.prefixPlaceholder { json["prefix_placeholder"] = v }
        if let v = entry.fileMode { json["file_mode"] = v.rawValue }
        if entry.noLink == true { json["no_link"] = true }
        return json
    }

    /// Adds compiled python files to a written record.
    static func addPyc(_ pycs: [String], toRecordOf package: PlannedPackage, staging: String) throws {
        guard !pycs.isEmpty else { return }
        let path = recordPath(package, staging: staging)
        guard let data = FileManager.default.contents(atPath: path),
              var record = try JSONSerialization.jsonObject(with: data) as? [String: Any] else { return }
        record["files"] = (record["files"] as? [String] ?? []) + pycs
        if var pathsData = record["paths_data"] as? [String: Any] {
            pathsData["paths"] = (pathsData["paths"] as? [[String: Any]] ?? []) + pycs.map { ["_path": $0, "path_type": "pyc_file"] }
            record["paths_data"] = pathsData
        }
        try save(record, to: path)
    }

    static func save(_ record: [String: Any], to path: String) throws {
        let data = try JSONSerialization.data(withJSONObject: record, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        try data.write(to: URL(fileURLWithPath: path))
    }
}
