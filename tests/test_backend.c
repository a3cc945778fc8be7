/* The packing backend (CK_BLAS_BACKEND) against the OpenBLAS calls it
 * replaces, forced with ck_blas_force_fallback in the same process: the
 * product shapes the layers use, and whole models' outputs and every
 * weight gradient, agree within 1e-5 relative (and so do a model's
 * predict and training forward). A build without a backend
 * has nothing to compare and reports SKIP. */
#include "ck_blas.h"
#include "ck_blas_backend.h"
#include "ck_gradcheck.h"
#include "ck_test.h"

#include <string.h>

#define RTOL 1e-5

/* max |a - b| <= RTOL max |b| (normwise, as BLAS errors are bounded: a
 * sum that cancels to near zero keeps the error of its terms). Fails when
 * b is all zero, since then nothing was compared. */
static void check_close(const char *what, const float *a, const float *b, size_t n)
{
    double scale = 0, worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        scale = fmax(scale, fabs((double)b[i]));
        double err = fabs((double)a[i] - b[i]);
        if (err > worst) {
            worst = err;
            at = i;
        }
    }
    ck_assert_msg(scale > 0, "%s: reference is all zero", what);
    if (getenv("CK_SHOW_ERRORS"))
        printf("%-60s %.2e\n", what, worst / scale);
    ck_assert_msg(worst <= RTOL * scale, "%s: error %.3g of max %.3g at #%zu (%.9g vs %.9g)", what,
                  worst, scale, at, (double)a[at], (double)b[at]);
}

static float *filled(size_t n, double phase)
{
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = (float)sin(0.37 * (double)i + phase);
    return v;
}

/* Values in [-scale, scale] from a fixed linear congruential sequence. */
static float *uniform(size_t n, unsigned seed, float scale)
{
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        v[i] = scale * ((float)(seed >> 8) / 16777216.0f * 2.0f - 1.0f);
    }
    return v;
}

/* ---------------- single products ---------------- */

typedef struct shape {
    int M, N, K;
    bool trans;
    float beta;
    int pad_a, pad_c; /* extra row stride of A and C */
    /* Inputs in [-1, 1] and Glorot-scaled weights instead of the sine
     * fill: at K = 1662 the sine sums cancel so deeply that OpenBLAS alone
     * is 1.3e-5 (normwise) from the exact product, so no two float32
     * products could agree within RTOL. */
    bool model_values;
} shape;

static const shape shapes[] = {
    {1, 256, 64, false, 1, 0, 0, false},    /* batch-1 recurrent step */
    {32, 256, 64, false, 1, 0, 704, false}, /* LSTM step into strided pre-activations */
    {32, 64, 256, true, 0, 192, 0, false},  /* backward dh from strided dz */
    {160, 256, 126, false, 0, 0, 0, false}, /* small input projection, 3 row blocks */
    {70, 100, 33, false, 1, 5, 3, false},   /* a narrow last panel */
    {3, 3, 5, true, 1, 0, 0, false},        /* a Dense head */
    {32, 32, 64, false, 0, 0, 0, false},    /* Dense(32) in inference, narrower than a panel */
    {32, 3, 32, false, 0, 0, 0, false},     /* Dense(3) in inference */
    {130, 192, 77, true, 0, 0, 0, false},   /* GRU candidate block, transposed */
    {64, 2048, 512, false, 1, 0, 0, false}, /* W3 step, split over the pool */
    {64, 512, 2048, true, 0, 0, 0, false},  /* W3 backward dh, K = 2048 */
    {600, 128, 40, false, 0, 0, 0, false},  /* many row blocks (inference projection) */
    {960, 256, 1662, false, 0, 0, 0, true}, /* W2's first input projection */
};

START_TEST(product_matches_openblas)
{
    const shape *s = &shapes[_i];
    int lda = s->K + s->pad_a, ldc = s->N + s->pad_c;
    int ldb = s->trans ? s->K : s->N, brows = s->trans ? s->N : s->K;
    size_t na = (size_t)s->M * (size_t)lda, nb = (size_t)brows * (size_t)ldb;
    float glorot = (float)sqrt(6.0 / (s->K + s->N));
    float *A = s->model_values ? uniform(na, 1, 1.0f) : filled(na, 0.1),
          *B = s->model_values ? uniform(nb, 7, glorot) : filled(nb, 2.0);
    float *C = filled((size_t)s->M * (size_t)ldc, 1.0), *ref = malloc((size_t)s->M * ldc * 4);
    memcpy(ref, C, (size_t)s->M * (size_t)ldc * sizeof *C);
    ck_packed p = {0};
    ck_assert_ok(ck_pack(&p, B, s->K, s->N, ldb, s->trans));
    /* The backend itself, not ck_gemm_packed, which would hide a product
     * the backend declines behind the OpenBLAS call it compares with. */
    ck_assert_msg(p.impl && ck_backend_gemm(&p, s->M, A, lda, s->beta, C, ldc),
                  "the backend declined a %dx%dx%d product", s->M, s->N, s->K);
    ck_blas_force_fallback(true);
    ck_assert_ok(ck_pack(&p, B, s->K, s->N, ldb, s->trans));
    ck_gemm_packed(s->M, A, lda, &p, s->beta, ref, ldc);
    ck_blas_force_fallback(false);
    char what[64];
    snprintf(what, sizeof what, "%dx%dx%d%s", s->M, s->N, s->K, s->trans ? " (B^T)" : "");
    check_close(what, C, ref, (size_t)s->M * (size_t)ldc);
    ck_packed_free(&p);
    free(A), free(B), free(C), free(ref);
}
END_TEST

/* Products of a few rows by a large B, which the backend runs on B in
 * place (ck_backend_gemm_direct), against the OpenBLAS call. */
static const shape direct_shapes[] = {
    {30, 256, 1662, false, 0, 0, 0, true},  /* W4's input projection in training */
    {30, 256, 1662, false, 1, 7, 11, true}, /* the same, accumulated, strided A and C */
    {1, 300, 1000, false, 1, 0, 0, true},   /* one row, a last panel of 44 */
    {64, 40, 8000, false, 0, 0, 0, true},   /* narrower than a panel */
};

START_TEST(direct_matches_openblas)
{
    const shape *s = &direct_shapes[_i];
    int lda = s->K + s->pad_a, ldc = s->N + s->pad_c, ldb = s->N;
    size_t na = (size_t)s->M * (size_t)lda, nb = (size_t)s->K * (size_t)ldb,
           nc = (size_t)s->M * (size_t)ldc;
    float *A = uniform(na, 3, 1.0f), *B = uniform(nb, 5, (float)sqrt(6.0 / (s->K + s->N)));
    float *C = filled(nc, 1.0), *ref = malloc(nc * sizeof *ref);
    memcpy(ref, C, nc * sizeof *C);
    ck_assert_msg(ck_backend_gemm_direct(s->M, s->N, s->K, A, lda, B, ldb, s->beta, C, ldc),
                  "the backend declined a %dx%dx%d product", s->M, s->N, s->K);
    ck_blas_force_fallback(true);
    ck_gemm(s->M, s->N, s->K, A, lda, B, ldb, s->beta, ref, ldc);
    ck_blas_force_fallback(false);
    char what[64];
    snprintf(what, sizeof what, "direct %dx%dx%d, beta %g", s->M, s->N, s->K, (double)s->beta);
    check_close(what, C, ref, nc);
    free(A), free(B), free(C), free(ref);
}
END_TEST

/* ---------------- whole models ---------------- */

typedef struct case_def {
    const char *name;
    int T, F, B;
    ck_model *(*make)(int T, int F);
} case_def;

static ck_model *built(ck_model *m)
{
    ck_assert_ok(ck_model_build(m));
    return m;
}

static ck_model *lstm_tanh(int T, int F)
{
    ck_model *m = ck_sequential(.seed = 3);
    ck_assert_ok(ck_model_add(m, ck_input(T, F)));
    ck_assert_ok(ck_model_add(m, ck_lstm(64, .return_sequences = true)));
    ck_assert_ok(ck_model_add(m, ck_lstm(128)));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 3, .activation = "softmax")));
    return built(m);
}

static ck_model *lstm_relu_masked(int T, int F)
{
    ck_model *m = ck_sequential(.seed = 4);
    ck_assert_ok(ck_model_add(m, ck_input(T, F)));
    ck_assert_ok(ck_model_add(m, ck_masking(.mask_value = 0.0)));
    ck_assert_ok(ck_model_add(m, ck_lstm(64, .activation = "relu", .return_sequences = true,
                                         .go_backwards = true)));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 50)));
    return built(m);
}

static ck_model *gru_both(int T, int F)
{
    ck_model *m = ck_sequential(.seed = 5);
    ck_assert_ok(ck_model_add(m, ck_input(T, F)));
    ck_assert_ok(ck_model_add(m, ck_gru(48, .return_sequences = true)));
    ck_assert_ok(ck_model_add(m, ck_gru(64, .no_reset_after = true, .go_backwards = true)));
    return built(m);
}

static ck_model *simple_rnn(int T, int F)
{
    ck_model *m = ck_sequential(.seed = 6);
    ck_assert_ok(ck_model_add(m, ck_input(T, F)));
    ck_assert_ok(ck_model_add(m, ck_simple_rnn(96, .return_sequences = true)));
    ck_assert_ok(ck_model_add(m, ck_simple_rnn(32)));
    return built(m);
}

static ck_model *lstm_large(int T, int F)
{
    ck_model *m = ck_sequential(.seed = 7);
    ck_assert_ok(ck_model_add(m, ck_input(T, F)));
    ck_assert_ok(ck_model_add(m, ck_lstm(256, .return_sequences = true)));
    return built(m);
}

static const case_def cases[] = {
    {"LSTM tanh stack", 12, 40, 16, lstm_tanh},
    {"LSTM relu, masked, backwards", 9, 30, 16, lstm_relu_masked},
    {"GRU reset_after and not", 7, 20, 20, gru_both},
    {"SimpleRNN", 10, 24, 13, simple_rnn},
    {"LSTM 256, batch 1", 6, 32, 1, lstm_large},
    {"LSTM 256, batch 32", 6, 32, 32, lstm_large},
    {"LSTM tanh stack, W2's input shape (960-row projections)", 30, 1662, 32, lstm_tanh},
    /* Training projects the 30 rows on the 1662 x 256 kernel in place. */
    {"LSTM tanh stack, W4's input shape (batch 1)", 30, 1662, 1, lstm_tanh},
    /* Projections over 8 MB: inference projects the input per step. */
    {"LSTM 256, batch 32, 70 steps", 70, 32, 32, lstm_large},
    {"LSTM relu, masked, backwards, 130 steps", 130, 16, 64, lstm_relu_masked},
};

/* Inference output, training output and weight gradients of one pass. */
typedef struct pass {
    float *infer, *train, *grads;
    size_t n_out, n_params;
} pass;

static void run_pass(ck_fd *fd, pass *p)
{
    ck_model *m = fd->m;
    ck_assert_ok(ck_model_forward(m, &fd->x, false));
    const ck_tensor *y = &m->act_views[m->n_layers - 1];
    p->n_out = ck_tensor_size(y);
    p->infer = malloc(p->n_out * sizeof(float));
    memcpy(p->infer, y->data, p->n_out * sizeof(float));
    ck_fd_backward(fd);
    p->train = malloc(p->n_out * sizeof(float));
    memcpy(p->train, y->data, p->n_out * sizeof(float));
    p->n_params = m->n_params;
    p->grads = malloc((p->n_params + 1) * sizeof(float));
    memcpy(p->grads, m->grads, p->n_params * sizeof(float));
}

static void pass_free(pass *p)
{
    free(p->infer), free(p->train), free(p->grads);
}

/* Masked timesteps for the masking case: a tail of zeros per sample. */
static void mask_tails(float *x, const case_def *c)
{
    for (int b = 0; b < c->B; b++)
        for (int t = c->T - b % 3; t < c->T; t++)
            memset(x + ((size_t)b * c->T + (size_t)t) * c->F, 0, sizeof(float) * (size_t)c->F);
}

START_TEST(model_matches_openblas)
{
    const case_def *c = &cases[_i];
    ck_model *m = c->make(c->T, c->F);
    size_t nx = (size_t)c->B * (size_t)c->T * (size_t)c->F;
    float *x = filled(nx, 0.5);
    mask_tails(x, c);
    int64_t out_dims[CK_MAX_RANK];
    int out_rank;
    ck_assert_ok(ck_model_output_shape(m, &out_rank, out_dims));
    size_t ny = (size_t)c->B;
    for (int k = 0; k < out_rank; k++)
        ny *= (size_t)out_dims[k];
    float *r = filled(ny, 1.5);
    ck_fd fd = {.m = m,
                .x = {.rank = 3, .dims = {c->B, c->T, c->F}, .data = x},
                .r = r,
                .rng = m->rng,
                .training = true};
    pass fast, ref;
    run_pass(&fd, &fast);
    ck_blas_force_fallback(true);
    run_pass(&fd, &ref);
    ck_blas_force_fallback(false);
    char what[400];
    snprintf(what, sizeof what, "%s: predict", c->name);
    check_close(what, fast.infer, ref.infer, ref.n_out);
    snprintf(what, sizeof what, "%s: training forward", c->name);
    check_close(what, fast.train, ref.train, ref.n_out);
    /* Without dropout both modes compute the same, whether inference
     * projects the input per step or all at once as training does. */
    snprintf(what, sizeof what, "%s: predict against the training forward", c->name);
    check_close(what, fast.infer, fast.train, ref.n_out);
    for (int i = 0; i < m->n_layers; i++)
        for (int k = 0; k < m->layers[i]->n_weights; k++) {
            const ck_weight *w = &m->layers[i]->weights[k];
            size_t at = (size_t)(w->grad - m->grads);
            snprintf(what, sizeof what, "%s: gradient of %s/%s", c->name, m->layers[i]->name,
                     w->name);
            check_close(what, fast.grads + at, ref.grads + at, w->size);
        }
    pass_free(&fast), pass_free(&ref);
    free(x), free(r);
    ck_model_free(m);
}
END_TEST

/* A weight written through a view taken after the last predict is what
 * the next predict uses: the view counts as a change, so the packed copy
 * is made again. */
START_TEST(written_weights_are_used)
{
    ck_model *m = lstm_tanh(5, 8);
    float x[2 * 5 * 8], before[2 * 3], after[2 * 3], ref[2 * 3];
    for (size_t i = 0; i < sizeof x / sizeof *x; i++)
        x[i] = (float)cos(0.3 * (double)i);
    ck_assert_ok(ck_model_predict(m, x, 2, before));
    ck_tensor view;
    ck_assert_ok(ck_layer_weight(ck_model_layer(m, 0), 1, NULL, &view));
    for (size_t i = 0; i < ck_tensor_size(&view); i++)
        view.data[i] *= -2.0f;
    ck_assert_ok(ck_model_predict(m, x, 2, after));
    ck_blas_force_fallback(true);
    ck_assert_ok(ck_model_predict(m, x, 2, ref));
    ck_blas_force_fallback(false);
    check_close("after writing the recurrent kernel", after, ref, 6);
    double moved = 0;
    for (int i = 0; i < 6; i++)
        moved = fmax(moved, fabs((double)after[i] - before[i]));
    ck_assert_msg(moved > 1e-4, "the written weights made no difference");
    ck_model_free(m);
}
END_TEST

int main(void)
{
    if (strncmp(ck_blas_backend(), "no packing backend", 18) == 0) {
        ck_test_skip("built without a packing backend (%s)", ck_blas_backend());
        return 77;
    }
    Suite *s = suite_create("backend");
    TCase *tc = tcase_create("backend");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, product_matches_openblas, 0, (int)(sizeof shapes / sizeof *shapes));
    tcase_add_loop_test(tc, direct_matches_openblas, 0,
                        (int)(sizeof direct_shapes / sizeof *direct_shapes));
    tcase_add_loop_test(tc, model_matches_openblas, 0, (int)(sizeof cases / sizeof *cases));
    tcase_add_test(tc, written_weights_are_used);
    suite_add_tcase(s, tc);
    return ck_test_run(s);
}
