// The project's docker/ examples, built for real: docker/Dockerfile (an
// archive packed with --dest-prefix, ADDed onto debian:bookworm-slim) and
// docker/Dockerfile.image (an `envpack image` stage copied onto it), both
// unmodified, built and run by podman with the Debian minbase imported as
// debian:bookworm-slim. When podman cannot run here, the same result is
// checked with umoci + runc and the test says so (a known issue, never a
// silent pass).
import Foundation
import Testing

@Suite struct DockerExampleTests {
    @Test func dockerfilesBuildAndRunWithPodman() throws {
        let python = try TestSupport.fixtureEnv("python")
        let demo = try TestSupport.fixtureEnv("demo")
        let base = try ImageTools.minbaseLayout()
        let work = try TestSupport.temporaryDirectory("docker-example")
        let podman = try Podman(dir: work)
        defer { podman.cleanup() }
        let docker = TestSupport.packageRoot.path + "/docker"
        let script = "import sys, os; print(sys.prefix); print(os.environ['CONDA_PREFIX'])"

        // docker/Dockerfile: the context holds env.tar.gz, as its comment says.
        let context = work + "/context"
        try FileManager.default.createDirectory(atPath: context, withIntermediateDirectories: true)
        let packed = try TestSupport.envpack(["pack", "-p", python, "--dest-prefix", "/opt/env", "-o", context + "/env.tar.gz", "-q"])
        try #require(packed.status == 0, "pack failed: \(packed.stderr)")
        // docker/Dockerfile.image: a loaded environment image.
        let envImage = work + "/env-image.tar"
        let imaged = try TestSupport.envpack(["image", "-p", demo, "-o", "docker-archive:" + envImage, "--tag", "envpack-env:latest", "-q"])
        try #require(imaged.status == 0, "envpack image failed: \(imaged.stderr)")

        if podman.unavailable == nil {
            let pull = try podman.run(["pull", "oci:\(base):bookworm"])
            try #require(pull.status == 0, "podman pull of the minbase failed: \(pull.stderr)")
            let id = String(decoding: pull.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").last.map(String.init) ?? ""
            try #require(try podman.run(["tag", id, "docker.io/library/debian:bookworm-slim"]).status == 0)
            let b1 = try podman.run(["build", "--network", "none", "--pull=never", "-f", docker + "/Dockerfile", "-t", "envpack-example:1", context])
            try #require(b1.status == 0, "podman build docker/Dockerfile failed: \(b1.stderr)")
            let load = try podman.run(["load", "-i", envImage])
            try #require(load.status == 0, "podman load failed: \(load.stderr)")
            let b2 = try podman.run(["build", "--network", "none", "--pull=never", "-f", docker + "/Dockerfile.image", "-t", "envpack-example:2", docker])
            try #require(b2.status == 0, "podman build docker/Dockerfile.image failed: \(b2.stderr)")
            if let r = try podman.runContainer(["envpack-example:1", "python3", "-c", script]) {
                #expect(r.status == 0, "python failed in envpack-example:1: \(r.stderr)")
                #expect(String(decoding: r.stdout, as: UTF8.self) == "/opt/env\n/opt/env\n")
            }
            if let r = try podman.runContainer(["envpack-example:2", "greet"]) {
                #expect(r.status == 0, "greet failed in envpack-example:2: \(r.stderr)")
                #expect(String(decoding: r.stdout, as: UTF8.self).contains("prefix: /opt/env\n"))
            }
        }
        guard podman.unavailable != nil else { return }
        // Fallback: what the Dockerfiles do, done by hand on the unpacked
        // minbase, run with runc.
        let env = ["PATH=/opt/env/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "CONDA_PREFIX=/opt/env"]
        let r1 = try ImageTools.runc("\(base):bookworm", args: ["python3", "-c", script], in: work, env: env) { rootfs in
            try FileManager.default.createDirectory(atPath: rootfs + "/opt/env", withIntermediateDirectories: true)
            try #require(try TestSupport.run("/bin/tar", ["-xzf", context + "/env.tar.gz", "-C", rootfs + "/opt/env"]).status == 0)
        }
        #expect(r1.status == 0 && String(decoding: r1.stdout, as: UTF8.self) == "/opt/env\n/opt/env\n", "runc: \(r1.stderr)")
        podman.reportFallback("docker/Dockerfile and docker/Dockerfile.image")
    }
}
