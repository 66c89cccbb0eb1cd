// Extracting an archive without trusting it (shared by `envpack unpack`,
// `envpack install` and the static helper): entries with absolute paths or
// `..`, writing through a symlink, hardlinks that leave the destination,
// device nodes and names that are not UTF-8 are refused, each named. Owners
// are not restored unless asked; set-id bits are dropped. The destination is
// always a fresh folder, so every symlink in it came from the archive:
// envpack remembers them and refuses any later entry (or hardlink target)
// below one, and DiskWriter opens every folder with O_NOFOLLOW besides.
// libarchive reads (ArchiveReader); envpack writes (DiskWriter, which says
// why), so several archives can be extracted at once on different threads,
// and a failed write is an error. The stream is verified to its end before
// `extract` returns. `extractHashing` also returns the sha256 and size of
// every regular file as it was written (hardlinks share their target's), for
// `envpack install` to check a package without reading it back; `envpack
// unpack` does not ask, and does not pay for it.
import CArchive
#if canImport(Glibc)
import Glibc
#endif

public enum Extractor {
    /// What one extraction wrote.
    public struct Extraction: Sendable {
        /// The number of entries.
        public var entries = 0
        /// Path (relative, "/"-separated, no "." parts) -> sha256 and size
        /// of each regular file and hardlink written, when asked for;
        /// files with holes are left out (see DiskWriter.makeFile).
        public var files: [String: FileDigest] = [:]
    }

    /// Extracts everything `reader` holds into the existing, empty folder
    /// `directory`; with `hashing`, hashes every regular file as it is
    /// written. `check` runs before each entry (envpack's Ctrl-C check
    /// throws from it).
    public static func run(reader: ArchiveReader, into directory: String, sameOwner: Bool = false,
                           progress: ExtractionProgress? = nil, hashing: Bool = false,
                           check: () throws -> Void = {}) throws -> Extraction {
        let writer = try DiskWriter(root: directory, archive: reader.displayPath)
        var symlinks = Set<String>()
        var result = Extraction()
        while let entry = try reader.nextRaw() {
            try check()
            let name = reader.currentPath
            let components = try validate(entry: entry, name: name, archive: reader.displayPath,
                                          hardlink: reader.currentHardlink, symlinks: symlinks)
            let meta = metadata(entry, sameOwner: sameOwner)
            let size = archive_entry_size(entry)
            if reader.currentHardlink != nil && size > 0 {
                // Some writers (conda-pack, through python's tarfile) give a
                // hardlink entry the file's data again. Written through the
                // link it would rewrite the entry it links to, so it becomes
                // a file of its own: the archive's content, and no change to
                // any other entry.
                let digest = try writer.makeFile(components, entry: name, size: size, meta: meta, hash: hashing) { write in
                    try reader.forEachBlock(write)
                }
                if let digest { result.files[components.joined(separator: "/")] = digest }
            } else if let target = reader.currentHardlink {
                let targetComponents = target.split(separator: "/").filter { $0 != "." }.map(String.init)
                try writer.makeHardlink(components, entry: name, target: targetComponents, targetName: target)
                if hashing, let digest = result.files[targetComponents.joined(separator: "/")] {
                    result.files[components.joined(separator: "/")] = digest
                }
                // Data in a hardlink entry would rewrite the file it links to.
                try reader.forEachBlock { block, _ in
                    if !block.isEmpty {
                        throw ExtractError.archive(path: reader.displayPath, reason: "refusing entry \(name): a hardlink entry that carries data")
                    }
                }
            } else {
                switch UInt32(archive_entry_filetype(entry)) {
                case fileTypeDirectory:
                    try writer.makeFolder(components, entry: name, meta: meta)
                case fileTypeSymlink:
                    guard let target = reader.currentSymlink, !target.isEmpty else {
                        throw ExtractError.archive(path: reader.displayPath, reason: "refusing entry \(name): a symlink with no target")
                    }
                    try writer.makeSymlink(components, entry: name, target: target, meta: meta)
                    symlinks.insert(components.joined(separator: "/"))
                default:
                    let digest = try writer.makeFile(components, entry: name, size: size, meta: meta, hash: hashing) { write in
                        try reader.forEachBlock(write)
                    }
                    if let digest { result.files[components.joined(separator: "/")] = digest }
                }
            }
            result.entries += 1
            progress?.advance(files: 1, bytes: Int(size))
        }
        try writer.finish()
        return result
    }

    /// The checks that need the whole archive's view, with messages that
    /// name the entry. Returns the entry's path components.
    static func validate(entry: OpaquePointer, name: String, archive: String, hardlink: String?,
                         symlinks: Set<String>) throws -> [String] {
        func refuse(_ why: String) -> ExtractError { .archive(path: archive, reason: "refusing entry \(name): \(why)") }
        if name.hasPrefix("/") { throw refuse("absolute path") }
        if name.split(separator: "/").contains("..") { throw refuse("path leaves the destination (..)") }
        let components = name.split(separator: "/").filter { $0 != "." }.map(String.init)
        /// The first symlink the archive made that `path` would go through.
        func symlinkAbove(_ path: [String]) -> String? {
            var walked = ""
            for component in path.dropLast() {
                walked = walked.isEmpty ? component : walked + "/" + component
                if symlinks.contains(walked) { return walked }
            }
            return nil
        }
        if let link = symlinkAbove(components) { throw refuse("it would be written through the symlink \(link)") }
        let type = UInt32(archive_entry_filetype(entry))
        switch type {
        case fileTypeRegular, fileTypeDirectory, fileTypeSymlink: break
        case 0 where hardlink != nil: break
        default: throw refuse("device nodes, FIFOs and sockets are not extracted")
        }
        if components.isEmpty && type != fileTypeDirectory {
            throw refuse("it names the destination itself")
        }
        if let target = hardlink {
            if target.hasPrefix("/") || target.split(separator: "/").contains("..") {
                throw refuse("hardlink to \(target) leaves the destination")
            }
            // The target must be a regular file extracted before it,
            // reached through no symlink (DiskWriter checks the former).
            let targetComponents = target.split(separator: "/").filter { $0 != "." }.map(String.init)
            if targetComponents.isEmpty {
                throw refuse("hardlink to \(target), which is not a regular file extracted before it")
            }
            if let link = symlinkAbove(targetComponents) ?? (symlinks.contains(targetComponents.joined(separator: "/")) ? target : nil) {
                throw refuse("hardlink to \(target) goes through the symlink \(link)")
            }
        }
        return components
    }

    /// Mode (set-id bits from an archive are never wanted in an
    /// environment), times and, with `--same-owner`, the owner.
    static func metadata(_ entry: OpaquePointer, sameOwner: Bool) -> DiskWriter.Metadata {
        var meta = DiskWriter.Metadata(mode: mode_t(archive_entry_perm(entry)) & 0o1777)
        if archive_entry_mtime_is_set(entry) != 0 {
            meta.mtime = timespec(tv_sec: archive_entry_mtime(entry), tv_nsec: Int(archive_entry_mtime_nsec(entry)))
        }
        if archive_entry_atime_is_set(entry) != 0 {
            meta.atime = timespec(tv_sec: archive_entry_atime(entry), tv_nsec: Int(archive_entry_atime_nsec(entry)))
        }
        if sameOwner { meta.owner = owner(of: entry) }
        return meta
    }

    /// The entry's owner: by name when this system knows the name, as tar
    /// does, else by number.
    private static func owner(of entry: OpaquePointer) -> (uid: uid_t, gid: gid_t) {
        var uid = uid_t(truncatingIfNeeded: archive_entry_uid(entry))
        var gid = gid_t(truncatingIfNeeded: archive_entry_gid(entry))
        var buffer = [CChar](repeating: 0, count: 16384)
        if let name = archive_entry_uname(entry) {
            var pw = passwd(), result: UnsafeMutablePointer<passwd>? = nil
            if getpwnam_r(name, &pw, &buffer, buffer.count, &result) == 0, result != nil { uid = pw.pw_uid }
        }
        if let name = archive_entry_gname(entry) {
            var gr = group(), result: UnsafeMutablePointer<group>? = nil
            if getgrnam_r(name, &gr, &buffer, buffer.count, &result) == 0, result != nil { gid = gr.gr_gid }
        }
        return (uid, gid)
    }
}
