/* keras.layers.Dense: y = act(x W + b) on the last axis; any leading axes
 * (batch, time) are folded into one GEMM. */
#include "layer_util.h"

#include <stdlib.h>

typedef struct dense {
    ck_layer base;
    ck_affine aff;
} dense;

extern const ck_layer_ops ck_dense_layer_ops;

ck_layer *ck_dense_new(const ck_dense_options *o)
{
    if (!o) {
        ck_error(CK_ERR_ARGUMENT, "Dense: options are NULL");
        return NULL;
    }
    if (o->units <= 0) {
        ck_error(CK_ERR_ARGUMENT, "Dense: units must be positive, got %d", o->units);
        return NULL;
    }
    ck_affine aff = {0};
    if (ck_affine_setup(&aff, o->units, o->activation, o->no_bias, &o->kernel_initializer,
                        &o->bias_initializer) != CK_OK)
        return NULL;
    dense *d = ck_layer_alloc(sizeof *d, &ck_dense_layer_ops, o->name);
    if (!d)
        return NULL;
    d->aff = aff;
    return &d->base;
}

static ck_status dense_output_shape(const ck_layer *l, const ck_shape *in, ck_shape *out)
{
    const dense *d = (const dense *)l;
    if (in->rank < 2 || in->dims[in->rank - 1] <= 0)
        return ck_error(CK_ERR_SHAPE, "Dense needs an input of rank >= 2 with a known last axis");
    *out = *in;
    out->dims[in->rank - 1] = d->aff.units;
    return CK_OK;
}

static ck_status dense_build(ck_layer *l)
{
    dense *d = (dense *)l;
    int64_t kdims[2] = {l->in_shape.dims[l->in_shape.rank - 1], d->aff.units};
    return ck_affine_build(l, &d->aff, 2, kdims);
}

/* Rows and features of x: every axis but the last is folded into rows. */
static void rows_features(const ck_tensor *x, int *N, int *F)
{
    *F = (int)x->dims[x->rank - 1];
    *N = (int)(ck_tensor_size(x) / (size_t)*F);
}

static ck_status dense_forward(ck_layer *l, const ck_tensor *x, ck_tensor *y, const ck_run_ctx *ctx)
{
    int N, F;
    rows_features(x, &N, &F);
    return ck_affine_forward(l, &((dense *)l)->aff, x->data, N, F, y->data, ctx->training);
}

static ck_status dense_backward(ck_layer *l, const ck_tensor *x, const ck_tensor *y,
                                const ck_tensor *dy, ck_tensor *dx)
{
    int N, F;
    rows_features(x, &N, &F);
    return ck_affine_backward(l, &((dense *)l)->aff, x->data, N, F, y->data, dy->data,
                              dx ? dx->data : NULL);
}

static ck_status dense_get_config(const ck_layer *l, cJSON *cfg)
{
    const dense *d = (const dense *)l;
    CK_TRY(ck_config_add_number(cfg, "units", d->aff.units));
    return ck_affine_get_config(&d->aff, cfg);
}

static ck_layer *dense_from_config(const cJSON *cfg, ck_keras_semantics semantics)
{
    static const char *const known[] = {
        "units",     "activation",          "use_bias", "kernel_initializer", "bias_initializer",
        "lora_rank", "quantization_config", NULL};
    (void)semantics;
    ck_dense_options o = {0};
    if (ck_config_check_keys(cfg, "Dense", known) != CK_OK ||
        ck_config_get_int(cfg, "units", &o.units, true) != CK_OK ||
        ck_affine_from_config(cfg, "Dense", &o.activation, &o.no_bias, &o.kernel_initializer,
                              &o.bias_initializer) != CK_OK ||
        ck_config_get_string(cfg, "name", &o.name) != CK_OK)
        return NULL;
    return ck_dense_new(&o);
}

static ck_act dense_output_activation(const ck_layer *l)
{
    return ((const dense *)l)->aff.act;
}

static void dense_destroy(ck_layer *l)
{
    ck_affine_free(&((dense *)l)->aff);
    free(l);
}

const ck_layer_ops ck_dense_layer_ops = {
    .class_name = "Dense",
    .base_name = "dense",
    .output_shape = dense_output_shape,
    .build = dense_build,
    .forward = dense_forward,
    .backward = dense_backward,
    .compute_mask = ck_mask_pass,
    .get_config = dense_get_config,
    .from_config = dense_from_config,
    .output_activation = dense_output_activation,
    .destroy = dense_destroy,
};
