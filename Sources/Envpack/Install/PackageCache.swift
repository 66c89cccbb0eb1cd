// The package cache: verified package archives and their extracted form,
// reused across installs, and possibly shared with conda (`--pkgs-dir` or
// $CONDA_PKGS_DIRS). Local files and file:// URLs are read in place; http(s)
// downloads land here. Everything is verified (md5/sha256, size when known)
// before it is used.
//
// In a shared cache envpack never deletes or rewrites what it did not
// create. It reuses conda's `<cache>/NAME-VERSION-BUILD/` when conda's own
// info/repodata_record.json names this very archive and every file matches
// info/paths.json; it creates `<cache>/NAME-VERSION-BUILD[.conda|.tar.bz2]`
// only where nothing exists yet (a create-only rename or link, so a conda
// running at the same time keeps whatever it made); anything else goes into
// envpack's own corner, `<cache>/.envpack/SHA256/`. Extractions and downloads
// are built in envpack-owned temporary names (OwnedFolder) and placed only
// once verified. Two envpacks take turns with flock on the cache folder
// itself, so no lock file is left behind; conda has taken no lock on its
// package cache since 4.3 (conda/conda#5997, #6742), so there is none to
// share, and the create-only placing above is what keeps the two apart.
import Crypto
import EnvpackRelocation
import EnvpackExtract
import Foundation
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
    /// envpack's own corner of a cache it may share with conda.
    var ownDirectory: String { directory + "/.envpack" }

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

    /// Runs `body` holding the cache's lock: flock on the cache folder
    /// itself (no lock file), released on exit even after a crash.
    public func withLock<T>(_ body: () throws -> T) throws -> T {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw EnvpackError.unreadable(path: directory, reason: errnoMessage()) }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw EnvpackError.writeFailed(path: directory, reason: "cannot lock the package cache: \(errnoMessage())") }
        }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }

    /// Removes the temporary extractions and downloads of envpack runs that
    /// were killed. Returns what was removed, for a message.
    public func reclaimLeftovers() -> [String] {
        var reclaimed: [String] = []
        for parent in [directory, ownDirectory] {
            for kind in ["extract", "download"] { reclaimed += OwnedFolder.reclaimStale(in: parent, kind: kind) }
        }
        // envpack 0.2.0 extracted into `.NAME.extract-PID` (no lock): removed
        // once no process has that PID.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name.hasPrefix(".") {
            guard let range = name.range(of: ".extract-", options: .backwards),
                  let pid = Int32(name[range.upperBound...]), pid > 0,
                  kill(pid, 0) != 0, errno == ESRCH else { continue }
            let path = directory + "/" + name
            guard FileStatus.lstat(path)?.kind == .directory, (try? FileManager.default.removeItem(atPath: path)) != nil else { continue }
            reclaimed.append(path)
        }
        return reclaimed
    }

    // MARK: Fetch

    /// Finds or downloads every package, verifying each.
    public func fetch(_ entries: [SpecEntry], offline: Bool, limits: DownloadLimits = DownloadLimits(),
                      parallel: Int = 4, progress: Progress? = nil) throws -> [FetchedPackage] {
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
                if let ok = cachedArchive(entry) {
                    results[i] = ok
                    progress?.advance(files: 1)
                } else if offline {
                    throw EnvpackError.invalidOption("\(entry.fileName) (spec line \(entry.line)) is not in the package cache \(directory), and --offline forbids downloading it")
                } else {
                    remote.append(i)
                }
            }
        }
        guard !remote.isEmpty else { return results.map { $0! } }
        let downloader = PackageDownloader(limits: limits)
        let queue = DispatchQueue(label: "envpack.fetch", attributes: .concurrent)
        let slots = DispatchSemaphore(value: max(1, parallel))
        let group = DispatchGroup()
        for i in remote {
            slots.wait()
            group.enter()
            queue.async {
                defer { slots.signal(); group.leave() }
                let result = Result { try self.download(entries[i], with: downloader) }
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

    /// Where a download of `entry` may already be: conda's name in the cache,
    /// then envpack's own (when the spec gives the sha256).
    private func cachedArchive(_ entry: SpecEntry) -> FetchedPackage? {
        var candidates = [directory + "/" + entry.fileName]
        if let sha = entry.sha256 { candidates.append(ownDirectory + "/" + sha + "/" + entry.fileName) }
        for path in candidates where FileStatus.lstat(path)?.kind == .regular {
            if let ok = try? verified(entry, path: path) { return ok }
        }
        return nil
    }

    /// Hashes a package file and checks it against the spec. When the spec
    /// gives a sha256 and the cache already extracted this very archive, the
    /// md5 comes from the cache's marker instead of a second hash.
    func verified(_ entry: SpecEntry, path: String) throws -> FetchedPackage {
        let (md5, sha256, size): (String, String, Int)
        if let expected = entry.sha256, let known = knownMD5(entry.distName, sha256: expected) {
            let hashed = try hashFile(path, md5: false)
            (md5, sha256, size) = (hashed.sha256 == expected ? known : "", hashed.sha256, hashed.size)
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

    /// Downloads with retries into a temporary file the cache owns, verifies
    /// it, then places it under conda's name (when free) or envpack's own.
    private func download(_ entry: SpecEntry, with downloader: PackageDownloader) throws -> FetchedPackage {
        guard case .remote(let url) = entry.source else { preconditionFailure() }
        let owned = try OwnedFolder.take(in: directory, kind: "download", create: false)
        defer { unlink(owned.path); owned.release() }
        let fd = open(owned.path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw EnvpackError.writeFailed(path: owned.path, reason: errnoMessage()) }
        var closed = false
        defer { if !closed { close(fd) } }
        var lastError = "no attempt"
        var tries = 0
        attempts: for attempt in 0..<max(1, downloader.limits.attempts) {
            tries += 1
            if attempt > 0 { usleep(UInt32(300_000 * attempt)) }
            guard ftruncate(fd, 0) == 0, lseek(fd, 0, SEEK_SET) == 0 else {
                throw EnvpackError.writeFailed(path: owned.path, reason: errnoMessage())
            }
            switch downloader.fetch(url, into: fd, path: owned.path) {
            case .success:
                guard fsync(fd) == 0 else { throw EnvpackError.writeFailed(path: owned.path, reason: errnoMessage()) }
                closed = true
                guard close(fd) == 0 else { throw EnvpackError.writeFailed(path: owned.path, reason: errnoMessage()) }
                let fetched: FetchedPackage
                do { fetched = try verified(entry, path: owned.path) } catch let error as EnvpackError {
                    if case .malformedFile(_, let reason) = error {
                        throw EnvpackError.malformedFile(path: url.absoluteString, reason: "downloaded, but its \(reason)")
                    }
                    throw error
                }
                let placed = try place(owned.path, as: entry.fileName, sha256: fetched.sha256)
                return FetchedPackage(entry: entry, archivePath: placed, md5: fetched.md5, sha256: fetched.sha256, size: fetched.size)
            case .failure(let failure):
                lastError = failure.message
                if !failure.retry { break attempts }
            }
        }
        throw EnvpackError.unreadable(path: url.absoluteString, reason: "\(lastError) (spec line \(entry.line), \(tries == 1 ? "1 try" : "\(tries) tries"))")
    }

    /// Gives a verified download its lasting name: `<cache>/FILE` when no
    /// such name exists (link, which never replaces), else
    /// `<cache>/.envpack/SHA256/FILE`.
    private func place(_ temporary: String, as fileName: String, sha256: String) throws -> String {
        let primary = directory + "/" + fileName
        if link(temporary, primary) == 0 { return primary }
        let folder = ownDirectory + "/" + sha256
        try makeOwnFolder(folder)
        let own = folder + "/" + fileName
        unlink(own)  // envpack's own name: what is there did not verify
        guard link(temporary, own) == 0 else { throw EnvpackError.writeFailed(path: own, reason: errnoMessage()) }
        return own
    }

    /// Creates a folder of envpack's own corner (and the corner), refusing
    /// to follow a symlink planted there.
    func makeOwnFolder(_ path: String) throws {
        for folder in [ownDirectory, path] {
            if mkdir(folder, 0o755) != 0 {
                guard errno == EEXIST, FileStatus.lstat(folder)?.kind == .directory else {
                    throw EnvpackError.writeFailed(path: folder, reason: errno == EEXIST ? "exists and is not a folder" : errnoMessage())
                }
            }
        }
    }

    // MARK: Extract

    /// Extracts (or finds extracted) every package, on every core, and
    /// reads what each says about itself.
    public func contents(of packages: [FetchedPackage], log: (String) -> Void = { _ in }) throws -> [PackageContents] {
        let results = Locked([Int: Result<PackageContents, Error>]())
        let notes = Locked([String]())
        DispatchQueue.concurrentPerform(iterations: packages.count) { i in
            let result = Result {
                try PackageContents.load(directory: try self.extracted(packages[i]) { line in notes.withLock { $0.append(line) } })
            }
            results.withLock { $0[i] = result }
        }
        for note in notes.withLock({ $0 }) { log(note) }
        return try results.withLock { $0 }.sorted { $0.key < $1.key }.map { try $0.value.get() }
    }

    /// The package extracted in the cache: `<cache>/NAME-VERSION-BUILD/` when
    /// envpack made it from this archive, or conda did and it verifies, or
    /// the name is free; else `<cache>/.envpack/SHA256/NAME-VERSION-BUILD/`.
    public func extracted(_ package: FetchedPackage, log: (String) -> Void = { _ in }) throws -> String {
        let dist = package.entry.distName
        let primary = directory + "/" + dist
        let own = ownDirectory + "/" + package.sha256 + "/" + dist
        if Self.marker(in: primary)?.sha256 == package.sha256 { return primary }
        if Self.marker(in: own)?.sha256 == package.sha256 { return own }
        let primaryStatus = FileStatus.lstat(primary)
        if primaryStatus?.kind == .directory, Self.marker(in: primary) == nil {
            switch CondaCacheEntry.check(primary, package: package) {
            case .success: return primary
            case .failure(let why):
                log("note: \(primary) (not made by envpack) \(why); extracting \(package.entry.fileName) into \(ownDirectory)/ instead, leaving it as it is")
            }
        }

        // Extract into a folder of our own, verify, mark, then place.
        let owned = try OwnedFolder.take(in: directory, kind: "extract")
        defer { owned.release() }
        do {
            let written = try PackageArchive.extract(package.archivePath, into: owned.path)
            try PackageVerifier.verifyFiles(in: owned.path, package: package.entry.fileName, written: written)
            try CondaCacheEntry.writeRepodataRecord(in: owned.path, package: package)
            unlink(owned.path + "/" + Self.markerName)  // a package may carry one; it is not trusted
            try writeNewFile(owned.path + "/" + Self.markerName, Array("\(package.sha256) \(package.md5)\n".utf8), mode: 0o644)
            // Claim conda's name only while nothing is there: an empty folder
            // we make is replaced by the rename only if it is still empty.
            if primaryStatus == nil, mkdir(primary, 0o755) == 0 {
                if rename(owned.path, primary) == 0 { return primary }
                rmdir(primary)
            }
            try makeOwnFolder(ownDirectory + "/" + package.sha256)
            if FileStatus.lstat(own) != nil { try FileManager.default.removeItem(atPath: own) }  // ours, incomplete
            guard rename(owned.path, own) == 0 else { throw EnvpackError.writeFailed(path: own, reason: errnoMessage()) }
            return own
        } catch {
            try? FileManager.default.removeItem(atPath: owned.path)
            throw error
        }
    }

    /// The name of the file that marks an extraction envpack made and verified.
    static let markerName = ".envpack-extracted"

    /// The sha256 and md5 of the archive envpack extracted `folder` from.
    static func marker(in folder: String) -> (sha256: String, md5: String)? {
        let path = folder + "/" + markerName
        guard let data = SmallFile.read(path, limit: 4096).data else { return nil }
        let text = String(decoding: data, as: UTF8.self)
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
        guard parts.count == 2, parts[0].count == 64, parts[1].count == 32 else { return nil }
        return (parts[0], parts[1])
    }

    /// The md5 of an archive with this sha256 that envpack already extracted.
    func knownMD5(_ dist: String, sha256: String) -> String? {
        for folder in [directory + "/" + dist, ownDirectory + "/" + sha256 + "/" + dist] {
            if let m = Self.marker(in: folder), m.sha256 == sha256 { return m.md5 }
        }
        return nil
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
