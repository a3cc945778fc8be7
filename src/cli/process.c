/* sbrk and madvise are outside POSIX. */
#define _DEFAULT_SOURCE
/* What the tool sets up for its process before any work: OpenBLAS threads
 * that fit an address-space limit, its heap, standard descriptors, and
 * signals. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

/* Every OpenBLAS thread maps a 128 MiB work buffer; one that cannot (under
 * 'ulimit -v') retries forever, and the process hangs at exit joining it
 * (even --version did). Besides the threads, the tool needs the main
 * thread's buffer and room for its libraries and data. */
#define BLAS_THREAD_BYTES (136ull << 20)
#define PROGRAM_BYTES (256ull << 20)

/* Whether envp sets one of the variables OpenBLAS takes its thread count
 * from (getenv cannot be used before libc is initialised). */
static bool sets_blas_threads(char **envp)
{
    static const char *const names[] = {
        "OPENBLAS_NUM_THREADS=", "GOTO_NUM_THREADS=", "OMP_NUM_THREADS="};
    for (char **e = envp; *e; e++)
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (strncmp(*e, names[i], strlen(names[i])) == 0)
                return true;
    return false;
}

/* The number of OpenBLAS threads the address-space limit holds (one at
 * least); 0 when there is no limit or the user chose a number. */
static long blas_threads_for_limit(char **envp)
{
    struct rlimit rl;
    if (sets_blas_threads(envp) || getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return 0;
    unsigned long long room = rl.rlim_cur > PROGRAM_BYTES ? rl.rlim_cur - PROGRAM_BYTES : 0;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN), threads = (long)(room / BLAS_THREAD_BYTES);
    if (threads > cpus)
        threads = cpus;
    return threads > 1 ? threads : 1;
}

/* OpenBLAS starts its threads when it is loaded, before main, taking
 * their number from the environment. The executable's preinit functions
 * run before any library is initialised, but libc's initialisation then
 * resets the environment to the one the process started with, so setenv
 * here would be lost: the tool runs itself again with the number set
 * instead. Only under an address-space limit; if exec fails, it goes on
 * as it is. */
static void fit_blas_threads(int argc, char **argv, char **envp)
{
    (void)argc;
    long threads = blas_threads_for_limit(envp);
    if (threads == 0)
        return;
    size_t n = 0;
    while (envp[n])
        n++;
    char **env = malloc((n + 2) * sizeof *env), *var = malloc(48);
    if (env && var) {
        memcpy(env, envp, n * sizeof *env);
        snprintf(var, 48, "OPENBLAS_NUM_THREADS=%ld", threads);
        env[n] = var;
        env[n + 1] = NULL;
        execve("/proc/self/exe", argv, env);
    }
    free(env);
    free(var);
}

__attribute__((section(".preinit_array"),
               used)) static void (*const preinit)(int, char **, char **) = fit_blas_threads;

/* Linked with OpenBLAS's static archive (cmake/cli-link.cmake), the tool
 * runs OpenBLAS's constructor among its own, after libc's: one of higher
 * priority runs first and can still choose OpenBLAS's thread count.
 * ckeras sets OpenBLAS to one thread and stops the others at its first
 * load anyway, so they are not started at all: GOTO_NUM_THREADS, the one
 * of OpenBLAS's variables ckeras's own pool does not read, is set when the
 * user set none of them, and removed again in main (cli_setup_process).
 * Starting and stopping the threads cost `ckeras --version` 0.5 ms and
 * `ckeras predict` about 1 ms. Linked with the shared OpenBLAS, whose
 * constructor has already run, this changes nothing. */
static bool blas_threads_kept;

__attribute__((constructor(101))) static void keep_blas_to_one_thread(void)
{
    if (!getenv("OPENBLAS_NUM_THREADS") && !getenv("GOTO_NUM_THREADS") &&
        !getenv("OMP_NUM_THREADS"))
        blas_threads_kept = setenv("GOTO_NUM_THREADS", "1", 0) == 0;
}

static bool stdout_writable;

/* A closed descriptor 0, 1 or 2 gets /dev/null: otherwise the next file
 * opened takes its number, and what is printed lands in that file. */
static void fill_closed_descriptors(void)
{
    int flags = fcntl(STDOUT_FILENO, F_GETFL);
    stdout_writable = flags >= 0 && (flags & O_ACCMODE) != O_RDONLY;
    for (int fd = 0; fd <= 2; fd++)
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF)
            (void)open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
}

bool cli_stdout_writable(void)
{
    return stdout_writable;
}

/* Async-signal-safe: the library's table of temporaries, then the
 * signal's default action (the shell sees the signal, as without the
 * handler). The signal stays blocked while the handler runs, so raise
 * delivers it on return. */
static void remove_temporaries_and_die(int sig)
{
    ck_remove_temporary_files();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void on_signal_remove_temporaries(int sig)
{
    struct sigaction sa = {.sa_handler = remove_temporaries_and_die}, old;
    /* A signal ignored on entry (nohup) stays ignored. */
    if (sigaction(sig, NULL, &old) != 0 || old.sa_handler == SIG_IGN)
        return;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

/* The tool's heap on transparent huge pages. A process of the tool touches
 * most of its heap once: the HDF5 library's caches, the model, the batches.
 * On virtual machines that keep shadow page tables, each first touch of a
 * 4 KiB page costs 5-10 us and a 2 MiB page costs about as much as 20 of
 * them (docs/performance.md): a predict's 300-400 heap faults become a
 * few. glibc's own switch for this is an environment tunable, which a
 * process cannot set for itself, so the tool grows the heap once by
 * HEAP_PAD, advises the whole huge pages of it, and parks the 4 KiB pages
 * below the first huge page in a block it never touches. One arena for
 * all threads keeps the reader's and the pool's blocks there too. */
#define HUGE_PAGE ((uintptr_t)2 << 20)
#define HEAP_PAD ((uintptr_t)32 << 20)

/* The parked block. volatile: a compiler may drop a malloc whose block
 * is stored where nothing reads it. */
static void *volatile heap_head;

static void heap_on_huge_pages(void)
{
    /* Under 'ulimit -v' address space is what is short, not time. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur != RLIM_INFINITY)
        return;
    mallopt(M_ARENA_MAX, 1);
    mallopt(M_MMAP_THRESHOLD, (int)HEAP_PAD);
    mallopt(M_TRIM_THRESHOLD, (int)(2 * HEAP_PAD));
    mallopt(M_TOP_PAD, (int)HEAP_PAD);
    uintptr_t old_end = (uintptr_t)sbrk(0);
    /* volatile: a malloc whose block is only freed may be dropped too. */
    void *volatile grow = malloc(256 << 10);
    free(grow);
    uintptr_t end = (uintptr_t)sbrk(0);
    /* Not glibc's heap (a sanitizer's allocator), or brk refused. */
    if (old_end == (uintptr_t)-1 || end - old_end < HEAP_PAD / 2)
        return;
    uintptr_t top = end - mallinfo2().keepcost;
    uintptr_t from = (top + 4096 + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    uintptr_t to = end & ~(HUGE_PAGE - 1);
    if (top < old_end - HUGE_PAGE || to <= from || madvise((void *)from, to - from, MADV_HUGEPAGE))
        return;
    /* The parked block ends where the first huge page starts. */
    heap_head = malloc(from - top - 2 * sizeof(size_t));
}

void cli_setup_process(void)
{
    if (blas_threads_kept)
        unsetenv("GOTO_NUM_THREADS");
    heap_on_huge_pages();
    fill_closed_descriptors();
    /* Past 'ulimit -f' a write fails with EFBIG, which the save reports
     * with the old file intact, instead of SIGXFSZ killing the process
     * mid-save. */
    signal(SIGXFSZ, SIG_IGN);
    on_signal_remove_temporaries(SIGINT);
    on_signal_remove_temporaries(SIGTERM);
    on_signal_remove_temporaries(SIGHUP);
}
