// Shebang lines of scripts whose interpreter lives in the environment. They
// must work without activation and without PATH: never `#!/usr/bin/env
// python`, which on a real machine silently runs another python. The new
// line is the absolute interpreter path when it fits the kernel's limit and
// has no blanks; otherwise a `#!/bin/sh` trampoline that execs the
// interpreter, written so that the interpreter itself ignores it (conda's
// trick for python; the classic ones for shells, perl and tcl).
#if canImport(Glibc)
import Glibc
#endif

/// The traditional limit of a shebang line (BINPRM_BUF_SIZE before Linux 5.1).
public let classicShebangLimit = 127
/// Linux 5.1 and later read 255 bytes of the line.
public let modernShebangLimit = 255

public struct ShebangError: Error, Equatable, CustomStringConvertible {
    public var interpreter: String
    public var length: Int
    public var description: String {
        "its #! line would be \(length) bytes, too long for the kernel, and envpack has no trampoline for the interpreter \(lastComponent(interpreter))"
    }
}

/// Splits `#!interpreter argument` (without the newline).
public func parseShebang(_ line: [UInt8]) -> (interpreter: String, argument: String)? {
    guard line.count > 2, line[0] == 0x23, line[1] == 0x21 else { return nil }
    var rest = line[2...].drop { $0 == 0x20 || $0 == 0x09 }
    while let last = rest.last, last == 0x20 || last == 0x09 || last == 0x0d { rest = rest.dropLast() }
    guard let split = rest.firstIndex(where: { $0 == 0x20 || $0 == 0x09 }) else {
        return (String(decoding: rest, as: UTF8.self), "")
    }
    let argument = rest[split...].drop { $0 == 0x20 || $0 == 0x09 }
    return (String(decoding: rest[..<split], as: UTF8.self), String(decoding: argument, as: UTF8.self))
}

/// The kernel's shebang limit on this machine.
public func runningKernelShebangLimit() -> Int {
    var name = utsname()
    guard uname(&name) == 0 else { return classicShebangLimit }
    let release = withUnsafeBytes(of: &name.release) { raw in
        String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
    }
    let numbers = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
    guard numbers.count == 2 else { return classicShebangLimit }
    return (numbers[0], numbers[1]) >= (5, 1) ? modernShebangLimit : classicShebangLimit
}

/// The new first line (or lines, for a trampoline; no final newline) for a
/// script run by `interpreter` with an optional single `argument`.
public func relocatedShebang(interpreter: String, argument: String,
                             kernelLimit: Int = classicShebangLimit) throws(ShebangError) -> String {
    let direct = "#!" + interpreter + (argument.isEmpty ? "" : " " + argument)
    let hasBlank = interpreter.contains(" ") || interpreter.contains("\t")
    if direct.utf8.count <= classicShebangLimit && !hasBlank { return direct }

    let name = lastComponent(interpreter)
    let quoted = shellQuoted(interpreter)
    let arg = argument.isEmpty ? "" : " " + shellQuoted(argument)
    if name.hasPrefix("python") || name.hasPrefix("pypy") {
        // conda's: for sh, '''exec' is exec; for python, a string literal.
        return "#!/bin/sh\n'''exec' \(quoted)\(arg) \"$0\" \"$@\" #'''"
    }
    if ["sh", "bash", "dash", "zsh", "ksh", "mksh"].contains(name) {
        // The shell re-reads these lines; the variable makes it skip the exec.
        return "#!/bin/sh\nif [ -z \"${ENVPACK_SHEBANG_EXEC-}\" ]; then ENVPACK_SHEBANG_EXEC=1; export ENVPACK_SHEBANG_EXEC; exec \(quoted)\(arg) \"$0\" \"$@\"; fi; unset ENVPACK_SHEBANG_EXEC"
    }
    if name.hasPrefix("perl") {
        // perl -x skips to the #!perl line; `if 0` hides the eval from perl.
        return "#!/bin/sh\neval 'exec \(quoted) -x \"$0\" ${1+\"$@\"}'\n    if 0;\n#!perl\(argument.isEmpty ? "" : " " + argument)"
    }
    if name.hasPrefix("tclsh") || name.hasPrefix("wish") {
        // Tcl continues the comment onto the next line; sh does not.
        return "#!/bin/sh\n# \\\nexec \(quoted)\(arg) \"$0\" \"$@\""
    }
    if direct.utf8.count <= kernelLimit && !hasBlank { return direct }
    throw ShebangError(interpreter: interpreter, length: direct.utf8.count)
}

/// Double-quoted for sh, with the characters that stay special escaped.
func shellQuoted(_ s: String) -> String {
    var out = "\""
    for c in s {
        if c == "\"" || c == "\\" || c == "$" || c == "`" { out.append("\\") }
        out.append(c)
    }
    return out + "\""
}

/// `#!/usr/bin/env NAME` for a script whose interpreter the environment
/// lacks, as conda writes; with an argument, `env -S` splits the line.
public func envShebang(interpreter: String, argument: String) -> String {
    let name = lastComponent(interpreter)
    return argument.isEmpty ? "#!/usr/bin/env \(name)" : "#!/usr/bin/env -S \(name) \(argument)"
}

/// Whether the environment at `root` has the interpreter at `inside` (a
/// path inside it, starting with "/"): an executable, through symlinks.
public func interpreterExists(root: String, inside: String) -> Bool {
    guard inside.hasPrefix("/"), !inside.split(separator: "/").contains("..") else { return false }
    return access(root + inside, X_OK) == 0
}

// MARK: - Location-independent launchers (pack's default)

/// The sh words that set `d` to the environment's root from the script's
/// own real path (`$0`, through symlinks), for a script at `scriptPath`
/// (relative to the root). One line, no single quote, no backslash: it
/// must sit inside python's `'''` string, perl's `eval '...'` and a Tcl
/// comment unchanged.
func rootFinder(scriptPath: String) -> String {
    let depth = scriptPath.split(separator: "/").count - 1
    let up = depth == 0 ? "" : "/" + Array(repeating: "..", count: depth).joined(separator: "/")
    return "f=$0; case $f in */*) ;; *) f=./$f;; esac; "
        + "while [ -h \"$f\" ]; do l=$(readlink -- \"$f\") || exit 1; case $l in /*) f=$l;; *) f=${f%/*}/$l;; esac; done; "
        + "d=$(CDPATH= cd -P -- \"${f%/*}\(up)\" && pwd) || exit 1"
}

/// The lines (after `#!/bin/sh` and the comment lines kept after it; no
/// final newline) of a launcher that runs the environment's interpreter
/// at `interpreterInside` (relative to the root, starting with "/") on the
/// script at `scriptPath`, wherever the environment is; nil for an
/// interpreter envpack has no launcher for, or a path it cannot quote.
/// - Parameter joinsDocstring: python only: the script's own docstring
///   follows, and is joined to the launcher's string (a backslash after
///   it), so that it stays the first statement and `from __future__`
///   imports after it keep working.
public func portableLauncher(interpreterInside: String, argument: String, scriptPath: String,
                             joinsDocstring: Bool = false) -> String? {
    guard interpreterInside.hasPrefix("/"), !interpreterInside.split(separator: "/").contains(".."),
          !(interpreterInside + argument).utf8.contains(where: { $0 < 0x20 || [0x22, 0x24, 0x27, 0x5c, 0x60, 0x7f].contains($0) }),
          !scriptPath.isEmpty else { return nil }
    let name = lastComponent(interpreterInside)
    let target = "\"$d" + String(shellQuoted(interpreterInside).dropFirst())
    let arg = argument.isEmpty ? "" : " " + shellQuoted(argument)
    let finder = rootFinder(scriptPath: scriptPath)
    if name.hasPrefix("python") || name.hasPrefix("pypy") {
        // sh runs `true; ...; exec`; python sees one string literal.
        return "'''true'; \(finder); exec \(target)\(arg) \"$0\" \"$@\" #'''" + (joinsDocstring ? " \\" : "")
    }
    guard !joinsDocstring else { return nil }
    if ["sh", "bash", "dash", "zsh", "ksh", "mksh"].contains(name) {
        return "if [ -z \"${ENVPACK_SHEBANG_EXEC-}\" ]; then ENVPACK_SHEBANG_EXEC=1; export ENVPACK_SHEBANG_EXEC; \(finder); exec \(target)\(arg) \"$0\" \"$@\"; fi; unset ENVPACK_SHEBANG_EXEC"
    }
    if name.hasPrefix("perl") {
        return "eval '\(finder); exec \(target) -x \"$0\" ${1+\"$@\"}'\n    if 0;\n#!perl\(argument.isEmpty ? "" : " " + argument)"
    }
    if name.hasPrefix("tclsh") || name.hasPrefix("wish") {
        return "# \\\n\(finder); exec \(target)\(arg) \"$0\" \"$@\""
    }
    return nil
}

/// A script's head made location-independent: `#!/bin/sh`, the comment
/// and blank lines that followed its `#!` line (a python coding line stays
/// on line 2), then the launcher. `line` is the old first line (no
/// newline), `rest` the bytes after its newline (at least the head).
/// Returns the edits to apply (on the file's offsets) and the original
/// interpreter (inside the root) with its argument, or nil when the line
/// does not name an interpreter inside `prefix` that envpack can launch.
public func portableShebangEdits(line: [UInt8], rest: ArraySlice<UInt8>, scriptPath: String, prefix: String,
                                 interpreterExists: (String) -> Bool) -> (edits: [Edit], original: String)? {
    guard line.last != 0x0d, let (interpreter, argument) = parseShebang(line),
          let inside = pathInside(interpreter, prefix: prefix), !inside.isEmpty, interpreterExists(inside) else { return nil }
    let name = lastComponent(inside)
    let isPython = name.hasPrefix("python") || name.hasPrefix("pypy")
    // Comment and blank lines right after the `#!` line (a bounded few).
    var cursor = rest.startIndex
    if isPython {
        var lines = 0
        while cursor < rest.endIndex, lines < 64 {
            guard let nl = rest[cursor...].firstIndex(of: 0x0a) else { break }
            let body = rest[cursor..<nl].drop { $0 == 0x20 || $0 == 0x09 || $0 == 0x0c }
            guard body.isEmpty || body.first == 0x23 else { break }
            cursor = nl + 1
            lines += 1
        }
    }
    let joins = isPython && startsDocstring(rest[cursor...])
    guard let launcher = portableLauncher(interpreterInside: inside, argument: argument, scriptPath: scriptPath,
                                          joinsDocstring: joins) else { return nil }
    let lineEnd = line.count
    var edits = [Edit(offset: 0, expected: line, replacement: Array("#!/bin/sh".utf8))]
    let insertAt = lineEnd + 1 + (cursor - rest.startIndex)
    edits.append(Edit(offset: insertAt, expected: [], replacement: Array((launcher + "\n").utf8)))
    return (edits, inside + (argument.isEmpty ? "" : " " + argument))
}

/// Whether python source starts with a plain string literal (a docstring
/// the launcher's string can be joined to; not bytes, not an f-string).
func startsDocstring(_ text: ArraySlice<UInt8>) -> Bool {
    var i = text.startIndex
    if i < text.endIndex, [0x72, 0x52, 0x75, 0x55].contains(text[i]) { i += 1 }   // r R u U
    return i < text.endIndex && (text[i] == 0x22 || text[i] == 0x27)
}
