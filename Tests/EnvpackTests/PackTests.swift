// Packing the fixture environments and a real conda-forge environment, and
// reading the archives back: entries, modes, links, the manifest, formats.
import EnvpackRelocation
import Foundation
import Testing
@testable import Envpack

@Suite struct PackTests {
    func pack(_ env: String, to output: String, format: ArchiveFormat = .tarZstd,
              configure: (inout PackOptions) -> Void = { _ in }) throws -> PackSummary {
        var options = PackOptions(prefix: env, output: output, format: format)
        options.quiet = true
        options.threads = 2
        configure(&options)
        return try Packer.pack(options)
    }

    @Test func demoArchiveHoldsEveryKindOfEntry() throws {
        let env = try TestSupport.fixtureEnv("demo")
        let dir = try TestSupport.temporaryDirectory("demo")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let summary = try pack(env, to: dir + "/demo.tar.zst")
        let entries = try TestSupport.entries(of: dir + "/demo.tar.zst")

        // Symlinks stay symlinks, with their targets as written, dangling or not.
        #expect(entries["lib/libgreet.so"]?.entry.symlink == "libgreet.so.1")
        #expect(entries["share/envpack-demo/dangling-link"]?.entry.symlink == "does-not-exist.txt")
        let dirLink = try #require(entries["share/envpack-demo-data"])
        #expect(dirLink.entry.symlink != nil)
        // A hardlink pair is stored once.
        let a = try #require(entries["share/envpack-demo/hardlink-a.txt"])
        let b = try #require(entries["share/envpack-demo/hardlink-b.txt"])
        #expect(a.entry.hardlink == nil && a.entry.size == 40)
        #expect(b.entry.hardlink == "share/envpack-demo/hardlink-a.txt")
        // Empty directories, odd names and modes survive.
        #expect(entries["var/envpack-demo/empty"]?.entry.fileType == 0o040000)
        #expect(entries["share/envpack-demo/with space.txt"] != nil)
        #expect(entries["share/envpack-demo/ünïcødé.txt"] != nil)
        #expect(entries["share/envpack-demo/readonly.txt"]?.entry.mode == 0o444)
        #expect(entries["etc/envpack-demo/private.conf"]?.entry.mode == 0o600)
        #expect(entries["bin/greet"]?.entry.mode == 0o755)

        // The helper is a static executable; conda-unpack leads to it.
        let helper = try #require(entries["bin/envpack-unpack"])
        #expect(helper.entry.mode == 0o755 && hasELFMagicBytes(helper.data))
        #expect(entries["bin/conda-unpack"]?.entry.symlink == "envpack-unpack")

        // The manifest in the archive is the one the packer reports.
        let manifestData = try #require(entries[Manifest.relativePath]).data
        let manifest = try Manifest(parsing: String(decoding: manifestData, as: UTF8.self))
        #expect(manifest == summary.manifest)
        #expect(manifest.prefix == env)
        #expect(Set(manifest.packages.map(\.name)) == ["envpack-demo", "envpack-legacy"])
        let byPath = Dictionary(uniqueKeysWithValues: manifest.files.map { ($0.path, $0) })
        let greet = try #require(byPath["bin/greet"])
        #expect(greet.isELF && greet.mode == .binary)
        // Their RPATH/RUNPATH are `$ORIGIN`-relative in the archive (it runs
        // as extracted): the manifest lists no entry into the prefix.
        #expect(greet.rpaths.isEmpty && byPath["bin/greet-runpath"]?.rpaths.isEmpty == true)
        for name in ["bin/greet", "bin/greet-runpath"] {
            let data = try #require(entries[name]).data
            #expect(data.firstRange(of: Array("$ORIGIN/../lib\0".utf8)) != nil, "\(name) has no $ORIGIN RPATH")
            #expect(data.firstRange(of: Array((env + "/lib\0").utf8)) == nil, "\(name) still names \(env)/lib")
        }
        // The compiled-in data path of the library is in loaded data; conda's
        // NUL padding from the 255-byte placeholder is room it owns.
        let lib = try #require(byPath["lib/libgreet.so.1.0.0"])
        #expect(!lib.loadedOffsets.isEmpty)
        #expect(lib.room[lib.loadedOffsets[0]] == Room(bytes: 255 - env.utf8.count, occurrences: 1))
        #expect(manifest.longestAllowedPrefix == 255)
        // Activation scripts and the conda-unpack name come along.
        #expect(entries["bin/activate"]?.entry.mode == 0o644 && entries["bin/deactivate"] != nil && entries["bin/activate.fish"] != nil)
        let script = try #require(byPath["bin/demo-script"])
        #expect(script.isShebang && script.mode == .text)
        #expect(byPath["bin/greet-wrapper"]?.isShebang == false)
        #expect(byPath["etc/envpack-demo.conf"]?.mode == .text)
        // Offsets point at the prefix in the file.
        let conf = try [UInt8](Data(contentsOf: URL(fileURLWithPath: env + "/etc/envpack-demo.conf")))
        for o in try #require(byPath["etc/envpack-demo.conf"]).offsets {
            #expect(Array(conf[o..<(o + env.utf8.count)]) == Array(env.utf8))
        }
        // Nothing in conda-meta is scanned; nothing outside the env is listed.
        #expect(!manifest.files.contains { $0.path.hasPrefix("conda-meta/") })
    }

    @Test func realCondaForgeEnvironment() throws {
        let env = try TestSupport.fixtureEnv("conda-forge")
        let dir = try TestSupport.temporaryDirectory("cf")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let summary = try pack(env, to: dir + "/cf.tar.zst")
        let m = summary.manifest
        #expect(m.packages.count == 45)
        let byPath = Dictionary(uniqueKeysWithValues: m.files.map { ($0.path, $0) })
        // openssl's libcrypto holds OPENSSLDIR and friends in .rodata.
        let crypto = try #require(byPath["lib/libcrypto.so.3"])
        #expect(crypto.isELF && crypto.mode == .binary && !crypto.loadedOffsets.isEmpty)
        // tk's libraries carry an absolute RPATH into the prefix: pack made
        // it `$ORIGIN`-relative, so the manifest lists it with no RPATH
        // into the prefix (and as an ELF file envpack changed).
        let tk = try #require(byPath["lib/libtk8.6.so"])
        #expect(tk.isELF && tk.rpaths.isEmpty)
        #expect(byPath["bin/curl-config"]?.mode == .text)
        // The micromamba records carry no placeholder data: every file found by reading.
        #expect(m.files.allSatisfy { $0.placeholder == env })

        // bsdtar and GNU tar both read it.
        let list = try TestSupport.run("/usr/bin/tar", ["--zstd", "-tf", dir + "/cf.tar.zst"])
        #expect(list.status == 0)
        #expect(String(decoding: list.stdout, as: UTF8.self).contains("bin/openssl\n"))
    }

    @Test func pythonEnvironmentListsUnmanagedFiles() throws {
        let env = try TestSupport.fixtureEnv("python")
        let dir = try TestSupport.temporaryDirectory("py")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let m = try pack(env, to: dir + "/py.tar.zst").manifest
        let unmanaged = m.files.filter { !$0.isManaged }
        #expect(!unmanaged.isEmpty)
        // pip's script got a launcher; the manifest keeps its original line.
        #expect(unmanaged.contains { $0.originalShebang == "/bin/python3.12" && $0.path == "bin/envpack-unmanaged" })
        // The python executable's RUNPATH pointed into the environment: it
        // is `$ORIGIN/../lib` in the archive, so the manifest lists none.
        let python = try #require(m.files.first { $0.path == "bin/python3.12" })
        #expect(python.isELF && python.rpaths.isEmpty)
    }

    @Test(arguments: ArchiveFormat.allCases)
    func everyFormatIsDeterministicAndReadableByBsdtar(format: ArchiveFormat) throws {
        let env = try TestSupport.fixtureEnv("demo")
        let dir = try TestSupport.temporaryDirectory("fmt")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = dir + "/one." + format.fileExtension
        let second = dir + "/two." + format.fileExtension
        _ = try pack(env, to: first, format: format)
        _ = try pack(env, to: second, format: format)
        #expect(try TestSupport.sha256(first) == TestSupport.sha256(second), "two packs of one environment differ")

        let out = dir + "/x"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let r = try TestSupport.run("/usr/bin/bsdtar", ["-xf", first, "-C", out])
        #expect(r.status == 0, "bsdtar: \(r.stderr)")
        let greeting = try String(contentsOfFile: out + "/share/envpack-demo/greeting.txt", encoding: .utf8)
        #expect(greeting == (try String(contentsOfFile: env + "/share/envpack-demo/greeting.txt", encoding: .utf8)))
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: out + "/lib/libgreet.so")) == "libgreet.so.1")

        if format != .zip {
            let flag = ["tar.zst": "--zstd", "tar.gz": "-z", "tar.bz2": "-j", "tar.xz": "-J", "tar": ""][format.rawValue]!
            let gnu = try TestSupport.run("/usr/bin/tar", (flag.isEmpty ? [] : [flag]) + ["-tf", first])
            #expect(gnu.status == 0, "GNU tar: \(gnu.stderr)")
        }
    }

    @Test func timesAreClampedToTheHistory() throws {
        let env = try TestSupport.fixtureEnv("demo")
        let dir = try TestSupport.temporaryDirectory("mtime")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try pack(env, to: dir + "/a.tar", format: .tar) { $0.mtime = 1_000_000_000 }
        let listing = try TestSupport.run("/usr/bin/tar", ["--full-time", "-tvf", dir + "/a.tar"])
        let lines = String(decoding: listing.stdout, as: UTF8.self).split(separator: "\n")
        #expect(!lines.isEmpty)
        #expect(lines.allSatisfy { $0.contains("2001-09-09") }, "every entry clamped to --mtime")
        #expect(lines.allSatisfy { $0.contains("root/root") || $0.contains("0/0") })
    }

    @Test func excludeAndIncludeApplyInOrder() throws {
        let env = try TestSupport.fixtureEnv("demo")
        let dir = try TestSupport.temporaryDirectory("filter")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try TestSupport.envpack(["pack", "-q", "-p", env, "-o", dir + "/f.tar",
                                         "--exclude", "share/*", "--include", "share/envpack-demo/*.txt",
                                         "--exclude", "*/with space.txt"])
        try #require(r.status == 0, "\(r.stderr)")
        let entries = try TestSupport.entries(of: dir + "/f.tar")
        #expect(entries["share/envpack-demo/greeting.txt"] != nil)
        #expect(entries["share/envpack-demo/with space.txt"] == nil)
        #expect(entries["share/envpack-legacy/old-style.txt"] == nil)
        #expect(entries["share/envpack-demo/dangling-link"] == nil)
        #expect(entries["bin/greet"] != nil)
    }

    @Test func arcrootNestsEverything() throws {
        let env = try TestSupport.fixtureEnv("demo")
        let dir = try TestSupport.temporaryDirectory("arcroot")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try pack(env, to: dir + "/a.tar", format: .tar) { $0.arcroot = "myenv/" }
        let entries = try TestSupport.entries(of: dir + "/a.tar")
        #expect(entries.keys.allSatisfy { $0 == "myenv" || $0.hasPrefix("myenv/") })
        #expect(entries["myenv/share/envpack-demo/hardlink-b.txt"]?.entry.hardlink == "myenv/share/envpack-demo/hardlink-a.txt")
        let report = try ArchiveInspector.inspect(path: dir + "/a.tar")
        #expect(report.arcroot == "myenv" && report.hasHelper)
    }

    @Test func standardOutputGivesTheSameBytesAsAFile() throws {
        let env = try TestSupport.fixtureEnv("demo")
        let dir = try TestSupport.temporaryDirectory("stdout")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r1 = try TestSupport.envpack(["pack", "-q", "-p", env, "-o", dir + "/file.tar.zst"])
        try #require(r1.status == 0, "\(r1.stderr)")
        _ = FileManager.default.createFile(atPath: dir + "/stream.tar.zst", contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/stream.tar.zst"))
        let r2 = try TestSupport.envpack(["pack", "-q", "-p", env, "-o", "-"], stdout: handle)
        try handle.close()
        try #require(r2.status == 0, "\(r2.stderr)")
        #expect(try TestSupport.sha256(dir + "/file.tar.zst") == TestSupport.sha256(dir + "/stream.tar.zst"))
        // Inspect reads standard input too.
        let inspect = try TestSupport.run("/bin/sh", ["-c", "\(TestSupport.envpackBinary) inspect - < '\(dir)/stream.tar.zst'"])
        #expect(inspect.status == 0)
        #expect(String(decoding: inspect.stdout, as: UTF8.self).contains("packages:         2"))
    }
}

private func hasELFMagicBytes(_ b: [UInt8]) -> Bool { b.count > 4 && b[0] == 0x7f && b[1] == 0x45 && b[2] == 0x4c && b[3] == 0x46 }
