/* keras.layers.Conv1D on (batch, steps, channels). The input windows are
 * unrolled into rows of kernel_size*channels values (im2col), so forward
 * and both weight gradients are single GEMMs against the kernel viewed as
 * (kernel_size*channels, filters). */
#include "layer_util.h"

#include <stdlib.h>
#include <string.h>

typedef struct conv1d {
    ck_layer base;
    int filters, kernel_size, strides, dilation;
    ck_padding padding;
    ck_affine aff;
    ck_buf cols; /* (B*T_out, k*C) windows of the last forward */
    ck_buf dcols;
} conv1d;

extern const ck_layer_ops ck_conv1d_layer_ops;

static ck_status check_options(const ck_conv1d_options *o, ck_affine *aff, ck_padding *pad)
{
    if (o->filters <= 0 || o->kernel_size <= 0)
        return ck_error(CK_ERR_ARGUMENT,
                        "Conv1D: filters and kernel_size must be positive, got %d "
                        "and %d",
                        o->filters, o->kernel_size);
    if (o->strides < 0 || o->dilation_rate < 0)
        return ck_error(CK_ERR_ARGUMENT, "Conv1D: strides and dilation_rate must be positive");
    if (o->strides > 1 && o->dilation_rate > 1)
        return ck_error(CK_ERR_ARGUMENT, "Conv1D: strides > 1 is not supported together with "
                                         "dilation_rate > 1 (as in Keras)");
    CK_TRY(ck_padding_parse("Conv1D", o->padding, true, pad));
    return ck_affine_setup(aff, o->filters, o->activation, o->no_bias, &o->kernel_initializer,
                           &o->bias_initializer);
}

ck_layer *ck_conv1d_new(const ck_conv1d_options *o)
{
    ck_affine aff = {0};
    ck_padding pad;
    if (!o) {
        ck_error(CK_ERR_ARGUMENT, "Conv1D: options are NULL");
        return NULL;
    }
    if (check_options(o, &aff, &pad) != CK_OK)
        return NULL;
    conv1d *cv = ck_layer_alloc(sizeof *cv, &ck_conv1d_layer_ops, o->name);
    if (!cv)
        return NULL;
    cv->filters = o->filters;
    cv->kernel_size = o->kernel_size;
    cv->strides = o->strides ? o->strides : 1;
    cv->dilation = o->dilation_rate ? o->dilation_rate : 1;
    cv->padding = pad;
    cv->aff = aff;
    return &cv->base;
}

static int64_t span(const conv1d *cv)
{
    return (int64_t)cv->dilation * (cv->kernel_size - 1) + 1;
}

static ck_status conv_output_shape(const ck_layer *l, const ck_shape *in, ck_shape *out)
{
    const conv1d *cv = (const conv1d *)l;
    CK_TRY(ck_shape_same(l, in, out, 3, 3));
    out->dims[1] = ck_window_out_len(in->dims[1], span(cv), cv->strides, cv->padding);
    out->dims[2] = cv->filters;
    if (out->dims[1] == 0)
        return ck_error(CK_ERR_SHAPE,
                        "Conv1D: %lld steps are fewer than the kernel span %lld "
                        "with padding \"valid\"",
                        (long long)in->dims[1], (long long)span(cv));
    return CK_OK;
}

static ck_status conv_build(ck_layer *l)
{
    conv1d *cv = (conv1d *)l;
    int64_t kdims[3] = {cv->kernel_size, l->in_shape.dims[2], cv->filters};
    return ck_affine_build(l, &cv->aff, 3, kdims);
}

/* to_cols: copies every window of the input src into dst (the cols);
 * otherwise adds the cols src back onto the input gradient dst. Padded
 * positions are zeros one way and dropped the other. */
static void unroll(const conv1d *cv, const ck_tensor *x, int64_t t_out, const float *src,
                   float *dst, bool to_cols)
{
    int64_t T = x->dims[1], C = x->dims[2], k = cv->kernel_size;
    int64_t pad = ck_window_pad_left(T, span(cv), cv->strides, cv->padding);
    for (int64_t b = 0; b < x->dims[0]; b++)
        for (int64_t t = 0; t < t_out; t++)
            for (int64_t j = 0; j < k; j++) {
                int64_t step = t * cv->strides - pad + j * cv->dilation;
                bool inside = step >= 0 && step < T;
                size_t col = (size_t)(((b * t_out + t) * k + j) * C);
                size_t xi = inside ? (size_t)((b * T + step) * C) : 0;
                for (int64_t c = 0; c < C; c++) {
                    if (to_cols)
                        dst[col + (size_t)c] = inside ? src[xi + (size_t)c] : 0.0f;
                    else if (inside)
                        dst[xi + (size_t)c] += src[col + (size_t)c];
                }
            }
}

static ck_status conv_forward(ck_layer *l, const ck_tensor *x, ck_tensor *y, const ck_run_ctx *ctx)
{
    conv1d *cv = (conv1d *)l;
    int K = (int)(cv->kernel_size * x->dims[2]), N = (int)(y->dims[0] * y->dims[1]);
    CK_TRY(ck_buf_reserve(&cv->cols, (size_t)N * (size_t)K));
    unroll(cv, x, y->dims[1], x->data, cv->cols.data, true);
    return ck_affine_forward(l, &cv->aff, cv->cols.data, N, K, y->data, ctx->training);
}

static ck_status conv_backward(ck_layer *l, const ck_tensor *x, const ck_tensor *y,
                               const ck_tensor *dy, ck_tensor *dx)
{
    conv1d *cv = (conv1d *)l;
    int K = (int)(cv->kernel_size * x->dims[2]), N = (int)(y->dims[0] * y->dims[1]);
    if (dx)
        CK_TRY(ck_buf_reserve(&cv->dcols, (size_t)N * (size_t)K));
    CK_TRY(ck_affine_backward(l, &cv->aff, cv->cols.data, N, K, y->data, dy->data,
                              dx ? cv->dcols.data : NULL));
    if (!dx)
        return CK_OK;
    memset(dx->data, 0, ck_tensor_size(x) * sizeof(float));
    unroll(cv, x, y->dims[1], cv->dcols.data, dx->data, false);
    return CK_OK;
}

static ck_status conv_get_config(const ck_layer *l, cJSON *cfg)
{
    const conv1d *cv = (const conv1d *)l;
    CK_TRY(ck_config_add_number(cfg, "filters", cv->filters));
    CK_TRY(ck_config_add_int1(cfg, "kernel_size", cv->kernel_size));
    CK_TRY(ck_config_add_int1(cfg, "strides", cv->strides));
    CK_TRY(ck_config_add_string(cfg, "padding", ck_padding_name(cv->padding)));
    CK_TRY(ck_config_add_string(cfg, "data_format", "channels_last"));
    CK_TRY(ck_config_add_int1(cfg, "dilation_rate", cv->dilation));
    CK_TRY(ck_config_add_number(cfg, "groups", 1));
    return ck_affine_get_config(&cv->aff, cfg);
}

static ck_layer *conv_from_config(const cJSON *cfg, ck_keras_semantics semantics)
{
    static const char *const known[] = {
        "filters",          "kernel_size", "strides",    "padding",  "data_format",
        "dilation_rate",    "groups",      "activation", "use_bias", "kernel_initializer",
        "bias_initializer", "lora_rank",   NULL};
    (void)semantics;
    ck_conv1d_options o = {0};
    int groups = 1;
    if (ck_config_check_keys(cfg, "Conv1D", known) != CK_OK ||
        ck_config_check_channels_last(cfg, "Conv1D") != CK_OK ||
        ck_config_get_int(cfg, "filters", &o.filters, true) != CK_OK ||
        ck_config_get_size1(cfg, "kernel_size", &o.kernel_size) != CK_OK ||
        ck_config_get_size1(cfg, "strides", &o.strides) != CK_OK ||
        ck_config_get_string(cfg, "padding", &o.padding) != CK_OK ||
        ck_config_get_size1(cfg, "dilation_rate", &o.dilation_rate) != CK_OK ||
        ck_config_get_int(cfg, "groups", &groups, false) != CK_OK ||
        ck_affine_from_config(cfg, "Conv1D", &o.activation, &o.no_bias, &o.kernel_initializer,
                              &o.bias_initializer) != CK_OK ||
        ck_config_get_string(cfg, "name", &o.name) != CK_OK)
        return NULL;
    if (groups != 1) {
        ck_error(CK_ERR_UNSUPPORTED, "Conv1D: option 'groups' is not supported by ckeras");
        return NULL;
    }
    return ck_conv1d_new(&o);
}

static void conv_destroy(ck_layer *l)
{
    conv1d *cv = (conv1d *)l;
    ck_affine_free(&cv->aff);
    ck_buf_free(&cv->cols);
    ck_buf_free(&cv->dcols);
    free(cv);
}

const ck_layer_ops ck_conv1d_layer_ops = {
    .class_name = "Conv1D",
    .base_name = "conv1d",
    .output_shape = conv_output_shape,
    .build = conv_build,
    .forward = conv_forward,
    .backward = conv_backward,
    .get_config = conv_get_config,
    .from_config = conv_from_config,
    .destroy = conv_destroy,
};
