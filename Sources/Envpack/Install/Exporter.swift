// The way back: an explicit spec or a conda-lock file from an environment's
// records, with its lockable pip distributions (`envpack export`), and an
// offline bundle of the package files with a spec that names them by
// relative path (`envpack bundle`), for air-gapped machines.
import EnvpackExtract
import EnvpackRelocation
import Foundation

public enum Exporter {
    /// The records in install order: conda-meta/history's `+` lines first,
    /// then any others by name.
    static func orderedRecords(_ env: CondaEnvironment) -> [PackageRecord] {
        var order: [String] = []
        if let history = CondaEnvironment.historyText(prefix: env.prefix) {
            for line in history.split(separator: "\n") where line.hasPrefix("+") {
                let dist = line.split(separator: "::").last.map(String.init) ?? String(line.dropFirst())
                if !order.contains(dist) { order.append(dist) }
            }
        }
        let rank = Dictionary(order.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        return env.records.sorted {
            let a = rank[$0.distName] ?? Int.max, b = rank[$1.distName] ?? Int.max
            return a != b ? a < b : $0.distName < $1.distName
        }
    }

    static func header(_ env: CondaEnvironment) -> String {
        """
        # This file may be used to create an environment using:
        # $ envpack install --file <this file> -p <prefix>
        # or: conda create --name <env> --file <this file>
        # platform: \(ExplicitSpec.currentPlatform)
        @EXPLICIT

        """
    }

    public enum Format: String, Sendable, CaseIterable {
        case explicit
        case condaLock = "conda-lock"
    }

    /// The environment at `prefix` as `format`, with its pip distributions
    /// that can be locked (PipExport; wheels looked for in `pkgsDirs`), and
    /// "name version: why" for each one that cannot.
    public static func export(prefix: String, format: Format, pkgsDirs: [String]) throws -> (text: String, leftOut: [String]) {
        let env = try CondaEnvironment.load(prefix: prefix)
        let (wheels, left) = PipExport.find(env, pkgsDirs: pkgsDirs)
        switch format {
        case .explicit:
            var text = try explicitSpec(env)
            text = left.map { "# not exported (PyPI): \(CondaLockWriter.oneLine($0))\n" }.joined() + text
            // conda-lock's render: `# pip NAME @ URL#sha256=HEX`, after the conda packages.
            for w in wheels { text += "# pip \(w.name) @ \(w.url)#sha256=\(w.sha256)\n" }
            return (text, left)
        case .condaLock:
            return (try CondaLockWriter.text(records: orderedRecords(env), wheels: wheels, platform: ExplicitSpec.currentPlatform, left: left), left)
        }
    }

    /// Writes an exported spec or lock to `path`: a new file, or with
    /// `force` in place of a regular file (never a folder or a symlink),
    /// through a temporary file beside it renamed over it, so a failure
    /// leaves the old file whole.
    public static func writeOutput(_ text: String, to path: String, force: Bool) throws {
        let target = absolutePath(path)
        let parent = parentDirectory(target).isEmpty ? "/" : parentDirectory(target)
        guard statFollowing(parent)?.kind == .directory else { throw EnvpackError.outputDirectoryMissing(parent) }
        if let existing = FileStatus.lstat(target) {
            guard existing.kind == .regular else {
                throw EnvpackError.invalidOption("\(target) exists and is not a regular file: choose another output")
            }
            guard force else { throw EnvpackError.outputExists(target) }
        }
        let temp = parent + "/.envpack-export-\(getpid())-\(lastComponent(target).prefix(100)).tmp"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw EnvpackError.writeFailed(path: temp, reason: errnoMessage()) }
        do {
            try Array(text.utf8).withUnsafeBytes { try writeAll(fd: fd, $0, displayPath: target) }
            guard fsync(fd) == 0 else { throw EnvpackError.writeFailed(path: target, reason: errnoMessage()) }
        } catch {
            close(fd); unlink(temp)
            throw error
        }
        guard close(fd) == 0 else {
            let reason = errnoMessage()
            unlink(temp)
            throw EnvpackError.writeFailed(path: target, reason: reason)
        }
        guard rename(temp, target) == 0 else {
            let reason = errnoMessage()
            unlink(temp)
            throw EnvpackError.writeFailed(path: target, reason: reason)
        }
    }

    /// `conda list --explicit --sha256` for the environment at `prefix`.
    public static func explicitSpec(prefix: String) throws -> String {
        try explicitSpec(try CondaEnvironment.load(prefix: prefix))
    }

    static func explicitSpec(_ env: CondaEnvironment) throws -> String {
        let prefix = env.prefix
        var text = header(env)
        for record in orderedRecords(env) {
            guard let url = record.url, !url.isEmpty else {
                throw EnvpackError.malformedFile(path: prefix + "/conda-meta/" + record.distName + ".json", reason: "no url: cannot be exported")
            }
            if let sha = record.sha256 { text += "\(url)#\(sha)\n" }
            else if let md5 = record.md5 { text += "\(url)#\(md5)\n" }
            else { text += url + "\n" }
        }
        return text
    }

    /// What `bundle` put in: conda packages, PyPI wheels, and "name
    /// version: why" for each pip distribution it could not.
    public struct Bundled: Sendable {
        public var packages: Int
        public var wheels: Int
        public var leftOut: [String]
    }

    static func occupied(_ target: String) -> EnvpackError {
        .invalidOption("\(target) exists and is not an empty folder: a bundle goes into a new or empty folder (bundle never replaces anything)")
    }

    /// Writes `directory/pkgs/*`, `directory/wheels/*` and
    /// `directory/spec.txt`. Package files come from the record's own
    /// tarball path, the package cache, or a file:// URL; each is verified
    /// against the record. Wheels: BundleWheels.
    public static func bundle(prefix: String, into directory: String, pkgsDirs: [String]) throws -> Bundled {
        let env = try CondaEnvironment.load(prefix: prefix)
        let (wheels, left) = PipExport.find(env, pkgsDirs: pkgsDirs)
        let target = absolutePath(directory)
        // Only a new name or an empty folder (not a symlink) is written: the
        // final rename replaces nothing else, so no file or folder of the
        // user's is ever removed, even one that appears meanwhile.
        if let existing = FileStatus.lstat(target) {
            guard existing.kind == .directory,
                  ((try? FileManager.default.contentsOfDirectory(atPath: target)) ?? ["?"]).isEmpty else {
                throw occupied(target)
            }
        }
        let parent = parentDirectory(target).isEmpty ? "/" : parentDirectory(target)
        guard statFollowing(parent)?.kind == .directory else {
            throw EnvpackError.outputDirectoryMissing(parent)
        }
        OwnedFolder.reclaimStale(in: parent, kind: "bundle")
        let owner = try OwnedFolder.take(in: parent, kind: "bundle")
        let staging = owner.path
        do {
            guard mkdir(staging + "/pkgs", 0o755) == 0 else { throw EnvpackError.writeFailed(path: staging + "/pkgs", reason: errnoMessage()) }
            var text = left.map { "# not bundled (PyPI): \(CondaLockWriter.oneLine($0))\n" }.joined() + header(env)
            for record in orderedRecords(env) {
                let fn = record.fn ?? record.url.map { ($0 as NSString).lastPathComponent } ?? record.distName + ".conda"
                // The name becomes a path in the bundle: one plain package file name only.
                guard !fn.contains("/"), !fn.hasPrefix("."), !fn.utf8.contains(0), fn.utf8.count <= 255,
                      fn.hasSuffix(".conda") || fn.hasSuffix(".tar.bz2") else {
                    throw EnvpackError.malformedFile(path: prefix + "/conda-meta/" + record.distName + ".json",
                                                     reason: "'\(fn.prefix(300))' is not a plain package file name (.conda or .tar.bz2); refusing to bundle it")
                }
                var candidates: [String] = record.packageTarballFullPath.map { [$0] } ?? []
                candidates += pkgsDirs.map { $0 + "/" + fn }
                if let url = record.url.flatMap(URL.init(string:)), url.isFileURL { candidates.append(url.path) }
                guard let source = candidates.first(where: { FileManager.default.fileExists(atPath: $0) && !$0.hasSuffix("/") }) else {
                    throw EnvpackError.unreadable(path: fn, reason: "package file of \(record.distName) not found (looked in: \(candidates.joined(separator: ", ")))")
                }
                // The bytes copied are the bytes hashed (a symlink's target is copied, not the link).
                let sha256 = try BundleWheels.copyHashing(source, to: staging + "/pkgs/" + fn)
                if let sha = record.sha256, sha != sha256 {
                    throw EnvpackError.malformedFile(path: source, reason: "sha256 \(sha256) differs from the record's \(sha)")
                }
                text += "pkgs/\(fn)#\(sha256)\n"
            }
            // PyPI wheels after the conda packages, as export writes them.
            let pipLines = try BundleWheels.copy(wheels, into: staging, pkgsDirs: pkgsDirs)
            for line in pipLines { text += line + "\n" }
            try text.write(toFile: staging + "/spec.txt", atomically: true, encoding: .utf8)
            var readme = """
            Offline bundle of \(env.prefix), made by envpack \(envpackVersion).
            Install it, with no network, where envpack is installed:

                envpack install --offline --file spec.txt -p /opt/env

            """
            if !left.isEmpty {
                readme += "\nNot in this bundle: PyPI distributions of the environment that cannot be locked\n"
                    + "(install them by hand afterwards, e.g. with pip):\n\n"
                    + left.map { "    \(CondaLockWriter.oneLine($0))\n" }.joined()
            }
            try readme.write(toFile: staging + "/README.txt", atomically: true, encoding: .utf8)
            // rename(2) replaces an empty folder and nothing else.
            guard rename(staging, target) == 0 else {
                throw errno == ENOTEMPTY || errno == EEXIST || errno == ENOTDIR || errno == EISDIR
                    ? occupied(target) : EnvpackError.writeFailed(path: target, reason: errnoMessage())
            }
            owner.release()
            return Bundled(packages: env.records.count, wheels: pipLines.count, leftOut: left)
        } catch {
            // The lock file goes with the folder (OwnedFolder's deinit): one
            // that cannot be removed is reclaimed by a later run.
            try? FileManager.default.removeItem(atPath: staging)
            throw error
        }
    }
}
