/* Files: atomic replacement (write a temporary beside the target, flush,
 * rename it over the target; several files as one), opening input files
 * only when they are regular (without blocking) and reading them whole.
 * The temporaries themselves are temp_files.c's. */
/* realpath() is an X/Open extension to POSIX, fopencookie() a GNU one. */
#define _GNU_SOURCE

#include "ck_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct ck_io_sink {
    int fd;
    const char *path; /* the user's file, for messages */
    int err;          /* errno of the first failed write */
};

static ck_status sink_error(const ck_io_sink *out)
{
    return ck_error(CK_ERR_IO, "cannot write '%s': %s", out->path,
                    out->err ? strerror(out->err) : "nothing was written");
}

ck_status ck_io_sink_write(ck_io_sink *out, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0 && !out->err) {
        ssize_t n = write(out->fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            out->err = n < 0 ? errno : EIO;
        else {
            p += n;
            len -= (size_t)n;
        }
    }
    return out->err ? sink_error(out) : CK_OK;
}

static ssize_t stream_write(void *cookie, const char *buf, size_t size)
{
    /* fopencookie: 0 reports the error to stdio. */
    return ck_io_sink_write(cookie, buf, size) == CK_OK ? (ssize_t)size : 0;
}

FILE *ck_io_sink_stream(ck_io_sink *out)
{
    FILE *f = fopencookie(out, "w", (cookie_io_functions_t){.write = stream_write});
    if (!f)
        ck_error(CK_ERR_MEMORY, "out of memory writing '%s'", out->path);
    return f;
}

ck_status ck_io_sink_close_stream(ck_io_sink *out, FILE *f, ck_status st)
{
    bool closed = fclose(f) == 0;
    if (out->err)
        return sink_error(out);
    if (st == CK_OK && !closed)
        st = ck_error(CK_ERR_MEMORY, "out of memory writing '%s'", out->path);
    return st;
}

const char *ck_io_sink_path(const ck_io_sink *out)
{
    return out->path;
}

/* ---------------------------------------------------------------- targets */

/* What a save writes over: a regular file (followed through symbolic
 * links) or nothing yet. Devices, FIFOs and the rest are refused before
 * anything is written: a rename would replace /dev/null with a regular
 * file, and opening a FIFO could block. */
typedef struct save_target {
    char *path;       /* the file to replace (a link's target), allocated */
    char *dir, *base; /* its folder and name, one allocation */
    bool exists;
    mode_t mode;
} save_target;

static ck_status refuse_kind(const char *path, bool link, mode_t mode)
{
    return ck_error(CK_ERR_IO, "cannot write '%s': it %s %s; only regular files are written", path,
                    link ? "links to" : "is", ck_io_kind_of(mode));
}

static ck_status follow_link(const char *path, save_target *t)
{
    t->path = realpath(path, NULL);
    if (!t->path && errno == ENOENT)
        return ck_error(CK_ERR_IO, "cannot write '%s': it is a symbolic link to a missing file",
                        path);
    if (!t->path)
        return ck_error(CK_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    return CK_OK;
}

static ck_status inspect_target(const char *path, save_target *t)
{
    struct stat sb;
    bool link = lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode);
    if (link)
        CK_TRY(follow_link(path, t));
    else if (!(t->path = ck_strdup(path)))
        return CK_ERR_MEMORY;
    if (stat(t->path, &sb) != 0) {
        if (errno == ENOENT)
            return CK_OK;
        return ck_error(CK_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    }
    if (!S_ISREG(sb.st_mode))
        return refuse_kind(path, link, sb.st_mode);
    /* As cp: a file the user may not write is not replaced, though the
     * folder would allow it (root may, as with cp). */
    if (faccessat(AT_FDCWD, t->path, W_OK, AT_EACCESS) != 0)
        return ck_error(CK_ERR_IO, "cannot write '%s': %s", path,
                        errno == EACCES ? "the file is read-only (Permission denied)"
                                        : strerror(errno));
    t->exists = true;
    t->mode = sb.st_mode & 07777;
    return CK_OK;
}

static void split_path(save_target *t)
{
    const char *slash = strrchr(t->path, '/'), *name = slash ? slash + 1 : t->path;
    size_t d = slash ? (size_t)(slash - t->path) : 0;
    /* dir and base share one buffer: "dir\0base\0". */
    if (!slash || d == 0)
        strcpy(t->dir, slash ? "/" : ".");
    else {
        memcpy(t->dir, t->path, d);
        t->dir[d] = '\0';
    }
    t->base = t->dir + strlen(t->dir) + 1;
    strcpy(t->base, name);
}

static ck_status resolve_target(const char *path, save_target *t)
{
    *t = (save_target){0};
    ck_status st = inspect_target(path, t);
    if (st == CK_OK && !(t->dir = ck_alloc(strlen(t->path) + 4, 1)))
        st = CK_ERR_MEMORY;
    if (st == CK_OK)
        split_path(t);
    if (st == CK_OK && !t->base[0])
        st = ck_error(CK_ERR_IO, "cannot write '%s': it names a folder", path);
    return st;
}

static void target_free(save_target *t)
{
    free(t->path);
    free(t->dir);
}

/* The temporary is created in the folder, so a folder that is missing or
 * that the user may not write fails the save; said now, before long work,
 * in the words the save would use. */
static ck_status check_folder(const save_target *t, const char *path)
{
    if (faccessat(AT_FDCWD, t->dir, W_OK | X_OK, AT_EACCESS) != 0)
        return ck_error(CK_ERR_IO, "cannot write '%s': its folder: %s", path, strerror(errno));
    return CK_OK;
}

ck_status ck_check_output(const char *path)
{
    if (!path || !*path)
        return ck_error(CK_ERR_ARGUMENT, "ck_check_output: NULL or empty path");
    save_target t;
    ck_status st = resolve_target(path, &t);
    if (st == CK_OK)
        st = check_folder(&t, path);
    target_free(&t);
    return st;
}

/* ---------------------------------------------------------------- saves */

/* A written temporary waiting for its rename. */
typedef struct pending {
    const char *user_path;
    save_target target;
    ck_temp_file tmp;
} pending;

struct ck_io_group {
    int n, cap;
    pending *items;
};
/* The group the saves of this thread join (ck_io_group_begin). */
static _Thread_local ck_io_group *current_group;

static void pending_drop(pending *p)
{
    ck_temp_discard(&p->tmp);
    target_free(&p->target);
}

/* A new file gets 0666 less the umask (as the kernel created the
 * temporary); a replacement keeps the mode of the file it replaces. */
static ck_status finish_temp(pending *p)
{
    if (p->target.exists && fchmod(p->tmp.fd, p->target.mode) != 0)
        return ck_error(CK_ERR_IO, "cannot write '%s': %s", p->user_path, strerror(errno));
    if (fsync(p->tmp.fd) != 0)
        return ck_error(CK_ERR_IO, "cannot write '%s' to disk: %s", p->user_path, strerror(errno));
    return CK_OK;
}

/* After the rename, flushing the folder makes the new name durable; some
 * file systems refuse fsync on folders, and the data is safe then. */
static ck_status commit(pending *p)
{
    ck_status st = ck_temp_commit(&p->tmp, p->target.base, p->user_path);
    if (st == CK_OK) {
        (void)fsync(p->tmp.dir);
        ck_temp_sweep(&p->tmp, p->target.base);
    }
    ck_temp_close(&p->tmp);
    target_free(&p->target);
    return st;
}

static ck_status write_temp(pending *p, ck_file_writer fn, void *ctx)
{
    CK_TRY(resolve_target(p->user_path, &p->target));
    CK_TRY(ck_temp_create(p->target.dir, p->target.base, p->user_path, &p->tmp));
    ck_io_sink out = {.fd = p->tmp.fd, .path = p->user_path};
    CK_TRY(fn(&out, ctx));
    return finish_temp(p);
}

ck_status ck_io_atomic_file(const char *path, ck_file_writer fn, void *ctx)
{
    ck_io_group *g = current_group;
    if (g && g->n == CK_IO_GROUP_MAX)
        return ck_error(CK_ERR_STATE, "more than %d files saved together", CK_IO_GROUP_MAX);
    if (g && g->n == g->cap) {
        int cap = g->cap ? 2 * g->cap : 4;
        pending *items = ck_realloc_array(g->items, (size_t)cap, sizeof *items);
        if (!items)
            return CK_ERR_MEMORY;
        g->items = items;
        g->cap = cap;
    }
    pending one, *p = g ? &g->items[g->n] : &one;
    *p = (pending){.user_path = path, .tmp = {.dir = -1, .fd = -1, .slot = -1}};
    ck_status st = write_temp(p, fn, ctx);
    if (st != CK_OK) {
        pending_drop(p);
        return st;
    }
    if (g) {
        g->n++;
        return CK_OK;
    }
    return commit(p);
}

ck_io_group *ck_io_group_begin(void)
{
    ck_io_group *g = ck_alloc(1, sizeof *g);
    if (g)
        current_group = g;
    return g;
}

ck_status ck_io_group_end(ck_io_group *g, ck_status st)
{
    if (!g)
        return st == CK_OK ? CK_ERR_MEMORY : st;
    current_group = NULL;
    /* Every temporary is complete before the first rename; a rename fails
     * only when the folder itself changes under the save. */
    for (int i = 0; i < g->n; i++) {
        if (st == CK_OK)
            st = commit(&g->items[i]);
        else
            pending_drop(&g->items[i]);
    }
    free(g->items);
    free(g);
    return st;
}

typedef struct bytes_job {
    const void *data;
    size_t len;
} bytes_job;

static ck_status write_bytes(ck_io_sink *out, void *ctx)
{
    const bytes_job *job = ctx;
    return ck_io_sink_write(out, job->data, job->len);
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
const char *ck_io_kind_of(mode_t mode)
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
    return ck_error(CK_ERR_IO, "'%s' is %s; only regular files are read", path,
                    ck_io_kind_of(mode));
}

bool ck_io_starts_with(const char *path, const char *magic, size_t n)
{
    unsigned char head[16] = {0};
    int fd;
    size_t size;
    if (n > sizeof head || ck_io_open_input(path, &fd, &size) != CK_OK) {
        ck_clear_error();
        return false;
    }
    bool same = read(fd, head, n) == (ssize_t)n && memcmp(head, magic, n) == 0;
    close(fd);
    return same;
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
