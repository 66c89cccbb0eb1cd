// The package cache: verified package archives and their extracted form,
// reused across installs. Local files and file:// URLs are read in place;
// http(s) downloads land here. Everything is verified (md5/sha256, size when
// known) before it is used, and a file lock keeps two installs at once from
// corrupting it.
import Crypto
import EnvpackRelocation
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif

/// A package archive that passed its checks.
public struct FetchedPackage: Sendable {
    public var entry: SpecEntry
    public var archivePath: String
    public var md5: String
    public var sha256: String
    public var size: Int
}

public final class PackageCache: Sendable {
    public let directory: String

    /// `--pkgs-dir`, else the first of `$CONDA_PKGS_DIRS`, else
    /// `~/.cache/envpack/pkgs`.
    public static func defaultDirectory() -> String {
        let env = ProcessInfo.processInfo.environment
        if let dirs = env["CONDA_PKGS_DIRS"], let first = dirs.split(separator: ",").first {
            return String(first)
        }
        let home = env["HOME"] ?? NSHomeDirectory()
        return home + "/.cache/envpack/pkgs"
    }

    public init(directory: String) throws {
        self.directory = absolutePath(directory)
        do {
            try FileManager.default.createDirectory(atPath: self.directory, withIntermediateDirectories: true)
        } catch {
            throw EnvpackError.writeFailed(path: self.directory, reason: "cannot create the package cache")
        }
    }

    /// Runs `body` holding the cache's lock (flock, released on exit even
    /// after a crash).
    public func withLock<T>(_ body: () throws -> T) throws -> T {
        let path = directory + "/.envpack.lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw EnvpackError.writeFailed(path: path, reason: errnoMessage()) }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw EnvpackError.writeFailed(path: path, reason: errnoMessage()) }
        }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }

    // MARK: Fetch

    /// Finds or downloads every package, verifying each.
    public func fetch(_ entries: [SpecEntry], offline: Bool, parallel: Int = 4,
                      progress: Progress? = nil) throws -> [FetchedPackage] {
        var results = [FetchedPackage?](repeating: nil, count: entries.count)
        let downloaded = Locked([Int: Result<FetchedPackage, Error>]())
        // Local files are hashed on every core; downloads go a few at a time.
        let locals = entries.indices.filter { if case .local = entries[$0].source { return true }; return false }
        let hashed = Locked([Int: Result<FetchedPackage, Error>]())
        DispatchQueue.concurrentPerform(iterations: locals.count) { n in
            let i = locals[n]
            guard case .local(let path) = entries[i].source else { return }
            let result = Result { try self.verified(entries[i], path: path) }
            hashed.withLock { $0[i] = result }
            progress?.advance(files: 1)
        }
        for (i, result) in hashed.withLock({ $0 }).sorted(by: { $0.key < $1.key }) { results[i] = try result.get() }
        var remote: [Int] = []
        for (i, entry) in entries.enumerated() {
            switch entry.source {
            case .local:
                continue
            case .remote:
                let cached = directory + "/" + entry.fileName
                if FileManager.default.fileExists(atPath: cached), let ok = try? verified(entry, path: cached) {
                    results[i] = ok
                    progress?.advance(files: 1)
                } else if offline {
                    throw EnvpackError.invalidOption("\(entry.fileName) (spec line \(entry.line)) is not in the package cache \(directory), and --offline forbids downloading it")
                } else {
                    remote.append(i)
                }
            }
        }
        let queue = DispatchQueue(label: "envpack.fetch", attributes: .concurrent)
        let slots = DispatchSemaphore(value: max(1, parallel))
        let group = DispatchGroup()
        for i in remote {
            slots.wait()
            group.enter()
            queue.async {
                defer { slots.signal(); group.leave() }
                let result = Result { try self.download(entries[i]) }
                downloaded.withLock { $0[i] = result }
                if case .success(let fetched) = result { progress?.advance(files: 1, bytes: fetched.size) }
            }
        }
        group.wait()
        for (i, result) in downloaded.withLock({ $0 }).sorted(by: { $0.key < $1.key }) {
            results[i] = try result.get()
        }
        return results.map { $0! }
    }

    /// Hashes a package file and checks it against the spec. When the spec
    /// gives a sha256 and the cache already extracted this very archive, the
    /// md5 comes from the cache's marker instead of a second hash.
    func verified(_ entry: SpecEntry, path: String) throws -> FetchedPackage {
        let (md5, sha256, size): (String, String, Int)
        if let expected = entry.sha256, let known = extractedMarker(entry.distName), known.sha256 == expected {
            let hashed = try hashFile(path, md5: false)
            (md5, sha256, size) = (hashed.sha256 == expected ? known.md5 : "", hashed.sha256, hashed.size)
        } else {
            (md5, sha256, size) = try hashFile(path)
        }
        if let expected = entry.sha256, expected != sha256 {
            throw EnvpackError.malformedFile(path: path, reason: "sha256 is \(sha256), the spec (line \(entry.line)) says \(expected)")
        }
        if let expected = entry.md5, expected != md5 {
            throw EnvpackError.malformedFile(path: path, reason: "md5 is \(md5), the spec (line \(entry.line)) says \(expected)")
        }
        return FetchedPackage(entry: entry, archivePath: path, md5: md5, sha256: sha256, size: size)
    }

    /// Downloads with retries into a partial file, verifies, then renames.
    private func download(_ entry: SpecEntry) throws -> FetchedPackage {
        guard case .remote(let url) = entry.source else { preconditionFailure() }
        let final = directory + "/" + entry.fileName
        let partial = directory + "/." + entry.fileName + ".partial-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { unlink(partial) }
        var lastError = "unknown error"
        for attempt in 0..<3 {
            if attempt > 0 { usleep(UInt32(300_000 * attempt)) }
            switch fetchURL(url, to: partial) {
            case .success:
                let fetched = try verified(entry, path: partial)
                guard rename(partial, final) == 0 else { throw EnvpackError.writeFailed(path: final, reason: errnoMessage()) }
                return FetchedPackage(entry: entry, archivePath: final, md5: fetched.md5, sha256: fetched.sha256, size: fetched.size)
            case .failure(let message, let retry):
                lastError = message
                if !retry { break }
            }
        }
        throw EnvpackError.unreadable(path: url.absoluteString, reason: "\(lastError) (spec line \(entry.line))")
    }

    private enum FetchResult { case success, failure(String, retry: Bool) }

    private func fetchURL(_ url: URL, to path: String) -> FetchResult {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result = FetchResult.failure("no answer", retry: true)
        var request = URLRequest(url: url)
        request.timeoutInterval = 60
        let task = URLSession.shared.downloadTask(with: request) { location, response, error in
            defer { done.signal() }
            if let error { result = .failure(error.localizedDescription, retry: true); return }
            let status = (response as? HTTPURLResponse)?.statusCode ?? 0
            guard (200..<300).contains(status), let location else {
                result = .failure("HTTP \(status)", retry: status >= 500 || status == 429)
                return
            }
            unlink(path)
            do {
                try FileManager.default.moveItem(atPath: location.path, toPath: path)
                result = .success
            } catch {
                result = .failure("cannot store the download: \(error.localizedDescription)", retry: false)
            }
        }
        task.resume()
        done.wait()
        return result
    }

    // MARK: Extract

    /// Extracts (or finds extracted) every package, on every core, and
    /// reads what each says about itself.
    public func contents(of packages: [FetchedPackage]) throws -> [PackageContents] {
        let results = Locked([Int: Result<PackageContents, Error>]())
        DispatchQueue.concurrentPerform(iterations: packages.count) { i in
            let result = Result { try PackageContents.load(directory: try self.extracted(packages[i])) }
            results.withLock { $0[i] = result }
        }
        return try results.withLock { $0 }.sorted { $0.key < $1.key }.map { try $0.value.get() }
    }

    /// The package extracted in the cache (`<cache>/<name-version-build>/`),
    /// reused when it came from the same archive.
    public func extracted(_ package: FetchedPackage) throws -> String {
        let target = directory + "/" + package.entry.distName
        if extractedMarker(package.entry.distName)?.sha256 == package.sha256 { return target }
        let temporary = directory + "/." + package.entry.distName + ".extract-\(getpid())"
        try? FileManager.default.removeItem(atPath: temporary)
        guard mkdir(temporary, 0o755) == 0 else { throw EnvpackError.writeFailed(path: temporary, reason: errnoMessage()) }
        do {
            try PackageArchive.extract(package.archivePath, into: temporary)
            try "\(package.sha256) \(package.md5)\n".write(toFile: temporary + "/.envpack-extracted", atomically: true, encoding: .utf8)
            if FileManager.default.fileExists(atPath: target) {
                try FileManager.default.removeItem(atPath: target)
            }
            guard rename(temporary, target) == 0 else { throw EnvpackError.writeFailed(path: target, reason: errnoMessage()) }
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
        return target
    }
}

extension PackageCache {
    /// The sha256 and md5 of the archive a cached package was extracted from.
    func extractedMarker(_ dist: String) -> (sha256: String, md5: String)? {
        guard let text = try? String(contentsOfFile: directory + "/" + dist + "/.envpack-extracted", encoding: .utf8) else { return nil }
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
        guard parts.count == 2, parts[0].count == 64, parts[1].count == 32 else { return nil }
        return (parts[0], parts[1])
    }
}

/// md5 (unless not wanted), sha256 and size of a file, read once.
func hashFile(_ path: String, md5 wantMD5: Bool = true) throws -> (md5: String, sha256: String, size: Int) {
    var md5 = Insecure.MD5(), sha = SHA256()
    var size = 0
    do {
        try forEachChunk(of: path) { chunk in
            if wantMD5 { md5.update(bufferPointer: chunk) }
            sha.update(bufferPointer: chunk)
            size += chunk.count
        }
    } catch {
        throw EnvpackError.unreadable(path: path, reason: error.reason)
    }
    return (wantMD5 ? hexString(md5.finalize()) : "", hexString(sha.finalize()), size)
}

/// A value shared between threads, behind a lock.
final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    init(_ value: Value) { self.value = value }
    func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        lock.lock(); defer { lock.unlock() }
        return try body(&value)
    }
}
