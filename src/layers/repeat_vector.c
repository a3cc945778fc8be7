/* keras.layers.RepeatVector: (batch, F) -> (batch, n, F). */
#include "layer_util.h"

#include <stdlib.h>
#include <string.h>

typedef struct repeat_vector {
    ck_layer base;
    int n;
} repeat_vector;

extern const ck_layer_ops ck_repeat_vector_layer_ops;

ck_layer *ck_repeat_vector_new(const ck_repeat_vector_options *o)
{
    if (!o || o->n <= 0) {
        ck_error(CK_ERR_ARGUMENT, "RepeatVector: n must be positive, got %d", o ? o->n : 0);
        return NULL;
    }
    repeat_vector *r = ck_layer_alloc(sizeof *r, &ck_repeat_vector_layer_ops, o->name);
    if (!r)
        return NULL;
    r->n = o->n;
    return &r->base;
}

static ck_status repeat_output_shape(const ck_layer *l, const ck_shape *in, ck_shape *out)
{
    if (in->rank != 2)
        return ck_error(CK_ERR_SHAPE,
                        "RepeatVector needs an input of rank 2 (batch, features), "
                        "got rank %d",
                        in->rank);
    *out = (ck_shape){.rank = 3, .dims = {in->dims[0], ((const repeat_vector *)l)->n, in->dims[1]}};
    return CK_OK;
}

static ck_status repeat_forward(ck_layer *l, const ck_tensor *x, ck_tensor *y,
                                const ck_run_ctx *ctx)
{
    (void)ctx;
    int n = ((repeat_vector *)l)->n;
    size_t F = (size_t)x->dims[1];
    for (int64_t b = 0; b < x->dims[0]; b++)
        for (int t = 0; t < n; t++)
            memcpy(y->data + ((size_t)b * (size_t)n + (size_t)t) * F, x->data + (size_t)b * F,
                   F * sizeof(float));
    return CK_OK;
}

static ck_status repeat_backward(ck_layer *l, const ck_tensor *x, const ck_tensor *y,
                                 const ck_tensor *dy, ck_tensor *dx)
{
    (void)y;
    if (!dx)
        return CK_OK;
    int n = ((repeat_vector *)l)->n;
    size_t F = (size_t)x->dims[1];
    memset(dx->data, 0, ck_tensor_size(x) * sizeof(float));
    for (int64_t b = 0; b < x->dims[0]; b++)
        for (int t = 0; t < n; t++)
            for (size_t f = 0; f < F; f++)
                dx->data[(size_t)b * F + f] +=
                    dy->data[((size_t)b * (size_t)n + (size_t)t) * F + f];
    return CK_OK;
}

static ck_status repeat_get_config(const ck_layer *l, cJSON *cfg)
{
    return ck_config_add_number(cfg, "n", ((const repeat_vector *)l)->n);
}

static ck_layer *repeat_from_config(const cJSON *cfg, ck_keras_semantics semantics)
{
    static const char *const known[] = {"n", NULL};
    (void)semantics;
    ck_repeat_vector_options o = {0};
    if (ck_config_check_keys(cfg, "RepeatVector", known) != CK_OK ||
        ck_config_get_int(cfg, "n", &o.n, true) != CK_OK ||
        ck_config_get_string(cfg, "name", &o.name) != CK_OK)
        return NULL;
    return ck_repeat_vector_new(&o);
}

static void repeat_destroy(ck_layer *l)
{
    free(l);
}

const ck_layer_ops ck_repeat_vector_layer_ops = {
    .class_name = "RepeatVector",
    .base_name = "repeat_vector",
    .output_shape = repeat_output_shape,
    .forward = repeat_forward,
    .backward = repeat_backward,
    .get_config = repeat_get_config,
    .from_config = repeat_from_config,
    .destroy = repeat_destroy,
};
