/* Allocation-failure injection (issue 8): for every n, the n-th ck_alloc
 * along build, fit, save and load fails; each path must then return an
 * error (CK_ERR_MEMORY) instead of crashing, and free everything it took
 * (LeakSanitizer checks the latter in the ASan build). A save that fails
 * must also leave the previous file loadable. */
#include "ck_test.h"

#include "ck_internal.h"
#include "ck_npy.h"

#include <string.h>
#include <unistd.h>

/* Stops runaway loops if a path ever allocates without bound. */
enum { MAX_ALLOCS = 20000 };

static char dir[64];

static const char *path_of(const char *name)
{
    static char buf[4][128];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

/* Whether the armed failure is still pending, i.e. the path made fewer
 * than n allocations. Probing consumes the countdown, which is then off. */
static bool failure_still_pending(long n)
{
    for (long i = 0; i < n; i++) {
        void *p = ck_alloc(1, 1);
        if (!p)
            return true;
        free(p);
    }
    return false;
}

/* A path arms the failure with ck_debug_fail_alloc_after(n) where its
 * measured part begins, so that set-up it repeats each time is excluded
 * and state kept from an earlier run cannot hide an allocation. */
typedef ck_status (*alloc_path)(void *ctx, long n);

/* Fails allocation 1, 2, 3, ... of `path` until it runs out of
 * allocations to fail; returns how many it had. */
static long fail_each_allocation(const char *what, alloc_path path, void *ctx)
{
    for (long n = 1; n <= MAX_ALLOCS; n++) {
        ck_clear_error();
        ck_status st = path(ctx, n);
        if (st == CK_OK) {
            ck_assert_msg(failure_still_pending(n),
                          "%s: allocation #%ld failed but the call reported success", what, n);
            return n - 1;
        }
        ck_debug_fail_alloc_after(0);
        ck_assert_msg(st == CK_ERR_MEMORY, "%s: failing allocation #%ld gave %s (%s), expected %s",
                      what, n, ck_status_name(st), ck_last_error(), "CK_ERR_MEMORY");
        ck_assert_msg(ck_last_error()[0] != '\0', "%s: no message after allocation #%ld failed",
                      what, n);
    }
    ck_abort_msg("%s made more than %d allocations", what, MAX_ALLOCS);
    return 0;
}

/* ---------------------------------------------------------------- models */

enum { T = 5, F = 6, N = 8, K = 3 };

static float x_data[N * T * F], y_data[N * K];

static ck_status add_layers(ck_model *m)
{
    CK_TRY(ck_model_add(m, ck_input(T, F)));
    CK_TRY(ck_model_add(m, ck_lstm(.units = 4, .activation = "relu", .return_sequences = true)));
    CK_TRY(ck_model_add(m, ck_gru(3)));
    CK_TRY(ck_model_add(m, ck_dense(.units = 4, .activation = "relu")));
    return ck_model_add(m, ck_dense(.units = K, .activation = "softmax"));
}

/* The flagship shape in miniature, built and run once. */
static ck_status build_and_predict(ck_model **out)
{
    *out = ck_sequential(.seed = 5);
    if (!*out)
        return ck_error_status();
    CK_TRY(add_layers(*out));
    CK_TRY(ck_model_build(*out));
    float y[2 * K];
    return ck_model_predict(*out, x_data, 2, y);
}

static ck_status path_build(void *ctx, long n)
{
    (void)ctx;
    ck_debug_fail_alloc_after(n);
    ck_model *m = NULL;
    ck_status st = build_and_predict(&m);
    ck_model_free(m);
    return st;
}

static ck_model *trained_model(void)
{
    ck_model *m;
    ck_assert_ok(build_and_predict(&m));
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_adam(), .loss = "categorical_crossentropy",
                                  .metrics = {"accuracy"}));
    ck_tensor x = {.rank = 3, .dims = {N, T, F}, .data = x_data};
    ck_tensor y = {.rank = 2, .dims = {N, K}, .data = y_data};
    ck_assert_ok(ck_model_train_on_batch(m, &x, &y, NULL));
    return m;
}

static void setup(void)
{
    for (size_t i = 0; i < sizeof x_data / sizeof x_data[0]; i++)
        x_data[i] = (float)((int)(i * 5 % 11) - 5) / 5.0f;
    for (int i = 0; i < N; i++)
        y_data[i * K + i % K] = 1.0f;
    snprintf(dir, sizeof dir, "/tmp/ck_alloc_failures_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_model *m = trained_model();
    ck_assert_ok(ck_model_save(m, path_of("model.h5")));
    ck_assert_ok(ck_model_save_weights(m, path_of("w.h5")));
    ck_assert_ok(ck_model_save_weights(m, path_of("w.weights.h5")));
    ck_model_free(m);
}

static void teardown(void)
{
    const char *names[] = {"model.h5", "w.h5", "w.weights.h5", "out.h5", "out.weights.h5", "a.npy"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        unlink(path_of(names[i]));
    rmdir(dir);
}

/* ---------------------------------------------------------------- paths */

START_TEST(build_path)
{
    long n = fail_each_allocation("build", path_build, NULL);
    ck_assert_int_gt(n, 10);
}
END_TEST

/* A fresh compiled model each time: fit keeps buffers in the model. */
static ck_status path_fit(void *ctx, long n)
{
    (void)ctx;
    ck_model *m;
    ck_assert_ok(build_and_predict(&m));
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_adam(), .loss = "categorical_crossentropy",
                                  .metrics = {"accuracy"}));
    ck_debug_fail_alloc_after(n);
    ck_tensor x = {.rank = 3, .dims = {N, T, F}, .data = x_data};
    ck_tensor y = {.rank = 2, .dims = {N, K}, .data = y_data};
    ck_history *h = NULL;
    ck_status st = ck_model_fit(m, &x, &y, &h, .epochs = 2, .batch_size = 3,
                                .validation_split = 0.25);
    ck_history_free(h);
    double loss, acc;
    if (st == CK_OK)
        st = ck_model_evaluate(m, &x, &y, 4, &loss, &acc);
    ck_model_free(m);
    return st;
}

START_TEST(fit_path)
{
    ck_model *m;
    ck_assert_ok(build_and_predict(&m));
    ck_status st = ck_model_compile(m, .optimizer = ck_adam(), .loss = "categorical_crossentropy",
                                    .metrics = {"accuracy"});
    if (st == CK_ERR_UNSUPPORTED) {
        ck_test_skip("fit_path: training is not available (%s)", ck_last_error());
        ck_model_free(m);
        return;
    }
    ck_model_free(m);
    ck_assert_ok(st);
    ck_assert_int_gt(fail_each_allocation("fit", path_fit, NULL), 10);
}
END_TEST

typedef struct save_ctx {
    ck_model *model;
    const char *path;
    bool weights_only;
} save_ctx;

static ck_status path_save(void *ctx, long n)
{
    save_ctx *c = ctx;
    ck_debug_fail_alloc_after(n);
    return c->weights_only ? ck_model_save_weights(c->model, c->path)
                           : ck_model_save(c->model, c->path);
}

/* After every failed save the file written before must still load. */
static void check_save(const char *target, bool weights_only)
{
    ck_model *m = trained_model();
    ck_assert_ok(weights_only ? ck_model_save_weights(m, target) : ck_model_save(m, target));
    save_ctx c = {m, target, weights_only};
    long n = fail_each_allocation(target, path_save, &c);
    ck_assert_int_gt(n, 0);
    if (weights_only) {
        ck_assert_ok(ck_model_load_weights(m, target));
    } else {
        ck_model *again;
        ck_assert_ok(ck_model_load(target, &again));
        ck_model_free(again);
    }
    ck_model_free(m);
}

START_TEST(save_path)
{
    check_save(path_of("out.h5"), false);
    check_save(path_of("out.h5"), true);
    check_save(path_of("out.weights.h5"), true);
}
END_TEST

static ck_status path_load_model(void *ctx, long n)
{
    ck_debug_fail_alloc_after(n);
    ck_model *m = NULL;
    ck_status st = ck_model_load(ctx, &m);
    ck_model_free(m);
    return st;
}

static ck_status path_load_weights(void *ctx, long n)
{
    const char *const *a = ctx;
    ck_model *m;
    ck_assert_ok(build_and_predict(&m));
    ck_debug_fail_alloc_after(n);
    ck_status st = ck_model_load_weights(m, a[0], .by_name = a[1] != NULL);
    ck_model_free(m);
    return st;
}

static ck_status path_json(void *ctx, long n)
{
    ck_debug_fail_alloc_after(n);
    ck_model *m = NULL;
    ck_status st = ck_model_from_json(ctx, &m);
    char *json = st == CK_OK ? ck_model_to_json(m) : NULL;
    if (st == CK_OK && !json)
        st = ck_error_status();
    ck_free(json);
    ck_model_free(m);
    return st;
}

START_TEST(load_path)
{
    ck_assert_int_gt(
        fail_each_allocation("load model", path_load_model, (void *)path_of("model.h5")), 0);
    const char *k2[] = {path_of("w.h5"), NULL}, *k2_by_name[] = {path_of("w.h5"), "by_name"},
               *k3[] = {path_of("w.weights.h5"), NULL};
    ck_assert_int_gt(fail_each_allocation("load weights", path_load_weights, k2), 0);
    ck_assert_int_gt(fail_each_allocation("load weights by name", path_load_weights, k2_by_name),
                     0);
    ck_assert_int_gt(fail_each_allocation("load .weights.h5", path_load_weights, k3), 0);

    ck_model *m;
    ck_assert_ok(build_and_predict(&m));
    char *json = ck_model_to_json(m);
    ck_assert_ptr_nonnull(json);
    ck_model_free(m);
    ck_assert_int_gt(fail_each_allocation("from_json", path_json, json), 0);
    ck_free(json);
}
END_TEST

static ck_status path_npy(void *ctx, long n)
{
    ck_debug_fail_alloc_after(n);
    ck_tensor t;
    ck_status st = ck_npy_read(ctx, &t);
    if (st == CK_OK)
        ck_npy_free(&t);
    return st;
}

START_TEST(npy_path)
{
    ck_tensor t = {.rank = 3, .dims = {N, T, F}, .data = x_data};
    ck_assert_ok(ck_npy_write(path_of("a.npy"), &t));
    ck_assert_int_gt(fail_each_allocation("npy", path_npy, (void *)path_of("a.npy")), 0);
}
END_TEST

/* Bidirectional inference runs its directions as two pool tasks and
 * reports a task's failure from the caller's thread. The countdown is
 * per thread, so one thread runs both tasks here: every allocation of
 * both directions is failed in turn. */
static ck_status path_bidirectional(void *ctx, long n)
{
    ck_model *m = ctx;
    float y[2 * T * 2 * 3]; /* two samples of T steps, both directions of 3 units */
    ck_debug_fail_alloc_after(n);
    return ck_model_predict(m, x_data, 2, y);
}

START_TEST(bidirectional_path)
{
    int threads = ck_get_num_threads();
    ck_assert_ok(ck_set_num_threads(1));
    ck_model *m = ck_sequential(.seed = 9);
    ck_assert_ok(ck_model_add(m, ck_input(T, F)));
    ck_assert_ok(ck_model_add(m, ck_bidirectional(ck_lstm(.units = 3, .return_sequences = true))));
    ck_assert_ok(ck_model_build(m));
    ck_assert_int_gt(fail_each_allocation("bidirectional predict", path_bidirectional, m), 0);
    ck_model_free(m);
    ck_assert_ok(ck_set_num_threads(threads));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("alloc_failures");
    TCase *tc = tcase_create("paths");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, build_path);
    tcase_add_test(tc, fit_path);
    tcase_add_test(tc, save_path);
    tcase_add_test(tc, load_path);
    tcase_add_test(tc, npy_path);
    tcase_add_test(tc, bidirectional_path);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ck_test_run(suite());
}
