// Several archives written at once in one process (a library client, or the
// tests themselves): each OutputFile registers its temporary file for the
// Ctrl-C cleanup, and that registry is process-wide. It used to be one
// global C string that every output replaced and freed, so two outputs
// committing on two threads freed the same string twice ("malloc(): unaligned
// tcache chunk detected", an abort of the whole process).
import Envpack
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct OutputFileConcurrencyTests {
    @Test func concurrentOutputsCommitAndFailSafely() async throws {
        let dir = try TestSupport.temporaryDirectory("outputs")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let threads = 8, rounds = 300
        await withTaskGroup(of: Void.self) { group in
            for t in 0..<threads {
                group.addTask {
                    for r in 0..<rounds {
                        let path = dir + "/a-\(t)-\(r).tar"
                        guard let output = try? OutputFile(path: path, force: false) else { continue }
                        _ = "x".withCString { write(output.fd, $0, 1) }
                        // Every third output is abandoned (its temporary removed).
                        if r % 3 != 0 { try? output.commit() }
                    }
                }
            }
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: dir)
        let committed = (0..<rounds).filter { $0 % 3 != 0 }.count * threads
        #expect(names.filter { $0.hasSuffix(".tar") && !$0.hasPrefix(".") }.count == committed)
        // No temporary left behind by the abandoned ones.
        #expect(names.filter { $0.contains("envpack-tmp") }.isEmpty, "\(names.filter { $0.contains("envpack-tmp") })")
    }
}
