/* keras.layers.LSTM: gate blocks i, f, c, o along the 4u axis;
 * c = f c + i act(z_c), h = o act(c), with z = b + x W + h U. */
#include "ck_export.h"

#include <stdio.h>

static ck_status lstm_plan(ck_exp *x, ck_exp_layer *L)
{
    CK_TRY(ck_exp_rnn_plan(x, L, NULL, true));
    size_t G = 4 * (size_t)L->rnn.units;
    L->scratch = G;
    return ck_exp_rnn_weights(L, G, G);
}

static ck_status lstm_emit(ck_exp *x, ck_exp_layer *L)
{
    const ck_exp_rnn *r = &L->rnn;
    size_t F = (size_t)L->in.dims[2], U = (size_t)r->units, G = 4 * U;
    ck_exp_matrix W, R;
    char z[4][48], g[4][96], ac[96];
    CK_TRY(ck_exp_matrix_emit(x, L, "kernel", L->w[0].data, F, G, true, false, &W));
    CK_TRY(ck_exp_matrix_emit(x, L, "recurrent", L->w[1].data, U, G, true, false, &R));
    if (r->use_bias)
        CK_TRY(ck_exp_floats_emit(x, L, "bias", L->w[2].data, G));
    for (int k = 0; k < 4; k++) {
        snprintf(z[k], sizeof z[k], "z[j + %zu]", (size_t)k * U);
        ck_exp_act_call(x, k == 2 ? r->act : r->ract, z[k], g[k], sizeof g[k]);
    }
    ck_text_printf(&x->code,
                   "static void %s_cell(const float *restrict x, %s_state *restrict s)\n{\n", L->id,
                   x->name);
    ck_text_printf(
        &x->code,
        "    float *restrict z = s->scratch, *restrict h = s->%s_h, *restrict c = s->%s_c;\n",
        L->id, L->id);
    ck_exp_rnn_bias_init(x, L, "z", 0, G);
    ck_exp_matvec(x, &W, "x", "0", F, 0, G, "z");
    ck_exp_matvec(x, &R, "h", "0", U, 0, G, "z");
    ck_text_printf(&x->code,
                   "    for (int j = 0; j < %zu; j++) {\n"
                   "        const float gi = %s, gf = %s;\n"
                   "        const float gg = %s, go = %s;\n"
                   "        c[j] = gf * c[j] + gi * gg;\n"
                   "        h[j] = go * %s;\n    }\n}\n\n",
                   U, g[0], g[1], g[2], g[3], ck_exp_act_call(x, r->act, "c[j]", ac, sizeof ac));
    ck_exp_rnn_emit_driver(x, L);
    return CK_OK;
}

const ck_exp_emitter ck_exp_lstm = {"LSTM", lstm_plan, lstm_emit};
