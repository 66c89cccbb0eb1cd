// Starting a program with no signal blocked. Foundation's Process passes
// the calling thread's signal mask on to the child
// (swift-corelibs-foundation#4772), and libdispatch's threads, where Swift
// runs async work, block nearly every signal: a link script started from
// one could not be stopped with SIGTERM or Ctrl-C, and a shell in it that
// waits for a background job (SIGCHLD) hung for ever. envpack clears the
// calling thread's mask for the moment of the spawn.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

extension Process {
    /// `run()`, with the child starting with an empty signal mask.
    func runUnblocked() throws {
        var empty = sigset_t(), saved = sigset_t()
        sigemptyset(&empty)
        pthread_sigmask(SIG_SETMASK, &empty, &saved)
        defer { pthread_sigmask(SIG_SETMASK, &saved, nil) }
        try run()
    }
}
