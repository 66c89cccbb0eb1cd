#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "csupport.h"

const void *envpack_memmem(const void *haystack, size_t haystack_len,
                           const void *needle, size_t needle_len) {
    return memmem(haystack, haystack_len, needle, needle_len);
}

int envpack_renameat2(int olddirfd, const char *oldpath,
                      int newdirfd, const char *newpath, unsigned int flags) {
#ifdef SYS_renameat2
    return (int)syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, flags);
#else
    (void)olddirfd; (void)oldpath; (void)newdirfd; (void)newpath; (void)flags;
    errno = ENOSYS;
    return -1;
#endif
}

void envpack_silence_output(void) {
    int saved = errno;
    int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
    }
    errno = saved;
}

int envpack_signal_ignored(int sig) {
    struct sigaction current;
    if (sigaction(sig, NULL, &current) != 0) return 0;
    return !(current.sa_flags & SA_SIGINFO) && current.sa_handler == SIG_IGN;
}

/* Temporary output files to remove if SIGINT, SIGTERM or SIGHUP ends the
 * process. A fixed table of fixed buffers: the handler reads it without
 * allocating or locking; threads change it under a mutex, and a slot's path
 * is complete before the slot is marked used. The handlers are installed
 * while at least one file is registered and the previous ones put back
 * after the last is removed. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#define PENDING_SLOTS 64
#define PENDING_PATH_MAX 4096
static char pending_paths[PENDING_SLOTS][PENDING_PATH_MAX];
static volatile sig_atomic_t pending_used[PENDING_SLOTS];
static pthread_mutex_t pending_lock = PTHREAD_MUTEX_INITIALIZER;
static int pending_count;
static const int pending_signals[3] = {SIGINT, SIGTERM, SIGHUP};
static struct sigaction pending_saved[3];

static void pending_handler(int sig) {
    for (int i = 0; i < PENDING_SLOTS; i++) {
        if (pending_used[i]) unlink(pending_paths[i]);
    }
    _exit(128 + sig);
}

int envpack_pending_add(const char *path) {
    size_t n = strlen(path);
    if (n >= PENDING_PATH_MAX) return -1;
    int slot = -1;
    pthread_mutex_lock(&pending_lock);
    for (int i = 0; i < PENDING_SLOTS; i++) {
        if (!pending_used[i]) { slot = i; break; }
    }
    if (slot >= 0) {
        memcpy(pending_paths[slot], path, n + 1);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        pending_used[slot] = 1;
        if (pending_count++ == 0) {
            struct sigaction action;
            memset(&action, 0, sizeof action);
            action.sa_handler = pending_handler;
            sigemptyset(&action.sa_mask);
            for (int i = 0; i < 3; i++) sigaction(pending_signals[i], &action, &pending_saved[i]);
        }
    }
    pthread_mutex_unlock(&pending_lock);
    return slot;
}

void envpack_pending_remove(int slot) {
    if (slot < 0 || slot >= PENDING_SLOTS) return;
    pthread_mutex_lock(&pending_lock);
    if (pending_used[slot]) {
        pending_used[slot] = 0;
        if (--pending_count == 0) {
            for (int i = 0; i < 3; i++) sigaction(pending_signals[i], &pending_saved[i], NULL);
        }
    }
    pthread_mutex_unlock(&pending_lock);
}

int envpack_pending_count(void) {
    pthread_mutex_lock(&pending_lock);
    int n = pending_count;
    pthread_mutex_unlock(&pending_lock);
    return n;
}

long envpack_next_serial(void) {
    static long serial = 0;
    return __atomic_add_fetch(&serial, 1, __ATOMIC_RELAXED);
}

void envpack_line_buffer_stderr(void) {
    setvbuf(stderr, NULL, _IOLBF, 0);
}
