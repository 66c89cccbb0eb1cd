// Extracting an archive without trusting it: entries with absolute paths or
// `..`, writing through a symlink, hardlinks that leave the destination and
// device nodes are refused, each named. Owners are not restored unless asked.
// Extraction runs inside the destination folder (relative paths only), so
// libarchive's symlink check never looks at the folders above it.
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
        var flags = ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_SECURE_SYMLINKS
            | ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS
        if sameOwner { flags |= ARCHIVE_EXTRACT_OWNER }
        archive_write_disk_set_options(disk, flags)
        archive_write_disk_set_standard_lookup(disk)

        let previous = FileManager.default.currentDirectoryPath
        guard chdir(directory) == 0 else { throw EnvpackError.writeFailed(path: directory, reason: errnoMessage()) }
        defer { _ = chdir(previous) }

        var count = 0
        while let entry = try reader.nextRaw() {
            let name = reader.currentPath
            try validate(entry: entry, name: name, archive: reader.displayPath)
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
    static func validate(entry: OpaquePointer, name: String, archive: String) throws {
        func refuse(_ why: String) -> EnvpackError { .archive(path: archive, reason: "refusing entry \(name): \(why)") }
        if name.hasPrefix("/") { throw refuse("absolute path") }
        if name.split(separator: "/").contains("..") { throw refuse("path leaves the destination (..)") }
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
            // Extraction runs in the destination: the target must be a file
            // already extracted there, reached through no symlink.
            var walked = ""
            for component in target.split(separator: "/") {
                walked = walked.isEmpty ? String(component) : walked + "/" + component
                guard let status = FileStatus.lstat(walked), status.kind != .symlink else {
                    throw refuse("hardlink to \(target), which is not a file extracted before it")
                }
            }
            if FileStatus.lstat(target)?.kind != .regular {
                throw refuse("hardlink to \(target), which is not a regular file")
            }
        }
        // Set-id bits from an archive are never wanted in an environment.
        archive_entry_set_perm(entry, archive_entry_perm(entry) & 0o1777)
    }

    static func errorString(_ a: OpaquePointer) -> String {
        archive_error_string(a).map { String(cString: $0) } ?? "unknown libarchive error"
    }
}
