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
func interpreterExists(root: String, inside: String) -> Bool {
    guard inside.hasPrefix("/"), !inside.split(separator: "/").contains("..") else { return false }
    return access(root + inside, X_OK) == 0
}
