#include "layer_util.h"
#include "ck_blas.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void *ck_layer_alloc(size_t size, const ck_layer_ops *ops, const char *name)
{
    ck_layer *l = ck_alloc(1, size);
    if (l && ck_layer_init(l, ops, name) != CK_OK) {
        free(l);
        return NULL;
    }
    return l;
}

ck_init ck_init_or(ck_init init, const char *name)
{
    if (!init.name)
        init.name = name;
    return init;
}

ck_status ck_shape_same(const ck_layer *l, const ck_shape *in, ck_shape *out, int min_rank,
                        int max_rank)
{
    if (in->rank < min_rank || in->rank > max_rank)
        return ck_error(CK_ERR_SHAPE,
                        "%s needs an input of rank %d%s (batch included), got rank %d",
                        l->ops->class_name, min_rank, max_rank > min_rank ? " or more" : "",
                        in->rank);
    if (in->dims[in->rank - 1] <= 0)
        return ck_error(CK_ERR_SHAPE, "%s needs a known last axis", l->ops->class_name);
    *out = *in;
    return CK_OK;
}

ck_status ck_check_last_axis(const char *class_name, int axis, const ck_shape *in)
{
    if (axis != -1 && axis != in->rank - 1)
        return ck_error(CK_ERR_UNSUPPORTED,
                        "%s: axis %d is not supported by ckeras (only the "
                        "last axis, -1)",
                        class_name, axis);
    return CK_OK;
}

ck_status ck_padding_parse(const char *class_name, const char *s, bool allow_causal,
                           ck_padding *out)
{
    if (!s || strcmp(s, "valid") == 0)
        *out = CK_PAD_VALID;
    else if (strcmp(s, "same") == 0)
        *out = CK_PAD_SAME;
    else if (allow_causal && strcmp(s, "causal") == 0)
        *out = CK_PAD_CAUSAL;
    else
        return ck_error(CK_ERR_ARGUMENT, "%s: padding must be \"valid\", \"same\"%s, got \"%s\"",
                        class_name, allow_causal ? " or \"causal\"" : "", s);
    return CK_OK;
}

const char *ck_padding_name(ck_padding p)
{
    return p == CK_PAD_SAME ? "same" : p == CK_PAD_CAUSAL ? "causal" : "valid";
}

int64_t ck_window_out_len(int64_t len, int64_t span, int stride, ck_padding p)
{
    if (len < 0)
        return CK_NONE;
    if (p != CK_PAD_VALID)
        return (len + stride - 1) / stride;
    return len < span ? 0 : (len - span) / stride + 1;
}

int64_t ck_window_pad_left(int64_t len, int64_t span, int stride, ck_padding p)
{
    if (p == CK_PAD_CAUSAL)
        return span - 1;
    if (p == CK_PAD_VALID)
        return 0;
    int64_t total = (ck_window_out_len(len, span, stride, p) - 1) * stride + span - len;
    return total > 0 ? total / 2 : 0;
}

ck_status ck_norm_setup(ck_norm_common *n, const char *class_name, int axis, double epsilon,
                        bool no_center, bool no_scale, const ck_init *beta, const ck_init *gamma)
{
    if (!(epsilon >= 0 && epsilon < 1e30))
        return ck_error(CK_ERR_ARGUMENT, "%s: epsilon must be a finite number > 0", class_name);
    if (axis != 0 && axis != -1 && axis < 1)
        return ck_error(CK_ERR_UNSUPPORTED,
                        "%s: axis %d is not supported by ckeras (only the last "
                        "axis, -1)",
                        class_name, axis);
    CK_TRY(ck_init_check(beta));
    CK_TRY(ck_init_check(gamma));
    n->axis = axis ? axis : -1;
    n->epsilon = epsilon > 0 ? epsilon : 1e-3;
    n->center = !no_center;
    n->scale = !no_scale;
    n->beta_init = ck_init_or(*beta, "zeros");
    n->gamma_init = ck_init_or(*gamma, "ones");
    return CK_OK;
}

ck_status ck_norm_build(ck_layer *l, const ck_norm_common *n)
{
    int64_t dims[1] = {l->in_shape.dims[l->in_shape.rank - 1]};
    if (n->scale && !ck_layer_add_weight(l, "gamma", 1, dims, &n->gamma_init, true))
        return ck_error_status();
    if (n->center && !ck_layer_add_weight(l, "beta", 1, dims, &n->beta_init, true))
        return ck_error_status();
    return CK_OK;
}

const float *ck_norm_gamma(const ck_layer *l, const ck_norm_common *n)
{
    return n->scale ? l->weights[0].data : NULL;
}

const float *ck_norm_beta(const ck_layer *l, const ck_norm_common *n)
{
    return n->center ? l->weights[n->scale].data : NULL;
}

void ck_norm_param_grads(ck_layer *l, const ck_norm_common *n, int64_t c, double dy_xhat, double dy)
{
    if (n->scale)
        l->weights[0].grad[c] += (float)dy_xhat;
    if (n->center)
        l->weights[n->scale].grad[c] += (float)dy;
}

ck_status ck_norm_get_config(const ck_layer *l, const ck_norm_common *n, bool k3_list, cJSON *cfg)
{
    bool k3 = ck_layer_semantics(l) == CK_KERAS3;
    int axis = !k3 && n->axis == -1 && l->built ? l->in_shape.rank - 1 : n->axis;
    bool list = k3 ? k3_list && l->built : l->built || n->axis > 0;
    CK_TRY(list ? ck_config_add_int1(cfg, "axis", axis) : ck_config_add_number(cfg, "axis", axis));
    CK_TRY(ck_config_add_number(cfg, "epsilon", n->epsilon));
    CK_TRY(ck_config_add_bool(cfg, "center", n->center));
    CK_TRY(ck_config_add_bool(cfg, "scale", n->scale));
    CK_TRY(ck_config_add(cfg, "beta_initializer", ck_init_to_json(&n->beta_init)));
    CK_TRY(ck_config_add(cfg, "gamma_initializer", ck_init_to_json(&n->gamma_init)));
    static const char *const nulls[] = {"beta_regularizer", "gamma_regularizer", "beta_constraint",
                                        "gamma_constraint", NULL};
    return ck_config_add_nulls(cfg, nulls);
}

ck_status ck_norm_from_config(const cJSON *cfg, const char *class_name, int *axis, double *epsilon,
                              bool *no_center, bool *no_scale, ck_init *beta, ck_init *gamma)
{
    bool center = true, scale = true;
    *axis = -1;
    CK_TRY(ck_config_get_axis(cfg, class_name, axis));
    /* The options say 0 for "the default, -1"; a file's 0 is the batch axis. */
    if (*axis == 0)
        return ck_error(CK_ERR_UNSUPPORTED,
                        "%s: axis 0 (the batch axis) is not supported by ckeras (only the last "
                        "axis, -1)",
                        class_name);
    CK_TRY(ck_config_get_double(cfg, "epsilon", epsilon));
    CK_TRY(ck_config_get_bool(cfg, "center", &center));
    CK_TRY(ck_config_get_bool(cfg, "scale", &scale));
    CK_TRY(ck_config_get_init(cfg, "beta_initializer", beta));
    CK_TRY(ck_config_get_init(cfg, "gamma_initializer", gamma));
    *no_center = !center;
    *no_scale = !scale;
    return CK_OK;
}

void ck_norm_config_epsilon(ck_norm_common *n, const cJSON *cfg)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, "epsilon");
    if (cJSON_IsNumber(v))
        n->epsilon = v->valuedouble;
}

ck_status ck_affine_setup(ck_affine *a, int units, const char *activation, bool no_bias,
                          const ck_init *kernel, const ck_init *bias)
{
    CK_TRY(ck_act_parse(activation, &a->act));
    CK_TRY(ck_init_check(kernel));
    CK_TRY(ck_init_check(bias));
    a->units = units;
    a->use_bias = !no_bias;
    a->kernel_init = ck_init_or(*kernel, "glorot_uniform");
    a->bias_init = ck_init_or(*bias, "zeros");
    return CK_OK;
}

ck_status ck_affine_build(ck_layer *l, const ck_affine *a, int kernel_rank,
                          const int64_t *kernel_dims)
{
    int64_t bdims[1] = {a->units};
    if (!ck_layer_add_weight(l, "kernel", kernel_rank, kernel_dims, &a->kernel_init, true))
        return ck_error_status();
    if (a->use_bias && !ck_layer_add_weight(l, "bias", 1, bdims, &a->bias_init, true))
        return ck_error_status();
    return CK_OK;
}

ck_status ck_affine_forward(ck_layer *l, ck_affine *a, const float *x, int N, int K, float *y,
                            bool training)
{
    int U = a->units;
    ck_act act = ck_act_resolve(a->act, ck_layer_semantics(l));
    /* Training keeps z for the activation derivative, and a fused loss for
     * its value; otherwise the activation works in place. */
    float *z = y;
    if ((training || l->fused_loss_grad) && act != CK_ACT_LINEAR) {
        CK_TRY(ck_buf_reserve(&a->z, (size_t)N * (size_t)U));
        z = a->z.data;
    }
    for (int n = 0; a->use_bias && n < N; n++)
        memcpy(z + (size_t)n * (size_t)U, l->weights[1].data, sizeof(float) * (size_t)U);
    CK_TRY(ck_layer_weight_gemm(l, &a->kernel, training, N, x, K, l->weights[0].data, K, U,
                                a->use_bias ? 1.0f : 0.0f, z, U));
    ck_act_forward(act, z, y, (size_t)N * (size_t)U, (size_t)U);
    l->logits = l->fused_loss_grad ? z : NULL;
    return CK_OK;
}

ck_status ck_affine_backward(ck_layer *l, ck_affine *a, const float *x, int N, int K,
                             const float *y, const float *dy, float *dx)
{
    int U = a->units;
    ck_act act = ck_act_resolve(a->act, ck_layer_semantics(l));
    const float *dz = dy;
    /* With a fused loss, dy is already the gradient of the pre-activation. */
    if (act != CK_ACT_LINEAR && !l->fused_loss_grad) {
        CK_TRY(ck_buf_reserve(&a->dz, (size_t)N * (size_t)U));
        ck_act_backward(act, a->z.data, y, dy, a->dz.data, (size_t)N * (size_t)U, (size_t)U);
        dz = a->dz.data;
    }
    ck_gemm_op ops[2] = {ck_gemm_op_tn(K, U, N, x, K, dz, U, 1.0f, l->weights[0].grad, U),
                         ck_gemm_op_nt(N, K, U, dz, U, l->weights[0].data, U, 0.0f, dx, K)};
    ck_gemm_group(ops, dx ? 2 : 1);
    if (a->use_bias) {
        float *gb = l->weights[1].grad;
        for (int n = 0; n < N; n++)
            for (int u = 0; u < U; u++)
                gb[u] += dz[(size_t)n * (size_t)U + (size_t)u];
    }
    return CK_OK;
}

ck_status ck_affine_get_config(const ck_affine *a, cJSON *cfg)
{
    static const char *const nulls[] = {"kernel_regularizer",   "bias_regularizer",
                                        "activity_regularizer", "kernel_constraint",
                                        "bias_constraint",      NULL};
    CK_TRY(ck_config_add_string(cfg, "activation", ck_act_name(a->act)));
    CK_TRY(ck_config_add_bool(cfg, "use_bias", a->use_bias));
    CK_TRY(ck_config_add(cfg, "kernel_initializer", ck_init_to_json(&a->kernel_init)));
    CK_TRY(ck_config_add(cfg, "bias_initializer", ck_init_to_json(&a->bias_init)));
    return ck_config_add_nulls(cfg, nulls);
}

ck_status ck_affine_from_config(const cJSON *cfg, const char *class_name, const char **activation,
                                bool *no_bias, ck_init *kernel, ck_init *bias)
{
    bool use_bias = true;
    int lora = 0;
    CK_TRY(ck_config_get_activation(cfg, "activation", activation));
    CK_TRY(ck_config_get_bool(cfg, "use_bias", &use_bias));
    CK_TRY(ck_config_get_init(cfg, "kernel_initializer", kernel));
    CK_TRY(ck_config_get_init(cfg, "bias_initializer", bias));
    CK_TRY(ck_config_get_int(cfg, "lora_rank", &lora, false));
    if (lora)
        return ck_error(CK_ERR_UNSUPPORTED, "%s: option 'lora_rank' is not supported by ckeras",
                        class_name);
    *no_bias = !use_bias;
    return CK_OK;
}

void ck_affine_free(ck_affine *a)
{
    ck_buf_free(&a->z);
    ck_buf_free(&a->dz);
    ck_packed_free(&a->kernel);
}
