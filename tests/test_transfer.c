/* Transfer learning on built and loaded models, as in Keras: trainable flags
 * that change after build (taking effect at the next compile), pop, a new
 * head added to a loaded model, and weights that keep their values through
 * all of it. */
#include "ck_test.h"

#include "ck_internal.h"

#include <string.h>

enum { N = 16, S = 4, F = 3 };

static ck_model *base_model(void)
{
    ck_model *m = ck_sequential(.seed = 11);
    ck_assert_ok(ck_model_add(m, ck_input(S, F)));
    ck_assert_ok(ck_model_add(m, ck_lstm(5, .return_sequences = true, .name = "encoder")));
    ck_assert_ok(ck_model_add(m, ck_gru(4, .name = "summary")));
    ck_assert_ok(ck_model_add(m, ck_dense(3, .activation = "softmax", .name = "old_head")));
    ck_assert_ok(ck_model_build(m));
    return m;
}

static void data(float *x, float *y, int classes)
{
    for (int i = 0; i < N * S * F; i++)
        x[i] = (float)sin(0.37 * i);
    for (int i = 0; i < N * classes; i++)
        y[i] = i % classes == (i / classes) % classes ? 1.0f : 0.0f;
}

/* A copy of a layer's weights, in order. */
static float *weights_of(ck_model *m, const char *layer, size_t *n)
{
    ck_layer *l = ck_model_get_layer(m, layer);
    ck_assert_ptr_nonnull(l);
    *n = ck_layer_count_params(l);
    float *out = malloc(*n * sizeof(float)), *p = out;
    for (int k = 0; k < ck_layer_weight_count(l); k++) {
        ck_tensor v;
        ck_assert_ok(ck_layer_weight(l, k, NULL, &v));
        size_t size = 1;
        for (int d = 0; d < v.rank; d++)
            size *= (size_t)v.dims[d];
        memcpy(p, v.data, size * sizeof(float));
        p += size;
    }
    return out;
}

static bool same_weights(ck_model *m, const char *layer, const float *before)
{
    size_t n;
    float *now = weights_of(m, layer, &n);
    bool same = memcmp(now, before, n * sizeof(float)) == 0;
    free(now);
    return same;
}

/* Load a trained model, replace its head, freeze the rest, train: only
 * the new head moves; the kept layers keep the loaded values bit for bit. */
START_TEST(test_new_head_on_loaded_model)
{
    ck_model *src = base_model();
    const char *path = ck_test_path("base.h5");
    ck_assert_ok(ck_model_save(src, path));
    ck_model *m = NULL;
    ck_assert_ok(ck_model_load(path, &m));
    size_t n_enc, n_sum;
    float *enc = weights_of(m, "encoder", &n_enc), *sum = weights_of(m, "summary", &n_sum);
    ck_assert_ok(ck_model_pop(m));
    ck_assert_int_eq(ck_model_layer_count(m), 2);
    ck_assert_ok(ck_model_add(m, ck_dense(2, .activation = "softmax", .name = "new_head")));
    ck_assert(same_weights(m, "encoder", enc) && same_weights(m, "summary", sum));
    ck_assert_ok(ck_layer_set_trainable(ck_model_get_layer(m, "encoder"), false));
    ck_assert_ok(ck_layer_set_trainable(ck_model_get_layer(m, "summary"), false));
    /* Counts follow at once, as Keras's summary does. */
    ck_assert_uint_eq(ck_model_count_trainable_params(m), 4 * 2 + 2);
    ck_assert_uint_eq(ck_model_count_non_trainable_params(m), n_enc + n_sum);
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_adam(.learning_rate = 0.05),
                                  .loss = "categorical_crossentropy"));
    float x[N * S * F], y[N * 2];
    data(x, y, 2);
    ck_tensor tx = {.rank = 3, .dims = {N, S, F}, .data = x},
              ty = {.rank = 2, .dims = {N, 2}, .data = y};
    size_t n_head;
    float *head = weights_of(m, "new_head", &n_head);
    ck_assert_ok(ck_model_fit(m, &tx, &ty, NULL, .epochs = 2, .batch_size = 8));
    ck_assert(same_weights(m, "encoder", enc) && same_weights(m, "summary", sum));
    ck_assert(!same_weights(m, "new_head", head));
    /* The saved model reloads with the new head and the frozen flags. */
    ck_assert_ok(ck_model_save(m, ck_test_path("tuned.h5")));
    ck_model *back = NULL;
    ck_assert_ok(ck_model_load(ck_test_path("tuned.h5"), &back));
    ck_assert(!ck_layer_is_trainable(ck_model_get_layer(back, "encoder")));
    ck_assert_str_eq(ck_layer_class_name(ck_model_layer(back, 2)), "Dense");
    free(enc);
    free(sum);
    free(head);
    ck_model_free(back);
    ck_model_free(m);
    ck_model_free(src);
}
END_TEST

/* Keras: changing trainable after compile has no effect until compile. */
START_TEST(test_trainable_takes_effect_at_compile)
{
    ck_model *m = base_model();
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_sgd(.learning_rate = 0.5),
                                  .loss = "categorical_crossentropy"));
    float x[N * S * F], y[N * 3];
    data(x, y, 3);
    ck_tensor tx = {.rank = 3, .dims = {N, S, F}, .data = x},
              ty = {.rank = 2, .dims = {N, 3}, .data = y};
    size_t n;
    float *enc = weights_of(m, "encoder", &n);
    ck_assert_ok(ck_layer_set_trainable(ck_model_get_layer(m, "encoder"), false));
    ck_assert_ok(ck_model_train_on_batch(m, &tx, &ty, NULL));
    ck_assert(!same_weights(m, "encoder", enc)); /* still the old compile */
    free(enc);
    enc = weights_of(m, "encoder", &n);
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_sgd(.learning_rate = 0.5),
                                  .loss = "categorical_crossentropy"));
    ck_assert_ok(ck_model_train_on_batch(m, &tx, &ty, NULL));
    ck_assert(same_weights(m, "encoder", enc));
    /* Unfreezing works the same way back. */
    ck_assert_ok(ck_layer_set_trainable(ck_model_get_layer(m, "encoder"), true));
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_sgd(.learning_rate = 0.5),
                                  .loss = "categorical_crossentropy"));
    ck_assert_ok(ck_model_train_on_batch(m, &tx, &ty, NULL));
    ck_assert(!same_weights(m, "encoder", enc));
    ck_assert_uint_eq(ck_model_count_non_trainable_params(m), 0);
    free(enc);
    ck_model_free(m);
}
END_TEST

/* pop keeps what remains and drops the compile; a head that does not fit
 * leaves the model exactly as it was. */
START_TEST(test_pop_and_failed_add)
{
    ck_model *m = base_model();
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_adam(), .loss = "mse"));
    size_t n;
    float *sum = weights_of(m, "summary", &n);
    ck_assert_ok(ck_model_pop(m));
    int rank;
    int64_t dims[CK_MAX_RANK];
    ck_assert_ok(ck_model_output_shape(m, &rank, dims));
    ck_assert_int_eq(rank, 1);
    ck_assert_int_eq(dims[0], 4);
    ck_assert(same_weights(m, "summary", sum));
    float x[N * S * F], y[N * 4], before[N * 4], after[N * 4];
    data(x, y, 4);
    ck_tensor tx = {.rank = 3, .dims = {N, S, F}, .data = x},
              ty = {.rank = 2, .dims = {N, 4}, .data = y};
    ck_assert_fails(ck_model_train_on_batch(m, &tx, &ty, NULL), CK_ERR_STATE);
    ck_assert_ok(ck_model_predict(m, x, N, before));
    ck_assert_fails(ck_model_add(m, ck_lstm(2)), CK_ERR_SHAPE);
    ck_assert_int_eq(ck_model_layer_count(m), 2);
    ck_assert_ok(ck_model_predict(m, x, N, after));
    ck_assert_mem_eq(before, after, sizeof before);
    ck_assert_ok(ck_model_pop(m));
    ck_assert_ok(ck_model_pop(m));
    ck_assert(!ck_model_is_built(m));
    ck_assert_fails(ck_model_pop(m), CK_ERR_STATE);
    free(sum);
    ck_model_free(m);
}
END_TEST

/* Every allocation a rebuild makes may fail: the model stays usable with
 * the weights it had. */
START_TEST(test_add_under_allocation_failures)
{
    ck_model *m = base_model();
    float x[N * S * F], want[N * 3], got[N * 3];
    data(x, want, 3);
    ck_assert_ok(ck_model_predict(m, x, N, want));
    int failures = 0;
    for (long k = 1; k < 200; k++) {
        ck_debug_fail_alloc_after(k);
        ck_status st = ck_model_add(m, ck_dense(2));
        ck_debug_fail_alloc_after(0);
        if (st == CK_OK) {
            ck_assert_ok(ck_model_pop(m));
            break;
        }
        failures++;
        ck_assert_int_eq(ck_model_layer_count(m), 3);
        ck_assert_ok(ck_model_predict(m, x, N, got));
        ck_assert_mem_eq(got, want, sizeof got);
    }
    ck_assert_int_gt(failures, 2);
    ck_model_free(m);
}
END_TEST

/* Keras load_weights(by_name=True, skip_mismatch=True): the layers that
 * fit load, a head of another size keeps its weights, with a warning. */
START_TEST(test_skip_mismatch_by_name)
{
    ck_model *src = base_model();
    const char *path = ck_test_path("base_weights.h5");
    ck_assert_ok(ck_model_save_weights(src, path));
    ck_model *m = ck_sequential(.seed = 99);
    ck_assert_ok(ck_model_add(m, ck_input(S, F)));
    ck_assert_ok(ck_model_add(m, ck_lstm(5, .return_sequences = true, .name = "encoder")));
    ck_assert_ok(ck_model_add(m, ck_gru(4, .name = "summary")));
    ck_assert_ok(ck_model_add(m, ck_dense(7, .name = "old_head")));
    ck_assert_ok(ck_model_build(m));
    size_t n;
    float *head = weights_of(m, "old_head", &n), *enc = weights_of(src, "encoder", &n);
    ck_assert_fails(ck_model_load_weights(m, path, .by_name = true), CK_ERR_SHAPE);
    ck_assert(!same_weights(m, "encoder", enc)); /* all or nothing */
    ck_assert_fails(ck_model_load_weights(m, path, .skip_mismatch = true), CK_ERR_ARGUMENT);
    ck_assert_ok(ck_model_load_weights(m, path, .by_name = true, .skip_mismatch = true));
    ck_assert(same_weights(m, "encoder", enc));
    ck_assert(same_weights(m, "old_head", head));
    ck_assert_ptr_nonnull(strstr(ck_model_warnings(m), "layer 'old_head' skipped (skip_mismatch)"));
    free(head);
    free(enc);
    ck_model_free(m);
    ck_model_free(src);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("transfer");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, ck_test_scratch_fixture, ck_test_remove_dir);
    tcase_add_test(tc, test_new_head_on_loaded_model);
    tcase_add_test(tc, test_trainable_takes_effect_at_compile);
    tcase_add_test(tc, test_pop_and_failed_add);
    tcase_add_test(tc, test_add_under_allocation_failures);
    tcase_add_test(tc, test_skip_mismatch_by_name);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ck_test_run(suite());
}
