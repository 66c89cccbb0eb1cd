// bin/envpack-unpack (also bin/conda-unpack): the static helper every envpack
// archive carries. Run from an extracted environment with no python and no
// envpack, it relocates the environment to where it now is, found from
// /proc/self/exe. Running it again after moving the environment relocates
// it again; after an interruption it finishes the job.
import EnvpackRelocation
#if canImport(Glibc)
import Glibc
#endif

let version = "0.2.0"

func say(_ message: String, to fd: Int32 = 1) {
    let line = Array((message + "\n").utf8)
    _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
}

func fail(_ message: String, code: Int32 = 1) -> Never {
    say("envpack-unpack: error: \(message)", to: 2)
    exit(code)
}

/// The environment root: two levels above the helper's real location
/// (`<prefix>/bin/envpack-unpack`).
func environmentRoot() -> String {
    var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
    let n = buffer.withUnsafeMutableBufferPointer {
        $0.withMemoryRebound(to: CChar.self) { readlink("/proc/self/exe", $0.baseAddress!, $0.count - 1) }
    }
    guard n > 0 else { fail("cannot read /proc/self/exe") }
    let exe = String(decoding: buffer[0..<n], as: UTF8.self)
    let root = parentDirectory(parentDirectory(exe))
    return root.isEmpty ? "/" : root
}

let usage = """
usage: envpack-unpack [--dry-run] [-v] | --check | --manifest | --version | --help
       envpack-unpack [-f] [-q] ARCHIVE DEST
       envpack-unpack --list ARCHIVE

With ARCHIVE and DEST: unpacks an envpack archive (tar.zst, tar.gz,
tar.bz2, tar.xz, tar or zip; "-" reads a tar from standard input) into
DEST and relocates it there, as `envpack unpack` does: every entry checked,
the stream verified to its end, and only a complete, relocated environment
renamed into place (nothing at DEST otherwise). Needs nothing on the
machine: no envpack, tar or zstd.
  -f, --force      replace DEST if it is a conda environment (atomically)
  -q, --quiet      no summary line
  --list           list the archive's entries

Relocates the environment this helper belongs to (<env>/bin/envpack-unpack)
so that it runs where it is now: text and binary prefixes, shebang lines and
ELF RPATH/RUNPATH entries, from the manifest in conda-meta/envpack/. Running
it again after a move relocates again; on an environment already relocated
to where it is, it changes nothing.

  -n, --dry-run    plan and check everything, change nothing (with -v, list
                   the files that would change)
  -v, --verbose    list every file relocated
  --check          list files that still refer to an old prefix (exit 1 if
                   any is loaded at run time; those left in static libraries,
                   object files and other data not loaded are listed too)
  --manifest       summarise the manifest
  --version        print the version
  -h, --help       print this help
"""

/// Everything runs in a function: with no implicit _Concurrency import,
/// top-level variables would count as shared mutable state.
func main() -> Never {
    var dryRun = false, verbose = false, check = false, summary = false
    var force = false, quiet = false, list = false, payload: Payload? = nil
    var positional: [String] = []
    var arguments = CommandLine.arguments.dropFirst()
    while let argument = arguments.popFirst() {
        switch argument {
        case "-f", "--force": force = true
        case "-q", "--quiet": quiet = true
        case "--list": list = true
        // For self-extractors: the archive is bytes OFFSET..+LENGTH of
        // ARCHIVE, whose sha256 is checked before anything is written.
        case "--payload":
            guard let spec = arguments.popFirst(), let p = Payload(spec) else { fail("--payload wants OFFSET:LENGTH:SHA256", code: 2) }
            payload = p
        case "--": positional += arguments; arguments = []
        case "-": positional.append(argument)
        case "--dry-run", "-n": dryRun = true
        case "-v", "--verbose": verbose = true
        case "--check": check = true
        case "--manifest": summary = true
        case "--version": say("envpack-unpack \(version)"); exit(0)
        case "-h", "--help": say(usage); exit(0)
        default:
            if argument.hasPrefix("-") { fail("unknown argument \(argument) (see --help)", code: 2) }
            positional.append(argument)
        }
    }
    if list {
        guard positional.count == 1 else { fail("--list wants one ARCHIVE (see --help)", code: 2) }
        listArchive(positional[0], payload: payload)
    }
    if !positional.isEmpty {
        guard positional.count == 2 else { fail("give ARCHIVE and DEST (see --help)", code: 2) }
        unpackArchive(positional[0], into: positional[1], force: force, payload: payload, quiet: quiet)
    }
    if force || quiet || payload != nil { fail("-f, -q and --payload go with ARCHIVE DEST (see --help)", code: 2) }

    let root = environmentRoot()
    // Run from a folder that is not an environment (a copy of the helper
    // somewhere else): say so plainly rather than that a manifest is missing.
    if !isDirectory(joinPath(root, "conda-meta")) {
        fail("\(root) is not a conda environment (it has no conda-meta/ folder): run the envpack-unpack inside an extracted environment, as ENV/bin/envpack-unpack")
    }
    var relocator = Relocator(root: root, to: root)
    if verbose { relocator.log = { say($0) } }
    relocator.warn = { say("envpack-unpack: warning: \($0)", to: 2) }
    // Fault injection for the tests: ENVPACK_KILL_AT=written:3 sends this
    // process SIGKILL right after the fourth file's new content is written.
    if let spec = getenv("ENVPACK_KILL_AT").map({ String(cString: $0) }) {
        let parts = spec.split(separator: ":")
        if parts.count == 2, let n = Int(parts[1]) {
            let event = String(parts[0])
            relocator.faultHook = { e, i in if e == event && i == n { kill(getpid(), SIGKILL) } }
        }
    }

    // Held until exit: a second helper in the same folder waits, then finds the move done.
    let lock = holdRelocationLock(root: root)
    defer { if let lock { close(lock) } }
    let manifest: Manifest
    do { manifest = try relocator.loadManifest() } catch { fail(error.description) }

    if summary {
        say("environment: \(root)")
        say("prefix in files: \(manifest.prefix)")
        if !manifest.previousPrefixes.isEmpty { say("earlier prefixes: \(manifest.previousPrefixes.joined(separator: ", "))") }
        say("packages: \(manifest.packages.count)")
        say("prefix-bearing files: \(manifest.files.count)")
        if let limit = manifest.longestAllowedPrefix {
            let by = manifest.limitingFiles
            say("longest allowed prefix: \(limit) bytes (set by \(by.prefix(5).joined(separator: ", "))\(by.count > 5 ? " and \(by.count - 5) more" : ""))")
        }
        let notLoaded = manifest.notLoadedFiles
        if !notLoaded.isEmpty {
            say("not loaded at run time (left where a longer prefix does not fit): \(notLoaded.count) file(s)")
        }
        exit(0)
    }

    if check {
        var problems = 0
        if pathExists(joinPath(root, Journal.relativePath)) {
            say("a relocation was interrupted: run envpack-unpack to finish it"); problems += 1
        }
        var left = 0
        for finding in staleReferences(root: root, manifest: manifest) {
            say(finding.description)
            if finding.left { left += 1 } else { problems += 1 }
        }
        if problems == 0 {
            say("ok: nothing refers to an old prefix where it is loaded at run time (\(manifest.files.count) files checked"
                + (left > 0 ? "; \(left) left (not loaded at run time))" : ")"))
        }
        exit(problems == 0 ? 0 : 1)
    }

    do {
        let plan = try relocator.plan(manifest)
        if plan.files.isEmpty && !plan.resuming && manifest.prefix == root {
            say("already relocated to \(root)")
            exit(0)
        }
        if dryRun {
            if verbose {
                for file in plan.files {
                    say("would relocate \(file.file.path) (\(file.edits.count) change(s))")
                }
            }
            say("dry run: \(plan.files.count) file(s) would be relocated from \(plan.from) to \(root)")
            exit(0)
        }
        try relocator.apply(plan)
        say("relocated \(plan.files.count + plan.alreadyDone.count) file(s) from \(plan.from) to \(root)")
    } catch {
        fail(error.description)
    }
    exit(0)
}

main()
