// A self-extractor's payload is checked (sha256) before the helper extracts
// it, then read a second time to extract. ArchiveReader with
// `expectedSHA256` hashes that second read as well and fails at the end
// when it is not the bytes that were checked, so a file swapped or changed
// in between is never committed (the helper refuses before its rename).
import EnvpackExtract
import Foundation
import Testing

@Suite struct PayloadDigestTests {
    @Test func theSecondReadMustBeTheCheckedBytes() throws {
        let dir = try TestSupport.temporaryDirectory("payload-digest")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/tree/sub", withIntermediateDirectories: true)
        for i in 0..<20 { try String(repeating: "line \(i)\n", count: 500).write(toFile: dir + "/tree/sub/f\(i).txt", atomically: true, encoding: .utf8) }
        let made = try TestSupport.run("/bin/sh", ["-c", "cd '\(dir)' && tar -cf - -C tree . | zstd -q -c > payload.tar.zst && printf 'HEADER-LINES\\n' > env.sh && cat payload.tar.zst >> env.sh"])
        try #require(made.status == 0, "\(made.stderr)")
        let payload = try Data(contentsOf: URL(fileURLWithPath: dir + "/payload.tar.zst"))
        let offset = Int64("HEADER-LINES\n".utf8.count), length = Int64(payload.count)
        let sha = try TestSupport.sha256(dir + "/payload.tar.zst")

        func readAll(_ expected: String) -> (entries: Int, error: String?) {
            do {
                let reader = try ArchiveReader(path: dir + "/env.sh", range: (offset, length), expectedSHA256: expected)
                var n = 0
                while try reader.next() != nil { n += 1 }
                return (n, nil)
            } catch {
                return (0, "\(error)")
            }
        }
        let good = readAll(sha)
        #expect(good.error == nil && good.entries == 22, "\(good)")   // ., sub, 20 files
        let other = readAll(String(repeating: "0", count: 64))
        #expect(other.error?.contains("changed while it was read") == true, "\(other)")

        // The range runs past the end of the file (cut after the check).
        let cut = try TestSupport.run("/usr/bin/truncate", ["-s", "-10", dir + "/env.sh"])
        try #require(cut.status == 0)
        let short = readAll(sha)
        #expect(short.error != nil, "a cut payload was read whole")
    }
}
