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
        archive at any path on another machine and the helper rewrites the environment's \
        prefixes so it runs there.
        """,
        version: envpackVersion,
        subcommands: [PackCommand.self, UnpackCommand.self, RelocateCommand.self, InspectCommand.self, InstallCommand.self, ExportCommand.self, BundleCommand.self]
    )
}
