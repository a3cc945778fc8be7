/* keras.layers.SimpleRNN: h = act(b + x W + h U). */
#include "ck_export.h"

static ck_status simple_rnn_plan(ck_exp *x, ck_exp_layer *L)
{
    CK_TRY(ck_exp_rnn_plan(x, L, NULL, false));
    size_t U = (size_t)L->rnn.units;
    L->scratch = U;
    return ck_exp_rnn_weights(L, U, U);
}

static ck_status simple_rnn_emit(ck_exp *x, ck_exp_layer *L)
{
    size_t F = (size_t)L->in.dims[2], U = (size_t)L->rnn.units;
    ck_exp_matrix W, R;
    char a[64];
    CK_TRY(ck_exp_matrix_emit(x, L, "kernel", L->w[0].data, F, U, true, false, &W));
    CK_TRY(ck_exp_matrix_emit(x, L, "recurrent", L->w[1].data, U, U, true, false, &R));
    if (L->rnn.use_bias)
        CK_TRY(ck_exp_floats_emit(x, L, "bias", L->w[2].data, U));
    ck_text_printf(&x->code,
                   "static void %s_cell(const float *restrict x, %s_state *restrict s)\n{\n", L->id,
                   x->name);
    ck_text_printf(&x->code, "    float *restrict z = s->scratch, *restrict h = s->%s_h;\n", L->id);
    ck_exp_rnn_bias_init(x, L, "z", 0, U);
    ck_exp_matvec(x, &W, "x", "0", F, 0, U, "z");
    ck_exp_matvec(x, &R, "h", "0", U, 0, U, "z");
    ck_text_printf(&x->code, "    for (int j = 0; j < %zu; j++)\n        h[j] = %s;\n}\n\n", U,
                   ck_exp_act_call(x, L->rnn.act, "z[j]", a, sizeof a));
    ck_exp_rnn_emit_driver(x, L);
    return CK_OK;
}

const ck_exp_emitter ck_exp_simple_rnn = {"SimpleRNN", simple_rnn_plan, simple_rnn_emit};
