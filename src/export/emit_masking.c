/* keras.layers.Masking: a row whose values all equal mask_value (compared
 * in float, as ckeras does) becomes zeros and is masked for the layers
 * after it. */
#include "ck_export.h"

#include <stdio.h>

static ck_status masking_plan(ck_exp *x, ck_exp_layer *L)
{
    static const char *const known[] = {"mask_value", NULL};
    (void)x;
    CK_TRY(ck_exp_check_keys(L, known));
    const cJSON *mv = cJSON_GetObjectItemCaseSensitive(L->cfg, "mask_value");
    float v = cJSON_IsNumber(mv) ? (float)mv->valuedouble : 0.0f;
    CK_TRY(ck_exp_row_plan(L, &v, sizeof v));
    L->makes_mask = L->mask_out = true;
    return CK_OK;
}

static ck_status masking_emit(ck_exp *x, ck_exp_layer *L)
{
    const float *v = L->priv;
    size_t C = L->row_in;
    char lit[40];
    ck_exp_float_literal(*v, lit, sizeof lit);
    ck_exp_row_open(x, L);
    ck_text_printf(&x->code,
                   "    int j = 0;\n"
                   "    while (j < %zu && x[j] == %s)\n        j++;\n"
                   "    s->mask[r] = j < %zu ? 1.0f : 0.0f;\n"
                   "    if (j < %zu)\n        memcpy(y, x, sizeof(float) * %zu);\n"
                   "    else\n        memset(y, 0, sizeof(float) * %zu);\n}\n\n",
                   C, lit, C, C, C, C);
    return CK_OK;
}

const ck_exp_emitter ck_exp_masking = {"Masking", masking_plan, masking_emit};
