// `envpack inspect`: what an archive holds, read from its manifest.
import EnvpackRelocation
import Foundation

public struct ArchiveReport: Sendable {
    /// Members of the archive (files, folders, links).
    public var entries = 0
    /// Regular files (a hardlinked file once) and their bytes ("file data").
    public var files = 0
    public var regularBytes = 0
    /// The folder inside the archive that holds the environment ("" for none).
    public var arcroot = ""
    public var hasHelper = false
    public var manifest: Manifest

    public var textFiles: Int { manifest.files.filter { $0.mode == .text }.count }
    public var binaryFiles: Int { manifest.files.filter { $0.mode == .binary }.count }
    public var shebangScripts: Int { manifest.files.filter(\.isShebang).count }
    public var elfFiles: Int { manifest.files.filter(\.isELF).count }
    public var rpathFiles: Int { manifest.files.filter { !$0.rpaths.isEmpty }.count }
    public var unmanagedFiles: Int { manifest.files.filter { !$0.isManaged }.count }
}

/// What runs where the archive is extracted with no unpack step (Spark,
/// YARN), and what needs the helper first: for `inspect` and the JSON
/// summaries of pack and inspect alike.
extension Manifest {
    /// Scripts whose `#!` line envpack replaced by one that works at any
    /// path (a launcher finding the interpreter from the script's own path,
    /// or `/usr/bin/env`): they run as extracted.
    public var portableScripts: [String] {
        files.filter { $0.originalShebang != nil && !$0.isShebang }.map(\.path)
    }
    /// ELF files whose RPATH/RUNPATH envpack made `$ORIGIN`-relative and that
    /// hold the prefix nowhere the loader maps: they run as extracted.
    public var portableELFFiles: [String] {
        files.filter { $0.isELF && $0.rpaths.isEmpty && $0.loadedOffsets.isEmpty }.map(\.path)
    }
    /// Files that hold the prefix where it matters at run time (text, a
    /// `#!` line, loaded binary data, an RPATH into it): right only at the
    /// packed prefix until the helper (or `envpack unpack`) has run.
    public var needsHelper: [String] {
        files.filter { f in
            (f.mode == .text && !f.offsets.isEmpty) || (f.mode == .binary && !f.loadedOffsets.isEmpty) || !f.rpaths.isEmpty
        }.map(\.path)
    }
}

public enum ArchiveInspector {
    /// Failures are EnvpackErrors, as every other command's (the reader's
    /// ExtractErrors are turned into them).
    public static func inspect(path: String) throws -> ArchiveReport {
        try asEnvpackError { try read(path: path) }
    }

    private static func read(path: String) throws -> ArchiveReport {
        let reader = try ArchiveReader(path: path)
        var entries = 0
        var bytes = 0
        var files = 0
        var manifestText: String? = nil
        var arcroot = ""
        var helperPaths: [String] = []
        var sawCondaUnpack = false
        while let entry = try reader.next() {
            entries += 1
            if entry.fileType == fileTypeRegular && entry.hardlink == nil { bytes += entry.size; files += 1 }
            // The manifest: at the top, or below the one top folder
            // (--arcroot), as unpack looks for it; once; a bounded regular file.
            let rel = Manifest.relativePath
            if entry.path == rel || (entry.path.hasSuffix("/" + rel) && !entry.path.dropLast(rel.count + 1).contains("/")) {
                guard manifestText == nil else {
                    throw EnvpackError.archive(path: path, reason: "refusing entry \(entry.path): a second envpack manifest")
                }
                guard entry.fileType == fileTypeRegular, entry.hardlink == nil else {
                    throw EnvpackError.archive(path: path, reason: "refusing entry \(entry.path): the manifest is not a regular file")
                }
                guard entry.size <= ManifestLimits.maxBytes else {
                    throw EnvpackError.archive(path: path, reason: "refusing entry \(entry.path): \(entry.size) bytes, more than the \(ManifestLimits.maxBytes) a manifest may have")
                }
                manifestText = String(decoding: try reader.readAll(), as: UTF8.self)
                arcroot = String(entry.path.dropLast(Manifest.relativePath.count)).trimmingCharacters(in: CharacterSet(charactersIn: "/"))
            } else if entry.path.hasSuffix("bin/conda-unpack") && entry.fileType == fileTypeRegular {
                sawCondaUnpack = true
            } else if entry.path.hasSuffix("bin/envpack-unpack") {
                helperPaths.append(entry.path)
            }
        }
        guard let manifestText else {
            if sawCondaUnpack {
                throw EnvpackError.archive(path: path, reason: "a conda-pack archive (bin/conda-unpack, no envpack manifest): inspect reads envpack archives only; `envpack unpack \(path) DEST` unpacks and relocates it")
            }
            throw EnvpackError.archive(path: path, reason: "no \(Manifest.relativePath) inside: not an envpack archive")
        }
        let manifest: Manifest
        do { manifest = try Manifest(parsing: manifestText) } catch {
            throw EnvpackError.malformedFile(path: path + ":" + Manifest.relativePath, reason: error.description)
        }
        let helperPath = arcroot.isEmpty ? "bin/envpack-unpack" : arcroot + "/bin/envpack-unpack"
        return ArchiveReport(entries: entries, files: files, regularBytes: bytes, arcroot: arcroot,
                             hasHelper: helperPaths.contains(helperPath), manifest: manifest)
    }
}
