/* keras.layers.Activation and keras.layers.Softmax: weightless,
 * element-wise (softmax over the last axis). */
#include "ck_internal.h"
#include "layer_util.h"

#include <stdlib.h>

typedef struct activation {
    ck_layer base;
    ck_act act;
    int axis; /* Softmax: -1, or the last axis counted from the batch axis */
} activation;

extern const ck_layer_ops ck_activation_layer_ops;
extern const ck_layer_ops ck_softmax_layer_ops;

static ck_layer *new_activation(const ck_layer_ops *ops, ck_act act, const char *name)
{
    activation *a = ck_alloc(1, sizeof *a);
    if (!a)
        return NULL;
    if (ck_layer_init(&a->base, ops, name) != CK_OK) {
        free(a);
        return NULL;
    }
    a->act = act;
    a->axis = -1;
    return &a->base;
}

ck_layer *ck_activation_new(const ck_activation_options *o)
{
    ck_act act;
    if (!o || !o->activation) {
        ck_error(CK_ERR_ARGUMENT, "Activation: an activation name is required");
        return NULL;
    }
    if (ck_act_parse(o->activation, &act) != CK_OK)
        return NULL;
    return new_activation(&ck_activation_layer_ops, act, o->name);
}

ck_layer *ck_softmax_new(const ck_softmax_options *o)
{
    if (!o) {
        ck_error(CK_ERR_ARGUMENT, "Softmax: options are NULL");
        return NULL;
    }
    if (o->axis < -1) {
        ck_error(CK_ERR_UNSUPPORTED, "Softmax: only the last axis is supported, got %d", o->axis);
        return NULL;
    }
    ck_layer *l = new_activation(&ck_softmax_layer_ops, CK_ACT_SOFTMAX, o->name);
    if (l && o->axis > 0)
        ((activation *)l)->axis = o->axis;
    return l;
}

static ck_status act_output_shape(const ck_layer *l, const ck_shape *in, ck_shape *out)
{
    int axis = ((const activation *)l)->axis;
    if (in->rank < 2 || in->dims[in->rank - 1] <= 0)
        return ck_error(CK_ERR_SHAPE, "needs an input with a known last axis");
    /* Keras keeps the axis as given: a positive one may name the last. */
    if (axis != -1 && axis != in->rank - 1)
        return ck_error(CK_ERR_UNSUPPORTED,
                        "Softmax: axis %d of a rank-%d input is not the last; only the last "
                        "axis is supported",
                        axis, in->rank);
    *out = *in;
    return CK_OK;
}

static ck_status act_forward(ck_layer *l, const ck_tensor *x, ck_tensor *y, const ck_run_ctx *ctx)
{
    activation *a = (activation *)l;
    size_t n = ck_tensor_size(x), last = (size_t)x->dims[x->rank - 1];
    ck_act act = ck_act_resolve(a->act, ck_layer_semantics(l));
    (void)ctx;
    ck_act_forward(act, x->data, y->data, n, last);
    l->logits = l->fused_loss_grad ? x->data : NULL;
    return CK_OK;
}

static ck_status act_backward(ck_layer *l, const ck_tensor *x, const ck_tensor *y,
                              const ck_tensor *dy, ck_tensor *dx)
{
    activation *a = (activation *)l;
    if (!dx)
        return CK_OK;
    size_t n = ck_tensor_size(x), last = (size_t)x->dims[x->rank - 1];
    ck_act act = l->fused_loss_grad ? CK_ACT_LINEAR : ck_act_resolve(a->act, ck_layer_semantics(l));
    ck_act_backward(act, x->data, y->data, dy->data, dx->data, n, last);
    return CK_OK;
}

static ck_status activation_get_config(const ck_layer *l, cJSON *cfg)
{
    return ck_config_add_string(cfg, "activation", ck_act_name(((const activation *)l)->act));
}

static ck_status softmax_get_config(const ck_layer *l, cJSON *cfg)
{
    (void)l;
    return ck_config_add_number(cfg, "axis", -1);
}

static ck_layer *activation_from_config(const cJSON *cfg, ck_keras_semantics semantics)
{
    static const char *const known[] = {"activation", NULL};
    (void)semantics;
    ck_activation_options o = {0};
    if (ck_config_check_keys(cfg, "Activation", known) != CK_OK ||
        ck_config_get_activation(cfg, "activation", &o.activation) != CK_OK ||
        ck_config_get_string(cfg, "name", &o.name) != CK_OK)
        return NULL;
    return ck_activation_new(&o);
}

static ck_layer *softmax_from_config(const cJSON *cfg, ck_keras_semantics semantics)
{
    /* tf_keras 2.21 robust_masking: masked entries get the dtype's lowest
     * value instead of -1e9, the same probabilities. */
    static const char *const known[] = {"axis", "robust_masking", NULL};
    (void)semantics;
    ck_softmax_options o = {.axis = -1};
    const cJSON *axis = cJSON_GetObjectItemCaseSensitive(cfg, "axis");
    /* Keras 3 may store the axis as a one-element list. */
    if (cJSON_IsArray(axis) && cJSON_GetArraySize(axis) == 1)
        axis = cJSON_GetArrayItem(axis, 0);
    if (ck_config_check_keys(cfg, "Softmax", known) != CK_OK ||
        ck_config_get_string(cfg, "name", &o.name) != CK_OK)
        return NULL;
    if (axis &&
        !(cJSON_IsNumber(axis) && axis->valuedouble == (int)axis->valuedouble &&
          (axis->valuedouble == -1 || (axis->valuedouble >= 1 && axis->valuedouble < 16)))) {
        ck_error(CK_ERR_UNSUPPORTED, "Softmax: only the last axis is supported");
        return NULL;
    }
    if (axis)
        o.axis = (int)axis->valuedouble;
    return ck_softmax_new(&o);
}

static ck_act act_output_activation(const ck_layer *l)
{
    return ((const activation *)l)->act;
}

static void act_destroy(ck_layer *l)
{
    free(l);
}

const ck_layer_ops ck_activation_layer_ops = {
    .class_name = "Activation",
    .base_name = "activation",
    .output_shape = act_output_shape,
    .forward = act_forward,
    .backward = act_backward,
    .compute_mask = ck_mask_pass,
    .get_config = activation_get_config,
    .from_config = activation_from_config,
    .output_activation = act_output_activation,
    .destroy = act_destroy,
};

const ck_layer_ops ck_softmax_layer_ops = {
    .class_name = "Softmax",
    .base_name = "softmax",
    .output_shape = act_output_shape,
    .forward = act_forward,
    .backward = act_backward,
    .compute_mask = ck_mask_pass,
    .get_config = softmax_get_config,
    .from_config = softmax_from_config,
    .output_activation = act_output_activation,
    .destroy = act_destroy,
};
