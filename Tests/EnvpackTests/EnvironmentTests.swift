import Foundation
import Testing
@testable import Envpack

/// Records without paths_data (old conda) fall back to the package cache
/// named by link.source, and to the bare files list when the cache is gone.
@Suite struct EnvironmentTests {
    @Test func recordsWithoutPathsDataFallBackToTheCacheThenToFiles() throws {
        let dir = try TestSupport.temporaryDirectory("oldconda")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let env = dir + "/env"
        try TestSupport.copyTree(try TestSupport.fixtureEnv("demo"), to: env)
        // A copy holds the fixture's prefix until it is relocated.
        try #require(try TestSupport.envpack(["relocate", env, "--from", try TestSupport.fixtureEnv("demo")]).status == 0)
        let cache = dir + "/pkgs/envpack-demo-1.0-h0_envpack"
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
        try PackageArchive.extract(TestSupport.fixturesRoot + "/pkgs/envpack-demo-1.0-h0_envpack.conda", into: cache)

        let recordPath = env + "/conda-meta/envpack-demo-1.0-h0_envpack.json"
        var record = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: recordPath))) as! [String: Any]
        record.removeValue(forKey: "paths_data")
        record["link"] = ["source": cache, "type": 1]
        try JSONSerialization.data(withJSONObject: record).write(to: URL(fileURLWithPath: recordPath))

        let withCache = try CondaEnvironment.load(prefix: env)
        let lib = try #require(withCache.managed["lib/libgreet.so.1.0.0"])
        #expect(lib.hasPrefixInfo && lib.entry.fileMode == .binary && lib.entry.prefixPlaceholder?.count == 255)

        try FileManager.default.removeItem(atPath: dir + "/pkgs")
        let withoutCache = try CondaEnvironment.load(prefix: env)
        let bare = try #require(withoutCache.managed["lib/libgreet.so.1.0.0"])
        #expect(!bare.hasPrefixInfo)
        // Packing still works: the prefix is found by reading the files.
        var options = PackOptions(prefix: env, output: dir + "/a.tar", format: .tar)
        options.quiet = true
        let manifest = try Packer.pack(options).manifest
        #expect(manifest.files.contains { $0.path == "lib/libgreet.so.1.0.0" && $0.mode == .binary })
    }
}
