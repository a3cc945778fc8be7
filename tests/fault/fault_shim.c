/* LD_PRELOAD library for the fault-injection tests (tests/test_file_safety.c):
 * writes to files whose path contains CK_FAULT_MATCH (default ".tmp-", the
 * temporaries of saves) fail as a full or broken disk would.
 *   CK_FAULT_ERRNO    ENOSPC, EIO or EFBIG: the error to inject (none: no failure)
 *   CK_FAULT_OP       write (default: write and pwrite) or fsync (fsync, fdatasync)
 *   CK_FAULT_AFTER    bytes written before writes fail; the write that crosses
 *                     the mark is cut short there (default 0)
 *   CK_FAULT_DELAY_MS sleep this long before every matching write, so a test can
 *                     signal a save in progress
 * Only the tests load it; it is built without sanitizers, like libc. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long long written;

static int fault_errno(void)
{
    const char *e = getenv("CK_FAULT_ERRNO");
    if (!e)
        return 0;
    return strcmp(e, "ENOSPC") == 0 ? ENOSPC : strcmp(e, "EFBIG") == 0 ? EFBIG : EIO;
}

static int fault_on(const char *op)
{
    const char *want = getenv("CK_FAULT_OP");
    return fault_errno() && strcmp(want ? want : "write", op) == 0;
}

static int matches(int fd)
{
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0)
        return 0;
    path[n] = '\0';
    const char *match = getenv("CK_FAULT_MATCH");
    return strstr(path, match ? match : ".tmp-") != NULL;
}

static void delay(void)
{
    const char *ms = getenv("CK_FAULT_DELAY_MS");
    long v = ms ? atol(ms) : 0;
    struct timespec ts = {v / 1000, (v % 1000) * 1000000L};
    if (v > 0)
        nanosleep(&ts, NULL);
}

/* How many of n bytes may be written now; -1 (errno set) for none. */
static long long allowed(int fd, size_t n)
{
    if (!matches(fd))
        return (long long)n;
    delay();
    if (!fault_on("write"))
        return (long long)n;
    long long after = getenv("CK_FAULT_AFTER") ? atoll(getenv("CK_FAULT_AFTER")) : 0;
    if (written >= after) {
        errno = fault_errno();
        return -1;
    }
    return written + (long long)n > after ? after - written : (long long)n;
}

ssize_t write(int fd, const void *buf, size_t n)
{
    static ssize_t (*real)(int, const void *, size_t);
    if (!real)
        real = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    long long k = allowed(fd, n);
    if (k < 0)
        return -1;
    ssize_t r = real(fd, buf, (size_t)k);
    written += r > 0 ? r : 0;
    return r;
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    static ssize_t (*real)(int, const void *, size_t, off_t);
    if (!real)
        real = (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
    long long k = allowed(fd, n);
    if (k < 0)
        return -1;
    ssize_t r = real(fd, buf, (size_t)k, off);
    written += r > 0 ? r : 0;
    return r;
}

static int sync_fault(int fd)
{
    if (matches(fd) && fault_on("fsync")) {
        errno = fault_errno();
        return -1;
    }
    return 0;
}

int fsync(int fd)
{
    static int (*real)(int);
    if (!real)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    return sync_fault(fd) ? -1 : real(fd);
}

int fdatasync(int fd)
{
    static int (*real)(int);
    if (!real)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    return sync_fault(fd) ? -1 : real(fd);
}
