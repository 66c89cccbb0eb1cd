// Pack's default: the archive's content runs wherever it is extracted, with
// no unpack step, as far as that can be done. ELF RPATH/RUNPATH entries
// into the environment become `$ORIGIN`-relative (the same bytes, padded
// with NULs), and a `#!PREFIX/bin/INTERPRETER` line becomes a `#!/bin/sh`
// launcher that finds the interpreter from the script's own real path
// (EnvpackRelocation/Shebang.swift). Prefixes in other text and binary data
// stay for the helper; the manifest describes what the archive holds.
import EnvpackRelocation
#if canImport(Glibc)
import Glibc
#endif

struct PortableEdits {
    var edits: [Edit] = []
    /// RPATH/RUNPATH values rewritten (as they are on disk).
    var rewrittenRPaths: Set<String> = []
    /// For a launcher: the original interpreter inside the root and its
    /// argument (what the manifest's `shebang` record keeps).
    var originalShebang: String? = nil
    var isEmpty: Bool { edits.isEmpty }

    /// Bytes of a file's head read to plan a launcher.
    static let headSize = 16384

    /// The edits for the file `path` (relative to the root) open at `fd`.
    /// Anything unusual (an RPATH that does not fit, an interpreter the
    /// environment lacks or envpack cannot launch) is left to the helper.
    static func plan(fd: Int32, path: String, display: String, size: Int, root: String, prefix: String,
                     knownOld: [String]) -> PortableEdits {
        var result = PortableEdits()
        guard size >= 4, let head = try? readAt(fd: fd, offset: 0, count: min(size, headSize), path: display) else { return result }
        if head[0] == 0x7f && head[1] == 0x45 && head[2] == 0x4c && head[3] == 0x46 {
            guard let info = (try? readELFInfo(fd: fd, path: display)) ?? nil else { return result }
            for rpath in info.rpaths {
                var value = relocatedRPath(rpath.value, placeholder: prefix, objectDirectory: parentDirectory(path), knownOld: knownOld)
                if value.utf8.count > rpath.capacity {
                    value = relocatedRPath(rpath.value, placeholder: prefix, objectDirectory: parentDirectory(path),
                                           knownOld: knownOld, dropKnownOld: true)
                }
                guard value != rpath.value, value.utf8.count <= rpath.capacity,
                      rpath.fileOffset >= 0, rpath.fileOffset + rpath.capacity <= size else { continue }
                result.edits.append(Edit(offset: rpath.fileOffset, expected: Array(rpath.value.utf8),
                                         replacement: Array(value.utf8) + [UInt8](repeating: 0, count: rpath.capacity - value.utf8.count)))
                result.rewrittenRPaths.insert(rpath.value)
            }
            result.edits.sort { $0.offset < $1.offset }
            // From a malformed file: two strings at one place are left alone.
            for (a, b) in zip(result.edits, result.edits.dropFirst()) where b.offset < a.offset + a.length { return PortableEdits() }
            return result
        }
        guard head[0] == 0x23, head[1] == 0x21, let nl = head.firstIndex(of: 0x0a) else { return result }
        if let (edits, original) = portableShebangEdits(line: Array(head[0..<nl]), rest: head[(nl + 1)...], scriptPath: path,
                                                        prefix: prefix, interpreterExists: { interpreterExists(root: root, inside: $0) }) {
            result.edits = edits
            result.originalShebang = original
        }
        return result
    }
}

extension PortableEdits {
    /// The manifest entry of a file as the archive holds it: RPATH entries
    /// made relative are no longer listed, and a file that holds no prefix
    /// now but that envpack changed (an RPATH, a launcher; in this pack or
    /// an earlier move, `earlier`) keeps an entry with no occurrences, so
    /// a later pack checks it against its package as such.
    static func entry(_ found: PrefixFile?, path: String, portable: PortableEdits, prefix: String,
                      isManaged: Bool, earlier: PrefixFile?) -> PrefixFile? {
        var file = found
        if file != nil, !portable.rewrittenRPaths.isEmpty {
            file!.rpaths.removeAll { portable.rewrittenRPaths.contains($0.value) }
        }
        if file == nil, !portable.isEmpty || earlier != nil {
            let isELF = !portable.rewrittenRPaths.isEmpty || (portable.isEmpty && earlier?.isELF == true)
            file = PrefixFile(path: path, mode: isELF ? .binary : (earlier?.mode ?? .text), placeholder: prefix,
                              isELF: isELF, isManaged: isManaged)
        }
        if let original = portable.originalShebang ?? earlier?.originalShebang { file?.originalShebang = original }
        return file
    }
}
