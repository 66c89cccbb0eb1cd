// `envpack export` and `envpack bundle`: from an environment back to a spec.
import ArgumentParser
import Envpack
import Foundation

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write an environment's explicit spec (with sha256) from its conda-meta records.",
        discussion: """
        The spec installs the same packages again with envpack install or conda create --file.

        Example:
          envpack export -p /opt/myenv -o spec.txt
        """
    )

    @Option(name: .shortAndLong, help: "The environment.")
    var prefix: String

    @Option(name: .shortAndLong, help: "Output file (default: standard output).")
    var output: String?

    func run() throws {
        let text = try Exporter.explicitSpec(prefix: prefix)
        if let output {
            try text.write(toFile: output, atomically: true, encoding: .utf8)
        } else {
            print(text, terminator: "")
        }
    }
}

struct BundleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bundle",
        abstract: "Write an offline bundle: the package files and a spec that names them by relative path.",
        discussion: """
        The package files come from each record's package_tarball_full_path, the package \
        cache, or a file:// URL, and are verified against the records. On an air-gapped \
        machine: envpack install --offline --file BUNDLE/spec.txt -p /opt/env.

        Example:
          envpack bundle -p /opt/myenv -o myenv-bundle
        """
    )

    @Option(name: .shortAndLong, help: "The environment.")
    var prefix: String

    @Option(name: .shortAndLong, help: "The bundle folder to create.")
    var output: String

    @Option(help: "Package cache(s) to take package files from (default: $CONDA_PKGS_DIRS, ~/.cache/envpack/pkgs).")
    var pkgsDir: [String] = []

    func run() throws {
        let dirs = pkgsDir.isEmpty ? [PackageCache.defaultDirectory()] : pkgsDir
        let count = try Exporter.bundle(prefix: prefix, into: output, pkgsDirs: dirs)
        FileHandle.standardError.write(Data("bundled \(count) packages into \(output)\n".utf8))
    }
}
