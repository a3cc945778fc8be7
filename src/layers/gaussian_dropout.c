/* keras.layers.GaussianDropout: in training y = x * n with n drawn from
 * N(1, rate / (1 - rate)) per value (the same formula in every release);
 * identity at inference. */
#include "layer_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct gaussian_dropout {
    ck_layer base;
    double rate;
    bool noisy;   /* the last forward multiplied by `noise` */
    ck_buf noise; /* the factors of the last training forward */
} gaussian_dropout;

extern const ck_layer_ops ck_gaussian_dropout_layer_ops;

ck_layer *ck_gaussian_dropout_new(const ck_gaussian_dropout_options *o)
{
    /* rate 1 divides by zero in Keras 3 and is an identity in Keras 2. */
    if (!o || !(o->rate >= 0 && o->rate < 1)) {
        ck_error(CK_ERR_ARGUMENT, "GaussianDropout: rate must be in [0, 1)");
        return NULL;
    }
    gaussian_dropout *g = ck_layer_alloc(sizeof *g, &ck_gaussian_dropout_layer_ops, o->name);
    if (g)
        g->rate = o->rate;
    return g ? &g->base : NULL;
}

static ck_status gdrop_output_shape(const ck_layer *l, const ck_shape *in, ck_shape *out)
{
    return ck_shape_same(l, in, out, 2, CK_MAX_RANK);
}

static ck_status gdrop_forward(ck_layer *l, const ck_tensor *x, ck_tensor *y, const ck_run_ctx *ctx)
{
    gaussian_dropout *g = (gaussian_dropout *)l;
    size_t n = ck_tensor_size(x);
    g->noisy = ctx->training && g->rate > 0;
    if (!g->noisy) {
        memcpy(y->data, x->data, n * sizeof(float));
        return CK_OK;
    }
    CK_TRY(ck_buf_reserve(&g->noise, n));
    double sd = sqrt(g->rate / (1.0 - g->rate));
    for (size_t i = 0; i < n; i++) {
        g->noise.data[i] = (float)(1.0 + sd * ck_rng_normal(ctx->rng));
        y->data[i] = x->data[i] * g->noise.data[i];
    }
    return CK_OK;
}

static ck_status gdrop_backward(ck_layer *l, const ck_tensor *x, const ck_tensor *y,
                                const ck_tensor *dy, ck_tensor *dx)
{
    const gaussian_dropout *g = (const gaussian_dropout *)l;
    (void)y;
    for (size_t i = 0, n = ck_tensor_size(x); dx && i < n; i++)
        dx->data[i] = g->noisy ? dy->data[i] * g->noise.data[i] : dy->data[i];
    return CK_OK;
}

static ck_status gdrop_get_config(const ck_layer *l, cJSON *cfg)
{
    /* No seed: tf.keras before 2.8 does not accept one. */
    return ck_config_add_number(cfg, "rate", ((const gaussian_dropout *)l)->rate);
}

static ck_layer *gdrop_from_config(const cJSON *cfg, ck_keras_semantics semantics)
{
    static const char *const known[] = {"rate", "seed", NULL};
    (void)semantics;
    ck_gaussian_dropout_options o = {0};
    if (ck_config_check_keys(cfg, "GaussianDropout", known) != CK_OK ||
        ck_config_get_double(cfg, "rate", &o.rate) != CK_OK ||
        ck_config_get_string(cfg, "name", &o.name) != CK_OK)
        return NULL;
    return ck_gaussian_dropout_new(&o);
}

static void gdrop_destroy(ck_layer *l)
{
    ck_buf_free(&((gaussian_dropout *)l)->noise);
    free(l);
}

const ck_layer_ops ck_gaussian_dropout_layer_ops = {
    .class_name = "GaussianDropout",
    .base_name = "gaussian_dropout",
    .output_shape = gdrop_output_shape,
    .forward = gdrop_forward,
    .backward = gdrop_backward,
    .compute_mask = ck_mask_pass,
    .get_config = gdrop_get_config,
    .from_config = gdrop_from_config,
    .destroy = gdrop_destroy,
};
