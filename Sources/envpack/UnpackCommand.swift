// `envpack unpack`: secure extraction, then relocation, in one step.
import ArgumentParser
import Envpack
import Foundation

struct UnpackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unpack",
        abstract: "Extract an envpack (or conda-pack) archive and relocate it to its new path.",
        discussion: """
        The archive (a file, or - for standard input) is extracted into a staging folder \
        beside DEST, refusing entries with absolute paths or .., writes through symlinks, \
        hardlinks that leave the destination and device nodes. The environment is then \
        relocated to DEST (text and binary prefixes, shebang lines, ELF RPATH/RUNPATH) and \
        only then renamed to DEST. On any failure nothing is left at DEST. An archive packed \
        with --arcroot NAME lands in DEST/NAME, as with tar. Missing folders above DEST are \
        created (and removed again if the unpack fails). A conda-pack archive (one with \
        bin/conda-unpack) is relocated from the records conda-unpack carries, read as data and \
        never run, plus a scan of its files: binary files and #! lines are fixed too (conda-pack's \
        #!/usr/bin/env lines point back at the environment's own programs).

        Examples:
          envpack unpack myenv.tar.zst /opt/myenv
          ssh host envpack pack -n myenv -o - | envpack unpack - ~/envs/myenv
        """
    )

    @Argument(help: "The archive, or - for standard input.")
    var archive: String

    @Argument(help: "Where the environment goes. Must not exist, or be empty (or an environment, with --force). Missing parent folders are created.")
    var destination: String

    @Flag(help: "Replace DEST when it is a conda environment (a folder with conda-meta/); anything else is refused. The two are exchanged only once the new environment is complete.")
    var force = false

    @Flag(help: "Restore the owners recorded in the archive (default: the current user owns everything).")
    var sameOwner = false

    @Flag(name: .shortAndLong, help: "List every relocated file.")
    var verbose = false

    @Flag(name: .shortAndLong, help: "No progress display and no summary.")
    var quiet = false

    func run() throws {
        var options = UnpackOptions(archive: archive, destination: destination)
        options.force = force
        options.sameOwner = sameOwner
        options.quiet = quiet
        options.verbose = verbose
        // `mkdir -p` of DEST's parents, as conda-pack users expect; only what
        // is missing, and undone if the unpack fails.
        options.progress = TerminalProgress.standardError()
        let folders = MissingFolders()
        try folders.create((absolutePath(destination) as NSString).deletingLastPathComponent)
        let summary: UnpackSummary
        do {
            summary = try Unpacker.unpack(options) { print($0) }
        } catch {
            folders.removeCreated()
            throw error
        }
        if !quiet {
            let kind = summary.fromCondaPack ? " (a conda-pack archive)" : ""
            FileHandle.standardError.write(Data("unpacked \(summary.entries) entries (\(formatBytes(summary.fileBytes)) of file data)\(kind) to \(summary.environment); relocated \(summary.relocatedFiles) files from \(summary.from)\n".utf8))
        }
    }
}
