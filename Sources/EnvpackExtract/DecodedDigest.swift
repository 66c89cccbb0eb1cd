// The sha256 of a stream's decoded bytes, fed in pieces. An image layer's
// diff_id is the digest of its uncompressed tar, whatever compression the
// blob is stored with; `envpack image` checks a base's layers against
// their diff_ids with it while it copies them, with the same verifying
// decoders extraction uses (a truncated or corrupt layer is refused too).
public final class DecodedDigest {
    private var decoder: StreamDecoder?
    private var started = false
    private var hasher = SHA256Hasher()
    private let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 18, alignment: 16)

    public init() {}
    deinit { scratch.deallocate() }

    /// Feeds the next piece of the stored stream. The first piece decides
    /// the compression (gzip, zstd, xz, bzip2 by their magic; anything else
    /// is taken as uncompressed).
    public func update(_ piece: UnsafeRawBufferPointer) throws(StreamFailure) {
        do {
            if !started {
                started = true
                decoder = try StreamKind(magic: piece).makeDecoder()
            }
            guard let decoder else { hasher.update(bufferPointer: piece); return }
            try decoder.feed(piece, scratch: scratch) { hasher.update(bufferPointer: $0) }
        } catch let error as StreamError {
            throw StreamFailure(message: error.message)
        } catch {
            throw StreamFailure(message: "\(error)")
        }
    }

    /// "sha256:" and the hex digest of everything decoded; fails when the
    /// compressed stream is not complete.
    public func finish() throws(StreamFailure) -> String {
        if let decoder {
            do {
                try decoder.finish(scratch: scratch) { hasher.update(bufferPointer: $0) }
            } catch let error as StreamError {
                throw StreamFailure(message: error.message)
            } catch {
                throw StreamFailure(message: "\(error)")
            }
        }
        return "sha256:" + hasher.finalizeHex()
    }
}

/// Why a stream fed to DecodedDigest was refused, in words.
public struct StreamFailure: Error {
    public var message: String
}
