// The `envpack` command: one subcommand a file, all logic in the library.
import ArgumentParser
import Envpack

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
        """,
        version: envpackVersion,
        subcommands: [PackCommand.self, UnpackCommand.self, RelocateCommand.self, InspectCommand.self, InstallCommand.self, ExportCommand.self, BundleCommand.self]
    )
}
