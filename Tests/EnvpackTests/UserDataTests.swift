// Nothing of the user's is lost and nothing of envpack's is left behind:
// --force replaces only empty folders and environments, kill -9 at random
// points leaves leftovers the next run reclaims (and a live run's folder is
// never touched), a cut --force swap is restored or finished, SIGHUP cleans
// up like SIGINT, and a destination name of 250 bytes works.
import Foundation
import Testing
@testable import Envpack

enum UserDataSupport {
    /// A small, deterministic random source (SplitMix64) for reproducible trials.
    struct Seeded: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static func pack(_ env: String, _ archive: String) throws {
        let r = try TestSupport.envpack(["pack", "-q", "-p", env, "-o", archive])
        try #require(r.status == 0, "\(r.stderr)")
    }

    /// envpack with extra environment variables.
    static func envpack(_ arguments: [String], env extra: [String: String] = [:], cwd: String? = nil) throws -> TestSupport.Result {
        var environment = ProcessInfo.processInfo.environment
        for (k, v) in extra { environment[k] = v }
        if let cwd {
            let quoted = ([TestSupport.envpackBinary] + arguments).map { "'\($0)'" }.joined(separator: " ")
            return try TestSupport.run("/bin/sh", ["-c", "cd '\(cwd)' && exec \(quoted)"], environment: environment)
        }
        return try TestSupport.run(TestSupport.envpackBinary, arguments, environment: environment)
    }

    /// Every entry under `root`: path, inode, type, link target, and the
    /// contents' sha256 for files.
    static func snapshot(_ root: String) throws -> String {
        let r = try TestSupport.run("/bin/sh", ["-c", "cd '\(root)' && find . -printf '%p %i %y %l %m\\n' | sort && find . -type f -exec sha256sum {} + | sort"])
        try #require(r.status == 0, "\(r.stderr)")
        return String(decoding: r.stdout, as: UTF8.self)
    }

    /// Names in `dir` that envpack's staging or swapping left.
    static func leftovers(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.contains("envpack-") }
    }

    /// A package with one text file holding its build prefix and one plain
    /// file: relocatable to any path length. Returns the spec.
    static func tinyPackage(_ dir: String) throws -> String {
        let script = """
        import io, json, tarfile, sys, hashlib
        path = sys.argv[1]
        placeholder = "/opt/anaconda1anaconda2anaconda3"
        t = tarfile.open(path, "w:bz2")
        def add(n, data, mode=0o644):
            i = tarfile.TarInfo(n); i.size = len(data); i.mode = mode; t.addfile(i, io.BytesIO(data))
        conf = ("home=" + placeholder + "/share/tiny\\n").encode()
        plain = b"plain\\n"
        add("info/index.json", json.dumps({"name": "tiny", "version": "1", "build": "0", "build_number": 0, "subdir": "linux-64"}).encode())
        add("info/paths.json", json.dumps({"paths_version": 1, "paths": [
            {"_path": "etc/tiny.conf", "path_type": "hardlink", "file_mode": "text", "prefix_placeholder": placeholder,
             "sha256": hashlib.sha256(conf).hexdigest(), "size_in_bytes": len(conf)},
            {"_path": "share/tiny/plain.txt", "path_type": "hardlink",
             "sha256": hashlib.sha256(plain).hexdigest(), "size_in_bytes": len(plain)}]}).encode())
        add("info/has_prefix", (placeholder + " text etc/tiny.conf\\n").encode())
        add("etc/tiny.conf", conf)
        add("share/tiny/plain.txt", plain)
        t.close()
        """
        let file = dir + "/tiny-1-0.tar.bz2"
        let r = try TestSupport.run("/usr/bin/python3", ["-c", script, file])
        try #require(r.status == 0, "\(r.stderr)")
        return "# platform: linux-64\n@EXPLICIT\n\(file)#\(try TestSupport.sha256(file))\n"
    }

    static func install(_ spec: String, dir: String, prefix: String, extra: [String] = [], env: [String: String] = [:]) throws -> TestSupport.Result {
        try spec.write(toFile: dir + "/spec.txt", atomically: true, encoding: .utf8)
        return try envpack(["install", "-q", "--file", dir + "/spec.txt", "-p", prefix, "--pkgs-dir", dir + "/pkgs"] + extra, env: env)
    }

    static var demoSpec: String { TestSupport.fixturesRoot + "/specs/demo.txt" }

    /// The demo environment works at `prefix`.
    static func demoWorks(_ prefix: String) throws -> Bool {
        try TestSupport.run("/bin/sh", ["-c", "'\(prefix)/bin/greet' | grep -q 'data: \(prefix)/'"]).status == 0
    }
}

@Suite struct UserDataTests {
    typealias S = UserDataSupport

    /// A project folder (files, a subfolder, a symlink to data elsewhere) is
    /// never replaced, with or without --force, by unpack or install; the
    /// message names it and does not suggest --force. An environment is.
    @Test func forceReplacesOnlyEnvironments() throws {
        let dir = try TestSupport.temporaryDirectory("force13")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let archive = dir + "/env.tar.zst"
        try S.pack(try TestSupport.fixtureEnv("demo"), archive)
        let elsewhere = dir + "/elsewhere"
        try FileManager.default.createDirectory(atPath: elsewhere + "/data", withIntermediateDirectories: true)
        try Data("precious".utf8).write(to: URL(fileURLWithPath: elsewhere + "/data/results.csv"))
        let project = dir + "/project"
        try FileManager.default.createDirectory(atPath: project + "/src", withIntermediateDirectories: true)
        try Data("print(1)\n".utf8).write(to: URL(fileURLWithPath: project + "/src/main.py"))
        try Data("notes".utf8).write(to: URL(fileURLWithPath: project + "/README"))
        try FileManager.default.createSymbolicLink(atPath: project + "/data", withDestinationPath: elsewhere + "/data")
        let linkOnly = dir + "/linkonly"
        try FileManager.default.createDirectory(atPath: linkOnly, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: linkOnly + "/data", withDestinationPath: elsewhere + "/data")
        let before = try S.snapshot(dir)

        for folder in [project, linkOnly] {
            let attempts: [(String, TestSupport.Result)] = [
                ("unpack", try S.envpack(["unpack", "-q", archive, folder])),
                ("unpack --force", try S.envpack(["unpack", "-q", "--force", archive, folder])),
                ("unpack --force .", try S.envpack(["unpack", "-q", "--force", archive, "."], cwd: folder)),
                ("unpack .", try S.envpack(["unpack", "-q", archive, "."], cwd: folder)),
                ("install --force", try S.envpack(["install", "-q", "--force", "--file", S.demoSpec, "-p", folder, "--pkgs-dir", dir + "/pkgs"])),
                ("install", try S.envpack(["install", "-q", "--file", S.demoSpec, "-p", folder, "--pkgs-dir", dir + "/pkgs"])),
            ]
            for (what, r) in attempts {
                #expect(r.status != 0, "\(what) \(folder) succeeded")
                #expect(r.stderr.contains(folder) && r.stderr.contains("not a conda environment"), "\(what): \(r.stderr)")
                #expect(!r.stderr.contains("use --force"), "\(what) suggests --force: \(r.stderr)")
                #expect(r.stderr.split(separator: "\n").count == 1, "\(what): \(r.stderr)")
            }
        }
        // Every file, link and inode as it was (the package cache aside).
        try? FileManager.default.removeItem(atPath: dir + "/pkgs")
        #expect(try S.snapshot(dir) == before, "files changed although --force was refused")

        // An environment (with a symlink to data elsewhere) is replaced, and
        // only it: the data behind the link stays.
        let env = dir + "/env"
        try #require(try S.envpack(["unpack", "-q", archive, env]).status == 0)
        try FileManager.default.createSymbolicLink(atPath: env + "/data", withDestinationPath: elsewhere + "/data")
        let refused = try S.envpack(["unpack", "-q", archive, env])
        #expect(refused.status != 0 && refused.stderr.contains("--force"), "\(refused.stderr)")
        let elsewhereBefore = try S.snapshot(elsewhere)
        let forced = try S.envpack(["unpack", "-q", "--force", archive, env])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(FileStatus.lstat(env + "/data") == nil, "the old environment's link survived")
        #expect(try S.demoWorks(env))
        let installed = try S.envpack(["install", "-q", "--force", "--file", S.demoSpec, "-p", env, "--pkgs-dir", dir + "/pkgs"])
        #expect(installed.status == 0, "\(installed.stderr)")
        #expect(try S.demoWorks(env))
        #expect(try S.snapshot(elsewhere) == elsewhereBefore, "data outside DEST changed")
        #expect(S.leftovers(dir).isEmpty, "left: \(S.leftovers(dir))")
    }

    /// kill -9 at seeded random moments of unpack and install (plain and
    /// --force): DEST is never half-made (with --force it holds the old or
    /// the new environment), and the next run reclaims every leftover and
    /// says so.
    @Test(arguments: ["unpack", "install"])
    func killedRunsAreReclaimedByTheNextRun(command: String) throws {
        let dir = try TestSupport.temporaryDirectory("kill15")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let archive = dir + "/env.tar.zst"
        try S.pack(try TestSupport.fixtureEnv("demo"), archive)
        let parent = dir + "/envs"
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        func arguments(_ dest: String, force: Bool) -> [String] {
            let extra = force ? ["--force"] : []
            return command == "unpack"
                ? ["unpack", "-q"] + extra + [archive, dest]
                : ["install", "-q"] + extra + ["--file", S.demoSpec, "-p", dest, "--pkgs-dir", dir + "/pkgs"]
        }
        // Warm the package cache, and time one run for the delays.
        let start = Date()
        try #require(try S.envpack(arguments(parent + "/first", force: false)).status == 0)
        let duration = max(Date().timeIntervalSince(start), 0.05)
        try FileManager.default.removeItem(atPath: parent + "/first")

        var random = S.Seeded(state: command == "unpack" ? 15 : 16)
        let trials = 16
        var withLeftovers = 0, completed = 0
        for trial in 0..<trials {
            let force = trial % 2 == 1
            // Half the kills come at a random moment after the start, half
            // at a random moment after the staging folder appeared (the
            // machine's load makes the start alone a poor aim).
            let afterStaging = (trial / 2) % 2 == 1
            let dest = parent + "/dest"
            if force {
                try #require(try S.envpack(["unpack", "-q", archive, dest]).status == 0)
                try Data("old".utf8).write(to: URL(fileURLWithPath: dest + "/conda-meta/old-marker"))
            }
            let p = Process()
            p.executableURL = URL(fileURLWithPath: TestSupport.envpackBinary)
            p.arguments = arguments(dest, force: force)
            p.standardError = FileHandle.nullDevice
            let delay = Double.random(in: 0...(duration * (afterStaging ? 0.3 : 1.2)), using: &random)
            try p.run()
            if afterStaging {
                for _ in 0..<20000 where p.isRunning {
                    if S.leftovers(parent).contains(where: { $0.contains("envpack-\(command)-") }) { break }
                    usleep(200)
                }
            }
            usleep(UInt32(delay * 1_000_000))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            if p.terminationReason == .exit { completed += 1 }

            // DEST: absent, or a complete environment (the old one or the new).
            if force {
                #expect(FileManager.default.fileExists(atPath: dest + "/conda-meta"), "trial \(trial): nothing at DEST after kill -9 in a --force run")
            }
            if FileManager.default.fileExists(atPath: dest) {
                #expect(try S.demoWorks(dest), "trial \(trial): DEST is not a working environment")
            }
            let left = S.leftovers(parent)
            if left.contains(where: { !$0.hasSuffix(".lock") }) { withLeftovers += 1 }

            // The next run, into another folder of the same parent.
            let next = try S.envpack(arguments(parent + "/next", force: false))
            #expect(next.status == 0, "trial \(trial): \(next.stderr)")
            // A lone lock file (killed before its folder was made, or after
            // it was renamed into place) goes silently.
            if left.contains(where: { !$0.hasSuffix(".lock") }) {
                #expect(next.stderr.contains("interrupted envpack runs") && next.stderr.split(separator: "\n").count == 1,
                        "trial \(trial): the reclaim was not reported: \(next.stderr) (left: \(left))")
            }
            #expect(S.leftovers(parent).isEmpty, "trial \(trial): still left: \(S.leftovers(parent))")
            for name in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] {
                try FileManager.default.removeItem(atPath: parent + "/" + name)
            }
        }
        print("\(command): \(trials) kill -9 trials, \(withLeftovers) left staging folders, \(completed) had finished before the kill")
        #expect(withLeftovers >= trials / 4, "too few trials hit the staging phase (\(withLeftovers) of \(trials))")
    }

    /// A live run's staging folder (stopped with SIGSTOP, lock held) is not
    /// touched by a run into the same parent; the live run then finishes.
    /// Folders of older envpack versions (no lock) are removed only when
    /// their process is gone, and an environment they moved aside is put back.
    @Test func liveStagingIsNeverTouched() throws {
        let dir = try TestSupport.temporaryDirectory("live15")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let archive = dir + "/env.tar.zst"
        try S.pack(try TestSupport.fixtureEnv("demo"), archive)
        let parent = dir + "/envs"
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)

        var stoppedOnce = false
        for attempt in 0..<20 where !stoppedOnce {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: TestSupport.envpackBinary)
            p.arguments = ["unpack", "-q", archive, parent + "/live"]
            p.standardError = FileHandle.nullDevice
            try p.run()
            var seen: [String] = []
            for _ in 0..<2000 {
                seen = S.leftovers(parent).filter { !$0.hasSuffix(".lock") }
                if !seen.isEmpty { break }
                usleep(200)
            }
            kill(p.processIdentifier, SIGSTOP)
            seen = S.leftovers(parent).filter { !$0.hasSuffix(".lock") }
            if !seen.isEmpty && !FileManager.default.fileExists(atPath: parent + "/live") {
                stoppedOnce = true
                let staging = parent + "/" + seen[0]
                let before = try S.snapshot(staging)
                let other = try S.envpack(["unpack", "-q", archive, parent + "/other"])
                #expect(other.status == 0, "\(other.stderr)")
                #expect(!other.stderr.contains("interrupted"), "the live run's folder was reported: \(other.stderr)")
                let installed = try S.envpack(["install", "-q", "--file", S.demoSpec, "-p", parent + "/third", "--pkgs-dir", dir + "/pkgs"])
                #expect(installed.status == 0, "\(installed.stderr)")
                #expect(try S.snapshot(staging) == before, "attempt \(attempt): the live staging folder was touched")
            }
            kill(p.processIdentifier, SIGCONT)
            p.waitUntilExit()
            #expect(p.terminationStatus == 0)
            try? FileManager.default.removeItem(atPath: parent + "/live")
        }
        try #require(stoppedOnce, "never caught a run while staging")
        #expect(try S.demoWorks(parent + "/other"))

        // Names from envpack 0.2: `.NAME.envpack-unpack-PID` without a lock.
        let gone = Process()
        gone.executableURL = URL(fileURLWithPath: "/bin/true")
        try gone.run()
        gone.waitUntilExit()
        let dead = gone.processIdentifier
        let alive = getpid()
        let paths = [".a.envpack-unpack-\(dead)", ".b.envpack-install-\(dead)", ".c.envpack-unpack-\(alive)",
                     ".d.envpack-old-\(dead)", ".other.envpack-old-\(dead)"]
        for name in paths {
            try FileManager.default.createDirectory(atPath: parent + "/" + name + "/conda-meta", withIntermediateDirectories: true)
        }
        let r = try S.envpack(["unpack", "-q", archive, parent + "/fourth"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        let left = Set(S.leftovers(parent))
        #expect(!left.contains(".a.envpack-unpack-\(dead)") && !left.contains(".b.envpack-install-\(dead)"), "\(left)")
        #expect(left.contains(".c.envpack-unpack-\(alive)") && r.stderr.contains("process \(alive)"), "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: parent + "/d/conda-meta") && r.stderr.contains("restored \(parent)/d"), "\(r.stderr)")
        #expect(left.contains(".other.envpack-old-\(dead)") && r.stderr.contains("remove it yourself"), "\(r.stderr)")
    }

    /// Only envpack's own old names are taken for leftovers.
    @Test func oldNamesAreParsedStrictly() {
        #expect(StagingLeftovers.parseOldName(".env.envpack-unpack-123")! == ("env", "unpack", 123))
        #expect(StagingLeftovers.parseOldName(".my.env.envpack-install-7")! == ("my.env", "install", 7))
        #expect(StagingLeftovers.parseOldName(".env.envpack-old-99")! == ("env", "old", 99))
        #expect(StagingLeftovers.parseOldName(".envpack-unpack-42")! == ("", "unpack", 42))
        for name in ["env.envpack-unpack-1", ".env.envpack-unpack-", ".env.envpack-unpack-12a", ".env.envpack-unpack-0",
                     ".env.envpack-unpack-1234567890", ".envpack-unpack-1-2", ".envpack-unpack-1-2.lock", ".envpack-old-5",
                     ".env.envpack-tmp-5", "..envpack-unpack-5x", ".env.envpack-unpack--5"] {
            #expect(StagingLeftovers.parseOldName(name) == nil, "\(name)")
        }
    }

    /// A lock file whose record points elsewhere (forged, or from another
    /// folder) is not acted on: nothing outside the parent moves.
    @Test func forgedRecordsAreNotFollowed() throws {
        let dir = try TestSupport.temporaryDirectory("forged")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let archive = dir + "/env.tar.zst"
        try S.pack(try TestSupport.fixtureEnv("demo"), archive)
        let parent = dir + "/envs"
        let victim = dir + "/victim"
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: victim + "/conda-meta", withIntermediateDirectories: true)
        let before = try S.snapshot(dir)
        let staging = parent + "/.envpack-unpack-999999-1"
        try FileManager.default.createDirectory(atPath: staging + ".old", withIntermediateDirectories: true)
        try "pid 999999\ndest \(victim)\nstate swap\naside \(staging).old\nincoming 1:1\n"
            .write(toFile: staging + ".lock", atomically: false, encoding: .utf8)
        let moveup = parent + "/.envpack-install-999999-2"
        try FileManager.default.createDirectory(atPath: moveup + "/bin", withIntermediateDirectories: true)
        try "pid 999999\ndest \(victim)\nstate moveup\n".write(toFile: moveup + ".lock", atomically: false, encoding: .utf8)
        let r = try S.envpack(["unpack", "-q", archive, parent + "/next"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("does not make sense") && r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        for path in [staging + ".old", staging + ".lock", moveup, moveup + ".lock"] {
            #expect(FileStatus.lstat(path) != nil, "\(path) was removed")
        }
        for path in [staging + ".old", staging + ".lock", moveup + "/bin", moveup, moveup + ".lock"] { try FileManager.default.removeItem(atPath: path) }
        try FileManager.default.removeItem(atPath: parent + "/next")
        #expect(try S.snapshot(dir) == before, "something outside the leftovers changed")
    }

    /// A kill -9 in the middle of a --force replacement: with the atomic
    /// exchange DEST holds the new environment at once; with the two-rename
    /// fallback the next run puts the old one back. Unpack and install.
    @Test(arguments: ["unpack", "install"], [false, true])
    func forceSwapSurvivesKill(command: String, fallback: Bool) throws {
        let dir = try TestSupport.temporaryDirectory("swap16")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let archive = dir + "/env.tar.zst"
        try S.pack(try TestSupport.fixtureEnv("demo"), archive)
        let dest = dir + "/envs/env"
        try FileManager.default.createDirectory(atPath: dir + "/envs", withIntermediateDirectories: true)
        try #require(try S.envpack(["unpack", "-q", archive, dest]).status == 0)
        try Data("old".utf8).write(to: URL(fileURLWithPath: dest + "/conda-meta/old-marker"))
        let oldSnapshot = try S.snapshot(dest)

        var env = ["ENVPACK_KILL_AT": "swap"]
        if fallback { env["ENVPACK_NO_RENAME_EXCHANGE"] = "1" }
        let arguments = command == "unpack"
            ? ["unpack", "-q", "--force", archive, dest]
            : ["install", "-q", "--force", "--file", S.demoSpec, "-p", dest, "--pkgs-dir", dir + "/pkgs"]
        let killed = try S.envpack(arguments, env: env)
        #expect(killed.status != 0, "not killed at the swap: \(killed.stderr)")
        if fallback {
            // The window: DEST is away, recorded in the lock file.
            #expect(!FileManager.default.fileExists(atPath: dest), "the fallback did not take its path")
            let next = try S.envpack(["unpack", "-q", archive, dir + "/envs/next"])
            #expect(next.status == 0, "\(next.stderr)")
            #expect(next.stderr.contains("restored \(dest)"), "\(next.stderr)")
            #expect(try S.snapshot(dest) == oldSnapshot, "the old environment did not come back whole")
        } else {
            #expect(FileManager.default.fileExists(atPath: dest + "/conda-meta"), "nothing at DEST")
            #expect(!FileManager.default.fileExists(atPath: dest + "/conda-meta/old-marker"), "the exchange did not happen")
            #expect(try S.demoWorks(dest))
            let next = try S.envpack(["unpack", "-q", archive, dir + "/envs/next"])
            #expect(next.status == 0 && next.stderr.contains("interrupted envpack runs"), "\(next.stderr)")
        }
        #expect(S.leftovers(dir + "/envs").isEmpty, "left: \(S.leftovers(dir + "/envs"))")
        // And without a kill, the fallback replaces as the exchange does.
        let replaced = try S.envpack(arguments, env: fallback ? ["ENVPACK_NO_RENAME_EXCHANGE": "1"] : [:])
        #expect(replaced.status == 0, "\(replaced.stderr)")
        #expect(try S.demoWorks(dest) && !FileManager.default.fileExists(atPath: dest + "/conda-meta/old-marker"))
        #expect(S.leftovers(dir + "/envs").isEmpty, "left: \(S.leftovers(dir + "/envs"))")
    }

    /// install --force whose link script fails: the previous environment
    /// comes back whole (same folder, same files), with the exchange and with
    /// the fallback.
    @Test(arguments: [false, true])
    func failingLinkScriptRestoresThePreviousEnvironment(fallback: Bool) throws {
        let folder = try TestSupport.sharedPackages() + "/legacy-conda-forge-2016"
        let dir = try TestSupport.temporaryDirectory("linkundo")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let dest = dir + "/env"
        let archive = dir + "/env.tar.zst"
        try S.pack(try TestSupport.fixtureEnv("demo"), archive)
        try #require(try S.envpack(["unpack", "-q", archive, dest]).status == 0)
        let before = try S.snapshot(dest)
        let file = folder + "/widgetsnbextension-1.2.6-py34_3.tar.bz2"
        let spec = "@EXPLICIT\n\(file)#\(try TestSupport.sha256(file))\n"
        let r = try S.install(spec, dir: dir, prefix: dest, extra: ["--force", "--run-link-scripts"],
                              env: fallback ? ["ENVPACK_NO_RENAME_EXCHANGE": "1"] : [:])
        #expect(r.status != 0 && r.stderr.contains("post-link.sh"), "\(r.stderr)")
        #expect(try S.snapshot(dest) == before, "the previous environment did not come back whole")
        #expect(S.leftovers(dir).isEmpty, "left: \(S.leftovers(dir))")
    }

    /// SIGHUP (a closed terminal) during unpack and install: handled like
    /// Ctrl-C, nothing left behind.
    @Test(arguments: ["unpack", "install"])
    func hangupLeavesNothing(command: String) throws {
        let dir = try TestSupport.temporaryDirectory("hup15")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let parent = dir + "/envs"
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        let arguments: [String]
        if command == "unpack" {
            let archive = dir + "/env.tar.zst"
            try S.pack(try TestSupport.fixtureEnv("demo"), archive)
            arguments = ["unpack", "-q", archive, parent + "/dest"]
        } else {
            arguments = ["install", "-q", "--file", S.demoSpec, "-p", parent + "/dest", "--pkgs-dir", dir + "/pkgs"]
            // A warm cache: the signal should find the staging folder.
            try #require(try S.envpack(arguments).status == 0)
            try FileManager.default.removeItem(atPath: parent + "/dest")
        }
        var hit = 0
        for _ in 0..<10 {
            // Foundation's Process starts children with every signal
            // blocked, which a terminal does not: exec through python with
            // an empty mask, as a shell would.
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            p.arguments = ["-c", "import os, signal, sys; signal.pthread_sigmask(signal.SIG_SETMASK, []); os.execv(sys.argv[1], sys.argv[1:])",
                           TestSupport.envpackBinary] + arguments
            p.standardError = FileHandle.nullDevice
            try p.run()
            var staging = false
            for _ in 0..<20000 {
                if S.leftovers(parent).contains(where: { $0.contains("envpack-\(command)-") }) { staging = true; break }
                if !p.isRunning { break }
                usleep(200)
            }
            kill(p.processIdentifier, SIGHUP)
            p.waitUntilExit()
            #expect(p.terminationReason == .exit, "killed by the signal instead of handling it")
            #expect(S.leftovers(parent).isEmpty, "left behind: \(S.leftovers(parent))")
            if p.terminationStatus != 0 { #expect(!FileManager.default.fileExists(atPath: parent + "/dest")) }
            if staging { hit += 1 }
            try? FileManager.default.removeItem(atPath: parent + "/dest")
            if hit > 0 { break }
        }
        #expect(hit > 0, "the signal never arrived while staging")
    }

    /// A destination whose last component is 250 bytes (the old staging
    /// name `.NAME.envpack-unpack-PID` did not fit in 255).
    @Test func longDestinationName() throws {
        let dir = try TestSupport.temporaryDirectory("long")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let spec = try S.tinyPackage(dir)
        let name = String(repeating: "n", count: 250)
        let installed = try S.install(spec, dir: dir, prefix: dir + "/" + name)
        #expect(installed.status == 0, "\(installed.stderr)")
        #expect(try String(contentsOfFile: dir + "/" + name + "/etc/tiny.conf", encoding: .utf8) == "home=\(dir)/\(name)/share/tiny\n")

        let short = dir + "/short"
        try #require(try S.install(spec, dir: dir, prefix: short).status == 0)
        try S.pack(short, dir + "/tiny.tar.zst")
        let target = dir + "/u/" + String(repeating: "m", count: 250)
        try FileManager.default.createDirectory(atPath: dir + "/u", withIntermediateDirectories: true)
        let unpacked = try S.envpack(["unpack", "-q", dir + "/tiny.tar.zst", target])
        #expect(unpacked.status == 0, "\(unpacked.stderr)")
        #expect(try String(contentsOfFile: target + "/etc/tiny.conf", encoding: .utf8) == "home=\(target)/share/tiny\n")
        // And replaced with --force, by both.
        #expect(try S.envpack(["unpack", "-q", "--force", dir + "/tiny.tar.zst", target]).status == 0)
        #expect(try S.install(spec, dir: dir, prefix: target, extra: ["--force"]).status == 0)
        #expect(S.leftovers(dir + "/u").isEmpty && S.leftovers(dir).isEmpty)
    }

    /// A mount point: a kill -9 after staging leaves the staging folder
    /// inside DEST, which the next run removes; a kill half-way through
    /// moving the entries up is finished by the next run.
    @Test func mountPointLeftoversAreReclaimed() throws {
        let dir = try TestSupport.temporaryDirectory("mount15")
        let volume = dir + "/volume"
        try FileManager.default.createDirectory(atPath: volume, withIntermediateDirectories: true)
        let mount = try TestSupport.run("/bin/mount", ["-t", "tmpfs", "-o", "size=64m", "tmpfs", volume])
        try #require(mount.status == 0, "mounting a tmpfs needs root: \(mount.stderr)")
        defer {
            _ = try? TestSupport.run("/bin/umount", [volume])
            try? FileManager.default.removeItem(atPath: dir)
        }
        let archive = dir + "/env.tar.zst"
        try S.pack(try TestSupport.fixtureEnv("demo"), archive)

        let staged = try S.envpack(["unpack", "-q", archive, volume], env: ["ENVPACK_KILL_AT": "staged"])
        #expect(staged.status != 0)
        #expect(!S.leftovers(volume).isEmpty, "the kill left nothing to reclaim")
        let again = try S.envpack(["unpack", "-q", archive, volume])
        #expect(again.status == 0 && again.stderr.contains("interrupted envpack runs"), "\(again.stderr)")
        #expect(try S.demoWorks(volume))
        #expect(S.leftovers(volume).isEmpty, "left: \(S.leftovers(volume))")

        for item in try FileManager.default.contentsOfDirectory(atPath: volume) {
            try FileManager.default.removeItem(atPath: volume + "/" + item)
        }
        let half = try S.envpack(["unpack", "-q", archive, volume], env: ["ENVPACK_KILL_AT": "moveup"])
        #expect(half.status != 0)
        let next = try S.envpack(["unpack", "-q", archive, dir + "/elsewhere"])
        #expect(next.status == 0, "\(next.stderr)")
        let finish = try S.envpack(["unpack", "-q", archive, volume])
        #expect(finish.stderr.contains("finished moving"), "\(finish.stderr)")
        #expect(try S.demoWorks(volume))
        #expect(S.leftovers(volume).isEmpty, "left: \(S.leftovers(volume))")
    }
}
