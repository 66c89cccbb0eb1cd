// sha256 without Foundation: swift-crypto's SHA256 imports Foundation, so
// the extraction module (and the static helper that links it) hashes with
// nettle, which libarchive links anyway. DiskWriter hashes what it writes
// with it; the helper checks a self-extractor's payload with it.
import CNettle

public struct SHA256Hasher {
    private var context = sha256_ctx()

    public init() { nettle_sha256_init(&context) }

    public mutating func update(bufferPointer bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        nettle_sha256_update(&context, bytes.count, base.assumingMemoryBound(to: UInt8.self))
    }

    /// The digest as 64 lowercase hex digits (the hasher is then reset).
    public mutating func finalizeHex() -> String {
        var digest = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_SIZE))
        digest.withUnsafeMutableBufferPointer { nettle_sha256_digest(&context, $0.count, $0.baseAddress) }
        return hexDigits(digest)
    }
}
