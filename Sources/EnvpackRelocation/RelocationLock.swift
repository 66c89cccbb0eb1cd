// One relocation of an environment in place at a time. The helper and
// `envpack relocate` hold an exclusive flock on ROOT/conda-meta while they
// read the manifest, plan and apply, so two started together (a launcher
// per Spark task on one extracted folder, a user running the helper twice)
// run one after the other and the second finds the move done, where they
// used to refuse each other half-way. The kernel drops the lock with the
// process.
#if canImport(Glibc)
import Glibc
#endif

/// Waits for and takes the lock; returns the descriptor that holds it (keep
/// it open), or nil when ROOT/conda-meta is not a folder (the caller's own
/// checks then say what is wrong).
public func holdRelocationLock(root: String) -> Int32? {
    let fd = open(joinPath(root, "conda-meta"), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    while flock(fd, LOCK_EX) != 0 {
        if errno == EINTR { continue }
        close(fd)
        return nil
    }
    return fd
}
