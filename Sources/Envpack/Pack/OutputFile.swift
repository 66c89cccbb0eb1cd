// Where an archive goes: a file, written under a temporary name and renamed
// into place only when complete (any failure, or Ctrl-C, leaves nothing), or
// standard output for streaming into a pipe.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The temporary file to remove if a signal ends the process; a C string so
/// the handler can use it without allocating.
nonisolated(unsafe) private var pendingTemporaryPath: UnsafeMutablePointer<CChar>? = nil

private func removePendingAndExit(_ signal: Int32) {
    if let p = pendingTemporaryPath { unlink(p) }
    _exit(128 + signal)
}

public final class OutputFile {
    public let fd: Int32
    /// Shown in messages.
    public let displayPath: String
    private let finalPath: String?
    private let temporaryPath: String?
    private var committed = false

    /// Opens the output. `path` "-" means standard output.
    public init(path: String, force: Bool) throws {
        if path == "-" {
            guard isatty(STDOUT_FILENO) == 0 else { throw EnvpackError.outputIsTerminal }
            fd = STDOUT_FILENO
            displayPath = "standard output"
            finalPath = nil
            temporaryPath = nil
            return
        }
        let absolute = absolutePath(path)
        let directory = (absolute as NSString).deletingLastPathComponent
        guard statFollowing(directory)?.kind == .directory else {
            throw EnvpackError.outputDirectoryMissing(directory)
        }
        if let existing = statFollowing(absolute) {
            guard force else { throw EnvpackError.outputExists(absolute) }
            guard existing.kind == .regular else {
                throw EnvpackError.writeFailed(path: absolute, reason: "exists and is not a regular file")
            }
        }
        let name = (absolute as NSString).lastPathComponent
        let temporary = directory + "/." + name + ".envpack-tmp-\(getpid())"
        let opened = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard opened >= 0 else { throw EnvpackError.writeFailed(path: temporary, reason: errnoMessage()) }
        fd = opened
        displayPath = absolute
        finalPath = absolute
        temporaryPath = temporary
        pendingTemporaryPath = strdup(temporary)
        signal(SIGINT, removePendingAndExit)
        signal(SIGTERM, removePendingAndExit)
        signal(SIGHUP, removePendingAndExit)
        Interruption.unblock([SIGINT, SIGTERM, SIGHUP])
    }

    /// Makes the archive visible under its final name.
    public func commit() throws {
        guard let finalPath, let temporaryPath else { return }
        guard fsync(fd) == 0 else { throw EnvpackError.writeFailed(path: finalPath, reason: errnoMessage()) }
        close(fd)
        guard rename(temporaryPath, finalPath) == 0 else {
            let message = errnoMessage()
            unlink(temporaryPath)
            throw EnvpackError.writeFailed(path: finalPath, reason: message)
        }
        committed = true
        clearPending()
    }

    deinit {
        guard let temporaryPath, !committed else { return }
        close(fd)
        unlink(temporaryPath)
        clearPending()
    }

    private func clearPending() {
        signal(SIGINT, SIG_DFL); signal(SIGTERM, SIG_DFL); signal(SIGHUP, SIG_DFL)
        free(pendingTemporaryPath)
        pendingTemporaryPath = nil
    }
}
