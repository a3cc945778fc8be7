/* Keras 3 Functional graphs record the mask of Masking and of
 * Embedding(mask_zero=True) as op entries: compute_mask runs
 * ops.not_equal (and ops.any for Masking) on the layer's input, and the
 * next RNN receives the result as its "mask" keyword. ckeras derives those
 * masks itself, so such entries are dropped once it is clear that they
 * compute exactly that mask and nothing else. */
#include "ck_io.h"

#include <math.h>
#include <string.h>

static const char *entry_name(const cJSON *entry)
{
    const char *name = ck_json_str(entry, "name");
    return name ? name : ck_json_str(ck_json_get(entry, "config"), "name");
}

/* Operations (keras.src.ops.*) are serialized like layers but are not
 * layers. */
static bool is_op_entry(const cJSON *entry)
{
    const char *module = ck_json_str(entry, "module");
    return module && strncmp(module, "keras.src.ops.", 14) == 0;
}

static const cJSON *first_node(const cJSON *entry)
{
    const cJSON *node = cJSON_GetArrayItem(ck_json_get(entry, "inbound_nodes"), 0);
    return cJSON_IsObject(node) ? node : NULL;
}

/* The producer named by a serialized Keras 3 tensor argument. */
static const char *tensor_source(const cJSON *arg)
{
    if (!cJSON_IsObject(arg) || !cJSON_IsString(ck_json_get(arg, "class_name")) ||
        strcmp(ck_json_str(arg, "class_name"), "__keras_tensor__") != 0)
        return NULL;
    const cJSON *name = cJSON_GetArrayItem(ck_json_get(ck_json_get(arg, "config"), "keras_history"),
                                           0);
    return cJSON_IsString(name) ? name->valuestring : NULL;
}

const char *ck_io_mask_source(const cJSON *kwargs)
{
    return tensor_source(ck_json_get(kwargs, "mask"));
}

static const char *arg_source(const cJSON *entry, int i)
{
    return tensor_source(cJSON_GetArrayItem(ck_json_get(first_node(entry), "args"), i));
}

static int find(const cJSON *const *entries, int n, const char *name)
{
    for (int i = 0; name && i < n; i++)
        if (entry_name(entries[i]) && strcmp(entry_name(entries[i]), name) == 0)
            return i;
    return -1;
}

static const char *class_of(const cJSON *entry)
{
    const char *cls = ck_json_str(entry, "class_name");
    return cls ? cls : "?";
}

/* Any(axis=-1, keepdims=False): one value per step, as Masking's mask. */
static bool is_any_last_axis(const cJSON *op)
{
    const cJSON *cfg = ck_json_get(op, "config"), *axis = ck_json_get(cfg, "axis");
    if (cJSON_IsArray(axis) && cJSON_GetArraySize(axis) == 1)
        axis = cJSON_GetArrayItem(axis, 0);
    return strcmp(class_of(op), "Any") == 0 && cJSON_IsNumber(axis) && axis->valuedouble == -1 &&
           !cJSON_IsTrue(ck_json_get(cfg, "keepdims"));
}

/* The layer (not op) whose input is the tensor `source`. */
static const cJSON *consumer_of(const cJSON *const *entries, int n, const char *source)
{
    for (int i = 0; i < n; i++) {
        const char *src = arg_source(entries[i], 0);
        if (!is_op_entry(entries[i]) && src && strcmp(src, source) == 0)
            return entries[i];
    }
    return NULL;
}

/* Whether `layer` makes the mask NotEqual(its input, value) [+ Any]. */
static bool derives(const cJSON *layer, double value, bool with_any)
{
    const cJSON *cfg = ck_json_get(layer, "config");
    const char *cls = class_of(layer);
    if (strcmp(cls, "Masking") == 0) {
        const cJSON *mv = ck_json_get(cfg, "mask_value");
        return with_any && fabs((cJSON_IsNumber(mv) ? mv->valuedouble : 0.0) - value) == 0;
    }
    return strcmp(cls, "Embedding") == 0 && !with_any &&
           cJSON_IsTrue(ck_json_get(cfg, "mask_zero")) && value == 0;
}

/* The mask named by a layer's "mask" keyword must come from ops that
 * recompute what ckeras derives; marks those ops. */
static ck_status check_mask(const cJSON *const *entries, int n, const char *layer, const char *mask,
                            bool *mask_op)
{
    int k = find(entries, n, mask);
    if (k < 0 || !is_op_entry(entries[k]))
        return ck_error(CK_ERR_UNSUPPORTED,
                        "layer '%s' takes an explicit mask from '%s'; ckeras derives "
                        "masks only from Masking and Embedding(mask_zero=True)",
                        layer, mask ? mask : "?");
    int any = is_any_last_axis(entries[k]) ? k : -1;
    int ne = any >= 0 ? find(entries, n, arg_source(entries[k], 0)) : k;
    const cJSON *args = ne >= 0 ? ck_json_get(first_node(entries[ne]), "args") : NULL;
    const cJSON *value = cJSON_GetArrayItem(args, 1);
    const char *root = ne >= 0 ? arg_source(entries[ne], 0) : NULL;
    const cJSON *maker = root ? consumer_of(entries, n, root) : NULL;
    if (ne < 0 || strcmp(class_of(entries[ne]), "NotEqual") != 0 || cJSON_GetArraySize(args) != 2 ||
        !cJSON_IsNumber(value) || !maker || !derives(maker, value->valuedouble, any >= 0))
        return ck_error(
            CK_ERR_UNSUPPORTED,
            "layer '%s' takes its mask from op '%s' (%s), which is not the "
            "mask of a Masking or Embedding(mask_zero=True) layer; ckeras cannot compute it",
            layer, mask, class_of(entries[k]));
    mask_op[ne] = true;
    if (any >= 0)
        mask_op[any] = true;
    return CK_OK;
}

ck_status ck_io_find_mask_ops(const cJSON *const *entries, int n, bool *mask_op)
{
    for (int i = 0; i < n; i++) {
        const char *mask = ck_io_mask_source(ck_json_get(first_node(entries[i]), "kwargs"));
        if (mask && !is_op_entry(entries[i]))
            CK_TRY(check_mask(entries, n, entry_name(entries[i]), mask, mask_op));
    }
    for (int i = 0; i < n; i++)
        if (is_op_entry(entries[i]) && !mask_op[i])
            return ck_error(CK_ERR_UNSUPPORTED, "op '%s' (%s from %s) is not supported by ckeras",
                            entry_name(entries[i]) ? entry_name(entries[i]) : "?",
                            class_of(entries[i]), ck_json_str(entries[i], "module"));
    return CK_OK;
}
