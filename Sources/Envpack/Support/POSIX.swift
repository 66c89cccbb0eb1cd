// Thin, allocation-light wrappers over the POSIX calls the hot paths use.
// FileManager is convenient but slow for walking large trees; lstat and
// readdir give everything needed in one call each.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The message for an errno value.
func errnoMessage(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

/// Metadata of one path, from lstat (links are not followed).
public struct FileStatus: Sendable, Equatable {
    public enum Kind: Sendable, Equatable { case regular, directory, symlink, other }
    public var kind: Kind
    public var mode: UInt32      // permission bits only
    public var size: Int
    public var mtime: Int
    public var device: UInt64
    public var inode: UInt64
    public var linkCount: Int

    public init(kind: Kind, mode: UInt32, size: Int, mtime: Int, device: UInt64, inode: UInt64, linkCount: Int) {
        self.kind = kind
        self.mode = mode
        self.size = size
        self.mtime = mtime
        self.device = device
        self.inode = inode
        self.linkCount = linkCount
    }

    public static func lstat(_ path: String) -> FileStatus? {
        var st = stat()
        guard Glibc.lstat(path, &st) == 0 else { return nil }
        return FileStatus(st)
    }

    init(_ st: stat) {
        switch st.st_mode & S_IFMT {
        case S_IFREG: kind = .regular
        case S_IFDIR: kind = .directory
        case S_IFLNK: kind = .symlink
        default: kind = .other
        }
        mode = UInt32(st.st_mode & 0o7777)
        size = Int(st.st_size)
        mtime = Int(st.st_mtim.tv_sec)
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
        linkCount = Int(st.st_nlink)
    }
}

/// The target of a symbolic link.
func readLink(_ path: String) -> String? {
    var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
    let n = buffer.withUnsafeMutableBufferPointer {
        $0.withMemoryRebound(to: CChar.self) { readlink(path, $0.baseAddress!, $0.count - 1) }
    }
    guard n >= 0 else { return nil }
    return String(decoding: buffer[0..<n], as: UTF8.self)
}

/// Names in a directory, without `.` and `..`, or nil with errno set.
/// A name that is not valid UTF-8 is an error: archives and manifests
/// record names as UTF-8.
func directoryEntries(_ path: String) throws(EnvpackError) -> [String]? {
    guard let dir = opendir(path) else { return nil }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafePointer(to: entry.pointee.d_name) {
            $0.withMemoryRebound(to: CChar.self, capacity: 256) { ptr -> String? in
                String(validatingCString: ptr) ?? (nil as String?)
            }
        }
        guard let name else {
            let lossy = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            throw .nonUTF8Name(path + "/" + lossy)
        }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}

/// Standardised absolute path without following symlinks.
public func absolutePath(_ path: String) -> String {
    let base = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    var parts: [Substring] = []
    for part in base.split(separator: "/") {
        if part == "." || part.isEmpty { continue }
        if part == ".." { _ = parts.popLast(); continue }
        parts.append(part)
    }
    return "/" + parts.joined(separator: "/")
}
