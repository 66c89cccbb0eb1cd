// The JSON documents of an OCI image (index, manifest, config) and of a
// `docker save` tarball, as plain dictionaries: a base image's config is
// reused with every field it has, known or not, so it is never decoded into
// a fixed struct. Written with sorted keys and no escaped slashes, so the
// same image always gives the same bytes (and the same digests).
import Foundation

enum OCIJSON {
    /// JSON documents read from an image are small; anything larger is refused.
    static let maxDocumentSize = 4 << 20

    static func encode(_ object: Any) throws -> [UInt8] {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        return Array(data)
    }

    /// A JSON object from `bytes`, or a plain-words error naming `what`.
    static func object(_ bytes: [UInt8], what: String) throws -> [String: Any] {
        guard bytes.count <= maxDocumentSize else {
            throw EnvpackError.malformedFile(path: what, reason: "larger than \(maxDocumentSize >> 20) MiB, too large for an image's JSON document")
        }
        guard let parsed = try? JSONSerialization.jsonObject(with: Data(bytes)), let object = parsed as? [String: Any] else {
            throw EnvpackError.malformedFile(path: what, reason: "not a JSON object")
        }
        return object
    }
}

/// Media types envpack reads and writes.
enum MediaType {
    static let index = "application/vnd.oci.image.index.v1+json"
    static let manifest = "application/vnd.oci.image.manifest.v1+json"
    static let config = "application/vnd.oci.image.config.v1+json"
    static let layerTar = "application/vnd.oci.image.layer.v1.tar"
    static let layerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
    static let layerZstd = "application/vnd.oci.image.layer.v1.tar+zstd"
    static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    static let dockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    static let dockerLayerTar = "application/vnd.docker.image.rootfs.diff.tar"

    /// A base layer's media type as an OCI manifest names it (the same
    /// bytes under Docker's name and OCI's), nil when envpack cannot use it.
    static func ociLayer(_ type: String) -> String? {
        switch type {
        case layerTar, dockerLayerTar: return layerTar
        case layerGzip, dockerLayerGzip: return layerGzip
        case layerZstd: return layerZstd
        default: return nil
        }
    }

    /// The layer media type for a blob that starts with `magic`.
    static func layer(magic: [UInt8]) -> String {
        if magic.starts(with: [0x1f, 0x8b]) { return layerGzip }
        if magic.starts(with: [0x28, 0xb5, 0x2f, 0xfd]) { return layerZstd }
        return layerTar
    }
}

/// A blob: what a manifest or index says about it.
struct Descriptor: Equatable {
    var mediaType: String
    /// "sha256:<64 hex>".
    var digest: String
    var size: Int
    var annotations: [String: String] = [:]

    var hex: String { String(digest.dropFirst("sha256:".count)) }

    var json: [String: Any] {
        var d: [String: Any] = ["mediaType": mediaType, "digest": digest, "size": size]
        if !annotations.isEmpty { d["annotations"] = annotations }
        return d
    }

    /// A descriptor read from an image, its digest and size checked for form
    /// (the blob itself is checked when it is read).
    init(json: Any?, what: String) throws {
        guard let d = json as? [String: Any], let type = d["mediaType"] as? String,
              let digest = d["digest"] as? String, let size = (d["size"] as? NSNumber)?.intValue else {
            throw EnvpackError.malformedFile(path: what, reason: "a descriptor lacks mediaType, digest or size")
        }
        guard Self.isSHA256(digest) else {
            throw EnvpackError.malformedFile(path: what, reason: "digest \(digest.debugDescription) is not sha256:<64 lowercase hex digits>")
        }
        guard size >= 0 else { throw EnvpackError.malformedFile(path: what, reason: "negative size \(size)") }
        self.mediaType = type
        self.digest = digest
        self.size = size
        self.annotations = (d["annotations"] as? [String: String]) ?? [:]
    }

    init(mediaType: String, digest: String, size: Int, annotations: [String: String] = [:]) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.annotations = annotations
    }

    static func isSHA256(_ digest: String) -> Bool {
        guard digest.hasPrefix("sha256:") else { return false }
        let hex = digest.utf8.dropFirst(7)
        return hex.count == 64 && hex.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }
}
