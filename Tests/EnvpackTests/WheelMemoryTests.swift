// A wheel is hostile input: a `.data/scripts` file of hundreds of MB (a few
// hundred KB of deflate) must be installed streaming, not read whole into
// memory (it was, and copied twice: about three times its size in RSS).
import Foundation
import Testing

@Suite struct WheelMemoryTests {
    typealias W = WheelSupport

    /// Writes a wheel whose `.data/scripts/big-tool` is a `#!python` script
    /// of `megabytes` MB, streamed into the zip (python never holds it).
    static let bigBuilder = #"""
    import base64, hashlib, sys, zipfile
    out, mb = sys.argv[1], int(sys.argv[2])
    name, ver = "envpack_big", "1.0"
    di = f"{name}-{ver}.dist-info"
    small = {f"{name}/__init__.py": b"SIZE = 'big'\n",
             f"{di}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {ver}\n".encode(),
             f"{di}/WHEEL": b"Wheel-Version: 1.0\nGenerator: envpack-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    def b64(d): return base64.urlsafe_b64encode(d).rstrip(b"=").decode()
    rows = [f"{p},sha256={b64(hashlib.sha256(c).digest())},{len(c)}" for p, c in small.items()]
    script = f"{name}-{ver}.data/scripts/big-tool"
    h, size = hashlib.sha256(), 0
    line = b"# " + b"x" * 1021 + b"\n"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for p, c in small.items(): z.writestr(zipfile.ZipInfo(p, (1980, 1, 1, 0, 0, 0)), c)
        info = zipfile.ZipInfo(script, (1980, 1, 1, 0, 0, 0)); info.external_attr = 0o100755 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        with z.open(info, "w", force_zip64=True) as f:
            head = b"#!python\nprint('big tool runs')\n"
            f.write(head); h.update(head); size += len(head)
            for _ in range(mb * 1024):
                f.write(line); h.update(line); size += len(line)
        rows.append(f"{script},sha256={b64(h.digest())},{size}")
        rows.append(f"{di}/RECORD,,")
        z.writestr(zipfile.ZipInfo(f"{di}/RECORD", (1980, 1, 1, 0, 0, 0)), "\n".join(rows) + "\n")
    print(hashlib.sha256(open(out, "rb").read()).hexdigest())
    """#

    @Test func aHugeDataScriptIsInstalledStreaming() throws {
        let dir = try TestSupport.temporaryDirectory("wheel-memory")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let megabytes = 300
        let path = dir + "/envpack_big-1.0-py3-none-any.whl"
        let made = try TestSupport.run("/usr/bin/python3", ["-c", Self.bigBuilder, path, "\(megabytes)"])
        try #require(made.status == 0, "\(made.stderr)")
        let sha = String(decoding: made.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let wheel = W.Wheel(name: "envpack_big", version: "1.0", fileName: (path as NSString).lastPathComponent, path: path, sha256: sha)
        let lock = try W.condaLock([wheel])
        try lock.write(toFile: dir + "/conda-lock.yml", atomically: true, encoding: .utf8)
        let prefix = dir + "/env"
        let (r, kb) = try TestSupport.envpackMeasuringPeak(["install", "-q", "--file", dir + "/conda-lock.yml", "-p", prefix, "--pkgs-dir", W.cache])
        #expect(r.status == 0, "\(r.stderr)")
        // The script alone is 300 MB; envpack's own working set is far below that.
        #expect(kb < 200 * 1024, "peak RSS \(kb) KB installing a wheel with a \(megabytes) MB script")
        let run = try TestSupport.run(prefix + "/bin/big-tool", [])
        #expect(String(decoding: run.stdout, as: UTF8.self) == "big tool runs\n", "\(run.stderr)")
        let st = try FileManager.default.attributesOfItem(atPath: prefix + "/bin/big-tool")
        #expect((st[.size] as? Int ?? 0) > megabytes << 20)
    }
}
