import Foundation
import Testing
@testable import EnvpackRelocation

/// Builds small ELF files with the system C compiler, so the reader is
/// checked against what a real linker writes.
@Suite struct ELFFileTests {
    func compile(_ source: String, flags: [String]) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("envpack-elf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let src = dir.appendingPathComponent("t.c")
        try source.write(to: src, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("t").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/cc")
        p.arguments = [src.path, "-o", out, "-g"] + flags
        try p.run()
        p.waitUntilExit()
        try #require(p.terminationStatus == 0, "cc failed")
        return out
    }

    @Test func readsRPathAndClassifiesSections() throws {
        let prefix = "/opt/placeholder_for_elf_test"
        let path = try compile("""
            #include <stdio.h>
            const char *where = "\(prefix)/share/data";
            int main(void) { puts(where); return 0; }
            """, flags: ["-Wl,-rpath,\(prefix)/lib", "-Wl,--disable-new-dtags"])
        let info = try #require(try readELFInfo(path: path))
        #expect(info.rpaths.map(\.value) == ["\(prefix)/lib"])
        #expect(info.rpaths.first?.tag == .rpath)

        let bytes = try readWholeFile(path)
        let offsets = bytes.withUnsafeBytes { occurrences(of: Array(prefix.utf8), in: $0) }
        // One in .rodata (loaded), one in .dynstr (the RPATH), possibly more
        // in debug info (never loaded).
        let loaded = offsets.filter { info.isLoaded(offset: $0) && !info.isInRPath(offset: $0) }
        let inRPath = offsets.filter { info.isInRPath(offset: $0) }
        #expect(loaded.count == 1)
        #expect(inRPath.count == 1)
        #expect(isStaticExecutable(path: path) == false)
    }

    @Test func runpathIsTaggedAsSuch() throws {
        let path = try compile("int main(void){return 0;}", flags: ["-Wl,-rpath,/x/lib", "-Wl,--enable-new-dtags"])
        let info = try #require(try readELFInfo(path: path))
        #expect(info.rpaths.map(\.tag) == [.runpath])
    }

    @Test func nonELFFilesAreNil() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("envpack-not-elf-\(UUID().uuidString)").path
        try "#!/bin/sh\necho hi\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try readELFInfo(path: path) == nil)
        #expect(throws: ELFReadError.self) { try readELFInfo(path: path + "-missing") }
    }
}
