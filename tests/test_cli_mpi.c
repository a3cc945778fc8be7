/* `mpirun -np 2 ckeras fit ...` (docs/distributed.md): the same model as
 * one process, rank 0 alone prints and writes, and a rank that cannot
 * read its data, holds another model or is killed ends every rank within
 * seconds with a message naming it, leaving the previous output file as
 * it was. Ranks given different arguments use mpirun's MPMD form
 * (`-np 1 A : -np 1 B`). */
#include "ck_test.h"

#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef CK_MPIEXEC

static const char *tool(void)
{
    static char bin[512];
    snprintf(bin, sizeof bin, "%s/ckeras", getenv("CK_BUILD_DIR"));
    return bin;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void nap(void)
{
    nanosleep(&(struct timespec){0, 20000000}, NULL);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return strdup(buf);
}

typedef struct launch {
    pid_t pid;
    double started;
} launch;

/* Starts `mpirun <args>` through the shell, its output to out.txt and err.txt. */
static launch start(const char *args)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "exec %s --allow-run-as-root --oversubscribe %s >%s 2>%s", CK_MPIEXEC,
             args, ck_test_path("out.txt"), ck_test_path("err.txt"));
    fflush(stdout);
    launch l = {fork(), now()};
    ck_assert_int_ge(l.pid, 0);
    if (l.pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return l;
}

typedef struct ended {
    int status;
    double seconds;
    char *out, *err;
} ended;

/* Waits at most `limit` seconds; a launch still running then fails the test. */
static ended finish(launch l, double limit)
{
    int ws = 0;
    while (waitpid(l.pid, &ws, WNOHANG) == 0) {
        if (now() - l.started > limit) {
            kill(l.pid, SIGKILL);
            waitpid(l.pid, &ws, 0);
            ck_abort_msg("mpirun still ran after %g s: a rank hangs", limit);
        }
        nap();
    }
    ended e = {WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws), now() - l.started,
               slurp(ck_test_path("out.txt")), slurp(ck_test_path("err.txt"))};
    return e;
}

static void ended_free(ended *e)
{
    free(e->out);
    free(e->err);
}

static int count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

enum { N = 24, T = 5, F = 4, C = 3 };

/* model.h5 (GRU on 5 x 4, Dense 3 softmax; seed 7), other.h5 (seed 8),
 * x.npy, y.npy, and old.h5: what a previous run left at the output. */
static void write_files(void)
{
    ck_test_make_dir("ckclimpi");
    for (uint64_t seed = 7; seed <= 8; seed++) {
        ck_model *m = ck_sequential(.seed = seed);
        ck_assert_ok(ck_model_add(m, ck_input(T, F)));
        ck_assert_ok(ck_model_add(m, ck_gru(8)));
        ck_assert_ok(ck_model_add(m, ck_dense(C, .activation = "softmax")));
        ck_assert_ok(ck_model_build(m));
        ck_assert_ok(ck_model_save(m, ck_test_path(seed == 7 ? "model.h5" : "other.h5")));
        ck_model_free(m);
    }
    static float x[N * T * F], y[N];
    for (int i = 0; i < N * T * F; i++)
        x[i] = sinf((float)i * 0.37f);
    for (int i = 0; i < N; i++)
        y[i] = (float)(i % C);
    ck_assert_ok(ck_npy_write(ck_test_path("x.npy"), &(ck_tensor){3, {N, T, F}, x}));
    ck_assert_ok(ck_npy_write(ck_test_path("y.npy"), &(ck_tensor){1, {N}, y}));
    FILE *f = fopen(ck_test_path("old.h5"), "wb");
    ck_assert_ptr_nonnull(f);
    fputs("the previous run's output", f);
    fclose(f);
}

/* The fit arguments after MODEL; x names the data file, epochs the count. */
static const char *fit_args(const char *x, int epochs)
{
    static char buf[1024];
    snprintf(buf, sizeof buf,
             "--x %s --y %s --loss sparse_categorical_crossentropy --optimizer adam "
             "--batch-size 8 --epochs %d --verbose 2 --seed 3 -o %s",
             ck_test_path(x), ck_test_path("y.npy"), epochs, ck_test_path("old.h5"));
    return buf;
}

static void assert_old_output_kept(void)
{
    char *text = slurp(ck_test_path("old.h5"));
    ck_assert_str_eq(text, "the previous run's output");
    free(text);
}

START_TEST(two_ranks_train_as_one)
{
    write_files();
    char args[2048];
    snprintf(args, sizeof args, "-np 2 %s fit %s %s", tool(), ck_test_path("model.h5"),
             fit_args("x.npy", 2));
    ended e = finish(start(args), 120);
    ck_assert_msg(e.status == 0, "exit %d: %.1500s", e.status, e.err);
    /* One epoch line per epoch and one report: rank 0 alone prints. */
    ck_assert_int_eq(count(e.out, "Epoch 2/2"), 1);
    ck_assert_int_eq(count(e.out, "saved "), 1);
    ck_model *par, *one;
    ck_assert_ok(ck_model_load(ck_test_path("old.h5"), &par));
    ended_free(&e);
    snprintf(args, sizeof args, "-np 1 %s fit %s %s", tool(), ck_test_path("model.h5"),
             fit_args("x.npy", 2));
    e = finish(start(args), 120);
    ck_assert_msg(e.status == 0, "exit %d: %.1500s", e.status, e.err);
    ck_assert_ok(ck_model_load(ck_test_path("old.h5"), &one));
    for (int l = 0; l < ck_model_layer_count(one); l++) {
        ck_layer *a = ck_model_layer(par, l), *b = ck_model_layer(one, l);
        for (int w = 0; w < ck_layer_weight_count(b); w++) {
            const char *name;
            ck_tensor va, vb;
            ck_assert_ok(ck_layer_weight(a, w, &name, &va));
            ck_assert_ok(ck_layer_weight(b, w, &name, &vb));
            for (size_t i = 0; i < ck_tensor_size(&vb); i++)
                ck_assert_msg(fabsf(va.data[i] - vb.data[i]) <=
                                  1e-5f * fmaxf(fabsf(vb.data[i]), 1e-2f),
                              "layer %d %s [%zu]: %g vs %g", l, name, i, va.data[i], vb.data[i]);
        }
    }
    ck_model_free(par);
    ck_model_free(one);
    ended_free(&e);
    ck_test_remove_dir();
}
END_TEST

START_TEST(missing_file_on_one_rank)
{
    write_files();
    char args[4096], second[1024];
    snprintf(second, sizeof second, "%s", fit_args("missing.npy", 2));
    snprintf(args, sizeof args, "-np 1 %s fit %s %s : -np 1 %s fit %s %s", tool(),
             ck_test_path("model.h5"), fit_args("x.npy", 2), tool(), ck_test_path("model.h5"),
             second);
    ended e = finish(start(args), 60);
    ck_assert_int_ne(e.status, 0);
    /* One line, from rank 0, naming rank 1 and its file. */
    ck_assert_int_eq(count(e.err, "ckeras: error: rank 1 of 2:"), 1);
    ck_assert_msg(strstr(e.err, "missing.npy"), "%.1500s", e.err);
    ck_assert_str_eq(e.out, "");
    assert_old_output_kept();
    ended_free(&e);
    ck_test_remove_dir();
}
END_TEST

START_TEST(other_model_on_one_rank)
{
    write_files();
    char args[4096], second[1024];
    snprintf(second, sizeof second, "%s", fit_args("x.npy", 2));
    snprintf(args, sizeof args, "-np 1 %s fit %s %s : -np 1 %s fit %s %s", tool(),
             ck_test_path("model.h5"), second, tool(), ck_test_path("other.h5"), second);
    ended e = finish(start(args), 60);
    ck_assert_int_ne(e.status, 0);
    ck_assert_msg(strstr(e.err, "rank 1 of 2 starts from other weights"), "%.1500s", e.err);
    ck_assert_int_eq(count(e.err, "ckeras: error:"), 1);
    assert_old_output_kept();
    ended_free(&e);
    ck_test_remove_dir();
}
END_TEST

/* Rank 1 is killed while training: mpirun ends rank 0 and names rank 1. */
START_TEST(killed_rank)
{
    write_files();
    char args[4096], second[1024];
    snprintf(second, sizeof second, "%s", fit_args("x.npy", 100000));
    snprintf(args, sizeof args, "-np 1 %s fit %s %s : -np 1 sh -c 'echo $$ >%s; exec %s fit %s %s'",
             tool(), ck_test_path("model.h5"), second, ck_test_path("pid"), tool(),
             ck_test_path("model.h5"), second);
    launch l = start(args);
    /* Until rank 0 has printed a few epochs: the ranks are training. */
    struct stat st;
    while ((stat(ck_test_path("out.txt"), &st) != 0 || st.st_size < 300) && now() - l.started < 60)
        nap();
    char *pid = slurp(ck_test_path("pid"));
    double killed = now();
    ck_assert_int_eq(kill((pid_t)atol(pid), SIGKILL), 0);
    free(pid);
    ended e = finish(l, 90);
    ck_assert_int_ne(e.status, 0);
    ck_assert_msg(now() - killed < 20, "the job ended %g s after the kill", now() - killed);
    ck_assert_msg(strstr(e.err, "rank 1"), "%.1500s", e.err);
    assert_old_output_kept();
    ended_free(&e);
    ck_test_remove_dir();
}
END_TEST

#ifdef CK_TOOL_HOLDS_LIBRARY
/* The tool holds the library's code, so the MPI transport is looked for
 * beside it first: a broken libckeras_mpi.so there is named, and the
 * output stays as it was. */
START_TEST(broken_transport_named)
{
    write_files();
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", tool(), ck_test_path("ckeras"));
    ck_assert_int_eq(system(cmd), 0);
    FILE *f = fopen(ck_test_path("libckeras_mpi.so"), "wb");
    ck_assert_ptr_nonnull(f);
    fputs("not a shared library", f);
    fclose(f);
    char args[2048];
    snprintf(args, sizeof args, "-np 1 %s fit %s %s", ck_test_path("ckeras"),
             ck_test_path("model.h5"), fit_args("x.npy", 1));
    ended e = finish(start(args), 60);
    ck_assert_int_ne(e.status, 0);
    ck_assert_msg(strstr(e.err, "the MPI transport cannot be loaded") &&
                      strstr(e.err, ck_test_path("libckeras_mpi.so")),
                  "%.1500s", e.err);
    assert_old_output_kept();
    ended_free(&e);
    ck_test_remove_dir();
}
END_TEST
#endif

int main(void)
{
    /* Shared memory between containers' processes without CMA. */
    setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", 0);
    Suite *s = suite_create("cli_mpi");
    TCase *tc = tcase_create("cli_mpi");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, two_ranks_train_as_one);
    tcase_add_test(tc, missing_file_on_one_rank);
    tcase_add_test(tc, other_model_on_one_rank);
    tcase_add_test(tc, killed_rank);
#ifdef CK_TOOL_HOLDS_LIBRARY
    tcase_add_test(tc, broken_transport_named);
#endif
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#else

int main(void)
{
    printf("SKIP: ckeras was built without MPI\n");
    return CK_TEST_SKIP;
}

#endif
