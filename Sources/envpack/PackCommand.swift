// `envpack pack`: the flags conda-pack users know.
import ArgumentParser
import Envpack
import Foundation

struct PackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pack",
        abstract: "Pack a conda environment into an archive.",
        discussion: """
        Every file is checked against the environment's conda-meta records first: missing \
        managed files, files changed since conda installed them and editable pip installs \
        stop the pack with the names of the packages and files. Prefix-bearing files (text, \
        binary, shebang scripts, ELF RPATH/RUNPATH) are recorded in \
        conda-meta/envpack/manifest.tsv inside the archive.

        The archive is written under a temporary name and renamed when complete, so a \
        failure leaves no file. With -o - it streams to standard output. The same \
        environment always gives a byte-identical archive: entries are sorted, owners are \
        root, and every time is clamped to that of conda-meta/history (or --mtime).
        """
    )

    @Option(name: .shortAndLong, help: "The name of the environment to pack.")
    var name: String?

    @Option(name: .shortAndLong, help: "The path of the environment to pack.")
    var prefix: String?

    @Option(name: .shortAndLong, help: "Output file, or - for standard output. Default: <env name>.<format>.")
    var output: String?

    @Option(help: "Archive format: infer (from the output name), tar.zst, tar.gz, tgz, tar.bz2, tbz2, tar.xz, txz, tar or zip.")
    var format: String = "infer"

    @Option(help: "A folder inside the archive to hold the environment.")
    var arcroot: String = ""

    @Option(help: "Rewrite prefixes to this path at pack time (needs the relocation engine; not in this version).")
    var destPrefix: String?

    @Option(parsing: .singleValue, help: ArgumentHelp("Exclude files matching this pattern (repeatable; with --include, applied in order).", valueName: "pattern"))
    var exclude: [String] = []

    @Option(parsing: .singleValue, help: ArgumentHelp("Add back files matching this pattern (repeatable).", valueName: "pattern"))
    var include: [String] = []

    @Option(name: [.customShort("j"), .customLong("n-threads")], help: "Compression threads (zstd, xz, gzip); -1 for all cores.")
    var threads: Int = -1

    @Option(help: "Compression level (zstd 1-19, default 3; gzip/bzip2/xz/zip 0-9).")
    var compressLevel: Int?

    @Option(help: "Clamp every entry's time to this (seconds since 1970). Default: conda-meta/history's time.")
    var mtime: Int?

    @Flag(help: "Pack even if files managed by conda are missing.")
    var ignoreMissingFiles = false

    @Flag(help: "Pack even if the environment holds editable (development) pip installs.")
    var ignoreEditablePackages = false

    @Flag(help: "Overwrite the output file if it exists.")
    var force = false

    @Flag(name: .shortAndLong, help: "No progress display and no summary.")
    var quiet = false

    mutating func run() throws {
        let prefix: String
        switch (name, self.prefix) {
        case (nil, nil):
            guard let active = ProcessInfo.processInfo.environment["CONDA_PREFIX"], !active.isEmpty else {
                throw ValidationError("name the environment with -n NAME or -p PREFIX (no environment is active)")
            }
            prefix = active
        case (let n?, nil): prefix = try EnvironmentLocator.prefix(named: n)
        case (nil, let p?): prefix = p
        case (_?, _?): throw ValidationError("give -n/--name or -p/--prefix, not both")
        }
        let envName = (absolutePath(prefix) as NSString).lastPathComponent

        let format: ArchiveFormat
        if self.format == "infer" {
            if let output, output != "-" {
                guard let inferred = ArchiveFormat.infer(fromFileName: output) else {
                    throw EnvpackError.invalidOption("cannot infer the format from '\(output)': name it .tar.zst, .tar.gz, .tgz, .tar.bz2, .tbz2, .tar.xz, .txz, .tar or .zip, or pass --format")
                }
                format = inferred
            } else {
                format = .tarZstd
            }
        } else {
            format = try ArchiveFormat(name: self.format)
        }

        var options = PackOptions(prefix: prefix, output: output ?? "\(envName).\(format.fileExtension)", format: format)
        options.arcroot = arcroot
        options.destPrefix = destPrefix
        options.force = force
        options.quiet = quiet
        options.compressLevel = compressLevel
        options.threads = threads <= 0 ? ProcessInfo.processInfo.activeProcessorCount : threads
        options.ignoreMissingFiles = ignoreMissingFiles
        options.ignoreEditablePackages = ignoreEditablePackages
        options.mtime = mtime
        options.filter = PathFilter(rules: try orderedFilterRules())

        let summary = try Packer.pack(options)
        if !quiet {
            let m = summary.manifest
            let line = "packed \(m.packages.count) packages, \(summary.entries) entries (\(formatBytes(summary.bytesRead))), \(m.files.count) prefix-bearing files into \(summary.output)\n"
            FileHandle.standardError.write(line.data(using: .utf8)!)
        }
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
