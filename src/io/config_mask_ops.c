/* Keras 3 Functional graphs record the mask of Masking and of
 * Embedding(mask_zero=True) as op entries: compute_mask runs
 * ops.not_equal (and ops.any for Masking) on the layer's input, and the
 * next RNN receives the result as its "mask" keyword. ckeras derives those
 * masks itself, so such entries are dropped once it is clear that they
 * compute exactly that mask and nothing else. */
#include "ck_io.h"
#include "ck_rnn.h"

#include <math.h>
#include <stdlib.h>
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

/* The ops computing the mask named by a layer's "mask" keyword: NotEqual
 * (*ne) and maybe Any (*any, else -1). Returns the Masking or Embedding
 * layer whose mask they recompute, NULL when they compute another one. */
static const cJSON *mask_maker(const cJSON *const *entries, int n, int k, int *ne, int *any)
{
    *any = is_any_last_axis(entries[k]) ? k : -1;
    *ne = *any >= 0 ? find(entries, n, arg_source(entries[k], 0)) : k;
    const cJSON *args = *ne >= 0 ? ck_json_get(first_node(entries[*ne]), "args") : NULL;
    const cJSON *value = cJSON_GetArrayItem(args, 1);
    const char *root = *ne >= 0 ? arg_source(entries[*ne], 0) : NULL;
    const cJSON *maker = root ? consumer_of(entries, n, root) : NULL;
    if (*ne < 0 || strcmp(class_of(entries[*ne]), "NotEqual") != 0 ||
        cJSON_GetArraySize(args) != 2 || !cJSON_IsNumber(value) || !maker ||
        !derives(maker, value->valuedouble, *any >= 0))
        return NULL;
    return maker;
}

/* The op entry named by a layer's "mask" keyword, or an error. */
static ck_status mask_entry(const cJSON *const *entries, int n, const char *layer, const char *mask,
                            int *k)
{
    *k = find(entries, n, mask);
    if (*k < 0 || !is_op_entry(entries[*k]))
        return ck_error(CK_ERR_UNSUPPORTED,
                        "layer '%s' takes an explicit mask from '%s'; ckeras derives "
                        "masks only from Masking and Embedding(mask_zero=True)",
                        layer, mask ? mask : "?");
    return CK_OK;
}

/* The mask named by a layer's "mask" keyword must come from ops that
 * recompute what ckeras derives; marks those ops. */
static ck_status check_mask(const cJSON *const *entries, int n, const char *layer, const char *mask,
                            bool *mask_op)
{
    int k, ne, any;
    CK_TRY(mask_entry(entries, n, layer, mask, &k));
    if (!mask_maker(entries, n, k, &ne, &any))
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

static const cJSON *find_layer(const cJSON *const *entries, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!is_op_entry(entries[i]) && ck_io_layer_name(entries[i]) &&
            strcmp(ck_io_layer_name(entries[i]), name) == 0)
            return entries[i];
    return NULL;
}

/* Whether layer l, whose entry is e, makes a mask of its own, as
 * ck_model_forward runs it. */
static bool makes_mask(const ck_layer *l, const cJSON *e)
{
    const char *cls = l->ops->class_name;
    return strcmp(cls, "Masking") == 0 ||
           (strcmp(cls, "Embedding") == 0 &&
            cJSON_IsTrue(ck_json_get(ck_json_get(e, "config"), "mask_zero")));
}

/* Whether l hands its input's mask on, as ck_model_forward does: a layer
 * keeping every axis but the last, a recurrent layer returning
 * sequences. */
static bool passes_mask(const ck_layer *l)
{
    const ck_shape *in = &l->in_shape, *out = &l->out_shape;
    bool rows = in->rank == out->rank;
    for (int a = 1; rows && a < in->rank - 1; a++)
        rows = in->dims[a] == out->dims[a];
    return rows && (l->ops->compute_mask == ck_mask_pass ||
                    (l->ops->compute_mask == ck_rnn_compute_mask && out->rank == 3));
}

/* The mask a layer's "mask" keyword names must be the one ckeras hands
 * that layer: that of the last Masking or Embedding(mask_zero=True)
 * before it, through layers that pass masks on. Keras uses the keyword
 * whatever came between (a Conv1D drops the mask, a second Masking makes
 * another), so a config that differs would predict otherwise. */
static ck_status check_flow(const cJSON *const *entries, int n, const ck_model *m)
{
    const char *flowing = NULL;
    for (int i = 0; i < m->n_layers; i++) {
        const ck_layer *l = m->layers[i];
        const cJSON *e = find_layer(entries, n, l->name);
        int k, ne, any;
        const char *mask = e ? ck_io_mask_source(ck_json_get(first_node(e), "kwargs")) : NULL;
        const cJSON *maker = NULL;
        if (mask && mask_entry(entries, n, l->name, mask, &k) == CK_OK)
            maker = mask_maker(entries, n, k, &ne, &any);
        const char *wanted = maker ? ck_io_layer_name(maker) : NULL;
        if (mask && (!wanted || !flowing || strcmp(wanted, flowing) != 0))
            return ck_error(CK_ERR_UNSUPPORTED,
                            "layer '%s' takes the mask of '%s', but the mask reaching it along "
                            "the chain is %s%s%s; ckeras cannot give it another",
                            l->name, wanted ? wanted : "?", flowing ? "that of '" : "none",
                            flowing ? flowing : "", flowing ? "'" : "");
        if (makes_mask(l, e))
            flowing = l->name;
        else if (!passes_mask(l))
            flowing = NULL;
    }
    return CK_OK;
}

ck_status ck_io_check_mask_flow(const cJSON *layers, const ck_model *m)
{
    int n = cJSON_GetArraySize(layers), i = 0;
    const cJSON **entries = ck_alloc(n ? (size_t)n : 1, sizeof *entries), *entry;
    if (!entries)
        return CK_ERR_MEMORY;
    cJSON_ArrayForEach(entry, layers)
    {
        entries[i++] = entry;
    }
    ck_status st = check_flow(entries, n, m);
    free(entries);
    return st;
}
