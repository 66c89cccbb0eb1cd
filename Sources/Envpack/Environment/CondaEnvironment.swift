// A conda environment as conda-meta describes it: its packages and, for each
// path a package owns, what the record says about it. Loading validates the
// records (a malformed one is named) but touches no other file.
import Foundation

public struct CondaEnvironment: Sendable {
    /// Absolute, standardised prefix.
    public let prefix: String
    public let records: [PackageRecord]
    /// The record file each record came from, for messages.
    public let recordFiles: [String]
    /// Every path a record owns, with the index of its record.
    public let managed: [String: ManagedPath]
    /// X.Y of the environment's python, when it has one.
    public let pythonVersion: String?

    public struct ManagedPath: Sendable {
        public var entry: PathEntry
        public var recordIndex: Int
        /// False when the record gave no file_mode/prefix_placeholder data
        /// (micromamba and old conda), so whether the file holds a prefix
        /// must be found by reading it.
        public var hasPrefixInfo: Bool
    }

    /// The largest conda-meta record read (the biggest real ones, of
    /// packages with tens of thousands of files, are a few MB); also the
    /// most of conda-meta/history read.
    static let maxRecordSize = 256 << 20

    /// conda-meta/history's text, nil when it is missing, not a regular file
    /// or larger than a record may be (it is only ever a hint).
    static func historyText(prefix: String) -> String? {
        SmallFile.read(prefix + "/conda-meta/history", limit: maxRecordSize, followLinks: true).data.map { String(decoding: $0, as: UTF8.self) }
    }

    /// Loads the records of the environment at `prefix`.
    public static func load(prefix rawPrefix: String) throws -> CondaEnvironment {
        let prefix = absolutePath(rawPrefix)
        guard let status = FileStatus.lstat(prefix) ?? statFollowing(prefix) else {
            throw EnvpackError.prefixMissing(prefix)
        }
        guard status.kind == .directory || statFollowing(prefix)?.kind == .directory else {
            throw EnvpackError.notACondaEnvironment(prefix)
        }
        let metaDir = prefix + "/conda-meta"
        guard statFollowing(metaDir)?.kind == .directory else {
            throw EnvpackError.notACondaEnvironment(prefix)
        }
        guard let names = try directoryEntries(metaDir) else {
            throw EnvpackError.unreadable(path: metaDir, reason: errnoMessage())
        }
        let decoder = JSONDecoder()
        var records: [PackageRecord] = []
        var files: [String] = []
        for name in names.sorted() where name.hasSuffix(".json") {
            let path = metaDir + "/" + name
            // A record is a small regular file; anything else (a device, a
            // pipe, a link to one, a file of gigabytes) is refused unread.
            let data: Data
            switch SmallFile.read(path, limit: Self.maxRecordSize, followLinks: true) {
            case .data(let d): data = d
            case .missing, .notRegular: throw EnvpackError.unreadable(path: path, reason: "not a regular file, so not a conda-meta record")
            case .tooLarge(let size): throw EnvpackError.malformedFile(path: path, reason: "\(size) bytes, more than a conda-meta record may be (\(Self.maxRecordSize))")
            case .unreadable(let reason): throw EnvpackError.unreadable(path: path, reason: reason)
            }
            do {
                records.append(try decoder.decode(PackageRecord.self, from: data))
                files.append(path)
            } catch {
                throw EnvpackError.malformedFile(path: path, reason: "malformed conda-meta record: " + describe(decodingError: error))
            }
        }

        let pythons = records.filter { $0.name == "python" }
        if pythons.count > 1 {
            throw EnvpackError.multiplePythons(pythons.map(\.distName))
        }
        let pythonVersion = pythons.first.map { majorMinor($0.version) }

        var managed: [String: ManagedPath] = [:]
        for (index, record) in records.enumerated() {
            for (entry, hasInfo) in pathEntries(of: record, pythonVersion: pythonVersion) {
                managed[entry.path] = ManagedPath(entry: entry, recordIndex: index, hasPrefixInfo: hasInfo)
            }
        }
        // The path lists now live in `managed`; keeping them twice would
        // double the memory of a large environment.
        for i in records.indices { records[i].files = nil; records[i].pathsData = nil }
        return CondaEnvironment(prefix: prefix, records: records, recordFiles: files,
                                managed: managed, pythonVersion: pythonVersion)
    }

    /// The paths a record owns, each with whether its prefix data is known.
    /// `paths_data` is taken as complete only when it covers every path of
    /// `files`: conda 4.x lists there only the files that needed a prefix.
    /// Otherwise the package cache the record names (`link.source`,
    /// `extracted_package_dir`) gives hashes and placeholders, and `files`
    /// at least says what must be present: the cache is never required.
    static func pathEntries(of record: PackageRecord, pythonVersion: String?) -> [(PathEntry, Bool)] {
        let recorded = record.pathsData?.paths ?? []
        let files = record.files ?? []
        let recordedPaths = Set(recorded.map(\.path))
        let complete = !recorded.isEmpty && files.allSatisfy { recordedPaths.contains($0) }
        if complete {
            let hasInfo = recorded.contains { $0.fileMode != nil || $0.prefixPlaceholder != nil }
            return recorded.map { ($0, hasInfo) }
        }
        var result: [(PathEntry, Bool)] = []
        var seen = Set<String>()
        if let cached = cachedPaths(of: record, pythonVersion: pythonVersion) {
            let byPath = Dictionary(recorded.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
            for var e in cached {
                // What conda recorded for this prefix (sha256_in_prefix, its
                // path type) wins over the package's own description.
                if let r = byPath[e.path] {
                    e.pathType = r.pathType == .hardlink ? e.pathType : r.pathType
                    e.sha256InPrefix = r.sha256InPrefix ?? e.sha256InPrefix
                    e.prefixPlaceholder = r.prefixPlaceholder ?? e.prefixPlaceholder
                    e.fileMode = r.fileMode ?? e.fileMode
                }
                if seen.insert(e.path).inserted { result.append((e, true)) }
            }
        }
        for e in recorded where seen.insert(e.path).inserted {
            result.append((e, e.fileMode != nil || e.prefixPlaceholder != nil))
        }
        for path in files where seen.insert(path).inserted {
            result.append((PathEntry(path: path), false))
        }
        return result
    }

    /// The package's path list from the cache the record names, with noarch
    /// python paths mapped to where they were installed.
    static func cachedPaths(of record: PackageRecord, pythonVersion: String?) -> [PathEntry]? {
        for dir in [record.link?.source, record.extractedPackageDir].compactMap({ $0 }) where !dir.isEmpty {
            guard let cached = try? PackageInfo.paths(infoDirectory: URL(fileURLWithPath: dir).appendingPathComponent("info")) else { continue }
            // The cache holds the package as built: noarch python paths are
            // not yet mapped to their installed places.
            return record.noarch == .python
                ? cached.map { e -> PathEntry in var e = e; e.path = noarchPythonPath(e.path, pythonVersion: pythonVersion); return e }
                : cached
        }
        return nil
    }

    /// The same environment reached through another spelling of its path.
    public func withPrefix(_ newPrefix: String) -> CondaEnvironment {
        CondaEnvironment(prefix: newPrefix, records: records, recordFiles: recordFiles,
                         managed: managed, pythonVersion: pythonVersion)
    }

    /// The record of a managed path, for messages.
    public func owner(of path: String) -> String? {
        managed[path].map { records[$0.recordIndex].distName }
    }
}

/// Where a noarch: python package's path lands in an environment.
public func noarchPythonPath(_ path: String, pythonVersion: String?) -> String {
    if path.hasPrefix("site-packages/"), let v = pythonVersion {
        return "lib/python\(v)/" + path
    }
    if path.hasPrefix("python-scripts/") {
        return "bin/" + path.dropFirst("python-scripts/".count)
    }
    return path
}

func majorMinor(_ version: String) -> String {
    version.split(separator: ".").prefix(2).joined(separator: ".")
}

func statFollowing(_ path: String) -> FileStatus? {
    var st = stat()
    guard stat(path, &st) == 0 else { return nil }
    return FileStatus(st)
}
