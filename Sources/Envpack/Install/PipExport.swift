// Which pip-installed distributions of an environment `envpack export` can
// write back as locked wheels: one whose dist-info has a direct_url.json
// naming a wheel with its sha256 (what envpack install and `pip install
// URL` write), or one whose wheel file is still in a package cache (a
// `NAME-VERSION-*.whl` whose METADATA hash matches the installed one).
// Anything else (installed from an index with no wheel kept, from a source
// tree, a VCS or an sdist, editable) cannot be locked and is named, with
// why, so the caller can say it was left out.
import Foundation

struct ExportedWheel: Equatable {
    var name: String
    var version: String
    var url: String
    var sha256: String
}

enum PipExport {
    /// Exportable wheels in site-packages order, and "name version: why" for the rest.
    static func find(_ env: CondaEnvironment, pkgsDirs: [String]) -> (wheels: [ExportedWheel], left: [String]) {
        var wheels: [ExportedWheel] = []
        var left: [String] = []
        let prefix = env.prefix
        let lib = prefix + "/lib"
        let pythons = ((try? FileManager.default.contentsOfDirectory(atPath: lib)) ?? []).filter { $0.hasPrefix("python") }.sorted()
        for python in pythons {
            let site = "lib/" + python + "/site-packages"
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: prefix + "/" + site)) ?? []).filter { $0.hasSuffix(".dist-info") }.sorted()
            for distInfo in names {
                let folder = prefix + "/" + site + "/" + distInfo
                guard FileStatus.lstat(folder)?.kind == .directory else { continue }
                // A dist-info a conda package ships is exported with that package.
                if env.managed[site + "/" + distInfo + "/RECORD"] != nil || env.managed[site + "/" + distInfo + "/METADATA"] != nil { continue }
                let installer = small(folder + "/INSTALLER")?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
                if installer == "conda" { continue }
                let stem = distInfo.dropLast(".dist-info".count)
                let parts = stem.split(separator: "-", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { left.append("\(stem): not a NAME-VERSION.dist-info"); continue }
                let (name, version) = (parts[0], parts[1])
                if let direct = small(folder + "/direct_url.json") {
                    switch fromDirectURL(direct) {
                    case .success(let (url, sha)): wheels.append(ExportedWheel(name: name, version: version, url: url, sha256: sha))
                    case .failure(let why): left.append("\(name) \(version): \(why.message)")
                    }
                    continue
                }
                if let found = cachedWheel(name: name, version: version, installedMetadata: folder + "/METADATA", pkgsDirs: pkgsDirs) {
                    wheels.append(found)
                } else {
                    left.append("\(name) \(version): installed by \(installer.isEmpty ? "an unknown installer" : installer) from an index, with no direct_url.json and no wheel file left in \(pkgsDirs.joined(separator: ", "))")
                }
            }
        }
        return (wheels, left)
    }

    struct Why: Error { var message: String }

    /// The wheel URL and sha256 of a direct_url.json (PEP 610).
    static func fromDirectURL(_ text: String) -> Result<(String, String), Why> {
        guard let json = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
              let url = json["url"] as? String else { return .failure(Why(message: "direct_url.json is unreadable")) }
        if let dir = json["dir_info"] as? [String: Any] {
            return .failure(Why(message: "installed from the folder \(url)\((dir["editable"] as? Bool) == true ? " (editable)" : ""), not from a wheel"))
        }
        if json["vcs_info"] != nil { return .failure(Why(message: "installed from version control (\(url)), not from a wheel")) }
        guard let archive = json["archive_info"] as? [String: Any] else { return .failure(Why(message: "direct_url.json names no archive")) }
        let path = url.split(separator: "#").first.map(String.init) ?? url
        guard path.lowercased().hasSuffix(".whl") else { return .failure(Why(message: "installed from a source package (\(url)), not a wheel")) }
        var sha = (archive["hashes"] as? [String: Any])?["sha256"] as? String
        if sha == nil, let hash = archive["hash"] as? String, hash.hasPrefix("sha256=") { sha = String(hash.dropFirst(7)) }
        guard let sha, sha.count == 64, sha.allSatisfy(\.isHexDigit) else {
            return .failure(Why(message: "direct_url.json gives no sha256 for \(url)"))
        }
        return .success((path, sha.lowercased()))
    }

    /// A wheel file for name-version in the caches whose METADATA is the installed one.
    static func cachedWheel(name: String, version: String, installedMetadata: String, pkgsDirs: [String]) -> ExportedWheel? {
        guard let installed = try? hashFile(installedMetadata, md5: false) else { return nil }
        let escaped = PipOwnership.normalizedName(name).replacingOccurrences(of: "-", with: "_")
        for dir in pkgsDirs {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
            for file in files.sorted() where file.hasSuffix(".whl") {
                guard let tags = WheelFileName(file), PipOwnership.normalizedName(tags.distribution).replacingOccurrences(of: "-", with: "_") == escaped,
                      tags.version == version else { continue }
                let path = dir + "/" + file
                guard FileStatus.lstat(path)?.kind == .regular, metadataHash(inWheel: path) == installed.sha256,
                      let hashed = try? hashFile(path, md5: false) else { continue }
                return ExportedWheel(name: name, version: version, url: URL(fileURLWithPath: path).absoluteString, sha256: hashed.sha256)
            }
        }
        return nil
    }

    /// The sha256 (hex) its RECORD gives for the wheel's METADATA.
    static func metadataHash(inWheel path: String) -> String? {
        guard let reader = try? ArchiveReader(path: path) else { return nil }
        while let entry = try? reader.next() {
            guard entry.path.hasSuffix(".dist-info/RECORD"), entry.path.split(separator: "/").count == 2, entry.size < 64 << 20,
                  let bytes = try? reader.readAll() else { continue }
            let distInfo = String(entry.path.dropLast("/RECORD".count))
            for line in String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isNewline) {
                let row = WheelRecord.parseRow(String(line))
                guard row.count >= 2, row[0] == distInfo + "/METADATA", row[1].hasPrefix("sha256="),
                      let digest = WheelRecord.decodeHash(String(row[1].dropFirst(7))) else { continue }
                return digest.map { String(format: "%02x", $0) }.joined()
            }
            return nil
        }
        return nil
    }

    static func small(_ path: String) -> String? {
        SmallFile.read(path, limit: (1 << 20) - 1).data.flatMap { String(data: $0, encoding: .utf8) }
    }
}
