/* keras.layers.Dense: y = act(b + x W) on every row of the last axis. */
#include "ck_export.h"

#include <stdio.h>

typedef struct dense_opts {
    int units;
    bool use_bias;
    ck_act act;
} dense_opts;

static ck_status dense_plan(ck_exp *x, ck_exp_layer *L)
{
    static const char *const known[] = {
        "units", "activation", "use_bias", "kernel_initializer", "bias_initializer", NULL};
    dense_opts *o = ck_alloc(1, sizeof *o);
    if (!o)
        return CK_ERR_MEMORY;
    L->priv = o;
    o->use_bias = true;
    CK_TRY(ck_exp_check_keys(L, known));
    CK_TRY(ck_exp_get_int(L, "units", &o->units));
    CK_TRY(ck_exp_get_bool(L, "use_bias", &o->use_bias));
    CK_TRY(ck_exp_get_act(x, L, "activation", NULL, &o->act));
    L->kind = CK_EXP_ROW;
    L->steps = true;
    L->row_in = (size_t)L->in.dims[L->in.rank - 1];
    L->row_out = (size_t)o->units;
    if (o->units <= 0 || L->n_w != 1 + o->use_bias || L->w[0].size != L->row_in * L->row_out)
        return ck_exp_refuse(L, "its weights do not have the shapes of its config");
    return CK_OK;
}

static ck_status dense_emit(ck_exp *x, ck_exp_layer *L)
{
    const dense_opts *o = L->priv;
    size_t K = L->row_in, N = L->row_out;
    ck_exp_matrix W;
    char n[24];
    CK_TRY(ck_exp_matrix_emit(x, L, "kernel", L->w[0].data, K, N, true, false, &W));
    if (o->use_bias)
        CK_TRY(ck_exp_floats_emit(x, L, "bias", L->w[1].data, N));
    ck_exp_row_open(x, L);
    if (o->use_bias)
        ck_text_printf(&x->code, "    memcpy(y, %s_bias, sizeof(float) * %zu);\n", L->id, N);
    else
        ck_text_printf(&x->code, "    memset(y, 0, sizeof(float) * %zu);\n", N);
    ck_exp_matvec(x, &W, "x", "0", K, 0, N, "y");
    snprintf(n, sizeof n, "%zu", N);
    ck_exp_act_rows(x, o->act, "y", n, N);
    ck_text_printf(&x->code, "}\n\n");
    return CK_OK;
}

const ck_exp_emitter ck_exp_dense = {"Dense", dense_plan, dense_emit};
