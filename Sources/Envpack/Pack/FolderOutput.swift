// conda-pack's other `--format` values: `no-archive`, the environment as a
// plain folder (for a Docker build stage, or a shared filesystem), and
// `squashfs`, an image made by `mksquashfs` (squashfs-tools), zstd inside.
// Both reuse everything pack checks and writes: the environment is packed
// as a plain tar inside a staging folder beside the output, extracted there
// under unpack's rules, then renamed into place (no-archive) or squashed
// (squashfs). A failure leaves no output. As with conda-pack, the files are
// relocated to --dest-prefix when given; otherwise they keep the packed
// prefix and carry bin/envpack-unpack and the manifest, so the folder is
// relocated later by running the helper where it ends up.
import EnvpackExtract
import Foundation
#if canImport(Glibc)
import Glibc
#endif

enum FolderOutput {
    static func pack(_ options: PackOptions) throws -> PackSummary {
        let destination = absolutePath(options.output)
        let parent = (destination as NSString).deletingLastPathComponent
        let mksquashfs = options.layout == .squashfs ? try findMksquashfs() : nil
        let prefixes = [absolutePath(options.prefix), PrefixSpellings.realPath(absolutePath(options.prefix))].compactMap { $0 }
        if let inside = prefixes.first(where: { destination == $0 || destination.hasPrefix($0 + "/") }) {
            throw EnvpackError.invalidOption("\(destination) is inside the environment \(inside): write the \(options.layout == .folder ? "folder" : "image") somewhere else")
        }
        let folders = MissingFolders()
        if statFollowing(parent)?.kind != .directory {
            // conda-pack creates a no-archive output's folders; for a file,
            // --force does (as for archives).
            guard options.layout == .folder || options.force else { throw EnvpackError.outputDirectoryMissing(parent) }
            try folders.create(parent)
        }
        do {
            if let mksquashfs { return try packImage(options, at: destination, parent: parent, mksquashfs: mksquashfs) }
            return try packFolder(options, at: destination)
        } catch {
            folders.removeCreated()
            throw error
        }
    }

    private static func packFolder(_ options: PackOptions, at destination: String) throws -> PackSummary {
        let staged = try StagedFolder(destination: destination, kind: "unpack", force: options.force)
        do {
            var summary = try fill(staged.staging, options: options)
            try staged.commit()
            staged.finish()
            summary.output = destination
            return summary
        } catch {
            staged.discard()
            throw error
        }
    }

    private static func packImage(_ options: PackOptions, at destination: String, parent: String,
                                  mksquashfs: String) throws -> PackSummary {
        if let existing = statFollowing(destination) {
            guard options.force else { throw EnvpackError.outputExists(destination) }
            guard existing.kind == .regular else {
                throw EnvpackError.writeFailed(path: destination, reason: "exists and is not a regular file")
            }
        }
        let owner = try OwnedFolder.take(in: parent, kind: "unpack")
        defer {
            if (try? FileManager.default.removeItem(atPath: owner.path)) != nil || FileStatus.lstat(owner.path) == nil {
                owner.release()
            } else {
                owner.abandon()
            }
        }
        let root = owner.path + "/root"
        guard mkdir(root, 0o755) == 0 else { throw EnvpackError.writeFailed(path: root, reason: errnoMessage()) }
        var summary = try fill(root, options: options)
        let image = owner.path + "/image.squashfs"
        let level = options.compressLevel ?? 3
        let mtime = options.mtime ?? Packer.defaultMtime(prefix: options.prefix)
        try run(mksquashfs, [root, image, "-noappend", "-comp", "zstd", "-Xcompression-level", "\(level)",
                             "-processors", "\(max(1, options.threads))", "-all-root", "-mkfs-time", "\(mtime)",
                             "-no-progress", "-quiet"], log: owner.path + "/mksquashfs.log", output: destination)
        guard rename(image, destination) == 0 else {
            throw EnvpackError.writeFailed(path: destination, reason: errnoMessage())
        }
        summary.output = destination
        return summary
    }

    /// Packs the environment as a plain tar inside `folder` and extracts it
    /// there, under unpack's rules.
    private static func fill(_ folder: String, options: PackOptions) throws -> PackSummary {
        var tar = options
        tar.layout = .archive
        tar.format = .tar
        tar.compressLevel = nil
        tar.quiet = true
        let tarPath = folder + "/.envpack-pack-\(getpid()).tar"
        tar.output = tarPath
        defer { unlink(tarPath) }
        let summary = try Packer.pack(tar, output: { try OutputFile(path: tarPath, force: false) })
        try SafeExtractor.extract(archive: tarPath, into: folder)
        return summary
    }

    /// mksquashfs on PATH (or in the sbin folders Debian once used).
    static func findMksquashfs() throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin"] where !dir.isEmpty {
            let candidate = dir + "/mksquashfs"
            if access(candidate, X_OK) == 0, statFollowing(candidate)?.kind == .regular { return candidate }
        }
        throw EnvpackError.invalidOption("--format squashfs needs mksquashfs, which is not on PATH: install squashfs-tools (Debian/Ubuntu: apt-get install squashfs-tools)")
    }

    private static func run(_ executable: String, _ arguments: [String], log: String, output: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        guard FileManager.default.createFile(atPath: log, contents: nil),
              let handle = FileHandle(forWritingAtPath: log) else {
            throw EnvpackError.writeFailed(path: log, reason: errnoMessage())
        }
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        do { try process.runUnblocked() } catch {
            throw EnvpackError.invalidOption("cannot run \(executable): \(error.localizedDescription)")
        }
        process.waitUntilExit()
        try? handle.close()
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            let last = text.split(separator: "\n").last.map(String.init) ?? "no message"
            throw EnvpackError.writeFailed(path: output, reason: "mksquashfs failed (status \(process.terminationStatus)): \(last)")
        }
    }
}
