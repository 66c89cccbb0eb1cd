// The one extraction path (envpack unpack, and install for package
// archives) never leaves a corrupted or surprising result with exit 0:
// modes are exact whatever other threads do (no umask race), failed writes
// fail, every compressed stream is read to its end and verified, zip keeps
// its symlinks and modes, and names that are not UTF-8 are refused rather
// than merged.
import EnvpackRelocation
import Foundation
import Testing
@testable import Envpack

@Suite struct ExtractionIntegrityTests {
    // MARK: Helpers

    /// Every entry below `root`: type, permission bits, and the sha256 of a
    /// file or the target of a symlink.
    static func tree(_ root: String) throws -> [String: String] {
        var result: [String: String] = [:]
        func walk(_ relative: String) throws {
            let path = relative.isEmpty ? root : root + "/" + relative
            guard let names = try directoryEntries(path) else { return }
            for name in names {
                let rel = relative.isEmpty ? name : relative + "/" + name
                let full = root + "/" + rel
                guard let st = FileStatus.lstat(full) else { continue }
                switch st.kind {
                case .directory:
                    result[rel] = "d " + String(st.mode, radix: 8)
                    try walk(rel)
                case .symlink:
                    result[rel] = "l " + (readLink(full) ?? "?")
                case .regular:
                    result[rel] = "f " + String(st.mode, radix: 8) + " " + (try hashFile(full, md5: false).sha256)
                case .other:
                    result[rel] = "other"
                }
            }
        }
        try walk("")
        return result
    }

    /// A small deterministic generator, so a failing flip can be replayed.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9e3779b97f4a7c15
            var z = state
            z = (z ^ (z >> 30)) &* 0xbf58476d1ce4e5b9
            z = (z ^ (z >> 27)) &* 0x94d049bb133111eb
            return z ^ (z >> 31)
        }
    }

    func pack(_ env: String, format: String, into dir: String) throws -> String {
        let archive = dir + "/env." + format
        let r = try TestSupport.envpack(["pack", "-q", "-p", env, "-o", archive, "--format", format])
        try #require(r.status == 0, "pack --format \(format): \(r.stderr)")
        return archive
    }

    /// A refused unpack: non-zero, one line naming the archive (and
    /// `mentions`), nothing at DEST and nothing new beside it.
    func expectRefused(_ archive: String, dest: String, mentions: [String] = [],
                       sourceLocation: SourceLocation = #_sourceLocation) throws {
        let parent = (dest as NSString).deletingLastPathComponent
        let before = Set(try FileManager.default.contentsOfDirectory(atPath: parent))
        let r = try TestSupport.envpack(["unpack", "-q", archive, dest])
        #expect(r.status != 0, "\(archive) was unpacked", sourceLocation: sourceLocation)
        #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)", sourceLocation: sourceLocation)
        for m in [(archive as NSString).lastPathComponent] + mentions {
            #expect(r.stderr.contains(m), "should name \(m): \(r.stderr)", sourceLocation: sourceLocation)
        }
        #expect(!FileManager.default.fileExists(atPath: dest), "DEST was left behind", sourceLocation: sourceLocation)
        let after = Set(try FileManager.default.contentsOfDirectory(atPath: parent))
        #expect(after == before, "left behind: \(after.subtracting(before))", sourceLocation: sourceLocation)
    }

    // MARK: Item 3: no umask race

    /// Every entry's permission bits as a package archive states them,
    /// by path inside the package.
    static func packageModes(_ archive: String) throws -> [String: UInt32] {
        var modes: [String: UInt32] = [:]
        func collect(_ reader: ArchiveReader) throws {
            while let e = try reader.next() {
                guard e.fileType != fileTypeSymlink else { continue }
                modes[e.path.split(separator: "/").filter { $0 != "." }.joined(separator: "/")] = e.mode & 0o1777
            }
        }
        let outer = try ArchiveReader(path: archive)
        if archive.hasSuffix(".conda") {
            while let e = try outer.next() {
                guard e.path.hasSuffix(".tar.zst") else { continue }
                try collect(try ArchiveReader(nestedIn: outer, name: e.path))
            }
        } else {
            try collect(outer)
        }
        return modes
    }

    /// Cold-cache installs extract packages on several threads; before,
    /// libarchive's umask(0)/umask(old) let most of them end with folders
    /// 0777 and files 0666. No entry of the cache or the prefix may be
    /// group- or world-writable beyond what its package states (ncurses,
    /// for one, ships 0664 files); what no package lists (folders made on
    /// the way, records) is neither.
    @Test func coldCacheInstallsKeepExactModes() throws {
        _ = try TestSupport.sharedPackages()
        let spec = TestSupport.fixturesRoot + "/specs/conda-forge.txt"
        // What each package says, by its folder name in the cache.
        var stated: [String: [String: UInt32]] = [:]
        for line in try String(contentsOfFile: spec, encoding: .utf8).split(separator: "\n") where line.hasPrefix("file://") {
            let path = String(line.dropFirst("file://".count).split(separator: "#")[0])
            let file = (path as NSString).lastPathComponent
            let dist = file.hasSuffix(".conda") ? String(file.dropLast(6)) : String(file.dropLast(8))
            stated[dist] = try Self.packageModes(path)
        }
        try #require(stated.count > 10)
        let union = stated.values.reduce(into: [String: UInt32]()) { all, modes in
            all.merge(modes) { $0 | $1 }
        }
        let trials = 3
        var bad: [String] = []
        for trial in 0..<trials {
            let dir = try TestSupport.temporaryDirectory("umask")
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let r = try TestSupport.envpack(["install", "-q", "--file", spec, "-p", dir + "/P", "--pkgs-dir", dir + "/pkgs"])
            try #require(r.status == 0, "install: \(r.stderr)")
            func check(_ top: String, _ allowed: (String) -> UInt32?) throws {
                for (path, entry) in try Self.tree(dir + "/" + top) where !entry.hasPrefix("l ") {
                    let mode = UInt32(entry.split(separator: " ")[1], radix: 8) ?? 0
                    let writable = mode & 0o022, may = (allowed(path) ?? 0) & 0o022
                    if writable & ~may != 0 { bad.append("trial \(trial): \(top)/\(path) \(String(mode, radix: 8))") }
                }
            }
            try check("pkgs") { path in
                let parts = path.split(separator: "/", maxSplits: 1).map(String.init)
                return parts.count == 2 ? stated[parts[0]]?[parts[1]] : nil
            }
            try check("P") { union[$0] }
        }
        #expect(bad.isEmpty, "\(bad.count) entries group/world-writable beyond their package in \(trials) cold installs, e.g. \(bad.prefix(5))")
    }

    /// The cause, checked deterministically: neither install nor unpack
    /// makes a single umask(2) call (the old extraction made one per
    /// archive_write_disk, process-wide, racing the other threads).
    @Test func extractionNeverCallsUmask() throws {
        let env = try TestSupport.fixtureEnv("demo")
        let dir = try TestSupport.temporaryDirectory("umask-strace")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/strace"), "strace is missing (scripts/deps.sh installs it)")
        let archive = try pack(env, format: "tar.zst", into: dir)
        let runs: [(String, [String])] = [
            ("install", ["install", "-q", "--file", TestSupport.fixturesRoot + "/specs/demo.txt", "-p", dir + "/P", "--pkgs-dir", dir + "/pkgs"]),
            ("unpack", ["unpack", "-q", archive, dir + "/dest"]),
        ]
        for (name, arguments) in runs {
            let trace = dir + "/\(name).trace"
            let r = try TestSupport.run("/usr/bin/strace", ["-f", "-qq", "-e", "trace=umask", "-o", trace, TestSupport.envpackBinary] + arguments)
            try #require(r.status == 0, "\(name): \(r.stderr)")
            let calls = try String(contentsOfFile: trace, encoding: .utf8).split(separator: "\n").filter { $0.contains("umask(") }
            #expect(calls.isEmpty, "\(name) called umask \(calls.count) times, e.g. \(calls.prefix(2))")
        }
    }

    // MARK: Item 4: failed writes fail

    /// A full disk during extraction: refused, nothing left.
    @Test func fullDiskFailsTheUnpack() throws {
        let env = try TestSupport.fixtureEnv("demo")
        let dir = try TestSupport.temporaryDirectory("enospc")
        let volume = dir + "/small"
        try FileManager.default.createDirectory(atPath: volume, withIntermediateDirectories: true)
        let mount = try TestSupport.run("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", volume])
        try #require(mount.status == 0, "mounting a tmpfs needs root: \(mount.stderr)")
        defer {
            _ = try? TestSupport.run("/bin/umount", [volume])
            try? FileManager.default.removeItem(atPath: dir)
        }
        let archive = try pack(env, format: "tar.zst", into: dir)
        try expectRefused(archive, dest: volume + "/dest", mentions: ["No space left on device"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: volume).isEmpty)
    }

    /// An LD_PRELOAD shim that fails the Nth write(2) to a file whose path
    /// starts with $ENVPACK_FAIL_UNDER with EIO.
    static func writeFailureShim(in dir: String) throws -> String {
        let source = dir + "/failwrite.c", library = dir + "/failwrite.so"
        try """
        #define _GNU_SOURCE
        #include <dlfcn.h>
        #include <errno.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include <unistd.h>
        static int seen;
        ssize_t write(int fd, const void *buf, size_t n) {
            static ssize_t (*real)(int, const void *, size_t);
            if (!real) real = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
            const char *under = getenv("ENVPACK_FAIL_UNDER"), *nth = getenv("ENVPACK_FAIL_NTH");
            if (under && nth && fd > 2) {
                char link[64], path[4096];
                snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
                ssize_t len = readlink(link, path, sizeof path - 1);
                if (len > 0) {
                    path[len] = 0;
                    if (strncmp(path, under, strlen(under)) == 0 && __atomic_add_fetch(&seen, 1, __ATOMIC_SEQ_CST) == atoi(nth)) {
                        errno = EIO;
                        return -1;
                    }
                }
            }
            return real(fd, buf, n);
        }
        """.write(toFile: source, atomically: true, encoding: .utf8)
        let r = try TestSupport.run("/usr/bin/gcc", ["-shared", "-fPIC", "-O1", "-o", library, source, "-ldl"])
        try #require(r.status == 0, "gcc: \(r.stderr)")
        return library
    }

    /// One write fails with EIO: unpack fails, nothing at DEST.
    @Test func oneFailedWriteFailsTheUnpack() throws {
        let env = try TestSupport.fixtureEnv("demo")
        let dir = try TestSupport.temporaryDirectory("eio")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let shim = try Self.writeFailureShim(in: dir)
        let archive = try pack(env, format: "tar.zst", into: dir)
        let work = dir + "/work"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        for nth in [1, 7] {
            let r = try TestSupport.run("/usr/bin/env", ["LD_PRELOAD=\(shim)", "ENVPACK_FAIL_UNDER=\(work)/.envpack-unpack-", "ENVPACK_FAIL_NTH=\(nth)",
                                                         TestSupport.envpackBinary, "unpack", "-q", archive, work + "/dest"])
            #expect(r.status != 0, "write \(nth) failed with EIO, yet unpack succeeded")
            #expect(r.stderr.contains("Input/output error") && r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: work).isEmpty, "left behind after write \(nth) failed")
        }
    }

    /// One write into the package cache fails: the install fails and no
    /// damaged package stays in the cache as complete: the next install
    /// from the same cache gives the same files as a fresh one.
    @Test func oneFailedWriteFailsTheInstall() throws {
        let spec = TestSupport.fixturesRoot + "/specs/demo.txt"
        let dir = try TestSupport.temporaryDirectory("eio-install")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let shim = try Self.writeFailureShim(in: dir)
        let reference = try TestSupport.envpack(["install", "-q", "--file", spec, "-p", dir + "/ref", "--pkgs-dir", dir + "/refpkgs"])
        try #require(reference.status == 0, "\(reference.stderr)")
        for nth in [1, 3] {
            let pkgs = dir + "/pkgs\(nth)"
            let failed = try TestSupport.run("/usr/bin/env", ["LD_PRELOAD=\(shim)", "ENVPACK_FAIL_UNDER=\(pkgs)/", "ENVPACK_FAIL_NTH=\(nth)",
                                                              TestSupport.envpackBinary, "install", "-q", "--file", spec,
                                                              "-p", dir + "/failed\(nth)", "--pkgs-dir", pkgs])
            #expect(failed.status != 0, "write \(nth) into the cache failed with EIO, yet install succeeded")
            #expect(failed.stderr.contains("Input/output error"), "\(failed.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/failed\(nth)"))
            let again = try TestSupport.envpack(["install", "-q", "--file", spec, "-p", dir + "/again\(nth)", "--pkgs-dir", pkgs])
            try #require(again.status == 0, "\(again.stderr)")
            // The cache's extracted packages (prefix-free) equal a fresh cache's.
            let packages = try FileManager.default.contentsOfDirectory(atPath: dir + "/refpkgs")
                .filter { !$0.hasPrefix(".") && FileStatus.lstat(dir + "/refpkgs/" + $0)?.kind == .directory }
            try #require(!packages.isEmpty)
            for package in packages {
                #expect(try Self.tree(pkgs + "/" + package) == (try Self.tree(dir + "/refpkgs/" + package)),
                        "\(package) in the cache differs from a fresh extraction")
            }
        }
    }

    // MARK: Item 5: every compressed stream verified to its end

    /// The last byte cut: refused as truncated, in every format envpack
    /// writes.
    @Test(arguments: ["tar.zst", "tar.gz", "tar.bz2", "tar.xz"])
    func lastByteCutIsRefused(format: String) throws {
        let env = try TestSupport.fixtureEnv("demo")
        let dir = try TestSupport.temporaryDirectory("cut")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let archive = try pack(env, format: format, into: dir)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: archive))
        let cut = dir + "/cut." + format
        try bytes.dropLast().write(to: URL(fileURLWithPath: cut))
        try expectRefused(cut, dest: dir + "/dest", mentions: ["truncated"])
        // Standard input too.
        let r = try TestSupport.run("/bin/sh", ["-c", "'\(TestSupport.envpackBinary)' unpack -q - '\(dir)/dest2' < '\(cut)'"])
        #expect(r.status != 0 && r.stderr.contains("truncated"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/dest2"))
    }

    /// The last byte of a .conda package cut, and of its inner zstd
    /// stream: refused.
    @Test func truncatedCondaPackageIsRefused() throws {
        let package = TestSupport.fixturesRoot + "/pkgs/envpack-demo-1.0-h0_envpack.conda"
        let dir = try TestSupport.temporaryDirectory("cut-conda")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bytes = try Data(contentsOf: URL(fileURLWithPath: package))
        try bytes.dropLast().write(to: URL(fileURLWithPath: dir + "/cut.conda"))
        try FileManager.default.createDirectory(atPath: dir + "/x", withIntermediateDirectories: true)
        #expect(throws: EnvpackError.self) { try PackageArchive.extract(dir + "/cut.conda", into: dir + "/x") }

        // A zip whose pkg-*.tar.zst ends one byte early (a valid zip, with
        // a matching CRC): the zstd frame is incomplete.
        let script = """
        import sys, zipfile
        src, dst = sys.argv[1], sys.argv[2]
        with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
            for info in zin.infolist():
                data = zin.read(info.filename)
                if info.filename.startswith("pkg-"): data = data[:-1]
                zout.writestr(info.filename, data)
        """
        let r = try TestSupport.run("/usr/bin/python3", ["-c", script, package, dir + "/inner.conda"])
        try #require(r.status == 0, "\(r.stderr)")
        try FileManager.default.createDirectory(atPath: dir + "/y", withIntermediateDirectories: true)
        do {
            try PackageArchive.extract(dir + "/inner.conda", into: dir + "/y")
            Issue.record("a .conda with a truncated pkg-*.tar.zst was extracted")
        } catch {
            #expect("\(error)".contains("truncated") && "\(error)".contains("pkg-"), "\(error)")
        }
    }

    /// Seeded single-byte flips of a packed demo env: each is refused
    /// (nothing at DEST) or unpacks byte-identical to the original.
    @Test(arguments: [("tar.zst", 100), ("tar.gz", 25), ("tar.bz2", 25), ("tar.xz", 25)])
    func flippedBytesAreRefusedOrHarmless(format: String, trials: Int) throws {
        let env = try TestSupport.fixtureEnv("demo")
        let dir = try TestSupport.temporaryDirectory("flip")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let archive = try pack(env, format: format, into: dir)
        let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: archive)))
        let dest = dir + "/dest"
        var options = UnpackOptions(archive: archive, destination: dest)
        options.quiet = true
        _ = try Unpacker.unpack(options)
        let reference = try Self.tree(dest)
        try FileManager.default.removeItem(atPath: dest)

        var random = SplitMix(state: 0x5eed_0000 + UInt64(format.utf8.count))
        var refused = 0, identical = 0
        var corrupted: [Int] = []
        let flipped = dir + "/flipped." + format
        options.archive = flipped
        for trial in 0..<trials {
            var bytes = original
            // Half anywhere, half in the last KiB, where a stream's end
            // checks are (and which tar's end marker used to hide).
            let offset = trial % 2 == 0 ? Int.random(in: 0..<bytes.count, using: &random)
                                        : Int.random(in: max(0, bytes.count - 1024)..<bytes.count, using: &random)
            bytes[offset] ^= UInt8.random(in: 1...255, using: &random)
            try Data(bytes).write(to: URL(fileURLWithPath: flipped))
            do {
                _ = try Unpacker.unpack(options)
                if try Self.tree(dest) == reference { identical += 1 } else { corrupted.append(offset) }
                try FileManager.default.removeItem(atPath: dest)
            } catch {
                refused += 1
                #expect(!FileManager.default.fileExists(atPath: dest), "DEST left after a refusal at offset \(offset)")
                #expect(!"\(error)".isEmpty)
            }
        }
        print("\(format): \(trials) flips: \(refused) refused, \(identical) unpacked byte-identical, \(corrupted.count) corrupted")
        #expect(corrupted.isEmpty, "\(format): flips at \(corrupted) unpacked with exit 0 and a different result")
        let left = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix(".") }
        #expect(left.isEmpty, "left behind: \(left)")
    }

    /// Seeded single-byte flips of a .conda package: refused (the zip
    /// CRC of the inner tarballs, the zstd frame) or extracted identical.
    /// conda-forge's inner zstd frames carry no checksum, so there only
    /// the zip CRC tells.
    @Test(arguments: ["fixture", "conda-forge"])
    func flippedCondaPackageIsRefusedOrHarmless(source: String) throws {
        let package = source == "fixture" ? TestSupport.fixturesRoot + "/pkgs/envpack-demo-1.0-h0_envpack.conda"
            : try TestSupport.sharedPackages() + "/conda-forge-linux-64-py312/idna-3.10-pyhd8ed1ab_1.conda"
        let dir = try TestSupport.temporaryDirectory("flip-conda")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: package)))
        try FileManager.default.createDirectory(atPath: dir + "/ref", withIntermediateDirectories: true)
        try PackageArchive.extract(package, into: dir + "/ref")
        let reference = try Self.tree(dir + "/ref")
        var random = SplitMix(state: 0xc0da)
        let trials = 100
        var refused = 0, identical = 0
        var corrupted: [Int] = []
        for trial in 0..<trials {
            var bytes = original
            let offset = Int.random(in: 0..<bytes.count, using: &random)
            bytes[offset] ^= UInt8.random(in: 1...255, using: &random)
            let flipped = dir + "/f\(trial).conda", out = dir + "/out\(trial)"
            try Data(bytes).write(to: URL(fileURLWithPath: flipped))
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            do {
                try PackageArchive.extract(flipped, into: out)
                if try Self.tree(out) == reference { identical += 1 } else { corrupted.append(offset) }
            } catch {
                refused += 1
            }
            try? FileManager.default.removeItem(atPath: out)
            try? FileManager.default.removeItem(atPath: flipped)
        }
        print("\((package as NSString).lastPathComponent): \(trials) flips: \(refused) refused, \(identical) extracted byte-identical, \(corrupted.count) corrupted")
        #expect(corrupted.isEmpty, "flips at \(corrupted) extracted a different package without an error")
    }

    // MARK: Item 7: zip keeps symlinks and modes

    @Test(arguments: ["demo", "conda-forge"])
    func zipRoundTripKeepsLinksAndModes(name: String) throws {
        if name == "conda-forge" { _ = try TestSupport.sharedPackages() }
        let env = try TestSupport.fixtureEnv(name)
        let dir = try TestSupport.temporaryDirectory("zip")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let archive = try pack(env, format: "zip", into: dir)
        let dest = dir + "/dest"
        let r = try TestSupport.envpack(["unpack", "-q", archive, dest])
        try #require(r.status == 0, "\(r.stderr)")
        let want = try Self.tree(env), got = try Self.tree(dest)
        var wrong: [String] = []
        for (path, entry) in want {
            guard let other = got[path] else { wrong.append("\(path) missing"); continue }
            // Type, mode and link target; contents may differ by the prefix.
            let a = entry.split(separator: " ").prefix(2), b = other.split(separator: " ").prefix(2)
            if a != b { wrong.append("\(path): \(entry.prefix(40)) became \(other.prefix(40))") }
        }
        #expect(wrong.isEmpty, "\(wrong.count) entries differ, e.g. \(wrong.prefix(5))")
        let program = name == "demo" ? "\"\(dest)/bin/greet\" | grep -q \"data: \(dest)/\""
                                     : RelocationChecks.condaForgePrograms(dest)
        let run = try runHidden(program, hidden: [TestSupport.fixturesRoot])
        #expect(run.status == 0, "\(String(decoding: run.stdout, as: UTF8.self)) \(run.stderr)")
    }

    @Test func zipOnStandardInputIsRefused() throws {
        let env = try TestSupport.fixtureEnv("demo")
        let dir = try TestSupport.temporaryDirectory("zip-stdin")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let archive = try pack(env, format: "zip", into: dir)
        let r = try TestSupport.run("/bin/sh", ["-c", "'\(TestSupport.envpackBinary)' unpack -q - '\(dir)/dest' < '\(archive)'"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("zip") && r.stderr.contains("standard input"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/dest"))
    }

    // MARK: Item 9: names that are not UTF-8

    /// Builds a GNU tar whose names are raw bytes (Python's surrogateescape).
    func rawTar(_ path: String, _ entries: String) throws {
        let script = """
        import io, tarfile, sys
        t = tarfile.open(sys.argv[1], "w", format=tarfile.GNU_FORMAT, encoding="utf-8", errors="surrogateescape")
        def add(name, data=b"x", **kw):
            name = name.encode("latin-1").decode("utf-8", "surrogateescape")
            info = tarfile.TarInfo(name); info.size = len(data)
            for k, v in kw.items():
                if k == "linkname": v = v.encode("latin-1").decode("utf-8", "surrogateescape")
                setattr(info, k, v)
            t.addfile(info, io.BytesIO(data) if info.type in (tarfile.REGTYPE, tarfile.AREGTYPE) else None)
        \(entries)
        t.close()
        """
        let r = try TestSupport.run("/usr/bin/python3", ["-c", script, path])
        try #require(r.status == 0, "python: \(r.stderr)")
    }

    @Test func namesThatAreNotUTF8AreRefusedNotMerged() throws {
        let dir = try TestSupport.temporaryDirectory("utf8")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cases: [(String, String, [String])] = [
            // Two names that differ only in invalid bytes.
            ("two", "add('share/a\\xff', b'first'); add('share/a\\xfe', b'second')", ["share/a\\xff", "UTF-8"]),
            ("link", "add('bin/ok'); add('lib/l', type=tarfile.SYMTYPE, linkname='caf\\xe9')", ["lib/l", "caf\\xe9"]),
            ("empty", "add('bin/ok'); add('', b'nameless')", ["#2", "empty name"]),
            ("twice", "add('bin/x', b'first'); add('bin/x', b'second')", ["bin/x", "twice"]),
        ]
        for (name, entries, mentions) in cases {
            let archive = dir + "/\(name).tar"
            try rawTar(archive, entries)
            let out = dir + "/out-\(name)"
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            do {
                try SafeExtractor.extract(archive: archive, into: out)
                Issue.record("\(name): extracted \(try FileManager.default.subpathsOfDirectory(atPath: out))")
            } catch {
                let message = "\(error)"
                for m in mentions { #expect(message.contains(m), "\(name): should name \(m): \(message)") }
                #expect(!message.contains("\u{FFFD}"), "\(message)")
            }
        }
        // Valid non-ASCII names are kept exactly.
        let archive = dir + "/fine.tar"
        try rawTar(archive, "add('share/caf\\xc3\\xa9', b'ok')")
        let out = dir + "/out-fine"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try SafeExtractor.extract(archive: archive, into: out)
        #expect(FileManager.default.fileExists(atPath: out + "/share/café"))
    }

    /// A hardlink entry that carries data (conda-pack writes them, through
    /// python's tarfile) becomes a file of its own with that data: the file
    /// it names is never rewritten through the link.
    @Test func hardlinkEntriesWithDataNeverRewriteTheirTarget() throws {
        let dir = try TestSupport.temporaryDirectory("hldata")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let archive = dir + "/a.tar"
        let script = """
        import io, sys, tarfile
        t = tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT)
        a = tarfile.TarInfo("a"); a.size = 3; t.addfile(a, io.BytesIO(b"one"))
        # tarfile writes size 0 for links: make a pax file header (libarchive
        # honours a pax hardlink's data, bsdtar writes it through the link)
        # and turn it into a hardlink header that keeps its size and data.
        b = tarfile.TarInfo("b"); b.size = 3; b.linkname = "a"; b.pax_headers = {"comment": "hardlink with data"}
        buf = bytearray(b.tobuf(tarfile.PAX_FORMAT, "utf-8", "strict"))
        h = len(buf) - 512
        buf[h+156:h+157] = b"1"; buf[h+148:h+156] = b"        "
        buf[h+148:h+156] = b"%06o\\0 " % sum(buf[h:h+512])
        t.fileobj.write(bytes(buf)); t.fileobj.write(b"two".ljust(512, b"\\0")); t.offset += len(buf) + 512
        t.close()
        """
        let r = try TestSupport.run("/usr/bin/python3", ["-c", script, archive])
        try #require(r.status == 0, "python: \(r.stderr)")
        let out = dir + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try SafeExtractor.extract(archive: archive, into: out)
        #expect(try String(contentsOfFile: out + "/a", encoding: .utf8) == "one")
        #expect(try String(contentsOfFile: out + "/b", encoding: .utf8) == "two")
    }
}
