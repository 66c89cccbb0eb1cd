// What `envpack pack` says after packing, beyond the counts: how to unpack
// the result without envpack (tar habits such as `tar -xzf` fail on the
// default tar.zst), and a warning when binary files limit how long a
// destination path can be, so the user learns it now and not on the target.
import Envpack
import EnvpackRelocation
import Foundation

enum PackReport {
    /// Destinations shorter than this are too short for everyday paths
    /// (`/home/someone/envs/name` is already 25 bytes).
    static let shortLimit = 64

    static func limitWarnings(_ manifest: Manifest) -> [String] {
        guard let limit = manifest.longestAllowedPrefix, limit < shortLimit else { return [] }
        let setters = manifest.files.filter { file in
            file.mode == .binary && Manifest(prefix: manifest.prefix, files: [file]).longestAllowedPrefix == limit
        }.map(\.path)
        let shown = setters.prefix(10).joined(separator: ", ") + (setters.count > 10 ? " (and \(setters.count - 10) more)" : "")
        return ["the archive's binary files limit destinations to \(limit) bytes: unpack it only at a path of at most \(limit) bytes (set by \(shown), which hold the prefix \(manifest.prefix) with no room to grow; packages built by conda-build leave room with a long placeholder)"]
    }

    /// The lines that say how to unpack the result without envpack.
    static func extractHint(options: PackOptions, output: String, manifest: Manifest) -> String {
        guard output != "standard output" else { return "" }
        let root = options.arcroot.split(separator: "/").joined(separator: "/")
        let env = root.isEmpty ? "DEST" : "DEST/\(root)"
        let relocated = options.destPrefix != nil
        switch options.layout {
        case .folder:
            return relocated
                ? "the folder's files name \(manifest.prefix): copy it there (cp -a) and run it\n"
                : "the folder's files still name \(manifest.prefix): run \(quote(output))\(root.isEmpty ? "" : "/" + root)/bin/envpack-unpack where it ends up\n"
        case .squashfs:
            return "mount it with squashfuse \(quote(output)) DIR (or mount -t squashfs -o loop)" + (relocated ? " at \(manifest.prefix)\n" : "; to relocate, copy the files out and run bin/envpack-unpack there\n")
        case .selfExtracting:
            return "install it with: sh \(quote(output)) DEST (needs only sh, dd and mktemp there)\n"
        case .archive:
            break
        }
        let extract: String
        switch options.format {
        case .tarZstd: extract = "tar --zstd -xf"
        case .tarGzip: extract = "tar -xzf"
        case .tarBzip2: extract = "tar -xjf"
        case .tarXz: extract = "tar -xJf"
        case .tar: extract = "tar -xf"
        case .zip: extract = "unzip -q"
        }
        let into = options.format == .zip ? "-d DEST" : "-C DEST"
        if relocated {
            return "without envpack: mkdir -p DEST && \(extract) \(quote(output)) \(into), where \(env) is \(manifest.prefix) (no unpack step)\n"
        }
        return "without envpack: mkdir -p DEST && \(extract) \(quote(output)) \(into) && \(env)/bin/envpack-unpack (or: envpack unpack \(quote(output)) DEST)\n"
    }

    /// A shell word: as it is when safe, else in single quotes.
    static func quote(_ s: String) -> String {
        let safe = s.unicodeScalars.allSatisfy { c in
            (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") || "/._-+=:,@%".unicodeScalars.contains(c)
        }
        return safe && !s.isEmpty ? s : "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
