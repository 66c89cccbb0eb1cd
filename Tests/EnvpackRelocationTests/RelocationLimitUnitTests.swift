// The engine's rules behind issue 8 items 8-11, one function at a time:
// which RPATH entries are old locations, which files are never loaded, which
// names are a module's bytecode, and the manifest's `shebang` record.
import Testing
@testable import EnvpackRelocation

@Suite struct RelocationLimitUnitTests {
    static let placeholder = "/home/conda/feedstock_root/build_artifacts/libgcc_1/_h_env_placehold_placehold_placehold"

    @Test func buildPlaceholderAndEarlierPrefixesBecomeRelativeSystemPathsStay() {
        #expect(relocatedRPath(Self.placeholder + "/lib", placeholder: "/env", objectDirectory: "lib") == "$ORIGIN")
        #expect(relocatedRPath(Self.placeholder + "/lib:/usr/local/cuda/lib64", placeholder: "/env", objectDirectory: "bin")
                == "$ORIGIN/../lib:/usr/local/cuda/lib64")
        #expect(relocatedRPath("/before/lib", placeholder: "/env", objectDirectory: "lib", knownOld: ["/before"]) == "$ORIGIN")
        // Too long for its string: known old entries are dropped instead.
        #expect(relocatedRPath("/before/lib", placeholder: "/env", objectDirectory: "lib/a/b", knownOld: ["/before"],
                               dropKnownOld: true) == "")
        // Build-machine paths that map nowhere are dropped.
        #expect(relocatedRPath("/opt/conda/conda-bld/x_1/work/build:/usr/lib64", placeholder: "/env", objectDirectory: "lib")
                == "/usr/lib64")
        #expect(rpathNamesOldLocation(Self.placeholder + "/lib"))
        #expect(rpathNamesOldLocation("/before/lib", knownOld: ["/before"]))
        #expect(!rpathNamesOldLocation("$ORIGIN/../lib:/usr/local/cuda/lib64"))
        #expect(!rpathNamesOldLocation("/beforehand/lib", knownOld: ["/before"]))
    }

    @Test func staticLibrariesObjectsAndUnmanagedDataAreNeverLoaded() {
        let ar = Array("!<arch>\n".utf8), thin = Array("!<thin>\n".utf8), elf: [UInt8] = [0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]
        #expect(isNeverLoaded(head: ar, elf: nil, isELF: false, isManaged: true, mode: .binary))
        #expect(isNeverLoaded(head: thin, elf: nil, isELF: false, isManaged: true, mode: .binary))
        var object = ELFInfo(rpaths: [], loadedRanges: [0..<100], sectionRanges: [0..<100])
        #expect(!isNeverLoaded(head: elf, elf: object, isELF: true, isManaged: true, mode: .binary))
        object.isRelocatableObject = true
        #expect(isNeverLoaded(head: elf, elf: object, isELF: true, isManaged: true, mode: .binary))
        #expect(!object.isLoaded(offset: 10))
        #expect(isNeverLoaded(head: [0, 1, 2, 3], elf: nil, isELF: false, isManaged: false, mode: .binary))
        #expect(!isNeverLoaded(head: [0, 1, 2, 3], elf: nil, isELF: false, isManaged: true, mode: .binary))
    }

    @Test func bytecodeNamesOfAModule() {
        #expect(isBytecode("mod.cpython-312.pyc", of: "mod"))
        #expect(isBytecode("mod.cpython-312.opt-1.pyc", of: "mod"))
        #expect(isBytecode("mod.pypy39.opt-2.pyc", of: "mod"))
        #expect(!isBytecode("mod.bar.cpython-312.pyc", of: "mod"))
        #expect(!isBytecode("module.cpython-312.pyc", of: "mod"))
        #expect(!isBytecode("mod.cpython-312.pyc.tmp", of: "mod"))
        #expect(bytecodeSource("lib/__pycache__/mod.cpython-312.opt-1.pyc") == "lib/mod.py")
        #expect(bytecodeSource("__pycache__/mod.cpython-312.pyc") == "mod.py")
        #expect(bytecodeSource("lib/mod.cpython-312.pyc") == nil)
        #expect(bytecodeSource("lib/__pycache__/mod.pyc.txt") == nil)
    }

    @Test func originalShebangRoundTripsAndIsChecked() throws {
        var file = PrefixFile(path: "bin/c_rehash", mode: .text, placeholder: "/env")
        file.originalShebang = "/bin/perl -w"
        let manifest = Manifest(prefix: "/env", files: [file])
        #expect(try Manifest(parsing: manifest.serialized()) == manifest)
        #expect(throws: ManifestError.self) {
            try Manifest(parsing: "envpack-manifest\t1\nprefix\t/env\nshebang\tbin/x\t/bin/perl\n")
        }
        #expect(throws: ManifestError.self) {
            try Manifest(parsing: "envpack-manifest\t1\nprefix\t/env\nfile\tbin/x\ttext\tmanaged\t/env\t-\t-\t-\nshebang\tbin/x\tperl\n")
        }
        #expect(envShebang(interpreter: "/env/bin/perl", argument: "") == "#!/usr/bin/env perl")
        #expect(envShebang(interpreter: "/env/bin/perl", argument: "-w") == "#!/usr/bin/env -S perl -w")
    }

    @Test func limitingAndNotLoadedFilesAreNamed() {
        let manifest = Manifest(prefix: "/env", files: [
            PrefixFile(path: "lib/libpython.a", mode: .binary, placeholder: "/env", offsets: [8], exemptOffsets: [8]),
            PrefixFile(path: "lib/libfoo.so", mode: .binary, placeholder: "/env", isELF: true, offsets: [40]),
            PrefixFile(path: "lib/librp.so", mode: .binary, placeholder: "/env", isELF: true, offsets: [70], exemptOffsets: [70],
                       rpaths: [RPathEntry(tag: .runpath, value: "/env/lib")]),
        ])
        #expect(manifest.longestAllowedPrefix == 4)
        #expect(manifest.limitingFiles == ["lib/libfoo.so"])
        #expect(manifest.notLoadedFiles == ["lib/libpython.a"])
    }
}
