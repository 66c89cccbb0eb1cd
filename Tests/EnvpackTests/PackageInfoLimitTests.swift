// A package is hostile input, and its archive may decompress to far more
// than it weighs: `info/` files (paths.json, files, has_prefix, no_link,
// index.json, link.json) are read only as regular files of at most
// PackageInfo.maxInfoFileSize. A .conda of a few hundred KB whose
// info/paths.json is 300 MB of spaces is refused in one line naming the
// file, with bounded memory (it was read whole: 340 MB of RSS).
import Foundation
import Testing

@Suite struct PackageInfoLimitTests {
    static let maker = #"""
    import hashlib, io, json, subprocess, sys, tarfile, zipfile
    out, mb = sys.argv[1], int(sys.argv[2])
    class Spaces(io.RawIOBase):
        def __init__(self, n): self.left = n
        def readable(self): return True
        def readinto(self, b):
            k = min(len(b), self.left); b[:k] = b" " * k; self.left -= k; return k
    def tar_zst(name, members):
        z = subprocess.Popen(["zstd", "-q", "-1", "-c", "-o", name], stdin=subprocess.PIPE)
        with tarfile.open(fileobj=z.stdin, mode="w|") as t:
            for path, size, source in members:
                i = tarfile.TarInfo(path); i.size = size; t.addfile(i, source)
        z.stdin.close(); assert z.wait() == 0
    index = json.dumps({"name": "bloated", "version": "1", "build": "0", "build_number": 0, "subdir": "linux-64", "depends": []}).encode()
    n = mb << 20
    tar_zst(out + ".info", [("info/index.json", len(index), io.BytesIO(index)), ("info/paths.json", n, Spaces(n))])
    tar_zst(out + ".pkg", [("share/bloated.txt", 2, io.BytesIO(b"x\n"))])
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        z.writestr("metadata.json", '{"conda_pkg_format_version": 2}')
        z.write(out + ".info", "info-bloated-1-0.tar.zst")
        z.write(out + ".pkg", "pkg-bloated-1-0.tar.zst")
    print(hashlib.sha256(open(out, "rb").read()).hexdigest())
    """#

    @Test func aHugeInfoFileIsRefusedWithBoundedMemory() throws {
        let dir = try TestSupport.temporaryDirectory("info-limit")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let archive = dir + "/bloated-1-0.conda"
        let made = try TestSupport.run("/usr/bin/python3", ["-c", Self.maker, archive, "300"])
        try #require(made.status == 0, "\(made.stderr)")
        let sha = String(decoding: made.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        try "@EXPLICIT\n\(archive)#\(sha)\n".write(toFile: dir + "/spec.txt", atomically: true, encoding: .utf8)
        let (r, kb) = try TestSupport.envpackMeasuringPeak(["install", "-q", "--file", dir + "/spec.txt", "-p", dir + "/env", "--pkgs-dir", dir + "/pkgs"])
        let error = r.stderr.split(separator: "\n")
        #expect(r.status != 0)
        #expect(error.count == 1 && error[0].contains("info/paths.json") && error[0].contains("more than a package's info file may be"), "\(r.stderr)")
        #expect(kb < 200 * 1024, "peak RSS \(kb) KB")
        #expect(!FileManager.default.fileExists(atPath: dir + "/env"))
    }
}
