// scripts/install.sh, as the README's "For users" part tells users to run
// it: after `install.sh PREFIX`, PREFIX/bin/envpack finds the helper it
// installed (PREFIX/libexec/envpack/envpack-unpack) with ENVPACK_HELPER
// unset, from any working directory.
import Foundation
import Testing
@testable import Envpack

@Suite struct InstallScriptTests {
    static var script: String { TestSupport.packageRoot.appendingPathComponent("scripts/install.sh").path }

    static var prebuiltHelper: String {
        ProcessInfo.processInfo.environment["ENVPACK_HELPER"] ?? TestSupport.packageRoot.appendingPathComponent(HelperLocator.buildOutput).path
    }

    /// Runs `executable` in `directory` with `environment`.
    func run(_ executable: String, _ arguments: [String], in directory: String,
             environment: [String: String]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        p.currentDirectoryURL = URL(fileURLWithPath: directory)
        p.environment = environment
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("envpack-install-\(UUID().uuidString)").path
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: out) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        p.waitUntilExit()
        try handle.close()
        return (p.terminationStatus, String(decoding: FileManager.default.contents(atPath: out) ?? Data(), as: UTF8.self))
    }

    var cleanEnvironment: [String: String] {
        ["PATH": "/usr/bin:/bin", "HOME": NSHomeDirectory(), "LANG": "C.UTF-8"]
    }

    @Test("install.sh PREFIX: envpack finds the installed helper with ENVPACK_HELPER unset, from another folder")
    func installedEnvpackFindsItsHelper() throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.prebuiltHelper),
                     "no static helper at \(Self.prebuiltHelper): set ENVPACK_HELPER or run scripts/build-helper.sh")
        let demo = try TestSupport.fixtureEnv("demo")
        let work = try TestSupport.temporaryDirectory("install")
        defer { try? FileManager.default.removeItem(atPath: work) }
        // A helper that says where it came from: the static helper with a
        // marker appended (trailing bytes do not change an ELF executable).
        let marker = "envpack-install-test-\(UUID().uuidString)"
        var helperBytes = try Data(contentsOf: URL(fileURLWithPath: Self.prebuiltHelper))
        helperBytes.append(Data(marker.utf8))
        let helper = work + "/helper"
        try helperBytes.write(to: URL(fileURLWithPath: helper))
        chmod(helper, 0o755)

        let prefix = work + "/prefix with space"
        var env = cleanEnvironment
        env["ENVPACK_BIN"] = TestSupport.envpackBinary
        env["ENVPACK_HELPER"] = helper
        let installed = try run("/bin/bash", [Self.script, prefix], in: work, environment: env)
        try #require(installed.status == 0, "install.sh failed: \(installed.output)")
        #expect(FileManager.default.isExecutableFile(atPath: prefix + "/bin/envpack"))
        #expect(FileManager.default.isExecutableFile(atPath: prefix + "/libexec/envpack/envpack-unpack"))

        // From another working directory, with no ENVPACK_HELPER.
        let elsewhere = try TestSupport.temporaryDirectory("install-cwd")
        defer { try? FileManager.default.removeItem(atPath: elsewhere) }
        let archive = work + "/demo.tar.zst"
        let packed = try run(prefix + "/bin/envpack", ["pack", "-q", "-p", demo, "-o", archive], in: elsewhere,
                             environment: cleanEnvironment)
        try #require(packed.status == 0, "the installed envpack could not pack: \(packed.output)")
        let entries = try TestSupport.entries(of: archive)
        let embedded = try #require(entries["bin/envpack-unpack"]?.data)
        #expect(embedded.suffix(marker.utf8.count).elementsEqual(marker.utf8),
                "the archive's helper is not the one install.sh put in PREFIX/libexec/envpack")
    }

    @Test("install.sh refuses a dynamically linked helper and installs nothing")
    func refusesDynamicHelper() throws {
        let work = try TestSupport.temporaryDirectory("install-bad")
        defer { try? FileManager.default.removeItem(atPath: work) }
        var env = cleanEnvironment
        env["ENVPACK_BIN"] = TestSupport.envpackBinary
        env["ENVPACK_HELPER"] = "/bin/ls"
        let r = try run("/bin/bash", [Self.script, work + "/prefix"], in: work, environment: env)
        #expect(r.status != 0)
        #expect(r.output.contains("dynamically linked"), "\(r.output)")
        #expect(!FileManager.default.fileExists(atPath: work + "/prefix/bin/envpack"))
    }
}
