/* The advanced activation layers (ReLU, LeakyReLU, ThresholdedReLU, ELU,
 * PReLU): values at their kinks against Keras's backend relu written out
 * step by step, the config keys each Keras generation writes and reads,
 * PReLU's weight (shape, parameter count, file names, training), masks,
 * and saving in every format under both semantics. */
#include "ck_test.h"

#include "ck_internal.h"
#include "ck_layers.h"

#include <math.h>
#include <string.h>

/* keras.backend.relu (tf.keras 2, Keras 2.2.4) and keras.activations.relu
 * (Keras 3), in their order: the negative part first, then x kept above
 * the threshold (relu without one), clipped to [0, max_value], minus
 * alpha times the negative part. max_value < 0 is None. */
static double keras_relu(double x, double alpha, double max_value, double threshold)
{
    double negative_part = 0;
    if (alpha != 0) {
        if (max_value < 0 && threshold == 0)
            return x > 0 ? x : alpha * x; /* tf.nn.leaky_relu */
        negative_part = fmax(-x + threshold, 0);
    }
    double y = threshold != 0 ? (x > threshold ? x : 0) : fmax(x, 0);
    if (max_value >= 0)
        y = fmin(fmax(y, 0), max_value);
    return y - alpha * negative_part;
}

static const float edges[] = {-3, -1, -0.5f, -1e-3f, 0, 1e-3f, 0.5f, 1, 1.5f, 2, 5.999f, 6, 7};
#define N_EDGES (int)(sizeof edges / sizeof edges[0])

/* y of a one-layer model on the edge inputs. */
static void run(ck_layer *l, float *y)
{
    ck_model *m = ck_sequential();
    ck_assert_ok(ck_model_add(m, ck_input(N_EDGES)));
    ck_assert_ok(ck_model_add(m, l));
    ck_assert_ok(ck_model_build(m));
    ck_assert_ok(ck_model_predict(m, edges, 1, y));
    ck_model_free(m);
}

static void expect_relu(ck_layer *l, double alpha, double max_value, double threshold)
{
    float y[N_EDGES];
    run(l, y);
    for (int i = 0; i < N_EDGES; i++) {
        double want = keras_relu(edges[i], alpha, max_value, threshold);
        ck_assert_msg(fabs(y[i] - want) <= 1e-6 * (1 + fabs(want)),
                      "relu(%g; alpha %g, max %g, threshold %g) = %.9g, Keras %.9g",
                      (double)edges[i], alpha, max_value, threshold, (double)y[i], want);
    }
}

START_TEST(relu_family_at_the_kinks)
{
    expect_relu(ck_relu(), 0, -1, 0);
    expect_relu(ck_relu(.max_value = 6), 0, 6, 0);
    expect_relu(ck_relu(.max_value = 1.5), 0, 1.5, 0);
    expect_relu(ck_relu(.negative_slope = 0.1), 0.1, -1, 0);
    expect_relu(ck_relu(.threshold = 1), 0, -1, 1);
    expect_relu(ck_relu(.negative_slope = 0.2, .threshold = 1), 0.2, -1, 1);
    expect_relu(ck_relu(.negative_slope = 0.2, .max_value = 2), 0.2, 2, 0);
    /* a maximum below the threshold: every x above it gives max_value */
    expect_relu(ck_relu(.negative_slope = 0.5, .max_value = 0.5, .threshold = 1), 0.5, 0.5, 1);
    expect_relu(ck_leaky_relu(), 0.3, -1, 0);
    expect_relu(ck_leaky_relu(.negative_slope = 0.01), 0.01, -1, 0);
    expect_relu(ck_thresholded_relu(), 0, -1, 1);
    expect_relu(ck_thresholded_relu(.theta = 0.5), 0, -1, 0.5);
    float y[N_EDGES];
    run(ck_elu(.alpha = 2), y);
    for (int i = 0; i < N_EDGES; i++) {
        double x = edges[i], want = x > 0 ? x : 2 * (exp(x) - 1);
        ck_assert_msg(fabs(y[i] - want) <= 1e-6 * (1 + fabs(want)), "elu(%g) = %.9g", x,
                      (double)y[i]);
    }
}
END_TEST

START_TEST(bad_options_are_refused)
{
    ck_assert_ptr_null(ck_relu(.max_value = -1));
    ck_assert_ptr_null(ck_relu(.negative_slope = -0.1));
    ck_assert_ptr_null(ck_relu(.threshold = -1));
    ck_assert_ptr_null(ck_relu(.threshold = NAN));
    ck_assert_ptr_null(ck_thresholded_relu(.theta = -1));
    ck_assert_ptr_null(ck_leaky_relu(.negative_slope = INFINITY));
    ck_assert_ptr_null(ck_elu(.alpha = NAN));
    ck_assert_ptr_null(ck_prelu(.shared_axes = {6}));
    ck_assert_ptr_null(ck_prelu(.shared_axes = {-1}));
    ck_assert_ptr_null(ck_relu_new(NULL));
    ck_assert_ptr_null(ck_prelu_new(NULL));
    ck_assert_int_eq(ck_error_status(), CK_ERR_ARGUMENT);
}
END_TEST

/* ------------------------------------------------------------ configs */

static ck_layer *from_json(const char *cls, const char *json, ck_keras_semantics semantics)
{
    cJSON *cfg = cJSON_Parse(json);
    ck_assert_ptr_nonnull(cfg);
    ck_layer *l = ck_layer_from_config(cls, cfg, semantics);
    cJSON_Delete(cfg);
    return l;
}

/* The layer's config as a model of `semantics` writes it. */
static char *config_in(ck_layer *l, ck_keras_semantics semantics)
{
    ck_model *m = ck_sequential(.semantics = semantics);
    ck_assert_ok(ck_model_add(m, ck_input(3, 2)));
    ck_assert_ok(ck_model_add(m, l));
    ck_assert_ok(ck_model_build(m));
    cJSON *cfg = cJSON_CreateObject();
    ck_assert_ok(ck_layer_get_config(l, cfg));
    char *s = cJSON_PrintUnformatted(cfg);
    cJSON_Delete(cfg);
    ck_model_free(m);
    return s;
}

static void expect_config(ck_layer *l, ck_keras_semantics semantics, const char *want)
{
    ck_assert_msg(l != NULL, "%s", ck_last_error());
    char *s = config_in(l, semantics);
    ck_assert_msg(strcmp(s, want) == 0, "config %s, expected %s", s, want);
    free(s);
}

START_TEST(configs_per_keras_generation)
{
    expect_config(ck_leaky_relu(.negative_slope = 0.25), CK_KERAS2, "{\"alpha\":0.25}");
    expect_config(ck_leaky_relu(.negative_slope = 0.25), CK_KERAS3, "{\"negative_slope\":0.25}");
    /* Keras 3 reads an old config's alpha, over negative_slope too */
    expect_config(from_json("LeakyReLU", "{\"alpha\":0.5}", CK_KERAS3), CK_KERAS3,
                  "{\"negative_slope\":0.5}");
    expect_config(from_json("LeakyReLU", "{\"negative_slope\":0.1,\"alpha\":0.5}", CK_KERAS3),
                  CK_KERAS3, "{\"negative_slope\":0.5}");
    expect_config(from_json("LeakyReLU", "{}", CK_KERAS2), CK_KERAS2, "{\"alpha\":0.3}");
    expect_config(from_json("LeakyReLU", "{\"alpha\":0}", CK_KERAS2), CK_KERAS2, "{\"alpha\":0}");
    expect_config(ck_relu(), CK_KERAS2,
                  "{\"max_value\":null,\"negative_slope\":0,\"threshold\":0}");
    /* standalone Keras 2.2.0 to 2.2.2 wrote max_value only */
    expect_config(from_json("ReLU", "{\"max_value\":6.0}", CK_KERAS2), CK_KERAS2,
                  "{\"max_value\":6,\"negative_slope\":0,\"threshold\":0}");
    expect_config(from_json("ReLU", "{\"max_value\":0}", CK_KERAS3), CK_KERAS3,
                  "{\"max_value\":0,\"negative_slope\":0,\"threshold\":0}");
    expect_config(ck_relu(.max_value = 6, .negative_slope = 0.5, .threshold = 1), CK_KERAS3,
                  "{\"max_value\":6,\"negative_slope\":0.5,\"threshold\":1}");
    expect_config(ck_thresholded_relu(), CK_KERAS2, "{\"theta\":1}");
    expect_config(from_json("ThresholdedReLU", "{\"theta\":0}", CK_KERAS2), CK_KERAS2,
                  "{\"theta\":0}");
    /* Keras 3's ELU writes no alpha but reads one */
    expect_config(ck_elu(), CK_KERAS2, "{\"alpha\":1}");
    expect_config(ck_elu(), CK_KERAS3, "{}");
    expect_config(ck_elu(.alpha = 0.5), CK_KERAS3, "{\"alpha\":0.5}");
    expect_config(ck_prelu(), CK_KERAS2,
                  "{\"alpha_initializer\":{\"config\":{},\"class_name\":\"Zeros\"},"
                  "\"alpha_regularizer\":null,\"alpha_constraint\":null,\"shared_axes\":null}");
    expect_config(from_json("PReLU", "{\"shared_axes\":1}", CK_KERAS2), CK_KERAS2,
                  "{\"alpha_initializer\":{\"config\":{},\"class_name\":\"Zeros\"},"
                  "\"alpha_regularizer\":null,\"alpha_constraint\":null,\"shared_axes\":[1]}");
    expect_config(from_json("PReLU",
                            "{\"alpha_initializer\":{\"class_name\":\"Constant\",\"config\":"
                            "{\"value\":0.25}},\"alpha_regularizer\":{\"class_name\":\"L2\","
                            "\"config\":{\"l2\":0.5}},\"shared_axes\":[2,1]}",
                            CK_KERAS2),
                  CK_KERAS2,
                  "{\"alpha_initializer\":{\"config\":{\"value\":0.25},\"class_name\":\"Constant\""
                  "},\"alpha_regularizer\":{\"class_name\":\"L2\",\"config\":{\"l2\":0.5}},"
                  "\"alpha_constraint\":null,\"shared_axes\":[1,2]}");
}
END_TEST

START_TEST(bad_configs_are_refused)
{
    const char *bad[][3] = {
        {"LeakyReLU", "{\"slope\":0.1}", "slope"},
        {"ReLU", "{\"alpha\":0.1}", "alpha"},
        {"ELU", "{\"theta\":1}", "theta"},
        {"ThresholdedReLU", "{\"alpha\":1}", "alpha"},
        {"PReLU", "{\"alpha\":1}", "alpha"},
        {"ReLU", "{\"max_value\":-1}", "max_value"},
        {"ReLU", "{\"threshold\":\"1\"}", "threshold"},
        {"ThresholdedReLU", "{\"theta\":-0.5}", "theta"},
        {"PReLU", "{\"shared_axes\":[0]}", "shared axis 0"},
        {"PReLU", "{\"shared_axes\":[1.5]}", "shared_axes"},
        {"PReLU", "{\"shared_axes\":\"1\"}", "shared_axes"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_ptr_null(from_json(bad[i][0], bad[i][1], CK_KERAS2));
        ck_assert_msg(strstr(ck_last_error(), bad[i][2]), "%s %s: %s", bad[i][0], bad[i][1],
                      ck_last_error());
    }
    /* tf.keras computes a negative slope; Keras 3 refuses it */
    ck_layer *l = from_json("LeakyReLU", "{\"alpha\":-0.5}", CK_KERAS2);
    ck_assert_ptr_nonnull(l);
    ck_layer_free(l);
    ck_assert_ptr_null(from_json("LeakyReLU", "{\"negative_slope\":-0.5}", CK_KERAS3));
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "negative"));
}
END_TEST

/* ------------------------------------------------------------ PReLU */

START_TEST(prelu_weight_shape_and_count)
{
    ck_model *m = ck_sequential();
    ck_assert_ok(ck_model_add(m, ck_input(4, 3)));
    ck_assert_ok(ck_model_add(m, ck_prelu()));
    ck_assert_ok(ck_model_add(m, ck_prelu(.shared_axes = {1})));
    ck_assert_ok(ck_model_add(m, ck_prelu(.shared_axes = {1, 2})));
    ck_assert_ok(ck_model_build(m));
    ck_tensor w;
    const char *name;
    ck_assert_ok(ck_layer_weight(ck_model_layer(m, 0), 0, &name, &w));
    ck_assert_str_eq(name, "alpha");
    ck_assert_int_eq(w.rank, 2);
    ck_assert_int_eq(w.dims[0], 4);
    ck_assert_int_eq(w.dims[1], 3);
    ck_assert_uint_eq(ck_layer_count_params(ck_model_layer(m, 1)), 3);
    ck_assert_uint_eq(ck_layer_count_params(ck_model_layer(m, 2)), 1);
    ck_assert_uint_eq(ck_model_count_params(m), 16);
    for (int i = 0; i < 16; i++)
        ck_assert_float_eq(m->params[i], 0); /* zeros */
    char *summary = ck_test_summary(m, CK_SUMMARY_KERAS2);
    ck_assert_msg(strstr(summary, "p_re_lu (PReLU)") && strstr(summary, "p_re_lu_1 (PReLU)") &&
                      strstr(summary, "Total params: 16"),
                  "%s", summary);
    free(summary);
    ck_model_free(m);
    /* an open axis needs sharing: Keras cannot make the weight either */
    m = ck_sequential();
    ck_assert_ok(ck_model_add(m, ck_input(CK_NONE, 3)));
    ck_assert_ok(ck_model_add(m, ck_prelu()));
    ck_assert_fails(ck_model_build(m), CK_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "shared_axes"));
    ck_model_free(m);
    m = ck_sequential();
    ck_assert_ok(ck_model_add(m, ck_input(CK_NONE, 3)));
    ck_assert_ok(ck_model_add(m, ck_prelu(.shared_axes = {1})));
    ck_assert_ok(ck_model_build(m));
    ck_model_free(m);
    m = ck_sequential();
    ck_assert_ok(ck_model_add(m, ck_input(3)));
    ck_assert_ok(ck_model_add(m, ck_prelu(.shared_axes = {2})));
    ck_assert_fails(ck_model_build(m), CK_ERR_SHAPE);
    ck_model_free(m);
}
END_TEST

/* y = x above 0, alpha x below: training moves alpha only through the
 * negative inputs, by the mean-squared-error gradient. */
START_TEST(prelu_trains_alpha)
{
    ck_model *m = ck_sequential(.seed = 1);
    ck_assert_ok(ck_model_add(m, ck_input(2)));
    ck_assert_ok(ck_model_add(m, ck_prelu(.alpha_initializer = CK_INIT("constant", .value = 0.5))));
    ck_assert_ok(ck_model_build(m));
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_sgd(.learning_rate = 0.1), .loss = "mse"));
    float x[2] = {-2, 3}, t[2] = {0, 3};
    ck_tensor tx = {.rank = 2, .dims = {1, 2}, .data = x},
              ty = {.rank = 2, .dims = {1, 2}, .data = t};
    double loss;
    ck_assert_ok(ck_model_train_on_batch(m, &tx, &ty, &loss));
    /* loss = mean((-1 - 0)^2, 0) = 0.5; dL/dalpha0 = 2 (-1) / 2 * (-2) = 2 */
    ck_assert_double_eq_tol(loss, 0.5, 1e-6);
    ck_assert_float_eq_tol(m->params[0], 0.5f - 0.1f * 2, 1e-6f);
    ck_assert_float_eq_tol(m->params[1], 0.5f, 1e-7f);
    ck_model_free(m);
}
END_TEST

/* Keras: supports_masking, the mask passes on to the LSTM, which skips
 * the masked steps: the output equals that of the unmasked steps alone. */
START_TEST(masks_pass_through)
{
    ck_layer *acts[] = {ck_relu(.negative_slope = 0.1), ck_leaky_relu(), ck_thresholded_relu(),
                        ck_elu(), ck_prelu(.shared_axes = {1})};
    float x[] = {0.5f, -1, 0, 0, 0.25f, 2}, kept[] = {0.5f, -1, 0.25f, 2};
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++) {
        ck_model *m = ck_sequential(.seed = 5), *ref = ck_sequential(.seed = 5);
        ck_assert_ok(ck_model_add(m, ck_input(3, 2)));
        ck_assert_ok(ck_model_add(m, ck_masking()));
        ck_assert_ok(ck_model_add(m, acts[i]));
        ck_assert_ok(ck_model_add(m, ck_lstm(2)));
        ck_assert_ok(ck_model_build(m));
        ck_assert_ok(ck_model_add(ref, ck_input(2, 2)));
        ck_assert_ok(ck_model_add(ref, ck_masking()));
        ck_assert_ok(ck_model_add(ref, ck_layer_clone(acts[i], CK_KERAS2)));
        ck_assert_ok(ck_model_add(ref, ck_lstm(2)));
        ck_assert_ok(ck_model_build(ref));
        ck_assert_uint_eq(ref->n_params, m->n_params);
        memcpy(ref->params, m->params, m->n_params * sizeof(float));
        float y[2], y_ref[2];
        ck_assert_ok(ck_model_predict(m, x, 1, y));
        ck_assert_ok(ck_model_predict(ref, kept, 1, y_ref));
        ck_assert_float_eq_tol(y[0], y_ref[0], 1e-6f);
        ck_assert_float_eq_tol(y[1], y_ref[1], 1e-6f);
        ck_model_free(m);
        ck_model_free(ref);
    }
}
END_TEST

/* ------------------------------------------------------------ files */

static ck_model *every_activation(ck_keras_semantics semantics)
{
    ck_model *m = ck_sequential(.seed = 9, .semantics = semantics, .name = "acts");
    ck_assert_ok(ck_model_add(m, ck_input(3, 2)));
    ck_assert_ok(ck_model_add(m, ck_dense(4)));
    ck_assert_ok(
        ck_model_add(m, ck_relu(.max_value = 0.5, .negative_slope = 0.1, .threshold = 0.2)));
    ck_assert_ok(ck_model_add(m, ck_leaky_relu(.negative_slope = 0.2)));
    ck_assert_ok(ck_model_add(m, ck_elu(.alpha = 0.5)));
    if (semantics == CK_KERAS2)
        ck_assert_ok(ck_model_add(m, ck_thresholded_relu(.theta = 0.05)));
    ck_layer *p = ck_prelu(.shared_axes = {1});
    ck_assert_ok(ck_layer_set_regularizer(p, "alpha", ck_l2(0.25)));
    ck_assert_ok(ck_model_add(m, p));
    ck_assert_ok(ck_model_build(m));
    for (size_t k = 0; k < m->n_params; k++)
        m->params[k] = (float)sin(1.3 * (double)k + 0.1);
    return m;
}

/* b loaded from a's file: the same layers, weights, predictions and
 * config; as_relu: a's ThresholdedReLU came back as the ReLU that Keras 3
 * reads in its place, predicting the same. */
static void same_model(ck_model *a, ck_model *b, const char *what, bool as_relu)
{
    float x[12], ya[24], yb[24];
    for (int i = 0; i < 12; i++)
        x[i] = (float)cos(0.9 * i);
    ck_assert_int_eq(a->n_layers, b->n_layers);
    for (int i = 0; i < a->n_layers; i++) {
        const char *cls = a->layers[i]->ops->class_name;
        if (as_relu && strcmp(cls, "ThresholdedReLU") == 0)
            cls = "ReLU";
        ck_assert_str_eq(b->layers[i]->ops->class_name, cls);
    }
    ck_assert_uint_eq(a->n_params, b->n_params);
    ck_assert_msg(memcmp(a->params, b->params, a->n_params * sizeof(float)) == 0, "%s weights",
                  what);
    ck_assert_ok(ck_model_predict(a, x, 2, ya));
    ck_assert_ok(ck_model_predict(b, x, 2, yb));
    ck_assert_msg(memcmp(ya, yb, sizeof ya) == 0, "%s predictions", what);
    char *ja = ck_model_to_json(a), *jb = ck_model_to_json(b);
    if (!as_relu)
        ck_assert_str_eq(ja, jb);
    ck_free(ja);
    ck_free(jb);
}

START_TEST(save_and_load_every_format)
{
    const char *files[] = {"acts.h5", "acts.keras", "acts.json", "acts_w.h5", "acts.weights.h5"};
    for (int k = 0; k < 2; k++) {
        ck_keras_semantics semantics = k ? CK_KERAS3 : CK_KERAS2;
        ck_model *a = every_activation(semantics);
        for (int f = 0; f < 5; f++) {
            const char *path = ck_test_path(files[f]);
            ck_model *b = NULL;
            if (f < 3) {
                ck_assert_ok(ck_model_save(a, path));
                ck_assert_msg(ck_model_load(path, &b) == CK_OK, "%s: %s", files[f],
                              ck_last_error());
                if (f == 2) /* the architecture alone */
                    memcpy(b->params, a->params, a->n_params * sizeof(float));
            } else {
                ck_assert_ok(ck_model_save_weights(a, path));
                b = every_activation(semantics);
                memset(b->params, 0, b->n_params * sizeof(float));
                ck_assert_ok(ck_model_load_weights(b, path));
            }
            ck_assert_int_eq(b->semantics, semantics);
            same_model(a, b, files[f], f == 1 && semantics == CK_KERAS2);
            ck_model_free(b);
        }
        char *json = ck_model_to_json(a);
        ck_assert_msg(strstr(json, k ? "\"negative_slope\":0.2" : "\"alpha\":0.2") &&
                          strstr(json, "\"l2\":0.25"),
                      "%s", json);
        ck_free(json);
        ck_model_free(a);
    }
}
END_TEST

/* The names each format gives alpha. */
START_TEST(prelu_weight_names)
{
    ck_model *m = every_activation(CK_KERAS2);
    const char *path = ck_test_path("names.h5");
    ck_assert_ok(ck_model_save(m, path));
    float *data = NULL;
    int rank;
    long long dims[6];
    ck_assert_uint_eq(
        ck_test_read_h5(path, "model_weights/p_re_lu/p_re_lu/alpha:0", &data, &rank, dims), 4);
    ck_assert_int_eq(rank, 2);
    ck_assert_int_eq(dims[0], 1);
    free(data);
    path = ck_test_path("names.weights.h5");
    ck_assert_ok(ck_model_save_weights(m, path));
    ck_assert_uint_eq(ck_test_read_h5(path, "layers/p_re_lu/vars/0", &data, &rank, dims), 4);
    free(data);
    ck_model_free(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("activation_layers");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, ck_test_scratch_fixture, ck_test_remove_dir);
    tcase_add_test(tc, relu_family_at_the_kinks);
    tcase_add_test(tc, bad_options_are_refused);
    tcase_add_test(tc, configs_per_keras_generation);
    tcase_add_test(tc, bad_configs_are_refused);
    tcase_add_test(tc, prelu_weight_shape_and_count);
    tcase_add_test(tc, prelu_trains_alpha);
    tcase_add_test(tc, masks_pass_through);
    tcase_add_test(tc, save_and_load_every_format);
    tcase_add_test(tc, prelu_weight_names);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ck_test_run(suite());
}
