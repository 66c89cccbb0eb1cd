// `envpack pack`: from a conda environment to one streamed, compressed
// archive. Everything that can be checked without reading file contents is
// checked before the output is opened; file contents are read exactly once,
// feeding the archive, the hash check and prefix detection together.
import Crypto
import EnvpackRelocation
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public enum Packer {
    /// Paths envpack writes itself; an older copy in the environment (from a
    /// previous unpack) is replaced, not packed.
    static let generatedPaths: Set<String> = Set(["bin/envpack-unpack", "bin/conda-unpack"] + ActivationScripts.files.map(\.path))
    static let generatedFolder = "conda-meta/envpack"
    static let chunkSize = 1 << 20

    public static func pack(_ options: PackOptions) throws -> PackSummary {
        let env = try CondaEnvironment.load(prefix: options.prefix)
        if FileManager.default.fileExists(atPath: env.prefix + "/" + Journal.relativePath) {
            throw EnvpackError.invalidOption("\(env.prefix) is half-relocated (an interrupted relocation left \(Journal.relativePath)): run its bin/envpack-unpack or envpack relocate first")
        }
        let helper = try options.helperPath ?? HelperLocator.locate()
        let outputAbsolute = options.output == "-" ? nil : absolutePath(options.output)

        var tree = try EnvironmentTree.walk(prefix: env.prefix).filter { e in
            if e.path == generatedFolder || e.path.hasPrefix(generatedFolder + "/") { return false }
            if generatedPaths.contains(e.path) && env.managed[e.path] == nil { return false }
            if let outputAbsolute, env.prefix + "/" + e.path == outputAbsolute { return false }
            return true
        }
        let present = Set(tree.map(\.path))
        tree = options.filter.apply(tree)
        if options.format.supportsHardlinks { EnvironmentTree.resolveHardlinks(&tree) }

        if !options.ignoreMissingFiles {
            let missing = EnvironmentChecks.missingFiles(in: env, present: present, filter: options.filter)
            if !missing.isEmpty { throw EnvpackError.missingFiles(missing) }
        }
        if !options.ignoreEditablePackages {
            let editable = EnvironmentChecks.editableInstalls(prefix: env.prefix, entries: tree)
            if !editable.isEmpty { throw EnvpackError.editablePackages(editable) }
        }
        // Packages whose recorded size already disagrees fail before any output.
        let changed = tree.compactMap { e -> String? in
            guard e.status.kind == .regular, let m = env.managed[e.path], m.hasPrefixInfo,
                  m.entry.prefixPlaceholder == nil, m.entry.sha256InPrefix == nil,
                  let size = m.entry.sizeInBytes, size != e.status.size else { return nil }
            return "\(e.path) (\(env.records[m.recordIndex].distName))"
        }
        if !changed.isEmpty { throw EnvpackError.changedFiles(changed) }

        // --dest-prefix: find every prefix-bearing file first and plan its
        // edits, so a destination that cannot work fails before any output.
        var plans: [String: FilePlan] = [:]
        if let dest = options.destPrefix.map(absolutePath), dest != env.prefix {
            let found = try PrefixScanner.scan(root: env.prefix, prefix: env.prefix, entries: tree)
            var relocator = Relocator(root: env.prefix, to: dest)
            relocator.requireWritable = false
            for plan in try relocator.plan(found).files { plans[plan.file.path] = plan }
        }

        let clamp = options.mtime ?? defaultMtime(prefix: env.prefix)
        let output = try OutputFile(path: options.output, force: options.force)
        let threads = max(1, options.threads)
        let writer = try ArchiveWriter(fd: output.fd, format: options.format, level: options.compressLevel,
                                       threads: threads, displayPath: output.displayPath)
        do {
            let summary = try writeEntries(tree, env: env, plans: plans, helper: helper, clamp: clamp,
                                           writer: writer, options: options, outputName: output.displayPath)
            try writer.finish()
            try output.commit()
            return summary
        } catch {
            writer.abandon()
            throw error
        }
    }

    /// The default mtime clamp: when conda last changed the environment.
    static func defaultMtime(prefix: String) -> Int {
        FileStatus.lstat(prefix + "/conda-meta/history")?.mtime
            ?? FileStatus.lstat(prefix + "/conda-meta")?.mtime ?? 0
    }

    private static func writeEntries(_ tree: [TreeEntry], env: CondaEnvironment, plans: [String: FilePlan],
                                     helper: String, clamp: Int,
                                     writer: ArchiveWriter, options: PackOptions,
                                     outputName: String) throws -> PackSummary {
        let root = options.arcroot.split(separator: "/").joined(separator: "/")
        func archivePath(_ path: String) -> String { root.isEmpty ? path : root + "/" + path }

        let fileCount = tree.filter { $0.status.kind == .regular && $0.hardlinkTarget == nil }.count
        let totalBytes = tree.reduce(0) { $0 + ($1.status.kind == .regular && $1.hardlinkTarget == nil ? $1.status.size : 0) }
        let progress = Progress(label: "packing", totalFiles: fileCount, totalBytes: totalBytes, quiet: options.quiet)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 4096)
        defer { buffer.deallocate() }

        var prefixFiles: [PrefixFile] = []
        var prefixFileIndex: [String: Int] = [:]
        var changed: [String] = []
        var bytesRead = 0

        for entry in tree {
            let mtime = min(entry.status.mtime, clamp)
            let path = archivePath(entry.path)
            switch entry.status.kind {
            case .directory:
                try writer.begin(path: path, kind: .directory, mode: entry.status.mode, mtime: mtime)
            case .symlink:
                try writer.begin(path: path, kind: .symlink(target: entry.linkTarget ?? ""), mode: 0o777, mtime: mtime)
            case .regular:
                if let target = entry.hardlinkTarget {
                    try writer.begin(path: path, kind: .hardlink(target: archivePath(target)),
                                     mode: entry.status.mode, mtime: mtime)
                    if let i = prefixFileIndex[target] { prefixFiles[i].hardlinks.append(entry.path) }
                    continue
                }
                let managed = env.managed[entry.path]
                let result = try streamFile(entry, env: env, managed: managed, plan: plans[entry.path],
                                            prefix: options.destPrefix.map(absolutePath) ?? env.prefix,
                                            mtime: mtime, archivePath: path,
                                            buffer: buffer, writer: writer, progress: progress)
                bytesRead += entry.status.size
                if result.changed {
                    changed.append("\(entry.path) (\(managed.map { env.records[$0.recordIndex].distName } ?? "?"))")
                }
                if let file = result.prefixFile {
                    prefixFileIndex[entry.path] = prefixFiles.count
                    prefixFiles.append(file)
                }
            case .other:
                continue
            }
        }
        if !changed.isEmpty { throw EnvpackError.changedFiles(changed) }

        // The helper, and conda-pack's name for it.
        try writeHelper(helper, at: archivePath("bin/envpack-unpack"), mtime: clamp, writer: writer, buffer: buffer)
        try writer.begin(path: archivePath("bin/conda-unpack"), kind: .symlink(target: "envpack-unpack"),
                         mode: 0o777, mtime: clamp)
        // Activation scripts, unless a package of the environment ships its own.
        for script in ActivationScripts.files where env.managed[script.path] == nil {
            let bytes = Array(script.contents.utf8)
            try writer.begin(path: archivePath(script.path), kind: .file(size: bytes.count), mode: 0o644, mtime: clamp)
            try bytes.withUnsafeBytes { try writer.write($0) }
        }

        var manifest = Manifest(
            prefix: options.destPrefix.map(absolutePath) ?? env.prefix,
            packages: env.records.map { ManifestPackage(name: $0.name, version: $0.version, build: $0.build, channel: $0.channelName) },
            files: prefixFiles)
        if manifest.prefix != env.prefix { manifest.previousPrefixes = [env.prefix] }
        let text = Array(manifest.serialized().utf8)
        try writer.begin(path: archivePath(generatedFolder), kind: .directory, mode: 0o755, mtime: clamp)
        try writer.begin(path: archivePath(Manifest.relativePath), kind: .file(size: text.count), mode: 0o644, mtime: clamp)
        try text.withUnsafeBytes { try writer.write($0) }
        progress.finish()
        let generated = 4 + ActivationScripts.files.filter { env.managed[$0.path] == nil }.count
        return PackSummary(output: outputName, entries: tree.count + generated, bytesRead: bytesRead, manifest: manifest)
    }

    /// Streams one regular file into the archive, checking its hash against
    /// the record and looking for the prefix on the way.
    private static func streamFile(_ entry: TreeEntry, env: CondaEnvironment, managed: CondaEnvironment.ManagedPath?,
                                   plan: FilePlan?, prefix: String,
                                   mtime: Int, archivePath: String, buffer: UnsafeMutableRawBufferPointer,
                                   writer: ArchiveWriter, progress: Progress) throws -> (prefixFile: PrefixFile?, changed: Bool) {
        let full = env.prefix + "/" + entry.path
        let fd = open(full, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw EnvpackError.unreadable(path: full, reason: errnoMessage()) }
        defer { close(fd) }
        posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL)

        let edits = plan?.edits ?? []
        let size = entry.status.size + edits.reduce(0) { $0 + $1.replacement.count - $1.expected.count }
        try writer.begin(path: archivePath, kind: .file(size: size), mode: entry.status.mode, mtime: mtime)

        // The hash the file should have now: after conda patched it if it did.
        var expected: String? = managed?.entry.sha256InPrefix
        if expected == nil, let m = managed, m.hasPrefixInfo, m.entry.prefixPlaceholder == nil {
            expected = m.entry.sha256
        }
        var hasher = expected.map { _ in SHA256() }
        // Compiled python files hold source paths python fixes up itself on
        // import; rewriting them would only risk the move. conda-meta keeps
        // the history of the environment where it was built, as conda does.
        let scan = PrefixScanner.isScanned(entry.path)
        var detector = PrefixDetector(prefix: prefix, placeholder: plan == nil ? managed?.entry.prefixPlaceholder : nil)

        // One pass over the file: the hash sees the bytes on disk; the
        // archive and the prefix search see what goes into the archive (with
        // --dest-prefix, the relocated content; otherwise the same bytes).
        do {
            try streamEdited(fd: fd, size: entry.status.size, edits: edits, path: full, buffer: buffer,
                             input: { hasher?.update(bufferPointer: $0); progress.advance(bytes: $0.count) },
                             output: { try writer.write($0); if scan { detector.feed($0) } })
        } catch let error as FileIOError {
            throw EnvpackError.unreadable(path: full, reason: error.reason)
        }
        progress.advance(files: 1)

        var hashDiffers = false
        if let expected, let digest = hasher?.finalize() {
            hashDiffers = hexString(digest) != expected.lowercased()
        }
        let recordMode = PrefixScanner.recordMode(managed)
        var file: PrefixFile?
        do {
            // ELF details are read from the file on disk: with edits, its
            // layout (sections, RPATH offsets) is the same, only bytes differ.
            file = scan ? try detector.result(path: entry.path, absolutePath: full, recordMode: plan?.file.mode ?? recordMode, isManaged: managed != nil) : nil
        } catch {
            throw EnvpackError.malformedFile(path: full, reason: error.description)
        }
        if let plan, file?.mode == .binary {
            let offsets = Set(file?.offsets ?? [])
            file?.room = Relocator.room(after: plan.edits, old: plan.file.room).filter { offsets.contains($0.key) }
        }
        // A record's sha256_in_prefix is the hash for the prefix conda
        // installed into. A file that holds this environment's prefix was
        // patched for it (or moved here with conda-pack), so its hash cannot
        // be compared; any other difference is a real change.
        return (file, hashDiffers && file == nil && plan == nil)
    }

    private static func writeHelper(_ helper: String, at path: String, mtime: Int, writer: ArchiveWriter,
                                    buffer: UnsafeMutableRawBufferPointer) throws {
        let fd = open(helper, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw EnvpackError.unreadable(path: helper, reason: errnoMessage()) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw EnvpackError.unreadable(path: helper, reason: errnoMessage()) }
        try writer.begin(path: path, kind: .file(size: Int(st.st_size)), mode: 0o755, mtime: mtime)
        do {
            try streamEdited(fd: fd, size: Int(st.st_size), edits: [], path: helper, buffer: buffer,
                             input: { _ in }, output: { try writer.write($0) })
        } catch let error as FileIOError {
            throw EnvpackError.unreadable(path: helper, reason: error.reason)
        }
    }
}

/// Lower-case hex of a digest (String(format:) is far too slow per file).
func hexString<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(64)
    for b in bytes {
        out.append(digits[Int(b >> 4)])
        out.append(digits[Int(b & 0x0f)])
    }
    return String(decoding: out, as: UTF8.self)
}
