// Reading a compressed archive on two cores: a thread decodes the input
// (zstd, gzip, xz or bzip2, told apart by their first bytes; see
// StreamDecoder) into a pipe while libarchive parses and extracts on the
// caller's thread, as `zstd -dc | tar -x` does with two processes. Data that
// is not compressed passes through unchanged. The thread always reads its
// input to the end and checks that the last frame is complete and verified;
// the reader drains the pipe after tar's end marker and asks `finish()`, so
// a truncated or corrupt stream fails even when tar had all it needed.
#if canImport(Glibc)
import Glibc
#endif

public final class DecompressingFeed: @unchecked Sendable {
    /// The read end, for libarchive.
    let readFD: Int32
    private let writeFD: Int32
    private let source: String
    private let done = Completion()
    /// Set by the feeding thread; read after `done` has been waited for.
    private var failure: String? = nil

    /// Reads `path` ("-": standard input); with `range`, only `length`
    /// bytes from `offset` (a self-extractor's payload). With
    /// `expectedSHA256`, the bytes read must be all of the range and hash to
    /// it: the helper checks a payload before it extracts, and this proves
    /// that what it then extracted is what it checked (a file swapped or
    /// changed in between fails at the end, before anything is committed).
    init(path: String, range: (offset: Int64, length: Int64)? = nil, expectedSHA256: String? = nil) throws {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw ExtractError.unreadable(path: path, reason: errnoMessage()) }
        readFD = fds[0]
        writeFD = fds[1]
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        // A 1 MiB pipe (the default is 64 KiB) halves the thread switches.
        _ = fcntl(fds[1], 1031 /* F_SETPIPE_SZ, hidden behind _GNU_SOURCE */, 1 << 20)
        source = path
        let inputFD: Int32 = path == "-" ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC)
        guard inputFD >= 0 else {
            let reason = errnoMessage()
            close(fds[0]); close(fds[1])
            throw ExtractError.unreadable(path: path, reason: reason)
        }
        var limitFound = Int64.max
        if let range {
            guard range.offset >= 0, range.length >= 0, lseek(inputFD, off_t(range.offset), SEEK_SET) == range.offset else {
                let reason = errnoMessage()
                close(inputFD); close(fds[0]); close(fds[1])
                throw ExtractError.unreadable(path: path, reason: "cannot seek to the archive inside it (\(reason))")
            }
            limitFound = range.length
        }
        let limit = limitFound
        let started = startDetachedThread { [self] in
            // A reader that stops early closes the pipe: the feeder must get
            // EPIPE, not be killed by SIGPIPE. The signal is blocked in this
            // thread only (a write's SIGPIPE goes to the writing thread):
            // ignoring it process-wide, as this did, was inherited by every
            // program envpack or a library client starts later (link
            // scripts saw `echo: write error: Broken pipe` where a closed
            // pipe should have ended them quietly).
            var pipeSignal = sigset_t()
            sigemptyset(&pipeSignal)
            sigaddset(&pipeSignal, SIGPIPE)
            pthread_sigmask(SIG_BLOCK, &pipeSignal, nil)
            defer {
                // Take back a SIGPIPE this thread caused, if one is pending.
                var pending = sigset_t()
                if sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1 {
                    var now = timespec(tv_sec: 0, tv_nsec: 0)
                    _ = sigtimedwait(&pipeSignal, nil, &now)
                }
            }
            do { try feed(from: inputFD, limit: limit, expectedSHA256: expectedSHA256) } catch let error as StreamError {
                failure = error.message
            } catch {
                failure = "\(error)"
            }
            if inputFD != STDIN_FILENO { close(inputFD) }
            close(writeFD)
            done.signal()
        }
        guard started else {
            if inputFD != STDIN_FILENO { close(inputFD) }
            close(fds[1])  // deinit closes the read end
            throw ExtractError.unreadable(path: path, reason: "cannot start the decoding thread")
        }
    }

    private var readClosed = false

    deinit { if !readClosed { close(readFD) } }

    /// For a reader dropped before the end: closes the read end without
    /// waiting, so a feeder blocked on a full pipe gets EPIPE and ends (it
    /// holds this object until then; without this it would block forever,
    /// holding its thread and descriptors).
    func abandon() {
        if !readClosed { close(readFD); readClosed = true }
    }

    /// Why the feed stopped early, if it did. Only for a reader that has
    /// stopped: it closes the read end, which ends a feeder still writing.
    func error() -> String? {
        if !readClosed { close(readFD); readClosed = true }
        done.wait()
        return failure
    }

    /// For a reader that has reached tar's end marker: reads what is left
    /// of the decoded stream (tar's padding), waits for the feeder to reach
    /// the end of its input, and returns why the stream is bad, if it is.
    func finish() -> String? {
        if !readClosed {
            var sink = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let n = sink.withUnsafeMutableBytes { read(readFD, $0.baseAddress, $0.count) }
                if n > 0 { continue }
                if n < 0 && errno == EINTR { continue }
                break
            }
        }
        return error()
    }

    private struct PipeClosed: Error {}

    private func emit(_ bytes: UnsafeRawBufferPointer) throws {
        var rest = bytes
        while !rest.isEmpty {
            let n = write(writeFD, rest.baseAddress, rest.count)
            if n < 0 {
                if errno == EINTR { continue }
                // The reader stopped (it has its own error to report).
                throw PipeClosed()
            }
            rest = UnsafeRawBufferPointer(rebasing: rest[n...])
        }
    }

    private func feed(from fd: Int32, limit: Int64, expectedSHA256: String?) throws {
        var left = limit
        var hasher = expectedSHA256.map { _ in SHA256Hasher() }
        let chunk = 1 << 20
        let input = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
        defer { input.deallocate() }
        var decoder: StreamDecoder? = nil
        var scratch = UnsafeMutableRawBufferPointer(start: nil, count: 0)
        defer { scratch.deallocate() }
        var first = true
        do {
            while true {
                var n = 0
                // The first read gathers enough bytes to recognise the format
                // (standard input may deliver them one by one).
                repeat {
                    let want = Int(min(Int64((first ? 8 : chunk) - n), left))
                    if want == 0 { break }
                    let r = read(fd, input.baseAddress! + n, want)
                    if r < 0 {
                        if errno == EINTR { continue }
                        throw StreamError.unsupported("cannot read: " + errnoMessage())
                    }
                    if r == 0 { break }
                    n += r
                    left -= Int64(r)
                } while first && n < 8
                let piece = UnsafeRawBufferPointer(rebasing: input[0..<n])
                if first {
                    first = false
                    let kind = StreamKind(magic: piece)
                    if kind == .zip {
                        throw StreamError.unsupported("a zip archive cannot be read from standard input (its central directory, which holds the symlinks and modes, is at the end): save it to a file and unpack that")
                    }
                    decoder = try kind.makeDecoder()
                    if decoder != nil { scratch = .allocate(byteCount: 1 << 17, alignment: 16) }
                }
                if n == 0 { break }
                hasher?.update(bufferPointer: piece)
                if let decoder { try decoder.feed(piece, scratch: scratch, emit: emit) } else { try emit(piece) }
            }
            try decoder?.finish(scratch: scratch, emit: emit)
        } catch is PipeClosed {
            return
        }
        if let expectedSHA256, var hasher {
            let found = hasher.finalizeHex()
            guard left == 0 || limit == Int64.max, found == expectedSHA256 else {
                throw StreamError.unsupported("the archive inside it changed while it was read (\(left > 0 && limit != Int64.max ? "it ends early" : "its sha256 is now \(found), the header says \(expectedSHA256)")); nothing was written: copy the file again")
            }
        }
    }
}
