/* Normalization and Rescaling: files of each release's layout
 * (tests/data/preprocessing/, written by make_preprocessing_files.py, with
 * the outputs numpy computes from Keras's formulas), the summary's counts,
 * save/load round trips, training past a Normalization, the C API and
 * configs Keras would refuse or compute NaN from. */
#include "ck_test.h"
#include "ckeras_export.h"

#include <cjson/cJSON.h>
#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DATA "tests/data/preprocessing/"

/* Loads DATA/name.<ext>, predicts DATA/name.x.npy, compares with .y.npy. */
static ck_model *check_file(const char *name, const char *ext)
{
    char path[256];
    ck_model *m = NULL;
    snprintf(path, sizeof path, DATA "%s.%s", name, ext);
    ck_assert_ok(ck_model_load(path, &m));
    ck_tensor x, want;
    snprintf(path, sizeof path, DATA "%s.x.npy", name);
    ck_assert_ok(ck_npy_read(path, &x));
    snprintf(path, sizeof path, DATA "%s.y.npy", name);
    ck_assert_ok(ck_npy_read(path, &want));
    size_t n = ck_tensor_size(&want);
    float *y = calloc(n, sizeof *y);
    ck_tensor ty = want;
    ty.data = y;
    ck_assert_ok(ck_model_predict_tensor(m, &x, &ty));
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(fabsf(y[i] - want.data[i]) <= 1e-5f * (1 + fabsf(want.data[i])),
                      "%s: output %zu = %.8g, Keras's formula gives %.8g", name, i, (double)y[i],
                      (double)want.data[i]);
    free(y);
    ck_free(x.data);
    ck_free(want.data);
    return m;
}

START_TEST(test_tf_keras_adapted_h5)
{
    ck_model_free(check_file("tf2_12_adapted", "h5"));
}
END_TEST

START_TEST(test_tf_keras_given_invert_h5)
{
    ck_model_free(check_file("tf2_15_given_invert", "h5"));
}
END_TEST

/* tf.keras 2.10 added invert as (x + mean) * std; 2.11 made it the inverse. */
START_TEST(test_tf_keras_2_10_invert)
{
    ck_model_free(check_file("tf2_10_invert", "h5"));
}
END_TEST

START_TEST(test_keras3_adapted_axis1_invert)
{
    ck_model_free(check_file("k3_5_adapted_axis1", "keras"));
}
END_TEST

START_TEST(test_keras3_given_and_rescaling)
{
    ck_model_free(check_file("k3_14_given", "keras"));
}
END_TEST

START_TEST(test_tf_keras_rescaling_axis_none)
{
    ck_model_free(check_file("tf2_9_rescaling", "h5"));
}
END_TEST

/* tf.keras before 2.6 (TF 2.1-2.5) wrote only the axis: a mean and
 * variance given to the constructor went into the weights, which always
 * exist. */
START_TEST(test_tf_keras_2_4_config)
{
    const char *json =
        "{\"class_name\": \"Sequential\", \"keras_version\": \"2.4.0\", \"config\": {\"name\": "
        "\"s\", \"layers\": [{\"class_name\": \"InputLayer\", \"config\": {\"batch_input_shape\": "
        "[null, 5, 3], \"dtype\": \"float32\", \"sparse\": false, \"ragged\": false, \"name\": "
        "\"in\"}}, {\"class_name\": \"Normalization\", \"config\": {\"name\": \"normalization\", "
        "\"trainable\": true, \"dtype\": \"float32\", \"axis\": [-1]}}]}}";
    ck_model *m = NULL;
    ck_assert_ok(ck_model_from_json(json, &m));
    ck_assert_ok(ck_model_build(m));
    ck_assert_uint_eq(ck_model_count_non_trainable_params(m), 7);
    ck_layer *l = ck_model_layer(m, 0);
    ck_tensor v;
    ck_assert_ok(ck_layer_weight(l, 1, NULL, &v));
    for (int i = 0; i < 3; i++)
        v.data[i] = 4; /* std 2 */
    float x[15], y[15];
    for (int i = 0; i < 15; i++)
        x[i] = (float)i;
    ck_tensor tx = {.rank = 3, .dims = {1, 5, 3}, .data = x};
    ck_tensor ty = {.rank = 3, .dims = {1, 5, 3}, .data = y};
    ck_assert_ok(ck_model_predict_tensor(m, &tx, &ty));
    for (int i = 0; i < 15; i++)
        ck_assert_float_eq(y[i], x[i] / 2);
    ck_model_free(m);
}
END_TEST

/* Summary text of m in `style`, in a buffer to free. */
static char *summary_text(ck_model *m, ck_summary_style style)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ok(ck_model_summary(m, f, style));
    fclose(f);
    return buf;
}

/* mean (3) + variance (3) + count (1), non-trainable; Keras 3 counts the
 * int64 count as 8 bytes: 3 * 4 + 3 * 4 + 8 = 32. */
START_TEST(test_summary_counts)
{
    ck_model *m = check_file("tf2_12_adapted", "h5");
    ck_assert_uint_eq(ck_model_count_non_trainable_params(m), 7);
    ck_assert_uint_eq(ck_model_count_trainable_params(m), 8);
    char *text = summary_text(m, CK_SUMMARY_KERAS2_7);
    ck_assert_ptr_nonnull(strstr(text, "Non-trainable params: 7\n"));
    ck_assert_ptr_nonnull(strstr(text, "normalization (Normalizatio  (None, 4, 3)             7"));
    free(text);
    ck_model_free(m);
    m = check_file("k3_5_adapted_axis1", "keras");
    ck_assert_uint_eq(ck_model_count_non_trainable_params(m), 9);
    text = summary_text(m, CK_SUMMARY_KERAS3);
    ck_assert_ptr_nonnull(strstr(text, "Non-trainable params: 9 (40.00 B)"));
    ck_assert_ptr_nonnull(strstr(text, "Total params: 17 (72.00 B)"));
    free(text);
    ck_model_free(m);
    m = check_file("k3_14_given", "keras");
    ck_assert_uint_eq(ck_model_count_params(m), 0);
    ck_model_free(m);
}
END_TEST

/* The dataset's HDF5 class and size, and its value as an int64. */
static void check_int64(const char *path, const char *ds, long long want)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    ck_assert_int_ge(f, 0);
    hid_t d = H5Dopen2(f, ds, H5P_DEFAULT);
    ck_assert_msg(d >= 0, "%s: no dataset %s", path, ds);
    hid_t t = H5Dget_type(d);
    ck_assert_int_eq(H5Tget_class(t), H5T_INTEGER);
    ck_assert_uint_eq(H5Tget_size(t), 8);
    long long v = 0;
    ck_assert_int_ge(H5Dread(d, H5T_NATIVE_LLONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v), 0);
    ck_assert_int_eq(v, want);
    H5Tclose(t);
    H5Dclose(d);
    H5Fclose(f);
}

/* Saved and loaded again, the outputs stay; the count is written as the
 * int64 Keras declares. */
static void round_trip(const char *name, const char *ext, const char *saved, const char *count_ds,
                       long long count)
{
    ck_model *m = check_file(name, ext);
    const char *path = ck_test_path(saved);
    ck_assert_ok(ck_model_save(m, path));
    ck_model_free(m);
    if (count_ds)
        check_int64(path, count_ds, count);
    ck_model *back = NULL;
    ck_assert_ok(ck_model_load(path, &back));
    char x_path[256];
    snprintf(x_path, sizeof x_path, DATA "%s.x.npy", name);
    ck_tensor x, want;
    ck_assert_ok(ck_npy_read(x_path, &x));
    snprintf(x_path, sizeof x_path, DATA "%s.y.npy", name);
    ck_assert_ok(ck_npy_read(x_path, &want));
    float y[64];
    ck_tensor ty = want;
    ty.data = y;
    ck_assert_ok(ck_model_predict_tensor(back, &x, &ty));
    for (size_t i = 0; i < ck_tensor_size(&want); i++)
        ck_assert_float_eq_tol(y[i], want.data[i], 1e-5f * (1 + fabsf(want.data[i])));
    ck_free(x.data);
    ck_free(want.data);
    ck_model_free(back);
}

START_TEST(test_round_trips)
{
    /* Beyond float32's 2^24, and beyond 32 bits: the count read is kept. */
    round_trip("tf2_12_adapted", "h5", "a.h5", "model_weights/normalization/normalization/count:0",
               123456789);
    round_trip("k3_5_adapted_axis1", "keras", "b.keras", NULL, 0);
    round_trip("k3_14_given", "keras", "c.keras", NULL, 0);
    round_trip("tf2_15_given_invert", "h5", "d.h5", NULL, 0);
    round_trip("tf2_9_rescaling", "h5", "e.h5", "model_weights/normalization/normalization/count:0",
               12);
    ck_model *m = check_file("k3_5_adapted_axis1", "keras");
    const char *path = ck_test_path("f.weights.h5");
    ck_assert_ok(ck_model_save_weights(m, path));
    check_int64(path, "layers/normalization/vars/2", 9876543210LL);
    ck_model_free(m);
}
END_TEST

/* The config ckeras writes is Keras's: axis a list, invert, the values. */
START_TEST(test_config_written)
{
    ck_model *m = check_file("tf2_15_given_invert", "h5");
    char *json = ck_model_to_json(m);
    ck_assert_ptr_nonnull(strstr(json, "\"class_name\":\"Normalization\""));
    ck_assert_ptr_nonnull(
        strstr(json, "\"axis\":[-1],\"invert\":true,\"mean\":[1,2,-3],\"variance\":0.25"));
    ck_free(json);
    ck_model_free(m);
    m = check_file("k3_14_given", "keras");
    json = ck_model_to_json(m);
    ck_assert_ptr_nonnull(strstr(json, "\"scale\":[0.5,2,-1],\"offset\":0.25"));
    ck_free(json);
    ck_model_free(m);
}
END_TEST

/* A Keras 3 model ckeras writes says 3.3.3, whose reshape needs as many
 * values as the kept axes hold: a scalar is written expanded. */
START_TEST(test_keras3_scalar_written_expanded)
{
    double mean = 2, var = 4;
    ck_model *m = ck_sequential(.semantics = CK_KERAS3);
    ck_assert_ok(ck_model_add(m, ck_input(3)));
    ck_assert_ok(ck_model_add(m, ck_normalization(.mean = &mean, .variance = &var, .n_mean = 1)));
    ck_assert_ok(ck_model_build(m));
    char *json = ck_model_to_json(m);
    ck_assert_ptr_nonnull(strstr(json, "\"mean\":[2,2,2],\"variance\":[4,4,4]"));
    ck_free(json);
    float x[3] = {0, 2, 6}, y[3];
    ck_tensor tx = {.rank = 2, .dims = {1, 3}, .data = x},
              ty = {.rank = 2, .dims = {1, 3}, .data = y};
    ck_assert_ok(ck_model_predict_tensor(m, &tx, &ty));
    ck_assert_float_eq(y[0], -1);
    ck_assert_float_eq(y[1], 0);
    ck_assert_float_eq(y[2], 2);
    ck_model_free(m);
}
END_TEST

/* Normalization first: fit changes the Dense weights, never mean,
 * variance or count. */
START_TEST(test_training_keeps_statistics)
{
    ck_model *m = check_file("k3_5_adapted_axis1", "keras");
    ck_layer *norm = ck_model_layer(m, 0), *dense = ck_model_layer(m, 1);
    float before[9], kernel[6];
    for (int k = 0, at = 0; k < 3; k++) {
        ck_tensor v;
        ck_assert_ok(ck_layer_weight(norm, k, NULL, &v));
        memcpy(before + at, v.data, ck_tensor_size(&v) * sizeof(float));
        at += (int)ck_tensor_size(&v);
    }
    ck_tensor kv;
    ck_assert_ok(ck_layer_weight(dense, 0, NULL, &kv));
    memcpy(kernel, kv.data, sizeof kernel);
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_sgd(.learning_rate = 0.01), .loss = "mse"));
    float x[2 * 4 * 3], t[2 * 4 * 2];
    for (int i = 0; i < 24; i++)
        x[i] = (float)sin(i);
    for (int i = 0; i < 16; i++)
        t[i] = (float)cos(i);
    ck_tensor tx = {.rank = 3, .dims = {2, 4, 3}, .data = x};
    ck_tensor tt = {.rank = 3, .dims = {2, 4, 2}, .data = t};
    double loss;
    for (int step = 0; step < 3; step++)
        ck_assert_ok(ck_model_train_on_batch(m, &tx, &tt, &loss));
    for (int k = 0, at = 0; k < 3; k++) {
        ck_tensor v;
        ck_assert_ok(ck_layer_weight(norm, k, NULL, &v));
        for (size_t i = 0; i < ck_tensor_size(&v); i++)
            ck_assert_float_eq(v.data[i], before[at + (int)i]);
        at += (int)ck_tensor_size(&v);
    }
    ck_assert_ok(ck_layer_weight(dense, 0, NULL, &kv));
    ck_assert(memcmp(kernel, kv.data, sizeof kernel) != 0);
    ck_model_free(m);
}
END_TEST

/* ck_normalization and ck_rescaling from C, on hand-computed numbers. */
START_TEST(test_c_api)
{
    double mean[2] = {1, -1}, var[2] = {4, 0.25};
    ck_model *m = ck_sequential();
    ck_assert_ok(ck_model_add(m, ck_input(2)));
    ck_assert_ok(ck_model_add(m, ck_rescaling(2, .offset = 1)));
    ck_assert_ok(ck_model_add(m, ck_normalization(.mean = mean, .variance = var, .n_mean = 2)));
    float x[2] = {1, -2}, y[2];
    ck_tensor tx = {.rank = 2, .dims = {1, 2}, .data = x},
              ty = {.rank = 2, .dims = {1, 2}, .data = y};
    ck_assert_ok(ck_model_predict_tensor(m, &tx, &ty));
    ck_assert_float_eq(y[0], 1);  /* (2 * 1 + 1 - 1) / sqrt(4) */
    ck_assert_float_eq(y[1], -4); /* (2 * -2 + 1 + 1) / sqrt(0.25) */
    ck_model_free(m);
}
END_TEST

/* adapt(): numpy's mean and var over every axis but the kept ones, for the
 * last axis and for axis=None, count as each generation keeps it, and the
 * forward pass then standardizes the data it was adapted on. */
static ck_model *adapted(ck_keras_semantics sem, bool axis_none, ck_tensor *x)
{
    ck_model *m = ck_sequential(.semantics = sem);
    ck_assert_ok(ck_model_add(m, ck_input(3, 2)));
    ck_assert_ok(ck_model_add(m, ck_normalization(.axis_none = axis_none)));
    ck_assert_ok(ck_model_build(m));
    ck_assert_ok(ck_normalization_adapt(ck_model_layer(m, 0), x));
    return m;
}

START_TEST(test_adapt)
{
    float xd[4 * 3 * 2];
    for (int i = 0; i < 24; i++)
        xd[i] = (float)(i % 2 ? 3.0 * sin(0.7 * i) + 5 : 0.25 * i - 1);
    ck_tensor x = {.rank = 3, .dims = {4, 3, 2}, .data = xd};
    double mean[2] = {0}, var[2] = {0}, all = 0, all_var = 0;
    for (int i = 0; i < 24; i++)
        mean[i % 2] += xd[i] / 12.0, all += xd[i] / 24.0;
    for (int i = 0; i < 24; i++) {
        var[i % 2] += (xd[i] - mean[i % 2]) * (xd[i] - mean[i % 2]) / 12.0;
        all_var += (xd[i] - all) * (xd[i] - all) / 24.0;
    }
    const float *w;
    ck_model *m = adapted(CK_KERAS2, false, &x);
    ck_layer *norm = ck_model_layer(m, 0);
    ck_tensor t;
    for (int k = 0; k < 2; k++) {
        ck_assert_ok(ck_layer_weight(norm, 0, NULL, &t));
        w = t.data;
        ck_assert_float_eq_tol(w[k], mean[k], 1e-6 * (1 + fabs(mean[k])));
        ck_assert_ok(ck_layer_weight(norm, 1, NULL, &t));
        ck_assert_float_eq_tol(t.data[k], var[k], 1e-6 * (1 + var[k]));
    }
    ck_assert_ok(ck_layer_weight(norm, 2, NULL, &t));
    ck_assert_float_eq(t.data[0], 12); /* tf.keras: the values behind each mean */
    float y[24];
    ck_tensor ty = {.rank = 3, .dims = {4, 3, 2}, .data = y};
    ck_assert_ok(ck_model_predict_tensor(m, &x, &ty));
    for (int i = 0; i < 24; i++)
        ck_assert_float_eq_tol(y[i], (xd[i] - mean[i % 2]) / sqrt(var[i % 2]), 1e-5);
    ck_model_free(m);

    m = adapted(CK_KERAS3, true, &x);
    norm = ck_model_layer(m, 0);
    ck_assert_ok(ck_layer_weight(norm, 0, NULL, &t));
    ck_assert_float_eq_tol(t.data[0], all, 1e-6 * (1 + fabs(all)));
    ck_assert_ok(ck_layer_weight(norm, 1, NULL, &t));
    ck_assert_float_eq_tol(t.data[0], all_var, 1e-6 * (1 + all_var));
    ck_assert_ok(ck_layer_weight(norm, 2, NULL, &t));
    ck_assert_float_eq(t.data[0], 0); /* Keras 3's adapt() leaves count */
    ck_model_free(m);
}
END_TEST

START_TEST(test_adapt_refused)
{
    float xd[4 * 3 * 2] = {0};
    ck_tensor x = {.rank = 3, .dims = {4, 3, 2}, .data = xd};
    ck_layer *loose = ck_normalization();
    ck_assert_fails(ck_normalization_adapt(loose, &x), CK_ERR_STATE);
    ck_layer_free(loose);
    double mean = 1, var = 2;
    ck_model *m = ck_sequential();
    ck_assert_ok(ck_model_add(m, ck_input(3, 2)));
    ck_assert_ok(ck_model_add(m, ck_normalization(.mean = &mean, .variance = &var, .n_mean = 1)));
    ck_assert_ok(ck_model_add(m, ck_rescaling(2)));
    ck_assert_ok(ck_model_build(m));
    ck_assert_fails(ck_normalization_adapt(ck_model_layer(m, 0), &x), CK_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "given its mean"));
    ck_assert_fails(ck_normalization_adapt(ck_model_layer(m, 1), &x), CK_ERR_ARGUMENT);
    ck_model_free(m);
    m = ck_sequential();
    ck_assert_ok(ck_model_add(m, ck_input(3, 2)));
    ck_assert_ok(ck_model_add(m, ck_normalization()));
    ck_assert_ok(ck_model_build(m));
    ck_layer *norm = ck_model_layer(m, 0);
    ck_tensor wide = {.rank = 3, .dims = {2, 3, 4}, .data = xd};
    ck_assert_fails(ck_normalization_adapt(norm, &wide), CK_ERR_SHAPE);
    ck_tensor flat = {.rank = 2, .dims = {12, 2}, .data = xd};
    ck_assert_fails(ck_normalization_adapt(norm, &flat), CK_ERR_SHAPE);
    xd[5] = NAN;
    ck_assert_fails(ck_normalization_adapt(norm, &x), CK_ERR_NUMERIC);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "#5"));
    ck_tensor t;
    ck_assert_ok(ck_layer_weight(norm, 1, NULL, &t));
    ck_assert_float_eq(t.data[0], 1); /* a refused adapt() changes nothing */
    ck_assert_fails(ck_normalization_adapt(NULL, &x), CK_ERR_ARGUMENT);
    ck_model_free(m);
}
END_TEST

/* Configs Keras refuses (or computes NaN from) are refused by name. */
static void json_fails(const char *layer_json, ck_status code, const char *part)
{
    char json[2048];
    snprintf(json, sizeof json,
             "{\"class_name\": \"Sequential\", \"keras_version\": \"2.15.0\", \"config\": "
             "{\"name\": \"s\", \"layers\": [{\"class_name\": \"InputLayer\", \"config\": "
             "{\"batch_input_shape\": [null, 4, 3], \"dtype\": \"float32\", \"name\": \"in\"}}, "
             "%s]}}",
             layer_json);
    ck_model *m = NULL;
    ck_status st = ck_model_from_json(json, &m);
    if (st == CK_OK) {
        st = ck_model_build(m);
        ck_model_free(m);
    }
    ck_assert_msg(st == code, "%s: %s, expected %s (%s)", layer_json, ck_status_name(st),
                  ck_status_name(code), ck_last_error());
    ck_assert_msg(strstr(ck_last_error(), part), "'%s' lacks '%s'", ck_last_error(), part);
}

#define NORM(body) "{\"class_name\": \"Normalization\", \"config\": {\"name\": \"norm\", " body "}}"
#define RESC(body) "{\"class_name\": \"Rescaling\", \"config\": {\"name\": \"resc\", " body "}}"

START_TEST(test_hostile_configs)
{
    json_fails(NORM("\"axis\": -1, \"mean\": [1, 2, 3], \"variance\": [1, -2, 3]"), CK_ERR_ARGUMENT,
               "variance value #1 is -2");
    json_fails(NORM("\"axis\": -1, \"mean\": [1, 2, 3], \"variance\": null"), CK_ERR_FORMAT,
               "both mean and variance");
    json_fails(NORM("\"axis\": -1, \"mean\": [1, 2], \"variance\": [1, 2]"), CK_ERR_SHAPE,
               "mean of shape (2,)");
    json_fails(NORM("\"axis\": -1, \"mean\": [[1, 2], [3]], \"variance\": 1"), CK_ERR_FORMAT,
               "one shape");
    json_fails(NORM("\"axis\": 3"), CK_ERR_SHAPE, "[-rank, rank)");
    json_fails(NORM("\"axis\": [-4]"), CK_ERR_SHAPE, "[-rank, rank)");
    json_fails(NORM("\"axis\": 0"), CK_ERR_SHAPE, "known size");
    json_fails(NORM("\"axis\": [2, -1]"), CK_ERR_SHAPE, "twice");
    json_fails(NORM("\"axis\": \"last\""), CK_ERR_FORMAT, "'axis'");
    json_fails(NORM("\"axis\": -1, \"epsilon\": 0.1"), CK_ERR_UNSUPPORTED, "epsilon");
    json_fails(RESC("\"offset\": 1"), CK_ERR_FORMAT, "'scale' is missing");
    json_fails(RESC("\"scale\": [[1, 2, 3]]"), CK_ERR_UNSUPPORTED, "(1, 3)");
    json_fails(RESC("\"scale\": [1, 2]"), CK_ERR_SHAPE, "2 values for 3 features");
    json_fails(RESC("\"scale\": 1, \"offset\": \"one\""), CK_ERR_FORMAT, "'offset'");
}
END_TEST

/* Given values spread over the kept axes count against
 * CK_LIMIT_MODEL_BYTES like weights: a number in a few bytes of config
 * must not take gigabytes. */
START_TEST(test_given_values_within_limit)
{
    const char *json =
        "{\"class_name\": \"Sequential\", \"keras_version\": \"2.15.0\", \"config\": {\"name\": "
        "\"s\", \"layers\": [{\"class_name\": \"InputLayer\", \"config\": {\"batch_input_shape\": "
        "[null, 300, 400], \"dtype\": \"float32\", \"name\": \"in\"}}, {\"class_name\": "
        "\"Normalization\", \"config\": {\"name\": \"normalization\", \"axis\": [1, 2], "
        "\"mean\": 0.5, \"variance\": 2}}]}}";
    uint64_t old = ck_set_limit(CK_LIMIT_MODEL_BYTES, 100000);
    ck_model *m = NULL;
    ck_assert_fails(ck_model_from_json(json, &m), CK_ERR_MEMORY);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "CK_LIMIT_MODEL_BYTES"));
    ck_set_limit(CK_LIMIT_MODEL_BYTES, old);
    ck_assert_ok(ck_model_from_json(json, &m));
    ck_model_free(m);
    /* A list claiming more numbers than it holds is refused as it is read. */
    json_fails(NORM("\"axis\": -1, \"mean\": [[1, 2, 3], 4], \"variance\": 1"), CK_ERR_FORMAT,
               "one shape");
}
END_TEST

/* Weights of the wrong shape in a file are refused with the shapes. */
START_TEST(test_wrong_weight_shape)
{
    const char *json =
        "{\"class_name\": \"Sequential\", \"keras_version\": \"2.15.0\", \"config\": {\"name\": "
        "\"s\", \"layers\": [{\"class_name\": \"InputLayer\", \"config\": {\"batch_input_shape\": "
        "[null, 4], \"dtype\": \"float32\", \"name\": \"in\"}}, {\"class_name\": "
        "\"Normalization\", \"config\": {\"name\": \"normalization\", \"axis\": [-1]}}]}}";
    ck_model *m = NULL;
    ck_assert_ok(ck_model_from_json(json, &m));
    ck_assert_fails(ck_model_load_weights(m, DATA "tf2_12_adapted.h5", .by_name = true),
                    CK_ERR_SHAPE);
    ck_assert_msg(strstr(ck_last_error(), "'mean'") && strstr(ck_last_error(), "(4,)"), "%s",
                  ck_last_error());
    ck_model_free(m);
}
END_TEST

/* The C export takes a Normalization over the last axis (or all values);
 * another axis, and tf.keras 2.10's invert, are refused by name. */
static void export_fails(const char *file, const char *ext, const char *part)
{
    char path[256];
    snprintf(path, sizeof path, DATA "%s.%s", file, ext);
    ck_model *m = NULL;
    ck_assert_ok(ck_model_load(path, &m));
    ck_export_options o = ck_export_default_options();
    o.c_path = ck_test_path("model.c");
    ck_assert_fails(ck_model_export_c(m, &o), CK_ERR_UNSUPPORTED);
    ck_assert_msg(strstr(ck_last_error(), part), "'%s' lacks '%s'", ck_last_error(), part);
    ck_model_free(m);
}

START_TEST(test_export_refused)
{
    export_fails("k3_5_adapted_axis1", "keras", "axis 1 (only the last axis");
    export_fails("tf2_10_invert", "h5", "tf.keras 2.10's invert");
}
END_TEST

static int preprocessing_layers(ck_layer **out, int cap)
{
    static const double mean[3] = {1, 2, 3}, var[3] = {1, 4, 9}, scales[3] = {2, 1, 0.5};
    static const int both[2] = {1, 2};
    ck_layer *layers[] = {
        ck_rescaling(.scales = scales, .offsets = mean, .n_features = 3),
        ck_normalization(.mean = mean, .variance = var, .n_mean = 3),
        ck_normalization(.axis = {both[0], both[1]}, .n_axis = 2, .invert = true),
        ck_normalization(.axis_none = true),
    };
    int n = (int)(sizeof layers / sizeof layers[0]);
    ck_assert_int_le(n, cap);
    memcpy(out, layers, sizeof layers);
    return n;
}

/* Every allocation of making, building, running and back-propagating
 * them may fail: CK_ERR_MEMORY each time, nothing leaked. */
START_TEST(test_allocation_failures)
{
    float x[2 * 4 * 3], dy[2 * 4 * 3];
    for (int i = 0; i < 24; i++) {
        x[i] = (float)sin(i);
        dy[i] = (float)cos(i);
    }
    ck_tensor tx = {.rank = 3, .dims = {2, 4, 3}, .data = x};
    ck_tensor tdy = {.rank = 3, .dims = {2, 4, 3}, .data = dy};
    ck_test_survives_alloc_failures(preprocessing_layers, &tx, &tdy, 300);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("preprocessing_layers");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, ck_test_scratch_fixture, ck_test_remove_dir);
    tcase_add_test(tc, test_tf_keras_adapted_h5);
    tcase_add_test(tc, test_tf_keras_given_invert_h5);
    tcase_add_test(tc, test_tf_keras_2_10_invert);
    tcase_add_test(tc, test_keras3_adapted_axis1_invert);
    tcase_add_test(tc, test_keras3_given_and_rescaling);
    tcase_add_test(tc, test_tf_keras_rescaling_axis_none);
    tcase_add_test(tc, test_tf_keras_2_4_config);
    tcase_add_test(tc, test_summary_counts);
    tcase_add_test(tc, test_round_trips);
    tcase_add_test(tc, test_config_written);
    tcase_add_test(tc, test_keras3_scalar_written_expanded);
    tcase_add_test(tc, test_training_keeps_statistics);
    tcase_add_test(tc, test_c_api);
    tcase_add_test(tc, test_adapt);
    tcase_add_test(tc, test_adapt_refused);
    tcase_add_test(tc, test_hostile_configs);
    tcase_add_test(tc, test_given_values_within_limit);
    tcase_add_test(tc, test_wrong_weight_shape);
    tcase_add_test(tc, test_export_refused);
    tcase_add_test(tc, test_allocation_failures);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    return ck_test_run(suite());
}
