// conda-pack habits (issue 9): its short flags, negative numbers, zip
// options, relative --dest-prefix, its other formats (no-archive, squashfs),
// --arcroot checks, --force and missing folders, streams as outputs, -n
// through conda on PATH, the help, usage errors (exit 64), and what pack
// says after packing. Every test runs the built `envpack` as a user does.
import EnvpackRelocation
import Foundation
import Testing
@testable import Envpack

@Suite struct CondaPackHabitTests {
    static let usageExit: Int32 = 64

    private func scratch(_ label: String) throws -> String { try TestSupport.temporaryDirectory(label) }

    /// Item 1: conda-pack's -f (--force) and -d (--dest-prefix).
    @Test func shortForceAndDestPrefixFlags() throws {
        let env = try TestSupport.fixtureEnv("demo")
        let dir = try scratch("short")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = dir + "/a.tar"
        try #require(try TestSupport.envpack(["pack", "-q", "-p", env, "-o", out]).status == 0)
        let r = try TestSupport.envpack(["pack", "-q", "-p", env, "-o", out, "-f", "-d", dir + "/dest"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try ArchiveInspector.inspect(path: out).manifest.prefix == dir + "/dest")
    }

    /// Item 2: -j -1 and --compress-level -1 parse (all cores, the format's
    /// default); -j 0 is a usage error, as in conda-pack.
    @Test func negativeThreadsAndLevel() throws {
        let env = try TestSupport.fixtureEnv("demo")
        let dir = try scratch("neg")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try TestSupport.envpack(["pack", "-q", "-p", env, "-o", dir + "/a.tar.gz", "-j", "-1", "--compress-level", "-1"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try ArchiveInspector.inspect(path: dir + "/a.tar.gz").manifest.prefix == env)
        let joined = try TestSupport.envpack(["pack", "-q", "-p", env, "-o", dir + "/b.tar.zst", "--n-threads", "-1"])
        #expect(joined.status == 0, "\(joined.stderr)")
        let zero = try TestSupport.envpack(["pack", "-q", "-p", env, "-o", dir + "/c.tar.zst", "-j", "0"])
        #expect(zero.status == Self.usageExit && zero.stderr.contains("-1 for all cores"), "\(zero.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/c.tar.zst"))
        let low = try TestSupport.envpack(["pack", "-q", "-p", env, "-o", dir + "/d.tar.gz", "--compress-level", "-2"])
        #expect(low.status == Self.usageExit && low.stderr.contains("0-9"), "\(low.stderr)")
    }

    /// Item 3: --zip-symlinks and --no-zip-64 are accepted; the zip stores
    /// links as links and has no ZIP64 record.
    @Test func zipSymlinksAndNoZip64() throws {
        let env = try TestSupport.fixtureEnv("demo")
        let dir = try scratch("zip")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try TestSupport.envpack(["pack", "-q", "-p", env, "-o", dir + "/a.zip", "--zip-symlinks", "--no-zip-64"])
        try #require(r.status == 0, "\(r.stderr)")
        let check = try TestSupport.run("/usr/bin/python3", ["-c", """
            import zipfile, struct, stat, sys
            z = zipfile.ZipFile(sys.argv[1])
            zip64 = links = 0
            for i in z.infolist():
                k = 0
                while k + 4 <= len(i.extra):
                    hid, ln = struct.unpack('<HH', i.extra[k:k+4])
                    zip64 += hid == 1
                    k += 4 + ln
                links += stat.S_ISLNK(i.external_attr >> 16)
            print(zip64, links)
            """, dir + "/a.zip"])
        let fields = String(decoding: check.stdout, as: UTF8.self).split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        #expect(fields.count == 2 && fields[0] == 0 && fields[1] > 0, "\(fields) \(check.stderr)")
    }

    /// Item 3: an environment a zip without ZIP64 cannot hold (here a
    /// sparse 4 GiB file) is refused before any output.
    @Test func noZip64RefusesWhatNeedsZip64() throws {
        let dir = try scratch("zip64")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let env = dir + "/env"
        try FileManager.default.createDirectory(atPath: env + "/conda-meta", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: env + "/share", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: env + "/conda-meta/history", contents: Data())
        _ = FileManager.default.createFile(atPath: env + "/share/big.dat", contents: Data())
        #expect(truncate(env + "/share/big.dat", 1 << 32) == 0)
        let r = try TestSupport.envpack(["pack", "-q", "-p", env, "-o", dir + "/a.zip", "--no-zip-64"])
        #expect(r.status != 0 && r.stderr.contains("share/big.dat") && r.stderr.contains("4 GiB"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/a.zip"))
    }

    /// Item 4: a relative --dest-prefix stays relative, and the environment
    /// runs from the folder above it, as conda-pack's -d ./env does.
    @Test func relativeDestPrefixStaysRelative() throws {
        let env = try TestSupport.fixtureEnv("demo")
        let dir = try scratch("reldest")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try TestSupport.envpack(["pack", "-q", "-p", env, "-o", dir + "/a.tar", "-d", "./environment"])
        try #require(r.status == 0, "\(r.stderr)")
        #expect(try ArchiveInspector.inspect(path: dir + "/a.tar").manifest.prefix == "./environment")
        let run = try TestSupport.run("/bin/sh", ["-c", """
            cd '\(dir)' && mkdir environment && tar -xf a.tar -C environment && ./environment/bin/greet
            """])
        let out = String(decoding: run.stdout, as: UTF8.self)
        #expect(run.status == 0 && out.contains("data: ./environment/share/envpack-demo/greeting.txt"), "\(out) \(run.stderr)")
        #expect(!out.contains(dir + "/environment/share") && !out.contains(FileManager.default.currentDirectoryPath + "/environment"))
    }

    /// Item 5: --format no-archive writes a plain folder: with -d, relocated
    /// there; without, carrying the helper that relocates it where it is.
    @Test func noArchiveFolder() throws {
        let env = try TestSupport.fixtureEnv("demo")
        let dir = try scratch("noarch")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relocated = dir + "/stage/env"
        let r = try TestSupport.envpack(["pack", "-q", "-p", env, "--format", "no-archive", "-o", relocated, "-d", relocated])
        try #require(r.status == 0, "\(r.stderr)")
        var greet = try TestSupport.run(relocated + "/bin/greet", [])
        #expect(String(decoding: greet.stdout, as: UTF8.self).contains("data: \(relocated)/share/"), "\(greet.stderr)")
        #expect(FileManager.default.fileExists(atPath: relocated + "/" + Manifest.relativePath))

        let plain = dir + "/plain"
        let p = try TestSupport.envpack(["pack", "-q", "-p", env, "--format", "no-archive", "-o", plain])
        try #require(p.status == 0, "\(p.stderr)")
        #expect(try String(contentsOfFile: plain + "/etc/envpack-demo.conf", encoding: .utf8).contains("prefix = \(env)\n"))
        let helper = try TestSupport.run(plain + "/bin/envpack-unpack", [])
        #expect(helper.status == 0, "\(helper.stderr)")
        greet = try TestSupport.run(plain + "/bin/greet", [])
        #expect(String(decoding: greet.stdout, as: UTF8.self).contains("data: \(plain)/share/"))
        // It exists now: refused without --force, and nothing else is left beside it.
        let again = try TestSupport.envpack(["pack", "-q", "-p", env, "--format", "no-archive", "-o", plain])
        #expect(again.status != 0 && again.stderr.contains("--force"), "\(again.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["plain", "stage"])
    }

    /// Item 5: --format squashfs through mksquashfs, zstd inside; a clear
    /// error naming the Debian package when mksquashfs is missing; parcel
    /// refused in one line.
    @Test func squashfsAndParcel() throws {
        let env = try TestSupport.fixtureEnv("demo")
        let dir = try scratch("sqfs")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/unsquashfs"),
                     "squashfs-tools is missing: run scripts/deps.sh")
        let r = try TestSupport.envpack(["pack", "-q", "-p", env, "--format", "squashfs", "-o", dir + "/env.sqfs"])
        try #require(r.status == 0, "\(r.stderr)")
        let stats = try TestSupport.run("/usr/bin/unsquashfs", ["-s", dir + "/env.sqfs"])
        #expect(String(decoding: stats.stdout, as: UTF8.self).contains("Compression zstd"))
        let list = try TestSupport.run("/usr/bin/unsquashfs", ["-l", dir + "/env.sqfs"])
        let names = String(decoding: list.stdout, as: UTF8.self)
        #expect(names.contains("squashfs-root/bin/greet") && names.contains("squashfs-root/bin/envpack-unpack")
                && names.contains("squashfs-root/" + Manifest.relativePath), "\(names)")

        let bin = dir + "/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        let missing = try TestSupport.run("/usr/bin/env", ["PATH=\(bin)", TestSupport.envpackBinary, "pack", "-q", "-p", env,
                                                           "--format", "squashfs", "-o", dir + "/b.sqfs"])
        #expect(missing.status != 0 && missing.stderr.contains("mksquashfs") && missing.stderr.contains("squashfs-tools"), "\(missing.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/b.sqfs"))

        let parcel = try TestSupport.envpack(["pack", "-q", "-p", env, "--format", "parcel", "-o", dir + "/p"])
        #expect(parcel.status == Self.usageExit && parcel.stderr.contains("parcel"), "\(parcel.stderr)")
        #expect(parcel.stderr.split(separator: "\n").first?.contains("not supported") == true)
    }

    /// Item 6: --arcroot with .. is refused at pack time, with no output.
    @Test func arcrootOutsideIsRefused() throws {
        let env = try TestSupport.fixtureEnv("demo")
        let dir = try scratch("arcroot")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for root in ["../x", "a/../../x", "/abs"] {
            let r = try TestSupport.envpack(["pack", "-q", "-p", env, "-o", dir + "/a.tar", "--arcroot", root])
            #expect(r.status == Self.usageExit && r.stderr.contains("--arcroot"), "\(root): \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/a.tar"))
        }
        let ok = try TestSupport.envpack(["pack", "-q", "-p", env, "-o", dir + "/a.tar", "--arcroot", "sub/env"])
        #expect(ok.status == 0, "\(ok.stderr)")
    }

    /// Item 7: --force creates the output's missing folder; unpack creates
    /// DEST's missing parents, and removes them again when it fails.
    @Test func missingFoldersAreCreated() throws {
        let env = try TestSupport.fixtureEnv("demo")
        let dir = try scratch("mkdirs")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = dir + "/new/sub/a.tar.zst"
        let without = try TestSupport.envpack(["pack", "-q", "-p", env, "-o", out])
        #expect(without.status != 0 && !FileManager.default.fileExists(atPath: dir + "/new"))
        let with = try TestSupport.envpack(["pack", "-q", "-p", env, "-o", out, "--force"])
        try #require(with.status == 0, "\(with.stderr)")
        let dest = dir + "/a/b/c/env"
        let u = try TestSupport.envpack(["unpack", "-q", out, dest])
        try #require(u.status == 0, "\(u.stderr)")
        #expect(try TestSupport.run(dest + "/bin/greet", []).status == 0)
        // A failing unpack leaves none of the folders it made.
        try Data("not an archive".utf8).write(to: URL(fileURLWithPath: dir + "/bad.tar.zst"))
        let bad = try TestSupport.envpack(["unpack", "-q", dir + "/bad.tar.zst", dir + "/x/y/env"])
        #expect(bad.status != 0)
        #expect(!FileManager.default.fileExists(atPath: dir + "/x"))
        // Folders that were there stay.
        let bad2 = try TestSupport.envpack(["unpack", "-q", dir + "/bad.tar.zst", dir + "/a/b/q/env"])
        #expect(bad2.status != 0 && FileManager.default.fileExists(atPath: dir + "/a/b") && !FileManager.default.fileExists(atPath: dir + "/a/b/q"))
    }

    /// Item 8: -o /dev/null and -o FIFO are written as streams.
    @Test func characterDevicesAndPipes() throws {
        let env = try TestSupport.fixtureEnv("demo")
        let dir = try scratch("streams")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let null = try TestSupport.envpack(["pack", "-q", "-p", env, "-o", "/dev/null"])
        #expect(null.status == 0, "\(null.stderr)")
        let fifo = dir + "/fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        let r = try TestSupport.run("/bin/bash", ["-c", """
            cat '\(fifo)' > '\(dir)/copy.tar.zst' & reader=$!
            '\(TestSupport.envpackBinary)' pack -q -p '\(env)' -o '\(fifo)'; status=$?
            # A reader still waiting (envpack never opened the pipe) gets EOF.
            exec 3<>'\(fifo)'; exec 3>&-
            wait $reader; exit $status
            """])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try ArchiveInspector.inspect(path: dir + "/copy.tar.zst").manifest.prefix == env)
        #expect(FileStatus.lstat(fifo)?.kind == .other)
        // /dev/stdout redirected to a file: written through, the link left alone.
        let file = dir + "/stdout.tar.zst"
        _ = FileManager.default.createFile(atPath: file, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
        let s = try TestSupport.envpack(["pack", "-q", "-p", env, "-o", "/dev/stdout"], stdout: handle)
        try handle.close()
        #expect(s.status == 0, "\(s.stderr)")
        #expect(try ArchiveInspector.inspect(path: file).manifest.prefix == env)
        #expect(FileStatus.lstat("/dev/stdout")?.kind == .symlink)
    }

    /// Item 9: -n asks `conda` on PATH when CONDA_EXE is unset.
    @Test func nameThroughCondaOnPath() throws {
        let env = try TestSupport.fixtureEnv("demo")
        let dir = try scratch("condapath")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bin = dir + "/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        try """
            #!/bin/sh
            [ "$1 $2" = "info --json" ] || exit 2
            echo '{"envs": ["\(env)"], "root_prefix": "/nonexistent"}'
            """.write(toFile: bin + "/conda", atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: bin + "/conda")
        let r = try TestSupport.run("/usr/bin/env", ["-u", "CONDA_EXE", "-u", "CONDA_PREFIX", "HOME=\(dir)", "PATH=\(bin):/usr/bin:/bin",
                                                     TestSupport.envpackBinary, "pack", "-q", "-n", "demo", "-o", dir + "/a.tar"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try ArchiveInspector.inspect(path: dir + "/a.tar").manifest.prefix == env)
    }

    /// Item 11: the help states defaults, the usage line lists the options,
    /// every subcommand has an example, and a mistyped subcommand is named.
    @Test func helpAndMistypedSubcommands() throws {
        let help = try TestSupport.envpack(["help", "pack"])
        // Help wraps lines: compare with whitespace collapsed.
        let text = String(decoding: help.stdout, as: UTF8.self).split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(help.status == 0)
        for needle in ["-f, --force", "-d, --dest-prefix", "tar.zst is envpack's default", "tar.zst 1-19 (default 3)",
                       "default 4, as conda-pack", "* also matches /", "relative to the environment", "Examples:",
                       "USAGE: envpack pack [-n <name> | -p <path>]", "no-archive", "squashfs"] {
            #expect(text.contains(needle), "help pack lacks \(needle)")
        }
        #expect(!text.contains("not in this version") && !text.contains("pack <options>"))
        for sub in ["unpack", "relocate", "inspect", "install", "export", "bundle"] {
            let h = String(decoding: try TestSupport.envpack(["help", sub]).stdout, as: UTF8.self)
            #expect(h.contains("Example"), "help \(sub) has no example")
        }
        for args in [["help", "pakc"], ["pakc", "-p", "X"], ["unpak", "a", "b"]] {
            let r = try TestSupport.envpack(args)
            #expect(r.status == Self.usageExit, "\(args): \(r.status)")
            #expect(r.stderr.contains("is not an envpack subcommand") && r.stderr.contains("did you mean"), "\(args): \(r.stderr)")
            #expect(!r.stderr.contains("Unknown option"))
        }
    }

    /// Item 13: usage errors exit 64; -n with a path suggests -p.
    @Test func usageErrorsExit64() throws {
        let env = try TestSupport.fixtureEnv("demo")
        let dir = try scratch("usage")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cases: [([String], String)] = [
            (["pack", "-p", env, "--format=tar.gzz", "-o", dir + "/a"], "tar.gzz"),
            (["pack", "-p", env, "-o", dir + "/a.rar"], "cannot infer"),
            (["pack", "-n", env, "-o", dir + "/a.tar"], "-p \(env)"),
            (["pack", "-p", env, "-o", dir + "/a.tar.zst", "--compress-level", "30"], "1-19"),
            (["pack", "-p", env, "--format", "no-archive", "-o", "-"], "standard output"),
        ]
        for (args, needle) in cases {
            let r = try TestSupport.envpack(args)
            #expect(r.status == Self.usageExit, "\(args): exit \(r.status) \(r.stderr)")
            #expect(r.stderr.contains(needle), "\(args): \(r.stderr)")
        }
    }

    /// Item 14: the summary says how to extract a .tar.zst without envpack;
    /// pack warns when binary files cap destinations at a short length,
    /// naming the files.
    @Test func summaryHintAndShortPrefixWarning() throws {
        let env = try TestSupport.fixtureEnv("demo")
        let dir = try scratch("hint")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try TestSupport.envpack(["pack", "-p", env, "-o", dir + "/a.tar.zst"])
        #expect(r.status == 0)
        #expect(r.stderr.contains("mkdir -p DEST && tar --zstd -xf \(dir)/a.tar.zst -C DEST && DEST/bin/envpack-unpack"), "\(r.stderr)")
        #expect(!r.stderr.contains("limit destinations"))
        // The hint works as printed.
        let dest = dir + "/by-tar"
        let hint = try TestSupport.run("/bin/sh", ["-c", "mkdir -p \(dest) && tar --zstd -xf \(dir)/a.tar.zst -C \(dest) && \(dest)/bin/envpack-unpack && \(dest)/bin/greet"])
        #expect(hint.status == 0 && String(decoding: hint.stdout, as: UTF8.self).contains("data: \(dest)/share/"), "\(hint.stderr)")

        // A binary file that holds the (short) prefix with no padding.
        let small = dir + "/e"
        try FileManager.default.createDirectory(atPath: small + "/conda-meta", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: small + "/lib", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: small + "/conda-meta/history", contents: Data())
        let data = Data("abc\0\(small)/share/x\0def".utf8)
        _ = FileManager.default.createFile(atPath: small + "/lib/data.bin", contents: data)
        // Managed by a package, so the data counts as loaded (unmanaged
        // non-ELF data never limits a move).
        let record = """
        {"name": "data", "version": "1", "build": "0", "files": ["lib/data.bin"], "paths_data": {"paths_version": 1, "paths": [\
        {"_path": "lib/data.bin", "path_type": "hardlink", "file_mode": "binary", "prefix_placeholder": "\(small)", \
        "sha256": "\(try TestSupport.sha256(small + "/lib/data.bin"))", "size_in_bytes": \(data.count)}]}}
        """
        try record.write(toFile: small + "/conda-meta/data-1-0.json", atomically: true, encoding: .utf8)
        let w = try TestSupport.envpack(["pack", "-p", small, "-o", dir + "/e.tar.zst"])
        #expect(w.status == 0, "\(w.stderr)")
        let limit = small.utf8.count
        #expect(w.stderr.contains("warning: the archive's binary files limit destinations to \(limit) bytes") && w.stderr.contains("lib/data.bin"), "\(w.stderr)")
    }
}
