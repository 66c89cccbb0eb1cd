// Issue 10 part 1: an archive's content runs wherever it is extracted, with
// no unpack step (Spark and YARN never run one). Packed as tar.gz, extracted
// with plain `tar -xzf` into a new path while the old prefix is hidden:
// ELF programs find the environment's libraries through `$ORIGIN`, python
// loads its own libpython, and python scripts (one with a docstring and
// `from __future__` imports, one with a coding line) run through their
// launchers. Then the helper completes the move, and the result packs again.
import EnvpackRelocation
import Foundation
import Testing
@testable import Envpack

enum Portable {
    static let python = "python-3.12.1-h0_envpack.conda"
    static let hello = "envpack-hello-1.0-pyh0_envpack.tar.bz2"
    static let demo = "envpack-demo-1.0-h0_envpack.conda"

    /// Left out of the archives to keep the test fast (CPython's static
    /// library, pip, IDLE: ~85 of 184 MB); nothing the checks run.
    static let smaller = ["--exclude", "lib/python3.12/config-3.12-*", "--exclude", "lib/python3.12/site-packages/pip/*",
                          "--exclude", "lib/python3.12/idlelib/*"]

    /// A python script with its own docstring and a `from __future__`
    /// import: both must survive the launcher (`__doc__` still holds the
    /// docstring, and the import is still the first statement).
    static func docScript(_ prefix: String) -> String {
        """
        #!\(prefix)/bin/python3.12
        # -*- coding: utf-8 -*-
        \"\"\"doc-tool: prints where it runs.\"\"\"
        from __future__ import annotations
        import sys
        def f(x: NotDefinedAnywhere) -> None: pass
        assert __doc__ is not None and __doc__.endswith("doc-tool: prints where it runs."), __doc__
        print("doc-tool", sys.executable, sys.prefix)

        """
    }

    /// A script whose first statement is a `from __future__` import.
    static func futureScript(_ prefix: String) -> String {
        "#!\(prefix)/bin/python3.12 -E\nfrom __future__ import annotations\nimport sys\nprint('future-tool', sys.executable, sys.flags.ignore_environment)\n"
    }

    /// The checks run in the new place, as a shell script: every program
    /// must run and name only `new`.
    static func checks(new: String, helperDone: Bool) -> String {
        """
        set -e
        export PATH=/usr/bin:/bin
        unset PYTHONHOME PYTHONPATH LD_LIBRARY_PATH
        cd /
        out=$("\(new)/bin/greet-runpath" || true)
        echo "$out" | grep -x 'library: \(new)/bin/../lib/libgreet.so.1' >/dev/null || { echo "greet-runpath: $out"; exit 1; }
        out=$("\(new)/bin/greet" || true)
        echo "$out" | grep -x 'library: \(new)/bin/../lib/libgreet.so.1' >/dev/null || { echo "greet: $out"; exit 1; }
        \(helperDone ? "\"\(new)/bin/greet\" | grep -x 'greeting: Hello from envpack-demo!' >/dev/null || { echo 'greet after the helper'; exit 1; }" : "")
        out=$("\(new)/bin/python3.12" -c 'import sys, _ctypes, _sqlite3
        maps = {l.split()[-1] for l in open("/proc/self/maps") if "libpython" in l}
        print(sys.executable, sys.prefix, *sorted(maps))')
        [ "$out" = "\(new)/bin/python3.12 \(new) \(new)/lib/libpython3.12.so.1.0" ] || { echo "python: $out"; exit 1; }
        LD_DEBUG=libs "\(new)/bin/python3.12" -c pass 2>&1 | grep -q 'calling init: \(new)/bin/../lib/libpython3.12.so.1.0' || { echo "LD_DEBUG: libpython not from \(new)"; exit 1; }
        out=$("\(new)/bin/doc-tool")
        [ "$out" = "doc-tool \(new)/bin/python3.12 \(new)" ] || { echo "doc-tool: $out"; exit 1; }
        out=$("\(new)/bin/future-tool")
        [ "$out" = "future-tool \(new)/bin/python3.12 1" ] || { echo "future-tool: $out"; exit 1; }
        "\(new)/bin/envpack-hello" | grep -x 'sys.executable: \(new)/bin/python3.12' >/dev/null || { echo "envpack-hello"; exit 1; }
        # Through a symlink from elsewhere, and by a relative path.
        ln -sf "\(new)/bin/envpack-hello" /tmp/envpack-portable-link-$$
        /tmp/envpack-portable-link-$$ | grep -x 'sys.prefix: \(new)' >/dev/null || { echo "through a symlink"; exit 1; }
        rm -f /tmp/envpack-portable-link-$$
        cd "\(new)/.." && "./\(lastComponent(new))/bin/envpack-hello" | grep -x 'sys.prefix: \(new)' >/dev/null || { echo "relative path"; exit 1; }
        echo checks-passed
        """
    }

    /// Runs `script` with `hidden` covered by an empty tmpfs (in a mount
    /// namespace of its own).
    static func runHidden(_ hidden: String, _ script: String) throws -> (status: Int32, stdout: String, stderr: String) {
        let r = try TestSupport.run("/usr/bin/unshare", ["-m", "--propagation", "private", "/bin/sh", "-c",
                                                         "mount -t tmpfs none '\(hidden)' || exit 9\n" + script])
        return (r.status, String(decoding: r.stdout, as: UTF8.self), r.stderr)
    }
}

@Suite struct PortableArchiveTests {
    @Test func tarGzRunsAsExtractedThenTheHelperCompletesTheMove() throws {
        let dir = try TestSupport.temporaryDirectory("portable")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let env = dir + "/old/env"
        try Honesty.mkenv(env, try [Portable.python, Portable.hello, Portable.demo].map(Honesty.fixturePackage))
        for (name, text) in [("doc-tool", Portable.docScript(env)), ("future-tool", Portable.futureScript(env))] {
            try text.write(toFile: env + "/bin/" + name, atomically: false, encoding: .utf8)
            chmod(env + "/bin/" + name, 0o755)
        }
        // The environment works where it is (the scripts are right).
        let here = try TestSupport.run(env + "/bin/doc-tool", [])
        try #require(here.status == 0, "\(here.stderr)")

        let archive = dir + "/env.tar.gz"
        let packed = try TestSupport.envpack(["pack", "-q", "-p", env, "-o", archive] + Portable.smaller)
        try #require(packed.status == 0, "\(packed.stderr)")
        let inspect = try TestSupport.envpack(["inspect", archive])
        let report = String(decoding: inspect.stdout, as: UTF8.self)
        #expect(report.contains("runs as extracted: ") && report.contains("needs the helper: "), "\(report)")

        // Extracted by hand (as Spark and YARN do) into a new, longer path.
        let new = dir + "/executor-work/app-0001/0/environment"
        try FileManager.default.createDirectory(atPath: new, withIntermediateDirectories: true)
        try #require(try TestSupport.run("/usr/bin/tar", ["-xzf", archive, "-C", new]).status == 0)
        let first = try Portable.runHidden(dir + "/old", Portable.checks(new: new, helperDone: false))
        #expect(first.status == 0 && first.stdout.contains("checks-passed"),
                "without the helper: \(first.stdout) \(first.stderr)")

        // The helper completes the move (binary and text prefixes), and
        // the programs still run; the old prefix stays hidden.
        let helper = try Portable.runHidden(dir + "/old", "\"\(new)/bin/envpack-unpack\"\n" + Portable.checks(new: new, helperDone: true))
        #expect(helper.status == 0 && helper.stdout.contains("checks-passed"), "after the helper: \(helper.stdout) \(helper.stderr)")

        // Packed again from there (the launchers are checked against the
        // packages as the lines they replaced), extracted once more: it
        // runs as extracted again, and the helper completes that move too.
        let again = dir + "/again.tar.gz"
        let repack = try TestSupport.envpack(["pack", "-q", "-p", new, "-o", again] + Portable.smaller)
        try #require(repack.status == 0, "\(repack.stderr)")
        let third = dir + "/third/environment"
        try FileManager.default.createDirectory(atPath: third, withIntermediateDirectories: true)
        try #require(try TestSupport.run("/usr/bin/tar", ["-xzf", again, "-C", third]).status == 0)
        let hide = "mount -t tmpfs none '\(dir)/executor-work' || exit 9\n"
        let thirdRun = try Portable.runHidden(dir + "/old", hide + Portable.checks(new: third, helperDone: false)
                                              + "\n\"\(third)/bin/envpack-unpack\"\n" + Portable.checks(new: third, helperDone: true))
        #expect(thirdRun.status == 0 && thirdRun.stdout.components(separatedBy: "checks-passed").count == 3, "third place: \(thirdRun.stdout) \(thirdRun.stderr)")
    }
}
