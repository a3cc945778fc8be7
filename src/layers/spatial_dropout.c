/* keras.layers.SpatialDropout1D: in training, one inverted-dropout draw per
 * (sample, channel), shared by every step; identity at inference. */
#include "layer_util.h"

#include <stdlib.h>
#include <string.h>

typedef struct spatial_dropout {
    ck_layer base;
    double rate;
    bool masked; /* the last forward applied `mask` */
    ck_buf mask; /* (batch, channels): 0 or 1/(1-rate) */
} spatial_dropout;

extern const ck_layer_ops ck_spatial_dropout1d_layer_ops;

ck_layer *ck_spatial_dropout1d_new(const ck_spatial_dropout1d_options *o)
{
    if (!o || !(o->rate >= 0 && o->rate < 1)) {
        ck_error(CK_ERR_ARGUMENT, "SpatialDropout1D: rate must be in [0, 1)");
        return NULL;
    }
    spatial_dropout *d = ck_layer_alloc(sizeof *d, &ck_spatial_dropout1d_layer_ops, o->name);
    if (d)
        d->rate = o->rate;
    return d ? &d->base : NULL;
}

static ck_status sdrop_output_shape(const ck_layer *l, const ck_shape *in, ck_shape *out)
{
    return ck_shape_same(l, in, out, 3, 3);
}

/* y = x * mask[b, c] over (B, T, C), or a copy when mask is NULL. */
static void apply_mask(const ck_tensor *x, const float *mask, const float *src, float *dst)
{
    size_t T = (size_t)x->dims[1], C = (size_t)x->dims[2];
    for (size_t b = 0; b < (size_t)x->dims[0]; b++)
        for (size_t t = 0; t < T; t++)
            for (size_t c = 0; c < C; c++) {
                size_t i = (b * T + t) * C + c;
                dst[i] = mask ? src[i] * mask[b * C + c] : src[i];
            }
}

static ck_status sdrop_forward(ck_layer *l, const ck_tensor *x, ck_tensor *y, const ck_run_ctx *ctx)
{
    spatial_dropout *d = (spatial_dropout *)l;
    d->masked = ctx->training && d->rate > 0;
    if (d->masked) {
        size_t n = (size_t)x->dims[0] * (size_t)x->dims[2];
        CK_TRY(ck_buf_reserve(&d->mask, n));
        float keep = (float)(1.0 / (1.0 - d->rate));
        for (size_t i = 0; i < n; i++)
            d->mask.data[i] = ck_rng_uniform(ctx->rng) >= d->rate ? keep : 0.0f;
    }
    apply_mask(x, d->masked ? d->mask.data : NULL, x->data, y->data);
    return CK_OK;
}

static ck_status sdrop_backward(ck_layer *l, const ck_tensor *x, const ck_tensor *y,
                                const ck_tensor *dy, ck_tensor *dx)
{
    spatial_dropout *d = (spatial_dropout *)l;
    (void)y;
    if (dx)
        apply_mask(x, d->masked ? d->mask.data : NULL, dy->data, dx->data);
    return CK_OK;
}

static ck_status sdrop_get_config(const ck_layer *l, cJSON *cfg)
{
    /* No noise_shape: Keras 3's SpatialDropout1D does not accept it. */
    static const char *const nulls[] = {"seed", NULL};
    CK_TRY(ck_config_add_number(cfg, "rate", ((const spatial_dropout *)l)->rate));
    return ck_config_add_nulls(cfg, nulls);
}

static ck_layer *sdrop_from_config(const cJSON *cfg, ck_keras_semantics semantics)
{
    static const char *const known[] = {"rate", "seed", NULL};
    (void)semantics;
    ck_spatial_dropout1d_options o = {0};
    if (ck_config_check_keys(cfg, "SpatialDropout1D", known) != CK_OK ||
        ck_config_get_double(cfg, "rate", &o.rate) != CK_OK ||
        ck_config_get_string(cfg, "name", &o.name) != CK_OK)
        return NULL;
    return ck_spatial_dropout1d_new(&o);
}

static void sdrop_destroy(ck_layer *l)
{
    ck_buf_free(&((spatial_dropout *)l)->mask);
    free(l);
}

const ck_layer_ops ck_spatial_dropout1d_layer_ops = {
    .class_name = "SpatialDropout1D",
    .base_name = "spatial_dropout1d",
    .output_shape = sdrop_output_shape,
    .forward = sdrop_forward,
    .backward = sdrop_backward,
    .compute_mask = ck_mask_pass,
    .get_config = sdrop_get_config,
    .from_config = sdrop_from_config,
    .destroy = sdrop_destroy,
};
