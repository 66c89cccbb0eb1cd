// Progress of a pack, unpack or fetch, reported to a callback the library's
// user supplies (the CLI's draws one line on standard error; a host
// application shows it however it likes). The library itself never draws.
//
// Terms, used the same way in the display, the summaries and inspect:
// - entries: members of an archive (files, folders, symlinks, hardlinks);
// - files: regular files (a hardlinked file counts once);
// - file data: the bytes of the files' contents.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One progress report.
public struct ProgressReport: Sendable, Equatable {
    /// "packing", "unpacking", "fetching".
    public var label: String
    /// What `done` counts: "files" (pack) or "entries" (unpack).
    public var unit: String
    public var done: Int
    /// The number to reach, when known.
    public var total: Int?
    /// Bytes of file data so far, and in all when known.
    public var bytes: Int
    public var totalBytes: Int?
    /// How far along (0...1), when the size of the job is known: file data
    /// for pack, compressed input read for unpack from a file.
    public var fraction: Double?
    /// Seconds left, once enough of the job has gone by to say (never a
    /// guess from the first moments); smoothed.
    public var secondsLeft: Double?
    /// File data per second since the start.
    public var bytesPerSecond: Double
    /// True for the last report.
    public var finished: Bool

    public init(label: String, unit: String, done: Int, total: Int?, bytes: Int, totalBytes: Int?,
                fraction: Double?, secondsLeft: Double?, bytesPerSecond: Double, finished: Bool) {
        self.label = label; self.unit = unit; self.done = done; self.total = total
        self.bytes = bytes; self.totalBytes = totalBytes; self.fraction = fraction
        self.secondsLeft = secondsLeft; self.bytesPerSecond = bytesPerSecond; self.finished = finished
    }
}

/// Called at most ten times a second, from the thread doing the work, and
/// once more with `finished` set.
public typealias ProgressHandler = @Sendable (ProgressReport) -> Void

/// Estimates the time left from (time, fraction done) samples. No estimate
/// until `minimumSeconds` have passed since the first sample and
/// `minimumFraction` is done: the start of a job (opening files, filling
/// buffers) says little about its speed. The rate is then an exponential
/// moving average over samples at least half a second apart.
public struct ETAEstimator: Sendable {
    public var minimumSeconds = 2.0
    public var minimumFraction = 0.03
    public var smoothing = 0.3
    private var start: Double? = nil
    private var last: (time: Double, fraction: Double)? = nil
    private var rate: Double? = nil

    public init() {}

    /// Adds a sample; returns the seconds left, or nil while unknown.
    public mutating func update(time: Double, fraction: Double) -> Double? {
        let f = min(max(fraction, 0), 1)
        guard let start else { self.start = time; last = (time, f); return nil }
        let elapsed = time - start
        guard elapsed >= minimumSeconds, f >= minimumFraction else { return nil }
        if let previous = last, time - previous.time >= 0.5 {
            let instant = (f - previous.fraction) / (time - previous.time)
            if let r = rate {
                rate = r + smoothing * (instant - r)
            } else {
                // The first estimate: the average over the whole time so far.
                rate = f / elapsed
            }
            last = (time, f)
        } else if rate == nil {
            rate = f / elapsed
        }
        guard let r = rate, r > 0 else { return nil }
        return (1 - f) / r
    }
}

/// Counts work as it is done and reports it, throttled, to a handler.
public final class Progress: @unchecked Sendable {
    private let lock = NSLock()
    private let handler: ProgressHandler?
    private let label: String
    private let unit: String
    private let total: Int?
    private var totalBytes: Int?
    /// For unpack: the compressed input's position and size.
    private let input: (position: () -> Int?, size: Int)?
    private var done = 0
    private var bytes = 0
    private let start = Date()
    private var lastReport = Date.distantPast
    private var eta = ETAEstimator()
    private var finished = false

    /// - Parameters:
    ///   - total, totalBytes: what `done` and the file data will reach, when known.
    ///   - input: where reading the (compressed) input stands, and its size;
    ///     the fraction done then follows the input.
    public init(label: String, unit: String, total: Int?, totalBytes: Int?,
                input: (position: () -> Int?, size: Int)? = nil, handler: ProgressHandler?) {
        self.label = label
        self.unit = unit
        self.total = total
        self.totalBytes = totalBytes
        self.input = input
        self.handler = handler
    }

    public func advance(files: Int = 0, bytes: Int = 0) {
        lock.lock(); defer { lock.unlock() }
        done += files
        self.bytes += bytes
        guard handler != nil else { return }
        let now = Date()
        if now.timeIntervalSince(lastReport) >= 0.1 {
            lastReport = now
            report(now, finished: false)
        }
    }

    /// What was counted so far: `done` (files or entries) and file data.
    public var counted: (done: Int, bytes: Int) {
        lock.lock(); defer { lock.unlock() }
        return (done, bytes)
    }

    /// More file data than first announced (a file whose size is known
    /// only once it is written).
    public func expect(moreBytes: Int) {
        lock.lock(); defer { lock.unlock() }
        if let t = totalBytes { totalBytes = t + moreBytes }
    }

    public func finish() {
        lock.lock(); defer { lock.unlock() }
        guard handler != nil, !finished else { return }
        finished = true
        report(Date(), finished: true)
    }

    private func report(_ now: Date, finished: Bool) {
        guard let handler else { return }
        let elapsed = max(now.timeIntervalSince(start), 0.001)
        var fraction: Double? = nil
        if let input, input.size > 0, let position = input.position() {
            fraction = min(1, Double(position) / Double(input.size))
        } else if let totalBytes, totalBytes > 0 {
            fraction = min(1, Double(bytes) / Double(totalBytes))
        } else if let total, total > 0 {
            fraction = min(1, Double(done) / Double(total))
        }
        if finished { fraction = fraction.map { _ in 1 } }
        let left = fraction.flatMap { eta.update(time: elapsed, fraction: $0) }
        handler(ProgressReport(label: label, unit: unit, done: done, total: total, bytes: bytes,
                               totalBytes: totalBytes, fraction: fraction,
                               secondsLeft: finished ? nil : left,
                               bytesPerSecond: Double(bytes) / elapsed, finished: finished))
    }
}

/// The CLI's display: one line on standard error, redrawn in place. Each
/// draw starts with `\r` and ends with `\033[K` (clear to the end of the
/// line), so two programs drawing on one terminal (`pack -o - | unpack -`)
/// never leave pieces of each other's longer lines behind.
public enum TerminalProgress {
    /// A handler drawing on standard error, or nil when it is not a terminal.
    public static func standardError() -> ProgressHandler? {
        guard isatty(STDERR_FILENO) != 0 else { return nil }
        return { report in
            var text = "\r" + line(report) + "\u{1B}[K"
            if report.finished { text += "\n" }
            text.withCString { p in _ = write(STDERR_FILENO, p, strlen(p)) }
        }
    }

    /// The text of one report, e.g.
    /// `unpacking  42%  1203 entries  51.0 MiB of file data  12.1 MiB/s  ETA 8s`.
    public static func line(_ r: ProgressReport) -> String {
        var parts = [r.label]
        if let f = r.fraction { parts.append(String(format: "%3d%%", Int((f * 100).rounded(.down)))) }
        parts.append(r.total.map { "\(r.done)/\($0) \(r.unit)" } ?? "\(r.done) \(r.unit)")
        parts.append((r.totalBytes.map { "\(formatBytes(r.bytes))/\(formatBytes($0))" } ?? formatBytes(r.bytes)) + " of file data")
        parts.append("\(formatBytes(Int(r.bytesPerSecond)))/s")
        if let left = r.secondsLeft { parts.append("ETA " + formatDuration(left)) }
        return parts.joined(separator: "  ")
    }

    static func formatDuration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s < 60 ? "\(s)s" : s < 3600 ? "\(s / 60)m\(String(format: "%02d", s % 60))s" : "\(s / 3600)h\(String(format: "%02d", s % 3600 / 60))m"
    }
}

public func formatBytes(_ n: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(n)
    var unit = 0
    while value >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
    return unit == 0 ? "\(n) B" : String(format: "%.1f %@", value, units[unit])
}
