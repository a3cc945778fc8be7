#include "ck_cli_test.h"

#include "ck_test.h"

#include <stdarg.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_ARGS 48

static unsigned deadline;

void run_cli_deadline(unsigned seconds)
{
    deadline = seconds;
}

/* The whole content of f, NUL-terminated; *len gets its length. */
static char *slurp(FILE *f, size_t *len)
{
    rewind(f);
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    for (size_t got; (got = fread(buf + n, 1, cap - n - 1, f)) > 0;) {
        n += got;
        if (cap - n < 2) {
            cap *= 2;
            buf = realloc(buf, cap);
            ck_assert_ptr_nonnull(buf);
        }
    }
    buf[n] = '\0';
    fclose(f);
    if (len)
        *len = n;
    return buf;
}

/* In the child, before exec: the address-space limit (0: none) and the
 * deadline (an alarm survives exec). OpenBLAS's thread count is left to
 * the tool, as a user's shell would. */
typedef struct run_limits {
    unsigned long long address_space;
    unsigned seconds;
} run_limits;

static void apply_limits(const run_limits *lim)
{
    struct rlimit rl = {lim->address_space, lim->address_space};
    if (unsetenv("OPENBLAS_NUM_THREADS") != 0 || setrlimit(RLIMIT_AS, &rl) != 0)
        _exit(126);
    alarm(lim->seconds);
}

static void run_argv(run_result *r, const char *input, const run_limits *lim, const char *first,
                     va_list ap)
{
    const char *dir = getenv("CK_BUILD_DIR");
    ck_assert_msg(dir != NULL, "CK_BUILD_DIR is not set (run the tests through ctest)");
    char bin[512];
    snprintf(bin, sizeof bin, "%s/ckeras", dir);
    const char *argv[MAX_ARGS] = {bin};
    int argc = 1;
    for (const char *a = first; a; a = va_arg(ap, const char *)) {
        ck_assert_int_lt(argc, MAX_ARGS - 1);
        argv[argc++] = a;
    }
    argv[argc] = NULL;
    FILE *out = tmpfile(), *err = tmpfile();
    ck_assert(out && err);
    fflush(stdout);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (!freopen(input ? input : "/dev/null", "r", stdin) ||
            dup2(fileno(out), STDOUT_FILENO) < 0 || dup2(fileno(err), STDERR_FILENO) < 0)
            _exit(126);
        alarm(deadline); /* kept across exec: SIGALRM ends a run that blocks */
        if (lim)
            apply_limits(lim);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    int ws;
    ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
    r->status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    r->out = slurp(out, &r->out_len);
    r->err = slurp(err, NULL);
    ck_assert_msg(r->status != 127, "cannot execute %s", bin);
}

void run_cli(run_result *r, const char *first, ...)
{
    va_list ap;
    va_start(ap, first);
    run_argv(r, NULL, NULL, first, ap);
    va_end(ap);
}

void run_cli_limited(run_result *r, unsigned long long address_space, unsigned seconds,
                     const char *first, ...)
{
    va_list ap;
    va_start(ap, first);
    run_argv(r, NULL, &(run_limits){address_space, seconds}, first, ap);
    va_end(ap);
}

void run_cli_input(run_result *r, const char *input, const char *first, ...)
{
    va_list ap;
    va_start(ap, first);
    run_argv(r, input, NULL, first, ap);
    va_end(ap);
}

void run_free(run_result *r)
{
    free(r->out);
    free(r->err);
}

void assert_error(const run_result *r, int code, const char *needle)
{
    ck_assert_msg(r->status == code, "exit status %d, expected %d (stderr: %s)", r->status, code,
                  r->err);
    ck_assert_str_eq(r->out, "");
    ck_assert_msg(strncmp(r->err, "ckeras: error: ", 15) == 0, "stderr: %s", r->err);
    const char *nl = strchr(r->err, '\n');
    ck_assert_msg(nl && nl[1] == '\0', "stderr is not exactly one line: %s", r->err);
    ck_assert_msg(strstr(r->err, needle), "stderr lacks '%s': %s", needle, r->err);
}

void assert_success(const run_result *r)
{
    ck_assert_msg(r->status == 0, "exit status %d, stderr: %s", r->status, r->err);
    ck_assert_str_eq(r->err, "");
}
