// Small C pieces Swift cannot reach directly.
#ifndef ENVPACK_CSUPPORT_H
#define ENVPACK_CSUPPORT_H
#include <stddef.h>

/// glibc's memmem (declared only under _GNU_SOURCE, which Swift's Glibc
/// module does not set).
const void *envpack_memmem(const void *haystack, size_t haystack_len,
                           const void *needle, size_t needle_len);

/// renameat2(2)'s flags (linux/fs.h), for envpack_renameat2.
#define ENVPACK_RENAME_NOREPLACE 1u
#define ENVPACK_RENAME_EXCHANGE 2u

/// renameat2(2) through syscall(2): glibc's wrapper is newer than some
/// systems envpack runs on. Returns 0, or -1 with errno set (EINVAL or
/// ENOSYS where the filesystem or kernel lacks the flag).
int envpack_renameat2(int olddirfd, const char *oldpath,
                      int newdirfd, const char *newpath, unsigned int flags);

/// Points standard output and standard error at /dev/null, from a signal
/// handler (async-signal-safe): after SIGHUP the terminal is gone, and a
/// write to it must not end the process before it has cleaned up.
void envpack_silence_output(void);

/// Whether `sig` is ignored (SIG_IGN), as under nohup.
int envpack_signal_ignored(int sig);

/// Registers a temporary file to remove if SIGINT, SIGTERM or SIGHUP ends
/// the process (the handlers exit with 128 + the signal); returns a slot for
/// envpack_pending_remove, or -1 when the path is too long or 64 files are
/// registered already (that file is then not removed on a signal). Safe to
/// call from several threads.
int envpack_pending_add(const char *path);
void envpack_pending_remove(int slot);
/// How many files are registered (for the tests).
int envpack_pending_count(void);

/// Makes C's stderr line-buffered (it is unbuffered: one write(2) per
/// character of what ArgumentParser prints there).
void envpack_line_buffer_stderr(void);

/// A number unique in this process (1, 2, ...), from any thread: the N of
/// owned folders' names.
long envpack_next_serial(void);

#endif
