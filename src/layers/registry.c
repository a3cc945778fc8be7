#include "ck_layers.h"

#include <string.h>

#define CK_LAYER(ops) extern const ck_layer_ops ops;
#include "registry.def"
#undef CK_LAYER

static const ck_layer_ops *const registry[] = {
#define CK_LAYER(ops) &ops,
#include "registry.def"
#undef CK_LAYER
};

const ck_layer_ops *ck_layer_ops_find(const char *class_name)
{
    for (size_t i = 0; i < sizeof registry / sizeof registry[0]; i++)
        if (strcmp(registry[i]->class_name, class_name) == 0)
            return registry[i];
    return NULL;
}

static bool is_penalty_key(const char *key)
{
    return ck_str_ends_with(key, "_regularizer") || ck_str_ends_with(key, "_constraint");
}

/* A copy of cfg whose regularizer and constraint values are null, so the
 * layer's own reader never has to know them. */
static cJSON *without_penalties(const cJSON *cfg)
{
    cJSON *copy = cJSON_Duplicate(cfg, true);
    for (cJSON *v = copy ? copy->child : NULL; v; v = v->next) {
        if (!v->string || cJSON_IsNull(v) || !is_penalty_key(v->string))
            continue;
        cJSON *null = ck_json_replace(copy, v, cJSON_CreateNull());
        if (!null) {
            cJSON_Delete(copy);
            ck_error(CK_ERR_MEMORY, "out of memory reading a layer config");
            return NULL;
        }
        v = null;
    }
    if (!copy)
        ck_error(CK_ERR_MEMORY, "out of memory reading a layer config");
    return copy;
}

static ck_status read_penalty(ck_layer *l, const char *key, const cJSON *v)
{
    size_t stem_len = strlen(key) - (ck_str_ends_with(key, "_regularizer") ? 12 : 11);
    char stem[32];
    if (stem_len >= sizeof stem)
        return ck_error(CK_ERR_UNSUPPORTED, "option '%s' is not supported by ckeras", key);
    memcpy(stem, key, stem_len);
    stem[stem_len] = '\0';
    bool reg = ck_str_ends_with(key, "_regularizer");
    /* Keras 3 refuses it too: a second activity_regularizer argument. */
    if (reg && strcmp(stem, "activity") == 0 && l->activity_own)
        return ck_error(CK_ERR_UNSUPPORTED,
                        "%s: activity_regularizer is not an option (the penalty is l1 and l2)",
                        l->ops->class_name);
    if (reg && strcmp(stem, "activity") == 0)
        return ck_reg_from_json(v, &l->activity);
    ck_weight_rule *rule = ck_layer_rule(l, stem, true);
    if (!rule)
        return ck_error_status();
    ck_status st = reg ? ck_reg_from_json(v, &rule->reg) : ck_con_from_json(v, &rule->con);
    return st == CK_OK ? CK_OK : ck_error(st, "'%s': %s", key, ck_last_error());
}

static ck_status read_penalties(ck_layer *l, const cJSON *cfg)
{
    for (const cJSON *v = cfg->child; v; v = v->next)
        if (v->string && !cJSON_IsNull(v) && is_penalty_key(v->string))
            CK_TRY(read_penalty(l, v->string, v));
    return CK_OK;
}

ck_layer *ck_layer_from_config(const char *class_name, const cJSON *cfg,
                               ck_keras_semantics semantics)
{
    const ck_layer_ops *ops = ck_layer_ops_find(class_name);
    if (!ops) {
        ck_error(CK_ERR_UNSUPPORTED, "layer class '%s' is not supported by ckeras", class_name);
        return NULL;
    }
    ck_clear_error();
    cJSON *plain = without_penalties(cfg);
    ck_layer *l = plain ? ops->from_config(plain, semantics) : NULL;
    cJSON_Delete(plain);
    bool trainable = true;
    if (l && (read_penalties(l, cfg) != CK_OK ||
              ck_config_get_bool(cfg, "trainable", &trainable) != CK_OK ||
              ck_layer_set_trainable(l, trainable) != CK_OK)) {
        ck_layer_free(l);
        l = NULL;
    }
    if (!l && ck_error_status() == CK_OK)
        ck_error(CK_ERR_FORMAT, "%s: the config could not be read", class_name);
    return l;
}
