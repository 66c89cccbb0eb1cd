// `envpack-unpack ARCHIVE DEST`: unpacking without envpack, zstd or tar on
// the machine. The extraction is envpack's own (EnvpackExtract: the same
// checks as `envpack unpack`), into a staging folder beside DEST (Staging),
// then the relocation to DEST's path, then one rename. For a self-extractor
// (`sh env.sh DEST`) the archive is a range of the .sh file whose sha256 the
// header gives: it is checked before anything is written anywhere.
import EnvpackExtract
import EnvpackRelocation
#if canImport(Glibc)
import Glibc
#endif

/// Where the archive sits in a self-extractor, and its sha256.
struct Payload {
    var offset: Int64
    var length: Int64
    var sha256: String

    /// "OFFSET:LENGTH:SHA256".
    init?(_ spec: String) {
        let parts = spec.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, let o = Int64(parts[0]), let l = Int64(parts[1]), o >= 0, l > 0,
              parts[2].count == 64, parts[2].allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else { return nil }
        offset = o; length = l; sha256 = String(parts[2])
    }

    /// Reads the range and compares its sha256 with the expected one.
    func verify(in path: String) throws(ExtractError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .unreadable(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, Int64(st.st_size) >= offset + length else {
            throw .archive(path: path, reason: "the file is truncated: the archive inside it should end at byte \(offset + length); nothing was written")
        }
        var hasher = SHA256Hasher()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        var position = offset, left = length
        while left > 0 {
            let n = pread(fd, buffer.baseAddress, Int(min(Int64(buffer.count), left)), off_t(position))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw .unreadable(path: path, reason: n == 0 ? "it ends early" : String(cString: strerror(errno))) }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            position += Int64(n); left -= Int64(n)
        }
        let found = hasher.finalizeHex()
        guard found == sha256 else {
            throw .archive(path: path, reason: "the archive inside it is damaged (its sha256 is \(found), the header says \(sha256)); nothing was written: copy the file again")
        }
    }
}

nonisolated(unsafe) var interruptRequested: sig_atomic_t = 0

/// SIGINT, SIGTERM, SIGHUP: the extraction stops at the next entry and the
/// staging folder is removed; a second signal ends the process at once.
func watchInterrupts() {
    let handler: @convention(c) (Int32) -> Void = { signal in
        if interruptRequested != 0 { _exit(128 + signal) }
        interruptRequested = 1
    }
    for s in [SIGINT, SIGTERM, SIGHUP] { signal(s, handler) }
}

func unpackArchive(_ archive: String, into destination: String, force: Bool, payload: Payload?, quiet: Bool) -> Never {
    let shown = archive == "-" ? "standard input" : archive
    do {
        if let payload { try payload.verify(in: archive) }
        watchInterrupts()
        let staging = try Staging(destination: destination, force: force)
        do {
            // Hashed again as it is read: what is extracted is what was checked.
            let reader = try ArchiveReader(path: archive, range: payload.map { ($0.offset, $0.length) }, expectedSHA256: payload?.sha256)
            let extraction = try Extractor.run(reader: reader, into: staging.staging) {
                if interruptRequested != 0 { throw ExtractError.refused("interrupted; nothing was left at the destination") }
            }
            try ExtractedTree.refuseLinkedManifestOrJournal(in: staging.staging, archive: shown)
            guard let folder = ExtractedTree.environmentFolder(in: staging.staging) else {
                throw ExtractError.archive(path: shown, reason: "no \(Manifest.relativePath) inside: not an envpack archive (for a conda-pack archive use `envpack unpack`)")
            }
            let root = folder.isEmpty ? staging.staging : staging.staging + "/" + folder
            let target = folder.isEmpty ? staging.destination : staging.destination + "/" + folder
            let relocator = Relocator(root: root, to: target)
            let manifest = try relocator.loadManifest()
            let plan = try relocator.plan(manifest)
            try relocator.apply(plan)
            if interruptRequested != 0 { throw ExtractError.refused("interrupted; nothing was left at the destination") }
            try staging.commit()
            staging.finish()
            if !quiet {
                say("unpacked \(extraction.entries) entries to \(target); relocated \(plan.files.count) files from \(plan.from)", to: 2)
            }
        } catch {
            staging.finish()
            throw error
        }
    } catch {
        fail("\(error)")
    }
    exit(0)
}

func listArchive(_ archive: String, payload: Payload?) -> Never {
    do {
        if let payload { try payload.verify(in: archive) }
        let reader = try ArchiveReader(path: archive, range: payload.map { ($0.offset, $0.length) }, expectedSHA256: payload?.sha256)
        while let entry = try reader.next() {
            say(entry.symlink.map { "\(entry.path) -> \($0)" } ?? entry.path)
        }
    } catch {
        fail("\(error)")
    }
    exit(0)
}
