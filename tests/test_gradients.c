/* Backward passes against central finite differences (ck_gradcheck.h):
 * Dense, LSTM, weightless layers, Dropout and a stack. */
#include "ck_gradcheck.h"
#include "ck_test.h"

#include <string.h>

/* Small enough that relu kinks are rarely crossed, large enough for float32. */
#define H 1e-3
#define TOL 1e-2

static void fill(float *v, size_t n, ck_rng *rng, double lo, double hi)
{
    for (size_t i = 0; i < n; i++)
        v[i] = (float)(lo + (hi - lo) * ck_rng_uniform(rng));
}

/* A training forward from the probe's generator state. */
static const ck_tensor *forward(ck_fd *p)
{
    p->m->rng = p->rng;
    ck_assert_ok(ck_model_forward(p->m, &p->x, true));
    return &p->m->act_views[p->m->n_layers - 1];
}

/* Builds the model and draws x and r. */
static ck_fd *probe_new(ck_model *m, int rank, const int64_t *dims, uint64_t seed)
{
    ck_fd *p = calloc(1, sizeof *p);
    ck_rng rng;
    ck_rng_seed(&rng, seed);
    ck_assert_ok(ck_model_build(m));
    *p = (ck_fd){.m = m, .x = {.rank = rank}, .rng = m->rng, .training = true, .h = H};
    memcpy(p->x.dims, dims, sizeof(int64_t) * (size_t)rank);
    p->x.data = malloc(ck_tensor_size(&p->x) * sizeof(float));
    fill(p->x.data, ck_tensor_size(&p->x), &rng, -1, 1);
    const ck_tensor *y = forward(p);
    float *r = malloc(ck_tensor_size(y) * sizeof(float));
    fill(r, ck_tensor_size(y), &rng, -1, 1);
    p->r = r;
    return p;
}

static void probe_free(ck_fd *p)
{
    ck_model_free(p->m);
    free(p->x.data);
    free((float *)p->r);
    free(p);
}

static void check_weights(ck_fd *p, const char *what)
{
    ck_fd_check_weights(p, what, TOL);
}

static void check_input(ck_fd *p, const char *what)
{
    ck_fd_check_input(p, what, TOL);
}

static ck_model *single(ck_layer *input, ck_layer *layer)
{
    ck_model *m = ck_sequential(.seed = 11);
    ck_assert_ok(ck_model_add(m, input));
    ck_assert_ok(ck_model_add(m, layer));
    return m;
}

static const char *const dense_acts[] = {"linear", "tanh", "sigmoid", "relu",
                                         "elu",    "selu", "softmax", "softplus",
                                         "swish",  "gelu", "softsign"};
#define N_DENSE_ACTS (int)(sizeof dense_acts / sizeof dense_acts[0])

START_TEST(dense_2d)
{
    const char *act = dense_acts[_i % N_DENSE_ACTS];
    bool no_bias = _i >= N_DENSE_ACTS;
    ck_fd *p = probe_new(single(ck_input(5),
                                ck_dense(.units = 4, .activation = act, .no_bias = no_bias,
                                         .bias_initializer = CK_INIT("random_uniform"))),
                         2, (int64_t[]){3, 5}, 100 + (uint64_t)_i);
    check_weights(p, act);
    check_input(p, act);
    probe_free(p);
}
END_TEST

START_TEST(dense_3d)
{
    const char *act = dense_acts[_i];
    ck_fd *p = probe_new(single(ck_input(4, 5), ck_dense(.units = 3, .activation = act)), 3,
                         (int64_t[]){2, 4, 5}, 200 + (uint64_t)_i);
    check_weights(p, act);
    check_input(p, act);
    probe_free(p);
}
END_TEST

typedef struct lstm_case {
    bool seq, backwards, no_bias, no_ufb;
    const char *act, *ract;
    double dropout, recurrent_dropout;
} lstm_case;

static const lstm_case lstm_cases[] = {
    {false, false, false, false, "tanh", "sigmoid", 0, 0},
    {true, false, false, false, "tanh", "sigmoid", 0, 0},
    {false, true, false, false, "tanh", "sigmoid", 0, 0},
    {true, true, false, false, "tanh", "sigmoid", 0, 0},
    {true, false, false, false, "relu", "sigmoid", 0, 0},
    {false, false, false, false, "tanh", "hard_sigmoid", 0, 0},
    {true, false, false, false, "elu", "sigmoid", 0, 0},
    {false, false, true, false, "tanh", "sigmoid", 0, 0},
    {true, false, false, true, "softsign", "tanh", 0, 0},
    {true, true, false, false, "tanh", "sigmoid", 0.3, 0.4},
    {false, false, false, false, "relu", "hard_sigmoid", 0.5, 0},
};
#define N_LSTM_CASES (int)(sizeof lstm_cases / sizeof lstm_cases[0])

START_TEST(lstm_options)
{
    const lstm_case *c = &lstm_cases[_i];
    char what[128];
    snprintf(what, sizeof what, "LSTM case %d (%s/%s)", _i, c->act, c->ract);
    ck_layer *l = ck_lstm(.units = 3, .return_sequences = c->seq, .go_backwards = c->backwards,
                          .no_bias = c->no_bias, .no_unit_forget_bias = c->no_ufb,
                          .activation = c->act, .recurrent_activation = c->ract,
                          .dropout = c->dropout, .recurrent_dropout = c->recurrent_dropout,
                          .bias_initializer = CK_INIT("random_uniform", .minval = -0.5,
                                                      .maxval = 0.5));
    ck_fd *p = probe_new(single(ck_input(4, 3), l), 3, (int64_t[]){2, 4, 3}, 300 + (uint64_t)_i);
    check_weights(p, what);
    check_input(p, what);
    probe_free(p);
}
END_TEST

/* LSTM training forwards over long, wide batches (B*T*4u pre-activations
 * over 8 MB) run one product per step against [W; U], and from 16 samples
 * a batch goes through the steps of any recurrent layer in two groups
 * (ck_rnn.h, CK_RNN_GROUPS), of unequal size when it is odd. Their weight
 * gradients must be the sums of those of batches small enough for neither
 * (checked above and in test_rnn_layers against finite differences), and
 * each sample's input gradient the same. */
static const struct {
    const char *cls; /* LSTM, GRU, GRU1 (reset_after=False), SimpleRNN */
    int B, T, F, U, chunk;
} split_cases[] = {{"LSTM", 128, 130, 4, 32, 8},    {"LSTM", 128, 130, 4, 32, 8},
                   {"LSTM", 33, 5, 4, 24, 11},      {"LSTM", 33, 5, 4, 24, 11},
                   {"LSTM", 16, 3, 5, 7, 8},        {"GRU", 33, 5, 4, 24, 11},
                   {"GRU1", 33, 5, 4, 24, 11},      {"GRU", 16, 3, 5, 7, 8},
                   {"SimpleRNN", 33, 5, 4, 24, 11}, {"SimpleRNN", 16, 3, 5, 7, 8}};

/* Even i: tanh, sequences, backwards; odd: relu, the last step, forwards. */
static ck_layer *split_layer(int i, int U)
{
    const char *cls = split_cases[i].cls, *act = i % 2 ? "relu" : "tanh";
    bool seq = i % 2 == 0;
    ck_init bias = CK_INIT("random_uniform", .minval = -0.5, .maxval = 0.5);
    if (strcmp(cls, "LSTM") == 0)
        return ck_lstm(.units = U, .return_sequences = seq, .go_backwards = seq, .activation = act,
                       .bias_initializer = bias);
    if (strncmp(cls, "GRU", 3) == 0)
        return ck_gru(U, .return_sequences = seq, .go_backwards = seq, .activation = act,
                      .no_reset_after = cls[3] == '1', .bias_initializer = bias);
    return ck_simple_rnn(U, .return_sequences = seq, .go_backwards = seq, .activation = act,
                         .bias_initializer = bias);
}

START_TEST(rnn_split_batches)
{
    int B = split_cases[_i].B, T = split_cases[_i].T, F = split_cases[_i].F, U = split_cases[_i].U,
        CHUNK = split_cases[_i].chunk;
    bool seq = _i % 2 == 0;
    ck_layer *l = split_layer(_i, U);
    ck_fd *whole = probe_new(single(ck_input(T, F), l), 3, (int64_t[]){B, T, F},
                             400 + (uint64_t)_i);
    size_t n = whole->m->n_params, in_sample = (size_t)T * F,
           out_sample = (size_t)(seq ? T * U : U);
    double *got = malloc(n * sizeof *got), *want = calloc(n, sizeof *want);
    double *dx_got = malloc((size_t)B * in_sample * sizeof(double)),
           *dx_want = malloc((size_t)B * in_sample * sizeof(double));
    float *dx = malloc((size_t)B * in_sample * sizeof(float));
    ck_fd_backward(whole);
    for (size_t i = 0; i < n; i++)
        got[i] = whole->m->grads[i];
    ck_fd_last_input_grad(whole, dx);
    for (size_t i = 0; i < (size_t)B * in_sample; i++)
        dx_got[i] = dx[i];
    ck_fd part = *whole;
    part.x.dims[0] = CHUNK;
    for (int b = 0; b < B; b += CHUNK) {
        part.x.data = whole->x.data + (size_t)b * in_sample;
        part.r = whole->r + (size_t)b * out_sample;
        ck_fd_backward(&part);
        for (size_t i = 0; i < n; i++)
            want[i] += part.m->grads[i];
        ck_fd_last_input_grad(&part, dx);
        for (size_t i = 0; i < (size_t)CHUNK * in_sample; i++)
            dx_want[(size_t)b * in_sample + i] = dx[i];
    }
    double err = ck_fd_rel_error(got, want, n),
           dx_err = ck_fd_rel_error(dx_got, dx_want, (size_t)B * in_sample);
    ck_assert_msg(err < 1e-5, "weight gradients: relative error %g", err);
    ck_assert_msg(dx_err < 1e-5, "input gradients: relative error %g", dx_err);
    free(got);
    free(want);
    free(dx_got);
    free(dx_want);
    free(dx);
    probe_free(whole);
}
END_TEST

START_TEST(weightless_layers)
{
    ck_fd *p = probe_new(single(ck_input(2, 4), ck_softmax()), 3, (int64_t[]){3, 2, 4}, 400);
    check_input(p, "Softmax");
    probe_free(p);
    const char *acts[] = {"tanh", "sigmoid", "elu", "softplus", "hard_sigmoid"};
    for (int i = 0; i < 5; i++) {
        p = probe_new(single(ck_input(6), ck_activation(.activation = acts[i])), 2,
                      (int64_t[]){2, 6}, 401 + (uint64_t)i);
        check_input(p, acts[i]);
        probe_free(p);
    }
}
END_TEST

START_TEST(dropout_uses_forward_mask)
{
    ck_fd *p = probe_new(single(ck_input(50), ck_dropout(.rate = 0.4)), 2, (int64_t[]){4, 50}, 500);
    check_input(p, "Dropout");
    /* With dy = 1, backward must return exactly the forward's mask: y / x. */
    ck_layer *l = p->m->layers[0];
    const ck_tensor *y = forward(p);
    size_t n = ck_tensor_size(y);
    float *ones = malloc(n * sizeof *ones), *dx = malloc(n * sizeof *dx);
    for (size_t i = 0; i < n; i++)
        ones[i] = 1.0f;
    ck_tensor dyt = *y, dxt = p->x;
    dyt.data = ones;
    dxt.data = dx;
    ck_assert_ok(l->ops->backward(l, &p->x, y, &dyt, &dxt));
    int dropped = 0;
    for (size_t i = 0; i < n; i++) {
        ck_assert_float_eq_tol(dx[i] * p->x.data[i], y->data[i], 1e-6);
        dropped += dx[i] == 0.0f;
    }
    ck_assert_int_gt(dropped, 0);
    ck_assert_int_lt(dropped, (int)n);
    free(ones);
    free(dx);
    probe_free(p);
}
END_TEST

START_TEST(stacked_lstm_dense)
{
    ck_model *m = ck_sequential(.seed = 12);
    ck_assert_ok(ck_model_add(m, ck_input(5, 3)));
    ck_assert_ok(ck_model_add(m, ck_lstm(.units = 4, .return_sequences = true)));
    ck_assert_ok(ck_model_add(m, ck_lstm(.units = 3, .activation = "relu", .go_backwards = true,
                                         .bias_initializer = CK_INIT("constant", .value = 0.3))));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 4, .activation = "tanh")));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 3, .activation = "softmax")));
    ck_fd *p = probe_new(m, 3, (int64_t[]){2, 5, 3}, 600);
    /* The first layers' weight gradients go through every later layer's input gradient. */
    check_weights(p, "stacked");
    probe_free(p);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("gradients");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, dense_2d, 0, 2 * N_DENSE_ACTS);
    tcase_add_loop_test(tc, dense_3d, 0, N_DENSE_ACTS);
    tcase_add_loop_test(tc, lstm_options, 0, N_LSTM_CASES);
    tcase_add_loop_test(tc, rnn_split_batches, 0,
                        (int)(sizeof split_cases / sizeof split_cases[0]));
    tcase_add_test(tc, weightless_layers);
    tcase_add_test(tc, dropout_uses_forward_mask);
    tcase_add_test(tc, stacked_lstm_dense);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ck_test_run(suite());
}
