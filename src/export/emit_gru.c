/* keras.layers.GRU: gate blocks z, r, h along the 3u axis and
 * h = z h + (1 - z) hh. With reset_after (bias rows: input, recurrent)
 *   hh = act(x W_h + b_ih + r (h U_h + b_rh)),
 * without it (one bias row)
 *   hh = act(x W_h + b_h + (r h) U_h). */
#include "ck_export.h"

#include <stdio.h>

typedef struct gru_opts {
    bool reset_after;
} gru_opts;

static ck_status gru_plan(ck_exp *x, ck_exp_layer *L)
{
    static const char *const extra[] = {"reset_after", "use_cudnn", NULL};
    gru_opts *o = ck_alloc(1, sizeof *o);
    if (!o)
        return CK_ERR_MEMORY;
    L->priv = o;
    CK_TRY(ck_exp_rnn_plan(x, L, extra, false));
    CK_TRY(ck_exp_get_bool(L, "reset_after", &o->reset_after));
    size_t U = (size_t)L->rnn.units;
    L->scratch = 6 * U;
    return ck_exp_rnn_weights(L, 3 * U, (o->reset_after ? 6 : 3) * U);
}

/* The z and r gate expressions from their pre-activation sums. */
static void gates(ck_exp *x, const ck_exp_layer *L, char out[3][96], size_t U)
{
    char zs[64], rs[64];
    snprintf(zs, sizeof zs, "xz[j] + rec[j]");
    snprintf(rs, sizeof rs, "xz[j + %zu] + rec[j + %zu]", U, U);
    ck_exp_act_call(x, L->rnn.ract, zs, out[0], 96);
    ck_exp_act_call(x, L->rnn.ract, rs, out[1], 96);
}

static void reset_after_cell(ck_exp *x, const ck_exp_layer *L, const ck_exp_matrix *W,
                             const ck_exp_matrix *R)
{
    size_t F = (size_t)L->in.dims[2], U = (size_t)L->rnn.units, G = 3 * U;
    char g[3][96], pre[96];
    ck_text_printf(&x->code,
                   "    float *restrict xz = s->scratch, *restrict rec = s->scratch + %zu;\n", G);
    ck_exp_rnn_bias_init(x, L, "xz", 0, G);
    ck_exp_rnn_bias_init(x, L, "rec", G, G);
    ck_exp_matvec(x, W, "x", "0", F, 0, G, "xz");
    ck_exp_matvec(x, R, "h", "0", U, 0, G, "rec");
    snprintf(pre, sizeof pre, "xz[j + %zu] + r * rec[j + %zu]", 2 * U, 2 * U);
    gates(x, L, g, U);
    ck_exp_act_call(x, L->rnn.act, pre, g[2], sizeof g[2]);
    ck_text_printf(&x->code,
                   "    for (int j = 0; j < %zu; j++) {\n"
                   "        const float z = %s, r = %s;\n"
                   "        const float hh = %s;\n"
                   "        h[j] = z * h[j] + (1.0f - z) * hh;\n    }\n",
                   U, g[0], g[1], g[2]);
}

static void reset_before_cell(ck_exp *x, const ck_exp_layer *L, const ck_exp_matrix *W,
                              const ck_exp_matrix *R)
{
    size_t F = (size_t)L->in.dims[2], U = (size_t)L->rnn.units, G = 3 * U;
    char g[3][96], hs[64], ye[32];
    ck_text_printf(
        &x->code,
        "    float *restrict xz = s->scratch, *restrict rec = s->scratch + %zu, *restrict rh = s->scratch + %zu;\n",
        G, G + 2 * U);
    ck_exp_rnn_bias_init(x, L, "xz", 0, G);
    ck_text_printf(&x->code, "    memset(rec, 0, sizeof(float) * %zu);\n", 2 * U);
    ck_exp_matvec(x, W, "x", "0", F, 0, G, "xz");
    ck_exp_matvec(x, R, "h", "0", U, 0, 2 * U, "rec");
    gates(x, L, g, U);
    ck_text_printf(&x->code,
                   "    for (int j = 0; j < %zu; j++) {\n"
                   "        rec[j] = %s;\n"
                   "        rh[j] = %s * h[j];\n    }\n",
                   U, g[0], g[1]);
    snprintf(ye, sizeof ye, "xz + %zu", 2 * U);
    ck_exp_matvec(x, R, "rh", "0", U, 2 * U, U, ye);
    snprintf(hs, sizeof hs, "xz[j + %zu]", 2 * U);
    ck_exp_act_call(x, L->rnn.act, hs, g[2], sizeof g[2]);
    ck_text_printf(&x->code,
                   "    for (int j = 0; j < %zu; j++)\n"
                   "        h[j] = rec[j] * h[j] + (1.0f - rec[j]) * %s;\n",
                   U, g[2]);
}

static ck_status gru_emit(ck_exp *x, ck_exp_layer *L)
{
    const gru_opts *o = L->priv;
    size_t F = (size_t)L->in.dims[2], U = (size_t)L->rnn.units, G = 3 * U;
    ck_exp_matrix W, R;
    CK_TRY(ck_exp_matrix_emit(x, L, "kernel", L->w[0].data, F, G, true, false, &W));
    CK_TRY(ck_exp_matrix_emit(x, L, "recurrent", L->w[1].data, U, G, true, false, &R));
    if (L->rnn.use_bias)
        CK_TRY(ck_exp_floats_emit(x, L, "bias", L->w[2].data, (o->reset_after ? 2 : 1) * G));
    ck_text_printf(&x->code,
                   "static void %s_cell(const float *restrict x, %s_state *restrict s)\n{\n", L->id,
                   x->name);
    ck_text_printf(&x->code, "    float *restrict h = s->%s_h;\n", L->id);
    if (o->reset_after)
        reset_after_cell(x, L, &W, &R);
    else
        reset_before_cell(x, L, &W, &R);
    ck_text_printf(&x->code, "}\n\n");
    ck_exp_rnn_emit_driver(x, L);
    return CK_OK;
}

const ck_exp_emitter ck_exp_gru = {"GRU", gru_plan, gru_emit};
