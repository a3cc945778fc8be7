/* Keras model configs <-> models: model_config attributes, model.to_json()
 * and Keras 3 config.json. Sequential models and Functional models that
 * are one chain of layers are accepted; everything else is refused with a
 * message naming what is not supported. */
#include "ck_io.h"
#include "ck_layers.h"

#include <stdlib.h>
#include <string.h>

const char *ck_io_keras_version(ck_keras_semantics semantics)
{
    return semantics == CK_KERAS3 ? CK_IO_KERAS3_VERSION : CK_IO_KERAS2_VERSION;
}

ck_keras_semantics ck_io_semantics_of(const char *keras_version)
{
    long major = keras_version ? strtol(keras_version, NULL, 10) : 2;
    return major >= 3 ? CK_KERAS3 : CK_KERAS2;
}

/* Whether arrays and objects nest deeper than cJSON accepts (brackets
 * inside strings do not count). */
static bool nests_too_deep(const char *text, size_t len)
{
    int depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > CJSON_NESTING_LIMIT)
                return true;
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return false;
}

/* Only whitespace may follow the value: Python's json.loads, which Keras
 * uses, refuses anything else, so such text is not what Keras wrote. */
static ck_status check_json_end(const char *subject, const char *text, size_t len, const char *end,
                                cJSON **out)
{
    size_t at = (size_t)(end - text);
    while (at < len && strchr(" \t\r\n", text[at]) && text[at])
        at++;
    if (at == len)
        return CK_OK;
    cJSON_Delete(*out);
    *out = NULL;
    return ck_error(CK_ERR_FORMAT, "%s has %s after its JSON value (byte %zu of %zu)", subject,
                    text[at] ? "trailing bytes" : "a NUL byte", at, len);
}

static int by_key(const void *a, const void *b)
{
    return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

/* The first key that v's object holds twice, or NULL; *err on no memory. */
static const char *twice_in(const cJSON *v, bool *err)
{
    int n = cJSON_GetArraySize(v), k = 0;
    const cJSON **keys = n > 1 ? ck_alloc((size_t)n, sizeof *keys) : NULL, *item;
    if (!keys) {
        *err = n > 1;
        return NULL;
    }
    cJSON_ArrayForEach(item, v) keys[k++] = item;
    qsort(keys, (size_t)n, sizeof *keys, by_key);
    const char *dup = NULL;
    for (k = 1; k < n && !dup; k++)
        if (by_key(&keys[k - 1], &keys[k]) == 0)
            dup = keys[k]->string;
    free(keys);
    return dup;
}

/* Python's json.loads keeps the last of two equal keys in an object and
 * cJSON finds the first, so such a config means one thing to Keras and
 * another to ckeras (an "activation" given twice); Keras never writes
 * one. */
static ck_status check_unique_keys(const char *subject, const cJSON *v)
{
    const cJSON *item;
    bool err = false;
    const char *dup = cJSON_IsObject(v) ? twice_in(v, &err) : NULL;
    if (err)
        return ck_error(CK_ERR_MEMORY, "out of memory reading %s", subject);
    if (dup)
        return ck_error(CK_ERR_FORMAT,
                        "%s has the key '%.200s' twice in one object (Python would read the "
                        "last, ckeras the first)",
                        subject, dup);
    cJSON_ArrayForEach(item, v)
    {
        CK_TRY(check_unique_keys(subject, item));
    }
    return CK_OK;
}

/* cJSON ends a string at an escaped NUL ("\u0000") where Python keeps the
 * rest: a name or an option would lose its tail and mean something else
 * than in Keras. No Keras file has one. */
static ck_status check_no_escaped_nul(const char *subject, const char *text, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (text[i] != '\\')
            continue;
        if (i + 6 <= len && strncmp(text + i + 1, "u0000", 5) == 0)
            return ck_error(CK_ERR_FORMAT, "%s holds an escaped NUL (\\u0000) at byte %zu", subject,
                            i);
        i++; /* the escaped character, which may be a backslash */
    }
    return CK_OK;
}

ck_status ck_io_parse_json(const char *subject, const char *text, size_t len, cJSON **out)
{
    *out = NULL;
    if (len > CK_IO_MAX_JSON)
        return ck_error(CK_ERR_FORMAT, "%s of %zu bytes exceeds the %u-byte limit", subject, len,
                        CK_IO_MAX_JSON);
    CK_TRY(check_no_escaped_nul(subject, text, len));
    const char *end = NULL;
    *out = cJSON_ParseWithLengthOpts(text, len, &end, false);
    if (*out) {
        ck_status st = check_json_end(subject, text, len, end, out);
        if (st == CK_OK && (st = check_unique_keys(subject, *out)) != CK_OK) {
            cJSON_Delete(*out);
            *out = NULL;
        }
        return st;
    }
    if (nests_too_deep(text, len))
        return ck_error(CK_ERR_FORMAT, "%s nests arrays and objects more than %d levels deep",
                        subject, CJSON_NESTING_LIMIT);
    return ck_error(CK_ERR_FORMAT, "%s is not valid JSON (error near byte %ld)", subject,
                    end ? (long)(end - text) : -1L);
}

/* ---------------- layers ---------------- */

const char *ck_io_layer_name(const cJSON *entry)
{
    const char *name = ck_json_str(ck_json_get(entry, "config"), "name");
    return name ? name : ck_json_str(entry, "name");
}

static const char *entry_name(const cJSON *entry)
{
    const char *name = ck_io_layer_name(entry);
    return name ? name : "?";
}

static ck_status create_layer(const cJSON *entry, int index, ck_io_load *ld, ck_layer **out)
{
    const char *cls = ck_json_str(entry, "class_name");
    const cJSON *cfg = ck_json_get(entry, "config");
    *out = NULL;
    if (!cls || !cJSON_IsObject(cfg))
        return ck_error(CK_ERR_FORMAT, "layer #%d of the model config has no class_name or config",
                        index);
    cJSON *ready = cJSON_Duplicate(cfg, true);
    ck_status st = ready ? ck_io_cudnn_as_plain(&cls, ready)
                         : ck_error(CK_ERR_MEMORY, "out of memory reading the model config");
    if (st == CK_OK && !ck_layer_ops_find(cls)) {
        cJSON_Delete(ready);
        return ck_error(CK_ERR_UNSUPPORTED,
                        "layer #%d '%s': layer class '%s' is not supported by ckeras", index,
                        entry_name(entry), cls);
    }
    if (st == CK_OK)
        st = ck_io_prepare_layer(ld, entry_name(entry), cls, ready);
    if (st == CK_OK)
        *out = ck_layer_from_config(cls, ready, ld->semantics);
    cJSON_Delete(ready);
    if (*out)
        return CK_OK;
    st = ck_error_status() != CK_OK ? ck_error_status() : CK_ERR_FORMAT;
    return ck_error(st, "layer #%d '%s' (%s): %s", index, entry_name(entry), cls, ck_last_error());
}

static ck_status add_entry(ck_model *m, const cJSON *entry, int index, ck_io_load *ld)
{
    ck_layer *l;
    CK_TRY(create_layer(entry, index, ld, &l));
    return ck_model_add(m, l);
}

static bool is_input(const cJSON *entry)
{
    const char *cls = ck_json_str(entry, "class_name");
    return cls && strcmp(cls, "InputLayer") == 0;
}

/* Keras 2 Sequential configs without an InputLayer carry the input shape
 * on the first layer, or (a model built with model.build(shape), tf.keras
 * 2.0-2.3) as the model's build_input_shape; Keras names the implicit input
 * "<layer>_input". */
static ck_status add_implicit_input(ck_model *m, const cJSON *first, const cJSON *model_cfg,
                                    ck_io_load *ld)
{
    const cJSON *cfg = ck_json_get(first, "config");
    const cJSON *shape = ck_json_get(cfg, "batch_input_shape");
    if (!shape)
        shape = ck_json_get(cfg, "batch_shape");
    if (!shape && cJSON_IsObject(model_cfg))
        shape = ck_json_get(model_cfg, "build_input_shape");
    if (!shape)
        return ck_error(CK_ERR_UNSUPPORTED,
                        "model config has no input shape (no InputLayer, no batch_input_shape on "
                        "its first layer '%s' and no build_input_shape); ckeras needs one",
                        entry_name(first));
    cJSON *in_cfg = cJSON_CreateObject();
    char name[CK_NAME_MAX + 8];
    snprintf(name, sizeof name, "%s_input", entry_name(first));
    if (in_cfg) {
        cJSON_AddItemToObject(in_cfg, "batch_input_shape", cJSON_Duplicate(shape, true));
        if (strlen(name) < CK_NAME_MAX)
            cJSON_AddStringToObject(in_cfg, "name", name);
    }
    cJSON *entry = cJSON_CreateObject();
    if (entry && in_cfg) {
        cJSON_AddStringToObject(entry, "class_name", "InputLayer");
        cJSON_AddItemToObject(entry, "config", in_cfg);
        in_cfg = NULL;
    }
    ck_status st = entry && !in_cfg
                       ? add_entry(m, entry, 0, ld)
                       : ck_error(CK_ERR_MEMORY, "out of memory reading the model config");
    cJSON_Delete(in_cfg);
    cJSON_Delete(entry);
    return st;
}

static ck_status check_layer_list(const cJSON *layers)
{
    if (!cJSON_IsArray(layers))
        return ck_error(CK_ERR_FORMAT, "model config has no 'layers' list");
    int n = cJSON_GetArraySize(layers);
    if (n == 0)
        return ck_error(CK_ERR_FORMAT, "model config has no layers");
    if (n > CK_IO_MAX_LAYERS)
        return ck_error(CK_ERR_FORMAT, "model config has %d layers (more than %d)", n,
                        CK_IO_MAX_LAYERS);
    return CK_OK;
}

static ck_status new_model(const cJSON *cfg, const char *default_name, ck_io_load *ld,
                           ck_model **out)
{
    const char *name = ck_json_str(cfg, "name");
    CK_TRY(ck_io_check_model_dtype(ld, cfg));
    *out = ck_sequential(.name = name ? name : default_name, .semantics = ld->semantics);
    if (!*out)
        return ck_error_status();
    snprintf((*out)->keras_version, sizeof(*out)->keras_version, "%s",
             ld->keras_version ? ld->keras_version : "");
    (*out)->skip_init = ld->weights_follow;
    (*out)->source_bytes = ld->weights_follow ? ld->source_bytes : 0;
    ld->model = *out;
    return CK_OK;
}

/* config is {"name", "layers": [...]}, or the bare list in Keras 2.0.x. */
static ck_status sequential_from_config(const cJSON *cfg, ck_io_load *ld, ck_model **out)
{
    const cJSON *layers = cJSON_IsArray(cfg) ? cfg : ck_json_get(cfg, "layers");
    CK_TRY(check_layer_list(layers));
    CK_TRY(new_model(cJSON_IsObject(cfg) ? cfg : NULL, "sequential", ld, out));
    const cJSON *first = cJSON_GetArrayItem(layers, 0);
    ck_status st = is_input(first) ? CK_OK : add_implicit_input(*out, first, cfg, ld);
    int index = 0;
    const cJSON *entry;
    cJSON_ArrayForEach(entry, layers)
    {
        if (st != CK_OK)
            break;
        /* Keras: every layer of a Sequential model has a single output. */
        if (cJSON_IsTrue(ck_json_get(ck_json_get(entry, "config"), "return_state")))
            return ck_error(CK_ERR_UNSUPPORTED,
                            "layer '%s' has return_state=True: a Sequential model's layers have "
                            "one output each (Keras refuses it too)",
                            entry_name(entry));
        st = add_entry(*out, entry, index++, ld);
    }
    return st;
}

/* ---------------- Functional chains ---------------- */

/* Keyword arguments may carry options (training, mask=None) but no tensors,
 * except a Keras 3 mask that ck_io_find_mask_ops found ckeras derives. */
static ck_status check_kwargs(const cJSON *kwargs, const char *layer)
{
    const cJSON *v;
    cJSON_ArrayForEach(v, kwargs)
    {
        bool derived_mask = v->string && strcmp(v->string, "mask") == 0 &&
                            ck_io_mask_source(kwargs);
        if (!derived_mask && !cJSON_IsNull(v) && !cJSON_IsBool(v) && !cJSON_IsNumber(v) &&
            !cJSON_IsString(v))
            return ck_error(CK_ERR_UNSUPPORTED,
                            "layer '%s' is called with extra argument '%s'; ckeras supports only "
                            "single-chain Functional models",
                            layer, v->string ? v->string : "?");
    }
    return CK_OK;
}

/* Layers whose output in training mode differs from inference: random
 * ones, batch statistics, recurrent dropout; a wrapper by its layer. */
static bool trains_differently(const cJSON *entry)
{
    static const char *const always[] = {
        "BatchNormalization", "SyncBatchNormalization", "Dropout",
        "SpatialDropout1D",   "SpatialDropout2D",       "SpatialDropout3D",
        "GaussianNoise",      "GaussianDropout",        "AlphaDropout"};
    const char *cls = ck_json_str(entry, "class_name");
    const cJSON *config = ck_json_get(entry, "config");
    if (!cls)
        return false;
    for (size_t i = 0; i < sizeof always / sizeof always[0]; i++)
        if (strcmp(cls, always[i]) == 0)
            return true;
    const cJSON *inner = ck_json_get(config, "layer");
    if (cJSON_IsObject(inner))
        return trains_differently(inner);
    const cJSON *dropout = ck_json_get(config, "dropout"),
                *recurrent = ck_json_get(config, "recurrent_dropout");
    return (cJSON_IsNumber(dropout) && dropout->valuedouble > 0) ||
           (cJSON_IsNumber(recurrent) && recurrent->valuedouble > 0);
}

/* Keras 2 keeps a call's training=True in the node and honours it before
 * predict's inference mode (tf.keras base_layer _set_training_mode), so
 * the layer predicts on batch statistics or drops units; Keras 3 lets the
 * outer call decide, which is what ckeras does. */
static ck_status check_keras2_training(const cJSON *entry, const cJSON *kwargs)
{
    if (!cJSON_IsTrue(ck_json_get(kwargs, "training")) || !trains_differently(entry))
        return CK_OK;
    return ck_error(CK_ERR_UNSUPPORTED,
                    "layer '%s' (%s) is called with training=True, so Keras 2 runs it in "
                    "training mode in predict too (batch statistics, dropout); ckeras does not "
                    "support that",
                    entry_name(entry), ck_json_str(entry, "class_name"));
}

/* A node reference [name, node_index, tensor_index, ...]: a tensor other
 * than the first is a state a layer returns (return_state=True). */
static ck_status check_first_output(const cJSON *ref, const char *user, const char *producer)
{
    const cJSON *index = cJSON_GetArrayItem(ref, 2);
    if (!cJSON_IsNumber(index) || index->valuedouble == 0)
        return CK_OK;
    return ck_error(CK_ERR_UNSUPPORTED,
                    "%s: output %g of layer '%s' is a state it returns (return_state=True); "
                    "ckeras follows each layer's first output only",
                    user, index->valuedouble, producer);
}

/* The one layer feeding `entry`, or NULL for an input. Keras 2 nodes are
 * [[name, node, tensor, kwargs], ...]; Keras 3 nodes are {"args": [tensor],
 * "kwargs": {...}} with the name in config.keras_history[0]. */
static ck_status producer_name(const cJSON *entry, const char **out)
{
    const char *layer = entry_name(entry);
    const cJSON *nodes = ck_json_get(entry, "inbound_nodes");
    int n_nodes = cJSON_IsArray(nodes) ? cJSON_GetArraySize(nodes) : 0;
    *out = NULL;
    if (n_nodes == 0)
        return CK_OK;
    if (n_nodes > 1)
        return ck_error(CK_ERR_UNSUPPORTED,
                        "layer '%s' is called more than once (shared layers are "
                        "not supported)",
                        layer);
    const cJSON *node = cJSON_GetArrayItem(nodes, 0), *args = node, *kwargs = NULL, *tensor;
    if (cJSON_IsObject(node)) {
        args = ck_json_get(node, "args");
        kwargs = ck_json_get(node, "kwargs");
    }
    if (!cJSON_IsArray(args) || cJSON_GetArraySize(args) != 1)
        return ck_error(CK_ERR_UNSUPPORTED,
                        "layer '%s' has several inputs; ckeras supports only "
                        "single-chain Functional models",
                        layer);
    tensor = cJSON_GetArrayItem(args, 0);
    if (cJSON_IsObject(tensor)) {
        tensor = ck_json_get(ck_json_get(tensor, "config"), "keras_history");
    } else if (cJSON_IsArray(tensor)) {
        kwargs = cJSON_GetArrayItem(tensor, 3);
        CK_TRY(check_keras2_training(entry, kwargs));
    }
    const cJSON *name = cJSON_GetArrayItem(tensor, 0);
    if (!cJSON_IsArray(tensor) || !cJSON_IsString(name))
        return ck_error(CK_ERR_UNSUPPORTED, "layer '%s': its inbound node is not a single tensor",
                        layer);
    *out = name->valuestring;
    char user[CK_NAME_MAX + 16];
    snprintf(user, sizeof user, "layer '%s'", layer);
    CK_TRY(check_first_output(tensor, user, name->valuestring));
    return check_kwargs(kwargs, layer);
}

static int find_entry(const cJSON *const *entries, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(entry_name(entries[i]), name) == 0)
            return i;
    return -1;
}

/* Name of the only layer in input_layers / output_layers, which are
 * [[name, 0, 0], ...] in Keras 2 and may be a bare [name, 0, 0] in Keras 3. */
static ck_status single_ref(const cJSON *refs, const char *what, const char **out)
{
    *out = NULL;
    if (!cJSON_IsArray(refs))
        return CK_OK;
    const cJSON *first = cJSON_GetArrayItem(refs, 0);
    char user[32];
    snprintf(user, sizeof user, "the model's %s", what);
    if (cJSON_IsString(first)) {
        *out = first->valuestring;
        return check_first_output(refs, user, first->valuestring);
    }
    if (cJSON_GetArraySize(refs) != 1)
        return ck_error(CK_ERR_UNSUPPORTED, "the model has %d %s; ckeras supports one",
                        cJSON_GetArraySize(refs), what);
    const cJSON *name = cJSON_GetArrayItem(first, 0);
    *out = cJSON_IsString(name) ? name->valuestring : NULL;
    return *out ? check_first_output(first, user, *out) : CK_OK;
}

/* Orders the layers input-first by following inbound nodes; fails on
 * branches, merges, several inputs or disconnected layers. */
static ck_status chain_order(const cJSON *const *entries, int n, int *order)
{
    int *next = ck_alloc((size_t)n, sizeof *next);
    if (!next)
        return CK_ERR_MEMORY;
    ck_status st = CK_OK;
    int start = -1;
    for (int i = 0; i < n; i++)
        next[i] = -1;
    for (int i = 0; st == CK_OK && i < n; i++) {
        const char *from;
        st = producer_name(entries[i], &from);
        int p = st == CK_OK && from ? find_entry(entries, n, from) : -1;
        if (st != CK_OK)
            break;
        if (!from && (start >= 0 || !is_input(entries[i])))
            st = ck_error(CK_ERR_UNSUPPORTED,
                          "layer '%s' is a second model input; ckeras supports "
                          "only single-chain Functional models",
                          entry_name(entries[i]));
        else if (!from)
            start = i;
        else if (p < 0)
            st = ck_error(CK_ERR_FORMAT, "layer '%s' takes its input from unknown layer '%s'",
                          entry_name(entries[i]), from);
        else if (next[p] >= 0)
            st = ck_error(CK_ERR_UNSUPPORTED,
                          "layer '%s' feeds several layers (a branching model); "
                          "ckeras supports only single-chain Functional models",
                          from);
        else
            next[p] = i;
    }
    if (st == CK_OK && start < 0)
        st = ck_error(CK_ERR_FORMAT, "the Functional model config has no InputLayer");
    int count = 0;
    for (int i = start; st == CK_OK && i >= 0 && count < n; i = next[i])
        order[count++] = i;
    if (st == CK_OK && count != n)
        st = ck_error(CK_ERR_UNSUPPORTED, "the Functional model is not a single chain of layers");
    free(next);
    return st;
}

static ck_status check_endpoints(const cJSON *cfg, const cJSON *const *entries, const int *order,
                                 int n)
{
    const char *in, *out;
    CK_TRY(single_ref(ck_json_get(cfg, "input_layers"), "inputs", &in));
    CK_TRY(single_ref(ck_json_get(cfg, "output_layers"), "outputs", &out));
    if ((in && strcmp(in, entry_name(entries[order[0]])) != 0) ||
        (out && strcmp(out, entry_name(entries[order[n - 1]])) != 0))
        return ck_error(CK_ERR_UNSUPPORTED, "the model's output is not the end of its layer chain");
    return CK_OK;
}

/* The layer entries of a Functional config, without the op entries that
 * only recompute masks ckeras derives. */
static ck_status functional_entries(const cJSON *layers, const cJSON ***entries, int *n)
{
    int total = cJSON_GetArraySize(layers), i = 0;
    *entries = ck_alloc((size_t)total, sizeof **entries);
    bool *mask_op = *entries ? ck_alloc((size_t)total, sizeof *mask_op) : NULL;
    if (!mask_op)
        return CK_ERR_MEMORY;
    const cJSON *entry;
    cJSON_ArrayForEach(entry, layers)
    {
        (*entries)[i++] = entry;
    }
    ck_status st = ck_io_find_mask_ops(*entries, total, mask_op);
    *n = 0;
    for (i = 0; st == CK_OK && i < total; i++)
        if (!mask_op[i])
            (*entries)[(*n)++] = (*entries)[i];
    free(mask_op);
    return st;
}

static ck_status functional_from_config(const cJSON *cfg, ck_io_load *ld, ck_model **out)
{
    const cJSON *layers = ck_json_get(cfg, "layers");
    CK_TRY(check_layer_list(layers));
    const cJSON **entries = NULL;
    int n = 0, *order = NULL;
    ck_status st = functional_entries(layers, &entries, &n);
    if (st == CK_OK)
        st = (order = ck_alloc((size_t)n + 1, sizeof *order)) ? CK_OK : CK_ERR_MEMORY;
    if (st == CK_OK)
        st = chain_order(entries, n, order);
    if (st == CK_OK)
        st = check_endpoints(cfg, entries, order, n);
    if (st == CK_OK)
        st = new_model(cfg, "model", ld, out);
    for (int i = 0; st == CK_OK && i < n; i++)
        st = add_entry(*out, entries[order[i]], order[i], ld);
    if (st == CK_OK)
        (*out)->functional = true;
    if (st == CK_OK)
        st = ck_io_check_mask_flow(layers, *out);
    if (st == CK_OK)
        st = ck_io_graph_rows(layers, *out);
    free(entries);
    free(order);
    return st;
}

/* Keras keeps a stateful layer's state per sample of a fixed batch and
 * refuses one whose input leaves the batch open when it builds the model
 * (RNN.reset_states of 2.2.4 to v2.15.0, RNN.build of Keras 3). A model
 * built in C may leave it open, the state taking the first batch's size,
 * but no Keras config can. `then` says what to do. */
static ck_status check_stateful_batch(const ck_model *m, const char *then)
{
    if (!m->input || m->input->out_shape.dims[0] > 0)
        return CK_OK;
    for (int i = 0; i < m->n_layers; i++) {
        const ck_layer *l = m->layers[i];
        if (!l->ops->stateful || !l->ops->stateful(l))
            continue;
        char shape[96];
        ck_shape_format(&m->input->out_shape, shape, sizeof shape);
        return ck_error(CK_ERR_SHAPE,
                        "layer '%s' (%s) is stateful, so Keras needs a fixed batch size, but the "
                        "model's input is %s: %s",
                        l->name, l->ops->class_name, shape, then);
    }
    return CK_OK;
}

static ck_status model_from_config(const cJSON *root, ck_io_load *ld, ck_model **out)
{
    const char *cls = ck_json_str(root, "class_name");
    const cJSON *cfg = ck_json_get(root, "config");
    if (!cls || !cfg)
        return ck_error(CK_ERR_FORMAT, "model config needs 'class_name' and 'config'");
    if (strcmp(cls, "Sequential") == 0)
        CK_TRY(sequential_from_config(cfg, ld, out));
    else if (strcmp(cls, "Functional") == 0 || strcmp(cls, "Model") == 0)
        CK_TRY(functional_from_config(cfg, ld, out));
    else
        return ck_error(CK_ERR_UNSUPPORTED,
                        "model class '%s' is not supported (Sequential and "
                        "single-chain Functional models are)",
                        cls);
    CK_TRY(ck_model_build(*out));
    CK_TRY(check_stateful_batch(*out, "Keras refuses to build the model; declare the batch size "
                                      "(batch_input_shape of the first layer, or batch_shape of "
                                      "the InputLayer)"));
    return ck_io_warn_kept_rules(*out);
}

ck_status ck_io_model_from_config(const cJSON *root, ck_io_load *ld, ck_model **out)
{
    *out = NULL;
    if (!cJSON_IsObject(root))
        return ck_error(CK_ERR_FORMAT, "model config must be a JSON object");
    const char *version = ck_json_str(root, "keras_version");
    ck_io_load own = *ld;
    if (version && !ld->keras_version) {
        own.keras_version = version;
        own.semantics = ck_io_semantics_of(version);
    }
    ck_status st = model_from_config(root, &own, out);
    if (st == CK_OK)
        return CK_OK;
    char note[64];
    ck_io_writer_note(&own, note, sizeof note);
    if (note[0] && st != CK_ERR_MEMORY)
        ck_error(st, "%s%s", ck_last_error(), note);
    ck_model_free(*out);
    *out = NULL;
    return st;
}

ck_status ck_io_model_from_json(const char *json, const ck_load_options *opts, bool weights_follow,
                                ck_model **model)
{
    cJSON *root;
    CK_TRY(ck_io_parse_json("model JSON", json, strnlen(json, CK_IO_MAX_JSON + 1), &root));
    /* Without a keras_version, a "module" key marks the Keras 3 format
     * (config.json); tf.keras 2.13+ writes it too but always adds the version. */
    ck_io_load ld = ck_io_load_init(opts, NULL, ck_json_get(root, "module") ? CK_KERAS3 : CK_KERAS2,
                                    weights_follow);
    ck_status st = ck_io_model_from_config(root, &ld, model);
    cJSON_Delete(root);
    return st;
}

ck_status ck_model_from_json_with(const char *json, ck_model **model, const ck_load_options *opts)
{
    if (model)
        *model = NULL;
    if (!json || !model)
        return ck_error(CK_ERR_ARGUMENT, "ck_model_from_json: NULL argument");
    return ck_io_model_from_json(json, opts, false, model);
}

/* ---------------- model -> JSON ---------------- */

static cJSON *layer_json(const ck_layer *l, bool is_input_layer)
{
    cJSON *entry = cJSON_CreateObject();
    cJSON *cfg = cJSON_CreateObject();
    if (!entry || !cfg) {
        cJSON_Delete(entry);
        cJSON_Delete(cfg);
        ck_error(CK_ERR_MEMORY, "out of memory writing the config of layer %s", l->name);
        return NULL;
    }
    cJSON_AddStringToObject(entry, "class_name", l->ops->class_name);
    cJSON_AddItemToObject(entry, "config", cfg);
    cJSON_AddStringToObject(cfg, "name", l->name);
    /* tf.keras's InputLayer takes no 'trainable' argument. */
    if (!is_input_layer)
        cJSON_AddBoolToObject(cfg, "trainable", ck_layer_is_trainable(l));
    cJSON_AddStringToObject(cfg, "dtype", "float32");
    if (ck_layer_get_config(l, cfg) != CK_OK) {
        cJSON_Delete(entry);
        return NULL;
    }
    return entry;
}

cJSON *ck_io_model_config(const ck_model *m)
{
    if (!m->input) {
        ck_error(CK_ERR_STATE, "model %s has no input layer, so Keras could not rebuild it",
                 m->name);
        return NULL;
    }
    if (check_stateful_batch(m, "neither Keras nor ckeras could build it from the config; declare "
                                "the batch size (.batch_size of ck_input), or save the weights "
                                "alone") != CK_OK)
        return NULL;
    cJSON *root = cJSON_CreateObject();
    cJSON *cfg = cJSON_AddObjectToObject(root, "config");
    cJSON *layers = cJSON_AddArrayToObject(cfg, "layers");
    bool ok = layers && cJSON_AddStringToObject(root, "class_name", "Sequential") &&
              cJSON_AddStringToObject(cfg, "name", m->name);
    if (!ok)
        ck_error(CK_ERR_MEMORY, "out of memory writing the config of model %s", m->name);
    for (int i = -1; ok && i < m->n_layers; i++) {
        cJSON *entry = layer_json(i < 0 ? m->input : m->layers[i], i < 0);
        ok = entry && cJSON_AddItemToArray(layers, entry);
    }
    if (!ok) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

char *ck_model_to_json(ck_model *m)
{
    if (!m) {
        ck_error(CK_ERR_ARGUMENT, "ck_model_to_json: model is NULL");
        return NULL;
    }
    if (ck_model_enter(m, CK_ACCESS_READ, "ck_model_to_json") != CK_OK)
        return NULL;
    cJSON *root = ck_io_model_config(m);
    ck_model_leave(m);
    char *text = NULL;
    if (root && cJSON_AddStringToObject(root, "keras_version", ck_io_keras_version(m->semantics)) &&
        cJSON_AddStringToObject(root, "backend", "tensorflow"))
        text = cJSON_PrintUnformatted(root);
    if (root && !text)
        ck_error(CK_ERR_MEMORY, "out of memory writing the JSON of model %s", m->name);
    cJSON_Delete(root);
    return text;
}
