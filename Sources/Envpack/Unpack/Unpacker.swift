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
        let progress = Progress(label: "unpacking", totalFiles: 0, totalBytes: 0, quiet: options.quiet)
        let entries = try SafeExtractor.extract(archive: options.archive, into: staging,
                                                sameOwner: options.sameOwner, progress: progress)
        progress.finish()
        try refuseLinkedManifestOrJournal(in: staging, archive: options.archive)

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

    /// Runs before the manifest is looked for, at the archive's top and
    /// below its one top folder (--arcroot), with lstat, never through a
    /// symlink: a symlink on the way to the manifest, or a manifest that is
    /// a symlink or not a regular file, is refused naming the entry (the
    /// relocation would otherwise work on what it points to, outside DEST);
    /// so is a relocation journal, the mark of a half-relocated environment
    /// (pack refuses those) or a crafted archive, whose journal would steer
    /// the relocation.
    static func refuseLinkedManifestOrJournal(in staging: String, archive: String) throws {
        func refuse(_ entry: String, _ why: String) -> EnvpackError {
            .archive(path: archive, reason: "refusing entry \(entry): \(why)")
        }
        var roots = [""]
        let items = (try? FileManager.default.contentsOfDirectory(atPath: staging)) ?? []
        if items.count == 1 { roots.append(items[0]) }
        for root in roots {
            let manifest = root.isEmpty ? Manifest.relativePath : root + "/" + Manifest.relativePath
            let parts = manifest.split(separator: "/").map(String.init)
            var walked = ""
            walk: for (i, part) in parts.enumerated() {
                walked = walked.isEmpty ? part : walked + "/" + part
                guard let status = FileStatus.lstat(staging + "/" + walked) else { break walk }
                let last = i == parts.count - 1
                switch (status.kind, last) {
                case (.directory, false), (.regular, true): continue
                case (.symlink, false): throw refuse(walked, "a symlink on the way to the manifest (\(manifest))")
                case (.symlink, true): throw refuse(walked, "the manifest is a symlink, not a regular file")
                case (_, true): throw refuse(walked, "the manifest is not a regular file")
                case (_, false): break walk
                }
            }
            // Its folders were just seen not to be symlinks (or it is not there).
            let journal = root.isEmpty ? Journal.relativePath : root + "/" + Journal.relativePath
            if FileStatus.lstat(staging + "/" + journal) != nil {
                throw refuse(journal, "the archive holds a relocation journal: it was packed from a half-relocated environment, or crafted; finish the relocation there (envpack relocate) and pack it again")
            }
        }
    }
}
