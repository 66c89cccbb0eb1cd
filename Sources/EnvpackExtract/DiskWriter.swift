// Writing extracted entries to disk, relative to the destination's open
// descriptor. envpack does not use libarchive's disk writer
// (archive_write_disk) because
// - it calls umask(0)/umask(old) to learn the umask, which is process-wide:
//   with packages extracted on several threads another thread's files and
//   folders were created 0666/0777;
// - it reports a failed write(2) (ENOSPC, EIO, EFBIG) as ARCHIVE_WARN, so
//   a full disk gave zero-filled files and exit 0;
// - it resolves paths by name and chdir, where openat with O_NOFOLLOW makes
//   "never through a symlink" the kernel's job too.
// Here every folder on the way is opened with O_NOFOLLOW from the
// destination's descriptor (created 0755 when the archive does not list it),
// files are created with O_EXCL (an archive naming a file twice is refused,
// never merged), every write and close is checked, and modes (without
// set-id bits) and times are set on the open descriptor. Folders get their
// own mode and time last, deepest first, so a read-only folder can still be
// filled. The umask is never touched.
// Asked to, it hashes each regular file's data (sha256) as it writes it, so
// `envpack install` checks a package against its info/paths.json without
// reading every file back.
#if canImport(Glibc)
import Glibc
#endif

/// A regular file's data as DiskWriter wrote it: sha256 (lowercase hex) and size.
public struct FileDigest: Sendable, Equatable {
    public var sha256: String
    public var size: Int
    public init(sha256: String, size: Int) {
        self.sha256 = sha256
        self.size = size
    }
}

public final class DiskWriter {
    /// What to give an entry besides its data.
    struct Metadata {
        var mode: mode_t
        var mtime: timespec?
        var atime: timespec?
        /// Owner to restore (`--same-owner`), else nil.
        var owner: (uid: uid_t, gid: gid_t)?
    }

    private let rootFD: Int32
    private let archive: String
    /// Open folders by path relative to the root ("" is the root itself).
    private var folders: [String: Int32] = [:]
    /// Mode and times of the folders the archive listed, set at the end.
    private var folderFixups: [String: Metadata] = [:]

    init(root: String, archive: String) throws {
        self.archive = archive
        rootFD = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard rootFD >= 0 else { throw ExtractError.writeFailed(path: root, reason: errnoMessage()) }
    }

    deinit {
        for fd in folders.values { close(fd) }
        close(rootFD)
    }

    private func failure(_ entry: String, _ what: String, _ code: Int32 = errno) -> ExtractError {
        .archive(path: archive, reason: "entry \(entry): cannot \(what): \(errnoMessage(code))")
    }
    private func refusal(_ entry: String, _ why: String) -> ExtractError {
        .archive(path: archive, reason: "refusing entry \(entry): \(why)")
    }

    /// The open folder at `components` (relative to the root), made (0755,
    /// less the umask, as tar does) when missing unless `create` is false.
    /// A symlink or file on the way is refused.
    private func folder(_ components: ArraySlice<String>, entry: String, create: Bool = true) throws -> Int32 {
        if components.isEmpty { return rootFD }
        let key = components.joined(separator: "/")
        if let fd = folders[key] { return fd }
        let parent = try folder(components.dropLast(), entry: entry, create: create)
        let name = components.last!
        var fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if fd < 0 && errno == ENOENT && create {
            if mkdirat(parent, name, 0o755) != 0 && errno != EEXIST { throw failure(entry, "create the folder \(key)") }
            fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        }
        if fd < 0 {
            if errno == ELOOP || errno == ENOTDIR { throw refusal(entry, "\(key) is not a folder (a symlink or a file)") }
            if errno == ENOENT && !create { throw refusal(entry, "the folder \(key) was not extracted before it") }
            throw failure(entry, "open the folder \(key)")
        }
        folders[key] = fd
        return fd
    }

    /// Keeps the open folders bounded (tens of thousands of folders must
    /// not exhaust descriptors); called before each entry, never while a
    /// folder's descriptor is in use.
    private func trimCache() {
        if folders.count >= 512 {
            for fd in folders.values { close(fd) }
            folders.removeAll(keepingCapacity: true)
        }
    }

    private func times(_ meta: Metadata) -> [timespec]? {
        guard meta.mtime != nil || meta.atime != nil else { return nil }
        let omit = timespec(tv_sec: 0, tv_nsec: (1 << 30) - 2)  // UTIME_OMIT
        return [meta.atime ?? meta.mtime ?? omit, meta.mtime ?? omit]
    }

    /// Owner, mode and times of an open file or folder.
    private func apply(_ meta: Metadata, to fd: Int32, entry: String) throws {
        if let owner = meta.owner, fchown(fd, owner.uid, owner.gid) != 0 { throw failure(entry, "set its owner") }
        if fchmod(fd, meta.mode & 0o1777) != 0 { throw failure(entry, "set its mode") }
        if let t = times(meta), futimens(fd, t) != 0 { throw failure(entry, "set its time") }
    }

    func makeFolder(_ components: [String], entry: String, meta: Metadata) throws {
        trimCache()
        guard let name = components.last else { return }  // the root itself: its mode is the caller's
        let parent = try folder(components.dropLast(), entry: entry)
        if mkdirat(parent, name, 0o700) != 0 {
            guard errno == EEXIST else { throw failure(entry, "create it") }
            var st = stat()
            guard fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0, st.st_mode & S_IFMT == S_IFDIR else {
                throw refusal(entry, "the archive holds it twice (once not as a folder)")
            }
        }
        folderFixups[components.joined(separator: "/")] = meta
    }

    /// Creates a regular file and writes the data `body` hands to `write`
    /// (blocks with their offsets; holes stay holes). With `hash`, returns
    /// the sha256 and size of what was written, unless the file has holes
    /// (a crafted sparse entry must not make envpack hash terabytes of
    /// zeros: such a file is read back by whoever needs its hash).
    @discardableResult
    func makeFile(_ components: [String], entry: String, size: Int64, meta: Metadata, hash: Bool = false,
                  body: ((UnsafeRawBufferPointer, Int64) throws -> Void) throws -> Void) throws -> FileDigest? {
        trimCache()
        let parent = try folder(components.dropLast(), entry: entry)
        let fd = openat(parent, components.last!, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            if errno == EEXIST { throw refusal(entry, "the archive holds it twice") }
            throw failure(entry, "create it")
        }
        var closed = false
        defer { if !closed { close(fd) } }
        var position: Int64 = 0
        var hasher: SHA256Hasher? = hash ? SHA256Hasher() : nil
        try body { block, offset in
            if offset != position {
                guard offset > position, lseek(fd, off_t(offset), SEEK_SET) == offset else {
                    throw refusal(entry, "its data blocks are out of order")
                }
                position = offset
                hasher = nil
            }
            hasher?.update(bufferPointer: block)
            var rest = block
            while !rest.isEmpty {
                let n = write(fd, rest.baseAddress, rest.count)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { throw failure(entry, "write it", n == 0 ? EIO : errno) }
                rest = UnsafeRawBufferPointer(rebasing: rest[n...])
                position += Int64(n)
            }
        }
        // A sparse file may end in a hole.
        if size > position {
            if ftruncate(fd, off_t(size)) != 0 { throw failure(entry, "write it") }
            hasher = nil
        }
        try apply(meta, to: fd, entry: entry)
        closed = true
        if close(fd) != 0 { throw failure(entry, "write it") }
        guard var hasher else { return nil }
        return FileDigest(sha256: hasher.finalizeHex(), size: Int(position))
    }

    func makeSymlink(_ components: [String], entry: String, target: String, meta: Metadata) throws {
        trimCache()
        let parent = try folder(components.dropLast(), entry: entry)
        let name = components.last!
        if symlinkat(target, parent, name) != 0 {
            if errno == EEXIST { throw refusal(entry, "the archive holds it twice") }
            throw failure(entry, "create the symlink")
        }
        if let owner = meta.owner, fchownat(parent, name, owner.uid, owner.gid, AT_SYMLINK_NOFOLLOW) != 0 {
            throw failure(entry, "set its owner")
        }
        if let t = times(meta), utimensat(parent, name, t, AT_SYMLINK_NOFOLLOW) != 0 { throw failure(entry, "set its time") }
    }

    /// A hardlink to a regular file extracted before it, reached through
    /// no symlink.
    func makeHardlink(_ components: [String], entry: String, target: [String], targetName: String) throws {
        trimCache()
        let targetParent = try folder(target.dropLast(), entry: entry, create: false)
        var st = stat()
        guard fstatat(targetParent, target.last!, &st, AT_SYMLINK_NOFOLLOW) == 0, st.st_mode & S_IFMT == S_IFREG else {
            throw refusal(entry, "hardlink to \(targetName), which is not a regular file extracted before it")
        }
        let parent = try folder(components.dropLast(), entry: entry)
        if linkat(targetParent, target.last!, parent, components.last!, 0) != 0 {
            if errno == EEXIST { throw refusal(entry, "the archive holds it twice") }
            throw failure(entry, "create the hardlink")
        }
    }

    /// Sets the listed folders' modes and times, deepest first.
    func finish() throws {
        for path in folderFixups.keys.sorted(by: >) {
            trimCache()
            let components = path.split(separator: "/").map(String.init)
            let fd = try folder(components[...], entry: path, create: false)
            try apply(folderFixups[path]!, to: fd, entry: path)
        }
        for fd in folders.values { close(fd) }
        folders.removeAll()
    }
}
