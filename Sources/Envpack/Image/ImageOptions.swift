// What `envpack image` was asked to do, validated before anything is read.
import Foundation

public struct ImageOptions: Sendable {
    public var prefix: String
    /// A folder (OCI image layout) or a .tar file (OCI archive or docker-archive).
    public var output: String
    public var format: ImageFormat
    /// Where the environment lives in the image; its files are relocated there.
    public var destPrefix = "/opt/env"
    public var base: ImageReference? = nil
    /// NAME[:TAG]; default: the environment's folder name, tag latest.
    public var tag: String? = nil
    /// KEY=VALUE, in order; later ones win.
    public var environment: [String] = []
    public var entrypoint: [String]? = nil
    public var cmd: [String]? = nil
    /// One layer per conda package plus one for the rest.
    public var layerPerPackage = false
    public var force = false
    /// gzip level of the layers (tar+gzip); docker-archive stores them plain.
    public var compressLevel = 6
    public var threads = ProcessInfo.processInfo.activeProcessorCount
    /// The static helper pack embeds; located when nil.


    public init(prefix: String, output: String, format: ImageFormat) {
        self.prefix = prefix
        self.output = output
        self.format = format
    }

    /// The most layers `--layers package` writes; further packages share
    /// the last layer (overlay file systems stack about 128 layers at most).
    public static let maxPackageLayers = 100

    /// The name and tag the image carries.
    public var reference: (name: String, tag: String) {
        if let tag, let parsed = Self.parse(tag: tag) { return parsed }
        let folder = (absolutePath(prefix) as NSString).lastPathComponent.lowercased()
        var name = String(folder.map { c -> Character in
            c.isASCII && (c.isLetter || c.isNumber || c == "." || c == "_" || c == "-") ? c : "-"
        })
        while name.hasPrefix(".") || name.hasPrefix("-") || name.hasPrefix("_") { name.removeFirst() }
        return (name.isEmpty ? "envpack-env" : name, "latest")
    }

    /// NAME[:TAG] as docker names images: lowercase name components
    /// separated by '/', a registry host may carry a port; a tag of up to
    /// 128 letters, digits, '_', '.', '-'.
    static func parse(tag: String) -> (name: String, tag: String)? {
        var name = tag, version = "latest"
        if let colon = tag.lastIndex(of: ":"), !tag[tag.index(after: colon)...].contains("/") {
            name = String(tag[..<colon])
            version = String(tag[tag.index(after: colon)...])
        }
        let tagChars = version.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "_.-".unicodeScalars.contains($0)) }
        guard !version.isEmpty, version.count <= 128, tagChars, !version.hasPrefix("."), !version.hasPrefix("-") else { return nil }
        let components = name.split(separator: "/", omittingEmptySubsequences: false)
        guard !name.isEmpty, name.count <= 255 else { return nil }
        for (i, c) in components.enumerated() {
            let isHost = i == 0 && components.count > 1 && (c.contains(".") || c.contains(":") || c == "localhost")
            let allowed = isHost ? "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:" : "abcdefghijklmnopqrstuvwxyz0123456789._-"
            guard !c.isEmpty, c.allSatisfy({ allowed.contains($0) }), c.first!.isLetter || c.first!.isNumber else { return nil }
        }
        return (name, version)
    }

    /// The usage errors, as EnvpackError.invalidOption.
    public func validate() throws {
        func bad(_ m: String) -> EnvpackError { .invalidOption(m) }
        guard destPrefix.hasPrefix("/") else { throw bad("--dest-prefix \(destPrefix): an image needs an absolute path") }
        let parts = destPrefix.split(separator: "/")
        guard !parts.isEmpty else { throw bad("--dest-prefix /: the environment needs a folder of its own in the image") }
        if parts.contains(where: { $0 == ".." || $0 == "." }) { throw bad("--dest-prefix \(destPrefix): '.' and '..' are not allowed") }
        if destPrefix.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) {
            throw bad("--dest-prefix \(destPrefix.debugDescription): control characters are not allowed")
        }
        if let tag, Self.parse(tag: tag) == nil {
            throw bad("--tag \(tag): give NAME[:TAG], a lowercase name (letters, digits, '.', '_', '-', '/' between parts) and a tag of letters, digits, '_', '.', '-'")
        }
        for kv in environment {
            guard let eq = kv.firstIndex(of: "="), eq != kv.startIndex else { throw bad("--env \(kv): give KEY=VALUE") }
            if kv.unicodeScalars.contains(where: { $0.value == 0 }) { throw bad("--env \(kv.debugDescription): NUL is not allowed") }
        }
        if !(0...9).contains(compressLevel) { throw bad("--compress-level \(compressLevel) is out of range for gzip layers (0-9)") }
        if threads < 1 { throw bad("--n-threads must be 1 or more") }
        if output.isEmpty || output == "-" { throw bad("-o: give a folder (OCI layout) or a .tar file") }
        if format == .ociLayout && output.lowercased().hasSuffix(".tar") {
            throw bad("-o \(output): a .tar output is an archive; use --format oci-archive or docker-archive, or name a folder")
        }
    }

    /// The prefix in the image without its leading '/', normalised.
    var rootInImage: String { destPrefix.split(separator: "/").joined(separator: "/") }
    public var destination: String { "/" + rootInImage }
}

public struct ImageSummary: Sendable {
    public var output: String
    public var format: ImageFormat
    public var name: String
    public var tag: String
    public var manifestDigest: String
    public var configDigest: String
    /// Layers of the base image, then the environment's.
    public var baseLayers: Int
    public var environmentLayers: Int
    /// Sizes of the environment's layer blobs as stored.
    public var environmentBytes: Int
    public var packages: Int
    public var warnings: [String] = []
}
