// Runs bin/activate, bin/deactivate and bin/activate.fish (ActivationScripts)
// in real shells: bash (also under `set -u`), dash, zsh and fish, against a
// small fake environment with a program and activate.d/deactivate.d hooks.
// A missing shell fails the tests (install with `apt-get install -y zsh fish`).
import Foundation
import Testing
@testable import Envpack

@Suite struct ActivationScriptTests {
    /// The POSIX shells the scripts are run in.
    enum Shell: String, CaseIterable, CustomTestStringConvertible, Sendable {
        case bash, bashNounset, dash, zsh

        var executable: String {
            switch self {
            case .bash, .bashNounset: "/bin/bash"
            case .dash: "/bin/dash"
            case .zsh: "/usr/bin/zsh"
            }
        }
        /// Options before `-c script`; no startup files anywhere.
        var options: [String] {
            switch self {
            case .bash: ["--norc", "--noprofile"]
            case .bashNounset: ["--norc", "--noprofile", "-u"]
            case .dash: []
            case .zsh: ["-f"]
            }
        }
        /// Lists the shell's functions, one name a line (dash cannot).
        var listFunctions: String {
            switch self {
            case .bash, .bashNounset: "declare -F"
            case .dash: ":"
            case .zsh: "print -l ${(ko)functions}"
            }
        }
        var testDescription: String { rawValue }
    }

    static let fish = "/usr/bin/fish"

    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
        var all: String { "exit status \(status)\n--- stdout:\n\(stdout)--- stderr:\n\(stderr)" }
    }

    // MARK: helpers

    /// Runs `executable arguments... -c script` in `directory` with a small
    /// fixed environment plus `environment`. Standard error goes through a
    /// temporary file so that only one pipe is read.
    static func run(_ executable: String, _ arguments: [String], script: String, in directory: String,
                    environment: [String: String] = [:]) throws -> Output {
        try #require(FileManager.default.isExecutableFile(atPath: executable),
                     "\(executable) is missing: these tests need bash, dash, zsh and fish (apt-get install -y zsh fish)")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments + ["-c", script]
        p.currentDirectoryURL = URL(fileURLWithPath: directory)
        var env = ["PATH": "/usr/bin:/bin", "HOME": directory, "LC_ALL": "C", "TERM": "dumb"]
        env.merge(environment) { $1 }
        p.environment = env
        let errPath = directory + "/.stderr-\(UUID().uuidString)"
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: errPath) }
        let errHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        let outPipe = Pipe()
        p.standardOutput = outPipe
        p.standardError = errHandle
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let out = outPipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        try errHandle.close()
        let err = FileManager.default.contents(atPath: errPath) ?? Data()
        return Output(status: p.terminationStatus, stdout: String(decoding: out, as: UTF8.self),
                      stderr: String(decoding: err, as: UTF8.self))
    }

    /// A fresh temporary directory of this test's own (with a space in its
    /// name, to keep the scripts' quoting honest).
    static func temporaryDirectory() throws -> String {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("envpack-activate \(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // Physical path: the scripts report a `pwd -P` prefix.
        return URL(fileURLWithPath: dir).resolvingSymlinksInPath().path
    }

    /// A fake environment `dir/name`: the activation scripts (mode 0644), an
    /// executable bin/hello, and hooks that set ENVPACK_TEST_HOOK to
    /// $CONDA_PREFIX on activation and unset it on deactivation.
    @discardableResult
    static func makeEnvironment(in dir: String, name: String) throws -> String {
        let env = dir + "/" + name
        let fm = FileManager.default
        for sub in ["bin", "etc/conda/activate.d", "etc/conda/deactivate.d"] {
            try fm.createDirectory(atPath: env + "/" + sub, withIntermediateDirectories: true)
        }
        func write(_ path: String, _ text: String, mode: Int) throws {
            try #require(fm.createFile(atPath: env + "/" + path, contents: Data(text.utf8),
                                       attributes: [.posixPermissions: mode]), "cannot write \(path)")
        }
        for file in ActivationScripts.files {
            try write(file.path, file.contents, mode: 0o644)
        }
        try write("bin/hello", "#!/bin/sh\necho hello from envpack\n", mode: 0o755)
        try write("etc/conda/activate.d/x.sh", "export ENVPACK_TEST_HOOK=\"$CONDA_PREFIX\"\n", mode: 0o644)
        try write("etc/conda/deactivate.d/x.sh", "unset ENVPACK_TEST_HOOK\n", mode: 0o644)
        try write("etc/conda/activate.d/x.fish", "set -gx ENVPACK_TEST_HOOK \"$CONDA_PREFIX\"\n", mode: 0o644)
        try write("etc/conda/deactivate.d/x.fish", "set -e ENVPACK_TEST_HOOK\n", mode: 0o644)
        return env
    }

    /// Test helpers for the POSIX scripts, all named t_* / T_* (left out of the
    /// variable comparison). `t_expect label actual wanted` prints FAIL lines;
    /// `t_state` prints every variable activation touches, set or unset;
    /// `t_snapshot file` records variable names and functions.
    static func posixPrelude(_ shell: Shell) -> String {
        #"""
        t_failed=0
        t_expect() {
            if [ "$2" != "$3" ]; then
                printf 'FAIL %s:\n  got:  [%s]\n  want: [%s]\n' "$1" "$2" "$3"
                t_failed=1
            fi
        }
        t_state() {
            for t_v in PATH PS1 CONDA_PREFIX CONDA_DEFAULT_ENV CONDA_SHLVL ENVPACK_TEST_HOOK; do
                eval "if [ -n \"\${$t_v+x}\" ]; then printf '%s=[%s]\n' $t_v \"\$$t_v\"; else echo $t_v unset; fi"
            done
        }
        t_snapshot() {
            set | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' |
                grep -v -e '^[tT]_' -e '^_$' -e '^PIPESTATUS$' -e '^BASH_REMATCH$' | sort -u > "$1"
            \#(shell.listFunctions) >> "$1"
        }
        t_done() {
            if [ "$t_failed" = 0 ]; then echo ALL-CHECKS-PASSED; fi
        }

        """#
    }

    /// Runs a POSIX test script (after the prelude) and expects every check to pass.
    static func expectPasses(_ shell: Shell, _ script: String, in dir: String,
                             environment: [String: String] = [:]) throws {
        let full = (shell == .bashNounset ? "set -u\n" : "") + posixPrelude(shell) + script + "\nt_done\n"
        let r = try run(shell.executable, shell.options, script: full, in: dir, environment: environment)
        #expect(r.status == 0 && r.stdout.contains("ALL-CHECKS-PASSED") && !r.stdout.contains("FAIL")
                && r.stderr.isEmpty, "\(shell) run failed:\n\(r.all)")
    }

    // MARK: POSIX shells

    /// Activate by absolute path, check everything, deactivate with the
    /// function; again with `. bin/deactivate`; nothing left behind.
    @Test(arguments: Shell.allCases)
    func activateAndDeactivate(_ shell: Shell) throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let env = try Self.makeEnvironment(in: dir, name: "env one")
        try Self.expectPasses(shell, #"""
            PS1='t$ '
            t_snapshot "$T_DIR/before"; t_snapshot "$T_DIR/before"
            t_before=$(t_state)
            t_path=$PATH
            for t_how in function script; do
                . "$T_ENV/bin/activate"
                t_expect "$t_how: activate status" "$?" 0
                t_expect "$t_how: CONDA_PREFIX" "${CONDA_PREFIX-unset}" "$T_ENV"
                t_expect "$t_how: CONDA_DEFAULT_ENV" "${CONDA_DEFAULT_ENV-unset}" "env one"
                t_expect "$t_how: CONDA_SHLVL" "${CONDA_SHLVL-unset}" 1
                t_expect "$t_how: PATH" "$PATH" "$T_ENV/bin:$t_path"
                t_expect "$t_how: PS1" "$PS1" "(env one) t\$ "
                t_expect "$t_how: command -v hello" "$(command -v hello)" "$T_ENV/bin/hello"
                t_expect "$t_how: hello" "$(hello)" "hello from envpack"
                t_expect "$t_how: activate.d hook" "${ENVPACK_TEST_HOOK-unset}" "$T_ENV"
                t_expect "$t_how: CONDA_PREFIX exported" "$(/bin/sh -c 'echo "$CONDA_PREFIX"')" "$T_ENV"
                if [ "$t_how" = function ]; then
                    deactivate
                else
                    . "$T_ENV/bin/deactivate"
                fi
                t_expect "$t_how: deactivate status" "$?" 0
                t_expect "$t_how: state after deactivate" "$(t_state)" "$t_before"
                t_expect "$t_how: hello gone" "$(command -v hello || echo none)" none
                t_snapshot "$T_DIR/after"
                t_expect "$t_how: variables and functions" "$(diff "$T_DIR/before" "$T_DIR/after")" ""
                t_expect "$t_how: deactivate gone" "$(command -v deactivate || echo none)" none
            done
            # Nothing to deactivate now: bin/deactivate says so and fails.
            t_msg=$(. "$T_ENV/bin/deactivate" 2>&1)
            t_expect "deactivate when inactive" "$?" 1
            case $t_msg in *"no environment is active"*) ;; *) t_expect message "$t_msg" "no environment is active..." ;; esac
            """#, in: dir, environment: ["T_ENV": env, "T_DIR": dir])
    }

    /// CONDA_* already set (as under a conda base env) and PS1 unset: the
    /// level goes one up, PS1 stays unset, everything comes back exactly.
    @Test(arguments: Shell.allCases)
    func restoresVariablesThatWereSet(_ shell: Shell) throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let env = try Self.makeEnvironment(in: dir, name: "env one")
        try Self.expectPasses(shell, #"""
            unset PS1
            t_before=$(t_state)
            . "$T_ENV/bin/activate"
            t_expect "CONDA_PREFIX" "$CONDA_PREFIX" "$T_ENV"
            t_expect "CONDA_DEFAULT_ENV" "$CONDA_DEFAULT_ENV" "env one"
            t_expect "CONDA_SHLVL" "$CONDA_SHLVL" 2
            t_expect "PS1 still unset" "${PS1-unset}" unset
            deactivate
            t_expect "state after deactivate" "$(t_state)" "$t_before"
            t_expect "CONDA_PREFIX back" "$CONDA_PREFIX" "/opt/conda"
            """#, in: dir, environment: ["T_ENV": env, "CONDA_PREFIX": "/opt/conda",
                                         "CONDA_DEFAULT_ENV": "base", "CONDA_SHLVL": "1"])
    }

    /// ENVPACK_NO_PROMPT leaves PS1 alone.
    @Test(arguments: Shell.allCases)
    func promptOptOut(_ shell: Shell) throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let env = try Self.makeEnvironment(in: dir, name: "env one")
        try Self.expectPasses(shell, #"""
            PS1='t$ '
            t_before=$(t_state)
            . "$T_ENV/bin/activate"
            t_expect "PS1 untouched" "$PS1" "t\$ "
            t_expect "CONDA_PREFIX" "$CONDA_PREFIX" "$T_ENV"
            deactivate
            t_expect "state after deactivate" "$(t_state)" "$t_before"
            """#, in: dir, environment: ["T_ENV": env, "ENVPACK_NO_PROMPT": "1"])
    }

    /// Activating the same env again, then another one, deactivates first:
    /// one bin on PATH, one level, the other env's hooks; one deactivate
    /// restores the original state.
    @Test(arguments: Shell.allCases)
    func reactivationDeactivatesFirst(_ shell: Shell) throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let a = try Self.makeEnvironment(in: dir, name: "env a")
        let b = try Self.makeEnvironment(in: dir, name: "env b")
        try Self.expectPasses(shell, #"""
            PS1='t$ '
            t_snapshot "$T_DIR/before"; t_snapshot "$T_DIR/before"
            t_before=$(t_state)
            t_path=$PATH
            . "$T_A/bin/activate"
            . "$T_A/bin/activate"
            t_expect "A twice: PATH" "$PATH" "$T_A/bin:$t_path"
            t_expect "A twice: CONDA_SHLVL" "$CONDA_SHLVL" 1
            t_expect "A twice: PS1" "$PS1" "(env a) t\$ "
            . "$T_B/bin/activate"
            t_expect "then B: PATH" "$PATH" "$T_B/bin:$t_path"
            t_expect "then B: CONDA_PREFIX" "$CONDA_PREFIX" "$T_B"
            t_expect "then B: CONDA_DEFAULT_ENV" "$CONDA_DEFAULT_ENV" "env b"
            t_expect "then B: CONDA_SHLVL" "$CONDA_SHLVL" 1
            t_expect "then B: PS1" "$PS1" "(env b) t\$ "
            t_expect "then B: hook" "$ENVPACK_TEST_HOOK" "$T_B"
            t_expect "then B: hello" "$(command -v hello)" "$T_B/bin/hello"
            deactivate
            t_expect "state after deactivate" "$(t_state)" "$t_before"
            t_snapshot "$T_DIR/after"
            t_expect "variables and functions" "$(diff "$T_DIR/before" "$T_DIR/after")" ""
            """#, in: dir, environment: ["T_A": a, "T_B": b, "T_DIR": dir])
    }

    /// The prefix comes from where the script is: relative paths from the
    /// env's root and from bin/, a symlink to the script, a subshell, and
    /// after the env is renamed, from its new place.
    @Test(arguments: Shell.allCases)
    func prefixFollowsTheScript(_ shell: Shell) throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let env = try Self.makeEnvironment(in: dir, name: "env one")
        let checks = #"""
            PS1='t$ '
            t_before=$(t_state)
            cd "$T_ENV"
            . bin/activate
            t_expect "from root: CONDA_PREFIX" "$CONDA_PREFIX" "$T_ENV"
            t_expect "from root: hello" "$(command -v hello)" "$T_ENV/bin/hello"
            deactivate
            cd bin
            . ./activate
            t_expect "from bin: CONDA_PREFIX" "$CONDA_PREFIX" "$T_ENV"
            deactivate
            cd "$T_DIR"
            ln -s "$T_ENV/bin/activate" "$T_DIR/link to activate"
            . "$T_DIR/link to activate"
            t_expect "through a symlink: CONDA_PREFIX" "$CONDA_PREFIX" "$T_ENV"
            deactivate
            rm "$T_DIR/link to activate"
            t_expect "in a subshell" "$(. "$T_ENV/bin/activate" && echo "$CONDA_PREFIX")" "$T_ENV"
            t_expect "state after" "$(t_state)" "$t_before"
            """#
        try Self.expectPasses(shell, checks, in: dir, environment: ["T_ENV": env, "T_DIR": dir])

        // Rename the environment: the same checks pass at its new place.
        let moved = dir + "/moved env"
        try FileManager.default.moveItem(atPath: env, toPath: moved)
        try Self.expectPasses(shell, checks + #"""

            . "$T_ENV/bin/activate"
            t_expect "moved: CONDA_DEFAULT_ENV" "$CONDA_DEFAULT_ENV" "moved env"
            t_expect "moved: PS1" "$PS1" "(moved env) t\$ "
            t_expect "moved: hook" "$ENVPACK_TEST_HOOK" "$T_ENV"
            deactivate
            """#, in: dir, environment: ["T_ENV": moved, "T_DIR": dir])
    }

    /// Running activate instead of sourcing it is refused (bash can tell).
    @Test func runningActivateIsRefused() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let env = try Self.makeEnvironment(in: dir, name: "env one")
        let r = try Self.run("/bin/bash", [], script: #"bash "$T_ENV/bin/activate""#, in: dir,
                             environment: ["T_ENV": env])
        #expect(r.status == 1 && r.stderr.contains("source this script"), "\(r.all)")
    }

    // MARK: fish

    static let fishPrelude = #"""
        set -g t_failed 0
        function t_expect
            if test "$argv[2]" != "$argv[3]"
                printf 'FAIL %s:\n  got:  [%s]\n  want: [%s]\n' $argv[1] "$argv[2]" "$argv[3]"
                set -g t_failed 1
            end
        end
        function t_state
            for v in PATH CONDA_PREFIX CONDA_DEFAULT_ENV CONDA_SHLVL ENVPACK_TEST_HOOK
                if set -q $v
                    printf '%s=[%s]\n' $v (string join ' | ' -- $$v)
                else
                    echo $v unset
                end
            end
            functions fish_prompt
        end
        function t_snapshot
            begin
                set -n | string match -rv '^(t_|T_)'
                functions -an
            end > $argv[1]
        end
        function fish_prompt
            echo -n 't> '
        end

        """#

    static func expectFishPasses(_ script: String, in dir: String, environment: [String: String]) throws {
        let full = fishPrelude + script + "\nif test $t_failed = 0; echo ALL-CHECKS-PASSED; end\n"
        let r = try run(fish, ["--no-config"], script: full, in: dir, environment: environment)
        #expect(r.status == 0 && r.stdout.contains("ALL-CHECKS-PASSED") && !r.stdout.contains("FAIL")
                && r.stderr.isEmpty, "fish run failed:\n\(r.all)")
    }

    /// activate.fish: variables, prompt, hooks, deactivate restores all.
    @Test func fishActivateAndDeactivate() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let env = try Self.makeEnvironment(in: dir, name: "env one")
        try Self.expectFishPasses(#"""
            t_snapshot $T_DIR/before
            set -l t_before "$(t_state)"
            set -l t_path "$PATH"
            source $T_ENV/bin/activate.fish
            t_expect "activate status" $status 0
            t_expect CONDA_PREFIX "$CONDA_PREFIX" $T_ENV
            t_expect CONDA_DEFAULT_ENV "$CONDA_DEFAULT_ENV" "env one"
            t_expect CONDA_SHLVL "$CONDA_SHLVL" 1
            t_expect PATH "$PATH" "$T_ENV/bin:$t_path"
            t_expect prompt "$(fish_prompt)" "(env one) t> "
            t_expect "command -v hello" "$(command -v hello)" $T_ENV/bin/hello
            t_expect hello "$(hello)" "hello from envpack"
            t_expect "activate.d hook" "$ENVPACK_TEST_HOOK" $T_ENV
            t_expect "CONDA_PREFIX exported" "$(/bin/sh -c 'echo "$CONDA_PREFIX"')" $T_ENV
            deactivate
            t_expect "state after deactivate" "$(t_state)" "$t_before"
            t_expect "prompt after" "$(fish_prompt)" "t> "
            t_expect "hello gone" "$(command -v hello; or echo none)" none
            t_snapshot $T_DIR/after
            t_expect "variables and functions" "$(diff $T_DIR/before $T_DIR/after)" ""
            """#, in: dir, environment: ["T_ENV": env, "T_DIR": dir])
    }

    /// fish: preset CONDA_* are restored, ENVPACK_NO_PROMPT is honoured,
    /// re-activation deactivates first, and a renamed env activates from its
    /// new place.
    @Test func fishReactivationAndMove() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let a = try Self.makeEnvironment(in: dir, name: "env a")
        let b = try Self.makeEnvironment(in: dir, name: "env b")
        try Self.expectFishPasses(#"""
            set -l t_before "$(t_state)"
            set -l t_path "$PATH"
            source $T_A/bin/activate.fish
            source $T_A/bin/activate.fish
            t_expect "A twice: PATH" "$PATH" "$T_A/bin:$t_path"
            t_expect "A twice: CONDA_SHLVL" "$CONDA_SHLVL" 2
            t_expect "A twice: prompt" "$(fish_prompt)" "(env a) t> "
            source $T_B/bin/activate.fish
            t_expect "then B: PATH" "$PATH" "$T_B/bin:$t_path"
            t_expect "then B: CONDA_PREFIX" "$CONDA_PREFIX" $T_B
            t_expect "then B: CONDA_SHLVL" "$CONDA_SHLVL" 2
            t_expect "then B: hook" "$ENVPACK_TEST_HOOK" $T_B
            deactivate
            t_expect "state after deactivate" "$(t_state)" "$t_before"
            t_expect "CONDA_PREFIX back" "$CONDA_PREFIX" /opt/conda
            set -gx ENVPACK_NO_PROMPT 1
            source $T_A/bin/activate.fish
            t_expect "no prompt change" "$(fish_prompt)" "t> "
            deactivate
            set -e ENVPACK_NO_PROMPT
            mv $T_A "$T_DIR/moved env"
            cd "$T_DIR/moved env"
            source bin/activate.fish
            t_expect "moved: CONDA_PREFIX" "$CONDA_PREFIX" "$T_DIR/moved env"
            t_expect "moved: CONDA_DEFAULT_ENV" "$CONDA_DEFAULT_ENV" "moved env"
            t_expect "moved: hello" "$(command -v hello)" "$T_DIR/moved env/bin/hello"
            t_expect "moved: prompt" "$(fish_prompt)" "(moved env) t> "
            deactivate
            t_expect "state after" "$(t_state)" "$t_before"
            """#, in: dir, environment: ["T_A": a, "T_B": b, "T_DIR": dir, "CONDA_PREFIX": "/opt/conda",
                                         "CONDA_DEFAULT_ENV": "base", "CONDA_SHLVL": "1"])
    }
}
