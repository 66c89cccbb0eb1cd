// Reading archives through libarchive, trusting nothing: compressed tar
// streams are decoded and verified by envpack itself (DecompressingFeed,
// StreamDecoder) and read to their very end, so a truncated or corrupt
// stream fails even after tar's end marker; zip files are read through
// their central directory (libarchive's seekable zip reader), the only
// place zip keeps symlinks and modes, and every entry read to its end is
// checked against its CRC32; entry names and link targets must be valid
// UTF-8 (two names that differ only in invalid bytes must not become one).
import CArchive
#if canImport(Glibc)
import Glibc
#endif

public final class ArchiveReader {
    private let archive: OpaquePointer
    public let displayPath: String
    private var entry: OpaquePointer? = nil
    /// Internal for the tests (a dropped reader must end its feeder).
    public let feed: DecompressingFeed?
    /// For an archive read from inside another one's entry.
    private let nested: NestedSource?
    /// Set once the end of the archive was reached and the stream checked.
    private var finished = false
    /// Entries read so far, to name an entry that has no name.
    private var index = 0

    /// Opens `path`, or standard input for "-"; with `range`, the tar
    /// stream stored at that place in the file (a self-extractor's payload),
    /// whose bytes must hash to `expectedSHA256` when given (checked at the
    /// end, see DecompressingFeed).
    public init(path: String, range: (offset: Int64, length: Int64)? = nil, expectedSHA256: String? = nil) throws {
        _ = extractUTF8Locale
        guard let a = archive_read_new() else {
            throw ExtractError.archive(path: path, reason: "cannot allocate libarchive state")
        }
        archive = a
        displayPath = path == "-" ? "standard input" : path
        nested = nil
        if path != "-" && range == nil && expectedSHA256 == nil && Self.startsLikeZip(path) {
            feed = nil
            archive_read_support_format_zip_seekable(a)
            if archive_read_open_filename(a, path, 1 << 20) != ARCHIVE_OK {
                throw ExtractError.archive(path: displayPath, reason: Self.describe(libarchiveError(a) ?? "cannot open"))
            }
            return
        }
        do { feed = try DecompressingFeed(path: path, range: range, expectedSHA256: expectedSHA256) } catch {
            archive_read_free(a)
            throw error
        }
        archive_read_support_format_tar(a)
        let status = archive_read_open_fd(a, feed!.readFD, 1 << 20)
        if status != ARCHIVE_OK {
            if let reason = feed?.error() { throw ExtractError.archive(path: displayPath, reason: reason) }
            // deinit frees the archive: every stored property is set by now.
            throw ExtractError.archive(path: displayPath, reason: Self.describe(libarchiveError(a) ?? "cannot open"))
        }
    }

    /// Reads the archive stored in `outer`'s current entry (the inner
    /// tarballs of a .conda), streaming, without a temporary file; its
    /// compression is decoded and verified like a file's, and the outer
    /// entry is read to its end (so a zip's CRC32 is checked).
    public init(nestedIn outer: ArchiveReader, name: String) throws {
        guard let a = archive_read_new() else {
            throw ExtractError.archive(path: name, reason: "cannot allocate libarchive state")
        }
        archive = a
        displayPath = outer.displayPath + ":" + name
        feed = nil
        let source = NestedSource(outer: outer)
        nested = source
        archive_read_support_format_tar(a)
        if archive_read_open2(a, Unmanaged.passUnretained(source).toOpaque(), nil, nestedRead, nil, nil) != ARCHIVE_OK {
            throw failure()
        }
    }

    /// Whether the file begins with a zip local header (or is an empty zip).
    private static func startsLikeZip(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var magic = [UInt8](repeating: 0, count: 4)
        let n = magic.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 4, 0) }
        guard n == 4 else { return false }
        return magic.withUnsafeBytes { StreamKind(magic: $0) == .zip }
    }

    /// The next block of the current entry's data, for a nested reader:
    /// its size, 0 at the end, -1 on an error (a zip CRC mismatch is one).
    fileprivate func nextBlock(_ buffer: UnsafeMutablePointer<UnsafeRawPointer?>) -> Int {
        var size = 0
        var offset: Int64 = 0
        while true {
            let status = archive_read_data_block(archive, buffer, &size, &offset)
            if status == ARCHIVE_EOF { return 0 }
            if status != ARCHIVE_OK {
                blockError = libarchiveError(archive) ?? "unreadable entry"
                return -1
            }
            if buffer.pointee != nil && size > 0 { return size }
        }
    }
    /// Why `nextBlock` failed.
    fileprivate private(set) var blockError = ""

    deinit {
        archive_read_free(archive)
        feed?.abandon()
    }

    public struct Entry {
        public var path: String
        public var size: Int
        public var mode: UInt32
        public var fileType: UInt32
        public var symlink: String?
        public var hardlink: String?
    }

    /// The next entry's header, or nil at the end of the archive (once the
    /// whole stream has been verified).
    public func next() throws -> Entry? {
        guard let e = try nextRaw() else { return nil }
        var path = currentPath
        // tar writes directory names with a trailing slash.
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        return Entry(path: path,
                     size: Int(archive_entry_size(e)),
                     mode: UInt32(archive_entry_perm(e)),
                     fileType: UInt32(archive_entry_filetype(e)),
                     symlink: currentSymlink,
                     hardlink: currentHardlink)
    }

    /// The next entry as libarchive's own object, for extraction; its path
    /// and link targets (checked UTF-8) are in `currentPath`,
    /// `currentSymlink` and `currentHardlink`.
    public func nextRaw() throws -> OpaquePointer? {
        if finished { return nil }
        var e: OpaquePointer? = nil
        let status = archive_read_next_header(archive, &e)
        if status == ARCHIVE_EOF {
            try finishStream()
            return nil
        }
        if status == ARCHIVE_WARN && e != nil {
            // Only a name libarchive could not convert is let through: the
            // name itself is checked below, byte for byte. (Tar says "can't",
            // zip "cannot"; zip's happens where no UTF-8 locale exists, as
            // for the static helper in a bare chroot.)
            let message = libarchiveError(archive) ?? ""
            if !containsText(message, "can't be converted") && !containsText(message, "cannot be converted") {
                throw ExtractError.archive(path: displayPath, reason: Self.describe(message))
            }
        } else if status != ARCHIVE_OK || e == nil {
            throw failure()
        }
        index += 1
        entry = e
        let label = "#\(index)"
        func refuse(_ why: String) -> ExtractError { .archive(path: displayPath, reason: "refusing entry \(why)") }
        switch Self.utf8(archive_entry_pathname(e), or: archive_entry_pathname_utf8(e)) {
        case .valid(let name) where !name.isEmpty: currentPath = name
        case .valid, .missing:
            if status == ARCHIVE_WARN {
                // A zip's UTF-8 name, lost in the conversion to a locale
                // that is not UTF-8 (a machine without C.UTF-8 installed).
                throw refuse("\(label): its name is not ASCII and this system has no UTF-8 locale (C.UTF-8) to read a zip's names through: unpack a tar archive of the environment instead, or install the C.UTF-8 locale")
            }
            throw refuse("\(label): it has an empty name")
        case .invalid(let shown): throw refuse("\(shown): its name is not valid UTF-8")
        }
        currentSymlink = nil
        currentHardlink = nil
        for hard in [false, true] {
            let raw = hard ? archive_entry_hardlink(e) : archive_entry_symlink(e)
            let converted = hard ? archive_entry_hardlink_utf8(e) : archive_entry_symlink_utf8(e)
            switch Self.utf8(raw, or: converted) {
            case .missing: continue
            case .valid(let target): if hard { currentHardlink = target } else { currentSymlink = target }
            case .invalid(let shown): throw refuse("\(currentPath): its link target \(shown) is not valid UTF-8")
            }
        }
        return e
    }
    public private(set) var currentPath = ""
    public private(set) var currentSymlink: String? = nil
    public private(set) var currentHardlink: String? = nil

    private enum Name { case valid(String), invalid(shown: String), missing }

    /// A name from libarchive as its bytes say (the locale is UTF-8, so the
    /// multibyte form holds the raw bytes of tar names), valid only if it
    /// is UTF-8; an invalid one is shown with its bad bytes as \xNN.
    private static func utf8(_ raw: UnsafePointer<CChar>?, or converted: UnsafePointer<CChar>?) -> Name {
        guard let pointer = raw ?? converted else { return .missing }
        if let name = String(validatingCString: pointer) { return .valid(name) }
        return .invalid(shown: escapedName(Array(UnsafeRawBufferPointer(start: pointer, count: strlen(pointer)))))
    }

    /// Called at the end of the archive: the rest of the compressed stream
    /// is read and verified.
    private func finishStream() throws {
        finished = true
        if let feed, let reason = feed.finish() {
            throw ExtractError.archive(path: displayPath, reason: reason)
        }
        if let nested {
            nested.drain()
            if let reason = nested.failure { throw ExtractError.archive(path: displayPath, reason: reason) }
        }
    }

    /// Streams the current entry's data, block by block, with offsets (a
    /// sparse file's holes are skipped). Every block is checked: a zip CRC
    /// mismatch at the end of an entry is an error, not a warning.
    public func forEachBlock(_ body: (UnsafeRawBufferPointer, Int64) throws -> Void) throws {
        var buffer: UnsafeRawPointer? = nil
        var size = 0
        var offset: Int64 = 0
        while true {
            let status = archive_read_data_block(archive, &buffer, &size, &offset)
            if status == ARCHIVE_EOF { return }
            if status != ARCHIVE_OK { throw failure() }
            try body(UnsafeRawBufferPointer(start: buffer, count: buffer == nil ? 0 : size), offset)
        }
    }

    /// Reads the current entry's data, chunk by chunk.
    public func readData(_ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        try forEachBlock { block, _ in if !block.isEmpty { try body(block) } }
    }

    /// The whole data of the current entry (for small entries).
    public func readAll() throws -> [UInt8] {
        var bytes: [UInt8] = []
        try readData { bytes.append(contentsOf: $0) }
        return bytes
    }

    private func failure() -> ExtractError {
        // A broken compressed stream shows up in libarchive as a truncated
        // tar; the decoder's own message says more.
        if let reason = feed?.error() ?? nested?.failure { return .archive(path: displayPath, reason: reason) }
        return .archive(path: displayPath, reason: Self.describe(libarchiveError(archive) ?? "unreadable archive"))
    }

    /// libarchive's message, in envpack's words where they differ.
    private static func describe(_ message: String) -> String {
        if containsText(message.lowercased(), "truncated") { return "archive is truncated (\(message))" }
        return message
    }
}

private func libarchiveError(_ a: OpaquePointer) -> String? {
    archive_error_string(a).map { String(cString: $0) }
}

/// Bytes as text: valid UTF-8 kept, every other byte as \xNN.
public func escapedName(_ bytes: [UInt8]) -> String {
    var result = ""
    var i = 0
    while i < bytes.count {
        // The longest valid UTF-8 sequence starting here, if any.
        var matched = 0
        for length in 1...4 where i + length <= bytes.count {
            if let s = String(validating: bytes[i..<(i + length)], as: UTF8.self), s.unicodeScalars.count == 1 {
                result += s
                matched = length
                break
            }
        }
        if matched == 0 {
            result += "\\x" + hexDigits([bytes[i]])
            i += 1
        } else {
            i += matched
        }
    }
    return result
}

/// The data of an outer archive's entry, decoded and verified, as
/// libarchive's read callback wants it.
final class NestedSource {
    private let outer: ArchiveReader
    private var decoder: StreamDecoder? = nil
    private var started = false
    private var pending = UnsafeRawBufferPointer(start: nil, count: 0)
    private var outerEnded = false
    private var done = false
    private let output = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
    /// Why reading stopped early, in words for the user.
    private(set) var failure: String? = nil

    init(outer: ArchiveReader) { self.outer = outer }
    deinit { output.deallocate() }

    /// The next decoded block: its size, 0 at the end, -1 on an error.
    func read(_ buffer: UnsafeMutablePointer<UnsafeRawPointer?>) -> Int {
        if done { return 0 }
        if failure != nil { return -1 }
        do {
            while true {
                if pending.isEmpty && !outerEnded {
                    var block: UnsafeRawPointer? = nil
                    let n = outer.nextBlock(&block)
                    if n < 0 {
                        failure = "its data is damaged: " + outer.blockError
                        return -1
                    }
                    if n == 0 { outerEnded = true } else { pending = UnsafeRawBufferPointer(start: block, count: n) }
                }
                if !started {
                    started = true
                    decoder = try StreamKind(magic: pending).makeDecoder()
                }
                guard let decoder else {
                    // Not compressed: the outer entry's data as it is.
                    if pending.isEmpty { done = true; return 0 }
                    buffer.pointee = pending.baseAddress
                    defer { pending = UnsafeRawBufferPointer(start: nil, count: 0) }
                    return pending.count
                }
                if outerEnded {
                    var empty = UnsafeRawBufferPointer(start: nil, count: 0)
                    let n = try decoder.decode(&empty, into: output, atEnd: true)
                    if n > 0 { buffer.pointee = UnsafeRawPointer(output.baseAddress); return n }
                    if !decoder.isComplete { throw StreamError.truncated(format: decoder.name) }
                    done = true
                    return 0
                }
                let n = try decoder.decode(&pending, into: output, atEnd: false)
                if n > 0 { buffer.pointee = UnsafeRawPointer(output.baseAddress); return n }
            }
        } catch let error as StreamError {
            failure = error.message
        } catch {
            failure = "\(error)"
        }
        return -1
    }

    /// Reads to the end (after tar's end marker), so the compressed stream
    /// and the outer entry are verified.
    func drain() {
        var block: UnsafeRawPointer? = nil
        while read(&block) > 0 {}
    }
}

private func nestedRead(_ archive: OpaquePointer?, _ client: UnsafeMutableRawPointer?,
                        _ buffer: UnsafeMutablePointer<UnsafeRawPointer?>?) -> Int {
    let source = Unmanaged<NestedSource>.fromOpaque(client!).takeUnretainedValue()
    return source.read(buffer!)
}
