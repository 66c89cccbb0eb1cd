// One layer tar made into a blob: its diff_id is the sha256 of the tar,
// its digest that of the blob as stored (gzip through envpack's own
// GzipCompressor, whose bytes do not depend on the thread count, so layers
// stay deterministic; or the tar itself, as `docker save` stores layers).
import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct LayerBlob {
    var descriptor: Descriptor
    var diffID: String

    /// Stores `tarPath` in `store` (the tar is consumed), gzip-compressed
    /// at `level` on `threads` threads, or as it is when `level` is nil.
    static func store(tarPath: String, in store: BlobStore, level: Int?, threads: Int,
                      annotations: [String: String]) throws -> LayerBlob {
        guard let level else {
            let d = try store.addFile(tarPath, mediaType: MediaType.layerTar, annotations: annotations)
            return LayerBlob(descriptor: d, diffID: d.digest)
        }
        let temp = tarPath + ".gz"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw EnvpackError.writeFailed(path: temp, reason: errnoMessage()) }
        var fdOpen = true
        defer { if fdOpen { close(fd); unlink(temp) } }
        let gzip = try GzipCompressor(fd: fd, level: level, threads: threads, displayPath: temp)
        let (diffID, _) = try BlobStore.stream(file: tarPath, limit: Int.max, what: tarPath) { try gzip.write($0) }
        try gzip.finish()
        fdOpen = false
        guard close(fd) == 0 else {
            unlink(temp)
            throw EnvpackError.writeFailed(path: temp, reason: errnoMessage())
        }
        unlink(tarPath)
        let d = try store.addFile(temp, mediaType: MediaType.layerGzip, annotations: annotations)
        return LayerBlob(descriptor: d, diffID: diffID)
    }
}
