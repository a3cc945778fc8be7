/* Shape, noise, normalization, convolution and pooling layers: hand-derived
 * forwards, naive references, Keras parameter counts, shapes, config round
 * trips and central finite-difference checks of every backward. */
#include "ck_gradcheck.h"
#include "ck_test.h"

#include "ck_internal.h"
#include "ck_layers.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

/* ------------------------------------------------------------ helpers */

static uint64_t rnd_state = 88172645463325252ull;

/* Uniform in [-1, 1), deterministic across platforms. */
static float rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return (float)((double)(rnd_state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static void fill(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = rnd();
}

/* Input(shape, 0-terminated) > the NULL-terminated layers, built. */
static ck_model *model_of(const int64_t *shape, ...)
{
    ck_model *m = ck_sequential(.seed = 3);
    ck_input_options io = {0};
    for (int i = 0; shape[i]; i++)
        io.shape[i] = shape[i];
    ck_assert_ok(ck_model_add(m, ck_input_new(&io)));
    va_list ap;
    va_start(ap, shape);
    for (ck_layer *l; (l = va_arg(ap, ck_layer *));)
        ck_assert_ok(ck_model_add(m, l));
    va_end(ap);
    ck_assert_ok(ck_model_build(m));
    return m;
}

/* Builds and expects the build to fail with `code`. */
static void build_fails(const int64_t *shape, ck_layer *l, ck_status code)
{
    ck_model *m = ck_sequential();
    ck_input_options io = {0};
    for (int i = 0; shape[i]; i++)
        io.shape[i] = shape[i];
    ck_assert_ok(ck_model_add(m, ck_input_new(&io)));
    ck_assert_ok(ck_model_add(m, l));
    ck_assert_fails(ck_model_build(m), code);
    ck_model_free(m);
}

static ck_tensor tensor3(float *data, int64_t a, int64_t b, int64_t c)
{
    return (ck_tensor){.rank = c ? 3 : 2, .dims = {a, b, c}, .data = data};
}

static void set_weight(ck_model *m, int layer, int index, const float *values)
{
    ck_tensor v;
    ck_layer *l = ck_model_layer(m, layer);
    ck_assert_ok(ck_layer_weight(l, index, NULL, &v));
    memcpy(v.data, values, ck_tensor_size(&v) * sizeof(float));
}

static void expect_output_shape(ck_model *m, int rank, int64_t d1, int64_t d2, int64_t d3)
{
    int r;
    int64_t d[CK_MAX_RANK];
    ck_assert_ok(ck_model_output_shape(m, &r, d));
    ck_assert_int_eq(r, rank);
    ck_assert_int_eq(d[0], d1);
    if (rank > 1)
        ck_assert_int_eq(d[1], d2);
    if (rank > 2)
        ck_assert_int_eq(d[2], d3);
}

/* Checks the weight and input gradients of the single layer of m with
 * central differences of loss = sum(y * r), r fixed and random (dy = r);
 * the generator restarts from seed 1234 for every forward, so dropout
 * masks and noise repeat exactly between evaluations. */
static void grad_check(ck_model *m, ck_tensor *x, bool training)
{
    ck_assert_int_eq(m->n_layers, 1);
    float *r = malloc(sizeof(float) * 4096);
    fill(r, 4096);
    ck_fd fd = {.m = m, .x = *x, .r = r, .training = training, .h = 4e-3};
    ck_rng_seed(&fd.rng, 1234);
    ck_fd_objective(&fd);
    ck_assert_uint_le(ck_tensor_size(&m->act_views[0]), 4096);
    int nonzero = ck_fd_check_each(&fd, 2e-3, 2e-2);
    ck_assert_msg(nonzero > 0, "every gradient is zero: the check proves nothing");
    free(r);
}

/* A one-layer model on random input of (b, t, c) (c = 0: rank 2), with
 * random trainable weights, gradient-checked. */
static void check_layer(ck_layer *l, int64_t b, int64_t t, int64_t c, bool training)
{
    ck_model *m = model_of(c ? (int64_t[]){t, c, 0} : (int64_t[]){t, 0}, l, NULL);
    fill(m->params, m->n_trainable);
    float x[512];
    ck_assert_int_le(b * t * (c ? c : 1), 512);
    fill(x, 512);
    ck_tensor tx = tensor3(x, b, t, c);
    grad_check(m, &tx, training);
    ck_model_free(m);
}

/* get_config -> from_config -> get_config gives the same JSON. */
static char *config_round_trip(ck_layer *l)
{
    cJSON *a = cJSON_CreateObject(), *b = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "name", l->name[0] ? l->name : "x");
    ck_assert_ok(l->ops->get_config(l, a));
    ck_layer *copy = l->ops->from_config(a, CK_KERAS2);
    ck_assert_msg(copy != NULL, "from_config failed: %s", ck_last_error());
    ck_assert_str_eq(copy->ops->class_name, l->ops->class_name);
    cJSON_AddStringToObject(b, "name", copy->name);
    ck_assert_ok(copy->ops->get_config(copy, b));
    char *ja = cJSON_PrintUnformatted(a), *jb = cJSON_PrintUnformatted(b);
    ck_assert_str_eq(ja, jb);
    cJSON_Delete(a);
    cJSON_Delete(b);
    free(jb);
    ck_layer_free(copy);
    return ja;
}

/* from_config on JSON text; NULL when it fails. */
static ck_layer *layer_from_json(const char *class_name, const char *json)
{
    cJSON *cfg = cJSON_Parse(json);
    ck_assert_ptr_nonnull(cfg);
    ck_layer *l = ck_layer_ops_find(class_name)->from_config(cfg, CK_KERAS2);
    cJSON_Delete(cfg);
    return l;
}

/* The activation a Dense built from `activation_json` writes back. */
static void assert_activation(const char *activation_json, const char *want)
{
    char json[512];
    snprintf(json, sizeof json, "{\"units\": 2, \"activation\": %s}", activation_json);
    ck_layer *l = layer_from_json("Dense", json);
    ck_assert_msg(l != NULL, "%s: %s", activation_json, ck_last_error());
    cJSON *cfg = cJSON_CreateObject();
    ck_assert_ok(l->ops->get_config(l, cfg));
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(cfg, "activation");
    ck_assert_msg(cJSON_IsString(act) && strcmp(act->valuestring, want) == 0, "%s gave %s",
                  activation_json, cJSON_IsString(act) ? act->valuestring : "?");
    cJSON_Delete(cfg);
    ck_layer_free(l);
}

/* Options newer Keras releases write that cannot change a prediction:
 * a positive Softmax axis naming the last axis, tf_keras 2.21's
 * robust_masking, tf_keras 2.20's rng_type. */
START_TEST(test_options_that_change_nothing)
{
    ck_layer *sm = layer_from_json("Softmax", "{\"axis\": 2, \"robust_masking\": true}");
    ck_assert_msg(sm != NULL, "%s", ck_last_error());
    ck_model *m = model_of((int64_t[]){2, 3, 0}, sm, NULL);
    float x[6] = {1, 2, 3, 0, 0, 0}, y[6];
    ck_assert_ok(ck_model_predict(m, x, 1, y));
    /* softmax(1, 2, 3) */
    ck_assert_float_eq_tol(y[0], 0.09003057f, 1e-6f);
    ck_assert_float_eq_tol(y[2], 0.66524096f, 1e-6f);
    ck_assert_float_eq_tol(y[3], 1.0f / 3.0f, 1e-6f);
    ck_model_free(m);
    build_fails((int64_t[]){2, 3, 0}, layer_from_json("Softmax", "{\"axis\": 1}"),
                CK_ERR_UNSUPPORTED);
    ck_assert_ptr_null(layer_from_json("Softmax", "{\"axis\": -2}"));
    const char *random_layers[][2] = {{"LSTM", "{\"units\": 2, \"rng_type\": \"stateful\"}"},
                                      {"Dropout", "{\"rate\": 0.5, \"rng_type\": \"stateless\"}"}};
    for (int i = 0; i < 2; i++) {
        ck_layer *l = layer_from_json(random_layers[i][0], random_layers[i][1]);
        ck_assert_msg(l != NULL, "%s: %s", random_layers[i][0], ck_last_error());
        ck_layer_free(l);
    }
}
END_TEST

/* An activation layer given as activation is serialized as the layer's
 * config; its name is the user's. What it computes is read from its class
 * and options, and options no built-in activation has are refused. */
START_TEST(test_activation_layer_objects)
{
    assert_activation("{\"module\": \"keras.layers\", \"class_name\": \"ReLU\", \"config\": "
                      "{\"name\": \"re_lu\", \"max_value\": null, \"negative_slope\": 0.0, "
                      "\"threshold\": 0.0}, \"registered_name\": null}",
                      "relu");
    assert_activation(
        "{\"class_name\": \"Softmax\", \"config\": {\"name\": \"tanh\", \"axis\": -1}}", "softmax");
    assert_activation(
        "{\"class_name\": \"ELU\", \"config\": {\"name\": \"elu_1\", \"alpha\": 1.0}}", "elu");
    assert_activation("{\"class_name\": \"LeakyReLU\", \"config\": {\"name\": \"l\", "
                      "\"negative_slope\": 0.2}}",
                      "leaky_relu");
    assert_activation("{\"class_name\": \"Activation\", \"config\": {\"name\": \"relu\", "
                      "\"activation\": \"tanh\"}}",
                      "tanh");
    assert_activation("{\"class_name\": \"function\", \"config\": \"sigmoid\"}", "sigmoid");
    static const char *const refused[] = {
        /* named like a built-in, computing something else */
        "{\"class_name\": \"LeakyReLU\", \"config\": {\"name\": \"relu\", \"negative_slope\": 0.1}}",
        "{\"class_name\": \"LeakyReLU\", \"config\": {\"name\": \"leaky_relu\", \"alpha\": 0.3}}",
        "{\"class_name\": \"LeakyReLU\", \"config\": {\"name\": \"leaky_relu\"}}",
        "{\"class_name\": \"ReLU\", \"config\": {\"name\": \"relu\", \"max_value\": 6.0}}",
        "{\"class_name\": \"ELU\", \"config\": {\"name\": \"elu\", \"alpha\": 0.5}}",
        "{\"class_name\": \"PReLU\", \"config\": {\"name\": \"relu\"}}",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        char json[512];
        snprintf(json, sizeof json, "{\"units\": 2, \"activation\": %s}", refused[i]);
        ck_assert_msg(layer_from_json("Dense", json) == NULL, "%s loaded", refused[i]);
        ck_assert_int_eq(ck_error_status(), CK_ERR_UNSUPPORTED);
        ck_assert_msg(strstr(ck_last_error(), "layer with options ckeras does not compute"), "%s",
                      ck_last_error());
    }
}
END_TEST

/* ------------------------------------------------ shape-only layers */

START_TEST(test_repeat_flatten_reshape_permute_forward)
{
    float x[12], y[24];
    for (int i = 0; i < 12; i++)
        x[i] = (float)i;
    ck_model *m = model_of((int64_t[]){3, 0}, ck_repeat_vector(.n = 2), NULL);
    expect_output_shape(m, 2, 2, 3, 0);
    ck_assert_ok(ck_model_predict(m, x, 2, y));
    const float rep[12] = {0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5};
    for (int i = 0; i < 12; i++)
        ck_assert_float_eq(y[i], rep[i]);
    ck_model_free(m);

    m = model_of((int64_t[]){3, 4, 0}, ck_permute(2, 1), NULL);
    expect_output_shape(m, 2, 4, 3, 0);
    ck_assert_ok(ck_model_predict(m, x, 1, y));
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++)
            ck_assert_float_eq(y[i * 3 + j], x[j * 4 + i]);
    ck_model_free(m);

    m = model_of((int64_t[]){2, 3, 2, 0}, ck_permute(3, 1, 2), NULL);
    int r;
    int64_t d[CK_MAX_RANK];
    ck_assert_ok(ck_model_output_shape(m, &r, d));
    ck_assert_int_eq(r, 3);
    ck_assert_int_eq(d[0], 2);
    ck_assert_int_eq(d[1], 2);
    ck_assert_int_eq(d[2], 3);
    ck_assert_ok(ck_model_predict(m, x, 1, y));
    /* y[k][i][j] = x[i][j][k] */
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 2; k++)
                ck_assert_float_eq(y[(k * 2 + i) * 3 + j], x[(i * 3 + j) * 2 + k]);
    ck_model_free(m);

    m = model_of((int64_t[]){3, 4, 0}, ck_flatten(), ck_reshape(2, -1), NULL);
    ck_assert_int_eq(ck_model_layer(m, 0)->out_shape.dims[1], 12);
    expect_output_shape(m, 2, 2, 6, 0);
    ck_assert_ok(ck_model_predict(m, x, 1, y));
    for (int i = 0; i < 12; i++)
        ck_assert_float_eq(y[i], x[i]);
    ck_assert_uint_eq(ck_model_count_params(m), 0);
    ck_model_free(m);
}
END_TEST

START_TEST(test_shape_layer_errors)
{
    build_fails((int64_t[]){3, 4, 0}, ck_repeat_vector(.n = 2), CK_ERR_SHAPE);
    build_fails((int64_t[]){3, 4, 0}, ck_reshape(5, -1), CK_ERR_SHAPE);
    build_fails((int64_t[]){3, 4, 0}, ck_reshape(3, 5), CK_ERR_SHAPE);
    build_fails((int64_t[]){3, 4, 0}, ck_permute(1, 2, 3), CK_ERR_SHAPE);
    build_fails((int64_t[]){CK_NONE, 4, 0}, ck_reshape(2, 2), CK_ERR_SHAPE);
    ck_assert_ptr_null(ck_permute(1, 1));
    ck_assert_int_eq(ck_error_status(), CK_ERR_ARGUMENT);
    ck_assert_ptr_null(ck_reshape(-1, 2, -1));
    ck_assert_ptr_null(ck_repeat_vector(.n = 0));
    /* An open axis flows into the -1 of a Reshape and into Flatten. */
    ck_model *m = model_of((int64_t[]){CK_NONE, 4, 0}, ck_flatten(), NULL);
    expect_output_shape(m, 1, CK_NONE, 0, 0);
    ck_model_free(m);
}
END_TEST

START_TEST(test_shape_layer_gradients)
{
    check_layer(ck_repeat_vector(.n = 3), 2, 4, 0, true);
    check_layer(ck_flatten(), 2, 3, 4, true);
    check_layer(ck_reshape(4, -1), 2, 3, 4, true);
    check_layer(ck_permute(2, 1), 2, 3, 4, true);
    /* rank 4 needs its own model */
    ck_model *m = model_of((int64_t[]){2, 3, 4, 0}, ck_permute(3, 1, 2), NULL);
    float x[48];
    fill(x, 48);
    ck_tensor tx = {.rank = 4, .dims = {2, 2, 3, 4}, .data = x};
    grad_check(m, &tx, true);
    ck_model_free(m);
}
END_TEST

/* ------------------------------------------------------ noise layers */

/* A training forward of rate 0.5 drops some channels of some samples at
 * every step and keeps (doubles) the others. */
static void assert_drops_whole_channels(ck_model *m, float *x, int B, int T, int C)
{
    ck_tensor tx = tensor3(x, B, T, C);
    ck_assert_ok(ck_model_forward(m, &tx, true));
    const float *yt = m->act_views[0].data;
    int dropped = 0;
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++) {
            bool off = yt[(b * T) * C + c] == 0.0f;
            dropped += off;
            for (int t = 0; t < T; t++) {
                int i = (b * T + t) * C + c;
                ck_assert_float_eq_tol(yt[i], off ? 0.0f : 2.0f * x[i], 1e-5);
            }
        }
    ck_assert_int_gt(dropped, 0);
    ck_assert_int_lt(dropped, B * C);
}

START_TEST(test_spatial_dropout_drops_whole_channels)
{
    enum { B = 4, T = 5, C = 6 };
    float x[B * T * C], y[B * T * C];
    for (int i = 0; i < B * T * C; i++)
        x[i] = 1.0f + (float)i;
    ck_model *m = model_of((int64_t[]){T, C, 0}, ck_spatial_dropout1d(.rate = 0.5), NULL);
    ck_assert_ok(ck_model_predict(m, x, B, y));
    for (int i = 0; i < B * T * C; i++)
        ck_assert_float_eq(y[i], x[i]); /* identity at inference */
    assert_drops_whole_channels(m, x, B, T, C);
    ck_model_free(m);
    check_layer(ck_spatial_dropout1d(.rate = 0.4), 3, 4, 5, true);
    build_fails((int64_t[]){4, 0}, ck_spatial_dropout1d(.rate = 0.1), CK_ERR_SHAPE);
    ck_assert_ptr_null(ck_spatial_dropout1d(.rate = 1.0));
}
END_TEST

/* Keras's noise_shape (None, 1, C): one draw per sample and feature, the
 * same at every step; the config keeps it, the backward uses the mask. */
START_TEST(test_dropout_noise_shape)
{
    enum { B = 4, T = 5, C = 6 };
    float x[B * T * C];
    for (int i = 0; i < B * T * C; i++)
        x[i] = 1.0f + (float)i;
    ck_model *m = model_of(
        (int64_t[]){T, C, 0},
        ck_dropout(.rate = 0.5, .noise_shape = {CK_NONE, 1, CK_NONE}, .noise_rank = 3), NULL);
    assert_drops_whole_channels(m, x, B, T, C);
    char *json = ck_model_to_json(m);
    ck_assert_ptr_nonnull(strstr(json, "\"noise_shape\":[null,1,null]"));
    ck_model *again = NULL;
    ck_assert_ok(ck_model_from_json(json, &again));
    char *json2 = ck_model_to_json(again);
    ck_assert_str_eq(json, json2);
    ck_free(json);
    ck_free(json2);
    ck_model_free(again);
    ck_model_free(m);
    check_layer(ck_dropout(.rate = 0.3, .noise_shape = {CK_NONE, 1, CK_NONE}, .noise_rank = 3), 3,
                4, 5, true);
    build_fails((int64_t[]){4, 0},
                ck_dropout(.rate = 0.1, .noise_shape = {CK_NONE, 2}, .noise_rank = 2),
                CK_ERR_SHAPE);
    build_fails((int64_t[]){4, 5, 0},
                ck_dropout(.rate = 0.1, .noise_shape = {1, 1}, .noise_rank = 2), CK_ERR_SHAPE);
}
END_TEST

START_TEST(test_gaussian_noise_training_only)
{
    enum { N = 4000 };
    static float x[N], y[N];
    for (int i = 0; i < N; i++)
        x[i] = (float)(i % 7);
    ck_model *m = model_of((int64_t[]){N, 0}, ck_gaussian_noise(.stddev = 0.5), NULL);
    ck_assert_ok(ck_model_predict(m, x, 1, y));
    for (int i = 0; i < N; i++)
        ck_assert_float_eq(y[i], x[i]);
    ck_tensor tx = tensor3(x, 1, N, 0);
    ck_assert_ok(ck_model_forward(m, &tx, true));
    double s = 0, s2 = 0;
    for (int i = 0; i < N; i++) {
        double e = m->act_views[0].data[i] - x[i];
        s += e, s2 += e * e;
    }
    ck_assert_double_le(fabs(s / N), 0.03);
    ck_assert_double_le(fabs(sqrt(s2 / N) - 0.5), 0.03);
    ck_model_free(m);
    check_layer(ck_gaussian_noise(.stddev = 0.3), 2, 3, 4, true);
    ck_assert_ptr_null(ck_gaussian_noise(.stddev = -1));
}
END_TEST

/* ---------------------------------------------------- normalization */

START_TEST(test_layer_normalization)
{
    float x[8] = {1, 2, 3, 4, -2, 0, 0, 2}, y[8];
    ck_model *m = model_of((int64_t[]){2, 4, 0}, ck_layer_normalization(), NULL);
    ck_assert_uint_eq(ck_model_count_params(m), 8);
    const char *name;
    ck_tensor v;
    ck_assert_ok(ck_layer_weight(ck_model_layer(m, 0), 0, &name, &v));
    ck_assert_str_eq(name, "gamma");
    ck_assert_float_eq(v.data[0], 1.0f);
    ck_assert_ok(ck_layer_weight(ck_model_layer(m, 0), 1, &name, &v));
    ck_assert_str_eq(name, "beta");
    ck_assert_ok(ck_model_predict(m, x, 1, y));
    /* row 1: mean 2.5, variance 1.25; row 2: mean 0, variance 2 */
    const double a = 1.5 / sqrt(1.251), b = 0.5 / sqrt(1.251), c = 2 / sqrt(2.001);
    const double want[8] = {-a, -b, b, a, -c, 0, 0, c};
    for (int i = 0; i < 8; i++)
        ck_assert_float_eq_tol(y[i], want[i], 1e-6);
    set_weight(m, 0, 0, (float[]){2, 2, 2, 2});
    set_weight(m, 0, 1, (float[]){0.5f, 0, 0, 0});
    ck_assert_ok(ck_model_predict(m, x, 1, y));
    ck_assert_float_eq_tol(y[0], -2 * a + 0.5, 1e-6);
    ck_assert_float_eq_tol(y[3], 2 * a, 1e-6);
    ck_model_free(m);

    m = model_of((int64_t[]){5, 64, 0}, ck_layer_normalization(), NULL);
    ck_assert_uint_eq(ck_model_count_params(m), 128);
    ck_model_free(m);
    m = model_of((int64_t[]){64, 0}, ck_layer_normalization(.no_center = true), NULL);
    ck_assert_uint_eq(ck_model_count_params(m), 64);
    ck_model_free(m);

    check_layer(ck_layer_normalization(), 2, 3, 5, true);
    check_layer(ck_layer_normalization(.no_scale = true, .epsilon = 0.1), 2, 3, 5, true);
    build_fails((int64_t[]){3, 4, 0}, ck_layer_normalization(.axis = 1), CK_ERR_UNSUPPORTED);
}
END_TEST

START_TEST(test_batch_normalization_forward)
{
    /* channel 0 sees {1, 3}, channel 1 sees {0, 4} */
    float x[4] = {1, 0, 3, 4}, y[4];
    ck_model *m = model_of((int64_t[]){2, 0}, ck_batch_normalization(), NULL);
    ck_layer *bn = ck_model_layer(m, 0);
    const char *names[4] = {"gamma", "beta", "moving_mean", "moving_variance"};
    for (int i = 0; i < 4; i++) {
        const char *name;
        ck_tensor v;
        ck_assert_ok(ck_layer_weight(bn, i, &name, &v));
        ck_assert_str_eq(name, names[i]);
        ck_assert_int_eq(bn->weights[i].trainable, i < 2);
    }
    /* inference: moving statistics (initially 0 and 1) */
    ck_assert_ok(ck_model_predict(m, x, 2, y));
    ck_assert_float_eq_tol(y[2], 3 / sqrt(1.001), 1e-6);
    set_weight(m, 0, 0, (float[]){2, 1});
    set_weight(m, 0, 1, (float[]){0.5f, 0});
    set_weight(m, 0, 2, (float[]){1, 0});
    set_weight(m, 0, 3, (float[]){4, 1});
    ck_assert_ok(ck_model_predict(m, x, 2, y));
    ck_assert_float_eq_tol(y[2], (3 - 1) / sqrt(4.001) * 2 + 0.5, 1e-6);
    ck_assert_float_eq_tol(y[3], 4 / sqrt(1.001), 1e-6);
    /* training: batch statistics, and the moving ones move by 1 - 0.99 */
    ck_tensor tx = tensor3(x, 2, 2, 0);
    ck_assert_ok(ck_model_forward(m, &tx, true));
    const float *yt = m->act_views[0].data;
    ck_assert_float_eq_tol(yt[0], -1 / sqrt(1.001) * 2 + 0.5, 1e-6);
    ck_assert_float_eq_tol(yt[3], 2 / sqrt(4.001), 1e-6);
    ck_assert_float_eq_tol(bn->weights[2].data[0], 0.99 * 1 + 0.01 * 2, 1e-6);
    ck_assert_float_eq_tol(bn->weights[2].data[1], 0.99 * 0 + 0.01 * 2, 1e-6);
    ck_assert_float_eq_tol(bn->weights[3].data[0], 0.99 * 4 + 0.01 * 1, 1e-6);
    ck_assert_float_eq_tol(bn->weights[3].data[1], 0.99 * 1 + 0.01 * 4, 1e-6);
    ck_model_free(m);

    m = model_of((int64_t[]){2, 0}, ck_batch_normalization(.momentum = 0.5, .no_scale = true),
                 NULL);
    ck_assert_ok(ck_model_forward(m, &tx, true));
    ck_assert_float_eq_tol(m->layers[0]->weights[1].data[0], 0.5 * 0 + 0.5 * 2, 1e-6);
    ck_model_free(m);
}
END_TEST

START_TEST(test_batch_normalization_params_and_summary)
{
    ck_model *m = model_of((int64_t[]){5, 64, 0}, ck_batch_normalization(), NULL);
    ck_assert_uint_eq(ck_model_count_params(m), 256);
    ck_assert_uint_eq(ck_model_count_trainable_params(m), 128);
    ck_assert_uint_eq(ck_model_count_non_trainable_params(m), 128);
    /* trainable weights first in the model's array */
    ck_assert_ptr_eq(m->layers[0]->weights[0].data, m->params);
    ck_assert_ptr_eq(m->layers[0]->weights[2].data, m->params + 128);
    char *text = ck_test_summary(m, CK_SUMMARY_KERAS2_7);
    ck_assert_msg(strstr(text, "\n batch_normalization (BatchN  (None, 5, 64)            256 "),
                  "%s", text);
    ck_assert_msg(strstr(text, "Total params: 256\n"), "%s", text);
    ck_assert_msg(strstr(text, "Trainable params: 128\n"), "%s", text);
    ck_assert_msg(strstr(text, "Non-trainable params: 128\n"), "%s", text);
    free(text);
    ck_model_free(m);
}
END_TEST

/* A tf.keras model: (None, 4) -> BatchNormalization with `extra` options. */
static ck_model *bn_model(const char *extra)
{
    char json[1024];
    snprintf(json, sizeof json,
             "{\"class_name\": \"Sequential\", \"config\": {\"name\": \"s\", \"layers\": ["
             "{\"class_name\": \"InputLayer\", \"config\": {\"batch_input_shape\": [null, 4], "
             "\"name\": \"in\"}}, {\"class_name\": \"BatchNormalization\", \"config\": "
             "{\"name\": \"bn\"%s}}]}}",
             extra);
    ck_model *m = NULL;
    ck_assert_msg(ck_model_from_json(json, &m) == CK_OK, "%s", ck_last_error());
    ck_assert_ok(ck_model_build(m));
    return m;
}

/* Sets weight k of the BN layer to v, v+1, ... */
static void fill_weight(ck_model *m, int k, float v)
{
    const char *name;
    ck_tensor t;
    ck_assert_ok(ck_layer_weight(ck_model_layer(m, 0), k, &name, &t));
    for (size_t i = 0; i < ck_tensor_size(&t); i++)
        t.data[i] = v + (float)i;
}

/* renorm and virtual_batch_size change training only (tf.keras predicts
 * with the moving statistics): the layer keeps Keras's extra variables and
 * shapes, predicts as a plain one, writes them back and refuses fit. */
START_TEST(test_batch_normalization_training_only_options)
{
    static const char *options[] = {
        ", \"renorm\": true, \"renorm_clipping\": {\"rmax\": 3.0}, \"renorm_momentum\": 0.9",
        /* tf.keras saves the axis shifted past the ghost-batch axis. */
        ", \"virtual_batch_size\": 2, \"axis\": [2]"};
    ck_model *plain = bn_model("");
    for (int k = 0; k < 4; k++)
        fill_weight(plain, k, 0.5f + (float)k);
    const float x[8] = {1, -2, 3, 0.5f, -1, 4, 2, 7};
    float want[8], y[8];
    ck_assert_ok(ck_model_predict(plain, x, 2, want));
    for (int o = 0; o < 2; o++) {
        ck_model *m = bn_model(options[o]);
        ck_layer *bn = ck_model_layer(m, 0);
        ck_assert_int_eq(ck_layer_weight_count(bn), o == 0 ? 7 : 4);
        const char *name;
        ck_tensor t;
        ck_assert_ok(ck_layer_weight(bn, o == 0 ? 6 : 3, &name, &t));
        ck_assert_str_eq(name, o == 0 ? "renorm_stddev" : "moving_variance");
        ck_assert_int_eq(t.rank, o == 0 ? 1 : 3);
        ck_assert_int_eq(t.dims[t.rank - 1], 4);
        ck_assert_uint_eq(ck_model_count_non_trainable_params(m), o == 0 ? 20 : 8);
        for (int k = 0; k < 4; k++)
            fill_weight(m, k, 0.5f + (float)k);
        ck_assert_ok(ck_model_predict(m, x, 2, y));
        for (int i = 0; i < 8; i++)
            ck_assert_float_eq(y[i], want[i]);
        char *json = config_round_trip(bn);
        ck_assert_msg(strstr(json, o == 0 ? "\"renorm\":true,\"renorm_clipping\":{\"rmax\":3},"
                                            "\"renorm_momentum\":0.9"
                                          : "\"virtual_batch_size\":2"),
                      "%s", json);
        ck_assert_msg(o == 0 || strstr(json, "\"axis\":[1]"), "%s", json);
        free(json);
        /* Saved and loaded again: the same variables, shapes and outputs. */
        ck_test_make_dir("ck_bn_options");
        ck_assert_ok(ck_model_save(m, ck_test_path("bn.h5")));
        ck_model *back = NULL;
        ck_assert_ok(ck_model_load(ck_test_path("bn.h5"), &back));
        ck_assert_int_eq(ck_layer_weight_count(ck_model_layer(back, 0)), o == 0 ? 7 : 4);
        ck_assert_ok(ck_layer_weight(ck_model_layer(back, 0), 0, &name, &t));
        ck_assert_int_eq(t.rank, o == 0 ? 1 : 3);
        ck_assert_ok(ck_model_predict(back, x, 2, y));
        ck_assert_mem_eq(y, want, sizeof y);
        ck_model_free(back);
        ck_test_remove_dir();
        ck_assert_ok(ck_model_compile(m, .optimizer = ck_sgd(), .loss = "mse"));
        ck_tensor tx = {.rank = 2, .dims = {2, 4}, .data = (float *)x};
        ck_assert_fails(ck_model_fit(m, &tx, &tx, NULL, .epochs = 1, .verbose = 0),
                        CK_ERR_UNSUPPORTED);
        ck_assert_ptr_nonnull(strstr(ck_last_error(), "training with"));
        ck_assert_ok(ck_layer_set_trainable(bn, false));
        ck_assert_ok(ck_model_compile(m, .optimizer = ck_sgd(), .loss = "mse"));
        ck_assert_ok(ck_model_fit(m, &tx, &tx, NULL, .epochs = 1, .verbose = 0));
        ck_model_free(m);
    }
    ck_model_free(plain);
}
END_TEST

/* Input(dtype) -> Activation("linear"): the values Keras feeds on. */
static void assert_input_cast(const char *dtype, const float *x, const float *want, int n)
{
    ck_model *m = ck_sequential();
    ck_assert_ok(ck_model_add(m, ck_input_new(&(ck_input_options){.shape = {n}, .dtype = dtype})));
    ck_assert_ok(ck_model_add(m, ck_activation("linear")));
    float y[16];
    ck_assert_ok(ck_model_predict(m, x, 1, y));
    for (int i = 0; i < n; i++)
        ck_assert_msg(y[i] == want[i] || (isinf(y[i]) && isinf(want[i])),
                      "%s: %.9g gives %.9g, Keras %.9g", dtype, x[i], y[i], want[i]);
    /* The dtype survives the config, and so does the cast. */
    char *json = ck_model_to_json(m);
    char needle[64];
    snprintf(needle, sizeof needle, "\"dtype\":\"%s\"", dtype);
    ck_assert_msg(strstr(json, needle), "%s", json);
    ck_model *back = NULL;
    ck_assert_ok(ck_model_from_json(json, &back));
    float z[16];
    ck_assert_ok(ck_model_predict(back, x, 1, z));
    ck_assert_mem_eq(z, y, sizeof(float) * (size_t)n);
    ck_model_free(back);
    ck_free(json);
    ck_model_free(m);
}

/* Keras casts what is fed to the InputLayer's dtype (numpy's astype gives
 * the expected values). */
START_TEST(test_input_dtype_casts)
{
    const float half_x[] = {0.1f,  1000.3f, 3.14159f, 65519.0f, 65520.0f,
                            -2.7f, 1e-8f,   6e-8f,    3e-8f},
                half[] = {0.099975586f, 1000.5f, 3.140625f,      65504.0f,      INFINITY,
                          -2.6992188f,  0.0f,    5.9604645e-08f, 5.9604645e-08f};
    assert_input_cast("float16", half_x, half, 9);
    const float bf_x[] = {0.1f, 1000.3f, 3.14159f}, bf[] = {0.10009765625f, 1000.0f, 3.140625f};
    assert_input_cast("bfloat16", bf_x, bf, 3);
    const float i8_x[] = {3.9f, -3.9f, 130.0f, -129.5f, 255.7f}, i8[] = {3, -3, -126, 127, -1};
    assert_input_cast("int8", i8_x, i8, 5);
    const float u8_x[] = {-1.5f, 256.2f, 7.9f}, u8[] = {255, 0, 7};
    assert_input_cast("uint8", u8_x, u8, 3);
    const float b_x[] = {0.0f, -0.0f, 2.5f, -1.0f}, b[] = {0, 0, 1, 1};
    assert_input_cast("bool", b_x, b, 4);
    const float f_x[] = {0.1f, 1e-30f}, i32_x[] = {-2.7f, 1e9f}, i32[] = {-2, 1e9f};
    assert_input_cast("float64", f_x, f_x, 2);
    assert_input_cast("int32", i32_x, i32, 2);
    ck_assert_ptr_null(ck_input_new(&(ck_input_options){.shape = {2}, .dtype = "complex64"}));
    ck_assert_int_eq(ck_error_status(), CK_ERR_UNSUPPORTED);
}
END_TEST

START_TEST(test_batch_normalization_gradients)
{
    /* training mode: the batch statistics depend on every input */
    check_layer(ck_batch_normalization(), 4, 3, 5, true);
    check_layer(ck_batch_normalization(.no_center = true), 6, 4, 0, true);
    /* inference mode: moving statistics are constants (kept positive) */
    ck_model *m = model_of((int64_t[]){3, 5, 0}, ck_batch_normalization(), NULL);
    fill(m->params, m->n_params);
    for (size_t i = m->n_params - 5; i < m->n_params; i++)
        m->params[i] = 1.0f + 0.5f * m->params[i];
    float x[30];
    fill(x, 30);
    ck_tensor tx = tensor3(x, 2, 3, 5);
    grad_check(m, &tx, false);
    ck_model_free(m);
    build_fails((int64_t[]){3, 5, 0}, ck_batch_normalization(.axis = 1), CK_ERR_UNSUPPORTED);
}
END_TEST

/* ---------------------------------------------------------- Conv1D */

/* Direct Keras Conv1D: out length and left padding from the Keras / TF
 * formulas, written independently of the library. */
static void naive_conv1d(const float *x, int B, int T, int C, const float *w, const float *bias,
                         int K, int F, int s, int d, const char *padding, float *y, int *t_out)
{
    int span = d * (K - 1) + 1, pad = 0, n;
    if (strcmp(padding, "valid") == 0) {
        n = (T - span) / s + 1;
    } else {
        n = (T + s - 1) / s;
        int total = (n - 1) * s + span - T;
        pad = strcmp(padding, "causal") == 0 ? span - 1 : (total > 0 ? total / 2 : 0);
    }
    *t_out = n;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < n; t++)
            for (int f = 0; f < F; f++) {
                double acc = bias ? bias[f] : 0;
                for (int k = 0; k < K; k++) {
                    int src = t * s - pad + k * d;
                    for (int c = 0; src >= 0 && src < T && c < C; c++)
                        acc += (double)x[(b * T + src) * C + c] * w[(k * C + c) * F + f];
                }
                y[(b * n + t) * F + f] = (float)acc;
            }
}

START_TEST(test_conv1d_hand_cases)
{
    float x[5] = {1, 2, 3, 4, 5}, y[5];
    struct {
        ck_conv1d_options o;
        int n;
        float want[5];
    } cases[] = {
        {{.filters = 1, .kernel_size = 2}, 4, {5.5f, 8.5f, 11.5f, 14.5f}},
        {{.filters = 1, .kernel_size = 2, .padding = "causal"},
         5,
         {2.5f, 5.5f, 8.5f, 11.5f, 14.5f}},
        {{.filters = 1, .kernel_size = 2, .padding = "same"}, 5, {5.5f, 8.5f, 11.5f, 14.5f, 5.5f}},
        {{.filters = 1, .kernel_size = 2, .strides = 2}, 2, {5.5f, 11.5f}},
        {{.filters = 1, .kernel_size = 2, .dilation_rate = 2}, 3, {7.5f, 10.5f, 13.5f}},
        {{.filters = 1, .kernel_size = 2, .activation = "relu", .padding = "causal"},
         5,
         {2.5f, 5.5f, 8.5f, 11.5f, 14.5f}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_model *m = model_of((int64_t[]){5, 1, 0}, ck_conv1d_new(&cases[i].o), NULL);
        expect_output_shape(m, 2, cases[i].n, 1, 0);
        set_weight(m, 0, 0, (float[]){1, 2});
        set_weight(m, 0, 1, (float[]){0.5f});
        ck_assert_ok(ck_model_predict(m, x, 1, y));
        for (int t = 0; t < cases[i].n; t++)
            ck_assert_float_eq_tol(y[t], cases[i].want[t], 1e-6);
        ck_model_free(m);
    }
}
END_TEST

START_TEST(test_conv1d_against_naive)
{
    enum { B = 2, T = 9, C = 3, F = 4 };
    const char *pads[] = {"valid", "same", "causal"};
    int ks[] = {1, 2, 3, 4}, strides[] = {1, 2, 3};
    float x[B * T * C], y[B * T * F], want[B * T * F];
    fill(x, B * T * C);
    for (int p = 0; p < 3; p++)
        for (int k = 0; k < 4; k++)
            for (int s = 0; s < 3; s++)
                for (int d = 1; d <= (strides[s] == 1 ? 2 : 1); d++) {
                    ck_model *m = model_of((int64_t[]){T, C, 0},
                                           ck_conv1d(F, ks[k], .strides = strides[s],
                                                     .dilation_rate = d, .padding = pads[p]),
                                           NULL);
                    fill(m->params, m->n_params);
                    int n;
                    naive_conv1d(x, B, T, C, m->layers[0]->weights[0].data,
                                 m->layers[0]->weights[1].data, ks[k], F, strides[s], d, pads[p],
                                 want, &n);
                    expect_output_shape(m, 2, n, F, 0);
                    ck_assert_ok(ck_model_predict(m, x, B, y));
                    for (int i = 0; i < B * n * F; i++)
                        ck_assert_float_eq_tol(y[i], want[i], 1e-5);
                    ck_model_free(m);
                }
}
END_TEST

START_TEST(test_conv1d_params_config_errors)
{
    ck_model *m = model_of((int64_t[]){5, 126, 0}, ck_conv1d(.filters = 32, .kernel_size = 3),
                           NULL);
    ck_assert_uint_eq(ck_model_count_params(m), 12128);
    expect_output_shape(m, 2, 3, 32, 0);
    const char *name;
    ck_tensor v;
    ck_assert_ok(ck_layer_weight(ck_model_layer(m, 0), 0, &name, &v));
    ck_assert_str_eq(name, "kernel");
    ck_assert_int_eq(v.rank, 3);
    ck_assert_int_eq(v.dims[0], 3);
    ck_assert_int_eq(v.dims[1], 126);
    ck_assert_int_eq(v.dims[2], 32);
    ck_model_free(m);
    m = model_of((int64_t[]){7, 3, 0},
                 ck_conv1d(2, 3, .no_bias = true, .strides = 2, .padding = "same"), NULL);
    ck_assert_uint_eq(ck_model_count_params(m), 18);
    expect_output_shape(m, 2, 4, 2, 0);
    ck_model_free(m);

    ck_layer *l = ck_conv1d(8, 3, .padding = "causal", .dilation_rate = 2, .activation = "relu",
                            .name = "c");
    char *json = config_round_trip(l);
    ck_assert_msg(strstr(json, "\"kernel_size\":[3]") && strstr(json, "\"padding\":\"causal\"") &&
                      strstr(json, "\"dilation_rate\":[2]") && strstr(json, "\"strides\":[1]") &&
                      strstr(json, "\"activation\":\"relu\"") && strstr(json, "\"filters\":8"),
                  "%s", json);
    free(json);
    ck_layer_free(l);
    l = layer_from_json("Conv1D", "{\"filters\":4,\"kernel_size\":5,\"strides\":1}");
    ck_assert_ptr_nonnull(l);
    ck_layer_free(l);
    ck_assert_ptr_null(
        layer_from_json("Conv1D", "{\"filters\":4,\"kernel_size\":[3],\"groups\":2}"));
    ck_assert_int_eq(ck_error_status(), CK_ERR_UNSUPPORTED);
    ck_assert_ptr_null(layer_from_json("Conv1D", "{\"filters\":4,\"kernel_size\":[3],"
                                                 "\"data_format\":\"channels_first\"}"));
    ck_assert_int_eq(ck_error_status(), CK_ERR_UNSUPPORTED);
    ck_assert_ptr_null(layer_from_json("Conv1D",
                                       "{\"filters\":4,\"kernel_size\":[3],"
                                       "\"kernel_regularizer\":{\"class_name\":\"L2\"}}"));
    ck_assert_int_eq(ck_error_status(), CK_ERR_UNSUPPORTED);
    ck_assert_ptr_null(
        layer_from_json("Conv1D", "{\"filters\":4,\"kernel_size\":[3],\"strides\":[0]}"));

    ck_assert_ptr_null(ck_conv1d(4, 3, .strides = 2, .dilation_rate = 2));
    ck_assert_int_eq(ck_error_status(), CK_ERR_ARGUMENT);
    ck_assert_ptr_null(ck_conv1d(4, 3, .padding = "full"));
    build_fails((int64_t[]){5, 0}, ck_conv1d(.filters = 4, .kernel_size = 3), CK_ERR_SHAPE);
    build_fails((int64_t[]){2, 3, 0}, ck_conv1d(.filters = 4, .kernel_size = 3), CK_ERR_SHAPE);
}
END_TEST

START_TEST(test_conv1d_gradients)
{
    check_layer(ck_conv1d(.filters = 3, .kernel_size = 3), 2, 7, 2, true);
    check_layer(ck_conv1d(3, 4, .padding = "same", .strides = 2, .activation = "tanh"), 2, 7, 2,
                true);
    check_layer(ck_conv1d(2, 2, .padding = "causal", .dilation_rate = 2, .no_bias = true), 2, 6, 3,
                true);
    check_layer(ck_conv1d(2, 3, .padding = "same", .activation = "sigmoid"), 1, 5, 2, true);
}
END_TEST

/* --------------------------------------------------------- pooling */

START_TEST(test_pooling_forward)
{
    float x[5] = {1, 3, 2, 5, 4}, y[5];
    struct {
        ck_layer *l;
        int n;
        float want[3];
    } cases[] = {
        {ck_max_pooling1d(), 2, {3, 5}},
        {ck_max_pooling1d(.padding = "same"), 3, {3, 5, 4}},
        {ck_max_pooling1d(.pool_size = 3, .strides = 1), 3, {3, 5, 5}},
        {ck_average_pooling1d(), 2, {2, 3.5f}},
        {ck_average_pooling1d(.padding = "same"), 3, {2, 3.5f, 4}},
        {ck_average_pooling1d(3, 2, .padding = "same"), 3, {2, 10.0f / 3, 4.5f}},
        {ck_global_max_pooling1d(.keepdims = true), 1, {5}},
        {ck_global_average_pooling1d(.keepdims = true), 1, {3}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_model *m = model_of((int64_t[]){5, 1, 0}, cases[i].l, NULL);
        expect_output_shape(m, 2, cases[i].n, 1, 0);
        ck_assert_ok(ck_model_predict(m, x, 1, y));
        for (int t = 0; t < cases[i].n; t++)
            ck_assert_float_eq_tol(y[t], cases[i].want[t], 1e-6);
        ck_model_free(m);
    }
    /* global pooling over steps, per channel */
    float x2[6] = {1, -1, 2, -5, 6, 0}, y2[2];
    ck_model *m = model_of((int64_t[]){3, 2, 0}, ck_global_average_pooling1d(), NULL);
    expect_output_shape(m, 1, 2, 0, 0);
    ck_assert_ok(ck_model_predict(m, x2, 1, y2));
    ck_assert_float_eq_tol(y2[0], 3.0f, 1e-6);
    ck_assert_float_eq_tol(y2[1], -2.0f, 1e-6);
    ck_model_free(m);
    m = model_of((int64_t[]){3, 2, 0}, ck_global_max_pooling1d(), NULL);
    ck_assert_ok(ck_model_predict(m, x2, 1, y2));
    ck_assert_float_eq(y2[0], 6.0f);
    ck_assert_float_eq(y2[1], 0.0f);
    ck_model_free(m);
    m = model_of((int64_t[]){CK_NONE, 4, 0}, ck_max_pooling1d(), ck_global_max_pooling1d(), NULL);
    expect_output_shape(m, 1, 4, 0, 0);
    ck_assert_int_eq(m->layers[0]->out_shape.dims[1], CK_NONE);
    ck_model_free(m);
    build_fails((int64_t[]){3, 2, 0}, ck_max_pooling1d(.pool_size = 4), CK_ERR_SHAPE);
    build_fails((int64_t[]){6, 0}, ck_global_average_pooling1d(), CK_ERR_SHAPE);
    ck_assert_ptr_null(ck_max_pooling1d(.padding = "causal"));
}
END_TEST

/* Inputs spread 0.05 apart, so no finite-difference step changes a max. */
static void check_pool(ck_layer *l)
{
    enum { B = 2, T = 7, C = 3 };
    ck_model *m = model_of((int64_t[]){T, C, 0}, l, NULL);
    float x[B * T * C];
    for (int i = 0; i < B * T * C; i++)
        x[i] = (float)((i * 17) % (B * T * C)) * 0.05f;
    ck_tensor tx = tensor3(x, B, T, C);
    grad_check(m, &tx, true);
    ck_model_free(m);
}

START_TEST(test_pooling_gradients)
{
    check_pool(ck_max_pooling1d());
    check_pool(ck_max_pooling1d(3, 2, .padding = "same"));
    check_pool(ck_average_pooling1d(.pool_size = 2, .strides = 1));
    check_pool(ck_average_pooling1d(3, 2, .padding = "same"));
    check_pool(ck_global_max_pooling1d());
    check_pool(ck_global_average_pooling1d(.keepdims = true));
}
END_TEST

/* -------------------------------------------------- TimeDistributed */

START_TEST(test_time_distributed_dense)
{
    enum { B = 2, T = 3, F = 4, U = 5 };
    ck_model *m = model_of((int64_t[]){T, F, 0},
                           ck_time_distributed(.layer = ck_dense(.units = U, .activation = "tanh")),
                           NULL);
    ck_layer *td = ck_model_layer(m, 0);
    ck_assert_str_eq(td->name, "time_distributed");
    ck_assert_uint_eq(ck_model_count_params(m), F * U + U);
    expect_output_shape(m, 2, T, U, 0);
    ck_assert_str_eq(td->weights[0].name, "kernel");
    ck_assert_str_eq(td->weights[0].k2_scope, "");
    ck_assert_str_eq(td->weights[0].k3_scope, "layer");
    ck_assert_str_eq(td->weights[1].name, "bias");
    /* same numbers as the plain Dense on 3-D input */
    ck_model *ref = model_of((int64_t[]){T, F, 0}, ck_dense(.units = U, .activation = "tanh"),
                             NULL);
    fill(m->params, m->n_params);
    memcpy(ref->params, m->params, m->n_params * sizeof(float));
    float x[B * T * F], y[B * T * U], y_ref[B * T * U];
    fill(x, B * T * F);
    ck_assert_ok(ck_model_predict(m, x, B, y));
    ck_assert_ok(ck_model_predict(ref, x, B, y_ref));
    for (int i = 0; i < B * T * U; i++)
        ck_assert_float_eq_tol(y[i], y_ref[i], 1e-6);
    ck_model_free(ref);
    ck_model_free(m);

    m = model_of((int64_t[]){5, 16, 0}, ck_time_distributed(.layer = ck_dense(.units = 8)), NULL);
    ck_assert_uint_eq(ck_model_count_params(m), 136);
    ck_model_free(m);

    check_layer(ck_time_distributed(.layer = ck_dense(.units = 3, .activation = "sigmoid")), 2, 3,
                4, true);
    /* any layer: Conv1D on every step of (batch, steps, length, channels) */
    m = model_of((int64_t[]){3, 6, 2, 0},
                 ck_time_distributed(.layer = ck_conv1d(.filters = 2, .kernel_size = 3)), NULL);
    int r;
    int64_t d[CK_MAX_RANK];
    ck_assert_ok(ck_model_output_shape(m, &r, d));
    ck_assert_int_eq(r, 3);
    ck_assert_int_eq(d[0], 3);
    ck_assert_int_eq(d[1], 4);
    ck_assert_int_eq(d[2], 2);
    fill(m->params, m->n_params);
    float x4[72];
    fill(x4, 72);
    ck_tensor tx = {.rank = 4, .dims = {2, 3, 6, 2}, .data = x4};
    grad_check(m, &tx, true);
    ck_model_free(m);

    build_fails((int64_t[]){4, 0}, ck_time_distributed(.layer = ck_dense(.units = 2)),
                CK_ERR_SHAPE);
    ck_assert_ptr_null(ck_time_distributed(.layer = ck_dense(.units = 0)));
    ck_assert_int_eq(ck_error_status(), CK_ERR_ARGUMENT);
}
END_TEST

START_TEST(test_time_distributed_config)
{
    ck_layer *l = ck_time_distributed(.layer = ck_dense(.units = 4, .activation = "relu",
                                                        .name = "inner"),
                                      .name = "td");
    char *json = config_round_trip(l);
    ck_assert_msg(strstr(json,
                         "\"layer\":{\"class_name\":\"Dense\",\"config\":{\"name\":\"inner\""),
                  "%s", json);
    free(json);
    ck_layer_free(l);
    /* Keras 3 serialises the wrapped layer with module and registered_name */
    l = layer_from_json("TimeDistributed",
                        "{\"name\":\"time_distributed\",\"trainable\":true,\"dtype\":\"float32\","
                        "\"layer\":{\"module\":\"keras.layers\",\"class_name\":\"Dense\","
                        "\"config\":{\"name\":\"dense\",\"units\":3,\"activation\":\"linear\"},"
                        "\"registered_name\":null}}");
    ck_assert_ptr_nonnull(l);
    ck_model *m = model_of((int64_t[]){2, 5, 0}, l, NULL);
    ck_assert_uint_eq(ck_model_count_params(m), 18);
    ck_model_free(m);
    ck_assert_ptr_null(layer_from_json("TimeDistributed", "{\"layer\":{\"class_name\":\"Nope\","
                                                          "\"config\":{}}}"));
    ck_assert_int_eq(ck_error_status(), CK_ERR_UNSUPPORTED);
    ck_assert_ptr_null(layer_from_json("TimeDistributed", "{\"layer\":3}"));
}
END_TEST

/* -------------------------------------------------- config round trips */

START_TEST(test_config_round_trips)
{
    struct {
        ck_layer *l;
        const char *expect;
    } cases[] = {
        {ck_repeat_vector(.n = 3), "\"n\":3"},
        {ck_flatten(), "\"data_format\":\"channels_last\""},
        {ck_reshape(2, -1), "\"target_shape\":[2,-1]"},
        {ck_permute(2, 1), "\"dims\":[2,1]"},
        {ck_spatial_dropout1d(.rate = 0.25), "\"rate\":0.25"},
        {ck_gaussian_noise(.stddev = 0.125), "\"stddev\":0.125"},
        {ck_layer_normalization(.no_center = true), "\"center\":false,\"scale\":true"},
        {ck_batch_normalization(.momentum = 0.9, .epsilon = 0.01), "\"momentum\":0.9"},
        {ck_max_pooling1d(3, .padding = "same"),
         "\"pool_size\":[3],\"strides\":[3],\"padding\":\"same\""},
        {ck_average_pooling1d(.pool_size = 2, .strides = 1), "\"pool_size\":[2],\"strides\":[1]"},
        {ck_global_average_pooling1d(.keepdims = true), "\"keepdims\":true"},
        {ck_global_max_pooling1d(), "\"keepdims\":false"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *json = config_round_trip(cases[i].l);
        ck_assert_msg(strstr(json, cases[i].expect), "%s lacks %s", json, cases[i].expect);
        free(json);
        ck_layer_free(cases[i].l);
    }
    /* tf.keras writes the normalized axis as a list after building */
    ck_model *m = model_of((int64_t[]){3, 4, 0}, ck_batch_normalization(), NULL);
    char *json = config_round_trip(m->layers[0]);
    ck_assert_msg(strstr(json, "\"axis\":[2]") && strstr(json, "\"epsilon\":0.001") &&
                      strstr(json, "\"momentum\":0.99") &&
                      strstr(json, "\"moving_variance_initializer\":{\"config\":{},"
                                   "\"class_name\":\"Ones\"}"),
                  "%s", json);
    free(json);
    ck_model_free(m);
    ck_layer *l = layer_from_json("LayerNormalization", "{\"axis\":[-1],\"epsilon\":0.00001}");
    ck_assert_ptr_nonnull(l);
    ck_layer_free(l);
    const char *unsupported[][2] = {
        {"LayerNormalization", "{\"rms_scaling\":true}"},
        {"LayerNormalization", "{\"axis\":[1,2]}"},
        {"MaxPooling1D", "{\"data_format\":\"channels_first\"}"},
        {"SpatialDropout1D", "{\"rate\":0.1,\"noise_shape\":[1,1,4]}"},
    };
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++) {
        ck_assert_ptr_null(layer_from_json(unsupported[i][0], unsupported[i][1]));
        ck_assert_msg(ck_error_status() == CK_ERR_UNSUPPORTED, "%s %s: %s", unsupported[i][0],
                      unsupported[i][1], ck_last_error());
    }
    ck_assert_ptr_null(layer_from_json("Reshape", "{\"target_shape\":[2.5,2]}"));
    ck_assert_int_eq(ck_error_status(), CK_ERR_FORMAT);
    ck_assert_ptr_null(layer_from_json("Reshape", "{\"target_shape\":[]}"));
    ck_assert_ptr_null(layer_from_json("Permute", "{\"dims\":[1,3]}"));
    ck_assert_int_eq(ck_error_status(), CK_ERR_ARGUMENT);
    l = layer_from_json("Permute", "{\"dims\":[3,1,2]}");
    ck_assert_ptr_nonnull(l);
    ck_layer_free(l);
    l = layer_from_json("BatchNormalization",
                        "{\"axis\":-1,\"fused\":true,\"synchronized\":false}");
    ck_assert_ptr_nonnull(l);
    ck_layer_free(l);
    /* synchronized changes only training over replicas (test_distributed):
     * it loads and is written back. */
    l = layer_from_json("BatchNormalization", "{\"synchronized\":true}");
    ck_assert_ptr_nonnull(l);
    cJSON *sync_cfg = cJSON_CreateObject();
    ck_assert_ok(l->ops->get_config(l, sync_cfg));
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(sync_cfg, "synchronized")));
    cJSON_Delete(sync_cfg);
    ck_layer_free(l);
    /* A config's 0 is a value, not "the default" as in the C options. */
    const char *zeros[][2] = {{"BatchNormalization", "{\"momentum\":0.0,\"epsilon\":0.0}"},
                              {"LayerNormalization", "{\"epsilon\":0.0}"}};
    for (int i = 0; i < 2; i++) {
        l = layer_from_json(zeros[i][0], zeros[i][1]);
        ck_assert_ptr_nonnull(l);
        cJSON *cfg = cJSON_CreateObject();
        ck_assert_ok(l->ops->get_config(l, cfg));
        ck_assert_double_eq(cJSON_GetObjectItem(cfg, "epsilon")->valuedouble, 0.0);
        if (i == 0)
            ck_assert_double_eq(cJSON_GetObjectItem(cfg, "momentum")->valuedouble, 0.0);
        cJSON_Delete(cfg);
        ck_layer_free(l);
    }
}
END_TEST

/* Every allocation of construction, build, a training forward and a
 * backward may fail: the error is CK_ERR_MEMORY and nothing leaks (ASan). */
static int misc_layers(ck_layer **out, int cap)
{
    ck_layer *layers[] = {
        ck_time_distributed(.layer = ck_dense(.units = 4, .activation = "tanh")),
        ck_gaussian_noise(.stddev = 0.1),
        ck_spatial_dropout1d(.rate = 0.2),
        ck_layer_normalization(),
        ck_conv1d(4, 2, .padding = "same", .activation = "relu"),
        ck_batch_normalization(),
        ck_permute(2, 1),
        ck_permute(2, 1),
        ck_max_pooling1d(),
        ck_average_pooling1d(.pool_size = 1),
        ck_flatten(),
        ck_reshape(3, 4),
        ck_global_average_pooling1d(),
        ck_repeat_vector(.n = 2),
        ck_global_max_pooling1d(),
    };
    int n = (int)(sizeof layers / sizeof layers[0]);
    ck_assert_int_le(n, cap);
    memcpy(out, layers, sizeof layers);
    return n;
}

START_TEST(test_allocation_failures)
{
    enum { B = 2, T = 6, C = 3 };
    float x[B * T * C], dy[B * 4];
    fill(x, B * T * C);
    fill(dy, B * 4);
    ck_tensor tx = tensor3(x, B, T, C), tdy = tensor3(dy, B, 4, 0);
    ck_test_survives_alloc_failures(misc_layers, &tx, &tdy, 400);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("misc_layers");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_repeat_flatten_reshape_permute_forward);
    tcase_add_test(tc, test_shape_layer_errors);
    tcase_add_test(tc, test_shape_layer_gradients);
    tcase_add_test(tc, test_spatial_dropout_drops_whole_channels);
    tcase_add_test(tc, test_dropout_noise_shape);
    tcase_add_test(tc, test_gaussian_noise_training_only);
    tcase_add_test(tc, test_layer_normalization);
    tcase_add_test(tc, test_batch_normalization_forward);
    tcase_add_test(tc, test_batch_normalization_params_and_summary);
    tcase_add_test(tc, test_batch_normalization_gradients);
    tcase_add_test(tc, test_input_dtype_casts);
    tcase_add_test(tc, test_options_that_change_nothing);
    tcase_add_test(tc, test_batch_normalization_training_only_options);
    tcase_add_test(tc, test_conv1d_hand_cases);
    tcase_add_test(tc, test_conv1d_against_naive);
    tcase_add_test(tc, test_conv1d_params_config_errors);
    tcase_add_test(tc, test_conv1d_gradients);
    tcase_add_test(tc, test_pooling_forward);
    tcase_add_test(tc, test_pooling_gradients);
    tcase_add_test(tc, test_time_distributed_dense);
    tcase_add_test(tc, test_time_distributed_config);
    tcase_add_test(tc, test_config_round_trips);
    tcase_add_test(tc, test_activation_layer_objects);
    tcase_add_test(tc, test_allocation_failures);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ck_test_run(suite());
}
