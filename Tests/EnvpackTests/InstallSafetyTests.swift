// envpack install against hostile packages, specs, servers and a package
// cache it shares with conda: nothing written outside the prefix (a canary
// tree compared before and after, contents and inode numbers), per-file
// hashes of info/paths.json enforced, duplicate lines harmless, downloads
// that stall or trickle given up cleanly, and conda's own cache left exactly
// as it was.
import EnvpackRelocation
import Foundation
import Testing
@testable import Envpack

enum SafetySupport {
    /// Builds a .tar.bz2 package with Python's tarfile from a description:
    /// files (path -> text), symlinks (path -> target), optional entry
    /// points, index fields; paths.json lists every file with its sha256.
    /// `corrupt` names a file whose bytes in the archive differ from the hash.
    static func makePackage(_ archive: String, name: String, files: [String: String] = [:], symlinks: [String: String] = [:],
                            entryPoints: [String] = [], corrupt: String? = nil, indexName: String? = nil) throws {
        let description: [String: Any] = [
            "archive": archive, "name": indexName ?? name, "files": files, "symlinks": symlinks,
            "entry_points": entryPoints, "corrupt": corrupt ?? "",
        ]
        let json = String(decoding: try JSONSerialization.data(withJSONObject: description), as: UTF8.self)
        let script = """
        import hashlib, io, json, sys, tarfile
        d = json.loads(sys.argv[1])
        t = tarfile.open(d["archive"], "w:bz2")
        def add(n, data):
            i = tarfile.TarInfo(n); i.size = len(data); i.mode = 0o644; t.addfile(i, io.BytesIO(data))
        index = {"name": d["name"], "version": "1", "build": "0", "build_number": 0, "subdir": "linux-64", "depends": []}
        if d["entry_points"]:
            index["noarch"] = "python"; index["subdir"] = "noarch"
        paths = []
        for p, text in sorted(d["files"].items()):
            data = text.encode()
            paths.append({"_path": p, "path_type": "hardlink", "sha256": hashlib.sha256(data).hexdigest(), "size_in_bytes": len(data)})
        for p, target in sorted(d["symlinks"].items()):
            paths.append({"_path": p, "path_type": "softlink"})
        add("info/index.json", json.dumps(index).encode())
        add("info/paths.json", json.dumps({"paths_version": 1, "paths": paths}).encode())
        if d["entry_points"]:
            add("info/link.json", json.dumps({"noarch": {"type": "python", "entry_points": d["entry_points"]}, "package_metadata_version": 1}).encode())
        for p, text in sorted(d["files"].items()):
            data = bytearray(text.encode())
            if p == d["corrupt"]:
                for k in range(0, len(data), 7): data[k] ^= 0x20
            add(p, bytes(data))
        for p, target in sorted(d["symlinks"].items()):
            i = tarfile.TarInfo(p); i.type = tarfile.SYMTYPE; i.linkname = target; t.addfile(i)
        t.close()
        """
        let r = try TestSupport.run("/usr/bin/python3", ["-c", script, json])
        try #require(r.status == 0, "\(r.stderr)")
    }

    struct Node: Equatable { var kind: FileStatus.Kind; var inode: UInt64; var links: Int; var content: String }

    /// Every entry under `root` (relative path -> type, inode, link count,
    /// sha256 or symlink target), skipping names `skip` accepts.
    static func snapshot(_ root: String, skip: (String) -> Bool = { _ in false }) throws -> [String: Node] {
        var result: [String: Node] = [:]
        func walk(_ relative: String) throws {
            let path = relative.isEmpty ? root : root + "/" + relative
            for name in try FileManager.default.contentsOfDirectory(atPath: path) {
                let rel = relative.isEmpty ? name : relative + "/" + name
                if skip(rel) { continue }
                guard let s = FileStatus.lstat(root + "/" + rel) else { continue }
                var content = ""
                switch s.kind {
                case .regular: content = try TestSupport.sha256(root + "/" + rel)
                case .symlink: content = (try? FileManager.default.destinationOfSymbolicLink(atPath: root + "/" + rel)) ?? ""
                default: break
                }
                result[rel] = Node(kind: s.kind, inode: s.inode, links: s.linkCount, content: content)
                if s.kind == .directory { try walk(rel) }
            }
        }
        try walk("")
        return result
    }

    /// What changed between two snapshots, in words (empty: nothing).
    static func differences(_ before: [String: Node], _ after: [String: Node]) -> [String] {
        var out: [String] = []
        for (path, node) in before.sorted(by: { $0.key < $1.key }) {
            guard var now = after[path] else { out.append("removed \(path)"); continue }
            // A folder's link count grows with a new subfolder: its entries are compared instead.
            if node.kind == .directory { now.links = node.links }
            if now != node { out.append("changed \(path): \(node) -> \(now)") }
        }
        for path in after.keys.sorted() where before[path] == nil { out.append("added \(path)") }
        return out
    }

    /// Runs `envpack install` on spec text, with extra arguments and environment.
    static func install(_ spec: String, dir: String, prefix: String, pkgs: String? = nil, extra: [String] = [],
                        environment: [String: String]? = nil) throws -> TestSupport.Result {
        try spec.write(toFile: dir + "/spec.txt", atomically: true, encoding: .utf8)
        return try TestSupport.run(TestSupport.envpackBinary,
                                   ["install", "-q", "--file", dir + "/spec.txt", "-p", prefix, "--pkgs-dir", pkgs ?? dir + "/pkgs"] + extra,
                                   environment: environment)
    }
}

@Suite struct InstallSafetyTests {
    // MARK: 2. Nothing written outside the prefix

    /// Four ways out of the prefix, each refused naming the package and the
    /// path; the tree around the prefix (a canary folder included) keeps its
    /// every entry, content and inode.
    @Test func writesOutsideThePrefixAreRefused() throws {
        let dir = try TestSupport.temporaryDirectory("escape")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let canary = dir + "/canary"
        try FileManager.default.createDirectory(atPath: canary + "/sub", withIntermediateDirectories: true)
        try "keep".write(toFile: canary + "/keep.txt", atomically: true, encoding: .utf8)
        try "x".write(toFile: canary + "/sub/file", atomically: true, encoding: .utf8)
        let parent = dir + "/a/b"
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        let prefix = parent + "/env"
        let packages = dir + "/packages"
        try FileManager.default.createDirectory(atPath: packages, withIntermediateDirectories: true)
        // What the installs may touch: the prefix, its staging folder, the cache, the spec.
        let skip: (String) -> Bool = { $0 == "c" || $0.hasPrefix("c/") || $0 == "spec.txt" || $0.hasPrefix("a/b/env") }
        try FileManager.default.createDirectory(atPath: dir + "/c", withIntermediateDirectories: true)

        // (a) share/evil -> canary from one package, share/evil/file from the next.
        try SafetySupport.makePackage(packages + "/linker-1-0.tar.bz2", name: "linker", symlinks: ["share/evil": canary])
        try SafetySupport.makePackage(packages + "/writer-1-0.tar.bz2", name: "writer", files: ["share/evil/file": "pwned", "share/evil/sub/file": "pwned"])
        // (b) a noarch: python entry point named ../../x.
        try SafetySupport.makePackage(packages + "/python-3.12.0-0.tar.bz2", name: "python", files: ["bin/python3.12": "#!/bin/sh\n"])
        try SafetySupport.makePackage(packages + "/entry-1-0.tar.bz2", name: "entry", files: ["site-packages/m.py": "def f(): pass\n"],
                                      entryPoints: ["../../x = m:f"])
        // (c) index.json name ../../x: its record would land two levels above conda-meta/.
        try SafetySupport.makePackage(packages + "/named-1-0.tar.bz2", name: "named", files: ["share/n.txt": "n"], indexName: "../../x")
        // (d) served for real, so that a download would happen.
        try SafetySupport.makePackage(packages + "/x-1-0.tar.bz2", name: "x", files: ["share/x.txt": "x"])
        let server = try Self.server(root: packages)
        defer { server.stop() }
        try #require(server.port > 0, "the test server did not start")

        let cases: [(spec: String, mentions: [String])] = [
            ("\(packages)/linker-1-0.tar.bz2\n\(packages)/writer-1-0.tar.bz2\n", ["writer-1-0", "share/evil/", "symlink"]),
            ("\(packages)/python-3.12.0-0.tar.bz2\n\(packages)/entry-1-0.tar.bz2\n", ["entry-1-0", "../../x"]),
            ("\(packages)/named-1-0.tar.bz2\n", ["named-1-0.tar.bz2", "../../x"]),
            // (d) a URL whose file name decodes to ./../../X.tar.bz2.
            ("http://127.0.0.1:\(server.port)/good/.%2F..%2F..%2Fx-1-0.tar.bz2\n", ["spec.txt:2", "../../x-1-0.tar.bz2"]),
        ]
        for (spec, mentions) in cases {
            let before = try SafetySupport.snapshot(dir, skip: skip)
            let r = try SafetySupport.install("@EXPLICIT\n" + spec, dir: dir, prefix: prefix, pkgs: dir + "/c/pkgs")
            #expect(r.status != 0, "installed: \(spec)")
            for m in mentions { #expect(r.stderr.contains(m), "'\(m)' not in: \(r.stderr)") }
            let errors = r.stderr.split(separator: "\n").filter { !$0.hasPrefix("warning:") }
            #expect(errors.count == 1, "not one line: \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: prefix))
            let changes = SafetySupport.differences(before, try SafetySupport.snapshot(dir, skip: skip))
            #expect(changes.isEmpty, "written outside the prefix for \(spec): \(changes)")
            // No download landed outside the cache either.
            #expect(!FileManager.default.fileExists(atPath: dir + "/x-1-0.tar.bz2"))
        }
    }

    // MARK: 6. Per-file hashes of info/paths.json

    /// A .tar.bz2 whose file bytes differ from its own paths.json, on a spec
    /// line with no hash: refused naming the package and the file; the cache
    /// keeps no entry marked complete. Undamaged, it installs with a warning
    /// naming the hash-less line.
    @Test func corruptedFileInsideAPackageIsRefused() throws {
        let dir = try TestSupport.temporaryDirectory("perfile")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let text = String(repeating: "the quick brown fox jumps over the lazy dog\n", count: 50)
        try SafetySupport.makePackage(dir + "/flipped-1-0.tar.bz2", name: "flipped", files: ["share/data.txt": text, "share/ok.txt": "ok"],
                                      corrupt: "share/data.txt")
        let r = try SafetySupport.install("@EXPLICIT\n\(dir)/flipped-1-0.tar.bz2\n", dir: dir, prefix: dir + "/env")
        #expect(r.status != 0)
        #expect(r.stderr.contains("flipped-1-0.tar.bz2") && r.stderr.contains("share/data.txt") && r.stderr.contains("sha256"), "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1, "not one line: \(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/env"))
        let cached = (try? FileManager.default.contentsOfDirectory(atPath: dir + "/pkgs")) ?? []
        #expect(!cached.contains { FileManager.default.fileExists(atPath: dir + "/pkgs/" + $0 + "/.envpack-extracted") }, "\(cached)")
        #expect(!cached.contains { $0.hasPrefix(".envpack-extract") }, "temporary extraction left: \(cached)")

        // The same package undamaged installs (still with the warning).
        try SafetySupport.makePackage(dir + "/fine-1-0.tar.bz2", name: "fine", files: ["share/data.txt": text])
        let ok = try SafetySupport.install("@EXPLICIT\n\(dir)/fine-1-0.tar.bz2\n", dir: dir, prefix: dir + "/env")
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stderr.contains("warning: spec line 2") && ok.stderr.contains("fine-1-0.tar.bz2"), "\(ok.stderr)")
        #expect(try String(contentsOfFile: dir + "/env/share/data.txt", encoding: .utf8) == text)
    }

    /// `#sha256:` with an md5's length is refused, not taken as an md5.
    @Test func sha256PrefixWithThirtyTwoDigitsIsRefused() throws {
        let dir = try TestSupport.temporaryDirectory("sha32")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try SafetySupport.makePackage(dir + "/p-1-0.tar.bz2", name: "p", files: ["share/p.txt": "p"])
        let md5 = try TestSupport.run("/usr/bin/md5sum", [dir + "/p-1-0.tar.bz2"])
        let digest = String(String(decoding: md5.stdout, as: UTF8.self).prefix(32))
        let r = try SafetySupport.install("@EXPLICIT\n\(dir)/p-1-0.tar.bz2#sha256:\(digest)\n", dir: dir, prefix: dir + "/env")
        #expect(r.status != 0)
        #expect(r.stderr.contains("spec.txt:2") && r.stderr.contains("sha256"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/env"))
        // The same digest as a plain md5 is fine.
        let ok = try SafetySupport.install("@EXPLICIT\n\(dir)/p-1-0.tar.bz2#\(digest)\n", dir: dir, prefix: dir + "/env")
        #expect(ok.status == 0, "\(ok.stderr)")
    }

    // MARK: 8. Duplicate lines, own temporary folders, reclaimed leftovers

    /// Duplicate lines install once and say so; the same package with two
    /// hashes is an error naming both lines. Repeated cold installs with
    /// every line doubled leave verified cache entries only.
    @Test func duplicateSpecLines() throws {
        let (folder, records) = try InstallSupport.condaForgeRecords()
        let dir = try TestSupport.temporaryDirectory("dup")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let some = records.filter { ["libzlib", "bzip2", "ncurses", "zstd", "lz4-c", "libffi"].contains($0["name"] as! String) }
        let lines = some.map { "file://\(folder)/\($0["fn"] as! String)#\($0["sha256"] as! String)\n" }
        for trial in 0..<3 {
            try? FileManager.default.removeItem(atPath: dir + "/pkgs")
            let prefix = dir + "/env\(trial)"
            let r = try SafetySupport.install("@EXPLICIT\n" + (lines + lines).joined(), dir: dir, prefix: prefix)
            try #require(r.status == 0, "\(r.stderr)")
            #expect(r.stderr.contains("line \(lines.count + 2) repeats line 2"), "\(r.stderr)")
            for record in some {
                let fn = record["fn"] as! String
                let dist = String(fn.hasSuffix(".conda") ? fn.dropLast(6) : fn.dropLast(8))
                let entry = dir + "/pkgs/" + dist
                #expect(PackageCache.marker(in: entry)?.sha256 == record["sha256"] as? String, "\(dist) not marked")
                #expect(PackageVerifier.firstMismatch(in: entry) == nil, "\(dist): \(PackageVerifier.firstMismatch(in: entry) ?? "")")
            }
            let left = try FileManager.default.contentsOfDirectory(atPath: dir + "/pkgs").filter { $0.hasPrefix(".") }
            #expect(left.isEmpty, "left in the cache: \(left)")
            try FileManager.default.removeItem(atPath: prefix)
        }
        // One package, two hashes.
        let zlib = some.first { $0["name"] as? String == "libzlib" }!
        let other = String(repeating: "1", count: 64)
        let spec = "@EXPLICIT\nfile://\(folder)/\(zlib["fn"] as! String)#\(zlib["sha256"] as! String)\nfile://\(folder)/\(zlib["fn"] as! String)#\(other)\n"
        let r = try SafetySupport.install(spec, dir: dir, prefix: dir + "/env")
        #expect(r.status != 0)
        #expect(r.stderr.contains("lines 2 and 3") && r.stderr.contains("libzlib"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/env"))
    }

    /// An extraction left by a killed run (its lock free; for envpack 0.2.0's
    /// `.NAME.extract-PID`, its PID gone) is removed and reported; one whose
    /// owner lives (its lock held, its PID alive) is left alone.
    @Test func staleExtractionsAreReclaimed() throws {
        let dir = try TestSupport.temporaryDirectory("reclaim")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pkgs = dir + "/pkgs"
        try FileManager.default.createDirectory(atPath: pkgs + "/.envpack-extract-999999-1/info", withIntermediateDirectories: true)
        try "pid 999999\n".write(toFile: pkgs + "/.envpack-extract-999999-1.lock", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: pkgs + "/.envpack-extract-999998-1", withIntermediateDirectories: true)
        let live = open(pkgs + "/.envpack-extract-999998-1.lock", O_RDWR | O_CREAT, 0o644)
        defer { close(live) }
        try #require(live >= 0 && flock(live, LOCK_EX) == 0)
        // envpack 0.2.0's kind, without a lock: its PID is what tells.
        try FileManager.default.createDirectory(atPath: pkgs + "/.q-1-0.extract-999997/info", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: pkgs + "/.q-1-0.extract-\(getpid())", withIntermediateDirectories: true)
        try SafetySupport.makePackage(dir + "/p-1-0.tar.bz2", name: "p", files: ["share/p.txt": "p"])
        let r = try SafetySupport.install("@EXPLICIT\n\(dir)/p-1-0.tar.bz2\n", dir: dir, prefix: dir + "/env")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains(".envpack-extract-999999-1") && r.stderr.contains("killed"), "\(r.stderr)")
        #expect(r.stderr.contains(".q-1-0.extract-999997"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: pkgs + "/.q-1-0.extract-999997"))
        #expect(FileManager.default.fileExists(atPath: pkgs + "/.q-1-0.extract-\(getpid())"))
        #expect(!FileManager.default.fileExists(atPath: pkgs + "/.envpack-extract-999999-1"))
        #expect(!FileManager.default.fileExists(atPath: pkgs + "/.envpack-extract-999999-1.lock"))
        #expect(FileManager.default.fileExists(atPath: pkgs + "/.envpack-extract-999998-1"))
    }

    // MARK: 12. Downloads that stall or trickle

    /// A local server (bounded in time and requests) that trickles one byte
    /// a second, or sends headers and stalls, or serves a real package.
    static func server(root: String) throws -> LocalHTTPServer {
        try LocalHTTPServer(root: root, imports: "time, urllib.parse", handler: """
            count = [0]
            class H(http.server.BaseHTTPRequestHandler):
                def log_message(self, *a): pass
                def do_GET(self):
                    count[0] += 1
                    if count[0] > 60: os._exit(0)
                    # A proxy request names the whole URL.
                    path = urllib.parse.urlsplit(self.path).path if "://" in self.path else self.path
                    kind, _, name = path.strip("/").partition("/")
                    name = urllib.parse.unquote(name)
                    if kind == "good":
                        data = open(os.path.join(root, os.path.basename(name)), "rb").read()
                        self.send_response(200); self.send_header("Content-Length", str(len(data))); self.end_headers()
                        self.wfile.write(data); return
                    self.send_response(200); self.send_header("Content-Length", "100000"); self.end_headers(); self.wfile.flush()
                    try:
                        for _ in range(100):
                            if kind == "trickle": self.wfile.write(b"x"); self.wfile.flush()
                            time.sleep(1)
                    except Exception:
                        pass
                def do_CONNECT(self):
                    # A proxy tunnel: the request inside is answered here, as if by its host.
                    self.send_response(200, "Connection established"); self.end_headers(); self.wfile.flush()
                    line = self.rfile.readline().decode()
                    while self.rfile.readline() not in (b"\\r\\n", b"\\n", b""): pass
                    name = os.path.basename(urllib.parse.unquote(line.split()[1]))
                    data = open(os.path.join(root, name), "rb").read()
                    self.wfile.write(b"HTTP/1.1 200 OK\\r\\nContent-Length: %d\\r\\nConnection: close\\r\\n\\r\\n" % len(data) + data)
                    self.wfile.flush(); self.close_connection = True
            """)
    }

    /// envpack under /usr/bin/time: status, stderr, wall and CPU seconds.
    static func timedInstall(_ spec: String, dir: String, prefix: String, tmp: String) throws -> (TestSupport.Result, wall: Double, cpu: Double) {
        try spec.write(toFile: dir + "/spec.txt", atomically: true, encoding: .utf8)
        var env = ProcessInfo.processInfo.environment
        env["TMPDIR"] = tmp
        let times = dir + "/times"
        let r = try TestSupport.run("/usr/bin/time", ["-f", "%e %U %S", "-o", times, TestSupport.envpackBinary, "install", "-q",
                                                      "--file", dir + "/spec.txt", "-p", prefix, "--pkgs-dir", dir + "/pkgs",
                                                      "--connect-timeout", "2", "--low-speed-limit", "100", "--low-speed-time", "2"],
                                    environment: env)
        // The last line (a failing command gets a line of its own before it).
        let last = try String(contentsOfFile: times, encoding: .utf8).split(separator: "\n").last ?? ""
        let parts = last.split(separator: " ").compactMap { Double($0) }
        try #require(parts.count == 3, "no times")
        return (r, parts[0], parts[1] + parts[2])
    }

    @Test func stalledAndTricklingServersAreGivenUp() throws {
        let (folder, records) = try InstallSupport.condaForgeRecords()
        let dir = try TestSupport.temporaryDirectory("slow")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tmp = dir + "/tmp"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        let server = try Self.server(root: folder)
        defer { server.stop() }
        try #require(server.port > 0, "the test server did not start")

        for kind in ["trickle", "stall"] {
            let url = "http://127.0.0.1:\(server.port)/\(kind)/slow-1-0.tar.bz2"
            let (r, wall, cpu) = try Self.timedInstall("@EXPLICIT\n\(url)\n", dir: dir, prefix: dir + "/env", tmp: tmp)
            #expect(r.status != 0)
            let errors = r.stderr.split(separator: "\n")
            #expect(errors.count == 1 && errors.last?.contains(url) == true, "\(kind): \(r.stderr)")
            #expect(!r.stderr.contains("NSURLErrorDomain") && !r.stderr.contains("Error Domain"), "\(r.stderr)")
            // 3 tries of ~2 s each, plus the pauses between them.
            #expect(wall < 25, "\(kind): gave up after \(wall) s")
            #expect(cpu < wall / 4, "\(kind): \(cpu) s of CPU in \(wall) s")
            let cached = try FileManager.default.contentsOfDirectory(atPath: dir + "/pkgs")
            #expect(cached.isEmpty, "\(kind): left in the cache: \(cached)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: tmp).isEmpty, "\(kind): left in TMPDIR")
            #expect(!FileManager.default.fileExists(atPath: dir + "/env"))
        }

        // A good server: the packages install, straight into the cache.
        let good = records.filter { ["_libgcc_mutex", "ca-certificates", "libzlib"].contains($0["name"] as! String) }
        let spec = "@EXPLICIT\n" + good.map { "http://127.0.0.1:\(server.port)/good/\($0["fn"] as! String)#\($0["sha256"] as! String)\n" }.joined()
        let (r, _, _) = try Self.timedInstall(spec, dir: dir, prefix: dir + "/env", tmp: tmp)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: dir + "/env/lib/libz.so.1"))
        for record in good { #expect(FileManager.default.fileExists(atPath: dir + "/pkgs/" + (record["fn"] as! String))) }
        let temporary = try FileManager.default.contentsOfDirectory(atPath: dir + "/pkgs").filter { $0.hasPrefix(".envpack-") }
        #expect(temporary.isEmpty, "\(temporary)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp).isEmpty)
    }

    /// $http_proxy is honoured (libcurl did; AsyncHTTPClient needs telling),
    /// and $no_proxy overrides it.
    @Test func downloadsGoThroughTheProxy() throws {
        let (folder, records) = try InstallSupport.condaForgeRecords()
        let dir = try TestSupport.temporaryDirectory("proxy")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let server = try Self.server(root: folder)
        defer { server.stop() }
        try #require(server.port > 0, "the test server did not start")
        let zlib = records.first { $0["name"] as? String == "libzlib" }!
        // A host that does not resolve: only the proxy can answer.
        let spec = "@EXPLICIT\nhttp://conda.invalid/good/\(zlib["fn"] as! String)#\(zlib["sha256"] as! String)\n"
        var env = ProcessInfo.processInfo.environment
        env["http_proxy"] = "http://127.0.0.1:\(server.port)"
        env["no_proxy"] = "localhost"
        let r = try SafetySupport.install(spec, dir: dir, prefix: dir + "/env", environment: env)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: dir + "/env/lib/libz.so.1"))
        env["no_proxy"] = ".invalid"
        try? FileManager.default.removeItem(atPath: dir + "/pkgs")
        let direct = try SafetySupport.install(spec, dir: dir, prefix: dir + "/env2", extra: ["--connect-timeout", "2"], environment: env)
        #expect(direct.status != 0 && direct.stderr.contains("conda.invalid"), "\(direct.stderr)")
    }

    // MARK: 14. A package cache shared with conda

    /// A cache laid out as conda leaves it (archives, extracted folders with
    /// info/repodata_record.json, urls.txt) and a conda environment
    /// hardlinked to it. Two packages need a fresh extraction: one whose
    /// record names another archive, one without a record. After installs
    /// through --pkgs-dir and $CONDA_PKGS_DIRS every pre-existing entry is
    /// unchanged (content, inode, link count), envpack added only its own
    /// names, reused conda's good folders by hardlink, and left no lock.
    @Test func condaPackageCacheIsLeftAsItWas() throws {
        let (folder, records) = try InstallSupport.condaForgeRecords()
        let dir = try TestSupport.temporaryDirectory("condacache")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cache = dir + "/pkgs", condaEnv = dir + "/condaenv"
        let names = ["_libgcc_mutex", "python_abi", "libzlib", "bzip2", "pybind11-abi", "ca-certificates"]
        let chosen = records.filter { names.contains($0["name"] as! String) }
        try #require(chosen.count == names.count)
        let recordsJSON = String(decoding: try JSONSerialization.data(withJSONObject: chosen), as: UTF8.self)
        let script = """
        import json, os, shutil, subprocess, sys
        src, cache, env, records = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
        os.makedirs(cache); os.makedirs(env + "/conda-meta")
        urls = []
        for r in records:
            fn = r["fn"]; dist = fn[:-6] if fn.endswith(".conda") else fn[:-8]
            shutil.copy(os.path.join(src, fn), os.path.join(cache, fn))
            d = os.path.join(cache, dist); os.makedirs(d)
            if fn.endswith(".conda"):
                names = subprocess.run(["bsdtar", "-tf", os.path.join(src, fn)], check=True, capture_output=True, text=True).stdout.split()
                for inner in names:
                    if inner.endswith(".tar.zst"):
                        data = subprocess.run(["bsdtar", "-xOf", os.path.join(src, fn), inner], check=True, capture_output=True).stdout
                        subprocess.run(["bsdtar", "-xf", "-", "-C", d], input=data, check=True)
            else:
                subprocess.run(["bsdtar", "-xf", os.path.join(src, fn), "-C", d], check=True)
            index = json.load(open(os.path.join(d, "info/index.json")))
            record = dict(index, fn=fn, url=r.get("url", ""), channel=r.get("channel", ""), md5=r["md5"], sha256=r["sha256"], size=r["size"])
            if r["name"] == "pybind11-abi":
                record["sha256"] = "0" * 64; record["md5"] = "0" * 32
            if r["name"] != "ca-certificates":
                json.dump(record, open(os.path.join(d, "info/repodata_record.json"), "w"))
            urls.append(r.get("url", fn))
            for base, dirs, files in os.walk(d):
                rel = os.path.relpath(base, d)
                if rel == "info" or rel.startswith("info/"): continue
                os.makedirs(os.path.join(env, rel), exist_ok=True)
                for f in files:
                    s = os.path.join(base, f); t = os.path.join(env, rel, f)
                    if os.path.islink(s): os.symlink(os.readlink(s), t)
                    else: os.link(s, t)
        open(os.path.join(cache, "urls.txt"), "w").write("\\n".join(urls) + "\\n")
        open(os.path.join(cache, "urls"), "w").close()
        """
        let made = try TestSupport.run("/usr/bin/python3", ["-c", script, folder, cache, condaEnv, recordsJSON])
        try #require(made.status == 0, "\(made.stderr)")

        let before = try SafetySupport.snapshot(dir)
        let spec = "@EXPLICIT\n" + chosen.map { "file://\(folder)/\($0["fn"] as! String)#\($0["sha256"] as! String)\n" }.joined()
        var r = try SafetySupport.install(spec, dir: dir, prefix: dir + "/env1", pkgs: cache)
        try #require(r.status == 0, "\(r.stderr)")
        // conda's good folders are used as they are: the prefix shares their inodes.
        let zlibLib = try #require(FileManager.default.contentsOfDirectory(atPath: cache + "/" + "libzlib-1.3.1-hb9d3cd8_2/lib").first { $0.hasPrefix("libz.so.1.") })
        #expect(FileStatus.lstat(dir + "/env1/lib/" + zlibLib)?.inode == FileStatus.lstat(cache + "/libzlib-1.3.1-hb9d3cd8_2/lib/" + zlibLib)?.inode)
        // Warm, through $CONDA_PKGS_DIRS.
        var env = ProcessInfo.processInfo.environment
        env["CONDA_PKGS_DIRS"] = cache
        try spec.write(toFile: dir + "/spec.txt", atomically: true, encoding: .utf8)
        r = try TestSupport.run(TestSupport.envpackBinary, ["install", "-q", "--file", dir + "/spec.txt", "-p", dir + "/env2"], environment: env)
        try #require(r.status == 0, "\(r.stderr)")
        try FileManager.default.removeItem(atPath: dir + "/env1")
        try FileManager.default.removeItem(atPath: dir + "/env2")

        let after = try SafetySupport.snapshot(dir)
        let changes = SafetySupport.differences(before, after).filter { !$0.hasPrefix("added pkgs/.envpack") && $0 != "added spec.txt" }
        #expect(changes.isEmpty, "\(changes.prefix(20))")
        let locks = after.keys.filter { $0.hasSuffix(".lock") }
        #expect(locks.isEmpty, "lock files left: \(locks)")
        // The two that needed it were extracted in envpack's corner, complete for conda too.
        for name in ["pybind11-abi", "ca-certificates"] {
            let record = chosen.first { $0["name"] as? String == name }!
            let fn = record["fn"] as! String
            let dist = String(fn.hasSuffix(".conda") ? fn.dropLast(6) : fn.dropLast(8))
            let own = cache + "/.envpack/" + (record["sha256"] as! String) + "/" + dist
            #expect(PackageCache.marker(in: own)?.sha256 == record["sha256"] as? String, "\(own)")
            let data = try Data(contentsOf: URL(fileURLWithPath: own + "/info/repodata_record.json"))
            let json = try JSONSerialization.jsonObject(with: data) as! [String: Any]
            #expect(json["sha256"] as? String == record["sha256"] as? String && json["fn"] as? String == fn && json["name"] as? String == name)
        }
    }
}
