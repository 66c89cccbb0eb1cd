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
    /// Rewrite prefixes at pack time so no unpack step is needed.
    public var destPrefix: String? = nil
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

public struct PackSummary: Sendable {
    public var output: String
    /// Entries of the archive (files, folders, links), as inspect counts them.
    public var entries: Int
    /// Bytes read from the environment's files.
    public var bytesRead: Int
    /// Regular files in the archive (a hardlinked file once) and their
    /// bytes, "file data": the same figures inspect and the progress show.
    public var files = 0
    public var fileBytes = 0
    public var manifest: Manifest
    /// What the user should know: a hand-copied environment, files pip
    /// replaced, conda state left out, symlinks that leave the environment.
    public var warnings: [String] = []
}
