// The blobs of an OCI image layout (blobs/sha256/<hex>): every blob is
// written through its sha256 digest, computed from the bytes as they are
// written or copied, never taken from anyone's word. A base image's blobs
// are copied and checked against the digest and size its manifest claims.
import Crypto
import EnvpackExtract
import Foundation
#if canImport(Glibc)
import Glibc
#endif

final class BlobStore {
    /// The layout folder (holds oci-layout, index.json, blobs/).
    let root: String
    var blobFolder: String { root + "/blobs/sha256" }
    static let chunkSize = 1 << 20

    init(root: String) throws {
        self.root = root
        for folder in [root + "/blobs", root + "/blobs/sha256"] {
            if mkdir(folder, 0o755) != 0 && errno != EEXIST {
                throw EnvpackError.writeFailed(path: folder, reason: errnoMessage())
            }
        }
    }

    func path(of d: Descriptor) -> String { blobFolder + "/" + d.hex }

    /// Stores a small blob held in memory.
    func add(_ bytes: [UInt8], mediaType: String) throws -> Descriptor {
        let digest = "sha256:" + hexString(SHA256.hash(data: bytes))
        let d = Descriptor(mediaType: mediaType, digest: digest, size: bytes.count)
        let temp = blobFolder + "/.tmp-" + d.hex
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw EnvpackError.writeFailed(path: temp, reason: errnoMessage()) }
        do {
            try bytes.withUnsafeBytes { try writeAll(fd: fd, $0, displayPath: temp) }
        } catch {
            close(fd)
            unlink(temp)
            throw error
        }
        guard close(fd) == 0 else {
            unlink(temp)
            throw EnvpackError.writeFailed(path: temp, reason: errnoMessage())
        }
        try place(temp, as: d)
        return d
    }

    /// Stores the file at `temp` (written by envpack, in this store's
    /// folder) under its digest, moving it.
    func addFile(_ temp: String, mediaType: String, annotations: [String: String] = [:]) throws -> Descriptor {
        let (digest, size) = try Self.hash(file: temp)
        let d = Descriptor(mediaType: mediaType, digest: digest, size: size, annotations: annotations)
        try place(temp, as: d)
        return d
    }

    /// Copies a base image's blob from `source` (a regular file, never
    /// followed through a symlink), checking the digest and size `claimed`
    /// and, for a layer, that its decoded tar hashes to `diffID`.
    func copy(from source: String, claimed: Descriptor, diffID: String? = nil, what: String) throws {
        if FileStatus.lstat(path(of: claimed)) != nil { return }  // already here (a layer shared twice)
        let decoded = diffID.map { _ in DecodedDigest() }
        var decodeFailure: String? = nil
        let temp = blobFolder + "/.tmp-" + claimed.hex
        let out = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard out >= 0 else { throw EnvpackError.writeFailed(path: temp, reason: errnoMessage()) }
        var ok = false
        var outOpen = true
        defer {
            if outOpen { close(out) }
            if !ok { unlink(temp) }
        }
        let (digest, size) = try Self.stream(file: source, limit: claimed.size, what: what) { chunk in
            try writeAll(fd: out, chunk, displayPath: temp)
            // A decoding failure is reported after the digest check: a
            // tampered blob is named as such first.
            guard decodeFailure == nil else { return }
            do { try decoded?.update(chunk) } catch let error as StreamFailure { decodeFailure = error.message }
        }
        guard size == claimed.size else {
            throw EnvpackError.malformedFile(path: what, reason: "blob \(claimed.digest) has \(size) bytes where its descriptor says \(claimed.size)")
        }
        guard digest == claimed.digest else {
            throw EnvpackError.malformedFile(path: what, reason: "blob \(claimed.digest) does not match its digest (its content hashes to \(digest))")
        }
        if let decoded, let diffID {
            var tarDigest = ""
            do { if decodeFailure == nil { tarDigest = try decoded.finish() } } catch { decodeFailure = error.message }
            if let decodeFailure {
                throw EnvpackError.malformedFile(path: what, reason: "the layer cannot be decompressed: \(decodeFailure)")
            }
            guard tarDigest == diffID else {
                throw EnvpackError.malformedFile(path: what, reason: "the layer's tar hashes to \(tarDigest) where the config's diff_id says \(diffID)")
            }
        }
        outOpen = false
        guard close(out) == 0 else { throw EnvpackError.writeFailed(path: temp, reason: errnoMessage()) }
        try place(temp, as: claimed)
        ok = true
    }

    private func place(_ temp: String, as d: Descriptor) throws {
        guard rename(temp, path(of: d)) == 0 else {
            let reason = errnoMessage()
            unlink(temp)
            throw EnvpackError.writeFailed(path: path(of: d), reason: reason)
        }
    }

    /// sha256 digest and size of a file.
    static func hash(file: String) throws -> (String, Int) {
        try stream(file: file, limit: Int.max, what: file) { _ in }
    }

    /// Reads a regular file (not through a symlink) in chunks, hashing it;
    /// more than `limit` bytes is an error.
    static func stream(file: String, limit: Int, what: String, tooLarge: String? = nil,
                       _ body: (UnsafeRawBufferPointer) throws -> Void) throws -> (String, Int) {
        let fd = open(file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            let reason = errno == ELOOP ? "it is a symbolic link, which an image's blob must not be" : errnoMessage()
            throw EnvpackError.unreadable(path: what, reason: reason)
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw EnvpackError.unreadable(path: what, reason: "not a regular file")
        }
        var hasher = SHA256()
        var total = 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 4096)
        defer { buffer.deallocate() }
        while true {
            let n = read(fd, buffer.baseAddress, chunkSize)
            if n < 0 {
                if errno == EINTR { continue }
                throw EnvpackError.unreadable(path: what, reason: errnoMessage())
            }
            if n == 0 { break }
            total += n
            if total > limit {
                throw EnvpackError.malformedFile(path: what, reason: tooLarge ?? "larger than the \(limit) bytes its descriptor claims")
            }
            let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
            hasher.update(bufferPointer: chunk)
            try body(chunk)
        }
        return ("sha256:" + hexString(hasher.finalize()), total)
    }

    /// A small file's bytes (JSON documents), bounded.
    static func readSmall(_ file: String, what: String) throws -> [UInt8] {
        var bytes: [UInt8] = []
        _ = try stream(file: file, limit: OCIJSON.maxDocumentSize, what: what,
                       tooLarge: "larger than \(OCIJSON.maxDocumentSize >> 20) MiB, too large for an image's JSON document") { bytes.append(contentsOf: $0) }
        return bytes
    }
}
