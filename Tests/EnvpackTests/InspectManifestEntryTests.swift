// `envpack inspect` reads an archive's manifest into memory: only the one at
// the top (or below the one top folder), only once, only a regular file of
// at most ManifestLimits.maxBytes. A crafted archive whose manifest entry
// says 1 GiB and more (zeros: a few hundred KB of zstd), a second manifest,
// or a manifest that is a symlink is refused in one line naming the entry,
// with bounded memory (inspect read any such entry whole, however large).
import EnvpackRelocation
import Foundation
import Testing

@Suite struct InspectManifestEntryTests {
    static let maker = #"""
    import io, subprocess, sys, tarfile
    mode, out = sys.argv[1], sys.argv[2]
    class Zeros(io.RawIOBase):
        def __init__(self, n): self.left = n
        def readable(self): return True
        def readinto(self, b):
            k = min(len(b), self.left); b[:k] = bytes(k); self.left -= k; return k
    z = subprocess.Popen(["zstd", "-q", "-1", "-c", "-o", out], stdin=subprocess.PIPE)
    with tarfile.open(fileobj=z.stdin, mode="w|", format=tarfile.PAX_FORMAT) as t:
        def add(name, data):
            i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
        add("bin/tool", b"#!/bin/sh\n")
        rel = "conda-meta/envpack/manifest.tsv"
        if mode == "huge":
            n = (1 << 30) + 1
            i = tarfile.TarInfo(rel); i.size = n; t.addfile(i, Zeros(n))
        elif mode == "twice":
            add(rel, b"envpack-manifest\t1\n"); add("env/" + rel, b"envpack-manifest\t1\n")
        elif mode == "symlink":
            i = tarfile.TarInfo(rel); i.type = tarfile.SYMTYPE; i.linkname = "/etc/passwd"; t.addfile(i)
    z.stdin.close()
    sys.exit(z.wait())
    """#

    @Test(arguments: [("huge", "a manifest may have"), ("twice", "a second envpack manifest"), ("symlink", "not a regular file")])
    func craftedManifestEntriesAreRefused(mode: String, words: String) throws {
        let dir = try TestSupport.temporaryDirectory("inspect-manifest-\(mode)")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let archive = dir + "/a.tar.zst"
        let made = try TestSupport.run("/usr/bin/python3", ["-c", Self.maker, mode, archive])
        try #require(made.status == 0, "\(made.stderr)")
        let (r, kb) = try TestSupport.envpackMeasuringPeak(["inspect", archive])
        let error = r.stderr.split(separator: "\n")
        #expect(r.status != 0)
        #expect(error.count == 1 && error[0].contains("conda-meta/envpack/manifest.tsv") && error[0].contains(words), "\(r.stderr)")
        #expect(kb < 200 * 1024, "peak RSS \(kb) KB")
    }
}
