// What `envpack pack` was asked to do, validated before anything is read.
import EnvpackRelocation

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
    public var compressLevel: Int? = nil
    public var threads = 1
    public var ignoreMissingFiles = false
    public var ignoreEditablePackages = false
    /// Pack even if files conda installed were changed (with a warning).
    public var ignoreChangedFiles = false
    /// Clamp every entry's mtime to this (seconds since the epoch); by
    /// default, the time of `conda-meta/history`.
    public var mtime: Int? = nil
    /// The static helper to embed; located when nil.
    public var helperPath: String? = nil

    public init(prefix: String, output: String, format: ArchiveFormat) {
        self.prefix = prefix
        self.output = output
        self.format = format
    }
}

public struct PackSummary: Sendable {
    public var output: String
    public var entries: Int
    public var bytesRead: Int
    public var manifest: Manifest
    /// What the user should know: a hand-copied environment, files pip
    /// replaced, conda state left out, symlinks that leave the environment.
    public var warnings: [String] = []
}
