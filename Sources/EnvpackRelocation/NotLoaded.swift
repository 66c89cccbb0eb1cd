// Which prefix occurrences no program reads at run time, so that a prefix
// that does not fit there never refuses a move: static libraries (`ar`
// archives of objects, e.g. python's config-*/libpython*.a), relocatable
// objects (`.o`, ELF ET_REL), sections of an ELF file the loader does not map
// (debug info, `.comment`), and binary data no conda package installed (a
// cache a tool wrote, say). Such occurrences are rewritten where the new
// prefix fits and otherwise left as they are, listed by `--check` and
// `inspect` as "left (not loaded at run time)". Everything else in a binary
// file is treated as loaded: a prefix that does not fit there refuses.
#if canImport(Glibc)
import Glibc
#endif

/// True when the bytes start with an `ar` archive's magic (`!<arch>\n`, or
/// GNU's thin archive `!<thin>\n`): a static library.
public func hasArchiveMagic<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> Bool {
    let head = Array(bytes.prefix(8))
    return head == Array("!<arch>\n".utf8) || head == Array("!<thin>\n".utf8)
}

/// Whether a whole file is never loaded at run time.
/// - Parameters:
///   - head: its first bytes (at least 8 when the file has them).
///   - elf: its ELF details when it is an ELF file.
public func isNeverLoaded(head: [UInt8], elf: ELFInfo?, isELF: Bool, isManaged: Bool, mode: PrefixMode) -> Bool {
    if hasArchiveMagic(head) { return true }
    if let elf { return elf.isRelocatableObject }
    // Binary data that no package installed and that is not a program or
    // library: nothing the environment ships loads it by its path.
    return !isELF && !isManaged && mode == .binary
}

/// The sentence every front end prints once after a relocation that left
/// occurrences in data not loaded at run time.
public func leftOccurrencesWarning(files: [String], to: String) -> String? {
    guard !files.isEmpty else { return nil }
    let named = files.prefix(3).joined(separator: ", ") + (files.count > 3 ? " and \(files.count - 3) more" : "")
    return "\(files.count) file(s) keep their old prefix where it is not loaded at run time and \(to) (\(to.utf8.count) bytes) does not fit (static libraries, object files, debug data, unmanaged binary data): left as they are (\(named)); `envpack-unpack --check` lists them"
}
