/* keras.layers.LayerNormalization over the last axis: each row of C values
 * is normalized by its own mean and (biased) variance, then scaled by gamma
 * and shifted by beta. */
#include "layer_util.h"

#include <math.h>
#include <stdlib.h>

typedef struct layer_norm {
    ck_layer base;
    ck_norm_common n;
    ck_buf mean, inv; /* per row, from the last forward */
} layer_norm;

extern const ck_layer_ops ck_layer_normalization_layer_ops;

ck_layer *ck_layer_normalization_new(const ck_layer_normalization_options *o)
{
    ck_norm_common n;
    if (!o) {
        ck_error(CK_ERR_ARGUMENT, "LayerNormalization: options are NULL");
        return NULL;
    }
    if (ck_norm_setup(&n, "LayerNormalization", o->axis, o->epsilon, o->no_center, o->no_scale,
                      &o->beta_initializer, &o->gamma_initializer) != CK_OK)
        return NULL;
    layer_norm *ln = ck_layer_alloc(sizeof *ln, &ck_layer_normalization_layer_ops, o->name);
    if (ln)
        ln->n = n;
    return ln ? &ln->base : NULL;
}

static ck_status ln_output_shape(const ck_layer *l, const ck_shape *in, ck_shape *out)
{
    CK_TRY(ck_shape_same(l, in, out, 2, CK_MAX_RANK));
    return ck_check_last_axis("LayerNormalization", ((const layer_norm *)l)->n.axis, in);
}

static ck_status ln_build(ck_layer *l)
{
    return ck_norm_build(l, &((layer_norm *)l)->n);
}

static ck_status ln_forward(ck_layer *l, const ck_tensor *x, ck_tensor *y, const ck_run_ctx *ctx)
{
    layer_norm *ln = (layer_norm *)l;
    (void)ctx;
    size_t C = (size_t)x->dims[x->rank - 1], rows = ck_tensor_size(x) / C;
    const float *gamma = ck_norm_gamma(l, &ln->n), *beta = ck_norm_beta(l, &ln->n);
    CK_TRY(ck_buf_reserve(&ln->mean, rows));
    CK_TRY(ck_buf_reserve(&ln->inv, rows));
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x->data + r * C;
        double sum = 0, sq = 0;
        for (size_t c = 0; c < C; c++)
            sum += xr[c];
        double mean = sum / (double)C;
        for (size_t c = 0; c < C; c++)
            sq += (xr[c] - mean) * (xr[c] - mean);
        double inv = 1.0 / sqrt(sq / (double)C + ln->n.epsilon);
        ln->mean.data[r] = (float)mean;
        ln->inv.data[r] = (float)inv;
        for (size_t c = 0; c < C; c++) {
            double v = (xr[c] - mean) * inv;
            y->data[r * C + c] = (float)((gamma ? v * gamma[c] : v) + (beta ? beta[c] : 0.0));
        }
    }
    return CK_OK;
}

/* With g = dy * gamma and xhat the normalized input of a row,
 * dx = inv * (g - mean(g) - xhat * mean(g * xhat)). */
static ck_status ln_backward(ck_layer *l, const ck_tensor *x, const ck_tensor *y,
                             const ck_tensor *dy, ck_tensor *dx)
{
    layer_norm *ln = (layer_norm *)l;
    (void)y;
    size_t C = (size_t)x->dims[x->rank - 1], rows = ck_tensor_size(x) / C;
    const float *gamma = ck_norm_gamma(l, &ln->n);
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x->data + r * C, *dyr = dy->data + r * C;
        double mean = ln->mean.data[r], inv = ln->inv.data[r], g_sum = 0, gx_sum = 0;
        for (size_t c = 0; c < C; c++) {
            double xhat = (xr[c] - mean) * inv, g = gamma ? dyr[c] * gamma[c] : dyr[c];
            g_sum += g;
            gx_sum += g * xhat;
            ck_norm_param_grads(l, &ln->n, (int64_t)c, dyr[c] * xhat, dyr[c]);
        }
        for (size_t c = 0; dx && c < C; c++) {
            double xhat = (xr[c] - mean) * inv, g = gamma ? dyr[c] * gamma[c] : dyr[c];
            dx->data[r * C + c] = (float)(inv * (g - (g_sum + xhat * gx_sum) / (double)C));
        }
    }
    return CK_OK;
}

static ck_status ln_get_config(const ck_layer *l, cJSON *cfg)
{
    bool k3 = ck_layer_semantics(l) == CK_KERAS3;
    CK_TRY(ck_norm_get_config(l, &((const layer_norm *)l)->n, true, cfg));
    /* tf.keras does not accept rms_scaling. */
    return k3 ? ck_config_add_bool(cfg, "rms_scaling", false) : CK_OK;
}

static ck_layer *ln_from_config(const cJSON *cfg, ck_keras_semantics semantics)
{
    static const char *const known[] = {"axis",
                                        "epsilon",
                                        "center",
                                        "scale",
                                        "rms_scaling",
                                        "beta_initializer",
                                        "gamma_initializer",
                                        NULL};
    static const char *const unsupported[] = {"rms_scaling", NULL};
    (void)semantics;
    ck_layer_normalization_options o = {0};
    if (ck_config_check_keys(cfg, "LayerNormalization", known) != CK_OK ||
        ck_config_reject_true(cfg, "LayerNormalization", unsupported) != CK_OK ||
        ck_norm_from_config(cfg, "LayerNormalization", &o.axis, &o.epsilon, &o.no_center,
                            &o.no_scale, &o.beta_initializer, &o.gamma_initializer) != CK_OK ||
        ck_config_get_string(cfg, "name", &o.name) != CK_OK)
        return NULL;
    layer_norm *ln = (layer_norm *)ck_layer_normalization_new(&o);
    if (ln)
        ck_norm_config_epsilon(&ln->n, cfg);
    return ln ? &ln->base : NULL;
}

static void ln_destroy(ck_layer *l)
{
    layer_norm *ln = (layer_norm *)l;
    ck_buf_free(&ln->mean);
    ck_buf_free(&ln->inv);
    free(ln);
}

const ck_layer_ops ck_layer_normalization_layer_ops = {
    .class_name = "LayerNormalization",
    .base_name = "layer_normalization",
    .output_shape = ln_output_shape,
    .build = ln_build,
    .forward = ln_forward,
    .backward = ln_backward,
    .compute_mask = ck_mask_pass,
    .get_config = ln_get_config,
    .from_config = ln_from_config,
    .destroy = ln_destroy,
};
