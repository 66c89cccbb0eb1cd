// RECORD files of wheels and installed distributions (PEP 376, PEP 427):
// CSV rows `path,algorithm=urlsafe-base64-digest-without-padding,size`.
// Reading a wheel's rows, and writing the installed distribution's RECORD
// the way pip does: paths relative to site-packages (`../../../bin/x` for
// scripts), the hash and size of every file as written, RECORD itself last
// with neither.
import Crypto
import EnvpackRelocation
import Foundation

struct RecordRow: Equatable {
    /// Path relative to site-packages.
    var path: String
    /// Hex sha256, nil for RECORD itself.
    var sha256: String?
    var size: Int?
}

enum WheelRecord {
    /// The fields of one CSV row (quotes as python's csv module writes them).
    static func parseRow(_ line: String) -> [String] {
        var fields: [String] = []
        var field = ""
        var quoted = false
        var chars = Array(line)
        if chars.last == "\r" { chars.removeLast() }
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if quoted {
                if c == "\"" {
                    if i + 1 < chars.count, chars[i + 1] == "\"" { field.append("\""); i += 1 } else { quoted = false }
                } else { field.append(c) }
            } else if c == "\"" && field.isEmpty {
                quoted = true
            } else if c == "," {
                fields.append(field)
                field = ""
            } else {
                field.append(c)
            }
            i += 1
        }
        fields.append(field)
        return fields
    }

    /// One CSV field, quoted when needed.
    static func csvField(_ text: String) -> String {
        guard text.contains(",") || text.contains("\"") || text.contains("\n") || text.contains("\r") else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// The digest in RECORD's urlsafe base64 without padding, decoded.
    static func decodeHash(_ text: String) -> [UInt8]? {
        var b64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        guard !b64.isEmpty, b64.count <= 200, !b64.contains("=") else { return nil }
        while b64.count % 4 != 0 { b64 += "=" }
        return Data(base64Encoded: b64).map { [UInt8]($0) }
    }

    /// A hex digest as RECORD writes it: `sha256=` + urlsafe base64, no padding.
    static func encodeSHA256(hex: String) -> String {
        var b64 = Data(bytes(ofHex: hex)).base64EncodedString()
        while b64.hasSuffix("=") { b64.removeLast() }
        return "sha256=" + b64.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
    }

    static func bytes(ofHex hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var it = hex.utf8.makeIterator()
        while let a = it.next(), let b = it.next() {
            func v(_ c: UInt8) -> UInt8 { c <= 57 ? c - 48 : (c | 0x20) - 87 }
            out.append(v(a) << 4 | v(b))
        }
        return out
    }

    /// sha384 or sha512 of a file (rare in wheels; sha256 comes from extraction).
    static func digest(of path: String, algorithm: String) throws -> [UInt8] {
        var h384 = SHA384(), h512 = SHA512()
        do {
            try forEachChunk(of: path) { chunk in
                if algorithm == "sha384" { h384.update(bufferPointer: chunk) } else { h512.update(bufferPointer: chunk) }
            }
        } catch { throw EnvpackError.unreadable(path: path, reason: error.reason) }
        return algorithm == "sha384" ? Array(h384.finalize()) : Array(h512.finalize())
    }

    /// The RECORD text for `rows` plus the RECORD row itself.
    static func text(_ rows: [RecordRow], recordPath: String) -> String {
        var out = ""
        for row in rows {
            out += csvField(row.path) + "," + (row.sha256.map(encodeSHA256(hex:)) ?? "") + "," + (row.size.map(String.init) ?? "") + "\n"
        }
        return out + csvField(recordPath) + ",,\n"
    }
}
