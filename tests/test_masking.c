/* Keras masking: Embedding(mask_zero) and Masking make a (batch, steps)
 * mask that recurrent layers consume (state carried over masked steps,
 * output repeated) and the loss honours (mean over the kept steps). */
#include "ck_gradcheck.h"
#include "ck_test.h"
#include "ck_internal.h"
#include "ck_layers.h"
#include "ck_train.h"
#include "ckeras_io.h"

#include <string.h>

#define T_PAD 5
#define F 3
#define U 4

/* Recurrent layer under test, built fresh for every model. */
typedef enum rnn_kind {
    K_LSTM,
    K_GRU,
    K_GRU_V1,
    K_SIMPLE,
    K_BIDIR_LSTM,
    K_BIDIR_GRU,
    K_COUNT
} rnn_kind;
static const char *const kind_names[] = {"LSTM",
                                         "GRU",
                                         "GRU(reset_after=False)",
                                         "SimpleRNN",
                                         "Bidirectional(LSTM)",
                                         "Bidirectional(GRU, sum)"};

static ck_layer *make_rnn(rnn_kind k, bool seq, bool back)
{
    switch (k) {
    case K_LSTM:
        return ck_lstm(U, .return_sequences = seq, .go_backwards = back);
    case K_GRU:
        return ck_gru(U, .return_sequences = seq, .go_backwards = back);
    case K_GRU_V1:
        return ck_gru(U, .return_sequences = seq, .go_backwards = back, .no_reset_after = true);
    case K_SIMPLE:
        return ck_simple_rnn(U, .return_sequences = seq, .go_backwards = back);
    case K_BIDIR_LSTM:
        return ck_bidirectional(ck_lstm(U, .return_sequences = seq, .go_backwards = back));
    default:
        return ck_bidirectional(ck_gru(U, .return_sequences = seq, .go_backwards = back),
                                .merge_mode = "sum");
    }
}

/* Masking(0) -> rnn on (None, F): the same weights run any length. */
static ck_model *masked_model(rnn_kind k, bool seq, bool back)
{
    ck_model *m = ck_sequential(.seed = 7);
    ck_assert_ok(ck_model_add(m, ck_input(CK_NONE, F)));
    ck_assert_ok(ck_model_add(m, ck_masking()));
    ck_assert_ok(ck_model_add(m, make_rnn(k, seq, back)));
    ck_assert_ok(ck_model_build(m));
    return m;
}

static void fill(float *v, size_t n, uint64_t seed)
{
    ck_rng rng;
    ck_rng_seed(&rng, seed);
    for (size_t i = 0; i < n; i++)
        v[i] = (float)(2 * ck_rng_uniform(&rng) - 1);
}

/* Runs the model on one sample of `steps` steps; out must hold its output. */
static void run(ck_model *m, const float *x, int batch, int steps, float *out)
{
    ck_tensor tx = {.rank = 3, .dims = {batch, steps, F}, .data = (float *)x};
    ck_tensor ty = {.rank = 1, .dims = {(int64_t)batch * T_PAD * 2 * U}, .data = out};
    ck_assert_ok(ck_model_predict_tensor(m, &tx, &ty));
}

static int out_width(rnn_kind k)
{
    return k == K_BIDIR_LSTM ? 2 * U : U;
}

static void assert_rows_close(const float *a, const float *b, int n, const char *what, int row)
{
    for (int j = 0; j < n; j++)
        ck_assert_msg(fabsf(a[j] - b[j]) < 1e-5f, "%s: row %d, [%d] = %.7g, expected %.7g", what,
                      row, j, (double)a[j], (double)b[j]);
}

static void assert_zero_row(const float *a, int n, const char *what, int row)
{
    for (int j = 0; j < n; j++)
        ck_assert_msg(a[j] == 0.0f, "%s: masked row %d, [%d] = %g, expected 0", what, row, j,
                      (double)a[j]);
}

/* Sample 0 holds `len` real steps placed at `start` among T_PAD zero steps;
 * sample 1 is full. Sample 0's output must equal running its real steps
 * alone (batched with sample 1 so masked and kept samples share steps). */
static void check_padding(rnn_kind k, bool seq, bool back, int start, int len)
{
    char what[160];
    snprintf(what, sizeof what, "%s seq=%d back=%d start=%d len=%d", kind_names[k], seq, back,
             start, len);
    ck_model *m = masked_model(k, seq, back);
    int W = out_width(k);
    float x[2 * T_PAD * F] = {0}, real[T_PAD * F];
    float out[2 * T_PAD * 2 * U], ref[T_PAD * 2 * U];
    fill(real, (size_t)len * F, 100 + (uint64_t)len);
    memcpy(x + start * F, real, sizeof(float) * (size_t)(len * F));
    fill(x + T_PAD * F, T_PAD * F, 5);
    run(m, x, 2, T_PAD, out);
    run(m, real, 1, len, ref);
    bool bidir = k == K_BIDIR_LSTM || k == K_BIDIR_GRU;
    if (!seq)
        assert_rows_close(out, ref, W, what, 0);
    for (int p = 0; seq && p < T_PAD; p++) {
        /* Output row p comes from processing step p; the real steps are
         * processing steps off..off+len-1. Bidirectional realigns rows with
         * real time and (zero_output_for_mask, forced by Keras) zeroes the
         * masked ones; a plain RNN repeats its last output, zeros before
         * the first kept step. */
        int off = bidir || !back ? start : T_PAD - start - len, q = p - off;
        if (q >= 0 && q < len)
            assert_rows_close(out + p * W, ref + q * W, W, what, p);
        else if (bidir || q < 0)
            assert_zero_row(out + p * W, W, what, p);
        else
            assert_rows_close(out + p * W, ref + (len - 1) * W, W, what, p);
    }
    ck_model_free(m);
}

START_TEST(padding_equals_truncation)
{
    rnn_kind k = (rnn_kind)_i;
    bool bidir = k == K_BIDIR_LSTM || k == K_BIDIR_GRU;
    for (int seq = 0; seq < 2; seq++)
        for (int back = 0; back < (bidir ? 1 : 2); back++) {
            check_padding(k, seq, back, 0, 3); /* trailing zeros */
            check_padding(k, seq, back, 2, 3); /* leading zeros */
            check_padding(k, seq, back, 0, T_PAD);
        }
}
END_TEST

/* Keep pattern with holes in the middle: sample 0 keeps steps 0, 2, 3;
 * sample 1 keeps 1 and 4. */
static const int keep_pattern[2][T_PAD] = {{1, 0, 1, 1, 0}, {0, 1, 0, 0, 1}};

static void masked_input(float *x)
{
    fill(x, 2 * T_PAD * F, 21);
    for (int b = 0; b < 2; b++)
        for (int t = 0; t < T_PAD; t++)
            if (!keep_pattern[b][t])
                memset(x + (b * T_PAD + t) * F, 0, sizeof(float) * F);
}

static double sigmoid(double v)
{
    return 1 / (1 + exp(-v));
}

/* Plain-loop LSTM over one sample with Keras's masking rules. */
static void naive_lstm(const ck_layer *l, const float *x, const int *keep, float *seq_out)
{
    const float *W = l->weights[0].data, *R = l->weights[1].data, *bias = l->weights[2].data;
    double h[U] = {0}, c[U] = {0}, prev[U] = {0};
    for (int t = 0; t < T_PAD; t++) {
        if (keep[t]) {
            double z[4 * U];
            for (int g = 0; g < 4 * U; g++) {
                z[g] = bias[g];
                for (int f = 0; f < F; f++)
                    z[g] += x[t * F + f] * W[f * 4 * U + g];
                for (int j = 0; j < U; j++)
                    z[g] += h[j] * R[j * 4 * U + g];
            }
            for (int j = 0; j < U; j++) {
                c[j] = sigmoid(z[U + j]) * c[j] + sigmoid(z[j]) * tanh(z[2 * U + j]);
                h[j] = sigmoid(z[3 * U + j]) * tanh(c[j]);
                prev[j] = h[j];
            }
        }
        for (int j = 0; j < U; j++)
            seq_out[t * U + j] = (float)prev[j];
    }
}

START_TEST(middle_mask_matches_naive_lstm)
{
    ck_model *m = masked_model(K_LSTM, true, false);
    float x[2 * T_PAD * F], out[2 * T_PAD * 2 * U], ref[T_PAD * U];
    masked_input(x);
    run(m, x, 2, T_PAD, out);
    for (int b = 0; b < 2; b++) {
        naive_lstm(m->layers[1], x + b * T_PAD * F, keep_pattern[b], ref);
        for (int t = 0; t < T_PAD; t++)
            assert_rows_close(out + (b * T_PAD + t) * U, ref + t * U, U, "naive LSTM",
                              b * T_PAD + t);
    }
    /* Sample 1 starts masked: zeros until its first kept step. */
    assert_zero_row(out + T_PAD * U, U, "leading masked step", T_PAD);
    ck_model_free(m);
}
END_TEST

/* With a non-zero initial state the state is carried over masked steps,
 * but the output before any kept step is zero (Keras's TensorFlow backend
 * starts from a zero output), so a fully masked sample outputs zeros. */
START_TEST(initial_state_and_fully_masked)
{
    for (int gru = 0; gru < 2; gru++) {
        ck_model *m = ck_sequential(.seed = 12);
        ck_assert_ok(ck_model_add(m, ck_input(CK_NONE, F)));
        ck_assert_ok(ck_model_add(m, ck_masking()));
        ck_assert_ok(ck_model_add(m, gru ? ck_gru(U) : ck_lstm(U)));
        ck_assert_ok(ck_model_build(m));
        float h0[2 * U], c0[2 * U];
        fill(h0, 2 * U, 40);
        fill(c0, 2 * U, 41);
        ck_layer *l = m->layers[1];
        ck_assert_ok(gru ? ck_rnn_set_initial_state(l, h0, 2)
                         : ck_lstm_set_initial_state(l, h0, c0, 2));
        float x[2 * T_PAD * F] = {0}, xs[2 * 3 * F], out[2 * T_PAD * 2 * U], ref[2 * T_PAD * 2 * U];
        fill(x + T_PAD * F + 2 * F, 3 * F, 42); /* sample 1: 2 leading masked steps */
        fill(xs, 3 * F, 43);
        memcpy(xs + 3 * F, x + T_PAD * F + 2 * F, sizeof(float) * 3 * F);
        run(m, x, 2, T_PAD, out);
        run(m, xs, 2, 3, ref);
        assert_zero_row(out, U, gru ? "GRU fully masked" : "LSTM fully masked", 0);
        assert_rows_close(out + U, ref + U, U,
                          gru ? "GRU carried initial state" : "LSTM carried initial state", 1);
        /* After a forward, the carried state of the fully masked sample is still h0. */
        float h[2 * U], c[2 * U];
        run(m, x, 2, T_PAD, out);
        ck_assert_ok(gru ? ck_rnn_get_state(l, h, 2) : ck_lstm_get_state(l, h, c, 2));
        assert_rows_close(h, h0, U, "state of a fully masked sample", 0);
        ck_model_free(m);
    }
}
END_TEST

/* The final output with holes equals running only the kept steps. */
START_TEST(middle_mask_matches_compressed)
{
    rnn_kind k = (rnn_kind)_i;
    int W = out_width(k);
    for (int back = 0; back < 2; back++) {
        ck_model *m = masked_model(k, false, back);
        float x[2 * T_PAD * F], out[2 * T_PAD * 2 * U], ref[T_PAD * 2 * U], kept[T_PAD * F];
        masked_input(x);
        run(m, x, 2, T_PAD, out);
        for (int b = 0; b < 2; b++) {
            int n = 0;
            for (int t = 0; t < T_PAD; t++)
                if (keep_pattern[b][t])
                    memcpy(kept + F * n++, x + (b * T_PAD + t) * F, sizeof(float) * F);
            run(m, kept, 1, n, ref);
            assert_rows_close(out + b * W, ref, W, kind_names[k], b);
        }
        ck_model_free(m);
    }
}
END_TEST

START_TEST(masking_layer_output)
{
    ck_model *m = ck_sequential();
    ck_assert_ok(ck_model_add(m, ck_input(3, 2)));
    ck_assert_ok(ck_model_add(m, ck_masking(.mask_value = -1.0)));
    ck_assert_ok(ck_model_add(m, ck_dense(2)));
    ck_assert_ok(ck_model_build(m));
    /* Row 0 is partly -1 (kept), row 1 all -1 (masked), row 2 zeros (kept). */
    float x[6] = {-1, 5, -1, -1, 0, 0};
    ck_tensor tx = {.rank = 3, .dims = {1, 3, 2}, .data = x};
    ck_assert_ok(ck_model_forward(m, &tx, false));
    const float *y = m->act_views[0].data, *mask = m->mask_views[0];
    const float want_y[6] = {-1, 5, 0, 0, 0, 0}, want_mask[3] = {1, 0, 1};
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(y[i], want_y[i]);
    ck_assert_ptr_nonnull(mask);
    for (int i = 0; i < 3; i++)
        ck_assert_float_eq(mask[i], want_mask[i]);
    /* Dense keeps the steps, so the mask reaches the output. */
    ck_assert_ptr_eq(m->mask_views[1], mask);
    /* Backward lets gradients through kept rows only. */
    ck_layer *l = m->layers[0];
    float dyv[6] = {1, 2, 3, 4, 5, 6}, dxv[6];
    ck_tensor dy = m->act_views[0], dx = tx;
    dy.data = dyv;
    dx.data = dxv;
    ck_assert_ok(l->ops->backward(l, &tx, &m->act_views[0], &dy, &dx));
    const float want_dx[6] = {1, 2, 0, 0, 5, 6};
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(dxv[i], want_dx[i]);
    ck_model_free(m);
}
END_TEST

START_TEST(mask_propagation)
{
    /* Keras: Dense and LSTM(return_sequences) pass the mask on, an LSTM
     * returning its last output consumes it, Flatten drops it. */
    ck_model *m = ck_sequential();
    ck_assert_ok(ck_model_add(m, ck_input(4)));
    ck_assert_ok(ck_model_add(m, ck_embedding(10, 3, .mask_zero = true)));
    ck_assert_ok(ck_model_add(m, ck_lstm(2, .return_sequences = true)));
    ck_assert_ok(ck_model_add(m, ck_dense(2)));
    ck_assert_ok(ck_model_add(m, ck_flatten()));
    ck_assert_ok(ck_model_build(m));
    float ids[8] = {3, 1, 0, 0, 0, 2, 9, 0};
    ck_tensor tx = {.rank = 2, .dims = {2, 4}, .data = ids};
    ck_assert_ok(ck_model_forward(m, &tx, false));
    const float *mask = m->mask_views[0];
    ck_assert_ptr_nonnull(mask);
    for (int i = 0; i < 8; i++)
        ck_assert_float_eq(mask[i], ids[i] != 0 ? 1.0f : 0.0f);
    ck_assert_ptr_eq(m->mask_views[1], mask);
    ck_assert_ptr_eq(m->mask_views[2], mask);
    ck_assert_ptr_null(m->mask_views[3]);
    ck_model_free(m);

    m = ck_sequential();
    ck_assert_ok(ck_model_add(m, ck_input(4)));
    ck_assert_ok(ck_model_add(m, ck_embedding(10, 3)));
    ck_assert_ok(ck_model_add(m, ck_lstm(2)));
    ck_assert_ok(ck_model_build(m));
    ck_assert_ok(ck_model_forward(m, &tx, false));
    ck_assert_ptr_null(m->mask_views[0]);
    ck_assert_ptr_null(m->mask_views[1]);
    ck_model_free(m);
}
END_TEST

START_TEST(embedding_mask_zero)
{
    rnn_kind k = (rnn_kind)_i;
    int W = out_width(k);
    ck_model *m = ck_sequential(.seed = 3);
    ck_assert_ok(ck_model_add(m, ck_input(CK_NONE)));
    ck_assert_ok(ck_model_add(m, ck_embedding(10, F, .mask_zero = true)));
    ck_assert_ok(ck_model_add(m, make_rnn(k, false, false)));
    ck_assert_ok(ck_model_build(m));
    float padded[2 * T_PAD] = {4, 7, 1, 0, 0, 0, 0, 2, 8, 3}, out[2 * 2 * U];
    const float first[3] = {4, 7, 1}, second[3] = {2, 8, 3};
    float ref[2 * U];
    ck_tensor tx = {.rank = 2, .dims = {2, T_PAD}, .data = padded};
    ck_tensor ty = {.rank = 1, .dims = {4 * U}, .data = out};
    ck_assert_ok(ck_model_predict_tensor(m, &tx, &ty));
    for (int b = 0; b < 2; b++) {
        ck_tensor t1 = {.rank = 2, .dims = {1, 3}, .data = (float *)(b ? second : first)};
        ck_tensor r1 = {.rank = 1, .dims = {2 * U}, .data = ref};
        ck_assert_ok(ck_model_predict_tensor(m, &t1, &r1));
        assert_rows_close(out + b * W, ref, W, kind_names[k], b);
    }
    ck_model_free(m);
}
END_TEST

/* ---- gradients against central differences (ck_gradcheck.h) ---- */
#define H 1e-3
#define TOL 1e-2

/* Weight gradients of the whole model, and the input gradient of layer 1
 * (the first after Masking) at the kept steps; masked steps get exactly 0. */
static void check_gradients(ck_model *m, const char *what)
{
    float xd[2 * T_PAD * F], r[2 * T_PAD * 2 * U];
    ck_fd fd = {.m = m,
                .x = {.rank = 3, .dims = {2, T_PAD, F}, .data = xd},
                .r = r,
                .training = true,
                .h = H};
    masked_input(xd);
    ck_assert_ok(ck_model_build(m));
    fd.rng = m->rng;
    fill(r, sizeof r / sizeof r[0], 33);
    ck_fd_check_weights(&fd, what, TOL);

    if (m->n_layers != 2)
        return;
    float dxv[2 * T_PAD * F];
    ck_fd_last_input_grad(&fd, dxv);
    double ai[2 * T_PAD * F], ni[2 * T_PAD * F];
    size_t k = 0;
    for (int b = 0; b < 2; b++)
        for (int t = 0; t < T_PAD; t++)
            for (int f = 0; f < F; f++) {
                size_t i = (size_t)((b * T_PAD + t) * F + f);
                if (!keep_pattern[b][t]) {
                    ck_assert_msg(dxv[i] == 0.0f, "%s: masked input gradient %g", what,
                                  (double)dxv[i]);
                    continue;
                }
                ai[k] = dxv[i];
                ni[k++] = ck_fd_derivative(&fd, &xd[i]);
            }
    double err = ck_fd_rel_error(ai, ni, k);
    ck_assert_msg(err < TOL, "%s: input gradient relative error %g", what, err);
}

/* A Bidirectional(LSTM, return_sequences) loaded from a file of standalone
 * Keras 2.0-2.3, which had no zero_output_for_mask: at a masked step each
 * direction repeats its last output (zeros before its first kept step),
 * as keras/backend/tensorflow_backend.py rnn() of 2.2.4 does. The same
 * model from tf.keras ("2.2.4-tf") zeroes the masked steps. */
START_TEST(standalone_keras2_bidirectional_repeats)
{
    static const int starts[2] = {0, 2};
    for (int i = 0; i < 2; i++) {
        int start = starts[i], len = 3;
        ck_model *m = masked_model(K_BIDIR_LSTM, true, false);
        snprintf(m->keras_version, sizeof m->keras_version, "2.2.4");
        float x[2 * T_PAD * F] = {0}, real[T_PAD * F], out[2 * T_PAD * 2 * U], ref[T_PAD * 2 * U];
        fill(real, (size_t)len * F, 300 + (uint64_t)start);
        memcpy(x + start * F, real, sizeof(float) * (size_t)(len * F));
        fill(x + T_PAD * F, T_PAD * F, 5);
        run(m, x, 2, T_PAD, out);
        run(m, real, 1, len, ref);
        float zeros[U] = {0};
        for (int p = 0; p < T_PAD; p++) {
            int q = p - start;
            /* forward half, then backward half (concat) */
            const float *fwd = q < 0 ? zeros : ref + (q < len ? q : len - 1) * 2 * U;
            const float *bwd = q >= len ? zeros : ref + (q < 0 ? 0 : q) * 2 * U + U;
            assert_rows_close(out + p * 2 * U, fwd, U, "standalone forward", p);
            assert_rows_close(out + p * 2 * U + U, bwd, U, "standalone backward", p);
        }
        check_gradients(m, "standalone Keras 2 Bidirectional");
        snprintf(m->keras_version, sizeof m->keras_version, "2.2.4-tf");
        run(m, x, 2, T_PAD, out);
        for (int p = 0; p < T_PAD; p++)
            if (p < start || p >= start + len)
                assert_zero_row(out + p * 2 * U, 2 * U, "tf.keras", p);
        ck_model_free(m);
    }
}
END_TEST

START_TEST(gradients_with_mask)
{
    rnn_kind k = (rnn_kind)_i;
    bool bidir = k == K_BIDIR_LSTM || k == K_BIDIR_GRU;
    for (int seq = 0; seq < 2; seq++)
        for (int back = 0; back < (bidir ? 1 : 2); back++) {
            char what[128];
            snprintf(what, sizeof what, "%s seq=%d back=%d", kind_names[k], seq, back);
            ck_model *m = masked_model(k, seq, back);
            check_gradients(m, what);
            ck_model_free(m);
        }
}
END_TEST

START_TEST(gradients_stacked_and_options)
{
    /* The mask passes through a sequence LSTM and a Dense into a second
     * LSTM; zero_output_for_mask and recurrent dropout on a masked LSTM. */
    ck_model *m = ck_sequential(.seed = 5);
    ck_assert_ok(ck_model_add(m, ck_input(T_PAD, F)));
    ck_assert_ok(ck_model_add(m, ck_masking()));
    ck_assert_ok(
        ck_model_add(m, ck_lstm(U, .return_sequences = true, .zero_output_for_mask = true)));
    ck_assert_ok(ck_model_add(m, ck_dense(3, .activation = "tanh")));
    ck_assert_ok(ck_model_add(m, ck_gru(U, .go_backwards = true)));
    check_gradients(m, "Masking > LSTM(seq, zero_output) > Dense > GRU(back)");
    ck_model_free(m);

    m = ck_sequential(.seed = 6);
    ck_assert_ok(ck_model_add(m, ck_input(T_PAD, F)));
    ck_assert_ok(ck_model_add(m, ck_masking()));
    ck_assert_ok(ck_model_add(m, ck_lstm(U, .return_sequences = true, .recurrent_dropout = 0.3)));
    check_gradients(m, "LSTM recurrent_dropout");
    ck_model_free(m);

    m = ck_sequential(.seed = 7);
    ck_assert_ok(ck_model_add(m, ck_input(T_PAD, F)));
    ck_assert_ok(ck_model_add(m, ck_masking()));
    ck_assert_ok(
        ck_model_add(m, ck_lstm(U, .return_sequences = true, .zero_output_for_mask = true)));
    check_gradients(m, "LSTM zero_output");
    ck_model_free(m);

    m = ck_sequential(.seed = 8);
    ck_assert_ok(ck_model_add(m, ck_input(T_PAD, F)));
    ck_assert_ok(ck_model_add(m, ck_masking()));
    ck_assert_ok(
        ck_model_add(m, ck_simple_rnn(U, .return_sequences = true, .recurrent_dropout = 0.3,
                                      .zero_output_for_mask = true)));
    check_gradients(m, "SimpleRNN recurrent_dropout, zero_output");
    ck_model_free(m);
}
END_TEST

/* Keras GlobalAveragePooling1D averages over the kept steps only. */
START_TEST(global_average_pooling_uses_mask)
{
    ck_model *m = ck_sequential();
    ck_assert_ok(ck_model_add(m, ck_input(3, 2)));
    ck_assert_ok(ck_model_add(m, ck_masking()));
    ck_assert_ok(ck_model_add(m, ck_global_average_pooling1d()));
    ck_assert_ok(ck_model_build(m));
    float x[12] = {1, 2, 0, 0, 4, 8, /* sample 1 fully masked */ 0, 0, 0, 0, 0, 0}, y[4];
    ck_assert_ok(ck_model_predict(m, x, 2, y));
    ck_assert_float_eq(y[0], 2.5f);
    ck_assert_float_eq(y[1], 5.0f);
    /* Keras: 0 / 0 */
    ck_assert_float_nan(y[2]);
    ck_assert_float_nan(y[3]);
    ck_assert_ptr_null(m->mask_views[1]);
    ck_model_free(m);

    m = ck_sequential(.seed = 9);
    ck_assert_ok(ck_model_add(m, ck_input(T_PAD, F)));
    ck_assert_ok(ck_model_add(m, ck_masking()));
    ck_assert_ok(ck_model_add(m, ck_dense(3, .activation = "tanh")));
    ck_assert_ok(ck_model_add(m, ck_global_average_pooling1d()));
    ck_assert_ok(ck_model_add(m, ck_dense(2)));
    check_gradients(m, "Masking > Dense > GlobalAveragePooling1D > Dense");
    ck_model_free(m);
}
END_TEST

/* ---- loss ---- */

/* The masked loss sums over kept steps; tf.keras 2 (mask as sample weight,
 * sum_over_batch_size) divides by all steps, Keras 3 by the kept ones.
 * Metrics count kept steps only in both. */
START_TEST(loss_over_kept_steps)
{
    bool k3 = _i;
    ck_model *m = ck_sequential(.seed = 4, .semantics = k3 ? CK_KERAS3 : CK_KERAS2);
    ck_assert_ok(ck_model_add(m, ck_input(T_PAD, F)));
    ck_assert_ok(ck_model_add(m, ck_masking()));
    ck_assert_ok(ck_model_add(m, ck_lstm(U, .return_sequences = true)));
    ck_assert_ok(ck_model_add(m, ck_dense(3, .activation = "softmax")));
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_sgd(.learning_rate = 0.1),
                                  .loss = "sparse_categorical_crossentropy",
                                  .metrics = {"accuracy"}));
    float x[2 * T_PAD * F], y[2 * T_PAD] = {0, 1, 2, 1, 0, 2, 2, 1, 0, 1}, p[2 * T_PAD * 3];
    masked_input(x);
    ck_tensor tx = {.rank = 3, .dims = {2, T_PAD, F}, .data = x};
    ck_tensor ty = {.rank = 2, .dims = {2, T_PAD}, .data = y};
    ck_tensor tp = {.rank = 1, .dims = {2 * T_PAD * 3}, .data = p};
    ck_assert_ok(ck_model_predict_tensor(m, &tx, &tp));
    double want = 0, hits = 0;
    int kept = 0;
    for (int b = 0; b < 2; b++)
        for (int t = 0; t < T_PAD; t++)
            if (keep_pattern[b][t]) {
                const float *row = p + (b * T_PAD + t) * 3;
                int cls = (int)y[b * T_PAD + t];
                want -= log(row[cls]);
                hits += row[cls] >= row[0] && row[cls] >= row[1] && row[cls] >= row[2];
                kept++;
            }
    ck_assert_int_lt(kept, 2 * T_PAD);
    want /= k3 ? kept : 2 * T_PAD;
    double loss, acc;
    ck_assert_ok(ck_model_evaluate(m, &tx, &ty, 0, &loss, &acc));
    ck_assert_close(loss, want, 1e-6);
    ck_assert_close(acc, hits / kept, 1e-12);
    /* Targets at masked steps play no part, in the loss or in training. */
    float y2[2 * T_PAD];
    memcpy(y2, y, sizeof y);
    for (int b = 0; b < 2; b++)
        for (int t = 0; t < T_PAD; t++)
            if (!keep_pattern[b][t])
                y2[b * T_PAD + t] = (float)((int)y[b * T_PAD + t] + 1) -
                                    3 * ((int)y[b * T_PAD + t] == 2);
    ck_tensor ty2 = ty;
    ty2.data = y2;
    double loss2, step1, step2;
    double acc2;
    ck_assert_ok(ck_model_evaluate(m, &tx, &ty2, 0, &loss2, &acc2));
    ck_assert_close(loss2, want, 1e-6);
    ck_assert_close(acc2, acc, 0);
    float *saved = malloc(m->n_params * sizeof(float));
    memcpy(saved, m->params, m->n_params * sizeof(float));
    ck_assert_ok(ck_model_train_on_batch(m, &tx, &ty, &step1));
    float *after1 = malloc(m->n_params * sizeof(float));
    memcpy(after1, m->params, m->n_params * sizeof(float));
    memcpy(m->params, saved, m->n_params * sizeof(float));
    ck_assert_ok(ck_model_train_on_batch(m, &tx, &ty2, &step2));
    ck_assert_close(step1, want, 1e-6);
    ck_assert_close(step2, want, 1e-6);
    for (size_t i = 0; i < m->n_params; i++)
        ck_assert_float_eq(after1[i], m->params[i]);
    ck_assert(memcmp(saved, after1, m->n_params * sizeof(float)) != 0);
    free(saved);
    free(after1);
    ck_model_free(m);
}
END_TEST

/* Three samples keeping 3, 2 and 4 of their steps, evaluated in batches
 * of 2 and 1: Masking -> Dense(softmax) on them, by the release that
 * wrote the model's file. */
enum { KB_N = 3, KB_C = 3 };
static const int kb_keep[KB_N][T_PAD] = {{1, 0, 1, 1, 0}, {0, 1, 0, 0, 1}, {1, 1, 1, 1, 0}};
static const float kb_y[KB_N * T_PAD] = {0, 1, 2, 1, 0, 2, 2, 1, 0, 1, 1, 0, 2, 2, 1};

static ck_model *kb_model(const char *release, ck_keras_semantics semantics, float *x)
{
    ck_model *m = ck_sequential(.seed = 8, .semantics = semantics);
    ck_assert_ok(ck_model_add(m, ck_input(T_PAD, F)));
    ck_assert_ok(ck_model_add(m, ck_masking()));
    ck_assert_ok(ck_model_add(m, ck_dense(KB_C, .activation = "softmax")));
    snprintf(m->keras_version, sizeof m->keras_version, "%s", release);
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_sgd(.learning_rate = 1),
                                  .loss = "sparse_categorical_crossentropy",
                                  .metrics = {"accuracy"}));
    fill(x, KB_N * T_PAD * F, 41);
    for (int b = 0; b < KB_N; b++)
        for (int t = 0; t < T_PAD; t++)
            if (!kb_keep[b][t])
                memset(x + (b * T_PAD + t) * F, 0, sizeof(float) * F);
    return m;
}

/* The sums of the cross-entropy and of the hits over the kept steps of
 * samples [from, to), and the count of those steps. */
static int kb_sums(ck_model *m, const float *x, int from, int to, double *ce, double *hits)
{
    float p[KB_N * T_PAD * KB_C];
    ck_tensor tx = {.rank = 3, .dims = {KB_N, T_PAD, F}, .data = (float *)x};
    ck_tensor tp = {.rank = 1, .dims = {KB_N * T_PAD * KB_C}, .data = p};
    ck_assert_ok(ck_model_predict_tensor(m, &tx, &tp));
    int kept = 0;
    *ce = *hits = 0;
    for (int b = from; b < to; b++)
        for (int t = 0; t < T_PAD; t++)
            if (kb_keep[b][t]) {
                const float *row = p + (b * T_PAD + t) * KB_C;
                int cls = (int)kb_y[b * T_PAD + t];
                *ce -= log(row[cls]);
                *hits += row[cls] >= row[0] && row[cls] >= row[1] && row[cls] >= row[2];
                kept++;
            }
    return kept;
}

/* Standalone Keras 2.0-2.2.5 (weighted_masked_objective: score_array *=
 * mask; score_array /= K.mean(mask); K.mean(score_array)) divides each
 * batch's masked loss, and metrics, by its kept steps, and evaluate
 * averages the batches by their size. Keras 3 does so for the loss;
 * Keras 2.3 and tf.keras pass the mask as sample weights and divide the
 * loss by all steps. All three take the metrics over the epoch's kept steps. */
START_TEST(standalone_keras2_masked_objective_per_batch)
{
    static const struct {
        const char *release;
        ck_keras_semantics semantics;
        bool loss_per_batch, metrics_per_batch;
    } cases[] = {{"2.0.8", CK_KERAS2, true, true},    {"2.2.4", CK_KERAS2, true, true},
                 {"2.3.1", CK_KERAS2, false, false},  {"2.2.4-tf", CK_KERAS2, false, false},
                 {"2.15.0", CK_KERAS2, false, false}, {"3.8.0", CK_KERAS3, true, false}};
    float x[KB_N * T_PAD * F];
    ck_tensor tx = {.rank = 3, .dims = {KB_N, T_PAD, F}, .data = x};
    ck_tensor ty = {.rank = 2, .dims = {KB_N, T_PAD}, .data = (float *)kb_y};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_model *m = kb_model(cases[i].release, cases[i].semantics, x);
        double ce1, ce2, hits1, hits2;
        int kept1 = kb_sums(m, x, 0, 2, &ce1, &hits1), kept2 = kb_sums(m, x, 2, 3, &ce2, &hits2);
        double want = cases[i].loss_per_batch ? (2 * ce1 / kept1 + ce2 / kept2) / 3
                                              : (ce1 + ce2) / (KB_N * T_PAD);
        double want_acc = cases[i].metrics_per_batch ? (2 * hits1 / kept1 + hits2 / kept2) / 3
                                                     : (hits1 + hits2) / (kept1 + kept2);
        double loss, acc;
        ck_assert_ok(ck_model_evaluate(m, &tx, &ty, 2, &loss, &acc));
        ck_assert_msg(fabs(loss - want) < 1e-6, "keras_version %s: loss %.7f, want %.7f",
                      cases[i].release, loss, want);
        ck_assert_msg(fabs(acc - want_acc) < 1e-6, "keras_version %s: accuracy %.7f, want %.7f",
                      cases[i].release, acc, want_acc);
        ck_model_free(m);
    }
}
END_TEST

/* Sample weights 2, 0 and 1 in one batch. Keras 2.2.4 takes each sample's
 * kept-step sum times its weight, divides by the batch's kept share (9 of
 * 15 steps) and the share of non-zero weights (2 of 3): the sum over
 * 15 * 9 / 15 * 2 / 3 = 6 steps. tf.keras divides it by all 15. */
START_TEST(standalone_keras2_zero_sample_weights)
{
    static const struct {
        const char *release;
        double divisor;
    } cases[] = {{"2.2.4", 6}, {"2.15.0", KB_N * T_PAD}};
    const float sw[KB_N] = {2, 0, 1};
    float x[KB_N * T_PAD * F];
    ck_tensor tx = {.rank = 3, .dims = {KB_N, T_PAD, F}, .data = x};
    ck_tensor ty = {.rank = 2, .dims = {KB_N, T_PAD}, .data = (float *)kb_y};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_model *m = kb_model(cases[i].release, CK_KERAS2, x);
        double ce[KB_N], hits, want = 0, loss;
        for (int b = 0; b < KB_N; b++) {
            kb_sums(m, x, b, b + 1, &ce[b], &hits);
            want += sw[b] * ce[b] / cases[i].divisor;
        }
        ck_assert_ok(ck_model_evaluate_with(
            m, &tx, &ty, &(ck_evaluate_options){.batch_size = KB_N, .sample_weight = sw}, &loss,
            NULL));
        ck_assert_msg(fabs(loss - want) < 1e-6, "keras_version %s: loss %.7f, want %.7f",
                      cases[i].release, loss, want);
        ck_model_free(m);
    }
}
END_TEST

/* Weighted metrics with sample weights {2, 0, 1}, batches of 2 and 1.
 * Standalone Keras 2.0-2.2.5 (weighted_masked_objective) takes each
 * batch's mean(hit * mask / mean(mask) * w / mean(w != 0)) and averages
 * the batches by size: batch 1 keeps kept0 + kept1 steps and one of its
 * two weights is not 0, so 4 * hits0 / (kept0 + kept1). tf.keras takes
 * sum(w * mask * hit) / sum(w * mask) over the epoch. */
START_TEST(standalone_keras2_weighted_metrics)
{
    const float sw[KB_N] = {2, 0, 1};
    float x[KB_N * T_PAD * F];
    ck_tensor tx = {.rank = 3, .dims = {KB_N, T_PAD, F}, .data = x};
    ck_tensor ty = {.rank = 2, .dims = {KB_N, T_PAD}, .data = (float *)kb_y};
    for (int i = 0; i < 2; i++) {
        const char *release = i ? "2.15.0" : "2.2.4";
        ck_model *m = kb_model(release, CK_KERAS2, x);
        ck_assert_ok(ck_model_compile(m, .optimizer = ck_sgd(.learning_rate = 1),
                                      .loss = "sparse_categorical_crossentropy",
                                      .weighted_metrics = {"accuracy"}));
        double ce, hits[KB_N], acc, loss;
        int kept[KB_N];
        for (int b = 0; b < KB_N; b++)
            kept[b] = kb_sums(m, x, b, b + 1, &ce, &hits[b]);
        double want = i ? (2 * hits[0] + hits[2]) / (2 * kept[0] + kept[2])
                        : (2 * (4 * hits[0] / (kept[0] + kept[1])) + hits[2] / kept[2]) / 3;
        ck_assert_ok(ck_model_evaluate_with(
            m, &tx, &ty, &(ck_evaluate_options){.batch_size = 2, .sample_weight = sw}, &loss,
            &acc));
        ck_assert_msg(fabs(acc - want) < 1e-6,
                      "keras_version %s: weighted accuracy %.7f, want %.7f", release, acc, want);
        ck_model_free(m);
    }
}
END_TEST

/* What fit trains on is the loss it reports: for a Keras 2.2.4 file, one
 * SGD step (learning rate 1) moves the weights by minus the central
 * difference of the evaluated kept-step mean. */
START_TEST(standalone_keras2_masked_loss_gradient)
{
    float x[KB_N * T_PAD * F];
    ck_tensor tx = {.rank = 3, .dims = {KB_N, T_PAD, F}, .data = x};
    ck_tensor ty = {.rank = 2, .dims = {KB_N, T_PAD}, .data = (float *)kb_y};
    ck_model *m = kb_model("2.2.4", CK_KERAS2, x);
    size_t n = m->n_params;
    float before[KB_C * F + KB_C];
    ck_assert_uint_eq(n, sizeof before / sizeof before[0]);
    memcpy(before, m->params, sizeof before);
    double numeric[KB_C * F + KB_C], analytic[KB_C * F + KB_C];
    for (size_t i = 0; i < n; i++) {
        double up, down;
        m->params[i] = before[i] + (float)H;
        ck_model_weights_changed(m);
        ck_assert_ok(ck_model_evaluate(m, &tx, &ty, KB_N, &up, NULL));
        m->params[i] = before[i] - (float)H;
        ck_model_weights_changed(m);
        ck_assert_ok(ck_model_evaluate(m, &tx, &ty, KB_N, &down, NULL));
        m->params[i] = before[i];
        numeric[i] = (up - down) / (2 * H);
    }
    ck_model_weights_changed(m);
    double ce, hits, loss;
    int kept = kb_sums(m, x, 0, KB_N, &ce, &hits);
    ck_assert_ok(ck_model_train_on_batch(m, &tx, &ty, &loss));
    ck_assert_close(loss, ce / kept, 1e-6);
    for (size_t i = 0; i < n; i++)
        analytic[i] = (double)before[i] - m->params[i];
    double err = ck_fd_rel_error(analytic, numeric, n);
    ck_assert_msg(err < 1e-2, "relative error %g", err);
    ck_model_free(m);
}
END_TEST

/* ck_loss_compute_masked equals the unmasked loss over the kept rows only,
 * with zero gradient on masked rows. */
START_TEST(masked_loss_equals_compacted)
{
    const char *names[] = {"categorical_crossentropy", "sparse_categorical_crossentropy", "mse",
                           "binary_crossentropy", "huber"};
    enum { R = 5, W = 3 };
    const float mask[R] = {1, 0, 1, 1, 0};
    float out[R * W], y[R * W], ycls[R] = {2, 0, 1, 1, 2};
    fill(out, R * W, 9);
    for (int i = 0; i < R * W; i++)
        out[i] = 0.1f + 0.8f * (out[i] + 1) / 2;
    for (int r = 0; r < R; r++)
        for (int j = 0; j < W; j++)
            y[r * W + j] = (float)(j == (int)ycls[r]);
    for (size_t n = 0; n < sizeof names / sizeof names[0]; n++) {
        ck_loss loss;
        ck_assert_ok(ck_loss_parse(names[n], false, &loss));
        loss.mask_mean_over_kept = true; /* Keras 3 */
        bool sparse = ck_loss_is_sparse(&loss);
        const float *targets = sparse ? ycls : y;
        int tw = sparse ? 1 : W;
        float cout[R * W], cy[R * W], g[R * W], cg[R * W];
        int k = 0;
        for (int r = 0; r < R; r++)
            if (mask[r]) {
                memcpy(cout + k * W, out + r * W, sizeof(float) * W);
                memcpy(cy + k * tw, targets + r * tw, sizeof(float) * (size_t)tw);
                k++;
            }
        double lm = ck_loss_compute_masked(&loss, out, targets, R, W, mask, g);
        double lc = ck_loss_compute(&loss, cout, cy, (size_t)k, W, cg);
        ck_assert_msg(fabs(lm - lc) < 1e-9, "%s: masked %g, compacted %g", names[n], lm, lc);
        /* tf.keras 2: the same sum over all R rows, gradients likewise scaled. */
        loss.mask_mean_over_kept = false;
        float g2[R * W];
        double l2 = ck_loss_compute_masked(&loss, out, targets, R, W, mask, g2);
        ck_assert_msg(fabs(l2 - lc * k / R) < 1e-9, "%s: tf.keras 2 masked %g, want %g", names[n],
                      l2, lc * k / R);
        for (int i = 0; i < R * W; i++)
            ck_assert_float_eq_tol(g2[i], g[i] * (float)k / R, 1e-7f);
        loss.mask_mean_over_kept = true;
        ck_assert(lm > 0);
        for (int r = 0, c = 0; r < R; r++)
            for (int j = 0; j < W; j++) {
                if (mask[r])
                    ck_assert_float_eq_tol(g[r * W + j], cg[c * W + j], 1e-7f);
                else
                    ck_assert_float_eq(g[r * W + j], 0.0f);
                c += mask[r] && j == W - 1;
            }
        /* Everything masked: Keras's divide_no_nan gives 0. */
        const float none[R] = {0};
        ck_assert_float_eq((float)ck_loss_compute_masked(&loss, out, targets, R, W, none, g), 0.0f);
    }
}
END_TEST

/* ---- configs ---- */

static cJSON *config_of(const ck_layer *l)
{
    cJSON *cfg = cJSON_CreateObject();
    ck_assert_ok(l->ops->get_config(l, cfg));
    return cfg;
}

START_TEST(config_round_trip)
{
    const ck_layer_ops *ops = ck_layer_ops_find("Masking");
    ck_assert_ptr_nonnull(ops);
    ck_layer *l = ck_masking(.mask_value = 0.5, .name = "pad");
    cJSON *cfg = config_of(l);
    ck_assert_close(cJSON_GetObjectItem(cfg, "mask_value")->valuedouble, 0.5, 0);
    cJSON_AddStringToObject(cfg, "name", "pad2");
    ck_layer *back = ops->from_config(cfg, CK_KERAS3);
    ck_assert_ptr_nonnull(back);
    cJSON *again = config_of(back);
    ck_assert_close(cJSON_GetObjectItem(again, "mask_value")->valuedouble, 0.5, 0);
    ck_assert_str_eq(ck_layer_name(back), "pad2");
    cJSON_Delete(again);
    ck_layer_free(back);
    ck_layer_free(l);
    /* Keras 2 files may omit mask_value (default 0.0); unknown keys fail. */
    cJSON_DeleteItemFromObject(cfg, "mask_value");
    back = ops->from_config(cfg, CK_KERAS2);
    ck_assert_ptr_nonnull(back);
    again = config_of(back);
    ck_assert_close(cJSON_GetObjectItem(again, "mask_value")->valuedouble, 0.0, 0);
    cJSON_Delete(again);
    ck_layer_free(back);
    cJSON_AddNumberToObject(cfg, "no_such_option", 1);
    ck_assert_ptr_null(ops->from_config(cfg, CK_KERAS2));
    cJSON_Delete(cfg);
    ck_assert_ptr_null(ck_masking(.mask_value = NAN));
    ck_assert_int_eq(ck_error_status(), CK_ERR_ARGUMENT);

    /* zero_output_for_mask round-trips on every recurrent layer. */
    ck_layer *rnns[] = {ck_lstm(2, .zero_output_for_mask = true),
                        ck_gru(2, .zero_output_for_mask = true),
                        ck_simple_rnn(2, .zero_output_for_mask = true), ck_lstm(2)};
    for (int i = 0; i < 4; i++) {
        cfg = config_of(rnns[i]);
        const cJSON *z = cJSON_GetObjectItem(cfg, "zero_output_for_mask");
        ck_assert(i < 3 ? cJSON_IsTrue(z) : z == NULL);
        back = rnns[i]->ops->from_config(cfg, CK_KERAS3);
        ck_assert_ptr_nonnull(back);
        again = config_of(back);
        ck_assert(cJSON_Compare(cfg, again, true));
        cJSON_Delete(again);
        cJSON_Delete(cfg);
        ck_layer_free(back);
        ck_layer_free(rnns[i]);
    }
    /* Keras sets it to return_sequences inside Bidirectional. */
    ck_assert_ptr_null(ck_bidirectional(ck_lstm(2, .zero_output_for_mask = true)));
    ck_assert_int_eq(ck_error_status(), CK_ERR_UNSUPPORTED);
    l = ck_bidirectional(ck_lstm(2, .zero_output_for_mask = true, .return_sequences = true));
    ck_assert_ptr_nonnull(l);
    ck_layer_free(l);
}
END_TEST

/* A whole model with Masking and Embedding(mask_zero) survives its Keras
 * JSON, and the reloaded model masks the same way. */
START_TEST(model_json_round_trip)
{
    ck_model *m = ck_sequential(.seed = 2);
    ck_assert_ok(ck_model_add(m, ck_input(T_PAD)));
    ck_assert_ok(ck_model_add(m, ck_embedding(10, F, .mask_zero = true)));
    ck_assert_ok(ck_model_add(m, ck_lstm(U, .return_sequences = true)));
    ck_assert_ok(ck_model_add(m, ck_masking(.mask_value = 0.25)));
    ck_assert_ok(ck_model_add(m, ck_gru(U)));
    ck_assert_ok(ck_model_build(m));
    char *json = ck_model_to_json(m);
    ck_assert_ptr_nonnull(json);
    ck_assert_msg(strstr(json, "\"mask_zero\":true"), "%s", json);
    ck_assert_msg(strstr(json, "\"mask_value\":0.25"), "%s", json);
    ck_model *back = NULL;
    ck_assert_ok(ck_model_from_json(json, &back));
    char *again = ck_model_to_json(back);
    ck_assert_str_eq(json, again);
    memcpy(back->params, m->params, m->n_params * sizeof(float));
    float ids[2 * T_PAD] = {1, 2, 3, 0, 0, 0, 0, 4, 5, 6}, y1[2 * U], y2[2 * U];
    ck_assert_ok(ck_model_predict(m, ids, 2, y1));
    ck_assert_ok(ck_model_predict(back, ids, 2, y2));
    assert_rows_close(y1, y2, 2 * U, "reloaded model", 0);
    ck_assert_ptr_nonnull(back->mask_views[0]);
    free(json);
    free(again);
    ck_model_free(back);
    ck_model_free(m);
}
END_TEST

/* A Keras 3 config from tests/data/keras_compat with `layer` inserted
 * before the layer named `before`, which then takes the new layer's
 * output; the mask ops and the "mask" keyword stay as Keras wrote them. */
static char *k3_config_with(const char *file, const char *before, const char *layer)
{
    char path[256];
    snprintf(path, sizeof path, "tests/data/keras_compat/%s", file);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    static char text[1 << 16];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    cJSON *root = cJSON_Parse(text), *added = cJSON_Parse(layer);
    ck_assert_ptr_nonnull(root);
    ck_assert_ptr_nonnull(added);
    cJSON *layers = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "config"), "layers"), *e;
    int at = 0;
    cJSON_ArrayForEach(e, layers)
    {
        if (strcmp(cJSON_GetObjectItem(e, "name")->valuestring, before) == 0)
            break;
        at++;
    }
    ck_assert_ptr_nonnull(e);
    cJSON *node = cJSON_GetArrayItem(cJSON_GetObjectItem(e, "inbound_nodes"), 0);
    cJSON *arg = cJSON_GetArrayItem(cJSON_GetObjectItem(node, "args"), 0);
    cJSON *history = cJSON_GetObjectItem(cJSON_GetObjectItem(arg, "config"), "keras_history");
    cJSON_ReplaceItemInArray(history, 0,
                             cJSON_CreateString(cJSON_GetObjectItem(added, "name")->valuestring));
    /* Moves the layers from `before` on behind the new one. */
    ck_assert(cJSON_AddItemToArray(layers, added));
    for (int n = cJSON_GetArraySize(layers) - 1 - at; n > 0; n--)
        ck_assert(cJSON_AddItemToArray(layers, cJSON_DetachItemFromArray(layers, at)));
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return json;
}

static ck_status load_json(char *json)
{
    ck_model *m = NULL;
    ck_status st = ck_model_from_json(json, &m);
    ck_model_free(m);
    cJSON_free(json);
    return st;
}

/* Keras 3 runs a layer on the mask its "mask" keyword names, whatever
 * lies between that mask's layer and it; ckeras hands a layer the mask
 * flowing along the chain. A config where the two differ (a Conv1D drops
 * the mask, a second Masking makes another) is refused, not run on
 * another mask. */
START_TEST(keras3_mask_keyword_must_reach_the_layer)
{
    static const char conv[] =
        "{\"module\": \"keras.layers\", \"class_name\": \"Conv1D\", \"name\": \"conv1d\", "
        "\"config\": {\"name\": \"conv1d\", \"filters\": 3, \"kernel_size\": [1]}, "
        "\"inbound_nodes\": [{\"args\": [{\"class_name\": \"__keras_tensor__\", \"config\": "
        "{\"shape\": [null, 5, 3], \"dtype\": \"float32\", \"keras_history\": [\"embedding\", 0, "
        "0]}}], \"kwargs\": {}}]}";
    static const char dense[] =
        "{\"module\": \"keras.layers\", \"class_name\": \"Dense\", \"name\": \"dense_0\", "
        "\"config\": {\"name\": \"dense_0\", \"units\": 3}, \"inbound_nodes\": [{\"args\": "
        "[{\"class_name\": \"__keras_tensor__\", \"config\": {\"shape\": [null, 5, 3], "
        "\"dtype\": \"float32\", \"keras_history\": [\"embedding\", 0, 0]}}], \"kwargs\": {}}]}";
    static const char masking[] =
        "{\"module\": \"keras.layers\", \"class_name\": \"Masking\", \"name\": \"masking_1\", "
        "\"config\": {\"name\": \"masking_1\", \"mask_value\": 5.0}, \"inbound_nodes\": "
        "[{\"args\": [{\"class_name\": \"__keras_tensor__\", \"config\": {\"shape\": [null, 5, "
        "3], \"dtype\": \"float32\", \"keras_history\": [\"masking\", 0, 0]}}], \"kwargs\": "
        "{}}]}";
    const char *embedding = "k3_15_1_functional_embedding.json";
    ck_assert_ok(load_json(k3_config_with(embedding, "gru", dense)));
    ck_assert_int_eq(load_json(k3_config_with(embedding, "gru", conv)), CK_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "the mask reaching it along the chain is none"));
    /* An entry's top-level "name" is not the layer's: it cannot hide the layer. */
    char *json = k3_config_with(embedding, "gru", conv);
    cJSON *root = cJSON_Parse(json), *e;
    cJSON_free(json);
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(cJSON_GetObjectItem(root, "config"), "layers"))
    {
        if (strcmp(cJSON_GetObjectItem(e, "class_name")->valuestring, "GRU") == 0)
            cJSON_ReplaceItemInObject(e, "name", cJSON_CreateString("other"));
    }
    ck_assert_int_eq(load_json(cJSON_PrintUnformatted(root)), CK_ERR_UNSUPPORTED);
    cJSON_Delete(root);
    ck_assert_int_eq(load_json(k3_config_with("k3_3_3_functional_masking.json", "lstm", masking)),
                     CK_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "takes the mask of 'masking', but the mask "
                                                  "reaching it along the chain is that of "
                                                  "'masking_1'"));
}
END_TEST

/* A model without any mask computes what it did before masking existed:
 * the reference values are those of an unmasked naive LSTM. */
START_TEST(unmasked_model_unchanged)
{
    ck_model *m = ck_sequential(.seed = 7);
    ck_assert_ok(ck_model_add(m, ck_input(T_PAD, F)));
    ck_assert_ok(ck_model_add(m, ck_lstm(U, .return_sequences = true)));
    ck_assert_ok(ck_model_build(m));
    float x[T_PAD * F], out[T_PAD * U], ref[T_PAD * U];
    const int all[T_PAD] = {1, 1, 1, 1, 1};
    fill(x, T_PAD * F, 2);
    x[F] = x[F + 1] = x[F + 2] = 0; /* zeros are data without a Masking layer */
    ck_assert_ok(ck_model_predict(m, x, 1, out));
    naive_lstm(m->layers[0], x, all, ref);
    for (int t = 0; t < T_PAD; t++)
        assert_rows_close(out + t * U, ref + t * U, U, "unmasked LSTM", t);
    ck_assert_ptr_null(m->mask_views[0]);
    ck_model_free(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("masking");
    TCase *tc = tcase_create("masking");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, padding_equals_truncation, 0, K_COUNT);
    tcase_add_test(tc, middle_mask_matches_naive_lstm);
    tcase_add_test(tc, initial_state_and_fully_masked);
    tcase_add_loop_test(tc, middle_mask_matches_compressed, 0, K_COUNT);
    tcase_add_test(tc, masking_layer_output);
    tcase_add_test(tc, mask_propagation);
    tcase_add_loop_test(tc, embedding_mask_zero, 0, K_COUNT);
    tcase_add_loop_test(tc, gradients_with_mask, 0, K_COUNT);
    tcase_add_test(tc, standalone_keras2_bidirectional_repeats);
    tcase_add_test(tc, gradients_stacked_and_options);
    tcase_add_test(tc, global_average_pooling_uses_mask);
    tcase_add_loop_test(tc, loss_over_kept_steps, 0, 2);
    tcase_add_test(tc, masked_loss_equals_compacted);
    tcase_add_test(tc, standalone_keras2_masked_objective_per_batch);
    tcase_add_test(tc, standalone_keras2_masked_loss_gradient);
    tcase_add_test(tc, standalone_keras2_zero_sample_weights);
    tcase_add_test(tc, standalone_keras2_weighted_metrics);
    tcase_add_test(tc, config_round_trip);
    tcase_add_test(tc, model_json_round_trip);
    tcase_add_test(tc, unmasked_model_unchanged);
    tcase_add_test(tc, keras3_mask_keyword_must_reach_the_layer);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ck_test_run(suite());
}
