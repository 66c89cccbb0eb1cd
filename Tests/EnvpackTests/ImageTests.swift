// `envpack image`: images of the environment alone and on a Debian minbase
// base (imported by the tests with umoci), checked by the tools that consume
// them: umoci unpack (validates every digest, size and diff_id) + runc run,
// skopeo inspect, podman load/run.
import Foundation
import Testing

@Suite struct ImageTests {
    /// The demo environment alone, one layer per package: its program runs
    /// (on the host's C library) and names /opt/env; the config, labels and
    /// layers are as documented; an OCI archive built again on one thread
    /// has the same manifest digest.
    @Test func environmentAloneRunsAndIsDeterministic() throws {
        let env = try TestSupport.fixtureEnv("demo")
        let work = try TestSupport.temporaryDirectory("image-alone")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let layout = work + "/layout"
        let r = try TestSupport.envpack(["image", "-p", env, "-o", layout, "--layers", "package", "--tag", "demo/env:1.0",
                                         "--env", "GREETING=hi", "--cmd", "[\"/opt/env/bin/greet\"]", "-q"])
        try #require(r.status == 0, "envpack image failed: \(r.stderr)")

        let (digest, manifest, config) = try ImageTools.manifest(layout: layout)
        let layers = try #require(manifest["layers"] as? [[String: Any]])
        // envpack-demo, envpack-legacy, and the rest.
        #expect(layers.count == 3)
        #expect(layers.map { ($0["annotations"] as? [String: String])?["io.envpack.layer"] ?? "" }
                == ["envpack-demo-1.0-h0_envpack", "envpack-legacy-0.9-h0_envpack", "environment"])
        let run = try #require(config["config"] as? [String: Any])
        let envVars = try #require(run["Env"] as? [String])
        #expect(envVars.first { $0.hasPrefix("PATH=") }?.hasPrefix("PATH=/opt/env/bin:") == true)
        #expect(envVars.contains("CONDA_PREFIX=/opt/env"))
        #expect(envVars.contains("GREETING=hi"))
        #expect(run["Cmd"] as? [String] == ["/opt/env/bin/greet"])
        let labels = try #require(run["Labels"] as? [String: String])
        #expect(labels["io.envpack.packages"] == "envpack-demo=1.0=h0_envpack envpack-legacy=0.9=h0_envpack")
        #expect(labels["io.envpack.prefix"] == "/opt/env")
        // Relocated at build time: no helper (8 MB) in the image, but the
        // manifest, so `envpack relocate` can still move a copy of /opt/env.
        let rest = try #require(layers.last?["digest"] as? String)
        let listing = try TestSupport.run("/bin/tar", ["-tzf", layout + "/blobs/sha256/" + rest.dropFirst("sha256:".count)])
        let names = String(decoding: listing.stdout, as: UTF8.self).split(separator: "\n").map(String.init)
        #expect(listing.status == 0 && names.contains("opt/env/conda-meta/envpack/manifest.tsv"), "\(listing.stderr) \(names.prefix(20))")
        #expect(!names.contains("opt/env/bin/envpack-unpack") && !names.contains("opt/env/bin/conda-unpack"), "the image carries the unpack helper")

        try ImageTools.require(["skopeo"])
        let inspect = try TestSupport.run("/usr/bin/skopeo", ["inspect", "oci:\(layout):1.0"])
        try #require(inspect.status == 0, "skopeo inspect failed: \(inspect.stderr)")
        let inspected = try #require(try JSONSerialization.jsonObject(with: inspect.stdout) as? [String: Any])
        #expect((inspected["Layers"] as? [String])?.count == 3)
        #expect(inspected["Digest"] as? String == digest)

        let out = try ImageTools.runc("\(layout):1.0", args: ["/opt/env/bin/greet"], hostUsr: true, in: work)
        let text = String(decoding: out.stdout, as: UTF8.self)
        #expect(out.status == 0, "greet failed in runc: \(out.stderr)")
        #expect(text.contains("prefix: /opt/env\n"), "greet printed: \(text)")
        #expect(text.contains("library: /opt/env/"), "greet printed: \(text)")

        // Deterministic: again, as an OCI archive, on one thread.
        let archive = work + "/again.tar"
        let again = try TestSupport.envpack(["image", "-p", env, "-o", archive, "--layers", "package", "--tag", "demo/env:1.0",
                                             "--env", "GREETING=hi", "--cmd", "[\"/opt/env/bin/greet\"]", "-q", "-j", "1"])
        try #require(again.status == 0, "envpack image failed: \(again.stderr)")
        let unpacked = work + "/again"
        try FileManager.default.createDirectory(atPath: unpacked, withIntermediateDirectories: true)
        try #require(try TestSupport.run("/bin/tar", ["-xf", archive, "-C", unpacked]).status == 0)
        #expect(try ImageTools.manifest(layout: unpacked).digest == digest)
    }

    /// The python environment on the Debian minbase (an oci: base), as a
    /// docker-archive: podman loads and runs it and python names /opt/env;
    /// skopeo reads the archive; the same image, copied by skopeo into an
    /// OCI layout, runs under umoci + runc (always, and as the fallback
    /// when podman cannot run).
    @Test func pythonOnMinbaseRunsInPodmanAndRunc() throws {
        let env = try TestSupport.fixtureEnv("python")
        let base = try ImageTools.minbaseLayout()
        let work = try TestSupport.temporaryDirectory("image-python")
        let podman = try Podman(dir: work)
        defer { podman.cleanup() }
        let archive = work + "/py.tar"
        let r = try TestSupport.envpack(["image", "-p", env, "-o", "docker-archive:" + archive, "--base", "oci:\(base):bookworm",
                                         "--tag", "envpack-test/python:1", "-q"])
        try #require(r.status == 0, "envpack image failed: \(r.stderr)")
        let script = "import sys, os; print(sys.prefix); print(os.environ['CONDA_PREFIX'])"

        let inspect = try TestSupport.run("/usr/bin/skopeo", ["inspect", "docker-archive:" + archive])
        try #require(inspect.status == 0, "skopeo inspect failed: \(inspect.stderr)")
        let inspected = try #require(try JSONSerialization.jsonObject(with: inspect.stdout) as? [String: Any])
        #expect((inspected["Layers"] as? [String])?.count == 2)
        #expect((inspected["Labels"] as? [String: String])?["io.envpack.packages"]?.contains("python=3.12") == true)

        let oci = work + "/oci"
        let copy = try TestSupport.run("/usr/bin/skopeo", ["copy", "docker-archive:" + archive, "oci:\(oci):py"])
        try #require(copy.status == 0, "skopeo copy failed: \(copy.stderr)")
        let out = try ImageTools.runc("\(oci):py", args: ["python3", "-c", script], in: work)
        #expect(out.status == 0, "python failed in runc: \(out.stderr)")
        #expect(String(decoding: out.stdout, as: UTF8.self) == "/opt/env\n/opt/env\n")

        if podman.unavailable == nil {
            let load = try podman.run(["load", "-i", archive])
            try #require(load.status == 0, "podman load failed: \(load.stderr)")
            if let run = try podman.runContainer(["envpack-test/python:1", "python3", "-c", script]) {
                #expect(run.status == 0, "podman run failed: \(run.stderr)")
                #expect(String(decoding: run.stdout, as: UTF8.self) == "/opt/env\n/opt/env\n")
            }
        }
        podman.reportFallback("podman run of an envpack docker-archive")
    }

    /// The demo environment on the minbase given as an OCI archive and as a
    /// docker-archive (made by skopeo): the base's layers are reused byte
    /// for byte, the environment's layer is the same whatever the base, and
    /// the image runs greet under runc and podman (oci-archive: directly).
    @Test func demoOnArchivedBases() throws {
        let env = try TestSupport.fixtureEnv("demo")
        let base = try ImageTools.minbaseLayout()
        let work = try TestSupport.temporaryDirectory("image-bases")
        let podman = try Podman(dir: work)
        defer { podman.cleanup() }
        let ociBase = work + "/base-oci.tar"
        try #require(try TestSupport.run("/bin/tar", ["-cf", ociBase, "-C", base, "."]).status == 0)
        let dockerBase = work + "/base-docker.tar"
        let save = try TestSupport.run("/usr/bin/skopeo", ["copy", "oci:\(base):bookworm", "docker-archive:\(dockerBase):minbase:bookworm"])
        try #require(save.status == 0, "skopeo copy failed: \(save.stderr)")
        let baseLayers = try #require(try ImageTools.manifest(layout: base).manifest["layers"] as? [[String: Any]]).compactMap { $0["digest"] as? String }

        var envLayers: [String] = []
        for (name, ref) in [("a", "oci-archive:\(ociBase):bookworm"), ("b", "docker-archive:\(dockerBase)")] {
            let archive = work + "/\(name).tar"
            let r = try TestSupport.envpack(["image", "-p", env, "-o", archive, "--base", ref, "--tag", "envpack-test/demo:\(name)", "-q"])
            try #require(r.status == 0, "envpack image --base \(ref) failed: \(r.stderr)")
            let layout = work + "/" + name
            try FileManager.default.createDirectory(atPath: layout, withIntermediateDirectories: true)
            try #require(try TestSupport.run("/bin/tar", ["-xf", archive, "-C", layout]).status == 0)
            let (_, manifest, config) = try ImageTools.manifest(layout: layout)
            let layers = try #require(manifest["layers"] as? [[String: Any]]).compactMap { $0["digest"] as? String }
            #expect(layers.count == 2)
            if name == "a" { #expect(Array(layers.prefix(1)) == baseLayers) }
            envLayers.append(layers.last ?? "")
            #expect((config["config"] as? [String: Any])?["Cmd"] as? [String] == ["/bin/sh"], "the base's command is kept")

            let out = try ImageTools.runc("\(layout):\(name)", args: ["/bin/sh", "-c", "greet && test -x /usr/bin/dpkg"], in: work)
            #expect(out.status == 0, "greet failed in runc: \(out.stderr)")
            #expect(String(decoding: out.stdout, as: UTF8.self).contains("prefix: /opt/env\n"))
            if let run = try podman.runContainer(["oci-archive:" + archive, "greet"]) {
                #expect(run.status == 0, "podman run failed: \(run.stderr)")
                #expect(String(decoding: run.stdout, as: UTF8.self).contains("prefix: /opt/env\n"))
            }
        }
        #expect(envLayers[0] == envLayers[1], "the environment's layer depends on nothing but the environment")
        podman.reportFallback("podman run of an envpack oci-archive")
    }
}

@Suite struct ImageOutputTests {
    /// An existing output is refused without --force, a folder that is not
    /// an image layout even with it, an output inside the environment always;
    /// nothing is written in any of these cases.
    @Test func outputsAreNeverClobbered() throws {
        let env = try TestSupport.fixtureEnv("demo")
        let work = try TestSupport.temporaryDirectory("image-outputs")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let file = work + "/image.tar"
        try Data("mine".utf8).write(to: URL(fileURLWithPath: file))
        let r1 = try TestSupport.envpack(["image", "-p", env, "-o", file, "-q"])
        #expect(r1.status != 0 && r1.stderr.contains("exists"), "\(r1.stderr)")
        #expect(try String(contentsOfFile: file, encoding: .utf8) == "mine")

        let folder = work + "/notanimage"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try Data("keep".utf8).write(to: URL(fileURLWithPath: folder + "/keep"))
        let r2 = try TestSupport.envpack(["image", "-p", env, "-o", folder, "-f", "-q"])
        #expect(r2.status != 0 && r2.stderr.contains("not an OCI image layout"), "\(r2.stderr)")
        #expect(FileManager.default.fileExists(atPath: folder + "/keep"))

        let copy = work + "/env"
        try TestSupport.copyTree(env, to: copy)
        let r3 = try TestSupport.envpack(["image", "-p", copy, "-o", copy + "/image.tar", "-q"])
        #expect(r3.status != 0 && r3.stderr.contains("inside the environment"), "\(r3.stderr)")
        #expect(!FileManager.default.fileExists(atPath: copy + "/image.tar"))

        // With --force, a layout is replaced and a file overwritten.
        let r4 = try TestSupport.envpack(["image", "-p", env, "-o", file, "-f", "-q"])
        #expect(r4.status == 0, "\(r4.stderr)")
        let left = try FileManager.default.contentsOfDirectory(atPath: work).filter { $0.hasPrefix(".envpack") }
        #expect(left.isEmpty, "left: \(left)")
    }
}
