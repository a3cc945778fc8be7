/* keras.layers.PReLU: y = relu(x) - alpha * relu(-x), with a trained alpha
 * shaped like one sample and broadcast over its shared axes (size 1). */
#include "layer_util.h"

#include <stdlib.h>

typedef struct prelu {
    ck_layer base;
    ck_init alpha_init;
    bool shared[CK_MAX_RANK]; /* by axis, batch axis 0 */
    bool any_shared;          /* Keras writes shared_axes null when none */
} prelu;

extern const ck_layer_ops ck_prelu_layer_ops;

ck_layer *ck_prelu_new(const ck_prelu_options *o)
{
    if (!o) {
        ck_error(CK_ERR_ARGUMENT, "PReLU: options are NULL");
        return NULL;
    }
    bool shared[CK_MAX_RANK] = {false};
    for (int i = 0; i < CK_MAX_RANK - 1 && o->shared_axes[i]; i++) {
        int a = o->shared_axes[i];
        if (a < 1 || a >= CK_MAX_RANK) {
            ck_error(CK_ERR_ARGUMENT,
                     "PReLU: shared axis %d is not an axis of a sample (1 to %d, batch excluded)",
                     a, CK_MAX_RANK - 1);
            return NULL;
        }
        shared[a] = true;
    }
    prelu *p = ck_layer_alloc(sizeof *p, &ck_prelu_layer_ops, o->name);
    if (!p)
        return NULL;
    p->alpha_init = ck_init_or(o->alpha_initializer, "zeros");
    for (int a = 0; a < CK_MAX_RANK; a++) {
        p->shared[a] = shared[a];
        p->any_shared = p->any_shared || shared[a];
    }
    return &p->base;
}

/* The weight keeps rank <= 4, and an axis it does not share must have a
 * size, as Keras's add_weight needs. */
static ck_status prelu_output_shape(const ck_layer *l, const ck_shape *in, ck_shape *out)
{
    const prelu *p = (const prelu *)l;
    CK_TRY(ck_shape_same(l, in, out, 2, 5));
    for (int a = 1; a < CK_MAX_RANK; a++) {
        if (p->shared[a] && a >= in->rank)
            return ck_error(CK_ERR_SHAPE, "PReLU: shared axis %d is not an axis of a rank-%d input",
                            a, in->rank);
        if (a < in->rank && !p->shared[a] && in->dims[a] <= 0)
            return ck_error(CK_ERR_SHAPE,
                            "PReLU: axis %d of the input has no fixed size; alpha needs one "
                            "(or share the axis with shared_axes)",
                            a);
    }
    return CK_OK;
}

static ck_status prelu_build(ck_layer *l)
{
    prelu *p = (prelu *)l;
    int64_t dims[4];
    int rank = l->in_shape.rank - 1;
    for (int a = 1; a <= rank; a++)
        dims[a - 1] = p->shared[a] ? 1 : l->in_shape.dims[a];
    return ck_layer_add_weight(l, "alpha", rank, dims, &p->alpha_init, true) ? CK_OK
                                                                             : ck_error_status();
}

/* Index into alpha of the value at offset j of a sample of x. */
static size_t alpha_index(const prelu *p, const ck_tensor *x, size_t j)
{
    size_t at = 0, stride = 1;
    for (int a = x->rank - 1; a >= 1; a--) {
        size_t n = (size_t)x->dims[a], c = j % n;
        j /= n;
        if (!p->shared[a]) {
            at += c * stride;
            stride *= n;
        }
    }
    return at;
}

static ck_status prelu_forward(ck_layer *l, const ck_tensor *x, ck_tensor *y, const ck_run_ctx *ctx)
{
    const prelu *p = (const prelu *)l;
    const float *alpha = l->weights[0].data;
    size_t n = ck_tensor_size(x), per = n ? n / (size_t)x->dims[0] : 1;
    (void)ctx;
    for (size_t i = 0; i < n; i++) {
        float v = x->data[i];
        y->data[i] = v > 0 ? v : alpha[alpha_index(p, x, i % per)] * v;
    }
    return CK_OK;
}

/* relu's gradient at 0 is 0, so x = 0 passes none either way. */
static ck_status prelu_backward(ck_layer *l, const ck_tensor *x, const ck_tensor *y,
                                const ck_tensor *dy, ck_tensor *dx)
{
    const prelu *p = (const prelu *)l;
    const ck_weight *w = &l->weights[0];
    size_t n = ck_tensor_size(x), per = n ? n / (size_t)x->dims[0] : 1;
    (void)y;
    for (size_t i = 0; i < n; i++) {
        float v = x->data[i], g = dy->data[i];
        size_t k = alpha_index(p, x, i % per);
        if (v < 0)
            w->grad[k] += g * v;
        if (dx)
            dx->data[i] = v > 0 ? g : v < 0 ? g * w->data[k] : 0;
    }
    return CK_OK;
}

static ck_status prelu_get_config(const ck_layer *l, cJSON *cfg)
{
    static const char *const nulls[] = {"alpha_regularizer", "alpha_constraint", NULL};
    const prelu *p = (const prelu *)l;
    CK_TRY(ck_config_add(cfg, "alpha_initializer", ck_init_to_json(&p->alpha_init)));
    CK_TRY(ck_config_add_nulls(cfg, nulls));
    if (!p->any_shared)
        return ck_config_add(cfg, "shared_axes", cJSON_CreateNull());
    cJSON *axes = cJSON_CreateArray();
    CK_TRY(ck_config_add(cfg, "shared_axes", axes));
    for (int a = 1; a < CK_MAX_RANK; a++)
        if (p->shared[a] && !cJSON_AddItemToArray(axes, cJSON_CreateNumber(a)))
            return ck_error(CK_ERR_MEMORY, "out of memory writing the config of PReLU");
    return CK_OK;
}

/* Keras takes one axis as a number and keeps it as a list. */
static ck_status shared_from_config(const cJSON *cfg, ck_prelu_options *o)
{
    const cJSON *v = ck_json_get(cfg, "shared_axes");
    int64_t axes[CK_MAX_RANK - 1];
    int n = 0;
    if (!v || (cJSON_IsArray(v) && cJSON_GetArraySize(v) == 0))
        return CK_OK;
    if (cJSON_IsNumber(v)) {
        CK_TRY(ck_config_get_int(cfg, "shared_axes", &o->shared_axes[0], true));
        axes[0] = o->shared_axes[0];
        n = 1;
    } else {
        CK_TRY(ck_config_get_int_list(cfg, "PReLU", "shared_axes", axes, CK_MAX_RANK - 1, &n));
    }
    for (int i = 0; i < n; i++) {
        if (axes[i] < 1 || axes[i] >= CK_MAX_RANK)
            return ck_error(CK_ERR_FORMAT, "PReLU: shared axis %lld is not an axis of a sample",
                            (long long)axes[i]);
        o->shared_axes[i] = (int)axes[i];
    }
    return CK_OK;
}

static ck_layer *prelu_from_config(const cJSON *cfg, ck_keras_semantics semantics)
{
    static const char *const known[] = {"alpha_initializer", "shared_axes", NULL};
    ck_prelu_options o = {0};
    (void)semantics;
    if (ck_config_check_keys(cfg, "PReLU", known) != CK_OK ||
        ck_config_get_init(cfg, "alpha_initializer", &o.alpha_initializer) != CK_OK ||
        shared_from_config(cfg, &o) != CK_OK || ck_config_get_string(cfg, "name", &o.name) != CK_OK)
        return NULL;
    return ck_prelu_new(&o);
}

static void prelu_destroy(ck_layer *l)
{
    free(l);
}

const ck_layer_ops ck_prelu_layer_ops = {
    .class_name = "PReLU",
    .base_name = "p_re_lu",
    .output_shape = prelu_output_shape,
    .build = prelu_build,
    .forward = prelu_forward,
    .backward = prelu_backward,
    .compute_mask = ck_mask_pass,
    .get_config = prelu_get_config,
    .from_config = prelu_from_config,
    .destroy = prelu_destroy,
};
