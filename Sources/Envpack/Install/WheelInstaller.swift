// Installing verified wheels into the staging prefix as pip does (the
// "posix_prefix" scheme of a conda environment): the root and
// `.data/purelib|platlib` into lib/pythonX.Y/site-packages, `.data/scripts`
// into bin/ (a `#!python` line becomes the environment's python, written as
// envpack writes every shebang: EnvpackRelocation's relocatedShebang),
// `.data/headers` into include/pythonX.Y/NAME, `.data/data` into the prefix;
// console and GUI entry points as bin/ scripts; then INSTALLER (`envpack`),
// REQUESTED, direct_url.json and a RECORD with the hash of every file as
// written (written last, by `finish`, so compiled .pyc files are listed
// too). Every folder on the way is a real folder (a symlink a package made
// is never followed) and no path lands in conda-meta/. A path a conda
// package or an earlier wheel wrote is replaced and reported as a clobber.
import Crypto
import EnvpackRelocation
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A wheel placed in the staging prefix, its RECORD not yet written.
struct InstalledWheel {
    var wheel: WheelEntry
    var name: String
    var version: String
    /// `lib/pythonX.Y/site-packages/NAME-VERSION.dist-info`, prefix-relative.
    var distInfo: String
    var rows: [RecordRow]
    /// Python sources written into site-packages, prefix-relative.
    var pythonSources: [String]
}

struct WheelInstaller {
    let staging: String
    let prefix: String
    /// "3.12".
    let pythonVersion: String
    /// Prefix-relative path -> who wrote it ("name-version-build" or a wheel).
    var owner: [String: String]
    var clobbered: [String] = []
    /// Folders known to be real folders in the staging prefix.
    private var folders: Set<String> = []

    var sitePackages: String { "lib/python\(pythonVersion)/site-packages" }
    /// The scratch folder wheels are extracted into (inside the staging
    /// prefix, removed before the environment is committed).
    static let scratchName = ".envpack-wheels"

    init(staging: String, prefix: String, pythonVersion: String, owner: [String: String]) {
        self.staging = staging
        self.prefix = prefix
        self.pythonVersion = pythonVersion
        self.owner = owner
    }

    /// Extracts, verifies and places one wheel (already fetched and hash-checked).
    mutating func install(_ wheel: WheelEntry, archive: String, index: Int) throws -> InstalledWheel {
        let scratch = staging + "/" + Self.scratchName
        if mkdir(scratch, 0o700) != 0 && errno != EEXIST { throw EnvpackError.writeFailed(path: scratch, reason: errnoMessage()) }
        let folder = scratch + "/\(index)"
        guard mkdir(folder, 0o700) == 0 else { throw EnvpackError.writeFailed(path: folder, reason: errnoMessage()) }
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let unpacked = try WheelArchive.unpack(wheel, archive: archive, into: folder)
        func refuse(_ why: String) -> EnvpackError { .malformedFile(path: archive, reason: "\(wheel.label): \(why)") }
        let label = "\(unpacked.name) \(unpacked.version) (wheel)"
        var rows: [RecordRow] = []
        var sources: [String] = []
        let distInfo = sitePackages + "/" + unpacked.distInfo

        for path in unpacked.files.keys.sorted() {
            try Interruption.check()
            if path == unpacked.distInfo + "/RECORD" || path.hasPrefix(unpacked.distInfo + "/RECORD.") { continue }
            guard let (dest, isScript) = try destination(of: path, unpacked, refuse) else { continue }
            let target = staging + "/" + dest
            try makeParent(of: dest, refuse)
            try clear(dest, label: label, refuse)
            var digest = unpacked.files[path]!
            if isScript {
                digest = try writeScript(from: folder + "/" + path, to: target, refuse)
            } else {
                guard rename(folder + "/" + path, target) == 0 else { throw EnvpackError.writeFailed(path: target, reason: errnoMessage()) }
                var info = stat()
                if lstat(target, &info) == 0 { chmod(target, (info.st_mode & 0o7777) | 0o644) }
            }
            rows.append(RecordRow(path: relative(dest), sha256: digest.sha256, size: digest.size))
            if dest.hasPrefix(sitePackages + "/") && dest.hasSuffix(".py") { sources.append(dest) }
        }
        // Entry points: bin/NAME scripts running the function with the env's python.
        for ep in unpacked.consoleScripts + unpacked.guiScripts {
            let dest = "bin/" + ep.command
            try makeParent(of: dest, refuse)
            try clear(dest, label: label, refuse)
            let text: String
            do { text = try ep.script(prefix: prefix, pythonVersion: pythonVersion) } catch {
                throw refuse("entry point \(ep.command): \(error)")
            }
            let bytes = Array(text.utf8)
            try writeNewFile(staging + "/" + dest, bytes, mode: 0o755)
            rows.append(RecordRow(path: relative(dest), sha256: hexString(SHA256.hash(data: bytes)), size: bytes.count))
        }
        // What pip writes besides the wheel's own files.
        var extra: [(String, [UInt8])] = [("INSTALLER", Array("envpack\n".utf8)), ("REQUESTED", [])]
        let direct: JSONValue = .object([
            "url": .string(wheel.directURL),
            "archive_info": .object(["hash": .string("sha256=" + (wheel.spec.sha256 ?? "")),
                                     "hashes": .object(["sha256": .string(wheel.spec.sha256 ?? "")])]),
        ])
        extra.append(("direct_url.json", Array(direct.text().utf8)))
        for (name, bytes) in extra {
            let dest = distInfo + "/" + name
            let target = staging + "/" + dest
            unlink(target)  // the wheel's own INSTALLER or REQUESTED, if any (already verified, replaced)
            rows.removeAll { $0.path == relative(dest) }
            try writeNewFile(target, bytes, mode: 0o644)
            rows.append(RecordRow(path: relative(dest), sha256: hexString(SHA256.hash(data: bytes)), size: bytes.count))
        }
        return InstalledWheel(wheel: wheel, name: unpacked.name, version: unpacked.version, distInfo: distInfo, rows: rows,
                              pythonSources: sources)
    }

    /// Writes the RECORD of an installed wheel, listing `pycs` too.
    func finish(_ installed: InstalledWheel, pycs: [String]) throws {
        var rows = installed.rows
        for pyc in pycs {
            let hashed = try hashFile(staging + "/" + pyc, md5: false)
            rows.append(RecordRow(path: relative(pyc), sha256: hashed.sha256, size: hashed.size))
        }
        let recordPath = installed.distInfo + "/RECORD"
        let target = staging + "/" + recordPath
        unlink(target)
        try writeNewFile(target, Array(WheelRecord.text(rows, recordPath: relative(recordPath)).utf8), mode: 0o644)
    }

    /// Removes the scratch folder (nothing of it may reach PREFIX).
    func removeScratch() throws {
        let scratch = staging + "/" + Self.scratchName
        guard FileStatus.lstat(scratch) != nil else { return }
        try FileManager.default.removeItem(atPath: scratch)
    }

    /// Where a wheel's file goes (prefix-relative), and whether it is a
    /// script whose `#!python` line is rewritten.
    func destination(of path: String, _ unpacked: UnpackedWheel, _ refuse: (String) -> EnvpackError) throws -> (String, Bool)? {
        var dest = sitePackages + "/" + path
        var isScript = false
        if path.hasPrefix(unpacked.dataDir + "/") {
            let rest = path.dropFirst(unpacked.dataDir.count + 1)
            let scheme = rest.split(separator: "/", maxSplits: 1).first.map(String.init) ?? ""
            let inner = String(rest.dropFirst(scheme.count + 1))
            guard !inner.isEmpty else { throw refuse("\(path) is not inside a scheme folder of \(unpacked.dataDir)") }
            switch scheme {
            case "purelib", "platlib": dest = sitePackages + "/" + inner
            case "scripts": dest = "bin/" + inner; isScript = true
            case "headers": dest = "include/python\(pythonVersion)/\(unpacked.name)/" + inner
            case "data": dest = inner
            default: throw refuse("\(unpacked.dataDir)/\(scheme.prefix(100)) is not a wheel scheme (purelib, platlib, scripts, headers, data)")
            }
        }
        let parts = dest.split(separator: "/", omittingEmptySubsequences: false)
        guard !parts.contains(".."), !parts.contains(""), !dest.hasPrefix("/") else { throw refuse("\(path) leaves the environment") }
        guard parts.first != "conda-meta", parts.first.map(String.init) != Self.scratchName else {
            throw refuse("\(path) would be written into \(parts.first!)/, which holds envpack's records")
        }
        return (dest, isScript)
    }

    /// Makes every folder above `dest`, refusing to go through anything
    /// that is not a real folder.
    mutating func makeParent(of dest: String, _ refuse: (String) -> EnvpackError) throws {
        var walked = ""
        for part in dest.split(separator: "/").dropLast() {
            walked = walked.isEmpty ? String(part) : walked + "/" + part
            if folders.contains(walked) { continue }
            let path = staging + "/" + walked
            if mkdir(path, 0o755) != 0 {
                guard errno == EEXIST else { throw EnvpackError.writeFailed(path: path, reason: errnoMessage()) }
                guard FileStatus.lstat(path)?.kind == .directory else {
                    throw refuse("\(dest) goes through \(walked), which a package made a symlink or file; refusing to write through it")
                }
            }
            folders.insert(walked)
        }
    }

    /// Notes a clobber and removes what an earlier package wrote at `dest`.
    mutating func clear(_ dest: String, label: String, _ refuse: (String) -> EnvpackError) throws {
        let target = staging + "/" + dest
        if let previous = owner[dest], previous != label { clobbered.append("\(dest): \(previous) -> \(label)") }
        owner[dest] = label
        guard let status = FileStatus.lstat(target) else { return }
        guard status.kind != .directory else { throw refuse("\(dest) is a folder in the environment; the wheel has a file there") }
        // A file a conda package hardlinked from the cache: unlinked, never written through.
        guard unlink(target) == 0 else { throw EnvpackError.writeFailed(path: target, reason: errnoMessage()) }
    }

    /// A `.data/scripts` file: a `#!python` (or `#!pythonw`) line becomes
    /// the environment's python; the file is made executable. Streamed: only
    /// its first line is held in memory, whatever its size.
    func writeScript(from source: String, to target: String, _ refuse: (String) -> EnvpackError) throws -> FileDigest {
        let input = open(source, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard input >= 0 else { throw EnvpackError.unreadable(path: source, reason: errnoMessage()) }
        defer { close(input) }
        let output = open(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o755)
        guard output >= 0 else { throw EnvpackError.writeFailed(path: target, reason: errnoMessage()) }
        var hasher = SHA256()
        var size = 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        func emit(_ chunk: UnsafeRawBufferPointer) throws {
            hasher.update(bufferPointer: chunk)
            size += chunk.count
            try writeAll(fd: output, chunk, displayPath: target)
        }
        func fill() throws -> Int {
            while true {
                let n = read(input, buffer.baseAddress, buffer.count)
                if n >= 0 { return n }
                if errno != EINTR { throw EnvpackError.unreadable(path: source, reason: errnoMessage()) }
            }
        }
        do {
            var n = try fill()
            // The first line is looked at within the first read (a #! line
            // longer than 1 MiB is no interpreter line envpack rewrites).
            let head = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
            let firstLine = Array(head.prefix { $0 != 0x0a })
            if let (interpreter, argument) = parseShebang(firstLine), interpreter == "python" || interpreter == "pythonw" {
                let line: String
                do { line = try relocatedShebang(interpreter: prefix + "/bin/python" + pythonVersion, argument: argument) } catch {
                    throw refuse("script \((target as NSString).lastPathComponent): \(error)")
                }
                try Array(line.utf8).withUnsafeBytes { try emit($0) }
                try emit(UnsafeRawBufferPointer(rebasing: head[firstLine.count...]))
            } else {
                try emit(head)
            }
            while n > 0 {
                n = try fill()
                if n > 0 { try emit(UnsafeRawBufferPointer(rebasing: buffer[0..<n])) }
            }
            guard fchmod(output, 0o755) == 0 else { throw EnvpackError.writeFailed(path: target, reason: errnoMessage()) }
        } catch {
            close(output)
            throw error
        }
        guard close(output) == 0 else { throw EnvpackError.writeFailed(path: target, reason: errnoMessage()) }
        return FileDigest(sha256: hexString(hasher.finalize()), size: size)
    }

    /// A prefix-relative path as RECORD lists it: relative to site-packages.
    func relative(_ dest: String) -> String {
        if dest.hasPrefix(sitePackages + "/") { return String(dest.dropFirst(sitePackages.count + 1)) }
        return "../../../" + dest
    }
}
