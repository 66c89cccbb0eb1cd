// `-n NAME`: finding an environment by name the way conda does, without
// needing conda. conda's own answer (`conda info --json`) is asked when
// CONDA_EXE names a conda, or else when `conda` is on PATH (a base install
// whose shell was never `conda init`-ed); `~/.conda/environments.txt` and
// the usual envs folders are searched too.
import Foundation

public enum EnvironmentLocator {
    public static func prefix(named name: String) throws -> String {
        let candidates = knownEnvironments()
        for prefix in candidates where isEnvironment(prefix) {
            let base = (prefix as NSString).lastPathComponent
            if base == name { return prefix }
            // "base" is the root install, which has an envs/ folder of its own.
            if name == "base", statFollowing(prefix + "/envs")?.kind == .directory,
               statFollowing(prefix + "/condabin")?.kind == .directory || statFollowing(prefix + "/bin/conda")?.kind == .regular {
                return prefix
            }
        }
        throw EnvpackError.environmentNotFound(name: name, searched: searchedPlaces())
    }

    static func isEnvironment(_ prefix: String) -> Bool {
        statFollowing(prefix + "/conda-meta")?.kind == .directory
    }

    static var home: String { ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory() }

    static func envsDirectories() -> [String] {
        let env = ProcessInfo.processInfo.environment
        var dirs = (env["CONDA_ENVS_PATH"] ?? env["CONDA_ENVS_DIRS"] ?? "").split(separator: ":").map(String.init)
        for root in [env["CONDA_ROOT"], env["MAMBA_ROOT_PREFIX"]].compactMap({ $0 }) { dirs.append(root + "/envs") }
        for root in ["miniforge3", "mambaforge", "miniconda3", "anaconda3", "micromamba", ".conda"] {
            dirs.append(home + "/" + root + "/envs")
        }
        dirs += ["/opt/conda/envs", "/opt/miniconda3/envs", "/opt/miniforge3/envs"]
        return dirs
    }

    static func searchedPlaces() -> [String] {
        var places: [String] = []
        if let exe = condaExecutable() { places.append("\(exe) info --json") }
        places.append(home + "/.conda/environments.txt")
        return places + envsDirectories()
    }

    static func knownEnvironments() -> [String] {
        var prefixes: [String] = condaInfoEnvironments()
        if let text = try? String(contentsOfFile: home + "/.conda/environments.txt", encoding: .utf8) {
            prefixes += text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        for dir in envsDirectories() {
            if let names = try? directoryEntries(dir) { prefixes += names.sorted().map { dir + "/" + $0 } }
            prefixes.append((dir as NSString).deletingLastPathComponent)
        }
        return prefixes
    }

    /// The conda to ask: $CONDA_EXE, else the first `conda` on PATH.
    static func condaExecutable() -> String? {
        let env = ProcessInfo.processInfo.environment
        if let exe = env["CONDA_EXE"], !exe.isEmpty {
            return FileManager.default.isExecutableFile(atPath: exe) ? exe : nil
        }
        for dir in (env["PATH"] ?? "").split(separator: ":") where dir.hasPrefix("/") {
            let candidate = String(dir) + "/conda"
            if statFollowing(candidate)?.kind == .regular, FileManager.default.isExecutableFile(atPath: candidate) {
                return candidate
            }
        }
        return nil
    }

    /// The environments conda itself knows, when there is a conda to ask.
    static func condaInfoEnvironments() -> [String] {
        guard let exe = condaExecutable() else { return [] }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: exe)
        process.arguments = ["info", "--json"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        guard (try? process.runUnblocked()) != nil else { return [] }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [] }
        return (json["envs"] as? [String]) ?? []
    }
}
