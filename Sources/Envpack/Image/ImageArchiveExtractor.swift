// A base image given as a tar (oci-archive:, docker-archive:) is untrusted
// input: it is unpacked into a scratch folder envpack made, taking only
// regular files and folders with plain relative names (no '..', no
// absolute paths, no duplicates), bounded in count and size, so nothing it
// names can reach outside that folder. Symlinks (`docker save` and skopeo
// link a layer.tar to a shared file) become hard links to the regular file
// they lead to inside the folder; any other link is refused. The layout reader then
// works on the folder as on an oci: base.
import CArchive
import Foundation
#if canImport(Glibc)
import Glibc
#endif

enum ImageArchiveExtractor {
    static let maxEntries = 100_000
    static let maxBytes = 64 << 30

    static func extract(_ archive: String, into folder: String) throws {
        try asEnvpackError { try extractEntries(archive, into: folder) }
    }

    private static func extractEntries(_ archive: String, into folder: String) throws {
        let reader = try ArchiveReader(path: archive)
        func refuse(_ why: String) -> EnvpackError { .archive(path: archive, reason: why) }
        var seen: Set<String> = []
        var files: Set<String> = []
        var links: [String: String] = [:]
        var total = 0
        while let e = try reader.nextRaw() {
            guard seen.count < maxEntries else { throw refuse("more than \(maxEntries) entries, too many for an image") }
            var name = reader.currentPath
            while name.hasPrefix("./") { name.removeFirst(2) }
            while name.hasSuffix("/") { name.removeLast() }
            if name.isEmpty || name == "." { continue }
            let parts = name.split(separator: "/", omittingEmptySubsequences: false)
            guard !name.hasPrefix("/"), !parts.contains(where: { $0.isEmpty || $0 == ".." || $0 == "." }) else {
                throw refuse("refusing entry \(name.debugDescription): an image archive holds plain relative names only")
            }
            guard seen.insert(name).inserted else { throw refuse("refusing entry \(name): it appears twice") }
            let type = UInt32(archive_entry_filetype(e))
            // Folders above an entry are made here (0755), whatever the archive says.
            var parent = folder
            for part in parts.dropLast() {
                parent += "/" + part
                if mkdir(parent, 0o755) != 0 && errno != EEXIST { throw EnvpackError.writeFailed(path: parent, reason: errnoMessage()) }
                guard FileStatus.lstat(parent)?.kind == .directory else { throw refuse("refusing entry \(name): a file stands where its folder goes") }
            }
            let target = folder + "/" + name
            switch type {
            case fileTypeDirectory:
                if mkdir(target, 0o755) != 0 && errno != EEXIST { throw EnvpackError.writeFailed(path: target, reason: errnoMessage()) }
                guard FileStatus.lstat(target)?.kind == .directory else { throw refuse("refusing entry \(name): a file stands where its folder goes") }
            case fileTypeRegular where reader.currentHardlink == nil:
                let size = Int(archive_entry_size(e))
                guard size >= 0, total + size <= maxBytes else { throw refuse("more than \(maxBytes >> 30) GiB of content, too large for a base image") }
                total += size
                let fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
                guard fd >= 0 else { throw EnvpackError.writeFailed(path: target, reason: errnoMessage()) }
                var written = 0
                do {
                    try reader.readData { chunk in
                        written += chunk.count
                        guard written <= size else { throw refuse("\(name): more data than its header says") }
                        try writeAll(fd: fd, chunk, displayPath: target)
                    }
                } catch {
                    close(fd)
                    throw error
                }
                guard close(fd) == 0 else { throw EnvpackError.writeFailed(path: target, reason: errnoMessage()) }
                guard written == size else { throw refuse("\(name): \(written) bytes where its header says \(size)") }
                files.insert(name)
            case fileTypeSymlink where reader.currentSymlink != nil:
                links[name] = try inside(reader.currentSymlink!, from: name, refuse)
            default:
                throw refuse("refusing entry \(name): hard links and special files are not taken from an image archive")
            }
        }
        for (name, first) in links.sorted(by: { $0.key < $1.key }) {
            var target = first
            var hops = 0
            while let next = links[target] {
                hops += 1
                guard hops < 16 else { throw refuse("refusing link \(name): too many links in a row") }
                target = next
            }
            guard files.contains(target) else {
                throw refuse("refusing link \(name): it does not lead to a file of the archive")
            }
            guard link(folder + "/" + target, folder + "/" + name) == 0 else {
                throw EnvpackError.writeFailed(path: folder + "/" + name, reason: errnoMessage())
            }
        }
    }

    /// A symlink's target as a name inside the archive, or a refusal when
    /// it is absolute or climbs out.
    private static func inside(_ target: String, from name: String, _ refuse: (String) -> EnvpackError) throws -> String {
        guard !target.hasPrefix("/") else { throw refuse("refusing link \(name) -> \(target): it points outside the archive") }
        var parts = name.split(separator: "/").dropLast().map(String.init)
        for part in target.split(separator: "/") {
            switch part {
            case ".": continue
            case "..":
                guard !parts.isEmpty else { throw refuse("refusing link \(name) -> \(target): it points outside the archive") }
                parts.removeLast()
            default: parts.append(String(part))
            }
        }
        return parts.joined(separator: "/")
    }
}
