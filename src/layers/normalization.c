/* keras.layers.Normalization (tf.keras 2.6+, where TF 2.1-2.5 had it as
 * layers.experimental.preprocessing.Normalization, and Keras 3):
 * (x - mean) / max(sqrt(variance), epsilon) with epsilon the backend's
 * 1e-7, one mean and variance per position of the kept axes, broadcast
 * over the others. invert=True (tf.keras 2.10+, Keras 3) maps back:
 * mean + x * max(sqrt(variance), epsilon); tf.keras 2.10 alone computed
 * (x + mean) * max(...), which its models keep here.
 *
 * Given mean and variance in the config, Keras makes constants and the
 * layer has no weights; otherwise adapt() fills the non-trainable weights
 * mean and variance (shaped like the kept axes) and count (an int64
 * scalar that only later adapt() calls read). */
#include "ck_vmath.h"
#include "layer_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* keras.backend.epsilon(), as the float32 tensor maximum() compares with. */
#define NORM_EPSILON 1e-7f

typedef struct normalization {
    ck_layer base;
    int axis[CK_MAX_RANK]; /* as given (written back so) */
    int n_axis;            /* 0: axis None */
    bool invert;
    bool invert_k210;         /* tf.keras 2.10's (x + mean) * std */
    ck_values mean, variance; /* from the config; v NULL: adapted weights */
    /* Set by build: the kept axes (sorted, non-negative) and, for given
     * values, the mean and max(sqrt(variance), epsilon) over them. */
    int keep[CK_MAX_RANK], n_keep;
    float *kept_mean, *kept_std;
    ck_buf shift, scale; /* per value of one sample, from the last forward */
} normalization;

extern const ck_layer_ops ck_normalization_layer_ops;

static ck_status check_variance(const char *name, const ck_values *var)
{
    for (size_t i = 0; var->v && i < var->n; i++)
        if (!(var->v[i] >= 0))
            return ck_error(CK_ERR_ARGUMENT,
                            "Normalization%s%s%s: variance value #%zu is %g; a variance must be "
                            ">= 0 (Keras would output NaN for it)",
                            name ? " '" : "", name ? name : "", name ? "'" : "", i, var->v[i]);
    return CK_OK;
}

static ck_status check_options(const ck_normalization_options *o)
{
    if (o->n_axis < 0 || o->n_axis > CK_MAX_RANK || (o->axis_none && o->n_axis))
        return ck_error(CK_ERR_ARGUMENT,
                        "Normalization: n_axis must be in [0, %d], and 0 with axis_none",
                        CK_MAX_RANK);
    if (!o->mean != !o->variance)
        return ck_error(CK_ERR_ARGUMENT,
                        "Normalization: both mean and variance must be set, or neither (as Keras "
                        "requires)");
    if (o->mean && o->n_mean < 1)
        return ck_error(CK_ERR_ARGUMENT, "Normalization: n_mean must be at least 1");
    return CK_OK;
}

ck_layer *ck_normalization_new(const ck_normalization_options *o)
{
    if (!o) {
        ck_error(CK_ERR_ARGUMENT, "Normalization: options are NULL");
        return NULL;
    }
    if (check_options(o) != CK_OK)
        return NULL;
    normalization *nl = ck_layer_alloc(sizeof *nl, &ck_normalization_layer_ops, o->name);
    if (!nl)
        return NULL;
    nl->n_axis = o->axis_none ? 0 : o->n_axis ? o->n_axis : 1;
    nl->axis[0] = -1;
    for (int i = 0; i < o->n_axis; i++)
        nl->axis[i] = o->axis[i];
    nl->invert = o->invert;
    bool list = o->n_mean > 1;
    if (o->mean && (ck_values_set(&nl->mean, o->mean, (size_t)o->n_mean, list) != CK_OK ||
                    ck_values_set(&nl->variance, o->variance, (size_t)o->n_mean, list) != CK_OK ||
                    check_variance(o->name, &nl->variance) != CK_OK)) {
        ck_layer_free(&nl->base);
        return NULL;
    }
    return &nl->base;
}

static ck_status norm_output_shape(const ck_layer *l, const ck_shape *in, ck_shape *out)
{
    (void)l;
    *out = *in;
    return CK_OK;
}

static ck_status axis_error(const ck_layer *l, const ck_shape *in, const char *why)
{
    char shape[96];
    ck_shape_format(in, shape, sizeof shape);
    return ck_error(CK_ERR_SHAPE, "Normalization '%s': %s (input %s)", l->name, why, shape);
}

/* Keras's build: each axis in [-rank, rank), the kept ones sorted and of
 * known size (so never the batch axis). */
static ck_status keep_axes(normalization *nl, const ck_shape *in)
{
    ck_layer *l = &nl->base;
    nl->n_keep = 0;
    for (int i = 0; i < nl->n_axis; i++) {
        int a = nl->axis[i];
        if (a < -in->rank || a >= in->rank)
            return axis_error(l, in, "every axis must be in [-rank, rank)");
        a = a < 0 ? a + in->rank : a;
        int k = nl->n_keep++;
        for (; k > 0 && nl->keep[k - 1] > a; k--)
            nl->keep[k] = nl->keep[k - 1];
        if (k > 0 && nl->keep[k - 1] == a)
            return axis_error(l, in, "an axis is given twice");
        nl->keep[k] = a;
    }
    for (int i = 0; i < nl->n_keep; i++)
        if (in->dims[nl->keep[i]] <= 0)
            return axis_error(l, in,
                              "every kept axis must have a known size (the batch axis has none)");
    return CK_OK;
}

/* out (target shape, row-major) = vals broadcast as numpy does, the
 * shapes aligned at the right; false when they do not broadcast. Leading
 * axes of size 1 beyond the target's rank are dropped (tf.keras's
 * mean * ones(shape) followed by a reshape allows them). */
static bool broadcast_into(const ck_values *vals, int rank, const int64_t *dims, float *out)
{
    int r = vals->rank, skip = 0;
    while (r > rank && vals->dims[skip] == 1)
        r--, skip++;
    if (r > rank)
        return false;
    size_t vstride[CK_MAX_RANK], size = 1;
    for (int i = r - 1; i >= 0; i--) {
        int64_t vd = vals->dims[skip + i], td = dims[rank - r + i];
        if (vd != 1 && vd != td)
            return false;
        vstride[i] = vd == 1 ? 0 : size;
        size *= (size_t)vd;
    }
    int64_t at[CK_MAX_RANK] = {0};
    size_t total = 1;
    for (int i = 0; i < rank; i++)
        total *= (size_t)dims[i];
    for (size_t t = 0; t < total; t++) {
        size_t src = 0;
        for (int i = 0; i < r; i++)
            src += (size_t)at[rank - r + i] * vstride[i];
        out[t] = (float)vals->v[src];
        for (int i = rank - 1; i >= 0 && ++at[i] == dims[i]; i--)
            at[i] = 0;
    }
    return true;
}

/* The given values over the kept axes. The releases read them in
 * different ways: tf.keras broadcasts them against the kept shape, Keras
 * 3.0-3.7 reshapes them to it, 3.8-3.13 broadcasts them against the input
 * rank (1 on the axes not kept), 3.14+ against the kept shape again.
 * Wherever two of these succeed they give the same values, so any of
 * them is accepted. */
static ck_status expand(const normalization *nl, const ck_shape *in, const ck_values *vals,
                        const char *key, float *out)
{
    int64_t kept[CK_MAX_RANK], full[CK_MAX_RANK];
    size_t size = 1;
    for (int i = 0; i < nl->n_keep; i++) {
        kept[i] = in->dims[nl->keep[i]];
        size *= (size_t)kept[i];
    }
    for (int i = 0, k = 0; i < in->rank; i++)
        full[i] = k < nl->n_keep && nl->keep[k] == i ? kept[k++] : 1;
    if (broadcast_into(vals, nl->n_keep, kept, out) || broadcast_into(vals, in->rank, full, out))
        return CK_OK;
    if (vals->n == size) {
        for (size_t i = 0; i < size; i++)
            out[i] = (float)vals->v[i];
        return CK_OK;
    }
    char shape[96], have[96];
    ck_shape_format(in, shape, sizeof shape);
    ck_values_shape(vals, have, sizeof have);
    return ck_error(CK_ERR_SHAPE,
                    "Normalization '%s': %s of shape %s fits neither the shape of the kept axes "
                    "nor their size %zu (input %s)",
                    nl->base.name, key, have, size, shape);
}

static float std_of(float variance)
{
    float s = sqrtf(variance);
    return s < NORM_EPSILON ? NORM_EPSILON : s; /* NaN stays NaN, as in Keras */
}

static ck_status build_given(normalization *nl, const ck_shape *in, size_t size)
{
    /* Keras holds them as constants the size of adapted weights: they
     * count against the same limit, so a number in a few bytes of config
     * cannot take gigabytes. */
    uint64_t limit = ck_limit_get(CK_LIMIT_MODEL_BYTES);
    if (size > limit / (2 * sizeof(float)))
        return ck_error(CK_ERR_MEMORY,
                        "Normalization '%s': its mean and variance over the kept axes take %llu "
                        "bytes, more than CK_LIMIT_MODEL_BYTES (%llu bytes)",
                        nl->base.name, (unsigned long long)size * 2 * sizeof(float),
                        (unsigned long long)limit);
    nl->kept_mean = ck_alloc(size, sizeof(float));
    nl->kept_std = ck_alloc(size, sizeof(float));
    if (!nl->kept_mean || !nl->kept_std)
        return CK_ERR_MEMORY;
    CK_TRY(expand(nl, in, &nl->mean, "mean", nl->kept_mean));
    CK_TRY(expand(nl, in, &nl->variance, "variance", nl->kept_std));
    for (size_t i = 0; i < size; i++)
        nl->kept_std[i] = std_of(nl->kept_std[i]);
    return CK_OK;
}

static ck_status build_adapted(ck_layer *l, const int64_t *kept, int n_keep)
{
    if (n_keep > 4)
        return ck_error(CK_ERR_UNSUPPORTED,
                        "Normalization '%s': %d kept axes (ckeras's weights have at most 4)",
                        l->name, n_keep);
    ck_init zeros = CK_INIT("zeros"), ones = CK_INIT("ones");
    ck_weight *count = NULL;
    if (!ck_layer_add_weight(l, "mean", n_keep, kept, &zeros, false) ||
        !ck_layer_add_weight(l, "variance", n_keep, kept, &ones, false) ||
        !(count = ck_layer_add_weight(l, "count", 0, NULL, &zeros, false)))
        return ck_error_status();
    count->int64 = true;
    return CK_OK;
}

static ck_status norm_build(ck_layer *l)
{
    normalization *nl = (normalization *)l;
    bool tf_keras;
    nl->invert_k210 = nl->invert && ck_model_keras_release(l->model, &tf_keras) == 210;
    CK_TRY(keep_axes(nl, &l->in_shape));
    int64_t kept[CK_MAX_RANK];
    size_t size = 1;
    for (int i = 0; i < nl->n_keep; i++)
        size *= (size_t)(kept[i] = l->in_shape.dims[nl->keep[i]]);
    free(nl->kept_mean);
    free(nl->kept_std);
    nl->kept_mean = nl->kept_std = NULL;
    return nl->mean.v ? build_given(nl, &l->in_shape, size) : build_adapted(l, kept, nl->n_keep);
}

/* The kept position of every value of x, in memory order, with the
 * number of kept positions. */
typedef struct kept_walk {
    size_t stride[CK_MAX_RANK];
    int64_t at[CK_MAX_RANK];
    size_t positions;
} kept_walk;

static kept_walk walk_start(const normalization *nl, const ck_tensor *x)
{
    kept_walk w = {.positions = 1};
    for (int k = nl->n_keep - 1; k >= 0; k--) {
        w.stride[nl->keep[k]] = w.positions;
        w.positions *= (size_t)x->dims[nl->keep[k]];
    }
    return w;
}

static size_t walk_next(kept_walk *w, const ck_tensor *x)
{
    size_t k = 0;
    for (int i = 0; i < x->rank; i++)
        k += (size_t)w->at[i] * w->stride[i];
    for (int i = x->rank - 1; i >= 0 && ++w->at[i] == x->dims[i]; i--)
        w->at[i] = 0;
    return k;
}

/* shift and scale for every value of one sample of x: the mean and the
 * max(sqrt(variance), epsilon) of its position on the kept axes. */
static ck_status per_value(normalization *nl, const ck_tensor *x, size_t n)
{
    CK_TRY(ck_buf_reserve(&nl->shift, n));
    CK_TRY(ck_buf_reserve(&nl->scale, n));
    const ck_layer *l = &nl->base;
    const float *mean = nl->kept_mean ? nl->kept_mean : l->weights[0].data;
    const float *var = nl->kept_mean ? NULL : l->weights[1].data;
    /* The first sample's values: the batch axis is never kept. */
    kept_walk w = walk_start(nl, x);
    for (size_t e = 0; e < n; e++) {
        size_t k = walk_next(&w, x);
        nl->shift.data[e] = mean[k];
        nl->scale.data[e] = var ? std_of(var[k]) : nl->kept_std[k];
    }
    return CK_OK;
}

static ck_status norm_forward(ck_layer *l, const ck_tensor *x, ck_tensor *y, const ck_run_ctx *ctx)
{
    normalization *nl = (normalization *)l;
    (void)ctx;
    size_t total = ck_tensor_size(x), n = x->dims[0] ? total / (size_t)x->dims[0] : 0;
    if (!n)
        return CK_OK;
    CK_TRY(per_value(nl, x, n));
    const float *m = nl->shift.data, *d = nl->scale.data;
    for (size_t i = 0; i < total; i++) {
        size_t e = i % n;
        if (!nl->invert)
            y->data[i] = (x->data[i] - m[e]) / d[e];
        else if (nl->invert_k210)
            y->data[i] = (x->data[i] + m[e]) * d[e];
        else
            y->data[i] = m[e] + x->data[i] * d[e];
    }
    return CK_OK;
}

/* A constant map: dx = dy / std, or dy * std inverted; nothing trains. */
static ck_status norm_backward(ck_layer *l, const ck_tensor *x, const ck_tensor *y,
                               const ck_tensor *dy, ck_tensor *dx)
{
    normalization *nl = (normalization *)l;
    (void)y;
    size_t total = ck_tensor_size(x), n = x->dims[0] ? total / (size_t)x->dims[0] : 0;
    for (size_t i = 0; dx && n && i < total; i++) {
        float d = nl->scale.data[i % n];
        dx->data[i] = nl->invert ? dy->data[i] * d : dy->data[i] / d;
    }
    return CK_OK;
}

/* The reshape of Keras 3.0-3.7 (what ckeras's Keras 3 files claim to be)
 * or tf.keras's broadcast must read the values written: a form they
 * refuse (a scalar over several kept positions, for 3.0-3.7) is written
 * expanded to the kept shape, which every release reads. */
static cJSON *values_config(const normalization *nl, const ck_values *vals, bool k3)
{
    const ck_layer *l = &nl->base;
    if (!vals->v || !l->built)
        return ck_values_to_json(vals);
    ck_values kept = {.rank = nl->n_keep, .n = 1};
    for (int i = 0; i < nl->n_keep; i++)
        kept.n *= (size_t)(kept.dims[i] = l->in_shape.dims[nl->keep[i]]);
    float *tmp = ck_alloc(kept.n, sizeof *tmp);
    if (!tmp)
        return NULL;
    cJSON *j = NULL;
    if (k3 ? vals->n == kept.n : broadcast_into(vals, kept.rank, kept.dims, tmp)) {
        j = ck_values_to_json(vals);
    } else if (expand(nl, &l->in_shape, vals, "values", tmp) == CK_OK &&
               (kept.v = ck_alloc(kept.n, sizeof *kept.v))) {
        for (size_t i = 0; i < kept.n; i++)
            kept.v[i] = tmp[i];
        j = ck_values_to_json(&kept);
        free(kept.v);
    }
    free(tmp);
    return j;
}

static ck_status norm_get_config(const ck_layer *l, cJSON *cfg)
{
    const normalization *nl = (const normalization *)l;
    bool k3 = ck_layer_semantics(l) == CK_KERAS3;
    cJSON *axis = cJSON_CreateArray();
    for (int i = 0; axis && i < nl->n_axis; i++)
        if (!cJSON_AddItemToArray(axis, cJSON_CreateNumber(nl->axis[i]))) {
            cJSON_Delete(axis);
            axis = NULL;
        }
    /* Both claimed releases (tf.keras 2.15, Keras 3.3.3) write invert. */
    CK_TRY(ck_config_add(cfg, "axis", axis));
    CK_TRY(ck_config_add_bool(cfg, "invert", nl->invert));
    CK_TRY(ck_config_add(cfg, "mean", values_config(nl, &nl->mean, k3)));
    return ck_config_add(cfg, "variance", values_config(nl, &nl->variance, k3));
}

/* An int, a list of ints (Keras writes its tuple so), or null for None. */
static ck_status read_axis(const cJSON *cfg, ck_normalization_options *o)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, "axis");
    if (!v) {
        o->n_axis = 0;
        return CK_OK;
    }
    if (cJSON_IsNull(v) || (cJSON_IsArray(v) && cJSON_GetArraySize(v) == 0)) {
        o->axis_none = true;
        return CK_OK;
    }
    const cJSON *e = v;
    int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : 1;
    if (n > CK_MAX_RANK)
        return ck_error(CK_ERR_FORMAT, "Normalization: 'axis' lists %d axes (at most %d)", n,
                        CK_MAX_RANK);
    for (int i = 0; i < n; i++) {
        if (cJSON_IsArray(v))
            e = cJSON_GetArrayItem(v, i);
        if (!cJSON_IsNumber(e) || e->valuedouble != (int)e->valuedouble ||
            fabs(e->valuedouble) > CK_MAX_RANK)
            return ck_error(CK_ERR_FORMAT,
                            "Normalization: 'axis' must be an int, a list of ints or null");
        o->axis[i] = (int)e->valuedouble;
    }
    o->n_axis = n;
    return CK_OK;
}

static ck_layer *norm_from_config(const cJSON *cfg, ck_keras_semantics semantics)
{
    static const char *const known[] = {"axis", "mean", "variance", "invert", NULL};
    (void)semantics;
    ck_normalization_options o = {0};
    if (ck_config_check_keys(cfg, "Normalization", known) != CK_OK || read_axis(cfg, &o) != CK_OK ||
        ck_config_get_bool(cfg, "invert", &o.invert) != CK_OK ||
        ck_config_get_string(cfg, "name", &o.name) != CK_OK)
        return NULL;
    normalization *nl = (normalization *)ck_normalization_new(&o);
    if (!nl)
        return NULL;
    if (ck_values_from_json(cfg, "Normalization", "mean", &nl->mean) != CK_OK ||
        ck_values_from_json(cfg, "Normalization", "variance", &nl->variance) != CK_OK ||
        check_variance(o.name, &nl->variance) != CK_OK) {
        ck_layer_free(&nl->base);
        return NULL;
    }
    if (!nl->mean.v != !nl->variance.v) {
        ck_error(CK_ERR_FORMAT,
                 "Normalization '%s': both mean and variance must be set, or neither (as Keras "
                 "requires)",
                 nl->base.name);
        ck_layer_free(&nl->base);
        return NULL;
    }
    return &nl->base;
}

static ck_status check_adapt_data(const normalization *nl, const ck_tensor *x)
{
    const ck_layer *l = &nl->base;
    if (nl->mean.v)
        return ck_error(CK_ERR_STATE,
                        "Normalization '%s' was given its mean and variance and cannot be "
                        "adapted (as in Keras)",
                        l->name);
    if (!l->n_weights || !l->weights[0].data)
        return ck_error(CK_ERR_STATE, "Normalization '%s' is not built yet: build its model first",
                        l->name);
    bool fits = x->data && x->rank == l->in_shape.rank && x->dims[0] > 0;
    for (int i = 1; fits && i < x->rank; i++)
        fits = x->dims[i] > 0;
    for (int k = 0; fits && k < nl->n_keep; k++)
        fits = x->dims[nl->keep[k]] == l->in_shape.dims[nl->keep[k]];
    if (!fits) {
        char got[128], want[128];
        ck_shape_string(x->rank, x->dims, got, sizeof got);
        ck_shape_string(l->in_shape.rank, l->in_shape.dims, want, sizeof want);
        return ck_error(CK_ERR_SHAPE,
                        "Normalization '%s': adapt() data of shape %s does not fit its input %s",
                        l->name, got, want);
    }
    size_t bad = ck_vfind_nonfinite(x->data, ck_tensor_size(x));
    if (bad < ck_tensor_size(x))
        return ck_error(CK_ERR_NUMERIC, "Normalization '%s': adapt() data value #%zu is %g",
                        l->name, bad, (double)x->data[bad]);
    return CK_OK;
}

/* Two passes in double: the mean, then the mean squared deviation. */
static ck_status adapt(normalization *nl, const ck_tensor *x)
{
    CK_TRY(check_adapt_data(nl, x));
    ck_layer *l = &nl->base;
    kept_walk w = walk_start(nl, x);
    size_t positions = w.positions, total = ck_tensor_size(x);
    double *sum = calloc(2 * positions, sizeof *sum);
    if (!sum)
        return ck_error(CK_ERR_MEMORY, "out of memory adapting Normalization '%s'", l->name);
    double *dev = sum + positions, per = (double)(total / positions);
    for (size_t i = 0; i < total; i++)
        sum[walk_next(&w, x)] += x->data[i];
    for (size_t i = 0; i < total; i++) {
        size_t k = walk_next(&w, x);
        double d = x->data[i] - sum[k] / per;
        dev[k] += d * d;
    }
    for (size_t k = 0; k < positions; k++) {
        l->weights[0].data[k] = (float)(sum[k] / per);
        l->weights[1].data[k] = (float)(dev[k] / per);
    }
    /* tf.keras counts the values adapt() saw; Keras 3's adapt leaves count. */
    if (ck_layer_semantics(l) == CK_KERAS2)
        l->weights[2].data[0] = (float)per;
    free(sum);
    if (l->model)
        ck_model_weights_changed(l->model);
    return CK_OK;
}

ck_status ck_normalization_adapt(ck_layer *layer, const ck_tensor *data)
{
    if (!layer || !data)
        return ck_error(CK_ERR_ARGUMENT, "ck_normalization_adapt: NULL argument");
    if (layer->ops != &ck_normalization_layer_ops)
        return ck_error(CK_ERR_ARGUMENT, "ck_normalization_adapt: layer '%s' is a %s", layer->name,
                        layer->ops->class_name);
    ck_status st;
    CK_LAYER_GUARDED(st, layer, CK_ACCESS_UPDATE, "ck_normalization_adapt",
                     adapt((normalization *)layer, data));
    return st;
}

static void norm_destroy(ck_layer *l)
{
    normalization *nl = (normalization *)l;
    ck_values_free(&nl->mean);
    ck_values_free(&nl->variance);
    free(nl->kept_mean);
    free(nl->kept_std);
    ck_buf_free(&nl->shift);
    ck_buf_free(&nl->scale);
    free(nl);
}

const ck_layer_ops ck_normalization_layer_ops = {
    .class_name = "Normalization",
    .base_name = "normalization",
    .output_shape = norm_output_shape,
    .build = norm_build,
    .forward = norm_forward,
    .backward = norm_backward,
    .compute_mask = ck_mask_pass,
    .get_config = norm_get_config,
    .from_config = norm_from_config,
    .destroy = norm_destroy,
};
