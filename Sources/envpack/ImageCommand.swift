// `envpack image`: a container image of an environment, without a daemon.
import ArgumentParser
import Envpack
import Foundation

struct ImageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Write a container image (OCI layout, OCI archive or docker-archive) of a conda environment.",
        discussion: """
        The environment is packed as `envpack pack --dest-prefix` packs it (every file checked \
        against conda-meta), relocated to --dest-prefix (default /opt/env), and written as \
        image layers. No daemon, no registry, no network: the base image (--base) is read from \
        a local OCI layout, OCI archive or docker-archive, its layers and config reused as they \
        are. Without --base the image holds the environment alone.

        -o DIR writes an OCI image layout (skopeo, umoci, podman: oci:DIR); -o FILE.tar an OCI \
        archive (oci-archive:FILE); --format docker-archive (or -o docker-archive:FILE) a \
        `docker save` tarball that docker load and podman load take.

        The config's PATH puts the environment's bin first, CONDA_PREFIX names it, and the \
        labels io.envpack.prefix and io.envpack.packages name the prefix and the packages. The \
        same environment and base give the same layers and digests.

        Examples:
          envpack image -p /opt/conda/envs/app -o app.tar --base oci-archive:debian.tar --cmd '["python"]'
          envpack image -n app -o docker-archive:app.tar --tag app:1.0 && podman load -i app.tar
          envpack image -p ./env -o layout/ --layers package
        """
    )

    @Option(name: .shortAndLong, help: ArgumentHelp("The name of the environment.", valueName: "name"))
    var name: String?

    @Option(name: .shortAndLong, help: ArgumentHelp("The path of the environment. Default: the active environment ($CONDA_PREFIX).", valueName: "path"))
    var prefix: String?

    @Option(name: .shortAndLong, help: ArgumentHelp("A folder (OCI image layout), FILE.tar (OCI archive) or docker-archive:FILE.", valueName: "path"))
    var output: String

    @Option(help: ArgumentHelp("infer (default: a folder is oci, a .tar file oci-archive), oci, oci-archive or docker-archive.", valueName: "format"))
    var format: String = "infer"

    @Option(name: [.customShort("d"), .customLong("dest-prefix")], help: ArgumentHelp("Where the environment lives in the image.", valueName: "path"))
    var destPrefix: String = "/opt/env"

    @Option(help: ArgumentHelp("The base image: oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker-archive:FILE. Default: none, the environment alone.", valueName: "ref"))
    var base: String?

    @Option(help: ArgumentHelp("The image's name: NAME[:TAG]. Default: the environment's folder name, tag latest.", valueName: "name"))
    var tag: String?

    @Option(name: .customLong("env"), parsing: .singleValue, help: ArgumentHelp("Set an environment variable in the image's config (repeatable).", valueName: "KEY=VALUE"))
    var environment: [String] = []

    @Option(help: ArgumentHelp("The entrypoint: a JSON list (e.g. '[\"python\", \"-m\", \"app\"]') or one program.", valueName: "command"))
    var entrypoint: String?

    @Option(help: ArgumentHelp("The default command: a JSON list or one program.", valueName: "command"))
    var cmd: String?

    @Option(help: ArgumentHelp("one (default): the environment as one layer; package: one layer per conda package (up to 100) plus one for the rest, so images of the same packages share layers.", valueName: "mode"))
    var layers: String = "one"

    @Option(name: [.customShort("j"), .customLong("n-threads")], parsing: .unconditional, help: ArgumentHelp("Compression threads; -1 (default) for all cores.", valueName: "n"))
    var threads: Int = -1

    @Option(parsing: .unconditional, help: ArgumentHelp("gzip level of the layers, 0-9 (default 6).", valueName: "level"))
    var compressLevel: Int = 6

    @Flag(name: .shortAndLong, help: "Replace an existing output (a folder only when it is an OCI image layout).")
    var force = false

    @Flag(name: .shortAndLong, help: "No summary.")
    var quiet = false

    mutating func run() throws {
        let options = try Self.validated { try makeOptions() }
        let summary = try ImageBuilder.build(options)
        for warning in summary.warnings {
            FileHandle.standardError.write(Data("envpack: warning: \(warning)\n".utf8))
        }
        if !quiet {
            let text = "wrote \(summary.format.rawValue) image \(summary.name):\(summary.tag) to \(summary.output): \(summary.packages) packages at \(options.destination) in \(summary.environmentLayers) layer(s) (\(summary.environmentBytes) bytes) on \(summary.baseLayers) base layer(s); manifest \(summary.manifestDigest)\n"
            FileHandle.standardError.write(Data(text.utf8))
        }
    }

    private func makeOptions() throws -> ImageOptions {
        let prefix = try environmentPrefix(name: name, prefix: self.prefix)
        var path = output
        var format: ImageFormat
        if path.hasPrefix("docker-archive:") {
            path.removeFirst("docker-archive:".count)
            format = .dockerArchive
        } else if path.hasPrefix("oci-archive:") {
            path.removeFirst("oci-archive:".count)
            format = .ociArchive
        } else if path.hasPrefix("oci:") {
            path.removeFirst("oci:".count)
            format = .ociLayout
        } else {
            format = path.lowercased().hasSuffix(".tar") ? .ociArchive : .ociLayout
        }
        switch self.format.lowercased() {
        case "infer": break
        case "oci", "oci-dir", "oci-layout": format = .ociLayout
        case "oci-archive": format = .ociArchive
        case "docker-archive", "docker": format = .dockerArchive
        default: throw ValidationError("--format \(self.format): give oci, oci-archive or docker-archive")
        }
        var options = ImageOptions(prefix: prefix, output: path, format: format)
        options.destPrefix = destPrefix
        if let base {
            do { options.base = try ImageReference(base: base) } catch let error as EnvpackError { throw ValidationError(error.description) }
        }
        options.tag = tag
        options.environment = environment
        options.entrypoint = try entrypoint.map { try Self.command($0, option: "--entrypoint") }
        options.cmd = try cmd.map { try Self.command($0, option: "--cmd") }
        switch layers {
        case "one": options.layerPerPackage = false
        case "package": options.layerPerPackage = true
        default: throw ValidationError("--layers \(layers): give one or package")
        }
        options.threads = try threadCount(threads)
        options.compressLevel = compressLevel
        options.force = force
        do { try options.validate() } catch let error as EnvpackError { throw ValidationError(error.description) }
        return options
    }

    /// A JSON list of strings, or one program.
    static func command(_ text: String, option: String) throws -> [String] {
        if text.hasPrefix("[") {
            guard let parsed = try? JSONSerialization.jsonObject(with: Data(text.utf8)), let list = parsed as? [String], !list.isEmpty else {
                throw ValidationError("\(option) \(text): a JSON list of strings, e.g. '[\"python\", \"-c\", \"print(1)\"]'")
            }
            return list
        }
        guard !text.isEmpty else { throw ValidationError("\(option) is empty") }
        return [text]
    }
}
