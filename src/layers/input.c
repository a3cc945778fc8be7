/* keras.Input / InputLayer: declares the per-sample shape, and the dtype
 * Keras casts the fed values to. A float32 input never runs; one of
 * another dtype runs first, as its cast. */
#include "ck_internal.h"
#include "layer_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

extern const ck_layer_ops ck_input_layer_ops;
static const ck_layer_ops casting_ops;

typedef enum cast_kind { CAST_NONE, CAST_FLOAT, CAST_INT, CAST_UINT, CAST_BOOL } cast_kind;

typedef struct input_layer {
    ck_layer base;
    char dtype[16];
    cast_kind kind;
    int bits; /* CAST_FLOAT: significand bits; CAST_INT, CAST_UINT: width */
} input_layer;

static const struct {
    const char *dtype;
    cast_kind kind;
    int bits;
} dtypes[] = {
    {"float32", CAST_NONE, 0},   {"float64", CAST_NONE, 0}, {"float16", CAST_FLOAT, 11},
    {"bfloat16", CAST_FLOAT, 8}, {"int8", CAST_INT, 8},     {"int16", CAST_INT, 16},
    {"int32", CAST_INT, 32},     {"int64", CAST_INT, 64},   {"uint8", CAST_UINT, 8},
    {"uint16", CAST_UINT, 16},   {"uint32", CAST_UINT, 32}, {"uint64", CAST_UINT, 64},
    {"bool", CAST_BOOL, 0},
};

static ck_status set_dtype(input_layer *in, const char *dtype)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (strcmp(dtype, dtypes[i].dtype) == 0) {
            snprintf(in->dtype, sizeof in->dtype, "%s", dtype);
            in->kind = dtypes[i].kind;
            in->bits = dtypes[i].bits;
            in->base.ops = in->kind == CAST_NONE ? &ck_input_layer_ops : &casting_ops;
            return CK_OK;
        }
    return ck_error(CK_ERR_UNSUPPORTED, "Input: dtype '%s' is not supported by ckeras", dtype);
}

/* Round to nearest even at `bits` significand bits, with float16's
 * subnormal step 2^-24 and range 65504, or bfloat16's (float32's range). */
static float round_float(float v, int bits)
{
    if (!isfinite(v) || v == 0)
        return v;
    bool half = bits == 11;
    int e;
    frexp(v, &e);
    int lowest = half ? -24 : -133, q = e - bits > lowest ? e - bits : lowest;
    double r = ldexp(rint(ldexp(v, -q)), q);
    double max = half ? 65504.0 : 3.3895313892515355e38;
    return fabs(r) > max ? (float)copysign(INFINITY, v) : (float)r;
}

/* Truncated toward zero and wrapped into `bits` bits, as numpy's astype
 * and tf.cast give in range (and two's complement out of it). */
static float to_integer(float v, bool is_signed, int bits)
{
    double t = trunc((double)v);
    if (bits == 64 || !isfinite(t))
        return (float)t;
    double span = ldexp(1.0, bits), w = fmod(t, span);
    if (w < 0)
        w += span;
    if (is_signed && w >= span / 2)
        w -= span;
    return (float)w;
}

static ck_status input_forward(ck_layer *l, const ck_tensor *x, ck_tensor *y, const ck_run_ctx *ctx)
{
    (void)ctx;
    const input_layer *in = (const input_layer *)l;
    size_t n = ck_tensor_size(x);
    for (size_t i = 0; i < n; i++) {
        float v = x->data[i];
        y->data[i] = in->kind == CAST_FLOAT  ? round_float(v, in->bits)
                     : in->kind == CAST_BOOL ? (float)(v != 0)
                                             : to_integer(v, in->kind == CAST_INT, in->bits);
    }
    return CK_OK;
}

ck_layer *ck_input_new(const ck_input_options *o)
{
    if (!o) {
        ck_error(CK_ERR_ARGUMENT, "Input: options are NULL");
        return NULL;
    }
    int rank = 0;
    while (rank < CK_MAX_RANK - 1 && o->shape[rank] != 0)
        rank++;
    if (rank == 0) {
        ck_error(CK_ERR_SHAPE, "Input: the shape needs at least one axis");
        return NULL;
    }
    if (o->batch_size < 0) {
        ck_error(CK_ERR_SHAPE, "Input: negative batch_size %lld", (long long)o->batch_size);
        return NULL;
    }
    for (int i = 0; i < rank; i++)
        if (o->shape[i] < 0 && o->shape[i] != CK_NONE) {
            ck_error(CK_ERR_SHAPE, "Input: axis %d has negative size %lld", i,
                     (long long)o->shape[i]);
            return NULL;
        }
    input_layer *in = ck_alloc(1, sizeof *in);
    if (!in)
        return NULL;
    ck_layer *l = &in->base;
    if (ck_layer_init(l, &ck_input_layer_ops, o->name) != CK_OK ||
        set_dtype(in, o->dtype ? o->dtype : "float32") != CK_OK) {
        free(in);
        return NULL;
    }
    l->out_shape.rank = rank + 1;
    /* A fixed batch (stateful models) shows in shapes and configs, as in Keras. */
    l->out_shape.dims[0] = o->batch_size > 0 ? o->batch_size : CK_NONE;
    for (int i = 0; i < rank; i++)
        l->out_shape.dims[i + 1] = o->shape[i];
    l->in_shape = l->out_shape;
    l->built = true;
    return l;
}

static ck_status input_output_shape(const ck_layer *l, const ck_shape *in, ck_shape *out)
{
    (void)l;
    *out = *in;
    return CK_OK;
}

static ck_status input_get_config(const ck_layer *l, cJSON *cfg)
{
    cJSON *shape = cJSON_CreateArray();
    for (int i = 0; shape && i < l->out_shape.rank; i++) {
        cJSON *d = l->out_shape.dims[i] < 0 ? cJSON_CreateNull()
                                            : cJSON_CreateNumber((double)l->out_shape.dims[i]);
        if (!d || !cJSON_AddItemToArray(shape, d)) {
            cJSON_Delete(d);
            cJSON_Delete(shape);
            shape = NULL;
        }
    }
    CK_TRY(ck_config_add(cfg, "batch_input_shape", shape));
    cJSON_DeleteItemFromObjectCaseSensitive(cfg, "dtype");
    CK_TRY(ck_config_add_string(cfg, "dtype", ((const input_layer *)l)->dtype));
    CK_TRY(ck_config_add_bool(cfg, "sparse", false));
    return ck_config_add_bool(cfg, "ragged", false);
}

/* A string, or (some Keras 3 files) a policy object naming it; absent or
 * null is float32. */
static ck_status dtype_of(const cJSON *cfg, const char **out)
{
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(cfg, "dtype");
    *out = NULL;
    if (!d || cJSON_IsNull(d))
        return CK_OK;
    if (cJSON_IsObject(d))
        d = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(d, "config"), "name");
    if (!cJSON_IsString(d))
        return ck_error(CK_ERR_UNSUPPORTED,
                        "InputLayer: dtype is neither a name nor a policy naming one");
    *out = d->valuestring;
    return CK_OK;
}

static ck_layer *input_from_config(const cJSON *cfg, ck_keras_semantics semantics)
{
    /* Keras 3.13+ "optional": an optional input that is given computes the
     * same; a ragged one would not, fed as a padded array. */
    static const char *const known[] = {"sparse", "ragged", "optional", NULL};
    static const char *const unsupported[] = {"ragged", NULL};
    (void)semantics;
    if (ck_config_check_keys(cfg, "InputLayer", known) != CK_OK ||
        ck_config_reject_true(cfg, "InputLayer", unsupported) != CK_OK)
        return NULL;
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(cfg, "batch_input_shape");
    if (!cJSON_IsArray(shape))
        shape = cJSON_GetObjectItemCaseSensitive(cfg, "batch_shape");
    int n = cJSON_GetArraySize(shape);
    if (!cJSON_IsArray(shape) || n < 2 || n > CK_MAX_RANK) {
        ck_error(CK_ERR_FORMAT, "InputLayer: batch_input_shape must list 2 to %d axes",
                 CK_MAX_RANK);
        return NULL;
    }
    ck_input_options o = {0};
    const cJSON *batch = cJSON_GetArrayItem(shape, 0);
    if (cJSON_IsNumber(batch) && batch->valuedouble >= 1 && batch->valuedouble <= 1e9 &&
        batch->valuedouble == (double)(int64_t)batch->valuedouble) {
        o.batch_size = (int64_t)batch->valuedouble;
    } else if (!cJSON_IsNull(batch)) {
        ck_error(CK_ERR_FORMAT, "InputLayer: the batch axis of batch_input_shape is not a size");
        return NULL;
    }
    for (int i = 1; i < n; i++) {
        const cJSON *d = cJSON_GetArrayItem(shape, i);
        if (cJSON_IsNull(d)) {
            o.shape[i - 1] = CK_NONE;
        } else if (cJSON_IsNumber(d) && d->valuedouble >= 1 && d->valuedouble <= 1e9 &&
                   d->valuedouble == (double)(int64_t)d->valuedouble) {
            o.shape[i - 1] = (int64_t)d->valuedouble;
        } else {
            ck_error(CK_ERR_FORMAT, "InputLayer: axis %d of batch_input_shape is not a size", i);
            return NULL;
        }
    }
    if (ck_config_get_string(cfg, "name", &o.name) != CK_OK)
        return NULL;
    if (dtype_of(cfg, &o.dtype) != CK_OK)
        return NULL;
    return ck_input_new(&o);
}

static void input_destroy(ck_layer *l)
{
    free(l);
}

const ck_layer_ops ck_input_layer_ops = {
    .class_name = "InputLayer",
    .base_name = "input",
    .output_shape = input_output_shape,
    .get_config = input_get_config,
    .from_config = input_from_config,
    .destroy = input_destroy,
};

static const ck_layer_ops casting_ops = {
    .class_name = "InputLayer",
    .base_name = "input",
    .output_shape = input_output_shape,
    .forward = input_forward,
    .get_config = input_get_config,
    .from_config = input_from_config,
    .destroy = input_destroy,
};
