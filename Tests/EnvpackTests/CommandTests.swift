// Smaller behaviours of the commands: finding an environment by name,
// relocating one moved by hand, hardlinked prefix files, concurrent installs.
import EnvpackRelocation
import Foundation
import Testing
@testable import Envpack

@Suite struct CommandTests {
    /// -n NAME through ~/.conda/environments.txt, with no conda installed.
    @Test func packFindsAnEnvironmentByName() throws {
        let env = try TestSupport.fixtureEnv("demo")
        let home = try TestSupport.temporaryDirectory("home")
        defer { try? FileManager.default.removeItem(atPath: home) }
        try FileManager.default.createDirectory(atPath: home + "/.conda", withIntermediateDirectories: true)
        try "\(env)\n/does/not/exist\n".write(toFile: home + "/.conda/environments.txt", atomically: true, encoding: .utf8)
        let r = try TestSupport.run("/usr/bin/env", ["-u", "CONDA_EXE", "-u", "CONDA_PREFIX", "HOME=\(home)", TestSupport.envpackBinary,
                                                     "pack", "-q", "-n", "demo", "-o", home + "/demo.tar"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try ArchiveInspector.inspect(path: home + "/demo.tar").manifest.prefix == env)
        let missing = try TestSupport.run("/usr/bin/env", ["-u", "CONDA_EXE", "HOME=\(home)", TestSupport.envpackBinary,
                                                           "pack", "-q", "-n", "nope", "-o", home + "/x.tar"])
        #expect(missing.status != 0 && missing.stderr.contains("'nope'") && missing.stderr.contains("environments.txt"))
    }

    /// An environment moved with cp/mv, never packed: relocate --from scans
    /// it, relocates it, and leaves a manifest for the next move.
    @Test func relocateWithFromOnAnEnvironmentMovedByHand() throws {
        let env = try TestSupport.fixtureEnv("demo")
        let dir = try TestSupport.temporaryDirectory("byhand")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let moved = dir + "/moved-env"
        try TestSupport.copyTree(env, to: moved)
        let without = try TestSupport.envpack(["relocate", moved])
        #expect(without.status != 0 && without.stderr.contains("--from"), "\(without.stderr)")
        let r = try TestSupport.envpack(["relocate", moved, "--from", env])
        try #require(r.status == 0, "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: moved + "/" + Manifest.relativePath))
        let run = try runHidden("""
            "\(moved)/bin/greet" | grep -qx "data: \(moved)/share/envpack-demo/greeting.txt"
            "\(moved)/bin/demo-script" | grep -q "argv\\[0\\]=\(moved)/bin/demo-interp"
            """, hidden: [TestSupport.fixturesRoot])
        #expect(run.status == 0, "\(String(decoding: run.stdout, as: UTF8.self)) \(run.stderr)")
        // The next move needs no --from.
        let again = dir + "/again"
        try FileManager.default.moveItem(atPath: moved, toPath: again)
        #expect(try TestSupport.envpack(["relocate", again]).status == 0)
        #expect(try TestSupport.run("/bin/sh", ["-c", "'\(again)/bin/greet' | grep -q 'data: \(again)/'"]).status == 0)
    }

    /// pack -o - | unpack - : the ssh pipeline, through a real pipe.
    @Test func packToStdoutUnpackFromStdin() throws {
        let env = try TestSupport.fixtureEnv("demo")
        let dir = try TestSupport.temporaryDirectory("pipe")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bin = TestSupport.envpackBinary
        let r = try TestSupport.run("/bin/bash", ["-c", "set -o pipefail; '\(bin)' pack -q -p '\(env)' -o - | '\(bin)' unpack -q - '\(dir)/dest'"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try TestSupport.run("/bin/sh", ["-c", "'\(dir)/dest/bin/greet' | grep -q 'data: \(dir)/dest/'"]).status == 0)
    }

    /// A prefix-bearing file with a second hardlinked path: after relocation
    /// both paths are one inode again, holding the new prefix.
    @Test func hardlinkedPrefixFilesStayLinked() throws {
        let dir = try TestSupport.temporaryDirectory("hardlinked")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let env = dir + "/env"
        try TestSupport.copyTree(try TestSupport.fixtureEnv("demo"), to: env)
        // The copy holds the fixture's prefix; make it this copy's first.
        try #require(try TestSupport.envpack(["relocate", env, "--from", try TestSupport.fixtureEnv("demo")]).status == 0)
        try FileManager.default.removeItem(atPath: env + "/" + Manifest.relativePath)
        try FileManager.default.linkItem(atPath: env + "/etc/envpack-demo.conf", toPath: env + "/etc/zz-same-conf")
        try #require(try TestSupport.envpack(["pack", "-q", "-p", env, "-o", dir + "/a.tar.zst"]).status == 0)
        let dest = dir + "/dest"
        try #require(try TestSupport.envpack(["unpack", "-q", dir + "/a.tar.zst", dest]).status == 0)
        let a = try #require(FileStatus.lstat(dest + "/etc/envpack-demo.conf"))
        let b = try #require(FileStatus.lstat(dest + "/etc/zz-same-conf"))
        #expect(a.inode == b.inode && a.linkCount == 2)
        #expect(try String(contentsOfFile: dest + "/etc/zz-same-conf", encoding: .utf8).contains("prefix = \(dest)\n"))
    }

    /// An error line reaches standard error in one write(2), not one per
    /// character (C's stderr is unbuffered and ArgumentParser prints through
    /// it), so other writers to the same log cannot tear it apart.
    @Test func anErrorLineIsOneWrite() throws {
        let dir = try TestSupport.temporaryDirectory("one-write")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let log = dir + "/strace.log"
        let r = try TestSupport.run("/usr/bin/strace", ["-f", "-e", "trace=write", "-o", log, TestSupport.envpackBinary, "unpack", dir + "/missing.tar", dir + "/out"])
        #expect(r.status != 0)
        #expect(r.stderr.hasPrefix("Error: cannot read ") && r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        let writes = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").filter { $0.contains("write(2,") }
        #expect(writes.count == 1, "\(writes.count) writes to standard error: \(writes.prefix(3))")
    }
}

@Suite struct ConcurrentInstallTests {
    /// Two installs at once into one cold cache: both succeed and the cache
    /// is whole (the lock serialises fetching and extraction).
    @Test func twoInstallsShareOneCache() throws {
        let (folder, records) = try InstallSupport.condaForgeRecords()
        let dir = try TestSupport.temporaryDirectory("concurrent")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try InstallSupport.spec(records) { "\(folder)/\($0)" }.write(toFile: dir + "/spec.txt", atomically: true, encoding: .utf8)
        func start(_ prefix: String) throws -> Process {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: TestSupport.envpackBinary)
            p.arguments = ["install", "-q", "--file", dir + "/spec.txt", "-p", prefix, "--pkgs-dir", dir + "/pkgs"]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            return p
        }
        let first = try start(dir + "/a"), second = try start(dir + "/b")
        first.waitUntilExit(); second.waitUntilExit()
        #expect(first.terminationStatus == 0 && second.terminationStatus == 0)
        try InstallSupport.expectRuns(dir + "/a")
        try InstallSupport.expectRuns(dir + "/b")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir + "/pkgs").filter { $0.contains(".extract-") }
        #expect(leftovers.isEmpty)
    }
}
