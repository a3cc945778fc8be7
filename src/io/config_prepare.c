/* Layer configs as each Keras release writes them, made ready for the
 * layers: what cannot change the numbers never blocks a load, what can is
 * refused by name. See docs/keras-compatibility.md for the forms. */
#include "ck_io.h"

#include <stdio.h>
#include <string.h>

ck_io_load ck_io_load_init(const ck_load_options *opts, const char *keras_version,
                           ck_keras_semantics semantics, bool weights_follow)
{
    static const ck_load_options none = {0};
    ck_io_load ld = {.semantics = semantics,
                     .keras_version = keras_version,
                     .opts = opts ? opts : &none,
                     .weights_follow = weights_follow};
    if (keras_version)
        ld.semantics = ck_io_semantics_of(keras_version);
    return ld;
}

void ck_io_writer_note(const ck_io_load *ld, char *buf, size_t len)
{
    if (ld->keras_version)
        snprintf(buf, len, " (written by Keras %s)", ld->keras_version);
    else if (len)
        buf[0] = '\0';
}

/* ---------------- dtype policies ---------------- */

/* Keras 3.3 names a quantised policy "int8_from_float32"; 3.4+ serialise
 * it as an object of one of these classes with the mode in its config. */
static const char *const quantized_classes[] = {
    "QuantizedDTypePolicy", "QuantizedFloat8DTypePolicy",
    "Int4DTypePolicy",      "GPTQDTypePolicy",
    "AWQDTypePolicy",       NULL};

static bool is_quantized_class(const char *cls)
{
    for (const char *const *q = quantized_classes; *q; q++)
        if (strcmp(cls, *q) == 0)
            return true;
    return false;
}

/* `where` is "" for the layer itself, or names a DTypePolicyMap entry. */
static ck_status quantized(const char *where, const char *mode, const char *cls)
{
    return ck_error(CK_ERR_UNSUPPORTED,
                    "option 'dtype'%s: %s-quantised layer (%s) is not supported by ckeras", where,
                    mode, cls);
}

/* A policy name: a dtype ("float32") or "mixed_<compute dtype>". */
static ck_status check_policy_name(const char *where, const char *name)
{
    const char *from = strstr(name, "_from_");
    if (from) {
        char mode[16];
        snprintf(mode, sizeof mode, "%.*s", (int)(from - name), name);
        return quantized(where, mode,
                         strcmp(mode, "float8") == 0 ? "QuantizedFloat8DTypePolicy"
                                                     : "QuantizedDTypePolicy");
    }
    const char *compute = strncmp(name, "mixed_", 6) == 0 ? name + 6 : name;
    if (strcmp(compute, "float32") == 0)
        return CK_OK;
    return ck_error(CK_ERR_UNSUPPORTED,
                    "option 'dtype'%s = '%s': the layer computes in %s; ckeras computes "
                    "in float32 only",
                    where, name, compute);
}

static ck_status check_policy(const char *where, const cJSON *dtype);

/* DTypePolicyMap: {"default_policy": ..., "policy_map": {path: policy}}. */
static ck_status check_policy_map(const char *where, const cJSON *cfg)
{
    const cJSON *map = ck_json_get(cfg, "policy_map"), *p;
    CK_TRY(check_policy(where, ck_json_get(cfg, "default_policy")));
    if (cJSON_IsObject(ck_json_get(map, "config")))
        map = ck_json_get(map, "config");
    cJSON_ArrayForEach(p, map)
    {
        char where[CK_NAME_MAX + 16];
        snprintf(where, sizeof where, " of '%s'", p->string ? p->string : "?");
        CK_TRY(check_policy(where, p));
    }
    return CK_OK;
}

static ck_status check_policy(const char *where, const cJSON *dtype)
{
    if (!dtype)
        return CK_OK;
    if (cJSON_IsString(dtype))
        return check_policy_name(where, dtype->valuestring);
    const char *cls = ck_json_str(dtype, "class_name");
    const cJSON *cfg = ck_json_get(dtype, "config");
    if (!cJSON_IsObject(dtype) || !cls)
        return ck_error(CK_ERR_FORMAT, "option 'dtype'%s is neither a name nor a dtype policy",
                        where);
    /* Every quantized policy, known or newer (TernaryDTypePolicy), has a
     * mode; none has a name. */
    const char *mode = ck_json_str(cfg, "mode");
    if (is_quantized_class(cls) || mode)
        return quantized(where, mode ? mode : "a", cls);
    if (strcmp(cls, "DTypePolicyMap") == 0)
        return check_policy_map(where, cfg);
    const char *name = ck_json_str(cfg, "name");
    if (!name)
        return ck_error(CK_ERR_UNSUPPORTED,
                        "option 'dtype'%s: dtype policy %s without a name is not supported by "
                        "ckeras",
                        where, cls);
    return check_policy_name(where, name);
}

ck_status ck_io_check_model_dtype(const ck_io_load *ld, const cJSON *model_cfg)
{
    (void)ld;
    const char *name = ck_json_str(model_cfg, "name");
    ck_status st = check_policy("", ck_json_get(model_cfg, "dtype"));
    return st == CK_OK ? CK_OK : ck_error(st, "model '%s': %s", name ? name : "?", ck_last_error());
}

/* ---------------- names: custom objects ---------------- */

/* The caller's replacement for a custom name, matched as written or
 * without a registration package ("Custom>my_act" -> "my_act"). */
static const char *mapped(const ck_io_load *ld, const char *name)
{
    if (!name)
        return NULL;
    const char *bare = strrchr(name, '>') ? strrchr(name, '>') + 1 : name;
    for (int i = 0; i < ld->opts->n_map; i++) {
        const char *from = ld->opts->map[i].from;
        if (from && (strcmp(from, name) == 0 || strcmp(from, bare) == 0))
            return ld->opts->map[i].to;
    }
    return NULL;
}

/* The name of a serialized function or class: "relu", a Keras 3 function
 * object {"class_name": "function", "config": "my_act"}, a registered
 * class {"class_name": "MyInit", "registered_name": "Custom>MyInit"}. */
static const char *object_name(const cJSON *v)
{
    if (cJSON_IsString(v))
        return v->valuestring;
    const char *cls = ck_json_str(v, "class_name");
    const cJSON *cfg = ck_json_get(v, "config");
    if (cls && (strcmp(cls, "function") == 0 || strcmp(cls, "__lambda__") == 0) &&
        cJSON_IsString(cfg))
        return cfg->valuestring;
    const char *registered = ck_json_str(v, "registered_name");
    return registered ? registered : cls;
}

/* Puts value in item's place; *item then points at it. */
static ck_status replace(cJSON *cfg, cJSON **item, cJSON *value)
{
    cJSON *now = ck_json_replace(cfg, *item, value);
    if (!now)
        return ck_error(CK_ERR_MEMORY, "out of memory reading the config of '%s'", (*item)->string);
    *item = now;
    return CK_OK;
}

static ck_status map_activation(const ck_io_load *ld, cJSON *cfg, cJSON **v)
{
    const char *to = mapped(ld, object_name(*v));
    return to ? replace(cfg, v, cJSON_CreateString(to)) : CK_OK;
}

/* Initializers only matter for weights that are not loaded: one ckeras
 * cannot read becomes the layer's default, with a warning. */
static ck_status prepare_initializer(ck_io_load *ld, const char *layer, cJSON *cfg, cJSON **v)
{
    const char *name = object_name(*v);
    const char *to = name ? mapped(ld, name) : NULL;
    if (to)
        return replace(cfg, v, cJSON_CreateString(to));
    ck_init probe;
    if (ck_init_from_json(*v, &probe) == CK_OK)
        return CK_OK;
    ck_clear_error();
    ck_status st = ck_model_warn(ld->model, "layer '%s': %s '%s' is not one ckeras knows; %s",
                                 layer, (*v)->string, name ? name : "?",
                                 ld->weights_follow ? "not needed, the weights come from the file"
                                                    : "the layer's default initializer is used");
    return st == CK_OK ? replace(cfg, v, cJSON_CreateNull()) : st;
}

static bool is_activation_key(const char *key)
{
    return strcmp(key, "activation") == 0 || strcmp(key, "recurrent_activation") == 0;
}

static bool is_wrapped_key(const char *key)
{
    return strcmp(key, "layer") == 0 || strcmp(key, "backward_layer") == 0;
}

static ck_status set_string(cJSON *cfg, const char *key, const char *value)
{
    cJSON *v = cJSON_CreateString(value);
    if (!v)
        return ck_error(CK_ERR_MEMORY, "out of memory reading the model config");
    cJSON_DeleteItemFromObjectCaseSensitive(cfg, key);
    cJSON_AddItemToObject(cfg, key, v);
    return CK_OK;
}

ck_status ck_io_cudnn_as_plain(const char **cls, cJSON *cfg)
{
    bool lstm = strcmp(*cls, "CuDNNLSTM") == 0, gru = strcmp(*cls, "CuDNNGRU") == 0;
    if (!lstm && !gru)
        return CK_OK;
    CK_TRY(set_string(cfg, "activation", "tanh"));
    CK_TRY(set_string(cfg, "recurrent_activation", "sigmoid"));
    if (gru) {
        cJSON_DeleteItemFromObjectCaseSensitive(cfg, "reset_after");
        if (!cJSON_AddTrueToObject(cfg, "reset_after"))
            return ck_error(CK_ERR_MEMORY, "out of memory reading the model config");
    }
    *cls = lstm ? "LSTM" : "GRU";
    return CK_OK;
}

static ck_status prepare_wrapped(ck_io_load *ld, const char *layer, cJSON *entry)
{
    const char *cls = ck_json_str(entry, "class_name");
    cJSON *cfg = cJSON_GetObjectItemCaseSensitive(entry, "config");
    if (!cls || !cJSON_IsObject(cfg))
        return CK_OK;
    const char *given = cls;
    CK_TRY(ck_io_cudnn_as_plain(&cls, cfg));
    if (cls != given)
        CK_TRY(set_string(entry, "class_name", cls));
    const char *inner = ck_json_str(cfg, "name");
    char path[2 * CK_NAME_MAX + 2];
    snprintf(path, sizeof path, "%s/%s", layer, inner ? inner : cls);
    return ck_io_prepare_layer(ld, path, cls, cfg);
}

/* Keras 3.1+ saves a LoRA layer (lora_rank, 3.10+ also lora_alpha) to
 * .keras and .weights.h5 with the low-rank product merged into the kernel,
 * and loading zeroes the factors: the layer computes as the plain one. A
 * legacy .h5 stores the factors apart, as weights of their own. */
static ck_status prepare_lora(ck_io_load *ld, const char *layer, cJSON *cfg)
{
    const cJSON *rank = cJSON_GetObjectItemCaseSensitive(cfg, "lora_rank");
    bool on = cJSON_IsNumber(rank) && rank->valuedouble != 0;
    if (on && ld->weights_follow && ld->legacy_weights) {
        char note[64];
        ck_io_writer_note(ld, note, sizeof note);
        return ck_error(CK_ERR_UNSUPPORTED,
                        "layer '%s': LoRA (lora_rank = %g) in a legacy .h5 keeps the low-rank "
                        "factors apart from the kernel, which ckeras does not merge%s; saved as "
                        ".keras, Keras stores the merged kernel",
                        layer, rank->valuedouble, note);
    }
    if (on || cJSON_IsNull(rank) || (cJSON_IsNumber(rank) && rank->valuedouble == 0)) {
        cJSON_DeleteItemFromObjectCaseSensitive(cfg, "lora_rank");
        cJSON_DeleteItemFromObjectCaseSensitive(cfg, "lora_alpha");
    }
    return CK_OK;
}

ck_status ck_io_prepare_layer(ck_io_load *ld, const char *layer, const char *class_name, cJSON *cfg)
{
    CK_TRY(prepare_lora(ld, layer, cfg));
    /* An InputLayer's dtype is the type of the data fed in, not a policy. */
    if (strcmp(class_name, "InputLayer") != 0)
        CK_TRY(check_policy("", ck_json_get(cfg, "dtype")));
    for (cJSON *v = cfg->child; v; v = v->next) {
        const char *key = v->string;
        if (!key || cJSON_IsNull(v))
            continue;
        if (is_activation_key(key))
            CK_TRY(map_activation(ld, cfg, &v));
        else if (ck_str_ends_with(key, "_initializer"))
            CK_TRY(prepare_initializer(ld, layer, cfg, &v));
        else if (is_wrapped_key(key) && cJSON_IsObject(v))
            CK_TRY(prepare_wrapped(ld, layer, v));
    }
    return CK_OK;
}

/* A regularizer or constraint ckeras cannot compute (OrthogonalRegularizer,
 * a custom class) changes nothing at inference; it is kept for saving and
 * training refuses it. */
static ck_status warn_rule(ck_model *m, const ck_layer *l, const ck_weight_rule *r)
{
    if (r->reg.kind == CK_REG_OTHER)
        CK_TRY(ck_model_warn(
            m, "layer '%s': %s_regularizer %s is kept but not computed; fit refuses it", l->name,
            r->key, ck_reg_class_name(&r->reg)));
    if (r->con.kind == CK_CON_OTHER)
        CK_TRY(ck_model_warn(m,
                             "layer '%s': %s_constraint %s is kept but not applied; fit refuses it",
                             l->name, r->key, ck_con_class_name(&r->con)));
    return CK_OK;
}

ck_status ck_io_warn_kept_rules(ck_model *m)
{
    for (int i = 0; i < m->n_layers; i++) {
        const ck_layer *l = m->layers[i];
        const ck_weight_rule *seen[CK_MAX_WEIGHTS];
        int n_seen = 0;
        if (l->activity.kind == CK_REG_OTHER)
            CK_TRY(ck_model_warn(
                m, "layer '%s': activity_regularizer %s is kept but not computed; fit refuses it",
                l->name, ck_reg_class_name(&l->activity)));
        for (int k = 0; k < l->n_weights; k++) {
            const ck_weight_rule *r = l->weights[k].rule;
            bool dup = false;
            for (int j = 0; r && j < n_seen; j++)
                dup = dup || seen[j] == r;
            if (!r || dup)
                continue;
            seen[n_seen++] = r;
            CK_TRY(warn_rule(m, l, r));
        }
    }
    return CK_OK;
}
