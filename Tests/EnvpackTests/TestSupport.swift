// Shared helpers for the integration tests: where the fixtures and the real
// packages are, running the built `envpack`, reading archives back.
@testable import Envpack
import Foundation
import Testing

enum TestSupport {
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Built by `bash Fixtures/build.sh` (scripts/test.sh does it first).
    static var fixturesRoot: String {
        ProcessInfo.processInfo.environment["ENVPACK_FIXTURES"] ?? "/tmp/envpack-fixtures"
    }

    /// A fixture environment. Missing fixtures fail the test loudly.
    static func fixtureEnv(_ name: String) throws -> String {
        let path = fixturesRoot + "/envs/" + name
        try #require(FileManager.default.fileExists(atPath: path + "/conda-meta"),
                     "fixture environment \(path) is missing: run `bash Fixtures/build.sh \(fixturesRoot)`")
        return path
    }

    /// `../shared/conda-packages`: real conda packages. Missing is a failure.
    static func sharedPackages() throws -> String {
        let path = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/conda-packages").path
        try #require(FileManager.default.fileExists(atPath: path + "/README.md"),
                     "the real-package folder \(path) is missing; these tests need it")
        return path
    }

    static var envpackBinary: String {
        packageRoot.appendingPathComponent(".build/debug/envpack").path
    }

    /// A fresh empty directory, removed by the caller when it likes.
    static func temporaryDirectory(_ label: String = "t") throws -> String {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("envpack-test-\(label)-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    struct Result { var status: Int32; var stdout: Data; var stderr: String }

    /// Runs a program and collects its output.
    @discardableResult
    static func run(_ executable: String, _ arguments: [String], stdout: FileHandle? = nil,
                    environment: [String: String]? = nil) throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        if let environment { p.environment = environment }
        let outPipe = Pipe()
        // Standard error goes to a file so that a full pipe never blocks.
        let errPath = FileManager.default.temporaryDirectory.appendingPathComponent("envpack-stderr-\(UUID().uuidString)").path
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: errPath) }
        let errHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        p.standardOutput = stdout ?? outPipe
        p.standardError = errHandle
        p.standardInput = FileHandle.nullDevice
        try p.runUnblocked()   // the test's thread blocks nearly every signal (see ChildProcess.swift)
        let out = stdout == nil ? outPipe.fileHandleForReading.readDataToEndOfFile() : Data()
        p.waitUntilExit()
        try errHandle.close()
        let err = FileManager.default.contents(atPath: errPath) ?? Data()
        return Result(status: p.terminationStatus, stdout: out, stderr: String(decoding: err, as: UTF8.self))
    }

    /// Runs envpack under /usr/bin/time: its result (standard error without
    /// time's own lines) and its peak RSS in KB.
    static func envpackMeasuringPeak(_ arguments: [String]) throws -> (result: Result, peakKB: Int) {
        var r = try run("/usr/bin/time", ["-f", "peak-rss-kb %M", envpackBinary] + arguments)
        let lines = r.stderr.split(separator: "\n", omittingEmptySubsequences: false)
        let peak = lines.last { $0.hasPrefix("peak-rss-kb ") }.flatMap { Int($0.dropFirst("peak-rss-kb ".count)) }
        r.stderr = lines.filter { !$0.hasPrefix("peak-rss-kb ") && !$0.hasPrefix("Command exited with non-zero status") }.joined(separator: "\n")
        return (r, try #require(peak, "no peak RSS from /usr/bin/time: \(r.stderr)"))
    }

    @discardableResult
    static func envpack(_ arguments: [String], stdout: FileHandle? = nil) throws -> Result {
        try #require(FileManager.default.isExecutableFile(atPath: envpackBinary),
                     "\(envpackBinary) is missing: run `swift build` first")
        return try run(envpackBinary, arguments, stdout: stdout)
    }

    /// Every entry of an archive, with file contents for small files.
    static func entries(of archive: String) throws -> [String: (entry: ArchiveReader.Entry, data: [UInt8])] {
        let reader = try ArchiveReader(path: archive)
        var result: [String: (ArchiveReader.Entry, [UInt8])] = [:]
        while let e = try reader.next() {
            result[e.path] = (e, e.size <= 16 << 20 ? try reader.readAll() : [])
        }
        return result
    }

    /// Starts envpack, waits until `started` says its work has begun, sends
    /// SIGINT and waits for it. Returns whether it had started and its exit
    /// status.
    static func interruptEnvpack(_ arguments: [String], started: () -> Bool) throws -> (started: Bool, status: Int32) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: envpackBinary)
        p.arguments = arguments
        p.standardError = FileHandle.nullDevice
        try p.run()
        var began = false
        for _ in 0..<300 {
            if started() { began = true; break }
            usleep(10_000)
        }
        usleep(100_000)
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        return (began, p.terminationStatus)
    }

    /// Copies a tree with `cp -a` (keeps links, hardlinks and modes).
    static func copyTree(_ from: String, to: String) throws {
        let r = try run("/bin/cp", ["-a", from, to])
        try #require(r.status == 0, "cp -a failed: \(r.stderr)")
    }

    static func sha256(_ path: String) throws -> String {
        let r = try run("/usr/bin/sha256sum", [path])
        return String(decoding: r.stdout, as: UTF8.self).split(separator: " ").first.map(String.init) ?? ""
    }
}
