// Nothing needed on the target (issue 11): the static helper unpacks
// archives on its own, and `pack --format sh` writes a self-extracting
// installer. Each is run on a bare target: a chroot holding only the files
// under test, /proc, /dev/null and /tmp (for the installer, a static busybox
// as sh, dd and mktemp), and in the cached Debian minbase root (no zstd, no
// python, no Swift; scripts/minbase.sh), through an overlay so the cache is
// never changed, with the network absent (unshare -n).
import EnvpackRelocation
import Foundation
import Testing

@Suite struct SelfContainedTests {
    /// The helper this worktree built (scripts/build-helper.sh), never a
    /// prebuilt one from elsewhere: these tests are about this helper.
    static var helper: String {
        TestSupport.packageRoot.appendingPathComponent(".build/envpack-unpack-static").path
    }

    /// `envpack pack` with this worktree's helper embedded.
    static func pack(_ env: String, _ output: String, _ extra: [String] = []) throws {
        try #require(FileManager.default.isExecutableFile(atPath: helper), "\(helper) is missing: run scripts/build-helper.sh")
        var environment = ProcessInfo.processInfo.environment
        environment["ENVPACK_HELPER"] = helper
        let r = try TestSupport.run(TestSupport.envpackBinary, ["pack", "-q", "-p", env, "-o", output] + extra, environment: environment)
        try #require(r.status == 0, "pack failed: \(r.stderr)")
    }

    /// Runs a bash script as root in a private mount namespace without a
    /// network; $ROOT, $MINBASE and $WORK are set.
    static func script(_ body: String, work: String, root: String = "") throws -> TestSupport.Result {
        let file = work + "/script.sh"
        try ("set -eu\n" + body).write(toFile: file, atomically: true, encoding: .utf8)
        var environment = ProcessInfo.processInfo.environment
        environment["WORK"] = work
        environment["ROOT"] = root
        return try TestSupport.run("/usr/bin/unshare", ["-m", "-n", "--propagation", "private", "/bin/bash", file], environment: environment)
    }

    /// A bare root: the given files, /proc, /dev/null, /tmp.
    static let bareRoot = """
        mkdir -p "$ROOT/proc" "$ROOT/dev" "$ROOT/tmp" "$ROOT/opt"
        chmod 1777 "$ROOT/tmp"
        touch "$ROOT/dev/null"
        mount -t proc proc "$ROOT/proc"
        mount --bind /dev/null "$ROOT/dev/null"
        """

    /// The cached minbase root, overlaid at $WORK/merged.
    static let minbaseRoot = """
        MINBASE=$(bash "$PACKAGE/scripts/minbase.sh")
        mkdir -p "$WORK/upper" "$WORK/ovl" "$WORK/merged"
        mount -t overlay overlay -o lowerdir="$MINBASE",upperdir="$WORK/upper",workdir="$WORK/ovl" "$WORK/merged"
        mount -t proc proc "$WORK/merged/proc"
        mount --bind /dev "$WORK/merged/dev"
        for tool in zstd python3 swift; do
            if chroot "$WORK/merged" /bin/sh -c "command -v $tool" >/dev/null; then echo "minbase has $tool" >&2; exit 9; fi
        done
        """

    static func prelude(_ work: String) -> String {
        "PACKAGE='\(TestSupport.packageRoot.path)'\n"
    }

    /// The helper alone, copied into an empty chroot, unpacks a tar.zst, a
    /// tar.gz and a zip (relocated to where they land); in minbase the
    /// unpacked environment's programs run. Before issue 11 the helper took
    /// no arguments but its flags.
    @Test func helperUnpacksOnABareMachine() throws {
        let env = try TestSupport.fixtureEnv("demo")
        let work = try TestSupport.temporaryDirectory("bare-helper")
        defer { try? FileManager.default.removeItem(atPath: work) }
        for format in ["tar.zst", "tar.gz", "zip"] { try Self.pack(env, work + "/env.\(format)") }
        let r = try Self.script(Self.prelude(work) + Self.bareRoot + """

            cp "$PACKAGE/.build/envpack-unpack-static" "$ROOT/envpack-unpack"
            for f in tar.zst tar.gz zip; do cp "$WORK/env.$f" "$ROOT/"; done
            for f in tar.zst tar.gz zip; do
                chroot "$ROOT" /envpack-unpack "/env.$f" "/opt/$f"
                grep -qx "prefix = /opt/$f" "$ROOT/opt/$f/etc/envpack-demo.conf"
                test "$(head -1 "$ROOT/opt/$f/bin/demo-script")" = "#!/opt/$f/bin/demo-interp"
            done
            # standard input, too
            chroot "$ROOT" /envpack-unpack - /opt/stdin < "$WORK/env.tar.zst"
            grep -qx "prefix = /opt/stdin" "$ROOT/opt/stdin/etc/envpack-demo.conf"
            test ! -e "$ROOT/usr" && test ! -e "$ROOT/lib"
            \(Self.minbaseRoot)
            cp "$PACKAGE/.build/envpack-unpack-static" "$WORK/merged/tmp/envpack-unpack"
            for f in tar.zst tar.gz zip; do
                cp "$WORK/env.$f" "$WORK/merged/tmp/"
                chroot "$WORK/merged" /tmp/envpack-unpack "/tmp/env.$f" "/opt/env-$f"
                chroot "$WORK/merged" "/opt/env-$f/bin/greet"
                chroot "$WORK/merged" "/opt/env-$f/bin/demo-script"
            done
            echo ALL-OK
            """, work: work, root: work + "/root")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(String(decoding: r.stdout, as: UTF8.self).contains("ALL-OK"))
    }
}
