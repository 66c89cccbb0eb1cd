// Bad archives and bad destinations: a clear error naming the entry or
// file, nothing written outside DEST, and DEST either absent or untouched.
import EnvpackRelocation
import Foundation
import Testing
@testable import Envpack

@Suite struct UnpackFailureTests {
    /// Builds a tar with Python's tarfile, which writes whatever it is told.
    func maliciousTar(_ path: String, _ entries: String) throws {
        let script = """
        import io, tarfile, sys
        t = tarfile.open(sys.argv[1], "w")
        def add(name, data=b"x", **kw):
            info = tarfile.TarInfo(name); info.size = len(data)
            for k, v in kw.items(): setattr(info, k, v)
            t.addfile(info, io.BytesIO(data) if info.type in (tarfile.REGTYPE, tarfile.AREGTYPE) else None)
        \(entries)
        t.close()
        """
        let r = try TestSupport.run("/usr/bin/python3", ["-c", script, path])
        try #require(r.status == 0, "python: \(r.stderr)")
    }

    func expectRefused(_ archive: String, dest: String, mentions: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let parent = (dest as NSString).deletingLastPathComponent
        let before = Set(try FileManager.default.contentsOfDirectory(atPath: parent))
        let r = try TestSupport.envpack(["unpack", "-q", archive, dest])
        #expect(r.status != 0, sourceLocation: sourceLocation)
        #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)", sourceLocation: sourceLocation)
        for m in mentions { #expect(r.stderr.contains(m), "should name \(m): \(r.stderr)", sourceLocation: sourceLocation) }
        #expect(!FileManager.default.fileExists(atPath: dest), "DEST was left behind", sourceLocation: sourceLocation)
        let after = Set(try FileManager.default.contentsOfDirectory(atPath: parent))
        #expect(after == before, "left behind: \(after.subtracting(before))", sourceLocation: sourceLocation)
    }

    @Test func maliciousEntriesAreRefused() throws {
        let dir = try TestSupport.temporaryDirectory("evil")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let outside = dir + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        let passwd = try TestSupport.sha256("/etc/passwd")
        let cases: [(String, String, [String])] = [
            ("dotdot", "add('bin/ok'); add('../outside/escaped')", ["../outside/escaped"]),
            ("absolute", "add('bin/ok'); add('\(outside)/absolute')", ["absolute"]),
            ("symlink", "add('link', type=tarfile.SYMTYPE, linkname='\(outside)'); add('link/through')", ["link/through"]),
            ("hardlink", "add('bin/ok'); add('pw', type=tarfile.LNKTYPE, linkname='/etc/passwd')", ["pw", "/etc/passwd"]),
            ("hardlink-via-link", "add('d', type=tarfile.SYMTYPE, linkname='/etc'); add('pw', type=tarfile.LNKTYPE, linkname='d/passwd')", ["pw"]),
            ("device", "add('dev/null2', type=tarfile.CHRTYPE, devmajor=1, devminor=3)", ["dev/null2"]),
        ]
        for (name, entries, mentions) in cases {
            let archive = dir + "/\(name).tar"
            try maliciousTar(archive, entries)
            try expectRefused(archive, dest: dir + "/dest-\(name)", mentions: mentions)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside).isEmpty, "something was written outside DEST")
        #expect(try TestSupport.sha256("/etc/passwd") == passwd)
    }

    @Test func truncatedAndCorruptArchivesLeaveNothing() throws {
        let env = try TestSupport.fixtureEnv("demo")
        let dir = try TestSupport.temporaryDirectory("trunc")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let archive = dir + "/a.tar.zst"
        try #require(try TestSupport.envpack(["pack", "-q", "-p", env, "-o", archive]).status == 0)
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: archive)))

        try Data(bytes.prefix(bytes.count / 2)).write(to: URL(fileURLWithPath: dir + "/truncated.tar.zst"))
        try expectRefused(dir + "/truncated.tar.zst", dest: dir + "/out1", mentions: ["truncated.tar.zst"])

        var corrupt = bytes
        for i in stride(from: corrupt.count / 3, to: corrupt.count / 3 + 64, by: 1) { corrupt[i] ^= 0x5a }
        try Data(corrupt).write(to: URL(fileURLWithPath: dir + "/corrupt.tar.zst"))
        try expectRefused(dir + "/corrupt.tar.zst", dest: dir + "/out2", mentions: ["corrupt.tar.zst"])

        try Data("not an archive at all".utf8).write(to: URL(fileURLWithPath: dir + "/junk.tar.zst"))
        try expectRefused(dir + "/junk.tar.zst", dest: dir + "/out3", mentions: ["junk.tar.zst"])
    }

    @Test func destinationTooLongIsRefusedBeforeAnyChange() throws {
        let env = try TestSupport.fixtureEnv("demo")
        let dir = try TestSupport.temporaryDirectory("toolong")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let archive = dir + "/a.tar.zst"
        try #require(try TestSupport.envpack(["pack", "-q", "-p", env, "-o", archive]).status == 0)
        // Longer than the 255-byte placeholder conda's padding allows.
        var long = dir + "/long"
        while long.count < 300 { long += "/" + String(repeating: "z", count: 50) }

        // envpack unpack: nothing at DEST.
        try FileManager.default.createDirectory(atPath: (long as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try expectRefused(archive, dest: long, mentions: ["lib/libgreet.so.1.0.0", "255 bytes"])

        // The helper on a tar-extracted copy: every file as it was.
        try FileManager.default.createDirectory(atPath: long, withIntermediateDirectories: true)
        try #require(try TestSupport.run("/usr/bin/tar", ["--zstd", "-xf", archive, "-C", long]).status == 0)
        let before = try TestSupport.run("/bin/sh", ["-c", "cd '\(long)' && find . -type f -exec sha256sum {} + | sort"]).stdout
        let r = try TestSupport.run(long + "/bin/envpack-unpack", [])
        #expect(r.status != 0)
        #expect(r.stderr.contains("nothing was changed") && r.stderr.contains("bin/greet"), "\(r.stderr)")
        let after = try TestSupport.run("/bin/sh", ["-c", "cd '\(long)' && find . -type f -exec sha256sum {} + | sort"]).stdout
        #expect(before == after, "files changed although the relocation was refused")
    }

    @Test func nonEmptyDestinationNeedsForce() throws {
        let env = try TestSupport.fixtureEnv("demo")
        let dir = try TestSupport.temporaryDirectory("force")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let archive = dir + "/a.tar.zst"
        try #require(try TestSupport.envpack(["pack", "-q", "-p", env, "-o", archive]).status == 0)
        let dest = dir + "/dest"
        try FileManager.default.createDirectory(atPath: dest, withIntermediateDirectories: true)
        try Data("mine".utf8).write(to: URL(fileURLWithPath: dest + "/keep.txt"))
        let refused = try TestSupport.envpack(["unpack", "-q", archive, dest])
        #expect(refused.status != 0 && refused.stderr.contains("not a conda environment"))
        #expect(FileManager.default.fileExists(atPath: dest + "/keep.txt"))
        // --force replaces only an environment (a folder with conda-meta/).
        try FileManager.default.createDirectory(atPath: dest + "/conda-meta", withIntermediateDirectories: true)
        let needsForce = try TestSupport.envpack(["unpack", "-q", archive, dest])
        #expect(needsForce.status != 0 && needsForce.stderr.contains("--force"))
        let forced = try TestSupport.envpack(["unpack", "-q", "--force", archive, dest])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dest + "/keep.txt"))
        #expect(FileManager.default.fileExists(atPath: dest + "/bin/greet"))
        // An empty existing folder is fine without --force.
        let empty = dir + "/empty"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        #expect(try TestSupport.envpack(["unpack", "-q", archive, empty]).status == 0)
    }

    /// A destination that is a mount point (a volume): staged inside it,
    /// then moved up; a failure leaves it empty again.
    @Test func mountPointDestination() throws {
        let env = try TestSupport.fixtureEnv("demo")
        let dir = try TestSupport.temporaryDirectory("mount")
        let volume = dir + "/volume"
        try FileManager.default.createDirectory(atPath: volume, withIntermediateDirectories: true)
        let mount = try TestSupport.run("/bin/mount", ["-t", "tmpfs", "-o", "size=64m", "tmpfs", volume])
        try #require(mount.status == 0, "mounting a tmpfs needs root: \(mount.stderr)")
        defer {
            _ = try? TestSupport.run("/bin/umount", [volume])
            try? FileManager.default.removeItem(atPath: dir)
        }
        let archive = dir + "/a.tar.zst"
        try #require(try TestSupport.envpack(["pack", "-q", "-p", env, "-o", archive]).status == 0)
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: archive)))
        bytes.removeLast(bytes.count / 3)
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/broken.tar.zst"))
        let broken = try TestSupport.envpack(["unpack", "-q", dir + "/broken.tar.zst", volume])
        #expect(broken.status != 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: volume).isEmpty, "the volume was left with files")
        let r = try TestSupport.envpack(["unpack", "-q", archive, volume])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try TestSupport.run("/bin/sh", ["-c", "'\(volume)/bin/greet' | grep -q 'data: \(volume)/'"]).status == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: volume).allSatisfy { !$0.hasPrefix(".envpack") })
    }

    /// Ctrl-C in the middle of an unpack: the staging folder goes, DEST
    /// never appears.
    @Test func interruptedUnpackLeavesNothing() throws {
        let env = try TestSupport.fixtureEnv("big")
        let dir = try TestSupport.temporaryDirectory("sigint")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let archive = dir + "/big.tar.zst"
        try #require(try TestSupport.envpack(["pack", "-q", "-p", env, "-o", archive]).status == 0)
        // Interrupted once extraction into the staging folder has begun.
        let run = try TestSupport.interruptEnvpack(["unpack", "-q", archive, dir + "/dest"]) {
            ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).contains { $0.contains("envpack-unpack") }
        }
        try #require(run.started, "the unpack finished before it could be interrupted")
        #expect(run.status != 0)
        let left = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0 != "big.tar.zst" }
        #expect(left.isEmpty, "left behind: \(left)")
    }

    /// kill -9 at exact points of the relocation; running the helper again
    /// finishes it, and until then the environment does not look finished.
    @Test(arguments: ["written:0", "renamed:0", "written:5", "renamed:9", "renamed:16"])
    func killedRelocationIsFinishedByRerunning(at point: String) throws {
        let env = try TestSupport.fixtureEnv("demo")
        let dir = try TestSupport.temporaryDirectory("kill")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let archive = dir + "/a.tar.zst"
        try #require(try TestSupport.envpack(["pack", "-q", "-p", env, "-o", archive]).status == 0)
        let root = dir + "/env"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try #require(try TestSupport.run("/usr/bin/tar", ["--zstd", "-xf", archive, "-C", root]).status == 0)

        let killed = try TestSupport.run("/usr/bin/env", ["ENVPACK_KILL_AT=\(point)", root + "/bin/envpack-unpack"])
        #expect(killed.status != 0, "the helper should have been killed at \(point)")
        #expect(FileManager.default.fileExists(atPath: root + "/" + Journal.relativePath), "no journal after the kill")
        let check = try TestSupport.run(root + "/bin/envpack-unpack", ["--check"])
        #expect(check.status != 0, "a half-relocated environment must not look finished")

        // A half-relocated environment cannot be packed.
        let pack = try TestSupport.envpack(["pack", "-q", "-p", root, "-o", dir + "/half.tar"])
        #expect(pack.status != 0 && pack.stderr.contains("half-relocated"), "\(pack.stderr)")

        let rerun = try TestSupport.run(root + "/bin/envpack-unpack", [])
        #expect(rerun.status == 0, "\(rerun.stderr)")
        #expect(!FileManager.default.fileExists(atPath: root + "/" + Journal.relativePath))
        let leftovers = try TestSupport.run("/usr/bin/find", [root, "-name", ".envpack-tmp-*"])
        #expect(leftovers.stdout.isEmpty, "temporary files left: \(String(decoding: leftovers.stdout, as: UTF8.self))")
        let final = try TestSupport.run(root + "/bin/envpack-unpack", ["--check"])
        #expect(final.status == 0, "\(String(decoding: final.stdout, as: UTF8.self))")
        let greet = try runHidden("\"\(root)/bin/greet\" | grep -qx \"data: \(root)/share/envpack-demo/greeting.txt\"\n\"\(root)/bin/demo-script\" >/dev/null",
                                  hidden: [TestSupport.fixturesRoot])
        #expect(greet.status == 0, "\(String(decoding: greet.stdout, as: UTF8.self)) \(greet.stderr)")
    }
}
