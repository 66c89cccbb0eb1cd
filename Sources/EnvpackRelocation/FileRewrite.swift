// Applying a file's edits: the new content is written to a temporary file
// beside the old one and renamed over it, so a running program is never
// written in place ("text file busy") and a reader never sees half a file.
// The output is scanned for the new prefix as it is written, which gives
// the manifest entry of the relocated file without reading it again.
#if canImport(Glibc)
import Glibc
#endif

/// One change to a file: `length` bytes at `offset`, which must equal
/// `expected`, become `replacement`.
public struct Edit: Sendable, Equatable {
    public var offset: Int
    public var expected: [UInt8]
    public var replacement: [UInt8]
    public var length: Int { expected.count }

    public init(offset: Int, expected: [UInt8], replacement: [UInt8]) {
        self.offset = offset
        self.expected = expected
        self.replacement = replacement
    }
}

/// What a rewrite's temporary file is called: this, then the file's name.
let temporaryPrefix = ".envpack-tmp-"

/// The temporary name a rewrite of `path` uses; fixed, so an interrupted run
/// can tell whether its rename happened.
public func temporaryPath(for path: String) -> String {
    let dir = parentDirectory(path)
    let name = temporaryPrefix + lastComponent(path)
    return dir.isEmpty ? name : dir + "/" + name
}

/// Streams a file's content with `edits` applied (sorted, not overlapping):
/// `input` sees the original bytes, `output` the new ones. Each edit's
/// original bytes must be what the plan expected. Memory stays at one chunk.
public func streamEdited(fd: Int32, size: Int, edits: [Edit], path: String,
                         buffer: UnsafeMutableRawBufferPointer,
                         input: (UnsafeRawBufferPointer) -> Void,
                         output: (UnsafeRawBufferPointer) throws -> Void) throws {
    var position = 0
    func pass(upTo end: Int, checking expected: [UInt8]? = nil) throws {
        var checked = 0
        while position < end {
            let n = read(fd, buffer.baseAddress, min(buffer.count, end - position))
            if n < 0 {
                if errno == EINTR { continue }
                throw FileIOError(path: path, reason: errnoText())
            }
            if n == 0 { throw FileIOError(path: path, reason: "file is shorter than expected") }
            let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
            input(chunk)
            if let expected {
                guard chunk.elementsEqual(expected[checked..<(checked + n)]) else {
                    throw FileIOError(path: path, reason: "changed since it was planned (offset \(position))")
                }
                checked += n
            } else {
                try output(chunk)
            }
            position += n
        }
    }
    for edit in edits {
        try pass(upTo: edit.offset)
        try pass(upTo: edit.offset + edit.length, checking: edit.expected)
        try edit.replacement.withUnsafeBytes { try output($0) }
    }
    try pass(upTo: size)
}

/// Writes the regular file `name` (in the open folder `directory`) with
/// `edits` applied to `temporary` beside it, keeping mode, owner and times,
/// and returns the manifest entry of the new content (which holds `to`).
/// The source is opened without following a symlink or blocking on a FIFO;
/// whatever is at the temporary name is removed, and the temporary file is
/// created with O_EXCL|O_NOFOLLOW, so nothing planted there is written through.
func rewriteFile(in directory: Int32, name: String, temporary: String, edits: [Edit], display: String,
                 file: PrefixFile, to: String) throws(FileIOError) -> PrefixFile? {
    let (input, st) = try openRegularAt(directory, name, display: display)
    defer { close(input) }
    let temporaryDisplay = joinPath(parentDirectory(display), temporary)
    unlinkat(directory, temporary, 0)
    let output = openat(directory, temporary, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
    guard output >= 0 else { throw FileIOError(path: temporaryDisplay, reason: errnoText()) }
    var succeeded = false
    defer {
        close(output)
        if !succeeded { unlinkat(directory, temporary, 0) }
    }
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
    defer { buffer.deallocate() }
    var found = PrefixDetector(prefix: to, placeholder: nil)
    do {
        try streamEdited(fd: input, size: Int(st.st_size), edits: edits, path: display, buffer: buffer,
                         input: { _ in }, output: { bytes in
                             found.feed(bytes)
                             try writeFully(fd: output, bytes, path: temporaryDisplay)
                         })
    } catch let error as FileIOError {
        throw error
    } catch {
        throw FileIOError(path: display, reason: "\(error)")
    }

    // Mode, owner (when allowed) and times of the original.
    if geteuid() == 0 { fchown(output, st.st_uid, st.st_gid) }
    fchmod(output, st.st_mode & 0o7777)
    var times = [st.st_atim, st.st_mtim]
    // A python source gets a new mtime: bytecode compiled from the old
    // content must not match it (see Bytecode.swift).
    if isPythonSource(name) { clock_gettime(CLOCK_REALTIME, &times[1]) }
    futimens(output, &times)
    let entry: PrefixFile?
    do {
        entry = try found.result(path: file.path, fd: output, display: temporaryDisplay,
                                 recordMode: file.mode, isManaged: file.isManaged)
    } catch {
        throw FileIOError(path: display, reason: error.description)
    }
    succeeded = true
    return entry
}
