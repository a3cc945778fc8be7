/* File I/O: round trips in every layout, Keras 3 .keras archives, JSON
 * architectures, legacy writer variants, corrupt inputs, atomic saves. */
#include "ck_test.h"

#include "ck_internal.h"
#include "ck_io.h"

#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>


/* Every layer type, stacked the way users stack them. */
static ck_model *small_model(uint64_t seed, ck_keras_semantics sem)
{
    ck_model *m = ck_sequential(.name = "small", .seed = seed, .semantics = sem);
    ck_assert_ok(ck_model_add(m, ck_input(4, 3)));
    ck_assert_ok(ck_model_add(m, ck_lstm(.units = 5, .return_sequences = true, .name = "enc",
                                         .recurrent_activation = "hard_sigmoid")));
    ck_assert_ok(ck_model_add(m, ck_dropout(.rate = 0.25)));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 6, .activation = "relu")));
    ck_assert_ok(ck_model_add(m, ck_activation(.activation = "tanh")));
    ck_assert_ok(ck_model_add(m, ck_lstm(.units = 3, .name = "dec")));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 4)));
    ck_assert_ok(ck_model_add(m, ck_softmax()));
    ck_assert_ok(ck_model_build(m));
    return m;
}

static const float *sample_x(void)
{
    static float x[2 * 4 * 3];
    for (int i = 0; i < 24; i++)
        x[i] = (float)((i * 7 % 11) - 5) / 3.0f;
    return x;
}

static void predict(ck_model *m, float out[8])
{
    ck_assert_ok(ck_model_predict(m, sample_x(), 2, out));
}

static void assert_same_params(const ck_model *a, const ck_model *b)
{
    ck_assert_uint_eq(a->n_params, b->n_params);
    ck_assert_int_eq(memcmp(a->params, b->params, a->n_params * sizeof(float)), 0);
}

static void assert_same_predictions(ck_model *a, ck_model *b)
{
    float ya[8], yb[8];
    predict(a, ya);
    predict(b, yb);
    ck_assert_int_eq(memcmp(ya, yb, sizeof ya), 0);
}

static float *snapshot(const ck_model *m)
{
    float *s = malloc(m->n_params * sizeof(float));
    ck_assert_ptr_nonnull(s);
    memcpy(s, m->params, m->n_params * sizeof(float));
    return s;
}

static void assert_unchanged(const ck_model *m, float *before)
{
    ck_assert_int_eq(memcmp(before, m->params, m->n_params * sizeof(float)), 0);
    free(before);
}

/* ---------------------------------------------------------------- round trips */

START_TEST(whole_model_round_trip)
{
    ck_model *a = small_model(1, CK_KERAS2), *b = NULL;
    const char *path = ck_test_path("whole.h5");
    ck_assert_ok(ck_model_save(a, path));
    ck_assert_ok(ck_model_load(path, &b));
    ck_assert_str_eq(ck_model_name(b), "small");
    ck_assert_int_eq(ck_model_layer_count(b), ck_model_layer_count(a));
    for (int i = 0; i < a->n_layers; i++)
        ck_assert_str_eq(a->layers[i]->name, b->layers[i]->name);
    ck_assert_int_eq(b->semantics, CK_KERAS2);
    assert_same_params(a, b);
    assert_same_predictions(a, b);
    ck_model_free(a);
    ck_model_free(b);
}
END_TEST

START_TEST(whole_model_keeps_keras3_semantics)
{
    ck_model *a = small_model(2, CK_KERAS3), *b = NULL;
    const char *path = ck_test_path("k3.h5");
    ck_assert_ok(ck_model_save(a, path));
    ck_assert_ok(ck_model_load(path, &b));
    ck_assert_int_eq(b->semantics, CK_KERAS3);
    assert_same_predictions(a, b);
    ck_model_free(a);
    ck_model_free(b);
}
END_TEST

static void weights_round_trip(const char *name, const ck_weights_options *opts)
{
    ck_model *a = small_model(3, CK_KERAS2), *b = small_model(4, CK_KERAS2);
    ck_assert_int_ne(memcmp(a->params, b->params, a->n_params * sizeof(float)), 0);
    const char *path = ck_test_path(name);
    ck_assert_ok(ck_model_save_weights_with(a, path, opts));
    ck_assert_ok(ck_model_load_weights(b, path));
    assert_same_params(a, b);
    assert_same_predictions(a, b);
    ck_model_free(a);
    ck_model_free(b);
}

START_TEST(weights_k2_round_trip)
{
    weights_round_trip("w.h5", &(ck_weights_options){0});
}
END_TEST

START_TEST(weights_k3_round_trip)
{
    weights_round_trip("w.weights.h5", &(ck_weights_options){0});
    weights_round_trip("w3.h5", &(ck_weights_options){.keras3_layout = true});
}
END_TEST

static bool h5_has(const char *path, const char *obj)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    ck_assert_int_ge(f, 0);
    bool ok = ck_h5_has_link(f, obj);
    H5Fclose(f);
    return ok;
}

/* Keras 3 numbers layers per class (lstm, lstm_1), ignoring their names. */
START_TEST(weights_k3_paths)
{
    ck_model *a = small_model(5, CK_KERAS2);
    const char *path = ck_test_path("paths.weights.h5");
    ck_assert_ok(ck_model_save_weights(a, path));
    ck_assert(h5_has(path, "layers/lstm/cell/vars/0"));
    ck_assert(h5_has(path, "layers/lstm/cell/vars/2"));
    ck_assert(h5_has(path, "layers/lstm_1/cell/vars/1"));
    ck_assert(h5_has(path, "layers/dense/vars/0"));
    ck_assert(h5_has(path, "layers/dense_1/vars/1"));
    ck_assert(!h5_has(path, "layers/enc"));
    ck_model_free(a);
}
END_TEST

START_TEST(weights_k2_names)
{
    ck_model *a = small_model(6, CK_KERAS2);
    const char *path = ck_test_path("names.h5");
    ck_assert_ok(ck_model_save_weights(a, path));
    ck_assert(h5_has(path, "enc/enc/lstm_cell/kernel:0"));
    ck_assert(h5_has(path, "dense/dense/bias:0"));
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    ck_strlist names;
    ck_assert_ok(ck_h5_read_strings(f, "layer_names", &names));
    ck_assert_int_eq(names.n, 7);
    ck_assert_str_eq(names.items[1], "dropout");
    ck_strlist_free(&names);
    hid_t g = H5Gopen2(f, "dropout", H5P_DEFAULT);
    ck_assert_ok(ck_h5_read_strings(g, "weight_names", &names));
    ck_assert_int_eq(names.n, 0);
    H5Gclose(g);
    char *version;
    ck_assert_ok(ck_h5_read_string(f, "keras_version", &version));
    ck_assert_str_eq(version, CK_IO_KERAS2_VERSION);
    free(version);
    H5Fclose(f);
    ck_model_free(a);
}
END_TEST

START_TEST(json_round_trip)
{
    ck_model *a = small_model(7, CK_KERAS2), *b = NULL;
    char *json = ck_model_to_json(a);
    ck_assert_ptr_nonnull(json);
    ck_assert_ptr_nonnull(strstr(json, "\"keras_version\":\"2.15.0\""));
    ck_assert_ok(ck_model_from_json(json, &b));
    char *again = ck_model_to_json(b);
    ck_assert_str_eq(json, again);
    ck_assert_uint_eq(ck_model_count_params(b), ck_model_count_params(a));
    ck_free(json);
    ck_free(again);
    ck_model_free(b);
    ck_model_free(a);
}
END_TEST

/* A frozen layer (Keras trainable=False) stays frozen through JSON, .h5
 * and .keras files, with the same weights and parameter counts. */
START_TEST(trainable_round_trip)
{
    ck_model *a = ck_sequential(.name = "frozen", .seed = 5);
    ck_layer *enc = ck_lstm(.units = 5, .return_sequences = true, .name = "enc");
    ck_assert_ok(ck_layer_set_trainable(enc, false));
    ck_assert_ok(ck_model_add(a, ck_input(4, 3)));
    ck_assert_ok(ck_model_add(a, enc));
    ck_assert_ok(ck_model_add(a, ck_lstm(.units = 3, .name = "dec")));
    ck_assert_ok(ck_model_add(a, ck_dense(.units = 8)));
    ck_assert_ok(ck_model_build(a));
    ck_assert_uint_eq(ck_model_count_non_trainable_params(a), 4 * 5 * (3 + 5 + 1));
    char *json = ck_model_to_json(a);
    ck_assert_ptr_nonnull(strstr(json, "\"name\":\"enc\",\"trainable\":false"));
    ck_assert_ptr_nonnull(strstr(json, "\"name\":\"dec\",\"trainable\":true"));
    const char *paths[2] = {ck_test_path("frozen.h5"), ck_test_path("frozen.keras")};
    for (int k = 0; k < 3; k++) {
        ck_model *b = NULL;
        if (k == 0) {
            ck_assert_ok(ck_model_from_json(json, &b));
            ck_assert_ok(ck_model_build(b));
        } else {
            ck_assert_ok(ck_model_save(a, paths[k - 1]));
            ck_assert_ok(ck_model_load(paths[k - 1], &b));
            assert_same_params(a, b);
        }
        ck_assert(!ck_layer_is_trainable(b->layers[0]));
        ck_assert(ck_layer_is_trainable(b->layers[1]));
        ck_assert_uint_eq(ck_model_count_non_trainable_params(b),
                          ck_model_count_non_trainable_params(a));
        ck_assert_uint_eq(ck_model_count_trainable_params(b), ck_model_count_trainable_params(a));
        ck_model_free(b);
    }
    ck_free(json);
    ck_model_free(a);
}
END_TEST

/* Many long layer names overflow one attribute; Keras then splits the
 * list into layer_names0, layer_names1, ... */
START_TEST(split_layer_names)
{
    ck_model *a = ck_sequential(.seed = 1);
    ck_assert_ok(ck_model_add(a, ck_input(2)));
    char name[CK_NAME_MAX];
    for (int i = 0; i < 600; i++) {
        snprintf(name, sizeof name, "%0120d", i);
        ck_assert_ok(ck_model_add(a, ck_dropout(.rate = 0.1, .name = name)));
    }
    ck_assert_ok(ck_model_add(a, ck_dense(.units = 2)));
    ck_assert_ok(ck_model_build(a));
    const char *path = ck_test_path("split.h5");
    ck_assert_ok(ck_model_save_weights(a, path));
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    ck_assert_int_gt(H5Aexists(f, "layer_names0"), 0);
    ck_assert_int_gt(H5Aexists(f, "layer_names1"), 0);
    ck_assert_int_eq(H5Aexists(f, "layer_names"), 0);
    ck_strlist names;
    ck_assert_ok(ck_h5_read_strings(f, "layer_names", &names));
    ck_assert_int_eq(names.n, 601);
    ck_assert_str_eq(names.items[600], "dense");
    ck_strlist_free(&names);
    H5Fclose(f);
    float before = a->params[0];
    a->params[0] = 42.0f;
    ck_assert_ok(ck_model_load_weights(a, path));
    ck_assert_float_eq(a->params[0], before);
    ck_model_free(a);
}
END_TEST

/* One model per layer class: Input(4, 3) > <layer> [> more]. Every class
 * in src/layers/registry.def appears here or in index_specs. */
static const char *const layer_specs[] = {
    "{\"class_name\": \"LSTM\", \"config\": {\"units\": 3, \"return_sequences\": true, "
    "\"recurrent_activation\": \"hard_sigmoid\"}}, "
    "{\"class_name\": \"Dropout\", \"config\": {\"rate\": 0.5}}, "
    "{\"class_name\": \"Activation\", \"config\": {\"activation\": \"relu6\"}}, "
    "{\"class_name\": \"Dense\", \"config\": {\"units\": 2, \"use_bias\": false}}, "
    "{\"class_name\": \"Softmax\", \"config\": {}}",
    "{\"class_name\": \"GRU\", \"config\": {\"units\": 3, \"return_sequences\": true}}",
    "{\"class_name\": \"GRU\", \"config\": {\"units\": 2, \"reset_after\": false}}",
    "{\"class_name\": \"SimpleRNN\", \"config\": {\"units\": 3}}",
    "{\"class_name\": \"Bidirectional\", \"config\": {\"merge_mode\": \"concat\", \"layer\": "
    "{\"class_name\": \"LSTM\", \"config\": {\"name\": \"lstm\", \"units\": 2}}}}",
    "{\"class_name\": \"Bidirectional\", \"config\": {\"merge_mode\": \"sum\", \"layer\": "
    "{\"class_name\": \"GRU\", \"config\": {\"name\": \"gru\", \"units\": 2, "
    "\"return_sequences\": true}}}}",
    "{\"class_name\": \"TimeDistributed\", \"config\": {\"layer\": {\"class_name\": \"Dense\", "
    "\"config\": {\"name\": \"inner\", \"units\": 2}}}}",
    "{\"class_name\": \"Conv1D\", \"config\": {\"filters\": 2, \"kernel_size\": 2}}",
    "{\"class_name\": \"BatchNormalization\", \"config\": {}}",
    "{\"class_name\": \"LayerNormalization\", \"config\": {}}",
    "{\"class_name\": \"Flatten\", \"config\": {}}, "
    "{\"class_name\": \"RepeatVector\", \"config\": {\"n\": 2}}",
    "{\"class_name\": \"Reshape\", \"config\": {\"target_shape\": [3, 4]}}, "
    "{\"class_name\": \"Permute\", \"config\": {\"dims\": [2, 1]}}",
    "{\"class_name\": \"SpatialDropout1D\", \"config\": {\"rate\": 0.2}}, "
    "{\"class_name\": \"GaussianNoise\", \"config\": {\"stddev\": 0.1}}, "
    "{\"class_name\": \"GaussianDropout\", \"config\": {\"rate\": 0.3}}, "
    "{\"class_name\": \"ActivityRegularization\", \"config\": {\"l1\": 0.01, \"l2\": 0.02}}, "
    "{\"class_name\": \"AlphaDropout\", \"config\": {\"rate\": 0.1, "
    "\"noise_shape\": [null, 1, null]}}, "
    "{\"class_name\": \"ZeroPadding1D\", \"config\": {\"padding\": [1, 2]}}, "
    "{\"class_name\": \"UpSampling1D\", \"config\": {\"size\": 2}}, "
    "{\"class_name\": \"Cropping1D\", \"config\": {\"cropping\": [3, 1]}}, "
    "{\"class_name\": \"MaxPooling1D\", \"config\": {\"pool_size\": 2}}, "
    "{\"class_name\": \"AveragePooling1D\", \"config\": {\"pool_size\": 2}}, "
    "{\"class_name\": \"GlobalMaxPooling1D\", \"config\": {}}",
    "{\"class_name\": \"GlobalAveragePooling1D\", \"config\": {}}, "
    "{\"class_name\": \"Dense\", \"config\": {\"units\": 2}}",
    "{\"class_name\": \"Masking\", \"config\": {\"mask_value\": 0.0}}, "
    "{\"class_name\": \"Bidirectional\", \"config\": {\"merge_mode\": \"mul\", \"layer\": "
    "{\"class_name\": \"SimpleRNN\", \"config\": {\"name\": \"rnn\", \"units\": 2, "
    "\"return_sequences\": true}}}}, "
    "{\"class_name\": \"Bidirectional\", \"config\": {\"merge_mode\": \"ave\", \"layer\": "
    "{\"class_name\": \"LSTM\", \"config\": {\"name\": \"lstm2\", \"units\": 2}}}}",
    "{\"class_name\": \"ReLU\", \"config\": {\"max_value\": 0.5, \"negative_slope\": 0.1, "
    "\"threshold\": 0.2}}, {\"class_name\": \"LeakyReLU\", \"config\": {\"alpha\": 0.2}}, "
    "{\"class_name\": \"ThresholdedReLU\", \"config\": {\"theta\": 0.3}}, "
    "{\"class_name\": \"ELU\", \"config\": {\"alpha\": 0.7}}, "
    "{\"class_name\": \"PReLU\", \"config\": {\"shared_axes\": [1]}}, "
    "{\"class_name\": \"PReLU\", \"config\": {}}",
    "{\"class_name\": \"Normalization\", \"config\": {\"axis\": [1, -1]}}, "
    "{\"class_name\": \"Rescaling\", \"config\": {\"scale\": [0.5, 2, -1], \"offset\": 0.25}}, "
    "{\"class_name\": \"Normalization\", \"config\": {\"axis\": null, \"mean\": 1.5, "
    "\"variance\": 4, \"invert\": true}}",
};

/* Models on integer token input Input(4,): indices 0..4. */
static const char *const index_specs[] = {
    "{\"class_name\": \"Embedding\", \"config\": {\"input_dim\": 5, \"output_dim\": 3}}, "
    "{\"class_name\": \"LSTM\", \"config\": {\"units\": 2}}",
    "{\"class_name\": \"Embedding\", \"config\": {\"input_dim\": 5, \"output_dim\": 3, "
    "\"mask_zero\": true}}, {\"class_name\": \"GRU\", \"config\": {\"units\": 2}}",
};

static ck_model *spec_model_on(const char *input_shape, const char *spec)
{
    char json[2048];
    snprintf(json, sizeof json,
             "{\"class_name\": \"Sequential\", \"config\": {\"name\": \"t\", \"layers\": ["
             "{\"class_name\": \"InputLayer\", \"config\": {\"batch_input_shape\": %s}}, "
             "%s]}}",
             input_shape, spec);
    ck_model *m = NULL;
    ck_status st = ck_model_from_json(json, &m);
    ck_assert_msg(st == CK_OK, "%s: %s", spec, ck_last_error());
    return m;
}

static size_t spec_output_size(ck_model *m)
{
    int rank;
    int64_t dims[CK_MAX_RANK];
    ck_assert_ok(ck_model_output_shape(m, &rank, dims));
    size_t n = 2;
    for (int i = 0; i < rank; i++)
        n *= (size_t)dims[i];
    return n;
}

/* Predictions of a model whose output size is only known at run time. */
static float *spec_predict(ck_model *m, const float *x)
{
    float *y = malloc(spec_output_size(m) * sizeof *y + 1);
    ck_assert_ok(ck_model_predict(m, x, 2, y));
    return y;
}

static void assert_spec_same(ck_model *a, ck_model *b, const float *x, const char *what)
{
    ck_assert_msg(a->n_params == b->n_params &&
                      memcmp(a->params, b->params, a->n_params * sizeof(float)) == 0,
                  "%s: weights differ after the round trip", what);
    float *ya = spec_predict(a, x), *yb = spec_predict(b, x);
    ck_assert_msg(memcmp(ya, yb, spec_output_size(a) * sizeof(float)) == 0,
                  "%s: predictions differ", what);
    free(ya);
    free(yb);
}

/* Saves `a` in every format and loads it back into a model built from the
 * same spec (or from the file, for whole models). */
static void round_trip_every_format(const char *input_shape, const char *spec, const float *x)
{
    ck_model *a = spec_model_on(input_shape, spec);
    /* Distinct values everywhere, non-trainable statistics included. */
    for (size_t k = 0; k < a->n_params; k++)
        a->params[k] = (float)sin((double)k + 0.5) * 0.5f + (k % 7 == 0 ? 1.0f : 0.0f);
    /* An int64 weight (Normalization's count) holds integers. */
    for (int i = 0; i < a->n_layers; i++)
        for (int k = 0; k < a->layers[i]->n_weights; k++)
            if (a->layers[i]->weights[k].int64)
                a->layers[i]->weights[k].data[0] = (float)(1000 + i);
    const char *files[] = {"all.h5", "all.keras", "all_w.h5", "all.weights.h5"};
    for (int f = 0; f < 4; f++) {
        const char *path = ck_test_path(files[f]);
        ck_model *b = NULL;
        if (f < 2) {
            ck_assert_ok(ck_model_save(a, path));
            ck_status st = ck_model_load(path, &b);
            ck_assert_msg(st == CK_OK, "%.100s via %s: %s", spec, files[f], ck_last_error());
        } else {
            ck_assert_ok(ck_model_save_weights(a, path));
            b = spec_model_on(input_shape, spec);
            ck_assert_ok(ck_model_load_weights(b, path));
        }
        char what[160];
        snprintf(what, sizeof what, "%.100s via %s", spec, files[f]);
        assert_spec_same(a, b, x, what);
        ck_model_free(b);
    }
    ck_model_free(a);
}

START_TEST(every_layer_round_trip)
{
    for (size_t i = 0; i < sizeof layer_specs / sizeof layer_specs[0]; i++)
        round_trip_every_format("[null, 4, 3]", layer_specs[i], sample_x());
    static const float tokens[8] = {0, 4, 2, 1, 3, 3, 0, 2};
    for (size_t i = 0; i < sizeof index_specs / sizeof index_specs[0]; i++)
        round_trip_every_format("[null, 4]", index_specs[i], tokens);
}
END_TEST

/* A compiled model keeps its training_config and optimizer state (a
 * schedule's step count too), so training resumes exactly where it
 * stopped, for every optimizer. */
START_TEST(compiled_model_round_trip)
{
    const ck_optimizer_options opts[] = {
        {.name = "adam"},
        {.name = "nadam"},
        {.name = "adamax"},
        {.name = "adamw", .learning_rate = 0.05},
        ck_sgd(.momentum = 0.9,
               .learning_rate_schedule = ck_exponential_decay(.initial_learning_rate = 0.1,
                                                              .decay_steps = 1, .decay_rate = 0.5)),
    };
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
        /* No dropout: its random masks would differ between the two models. */
        ck_model *a = ck_sequential(.seed = 50), *b = NULL;
        ck_assert_ok(ck_model_add(a, ck_input(2)));
        ck_assert_ok(ck_model_add(a, ck_dense(.units = 3, .activation = "tanh")));
        ck_assert_ok(ck_model_add(a, ck_dense(.units = 2)));
        ck_assert_ok(ck_model_compile(a, .optimizer = opts[i], .loss = "mse"));
        float xs[6] = {0.5f, -1.0f, 1.5f, 0.25f, -0.5f, 2.0f}, ys[6] = {1, 0, 0, 1, 1, 1};
        ck_tensor x = {.rank = 2, .dims = {3, 2}, .data = xs},
                  y = {.rank = 2, .dims = {3, 2}, .data = ys};
        ck_assert_ok(ck_model_train_on_batch(a, &x, &y, NULL));
        ck_assert_ok(ck_model_train_on_batch(a, &x, &y, NULL));
        const char *path = ck_test_path("compiled.h5");
        ck_assert_ok(ck_model_save(a, path));
        ck_assert(h5_has(path, "optimizer_weights"));
        ck_assert_ok(ck_model_load(path, &b));
        ck_assert_int_eq(ck_optimizer_slot_count(b), ck_optimizer_slot_count(a));
        double la, lb;
        ck_assert_ok(ck_model_train_on_batch(a, &x, &y, &la));
        ck_assert_ok(ck_model_train_on_batch(b, &x, &y, &lb));
        ck_assert_double_eq(la, lb);
        assert_same_params(a, b);
        ck_model_free(a);
        ck_model_free(b);
    }
}
END_TEST

/* ---------------------------------------------------------------- legacy writers */

enum {
    VLEN = 1,
    NO_COLON = 2,
    SPLIT = 4,
    TOP_LEVEL = 8,
    AS_F64 = 16,
    INT_KERNEL = 32,
    NO_BIAS_DATA = 64
};

static void write_vlen_list(hid_t obj, const char *name, const char **items, int n)
{
    hsize_t dim = (hsize_t)n;
    hid_t t = H5Tcopy(H5T_C_S1), s = H5Screate_simple(1, &dim, NULL);
    H5Tset_size(t, H5T_VARIABLE);
    hid_t a = H5Acreate2(obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(H5Awrite(a, t, items), 0);
    H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
}

static void write_list(hid_t obj, const char *name, const char **items, int n, int flags)
{
    if (flags & VLEN)
        write_vlen_list(obj, name, items, n);
    else
        ck_assert_ok(ck_h5_write_strings(obj, name, items, n));
}

static void write_dataset(hid_t g, const char *path, int rank, const int64_t *dims, const float *w,
                          int flags, bool is_kernel)
{
    hsize_t hd[2] = {(hsize_t)dims[0], rank > 1 ? (hsize_t)dims[1] : 0};
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t s = H5Screate_simple(rank, hd, NULL);
    hid_t type = (flags & INT_KERNEL) && is_kernel ? H5T_STD_I32LE
                 : (flags & AS_F64)                ? H5T_IEEE_F64LE
                                                   : H5T_IEEE_F32LE;
    hid_t d = H5Dcreate2(g, path, type, s, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, w), 0);
    H5Dclose(d);
    H5Sclose(s);
    H5Pclose(lcpl);
}

/* Dense(3) > Dropout > Dense(2) on input (2,), in the style of various
 * Keras writers, with file-specific layer names. */
static ck_model *tiny_model(uint64_t seed)
{
    ck_model *m = ck_sequential(.seed = seed);
    ck_assert_ok(ck_model_add(m, ck_input(2)));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 3, .activation = "relu")));
    ck_assert_ok(ck_model_add(m, ck_dropout(.rate = 0.5)));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 2)));
    ck_assert_ok(ck_model_build(m));
    return m;
}

static void write_legacy(const char *path, const ck_model *src, int flags)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    const char *layers[] = {"fc_a", "drop", "fc_b"};
    if (flags & SPLIT) {
        write_list(f, "layer_names0", layers, 2, flags);
        write_list(f, "layer_names1", layers + 2, 1, flags);
    } else {
        write_list(f, "layer_names", layers, 3, flags);
    }
    ck_assert_ok(ck_h5_write_string(f, "keras_version", "2.9.0"));
    if (flags & TOP_LEVEL) {
        hid_t t = H5Gcreate2(f, "top_level_model_weights", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        ck_assert_ok(ck_h5_write_strings(t, "weight_names", NULL, 0));
        H5Gclose(t);
    }
    const ck_layer *model_layers[] = {src->layers[0], src->layers[1], src->layers[2]};
    for (int i = 0; i < 3; i++) {
        hid_t g = H5Gcreate2(f, layers[i], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        const ck_layer *l = model_layers[i];
        char names[2][64];
        const char *ptrs[2] = {names[0], names[1]};
        for (int k = 0; k < l->n_weights; k++)
            snprintf(names[k], sizeof names[k], "%s/%s%s", layers[i], l->weights[k].name,
                     flags & NO_COLON ? "" : ":0");
        write_list(g, "weight_names", ptrs, l->n_weights, flags & VLEN);
        for (int k = 0; k < l->n_weights; k++) {
            if ((flags & NO_BIAS_DATA) && k == 1)
                continue;
            const ck_weight *w = &l->weights[k];
            write_dataset(g, names[k], w->rank, w->dims, w->data, flags, k == 0);
        }
        H5Gclose(g);
    }
    H5Fclose(f);
}

START_TEST(legacy_writer_variants)
{
    const int variants[] = {0,
                            VLEN,
                            NO_COLON,
                            SPLIT,
                            SPLIT | VLEN,
                            TOP_LEVEL,
                            AS_F64,
                            VLEN | NO_COLON | SPLIT | TOP_LEVEL};
    ck_model *src = tiny_model(11);
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        const char *path = ck_test_path("variant.h5");
        write_legacy(path, src, variants[i]);
        ck_model *dst = tiny_model(12);
        ck_status st = ck_model_load_weights(dst, path);
        ck_assert_msg(st == CK_OK, "variant %#x: %s", variants[i], ck_last_error());
        assert_same_params(src, dst);
        ck_model_free(dst);
    }
    ck_model_free(src);
}
END_TEST

static void expect_load_weights_failure(int flags, ck_status code, const char *fragment)
{
    ck_model *src = tiny_model(13), *dst = tiny_model(14);
    const char *path = ck_test_path("bad.h5");
    write_legacy(path, src, flags);
    float *before = snapshot(dst);
    ck_assert_fails(ck_model_load_weights(dst, path), code);
    ck_assert_msg(strstr(ck_last_error(), fragment), "message '%s' lacks '%s'", ck_last_error(),
                  fragment);
    assert_unchanged(dst, before);
    ck_model_free(src);
    ck_model_free(dst);
}

START_TEST(missing_dataset)
{
    expect_load_weights_failure(NO_BIAS_DATA, CK_ERR_FORMAT, "fc_a/bias:0");
}
END_TEST

START_TEST(integer_dataset)
{
    expect_load_weights_failure(INT_KERNEL, CK_ERR_FORMAT, "integer");
}
END_TEST

/* ---------------------------------------------------------------- mismatches and corruption */

START_TEST(wrong_shapes_leave_model_unchanged)
{
    ck_model *a = small_model(20, CK_KERAS2);
    ck_model *b = ck_sequential(.seed = 21);
    ck_assert_ok(ck_model_add(b, ck_input(4, 3)));
    ck_assert_ok(ck_model_add(b, ck_lstm(.units = 5, .return_sequences = true)));
    ck_assert_ok(ck_model_add(b, ck_dense(.units = 7, .activation = "relu")));
    ck_assert_ok(ck_model_add(b, ck_lstm(.units = 3)));
    ck_assert_ok(ck_model_add(b, ck_dense(.units = 4)));
    ck_assert_ok(ck_model_build(b));
    const char *path = ck_test_path("shapes.h5");
    ck_assert_ok(ck_model_save_weights(a, path));
    float *before = snapshot(b);
    ck_assert_fails(ck_model_load_weights(b, path), CK_ERR_SHAPE);
    ck_assert_msg(strstr(ck_last_error(), "dense") && strstr(ck_last_error(), "kernel") &&
                      strstr(ck_last_error(), "(5, 7)") && strstr(ck_last_error(), "(5, 6)"),
                  "%s", ck_last_error());
    assert_unchanged(b, before);
    ck_model_free(a);
    ck_model_free(b);
}
END_TEST

START_TEST(layer_count_mismatch)
{
    ck_model *a = small_model(22, CK_KERAS2), *b = tiny_model(23);
    const char *path = ck_test_path("count.h5");
    ck_assert_ok(ck_model_save_weights(a, path));
    float *before = snapshot(b);
    ck_assert_fails(ck_model_load_weights(b, path), CK_ERR_SHAPE);
    assert_unchanged(b, before);
    ck_assert_ok(ck_model_save_weights(a, ck_test_path("count.weights.h5")));
    before = snapshot(b);
    ck_assert(ck_model_load_weights(b, ck_test_path("count.weights.h5")) != CK_OK);
    assert_unchanged(b, before);
    ck_model_free(a);
    ck_model_free(b);
}
END_TEST

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

/* Runs a load that must fail and checks that HDF5 printed nothing. */
static void expect_quiet_failure(const char *path, ck_status code)
{
    ck_model *m = tiny_model(30), *loaded = (ck_model *)&m;
    float *before = snapshot(m);
    fflush(stderr);
    int saved = dup(2);
    FILE *capture = tmpfile();
    dup2(fileno(capture), 2);
    ck_status st_load = ck_model_load(path, &loaded);
    ck_status st_weights = ck_model_load_weights(m, path);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    long printed = ftell(capture) < 0 ? 0 : (fseek(capture, 0, SEEK_END), ftell(capture));
    fclose(capture);
    ck_assert_int_eq(printed, 0);
    ck_assert_msg(st_load == code && st_weights == code, "%s: load %s, load_weights %s (%s)", path,
                  ck_status_name(st_load), ck_status_name(st_weights), ck_last_error());
    ck_assert_ptr_null(loaded);
    assert_unchanged(m, before);
    ck_model_free(m);
}

START_TEST(empty_and_garbage_files)
{
    const char *empty = ck_test_path("empty.h5");
    write_bytes(empty, "", 0);
    expect_quiet_failure(empty, CK_ERR_FORMAT);
    const char *garbage = ck_test_path("garbage.h5");
    char bytes[4096];
    for (size_t i = 0; i < sizeof bytes; i++)
        bytes[i] = (char)(i * 31 + 7);
    write_bytes(garbage, bytes, sizeof bytes);
    expect_quiet_failure(garbage, CK_ERR_FORMAT);
    expect_quiet_failure(ck_test_path("does-not-exist.h5"), CK_ERR_IO);
    const char *zip_garbage = ck_test_path("garbage.keras");
    memcpy(bytes, "PK\x03\x04", 4);
    write_bytes(zip_garbage, bytes, sizeof bytes);
    expect_quiet_failure(zip_garbage, CK_ERR_FORMAT);
}
END_TEST

START_TEST(truncated_file)
{
    ck_model *a = small_model(31, CK_KERAS2);
    const char *path = ck_test_path("full.h5");
    ck_assert_ok(ck_model_save(a, path));
    FILE *f = fopen(path, "rb");
    char *buf = malloc(1 << 20);
    size_t n = fread(buf, 1, 1 << 20, f);
    fclose(f);
    const char *cut = ck_test_path("cut.h5");
    write_bytes(cut, buf, n / 2);
    free(buf);
    expect_quiet_failure(cut, CK_ERR_FORMAT);
    ck_model_free(a);
}
END_TEST

START_TEST(weights_only_file_is_not_a_model)
{
    ck_model *a = small_model(32, CK_KERAS2), *b = NULL;
    const char *path = ck_test_path("wo.h5");
    ck_assert_ok(ck_model_save_weights(a, path));
    ck_assert_fails(ck_model_load(path, &b), CK_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "ck_model_load_weights"));
    ck_assert_ptr_null(b);
    ck_model_free(a);
}
END_TEST

START_TEST(by_name_needs_legacy_layout)
{
    ck_model *a = small_model(33, CK_KERAS2);
    const char *path = ck_test_path("byname.weights.h5");
    ck_assert_ok(ck_model_save_weights(a, path));
    ck_assert_fails(ck_model_load_weights(a, path, .by_name = true), CK_ERR_UNSUPPORTED);
    ck_model_free(a);
}
END_TEST

/* ---------------------------------------------------------------- JSON */

static void expect_json_failure(const char *json, ck_status code, const char *fragment)
{
    ck_model *m = (ck_model *)&json;
    ck_assert_fails(ck_model_from_json(json, &m), code);
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(ck_last_error(), fragment), "message '%s' lacks '%s'", ck_last_error(),
                  fragment);
}

/* A Sequential config of an InputLayer and one layer fails as named. */
static void expect_sequential_failure(const char *input_cfg, const char *cls, const char *cfg,
                                      const char *fragment)
{
    char json[400];
    snprintf(json, sizeof json,
             "{\"class_name\": \"Sequential\", \"config\": {\"layers\": ["
             "{\"class_name\": \"InputLayer\", \"config\": {%s}}, "
             "{\"class_name\": \"%s\", \"config\": {%s}}]}}",
             input_cfg, cls, cfg);
    expect_json_failure(json, CK_ERR_UNSUPPORTED, fragment);
}

/* ck_model_load(ARCH.json, .weights = W) is Keras's model_from_json then
 * load_weights: the same model, and without by_name no initializer runs.
 * The proof: an LSTM bias initialised "orthogonal", which a 1-D weight
 * cannot take, fails every build that runs the initializers. */
START_TEST(json_with_weights_runs_no_initializer)
{
    ck_model *a = small_model(7, CK_KERAS2), *b = NULL;
    char arch[1024], weights[1024];
    snprintf(arch, sizeof arch, "%s", ck_test_path("arch.json"));
    snprintf(weights, sizeof weights, "%s", ck_test_path("w.h5"));
    ck_assert_ok(ck_model_save_weights(a, weights));
    char *json = ck_model_to_json(a);
    const char *zeros = "\"bias_initializer\":{\"config\":{},\"class_name\":\"Zeros\"}";
    char *at = strstr(json, zeros);
    ck_assert_ptr_nonnull(at);
    FILE *f = fopen(arch, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "%.*s\"bias_initializer\":{\"config\":{},\"class_name\":\"Orthogonal\"}%s",
            (int)(at - json), json, at + strlen(zeros));
    fclose(f);
    ck_free(json);

    ck_assert_fails(ck_model_load(arch, &b, .format = CK_FORMAT_JSON), CK_ERR_SHAPE);
    ck_assert_ptr_null(b);
    ck_assert_fails(ck_model_load(arch, &b, .format = CK_FORMAT_JSON, .weights = weights,
                                  .by_name = true),
                    CK_ERR_SHAPE);
    ck_assert_ptr_null(b);
    ck_assert_ok(ck_model_load(arch, &b, .format = CK_FORMAT_JSON, .weights = weights));
    assert_same_params(a, b);
    assert_same_predictions(a, b);
    ck_model_free(b);
    ck_assert_fails(ck_model_load(arch, &b, .format = CK_FORMAT_JSON,
                                  .weights = ck_test_path("none.h5")),
                    CK_ERR_IO);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "none.h5"));
    ck_assert_ptr_null(b);
    ck_model_free(a);
}
END_TEST

START_TEST(json_errors)
{
    expect_json_failure("{\"class_name\": \"Sequential\", \"config\": {\"layers\": [",
                        CK_ERR_FORMAT, "JSON");
    expect_json_failure("", CK_ERR_FORMAT, "JSON");
    expect_json_failure("[1, 2]", CK_ERR_FORMAT, "object");
    expect_json_failure(
        "{\"class_name\": \"Sequential\", \"config\": {\"layers\": ["
        "{\"class_name\": \"InputLayer\", \"config\": {\"batch_input_shape\": [null, 3]}},"
        "{\"class_name\": \"Conv9D\", \"config\": {\"name\": \"weird\"}}]}}",
        CK_ERR_UNSUPPORTED, "Conv9D");
    expect_json_failure("{\"class_name\": \"Sequential\", \"config\": {\"layers\": ["
                        "{\"class_name\": \"Dense\", \"config\": {\"units\": 2}}]}}",
                        CK_ERR_UNSUPPORTED, "input shape");
    expect_json_failure(
        "{\"class_name\": \"Sequential\", \"config\": {\"layers\": ["
        "{\"class_name\": \"InputLayer\", \"config\": {\"batch_input_shape\": [null, 3]}},"
        "{\"class_name\": \"Dense\", \"config\": {\"name\": \"d\"}}]}}",
        CK_ERR_FORMAT, "units");
    expect_json_failure("{\"class_name\": \"Subclassed\", \"config\": {}}", CK_ERR_UNSUPPORTED,
                        "Subclassed");
    /* A saved axis 0 is the batch axis, not the options' "default". */
    const char *norms[] = {"BatchNormalization", "LayerNormalization"};
    for (int i = 0; i < 2; i++)
        expect_sequential_failure("\"batch_input_shape\": [4, 3]", norms[i], "\"axis\": 0",
                                  "axis 0 (the batch axis)");
    /* An InputLayer dtype that names nothing is not taken for float32. */
    const char *dtypes[] = {"\"dtype\": 5",
                            "\"dtype\": {\"class_name\": \"DTypePolicy\", \"config\": {}}"};
    for (int i = 0; i < 2; i++) {
        char input[200];
        snprintf(input, sizeof input, "\"batch_input_shape\": [null, 3], %s", dtypes[i]);
        expect_sequential_failure(input, "Dense", "\"units\": 2", "dtype");
    }
}
END_TEST

START_TEST(json_layer_cap)
{
    size_t n = 10001, cap = 64 + n * 64;
    char *json = malloc(cap), *p = json;
    p += sprintf(p, "{\"class_name\": \"Sequential\", \"config\": {\"layers\": [");
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s{\"class_name\": \"Dropout\", \"config\": {\"rate\": 0.1}}",
                     i ? "," : "");
    sprintf(p, "]}}");
    expect_json_failure(json, CK_ERR_FORMAT, "10000");
    free(json);
}
END_TEST

/* Keras 2.0.x: config is a bare list and the first layer holds the shape. */
START_TEST(json_keras20_bare_list)
{
    ck_model *m = NULL;
    ck_assert_ok(ck_model_from_json(
        "{\"class_name\": \"Sequential\", \"keras_version\": \"2.0.8\", \"config\": ["
        "{\"class_name\": \"Dense\", \"config\": {\"name\": \"d1\", \"units\": 4, "
        "\"batch_input_shape\": [null, 3], \"activation\": \"relu\"}},"
        "{\"class_name\": \"Dense\", \"config\": {\"name\": \"d2\", \"units\": 2}}]}",
        &m));
    ck_assert_str_eq(m->input->name, "d1_input");
    ck_assert_int_eq(ck_model_layer_count(m), 2);
    ck_assert_uint_eq(ck_model_count_params(m), 3 * 4 + 4 + 4 * 2 + 2);
    ck_assert_int_eq(m->semantics, CK_KERAS2);
    ck_model_free(m);
}
END_TEST

/* tf.keras 2.0-2.3, a model built with model.build(shape): the shape is
 * the Sequential config's build_input_shape. */
START_TEST(json_build_input_shape)
{
    ck_model *m = NULL;
    ck_assert_ok(ck_model_from_json(
        "{\"class_name\": \"Sequential\", \"keras_version\": \"2.3.0-tf\", \"config\": {\"name\": \"s\", "
        "\"layers\": [{\"class_name\": \"LSTM\", \"config\": {\"name\": \"lstm\", \"units\": 3}},"
        "{\"class_name\": \"Dense\", \"config\": {\"name\": \"dense\", \"units\": 2}}], "
        "\"build_input_shape\": [null, 5, 4]}}",
        &m));
    ck_assert_str_eq(m->input->name, "lstm_input");
    ck_assert_int_eq(m->input->out_shape.dims[1], 5);
    ck_assert_int_eq(m->input->out_shape.dims[2], 4);
    ck_assert_uint_eq(ck_model_count_params(m), 4 * 3 * (4 + 3 + 1) + 3 * 2 + 2);
    ck_model_free(m);
}
END_TEST

/* A fixed batch size (needed by stateful layers) survives a round trip and
 * shows in the summary, as in Keras. */
START_TEST(json_fixed_batch_size)
{
    ck_model *m = NULL;
    ck_assert_ok(ck_model_from_json(
        "{\"class_name\": \"Sequential\", \"keras_version\": \"2.4.0\", \"config\": {\"name\": \"s\", "
        "\"layers\": [{\"class_name\": \"LSTM\", \"config\": {\"name\": \"lstm\", \"units\": 5, "
        "\"stateful\": true, \"batch_input_shape\": [2, 3, 4]}}]}}",
        &m));
    char *json = ck_model_to_json(m);
    ck_assert_msg(strstr(json, "\"batch_input_shape\":[2,3,4]"), "%s", json);
    free(json);
    char *text = ck_test_summary(m, CK_SUMMARY_KERAS2);
    ck_assert_msg(strstr(text,
                         "lstm (LSTM)                  (2, 5)                    200       \n"),
                  "%s", text);
    free(text);
    float x[2 * 3 * 4] = {0}, y[2 * 5];
    ck_assert_ok(ck_model_predict(m, x, 2, y));
    ck_model_free(m);
    ck_assert_ptr_null(ck_input_new(&(ck_input_options){.shape = {3}, .batch_size = -1}));
    ck_assert_int_eq(ck_error_status(), CK_ERR_SHAPE);
}
END_TEST

static void assert_error_has(const char *needle)
{
    ck_assert_msg(strstr(ck_last_error(), needle), "error lacks '%s': %s", needle, ck_last_error());
}

/* A Sequential over (batch, 3, 4) as tf.keras 2.15 or Keras 3 writes
 * it, its layers after the InputLayer given as JSON. */
static const char *sequential_json(char *json, size_t len, bool keras3, const char *batch,
                                   const char *layers)
{
    snprintf(json, len,
             "{\"class_name\": \"Sequential\", %s \"config\": {\"name\": \"s\", \"layers\": "
             "[{\"class_name\": \"InputLayer\", \"config\": {\"%s\": [%s, 3, 4], \"dtype\": "
             "\"float32\", \"name\": \"in\"}}, %s]}}",
             keras3 ? "\"module\": \"keras\"," : "\"keras_version\": \"2.15.0\",",
             keras3 ? "batch_shape" : "batch_input_shape", batch, layers);
    return json;
}

#define STATEFUL_LSTM                                                                          \
    "{\"class_name\": \"LSTM\", \"config\": {\"name\": \"lstm\", \"units\": 2, \"stateful\": " \
    "true}}"

/* Keras makes a stateful layer's state for a fixed batch when it builds
 * the model, and refuses one whose batch is open: "If a RNN is stateful,
 * it needs to know its batch size" (RNN.reset_states, called by build,
 * of 2.2.4 and v2.15.0), "When using `stateful=True` in a RNN, the batch
 * size must be static" (Keras 3's RNN.build). Loading refuses it so,
 * naming the layer and what to declare; a declared batch loads. */
START_TEST(stateful_layer_needs_a_batch_size)
{
    const struct {
        bool keras3;
        const char *layers, *layer;
    } cases[] = {
        {false, STATEFUL_LSTM, "layer 'lstm' (LSTM)"},
        {false,
         "{\"class_name\": \"GRU\", \"config\": {\"name\": \"gru\", \"units\": 2, \"stateful\": "
         "true}}",
         "layer 'gru' (GRU)"},
        {false,
         "{\"class_name\": \"Bidirectional\", \"config\": {\"name\": \"bi\", \"layer\": "
         "{\"class_name\": \"SimpleRNN\", \"config\": {\"name\": \"rnn\", \"units\": 2, "
         "\"stateful\": true}}}}",
         "layer 'bi' (Bidirectional)"},
        {false,
         "{\"class_name\": \"Reshape\", \"config\": {\"name\": \"r\", \"target_shape\": [3, 2, "
         "2]}}, {\"class_name\": \"TimeDistributed\", \"config\": {\"name\": \"td\", \"layer\": "
         "{\"class_name\": \"GRU\", \"config\": {\"name\": \"gru\", \"units\": 2, \"stateful\": "
         "true}}}}",
         "layer 'td' (TimeDistributed)"},
        {true,
         "{\"module\": \"keras.layers\", \"class_name\": \"SimpleRNN\", \"config\": {\"name\": "
         "\"rnn\", \"units\": 2, \"stateful\": true}}",
         "layer 'rnn' (SimpleRNN)"},
    };
    char json[1024];
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        ck_model *m = NULL;
        sequential_json(json, sizeof json, cases[c].keras3, "null", cases[c].layers);
        ck_assert_fails(ck_model_from_json(json, &m), CK_ERR_SHAPE);
        ck_assert_ptr_null(m);
        assert_error_has(cases[c].layer);
        assert_error_has("is stateful, so Keras needs a fixed batch size");
        assert_error_has("(None, 3, 4)");
        sequential_json(json, sizeof json, cases[c].keras3, "2", cases[c].layers);
        ck_assert_ok(ck_model_from_json(json, &m));
        ck_model_free(m);
    }
    /* A whole-model file the same. */
    const char *path = ck_test_path("open_batch.h5");
    ck_model *m = NULL;
    ck_assert_ok(
        ck_model_from_json(sequential_json(json, sizeof json, false, "2", STATEFUL_LSTM), &m));
    ck_assert_ok(ck_model_save(m, path));
    ck_model_free(m);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    ck_assert_int_ge(H5Adelete(f, "model_config"), 0);
    ck_assert_ok(ck_h5_write_string(
        f, "model_config", sequential_json(json, sizeof json, false, "null", STATEFUL_LSTM)));
    H5Fclose(f);
    ck_assert_fails(ck_model_load(path, &m), CK_ERR_SHAPE);
    assert_error_has("layer 'lstm' (LSTM) is stateful");
    assert_error_has("batch_input_shape");
}
END_TEST

/* A model built in C may leave a stateful layer's batch open (its state
 * takes the first batch's size), but no Keras config can hold one: such
 * a model is not written as a whole model, where neither Keras nor
 * ckeras could build it again; its weights are. */
START_TEST(stateful_model_without_batch_not_saved)
{
    ck_model *m = ck_sequential();
    ck_assert_ok(ck_model_add(m, ck_input(3, 4)));
    ck_assert_ok(ck_model_add(m, ck_gru(2, .stateful = true)));
    ck_assert_ok(ck_model_build(m));
    const char *paths[] = {"open.h5", "open.keras", "open.json"};
    for (int i = 0; i < 3; i++) {
        ck_assert_fails(ck_model_save(m, ck_test_path(paths[i])), CK_ERR_SHAPE);
        assert_error_has("layer 'gru' (GRU) is stateful, so Keras needs a fixed batch size, but "
                         "the model's input is (None, 3, 4)");
        assert_error_has(".batch_size of ck_input");
        ck_assert_int_ne(access(ck_test_path(paths[i]), F_OK), 0);
    }
    ck_assert_ptr_null(ck_model_to_json(m));
    ck_assert_int_eq(ck_error_status(), CK_ERR_SHAPE);
    ck_assert_ok(ck_model_save_weights(m, ck_test_path("open.weights.h5")));
    ck_model_free(m);
}
END_TEST

static const char *k3_functional =
    "{\"module\": \"keras\", \"class_name\": \"Functional\", \"config\": {\"name\": \"func\", "
    "\"layers\": ["
    "{\"module\": \"keras.layers\", \"class_name\": \"Dense\", \"config\": {\"name\": \"out\", "
    "\"units\": 2}, \"name\": \"out\", \"inbound_nodes\": [{\"args\": [{\"class_name\": "
    "\"__keras_tensor__\", \"config\": {\"shape\": [null, 4], \"keras_history\": [\"mid\", 0, 0]}}], "
    "\"kwargs\": {}}]},"
    "{\"module\": \"keras.layers\", \"class_name\": \"InputLayer\", \"config\": {\"batch_shape\": "
    "[null, 3], \"dtype\": \"float32\", \"sparse\": false, \"name\": \"inp\"}, \"name\": \"inp\", "
    "\"inbound_nodes\": []},"
    "{\"module\": \"keras.layers\", \"class_name\": \"Dense\", \"config\": {\"name\": \"mid\", "
    "\"units\": 4, \"activation\": \"relu\"}, \"name\": \"mid\", \"inbound_nodes\": [{\"args\": "
    "[{\"class_name\": \"__keras_tensor__\", \"config\": {\"shape\": [null, 3], \"keras_history\": "
    "[\"inp\", 0, 0]}}], \"kwargs\": {\"training\": false}}]}], "
    "\"input_layers\": [[\"inp\", 0, 0]], \"output_layers\": [\"out\", 0, 0]}}";

/* Layers are listed out of order on purpose: the chain is followed. */
START_TEST(json_keras3_functional_chain)
{
    ck_model *m = NULL;
    ck_assert_ok(ck_model_from_json(k3_functional, &m));
    ck_assert_str_eq(ck_model_name(m), "func");
    ck_assert_int_eq(m->semantics, CK_KERAS3);
    ck_assert_str_eq(m->input->name, "inp");
    ck_assert_str_eq(m->layers[0]->name, "mid");
    ck_assert_str_eq(m->layers[1]->name, "out");
    /* Keras lists a Functional model's InputLayer in the summary; tf.keras 2
     * prints its shape as a list. */
    char *k3 = ck_test_summary(m, CK_SUMMARY_KERAS3), *k2 = ck_test_summary(m, CK_SUMMARY_KERAS2);
    ck_assert_msg(
        strstr(k3, "│ inp (InputLayer)                │ (None, 3)              │             0 │\n"
                   "├─────"),
        "%s", k3);
    ck_assert_msg(strstr(k2,
                         "=\ninp (InputLayer)             [(None, 3)]               0         \n"
                         "_____"),
                  "%s", k2);
    free(k3);
    free(k2);
    ck_model_free(m);
}
END_TEST

START_TEST(json_branching_rejected)
{
    expect_json_failure(
        "{\"class_name\": \"Model\", \"config\": {\"name\": \"m\", \"layers\": ["
        "{\"name\": \"in\", \"class_name\": \"InputLayer\", \"config\": {\"batch_input_shape\": "
        "[null, 3], \"name\": \"in\"}, \"inbound_nodes\": []},"
        "{\"name\": \"a\", \"class_name\": \"Dense\", \"config\": {\"name\": \"a\", \"units\": 2}, "
        "\"inbound_nodes\": [[[\"in\", 0, 0, {}]]]},"
        "{\"name\": \"b\", \"class_name\": \"Dense\", \"config\": {\"name\": \"b\", \"units\": 2}, "
        "\"inbound_nodes\": [[[\"in\", 0, 0, {}]]]}]}}",
        CK_ERR_UNSUPPORTED, "branching");
    expect_json_failure(
        "{\"class_name\": \"Model\", \"config\": {\"name\": \"m\", \"layers\": ["
        "{\"name\": \"in\", \"class_name\": \"InputLayer\", \"config\": {\"batch_input_shape\": "
        "[null, 3], \"name\": \"in\"}, \"inbound_nodes\": []},"
        "{\"name\": \"a\", \"class_name\": \"Dense\", \"config\": {\"name\": \"a\", \"units\": 2}, "
        "\"inbound_nodes\": [[[\"in\", 0, 0, {}], [\"in\", 0, 0, {}]]]}]}}",
        CK_ERR_UNSUPPORTED, "several inputs");
}
END_TEST

/* A Keras 2 Functional model: in (3) -> `layer` called with `kwargs`. */
static char *keras2_call(const char *layer, const char *kwargs)
{
    static char json[1024];
    snprintf(json, sizeof json,
             "{\"class_name\": \"Model\", \"config\": {\"name\": \"m\", \"layers\": ["
             "{\"name\": \"in\", \"class_name\": \"InputLayer\", \"config\": "
             "{\"batch_input_shape\": [null, 2, 3], \"name\": \"in\"}, \"inbound_nodes\": []},"
             "%s, \"inbound_nodes\": [[[\"in\", 0, 0, %s]]]}], "
             "\"input_layers\": [[\"in\", 0, 0]], \"output_layers\": [[\"x\", 0, 0]]}}",
             layer, kwargs);
    return json;
}

/* Keras 2 honours a node's training=True in predict: refused where it
 * changes the output, loaded where it cannot (or with training=False). */
START_TEST(json_keras2_training_call)
{
    static const char *changes[] = {
        "{\"name\": \"x\", \"class_name\": \"Dropout\", \"config\": {\"name\": \"x\", \"rate\": 0.5}",
        "{\"name\": \"x\", \"class_name\": \"BatchNormalization\", \"config\": {\"name\": \"x\"}",
        "{\"name\": \"x\", \"class_name\": \"GaussianDropout\", \"config\": {\"name\": \"x\", "
        "\"rate\": 0.3}",
        "{\"name\": \"x\", \"class_name\": \"AlphaDropout\", \"config\": {\"name\": \"x\", "
        "\"rate\": 0.1}",
        "{\"name\": \"x\", \"class_name\": \"LSTM\", \"config\": {\"name\": \"x\", \"units\": 2, "
        "\"recurrent_dropout\": 0.1}",
        "{\"name\": \"x\", \"class_name\": \"Bidirectional\", \"config\": {\"name\": \"x\", "
        "\"layer\": {\"class_name\": \"LSTM\", \"config\": {\"name\": \"l\", \"units\": 2, "
        "\"dropout\": 0.2}}}",
    };
    for (size_t i = 0; i < sizeof changes / sizeof changes[0]; i++) {
        expect_json_failure(keras2_call(changes[i], "{\"training\": true}"), CK_ERR_UNSUPPORTED,
                            "layer 'x' (");
        ck_assert_ptr_nonnull(strstr(ck_last_error(), "is called with training=True"));
        ck_model *m = NULL;
        ck_assert_ok(ck_model_from_json(keras2_call(changes[i], "{\"training\": false}"), &m));
        ck_model_free(m);
    }
    static const char *same[] = {
        "{\"name\": \"x\", \"class_name\": \"Dense\", \"config\": {\"name\": \"x\", \"units\": 2}",
        "{\"name\": \"x\", \"class_name\": \"ZeroPadding1D\", \"config\": {\"name\": \"x\", "
        "\"padding\": [1, 1]}",
        "{\"name\": \"x\", \"class_name\": \"LSTM\", \"config\": {\"name\": \"x\", \"units\": 2, "
        "\"dropout\": 0.0}",
    };
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        ck_model *m = NULL;
        ck_assert_ok(ck_model_from_json(keras2_call(same[i], "{\"training\": true}"), &m));
        ck_model_free(m);
    }
}
END_TEST

/* A layer's state outputs (return_state=True) are refused wherever they
 * would be used: in a Sequential model (Keras refuses it too), as the
 * input of the next layer, as the model's output. */
START_TEST(json_returned_states)
{
    expect_json_failure(
        "{\"class_name\": \"Sequential\", \"config\": {\"name\": \"s\", \"layers\": ["
        "{\"class_name\": \"LSTM\", \"config\": {\"name\": \"l\", \"units\": 2, "
        "\"return_state\": true, \"batch_input_shape\": [null, 2, 3]}}]}}",
        CK_ERR_UNSUPPORTED, "layer 'l' has return_state=True");
    const char *lstm = "{\"name\": \"x\", \"class_name\": \"LSTM\", \"config\": {\"name\": \"x\", "
                       "\"units\": 2, \"return_state\": true}";
    char json[2048];
    snprintf(json, sizeof json, "%s", keras2_call(lstm, "{}"));
    char *out = strstr(json, "[[\"x\", 0, 0]]");
    ck_assert_ptr_nonnull(out);
    out[10] = '1';
    expect_json_failure(json, CK_ERR_UNSUPPORTED,
                        "the model's outputs: output 1 of layer 'x' is a state it returns");
    static const char dense_on_h[] =
        "{\"class_name\": \"Model\", \"config\": {\"name\": \"m\", \"layers\": ["
        "{\"name\": \"in\", \"class_name\": \"InputLayer\", \"config\": {\"batch_input_shape\": "
        "[null, 2, 3], \"name\": \"in\"}, \"inbound_nodes\": []},"
        "{\"name\": \"x\", \"class_name\": \"LSTM\", \"config\": {\"name\": \"x\", \"units\": 2, "
        "\"return_sequences\": true, \"return_state\": true}, \"inbound_nodes\": [[[\"in\", 0, 0, "
        "{}]]]},"
        "{\"name\": \"d\", \"class_name\": \"Dense\", \"config\": {\"name\": \"d\", \"units\": 1}, "
        "\"inbound_nodes\": [[[\"x\", 0, 1, {}]]]}],"
        "\"input_layers\": [[\"in\", 0, 0]], \"output_layers\": [[\"d\", 0, 0]]}}";
    expect_json_failure(dense_on_h, CK_ERR_UNSUPPORTED,
                        "layer 'd': output 1 of layer 'x' is a state it returns");
    /* The first output of such a layer is its output, as in Keras. */
    ck_model *m = NULL;
    ck_assert_ok(ck_model_from_json(keras2_call(lstm, "{}"), &m));
    ck_model_free(m);
}
END_TEST

/* ---------------------------------------------------------------- .keras */

static void add_member(zip_t *za, const char *name, const void *data, size_t n)
{
    zip_source_t *src = zip_source_buffer(za, data, n, 0);
    ck_assert_ptr_nonnull(src);
    ck_assert_int_ge(zip_file_add(za, name, src, ZIP_FL_OVERWRITE), 0);
}

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc(*n + 1);
    ck_assert_uint_eq(fread(buf, 1, *n, f), *n);
    fclose(f);
    return buf;
}

static const char *k3_sequential =
    "{\"module\": \"keras\", \"class_name\": \"Sequential\", \"config\": {\"name\": \"seq3\", "
    "\"trainable\": true, \"dtype\": \"float32\", \"layers\": ["
    "{\"module\": \"keras.layers\", \"class_name\": \"InputLayer\", \"config\": {\"batch_shape\": "
    "[null, 4, 3], \"dtype\": \"float32\", \"sparse\": false, \"name\": \"input_layer\"}, "
    "\"registered_name\": null},"
    "{\"module\": \"keras.layers\", \"class_name\": \"LSTM\", \"config\": {\"name\": \"lstm\", "
    "\"trainable\": true, \"units\": 5, \"activation\": \"tanh\", \"recurrent_activation\": "
    "\"hard_sigmoid\", \"return_sequences\": true}, \"registered_name\": null, \"build_config\": "
    "{\"input_shape\": [null, 4, 3]}},"
    "{\"module\": \"keras.layers\", \"class_name\": \"LSTM\", \"config\": {\"name\": \"lstm_1\", "
    "\"units\": 3, \"recurrent_activation\": \"hard_sigmoid\"}, \"registered_name\": null},"
    "{\"module\": \"keras.layers\", \"class_name\": \"Dense\", \"config\": {\"name\": \"dense\", "
    "\"units\": 4, \"activation\": \"softmax\"}, \"registered_name\": null}]}, "
    "\"registered_name\": null, \"build_config\": {\"input_shape\": [null, 4, 3]}}";

/* The model at path (a .keras archive or directory) has ref's weights and
 * predictions, and its weights load into a model built from the config. */
static ck_model *load_as_ref(ck_model *ref, const char *path)
{
    ck_model *m = NULL;
    ck_assert_ok(ck_model_load(path, &m));
    assert_same_params(ref, m);
    assert_same_predictions(ref, m);
    ck_model *other = NULL;
    ck_assert_ok(ck_model_from_json(k3_sequential, &other));
    other->params[0] += 1.0f;
    ck_assert_ok(ck_model_load_weights(other, path));
    assert_same_params(ref, other);
    ck_model_free(other);
    return m;
}

START_TEST(keras_zip_archive)
{
    ck_model *ref = NULL;
    ck_assert_ok(ck_model_from_json(k3_sequential, &ref));
    ck_assert_int_eq(ref->semantics, CK_KERAS3);
    const char *wpath = ck_test_path("ref.weights.h5");
    ck_assert_ok(ck_model_save_weights(ref, wpath));
    size_t wn;
    char *weights = slurp(wpath, &wn);
    const char *meta = "{\"keras_version\": \"3.3.3\", \"date_saved\": \"2024-06-01@00:00:00\"}";
    const char *kpath = ck_test_path("model.keras");
    int err;
    zip_t *za = zip_open(kpath, ZIP_CREATE | ZIP_TRUNCATE, &err);
    ck_assert_ptr_nonnull(za);
    add_member(za, "metadata.json", meta, strlen(meta));
    add_member(za, "config.json", k3_sequential, strlen(k3_sequential));
    add_member(za, "model.weights.h5", weights, wn);
    ck_assert_int_eq(zip_close(za), 0);
    free(weights);

    ck_model *m = load_as_ref(ref, kpath);
    ck_assert_str_eq(ck_model_name(m), "seq3");
    ck_assert_int_eq(m->semantics, CK_KERAS3);
    ck_model_free(m);
    ck_model_free(ref);
}
END_TEST

/* Keras 3.4+ model.save(path, zipped=False) (and models from the Hugging
 * Face Hub): the archive's members as files of a directory. */
START_TEST(keras_model_directory)
{
    ck_model *ref = NULL;
    ck_assert_ok(ck_model_from_json(k3_sequential, &ref));
    ck_assert_int_eq(mkdir(ck_test_path("unzipped"), 0700), 0);
    ck_assert_ok(ck_model_save_weights(ref, ck_test_path("unzipped/model.weights.h5")));
    const char *meta = "{\"keras_version\": \"3.4.1\", \"date_saved\": \"2024-08-01@00:00:00\"}";
    write_bytes(ck_test_path("unzipped/metadata.json"), meta, strlen(meta));
    write_bytes(ck_test_path("unzipped/config.json"), k3_sequential, strlen(k3_sequential));
    ck_assert_int_eq(ck_file_format_detect(ck_test_path("unzipped"), &(ck_file_format){0}), CK_OK);
    ck_model *m = load_as_ref(ref, ck_test_path("unzipped"));
    ck_assert_str_eq(m->keras_version, "3.4.1");
    ck_model_free(m);
    ck_model_free(ref);
    ck_assert_int_eq(unlink(ck_test_path("unzipped/model.weights.h5")), 0);
    ck_assert_fails(ck_model_load(ck_test_path("unzipped"), &m), CK_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "has no model.weights.h5"));
    /* A directory without config.json is no model. */
    ck_assert_fails(ck_model_load(ck_test_path(""), &m), CK_ERR_IO);
}
END_TEST

/* Writes ref's optimizer state into path as Keras 3 saves optimizer/vars:
 * iteration, learning rate (0.02, where ref's config says 0.01), then the first `interleaved` slots weight by
 * weight and the others each over every weight; u_product: 0 without
 * Nadam's scalar, 1 before the slots (Keras 3.0-3.9), 2 after them. */
static void write_k3_state(ck_model *ref, const char *path, int interleaved, int u_product)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    ck_assert_int_ge(f, 0);
    hid_t g = H5Gcreate2(f, "optimizer", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t v = H5Gcreate2(g, "vars", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int n = ck_optimizer_slot_count(ref), w = (n - 1) / ck_train_state_of(ref)->opt.n_slots;
    const char *name;
    float *data;
    int rank;
    int64_t dims[4];
    ck_assert_ok(ck_optimizer_slot(ref, 0, &name, &data, &rank, dims));
    ck_assert_ok(ck_h5_write_int64(v, "0", (int64_t)data[0]));
    ck_assert_ok(ck_h5_write_floats(v, "1", 0, dims, (float[]){0.02f}));
    int base = u_product == 1 ? 3 : 2;
    char key[16];
    if (u_product) {
        snprintf(key, sizeof key, "%d", u_product == 1 ? 2 : n + 1);
        ck_assert_ok(ck_h5_write_floats(v, key, 0, dims, (float[]){0.5f}));
    }
    for (int i = 1; i < n; i++) {
        ck_assert_ok(ck_optimizer_slot(ref, i, &name, &data, &rank, dims));
        int kind = (i - 1) / w, j = (i - 1) % w;
        snprintf(key, sizeof key, "%d",
                 kind < interleaved ? base + j * interleaved + kind
                                    : base + interleaved * w + (kind - interleaved) * w + j);
        ck_assert_ok(ck_h5_write_floats(v, key, rank, dims, data));
    }
    H5Gclose(v);
    H5Gclose(g);
    H5Fclose(f);
}

/* Compiled ref as an unzipped .keras in dir, its optimizer state as
 * write_k3_state writes it. */
static void write_k3_model_dir(ck_model *ref, const char *dir, int interleaved, int u_product)
{
    char file[64];
    ck_assert_int_eq(mkdir(ck_test_path(dir), 0700), 0);
    snprintf(file, sizeof file, "%s/model.weights.h5", dir);
    ck_assert_ok(ck_model_save_weights(ref, ck_test_path(file)));
    write_k3_state(ref, ck_test_path(file), interleaved, u_product);
    cJSON *root = ck_io_model_config_k3(ref);
    ck_assert_ok(ck_io_add_compile_config_k3(ref, root));
    char *text = cJSON_PrintUnformatted(root);
    snprintf(file, sizeof file, "%s/config.json", dir);
    write_bytes(ck_test_path(file), text, strlen(text));
    free(text);
    cJSON_Delete(root);
}

/* A compiled Keras 3 model resumes its optimizer, as load_model does: the
 * next step from the loaded model is the next step of the saved one, at
 * the saved learning rate. Keras
 * makes Adam's and Adamax's two moments weight by weight, then amsgrad's
 * velocity_hat; RMSprop's slots one kind at a time; Nadam Adam's two with
 * its u_product before them (Keras 3.0-3.9) or after them (3.10+). */
START_TEST(keras3_optimizer_state)
{
    const struct {
        ck_optimizer_options o;
        int interleaved, u_product;
    } cases[] = {
        {ck_adam(.learning_rate = 0.01, .amsgrad = true), 2, 0},
        {ck_adamax(.learning_rate = 0.01), 2, 0},
        {{.name = "rmsprop", .learning_rate = 0.01, .momentum = 0.5, .centered = true}, 1, 0},
        {ck_nadam(.learning_rate = 0.01), 2, 1},
        {ck_nadam(.learning_rate = 0.01), 2, 2}};
    float xd[2 * 4 * 3], yd[2 * 4] = {1, 0, 0, 0, 0, 0, 1, 0};
    for (int i = 0; i < 24; i++)
        xd[i] = (float)((i * 5) % 7) / 7.0f - 0.4f;
    ck_tensor x = {3, {2, 4, 3}, xd}, y = {2, {2, 4}, yd};
    for (int c = 0; c < 5; c++) {
        ck_model *ref = NULL;
        ck_assert_ok(ck_model_from_json(k3_sequential, &ref));
        ck_assert_ok(
            ck_model_compile(ref, .optimizer = cases[c].o, .loss = "categorical_crossentropy"));
        for (int step = 0; step < 3; step++)
            ck_assert_ok(ck_model_train_on_batch(ref, &x, &y, NULL));
        char dir[32];
        snprintf(dir, sizeof dir, "resumed%d", c);
        write_k3_model_dir(ref, dir, cases[c].interleaved, cases[c].u_product);
        ck_model *m = NULL;
        ck_assert_ok(ck_model_load(ck_test_path(dir), &m));
        /* Keras assigns the saved learning rate over the configured one. */
        double lr = 0;
        ck_assert_ok(ck_model_get_learning_rate(m, &lr));
        ck_assert_double_eq(lr, (double)0.02f);
        ck_assert_ok(ck_model_set_learning_rate(ref, 0.02));
        ck_assert_ok(ck_model_train_on_batch(ref, &x, &y, NULL));
        ck_assert_ok(ck_model_train_on_batch(m, &x, &y, NULL));
        assert_same_params(ref, m);
        ck_model_free(m);
        ck_model_free(ref);
    }
}
END_TEST

/* Keras 3 saves the step count as an int64 at optimizer/vars/0: one below
 * 0 or past 2^53 is refused with the state, named in the warnings, and a
 * valid one past float32's 2^24 is taken exactly. */
START_TEST(keras3_iteration_count_checked)
{
    const int64_t counts[] = {-3, (INT64_C(1) << 53) + 2, (INT64_C(1) << 40) + 1};
    float xd[2 * 4 * 3] = {0.5f}, yd[2 * 4] = {1, 0, 0, 0, 0, 0, 1, 0};
    ck_tensor x = {3, {2, 4, 3}, xd}, y = {2, {2, 4}, yd};
    for (int c = 0; c < 3; c++) {
        ck_model *ref = NULL;
        ck_assert_ok(ck_model_from_json(k3_sequential, &ref));
        ck_assert_ok(ck_model_compile(ref, .optimizer = ck_adam(), .loss = "mse"));
        ck_assert_ok(ck_model_train_on_batch(ref, &x, &y, NULL));
        char dir[32], file[64];
        snprintf(dir, sizeof dir, "count%d", c);
        write_k3_model_dir(ref, dir, 2, 0);
        snprintf(file, sizeof file, "%s/model.weights.h5", dir);
        hid_t f = H5Fopen(ck_test_path(file), H5F_ACC_RDWR, H5P_DEFAULT);
        ck_assert_int_ge(H5Ldelete(f, "optimizer/vars/0", H5P_DEFAULT), 0);
        ck_assert_ok(ck_h5_write_int64(f, "optimizer/vars/0", counts[c]));
        H5Fclose(f);
        ck_model *m = NULL;
        ck_assert_ok(ck_model_load(ck_test_path(dir), &m));
        int64_t n = -1;
        ck_assert_ok(ck_model_get_iterations(m, &n));
        char why[96];
        snprintf(why, sizeof why, "optimizer iterations is %" PRId64 " (optimizer/vars/0)",
                 counts[c]);
        bool valid = c == 2;
        ck_assert_int_eq(n, (valid ? counts[c] : 0));
        ck_assert_int_eq(strstr(ck_model_warnings(m), why) != NULL, !valid);
        ck_model_free(m);
        ck_model_free(ref);
    }
}
END_TEST

/* The model.weights.h5 member of the .keras archive at path, as a file. */
static hid_t open_weights_member(const char *path, const char *copy)
{
    int err;
    zip_t *za = zip_open(path, ZIP_RDONLY, &err);
    ck_assert_ptr_nonnull(za);
    zip_stat_t st;
    ck_assert_int_eq(zip_stat(za, "model.weights.h5", 0, &st), 0);
    char *bytes = malloc(st.size);
    zip_file_t *f = zip_fopen(za, "model.weights.h5", 0);
    ck_assert_int_eq(zip_fread(f, bytes, st.size), (zip_int64_t)st.size);
    zip_fclose(f);
    zip_close(za);
    write_bytes(copy, bytes, st.size);
    free(bytes);
    hid_t h = H5Fopen(copy, H5F_ACC_RDONLY, H5P_DEFAULT);
    ck_assert_int_ge(h, 0);
    return h;
}

static hsize_t optimizer_var_count(hid_t h)
{
    if (H5Lexists(h, "optimizer", H5P_DEFAULT) <= 0)
        return 0;
    H5G_info_t info;
    ck_assert_int_ge(H5Gget_info_by_name(h, "optimizer/vars", &info, H5P_DEFAULT), 0);
    return info.nlinks;
}

/* optimizer/vars/<index> of h holds exactly n floats of want. */
static void assert_var(hid_t h, int index, const float *want, size_t n)
{
    char path[40];
    snprintf(path, sizeof path, "optimizer/vars/%d", index);
    hid_t d = H5Dopen2(h, path, H5P_DEFAULT);
    ck_assert_int_ge(d, 0);
    hid_t space = H5Dget_space(d);
    ck_assert_int_eq(H5Sget_simple_extent_npoints(space), (hssize_t)n);
    float *got = malloc(n * sizeof *got);
    ck_assert_int_ge(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, got), 0);
    ck_assert_int_eq(memcmp(got, want, n * sizeof *got), 0);
    free(got);
    H5Sclose(space);
    H5Dclose(d);
}

/* ckeras's own .keras keeps the optimizer state as Keras 3 lays it out,
 * so a loaded model (in ckeras or Keras) continues where training
 * stopped. Nadam's state is left out: Keras 3 releases disagree on where
 * its u_product goes, and a misplaced one fails Keras's whole load. */
START_TEST(keras_archive_keeps_optimizer_state)
{
    const struct {
        ck_optimizer_options o;
        int interleaved;
        hsize_t vars; /* iteration, learning rate and slots; 0: none */
    } cases[] = {{ck_adam(.learning_rate = 0.01, .amsgrad = true), 2, 2 + 3 * 8},
                 {{.name = "rmsprop", .learning_rate = 0.01, .momentum = 0.5}, 1, 2 + 2 * 8},
                 {ck_sgd(.learning_rate = 0.01), 1, 2},
                 {ck_nadam(.learning_rate = 0.01), 2, 0}};
    float xd[2 * 4 * 3], yd[2 * 4] = {1, 0, 0, 0, 0, 0, 1, 0};
    for (int i = 0; i < 24; i++)
        xd[i] = (float)((i * 5) % 7) / 7.0f - 0.4f;
    ck_tensor x = {3, {2, 4, 3}, xd}, y = {2, {2, 4}, yd};
    const char *path = ck_test_path("state.keras"), *copy = ck_test_path("state.weights.h5");
    for (int c = 0; c < 4; c++) {
        ck_model *ref = NULL, *m = NULL;
        ck_assert_ok(ck_model_from_json(k3_sequential, &ref));
        ck_assert_ok(
            ck_model_compile(ref, .optimizer = cases[c].o, .loss = "categorical_crossentropy"));
        for (int step = 0; step < 3; step++)
            ck_assert_ok(ck_model_train_on_batch(ref, &x, &y, NULL));
        ck_assert_ok(ck_model_save(ref, path));
        hid_t h = open_weights_member(path, copy);
        ck_assert_uint_eq(optimizer_var_count(h), cases[c].vars);
        int n = ck_optimizer_slot_count(ref), w = 8;
        for (int i = 0; cases[c].vars && i < n; i++) {
            const char *name;
            float *data;
            int rank;
            int64_t dims[4];
            ck_assert_ok(ck_optimizer_slot(ref, i, &name, &data, &rank, dims));
            size_t size = 1;
            for (int k = 0; k < rank; k++)
                size *= (size_t)dims[k];
            int kind = (i - 1) / w, j = (i - 1) % w, il = cases[c].interleaved;
            assert_var(h,
                       i == 0      ? 0
                       : kind < il ? 2 + j * il + kind
                                   : 2 + il * w + (kind - il) * w + j,
                       data, size);
        }
        if (cases[c].vars)
            assert_var(h, 1, (float[]){0.01f}, 1);
        H5Fclose(h);
        ck_assert_ok(ck_model_load(path, &m));
        ck_assert_ok(ck_model_train_on_batch(ref, &x, &y, NULL));
        ck_assert_ok(ck_model_train_on_batch(m, &x, &y, NULL));
        if (cases[c].vars)
            assert_same_params(ref, m);
        ck_model_free(m);
        ck_model_free(ref);
    }
}
END_TEST

static int64_t read_int64(hid_t loc, const char *path)
{
    int64_t v = -1;
    hid_t d = H5Dopen2(loc, path, H5P_DEFAULT);
    ck_assert_int_ge(d, 0);
    ck_assert_int_ge(H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v), 0);
    H5Dclose(d);
    return v;
}

/* A step count past float32's 2^24 is saved as it is, as Keras keeps it
 * in an int64, in a legacy .h5 and in a .keras. */
START_TEST(iteration_count_saved_exactly)
{
    const int64_t count = (INT64_C(1) << 40) + 1;
    float xd[2 * 4 * 3] = {0.5f}, yd[2 * 4] = {1, 0, 0, 0, 0, 0, 1, 0};
    ck_tensor x = {3, {2, 4, 3}, xd}, y = {2, {2, 4}, yd};
    ck_model *m = NULL;
    ck_assert_ok(ck_model_from_json(k3_sequential, &m));
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_adam(), .loss = "mse"));
    ck_assert_ok(ck_model_train_on_batch(m, &x, &y, NULL));
    ck_optimizer_set_iterations(&ck_train_state_of(m)->opt, count);
    ck_assert_ok(ck_model_save(m, ck_test_path("exact.h5")));
    hid_t h = H5Fopen(ck_test_path("exact.h5"), H5F_ACC_RDONLY, H5P_DEFAULT);
    ck_assert_int_ge(h, 0);
    ck_assert_int_eq(read_int64(h, "optimizer_weights/Adam/iter:0"), count);
    H5Fclose(h);
    ck_assert_ok(ck_model_save(m, ck_test_path("exact.keras")));
    h = open_weights_member(ck_test_path("exact.keras"), ck_test_path("exact.weights.h5"));
    ck_assert_int_eq(read_int64(h, "optimizer/vars/0"), count);
    H5Fclose(h);
    ck_model_free(m);
}
END_TEST

/* tf.keras 2's SavedModel folders and checkpoints (model.save and
 * save_weights without .h5) are named as such, with what to do instead;
 * an HDF5 file beside a checkpoint of its name, or named like one, still
 * loads. */
START_TEST(tensorflow_formats_named)
{
    ck_assert_int_eq(mkdir(ck_test_path("sm"), 0700), 0);
    write_bytes(ck_test_path("sm/saved_model.pb"), "\x08\x01", 2);
    write_bytes(ck_test_path("ckpt.index"), "x", 1);
    write_bytes(ck_test_path("ckpt.data-00000-of-00001"), "x", 1);
    ck_model *m = NULL, *ref = small_model(46, CK_KERAS2);
    const char *saved[] = {"sm", "sm/saved_model.pb"};
    for (int i = 0; i < 2; i++) {
        ck_assert_fails(ck_model_load(ck_test_path(saved[i]), &m), CK_ERR_UNSUPPORTED);
        ck_assert_ptr_nonnull(strstr(ck_last_error(), "TensorFlow SavedModel"));
    }
    ck_assert_ptr_null(ck_file_describe(ck_test_path("sm")));
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "save it as NAME.keras or NAME.h5"));
    const char *ckpt[] = {"ckpt", "ckpt.index", "ckpt.data-00000-of-00001"};
    for (int i = 0; i < 3; i++) {
        ck_assert_fails(ck_model_load_weights(ref, ck_test_path(ckpt[i])), CK_ERR_UNSUPPORTED);
        ck_assert_ptr_nonnull(strstr(ck_last_error(), "TensorFlow checkpoint"));
    }
    ck_assert_ok(ck_model_save(ref, ck_test_path("w.h5")));
    ck_assert_int_eq(rename(ck_test_path("w.h5"), ck_test_path("w")), 0);
    write_bytes(ck_test_path("w.index"), "x", 1);
    ck_assert_ok(ck_model_load(ck_test_path("w"), &m));
    ck_model_free(m);
    ck_assert_int_eq(rename(ck_test_path("w"), ck_test_path("w.data-00000-of-00001")), 0);
    ck_assert_ok(ck_model_load(ck_test_path("w.data-00000-of-00001"), &m));
    ck_model_free(m);
    ck_model_free(ref);
}
END_TEST

START_TEST(keras_zip_missing_member)
{
    const char *kpath = ck_test_path("nocfg.keras");
    int err;
    zip_t *za = zip_open(kpath, ZIP_CREATE | ZIP_TRUNCATE, &err);
    add_member(za, "metadata.json", "{}", 2);
    ck_assert_int_eq(zip_close(za), 0);
    ck_model *m = NULL;
    ck_assert_fails(ck_model_load(kpath, &m), CK_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "config.json"));
}
END_TEST

/* Keras 3's weights_format="npz" stores the weights as pickled dicts in
 * model.weights.npz: refused by name, in an archive and in a folder. */
START_TEST(keras_npz_weights_named)
{
    const char *kpath = ck_test_path("npz.keras");
    ck_model *ref = small_model(45, CK_KERAS3);
    cJSON *root = ck_io_model_config_k3(ref);
    char *config = cJSON_PrintUnformatted(root);
    int err;
    zip_t *za = zip_open(kpath, ZIP_CREATE | ZIP_TRUNCATE, &err);
    add_member(za, "config.json", config, strlen(config));
    add_member(za, "metadata.json", "{}", 2);
    add_member(za, "model.weights.npz", "PK", 2);
    ck_assert_int_eq(zip_close(za), 0);
    ck_model *m = NULL;
    ck_assert_fails(ck_model_load(kpath, &m), CK_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "model.weights.npz"));
    ck_assert_int_eq(mkdir(ck_test_path("npzdir"), 0700), 0);
    write_bytes(ck_test_path("npzdir/config.json"), config, strlen(config));
    write_bytes(ck_test_path("npzdir/model.weights.npz"), "PK", 2);
    ck_assert_fails(ck_model_load(ck_test_path("npzdir"), &m), CK_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "weights_format"));
    free(config);
    cJSON_Delete(root);
    ck_model_free(ref);
}
END_TEST

/* ---------------------------------------------------------------- atomic save */

START_TEST(failed_save_keeps_old_file)
{
    ck_model *a = small_model(40, CK_KERAS2), *b = small_model(41, CK_KERAS2), *back = NULL;
    const char *paths[] = {ck_test_path("atomic.h5"), ck_test_path("atomic_w.h5"),
                           ck_test_path("atomic.weights.h5")};
    for (int i = 0; i < 3; i++) {
        bool whole = i == 0;
        ck_assert_ok(whole ? ck_model_save(a, paths[i]) : ck_model_save_weights(a, paths[i]));
        ck_io_debug_fail_write_after(3);
        ck_assert_fails(whole ? ck_model_save(b, paths[i]) : ck_model_save_weights(b, paths[i]),
                        CK_ERR_IO);
        ck_io_debug_fail_write_after(0);
        ck_assert_int_eq(ck_test_count_temp_files(), 0);
        ck_model *check = small_model(42, CK_KERAS2);
        ck_assert_ok(ck_model_load_weights(check, paths[i]));
        assert_same_params(a, check);
        ck_model_free(check);
    }
    /* The next successful save does replace it. */
    ck_assert_ok(ck_model_save(b, paths[0]));
    ck_assert_ok(ck_model_load(paths[0], &back));
    assert_same_params(b, back);
    ck_model_free(back);
    ck_model_free(a);
    ck_model_free(b);
}
END_TEST

START_TEST(save_into_missing_directory)
{
    ck_model *a = tiny_model(43);
    ck_assert_fails(ck_model_save(a, "/nonexistent-ckeras-dir/m.h5"), CK_ERR_IO);
    ck_model_free(a);
}
END_TEST

/* Every allocation failing in turn gives CK_ERR_MEMORY and no leak (ASan). */
START_TEST(allocation_failures)
{
    ck_model *a = small_model(44, CK_KERAS2);
    const char *path = ck_test_path("alloc.h5");
    ck_assert_ok(ck_model_save(a, path));
    for (long n = 1;; n++) {
        ck_model *m = NULL;
        ck_debug_fail_alloc_after(n);
        ck_status st = ck_model_load(path, &m);
        ck_debug_fail_alloc_after(0);
        if (st == CK_OK) {
            assert_same_params(a, m);
            ck_model_free(m);
            ck_assert_int_gt(n, 5);
            break;
        }
        ck_assert_msg(st == CK_ERR_MEMORY, "allocation %ld: %s (%s)", n, ck_status_name(st),
                      ck_last_error());
        ck_assert_ptr_null(m);
    }
    for (long n = 1;; n++) {
        ck_debug_fail_alloc_after(n);
        ck_status st = ck_model_save(a, path);
        ck_debug_fail_alloc_after(0);
        if (st == CK_OK)
            break;
        ck_assert_msg(st == CK_ERR_MEMORY, "allocation %ld: %s", n, ck_status_name(st));
        ck_assert_int_eq(ck_test_count_temp_files(), 0);
    }
    ck_model_free(a);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("io");
    TCase *rt = tcase_create("round_trips");
    tcase_add_unchecked_fixture(rt, ck_test_scratch_fixture, ck_test_remove_dir);
    tcase_add_test(rt, whole_model_round_trip);
    tcase_add_test(rt, whole_model_keeps_keras3_semantics);
    tcase_add_test(rt, weights_k2_round_trip);
    tcase_add_test(rt, weights_k3_round_trip);
    tcase_add_test(rt, weights_k3_paths);
    tcase_add_test(rt, weights_k2_names);
    tcase_add_test(rt, json_round_trip);
    tcase_add_test(rt, trainable_round_trip);
    tcase_add_test(rt, every_layer_round_trip);
    tcase_add_test(rt, compiled_model_round_trip);
    tcase_add_test(rt, split_layer_names);
    tcase_add_test(rt, legacy_writer_variants);
    tcase_add_test(rt, keras_zip_archive);
    suite_add_tcase(s, rt);

    TCase *bad = tcase_create("bad_inputs");
    tcase_add_unchecked_fixture(bad, ck_test_scratch_fixture, ck_test_remove_dir);
    tcase_add_test(bad, missing_dataset);
    tcase_add_test(bad, integer_dataset);
    tcase_add_test(bad, wrong_shapes_leave_model_unchanged);
    tcase_add_test(bad, layer_count_mismatch);
    tcase_add_test(bad, empty_and_garbage_files);
    tcase_add_test(bad, truncated_file);
    tcase_add_test(bad, weights_only_file_is_not_a_model);
    tcase_add_test(bad, by_name_needs_legacy_layout);
    tcase_add_test(bad, keras_zip_missing_member);
    tcase_add_test(bad, keras_model_directory);
    tcase_add_test(bad, keras3_optimizer_state);
    tcase_add_test(bad, keras3_iteration_count_checked);
    tcase_add_test(bad, stateful_layer_needs_a_batch_size);
    tcase_add_test(bad, stateful_model_without_batch_not_saved);
    tcase_add_test(bad, iteration_count_saved_exactly);
    tcase_add_test(bad, keras_archive_keeps_optimizer_state);
    tcase_add_test(bad, keras_npz_weights_named);
    tcase_add_test(bad, tensorflow_formats_named);
    tcase_add_test(bad, allocation_failures);
    suite_add_tcase(s, bad);

    TCase *json = tcase_create("json");
    tcase_add_test(json, json_errors);
    tcase_add_test(json, json_layer_cap);
    tcase_add_test(json, json_keras20_bare_list);
    tcase_add_test(json, json_build_input_shape);
    tcase_add_test(json, json_fixed_batch_size);
    tcase_add_test(json, json_keras3_functional_chain);
    tcase_add_test(json, json_branching_rejected);
    tcase_add_test(json, json_keras2_training_call);
    tcase_add_test(json, json_returned_states);
    suite_add_tcase(s, json);

    TCase *atomic = tcase_create("atomic_save");
    tcase_add_unchecked_fixture(atomic, ck_test_scratch_fixture, ck_test_remove_dir);
    tcase_add_test(atomic, json_with_weights_runs_no_initializer);
    tcase_add_test(atomic, failed_save_keeps_old_file);
    tcase_add_test(atomic, save_into_missing_directory);
    suite_add_tcase(s, atomic);
    return s;
}

int main(void)
{
    return ck_test_run(suite());
}
