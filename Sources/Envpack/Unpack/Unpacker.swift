// `envpack unpack`: extraction and relocation in one step. The archive is
// extracted into a staging folder beside the destination and relocated there
// to the destination's path; only a complete, relocated environment is
// renamed into place (StagedFolder). A failure (a truncated or corrupt archive, a refused
// entry, a prefix that does not fit) removes the staging folder, so the
// destination is never left half-made. A kill -9 leaves only the staging
// folder (`.envpack-unpack-PID-N`, beside it), which the next run removes.
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
    /// Called with the progress of the extraction (nil: none). The CLI
    /// passes `TerminalProgress.standardError()`.
    public var progress: ProgressHandler? = nil

    public init(archive: String, destination: String) {
        self.archive = archive
        self.destination = destination
    }
}

public struct UnpackSummary: Sendable {
    /// Where the environment is (the destination, or DEST/ARCROOT).
    public var environment: String
    /// Entries of the archive (files, folders, links) and the bytes of its
    /// files ("file data"), as inspect counts them.
    public var entries: Int
    public var fileBytes = 0
    public var relocatedFiles: Int
    public var from: String
    /// True when the archive was made by conda-pack.
    public var fromCondaPack = false
}

public enum Unpacker {
    public static func unpack(_ options: UnpackOptions, log: @escaping (String) -> Void = { _ in }) throws -> UnpackSummary {
        Interruption.watch()
        let folder = try StagedFolder(destination: options.destination, kind: "unpack", force: options.force)
        do {
            let summary = try extractAndRelocate(options, into: folder.staging, finalPath: folder.destination, log: log)
            try Interruption.check()
            try folder.commit()
            folder.finish()
            return summary
        } catch {
            folder.discard()
            throw error
        }
    }

    private static func extractAndRelocate(_ options: UnpackOptions, into staging: String, finalPath: String,
                                           log: @escaping (String) -> Void) throws -> UnpackSummary {
        let reader = try asEnvpackError { try ArchiveReader(path: options.archive) }
        // From a file, the share of it read so far gives a percentage and an ETA.
        let input = InputPosition(path: options.archive)
        let progress = Progress(label: "unpacking", unit: "entries", total: nil, totalBytes: nil,
                                input: input.map { i in (position: { i.position() }, size: i.size) },
                                handler: options.quiet ? nil : options.progress)
        let entries = try SafeExtractor.extract(reader: reader, into: staging,
                                                sameOwner: options.sameOwner, progress: progress)
        progress.finish()
        try refuseLinkedManifestOrJournal(in: staging, archive: options.archive)

        // The environment is the staging folder itself, or its one folder
        // when the archive was packed with --arcroot. An archive made by
        // conda-pack has no manifest: one is built from its conda-unpack
        // records (CondaPackArchive).
        var arcroot = ""
        var condaPack = false
        func hasManifest(_ dir: String) -> Bool { FileStatus.lstat(dir + "/" + Manifest.relativePath)?.kind == .regular }
        if !hasManifest(staging) {
            let items = (try? FileManager.default.contentsOfDirectory(atPath: staging)) ?? []
            if items.count == 1, FileStatus.lstat(staging + "/" + items[0])?.kind == .directory,
               hasManifest(staging + "/" + items[0]) || CondaPackArchive.isCondaPack(root: staging + "/" + items[0]) {
                arcroot = items[0]
            }
            let candidate = arcroot.isEmpty ? staging : staging + "/" + arcroot
            if !hasManifest(candidate) {
                guard CondaPackArchive.isCondaPack(root: candidate) else {
                    throw EnvpackError.archive(path: options.archive, reason: "no \(Manifest.relativePath) and no bin/conda-unpack inside: neither an envpack nor a conda-pack archive (for an environment packed otherwise: extract it with tar -xf into DEST, then run `envpack relocate DEST --from OLD-PREFIX`)")
                }
                let prepared = try CondaPackArchive.prepare(root: candidate, archive: options.archive)
                condaPack = true
                if options.verbose { log("conda-pack archive: \(prepared.records) conda-unpack records, \(prepared.manifest.files.count) prefix-bearing files, \(prepared.restoredShebangs.count) #!/usr/bin/env lines put back to the environment's programs") }
            }
        }
        let root = arcroot.isEmpty ? staging : staging + "/" + arcroot
        let target = arcroot.isEmpty ? finalPath : finalPath + "/" + arcroot
        var relocator = Relocator(root: root, to: target)
        if options.verbose { relocator.log = log }
        let manifest = try relocator.loadManifest()
        let plan = try relocator.plan(manifest)
        try relocator.apply(plan)
        return UnpackSummary(environment: target, entries: entries, fileBytes: progress.counted.bytes,
                             relocatedFiles: plan.files.count, from: plan.from, fromCondaPack: condaPack)
    }

    /// Before the manifest is looked for: see ExtractedTree (shared with
    /// the static helper).
    static func refuseLinkedManifestOrJournal(in staging: String, archive: String) throws {
        try asEnvpackError { try ExtractedTree.refuseLinkedManifestOrJournal(in: staging, archive: archive) }
    }
}

