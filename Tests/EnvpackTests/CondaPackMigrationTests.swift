// A user coming from conda-pack: `envpack unpack old.tar.gz DEST` of an
// archive conda-pack made must give a fully relocated environment (binary
// files, RPATHs and #! lines too, not conda-pack's `#!/usr/bin/env`), and a
// hostile conda-unpack record list must be refused before anything lands.
// conda-pack comes from PyPI into a throwaway venv, as bench/lib.sh does.
import EnvpackRelocation
import Foundation
import Testing
@testable import Envpack

enum CondaPackTool {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var cached: String? = nil

    /// `conda-pack` from PyPI in a venv made once per machine
    /// ($CONDA_PACK_VENV names an existing one). Fails, saying why, when
    /// PyPI cannot be reached: the test cannot run without it.
    static func executable() throws -> String {
        lock.lock(); defer { lock.unlock() }
        if let cached { return cached }
        if let venv = ProcessInfo.processInfo.environment["CONDA_PACK_VENV"],
           FileManager.default.isExecutableFile(atPath: venv + "/bin/conda-pack") {
            cached = venv + "/bin/conda-pack"
            return cached!
        }
        // One venv for every run on this machine (a venv cannot be moved, its
        // scripts name its path), made under a lock so two runs at once
        // never use a half-made one.
        let venv = FileManager.default.temporaryDirectory.appendingPathComponent("envpack-test-condapack-venv").path
        let make = """
        [ -x "$1/bin/conda-pack" ] && exit 0
        rm -rf "$1"
        python3 -m venv "$1" && "$1/bin/pip" install -q --disable-pip-version-check conda-pack && exit 0
        rm -rf "$1"; exit 1
        """
        let made = try TestSupport.run("/usr/bin/flock", [venv + ".lock", "/bin/sh", "-c", make, "sh", venv])
        try #require(made.status == 0, "SKIPPED FOR A REASON, NOT PASSED: conda-pack could not be installed from PyPI into a venv (is PyPI reachable?): \(made.stderr)")
        cached = venv + "/bin/conda-pack"
        return cached!
    }
}

@Suite(.serialized) struct CondaPackMigrationTests {
    @Test("envpack unpack of a conda-pack archive relocates it fully", arguments: ["demo", "python"])
    func unpackCondaPackArchive(env: String) throws {
        let condaPack = try CondaPackTool.executable()
        let source = try TestSupport.fixtureEnv(env)
        let work = try TestSupport.temporaryDirectory("cp-\(env)")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let archive = work + "/old.tar.gz"
        let packed = try TestSupport.run(condaPack, ["-p", source, "-o", archive, "-q", "--compress-level", "1"])
        try #require(packed.status == 0, "conda-pack failed: \(packed.stderr)")

        let dest = "/tmp/cp-\(UUID().uuidString.prefix(6))/env"
        defer { try? FileManager.default.removeItem(atPath: (dest as NSString).deletingLastPathComponent) }
        try FileManager.default.createDirectory(atPath: (dest as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let r = try TestSupport.envpack(["unpack", archive, dest])
        try #require(r.status == 0, "envpack unpack of a conda-pack archive failed: \(r.stderr)")
        #expect(r.stderr.contains("conda-pack archive"), "the summary says what kind of archive it was: \(r.stderr)")

        // A manifest now exists, so later moves need no --from.
        #expect(FileManager.default.fileExists(atPath: dest + "/" + Manifest.relativePath))
        try RelocationChecks.textFilesHoldNo([source], in: dest)
        _ = try RelocationChecks.rpathsStayInside(dest)

        // conda-pack's script is replaced by the helper, as in an envpack
        // archive, and the helper finds nothing left to fix.
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: dest + "/bin/conda-unpack")) == "envpack-unpack")
        let check = try TestSupport.run(dest + "/bin/envpack-unpack", ["--check"])
        #expect(check.status == 0, "envpack-unpack --check: \(String(decoding: check.stdout, as: UTF8.self)) \(check.stderr)")

        // No #!/usr/bin/env left where the environment has the program:
        // conda-pack's rewrite is undone, pointing at the environment itself.
        let firstLines: String
        switch env {
        case "demo":
            firstLines = """
            [ "$(head -n1 '\(dest)/bin/demo-script-arg')" = '#!\(dest)/bin/demo-interp --from-shebang' ] || { echo "demo-script-arg: $(head -n1 '\(dest)/bin/demo-script-arg')"; exit 1; }
            """
        default:
            firstLines = """
            [ "$(head -n1 '\(dest)/bin/envpack-hello')" = '#!\(dest)/bin/python3.12' ] || { echo "envpack-hello: $(head -n1 '\(dest)/bin/envpack-hello')"; exit 1; }
            """
        }
        let checks = RelocationIntegrationTests().programChecks(env: env, root: dest)
        let run = try runHidden(firstLines + "\n" + checks, hidden: [source, "/root/.pyenv", TestSupport.fixturesRoot])
        #expect(run.status == 0, "programs of the conda-pack archive unpacked at \(dest) failed (\(run.status)): \(String(decoding: run.stdout, as: UTF8.self)) \(run.stderr)")
    }

    /// A tar.gz holding bin/conda-unpack with `records` and the given files
    /// (name -> content; a content starting with "->" is a symlink).
    func craft(_ dir: String, records: String, files: [String: String]) throws -> String {
        let archive = dir + "/crafted.tar.gz"
        var py = """
        import io, tarfile, sys
        t = tarfile.open(sys.argv[1], 'w:gz')
        def add(name, data, mode=0o644):
            i = tarfile.TarInfo(name); i.size = len(data); i.mode = mode; t.addfile(i, io.BytesIO(data))
        def link(name, target):
            i = tarfile.TarInfo(name); i.type = tarfile.SYMTYPE; i.linkname = target; t.addfile(i)
        for d in ['bin', 'conda-meta', 'lib']:
            i = tarfile.TarInfo(d); i.type = tarfile.DIRTYPE; i.mode = 0o755; t.addfile(i)
        add('bin/conda-unpack', sys.argv[2].encode(), 0o755)

        """
        for (name, content) in files.sorted(by: { $0.key < $1.key }) {
            if content.hasPrefix("->") {
                py += "link(\(pyRepr(name)), \(pyRepr(String(content.dropFirst(2)))))\n"
            } else {
                py += "add(\(pyRepr(name)), \(pyRepr(content)).encode())\n"
            }
        }
        py += "t.close()\n"
        let script = "#!/usr/bin/env python\nimport os\n\n_prefix_records = [\n\(records)\n]\n\nif __name__ == '__main__':\n    pass\n"
        let made = try TestSupport.run("/usr/bin/python3", ["-c", py, archive, script])
        try #require(made.status == 0, "\(made.stderr)")
        return archive
    }

    func pyRepr(_ s: String) -> String { "'" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'").replacingOccurrences(of: "\n", with: "\\n") + "'" }

    @Test("hostile conda-unpack records are refused, naming the record, with nothing at DEST",
          arguments: [
            ("('../escape.txt', '/old/env', 'text')", "leaves the environment"),
            ("('/etc/passwd', '/old/env', 'text')", "absolute"),
            ("('lib/link/x.txt', '/old/env', 'text')", "symlink"),
            ("('lib/a.txt', '/old/env', 'python')", "neither text nor binary"),
            ("('lib/a.txt', 'relative', 'text')", "not an absolute path"),
            ("('lib/a.txt', '/old/env', 'text') + __import__('os').system('id')", "unexpected text"),
            ("('lib/missing.txt', '/old/env', 'text')", "not in the archive"),
          ])
    func hostileRecords(record: String, expected: String) throws {
        let work = try TestSupport.temporaryDirectory("cp-bad")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let archive = try craft(work, records: record, files: [
            "lib/a.txt": "prefix /old/env here\n",
            "lib/link": "->/etc",
        ])
        let dest = work + "/dest"
        let r = try TestSupport.envpack(["unpack", "-q", archive, dest])
        #expect(r.status != 0, "a hostile record was accepted: \(record)")
        #expect(r.stderr.contains(expected), "message for \(record): \(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1, "one line: \(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dest))
        let left = try FileManager.default.contentsOfDirectory(atPath: work).filter { $0 != "crafted.tar.gz" }
        #expect(left.isEmpty, "left behind: \(left)")
    }

    @Test("a crafted conda-pack archive is relocated from its records, escapes and all")
    func craftedRecordsRelocate() throws {
        let work = try TestSupport.temporaryDirectory("cp-ok")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let archive = try craft(work, records: """
            ('lib/a.txt', '/old/env', 'text'),
            ('lib/it\\'s \\xe9.txt', '/opt/anaconda1anaconda2anaconda3', 'text')
            """, files: [
            "lib/a.txt": "prefix /old/env here\n",
            "lib/it's é.txt": "placeholder /opt/anaconda1anaconda2anaconda3/lib\n",
        ])
        let dest = work + "/dest"
        let r = try TestSupport.envpack(["unpack", "-q", archive, dest])
        try #require(r.status == 0, "\(r.stderr)")
        #expect(try String(contentsOfFile: dest + "/lib/a.txt", encoding: .utf8) == "prefix \(dest) here\n")
        #expect(try String(contentsOfFile: dest + "/lib/it's é.txt", encoding: .utf8) == "placeholder \(dest)/lib\n")

        // inspect says what it is and what to do with it.
        let inspected = try TestSupport.envpack(["inspect", archive])
        #expect(inspected.status != 0)
        #expect(inspected.stderr.contains("a conda-pack archive") && inspected.stderr.contains("envpack unpack"), "\(inspected.stderr)")
    }

    @Test("an empty record list (nothing conda-pack left to fix) still gives a relocated environment")
    func emptyRecords() throws {
        let work = try TestSupport.temporaryDirectory("cp-empty")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let archive = try craft(work, records: "", files: ["lib/plain.txt": "no prefix here\n"])
        let dest = work + "/dest"
        let r = try TestSupport.envpack(["unpack", "-q", archive, dest])
        try #require(r.status == 0, "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: dest + "/lib/plain.txt"))
    }

    @Test("an archive of neither kind names the tar + envpack relocate way forward")
    func neitherKind() throws {
        let work = try TestSupport.temporaryDirectory("cp-none")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let made = try TestSupport.run("/usr/bin/python3", ["-c", "import tarfile,io,sys\nt=tarfile.open(sys.argv[1],'w:gz')\ni=tarfile.TarInfo('x.txt');i.size=1;t.addfile(i,io.BytesIO(b'x'))\nt.close()", work + "/n.tar.gz"])
        try #require(made.status == 0)
        let r = try TestSupport.envpack(["unpack", work + "/n.tar.gz", work + "/dest"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("envpack relocate DEST --from OLD-PREFIX"), "\(r.stderr)")
    }
}
