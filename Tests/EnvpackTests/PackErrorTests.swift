// Every bad input: a one-line error naming the file or entry, a non-zero
// exit, and no output (nor temporary file) left behind.
import EnvpackRelocation
import Foundation
import Testing
@testable import Envpack

@Suite struct PackErrorTests {
    /// Runs `envpack pack` expecting failure; checks the message and that the
    /// output folder holds nothing new.
    func expectFailure(_ arguments: [String], outputDirectory: String, mentions: [String],
                       sourceLocation: SourceLocation = #_sourceLocation) throws {
        let before = Set((try? FileManager.default.contentsOfDirectory(atPath: outputDirectory)) ?? [])
        let r = try TestSupport.envpack(["pack", "-q"] + arguments)
        #expect(r.status != 0, "expected failure", sourceLocation: sourceLocation)
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1, "expected one line, got: \(r.stderr)", sourceLocation: sourceLocation)
        for m in mentions {
            #expect(r.stderr.contains(m), "error should name \(m): \(r.stderr)", sourceLocation: sourceLocation)
        }
        let after = Set((try? FileManager.default.contentsOfDirectory(atPath: outputDirectory)) ?? [])
        #expect(after == before, "left behind: \(after.subtracting(before))", sourceLocation: sourceLocation)
    }

    /// Changes a file without changing its size: only a hash can tell.
    func flipFirstByte(_ path: String) throws {
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[0] ^= 0x20
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    /// A writable copy of the demo environment to break.
    func demoCopy(_ dir: String) throws -> String {
        let copy = dir + "/env"
        try TestSupport.copyTree(try TestSupport.fixtureEnv("demo"), to: copy)
        return copy
    }

    @Test func missingPrefixAndNonEnvironment() throws {
        let dir = try TestSupport.temporaryDirectory("err")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try expectFailure(["-p", dir + "/nope", "-o", dir + "/a.tar.zst"], outputDirectory: dir, mentions: [dir + "/nope", "does not exist"])
        try FileManager.default.createDirectory(atPath: dir + "/plain", withIntermediateDirectories: true)
        try expectFailure(["-p", dir + "/plain", "-o", dir + "/a.tar.zst"], outputDirectory: dir, mentions: ["not a conda environment"])
        try expectFailure(["-n", "no-such-env-anywhere", "-o", dir + "/a.tar.zst"], outputDirectory: dir, mentions: ["no-such-env-anywhere"])
    }

    @Test func malformedRecordIsNamed() throws {
        let dir = try TestSupport.temporaryDirectory("err")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let env = try demoCopy(dir)
        try "{\"name\": \"broken\", ".write(toFile: env + "/conda-meta/broken-1-0.json", atomically: true, encoding: .utf8)
        try expectFailure(["-p", env, "-o", dir + "/a.tar.zst"], outputDirectory: dir, mentions: ["conda-meta/broken-1-0.json"])
    }

    /// A record that is not a small regular file (a link to a device, a
    /// pipe, a sparse file of gigabytes) is refused unread, in plain words.
    @Test func recordThatIsNotASmallFileIsRefusedUnread() throws {
        let dir = try TestSupport.temporaryDirectory("err-record")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let env = try demoCopy(dir)
        let record = env + "/conda-meta/odd-1-0.json"
        try FileManager.default.createSymbolicLink(atPath: record, withDestinationPath: "/dev/zero")
        try expectFailure(["-p", env, "-o", dir + "/a.tar.zst"], outputDirectory: dir, mentions: ["conda-meta/odd-1-0.json", "not a regular file"])
        try FileManager.default.removeItem(atPath: record)
        #expect(FileManager.default.createFile(atPath: record, contents: nil))
        #expect(truncate(record, off_t(3) << 30) == 0)
        try expectFailure(["-p", env, "-o", dir + "/a.tar.zst"], outputDirectory: dir, mentions: ["conda-meta/odd-1-0.json", "more than a conda-meta record may be"])
    }

    @Test func missingManagedFileIsRefusedUnlessIgnored() throws {
        let dir = try TestSupport.temporaryDirectory("err")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let env = try demoCopy(dir)
        try FileManager.default.removeItem(atPath: env + "/share/envpack-demo/greeting.txt")
        try expectFailure(["-p", env, "-o", dir + "/a.tar.zst"], outputDirectory: dir,
                          mentions: ["share/envpack-demo/greeting.txt", "envpack-demo-1.0-h0_envpack", "--ignore-missing-files"])
        let r = try TestSupport.envpack(["pack", "-q", "-p", env, "-o", dir + "/a.tar.zst", "--ignore-missing-files"])
        #expect(r.status == 0, "\(r.stderr)")
    }

    @Test func changedManagedFileIsRefused() throws {
        let dir = try TestSupport.temporaryDirectory("err")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let env = try demoCopy(dir)
        // Same size, different bytes: only the hash can tell.
        try flipFirstByte(env + "/share/envpack-demo/hardlink-a.txt")
        try expectFailure(["-p", env, "-o", dir + "/a.tar.zst"], outputDirectory: dir,
                          mentions: ["share/envpack-demo/hardlink-a.txt", "changed"])
    }

    /// With -o -, a change found while streaming cuts the stream short: the
    /// receiver gets an archive with no end, never a complete-looking one.
    @Test func changeFoundWhileStreamingToStdoutTruncatesTheStream() throws {
        let dir = try TestSupport.temporaryDirectory("err")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let env = try demoCopy(dir)
        try flipFirstByte(env + "/share/envpack-demo/hardlink-a.txt")
        _ = FileManager.default.createFile(atPath: dir + "/out.tar", contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/out.tar"))
        let r = try TestSupport.envpack(["pack", "-q", "-p", env, "-o", "-", "--format", "tar"], stdout: handle)
        try handle.close()
        #expect(r.status != 0 && r.stderr.contains("hardlink-a.txt"), "\(r.stderr)")
        let list = try TestSupport.run("/usr/bin/tar", ["-tf", dir + "/out.tar"])
        #expect(list.status != 0 || !String(decoding: list.stdout, as: UTF8.self).contains(Manifest.relativePath),
                "the cut stream must not read as a complete envpack archive")
    }

    @Test func editableInstallIsRefusedUnlessIgnored() throws {
        let dir = try TestSupport.temporaryDirectory("err")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let env = try demoCopy(dir)
        let site = env + "/lib/python3.12/site-packages"
        try FileManager.default.createDirectory(atPath: site + "/mypkg-0.1.dist-info", withIntermediateDirectories: true)
        try #"{"url": "file:///home/me/src/mypkg", "dir_info": {"editable": true}}"#
            .write(toFile: site + "/mypkg-0.1.dist-info/direct_url.json", atomically: true, encoding: .utf8)
        try "/home/me/src/other\n".write(toFile: site + "/__editable__.other-1.0.pth", atomically: true, encoding: .utf8)
        try expectFailure(["-p", env, "-o", dir + "/a.tar.zst"], outputDirectory: dir,
                          mentions: ["mypkg-0.1.dist-info", "__editable__.other-1.0.pth", "--ignore-editable-packages"])
        let r = try TestSupport.envpack(["pack", "-q", "-p", env, "-o", dir + "/a.tar.zst", "--ignore-editable-packages"])
        #expect(r.status == 0, "\(r.stderr)")
    }

    @Test func twoPythonsAreRefused() throws {
        let dir = try TestSupport.temporaryDirectory("err")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let env = try demoCopy(dir)
        for v in ["3.11.1", "3.12.1"] {
            try "{\"name\": \"python\", \"version\": \"\(v)\", \"build\": \"h0\", \"files\": []}"
                .write(toFile: env + "/conda-meta/python-\(v)-h0.json", atomically: true, encoding: .utf8)
        }
        try expectFailure(["-p", env, "-o", dir + "/a.tar.zst"], outputDirectory: dir, mentions: ["python-3.11.1-h0", "python-3.12.1-h0"])
    }

    @Test func outputProblems() throws {
        let dir = try TestSupport.temporaryDirectory("err")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let env = try TestSupport.fixtureEnv("demo")
        _ = FileManager.default.createFile(atPath: dir + "/exists.tar.zst", contents: Data("keep me".utf8))
        try expectFailure(["-p", env, "-o", dir + "/exists.tar.zst"], outputDirectory: dir, mentions: [dir + "/exists.tar.zst", "--force"])
        #expect(FileManager.default.contents(atPath: dir + "/exists.tar.zst") == Data("keep me".utf8))
        try expectFailure(["-p", env, "-o", dir + "/no/such/dir/a.tar.zst"], outputDirectory: dir, mentions: [dir + "/no/such/dir"])
        try expectFailure(["-p", env, "-o", dir + "/a.rar"], outputDirectory: dir, mentions: ["a.rar"])
        try expectFailure(["-p", env, "-o", dir + "/a.tar.zst", "--compress-level", "42"], outputDirectory: dir, mentions: ["42"])
        let tooLong = "/opt/" + String(repeating: "x", count: 300)
        try expectFailure(["-p", env, "-o", dir + "/a.tar.zst", "--dest-prefix", tooLong], outputDirectory: dir,
                          mentions: ["lib/libgreet.so.1.0.0", "255 bytes"])
        // --force replaces the file whole.
        let r = try TestSupport.envpack(["pack", "-q", "-p", env, "-o", dir + "/exists.tar.zst", "--force"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try ArchiveInspector.inspect(path: dir + "/exists.tar.zst").manifest.packages.count == 2)
    }

    /// As root permissions do not stop reads, so the pack runs as nobody.
    @Test func unreadableFileIsNamed() throws {
        let dir = try TestSupport.temporaryDirectory("err")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let env = try demoCopy(dir)
        _ = try TestSupport.run("/bin/chmod", ["-R", "a+rX", dir])
        _ = try TestSupport.run("/bin/chmod", ["0777", dir])
        _ = try TestSupport.run("/bin/chmod", ["0000", env + "/share/envpack-demo/greeting.txt"])
        let before = try FileManager.default.contentsOfDirectory(atPath: dir)
        let helper = try HelperLocator.locate()
        let r = try TestSupport.run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups",
                                                         "/usr/bin/env", "ENVPACK_HELPER=\(helper)",
                                                         TestSupport.envpackBinary, "pack", "-q", "-p", env, "-o", dir + "/a.tar.zst"])
        #expect(r.status != 0)
        #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        #expect(r.stderr.contains("share/envpack-demo/greeting.txt") && r.stderr.contains("Permission denied"), "\(r.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == before)
    }

    /// Ctrl-C while packing: no archive and no temporary file remain.
    @Test func interruptedPackLeavesNothing() throws {
        let env = try TestSupport.fixtureEnv("big")
        let dir = try TestSupport.temporaryDirectory("sigint")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let run = try TestSupport.interruptEnvpack(["pack", "-q", "-p", env, "-o", dir + "/big.tar.zst"]) {
            !((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).isEmpty
        }
        try #require(run.started, "the pack finished before it could be interrupted")
        #expect(run.status != 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
    }

    /// A full disk: a 1 MiB tmpfs cannot hold the archive (the helper alone is larger).
    @Test func fullDiskLeavesNothing() throws {
        let dir = try TestSupport.temporaryDirectory("full")
        defer {
            _ = try? TestSupport.run("/bin/umount", [dir])
            try? FileManager.default.removeItem(atPath: dir)
        }
        let mount = try TestSupport.run("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", dir])
        try #require(mount.status == 0, "mounting a tmpfs needs root: \(mount.stderr)")
        let env = try TestSupport.fixtureEnv("demo")
        try expectFailure(["-p", env, "-o", dir + "/a.tar.zst"], outputDirectory: dir, mentions: [dir + "/a.tar.zst", "No space left on device"])
        try expectFailure(["-p", env, "-o", dir + "/a.tar", "--format", "tar"], outputDirectory: dir, mentions: ["No space left on device"])
    }
}
