// Extracting conda package archives with libarchive, streaming and with the
// same safety rules as `envpack unpack`: `.tar.bz2` is one tarball; `.conda`
// is a zip holding `metadata.json`, `info-*.tar.zst` and `pkg-*.tar.zst`,
// whose inner tarballs are read straight out of the zip.
import EnvpackRelocation
import Foundation

public enum PackageArchive {
    public static func extract(_ path: String, into directory: String) throws {
        if path.hasSuffix(".conda") {
            let outer = try ArchiveReader(path: path)
            var sawPkg = false, sawInfo = false
            while let entry = try outer.next() {
                let name = entry.path
                guard name.hasSuffix(".tar.zst"), name.hasPrefix("info-") || name.hasPrefix("pkg-") else { continue }
                let inner = try ArchiveReader(nestedIn: outer, name: name)
                try SafeExtractor.extract(reader: inner, into: directory)
                if name.hasPrefix("pkg-") { sawPkg = true } else { sawInfo = true }
            }
            guard sawPkg && sawInfo else {
                throw EnvpackError.malformedFile(path: path, reason: "not a .conda package (no info-*.tar.zst and pkg-*.tar.zst inside)")
            }
        } else {
            try SafeExtractor.extract(archive: path, into: directory)
        }
        guard FileManager.default.fileExists(atPath: directory + "/info/index.json") else {
            throw EnvpackError.malformedFile(path: path, reason: "no info/index.json inside: not a conda package")
        }
    }
}
