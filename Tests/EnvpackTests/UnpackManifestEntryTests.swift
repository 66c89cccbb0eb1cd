// `envpack unpack` looks at the manifest and the relocation journal of an
// archive it extracted without following symlinks: an archive that carries
// `conda-meta/envpack/journal` (a half-relocated environment, or a crafted
// one) is refused, naming the entry, and so is a manifest that is a symlink
// or is reached through one (a symlinked top folder or conda-meta) — the
// environment the symlink points to, outside DEST, is left exactly as it
// was. Archives are crafted here with python's tarfile.
import Foundation
import Testing
@testable import Envpack

@Suite struct UnpackManifestEntryTests {
    /// The demo environment packed as a plain tar.
    static func packDemo(_ dir: String) throws -> (archive: String, prefix: String) {
        let env = try TestSupport.fixtureEnv("demo")
        let archive = dir + "/demo.tar"
        let r = try TestSupport.envpack(["pack", "-q", "-p", env, "-o", archive])
        try #require(r.status == 0, "pack: \(r.stderr)")
        return (archive, env)
    }

    /// Copies `archive` to `output`: `edit` is python run for each member
    /// `m` (with its `data`); setting `skip = True` drops it. `extra` adds
    /// entries with add(name, data, **TarInfo fields).
    static func craft(_ archive: String, _ output: String, edit: String = "", extra: String = "") throws {
        let script = """
        import io, sys, tarfile
        inp = tarfile.open(sys.argv[1]); out = tarfile.open(sys.argv[2], "w", format=tarfile.PAX_FORMAT)
        def add(name, data=b"x", **kw):
            info = tarfile.TarInfo(name); info.size = len(data); info.mode = 0o644
            for k, v in kw.items(): setattr(info, k, v)
            out.addfile(info, io.BytesIO(data) if info.type in (tarfile.REGTYPE, tarfile.AREGTYPE) else None)
        for m in inp.getmembers():
            data = inp.extractfile(m).read() if m.isreg() else None
            name = m.name[2:] if m.name.startswith("./") else m.name
            skip = False
        \(edit.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
            if not skip: out.addfile(m, io.BytesIO(data) if data is not None else None)
        \(extra)
        out.close()
        """
        let r = try TestSupport.run("/usr/bin/python3", ["-c", script, archive, output])
        try #require(r.status == 0, "python: \(r.stderr)")
    }

    /// The edit that puts every entry (and hardlink target) below env/.
    /// (A pax header's path would override the new name: tarfile writes a
    /// fresh one when the name needs it.)
    static let underEnv = """
        m.pax_headers.pop('path', None); m.pax_headers.pop('linkpath', None)
        m.name = 'env/' + name
        if m.islnk(): m.linkname = 'env/' + m.linkname.removeprefix('./')
        """

    /// Unpacks `archive` into `dir/dest`, expecting a one-line refusal that
    /// holds every string of `expected`, no DEST and no staging folder left.
    static func expectRefused(_ archive: String, dir: String, _ expected: [String],
                              sourceLocation: SourceLocation = #_sourceLocation) throws {
        let before = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        let r = try TestSupport.envpack(["unpack", "-q", archive, dir + "/dest"])
        #expect(r.status != 0, "unpacked \(archive)", sourceLocation: sourceLocation)
        #expect(expected.allSatisfy(r.stderr.contains), "\(archive): \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderr.split(separator: "\n").count == 1, "not one line: \(r.stderr)", sourceLocation: sourceLocation)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == before, "left behind", sourceLocation: sourceLocation)
    }

    /// A journal in the archive, at the top or below an arcroot, as a file
    /// that would steer the relocation (its `to` is DEST) or as a symlink:
    /// refused at unpack time, naming the entry. The same archive without
    /// it unpacks.
    @Test func archivedJournalIsRefused() throws {
        let dir = try TestSupport.temporaryDirectory("journal")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (archive, prefix) = try Self.packDemo(dir)
        let journal = "envpack-journal\\t1\\nfrom\\t\(prefix)\\nto\\t\(dir)/dest\\n"
        try Self.craft(archive, dir + "/file.tar", extra: "add('conda-meta/envpack/journal', b'\(journal)')")
        try Self.expectRefused(dir + "/file.tar", dir: dir, ["conda-meta/envpack/journal", "journal"])
        try Self.craft(archive, dir + "/link.tar",
                       extra: "add('conda-meta/envpack/journal', type=tarfile.SYMTYPE, linkname='/etc/passwd')")
        try Self.expectRefused(dir + "/link.tar", dir: dir, ["conda-meta/envpack/journal"])
        try Self.craft(archive, dir + "/arcroot.tar", edit: Self.underEnv,
                       extra: "add('env/conda-meta/envpack/journal', b'\(journal)')")
        try Self.expectRefused(dir + "/arcroot.tar", dir: dir, ["env/conda-meta/envpack/journal"])

        try Self.craft(archive, dir + "/plain.tar", edit: Self.underEnv)
        let ok = try TestSupport.envpack(["unpack", "-q", dir + "/plain.tar", dir + "/dest"])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(FileManager.default.fileExists(atPath: dir + "/dest/env/conda-meta/envpack/manifest.tsv"))
    }

    /// The manifest as a symlink (to a regular manifest inside the archive),
    /// and the manifest reached through a symlinked top folder or
    /// conda-meta that point to a real environment outside DEST: each is
    /// refused naming the symlink, and the outside environment keeps every
    /// entry, content and inode.
    @Test func symlinkedManifestIsRefused() throws {
        let dir = try TestSupport.temporaryDirectory("manifestlink")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (archive, _) = try Self.packDemo(dir)
        try Self.craft(archive, dir + "/link.tar", edit: """
            if name == "conda-meta/envpack/manifest.tsv":
                m.name = "conda-meta/envpack/manifest.real"
                out.addfile(m, io.BytesIO(data)); skip = True
            """, extra: "add('conda-meta/envpack/manifest.tsv', type=tarfile.SYMTYPE, linkname='manifest.real')")
        try Self.expectRefused(dir + "/link.tar", dir: dir, ["conda-meta/envpack/manifest.tsv", "symlink"])

        // A real environment outside DEST, as a plain tar -x leaves it.
        let outside = dir + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        let x = try TestSupport.run("/usr/bin/tar", ["-xf", archive, "-C", outside])
        try #require(x.status == 0, "tar: \(x.stderr)")
        let snapshot = try SafetySupport.snapshot(outside)

        try Self.craft(archive, dir + "/top.tar", edit: "skip = True",
                       extra: "add('env', type=tarfile.SYMTYPE, linkname='\(outside)')")
        try Self.expectRefused(dir + "/top.tar", dir: dir, ["entry env", "symlink"])
        try Self.craft(archive, dir + "/meta.tar", edit: "skip = name == 'conda-meta' or name.startswith('conda-meta/')",
                       extra: "add('conda-meta', type=tarfile.SYMTYPE, linkname='\(outside)/conda-meta')")
        try Self.expectRefused(dir + "/meta.tar", dir: dir, ["entry conda-meta", "symlink"])
        let changes = SafetySupport.differences(snapshot, try SafetySupport.snapshot(outside))
        #expect(changes.isEmpty, "\(changes.prefix(5))")
    }
}
