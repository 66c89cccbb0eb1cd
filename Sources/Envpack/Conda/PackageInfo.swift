// The `info/` folder of a package: what it installs and where its prefix
// placeholders are. Newer packages describe this in `info/paths.json`; old
// ones in `info/files`, `info/has_prefix` and `info/no_link`.
import Foundation

/// conda's default placeholder for packages that name none in `has_prefix`.
public let legacyDefaultPlaceholder = "/opt/anaconda1anaconda2anaconda3"

public enum PackageInfo {
    /// Reads the path list of an extracted package's `info/` folder.
    public static func paths(infoDirectory info: URL) throws -> [PathEntry] {
        let pathsJSON = info.appendingPathComponent("paths.json")
        if FileManager.default.fileExists(atPath: pathsJSON.path) {
            let data = try Data(contentsOf: pathsJSON)
            do {
                return try JSONDecoder().decode(PathsData.self, from: data).paths
            } catch {
                throw EnvpackError.malformedFile(path: pathsJSON.path, reason: describe(decodingError: error))
            }
        }
        let filesURL = info.appendingPathComponent("files")
        guard let filesText = try? String(contentsOf: filesURL, encoding: .utf8) else {
            throw EnvpackError.malformedFile(path: info.path, reason: "neither paths.json nor files is readable")
        }
        let hasPrefix = (try? String(contentsOf: info.appendingPathComponent("has_prefix"), encoding: .utf8))
            .map(parseHasPrefix) ?? [:]
        let noLink = Set(((try? String(contentsOf: info.appendingPathComponent("no_link"), encoding: .utf8)) ?? "")
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
