/* keras.layers.TimeDistributed: runs the wrapped layer on the (batch*steps,
 * ...) view of a (batch, steps, ...) input, so any layer works unchanged.
 * The wrapper lists the inner layer's weights as its own (Keras 2 names
 * them "time_distributed/kernel:0"); both point into the model's arrays. */
#include "layer_util.h"
#include "ck_layers.h"

#include <stdlib.h>
#include <string.h>

typedef struct time_distributed {
    ck_layer base;
    ck_layer *inner;
} time_distributed;

extern const ck_layer_ops ck_time_distributed_layer_ops;

ck_layer *ck_time_distributed_new(const ck_time_distributed_options *o)
{
    ck_layer *inner = o ? o->layer : NULL;
    if (!inner) {
        if (ck_error_status() == CK_OK)
            ck_error(CK_ERR_ARGUMENT, "TimeDistributed: the wrapped layer is NULL");
        return NULL;
    }
    if (inner->model) { /* owned by a model: not ours to free */
        ck_error(CK_ERR_STATE, "TimeDistributed: layer %s already belongs to a model", inner->name);
        return NULL;
    }
    if (strcmp(inner->ops->class_name, "InputLayer") == 0) {
        ck_layer_free(inner);
        ck_error(CK_ERR_ARGUMENT, "TimeDistributed cannot wrap an InputLayer");
        return NULL;
    }
    time_distributed *td = ck_layer_alloc(sizeof *td, &ck_time_distributed_layer_ops, o->name);
    if (!td) {
        ck_layer_free(inner);
        return NULL;
    }
    td->inner = inner;
    td->base.nested_activity = inner->activity.kind != CK_REG_NONE;
    return &td->base;
}

/* (batch, steps, rest...) -> (batch*steps, rest...); open axes stay open. */
static void fold(const ck_shape *in, ck_shape *folded)
{
    folded->rank = in->rank - 1;
    memcpy(folded->dims + 1, in->dims + 2, sizeof(int64_t) * (size_t)(in->rank - 2));
    folded->dims[0] = in->dims[0] > 0 && in->dims[1] > 0 ? in->dims[0] * in->dims[1] : CK_NONE;
}

static ck_status td_output_shape(const ck_layer *l, const ck_shape *in, ck_shape *out)
{
    const time_distributed *td = (const time_distributed *)l;
    ck_shape folded, inner_out;
    if (in->rank < 3)
        return ck_error(CK_ERR_SHAPE,
                        "TimeDistributed needs an input of rank 3 or more (batch, "
                        "steps, ...), got rank %d",
                        in->rank);
    fold(in, &folded);
    CK_TRY(td->inner->ops->output_shape(td->inner, &folded, &inner_out));
    if (inner_out.rank + 1 > CK_MAX_RANK)
        return ck_error(CK_ERR_SHAPE, "TimeDistributed: the output would exceed rank %d",
                        CK_MAX_RANK);
    out->rank = inner_out.rank + 1;
    out->dims[0] = in->dims[0];
    out->dims[1] = in->dims[1];
    memcpy(out->dims + 2, inner_out.dims + 1, sizeof(int64_t) * (size_t)(inner_out.rank - 1));
    return CK_OK;
}

static ck_status td_build(ck_layer *l)
{
    ck_layer *inner = ((time_distributed *)l)->inner;
    ck_shape folded;
    fold(&l->in_shape, &folded);
    folded.dims[0] = CK_NONE;
    inner->model = l->model;
    inner->in_shape = folded;
    inner->n_weights = 0;
    if (!inner->name[0])
        ck_model_unique_name(l->model, inner->ops->base_name, inner->name, sizeof inner->name);
    CK_TRY(inner->ops->output_shape(inner, &folded, &inner->out_shape));
    if (inner->ops->build)
        CK_TRY(inner->ops->build(inner));
    inner->built = true;
    for (int k = 0; k < inner->n_weights; k++) {
        const ck_weight *iw = &inner->weights[k];
        ck_weight *w = ck_layer_add_weight(l, iw->name, iw->rank, iw->dims, &iw->init,
                                           iw->trainable);
        if (!w)
            return ck_error_status();
        w->rule = iw->rule;
        snprintf(w->k2_scope, sizeof w->k2_scope, "%s", iw->k2_scope);
        /* Keras 3 saves the wrapped layer under the attribute "layer". */
        if (snprintf(w->k3_scope, sizeof w->k3_scope, "layer%s%s", iw->k3_scope[0] ? "/" : "",
                     iw->k3_scope) >= (int)sizeof w->k3_scope)
            return ck_error(CK_ERR_STATE, "TimeDistributed: weight scope of %s is too long",
                            inner->name);
    }
    return CK_OK;
}

/* The model placed the wrapper's weights; the inner layer reads the same memory. */
static ck_layer *synced_inner(ck_layer *l)
{
    ck_layer *inner = ((time_distributed *)l)->inner;
    for (int k = 0; k < inner->n_weights; k++) {
        inner->weights[k].data = l->weights[k].data;
        inner->weights[k].grad = l->weights[k].grad;
    }
    return inner;
}

static void td_after_init(ck_layer *l)
{
    ck_layer *inner = synced_inner(l);
    if (inner->ops->after_init)
        inner->ops->after_init(inner);
}

static ck_tensor folded_view(const ck_tensor *t)
{
    ck_tensor v = {.rank = t->rank - 1, .data = t->data};
    memcpy(v.dims + 1, t->dims + 2, sizeof(int64_t) * (size_t)(t->rank - 2));
    v.dims[0] = t->dims[0] * t->dims[1];
    return v;
}

static ck_status td_forward(ck_layer *l, const ck_tensor *x, ck_tensor *y, const ck_run_ctx *ctx)
{
    ck_layer *inner = synced_inner(l);
    ck_tensor xv = folded_view(x), yv = folded_view(y);
    return inner->ops->forward(inner, &xv, &yv, ctx);
}

static ck_status td_backward(ck_layer *l, const ck_tensor *x, const ck_tensor *y,
                             const ck_tensor *dy, ck_tensor *dx)
{
    ck_layer *inner = synced_inner(l);
    if (!inner->ops->backward)
        return ck_error(CK_ERR_UNSUPPORTED, "layer %s (%s) has no backward pass", inner->name,
                        inner->ops->class_name);
    ck_tensor xv = folded_view(x), yv = folded_view(y), dyv = folded_view(dy), dxv;
    if (dx)
        dxv = folded_view(dx);
    return inner->ops->backward(inner, &xv, &yv, &dyv, dx ? &dxv : NULL);
}

static ck_status td_get_config(const ck_layer *l, cJSON *cfg)
{
    const ck_layer *inner = ((const time_distributed *)l)->inner;
    cJSON *layer = cJSON_AddObjectToObject(cfg, "layer"), *icfg = cJSON_CreateObject();
    if (!layer || !cJSON_AddStringToObject(layer, "class_name", inner->ops->class_name)) {
        cJSON_Delete(icfg);
        return ck_config_check(NULL);
    }
    CK_TRY(ck_config_add(layer, "config", icfg));
    CK_TRY(ck_config_add_string(icfg, "name", inner->name));
    CK_TRY(ck_config_add_bool(icfg, "trainable", ck_layer_is_trainable(inner)));
    CK_TRY(ck_config_add_string(icfg, "dtype", "float32"));
    return ck_layer_get_config(inner, icfg);
}

static ck_layer *td_from_config(const cJSON *cfg, ck_keras_semantics semantics)
{
    static const char *const known[] = {"layer", NULL};
    const cJSON *layer = cJSON_GetObjectItemCaseSensitive(cfg, "layer");
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(layer, "class_name");
    const cJSON *icfg = cJSON_GetObjectItemCaseSensitive(layer, "config");
    ck_time_distributed_options o = {0};
    if (ck_config_check_keys(cfg, "TimeDistributed", known) != CK_OK ||
        ck_config_get_string(cfg, "name", &o.name) != CK_OK)
        return NULL;
    if (!cJSON_IsString(cls) || !cJSON_IsObject(icfg)) {
        ck_error(CK_ERR_FORMAT, "TimeDistributed: 'layer' must have a class_name and a config");
        return NULL;
    }
    o.layer = ck_layer_from_config(cls->valuestring, icfg, semantics);
    if (!o.layer)
        ck_error(ck_error_status(), "TimeDistributed: %s", ck_last_error());
    return ck_time_distributed_new(&o);
}

static void td_reset_state(ck_layer *l)
{
    ck_layer *inner = ((time_distributed *)l)->inner;
    if (inner->ops->reset_state)
        inner->ops->reset_state(inner);
}

static bool td_stateful(const ck_layer *l)
{
    const ck_layer *inner = ((const time_distributed *)l)->inner;
    return inner->ops->stateful && inner->ops->stateful(inner);
}

static void td_destroy(ck_layer *l)
{
    ck_layer_free(((time_distributed *)l)->inner);
    free(l);
}

const ck_layer_ops ck_time_distributed_layer_ops = {
    .class_name = "TimeDistributed",
    .base_name = "time_distributed",
    .output_shape = td_output_shape,
    .build = td_build,
    .after_init = td_after_init,
    .forward = td_forward,
    .backward = td_backward,
    .compute_mask = ck_mask_pass,
    .get_config = td_get_config,
    .from_config = td_from_config,
    .reset_state = td_reset_state,
    .stateful = td_stateful,
    .destroy = td_destroy,
};
