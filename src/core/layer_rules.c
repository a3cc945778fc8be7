/* Per-layer regularizers and constraints, as Keras's <key>_regularizer,
 * <key>_constraint and activity_regularizer arguments. The layers only
 * write these keys as null; ck_layer_get_config fills in the values, so
 * every layer saves them without knowing about them. */
#include "ck_internal.h"

#include <stdio.h>
#include <string.h>

ck_weight_rule *ck_layer_rule(ck_layer *l, const char *key, bool create)
{
    for (int i = 0; i < l->n_rules; i++)
        if (strcmp(l->rules[i].key, key) == 0)
            return &l->rules[i];
    if (!create)
        return NULL;
    if (l->n_rules == CK_MAX_WEIGHTS || strlen(key) >= sizeof l->rules[0].key) {
        ck_error(CK_ERR_UNSUPPORTED, "layer %s: too many regularizers or constraints ('%s')",
                 l->name, key);
        return NULL;
    }
    ck_weight_rule *r = &l->rules[l->n_rules++];
    *r = (ck_weight_rule){0};
    snprintf(r->key, sizeof r->key, "%s", key);
    return r;
}

static bool rule_matches(const ck_weight_rule *r, const char *weight)
{
    size_t n = strlen(r->key);
    return strncmp(weight, r->key, n) == 0 &&
           (weight[n] == '\0' || strcmp(weight + n, "_kernel") == 0);
}

const ck_weight_rule *ck_layer_rule_for(const ck_layer *l, const char *weight)
{
    for (int i = 0; i < l->n_rules; i++)
        if (rule_matches(&l->rules[i], weight))
            return &l->rules[i];
    return NULL;
}

void ck_layer_link_rules(ck_layer *l)
{
    for (int k = 0; k < l->n_weights; k++) {
        const ck_weight_rule *own = ck_layer_rule_for(l, l->weights[k].name);
        if (own)
            l->weights[k].rule = own;
    }
}

/* A regularizer or constraint is one of the layer's own Keras options
 * ("kernel_regularizer" for a Dense, not for a Dropout or a Bidirectional,
 * whose wrapped layer holds it), so that its config can save it. */
static ck_status check_option(const ck_layer *l, const char *weight, const char *suffix)
{
    char key[48];
    snprintf(key, sizeof key, "%s%s", weight, suffix);
    cJSON *cfg = cJSON_CreateObject();
    ck_status st = cfg ? l->ops->get_config(l, cfg) : ck_error(CK_ERR_MEMORY, "out of memory");
    bool has = st == CK_OK && cJSON_GetObjectItemCaseSensitive(cfg, key);
    cJSON_Delete(cfg);
    if (st != CK_OK || has)
        return st;
    return ck_error(CK_ERR_NAME, "layer %s (%s) has no option '%s'",
                    l->name[0] ? l->name : "(unnamed)", l->ops->class_name, key);
}

ck_status ck_layer_set_regularizer(ck_layer *layer, const char *weight, const ck_regularizer *r)
{
    if (!layer || !weight)
        return ck_error(CK_ERR_ARGUMENT, "ck_layer_set_regularizer: NULL argument");
    /* Keras 3 gives every layer an activity_regularizer. */
    bool activity = strcmp(weight, "activity") == 0;
    if (activity && layer->activity_own)
        return ck_error(CK_ERR_ARGUMENT,
                        "layer %s (%s): its activity penalty is its l1 and l2 options", layer->name,
                        layer->ops->class_name);
    if (!activity)
        CK_TRY(check_option(layer, weight, "_regularizer"));
    ck_reg reg = {0};
    if (r)
        CK_TRY(ck_reg_from_options(r, &reg));
    ck_weight_rule *rule = activity ? NULL : ck_layer_rule(layer, weight, true);
    if (!activity && !rule)
        return ck_error_status();
    ck_reg *slot = activity ? &layer->activity : &rule->reg;
    ck_reg_free(slot);
    *slot = reg;
    ck_layer_link_rules(layer);
    return CK_OK;
}

ck_status ck_layer_set_constraint(ck_layer *layer, const char *weight, const ck_constraint *c)
{
    if (!layer || !weight)
        return ck_error(CK_ERR_ARGUMENT, "ck_layer_set_constraint: NULL argument");
    CK_TRY(check_option(layer, weight, "_constraint"));
    ck_con con = {0};
    if (c)
        CK_TRY(ck_con_from_options(c, &con));
    ck_weight_rule *rule = ck_layer_rule(layer, weight, true);
    if (!rule)
        return ck_error_status();
    ck_con_free(&rule->con);
    rule->con = con;
    ck_layer_link_rules(layer);
    return CK_OK;
}

static bool has_suffix(const char *key, const char *suffix, size_t *stem_len)
{
    *stem_len = strlen(key) - strlen(suffix);
    return strlen(key) > strlen(suffix) && ck_str_ends_with(key, suffix);
}

/* The rule's JSON for a *_regularizer or *_constraint key; *out stays NULL
 * when the layer's own (null) value is right. */
static ck_status rule_value(const ck_layer *l, const char *key, cJSON **out)
{
    size_t len;
    bool reg = has_suffix(key, "_regularizer", &len);
    bool con = !reg && has_suffix(key, "_constraint", &len);
    char stem[32];
    *out = NULL;
    if ((!reg && !con) || len >= sizeof stem)
        return CK_OK;
    memcpy(stem, key, len);
    stem[len] = '\0';
    const ck_reg *r = NULL;
    const ck_con *c = NULL;
    ck_weight_rule *rule = ck_layer_rule((ck_layer *)l, stem, false);
    if (reg && strcmp(stem, "activity") == 0)
        r = &l->activity;
    else if (rule && reg)
        r = &rule->reg;
    else if (rule)
        c = &rule->con;
    if ((!r || !r->kind) && (!c || !c->kind))
        return CK_OK;
    *out = r ? ck_reg_to_json(r) : ck_con_to_json(c);
    return *out ? CK_OK
                : ck_error(CK_ERR_MEMORY, "out of memory writing %s of layer %s", key, l->name);
}

static ck_status add_activity(const ck_layer *l, cJSON *cfg)
{
    if (!l->activity.kind || l->activity_own ||
        cJSON_GetObjectItemCaseSensitive(cfg, "activity_regularizer"))
        return CK_OK;
    cJSON *act = ck_reg_to_json(&l->activity);
    if (act && cJSON_AddItemToObject(cfg, "activity_regularizer", act))
        return CK_OK;
    cJSON_Delete(act);
    return ck_error(CK_ERR_MEMORY, "out of memory writing the config of layer %s", l->name);
}

ck_status ck_layer_get_config(const ck_layer *l, cJSON *cfg)
{
    CK_TRY(l->ops->get_config(l, cfg));
    for (cJSON *v = cfg->child; v; v = v->next) {
        cJSON *value = NULL;
        CK_TRY(v->string ? rule_value(l, v->string, &value) : CK_OK);
        if (!value)
            continue;
        v = ck_json_replace(cfg, v, value);
    }
    return add_activity(l, cfg);
}
