// A base image is hostile input: `envpack image --base` must refuse a
// tampered blob, a digest that is really a path, a blob that is a symlink
// (even one whose content matches), mismatched diff_ids (compressed layers
// are decompressed to check them), a truncated layer, an oversized
// index, and archives whose names or links leave their folder; each with a
// one-line error, a non-zero exit, no output and no staging folder left.
// The bases are built here by python (tarfile), one per case.
import Foundation
import Testing

@Suite struct ImageBaseSafetyTests {
    /// Writes a tiny base image (one gzip layer holding etc/base-file) as an
    /// OCI layout at argv[2], spoiled as argv[1] says; argv[3] is a folder
    /// outside it for files a spoiled base points at.
    static let maker = #"""
    import gzip, hashlib, io, json, os, sys, tarfile
    mode, root, outside = sys.argv[1], sys.argv[2], sys.argv[3]
    os.makedirs(root + "/blobs/sha256")
    def blob(data):
        h = hashlib.sha256(data).hexdigest()
        open(root + "/blobs/sha256/" + h, "wb").write(data)
        return "sha256:" + h
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        info = tarfile.TarInfo("etc/base-file"); data = b"from the base\n"; info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    layer_tar = raw.getvalue()
    layer = gzip.compress(layer_tar, mtime=0)
    if mode == "truncated-layer": layer = layer[:-12]   # named by the digest of what is left
    layer_digest = blob(layer)
    diff_ids = ["sha256:" + hashlib.sha256(layer_tar).hexdigest()]
    if mode == "diffid-count": diff_ids.append(diff_ids[0])
    if mode in ("diffid-wrong", "docker-diffid-wrong"):
        diff_ids = ["sha256:" + hashlib.sha256(layer_tar + b"\0").hexdigest()]
    config = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
              "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    cbytes = json.dumps(config).encode()
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": blob(cbytes), "size": len(cbytes)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": len(layer)}]}
    mbytes = json.dumps(manifest).encode()
    mdigest = blob(mbytes)
    if mode == "digest-path": mdigest = "sha256:../../../../../../etc/passwd"
    index = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
             "digest": mdigest, "size": len(mbytes), "annotations": {"org.opencontainers.image.ref.name": "t"}}]}
    text = json.dumps(index)
    if mode == "huge-index": text += " " * (5 << 20)
    open(root + "/index.json", "w").write(text)
    open(root + "/oci-layout", "w").write('{"imageLayoutVersion": "1.0.0"}')
    path = root + "/blobs/sha256/" + layer_digest[7:]
    if mode == "tampered-layer":
        b = bytearray(open(path, "rb").read()); b[len(b) // 2] ^= 0xff; open(path, "wb").write(bytes(b))
    if mode == "symlink-blob":
        # Same bytes, but outside the layout, reached through a symlink.
        open(outside + "/layer", "wb").write(layer)
        os.unlink(path); os.symlink(outside + "/layer", path)
    def archive(name, extra):
        with tarfile.open(root + "/../" + name, "w") as t:
            for entry in sorted(os.listdir(root)): t.add(root + "/" + entry, entry)
            for info, data in extra: t.addfile(info, io.BytesIO(data) if data is not None else None)
    if mode == "archive-escape":
        info = tarfile.TarInfo("../escaped"); info.size = 3
        archive("base.tar", [(info, b"bad")])
    if mode == "archive-symlink-out":
        info = tarfile.TarInfo("blobs/sha256/" + "0" * 64); info.type = tarfile.SYMTYPE; info.linkname = "/etc/passwd"
        archive("base.tar", [(info, None)])
    if mode in ("docker-escape", "docker-symlink-out", "docker-diffid-wrong"):
        with tarfile.open(root + "/../base.tar", "w") as t:
            def add(name, data):
                info = tarfile.TarInfo(name); info.size = len(data); t.addfile(info, io.BytesIO(data))
            add("config.json", cbytes)
            layers = ["../../../../etc/passwd"] if mode == "docker-escape" else ["layer/layer.tar"]
            if mode == "docker-diffid-wrong": add("layer/layer.tar", layer)   # gzip, as some tools save it
            if mode == "docker-symlink-out":
                info = tarfile.TarInfo("layer/layer.tar"); info.type = tarfile.SYMTYPE; info.linkname = "../../../../etc/passwd"
                t.addfile(info)
            add("manifest.json", json.dumps([{"Config": "config.json", "RepoTags": ["x:y"], "Layers": layers}]).encode())
    """#

    /// Builds the base for `mode` and runs envpack image on it; returns the
    /// result, the output path and the work folder.
    func attempt(_ mode: String, reference: (String) -> String) throws -> (TestSupport.Result, String, String) {
        let env = try TestSupport.fixtureEnv("demo")
        let work = try TestSupport.temporaryDirectory("image-base-\(mode)")
        let outside = work + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        let made = try TestSupport.run("/usr/bin/python3", ["-c", Self.maker, mode, work + "/base", outside])
        try #require(made.status == 0, "making the base failed: \(made.stderr)")
        let output = work + "/out/image.tar"
        try FileManager.default.createDirectory(atPath: work + "/out", withIntermediateDirectories: true)
        let r = try TestSupport.envpack(["image", "-p", env, "-o", output, "--base", reference(work), "-q"])
        return (r, output, work)
    }

    @Test func validBaseIsUsed() throws {
        let (r, output, work) = try attempt("ok") { "oci:\($0)/base:t" }
        defer { try? FileManager.default.removeItem(atPath: work) }
        #expect(r.status == 0, "envpack image failed: \(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: output))
    }

    @Test(arguments: [
        ("tampered-layer", "oci", "does not match its digest"),
        ("digest-path", "oci", "is not sha256:<64 lowercase hex digits>"),
        ("symlink-blob", "oci", "symbolic link"),
        ("diffid-count", "oci", "2 diff_ids for 1 layers"),
        ("diffid-wrong", "oci", "where the config's diff_id says"),
        ("docker-diffid-wrong", "docker-archive", "where the config's diff_id says"),
        ("truncated-layer", "oci", "the layer cannot be decompressed: archive is truncated"),
        ("huge-index", "oci", "too large"),
        ("archive-escape", "oci-archive", "refusing entry"),
        ("archive-symlink-out", "oci-archive", "points outside the archive"),
        ("docker-escape", "docker-archive", "not a plain relative name"),
        ("docker-symlink-out", "docker-archive", "points outside the archive"),
    ])
    func hostileBaseIsRefused(mode: String, transport: String, message: String) throws {
        let (r, output, work) = try attempt(mode) { work in
            switch transport {
            case "oci": return "oci:\(work)/base:t"
            case "oci-archive": return "oci-archive:\(work)/base.tar:t"
            default: return "docker-archive:\(work)/base.tar"
            }
        }
        defer { try? FileManager.default.removeItem(atPath: work) }
        #expect(r.status != 0, "a \(mode) base was accepted")
        #expect(r.stderr.contains(message), "\(mode): \(r.stderr)")
        #expect(r.stderr.hasPrefix("Error: ") && r.stderr.split(separator: "\n").count == 1, "\(mode): \(r.stderr)")
        #expect(!r.stderr.contains("NSCocoaErrorDomain"))
        #expect(!FileManager.default.fileExists(atPath: output), "\(mode): an output was left")
        let left = (try? FileManager.default.contentsOfDirectory(atPath: work + "/out")) ?? []
        #expect(left.isEmpty, "\(mode): left in the output folder: \(left)")
        #expect(!FileManager.default.fileExists(atPath: work + "/escaped") && !FileManager.default.fileExists(atPath: work + "/out/escaped"))
    }
}
