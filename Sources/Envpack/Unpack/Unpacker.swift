// `envpack unpack`: extraction and relocation in one step. The archive is
// extracted into a staging folder beside the destination and relocated there
// to the destination's path; only a complete, relocated environment is
// renamed into place. A failure (a truncated or corrupt archive, a refused
// entry, a prefix that does not fit) removes the staging folder, so the
// destination is never left half-made. A kill -9 leaves only the staging
// folder, named `.NAME.envpack-unpack-PID`, beside it.
import EnvpackRelocation
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public struct UnpackOptions: Sendable {
    public var archive: String
    public var destination: String
    public var force = false
    public var sameOwner = false
    public var quiet = false
    public var verbose = false

    public init(archive: String, destination: String) {
        self.archive = archive
        self.destination = destination
    }
}

public struct UnpackSummary: Sendable {
    /// Where the environment is (the destination, or DEST/ARCROOT).
    public var environment: String
    public var entries: Int
    public var relocatedFiles: Int
    public var from: String
}

public enum Unpacker {
    public static func unpack(_ options: UnpackOptions, log: @escaping (String) -> Void = { _ in }) throws -> UnpackSummary {
        let destination = absolutePath(options.destination)
        let parent = (destination as NSString).deletingLastPathComponent
        guard statFollowing(parent)?.kind == .directory else { throw EnvpackError.outputDirectoryMissing(parent) }
        var replacing = false
        if let status = statFollowing(destination) {
            guard status.kind == .directory else {
                throw EnvpackError.writeFailed(path: destination, reason: "exists and is not a folder")
            }
            let contents = (try? FileManager.default.contentsOfDirectory(atPath: destination)) ?? []
            if !contents.isEmpty {
                guard options.force else {
                    throw EnvpackError.invalidOption("\(destination) is not empty (use --force to replace it)")
                }
                replacing = true
            }
            if status.device != statFollowing(parent)?.device {
                guard !replacing else {
                    throw EnvpackError.invalidOption("\(destination) is a mount point and not empty: empty it first")
                }
                return try unpackInPlace(options, destination: destination, log: log)
            }
        }

        let name = (destination as NSString).lastPathComponent
        let staging = parent + "/." + name + ".envpack-unpack-\(getpid())"
        guard mkdir(staging, 0o755) == 0 else { throw EnvpackError.writeFailed(path: staging, reason: errnoMessage()) }
        do {
            let summary = try extractAndRelocate(options, into: staging, finalPath: destination, log: log)
            if replacing {
                let old = parent + "/." + name + ".envpack-old-\(getpid())"
                guard rename(destination, old) == 0 else { throw EnvpackError.writeFailed(path: destination, reason: errnoMessage()) }
                guard rename(staging, destination) == 0 else {
                    let reason = errnoMessage()
                    _ = rename(old, destination)
                    throw EnvpackError.writeFailed(path: destination, reason: reason)
                }
                try? FileManager.default.removeItem(atPath: old)
            } else {
                // rename(2) also replaces an empty folder.
                guard rename(staging, destination) == 0 else { throw EnvpackError.writeFailed(path: destination, reason: errnoMessage()) }
            }
            return summary
        } catch {
            try? FileManager.default.removeItem(atPath: staging)
            throw error
        }
    }

    /// For a destination that is a mount point (a volume): stage inside it,
    /// then move the staged entries up. On failure the destination is
    /// emptied again, as it was.
    private static func unpackInPlace(_ options: UnpackOptions, destination: String,
                                      log: @escaping (String) -> Void) throws -> UnpackSummary {
        let staging = destination + "/.envpack-unpack-\(getpid())"
        guard mkdir(staging, 0o755) == 0 else { throw EnvpackError.writeFailed(path: staging, reason: errnoMessage()) }
        var moved: [String] = []
        do {
            let summary = try extractAndRelocate(options, into: staging, finalPath: destination, log: log)
            for item in try FileManager.default.contentsOfDirectory(atPath: staging) {
                guard rename(staging + "/" + item, destination + "/" + item) == 0 else {
                    throw EnvpackError.writeFailed(path: destination + "/" + item, reason: errnoMessage())
                }
                moved.append(item)
            }
            try FileManager.default.removeItem(atPath: staging)
            return summary
        } catch {
            for item in moved { try? FileManager.default.removeItem(atPath: destination + "/" + item) }
            try? FileManager.default.removeItem(atPath: staging)
            throw error
        }
    }

    private static func extractAndRelocate(_ options: UnpackOptions, into staging: String, finalPath: String,
                                           log: @escaping (String) -> Void) throws -> UnpackSummary {
        let progress = Progress(label: "unpacking", totalFiles: 0, totalBytes: 0, quiet: options.quiet)
        let entries = try SafeExtractor.extract(archive: options.archive, into: staging,
                                                sameOwner: options.sameOwner, progress: progress)
        progress.finish()

        // The environment is the staging folder itself, or its one folder
        // when the archive was packed with --arcroot.
        var arcroot = ""
        if !FileManager.default.fileExists(atPath: staging + "/" + Manifest.relativePath) {
            let items = (try? FileManager.default.contentsOfDirectory(atPath: staging)) ?? []
            guard items.count == 1, FileManager.default.fileExists(atPath: staging + "/" + items[0] + "/" + Manifest.relativePath) else {
                throw EnvpackError.archive(path: options.archive, reason: "no \(Manifest.relativePath) inside: not an envpack archive")
            }
            arcroot = items[0]
        }
        let root = arcroot.isEmpty ? staging : staging + "/" + arcroot
        let target = arcroot.isEmpty ? finalPath : finalPath + "/" + arcroot
        var relocator = Relocator(root: root, to: target)
        if options.verbose { relocator.log = log }
        let manifest = try relocator.loadManifest()
        let plan = try relocator.plan(manifest)
        try relocator.apply(plan)
        return UnpackSummary(environment: target, entries: entries, relocatedFiles: plan.files.count, from: plan.from)
    }
}
