// The Swift library as an outside client uses it: `import Envpack` (and
// EnvpackRelocation) without @testable, only public API. Pack with the CLI's
// defaults and a progress callback, inspect, unpack, relocate after a move,
// and install from an explicit spec, all in-process.
import Envpack
import EnvpackRelocation
import Foundation
import Testing

/// Collects progress reports from any thread.
final class Reports: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [ProgressReport] = []
    func add(_ r: ProgressReport) { lock.lock(); items.append(r); lock.unlock() }
    var all: [ProgressReport] { lock.lock(); defer { lock.unlock() }; return items }
}

@Suite struct PublicAPITests {
    var fixtures: String { ProcessInfo.processInfo.environment["ENVPACK_FIXTURES"] ?? "/tmp/envpack-fixtures" }

    func temporaryDirectory() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("envpack-api-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test("the library's defaults are the CLI's")
    func defaults() {
        let options = PackOptions(prefix: "/somewhere/envs/demo")
        #expect(options.output == "demo.tar.zst")
        #expect(options.format == .tarZstd)
        #expect(options.threads == ProcessInfo.processInfo.activeProcessorCount)
        #expect(options.compressLevel == nil)
        #expect(options.progress == nil)
        let unpack = UnpackOptions(archive: "a.tar.zst", destination: "/d")
        #expect(!unpack.force && !unpack.sameOwner && !unpack.quiet && unpack.progress == nil)
    }

    @Test("pack, inspect, unpack, relocate and install through the public API, with progress callbacks")
    func roundTrip() throws {
        let demo = fixtures + "/envs/demo"
        try #require(FileManager.default.fileExists(atPath: demo + "/conda-meta"), "fixture \(demo) is missing: run Fixtures/build.sh")
        let work = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: work) }

        // pack
        var pack = PackOptions(prefix: demo)
        pack.output = work + "/" + pack.output
        let packReports = Reports()
        pack.progress = { packReports.add($0) }
        let packed = try Packer.pack(pack)
        #expect(packed.output == work + "/demo.tar.zst")
        let last = try #require(packReports.all.last, "no progress reported while packing")
        #expect(last.finished && last.fraction == 1 && last.unit == "files")
        #expect(last.done == last.total)
        #expect(packReports.all.filter(\.finished).count == 1)

        // inspect
        let report = try ArchiveInspector.inspect(path: packed.output)
        #expect(report.hasHelper)
        #expect(report.manifest.prefix == demo)
        #expect(report.entries == packed.entries)

        // unpack
        let dest = work + "/unpacked"
        var unpack = UnpackOptions(archive: packed.output, destination: dest)
        let unpackReports = Reports()
        unpack.progress = { unpackReports.add($0) }
        let summary = try Unpacker.unpack(unpack)
        #expect(summary.environment == dest)
        #expect(summary.entries == report.entries)
        let final = try #require(unpackReports.all.last)
        #expect(final.finished && final.unit == "entries" && final.done == summary.entries)
        #expect(final.fraction == 1, "a file archive's size is known: the fraction reaches 1")

        // a quiet unpack reports nothing
        var quiet = UnpackOptions(archive: packed.output, destination: work + "/quiet")
        let none = Reports()
        quiet.quiet = true
        quiet.progress = { none.add($0) }
        _ = try Unpacker.unpack(quiet)
        #expect(none.all.isEmpty)

        // relocate after a move by hand
        let moved = work + "/moved-somewhere-else"
        try FileManager.default.moveItem(atPath: dest, toPath: moved)
        let relocator = Relocator(root: moved, to: moved)
        let plan = try relocator.plan(try relocator.loadManifest())
        #expect(plan.from == dest && !plan.files.isEmpty)
        try relocator.apply(plan)
        let conf = try String(contentsOfFile: moved + "/etc/envpack-demo.conf", encoding: .utf8)
        #expect(conf.contains(moved) && !conf.contains(dest + "/"))

        // install from the fixture's explicit spec (file:// URLs), offline
        var install = InstallOptions(specPath: fixtures + "/specs/demo.txt", prefix: work + "/installed")
        install.pkgsDir = work + "/pkgs"
        install.offline = true
        let fetchReports = Reports()
        install.progress = { fetchReports.add($0) }
        let installed = try Installer.install(install)
        #expect(installed.packages > 0)
        // Progress goes to the callback (never drawn by the library).
        #expect(fetchReports.all.last?.finished == true && fetchReports.all.last?.label == "fetching")
        #expect(FileManager.default.fileExists(atPath: work + "/installed/conda-meta/history"))
    }

    @Test("inspect of a damaged archive fails with an EnvpackError naming the file")
    func damagedArchiveErrorsAreEnvpackErrors() throws {
        let dir = NSTemporaryDirectory() + "envpack-api-damaged-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/damaged.tar.zst"
        // A zstd frame header and then nothing: truncated.
        try Data([0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x58, 0x00, 0x00]).write(to: URL(fileURLWithPath: path))
        do {
            _ = try ArchiveInspector.inspect(path: path)
            Issue.record("a damaged archive was inspected")
        } catch let error as EnvpackError {
            #expect(error.description.contains(path), "\(error)")
        } catch {
            Issue.record("not an EnvpackError: \(type(of: error)): \(error)")
        }
    }
}

