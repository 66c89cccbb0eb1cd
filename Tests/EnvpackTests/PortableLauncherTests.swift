// The `#!/bin/sh` launchers pack writes in place of `#!PREFIX/bin/INTERP`
// lines (EnvpackRelocation/Shebang.swift): for python, the sh family, perl
// and Tcl, each script runs its environment's interpreter, with its
// argument and the caller's arguments, from wherever the environment is
// moved (a deeper path, a path with a blank, through a symlink to the
// script), and pack can turn each launcher back into the exact bytes it
// replaced (to check the script against its package).
import EnvpackRelocation
import Foundation
import Testing
@testable import Envpack

@Suite struct PortableLauncherTests {
    /// Interpreters of a fake environment (links to the system's) and a
    /// script for each that prints its interpreter, argument effect and
    /// arguments.
    static let cases: [(interp: String, system: String, arg: String, body: String)] = [
        ("python3", "/usr/bin/python3", "-E", "\"\"\"Doc of the tool.\"\"\"\nfrom __future__ import annotations\nimport sys\ndef f(x: Undefined) -> None: pass\nprint('py', sys.flags.ignore_environment, __doc__.endswith('Doc of the tool.'), *sys.argv[1:])\n"),
        ("python3", "/usr/bin/python3", "", "# -*- coding: latin-1 -*-\n# a comment\n\nfrom __future__ import annotations\nimport sys\nprint('py2', *sys.argv[1:])\n"),
        ("python3", "/usr/bin/python3", "", "import sys\nprint('py3', __doc__ is not None, *sys.argv[1:])\n"),
        ("sh", "/bin/dash", "-e", "echo sh \"$@\"\n"),
        ("bash", "/usr/bin/bash", "", "echo bash ${BASH_VERSION:+yes} \"$@\"\n"),
        ("perl", "/usr/bin/perl", "-w", "use strict;\nprint join(' ', 'perl', $^W, @ARGV), \"\\n\";\n"),
        ("tclsh", "/usr/bin/tclsh", "", "puts \"tcl [join $argv { }]\"\n"),
    ]
    static let expected = ["py 1 True a b", "py2 a b", "py3 True a b", "sh a b", "bash yes a b", "perl 1 a b", "tcl a b"]

    @Test func launchersRunTheMovedEnvironmentsInterpreterAndUndoExactly() throws {
        let dir = try TestSupport.temporaryDirectory("launch")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let old = dir + "/old/env"
        let new = dir + "/new place/deeper/env"
        let fm = FileManager.default
        for root in [old, new] {
            try fm.createDirectory(atPath: root + "/bin", withIntermediateDirectories: true)
            try fm.createDirectory(atPath: root + "/share/tool/x", withIntermediateDirectories: true)
            for (interp, system, _, _) in Self.cases where !fm.fileExists(atPath: root + "/bin/" + interp) {
                try fm.createSymbolicLink(atPath: root + "/bin/" + interp, withDestinationPath: system)
            }
        }
        for (i, c) in Self.cases.enumerated() {
            for path in ["bin/tool\(i)", "share/tool/x/tool\(i)"] {
                let original = Array(("#!\(old)/bin/\(c.interp)" + (c.arg.isEmpty ? "" : " " + c.arg) + "\n" + c.body).utf8)
                let nl = original.firstIndex(of: 0x0a)!
                let planned = try #require(portableShebangEdits(line: Array(original[..<nl]), rest: original[(nl + 1)...], scriptPath: path, prefix: old,
                                                                interpreterExists: { interpreterExists(root: old, inside: $0) }),
                                           "no launcher for \(c.interp)")
                #expect(planned.original == "/bin/\(c.interp)" + (c.arg.isEmpty ? "" : " " + c.arg))
                var edited: [UInt8] = []
                var position = 0
                for edit in planned.edits {
                    edited += original[position..<edit.offset] + edit.replacement
                    position = edit.offset + edit.expected.count
                }
                edited += original[position...]
                #expect(!edited.containsSequence(Array(old.utf8)), "\(path) still names the prefix")
                try Data(edited).write(to: URL(fileURLWithPath: new + "/" + path))
                chmod(new + "/" + path, 0o755)

                // Runs the interpreter of the new place, by absolute path,
                // by a relative one, and through a symlink from elsewhere.
                try? fm.removeItem(atPath: dir + "/link")
                try fm.createSymbolicLink(atPath: dir + "/link", withDestinationPath: new + "/" + path)
                for program in [new + "/" + path, dir + "/link"] {
                    let r = try TestSupport.run("/usr/bin/env", ["-i", "PATH=/usr/bin:/bin", program, "a", "b"])
                    #expect(String(decoding: r.stdout, as: UTF8.self) == Self.expected[i] + "\n", "\(program) (\(c.interp)): \(r.stderr)")
                }
                let relative = try TestSupport.run("/bin/sh", ["-c", "cd \"\(new)/..\" && ./env/\(path) a b"])
                #expect(String(decoding: relative.stdout, as: UTF8.self) == Self.expected[i] + "\n", "relative \(path): \(relative.stderr)")

                // Pack turns it back into the original line, for any prefix.
                let undo = edited.withUnsafeBytes { TrampolineUndo.originalLine(head: $0, scriptPath: path, prefix: old) }
                let (line, consumed) = try #require(undo, "\(path): launcher not recognised")
                #expect(line + Array(edited[consumed...]) == original, "\(path): undo differs")
                // A script at another depth (a launcher copied elsewhere) is not it.
                #expect(edited.withUnsafeBytes { TrampolineUndo.originalLine(head: $0, scriptPath: "a/b/other", prefix: old) } == nil)
            }
        }
    }
}

extension Array where Element == UInt8 {
    func containsSequence(_ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, count >= needle.count else { return false }
        return (0...(count - needle.count)).contains { self[$0..<($0 + needle.count)].elementsEqual(needle) }
    }
}
