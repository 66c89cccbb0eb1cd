// What `envpack pack` was asked to do, validated before anything is read.
import EnvpackRelocation
import Foundation

public struct PackOptions: Sendable {
    public var prefix: String
    /// An output path, or "-" for standard output.
    public var output: String
    public var format: ArchiveFormat
    /// A folder inside the archive that holds the environment ("" for none).
    public var arcroot: String = ""
    /// Rewrite prefixes at pack time so no unpack step is needed. A
    /// relative path (conda-pack's `-d ./env`) stays relative: the files
    /// then name the environment relative to the working directory of
    /// whatever runs them.
    public var destPrefix: String? = nil
    /// An archive (the default), a plain folder (conda-pack's
    /// `no-archive`), or a squashfs image.
    public var layout: PackLayout = .archive
    /// conda-pack's `--no-zip-64`: refuse a zip that would need ZIP64.
    public var zip64 = true
    public var filter = PathFilter()
    public var force = false
    public var quiet = false
    /// nil: the format's default (see ArchiveFormat).
    public var compressLevel: Int? = nil
    /// Compression threads (zstd, xz); as the CLI's default, every core.
    public var threads = ProcessInfo.processInfo.activeProcessorCount
    public var ignoreMissingFiles = false
    public var ignoreEditablePackages = false
    /// Pack even if files conda installed were changed (with a warning).
    public var ignoreChangedFiles = false
    /// Clamp every entry's mtime to this (seconds since the epoch); by
    /// default, the time of `conda-meta/history`.
    public var mtime: Int? = nil
    /// The static helper to embed; located when nil.
    public var helperPath: String? = nil
    /// Whether the archive carries the helper (and `bin/conda-unpack`):
    /// always, except for `envpack image`, whose environment is relocated
    /// at build time and never unpacked.
    var withHelper = true
    /// Called with the progress of the pack (nil: none). The CLI passes
    /// `TerminalProgress.standardError()`.
    public var progress: ProgressHandler? = nil

    public init(prefix: String, output: String, format: ArchiveFormat) {
        self.prefix = prefix
        self.output = output
        self.format = format
    }

    /// The CLI's defaults: `<environment folder name>.tar.zst` in the
    /// current folder.
    public init(prefix: String) {
        let name = (absolutePath(prefix) as NSString).lastPathComponent
        self.init(prefix: prefix, output: "\(name).\(ArchiveFormat.tarZstd.fileExtension)", format: .tarZstd)
    }
}

/// What `pack` writes: conda-pack's `--format` values beyond archives.
public enum PackLayout: String, Sendable {
    case archive
    /// A relocated copy as a plain folder (conda-pack's `no-archive`).
    case folder = "no-archive"
    /// A squashfs image, through mksquashfs, zstd-compressed.
    case squashfs
    /// A self-extracting installer: a sh header, the static helper, a
    /// tar.zst (SelfExtractingOutput).
    case selfExtracting = "sh"
}

extension PackOptions {
    /// The `--dest-prefix` the files will hold: absolute paths normalised,
    /// relative ones kept relative (without a trailing slash).
    var destination: String? {
        guard let dest = destPrefix else { return nil }
        if dest.hasPrefix("/") { return absolutePath(dest) }
        var d = dest
        while d.count > 1 && d.hasSuffix("/") { d.removeLast() }
        return d
    }

    /// The usage errors: what no environment could change. Thrown as
    /// EnvpackError.invalidOption; the CLI reports them as usage errors.
    public func validate() throws {
        func bad(_ message: String) -> EnvpackError { .invalidOption(message) }
        if threads < 1 { throw bad("--n-threads must be 1 or more, or -1 for all cores (got \(threads))") }
        if let level = compressLevel {
            let range: ClosedRange<Int>? = layout == .squashfs ? 1...19 : layout == .folder ? nil : format.levelRange
            if let range, !range.contains(level) {
                let name = layout == .archive ? format.rawValue : layout.rawValue
                throw bad("--compress-level \(level) is out of range for \(name) (\(range.lowerBound)-\(range.upperBound), or -1 for the default)")
            }
        }
        if arcroot.split(separator: "/").contains("..") {
            throw bad("--arcroot \(arcroot): '..' would put the environment outside the folder the archive is unpacked into; give a relative path below it")
        }
        if arcroot.hasPrefix("/") { throw bad("--arcroot \(arcroot): give a relative path inside the archive, not an absolute one") }
        if arcroot.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) {
            throw bad("--arcroot \(arcroot.debugDescription): control characters are not allowed")
        }
        if let dest = destPrefix {
            if dest.isEmpty { throw bad("--dest-prefix is empty") }
            if dest.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) {
                throw bad("--dest-prefix \(dest.debugDescription): control characters are not allowed")
            }
        }
        if layout != .archive && output == "-" {
            throw bad("--format \(layout.rawValue) writes a \(layout == .folder ? "folder" : "file") and cannot stream to standard output: give -o PATH")
        }
        if layout == .selfExtracting && format != .tarZstd {
            throw bad("--format sh carries a tar.zst archive (got \(format.rawValue))")
        }
    }
}

public struct PackSummary: Sendable {
    public var output: String
    /// The environment as pack loaded it (its records, what they manage),
    /// for callers that need it again (`envpack image`).
    var environment: CondaEnvironment? = nil
    /// Entries of the archive (files, folders, links), as inspect counts them.
    public var entries: Int
    /// Bytes read from the environment's files.
    public var bytesRead: Int
    /// Regular files in the archive (a hardlinked file once) and their
    /// bytes, "file data": the same figures inspect and the progress show.
    public var files = 0
    /// The size of the file data the archive holds (every regular entry,
    /// the helper and manifest included), as `inspect` counts it.
    public var fileBytes = 0
    public var manifest: Manifest
    /// What the user should know: a hand-copied environment, files pip
    /// replaced, conda state left out, symlinks that leave the environment.
    public var warnings: [String] = []
}
