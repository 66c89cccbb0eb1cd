// Decompression that proves the stream is whole. libarchive's own filters
// stop reading once tar has seen its end marker (so a zstd checksum or a gzip
// trailer after it is never looked at), take an input that ends inside a
// frame as the end of the stream, and its gzip filter does not check the
// CRC32/ISIZE trailer at all. envpack therefore decodes every compression it
// reads itself, with the reference libraries (libzstd, zlib, liblzma,
// libbz2), reads each stream to its very end and fails unless every frame,
// member or stream is complete and its check verified; libarchive only sees
// the decoded tar.

/// One compressed stream being decoded, fed piece by piece.
protocol StreamDecoder: AnyObject {
    /// The format's name in messages ("zstd", "gzip", ...).
    var name: String { get }
    /// Decodes from `input` (advancing it past what was consumed) into
    /// `output`; returns how many bytes were written there. `atEnd` says
    /// that `input` holds the last bytes there are. Returning 0 with input
    /// left means the output is full; with no input, that nothing is pending.
    func decode(_ input: inout UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer,
                atEnd: Bool) throws(StreamError) -> Int
    /// Whether everything fed so far ends exactly at the end of a complete,
    /// verified frame (member, stream).
    var isComplete: Bool { get }
}

/// Why a compressed stream was refused; the caller adds the file's name.
enum StreamError: Error, Equatable {
    case truncated(format: String)
    case corrupt(format: String, detail: String)
    case unsupported(String)

    var message: String {
        switch self {
        case .truncated(let format):
            return "archive is truncated (the \(format) stream ends early)"
        case .corrupt(let format, let detail):
            return "the \(format) data is corrupt: \(detail)"
        case .unsupported(let message):
            return message
        }
    }
}

/// What the first bytes of an input say it is.
enum StreamKind: Equatable {
    case zstd, gzip, xz, bzip2, zip, other

    init(magic bytes: UnsafeRawBufferPointer) {
        func starts(_ m: [UInt8]) -> Bool { bytes.count >= m.count && Swift.zip(bytes, m).allSatisfy { $0 == $1 } }
        if starts([0x28, 0xb5, 0x2f, 0xfd]) { self = .zstd }
        // zstd skippable frames (0x184D2A50-5F) lead into zstd frames too.
        else if bytes.count >= 4 && bytes[0] & 0xf0 == 0x50 && starts([bytes[0], 0x2a, 0x4d, 0x18]) { self = .zstd }
        else if starts([0x1f, 0x8b]) { self = .gzip }
        else if starts([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]) { self = .xz }
        else if starts([0x42, 0x5a, 0x68]) { self = .bzip2 }  // "BZh"
        else if starts([0x50, 0x4b, 0x03, 0x04]) || starts([0x50, 0x4b, 0x05, 0x06]) { self = .zip }
        else { self = .other }
    }

    /// A decoder for this kind, nil for data that is not compressed.
    func makeDecoder() throws(StreamError) -> StreamDecoder? {
        switch self {
        case .zstd: return try ZstdDecoder()
        case .gzip: return try GzipDecoder()
        case .xz: return try XzDecoder()
        case .bzip2: return try Bzip2Decoder()
        case .zip, .other: return nil
        }
    }
}

extension StreamDecoder {
    /// Decodes one piece of input completely, handing every decoded block
    /// to `emit` (the buffer is reused after it returns).
    func feed(_ piece: UnsafeRawBufferPointer, scratch: UnsafeMutableRawBufferPointer,
              emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        var input = piece
        while true {
            let n = try decode(&input, into: scratch, atEnd: false)
            if n > 0 { try emit(UnsafeRawBufferPointer(rebasing: scratch[0..<n])) }
            if input.isEmpty && n < scratch.count { return }
        }
    }

    /// At the end of the input: flushes what is pending and fails unless
    /// the stream is complete.
    func finish(scratch: UnsafeMutableRawBufferPointer, emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        var input = UnsafeRawBufferPointer(start: nil, count: 0)
        while true {
            let n = try decode(&input, into: scratch, atEnd: true)
            if n > 0 { try emit(UnsafeRawBufferPointer(rebasing: scratch[0..<n])) }
            if n < scratch.count { break }
        }
        if !isComplete { throw StreamError.truncated(format: name) }
    }
}
