// zstd compression of the archive stream, done here through libzstd rather
// than libarchive's zstd filter so that the size of the multithreaded jobs
// can be set: with zstd's default job size (four windows) two workers hold
// tens of megabytes in flight, which breaks envpack's memory budget.
import CZstd
import Foundation
#if canImport(Glibc)
import Glibc
#endif

final class ZstdCompressor {
    private let context: OpaquePointer
    private let fd: Int32
    private let displayPath: String
    private var output: [UInt8]

    /// Jobs of 2 MiB keep zstd near 20 MB in flight with two workers (its
    /// default, four windows, holds about 55 MB) at the same speed within
    /// noise (measured with `zstd -T2 -B2MiB` on the benchmark tar).
    static let jobSize = 2 << 20

    init(fd: Int32, level: Int, threads: Int, displayPath: String) throws {
        guard let c = ZSTD_createCCtx() else {
            throw EnvpackError.archive(path: displayPath, reason: "cannot allocate a zstd context")
        }
        context = c
        self.fd = fd
        self.displayPath = displayPath
        output = [UInt8](repeating: 0, count: ZSTD_CStreamOutSize())
        try set(ZSTD_c_compressionLevel, Int32(level))
        try set(ZSTD_c_checksumFlag, 1)
        if threads > 1 {
            // Fails quietly on a libzstd built without threads: compress on one.
            if ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_nbWorkers, Int32(threads))) == 0 {
                try set(ZSTD_c_jobSize, Int32(Self.jobSize))
            }
        }
    }

    deinit { ZSTD_freeCCtx(context) }

    private func set(_ parameter: ZSTD_cParameter, _ value: Int32) throws {
        let r = ZSTD_CCtx_setParameter(context, parameter, value)
        if ZSTD_isError(r) != 0 {
            throw EnvpackError.archive(path: displayPath, reason: "zstd: " + String(cString: ZSTD_getErrorName(r)))
        }
    }

    /// Compresses `bytes` and writes whatever output is ready.
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        var input = ZSTD_inBuffer(src: bytes.baseAddress, size: bytes.count, pos: 0)
        while input.pos < input.size {
            try step(&input, ZSTD_e_continue)
        }
    }

    /// Ends the frame and writes the rest.
    func finish() throws {
        var input = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
        while try step(&input, ZSTD_e_end) != 0 {}
    }

    @discardableResult
    private func step(_ input: inout ZSTD_inBuffer, _ mode: ZSTD_EndDirective) throws -> Int {
        let remaining = try output.withUnsafeMutableBytes { out -> Int in
            var buffer = ZSTD_outBuffer(dst: out.baseAddress, size: out.count, pos: 0)
            let r = ZSTD_compressStream2(context, &buffer, &input, mode)
            if ZSTD_isError(r) != 0 {
                throw EnvpackError.archive(path: displayPath, reason: "zstd: " + String(cString: ZSTD_getErrorName(r)))
            }
            try writeAll(fd: fd, UnsafeRawBufferPointer(rebasing: out[0..<buffer.pos]), displayPath: displayPath)
            return r
        }
        return remaining
    }
}

/// Writes every byte or throws (a full disk names the output).
func writeAll(fd: Int32, _ bytes: UnsafeRawBufferPointer, displayPath: String) throws {
    var offset = 0
    while offset < bytes.count {
        let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
        if n < 0 {
            if errno == EINTR { continue }
            throw EnvpackError.writeFailed(path: displayPath, reason: errnoMessage())
        }
        offset += n
    }
}
