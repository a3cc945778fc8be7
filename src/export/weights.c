/* Weight arrays of the generated file, and the code that multiplies by
 * them. Kernels may be stored as float32, float16 (IEEE half bits,
 * widened in the inner loop) or int8 with one symmetric scale per output
 * channel (q = round(w / s), s = max|w| / 127), dequantized on the fly:
 * y += s * sum(x * q). Biases and normalization weights stay float32. */
#include "ck_export.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HALF_MAX 65504.0f

void ck_exp_float_literal(float v, char *buf, size_t len)
{
    /* The shortest of 6 to 9 digits that reads back exactly keeps the
     * generated files small (and quick to compile). */
    for (int digits = 6; digits <= 9; digits++) {
        snprintf(buf, len, "%.*g", digits, (double)v);
        if (strtof(buf, NULL) == v)
            break;
    }
    if (!strpbrk(buf, ".en"))
        strncat(buf, ".0", len - strlen(buf) - 1);
    strncat(buf, "f", len - strlen(buf) - 1);
}

/* IEEE half bits of v, rounded to nearest even; v is finite and in range. */
static uint16_t to_half(float v)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a < 0x38800000u) /* below 2^-14: a subnormal half, counted in 2^-24 */
        return (uint16_t)(sign | (uint16_t)lrintf(fabsf(v) * 0x1p24f));
    uint32_t r = a + 0xfffu + ((a >> 13) & 1u);
    return (uint16_t)(sign | (uint16_t)((r >> 13) - (112u << 10)));
}

/* The generated code's widening: the half's exponent and mantissa moved
 * into float position, then rebiased by a multiplication by 2^112 (which
 * also turns half subnormals into the right normal floats). */
static float from_half(uint16_t h)
{
    uint32_t u = (uint32_t)(h & 0x7fffu) << 13;
    float f;
    memcpy(&f, &u, sizeof f);
    f *= 0x1p112f;
    return h & 0x8000u ? -f : f;
}

/* Symmetric int8 scale of n values with stride `step`. */
static float int8_scale(const float *v, size_t n, size_t step)
{
    float mx = 0.0f;
    for (size_t i = 0; i < n; i++)
        mx = fmaxf(mx, fabsf(v[i * step]));
    return mx / 127.0f;
}

static int8_t to_int8(float v, float scale)
{
    if (scale == 0.0f)
        return 0;
    long q = lrintf(v / scale);
    return (int8_t)(q > 127 ? 127 : q < -127 ? -127 : q);
}

static float scale_of(const float *data, size_t rows, size_t cols, bool per_row, size_t i)
{
    return per_row ? int8_scale(data + i * cols, cols, 1) : int8_scale(data + i, rows, cols);
}

void ck_exp_round_matrix(ck_exp_store store, float *data, size_t rows, size_t cols, bool per_row)
{
    if (store == CK_EXP_F16) {
        for (size_t i = 0; i < rows * cols; i++)
            data[i] = from_half(to_half(data[i]));
        return;
    }
    if (store != CK_EXP_I8)
        return;
    size_t groups = per_row ? rows : cols;
    for (size_t g = 0; g < groups; g++) {
        float s = scale_of(data, rows, cols, per_row, g);
        size_t n = per_row ? cols : rows, step = per_row ? 1 : cols;
        float *v = per_row ? data + g * cols : data + g;
        for (size_t i = 0; i < n; i++)
            v[i * step] = (float)to_int8(v[i * step], s) * s;
    }
}

static void open_array(ck_exp *x, const char *type, const char *sym, size_t n)
{
    ck_text_printf(&x->weights, "static const %s %s[%zu] = {", type, sym, n);
}

static void close_array(ck_exp *x)
{
    ck_text_printf(&x->weights, "\n};\n");
}

static void put_floats(ck_exp *x, const char *sym, const float *v, size_t n)
{
    char lit[40];
    open_array(x, "float", sym, n);
    for (size_t i = 0; i < n; i++) {
        ck_exp_float_literal(v[i], lit, sizeof lit);
        ck_text_printf(&x->weights, "%s%s,", i % 8 ? " " : "\n    ", lit);
    }
    close_array(x);
    x->weight_bytes += n * sizeof(float);
}

static ck_status check_values(const ck_exp_layer *L, const char *what, const float *v, size_t n,
                              bool half)
{
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(v[i]))
            return ck_exp_refuse(L, "%s value #%zu is not finite", what, i);
        if (half && fabsf(v[i]) > HALF_MAX)
            return ck_exp_refuse(L, "%s value #%zu (%g) does not fit float16 weights (max %g)",
                                 what, i, (double)v[i], (double)HALF_MAX);
    }
    return CK_OK;
}

ck_status ck_exp_floats_emit(ck_exp *x, const ck_exp_layer *L, const char *what, const float *data,
                             size_t n)
{
    char sym[64];
    CK_TRY(check_values(L, what, data, n, false));
    snprintf(sym, sizeof sym, "%s_%s", L->id, what);
    put_floats(x, sym, data, n);
    return CK_OK;
}

static void put_half(ck_exp *x, const ck_exp_matrix *m, const float *data)
{
    size_t n = m->rows * m->cols;
    open_array(x, "uint16_t", m->sym, n);
    for (size_t i = 0; i < n; i++)
        ck_text_printf(&x->weights, "%s0x%04x,", i % 12 ? " " : "\n    ", to_half(data[i]));
    close_array(x);
    x->weight_bytes += n * sizeof(uint16_t);
    x->helpers |= CK_HELP_H2F;
}

static ck_status put_int8(ck_exp *x, const ck_exp_matrix *m, const float *data)
{
    size_t groups = m->per_row ? m->rows : m->cols, n = m->rows * m->cols;
    float *scales = ck_alloc(groups, sizeof *scales);
    if (!scales)
        return CK_ERR_MEMORY;
    for (size_t g = 0; g < groups; g++)
        scales[g] = scale_of(data, m->rows, m->cols, m->per_row, g);
    open_array(x, "int8_t", m->sym, n);
    for (size_t i = 0; i < n; i++) {
        size_t g = m->per_row ? i / m->cols : i % m->cols;
        ck_text_printf(&x->weights, "%s%d,", i % 16 ? " " : "\n    ", to_int8(data[i], scales[g]));
    }
    close_array(x);
    x->weight_bytes += n;
    char ssym[48];
    snprintf(ssym, sizeof ssym, "%s_s", m->sym);
    put_floats(x, ssym, scales, groups);
    free(scales);
    if (!m->per_row && m->cols > x->acc_floats)
        x->acc_floats = m->cols;
    return CK_OK;
}

static ck_status remember_rounding(ck_exp *x, const float *data, const ck_exp_matrix *m)
{
    ck_exp_rounded *r = ck_realloc_array(x->rounded, x->n_rounded + 1, sizeof *r);
    if (!r)
        return CK_ERR_MEMORY;
    x->rounded = r;
    /* The model's own weight: the report rounds it in place and restores it. */
    r[x->n_rounded++] = (ck_exp_rounded){(float *)data, m->rows, m->cols, m->per_row};
    return CK_OK;
}

ck_status ck_exp_matrix_emit(ck_exp *x, const ck_exp_layer *L, const char *what, const float *data,
                             size_t rows, size_t cols, bool quantize, bool per_row,
                             ck_exp_matrix *m)
{
    *m = (ck_exp_matrix){
        .store = quantize ? x->store : CK_EXP_F32, .rows = rows, .cols = cols, .per_row = per_row};
    snprintf(m->sym, sizeof m->sym, "%s_%s", L->id, what);
    CK_TRY(check_values(L, what, data, rows * cols, m->store == CK_EXP_F16));
    if (m->store != CK_EXP_F32)
        CK_TRY(remember_rounding(x, data, m));
    switch (m->store) {
    case CK_EXP_F32:
        put_floats(x, m->sym, data, rows * cols);
        return CK_OK;
    case CK_EXP_F16:
        put_half(x, m, data);
        return CK_OK;
    case CK_EXP_I8:
        return put_int8(x, m, data);
    }
    return CK_OK;
}

void ck_exp_matvec(ck_exp *x, const ck_exp_matrix *m, const char *xe, const char *row0, size_t K,
                   size_t col0, size_t N, const char *ye)
{
    static const char *const fn[] = {"mv_f32", "mv_f16", "mv_i8"};
    static const unsigned help[] = {CK_HELP_MV_F32, CK_HELP_MV_F16, CK_HELP_MV_I8};
    x->helpers |= help[m->store];
    if (strcmp(row0, "0") == 0)
        ck_text_printf(&x->code, "    %s(%s, %s + %zu, ", fn[m->store], xe, m->sym, col0);
    else
        ck_text_printf(&x->code, "    %s(%s, %s + (long)(%s) * %zu + %zu, ", fn[m->store], xe,
                       m->sym, row0, m->cols, col0);
    if (m->store == CK_EXP_I8)
        ck_text_printf(&x->code, "%s_s + %zu, ", m->sym, col0);
    ck_text_printf(&x->code, "%zu, %zu, %zu, ", K, N, m->cols);
    if (m->store == CK_EXP_I8)
        ck_text_printf(&x->code, "s->acc, ");
    ck_text_printf(&x->code, "%s);\n", ye);
}

void ck_exp_lookup(ck_exp *x, const ck_exp_matrix *m, const char *row, const char *ye)
{
    const char *sym = m->sym;
    size_t D = m->cols;
    switch (m->store) {
    case CK_EXP_F32:
        ck_text_printf(&x->code, "    memcpy(%s, %s + (long)(%s) * %zu, sizeof(float) * %zu);\n",
                       ye, sym, row, D, D);
        return;
    case CK_EXP_F16:
        ck_text_printf(
            &x->code,
            "    for (int j = 0; j < %zu; j++)\n        %s[j] = h2f(%s[(long)(%s) * %zu + j]);\n",
            D, ye, sym, row, D);
        return;
    case CK_EXP_I8:
        ck_text_printf(
            &x->code,
            "    for (int j = 0; j < %zu; j++)\n        %s[j] = (float)%s[(long)(%s) * %zu + j] * %s_s[%s];\n",
            D, ye, sym, row, D, sym, row);
        return;
    }
}
