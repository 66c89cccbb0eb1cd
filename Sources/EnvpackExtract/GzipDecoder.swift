// gzip through zlib (windowBits 15+16), member after member: zlib checks
// each member's CRC32 and ISIZE trailer, which libarchive's gzip filter
// skips. Anything after the last member that is not another member is an
// error.
import CZlib

final class GzipDecoder: StreamDecoder {
    let name = "gzip"
    private var stream = z_stream()
    private var inMember = false
    private var membersDone = 0

    init() throws(StreamError) {
        let r = inflateInit2_(&stream, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard r == Z_OK else { throw .unsupported("cannot set up zlib (\(r))") }
    }

    deinit { inflateEnd(&stream) }

    var isComplete: Bool { membersDone > 0 && !inMember }

    func decode(_ input: inout UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer,
                atEnd: Bool) throws(StreamError) -> Int {
        if input.isEmpty && !inMember { return 0 }
        if !inMember {
            // A new member starts here.
            if membersDone > 0 { inflateReset(&stream) }
            inMember = true
        }
        let start = input.baseAddress.map { UnsafeMutablePointer(mutating: $0.assumingMemoryBound(to: Bytef.self)) }
        stream.next_in = start
        stream.avail_in = uInt(input.count)
        stream.next_out = output.baseAddress?.assumingMemoryBound(to: Bytef.self)
        stream.avail_out = uInt(output.count)
        let r = inflate(&stream, Z_NO_FLUSH)
        let consumed = input.count - Int(stream.avail_in)
        let produced = output.count - Int(stream.avail_out)
        input = UnsafeRawBufferPointer(rebasing: input[consumed...])
        switch r {
        case Z_OK:
            break
        case Z_STREAM_END:
            inMember = false
            membersDone += 1
        case Z_BUF_ERROR:
            // No progress possible: needs more input (or more room).
            break
        default:
            let detail = stream.msg.map { String(cString: $0) } ?? "zlib error \(r)"
            throw .corrupt(format: name, detail: membersDone > 0 && produced == 0
                           ? "unexpected data after the compressed stream (\(detail))" : detail)
        }
        return produced
    }
}
