/* keras.layers.Normalization over the last axis (or over every value,
 * axis None) and Rescaling, computed as src/layers does it, in float:
 * (x - mean) / std or, inverted, mean + x * std, std = max(sqrt(variance),
 * 1e-7) folded into a constant per feature; x * scale + offset. */
#include "ck_export.h"
#include "layer_util.h"

#include <math.h>
#include <stdlib.h>

typedef struct norm_opts {
    bool invert;
} norm_opts;

/* Only a last axis kept (or none) makes one constant per feature. */
static ck_status check_axis(const ck_exp_layer *L)
{
    const cJSON *axis = cJSON_GetObjectItemCaseSensitive(L->cfg, "axis"), *a;
    int rank = L->in.rank;
    cJSON_ArrayForEach(a, axis)
    {
        int v = cJSON_IsNumber(a) ? (int)a->valuedouble : 0;
        if (v != -1 && v != rank - 1)
            return ck_exp_refuse(L, "axis %d (only the last axis, or None, is exported)", v);
    }
    return CK_OK;
}

/* values (cfg[key]) as one float per feature: a single value for all, or
 * as many as there are features, in order (every form the layer reads for
 * a last-axis kept shape). */
static ck_status per_feature(const ck_exp_layer *L, const char *key, float *out, size_t C)
{
    ck_values v;
    CK_TRY(ck_values_from_json(L->cfg, L->cls, key, &v));
    bool fits = v.v && (v.n == 1 || v.n == C);
    for (size_t c = 0; fits && c < C; c++)
        out[c] = (float)v.v[v.n == 1 ? 0 : c];
    ck_values_free(&v);
    return fits ? CK_OK : ck_exp_refuse(L, "its '%s' does not match its input", key);
}

static float std_of(float variance)
{
    float s = sqrtf(variance);
    return s < 1e-7f ? 1e-7f : s;
}

/* The mean and std of every feature, from the config or the weights. */
static ck_status norm_values(const ck_exp_layer *L, float *mean, float *std)
{
    size_t C = L->row_in;
    if (!cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(L->cfg, "mean"))) {
        CK_TRY(per_feature(L, "mean", mean, C));
        CK_TRY(per_feature(L, "variance", std, C));
    } else {
        if (L->n_w != 3 || L->w[0].size != L->w[1].size || (L->w[0].size != 1 && L->w[0].size != C))
            return ck_exp_refuse(L, "its weights do not match its input");
        for (size_t c = 0; c < C; c++) {
            size_t k = L->w[0].size == 1 ? 0 : c;
            mean[c] = L->w[0].data[k];
            std[c] = L->w[1].data[k];
        }
    }
    for (size_t c = 0; c < C; c++)
        std[c] = std_of(std[c]);
    return CK_OK;
}

static ck_status norm_plan(ck_exp *x, ck_exp_layer *L)
{
    static const char *const known[] = {"axis", "invert", "mean", "variance", NULL};
    norm_opts o = {0};
    CK_TRY(ck_exp_check_keys(L, known));
    CK_TRY(ck_exp_get_bool(L, "invert", &o.invert));
    if (o.invert && x->keras_release == 210)
        return ck_exp_refuse(L, "tf.keras 2.10's invert ((x + mean) * std) is not exported");
    CK_TRY(check_axis(L));
    return ck_exp_row_plan(L, &o, sizeof o);
}

static ck_status norm_emit(ck_exp *x, ck_exp_layer *L)
{
    const norm_opts *o = L->priv;
    size_t C = L->row_in;
    float *mean = ck_alloc(2 * C, sizeof *mean), *std = mean + C;
    if (!mean)
        return CK_ERR_MEMORY;
    ck_status st = norm_values(L, mean, std);
    if (st == CK_OK)
        st = ck_exp_floats_emit(x, L, "mean", mean, C);
    if (st == CK_OK)
        st = ck_exp_floats_emit(x, L, "std", std, C);
    free(mean);
    CK_TRY(st);
    ck_exp_row_open(x, L);
    ck_text_printf(&x->code, "    for (int c = 0; c < %zu; c++)\n", C);
    if (o->invert)
        ck_text_printf(&x->code, "        y[c] = %s_mean[c] + x[c] * %s_std[c];\n}\n\n", L->id,
                       L->id);
    else
        ck_text_printf(&x->code, "        y[c] = (x[c] - %s_mean[c]) / %s_std[c];\n}\n\n", L->id,
                       L->id);
    return CK_OK;
}

static ck_status resc_plan(ck_exp *x, ck_exp_layer *L)
{
    static const char *const known[] = {"scale", "offset", NULL};
    static const char none = 0; /* no options of its own */
    (void)x;
    CK_TRY(ck_exp_check_keys(L, known));
    return ck_exp_row_plan(L, &none, sizeof none);
}

static ck_status resc_emit(ck_exp *x, ck_exp_layer *L)
{
    size_t C = L->row_in;
    float *scale = ck_alloc(2 * C, sizeof *scale), *offset = scale + C;
    if (!scale)
        return CK_ERR_MEMORY;
    ck_status st = per_feature(L, "scale", scale, C);
    if (st == CK_OK)
        st = per_feature(L, "offset", offset, C);
    if (st == CK_OK)
        st = ck_exp_floats_emit(x, L, "scale", scale, C);
    if (st == CK_OK)
        st = ck_exp_floats_emit(x, L, "offset", offset, C);
    free(scale);
    CK_TRY(st);
    ck_exp_row_open(x, L);
    ck_text_printf(
        &x->code,
        "    for (int c = 0; c < %zu; c++) {\n        const float v = x[c] * %s_scale[c];\n"
        "        y[c] = v + %s_offset[c];\n    }\n}\n\n",
        C, L->id, L->id);
    return CK_OK;
}

const ck_exp_emitter ck_exp_normalization = {"Normalization", norm_plan, norm_emit};
const ck_exp_emitter ck_exp_rescaling = {"Rescaling", resc_plan, resc_emit};
