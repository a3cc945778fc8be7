/* keras.layers.Masking: a step (one row of the last axis) is kept when any
 * of its features differs from mask_value. Kept rows pass through, masked
 * rows become zeros, and the output carries the mask of kept rows so the
 * layers after it (recurrent layers, the loss) skip the masked steps. */
#include "ck_internal.h"
#include "layer_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct masking {
    ck_layer base;
    double mask_value;
    ck_buf keep; /* (rows) of the last forward: the output mask, and for backward */
} masking;

extern const ck_layer_ops ck_masking_layer_ops;

ck_layer *ck_masking_new(const ck_masking_options *o)
{
    if (!o) {
        ck_error(CK_ERR_ARGUMENT, "Masking: options are NULL");
        return NULL;
    }
    if (!isfinite(o->mask_value)) {
        ck_error(CK_ERR_ARGUMENT, "Masking: mask_value must be finite");
        return NULL;
    }
    masking *s = ck_layer_alloc(sizeof *s, &ck_masking_layer_ops, o->name);
    if (!s)
        return NULL;
    s->mask_value = o->mask_value;
    return &s->base;
}

static ck_status masking_output_shape(const ck_layer *l, const ck_shape *in, ck_shape *out)
{
    return ck_shape_same(l, in, out, 2, CK_MAX_RANK);
}

/* keep[r] = 1 when row r of x has a feature other than mask_value.
 * Compared in float, as Keras compares the float32 input. */
static ck_status fill_keep(const masking *s, const ck_tensor *x, ck_buf *keep)
{
    size_t F = (size_t)x->dims[x->rank - 1], rows = ck_tensor_size(x) / F;
    float v = (float)s->mask_value;
    CK_TRY(ck_buf_reserve(keep, rows));
    for (size_t r = 0; r < rows; r++) {
        const float *row = x->data + r * F;
        size_t j = 0;
        while (j < F && row[j] == v)
            j++;
        keep->data[r] = j < F ? 1.0f : 0.0f;
    }
    return CK_OK;
}

/* out = in with the masked rows zeroed (forward and backward alike). */
static void apply_keep(const float *keep, const float *in, float *out, size_t rows, size_t F)
{
    for (size_t r = 0; r < rows; r++) {
        if (keep[r] != 0.0f)
            memcpy(out + r * F, in + r * F, F * sizeof(float));
        else
            memset(out + r * F, 0, F * sizeof(float));
    }
}

static ck_status masking_forward(ck_layer *l, const ck_tensor *x, ck_tensor *y,
                                 const ck_run_ctx *ctx)
{
    (void)ctx;
    masking *s = (masking *)l;
    size_t F = (size_t)x->dims[x->rank - 1];
    CK_TRY(fill_keep(s, x, &s->keep));
    apply_keep(s->keep.data, x->data, y->data, ck_tensor_size(x) / F, F);
    return CK_OK;
}

static ck_status masking_backward(ck_layer *l, const ck_tensor *x, const ck_tensor *y,
                                  const ck_tensor *dy, ck_tensor *dx)
{
    (void)y;
    masking *s = (masking *)l;
    size_t F = (size_t)x->dims[x->rank - 1];
    if (dx)
        apply_keep(s->keep.data, dy->data, dx->data, ck_tensor_size(x) / F, F);
    return CK_OK;
}

/* Keras replaces any incoming mask with its own. The model calls this
 * right after forward on the same x, so the rows forward kept are the mask;
 * they stay valid until the next forward, as the mask must. */
static ck_status masking_compute_mask(ck_layer *l, const ck_tensor *x, const float *in_mask,
                                      ck_buf *buf, const float **out)
{
    (void)x, (void)in_mask, (void)buf;
    *out = ((const masking *)l)->keep.data;
    return CK_OK;
}

static ck_status masking_get_config(const ck_layer *l, cJSON *cfg)
{
    return ck_config_add_number(cfg, "mask_value", ((const masking *)l)->mask_value);
}

static ck_layer *masking_from_config(const cJSON *cfg, ck_keras_semantics semantics)
{
    static const char *const known[] = {"mask_value", NULL};
    (void)semantics;
    ck_masking_options o = {0};
    if (ck_config_check_keys(cfg, "Masking", known) != CK_OK ||
        ck_config_get_double(cfg, "mask_value", &o.mask_value) != CK_OK ||
        ck_config_get_string(cfg, "name", &o.name) != CK_OK)
        return NULL;
    return ck_masking_new(&o);
}

static void masking_destroy(ck_layer *l)
{
    ck_buf_free(&((masking *)l)->keep);
    free(l);
}

const ck_layer_ops ck_masking_layer_ops = {
    .class_name = "Masking",
    .base_name = "masking",
    .output_shape = masking_output_shape,
    .forward = masking_forward,
    .backward = masking_backward,
    .compute_mask = masking_compute_mask,
    .get_config = masking_get_config,
    .from_config = masking_from_config,
    .destroy = masking_destroy,
};
