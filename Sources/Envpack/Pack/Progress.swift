// A one-line progress display on standard error: files, bytes, rate, ETA.
// Silent when standard error is not a terminal, so logs stay clean.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public final class Progress: @unchecked Sendable {
    private let lock = NSLock()
    private let enabled: Bool
    private let totalFiles: Int
    private let totalBytes: Int
    private var files = 0
    private var bytes = 0
    private let start = Date()
    private var lastDraw = Date.distantPast
    private let label: String

    public init(label: String, totalFiles: Int, totalBytes: Int, quiet: Bool) {
        self.label = label
        self.totalFiles = totalFiles
        self.totalBytes = totalBytes
        enabled = !quiet && isatty(STDERR_FILENO) != 0
    }

    public func advance(files: Int = 0, bytes: Int = 0) {
        lock.lock(); defer { lock.unlock() }
        self.files += files
        self.bytes += bytes
        guard enabled else { return }
        let now = Date()
        if now.timeIntervalSince(lastDraw) >= 0.1 { lastDraw = now; draw(now) }
    }

    public func finish() {
        guard enabled else { return }
        draw(Date())
        FileHandle.standardError.write("\n".data(using: .utf8)!)
    }

    private func draw(_ now: Date) {
        let elapsed = max(now.timeIntervalSince(start), 0.001)
        let rate = Double(bytes) / elapsed
        let remaining = rate > 0 ? Double(totalBytes - bytes) / rate : 0
        // Totals are unknown while streaming an archive: counts and rate only.
        let line = totalBytes > 0
            ? String(format: "\r%@ %d/%d files  %@/%@  %@/s  ETA %ds  ",
                     label, files, totalFiles, formatBytes(bytes), formatBytes(totalBytes),
                     formatBytes(Int(rate)), Int(remaining.rounded()))
            : String(format: "\r%@ %d entries  %@  %@/s  ", label, files, formatBytes(bytes), formatBytes(Int(rate)))
        FileHandle.standardError.write(line.data(using: .utf8)!)
    }
}

public func formatBytes(_ n: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(n)
    var unit = 0
    while value >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
    return unit == 0 ? "\(n) B" : String(format: "%.1f %@", value, units[unit])
}
