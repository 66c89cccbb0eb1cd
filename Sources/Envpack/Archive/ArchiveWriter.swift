// Streaming archive output through libarchive. Entries are written one at a
// time and file data in chunks, so memory stays bounded whatever the sizes.
// Owners are normalised (root, no names) so the same tree always gives the
// same bytes.
import CArchive
import Foundation

// libarchive's AE_IF* constants are C casts Swift cannot import.
let fileTypeRegular: UInt32 = 0o100000
let fileTypeDirectory: UInt32 = 0o040000
let fileTypeSymlink: UInt32 = 0o120000

public final class ArchiveWriter {
    private let archive: OpaquePointer
    private let entry: OpaquePointer
    private let format: ArchiveFormat
    /// Shown in errors: the output path or "standard output".
    private let displayPath: String
    private var failed = false

    /// Opens an archive over an already open file descriptor.
    public init(fd: Int32, format: ArchiveFormat, level: Int?, threads: Int, displayPath: String) throws {
        guard let a = archive_write_new(), let e = archive_entry_new() else {
            throw EnvpackError.archive(path: displayPath, reason: "cannot allocate libarchive state")
        }
        archive = a
        entry = e
        self.format = format
        self.displayPath = displayPath

        var options: [String] = []
        let level = level ?? format.defaultLevel
        if let level, let range = format.levelRange, !range.contains(level) {
            archive_write_free(a); archive_entry_free(e)
            throw EnvpackError.invalidOption("--compress-level \(level) is out of range for \(format.rawValue) (\(range.lowerBound)-\(range.upperBound))")
        }
        switch format {
        case .zip:
            archive_write_set_format_zip(a)
            if let level { options.append("zip:compression-level=\(level)") }
        default:
            // pax restricted: plain ustar headers unless a name or size needs
            // a pax record, which keeps archives readable by every tar.
            archive_write_set_format_pax_restricted(a)
        }
        switch format {
        case .tarZstd:
            archive_write_add_filter_zstd(a)
            options.append("zstd:compression-level=\(level!)")
            if threads > 1 { options.append("zstd:threads=\(threads)") }
        case .tarGzip:
            archive_write_add_filter_gzip(a)
            options.append("gzip:compression-level=\(level!)")
            options.append("gzip:!timestamp")
        case .tarBzip2:
            archive_write_add_filter_bzip2(a)
            options.append("bzip2:compression-level=\(level!)")
        case .tarXz:
            archive_write_add_filter_xz(a)
            options.append("xz:compression-level=\(level!)")
            if threads > 1 { options.append("xz:threads=\(threads)") }
        case .tar, .zip:
            archive_write_add_filter_none(a)
        }
        // Full 10 KiB blocks only matter for tapes; this keeps small archives small.
        archive_write_set_bytes_in_last_block(a, 1)
        for option in options where archive_write_set_options(a, option) < ARCHIVE_WARN {
            let message = String(cString: archive_error_string(a))
            archive_write_free(a); archive_entry_free(e)
            throw EnvpackError.archive(path: displayPath, reason: "option \(option): \(message)")
        }
        guard archive_write_open_fd(a, fd) == ARCHIVE_OK else {
            let message = String(cString: archive_error_string(a))
            archive_write_free(a); archive_entry_free(e)
            throw EnvpackError.writeFailed(path: displayPath, reason: message)
        }
    }

    deinit {
        if failed { archive_write_fail(archive) }
        archive_write_free(archive)
        archive_entry_free(entry)
    }

    public enum Kind { case file(size: Int), directory, symlink(target: String), hardlink(target: String) }

    /// Writes an entry header. File data follows through `write(_:)`.
    public func begin(path: String, kind: Kind, mode: UInt32, mtime: Int) throws {
        archive_entry_clear(entry)
        archive_entry_set_pathname_utf8(entry, path)
        archive_entry_set_perm(entry, mode_t(mode & 0o7777))
        archive_entry_set_mtime(entry, mtime, 0)
        archive_entry_set_uid(entry, 0)
        archive_entry_set_gid(entry, 0)
        switch kind {
        case .file(let size):
            archive_entry_set_filetype(entry, fileTypeRegular)
            archive_entry_set_size(entry, Int64(size))
        case .directory:
            archive_entry_set_filetype(entry, fileTypeDirectory)
        case .symlink(let target):
            archive_entry_set_filetype(entry, fileTypeSymlink)
            archive_entry_set_symlink_utf8(entry, target)
        case .hardlink(let target):
            archive_entry_set_filetype(entry, fileTypeRegular)
            archive_entry_set_hardlink_utf8(entry, target)
            archive_entry_set_size(entry, 0)
        }
        try check(archive_write_header(archive, entry), what: path)
    }

    /// Appends file data to the current entry.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        let n = archive_write_data(archive, base, bytes.count)
        if n < 0 { try check(Int32(n), what: "data") }
    }

    /// Finishes the archive: trailer, compressor flush, close.
    public func finish() throws {
        try check(archive_write_close(archive), what: "closing")
    }

    /// Marks the archive as failed so that no trailer is written: a reader
    /// of a stream cut short sees a truncated archive, never a complete one.
    public func abandon() { failed = true }

    private func check(_ status: Int32, what: String) throws {
        guard status < ARCHIVE_OK else { return }
        let message = archive_error_string(archive).map { String(cString: $0) } ?? "unknown libarchive error"
        if status == ARCHIVE_WARN { return }
        failed = true
        throw EnvpackError.writeFailed(path: displayPath, reason: "\(what): \(message)")
    }
}
