// A reader dropped before the end of its archive (a client that wants only
// the first entries, an error half-way) must not leave its decoding thread
// behind: the thread was blocked for ever writing to a pipe nobody read,
// holding the feed, its descriptors and its buffers.
import Foundation
import Testing
@testable import Envpack

@Suite struct ArchiveReaderLifetimeTests {
    @Test func droppedReaderEndsItsFeeder() throws {
        let dir = try TestSupport.temporaryDirectory("lifetime")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Incompressible data well beyond the pipe's 1 MiB, so the feeder
        // is still writing when the reader goes away.
        let data = dir + "/data"
        try TestSupport.run("/bin/sh", ["-c", "head -c 24000000 /dev/urandom > '\(data)' && cd '\(dir)' && tar -cf - data | zstd -q -1 -o archive.tar.zst"])
        weak var feed: DecompressingFeed?
        do {
            let reader = try ArchiveReader(path: dir + "/archive.tar.zst")
            feed = reader.feed
            #expect(try reader.next()?.path == "data")
            #expect(feed != nil)
        }
        // The feeder thread holds the feed until it returns.
        let deadline = Date().addingTimeInterval(10)
        while feed != nil && Date() < deadline { usleep(20_000) }
        #expect(feed == nil, "the decoding thread of a dropped reader is still running")
    }

    /// The dropped reader's feeder got EPIPE; SIGPIPE must not have been
    /// ignored process-wide on the way, or every program started later
    /// (install's link scripts, a library client's children) inherits the
    /// ignored signal and writes to a closed pipe fail loudly instead of
    /// ending quietly.
    @Test func readingLeavesSIGPIPEAloneForChildren() throws {
        try droppedReaderEndsItsFeeder()
        let r = try TestSupport.run("/bin/sh", ["-c", "grep SigIgn /proc/$$/status"])
        let text = String(decoding: r.stdout, as: UTF8.self)
        let hex = text.split(separator: ":").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
        let mask = try #require(UInt64(hex, radix: 16), "cannot read SigIgn from \(text)")
        #expect(mask & (1 << (UInt64(SIGPIPE) - 1)) == 0, "SIGPIPE is ignored in a child: SigIgn \(hex)")
    }
}
