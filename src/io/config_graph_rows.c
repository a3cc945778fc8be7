/* Keras 3 prints a Functional model whose layers take a mask tensor as a
 * graph: a node called on more than one tensor makes the model not
 * "sequential-like" (summary_utils.py), so the summary lists every layer
 * and op of the config, in its order, with the tensors each was called on
 * ("Connected to"). The loader keeps those rows for the summary. */
#include "ck_io.h"

#include <stdlib.h>
#include <string.h>

static bool is_keras_tensor(const cJSON *v)
{
    const char *cls = ck_json_str(v, "class_name");
    return cls && strcmp(cls, "__keras_tensor__") == 0;
}

static int by_key(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    return strcmp(x->string ? x->string : "", y->string ? y->string : "");
}

/* Appends "name[node][tensor]" for every Keras tensor in v in the order of
 * Keras's tree.flatten: lists in order, dicts by key. Returns the count,
 * or -1 when out of memory. */
static int collect(const cJSON *v, char *out, size_t len)
{
    if (is_keras_tensor(v)) {
        const cJSON *h = ck_json_get(ck_json_get(v, "config"), "keras_history");
        const cJSON *name = cJSON_GetArrayItem(h, 0), *node = cJSON_GetArrayItem(h, 1),
                    *index = cJSON_GetArrayItem(h, 2);
        size_t used = strlen(out);
        snprintf(out + used, len - used, "%s%s[%d][%d]", used ? ", " : "",
                 cJSON_IsString(name) ? name->valuestring : "?",
                 cJSON_IsNumber(node) ? node->valueint : 0,
                 cJSON_IsNumber(index) ? index->valueint : 0);
        return 1;
    }
    int n = cJSON_IsArray(v) || cJSON_IsObject(v) ? cJSON_GetArraySize(v) : 0, count = 0, k = 0;
    if (n == 0)
        return 0;
    const cJSON **items = ck_alloc((size_t)n, sizeof *items), *item;
    if (!items)
        return -1;
    cJSON_ArrayForEach(item, v) items[k++] = item;
    if (cJSON_IsObject(v))
        qsort(items, (size_t)n, sizeof *items, by_key);
    for (k = 0; k < n && count >= 0; k++) {
        int got = collect(items[k], out, len);
        count = got < 0 ? -1 : count + got;
    }
    free(items);
    return count;
}

/* "(None, 5, 126)" from a serialized tensor's shape, without its last
 * `drop` axes, joined as Keras 3's summary joins shapes. */
static void op_shape(const cJSON *tensor, int drop, char *out, size_t len)
{
    const cJSON *shape = ck_json_get(ck_json_get(tensor, "config"), "shape"), *d;
    int n = cJSON_GetArraySize(shape) - drop, k = 0;
    size_t used = (size_t)snprintf(out, len, "(");
    cJSON_ArrayForEach(d, shape)
    {
        if (k >= n || used >= len)
            break;
        used += cJSON_IsNumber(d)
                    ? (size_t)snprintf(out + used, len - used, "%s%d", k ? ", " : "", d->valueint)
                    : (size_t)snprintf(out + used, len - used, "%sNone", k ? ", " : "");
        k++;
    }
    if (used < len)
        snprintf(out + used, len - used, ")");
}

static int layer_index(const ck_model *m, const char *name)
{
    for (int i = 0; name && i < m->n_layers; i++)
        if (strcmp(m->layers[i]->name, name) == 0)
            return i;
    return m->input && name && strcmp(m->input->name, name) == 0 ? -1 : -3;
}

/* Row r of the entry; false when the entry is not one of m's layers
 * (*tensors -1: out of memory). */
static bool fill_row(const cJSON *entry, const ck_model *m, ck_graph_row *r, int *tensors)
{
    const char *module = ck_json_str(entry, "module"), *cls = ck_json_str(entry, "class_name");
    const char *name = ck_io_layer_name(entry);
    const cJSON *node = cJSON_GetArrayItem(ck_json_get(entry, "inbound_nodes"), 0);
    *tensors = collect(node, r->connected, sizeof r->connected);
    if (*tensors < 0)
        return false;
    if (!r->connected[0])
        snprintf(r->connected, sizeof r->connected, "-");
    if (module && strncmp(module, "keras.src.ops.", 14) == 0) {
        r->layer = -2;
        snprintf(r->op, sizeof r->op, "%s (%s)", name ? name : "?", cls ? cls : "?");
        bool any = cls && strcmp(cls, "Any") == 0;
        op_shape(cJSON_GetArrayItem(ck_json_get(node, "args"), 0), any, r->op_shape,
                 sizeof r->op_shape);
        return true;
    }
    r->layer = layer_index(m, name);
    return r->layer >= -1;
}

ck_status ck_io_graph_rows(const cJSON *layers, ck_model *m)
{
    int n = cJSON_GetArraySize(layers), i = 0, widest = 0;
    ck_graph_row *rows = ck_alloc(n ? (size_t)n : 1, sizeof *rows);
    if (!rows)
        return CK_ERR_MEMORY;
    bool ok = true;
    const cJSON *entry;
    cJSON_ArrayForEach(entry, layers)
    {
        int tensors = 0;
        ok = ok && cJSON_IsObject(entry) && fill_row(entry, m, &rows[i++], &tensors);
        if (tensors < 0) {
            free(rows);
            return CK_ERR_MEMORY;
        }
        widest = tensors > widest ? tensors : widest;
    }
    if (!ok || widest < 2) {
        free(rows);
        return CK_OK;
    }
    m->graph_rows = rows;
    m->n_graph_rows = n;
    return CK_OK;
}
