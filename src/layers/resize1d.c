/* keras.layers.ZeroPadding1D, Cropping1D and UpSampling1D: they change the
 * number of steps of (batch, steps, features) and move data only. None
 * supports masking in Keras: tf.keras refuses a masked input and Keras 3
 * drops the mask, as ckeras does (no compute_mask). */
#include "layer_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef enum resize_kind { RESIZE_PAD, RESIZE_CROP, RESIZE_REPEAT } resize_kind;

typedef struct resize1d {
    ck_layer base;
    resize_kind kind;
    int before, after; /* steps added (pad) or removed (crop) at each end */
    int size;          /* repeats of each step (upsampling) */
} resize1d;

extern const ck_layer_ops ck_zero_padding1d_layer_ops;
extern const ck_layer_ops ck_cropping1d_layer_ops;
extern const ck_layer_ops ck_up_sampling1d_layer_ops;

static ck_layer *resize_make(const ck_layer_ops *ops, int before, int after, int size,
                             const char *name)
{
    if (before < 0 || after < 0) {
        ck_error(CK_ERR_ARGUMENT, "%s: the sizes at both ends must be >= 0, got (%d, %d)",
                 ops->class_name, before, after);
        return NULL;
    }
    resize1d *r = ck_layer_alloc(sizeof *r, ops, name);
    if (!r)
        return NULL;
    r->kind = ops == &ck_zero_padding1d_layer_ops ? RESIZE_PAD
              : ops == &ck_cropping1d_layer_ops   ? RESIZE_CROP
                                                  : RESIZE_REPEAT;
    r->before = before;
    r->after = after;
    r->size = size;
    return &r->base;
}

/* Keras's default is (1, 1) for both; the C options' {0, 0} means unset. */
ck_layer *ck_zero_padding1d_new(const ck_zero_padding1d_options *o)
{
    bool unset = !o || (o->padding[0] == 0 && o->padding[1] == 0);
    return resize_make(&ck_zero_padding1d_layer_ops, unset ? 1 : o->padding[0],
                       unset ? 1 : o->padding[1], 1, o ? o->name : NULL);
}

ck_layer *ck_cropping1d_new(const ck_cropping1d_options *o)
{
    bool unset = !o || (o->cropping[0] == 0 && o->cropping[1] == 0);
    return resize_make(&ck_cropping1d_layer_ops, unset ? 1 : o->cropping[0],
                       unset ? 1 : o->cropping[1], 1, o ? o->name : NULL);
}

ck_layer *ck_up_sampling1d_new(const ck_up_sampling1d_options *o)
{
    int size = o && o->size ? o->size : 2;
    if (size < 1) {
        ck_error(CK_ERR_ARGUMENT, "UpSampling1D: size must be positive, got %d", size);
        return NULL;
    }
    return resize_make(&ck_up_sampling1d_layer_ops, 0, 0, size, o ? o->name : NULL);
}

/* Steps of the output for `steps` input steps (CK_NONE stays open). */
static ck_status out_steps(const resize1d *r, int64_t steps, int64_t *out)
{
    if (steps == CK_NONE) {
        *out = CK_NONE;
        return CK_OK;
    }
    if (r->kind == RESIZE_PAD)
        *out = steps + r->before + r->after;
    else if (r->kind == RESIZE_REPEAT)
        *out = steps * r->size;
    else
        *out = steps - r->before - r->after;
    if (*out < 1)
        return ck_error(CK_ERR_SHAPE,
                        "Cropping1D: cropping (%d, %d) leaves nothing of %lld steps (Keras "
                        "refuses it too)",
                        r->before, r->after, (long long)steps);
    return CK_OK;
}

static ck_status resize_output_shape(const ck_layer *l, const ck_shape *in, ck_shape *out)
{
    if (in->rank != 3)
        return ck_error(CK_ERR_SHAPE,
                        "%s needs an input of rank 3 (batch, steps, features), got rank %d",
                        l->ops->class_name, in->rank);
    if (in->dims[2] <= 0)
        return ck_error(CK_ERR_SHAPE, "%s needs a known last axis", l->ops->class_name);
    *out = *in;
    return out_steps((const resize1d *)l, in->dims[1], &out->dims[1]);
}

/* Input step of output step t, or -1 for a padding step. */
static int64_t source_step(const resize1d *r, int64_t t, int64_t in_steps)
{
    if (r->kind == RESIZE_REPEAT)
        return t / r->size;
    if (r->kind == RESIZE_CROP)
        return t + r->before;
    int64_t s = t - r->before;
    return s >= 0 && s < in_steps ? s : -1;
}

static ck_status resize_forward(ck_layer *l, const ck_tensor *x, ck_tensor *y,
                                const ck_run_ctx *ctx)
{
    const resize1d *r = (const resize1d *)l;
    (void)ctx;
    size_t F = (size_t)x->dims[2];
    for (int64_t b = 0; b < x->dims[0]; b++)
        for (int64_t t = 0; t < y->dims[1]; t++) {
            int64_t s = source_step(r, t, x->dims[1]);
            float *dst = y->data + ((size_t)b * (size_t)y->dims[1] + (size_t)t) * F;
            if (s < 0)
                memset(dst, 0, F * sizeof(float));
            else
                memcpy(dst, x->data + ((size_t)b * (size_t)x->dims[1] + (size_t)s) * F,
                       F * sizeof(float));
        }
    return CK_OK;
}

/* Each input step gets the sum of the output gradients copied from it. */
static ck_status resize_backward(ck_layer *l, const ck_tensor *x, const ck_tensor *y,
                                 const ck_tensor *dy, ck_tensor *dx)
{
    const resize1d *r = (const resize1d *)l;
    if (!dx)
        return CK_OK;
    size_t F = (size_t)x->dims[2];
    memset(dx->data, 0, ck_tensor_size(x) * sizeof(float));
    for (int64_t b = 0; b < x->dims[0]; b++)
        for (int64_t t = 0; t < y->dims[1]; t++) {
            int64_t s = source_step(r, t, x->dims[1]);
            const float *g = dy->data + ((size_t)b * (size_t)y->dims[1] + (size_t)t) * F;
            float *d = dx->data + ((size_t)b * (size_t)x->dims[1] + (size_t)(s < 0 ? 0 : s)) * F;
            for (size_t f = 0; s >= 0 && f < F; f++)
                d[f] += g[f];
        }
    return CK_OK;
}

static ck_status add_pair(cJSON *cfg, const char *key, int a, int b)
{
    return ck_config_add(cfg, key, cJSON_CreateIntArray((const int[]){a, b}, 2));
}

static ck_status pad_get_config(const ck_layer *l, cJSON *cfg)
{
    /* No data_format: Keras before 3.5 does not accept one. */
    const resize1d *r = (const resize1d *)l;
    return add_pair(cfg, "padding", r->before, r->after);
}

static ck_status crop_get_config(const ck_layer *l, cJSON *cfg)
{
    const resize1d *r = (const resize1d *)l;
    return add_pair(cfg, "cropping", r->before, r->after);
}

static ck_status up_get_config(const ck_layer *l, cJSON *cfg)
{
    return ck_config_add_number(cfg, "size", ((const resize1d *)l)->size);
}

/* An int for both ends or a list of two (Keras's standardize_tuple);
 * absent: (1, 1). */
static ck_status get_pair(const cJSON *cfg, const char *class_name, const char *key, int pair[2])
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    pair[0] = pair[1] = 1;
    if (!v || cJSON_IsNumber(v)) {
        CK_TRY(ck_config_get_int(cfg, key, &pair[0], false));
        pair[1] = pair[0];
        return CK_OK;
    }
    const cJSON *a = cJSON_GetArrayItem(v, 0), *b = cJSON_GetArrayItem(v, 1);
    bool ok = cJSON_IsArray(v) && cJSON_GetArraySize(v) == 2 && cJSON_IsNumber(a) &&
              cJSON_IsNumber(b) && fabs(a->valuedouble) <= 1e9 && fabs(b->valuedouble) <= 1e9 &&
              a->valuedouble == (double)(int)a->valuedouble &&
              b->valuedouble == (double)(int)b->valuedouble;
    if (!ok)
        return ck_error(CK_ERR_FORMAT, "%s: '%s' must be an integer or a list of two", class_name,
                        key);
    pair[0] = (int)a->valuedouble;
    pair[1] = (int)b->valuedouble;
    return CK_OK;
}

static ck_layer *pair_from_config(const cJSON *cfg, const ck_layer_ops *ops, const char *key,
                                  const char *const *known)
{
    int pair[2];
    const char *name = NULL;
    if (ck_config_check_keys(cfg, ops->class_name, known) != CK_OK ||
        ck_config_check_channels_last(cfg, ops->class_name) != CK_OK ||
        get_pair(cfg, ops->class_name, key, pair) != CK_OK ||
        ck_config_get_string(cfg, "name", &name) != CK_OK)
        return NULL;
    return resize_make(ops, pair[0], pair[1], 1, name);
}

static ck_layer *pad_from_config(const cJSON *cfg, ck_keras_semantics semantics)
{
    static const char *const known[] = {"padding", "data_format", NULL};
    (void)semantics;
    return pair_from_config(cfg, &ck_zero_padding1d_layer_ops, "padding", known);
}

static ck_layer *crop_from_config(const cJSON *cfg, ck_keras_semantics semantics)
{
    static const char *const known[] = {"cropping", NULL};
    (void)semantics;
    return pair_from_config(cfg, &ck_cropping1d_layer_ops, "cropping", known);
}

static ck_layer *up_from_config(const cJSON *cfg, ck_keras_semantics semantics)
{
    static const char *const known[] = {"size", NULL};
    (void)semantics;
    ck_up_sampling1d_options o = {.size = 2};
    if (ck_config_check_keys(cfg, "UpSampling1D", known) != CK_OK ||
        ck_config_get_int(cfg, "size", &o.size, false) != CK_OK ||
        ck_config_get_string(cfg, "name", &o.name) != CK_OK)
        return NULL;
    if (o.size < 1) {
        ck_error(CK_ERR_FORMAT, "UpSampling1D: size must be positive, got %d", o.size);
        return NULL;
    }
    return ck_up_sampling1d_new(&o);
}

static void resize_destroy(ck_layer *l)
{
    free(l);
}

const ck_layer_ops ck_zero_padding1d_layer_ops = {
    .class_name = "ZeroPadding1D",
    .base_name = "zero_padding1d",
    .output_shape = resize_output_shape,
    .forward = resize_forward,
    .backward = resize_backward,
    .get_config = pad_get_config,
    .from_config = pad_from_config,
    .destroy = resize_destroy,
};

const ck_layer_ops ck_cropping1d_layer_ops = {
    .class_name = "Cropping1D",
    .base_name = "cropping1d",
    .output_shape = resize_output_shape,
    .forward = resize_forward,
    .backward = resize_backward,
    .get_config = crop_get_config,
    .from_config = crop_from_config,
    .destroy = resize_destroy,
};

const ck_layer_ops ck_up_sampling1d_layer_ops = {
    .class_name = "UpSampling1D",
    .base_name = "up_sampling1d",
    .output_shape = resize_output_shape,
    .forward = resize_forward,
    .backward = resize_backward,
    .get_config = up_get_config,
    .from_config = up_from_config,
    .destroy = resize_destroy,
};
