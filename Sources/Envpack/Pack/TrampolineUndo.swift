// A script moved by envpack to a long path has a `#!/bin/sh` trampoline in
// place of its `#!INTERPRETER` line (see EnvpackRelocation/Shebang.swift).
// To check such a script against its package's hash, pack puts the original
// line back, but only when the head of the file is exactly the trampoline
// envpack would write for that interpreter: anything else is left alone and
// counts as a change.
import EnvpackRelocation

enum TrampolineUndo {
    /// The original `#!INTERPRETER[ ARGUMENT]` line for a file that starts
    /// with one of envpack's trampolines, and how many bytes of the head the
    /// trampoline takes (the newline after it is not part of either).
    static func originalLine(head: UnsafeRawBufferPointer, envShebang: String? = nil) -> (line: [UInt8], consumed: Int)? {
        // A `#!/usr/bin/env NAME` line envpack wrote for an interpreter the
        // environment lacks; the manifest names the line it replaced.
        if let envShebang, let (interpreter, argument) = parseShebang(Array(("#!" + envShebang).utf8)) {
            let bytes = Array(EnvpackRelocation.envShebang(interpreter: interpreter, argument: argument).utf8)
            if bytes.count < head.count, head.starts(with: bytes), head[bytes.count] == 0x0a {
                return (Array(("#!" + envShebang).utf8), bytes.count)
            }
        }
        let start = Array("#!/bin/sh\n".utf8)
        guard head.count > start.count, head.starts(with: start) else { return nil }
        let text = String(decoding: head.prefix(8192), as: UTF8.self)
        guard let execRange = text.range(of: "exec") else { return nil }
        let quoted = quotedTokens(text[execRange.upperBound...])
        guard let interpreter = quoted.first else { return nil }
        var arguments = [""]
        if quoted.count > 1, quoted[1] != "$0" { arguments.append(quoted[1]) }
        // perl's trampoline keeps the argument on its `#!perl` line.
        if let perl = text.range(of: "\n#!perl") {
            let rest = text[perl.upperBound...].prefix { $0 != "\n" }
            if rest.hasPrefix(" ") { arguments.append(String(rest.dropFirst())) }
        }
        for argument in arguments {
            guard let line = try? relocatedShebang(interpreter: interpreter, argument: argument,
                                                   kernelLimit: modernShebangLimit) else { continue }
            let bytes = Array(line.utf8)
            if bytes.count < head.count, head.starts(with: bytes), head[bytes.count] == 0x0a {
                let original = "#!" + interpreter + (argument.isEmpty ? "" : " " + argument)
                return (Array(original.utf8), bytes.count)
            }
        }
        return nil
    }

    /// Double-quoted sh words, unescaped (`\"`, `\\`, `\$`, `` \` ``).
    static func quotedTokens(_ text: Substring) -> [String] {
        var tokens: [String] = []
        var current = ""
        var inQuote = false
        var escaped = false
        for ch in text.prefix(4096) {
            if ch == "\n" && !inQuote { break }
            if inQuote {
                if escaped { current.append(ch); escaped = false; continue }
                if ch == "\\" { escaped = true; continue }
                if ch == "\"" { tokens.append(current); current = ""; inQuote = false; continue }
                current.append(ch)
            } else if ch == "\"" {
                inQuote = true
            }
        }
        return tokens
    }
}
