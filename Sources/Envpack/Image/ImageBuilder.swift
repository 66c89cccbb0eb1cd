// `envpack image`: a container image of a conda environment, built without
// a daemon. The environment is packed by `pack` itself (relocated to the
// image's prefix with --dest-prefix, every file checked as pack checks
// them), its tar dealt into layers (LayerSplitter), the base image's layers
// and config reused as they are (BaseImage), and the whole written as an
// OCI image layout in a staging folder beside the output, then moved or
// archived into place (ImageOutput). Nothing is left at the output on failure.
import EnvpackRelocation
import EnvpackExtract
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public enum ImageBuilder {
    public static func build(_ options: ImageOptions) throws -> ImageSummary {
        try options.validate()
        let output = absolutePath(options.output)
        let parent = parentDirectory(output)
        guard statFollowing(parent)?.kind == .directory else { throw EnvpackError.outputDirectoryMissing(parent) }
        if FileStatus.lstat(output) != nil && !options.force { throw EnvpackError.outputExists(output) }
        // The staging folder goes beside the output: never inside the
        // environment being packed.
        let env = PrefixSpellings.realPath(absolutePath(options.prefix)) ?? absolutePath(options.prefix)
        let realParent = PrefixSpellings.realPath(parent) ?? parent
        if realParent == env || realParent.hasPrefix(env + "/") {
            throw EnvpackError.invalidOption("-o \(output) is inside the environment \(env): write the image elsewhere")
        }
        OwnedFolder.reclaimStale(in: parent, kind: "image")
        let staging = try OwnedFolder.take(in: parent, kind: "image")
        defer {
            if (try? FileManager.default.removeItem(atPath: staging.path)) != nil || FileStatus.lstat(staging.path) == nil {
                staging.release()
            }
        }
        let layout = staging.path + "/layout"
        guard mkdir(layout, 0o755) == 0 else { throw EnvpackError.writeFailed(path: layout, reason: errnoMessage()) }
        let store = try BlobStore(root: layout)

        // The base first: a bad one fails before the environment is read.
        var base: BaseImage? = nil
        if let reference = options.base {
            let scratch = staging.path + "/base"
            guard mkdir(scratch, 0o755) == 0 else { throw EnvpackError.writeFailed(path: scratch, reason: errnoMessage()) }
            base = try BaseImage.load(reference, scratch: scratch)
        }

        // The environment, relocated, as one tar under the image's prefix.
        let packed = staging.path + "/env.tar"
        var pack = PackOptions(prefix: options.prefix, output: packed, format: .tar)
        pack.arcroot = options.rootInImage
        pack.destPrefix = options.destination
        pack.quiet = true
        pack.threads = options.threads
        pack.withHelper = false   // relocated at build time: no unpack step, no helper
        let summary = try Packer.pack(pack)
        let loaded = try summary.environment ?? CondaEnvironment.load(prefix: options.prefix)
        let mtime = Packer.defaultMtime(prefix: env)

        var names = ["environment"]
        var owner: (String) -> Int? = { _ in nil }
        if options.layerPerPackage {
            let own = min(loaded.records.count, ImageOptions.maxPackageLayers)
            names = loaded.records.prefix(own).map(\.distName) + ["environment"]
            let managed = loaded.managed
            owner = { path in managed[path].flatMap { $0.recordIndex < own ? $0.recordIndex : nil } }
        }
        let split = try LayerSplitter(packedTar: packed, root: options.rootInImage, folder: staging.path,
                                      layerNames: names, owner: owner, mtime: mtime).split()
        unlink(packed)
        var ours: [LayerBlob] = []
        for layer in split {
            let annotations = options.layerPerPackage ? ["io.envpack.layer": layer.name] : [:]
            ours.append(try LayerBlob.store(tarPath: layer.tarPath, in: store,
                                            level: options.format == .dockerArchive ? nil : options.compressLevel,
                                            threads: options.threads, annotations: annotations))
        }

        for (i, layer) in (base?.layers ?? []).enumerated() {
            try store.copy(from: layer.source, claimed: layer.descriptor, diffID: base!.diffIDs[i],
                           what: "--base \(options.base!.path): layer \(layer.descriptor.digest)")
        }
        let packages = loaded.records.map { "\($0.name)=\($0.version)=\($0.build)" }.sorted()
        let config = ImageConfig.make(base: base?.config, diffIDs: ours.map(\.diffID), layerNames: split.map(\.name),
                                      options: options, packages: packages, created: mtime)
        let configDescriptor = try store.add(OCIJSON.encode(config), mediaType: MediaType.config)
        let layers = (base?.layers.map(\.descriptor) ?? []) + ours.map(\.descriptor)
        let manifest: [String: Any] = ["schemaVersion": 2, "mediaType": MediaType.manifest,
                                       "config": configDescriptor.json, "layers": layers.map(\.json)]
        let manifestDescriptor = try store.add(OCIJSON.encode(manifest), mediaType: MediaType.manifest)
        let (name, tag) = options.reference
        try ImageOutput.finishLayout(store, manifest: manifestDescriptor, config: configDescriptor, layers: layers,
                                     name: name, tag: tag, format: options.format)
        try ImageOutput.commit(layout: layout, output: output, format: options.format, force: options.force, mtime: mtime)

        return ImageSummary(output: output, format: options.format, name: name, tag: tag,
                            manifestDigest: manifestDescriptor.digest, configDigest: configDescriptor.digest,
                            baseLayers: base?.layers.count ?? 0, environmentLayers: ours.count,
                            environmentBytes: ours.reduce(0) { $0 + $1.descriptor.size },
                            packages: loaded.records.count, warnings: summary.warnings)
    }
}
