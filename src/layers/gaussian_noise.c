/* keras.layers.GaussianNoise: y = x + N(0, stddev^2) in training, identity
 * at inference. The noise is additive, so dx = dy either way. */
#include "layer_util.h"

#include <stdlib.h>
#include <string.h>

typedef struct gaussian_noise {
    ck_layer base;
    double stddev;
} gaussian_noise;

extern const ck_layer_ops ck_gaussian_noise_layer_ops;

ck_layer *ck_gaussian_noise_new(const ck_gaussian_noise_options *o)
{
    if (!o || !(o->stddev >= 0 && o->stddev < 1e30)) {
        ck_error(CK_ERR_ARGUMENT, "GaussianNoise: stddev must be a finite number >= 0");
        return NULL;
    }
    gaussian_noise *g = ck_layer_alloc(sizeof *g, &ck_gaussian_noise_layer_ops, o->name);
    if (g)
        g->stddev = o->stddev;
    return g ? &g->base : NULL;
}

static ck_status noise_output_shape(const ck_layer *l, const ck_shape *in, ck_shape *out)
{
    return ck_shape_same(l, in, out, 2, CK_MAX_RANK);
}

static ck_status noise_forward(ck_layer *l, const ck_tensor *x, ck_tensor *y, const ck_run_ctx *ctx)
{
    double sd = ((gaussian_noise *)l)->stddev;
    size_t n = ck_tensor_size(x);
    bool noisy = ctx->training && sd > 0;
    for (size_t i = 0; i < n; i++)
        y->data[i] = noisy ? x->data[i] + (float)(sd * ck_rng_normal(ctx->rng)) : x->data[i];
    return CK_OK;
}

static ck_status noise_backward(ck_layer *l, const ck_tensor *x, const ck_tensor *y,
                                const ck_tensor *dy, ck_tensor *dx)
{
    (void)l, (void)y;
    if (dx)
        memcpy(dx->data, dy->data, ck_tensor_size(x) * sizeof(float));
    return CK_OK;
}

static ck_status noise_get_config(const ck_layer *l, cJSON *cfg)
{
    /* No seed: older tf.keras releases do not accept one. */
    double stddev = ((const gaussian_noise *)l)->stddev;
    return ck_config_add_number(cfg, "stddev", stddev);
}

static ck_layer *noise_from_config(const cJSON *cfg, ck_keras_semantics semantics)
{
    static const char *const known[] = {"stddev", "seed", NULL};
    (void)semantics;
    ck_gaussian_noise_options o = {0};
    if (ck_config_check_keys(cfg, "GaussianNoise", known) != CK_OK ||
        ck_config_get_double(cfg, "stddev", &o.stddev) != CK_OK ||
        ck_config_get_string(cfg, "name", &o.name) != CK_OK)
        return NULL;
    return ck_gaussian_noise_new(&o);
}

static void noise_destroy(ck_layer *l)
{
    free(l);
}

const ck_layer_ops ck_gaussian_noise_layer_ops = {
    .class_name = "GaussianNoise",
    .base_name = "gaussian_noise",
    .output_shape = noise_output_shape,
    .forward = noise_forward,
    .backward = noise_backward,
    .compute_mask = ck_mask_pass,
    .get_config = noise_get_config,
    .from_config = noise_from_config,
    .destroy = noise_destroy,
};
