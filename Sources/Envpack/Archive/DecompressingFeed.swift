// Reading a tar.zst on two cores: a thread decompresses zstd through libzstd
// into a pipe while libarchive parses and extracts on the caller's thread,
// as `zstd -dc | tar -x` does with two processes. Other formats pass through
// unchanged and libarchive decompresses them itself.
import CZstd
import Foundation
#if canImport(Glibc)
import Glibc
#endif

final class DecompressingFeed: @unchecked Sendable {
    /// The read end, for libarchive.
    let readFD: Int32
    private let writeFD: Int32
    private let source: String
    private let done = DispatchGroup()
    /// Set by the feeding thread; read after `done` has been waited for.
    private var failure: String? = nil

    init(path: String) throws {
        // A reader that stops early closes the pipe: the feeder must get
        // EPIPE, not be killed by SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw EnvpackError.unreadable(path: path, reason: errnoMessage()) }
        readFD = fds[0]
        writeFD = fds[1]
        // A 1 MiB pipe (the default is 64 KiB) halves the thread switches.
        _ = fcntl(fds[1], 1031 /* F_SETPIPE_SZ, hidden behind _GNU_SOURCE */, 1 << 20)
        source = path
        let inputFD: Int32 = path == "-" ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC)
        guard inputFD >= 0 else {
            let reason = errnoMessage()
            close(fds[0]); close(fds[1])
            throw EnvpackError.unreadable(path: path, reason: reason)
        }
        done.enter()
        Thread.detachNewThread { [self] in
            feed(from: inputFD)
            if inputFD != STDIN_FILENO { close(inputFD) }
            close(writeFD)
            done.leave()
        }
    }

    private var readClosed = false

    deinit { if !readClosed { close(readFD) } }

    /// Why the feed stopped early, if it did. Only for a reader that has
    /// stopped: it closes the read end, which ends a feeder still writing.
    func error() -> String? {
        if !readClosed { close(readFD); readClosed = true }
        done.wait()
        return failure
    }

    private func feed(from fd: Int32) {
        let chunk = 1 << 20
        var input = [UInt8](repeating: 0, count: chunk)
        var first = true
        var stream: OpaquePointer? = nil
        defer { if let stream { ZSTD_freeDStream(stream) } }
        var output = [UInt8](repeating: 0, count: ZSTD_DStreamOutSize())
        while true {
            let n = input.withUnsafeMutableBytes { read(fd, $0.baseAddress, chunk) }
            if n < 0 {
                if errno == EINTR { continue }
                failure = errnoMessage(); return
            }
            if n == 0 { break }
            if first {
                first = false
                // zstd frame magic 0xFD2FB528, little-endian.
                if n >= 4 && input[0] == 0x28 && input[1] == 0xb5 && input[2] == 0x2f && input[3] == 0xfd {
                    stream = ZSTD_createDStream()
                }
            }
            guard let stream else {
                guard (try? input.withUnsafeBytes({ try writeAll(fd: writeFD, UnsafeRawBufferPointer(rebasing: $0[0..<n]), displayPath: source) })) != nil else { return }
                continue
            }
            let ok: Bool = input.withUnsafeBytes { inBytes in
                var inBuffer = ZSTD_inBuffer(src: inBytes.baseAddress, size: n, pos: 0)
                while inBuffer.pos < inBuffer.size {
                    let wrote: Int? = output.withUnsafeMutableBytes { out in
                        var outBuffer = ZSTD_outBuffer(dst: out.baseAddress, size: out.count, pos: 0)
                        let r = ZSTD_decompressStream(stream, &outBuffer, &inBuffer)
                        if ZSTD_isError(r) != 0 { failure = "zstd: " + String(cString: ZSTD_getErrorName(r)); return nil }
                        return outBuffer.pos
                    }
                    guard let wrote else { return false }
                    guard (try? output.withUnsafeBytes({ try writeAll(fd: writeFD, UnsafeRawBufferPointer(rebasing: $0[0..<wrote]), displayPath: source) })) != nil else { return false }
                }
                return true
            }
            if !ok { return }
        }
    }
}
