/* Keras's noise_shape of Dropout and AlphaDropout: one random draw per
 * position of a shape that is 1 along the axes sharing a draw. */
#include "layer_util.h"

#include <string.h>

ck_status ck_noise_shape_set(const char *class_name, const int64_t *dims, int rank,
                             ck_noise_shape *ns)
{
    if (rank < 0 || rank > CK_MAX_RANK)
        return ck_error(CK_ERR_ARGUMENT, "%s: noise_rank must be 0 to %d", class_name, CK_MAX_RANK);
    for (int i = 0; i < rank; i++)
        if (dims[i] != CK_NONE && dims[i] < 1)
            return ck_error(CK_ERR_ARGUMENT, "%s: noise_shape sizes must be positive or CK_NONE",
                            class_name);
    ns->rank = rank;
    memset(ns->dims, 0, sizeof ns->dims);
    if (rank)
        memcpy(ns->dims, dims, (size_t)rank * sizeof *dims);
    return CK_OK;
}

ck_status ck_noise_shape_fits(const char *class_name, const ck_noise_shape *ns, const ck_shape *in)
{
    if (ns->rank && ns->rank != in->rank)
        return ck_error(CK_ERR_SHAPE, "%s: noise_shape has %d axes, the input %d", class_name,
                        ns->rank, in->rank);
    for (int i = 0; i < ns->rank; i++)
        if (ns->dims[i] != CK_NONE && ns->dims[i] != 1 && in->dims[i] > 0 &&
            ns->dims[i] != in->dims[i])
            return ck_error(CK_ERR_SHAPE,
                            "%s: noise_shape axis %d is %lld, neither 1 nor the input's %lld",
                            class_name, i, (long long)ns->dims[i], (long long)in->dims[i]);
    return CK_OK;
}

size_t ck_noise_shape_draws(const ck_noise_shape *ns, const ck_tensor *x)
{
    size_t draws = 1;
    for (int a = 0; ns->rank && a < x->rank; a++)
        draws *= ns->dims[a] == 1 ? 1 : (size_t)x->dims[a];
    return ns->rank ? draws : ck_tensor_size(x);
}

size_t ck_noise_shape_index(const ck_noise_shape *ns, const ck_tensor *x, size_t i)
{
    if (!ns->rank)
        return i;
    size_t at = 0, stride = 1;
    for (int a = x->rank - 1; a >= 0; a--) {
        size_t coord = i % (size_t)x->dims[a];
        i /= (size_t)x->dims[a];
        if (ns->dims[a] == 1)
            continue;
        at += coord * stride;
        stride *= (size_t)x->dims[a];
    }
    return at;
}

ck_status ck_noise_shape_add(const ck_noise_shape *ns, cJSON *cfg)
{
    cJSON *shape = ns->rank ? cJSON_CreateArray() : cJSON_CreateNull();
    for (int i = 0; shape && i < ns->rank; i++) {
        cJSON *v = ns->dims[i] == CK_NONE ? cJSON_CreateNull()
                                          : cJSON_CreateNumber((double)ns->dims[i]);
        if (!cJSON_AddItemToArray(shape, v)) {
            cJSON_Delete(v);
            cJSON_Delete(shape);
            shape = NULL;
        }
    }
    return ck_config_add(cfg, "noise_shape", shape);
}

/* [null, 1, 64]: null is "the input's size". */
ck_status ck_noise_shape_from_config(const cJSON *cfg, const char *class_name, int64_t *dims,
                                     int *rank)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(cfg, "noise_shape"), *v;
    *rank = 0;
    if (!list || cJSON_IsNull(list))
        return CK_OK;
    int n = cJSON_GetArraySize(list);
    if (!cJSON_IsArray(list) || n < 1 || n > CK_MAX_RANK)
        return ck_error(CK_ERR_FORMAT, "%s: noise_shape must be a list of 1 to %d sizes",
                        class_name, CK_MAX_RANK);
    cJSON_ArrayForEach(v, list)
    {
        bool size = cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble <= 1e9 &&
                    v->valuedouble == (double)(int64_t)v->valuedouble;
        if (!size && !cJSON_IsNull(v))
            return ck_error(CK_ERR_FORMAT,
                            "%s: noise_shape holds something other than sizes and null",
                            class_name);
        dims[(*rank)++] = size ? (int64_t)v->valuedouble : CK_NONE;
    }
    return CK_OK;
}
