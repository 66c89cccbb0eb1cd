// A conda-meta record: the JSON file conda writes into `conda-meta/` for each
// installed package. It is the source of truth for which files a package
// owns and how their prefix was patched.
import Foundation

/// How a path was put into the prefix (`path_type` in conda's records).
public enum PathType: String, Codable, Sendable {
    case hardlink, softlink, directory
    case pycFile = "pyc_file"
    case unixPythonEntryPoint = "unix_python_entry_point"
    case windowsPythonEntryPoint = "windows_python_entry_point_script"
    case windowsPythonEntryPointExe = "windows_python_entry_point_exe"
    case linkedPackageRecord = "linked_package_record"
    case unknown

    public init(from decoder: Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(String.self)
        self = PathType(rawValue: raw) ?? .unknown
    }
}

/// One entry of `paths_data.paths` in a record (or of `info/paths.json`).
public struct PathEntry: Codable, Sendable, Equatable {
    public var path: String
    public var pathType: PathType
    public var fileMode: FileMode?
    public var prefixPlaceholder: String?
    public var sha256: String?
    public var sha256InPrefix: String?
    public var sizeInBytes: Int?
    public var noLink: Bool?

    /// `file_mode` in conda's records.
    public enum FileMode: String, Codable, Sendable { case text, binary }

    enum CodingKeys: String, CodingKey {
        case path = "_path"
        case pathType = "path_type"
        case fileMode = "file_mode"
        case prefixPlaceholder = "prefix_placeholder"
        case sha256
        case sha256InPrefix = "sha256_in_prefix"
        case sizeInBytes = "size_in_bytes"
        case noLink = "no_link"
    }

    public init(path: String, pathType: PathType = .hardlink, fileMode: FileMode? = nil,
                prefixPlaceholder: String? = nil, sha256: String? = nil, sha256InPrefix: String? = nil,
                sizeInBytes: Int? = nil, noLink: Bool? = nil) {
        self.path = path
        self.pathType = pathType
        self.fileMode = fileMode
        self.prefixPlaceholder = prefixPlaceholder
        self.sha256 = sha256
        self.sha256InPrefix = sha256InPrefix
        self.sizeInBytes = sizeInBytes
        self.noLink = noLink
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        path = try c.decode(String.self, forKey: .path)
        pathType = try c.decodeIfPresent(PathType.self, forKey: .pathType) ?? .hardlink
        fileMode = try? c.decodeIfPresent(FileMode.self, forKey: .fileMode)
        prefixPlaceholder = try c.decodeIfPresent(String.self, forKey: .prefixPlaceholder)
        sha256 = try c.decodeIfPresent(String.self, forKey: .sha256)
        sha256InPrefix = try c.decodeIfPresent(String.self, forKey: .sha256InPrefix)
        sizeInBytes = try c.decodeIfPresent(Int.self, forKey: .sizeInBytes)
        noLink = try c.decodeIfPresent(Bool.self, forKey: .noLink)
    }
}

public struct PathsData: Codable, Sendable, Equatable {
    public var pathsVersion: Int
    public var paths: [PathEntry]

    enum CodingKeys: String, CodingKey {
        case pathsVersion = "paths_version"
        case paths
    }

    public init(pathsVersion: Int = 1, paths: [PathEntry]) {
        self.pathsVersion = pathsVersion
        self.paths = paths
    }
}

/// `link` in a record: where conda linked the package from.
public struct LinkInfo: Codable, Sendable, Equatable {
    public var source: String?
    public var type: Int?

    public init(source: String?, type: Int?) {
        self.source = source
        self.type = type
    }
}

/// The `noarch` field, which conda has written as a string, a bool or an
/// object over the years.
public enum NoarchKind: Sendable, Equatable, Codable {
    case python, generic, none

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let s = try? c.decode(String.self) {
            self = s == "python" ? .python : (s.isEmpty ? .none : .generic)
        } else if let b = try? c.decode(Bool.self) {
            self = b ? .generic : .none
        } else if let o = try? c.decode([String: String].self) {
            self = o["type"] == "python" ? .python : .generic
        } else {
            self = .none
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .python: try c.encode("python")
        case .generic: try c.encode("generic")
        case .none: try c.encodeNil()
        }
    }
}

/// A `conda-meta/*.json` record. Only the fields envpack uses are modelled;
/// the install stage writes records from the package's own index instead.
public struct PackageRecord: Codable, Sendable, Equatable {
    public var name: String
    public var version: String
    public var build: String
    public var buildNumber: Int?
    public var channel: String?
    public var subdir: String?
    public var url: String?
    public var fn: String?
    public var md5: String?
    public var sha256: String?
    public var size: Int?
    public var noarch: NoarchKind?
    public var files: [String]?
    public var pathsData: PathsData?
    public var link: LinkInfo?
    /// Where conda extracted the package (its cache entry), when recorded.
    public var extractedPackageDir: String?
    /// The package file conda installed from (its cache copy), when recorded.
    public var packageTarballFullPath: String?
    public var requestedSpec: String?
    public var depends: [String]?

    enum CodingKeys: String, CodingKey {
        case name, version, build, channel, subdir, url, fn, md5, sha256, size, noarch, files, link, depends
        case buildNumber = "build_number"
        case pathsData = "paths_data"
        case requestedSpec = "requested_spec"
        case extractedPackageDir = "extracted_package_dir"
        case packageTarballFullPath = "package_tarball_full_path"
    }

    public init(name: String, version: String, build: String) {
        self.name = name
        self.version = version
        self.build = build
    }

    /// `name-version-build`, as conda names the record file.
    public var distName: String { "\(name)-\(version)-\(build)" }

    /// The channel's short name (`conda-forge` from a URL or `conda-forge/linux-64`).
    public var channelName: String {
        guard var c = channel, !c.isEmpty else { return "" }
        if let url = URL(string: c), url.scheme != nil {
            c = url.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        }
        for sub in ["/linux-64", "/noarch", "/osx-64", "/osx-arm64", "/linux-aarch64", "/win-64"] where c.hasSuffix(sub) {
            c.removeLast(sub.count)
        }
        return c
    }
}
