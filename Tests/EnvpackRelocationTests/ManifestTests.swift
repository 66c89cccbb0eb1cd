import Testing
@testable import EnvpackRelocation

@Suite struct ManifestTests {
    let sample = Manifest(
        prefix: "/opt/env with space",
        packages: [ManifestPackage(name: "openssl", version: "3.4.0", build: "h7b32b05_1", channel: "conda-forge")],
        files: [
            PrefixFile(path: "bin/tab\there", mode: .text, placeholder: "/opt/env with space",
                       isShebang: true, offsets: [2]),
            PrefixFile(path: "lib/libfoo.so", mode: .binary, placeholder: "/opt/env with space",
                       isELF: true, isManaged: false, offsets: [10, 500, 900], exemptOffsets: [900],
                       rpaths: [RPathEntry(tag: .runpath, value: "/opt/env with space/lib")],
                       hardlinks: ["lib/libfoo.so.1", "lib/ünï\ncode"]),
            PrefixFile(path: "share/\\0", mode: .text, placeholder: "\\x", offsets: []),
        ])

    @Test func roundTripsEveryField() throws {
        let text = sample.serialized()
        #expect(try Manifest(parsing: text) == sample)
        // One record a line: names with tabs and newlines are escaped.
        #expect(text.split(separator: "\n").count == 1 + 1 + 1 + 3 + 1 + 2)
    }

    @Test func loadedOffsetsLeaveOutExemptOnes() {
        #expect(sample.files[1].loadedOffsets == [10, 500])
        #expect(sample.longestAllowedPrefix == "/opt/env with space".utf8.count)
        let textOnly = Manifest(prefix: "/p", files: [sample.files[0]])
        #expect(textOnly.longestAllowedPrefix == nil)
    }

    @Test func rejectsMalformedInput() {
        #expect(throws: ManifestError.self) { try Manifest(parsing: "") }
        #expect(throws: ManifestError.self) { try Manifest(parsing: "something else\t1\n") }
        #expect(throws: ManifestError.self) { try Manifest(parsing: "envpack-manifest\t99\nprefix\t/p\n") }
        #expect(throws: ManifestError.self) { try Manifest(parsing: "envpack-manifest\t1\n") }
        #expect(throws: ManifestError.self) {
            try Manifest(parsing: "envpack-manifest\t1\nprefix\t/p\nfile\ta\tweird\t-\t/p\t-\t-\n")
        }
        #expect(throws: ManifestError.self) {
            try Manifest(parsing: "envpack-manifest\t1\nprefix\t/p\nrpath\tnofile\tRPATH\t/p/lib\n")
        }
        do {
            _ = try Manifest(parsing: "envpack-manifest\t1\nprefix\t/p\nfile\ta\ttext\n")
            Issue.record("expected an error")
        } catch {
            #expect(error.line == 3)
        }
    }

    @Test func skipsRecordsFromNewerWriters() throws {
        let m = try Manifest(parsing: "envpack-manifest\t1\nprefix\t/p\nfuture-thing\tx\n")
        #expect(m.prefix == "/p")
    }
}
