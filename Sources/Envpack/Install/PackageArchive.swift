// Extracting conda package archives with libarchive, streaming and with the
// same safety rules as `envpack unpack`: `.tar.bz2` is one tarball; `.conda`
// is a zip holding `metadata.json`, `info-*.tar.zst` and `pkg-*.tar.zst`,
// whose inner tarballs are read straight out of the zip. Every regular file
// is hashed as it is written, for PackageVerifier.
import EnvpackRelocation
import Foundation

public enum PackageArchive {
    /// Returns the sha256 and size of each regular file written, by path.
    @discardableResult
    public static func extract(_ path: String, into directory: String) throws -> [String: FileDigest] {
        try asEnvpackError { try extractFiles(path, into: directory) }
    }

    private static func extractFiles(_ path: String, into directory: String) throws -> [String: FileDigest] {
        var files: [String: FileDigest] = [:]
        if path.hasSuffix(".conda") {
            let outer = try ArchiveReader(path: path)
            var sawPkg = false, sawInfo = false
            while let entry = try outer.next() {
                let name = entry.path
                guard name.hasSuffix(".tar.zst"), name.hasPrefix("info-") || name.hasPrefix("pkg-") else { continue }
                let inner = try ArchiveReader(nestedIn: outer, name: name)
                // Both tarballs land in one folder, each name once (O_EXCL).
                files.merge(try SafeExtractor.extractHashing(reader: inner, into: directory).files) { first, _ in first }
                if name.hasPrefix("pkg-") { sawPkg = true } else { sawInfo = true }
            }
            guard sawPkg && sawInfo else {
                throw EnvpackError.malformedFile(path: path, reason: "not a .conda package (no info-*.tar.zst and pkg-*.tar.zst inside)")
            }
        } else {
            files = try SafeExtractor.extractHashing(reader: try ArchiveReader(path: path), into: directory).files
        }
        guard FileManager.default.fileExists(atPath: directory + "/info/index.json") else {
            throw EnvpackError.malformedFile(path: path, reason: "no info/index.json inside: not a conda package")
        }
        return files
    }
}
