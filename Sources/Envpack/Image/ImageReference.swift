// Where a base image comes from (`--base`) and where an image goes (`-o`,
// `--format`): local transports only, named as skopeo and podman name them
// (oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE). No registry,
// no network.
import Foundation

public enum ImageReference: Equatable, Sendable {
    case ociLayout(path: String, tag: String?)
    case ociArchive(path: String, tag: String?)
    case dockerArchive(path: String)

    public var path: String {
        switch self {
        case .ociLayout(let p, _), .ociArchive(let p, _), .dockerArchive(let p): return p
        }
    }

    /// Parses `--base`. A tag follows the last ':' unless the whole rest
    /// names an existing file or folder (paths may hold ':').
    public init(base: String) throws {
        func split(_ rest: String) -> (String, String?) {
            if FileManager.default.fileExists(atPath: rest) { return (rest, nil) }
            guard let colon = rest.lastIndex(of: ":") else { return (rest, nil) }
            let tag = String(rest[rest.index(after: colon)...])
            if tag.isEmpty || tag.contains("/") { return (rest, nil) }
            return (String(rest[..<colon]), tag)
        }
        if base.hasPrefix("oci:") {
            let (p, t) = split(String(base.dropFirst(4)))
            self = .ociLayout(path: p, tag: t)
        } else if base.hasPrefix("oci-archive:") {
            let (p, t) = split(String(base.dropFirst(12)))
            self = .ociArchive(path: p, tag: t)
        } else if base.hasPrefix("docker-archive:") {
            self = .dockerArchive(path: String(base.dropFirst(15)))
        } else {
            throw EnvpackError.invalidOption("--base \(base): name a local image as oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker-archive:FILE (registries are not reached: copy the image first, e.g. skopeo copy docker://debian:bookworm-slim oci:base:bookworm)")
        }
        if path.isEmpty { throw EnvpackError.invalidOption("--base \(base): the path is empty") }
    }
}

/// What `envpack image` writes.
public enum ImageFormat: String, Sendable, CaseIterable {
    /// A folder: an OCI image layout.
    case ociLayout = "oci"
    /// One tar file holding an OCI image layout.
    case ociArchive = "oci-archive"
    /// A `docker save` tarball (manifest.json), for docker load / podman load.
    case dockerArchive = "docker-archive"
}
