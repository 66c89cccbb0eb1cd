// envpack install from explicit specs: the real conda-forge set (file:// and
// http on 127.0.0.1), the legacy .tar.bz2 set, the fixture noarch python
// package, the round trip through pack and unpack, export and bundle, and
// every bad input leaving nothing at PREFIX.
import EnvpackRelocation
import Foundation
import Testing
@testable import Envpack

enum InstallSupport {
    static let condaForgeNames = """
        _libgcc_mutex _openmp_mutex bzip2 c-ares ca-certificates fmt keyutils krb5 ld_impl_linux-64
        libarchive libcurl libedit libev libexpat libffi libgcc libgcc-ng libgomp libiconv liblzma libmamba
        libnghttp2 libnsl libsolv libsqlite libssh2 libstdcxx libstdcxx-ng libuuid libxcrypt libxml2 libzlib
        lz4-c lzo ncurses openssl pybind11-abi python_abi readline reproc reproc-cpp tk tzdata yaml-cpp zstd
        """.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)

    /// The 45-package set's reference records, in the order of the reference
    /// conda-meta/history.
    static func condaForgeRecords() throws -> (folder: String, records: [[String: Any]]) {
        let folder = try TestSupport.sharedPackages() + "/conda-forge-linux-64-py312"
        let meta = folder + "/conda-meta"
        var byDist: [String: [String: Any]] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: meta) where name.hasSuffix(".json") {
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: meta + "/" + name))) as! [String: Any]
            if condaForgeNames.contains(json["name"] as! String) { byDist[String(name.dropLast(5))] = json }
        }
        var ordered: [[String: Any]] = []
        for line in try String(contentsOfFile: meta + "/history", encoding: .utf8).split(separator: "\n") where line.hasPrefix("+") {
            let dist = String(line.split(separator: "::").last!)
            if let r = byDist.removeValue(forKey: dist) { ordered.append(r) }
        }
        try #require(ordered.count == 45, "expected the 45 packages in the reference history")
        return (folder, ordered)
    }

    /// An explicit spec with sha256, with package locations from `location`.
    static func spec(_ records: [[String: Any]], location: (String) -> String) -> String {
        "# platform: linux-64\n@EXPLICIT\n" + records.map { "\(location($0["fn"] as! String))#\($0["sha256"] as! String)\n" }.joined()
    }

    static func install(_ spec: String, dir: String, prefix: String, extra: [String] = []) throws -> TestSupport.Result {
        try spec.write(toFile: dir + "/spec.txt", atomically: true, encoding: .utf8)
        return try TestSupport.envpack(["install", "-q", "--file", dir + "/spec.txt", "-p", prefix, "--pkgs-dir", dir + "/pkgs"] + extra)
    }

    static func expectRuns(_ prefix: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let r = try runHidden(RelocationChecks.condaForgePrograms(prefix), hidden: [])
        #expect(r.status == 0, "programs failed: \(String(decoding: r.stdout, as: UTF8.self)) \(r.stderr)", sourceLocation: sourceLocation)
    }
}

@Suite struct InstallTests {
    @Test func condaForgeSetFromFileURLs() throws {
        let (folder, records) = try InstallSupport.condaForgeRecords()
        let dir = try TestSupport.temporaryDirectory("inst")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let prefix = dir + "/env"
        let r = try InstallSupport.install(InstallSupport.spec(records) { "file://\(folder)/\($0)" }, dir: dir, prefix: prefix)
        try #require(r.status == 0, "\(r.stderr)")
        try InstallSupport.expectRuns(prefix)

        // Every file the reference records list is there; unpatched ones byte for byte.
        var checked = 0
        for record in records {
            let paths = (record["paths_data"] as! [String: Any])["paths"] as! [[String: Any]]
            for p in paths where p["path_type"] as? String == "hardlink" {
                let path = prefix + "/" + (p["_path"] as! String)
                #expect(FileManager.default.fileExists(atPath: path), "\(path) missing")
                if let sha = p["sha256"] as? String, sha == p["sha256_in_prefix"] as? String {
                    #expect(try TestSupport.sha256(path) == sha, "\(path) differs from the package")
                    checked += 1
                }
            }
            for p in paths where p["path_type"] as? String == "softlink" {
                #expect(FileStatus.lstat(prefix + "/" + (p["_path"] as! String))?.kind == .symlink)
            }
        }
        #expect(checked > 4000)

        // The written records carry every field conda writes.
        let openssl = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: prefix + "/conda-meta/openssl-3.4.0-h7b32b05_1.json"))) as! [String: Any]
        for key in ["name", "version", "build", "build_number", "depends", "subdir", "license", "timestamp", "url", "channel", "fn",
                    "md5", "sha256", "size", "files", "paths_data", "link", "requested_spec"] {
            #expect(openssl[key] != nil, "record lacks \(key)")
        }
        let reference = records.first { $0["name"] as? String == "openssl" }!
        #expect(openssl["md5"] as? String == reference["md5"] as? String)
        #expect(openssl["sha256"] as? String == reference["sha256"] as? String)
        #expect(openssl["size"] as? Int == reference["size"] as? Int)
        let patched = ((openssl["paths_data"] as! [String: Any])["paths"] as! [[String: Any]]).filter { $0["prefix_placeholder"] != nil }
        #expect(!patched.isEmpty && patched.allSatisfy { $0["sha256_in_prefix"] != nil && $0["file_mode"] != nil })
        // envpack's own pack recognises it.
        let env = try CondaEnvironment.load(prefix: prefix)
        #expect(env.records.count == 45)
        #expect(FileManager.default.fileExists(atPath: prefix + "/conda-meta/history"))
    }

    @Test func condaForgeSetOverHTTPAndAlteredHash() throws {
        let (folder, records) = try InstallSupport.condaForgeRecords()
        let dir = try TestSupport.temporaryDirectory("http")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let port = Int.random(in: 20000...40000)
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        server.arguments = ["-m", "http.server", "--bind", "127.0.0.1", "--directory", folder, "\(port)"]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        // SIGKILL: a child of the test runner may inherit a mask that blocks SIGTERM.
        func stopServer() { if server.isRunning { kill(server.processIdentifier, SIGKILL); server.waitUntilExit() } }
        defer { stopServer() }
        for _ in 0..<50 {
            if (try? TestSupport.run("/usr/bin/python3", ["-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:\(port)/')"]).status) == 0 { break }
            usleep(100_000)
        }
        let spec = InstallSupport.spec(records) { "http://127.0.0.1:\(port)/\($0)" }

        // One hash altered: refused before anything is installed, naming the package.
        let bad = spec.replacingOccurrences(of: records[10]["sha256"] as! String, with: String(repeating: "0", count: 64))
        let refused = try InstallSupport.install(bad, dir: dir, prefix: dir + "/bad")
        #expect(refused.status != 0)
        #expect(refused.stderr.contains(records[10]["fn"] as! String) && refused.stderr.contains("sha256"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/bad"))

        let r = try InstallSupport.install(spec, dir: dir, prefix: dir + "/env")
        try #require(r.status == 0, "\(r.stderr)")
        try InstallSupport.expectRuns(dir + "/env")
        // The downloads are cached: an offline install needs no server.
        stopServer()
        let offline = try InstallSupport.install(spec, dir: dir, prefix: dir + "/env2", extra: ["--offline"])
        #expect(offline.status == 0, "\(offline.stderr)")
    }

    @Test func legacyTarBz2Set() throws {
        let folder = try TestSupport.sharedPackages() + "/legacy-conda-forge-2016"
        let dir = try TestSupport.temporaryDirectory("legacy")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var spec = "# platform: linux-64\n@EXPLICIT\n"
        for p in ["zlib-1.2.8-3", "xz-5.2.2-0", "ncurses-5.9-8", "readline-6.2-0", "tk-8.5.19-0", "openssl-1.0.2h-2", "ca-certificates-2016.8.2-3"] {
            spec += "\(folder)/\(p).tar.bz2#\(try TestSupport.sha256(folder + "/" + p + ".tar.bz2"))\n"
        }
        let prefix = dir + "/env"
        let r = try InstallSupport.install(spec, dir: dir, prefix: prefix)
        try #require(r.status == 0, "\(r.stderr)")
        let run = try runHidden("""
            "\(prefix)/bin/xz" --version | grep -q 'xz (XZ Utils) 5.2.2'
            "\(prefix)/bin/openssl" version | grep -q '1.0.2h'
            """, hidden: [])
        #expect(run.status == 0, "\(String(decoding: run.stdout, as: UTF8.self)) \(run.stderr)")
        // no_link files are copies, not hardlinks to the cache.
        let record = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: prefix + "/conda-meta/openssl-1.0.2h-2.json"))) as! [String: Any]
        let noLink = ((record["paths_data"] as! [String: Any])["paths"] as! [[String: Any]]).filter { $0["no_link"] as? Bool == true }
        #expect(!noLink.isEmpty)
        for p in noLink { #expect(FileStatus.lstat(prefix + "/" + (p["_path"] as! String))?.linkCount == 1) }
    }

    @Test func noarchPythonWithTheFixtureCPython() throws {
        _ = try TestSupport.fixtureEnv("python")
        let dir = try TestSupport.temporaryDirectory("noarch")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let prefix = dir + "/env"
        let r = try TestSupport.envpack(["install", "-q", "--file", TestSupport.fixturesRoot + "/specs/python.txt", "-p", prefix,
                                         "--pkgs-dir", dir + "/pkgs", "--compile-pyc"])
        try #require(r.status == 0, "\(r.stderr)")
        let run = try runHidden("""
            "\(prefix)/bin/envpack-hello" | grep -q 'sys.prefix: \(prefix)'
            head -1 "\(prefix)/bin/envpack-hello" | grep -qx '#!\(prefix)/bin/python3.12'
            ls "\(prefix)"/lib/python3.12/site-packages/envpack_hello/__pycache__/*.cpython-312.pyc >/dev/null
            """, hidden: ["/root/.pyenv", TestSupport.fixturesRoot])
        #expect(run.status == 0, "\(String(decoding: run.stdout, as: UTF8.self)) \(run.stderr)")
        let recordFile = try #require(try FileManager.default.contentsOfDirectory(atPath: prefix + "/conda-meta").first { $0.hasPrefix("envpack-hello-") })
        let record = try JSONDecoder().decode(PackageRecord.self, from: Data(contentsOf: URL(fileURLWithPath: prefix + "/conda-meta/" + recordFile)))
        #expect(record.pathsData!.paths.contains { $0.pathType == .unixPythonEntryPoint && $0.path == "bin/envpack-hello" })
        #expect(record.pathsData!.paths.contains { $0.pathType == .pycFile })
    }

    /// install → pack → unpack elsewhere → programs run with the install path hidden.
    @Test func roundTripThroughPackAndUnpack() throws {
        let (folder, records) = try InstallSupport.condaForgeRecords()
        let dir = try TestSupport.temporaryDirectory("round")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let prefix = dir + "/installed"
        try #require(try InstallSupport.install(InstallSupport.spec(records) { "\(folder)/\($0)" }, dir: dir, prefix: prefix).status == 0)
        let packed = try TestSupport.envpack(["pack", "-q", "-p", prefix, "-o", dir + "/env.tar.zst"])
        try #require(packed.status == 0, "\(packed.stderr)")
        let moved = RelocationChecks.longPath(150, tag: "round")
        let top = "/" + moved.split(separator: "/").prefix(2).joined(separator: "/")
        defer { try? FileManager.default.removeItem(atPath: top) }
        try FileManager.default.createDirectory(atPath: (moved as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let unpacked = try TestSupport.envpack(["unpack", "-q", dir + "/env.tar.zst", moved])
        try #require(unpacked.status == 0, "\(unpacked.stderr)")
        let run = try runHidden("""
            [ ! -e "\(prefix)/conda-meta" ]
            "\(moved)/bin/openssl" version -d | grep -qx 'OPENSSLDIR: "\(moved)/ssl"'
            "\(moved)/bin/xmllint" --version 2>/dev/null
            echo 'puts [info patchlevel]' | "\(moved)/bin/tclsh8.6" | grep -q '^8\\.6'
            \(RelocationChecks.loadsOwnLibraries(moved, "\"\(moved)/bin/openssl\" version"))
            """, hidden: [prefix])
        #expect(run.status == 0, "\(String(decoding: run.stdout, as: UTF8.self)) \(run.stderr)")
    }

    @Test func exportAndBundleReproduceTheEnvironment() throws {
        let (folder, records) = try InstallSupport.condaForgeRecords()
        let dir = try TestSupport.temporaryDirectory("export")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = dir + "/first"
        try #require(try InstallSupport.install(InstallSupport.spec(records) { "file://\(folder)/\($0)" }, dir: dir, prefix: first).status == 0)

        let exported = try TestSupport.envpack(["export", "-p", first, "-o", dir + "/exported.txt"])
        try #require(exported.status == 0, "\(exported.stderr)")
        let second = dir + "/second"
        let again = try TestSupport.envpack(["install", "-q", "--file", dir + "/exported.txt", "-p", second, "--pkgs-dir", dir + "/pkgs"])
        try #require(again.status == 0, "\(again.stderr)")
        func files(_ root: String) throws -> Set<String> {
            Set(try EnvironmentTree.walk(prefix: root).filter { $0.path != "conda-meta/history" }.map(\.path))
        }
        #expect(try files(first) == files(second))

        // The bundle installs with the network unused (no network namespace at all).
        let bundled = try TestSupport.envpack(["bundle", "-p", first, "-o", dir + "/bundle", "--pkgs-dir", dir + "/pkgs"])
        try #require(bundled.status == 0, "\(bundled.stderr)")
        let offline = try TestSupport.run("/usr/bin/unshare", ["-n", TestSupport.envpackBinary, "install", "-q", "--offline",
                                                               "--file", dir + "/bundle/spec.txt", "-p", dir + "/third",
                                                               "--pkgs-dir", dir + "/pkgs-empty"])
        #expect(offline.status == 0, "\(offline.stderr)")
        #expect(try files(first) == files(dir + "/third"))
        try InstallSupport.expectRuns(dir + "/third")
    }
}

@Suite struct InstallFailureTests {
    func expectNothingAt(_ prefix: String, _ r: TestSupport.Result, mentions: [String],
                         sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.status != 0, sourceLocation: sourceLocation)
        #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)", sourceLocation: sourceLocation)
        for m in mentions { #expect(r.stderr.contains(m), "should name \(m): \(r.stderr)", sourceLocation: sourceLocation) }
        #expect(!FileManager.default.fileExists(atPath: prefix), "something was left at PREFIX", sourceLocation: sourceLocation)
        let parent = (prefix as NSString).deletingLastPathComponent
        let leftovers = ((try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []).filter { $0.contains("envpack-install") }
        #expect(leftovers.isEmpty, "staging left: \(leftovers)", sourceLocation: sourceLocation)
    }

    @Test func malformedSpecs() throws {
        let dir = try TestSupport.temporaryDirectory("spec")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let prefix = dir + "/env"
        let cases: [(String, [String])] = [
            ("@EXPLICIT\nhttps://x/y/a-1-0.conda#abc\n", ["spec.txt:2", "abc"]),
            ("@EXPLICIT\nftp://x/y/a-1-0.conda\n", ["spec.txt:2", "ftp"]),
            ("@EXPLICIT\nhttps://x/y/not-a-package.zip\n", ["spec.txt:2", "not-a-package.zip"]),
            ("https://x/y/a-1-0.conda\n", ["spec.txt:1", "@EXPLICIT"]),
            ("# platform: osx-arm64\n@EXPLICIT\nhttps://x/y/a-1-0.conda\n", ["osx-arm64", "--force"]),
            ("@EXPLICIT\n\(dir)/missing-1-0.conda\n", ["missing-1-0.conda"]),
            ("@EXPLICIT\nhttp://127.0.0.1:9/a-1-0.conda\n", ["127.0.0.1:9", "line 2"]),
        ]
        for (spec, mentions) in cases {
            let r = try InstallSupport.install(spec, dir: dir, prefix: prefix)
            expectNothingAt(prefix, r, mentions: mentions)
        }
        // --offline says which package is missing.
        let r = try InstallSupport.install("@EXPLICIT\nhttps://conda.anaconda.org/x/linux-64/a-1-0.conda\n", dir: dir, prefix: prefix, extra: ["--offline"])
        expectNothingAt(prefix, r, mentions: ["a-1-0.conda", "--offline"])
    }

    @Test func badPackagesLeaveNothing() throws {
        let (folder, records) = try InstallSupport.condaForgeRecords()
        let dir = try TestSupport.temporaryDirectory("badpkg")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let prefix = dir + "/env"
        // A truncated package, named by its line.
        let zstd = records.first { $0["name"] as? String == "zstd" }!
        let bytes = try Data(contentsOf: URL(fileURLWithPath: folder + "/" + (zstd["fn"] as! String)))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: dir + "/zstd-1.5.6-ha6fb4c9_0.conda"))
        var r = try InstallSupport.install("@EXPLICIT\n\(dir)/zstd-1.5.6-ha6fb4c9_0.conda\n", dir: dir, prefix: prefix)
        expectNothingAt(prefix, r, mentions: ["zstd-1.5.6-ha6fb4c9_0.conda"])

        // A package whose paths escape the prefix.
        try makePackage(dir: dir, name: "evil-1-0", paths: #"{"paths_version": 1, "paths": [{"_path": "../../escape", "path_type": "hardlink"}]}"#,
                        files: ["../../escape"])
        r = try InstallSupport.install("@EXPLICIT\n\(dir)/evil-1-0.tar.bz2\n", dir: dir, prefix: prefix)
        expectNothingAt(prefix, r, mentions: ["evil-1-0.tar.bz2"])
        #expect(!FileManager.default.fileExists(atPath: (dir as NSString).deletingLastPathComponent + "/escape"))

        // A prefix longer than a binary placeholder: refused before linking.
        var long = dir + "/long"
        while long.count < 300 { long += "/" + String(repeating: "y", count: 60) }
        try FileManager.default.createDirectory(atPath: (long as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        r = try InstallSupport.install(InstallSupport.spec(records) { "\(folder)/\($0)" }, dir: dir, prefix: long)
        expectNothingAt(long, r, mentions: ["ncurses-6.5-h2d0b736_2", "lib/libtinfo.so.6.5", "binary prefix of 255 bytes"])
    }

    /// A small .tar.bz2 package made with Python's tarfile, which writes any path.
    func makePackage(dir: String, name: String, paths: String, files: [String]) throws {
        let script = """
        import io, json, tarfile, sys
        t = tarfile.open(sys.argv[1], "w:bz2")
        def add(n, data):
            i = tarfile.TarInfo(n); i.size = len(data); t.addfile(i, io.BytesIO(data))
        add("info/index.json", json.dumps({"name": "evil", "version": "1", "build": "0", "build_number": 0, "subdir": "linux-64"}).encode())
        add("info/paths.json", sys.argv[2].encode())
        for f in sys.argv[3:]:
            add(f, b"x")
        t.close()
        """
        let r = try TestSupport.run("/usr/bin/python3", ["-c", script, dir + "/" + name + ".tar.bz2", paths] + files)
        try #require(r.status == 0, "\(r.stderr)")
    }
}

@Suite struct InstallBehaviourTests {
    /// Link scripts are listed, not run; run on request, and a failing one
    /// takes the whole environment away again.
    @Test func linkScriptsAreListedAndRunOnlyOnRequest() throws {
        let folder = try TestSupport.sharedPackages() + "/legacy-conda-forge-2016"
        let dir = try TestSupport.temporaryDirectory("linkscripts")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = folder + "/widgetsnbextension-1.2.6-py34_3.tar.bz2"
        let spec = "@EXPLICIT\n\(file)#\(try TestSupport.sha256(file))\n"
        let listed = try InstallSupport.install(spec, dir: dir, prefix: dir + "/env")
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(listed.stderr.contains("post-link.sh") && listed.stderr.contains("--run-link-scripts"), "\(listed.stderr)")
        // Its post-link script calls jupyter, which this environment lacks.
        let run = try InstallSupport.install(spec, dir: dir, prefix: dir + "/env2", extra: ["--run-link-scripts"])
        #expect(run.status != 0)
        #expect(run.stderr.contains("post-link.sh"), "\(run.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/env2"))
    }

    /// Two packages writing one path: reported, and the later one in spec order wins.
    @Test func clobbersAreReportedAndTheLaterPackageWins() throws {
        let dir = try TestSupport.temporaryDirectory("clobber")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (name, content) in [("first", "one"), ("second", "two")] {
            let script = """
            import io, json, tarfile, sys, hashlib
            t = tarfile.open(sys.argv[1], "w:bz2")
            def add(n, data):
                i = tarfile.TarInfo(n); i.size = len(data); t.addfile(i, io.BytesIO(data))
            data = sys.argv[3].encode()
            add("info/index.json", json.dumps({"name": sys.argv[2], "version": "1", "build": "0", "build_number": 0, "subdir": "linux-64"}).encode())
            add("info/paths.json", json.dumps({"paths_version": 1, "paths": [{"_path": "share/same.txt", "path_type": "hardlink",
                "sha256": hashlib.sha256(data).hexdigest(), "size_in_bytes": len(data)}]}).encode())
            add("share/same.txt", data)
            t.close()
            """
            let r = try TestSupport.run("/usr/bin/python3", ["-c", script, dir + "/\(name)-1-0.tar.bz2", name, content])
            try #require(r.status == 0, "\(r.stderr)")
        }
        let r = try InstallSupport.install("@EXPLICIT\n\(dir)/first-1-0.tar.bz2\n\(dir)/second-1-0.tar.bz2\n", dir: dir, prefix: dir + "/env")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("share/same.txt: first-1-0 -> second-1-0"), "\(r.stderr)")
        #expect(try String(contentsOfFile: dir + "/env/share/same.txt", encoding: .utf8) == "two")
    }
}
