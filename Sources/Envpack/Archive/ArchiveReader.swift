// Streaming archive input through libarchive: every format and compression
// envpack writes (and the ones conda packages use), detected from the data.
import CArchive
import Foundation

public final class ArchiveReader {
    private let archive: OpaquePointer
    public let displayPath: String
    private var entry: OpaquePointer? = nil
    private let feed: DecompressingFeed?
    /// For an archive read from inside another one's entry.
    private let outer: ArchiveReader?

    /// Opens `path`, or standard input for "-".
    public init(path: String) throws {
        _ = useUTF8Locale
        guard let a = archive_read_new() else {
            throw EnvpackError.archive(path: path, reason: "cannot allocate libarchive state")
        }
        archive = a
        displayPath = path == "-" ? "standard input" : path
        outer = nil
        do { feed = try DecompressingFeed(path: path) } catch {
            archive_read_free(a)
            throw error
        }
        archive_read_support_filter_all(a)
        archive_read_support_format_all(a)
        let status = archive_read_open_fd(a, feed!.readFD, 1 << 20)
        if status != ARCHIVE_OK {
            if let reason = feed?.error() { throw EnvpackError.archive(path: displayPath, reason: reason) }
            // deinit frees the archive: every stored property is set by now.
            throw EnvpackError.archive(path: displayPath, reason: archive_error_string(a).map { String(cString: $0) } ?? "cannot open")
        }
    }

    /// Reads the archive stored in `outer`'s current entry (the inner
    /// tarballs of a .conda), streaming, without a temporary file.
    public init(nestedIn outer: ArchiveReader, name: String) throws {
        guard let a = archive_read_new() else {
            throw EnvpackError.archive(path: name, reason: "cannot allocate libarchive state")
        }
        archive = a
        displayPath = outer.displayPath + ":" + name
        feed = nil
        self.outer = outer
        archive_read_support_filter_all(a)
        archive_read_support_format_all(a)
        if archive_read_open2(a, Unmanaged.passUnretained(outer).toOpaque(), nil, nestedRead, nil, nil) != ARCHIVE_OK {
            throw EnvpackError.archive(path: displayPath, reason: archive_error_string(a).map { String(cString: $0) } ?? "cannot open")
        }
    }

    /// The next block of the current entry's data, for a nested reader.
    fileprivate func nextBlock(_ buffer: UnsafeMutablePointer<UnsafeRawPointer?>) -> Int {
        var size = 0
        var offset: Int64 = 0
        let status = archive_read_data_block(archive, buffer, &size, &offset)
        if status == ARCHIVE_EOF { return 0 }
        if status < ARCHIVE_WARN { return -1 }
        return size
    }

    deinit { archive_read_free(archive) }

    public struct Entry {
        public var path: String
        public var size: Int
        public var mode: UInt32
        public var fileType: UInt32
        public var symlink: String?
        public var hardlink: String?
    }

    /// The next entry's header, or nil at the end of the archive.
    public func next() throws -> Entry? {
        var e: OpaquePointer? = nil
        let status = archive_read_next_header(archive, &e)
        if status == ARCHIVE_EOF { return nil }
        if status < ARCHIVE_WARN || e == nil { throw failure() }
        entry = e
        var path = archive_entry_pathname_utf8(e).map { String(cString: $0) }
            ?? archive_entry_pathname(e).map { String(cString: $0) } ?? ""
        // tar writes directory names with a trailing slash.
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        return Entry(path: path,
                     size: Int(archive_entry_size(e)),
                     mode: UInt32(archive_entry_perm(e)),
                     fileType: UInt32(archive_entry_filetype(e)),
                     symlink: archive_entry_symlink_utf8(e).map { String(cString: $0) },
                     hardlink: archive_entry_hardlink_utf8(e).map { String(cString: $0) })
    }

    /// The next entry as libarchive's own object, for extraction; its path
    /// is in `currentPath`.
    func nextRaw() throws -> OpaquePointer? {
        var e: OpaquePointer? = nil
        let status = archive_read_next_header(archive, &e)
        if status == ARCHIVE_EOF { return nil }
        if status < ARCHIVE_WARN || e == nil { throw failure() }
        entry = e
        currentPath = archive_entry_pathname_utf8(e).map { String(cString: $0) }
            ?? archive_entry_pathname(e).map { String(cString: $0) } ?? ""
        return e
    }
    private(set) var currentPath = ""

    /// Streams the current entry's data to a disk writer (offsets kept, so
    /// sparse files stay sparse).
    func copyData(to disk: OpaquePointer, entryName: String) throws {
        try forEachBlock { block, offset in
            if archive_write_data_block(disk, block.baseAddress, block.count, offset) < ARCHIVE_WARN {
                let message = archive_error_string(disk).map { String(cString: $0) } ?? "write failed"
                throw EnvpackError.writeFailed(path: entryName, reason: message)
            }
        }
    }

    /// Reads the current entry's data, chunk by chunk.
    public func readData(_ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        try forEachBlock { block, _ in if !block.isEmpty { try body(block) } }
    }

    private func forEachBlock(_ body: (UnsafeRawBufferPointer, Int64) throws -> Void) throws {
        var buffer: UnsafeRawPointer? = nil
        var size = 0
        var offset: Int64 = 0
        while true {
            let status = archive_read_data_block(archive, &buffer, &size, &offset)
            if status == ARCHIVE_EOF { return }
            if status < ARCHIVE_WARN { throw failure() }
            try body(UnsafeRawBufferPointer(start: buffer, count: buffer == nil ? 0 : size), offset)
        }
    }

    /// The whole data of the current entry (for small entries).
    public func readAll() throws -> [UInt8] {
        var bytes: [UInt8] = []
        try readData { bytes.append(contentsOf: $0) }
        return bytes
    }

    private func failure() -> EnvpackError {
        // A broken zstd stream shows up in libarchive as a truncated tar;
        // the decompressor's own message says more.
        if let reason = feed?.error() { return .archive(path: displayPath, reason: reason) }
        let message = archive_error_string(archive).map { String(cString: $0) } ?? "unreadable archive"
        return .archive(path: displayPath, reason: message)
    }
}

private func nestedRead(_ archive: OpaquePointer?, _ client: UnsafeMutableRawPointer?,
                        _ buffer: UnsafeMutablePointer<UnsafeRawPointer?>?) -> Int {
    let outer = Unmanaged<ArchiveReader>.fromOpaque(client!).takeUnretainedValue()
    return outer.nextBlock(buffer!)
}
