// `envpack export -o FILE` writes a new file; an existing one only with
// --force (as pack's -o), never a folder or a symlink, and a bad output is
// one line in plain words (it was Foundation's NSCocoaErrorDomain dump, and
// an existing file was silently replaced).
import Foundation
import Testing

@Suite struct ExportOutputTests {
    @Test func exportOutputIsNewOrForcedAndErrorsAreOneLine() throws {
        let env = try TestSupport.fixtureEnv("demo")
        let dir = try TestSupport.temporaryDirectory("export-output")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func export(_ output: String, _ extra: [String] = []) throws -> TestSupport.Result {
            try TestSupport.envpack(["export", "-p", env, "-o", output] + extra)
        }
        func oneLine(_ r: TestSupport.Result, _ words: String) {
            #expect(r.status != 0 && r.stderr.contains(words), "\(r.stderr)")
            #expect(r.stderr.hasPrefix("Error: ") && r.stderr.split(separator: "\n").count == 1 && !r.stderr.contains("NSCocoaErrorDomain"), "\(r.stderr)")
        }
        let spec = dir + "/spec.txt"
        let made = try export(spec)
        #expect(made.status == 0, "\(made.stderr)")
        #expect(try String(contentsOfFile: spec, encoding: .utf8).contains("@EXPLICIT"))

        try "mine\n".write(toFile: spec, atomically: true, encoding: .utf8)
        oneLine(try export(spec), "already exists (use --force to overwrite)")
        #expect(try String(contentsOfFile: spec, encoding: .utf8) == "mine\n")
        let forced = try export(spec, ["--force"])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(try String(contentsOfFile: spec, encoding: .utf8).contains("@EXPLICIT"))

        try FileManager.default.createDirectory(atPath: dir + "/folder", withIntermediateDirectories: true)
        oneLine(try export(dir + "/folder", ["--force"]), "is not a regular file")
        try FileManager.default.createSymbolicLink(atPath: dir + "/link", withDestinationPath: "spec.txt")
        oneLine(try export(dir + "/link", ["--force"]), "is not a regular file")
        oneLine(try export(dir + "/missing/spec.txt"), "output directory \(dir)/missing does not exist")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        #expect(names == ["folder", "link", "spec.txt"], "left behind: \(names)")
    }
}
