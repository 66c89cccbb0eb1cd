// Ctrl-C (SIGINT), SIGTERM and SIGHUP (a closed terminal, a dropped ssh
// session) during unpack or install: the handler only sets a flag; the
// extraction and linking loops check it and throw, so the usual failure path
// removes the staging folder. After SIGHUP the terminal is gone, so standard
// output and error are pointed at /dev/null first: a write to a hung-up
// terminal must not end the process before it has cleaned up. A second
// signal ends the process at once (a later run reclaims what it left, see
// OwnedFolder). A SIGHUP that the parent ignores (nohup) stays ignored.
import CSupport
#if canImport(Glibc)
import Glibc
#endif

enum Interruption {
    nonisolated(unsafe) private static var requested: sig_atomic_t = 0

    /// Installs the handlers (for the rest of the process).
    static func watch() {
        signal(SIGINT, handle)
        signal(SIGTERM, handle)
        if envpack_signal_ignored(SIGHUP) == 0 { signal(SIGHUP, hangUp) }
        unblock([SIGINT, SIGTERM, SIGHUP])
    }

    /// A parent may start us with these signals blocked (Foundation's
    /// Process does); a handler that never runs protects nothing.
    static func unblock(_ signals: [Int32]) {
        var set = sigset_t()
        sigemptyset(&set)
        for s in signals { sigaddset(&set, s) }
        sigprocmask(SIG_UNBLOCK, &set, nil)
    }

    /// Throws when a signal arrived since `watch()`.
    static func check() throws {
        if requested != 0 { throw EnvpackError.invalidOption("interrupted; nothing was left at the destination") }
    }

    private static let handle: @convention(c) (Int32) -> Void = { signal in
        if requested != 0 { _exit(128 + signal) }
        requested = 1
    }

    private static let hangUp: @convention(c) (Int32) -> Void = { signal in
        envpack_silence_output()
        if requested != 0 { _exit(128 + signal) }
        requested = 1
    }
}
