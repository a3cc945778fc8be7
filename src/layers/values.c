/* Numbers and nested lists of numbers in layer configs, kept as Keras
 * wrote them so they can be written back the same way. */
#include "layer_util.h"

#include <stdlib.h>
#include <string.h>

/* Keras never writes a value list this large; a hostile config could ask
 * for gigabytes. */
#define CK_VALUES_MAX ((size_t)1 << 26)

/* The shape of a nested list, from its first elements. */
static ck_status values_shape(const cJSON *j, const char *cls, const char *key, ck_values *out)
{
    out->rank = 0;
    out->n = 1;
    for (const cJSON *e = j; cJSON_IsArray(e); e = cJSON_GetArrayItem(e, 0)) {
        int len = cJSON_GetArraySize(e);
        if (out->rank == CK_MAX_RANK || len == 0)
            return ck_error(CK_ERR_FORMAT,
                            "%s: '%s' must be a number or a nested list of numbers with at most "
                            "%d axes, none of them empty",
                            cls, key, CK_MAX_RANK);
        out->dims[out->rank++] = len;
        if (!ck_size_mul(out->n, (size_t)len, &out->n) || out->n > CK_VALUES_MAX)
            return ck_error(CK_ERR_FORMAT, "%s: '%s' holds too many values", cls, key);
    }
    return CK_OK;
}

/* Copies the numbers of j (at depth `axis` of out's shape) from *at on,
 * checking that every list has the shape's length; with out->v NULL, only
 * checks. */
static bool values_fill(const cJSON *j, const ck_values *out, int axis, size_t *at)
{
    if (axis == out->rank) {
        if (!cJSON_IsNumber(j))
            return false;
        if (out->v)
            out->v[*at] = j->valuedouble;
        (*at)++;
        return true;
    }
    if (!cJSON_IsArray(j) || cJSON_GetArraySize(j) != out->dims[axis])
        return false;
    const cJSON *e;
    cJSON_ArrayForEach(e, j)
    {
        if (!values_fill(e, out, axis + 1, at))
            return false;
    }
    return true;
}

/* Keras 3.5+ serializes a numpy array or a tensor as an object holding
 * its tolist(). */
static const cJSON *unwrap_array(const cJSON *v)
{
    const char *cls = ck_json_str(v, "class_name");
    if (cJSON_IsObject(v) && cls && (!strcmp(cls, "__numpy__") || !strcmp(cls, "__tensor__")))
        return ck_json_get(ck_json_get(v, "config"), "value");
    return v;
}

ck_status ck_values_from_json(const cJSON *cfg, const char *class_name, const char *key,
                              ck_values *out)
{
    memset(out, 0, sizeof *out);
    const cJSON *v = ck_json_get(cfg, key);
    if (!v)
        return CK_OK;
    v = unwrap_array(v);
    CK_TRY(values_shape(v, class_name, key, out));
    /* Checked before the allocation, which then holds only numbers the
     * config really has. */
    size_t at = 0;
    if (!values_fill(v, out, 0, &at)) {
        ck_values_free(out);
        return ck_error(CK_ERR_FORMAT,
                        "%s: '%s' must be a number or a nested list of numbers of one shape",
                        class_name, key);
    }
    if (!(out->v = ck_alloc(out->n, sizeof *out->v)))
        return CK_ERR_MEMORY;
    at = 0;
    values_fill(v, out, 0, &at);
    return CK_OK;
}

ck_status ck_values_set(ck_values *out, const double *v, size_t n, bool list)
{
    memset(out, 0, sizeof *out);
    if (!(out->v = ck_alloc(n, sizeof *out->v)))
        return CK_ERR_MEMORY;
    memcpy(out->v, v, n * sizeof *v);
    out->n = n;
    out->rank = list || n != 1;
    out->dims[0] = (int64_t)n;
    return CK_OK;
}

static cJSON *values_json(const ck_values *vals, int axis, size_t *at)
{
    if (axis == vals->rank)
        return cJSON_CreateNumber(vals->v[(*at)++]);
    cJSON *a = cJSON_CreateArray();
    for (int64_t i = 0; a && i < vals->dims[axis]; i++) {
        cJSON *e = values_json(vals, axis + 1, at);
        if (!e || !cJSON_AddItemToArray(a, e)) {
            cJSON_Delete(e);
            cJSON_Delete(a);
            return NULL;
        }
    }
    return a;
}

cJSON *ck_values_to_json(const ck_values *vals)
{
    size_t at = 0;
    return vals->v ? values_json(vals, 0, &at) : cJSON_CreateNull();
}

void ck_values_shape(const ck_values *vals, char *buf, size_t len)
{
    size_t at = (size_t)snprintf(buf, len, "(");
    for (int i = 0; i < vals->rank && at < len; i++)
        at += (size_t)snprintf(buf + at, len - at, "%s%lld", i ? ", " : "",
                               (long long)vals->dims[i]);
    if (at < len)
        snprintf(buf + at, len - at, vals->rank == 1 ? ",)" : ")");
}

void ck_values_free(ck_values *vals)
{
    free(vals->v);
    memset(vals, 0, sizeof *vals);
}
