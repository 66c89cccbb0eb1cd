// `envpack relocate`: the relocation alone, for an environment moved by hand.
import ArgumentParser
import Envpack
import EnvpackRelocation
import Foundation

struct RelocateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "relocate",
        abstract: "Make an environment that was moved by hand run where it is now.",
        discussion: """
        With an envpack manifest (conda-meta/envpack/manifest.tsv, in every environment \
        envpack unpacked) the prefix the files hold is known and --from is not needed. \
        Without one (an environment moved with mv, or unpacked by conda-pack) name the old \
        prefix with --from: envpack reads the environment to find every file that holds \
        it, then writes a manifest so later moves need no --from. Everything is checked \
        before any file changes; an interrupted run is finished by running it again.

        Examples:
          envpack relocate /opt/myenv                       # moved again after an envpack unpack
          envpack relocate /opt/myenv --from /home/me/envs/myenv --dry-run
        """
    )

    @Argument(help: "The environment, where it is now.")
    var prefix: String

    @Option(help: "The prefix its files hold (default: the one in its manifest).")
    var from: String?

    @Flag(help: "Plan and check everything, change nothing.")
    var dryRun = false

    @Flag(name: .shortAndLong, help: "List every relocated file.")
    var verbose = false

    func run() throws {
        let root = absolutePath(prefix)
        // Held until exit: another relocation of the same folder waits.
        let lock = holdRelocationLock(root: root)
        defer { if let lock { close(lock) } }
        var relocator = Relocator(root: root, to: root, fromOverride: from.map(absolutePath))
        if verbose { relocator.log = { print($0) } }
        let manifest: Manifest
        let manifestPath = root + "/" + Manifest.relativePath
        // lstat: a manifest that is a symlink is refused by the loader, not taken as absent.
        if pathExists(manifestPath) {
            manifest = try relocator.loadManifest()
        } else {
            guard let from else {
                throw EnvpackError.invalidOption("\(manifestPath) is missing: name the prefix the files hold with --from OLD")
            }
            manifest = try PrefixScanner.scan(root: root, prefix: absolutePath(from))
        }
        let plan = try relocator.plan(manifest)
        if dryRun {
            for file in plan.files { print("would relocate \(file.file.path) (\(file.edits.count) change(s))") }
            print("dry run: \(plan.files.count) file(s) would be relocated from \(plan.from) to \(root)")
            return
        }
        try relocator.apply(plan)
        FileHandle.standardError.write(Data("relocated \(plan.files.count + plan.alreadyDone.count) files from \(plan.from) to \(root)\n".utf8))
    }
}
