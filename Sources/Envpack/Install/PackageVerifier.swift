// Checks an extracted package against its own info/paths.json: every file
// there, of the type it says, with the size and sha256 it says. This is
// what protects a package whose spec line has no hash, and what tells a
// damaged extraction (envpack's or conda's) from a good one. A package
// without paths.json (the old format) carries no hashes: only presence is
// checked.
import EnvpackRelocation
import Foundation

enum PackageVerifier {
    /// Throws naming the package and the first file that does not match.
    static func verifyFiles(in folder: String, package: String) throws {
        if let problem = firstMismatch(in: folder) {
            throw EnvpackError.malformedFile(path: package, reason: "\(problem); the package is damaged, refusing it")
        }
    }

    /// The first difference between the folder and its paths.json, in words.
    static func firstMismatch(in folder: String) -> String? {
        let paths: [PathEntry]
        do { paths = try PackageInfo.paths(infoDirectory: URL(fileURLWithPath: folder + "/info")) } catch {
            return "its info/paths.json cannot be read (\(error))"
        }
        // Folders seen to be real folders (not symlinks) inside the package.
        var folders: Set<String> = [""]
        for entry in paths {
            let parts = entry.path.split(separator: "/").map(String.init)
            guard !entry.path.hasPrefix("/"), !parts.isEmpty, !parts.contains(".."), !parts.contains(".") else {
                return "info/paths.json names \(entry.path), outside the package"
            }
            var parent = ""
            for part in parts.dropLast() {
                parent = parent.isEmpty ? part : parent + "/" + part
                if folders.contains(parent) { continue }
                guard FileStatus.lstat(folder + "/" + parent)?.kind == .directory else {
                    return "\(entry.path) is reached through \(parent), which is not a folder"
                }
                folders.insert(parent)
            }
            let path = folder + "/" + entry.path
            let status = FileStatus.lstat(path)
            switch entry.pathType {
            case .directory:
                guard status?.kind == .directory else { return "folder \(entry.path) is missing" }
            case .softlink:
                guard status?.kind == .symlink else { return "symlink \(entry.path) is missing" }
            default:
                guard let status else { return "file \(entry.path) is missing" }
                // Old packages list symlinks as plain files, with no hash.
                guard let expected = entry.sha256 else { continue }
                guard status.kind == .regular else { return "\(entry.path) is not a regular file" }
                if let size = entry.sizeInBytes, size != Int(status.size) {
                    return "file \(entry.path) has \(status.size) bytes, info/paths.json says \(size)"
                }
                guard let hashed = try? hashFile(path, md5: false) else { return "file \(entry.path) cannot be read" }
                if hashed.sha256 != expected.lowercased() {
                    return "file \(entry.path) has sha256 \(hashed.sha256), info/paths.json says \(expected)"
                }
            }
        }
        return nil
    }
}
