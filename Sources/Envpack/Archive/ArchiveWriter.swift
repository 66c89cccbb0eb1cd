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
    /// For tar.zst: the compressor libarchive's output is fed through.
    private var zstd: ZstdCompressor? = nil
    /// For tar.gz: the same, deflating blocks on `threads` threads.
    private(set) var gzip: GzipCompressor? = nil
    /// The first error of the output callback, with its message intact.
    fileprivate var outputError: Error? = nil
    private var fd: Int32 = -1

    /// Opens an archive over an already open file descriptor.
    public init(fd: Int32, format: ArchiveFormat, level: Int?, threads: Int, displayPath: String) throws {
        _ = useUTF8Locale
        guard let a = archive_write_new(), let e = archive_entry_new() else {
            throw EnvpackError.archive(path: displayPath, reason: "cannot allocate libarchive state")
        }
        archive = a
        entry = e
        self.format = format
        self.displayPath = displayPath

        var options: [String] = []
        let level = level ?? format.defaultLevel
        // From here on deinit frees `a` and `e` if initialisation throws.
        if let level, let range = format.levelRange, !range.contains(level) {
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
            archive_write_add_filter_none(a)
            zstd = try ZstdCompressor(fd: fd, level: level!, threads: threads, displayPath: displayPath)
        case .tarGzip:
            archive_write_add_filter_none(a)
            gzip = try GzipCompressor(fd: fd, level: level!, threads: threads, displayPath: displayPath)
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
            throw EnvpackError.archive(path: displayPath, reason: "option \(option): \(message)")
        }
        // Output goes through our own callback so that a failed write keeps
        // its errno message ("No space left on device"), and tar.zst and
        // tar.gz go through ZstdCompressor and GzipCompressor.
        self.fd = fd
        archive_write_set_bytes_per_block(a, 64 * 1024)
        let opened = archive_write_open2(a, Unmanaged.passUnretained(self).toOpaque(), nil, outputCallback, nil, nil)
        guard opened == ARCHIVE_OK else {
            let message = String(cString: archive_error_string(a))
            failed = true
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
        if !localeIsUTF8 {
            // No UTF-8 locale: the names' bytes as they are (libarchive
            // writes them raw, marked hdrcharset=BINARY where not ASCII).
            archive_entry_copy_pathname(entry, path)
            if case .symlink(let target) = kind { archive_entry_copy_symlink(entry, target) }
            if case .hardlink(let target) = kind { archive_entry_copy_hardlink(entry, target) }
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
        try zstd?.finish()
        try gzip?.finish()
    }

    /// libarchive's output: through zstd for tar.zst, gzip for tar.gz,
    /// else straight out.
    fileprivate func emit(_ bytes: UnsafeRawBufferPointer) -> Int {
        do {
            if let zstd {
                try zstd.write(bytes)
            } else if let gzip {
                try gzip.write(bytes)
            } else {
                try writeAll(fd: fd, bytes, displayPath: displayPath)
            }
            return bytes.count
        } catch {
            if outputError == nil { outputError = error }
            return -1
        }
    }

    /// Marks the archive as failed so that no trailer is written: a reader
    /// of a stream cut short sees a truncated archive, never a complete one.
    public func abandon() { failed = true }

    private func check(_ status: Int32, what: String) throws {
        guard status < ARCHIVE_OK else { return }
        let message = archive_error_string(archive).map { String(cString: $0) } ?? "unknown libarchive error"
        if status == ARCHIVE_WARN { return }
        failed = true
        if let outputError { throw outputError }
        throw EnvpackError.writeFailed(path: displayPath, reason: "\(what): \(message)")
    }
}

private func outputCallback(_ archive: OpaquePointer?, _ client: UnsafeMutableRawPointer?,
                            _ buffer: UnsafeRawPointer?, _ length: Int) -> Int {
    let writer = Unmanaged<ArchiveWriter>.fromOpaque(client!).takeUnretainedValue()
    return writer.emit(UnsafeRawBufferPointer(start: buffer, count: length))
}
