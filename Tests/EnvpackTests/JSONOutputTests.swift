// `pack --json` and `inspect --json` (issue 9, item 16): each prints one
// JSON object that parses, holds the right numbers (measured here
// independently: tar's own listing, the environment's conda-meta), and the
// two agree on every fact they share.
import Foundation
import Testing

@Suite struct JSONOutputTests {
    private func object(_ data: Data) throws -> [String: Any] {
        let parsed = try JSONSerialization.jsonObject(with: data)
        return try #require(parsed as? [String: Any], "not a JSON object: \(String(decoding: data, as: UTF8.self))")
    }

    // Not zip: libarchive's streaming zip reader cannot tell a symlink from
    // a file (the mode lives in the central directory), so inspect of a
    // zip counts each link's target text as file data.
    @Test(arguments: ["tar.zst", "tar.gz"])
    func packAndInspectAgree(format: String) throws {
        let env = try TestSupport.fixtureEnv("demo")
        let dir = try TestSupport.temporaryDirectory("json")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let archive = dir + "/a." + format
        let packed = try TestSupport.envpack(["pack", "--json", "-p", env, "-o", archive])
        try #require(packed.status == 0, "\(packed.stderr)")
        let pack = try object(packed.stdout)
        let inspected = try TestSupport.envpack(["inspect", "--json", archive])
        try #require(inspected.status == 0, "\(inspected.stderr)")
        let inspect = try object(inspected.stdout)

        #expect(pack["command"] as? String == "pack" && inspect["command"] as? String == "inspect")
        #expect(pack["output"] as? String == archive && inspect["archive"] as? String == archive)
        #expect(pack["format"] as? String == format)
        for key in ["entries", "file_bytes", "package_count", "longest_prefix", "prefix", "arcroot", "helper", "envpack_json"] {
            #expect(String(describing: pack[key]) == String(describing: inspect[key]), "\(key): pack \(String(describing: pack[key])), inspect \(String(describing: inspect[key]))")
        }
        #expect(NSDictionary(dictionary: pack["prefix_files"] as? [String: Any] ?? [:]).isEqual(to: inspect["prefix_files"] as? [String: Any] ?? ["x": 1]))
        #expect((pack["packages"] as? [[String: Any]])?.count == (inspect["packages"] as? [[String: Any]])?.count)

        // The numbers themselves, counted without envpack.
        let listing = try TestSupport.run("/usr/bin/python3", ["-c", """
            import sys, tarfile
            p = sys.argv[1]
            if p.endswith('.zst'):
                import subprocess, io
                data = subprocess.run(['zstd', '-dc', p], capture_output=True, check=True).stdout
                t = tarfile.open(fileobj=io.BytesIO(data))
            else:
                t = tarfile.open(p)
            members = t.getmembers()
            print(len(members), sum(m.size for m in members if m.isreg()))
            """, archive])
        let counted = String(decoding: listing.stdout, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Int($0) }
        try #require(counted.count == 2, "\(listing.stderr)")
        #expect(pack["entries"] as? Int == counted[0])
        #expect(pack["file_bytes"] as? Int == counted[1])
        let records = try FileManager.default.contentsOfDirectory(atPath: env + "/conda-meta").filter { $0.hasSuffix(".json") }
        #expect(pack["package_count"] as? Int == records.count && records.count > 0)
        let names = Set((pack["packages"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String })
        #expect(names.count == records.count && records.allSatisfy { r in names.contains { r.hasPrefix($0 + "-") } }, "\(names) \(records)")
        #expect(pack["prefix"] as? String == env)
        #expect((pack["prefix_files"] as? [String: Any])?["total"] as? Int ?? 0 > 0)
        #expect(pack["warnings"] is [Any])
    }

    /// --json with -o -: standard output holds the archive, so it is a usage error.
    @Test func jsonWithStdoutIsRefused() throws {
        let env = try TestSupport.fixtureEnv("demo")
        let r = try TestSupport.envpack(["pack", "--json", "-p", env, "-o", "-"])
        #expect(r.status == 64 && r.stderr.contains("--json prints the summary on standard output"), "\(r.stderr)")
    }
}
