// The package cache as conda and rattler lay it out: an extracted package
// is complete for them when it has `info/repodata_record.json` (its index
// fields plus url, channel, fn, md5, sha256 and size). envpack reuses such a
// folder, read-only, when the record names this very archive and the files
// verify, and writes the same record into the folders it extracts itself,
// so conda sees a complete entry rather than rebuilding one with channel
// `<unknown>`.
import Foundation

enum CondaCacheEntry {
    /// Whether conda's extracted `folder` is this package, undamaged; the
    /// failure says why not, in words.
    static func check(_ folder: String, package: FetchedPackage) -> Result<Void, Mismatch> {
        let path = folder + "/info/repodata_record.json"
        guard let data = SmallFile.read(path, limit: PackageInfo.maxInfoFileSize).data,
              let record = try? JSONDecoder().decode([String: JSONValue].self, from: data) else {
            return .failure(Mismatch("has no readable info/repodata_record.json"))
        }
        if let sha = record["sha256"]?.string {
            guard sha.lowercased() == package.sha256 else { return .failure(Mismatch("was extracted from another archive (sha256 \(sha))")) }
        } else if let md5 = record["md5"]?.string {
            guard !package.md5.isEmpty, md5.lowercased() == package.md5 else { return .failure(Mismatch("was extracted from another archive (md5 \(md5))")) }
        } else {
            return .failure(Mismatch("has no sha256 or md5 in info/repodata_record.json"))
        }
        if let problem = PackageVerifier.firstMismatch(in: folder) { return .failure(Mismatch("is damaged: \(problem)")) }
        return .success(())
    }

    struct Mismatch: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    /// Writes `info/repodata_record.json` into an extraction envpack made.
    static func writeRepodataRecord(in folder: String, package: FetchedPackage) throws {
        let indexPath = folder + "/info/index.json"
        guard let data = SmallFile.read(indexPath, limit: PackageInfo.maxInfoFileSize).data,
              var record = try? JSONDecoder().decode([String: JSONValue].self, from: data) else {
            throw EnvpackError.malformedFile(path: package.entry.fileName, reason: "info/index.json is unreadable")
        }
        let url: URL
        switch package.entry.source {
        case .remote(let u): url = u
        case .local(let path): url = URL(fileURLWithPath: path)
        }
        var channel = url.deletingLastPathComponent()
        if let subdir = record["subdir"]?.string, channel.lastPathComponent == subdir { channel = channel.deletingLastPathComponent() }
        var channelText = channel.absoluteString
        while channelText.hasSuffix("/") { channelText.removeLast() }
        record["url"] = .string(url.absoluteString)
        record["channel"] = .string(channelText)
        record["fn"] = .string(package.entry.fileName)
        record["md5"] = .string(package.md5)
        record["sha256"] = .string(package.sha256)
        record["size"] = .int(package.size)
        let path = folder + "/info/repodata_record.json"
        unlink(path)  // our own extraction: a record the package carried is not trusted
        try writeNewFile(path, Array(JSONValue.object(record).text().utf8), mode: 0o644)
    }
}
