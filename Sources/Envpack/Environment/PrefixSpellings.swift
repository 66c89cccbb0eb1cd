// Which prefix an environment's files really hold. It is not always the path
// pack was given: `-p LINK` names a symlink to the environment (or `-n` finds
// it through a symlinked envs folder), conda may have installed through
// either spelling, and an environment copied by hand (`cp -a`) and never
// relocated still names the folder it was copied from. Pack must look for
// the prefix the files hold, or it finds no prefix-bearing file at all and
// hands back an archive that cannot relocate.
//
// The candidates are the path as given, its realpath, the prefixes
// conda-meta/history names (`# cmd: ... -p PREFIX`, `--prefix PREFIX`) and
// the folders the environment's own shebang lines name (`#!OLD/bin/NAME`
// where bin/NAME exists here). A handful of small files that conda patched
// (text files with a placeholder, scripts in bin/) are read to see which
// candidate they hold.
import EnvpackRelocation
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public struct PrefixSpellings: Sendable, Equatable {
    /// The path as given, made absolute (not resolved).
    public var given: String
    /// The path with every symlink resolved.
    public var resolved: String
    /// The prefix the environment's files hold: one of the above, or, for
    /// an environment copied by hand, the folder it was copied from.
    public var effective: String

    /// True when the files hold a prefix that is neither the given path nor
    /// its realpath: the environment was copied or moved by hand.
    public var isForeign: Bool { effective != given && effective != resolved }

    /// Other spellings of this environment's own path, which files
    /// installed through them hold: the given path, its realpath and the
    /// prefixes conda-meta/history names that lead to the same folder,
    /// except `effective` and any that contains another (a search for it
    /// would match inside the other).
    public var alternates: [String] = []
    /// Files conda patched for the prefix that hold none of the candidates
    /// (empty when any of them does): the prefix they name is unknown.
    public var unexplained: [String] = []

    /// At most this many files are read to decide.
    static let probeLimit = 48
    static let probeBytes = 64 << 10

    public static func resolve(given rawPrefix: String, env: CondaEnvironment) -> PrefixSpellings {
        let given = absolutePath(rawPrefix)
        let resolved = realPath(given) ?? given
        var candidates: [String] = []
        func add(_ c: String) {
            var c = c
            while c.count > 1 && c.hasSuffix("/") { c.removeLast() }
            if c.hasPrefix("/"), c.count > 1, !candidates.contains(c) { candidates.append(c) }
        }
        add(given)
        add(resolved)
        for p in historyPrefixes(prefix: resolved) { add(p) }
        let probes = probeFiles(env: env, root: resolved)
        for p in probes.shebangPrefixes { add(p) }

        // How many probe files hold each candidate, as a whole path.
        var hits = [Int](repeating: 0, count: candidates.count)
        for content in probes.contents {
            for (i, c) in candidates.enumerated() where holdsPath(content, Array(c.utf8)) { hits[i] += 1 }
        }
        var best = resolved
        var bestHits = 0
        // Ties go to the earlier candidate: the path given, then its realpath.
        for (i, c) in candidates.enumerated() where hits[i] > bestHits { best = c; bestHits = hits[i] }
        var result = PrefixSpellings(given: given, resolved: resolved, effective: best)
        if bestHits == 0 { result.unexplained = probes.patched }
        if !result.isForeign {
            let same = candidates.filter { $0 != best && (realPath($0) ?? "") == resolved }
            result.alternates = same.filter { c in
                !c.hasPrefix(best) && !best.hasPrefix(c) && !same.contains { $0 != c && ($0.hasPrefix(c) || c.hasPrefix($0)) }
            }
        }
        return result
    }

    /// Whether `bytes` holds `path` followed by a byte that cannot continue
    /// a file name component (so /a/env does not match inside /a/env2).
    static func holdsPath(_ bytes: [UInt8], _ path: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { buf in
            for o in EnvpackRelocation.occurrences(of: path, in: buf) {
                let end = o + path.count
                if end == buf.count { return true }
                let next = buf[end]
                let isNameByte = (next >= 0x30 && next <= 0x39) || (next >= 0x41 && next <= 0x5a)
                    || (next >= 0x61 && next <= 0x7a) || next == 0x2d || next == 0x5f || next == 0x2e || next >= 0x80
                if !isNameByte { return true }
            }
            return false
        }
    }

    /// Prefixes conda-meta/history names in `-p`/`--prefix` arguments.
    static func historyPrefixes(prefix: String) -> [String] {
        guard let text = CondaEnvironment.historyText(prefix: prefix) else { return [] }
        var found: [String] = []
        for line in text.split(separator: "\n") where line.hasPrefix("# cmd:") {
            let words = line.split(separator: " ").map(String.init)
            for (i, w) in words.enumerated() {
                if (w == "-p" || w == "--prefix"), i + 1 < words.count { found.append(words[i + 1]) }
                if w.hasPrefix("--prefix=") { found.append(String(w.dropFirst("--prefix=".count))) }
            }
        }
        return found
    }

    struct Probes {
        var contents: [[UInt8]] = []
        var shebangPrefixes: [String] = []
        /// Files conda patched for the prefix (their records name a placeholder).
        var patched: [String] = []
    }

    /// Small files conda patched for the prefix: managed text files with a
    /// placeholder. Only their shebang lines propose candidates (a script
    /// of a package names the interpreter conda wrote for it). When the
    /// records give no placeholders (rattler, micromamba), scripts in bin/
    /// are read to choose between the given path and its realpath.
    static func probeFiles(env: CondaEnvironment, root: String) -> Probes {
        let patched = env.managed.filter { $0.value.entry.prefixPlaceholder != nil && $0.value.entry.fileMode != .binary }
            .keys.filter { !$0.hasSuffix(".pyc") }.sorted()
        var paths = patched.prefix(probeLimit).map { ($0, true) }
        if paths.isEmpty, let names = try? directoryEntries(root + "/bin") {
            paths = names.sorted().prefix(probeLimit).map { ("bin/" + $0, false) }
        }
        var probes = Probes()
        for (path, isPatched) in paths {
            guard let status = FileStatus.lstat(root + "/" + path), status.kind == .regular,
                  let bytes = readHead(root + "/" + path, limit: probeBytes) else { continue }
            if bytes.starts(with: [0x7f, 0x45, 0x4c, 0x46]) { continue }  // ELF: not a probe
            probes.contents.append(bytes)
            // A probe that names no prefix at all (conda's `#!/usr/bin/env`
            // for a long #! line, or left holding its placeholder) proves
            // nothing about where the environment was.
            let placeholder = env.managed[path]?.entry.prefixPlaceholder.map { Array($0.utf8) } ?? []
            let provesNothing = bytes.starts(with: Array("#!/usr/bin/env ".utf8))
                || (!placeholder.isEmpty && holdsPath(bytes, placeholder))
            if isPatched && !provesNothing { probes.patched.append(path) }
            // `#!OLD/bin/NAME` where bin/NAME is in this environment.
            guard isPatched, bytes.starts(with: [0x23, 0x21]) else { continue }
            let line = bytes.prefix { $0 != 0x0a }
            if let (interpreter, _) = parseShebang(Array(line)),
               let range = interpreter.range(of: "/bin/", options: .backwards) {
                let name = String(interpreter[range.upperBound...])
                let old = String(interpreter[..<range.lowerBound])
                if !name.isEmpty, !name.contains("/"), old.hasPrefix("/"),
                   FileStatus.lstat(root + "/bin/" + name) != nil {
                    probes.shebangPrefixes.append(old)
                }
            }
        }
        return probes
    }

    static func readHead(_ path: String, limit: Int) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: limit)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, limit) }
        guard n >= 0 else { return nil }
        return Array(buffer.prefix(n))
    }

    static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }
}
