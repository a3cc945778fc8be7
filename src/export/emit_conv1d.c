/* keras.layers.Conv1D on (steps, channels): each output step is the bias
 * plus one matrix product per kernel tap, over the taps that fall inside
 * the input (padding is zeros), then the activation. */
#include "ck_export.h"
#include "layer_util.h"

#include <stdio.h>

typedef struct conv_opts {
    int filters, kernel_size, strides, dilation, groups;
    ck_padding padding;
    bool use_bias;
    ck_act act;
} conv_opts;

static ck_status conv_plan(ck_exp *x, ck_exp_layer *L)
{
    static const char *const known[] = {
        "filters",     "kernel_size",        "strides",          "padding",
        "data_format", "dilation_rate",      "groups",           "activation",
        "use_bias",    "kernel_initializer", "bias_initializer", NULL};
    conv_opts *o = ck_alloc(1, sizeof *o);
    if (!o)
        return CK_ERR_MEMORY;
    L->priv = o;
    *o = (conv_opts){.strides = 1, .dilation = 1, .groups = 1, .use_bias = true};
    const char *padding = NULL;
    CK_TRY(ck_exp_check_keys(L, known));
    CK_TRY(ck_exp_get_int(L, "filters", &o->filters));
    CK_TRY(ck_exp_get_int(L, "groups", &o->groups));
    CK_TRY(ck_exp_get_bool(L, "use_bias", &o->use_bias));
    CK_TRY(ck_exp_get_act(x, L, "activation", NULL, &o->act));
    if (ck_config_get_int1(L->cfg, "kernel_size", &o->kernel_size) != CK_OK ||
        ck_config_get_int1(L->cfg, "strides", &o->strides) != CK_OK ||
        ck_config_get_int1(L->cfg, "dilation_rate", &o->dilation) != CK_OK ||
        ck_config_get_string(L->cfg, "padding", &padding) != CK_OK ||
        ck_padding_parse(L->cls, padding, true, &o->padding) != CK_OK)
        return ck_exp_refuse(L, "its config cannot be read");
    if (o->groups != 1)
        return ck_exp_refuse(L, "option 'groups' = %d is not exported", o->groups);
    size_t C = (size_t)L->in.dims[2];
    if (L->n_w != 1 + o->use_bias ||
        L->w[0].size != (size_t)o->kernel_size * C * (size_t)o->filters)
        return ck_exp_refuse(L, "its weights do not match its config");
    L->kind = CK_EXP_WHOLE;
    /* A causal convolution with stride 1 needs only past frames: it streams. */
    L->steps = L->begins = o->padding == CK_PAD_CAUSAL && o->strides == 1;
    return CK_OK;
}

static void emit_bias_init(ck_exp *x, const ck_exp_layer *L, const char *ye, size_t F)
{
    const conv_opts *o = L->priv;
    if (o->use_bias)
        ck_text_printf(&x->code, "    memcpy(%s, %s_bias, sizeof(float) * %zu);\n", ye, L->id, F);
    else
        ck_text_printf(&x->code, "    memset(%s, 0, sizeof(float) * %zu);\n", ye, F);
}

/* The whole sequence: every output step from the taps inside the input. */
static void emit_forward(ck_exp *x, const ck_exp_layer *L, const ck_exp_matrix *W)
{
    const conv_opts *o = L->priv;
    int64_t T = L->in.dims[1], T_out = L->out.dims[1],
            span = (int64_t)o->dilation * (o->kernel_size - 1) + 1;
    size_t C = (size_t)L->in.dims[2], F = (size_t)o->filters;
    char row0[48], xe[48], n[32];
    ck_exp_forward_open(x, L);
    ck_text_printf(
        &x->code,
        "    for (int t = 0; t < %lld; t++) {\n    float *restrict yt = y + (long)t * %zu;\n",
        (long long)T_out, F);
    emit_bias_init(x, L, "yt", F);
    ck_text_printf(&x->code,
                   "    for (int j = 0; j < %d; j++) {\n"
                   "        const int step = t * %d - %lld + j * %d;\n"
                   "        if (step < 0 || step >= %lld)\n            continue;\n",
                   o->kernel_size, o->strides,
                   (long long)ck_window_pad_left(T, span, o->strides, o->padding), o->dilation,
                   (long long)T);
    snprintf(row0, sizeof row0, "j * %zu", C);
    snprintf(xe, sizeof xe, "x + (long)step * %zu", C);
    ck_exp_matvec(x, W, xe, row0, C, 0, F, "yt");
    ck_text_printf(&x->code, "    }\n    }\n");
    snprintf(n, sizeof n, "%lld", (long long)T_out * (long long)F);
    ck_exp_act_rows(x, o->act, "y", n, F);
    ck_text_printf(&x->code, "}\n\n");
}

/* One frame: the state keeps the last span - 1 input frames (zeros before
 * the sequence, which is the causal padding), oldest first. */
static void emit_step(ck_exp *x, ck_exp_layer *L, const ck_exp_matrix *W)
{
    const conv_opts *o = L->priv;
    size_t C = (size_t)L->in.dims[2], F = (size_t)o->filters;
    size_t past = (size_t)o->dilation * (size_t)(o->kernel_size - 1);
    char row0[48], n[32];
    const char *id = L->id;
    if (past)
        ck_exp_state(x, L, "past", past * C);
    ck_text_printf(&x->code,
                   "static void %s_begin(%s_state *restrict s, int fresh)\n{\n    (void)fresh;\n",
                   id, x->name);
    if (past)
        ck_text_printf(&x->code, "    memset(s->%s_past, 0, sizeof s->%s_past);\n", id, id);
    ck_text_printf(&x->code, "    (void)s;\n}\n\n");
    ck_text_printf(
        &x->code,
        "static void %s_step(const float *restrict x, float *restrict y, %s_state *restrict s)\n"
        "{\n    (void)s;\n",
        id, x->name);
    emit_bias_init(x, L, "y", F);
    ck_text_printf(&x->code, "    for (int j = 0; j < %d; j++) {\n", o->kernel_size);
    if (past)
        ck_text_printf(
            &x->code,
            "        const int back = (%d - j) * %d;\n"
            "        const float *restrict in = back ? s->%s_past + (long)(%zu - back) * %zu : x;\n",
            o->kernel_size - 1, o->dilation, id, past, C);
    else
        ck_text_printf(&x->code, "        const float *restrict in = x;\n");
    snprintf(row0, sizeof row0, "j * %zu", C);
    ck_text_printf(&x->code, "    ");
    ck_exp_matvec(x, W, "in", row0, C, 0, F, "y");
    ck_text_printf(&x->code, "    }\n");
    if (past)
        ck_text_printf(&x->code,
                       "    memmove(s->%s_past, s->%s_past + %zu, sizeof(float) * %zu);\n"
                       "    memcpy(s->%s_past + %zu, x, sizeof(float) * %zu);\n",
                       id, id, C, (past - 1) * C, id, (past - 1) * C, C);
    snprintf(n, sizeof n, "%zu", F);
    ck_exp_act_rows(x, o->act, "y", n, F);
    ck_text_printf(&x->code, "}\n\n");
}

static ck_status conv_emit(ck_exp *x, ck_exp_layer *L)
{
    const conv_opts *o = L->priv;
    size_t C = (size_t)L->in.dims[2], F = (size_t)o->filters;
    ck_exp_matrix W;
    CK_TRY(ck_exp_matrix_emit(x, L, "kernel", L->w[0].data, (size_t)o->kernel_size * C, F, true,
                              false, &W));
    if (o->use_bias)
        CK_TRY(ck_exp_floats_emit(x, L, "bias", L->w[1].data, F));
    if (L->frame_mode)
        emit_step(x, L, &W);
    else
        emit_forward(x, L, &W);
    return CK_OK;
}

const ck_exp_emitter ck_exp_conv1d = {"Conv1D", conv_plan, conv_emit};
