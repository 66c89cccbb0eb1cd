import Foundation
import Testing
@testable import Envpack

@Suite struct PackageRecordTests {
    @Test func everyRealRecordParses() throws {
        let meta = try TestSupport.sharedPackages() + "/conda-forge-linux-64-py312/conda-meta"
        let names = try FileManager.default.contentsOfDirectory(atPath: meta).filter { $0.hasSuffix(".json") }
        #expect(names.count == 84)
        var paths = 0
        for name in names {
            let record = try JSONDecoder().decode(PackageRecord.self, from: Data(contentsOf: URL(fileURLWithPath: meta + "/" + name)))
            #expect(name == record.distName + ".json")
            #expect(record.sha256?.count == 64)
            #expect(record.link?.source != nil)
            paths += record.pathsData?.paths.count ?? 0
        }
        #expect(paths == 10996)

        let pip = try JSONDecoder().decode(PackageRecord.self, from: Data(contentsOf: URL(fileURLWithPath: meta + "/pip-24.3.1-pyh8b19718_2.json")))
        #expect(pip.noarch == .python)
        #expect(pip.channelName == "conda-forge")
        #expect(pip.requestedSpec?.hasPrefix("conda-forge/noarch::pip") == true)
        let types = Set(pip.pathsData!.paths.map(\.pathType))
        #expect(types == [.hardlink, .pycFile, .unixPythonEntryPoint])
    }

    @Test func noarchVariantsDecode() throws {
        func noarch(_ json: String) throws -> NoarchKind? {
            try JSONDecoder().decode(PackageRecord.self, from: Data("{\"name\":\"a\",\"version\":\"1\",\"build\":\"0\",\"noarch\":\(json)}".utf8)).noarch
        }
        #expect(try noarch("\"python\"") == .python)
        #expect(try noarch("\"generic\"") == .generic)
        #expect(try noarch("true") == .generic)
        #expect(try noarch("{\"type\":\"python\"}") == .python)
    }

    @Test func noarchPythonPathsMapToTheirInstalledPlaces() {
        #expect(noarchPythonPath("site-packages/foo/__init__.py", pythonVersion: "3.12") == "lib/python3.12/site-packages/foo/__init__.py")
        #expect(noarchPythonPath("python-scripts/foo", pythonVersion: "3.12") == "bin/foo")
        #expect(noarchPythonPath("info/x", pythonVersion: "3.12") == "info/x")
    }

    @Test func hasPrefixLinesParse() {
        let parsed = PackageInfo.parseHasPrefix("""
            /opt/anaconda1anaconda2anaconda3 text bin/foo
            "/long placeholder" binary "lib/with space.so"
            share/plain
            """)
        #expect(parsed["bin/foo"]?.placeholder == "/opt/anaconda1anaconda2anaconda3")
        #expect(parsed["lib/with space.so"]?.placeholder == "/long placeholder")
        #expect(parsed["lib/with space.so"]?.mode == .binary)
        #expect(parsed["share/plain"]?.placeholder == legacyDefaultPlaceholder)
        #expect(parsed["share/plain"]?.mode == .text)
    }

    /// The old package format: info/files + info/has_prefix + info/no_link.
    @Test func legacyPackageInfoIsRead() throws {
        let legacy = try TestSupport.sharedPackages() + "/legacy-conda-forge-2016"
        let package = try #require(try FileManager.default.contentsOfDirectory(atPath: legacy).first { $0.hasPrefix("openssl-1.0.2h") })
        let dir = try TestSupport.temporaryDirectory("legacy")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try TestSupport.run("/usr/bin/bsdtar", ["-xf", legacy + "/" + package, "-C", dir, "info"])
        try #require(r.status == 0, "bsdtar: \(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/info/paths.json"))
        let paths = try PackageInfo.paths(infoDirectory: URL(fileURLWithPath: dir + "/info"))
        #expect(paths.count > 10)
        #expect(paths.contains { $0.prefixPlaceholder != nil && $0.fileMode == .binary })
        #expect(paths.contains { $0.noLink == true })
    }
}
