/* ck_file_describe and ck_file_template: what a Keras file holds, and an
 * architecture inferred from weight shapes that loads the file's weights
 * and predicts exactly like the model that saved them. */
#include "ck_test.h"

#include "ck_internal.h"

#include <hdf5.h>
#include <string.h>

enum { N = 3, S = 6, F = 5 };

static ck_model *stack_model(void)
{
    ck_model *m = ck_sequential(.seed = 5);
    ck_assert_ok(ck_model_add(m, ck_input(S, F)));
    ck_assert_ok(ck_model_add(m, ck_lstm(8, .return_sequences = true)));
    ck_assert_ok(ck_model_add(m, ck_gru(4)));
    ck_assert_ok(ck_model_add(m, ck_dense(2)));
    ck_assert_ok(ck_model_build(m));
    return m;
}

static void assert_has(const char *text, const char *part)
{
    ck_assert_msg(text && strstr(text, part), "'%s' lacks '%s'", text ? text : "(null)", part);
}

START_TEST(test_describe_whole_model)
{
    ck_model *m = stack_model();
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_adam(), .loss = "mse"));
    float x[N * S * F], y[N * 2];
    for (int i = 0; i < N * S * F; i++)
        x[i] = (float)cos(0.3 * i);
    for (int i = 0; i < N * 2; i++)
        y[i] = (float)(i % 2);
    ck_tensor tx = {.rank = 3, .dims = {N, S, F}, .data = x},
              ty = {.rank = 2, .dims = {N, 2}, .data = y};
    ck_assert_ok(ck_model_train_on_batch(m, &tx, &ty, NULL));
    const char *path = ck_test_path("whole.h5");
    ck_assert_ok(ck_model_save(m, path));
    char *text = ck_file_describe(path);
    assert_has(text, "kind: Keras whole-model .h5\n");
    assert_has(text, "keras_version: 2.15.0\n");
    assert_has(text, "model config: yes\ntraining config: yes\noptimizer state: yes (17 arrays)\n");
    assert_has(text,
               "layer groups (3, in model order):\n  lstm\n    lstm/lstm_cell/kernel:0 (5, 32)\n");
    assert_has(text, "    gru/gru_cell/bias:0 (2, 12)\n");
    ck_free(text);
    ck_assert_ptr_null(ck_file_describe(ck_test_path("absent.h5")));
    ck_assert_int_eq(ck_error_status(), CK_ERR_IO);
    ck_model_free(m);
}
END_TEST

/* Keras include_optimizer=False: neither a training config nor optimizer
 * state, in .h5 and .keras; the model loads uncompiled. */
START_TEST(test_save_without_optimizer)
{
    ck_model *m = stack_model();
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_adam(), .loss = "mse"));
    const char *paths[] = {ck_test_path("no_opt.h5"), ck_test_path("no_opt.keras")};
    for (int i = 0; i < 2; i++) {
        ck_assert_ok(ck_model_save(m, paths[i], .no_optimizer = true));
        char *text = ck_file_describe(paths[i]);
        assert_has(text, "model config: yes\ntraining config: no\noptimizer state: no\n");
        ck_free(text);
        ck_model *back = NULL;
        ck_assert_ok(ck_model_load(paths[i], &back));
        float x[S * F] = {0}, y[2] = {0};
        ck_tensor tx = {.rank = 3, .dims = {1, S, F}, .data = x},
                  ty = {.rank = 2, .dims = {1, 2}, .data = y};
        ck_assert_int_eq(ck_model_train_on_batch(back, &tx, &ty, NULL), CK_ERR_STATE);
        ck_model_free(back);
    }
    ck_assert_ok(ck_model_save(m, paths[0]));
    char *text = ck_file_describe(paths[0]);
    assert_has(text, "training config: yes\n");
    ck_free(text);
    ck_model_free(m);
}
END_TEST

/* Weights only, in both layouts: the template rebuilds the architecture. */
static void template_round_trip(const char *name, bool keras3_layout)
{
    ck_model *m = stack_model();
    const char *path = ck_test_path(name);
    ck_assert_ok(ck_model_save_weights(m, path, .keras3_layout = keras3_layout));
    char *text = ck_file_describe(path);
    assert_has(text, "model config: no\ntraining config: no\noptimizer state: no\n");
    assert_has(text, keras3_layout ? "cell/vars/0 (5, 32)" : "lstm/lstm_cell/kernel:0 (5, 32)");
    ck_free(text);
    char *json = ck_file_template(path);
    ck_assert_msg(json != NULL, "%s", ck_last_error());
    assert_has(json, "\"class_name\":\t\"GRU\"");
    ck_model *t = NULL;
    ck_assert_ok(ck_model_from_json(json, &t));
    ck_assert_ok(ck_model_load_weights(t, path));
    float x[N * S * F], want[N * 2], got[N * 2];
    for (int i = 0; i < N * S * F; i++)
        x[i] = (float)sin(0.11 * i);
    ck_tensor tx = {.rank = 3, .dims = {N, S, F}, .data = x};
    ck_tensor tw = {.rank = 1, .dims = {N * 2}, .data = want},
              tg = {.rank = 1, .dims = {N * 2}, .data = got};
    ck_assert_ok(ck_model_predict_tensor(m, &tx, &tw));
    ck_assert_ok(ck_model_predict_tensor(t, &tx, &tg));
    ck_assert_mem_eq(want, got, sizeof want);
    ck_free(json);
    ck_model_free(t);
    ck_model_free(m);
}

START_TEST(test_template_from_keras2_weights)
{
    template_round_trip("stack.h5", false);
}
END_TEST

START_TEST(test_template_from_keras3_weights)
{
    template_round_trip("stack.weights.h5", true);
}
END_TEST

/* A Conv1D kernel is not part of an LSTM/GRU/SimpleRNN/Dense stack. */
START_TEST(test_template_refuses_other_layers)
{
    ck_model *m = ck_sequential();
    ck_assert_ok(ck_model_add(m, ck_input(S, F)));
    ck_assert_ok(ck_model_add(m, ck_conv1d(4, 3)));
    ck_assert_ok(ck_model_build(m));
    const char *path = ck_test_path("conv.weights.h5");
    ck_assert_ok(ck_model_save_weights(m, path));
    ck_assert_ptr_null(ck_file_template(path));
    ck_assert_int_eq(ck_error_status(), CK_ERR_UNSUPPORTED);
    assert_has(ck_last_error(), "conv1d");
    ck_model_free(m);
}
END_TEST

/* The LSTM's bias replaced by a scalar, or missing: no layer has such
 * weights, so there is no template (nor a read outside the shapes). */
START_TEST(test_template_refuses_odd_bias)
{
    ck_model *m = stack_model();
    const char *path = ck_test_path("odd.weights.h5");
    for (int scalar = 0; scalar < 2; scalar++) {
        ck_assert_ok(ck_model_save_weights(m, path, .keras3_layout = true));
        hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
        ck_assert_int_ge(f, 0);
        ck_assert_int_ge(H5Ldelete(f, "layers/lstm/cell/vars/2", H5P_DEFAULT), 0);
        if (scalar) {
            hid_t sp = H5Screate(H5S_SCALAR);
            hid_t d = H5Dcreate2(f, "layers/lstm/cell/vars/2", H5T_NATIVE_FLOAT, sp, H5P_DEFAULT,
                                 H5P_DEFAULT, H5P_DEFAULT);
            ck_assert_int_ge(d, 0);
            H5Dclose(d);
            H5Sclose(sp);
        }
        H5Fclose(f);
        char *text = ck_file_describe(path);
        ck_assert_ptr_nonnull(text);
        ck_free(text);
        ck_assert_ptr_null(ck_file_template(path));
        ck_assert_int_eq(ck_error_status(), CK_ERR_UNSUPPORTED);
    }
    /* A kernel with an empty axis gives no template ckeras would refuse. */
    ck_assert_ok(ck_model_save_weights(m, path, .keras3_layout = true));
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t rk = H5Dopen2(f, "layers/lstm/cell/vars/1", H5P_DEFAULT), rs = H5Dget_space(rk);
    hsize_t dims[2];
    ck_assert_int_eq(H5Sget_simple_extent_dims(rs, dims, NULL), 2);
    H5Sclose(rs);
    H5Dclose(rk);
    ck_assert_int_ge(H5Ldelete(f, "layers/lstm/cell/vars/0", H5P_DEFAULT), 0);
    dims[0] = 0;
    hid_t sp = H5Screate_simple(2, dims, NULL);
    hid_t d = H5Dcreate2(f, "layers/lstm/cell/vars/0", H5T_NATIVE_FLOAT, sp, H5P_DEFAULT,
                         H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(d, 0);
    H5Dclose(d);
    H5Sclose(sp);
    H5Fclose(f);
    ck_assert_ptr_null(ck_file_template(path));
    ck_assert_int_eq(ck_error_status(), CK_ERR_UNSUPPORTED);
    ck_model_free(m);
}
END_TEST

/* The flagship's widths repeat (LSTM(64) feeds LSTM(128) and later
 * Dense(64) takes LSTM(64)'s output), and a .weights.h5 keeps its groups
 * by name (dense, dense_1, ..., lstm, ...): the template still finds the
 * stack, in model order. */
START_TEST(test_template_orders_repeated_widths)
{
    ck_model *m = ck_sequential();
    ck_assert_ok(ck_model_add(m, ck_input(5, 126)));
    ck_assert_ok(ck_model_add(m, ck_lstm(64, .return_sequences = true)));
    ck_assert_ok(ck_model_add(m, ck_lstm(128, .return_sequences = true)));
    ck_assert_ok(ck_model_add(m, ck_lstm(64)));
    ck_assert_ok(ck_model_add(m, ck_dense(64)));
    ck_assert_ok(ck_model_add(m, ck_dense(32)));
    ck_assert_ok(ck_model_add(m, ck_dense(3)));
    ck_assert_ok(ck_model_build(m));
    const char *path = ck_test_path("flagship.weights.h5");
    ck_assert_ok(ck_model_save_weights(m, path, .keras3_layout = true));
    char *json = ck_file_template(path);
    ck_assert_msg(json != NULL, "%s", ck_last_error());
    ck_model *t = NULL;
    ck_assert_ok(ck_model_from_json(json, &t));
    ck_assert_ok(ck_model_load_weights(t, path));
    ck_assert_int_eq(ck_model_layer_count(t), 6);
    const int64_t units[] = {64, 128, 64, 64, 32, 3};
    for (int i = 0; i < 6; i++) {
        ck_layer *l = ck_model_layer(t, i);
        int rank;
        int64_t dims[CK_MAX_RANK];
        ck_assert_str_eq(ck_layer_class_name(l), i < 3 ? "LSTM" : "Dense");
        ck_assert_ok(ck_layer_output_shape(l, &rank, dims));
        ck_assert_int_eq(dims[rank - 1], units[i]);
    }
    ck_free(json);
    ck_model_free(t);
    ck_model_free(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("inspect");
    TCase *tc = tcase_create("files");
    tcase_add_checked_fixture(tc, ck_test_scratch_fixture, ck_test_remove_dir);
    tcase_add_test(tc, test_describe_whole_model);
    tcase_add_test(tc, test_save_without_optimizer);
    tcase_add_test(tc, test_template_from_keras2_weights);
    tcase_add_test(tc, test_template_from_keras3_weights);
    tcase_add_test(tc, test_template_refuses_other_layers);
    tcase_add_test(tc, test_template_refuses_odd_bias);
    tcase_add_test(tc, test_template_orders_repeated_widths);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ck_test_run(suite());
}
