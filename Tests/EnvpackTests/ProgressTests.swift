// What the progress display draws, read back from a pseudo-terminal: unpack
// of a file shows a percentage and, once enough has gone by, an ETA that is
// not wild; every redraw is `\r` ... `\033[K`, so `pack -o - | unpack -` on
// one terminal does not garble; and the ETA estimator on its own.
import Foundation
import Testing
@testable import Envpack

/// Runs a command under a pseudo-terminal (python's pty) and returns what it
/// drew, in chunks stamped with the seconds since the start.
struct PTYRun: Decodable {
    var status: Int
    var end: Double
    var chunks: [[Chunk]]
    enum Chunk: Decodable {
        case time(Double), text(String)
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let d = try? c.decode(Double.self) { self = .time(d) } else { self = .text(try c.decode(String.self)) }
        }
    }
    /// (time, text) pairs.
    var stamped: [(Double, String)] {
        chunks.compactMap { pair in
            guard pair.count == 2, case .time(let t) = pair[0], case .text(let s) = pair[1] else { return nil }
            return (t, s)
        }
    }
    var text: String { stamped.map(\.1).joined() }

    static let script = """
    import json, os, pty, sys, time
    start = time.time()
    chunks = []
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(sys.argv[1], sys.argv[1:])
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append([time.time() - start, data.decode('utf-8', 'replace')])
    _, status = os.waitpid(pid, 0)
    print(json.dumps({"status": os.waitstatus_to_exitcode(status), "end": time.time() - start, "chunks": chunks}))
    """

    static func run(_ arguments: [String]) throws -> PTYRun {
        let r = try TestSupport.run("/usr/bin/python3", ["-c", script] + arguments)
        try #require(r.status == 0, "the pty runner failed: \(r.stderr)")
        return try JSONDecoder().decode(PTYRun.self, from: r.stdout)
    }
}

@Suite(.serialized) struct ProgressTests {
    /// The redraws: pieces that start at a `\r`.
    func redraws(_ text: String) -> [String] {
        // The terminal turns "\n" into "\r\n" (one Character in Swift).
        text.replacingOccurrences(of: "\r\n", with: "\n").split(separator: "\r", omittingEmptySubsequences: true).map(String.init)
            .filter { $0.hasPrefix("unpacking") || $0.hasPrefix("packing") }
    }

    @Test("unpack of a file under a terminal: percentage, ETA not wild, lines cleared to the end")
    func unpackDrawsPercentAndETA() throws {
        let source = try TestSupport.fixtureEnv("python")
        let work = try TestSupport.temporaryDirectory("progress")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let archive = work + "/py.tar.zst"
        let packed = try TestSupport.envpack(["pack", "-q", "-p", source, "-o", archive])
        try #require(packed.status == 0, "\(packed.stderr)")

        let run = try PTYRun.run([TestSupport.envpackBinary, "unpack", archive, work + "/dest"])
        try #require(run.status == 0, "unpack failed: \(run.text)")
        let lines = redraws(run.text)
        try #require(!lines.isEmpty, "nothing drawn: \(run.text.debugDescription)")
        // Each redraw: the text, then "clear to the end of the line" (the
        // last one is followed by a newline and the summary).
        let uncleared = lines.filter { line in
            let parts = line.components(separatedBy: "\u{1B}[K")
            return !(parts.count == 2 && (parts[1].isEmpty || parts[1].hasPrefix("\n")) && !parts[0].contains("\n"))
        }
        #expect(uncleared.isEmpty, "\(uncleared.count) of \(lines.count) redraws not cleared to the end of the line, e.g. \(uncleared.first?.debugDescription ?? "")")
        #expect(lines.contains { $0.range(of: #"^unpacking +[0-9]+% "#, options: .regularExpression) != nil },
                "no percentage drawn: \(lines.prefix(3))")
        #expect(lines.last?.contains("100%") == true, "the last line is not 100%: \(lines.last ?? "")")
        #expect(lines.last?.contains("entries") == true)

        // Every ETA shown is within reach of the truth: at most three times
        // the time really left, plus three seconds.
        var etas = 0
        for (time, text) in run.stamped {
            for match in text.matches(of: /ETA ([0-9]+)s/) {
                etas += 1
                let shown = Double(match.1)!
                let left = run.end - time
                #expect(shown <= 3 * left + 3, "ETA \(Int(shown))s drawn at \(time)s of a \(run.end)s run")
            }
            if time < 1.5 { #expect(!text.contains("ETA"), "an ETA drawn in the first moments (\(time)s): \(text.debugDescription)") }
        }
        if run.end >= 3.5 { #expect(etas > 0, "a \(run.end)s unpack of a file showed no ETA") }
        print("progress test: unpack ran \(run.end)s under the pty, \(lines.count) redraws, \(etas) with an ETA")
    }

    @Test("pack -o - | unpack - on one terminal: every redraw is cleared to the end")
    func pipelineOnOneTerminal() throws {
        let source = try TestSupport.fixtureEnv("demo")
        let work = try TestSupport.temporaryDirectory("progress-pipe")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let bin = TestSupport.envpackBinary
        let run = try PTYRun.run(["/bin/bash", "-c", "'\(bin)' pack -p '\(source)' -o - | '\(bin)' unpack - '\(work)/dest'"])
        try #require(run.status == 0, "the pipeline failed: \(run.text)")
        let drawn = redraws(run.text)
        try #require(!drawn.isEmpty, "nothing drawn: \(run.text.debugDescription)")
        // A redraw ends by clearing the rest of the line (then maybe a
        // newline and the other program's summary), never broken across lines.
        let bad = drawn.filter { piece in
            !piece.contains("\u{1B}[K") || (piece.components(separatedBy: "\u{1B}[K").first ?? "").contains("\n")
        }
        #expect(bad.isEmpty, "\(bad.count) of \(drawn.count) redraws garbled, e.g. \(bad.first?.debugDescription ?? "")")
        #expect(drawn.contains { $0.hasPrefix("packing") && $0.contains("%") }, "pack drew no percentage")
    }

    @Test("the ETA waits for enough of the job, then tracks the truth")
    func estimator() {
        // A 10 s job that does nothing for its first second (opening files,
        // filling buffers), then runs at a steady rate, sampled every 0.1 s.
        var eta = ETAEstimator()
        var first: (time: Double, eta: Double)? = nil
        var t = 0.0
        while t < 10 {
            let fraction = t < 1 ? 0.001 * t : (t - 1) / 9
            if let left = eta.update(time: t, fraction: fraction) {
                #expect(t >= 2, "an ETA before two seconds")
                if first == nil { first = (t, left) }
                let truth = 10 - t
                #expect(left <= 2 * truth + 1 && left >= truth / 2 - 1, "at \(t)s: ETA \(left)s, truth \(truth)s")
            }
            t += 0.1
        }
        #expect(first != nil, "no ETA at all in a 10 s job")

        // A job that starts slow and then speeds up: the smoothed ETA comes
        // down instead of staying at the first guess.
        var speeding = ETAEstimator()
        var lastETA = 0.0
        t = 0
        while t < 8 {
            let fraction = t < 4 ? t * 0.05 : 0.2 + (t - 4) * 0.2
            if let left = speeding.update(time: t, fraction: min(fraction, 1)) { lastETA = left }
            t += 0.1
        }
        #expect(lastETA < 2, "the ETA did not follow the faster rate: \(lastETA)s")
    }

    @Test("a report is drawn as one line with percent, counts, file data and ETA")
    func lineText() {
        let r = ProgressReport(label: "unpacking", unit: "entries", done: 1203, total: nil, bytes: 51 << 20,
                               totalBytes: nil, fraction: 0.42, secondsLeft: 8.4, bytesPerSecond: 12.1 * 1048576,
                               finished: false)
        #expect(TerminalProgress.line(r) == "unpacking   42%  1203 entries  51.0 MiB of file data  12.1 MiB/s  ETA 8s")
    }
}

@Suite struct CountTermsTests {
    @Test("pack's summary, inspect and unpack's summary give the same entries, files and file data")
    func summariesAgree() throws {
        let source = try TestSupport.fixtureEnv("demo")
        let work = try TestSupport.temporaryDirectory("terms")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let archive = work + "/demo.tar.zst"
        let packed = try TestSupport.envpack(["pack", "-p", source, "-o", archive])
        try #require(packed.status == 0, "\(packed.stderr)")
        let packLine = try #require(packed.stderr.split(separator: "\n").first { $0.hasPrefix("packed ") }.map(String.init))
        let pack = try #require(packLine.firstMatch(of: /([0-9]+) entries \(([0-9]+) files, ([0-9.]+ [KMG]?i?B) of file data\)/),
                                "pack's summary does not name entries, files and file data: \(packLine)")

        let inspected = try TestSupport.envpack(["inspect", archive])
        try #require(inspected.status == 0, "\(inspected.stderr)")
        let text = String(decoding: inspected.stdout, as: UTF8.self)
        let inspect = try #require(text.firstMatch(of: /entries: +([0-9]+) \(([0-9]+) files, ([0-9.]+ [KMG]?i?B) of file data\)/),
                                   "inspect does not name entries, files and file data: \(text)")
        #expect(pack.1 == inspect.1 && pack.2 == inspect.2 && pack.3 == inspect.3, "pack: \(packLine) / inspect: \(text)")

        let unpacked = try TestSupport.envpack(["unpack", archive, work + "/dest"])
        try #require(unpacked.status == 0, "\(unpacked.stderr)")
        let unpack = try #require(unpacked.stderr.firstMatch(of: /unpacked ([0-9]+) entries \(([0-9.]+ [KMG]?i?B) of file data\)/),
                                  "unpack's summary: \(unpacked.stderr)")
        #expect(unpack.1 == pack.1 && unpack.2 == pack.3, "pack: \(packLine) / unpack: \(unpacked.stderr)")
    }
}
