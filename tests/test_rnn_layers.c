/* GRU, SimpleRNN and Bidirectional: Keras golden numbers (the constant-
 * initializer cases of Keras's gru_test.py, simple_rnn_test.py and
 * bidirectional_test.py), an independent double-precision reference for
 * every option combination, parameter counts, summary rows, output shapes,
 * central finite-difference gradient checks of weights and inputs, config
 * round trips and error handling. */
#include "ck_gradcheck.h"
#include "ck_test.h"
#include "ck_internal.h"
#include "ck_layers.h"

#include <stdint.h>
#include <string.h>

/* ---------------------------------------------------------------- helpers */

static uint64_t lcg_state = 4242;

static double urand(double lo, double hi)
{
    lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * (double)(lcg_state >> 11) * 0x1.0p-53;
}

static void fill_random(float *v, size_t n, double lo, double hi)
{
    for (size_t i = 0; i < n; i++)
        v[i] = (float)urand(lo, hi);
}

static float *arange(size_t n)
{
    float *v = malloc(n * sizeof *v);
    ck_assert_ptr_nonnull(v);
    for (size_t i = 0; i < n; i++)
        v[i] = (float)i;
    return v;
}

/* A built Sequential model: Input(T, F) then `layer`. */
static ck_model *model_of(ck_layer *layer, int T, int F)
{
    ck_model *m = ck_sequential(.seed = 7);
    ck_assert_ptr_nonnull(m);
    ck_assert_ok(ck_model_add(m, ck_input(T, F)));
    ck_assert_ok(ck_model_add(m, layer));
    ck_assert_ok(ck_model_build(m));
    return m;
}

static void set_random_weights(ck_model *m)
{
    fill_random(m->params, m->n_params, -0.6, 0.6);
}

/* Keras's constant-initializer test layers: kernel 0.01, recurrent 0.02, bias 0.03. */
#define K_INITS                                                  \
    .kernel_initializer = CK_INIT("constant", .value = 0.01),    \
    .recurrent_initializer = CK_INIT("constant", .value = 0.02), \
    .bias_initializer = CK_INIT("constant", .value = 0.03)

/* y has room for exactly `ny` values. */
static void predict_n(ck_model *m, const float *x, int B, int T, int F, float *y, size_t ny)
{
    ck_tensor tx = {.rank = 3, .dims = {B, T, F}, .data = (float *)x};
    ck_tensor ty = {.rank = 1, .dims = {(int64_t)ny}, .data = y};
    ck_assert_ok(ck_model_predict_tensor(m, &tx, &ty));
}

/* Every row of y (rows x width) must equal its value in `expect` (rows
 * values when each row repeats one value, else rows*width). */
static void assert_rows(const float *y, int rows, int width, const double *expect, bool per_row)
{
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < width; j++)
            ck_assert_close(y[i * width + j], per_row ? expect[i] : expect[i * width + j], 2e-6);
}

/* ------------------------------------------------ naive double references */

static double act_d(const char *name, double x)
{
    if (!name || strcmp(name, "tanh") == 0)
        return tanh(x);
    if (strcmp(name, "sigmoid") == 0)
        return 1.0 / (1.0 + exp(-x));
    if (strcmp(name, "relu") == 0)
        return x > 0 ? x : 0;
    if (strcmp(name, "hard_sigmoid") == 0)
        return x < -2.5 ? 0 : x > 2.5 ? 1 : 0.2 * x + 0.5;
    ck_assert_str_eq(name, "linear");
    return x;
}

typedef struct ref_rnn {
    const char *cls; /* "GRU", "SimpleRNN", "LSTM" */
    int units;
    const char *act, *ract;
    bool seq, backwards, bias, reset_after;
    const float *W, *U, *b; /* Keras layouts */
} ref_rnn;

static int ref_gates(const ref_rnn *p)
{
    return strcmp(p->cls, "GRU") == 0 ? 3 : strcmp(p->cls, "LSTM") == 0 ? 4 : 1;
}

/* v (G) = x_t W + bias row `brow` (if any). */
static void ref_affine(const float *in, int n, const float *M, int G, const float *brow, double *v)
{
    for (int j = 0; j < G; j++) {
        double s = brow ? brow[j] : 0;
        for (int k = 0; k < n; k++)
            s += (double)in[k] * M[k * G + j];
        v[j] = s;
    }
}

static void ref_affine_d(const double *in, int n, const float *M, int G, const float *brow,
                         double *v)
{
    for (int j = 0; j < G; j++) {
        double s = brow ? brow[j] : 0;
        for (int k = 0; k < n; k++)
            s += in[k] * M[k * G + j];
        v[j] = s;
    }
}

/* One step of the cell for one sample; h (and c for LSTM) updated in place. */
static void ref_step(const ref_rnn *p, const float *xt, int F, double *h, double *c)
{
    int u = p->units, G = ref_gates(p) * u;
    double xv[512], hv[512], hh[64];
    const float *b_in = p->bias ? p->b : NULL;
    const float *b_rec = p->bias && p->reset_after ? p->b + G : NULL;
    ref_affine(xt, F, p->W, G, b_in, xv);
    if (strcmp(p->cls, "SimpleRNN") == 0) {
        ref_affine_d(h, u, p->U, G, NULL, hv);
        for (int j = 0; j < u; j++)
            h[j] = act_d(p->act, xv[j] + hv[j]);
    } else if (strcmp(p->cls, "LSTM") == 0) {
        ref_affine_d(h, u, p->U, G, NULL, hv);
        for (int j = 0; j < u; j++) {
            double i = act_d(p->ract, xv[j] + hv[j]), f = act_d(p->ract, xv[u + j] + hv[u + j]);
            double g = act_d(p->act, xv[2 * u + j] + hv[2 * u + j]);
            double o = act_d(p->ract, xv[3 * u + j] + hv[3 * u + j]);
            c[j] = f * c[j] + i * g;
            hh[j] = o * act_d(p->act, c[j]);
        }
        memcpy(h, hh, sizeof(double) * (size_t)u);
    } else {
        ref_affine_d(h, u, p->U, G, b_rec, hv);
        double z[64], r[64], rh[64], rhu[64];
        for (int j = 0; j < u; j++) {
            z[j] = act_d(p->ract, xv[j] + hv[j]);
            r[j] = act_d(p->ract, xv[u + j] + hv[u + j]);
            rh[j] = r[j] * h[j];
        }
        /* Without reset_after, U_h multiplies r * h (columns 2u.. of U). */
        for (int j = 0; j < u; j++) {
            double s = 0;
            for (int k = 0; k < u; k++)
                s += rh[k] * p->U[k * G + 2 * u + j];
            rhu[j] = s;
        }
        for (int j = 0; j < u; j++) {
            double pre = p->reset_after ? xv[2 * u + j] + r[j] * hv[2 * u + j]
                                        : xv[2 * u + j] + rhu[j];
            hh[j] = act_d(p->act, pre);
        }
        for (int j = 0; j < u; j++)
            h[j] = z[j] * h[j] + (1 - z[j]) * hh[j];
    }
}

/* y: (B, T, u) in processing order when seq, else (B, u). */
static void ref_run(const ref_rnn *p, const float *x, int B, int T, int F, double *y)
{
    int u = p->units;
    for (int b = 0; b < B; b++) {
        double h[64] = {0}, c[64] = {0};
        for (int step = 0; step < T; step++) {
            int t = p->backwards ? T - 1 - step : step;
            ref_step(p, x + ((size_t)b * T + t) * F, F, h, c);
            if (p->seq)
                memcpy(y + ((size_t)b * T + step) * u, h, sizeof(double) * (size_t)u);
        }
        if (!p->seq)
            memcpy(y + (size_t)b * u, h, sizeof(double) * (size_t)u);
    }
}

static ref_rnn ref_from_layer(ck_layer *l, const char *cls, int units, const char *act,
                              const char *ract, bool seq, bool backwards, bool bias,
                              bool reset_after, int first_weight)
{
    ck_tensor w[3] = {0};
    for (int i = 0; i < (bias ? 3 : 2); i++)
        ck_assert_ok(ck_layer_weight(l, first_weight + i, NULL, &w[i]));
    return (ref_rnn){cls,  units,       act,       ract,      seq,      backwards,
                     bias, reset_after, w[0].data, w[1].data, w[2].data};
}

/* ------------------------------------------------------ Keras golden numbers */

START_TEST(test_gru_keras_golden)
{
    float *x = arange(72);
    float y[9];
    const double def[] = {0.5217289, 0.6371659, 0.39384964},
                 back[] = {0.24406259, 0.611516, 0.3928808};
    const double no_ra[] = {0.51447755, 0.6426879, 0.40208298},
                 no_b[] = {0.49988455, 0.64701194, 0.4103359};
    struct {
        ck_layer *l;
        const double *expect;
    } cases[] = {
        {ck_gru(3, K_INITS), def},
        {ck_gru(3, K_INITS, .go_backwards = true), back},
        {ck_gru(3, K_INITS, .no_reset_after = true), no_ra},
        {ck_gru(3, K_INITS, .no_bias = true), no_b},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_model *m = model_of(cases[i].l, 6, 4);
        predict_n(m, x, 3, 6, 4, y, sizeof y / sizeof y[0]);
        assert_rows(y, 3, 3, cases[i].expect, true);
        ck_model_free(m);
    }
    free(x);
}
END_TEST

START_TEST(test_gru_keras_stateful_and_initial_state)
{
    float *x = arange(24);
    float y[8];
    ck_model *m = model_of(ck_gru(4, K_INITS, .stateful = true), 3, 4);
    const double second[] = {0.29542392, 0.5885018};
    for (int round = 0; round < 2; round++) {
        predict_n(m, x, 2, 3, 4, y, sizeof y / sizeof y[0]);
        predict_n(m, x, 2, 3, 4, y, sizeof y / sizeof y[0]);
        assert_rows(y, 2, 4, second, true);
        ck_assert_ok(ck_model_reset_states(m));
    }
    ck_model_free(m);

    /* x reshaped (2, 4, 3), h0 = arange(4).reshape(2, 2). */
    const float h0[] = {0, 1, 2, 3};
    const double fwd[] = {0.23774096, 0.33508456, 0.83659905, 1.0227708};
    const double bwd[] = {0.13486053, 0.23261218, 0.78257304, 0.9691353};
    for (int gb = 0; gb < 2; gb++) {
        m = model_of(ck_gru(2, K_INITS, .go_backwards = gb, .return_state = true), 4, 3);
        ck_assert_ok(ck_rnn_set_initial_state(ck_model_layer(m, 0), h0, 2));
        predict_n(m, x, 2, 4, 3, y, sizeof y / sizeof y[0]);
        assert_rows(y, 2, 2, gb ? bwd : fwd, false);
        float state[4];
        ck_assert_ok(ck_rnn_get_state(ck_model_layer(m, 0), state, 2));
        assert_rows(state, 2, 2, gb ? bwd : fwd, false);
        ck_model_free(m);
    }
    free(x);
}
END_TEST

START_TEST(test_simple_rnn_keras_golden)
{
    float *x = arange(24);
    float y[8];
    const double def[] = {0.405432, 0.73605347}, back[] = {0.11144729, 0.5528889};
    for (int gb = 0; gb < 2; gb++) {
        ck_model *m = model_of(ck_simple_rnn(4, K_INITS, .go_backwards = gb), 3, 4);
        predict_n(m, x, 2, 3, 4, y, sizeof y / sizeof y[0]);
        assert_rows(y, 2, 4, gb ? back : def, true);
        ck_model_free(m);
    }
    ck_model *m = model_of(ck_simple_rnn(4, K_INITS, .stateful = true), 3, 4);
    const double second[] = {0.40559256, 0.7361247};
    for (int round = 0; round < 2; round++) {
        predict_n(m, x, 2, 3, 4, y, sizeof y / sizeof y[0]);
        predict_n(m, x, 2, 3, 4, y, sizeof y / sizeof y[0]);
        assert_rows(y, 2, 4, second, true);
        ck_assert_ok(ck_model_reset_states(m));
    }
    ck_model_free(m);
    const float h0[] = {0, 1, 2, 3, 4, 5, 6, 7};
    const double init_f[] = {0.33621645, 0.6262637}, init_b[] = {0.07344437, 0.43043602};
    for (int gb = 0; gb < 2; gb++) {
        m = model_of(ck_simple_rnn(4, K_INITS, .go_backwards = gb), 4, 3);
        ck_assert_ok(ck_rnn_set_initial_state(ck_model_layer(m, 0), h0, 2));
        predict_n(m, x, 2, 4, 3, y, sizeof y / sizeof y[0]);
        assert_rows(y, 2, 4, gb ? init_b : init_f, true);
        ck_model_free(m);
    }
    free(x);
}
END_TEST

/* Hand-checkable: SimpleRNN(1, linear), W = U = 0.5, b = 0, x = 1, 2, 3:
 * h1 = 0.5, h2 = 1 + 0.25 = 1.25, h3 = 1.5 + 0.625 = 2.125. */
START_TEST(test_simple_rnn_by_hand)
{
    const float x[] = {1, 2, 3};
    float y[3];
    ck_model *m = model_of(
        ck_simple_rnn(1, .activation = "linear", .return_sequences = true,
                      .kernel_initializer = CK_INIT("constant", .value = 0.5),
                      .recurrent_initializer = CK_INIT("constant", .value = 0.5)),
        3, 1);
    predict_n(m, x, 1, 3, 1, y, sizeof y / sizeof y[0]);
    ck_assert_close(y[0], 0.5, 1e-7);
    ck_assert_close(y[1], 1.25, 1e-7);
    ck_assert_close(y[2], 2.125, 1e-7);
    ck_model_free(m);
}
END_TEST

/* Hand-checkable GRU(1): kernel 1, zero bias, x = 1, one step from h0 = 0
 * (so the recurrent kernel does not matter): z = r = sigmoid(1),
 * hh = tanh(1 + r * 0), h = z * 0 + (1 - z) * hh = (1 - sigmoid(1)) tanh(1). */
START_TEST(test_gru_by_hand)
{
    const float x[] = {1};
    float y[1];
    ck_model *m = model_of(ck_gru(1, .kernel_initializer = CK_INIT("constant", .value = 1)), 1, 1);
    predict_n(m, x, 1, 1, 1, y, sizeof y / sizeof y[0]);
    double z = 1 / (1 + exp(-1.0));
    ck_assert_close(y[0], (1 - z) * tanh(1.0), 1e-6);
    ck_model_free(m);
}
END_TEST

START_TEST(test_bidirectional_keras_golden)
{
    float *x = arange(24);
    float y[16];
    const double concat[] = {0.39687276, 0.39687276, 0.10004295, 0.10004295,
                             0.7237238,  0.7237238,  0.53391594, 0.53391594};
    const double ave[] = {0.24845785, 0.6288199};
    ck_model *m = model_of(ck_bidirectional(ck_simple_rnn(2, K_INITS)), 3, 4);
    predict_n(m, x, 2, 3, 4, y, sizeof y / sizeof y[0]);
    assert_rows(y, 2, 4, concat, false);
    ck_model_free(m);
    m = model_of(ck_bidirectional(ck_simple_rnn(2, K_INITS), .merge_mode = "ave"), 3, 4);
    predict_n(m, x, 2, 3, 4, y, sizeof y / sizeof y[0]);
    assert_rows(y, 2, 2, ave, true);
    ck_model_free(m);

    const double gru_sum[] = {0.20937867, 0.34462988, 0.40290534, 0.59829646, 0.6734641, 0.6479671};
    m = model_of(
        ck_bidirectional(ck_gru(2, K_INITS, .return_sequences = true), .merge_mode = "sum"), 3, 4);
    predict_n(m, x, 2, 3, 4, y, sizeof y / sizeof y[0]);
    assert_rows(y, 6, 2, gru_sum, true);
    ck_model_free(m);

    /* x reshaped (2, 4, 3). */
    const double lstm[] = {0.1990008,  0.1990008,  0.12659755, 0.12659755,
                           0.52335435, 0.52335435, 0.44717982, 0.44717982};
    m = model_of(ck_bidirectional(ck_lstm(2, K_INITS)), 4, 3);
    predict_n(m, x, 2, 4, 3, y, sizeof y / sizeof y[0]);
    assert_rows(y, 2, 4, lstm, false);
    ck_model_free(m);

    const double stateful[] = {0.26234663, 0.26234663, 0.16959146, 0.16959146,
                               0.6137073,  0.6137073,  0.5381646,  0.5381646};
    m = model_of(ck_bidirectional(ck_lstm(2, K_INITS, .stateful = true)), 4, 3);
    for (int round = 0; round < 2; round++) {
        predict_n(m, x, 2, 4, 3, y, sizeof y / sizeof y[0]);
        predict_n(m, x, 2, 4, 3, y, sizeof y / sizeof y[0]);
        assert_rows(y, 2, 4, stateful, false);
        ck_assert_ok(ck_model_reset_states(m));
    }
    ck_model_free(m);
    free(x);
}
END_TEST

/* ------------------------------------------ random weights vs the reference */

enum { B = 3, T = 4, F = 5, U = 6 };

/* Options of one forward/gradient case, decoded from a loop index. */
typedef struct rnn_case {
    bool seq, backwards, bias, reset_after;
    const char *act, *ract;
} rnn_case;

static rnn_case decode_case(int i)
{
    static const char *const acts[][2] = {
        {NULL, NULL}, {"relu", "hard_sigmoid"}, {"linear", "sigmoid"}};
    rnn_case c = {.seq = i & 1, .backwards = i & 2, .bias = !(i & 4), .reset_after = !(i & 8)};
    c.act = acts[(i >> 4) % 3][0];
    c.ract = acts[(i >> 4) % 3][1];
    return c;
}

static ck_layer *make_layer(const char *cls, const rnn_case *c, int units)
{
    if (strcmp(cls, "GRU") == 0)
        return ck_gru(units, .activation = c->act, .recurrent_activation = c->ract,
                      .no_bias = !c->bias, .no_reset_after = !c->reset_after,
                      .return_sequences = c->seq, .go_backwards = c->backwards);
    if (strcmp(cls, "LSTM") == 0)
        return ck_lstm_new(&(ck_lstm_options){.units = units,
                                              .activation = c->act,
                                              .recurrent_activation = c->ract,
                                              .no_bias = !c->bias,
                                              .return_sequences = c->seq,
                                              .go_backwards = c->backwards});
    return ck_simple_rnn(units, .activation = c->act, .no_bias = !c->bias,
                         .return_sequences = c->seq, .go_backwards = c->backwards);
}

static void check_batch_against_reference(const char *cls, int i, int Bn)
{
    rnn_case c = decode_case(i);
    ck_model *m = model_of(make_layer(cls, &c, U), T, F);
    set_random_weights(m);
    size_t nx = (size_t)Bn * T * F, ny = (size_t)Bn * T * U;
    float *x = malloc(nx * sizeof *x), *y = malloc(ny * sizeof *y);
    double *ref = malloc(ny * sizeof *ref);
    fill_random(x, nx, -1.5, 1.5);
    predict_n(m, x, Bn, T, F, y, ny);
    ref_rnn p = ref_from_layer(ck_model_layer(m, 0), cls, U, c.act, c.ract ? c.ract : "sigmoid",
                               c.seq, c.backwards, c.bias, c.reset_after, 0);
    ref_run(&p, x, Bn, T, F, ref);
    int n = Bn * (c.seq ? T : 1) * U;
    for (int k = 0; k < n; k++)
        ck_assert_msg(fabs(y[k] - ref[k]) < 2e-5 * fmax(1, fabs(ref[k])),
                      "%s case %d, batch %d, value %d: %.7g vs %.7g", cls, i, Bn, k, y[k], ref[k]);
    free(x);
    free(y);
    free(ref);
    ck_model_free(m);
}

static void check_against_reference(const char *cls, int i)
{
    check_batch_against_reference(cls, i, B);
}

/* From 16 samples the steps run in two groups of samples (ck_rnn.h,
 * CK_RNN_GROUPS), of unequal size when the batch is odd. */
START_TEST(test_sample_groups_reference)
{
    for (int Bn = 16; Bn <= 17; Bn++) {
        check_batch_against_reference("GRU", _i, Bn);
        if (decode_case(_i).reset_after)
            check_batch_against_reference("SimpleRNN", _i, Bn);
    }
}
END_TEST

START_TEST(test_gru_reference)
{
    check_against_reference("GRU", _i);
}
END_TEST

START_TEST(test_simple_rnn_reference)
{
    if (!decode_case(_i).reset_after)
        return; /* SimpleRNN has no reset_after: half the indices are duplicates */
    check_against_reference("SimpleRNN", _i);
}
END_TEST

static void merge_ref(const char *mode, const double *f, const double *b, int rows, int T_,
                      bool seq, double *out)
{
    int width = strcmp(mode, "concat") == 0 ? 2 * U : U;
    for (int r = 0; r < rows; r++) {
        int rb = seq ? (r / T_) * T_ + (T_ - 1 - r % T_) : r;
        for (int j = 0; j < U; j++) {
            double a = f[r * U + j], c = b[rb * U + j];
            if (strcmp(mode, "concat") == 0) {
                out[r * width + j] = a;
                out[r * width + U + j] = c;
            } else {
                out[r * width + j] = strcmp(mode, "sum") == 0   ? a + c
                                     : strcmp(mode, "mul") == 0 ? a * c
                                                                : (a + c) / 2;
            }
        }
    }
}

/* Bidirectional for each wrapped class, merge mode and return_sequences. */
START_TEST(test_bidirectional_reference)
{
    static const char *const classes[] = {"LSTM", "GRU", "SimpleRNN"};
    static const char *const modes[] = {"concat", "sum", "mul", "ave"};
    const char *cls = classes[_i % 3], *mode = modes[(_i / 3) % 4];
    rnn_case c = decode_case(_i / 12 ? 1 : 0);
    ck_model *m = model_of(ck_bidirectional(make_layer(cls, &c, U), .merge_mode = mode), T, F);
    set_random_weights(m);
    float x[B * T * F], y[B * T * 2 * U];
    double rf[B * T * U], rb[B * T * U], ref[B * T * 2 * U];
    fill_random(x, sizeof x / sizeof x[0], -1.5, 1.5);
    predict_n(m, x, B, T, F, y, sizeof y / sizeof y[0]);
    ck_layer *l = ck_model_layer(m, 0);
    ref_rnn pf = ref_from_layer(l, cls, U, NULL, "sigmoid", c.seq, false, true, true, 0);
    ref_rnn pb = ref_from_layer(l, cls, U, NULL, "sigmoid", c.seq, true, true, true, 3);
    ref_run(&pf, x, B, T, F, rf);
    ref_run(&pb, x, B, T, F, rb);
    int rows = B * (c.seq ? T : 1), width = strcmp(mode, "concat") == 0 ? 2 * U : U;
    merge_ref(mode, rf, rb, rows, T, c.seq, ref);
    for (int k = 0; k < rows * width; k++)
        ck_assert_msg(fabs(y[k] - ref[k]) < 2e-5 * fmax(1, fabs(ref[k])),
                      "%s %s seq=%d value %d: %.7g vs %.7g", cls, mode, c.seq, k, y[k], ref[k]);
    ck_model_free(m);
}
END_TEST

/* ------------------------------------------------------- gradient checks */

/* Weight and input gradients of the model's only layer against central
 * differences of sum(y * r); the dropout masks come from a generator
 * seeded 99 before every forward, so every evaluation sees the same. */
static void grad_check(ck_model *m, int Bn, int Tn, int Fn)
{
    ck_layer *l = ck_model_layer(m, 0);
    float x[64], r[256];
    ck_fd fd = {.m = m,
                .x = {.rank = 3, .dims = {Bn, Tn, Fn}, .data = x},
                .r = r,
                .training = true,
                .h = 1e-2};
    ck_rng_seed(&fd.rng, 99);
    ck_shape in = {.rank = 3, .dims = {Bn, Tn, Fn}}, out;
    ck_assert_ok(l->ops->output_shape(l, &in, &out));
    ck_tensor ty = {.rank = out.rank};
    memcpy(ty.dims, out.dims, sizeof ty.dims);
    ck_assert_int_le(ck_tensor_size(&ty), 256);
    ck_assert_int_le(Bn * Tn * Fn, 64);
    fill_random(x, (size_t)(Bn * Tn * Fn), -1, 1);
    fill_random(r, ck_tensor_size(&ty), -1, 1);
    ck_fd_check_each(&fd, 2e-3, 2e-2);
}

/* Smooth activations only, so central differences are exact enough. */
static rnn_case grad_case(int i)
{
    rnn_case c = decode_case(i & 15);
    c.act = (i & 16) ? "linear" : NULL;
    c.ract = NULL;
    return c;
}

START_TEST(test_gru_gradients)
{
    rnn_case c = grad_case(_i);
    ck_model *m = model_of(make_layer("GRU", &c, 4), 3, 3);
    set_random_weights(m);
    grad_check(m, 2, 3, 3);
    ck_model_free(m);
}
END_TEST

START_TEST(test_simple_rnn_gradients)
{
    rnn_case c = grad_case(_i);
    ck_model *m = model_of(make_layer("SimpleRNN", &c, 4), 3, 3);
    set_random_weights(m);
    grad_check(m, 2, 3, 3);
    ck_model_free(m);
}
END_TEST

/* Dropout and recurrent dropout: the masks are fixed by the rng copy. */
START_TEST(test_dropout_gradients)
{
    ck_layer *layers[] = {
        ck_gru(4, .dropout = 0.3, .recurrent_dropout = 0.4, .return_sequences = true),
        ck_gru(4, .dropout = 0.3, .recurrent_dropout = 0.4, .no_reset_after = true,
               .go_backwards = true),
        ck_simple_rnn(4, .dropout = 0.3, .recurrent_dropout = 0.4, .return_sequences = true),
    };
    for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++) {
        ck_model *m = model_of(layers[i], 3, 3);
        set_random_weights(m);
        grad_check(m, 2, 3, 3);
        ck_model_free(m);
    }
}
END_TEST

START_TEST(test_bidirectional_gradients)
{
    static const char *const classes[] = {"LSTM", "GRU", "SimpleRNN"};
    static const char *const modes[] = {"concat", "sum", "mul", "ave"};
    rnn_case c = {.seq = _i & 1, .bias = true, .reset_after = true};
    ck_model *m = model_of(ck_bidirectional(make_layer(classes[(_i / 2) % 3], &c, 3),
                                            .merge_mode = modes[_i / 6]),
                           3, 2);
    set_random_weights(m);
    grad_check(m, 2, 3, 2);
    ck_model_free(m);
}
END_TEST

/* ------------------------------------------- counts, shapes, summary, names */

START_TEST(test_param_counts)
{
    struct {
        ck_layer *l;
        size_t params;
    } cases[] = {
        {ck_gru(64), 36864},                         /* 3u(F+u+2) = 192 * 192 */
        {ck_gru(64, .no_reset_after = true), 36672}, /* 3u(F+u+1) = 192 * 191 */
        {ck_gru(64, .no_bias = true), 36480},        /* 3u(F+u) */
        {ck_simple_rnn(64), 12224},                  /* u(F+u+1) = 64 * 191 */
        {ck_bidirectional(ck_lstm_new(&(ck_lstm_options){.units = 64})), 97792},
        {ck_bidirectional(ck_gru(64)), 2 * 36864},
        {ck_bidirectional(ck_simple_rnn(64), .merge_mode = "sum"), 2 * 12224},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_model *m = model_of(cases[i].l, 5, 126);
        ck_assert_uint_eq(ck_layer_count_params(ck_model_layer(m, 0)), cases[i].params);
        ck_assert_uint_eq(ck_model_count_trainable_params(m), cases[i].params);
        ck_model_free(m);
    }
}
END_TEST

START_TEST(test_weight_layout)
{
    ck_model *m = model_of(ck_gru(8), 5, 3);
    ck_layer *l = ck_model_layer(m, 0);
    ck_tensor t;
    const char *name;
    ck_assert_int_eq(ck_layer_weight_count(l), 3);
    ck_assert_ok(ck_layer_weight(l, 2, &name, &t));
    ck_assert_str_eq(name, "bias");
    ck_assert_int_eq(t.rank, 2);
    ck_assert_int_eq(t.dims[0], 2);
    ck_assert_int_eq(t.dims[1], 24);
    ck_assert_str_eq(l->weights[0].k2_scope, "gru_cell");
    ck_assert_str_eq(l->weights[1].k3_scope, "cell");
    ck_model_free(m);

    m = model_of(ck_simple_rnn(8), 5, 3);
    ck_assert_str_eq(ck_model_layer(m, 0)->weights[2].k2_scope, "simple_rnn_cell");
    ck_model_free(m);

    /* Bidirectional(LSTM): forward weights then backward, Keras names, and
     * unit_forget_bias applied to both inner biases. */
    m = model_of(ck_bidirectional(ck_lstm_new(&(ck_lstm_options){.units = 2})), 5, 3);
    l = ck_model_layer(m, 0);
    ck_assert_str_eq(ck_layer_class_name(l), "Bidirectional");
    ck_assert_str_eq(ck_layer_name(l), "bidirectional");
    ck_assert_int_eq(ck_layer_weight_count(l), 6);
    ck_assert_str_eq(l->weights[0].k2_scope, "forward_lstm/lstm_cell");
    ck_assert_str_eq(l->weights[3].k2_scope, "backward_lstm/lstm_cell");
    ck_assert_str_eq(l->weights[2].k3_scope, "forward_layer/cell");
    ck_assert_str_eq(l->weights[5].k3_scope, "backward_layer/cell");
    ck_assert_str_eq(l->weights[4].name, "recurrent_kernel");
    for (int w = 2; w <= 5; w += 3) {
        ck_assert_ok(ck_layer_weight(l, w, NULL, &t));
        for (int j = 0; j < 8; j++)
            ck_assert_float_eq(t.data[j], j >= 2 && j < 4 ? 1.0f : 0.0f);
    }
    ck_model_free(m);

    m = model_of(ck_bidirectional(ck_gru(2, .name = "enc"), .name = "bi"), 5, 3);
    ck_assert_str_eq(ck_model_layer(m, 0)->weights[3].k2_scope, "backward_enc/gru_cell");
    ck_model_free(m);
}
END_TEST

START_TEST(test_output_shapes)
{
    static const char *const modes[] = {"concat", "sum", "mul", "ave"};
    for (int seq = 0; seq < 2; seq++)
        for (int k = 0; k < 4; k++) {
            ck_model *m = model_of(
                ck_bidirectional(ck_gru(4, .return_sequences = seq), .merge_mode = modes[k]), 5, 3);
            int rank;
            int64_t dims[CK_MAX_RANK];
            ck_assert_ok(ck_model_output_shape(m, &rank, dims));
            ck_assert_int_eq(rank, seq ? 2 : 1);
            if (seq)
                ck_assert_int_eq(dims[0], 5);
            ck_assert_int_eq(dims[rank - 1], k == 0 ? 8 : 4);
            ck_model_free(m);
        }
    ck_model *m = model_of(ck_simple_rnn(7, .return_sequences = true), CK_NONE, 3);
    int rank;
    int64_t dims[CK_MAX_RANK];
    ck_assert_ok(ck_model_output_shape(m, &rank, dims));
    ck_assert_int_eq(rank, 2);
    ck_assert_int_eq(dims[0], CK_NONE);
    ck_assert_int_eq(dims[1], 7);
    ck_model_free(m);
}
END_TEST


START_TEST(test_summary_rows)
{
    ck_model *m = ck_sequential_new(NULL);
    ck_assert_ok(ck_model_add(m, ck_input(5, 126)));
    ck_assert_ok(ck_model_add(m, ck_bidirectional(ck_lstm_new(
                                     &(ck_lstm_options){.units = 64, .return_sequences = true}))));
    ck_assert_ok(ck_model_add(m, ck_gru(32, .return_sequences = true)));
    ck_assert_ok(ck_model_add(m, ck_simple_rnn(16)));
    char *s = ck_test_summary(m, CK_SUMMARY_KERAS2_7);
    /* Keras 2.7 rows: one space, then columns ending at 29, 55 and 65.
     * GRU(32) on 128: 3*32*(128+32+2) = 15552; SimpleRNN(16) on 32: 16*49 = 784. */
    static const char *const rows[][3] = {{" gru (GRU)", "(None, 5, 32)", "15552"},
                                          {" simple_rnn (SimpleRNN)", "(None, 16)", "784"}};
    char line[128];
    for (int i = 0; i < 2; i++) {
        snprintf(line, sizeof line, "%-29s%-26s%-10s\n", rows[i][0], rows[i][1], rows[i][2]);
        ck_assert_msg(strstr(s, line), "no row\n%swithin\n%s", line, s);
    }
    /* The 30-character name cell wraps; the shape and count stay on its first line. */
    const char *bi = strstr(s, " bidirectional (Bidirectiona");
    ck_assert_msg(bi && strstr(bi, "(None, 5, 128)") &&
                      strstr(bi, "97792") < strstr(bi, " gru (GRU)"),
                  "%s", s);
    ck_assert_msg(strstr(s, "Total params: 114,128"), "%s", s);
    free(s);
    ck_model_free(m);
}
END_TEST

/* ------------------------------------------------------ configs round trip */

static cJSON *config_of(ck_layer *l)
{
    cJSON *cfg = cJSON_CreateObject();
    ck_assert_ok(l->ops->get_config(l, cfg));
    cJSON_AddStringToObject(cfg, "name", l->name);
    return cfg;
}

/* get_config -> from_config gives the same config and the same outputs. */
static void round_trip(ck_layer *layer)
{
    ck_model *m = model_of(layer, 4, 3);
    set_random_weights(m);
    ck_layer *l = ck_model_layer(m, 0);
    cJSON *cfg = config_of(l);
    ck_layer *copy = l->ops->from_config(cfg, CK_KERAS2);
    ck_assert_msg(copy != NULL, "%s", ck_last_error());
    ck_model *m2 = model_of(copy, 4, 3);
    cJSON *cfg2 = config_of(ck_model_layer(m2, 0));
    char *a = cJSON_PrintUnformatted(cfg), *b = cJSON_PrintUnformatted(cfg2);
    ck_assert_str_eq(a, b);
    ck_assert_uint_eq(m->n_params, m2->n_params);
    memcpy(m2->params, m->params, m->n_params * sizeof(float));
    float x[2 * 4 * 3], y1[64], y2[64];
    size_t n = 2 * ck_shape_sample_size(&l->out_shape);
    fill_random(x, 24, -1, 1);
    predict_n(m, x, 2, 4, 3, y1, n);
    predict_n(m2, x, 2, 4, 3, y2, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_float_eq(y1[i], y2[i]);
    free(a);
    free(b);
    cJSON_Delete(cfg);
    cJSON_Delete(cfg2);
    ck_model_free(m);
    ck_model_free(m2);
}

START_TEST(test_config_round_trip)
{
    round_trip(ck_gru(5, .activation = "relu", .recurrent_activation = "hard_sigmoid",
                      .no_reset_after = true, .go_backwards = true, .return_sequences = true,
                      .dropout = 0.25, .bias_initializer = CK_INIT("constant", .value = 0.5)));
    round_trip(ck_gru(3, .no_bias = true, .stateful = true));
    round_trip(ck_simple_rnn(6, .activation = "sigmoid", .recurrent_dropout = 0.5,
                             .return_sequences = true));
    round_trip(
        ck_bidirectional(ck_lstm_new(&(ck_lstm_options){.units = 3, .return_sequences = true}),
                         .merge_mode = "mul"));
    round_trip(ck_bidirectional(ck_gru(2, .name = "g"), .merge_mode = "ave", .name = "bi"));
}
END_TEST

START_TEST(test_config_keras_names)
{
    ck_model *m = model_of(ck_bidirectional(ck_gru(4)), 5, 3);
    cJSON *cfg = config_of(ck_model_layer(m, 0));
    const cJSON *layer = cJSON_GetObjectItem(cfg, "layer");
    ck_assert_str_eq(cJSON_GetObjectItem(layer, "class_name")->valuestring, "GRU");
    const cJSON *inner = cJSON_GetObjectItem(layer, "config");
    ck_assert_str_eq(cJSON_GetObjectItem(inner, "name")->valuestring, "gru");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(inner, "reset_after")));
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(inner, "go_backwards")));
    ck_assert_str_eq(cJSON_GetObjectItem(inner, "recurrent_activation")->valuestring, "sigmoid");
    ck_assert_str_eq(cJSON_GetObjectItem(cfg, "merge_mode")->valuestring, "concat");
    cJSON_Delete(cfg);
    ck_model_free(m);

    /* A SimpleRNN config has no recurrent_activation, and rejects one. */
    m = model_of(ck_simple_rnn(2), 5, 3);
    cfg = config_of(ck_model_layer(m, 0));
    ck_assert_ptr_null(cJSON_GetObjectItem(cfg, "recurrent_activation"));
    cJSON_AddStringToObject(cfg, "recurrent_activation", "sigmoid");
    ck_assert_ptr_null(ck_model_layer(m, 0)->ops->from_config(cfg, CK_KERAS2));
    ck_assert_int_eq(ck_error_status(), CK_ERR_UNSUPPORTED);
    cJSON_Delete(cfg);
    ck_model_free(m);
}
END_TEST

static ck_layer *from_json(const char *json)
{
    cJSON *cfg = cJSON_Parse(json);
    ck_assert_ptr_nonnull(cfg);
    const ck_layer_ops *ops = ck_layer_ops_find(
        cJSON_GetObjectItem(cfg, "class_name")->valuestring);
    ck_assert_ptr_nonnull(ops);
    ck_layer *l = ops->from_config(cJSON_GetObjectItem(cfg, "config"), CK_KERAS3);
    cJSON_Delete(cfg);
    return l;
}

START_TEST(test_config_from_keras)
{
    /* Keras 3 style: forward_/backward_ names and a stored backward_layer. */
    ck_layer *l = from_json(
        "{\"class_name\": \"Bidirectional\", \"config\": {\"name\": \"bidirectional\", \"trainable\": true,"
        " \"merge_mode\": \"sum\", \"layer\": {\"module\": \"keras.layers\", \"class_name\": \"GRU\","
        " \"config\": {\"name\": \"forward_gru\", \"units\": 4, \"go_backwards\": false, \"reset_after\": true,"
        " \"seed\": null, \"use_cudnn\": \"auto\"}, \"registered_name\": null},"
        " \"backward_layer\": {\"class_name\": \"GRU\", \"config\": {\"name\": \"backward_gru\", \"units\": 4,"
        " \"go_backwards\": true, \"reset_after\": true}}}}");
    ck_assert_msg(l != NULL, "%s", ck_last_error());
    ck_model *m = model_of(l, 5, 3);
    ck_assert_uint_eq(m->n_params, 2 * 3 * 4 * (3 + 4 + 2));
    ck_assert_str_eq(ck_model_layer(m, 0)->weights[0].k2_scope, "forward_gru/gru_cell");
    ck_model_free(m);

    /* Keras <= 2.1 GRU configs have no reset_after: the old GRU, bias (3u). */
    l = from_json("{\"class_name\": \"GRU\", \"config\": {\"name\": \"gru_1\", \"units\": 4}}");
    ck_assert_msg(l != NULL, "%s", ck_last_error());
    m = model_of(l, 5, 3);
    ck_assert_uint_eq(m->n_params, 3 * 4 * (3 + 4 + 1));
    ck_model_free(m);

    /* A backward_layer that is not the mirror is refused. */
    ck_assert_ptr_null(from_json(
        "{\"class_name\": \"Bidirectional\", \"config\": {\"layer\": {\"class_name\": \"GRU\", \"config\":"
        " {\"units\": 4}}, \"backward_layer\": {\"class_name\": \"GRU\", \"config\": {\"units\": 5,"
        " \"go_backwards\": true}}}}"));
    ck_assert_int_eq(ck_error_status(), CK_ERR_UNSUPPORTED);
    /* merge_mode None returns two tensors. */
    ck_assert_ptr_null(
        from_json("{\"class_name\": \"Bidirectional\", \"config\": {\"merge_mode\": null,"
                  " \"layer\": {\"class_name\": \"SimpleRNN\", \"config\": {\"units\": 4}}}}"));
    ck_assert_int_eq(ck_error_status(), CK_ERR_UNSUPPORTED);
    /* A Keras 2.2 GRU config: reset_after false, hard_sigmoid. */
    l = from_json("{\"class_name\": \"GRU\", \"config\": {\"units\": 2, \"reset_after\": false,"
                  " \"recurrent_activation\": \"hard_sigmoid\", \"implementation\": 1}}");
    ck_assert_ptr_nonnull(l);
    m = model_of(l, 5, 3);
    ck_assert_uint_eq(m->n_params, 3 * 2 * (3 + 2 + 1));
    ck_model_free(m);
    /* Unsupported values are errors, not ignored. */
    ck_assert_ptr_null(
        from_json("{\"class_name\": \"GRU\", \"config\": {\"units\": 2, \"time_major\": true}}"));
    ck_assert_ptr_null(from_json(
        "{\"class_name\": \"SimpleRNN\", \"config\": {\"units\": 2, \"kernel_regularizer\": \"l2\"}}"));
    ck_assert_int_eq(ck_error_status(), CK_ERR_UNSUPPORTED);
}
END_TEST

/* ---------------------------------------------------------------- errors */

START_TEST(test_errors)
{
    ck_assert_ptr_null(ck_gru(0));
    ck_assert_int_eq(ck_error_status(), CK_ERR_ARGUMENT);
    ck_assert_ptr_null(ck_simple_rnn(4, .dropout = 1.0));
    ck_assert_ptr_null(ck_gru(4, .recurrent_activation = "softmax"));
    ck_assert_int_eq(ck_error_status(), CK_ERR_UNSUPPORTED);
    ck_assert_ptr_null(ck_gru(4, .activation = "nope"));
    ck_assert_int_eq(ck_error_status(), CK_ERR_NAME);

    /* The wrapper frees the wrapped layer on every failure (ASan checks). */
    ck_assert_ptr_null(ck_bidirectional(ck_gru(4), .merge_mode = "max"));
    ck_assert_int_eq(ck_error_status(), CK_ERR_ARGUMENT);
    ck_assert_ptr_null(ck_bidirectional(ck_dense_new(&(ck_dense_options){.units = 4})));
    ck_assert_int_eq(ck_error_status(), CK_ERR_UNSUPPORTED);
    ck_assert_ptr_null(ck_bidirectional(ck_gru(4, .return_state = true)));
    ck_assert_int_eq(ck_error_status(), CK_ERR_UNSUPPORTED);
    ck_assert_ptr_null(ck_bidirectional(ck_gru(0)));
    ck_assert_int_eq(ck_error_status(), CK_ERR_ARGUMENT);
    ck_assert_ptr_null(ck_bidirectional_new(NULL));
    ck_layer *unused = ck_bidirectional(ck_simple_rnn(2));
    ck_assert_ptr_nonnull(unused);
    ck_layer_free(unused);

    ck_model *m = ck_sequential_new(NULL);
    ck_assert_ok(ck_model_add(m, ck_input(3)));
    ck_assert_ok(ck_model_add(m, ck_gru(2)));
    ck_assert_fails(ck_model_build(m), CK_ERR_SHAPE);
    ck_model_free(m);

    m = model_of(ck_gru(2, .stateful = true), 3, 1);
    float x[6] = {0}, y[4];
    predict_n(m, x, 2, 3, 1, y, sizeof y / sizeof y[0]);
    ck_tensor tx = {.rank = 3, .dims = {1, 3, 1}, .data = x},
              ty = {.rank = 1, .dims = {4}, .data = y};
    ck_assert_fails(ck_model_predict_tensor(m, &tx, &ty), CK_ERR_SHAPE);
    ck_assert_fails(ck_rnn_get_state(ck_model_layer(m, 0), NULL, 1), CK_ERR_ARGUMENT);
    ck_model_free(m);
    m = model_of(ck_lstm_new(&(ck_lstm_options){.units = 2}), 3, 1);
    float h[2] = {0};
    ck_assert_fails(ck_rnn_set_initial_state(ck_model_layer(m, 0), h, 1), CK_ERR_ARGUMENT);
    ck_model_free(m);
}
END_TEST

/* A return_state layer keeps predict's batch whole, so the state covers
 * all 300 samples (predict would otherwise run chunks of 256), and it is
 * readable only for that batch. */
START_TEST(test_get_state_after_batch_over_chunk)
{
    enum { B = 300, T = 3, F = 2, U = 3 };
    ck_layer *layers[] = {ck_gru(U, .return_state = true), ck_simple_rnn(U, .return_state = true)};
    for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++) {
        ck_model *m = model_of(layers[i], T, F);
        static float x[B * T * F], y[B * U], h[B * U];
        fill_random(x, B * T * F, -1, 1);
        predict_n(m, x, B, T, F, y, B * U);
        ck_assert_ok(ck_rnn_get_state(ck_model_layer(m, 0), h, B));
        /* Without a mask the last output is h_T itself. */
        ck_assert_mem_eq(h, y, sizeof h);
        ck_assert_fails(ck_rnn_get_state(ck_model_layer(m, 0), h, 100), CK_ERR_STATE);
        ck_assert_ptr_nonnull(strstr(ck_last_error(), "batch of 300, not 100"));
        ck_model_free(m);
    }
}
END_TEST

/* Products of the dimensions that reach BLAS as int are checked before
 * anything is touched (x points at a few floats only): B*T over the int
 * range, B*T*G over it (G = 64..256 here), B*T*F over it. */
START_TEST(test_blas_int_range)
{
    ck_layer *layers[] = {ck_lstm_new(&(ck_lstm_options){.units = 64}), ck_gru(64),
                          ck_simple_rnn(64)};
    const int64_t dims[][3] = {
        {1 << 20, 1 << 12, 2}, {1 << 16, 1 << 10, 2}, {1 << 8, 1 << 8, 1 << 16}};
    for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++) {
        ck_model *m = model_of(layers[i], CK_NONE, 2);
        ck_layer *l = ck_model_layer(m, 0);
        float buf[8] = {0};
        ck_run_ctx ctx = {.training = true, .rng = &m->rng};
        for (size_t k = 0; k < sizeof dims / sizeof dims[0]; k++) {
            ck_tensor x = {.rank = 3, .dims = {dims[k][0], dims[k][1], dims[k][2]}, .data = buf};
            ck_tensor y = {.rank = 2, .dims = {dims[k][0], 64}, .data = buf};
            ck_assert_fails(l->ops->forward(l, &x, &y, &ctx), CK_ERR_UNSUPPORTED);
            ck_assert_ptr_nonnull(strstr(ck_last_error(), "int range"));
            ck_assert_fails(l->ops->backward(l, &x, &y, &y, NULL), CK_ERR_UNSUPPORTED);
        }
        ck_model_free(m);
    }
}
END_TEST

/* cJSON allocations that fail the n-th time from now on. */
static long json_allocs_left;
static void *failing_malloc(size_t n)
{
    return json_allocs_left-- > 0 ? malloc(n) : NULL;
}

/* get_config reports cJSON running out of memory at every point, and
 * leaks nothing (ASan checks). */
START_TEST(test_config_out_of_memory)
{
    ck_layer *layers[] = {ck_lstm_new(&(ck_lstm_options){.units = 2, .zero_output_for_mask = true}),
                          ck_gru(2), ck_simple_rnn(2)};
    for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++) {
        cJSON *full = cJSON_CreateObject();
        ck_assert_ok(layers[i]->ops->get_config(layers[i], full));
        bool completed = false;
        for (long n = 0; !completed && n < 400; n++) {
            cJSON *cfg = cJSON_CreateObject();
            ck_assert_ptr_nonnull(cfg);
            json_allocs_left = n;
            cJSON_InitHooks(&(cJSON_Hooks){.malloc_fn = failing_malloc, .free_fn = free});
            ck_status st = layers[i]->ops->get_config(layers[i], cfg);
            cJSON_InitHooks(NULL);
            ck_assert_msg(st == CK_OK || st == CK_ERR_MEMORY, "n=%ld: %s", n, ck_last_error());
            completed = st == CK_OK;
            /* Success means the whole config, never a partial one. */
            ck_assert(!completed || cJSON_Compare(cfg, full, true));
            cJSON_Delete(cfg);
        }
        ck_assert(completed);
        cJSON_Delete(full);
        ck_layer_free(layers[i]);
    }
}
END_TEST

/* Running a layer twice with the same batch must not allocate again. */
START_TEST(test_no_allocation_after_first_call)
{
    ck_layer *layers[] = {
        ck_gru(8, .return_sequences = true), ck_simple_rnn(8),
        ck_bidirectional(ck_gru(8, .no_reset_after = true)),
        ck_lstm_new(&(ck_lstm_options){
            .units = 80, .return_sequences = true, .dropout = 0.2, .recurrent_dropout = 0.2})};
    for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++) {
        ck_model *m = model_of(layers[i], 5, 4);
        float x[2 * 5 * 4] = {0};
        ck_tensor tx = {.rank = 3, .dims = {2, 5, 4}, .data = x};
        ck_assert_ok(ck_model_forward(m, &tx, true));
        ck_tensor dy = m->act_views[0];
        ck_assert_ok(ck_model_backward(m, &dy));
        ck_debug_fail_alloc_after(1);
        ck_status st = ck_model_forward(m, &tx, true);
        if (st == CK_OK)
            st = ck_model_backward(m, &dy);
        ck_debug_fail_alloc_after(0);
        ck_assert_ok(st);
        ck_model_free(m);
    }
}
END_TEST

/* Every allocation failure is reported and leaks nothing (ASan checks). */
START_TEST(test_allocation_failures)
{
    bool completed = false;
    for (long n = 1; !completed && n < 400; n++) {
        ck_debug_fail_alloc_after(n);
        ck_model *m = ck_sequential_new(NULL);
        ck_status st = m ? CK_OK : CK_ERR_MEMORY;
        if (st == CK_OK)
            st = ck_model_add(m, ck_input(4, 3));
        if (st == CK_OK)
            st = ck_model_add(
                m, ck_bidirectional(ck_gru(3, .return_sequences = true, .recurrent_dropout = 0.5)));
        if (st == CK_OK)
            st = ck_model_add(m, ck_lstm_new(&(ck_lstm_options){.units = 2,
                                                                .return_sequences = true,
                                                                .dropout = 0.5,
                                                                .recurrent_dropout = 0.5}));
        if (st == CK_OK)
            st = ck_model_add(m, ck_simple_rnn(2, .dropout = 0.5));
        if (st == CK_OK)
            st = ck_model_build(m);
        float x[2 * 4 * 3] = {0};
        ck_tensor tx = {.rank = 3, .dims = {2, 4, 3}, .data = x};
        if (st == CK_OK)
            st = ck_model_forward(m, &tx, true);
        if (st == CK_OK)
            st = ck_model_backward(m, &m->act_views[2]);
        ck_debug_fail_alloc_after(0);
        ck_assert_msg(st == CK_OK || st == CK_ERR_MEMORY, "n=%ld: %s", n, ck_last_error());
        completed = st == CK_OK;
        ck_model_free(m);
    }
    ck_assert(completed);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("rnn_layers");
    TCase *tc = tcase_create("keras");
    tcase_add_test(tc, test_gru_keras_golden);
    tcase_add_test(tc, test_gru_keras_stateful_and_initial_state);
    tcase_add_test(tc, test_simple_rnn_keras_golden);
    tcase_add_test(tc, test_simple_rnn_by_hand);
    tcase_add_test(tc, test_gru_by_hand);
    tcase_add_test(tc, test_bidirectional_keras_golden);
    suite_add_tcase(s, tc);
    tc = tcase_create("reference");
    tcase_add_loop_test(tc, test_gru_reference, 0, 48);
    tcase_add_loop_test(tc, test_simple_rnn_reference, 0, 48);
    tcase_add_loop_test(tc, test_sample_groups_reference, 0, 48);
    tcase_add_loop_test(tc, test_bidirectional_reference, 0, 24);
    suite_add_tcase(s, tc);
    tc = tcase_create("gradients");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_gru_gradients, 0, 32);
    tcase_add_loop_test(tc, test_simple_rnn_gradients, 0, 32);
    tcase_add_test(tc, test_dropout_gradients);
    tcase_add_loop_test(tc, test_bidirectional_gradients, 0, 24);
    suite_add_tcase(s, tc);
    tc = tcase_create("structure");
    tcase_add_test(tc, test_param_counts);
    tcase_add_test(tc, test_weight_layout);
    tcase_add_test(tc, test_output_shapes);
    tcase_add_test(tc, test_summary_rows);
    tcase_add_test(tc, test_config_round_trip);
    tcase_add_test(tc, test_config_keras_names);
    tcase_add_test(tc, test_config_from_keras);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_get_state_after_batch_over_chunk);
    tcase_add_test(tc, test_blas_int_range);
    tcase_add_test(tc, test_config_out_of_memory);
    tcase_add_test(tc, test_no_allocation_after_first_call);
    tcase_add_test(tc, test_allocation_failures);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ck_test_run(suite());
}
