// `pack --json` and `inspect --json`: the summaries as one JSON object on
// standard output, for scripts. Both use the same keys for the same facts,
// counted the same way, so a script can compare what pack wrote with what
// inspect reads back. The format is documented in docs/json.md.
import Envpack
import EnvpackRelocation

enum JSONReport {
    /// Version of the format: bumped when a key changes meaning or goes away.
    static let formatVersion = 1

    static func pack(_ summary: PackSummary, options: PackOptions) -> String {
        var object = common(summary.manifest, entries: summary.entries, fileBytes: summary.fileBytes,
                            arcroot: options.arcroot.split(separator: "/").joined(separator: "/"))
        object["command"] = .string("pack")
        object["output"] = .string(summary.output)
        object["format"] = .string(options.layout == .archive ? options.format.rawValue : options.layout.rawValue)
        object["helper"] = .bool(true)
        object["warnings"] = .array((summary.warnings + PackReport.limitWarnings(summary.manifest)).map { .string($0) })
        return JSONValue.object(object).text()
    }

    static func inspect(_ report: ArchiveReport, archive: String) -> String {
        var object = common(report.manifest, entries: report.entries, fileBytes: report.regularBytes, arcroot: report.arcroot)
        object["command"] = .string("inspect")
        object["archive"] = .string(archive)
        object["helper"] = .bool(report.hasHelper)
        return JSONValue.object(object).text()
    }

    private static func common(_ m: Manifest, entries: Int, fileBytes: Int, arcroot: String) -> [String: JSONValue] {
        let files = m.files
        let counts: [String: JSONValue] = [
            "total": .int(files.count),
            "text": .int(files.filter { $0.mode == .text }.count),
            "shebang": .int(files.filter(\.isShebang).count),
            "binary": .int(files.filter { $0.mode == .binary }.count),
            "elf": .int(files.filter(\.isELF).count),
            "rpath": .int(files.filter { !$0.rpaths.isEmpty }.count),
            "unmanaged": .int(files.filter { !$0.isManaged }.count),
        ]
        return [
            "envpack_json": .int(formatVersion),
            "entries": .int(entries),
            "file_bytes": .int(fileBytes),
            "arcroot": .string(arcroot),
            "prefix": .string(m.prefix),
            "package_count": .int(m.packages.count),
            "packages": .array(m.packages.map {
                .object(["name": .string($0.name), "version": .string($0.version), "build": .string($0.build), "channel": .string($0.channel)])
            }),
            "prefix_files": .object(counts),
            "longest_prefix": m.longestAllowedPrefix.map { .int($0) } ?? .null,
            "runs_as_extracted": .object([
                "scripts": .array(m.portableScripts.map { .string($0) }),
                "elf": .array(m.portableELFFiles.map { .string($0) }),
            ]),
            "needs_helper": .array(m.needsHelper.map { .string($0) }),
        ]
    }
}
