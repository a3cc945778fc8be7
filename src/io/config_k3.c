/* Keras 3 config.json for .keras archives, derived from the Keras 2
 * model_config: Keras 3 adds "module" and "registered_name" to every
 * serialized object, a build_config with the input shape of each layer,
 * and renames a few fields (InputLayer batch_input_shape -> batch_shape). */
#include "ck_io.h"

#include <string.h>

/* Module of an object nested in a layer config, by the key holding it. */
static const char *nested_module(const char *key)
{
    if (ck_str_ends_with(key, "_initializer"))
        return "keras.initializers";
    if (ck_str_ends_with(key, "_regularizer"))
        return "keras.regularizers";
    if (ck_str_ends_with(key, "_constraint"))
        return "keras.constraints";
    if (strcmp(key, "layer") == 0 || strcmp(key, "backward_layer") == 0)
        return "keras.layers";
    return NULL;
}

/* Every object Keras 3 serializes names its module; registered_name is
 * null for built-in classes. */
static bool tag_object(cJSON *obj, const char *module)
{
    /* An object kept as a file wrote it (a custom regularizer) has them. */
    if (cJSON_GetObjectItemCaseSensitive(obj, "module"))
        return true;
    return cJSON_AddStringToObject(obj, "module", module) &&
           cJSON_AddNullToObject(obj, "registered_name");
}

static bool convert_layer_config(cJSON *cfg, const char *cls);

static bool convert_nested(cJSON *cfg)
{
    for (cJSON *v = cfg->child; v; v = v->next) {
        const char *module = v->string ? nested_module(v->string) : NULL;
        if (!module || !cJSON_IsObject(v) || !cJSON_GetObjectItemCaseSensitive(v, "class_name"))
            continue;
        if (!tag_object(v, module))
            return false;
        cJSON *inner = cJSON_GetObjectItemCaseSensitive(v, "config");
        const cJSON *cls = cJSON_GetObjectItemCaseSensitive(v, "class_name");
        if (strcmp(module, "keras.layers") == 0 && cJSON_IsObject(inner) && cJSON_IsString(cls) &&
            !convert_layer_config(inner, cls->valuestring))
            return false;
    }
    return true;
}

static bool rename_key(cJSON *obj, const char *from, const char *to)
{
    cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(obj, from);
    return !v || cJSON_AddItemToObject(obj, to, v);
}

static bool convert_layer_config(cJSON *cfg, const char *cls)
{
    /* tf.keras 2's time_major option does not exist in Keras 3. */
    cJSON_DeleteItemFromObjectCaseSensitive(cfg, "time_major");
    /* tf.keras writes BatchNormalization's axis as a list; Keras 3 takes
     * an int there. */
    cJSON *axis = cJSON_GetObjectItemCaseSensitive(cfg, "axis");
    if (strcmp(cls, "BatchNormalization") == 0 && cJSON_IsArray(axis) &&
        cJSON_GetArraySize(axis) == 1) {
        cJSON *only = cJSON_CreateNumber(cJSON_GetArrayItem(axis, 0)->valuedouble);
        if (!only || !cJSON_ReplaceItemInObjectCaseSensitive(cfg, "axis", only)) {
            cJSON_Delete(only);
            return false;
        }
    }
    return convert_nested(cfg);
}

static cJSON *shape_json(const ck_shape *s)
{
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; arr && i < s->rank; i++) {
        cJSON *d = s->dims[i] < 0 ? cJSON_CreateNull() : cJSON_CreateNumber((double)s->dims[i]);
        if (!cJSON_AddItemToArray(arr, d)) {
            cJSON_Delete(d);
            cJSON_Delete(arr);
            return NULL;
        }
    }
    return arr;
}

static bool add_build_config(cJSON *entry, const ck_shape *in_shape)
{
    cJSON *bc = cJSON_AddObjectToObject(entry, "build_config");
    cJSON *shape = bc ? shape_json(in_shape) : NULL;
    if (!shape || !cJSON_AddItemToObject(bc, "input_shape", shape)) {
        cJSON_Delete(shape);
        return false;
    }
    return true;
}

/* Keras 3.3's InputLayer config is exactly batch_shape, dtype, sparse, name. */
static bool convert_input(cJSON *cfg)
{
    cJSON_DeleteItemFromObjectCaseSensitive(cfg, "ragged");
    cJSON_DeleteItemFromObjectCaseSensitive(cfg, "trainable");
    return rename_key(cfg, "batch_input_shape", "batch_shape");
}

/* Keras 3 has no ThresholdedReLU; its ReLU with the threshold theta and
 * no slope computes the same x * (x > theta), so the file loads there. */
static bool thresholded_as_relu(cJSON *entry, cJSON *cfg)
{
    cJSON *cls = cJSON_CreateString("ReLU");
    if (!cls || !cJSON_ReplaceItemInObjectCaseSensitive(entry, "class_name", cls)) {
        cJSON_Delete(cls);
        return false;
    }
    return rename_key(cfg, "theta", "threshold") && cJSON_AddNullToObject(cfg, "max_value") &&
           cJSON_AddNumberToObject(cfg, "negative_slope", 0);
}

static bool convert_entry(cJSON *entry, const ck_layer *l, bool is_input)
{
    cJSON *cfg = cJSON_GetObjectItemCaseSensitive(entry, "config");
    if (!is_input && strcmp(l->ops->class_name, "ThresholdedReLU") == 0 &&
        !thresholded_as_relu(entry, cfg))
        return false;
    bool ok = tag_object(entry, "keras.layers") &&
              (is_input ? convert_input(cfg) : convert_layer_config(cfg, l->ops->class_name));
    return ok && (is_input || add_build_config(entry, &l->in_shape));
}

cJSON *ck_io_model_config_k3(const ck_model *m)
{
    cJSON *root = ck_io_model_config(m);
    if (!root)
        return NULL;
    cJSON *cfg = cJSON_GetObjectItemCaseSensitive(root, "config");
    cJSON *layers = cJSON_GetObjectItemCaseSensitive(cfg, "layers");
    bool ok = tag_object(root, "keras") && cJSON_AddBoolToObject(cfg, "trainable", true) &&
              cJSON_AddStringToObject(cfg, "dtype", "float32");
    int i = -1;
    for (cJSON *entry = layers ? layers->child : NULL; ok && entry; entry = entry->next, i++)
        ok = convert_entry(entry, i < 0 ? m->input : m->layers[i], i < 0);
    ok = ok && add_build_config(root, &m->input->out_shape);
    if (!ok) {
        cJSON_Delete(root);
        ck_error(CK_ERR_MEMORY, "out of memory writing the Keras 3 config of model %s", m->name);
        return NULL;
    }
    return root;
}

/* Keras 3 rejects the Keras 2 loss reduction "auto" and ignores decay. */
static bool convert_loss(cJSON *loss)
{
    cJSON *cfg = cJSON_GetObjectItemCaseSensitive(loss, "config");
    if (!cJSON_IsObject(loss) || !cfg)
        return true;
    cJSON_DeleteItemFromObjectCaseSensitive(cfg, "reduction");
    return cJSON_AddStringToObject(cfg, "reduction", "sum_over_batch_size") &&
           tag_object(loss, "keras.losses");
}

static bool convert_training(cJSON *tc)
{
    cJSON *opt = cJSON_DetachItemFromObjectCaseSensitive(tc, "optimizer_config");
    if (!opt || !cJSON_AddItemToObject(tc, "optimizer", opt)) {
        cJSON_Delete(opt);
        return false;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(opt, "config"),
                                            "decay");
    return tag_object(opt, "keras.optimizers") &&
           convert_loss(cJSON_GetObjectItemCaseSensitive(tc, "loss")) &&
           cJSON_AddFalseToObject(tc, "run_eagerly") &&
           cJSON_AddNumberToObject(tc, "steps_per_execution", 1) &&
           cJSON_AddFalseToObject(tc, "jit_compile");
}

ck_status ck_io_add_compile_config_k3(const ck_model *m, cJSON *root)
{
    if (!m->train)
        return CK_OK;
    cJSON *tc = ck_train_config_to_json(m);
    if (!tc)
        return ck_error_status() != CK_OK ? ck_error_status() : CK_ERR_MEMORY;
    if (!convert_training(tc) || !cJSON_AddItemToObject(root, "compile_config", tc)) {
        cJSON_Delete(tc);
        return ck_error(CK_ERR_MEMORY, "out of memory writing the compile config of model %s",
                        m->name);
    }
    return CK_OK;
}
