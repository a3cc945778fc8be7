/* Typed access to Keras layer configs, reading and writing, with errors
 * that name the key. */
#include "ck_internal.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ck_status ck_config_get_int(const cJSON *cfg, const char *key, int *out, bool required)
{
    const cJSON *v = ck_json_get(cfg, key);
    if (!v) {
        if (required)
            return ck_error(CK_ERR_FORMAT, "layer config is missing '%s'", key);
        return CK_OK;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || fabs(v->valuedouble) > 1e9)
        return ck_error(CK_ERR_FORMAT, "layer config '%s' must be an integer", key);
    *out = (int)v->valuedouble;
    return CK_OK;
}

ck_status ck_config_get_double(const cJSON *cfg, const char *key, double *out)
{
    const cJSON *v = ck_json_get(cfg, key);
    if (!v)
        return CK_OK;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return ck_error(CK_ERR_FORMAT, "layer config '%s' must be a finite number", key);
    *out = v->valuedouble;
    return CK_OK;
}

ck_status ck_config_get_bool(const cJSON *cfg, const char *key, bool *out)
{
    const cJSON *v = ck_json_get(cfg, key);
    if (!v)
        return CK_OK;
    if (!cJSON_IsBool(v))
        return ck_error(CK_ERR_FORMAT, "layer config '%s' must be true or false", key);
    *out = cJSON_IsTrue(v);
    return CK_OK;
}

ck_status ck_config_get_string(const cJSON *cfg, const char *key, const char **out)
{
    const cJSON *v = ck_json_get(cfg, key);
    if (!v)
        return CK_OK;
    if (!cJSON_IsString(v))
        return ck_error(CK_ERR_FORMAT, "layer config '%s' must be a string", key);
    *out = v->valuestring;
    return CK_OK;
}

ck_status ck_config_get_init(const cJSON *cfg, const char *key, ck_init *out)
{
    const cJSON *v = ck_json_get(cfg, key);
    if (!v)
        return CK_OK;
    ck_status st = ck_init_from_json(v, out);
    if (st != CK_OK)
        return ck_error(st, "layer config '%s': %s", key, ck_last_error());
    return CK_OK;
}

/* Whether the layer config's number `key` is absent, null or `want`. */
static bool number_is(const cJSON *cfg, const char *key, double want)
{
    const cJSON *v = ck_json_get(cfg, key);
    return !v || (cJSON_IsNumber(v) && fabs(v->valuedouble - want) <= 1e-6);
}

/* An activation layer passed as a layer's activation, serialized as the
 * layer's config ({"class_name": "LeakyReLU", "config": {"name": ...,
 * "negative_slope": 0.1}}): the activation it computes when its options
 * are those of a built-in one; its name is the user's and says nothing. */
static const cJSON *layer_activation(const char *cls, const cJSON *cfg, const char *key)
{
    static const cJSON relu = {.type = cJSON_String, .valuestring = "relu"},
                       elu = {.type = cJSON_String, .valuestring = "elu"},
                       softmax = {.type = cJSON_String, .valuestring = "softmax"},
                       leaky = {.type = cJSON_String, .valuestring = "leaky_relu"};
    if (strcmp(cls, "Activation") == 0) {
        const cJSON *inner = ck_json_get(cfg, "activation");
        if (!inner)
            ck_error(CK_ERR_FORMAT, "option '%s' is an Activation layer without 'activation'", key);
        return inner;
    }
    if (strcmp(cls, "ReLU") == 0 && !ck_json_get(cfg, "max_value") &&
        number_is(cfg, "negative_slope", 0) && number_is(cfg, "threshold", 0))
        return &relu;
    if (strcmp(cls, "ELU") == 0 && number_is(cfg, "alpha", 1))
        return &elu;
    if (strcmp(cls, "Softmax") == 0 && number_is(cfg, "axis", -1))
        return &softmax;
    /* Keras 3 calls the slope negative_slope, tf.keras alpha; the layer's
     * default (0.3) is not the function's (0.2). */
    if (strcmp(cls, "LeakyReLU") == 0 && number_is(cfg, "negative_slope", 0.2) &&
        number_is(cfg, "alpha", 0.2) &&
        (ck_json_get(cfg, "negative_slope") || ck_json_get(cfg, "alpha")))
        return &leaky;
    ck_error(CK_ERR_UNSUPPORTED,
             "option '%s' is a %s layer with options ckeras does not compute; give the activation "
             "by name",
             key, cls);
    return NULL;
}

ck_status ck_config_get_activation(const cJSON *cfg, const char *key, const char **out)
{
    const cJSON *v = ck_json_get(cfg, key);
    if (!v)
        return CK_OK;
    /* Keras 3 may serialise an activation as an object: a function is
     * {"class_name": "function", "config": "relu"}, an activation layer
     * has its layer config. */
    for (int depth = 0; cJSON_IsObject(v) && depth < 4; depth++) {
        const cJSON *cfg_inner = cJSON_GetObjectItemCaseSensitive(v, "config");
        const char *cls = ck_json_str(v, "class_name");
        if (cJSON_IsString(cfg_inner))
            v = cfg_inner;
        else if (cJSON_IsObject(cfg_inner) && cls) {
            v = layer_activation(cls, cfg_inner, key);
            if (!v)
                return ck_error_status();
        } else
            v = cJSON_GetObjectItemCaseSensitive(v, "class_name");
    }
    if (!cJSON_IsString(v))
        return ck_error(CK_ERR_FORMAT, "layer config '%s' must be an activation name", key);
    ck_act act;
    ck_status st = ck_act_parse(v->valuestring, &act);
    if (st != CK_OK)
        return ck_error(st, "option '%s': %s", key, ck_last_error());
    *out = v->valuestring;
    return CK_OK;
}

ck_status ck_config_check(const cJSON *cfg)
{
    if (!cfg)
        return ck_error(CK_ERR_MEMORY, "out of memory building a layer config");
    return CK_OK;
}

const cJSON *ck_json_get(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNull(v) ? NULL : v;
}

const char *ck_json_str(const cJSON *obj, const char *key)
{
    const cJSON *v = ck_json_get(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

ck_status ck_json_class(const cJSON *json, const char *what, const char **name, const cJSON **cfg)
{
    *name = cJSON_IsString(json) ? json->valuestring : ck_json_str(json, "class_name");
    *cfg = cJSON_IsObject(json) ? ck_json_get(json, "config") : NULL;
    if (!*name)
        return ck_error(CK_ERR_FORMAT, "%s config is neither a name nor {\"class_name\": ...}",
                        what);
    return CK_OK;
}

ck_status ck_json_keep(const cJSON *json, const char *name, char **raw, char *cls, size_t len)
{
    *raw = cJSON_PrintUnformatted(json);
    snprintf(cls, len, "%s", name);
    return *raw ? CK_OK : ck_error(CK_ERR_MEMORY, "out of memory keeping a %s config", name);
}

cJSON *ck_json_class_new(const char *cls, cJSON **cfg)
{
    cJSON *j = cJSON_CreateObject();
    *cfg = cJSON_AddStringToObject(j, "class_name", cls) ? cJSON_AddObjectToObject(j, "config")
                                                         : NULL;
    if (!*cfg) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

cJSON *ck_json_replace(cJSON *parent, cJSON *item, cJSON *value)
{
    if (!value)
        return NULL;
    /* The key moves over: both strings come from cJSON's allocator. */
    value->string = item->string;
    item->string = NULL;
    cJSON_ReplaceItemViaPointer(parent, item, value);
    return value;
}

static bool in_list(const char *key, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(key, *list) == 0)
            return true;
    return false;
}

ck_status ck_config_check_keys(const cJSON *cfg, const char *class_name, const char *const *known)
{
    /* tf_keras 2.20+ writes rng_type on layers that draw random numbers: how
     * training draws them, which ckeras does its own way anyway. */
    static const char *const common[] = {
        "name",         "trainable",   "dtype",      "batch_input_shape",
        "batch_shape",  "input_shape", "batch_size", "input_dim",
        "input_length", "rng_type",    NULL};
    const cJSON *it;
    cJSON_ArrayForEach(it, cfg)
    {
        if (!it->string || cJSON_IsNull(it) || in_list(it->string, common) ||
            in_list(it->string, known))
            continue;
        char *value = cJSON_PrintUnformatted(it);
        ck_status st = ck_error(CK_ERR_UNSUPPORTED,
                                "%s: option '%s' = %.60s is not supported by ckeras", class_name,
                                it->string, value ? value : "?");
        free(value);
        return st;
    }
    return CK_OK;
}

ck_status ck_config_get_int1(const cJSON *cfg, const char *key, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!cJSON_IsArray(v))
        return ck_config_get_int(cfg, key, out, false);
    const cJSON *x = cJSON_GetArrayItem(v, 0);
    if (cJSON_GetArraySize(v) != 1 || !cJSON_IsNumber(x) ||
        x->valuedouble != floor(x->valuedouble) || fabs(x->valuedouble) > 1e9)
        return ck_error(CK_ERR_FORMAT,
                        "layer config '%s' must be an integer or a list of one integer", key);
    *out = (int)x->valuedouble;
    return CK_OK;
}

ck_status ck_config_get_int_list(const cJSON *cfg, const char *class_name, const char *key,
                                 int64_t *out, int max, int *n)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(cfg, key), *v;
    *n = cJSON_GetArraySize(list);
    if (!cJSON_IsArray(list) || *n < 1 || *n > max)
        return ck_error(CK_ERR_FORMAT, "%s: '%s' must be a list of 1 to %d integers", class_name,
                        key, max);
    int i = 0;
    cJSON_ArrayForEach(v, list)
    {
        if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
            fabs(v->valuedouble) > 1e12)
            return ck_error(CK_ERR_FORMAT, "%s: '%s' must hold integers", class_name, key);
        out[i++] = (int64_t)v->valuedouble;
    }
    return CK_OK;
}

ck_status ck_config_get_size1(const cJSON *cfg, const char *key, int *out)
{
    int v = INT_MIN; /* ck_config_get_int1 never yields it */
    CK_TRY(ck_config_get_int1(cfg, key, &v));
    if (v == INT_MIN)
        return CK_OK;
    if (v <= 0)
        return ck_error(CK_ERR_FORMAT, "layer config '%s' must be positive, got %d", key, v);
    *out = v;
    return CK_OK;
}

ck_status ck_config_add(cJSON *cfg, const char *key, cJSON *item)
{
    if (item && cJSON_AddItemToObject(cfg, key, item))
        return CK_OK;
    cJSON_Delete(item);
    return ck_error(CK_ERR_MEMORY, "out of memory writing layer config '%s'", key);
}

static ck_status added(const cJSON *item, const char *key)
{
    return item ? CK_OK : ck_error(CK_ERR_MEMORY, "out of memory writing layer config '%s'", key);
}

ck_status ck_config_add_number(cJSON *cfg, const char *key, double v)
{
    return added(cJSON_AddNumberToObject(cfg, key, v), key);
}

ck_status ck_config_add_string(cJSON *cfg, const char *key, const char *v)
{
    return added(cJSON_AddStringToObject(cfg, key, v), key);
}

ck_status ck_config_add_bool(cJSON *cfg, const char *key, bool v)
{
    return added(cJSON_AddBoolToObject(cfg, key, v), key);
}

ck_status ck_config_add_nulls(cJSON *cfg, const char *const *keys)
{
    for (; *keys; keys++)
        CK_TRY(added(cJSON_AddNullToObject(cfg, *keys), *keys));
    return CK_OK;
}

ck_status ck_config_add_int1(cJSON *cfg, const char *key, int v)
{
    return ck_config_add(cfg, key, cJSON_CreateIntArray(&v, 1));
}

ck_status ck_config_reject_true(const cJSON *cfg, const char *class_name, const char *const *keys)
{
    for (; *keys; keys++)
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cfg, *keys)))
            return ck_error(CK_ERR_UNSUPPORTED, "%s: option '%s' = true is not supported by ckeras",
                            class_name, *keys);
    return CK_OK;
}

ck_status ck_config_check_channels_last(const cJSON *cfg, const char *class_name)
{
    const char *fmt = NULL;
    CK_TRY(ck_config_get_string(cfg, "data_format", &fmt));
    if (fmt && strcmp(fmt, "channels_last") != 0)
        return ck_error(CK_ERR_UNSUPPORTED,
                        "%s: data_format '%s' is not supported by ckeras "
                        "(only channels_last)",
                        class_name, fmt);
    return CK_OK;
}

ck_status ck_config_get_axis(const cJSON *cfg, const char *class_name, int *axis)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, "axis");
    if (cJSON_IsArray(v) && cJSON_GetArraySize(v) != 1)
        return ck_error(CK_ERR_UNSUPPORTED,
                        "%s: normalizing over several axes is not supported "
                        "by ckeras",
                        class_name);
    return ck_config_get_int1(cfg, "axis", axis);
}
