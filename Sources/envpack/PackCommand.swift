// `envpack pack`: the flags conda-pack users know.
import ArgumentParser
import Envpack
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct PackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pack",
        abstract: "Pack a conda environment into an archive.",
        usage: """
        envpack pack [-n <name> | -p <path>] [-o <path>] [--format <format>] [-d <path>] [--arcroot <path>]
                     [--exclude <pattern> ...] [--include <pattern> ...] [-j <n>] [--compress-level <level>]
                     [--mtime <seconds>] [--zip-symlinks] [--no-zip-64] [--ignore-missing-files]
                     [--ignore-changed-files] [--ignore-editable-packages] [-f] [-q] [--json]
        """,
        discussion: """
        Every file is checked against the environment's conda-meta records first: missing \
        managed files, files changed since conda installed them and editable pip installs \
        stop the pack with the names of the packages and files. Text files holding the \
        prefix are hashed with the prefix put back to the package's placeholder, binary ones \
        checked by size, others by sha256; compiled python files (.pyc) are never checked. \
        Files a pip distribution's RECORD owns now are packed as unmanaged files, with a \
        warning. Prefix-bearing files (text, binary, shebang scripts, ELF RPATH/RUNPATH) are \
        recorded in conda-meta/envpack/manifest.tsv inside the archive.

        The prefix looked for is the one the files hold: -p LINK and envs folders reached \
        through symlinks are resolved, and an environment copied by hand (cp -a) and never \
        relocated is packed with the prefix its files name, with a warning.

        Left out, as conda-pack does, at the top of the environment: pkgs/, envs/, \
        conda-bld/, conda-recipes/, .conda_lock, users/, .index, .unionfs, .nonadmin, \
        python.app, Launcher.app and names ending in ~ or .DS_STORE (a base install's package \
        cache and other environments). --include brings any of it back, e.g. \
        --include 'pkgs/*'. Absolute symlinks pointing outside the environment are kept and \
        named in a warning.

        The archive is written under a temporary name and renamed when complete, so a \
        failure leaves no file. With -o - it streams to standard output. The same \
        environment always gives a byte-identical archive: entries are sorted, owners are \
        root, and every time is clamped to that of conda-meta/history (or --mtime).

        Examples:
          envpack pack -n myenv                   # writes myenv.tar.zst
          envpack pack -p /opt/env -o env.tar.gz -j -1
          envpack pack -n myenv -o - | ssh host envpack unpack - /opt/myenv
          envpack pack -p /opt/env --format no-archive -o /stage/env -d /opt/env
        """
    )

    @Option(name: .shortAndLong, help: ArgumentHelp("The name of the environment to pack (asks conda info --json when conda is at $CONDA_EXE or on PATH, else ~/.conda/environments.txt and the usual envs folders).", valueName: "name"))
    var name: String?

    @Option(name: .shortAndLong, help: ArgumentHelp("The path of the environment to pack. Default: the active environment ($CONDA_PREFIX).", valueName: "path"))
    var prefix: String?

    @Option(name: .shortAndLong, help: ArgumentHelp("Output file (a folder for no-archive), or - for standard output. A character device or named pipe (-o /dev/null) is written to as a stream. Default: <env name>.<format>.", valueName: "path"))
    var output: String?

    @Option(help: ArgumentHelp("""
        infer (the default: from the output name; tar.zst when there is none), tar.zst (tzst), \
        tar.gz (tgz), tar.bz2 (tbz2), tar.xz (txz), tar, zip, no-archive (a plain folder), \
        squashfs (an image, through mksquashfs from squashfs-tools), or sh (a self-extracting \
        installer: `sh ENV.sh DEST` needs only sh, dd and mktemp on the target; inferred from .sh). tar.zst is envpack's default, \
        where conda-pack's is tar.gz: it packs and unpacks several times faster on all cores and \
        is smaller. Unpack it without envpack with tar --zstd -xf.
        """, valueName: "format"))
    var format: String = "infer"

    @Option(help: ArgumentHelp("A relative folder inside the archive to hold the environment (no '..'). Default: none, the environment is the archive's top.", valueName: "path"))
    var arcroot: String = ""

    @Option(name: [.customShort("d"), .customLong("dest-prefix")], help: ArgumentHelp("""
        Rewrite prefixes to this path at pack time, so the archive runs where it is unpacked \
        with no unpack step (a destination that cannot fit is refused before any output). A \
        relative path (-d ./env, as in conda-pack's Spark recipes) is kept relative: programs \
        then find the environment relative to their working directory.
        """, valueName: "path"))
    var destPrefix: String?

    @Option(parsing: .singleValue, help: ArgumentHelp("Leave out files matching this pattern: a shell pattern on the path relative to the environment, where * also matches / (e.g. 'lib/*.a', '*.pyc'). Repeatable; with --include, applied in the order given.", valueName: "pattern"))
    var exclude: [String] = []

    @Option(parsing: .singleValue, help: ArgumentHelp("Add back files matching this pattern (as --exclude; repeatable).", valueName: "pattern"))
    var include: [String] = []

    @Option(name: [.customShort("j"), .customLong("n-threads")], parsing: .unconditional, help: ArgumentHelp("Compression threads (tar.zst, tar.gz, tar.xz, squashfs; tar.gz gives the same bytes for any -j); -1 (the default) for all cores. 0 is an error.", valueName: "n"))
    var threads: Int = -1

    @Option(parsing: .unconditional, help: ArgumentHelp("""
        Compression level: tar.zst 1-19 (default 3); tar.gz and zip 0-9 (default 4, as conda-pack); \
        tar.bz2 0-9 (default 9); tar.xz 0-9 (default 6); squashfs (zstd) 1-19 (default 3); -1 for \
        the format's default. tar and no-archive are not compressed.
        """, valueName: "level"))
    var compressLevel: Int?

    @Option(help: ArgumentHelp("Clamp every entry's time to this (seconds since 1970). Default: the time of conda-meta/history.", valueName: "seconds"))
    var mtime: Int?

    @Flag(help: "zip: store symbolic links as links (conda-pack's option; envpack's zip always does, so this changes nothing). Ignored for other formats.")
    var zipSymlinks = false

    @Flag(name: .customLong("no-zip-64"), help: "zip: no ZIP64 extensions, for old unzip tools; an environment that needs them (over 65535 entries or 4 GiB) is refused before any output.")
    var noZip64 = false

    @Flag(help: "Pack even if files managed by conda are missing.")
    var ignoreMissingFiles = false

    @Flag(help: "Pack even if files managed by conda were changed since they were installed (with a warning).")
    var ignoreChangedFiles = false

    @Flag(help: "Pack even if the environment holds editable (development) pip installs.")
    var ignoreEditablePackages = false

    @Flag(name: .shortAndLong, help: "Overwrite an existing output (a no-archive folder only when it is an environment), and create the output's folder when missing.")
    var force = false

    @Flag(name: .shortAndLong, help: "No progress display and no summary.")
    var quiet = false

    @Flag(help: "Print the summary as JSON on standard output (format: docs/json.md), for scripts.")
    var json = false

    mutating func run() throws {
        let options = try Self.validated { try makeOptions() }
        let summary = try Packer.pack(options)
        for warning in summary.warnings + PackReport.limitWarnings(summary.manifest) {
            FileHandle.standardError.write("envpack: warning: \(warning)\n".data(using: .utf8)!)
        }
        if json {
            print(JSONReport.pack(summary, options: options))
        } else if !quiet {
            let m = summary.manifest
            var text = "packed \(m.packages.count) packages, \(summary.entries) entries (\(summary.files) files, \(formatBytes(summary.fileBytes)) of file data), \(m.files.count) prefix-bearing files into \(summary.output)\n"
            if !Self.isStream(summary.output) {
                text += PackReport.extractHint(options: options, output: summary.output, manifest: m)
            }
            FileHandle.standardError.write(text.data(using: .utf8)!)
        }
    }

    /// The command line as PackOptions; every usage error exits 64.
    private func makeOptions() throws -> PackOptions {
        let prefix = try environmentPrefix(name: name, prefix: self.prefix)
        if json, let output, output == "-" || ["/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"].contains(absolutePath(output)) {
            throw ValidationError("--json prints the summary on standard output, which -o - uses for the archive: give -o FILE")
        }
        let envName = (absolutePath(prefix) as NSString).lastPathComponent

        var layout = PackLayout.archive
        let format: ArchiveFormat
        switch self.format.lowercased() {
        case "infer":
            if let output, output != "-" {
                if Self.isStream(output) || ["/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"].contains(absolutePath(output)) {
                    // -o /dev/null, -o FIFO, -o /dev/stdout: a stream, as -o - is.
                    format = .tarZstd
                    break
                }
                if output.lowercased().hasSuffix(".sh") {
                    layout = .selfExtracting
                    format = .tarZstd
                    break
                }
                guard let inferred = ArchiveFormat.infer(fromFileName: output) else {
                    throw ValidationError("cannot infer the format from '\(output)': name it .tar.zst, .tar.gz, .tgz, .tar.bz2, .tbz2, .tar.xz, .txz, .tar, .zip or .sh, or pass --format (no-archive and squashfs are never inferred)")
                }
                format = inferred
            } else {
                format = .tarZstd
            }
        case "no-archive":
            layout = .folder
            format = .tar
        case "squashfs":
            layout = .squashfs
            format = .tar
        case "sh":
            layout = .selfExtracting
            format = .tarZstd
        case "parcel":
            throw ValidationError("--format parcel (Cloudera CDH parcels) is not supported: envpack writes archives for any path; pack a tar.gz with --arcroot NAME and --dest-prefix for a parcel layout")
        default:
            do { format = try ArchiveFormat(name: self.format) } catch {
                throw ValidationError("\(error) (or no-archive, squashfs, sh)")
            }
        }
        let defaultName: String
        switch layout {
        case .archive: defaultName = "\(envName).\(format.fileExtension)"
        case .folder: defaultName = envName
        case .squashfs: defaultName = "\(envName).squashfs"
        case .selfExtracting: defaultName = "\(envName).sh"
        }

        var options = PackOptions(prefix: prefix, output: output ?? defaultName, format: format)
        options.layout = layout
        options.arcroot = arcroot
        options.destPrefix = destPrefix
        options.force = force
        options.quiet = quiet || json
        options.progress = TerminalProgress.standardError()
        options.compressLevel = compressLevel == -1 ? nil : compressLevel
        options.threads = try threadCount(threads)
        options.zip64 = !noZip64
        options.ignoreMissingFiles = ignoreMissingFiles
        options.ignoreEditablePackages = ignoreEditablePackages
        options.ignoreChangedFiles = ignoreChangedFiles
        options.mtime = mtime
        options.filter = PathFilter(rules: try orderedFilterRules())
        do { try options.validate() } catch let error as EnvpackError { throw ValidationError(error.description) }
        return options
    }

    /// An existing character device or named pipe.
    static func isStream(_ path: String) -> Bool {
        var st = stat()
        guard stat(path, &st) == 0 else { return false }
        return (st.st_mode & S_IFMT) == S_IFCHR || (st.st_mode & S_IFMT) == S_IFIFO
    }

    /// --exclude and --include in the order they were given on the command
    /// line, which ArgumentParser does not keep across two options.
    private func orderedFilterRules() throws -> [PathFilter.Rule] {
        var rules: [PathFilter.Rule] = []
        var excludes = exclude[...], includes = include[...]
        let args = Array(CommandLine.arguments.dropFirst())
        var i = 0
        while i < args.count {
            let arg = args[i]
            let isExclude = arg == "--exclude" || arg.hasPrefix("--exclude=")
            let isInclude = arg == "--include" || arg.hasPrefix("--include=")
            if isExclude, let p = excludes.popFirst() { rules.append(.exclude(p)) }
            if isInclude, let p = includes.popFirst() { rules.append(.include(p)) }
            if (isExclude || isInclude) && !arg.contains("=") { i += 1 }
            i += 1
        }
        rules += excludes.map { .exclude($0) } + includes.map { .include($0) }
        return rules
    }
}
