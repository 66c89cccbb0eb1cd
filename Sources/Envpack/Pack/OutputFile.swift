// Where an archive goes: a file, written under a temporary name and renamed
// into place only when complete (any failure, or Ctrl-C, leaves nothing), or
// a stream: standard output, or an existing character device or named pipe
// (`-o /dev/null`, `-o fifo`), written in place as `-o -` is.
import CSupport
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public final class OutputFile {
    public let fd: Int32
    /// Shown in messages.
    public let displayPath: String
    private let finalPath: String?
    private let temporaryPath: String?
    private var committed = false
    /// Folders `--force` created for the output, removed again on failure.
    private let folders = MissingFolders()
    /// A device or named pipe opened by path (closed at the end).
    private var ownsStream = false
    /// Whether `fd` still needs closing (a file envpack created).
    private var fileOpen = false
    /// The temporary's slot in the process-wide list a signal handler
    /// removes (CSupport's envpack_pending_*): several outputs may be open
    /// at once on several threads.
    private var pendingSlot: Int32 = -1

    /// Opens the output. `path` "-" means standard output.
    public init(path: String, force: Bool) throws {
        // Standard output by its device names: a file it is redirected to
        // is written through the descriptor, never renamed over the link.
        if path == "-" || ["/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"].contains(absolutePath(path)) {
            guard isatty(STDOUT_FILENO) == 0 else { throw EnvpackError.outputIsTerminal }
            fd = STDOUT_FILENO
            displayPath = "standard output"
            finalPath = nil
            temporaryPath = nil
            return
        }
        let absolute = absolutePath(path)
        let directory = (absolute as NSString).deletingLastPathComponent
        var st = stat()
        if stat(absolute, &st) == 0, (st.st_mode & S_IFMT) == S_IFCHR || (st.st_mode & S_IFMT) == S_IFIFO {
            // A stream that exists to be written to: no temporary, no rename.
            let opened = open(absolute, O_WRONLY | O_CLOEXEC | O_NOCTTY)
            guard opened >= 0 else { throw EnvpackError.writeFailed(path: absolute, reason: errnoMessage()) }
            guard isatty(opened) == 0 else {
                close(opened)
                throw EnvpackError.outputIsTerminal
            }
            fd = opened
            ownsStream = true
            displayPath = absolute
            finalPath = nil
            temporaryPath = nil
            return
        }
        if statFollowing(directory)?.kind != .directory {
            // conda-pack's --force creates the output's folder.
            guard force else { throw EnvpackError.outputDirectoryMissing(directory) }
            try folders.create(directory)
        }
        if let existing = statFollowing(absolute) {
            guard force else { throw EnvpackError.outputExists(absolute) }
            guard existing.kind == .regular else {
                throw EnvpackError.writeFailed(path: absolute, reason: "exists and is not a regular file, a character device or a named pipe")
            }
        }
        let name = (absolute as NSString).lastPathComponent
        let temporary = directory + "/." + name + ".envpack-tmp-\(getpid())"
        // Read and write: a self-extractor reads its payload back to hash it.
        let opened = open(temporary, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard opened >= 0 else {
            let reason = errnoMessage()
            folders.removeCreated()
            throw EnvpackError.writeFailed(path: temporary, reason: reason)
        }
        fd = opened
        displayPath = absolute
        finalPath = absolute
        temporaryPath = temporary
        fileOpen = true
        pendingSlot = envpack_pending_add(temporary)
        Interruption.unblock([SIGINT, SIGTERM, SIGHUP])
    }

    /// Runs first in `commit()`, with the file complete (a self-extractor
    /// writes its header there).
    var beforeCommit: (() throws -> Void)? = nil

    /// Makes the archive visible under its final name.
    public func commit() throws {
        try beforeCommit?()
        if ownsStream {
            ownsStream = false
            guard close(fd) == 0 else { throw EnvpackError.writeFailed(path: displayPath, reason: errnoMessage()) }
            return
        }
        guard let finalPath, let temporaryPath else { return }
        guard fsync(fd) == 0 else { throw EnvpackError.writeFailed(path: finalPath, reason: errnoMessage()) }
        fileOpen = false
        guard close(fd) == 0 else { throw EnvpackError.writeFailed(path: finalPath, reason: errnoMessage()) }
        guard rename(temporaryPath, finalPath) == 0 else {
            let message = errnoMessage()
            unlink(temporaryPath)
            throw EnvpackError.writeFailed(path: finalPath, reason: message)
        }
        committed = true
        clearPending()
    }

    deinit {
        if ownsStream { close(fd) }
        if fileOpen { close(fd) }
        guard let temporaryPath, !committed else { return }
        unlink(temporaryPath)
        folders.removeCreated()
        clearPending()
    }

    private func clearPending() {
        envpack_pending_remove(pendingSlot)
        pendingSlot = -1
    }
}
