// zstd through libzstd, frame by frame: a frame is complete only when
// ZSTD_decompressStream returns 0, which it does after it has checked the
// frame's checksum (when the frame has one; envpack's always do).
import CZstd

final class ZstdDecoder: StreamDecoder {
    let name = "zstd"
    private let stream: OpaquePointer
    /// ZSTD_decompressStream's last answer: 0 at the end of a frame.
    private var lastHint = 1
    private var sawInput = false

    init() throws(StreamError) {
        guard let s = ZSTD_createDStream() else { throw .unsupported("cannot allocate a zstd decoder") }
        stream = s
    }

    deinit { ZSTD_freeDStream(stream) }

    var isComplete: Bool { sawInput && lastHint == 0 }

    func decode(_ input: inout UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer,
                atEnd: Bool) throws(StreamError) -> Int {
        // Nothing left to flush once a frame has ended and no input is left.
        if input.isEmpty && lastHint == 0 { return 0 }
        if !input.isEmpty { sawInput = true }
        var inBuffer = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        var outBuffer = ZSTD_outBuffer(dst: output.baseAddress, size: output.count, pos: 0)
        let r = ZSTD_decompressStream(stream, &outBuffer, &inBuffer)
        if ZSTD_isError(r) != 0 {
            throw .corrupt(format: name, detail: String(cString: ZSTD_getErrorName(r)))
        }
        lastHint = r
        input = UnsafeRawBufferPointer(rebasing: input[inBuffer.pos...])
        return outBuffer.pos
    }
}
