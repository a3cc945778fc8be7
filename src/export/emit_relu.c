/* keras.layers.ReLU, LeakyReLU, ThresholdedReLU, ELU and PReLU, on every
 * row of the last axis, with the arithmetic of src/layers/relu.c, elu.c
 * and prelu.c so the generated code gives ckeras's numbers. */
#include "ck_export.h"

#include <stdio.h>

typedef struct relu_opts {
    double slope, threshold, max_value; /* max_value < 0: none */
    bool elu;                           /* slope is ELU's alpha */
} relu_opts;

/* A number of the config, `dflt` when absent or null. */
static ck_status get_number(const ck_exp_layer *L, const char *key, double dflt, double *out)
{
    const cJSON *v = ck_json_get(L->cfg, key);
    if (v && !cJSON_IsNumber(v))
        return ck_exp_refuse(L, "'%s' is not a number", key);
    *out = v ? v->valuedouble : dflt;
    return CK_OK;
}

static ck_status relu_plan(ck_exp *x, ck_exp_layer *L)
{
    static const char *const known[] = {"max_value", "negative_slope", "threshold", NULL};
    relu_opts o = {0};
    (void)x;
    CK_TRY(ck_exp_check_keys(L, known));
    CK_TRY(get_number(L, "max_value", -1, &o.max_value));
    CK_TRY(get_number(L, "negative_slope", 0, &o.slope));
    CK_TRY(get_number(L, "threshold", 0, &o.threshold));
    return ck_exp_row_plan(L, &o, sizeof o);
}

static ck_status leaky_plan(ck_exp *x, ck_exp_layer *L)
{
    static const char *const known[] = {"alpha", "negative_slope", NULL};
    relu_opts o = {.max_value = -1};
    (void)x;
    CK_TRY(ck_exp_check_keys(L, known));
    CK_TRY(get_number(L, "negative_slope", 0.3, &o.slope));
    CK_TRY(get_number(L, "alpha", o.slope, &o.slope));
    return ck_exp_row_plan(L, &o, sizeof o);
}

static ck_status thresholded_plan(ck_exp *x, ck_exp_layer *L)
{
    static const char *const known[] = {"theta", NULL};
    relu_opts o = {.max_value = -1};
    (void)x;
    CK_TRY(ck_exp_check_keys(L, known));
    CK_TRY(get_number(L, "theta", 1.0, &o.threshold));
    return ck_exp_row_plan(L, &o, sizeof o);
}

static ck_status elu_plan(ck_exp *x, ck_exp_layer *L)
{
    static const char *const known[] = {"alpha", NULL};
    relu_opts o = {.max_value = -1, .elu = true};
    (void)x;
    CK_TRY(ck_exp_check_keys(L, known));
    CK_TRY(get_number(L, "alpha", 1.0, &o.slope));
    return ck_exp_row_plan(L, &o, sizeof o);
}

static ck_status relu_emit(ck_exp *x, ck_exp_layer *L)
{
    const relu_opts *o = L->priv;
    ck_exp_row_open(x, L);
    ck_text_printf(&x->code,
                   "    for (int c = 0; c < %zu; c++) {\n        const double v = x[c];\n",
                   L->row_in);
    if (o->elu)
        ck_text_printf(&x->code, "        y[c] = v > 0 ? x[c] : (float)(%.17g * expm1(v));\n",
                       o->slope);
    else if (o->max_value >= 0)
        ck_text_printf(
            &x->code,
            "        y[c] = v > %.17g ? (float)(v > %.17g ? %.17g : v) : (float)(%.17g * "
            "(v - %.17g));\n",
            o->threshold, o->max_value, o->max_value, o->slope, o->threshold);
    else
        ck_text_printf(&x->code,
                       "        y[c] = v > %.17g ? x[c] : (float)(%.17g * (v - %.17g));\n",
                       o->threshold, o->slope, o->threshold);
    ck_text_printf(&x->code, "    }\n}\n\n");
    return CK_OK;
}

/* alpha by feature, or one shared by every axis: a weight per step would
 * need the row's step. */
static ck_status prelu_plan(ck_exp *x, ck_exp_layer *L)
{
    static const char *const known[] = {"alpha_initializer", "shared_axes", NULL};
    (void)x;
    CK_TRY(ck_exp_check_keys(L, known));
    size_t C = (size_t)L->in.dims[L->in.rank - 1];
    if (L->n_w != 1 || (L->w[0].size != C && L->w[0].size != 1))
        return ck_exp_refuse(L, "an alpha that differs along axes other than the last is not "
                                "exported (share them with shared_axes)");
    return ck_exp_row_plan(L, &(relu_opts){.max_value = -1}, sizeof(relu_opts));
}

static ck_status prelu_emit(ck_exp *x, ck_exp_layer *L)
{
    bool shared = L->w[0].size == 1;
    CK_TRY(ck_exp_floats_emit(x, L, "alpha", L->w[0].data, shared ? 1 : L->row_in));
    ck_exp_row_open(x, L);
    ck_text_printf(&x->code,
                   "    for (int c = 0; c < %zu; c++)\n"
                   "        y[c] = x[c] > 0.0f ? x[c] : %s_alpha[%s] * x[c];\n}\n\n",
                   L->row_in, L->id, shared ? "0" : "c");
    return CK_OK;
}

const ck_exp_emitter ck_exp_relu = {"ReLU", relu_plan, relu_emit};
const ck_exp_emitter ck_exp_leaky_relu = {"LeakyReLU", leaky_plan, relu_emit};
const ck_exp_emitter ck_exp_thresholded_relu = {"ThresholdedReLU", thresholded_plan, relu_emit};
const ck_exp_emitter ck_exp_elu = {"ELU", elu_plan, relu_emit};
const ck_exp_emitter ck_exp_prelu = {"PReLU", prelu_plan, prelu_emit};
