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
            for f in tar.zst tar.gz; do
                chroot "$ROOT" /envpack-unpack "/env.$f" "/opt/$f"
                grep -qx "prefix = /opt/$f" "$ROOT/opt/$f/etc/envpack-demo.conf"
                test "$(head -1 "$ROOT/opt/$f/bin/demo-script")" = "#!/opt/$f/bin/demo-interp"
            done
            # A zip's non-ASCII names need a UTF-8 locale, which a bare
            # chroot lacks: a clear refusal, nothing at DEST.
            if chroot "$ROOT" /envpack-unpack /env.zip /opt/zip 2> "$WORK/zip.err"; then echo "zip unpacked without a UTF-8 locale" >&2; exit 1; fi
            grep -q "no UTF-8 locale" "$WORK/zip.err"
            test "$(ls -A "$ROOT/opt" | grep -c zip)" = 0
            # a truncated archive: refused, nothing at DEST or beside it
            head -c 100000 "$WORK/env.tar.zst" > "$ROOT/cut.tar.zst"
            if chroot "$ROOT" /envpack-unpack /cut.tar.zst /opt/cut 2> "$WORK/cut.err"; then echo "a truncated archive was unpacked" >&2; exit 1; fi
            grep -q "truncated" "$WORK/cut.err"
            test "$(ls -A "$ROOT/opt" | grep -c cut)" = 0
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

    /// `sh env.sh DEST` with nothing but a static busybox (as sh, dd and
    /// mktemp) in an empty chroot, and in minbase where the programs then
    /// run; --list and --help work; the payload after the header is the
    /// plain tar.zst, byte for byte; packing twice gives the same file.
    @Test func selfExtractorInstallsOnABareMachine() throws {
        let env = try TestSupport.fixtureEnv("demo")
        let work = try TestSupport.temporaryDirectory("bare-sh")
        defer { try? FileManager.default.removeItem(atPath: work) }
        try Self.pack(env, work + "/env.sh")
        try Self.pack(env, work + "/again.sh")
        try Self.pack(env, work + "/env.tar.zst")
        #expect(FileManager.default.contents(atPath: work + "/env.sh") == FileManager.default.contents(atPath: work + "/again.sh"),
                "two packs of the same environment differ")
        let r = try Self.script(Self.prelude(work) + Self.bareRoot + """

            mkdir -p "$ROOT/bin"
            cp /bin/busybox "$ROOT/bin/busybox"
            for t in sh dd mktemp; do ln -s busybox "$ROOT/bin/$t"; done
            cp "$WORK/env.sh" "$ROOT/env.sh"
            payload=$(head -c 8192 "$WORK/env.sh" | grep '^payload=' | cut -d= -f2 | cut -d: -f1)
            tail -c +$((payload + 1)) "$WORK/env.sh" | cmp - "$WORK/env.tar.zst"
            chroot "$ROOT" /bin/sh /env.sh --help | grep -q "sh /env.sh DEST"
            chroot "$ROOT" /bin/sh /env.sh --list | grep -qx "etc/envpack-demo.conf"
            chroot "$ROOT" /bin/sh /env.sh /opt/env
            grep -qx "prefix = /opt/env" "$ROOT/opt/env/etc/envpack-demo.conf"
            test "$(head -1 "$ROOT/opt/env/bin/demo-script")" = "#!/opt/env/bin/demo-interp"
            test -z "$(ls -A "$ROOT/tmp")"   # the helper's temporary copy is gone
            # -f replaces it; without -f it is refused
            if chroot "$ROOT" /bin/sh /env.sh /opt/env 2>/dev/null; then echo "replaced without -f" >&2; exit 1; fi
            chroot "$ROOT" /bin/sh /env.sh -f /opt/env
            test "$(ls -A "$ROOT/opt")" = env
            \(Self.minbaseRoot)
            cp "$WORK/env.sh" "$WORK/merged/tmp/env.sh"
            chroot "$WORK/merged" /bin/sh /tmp/env.sh /opt/env
            chroot "$WORK/merged" /opt/env/bin/greet
            chroot "$WORK/merged" /opt/env/bin/demo-script
            echo ALL-OK
            """, work: work, root: work + "/root")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(String(decoding: r.stdout, as: UTF8.self).contains("ALL-OK"))
    }

    /// One flipped byte anywhere in the payload is refused by the sha256
    /// check before anything is written: nothing at DEST, nothing beside
    /// it. Trials: the first, the middle and the last byte.
    @Test func flippedPayloadByteIsRefused() throws {
        let env = try TestSupport.fixtureEnv("demo")
        let work = try TestSupport.temporaryDirectory("flip-sh")
        defer { try? FileManager.default.removeItem(atPath: work) }
        try Self.pack(env, work + "/env.sh")
        let original = try #require(FileManager.default.contents(atPath: work + "/env.sh"))
        let text = String(decoding: original.prefix(8192), as: UTF8.self)
        let spec = try #require(text.split(separator: "\n").first { $0.hasPrefix("payload=") }).dropFirst("payload=".count)
        let parts = spec.split(separator: ":")
        let offset = try #require(Int(parts[0])), length = try #require(Int(parts[1]))
        for (trial, position) in [offset, offset + length / 2, offset + length - 1].enumerated() {
            var bytes = [UInt8](original)
            bytes[position] ^= 0x01
            let file = work + "/flipped\(trial).sh"
            try Data(bytes).write(to: URL(fileURLWithPath: file))
            let dest = work + "/out\(trial)/env"
            try FileManager.default.createDirectory(atPath: work + "/out\(trial)", withIntermediateDirectories: true)
            let r = try TestSupport.run("/bin/sh", [file, dest])
            #expect(r.status != 0, "trial \(trial): a flipped byte at \(position) was accepted")
            #expect(r.stderr.contains("sha256"), "trial \(trial): \(r.stderr)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: work + "/out\(trial)").isEmpty,
                    "trial \(trial): something was written beside DEST")
        }
    }

    /// kill -9 of the whole installer (sh and helper) while it extracts
    /// leaves nothing at DEST; the next run removes the staging folder the
    /// killed one left and succeeds. Trials: kills at 3 moments.
    @Test func killedSelfExtractorLeavesNothing() throws {
        let env = try TestSupport.fixtureEnv("python")
        let work = try TestSupport.temporaryDirectory("kill-sh")
        defer { try? FileManager.default.removeItem(atPath: work) }
        try Self.pack(env, work + "/env.sh")
        let r = try Self.script("""
            saw=0
            for delay in 0.05 0.2 0.5; do
                out="$WORK/out-$delay"; mkdir -p "$out"
                setsid sh "$WORK/env.sh" "$out/env" > /dev/null 2>&1 &
                pid=$!
                sleep "$delay"
                kill -9 -- -"$pid" 2>/dev/null || kill -9 "$pid"
                wait "$pid" 2>/dev/null || true
                sleep 0.1
                test ! -e "$out/env" || { echo "DEST exists after kill -9 at $delay" >&2; exit 1; }
                if ls -A "$out" | grep -q '^[.]envpack-unpack-'; then saw=$((saw + 1)); fi
                sh "$WORK/env.sh" "$out/env" 2> "$WORK/rerun.err"
                test -x "$out/env/bin/python"
                "$out/env/bin/python" -c 'import sys; print(sys.prefix)' | grep -qx "$out/env"
                test "$(ls -A "$out")" = env || { echo "left beside DEST: $(ls -A "$out")" >&2; exit 1; }
            done
            # at least one kill landed mid-extraction, and a rerun cleaned up after it
            test "$saw" -ge 1 || { echo "no kill landed while a staging folder existed" >&2; exit 1; }
            echo ALL-OK
            """, work: work)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(String(decoding: r.stdout, as: UTF8.self).contains("ALL-OK"))
    }

    /// Both executables a user carries are static: no interpreter, no
    /// shared library.
    @Test func helperIsStatic() throws {
        let f = try TestSupport.run("/usr/bin/file", ["-L", Self.helper])
        #expect(String(decoding: f.stdout, as: UTF8.self).contains("statically linked"))
        let d = try TestSupport.run("/usr/bin/readelf", ["-d", "-l", Self.helper])
        let text = String(decoding: d.stdout, as: UTF8.self)
        #expect(!text.contains("NEEDED") && !text.contains("INTERP"))
    }

    /// The static envpack (scripts/build-static.sh), as scripts/install.sh
    /// places it.
    static var staticEnvpack: String {
        TestSupport.packageRoot.appendingPathComponent(".build/envpack-static").path
    }

    @Test func staticEnvpackIsStatic() throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.staticEnvpack), "\(Self.staticEnvpack) is missing: run scripts/build-static.sh")
        let f = try TestSupport.run("/usr/bin/file", ["-L", Self.staticEnvpack])
        #expect(String(decoding: f.stdout, as: UTF8.self).contains("statically linked"))
        let d = try TestSupport.run("/usr/bin/readelf", ["-d", "-l", Self.staticEnvpack])
        let text = String(decoding: d.stdout, as: UTF8.self)
        #expect(!text.contains("NEEDED") && !text.contains("INTERP"))
    }

    /// The air-gapped story: a bundle made here, the static envpack and its
    /// helper installed by scripts/install.sh into an empty chroot (and into
    /// minbase), no network: `install --offline` of the bundle, `pack` of
    /// the result, `unpack` of that; in minbase the programs run.
    @Test func staticEnvpackWorksOnABareMachine() throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.staticEnvpack), "\(Self.staticEnvpack) is missing: run scripts/build-static.sh")
        let env = try TestSupport.fixtureEnv("demo")
        let work = try TestSupport.temporaryDirectory("bare-envpack")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let bundled = try TestSupport.envpack(["bundle", "-p", env, "-o", work + "/bundle"])
        try #require(bundled.status == 0, "\(bundled.stderr)")
        let steps = """
            "$R/usr/bin/envpack" --version >/dev/null
            chroot "$R" /usr/bin/envpack install -q --offline --file /bundle/spec.txt -p /opt/env --pkgs-dir /tmp/pkgs
            grep -qx "prefix = /opt/env" "$R/opt/env/etc/envpack-demo.conf"
            chroot "$R" /usr/bin/envpack pack -q -p /opt/env -o /tmp/env.tar.zst
            chroot "$R" /usr/bin/envpack unpack -q /tmp/env.tar.zst /opt/env2
            grep -qx "prefix = /opt/env2" "$R/opt/env2/etc/envpack-demo.conf"
            chroot "$R" /usr/bin/envpack inspect /tmp/env.tar.zst > /dev/null
            """
        let r = try Self.script(Self.prelude(work) + Self.bareRoot + """

            install() {
                ENVPACK_BIN="$PACKAGE/.build/envpack-static" ENVPACK_HELPER="$PACKAGE/.build/envpack-unpack-static" \\
                    bash "$PACKAGE/scripts/install.sh" "$1/usr" 2>/dev/null
                cp -a "$WORK/bundle" "$1/bundle"
            }
            install "$ROOT"
            R=$ROOT
            \(steps)
            test ! -e "$ROOT/lib" && test ! -e "$ROOT/lib64" && test -z "$(ls "$ROOT/usr" | grep -v '^bin$' | grep -v '^libexec$')"
            echo BARE-OK
            \(Self.minbaseRoot)
            install "$WORK/merged"
            R=$WORK/merged
            \(steps)
            chroot "$R" /opt/env2/bin/greet
            echo ALL-OK
            """, work: work, root: work + "/root")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(String(decoding: r.stdout, as: UTF8.self).contains("ALL-OK"))
    }
}
