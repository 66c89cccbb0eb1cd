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
    static func originalLine(head: UnsafeRawBufferPointer, envShebang: String? = nil,
                             scriptPath: String? = nil, prefix: String? = nil) -> (line: [UInt8], consumed: Int)? {
        if let scriptPath, let prefix, let undo = portableOriginal(head: head, scriptPath: scriptPath, prefix: prefix) {
            return undo
        }
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

    /// A location-independent launcher pack wrote (portableShebangEdits):
    /// the original `#!PREFIX/...` line followed by the comment lines kept
    /// after `#!/bin/sh` (the whole head before the launcher's newline), and
    /// the launcher's end. Recognised only when writing the launcher for
    /// that line again gives exactly the head.
    static func portableOriginal(head: UnsafeRawBufferPointer, scriptPath: String, prefix: String) -> (line: [UInt8], consumed: Int)? {
        let start = Array("#!/bin/sh\n".utf8)
        guard head.count > start.count, head.starts(with: start) else { return nil }
        let bytes = Array(head.prefix(PortableEdits.headSize))
        let text = String(decoding: bytes, as: UTF8.self)
        guard let execRange = text.range(of: "exec \"$d/") else { return nil }
        let quoted = quotedTokens(text[text.index(execRange.lowerBound, offsetBy: 5)...])
        guard let first = quoted.first, first.hasPrefix("$d/") else { return nil }
        let inside = String(first.dropFirst(2))
        var arguments = [""]
        if quoted.count > 1, quoted[1] != "$0" { arguments.append(quoted[1]) }
        if let perl = text.range(of: "\n#!perl ") {
            arguments.append(String(text[perl.upperBound...].prefix { $0 != "\n" }))
        }
        for argument in arguments {
            let line = Array(("#!" + prefix + inside + (argument.isEmpty ? "" : " " + argument)).utf8)
            for joins in [false, true] {
                guard let launcher = portableLauncher(interpreterInside: inside, argument: argument,
                                                      scriptPath: scriptPath, joinsDocstring: joins) else { continue }
                let needle = Array((launcher + "\n").utf8)
                // The launcher follows `#!/bin/sh\n` and the kept comment lines.
                guard let at = firstIndex(of: needle, in: bytes, from: start.count) else { continue }
                let comments = Array(bytes[start.count..<at])
                let after = bytes[(at + needle.count)...]
                guard let (edits, _) = portableShebangEdits(line: line, rest: (comments + after)[...], scriptPath: scriptPath,
                                                            prefix: prefix, interpreterExists: { _ in true }),
                      edits.count == 2, edits[1].offset == line.count + 1 + comments.count,
                      edits[1].replacement == needle else { continue }
                let consumed = at + needle.count - 1
                let original = comments.isEmpty ? line : line + [0x0a] + comments.dropLast()
                return (original, consumed)
            }
        }
        return nil
    }

    static func firstIndex(of needle: [UInt8], in bytes: [UInt8], from: Int) -> Int? {
        guard !needle.isEmpty, bytes.count >= needle.count, from <= bytes.count - needle.count else { return nil }
        for i in from...(bytes.count - needle.count) where bytes[i] == needle[0] {
            if bytes[i..<(i + needle.count)].elementsEqual(needle) { return i }
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
