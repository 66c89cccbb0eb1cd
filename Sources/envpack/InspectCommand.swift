// `envpack inspect`: a summary of an archive's manifest.
import ArgumentParser
import Envpack
import Foundation

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Summarise an envpack archive: packages, prefix-bearing files, limits.",
        discussion: """
        Reads the archive once (from a file, or standard input with -) and prints the \
        packages it holds, its prefix-bearing files by kind, and the longest destination \
        prefix its binary files allow (occurrences that relocation rewrites in place with \
        NUL padding; RPATH entries and data the loader never maps do not count).

        Examples:
          envpack inspect myenv.tar.zst
          envpack inspect -v myenv.tar.zst | less
          envpack inspect --json myenv.tar.zst | jq .longest_prefix
        """
    )

    @Argument(help: "The archive, or - for standard input.")
    var archive: String

    @Flag(name: .shortAndLong, help: "List every package and prefix-bearing file.")
    var verbose = false

    @Flag(help: "Print the summary as JSON on standard output (format: docs/json.md), for scripts.")
    var json = false

    func run() throws {
        let r = try ArchiveInspector.inspect(path: archive)
        if json {
            print(JSONReport.inspect(r, archive: archive))
            return
        }
        let m = r.manifest
        var out = """
        archive:          \(archive)
        entries:          \(r.entries) (\(r.files) files, \(formatBytes(r.regularBytes)) of file data)
        arcroot:          \(r.arcroot.isEmpty ? "(none)" : r.arcroot)
        packed from:      \(m.prefix)
        unpack helper:    \(r.hasHelper ? "bin/envpack-unpack" : "MISSING")
        packages:         \(m.packages.count)
        prefix files:     \(m.files.count): \(r.textFiles) text (\(r.shebangScripts) shebang scripts), \(r.binaryFiles) binary; \(r.elfFiles) ELF, \(r.rpathFiles) with RPATH/RUNPATH into the prefix; \(r.unmanagedFiles) not managed by conda
        longest prefix:   \(m.longestAllowedPrefix.map { "\($0) bytes (binary files limit a destination to this)" } ?? "no limit (no binary file holds the prefix in loaded data)")

        """
        let limiting = m.limitingFiles
        if !limiting.isEmpty {
            out += "  set by:         \(limiting.prefix(verbose ? limiting.count : 5).joined(separator: ", "))\(limiting.count > 5 && !verbose ? " and \(limiting.count - 5) more (-v lists all)" : "")\n"
        }
        let notLoaded = m.notLoadedFiles
        if !notLoaded.isEmpty {
            out += "not loaded:       \(notLoaded.count) file(s) hold the prefix where it is not loaded at run time: rewritten where the new prefix fits, else left (not loaded at run time): \(notLoaded.prefix(verbose ? notLoaded.count : 5).joined(separator: ", "))\(notLoaded.count > 5 && !verbose ? " and \(notLoaded.count - 5) more" : "")\n"
        }
        // What runs where the archive is extracted (Spark, YARN: no unpack
        // step), and what needs the helper first.
        let portable = m.portableScripts, elf = m.portableELFFiles, needs = m.needsHelper
        out += "runs as extracted: \(portable.count) script(s) with a #! line that works at any path, \(elf.count) ELF file(s) with $ORIGIN-relative RPATH/RUNPATH, and every file that holds no prefix\n"
        if needs.isEmpty {
            out += "needs the helper: nothing (no file holds the prefix where it is used at run time)\n"
        } else {
            out += "needs the helper: \(needs.count) file(s) hold \(m.prefix) and are right only there until bin/envpack-unpack (or envpack unpack) has run: \(needs.prefix(verbose ? needs.count : 5).joined(separator: ", "))\(needs.count > 5 && !verbose ? " and \(needs.count - 5) more (-v lists all)" : "")\n"
        }
        if verbose {
            out += "\npackages:\n"
            for p in m.packages { out += "  \(p.name) \(p.version) \(p.build) \(p.channel)\n" }
            out += "\nprefix-bearing files:\n"
            for f in m.files {
                var kind = f.mode.rawValue
                if f.isShebang { kind += ",shebang" }
                if f.isELF { kind += ",elf" }
                if !f.isManaged { kind += ",unmanaged" }
                if let original = f.originalShebang, !f.isShebang { kind += ",#!-launcher(was \(original))" }
                out += "  \(f.path) [\(kind)] \(f.offsets.count) occurrence(s)"
                if !f.rpaths.isEmpty { out += "; " + f.rpaths.map { "\($0.tag.rawValue)=\($0.value)" }.joined(separator: " ") }
                out += "\n"
            }
        }
        print(out, terminator: "")
    }
}
