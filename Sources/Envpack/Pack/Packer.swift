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
        try options.validate()
        switch options.layout {
        case .archive: return try pack(options, output: { try OutputFile(path: options.output, force: options.force) })
        case .folder, .squashfs: return try FolderOutput.pack(options)
        case .selfExtracting: return try SelfExtractingOutput.pack(options)
        }
    }

    /// Packs into the output `open` gives, once every check before output passed.
    static func pack(_ options: PackOptions, output open: () throws -> OutputFile) throws -> PackSummary {
        let loaded = try CondaEnvironment.load(prefix: options.prefix)
        // Walk and read through the resolved path; look for the prefix the
        // files hold (the path given, its realpath, or where a hand-copied
        // environment came from).
        let spellings = PrefixSpellings.resolve(given: options.prefix, env: loaded)
        let env = loaded.withPrefix(spellings.resolved)
        var warnings: [String] = []
        if let file = spellings.unexplained.first {
            // Files conda patched name a prefix pack cannot tell: packing
            // would hand back an archive that cannot relocate.
            throw EnvpackError.invalidOption("\(spellings.resolved)/\(file) and \(spellings.unexplained.count - 1) other file(s) conda patched for the prefix name neither \(spellings.given) nor any prefix conda-meta/history records: the environment was moved by hand; run `envpack relocate \(spellings.given) --from OLD` with the path it was installed at, then pack")
        }
        if spellings.isForeign {
            warnings.append("\(spellings.given) was copied or moved by hand from \(spellings.effective) and never relocated (its files name \(spellings.effective)): packing it with \(spellings.effective) as the prefix to replace; `envpack relocate \(spellings.given) --from \(spellings.effective)` fixes the environment itself")
        }
        if FileManager.default.fileExists(atPath: env.prefix + "/" + Journal.relativePath) {
            throw EnvpackError.invalidOption("\(env.prefix) is half-relocated (an interrupted relocation left \(Journal.relativePath)): run its bin/envpack-unpack or envpack relocate first")
        }
        let helper = options.withHelper ? try options.helperPath ?? HelperLocator.locate() : nil
        let outputAbsolute = options.output == "-" ? nil : absolutePath(options.output)
        let outputResolved = outputAbsolute.map { PrefixSpellings.realPath(parentDirectory($0)).map { p in p + "/" + lastComponent(outputAbsolute!) } ?? $0 }
        let filter = options.filter.rules.contains(.excludeCondaState) ? options.filter : PathFilter.withCondaState(options.filter.rules)

        var tree = try EnvironmentTree.walk(prefix: env.prefix).filter { e in
            if e.path == generatedFolder || e.path.hasPrefix(generatedFolder + "/") { return false }
            if generatedPaths.contains(e.path) && env.managed[e.path] == nil { return false }
            if let outputAbsolute, env.prefix + "/" + e.path == outputAbsolute || spellings.given + "/" + e.path == outputAbsolute { return false }
            if let outputResolved, env.prefix + "/" + e.path == outputResolved { return false }
            return true
        }
        let present = Set(tree.map(\.path))
        let left = tree.filter { !filter.keeps($0.path) && PathFilter.isCondaState($0.path) && !$0.path.contains("/") }.map(\.path)
        if !left.isEmpty {
            warnings.append("left out, as conda-pack does (a base install's package cache, other environments, locks; --include brings them back): " + left.joined(separator: ", "))
        }
        tree = filter.apply(tree)
        // Before anything reads a file: the tree alone decides.
        if options.format == .zip && !options.zip64 {
            try ZipLimits.check(tree, extraEntries: 4 + ActivationScripts.files.count)
        }
        if options.format.supportsHardlinks { EnvironmentTree.resolveHardlinks(&tree) }

        // pip over conda: files a pip distribution's RECORD owns now.
        let pip = PipOwnership.load(prefix: env.prefix, entries: tree, env: env)
        var clobbered: [String: Set<String>] = [:]
        for (path, dist) in pip.owner {
            if let owner = env.owner(of: path) { clobbered[owner, default: []].insert(dist) }
        }
        for owner in clobbered.keys.sorted() {
            warnings.append("files of \(owner) were replaced by pip (\(clobbered[owner]!.sorted().joined(separator: ", "))): packed as unmanaged files")
        }

        let missingAll = EnvironmentChecks.missingFiles(in: env, present: present, filter: filter, pip: pip)
        if !missingAll.replacedByPip.isEmpty {
            for (owner, dist) in missingAll.replacedByPip.sorted(by: { $0.key < $1.key }) {
                warnings.append("\(owner) was replaced wholesale by pip (\(dist)): its missing files are not an error")
            }
        }
        if !options.ignoreMissingFiles && !missingAll.missing.isEmpty {
            throw EnvpackError.missingFiles(missingAll.missing)
        }
        if !options.ignoreEditablePackages {
            let editable = EnvironmentChecks.editableInstalls(prefix: env.prefix, entries: tree)
            if !editable.isEmpty { throw EnvpackError.editablePackages(editable) }
        }
        // Absolute symlinks that leave the environment: kept, but named.
        let outside = tree.filter { e in
            guard e.status.kind == .symlink, let t = e.linkTarget, t.hasPrefix("/") else { return false }
            return ![env.prefix, spellings.given, spellings.effective].contains { t == $0 || t.hasPrefix($0 + "/") }
        }.map { "\($0.path) -> \($0.linkTarget ?? "")" }
        if !outside.isEmpty {
            warnings.append("absolute symlinks point outside the environment (kept as they are; they will point at the same place on the target machine): " + outside.joined(separator: ", "))
        }

        // Files whose size already shows a change fail before any output.
        let checks = fileChecks(tree, env: env, pip: pip)
        let changed = tree.compactMap { e -> String? in
            guard e.status.kind == .regular, let c = checks[e.path], c.sizeDiffers(e.status.size) else { return nil }
            return "\(e.path) (\(env.owner(of: e.path) ?? "?"))"
        }
        if !changed.isEmpty && !options.ignoreChangedFiles { throw EnvpackError.changedFiles(changed) }

        // --dest-prefix: find every prefix-bearing file first and plan its
        // edits, so a destination that cannot work fails before any output.
        var plans: [String: FilePlan] = [:]
        if let dest = options.destination, dest != spellings.effective {
            let found = try PrefixScanner.scan(root: env.prefix, prefix: spellings.effective, entries: tree)
            var relocator = Relocator(root: env.prefix, to: dest)
            relocator.requireWritable = false
            for plan in try relocator.plan(found).files { plans[plan.file.path] = plan }
            // The bytecode of a source rewritten here would keep the old
            // prefix (a same-length destination keeps the size): left out.
            let rewritten = Set(plans.keys.filter { $0.hasSuffix(".py") })
            if !rewritten.isEmpty { tree = tree.filter { bytecodeSource($0.path).map { !rewritten.contains($0) } ?? true } }
        }

        let clamp = options.mtime ?? defaultMtime(prefix: env.prefix)
        let output = try open()
        let threads = max(1, options.threads)
        let writer = try ArchiveWriter(fd: output.fd, format: options.format, level: options.compressLevel,
                                       threads: threads, displayPath: output.displayPath)
        do {
            let earlier = earlierPrefixes(env.prefix)
            let context = Context(env: env, prefix: spellings.effective, checks: checks, pip: pip,
                                  earlierPrefixes: (earlier + PrefixSpellings.historyPrefixes(prefix: env.prefix))
                                    .filter { $0 != spellings.effective }.uniqued(),
                                  manifestPrefixes: earlier,
                                  alternates: spellings.alternates,
                                  changedByEnvpack: changedByEnvpack(env.prefix),
                                  portable: options.destination == nil)
            var summary = try writeEntries(tree, context: context, plans: plans, helper: helper, clamp: clamp,
                                           writer: writer, options: options, outputName: output.displayPath,
                                           warnings: &warnings)
            try writer.finish()
            try output.commit()
            summary.warnings = warnings + summary.warnings
            summary.environment = loaded
            if !changed.isEmpty {
                summary.warnings.append("packed although files were changed since they were installed (--ignore-changed-files): " + changed.joined(separator: ", "))
            }
            return summary
        } catch {
            writer.abandon()
            throw error
        }
    }

    /// What the read of each managed file must show; files pip owns now
    /// are not conda's any more.
    static func fileChecks(_ tree: [TreeEntry], env: CondaEnvironment, pip: PipOwnership) -> [String: FileCheck] {
        var checks: [String: FileCheck] = [:]
        for e in tree where e.status.kind == .regular && pip.owner[e.path] == nil {
            if let m = env.managed[e.path], let c = FileCheck.expectation(path: e.path, managed: m) { checks[e.path] = c }
        }
        return checks
    }

    /// From the environment's own manifest (an earlier unpack or
    /// relocation by envpack): the prefixes it had before, oldest first.
    static func earlierPrefixes(_ prefix: String) -> [String] {
        guard let text = try? String(contentsOfFile: prefix + "/" + Manifest.relativePath, encoding: .utf8),
              let manifest = try? Manifest(parsing: text) else { return [] }
        return manifest.previousPrefixes + [manifest.prefix]
    }

    /// From the environment's own manifest: files envpack changed that hold
    /// no prefix now (an RPATH it rewrote, a `#!/usr/bin/env` line it wrote).
    static func changedByEnvpack(_ prefix: String) -> [String: PrefixFile] {
        guard let text = try? String(contentsOfFile: prefix + "/" + Manifest.relativePath, encoding: .utf8),
              let manifest = try? Manifest(parsing: text) else { return [:] }
        var result: [String: PrefixFile] = [:]
        for file in manifest.files where file.offsets.isEmpty { result[file.path] = file }
        return result
    }

    struct Context {
        var env: CondaEnvironment
        /// The prefix the files hold.
        var prefix: String
        var checks: [String: FileCheck]
        var pip: PipOwnership
        /// Where the environment was before (its manifest's prefixes, and
        /// conda-meta/history's), oldest first.
        var earlierPrefixes: [String]
        /// The earlier prefixes the environment's own manifest names.
        var manifestPrefixes: [String]
        /// Other spellings of the environment's path, looked for too.
        var alternates: [String]
        /// Files envpack changed that hold no prefix now.
        var changedByEnvpack: [String: PrefixFile] = [:]
        /// Whether RPATHs and shebangs are made location-independent
        /// (every pack but --dest-prefix).
        var portable = false
    }

    /// The default mtime clamp: when conda last changed the environment.
    static func defaultMtime(prefix: String) -> Int {
        FileStatus.lstat(prefix + "/conda-meta/history")?.mtime
            ?? FileStatus.lstat(prefix + "/conda-meta")?.mtime ?? 0
    }

    private static func writeEntries(_ tree: [TreeEntry], context: Context, plans: [String: FilePlan],
                                     helper: String?, clamp: Int,
                                     writer: ArchiveWriter, options: PackOptions,
                                     outputName: String, warnings: inout [String]) throws -> PackSummary {
        let env = context.env
        let root = options.arcroot.split(separator: "/").joined(separator: "/")
        func archivePath(_ path: String) -> String { root.isEmpty ? path : root + "/" + path }

        let fileCount = tree.filter { $0.status.kind == .regular && $0.hardlinkTarget == nil }.count
        let totalBytes = tree.reduce(0) { $0 + ($1.status.kind == .regular && $1.hardlinkTarget == nil ? $1.status.size : 0) }
        // Counted as the archive holds them (and as inspect counts them): the
        // environment's files, then the helper, the activation scripts and
        // the manifest, whose size is added once it is known.
        let scripts = ActivationScripts.files.filter { env.managed[$0.path] == nil }
        let helperSize = helper.flatMap { statFollowing($0)?.size } ?? 0
        let generatedFiles = (helper == nil ? 0 : 2) + scripts.count
        let generatedBytes = helperSize + scripts.reduce(0) { $0 + $1.contents.utf8.count }
        let progress = Progress(label: "packing", unit: "files", total: fileCount + generatedFiles,
                                totalBytes: totalBytes + generatedBytes,
                                handler: options.quiet ? nil : options.progress)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 4096)
        defer { buffer.deallocate() }

        var prefixFiles: [PrefixFile] = []
        var prefixFileIndex: [String: Int] = [:]
        var changed: [String] = []
        var bytesRead = 0
        let destPrefix = options.destination
        var fileBytes = 0

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
                // A file pip owns now is packed as an unmanaged one.
                let managed = context.pip.owner[entry.path] == nil ? env.managed[entry.path] : nil
                let result = try streamFile(entry, context: context, managed: managed, plan: plans[entry.path],
                                            prefix: destPrefix ?? context.prefix,
                                            mtime: mtime, archivePath: path,
                                            buffer: buffer, writer: writer, progress: progress)
                bytesRead += entry.status.size
                fileBytes += result.size
                // Sizes that already differed were named before any output.
                if result.changed && !(context.checks[entry.path]?.sizeDiffers(entry.status.size) ?? false) {
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
        // Every changed file is named, once the whole environment was read;
        // the archive is then abandoned (with -o -, cut short).
        if !changed.isEmpty && !options.ignoreChangedFiles { throw EnvpackError.changedFiles(changed) }
        var extra: [String] = []
        if !changed.isEmpty {
            extra.append("packed although files were changed since they were installed (--ignore-changed-files): " + changed.joined(separator: ", "))
        }

        // The helper, and conda-pack's name for it.
        if let helper {
            fileBytes += try writeHelper(helper, at: archivePath("bin/envpack-unpack"), mtime: clamp, writer: writer, buffer: buffer)
            try writer.begin(path: archivePath("bin/conda-unpack"), kind: .symlink(target: "envpack-unpack"),
                             mode: 0o777, mtime: clamp)
        }
        // Activation scripts, unless a package of the environment ships its own.
        for script in ActivationScripts.files where env.managed[script.path] == nil {
            let bytes = Array(script.contents.utf8)
            try writer.begin(path: archivePath(script.path), kind: .file(size: bytes.count), mode: 0o644, mtime: clamp)
            try bytes.withUnsafeBytes { try writer.write($0) }
        }

        var manifest = Manifest(
            prefix: destPrefix ?? context.prefix,
            packages: env.records.map { ManifestPackage(name: $0.name, version: $0.version, build: $0.build, channel: $0.channelName) },
            files: prefixFiles)
        // Earlier prefixes travel on, so a later hop can still check files
        // known only by their hash at the prefix conda installed them into.
        manifest.previousPrefixes = (context.manifestPrefixes + [context.prefix]).filter { $0 != manifest.prefix }.uniqued()
        let text = Array(manifest.serialized().utf8)
        try writer.begin(path: archivePath(generatedFolder), kind: .directory, mode: 0o755, mtime: clamp)
        try writer.begin(path: archivePath(Manifest.relativePath), kind: .file(size: text.count), mode: 0o644, mtime: clamp)
        try text.withUnsafeBytes { try writer.write($0) }
        progress.expect(moreBytes: text.count)
        progress.advance(files: generatedFiles, bytes: generatedBytes + text.count)
        progress.finish()
        let generated = 4 + scripts.count
        fileBytes += text.count + scripts.map { $0.contents.utf8.count }.reduce(0, +)
        var summary = PackSummary(output: outputName, entries: tree.count + generated, bytesRead: bytesRead,
                                  manifest: manifest, warnings: extra)
        summary.files = fileCount + generatedFiles
        summary.fileBytes = fileBytes
        return summary
    }

    /// Streams one regular file into the archive, checking it against its
    /// record (FileCheck) and looking for the prefix on the way.
    private static func streamFile(_ entry: TreeEntry, context: Context, managed: CondaEnvironment.ManagedPath?,
                                   plan: FilePlan?, prefix: String,
                                   mtime: Int, archivePath: String, buffer: UnsafeMutableRawBufferPointer,
                                   writer: ArchiveWriter, progress: Progress) throws -> (prefixFile: PrefixFile?, changed: Bool, size: Int) {
        let env = context.env
        let full = env.prefix + "/" + entry.path
        let fd = open(full, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw EnvpackError.unreadable(path: full, reason: errnoMessage()) }
        defer { close(fd) }
        posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL)

        let scan = PrefixScanner.isScanned(entry.path)
        // Without --dest-prefix: RPATHs to `$ORIGIN`, shebangs to launchers.
        let portable = plan == nil && scan && context.portable
            ? PortableEdits.plan(fd: fd, path: entry.path, display: full, size: entry.status.size, root: env.prefix,
                                 prefix: context.prefix,
                                 knownOld: context.earlierPrefixes + (managed?.entry.prefixPlaceholder.map { [$0] } ?? []))
            : PortableEdits()
        let edits = plan?.edits ?? portable.edits
        let size = entry.status.size + edits.reduce(0) { $0 + $1.replacement.count - $1.expected.count }
        try writer.begin(path: archivePath, kind: .file(size: size), mode: entry.status.mode, mtime: mtime)

        let check = managed == nil ? nil : context.checks[entry.path]
        var hasher = check?.rawHash != nil ? SHA256() : nil
        var replacing = check.flatMap { c in c.placeholderHash.map { _ in ReplacingHasher(needle: context.prefix, replacement: c.placeholder ?? "") } }
        var firstChunk = true
        var installHashers = check?.needsInstallPrefixHash == true
            ? context.earlierPrefixes.suffix(8).map { ReplacingHasher(needle: context.prefix, replacement: $0) } : []
        // Compiled python files hold source paths python fixes up itself on
        // import; rewriting them would only risk the move. conda-meta keeps
        // the history of the environment where it was built, as conda does.
        var detector = PrefixDetector(prefix: prefix, placeholder: plan == nil ? managed?.entry.prefixPlaceholder : nil)
        detector.knownOldPrefixes = context.earlierPrefixes
        // The other spelling of the path (through a symlink, or resolved),
        // which files installed through it hold.
        var alternates = scan ? context.alternates.map { StreamingMatcher(needle: Array($0.utf8)) } : []

        // One pass over the file: the hashes see the bytes on disk; the
        // archive and the prefix search see what goes into the archive (with
        // --dest-prefix, the relocated content; otherwise the same bytes).
        do {
            try streamEdited(fd: fd, size: entry.status.size, edits: edits, path: full, buffer: buffer,
                             input: { chunk in
                                 hasher?.update(bufferPointer: chunk)
                                 if firstChunk, replacing != nil, let undo = TrampolineUndo.originalLine(head: chunk,
                                        envShebang: context.changedByEnvpack[entry.path]?.originalShebang.map { context.prefix + $0 },
                                        scriptPath: entry.path, prefix: context.prefix) {
                                     // A trampoline envpack wrote: hash the line it replaced.
                                     undo.line.withUnsafeBytes { replacing?.update($0) }
                                     replacing?.update(UnsafeRawBufferPointer(rebasing: chunk[undo.consumed...]))
                                 } else {
                                     replacing?.update(chunk)
                                 }
                                 firstChunk = false
                                 for i in installHashers.indices { installHashers[i].update(chunk) }
                                 progress.advance(bytes: chunk.count) },
                             output: { try writer.write($0); if scan { detector.feed($0); for i in alternates.indices { alternates[i].feed($0) } } })
        } catch let error as FileIOError {
            throw EnvpackError.unreadable(path: full, reason: error.reason)
        }
        progress.advance(files: 1)

        let rawDigest = hasher.map { hexString($0.finalize()) }
        let replacedDigest = replacing?.finalize()
        let recordMode = PrefixScanner.recordMode(managed)
        var file: PrefixFile?
        do {
            // ELF details are read from the file on disk: with edits, its
            // layout (sections, RPATH offsets) is the same, only bytes differ.
            file = scan ? try detector.result(path: entry.path, absolutePath: full, recordMode: plan?.file.mode ?? recordMode, isManaged: managed != nil) : nil
        } catch {
            throw EnvpackError.malformedFile(path: full, reason: error.description)
        }
        let found = alternates.filter { !$0.offsets.isEmpty }.map { String(decoding: $0.needle, as: UTF8.self) }
        if let other = found.first {
            // Rare: read the file once more to describe it with that spelling.
            guard file == nil, plan == nil, found.count == 1 else {
                throw EnvpackError.invalidOption("\(full) holds both \(context.prefix) and \(other), two spellings of the environment's path; `envpack relocate \(context.prefix) --from \(other)` makes them one")
            }
            var again = PrefixDetector(prefix: other, placeholder: nil)
            do {
                try forEachChunk(of: full) { again.feed($0) }
                file = try again.result(path: entry.path, absolutePath: full, recordMode: recordMode, isManaged: managed != nil)
            } catch let error as FileIOError {
                throw EnvpackError.unreadable(path: full, reason: error.reason)
            } catch {
                throw EnvpackError.malformedFile(path: full, reason: "\(error)")
            }
        }
        if let plan, file?.mode == .binary {
            let offsets = Set(file?.offsets ?? [])
            file?.room = Relocator.room(after: plan.edits, old: plan.file.room).filter { offsets.contains($0.key) }
        }
        if plan == nil {
            file = PortableEdits.entry(file, path: entry.path, portable: portable, prefix: context.prefix,
                                       isManaged: managed != nil, earlier: context.changedByEnvpack[entry.path])
        }
        var changed = false
        if let check {
            let installDigests = installHashers.indices.map { installHashers[$0].finalize() }
            changed = !check.unchanged(size: entry.status.size, rawDigest: rawDigest, replacedDigest: replacedDigest,
                                       installPrefixDigests: installDigests, holdsPrefix: file != nil || plan != nil || !portable.isEmpty || context.changedByEnvpack[entry.path] != nil, isBinary: detector.isELF || file?.mode == .binary)
        }
        return (file, changed, size)
    }

    private static func writeHelper(_ helper: String, at path: String, mtime: Int, writer: ArchiveWriter,
                                    buffer: UnsafeMutableRawBufferPointer) throws -> Int {
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
        return Int(st.st_size)
    }
}

extension Array where Element: Hashable {
    /// The elements in order, each once.
    func uniqued() -> [Element] {
        var seen = Set<Element>()
        return filter { seen.insert($0).inserted }
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
