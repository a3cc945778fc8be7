/* Layers of sequence classifiers: GaussianDropout and AlphaDropout (the
 * Keras formulas with a fixed seed, the statistics of their training
 * noise, the identity at inference), ZeroPadding1D, Cropping1D and
 * UpSampling1D (hand-worked outputs, shapes, masks); for each, configs as
 * Keras releases write them and the backward against finite differences. */
#include "ck_gradcheck.h"
#include "ck_test.h"

#include "ck_internal.h"
#include "ck_layers.h"

#include <math.h>
#include <string.h>

/* SELU's saturation -alpha * scale, and AlphaDropout's a and b for rates
 * 0.2 and 0.4 ((1 - rate)(1 + rate alpha'^2))^-1/2 and -a alpha' rate),
 * evaluated in double as Keras does in Python. */
#define ALPHA_P (-1.7580993408473766)
#define A_02 0.8789035834435328
#define B_02 0.30903996214409446
#define A_04 0.8632826261075821
#define B_04 0.607094646369893

/* Input(shape, 0-terminated) > layer, built, seeded. */
static ck_model *one_layer(const int64_t *shape, ck_layer *l)
{
    ck_model *m = ck_sequential(.seed = 11);
    ck_input_options io = {0};
    for (int i = 0; shape[i]; i++)
        io.shape[i] = shape[i];
    ck_assert_ok(ck_model_add(m, ck_input_new(&io)));
    ck_assert_ok(ck_model_add(m, l));
    ck_assert_ok(ck_model_build(m));
    return m;
}

static void assert_identity_at_inference(ck_model *m, const float *x, size_t n, int64_t batch)
{
    float *y = malloc(n * sizeof *y);
    ck_assert_ok(ck_model_predict(m, x, batch, y));
    for (size_t i = 0; i < n; i++)
        ck_assert_float_eq(y[i], x[i]);
    free(y);
}

/* Central differences of sum(r * y) in a training forward whose noise the
 * generator repeats (ck_gradcheck.h). */
static void grad_check(ck_layer *l, int64_t b, int64_t t, int64_t c)
{
    ck_model *m = one_layer((int64_t[]){t, c, 0}, l);
    float x[256], r[256];
    ck_rng rng;
    ck_rng_seed(&rng, 5);
    for (int i = 0; i < 256; i++) {
        x[i] = (float)(2 * ck_rng_uniform(&rng) - 1);
        r[i] = (float)(2 * ck_rng_uniform(&rng) - 1);
    }
    ck_fd fd = {.m = m,
                .x = {.rank = 3, .dims = {b, t, c}, .data = x},
                .r = r,
                .training = true,
                .h = 1e-3};
    ck_rng_seed(&fd.rng, 77);
    ck_fd_objective(&fd);
    ck_assert_int_gt(ck_fd_check_each(&fd, 2e-3, 2e-2), 0);
    ck_model_free(m);
}

/* The layer's get_config; the caller deletes it. */
static cJSON *config_of(ck_layer *l)
{
    cJSON *cfg = cJSON_CreateObject();
    ck_assert_ok(l->ops->get_config(l, cfg));
    return cfg;
}

static char *config_text(ck_layer *l)
{
    cJSON *cfg = config_of(l);
    char *s = cJSON_PrintUnformatted(cfg);
    cJSON_Delete(cfg);
    return s;
}

/* from_config on JSON text; NULL when it fails. */
static ck_layer *from_json(const char *class_name, const char *json)
{
    cJSON *cfg = cJSON_Parse(json);
    ck_assert_ptr_nonnull(cfg);
    ck_layer *l = ck_layer_ops_find(class_name)->from_config(cfg, CK_KERAS2);
    cJSON_Delete(cfg);
    return l;
}

/* A config Keras writes loads; its written form is `want`. */
static void assert_config(const char *class_name, const char *json, const char *want)
{
    ck_layer *l = from_json(class_name, json);
    ck_assert_msg(l != NULL, "%s %s: %s", class_name, json, ck_last_error());
    char *got = config_text(l);
    ck_assert_str_eq(got, want);
    free(got);
    ck_layer_free(l);
}

/* An unknown key is refused, naming it. */
static void assert_refused(const char *class_name, const char *json, const char *needle)
{
    ck_assert_ptr_null(from_json(class_name, json));
    ck_assert_msg(strstr(ck_last_error(), needle), "%s %s: %s", class_name, json, ck_last_error());
}

/* --------------------------------------------------- GaussianDropout */

/* Training multiplies by N(1, rate / (1 - rate)): over many values the
 * factors y / x have mean 1 and variance rate / (1 - rate). */
START_TEST(test_gaussian_dropout_noise)
{
    enum { N = 20000 };
    static float x[N];
    for (int i = 0; i < N; i++)
        x[i] = 1.0f + (float)(i % 5);
    ck_model *m = one_layer((int64_t[]){N, 0}, ck_gaussian_dropout(.rate = 0.3));
    assert_identity_at_inference(m, x, N, 1);
    ck_tensor tx = {.rank = 2, .dims = {1, N}, .data = x};
    ck_assert_ok(ck_model_forward(m, &tx, true));
    double s = 0, s2 = 0;
    for (int i = 0; i < N; i++) {
        double f = m->act_views[0].data[i] / x[i];
        s += f, s2 += f * f;
    }
    double mean = s / N, var = s2 / N - mean * mean;
    ck_assert_close(mean, 1.0, 0.02);
    ck_assert_close(var, 0.3 / 0.7, 0.02);
    ck_model_free(m);
    /* rate 0 adds no noise in training either */
    m = one_layer((int64_t[]){4, 0}, ck_gaussian_dropout(.rate = 0));
    ck_assert_ok(ck_model_forward(m, &(ck_tensor){.rank = 2, .dims = {1, 4}, .data = x}, true));
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(m->act_views[0].data[i], x[i]);
    ck_model_free(m);
}
END_TEST

START_TEST(test_gaussian_dropout_backward_and_options)
{
    grad_check(ck_gaussian_dropout(.rate = 0.4), 2, 3, 4);
    ck_assert_ptr_null(ck_gaussian_dropout(.rate = 1));
    ck_assert_int_eq(ck_error_status(), CK_ERR_ARGUMENT);
    ck_assert_ptr_null(ck_gaussian_dropout(.rate = -0.1));
    ck_assert_ptr_null(ck_gaussian_dropout(.rate = NAN));
    ck_model *m = one_layer((int64_t[]){5, 3, 0}, ck_gaussian_dropout(.rate = 0.1));
    ck_assert_uint_eq(ck_model_count_params(m), 0);
    ck_model_free(m);
}
END_TEST

/* Keras 2.2 writes {"rate"}; tf.keras 2.8+ and Keras 3 add "seed". ckeras
 * writes no seed, which tf.keras before 2.8 would refuse. */
START_TEST(test_gaussian_dropout_config)
{
    assert_config("GaussianDropout", "{\"name\":\"gd\",\"rate\":0.25}", "{\"rate\":0.25}");
    assert_config("GaussianDropout",
                  "{\"name\":\"gd\",\"trainable\":true,\"dtype\":\"float32\",\"rate\":0.5,"
                  "\"seed\":7}",
                  "{\"rate\":0.5}");
    assert_refused("GaussianDropout", "{\"rate\":0.5,\"stddev\":0.1}", "stddev");
    assert_refused("GaussianDropout", "{\"rate\":1.0}", "rate");
    assert_refused("GaussianDropout", "{\"rate\":\"high\"}", "rate");
}
END_TEST

/* ------------------------------------------------------ AlphaDropout */

/* Every value is a x + b when kept, a alpha' + b when dropped (Keras's
 * formula), about `rate` of them dropped. */
START_TEST(test_alpha_dropout_formula)
{
    enum { N = 4000 };
    static float x[N];
    for (int i = 0; i < N; i++)
        x[i] = (float)sin(0.37 * i) * 2;
    ck_model *m = one_layer((int64_t[]){N, 0}, ck_alpha_dropout(.rate = 0.2));
    assert_identity_at_inference(m, x, N, 1);
    ck_assert_ok(ck_model_forward(m, &(ck_tensor){.rank = 2, .dims = {1, N}, .data = x}, true));
    const float *y = m->act_views[0].data;
    int dropped = 0;
    for (int i = 0; i < N; i++) {
        double kept = A_02 * x[i] + B_02, gone = A_02 * ALPHA_P + B_02;
        bool is_kept = fabs(y[i] - kept) < 1e-5, is_gone = fabs(y[i] - gone) < 1e-5;
        ck_assert_msg(is_kept || is_gone, "y[%d] = %.7g: neither %.7g nor %.7g", i, (double)y[i],
                      kept, gone);
        dropped += is_gone && !is_kept;
    }
    ck_assert_close((double)dropped / N, 0.2, 0.03);
    ck_model_free(m);
}
END_TEST

/* A unit-normal input keeps mean 0 and variance 1 (the reason for a and
 * b); a constant c has mean (1 - rate)(a c + b) + rate (a alpha' + b). */
START_TEST(test_alpha_dropout_statistics)
{
    enum { N = 40000 };
    static float x[N];
    ck_rng rng;
    ck_rng_seed(&rng, 9);
    for (int i = 0; i < N; i++)
        x[i] = (float)ck_rng_normal(&rng);
    ck_model *m = one_layer((int64_t[]){N, 0}, ck_alpha_dropout(.rate = 0.4));
    ck_assert_ok(ck_model_forward(m, &(ck_tensor){.rank = 2, .dims = {1, N}, .data = x}, true));
    double s = 0, s2 = 0;
    for (int i = 0; i < N; i++)
        s += m->act_views[0].data[i],
            s2 += (double)m->act_views[0].data[i] * m->act_views[0].data[i];
    ck_assert_close(s / N, 0.0, 0.03);
    ck_assert_close(s2 / N - (s / N) * (s / N), 1.0, 0.04);
    for (int i = 0; i < N; i++)
        x[i] = 0.5f;
    ck_assert_ok(ck_model_forward(m, &(ck_tensor){.rank = 2, .dims = {1, N}, .data = x}, true));
    s = 0;
    for (int i = 0; i < N; i++)
        s += m->act_views[0].data[i];
    ck_assert_close(s / N, 0.6 * (A_04 * 0.5 + B_04) + 0.4 * (A_04 * ALPHA_P + B_04), 0.02);
    ck_model_free(m);
}
END_TEST

/* noise_shape (None, 1, C): a feature is dropped at every step or none. */
START_TEST(test_alpha_dropout_noise_shape)
{
    enum { B = 3, T = 4, C = 5 };
    float x[B * T * C];
    for (int i = 0; i < B * T * C; i++)
        x[i] = 0.25f + 0.01f * (float)i;
    ck_model *m = one_layer((int64_t[]){T, C, 0},
                            ck_alpha_dropout(.rate = 0.5, .noise_shape = {CK_NONE, 1, CK_NONE},
                                             .noise_rank = 3));
    ck_tensor tx = {.rank = 3, .dims = {B, T, C}, .data = x};
    ck_assert_ok(ck_model_forward(m, &tx, true));
    const float *y = m->act_views[0].data;
    int n_dropped = 0;
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++) {
            /* dropped values equal each other across steps, kept ones do not */
            bool first = y[(b * T) * C + c] == y[(b * T + 1) * C + c];
            n_dropped += first;
            for (int t = 1; t < T; t++)
                ck_assert_int_eq(y[(b * T + t) * C + c] == y[(b * T) * C + c], first);
        }
    ck_assert_int_gt(n_dropped, 0);
    ck_assert_int_lt(n_dropped, B * C);
    ck_model_free(m);
    grad_check(ck_alpha_dropout(.rate = 0.3, .noise_shape = {CK_NONE, 1, CK_NONE}, .noise_rank = 3),
               2, 3, 4);
    grad_check(ck_alpha_dropout(.rate = 0.3), 2, 3, 4);
    ck_model *bad = ck_sequential();
    ck_assert_ok(ck_model_add(bad, ck_input(4, 5)));
    ck_assert_ok(ck_model_add(bad, ck_alpha_dropout(.rate = 0.1, .noise_shape = {CK_NONE, 2, 5},
                                                    .noise_rank = 3)));
    ck_assert_fails(ck_model_build(bad), CK_ERR_SHAPE);
    ck_model_free(bad);
}
END_TEST

/* Keras 2 writes {"rate", "seed"} (no noise_shape), Keras 3 adds
 * "noise_shape"; ckeras writes all three. */
START_TEST(test_alpha_dropout_config)
{
    assert_config("AlphaDropout", "{\"name\":\"ad\",\"rate\":0.1}",
                  "{\"rate\":0.1,\"seed\":null,\"noise_shape\":null}");
    assert_config("AlphaDropout", "{\"name\":\"ad\",\"rate\":0.1,\"seed\":3}",
                  "{\"rate\":0.1,\"seed\":null,\"noise_shape\":null}");
    assert_config("AlphaDropout",
                  "{\"name\":\"ad\",\"trainable\":true,\"dtype\":\"float32\",\"rate\":0.2,"
                  "\"seed\":null,\"noise_shape\":[null,1,null]}",
                  "{\"rate\":0.2,\"seed\":null,\"noise_shape\":[null,1,null]}");
    assert_refused("AlphaDropout", "{\"rate\":0.2,\"alpha\":1.5}", "alpha");
    assert_refused("AlphaDropout", "{\"rate\":0.2,\"noise_shape\":[0,1]}", "noise_shape");
    assert_refused("AlphaDropout", "{\"rate\":1}", "rate");
    ck_assert_ptr_null(ck_alpha_dropout(.rate = 0.2, .noise_rank = CK_MAX_RANK + 1));
}
END_TEST

/* ------------------------------- ZeroPadding1D, Cropping1D, UpSampling1D */

/* y of a layer on (2, 3, 2) input 1..12, inference. */
static void assert_resized(ck_layer *l, int64_t steps, const float *want)
{
    static const float x[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    ck_model *m = one_layer((int64_t[]){3, 2, 0}, l);
    int rank;
    int64_t d[CK_MAX_RANK];
    ck_assert_ok(ck_model_output_shape(m, &rank, d));
    ck_assert_int_eq(rank, 2); /* batch excluded */
    ck_assert_int_eq(d[0], steps);
    ck_assert_int_eq(d[1], 2);
    ck_assert_uint_eq(ck_model_count_params(m), 0);
    float y[64];
    ck_assert_ok(ck_model_predict(m, x, 2, y));
    for (int i = 0; i < 2 * steps * 2; i++)
        ck_assert_msg(y[i] == want[i], "%s y[%d] = %g, expected %g", l->ops->class_name, i,
                      (double)y[i], (double)want[i]);
    ck_model_free(m);
}

START_TEST(test_resize_forward)
{
    assert_resized(ck_zero_padding1d(), 5,
                   (const float[]){0, 0, 1, 2, 3, 4, 5, 6, 0, 0, 0, 0, 7, 8, 9, 10, 11, 12, 0, 0});
    assert_resized(ck_zero_padding1d(.padding = {0, 2}), 5,
                   (const float[]){1, 2, 3, 4, 5, 6, 0, 0, 0, 0, 7, 8, 9, 10, 11, 12, 0, 0, 0, 0});
    assert_resized(ck_cropping1d(), 1, (const float[]){3, 4, 9, 10});
    assert_resized(ck_cropping1d(.cropping = {2, 0}), 1, (const float[]){5, 6, 11, 12});
    assert_resized(ck_cropping1d(.cropping = {0, 1}), 2, (const float[]){1, 2, 3, 4, 7, 8, 9, 10});
    assert_resized(ck_up_sampling1d(), 6,
                   (const float[]){1, 2, 1, 2, 3, 4,  3, 4,  5,  6,  5,  6,
                                   7, 8, 7, 8, 9, 10, 9, 10, 11, 12, 11, 12});
    assert_resized(ck_up_sampling1d(.size = 3), 9,
                   (const float[]){1, 2, 1, 2, 1, 2, 3, 4,  3, 4,  3, 4,  5,  6,  5,  6,  5,  6,
                                   7, 8, 7, 8, 7, 8, 9, 10, 9, 10, 9, 10, 11, 12, 11, 12, 11, 12});
}
END_TEST

/* Open step counts stay open; shapes Keras refuses fail the build. */
START_TEST(test_resize_shapes_and_options)
{
    ck_model *m = ck_sequential();
    ck_assert_ok(ck_model_add(m, ck_input(CK_NONE, 3)));
    ck_assert_ok(ck_model_add(m, ck_zero_padding1d(.padding = {2, 1})));
    ck_assert_ok(ck_model_add(m, ck_up_sampling1d()));
    ck_assert_ok(ck_model_add(m, ck_cropping1d()));
    ck_assert_ok(ck_model_build(m));
    int rank;
    int64_t d[CK_MAX_RANK];
    ck_assert_ok(ck_model_output_shape(m, &rank, d));
    ck_assert_int_eq(d[0], CK_NONE);
    float x[2 * 3 * 3] = {0}, y[2 * 10 * 3];
    ck_tensor tx = {.rank = 3, .dims = {2, 3, 3}, .data = x},
              ty = {.rank = 1, .dims = {2 * 10 * 3}, .data = y};
    ck_assert_ok(ck_model_predict_tensor(m, &tx, &ty));
    ck_assert_int_eq(ty.dims[1], (3 + 3) * 2 - 2);
    ck_model_free(m);
    const int64_t rank2[] = {4, 0}, short_seq[] = {2, 3, 0};
    struct {
        const int64_t *shape;
        ck_layer *l;
    } bad[] = {{rank2, ck_zero_padding1d()},
               {rank2, ck_up_sampling1d()},
               {short_seq, ck_cropping1d()},
               {short_seq, ck_cropping1d(.cropping = {0, 2})}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_model *b = ck_sequential();
        ck_input_options io = {0};
        for (int k = 0; bad[i].shape[k]; k++)
            io.shape[k] = bad[i].shape[k];
        ck_assert_ok(ck_model_add(b, ck_input_new(&io)));
        ck_assert_ok(ck_model_add(b, bad[i].l));
        ck_assert_fails(ck_model_build(b), CK_ERR_SHAPE);
        ck_model_free(b);
    }
    ck_assert_ptr_null(ck_zero_padding1d(.padding = {-1, 2}));
    ck_assert_int_eq(ck_error_status(), CK_ERR_ARGUMENT);
    ck_assert_ptr_null(ck_cropping1d(.cropping = {1, -1}));
    ck_assert_ptr_null(ck_up_sampling1d(.size = -2));
}
END_TEST

START_TEST(test_resize_backward)
{
    grad_check(ck_zero_padding1d(.padding = {2, 1}), 2, 3, 4);
    grad_check(ck_cropping1d(.cropping = {1, 2}), 2, 5, 3);
    grad_check(ck_up_sampling1d(.size = 3), 2, 3, 4);
}
END_TEST

/* Keras writes padding and cropping as lists (tf.keras's normalize_tuple,
 * Keras 3's standardize_tuple) and Keras 3.5+ adds ZeroPadding1D's
 * data_format; an int means both ends. */
START_TEST(test_resize_config)
{
    assert_config("ZeroPadding1D", "{\"name\":\"z\",\"padding\":[1,1]}", "{\"padding\":[1,1]}");
    assert_config("ZeroPadding1D", "{\"name\":\"z\",\"padding\":3}", "{\"padding\":[3,3]}");
    assert_config("ZeroPadding1D",
                  "{\"name\":\"z\",\"trainable\":true,\"dtype\":\"float32\",\"padding\":[0,2],"
                  "\"data_format\":\"channels_last\"}",
                  "{\"padding\":[0,2]}");
    assert_config("ZeroPadding1D", "{\"name\":\"z\"}", "{\"padding\":[1,1]}");
    assert_config("Cropping1D", "{\"name\":\"c\",\"cropping\":[2,0]}", "{\"cropping\":[2,0]}");
    assert_config("Cropping1D", "{\"name\":\"c\",\"cropping\":[0,0]}", "{\"cropping\":[0,0]}");
    assert_config("UpSampling1D", "{\"name\":\"u\",\"size\":3}", "{\"size\":3}");
    assert_config("UpSampling1D", "{\"name\":\"u\"}", "{\"size\":2}");
    assert_refused("ZeroPadding1D", "{\"padding\":[1,1],\"data_format\":\"channels_first\"}",
                   "channels_first");
    assert_refused("ZeroPadding1D", "{\"padding\":[1,2,3]}", "padding");
    assert_refused("ZeroPadding1D", "{\"padding\":[1,-1]}", ">= 0");
    assert_refused("ZeroPadding1D", "{\"padding\":[1.5,1]}", "padding");
    assert_refused("Cropping1D", "{\"cropping\":[1,1],\"data_format\":\"channels_last\"}",
                   "data_format");
    assert_refused("Cropping1D", "{\"cropping\":\"all\"}", "cropping");
    assert_refused("UpSampling1D", "{\"size\":0}", "size");
    assert_refused("UpSampling1D", "{\"size\":true}", "size");
    assert_refused("UpSampling1D", "{\"size\":2,\"interpolation\":\"nearest\"}", "interpolation");
}
END_TEST

/* None of the three supports masking: Keras 3 drops the mask (tf.keras
 * refuses the model); so does ckeras, and the LSTM after it sees every
 * step. */
START_TEST(test_resize_drops_mask)
{
    ck_layer *layers[] = {ck_zero_padding1d(), ck_cropping1d(.cropping = {0, 1}),
                          ck_up_sampling1d()};
    for (int i = 0; i < 3; i++) {
        ck_model *m = ck_sequential(.seed = 4);
        ck_assert_ok(ck_model_add(m, ck_input(4, 2)));
        ck_assert_ok(ck_model_add(m, ck_masking(.mask_value = 0)));
        ck_assert_ok(ck_model_add(m, layers[i]));
        ck_assert_ok(ck_model_build(m));
        float x[2 * 4 * 2] = {1, 2, 0, 0, 3, 4, 5, 6, 0, 0, 0, 0, 1, 1, 2, 2};
        ck_tensor tx = {.rank = 3, .dims = {2, 4, 2}, .data = x};
        ck_assert_ok(ck_model_forward(m, &tx, false));
        ck_assert_ptr_nonnull(m->mask_views[0]);
        ck_assert_ptr_null(m->mask_views[1]);
        ck_model_free(m);
    }
}
END_TEST

/* ---------------------------------------------- ActivityRegularization */

/* Input(2) > ActivityRegularization(l1, l2), compiled with MSE, written
 * as a release `version` with `semantics`. */
static ck_model *areg_model(ck_keras_semantics semantics, const char *version)
{
    ck_model *m = ck_sequential(.semantics = semantics);
    ck_assert_ok(ck_model_add(m, ck_input(2)));
    ck_assert_ok(ck_model_add(m, ck_activity_regularization(.l1 = 0.1, .l2 = 0.2)));
    ck_assert_ok(ck_model_build(m));
    snprintf(m->keras_version, sizeof m->keras_version, "%s", version);
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_sgd(.learning_rate = 1), .loss = "mse"));
    return m;
}

/* y = x, so the MSE is 0 and the loss is the penalty 0.1 * sum|y| + 0.2 *
 * sum y^2 = 0.1 * 6.5 + 0.2 * 14.25 = 3.5 over the batch of two, divided
 * by 2 where the release divides (tf.keras 2, Keras 3.14+). */
START_TEST(test_activity_regularization_penalty)
{
    float x[4] = {1, -2, 3, 0.5f};
    ck_tensor tx = {.rank = 2, .dims = {2, 2}, .data = x}, ty = tx;
    const struct {
        ck_keras_semantics sem;
        const char *version;
        double loss;
    } rows[] = {{CK_KERAS2, "2.12.0", 1.75},
                {CK_KERAS2, "2.2.4", 3.5},
                {CK_KERAS3, "3.3.3", 3.5},
                {CK_KERAS3, "3.15.1", 1.75}};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        ck_model *m = areg_model(rows[i].sem, rows[i].version);
        float y[4];
        ck_assert_ok(ck_model_predict(m, x, 2, y));
        ck_assert(memcmp(x, y, sizeof y) == 0);
        double loss;
        ck_assert_ok(ck_model_evaluate(m, &tx, &ty, 2, &loss, NULL));
        ck_assert_msg(fabs(loss - rows[i].loss) < 1e-6, "Keras %s: loss %.9g, expected %.9g",
                      rows[i].version, loss, rows[i].loss);
        ck_assert_uint_eq(ck_model_count_params(m), 0);
        ck_model_free(m);
    }
}
END_TEST

/* Dense > ActivityRegularization > Dense: one SGD step (learning rate 1)
 * moves every weight by minus the finite-difference gradient of the
 * evaluated loss, the penalty included. */
START_TEST(test_activity_regularization_gradients)
{
    ck_model *m = ck_sequential(.seed = 4);
    ck_assert_ok(ck_model_add(m, ck_input(2)));
    ck_assert_ok(ck_model_add(m, ck_dense(3, .activation = "tanh")));
    ck_assert_ok(ck_model_add(m, ck_activity_regularization(.l1 = 0.05, .l2 = 0.3)));
    ck_assert_ok(ck_model_add(m, ck_dense(2)));
    ck_assert_ok(ck_model_build(m));
    ck_fd_check_sgd_step(m);
    ck_model_free(m);
}
END_TEST

/* Keras writes {"l1", "l2"} in every release (Keras 3 pops the base
 * config's activity_regularizer); ckeras writes no activity_regularizer for
 * it and refuses one, as Keras 3 does (a second keyword argument). */
START_TEST(test_activity_regularization_config)
{
    assert_config("ActivityRegularization", "{\"name\":\"a\",\"l1\":0.01,\"l2\":0.0}",
                  "{\"l1\":0.01,\"l2\":0}");
    assert_config("ActivityRegularization", "{\"name\":\"a\",\"trainable\":true}",
                  "{\"l1\":0,\"l2\":0}");
    assert_refused("ActivityRegularization", "{\"l1\":0.01,\"l3\":1}", "l3");
    assert_refused("ActivityRegularization", "{\"l1\":-0.01}", "l1");
    cJSON *cfg = cJSON_Parse("{\"name\":\"a\",\"l1\":0.5,\"l2\":0.25,"
                             "\"activity_regularizer\":null}");
    ck_layer *l = ck_layer_from_config("ActivityRegularization", cfg, CK_KERAS3);
    ck_assert_msg(l != NULL, "%s", ck_last_error());
    cJSON *out = cJSON_CreateObject();
    ck_assert_ok(ck_layer_get_config(l, out));
    char *text = cJSON_PrintUnformatted(out);
    ck_assert_str_eq(text, "{\"l1\":0.5,\"l2\":0.25}");
    free(text);
    cJSON_Delete(out);
    cJSON_Delete(cfg);
    ck_assert_fails(ck_layer_set_regularizer(l, "activity", ck_l2(0.1)), CK_ERR_ARGUMENT);
    ck_layer_free(l);
    cfg = cJSON_Parse("{\"l1\":0.5,\"activity_regularizer\":{\"class_name\":\"L2\","
                      "\"config\":{\"l2\":0.1}}}");
    ck_assert_ptr_null(ck_layer_from_config("ActivityRegularization", cfg, CK_KERAS3));
    ck_assert_int_eq(ck_error_status(), CK_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "activity_regularizer"));
    cJSON_Delete(cfg);
    ck_assert_ptr_null(ck_activity_regularization(.l2 = INFINITY));
}
END_TEST

/* ------------------------------------------------------------ all five */

/* A model of the five layers in summary: no parameters, Keras's shapes. */
START_TEST(test_summary_rows)
{
    ck_model *m = ck_sequential(.seed = 1);
    ck_assert_ok(ck_model_add(m, ck_input(5, 3)));
    ck_assert_ok(ck_model_add(m, ck_gaussian_dropout(.rate = 0.2)));
    ck_assert_ok(ck_model_add(m, ck_zero_padding1d(.padding = {1, 2})));
    ck_assert_ok(ck_model_add(m, ck_alpha_dropout(.rate = 0.1)));
    ck_assert_ok(ck_model_add(m, ck_up_sampling1d()));
    ck_assert_ok(ck_model_add(m, ck_cropping1d()));
    ck_assert_ok(ck_model_build(m));
    char *text = ck_test_summary(m, CK_SUMMARY_KERAS2);
    /* tf.keras 2.6's columns: the name cut at 29 characters */
    const char *rows[] = {"gaussian_dropout (GaussianDr (None, 5, 3)              0 ",
                          "zero_padding1d (ZeroPadding1 (None, 8, 3)              0 ",
                          "alpha_dropout (AlphaDropout) (None, 8, 3)              0 ",
                          "up_sampling1d (UpSampling1D) (None, 16, 3)             0 ",
                          "cropping1d (Cropping1D)      (None, 14, 3)             0 ",
                          "Total params: 0"};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        ck_assert_msg(strstr(text, rows[i]), "summary lacks '%s':\n%s", rows[i], text);
    free(text);
    ck_model_free(m);
}
END_TEST

/* Every allocation of construction, build, a training forward and a
 * backward may fail: the error is CK_ERR_MEMORY and nothing leaks (ASan). */
static int sequence_layers(ck_layer **out, int cap)
{
    ck_layer *layers[] = {ck_gaussian_dropout(.rate = 0.2), ck_zero_padding1d(.padding = {1, 2}),
                          ck_alpha_dropout(.rate = 0.1, .noise_shape = {CK_NONE, 1, CK_NONE},
                                           .noise_rank = 3),
                          ck_up_sampling1d(), ck_cropping1d()};
    int n = (int)(sizeof layers / sizeof layers[0]);
    ck_assert_int_le(n, cap);
    memcpy(out, layers, sizeof layers);
    return n;
}

START_TEST(test_allocation_failures)
{
    float x[2 * 5 * 3], dy[2 * 14 * 3];
    for (int i = 0; i < 2 * 5 * 3; i++)
        x[i] = (float)i / 10;
    for (int i = 0; i < 2 * 14 * 3; i++)
        dy[i] = 1;
    ck_tensor tx = {.rank = 3, .dims = {2, 5, 3}, .data = x},
              tdy = {.rank = 3, .dims = {2, 14, 3}, .data = dy};
    ck_test_survives_alloc_failures(sequence_layers, &tx, &tdy, 200);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("sequence_layers");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_gaussian_dropout_noise);
    tcase_add_test(tc, test_gaussian_dropout_backward_and_options);
    tcase_add_test(tc, test_gaussian_dropout_config);
    tcase_add_test(tc, test_alpha_dropout_formula);
    tcase_add_test(tc, test_alpha_dropout_statistics);
    tcase_add_test(tc, test_alpha_dropout_noise_shape);
    tcase_add_test(tc, test_alpha_dropout_config);
    tcase_add_test(tc, test_resize_forward);
    tcase_add_test(tc, test_resize_shapes_and_options);
    tcase_add_test(tc, test_resize_backward);
    tcase_add_test(tc, test_resize_config);
    tcase_add_test(tc, test_resize_drops_mask);
    tcase_add_test(tc, test_activity_regularization_penalty);
    tcase_add_test(tc, test_activity_regularization_gradients);
    tcase_add_test(tc, test_activity_regularization_config);
    tcase_add_test(tc, test_summary_rows);
    tcase_add_test(tc, test_allocation_failures);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ck_test_run(suite());
}
