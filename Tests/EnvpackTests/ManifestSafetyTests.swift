// The manifest inside an archive is hostile input (issue 7, items 1, 10, 11
// and 17): crafted manifests and archives built here with python's tarfile
// must be refused by `envpack unpack`, by the helper after a plain `tar -x`
// and by `envpack relocate`, each with one line, nothing changed, and a
// canary folder outside the environment untouched down to its inode
// numbers; crafted numbers never crash; a FIFO never hangs; a killed and
// resumed relocation writes the manifest an uninterrupted one writes.
import EnvpackRelocation
import Foundation
import Testing
@testable import Envpack

@Suite(.serialized) struct ManifestSafetyTests {
    // MARK: Helpers

    /// The demo environment packed as a plain tar (so python can rewrite it),
    /// and the prefix its manifest holds.
    func packDemo(_ dir: String) throws -> (archive: String, prefix: String) {
        let env = try TestSupport.fixtureEnv("demo")
        let archive = dir + "/demo.tar"
        let r = try TestSupport.envpack(["pack", "-q", "-p", env, "-o", archive])
        try #require(r.status == 0, "pack: \(r.stderr)")
        return (archive, env)
    }

    /// Copies `archive` to `output` with python's tarfile: `manifest` is
    /// python that edits `lines` (the manifest's lines), `extra` adds
    /// entries with add(name, data, **TarInfo fields).
    func craft(_ archive: String, _ output: String, manifest: String = "", extra: String = "") throws {
        let script = """
        import io, sys, tarfile
        inp = tarfile.open(sys.argv[1]); out = tarfile.open(sys.argv[2], "w", format=tarfile.PAX_FORMAT)
        def add(name, data=b"x", **kw):
            info = tarfile.TarInfo(name); info.size = len(data)
            for k, v in kw.items(): setattr(info, k, v)
            out.addfile(info, io.BytesIO(data) if info.type in (tarfile.REGTYPE, tarfile.AREGTYPE) else None)
        def first_file(lines):
            return next(i for i, l in enumerate(lines) if l.startswith("file\\t"))
        for m in inp.getmembers():
            data = inp.extractfile(m).read() if m.isreg() else None
            if m.name.lstrip("./") == "conda-meta/envpack/manifest.tsv":
                lines = data.decode().split("\\n")
        \(manifest.split(separator: "\n").map { "        " + $0 }.joined(separator: "\n"))
                data = "\\n".join(lines).encode(); m.size = len(data)
            out.addfile(m, io.BytesIO(data) if data is not None else None)
        \(extra)
        out.close()
        """
        let r = try TestSupport.run("/usr/bin/python3", ["-c", script, archive, output])
        try #require(r.status == 0, "python: \(r.stderr)")
    }

    /// Every entry below `dir` with its inode number and content.
    func snapshot(_ dir: String) throws -> [String: String] {
        var result: [String: String] = [:]
        for name in try FileManager.default.subpathsOfDirectory(atPath: dir) {
            var st = stat()
            try #require(lstat(dir + "/" + name, &st) == 0)
            let data = FileManager.default.contents(atPath: dir + "/" + name).map { String(decoding: $0, as: UTF8.self) } ?? "-"
            result[name] = "\(st.st_ino) \(st.st_mode) \(st.st_nlink) \(data)"
        }
        return result
    }

    /// A canary folder outside every destination whose files hold the
    /// prefix the manifest names, so any rewrite of them would show.
    func makeCanary(_ dir: String, prefix: String) throws -> String {
        let canary = dir + "/canary"
        try FileManager.default.createDirectory(atPath: canary, withIntermediateDirectories: true)
        for name in ["victim", "victim2"] {
            try "data: \(prefix)/share/x\n".write(toFile: canary + "/" + name, atomically: false, encoding: .utf8)
        }
        return canary
    }

    func extract(_ archive: String, to root: String) throws {
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let r = try TestSupport.run("/usr/bin/tar", ["-xf", archive, "-C", root])
        try #require(r.status == 0, "tar: \(r.stderr)")
    }

    func oneLine(_ text: String) -> Bool {
        text.split(separator: "\n", omittingEmptySubsequences: true).count == 1
    }

    // MARK: Item 1: paths from the manifest stay inside

    @Test func hostileManifestPathsAreRefusedEverywhere() throws {
        let dir = try TestSupport.temporaryDirectory("mpath")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (archive, prefix) = try packDemo(dir)
        let canary = try makeCanary(dir, prefix: prefix)
        let before = try snapshot(canary)
        let textLine = { (path: String) in "lines.insert(len(lines) - 1, 'file\\t\(path)\\ttext\\tmanaged\\t\(prefix)\\t6\\t-\\t-')" }
        let hardlink = { (path: String) in "i = first_file(lines); lines.insert(i + 1, 'hardlink\\t' + lines[i].split('\\t')[1] + '\\t\(path)')" }
        let cases: [(name: String, manifest: String, extra: String, mentions: [String])] = [
            ("dotdot", textLine("../canary/victim"), "", ["line", "../canary/victim"]),
            ("dotdot2", textLine("../../x"), "", ["line", "../../x"]),
            ("absolute", textLine(canary + "/victim"), "", ["line", "absolute"]),
            ("through-symlink", textLine("lib2/victim"),
             "add('lib2', type=tarfile.SYMTYPE, linkname='\(canary)')", ["line", "lib2/victim", "symlink"]),
            ("hardlink-outside", hardlink("../canary/victim2"), "", ["line", "../canary/victim2"]),
            ("hardlink-through-symlink", hardlink("lib2/victim2"),
             "add('lib2', type=tarfile.SYMTYPE, linkname='\(canary)')", ["line", "lib2/victim2"]),
            ("final-symlink", textLine("share/link"),
             "add('share/link', type=tarfile.SYMTYPE, linkname='\(canary)/victim')", ["line", "share/link", "symlink"]),
            ("manifest-tmp", "", "add('conda-meta/envpack/manifest.tsv.envpack-tmp', type=tarfile.SYMTYPE, linkname='\(canary)/victim')",
             ["manifest.tsv.envpack-tmp"]),
            ("journal-tmp", "", "add('conda-meta/envpack/journal.envpack-tmp', type=tarfile.SYMTYPE, linkname='\(canary)/victim2')",
             ["journal.envpack-tmp"]),
            ("huge-room", "import re; lines[:] = [re.sub(r'\\t(\\d+):\\d+:1$', r'\\t\\1:9223372036854775807:1', l) if l.startswith('file\\tbin/greet\\t') else l for l in lines]; assert any('9223372036854775807' in l for l in lines)", "", ["line"]),
        ]
        for c in cases {
            let crafted = dir + "/\(c.name).tar"
            try craft(archive, crafted, manifest: c.manifest, extra: c.extra)

            // envpack unpack: refused, nothing at DEST, nothing beside it.
            let listing = Set(try FileManager.default.contentsOfDirectory(atPath: dir))
            let dest = dir + "/dest-\(c.name)"
            let unpack = try TestSupport.envpack(["unpack", "-q", crafted, dest])
            #expect(unpack.status == 1, "\(c.name): unpack: \(unpack.status) \(unpack.stderr)")
            #expect(oneLine(unpack.stderr), "\(c.name): \(unpack.stderr)")
            for m in c.mentions { #expect(unpack.stderr.contains(m), "\(c.name): should name \(m): \(unpack.stderr)") }
            #expect(!FileManager.default.fileExists(atPath: dest), "\(c.name): DEST was made")
            #expect(Set(try FileManager.default.contentsOfDirectory(atPath: dir)) == listing, "\(c.name): left something beside DEST")

            // The helper after a plain tar -x, and envpack relocate.
            for runner in ["helper", "relocate"] {
                let root = dir + "/env-\(runner)-\(c.name)"
                try extract(crafted, to: root)
                let manifest = try TestSupport.sha256(root + "/" + Manifest.relativePath)
                let r = runner == "helper" ? try TestSupport.run(root + "/bin/envpack-unpack", [])
                                           : try TestSupport.envpack(["relocate", root])
                #expect(r.status == 1, "\(c.name): \(runner): \(r.status) \(r.stderr)")
                #expect(oneLine(r.stderr), "\(c.name): \(runner): \(r.stderr)")
                for m in c.mentions { #expect(r.stderr.contains(m), "\(c.name): \(runner) should name \(m): \(r.stderr)") }
                #expect(try TestSupport.sha256(root + "/" + Manifest.relativePath) == manifest, "\(c.name): \(runner) changed the manifest")
                #expect(!FileManager.default.fileExists(atPath: root + "/" + Journal.relativePath), "\(c.name): \(runner) started a journal")
                try? FileManager.default.removeItem(atPath: root)
            }
            #expect(try snapshot(canary) == before, "\(c.name): the canary folder changed")
        }
        #expect(try snapshot(canary) == before)
    }

    // MARK: Item 11: FIFOs and devices never hang

    @Test func fifoOrDeviceNamedByTheManifestIsRefusedAtOnce() throws {
        let dir = try TestSupport.temporaryDirectory("mfifo")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (archive, prefix) = try packDemo(dir)
        let root = dir + "/env"
        try extract(archive, to: root)
        #expect(try TestSupport.run("/usr/bin/mkfifo", [root + "/share/fifo"]).status == 0)
        #expect(try TestSupport.run("/usr/bin/mknod", [root + "/share/null2", "c", "1", "3"]).status == 0)
        let manifestPath = root + "/" + Manifest.relativePath
        let original = try String(contentsOfFile: manifestPath, encoding: .utf8)
        for (name, kind) in [("share/fifo", "FIFO"), ("share/null2", "device")] {
            for (index, mode) in ["text", "binary"].enumerated() {
                try (original + "file\t\(name)\t\(mode)\tmanaged\t\(prefix)\t\(index)\t-\t-\n")
                    .write(toFile: manifestPath, atomically: false, encoding: .utf8)
                for runner in ["helper", "relocate", "check"] {
                    let start = Date()
                    let args: [String] = switch runner {
                    case "helper": [root + "/bin/envpack-unpack"]
                    case "check": [root + "/bin/envpack-unpack", "--check"]
                    default: [TestSupport.envpackBinary, "relocate", root]
                    }
                    let r = try TestSupport.run("/usr/bin/timeout", ["-k", "2", "10"] + args)
                    let elapsed = Date().timeIntervalSince(start)
                    #expect(r.status != 124 && elapsed < 8, "\(name) \(runner): hung (\(elapsed) s)")
                    if runner != "check" {
                        #expect(r.status == 1, "\(name) \(runner): \(r.status) \(r.stderr)")
                        #expect(oneLine(r.stderr) && r.stderr.contains(name) && r.stderr.contains(kind), "\(name) \(runner): \(r.stderr)")
                    }
                }
                #expect(try String(contentsOfFile: manifestPath, encoding: .utf8).hasSuffix("\(index)\t-\t-\n"), "the manifest was rewritten")
            }
        }
    }

    // MARK: Size guards: a huge manifest does not fill memory

    /// A million `file` lines naming files that are not in the environment:
    /// refused at the first of them, with memory far below what holding a
    /// million entries takes (about 290 MB before this check).
    @Test func millionLineManifestIsRefusedWithBoundedMemory() throws {
        let dir = try TestSupport.temporaryDirectory("mbig")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (archive, _) = try packDemo(dir)
        let root = dir + "/env"
        try extract(archive, to: root)
        let manifestPath = root + "/" + Manifest.relativePath
        let original = try String(contentsOfFile: manifestPath, encoding: .utf8)
        let head = original.split(separator: "\n").prefix { !$0.hasPrefix("file\t") }.joined(separator: "\n")
        var text = head + "\n"
        text.reserveCapacity(110 << 20)
        for i in 0..<1_000_000 {
            text += "file\tlib/gone/f\(i).so\tbinary\telf,managed\t/opt/old-prefix\t16,4096,65536\t-\t-\n"
        }
        try text.write(toFile: manifestPath, atomically: false, encoding: .utf8)
        let firstFileLine = head.split(separator: "\n").count + 1
        for args in [[root + "/bin/envpack-unpack", "--dry-run"], [TestSupport.envpackBinary, "relocate", "--dry-run", root]] {
            let r = try TestSupport.run("/usr/bin/time", ["-f", "maxrss %M"] + args)
            let lines = r.stderr.split(separator: "\n")
            let rss = lines.last.flatMap { $0.hasPrefix("maxrss ") ? Int($0.dropFirst(7)) : nil } ?? Int.max
            let message = lines.dropLast().filter { !$0.hasPrefix("Command exited with non-zero status") }.joined(separator: "\n")
            #expect(r.status == 1, "\(args): status \(r.status) \(message)")
            #expect(oneLine(message) && message.contains("line \(firstFileLine)") && message.contains("lib/gone/f0.so"), "\(message)")
            #expect(rss < 64 * 1024, "\(args): peak RSS \(rss) KB for a refused 1M-line manifest")
        }
    }

    // MARK: Item 10: crafted numbers

    @Test func craftedNumbersGiveOneLineErrors() throws {
        let dir = try TestSupport.temporaryDirectory("mnum")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (archive, _) = try packDemo(dir)
        let root = dir + "/env"
        try extract(archive, to: root)
        let manifestPath = root + "/" + Manifest.relativePath
        let original = try String(contentsOfFile: manifestPath, encoding: .utf8)
        // The fields the variants change, found in this build's manifest
        // (room and text offsets depend on the fixtures' path length).
        let fileLines = original.split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
            .filter { $0.count >= 8 && $0[0] == "file" }
        let greet = try #require(fileLines.first { $0[1] == "bin/greet" })
        // Its RPATH is `$ORIGIN/../lib` in the archive (pack made it
        // relative): the one occurrence left is the compiled-in data path.
        try #require(greet[5] == "8288" && greet[6] == "-" && greet[7].hasPrefix("8288:") && greet[7].hasSuffix(":1"),
                     "bin/greet's manifest line changed: \(greet)")
        let room = greet[7]
        let roomBytes = room.dropFirst("8288:".count).dropLast(":1".count)
        let text = try #require(fileLines.first { $0[2] == "text" && !$0[3].contains("shebang") && $0[5].split(separator: ",").count == 2 },
                                "no text file with two occurrences")
        let first = try #require(Int(text[5].split(separator: ",")[0]))
        let textOffsets = "\t\(text[5])\t"
        let variants: [(String, String)] = [
            ("\t\(room)\n", "\t8288:9223372036854775807:1\n"),   // overflow in room arithmetic
            ("\t\(room)\n", "\t8288:4611686018427387904:1\n"),   // 2^62 bytes to allocate
            ("\t\(room)\n", "\t8288:1099511627776:1\n"),         // room far beyond the file
            ("\t\(room)\n", "\t8288:\(roomBytes):9223372036854775807\n"), // more occurrences than offsets
            ("\t\(room)\n", "\t9223372036854775807:\(roomBytes):1\n"),    // room for an offset not listed
            ("\t8288\t-\t", "\t9223372036854775807\t-\t"),
            ("\t8288\t-\t", "\t281474976710000\t-\t"),
            ("\t8288\t-\t", "\t-5\t-\t"),
            (textOffsets, "\t\(first),9223372036854775806\t"),
            (textOffsets, "\t\(first),\(first)\t"),                 // one occurrence listed twice
            (textOffsets, "\t\(first),\(first + 12)\t"),            // overlapping occurrences
        ]
        for (from, to) in variants {
            try #require(original.contains(from), "the variant \(to) changes nothing")
            try original.replacingOccurrences(of: from, with: to).write(toFile: manifestPath, atomically: false, encoding: .utf8)
            for args in [[root + "/bin/envpack-unpack"], [root + "/bin/envpack-unpack", "--manifest"],
                         [root + "/bin/envpack-unpack", "--dry-run"], [TestSupport.envpackBinary, "relocate", "--dry-run", root],
                         [TestSupport.envpackBinary, "relocate", root]] {
                let r = try TestSupport.run(args[0], Array(args.dropFirst()))
                // A crash ends with a signal; every relocation must be
                // refused (status 1, one line); the summary may work.
                if args.last == "--manifest" {
                    #expect(r.status == 0 || (r.status == 1 && oneLine(r.stderr)), "\(to) --manifest: status \(r.status) \(r.stderr)")
                } else {
                    #expect(r.status == 1 && oneLine(r.stderr), "\(to) \(args.dropFirst()): status \(r.status) \(r.stderr)")
                }
            }
            #expect(!FileManager.default.fileExists(atPath: root + "/" + Journal.relativePath))
        }
    }

    /// A name with no room for `.envpack-tmp-` in front is refused before
    /// any file changes (it used to fail half-way, leaving a journal).
    @Test func nameTooLongForTheTemporaryFileIsRefusedFirst() throws {
        let dir = try TestSupport.temporaryDirectory("mlong")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (archive, prefix) = try packDemo(dir)
        let root = dir + "/env"
        try extract(archive, to: root)
        let name = "share/" + String(repeating: "n", count: 250)
        try "data: \(prefix)/x\n".write(toFile: root + "/" + name, atomically: false, encoding: .utf8)
        let manifestPath = root + "/" + Manifest.relativePath
        try (try String(contentsOfFile: manifestPath, encoding: .utf8) + "file\t\(name)\ttext\tmanaged\t\(prefix)\t6\t-\t-\n")
            .write(toFile: manifestPath, atomically: false, encoding: .utf8)
        let script = try TestSupport.sha256(root + "/bin/demo-script")
        let r = try TestSupport.run(root + "/bin/envpack-unpack", [])
        #expect(r.status == 1 && oneLine(r.stderr) && r.stderr.contains("too long"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: root + "/" + Journal.relativePath), "a journal was left")
        #expect(try TestSupport.sha256(root + "/bin/demo-script") == script, "a file was changed")
    }

    /// Seeded mutations of a real manifest through the parser, the loader
    /// and the planner, and of real conda-meta records through the record
    /// loader: no crash, and every error is one line.
    @Test func fuzzedManifestsAndRecordsNeverCrash() throws {
        let dir = try TestSupport.temporaryDirectory("mfuzz")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (archive, _) = try packDemo(dir)
        let root = dir + "/env"
        try extract(archive, to: root)
        let manifestPath = root + "/" + Manifest.relativePath
        let original = try String(contentsOfFile: manifestPath, encoding: .utf8)
        let relocator = Relocator(root: root, to: root + "-moved-elsewhere")
        var rng = SplitMix64(seed: 0x5eed_7)
        var parsed = 0, planned = 0, refused = 0
        let trials = 3000
        for trial in 0..<trials {
            let text = mutateManifest(original, &rng)
            let manifest: Manifest
            do {
                if trial % 10 == 0 {
                    // The streaming loader reads the file from disk.
                    try text.write(toFile: manifestPath, atomically: false, encoding: .utf8)
                    manifest = try relocator.loadManifest()
                } else {
                    manifest = try Manifest(parsing: text)
                }
            } catch let error as ManifestError {
                #expect(oneLine(error.description), "trial \(trial): \(error.description)")
                continue
            } catch {
                #expect(oneLine("\(error)"), "trial \(trial): \(error)")
                continue
            }
            parsed += 1
            _ = manifest.longestAllowedPrefix
            #expect(try Manifest(parsing: manifest.serialized()) == manifest, "trial \(trial): does not round-trip")
            do {
                _ = try relocator.plan(manifest)
                planned += 1
            } catch {
                refused += 1
                #expect(oneLine(error.description), "trial \(trial): \(error.description)")
            }
        }
        try original.write(toFile: manifestPath, atomically: false, encoding: .utf8)
        #expect(parsed > 300 && parsed < trials, "parsed \(parsed) of \(trials)")
        #expect(refused > 100, "refused \(refused)")
        #expect(!FileManager.default.fileExists(atPath: root + "/" + Journal.relativePath))
        print("manifest fuzz: \(trials) mutations, \(parsed) parsed, \(planned) planned, \(refused) refused by the planner")

        // conda-meta records through the record loader.
        let meta = try TestSupport.sharedPackages() + "/conda-forge-linux-64-py312/conda-meta"
        let names = try FileManager.default.contentsOfDirectory(atPath: meta).filter { $0.hasSuffix(".json") }.sorted()
        try #require(names.count > 50)
        let records = try names.map { try Data(contentsOf: URL(fileURLWithPath: meta + "/" + $0)) }
            .filter { $0.count < 400_000 }
        var decoded = 0
        let recordTrials = 2000
        for trial in 0..<recordTrials {
            let data = mutateJSON(records[Int(rng.next() % UInt64(records.count))], &rng)
            do {
                let record = try JSONDecoder().decode(PackageRecord.self, from: data)
                _ = CondaEnvironment.pathEntries(of: record, pythonVersion: "3.12")
                decoded += 1
            } catch {
                let message = describe(decodingError: error)
                #expect(oneLine(message) && !message.contains("NSCocoaErrorDomain"), "record trial \(trial): \(message)")
            }
        }
        print("record fuzz: \(recordTrials) mutations, \(decoded) decoded")
    }

    // MARK: Item 17: a resumed relocation keeps the room

    /// bin/greet's string gets the room of a package whose placeholder is
    /// 100 bytes longer than the prefix (not conda-build's 255): the
    /// manifest says so and the byte after that padding is not NUL, so the
    /// room cannot be guessed again from the file.
    func shortenRoom(_ root: String, prefix: String) throws {
        let manifestPath = root + "/" + Manifest.relativePath
        var lines = try String(contentsOfFile: manifestPath, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let i = try #require(lines.firstIndex { $0.hasPrefix("file\tbin/greet\t") })
        var fields = lines[i].split(separator: "\t").map(String.init)
        let offset = try #require(Int(fields[7].split(separator: ":")[0]))
        fields[7] = "\(offset):100:1"
        lines[i] = fields.joined(separator: "\t")
        try lines.joined(separator: "\n").write(toFile: manifestPath, atomically: false, encoding: .utf8)
        let greet = try FileHandle(forUpdating: URL(fileURLWithPath: root + "/bin/greet"))
        try greet.seek(toOffset: UInt64(offset + prefix.utf8.count + 101))
        try greet.write(contentsOf: Data([1]))
        try greet.close()
    }

    @Test(arguments: ["written:2", "renamed:2", "renamed:5", "written:11", "renamed:16"])
    func resumedRelocationWritesTheSameManifest(at point: String) throws {
        let dir = try TestSupport.temporaryDirectory("mresume")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (archive, prefix) = try packDemo(dir)
        let root = dir + "/env"
        try extract(archive, to: root)
        try shortenRoom(root, prefix: prefix)
        let straight = try TestSupport.run(root + "/bin/envpack-unpack", [])
        try #require(straight.status == 0, "\(straight.stderr)")
        let expected = try Data(contentsOf: URL(fileURLWithPath: root + "/" + Manifest.relativePath))
        try FileManager.default.removeItem(atPath: root)

        try extract(archive, to: root)
        try shortenRoom(root, prefix: prefix)
        let killed = try TestSupport.run("/usr/bin/env", ["ENVPACK_KILL_AT=\(point)", root + "/bin/envpack-unpack"])
        #expect(killed.status != 0, "not killed at \(point)")
        #expect(FileManager.default.fileExists(atPath: root + "/" + Journal.relativePath))
        let resumed = try TestSupport.run(root + "/bin/envpack-unpack", [])
        try #require(resumed.status == 0, "\(resumed.stderr)")
        let got = try Data(contentsOf: URL(fileURLWithPath: root + "/" + Manifest.relativePath))
        #expect(got == expected, "the resumed manifest differs:\n\(String(decoding: got, as: UTF8.self))\nexpected:\n\(String(decoding: expected, as: UTF8.self))")

        // A move only the room allows still works: longer than the
        // environment's path is now, within the string's 100 bytes of room.
        let summary = String(decoding: try TestSupport.run(root + "/bin/envpack-unpack", ["--manifest"]).stdout, as: UTF8.self)
        #expect(summary.contains("longest allowed prefix: \(prefix.utf8.count + 100) bytes"), "\(summary)")
        let longer = RelocationChecks.longPath(prefix.utf8.count + 80, tag: "resume")
        #expect(longer.utf8.count > root.utf8.count + 20 && longer.utf8.count <= prefix.utf8.count + 100)
        defer { try? FileManager.default.removeItem(atPath: "/" + longer.split(separator: "/").prefix(2).joined(separator: "/")) }
        try FileManager.default.createDirectory(atPath: (longer as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try FileManager.default.moveItem(atPath: root, toPath: longer)
        let moved = try TestSupport.run(longer + "/bin/envpack-unpack", [])
        #expect(moved.status == 0, "move to \(longer.utf8.count) bytes: \(moved.stderr)")
        let greet = try TestSupport.run(longer + "/bin/greet", [])
        #expect(String(decoding: greet.stdout, as: UTF8.self).contains("data: \(longer)/share/envpack-demo/greeting.txt"),
                "\(String(decoding: greet.stdout, as: UTF8.self)) \(greet.stderr)")
    }
}

// MARK: Mutations

/// A small deterministic generator (SplitMix64): the same trials every run.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(1, n))) }
}

private let interesting = [
    "9223372036854775807", "9223372036854775806", "-9223372036854775808", "18446744073709551616", "-1", "0", "1",
    "4611686018427387904", "281474976710656", "281474976710655", "4294967296", "8288", "99999999999999999999",
    "-", "", "\\0", "\\x", "\\xZZ", "\\q", "../x", "../../x", "/etc/passwd", "a//b", "./a", "conda-meta/envpack/journal",
    "conda-meta/envpack/manifest.tsv", "1,2,3", "1:2:3", "8288:224:0", "8288:0:1", "0:9223372036854775807:1",
    "1411,1411,1411", "text", "binary", "elf,shebang", "RPATH", "\t", ",", ":", "\\t\\n", "ünï",
]

/// One to three mutations of a manifest: a field replaced by an edge value,
/// a number in a list changed, bytes flipped, lines deleted, duplicated or
/// swapped, the text cut short.
func mutateManifest(_ text: String, _ rng: inout SplitMix64) -> String {
    var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    for _ in 0...rng.below(3) {
        let i = rng.below(lines.count)
        switch rng.below(8) {
        case 0, 1, 2:
            var fields = lines[i].split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            let f = rng.below(fields.count + 1)
            let value = interesting[rng.below(interesting.count)]
            if f < fields.count { fields[f] = value } else { fields.append(value) }
            lines[i] = fields.joined(separator: "\t")
        case 3:
            // A number inside a comma or colon list.
            var fields = lines[i].split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard let f = fields.indices.filter({ fields[$0].first?.isNumber == true }).randomElement(using: &rng) else { break }
            var parts = fields[f].split(separator: ",").map(String.init)
            let p = rng.below(parts.count)
            var sub = parts[p].split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            sub[rng.below(sub.count)] = interesting[rng.below(12)]
            parts[p] = sub.joined(separator: ":")
            fields[f] = parts.joined(separator: ",")
            lines[i] = fields.joined(separator: "\t")
        case 4:
            var bytes = Array(lines[i].utf8)
            if !bytes.isEmpty { bytes[rng.below(bytes.count)] ^= UInt8(1 << rng.below(8)) }
            lines[i] = String(decoding: bytes, as: UTF8.self)
        case 5:
            lines.remove(at: i)
            if lines.isEmpty { lines = [""] }
        case 6:
            let j = rng.below(lines.count)
            if rng.below(2) == 0 { lines.insert(lines[i], at: j) } else { lines.swapAt(i, j) }
        default:
            let joined = lines.joined(separator: "\n")
            return String(joined.prefix(rng.below(joined.count + 1)))
        }
    }
    return lines.joined(separator: "\n")
}

extension SplitMix64: RandomNumberGenerator {}

/// One to four mutations of a JSON record: bytes flipped, cut short, a
/// number replaced by an edge value, a value's type changed.
func mutateJSON(_ data: Data, _ rng: inout SplitMix64) -> Data {
    var bytes = [UInt8](data)
    for _ in 0...rng.below(4) {
        guard !bytes.isEmpty else { break }
        let i = rng.below(bytes.count)
        switch rng.below(6) {
        case 0:
            bytes[i] ^= UInt8(1 << rng.below(8))
        case 1:
            bytes = Array(bytes.prefix(i))
        case 2:
            // Replace the number or string that starts at the next quote or digit.
            guard let start = bytes[i...].firstIndex(where: { $0 == 0x22 || (0x30...0x39).contains($0) }) else { break }
            var end = start + 1
            if bytes[start] == 0x22 {
                while end < bytes.count && bytes[end] != 0x22 { end += 1 }
                end = min(end + 1, bytes.count)
            } else {
                while end < bytes.count && (0x30...0x39).contains(bytes[end]) { end += 1 }
            }
            let values = ["1e400", "-1", "99999999999999999999999", "9223372036854775807", "null", "true", "[]", "{}",
                          "\"\"", "\"../../x\"", "\"/etc/passwd\"", "\"\\u0000\"", "\"\\ud800\"", "0.5", "-0"]
            bytes.replaceSubrange(start..<end, with: Array(values[rng.below(values.count)].utf8))
        case 3:
            bytes.insert(contentsOf: Array([",", "]", "}", "\"", ":", "[", "{"][rng.below(7)].utf8), at: i)
        case 4:
            bytes.remove(at: i)
        default:
            let j = rng.below(bytes.count)
            bytes.swapAt(i, j)
        }
    }
    return Data(bytes)
}
