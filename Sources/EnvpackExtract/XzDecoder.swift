// xz through liblzma, concatenated streams allowed: liblzma verifies each
// block's check (CRC32/CRC64/SHA-256) and the index, and reports the end
// only when LZMA_FINISH has consumed a complete last stream. Memory is
// bounded (a hostile header can ask for a 1.5 GiB dictionary).
import CLZMA

final class XzDecoder: StreamDecoder {
    let name = "xz"
    private var stream = lzma_stream()
    private var ended = false
    private var sawInput = false

    init() throws(StreamError) {
        // LZMA_CONCATENATED (a macro Swift does not import) is 0x08.
        let r = lzma_stream_decoder(&stream, 512 << 20, 0x08)
        guard r == LZMA_OK else { throw .unsupported("cannot set up liblzma (\(r.rawValue))") }
    }

    deinit { lzma_end(&stream) }

    var isComplete: Bool { sawInput && ended }

    func decode(_ input: inout UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer,
                atEnd: Bool) throws(StreamError) -> Int {
        if ended { 
            if input.isEmpty { return 0 }
            throw .corrupt(format: name, detail: "unexpected data after the compressed stream")
        }
        if !input.isEmpty { sawInput = true }
        stream.next_in = input.baseAddress?.assumingMemoryBound(to: UInt8.self)
        stream.avail_in = input.count
        stream.next_out = output.baseAddress?.assumingMemoryBound(to: UInt8.self)
        stream.avail_out = output.count
        let r = lzma_code(&stream, atEnd ? LZMA_FINISH : LZMA_RUN)
        let consumed = input.count - stream.avail_in
        let produced = output.count - stream.avail_out
        input = UnsafeRawBufferPointer(rebasing: input[consumed...])
        switch r {
        case LZMA_OK, LZMA_BUF_ERROR:
            break
        case LZMA_STREAM_END:
            ended = true
        case LZMA_MEMLIMIT_ERROR:
            throw .corrupt(format: name, detail: "it needs more than 512 MiB of memory to decode")
        case LZMA_FORMAT_ERROR:
            throw .corrupt(format: name, detail: "not in xz format")
        case LZMA_OPTIONS_ERROR:
            throw .corrupt(format: name, detail: "unsupported options")
        case LZMA_DATA_ERROR:
            throw .corrupt(format: name, detail: "compressed data is corrupt")
        default:
            throw .corrupt(format: name, detail: "liblzma error \(r.rawValue)")
        }
        return produced
    }
}
