// Relocation limits (issue 8, items 8-11) and the helper's manners (issue 9,
// item 15), on an environment the tests build: a conda package installed at
// a short prefix P whose static library, object file, debug info and
// unmanaged cache hold P (not loaded at run time), a library whose RUNPATH
// names its build placeholder although its record calls it prefix-free,
// python modules that embed P with their bytecode, and scripts for an
// interpreter the environment lacks. Programs run where P does not exist.
import EnvpackRelocation
import Foundation
import Testing
@testable import Envpack

enum LimitFixture {
    static let buildPlaceholder = "/home/user/conda-bld/relolimit_1700000000000/_h_env_placehold_placehold_placehold_placehold"

    /// Builds the environment at `prefix` (which must not exist) with gcc,
    /// ar and the fixture python. Every file the record lists is described
    /// as conda describes it; conda-meta/history is written last, so pack's
    /// mtime clamp keeps every file's time (and so python's bytecode valid).
    static func build(_ prefix: String, work: String) throws {
        let python = try TestSupport.fixtureEnv("python") + "/bin/python3.12"
        let script = #"""
import hashlib, json, os, subprocess, sys
P, work, H, python = sys.argv[1:5]
def run(*args, cwd=None):
    subprocess.run(args, check=True, cwd=cwd)
def write(path, data, mode=0o644):
    full = os.path.join(P, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "wb") as f: f.write(data)
    os.chmod(full, mode)
for d in ["lib", "bin", "share/rl", "build", "conda-meta"]:
    os.makedirs(os.path.join(P, d), exist_ok=True)
src = os.path.join(work, "src"); os.makedirs(src, exist_ok=True)
def c(name, text):
    p = os.path.join(src, name)
    with open(p, "w") as f: f.write(text)
    return p
run("gcc", "-shared", "-fPIC", "-o", P + "/lib/libdep.so", c("dep.c", "int rl_dep(void) { return 41; }\n"))
# RUNPATH: the build placeholder (libdep is found only through it) and a
# system location that must be kept.
run("gcc", "-shared", "-fPIC", "-o", P + "/lib/libstale.so", c("stale.c", "int rl_dep(void);\nint rl_stale(void) { return rl_dep() + 1; }\n"),
    "-L" + P + "/lib", "-ldep", "-Wl,--enable-new-dtags,-rpath," + H + "/lib:/usr/local/cuda/lib64")
# A library whose only prefix is its RUNPATH.
run("gcc", "-shared", "-fPIC", "-o", P + "/lib/librp.so", c("rp.c", "int rl_rp(void) { return 7; }\n"),
    "-Wl,--enable-new-dtags,-rpath," + P + "/lib")
# The program: RUNPATH into P, P in its debug info (compiled in P/build).
run("gcc", "-g", "-o", P + "/bin/rlprog", c("main.c", "#include <stdio.h>\nint rl_stale(void);\nint main(void) { printf(\"stale %d\\n\", rl_stale()); return 0; }\n"),
    "-L" + P + "/lib", "-lstale", "-Wl,-rpath-link," + P + "/lib", "-Wl,--enable-new-dtags,-rpath," + P + "/lib", cwd=P + "/build")
# A static library of an object holding P in .rodata, and the object.
run("gcc", "-c", "-o", P + "/lib/rl.o", c("rl.c", "const char rl_data_path[] = \"" + P + "/share/rl/data\";\n"))
run("ar", "rcsD", P + "/lib/librl.a", P + "/lib/rl.o")
os.rmdir(P + "/build")
# Unmanaged binary data holding P.
write("share/rl/cache.bin", b"\x00\x01RLCACHE\x00" + (P + "/share/rl/data").encode() + b"\x00\x00" + P.encode() + b"\x00")
# Scripts for an interpreter the environment lacks.
write("bin/c_rehash", ("#!" + P + "/bin/perl\nprint \"rehash ok\\n\";\n").encode(), 0o755)
write("bin/perl-arg", ("#!" + P + "/bin/perl -w\nprint \"arg ok\\n\";\n").encode(), 0o755)
# Python modules embedding P, with their bytecode (timestamp and unchecked hash).
write("lib/rlmod.py", ("PREFIX = \"" + P + "\"\n").encode())
write("lib/rlhash.py", ("PREFIX = \"" + P + "\"\n").encode())
run(python, "-m", "py_compile", P + "/lib/rlmod.py")
run(python, "-c", "import py_compile as p; p.compile('" + P + "/lib/rlhash.py', invalidation_mode=p.PycInvalidationMode.UNCHECKED_HASH)")
binary = {"bin/rlprog", "lib/rl.o", "lib/librl.a", "lib/librp.so"}
text = {"bin/c_rehash", "bin/perl-arg", "lib/rlmod.py", "lib/rlhash.py"}
files = sorted(binary | text | {"lib/libdep.so", "lib/libstale.so"})
paths = []
for f in files:
    data = open(os.path.join(P, f), "rb").read()
    h = hashlib.sha256(data).hexdigest()
    e = {"_path": f, "path_type": "hardlink", "sha256": h, "sha256_in_prefix": h, "size_in_bytes": len(data)}
    if f in binary or f in text:
        e["prefix_placeholder"] = P
        e["file_mode"] = "binary" if f in binary else "text"
    paths.append(e)
record = {"name": "relolimit", "version": "1.0", "build": "h0_0", "build_number": 0, "channel": "local",
          "subdir": "linux-64", "fn": "relolimit-1.0-h0_0.tar.bz2", "depends": [], "files": files,
          "paths_data": {"paths_version": 1, "paths": paths}}
with open(P + "/conda-meta/relolimit-1.0-h0_0.json", "w") as f: json.dump(record, f)
with open(P + "/conda-meta/history", "w") as f: f.write("==> 2024-01-01 00:00:00 <==\n# cmd: test\n+local::relolimit-1.0-h0_0\n")
"""#
        let file = work + "/build-env.py"
        try script.write(toFile: file, atomically: true, encoding: .utf8)
        let r = try TestSupport.run("/usr/bin/python3", [file, prefix, work, buildPlaceholder, python])
        try #require(r.status == 0, "building the test environment failed: \(r.stderr)")
    }

    /// A fresh work folder and a prefix inside it of a fixed length.
    static func setUp(_ label: String) throws -> (work: String, prefix: String) {
        let work = "/tmp/rl\(label)-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let prefix = work + "/env"
        try build(prefix, work: work)
        return (work, prefix)
    }

    static func pack(_ prefix: String, _ archive: String) throws {
        let r = try TestSupport.envpack(["pack", "-q", "-p", prefix, "-o", archive])
        try #require(r.status == 0, "pack: \(r.stderr)")
    }

    static func text(_ r: TestSupport.Result) -> String { String(decoding: r.stdout, as: UTF8.self) }

    /// Inode and mtime of every regular file under `root`.
    static func identities(_ root: String) throws -> [String: String] {
        var result: [String: String] = [:]
        for e in try EnvironmentTree.walk(prefix: root) where e.status.kind == .regular {
            var st = stat()
            guard lstat(root + "/" + e.path, &st) == 0 else { continue }
            result[e.path] = "\(st.st_ino):\(st.st_mtim.tv_sec):\(st.st_mtim.tv_nsec)"
        }
        return result
    }
}

@Suite(.serialized) struct RelocationLimitTests {
    /// Item 8 (and 9): the static library, object file, debug info and
    /// unmanaged cache hold a short prefix; the environment still moves to
    /// a path of 150+ characters, where they are left and listed, and the
    /// programs run with the old prefix hidden.
    @Test func dataNotLoadedAtRunTimeDoesNotCapTheDestination() throws {
        let (work, prefix) = try LimitFixture.setUp("8")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let archive = work + "/env.tar.zst"
        try LimitFixture.pack(prefix, archive)

        // inspect: no limit from them, and they are named.
        let inspect = try TestSupport.envpack(["inspect", archive])
        let shown = LimitFixture.text(inspect)
        #expect(inspect.status == 0, "\(inspect.stderr)")
        #expect(shown.contains("no limit"), "\(shown)")
        for path in ["lib/librl.a", "lib/rl.o", "share/rl/cache.bin", "bin/rlprog"] {
            #expect(shown.contains(path), "inspect does not name \(path) as not loaded: \(shown)")
        }
        #expect(shown.contains("left (not loaded at run time)"), "\(shown)")

        let long = RelocationChecks.longPath(160, tag: "r8")
        let top = "/" + long.split(separator: "/").prefix(2).joined(separator: "/")
        defer { try? FileManager.default.removeItem(atPath: top) }
        try FileManager.default.createDirectory(atPath: (long as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let unpack = try TestSupport.envpack(["unpack", "-q", archive, long])
        try #require(unpack.status == 0, "unpack to \(long.utf8.count) bytes: \(unpack.stderr)")
        let warnings = unpack.stderr.components(separatedBy: "\n").filter { $0.contains("not loaded at run time") }
        #expect(warnings.count == 1, "one warning expected: \(unpack.stderr)")

        let check = try TestSupport.run(long + "/bin/envpack-unpack", ["--check"])
        let report = LimitFixture.text(check)
        #expect(check.status == 0, "--check: \(report)")
        for path in ["lib/librl.a", "lib/rl.o", "share/rl/cache.bin"] {
            #expect(report.contains("\(path): ") && report.components(separatedBy: "\n").contains {
                $0.hasPrefix(path + ":") && $0.hasSuffix("left (not loaded at run time)")
            }, "--check does not list \(path) as left: \(report)")
        }
        // The left strings are as they were (too long to fit).
        let archiveBytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: long + "/lib/librl.a")))
        #expect(archiveBytes.withUnsafeBytes { occurrences(of: Array(prefix.utf8), in: $0) }.count == 1)

        // Item 9: the build placeholder is gone from the prefix-free
        // library's RUNPATH; the system location stays.
        let info = try #require(try readELFInfo(path: long + "/lib/libstale.so"))
        let runpath = info.rpaths.map(\.value).joined(separator: ":")
        #expect(!runpath.contains("_h_env") && !runpath.contains("conda-bld"), "RUNPATH still names the build placeholder: \(runpath)")
        #expect(runpath.split(separator: ":").contains("/usr/local/cuda/lib64"), "system entry dropped: \(runpath)")
        #expect(runpath.split(separator: ":").contains("$ORIGIN"), "\(runpath)")

        // The program loads libstale, which finds libdep only through its RUNPATH.
        let r = try runHidden("out=$(\"\(long)/bin/rlprog\"); [ \"$out\" = \"stale 42\" ] || { echo \"got: $out\"; exit 1; }",
                              hidden: [prefix])
        #expect(r.status == 0, "\(LimitFixture.text(r)) \(r.stderr)")
    }

    /// Item 8: a loaded occurrence that cannot fit still refuses, and
    /// inspect names the file that sets the limit.
    @Test func aLoadedOccurrenceStillRefusesAndInspectNamesIt() throws {
        let (work, prefix) = try LimitFixture.setUp("8b")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let source = work + "/loaded.c"
        // Data right after the string's NUL: no padding room to grow into.
        try "const char rl_loaded[] = \"\(prefix)/share/rl/data\\0xyzxyzxyz\";\n".write(toFile: source, atomically: true, encoding: .utf8)
        let gcc = try TestSupport.run("/usr/bin/gcc", ["-shared", "-fPIC", "-o", prefix + "/lib/libloaded.so", source])
        try #require(gcc.status == 0, "\(gcc.stderr)")
        let archive = work + "/env.tar.zst"
        try LimitFixture.pack(prefix, archive)
        let shown = LimitFixture.text(try TestSupport.envpack(["inspect", archive]))
        #expect(shown.contains("\(prefix.utf8.count) bytes") && shown.contains("set by:         lib/libloaded.so\n"), "\(shown)")
        let long = RelocationChecks.longPath(160, tag: "r8b")
        let top = "/" + long.split(separator: "/").prefix(2).joined(separator: "/")
        defer { try? FileManager.default.removeItem(atPath: top) }
        try FileManager.default.createDirectory(atPath: (long as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let unpack = try TestSupport.envpack(["unpack", "-q", archive, long])
        #expect(unpack.status != 0)
        #expect(unpack.stderr.contains("lib/libloaded.so") && !unpack.stderr.contains("librl.a"), "\(unpack.stderr)")
        #expect(!FileManager.default.fileExists(atPath: long))
    }

    /// Item 10: after a move to a path of the same length, a module that
    /// embeds its prefix imports with the new prefix: its bytecode
    /// (timestamp-based and unchecked hash-based) did not survive.
    @Test func bytecodeDoesNotSurviveARewrittenSource() throws {
        let (work, prefix) = try LimitFixture.setUp("10")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let archive = work + "/env.tar.zst"
        try LimitFixture.pack(prefix, archive)
        let moved = work + "/mov"
        try #require(moved.utf8.count == prefix.utf8.count)
        let unpack = try TestSupport.envpack(["unpack", "-q", archive, moved])
        try #require(unpack.status == 0, "\(unpack.stderr)")
        #expect(!FileManager.default.fileExists(atPath: moved + "/lib/__pycache__/rlmod.cpython-312.pyc"))
        let python = try TestSupport.fixtureEnv("python") + "/bin/python3.12"
        let r = try TestSupport.run(python, ["-c", "import sys; sys.path.insert(0, '\(moved)/lib'); import rlmod, rlhash; print(rlmod.PREFIX); print(rlhash.PREFIX)"])
        #expect(LimitFixture.text(r) == "\(moved)\n\(moved)\n", "imported: \(LimitFixture.text(r)) \(r.stderr)")
    }

    /// Item 10 through `pack --dest-prefix` to a path of the same length:
    /// the archive does not carry the bytecode of the sources it rewrote.
    @Test func bytecodeDoesNotSurviveDestPrefix() throws {
        let (work, prefix) = try LimitFixture.setUp("10d")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let dest = work + "/dst"
        try #require(dest.utf8.count == prefix.utf8.count)
        let packed = try TestSupport.envpack(["pack", "-q", "-p", prefix, "--dest-prefix", dest, "-o", work + "/d.tar.zst"])
        try #require(packed.status == 0, "\(packed.stderr)")
        try FileManager.default.createDirectory(atPath: dest, withIntermediateDirectories: true)
        try #require(try TestSupport.run("/usr/bin/tar", ["--zstd", "-xf", work + "/d.tar.zst", "-C", dest]).status == 0)
        let python = try TestSupport.fixtureEnv("python") + "/bin/python3.12"
        let r = try TestSupport.run(python, ["-c", "import sys; sys.path.insert(0, '\(dest)/lib'); import rlmod, rlhash; print(rlmod.PREFIX); print(rlhash.PREFIX)"])
        #expect(LimitFixture.text(r) == "\(dest)\n\(dest)\n", "imported: \(LimitFixture.text(r)) \(r.stderr)")
    }

    /// Item 11: a script whose interpreter the environment lacks runs
    /// through `/usr/bin/env NAME`, at a long destination and a short one.
    @Test func shebangForAnInterpreterTheEnvironmentLacks() throws {
        let (work, prefix) = try LimitFixture.setUp("11")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let archive = work + "/env.tar.zst"
        try LimitFixture.pack(prefix, archive)
        let long = RelocationChecks.longPath(160, tag: "r11")
        let top = "/" + long.split(separator: "/").prefix(2).joined(separator: "/")
        defer { try? FileManager.default.removeItem(atPath: top) }
        try FileManager.default.createDirectory(atPath: (long as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        for dest in [long, work + "/short"] {
            let unpack = try TestSupport.envpack(["unpack", "-q", archive, dest])
            try #require(unpack.status == 0, "\(unpack.stderr)")
            let first = try String(contentsOfFile: dest + "/bin/c_rehash", encoding: .utf8).components(separatedBy: "\n")[0]
            #expect(first == "#!/usr/bin/env perl", "\(first)")
            let r = try runHidden("[ \"$(\"\(dest)/bin/c_rehash\")\" = 'rehash ok' ] && [ \"$(\"\(dest)/bin/perl-arg\")\" = 'arg ok' ]",
                                  hidden: [prefix])
            #expect(r.status == 0, "\(dest): \(LimitFixture.text(r)) \(r.stderr)")
        }
    }

    /// What items 8, 9 and 11 changed (left strings, an RPATH rewritten in
    /// a file its record calls prefix-free, `#!/usr/bin/env` lines) does not
    /// stop the relocated environment from packing again (issue 8 item 3),
    /// and the next hop runs with every earlier path hidden.
    @Test func relocatedEnvironmentPacksAgain() throws {
        let (work, prefix) = try LimitFixture.setUp("8h")
        defer { try? FileManager.default.removeItem(atPath: work) }
        try LimitFixture.pack(prefix, work + "/a.tar.zst")
        let long = RelocationChecks.longPath(160, tag: "r8h")
        let top = "/" + long.split(separator: "/").prefix(2).joined(separator: "/")
        defer { try? FileManager.default.removeItem(atPath: top) }
        try FileManager.default.createDirectory(atPath: (long as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let u1 = try TestSupport.envpack(["unpack", "-q", work + "/a.tar.zst", long])
        try #require(u1.status == 0, "\(u1.stderr)")
        let again = try TestSupport.envpack(["pack", "-q", "-p", long, "-o", work + "/b.tar.zst"])
        try #require(again.status == 0, "packing the relocated environment: \(again.stderr)")
        let next = work + "/hop2"
        let u2 = try TestSupport.envpack(["unpack", "-q", work + "/b.tar.zst", next])
        try #require(u2.status == 0, "\(u2.stderr)")
        let r = try runHidden("""
            [ "$("\(next)/bin/rlprog")" = "stale 42" ]
            [ "$("\(next)/bin/c_rehash")" = "rehash ok" ]
            """, hidden: [prefix, long])
        #expect(r.status == 0, "\(LimitFixture.text(r)) \(r.stderr)")
        let check = try TestSupport.run(next + "/bin/envpack-unpack", ["--check"])
        #expect(check.status == 0, "\(LimitFixture.text(check))")
    }

    /// Issue 9 item 15 on the real conda-forge set: files whose only prefix
    /// was an RPATH entry (libtk8.6.so) kept a stale manifest entry, and
    /// every later run rewrote them without a change.
    @Test func helperRunAgainOnCondaForgeChangesNothing() throws {
        let source = try TestSupport.fixtureEnv("conda-forge")
        let work = try TestSupport.temporaryDirectory("r15cf")
        defer { try? FileManager.default.removeItem(atPath: work) }
        try LimitFixture.pack(source, work + "/cf.tar.zst")
        let dest = work + "/env"
        try FileManager.default.createDirectory(atPath: dest, withIntermediateDirectories: true)
        try #require(try TestSupport.run("/usr/bin/tar", ["--zstd", "-xf", work + "/cf.tar.zst", "-C", dest]).status == 0)
        let first = try TestSupport.run(dest + "/bin/envpack-unpack", [])
        try #require(first.status == 0, "\(first.stderr)")
        let before = try LimitFixture.identities(dest)
        let again = try TestSupport.run(dest + "/bin/envpack-unpack", ["-v"])
        #expect(LimitFixture.text(again) == "already relocated to \(dest)\n", "\(LimitFixture.text(again))")
        #expect(try LimitFixture.identities(dest) == before, "files were rewritten")
    }

    /// Issue 9 item 15: the built static helper, run again on an
    /// environment it relocated, changes nothing and says so; --dry-run
    /// lists files only with -v; --help names every flag; run outside an
    /// environment it says so.
    @Test func helperRunAgainChangesNothing() throws {
        let (work, prefix) = try LimitFixture.setUp("15")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let archive = work + "/env.tar.zst"
        try LimitFixture.pack(prefix, archive)
        let dest = work + "/d"
        try FileManager.default.createDirectory(atPath: dest, withIntermediateDirectories: true)
        try #require(try TestSupport.run("/usr/bin/tar", ["--zstd", "-xf", archive, "-C", dest]).status == 0)
        let helper = dest + "/bin/envpack-unpack"
        #expect(isStaticExecutable(path: helper))

        let dry = try TestSupport.run(helper, ["--dry-run"])
        #expect(dry.status == 0 && !LimitFixture.text(dry).contains("would relocate "), "\(LimitFixture.text(dry))")
        let dryVerbose = try TestSupport.run(helper, ["--dry-run", "-v"])
        // (lib/librp.so's RPATH was made `$ORIGIN`-relative at pack time:
        // nothing is left in it to relocate.)
        #expect(LimitFixture.text(dryVerbose).contains("would relocate bin/rlprog"), "\(LimitFixture.text(dryVerbose))")

        let first = try TestSupport.run(helper, [])
        try #require(first.status == 0, "\(first.stderr)")
        let before = try LimitFixture.identities(dest)
        let manifest = try String(contentsOfFile: dest + "/" + Manifest.relativePath, encoding: .utf8)
        let again = try TestSupport.run(helper, [])
        #expect(again.status == 0)
        #expect(LimitFixture.text(again) == "already relocated to \(dest)\n", "\(LimitFixture.text(again))")
        #expect(try LimitFixture.identities(dest) == before, "files were rewritten")
        #expect(try String(contentsOfFile: dest + "/" + Manifest.relativePath, encoding: .utf8) == manifest)

        let help = LimitFixture.text(try TestSupport.run(helper, ["--help"]))
        for flag in ["--dry-run", "-n,", "-v,", "--verbose", "--check", "--manifest", "--version", "-h,", "--help"] {
            #expect(help.contains(flag), "--help does not mention \(flag)")
        }

        let elsewhere = work + "/not-an-env/bin"
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: helper, toPath: elsewhere + "/envpack-unpack")
        let lost = try TestSupport.run(elsewhere + "/envpack-unpack", [])
        #expect(lost.status != 0)
        #expect(lost.stderr.contains("\(work)/not-an-env is not a conda environment"), "\(lost.stderr)")
    }
}
