/* Temporary files of saves in progress: named beside their target within
 * the folder's name limit, locked by their writer for as long as it lives,
 * listed for a signal handler to remove, and swept by a later save when
 * their writer died (SIGKILL, a power cut) without removing them. */
/* flock() is a BSD extension to POSIX. */
#define _DEFAULT_SOURCE

#include "ck_io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TEMP_TAG ".tmp-"
#define TEMP_HEX 8
#define TEMP_SUFFIX (sizeof TEMP_TAG - 1 + TEMP_HEX)

/* ---------------------------------------------------------------- the live list */

/* Slots a signal handler reads without locks: a slot is published (LIVE)
 * only once its name is complete, and the creating and finishing steps
 * run with signals blocked, so the handler never sees half a name. */
enum { SLOT_FREE, SLOT_FILLING, SLOT_LIVE };
#define N_SLOTS 32
static struct live_slot {
    atomic_int state;
    int dir;
    char name[CK_TEMP_NAME_MAX + 1];
} live[N_SLOTS];

static int publish(int dir, const char *name)
{
    for (int i = 0; i < N_SLOTS; i++) {
        int expected = SLOT_FREE;
        if (atomic_compare_exchange_strong(&live[i].state, &expected, SLOT_FILLING)) {
            live[i].dir = dir;
            strcpy(live[i].name, name);
            atomic_store(&live[i].state, SLOT_LIVE);
            return i;
        }
    }
    return -1; /* more saves at once than slots: this one is not listed */
}

void ck_remove_temporary_files(void)
{
    for (int i = 0; i < N_SLOTS; i++)
        if (atomic_load(&live[i].state) == SLOT_LIVE)
            (void)unlinkat(live[i].dir, live[i].name, 0);
}

static void block_signals(sigset_t *old)
{
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, old);
}

static void restore_signals(const sigset_t *old)
{
    pthread_sigmask(SIG_SETMASK, old, NULL);
}

/* flock, not POSIX record locks: those would be dropped by any close of
 * the file in the process. Only ckeras's own descriptor ever opens a
 * temporary (libhdf5 and libzip build their files in memory). */
static int lock_now(int fd)
{
    return flock(fd, LOCK_EX | LOCK_NB);
}

/* ---------------------------------------------------------------- names */

static size_t name_limit(int dir)
{
    long n = fpathconf(dir, _PC_NAME_MAX);
    return n > 0 && n < CK_TEMP_NAME_MAX ? (size_t)n : CK_TEMP_NAME_MAX;
}

/* How much of the target's name a temporary keeps: all of it when it
 * fits, else a prefix, so even a name at the limit gets a temporary. */
static size_t stem_length(int dir, const char *base)
{
    size_t limit = name_limit(dir) - TEMP_SUFFIX, n = strlen(base);
    return n < limit ? n : limit;
}

static bool is_temp_of(const char *entry, const char *base, size_t stem)
{
    if (strncmp(entry, base, stem) != 0 ||
        strncmp(entry + stem, TEMP_TAG, sizeof TEMP_TAG - 1) != 0)
        return false;
    const char *hex = entry + stem + sizeof TEMP_TAG - 1;
    return strspn(hex, "0123456789abcdef") == TEMP_HEX && hex[TEMP_HEX] == '\0';
}

static unsigned long salt(void)
{
    static atomic_ulong counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ((unsigned long)getpid() * 2654435761u) ^ (unsigned long)ts.tv_nsec ^
           ((unsigned long)ts.tv_sec << 20) ^ (atomic_fetch_add(&counter, 1) * 40503u);
}

/* ---------------------------------------------------------------- create */

/* Creates and locks one candidate; false (errno set) when it cannot be
 * used. A sweeper holding the lock, or one that removed the name before
 * the lock was taken, makes the candidate unusable: another is tried. */
static bool try_create(ck_temp_file *t, const char *base, size_t stem, bool *retry)
{
    snprintf(t->name, sizeof t->name, "%.*s" TEMP_TAG "%08lx", (int)stem, base,
             salt() & 0xfffffffful);
    /* 0666: the kernel applies the umask, which a library cannot read
     * without changing it for every thread. */
    t->fd = openat(t->dir, t->name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
    if (t->fd < 0) {
        *retry = errno == EEXIST;
        return false;
    }
    struct stat sb;
    int locked = lock_now(t->fd);
    /* A file system without locks still gets its temporaries; the sweeper
     * cannot lock them either, so it leaves them alone. */
    bool ok = (locked == 0 || errno != EWOULDBLOCK) && fstat(t->fd, &sb) == 0 && sb.st_nlink > 0;
    if (!ok) {
        close(t->fd);
        t->fd = -1;
        *retry = true;
        errno = EEXIST;
    }
    return ok;
}

ck_status ck_temp_create(const char *dir_path, const char *base, const char *target,
                         ck_temp_file *t)
{
    *t = (ck_temp_file){.dir = -1, .fd = -1, .slot = -1};
    t->dir = open(dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (t->dir < 0)
        return ck_error(CK_ERR_IO, "cannot write '%s': its folder: %s", target, strerror(errno));
    size_t stem = stem_length(t->dir, base);
    sigset_t old;
    block_signals(&old);
    bool made = false, retry = true;
    for (int attempt = 0; !made && retry && attempt < 100; attempt++)
        made = try_create(t, base, stem, &retry);
    int err = errno;
    if (made)
        t->slot = publish(t->dir, t->name);
    restore_signals(&old);
    if (made)
        return CK_OK;
    close(t->dir);
    t->dir = -1;
    return ck_error(CK_ERR_IO, "cannot create a temporary file beside '%s': %s", target,
                    strerror(err));
}

/* ---------------------------------------------------------------- finish */

static void release(ck_temp_file *t)
{
    if (t->slot >= 0)
        atomic_store(&live[t->slot].state, SLOT_FREE);
    t->slot = -1;
}

ck_status ck_temp_commit(ck_temp_file *t, const char *base, const char *target)
{
    sigset_t old;
    block_signals(&old);
    int rc = renameat(t->dir, t->name, t->dir, base), err = errno;
    if (rc != 0)
        (void)unlinkat(t->dir, t->name, 0);
    release(t);
    restore_signals(&old);
    return rc == 0 ? CK_OK : ck_error(CK_ERR_IO, "cannot replace '%s': %s", target, strerror(err));
}

void ck_temp_discard(ck_temp_file *t)
{
    if (t->fd < 0)
        return;
    sigset_t old;
    block_signals(&old);
    (void)unlinkat(t->dir, t->name, 0);
    release(t);
    restore_signals(&old);
    ck_temp_close(t);
}

void ck_temp_close(ck_temp_file *t)
{
    if (t->fd >= 0)
        close(t->fd);
    if (t->dir >= 0)
        close(t->dir);
    t->fd = t->dir = -1;
}

/* ---------------------------------------------------------------- sweep */

/* Removes one leftover when no writer holds its lock. The lock is taken
 * before the name is removed and kept until after, so a writer that just
 * created the name either fails to lock it or finds it unlinked; both make
 * the writer pick another name. */
static void remove_if_stale(int dir, const char *name)
{
    int fd = openat(dir, name, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return;
    struct stat by_fd, by_name;
    if (fstat(fd, &by_fd) == 0 && S_ISREG(by_fd.st_mode) && lock_now(fd) == 0 &&
        fstatat(dir, name, &by_name, AT_SYMLINK_NOFOLLOW) == 0 && by_name.st_ino == by_fd.st_ino &&
        by_name.st_dev == by_fd.st_dev)
        (void)unlinkat(dir, name, 0);
    close(fd);
}

void ck_temp_sweep(const ck_temp_file *t, const char *base)
{
    int fd = openat(t->dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return;
    }
    size_t stem = stem_length(t->dir, base);
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, t->name) != 0 && is_temp_of(e->d_name, base, stem))
            remove_if_stale(t->dir, e->d_name);
    closedir(d);
}
