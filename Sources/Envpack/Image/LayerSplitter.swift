// The environment's files as image layers: the archive `pack` wrote (plain
// tar, relocated to the image's prefix, entries under that prefix) is read
// once and its entries dealt into layer tars: all into one, or with
// `--layers package` one layer per conda package plus one for the rest
// (folders, conda-meta, the helper, files no package owns). Every layer
// carries the folders above its entries, so each one unpacks on its own.
// Entries keep pack's order, owners and clamped times: the same environment
// gives the same layers, byte for byte.
import CArchive
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct LayerSplitter {
    /// The packed tar (entries under `root`, e.g. "opt/env").
    let packedTar: String
    let root: String
    /// Where the layer tars are written.
    let folder: String
    /// Layers by name, in image order; the last one takes everything the
    /// others do not.
    let layerNames: [String]
    /// For a path relative to the environment, the index of its layer in
    /// `layerNames` (nil: the last).
    let owner: (String) -> Int?
    /// The time of folders the layers add above the environment.
    let mtime: Int

    struct Layer {
        var name: String
        var tarPath: String
    }

    private final class Output {
        let writer: ArchiveWriter
        let fd: Int32
        let path: String
        var folders: Set<String> = []
        var closed = false
        init(path: String) throws {
            fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw EnvpackError.writeFailed(path: path, reason: errnoMessage()) }
            self.path = path
            do {
                writer = try ArchiveWriter(fd: fd, format: .tar, level: nil, threads: 1, displayPath: path)
            } catch {
                close(fd)
                throw error
            }
        }
    }

    /// Writes the layers that received entries; empty ones are left out.
    func split() throws -> [Layer] {
        try asEnvpackError { try splitEntries() }
    }

    private func splitEntries() throws -> [Layer] {
        let reader = try ArchiveReader(path: packedTar)
        var outputs: [Int: Output] = [:]
        var folderMeta: [String: (mode: UInt32, mtime: Int)] = [:]
        var layerOf: [String: Int] = [:]
        let rest = layerNames.count - 1
        let rootSlash = root + "/"

        func output(_ index: Int) throws -> Output {
            if let o = outputs[index] { return o }
            let o = try Output(path: folder + "/layer-\(index).tar")
            outputs[index] = o
            return o
        }
        func addParents(of path: String, to o: Output) throws {
            var ancestor = ""
            for component in path.split(separator: "/").dropLast() {
                ancestor += ancestor.isEmpty ? String(component) : "/" + component
                if o.folders.insert(ancestor).inserted {
                    let meta = folderMeta[ancestor] ?? (0o755, mtime)
                    try o.writer.begin(path: ancestor, kind: .directory, mode: meta.mode, mtime: meta.mtime)
                }
            }
        }

        do {
            while let e = try reader.nextRaw() {
                var path = reader.currentPath
                while path.hasSuffix("/") { path.removeLast() }
                // A hardlink entry may carry no file type of its own.
                let type = reader.currentHardlink != nil ? fileTypeRegular : UInt32(archive_entry_filetype(e))
                let mode = UInt32(archive_entry_perm(e))
                let entryTime = archive_entry_mtime(e)
                let relative = path.hasPrefix(rootSlash) ? String(path.dropFirst(rootSlash.count)) : nil
                var index = rest
                if type == fileTypeDirectory {
                    folderMeta[path] = (mode, entryTime)
                } else if let hard = reader.currentHardlink {
                    index = layerOf[hard] ?? rest
                } else if let relative, let i = owner(relative) {
                    index = i
                }
                let o = try output(index)
                try addParents(of: path, to: o)
                switch type {
                case fileTypeDirectory:
                    if o.folders.insert(path).inserted {
                        try o.writer.begin(path: path, kind: .directory, mode: mode, mtime: entryTime)
                    }
                case fileTypeSymlink:
                    try o.writer.begin(path: path, kind: .symlink(target: reader.currentSymlink ?? ""), mode: 0o777, mtime: entryTime)
                case fileTypeRegular:
                    if let hard = reader.currentHardlink {
                        try o.writer.begin(path: path, kind: .hardlink(target: hard), mode: mode, mtime: entryTime)
                    } else {
                        layerOf[path] = index
                        let size = Int(archive_entry_size(e))
                        try o.writer.begin(path: path, kind: .file(size: size), mode: mode, mtime: entryTime)
                        var written = 0
                        try reader.readData { chunk in
                            written += chunk.count
                            try o.writer.write(chunk)
                        }
                        guard written == size else {
                            throw EnvpackError.archive(path: packedTar, reason: "\(path): \(written) bytes where the header says \(size)")
                        }
                    }
                default:
                    throw EnvpackError.archive(path: packedTar, reason: "\(path): an entry type an image layer does not take")
                }
            }
            var layers: [Layer] = []
            for index in outputs.keys.sorted() {
                let o = outputs[index]!
                try o.writer.finish()
                o.closed = true
                guard close(o.fd) == 0 else { throw EnvpackError.writeFailed(path: o.path, reason: errnoMessage()) }
                layers.append(Layer(name: layerNames[index], tarPath: o.path))
            }
            return layers
        } catch {
            for o in outputs.values where !o.closed {
                o.writer.abandon()
                close(o.fd)
            }
            throw error
        }
    }
}
