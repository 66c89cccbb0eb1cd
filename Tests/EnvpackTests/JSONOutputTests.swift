// `pack --json` and `inspect --json` (issue 9, item 16): each prints one
// JSON object that parses, holds the right numbers (measured here
// independently: tar's own listing, the environment's conda-meta), and the
// two agree on every fact they share.
import Envpack
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

    /// `runs_as_extracted` and `needs_helper` (issue 10): pack and inspect
    /// agree, and each list is checked against the archive's files as
    /// plain `tar -x` leaves them: the scripts start with the `/bin/sh`
    /// launcher, the ELF files' dynamic sections name no prefix, each file
    /// that needs the helper holds the prefix, and every file of the
    /// environment that holds the prefix is listed as needing the helper
    /// (or is an ELF file that holds it only where the loader never looks);
    /// conda-meta/ (conda's records and envpack's manifest) is not run, and a
    /// `.pyc` holds the prefix only as its source's name (for tracebacks;
    /// relocation drops the bytecode of each source it rewrites).
    @Test func runsAsExtractedListsMatchTheFiles() throws {
        let env = try TestSupport.fixtureEnv("python")
        let dir = try TestSupport.temporaryDirectory("json-portable")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let archive = dir + "/a.tar"
        let packed = try TestSupport.envpack(["pack", "--json", "-p", env, "-o", archive])
        try #require(packed.status == 0, "\(packed.stderr)")
        let inspected = try TestSupport.envpack(["inspect", "--json", archive])
        try #require(inspected.status == 0, "\(inspected.stderr)")
        let pack = try object(packed.stdout), inspect = try object(inspected.stdout)
        let portable = try #require(pack["runs_as_extracted"] as? [String: Any], "no runs_as_extracted: \(pack.keys.sorted())")
        let scripts = try #require(portable["scripts"] as? [String]), elf = try #require(portable["elf"] as? [String])
        let needs = try #require(pack["needs_helper"] as? [String], "no needs_helper")
        #expect(NSDictionary(dictionary: portable).isEqual(to: inspect["runs_as_extracted"] as? [String: Any] ?? [:]))
        #expect(needs == inspect["needs_helper"] as? [String])
        #expect(!scripts.isEmpty && !elf.isEmpty && !needs.isEmpty, "the python fixture has launchers, relative RPATHs and text prefixes: \(scripts) \(elf) \(needs)")

        let root = dir + "/x"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let untar = try TestSupport.run("/usr/bin/tar", ["-xf", archive, "-C", root])
        try #require(untar.status == 0, "\(untar.stderr)")
        let prefix = Data(env.utf8)
        func holdsPrefix(_ path: String) throws -> Bool {
            try Data(contentsOf: URL(fileURLWithPath: root + "/" + path)).range(of: prefix) != nil
        }
        for s in scripts {
            let text = String(decoding: try Data(contentsOf: URL(fileURLWithPath: root + "/" + s)), as: UTF8.self)
            #expect(text.hasPrefix("#!/bin/sh\n"), "\(s) does not start with the launcher")
        }
        for e in elf {
            let dynamic = try TestSupport.run("/usr/bin/readelf", ["-d", root + "/" + e])
            #expect(dynamic.status == 0 && !String(decoding: dynamic.stdout, as: UTF8.self).contains(env), "\(e): its dynamic section names \(env)")
        }
        for n in needs { #expect(try holdsPrefix(n), "\(n) is said to need the helper but holds no prefix") }
        let envpackOwn = ["bin/envpack-unpack", "bin/conda-unpack"]
        let walker = FileManager.default.enumerator(atPath: root)
        while let path = walker?.nextObject() as? String {
            guard FileStatus.lstat(root + "/" + path)?.kind == .regular, !path.hasPrefix("conda-meta/"), !path.hasSuffix(".pyc"), !envpackOwn.contains(path),
                  !path.hasPrefix("etc/conda/activate.d"), !path.hasPrefix("bin/activate"), !path.hasPrefix("bin/deactivate") else { continue }
            if try holdsPrefix(path) { #expect(needs.contains(path) || elf.contains(path), "\(path) holds \(env) but is listed nowhere") }
        }
    }

    /// --json with -o -: standard output holds the archive, so it is a usage error.
    @Test func jsonWithStdoutIsRefused() throws {
        let env = try TestSupport.fixtureEnv("demo")
        let r = try TestSupport.envpack(["pack", "--json", "-p", env, "-o", "-"])
        #expect(r.status == 64 && r.stderr.contains("--json prints the summary on standard output"), "\(r.stderr)")
    }
}
