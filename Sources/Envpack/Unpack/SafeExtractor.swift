// Extracting an archive without trusting it: entries with absolute paths or
// `..`, writing through a symlink, hardlinks that leave the destination and
// device nodes are refused, each named. Owners are not restored unless asked.
// The destination is always a fresh folder, so every symlink in it came from
// the archive: envpack remembers them and refuses any later entry (or
// hardlink target) below one. That is libarchive's SECURE_SYMLINKS check
// without its look at the folders above the destination (which may well be
// symlinks) and without a chdir, so several archives can be extracted at
// once on different threads.
import CArchive
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public enum SafeExtractor {
    /// Extracts `archive` ("-" for standard input) into the existing,
    /// empty folder `directory`. Returns the number of entries.
    @discardableResult
    public static func extract(archive: String, into directory: String, sameOwner: Bool = false,
                               progress: Progress? = nil) throws -> Int {
        try extract(reader: try ArchiveReader(path: archive), into: directory, sameOwner: sameOwner, progress: progress)
    }

    /// Extracts everything `reader` holds into `directory`.
    @discardableResult
    public static func extract(reader: ArchiveReader, into directory: String, sameOwner: Bool = false,
                               progress: Progress? = nil) throws -> Int {
        let archive = reader.displayPath
        guard let disk = archive_write_disk_new() else {
            throw EnvpackError.archive(path: archive, reason: "cannot allocate libarchive state")
        }
        defer { archive_write_free(disk) }
        var flags = ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_SECURE_NODOTDOT
        if sameOwner { flags |= ARCHIVE_EXTRACT_OWNER }
        archive_write_disk_set_options(disk, flags)
        archive_write_disk_set_standard_lookup(disk)

        var symlinks = Set<String>()
        var count = 0
        while let entry = try reader.nextRaw() {
            try Interruption.check()
            let name = reader.currentPath
            try validate(entry: entry, name: name, archive: reader.displayPath, root: directory, symlinks: symlinks)
            let normalized = name.split(separator: "/").filter { $0 != "." }.joined(separator: "/")
            if UInt32(archive_entry_filetype(entry)) == fileTypeSymlink { symlinks.insert(normalized) }
            archive_entry_copy_pathname(entry, directory + "/" + normalized)
            if let target = archive_entry_hardlink(entry).map({ String(cString: $0) }) {
                archive_entry_copy_hardlink(entry, directory + "/" + target)
            }
            let status = archive_write_header(disk, entry)
            if status < ARCHIVE_WARN {
                throw EnvpackError.archive(path: reader.displayPath, reason: "entry \(name): " + errorString(disk))
            }
            if archive_entry_size(entry) > 0 && status >= ARCHIVE_WARN {
                try reader.copyData(to: disk, entryName: name)
            }
            if archive_write_finish_entry(disk) < ARCHIVE_WARN {
                throw EnvpackError.archive(path: reader.displayPath, reason: "entry \(name): " + errorString(disk))
            }
            count += 1
            progress?.advance(files: 1, bytes: Int(archive_entry_size(entry)))
        }
        if archive_write_close(disk) < ARCHIVE_WARN {
            throw EnvpackError.archive(path: reader.displayPath, reason: errorString(disk))
        }
        return count
    }

    /// The checks libarchive's own flags do not make, with messages that
    /// name the entry.
    static func validate(entry: OpaquePointer, name: String, archive: String, root: String, symlinks: Set<String>) throws {
        func refuse(_ why: String) -> EnvpackError { .archive(path: archive, reason: "refusing entry \(name): \(why)") }
        if name.hasPrefix("/") { throw refuse("absolute path") }
        if name.split(separator: "/").contains("..") { throw refuse("path leaves the destination (..)") }
        /// The first symlink the archive made that `path` would go through.
        func symlinkAbove(_ path: String) -> String? {
            var walked = ""
            for component in path.split(separator: "/").dropLast() where component != "." {
                walked = walked.isEmpty ? String(component) : walked + "/" + component
                if symlinks.contains(walked) { return walked }
            }
            return nil
        }
        if let link = symlinkAbove(name) { throw refuse("it would be written through the symlink \(link)") }
        let isHardlink = archive_entry_hardlink(entry) != nil
        switch UInt32(archive_entry_filetype(entry)) {
        case fileTypeRegular, fileTypeDirectory, fileTypeSymlink: break
        case 0 where isHardlink: break
        default: throw refuse("device nodes, FIFOs and sockets are not extracted")
        }
        if let target = archive_entry_hardlink(entry).map({ String(cString: $0) }) {
            if target.hasPrefix("/") || target.split(separator: "/").contains("..") {
                throw refuse("hardlink to \(target) leaves the destination")
            }
            // The target must be a regular file extracted before it,
            // reached through no symlink.
            if let link = symlinkAbove(target) ?? (symlinks.contains(target) ? target : nil) {
                throw refuse("hardlink to \(target) goes through the symlink \(link)")
            }
            if FileStatus.lstat(root + "/" + target)?.kind != .regular {
                throw refuse("hardlink to \(target), which is not a regular file extracted before it")
            }
        }
        // Set-id bits from an archive are never wanted in an environment.
        archive_entry_set_perm(entry, archive_entry_perm(entry) & 0o1777)
    }

    static func errorString(_ a: OpaquePointer) -> String {
        archive_error_string(a).map { String(cString: $0) } ?? "unknown libarchive error"
    }
}
