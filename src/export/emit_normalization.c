/* keras.layers.BatchNormalization (moving statistics, as at inference) and
 * LayerNormalization, over the last axis, computed as ckeras does:
 * BatchNormalization's 1/sqrt(var + eps) is folded into a constant,
 * LayerNormalization works in double like src/layers/layer_norm.c. */
#include "ck_export.h"

#include <math.h>
#include <stdlib.h>

typedef struct norm_opts {
    bool center, scale;
    double epsilon;
} norm_opts;

static ck_status norm_plan(ck_exp_layer *L, const char *const *known, int stats)
{
    norm_opts o = {.center = true, .scale = true};
    CK_TRY(ck_exp_check_keys(L, known));
    CK_TRY(ck_exp_get_bool(L, "center", &o.center));
    CK_TRY(ck_exp_get_bool(L, "scale", &o.scale));
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(L->cfg, "epsilon");
    o.epsilon = cJSON_IsNumber(eps) ? eps->valuedouble : 1e-3;
    CK_TRY(ck_exp_row_plan(L, &o, sizeof o));
    /* ckeras accepts only the last axis; its layer checked that already. */
    if (L->n_w != o.scale + o.center + stats)
        return ck_exp_refuse(L, "its weights do not match its config");
    for (int i = 0; i < L->n_w; i++)
        if (L->w[i].size != L->row_in)
            return ck_exp_refuse(L, "its weights do not match its input");
    return CK_OK;
}

static ck_status bn_plan(ck_exp *x, ck_exp_layer *L)
{
    static const char *const known[] = {"axis",
                                        "epsilon",
                                        "center",
                                        "scale",
                                        "beta_initializer",
                                        "gamma_initializer",
                                        "momentum",
                                        "moving_mean_initializer",
                                        "moving_variance_initializer",
                                        NULL};
    (void)x;
    return norm_plan(L, known, 2);
}

static ck_status ln_plan(ck_exp *x, ck_exp_layer *L)
{
    static const char *const known[] = {
        "axis", "epsilon", "center", "scale", "beta_initializer", "gamma_initializer", NULL};
    (void)x;
    return norm_plan(L, known, 0);
}

/* gamma and beta arrays, when the layer has them. */
static ck_status emit_affine_params(ck_exp *x, const ck_exp_layer *L)
{
    const norm_opts *o = L->priv;
    size_t C = L->row_in;
    if (o->scale)
        CK_TRY(ck_exp_floats_emit(x, L, "gamma", L->w[0].data, C));
    if (o->center)
        CK_TRY(ck_exp_floats_emit(x, L, "beta", L->w[o->scale].data, C));
    return CK_OK;
}

static ck_status bn_emit(ck_exp *x, ck_exp_layer *L)
{
    const norm_opts *o = L->priv;
    size_t C = L->row_in;
    const ck_weight *mean = &L->w[o->scale + o->center], *var = mean + 1;
    float *inv = ck_alloc(C, sizeof *inv);
    if (!inv)
        return CK_ERR_MEMORY;
    for (size_t c = 0; c < C; c++)
        inv[c] = (float)(1.0 / sqrt((double)var->data[c] + o->epsilon));
    ck_status st = ck_exp_floats_emit(x, L, "inv", inv, C);
    free(inv);
    CK_TRY(st);
    CK_TRY(ck_exp_floats_emit(x, L, "mean", mean->data, C));
    CK_TRY(emit_affine_params(x, L));
    ck_exp_row_open(x, L);
    ck_text_printf(
        &x->code,
        "    for (int c = 0; c < %zu; c++) {\n        const float v = (x[c] - %s_mean[c]) * %s_inv[c];\n",
        C, L->id, L->id);
    ck_text_printf(&x->code, "        y[c] = %s%s%s + %s%s%s;\n    }\n}\n\n",
                   o->scale ? "v * " : "v", o->scale ? L->id : "", o->scale ? "_gamma[c]" : "",
                   o->center ? L->id : "0.0f", o->center ? "_beta" : "", o->center ? "[c]" : "");
    return CK_OK;
}

static ck_status ln_emit(ck_exp *x, ck_exp_layer *L)
{
    const norm_opts *o = L->priv;
    size_t C = L->row_in;
    CK_TRY(emit_affine_params(x, L));
    ck_exp_row_open(x, L);
    ck_text_printf(
        &x->code,
        "    double sum = 0.0, sq = 0.0, mean, inv;\n"
        "    for (int c = 0; c < %zu; c++)\n        sum += x[c];\n"
        "    mean = sum / %zu.0;\n"
        "    for (int c = 0; c < %zu; c++)\n        sq += (x[c] - mean) * (x[c] - mean);\n"
        "    inv = 1.0 / sqrt(sq / %zu.0 + %.17g);\n"
        "    for (int c = 0; c < %zu; c++) {\n        const double v = (x[c] - mean) * inv;\n",
        C, C, C, C, o->epsilon, C);
    ck_text_printf(&x->code, "        y[c] = (float)((%s%s%s) + (%s%s%s));\n    }\n}\n\n",
                   o->scale ? "v * " : "v", o->scale ? L->id : "", o->scale ? "_gamma[c]" : "",
                   o->center ? L->id : "0.0", o->center ? "_beta" : "", o->center ? "[c]" : "");
    return CK_OK;
}

const ck_exp_emitter ck_exp_batch_normalization = {"BatchNormalization", bn_plan, bn_emit};
const ck_exp_emitter ck_exp_layer_normalization = {"LayerNormalization", ln_plan, ln_emit};
