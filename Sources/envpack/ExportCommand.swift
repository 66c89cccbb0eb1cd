// `envpack export` and `envpack bundle`: from an environment back to a spec or lock file.
import ArgumentParser
import Envpack
import Foundation

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write an environment's explicit spec or conda-lock file (with sha256) from its records.",
        discussion: """
        The output installs the same packages again with envpack install (conda create --file \
        takes the explicit spec, conda-lock install the conda-lock file). Every conda package is \
        written from its conda-meta record. PyPI distributions in site-packages are written as \
        wheels (# pip NAME @ URL#sha256=HASH lines, or manager: pip entries) when their \
        direct_url.json names a wheel with its sha256 (envpack install and pip install URL \
        write one), or when the wheel file is still in a package cache (--pkgs-dir) with the \
        same METADATA. The others (installed from an index with no wheel kept, from a folder, \
        version control or an sdist) cannot be locked: each is named on standard error and in \
        a comment at the top of the output.

        Examples:
          envpack export -p /opt/myenv -o spec.txt
          envpack export -p /opt/myenv --format conda-lock -o conda-lock.yml
        """
    )

    @Option(help: "explicit (conda's explicit spec, with # pip lines) or conda-lock (a conda-lock.yml, version 1).")
    var format = "explicit"

    @Option(help: "Package cache(s) where wheels of pip-installed packages may be (default: $CONDA_PKGS_DIRS, ~/.cache/envpack/pkgs).")
    var pkgsDir: [String] = []

    @Option(name: .shortAndLong, help: "The environment.")
    var prefix: String

    @Option(name: .shortAndLong, help: "Output file (default: standard output); an existing file needs --force.")
    var output: String?

    @Flag(name: .shortAndLong, help: "Replace the output file if it exists (a regular file only).")
    var force = false

    func validate() throws {
        guard Exporter.Format(rawValue: format) != nil else { throw ValidationError("--format must be explicit or conda-lock, not \(format)") }
    }

    func run() throws {
        let dirs = pkgsDir.isEmpty ? [PackageCache.defaultDirectory()] : pkgsDir
        let (text, leftOut) = try Exporter.export(prefix: prefix, format: Exporter.Format(rawValue: format)!, pkgsDirs: dirs)
        for note in leftOut {
            FileHandle.standardError.write(Data("warning: not exported (PyPI, cannot be locked): \(note)\n".utf8))
        }
        if let output {
            try Exporter.writeOutput(text, to: output, force: force)
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
        cache, or a file:// URL, and are verified against the records. PyPI distributions \
        that envpack export can lock go in as their wheel files (wheels/, from the file:// \
        URL of their direct_url.json or a package cache, verified against its sha256); the \
        others are named on standard error, in spec.txt and in README.txt. On an air-gapped \
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
        let bundled = try Exporter.bundle(prefix: prefix, into: output, pkgsDirs: dirs)
        for note in bundled.leftOut {
            FileHandle.standardError.write(Data("warning: not bundled (PyPI, cannot be locked): \(note)\n".utf8))
        }
        let wheels = bundled.wheels > 0 ? " and \(bundled.wheels) PyPI wheels" : ""
        FileHandle.standardError.write(Data("bundled \(bundled.packages) packages\(wheels) into \(output)\n".utf8))
    }
}
