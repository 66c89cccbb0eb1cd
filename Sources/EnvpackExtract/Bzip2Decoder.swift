// bzip2 through libbz2, stream after stream (pbzip2 writes several):
// libbz2 checks every block's CRC and the stream's combined CRC and reports
// the end of a stream only after both matched.
import CBzip2

final class Bzip2Decoder: StreamDecoder {
    let name = "bzip2"
    private var stream = bz_stream()
    private var inStream = false
    private var streamsDone = 0

    init() throws(StreamError) {
        let r = BZ2_bzDecompressInit(&stream, 0, 0)
        guard r == BZ_OK else { throw .unsupported("cannot set up libbz2 (\(r))") }
    }

    deinit { BZ2_bzDecompressEnd(&stream) }

    var isComplete: Bool { streamsDone > 0 && !inStream }

    func decode(_ input: inout UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer,
                atEnd: Bool) throws(StreamError) -> Int {
        if input.isEmpty && !inStream { return 0 }
        if !inStream {
            if streamsDone > 0 {
                BZ2_bzDecompressEnd(&stream)
                stream = bz_stream()
                let r = BZ2_bzDecompressInit(&stream, 0, 0)
                guard r == BZ_OK else { throw .unsupported("cannot set up libbz2 (\(r))") }
            }
            inStream = true
        }
        stream.next_in = input.baseAddress.map { UnsafeMutablePointer(mutating: $0.assumingMemoryBound(to: CChar.self)) }
        stream.avail_in = UInt32(input.count)
        stream.next_out = output.baseAddress?.assumingMemoryBound(to: CChar.self)
        stream.avail_out = UInt32(output.count)
        let r = BZ2_bzDecompress(&stream)
        let consumed = input.count - Int(stream.avail_in)
        let produced = output.count - Int(stream.avail_out)
        input = UnsafeRawBufferPointer(rebasing: input[consumed...])
        switch r {
        case BZ_OK:
            break
        case BZ_STREAM_END:
            inStream = false
            streamsDone += 1
        case BZ_DATA_ERROR_MAGIC:
            throw .corrupt(format: name, detail: streamsDone > 0 ? "unexpected data after the compressed stream" : "not in bzip2 format")
        case BZ_DATA_ERROR:
            throw .corrupt(format: name, detail: "a block or stream CRC does not match")
        case BZ_MEM_ERROR:
            throw .corrupt(format: name, detail: "out of memory")
        default:
            throw .corrupt(format: name, detail: "libbz2 error \(r)")
        }
        return produced
    }
}
