// conda-meta records, written as conda writes them, so conda, conda-pack and
// envpack's own pack recognise the environment: the package's index fields,
// then url, channel, fn, md5, sha256, size, files, paths_data (with
// sha256_in_prefix where the prefix was patched), link, requested_spec.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

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
        record["url"] = .string(url)
        record["channel"] = .string(package.channel)
        record["fn"] = .string(fetched.entry.fileName)
        record["md5"] = .string(fetched.md5)
        record["sha256"] = .string(fetched.sha256)
        record["size"] = .int(fetched.size)
        record["files"] = .array(paths.filter { $0.pathType != .directory }.map { .string($0.path) })
        record["paths_data"] = .object(["paths_version": .int(1), "paths": .array(paths.map(pathJSON))])
        record["link"] = .object(["source": .string(package.contents.directory), "type": .int(linkType)])
        record["extracted_package_dir"] = .string(package.contents.directory)
        record["package_tarball_full_path"] = .string(fetched.archivePath)
        record["requested_spec"] = .string("\(package.channel)/\(subdir)::\(package.contents.name)==\(package.contents.version)=\(package.contents.build)[sha256=\(fetched.sha256)]")
        try save(record, to: recordPath(package, staging: staging))
    }

    static func pathJSON(_ entry: PathEntry) -> JSONValue {
        var json: [String: JSONValue] = ["_path": .string(entry.path), "path_type": .string(entry.pathType.rawValue)]
        if let v = entry.sha256 { json["sha256"] = .string(v) }
        if let v = entry.sha256InPrefix { json["sha256_in_prefix"] = .string(v) }
        if let v = entry.sizeInBytes { json["size_in_bytes"] = .int(v) }
        if let v = entry.prefixPlaceholder { json["prefix_placeholder"] = .string(v) }
        if let v = entry.fileMode { json["file_mode"] = .string(v.rawValue) }
        if entry.noLink == true { json["no_link"] = .bool(true) }
        return .object(json)
    }

    /// Adds compiled python files to a written record.
    static func addPyc(_ pycs: [String], toRecordOf package: PlannedPackage, staging: String) throws {
        guard !pycs.isEmpty else { return }
        let path = recordPath(package, staging: staging)
        guard let data = FileManager.default.contents(atPath: path),
              var record = try? JSONDecoder().decode([String: JSONValue].self, from: data) else { return }
        record["files"] = .array((record["files"]?.array ?? []) + pycs.map { .string($0) })
        if var pathsData = record["paths_data"]?.object {
            pathsData["paths"] = .array((pathsData["paths"]?.array ?? [])
                + pycs.map { .object(["_path": .string($0), "path_type": .string("pyc_file")]) })
            record["paths_data"] = .object(pathsData)
        }
        try save(record, to: path)
    }

    /// Writes a record anew, never through a symlink at its name.
    static func save(_ record: [String: JSONValue], to path: String) throws {
        unlink(path)
        try writeNewFile(path, Array(JSONValue.object(record).text().utf8), mode: 0o644)
    }
}

/// Creates `path` (which must not exist; a symlink there is not followed)
/// and writes all of `bytes`, checking every write and the close.
func writeNewFile(_ path: String, _ bytes: [UInt8], mode: mode_t) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
    guard fd >= 0 else { throw EnvpackError.writeFailed(path: path, reason: errnoMessage()) }
    do {
        try bytes.withUnsafeBytes { try writeAll(fd: fd, $0, displayPath: path) }
    } catch {
        close(fd)
        throw EnvpackError.writeFailed(path: path, reason: "\(error)")
    }
    guard fchmod(fd, mode) == 0, close(fd) == 0 else { throw EnvpackError.writeFailed(path: path, reason: errnoMessage()) }
}
