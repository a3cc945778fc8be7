/* keras.layers.AlphaDropout (every release the same): in training a value
 * is dropped with probability rate to SELU's saturation alpha' = -alpha *
 * scale, then y = a * x' + b with a = ((1 - rate)(1 + rate alpha'^2))^-1/2
 * and b = -a alpha' rate, which keep a unit-normal input's mean and
 * variance; identity at inference. */
#include "layer_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SELU_ALPHA 1.6732632423543772848170429916717
#define SELU_SCALE 1.0507009873554804934193349852946

typedef struct alpha_dropout {
    ck_layer base;
    double rate;
    ck_noise_shape noise;
    bool dropped; /* the last forward applied `kept` */
    ck_buf draw;  /* 1 (kept) or 0 per position of the noise shape */
    ck_buf kept;  /* the draw broadcast over the last input */
} alpha_dropout;

extern const ck_layer_ops ck_alpha_dropout_layer_ops;

ck_layer *ck_alpha_dropout_new(const ck_alpha_dropout_options *o)
{
    /* rate 1 divides by zero in Keras 3 and is an identity in Keras 2. */
    if (!o || !(o->rate >= 0 && o->rate < 1)) {
        ck_error(CK_ERR_ARGUMENT, "AlphaDropout: rate must be in [0, 1)");
        return NULL;
    }
    ck_noise_shape noise;
    if (ck_noise_shape_set("AlphaDropout", o->noise_shape, o->noise_rank, &noise) != CK_OK)
        return NULL;
    alpha_dropout *d = ck_layer_alloc(sizeof *d, &ck_alpha_dropout_layer_ops, o->name);
    if (!d)
        return NULL;
    d->rate = o->rate;
    d->noise = noise;
    return &d->base;
}

static ck_status adrop_output_shape(const ck_layer *l, const ck_shape *in, ck_shape *out)
{
    CK_TRY(ck_noise_shape_fits("AlphaDropout", &((const alpha_dropout *)l)->noise, in));
    return ck_shape_same(l, in, out, 2, CK_MAX_RANK);
}

/* The affine correction a (scale) of the kept and dropped values. */
static double affine_a(double rate)
{
    double alpha_p = -SELU_ALPHA * SELU_SCALE;
    return pow((1 - rate) * (1 + rate * alpha_p * alpha_p), -0.5);
}

static ck_status draw_kept(alpha_dropout *d, const ck_tensor *x, ck_rng *rng)
{
    size_t n = ck_tensor_size(x), draws = ck_noise_shape_draws(&d->noise, x);
    CK_TRY(ck_buf_reserve(&d->kept, n));
    CK_TRY(ck_buf_reserve(&d->draw, draws));
    for (size_t i = 0; i < draws; i++)
        d->draw.data[i] = ck_rng_uniform(rng) >= d->rate ? 1.0f : 0.0f;
    for (size_t i = 0; i < n; i++)
        d->kept.data[i] = d->draw.data[ck_noise_shape_index(&d->noise, x, i)];
    return CK_OK;
}

static ck_status adrop_forward(ck_layer *l, const ck_tensor *x, ck_tensor *y, const ck_run_ctx *ctx)
{
    alpha_dropout *d = (alpha_dropout *)l;
    size_t n = ck_tensor_size(x);
    d->dropped = ctx->training && d->rate > 0;
    if (!d->dropped) {
        memcpy(y->data, x->data, n * sizeof(float));
        return CK_OK;
    }
    CK_TRY(draw_kept(d, x, ctx->rng));
    double alpha_p = -SELU_ALPHA * SELU_SCALE, a = affine_a(d->rate);
    float fa = (float)a, fb = (float)(-a * alpha_p * d->rate), fp = (float)alpha_p;
    for (size_t i = 0; i < n; i++) {
        float k = d->kept.data[i];
        y->data[i] = fa * (x->data[i] * k + fp * (1 - k)) + fb;
    }
    return CK_OK;
}

static ck_status adrop_backward(ck_layer *l, const ck_tensor *x, const ck_tensor *y,
                                const ck_tensor *dy, ck_tensor *dx)
{
    const alpha_dropout *d = (const alpha_dropout *)l;
    (void)y;
    if (!dx)
        return CK_OK;
    float fa = (float)affine_a(d->rate);
    for (size_t i = 0, n = ck_tensor_size(x); i < n; i++)
        dx->data[i] = d->dropped ? dy->data[i] * fa * d->kept.data[i] : dy->data[i];
    return CK_OK;
}

static ck_status adrop_get_config(const ck_layer *l, cJSON *cfg)
{
    const alpha_dropout *d = (const alpha_dropout *)l;
    CK_TRY(ck_config_add_number(cfg, "rate", d->rate));
    CK_TRY(ck_config_add_nulls(cfg, (const char *const[]){"seed", NULL}));
    return ck_noise_shape_add(&d->noise, cfg);
}

static ck_layer *adrop_from_config(const cJSON *cfg, ck_keras_semantics semantics)
{
    static const char *const known[] = {"rate", "seed", "noise_shape", NULL};
    (void)semantics;
    ck_alpha_dropout_options o = {0};
    if (ck_config_check_keys(cfg, "AlphaDropout", known) != CK_OK ||
        ck_config_get_double(cfg, "rate", &o.rate) != CK_OK ||
        ck_noise_shape_from_config(cfg, "AlphaDropout", o.noise_shape, &o.noise_rank) != CK_OK ||
        ck_config_get_string(cfg, "name", &o.name) != CK_OK)
        return NULL;
    return ck_alpha_dropout_new(&o);
}

static void adrop_destroy(ck_layer *l)
{
    ck_buf_free(&((alpha_dropout *)l)->kept);
    ck_buf_free(&((alpha_dropout *)l)->draw);
    free(l);
}

const ck_layer_ops ck_alpha_dropout_layer_ops = {
    .class_name = "AlphaDropout",
    .base_name = "alpha_dropout",
    .output_shape = adrop_output_shape,
    .forward = adrop_forward,
    .backward = adrop_backward,
    .compute_mask = ck_mask_pass,
    .get_config = adrop_get_config,
    .from_config = adrop_from_config,
    .destroy = adrop_destroy,
};
