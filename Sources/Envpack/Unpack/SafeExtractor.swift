// envpack's door to the shared extraction module (EnvpackExtract, which the
// static helper links too): the same API as before the move, with envpack's
// Ctrl-C check and progress plugged in and ExtractError turned into the
// EnvpackError of the same words, so callers and messages are unchanged.
@_exported import EnvpackExtract

public enum SafeExtractor {
    public typealias Extraction = Extractor.Extraction

    /// Extracts `archive` ("-" for standard input) into the existing,
    /// empty folder `directory`. Returns the number of entries.
    @discardableResult
    public static func extract(archive: String, into directory: String, sameOwner: Bool = false,
                               progress: Progress? = nil) throws -> Int {
        try asEnvpackError {
            try extract(reader: try ArchiveReader(path: archive), into: directory, sameOwner: sameOwner, progress: progress)
        }
    }

    /// Extracts everything `reader` holds into `directory`.
    @discardableResult
    public static func extract(reader: ArchiveReader, into directory: String, sameOwner: Bool = false,
                               progress: Progress? = nil) throws -> Int {
        try asEnvpackError {
            try Extractor.run(reader: reader, into: directory, sameOwner: sameOwner, progress: progress,
                              check: Interruption.check).entries
        }
    }

    /// Extracts like `extract`, hashing every regular file as it is written.
    public static func extractHashing(reader: ArchiveReader, into directory: String) throws -> Extraction {
        try asEnvpackError {
            try Extractor.run(reader: reader, into: directory, hashing: true, check: Interruption.check)
        }
    }
}

extension Progress: ExtractionProgress {}

extension EnvpackError {
    /// The EnvpackError saying what an ExtractError says.
    init(_ error: ExtractError) {
        switch error {
        case .archive(let path, let reason): self = .archive(path: path, reason: reason)
        case .writeFailed(let path, let reason): self = .writeFailed(path: path, reason: reason)
        case .unreadable(let path, let reason): self = .unreadable(path: path, reason: reason)
        case .refused(let message): self = .invalidOption(message)
        }
    }
}

/// Runs `body`, rethrowing an ExtractError as the matching EnvpackError.
func asEnvpackError<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let error as ExtractError { throw EnvpackError(error) }
}
