/* keras.layers.ReLU, LeakyReLU and ThresholdedReLU: one piecewise map,
 * as Keras's backend relu computes it (x > threshold keeps x, clipped at
 * max_value; below, negative_slope * (x - threshold)). LeakyReLU is the
 * case threshold 0 without a maximum, ThresholdedReLU the case slope 0. */
#include "layer_util.h"

#include <math.h>
#include <stdlib.h>

typedef struct relu {
    ck_layer base;
    double slope, threshold;
    double max_value; /* < 0: none (Keras refuses a negative one) */
} relu;

extern const ck_layer_ops ck_relu_layer_ops;
extern const ck_layer_ops ck_leaky_relu_layer_ops;
extern const ck_layer_ops ck_thresholded_relu_layer_ops;

static bool finite(double v)
{
    return v > -1e30 && v < 1e30;
}

static ck_layer *relu_make(const ck_layer_ops *ops, const char *name, double slope,
                           double threshold, double max_value)
{
    relu *r = ck_layer_alloc(sizeof *r, ops, name);
    if (!r)
        return NULL;
    r->slope = slope;
    r->threshold = threshold;
    r->max_value = max_value;
    return &r->base;
}

static ck_layer *relu_checked(const char *name, double max_value, bool has_max, double slope,
                              double threshold)
{
    if (!finite(slope) || slope < 0 || !finite(threshold) || threshold < 0 ||
        (has_max && (!finite(max_value) || max_value < 0))) {
        ck_error(CK_ERR_ARGUMENT,
                 "ReLU: max_value, negative_slope and threshold must be finite numbers >= 0");
        return NULL;
    }
    return relu_make(&ck_relu_layer_ops, name, slope, threshold, has_max ? max_value : -1);
}

ck_layer *ck_relu_new(const ck_relu_options *o)
{
    if (!o) {
        ck_error(CK_ERR_ARGUMENT, "ReLU: options are NULL");
        return NULL;
    }
    return relu_checked(o->name, o->max_value, o->max_value != 0, o->negative_slope, o->threshold);
}

static ck_layer *leaky_checked(const char *name, double slope)
{
    if (!finite(slope)) {
        ck_error(CK_ERR_ARGUMENT, "LeakyReLU: negative_slope must be a finite number");
        return NULL;
    }
    return relu_make(&ck_leaky_relu_layer_ops, name, slope, 0, -1);
}

ck_layer *ck_leaky_relu_new(const ck_leaky_relu_options *o)
{
    if (!o) {
        ck_error(CK_ERR_ARGUMENT, "LeakyReLU: options are NULL");
        return NULL;
    }
    return leaky_checked(o->name, o->negative_slope != 0 ? o->negative_slope : 0.3);
}

static ck_layer *thresholded_checked(const char *name, double theta)
{
    if (!finite(theta) || theta < 0) {
        ck_error(CK_ERR_ARGUMENT, "ThresholdedReLU: theta must be a finite number >= 0");
        return NULL;
    }
    return relu_make(&ck_thresholded_relu_layer_ops, name, 0, theta, -1);
}

ck_layer *ck_thresholded_relu_new(const ck_thresholded_relu_options *o)
{
    if (!o) {
        ck_error(CK_ERR_ARGUMENT, "ThresholdedReLU: options are NULL");
        return NULL;
    }
    return thresholded_checked(o->name, o->theta != 0 ? o->theta : 1.0);
}

static ck_status relu_output_shape(const ck_layer *l, const ck_shape *in, ck_shape *out)
{
    return ck_shape_same(l, in, out, 2, CK_MAX_RANK);
}

static ck_status relu_forward(ck_layer *l, const ck_tensor *x, ck_tensor *y, const ck_run_ctx *ctx)
{
    const relu *r = (const relu *)l;
    size_t n = ck_tensor_size(x);
    (void)ctx;
    for (size_t i = 0; i < n; i++) {
        double v = x->data[i];
        if (v > r->threshold)
            y->data[i] = (float)(r->max_value >= 0 && v > r->max_value ? r->max_value : v);
        else
            y->data[i] = (float)(r->slope * (v - r->threshold));
    }
    return CK_OK;
}

/* Above max_value the clip passes no gradient (tf.clip_by_value). */
static ck_status relu_backward(ck_layer *l, const ck_tensor *x, const ck_tensor *y,
                               const ck_tensor *dy, ck_tensor *dx)
{
    const relu *r = (const relu *)l;
    size_t n = ck_tensor_size(x);
    (void)y;
    for (size_t i = 0; dx && i < n; i++) {
        double v = x->data[i], g;
        if (v > r->threshold)
            g = r->max_value >= 0 && v > r->max_value ? 0 : 1;
        else
            g = r->slope;
        dx->data[i] = (float)(g * dy->data[i]);
    }
    return CK_OK;
}

static ck_status relu_get_config(const ck_layer *l, cJSON *cfg)
{
    const relu *r = (const relu *)l;
    if (r->max_value >= 0)
        CK_TRY(ck_config_add_number(cfg, "max_value", r->max_value));
    else
        CK_TRY(ck_config_add(cfg, "max_value", cJSON_CreateNull()));
    CK_TRY(ck_config_add_number(cfg, "negative_slope", r->slope));
    return ck_config_add_number(cfg, "threshold", r->threshold);
}

/* Standalone Keras 2.2.0-2.2.2 wrote max_value only. */
static ck_layer *relu_from_config(const cJSON *cfg, ck_keras_semantics semantics)
{
    static const char *const known[] = {"max_value", "negative_slope", "threshold", NULL};
    const char *name = NULL;
    double max_value = -1, slope = 0, threshold = 0;
    (void)semantics;
    if (ck_config_check_keys(cfg, "ReLU", known) != CK_OK ||
        ck_config_get_double(cfg, "max_value", &max_value) != CK_OK ||
        ck_config_get_double(cfg, "negative_slope", &slope) != CK_OK ||
        ck_config_get_double(cfg, "threshold", &threshold) != CK_OK ||
        ck_config_get_string(cfg, "name", &name) != CK_OK)
        return NULL;
    return relu_checked(name, max_value, ck_json_get(cfg, "max_value") != NULL, slope, threshold);
}

/* tf.keras and Keras 2 name the slope alpha; Keras 3 negative_slope. */
static ck_status leaky_get_config(const ck_layer *l, cJSON *cfg)
{
    bool k3 = ck_layer_semantics(l) == CK_KERAS3;
    return ck_config_add_number(cfg, k3 ? "negative_slope" : "alpha", ((const relu *)l)->slope);
}

/* Keras 3 reads an old config's alpha in place of negative_slope, and
 * refuses a negative slope, which tf.keras computes. */
static ck_layer *leaky_from_config(const cJSON *cfg, ck_keras_semantics semantics)
{
    static const char *const known[] = {"alpha", "negative_slope", NULL};
    const char *name = NULL;
    double slope = 0.3;
    if (ck_config_check_keys(cfg, "LeakyReLU", known) != CK_OK ||
        ck_config_get_double(cfg, "negative_slope", &slope) != CK_OK ||
        ck_config_get_double(cfg, "alpha", &slope) != CK_OK ||
        ck_config_get_string(cfg, "name", &name) != CK_OK)
        return NULL;
    if (semantics == CK_KERAS3 && slope < 0) {
        ck_error(CK_ERR_FORMAT, "LeakyReLU: negative_slope %g is negative, which Keras 3 refuses",
                 slope);
        return NULL;
    }
    return leaky_checked(name, slope);
}

static ck_status thresholded_get_config(const ck_layer *l, cJSON *cfg)
{
    return ck_config_add_number(cfg, "theta", ((const relu *)l)->threshold);
}

static ck_layer *thresholded_from_config(const cJSON *cfg, ck_keras_semantics semantics)
{
    static const char *const known[] = {"theta", NULL};
    const char *name = NULL;
    double theta = 1.0;
    (void)semantics;
    if (ck_config_check_keys(cfg, "ThresholdedReLU", known) != CK_OK ||
        ck_config_get_double(cfg, "theta", &theta) != CK_OK ||
        ck_config_get_string(cfg, "name", &name) != CK_OK)
        return NULL;
    return thresholded_checked(name, theta);
}

static void relu_destroy(ck_layer *l)
{
    free(l);
}

const ck_layer_ops ck_relu_layer_ops = {
    .class_name = "ReLU",
    .base_name = "re_lu",
    .output_shape = relu_output_shape,
    .forward = relu_forward,
    .backward = relu_backward,
    .compute_mask = ck_mask_pass,
    .get_config = relu_get_config,
    .from_config = relu_from_config,
    .destroy = relu_destroy,
};

const ck_layer_ops ck_leaky_relu_layer_ops = {
    .class_name = "LeakyReLU",
    .base_name = "leaky_re_lu",
    .output_shape = relu_output_shape,
    .forward = relu_forward,
    .backward = relu_backward,
    .compute_mask = ck_mask_pass,
    .get_config = leaky_get_config,
    .from_config = leaky_from_config,
    .destroy = relu_destroy,
};

const ck_layer_ops ck_thresholded_relu_layer_ops = {
    .class_name = "ThresholdedReLU",
    .base_name = "thresholded_re_lu",
    .output_shape = relu_output_shape,
    .forward = relu_forward,
    .backward = relu_backward,
    .compute_mask = ck_mask_pass,
    .get_config = thresholded_get_config,
    .from_config = thresholded_from_config,
    .destroy = relu_destroy,
};
