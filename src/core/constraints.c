/* Keras weight constraints, one table row each: the projection Keras
 * applies to a weight after every optimizer step. The norms run over
 * `axis` (Keras's default 0: for a (in, out) kernel, the norm of each
 * column) and use Keras's epsilon of 1e-7. */
#include "ck_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CON_EPSILON 1e-7

/* New norm for a slice whose norm is `norm`. */
typedef double (*desired_fn)(const ck_con *c, double norm);

static double max_norm(const ck_con *c, double norm)
{
    return norm < c->max_value ? norm : c->max_value;
}

static double min_max_norm(const ck_con *c, double norm)
{
    double clipped = norm < c->min_value ? c->min_value : norm > c->max_value ? c->max_value : norm;
    return c->rate * clipped + (1.0 - c->rate) * norm;
}

static double unit_norm(const ck_con *c, double norm)
{
    (void)c, (void)norm;
    return 1.0;
}

static const struct con_kind {
    const char *class_name, *snake, *legacy; /* legacy: Keras 2.0 aliases */
    ck_con_kind kind;
    double max_value;   /* Keras's default */
    desired_fn desired; /* NULL: not a norm constraint (NonNeg) */
} kinds[] = {
    {"MaxNorm", "max_norm", "maxnorm", CK_CON_MAX_NORM, 2.0, max_norm},
    {"NonNeg", "non_neg", "nonneg", CK_CON_NON_NEG, 0, NULL},
    {"UnitNorm", "unit_norm", "unitnorm", CK_CON_UNIT_NORM, 0, unit_norm},
    {"MinMaxNorm", "min_max_norm", "min_max_norm", CK_CON_MIN_MAX_NORM, 1.0, min_max_norm},
};
#define N_KINDS (sizeof kinds / sizeof kinds[0])

static const struct con_kind *find_kind(const char *name)
{
    for (size_t i = 0; name && i < N_KINDS; i++)
        if (strcmp(name, kinds[i].class_name) == 0 || strcmp(name, kinds[i].snake) == 0 ||
            strcmp(name, kinds[i].legacy) == 0)
            return &kinds[i];
    return NULL;
}

static const struct con_kind *kind_of(ck_con_kind k)
{
    for (size_t i = 0; i < N_KINDS; i++)
        if (kinds[i].kind == k)
            return &kinds[i];
    return NULL;
}

static ck_status number(const cJSON *cfg, const char *key, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!v || cJSON_IsNull(v))
        return CK_OK;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return ck_error(CK_ERR_FORMAT, "constraint '%s' must be a finite number", key);
    *out = v->valuedouble;
    return CK_OK;
}

static ck_status axis_value(const cJSON *a, ck_con *c)
{
    if (c->n_axis == CK_MAX_RANK || !cJSON_IsNumber(a) || a->valuedouble != floor(a->valuedouble) ||
        fabs(a->valuedouble) > CK_MAX_RANK)
        return ck_error(CK_ERR_FORMAT, "constraint 'axis' must be an integer or a list of them");
    c->axis[c->n_axis++] = (int)a->valuedouble;
    return CK_OK;
}

static ck_status axis_from_json(const cJSON *cfg, ck_con *c)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, "axis"), *a;
    if (!v || cJSON_IsNull(v))
        return CK_OK;
    c->n_axis = 0;
    c->axis_list = cJSON_IsArray(v);
    if (!c->axis_list)
        return axis_value(v, c);
    cJSON_ArrayForEach(a, v)
    {
        CK_TRY(axis_value(a, c));
    }
    return c->n_axis ? CK_OK : ck_error(CK_ERR_FORMAT, "constraint 'axis' is an empty list");
}

static void set_defaults(const struct con_kind *k, ck_con *c)
{
    *c = (ck_con){.kind = k->kind, .max_value = k->max_value, .rate = 1.0, .n_axis = 1};
}

static ck_status check_values(const ck_con *c)
{
    if (c->max_value < 0 || c->min_value < 0 || c->min_value > c->max_value || c->rate < 0 ||
        c->rate > 1)
        return ck_error(CK_ERR_ARGUMENT,
                        "constraint %s: need 0 <= min_value <= max_value and 0 <= rate <= 1",
                        ck_con_class_name(c));
    return CK_OK;
}

ck_status ck_con_from_json(const cJSON *json, ck_con *out)
{
    *out = (ck_con){0};
    if (!json || cJSON_IsNull(json))
        return CK_OK;
    const char *name;
    const cJSON *cfg;
    CK_TRY(ck_json_class(json, "constraint", &name, &cfg));
    const struct con_kind *k = find_kind(name);
    if (!k) {
        out->kind = CK_CON_OTHER;
        return ck_json_keep(json, name, &out->raw, out->other_class, sizeof out->other_class);
    }
    set_defaults(k, out);
    CK_TRY(number(cfg, "max_value", &out->max_value));
    CK_TRY(number(cfg, "min_value", &out->min_value));
    CK_TRY(number(cfg, "rate", &out->rate));
    CK_TRY(axis_from_json(cfg, out));
    return check_values(out);
}

ck_status ck_con_from_options(const ck_constraint *o, ck_con *out)
{
    const struct con_kind *k = find_kind(o->name);
    if (!k)
        return ck_error(
            CK_ERR_NAME,
            "unknown constraint '%s' (valid: max_norm, non_neg, unit_norm, min_max_norm)",
            o->name ? o->name : "(null)");
    if (o->n_axis < 0 || o->n_axis > CK_MAX_RANK)
        return ck_error(CK_ERR_ARGUMENT, "constraint %s: n_axis must be 0 to %d", k->snake,
                        CK_MAX_RANK);
    set_defaults(k, out);
    if (o->max_value)
        out->max_value = o->max_value;
    if (o->rate)
        out->rate = o->rate;
    out->min_value = o->min_value;
    out->n_axis = o->n_axis ? o->n_axis : 1;
    out->axis_list = o->n_axis > 1;
    memcpy(out->axis, o->axis, sizeof out->axis);
    return check_values(out);
}

static cJSON *axis_json(const ck_con *c)
{
    return c->axis_list ? cJSON_CreateIntArray(c->axis, c->n_axis) : cJSON_CreateNumber(c->axis[0]);
}

cJSON *ck_con_to_json(const ck_con *c)
{
    if (c->kind == CK_CON_NONE)
        return cJSON_CreateNull();
    if (c->kind == CK_CON_OTHER)
        return cJSON_Parse(c->raw);
    const struct con_kind *k = kind_of(c->kind);
    cJSON *cfg, *j = ck_json_class_new(k->class_name, &cfg);
    bool ok = j != NULL;
    if (ok && c->kind == CK_CON_MIN_MAX_NORM)
        ok = cJSON_AddNumberToObject(cfg, "min_value", c->min_value);
    if (ok && (c->kind == CK_CON_MAX_NORM || c->kind == CK_CON_MIN_MAX_NORM))
        ok = cJSON_AddNumberToObject(cfg, "max_value", c->max_value);
    if (ok && c->kind == CK_CON_MIN_MAX_NORM)
        ok = cJSON_AddNumberToObject(cfg, "rate", c->rate);
    if (ok && c->kind != CK_CON_NON_NEG) {
        cJSON *axis = axis_json(c);
        ok = axis && cJSON_AddItemToObject(cfg, "axis", axis);
        if (!ok)
            cJSON_Delete(axis);
    }
    if (!ok) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

const char *ck_con_class_name(const ck_con *c)
{
    const struct con_kind *k = kind_of(c->kind);
    return k ? k->class_name : c->other_class;
}

/* Marks the reduced axes; false when one does not exist. */
static bool reduced_axes(const ck_con *c, int rank, bool *reduced)
{
    memset(reduced, 0, sizeof(bool) * CK_MAX_RANK);
    for (int i = 0; i < c->n_axis; i++) {
        int a = c->axis[i] < 0 ? c->axis[i] + rank : c->axis[i];
        if (a < 0 || a >= rank)
            return false;
        reduced[a] = true;
    }
    return true;
}

/* Index of element i among the slices (the kept axes, row-major). */
static size_t slice_of(size_t i, int rank, const int64_t *dims, const bool *reduced)
{
    size_t slice = 0, stride = 1;
    for (int a = rank - 1; a >= 0; a--) {
        size_t coord = i % (size_t)dims[a];
        i /= (size_t)dims[a];
        if (!reduced[a]) {
            slice += coord * stride;
            stride *= (size_t)dims[a];
        }
    }
    return slice;
}

static ck_status apply_norm(const ck_con *c, desired_fn desired, float *w, int rank,
                            const int64_t *dims)
{
    bool reduced[CK_MAX_RANK];
    if (!reduced_axes(c, rank, reduced))
        return ck_error(CK_ERR_SHAPE,
                        "constraint %s: axis %d does not exist for a weight of rank %d",
                        ck_con_class_name(c), c->axis[0], rank);
    size_t n = 1, slices = 1;
    for (int a = 0; a < rank; a++) {
        n *= (size_t)dims[a];
        slices *= reduced[a] ? 1 : (size_t)dims[a];
    }
    double *sums = ck_alloc(slices, sizeof *sums);
    if (!sums)
        return CK_ERR_MEMORY;
    for (size_t i = 0; i < n; i++)
        sums[slice_of(i, rank, dims, reduced)] += (double)w[i] * (double)w[i];
    for (size_t s = 0; s < slices; s++) {
        double norm = sqrt(sums[s]);
        sums[s] = desired(c, norm) / (CON_EPSILON + norm);
    }
    for (size_t i = 0; i < n; i++)
        w[i] = (float)((double)w[i] * sums[slice_of(i, rank, dims, reduced)]);
    free(sums);
    return CK_OK;
}

ck_status ck_con_apply(const ck_con *c, float *w, int rank, const int64_t *dims)
{
    const struct con_kind *k = kind_of(c->kind);
    if (!k)
        return CK_OK;
    if (!k->desired) {
        size_t n = 1;
        for (int a = 0; a < rank; a++)
            n *= (size_t)dims[a];
        for (size_t i = 0; i < n; i++)
            w[i] = w[i] >= 0 ? w[i] : 0.0f;
        return CK_OK;
    }
    return apply_norm(c, k->desired, w, rank, dims);
}

void ck_con_free(ck_con *c)
{
    free(c->raw);
    *c = (ck_con){0};
}
