// Puts a finished image layout (built in a staging folder beside the
// output) where it was asked for: renamed into place as a folder, or
// written as one tar (an OCI archive, or a `docker save` tarball whose
// manifest.json docker load and podman load read, with the OCI index beside
// it as newer Docker writes). Tar entries are sorted and owned by root with
// one fixed time, so the same image gives the same file; the tar goes
// through OutputFile, so a failure leaves nothing at the output.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

enum ImageOutput {
    /// Writes the index.json (and manifest.json for docker-archive) and
    /// oci-layout into `layout`.
    static func finishLayout(_ store: BlobStore, manifest: Descriptor, config: Descriptor, layers: [Descriptor],
                             name: String, tag: String, format: ImageFormat) throws {
        var annotated = manifest
        annotated.annotations = ["org.opencontainers.image.ref.name": tag,
                                 "io.containerd.image.name": name + ":" + tag]
        let index: [String: Any] = ["schemaVersion": 2, "mediaType": MediaType.index, "manifests": [annotated.json]]
        try writeNewFile(store.root + "/index.json", OCIJSON.encode(index), mode: 0o644)
        try writeNewFile(store.root + "/oci-layout", OCIJSON.encode(["imageLayoutVersion": "1.0.0"]), mode: 0o644)
        if format == .dockerArchive {
            let entry: [String: Any] = ["Config": "blobs/sha256/" + config.hex,
                                        "RepoTags": [name + ":" + tag],
                                        "Layers": layers.map { "blobs/sha256/" + $0.hex }]
            try writeNewFile(store.root + "/manifest.json", OCIJSON.encode([entry]), mode: 0o644)
        }
    }

    /// Moves or writes the layout to `output`.
    static func commit(layout: String, output: String, format: ImageFormat, force: Bool, mtime: Int) throws {
        switch format {
        case .ociLayout: try commitFolder(layout, to: output, force: force)
        case .ociArchive, .dockerArchive: try writeTar(of: layout, to: output, force: force, mtime: mtime)
        }
    }

    private static func commitFolder(_ layout: String, to output: String, force: Bool) throws {
        let target = absolutePath(output)
        if let existing = FileStatus.lstat(target) {
            // Only an image layout is replaced, and only with --force.
            guard force else { throw EnvpackError.outputExists(target) }
            guard existing.kind == .directory, FileStatus.lstat(target + "/oci-layout")?.kind == .regular else {
                throw EnvpackError.invalidOption("-o \(target) exists and is not an OCI image layout (no oci-layout file): not replacing it")
            }
            let aside = layout + ".old"
            guard rename(target, aside) == 0 else { throw EnvpackError.writeFailed(path: target, reason: errnoMessage()) }
            guard rename(layout, target) == 0 else {
                let reason = errnoMessage()
                _ = rename(aside, target)
                throw EnvpackError.writeFailed(path: target, reason: reason)
            }
            try? FileManager.default.removeItem(atPath: aside)
            return
        }
        guard rename(layout, target) == 0 else { throw EnvpackError.writeFailed(path: target, reason: errnoMessage()) }
    }

    private static func writeTar(of layout: String, to output: String, force: Bool, mtime: Int) throws {
        let out = try OutputFile(path: output, force: force)
        let writer = try ArchiveWriter(fd: out.fd, format: .tar, level: nil, threads: 1, displayPath: out.displayPath)
        do {
            let blobs = try FileManager.default.contentsOfDirectory(atPath: layout + "/blobs/sha256").sorted()
            try writer.begin(path: "blobs", kind: .directory, mode: 0o755, mtime: mtime)
            try writer.begin(path: "blobs/sha256", kind: .directory, mode: 0o755, mtime: mtime)
            for blob in blobs { try add(layout + "/blobs/sha256/" + blob, as: "blobs/sha256/" + blob, writer: writer, mtime: mtime) }
            for name in ["index.json", "manifest.json", "oci-layout"] where FileStatus.lstat(layout + "/" + name) != nil {
                try add(layout + "/" + name, as: name, writer: writer, mtime: mtime)
            }
            try writer.finish()
            try out.commit()
        } catch {
            writer.abandon()
            throw error
        }
    }

    private static func add(_ file: String, as name: String, writer: ArchiveWriter, mtime: Int) throws {
        guard let st = FileStatus.lstat(file), st.kind == .regular else {
            throw EnvpackError.unreadable(path: file, reason: "not a regular file")
        }
        try writer.begin(path: name, kind: .file(size: st.size), mode: 0o644, mtime: mtime)
        var written = 0
        _ = try BlobStore.stream(file: file, limit: st.size, what: file) { chunk in
            written += chunk.count
            try writer.write(chunk)
        }
        guard written == st.size else { throw EnvpackError.unreadable(path: file, reason: "changed while being written") }
    }

}
