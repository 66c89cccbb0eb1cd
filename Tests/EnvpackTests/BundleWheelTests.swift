// `envpack bundle` of an environment that holds PyPI wheels (installed from
// the wheel tests' lock: the fixture CPython and three wheels): the wheels
// go into the bundle, and its spec installs them offline after the bundle
// has moved, with the original wheels, the fixtures, the caches and the
// first environment hidden. A distribution that cannot be locked is named;
// a wheel whose file is gone or changed is a one-line refusal naming it,
// with nothing left at the output, unless a package cache holds it.
import Foundation
import Testing
@testable import Envpack

@Suite struct BundleWheelTests {
    typealias W = WheelSupport

    /// An environment from the fixture python and the three good wheels.
    func environment(_ dir: String) throws -> (prefix: String, wheels: [W.Wheel]) {
        let wheels = try W.goodWheels(into: dir + "/wheels")
        let prefix = dir + "/env"
        let r = try W.install(try W.condaLock(wheels), dir: dir, name: "conda-lock.yml", prefix: prefix)
        try #require(r.status == 0, "\(r.stderr)")
        return (prefix, wheels)
    }

    @Test func bundleCarriesTheWheelsAndInstallsOfflineAfterMoving() throws {
        let dir = try TestSupport.temporaryDirectory("bundle-wheels")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (first, wheels) = try environment(dir)
        // A distribution pip installed from an index (no direct_url.json, no wheel kept): cannot be bundled, named.
        let manual = first + "/lib/python3.12/site-packages/envpack_indexed-3.0.dist-info"
        try FileManager.default.createDirectory(atPath: manual, withIntermediateDirectories: true)
        try "pip\n".write(toFile: manual + "/INSTALLER", atomically: true, encoding: .utf8)
        try "Metadata-Version: 2.1\nName: envpack_indexed\nVersion: 3.0\n".write(toFile: manual + "/METADATA", atomically: true, encoding: .utf8)

        try FileManager.default.createDirectory(atPath: dir + "/made", withIntermediateDirectories: true)
        let b = try TestSupport.envpack(["bundle", "-p", first, "-o", dir + "/made/bundle", "--pkgs-dir", W.cache])
        try #require(b.status == 0, "\(b.stderr)")
        #expect(b.stderr.contains("envpack_indexed 3.0") && b.stderr.contains("not bundled"), "\(b.stderr)")

        // The bundle moves; it names its wheels by relative path.
        try FileManager.default.createDirectory(atPath: dir + "/moved", withIntermediateDirectories: true)
        let bundle = dir + "/moved/b"
        try FileManager.default.moveItem(atPath: dir + "/made/bundle", toPath: bundle)
        let spec = try String(contentsOfFile: bundle + "/spec.txt", encoding: .utf8)
        #expect(spec.hasPrefix("# not bundled (PyPI): envpack_indexed 3.0"), "\(spec)")
        for w in wheels {
            #expect(spec.contains("# pip \(w.name) @ wheels/\(w.fileName)#sha256=\(w.sha256)\n"), "\(spec)")
            #expect(try TestSupport.sha256(bundle + "/wheels/" + w.fileName) == w.sha256)
        }
        #expect(!spec.contains(dir), "\(spec)")
        let readme = try String(contentsOfFile: bundle + "/README.txt", encoding: .utf8)
        #expect(readme.contains("envpack_indexed 3.0"), "\(readme)")

        // Offline with no network, the wheels, fixtures, caches and the first environment hidden.
        let second = dir + "/second"
        let script = """
        /usr/bin/unshare -n "\(TestSupport.envpackBinary)" install -q --offline --file "\(bundle)/spec.txt" -p "\(second)" --pkgs-dir "\(dir)/pkgs2"
        "\(second)/bin/python3.12" -c 'import envpack_greet, envpack_tool, envpack_native; print(envpack_native.KIND)' | grep -qx native
        "\(second)/bin/envpack-greet" | grep -qx 'hello from greet \(second)'
        "\(second)/bin/envpack-tool-run" | grep -qx 'tool value 42'
        """
        let hidden = try runHidden(script, hidden: [TestSupport.fixturesRoot, dir + "/wheels", W.cache, first])
        #expect(hidden.status == 0, "\(W.out(hidden)) \(hidden.stderr)")

        let list = try W.pip(second, ["list", "-v", "--format", "json"])
        try #require(list.status == 0, "pip list: \(list.stderr)")
        let listed = try JSONSerialization.jsonObject(with: list.stdout) as! [[String: Any]]
        for name in ["envpack-greet", "envpack-tool", "envpack-native"] {
            let row = listed.first { PipOwnership.normalizedName($0["name"] as? String ?? "") == name }
            #expect(row?["installer"] as? String == "envpack", "\(name) in \(W.out(list))")
        }
        let direct = try String(contentsOfFile: second + "/lib/python3.12/site-packages/envpack_tool-2.0.dist-info/direct_url.json", encoding: .utf8)
        #expect(direct.contains("file://\(bundle)/wheels/\(wheels[1].fileName)"), "\(direct)")
    }

    @Test func bundleRefusesAWheelItCannotHold() throws {
        let dir = try TestSupport.temporaryDirectory("bundle-wheels-gone")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (first, wheels) = try environment(dir)
        try FileManager.default.createDirectory(atPath: dir + "/out", withIntermediateDirectories: true)
        func expectRefused(_ mentions: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
            let b = try TestSupport.envpack(["bundle", "-p", first, "-o", dir + "/out/bundle", "--pkgs-dir", W.cache])
            #expect(b.status != 0, "bundle succeeded: \(b.stderr)", sourceLocation: sourceLocation)
            let lines = b.stderr.split(separator: "\n")
            #expect(lines.count == 1, "\(b.stderr)", sourceLocation: sourceLocation)
            for word in mentions { #expect(b.stderr.contains(word), "\(word) not in: \(b.stderr)", sourceLocation: sourceLocation) }
            #expect(!b.stderr.contains("NSCocoaErrorDomain"), sourceLocation: sourceLocation)
            let left = try FileManager.default.contentsOfDirectory(atPath: dir + "/out")
            #expect(left.isEmpty, "left at the output: \(left)", sourceLocation: sourceLocation)
        }
        // The wheel's file is gone, and no cache holds it.
        let saved = dir + "/saved.whl"
        try FileManager.default.moveItem(atPath: wheels[1].path, toPath: saved)
        try expectRefused([wheels[1].fileName, "not found"])
        // A file of that name that is not the installed wheel.
        let other = try W.build(["name": "envpack_tool", "version": "2.0", "files": ["envpack_tool.py": "VALUE = 'other'\n"]], into: dir + "/other")
        try FileManager.default.copyItem(atPath: other.path, toPath: wheels[1].path)
        try expectRefused([wheels[1].fileName, "sha256", wheels[1].sha256])
        // The right wheel in a package cache (where install keeps downloads): bundled from there.
        let kept = dir + "/cache2/.envpack/" + wheels[1].sha256
        try FileManager.default.createDirectory(atPath: kept, withIntermediateDirectories: true)
        try FileManager.default.moveItem(atPath: saved, toPath: kept + "/" + wheels[1].fileName)
        let b = try TestSupport.envpack(["bundle", "-p", first, "-o", dir + "/out/bundle", "--pkgs-dir", W.cache, "--pkgs-dir", dir + "/cache2"])
        try #require(b.status == 0, "\(b.stderr)")
        #expect(try TestSupport.sha256(dir + "/out/bundle/wheels/" + wheels[1].fileName) == wheels[1].sha256)
    }

    /// The conda half, with a hostile or unusual record: a file name that
    /// would leave the bundle is refused; a package file that is a symlink
    /// is copied as a file (the bundle must hold it, not point back here).
    @Test func bundleCopiesCondaPackagesInsideAsFiles() throws {
        let dir = try TestSupport.temporaryDirectory("bundle-conda-names")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (first, _) = try environment(dir)
        let recordPath = first + "/conda-meta/python-3.12.1-h0_envpack.json"
        let original = try Data(contentsOf: URL(fileURLWithPath: recordPath))
        var record = try JSONSerialization.jsonObject(with: original) as! [String: Any]
        let tarball = try #require(record["package_tarball_full_path"] as? String)
        for out in ["/out", "/out2"] { try FileManager.default.createDirectory(atPath: dir + out, withIntermediateDirectories: true) }

        record["fn"] = "../../escaped-python-3.12.1-h0_envpack.conda"
        try JSONSerialization.data(withJSONObject: record).write(to: URL(fileURLWithPath: recordPath))
        let bad = try TestSupport.envpack(["bundle", "-p", first, "-o", dir + "/out/bundle", "--pkgs-dir", W.cache])
        #expect(bad.status != 0, "\(bad.stderr)")
        #expect(bad.stderr.split(separator: "\n").count == 1 && bad.stderr.contains("escaped-python") && bad.stderr.contains("python-3.12.1-h0_envpack.json"), "\(bad.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/out").isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).allSatisfy { !$0.hasPrefix("escaped") })

        record["fn"] = "python-3.12.1-h0_envpack.conda"
        record["package_tarball_full_path"] = dir + "/link.conda"
        try FileManager.default.createSymbolicLink(atPath: dir + "/link.conda", withDestinationPath: tarball)
        try JSONSerialization.data(withJSONObject: record).write(to: URL(fileURLWithPath: recordPath))
        let b = try TestSupport.envpack(["bundle", "-p", first, "-o", dir + "/out2/bundle", "--pkgs-dir", W.cache])
        try #require(b.status == 0, "\(b.stderr)")
        let copied = dir + "/out2/bundle/pkgs/python-3.12.1-h0_envpack.conda"
        #expect(FileStatus.lstat(copied)?.kind == .regular)
        #expect(try TestSupport.sha256(copied) == TestSupport.sha256(tarball))
    }

    /// The output is a new name or an empty folder: a file, a symlink or a
    /// non-empty folder of the user's at that name is refused in one line
    /// and left exactly as it was (a file used to be deleted and replaced
    /// by the bundle, exit 0), and no staging folder is left beside it.
    @Test func bundleNeverReplacesWhatIsAtTheOutput() throws {
        let env = try TestSupport.fixtureEnv("demo")
        let dir = try TestSupport.temporaryDirectory("bundle-output")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "my notes\n".write(toFile: dir + "/notes.txt", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: dir + "/full", withIntermediateDirectories: true)
        try "keep\n".write(toFile: dir + "/full/keep.txt", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: dir + "/empty", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: dir + "/link", withDestinationPath: "empty")
        let before = try TestSupport.run("/bin/sh", ["-c", "cd '\(dir)' && find . -printf '%p %y %s\\n' | sort"]).stdout
        for name in ["notes.txt", "full", "link"] {
            let r = try TestSupport.envpack(["bundle", "-p", env, "-o", dir + "/" + name, "--pkgs-dir", TestSupport.fixturesRoot + "/pkgs"])
            #expect(r.status != 0, "\(name): bundled over it")
            #expect(r.stderr.contains("is not an empty folder") && r.stderr.split(separator: "\n").count == 1, "\(name): \(r.stderr)")
        }
        let after = try TestSupport.run("/bin/sh", ["-c", "cd '\(dir)' && find . -printf '%p %y %s\\n' | sort"]).stdout
        #expect(String(decoding: after, as: UTF8.self) == String(decoding: before, as: UTF8.self))
        #expect(try String(contentsOfFile: dir + "/notes.txt", encoding: .utf8) == "my notes\n")
        // An empty folder is filled.
        let r = try TestSupport.envpack(["bundle", "-p", env, "-o", dir + "/empty", "--pkgs-dir", TestSupport.fixturesRoot + "/pkgs"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: dir + "/empty/spec.txt"))
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        #expect(names == ["empty", "full", "link", "notes.txt"], "left beside the output: \(names)")
    }
}
