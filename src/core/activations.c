#include "ck_internal.h"
#include "ck_vmath.h"

#include <math.h>
#include <string.h>

/* Keras's SELU constants (keras/src/activations/activations.py). */
#define SELU_ALPHA 1.6732632423543772
#define SELU_SCALE 1.0507009873554805
/* Keras 3 activations.leaky_relu default negative_slope. */
#define LEAKY_SLOPE 0.2f

static const struct {
    const char *name;
    ck_act act;
} act_names[] = {
    {"linear", CK_ACT_LINEAR},
    {"relu", CK_ACT_RELU},
    {"sigmoid", CK_ACT_SIGMOID},
    {"tanh", CK_ACT_TANH},
    {"softmax", CK_ACT_SOFTMAX},
    {"hard_sigmoid", CK_ACT_HARD_SIGMOID},
    {"hard_sigmoid_keras2", CK_ACT_HARD_SIGMOID_K2},
    {"hard_sigmoid_keras3", CK_ACT_HARD_SIGMOID_K3},
    {"elu", CK_ACT_ELU},
    {"selu", CK_ACT_SELU},
    {"softplus", CK_ACT_SOFTPLUS},
    {"softsign", CK_ACT_SOFTSIGN},
    {"swish", CK_ACT_SWISH},
    {"silu", CK_ACT_SWISH},
    {"gelu", CK_ACT_GELU},
    {"exponential", CK_ACT_EXPONENTIAL},
    {"relu6", CK_ACT_RELU6},
    {"leaky_relu", CK_ACT_LEAKY_RELU},
    {"mish", CK_ACT_MISH},
    {"hard_silu", CK_ACT_HARD_SILU},
    {"hard_swish", CK_ACT_HARD_SILU},
};
#define N_ACT_NAMES (sizeof act_names / sizeof act_names[0])

ck_status ck_act_parse(const char *name, ck_act *out)
{
    *out = CK_ACT_LINEAR;
    if (!name || !*name)
        return CK_OK;
    for (size_t i = 0; i < N_ACT_NAMES; i++) {
        if (strcmp(name, act_names[i].name) == 0) {
            *out = act_names[i].act;
            return CK_OK;
        }
    }
    char list[512] = "";
    for (size_t i = 0; i < N_ACT_NAMES; i++) {
        strncat(list, act_names[i].name, sizeof list - strlen(list) - 1);
        if (i + 1 < N_ACT_NAMES)
            strncat(list, ", ", sizeof list - strlen(list) - 1);
    }
    return ck_error(CK_ERR_NAME, "unknown activation '%s' (valid: %s)", name, list);
}

const char *ck_act_name(ck_act act)
{
    /* Both hard_sigmoid variants are written as Keras's own name: the
     * file's keras_version says which formula it means. */
    if (act == CK_ACT_HARD_SIGMOID_K2 || act == CK_ACT_HARD_SIGMOID_K3)
        return "hard_sigmoid";
    for (size_t i = 0; i < N_ACT_NAMES; i++)
        if (act_names[i].act == act)
            return act_names[i].name;
    return "linear";
}

ck_act ck_act_resolve(ck_act act, ck_keras_semantics semantics)
{
    if (act != CK_ACT_HARD_SIGMOID)
        return act;
    return semantics == CK_KERAS3 ? CK_ACT_HARD_SIGMOID_K3 : CK_ACT_HARD_SIGMOID_K2;
}

static float clampf(float v, float lo, float hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

static float sigmoidf(float x)
{
    /* Split by sign so exp never overflows. */
    if (x >= 0.0f)
        return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

static void softmax_rows(const float *x, float *y, size_t n, size_t len)
{
    for (size_t r = 0; r + len <= n; r += len) {
        float mx = x[r];
        for (size_t j = 1; j < len; j++)
            mx = x[r + j] > mx ? x[r + j] : mx;
        float sum = 0.0f;
        for (size_t j = 0; j < len; j++) {
            y[r + j] = expf(x[r + j] - mx);
            sum += y[r + j];
        }
        float inv = 1.0f / sum;
        for (size_t j = 0; j < len; j++)
            y[r + j] *= inv;
    }
}

static float act_one(ck_act act, float x)
{
    switch (act) {
    case CK_ACT_RELU:
        return x > 0.0f ? x : 0.0f;
    case CK_ACT_SIGMOID:
        return sigmoidf(x);
    case CK_ACT_TANH:
        return tanhf(x);
    case CK_ACT_HARD_SIGMOID:
    case CK_ACT_HARD_SIGMOID_K2:
        return clampf(0.2f * x + 0.5f, 0.0f, 1.0f);
    case CK_ACT_HARD_SIGMOID_K3:
        return clampf(x / 6.0f + 0.5f, 0.0f, 1.0f);
    case CK_ACT_ELU:
        return x > 0.0f ? x : expm1f(x);
    case CK_ACT_SELU:
        return (float)SELU_SCALE * (x > 0.0f ? x : (float)SELU_ALPHA * expm1f(x));
    case CK_ACT_SOFTPLUS:
        return (x > 0.0f ? x : 0.0f) + log1pf(expf(-fabsf(x)));
    case CK_ACT_SOFTSIGN:
        return x / (1.0f + fabsf(x));
    case CK_ACT_SWISH:
        return x * sigmoidf(x);
    case CK_ACT_GELU:
        return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case CK_ACT_EXPONENTIAL:
        return expf(x);
    case CK_ACT_RELU6:
        return clampf(x, 0.0f, 6.0f);
    case CK_ACT_LEAKY_RELU:
        return x > 0.0f ? x : LEAKY_SLOPE * x;
    case CK_ACT_MISH:
        return x * tanhf(act_one(CK_ACT_SOFTPLUS, x));
    case CK_ACT_HARD_SILU:
        return x * clampf(x + 3.0f, 0.0f, 6.0f) / 6.0f;
    default:
        return x;
    }
}

/* f'(x), with y = f(x) available to save recomputation. */
static float act_deriv(ck_act act, float x, float y)
{
    switch (act) {
    case CK_ACT_RELU:
        return x > 0.0f ? 1.0f : 0.0f;
    case CK_ACT_SIGMOID:
        return y * (1.0f - y);
    case CK_ACT_TANH:
        return 1.0f - y * y;
    case CK_ACT_HARD_SIGMOID:
    case CK_ACT_HARD_SIGMOID_K2:
        return (x > -2.5f && x < 2.5f) ? 0.2f : 0.0f;
    case CK_ACT_HARD_SIGMOID_K3:
        return (x > -3.0f && x < 3.0f) ? 1.0f / 6.0f : 0.0f;
    case CK_ACT_ELU:
        return x > 0.0f ? 1.0f : y + 1.0f;
    case CK_ACT_SELU:
        return x > 0.0f ? (float)SELU_SCALE : y + (float)(SELU_SCALE * SELU_ALPHA);
    case CK_ACT_SOFTPLUS:
        return sigmoidf(x);
    case CK_ACT_SOFTSIGN: {
        float d = 1.0f + fabsf(x);
        return 1.0f / (d * d);
    }
    case CK_ACT_SWISH: {
        float s = sigmoidf(x);
        return s + x * s * (1.0f - s);
    }
    case CK_ACT_GELU: {
        float cdf = 0.5f * (1.0f + erff(x * 0.70710678118654752f));
        float pdf = 0.39894228040143268f * expf(-0.5f * x * x);
        return cdf + x * pdf;
    }
    case CK_ACT_EXPONENTIAL:
        return y;
    case CK_ACT_RELU6:
        return (x > 0.0f && x < 6.0f) ? 1.0f : 0.0f;
    case CK_ACT_LEAKY_RELU:
        return x > 0.0f ? 1.0f : LEAKY_SLOPE;
    case CK_ACT_MISH: {
        float t = tanhf(act_one(CK_ACT_SOFTPLUS, x));
        return t + x * sigmoidf(x) * (1.0f - t * t);
    }
    case CK_ACT_HARD_SILU:
        return x <= -3.0f ? 0.0f : (x >= 3.0f ? 1.0f : (2.0f * x + 3.0f) / 6.0f);
    default:
        return 1.0f;
    }
}

void ck_act_forward(ck_act act, const float *x, float *y, size_t n, size_t axis_len)
{
    switch (act) {
    case CK_ACT_LINEAR:
        if (x != y)
            memmove(y, x, n * sizeof *y);
        return;
    case CK_ACT_SOFTMAX:
        softmax_rows(x, y, n, axis_len ? axis_len : n);
        return;
    case CK_ACT_RELU:
        for (size_t i = 0; i < n; i++)
            y[i] = x[i] > 0.0f ? x[i] : 0.0f;
        return;
    case CK_ACT_SIGMOID:
        ck_vsigmoid(x, y, n);
        return;
    case CK_ACT_TANH:
        ck_vtanh(x, y, n);
        return;
    case CK_ACT_EXPONENTIAL:
        ck_vexp(x, y, n);
        return;
    default:
        for (size_t i = 0; i < n; i++)
            y[i] = act_one(act, x[i]);
        return;
    }
}

void ck_act_backward(ck_act act, const float *x, const float *y, const float *dy, float *dx,
                     size_t n, size_t axis_len)
{
    if (act == CK_ACT_SOFTMAX) {
        size_t len = axis_len ? axis_len : n;
        for (size_t r = 0; r + len <= n; r += len) {
            float dot = 0.0f;
            for (size_t j = 0; j < len; j++)
                dot += dy[r + j] * y[r + j];
            for (size_t j = 0; j < len; j++)
                dx[r + j] = y[r + j] * (dy[r + j] - dot);
        }
        return;
    }
    /* The recurrent layers call this per gate block: give the common
     * activations their own simple loops so they vectorize. */
    switch (act) {
    case CK_ACT_LINEAR:
        if (dx != dy)
            memmove(dx, dy, n * sizeof *dx);
        return;
    case CK_ACT_SIGMOID:
        for (size_t i = 0; i < n; i++)
            dx[i] = dy[i] * y[i] * (1.0f - y[i]);
        return;
    case CK_ACT_TANH:
        for (size_t i = 0; i < n; i++)
            dx[i] = dy[i] * (1.0f - y[i] * y[i]);
        return;
    case CK_ACT_RELU:
        for (size_t i = 0; i < n; i++)
            dx[i] = x[i] > 0.0f ? dy[i] : 0.0f;
        return;
    default:
        for (size_t i = 0; i < n; i++)
            dx[i] = dy[i] * act_deriv(act, x[i], y[i]);
        return;
    }
}

ck_status ck_apply_activation(const char *name, float *x, size_t n, size_t axis_len)
{
    ck_act act;
    if (!x && n)
        return ck_error(CK_ERR_ARGUMENT, "ck_apply_activation: x is NULL");
    if (axis_len && n % axis_len)
        return ck_error(CK_ERR_SHAPE,
                        "ck_apply_activation: n=%zu is not a multiple of axis_len=%zu", n,
                        axis_len);
    CK_TRY(ck_act_parse(name, &act));
    ck_act_forward(ck_act_resolve(act, CK_KERAS2), x, x, n, axis_len);
    return CK_OK;
}
