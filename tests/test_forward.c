/* Forward passes: Keras golden numbers (keras-facts.md 12), then an
 * independent double-precision LSTM written out naively here and compared
 * with ckeras for every activation pairing and option, Dense on 3-D
 * input, predict chunking, initial and carried (stateful) state. */
#include "ck_test.h"

#include <stdint.h>
#include <string.h>

/* ---------------------------------------------------------------- helpers */

static uint64_t lcg_state = 12345;

static double urand(double lo, double hi)
{
    lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * (double)(lcg_state >> 11) * 0x1.0p-53;
}

static float *random_floats(size_t n, double lo, double hi)
{
    float *v = malloc(n * sizeof *v);
    ck_assert_ptr_nonnull(v);
    for (size_t i = 0; i < n; i++)
        v[i] = (float)urand(lo, hi);
    return v;
}

static ck_tensor layer_weight(ck_model *m, int layer, int index)
{
    ck_tensor t;
    ck_assert_ok(ck_layer_weight(ck_model_layer(m, layer), index, NULL, &t));
    return t;
}

static size_t tensor_count(const ck_tensor *t)
{
    size_t n = 1;
    for (int i = 0; i < t->rank; i++)
        n *= (size_t)t->dims[i];
    return n;
}

static void set_weight(ck_model *m, int layer, int index, const float *v, size_t n)
{
    ck_tensor t = layer_weight(m, layer, index);
    ck_assert_uint_eq(tensor_count(&t), n);
    memcpy(t.data, v, n * sizeof(float));
}

/* Predicts on a (batch, T, F) input, T possibly different from the model's
 * declared timesteps when those are open. */
static void predict3(ck_model *m, const float *x, int64_t b, int64_t t, int64_t f, float *y,
                     size_t cap)
{
    ck_tensor tx = {.rank = 3, .dims = {b, t, f}, .data = (float *)x};
    ck_tensor ty = {.rank = 1, .dims = {(int64_t)cap}, .data = y};
    ck_assert_ok(ck_model_predict_tensor(m, &tx, &ty));
}

/* One assertion for the whole array: in Check's fork mode every assertion
 * is a write to a pipe, and the joint-product tests compare 532,480 values. */
static void assert_close_arrays(const float *got, const double *want, size_t n, double rel,
                                const char *what)
{
    size_t i = 0;
    while (i < n && fabs(got[i] - want[i]) <= rel * fmax(1.0, fabs(want[i])))
        i++;
    ck_assert_msg(i == n, "%s[%zu] = %.9g, reference %.9g", what, i, i < n ? got[i] : 0.0,
                  i < n ? want[i] : 0.0);
}

/* ---------------------------------------------------------------- reference LSTM */

static double ref_act(const char *name, double x)
{
    if (!strcmp(name, "tanh"))
        return tanh(x);
    if (!strcmp(name, "relu"))
        return x > 0 ? x : 0;
    if (!strcmp(name, "sigmoid"))
        return 1.0 / (1.0 + exp(-x));
    if (!strcmp(name, "hard_sigmoid"))
        return fmin(1.0, fmax(0.0, 0.2 * x + 0.5));
    if (!strcmp(name, "linear"))
        return x;
    if (!strcmp(name, "elu"))
        return x > 0 ? x : exp(x) - 1.0;
    ck_abort_msg("no reference for %s", name);
    return 0;
}

typedef struct ref_lstm {
    int F, U;
    const char *act, *ract;
    bool use_bias, go_backwards, return_sequences;
    const float *W, *R, *b; /* (F,4U), (U,4U), (4U) with gates i, f, c, o */
} ref_lstm;

/* One sample, straight from the equations: z = x W + h R + b;
 * i, f, o = ract(z); c = f c + i act(z_c); h = o act(c). */
static void ref_lstm_sample(const ref_lstm *r, const float *x, int T, double *h, double *c,
                            double *y)
{
    int U = r->U, G = 4 * U;
    double *z = malloc(sizeof(double) * (size_t)G);
    for (int step = 0; step < T; step++) {
        int t = r->go_backwards ? T - 1 - step : step;
        for (int g = 0; g < G; g++) {
            double acc = r->use_bias ? r->b[g] : 0.0;
            for (int f = 0; f < r->F; f++)
                acc += (double)x[t * r->F + f] * r->W[f * G + g];
            for (int k = 0; k < U; k++)
                acc += h[k] * r->R[k * G + g];
            z[g] = acc;
        }
        for (int j = 0; j < U; j++) {
            double i = ref_act(r->ract, z[j]), f = ref_act(r->ract, z[U + j]);
            double cand = ref_act(r->act, z[2 * U + j]), o = ref_act(r->ract, z[3 * U + j]);
            c[j] = f * c[j] + i * cand;
            h[j] = o * ref_act(r->act, c[j]);
        }
        if (r->return_sequences)
            memcpy(y + (size_t)step * (size_t)U, h, sizeof(double) * (size_t)U);
    }
    if (!r->return_sequences)
        memcpy(y, h, sizeof(double) * (size_t)U);
    free(z);
}

/* Whole batch; h0/c0 may be NULL (zeros); hT/cT may be NULL. */
static void ref_lstm_run(const ref_lstm *r, const float *x, int B, int T, const float *h0,
                         const float *c0, double *y, double *hT, double *cT)
{
    int U = r->U;
    size_t out_sample = (size_t)(r->return_sequences ? T * U : U);
    double *h = malloc(sizeof(double) * (size_t)U), *c = malloc(sizeof(double) * (size_t)U);
    for (int b = 0; b < B; b++) {
        for (int j = 0; j < U; j++) {
            h[j] = h0 ? h0[b * U + j] : 0.0;
            c[j] = c0 ? c0[b * U + j] : 0.0;
        }
        ref_lstm_sample(r, x + (size_t)b * (size_t)T * (size_t)r->F, T, h, c,
                        y + (size_t)b * out_sample);
        if (hT)
            memcpy(hT + b * U, h, sizeof(double) * (size_t)U);
        if (cT)
            memcpy(cT + b * U, c, sizeof(double) * (size_t)U);
    }
    free(h);
    free(c);
}

/* A model Input(T, F) > LSTM(opts) whose weights are replaced by random
 * values; r receives views of them for the reference. */
static ck_model *random_lstm_model(ck_lstm_options o, int64_t T, int F, ref_lstm *r)
{
    ck_model *m = ck_sequential(.seed = 1);
    ck_assert_ok(ck_model_add(m, ck_input(T, F)));
    ck_assert_ok(ck_model_add(m, ck_lstm_new(&o)));
    ck_assert_ok(ck_model_build(m));
    /* Scaled so that even linear/relu cells stay in a sane range. */
    double s = 1.5 / sqrt((double)(F + o.units));
    int n = ck_layer_weight_count(ck_model_layer(m, 0));
    ck_assert_int_eq(n, o.no_bias ? 2 : 3);
    for (int k = 0; k < n; k++) {
        ck_tensor t = layer_weight(m, 0, k);
        for (size_t i = 0; i < tensor_count(&t); i++)
            t.data[i] = (float)urand(-s, s);
    }
    *r = (ref_lstm){
        .F = F,
        .U = o.units,
        .act = o.activation ? o.activation : "tanh",
        .ract = o.recurrent_activation ? o.recurrent_activation : "sigmoid",
        .use_bias = !o.no_bias,
        .go_backwards = o.go_backwards,
        .return_sequences = o.return_sequences,
        .W = layer_weight(m, 0, 0).data,
        .R = layer_weight(m, 0, 1).data,
        .b = o.no_bias ? NULL : layer_weight(m, 0, 2).data,
    };
    return m;
}

/* Runs ckeras and the reference on the same random input and compares. */
static void compare_lstm(ck_lstm_options o, int B, int T, int F)
{
    ref_lstm r;
    ck_model *m = random_lstm_model(o, T, F, &r);
    size_t out_n = (size_t)B * (size_t)(o.return_sequences ? T * o.units : o.units);
    float *x = random_floats((size_t)B * (size_t)T * (size_t)F, -1.0, 1.0);
    float *y = malloc(out_n * sizeof *y);
    double *want = malloc(out_n * sizeof *want);
    ck_assert_ok(ck_model_predict(m, x, B, y));
    ref_lstm_run(&r, x, B, T, NULL, NULL, want, NULL, NULL);
    char what[160];
    snprintf(what, sizeof what, "LSTM(%d, %s/%s%s%s%s) B=%d", o.units, r.act, r.ract,
             o.return_sequences ? ", seq" : "", o.go_backwards ? ", backwards" : "",
             o.no_bias ? ", no bias" : "", B);
    assert_close_arrays(y, want, out_n, 2e-5, what);
    free(x);
    free(y);
    free(want);
    ck_model_free(m);
}

static const char *const cell_acts[] = {"tanh", "relu", "sigmoid", "hard_sigmoid", "linear", "elu"};
static const char *const rec_acts[] = {"sigmoid", "hard_sigmoid", "tanh"};

/* _i enumerates activation x recurrent activation x sequences x backwards x bias. */
START_TEST(test_lstm_every_pairing)
{
    int i = _i;
    ck_lstm_options o = {.units = 5};
    o.no_bias = i & 1;
    o.go_backwards = (i >> 1) & 1;
    o.return_sequences = (i >> 2) & 1;
    o.recurrent_activation = rec_acts[(i >> 3) % 3];
    o.activation = cell_acts[(i >> 3) / 3];
    compare_lstm(o, 1, 6, 4);
    compare_lstm(o, 3, 6, 4);
}
END_TEST

/* Above 64 units inference uses heap scratch instead of the stack. */
START_TEST(test_lstm_wide)
{
    static const struct {
        int units;
        const char *act, *ract;
    } c[] = {{65, "tanh", "sigmoid"}, {100, "relu", "hard_sigmoid"}, {130, "elu", "tanh"}};
    for (int k = 0; k < 3; k++)
        for (int v = 0; v < 4; v++) {
            ck_lstm_options o = {.units = c[k].units,
                                 .activation = c[k].act,
                                 .recurrent_activation = c[k].ract,
                                 .return_sequences = v & 1,
                                 .go_backwards = v >> 1};
            compare_lstm(o, 3, 4, 7);
        }
    compare_lstm((ck_lstm_options){.units = 64}, 2, 3, 5); /* at the boundary */
}
END_TEST

/* From 16 samples inference takes two groups of samples through the steps
 * as separate tasks (lstm.c, splits_samples), groups of unequal size when
 * the batch is odd; each sample must still get its own reference output. */
START_TEST(test_lstm_sample_groups)
{
    static const int batches[] = {16, 17, 33};
    for (int v = 0; v < 8; v++) {
        ck_lstm_options o = {.units = 24,
                             .activation = v & 1 ? "relu" : "tanh",
                             .return_sequences = (v >> 1) & 1,
                             .go_backwards = (v >> 2) & 1};
        for (int k = 0; k < 3; k++)
            compare_lstm(o, batches[k], 5, 7);
    }
}
END_TEST

/* Predicts x (B, T, F) in batches of `chunk` samples into y. */
static void predict_in_batches(ck_model *m, const float *x, int B, int T, int F, int chunk,
                               float *y, size_t out_sample)
{
    for (int b = 0; b < B; b += chunk)
        predict3(m, x + (size_t)b * (size_t)T * (size_t)F, chunk, T, F, y + (size_t)b * out_sample,
                 (size_t)chunk * out_sample);
}

static void assert_same_floats(const float *got, const float *want, size_t n, const char *what)
{
    double *w = malloc(n * sizeof *w);
    for (size_t i = 0; i < n; i++)
        w[i] = want[i];
    assert_close_arrays(got, w, n, 1e-5, what);
    free(w);
}

/* Inference of a long, wide batch (B*T*4u pre-activations over 8 MB) projects per
 * step, with x_t and h_{t-1} in one product against [W; U]; small batches
 * take the separate products, which the tests above hold to the
 * reference. Both must agree for each option the joint product handles. */
enum { JB = 128, JT = 130, JF = 4, JU = 32 };

START_TEST(test_lstm_joint_step_product)
{
    ref_lstm r;
    /* _i: each activation with sequences and without, backwards or not. */
    ck_lstm_options o = {.units = JU,
                         .activation = _i & 1 ? "relu" : "tanh",
                         .return_sequences = _i >> 1,
                         .go_backwards = (_i ^ (_i >> 1)) & 1};
    ck_model *m = random_lstm_model(o, JT, JF, &r);
    size_t out_sample = (size_t)(o.return_sequences ? JT * JU : JU), n = JB * out_sample;
    float *x = random_floats((size_t)JB * JT * JF, -1, 1);
    float *joint = malloc(n * sizeof(float)), *apart = malloc(n * sizeof(float));
    ck_assert_ok(ck_model_predict(m, x, JB, joint));
    predict_in_batches(m, x, JB, JT, JF, 8, apart, out_sample);
    assert_same_floats(joint, apart, n, "one batch of 128 against batches of 8");
    free(x);
    free(joint);
    free(apart);
    ck_model_free(m);
}
END_TEST

/* The joint product keeps h in its own rows: a stateful layer must still
 * carry the state from one call to the next, and an initial state in. */
START_TEST(test_lstm_joint_step_product_state)
{
    ref_lstm r, r2;
    ck_lstm_options o = {.units = JU, .stateful = true, .return_sequences = true};
    ck_model *m = random_lstm_model(o, CK_NONE, JF, &r);
    o.stateful = false;
    ck_model *whole = random_lstm_model(o, 2 * JT, JF, &r2);
    for (int k = 0; k < 3; k++) {
        ck_tensor t = layer_weight(m, 0, k);
        set_weight(whole, 0, k, t.data, tensor_count(&t));
    }
    size_t half = (size_t)JT * JF, half_out = (size_t)JT * JU;
    float *x = random_floats(JB * 2 * half, -1, 1), *first = malloc(sizeof(float) * JB * half),
          *second = malloc(sizeof(float) * JB * half);
    for (int b = 0; b < JB; b++) {
        memcpy(first + b * half, x + 2 * b * half, sizeof(float) * half);
        memcpy(second + b * half, x + (2 * b + 1) * half, sizeof(float) * half);
    }
    float *y = malloc(sizeof(float) * JB * half_out),
          *want = malloc(sizeof(float) * JB * 2 * half_out);
    predict_in_batches(whole, x, JB, 2 * JT, JF, 8, want, 2 * half_out);
    predict3(m, first, JB, JT, JF, y, JB * half_out);
    predict3(m, second, JB, JT, JF, y, JB * half_out);
    for (int b = 0; b < JB; b++)
        assert_same_floats(y + b * half_out, want + (2 * b + 1) * half_out, half_out,
                           "the second stateful half against the whole sequence");
    free(x);
    free(first);
    free(second);
    free(y);
    free(want);
    ck_model_free(m);
    ck_model_free(whole);
}
END_TEST

/* predict writes its output in place of an input it is still reading only
 * through a copy: the same array as x and y gives the same numbers. */
START_TEST(test_predict_into_its_input)
{
    enum { B = 300, F = 6 };
    ck_model *m = ck_sequential(.seed = 3);
    ck_assert_ok(ck_model_add(m, ck_input(F)));
    ck_assert_ok(ck_model_add(m, ck_dense(F)));
    float *x = random_floats(B * F, -1, 1), *y = malloc(sizeof(float) * B * F);
    ck_assert_ok(ck_model_predict(m, x, B, y));
    ck_assert_ok(ck_model_predict(m, x, B, x));
    ck_assert_mem_eq(x, y, sizeof(float) * B * F);
    free(x);
    free(y);
    ck_model_free(m);
}
END_TEST

START_TEST(test_go_backwards_sequence_order)
{
    /* With return_sequences the output is in processing order: its last
     * step is h_T of the same layer without return_sequences, and its
     * first step has seen only the last input step. */
    enum { B = 2, T = 5, F = 3, U = 4 };
    ref_lstm r;
    ck_model *seq = random_lstm_model(
        (ck_lstm_options){.units = U, .go_backwards = true, .return_sequences = true}, T, F, &r);
    ck_model *last = ck_sequential();
    ck_assert_ok(ck_model_add(last, ck_input(T, F)));
    ck_assert_ok(ck_model_add(last, ck_lstm(U, .go_backwards = true)));
    ck_model *one = ck_sequential();
    ck_assert_ok(ck_model_add(one, ck_input(1, F)));
    ck_assert_ok(ck_model_add(one, ck_lstm(.units = U)));
    ck_assert_ok(ck_model_build(last));
    ck_assert_ok(ck_model_build(one));
    for (int k = 0; k < 3; k++) {
        ck_tensor w = layer_weight(seq, 0, k);
        set_weight(last, 0, k, w.data, tensor_count(&w));
        set_weight(one, 0, k, w.data, tensor_count(&w));
    }
    float *x = random_floats(B * T * F, -1, 1), ys[B * T * U], yl[B * U], y1[B * U], xl[B * F];
    for (int b = 0; b < B; b++)
        memcpy(xl + b * F, x + (b * T + T - 1) * F, sizeof(float) * F);
    ck_assert_ok(ck_model_predict(seq, x, B, ys));
    ck_assert_ok(ck_model_predict(last, x, B, yl));
    ck_assert_ok(ck_model_predict(one, xl, B, y1));
    for (int b = 0; b < B; b++)
        for (int j = 0; j < U; j++) {
            ck_assert_close(ys[(b * T + T - 1) * U + j], yl[b * U + j], 1e-6);
            ck_assert_close(ys[b * T * U + j], y1[b * U + j], 1e-6);
        }
    free(x);
    ck_model_free(seq);
    ck_model_free(last);
    ck_model_free(one);
}
END_TEST

/* ---------------------------------------------------------------- Keras golden numbers */

static ck_model *constant_lstm(ck_lstm_options o, int T, int F)
{
    o.kernel_initializer = (ck_init)CK_INIT("constant", .value = 0.01);
    o.recurrent_initializer = (ck_init)CK_INIT("constant", .value = 0.02);
    o.bias_initializer = (ck_init)CK_INIT("constant", .value = 0.03);
    ck_model *m = ck_sequential();
    ck_assert_ok(ck_model_add(m, ck_input(T, F)));
    ck_assert_ok(ck_model_add(m, ck_lstm_new(&o)));
    return m;
}

static void arange(float *x, int n)
{
    for (int i = 0; i < n; i++)
        x[i] = (float)i;
}

START_TEST(test_lstm_keras_golden)
{
    static const struct {
        ck_lstm_options o;
        double rows[3];
    } cases[] = {
        {{.units = 3}, {0.6288687, 0.86899155, 0.9460773}},
        {{.units = 3, .go_backwards = true}, {0.35622165, 0.74789524, 0.8872726}},
        {{.units = 3, .no_unit_forget_bias = true}, {0.57019705, 0.8661914, 0.9459622}},
        {{.units = 3, .no_bias = true}, {0.54986924, 0.86226785, 0.9443936}},
    };
    float x[72], y[9];
    arange(x, 72);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        ck_model *m = constant_lstm(cases[k].o, 6, 4);
        ck_assert_ok(ck_model_predict(m, x, 3, y));
        for (int b = 0; b < 3; b++)
            for (int j = 0; j < 3; j++)
                ck_assert_msg(fabs(y[b * 3 + j] - cases[k].rows[b]) < 2e-6,
                              "case %zu row %d: %.8f, Keras %.8f", k, b, y[b * 3 + j],
                              cases[k].rows[b]);
        ck_model_free(m);
    }
}
END_TEST

START_TEST(test_lstm_stateful_keras_golden)
{
    float x[24], first[8], y[8];
    arange(x, 24);
    ck_model *m = constant_lstm((ck_lstm_options){.units = 4, .stateful = true}, 3, 4);
    ck_assert_ok(ck_model_predict(m, x, 2, first));
    for (int round = 0; round < 2; round++) {
        ck_assert_ok(ck_model_predict(m, x, 2, y));
        for (int j = 0; j < 4; j++) {
            ck_assert_close(y[j], 0.3124785, 2e-6);
            ck_assert_close(y[4 + j], 0.6863672, 2e-6);
        }
        /* After reset the first call's values come back. */
        ck_assert_ok(ck_model_reset_states(m));
        ck_assert_ok(ck_model_predict(m, x, 2, y));
        ck_assert_mem_eq(y, first, sizeof first);
    }
    ck_model_free(m);
}
END_TEST

/* Keras keeps stateful LSTM state as (batch_size, units) variables: a
 * model whose input declares batch 2 predicts batches of 2 only. */
START_TEST(test_stateful_declared_batch)
{
    ck_lstm_options o = {.units = 4, .stateful = true};
    o.kernel_initializer = (ck_init)CK_INIT("constant", .value = 0.01);
    ck_model *m = ck_sequential();
    ck_assert_ok(
        ck_model_add(m, ck_input_new(&(ck_input_options){.shape = {3, 4}, .batch_size = 2})));
    ck_assert_ok(ck_model_add(m, ck_lstm_new(&o)));
    ck_assert_int_eq(ck_model_input_batch_size(m), 2);
    float x[36], y[12];
    arange(x, 36);
    ck_assert_fails(ck_model_predict(m, x, 3, y), CK_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "carries state between batches of 2"));
    ck_assert_ok(ck_model_predict(m, x, 2, y));
    ck_model_free(m);
    /* Without state any batch goes. */
    m = ck_sequential();
    ck_assert_ok(
        ck_model_add(m, ck_input_new(&(ck_input_options){.shape = {3, 4}, .batch_size = 2})));
    ck_assert_ok(ck_model_add(m, ck_lstm(4)));
    ck_assert_ok(ck_model_predict(m, x, 3, y));
    ck_model_free(m);
    ck_assert_int_eq(ck_model_input_batch_size(NULL), 0);
}
END_TEST

START_TEST(test_dense_keras_golden)
{
    const float kernel[4] = {1, -2, 3, -4}, bias[2] = {5, -6}, x[2] = {-1, 2};
    float y[2];
    ck_model *m = ck_sequential();
    ck_assert_ok(ck_model_add(m, ck_input(2)));
    ck_assert_ok(ck_model_add(m, ck_dense(2, .activation = "relu")));
    ck_assert_ok(ck_model_build(m));
    set_weight(m, 0, 0, kernel, 4);
    set_weight(m, 0, 1, bias, 2);
    ck_assert_ok(ck_model_predict(m, x, 1, y));
    ck_assert_float_eq(y[0], 10.0f);
    ck_assert_float_eq(y[1], 0.0f);
    ck_model_free(m);

    m = ck_sequential();
    ck_assert_ok(ck_model_add(m, ck_input(2)));
    ck_assert_ok(ck_model_add(m, ck_dense(2, .no_bias = true)));
    ck_assert_ok(ck_model_build(m));
    ck_assert_int_eq(ck_layer_weight_count(ck_model_layer(m, 0)), 1);
    set_weight(m, 0, 0, kernel, 4);
    ck_assert_ok(ck_model_predict(m, x, 1, y));
    ck_assert_float_eq(y[0], 5.0f);
    ck_assert_float_eq(y[1], -6.0f);
    ck_model_free(m);
}
END_TEST

START_TEST(test_softmax_keras_golden)
{
    const float x[6] = {1, 2, 1, -3, 0, 3};
    float y[6];
    ck_model *m = ck_sequential();
    ck_assert_ok(ck_model_add(m, ck_input(3)));
    ck_assert_ok(ck_model_add(m, ck_softmax()));
    ck_assert_ok(ck_model_predict(m, x, 2, y));
    ck_assert_close(y[0], 0.21194157, 1e-7);
    ck_assert_close(y[1], 0.5761169, 1e-7);
    ck_assert_close(y[2], 0.21194157, 1e-7);
    double s = exp(-3.0) + 1.0 + exp(3.0);
    ck_assert_close(y[3], exp(-3.0) / s, 1e-7);
    ck_assert_close(y[5], exp(3.0) / s, 1e-7);
    ck_model_free(m);
}
END_TEST

/* ---------------------------------------------------------------- Dense on 3-D input */

START_TEST(test_dense_3d_is_per_timestep)
{
    const char *acts[] = {"tanh", "softmax", NULL};
    for (int a = 0; a < 3; a++) {
        ck_model *seq = ck_sequential(.seed = 5), *flat = ck_sequential(.seed = 6);
        ck_assert_ok(ck_model_add(seq, ck_input(4, 6)));
        ck_assert_ok(ck_model_add(seq, ck_dense(5, .activation = acts[a],
                                                .bias_initializer = CK_INIT("random_normal"))));
        ck_assert_ok(ck_model_add(flat, ck_input(6)));
        ck_assert_ok(ck_model_add(flat, ck_dense(5, .activation = acts[a])));
        ck_assert_ok(ck_model_build(seq));
        ck_assert_ok(ck_model_build(flat));
        int rank;
        int64_t dims[CK_MAX_RANK];
        ck_assert_ok(ck_model_output_shape(seq, &rank, dims));
        ck_assert_int_eq(rank, 2);
        ck_assert_int_eq(dims[0], 4);
        ck_assert_int_eq(dims[1], 5);
        ck_assert_uint_eq(ck_model_count_params(seq), 35);
        set_weight(flat, 0, 0, layer_weight(seq, 0, 0).data, 30);
        set_weight(flat, 0, 1, layer_weight(seq, 0, 1).data, 5);
        float *x = random_floats(3 * 4 * 6, -2, 2), y3[60], y2[60];
        ck_assert_ok(ck_model_predict(seq, x, 3, y3));
        ck_assert_ok(ck_model_predict(flat, x, 12, y2));
        for (int i = 0; i < 60; i++)
            ck_assert_close(y3[i], y2[i], 1e-6);
        if (acts[a] && !strcmp(acts[a], "softmax"))
            for (int r = 0; r < 12; r++) {
                double s = 0;
                for (int j = 0; j < 5; j++)
                    s += y3[r * 5 + j];
                ck_assert_close(s, 1.0, 1e-6);
            }
        free(x);
        ck_model_free(seq);
        ck_model_free(flat);
    }
}
END_TEST

/* ---------------------------------------------------------------- flagship model */

static ck_model *flagship(uint64_t seed)
{
    ck_model *m = ck_sequential(.seed = seed);
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

/* Dense with the layer's own weights, in double. */
static void ref_dense(ck_model *m, int layer, const double *x, int F, int U, bool relu, double *y)
{
    const float *W = layer_weight(m, layer, 0).data, *b = layer_weight(m, layer, 1).data;
    for (int u = 0; u < U; u++) {
        double acc = b[u];
        for (int f = 0; f < F; f++)
            acc += x[f] * W[f * U + u];
        y[u] = relu ? fmax(acc, 0.0) : acc;
    }
}

/* The whole flagship model for one sample, from the reference pieces. */
static void ref_flagship(ck_model *m, const float *x, double out[3])
{
    static const int units[3] = {64, 128, 64}, feats[3] = {126, 64, 128};
    float *in = malloc(sizeof(float) * 5 * 128);
    double *seq = malloc(sizeof(double) * 5 * 128), h[128], c[128], d1[64], d2[32];
    memcpy(in, x, sizeof(float) * 5 * 126);
    for (int l = 0; l < 3; l++) {
        ref_lstm r = {.F = feats[l],
                      .U = units[l],
                      .act = "relu",
                      .ract = "sigmoid",
                      .use_bias = true,
                      .return_sequences = l < 2,
                      .W = layer_weight(m, l, 0).data,
                      .R = layer_weight(m, l, 1).data,
                      .b = layer_weight(m, l, 2).data};
        memset(h, 0, sizeof h);
        memset(c, 0, sizeof c);
        ref_lstm_sample(&r, in, 5, h, c, seq);
        for (int i = 0; i < 5 * units[l]; i++)
            in[i] = (float)seq[i];
    }
    ref_dense(m, 3, seq, 64, 64, true, d1);
    ref_dense(m, 4, d1, 64, 32, true, d2);
    ref_dense(m, 5, d2, 32, 3, false, out);
    double mx = fmax(out[0], fmax(out[1], out[2])), s = 0;
    for (int j = 0; j < 3; j++)
        s += out[j] = exp(out[j] - mx);
    for (int j = 0; j < 3; j++)
        out[j] /= s;
    free(in);
    free(seq);
}

START_TEST(test_flagship_batches_and_reference)
{
    enum { N = 300, SAMPLE = 5 * 126 };
    ck_model *m = flagship(99);
    float *x = random_floats((size_t)N * SAMPLE, 0.0, 1.0), *all = malloc(sizeof(float) * N * 3);
    float small[7 * 3];
    ck_assert_ok(ck_model_predict(m, x, N, all));
    /* Batches of 7 (one crosses the 256-sample chunk boundary) and of 1.
     * Different batch sizes may take different BLAS kernels, so allow
     * rounding-level differences only. */
    const int starts7[] = {0, 150, 252, 293};
    for (size_t k = 0; k < sizeof starts7 / sizeof starts7[0]; k++) {
        ck_assert_ok(ck_model_predict(m, x + (size_t)starts7[k] * SAMPLE, 7, small));
        for (int i = 0; i < 21; i++)
            ck_assert_close(small[i], all[starts7[k] * 3 + i], 1e-6);
    }
    const int singles[] = {0, 1, 255, 256, 257, 299};
    for (size_t k = 0; k < sizeof singles / sizeof singles[0]; k++) {
        ck_assert_ok(ck_model_predict(m, x + (size_t)singles[k] * SAMPLE, 1, small));
        for (int j = 0; j < 3; j++)
            ck_assert_close(small[j], all[singles[k] * 3 + j], 1e-6);
    }
    /* Against the independent reference, including samples after the chunk boundary. */
    for (size_t k = 0; k < sizeof singles / sizeof singles[0]; k++) {
        double want[3];
        ref_flagship(m, x + (size_t)singles[k] * SAMPLE, want);
        double s = 0;
        for (int j = 0; j < 3; j++) {
            ck_assert_close(all[singles[k] * 3 + j], want[j], 2e-5);
            s += all[singles[k] * 3 + j];
        }
        ck_assert_close(s, 1.0, 1e-5);
    }
    free(x);
    free(all);
    ck_model_free(m);
}
END_TEST

/* ---------------------------------------------------------------- states */

/* A carried state covers the whole batch, so predict must not split a
 * batch larger than its internal chunk (256) when a layer has state. */
START_TEST(test_state_with_batch_over_chunk)
{
    enum { B = 300, T = 3, F = 2, U = 4 };
    ck_model *m = ck_sequential(.seed = 3);
    ck_assert_ok(ck_model_add(m, ck_input(T, F)));
    ck_assert_ok(ck_model_add(m, ck_lstm(.units = U)));
    static float x[B * T * F], plain[B * U], zero_state[B * U], with_state[B * U];
    for (int i = 0; i < B * T * F; i++)
        x[i] = (float)((i * 37) % 11) / 11.0f - 0.5f;
    ck_assert_ok(ck_model_predict(m, x, B, plain));
    ck_assert_ok(ck_lstm_set_initial_state(ck_model_layer(m, 0), zero_state, zero_state, B));
    ck_assert_ok(ck_model_predict(m, x, B, with_state));
    for (int i = 0; i < B * U; i++)
        ck_assert_float_eq(plain[i], with_state[i]);
    ck_model_free(m);
}
END_TEST

/* A return_state layer keeps predict's batch whole (no chunks of 256), so
 * get_state sees every sample of the call, and only for that batch. */
START_TEST(test_get_state_after_batch_over_chunk)
{
    enum { B = 300, T = 3, F = 2, U = 4 };
    ref_lstm r;
    ck_model *m = random_lstm_model((ck_lstm_options){.units = U, .return_state = true}, T, F, &r);
    ck_layer *l = ck_model_layer(m, 0);
    float *x = random_floats(B * T * F, -1, 1), *y = malloc(sizeof(float) * B * U);
    float *h = malloc(sizeof(float) * B * U), *c = malloc(sizeof(float) * B * U);
    double *want = malloc(sizeof(double) * B * U), *hT = malloc(sizeof(double) * B * U);
    double *cT = malloc(sizeof(double) * B * U);
    ck_assert_ok(ck_model_predict(m, x, B, y));
    ref_lstm_run(&r, x, B, T, NULL, NULL, want, hT, cT);
    ck_assert_ok(ck_lstm_get_state(l, h, c, B));
    assert_close_arrays(h, hT, B * U, 2e-5, "h_T of 300 samples");
    assert_close_arrays(c, cT, B * U, 2e-5, "c_T of 300 samples");
    ck_assert_fails(ck_lstm_get_state(l, h, c, 100), CK_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "300"));
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "100"));
    free(x);
    free(y);
    free(h);
    free(c);
    free(want);
    free(hT);
    free(cT);
    ck_model_free(m);
}
END_TEST

START_TEST(test_lstm_initial_state_and_get_state)
{
    enum { B = 3, T = 4, F = 3, U = 5 };
    for (int v = 0; v < 4; v++) {
        ref_lstm r;
        ck_lstm_options o = {.units = U, .return_sequences = v & 1, .go_backwards = v >> 1};
        ck_model *m = random_lstm_model(o, T, F, &r);
        ck_layer *l = ck_model_layer(m, 0);
        float *x = random_floats(B * T * F, -1, 1), *h0 = random_floats(B * U, -1, 1);
        float *c0 = random_floats(B * U, -2, 2);
        size_t out_n = (size_t)B * (o.return_sequences ? T * U : U);
        float *y = malloc(out_n * sizeof *y), h[B * U], c[B * U];
        double *want = malloc(out_n * sizeof *want), hT[B * U], cT[B * U];

        ck_assert_ok(ck_lstm_set_initial_state(l, h0, c0, B));
        ck_assert_ok(ck_model_predict(m, x, B, y));
        ref_lstm_run(&r, x, B, T, h0, c0, want, hT, cT);
        assert_close_arrays(y, want, out_n, 2e-5, "with initial state");
        ck_assert_ok(ck_lstm_get_state(l, h, c, B));
        assert_close_arrays(h, hT, B * U, 2e-5, "h_T");
        assert_close_arrays(c, cT, B * U, 2e-5, "c_T");
        /* The initial state stays for the following calls. */
        float *again = malloc(out_n * sizeof *again);
        ck_assert_ok(ck_model_predict(m, x, B, again));
        ck_assert_mem_eq(again, y, out_n * sizeof(float));
        /* It is tied to its batch size. */
        ck_assert_fails(ck_model_predict(m, x, 2, again), CK_ERR_SHAPE);
        /* reset returns to zeros. */
        ck_assert_ok(ck_model_reset_states(m));
        ck_assert_ok(ck_model_predict(m, x, B, y));
        ref_lstm_run(&r, x, B, T, NULL, NULL, want, hT, cT);
        assert_close_arrays(y, want, out_n, 2e-5, "after reset");
        ck_assert_ok(ck_lstm_get_state(l, h, c, B));
        assert_close_arrays(c, cT, B * U, 2e-5, "c_T after reset");
        free(x);
        free(h0);
        free(c0);
        free(y);
        free(want);
        free(again);
        ck_model_free(m);
    }
}
END_TEST

START_TEST(test_lstm_state_errors)
{
    float v[10] = {0};
    ck_model *m = ck_sequential();
    ck_assert_ok(ck_model_add(m, ck_input(3, 2)));
    ck_assert_ok(ck_model_add(m, ck_lstm(.units = 5)));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 2)));
    ck_layer *lstm = ck_model_layer(m, 0), *dense = ck_model_layer(m, 1);
    ck_assert_fails(ck_lstm_get_state(lstm, v, v, 1), CK_ERR_STATE); /* never ran */
    ck_assert_fails(ck_lstm_set_initial_state(dense, v, v, 1), CK_ERR_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "Dense"));
    ck_assert_fails(ck_lstm_get_state(dense, v, v, 1), CK_ERR_ARGUMENT);
    ck_assert_fails(ck_lstm_set_initial_state(NULL, v, v, 1), CK_ERR_ARGUMENT);
    ck_assert_fails(ck_lstm_set_initial_state(lstm, NULL, v, 1), CK_ERR_ARGUMENT);
    ck_assert_fails(ck_lstm_set_initial_state(lstm, v, v, 0), CK_ERR_ARGUMENT);
    ck_assert_fails(ck_lstm_get_state(lstm, v, NULL, 1), CK_ERR_ARGUMENT);
    v[3] = NAN;
    ck_assert_fails(ck_lstm_set_initial_state(lstm, v, v, 2), CK_ERR_NUMERIC);
    ck_model_free(m);
}
END_TEST

START_TEST(test_lstm_stateful_halves)
{
    enum { B = 2, T = 6, H = 3, F = 3, U = 6 };
    for (int seq = 0; seq < 2; seq++) {
        ref_lstm r;
        ck_lstm_options o = {.units = U,
                             .stateful = true,
                             .return_sequences = seq,
                             .activation = "elu",
                             .recurrent_activation = "hard_sigmoid"};
        ck_model *m = random_lstm_model(o, CK_NONE, F, &r);
        float *x = random_floats(B * T * F, -1, 1), first[B * H * F], second[B * H * F];
        for (int b = 0; b < B; b++) {
            memcpy(first + b * H * F, x + b * T * F, sizeof(float) * H * F);
            memcpy(second + b * H * F, x + (b * T + H) * F, sizeof(float) * H * F);
        }
        size_t whole_n = (size_t)B * (seq ? T * U : U), half_n = (size_t)B * (seq ? H * U : U);
        double *want = malloc(whole_n * sizeof *want);
        float *y1 = malloc(half_n * sizeof(float)), *y2 = malloc(half_n * sizeof(float));
        ref_lstm_run(&r, x, B, T, NULL, NULL, want, NULL, NULL);
        for (int round = 0; round < 2; round++) {
            predict3(m, first, B, H, F, y1, half_n);
            predict3(m, second, B, H, F, y2, half_n);
            for (int b = 0; b < B; b++) {
                if (seq) {
                    assert_close_arrays(y1 + b * H * U, want + b * T * U, H * U, 2e-5,
                                        "first half");
                    assert_close_arrays(y2 + b * H * U, want + (b * T + H) * U, H * U, 2e-5,
                                        "second half");
                } else {
                    assert_close_arrays(y2 + b * U, want + b * U, U, 2e-5, "end of second half");
                }
            }
            ck_assert_ok(ck_model_reset_states(m));
        }
        /* Without a reset the state keeps running: a third call differs from the first. */
        predict3(m, first, B, H, F, y1, half_n);
        predict3(m, second, B, H, F, y2, half_n);
        predict3(m, first, B, H, F, y2, half_n);
        ck_assert(memcmp(y1, y2, half_n * sizeof(float)) != 0);
        free(x);
        free(want);
        free(y1);
        free(y2);
        ck_model_free(m);
    }
}
END_TEST

START_TEST(test_open_timesteps)
{
    /* Input(None, F): any sequence length works and matches the reference. */
    ref_lstm r;
    ck_model *m = random_lstm_model((ck_lstm_options){.units = 4, .return_sequences = true},
                                    CK_NONE, 3, &r);
    for (int T = 1; T <= 7; T += 3) {
        float *x = random_floats(2 * (size_t)T * 3, -1, 1), y[2 * 7 * 4];
        double want[2 * 7 * 4];
        ck_tensor tx = {.rank = 3, .dims = {2, T, 3}, .data = x};
        ck_tensor ty = {.rank = 1, .dims = {2 * 7 * 4}, .data = y};
        ck_assert_ok(ck_model_predict_tensor(m, &tx, &ty));
        ck_assert_int_eq(ty.rank, 3);
        ck_assert_int_eq(ty.dims[0], 2);
        ck_assert_int_eq(ty.dims[1], T);
        ck_assert_int_eq(ty.dims[2], 4);
        ref_lstm_run(&r, x, 2, T, NULL, NULL, want, NULL, NULL);
        assert_close_arrays(y, want, 2 * (size_t)T * 4, 2e-5, "open timesteps");
        free(x);
    }
    float x[6] = {0};
    float y[8];
    ck_assert_fails(ck_model_predict(m, x, 1, y), CK_ERR_SHAPE); /* needs predict_tensor */
    ck_model_free(m);
}
END_TEST

START_TEST(test_weightless_layers_in_a_stack)
{
    /* Dropout is the identity at inference; Activation applies its function. */
    ck_model *m = ck_sequential(.seed = 4);
    ck_assert_ok(ck_model_add(m, ck_input(4)));
    ck_assert_ok(ck_model_add(m, ck_dense(6, .bias_initializer = CK_INIT("random_uniform"))));
    ck_assert_ok(ck_model_add(m, ck_dropout(.rate = 0.5)));
    ck_assert_ok(ck_model_add(m, ck_activation(.activation = "tanh")));
    ck_model *plain = ck_sequential(.seed = 4);
    ck_assert_ok(ck_model_add(plain, ck_input(4)));
    ck_assert_ok(ck_model_add(plain, ck_dense(6, .activation = "tanh",
                                              .bias_initializer = CK_INIT("random_uniform"))));
    float x[8] = {0.5f, -1, 2, 0.1f, -0.3f, 0.7f, 1.1f, -2}, y1[12], y2[12];
    ck_assert_ok(ck_model_predict(m, x, 2, y1));
    ck_assert_ok(ck_model_predict(plain, x, 2, y2));
    for (int i = 0; i < 12; i++)
        ck_assert_close(y1[i], y2[i], 1e-6);
    ck_assert_uint_eq(ck_model_count_params(m), 30);
    ck_model_free(m);
    ck_model_free(plain);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("forward");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_lstm_keras_golden);
    tcase_add_test(tc, test_lstm_stateful_keras_golden);
    tcase_add_test(tc, test_stateful_declared_batch);
    tcase_add_test(tc, test_dense_keras_golden);
    tcase_add_test(tc, test_softmax_keras_golden);
    tcase_add_loop_test(tc, test_lstm_every_pairing, 0, 6 * 3 * 8);
    tcase_add_test(tc, test_lstm_wide);
    tcase_add_test(tc, test_lstm_sample_groups);
    tcase_add_loop_test(tc, test_lstm_joint_step_product, 0, 4);
    tcase_add_test(tc, test_lstm_joint_step_product_state);
    tcase_add_test(tc, test_predict_into_its_input);
    tcase_add_test(tc, test_go_backwards_sequence_order);
    tcase_add_test(tc, test_dense_3d_is_per_timestep);
    tcase_add_test(tc, test_flagship_batches_and_reference);
    tcase_add_test(tc, test_lstm_initial_state_and_get_state);
    tcase_add_test(tc, test_state_with_batch_over_chunk);
    tcase_add_test(tc, test_get_state_after_batch_over_chunk);
    tcase_add_test(tc, test_lstm_state_errors);
    tcase_add_test(tc, test_lstm_stateful_halves);
    tcase_add_test(tc, test_open_timesteps);
    tcase_add_test(tc, test_weightless_layers_in_a_stack);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ck_test_run(suite());
}
