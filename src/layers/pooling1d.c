/* keras.layers.MaxPooling1D, AveragePooling1D, GlobalMaxPooling1D and
 * GlobalAveragePooling1D on (batch, steps, channels). A global pooling is a
 * window over all steps, so the four share one implementation. */
#include "layer_util.h"

#include <stdlib.h>
#include <math.h>
#include <string.h>

typedef struct pool1d {
    ck_layer base;
    int size, strides; /* ignored when global */
    ck_padding padding;
    bool max, global, keepdims;
} pool1d;

extern const ck_layer_ops ck_max_pooling1d_layer_ops, ck_average_pooling1d_layer_ops,
    ck_global_max_pooling1d_layer_ops, ck_global_average_pooling1d_layer_ops;

static ck_layer *pool_new(const ck_pooling1d_options *o, const ck_layer_ops *ops, bool max)
{
    ck_padding pad;
    if (!o || o->pool_size < 0 || o->strides < 0) {
        ck_error(CK_ERR_ARGUMENT, "%s: pool_size and strides must be positive", ops->class_name);
        return NULL;
    }
    if (ck_padding_parse(ops->class_name, o->padding, false, &pad) != CK_OK)
        return NULL;
    pool1d *p = ck_layer_alloc(sizeof *p, ops, o->name);
    if (!p)
        return NULL;
    p->size = o->pool_size ? o->pool_size : 2;
    p->strides = o->strides ? o->strides : p->size;
    p->padding = pad;
    p->max = max;
    return &p->base;
}

ck_layer *ck_max_pooling1d_new(const ck_pooling1d_options *o)
{
    return pool_new(o, &ck_max_pooling1d_layer_ops, true);
}

ck_layer *ck_average_pooling1d_new(const ck_pooling1d_options *o)
{
    return pool_new(o, &ck_average_pooling1d_layer_ops, false);
}

static ck_layer *global_new(const ck_global_pooling1d_options *o, const ck_layer_ops *ops, bool max)
{
    pool1d *p = ck_layer_alloc(sizeof *p, ops, o ? o->name : NULL);
    if (!p)
        return NULL;
    p->max = max;
    p->global = true;
    p->keepdims = o && o->keepdims;
    p->strides = 1;
    p->padding = CK_PAD_VALID;
    return &p->base;
}

ck_layer *ck_global_max_pooling1d_new(const ck_global_pooling1d_options *o)
{
    return global_new(o, &ck_global_max_pooling1d_layer_ops, true);
}

ck_layer *ck_global_average_pooling1d_new(const ck_global_pooling1d_options *o)
{
    return global_new(o, &ck_global_average_pooling1d_layer_ops, false);
}

static ck_status pool_output_shape(const ck_layer *l, const ck_shape *in, ck_shape *out)
{
    const pool1d *p = (const pool1d *)l;
    CK_TRY(ck_shape_same(l, in, out, 3, 3));
    if (p->global) {
        out->dims[1] = 1;
        if (!p->keepdims)
            *out = (ck_shape){.rank = 2, .dims = {in->dims[0], in->dims[2]}};
        return CK_OK;
    }
    out->dims[1] = ck_window_out_len(in->dims[1], p->size, p->strides, p->padding);
    if (out->dims[1] == 0)
        return ck_error(CK_ERR_SHAPE,
                        "%s: %lld steps are fewer than pool_size %d with padding "
                        "\"valid\"",
                        l->ops->class_name, (long long)in->dims[1], p->size);
    return CK_OK;
}

/* One channel of one window: x is that channel at step 0 (stride C) and
 * [start, end) are the real steps covered. Forward sets *y; backward (y
 * NULL) adds *dy into dx. */
typedef void (*window_fn)(const float *x, size_t C, int64_t start, int64_t end, float *y,
                          const float *dy, float *dx);

static void max_window(const float *x, size_t C, int64_t start, int64_t end, float *y,
                       const float *dy, float *dx)
{
    int64_t best = start;
    for (int64_t s = start + 1; s < end; s++)
        if (x[(size_t)s * C] > x[(size_t)best * C])
            best = s;
    if (y)
        *y = x[(size_t)best * C];
    else
        dx[(size_t)best * C] += *dy;
}

static void avg_window(const float *x, size_t C, int64_t start, int64_t end, float *y,
                       const float *dy, float *dx)
{
    double n = (double)(end - start), sum = 0;
    for (int64_t s = start; s < end; s++) {
        if (y)
            sum += x[(size_t)s * C];
        else
            dx[(size_t)s * C] += (float)(*dy / n);
    }
    if (y)
        *y = (float)(sum / n);
}

/* Forward when y is set, otherwise backward from dy into dx. */
static void pool_walk(const pool1d *p, const ck_tensor *x, int64_t t_out, float *y, const float *dy,
                      float *dx)
{
    int64_t T = x->dims[1], size = p->global ? T : p->size;
    size_t C = (size_t)x->dims[2];
    int64_t pad = ck_window_pad_left(T, size, p->strides, p->padding);
    window_fn fn = p->max ? max_window : avg_window;
    for (int64_t b = 0; b < x->dims[0]; b++)
        for (int64_t t = 0; t < t_out; t++) {
            int64_t start = t * p->strides - pad, end = start + size;
            start = start < 0 ? 0 : start;
            end = end > T ? T : end;
            size_t in = (size_t)(b * T) * C, out = (size_t)(b * t_out + t) * C;
            for (size_t c = 0; c < C; c++)
                fn(x->data + in + c, C, start, end, y ? y + out + c : NULL,
                   dy ? dy + out + c : NULL, dx ? dx + in + c : NULL);
        }
}

static int64_t out_steps(const ck_tensor *x, const ck_tensor *y)
{
    return ck_tensor_size(y) / (size_t)(x->dims[0] * x->dims[2]);
}

/* Keras GlobalAveragePooling1D with a (B,T) mask: the mean over the kept
 * steps only. Forward when y is set, otherwise backward from dy into dx
 * (already zeroed). A fully masked sample is 0/0 = NaN, as in Keras (its
 * gradient through the mask is zero). */
static void masked_mean(const ck_tensor *x, const float *mask, float *y, const float *dy, float *dx)
{
    int64_t T = x->dims[1];
    size_t C = (size_t)x->dims[2];
    for (int64_t b = 0; b < x->dims[0]; b++) {
        const float *m = mask + b * T;
        double n = 0;
        for (int64_t t = 0; t < T; t++)
            n += m[t] != 0.0f;
        for (size_t c = 0; c < C; c++) {
            double sum = 0;
            for (int64_t t = 0; t < T && n > 0; t++) {
                size_t i = (size_t)(b * T + t) * C + c;
                if (m[t] == 0.0f)
                    continue;
                if (y)
                    sum += x->data[i];
                else
                    dx[i] = (float)(dy[(size_t)b * C + c] / n);
            }
            if (y)
                y[(size_t)b * C + c] = n > 0 ? (float)(sum / n) : NAN;
        }
    }
}

static bool uses_mask(const ck_layer *l)
{
    const pool1d *p = (const pool1d *)l;
    return l->mask && p->global && !p->max;
}

static ck_status pool_forward(ck_layer *l, const ck_tensor *x, ck_tensor *y, const ck_run_ctx *ctx)
{
    (void)ctx;
    if (uses_mask(l))
        masked_mean(x, l->mask, y->data, NULL, NULL);
    else
        pool_walk((const pool1d *)l, x, out_steps(x, y), y->data, NULL, NULL);
    return CK_OK;
}

static ck_status pool_backward(ck_layer *l, const ck_tensor *x, const ck_tensor *y,
                               const ck_tensor *dy, ck_tensor *dx)
{
    if (!dx)
        return CK_OK;
    memset(dx->data, 0, ck_tensor_size(x) * sizeof(float));
    if (uses_mask(l))
        masked_mean(x, l->mask, NULL, dy->data, dx->data);
    else
        pool_walk((const pool1d *)l, x, out_steps(x, y), NULL, dy->data, dx->data);
    return CK_OK;
}

static ck_status pool_get_config(const ck_layer *l, cJSON *cfg)
{
    const pool1d *p = (const pool1d *)l;
    if (!p->global) {
        CK_TRY(ck_config_add_int1(cfg, "pool_size", p->size));
        CK_TRY(ck_config_add_int1(cfg, "strides", p->strides));
        CK_TRY(ck_config_add_string(cfg, "padding", ck_padding_name(p->padding)));
    } else {
        CK_TRY(ck_config_add_bool(cfg, "keepdims", p->keepdims));
    }
    return ck_config_add_string(cfg, "data_format", "channels_last");
}

static ck_layer *pool_from_config_as(const cJSON *cfg, const ck_layer_ops *ops)
{
    static const char *const known[] = {"pool_size", "strides", "padding", "data_format", NULL};
    static const char *const known_global[] = {"keepdims", "data_format", NULL};
    bool global = ops == &ck_global_max_pooling1d_layer_ops ||
                  ops == &ck_global_average_pooling1d_layer_ops;
    const char *name = NULL;
    if (ck_config_check_keys(cfg, ops->class_name, global ? known_global : known) != CK_OK ||
        ck_config_check_channels_last(cfg, ops->class_name) != CK_OK ||
        ck_config_get_string(cfg, "name", &name) != CK_OK)
        return NULL;
    if (global) {
        ck_global_pooling1d_options g = {.name = name};
        if (ck_config_get_bool(cfg, "keepdims", &g.keepdims) != CK_OK)
            return NULL;
        return global_new(&g, ops, ops == &ck_global_max_pooling1d_layer_ops);
    }
    ck_pooling1d_options o = {.name = name};
    if (ck_config_get_size1(cfg, "pool_size", &o.pool_size) != CK_OK ||
        ck_config_get_size1(cfg, "strides", &o.strides) != CK_OK ||
        ck_config_get_string(cfg, "padding", &o.padding) != CK_OK)
        return NULL;
    return pool_new(&o, ops, ops == &ck_max_pooling1d_layer_ops);
}

static ck_layer *max_from_config(const cJSON *cfg, ck_keras_semantics semantics)
{
    (void)semantics;
    return pool_from_config_as(cfg, &ck_max_pooling1d_layer_ops);
}

static ck_layer *avg_from_config(const cJSON *cfg, ck_keras_semantics semantics)
{
    (void)semantics;
    return pool_from_config_as(cfg, &ck_average_pooling1d_layer_ops);
}

static ck_layer *gmax_from_config(const cJSON *cfg, ck_keras_semantics semantics)
{
    (void)semantics;
    return pool_from_config_as(cfg, &ck_global_max_pooling1d_layer_ops);
}

static ck_layer *gavg_from_config(const cJSON *cfg, ck_keras_semantics semantics)
{
    (void)semantics;
    return pool_from_config_as(cfg, &ck_global_average_pooling1d_layer_ops);
}

static void pool_destroy(ck_layer *l)
{
    free(l);
}

#define POOL_OPS(sym, cls, base, from)     \
    const ck_layer_ops sym = {             \
        .class_name = cls,                 \
        .base_name = base,                 \
        .output_shape = pool_output_shape, \
        .forward = pool_forward,           \
        .backward = pool_backward,         \
        .get_config = pool_get_config,     \
        .from_config = from,               \
        .destroy = pool_destroy,           \
    };
POOL_OPS(ck_max_pooling1d_layer_ops, "MaxPooling1D", "max_pooling1d", max_from_config)
POOL_OPS(ck_average_pooling1d_layer_ops, "AveragePooling1D", "average_pooling1d", avg_from_config)
POOL_OPS(ck_global_max_pooling1d_layer_ops, "GlobalMaxPooling1D", "global_max_pooling1d",
         gmax_from_config)
POOL_OPS(ck_global_average_pooling1d_layer_ops, "GlobalAveragePooling1D",
         "global_average_pooling1d", gavg_from_config)
