// `envpack install` checks each extracted file against info/paths.json with
// the sha256 DiskWriter computed while writing it, instead of reading the
// file back: these tests show that no extracted file is read back, that the
// digests are those of the files on disk (hardlinks included, files with
// holes left out), and that the check is as strict as before: wrong bytes,
// wrong size, wrong type, a hardlink entry with the wrong hash, a file
// reached through a symlinked folder and a file missing from the archive
// are each refused, naming the package and the path.
import Crypto
import EnvpackRelocation
import Foundation
import Testing
@testable import Envpack
@testable import EnvpackExtract

@Suite struct ExtractionHashTests {
    /// Writes a .tar.bz2 with python's tarfile: `entries` in order, each
    /// [name, kind ("file", "dir", "symlink", "hardlink"), data or link
    /// target]; `paths` is info/paths.json's list as python literals.
    static func craftPackage(_ archive: String, name: String, entries: [[String]], paths: String) throws {
        let script = """
        import hashlib, io, json, sys, tarfile
        archive, name, entries = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
        sha = lambda s: hashlib.sha256(s.encode()).hexdigest()
        paths = \(paths)
        t = tarfile.open(archive, "w:bz2")
        def add(n, kind, value):
            i = tarfile.TarInfo(n); i.mode = 0o644
            if kind == "file":
                data = value.encode(); i.size = len(data); t.addfile(i, io.BytesIO(data)); return
            i.type = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE}[kind]
            if kind == "dir": i.mode = 0o755
            else: i.linkname = value
            t.addfile(i)
        index = {"name": name, "version": "1", "build": "0", "build_number": 0, "subdir": "linux-64", "depends": []}
        add("info/index.json", "file", json.dumps(index))
        add("info/paths.json", "file", json.dumps({"paths_version": 1, "paths": paths}))
        for n, kind, value in entries: add(n, kind, value)
        t.close()
        """
        let json = String(decoding: try JSONSerialization.data(withJSONObject: entries), as: UTF8.self)
        let r = try TestSupport.run("/usr/bin/python3", ["-c", script, archive, name, json])
        try #require(r.status == 0, "python: \(r.stderr)")
    }

    /// Each way a package can differ from its own paths.json is refused on
    /// a spec line without a hash, in one line naming the package and the
    /// path, with no cache entry marked complete; the same package with a
    /// correct paths.json (a hardlink entry included) installs.
    @Test func damagedPackagesAreStillRefused() throws {
        let dir = try TestSupport.temporaryDirectory("hashstrict")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let a = "the contents of a", other = "THE CONTENTS OF A"
        let good = "{'_path': 'share/a.txt', 'path_type': 'hardlink', 'sha256': sha('\(a)'), 'size_in_bytes': \(a.utf8.count)}"
        let cases: [(name: String, entries: [[String]], paths: String, expected: [String])] = [
            ("wrongbytes", [["share/a.txt", "file", other]], "[\(good)]", ["share/a.txt", "sha256"]),
            ("wrongsize", [["share/a.txt", "file", a + "!"]], "[\(good)]", ["share/a.txt", "bytes"]),
            ("hardlinkhash", [["share/a.txt", "file", a], ["share/b.txt", "hardlink", "share/a.txt"]],
             "[\(good), {'_path': 'share/b.txt', 'path_type': 'hardlink', 'sha256': sha('\(other)'), 'size_in_bytes': \(a.utf8.count)}]",
             ["share/b.txt", "sha256"]),
            ("missing", [["share/a.txt", "file", a]],
             "[\(good), {'_path': 'share/gone.txt', 'path_type': 'hardlink', 'sha256': sha('x'), 'size_in_bytes': 1}]",
             ["share/gone.txt", "missing"]),
            ("throughlink", [["share/real/a.txt", "file", a], ["share/link", "symlink", "real"]],
             "[{'_path': 'share/link/a.txt', 'path_type': 'hardlink', 'sha256': sha('\(a)'), 'size_in_bytes': \(a.utf8.count)}]",
             ["share/link/a.txt", "share/link"]),
            ("notregular", [["share/a.txt", "symlink", "elsewhere"]], "[\(good)]", ["share/a.txt", "not a regular file"]),
        ]
        for c in cases {
            let archive = dir + "/\(c.name)-1-0.tar.bz2"
            try Self.craftPackage(archive, name: c.name, entries: c.entries, paths: c.paths)
            let r = try SafetySupport.install("@EXPLICIT\n\(archive)\n", dir: dir, prefix: dir + "/env")
            #expect(r.status != 0, "\(c.name): installed")
            #expect(r.stderr.contains("\(c.name)-1-0.tar.bz2") && c.expected.allSatisfy(r.stderr.contains), "\(c.name): \(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1, "\(c.name): not one line: \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/env"), "\(c.name)")
            let cached = (try? FileManager.default.contentsOfDirectory(atPath: dir + "/pkgs")) ?? []
            #expect(!cached.contains { FileManager.default.fileExists(atPath: dir + "/pkgs/" + $0 + "/.envpack-extracted") }, "\(c.name): \(cached)")
        }

        // Right: a file and a hardlink entry to it.
        let archive = dir + "/fine-1-0.tar.bz2"
        try Self.craftPackage(archive, name: "fine", entries: [["share/a.txt", "file", a], ["share/b.txt", "hardlink", "share/a.txt"]],
                              paths: "[\(good), {'_path': 'share/b.txt', 'path_type': 'hardlink', 'sha256': sha('\(a)'), 'size_in_bytes': \(a.utf8.count)}]")
        let ok = try SafetySupport.install("@EXPLICIT\n\(archive)\n", dir: dir, prefix: dir + "/env")
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(try String(contentsOfFile: dir + "/env/share/b.txt", encoding: .utf8) == a)
    }

    /// Under strace: after extraction no file of the package outside info/
    /// is opened for reading in the extraction folder (it used to be read
    /// back and hashed, every file), while the extraction itself shows in
    /// the trace (so the trace works).
    @Test func extractedFilesAreNotReadBack() throws {
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/strace"), "strace is missing (scripts/deps.sh installs it)")
        let (folder, records) = try InstallSupport.condaForgeRecords()
        let dir = try TestSupport.temporaryDirectory("noreread")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let chosen = records.filter { ["libzlib", "ca-certificates", "_openmp_mutex", "libffi", "zstd"].contains($0["name"] as! String) }
        try #require(chosen.count == 5)
        let spec = InstallSupport.spec(chosen) { "file://\(folder)/\($0)" }
        try spec.write(toFile: dir + "/spec.txt", atomically: true, encoding: .utf8)
        let trace = dir + "/trace"
        let r = try TestSupport.run("/usr/bin/strace", ["-f", "-qq", "-y", "-e", "trace=open,openat", "-o", trace, TestSupport.envpackBinary,
                                                        "install", "-q", "--file", dir + "/spec.txt", "-p", dir + "/env", "--pkgs-dir", dir + "/pkgs"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = try String(contentsOfFile: trace, encoding: .utf8).split(separator: "\n").filter { $0.contains("/.envpack-extract-") }
        let written = lines.filter { $0.contains("O_WRONLY") && $0.contains("O_CREAT") }
        #expect(written.count > 100, "the trace shows \(written.count) files created by the extraction")
        // Files opened for reading (strace -f may split a call in two: the
        // first half holds the flags and the path).
        let readBack = lines.filter { $0.contains("O_RDONLY") && !$0.contains("O_DIRECTORY") && !$0.contains("/info/") }
        #expect(readBack.isEmpty, "\(readBack.count) extracted files read back, e.g. \(readBack.prefix(3))")
    }

    /// The digests PackageArchive.extract returns are the sha256 and size of
    /// every regular file it wrote (hardlinks included), for .conda and
    /// .tar.bz2 packages.
    @Test func digestsAreThoseOfTheFilesOnDisk() throws {
        let (folder, records) = try InstallSupport.condaForgeRecords()
        let dir = try TestSupport.temporaryDirectory("digests")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var checked = 0
        for record in records where ["libzlib", "_openmp_mutex", "libffi", "openssl", "tzdata", "ncurses"].contains(record["name"] as! String) {
            let out = dir + "/" + (record["name"] as! String)
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            let digests = try PackageArchive.extract(folder + "/" + (record["fn"] as! String), into: out)
            var regular = Set<String>()
            for path in try FileManager.default.subpathsOfDirectory(atPath: out) where FileStatus.lstat(out + "/" + path)?.kind == .regular {
                regular.insert(path)
                let digest = try #require(digests[path], "\(path) of \(record["fn"]!) has no digest")
                #expect(digest.sha256 == (try TestSupport.sha256(out + "/" + path)), "\(path)")
                #expect(digest.size == FileStatus.lstat(out + "/" + path)?.size, "\(path)")
                checked += 1
            }
            #expect(Set(digests.keys) == regular, "\(record["fn"]!): digests for files that are not there")
        }
        #expect(checked > 1000, "only \(checked) files checked")
    }

    /// DiskWriter hashes what it writes only when asked, and gives no
    /// digest for a file with holes (whose digest would need the zeros).
    @Test func diskWriterDigests() throws {
        let dir = try TestSupport.temporaryDirectory("diskwriter")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let writer = try DiskWriter(root: dir, archive: "test")
        let meta = DiskWriter.Metadata(mode: 0o644)
        let a = Array("hello, ".utf8), b = Array("world\n".utf8)
        let whole = try writer.makeFile(["plain"], entry: "plain", size: Int64(a.count + b.count), meta: meta, hash: true) { write in
            try a.withUnsafeBytes { try write($0, 0) }
            try b.withUnsafeBytes { try write($0, Int64(a.count)) }
        }
        #expect(whole == FileDigest(sha256: try TestSupport.sha256(dir + "/plain"), size: a.count + b.count))
        #expect(whole?.sha256 == hexString(SHA256.hash(data: a + b)))
        let unasked = try writer.makeFile(["unasked"], entry: "unasked", size: Int64(a.count), meta: meta) { write in
            try a.withUnsafeBytes { try write($0, 0) }
        }
        #expect(unasked == nil)
        let holed = try writer.makeFile(["holed"], entry: "holed", size: 4096 + Int64(b.count), meta: meta, hash: true) { write in
            try a.withUnsafeBytes { try write($0, 0) }
            try b.withUnsafeBytes { try write($0, 4096) }
        }
        #expect(holed == nil)
        let tail = try writer.makeFile(["tail"], entry: "tail", size: 4096, meta: meta, hash: true) { write in
            try a.withUnsafeBytes { try write($0, 0) }
        }
        #expect(tail == nil)
        try writer.finish()
        #expect(FileStatus.lstat(dir + "/tail")?.size == 4096)
    }
}
