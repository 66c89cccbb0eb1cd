// PyPI wheels in lock files, installed natively: wheels built here with
// python3's zipfile (one with a console-script entry point, one with
// .data/scripts, headers and data, one cp312 manylinux-tagged), locked with
// the fixture CPython package in a conda-lock.yml, its explicit render
// (`# pip` lines) and a pixi.lock; then pip itself (the fixture python's
// own) lists, shows and uninstalls them; pack sees them as pip's files; and
// every hostile or unusable wheel is a one-line refusal naming it, with
// nothing left at PREFIX. `envpack export` writes the lock back, and the
// export installs offline to the same packages.
import Foundation
import Testing
@testable import Envpack

enum WheelSupport {
    /// One package cache for every test here, so the fixture python is
    /// extracted once per run (installs take turns on it with flock);
    /// removed when the test process exits.
    static let cache: String = {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("envpack-test-wheel-cache-\(getpid())").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: WheelSupport.cache) }
        return path
    }()

    /// Writes a wheel; returns its sha256. `lies` changes files after
    /// RECORD was computed; `raw` adds zip entries verbatim (name -> text,
    /// or a symlink target with "symlink:" in front); `record` adds RECORD rows.
    static let builder = #"""
    import sys, json, zipfile, hashlib, base64
    spec = json.loads(sys.argv[1]); out = sys.argv[2]
    name, ver = spec["name"], spec["version"]
    di = f"{name}-{ver}.dist-info"
    files = dict(spec.get("files", {}))
    files[f"{di}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {ver}\nSummary: envpack test wheel\n"
    files[f"{di}/WHEEL"] = f"Wheel-Version: 1.0\nGenerator: envpack-test\nRoot-Is-Purelib: {spec.get('purelib', 'true')}\nTag: {spec['tag']}\n"
    if "entry_points" in spec: files[f"{di}/entry_points.txt"] = spec["entry_points"]
    rows = []
    for p, c in files.items():
        b = c.encode(); h = base64.urlsafe_b64encode(hashlib.sha256(b).digest()).rstrip(b"=").decode()
        rows.append(f"{p},sha256={h},{len(b)}")
    rows += spec.get("record", [])
    for p, c in spec.get("lies", {}).items(): files[p] = c
    rows.append(f"{di}/RECORD,,")
    files[f"{di}/RECORD"] = "\n".join(rows) + "\n"
    with zipfile.ZipFile(out, "w") as z:
        for p, c in list(files.items()) + list(spec.get("raw", {}).items()):
            info = zipfile.ZipInfo(p, (1980, 1, 1, 0, 0, 0))
            if c.startswith("symlink:"):
                info.external_attr = (0o120777 << 16); c = c[len("symlink:"):]
            else:
                info.external_attr = (0o100644 << 16)
            z.writestr(info, c)
    print(hashlib.sha256(open(out, "rb").read()).hexdigest())
    """#

    struct Wheel {
        var name: String
        var version: String
        var fileName: String
        var path: String
        var sha256: String
    }

    static func build(_ spec: [String: Any], tag: String = "py3-none-any", into dir: String) throws -> Wheel {
        var spec = spec
        spec["tag"] = tag
        let name = spec["name"] as! String, version = spec["version"] as! String
        let fileName = "\(name)-\(version)-\(tag).whl"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let json = String(decoding: try JSONSerialization.data(withJSONObject: spec), as: UTF8.self)
        let r = try TestSupport.run("/usr/bin/python3", ["-c", builder, json, dir + "/" + fileName])
        try #require(r.status == 0, "building \(fileName): \(r.stderr)")
        let sha = String(decoding: r.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return Wheel(name: name, version: version, fileName: fileName, path: dir + "/" + fileName, sha256: sha)
    }

    /// The three good wheels.
    static func goodWheels(into dir: String) throws -> [Wheel] {
        let greet = try build([
            "name": "envpack_greet", "version": "1.0",
            "files": ["envpack_greet/__init__.py": "import sys\ndef main():\n    print('hello from greet', sys.prefix)\n    return 0\n"],
            "entry_points": "[console_scripts]\nenvpack-greet = envpack_greet:main\n[gui_scripts]\nenvpack-greet-gui = envpack_greet:main\n",
        ], into: dir)
        let tool = try build([
            "name": "envpack_tool", "version": "2.0",
            "files": [
                "envpack_tool.py": "VALUE = 'tool value 42'\n",
                "envpack_tool-2.0.data/scripts/envpack-tool-run": "#!python\nimport envpack_tool\nprint(envpack_tool.VALUE)\n",
                "envpack_tool-2.0.data/headers/envpack_tool.h": "#define ENVPACK_TOOL 1\n",
                "envpack_tool-2.0.data/data/share/envpack-tool/notes.txt": "notes\n",
            ],
        ], into: dir)
        let native = try build([
            "name": "envpack_native", "version": "0.1", "purelib": "false",
            "files": ["envpack_native/__init__.py": "KIND = 'native'\n"],
        ], tag: "cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64", into: dir)
        return [greet, tool, native]
    }

    static func pythonPackage() throws -> (path: String, sha256: String, md5: String) {
        _ = try TestSupport.fixtureEnv("python")
        let path = TestSupport.fixturesRoot + "/pkgs/python-3.12.1-h0_envpack.conda"
        let md5 = String(decoding: try TestSupport.run("/usr/bin/md5sum", [path]).stdout, as: UTF8.self).split(separator: " ").first.map(String.init) ?? ""
        return (path, try TestSupport.sha256(path), md5)
    }

    static func pipEntry(_ w: Wheel, url: String, sha: String? = nil) -> String {
        """
        - name: \(w.name)
          version: "\(w.version)"
          manager: pip
          platform: linux-64
          dependencies: {}
          url: \(url)
          hash:
            sha256: \(sha ?? w.sha256)
          category: main
          optional: false

        """
    }

    /// A conda-lock.yml: the fixture python, then `pip` entries.
    static func condaLock(_ wheels: [Wheel], url: (Wheel) -> String = { "file://" + $0.path }) throws -> String {
        let py = try pythonPackage()
        var y = "version: 1\nmetadata:\n  platforms:\n  - linux-64\n  sources: []\npackage:\n"
        y += "- name: python\n  version: 3.12.1\n  manager: conda\n  platform: linux-64\n  dependencies: {}\n"
        y += "  url: file://\(py.path)\n  hash:\n    md5: \(py.md5)\n    sha256: \(py.sha256)\n  category: main\n  optional: false\n"
        for w in wheels { y += pipEntry(w, url: url(w)) }
        return y
    }

    /// The explicit render of the same lock.
    static func explicit(_ wheels: [Wheel]) throws -> String {
        let py = try pythonPackage()
        return "# platform: linux-64\n@EXPLICIT\nfile://\(py.path)#\(py.sha256)\n"
            + wheels.map { "# pip \($0.name) @ file://\($0.path)#sha256=\($0.sha256)\n" }.joined()
    }

    /// A pixi.lock (v6) with `pypi:` entries at `location(wheel)`.
    static func pixi(_ wheels: [Wheel], location: (Wheel) -> String) throws -> String {
        let py = try pythonPackage()
        var y = "version: 6\nenvironments:\n  default:\n    channels:\n    - url: https://conda.anaconda.org/conda-forge/\n    packages:\n      linux-64:\n"
        y += "      - conda: file://\(py.path)\n"
        for w in wheels { y += "      - pypi: \(location(w))\n" }
        y += "packages:\n- conda: file://\(py.path)\n  sha256: \(py.sha256)\n  md5: \(py.md5)\n  license: PSF\n"
        for w in wheels { y += "- pypi: \(location(w))\n  name: \(w.name)\n  version: \(w.version)\n  sha256: \(w.sha256)\n" }
        return y
    }

    static func install(_ text: String, dir: String, name: String, prefix: String, extra: [String] = [],
                        environment: [String: String]? = nil) throws -> TestSupport.Result {
        try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
        return try TestSupport.run(TestSupport.envpackBinary,
                                   ["install", "-q", "--file", dir + "/" + name, "-p", prefix, "--pkgs-dir", cache] + extra,
                                   environment: environment)
    }

    /// The environment's own pip (the fixture python ships pip 23.2.1).
    static func pip(_ prefix: String, _ arguments: [String]) throws -> TestSupport.Result {
        try TestSupport.run(prefix + "/bin/python3.12", ["-m", "pip", "--disable-pip-version-check", "--no-input"] + arguments,
                            environment: ["PATH": "/usr/bin:/bin", "HOME": "/root", "PIP_NO_INDEX": "1", "PYTHONNOUSERSITE": "1"])
    }

    static func out(_ r: TestSupport.Result) -> String { String(decoding: r.stdout, as: UTF8.self) }

    /// Every path in the tree (file contents for regular files), but
    /// conda-meta/history (it holds the time).
    static func tree(_ root: String) throws -> [String: String] {
        var result: [String: String] = [:]
        for e in try EnvironmentTree.walk(prefix: root) where e.path != "conda-meta/history" {
            switch e.status.kind {
            case .regular: result[e.path] = e.path.hasPrefix("conda-meta/") ? "record" : try TestSupport.sha256(root + "/" + e.path)
            case .symlink: result[e.path] = "-> " + (e.linkTarget ?? "")
            default: result[e.path] = "dir"
            }
        }
        return result
    }
}

@Suite struct WheelInstallTests {
    typealias W = WheelSupport

    @Test func condaLockWithWheelsInstallsWorksWithPipAndPack() throws {
        let dir = try TestSupport.temporaryDirectory("wheels")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let wheels = try W.goodWheels(into: dir + "/wheels")
        let prefix = dir + "/env"
        let r = try W.install(try W.condaLock(wheels), dir: dir, name: "conda-lock.yml", prefix: prefix)
        try #require(r.status == 0, "\(r.stderr)")
        let site = prefix + "/lib/python3.12/site-packages"

        // Imports, the console script, the .data script, headers and data,
        // with the fixtures, the wheels and the package cache hidden.
        let script = """
        "\(prefix)/bin/python3.12" -c 'import envpack_greet, envpack_tool, envpack_native; print(envpack_native.KIND)' | grep -qx native
        "\(prefix)/bin/envpack-greet" | grep -qx 'hello from greet \(prefix)'
        "\(prefix)/bin/envpack-greet-gui" | grep -q 'hello from greet'
        "\(prefix)/bin/envpack-tool-run" | grep -qx 'tool value 42'
        head -1 "\(prefix)/bin/envpack-tool-run" | grep -qx '#!\(prefix)/bin/python3.12'
        head -1 "\(prefix)/bin/envpack-greet" | grep -qx '#!\(prefix)/bin/python3.12'
        grep -q ENVPACK_TOOL "\(prefix)/include/python3.12/envpack_tool/envpack_tool.h"
        grep -qx notes "\(prefix)/share/envpack-tool/notes.txt"
        """
        let hidden = try runHidden(script, hidden: [TestSupport.fixturesRoot, dir + "/wheels", W.cache])
        #expect(hidden.status == 0, "\(W.out(hidden)) \(hidden.stderr)")
        #expect(!FileManager.default.fileExists(atPath: prefix + "/" + WheelInstaller.scratchName))

        // What pip writes, as pip writes it.
        let distInfo = site + "/envpack_greet-1.0.dist-info"
        #expect(try String(contentsOfFile: distInfo + "/INSTALLER", encoding: .utf8) == "envpack\n")
        let direct = try String(contentsOfFile: distInfo + "/direct_url.json", encoding: .utf8)
        #expect(direct.contains("file://\(wheels[0].path)") && direct.contains(wheels[0].sha256), "\(direct)")
        let record = try String(contentsOfFile: distInfo + "/RECORD", encoding: .utf8)
        #expect(record.contains("../../../bin/envpack-greet,sha256="), "\(record)")
        #expect(record.contains("envpack_greet-1.0.dist-info/RECORD,,"), "\(record)")

        // pip lists them with installer envpack, shows one, and uninstalls one cleanly.
        let list = try W.pip(prefix, ["list", "-v", "--format", "json"])
        try #require(list.status == 0, "pip list: \(list.stderr)")
        let listed = try JSONSerialization.jsonObject(with: list.stdout) as! [[String: Any]]
        for name in ["envpack-greet", "envpack-tool", "envpack-native"] {
            let row = listed.first { PipOwnership.normalizedName($0["name"] as? String ?? "") == name }
            #expect(row?["installer"] as? String == "envpack", "\(name) in \(W.out(list))")
        }
        let show = try W.pip(prefix, ["show", "-f", "envpack_tool"])
        #expect(show.status == 0 && W.out(show).contains("Version: 2.0") && W.out(show).contains("../../../bin/envpack-tool-run"), "\(W.out(show)) \(show.stderr)")
        // pack sees the wheels' files as pip's (unmanaged), not as conda's.
        let env = try CondaEnvironment.load(prefix: prefix)
        let ownership = PipOwnership.load(prefix: prefix, entries: try EnvironmentTree.walk(prefix: prefix), env: env)
        #expect(ownership.owner["lib/python3.12/site-packages/envpack_tool.py"] == "envpack_tool 2.0")
        #expect(ownership.owner["bin/envpack-greet"] == "envpack_greet 1.0")
        #expect(env.managed["bin/envpack-greet"] == nil)

        let uninstall = try W.pip(prefix, ["uninstall", "-y", "envpack_tool"])
        #expect(uninstall.status == 0, "pip uninstall: \(W.out(uninstall)) \(uninstall.stderr)")
        for gone in ["bin/envpack-tool-run", "lib/python3.12/site-packages/envpack_tool.py", "lib/python3.12/site-packages/envpack_tool-2.0.dist-info",
                     "include/python3.12/envpack_tool/envpack_tool.h", "share/envpack-tool/notes.txt"] {
            #expect(!FileManager.default.fileExists(atPath: prefix + "/" + gone), "\(gone) left after pip uninstall")
        }
        #expect(FileManager.default.fileExists(atPath: prefix + "/bin/envpack-greet"))
        let after = try W.pip(prefix, ["list", "--format", "freeze"])
        #expect(!W.out(after).contains("envpack_tool") && !W.out(after).contains("envpack-tool") && W.out(after).contains("envpack"), "\(W.out(after))")
    }

    @Test func explicitRenderAndPixiGiveTheSameEnvironment() throws {
        let dir = try TestSupport.temporaryDirectory("wheels-same")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let wheels = try W.goodWheels(into: dir + "/project/wheels")
        let fromLock = try W.install(try W.condaLock(wheels), dir: dir, name: "conda-lock.yml", prefix: dir + "/a")
        try #require(fromLock.status == 0, "\(fromLock.stderr)")
        let fromExplicit = try W.install(try W.explicit(wheels), dir: dir, name: "conda-linux-64.lock", prefix: dir + "/b")
        try #require(fromExplicit.status == 0, "\(fromExplicit.stderr)")
        // pixi: paths relative to the lock file.
        let fromPixi = try W.install(try W.pixi(wheels) { "wheels/" + $0.fileName }, dir: dir + "/project", name: "pixi.lock",
                                     prefix: dir + "/c")
        try #require(fromPixi.status == 0, "\(fromPixi.stderr)")
        // The same paths, and the same wheel files (the prefix written as PREFIX).
        let a = try W.tree(dir + "/a"), b = try W.tree(dir + "/b"), c = try W.tree(dir + "/c")
        #expect(a.count > 100)
        #expect(a.keys.sorted() == b.keys.sorted(), "\(Set(a.keys).symmetricDifference(b.keys).sorted())")
        #expect(a.keys.sorted() == c.keys.sorted(), "\(Set(a.keys).symmetricDifference(c.keys).sorted())")
        let site = "lib/python3.12/site-packages/"
        var compared = 0
        for distInfo in ["envpack_greet-1.0.dist-info", "envpack_tool-2.0.dist-info", "envpack_native-0.1.dist-info"] {
            let record = try String(contentsOfFile: dir + "/a/" + site + distInfo + "/RECORD", encoding: .utf8)
            for line in record.split(separator: "\n") {
                let path = String(line.split(separator: ",").first ?? "")
                // direct_url.json names the wheel as each lock wrote it (and RECORD its hash).
                if path.hasSuffix("/direct_url.json") || path.hasSuffix("/RECORD") { continue }
                let texts = try ["a", "b", "c"].map { env in
                    try String(contentsOfFile: "\(dir)/\(env)/\(site)\(path)", encoding: .utf8).replacingOccurrences(of: "\(dir)/\(env)", with: "PREFIX")
                }
                #expect(texts[0] == texts[1] && texts[0] == texts[2], "\(path) differs")
                compared += 1
            }
        }
        #expect(compared >= 15)
        let pixiDirect = try String(contentsOfFile: dir + "/c/lib/python3.12/site-packages/envpack_tool-2.0.dist-info/direct_url.json", encoding: .utf8)
        #expect(pixiDirect.contains("file://\(dir)/project/wheels/\(wheels[1].fileName)"), "\(pixiDirect)")
    }

    @Test func compilePycCoversWheelsAndClobbersAreReported() throws {
        let dir = try TestSupport.temporaryDirectory("wheels-pyc")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var wheels = try W.goodWheels(into: dir + "/wheels")
        // A wheel whose root file is one the python package installs.
        wheels.append(try W.build(["name": "envpack_clobber", "version": "1.0",
                                   "files": ["README.txt": "from the wheel\n", "envpack_clobber.py": "X = 1\n"]], into: dir + "/wheels"))
        let prefix = dir + "/env"
        try (try W.condaLock(wheels)).write(toFile: dir + "/conda-lock.yml", atomically: true, encoding: .utf8)
        let r = try TestSupport.run(TestSupport.envpackBinary, ["install", "--compile-pyc", "--file", dir + "/conda-lock.yml",
                                                                "-p", prefix, "--pkgs-dir", W.cache])
        try #require(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("warning: lib/python3.12/site-packages/README.txt: python-3.12.1-h0_envpack -> envpack_clobber 1.0 (wheel)"), "\(r.stderr)")
        #expect(r.stderr.contains("and 4 PyPI wheels"), "\(r.stderr)")
        let site = prefix + "/lib/python3.12/site-packages"
        #expect(try String(contentsOfFile: site + "/README.txt", encoding: .utf8) == "from the wheel\n")
        // The cache's copy (the conda file was a hardlink to it) is untouched.
        let cached = try String(contentsOfFile: W.cache + "/python-3.12.1-h0_envpack/lib/python3.12/site-packages/README.txt", encoding: .utf8)
        #expect(cached != "from the wheel\n")
        let pyc = "envpack_greet/__pycache__/__init__.cpython-312.pyc"
        #expect(FileManager.default.fileExists(atPath: site + "/" + pyc))
        #expect(try String(contentsOfFile: site + "/envpack_greet-1.0.dist-info/RECORD", encoding: .utf8).contains(pyc + ",sha256="))
        let uninstall = try W.pip(prefix, ["uninstall", "-y", "envpack_greet"])
        #expect(uninstall.status == 0, "\(uninstall.stderr)")
        #expect(!FileManager.default.fileExists(atPath: site + "/envpack_greet"), "pip uninstall left the package folder (a .pyc not in RECORD?)")
    }

    @Test func exportWritesTheLockBackAndItInstallsOffline() throws {
        let dir = try TestSupport.temporaryDirectory("wheels-export")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let wheels = try W.goodWheels(into: dir + "/wheels")
        let first = dir + "/env"
        let r = try W.install(try W.condaLock(wheels), dir: dir, name: "conda-lock.yml", prefix: first)
        try #require(r.status == 0, "\(r.stderr)")
        // A distribution pip installed from an index (no direct_url.json, no wheel kept): named, left out.
        let manual = first + "/lib/python3.12/site-packages/envpack_indexed-3.0.dist-info"
        try FileManager.default.createDirectory(atPath: manual, withIntermediateDirectories: true)
        try "pip\n".write(toFile: manual + "/INSTALLER", atomically: true, encoding: .utf8)
        try "Metadata-Version: 2.1\nName: envpack_indexed\nVersion: 3.0\n".write(toFile: manual + "/METADATA", atomically: true, encoding: .utf8)
        try "envpack_indexed-3.0.dist-info/METADATA,,\n".write(toFile: manual + "/RECORD", atomically: true, encoding: .utf8)
        // A wheel installed with no direct_url.json, whose wheel file is still in a cache: exported from there.
        let kept = dir + "/kept"
        try FileManager.default.createDirectory(atPath: kept, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: wheels[2].path, toPath: kept + "/" + wheels[2].fileName)
        try FileManager.default.removeItem(atPath: first + "/lib/python3.12/site-packages/envpack_native-0.1.dist-info/direct_url.json")
        for format in ["conda-lock", "explicit"] {
            let out = dir + "/export-\(format)"
            let e = try TestSupport.envpack(["export", "-p", first, "--format", format, "-o", out, "--pkgs-dir", W.cache, "--pkgs-dir", kept])
            try #require(e.status == 0, "\(e.stderr)")
            #expect(e.stderr.contains("envpack_indexed 3.0") && e.stderr.contains("not exported"), "\(e.stderr)")
            let text = try String(contentsOfFile: out, encoding: .utf8)
            #expect(text.contains("# not exported (PyPI): envpack_indexed 3.0"), "\(text)")
            #expect(text.contains("file://\(kept)/\(wheels[2].fileName)") && text.contains(wheels[2].sha256), "\(text)")
            // Offline, and with no network at all: the same packages.
            let second = dir + "/from-\(format)"
            let again = try TestSupport.run("/usr/bin/unshare", ["-n", TestSupport.envpackBinary, "install", "-q", "--offline",
                                                                  "--file", out, "-p", second, "--pkgs-dir", W.cache])
            try #require(again.status == 0, "\(format): \(again.stderr)")
            let list1 = try W.pip(first, ["list", "--format", "freeze"]), list2 = try W.pip(second, ["list", "--format", "freeze"])
            let expected = W.out(list1).split(separator: "\n").filter { !$0.contains("envpack_indexed") && !$0.contains("envpack-indexed") }
            #expect(W.out(list2).split(separator: "\n") == expected, "\(format): \(W.out(list2)) vs \(W.out(list1))")
            #expect(try CondaEnvironment.load(prefix: second).records.map(\.distName) == CondaEnvironment.load(prefix: first).records.map(\.distName))
            let direct = try String(contentsOfFile: second + "/lib/python3.12/site-packages/envpack_greet-1.0.dist-info/direct_url.json", encoding: .utf8)
            #expect(direct.contains(wheels[0].sha256))
        }
    }
}

@Suite struct WheelRefusalTests {
    typealias W = WheelSupport

    func expectRefused(_ text: String, dir: String, name: String = "conda-lock.yml", mentions: [String], extra: [String] = [],
                       environment: [String: String]? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let prefix = dir + "/env"
        let r = try W.install(text, dir: dir, name: name, prefix: prefix, extra: extra, environment: environment)
        InstallFailureTests().expectNothingAt(prefix, r, mentions: mentions, sourceLocation: sourceLocation)
        #expect(!r.stderr.contains("NSCocoaErrorDomain"), sourceLocation: sourceLocation)
    }

    @Test func badWheelsAreRefusedNamed() throws {
        let dir = try TestSupport.temporaryDirectory("wheels-bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let wheels = try W.goodWheels(into: dir + "/wheels")
        let good = wheels[0]
        func lock(_ bad: W.Wheel, sha: String? = nil, url: String? = nil) throws -> String {
            try W.condaLock([good]) + W.pipEntry(bad, url: url ?? "file://" + bad.path, sha: sha)
        }
        // The lock's sha256 is not the wheel's (the wheel was swapped).
        try expectRefused(try lock(wheels[1], sha: String(repeating: "ab", count: 32)), dir: dir, mentions: [wheels[1].fileName, "sha256"])
        // RECORD lies about a file.
        let liar = try W.build(["name": "envpack_liar", "version": "1.0", "files": ["envpack_liar.py": "X = 1\n"],
                                "lies": ["envpack_liar.py": "import os; os.system('echo pwned')\n"]], into: dir + "/w2")
        try expectRefused(try lock(liar), dir: dir, mentions: [liar.fileName, "envpack_liar.py", "RECORD"])
        // A file RECORD does not list.
        let unlisted = try W.build(["name": "envpack_unlisted", "version": "1.0", "files": ["a.py": "A = 1\n"],
                                    "raw": ["extra.py": "B = 2\n"]], into: dir + "/w2")
        try expectRefused(try lock(unlisted), dir: dir, mentions: [unlisted.fileName, "extra.py", "RECORD"])
        // Another python: cp311; a musl wheel; a too-new manylinux.
        for tag in ["cp311-cp311-manylinux2014_x86_64", "cp312-cp312-musllinux_1_1_x86_64", "cp312-cp312-manylinux_2_99_x86_64",
                    "cp312-cp312-manylinux2014_aarch64", "py2-none-any"] {
            let other = try W.build(["name": "envpack_other", "version": "1.0", "files": ["envpack_other.py": "X = 1\n"]], tag: tag, into: dir + "/w3-\(tag)")
            let why = ["cp311": "3.11", "musllinux": "musl", "2_99": "glibc 2.99", "aarch64": "aarch64", "py2": "py2"].first { tag.contains($0.key) }!.value
            try expectRefused(try lock(other), dir: dir, mentions: [other.fileName, why, "conda-lock.yml:"])
        }
        // Hostile zips: a path leaving the wheel, a symlink, data into conda-meta/, RECORD naming a path outside.
        let escape = try W.build(["name": "envpack_escape", "version": "1.0", "files": ["ok.py": ""], "raw": ["../../evil.py": "X = 1\n"]], into: dir + "/w4")
        try expectRefused(try lock(escape), dir: dir, mentions: [escape.fileName, "evil.py"])
        let twice = try W.build(["name": "envpack_twice", "version": "1.0", "files": ["ok.py": "A = 1\n"], "raw": ["ok.py": "A = 2\n"]], into: dir + "/w4")
        try expectRefused(try lock(twice), dir: dir, mentions: [twice.fileName, "ok.py", "twice"])
        let link = try W.build(["name": "envpack_link", "version": "1.0", "files": ["ok.py": ""], "raw": ["passwd": "symlink:/etc/passwd"]], into: dir + "/w5")
        try expectRefused(try lock(link), dir: dir, mentions: [link.fileName, "passwd"])
        let meta = try W.build(["name": "envpack_meta", "version": "1.0",
                                "files": ["envpack_meta-1.0.data/data/conda-meta/evil-1-0.json": "{}"]], into: dir + "/w6")
        try expectRefused(try lock(meta), dir: dir, mentions: [meta.fileName, "conda-meta"])
        let outside = try W.build(["name": "envpack_outside", "version": "1.0", "files": ["ok.py": ""],
                                   "record": ["../../../../etc/passwd,sha256=AAAA,1"]], into: dir + "/w7")
        try expectRefused(try lock(outside), dir: dir, mentions: [outside.fileName, "etc/passwd"])
        // Not a wheel at all (a zip with no dist-info).
        try "not a zip".write(toFile: dir + "/w2/envpack_junk-1.0-py3-none-any.whl", atomically: true, encoding: .utf8)
        let junk = W.Wheel(name: "envpack_junk", version: "1.0", fileName: "envpack_junk-1.0-py3-none-any.whl",
                           path: dir + "/w2/envpack_junk-1.0-py3-none-any.whl", sha256: try TestSupport.sha256(dir + "/w2/envpack_junk-1.0-py3-none-any.whl"))
        try expectRefused(try lock(junk), dir: dir, mentions: [junk.fileName])
    }

    @Test func badLockEntriesAreRefusedNamed() throws {
        let dir = try TestSupport.temporaryDirectory("wheels-badlock")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let wheels = try W.goodWheels(into: dir + "/wheels")
        // A pixi sdist entry.
        let sdist = try W.pixi([wheels[0]], location: { "wheels/" + $0.fileName })
            .replacingOccurrences(of: "      - pypi: wheels/\(wheels[0].fileName)\n", with: "      - pypi: https://files.example/envpack_src-1.0.tar.gz\n")
            + "- pypi: https://files.example/envpack_src-1.0.tar.gz\n  name: envpack_src\n  version: 1.0\n  sha256: \(String(repeating: "1", count: 64))\n"
        try expectRefused(sdist, dir: dir, name: "pixi.lock", mentions: ["pixi.lock:", "envpack_src-1.0.tar.gz", "source package"])
        // A conda-lock pip sdist.
        try expectRefused(try W.condaLock([wheels[0]]) { _ in "https://files.example/envpack_greet-1.0.tar.gz" }, dir: dir,
                          mentions: ["conda-lock.yml:", "envpack_greet", "source package"])
        // ${VAR} not set.
        let unset = "ENVPACK_WHEEL_TEST_SURELY_UNSET_\(getpid())"
        try expectRefused(try W.condaLock([wheels[0]]) { "file://${\(unset)}/" + $0.fileName }, dir: dir,
                          mentions: ["conda-lock.yml:", "envpack_greet", unset])
        try expectRefused(try W.explicit([wheels[0]]).replacingOccurrences(of: "file://\(dir)/wheels", with: "file://${\(unset)}"), dir: dir,
                          name: "explicit.txt", mentions: ["explicit.txt:4", unset])
        // A `# pip` line without a sha256.
        try expectRefused(try W.explicit([wheels[0]]).replacingOccurrences(of: "#sha256=\(wheels[0].sha256)", with: ""), dir: dir,
                          name: "explicit.txt", mentions: ["explicit.txt:4", wheels[0].fileName, "sha256"])
        // Wheels but no python.
        try expectRefused("@EXPLICIT\n" + "# pip envpack_greet @ file://\(wheels[0].path)#sha256=\(wheels[0].sha256)\n"
                          + "file://\(TestSupport.fixturesRoot)/pkgs/envpack-demo-1.0-h0_envpack.conda\n", dir: dir,
                          name: "explicit.txt", mentions: ["envpack_greet", "no python"])
        // Not in the cache, offline.
        try expectRefused(try W.condaLock([wheels[0]]) { _ in "https://files.example/envpack_greet-1.0-py3-none-any.whl" }, dir: dir,
                          mentions: ["envpack_greet-1.0-py3-none-any.whl", "--offline"], extra: ["--offline"])
    }
}
