// Pack on the environments people really have (issue 8): reached through a
// symlink, copied by hand, unpacked and packed again, pip over conda,
// records written by conda 4.x and rattler, base installs, symlinks that
// leave the environment. Never an archive that cannot relocate with exit 0.
import EnvpackRelocation
import Foundation
import Testing
@testable import Envpack

enum Honesty {
    /// Runs Fixtures/mkenv.py (the fixtures' own conda-style installer).
    static func mkenv(_ prefix: String, _ packages: [String], style: String = "conda", cache: String? = nil,
                      extra: [String] = []) throws {
        var args = [TestSupport.packageRoot.appendingPathComponent("Fixtures/mkenv.py").path,
                    "--prefix", prefix, "--record-style", style]
        if let cache { args += ["--pkgs-cache", cache] }
        let r = try TestSupport.run("/usr/bin/python3", args + extra + packages)
        try #require(r.status == 0, "mkenv failed: \(r.stderr)")
    }

    static func fixturePackage(_ name: String) throws -> String {
        let path = TestSupport.fixturesRoot + "/pkgs/" + name
        try #require(FileManager.default.fileExists(atPath: path), "fixture package \(path) is missing: run Fixtures/build.sh")
        return path
    }

    static func condaForge(_ file: String) throws -> String {
        try TestSupport.sharedPackages() + "/conda-forge-linux-64-py312/" + file
    }

    static let openssl = "openssl-3.4.0-h7b32b05_1.conda"
    static let demo = "envpack-demo-1.0-h0_envpack.conda"

    /// Replaces a file by a new one (never writing through a hard link into
    /// the package cache).
    static func rewrite(_ path: String, _ change: (inout [UInt8]) -> Void) throws {
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions]
        change(&bytes)
        try FileManager.default.removeItem(atPath: path)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        if let mode { try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path) }
    }

    static func pack(_ args: [String]) throws -> TestSupport.Result {
        try TestSupport.envpack(["pack", "-q"] + args)
    }
}

@Suite(.serialized) struct PackHonestyTests {
    // MARK: 1. Through a symlink

    @Test func symlinkToTheEnvironmentAndSymlinkedEnvsFolder() throws {
        let source = try TestSupport.fixtureEnv("demo")
        let dir = try TestSupport.temporaryDirectory("link")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createSymbolicLink(atPath: dir + "/link", withDestinationPath: source)
        let r = try Honesty.pack(["-p", dir + "/link", "-o", dir + "/a.tar.zst"])
        try #require(r.status == 0, "\(r.stderr)")
        let manifest = try ArchiveInspector.inspect(path: dir + "/a.tar.zst").manifest
        #expect(manifest.prefix == source)
        #expect(manifest.files.count >= 10, "prefix-bearing files found through the link: \(manifest.files.count)")

        // -n NAME where the envs folder is a symlink.
        try FileManager.default.createSymbolicLink(atPath: dir + "/envs", withDestinationPath: TestSupport.fixturesRoot + "/envs")
        let byName = try TestSupport.run(TestSupport.envpackBinary, ["pack", "-q", "-n", "demo", "-o", dir + "/b.tar.zst"],
                                         environment: ProcessInfo.processInfo.environment.merging(
                                            ["CONDA_ENVS_PATH": dir + "/envs", "HOME": dir]) { _, b in b })
        try #require(byName.status == 0, "\(byName.stderr)")
        #expect(try ArchiveInspector.inspect(path: dir + "/b.tar.zst").manifest.files.count == manifest.files.count)

        let dest = "/tmp/ep8-link-\(UUID().uuidString.prefix(6))"
        defer { try? FileManager.default.removeItem(atPath: dest) }
        let u = try TestSupport.envpack(["unpack", "-q", dir + "/a.tar.zst", dest])
        try #require(u.status == 0, "\(u.stderr)")
        try RelocationIntegrationTests().verify(env: "demo", root: dest, old: [source])
    }

    /// Packages installed through both spellings of the path: the files of
    /// each are found and relocated.
    @Test func packagesInstalledThroughBothSpellings() throws {
        let dir = try TestSupport.temporaryDirectory("spellings")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/real", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: dir + "/link", withDestinationPath: dir + "/real")
        try Honesty.mkenv(dir + "/real/env", [try Honesty.fixturePackage(Honesty.demo)])
        try Honesty.mkenv(dir + "/link/env", [try Honesty.fixturePackage("envpack-legacy-0.9-h0_envpack.tar.bz2")])
        let conf = try String(contentsOfFile: dir + "/real/env/etc/envpack-legacy.conf", encoding: .utf8)
        try #require(conf.contains(dir + "/link/env"), "the legacy package should name the link: \(conf)")
        for given in [dir + "/link/env", dir + "/real/env"] {
            let archive = dir + "/\(UUID().uuidString.prefix(4)).tar.zst"
            let r = try Honesty.pack(["-p", given, "-o", archive])
            try #require(r.status == 0, "\(r.stderr)")
            let files = Set(try ArchiveInspector.inspect(path: archive).manifest.files.map(\.path))
            #expect(files.contains("etc/envpack-legacy.conf") && files.contains("etc/envpack-demo.conf") && files.contains("bin/legacy-hello"),
                    "\(files.sorted())")
            let dest = "/tmp/ep8-both-\(UUID().uuidString.prefix(6))"
            defer { try? FileManager.default.removeItem(atPath: dest) }
            let u = try TestSupport.envpack(["unpack", "-q", archive, dest])
            try #require(u.status == 0, "\(u.stderr)")
            try RelocationIntegrationTests().verify(env: "demo", root: dest, old: [dir + "/real/env"])
            try RelocationChecks.textFilesHoldNo([dir + "/link/env"], in: dest)
        }
    }

    // MARK: 2. Copied by hand, never relocated

    @Test func handCopiedEnvironmentPacksWithThePrefixItsFilesHold() throws {
        let source = try TestSupport.fixtureEnv("demo")
        let dir = try TestSupport.temporaryDirectory("copied")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try TestSupport.copyTree(source, to: dir + "/copy")
        let r = try Honesty.pack(["-p", dir + "/copy", "-o", dir + "/a.tar.zst"])
        try #require(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("copied or moved by hand") && r.stderr.contains("envpack relocate \(dir)/copy --from \(source)"),
                "the pack must say what it did: \(r.stderr)")
        let manifest = try ArchiveInspector.inspect(path: dir + "/a.tar.zst").manifest
        #expect(manifest.prefix == source)
        #expect(manifest.files.count >= 10)
        let dest = "/tmp/ep8-copy-\(UUID().uuidString.prefix(6))"
        defer { try? FileManager.default.removeItem(atPath: dest) }
        let u = try TestSupport.envpack(["unpack", "-q", dir + "/a.tar.zst", dest])
        try #require(u.status == 0, "\(u.stderr)")
        try RelocationIntegrationTests().verify(env: "demo", root: dest, old: [source, dir + "/copy"])
    }

    /// Moved by hand where nothing names the old path (no history command,
    /// no #! line): pack refuses with the command that fixes it, and after
    /// that command it packs.
    @Test func movedEnvironmentWithNoTraceOfItsPathIsRefusedWithTheWayForward() throws {
        let dir = try TestSupport.temporaryDirectory("moved")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Honesty.mkenv(dir + "/orig", [try Honesty.fixturePackage("envpack-legacy-0.9-h0_envpack.tar.bz2")])
        try FileManager.default.moveItem(atPath: dir + "/orig", toPath: dir + "/moved")
        let history = try String(contentsOfFile: dir + "/moved/conda-meta/history", encoding: .utf8)
        try history.split(separator: "\n").filter { !$0.hasPrefix("# cmd:") }.joined(separator: "\n")
            .write(toFile: dir + "/moved/conda-meta/history", atomically: true, encoding: .utf8)
        let r = try Honesty.pack(["-p", dir + "/moved", "-o", dir + "/a.tar.zst"])
        #expect(r.status != 0 && r.stderr.contains("envpack relocate \(dir)/moved --from OLD"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/a.tar.zst"))
        let fix = try TestSupport.envpack(["relocate", dir + "/moved", "--from", dir + "/orig"])
        try #require(fix.status == 0, "\(fix.stderr)")
        let again = try Honesty.pack(["-p", dir + "/moved", "-o", dir + "/a.tar.zst"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try ArchiveInspector.inspect(path: dir + "/a.tar.zst").manifest.files.map(\.path).contains("etc/envpack-legacy.conf"))
    }

    // MARK: 3. Unpacked by envpack, packed again: three hops

    /// Three pack/unpack hops, programs checked after each with every
    /// earlier path hidden; then `tamper` (a file holding the prefix) is
    /// appended to at the last place, and pack must still see the change.
    func hops(_ env: String, start: String? = nil, tamper: String) throws {
        let source = try start ?? TestSupport.fixtureEnv(env)
        let dir = try TestSupport.temporaryDirectory("hops-\(env)")
        var hidden = [source]
        var current = source
        var roots: [String] = []
        var firstReach: Int? = nil
        defer {
            try? FileManager.default.removeItem(atPath: dir)
            for r in roots { try? FileManager.default.removeItem(atPath: r) }
        }
        for hop in 1...3 {
            let archive = dir + "/hop\(hop).tar.zst"
            let r = try Honesty.pack(["-p", current, "-o", archive])
            try #require(r.status == 0, "hop \(hop): pack of \(current) failed: \(r.stderr)")
            // Later hops keep their reach: the binary strings' room survives.
            let reach = try ArchiveInspector.inspect(path: archive).manifest.longestAllowedPrefix
            if hop == 1 { firstReach = reach }
            #expect(reach == firstReach, "hop \(hop): longest destination \(String(describing: reach)), first \(String(describing: firstReach))")
            let dest = "/tmp/ep8-\(env.prefix(4))-h\(hop)-\(UUID().uuidString.prefix(4 + hop * 3))"
            roots.append(dest)
            let u = try TestSupport.envpack(["unpack", "-q", archive, dest])
            try #require(u.status == 0, "hop \(hop): \(u.stderr)")
            try RelocationIntegrationTests().verify(env: env, root: dest, old: hidden)
            if env == "python" {
                // Python rewrites the bytecode of what it imports here.
                let run = try TestSupport.run(dest + "/bin/python3.12", ["-c", "import json, sqlite3, envpack_hello"])
                #expect(run.status == 0, "\(run.stderr)")
            }
            hidden.append(dest)
            current = dest
        }
        try Honesty.rewrite(current + "/" + tamper) { $0 += Array("# appended\n".utf8) }
        let r = try Honesty.pack(["-p", current, "-o", dir + "/tampered.tar.zst"])
        #expect(r.status != 0 && r.stderr.contains(tamper) && r.stderr.contains("changed"),
                "a change after three hops must still be seen: \(r.stderr)")
    }

    @Test func demoPacksAgainAfterThreeHops() throws { try hops("demo", tamper: "etc/envpack-demo.conf") }
    @Test func condaForgePacksAgainAfterThreeHops() throws { try hops("conda-forge", tamper: "bin/xmllint") }

    /// An environment `envpack install` made packs and moves too.
    @Test func installedEnvironmentPacksAndHops() throws {
        let dir = try TestSupport.temporaryDirectory("installed")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let prefix = "/tmp/ep8-inst-\(UUID().uuidString.prefix(6))"
        defer { try? FileManager.default.removeItem(atPath: prefix) }
        let i = try TestSupport.envpack(["install", "-q", "--offline", "--file", TestSupport.fixturesRoot + "/specs/demo.txt",
                                         "-p", prefix, "--pkgs-dir", dir + "/pkgs"])
        try #require(i.status == 0, "\(i.stderr)")
        // envpack-legacy's records know this file only by sha256_in_prefix.
        try hops("demo", start: prefix, tamper: "etc/envpack-legacy.conf")
    }

    // MARK: 4. pip over conda

    /// A wheel zipped by hand (python3's zipfile), installed with the
    /// fixture python's pip into an environment whose noarch package
    /// envpack-hello conda installed.
    func pipEnvironment(_ dir: String, wheelName: String, version: String) throws -> String {
        let env = dir + "/env"
        try Honesty.mkenv(env, [try Honesty.fixturePackage("envpack-hello-1.0-pyh0_envpack.tar.bz2")],
                          extra: ["--python-version", "3.12"])
        let wheel = dir + "/\(wheelName.replacingOccurrences(of: "-", with: "_"))-\(version)-py3-none-any.whl"
        let script = """
        import base64, hashlib, sys, zipfile
        path, name, version = sys.argv[1:4]
        dist = name.replace("-", "_") + "-" + version + ".dist-info"
        files = {"envpack_hello/__init__.py": b"print('patched by pip')\\n",
                 "envpack_hello/extra.py": b"X = 1\\n",
                 dist + "/METADATA": ("Metadata-Version: 2.1\\nName: %s\\nVersion: %s\\n" % (name, version)).encode(),
                 dist + "/WHEEL": b"Wheel-Version: 1.0\\nGenerator: hand\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"}
        record = ""
        for p, data in files.items():
            h = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record += "%s,sha256=%s,%d\\n" % (p, h, len(data))
        record += dist + "/RECORD,,\\n"
        with zipfile.ZipFile(path, "w") as z:
            for p, data in files.items():
                z.writestr(p, data)
            z.writestr(dist + "/RECORD", record)
        """
        let made = try TestSupport.run("/usr/bin/python3", ["-c", script, wheel, wheelName, version])
        try #require(made.status == 0, "\(made.stderr)")
        let python = try TestSupport.fixtureEnv("python") + "/bin/python3.12"
        let pip = try TestSupport.run(python, ["-m", "pip", "install", "-q", "--no-deps", "--no-index", "--no-compile",
                                               "--disable-pip-version-check", "--prefix", env, wheel],
                                      environment: ["PATH": "/usr/bin:/bin", "HOME": dir, "PIP_CONFIG_FILE": "/dev/null"])
        try #require(pip.status == 0, "pip: \(pip.stderr)")
        return env
    }

    @Test func filesPipClobberedArePackedAsUnmanaged() throws {
        let dir = try TestSupport.temporaryDirectory("pip")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let env = try pipEnvironment(dir, wheelName: "envpack-hello-patch", version: "2.0")
        let site = env + "/lib/python3.12/site-packages"
        #expect(try String(contentsOfFile: site + "/envpack_hello/__init__.py", encoding: .utf8).contains("patched by pip"))
        let r = try Honesty.pack(["-p", env, "-o", dir + "/a.tar.zst"])
        try #require(r.status == 0, "\(r.stderr)")
        let warnings = r.stderr.split(separator: "\n").filter { $0.contains("replaced by pip") }
        #expect(warnings.count == 1 && warnings[0].contains("envpack-hello-1.0-pyh0_envpack") && warnings[0].contains("envpack_hello_patch 2.0"),
                "\(r.stderr)")
        let entries = try TestSupport.entries(of: dir + "/a.tar.zst")
        #expect(entries["lib/python3.12/site-packages/envpack_hello/__init__.py"].map { String(decoding: $0.data, as: UTF8.self) } == "print('patched by pip')\n")

        // pip replaced the conda package wholesale: its dist-info is gone and
        // a pip distribution of the same name is there.
        try FileManager.default.removeItem(atPath: site + "/envpack_hello-1.0.dist-info")
        try FileManager.default.moveItem(atPath: site + "/envpack_hello_patch-2.0.dist-info", toPath: site + "/envpack_hello-2.0.dist-info")
        let r2 = try Honesty.pack(["-p", env, "-o", dir + "/b.tar.zst"])
        try #require(r2.status == 0, "\(r2.stderr)")
        #expect(r2.stderr.contains("envpack-hello-1.0-pyh0_envpack was replaced wholesale by pip (envpack_hello 2.0)"), "\(r2.stderr)")
    }

    // MARK: 5. Compiled python files

    /// Unpacked at a path of 150+ characters (scripts get #!/bin/sh
    /// trampolines), python's bytecode rewritten and removed: pack again,
    /// unpack at a short path, and python runs there.
    @Test func compiledPythonFilesNeverRefuseAndTrampolinesPackAgain() throws {
        let source = try TestSupport.fixtureEnv("python")
        let dir = try TestSupport.temporaryDirectory("pyc")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let long = RelocationChecks.longPath(150, tag: "pyc")
        let longTop = "/" + long.split(separator: "/").prefix(2).joined(separator: "/")
        defer { try? FileManager.default.removeItem(atPath: longTop) }
        try FileManager.default.createDirectory(atPath: parentDirectory(long), withIntermediateDirectories: true)
        try #require(try Honesty.pack(["-p", source, "-o", dir + "/a.tar.zst"]).status == 0)
        let u = try TestSupport.envpack(["unpack", "-q", dir + "/a.tar.zst", long])
        try #require(u.status == 0, "\(u.stderr)")
        let script = try String(contentsOfFile: long + "/bin/2to3-3.12", encoding: .utf8)
        try #require(script.hasPrefix("#!/bin/sh\n"), "expected a trampoline at a long path")
        // Python rewrote one and removed another.
        let cache = long + "/lib/python3.12/json/__pycache__"
        try Honesty.rewrite(cache + "/__init__.cpython-312.pyc") { $0 += [0, 1, 2] }
        try FileManager.default.removeItem(atPath: cache + "/decoder.cpython-312.pyc")
        let r = try Honesty.pack(["-p", long, "-o", dir + "/b.tar.zst"])
        try #require(r.status == 0, "\(r.stderr)")
        #expect(try ArchiveInspector.inspect(path: dir + "/b.tar.zst").manifest.longestAllowedPrefix
                == ArchiveInspector.inspect(path: dir + "/a.tar.zst").manifest.longestAllowedPrefix)
        let short = "/tmp/ep8-pyc-\(UUID().uuidString.prefix(6))"
        defer { try? FileManager.default.removeItem(atPath: short) }
        try #require(try TestSupport.envpack(["unpack", "-q", dir + "/b.tar.zst", short]).status == 0)
        try RelocationIntegrationTests().verify(env: "python", root: short, old: [source, long])
    }

    // MARK: 6. Honest change detection

    /// conda 4.x records: paths_data lists only the files with a prefix.
    @Test func conda4RecordsAreCheckedAgainstFilesAndTheCache() throws {
        let dir = try TestSupport.temporaryDirectory("conda4")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let env = dir + "/env"
        try Honesty.mkenv(env, [try Honesty.condaForge(Honesty.openssl), try Honesty.fixturePackage(Honesty.demo)],
                          style: "conda4", cache: dir + "/pkgs")
        try #require(try Honesty.pack(["-p", env, "-o", dir + "/ok.tar.zst"]).status == 0)

        // A deleted shared library the partial paths_data does not list.
        let ssl = env + "/lib/libssl.so.3"
        try FileManager.default.moveItem(atPath: ssl, toPath: dir + "/libssl.so.3")
        var r = try Honesty.pack(["-p", env, "-o", dir + "/a.tar.zst"])
        #expect(r.status != 0 && r.stderr.contains("lib/libssl.so.3 (openssl-3.4.0-h7b32b05_1)") && r.stderr.contains("missing"), "\(r.stderr)")
        // A binary with a placeholder that grew: its size tells.
        try Honesty.rewrite(env + "/lib/libcrypto.so.3") { $0 += [0x41] }
        r = try Honesty.pack(["-p", env, "-o", dir + "/a.tar.zst", "--ignore-missing-files"])
        #expect(r.status != 0 && r.stderr.contains("lib/libcrypto.so.3") && r.stderr.contains("changed"), "\(r.stderr)")
        try Honesty.rewrite(env + "/lib/libcrypto.so.3") { $0.removeLast() }
        // A program the records do not hash: the cache's paths.json does.
        try Honesty.rewrite(env + "/bin/openssl") { $0[100] ^= 0x5a }
        r = try Honesty.pack(["-p", env, "-o", dir + "/a.tar.zst", "--ignore-missing-files"])
        #expect(r.status != 0 && r.stderr.contains("bin/openssl (openssl-3.4.0-h7b32b05_1)") && r.stderr.contains("--ignore-changed-files"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/a.tar.zst"))
        r = try Honesty.pack(["-p", env, "-o", dir + "/a.tar.zst", "--ignore-missing-files", "--ignore-changed-files"])
        #expect(r.status == 0 && r.stderr.contains("warning") && r.stderr.contains("bin/openssl"), "\(r.stderr)")

        // Without the cache, presence is still checked against `files`.
        try FileManager.default.removeItem(atPath: dir + "/pkgs")
        r = try Honesty.pack(["-p", env, "-o", dir + "/b.tar.zst"])
        #expect(r.status != 0 && r.stderr.contains("lib/libssl.so.3"), "\(r.stderr)")
    }

    /// rattler/micromamba records: no placeholder data, but sha256 and size.
    @Test func rattlerRecordsAreHashed() throws {
        let dir = try TestSupport.temporaryDirectory("rattler")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let env = dir + "/env"
        try Honesty.mkenv(env, [try Honesty.condaForge(Honesty.openssl), try Honesty.fixturePackage(Honesty.demo)], style: "rattler")
        let ok = try Honesty.pack(["-p", env, "-o", dir + "/ok.tar.zst"])
        try #require(ok.status == 0, "\(ok.stderr)")
        #expect(try ArchiveInspector.inspect(path: dir + "/ok.tar.zst").manifest.files.count >= 10)
        try Honesty.rewrite(env + "/lib/libssl.so.3") { $0[100] ^= 0x5a }
        var r = try Honesty.pack(["-p", env, "-o", dir + "/a.tar.zst"])
        #expect(r.status != 0 && r.stderr.contains("lib/libssl.so.3"), "\(r.stderr)")
        try Honesty.rewrite(env + "/lib/libssl.so.3") { $0[100] ^= 0x5a }
        // A binary holding the prefix is checked by its size.
        try Honesty.rewrite(env + "/lib/libgreet.so.1.0.0") { $0 += [0] }
        r = try Honesty.pack(["-p", env, "-o", dir + "/a.tar.zst"])
        #expect(r.status != 0 && r.stderr.contains("lib/libgreet.so.1.0.0"), "\(r.stderr)")
    }

    /// A text file holding the prefix is hashed with the prefix put back to
    /// the placeholder: appending to it is a change, at any prefix.
    @Test func prefixBearingTextFilesAreHashed() throws {
        let dir = try TestSupport.temporaryDirectory("text")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let env = dir + "/env"
        try Honesty.mkenv(env, [try Honesty.fixturePackage(Honesty.demo)])
        try #require(try Honesty.pack(["-p", env, "-o", dir + "/ok.tar.zst"]).status == 0)
        try Honesty.rewrite(env + "/etc/envpack-demo.conf") { $0 += Array("extra = 1\n".utf8) }
        let r = try Honesty.pack(["-p", env, "-o", dir + "/a.tar.zst"])
        #expect(r.status != 0 && r.stderr.contains("etc/envpack-demo.conf (envpack-demo-1.0-h0_envpack)"), "\(r.stderr)")
    }

    // MARK: 7. Base installs

    @Test func baseInstallLeavesOutCondaState() throws {
        let dir = try TestSupport.temporaryDirectory("base")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let base = dir + "/base"
        try Honesty.mkenv(base, [try Honesty.fixturePackage(Honesty.demo)])
        let fm = FileManager.default
        try fm.createDirectory(atPath: base + "/pkgs/cache", withIntermediateDirectories: true)
        // conda's repodata cache holds the base's (short) path in binary data.
        try Data(Array("\0\0\(base)/pkgs\0\0".utf8)).write(to: URL(fileURLWithPath: base + "/pkgs/cache/497deca9.q"))
        try "https://conda.anaconda.org/x.conda\n".write(toFile: base + "/pkgs/urls.txt", atomically: true, encoding: .utf8)
        try Honesty.mkenv(base + "/envs/other", [try Honesty.fixturePackage(Honesty.demo)])
        try fm.createDirectory(atPath: base + "/conda-bld/work", withIntermediateDirectories: true)
        try "".write(toFile: base + "/.conda_lock", atomically: true, encoding: .utf8)
        try "x".write(toFile: base + "/notes~", atomically: true, encoding: .utf8)
        let r = try Honesty.pack(["-p", base, "-o", dir + "/a.tar.zst"])
        try #require(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("left out") && r.stderr.contains("pkgs") && r.stderr.contains("envs"), "\(r.stderr)")
        let names = Set(try TestSupport.entries(of: dir + "/a.tar.zst").keys)
        for gone in ["pkgs", "pkgs/cache/497deca9.q", "envs", "envs/other/conda-meta", "conda-bld", ".conda_lock", "notes~"] {
            #expect(!names.contains(gone), "\(gone) was packed")
        }
        #expect(names.contains("bin/greet"))
        let manifest = try ArchiveInspector.inspect(path: dir + "/a.tar.zst").manifest
        #expect(manifest.files.allSatisfy { !$0.path.hasPrefix("pkgs/") && !$0.path.hasPrefix("envs/") })
        // The cache's short path no longer caps every destination.
        #expect((manifest.longestAllowedPrefix ?? 255) == 255, "\(String(describing: manifest.longestAllowedPrefix))")
        // --include brings any of it back.
        let back = try Honesty.pack(["-p", base, "-o", dir + "/b.tar.zst", "--include", "pkgs/*"])
        try #require(back.status == 0, "\(back.stderr)")
        let again = Set(try TestSupport.entries(of: dir + "/b.tar.zst").keys)
        #expect(again.contains("pkgs/cache/497deca9.q") && again.contains("pkgs/urls.txt") && !again.contains("envs/other/conda-meta"))
        let help = try TestSupport.envpack(["help", "pack"])
        #expect(String(decoding: help.stdout, as: UTF8.self).contains("pkgs/, envs/"))
    }

    // MARK: 13. Absolute symlinks leaving the environment

    @Test func absoluteSymlinksOutsideAreKeptAndNamed() throws {
        let dir = try TestSupport.temporaryDirectory("outside")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let env = dir + "/env"
        try Honesty.mkenv(env, [try Honesty.fixturePackage(Honesty.demo)])
        try FileManager.default.createSymbolicLink(atPath: env + "/lib/libcuda.so", withDestinationPath: "/usr/lib/x86_64-linux-gnu/libcuda.so.1")
        try FileManager.default.createSymbolicLink(atPath: env + "/share/inside", withDestinationPath: env + "/share/envpack-demo")
        let r = try Honesty.pack(["-p", env, "-o", dir + "/a.tar.zst"])
        try #require(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("lib/libcuda.so -> /usr/lib/x86_64-linux-gnu/libcuda.so.1"), "\(r.stderr)")
        #expect(!r.stderr.contains("share/inside"), "\(r.stderr)")
        #expect(try TestSupport.entries(of: dir + "/a.tar.zst")["lib/libcuda.so"]?.entry.symlink == "/usr/lib/x86_64-linux-gnu/libcuda.so.1")
    }
}

/// The pieces the checks above rest on, on their own.
@Suite struct PackHonestyUnitTests {
    /// Hashing with the prefix put back gives the same digest however the
    /// stream is cut (occurrences straddle chunks). 200 random cuts.
    @Test func replacingHasherIsIndependentOfChunking() throws {
        let prefix = "/tmp/some/prefix", placeholder = "/opt/placeholder_placeholder_placeholder"
        var text = ""
        for i in 0..<300 { text += "line \(i) \(prefix)/lib/x\(i) \(i % 7 == 0 ? prefix : "")\n" }
        let bytes = Array(text.utf8)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("envpack-replaced-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        try text.replacingOccurrences(of: prefix, with: placeholder).write(toFile: file, atomically: true, encoding: .utf8)
        let expected = try TestSupport.sha256(file)
        #expect(expected.count == 64)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            var hasher = ReplacingHasher(needle: prefix, replacement: placeholder)
            var i = 0
            while i < bytes.count {
                let n = min(bytes.count - i, Int.random(in: 1...40, using: &generator))
                bytes[i..<(i + n)].withUnsafeBytes { hasher.update($0) }
                i += n
            }
            #expect(hasher.finalize() == expected)
        }
    }

    /// Every trampoline envpack writes turns back into its #! line; a
    /// look-alike that is not exactly one does not.
    @Test func trampolinesTurnBackIntoTheirLine() throws {
        let root = "/opt/" + String(repeating: "long-", count: 30)
        for (interpreter, argument) in [("python3.12", ""), ("python3.12", "-E"), ("bash", ""), ("perl", "-w"), ("tclsh8.6", "")] {
            let line = try relocatedShebang(interpreter: root + "/bin/" + interpreter, argument: argument)
            #expect(line.hasPrefix("#!/bin/sh\n"))
            let file = Array((line + "\nbody\n").utf8)
            let undone = file.withUnsafeBytes { TrampolineUndo.originalLine(head: $0) }
            let want = "#!" + root + "/bin/" + interpreter + (argument.isEmpty ? "" : " " + argument)
            #expect(undone.map { String(decoding: $0.line, as: UTF8.self) } == want, "\(interpreter)")
            #expect(undone?.consumed == line.utf8.count)
        }
        let fake = Array("#!/bin/sh\nexec \"/opt/x/bin/python3\" \"$0\" \"$@\"\n".utf8)
        #expect(fake.withUnsafeBytes { TrampolineUndo.originalLine(head: $0) } == nil)
    }
}
