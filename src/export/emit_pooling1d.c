/* keras.layers.MaxPooling1D, AveragePooling1D and their global forms over
 * the steps; "same" padding never counts the padded positions, averages
 * are summed in double, and a global average with a mask takes the kept
 * steps only (NaN when none is kept: 0 / 0 as in Keras), all as
 * src/layers/pooling1d.c. */
#include "ck_export.h"
#include "layer_util.h"

#include <string.h>

typedef struct pool_opts {
    int size, strides;
    ck_padding padding;
    bool max, global;
} pool_opts;

static ck_status pool_plan(ck_exp_layer *L, bool max, bool global)
{
    static const char *const known[] = {"pool_size", "strides", "padding", "data_format", NULL};
    static const char *const known_global[] = {"keepdims", "data_format", NULL};
    pool_opts *o = ck_alloc(1, sizeof *o);
    if (!o)
        return CK_ERR_MEMORY;
    L->priv = o;
    *o = (pool_opts){.size = 2, .max = max, .global = global, .strides = 1};
    CK_TRY(ck_exp_check_keys(L, global ? known_global : known));
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(L->cfg, "data_format");
    if (cJSON_IsString(fmt) && strcmp(fmt->valuestring, "channels_last") != 0)
        return ck_exp_refuse(L, "data_format '%s' is not exported", fmt->valuestring);
    if (global) {
        o->size = (int)L->in.dims[1];
    } else {
        const char *padding = NULL;
        o->strides = 0;
        if (ck_config_get_int1(L->cfg, "pool_size", &o->size) != CK_OK ||
            ck_config_get_int1(L->cfg, "strides", &o->strides) != CK_OK ||
            ck_config_get_string(L->cfg, "padding", &padding) != CK_OK ||
            ck_padding_parse(L->cls, padding, false, &o->padding) != CK_OK)
            return ck_exp_refuse(L, "its config cannot be read");
        o->strides = o->strides ? o->strides : o->size;
    }
    L->kind = CK_EXP_WHOLE;
    return CK_OK;
}

static void emit_window(ck_exp *x, const ck_exp_layer *L, size_t C)
{
    const pool_opts *o = L->priv;
    if (o->max) {
        ck_text_printf(
            &x->code,
            "            int best = start;\n"
            "            for (int k = start + 1; k < end; k++)\n"
            "                best = x[(long)k * %zu + c] > x[(long)best * %zu + c] ? k : best;\n"
            "            y[(long)t * %zu + c] = x[(long)best * %zu + c];\n",
            C, C, C, C);
        return;
    }
    const char *skip = L->mask_in && o->global ? "                if (s->mask[k] != 0.0f)\n    "
                                               : "";
    ck_text_printf(&x->code,
                   "            double sum = 0.0;\n"
                   "            for (int k = start; k < end; k++)\n%s"
                   "                sum += x[(long)k * %zu + c];\n",
                   skip, C);
    if (L->mask_in && o->global)
        ck_text_printf(&x->code,
                       "            y[(long)t * %zu + c] = kept > 0 ? (float)(sum / kept) : NAN;\n",
                       C);
    else
        ck_text_printf(&x->code,
                       "            y[(long)t * %zu + c] = (float)(sum / (double)(end - start));\n",
                       C);
}

static ck_status pool_emit(ck_exp *x, ck_exp_layer *L)
{
    const pool_opts *o = L->priv;
    int64_t T = L->in.dims[1], T_out = o->global ? 1 : L->out.dims[1];
    size_t C = (size_t)L->in.dims[2];
    ck_exp_forward_open(x, L);
    if (L->mask_in && o->global && !o->max)
        ck_text_printf(&x->code,
                       "    double kept = 0.0;\n    for (int k = 0; k < %lld; k++)\n"
                       "        kept += s->mask[k] != 0.0f;\n",
                       (long long)T);
    ck_text_printf(&x->code,
                   "    for (int t = 0; t < %lld; t++) {\n"
                   "        int start = t * %d - %lld, end = start + %d;\n"
                   "        start = start < 0 ? 0 : start;\n"
                   "        end = end > %lld ? %lld : end;\n"
                   "        for (int c = 0; c < %zu; c++) {\n",
                   (long long)T_out, o->strides,
                   (long long)ck_window_pad_left(T, o->size, o->strides, o->padding), o->size,
                   (long long)T, (long long)T, C);
    emit_window(x, L, C);
    ck_text_printf(&x->code, "        }\n    }\n}\n\n");
    return CK_OK;
}

#define POOL(sym, cls, max, global)                         \
    static ck_status sym##_plan(ck_exp *x, ck_exp_layer *L) \
    {                                                       \
        (void)x;                                            \
        return pool_plan(L, max, global);                   \
    }                                                       \
    const ck_exp_emitter ck_exp_##sym = {cls, sym##_plan, pool_emit};
POOL(max_pooling1d, "MaxPooling1D", true, false)
POOL(average_pooling1d, "AveragePooling1D", false, false)
POOL(global_max_pooling1d, "GlobalMaxPooling1D", true, true)
POOL(global_average_pooling1d, "GlobalAveragePooling1D", false, true)
