/* keras.Input / InputLayer: declares the per-sample shape. It never runs;
 * the model reads its shape and Keras files list it in their configs. */
#include "ck_internal.h"
#include "layer_util.h"

#include <stdlib.h>

extern const ck_layer_ops ck_input_layer_ops;

ck_layer *ck_input_new(const ck_input_options *o)
{
    if (!o) {
        ck_error(CK_ERR_ARGUMENT, "Input: options are NULL");
        return NULL;
    }
    int rank = 0;
    while (rank < CK_MAX_RANK - 1 && o->shape[rank] != 0)
        rank++;
    if (rank == 0) {
        ck_error(CK_ERR_SHAPE, "Input: the shape needs at least one axis");
        return NULL;
    }
    if (o->batch_size < 0) {
        ck_error(CK_ERR_SHAPE, "Input: negative batch_size %lld", (long long)o->batch_size);
        return NULL;
    }
    for (int i = 0; i < rank; i++)
        if (o->shape[i] < 0 && o->shape[i] != CK_NONE) {
            ck_error(CK_ERR_SHAPE, "Input: axis %d has negative size %lld", i,
                     (long long)o->shape[i]);
            return NULL;
        }
    ck_layer *l = ck_alloc(1, sizeof *l);
    if (!l)
        return NULL;
    if (ck_layer_init(l, &ck_input_layer_ops, o->name) != CK_OK) {
        free(l);
        return NULL;
    }
    l->out_shape.rank = rank + 1;
    /* A fixed batch (stateful models) shows in shapes and configs, as in Keras. */
    l->out_shape.dims[0] = o->batch_size > 0 ? o->batch_size : CK_NONE;
    for (int i = 0; i < rank; i++)
        l->out_shape.dims[i + 1] = o->shape[i];
    l->in_shape = l->out_shape;
    l->built = true;
    return l;
}

static ck_status input_output_shape(const ck_layer *l, const ck_shape *in, ck_shape *out)
{
    (void)l;
    *out = *in;
    return CK_OK;
}

static ck_status input_get_config(const ck_layer *l, cJSON *cfg)
{
    cJSON *shape = cJSON_CreateArray();
    for (int i = 0; shape && i < l->out_shape.rank; i++) {
        cJSON *d = l->out_shape.dims[i] < 0 ? cJSON_CreateNull()
                                            : cJSON_CreateNumber((double)l->out_shape.dims[i]);
        if (!d || !cJSON_AddItemToArray(shape, d)) {
            cJSON_Delete(d);
            cJSON_Delete(shape);
            shape = NULL;
        }
    }
    CK_TRY(ck_config_add(cfg, "batch_input_shape", shape));
    CK_TRY(ck_config_add_bool(cfg, "sparse", false));
    return ck_config_add_bool(cfg, "ragged", false);
}

static ck_layer *input_from_config(const cJSON *cfg, ck_keras_semantics semantics)
{
    /* Keras 3.13+ "optional": an optional input that is given computes the
     * same; a ragged one would not, fed as a padded array. */
    static const char *const known[] = {"sparse", "ragged", "optional", NULL};
    static const char *const unsupported[] = {"ragged", NULL};
    (void)semantics;
    if (ck_config_check_keys(cfg, "InputLayer", known) != CK_OK ||
        ck_config_reject_true(cfg, "InputLayer", unsupported) != CK_OK)
        return NULL;
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(cfg, "batch_input_shape");
    if (!cJSON_IsArray(shape))
        shape = cJSON_GetObjectItemCaseSensitive(cfg, "batch_shape");
    int n = cJSON_GetArraySize(shape);
    if (!cJSON_IsArray(shape) || n < 2 || n > CK_MAX_RANK) {
        ck_error(CK_ERR_FORMAT, "InputLayer: batch_input_shape must list 2 to %d axes",
                 CK_MAX_RANK);
        return NULL;
    }
    ck_input_options o = {0};
    const cJSON *batch = cJSON_GetArrayItem(shape, 0);
    if (cJSON_IsNumber(batch) && batch->valuedouble >= 1 && batch->valuedouble <= 1e9 &&
        batch->valuedouble == (double)(int64_t)batch->valuedouble) {
        o.batch_size = (int64_t)batch->valuedouble;
    } else if (!cJSON_IsNull(batch)) {
        ck_error(CK_ERR_FORMAT, "InputLayer: the batch axis of batch_input_shape is not a size");
        return NULL;
    }
    for (int i = 1; i < n; i++) {
        const cJSON *d = cJSON_GetArrayItem(shape, i);
        if (cJSON_IsNull(d)) {
            o.shape[i - 1] = CK_NONE;
        } else if (cJSON_IsNumber(d) && d->valuedouble >= 1 && d->valuedouble <= 1e9 &&
                   d->valuedouble == (double)(int64_t)d->valuedouble) {
            o.shape[i - 1] = (int64_t)d->valuedouble;
        } else {
            ck_error(CK_ERR_FORMAT, "InputLayer: axis %d of batch_input_shape is not a size", i);
            return NULL;
        }
    }
    if (ck_config_get_string(cfg, "name", &o.name) != CK_OK)
        return NULL;
    return ck_input_new(&o);
}

static void input_destroy(ck_layer *l)
{
    free(l);
}

const ck_layer_ops ck_input_layer_ops = {
    .class_name = "InputLayer",
    .base_name = "input",
    .output_shape = input_output_shape,
    .get_config = input_get_config,
    .from_config = input_from_config,
    .destroy = input_destroy,
};
