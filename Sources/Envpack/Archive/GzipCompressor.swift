// gzip compression of the archive stream on several threads, pigz-style,
// done here through zlib rather than libarchive's gzip filter (one deflate
// stream, one thread).
//
// The stream is cut into blocks of a fixed size (`blockSize`). Each block is
// deflated on its own, with the previous block's last 32 KiB as the preset
// dictionary (so matches reach back across the cut and the size stays within
// a fraction of a percent of one deflate stream), and ended with a sync flush
// (an empty stored block, leaving the deflate data byte-aligned); the last
// block ends the deflate stream. The blocks follow one another behind one
// gzip header (no name, no timestamp), and their CRC-32s are joined with
// zlib's crc32_combine: one ordinary gzip member, which gzip, python,
// Java's GZIPInputStream (Hadoop) and libarchive all read.
//
// Block boundaries depend only on offsets in the stream, never on the thread
// count or on timing, so `-j 1` (which deflates on the caller's thread) and
// `-j N` write the same bytes. Memory is bounded whatever the environment's
// size: at most `2 * workers + 2` blocks in flight (input and output, about
// 0.5 MiB each) and at most `maxWorkers` deflate states of about 0.3 MiB.
// All output is written on the caller's thread, so a failed write (a full
// disk, EPIPE) throws from `write` or `finish` with its errno message.
import CZlib
import Foundation
#if canImport(Glibc)
import Glibc
#endif

final class GzipCompressor {
    /// 256 KiB: large enough that the per-block cost (a dictionary, a
    /// flush marker, a thread hand-off) is lost in the noise, small enough
    /// that two workers start at once on small archives.
    static let blockSize = 256 << 10
    /// deflate's window: the most a match can reach back.
    static let dictionarySize = 32 << 10
    /// Caps the memory on many-core machines (16 workers: under 20 MB).
    static let maxWorkers = 16

    private let fd: Int32
    private let displayPath: String
    /// With one thread, blocks are deflated here; else by `pool`.
    private let inline: BlockDeflater?
    private let pool: DeflatePool?
    private let maxInFlight: Int
    private var block: [UInt8] = []
    private var dictionary: [UInt8] = []
    private var submitted = 0
    private var written = 0
    private var crc: UInt = 0
    private var length: UInt32 = 0  // ISIZE: the input length modulo 2^32

    init(fd: Int32, level: Int, threads: Int, displayPath: String) throws {
        self.fd = fd
        self.displayPath = displayPath
        let workers = min(max(threads, 1), Self.maxWorkers)
        maxInFlight = 2 * workers + 2
        if workers == 1 {
            guard let deflater = BlockDeflater(level: level) else {
                throw EnvpackError.archive(path: displayPath, reason: "cannot allocate a zlib deflate state")
            }
            inline = deflater
            pool = nil
        } else {
            inline = nil
            pool = try DeflatePool(workers: workers, level: level, displayPath: displayPath)
        }
        block.reserveCapacity(Self.blockSize)
        // gzip header: magic, deflate, no flags, no time, extra flags as
        // gzip sets them for levels 9 and 1, OS 3 (Unix).
        let xfl: UInt8 = level == 9 ? 2 : (level == 1 ? 4 : 0)
        let header: [UInt8] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 3]
        try header.withUnsafeBytes { try writeAll(fd: fd, $0, displayPath: displayPath) }
    }

    deinit { pool?.stop() }

    /// Workers' counts of blocks deflated, for the tests (empty with one thread).
    var blocksByWorker: [Int] { pool?.blocksByWorker() ?? [] }

    /// Buffers `bytes`, handing on each full block; writes what is ready.
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let n = min(Self.blockSize - block.count, bytes.count - offset)
            block.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + n)]))
            offset += n
            if block.count == Self.blockSize { try submit(isLast: false) }
        }
    }

    /// Deflates the rest (possibly empty) as the last block, writes every
    /// block in order and the trailer (CRC-32 and length).
    func finish() throws {
        try submit(isLast: true)
        while written < submitted { try writeNext() }
        pool?.stop()
        var trailer = [UInt8]()
        for shift in stride(from: 0, to: 32, by: 8) { trailer.append(UInt8(truncatingIfNeeded: UInt32(crc) >> shift)) }
        for shift in stride(from: 0, to: 32, by: 8) { trailer.append(UInt8(truncatingIfNeeded: length >> shift)) }
        try trailer.withUnsafeBytes { try writeAll(fd: fd, $0, displayPath: displayPath) }
    }

    private func submit(isLast: Bool) throws {
        let job = DeflateJob(sequence: submitted, input: block, dictionary: dictionary, isLast: isLast)
        if !isLast { dictionary = Array(block.suffix(Self.dictionarySize)) }
        block = []
        block.reserveCapacity(Self.blockSize)
        submitted += 1
        if let inline {
            try emit(inline.deflate(job))
            written += 1
            return
        }
        pool!.submit(job)
        while submitted - written >= maxInFlight { try writeNext() }
    }

    /// Waits for the oldest block not yet written and writes it.
    private func writeNext() throws {
        try emit(pool!.take(written))
        written += 1
    }

    private func emit(_ result: DeflatedBlock?) throws {
        guard let result else {
            throw EnvpackError.archive(path: displayPath, reason: "zlib cannot deflate a block (out of memory?)")
        }
        crc = crc32_combine(crc, result.crc, off_t(result.inputLength))
        length &+= UInt32(truncatingIfNeeded: result.inputLength)
        try result.output.withUnsafeBytes { try writeAll(fd: fd, $0, displayPath: displayPath) }
    }
}

/// One block to deflate: its place, its bytes and the 32 KiB before them.
struct DeflateJob: Sendable {
    let sequence: Int
    let input: [UInt8]
    let dictionary: [UInt8]
    let isLast: Bool
}

struct DeflatedBlock: Sendable {
    let output: [UInt8]
    let crc: UInt
    let inputLength: Int
}

/// A raw deflate state (no zlib or gzip wrapper), reset for every block.
/// zlib keeps a pointer back to the z_stream, so it lives at a fixed address.
/// Used by one thread at a time.
final class BlockDeflater: @unchecked Sendable {
    private let stream: UnsafeMutablePointer<z_stream>

    init?(level: Int) {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let r = deflateInit2_(stream, Int32(level), Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY,
                              zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard r == Z_OK else {
            stream.deinitialize(count: 1)
            stream.deallocate()
            return nil
        }
    }

    deinit {
        deflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// The block deflated, or nil on a zlib error (out of memory).
    func deflate(_ job: DeflateJob) -> DeflatedBlock? {
        guard deflateReset(stream) == Z_OK else { return nil }
        if !job.dictionary.isEmpty {
            let r = job.dictionary.withUnsafeBufferPointer {
                deflateSetDictionary(stream, $0.baseAddress, uInt($0.count))
            }
            guard r == Z_OK else { return nil }
        }
        let flush = job.isLast ? Z_FINISH : Z_SYNC_FLUSH
        // deflateBound covers the data; a sync flush adds at most a few bytes.
        var output = [UInt8](repeating: 0, count: Int(deflateBound(stream, uLong(job.input.count))) + 64)
        var used = 0
        let ok = job.input.withUnsafeBufferPointer { input -> Bool in
            stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
            stream.pointee.avail_in = uInt(input.count)
            while true {
                if used == output.count { output.append(contentsOf: repeatElement(0, count: 4096)) }
                let r = output.withUnsafeMutableBufferPointer { out -> Int32 in
                    stream.pointee.next_out = out.baseAddress! + used
                    stream.pointee.avail_out = uInt(out.count - used)
                    let r = CZlib.deflate(stream, flush)
                    used = out.count - Int(stream.pointee.avail_out)
                    return r
                }
                if r == Z_STREAM_END { return true }
                guard r == Z_OK || r == Z_BUF_ERROR else { return false }
                // A flush is complete when deflate leaves output space unused.
                if !job.isLast && stream.pointee.avail_out > 0 { return true }
            }
        }
        stream.pointee.next_in = nil
        stream.pointee.next_out = nil
        guard ok else { return nil }
        output.removeLast(output.count - used)
        let crc = job.input.withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) }
        return DeflatedBlock(output: output, crc: crc, inputLength: job.input.count)
    }
}

/// Worker threads taking blocks in order from a queue; results are picked
/// up by sequence number.
private final class DeflatePool: @unchecked Sendable {
    private let condition = NSCondition()
    private var queue: [DeflateJob] = []
    private var results: [Int: DeflatedBlock?] = [:]
    private var counts: [Int]
    private var stopping = false
    private let exited = DispatchGroup()

    init(workers: Int, level: Int, displayPath: String) throws {
        counts = Array(repeating: 0, count: workers)
        var deflaters: [BlockDeflater] = []
        for _ in 0..<workers {
            guard let d = BlockDeflater(level: level) else {
                throw EnvpackError.archive(path: displayPath, reason: "cannot allocate a zlib deflate state")
            }
            deflaters.append(d)
        }
        for (index, deflater) in deflaters.enumerated() {
            exited.enter()
            Thread.detachNewThread { [self] in
                run(deflater, index: index)
                exited.leave()
            }
        }
    }

    private func run(_ deflater: BlockDeflater, index: Int) {
        while true {
            condition.lock()
            while queue.isEmpty && !stopping { condition.wait() }
            if stopping {
                condition.unlock()
                return
            }
            let job = queue.removeFirst()
            condition.unlock()
            let result = deflater.deflate(job)
            condition.lock()
            results[job.sequence] = .some(result)
            counts[index] += 1
            condition.broadcast()
            condition.unlock()
        }
    }

    func submit(_ job: DeflateJob) {
        condition.lock()
        queue.append(job)
        condition.broadcast()
        condition.unlock()
    }

    /// Waits for block `sequence`; nil when zlib failed on it.
    func take(_ sequence: Int) -> DeflatedBlock? {
        condition.lock()
        defer { condition.unlock() }
        while results.index(forKey: sequence) == nil { condition.wait() }
        return results.removeValue(forKey: sequence)!
    }

    func blocksByWorker() -> [Int] {
        condition.lock()
        defer { condition.unlock() }
        return counts
    }

    /// Ends the workers (each finishes its block first) and waits for them.
    func stop() {
        condition.lock()
        stopping = true
        queue.removeAll()
        condition.broadcast()
        condition.unlock()
        exited.wait()
    }
}
