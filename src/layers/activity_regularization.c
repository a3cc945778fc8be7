/* keras.layers.ActivityRegularization: an identity whose output carries
 * the activity penalty L1L2(l1, l2), added to the training loss by the
 * model's penalty code (src/core/penalties.c) like any layer's
 * activity_regularizer. Keras writes only l1 and l2 (Keras 3 pops the
 * activity_regularizer of its base config), so the layer owns its rule. */
#include "layer_util.h"

#include <stdlib.h>
#include <string.h>

typedef struct activity_regularization {
    ck_layer base;
    double l1, l2;
} activity_regularization;

extern const ck_layer_ops ck_activity_regularization_layer_ops;

ck_layer *ck_activity_regularization_new(const ck_activity_regularization_options *o)
{
    ck_reg reg;
    if (!o || ck_reg_from_options(&(ck_regularizer){"l1_l2", o->l1, o->l2}, &reg) != CK_OK) {
        ck_error(CK_ERR_ARGUMENT, "ActivityRegularization: l1 and l2 must be finite and >= 0");
        return NULL;
    }
    activity_regularization *a = ck_layer_alloc(sizeof *a, &ck_activity_regularization_layer_ops,
                                                o->name);
    if (!a)
        return NULL;
    a->l1 = o->l1;
    a->l2 = o->l2;
    a->base.activity = reg;
    a->base.activity_own = true;
    return &a->base;
}

static ck_status areg_output_shape(const ck_layer *l, const ck_shape *in, ck_shape *out)
{
    (void)l;
    *out = *in;
    return CK_OK;
}

static ck_status areg_forward(ck_layer *l, const ck_tensor *x, ck_tensor *y, const ck_run_ctx *ctx)
{
    (void)l, (void)ctx;
    memcpy(y->data, x->data, ck_tensor_size(x) * sizeof(float));
    return CK_OK;
}

/* The penalty's gradient is added to dy before this backward runs. */
static ck_status areg_backward(ck_layer *l, const ck_tensor *x, const ck_tensor *y,
                               const ck_tensor *dy, ck_tensor *dx)
{
    (void)l, (void)y;
    if (dx)
        memcpy(dx->data, dy->data, ck_tensor_size(x) * sizeof(float));
    return CK_OK;
}

static ck_status areg_get_config(const ck_layer *l, cJSON *cfg)
{
    const activity_regularization *a = (const activity_regularization *)l;
    CK_TRY(ck_config_add_number(cfg, "l1", a->l1));
    return ck_config_add_number(cfg, "l2", a->l2);
}

static ck_layer *areg_from_config(const cJSON *cfg, ck_keras_semantics semantics)
{
    static const char *const known[] = {"l1", "l2", NULL};
    (void)semantics;
    ck_activity_regularization_options o = {0};
    if (ck_config_check_keys(cfg, "ActivityRegularization", known) != CK_OK ||
        ck_config_get_double(cfg, "l1", &o.l1) != CK_OK ||
        ck_config_get_double(cfg, "l2", &o.l2) != CK_OK ||
        ck_config_get_string(cfg, "name", &o.name) != CK_OK)
        return NULL;
    return ck_activity_regularization_new(&o);
}

static void areg_destroy(ck_layer *l)
{
    free(l);
}

const ck_layer_ops ck_activity_regularization_layer_ops = {
    .class_name = "ActivityRegularization",
    .base_name = "activity_regularization",
    .output_shape = areg_output_shape,
    .forward = areg_forward,
    .backward = areg_backward,
    .compute_mask = ck_mask_pass,
    .get_config = areg_get_config,
    .from_config = areg_from_config,
    .destroy = areg_destroy,
};
