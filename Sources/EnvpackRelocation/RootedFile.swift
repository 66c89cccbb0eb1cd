// Opening files named by the manifest without ever leaving the environment.
// The manifest comes from an archive, so its paths are hostile input: each
// is checked for shape (relative, no `.`/`..`/empty components, not inside
// conda-meta/envpack/), then reached one component at a time with
// openat(O_NOFOLLOW) from the root's descriptor, so a symlink anywhere on
// the way (one the archive itself created) stops the walk instead of being
// followed. Only regular files are opened for reading, with O_NONBLOCK so a
// FIFO or device named by the manifest can never block.
#if canImport(Glibc)
import Glibc
#endif

/// Why a manifest path is not acceptable, or nil when it is.
public func unsafePathReason(_ path: String) -> String? {
    if path.isEmpty { return "empty path" }
    if path.hasPrefix("/") { return "absolute path" }
    if path.utf8.contains(0) { return "path holds a NUL byte" }
    if path.utf8.count > 4096 { return "path longer than 4096 bytes" }
    for component in path.split(separator: "/", omittingEmptySubsequences: false) {
        if component.isEmpty { return "path has an empty component" }
        if component == "." || component == ".." { return "path has a '\(component)' component" }
        if component.utf8.count > 255 { return "path has a component longer than 255 bytes" }
    }
    let reserved = parentDirectory(Manifest.relativePath)
    if path == reserved || path.hasPrefix(reserved + "/") { return "path is inside \(reserved)/, which envpack owns" }
    return nil
}

/// An open folder inside the root and a name in it.
struct RootedName {
    let directory: Int32
    let name: String
    func close() { _ = Glibc.close(directory) }
}

/// Opens the folder that holds `relative` (a path already checked with
/// `unsafePathReason`), walking from `root` without following any symlink.
/// Throws with errno ENOENT in `missing` when a folder on the way is absent.
func openParent(root: String, relative: String, create: Bool = false) throws(FileIOError) -> RootedName {
    let display = joinPath(root, relative)
    var fd = open(root.isEmpty ? "/" : root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0 else { throw FileIOError(path: root, reason: errnoText()) }
    let components = relative.split(separator: "/").map(String.init)
    for component in components.dropLast() {
        var next = openat(fd, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if next < 0 && errno == ENOENT && create {
            if mkdirat(fd, component, 0o755) != 0 && errno != EEXIST {
                let reason = errnoText(); close(fd)
                throw FileIOError(path: display, reason: "cannot create folder \(component): \(reason)")
            }
            next = openat(fd, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        }
        if next < 0 {
            let code = errno
            close(fd)
            if code == ELOOP || code == ENOTDIR {
                throw FileIOError(path: display, reason: "'\(component)' on the way is a symlink or not a folder")
            }
            throw FileIOError(path: display, reason: errnoText(code), code: code)
        }
        close(fd)
        fd = next
    }
    return RootedName(directory: fd, name: components.last ?? ".")
}

/// What is at `name` in `directory`, without following a symlink; nil when
/// nothing is there.
func statAt(_ directory: Int32, _ name: String) -> stat? {
    var st = stat()
    return fstatat(directory, name, &st, AT_SYMLINK_NOFOLLOW) == 0 ? st : nil
}

func fileTypeName(_ mode: mode_t) -> String {
    switch mode & S_IFMT {
    case S_IFREG: return "a regular file"
    case S_IFDIR: return "a folder"
    case S_IFLNK: return "a symlink"
    case S_IFIFO: return "a FIFO"
    case S_IFCHR: return "a character device"
    case S_IFBLK: return "a block device"
    case S_IFSOCK: return "a socket"
    default: return "not a regular file"
    }
}

/// Opens an existing regular file for reading: never a symlink, and never
/// opens (let alone blocks on) a FIFO or device. Returns the descriptor and
/// its status.
func openRegularAt(_ directory: Int32, _ name: String, display: String) throws(FileIOError) -> (fd: Int32, status: stat) {
    guard let before = statAt(directory, name) else { throw FileIOError(path: display, reason: errnoText(), code: errno) }
    guard (before.st_mode & S_IFMT) == S_IFREG else {
        throw FileIOError(path: display, reason: "is \(fileTypeName(before.st_mode)), not a regular file")
    }
    let fd = openat(directory, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
    guard fd >= 0 else { throw FileIOError(path: display, reason: errnoText(), code: errno) }
    var st = stat()
    guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
        close(fd)
        throw FileIOError(path: display, reason: "is not a regular file")
    }
    return (fd, st)
}

/// Opens an existing regular file by absolute path (the last component is
/// never followed when it is a symlink, FIFOs and devices are refused).
public func openRegularFile(_ path: String) throws(FileIOError) -> (fd: Int32, status: stat) {
    let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
    guard fd >= 0 else {
        let code = errno
        throw FileIOError(path: path, reason: code == ELOOP ? "is a symlink, not a regular file" : errnoText(code), code: code)
    }
    var st = stat()
    guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
        close(fd)
        throw FileIOError(path: path, reason: "is \(fileTypeName(st.st_mode)), not a regular file")
    }
    return (fd, st)
}

/// Opens `relative` inside `root` for reading, refusing unsafe paths,
/// symlinks on the way and anything but a regular file.
func openRegularInside(root: String, _ relative: String) throws(FileIOError) -> (fd: Int32, status: stat) {
    let display = joinPath(root, relative)
    if let reason = unsafePathReason(relative) { throw FileIOError(path: display, reason: reason) }
    let parent = try openParent(root: root, relative: relative)
    defer { parent.close() }
    return try openRegularAt(parent.directory, parent.name, display: display)
}

/// Writes `contents` as `name` in `directory` through a temporary file and
/// a rename. A symlink (or anything) planted at the temporary name is
/// removed, never followed: the temporary file is created with O_EXCL and
/// O_NOFOLLOW.
func writeFileAtomically(directory: Int32, name: String, display: String, mode: mode_t = 0o644,
                         _ produce: (_ write: ([UInt8]) throws(FileIOError) -> Void) throws(FileIOError) -> Void) throws(FileIOError) {
    let temporary = name + ".envpack-tmp"
    unlinkat(directory, temporary, 0)
    let fd = openat(directory, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
    guard fd >= 0 else { throw FileIOError(path: display + ".envpack-tmp", reason: errnoText()) }
    do throws(FileIOError) {
        try produce { (bytes: [UInt8]) throws(FileIOError) in
            try writeFully(fd: fd, bytes, path: display + ".envpack-tmp")
        }
        guard fsync(fd) == 0 else { throw FileIOError(path: display + ".envpack-tmp", reason: errnoText()) }
    } catch {
        close(fd); unlinkat(directory, temporary, 0)
        throw error
    }
    guard close(fd) == 0 else {
        let reason = errnoText()
        unlinkat(directory, temporary, 0)
        throw FileIOError(path: display + ".envpack-tmp", reason: reason)
    }
    guard renameat(directory, temporary, directory, name) == 0 else {
        let reason = errnoText()
        unlinkat(directory, temporary, 0)
        throw FileIOError(path: display, reason: reason)
    }
}
