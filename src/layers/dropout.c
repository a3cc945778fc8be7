/* keras.layers.Dropout: identity at inference; in training, inverted
 * dropout with a fresh mask per call, drawn in the shape of noise_shape
 * (when given) and broadcast over the input. */
#include "layer_util.h"

#include <stdlib.h>
#include <string.h>

typedef struct dropout {
    ck_layer base;
    double rate;
    ck_noise_shape noise;
    ck_buf draw; /* one value per position of the noise shape */
    ck_buf mask; /* the draw broadcast over the last input */
} dropout;

extern const ck_layer_ops ck_dropout_layer_ops;

ck_layer *ck_dropout_new(const ck_dropout_options *o)
{
    if (!o || !(o->rate >= 0 && o->rate < 1)) {
        ck_error(CK_ERR_ARGUMENT, "Dropout: rate must be in [0, 1)");
        return NULL;
    }
    ck_noise_shape noise;
    if (ck_noise_shape_set("Dropout", o->noise_shape, o->noise_rank, &noise) != CK_OK)
        return NULL;
    dropout *d = ck_layer_alloc(sizeof *d, &ck_dropout_layer_ops, o->name);
    if (!d)
        return NULL;
    d->rate = o->rate;
    d->noise = noise;
    return &d->base;
}

static ck_status dropout_output_shape(const ck_layer *l, const ck_shape *in, ck_shape *out)
{
    CK_TRY(ck_noise_shape_fits("Dropout", &((const dropout *)l)->noise, in));
    *out = *in;
    return CK_OK;
}

static ck_status fill_mask(dropout *d, const ck_tensor *x, ck_rng *rng)
{
    size_t n = ck_tensor_size(x), draws = ck_noise_shape_draws(&d->noise, x);
    float keep = (float)(1.0 / (1.0 - d->rate));
    CK_TRY(ck_buf_reserve(&d->mask, n));
    CK_TRY(ck_buf_reserve(&d->draw, draws));
    for (size_t i = 0; i < draws; i++)
        d->draw.data[i] = ck_rng_uniform(rng) >= d->rate ? keep : 0.0f;
    for (size_t i = 0; i < n; i++)
        d->mask.data[i] = d->draw.data[ck_noise_shape_index(&d->noise, x, i)];
    return CK_OK;
}

static ck_status dropout_forward(ck_layer *l, const ck_tensor *x, ck_tensor *y,
                                 const ck_run_ctx *ctx)
{
    dropout *d = (dropout *)l;
    size_t n = ck_tensor_size(x);
    if (!ctx->training || d->rate == 0) {
        memcpy(y->data, x->data, n * sizeof(float));
        return CK_OK;
    }
    CK_TRY(fill_mask(d, x, ctx->rng));
    for (size_t i = 0; i < n; i++)
        y->data[i] = x->data[i] * d->mask.data[i];
    return CK_OK;
}

static ck_status dropout_backward(ck_layer *l, const ck_tensor *x, const ck_tensor *y,
                                  const ck_tensor *dy, ck_tensor *dx)
{
    dropout *d = (dropout *)l;
    (void)y;
    if (!dx)
        return CK_OK;
    size_t n = ck_tensor_size(x);
    for (size_t i = 0; i < n; i++)
        dx->data[i] = d->rate == 0 ? dy->data[i] : dy->data[i] * d->mask.data[i];
    return CK_OK;
}

static ck_status dropout_get_config(const ck_layer *l, cJSON *cfg)
{
    const dropout *d = (const dropout *)l;
    CK_TRY(ck_config_add_number(cfg, "rate", d->rate));
    CK_TRY(ck_noise_shape_add(&d->noise, cfg));
    return ck_config_add_nulls(cfg, (const char *const[]){"seed", NULL});
}

static ck_layer *dropout_from_config(const cJSON *cfg, ck_keras_semantics semantics)
{
    static const char *const known[] = {"rate", "seed", "noise_shape", NULL};
    (void)semantics;
    ck_dropout_options o = {0};
    if (ck_config_check_keys(cfg, "Dropout", known) != CK_OK ||
        ck_config_get_double(cfg, "rate", &o.rate) != CK_OK ||
        ck_noise_shape_from_config(cfg, "Dropout", o.noise_shape, &o.noise_rank) != CK_OK ||
        ck_config_get_string(cfg, "name", &o.name) != CK_OK)
        return NULL;
    return ck_dropout_new(&o);
}

static void dropout_destroy(ck_layer *l)
{
    ck_buf_free(&((dropout *)l)->mask);
    ck_buf_free(&((dropout *)l)->draw);
    free(l);
}

const ck_layer_ops ck_dropout_layer_ops = {
    .class_name = "Dropout",
    .base_name = "dropout",
    .output_shape = dropout_output_shape,
    .forward = dropout_forward,
    .backward = dropout_backward,
    .compute_mask = ck_mask_pass,
    .get_config = dropout_get_config,
    .from_config = dropout_from_config,
    .destroy = dropout_destroy,
};
