/* keras.layers.ELU: x for x > 0, else alpha * (exp(x) - 1); the gradient
 * below 0 is y + alpha. */
#include "layer_util.h"

#include <math.h>
#include <stdlib.h>

typedef struct elu {
    ck_layer base;
    double alpha;
} elu;

extern const ck_layer_ops ck_elu_layer_ops;

static ck_layer *elu_checked(const char *name, double alpha)
{
    if (!(alpha > -1e30 && alpha < 1e30)) {
        ck_error(CK_ERR_ARGUMENT, "ELU: alpha must be a finite number");
        return NULL;
    }
    elu *e = ck_layer_alloc(sizeof *e, &ck_elu_layer_ops, name);
    if (e)
        e->alpha = alpha;
    return e ? &e->base : NULL;
}

ck_layer *ck_elu_new(const ck_elu_options *o)
{
    if (!o) {
        ck_error(CK_ERR_ARGUMENT, "ELU: options are NULL");
        return NULL;
    }
    return elu_checked(o->name, o->alpha != 0 ? o->alpha : 1.0);
}

static ck_status elu_output_shape(const ck_layer *l, const ck_shape *in, ck_shape *out)
{
    return ck_shape_same(l, in, out, 2, CK_MAX_RANK);
}

static ck_status elu_forward(ck_layer *l, const ck_tensor *x, ck_tensor *y, const ck_run_ctx *ctx)
{
    double alpha = ((const elu *)l)->alpha;
    size_t n = ck_tensor_size(x);
    (void)ctx;
    for (size_t i = 0; i < n; i++) {
        float v = x->data[i];
        y->data[i] = v > 0 ? v : (float)(alpha * expm1((double)v));
    }
    return CK_OK;
}

static ck_status elu_backward(ck_layer *l, const ck_tensor *x, const ck_tensor *y,
                              const ck_tensor *dy, ck_tensor *dx)
{
    double alpha = ((const elu *)l)->alpha;
    size_t n = ck_tensor_size(x);
    for (size_t i = 0; dx && i < n; i++)
        dx->data[i] = x->data[i] > 0 ? dy->data[i] : (float)(dy->data[i] * (y->data[i] + alpha));
    return CK_OK;
}

/* Keras 3's ELU writes no alpha (its get_config lacks it) but reads one:
 * the default is written as Keras 3 writes it, any other alpha so that
 * Keras 3 still loads it. */
static ck_status elu_get_config(const ck_layer *l, cJSON *cfg)
{
    double alpha = ((const elu *)l)->alpha;
    if (ck_layer_semantics(l) == CK_KERAS3 && alpha == 1.0)
        return CK_OK;
    return ck_config_add_number(cfg, "alpha", alpha);
}

static ck_layer *elu_from_config(const cJSON *cfg, ck_keras_semantics semantics)
{
    static const char *const known[] = {"alpha", NULL};
    const char *name = NULL;
    double alpha = 1.0;
    (void)semantics;
    if (ck_config_check_keys(cfg, "ELU", known) != CK_OK ||
        ck_config_get_double(cfg, "alpha", &alpha) != CK_OK ||
        ck_config_get_string(cfg, "name", &name) != CK_OK)
        return NULL;
    return elu_checked(name, alpha);
}

static void elu_destroy(ck_layer *l)
{
    free(l);
}

const ck_layer_ops ck_elu_layer_ops = {
    .class_name = "ELU",
    .base_name = "elu",
    .output_shape = elu_output_shape,
    .forward = elu_forward,
    .backward = elu_backward,
    .compute_mask = ck_mask_pass,
    .get_config = elu_get_config,
    .from_config = elu_from_config,
    .destroy = elu_destroy,
};
