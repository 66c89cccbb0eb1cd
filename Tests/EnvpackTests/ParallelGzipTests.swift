// tar.gz on several threads: the same bytes whatever `-j` is, a stream made
// of independently deflated blocks (what lets `-j` work), read by gzip, GNU
// tar, python's tarfile and libarchive, unpacked into programs that run, and
// a failed output still failing the pack.
import EnvpackRelocation
import Foundation
import Testing
@testable import Envpack

@Suite struct ParallelGzipTests {
    /// `envpack pack` as tar.gz on `threads` threads.
    func pack(_ env: String, to output: String, threads: Int) throws {
        let r = try TestSupport.envpack(["pack", "-q", "-p", env, "-o", output, "--format", "tar.gz", "-j", String(threads)])
        try #require(r.status == 0, "pack -j \(threads) failed: \(r.stderr)")
    }

    /// Python checks that the gzip stream is one member whose deflate data is
    /// cut at every `blockSize` bytes of input: a sync-flush marker ends
    /// each block, and each block inflates on its own given only the 32 KiB
    /// before it, so the blocks can be (and are) deflated in parallel.
    /// Prints the number of blocks.
    static let blockCheck = #"""
    import gzip, sys, zlib
    data = open(sys.argv[1], 'rb').read()
    size = int(sys.argv[2])
    assert data[:4] == b'\x1f\x8b\x08\x00', 'not a plain gzip header'
    assert data[4:8] == b'\0\0\0\0', 'the header holds a timestamp'
    body = data[10:]
    d = zlib.decompressobj(-15)
    plain = d.decompress(body)
    assert d.eof and len(d.unused_data) == 8, 'not exactly one gzip member'
    assert gzip.decompress(data) == plain  # CRC-32 and length
    # Where the deflate data is byte-aligned after an empty stored block.
    d = zlib.decompressobj(-15)
    ends, produced, pos = {}, 0, 0
    i = body.find(b'\x00\x00\xff\xff')
    while i >= 0:
        produced += len(d.decompress(body[pos:i + 4]))
        pos = i + 4
        ends.setdefault(produced, pos)
        i = body.find(b'\x00\x00\xff\xff', pos)
    ends[len(plain)] = len(body) - 8
    cuts = list(range(size, len(plain), size))
    for k, cut in enumerate(cuts):
        assert cut in ends, 'no block boundary at input offset %d' % cut
        stop = cuts[k + 1] if k + 1 < len(cuts) else len(plain)
        part = zlib.decompressobj(-15, zdict=plain[cut - 32768:cut])
        assert part.decompress(body[ends[cut]:ends[stop]]) == plain[cut:stop], 'block at %d does not inflate alone' % cut
    print(len(cuts) + 1)
    """#

    /// Runs `blockCheck`; returns the number of blocks.
    func blocks(_ archive: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> Int {
        let r = try TestSupport.run("/usr/bin/python3", ["-c", Self.blockCheck, archive, String(GzipCompressor.blockSize)])
        try #require(r.status == 0, "block structure of \(archive): \(r.stderr)", sourceLocation: sourceLocation)
        return Int(String(decoding: r.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    @Test func sameBytesForAnyThreadCountAsIndependentBlocks() throws {
        let env = try TestSupport.fixtureEnv("demo")
        let dir = try TestSupport.temporaryDirectory("gzj")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for j in [1, 2, 3] { try pack(env, to: dir + "/j\(j).tar.gz", threads: j) }
        let one = try TestSupport.sha256(dir + "/j1.tar.gz")
        #expect(try TestSupport.sha256(dir + "/j2.tar.gz") == one)
        #expect(try TestSupport.sha256(dir + "/j3.tar.gz") == one)
        // The helper alone (a static executable) makes it many blocks.
        #expect(try blocks(dir + "/j2.tar.gz") > 8)
        let t = try TestSupport.run("/bin/gzip", ["-t", dir + "/j2.tar.gz"])
        #expect(t.status == 0, "gzip -t: \(t.stderr)")
    }

    /// Python's tarfile reads every member with the content libarchive
    /// (bsdtar) extracts; gzip and GNU tar list the same members.
    @Test func everyReaderReadsTheRealEnvironment() throws {
        let env = try TestSupport.fixtureEnv("conda-forge")
        let dir = try TestSupport.temporaryDirectory("gzreaders")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let archive = dir + "/cf.tar.gz"
        try pack(env, to: archive, threads: 2)
        try pack(env, to: dir + "/one.tar.gz", threads: 1)
        #expect(try TestSupport.sha256(archive) == TestSupport.sha256(dir + "/one.tar.gz"))
        #expect(try blocks(archive) > 100)

        let t = try TestSupport.run("/bin/gzip", ["-t", archive])
        #expect(t.status == 0, "gzip -t: \(t.stderr)")
        let gnu = try TestSupport.run("/bin/bash", ["-c", "set -o pipefail; gzip -dc \"$1\" | tar -tf - | sed 's,^\\./,,; s,/$,,' | sort", "-", archive])
        try #require(gnu.status == 0, "gzip -dc | tar -t: \(gnu.stderr)")
        let gnuNames = Set(String(decoding: gnu.stdout, as: UTF8.self).split(separator: "\n").map(String.init))

        let out = dir + "/x"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let bsd = try TestSupport.run("/usr/bin/bsdtar", ["-xf", archive, "-C", out])
        try #require(bsd.status == 0, "bsdtar: \(bsd.stderr)")
        let script = #"""
        import os, sys, tarfile
        archive, root = sys.argv[1], sys.argv[2]
        names, files = [], 0
        with tarfile.open(archive, 'r:gz') as t:
            for m in t:
                names.append(m.name.rstrip('/'))
                if m.isfile():
                    data = t.extractfile(m).read()
                    assert len(data) == m.size, m.name
                    with open(os.path.join(root, m.name), 'rb') as f:
                        assert f.read() == data, 'content differs: ' + m.name
                    files += 1
        print(files)
        print('\n'.join(sorted(names)))
        """#
        let py = try TestSupport.run("/usr/bin/python3", ["-c", script, archive, out])
        try #require(py.status == 0, "python tarfile: \(py.stderr)")
        let lines = String(decoding: py.stdout, as: UTF8.self).split(separator: "\n").map(String.init)
        let pyNames = Set(lines.dropFirst())
        let libarchive = try TestSupport.entries(of: archive)
        let regular = libarchive.values.filter { $0.entry.fileType == fileTypeRegular && $0.entry.hardlink == nil }
        #expect(Int(lines.first ?? "") == regular.count)
        #expect(regular.count > 1000)
        #expect(pyNames == Set(libarchive.keys.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }))
        #expect(pyNames == gnuNames)
    }

    /// Unpacked by envpack where the original prefix is hidden, the
    /// conda-forge programs run from their new place.
    @Test func unpackedArchiveRuns() throws {
        let env = try TestSupport.fixtureEnv("conda-forge")
        let dir = try TestSupport.temporaryDirectory("gzrun")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let archive = dir + "/cf.tar.gz"
        try pack(env, to: archive, threads: 3)
        #expect(try blocks(archive) > 100)
        let dest = dir + "/moved-env"
        let u = try TestSupport.envpack(["unpack", "-q", archive, dest])
        try #require(u.status == 0, "unpack: \(u.stderr)")
        let r = try runHidden(RelocationChecks.condaForgePrograms(dest), hidden: [env])
        #expect(r.status == 0, "programs: \(r.stderr)")
    }

    /// The compressor on its own: every worker deflates blocks, and the
    /// output equals the one-thread output and inflates to the input.
    @Test func everyWorkerDeflates() throws {
        let dir = try TestSupport.temporaryDirectory("gzworkers")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // 12 MiB of text-like data with some repetition, from a fixed seed.
        var input = [UInt8]()
        input.reserveCapacity(12 << 20)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        let words = ["conda", "envpack", "lib", "python", "site-packages", "/opt/env", "\n", " ", "0123"]
        while input.count < 12 << 20 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            input.append(contentsOf: Array(words[Int(state >> 33) % words.count].utf8))
            if state & 0xF == 0 { input.append(UInt8(truncatingIfNeeded: state >> 40)) }
        }
        func compress(threads: Int, to path: String) throws -> [Int] {
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            try #require(fd >= 0)
            defer { close(fd) }
            let gz = try GzipCompressor(fd: fd, level: 4, threads: threads, displayPath: path)
            // Uneven pieces, as libarchive's writes need not align with blocks.
            var offset = 0
            var piece = 1000
            while offset < input.count {
                let n = min(piece, input.count - offset)
                try input.withUnsafeBytes { try gz.write(UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + n)])) }
                offset += n
                piece = piece * 3 % 200_000 + 1
            }
            try gz.finish()
            return gz.blocksByWorker
        }
        let counts = try compress(threads: 2, to: dir + "/two.gz")
        _ = try compress(threads: 1, to: dir + "/one.gz")
        #expect(counts.count == 2 && counts.allSatisfy { $0 > 0 }, "blocks by worker: \(counts)")
        #expect(counts.reduce(0, +) == (12 << 20) / GzipCompressor.blockSize + 1)
        #expect(try TestSupport.sha256(dir + "/two.gz") == TestSupport.sha256(dir + "/one.gz"))
        try Data(input).write(to: URL(fileURLWithPath: dir + "/plain"))
        let same = try TestSupport.run("/bin/bash", ["-c", "gzip -dc \"$1/two.gz\" | cmp - \"$1/plain\"", "-", dir])
        #expect(same.status == 0, "gzip -dc differs: \(same.stderr)")
        #expect(try blocks(dir + "/two.gz") == 48)
    }

    /// A full disk and a reader that goes away still fail the pack, with
    /// nothing left behind.
    @Test func failedOutputFailsThePack() throws {
        let env = try TestSupport.fixtureEnv("demo")
        let dir = try TestSupport.temporaryDirectory("gzfull")
        defer {
            _ = try? TestSupport.run("/bin/umount", [dir + "/small"])
            try? FileManager.default.removeItem(atPath: dir)
        }
        // The parallel writer is the one in use.
        try pack(env, to: dir + "/ok.tar.gz", threads: 2)
        #expect(try blocks(dir + "/ok.tar.gz") > 8)

        let small = dir + "/small"
        try FileManager.default.createDirectory(atPath: small, withIntermediateDirectories: true)
        let mount = try TestSupport.run("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", small])
        try #require(mount.status == 0, "mounting a tmpfs needs root: \(mount.stderr)")
        for j in [1, 2] {
            let r = try TestSupport.envpack(["pack", "-q", "-p", env, "-o", small + "/a.tar.gz", "-j", String(j)])
            #expect(r.status != 0)
            #expect(r.stderr.split(separator: "\n").count == 1, "one line: \(r.stderr)")
            #expect(r.stderr.contains(small + "/a.tar.gz") && r.stderr.contains("No space left on device"), "\(r.stderr)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: small).isEmpty)
        }

        // A reader that stops after 100 bytes: the pack does not succeed.
        let pipe = try TestSupport.run("/bin/bash", ["-c", "\"$1\" pack -q -p \"$2\" -o - --format tar.gz -j 2 | head -c 100 >/dev/null; echo ${PIPESTATUS[0]}",
                                                     "-", TestSupport.envpackBinary, env])
        #expect(Int32(String(decoding: pipe.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) != 0,
                "pack into a closed pipe: \(pipe.stderr)")
    }
}
