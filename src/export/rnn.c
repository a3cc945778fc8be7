/* What LSTM, GRU and SimpleRNN share in the generated code: their common
 * options, the carried state, Keras masking and the time loop. A cell
 * emitter writes <id>_cell(x_t, s), which updates the state from one
 * frame; this file writes around it
 *   <id>_begin(s, fresh)   start of a sequence (fresh: zero the state),
 *   <id>_step(x_t, y, s)   one frame (the streaming prefix), or
 *   <id>_forward(x, y, s)  the whole sequence,
 * with ckeras's masking rules (src/layers/ck_rnn.h): a masked step keeps
 * the state; its output repeats the previous output (zeros before the
 * first), or is zero with zero_output_for_mask. */
#include "ck_export.h"

#include <stdio.h>

static const char *const rnn_keys[] = {"units",
                                       "activation",
                                       "recurrent_activation",
                                       "use_bias",
                                       "kernel_initializer",
                                       "recurrent_initializer",
                                       "bias_initializer",
                                       "unit_forget_bias",
                                       "dropout",
                                       "recurrent_dropout",
                                       "return_sequences",
                                       "return_state",
                                       "go_backwards",
                                       "stateful",
                                       "unroll",
                                       "time_major",
                                       "zero_output_for_mask",
                                       "implementation",
                                       "seed",
                                       NULL};

/* The shared keys plus the cell's own (extra, NULL-terminated). */
static ck_status check_rnn_keys(const ck_exp_layer *L, const char *const *extra)
{
    enum { MAX_KEYS = 32 };
    const char *known[MAX_KEYS];
    size_t n = 0;
    for (const char *const *k = rnn_keys; *k && n + 1 < MAX_KEYS; k++)
        known[n++] = *k;
    for (; extra && *extra && n + 1 < MAX_KEYS; extra++)
        known[n++] = *extra;
    known[n] = NULL;
    return ck_exp_check_keys(L, known);
}

ck_status ck_exp_rnn_plan(ck_exp *x, ck_exp_layer *L, const char *const *extra_keys, bool has_cell)
{
    ck_exp_rnn *r = &L->rnn;
    bool time_major = false;
    *r = (ck_exp_rnn){.use_bias = true, .has_cell = has_cell};
    CK_TRY(check_rnn_keys(L, extra_keys));
    CK_TRY(ck_exp_get_int(L, "units", &r->units));
    CK_TRY(ck_exp_get_act(x, L, "activation", "tanh", &r->act));
    CK_TRY(ck_exp_get_act(x, L, "recurrent_activation", "sigmoid", &r->ract));
    CK_TRY(ck_exp_get_bool(L, "use_bias", &r->use_bias));
    CK_TRY(ck_exp_get_bool(L, "return_sequences", &r->return_sequences));
    CK_TRY(ck_exp_get_bool(L, "go_backwards", &r->go_backwards));
    CK_TRY(ck_exp_get_bool(L, "stateful", &r->stateful));
    CK_TRY(ck_exp_get_bool(L, "zero_output_for_mask", &r->zero_output_for_mask));
    CK_TRY(ck_exp_get_bool(L, "time_major", &time_major));
    r->go_backwards ^= L->flip_time;
    if (time_major)
        return ck_exp_refuse(L, "option 'time_major' is not exported");
    if (r->units <= 0)
        return ck_exp_refuse(L, "units must be positive");
    if (L->in.rank != 3)
        return ck_exp_refuse(L, "needs an input of shape (batch, timesteps, features)");
    int64_t T = L->in.dims[1];
    L->out = r->return_sequences ? (ck_shape){3, {1, T, r->units}} : (ck_shape){2, {1, r->units}};
    L->kind = CK_EXP_RNN;
    L->steps = !r->go_backwards;
    L->begins = true;
    L->collapses = !r->return_sequences;
    L->mask_out = L->mask_in && r->return_sequences;
    ck_exp_state(x, L, "h", (size_t)r->units);
    if (has_cell)
        ck_exp_state(x, L, "c", (size_t)r->units);
    if (L->mask_in && r->return_sequences && !r->zero_output_for_mask)
        ck_exp_state(x, L, "prev", (size_t)r->units);
    if (L->mask_in && !r->return_sequences)
        ck_exp_state(x, L, "seen", 1);
    return CK_OK;
}

static void emit_begin(ck_exp *x, const ck_exp_layer *L)
{
    const ck_exp_rnn *r = &L->rnn;
    const char *id = L->id;
    ck_text_printf(&x->code, "static void %s_begin(%s_state *restrict s, int fresh)\n{\n", id,
                   x->name);
    ck_text_printf(&x->code, "    if (fresh) {\n        memset(s->%s_h, 0, sizeof s->%s_h);\n", id,
                   id);
    if (r->has_cell)
        ck_text_printf(&x->code, "        memset(s->%s_c, 0, sizeof s->%s_c);\n", id, id);
    ck_text_printf(&x->code, "    }\n");
    if (L->mask_in && r->return_sequences && !r->zero_output_for_mask)
        ck_text_printf(&x->code, "    memset(s->%s_prev, 0, sizeof s->%s_prev);\n", id, id);
    if (L->mask_in && !r->return_sequences)
        ck_text_printf(&x->code, "    s->%s_seen[0] = 0.0f;\n", id);
    ck_text_printf(&x->code, "}\n\n");
}

/* Runs the cell on frame `xe` (masked steps skip it). */
static void emit_cell_call(ck_exp *x, const ck_exp_layer *L, const char *xe, const char *in)
{
    if (!L->mask_in) {
        ck_text_printf(&x->code, "%s%s_cell(%s, s);\n", in, L->id, xe);
        return;
    }
    ck_text_printf(&x->code, "%sif (keep) {\n%s    %s_cell(%s, s);\n", in, in, L->id, xe);
    if (!L->rnn.return_sequences)
        ck_text_printf(&x->code, "%s    s->%s_seen[0] = 1.0f;\n", in, L->id);
    ck_text_printf(&x->code, "%s}\n", in);
}

/* y = the last output: h, or zeros when no step was kept or (with
 * zero_output_for_mask) the last processed one was masked. */
static void emit_last_output(ck_exp *x, const ck_exp_layer *L)
{
    const char *id = L->id;
    size_t U = (size_t)L->rnn.units;
    if (!L->mask_in) {
        ck_text_printf(&x->code, "    memcpy(y, s->%s_h, sizeof(float) * %zu);\n", id, U);
        return;
    }
    ck_text_printf(&x->code,
                   "    if (s->%s_seen[0] == 0.0f%s)\n        memset(y, 0, sizeof(float) * %zu);\n"
                   "    else\n        memcpy(y, s->%s_h, sizeof(float) * %zu);\n",
                   id, L->rnn.zero_output_for_mask ? " || !keep" : "", U, id, U);
}

static void emit_step(ck_exp *x, const ck_exp_layer *L)
{
    const ck_exp_rnn *r = &L->rnn;
    const char *id = L->id;
    size_t U = (size_t)r->units;
    ck_text_printf(
        &x->code,
        "static void %s_step(const float *restrict x, float *restrict y, %s_state *restrict s)\n{\n",
        id, x->name);
    if (L->mask_in)
        ck_text_printf(&x->code, "    const int keep = s->mask[0] != 0.0f;\n");
    emit_cell_call(x, L, "x", "    ");
    if (!r->return_sequences)
        emit_last_output(x, L);
    else if (!L->mask_in)
        ck_text_printf(&x->code, "    memcpy(y, s->%s_h, sizeof(float) * %zu);\n", id, U);
    else if (r->zero_output_for_mask)
        ck_text_printf(&x->code,
                       "    if (keep)\n        memcpy(y, s->%s_h, sizeof(float) * %zu);\n"
                       "    else\n        memset(y, 0, sizeof(float) * %zu);\n",
                       id, U, U);
    else
        ck_text_printf(&x->code,
                       "    memcpy(y, keep ? s->%s_h : s->%s_prev, sizeof(float) * %zu);\n"
                       "    memcpy(s->%s_prev, y, sizeof(float) * %zu);\n",
                       id, id, U, id, U);
    ck_text_printf(&x->code, "}\n\n");
}

/* Row `step` of a sequence output (in processing order, as Keras). */
static void emit_row_output(ck_exp *x, const ck_exp_layer *L)
{
    const char *id = L->id;
    size_t U = (size_t)L->rnn.units;
    ck_text_printf(&x->code, "        row = y + (long)step * %zu;\n", U);
    if (!L->mask_in) {
        ck_text_printf(&x->code, "        memcpy(row, s->%s_h, sizeof(float) * %zu);\n", id, U);
        return;
    }
    ck_text_printf(&x->code,
                   "        if (keep)\n            memcpy(row, s->%s_h, sizeof(float) * %zu);\n",
                   id, U);
    if (L->rnn.zero_output_for_mask)
        ck_text_printf(&x->code, "        else\n            memset(row, 0, sizeof(float) * %zu);\n",
                       U);
    else
        ck_text_printf(
            &x->code,
            "        else if (step == 0)\n            memset(row, 0, sizeof(float) * %zu);\n"
            "        else\n            memcpy(row, row - %zu, sizeof(float) * %zu);\n",
            U, U, U);
}

static void emit_forward(ck_exp *x, const ck_exp_layer *L)
{
    const ck_exp_rnn *r = &L->rnn;
    long long T = (long long)L->in.dims[1], F = (long long)L->in.dims[2];
    ck_text_printf(
        &x->code,
        "static void %s_forward(const float *restrict x, float *restrict y, %s_state *restrict s)\n{\n",
        L->id, x->name);
    if (L->mask_in)
        ck_text_printf(&x->code, "    int keep = 1;\n");
    if (r->return_sequences)
        ck_text_printf(&x->code, "    float *restrict row;\n");
    ck_text_printf(&x->code,
                   "    %s_begin(s, %d);\n    for (int step = 0; step < %lld; step++) {\n", L->id,
                   !r->stateful, T);
    if (r->go_backwards)
        ck_text_printf(&x->code, "        const int t = %lld - 1 - step;\n", T);
    else
        ck_text_printf(&x->code, "        const int t = step;\n");
    if (L->mask_in)
        ck_text_printf(&x->code, "        keep = s->mask[t] != 0.0f;\n");
    char xe[64];
    snprintf(xe, sizeof xe, "x + (long)t * %lld", F);
    emit_cell_call(x, L, xe, "        ");
    if (r->return_sequences)
        emit_row_output(x, L);
    ck_text_printf(&x->code, "    }\n");
    if (!r->return_sequences)
        emit_last_output(x, L);
    ck_text_printf(&x->code, "}\n\n");
}

void ck_exp_rnn_emit_driver(ck_exp *x, const ck_exp_layer *L)
{
    emit_begin(x, L);
    if (L->frame_mode)
        emit_step(x, L);
    else
        emit_forward(x, L);
}

ck_status ck_exp_rnn_weights(const ck_exp_layer *L, size_t G, size_t bias_size)
{
    size_t F = (size_t)L->in.dims[2], U = (size_t)L->rnn.units;
    int want = L->rnn.use_bias ? 3 : 2;
    bool ok = L->n_w == want && L->w[0].size == F * G && L->w[1].size == U * G &&
              (!L->rnn.use_bias || L->w[2].size == bias_size);
    return ok ? CK_OK : ck_exp_refuse(L, "its weights do not have the shapes of its config");
}

void ck_exp_rnn_bias_init(ck_exp *x, const ck_exp_layer *L, const char *dst, size_t offset,
                          size_t n)
{
    if (L->rnn.use_bias)
        ck_text_printf(&x->code, "    memcpy(%s, %s_bias + %zu, sizeof(float) * %zu);\n", dst,
                       L->id, offset, n);
    else
        ck_text_printf(&x->code, "    memset(%s, 0, sizeof(float) * %zu);\n", dst, n);
}
