/* keras.layers.Activation and Softmax, on every row of the last axis; a
 * linear Activation is an identity. */
#include "ck_export.h"

#include <stdio.h>

static ck_status act_layer_plan(ck_exp_layer *L, ck_act act)
{
    CK_TRY(ck_exp_row_plan(L, &act, sizeof act));
    if (act == CK_ACT_LINEAR)
        L->kind = CK_EXP_ALIAS;
    return CK_OK;
}

static ck_status activation_plan(ck_exp *x, ck_exp_layer *L)
{
    static const char *const known[] = {"activation", NULL};
    ck_act act;
    CK_TRY(ck_exp_check_keys(L, known));
    CK_TRY(ck_exp_get_act(x, L, "activation", NULL, &act));
    return act_layer_plan(L, act);
}

static ck_status softmax_plan(ck_exp *x, ck_exp_layer *L)
{
    static const char *const known[] = {"axis", NULL};
    int axis = -1;
    (void)x;
    CK_TRY(ck_exp_check_keys(L, known));
    CK_TRY(ck_exp_get_int(L, "axis", &axis));
    if (axis != -1 && axis != L->in.rank - 1)
        return ck_exp_refuse(L, "softmax over axis %d (not the last) is not exported", axis);
    return act_layer_plan(L, CK_ACT_SOFTMAX);
}

static ck_status act_layer_emit(ck_exp *x, ck_exp_layer *L)
{
    const ck_act *act = L->priv;
    char n[24];
    if (L->kind == CK_EXP_ALIAS)
        return CK_OK;
    ck_exp_row_open(x, L);
    ck_text_printf(&x->code, "    memcpy(y, x, sizeof(float) * %zu);\n", L->row_in);
    snprintf(n, sizeof n, "%zu", L->row_in);
    ck_exp_act_rows(x, *act, "y", n, L->row_in);
    ck_text_printf(&x->code, "}\n\n");
    return CK_OK;
}

const ck_exp_emitter ck_exp_activation = {"Activation", activation_plan, act_layer_emit};
const ck_exp_emitter ck_exp_softmax = {"Softmax", softmax_plan, act_layer_emit};
