// `envpack install`: a conda environment from an explicit spec, without
// conda. Packages are fetched and verified, extracted into the package cache,
// and linked into a staging folder beside the prefix: hardlinks where the
// cache shares the filesystem, copies otherwise, and files with a prefix
// placeholder written through the relocation engine. Records are written as
// conda writes them. Every edit is planned (and every clobber and too-long
// prefix found) before the first file is linked, and only a complete
// environment is renamed to PREFIX: a failure leaves nothing there. PyPI
// wheels a lock names go in after the conda packages (WheelInstaller), into
// the same staging folder.
import Crypto
import EnvpackRelocation
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public struct InstallOptions: Sendable {
    public var specPath: String
    public var prefix: String
    public var pkgsDir: String = PackageCache.defaultDirectory()
    public var offline = false
    public var copy = false
    public var force = false
    public var compilePyc = false
    public var runLinkScripts = false
    public var quiet = false
    /// Where fetch progress goes (the CLI draws it on standard error); none
    /// by default, and none when `quiet`.
    public var progress: ProgressHandler? = nil
    /// Connect timeout and low-speed limit of downloads.
    public var downloadLimits = DownloadLimits()
    /// The command line, for conda-meta/history.
    public var commandLine = "envpack install"
    /// Which part of a lock file to install (platform, categories, environment).
    public var lock = LockSelection()

    public init(specPath: String, prefix: String) {
        self.specPath = specPath
        self.prefix = prefix
    }
}

public struct InstallSummary: Sendable {
    public var prefix: String
    public var packages: Int
    public var files: Int
    /// "path: first-package -> later-package" for paths two packages wrote.
    public var clobbered: [String]
    public var linkScripts: [String]
    /// PyPI wheels installed after the conda packages.
    public var wheels = 0
}

public enum Installer {
    public static func install(_ options: InstallOptions, log: @escaping (String) -> Void = { _ in }) throws -> InstallSummary {
        let prefix = absolutePath(options.prefix)
        let spec = try ExplicitSpec.load(path: options.specPath, selection: options.lock)
        if let platform = spec.platform, platform != ExplicitSpec.currentPlatform, !options.force {
            throw EnvpackError.invalidOption("\(options.specPath) is for \(platform), this machine is \(ExplicitSpec.currentPlatform) (use --force to install anyway)")
        }
        guard !spec.entries.isEmpty else { throw EnvpackError.malformedFile(path: options.specPath, reason: "no packages") }
        // A package named twice is fetched and extracted once (or the two
        // lines contradict each other: an error naming both).
        let (entries, dropped) = try spec.deduplicated(specPath: options.specPath)
        for (line, kept) in dropped {
            log("note: spec line \(line.line) repeats line \(kept.line) (\(line.distName)); installing it once")
        }
        // Checked before anything is fetched; the staging folder comes later.
        _ = try StagedFolder.check(destination: prefix, force: options.force)

        let wheels = try WheelChecks.deduplicated(spec.wheels, specPath: options.specPath, log: log)

        // Fetch, verify and extract, holding the cache lock.
        let cache = try PackageCache(directory: options.pkgsDir)
        let progress = Progress(label: "fetching", unit: "files", total: entries.count + wheels.count, totalBytes: nil,
                                handler: options.quiet ? nil : options.progress)
        let (packages, fetchedWheels): ([(FetchedPackage, PackageContents)], [FetchedPackage]) = try cache.withLock {
            for path in cache.reclaimLeftovers() { log("note: removed \(path), left by an envpack run that was killed") }
            let fetched = try cache.fetch(entries, offline: options.offline, limits: options.downloadLimits, progress: progress)
            let fetchedWheels = try cache.fetch(wheels.map(\.spec), offline: options.offline, limits: options.downloadLimits, progress: progress)
            return (Array(zip(fetched, try cache.contents(of: fetched, log: log))), fetchedWheels)
        }
        progress.finish()

        let plan = try InstallPlan.make(packages: packages, prefix: prefix)
        let pythonRelease = plan.packages.first { $0.contents.name == "python" }?.contents.version
        try WheelChecks.checkTags(wheels, pythonVersion: pythonRelease, platform: spec.platform ?? ExplicitSpec.currentPlatform,
                                  specPath: options.specPath)
        // Said once the packages are known to be usable (a refusal stays one line).
        for entry in entries where entry.md5 == nil && entry.sha256 == nil {
            log("warning: spec line \(entry.line) (\(entry.location)) has no md5 or sha256: only the package's own file hashes (info/paths.json) protect it")
        }
        for clobber in plan.clobbered { log("warning: \(clobber) (the later package wins, as in conda)") }
        for script in plan.linkScripts where !options.runLinkScripts { log("note: link script \(script) not run (use --run-link-scripts)") }

        Interruption.watch()
        let folder = try StagedFolder(destination: prefix, kind: "install", force: options.force)
        let staging = folder.staging
        do {
            var files = try Linker(staging: staging, prefix: prefix, copy: options.copy).link(plan)
            if options.compilePyc { try compilePyc(plan, staging: staging) }
            // PyPI wheels after the conda packages.
            if let version = plan.pythonVersion, !wheels.isEmpty {
                var placer = WheelInstaller(staging: staging, prefix: prefix, pythonVersion: version, owner: plan.owner)
                var installed: [InstalledWheel] = []
                for (i, (wheel, fetched)) in zip(wheels, fetchedWheels).enumerated() {
                    installed.append(try placer.install(wheel, archive: fetched.archivePath, index: i))
                }
                try placer.removeScratch()
                for clobber in placer.clobbered { log("warning: \(clobber) (the later package wins, as in conda)") }
                for wheel in installed {
                    let pycs = options.compilePyc ? try compileWheel(wheel, pythonVersion: version, staging: staging, prefix: prefix) : []
                    try placer.finish(wheel, pycs: pycs)
                    files += wheel.rows.count + pycs.count + 1
                }
            }
            try writeHistory(plan, staging: staging, command: options.commandLine)
            try Interruption.check()
            try folder.commit()
            if options.runLinkScripts {
                // Link scripts need the real prefix; if one fails, the new
                // environment goes and the previous one (if any) comes back.
                do { try runLinkScripts(plan, prefix: prefix) } catch {
                    try folder.undoCommit()
                    throw error
                }
            }
            folder.finish()
            return InstallSummary(prefix: prefix, packages: plan.packages.count, files: files,
                                  clobbered: plan.clobbered, linkScripts: plan.linkScripts, wheels: wheels.count)
        } catch {
            folder.discard()
            throw error
        }
    }

    static func writeHistory(_ plan: InstallPlan, staging: String, command: String) throws {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        formatter.locale = Locale(identifier: "en_US_POSIX")
        var text = "==> \(formatter.string(from: Date())) <==\n# cmd: \(command)\n# envpack version: \(envpackVersion)\n"
        for p in plan.packages { text += "+\(p.channel)::\(p.contents.name)-\(p.contents.version)-\(p.contents.build)\n" }
        try text.write(toFile: staging + "/conda-meta/history", atomically: true, encoding: .utf8)
    }

    /// Byte-compiles the noarch python sources with the environment's python,
    /// recording the .pyc files as conda does.
    static func compilePyc(_ plan: InstallPlan, staging: String) throws {
        guard let version = plan.pythonVersion else { return }
        let sources = plan.packages.flatMap { p in p.isNoarchPython ? p.files.filter { $0.hasSuffix(".py") } : [] }
        guard !sources.isEmpty else { return }
        try compileAll(sources, pythonVersion: version, staging: staging, prefix: plan.prefix)
        // Add the .pyc files to each noarch record.
        for p in plan.packages where p.isNoarchPython {
            let pycs = compiled(p.files.filter { $0.hasSuffix(".py") }, pythonVersion: version, staging: staging)
            try RecordWriter.addPyc(pycs, toRecordOf: p, staging: staging)
        }
    }

    /// Byte-compiles a wheel's python files; returns the .pyc files made.
    static func compileWheel(_ wheel: InstalledWheel, pythonVersion: String, staging: String, prefix: String) throws -> [String] {
        guard !wheel.pythonSources.isEmpty else { return [] }
        try compileAll(wheel.pythonSources, pythonVersion: pythonVersion, staging: staging, prefix: prefix)
        return compiled(wheel.pythonSources, pythonVersion: pythonVersion, staging: staging)
    }

    /// Runs the environment's `compileall` on prefix-relative sources, with
    /// the final prefix as the path the .pyc files record.
    static func compileAll(_ sources: [String], pythonVersion: String, staging: String, prefix: String) throws {
        let python = staging + "/bin/python" + pythonVersion
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-Wi", "-m", "compileall", "-q", "-j", "0", "-s", staging, "-p", prefix] + sources.map { staging + "/" + $0 }
        try process.runUnblocked()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw EnvpackError.invalidOption("compiling python files with \(python) failed (exit \(process.terminationStatus))")
        }
    }

    /// The .pyc files compileall made for `sources` (those that exist).
    static func compiled(_ sources: [String], pythonVersion: String, staging: String) -> [String] {
        let tag = "cpython-" + pythonVersion.replacingOccurrences(of: ".", with: "")
        return sources.map { source -> String in
            let dir = (source as NSString).deletingLastPathComponent
            let stem = ((source as NSString).lastPathComponent as NSString).deletingPathExtension
            return dir + "/__pycache__/" + stem + "." + tag + ".pyc"
        }.filter { FileManager.default.fileExists(atPath: staging + "/" + $0) }
    }

    static func runLinkScripts(_ plan: InstallPlan, prefix: String) throws {
        for p in plan.packages {
            for script in p.contents.linkScripts where script.hasSuffix("-post-link.sh") {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/bin/bash")
                process.arguments = [prefix + "/" + script]
                var env = ProcessInfo.processInfo.environment
                env["PREFIX"] = prefix
                env["PKG_NAME"] = p.contents.name
                env["PKG_VERSION"] = p.contents.version
                env["PKG_BUILDNUM"] = "\(p.contents.index["build_number"]?.int ?? 0)"
                process.environment = env
                try process.runUnblocked()
                process.waitUntilExit()
                guard process.terminationStatus == 0 else {
                    throw EnvpackError.invalidOption("link script \(script) of \(p.distName) failed (exit \(process.terminationStatus))")
                }
            }
        }
    }
}
