// The `info/` folder of a package: what it installs and where its prefix
// placeholders are. Newer packages describe this in `info/paths.json`; old
// ones in `info/files`, `info/has_prefix` and `info/no_link`.
import Foundation

/// conda's default placeholder for packages that name none in `has_prefix`.
public let legacyDefaultPlaceholder = "/opt/anaconda1anaconda2anaconda3"

public enum PackageInfo {
    /// The largest `info/` file read (paths.json of a package with 100,000
    /// files is about 30 MB); a package is hostile input, and its archive
    /// may decompress to far more than it weighs.
    static let maxInfoFileSize = 256 << 20

    /// An `info/` file's bytes: nil when it is not there; refused when it is
    /// not a regular file or larger than maxInfoFileSize.
    static func readInfoFile(_ path: String) throws -> Data? {
        switch SmallFile.read(path, limit: maxInfoFileSize) {
        case .data(let data): return data
        case .missing: return nil
        case .notRegular: throw EnvpackError.malformedFile(path: path, reason: "not a regular file")
        case .tooLarge(let size): throw EnvpackError.malformedFile(path: path, reason: "\(size) bytes, more than a package's info file may be (\(maxInfoFileSize))")
        case .unreadable(let reason): throw EnvpackError.unreadable(path: path, reason: reason)
        }
    }

    /// Reads the path list of an extracted package's `info/` folder.
    public static func paths(infoDirectory info: URL) throws -> [PathEntry] {
        let pathsJSON = info.appendingPathComponent("paths.json")
        if let data = try readInfoFile(pathsJSON.path) {
            do {
                return try JSONDecoder().decode(PathsData.self, from: data).paths
            } catch {
                throw EnvpackError.malformedFile(path: pathsJSON.path, reason: describe(decodingError: error))
            }
        }
        guard let files = try readInfoFile(info.appendingPathComponent("files").path) else {
            throw EnvpackError.malformedFile(path: info.path, reason: "neither paths.json nor files is readable")
        }
        let filesText = String(decoding: files, as: UTF8.self)
        let hasPrefix = try readInfoFile(info.appendingPathComponent("has_prefix").path)
            .map { parseHasPrefix(String(decoding: $0, as: UTF8.self)) } ?? [:]
        let noLink = Set((try readInfoFile(info.appendingPathComponent("no_link").path).map { String(decoding: $0, as: UTF8.self) } ?? "")
            .split(separator: "\n").map { String($0).trimmingCharacters(in: .whitespaces) })
        return filesText.split(separator: "\n").map { String($0) }.filter { !$0.isEmpty }.map { path in
            var entry = PathEntry(path: path)
            if let p = hasPrefix[path] {
                entry.prefixPlaceholder = p.placeholder
                entry.fileMode = p.mode
            }
            if noLink.contains(path) { entry.noLink = true }
            return entry
        }
    }

    /// Parses `info/has_prefix`: lines of `placeholder mode path` (each part
    /// may be double-quoted), or a bare path meaning the legacy placeholder in
    /// text mode.
    public static func parseHasPrefix(_ text: String) -> [String: (placeholder: String, mode: PathEntry.FileMode)] {
        var result: [String: (String, PathEntry.FileMode)] = [:]
        for line in text.split(separator: "\n") {
            let parts = splitQuoted(String(line))
            switch parts.count {
            case 1: result[parts[0]] = (legacyDefaultPlaceholder, .text)
            case 3...: result[parts[2...].joined(separator: " ")] = (parts[0], PathEntry.FileMode(rawValue: parts[1]) ?? .text)
            default: continue
            }
        }
        return result
    }

    static func splitQuoted(_ line: String) -> [String] {
        var parts: [String] = []
        var current = ""
        var quoted = false
        var hasToken = false
        for ch in line {
            if ch == "\"" { quoted.toggle(); hasToken = true; continue }
            if ch == " " && !quoted {
                if hasToken { parts.append(current); current = ""; hasToken = false }
                continue
            }
            current.append(ch)
            hasToken = true
        }
        if hasToken { parts.append(current) }
        return parts
    }
}

/// Turns a JSONDecoder error into one line for users.
func describe(decodingError error: Error) -> String {
    switch error {
    case DecodingError.dataCorrupted(let c):
        return (c.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String ?? c.debugDescription
    case DecodingError.keyNotFound(let key, let c):
        return "missing field '\(key.stringValue)'" + codingPath(c.codingPath)
    case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c):
        return c.debugDescription + codingPath(c.codingPath)
    default:
        return "\(error)"
    }
}

private func codingPath(_ path: [CodingKey]) -> String {
    path.isEmpty ? "" : " at " + path.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
}
