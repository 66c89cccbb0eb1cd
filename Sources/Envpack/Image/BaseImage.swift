// The base image (`--base`): its layers and config, reused as they are.
// Everything it says is checked before use: index, manifest and config are
// bounded JSON objects of the expected shape, every blob is read from
// blobs/sha256/<64 hex> (a name that cannot leave the folder), never
// through a symlink, and its bytes must hash to the digest and size the
// descriptors claim (checked again as the blobs are copied, when each
// layer is also decompressed and its tar checked against its diff_id).
import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct BaseImage {
    struct Layer {
        var descriptor: Descriptor
        /// The blob's file, inside the base's folder.
        var source: String
    }
    var layers: [Layer]
    var diffIDs: [String]
    var config: [String: Any]

    static let maxLayers = 256

    /// Loads `reference`; archives are unpacked into `scratch` first.
    static func load(_ reference: ImageReference, scratch: String) throws -> BaseImage {
        switch reference {
        case .ociLayout(let path, let tag):
            return try fromLayout(absolutePath(path), tag: tag, shown: "oci:" + path)
        case .ociArchive(let path, let tag):
            try ImageArchiveExtractor.extract(path, into: scratch)
            return try fromLayout(scratch, tag: tag, shown: "oci-archive:" + path)
        case .dockerArchive(let path):
            try ImageArchiveExtractor.extract(path, into: scratch)
            return try fromDockerArchive(scratch, shown: "docker-archive:" + path)
        }
    }

    // MARK: OCI image layout

    private static func fromLayout(_ root: String, tag: String?, shown: String) throws -> BaseImage {
        for folder in [root, root + "/blobs", root + "/blobs/sha256"] {
            guard FileStatus.lstat(folder)?.kind == .directory || (folder == root && statFollowing(folder)?.kind == .directory) else {
                throw EnvpackError.malformedFile(path: shown, reason: "\(folder) is not a folder (an OCI image layout has blobs/sha256/)")
            }
        }
        let index = try OCIJSON.object(BlobStore.readSmall(root + "/index.json", what: shown + ": index.json"), what: shown + ": index.json")
        guard (index["schemaVersion"] as? NSNumber)?.intValue == 2, let list = index["manifests"] as? [Any] else {
            throw EnvpackError.malformedFile(path: shown + ": index.json", reason: "not an OCI image index (schemaVersion 2 with manifests)")
        }
        let manifests = try list.map { try Descriptor(json: $0, what: shown + ": index.json") }
        let refName = "org.opencontainers.image.ref.name"
        let candidates = tag.map { t in manifests.filter { $0.annotations[refName] == t } } ?? manifests
        let tags = manifests.compactMap { $0.annotations[refName] }
        guard candidates.count == 1, var chosen = candidates.first else {
            let known = tags.isEmpty ? "it names no tags" : "its tags: " + tags.joined(separator: ", ")
            if let tag { throw EnvpackError.invalidOption("--base \(shown): no image tagged \(tag) (\(known))") }
            throw EnvpackError.invalidOption("--base \(shown): holds \(manifests.count) images; name one with :TAG (\(known))")
        }
        func blob(_ d: Descriptor, _ what: String) throws -> [UInt8] {
            let bytes = try BlobStore.readSmall(root + "/blobs/sha256/" + d.hex, what: "\(shown): \(what) \(d.digest)")
            let digest = "sha256:" + hexString(SHA256.hash(data: bytes))
            guard digest == d.digest, bytes.count == d.size else {
                throw EnvpackError.malformedFile(path: "\(shown): \(what) \(d.digest)", reason: "its content does not match the digest and size it is named by")
            }
            return bytes
        }
        if chosen.mediaType == MediaType.index {
            // A multi-platform image: this machine's platform.
            let nested = try OCIJSON.object(blob(chosen, "index"), what: "\(shown): index \(chosen.digest)")
            let arch = HostPlatform.architecture
            let entries = (nested["manifests"] as? [[String: Any]]) ?? []
            guard let match = entries.first(where: { ($0["platform"] as? [String: Any]).map { $0["os"] as? String == "linux" && $0["architecture"] as? String == arch } ?? false }) else {
                throw EnvpackError.invalidOption("--base \(shown): the image has no linux/\(arch) variant")
            }
            chosen = try Descriptor(json: match, what: "\(shown): index \(chosen.digest)")
        }
        guard chosen.mediaType == MediaType.manifest || chosen.mediaType == MediaType.dockerManifest else {
            throw EnvpackError.malformedFile(path: shown, reason: "the image's manifest has media type \(chosen.mediaType), not an image manifest")
        }
        let manifest = try OCIJSON.object(blob(chosen, "manifest"), what: "\(shown): manifest \(chosen.digest)")
        let what = "\(shown): manifest \(chosen.digest)"
        guard (manifest["schemaVersion"] as? NSNumber)?.intValue == 2, let layerList = manifest["layers"] as? [Any] else {
            throw EnvpackError.malformedFile(path: what, reason: "not an image manifest (schemaVersion 2 with layers)")
        }
        let configDescriptor = try Descriptor(json: manifest["config"], what: what)
        let configWhat = "\(shown): config \(configDescriptor.digest)"
        let config = try OCIJSON.object(blob(configDescriptor, "config"), what: configWhat)
        guard layerList.count <= maxLayers else {
            throw EnvpackError.malformedFile(path: what, reason: "\(layerList.count) layers, more than the \(maxLayers) envpack takes")
        }
        var layers: [Layer] = []
        for item in layerList {
            var d = try Descriptor(json: item, what: what)
            guard let type = MediaType.ociLayer(d.mediaType) else {
                throw EnvpackError.malformedFile(path: what, reason: "layer \(d.digest) has media type \(d.mediaType), which envpack cannot reuse (tar, tar+gzip or tar+zstd only)")
            }
            d.mediaType = type
            let source = root + "/blobs/sha256/" + d.hex
            if FileStatus.lstat(source)?.kind == .symlink {
                throw EnvpackError.malformedFile(path: what, reason: "layer \(d.digest) is a symbolic link in blobs/sha256, which an image's blob must not be")
            }
            guard let st = FileStatus.lstat(source), st.kind == .regular else {
                throw EnvpackError.malformedFile(path: what, reason: "layer \(d.digest) is missing from blobs/sha256 (or is not a regular file)")
            }
            guard st.size == d.size else {
                throw EnvpackError.malformedFile(path: what, reason: "layer \(d.digest) has \(st.size) bytes where the manifest says \(d.size)")
            }
            layers.append(Layer(descriptor: d, source: source))
        }
        let diffIDs = try checkedDiffIDs(config, layers: layers.count, what: configWhat)
        return BaseImage(layers: layers, diffIDs: diffIDs, config: config)
    }

    // MARK: docker save tarball

    private static func fromDockerArchive(_ root: String, shown: String) throws -> BaseImage {
        let what = shown + ": manifest.json"
        let bytes = try BlobStore.readSmall(root + "/manifest.json", what: what)
        guard let parsed = try? JSONSerialization.jsonObject(with: Data(bytes)), let list = parsed as? [[String: Any]] else {
            throw EnvpackError.malformedFile(path: what, reason: "not a JSON list of images")
        }
        guard list.count == 1, let image = list.first else {
            throw EnvpackError.invalidOption("--base \(shown): holds \(list.count) images where envpack takes exactly one (save one image per archive)")
        }
        guard let configName = image["Config"] as? String, let layerNames = image["Layers"] as? [String] else {
            throw EnvpackError.malformedFile(path: what, reason: "the image lacks Config or Layers")
        }
        guard layerNames.count <= maxLayers else {
            throw EnvpackError.malformedFile(path: what, reason: "\(layerNames.count) layers, more than the \(maxLayers) envpack takes")
        }
        func inside(_ name: String) throws -> String {
            let parts = name.split(separator: "/", omittingEmptySubsequences: false)
            guard !name.hasPrefix("/"), !parts.contains(where: { $0.isEmpty || $0 == ".." || $0 == "." }) else {
                throw EnvpackError.malformedFile(path: what, reason: "refusing path \(name.debugDescription): not a plain relative name inside the archive")
            }
            return root + "/" + name
        }
        let configBytes = try BlobStore.readSmall(try inside(configName), what: "\(shown): \(configName)")
        let config = try OCIJSON.object(configBytes, what: "\(shown): \(configName)")
        var layers: [Layer] = []
        let diffIDs = try checkedDiffIDs(config, layers: layerNames.count, what: "\(shown): \(configName)")
        for (i, name) in layerNames.enumerated() {
            let source = try inside(name)
            var magic: [UInt8] = []
            let (digest, size) = try BlobStore.stream(file: source, limit: Int.max, what: "\(shown): \(name)") { chunk in
                if magic.count < 4 { magic += chunk.prefix(4 - magic.count) }
            }
            let type = MediaType.layer(magic: magic)
            if type == MediaType.layerTar && digest != diffIDs[i] {
                throw EnvpackError.malformedFile(path: "\(shown): \(name)", reason: "the layer hashes to \(digest) where the config's diff_id says \(diffIDs[i])")
            }
            layers.append(Layer(descriptor: Descriptor(mediaType: type, digest: digest, size: size), source: source))
        }
        return BaseImage(layers: layers, diffIDs: diffIDs, config: config)
    }

    /// rootfs.diff_ids, one per layer, each a sha256 digest.
    private static func checkedDiffIDs(_ config: [String: Any], layers: Int, what: String) throws -> [String] {
        guard let rootfs = config["rootfs"] as? [String: Any], rootfs["type"] as? String == "layers",
              let ids = rootfs["diff_ids"] as? [String] else {
            throw EnvpackError.malformedFile(path: what, reason: "the config has no rootfs of type layers with diff_ids")
        }
        guard ids.count == layers else {
            throw EnvpackError.malformedFile(path: what, reason: "the config lists \(ids.count) diff_ids for \(layers) layers")
        }
        if let bad = ids.first(where: { !Descriptor.isSHA256($0) }) {
            throw EnvpackError.malformedFile(path: what, reason: "diff_id \(bad.debugDescription) is not a sha256 digest")
        }
        if let os = config["os"] as? String, os != "linux" {
            throw EnvpackError.invalidOption("\(what): the base image is for \(os), not linux")
        }
        if let arch = config["architecture"] as? String, arch != HostPlatform.architecture {
            throw EnvpackError.invalidOption("\(what): the base image is for \(arch), the environment for \(HostPlatform.architecture)")
        }
        return ids
    }
}

/// This machine's platform as OCI names it (the environment's own).
enum HostPlatform {
    static let architecture: String = {
        var u = utsname()
        uname(&u)
        let machine = withUnsafeBytes(of: &u.machine) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        switch machine {
        case "x86_64": return "amd64"
        case "aarch64": return "arm64"
        case "ppc64le": return "ppc64le"
        case "s390x": return "s390x"
        default: return machine
        }
    }()
}
