/* Files: atomic replacement (write beside the target, flush, rename over
 * it), opening input files only when they are regular (without blocking)
 * and reading them whole. */
/* realpath() is an X/Open extension to POSIX. */
#define _XOPEN_SOURCE 700

#include "ck_io.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static ck_status sync_path(const char *path, int flags)
{
    int fd = open(path, flags);
    if (fd < 0)
        return ck_error(CK_ERR_IO, "cannot reopen '%s': %s", path, strerror(errno));
    int rc = fsync(fd);
    close(fd);
    return rc == 0 ? CK_OK
                   : ck_error(CK_ERR_IO, "cannot flush '%s' to disk: %s", path, strerror(errno));
}

/* After the rename, flushing the directory makes the new name durable.
 * Some file systems refuse fsync on directories; the data is safe then.
 * No allocation here: a failure could not be reported any more. */
static void sync_parent(const char *path)
{
    char copy[4096];
    if (strlen(path) >= sizeof copy)
        return;
    strcpy(copy, path);
    int fd = open(dirname(copy), O_RDONLY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* Creates path.tmp-NNNNNN exclusively. Mode 0666 lets the kernel apply
 * the umask, which a library cannot read without changing it (umask is
 * process-global, so umask(0) + umask(old) would race with other threads
 * creating files). */
static int create_temp(const char *path, char **tmp)
{
    static unsigned long counter;
    size_t len = strlen(path) + sizeof ".tmp-" + 24;
    if (!(*tmp = ck_alloc(len, 1)))
        return -1;
    for (int attempt = 0; attempt < 100; attempt++) {
        unsigned long salt = (unsigned long)getpid() * 2654435761u ^ (unsigned long)time(NULL) ^
                             __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED) * 40503u;
        snprintf(*tmp, len, "%s.tmp-%06lx", path, salt & 0xffffff);
        int fd = open(*tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    return -1;
}

/* A replacement keeps the permissions of the file it replaces; a new file
 * gets those the kernel gave the temporary file (0666 less the umask). */
static mode_t target_mode(const char *path, int tmp_fd)
{
    struct stat sb;
    if (stat(path, &sb) == 0 || fstat(tmp_fd, &sb) == 0)
        return sb.st_mode & 0777;
    return 0644;
}

static ck_status write_replace(const char *path, ck_file_writer fn, void *ctx)
{
    char *tmp = NULL;
    int fd = create_temp(path, &tmp);
    if (fd < 0) {
        ck_status st = tmp ? ck_error(CK_ERR_IO, "cannot create a temporary file beside '%s': %s",
                                      path, strerror(errno))
                           : CK_ERR_MEMORY;
        free(tmp);
        return st;
    }
    mode_t mode = target_mode(path, fd);
    close(fd);
    ck_status st = fn(tmp, ctx);
    /* After fn: libzip replaces the file it writes, dropping its mode. */
    if (st == CK_OK)
        (void)chmod(tmp, mode);
    if (st == CK_OK)
        st = sync_path(tmp, O_RDONLY);
    if (st == CK_OK && rename(tmp, path) != 0)
        st = ck_error(CK_ERR_IO, "cannot replace '%s': %s", path, strerror(errno));
    if (st == CK_OK)
        sync_parent(path);
    else
        unlink(tmp);
    free(tmp);
    return st;
}

ck_status ck_io_atomic_file(const char *path, ck_file_writer fn, void *ctx)
{
    /* Saving through a symbolic link replaces the file it points to, not
     * the link itself. */
    struct stat sb;
    char *target = lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode) ? realpath(path, NULL) : NULL;
    ck_status st = write_replace(target ? target : path, fn, ctx);
    free(target);
    return st;
}

typedef struct bytes_job {
    const void *data;
    size_t len;
} bytes_job;

static ck_status write_bytes(const char *tmp, void *ctx)
{
    const bytes_job *job = ctx;
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return ck_error(CK_ERR_IO, "cannot create '%s': %s", tmp, strerror(errno));
    bool ok = fwrite(job->data, 1, job->len, f) == job->len;
    ok = fclose(f) == 0 && ok;
    return ok ? CK_OK : ck_error(CK_ERR_IO, "cannot write '%s'", tmp);
}

ck_status ck_io_atomic_bytes(const char *path, const void *data, size_t len)
{
    return ck_io_atomic_file(path, write_bytes, &(bytes_job){data, len});
}

/* The text ends with a newline, as a text file does. */
ck_status ck_text_write(const char *path, const char *text)
{
    if (!path || !text)
        return ck_error(CK_ERR_ARGUMENT, "ck_text_write: NULL argument");
    size_t n = strlen(text);
    char *buf = ck_alloc(n + 2, 1);
    if (!buf)
        return CK_ERR_MEMORY;
    memcpy(buf, text, n);
    buf[n] = '\n';
    ck_status st = ck_io_atomic_bytes(path, buf, n + 1);
    free(buf);
    return st;
}

/* Every reader opens its input here, so a path naming a FIFO, a device
 * or a directory fails at once with a message naming what it is, instead
 * of blocking (a FIFO without a writer) or never ending (/dev/zero). */
static const char *kind_of(mode_t mode)
{
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISFIFO(mode))
        return "a FIFO (named pipe)";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    if (S_ISSOCK(mode))
        return "a socket";
    return "not a regular file";
}

ck_status ck_io_check_regular(const char *path, mode_t mode)
{
    if (S_ISREG(mode))
        return CK_OK;
    return ck_error(CK_ERR_IO, "'%s' is %s; only regular files are read", path, kind_of(mode));
}

ck_status ck_io_open_input(const char *path, int *fd, size_t *size)
{
    /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
     * writer, before fstat could tell what the path is. */
    *fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (*fd < 0)
        return ck_error(CK_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat sb;
    ck_status st = CK_OK;
    if (fstat(*fd, &sb) != 0)
        st = ck_error(CK_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
    else
        st = ck_io_check_regular(path, sb.st_mode);
    if (st == CK_OK && (uint64_t)sb.st_size >= SIZE_MAX / 2)
        st = ck_error(CK_ERR_IO, "'%s' is too large", path);
    /* Regular files never block; reads after this are ordinary. */
    if (st == CK_OK && fcntl(*fd, F_SETFL, fcntl(*fd, F_GETFL) & ~O_NONBLOCK) != 0)
        st = ck_error(CK_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
    if (st != CK_OK) {
        close(*fd);
        *fd = -1;
        return st;
    }
    *size = (size_t)sb.st_size;
    return CK_OK;
}

void ck_io_fd_path(int fd, const char *path, char *buf, size_t len)
{
    /* Reopening through /proc names the very file that was checked, so a
     * path swapped for a FIFO in between cannot block a library that opens
     * by name. Without /proc, the path itself is the best there is. */
    snprintf(buf, len, "/proc/self/fd/%d", fd);
    if (access(buf, R_OK) != 0)
        snprintf(buf, len, "%s", path);
}

ck_status ck_file_open_regular(const char *path, FILE **f, size_t *size)
{
    int fd;
    CK_TRY(ck_io_open_input(path, &fd, size));
    *f = fdopen(fd, "rb");
    if (!*f) {
        close(fd);
        return ck_error(CK_ERR_MEMORY, "cannot read '%s': %s", path, strerror(errno));
    }
    return CK_OK;
}

/* Grows *buf to n bytes (plus a NUL) and fills bytes [from, n) from f. */
ck_status ck_file_read_range(FILE *f, const char *path, size_t from, size_t n, char **buf)
{
    char *b = ck_realloc_array(*buf, n + 1, 1);
    if (!b)
        return CK_ERR_MEMORY;
    *buf = b;
    if (fread(b + from, 1, n - from, f) != n - from)
        return ck_error(CK_ERR_IO, "cannot read %s: %s", path,
                        ferror(f) ? strerror(errno) : "the file shrank while being read");
    b[n] = '\0';
    return CK_OK;
}

ck_status ck_read_file_limited(const char *path, size_t limit, char **buf, size_t *len)
{
    if (!path || !buf || !len)
        return ck_error(CK_ERR_ARGUMENT, "ck_read_file: NULL argument");
    *buf = NULL;
    *len = 0;
    FILE *f;
    size_t size = 0;
    CK_TRY(ck_file_open_regular(path, &f, &size));
    ck_status st = size > limit
                       ? ck_error(CK_ERR_FORMAT, "%s has %zu bytes, more than the %zu-byte limit",
                                  path, size, limit)
                       : ck_file_read_range(f, path, 0, size, buf);
    fclose(f);
    if (st != CK_OK) {
        free(*buf);
        *buf = NULL;
        return st;
    }
    *len = size;
    return CK_OK;
}

ck_status ck_read_file(const char *path, char **buf, size_t *len)
{
    return ck_read_file_limited(path, SIZE_MAX - 1, buf, len);
}
