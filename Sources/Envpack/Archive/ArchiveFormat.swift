// The archive formats envpack writes, and how each maps onto libarchive.
import Foundation

public enum ArchiveFormat: String, CaseIterable, Sendable {
    case tarZstd = "tar.zst"
    case tarGzip = "tar.gz"
    case tarBzip2 = "tar.bz2"
    case tarXz = "tar.xz"
    case tar = "tar"
    case zip = "zip"

    /// Parses a `--format` value; aliases as conda-pack accepts them.
    public init(name: String) throws {
        switch name.lowercased() {
        case "tar.zst", "tzst", "tar.zstd", "zst", "zstd": self = .tarZstd
        case "tar.gz", "tgz", "gz": self = .tarGzip
        case "tar.bz2", "tbz2", "bz2": self = .tarBzip2
        case "tar.xz", "txz", "xz": self = .tarXz
        case "tar": self = .tar
        case "zip": self = .zip
        default: throw EnvpackError.unsupportedFormat(name)
        }
    }

    /// The format a file name implies, or nil when its ending names none.
    public static func infer(fromFileName name: String) -> ArchiveFormat? {
        let lower = name.lowercased()
        let endings: [(String, ArchiveFormat)] = [
            (".tar.zst", .tarZstd), (".tzst", .tarZstd), (".tar.gz", .tarGzip), (".tgz", .tarGzip),
            (".tar.bz2", .tarBzip2), (".tbz2", .tarBzip2), (".tar.xz", .tarXz), (".txz", .tarXz),
            (".tar", .tar), (".zip", .zip),
        ]
        return endings.first { lower.hasSuffix($0.0) }?.1
    }

    public var fileExtension: String { rawValue }

    /// Zip has no hardlink entries: grouped files are stored as copies.
    public var supportsHardlinks: Bool { self != .zip }

    /// Compression levels libarchive accepts for the filter.
    var levelRange: ClosedRange<Int>? {
        switch self {
        case .tarZstd: return 1...19
        case .tarGzip, .tarBzip2, .tarXz, .zip: return 0...9
        case .tar: return nil
        }
    }

    var defaultLevel: Int? {
        switch self {
        case .tarZstd: return 3
        case .tarGzip, .zip: return 4  // conda-pack's default level
        case .tarBzip2: return 9
        case .tarXz: return 6
        case .tar: return nil
        }
    }
}

/// libarchive converts entry names through the C library's locale; in the
/// default "C" locale a non-ASCII name cannot be converted and the entry is
/// lost. Names in conda environments are UTF-8, so use a UTF-8 locale.
let useUTF8Locale: Void = {
    if setlocale(LC_CTYPE, "C.UTF-8") == nil { _ = setlocale(LC_CTYPE, "en_US.UTF-8") }
}()

/// Whether a UTF-8 locale could be set. A machine may have none installed
/// (a bare chroot running the static envpack): libarchive then cannot
/// convert UTF-8 names to the locale, and its pax writer crashed on the
/// NULL name of its own warning; ArchiveWriter then hands it the names'
/// bytes as they are (see ArchiveWriter.begin).
let localeIsUTF8: Bool = {
    _ = useUTF8Locale
    guard let codeset = nl_langinfo(nl_item(CODESET)) else { return false }
    return String(cString: codeset) == "UTF-8"
}()
