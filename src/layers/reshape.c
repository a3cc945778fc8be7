/* keras.layers.Reshape and Flatten. Flatten is Reshape((-1,)), so both share
 * the shape logic; the data is copied unchanged (row-major order is kept). */
#include "layer_util.h"

#include <stdlib.h>
#include <string.h>

typedef struct reshape {
    ck_layer base;
    int rank;                        /* of target, batch excluded */
    int64_t target[CK_MAX_RANK - 1]; /* at most one -1 */
} reshape;

extern const ck_layer_ops ck_reshape_layer_ops, ck_flatten_layer_ops;

static ck_layer *reshape_create(const ck_layer_ops *ops, const int64_t *target, const char *name)
{
    int rank = 0, inferred = 0;
    for (; rank < CK_MAX_RANK - 1 && target[rank] != 0; rank++) {
        inferred += target[rank] == -1;
        if (target[rank] < -1 || inferred > 1) {
            ck_error(CK_ERR_ARGUMENT,
                     "%s: target_shape sizes must be positive, with at most one -1",
                     ops->class_name);
            return NULL;
        }
    }
    if (rank == 0) {
        ck_error(CK_ERR_ARGUMENT, "%s: target_shape is empty", ops->class_name);
        return NULL;
    }
    reshape *r = ck_layer_alloc(sizeof *r, ops, name);
    if (!r)
        return NULL;
    r->rank = rank;
    memcpy(r->target, target, sizeof r->target);
    return &r->base;
}

ck_layer *ck_reshape_new(const ck_reshape_options *o)
{
    if (!o) {
        ck_error(CK_ERR_ARGUMENT, "Reshape: options are NULL");
        return NULL;
    }
    return reshape_create(&ck_reshape_layer_ops, o->target_shape, o->name);
}

ck_layer *ck_flatten_new(const ck_flatten_options *o)
{
    static const int64_t flat[CK_MAX_RANK - 1] = {-1};
    return reshape_create(&ck_flatten_layer_ops, flat, o ? o->name : NULL);
}

static ck_status reshape_output_shape(const ck_layer *l, const ck_shape *in, ck_shape *out)
{
    const reshape *r = (const reshape *)l;
    size_t in_size = ck_shape_sample_size(in), known = 1;
    int missing = -1;
    out->rank = r->rank + 1;
    out->dims[0] = in->dims[0];
    for (int i = 0; i < r->rank; i++) {
        out->dims[i + 1] = r->target[i];
        if (r->target[i] == -1)
            missing = i + 1;
        else if (!ck_size_mul(known, (size_t)r->target[i], &known))
            return ck_error(CK_ERR_SHAPE, "%s: target_shape is too large", l->ops->class_name);
    }
    if (in_size == 0) /* an open input axis: only the -1 axis may absorb it */
        return missing >= 0 ? CK_OK
                            : ck_error(CK_ERR_SHAPE,
                                       "%s: the input has an open axis; use -1 in "
                                       "target_shape",
                                       l->ops->class_name);
    if (missing >= 0 && in_size % known == 0)
        out->dims[missing] = (int64_t)(in_size / known);
    else if (missing >= 0 || known != in_size)
        return ck_error(CK_ERR_SHAPE,
                        "%s: cannot reshape %zu values per sample into the target shape",
                        l->ops->class_name, in_size);
    return CK_OK;
}

static ck_status reshape_forward(ck_layer *l, const ck_tensor *x, ck_tensor *y,
                                 const ck_run_ctx *ctx)
{
    (void)l, (void)ctx;
    memcpy(y->data, x->data, ck_tensor_size(x) * sizeof(float));
    return CK_OK;
}

static ck_status reshape_backward(ck_layer *l, const ck_tensor *x, const ck_tensor *y,
                                  const ck_tensor *dy, ck_tensor *dx)
{
    (void)l, (void)y;
    if (dx)
        memcpy(dx->data, dy->data, ck_tensor_size(x) * sizeof(float));
    return CK_OK;
}

static ck_status reshape_get_config(const ck_layer *l, cJSON *cfg)
{
    const reshape *r = (const reshape *)l;
    double shape[CK_MAX_RANK - 1];
    for (int i = 0; i < r->rank; i++)
        shape[i] = (double)r->target[i];
    return ck_config_add(cfg, "target_shape", cJSON_CreateDoubleArray(shape, r->rank));
}

static ck_layer *reshape_from_config(const cJSON *cfg, ck_keras_semantics semantics)
{
    static const char *const known[] = {"target_shape", NULL};
    (void)semantics;
    ck_reshape_options o = {0};
    int n;
    if (ck_config_check_keys(cfg, "Reshape", known) != CK_OK ||
        ck_config_get_int_list(cfg, "Reshape", "target_shape", o.target_shape, CK_MAX_RANK - 1,
                               &n) != CK_OK ||
        ck_config_get_string(cfg, "name", &o.name) != CK_OK)
        return NULL;
    for (int i = 0; i < n; i++)
        if (o.target_shape[i] == 0) {
            ck_error(CK_ERR_FORMAT, "Reshape: 'target_shape' holds a size of 0");
            return NULL;
        }
    return ck_reshape_new(&o);
}

static ck_status flatten_get_config(const ck_layer *l, cJSON *cfg)
{
    (void)l;
    return ck_config_add_string(cfg, "data_format", "channels_last");
}

static ck_layer *flatten_from_config(const cJSON *cfg, ck_keras_semantics semantics)
{
    static const char *const known[] = {"data_format", NULL};
    (void)semantics;
    ck_flatten_options o = {0};
    if (ck_config_check_keys(cfg, "Flatten", known) != CK_OK ||
        ck_config_check_channels_last(cfg, "Flatten") != CK_OK ||
        ck_config_get_string(cfg, "name", &o.name) != CK_OK)
        return NULL;
    return ck_flatten_new(&o);
}

static void reshape_destroy(ck_layer *l)
{
    free(l);
}

const ck_layer_ops ck_reshape_layer_ops = {
    .class_name = "Reshape",
    .base_name = "reshape",
    .output_shape = reshape_output_shape,
    .forward = reshape_forward,
    .backward = reshape_backward,
    .get_config = reshape_get_config,
    .from_config = reshape_from_config,
    .destroy = reshape_destroy,
};

const ck_layer_ops ck_flatten_layer_ops = {
    .class_name = "Flatten",
    .base_name = "flatten",
    .output_shape = reshape_output_shape,
    .forward = reshape_forward,
    .backward = reshape_backward,
    .get_config = flatten_get_config,
    .from_config = flatten_from_config,
    .destroy = reshape_destroy,
};
