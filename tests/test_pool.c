/* The thread pool, ck_set_num_threads and ck_warm_up: every task runs exactly once,
 * whatever the thread count and with several callers at once, and a
 * product's or a model's results are bitwise the same for 1, 2 and 3
 * threads (the pieces of a split never depend on the thread count). */
#include "ck_blas.h"
#include "ck_gradcheck.h"
#include "ck_pool.h"
#include "ck_test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_TASKS 300

typedef struct counts {
    atomic_int ran[MAX_TASKS];
} counts;

static void count_task(void *arg, int i)
{
    counts *c = arg;
    atomic_fetch_add(&c->ran[i], 1);
}

static void run_and_check(int n)
{
    counts c;
    for (int i = 0; i < MAX_TASKS; i++)
        atomic_init(&c.ran[i], 0);
    ck_pool_run(n, count_task, &c);
    for (int i = 0; i < MAX_TASKS; i++)
        ck_assert_int_eq(atomic_load(&c.ran[i]), i < n ? 1 : 0);
}

static int thread_count(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    ck_assert_ptr_nonnull(f);
    char line[256];
    int n = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    fclose(f);
    return n;
}

/* ck_warm_up creates the workers the thread count asks for (the first
 * product then does not wait for them), once. First in the suite: no
 * product has started them yet. */
START_TEST(warm_up_starts_workers)
{
    ck_assert_ok(ck_set_num_threads(4));
    int before = thread_count();
    ck_warm_up();
    int after = thread_count();
    /* At least: ThreadSanitizer starts a thread of its own with the first. */
    ck_assert_int_ge(after - before, 3);
    ck_warm_up();
    ck_assert_int_eq(thread_count(), after);
}
END_TEST

START_TEST(every_task_runs_once)
{
    for (int threads = 1; threads <= 4; threads++) {
        ck_assert_ok(ck_set_num_threads(threads));
        ck_assert_int_eq(ck_get_num_threads(), threads);
        for (int n = 0; n <= MAX_TASKS; n += n < 10 ? 1 : 37)
            run_and_check(n);
    }
}
END_TEST

static void *caller(void *arg)
{
    (void)arg;
    for (int k = 0; k < 200; k++)
        run_and_check(1 + k % 40);
    return NULL;
}

/* Callers that find the pool busy run their tasks alone; none is lost. */
START_TEST(concurrent_callers)
{
    ck_assert_ok(ck_set_num_threads(2));
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, caller, NULL), 0);
    caller(NULL);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
}
END_TEST

START_TEST(thread_count_is_checked)
{
    ck_assert_ok(ck_set_num_threads(2));
    ck_assert_fails(ck_set_num_threads(0), CK_ERR_ARGUMENT);
    ck_assert_fails(ck_set_num_threads(65), CK_ERR_ARGUMENT);
    ck_assert_int_eq(ck_get_num_threads(), 2);
}
END_TEST

/* ---------------- same results for any thread count ---------------- */

static float *filled(size_t n, double phase)
{
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = (float)sin(0.37 * (double)i + phase);
    return v;
}

enum { PM = 300, PN = 700, PK = 200 };

/* One large product of each form (split over the pool) and a packed one. */
static float *products(int threads)
{
    ck_assert_ok(ck_set_num_threads(threads));
    float *A = filled((size_t)PM * PK, 0.1), *B = filled((size_t)PK * PN, 0.2);
    float *C = calloc(4 * (size_t)PM * PN, sizeof *C);
    ck_gemm(PM, PN, PK, A, PK, B, PN, 0.0f, C, PN);
    ck_gemm_tn(PK, PN, PM, A, PK, C, PN, 0.0f, C + (size_t)PM * PN, PN);
    ck_gemm_nt(PM, PK, PN, C, PN, B, PN, 0.0f, C + 2 * (size_t)PM * PN, PK);
    ck_packed p = {0};
    ck_assert_ok(ck_pack(&p, B, PK, PN, PN, false));
    ck_gemm_packed(64, A, PK, &p, 0.0f, C + 3 * (size_t)PM * PN, PN);
    ck_packed_free(&p);
    free(A), free(B);
    return C;
}

START_TEST(products_do_not_depend_on_threads)
{
    float *one = products(1);
    for (int threads = 2; threads <= 3; threads++) {
        float *more = products(threads);
        ck_assert_msg(memcmp(one, more, 4 * (size_t)PM * PN * sizeof *one) == 0,
                      "%d threads gave other products than 1", threads);
        free(more);
    }
    free(one);
}
END_TEST

/* ck_gemm_group: four independent products (one large enough to be cut
 * into pieces, one small, an accumulating one, one of each form) give,
 * on 1, 2 and 3 threads, exactly what they give one after the other. */
enum { GM = 160, GK = 126, GN = 256, GBIG = 1662 };

START_TEST(group_equals_one_by_one)
{
    float *x = filled((size_t)GM * GBIG, 0.4), *dz = filled((size_t)GM * GN, 0.5);
    float *w = filled((size_t)GBIG * GN, 0.6);
    size_t sizes[4] = {(size_t)GBIG * GN, (size_t)GK * GN, (size_t)GM * GBIG, 8 * 8};
    float *want[4], *got[4];
    for (int k = 0; k < 4; k++) {
        want[k] = filled(sizes[k], 0.9 + k);
        got[k] = malloc(sizes[k] * sizeof(float));
    }
    ck_gemm_op ops[4] = {
        ck_gemm_op_tn(GBIG, GN, GM, x, GBIG, dz, GN, 1.0f, got[0], GN),
        ck_gemm_op_tn(GK, GN, GM, x, GBIG, dz, GN, 0.0f, got[1], GN),
        ck_gemm_op_nt(GM, GBIG, GN, dz, GN, w, GN, 0.0f, got[2], GBIG),
        ck_gemm_op_nt(8, 8, GN, dz, GN, w, GN, 1.0f, got[3], 8),
    };
    ck_assert_ok(ck_set_num_threads(1));
    ck_gemm_tn(GBIG, GN, GM, x, GBIG, dz, GN, 1.0f, want[0], GN);
    ck_gemm_tn(GK, GN, GM, x, GBIG, dz, GN, 0.0f, want[1], GN);
    ck_gemm_nt(GM, GBIG, GN, dz, GN, w, GN, 0.0f, want[2], GBIG);
    ck_gemm_nt(8, 8, GN, dz, GN, w, GN, 1.0f, want[3], 8);
    for (int threads = 1; threads <= 3; threads++) {
        ck_assert_ok(ck_set_num_threads(threads));
        for (int k = 0; k < 4; k++) {
            float *start = filled(sizes[k], 0.9 + k);
            memcpy(got[k], start, sizes[k] * sizeof(float));
            free(start);
        }
        ck_gemm_group(ops, 4);
        for (int k = 0; k < 4; k++)
            ck_assert_msg(memcmp(want[k], got[k], sizes[k] * sizeof(float)) == 0,
                          "product %d of the group differs on %d threads", k, threads);
    }
    for (int k = 0; k < 4; k++)
        free(want[k]), free(got[k]);
    free(x), free(dz), free(w);
}
END_TEST

enum { MB = 32, MT = 8, MF = 40 };

/* Predictions and one backward's weight gradients of recurrent layers
 * whose 32 samples go through the steps in two groups (ck_rnn.h), one
 * per thread, and whose per-step products and cell passes (32 x 256
 * values) are large enough to be split; the last layer's hard_sigmoid
 * takes the generic cell, whose backward uses scratch memory of its own
 * in each task; Bidirectional predicts its two directions as two tasks. */
static float *model_results(int threads, size_t *n)
{
    ck_assert_ok(ck_set_num_threads(threads));
    ck_model *m = ck_sequential(.seed = 9);
    ck_assert_ok(ck_model_add(m, ck_input(MT, MF)));
    ck_assert_ok(ck_model_add(m, ck_lstm(128, .return_sequences = true)));
    ck_assert_ok(ck_model_add(m, ck_bidirectional(ck_gru(24, .return_sequences = true))));
    ck_assert_ok(ck_model_add(m, ck_gru(24, .no_reset_after = true, .return_sequences = true)));
    ck_assert_ok(ck_model_add(m, ck_simple_rnn(16, .return_sequences = true)));
    ck_assert_ok(ck_model_add(m, ck_lstm(256, .recurrent_activation = "hard_sigmoid")));
    ck_assert_ok(ck_model_build(m));
    float *x = filled((size_t)MB * MT * MF, 0.3), *r = filled((size_t)MB * 256, 0.7);
    *n = (size_t)MB * 256 + m->n_params;
    float *out = malloc(*n * sizeof *out);
    ck_assert_ok(ck_model_predict(m, x, MB, out));
    ck_fd fd = {.m = m,
                .x = {.rank = 3, .dims = {MB, MT, MF}, .data = x},
                .r = r,
                .rng = m->rng,
                .training = true};
    ck_fd_backward(&fd);
    memcpy(out + (size_t)MB * 256, m->grads, m->n_params * sizeof *out);
    ck_model_free(m);
    free(x), free(r);
    return out;
}

START_TEST(models_do_not_depend_on_threads)
{
    size_t n;
    float *one = model_results(1, &n), *two = model_results(2, &n);
    ck_assert_msg(memcmp(one, two, n * sizeof *one) == 0, "2 threads gave other results than 1");
    free(one), free(two);
}
END_TEST

static double cpu_seconds(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

/* CPU time of this process during 300 ms of sleep after waking the
 * pool's worker. */
static double cpu_while_idle(void)
{
    run_and_check(MAX_TASKS);
    double before = cpu_seconds();
    nanosleep(&(struct timespec){0, 300000000}, NULL);
    return cpu_seconds() - before;
}

/* Workers spin through a training step (ck_pool_hold), a refused one
 * included, and sleep once the pool is idle again: an idle process costs
 * no CPU. */
START_TEST(idle_after_training)
{
    ck_assert_ok(ck_set_num_threads(2));
    ck_model *m = ck_sequential(.seed = 4);
    ck_assert_ok(ck_model_add(m, ck_input(2)));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 1)));
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_sgd(.learning_rate = 0.1), .loss = "mse"));
    float xv[] = {1, 2, 3, 4}, yv[] = {1, 0}, bad[] = {1, 0.0f / 0.0f};
    ck_tensor x = {2, {2, 2}, xv}, y = {2, {2, 1}, yv}, ybad = {2, {2, 1}, bad};
    double loss;
    for (int i = 0; i < 5; i++)
        ck_assert_ok(ck_model_train_on_batch(m, &x, &y, &loss));
    ck_assert_int_ne(ck_model_train_on_batch(m, &x, &ybad, &loss), CK_OK);
    double used = cpu_while_idle();
    ck_assert_msg(used < 0.1, "%.0f ms of CPU time during 300 ms of sleep", used * 1e3);
    ck_model_free(m);
}
END_TEST

/* ThreadSanitizer ends a child that starts threads after the fork of a
 * process with threads, which fork_drops_holds needs; the other builds
 * run it. */
#if defined(__SANITIZE_THREAD__)
#define FORK_CHILD_THREADS 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define FORK_CHILD_THREADS 0
#endif
#endif
#ifndef FORK_CHILD_THREADS
#define FORK_CHILD_THREADS 1
#endif

#if FORK_CHILD_THREADS
/* A child forked while the parent holds the pool (another thread's
 * training step, say) does not inherit the hold. */
START_TEST(fork_drops_holds)
{
    ck_assert_ok(ck_set_num_threads(2));
    ck_pool_hold();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(cpu_while_idle() < 0.1 ? 0 : 1);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_pool_release();
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "the child's worker kept spinning for its parent's hold");
    ck_assert_msg(cpu_while_idle() < 0.1, "the parent's worker kept spinning after its release");
}
END_TEST
#endif

int main(void)
{
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("pool");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, warm_up_starts_workers);
    tcase_add_test(tc, every_task_runs_once);
    tcase_add_test(tc, concurrent_callers);
    tcase_add_test(tc, thread_count_is_checked);
    tcase_add_test(tc, products_do_not_depend_on_threads);
    tcase_add_test(tc, group_equals_one_by_one);
    tcase_add_test(tc, models_do_not_depend_on_threads);
    tcase_add_test(tc, idle_after_training);
#if FORK_CHILD_THREADS
    tcase_add_test(tc, fork_drops_holds);
#endif
    suite_add_tcase(s, tc);
    return ck_test_run(s);
}
