// Putting a package's files into the (staging) prefix, as conda links them:
// a hardlink to the package cache when both share a filesystem, a copy
// otherwise (or with --copy, or for `no_link` files); softlinks recreated;
// files with a placeholder written anew with their planned edits. A path an
// earlier package wrote is replaced (the later package wins).
import Crypto
import EnvpackRelocation
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct Linker {
    let staging: String
    let prefix: String
    let copy: Bool

    /// Links every package and writes its record. Returns the file count.
    func link(_ plan: InstallPlan) throws -> Int {
        try FileManager.default.createDirectory(atPath: staging + "/conda-meta", withIntermediateDirectories: true)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        var count = 0
        var directories: Set<String> = [staging, staging + "/conda-meta"]
        // Only paths written before can need removing (a clobber).
        var written = Set<String>()
        // Every folder on the way to a file is made here or checked to be a
        // real folder: a symlink an earlier package placed (`share/evil ->
        // /tmp/x`) is never followed.
        func makeDirectory(_ path: String, for package: PlannedPackage, entry: String) throws {
            if directories.contains(path) { return }
            let parent = parentDirectory(path)
            if parent.count > staging.count { try makeDirectory(parent, for: package, entry: entry) }
            if mkdir(path, 0o755) != 0 {
                guard errno == EEXIST else { throw EnvpackError.writeFailed(path: path, reason: errnoMessage()) }
                guard FileStatus.lstat(path)?.kind == .directory else {
                    let inside = String(path.dropFirst(staging.count + 1))
                    throw EnvpackError.malformedFile(path: package.fetched.archivePath,
                        reason: "\(package.distName): path \(entry) goes through \(inside), which an earlier package made a symlink or file; refusing to write through it")
                }
            }
            directories.insert(path)
        }
        func makeParent(of path: String, for package: PlannedPackage, entry: String) throws {
            try makeDirectory(parentDirectory(path), for: package, entry: entry)
        }
        func prepare(_ target: String) {
            if !written.insert(target).inserted { removeExisting(target) }
        }
        for package in plan.packages {
            var anyCopied = false
            var recorded: [PathEntry] = []
            for (i, entry) in package.contents.paths.enumerated() {
                try Interruption.check()
                let dest = package.destinations[i]
                let source = package.contents.directory + "/" + entry.path
                let target = staging + "/" + dest
                try makeParent(of: target, for: package, entry: entry.path)
                var record = entry
                record.path = dest
                // Old packages (no paths.json) list symlinks as plain files.
                let isLegacySymlink = entry.sha256 == nil && entry.pathType == .hardlink && FileStatus.lstat(source)?.kind == .symlink
                if entry.pathType == .directory {
                    try makeDirectory(target, for: package, entry: entry.path)
                } else if entry.pathType == .softlink || isLegacySymlink {
                    guard let linkTarget = readLink(source) else {
                        throw EnvpackError.unreadable(path: source, reason: "missing symlink in the extracted package")
                    }
                    prepare(target)
                    guard symlink(linkTarget, target) == 0 else { throw EnvpackError.writeFailed(path: target, reason: errnoMessage()) }
                    record.pathType = .softlink
                } else if let edits = package.edits[i] {
                    prepare(target)
                    let (sha, size) = try writeEdited(source: source, target: target, edits: edits, buffer: buffer)
                    record.sha256InPrefix = sha
                    record.sizeInBytes = record.sizeInBytes ?? size
                } else {
                    prepare(target)
                    if copy || entry.noLink == true || Glibc.link(source, target) != 0 {
                        try copyFile(source: source, target: target, buffer: buffer)
                        anyCopied = true
                    }
                    if record.sha256 == nil {
                        let hashed = try hashFile(source)
                        record.sha256 = hashed.sha256
                        record.sizeInBytes = hashed.size
                    }
                    record.sha256InPrefix = record.sha256
                }
                recorded.append(record)
                count += 1
            }
            for entryPoint in package.entryPoints {
                let dest = "bin/" + entryPoint.command
                let target = staging + "/" + dest
                try makeParent(of: target, for: package, entry: dest)
                prepare(target)
                let text: String
                do { text = try entryPoint.script(prefix: prefix, pythonVersion: plan.pythonVersion ?? "3") } catch {
                    throw EnvpackError.invalidOption("\(package.distName): entry point \(entryPoint.command): \(error)")
                }
                try writeNewFile(target, Array(text.utf8), mode: 0o755)
                let digest = hexString(SHA256.hash(data: Data(text.utf8)))
                recorded.append(PathEntry(path: dest, pathType: .unixPythonEntryPoint, sha256: digest,
                                         sha256InPrefix: digest, sizeInBytes: text.utf8.count))
                count += 1
            }
            try RecordWriter.write(package, paths: recorded, linkType: copy || anyCopied ? 3 : 1, staging: staging)
        }
        return count
    }

    private func removeExisting(_ path: String) {
        if let status = FileStatus.lstat(path) {
            if status.kind == .directory { try? FileManager.default.removeItem(atPath: path) } else { unlink(path) }
        }
    }

    /// Writes the source with its edits applied; returns the new sha256 and size.
    private func writeEdited(source: String, target: String, edits: [Edit],
                             buffer: UnsafeMutableRawBufferPointer) throws -> (String, Int) {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw EnvpackError.unreadable(path: source, reason: errnoMessage()) }
        defer { close(input) }
        var st = stat()
        fstat(input, &st)
        let output = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode_t(st.st_mode & 0o7777))
        guard output >= 0 else { throw EnvpackError.writeFailed(path: target, reason: errnoMessage()) }
        defer { close(output) }
        var sha = SHA256()
        var size = 0
        do {
            try streamEdited(fd: input, size: Int(st.st_size), edits: edits, path: source, buffer: buffer,
                             input: { _ in }, output: { bytes in
                                 sha.update(bufferPointer: bytes)
                                 size += bytes.count
                                 try writeAll(fd: output, bytes, displayPath: target)
                             })
        } catch let error as FileIOError {
            throw EnvpackError.unreadable(path: error.path, reason: error.reason)
        }
        fchmod(output, st.st_mode & 0o7777)
        return (hexString(sha.finalize()), size)
    }

    private func copyFile(source: String, target: String, buffer: UnsafeMutableRawBufferPointer) throws {
        _ = try writeEdited(source: source, target: target, edits: [], buffer: buffer)
    }
}
