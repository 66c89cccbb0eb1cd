// `envpack install`: an environment from an explicit spec or lock file (wheels included), offline if need be.
import ArgumentParser
import Envpack
import Foundation

struct InstallCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "install",
        abstract: "Create an environment from an explicit spec or a lock file, without conda.",
        discussion: """
        Accepted inputs, told apart by their content: conda's explicit spec (conda list \
        --explicit --md5|--sha256, conda-lock render, or envpack export): package URLs (http, \
        https, file://) or paths, each optionally followed by #md5 or #sha256; a conda-lock \
        unified lock file (conda-lock.yml, version 1 or older), whose entries for --platform and \
        the main category (plus --category, or all with --with-optional) are installed, \
        dependencies first, with ${VAR} in URLs taken from the environment; a pixi.lock \
        (versions 4 to 7), environment --environment, paths relative to the lock file. \
        environment.yml, pixi.toml and other unlocked inputs need a solver: lock them with \
        conda-lock or pixi; source packages (pixi conda source packages, PyPI sdists) are refused.

        PyPI wheels (conda-lock pip entries, pixi pypi: entries, # pip NAME @ URL#sha256=HASH \
        lines) are installed after the conda packages, without pip: fetched through the same \
        cache (their sha256 is mandatory), checked against the environment's python and this \
        machine (python, abi and manylinux tags), refused unless every file matches the \
        wheel's RECORD, then unpacked into lib/pythonX.Y/site-packages (.data/ scripts into \
        bin/ with the environment's python, headers, data), with console and GUI entry points, \
        INSTALLER (envpack), RECORD and direct_url.json written as pip writes them.

        Every package is verified before use (a download larger than --max-package-size, or \
        than the length its server announced, is refused) and kept, with its \
        extracted form, in the package cache. Packages are hardlinked from the cache when it \
        shares the prefix's filesystem, else copied; files with a prefix placeholder are \
        written for PREFIX (text, binary with NUL padding, shebangs); noarch: python packages \
        go to lib/pythonX.Y/site-packages with their entry points in bin/. Records are written \
        as conda writes them. Everything is planned first and the environment is built beside \
        PREFIX and renamed into place: a failure leaves nothing at PREFIX.

        The package cache may be conda's own (--pkgs-dir or $CONDA_PKGS_DIRS): envpack \
        reuses conda's extracted packages when their info/repodata_record.json names the \
        same archive and every file matches info/paths.json, and never changes or removes \
        anything it did not create there; what it must extract anew goes beside conda's \
        entries, or into the cache's .envpack/ folder. Every extracted file is checked \
        against the package's own info/paths.json. Downloads give up on a server that does \
        not connect within --connect-timeout, or sends fewer than --low-speed-limit bytes a \
        second for --low-speed-time seconds.

        Examples:
          envpack install -f spec.txt -p /opt/myenv
          envpack install --offline -f bundle/spec.txt -p /opt/myenv
        """
    )

    @Option(name: [.customShort("f"), .customLong("file")], help: "The explicit spec, conda-lock.yml or pixi.lock.")
    var file: String

    @Option(help: ArgumentHelp("Lock files: the platform whose packages to install (default: this machine's; another one needs --force).", valueName: "PLATFORM"))
    var platform: String?

    @Option(name: .customLong("category"), help: ArgumentHelp("conda-lock: also install this category besides main (repeatable).", valueName: "NAME"))
    var categories: [String] = []

    @Flag(help: "conda-lock: install every optional category.")
    var withOptional = false

    @Option(name: [.customShort("e"), .customLong("environment")], help: "pixi.lock: the environment to install.")
    var environment = "default"

    @Option(name: .shortAndLong, help: "Where to create the environment.")
    var prefix: String

    @Option(help: "The package cache (default: $CONDA_PKGS_DIRS, else ~/.cache/envpack/pkgs).")
    var pkgsDir: String?

    @Flag(help: "Never use the network; a package not in the cache is an error naming it.")
    var offline = false

    @Flag(help: "Copy files instead of hardlinking them from the cache.")
    var copy = false

    @Flag(help: "Replace PREFIX when it is a conda environment (a folder with conda-meta/; anything else is refused), exchanged only when the new one is complete; install a spec for another platform.")
    var force = false

    @Flag(help: "Byte-compile noarch python packages and wheels with the environment's python.")
    var compilePyc = false

    @Flag(help: "Run the packages' post-link scripts (listed, not run, by default).")
    var runLinkScripts = false

    @Flag(name: .shortAndLong, help: "No progress display and no summary.")
    var quiet = false

    @Option(help: ArgumentHelp("Give up connecting to a server after this many seconds.", valueName: "SECONDS"))
    var connectTimeout = DownloadLimits().connectTimeout

    @Option(help: ArgumentHelp("With --low-speed-time: give up on a download slower than this many bytes a second (0: never).", valueName: "BYTES"))
    var lowSpeedLimit = DownloadLimits().lowSpeedLimit

    @Option(help: ArgumentHelp("... for this many seconds in a row (also the longest silence allowed). Each package is tried 3 times.", valueName: "SECONDS"))
    var lowSpeedTime = DownloadLimits().lowSpeedTime

    @Option(help: ArgumentHelp("Refuse a download larger than this (bytes, or with K, M, G, T: powers of 1024). A server that announces more is refused before any byte is written.", valueName: "SIZE"))
    var maxPackageSize = "\(DownloadLimits.defaultMaxPackageSize >> 30)G"

    func validate() throws {
        if let platform, platform.isEmpty || platform.count > 64 || platform.contains("/") { throw ValidationError("--platform must be a conda platform such as linux-64") }
        guard (1...3600).contains(connectTimeout) else { throw ValidationError("--connect-timeout must be 1 to 3600 seconds") }
        guard (0...(1 << 30)).contains(lowSpeedLimit) else { throw ValidationError("--low-speed-limit must be 0 to 1073741824 bytes a second") }
        guard (1...3600).contains(lowSpeedTime) else { throw ValidationError("--low-speed-time must be 1 to 3600 seconds") }
        guard let size = DownloadLimits.parseSize(maxPackageSize), size > 0 else {
            throw ValidationError("--max-package-size must be a size from 1 byte to 1024T (e.g. 500M, 8G), not \(maxPackageSize)")
        }
    }

    func run() throws {
        var options = InstallOptions(specPath: file, prefix: prefix)
        if let pkgsDir { options.pkgsDir = pkgsDir }
        options.offline = offline
        options.copy = copy
        options.force = force
        options.compilePyc = compilePyc
        options.runLinkScripts = runLinkScripts
        options.quiet = quiet
        options.progress = TerminalProgress.standardError()
        options.downloadLimits.connectTimeout = connectTimeout
        options.downloadLimits.lowSpeedLimit = lowSpeedLimit
        options.downloadLimits.lowSpeedTime = lowSpeedTime
        options.downloadLimits.maxPackageSize = DownloadLimits.parseSize(maxPackageSize) ?? DownloadLimits.defaultMaxPackageSize
        options.lock.platform = platform
        options.lock.categories = categories
        options.lock.withOptional = withOptional
        options.lock.environment = environment
        options.commandLine = (["envpack"] + CommandLine.arguments.dropFirst()).joined(separator: " ")
        let summary = try Installer.install(options) { line in
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
        if !quiet {
            let wheels = summary.wheels > 0 ? " and \(summary.wheels) PyPI wheels" : ""
            FileHandle.standardError.write(Data("installed \(summary.packages) packages\(wheels) (\(summary.files) files) into \(summary.prefix)\n".utf8))
        }
    }
}
