/* Typed access to Keras layer configs, with errors that name the key. */
#include "ck_internal.h"

#include <math.h>
#include <string.h>

static const cJSON *item(const cJSON *cfg, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    return cJSON_IsNull(v) ? NULL : v;
}

ck_status ck_config_get_int(const cJSON *cfg, const char *key, int *out, bool required)
{
    const cJSON *v = item(cfg, key);
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
    const cJSON *v = item(cfg, key);
    if (!v)
        return CK_OK;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return ck_error(CK_ERR_FORMAT, "layer config '%s' must be a finite number", key);
    *out = v->valuedouble;
    return CK_OK;
}

ck_status ck_config_get_bool(const cJSON *cfg, const char *key, bool *out)
{
    const cJSON *v = item(cfg, key);
    if (!v)
        return CK_OK;
    if (!cJSON_IsBool(v))
        return ck_error(CK_ERR_FORMAT, "layer config '%s' must be true or false", key);
    *out = cJSON_IsTrue(v);
    return CK_OK;
}

ck_status ck_config_get_string(const cJSON *cfg, const char *key, const char **out)
{
    const cJSON *v = item(cfg, key);
    if (!v)
        return CK_OK;
    if (!cJSON_IsString(v))
        return ck_error(CK_ERR_FORMAT, "layer config '%s' must be a string", key);
    *out = v->valuestring;
    return CK_OK;
}

ck_status ck_config_get_init(const cJSON *cfg, const char *key, ck_init *out)
{
    const cJSON *v = item(cfg, key);
    if (!v)
        return CK_OK;
    ck_status st = ck_init_from_json(v, out);
    if (st != CK_OK)
        return ck_error(st, "layer config '%s': %s", key, ck_last_error());
    return CK_OK;
}

ck_status ck_config_get_activation(const cJSON *cfg, const char *key, const char **out)
{
    const cJSON *v = item(cfg, key);
    if (!v)
        return CK_OK;
    /* Keras 3 may serialise an activation as an object: a function is
     * {"class_name": "function", "config": "relu"}, a layer-like one has
     * {"config": {"name": ...}}. */
    if (cJSON_IsObject(v)) {
        const cJSON *cfg_inner = cJSON_GetObjectItemCaseSensitive(v, "config");
        const cJSON *name = cJSON_IsString(cfg_inner)
                                ? cfg_inner
                                : cJSON_GetObjectItemCaseSensitive(cfg_inner, "name");
        if (!cJSON_IsString(name))
            name = cJSON_GetObjectItemCaseSensitive(v, "class_name");
        v = name;
    }
    if (!cJSON_IsString(v))
        return ck_error(CK_ERR_FORMAT, "layer config '%s' must be an activation name", key);
    ck_act act;
    CK_TRY(ck_act_parse(v->valuestring, &act));
    *out = v->valuestring;
    return CK_OK;
}

ck_status ck_config_check(const cJSON *cfg)
{
    if (!cfg)
        return ck_error(CK_ERR_MEMORY, "out of memory building a layer config");
    return CK_OK;
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
    static const char *const common[] = {
        "name",        "trainable",  "dtype",     "batch_input_shape", "batch_shape",
        "input_shape", "batch_size", "input_dim", "input_length",      NULL};
    const cJSON *it;
    cJSON_ArrayForEach(it, cfg)
    {
        if (!it->string || cJSON_IsNull(it) || in_list(it->string, common) ||
            in_list(it->string, known))
            continue;
        return ck_error(CK_ERR_UNSUPPORTED, "%s: option '%s' is not supported by ckeras",
                        class_name, it->string);
    }
    return CK_OK;
}
