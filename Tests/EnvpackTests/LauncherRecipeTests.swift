// The README's `run-python.sh` launcher (Spark and YARN section), run as
// written: copied out of README.md, next to a tar.gz extracted by plain
// tar into a writable `environment` folder (as Spark's standalone and
// local modes leave it), with the packed prefix hidden and PATH=/usr/bin:/bin.
// Four launchers start at once: the helper's own lock lets one of them
// complete the move (text and binary prefixes: greet finds its
// configuration only after it), the others wait, every python names the new
// prefix, and a later launch runs the helper as a no-op.
import Foundation
import Testing
@testable import Envpack

@Suite struct LauncherRecipeTests {
    /// The launcher block of README.md, as it is printed there.
    static func readmeLauncher() throws -> String {
        let readme = try String(contentsOfFile: TestSupport.packageRoot.appendingPathComponent("README.md").path, encoding: .utf8)
        let start = try #require(readme.range(of: "```sh\n#!/bin/sh\n# run-python.sh"), "README.md has no run-python.sh block")
        let rest = readme[start.upperBound...]
        let end = try #require(rest.range(of: "```"))
        return "#!/bin/sh\n# run-python.sh" + rest[..<end.lowerBound]
    }

    @Test func readmeLauncherCompletesTheMoveOncePerCopy() throws {
        let dir = try TestSupport.temporaryDirectory("launcher")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let env = dir + "/old/env"
        try Honesty.mkenv(env, try [Portable.python, Portable.demo].map(Honesty.fixturePackage))
        let archive = dir + "/env.tar.gz"
        let packed = try TestSupport.envpack(["pack", "-q", "-p", env, "-o", archive] + Portable.smaller)
        try #require(packed.status == 0, "\(packed.stderr)")

        let work = dir + "/executor/app-0001/0"
        let new = work + "/environment"
        try FileManager.default.createDirectory(atPath: new, withIntermediateDirectories: true)
        try #require(try TestSupport.run("/usr/bin/tar", ["-xzf", archive, "-C", new]).status == 0)
        try Self.readmeLauncher().write(toFile: work + "/run-python.sh", atomically: true, encoding: .utf8)
        chmod(work + "/run-python.sh", 0o755)

        let script = """
            set -e
            export PATH=/usr/bin:/bin
            cd '\(work)'
            # Before: greet runs (its RPATH is relative) but its compiled-in
            # configuration path is the old one.
            ./environment/bin/greet | grep -qx 'greeting: Hello from envpack-demo!' && { echo "greet was complete before the helper"; exit 1; }
            for i in 1 2 3 4; do ./run-python.sh -c 'import sys; print(sys.executable, sys.prefix)' > out.$i 2> err.$i & done
            wait
            for i in 1 2 3 4; do
              [ "$(cat out.$i)" = "\(new)/bin/python \(new)" ] || { echo "launcher $i: $(cat out.$i) $(cat err.$i)"; exit 1; }
            done
            ./environment/bin/greet | grep -qx 'greeting: Hello from envpack-demo!' || { echo "greet after the launchers: $(./environment/bin/greet)"; exit 1; }
            grep -rl '\(env)' environment/etc environment/bin/greet && { echo "the old prefix is left"; exit 1; }
            ./run-python.sh -c 'print("again")' | grep -qx again
            echo recipe-works
            """
        let r = try Portable.runHidden(dir + "/old", script)
        #expect(r.status == 0 && r.stdout.contains("recipe-works"), "\(r.stdout) \(r.stderr)")
    }

    /// Four helpers started at once in one extracted folder (no flock of the
    /// caller's): one relocates, the others wait for it and find the move
    /// done; all exit 0 and the environment is whole. Without the helper's
    /// own lock they refused each other half-way (a journal that vanished,
    /// files that no longer held the prefix the manifest named).
    @Test func concurrentHelpersInOneFolderRunOneAfterTheOther() throws {
        let env = try TestSupport.fixtureEnv("demo")
        let dir = try TestSupport.temporaryDirectory("helpers-at-once")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let archive = dir + "/env.tar.gz"
        let packed = try TestSupport.envpack(["pack", "-q", "-p", env, "-o", archive])
        try #require(packed.status == 0, "\(packed.stderr)")
        for trial in 0..<3 {
            let new = dir + "/t\(trial)/environment"
            try FileManager.default.createDirectory(atPath: new, withIntermediateDirectories: true)
            try #require(try TestSupport.run("/usr/bin/tar", ["-xzf", archive, "-C", new]).status == 0)
            let r = try TestSupport.run("/bin/sh", ["-c", """
                cd '\(new)'
                pids=""
                for i in 1 2 3 4; do ./bin/envpack-unpack > out.$i 2>&1 & pids="$pids $!"; done
                fails=0
                for pid in $pids; do wait $pid || fails=$((fails + 1)); done
                cat out.*; rm -f out.*
                [ $fails = 0 ] || { echo "$fails helper(s) failed"; exit 1; }
                ./bin/greet | grep -qx 'greeting: Hello from envpack-demo!' || { echo "greet: $(./bin/greet)"; exit 1; }
                ./bin/envpack-unpack --check
                """])
            let out = String(decoding: r.stdout, as: UTF8.self)
            #expect(r.status == 0, "trial \(trial): \(out) \(r.stderr)")
            #expect(out.components(separatedBy: "relocated ").count - 1 == 1 + 3, "trial \(trial): one relocation and three 'already relocated': \(out)")
        }
    }
}
