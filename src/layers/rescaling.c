/* keras.layers.Rescaling (tf.keras 2.6+, layers.experimental.preprocessing
 * before 2.6, Keras 3): x * scale + offset in float32, both a number or a list
 * broadcast against the input, which over the last axis means one value
 * per feature. No weights. */
#include "layer_util.h"

#include <stdlib.h>
#include <string.h>

typedef struct rescaling {
    ck_layer base;
    ck_values scale, offset; /* as given, written back so */
    ck_buf per_feature;      /* scales then offsets, one per feature (build) */
} rescaling;

extern const ck_layer_ops ck_rescaling_layer_ops;

/* Only the forms that broadcast over the last axis alone are computed. */
static ck_status check_form(const char *name, const ck_values *v, const char *key)
{
    if (v->rank <= 1)
        return CK_OK;
    char shape[96];
    ck_values_shape(v, shape, sizeof shape);
    return ck_error(CK_ERR_UNSUPPORTED,
                    "Rescaling%s%s%s: '%s' of shape %s is not supported by ckeras (a number, or "
                    "a list of one value per feature)",
                    name ? " '" : "", name ? name : "", name ? "'" : "", key, shape);
}

static ck_status set_values(rescaling *r, const ck_rescaling_options *o)
{
    if (o->n_features < 0 || (o->n_features > 0 && (!o->scales || !o->offsets)))
        return ck_error(CK_ERR_ARGUMENT,
                        "Rescaling: n_features values need both scales and offsets");
    if (o->n_features > 0) {
        CK_TRY(ck_values_set(&r->scale, o->scales, (size_t)o->n_features, true));
        return ck_values_set(&r->offset, o->offsets, (size_t)o->n_features, true);
    }
    CK_TRY(ck_values_set(&r->scale, &o->scale, 1, false));
    return ck_values_set(&r->offset, &o->offset, 1, false);
}

ck_layer *ck_rescaling_new(const ck_rescaling_options *o)
{
    if (!o) {
        ck_error(CK_ERR_ARGUMENT, "Rescaling: options are NULL");
        return NULL;
    }
    rescaling *r = ck_layer_alloc(sizeof *r, &ck_rescaling_layer_ops, o->name);
    if (r && set_values(r, o) != CK_OK) {
        ck_layer_free(&r->base);
        return NULL;
    }
    return r ? &r->base : NULL;
}

static ck_status fits(const ck_layer *l, const ck_values *v, const char *key, int64_t features)
{
    if (v->rank == 0 || v->dims[0] == 1 || v->dims[0] == features)
        return CK_OK;
    return ck_error(CK_ERR_SHAPE,
                    "Rescaling '%s': '%s' holds %lld values for %lld features (one per feature, "
                    "or one for all)",
                    l->name, key, (long long)v->dims[0], (long long)features);
}

static ck_status resc_output_shape(const ck_layer *l, const ck_shape *in, ck_shape *out)
{
    const rescaling *r = (const rescaling *)l;
    CK_TRY(ck_shape_same(l, in, out, 2, CK_MAX_RANK));
    CK_TRY(fits(l, &r->scale, "scale", in->dims[in->rank - 1]));
    return fits(l, &r->offset, "offset", in->dims[in->rank - 1]);
}

/* The float32 values Keras casts scale and offset to, one per feature. */
static ck_status resc_build(ck_layer *l)
{
    rescaling *r = (rescaling *)l;
    size_t C = (size_t)l->in_shape.dims[l->in_shape.rank - 1];
    CK_TRY(ck_buf_reserve(&r->per_feature, 2 * C));
    for (size_t c = 0; c < C; c++) {
        r->per_feature.data[c] = (float)r->scale.v[r->scale.n == 1 ? 0 : c];
        r->per_feature.data[C + c] = (float)r->offset.v[r->offset.n == 1 ? 0 : c];
    }
    return CK_OK;
}

static ck_status resc_forward(ck_layer *l, const ck_tensor *x, ck_tensor *y, const ck_run_ctx *ctx)
{
    rescaling *r = (rescaling *)l;
    (void)ctx;
    size_t C = (size_t)x->dims[x->rank - 1], total = ck_tensor_size(x);
    const float *s = r->per_feature.data, *o = s + C;
    for (size_t i = 0; i < total; i++) {
        float scaled = x->data[i] * s[i % C]; /* rounded, then shifted, as Keras does */
        y->data[i] = scaled + o[i % C];
    }
    return CK_OK;
}

static ck_status resc_backward(ck_layer *l, const ck_tensor *x, const ck_tensor *y,
                               const ck_tensor *dy, ck_tensor *dx)
{
    rescaling *r = (rescaling *)l;
    (void)y;
    size_t C = (size_t)x->dims[x->rank - 1], total = ck_tensor_size(x);
    for (size_t i = 0; dx && i < total; i++)
        dx->data[i] = dy->data[i] * r->per_feature.data[i % C];
    return CK_OK;
}

static ck_status resc_get_config(const ck_layer *l, cJSON *cfg)
{
    const rescaling *r = (const rescaling *)l;
    CK_TRY(ck_config_add(cfg, "scale", ck_values_to_json(&r->scale)));
    return ck_config_add(cfg, "offset", ck_values_to_json(&r->offset));
}

static ck_layer *resc_from_config(const cJSON *cfg, ck_keras_semantics semantics)
{
    static const char *const known[] = {"scale", "offset", NULL};
    (void)semantics;
    ck_rescaling_options o = {.scale = 1};
    if (ck_config_check_keys(cfg, "Rescaling", known) != CK_OK ||
        ck_config_get_string(cfg, "name", &o.name) != CK_OK)
        return NULL;
    rescaling *r = (rescaling *)ck_rescaling_new(&o);
    if (!r)
        return NULL;
    ck_values scale, offset;
    ck_status st = ck_values_from_json(cfg, "Rescaling", "scale", &scale);
    if (st == CK_OK && !scale.v)
        st = ck_error(CK_ERR_FORMAT, "Rescaling: 'scale' is missing (Keras requires it)");
    if (st == CK_OK) {
        ck_values_free(&r->scale);
        r->scale = scale;
        st = ck_values_from_json(cfg, "Rescaling", "offset", &offset);
    }
    if (st == CK_OK && offset.v) {
        ck_values_free(&r->offset);
        r->offset = offset;
    }
    if (st == CK_OK)
        st = check_form(o.name, &r->scale, "scale");
    if (st == CK_OK)
        st = check_form(o.name, &r->offset, "offset");
    if (st != CK_OK) {
        ck_layer_free(&r->base);
        return NULL;
    }
    return &r->base;
}

static void resc_destroy(ck_layer *l)
{
    rescaling *r = (rescaling *)l;
    ck_values_free(&r->scale);
    ck_values_free(&r->offset);
    ck_buf_free(&r->per_feature);
    free(r);
}

const ck_layer_ops ck_rescaling_layer_ops = {
    .class_name = "Rescaling",
    .base_name = "rescaling",
    .output_shape = resc_output_shape,
    .build = resc_build,
    .forward = resc_forward,
    .backward = resc_backward,
    .compute_mask = ck_mask_pass,
    .get_config = resc_get_config,
    .from_config = resc_from_config,
    .destroy = resc_destroy,
};
