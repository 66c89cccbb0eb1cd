// Tools for the image tests: the cached Debian minbase as an OCI image (made
// with umoci from scripts/minbase.sh's root), running an image's command
// with umoci unpack + runc, and podman with its storage and configuration in
// a folder of the test's own (runc, host ulimits, no network), passed to
// the child through CONTAINERS_CONF / CONTAINERS_STORAGE_CONF only.
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

enum ImageTools {
    /// Fails the test when a tool scripts/deps.sh installs is missing.
    static func require(_ tools: [String]) throws {
        for tool in tools {
            let found = ["/usr/bin/", "/usr/sbin/", "/bin/", "/sbin/"].contains { FileManager.default.isExecutableFile(atPath: $0 + tool) }
            try #require(found, "\(tool) is missing: run scripts/deps.sh (it installs podman umoci skopeo runc debootstrap)")
        }
    }

    /// The minbase root as an OCI image layout, tag `bookworm` (whatever the
    /// suite, the tag is fixed), cached beside the root and made once
    /// (flock; built beside and renamed, so a half-made one is never used).
    static func minbaseLayout() throws -> String {
        try require(["umoci", "debootstrap"])
        let script = """
        set -euo pipefail
        root=$(bash scripts/minbase.sh)
        oci="$root-oci"
        if [ ! -f "$oci/index.json" ]; then
          exec 9>"$oci.lock"
          flock 9
          if [ ! -f "$oci/index.json" ]; then
            rm -rf "$oci.part"
            umoci init --layout "$oci.part"
            umoci new --image "$oci.part:bookworm"
            umoci insert --image "$oci.part:bookworm" "$root" /
            umoci config --image "$oci.part:bookworm" --config.cmd /bin/sh \
              --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
            umoci gc --layout "$oci.part"
            mv "$oci.part" "$oci"
          fi
        fi
        echo "$oci"
        """
        let r = try TestSupport.run("/bin/bash", ["-c", "cd '\(TestSupport.packageRoot.path)' && " + script])
        try #require(r.status == 0, "the minbase OCI image could not be made: \(r.stderr)")
        return String(decoding: r.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Unpacks `image` (an oci layout reference, DIR:TAG) with umoci and runs
    /// `args` in it with runc; `hostUsr` lends the host's /usr (read-only)
    /// to an image that has no C library (the environment alone).
    static func runc(_ image: String, args: [String], hostUsr: Bool = false, in work: String,
                     env: [String]? = nil, prepare: (_ rootfs: String) throws -> Void = { _ in }) throws -> TestSupport.Result {
        try require(["umoci", "runc"])
        let bundle = work + "/bundle-" + UUID().uuidString.prefix(8)
        let unpack = try TestSupport.run("/usr/bin/umoci", ["unpack", "--image", image, bundle])
        try #require(unpack.status == 0, "umoci unpack \(image) failed: \(unpack.stderr)")
        defer { try? FileManager.default.removeItem(atPath: bundle) }
        try prepare(bundle + "/rootfs")
        let configPath = bundle + "/config.json"
        let data = try #require(FileManager.default.contents(atPath: configPath))
        var config = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        var process = config["process"] as? [String: Any] ?? [:]
        process["terminal"] = false
        process["args"] = args
        if let extra = env {
            process["env"] = (process["env"] as? [String] ?? []).filter { e in !extra.contains { $0.split(separator: "=").first == e.split(separator: "=").first } } + extra
        }
        config["process"] = process
        if hostUsr {
            var mounts = config["mounts"] as? [[String: Any]] ?? []
            mounts.append(["destination": "/usr", "type": "bind", "source": "/usr", "options": ["rbind", "ro"]])
            config["mounts"] = mounts
            for link in ["lib", "lib64", "bin"] where FileManager.default.fileExists(atPath: "/usr/" + link) {
                try? FileManager.default.createSymbolicLink(atPath: bundle + "/rootfs/" + link, withDestinationPath: "usr/" + link)
            }
        }
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: configPath))
        let id = "envpack-test-" + UUID().uuidString.prefix(8).lowercased()
        return try TestSupport.run("/usr/sbin/runc", ["run", "--bundle", bundle, id])
    }

    /// The sha256 digest of a file.
    static func digest(_ path: String) throws -> String { "sha256:" + (try TestSupport.sha256(path)) }

    /// A JSON file as an object.
    static func json(_ path: String) throws -> [String: Any] {
        let data = try #require(FileManager.default.contents(atPath: path), "\(path) is missing")
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// The manifest and config of the one image in an OCI layout.
    static func manifest(layout: String) throws -> (digest: String, manifest: [String: Any], config: [String: Any]) {
        let index = try json(layout + "/index.json")
        let entry = try #require((index["manifests"] as? [[String: Any]])?.first)
        let digest = try #require(entry["digest"] as? String)
        let manifest = try json(layout + "/blobs/sha256/" + digest.dropFirst(7))
        let configDigest = try #require((manifest["config"] as? [String: Any])?["digest"] as? String)
        let config = try json(layout + "/blobs/sha256/" + configDigest.dropFirst(7))
        return (digest, manifest, config)
    }
}

/// podman with everything under one folder. `unavailable` says why it
/// cannot run containers on this machine (nil when it can).
final class Podman {
    let dir: String
    let environment: [String: String]
    private(set) var unavailable: String? = nil

    init(dir: String) throws {
        try ImageTools.require(["podman", "runc"])
        self.dir = dir
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        let nofile = limit.rlim_max
        getrlimit(6, &limit)  // RLIMIT_NPROC (not imported)
        // runc cannot raise a limit above what the kernel allows here
        // (pid_max caps the processes), nor above the hard limits.
        let pidMax = (try? String(contentsOfFile: "/proc/sys/kernel/pid_max", encoding: .utf8))
            .flatMap { UInt64($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? UInt64(limit.rlim_max)
        let nproc = min(UInt64(limit.rlim_max), pidMax)
        let conf = """
        [containers]
        default_ulimits = ["nofile=\(nofile):\(nofile)", "nproc=\(nproc):\(nproc)"]
        netns = "none"
        [engine]
        runtime = "runc"
        cgroup_manager = "cgroupfs"
        events_logger = "file"
        tmp_dir = "\(dir)/tmp"
        [network]
        network_config_dir = "\(dir)/networks"
        """
        let storage = """
        [storage]
        driver = "overlay"
        runroot = "\(dir)/run"
        graphroot = "\(dir)/storage"
        """
        try conf.write(toFile: dir + "/containers.conf", atomically: true, encoding: .utf8)
        try storage.write(toFile: dir + "/storage.conf", atomically: true, encoding: .utf8)
        var env = ProcessInfo.processInfo.environment
        env["CONTAINERS_CONF"] = dir + "/containers.conf"
        env["CONTAINERS_STORAGE_CONF"] = dir + "/storage.conf"
        environment = env
        let info = try run(["info"])
        if info.status != 0 { unavailable = "podman info failed: " + info.stderr.trimmingCharacters(in: .whitespacesAndNewlines) }
    }

    @discardableResult
    func run(_ args: [String]) throws -> TestSupport.Result {
        try TestSupport.run("/usr/bin/podman", args, environment: environment)
    }

    /// Runs a container; the first failure to start one marks podman
    /// unavailable, with podman's words.
    func runContainer(_ args: [String]) throws -> TestSupport.Result? {
        if unavailable != nil { return nil }
        let r = try run(["run", "--rm"] + args)
        if r.status != 0 && (r.stderr.contains("OCI runtime") || r.stderr.contains("runc") || r.stderr.contains("cgroup")) {
            unavailable = "podman cannot start containers here: " + r.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
            return nil
        }
        return r
    }

    /// Records (visibly, as a known issue) that podman could not be used
    /// and the check fell back to umoci + runc.
    func reportFallback(_ what: String) {
        guard let unavailable else { return }
        withKnownIssue("\(what): checked with umoci unpack + runc instead of podman, because \(unavailable)") {
            Issue.record("podman unavailable")
        }
    }

    /// Removes the images and the folder (no container is left: all ran with --rm).
    func cleanup() {
        _ = try? run(["rmi", "--all", "--force"])
        if let mounts = try? String(contentsOfFile: "/proc/mounts", encoding: .utf8) {
            for line in mounts.split(separator: "\n") {
                let fields = line.split(separator: " ")
                if fields.count > 1, fields[1].hasPrefix(dir) { _ = try? TestSupport.run("/bin/umount", ["-l", String(fields[1])]) }
            }
        }
        try? FileManager.default.removeItem(atPath: dir)
    }
}
