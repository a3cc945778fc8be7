/* The activations and kernel helpers of the generated file. Each
 * activation is the same computation ckeras runs (src/core/activations.c,
 * and the polynomial exp and sigmoid and the rational tanh of
 * src/core/ck_vmath.h), so the exported model gives ckeras's numbers;
 * hard_sigmoid arrives already resolved to its Keras 2 or Keras 3 formula.
 * tests/test_export.c checks every one against ck_act_forward. */
#include "ck_export.h"

#include <stdio.h>
#include <string.h>

enum {
    DEP_EXP_RANGE = 1u << 0,
    DEP_EXP_POLY = 1u << 1,
    DEP_CLAMP = 1u << 2,
    DEP_SIGMOID_LIBM = 1u << 3,
    DEP_SOFTPLUS = 1u << 4
};

typedef struct snippet {
    unsigned bit;
    unsigned deps;
    const char *code;
} snippet;

/* Support functions, in dependency order. */
static const snippet support[] = {
    {DEP_EXP_RANGE, 0,
     "/* e^x = 2^n e^r, |r| <= ln2/2, for x in about [-104, 89]. */\n"
     "static float exp_range(float x)\n{\n"
     "    union { int32_t i; float f; } s1, s2;\n"
     "    float fn = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;\n"
     "    int32_t n = (int32_t)fn, n1 = n >> 1;\n"
     "    float r = x - fn * 0.693359375f + fn * 2.12194440e-4f;\n"
     "    float p = 1.9875691500e-4f;\n"
     "    p = p * r + 1.3981999507e-3f;\n"
     "    p = p * r + 8.3334519073e-3f;\n"
     "    p = p * r + 4.1665795894e-2f;\n"
     "    p = p * r + 1.6666665459e-1f;\n"
     "    p = p * r + 5.0000001201e-1f;\n"
     "    s1.i = (n1 + 127) * 8388608;\n"
     "    s2.i = (n - n1 + 127) * 8388608;\n"
     "    return (p * r * r + r + 1.0f) * s1.f * s2.f;\n}\n\n"},
    {DEP_EXP_POLY, DEP_EXP_RANGE,
     "static float exp_poly(float x)\n{\n"
     "    x = x > 88.3762626647949f ? 88.3762626647949f : x;\n"
     "    return exp_range(x < -87.3365447504f ? -87.3365447504f : x);\n}\n\n"},
    {DEP_CLAMP, 0,
     "static float clampf_(float v, float lo, float hi)\n{\n"
     "    return v < lo ? lo : (v > hi ? hi : v);\n}\n\n"},
    {DEP_SIGMOID_LIBM, 0,
     "static float sigmoid_libm(float x)\n{\n"
     "    float e;\n"
     "    if (x >= 0.0f)\n        return 1.0f / (1.0f + expf(-x));\n"
     "    e = expf(x);\n    return e / (1.0f + e);\n}\n\n"},
    {DEP_SOFTPLUS, 0,
     "static float softplus_(float x)\n{\n"
     "    return (x > 0.0f ? x : 0.0f) + log1pf(expf(-fabsf(x)));\n}\n\n"},
};

typedef struct act_snippet {
    ck_act act;
    const char *fn;
    unsigned deps;
    const char *body; /* returns f(x) */
} act_snippet;

static const act_snippet acts[] = {
    {CK_ACT_RELU, "act_relu", 0, "return x > 0.0f ? x : 0.0f;"},
    {CK_ACT_SIGMOID, "act_sigmoid", DEP_EXP_POLY, "return 1.0f / (1.0f + exp_poly(-x));"},
    {CK_ACT_TANH, "act_tanh", 0,
     "float c = x > 7.90531110763549805f ? 7.90531110763549805f\n"
     "              : x < -7.90531110763549805f ? -7.90531110763549805f : x;\n"
     "    float z = c * c, a = x < 0.0f ? -x : x;\n"
     "    float p = -2.76076847742355e-16f, q = 1.19825839466702e-06f;\n"
     "    p = p * z + 2.00018790482477e-13f;\n"
     "    p = p * z - 8.60467152213735e-11f;\n"
     "    p = p * z + 5.12229709037114e-08f;\n"
     "    p = p * z + 1.48572235717979e-05f;\n"
     "    p = p * z + 6.37261928875436e-04f;\n"
     "    p = p * z + 4.89352455891786e-03f;\n"
     "    q = q * z + 1.18534705686654e-04f;\n"
     "    q = q * z + 2.26843463243900e-03f;\n"
     "    q = q * z + 4.89352518554385e-03f;\n"
     "    return a < 4e-4f ? x : p * c / q;"},
    {CK_ACT_HARD_SIGMOID_K2, "act_hard_sigmoid_keras2", DEP_CLAMP,
     "return clampf_(0.2f * x + 0.5f, 0.0f, 1.0f);"},
    {CK_ACT_HARD_SIGMOID_K3, "act_hard_sigmoid_keras3", DEP_CLAMP,
     "return clampf_(x / 6.0f + 0.5f, 0.0f, 1.0f);"},
    {CK_ACT_ELU, "act_elu", 0, "return x > 0.0f ? x : expm1f(x);"},
    {CK_ACT_SELU, "act_selu", 0,
     "return 1.0507009873554805f * (x > 0.0f ? x : 1.6732632423543772f * expm1f(x));"},
    {CK_ACT_SOFTPLUS, "act_softplus", DEP_SOFTPLUS, "return softplus_(x);"},
    {CK_ACT_SOFTSIGN, "act_softsign", 0, "return x / (1.0f + fabsf(x));"},
    {CK_ACT_SWISH, "act_swish", DEP_SIGMOID_LIBM, "return x * sigmoid_libm(x);"},
    {CK_ACT_GELU, "act_gelu", 0, "return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));"},
    {CK_ACT_EXPONENTIAL, "act_exponential", DEP_EXP_RANGE,
     "float c = x > 89.0f ? 89.0f : x, y;\n"
     "    c = c < -104.0f ? -104.0f : c;\n"
     "    y = exp_range(c);\n"
     "    y = x > 88.72283935546875f ? HUGE_VALF : y;\n"
     "    return x < -103.972084f ? 0.0f : y;"},
    {CK_ACT_RELU6, "act_relu6", DEP_CLAMP, "return clampf_(x, 0.0f, 6.0f);"},
    {CK_ACT_LEAKY_RELU, "act_leaky_relu", 0, "return x > 0.0f ? x : 0.2f * x;"},
    {CK_ACT_MISH, "act_mish", DEP_SOFTPLUS, "return x * tanhf(softplus_(x));"},
    {CK_ACT_HARD_SILU, "act_hard_silu", DEP_CLAMP,
     "return x * clampf_(x + 3.0f, 0.0f, 6.0f) / 6.0f;"},
};

static const act_snippet *find_act(ck_act act)
{
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
        if (acts[i].act == act)
            return &acts[i];
    return NULL;
}

const char *ck_exp_act_call(ck_exp *x, ck_act act, const char *v, char *buf, size_t len)
{
    const act_snippet *a = find_act(act);
    if (!a) { /* linear: the value itself, bracketed for any context */
        snprintf(buf, len, "(%s)", v);
        return buf;
    }
    x->acts |= 1u << act;
    snprintf(buf, len, "%s(%s)", a->fn, v);
    return buf;
}

void ck_exp_act_rows(ck_exp *x, ck_act act, const char *ye, const char *n, size_t len)
{
    char call[96], elem[64];
    if (act == CK_ACT_SOFTMAX) {
        x->helpers |= CK_HELP_SOFTMAX;
        ck_text_printf(&x->code, "    softmax_rows(%s, %s, %zu);\n", ye, n, len);
        return;
    }
    if (!find_act(act))
        return;
    snprintf(elem, sizeof elem, "%s[j]", ye);
    ck_text_printf(&x->code, "    for (int j = 0; j < %s; j++)\n        %s[j] = %s;\n", n, ye,
                   ck_exp_act_call(x, act, elem, call, sizeof call));
}

static const char *const mv_f32_code =
    "/* y[j] += sum_i x[i] w[i*ld + j]: rows of w are contiguous, so the inner\n"
    " * loop vectorizes; a zero input (relu, padding) skips its row. */\n"
    "static void mv_f32(const float *restrict x, const float *restrict w, int k, int n, int ld,\n"
    "                   float *restrict y)\n{\n"
    "    for (int i = 0; i < k; i++) {\n"
    "        const float xi = x[i];\n"
    "        const float *restrict row = w + (long)i * ld;\n"
    "        if (xi == 0.0f)\n            continue;\n"
    "        for (int j = 0; j < n; j++)\n            y[j] += xi * row[j];\n"
    "    }\n}\n\n";

static const char *const h2f_code =
    "/* float16 bits to float: exponent and mantissa moved into place, then\n"
    " * rebiased by 2^112 (exported weights are finite). */\n"
    "static float h2f(uint16_t h)\n{\n"
    "    union { uint32_t u; float f; } v;\n"
    "    v.u = (uint32_t)(h & 0x7fffu) << 13;\n"
    "    v.f *= 0x1p112f;\n"
    "    v.u |= (uint32_t)(h & 0x8000u) << 16;\n"
    "    return v.f;\n}\n\n";

static const char *const mv_f16_code =
    "static void mv_f16(const float *restrict x, const uint16_t *restrict w, int k, int n, int ld,\n"
    "                   float *restrict y)\n{\n"
    "    for (int i = 0; i < k; i++) {\n"
    "        const float xi = x[i];\n"
    "        const uint16_t *restrict row = w + (long)i * ld;\n"
    "        if (xi == 0.0f)\n            continue;\n"
    "        for (int j = 0; j < n; j++)\n            y[j] += xi * h2f(row[j]);\n"
    "    }\n}\n\n";

static const char *const mv_i8_code =
    "/* y[j] += scale[j] * sum_i x[i] q[i*ld + j], summed in acc. */\n"
    "static void mv_i8(const float *restrict x, const int8_t *restrict q, const float *restrict scale, int k,\n"
    "                  int n, int ld, float *restrict acc, float *restrict y)\n{\n"
    "    for (int j = 0; j < n; j++)\n        acc[j] = 0.0f;\n"
    "    for (int i = 0; i < k; i++) {\n"
    "        const float xi = x[i];\n"
    "        const int8_t *restrict row = q + (long)i * ld;\n"
    "        if (xi == 0.0f)\n            continue;\n"
    "        for (int j = 0; j < n; j++)\n            acc[j] += xi * (float)row[j];\n"
    "    }\n"
    "    for (int j = 0; j < n; j++)\n        y[j] += acc[j] * scale[j];\n}\n\n";

static const char *const softmax_code =
    "static void softmax_rows(float *restrict y, int n, int len)\n{\n"
    "    for (int r = 0; r + len <= n; r += len) {\n"
    "        float mx = y[r], sum = 0.0f, inv;\n"
    "        for (int j = 1; j < len; j++)\n            mx = y[r + j] > mx ? y[r + j] : mx;\n"
    "        for (int j = 0; j < len; j++) {\n"
    "            y[r + j] = expf(y[r + j] - mx);\n            sum += y[r + j];\n        }\n"
    "        inv = 1.0f / sum;\n"
    "        for (int j = 0; j < len; j++)\n            y[r + j] *= inv;\n"
    "    }\n}\n\n";

void ck_exp_helpers_emit(ck_exp *x, ck_text *out)
{
    unsigned deps = 0;
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
        if (x->acts & (1u << acts[i].act))
            deps |= acts[i].deps;
    for (size_t i = sizeof support / sizeof support[0]; i-- > 0;)
        if (deps & support[i].bit)
            deps |= support[i].deps;
    for (size_t i = 0; i < sizeof support / sizeof support[0]; i++)
        if (deps & support[i].bit)
            ck_text_printf(out, "%s", support[i].code);
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
        if (x->acts & (1u << acts[i].act))
            ck_text_printf(out, "static float %s(float x)\n{\n    %s\n}\n\n", acts[i].fn,
                           acts[i].body);
    if (x->helpers & CK_HELP_MV_F32)
        ck_text_printf(out, "%s", mv_f32_code);
    if (x->helpers & (CK_HELP_H2F | CK_HELP_MV_F16))
        ck_text_printf(out, "%s", h2f_code);
    if (x->helpers & CK_HELP_MV_F16)
        ck_text_printf(out, "%s", mv_f16_code);
    if (x->helpers & CK_HELP_MV_I8)
        ck_text_printf(out, "%s", mv_i8_code);
    if (x->helpers & CK_HELP_SOFTMAX)
        ck_text_printf(out, "%s", softmax_code);
}
