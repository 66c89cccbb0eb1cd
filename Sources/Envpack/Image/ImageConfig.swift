// The image's config: the base's, every field kept, with the environment's
// layers appended to rootfs.diff_ids and history, PATH with the
// environment's bin first, CONDA_PREFIX, the user's --env, --entrypoint and
// --cmd, and labels naming the prefix and the packages. Times come from the
// environment (conda-meta/history), never the clock, so the same inputs
// give the same config.
import Foundation

struct ImageConfig {
    static let defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    static func make(base: [String: Any]?, diffIDs: [String], layerNames: [String], options: ImageOptions,
                     packages: [String], created: Int) -> [String: Any] {
        var config = base ?? ["architecture": HostPlatform.architecture, "os": "linux"]
        let timestamp = iso8601(created)
        config["created"] = timestamp
        var run = (config["config"] as? [String: Any]) ?? [:]

        var env = (run["Env"] as? [String]) ?? []
        func set(_ key: String, _ value: String) {
            if let i = env.firstIndex(where: { $0.hasPrefix(key + "=") }) { env[i] = key + "=" + value } else { env.append(key + "=" + value) }
        }
        let basePath = env.first(where: { $0.hasPrefix("PATH=") }).map { String($0.dropFirst(5)) } ?? defaultPath
        let bin = options.destination + "/bin"
        set("PATH", bin + (basePath.isEmpty ? "" : ":" + basePath))
        set("CONDA_PREFIX", options.destination)
        for kv in options.environment {
            let eq = kv.firstIndex(of: "=")!
            set(String(kv[..<eq]), String(kv[kv.index(after: eq)...]))
        }
        run["Env"] = env
        if let entrypoint = options.entrypoint {
            run["Entrypoint"] = entrypoint
            // As in a Dockerfile, a new entrypoint drops the base's command.
            if options.cmd == nil { run.removeValue(forKey: "Cmd") }
        }
        if let cmd = options.cmd { run["Cmd"] = cmd }
        var labels = (run["Labels"] as? [String: Any]) ?? [:]
        labels["io.envpack.prefix"] = options.destination
        labels["io.envpack.packages"] = packages.joined(separator: " ")
        run["Labels"] = labels
        config["config"] = run

        var rootfs = (config["rootfs"] as? [String: Any]) ?? ["type": "layers"]
        rootfs["type"] = "layers"
        rootfs["diff_ids"] = ((rootfs["diff_ids"] as? [String]) ?? []) + diffIDs
        config["rootfs"] = rootfs

        // History lines up with the layers; a base without history keeps none.
        if base == nil || config["history"] != nil {
            var history = (config["history"] as? [Any]) ?? []
            for name in layerNames {
                history.append(["created": timestamp, "created_by": "envpack image (\(name))",
                                "comment": "conda environment at \(options.destination)"])
            }
            config["history"] = history
        }
        return config
    }

    static func iso8601(_ seconds: Int) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
    }
}
