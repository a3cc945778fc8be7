/* Initializers by Keras name: exact values for the deterministic ones,
 * bounds and moments for the random ones, orthogonality, fans as Keras
 * computes them (fused LSTM kernels), the RNG stream, seeds, and the LSTM
 * forget-gate bias. */
#include "ck_test.h"

#include "ck_internal.h"

#include <string.h>

static float *fill(ck_init init, int rank, const int64_t *dims, uint64_t seed)
{
    size_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= (size_t)dims[i];
    float *w = malloc(n * sizeof *w);
    ck_assert_ptr_nonnull(w);
    ck_rng rng;
    ck_rng_seed(&rng, seed);
    ck_assert_ok(ck_init_fill(&init, w, rank, dims, &rng));
    return w;
}

typedef struct stats {
    double mean, std, min, max;
} stats;

static stats moments(const float *w, size_t n)
{
    stats s = {0, 0, INFINITY, -INFINITY};
    for (size_t i = 0; i < n; i++) {
        s.mean += w[i];
        s.min = fmin(s.min, w[i]);
        s.max = fmax(s.max, w[i]);
    }
    s.mean /= (double)n;
    for (size_t i = 0; i < n; i++)
        s.std += (w[i] - s.mean) * (w[i] - s.mean);
    s.std = sqrt(s.std / (double)n);
    return s;
}

/* ---------------------------------------------------------------- RNG */

START_TEST(test_rng_stream_is_portable)
{
    /* xoshiro256** seeded by splitmix64, values computed independently. */
    ck_rng r;
    ck_rng_seed(&r, 0);
    ck_assert_uint_eq(ck_rng_u64(&r), 0x99ec5f36cb75f2b4ull);
    ck_assert_uint_eq(ck_rng_u64(&r), 0xbf6e1f784956452aull);
    ck_assert_uint_eq(ck_rng_u64(&r), 0x1a5f849d4933e6e0ull);
    ck_rng_seed(&r, 42);
    ck_assert_uint_eq(ck_rng_u64(&r), 0x15780b2e0c2ec716ull);
    ck_rng_seed(&r, 42);
    ck_assert_double_eq(ck_rng_uniform(&r), 0.08386297105988216);
    ck_assert_double_eq(ck_rng_uniform(&r), 0.3789802506626686);
}
END_TEST

START_TEST(test_rng_distributions)
{
    ck_rng r;
    ck_rng_seed(&r, 7);
    enum { N = 200000 };
    double su = 0, sn = 0, sn2 = 0;
    int counts[5] = {0};
    for (int i = 0; i < N; i++) {
        double u = ck_rng_uniform(&r);
        ck_assert(u >= 0.0 && u < 1.0);
        su += u;
        double z = ck_rng_normal(&r);
        ck_assert(isfinite(z));
        sn += z;
        sn2 += z * z;
        uint64_t b = ck_rng_below(&r, 5);
        ck_assert_uint_lt(b, 5);
        counts[b]++;
    }
    ck_assert_close(su / N, 0.5, 0.005);
    ck_assert_close(sn / N, 0.0, 0.01);
    ck_assert_close(sqrt(sn2 / N), 1.0, 0.01);
    for (int k = 0; k < 5; k++)
        ck_assert_close(counts[k] / (double)N, 0.2, 0.005);
    ck_assert_uint_eq(ck_rng_below(&r, 1), 0);
}
END_TEST

/* ---------------------------------------------------------------- simple kinds */

START_TEST(test_constants)
{
    int64_t d[2] = {3, 4};
    float *z = fill(CK_INIT("zeros"), 2, d, 1), *o = fill(CK_INIT("ones"), 2, d, 1);
    float *c = fill(CK_INIT("constant", .value = 0.03), 2, d, 1);
    float *cls = fill(CK_INIT("Constant", .value = -2.5), 2, d, 1); /* Keras class name */
    for (int i = 0; i < 12; i++) {
        ck_assert_float_eq(z[i], 0.0f);
        ck_assert_float_eq(o[i], 1.0f);
        ck_assert_float_eq(c[i], 0.03f);
        ck_assert_float_eq(cls[i], -2.5f);
    }
    free(z);
    free(o);
    free(c);
    free(cls);
}
END_TEST

START_TEST(test_random_uniform)
{
    int64_t d[1] = {100000};
    float *w = fill(CK_INIT("random_uniform"), 1, d, 3);
    stats s = moments(w, 100000);
    ck_assert(s.min >= -0.05 && s.max <= 0.05);
    ck_assert(s.min < -0.0499 && s.max > 0.0499);
    ck_assert_close(s.std, 0.1 / sqrt(12.0), 2e-4);
    free(w);
    w = fill(CK_INIT("random_uniform", .minval = 2.0, .maxval = 3.0), 1, d, 3);
    s = moments(w, 100000);
    ck_assert(s.min >= 2.0 && s.max <= 3.0);
    ck_assert_close(s.mean, 2.5, 0.005);
    ck_assert_close(s.std, 1.0 / sqrt(12.0), 0.003);
    free(w);
}
END_TEST

START_TEST(test_random_normal)
{
    int64_t d[1] = {200000};
    float *w = fill(CK_INIT("random_normal", .mean = 1.5, .stddev = 0.3), 1, d, 5);
    stats s = moments(w, 200000);
    ck_assert_close(s.mean, 1.5, 0.003);
    ck_assert_close(s.std, 0.3, 0.003);
    ck_assert(s.min < 1.5 - 4 * 0.3); /* not truncated */
    free(w);
    w = fill(CK_INIT("random_normal"), 1, d, 5);
    s = moments(w, 200000);
    ck_assert_close(s.mean, 0.0, 0.0005);
    ck_assert_close(s.std, 0.05, 0.0005);
    free(w);
}
END_TEST

START_TEST(test_truncated_normal)
{
    int64_t d[1] = {200000};
    float *w = fill(CK_INIT("truncated_normal", .mean = -1.0, .stddev = 0.5), 1, d, 9);
    stats s = moments(w, 200000);
    ck_assert(s.min >= -1.0 - 2 * 0.5 - 1e-6 && s.max <= -1.0 + 2 * 0.5 + 1e-6);
    ck_assert(s.min < -1.98 && s.max > -0.02);
    ck_assert_close(s.mean, -1.0, 0.003);
    /* A unit normal cut at +-2 has stddev 0.8796. */
    ck_assert_close(s.std, 0.5 * 0.87962566103423978, 0.003);
    free(w);
}
END_TEST

START_TEST(test_identity)
{
    int64_t d[2] = {3, 4};
    float *w = fill(CK_INIT("identity", .gain = 0.5), 2, d, 1);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++)
            ck_assert_float_eq(w[i * 4 + j], i == j ? 0.5f : 0.0f);
    free(w);
    ck_rng r;
    ck_rng_seed(&r, 1);
    float v[3];
    int64_t d1[1] = {3};
    ck_assert_fails(ck_init_fill(&CK_INIT("identity"), v, 1, d1, &r), CK_ERR_SHAPE);
}
END_TEST

/* ---------------------------------------------------------------- variance scaling */

typedef struct vs_case {
    const char *name;
    int rank;
    int64_t dims[3];
    bool uniform;
    double var; /* expected variance of the values */
} vs_case;

static const vs_case vs_cases[] = {
    /* LSTM(64) kernel on 126 features: fan_out is 4u = 256 (fused gates). */
    {"glorot_uniform", 2, {126, 256}, true, 6.0 / (126 + 256) / 3.0},
    {"glorot_uniform", 2, {64, 512}, true, 6.0 / (64 + 512) / 3.0},
    {"glorot_uniform", 3, {3, 40, 50}, true, 6.0 / (120 + 150) / 3.0}, /* receptive field 3 */
    {"glorot_normal", 2, {200, 300}, false, 2.0 / 500.0},
    {"he_uniform", 2, {150, 200}, true, 2.0 / 150.0},
    {"he_normal", 2, {150, 200}, false, 2.0 / 150.0},
    {"lecun_uniform", 2, {300, 100}, true, 1.0 / 300.0},
    {"lecun_normal", 2, {300, 100}, false, 1.0 / 300.0},
};

START_TEST(test_variance_scaling)
{
    const vs_case *c = &vs_cases[_i];
    size_t n = 1;
    for (int k = 0; k < c->rank; k++)
        n *= (size_t)c->dims[k];
    float *w = fill(CK_INIT(c->name), c->rank, c->dims, 11);
    stats s = moments(w, n);
    /* Bound: the uniform limit sqrt(3 var), or 2 untruncated stddevs. */
    double bound = c->uniform ? sqrt(3.0 * c->var) : 2.0 * sqrt(c->var) / 0.87962566103423978;
    ck_assert_msg(fmax(-s.min, s.max) <= bound * (1 + 1e-6), "%s: max |w| %g over bound %g",
                  c->name, fmax(-s.min, s.max), bound);
    ck_assert_msg(fmax(-s.min, s.max) >= bound * 0.99, "%s: max |w| %g far below bound %g", c->name,
                  fmax(-s.min, s.max), bound);
    ck_assert_close(s.mean, 0.0, 4.0 * sqrt(c->var / (double)n));
    ck_assert_msg(fabs(s.std * s.std / c->var - 1.0) < 0.03, "%s: variance %g, expected %g",
                  c->name, s.std * s.std, c->var);
    free(w);
}
END_TEST

START_TEST(test_glorot_lstm_limit)
{
    int64_t d[2] = {126, 256};
    float *w = fill(CK_INIT("glorot_uniform"), 2, d, 2);
    stats s = moments(w, 126 * 256);
    /* keras-facts.md 3: sqrt(6/(126+256)) = 0.12533, not the per-gate 0.18. */
    ck_assert(s.max <= 0.125327f && s.min >= -0.125327f);
    ck_assert(s.max > 0.1250 && s.min < -0.1250);
    ck_assert_close(s.std * s.std, 0.12533 * 0.12533 / 3.0, 1.5e-4);
    free(w);
}
END_TEST

START_TEST(test_variance_scaling_options)
{
    int64_t d[2] = {100, 400};
    float *w = fill(CK_INIT("variance_scaling", .scale = 2.0, .mode = "fan_out",
                            .distribution = "untruncated_normal"),
                    2, d, 4);
    stats s = moments(w, 40000);
    ck_assert_close(s.std * s.std / (2.0 / 400.0), 1.0, 0.03);
    ck_assert(s.max > 2.0 * sqrt(2.0 / 400.0) / 0.8796); /* not truncated */
    free(w);
    w = fill(CK_INIT("variance_scaling", .mode = "fan_avg", .distribution = "uniform"), 2, d, 4);
    s = moments(w, 40000);
    ck_assert(s.max <= sqrt(3.0 / 250.0) + 1e-7 && s.max > 0.99 * sqrt(3.0 / 250.0));
    free(w);
    /* Defaults: scale 1, fan_in, truncated normal. */
    w = fill(CK_INIT("variance_scaling"), 2, d, 4);
    s = moments(w, 40000);
    ck_assert_close(s.std * s.std / (1.0 / 100.0), 1.0, 0.03);
    ck_assert(s.max <= 2.0 * 0.1 / 0.87962566103423978 + 1e-6);
    free(w);
}
END_TEST

/* ---------------------------------------------------------------- orthogonal */

/* max |W W^T - g^2 I| (rows) or |W^T W - g^2 I| (columns). */
static double orthonormal_error(const float *w, int64_t rows, int64_t cols, bool by_rows,
                                double gain)
{
    int64_t n = by_rows ? rows : cols, len = by_rows ? cols : rows;
    double worst = 0;
    for (int64_t a = 0; a < n; a++)
        for (int64_t b = 0; b < n; b++) {
            double dot = 0;
            for (int64_t k = 0; k < len; k++) {
                double va = by_rows ? w[a * cols + k] : w[k * cols + a];
                double vb = by_rows ? w[b * cols + k] : w[k * cols + b];
                dot += va * vb;
            }
            worst = fmax(worst, fabs(dot - (a == b ? gain * gain : 0.0)));
        }
    return worst;
}

START_TEST(test_orthogonal)
{
    int64_t wide[2] = {64, 256}, tall[2] = {256, 64}, square[2] = {32, 32};
    float *w = fill(CK_INIT("orthogonal"), 2, wide, 21);
    ck_assert_double_le(orthonormal_error(w, 64, 256, true, 1.0), 1e-5);
    free(w);
    w = fill(CK_INIT("orthogonal"), 2, tall, 21);
    ck_assert_double_le(orthonormal_error(w, 256, 64, false, 1.0), 1e-5);
    free(w);
    w = fill(CK_INIT("orthogonal"), 2, square, 21);
    ck_assert_double_le(orthonormal_error(w, 32, 32, true, 1.0), 1e-5);
    ck_assert_double_le(orthonormal_error(w, 32, 32, false, 1.0), 1e-5);
    free(w);
    w = fill(CK_INIT("orthogonal", .gain = 2.0), 2, wide, 21);
    ck_assert_double_le(orthonormal_error(w, 64, 256, true, 2.0), 4e-5);
    float *unit = fill(CK_INIT("orthogonal"), 2, wide, 21);
    for (int i = 0; i < 64 * 256; i++)
        ck_assert_float_eq(w[i], 2.0f * unit[i]);
    free(w);
    free(unit);
    /* Rank 3 flattens the leading axes: (2, 8, 16) is a 16 x 16 matrix. */
    int64_t d3[3] = {2, 8, 16};
    w = fill(CK_INIT("orthogonal"), 3, d3, 5);
    ck_assert_double_le(orthonormal_error(w, 16, 16, true, 1.0), 1e-5);
    free(w);
}
END_TEST

START_TEST(test_orthogonal_is_random_and_seeded)
{
    int64_t d[2] = {8, 32};
    float *a = fill(CK_INIT("orthogonal"), 2, d, 1), *b = fill(CK_INIT("orthogonal"), 2, d, 1);
    float *c = fill(CK_INIT("orthogonal"), 2, d, 2);
    ck_assert_mem_eq(a, b, sizeof(float) * 256);
    int same = 0;
    for (int i = 0; i < 256; i++)
        same += a[i] == c[i];
    ck_assert_int_lt(same, 5);
    free(a);
    free(b);
    free(c);
    ck_rng r;
    ck_rng_seed(&r, 1);
    float v[4];
    int64_t d1[1] = {4};
    ck_assert_fails(ck_init_fill(&CK_INIT("orthogonal"), v, 1, d1, &r), CK_ERR_SHAPE);
}
END_TEST

/* ---------------------------------------------------------------- names */

START_TEST(test_unknown_names)
{
    ck_init bad = CK_INIT("glorot_uniformm");
    ck_assert_fails(ck_init_check(&bad), CK_ERR_NAME);
    const char *msg = ck_last_error();
    ck_assert_ptr_nonnull(strstr(msg, "glorot_uniformm"));
    const char *listed[] = {"zeros",          "ones",           "constant",
                            "random_normal",  "random_uniform", "truncated_normal",
                            "glorot_uniform", "glorot_normal",  "he_normal",
                            "he_uniform",     "lecun_normal",   "lecun_uniform",
                            "orthogonal",     "identity"};
    for (size_t k = 0; k < sizeof listed / sizeof listed[0]; k++) {
        ck_assert_msg(strstr(msg, listed[k]), "message does not list %s: %s", listed[k], msg);
        ck_assert_ok(ck_init_check(&CK_INIT(listed[k])));
    }
    ck_rng r;
    ck_rng_seed(&r, 1);
    float v[4];
    int64_t d[1] = {4};
    ck_assert_fails(ck_init_fill(&bad, v, 1, d, &r), CK_ERR_NAME);
    ck_assert_fails(ck_init_check(&CK_INIT("variance_scaling", .mode = "fan_sum")), CK_ERR_NAME);
    ck_assert_fails(ck_init_check(&CK_INIT("variance_scaling", .distribution = "cauchy")),
                    CK_ERR_NAME);
    ck_assert_fails(ck_init_check(&CK_INIT("random_normal", .stddev = -1)), CK_ERR_ARGUMENT);
    ck_assert_fails(ck_init_check(&CK_INIT("constant", .value = NAN)), CK_ERR_NUMERIC);

    /* Through the layer constructors: NULL with the same error. */
    ck_assert_ptr_null(ck_dense(4, .kernel_initializer = CK_INIT("he_normall")));
    ck_assert_int_eq(ck_error_status(), CK_ERR_NAME);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "he_normall"));
    ck_assert_ptr_null(ck_lstm(4, .recurrent_initializer = CK_INIT("orthogonall")));
    ck_assert_int_eq(ck_error_status(), CK_ERR_NAME);
    ck_assert_ptr_null(ck_lstm(4, .bias_initializer = CK_INIT("zeroes")));
    ck_assert_int_eq(ck_error_status(), CK_ERR_NAME);
}
END_TEST

/* ---------------------------------------------------------------- through layers */

static ck_model *flagship(uint64_t seed)
{
    ck_model *m = ck_sequential(.seed = seed);
    ck_assert_ptr_nonnull(m);
    ck_assert_ok(ck_model_add(m, ck_input(5, 126)));
    ck_assert_ok(ck_model_add(m, ck_lstm(64, .return_sequences = true, .activation = "relu")));
    ck_assert_ok(ck_model_add(m, ck_lstm(128, .return_sequences = true, .activation = "relu")));
    ck_assert_ok(ck_model_add(m, ck_lstm(64, .activation = "relu")));
    ck_assert_ok(ck_model_add(m, ck_dense(64, .activation = "relu")));
    ck_assert_ok(ck_model_add(m, ck_dense(32, .activation = "relu")));
    ck_assert_ok(ck_model_add(m, ck_dense(3, .activation = "softmax")));
    ck_assert_ok(ck_model_build(m));
    return m;
}

static ck_tensor weight(ck_model *m, int layer, int index, const char *name)
{
    ck_tensor t;
    const char *got;
    ck_assert_ok(ck_layer_weight(ck_model_layer(m, layer), index, &got, &t));
    ck_assert_str_eq(got, name);
    return t;
}

START_TEST(test_flagship_default_initializers)
{
    ck_model *m = flagship(1234);
    /* Kernel limits with fused fans (keras-facts.md 3). */
    const double limits[6] = {0.12533, 0.10206, 0.125, 0.21651, 0.25, 0.41404};
    for (int l = 0; l < 6; l++) {
        ck_tensor k = weight(m, l, 0, "kernel");
        size_t n = (size_t)(k.dims[0] * k.dims[1]);
        stats s = moments(k.data, n);
        ck_assert_msg(fmax(-s.min, s.max) <= limits[l] + 1e-5, "layer %d: max %g over %g", l,
                      fmax(-s.min, s.max), limits[l]);
        ck_assert_msg(fmax(-s.min, s.max) > 0.97 * limits[l], "layer %d: max %g far below %g", l,
                      fmax(-s.min, s.max), limits[l]);
    }
    /* LSTM recurrent kernels: orthonormal rows over the whole (u, 4u) matrix. */
    for (int l = 0; l < 3; l++) {
        ck_tensor r = weight(m, l, 1, "recurrent_kernel");
        ck_assert_int_eq(r.dims[1], 4 * r.dims[0]);
        ck_assert_double_le(orthonormal_error(r.data, r.dims[0], r.dims[1], true, 1.0), 1e-5);
    }
    /* LSTM bias: unit_forget_bias gives [0, 1, 0, 0] blocks. */
    for (int l = 0; l < 3; l++) {
        ck_tensor b = weight(m, l, 2, "bias");
        int64_t u = b.dims[0] / 4;
        for (int64_t j = 0; j < b.dims[0]; j++)
            ck_assert_float_eq(b.data[j], j >= u && j < 2 * u ? 1.0f : 0.0f);
    }
    for (int l = 3; l < 6; l++) {
        ck_tensor b = weight(m, l, 1, "bias");
        for (int64_t j = 0; j < b.dims[0]; j++)
            ck_assert_float_eq(b.data[j], 0.0f);
    }
    ck_model_free(m);
}
END_TEST

static size_t all_weights(ck_model *m, float **out)
{
    size_t total = ck_model_count_params(m), off = 0;
    *out = malloc(total * sizeof(float));
    for (int l = 0; l < ck_model_layer_count(m); l++)
        for (int k = 0; k < ck_layer_weight_count(ck_model_layer(m, l)); k++) {
            ck_tensor t;
            ck_assert_ok(ck_layer_weight(ck_model_layer(m, l), k, NULL, &t));
            size_t n = 1;
            for (int d = 0; d < t.rank; d++)
                n *= (size_t)t.dims[d];
            memcpy(*out + off, t.data, n * sizeof(float));
            off += n;
        }
    ck_assert_uint_eq(off, total);
    return total;
}

START_TEST(test_seeds)
{
    ck_model *a = flagship(42), *b = flagship(42), *c = flagship(43);
    float *wa, *wb, *wc;
    size_t n = all_weights(a, &wa);
    ck_assert_uint_eq(all_weights(b, &wb), n);
    ck_assert_uint_eq(all_weights(c, &wc), n);
    ck_assert_mem_eq(wa, wb, n * sizeof(float));
    size_t same = 0, nonconst = 0;
    for (size_t i = 0; i < n; i++)
        if (wa[i] != 0.0f && wa[i] != 1.0f) {
            nonconst++;
            same += wa[i] == wc[i];
        }
    ck_assert_uint_gt(nonconst, 200000);
    ck_assert_uint_lt(same, 100);
    free(wa);
    free(wb);
    free(wc);
    ck_model_free(a);
    ck_model_free(b);
    ck_model_free(c);
}
END_TEST

static ck_model *one_lstm(ck_lstm_options o)
{
    ck_model *m = ck_sequential(.seed = 3);
    ck_assert_ok(ck_model_add(m, ck_input(4, 6)));
    ck_assert_ok(ck_model_add(m, ck_lstm_new(&o)));
    ck_assert_ok(ck_model_build(m));
    return m;
}

START_TEST(test_lstm_bias_forget_block)
{
    /* Keras replaces the forget block with ones; it does not add 1. */
    ck_model *m = one_lstm(
        (ck_lstm_options){.units = 5, .bias_initializer = CK_INIT("constant", .value = 0.03)});
    ck_tensor b = weight(m, 0, 2, "bias");
    ck_assert_int_eq(b.dims[0], 20);
    for (int j = 0; j < 20; j++)
        ck_assert_float_eq(b.data[j], j >= 5 && j < 10 ? 1.0f : 0.03f);
    ck_model_free(m);

    m = one_lstm((ck_lstm_options){.units = 5,
                                   .bias_initializer = CK_INIT("constant", .value = 0.03),
                                   .no_unit_forget_bias = true});
    b = weight(m, 0, 2, "bias");
    for (int j = 0; j < 20; j++)
        ck_assert_float_eq(b.data[j], 0.03f);
    ck_model_free(m);

    m = one_lstm((ck_lstm_options){.units = 5, .no_bias = true});
    ck_assert_int_eq(ck_layer_weight_count(ck_model_layer(m, 0)), 2);
    ck_assert_uint_eq(ck_model_count_params(m), 4 * 5 * (6 + 5));
    ck_model_free(m);

    /* Explicit initializers reach the weights. */
    m = one_lstm((ck_lstm_options){.units = 3,
                                   .kernel_initializer = CK_INIT("constant", .value = 0.01),
                                   .recurrent_initializer = CK_INIT("identity", .gain = 2.0)});
    ck_tensor k = weight(m, 0, 0, "kernel"), r = weight(m, 0, 1, "recurrent_kernel");
    for (int i = 0; i < 6 * 12; i++)
        ck_assert_float_eq(k.data[i], 0.01f);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 12; j++)
            ck_assert_float_eq(r.data[i * 12 + j], i == j ? 2.0f : 0.0f);
    ck_model_free(m);
}
END_TEST

START_TEST(test_dense_initializers)
{
    ck_model *m = ck_sequential(.seed = 8);
    ck_assert_ok(ck_model_add(m, ck_input(10)));
    ck_assert_ok(ck_model_add(
        m, ck_dense(7, .kernel_initializer = CK_INIT("random_uniform", .minval = 1, .maxval = 2),
                    .bias_initializer = CK_INIT("constant", .value = -0.5))));
    ck_assert_ok(ck_model_build(m));
    ck_tensor k = weight(m, 0, 0, "kernel"), b = weight(m, 0, 1, "bias");
    ck_assert_int_eq(k.dims[0], 10);
    ck_assert_int_eq(k.dims[1], 7);
    stats s = moments(k.data, 70);
    ck_assert(s.min >= 1.0 && s.max <= 2.0 && s.max - s.min > 0.5);
    for (int j = 0; j < 7; j++)
        ck_assert_float_eq(b.data[j], -0.5f);
    ck_model_free(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("initializers");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_rng_stream_is_portable);
    tcase_add_test(tc, test_rng_distributions);
    tcase_add_test(tc, test_constants);
    tcase_add_test(tc, test_random_uniform);
    tcase_add_test(tc, test_random_normal);
    tcase_add_test(tc, test_truncated_normal);
    tcase_add_test(tc, test_identity);
    tcase_add_loop_test(tc, test_variance_scaling, 0, (int)(sizeof vs_cases / sizeof vs_cases[0]));
    tcase_add_test(tc, test_glorot_lstm_limit);
    tcase_add_test(tc, test_variance_scaling_options);
    tcase_add_test(tc, test_orthogonal);
    tcase_add_test(tc, test_orthogonal_is_random_and_seeded);
    tcase_add_test(tc, test_unknown_names);
    tcase_add_test(tc, test_flagship_default_initializers);
    tcase_add_test(tc, test_seeds);
    tcase_add_test(tc, test_lstm_bias_forget_block);
    tcase_add_test(tc, test_dense_initializers);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ck_test_run(suite());
}
