// Finding the prefix in a file while it streams into the archive, so every
// byte is read once. What is found becomes a manifest entry: which string
// (the environment's prefix, or the package's placeholder when conda left the
// file unpatched), text or binary, shebang, and for ELF files which
// occurrences the loader never maps and which RPATH entries point inside.
#if canImport(Glibc)
import Glibc
#endif

public struct PrefixDetector {
    private var prefixMatcher: StreamingMatcher
    private var placeholderMatcher: StreamingMatcher?
    private var sawNUL = false
    private var firstChunkSeen = false
    private var startsWithShebang = false
    private var firstLine: [UInt8] = []
    private var firstLineDone = false
    public private(set) var isELF = false
    /// The file's first bytes (up to 8), to recognise a static library.
    private var head: [UInt8] = []
    /// Earlier prefixes of the environment: an ELF file whose RPATH or
    /// RUNPATH points into one (or at a build placeholder) is listed even
    /// when it holds no prefix, so relocation fixes that entry.
    public var knownOldPrefixes: [String] = []

    /// - Parameters:
    ///   - prefix: the environment's prefix.
    ///   - placeholder: the package's placeholder for this file, if any.
    public init(prefix: String, placeholder: String?) {
        prefixMatcher = StreamingMatcher(needle: Array(prefix.utf8))
        if let placeholder, placeholder != prefix {
            placeholderMatcher = StreamingMatcher(needle: Array(placeholder.utf8))
        }
    }

    public mutating func feed(_ chunk: UnsafeRawBufferPointer) {
        if !firstChunkSeen {
            firstChunkSeen = true
            isELF = hasELFMagic(chunk)
            startsWithShebang = chunk.count >= 2 && chunk[0] == 0x23 && chunk[1] == 0x21
        }
        if head.count < 8 { head.append(contentsOf: chunk.prefix(8 - head.count)) }
        if startsWithShebang && !firstLineDone {
            if let nl = chunk.firstIndex(of: 0x0a) {
                firstLine.append(contentsOf: chunk[..<nl]); firstLineDone = true
            } else {
                firstLine.append(contentsOf: chunk)
                if firstLine.count > 4096 { firstLineDone = true }
            }
        }
        if !sawNUL, let base = chunk.baseAddress, memchr(base, 0, chunk.count) != nil { sawNUL = true }
        prefixMatcher.feed(chunk)
        placeholderMatcher?.feed(chunk)
    }

    /// The manifest entry for the file, or nil when it holds no prefix.
    /// - Parameter recordMode: the mode a conda-meta record gives, if any.
    public func result(path: String, absolutePath: String, recordMode: PrefixMode?,
                       isManaged: Bool) throws(ELFReadError) -> PrefixFile? {
        if prefixMatcher.offsets.isEmpty && (placeholderMatcher?.offsets.isEmpty ?? true) && !isELF { return nil }
        let fd = open(absolutePath, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw .cannotOpen(path: absolutePath, errno: errno) }
        defer { close(fd) }
        return try result(path: path, fd: fd, display: absolutePath, recordMode: recordMode, isManaged: isManaged)
    }

    /// The same, reading ELF details and padding from an open descriptor.
    func result(path: String, fd: Int32, display: String? = nil, recordMode: PrefixMode?,
                isManaged: Bool) throws(ELFReadError) -> PrefixFile? {
        let absolutePath = display ?? path
        let found: (needle: [UInt8], offsets: [Int])
        if !prefixMatcher.offsets.isEmpty {
            found = (prefixMatcher.needle, prefixMatcher.offsets)
        } else if let m = placeholderMatcher, !m.offsets.isEmpty {
            found = (m.needle, m.offsets)
        } else {
            return try staleRPathEntry(path: path, fd: fd, display: absolutePath, isManaged: isManaged)
        }
        let placeholder = String(decoding: found.needle, as: UTF8.self)
        let mode = recordMode ?? ((isELF || sawNUL) ? .binary : .text)
        var file = PrefixFile(path: path, mode: mode, placeholder: placeholder,
                              isShebang: mode == .text && isShebangLine(firstLine, placeholder: found.needle),
                              isELF: isELF, isManaged: isManaged, offsets: found.offsets)
        var elf: ELFInfo? = nil
        if isELF {
            if let info = try readELFInfo(fd: fd, path: absolutePath) {
                elf = info
                file.exemptOffsets = found.offsets.filter { !info.isLoaded(offset: $0) || info.isInRPath(offset: $0) }
                file.rpaths = info.rpaths.filter {
                    $0.value.containsBytes(of: placeholder) || rpathNamesOldLocation($0.value, knownOld: knownOldPrefixes)
                }
                    .map { RPathEntry(tag: $0.tag, value: $0.value) }
            }
        }
        // A static library, an object file or unmanaged binary data: no
        // occurrence limits a move.
        if mode == .binary && isNeverLoaded(head: head, elf: elf, isELF: isELF, isManaged: isManaged, mode: mode) {
            file.exemptOffsets = found.offsets
        }
        if mode == .binary && found.needle == prefixMatcher.needle {
            file.room = paddingRoom(fd: fd, absolutePath: absolutePath, offsets: found.offsets, elf: elf)
        }
        return file
    }

    /// The entry of an ELF file that holds no prefix but whose RPATH or
    /// RUNPATH names a known old location (libgcc's libgcc_s.so.1 keeps its
    /// build placeholder there; a record calls it prefix-free), or nil.
    private func staleRPathEntry(path: String, fd: Int32, display: String, isManaged: Bool) throws(ELFReadError) -> PrefixFile? {
        guard isELF, let info = try readELFInfo(fd: fd, path: display) else { return nil }
        let stale = info.rpaths.filter { rpathNamesOldLocation($0.value, knownOld: knownOldPrefixes) }
        guard !stale.isEmpty else { return nil }
        return PrefixFile(path: path, mode: .binary, placeholder: String(decoding: prefixMatcher.needle, as: UTF8.self),
                          isELF: true, isManaged: isManaged,
                          rpaths: stale.map { RPathEntry(tag: $0.tag, value: $0.value) })
    }

    /// conda-build's binary placeholder length: conda-build pads the build
    /// prefix to 255 bytes, and conda pads each string it shortens with NULs.
    public static let condaBuildPlaceholderLength = 255

    /// The NUL bytes after each binary string that conda's padding left and
    /// that therefore belong to the string: (placeholder length - prefix
    /// length) per occurrence. The placeholder length is the record's when
    /// it names one, else conda-build's 255. Room is only claimed when that
    /// many NULs really follow the string; anything else gets none.
    private func paddingRoom(fd: Int32, absolutePath: String, offsets: [Int], elf: ELFInfo?) -> [Int: Room] {
        let prefixLength = prefixMatcher.needle.count
        let placeholderLength = placeholderMatcher?.needle.count ?? Self.condaBuildPlaceholderLength
        guard placeholderLength > prefixLength else { return [:] }
        var room: [Int: Room] = [:]
        var coveredUntil = 0
        for offset in offsets.sorted() where offset >= coveredUntil {
            if let elf, elf.isInRPath(offset: offset) { continue }
            guard let window = try? readAt(fd: fd, offset: offset, count: 1 << 16, path: absolutePath),
                  let end = window.firstIndex(of: 0) else { continue }
            let k = offsets.filter { $0 >= offset && $0 < offset + end }.count
            let expected = k * (placeholderLength - prefixLength)
            coveredUntil = offset + end
            // The terminator, then `expected` NULs, must all be zero.
            var run = 0
            var i = end
            while i < window.count && window[i] == 0 && run <= expected { run += 1; i += 1 }
            if run >= expected + 1 { room[offset] = Room(bytes: expected, occurrences: k) }
        }
        return room
    }

    /// `#!` followed (after optional blanks) by a path into the prefix.
    private func isShebangLine(_ line: [UInt8], placeholder: [UInt8]) -> Bool {
        guard startsWithShebang else { return false }
        let body = line.dropFirst(2).drop { $0 == 0x20 || $0 == 0x09 }
        return body.starts(with: placeholder)
    }
}
