// A hostile server must not fill the disk: `envpack install` refuses a
// download larger than --max-package-size, whether the server announces it
// (refused before any byte is stored) or just keeps sending, in one line
// naming the URL, leaving nothing in the package cache; tested against a
// local http server (127.0.0.1, bounded in time and requests).
import Foundation
import Testing
@testable import Envpack

@Suite struct InstallLimitsTests {
    /// Serves, under /KIND/NAME:
    /// - good: the real package NAME from `root`;
    /// - big: announces 200 MB and sends zeros (up to that);
    /// - endless: no Content-Length, zeros until the client stops (200 MB at most).
    static func sizeServer(root: String) throws -> LocalHTTPServer {
        try LocalHTTPServer(root: root, imports: "", handler: """
            count = [0]
            class H(http.server.BaseHTTPRequestHandler):
                def log_message(self, *a): pass
                def zeros(self, total):
                    block = b"\\0" * 65536
                    sent = 0
                    try:
                        while sent < total:
                            self.wfile.write(block[:min(len(block), total - sent)]); sent += min(len(block), total - sent)
                    except Exception:
                        pass
                def do_GET(self):
                    count[0] += 1
                    if count[0] > 40: os._exit(0)
                    kind, _, name = self.path.strip("/").partition("/")
                    if kind == "good":
                        data = open(os.path.join(root, os.path.basename(name)), "rb").read()
                        self.send_response(200); self.send_header("Content-Length", str(len(data))); self.end_headers()
                        self.wfile.write(data); return
                    if kind == "big":
                        self.send_response(200); self.send_header("Content-Length", str(200 << 20)); self.end_headers()
                        self.zeros(200 << 20); return
                    if kind == "endless":
                        self.protocol_version = "HTTP/1.0"
                        self.send_response(200); self.send_header("Connection", "close"); self.end_headers()
                        self.zeros(200 << 20); self.close_connection = True; return
                    self.send_response(404); self.end_headers()
            """)
    }

    /// Each lie is refused in one line naming the URL and what was wrong,
    /// quickly (before 200 MB could arrive), with nothing left in the cache
    /// or at the prefix; a real package installs under a cap above its
    /// size and is refused under one below it.
    @Test func oversizedDownloadsAreRefused() throws {
        let (folder, records) = try InstallSupport.condaForgeRecords()
        let dir = try TestSupport.temporaryDirectory("sizecap")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let server = try Self.sizeServer(root: folder)
        defer { server.stop() }
        try #require(server.port > 0, "the test server did not start")
        let zlib = try #require(records.first { $0["name"] as? String == "libzlib" })
        let fn = zlib["fn"] as! String, sha = zlib["sha256"] as! String
        let size = FileStatus.lstat(folder + "/" + fn)!.size

        let cases: [(kind: String, cap: String, expected: [String])] = [
            ("big", "1M", ["announces \(200 << 20) bytes", "1048576", "--max-package-size", "1 try"]),
            ("endless", "1M", ["more than the 1048576 bytes allowed", "--max-package-size", "1 try"]),
            ("good", "\(size - 1)", ["announces \(size) bytes", "--max-package-size"]),
        ]
        for c in cases {
            let url = "http://127.0.0.1:\(server.port)/\(c.kind)/\(fn)"
            let start = Date()
            let r = try SafetySupport.install("@EXPLICIT\n\(url)#\(sha)\n", dir: dir, prefix: dir + "/env",
                                              extra: ["--max-package-size", c.cap, "--low-speed-time", "5"])
            let wall = Date().timeIntervalSince(start)
            #expect(r.status != 0, "\(c.kind): installed")
            #expect(r.stderr.contains(url) && c.expected.allSatisfy(r.stderr.contains), "\(c.kind): \(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1, "\(c.kind): not one line: \(r.stderr)")
            #expect(wall < 20, "\(c.kind): took \(wall) s")
            let cached = (try? FileManager.default.contentsOfDirectory(atPath: dir + "/pkgs")) ?? []
            #expect(cached.isEmpty, "\(c.kind): left in the cache: \(cached)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/env"), "\(c.kind)")
        }

        // The real package under a cap just large enough.
        let url = "http://127.0.0.1:\(server.port)/good/\(fn)"
        let ok = try SafetySupport.install("@EXPLICIT\n\(url)#\(sha)\n", dir: dir, prefix: dir + "/env", extra: ["--max-package-size", "\(size)"])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(FileManager.default.fileExists(atPath: dir + "/env/lib/libz.so.1"))
    }

    /// The flag is documented and checked.
    @Test func maxPackageSizeFlag() throws {
        let help = try TestSupport.envpack(["install", "--help"])
        #expect(String(decoding: help.stdout, as: UTF8.self).contains("--max-package-size"), "\(help.stderr)")
        for bad in ["0", "abc", "-5", "12Q", "2000T"] {
            let r = try TestSupport.envpack(["install", "--file", "/nonexistent", "-p", "/nonexistent", "--max-package-size", bad])
            #expect(r.status != 0 && r.stderr.contains("--max-package-size"), "\(bad): \(r.stderr)")
        }
        #expect(DownloadLimits.parseSize("8G") == 8 << 30)
        #expect(DownloadLimits.parseSize("500MiB") == 500 << 20)
        #expect(DownloadLimits.parseSize("1024") == 1024)
        #expect(DownloadLimits.parseSize("1k") == 1024)
        #expect(DownloadLimits.parseSize("G") == nil)
        #expect(DownloadLimits.parseSize("9223372036854775807K") == nil)
    }
}
