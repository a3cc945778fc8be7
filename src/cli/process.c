/* What the tool sets up for its process before any work: OpenBLAS threads
 * that fit an address-space limit, standard descriptors, and signals. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

void cli_setup_process(void)
{
    fill_closed_descriptors();
    /* Past 'ulimit -f' a write fails with EFBIG, which the save reports
     * with the old file intact, instead of SIGXFSZ killing the process
     * mid-save. */
    signal(SIGXFSZ, SIG_IGN);
    on_signal_remove_temporaries(SIGINT);
    on_signal_remove_temporaries(SIGTERM);
    on_signal_remove_temporaries(SIGHUP);
}
