// The `envpack` command: one subcommand a file, all logic in the library.
import ArgumentParser
import CSupport
import Envpack
import Foundation

@main
struct EnvpackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "envpack",
        abstract: "Pack a conda environment into one archive, and unpack it anywhere.",
        discussion: """
        envpack packs a conda environment (its files, checked against conda-meta) into one \
        compressed archive that carries a small static helper, bin/envpack-unpack. Unpack the \
        archive at any path on another machine (envpack unpack, or tar and the helper) and the \
        environment's prefixes are rewritten so it runs there. envpack install builds an \
        environment from an explicit spec file without conda, offline if need be.

        Examples:
          envpack pack -n myenv -o myenv.tar.zst
          envpack unpack myenv.tar.zst /opt/myenv
          envpack help pack
        """,
        version: envpackVersion,
        subcommands: [PackCommand.self, UnpackCommand.self, RelocateCommand.self, InspectCommand.self, InstallCommand.self, ExportCommand.self, BundleCommand.self, ImageCommand.self]
    )

    /// A mistyped subcommand (`envpack pakc -p X`, `envpack help pakc`) is
    /// named as such, with the nearest subcommand, before ArgumentParser
    /// would blame the first option it does not know. Exit 64, as every
    /// usage error.
    static func main() {
        // ArgumentParser prints its messages through C's stderr, which is
        // unbuffered: one write(2) per character, so a line could be torn
        // apart by other writers to the same log (Spark executors, CI).
        // Line-buffered, each line is one write.
        envpack_line_buffer_stderr()
        let arguments = Array(CommandLine.arguments.dropFirst())
        if let message = SubcommandCheck.problem(arguments, known: configuration.subcommands.compactMap { $0.configuration.commandName }) {
            FileHandle.standardError.write(Data("Error: \(message) (see envpack --help)\n".utf8))
            Foundation.exit(ExitCode.validationFailure.rawValue)
        }
        Self.main(nil)
    }
}

extension ParsableCommand {
    /// What `make` builds from the options; a ValidationError it throws is
    /// printed as one line naming the command's help, as every envpack error
    /// (thrown from run(), ArgumentParser would also print the top command's
    /// usage), and the exit status is 64.
    static func validated<T>(_ make: () throws -> T) throws -> T {
        do { return try make() } catch let error as ValidationError {
            FileHandle.standardError.write(Data("Error: \(error.message) (see envpack help \(configuration.commandName ?? "envpack"))\n".utf8))
            throw ExitCode.validationFailure
        }
    }
}

/// The environment pack and image work on: `-n NAME`, `-p PREFIX`, or the
/// active one (CONDA_PREFIX), as conda-pack chooses it.
func environmentPrefix(name: String?, prefix: String?) throws -> String {
    switch (name, prefix) {
    case (nil, nil):
        guard let active = ProcessInfo.processInfo.environment["CONDA_PREFIX"], !active.isEmpty else {
            throw ValidationError("name the environment with -n NAME or -p PREFIX (no environment is active)")
        }
        return active
    case (let n?, nil):
        if n.contains("/") { throw ValidationError("-n takes an environment's name, and '\(n)' is a path: use -p \(n)") }
        return try EnvironmentLocator.prefix(named: n)
    case (nil, let p?): return p
    case (_?, _?): throw ValidationError("give -n/--name or -p/--prefix, not both")
    }
}

/// `-j/--n-threads`: 1 or more, or -1 for all cores.
func threadCount(_ threads: Int) throws -> Int {
    if threads == 0 || threads < -1 { throw ValidationError("-j/--n-threads must be 1 or more, or -1 for all cores (got \(threads))") }
    return threads == -1 ? ProcessInfo.processInfo.activeProcessorCount : threads
}
