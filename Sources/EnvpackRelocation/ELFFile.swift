// Reading what relocation needs from an ELF object, through libelf: its
// RPATH/RUNPATH entries and which byte ranges the loader maps at run time.
// A prefix in a section that is never loaded (debug info, `.comment`) cannot
// affect the program, so it never limits where an environment may move.
import CElf
#if canImport(Glibc)
import Glibc
#endif

public struct ELFInfo: Sendable, Equatable {
    public struct DynamicString: Sendable, Equatable {
        public var tag: RPathEntry.Tag
        public var value: String
        /// File offset of the string in `.dynstr`, and its capacity in bytes
        /// (its length; the NUL after it is not counted).
        public var fileOffset: Int
        public var capacity: Int
    }
    /// RPATH and RUNPATH strings, in file order.
    public var rpaths: [DynamicString]
    /// File byte ranges of sections the loader maps (SHF_ALLOC, not NOBITS).
    public var loadedRanges: [Range<Int>]
    /// File byte ranges that belong to some section.
    public var sectionRanges: [Range<Int>]
    /// A relocatable object (`.o`, ET_REL): the loader never maps it; only
    /// a linker reads it.
    public var isRelocatableObject = false

    /// Whether an offset lands in data the loader maps. Bytes outside every
    /// section (headers, padding) are treated as loaded, to be safe.
    public func isLoaded(offset: Int) -> Bool {
        if isRelocatableObject { return false }
        if loadedRanges.contains(where: { $0.contains(offset) }) { return true }
        return !sectionRanges.contains(where: { $0.contains(offset) })
    }

    /// Whether an offset lands inside one of the RPATH/RUNPATH strings.
    public func isInRPath(offset: Int) -> Bool {
        rpaths.contains { offset >= $0.fileOffset && offset - $0.fileOffset < $0.capacity }
    }
}

public enum ELFReadError: Error, Equatable, CustomStringConvertible {
    case cannotOpen(path: String, errno: Int32)
    case malformed(path: String, reason: String)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let e): return "\(path): cannot open: \(String(cString: strerror(e)))"
        case .malformed(let path, let reason): return "\(path): malformed ELF file: \(reason)"
        }
    }
}

private let libelfReady: Bool = elf_version(UInt32(EV_CURRENT)) != UInt32(EV_NONE)

/// True when the bytes start with the ELF magic number.
public func hasELFMagic(_ bytes: UnsafeRawBufferPointer) -> Bool {
    bytes.count >= 4 && bytes[0] == 0x7f && bytes[1] == 0x45 && bytes[2] == 0x4c && bytes[3] == 0x46
}

/// Reads the dynamic strings and section layout of the ELF file at `path`.
/// Returns nil when the file is not ELF.
public func readELFInfo(path: String) throws(ELFReadError) -> ELFInfo? {
    let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
    guard fd >= 0 else { throw .cannotOpen(path: path, errno: errno) }
    defer { close(fd) }
    return try readELFInfo(fd: fd, path: path)
}

/// The same, from an open descriptor. Every number comes from the file and
/// is checked before any arithmetic.
public func readELFInfo(fd: Int32, path: String) throws(ELFReadError) -> ELFInfo? {
    precondition(libelfReady, "libelf version mismatch")
    guard let elf = elf_begin(fd, ELF_C_READ, nil) else {
        throw .malformed(path: path, reason: String(cString: elf_errmsg(-1)))
    }
    defer { elf_end(elf) }
    guard elf_kind(elf) == ELF_K_ELF else { return nil }

    var info = ELFInfo(rpaths: [], loadedRanges: [], sectionRanges: [])
    var header = GElf_Ehdr()
    if gelf_getehdr(elf, &header) != nil, header.e_type == UInt16(ET_REL) { info.isRelocatableObject = true }
    var scn = elf_nextscn(elf, nil)
    while let section = scn {
        defer { scn = elf_nextscn(elf, section) }
        var shdr = GElf_Shdr()
        guard gelf_getshdr(section, &shdr) != nil else {
            throw .malformed(path: path, reason: String(cString: elf_errmsg(-1)))
        }
        guard let start = Int(exactly: shdr.sh_offset), let length = Int(exactly: shdr.sh_size),
              case (let end, false) = start.addingReportingOverflow(length) else {
            throw .malformed(path: path, reason: "section out of range")
        }
        let range = start..<end
        if shdr.sh_type != UInt32(SHT_NOBITS) && !range.isEmpty {
            info.sectionRanges.append(range)
            if shdr.sh_flags & UInt64(SHF_ALLOC) != 0 { info.loadedRanges.append(range) }
        }
        guard shdr.sh_type == UInt32(SHT_DYNAMIC), shdr.sh_entsize > 0 else { continue }

        // The strings of .dynamic live in the section named by sh_link.
        guard let data = elf_getdata(section, nil),
              let strSection = elf_getscn(elf, Int(shdr.sh_link)) else { continue }
        var strHeader = GElf_Shdr()
        guard gelf_getshdr(strSection, &strHeader) != nil else { continue }
        let count = min(Int(shdr.sh_size / shdr.sh_entsize), Int(Int32.max))
        for i in 0..<count {
            var dyn = GElf_Dyn()
            guard gelf_getdyn(data, Int32(i), &dyn) != nil else { break }
            let rawTag = Int32(truncatingIfNeeded: dyn.d_tag)
            if rawTag == DT_NULL { break }
            guard rawTag == DT_RPATH || rawTag == DT_RUNPATH else { continue }
            let tag: RPathEntry.Tag = rawTag == DT_RPATH ? .rpath : .runpath
            guard let stringOffset = Int(exactly: dyn.d_un.d_val), let tableOffset = Int(exactly: strHeader.sh_offset),
                  case (let fileOffset, false) = tableOffset.addingReportingOverflow(stringOffset),
                  let cstr = elf_strptr(elf, Int(shdr.sh_link), stringOffset) else {
                throw .malformed(path: path, reason: "RPATH string out of range")
            }
            let value = String(cString: cstr)
            info.rpaths.append(.init(tag: tag, value: value, fileOffset: fileOffset, capacity: strlen(cstr)))
        }
    }
    return info
}

/// True for an ELF executable with no program interpreter: statically
/// linked, so it runs on a machine with no Swift runtime.
public func isStaticExecutable(path: String) -> Bool {
    precondition(libelfReady, "libelf version mismatch")
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    guard let elf = elf_begin(fd, ELF_C_READ, nil) else { return false }
    defer { elf_end(elf) }
    guard elf_kind(elf) == ELF_K_ELF else { return false }
    var count = 0
    guard elf_getphdrnum(elf, &count) == 0, count > 0 else { return false }
    for i in 0..<count {
        var phdr = GElf_Phdr()
        guard gelf_getphdr(elf, Int32(i), &phdr) != nil else { return false }
        if phdr.p_type == UInt32(PT_INTERP) { return false }
    }
    return true
}
