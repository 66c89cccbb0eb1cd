// Pack, unpack at a shorter and a longer path, move by hand and run the
// helper again: every time the programs must run where the original prefix
// does not exist (a mount namespace with a tmpfs over it), with
// PATH=/usr/bin:/bin, loading their own libraries, not the system's.
import EnvpackRelocation
import Foundation
import Testing
@testable import Envpack

/// Runs a bash script in a private mount namespace where `hidden` paths are
/// covered by empty tmpfs mounts, with a minimal environment.
func runHidden(_ script: String, hidden: [String]) throws -> TestSupport.Result {
    var mounts = ""
    for path in hidden where FileManager.default.fileExists(atPath: path) {
        mounts += "mount -t tmpfs envpack-hidden '\(path)' || exit 97\n"
    }
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("envpack-ns-\(UUID().uuidString).sh").path
    try (mounts + "exec env -i PATH=/usr/bin:/bin HOME=/root LANG=C.UTF-8 /bin/bash -euo pipefail -c '\(script.replacingOccurrences(of: "'", with: "'\\''"))'\n")
        .write(toFile: file, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(atPath: file) }
    return try TestSupport.run("/usr/bin/unshare", ["-m", "--propagation", "private", "/bin/bash", file])
}

enum RelocationChecks {
    /// Bash that runs the real conda-forge set's programs at `root`.
    static func condaForgePrograms(_ root: String) -> String {
        """
        "\(root)/bin/openssl" version -d | grep -qx 'OPENSSLDIR: "\(root)/ssl"'
        "\(root)/bin/zstd" --version >/dev/null
        "\(root)/bin/bsdtar" --version >/dev/null
        "\(root)/bin/xmllint" --version 2>/dev/null
        echo 'puts [info patchlevel]' | "\(root)/bin/tclsh8.6" | grep -q '^8\\.6'
        "\(root)/bin/infocmp" xterm >/dev/null
        [ "$("\(root)/bin/curl-config" --prefix)" = "\(root)" ]
        [ "$("\(root)/bin/krb5-config" --prefix)" = "\(root)" ]
        \(loadsOwnLibraries(root, "\"\(root)/bin/openssl\" version"))
        \(loadsOwnLibraries(root, "\"\(root)/bin/xmllint\" --version"))
        \(loadsOwnLibraries(root, "\"\(root)/bin/bsdtar\" --version"))
        """
    }

    /// A path of at least `length` characters under /tmp, not existing yet.
    static func longPath(_ length: Int, tag: String) -> String {
        var path = "/tmp/envpack-long-\(tag)-\(UUID().uuidString.prefix(6))"
        while path.count < length { path += "/" + String(repeating: "d", count: min(60, length - path.count)) }
        return path
    }

    /// No text file outside conda-meta (and the helper's records) still
    /// holds an old prefix.
    static func textFilesHoldNo(_ old: [String], in root: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        // An old prefix inside the current one ("/a/env" in "/a/env-moved") is not stale.
        let entries = try EnvironmentTree.walk(prefix: root)
        for e in entries where e.status.kind == .regular && !e.path.hasPrefix("conda-meta/") && !e.path.hasSuffix(".pyc") {
            guard e.status.size < 8 << 20, let data = FileManager.default.contents(atPath: root + "/" + e.path) else { continue }
            let bytes = [UInt8](data)
            if bytes.contains(0) { continue }
            for prefix in old {
                let hits = staleOccurrences(of: prefix, current: root, in: bytes)
                #expect(hits.isEmpty, "\(e.path) still holds \(prefix)", sourceLocation: sourceLocation)
            }
        }
    }

    /// Every RPATH/RUNPATH entry of every ELF file is $ORIGIN-relative or
    /// inside the environment.
    static func rpathsStayInside(_ root: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> Int {
        var checked = 0
        for e in try EnvironmentTree.walk(prefix: root) where e.status.kind == .regular && e.status.size > 64 {
            guard let info = try? readELFInfo(path: root + "/" + e.path) else { continue }
            for r in info.rpaths {
                checked += 1
                for component in r.value.split(separator: ":") {
                    #expect(component.hasPrefix("$ORIGIN") || component.hasPrefix(root + "/") || component == root,
                            "\(e.path): \(r.tag.rawValue) entry \(component) points outside the environment",
                            sourceLocation: sourceLocation)
                }
            }
        }
        return checked
    }

    /// Bash that fails unless `program` loads every library it finds in the
    /// environment's lib/ from there (LD_DEBUG=libs lists what ld.so loads).
    static func loadsOwnLibraries(_ root: String, _ command: String) -> String {
        """
        out=$(LD_DEBUG=libs \(command) 2>&1 >/dev/null || true)
        loaded=$(printf '%s\\n' "$out" | sed -n 's/.*calling init: //p' | sort -u)
        [ -n "$loaded" ] || { echo "no libraries seen for: \(command)"; exit 1; }
        for lib in $loaded; do
          name=$(basename "$lib")
          if [ -e "\(root)/lib/$name" ]; then
            case "$lib" in \(root)/*) ;; *) echo "\(command): loaded $lib, not \(root)/lib/$name"; exit 1;; esac
          fi
        done
        printf '%s\\n' "$loaded" | grep "^\(root)/" > /dev/null || { echo "\(command): no library from the environment"; exit 1; }

        """
    }
}

@Suite(.serialized) struct RelocationIntegrationTests {
    /// Checks in bash, one environment kind at a time.
    func programChecks(env: String, root: String) -> String {
        switch env {
        case "demo":
            return """
            out=$("\(root)/bin/greet"); echo "$out"
            echo "$out" | grep -qx "data: \(root)/share/envpack-demo/greeting.txt"
            echo "$out" | grep -q "^library: \(root)/"
            "\(root)/bin/greet-runpath" | grep -q "^library: \(root)/"
            "\(root)/bin/legacy-hello" >/dev/null
            "\(root)/bin/demo-script" | grep -q "argv\\[0\\]=\(root)/bin/demo-interp"
            "\(root)/bin/demo-script-arg" | grep -q -- "--from-shebang"
            "\(root)/bin/greet-wrapper" | grep -q "^library: \(root)/"
            \(RelocationChecks.loadsOwnLibraries(root, "\"\(root)/bin/greet\""))
            """
        case "conda-forge":
            return RelocationChecks.condaForgePrograms(root)
        default:  // python
            return """
            [ "$("\(root)/bin/python3.12" -B -c 'import sys; print(sys.prefix)')" = "\(root)" ]
            "\(root)/bin/python3.12" -B -c 'import json, sqlite3, ctypes; print("ok")' | grep -qx ok
            "\(root)/bin/envpack-hello" >/dev/null
            "\(root)/bin/envpack-unmanaged" >/dev/null
            [ "$("\(root)/bin/python3.12-config" --prefix)" = "\(root)" ]
            \(RelocationChecks.loadsOwnLibraries(root, "\"\(root)/bin/python3.12\" -B -c pass"))
            """
        }
    }

    /// Everything a relocated environment must pass, at `root`, with the
    /// `old` prefixes hidden.
    func verify(env: String, root: String, old: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let check = try TestSupport.run(root + "/bin/envpack-unpack", ["--check"])
        #expect(check.status == 0, "envpack-unpack --check: \(String(decoding: check.stdout, as: UTF8.self))", sourceLocation: sourceLocation)
        try RelocationChecks.textFilesHoldNo(old, in: root, sourceLocation: sourceLocation)
        _ = try RelocationChecks.rpathsStayInside(root, sourceLocation: sourceLocation)
        let hidden = old + ["/root/.pyenv", TestSupport.fixturesRoot]
        let assertHidden = old.map { "[ ! -e '\($0)/conda-meta' ] || { echo 'old prefix \($0) is visible'; exit 1; }\n" }.joined()
        // Activation works in bash and in POSIX sh (dash), without it the programs above ran.
        let activation = ["/bin/bash", "/bin/dash"].map { shell in
            "\(shell) -c '. \"\(root)/bin/activate\" && [ \"$CONDA_PREFIX\" = \"\(root)\" ] && [ \"$(command -v envpack-unpack)\" = \"\(root)/bin/envpack-unpack\" ] && deactivate && [ -z \"${CONDA_PREFIX:-}\" ]' || { echo 'activate failed in \(shell)'; exit 1; }\n"
        }.joined()
        let r = try runHidden(assertHidden + programChecks(env: env, root: root) + "\n" + activation, hidden: hidden)
        #expect(r.status == 0, "programs at \(root) failed (\(r.status)): \(String(decoding: r.stdout, as: UTF8.self)) \(r.stderr)",
                sourceLocation: sourceLocation)
    }

    func roundTrip(_ env: String) throws {
        let source = try TestSupport.fixtureEnv(env)
        let work = try TestSupport.temporaryDirectory("reloc-\(env)")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let archive = work + "/env.tar.zst"
        let packed = try TestSupport.envpack(["pack", "-q", "-p", source, "-o", archive])
        try #require(packed.status == 0, "\(packed.stderr)")

        // Shorter than the original, through envpack unpack.
        let short = "/tmp/ep-\(UUID().uuidString.prefix(4))"
        defer { try? FileManager.default.removeItem(atPath: short) }
        let u1 = try TestSupport.envpack(["unpack", "-q", archive, short])
        try #require(u1.status == 0, "\(u1.stderr)")
        try verify(env: env, root: short, old: [source])

        // Longer (>= 150 characters), with plain tar and the helper.
        let long = RelocationChecks.longPath(150, tag: env)
        let longTop = "/" + long.split(separator: "/").prefix(2).joined(separator: "/")
        defer { try? FileManager.default.removeItem(atPath: longTop) }
        try FileManager.default.createDirectory(atPath: long, withIntermediateDirectories: true)
        let tar = try TestSupport.run("/usr/bin/tar", ["--zstd", "-xf", archive, "-C", long])
        try #require(tar.status == 0, "\(tar.stderr)")
        let helper = try TestSupport.run(long + "/bin/envpack-unpack", [])
        try #require(helper.status == 0, "\(helper.stderr)")
        try verify(env: env, root: long, old: [source])

        // Moved by hand, then the helper again (conda-unpack works only once).
        let moved = long + "-moved-again"
        try FileManager.default.moveItem(atPath: long, toPath: moved)
        let again = try TestSupport.run(moved + "/bin/conda-unpack", [])
        try #require(again.status == 0, "\(again.stderr)")
        try verify(env: env, root: moved, old: [source, long])
    }

    /// pack --dest-prefix: plain tar at the destination, no unpack step.
    func destPrefix(_ env: String) throws {
        let source = try TestSupport.fixtureEnv(env)
        let work = try TestSupport.temporaryDirectory("dest-\(env)")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let dest = RelocationChecks.longPath(120, tag: "dest-\(env)")
        let top = "/" + dest.split(separator: "/").prefix(2).joined(separator: "/")
        defer { try? FileManager.default.removeItem(atPath: top) }
        let archive = work + "/env.tar.gz"
        let packed = try TestSupport.envpack(["pack", "-q", "-p", source, "--dest-prefix", dest, "-o", archive])
        try #require(packed.status == 0, "\(packed.stderr)")
        try FileManager.default.createDirectory(atPath: dest, withIntermediateDirectories: true)
        try #require(try TestSupport.run("/usr/bin/tar", ["-xzf", archive, "-C", dest]).status == 0)
        try verify(env: env, root: dest, old: [source])
    }

    @Test func destPrefixPython() throws { try destPrefix("python") }
    @Test func destPrefixCondaForge() throws { try destPrefix("conda-forge") }

    /// The helper needs no python, no Swift runtime and no shared library at
    /// all: it relocates an environment inside a chroot that holds nothing
    /// but that environment and /proc.
    @Test func helperRunsInAnEmptyChroot() throws {
        let env = try TestSupport.fixtureEnv("demo")
        let root = try TestSupport.temporaryDirectory("chroot")
        defer {
            _ = try? TestSupport.run("/bin/umount", [root + "/proc"])
            try? FileManager.default.removeItem(atPath: root)
        }
        let archive = root + "/../envpack-chroot-\(UUID().uuidString.prefix(6)).tar.zst"
        defer { try? FileManager.default.removeItem(atPath: archive) }
        try #require(try TestSupport.envpack(["pack", "-q", "-p", env, "-o", archive]).status == 0)
        try FileManager.default.createDirectory(atPath: root + "/opt/env", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/proc", withIntermediateDirectories: true)
        try #require(try TestSupport.run("/usr/bin/tar", ["--zstd", "-xf", archive, "-C", root + "/opt/env"]).status == 0)
        let r = try TestSupport.run("/usr/bin/unshare", ["-m", "/bin/sh", "-c",
            "mount -t proc proc '\(root)/proc' && exec /usr/sbin/chroot '\(root)' /opt/env/bin/envpack-unpack"])
        #expect(r.status == 0, "\(String(decoding: r.stdout, as: UTF8.self)) \(r.stderr)")
        #expect(String(decoding: r.stdout, as: UTF8.self).contains("to /opt/env"))
        let conf = try String(contentsOfFile: root + "/opt/env/etc/envpack-demo.conf", encoding: .utf8)
        #expect(conf.contains("prefix = /opt/env\n"))
        #expect(!FileManager.default.fileExists(atPath: root + "/lib") && !FileManager.default.fileExists(atPath: root + "/usr"))
    }

    @Test func demoEnvironment() throws { try roundTrip("demo") }
    @Test func condaForgeEnvironment() throws { try roundTrip("conda-forge") }
    @Test func pythonEnvironment() throws { try roundTrip("python") }
}
