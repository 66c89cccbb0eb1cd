import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import EnvpackRelocation

@Suite struct ShebangTests {
    @Test func parsesInterpreterAndArgument() {
        #expect(parseShebang(Array("#!/opt/env/bin/python3 -E".utf8))! == ("/opt/env/bin/python3", "-E"))
        #expect(parseShebang(Array("#! /opt/env/bin/perl\r".utf8))! == ("/opt/env/bin/perl", ""))
        #expect(parseShebang(Array("# not a shebang".utf8)) == nil)
    }

    @Test func shortPathsStayDirect() throws {
        #expect(try relocatedShebang(interpreter: "/new/bin/python3.12", argument: "") == "#!/new/bin/python3.12")
        #expect(try relocatedShebang(interpreter: "/new/bin/perl", argument: "-w") == "#!/new/bin/perl -w")
    }

    @Test func longOrBlankPathsGetTrampolines() throws {
        let long = "/" + String(repeating: "p", count: 150)
        let python = try relocatedShebang(interpreter: long + "/bin/python3.12", argument: "")
        #expect(python == "#!/bin/sh\n'''exec' \"\(long)/bin/python3.12\" \"$0\" \"$@\" #'''")
        let spaced = try relocatedShebang(interpreter: "/my env/bin/python", argument: "")
        #expect(spaced.hasPrefix("#!/bin/sh\n'''exec' \"/my env/bin/python\""))
        let bash = try relocatedShebang(interpreter: long + "/bin/bash", argument: "")
        #expect(bash.hasPrefix("#!/bin/sh\nif [ -z \"${ENVPACK_SHEBANG_EXEC-}\" ]"))
        let perl = try relocatedShebang(interpreter: long + "/bin/perl", argument: "")
        #expect(perl.contains("-x") && perl.hasSuffix("#!perl"))
        let tcl = try relocatedShebang(interpreter: long + "/bin/tclsh8.6", argument: "")
        #expect(tcl == "#!/bin/sh\n# \\\nexec \"\(long)/bin/tclsh8.6\" \"$0\" \"$@\"")
    }

    @Test func unknownInterpretersUseTheKernelLimit() throws {
        let long = "/" + String(repeating: "p", count: 150)
        #expect(try relocatedShebang(interpreter: long + "/bin/demo", argument: "", kernelLimit: 255) == "#!\(long)/bin/demo")
        #expect(throws: ShebangError.self) { try relocatedShebang(interpreter: long + "/bin/demo", argument: "", kernelLimit: 127) }
        let tooLong = "/" + String(repeating: "p", count: 300)
        #expect(throws: ShebangError.self) { try relocatedShebang(interpreter: tooLong + "/bin/demo", argument: "", kernelLimit: 255) }
    }

    /// The trampolines are not only well-formed: sh runs them and the
    /// target language ignores them.
    @Test func pythonTrampolineRunsPython() throws {
        let script = try relocatedShebang(interpreter: "/usr/bin/python3", argument: "") + "\nimport sys\nprint('hello from', sys.argv[1])\n"
        let path = "/tmp/envpack-trampoline-\(UInt32.random(in: 0...UInt32.max)).py"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o755)
        _ = Array(script.utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        defer { unlink(path) }
        var pid: pid_t = 0
        var pipeFDs: [Int32] = [0, 0]
        pipe(&pipeFDs)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 1)
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup(path), strdup("world"), nil]
        #expect(posix_spawn(&pid, path, &actions, nil, argv, nil) == 0)
        close(pipeFDs[1])
        var out = [UInt8](repeating: 0, count: 256)
        let n = read(pipeFDs[0], &out, 256)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        #expect(String(decoding: out[0..<max(n, 0)], as: UTF8.self) == "hello from world\n")
    }
}

@Suite struct RPathTests {
    @Test func entriesIntoThePrefixBecomeOriginRelative() {
        #expect(relocatedRPath("/old/lib", placeholder: "/old", objectDirectory: "bin") == "$ORIGIN/../lib")
        #expect(relocatedRPath("/old/lib", placeholder: "/old", objectDirectory: "lib") == "$ORIGIN")
        #expect(relocatedRPath("/old/lib:/old/lib/python3.12", placeholder: "/old", objectDirectory: "lib/python3.12/lib-dynload")
                == "$ORIGIN/../..:$ORIGIN/..")
    }

    @Test func buildPathsAreDroppedAndRelativeOnesKept() {
        #expect(relocatedRPath("/old/lib:/home/conda/feedstock_root/build_artifacts/x/_build_env/lib", placeholder: "/old", objectDirectory: "lib")
                == "$ORIGIN")
        #expect(relocatedRPath("$ORIGIN/../lib:/old/lib", placeholder: "/old", objectDirectory: "bin") == "$ORIGIN/../lib")
        // A prefix that is only a string prefix of a component is not inside
        // it; a system location outside the environment is kept.
        #expect(relocatedRPath("/old2/lib", placeholder: "/old", objectDirectory: "bin") == "/old2/lib")
    }
}

@Suite struct BinaryReplacementTests {
    @Test func padsWithNulsToTheSameLength() {
        let s = Array("/old/prefix/share/x".utf8)
        let r = relocatedCString(s[...], old: Array("/old/prefix".utf8), new: Array("/new".utf8))!
        #expect(r.count == s.count)
        #expect(Array(r.prefix(15)) == Array("/new/share/x".utf8) + [0, 0, 0])
    }

    @Test func replacesEveryOccurrenceInTheString() {
        let s = Array("-I/old/include -L/old/lib".utf8)
        let r = relocatedCString(s[...], old: Array("/old".utf8), new: Array("/n".utf8))!
        #expect(String(decoding: r.prefix { $0 != 0 }, as: UTF8.self) == "-I/n/include -L/n/lib")
    }

    @Test func longerPrefixFitsOnlyInItsRoom() {
        let s = Array("/old/lib".utf8)
        #expect(relocatedCString(s[...], old: Array("/old".utf8), new: Array("/longer".utf8)) == nil)
        let r = relocatedCString(s[...], old: Array("/old".utf8), new: Array("/longer".utf8), capacity: s.count + 3)!
        #expect(r == Array("/longer/lib".utf8))
    }
}

@Suite struct PathSupportTests {
    @Test func relativePaths() {
        #expect(relativePath(from: "bin", to: "lib") == "../lib")
        #expect(relativePath(from: "", to: "lib") == "lib")
        #expect(relativePath(from: "lib/a/b", to: "lib") == "../..")
        #expect(relativePath(from: "lib", to: "lib") == "")
        #expect(parentDirectory("a/b/c") == "a/b" && parentDirectory("c") == "")
    }
}
