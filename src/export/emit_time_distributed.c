/* keras.layers.TimeDistributed around a layer that works on rows of the
 * last axis (Dense, Activation, normalization, identities): applying it to
 * every time step is applying it to every row, so the wrapped layer's own
 * code runs under the wrapper's name. */
#include "ck_export.h"

static ck_status td_plan(ck_exp *x, ck_exp_layer *L)
{
    static const char *const known[] = {"layer", NULL};
    CK_TRY(ck_exp_check_keys(L, known));
    CK_TRY(ck_exp_alloc_subs(L, 1));
    ck_exp_layer *in = &L->sub[0];
    CK_TRY(ck_exp_sub_layer(L, cJSON_GetObjectItemCaseSensitive(L->cfg, "layer"), "", in));
    in->w = L->w;
    in->n_w = L->n_w;
    in->out = L->out;
    CK_TRY(in->em->plan(x, in));
    if ((in->kind != CK_EXP_ROW && in->kind != CK_EXP_ALIAS) || in->makes_mask)
        return ck_exp_refuse(L, "a wrapped %s is not exported (only layers that act on each row)",
                             in->cls);
    L->kind = in->kind;
    L->steps = true;
    L->row_in = in->row_in;
    L->row_out = in->row_out;
    L->scratch = in->scratch;
    return CK_OK;
}

static ck_status td_emit(ck_exp *x, ck_exp_layer *L)
{
    ck_exp_layer *in = &L->sub[0];
    return in->em->emit ? in->em->emit(x, in) : CK_OK;
}

const ck_exp_emitter ck_exp_time_distributed = {"TimeDistributed", td_plan, td_emit};
