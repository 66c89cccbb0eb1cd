// Checks an extracted package against its own info/paths.json: every file
// there, of the type it says, with the size and sha256 it says. This is
// what protects a package whose spec line has no hash, and what tells a
// damaged extraction (envpack's or conda's) from a good one. A package
// without paths.json (the old format) carries no hashes: only presence is
// checked.
// Types, sizes and the folders on the way are always checked on disk
// (lstat). The sha256 of a file envpack has just extracted comes from the
// extraction itself (`written`: DiskWriter hashed the bytes it wrote into
// a fresh folder, where nothing else can have replaced them); any other
// file (a folder conda extracted, a file with holes, a hardlink to the
// other tarball of a .conda) is read back and hashed.
import EnvpackRelocation
import Foundation

enum PackageVerifier {
    /// Throws naming the package and the first file that does not match.
    static func verifyFiles(in folder: String, package: String, written: [String: FileDigest] = [:]) throws {
        if let problem = firstMismatch(in: folder, written: written) {
            throw EnvpackError.malformedFile(path: package, reason: "\(problem); the package is damaged, refusing it")
        }
    }

    /// The first difference between the folder and its paths.json, in words.
    /// `written`: what an extraction into `folder` wrote (see above).
    static func firstMismatch(in folder: String, written: [String: FileDigest] = [:]) -> String? {
        let paths: [PathEntry]
        do { paths = try PackageInfo.paths(infoDirectory: URL(fileURLWithPath: folder + "/info")) } catch {
            return "its info/paths.json cannot be read (\(error))"
        }
        // Folders seen to be real folders (not symlinks) inside the package.
        var folders: Set<String> = [""]
        // Files to hash: checked on every core once types and sizes pass.
        var toHash: [(path: String, name: String, sha256: String)] = []
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
                if let digest = written[entry.path], digest.size == status.size {
                    if digest.sha256 != expected.lowercased() {
                        return "file \(entry.path) has sha256 \(digest.sha256), info/paths.json says \(expected.lowercased())"
                    }
                    continue
                }
                toHash.append((path, entry.path, expected.lowercased()))
            }
        }
        let problems = Locked([Int: String]())
        let jobs = toHash
        DispatchQueue.concurrentPerform(iterations: jobs.count) { i in
            let job = jobs[i]
            guard let hashed = try? hashFile(job.path, md5: false) else {
                problems.withLock { $0[i] = "file \(job.name) cannot be read" }
                return
            }
            if hashed.sha256 != job.sha256 {
                problems.withLock { $0[i] = "file \(job.name) has sha256 \(hashed.sha256), info/paths.json says \(job.sha256)" }
            }
        }
        // The first in the package's own order, whatever thread found it.
        return problems.withLock { $0.min { $0.key < $1.key }?.value }
    }
}
