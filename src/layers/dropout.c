/* keras.layers.Dropout: identity at inference; in training, inverted
 * dropout with a fresh mask per call, drawn in the shape of noise_shape
 * (when given) and broadcast over the input. */
#include "ck_internal.h"
#include "layer_util.h"

#include <stdlib.h>
#include <string.h>

typedef struct dropout {
    ck_layer base;
    double rate;
    int64_t noise_shape[CK_MAX_RANK];
    int noise_rank;
    ck_buf draw; /* one value per position of the noise shape */
    ck_buf mask; /* the draw broadcast over the last input */
} dropout;

extern const ck_layer_ops ck_dropout_layer_ops;

static ck_status check_noise_shape(const ck_dropout_options *o);

ck_layer *ck_dropout_new(const ck_dropout_options *o)
{
    if (!o || !(o->rate >= 0 && o->rate < 1)) {
        ck_error(CK_ERR_ARGUMENT, "Dropout: rate must be in [0, 1)");
        return NULL;
    }
    if (check_noise_shape(o) != CK_OK)
        return NULL;
    dropout *d = ck_alloc(1, sizeof *d);
    if (!d)
        return NULL;
    if (ck_layer_init(&d->base, &ck_dropout_layer_ops, o->name) != CK_OK) {
        free(d);
        return NULL;
    }
    d->rate = o->rate;
    d->noise_rank = o->noise_rank;
    memcpy(d->noise_shape, o->noise_shape, sizeof d->noise_shape);
    return &d->base;
}

static ck_status check_noise_shape(const ck_dropout_options *o)
{
    if (o->noise_rank < 0 || o->noise_rank > CK_MAX_RANK)
        return ck_error(CK_ERR_ARGUMENT, "Dropout: noise_rank must be 0 to %d", CK_MAX_RANK);
    for (int i = 0; i < o->noise_rank; i++)
        if (o->noise_shape[i] != CK_NONE && o->noise_shape[i] < 1)
            return ck_error(CK_ERR_ARGUMENT,
                            "Dropout: noise_shape sizes must be positive or CK_NONE");
    return CK_OK;
}

static ck_status dropout_output_shape(const ck_layer *l, const ck_shape *in, ck_shape *out)
{
    const dropout *d = (const dropout *)l;
    if (d->noise_rank && d->noise_rank != in->rank)
        return ck_error(CK_ERR_SHAPE, "Dropout: noise_shape has %d axes, the input %d",
                        d->noise_rank, in->rank);
    for (int i = 0; i < d->noise_rank; i++)
        if (d->noise_shape[i] != CK_NONE && d->noise_shape[i] != 1 && in->dims[i] > 0 &&
            d->noise_shape[i] != in->dims[i])
            return ck_error(CK_ERR_SHAPE,
                            "Dropout: noise_shape axis %d is %lld, neither 1 nor the input's %lld",
                            i, (long long)d->noise_shape[i], (long long)in->dims[i]);
    *out = *in;
    return CK_OK;
}

/* Offset in the draw of value i of x: axes of size 1 in the noise shape
 * share one draw. */
static size_t draw_index(const dropout *d, const ck_tensor *x, size_t i)
{
    size_t at = 0, stride = 1;
    for (int a = x->rank - 1; a >= 0; a--) {
        size_t coord = i % (size_t)x->dims[a];
        i /= (size_t)x->dims[a];
        if (d->noise_shape[a] == 1)
            continue;
        at += coord * stride;
        stride *= (size_t)x->dims[a];
    }
    return at;
}

static ck_status fill_mask(dropout *d, const ck_tensor *x, ck_rng *rng)
{
    size_t n = ck_tensor_size(x), draws = 1;
    float keep = (float)(1.0 / (1.0 - d->rate));
    for (int a = 0; d->noise_rank && a < x->rank; a++)
        draws *= d->noise_shape[a] == 1 ? 1 : (size_t)x->dims[a];
    draws = d->noise_rank ? draws : n;
    CK_TRY(ck_buf_reserve(&d->mask, n));
    CK_TRY(ck_buf_reserve(&d->draw, draws));
    for (size_t i = 0; i < draws; i++)
        d->draw.data[i] = ck_rng_uniform(rng) >= d->rate ? keep : 0.0f;
    for (size_t i = 0; i < n; i++)
        d->mask.data[i] = d->draw.data[d->noise_rank ? draw_index(d, x, i) : i];
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
    cJSON *shape = d->noise_rank ? cJSON_CreateArray() : cJSON_CreateNull();
    for (int i = 0; shape && i < d->noise_rank; i++) {
        cJSON *v = d->noise_shape[i] == CK_NONE ? cJSON_CreateNull()
                                                : cJSON_CreateNumber((double)d->noise_shape[i]);
        if (!cJSON_AddItemToArray(shape, v)) {
            cJSON_Delete(v);
            cJSON_Delete(shape);
            shape = NULL;
        }
    }
    CK_TRY(ck_config_add(cfg, "noise_shape", shape));
    return ck_config_add_nulls(cfg, (const char *const[]){"seed", NULL});
}

/* [null, 1, 64]: null is "the input's size". */
static ck_status noise_shape_from_config(const cJSON *cfg, ck_dropout_options *o)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(cfg, "noise_shape"), *v;
    if (!list || cJSON_IsNull(list))
        return CK_OK;
    int n = cJSON_GetArraySize(list);
    if (!cJSON_IsArray(list) || n < 1 || n > CK_MAX_RANK)
        return ck_error(CK_ERR_FORMAT, "Dropout: noise_shape must be a list of 1 to %d sizes",
                        CK_MAX_RANK);
    cJSON_ArrayForEach(v, list)
    {
        bool size = cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble <= 1e9 &&
                    v->valuedouble == (double)(int64_t)v->valuedouble;
        if (!size && !cJSON_IsNull(v))
            return ck_error(CK_ERR_FORMAT,
                            "Dropout: noise_shape holds something other than sizes and null");
        o->noise_shape[o->noise_rank++] = size ? (int64_t)v->valuedouble : CK_NONE;
    }
    return CK_OK;
}

static ck_layer *dropout_from_config(const cJSON *cfg, ck_keras_semantics semantics)
{
    static const char *const known[] = {"rate", "seed", "noise_shape", NULL};
    (void)semantics;
    ck_dropout_options o = {0};
    if (ck_config_check_keys(cfg, "Dropout", known) != CK_OK ||
        ck_config_get_double(cfg, "rate", &o.rate) != CK_OK ||
        noise_shape_from_config(cfg, &o) != CK_OK ||
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
