/* Machinery shared by LSTM, GRU and SimpleRNN; see ck_rnn.h. */
#include "ck_rnn.h"
#include "ck_blas.h"
#include "layer_util.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

extern const ck_layer_ops ck_lstm_layer_ops;
extern const ck_layer_ops ck_gru_layer_ops;
extern const ck_layer_ops ck_simple_rnn_layer_ops;

static ck_status opts_init(const char *cls, const ck_rnn_raw_opts *raw, ck_rnn_opts *out)
{
    const ck_rnn_common_options *o = &raw->c;
    if (o->units <= 0)
        return ck_error(CK_ERR_ARGUMENT, "%s: units must be positive, got %d", cls, o->units);
    if (o->units > (1 << 20))
        return ck_error(CK_ERR_ARGUMENT, "%s: units=%d is too large", cls, o->units);
    if (!(o->dropout >= 0 && o->dropout < 1) ||
        !(o->recurrent_dropout >= 0 && o->recurrent_dropout < 1))
        return ck_error(CK_ERR_ARGUMENT, "%s: dropout rates must be in [0, 1)", cls);
    CK_TRY(ck_act_parse(o->activation ? o->activation : "tanh", &out->act));
    CK_TRY(ck_act_parse(raw->recurrent_activation ? raw->recurrent_activation : "sigmoid",
                        &out->ract));
    if (out->act == CK_ACT_SOFTMAX || out->ract == CK_ACT_SOFTMAX)
        return ck_error(CK_ERR_UNSUPPORTED, "%s: softmax is not supported as a cell activation",
                        cls);
    CK_TRY(ck_init_check(&o->kernel_initializer));
    CK_TRY(ck_init_check(&o->recurrent_initializer));
    CK_TRY(ck_init_check(&o->bias_initializer));
    out->units = o->units;
    out->use_bias = !o->no_bias;
    out->return_sequences = o->return_sequences;
    out->return_state = o->return_state;
    out->go_backwards = o->go_backwards;
    out->stateful = o->stateful;
    out->zero_output_for_mask = o->zero_output_for_mask;
    out->unit_forget_bias = !raw->no_unit_forget_bias;
    out->dropout = o->dropout;
    out->recurrent_dropout = o->recurrent_dropout;
    out->kernel_init = ck_init_or(o->kernel_initializer, "glorot_uniform");
    out->recurrent_init = ck_init_or(o->recurrent_initializer, "orthogonal");
    out->bias_init = ck_init_or(o->bias_initializer, "zeros");
    return CK_OK;
}

ck_rnn *ck_rnn_create(size_t size, const ck_layer_ops *ops, const ck_rnn_raw_opts *raw,
                      int gate_blocks, bool has_cell)
{
    ck_rnn_opts o;
    if (opts_init(ops->class_name, raw, &o) != CK_OK)
        return NULL;
    ck_rnn *r = ck_layer_alloc(size, ops, raw->c.name);
    if (!r)
        return NULL;
    r->o = o;
    r->gate_blocks = gate_blocks;
    r->has_cell = has_cell;
    return r;
}

void ck_rnn_release(ck_rnn *r)
{
    ck_buf *bufs[] = {&r->h,     &r->c,    &r->h0,      &r->c0, &r->xmask, &r->hmask,
                      &r->xdrop, &r->hraw, &r->hmasked, &r->dh, &r->keep};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        ck_buf_free(bufs[i]);
    ck_packed *packs[] = {&r->kernel, &r->rec[0], &r->rec[1], &r->rec_t[0], &r->rec_t[1]};
    for (size_t i = 0; i < sizeof packs / sizeof packs[0]; i++)
        ck_packed_free(packs[i]);
}

ck_status ck_rnn_output_shape(const ck_layer *l, const ck_shape *in, ck_shape *out)
{
    const ck_rnn *r = (const ck_rnn *)l;
    if (in->rank != 3 || in->dims[2] <= 0)
        return ck_error(CK_ERR_SHAPE,
                        "%s needs input of shape (batch, timesteps, features) with known features",
                        l->ops->class_name);
    if (in->dims[2] > INT32_MAX / 4 || in->dims[1] > INT32_MAX / 4)
        return ck_error(CK_ERR_SHAPE, "%s: input dimensions are too large", l->ops->class_name);
    out->rank = r->o.return_sequences ? 3 : 2;
    out->dims[0] = in->dims[0];
    out->dims[1] = r->o.return_sequences ? in->dims[1] : r->o.units;
    out->dims[2] = r->o.units;
    return CK_OK;
}

ck_status ck_rnn_build_weights(ck_rnn *r, int G, int bias_rank, const int64_t *bias_dims,
                               const char *k2_scope, const char *k3_scope)
{
    ck_layer *l = &r->base;
    int64_t kd[2] = {l->in_shape.dims[2], G}, rd[2] = {r->o.units, G};
    if (!ck_layer_add_weight(l, "kernel", 2, kd, &r->o.kernel_init, true) ||
        !ck_layer_add_weight(l, "recurrent_kernel", 2, rd, &r->o.recurrent_init, true))
        return ck_error_status();
    if (r->o.use_bias &&
        !ck_layer_add_weight(l, "bias", bias_rank, bias_dims, &r->o.bias_init, true))
        return ck_error_status();
    for (int i = 0; i < l->n_weights; i++) {
        snprintf(l->weights[i].k2_scope, sizeof l->weights[i].k2_scope, "%s", k2_scope);
        snprintf(l->weights[i].k3_scope, sizeof l->weights[i].k3_scope, "%s", k3_scope);
    }
    return CK_OK;
}

ck_status ck_rnn_dims_get(const ck_rnn *r, const ck_tensor *x, ck_rnn_dims *d)
{
    /* output_shape bounds T and F one at a time; the BLAS calls take
     * products of them (and of the batch) as int arguments. */
    int64_t B = x->dims[0], T = x->dims[1], F = x->dims[2],
            G = (int64_t)r->gate_blocks * r->o.units;
    int64_t widest = F > G ? F : G;
    if (B > INT_MAX || T > INT_MAX / G || B * T > INT_MAX / widest)
        return ck_error(
            CK_ERR_UNSUPPORTED,
            "%s %s: batch %lld x timesteps %lld x width %lld exceeds the int range of the BLAS calls",
            r->base.ops->class_name, r->base.name, (long long)B, (long long)T, (long long)widest);
    *d = (ck_rnn_dims){(int)B, (int)T, (int)F, r->o.units};
    return CK_OK;
}

/* Inverted dropout: one mask per sequence, reused at every step (Keras). */
static void fill_mask(float *mask, size_t n, double rate, ck_rng *rng)
{
    float keep = (float)(1.0 / (1.0 - rate));
    for (size_t i = 0; i < n; i++)
        mask[i] = ck_rng_uniform(rng) >= rate ? keep : 0.0f;
}

/* dst (B,T,F) = src * xmask, the (B,F) mask repeated over time (dst may be src). */
static void apply_xmask(const ck_rnn *r, const ck_rnn_dims *d, const float *src, float *dst)
{
    size_t F = (size_t)d->F;
    for (int b = 0; b < d->B; b++) {
        const float *m = r->xmask.data + (size_t)b * F;
        for (int t = 0; t < d->T; t++) {
            size_t off = ((size_t)b * (size_t)d->T + (size_t)t) * F;
            for (size_t f = 0; f < F; f++)
                dst[off + f] = src[off + f] * m[f];
        }
    }
}

static ck_status reserve(ck_rnn *r, const ck_rnn_dims *d, bool training)
{
    size_t BU = (size_t)d->B * (size_t)d->U, BTU = BU * (size_t)d->T;
    CK_TRY(ck_buf_reserve(&r->h, BU));
    if (r->has_cell)
        CK_TRY(ck_buf_reserve(&r->c, BU));
    if (r->base.mask)
        CK_TRY(ck_buf_reserve(&r->keep, BU));
    if (!training)
        return CK_OK;
    CK_TRY(ck_buf_reserve(&r->hraw, BTU));
    if (r->o.dropout > 0) {
        CK_TRY(ck_buf_reserve(&r->xmask, (size_t)d->B * (size_t)d->F));
        CK_TRY(ck_buf_reserve(&r->xdrop, (size_t)d->B * (size_t)d->T * (size_t)d->F));
    }
    if (r->o.recurrent_dropout > 0) {
        CK_TRY(ck_buf_reserve(&r->hmask, BU));
        CK_TRY(ck_buf_reserve(&r->hmasked, BTU));
    }
    return CK_OK;
}

static ck_status start_state(ck_rnn *r, int B)
{
    size_t n = (size_t)B * (size_t)r->o.units;
    if (r->state_batch == 0) {
        memset(r->h.data, 0, n * sizeof(float));
        if (r->has_cell)
            memset(r->c.data, 0, n * sizeof(float));
        return CK_OK;
    }
    if (r->state_batch != B)
        return ck_error(CK_ERR_SHAPE,
                        "%s %s: the carried/initial state has batch %lld but the input has %d",
                        r->base.ops->class_name, r->base.name, (long long)r->state_batch, B);
    memcpy(r->h.data, r->h0.data, n * sizeof(float));
    if (r->has_cell)
        memcpy(r->c.data, r->c0.data, n * sizeof(float));
    return CK_OK;
}

ck_status ck_rnn_begin(ck_rnn *r, const ck_rnn_dims *d, const ck_tensor *x, const ck_run_ctx *ctx,
                       const float **xin)
{
    CK_TRY(reserve(r, d, ctx->training));
    CK_TRY(start_state(r, d->B));
    *xin = x->data;
    if (!ctx->training)
        return CK_OK;
    if (r->o.dropout > 0) {
        fill_mask(r->xmask.data, (size_t)d->B * (size_t)d->F, r->o.dropout, ctx->rng);
        apply_xmask(r, d, x->data, r->xdrop.data);
        *xin = r->xdrop.data;
    }
    if (r->o.recurrent_dropout > 0)
        fill_mask(r->hmask.data, (size_t)d->B * (size_t)d->U, r->o.recurrent_dropout, ctx->rng);
    return CK_OK;
}

ck_status ck_rnn_project(ck_rnn *r, const ck_rnn_dims *d, int G, bool training, const float *xin,
                         const float *bias_row, float *out)
{
    size_t rows = (size_t)d->B * (size_t)d->T;
    float beta = 0.0f;
    if (bias_row) {
        for (size_t i = 0; i < rows; i++)
            memcpy(out + i * (size_t)G, bias_row, sizeof(float) * (size_t)G);
        beta = 1.0f;
    }
    return ck_layer_weight_gemm(&r->base, &r->kernel, training, (int)rows, xin, d->F,
                                r->base.weights[0].data, d->F, G, beta, out, G);
}

/* Above this many bytes of projection, inference projects per step (W3:
 * 52 MB; W2's first layer, 1 MB, stays in cache either way). */
#define PROJECT_PER_STEP_BYTES (8u << 20)

bool ck_rnn_projection_spills(const ck_rnn_dims *d, int G)
{
    return (double)d->B * (double)d->T * (double)G * sizeof(float) > PROJECT_PER_STEP_BYTES;
}

bool ck_rnn_project_per_step(const ck_rnn_dims *d, int G, bool training)
{
    return !training && ck_rnn_projection_spills(d, G);
}

ck_status ck_rnn_project_step(ck_rnn *r, const ck_rnn_dims *d, int G, const float *xin, int t,
                              float *out)
{
    return ck_layer_weight_gemm(&r->base, &r->kernel, false, d->B, xin + (size_t)t * (size_t)d->F,
                                d->T * d->F, r->base.weights[0].data, d->F, G, 0.0f, out, G);
}

ck_status ck_rnn_pack_recurrent(ck_rnn *r, int slot, int col, int n, bool transposed,
                                ck_packed **out)
{
    const ck_weight *w = &r->base.weights[1];
    int u = (int)w->dims[0], G = (int)w->dims[1];
    ck_packed *p = transposed ? &r->rec_t[slot] : &r->rec[slot];
    CK_TRY(transposed ? ck_layer_pack(&r->base, p, w->data + col, n, u, G, true)
                      : ck_layer_pack(&r->base, p, w->data + col, u, n, G, false));
    *out = p;
    return CK_OK;
}

static size_t row(const ck_rnn_dims *d, int b, int t)
{
    return ((size_t)b * (size_t)d->T + (size_t)t) * (size_t)d->U;
}

void ck_rnn_record_hprev(ck_rnn *r, const ck_rnn_dims *d, int t, const float *h, int ldh, int b0,
                         int b1)
{
    for (int b = b0; b < b1; b++)
        memcpy(r->hraw.data + row(d, b, t), h + (size_t)(b - b0) * (size_t)ldh,
               (size_t)d->U * sizeof(float));
}

bool ck_rnn_splits_samples(const ck_rnn *r, const ck_rnn_dims *d, bool training)
{
    return !r->base.mask && !(training && r->o.recurrent_dropout > 0) &&
           d->B >= CK_RNN_GROUPS * CK_RNN_GROUP_ROWS;
}

void ck_rnn_prepare_groups(ck_packed *P, const ck_rnn_dims *d, int lda, float beta, int ldc)
{
    for (int g = 0; g < CK_RNN_GROUPS; g++)
        ck_gemm_packed_prepare(P, ck_rnn_group_start(d, g + 1) - ck_rnn_group_start(d, g), lda,
                               beta, ldc);
}

void ck_rnn_emit_rows(const ck_rnn *r, const ck_rnn_dims *d, int step, float *y, int b0, int b1)
{
    for (int b = b0; r->o.return_sequences && b < b1; b++)
        memcpy(y + row(d, b, step), r->h.data + (size_t)b * (size_t)d->U,
               sizeof(float) * (size_t)d->U);
}

const float *ck_rnn_step_input(ck_rnn *r, const ck_rnn_dims *d, int t, bool training, int *ld)
{
    size_t U = (size_t)d->U;
    if (r->base.mask)
        memcpy(r->keep.data, r->h.data, (size_t)d->B * U * sizeof(float));
    if (!training) {
        *ld = d->U;
        return r->h.data;
    }
    bool masked = r->o.recurrent_dropout > 0;
    ck_rnn_record_hprev(r, d, t, r->h.data, d->U, 0, d->B);
    for (int b = 0; masked && b < d->B; b++) {
        const float *hc = r->h.data + (size_t)b * U;
        for (size_t j = 0; j < U; j++)
            r->hmasked.data[row(d, b, t) + j] = hc[j] * r->hmask.data[(size_t)b * U + j];
    }
    *ld = d->T * d->U;
    return (masked ? r->hmasked.data : r->hraw.data) + (size_t)t * U;
}

void ck_rnn_emit(ck_rnn *r, const ck_rnn_dims *d, int step, float *y)
{
    const float *mask = r->base.mask;
    int t = ck_rnn_time(r, step, d->T);
    size_t U = (size_t)d->U;
    for (int b = 0; b < d->B; b++) {
        bool kept = ck_rnn_kept(mask, d->T, b, t);
        if (!kept)
            memcpy(r->h.data + (size_t)b * U, r->keep.data + (size_t)b * U, U * sizeof(float));
        if (!r->o.return_sequences)
            continue;
        if (kept)
            memcpy(y + row(d, b, step), r->h.data + (size_t)b * U, sizeof(float) * U);
        else
            ck_rnn_masked_output(y, d->T, d->U, b, step, r->o.zero_output_for_mask);
    }
}

ck_status ck_rnn_compute_mask(ck_layer *l, const ck_tensor *x, const float *in_mask, ck_buf *buf,
                              const float **out)
{
    (void)x, (void)buf;
    *out = l->out_shape.rank == 3 ? in_mask : NULL;
    return CK_OK;
}

void ck_rnn_masked_output(float *y, int T, int U, int b, int step, bool zero_output)
{
    float *out = y + ((size_t)b * (size_t)T + (size_t)step) * (size_t)U;
    if (zero_output || step == 0)
        memset(out, 0, (size_t)U * sizeof(float));
    else
        memcpy(out, out - U, (size_t)U * sizeof(float));
}

void ck_rnn_masked_last(float *y, const float *mask, int B, int T, int U, int t_last,
                        bool zero_output)
{
    for (int b = 0; mask && b < B; b++) {
        bool any = false;
        for (int t = 0; t < T && !any; t++)
            any = ck_rnn_kept(mask, T, b, t);
        if (!any || !ck_rnn_output_live(mask, T, b, t_last, zero_output))
            memset(y + (size_t)b * (size_t)U, 0, (size_t)U * sizeof(float));
    }
}

ck_status ck_rnn_finish(ck_rnn *r, const ck_rnn_dims *d, float *y)
{
    size_t n = (size_t)d->B * (size_t)d->U;
    if (!r->o.return_sequences) {
        memcpy(y, r->h.data, sizeof(float) * n);
        ck_rnn_masked_last(y, r->base.mask, d->B, d->T, d->U, ck_rnn_time(r, d->T - 1, d->T),
                           r->o.zero_output_for_mask);
    }
    if (r->o.stateful) {
        CK_TRY(ck_buf_reserve(&r->h0, n));
        memcpy(r->h0.data, r->h.data, sizeof(float) * n);
        if (r->has_cell) {
            CK_TRY(ck_buf_reserve(&r->c0, n));
            memcpy(r->c0.data, r->c.data, sizeof(float) * n);
        }
        r->state_batch = d->B;
    }
    r->last_batch = d->B;
    return CK_OK;
}

const float *ck_rnn_hprev_raw(const ck_rnn *r, const ck_rnn_dims *d, int b, int t)
{
    return r->hraw.data + row(d, b, t);
}

const float *ck_rnn_hprev_fed(const ck_rnn *r)
{
    return r->o.recurrent_dropout > 0 ? r->hmasked.data : r->hraw.data;
}

ck_status ck_rnn_backward_begin(ck_rnn *r, const ck_rnn_dims *d)
{
    size_t n = (size_t)d->B * (size_t)d->U;
    CK_TRY(ck_buf_reserve(&r->dh, n));
    if (r->base.mask)
        CK_TRY(ck_buf_reserve(&r->keep, n));
    memset(r->dh.data, 0, n * sizeof(float));
    return CK_OK;
}

void ck_rnn_add_output_grad_rows(ck_rnn *r, const ck_rnn_dims *d, const ck_tensor *dy, int step,
                                 int b0, int b1)
{
    size_t U = (size_t)d->U;
    int t = ck_rnn_time(r, step, d->T);
    if (!r->o.return_sequences && step != d->T - 1)
        return;
    for (int b = b0; b < b1; b++) {
        if (!ck_rnn_output_live(r->base.mask, d->T, b, t, r->o.zero_output_for_mask))
            continue;
        const float *src = r->o.return_sequences ? dy->data + row(d, b, step)
                                                 : dy->data + (size_t)b * U;
        float *dst = r->dh.data + (size_t)b * U;
        for (size_t j = 0; j < U; j++)
            dst[j] += src[j];
    }
}

void ck_rnn_add_output_grad(ck_rnn *r, const ck_rnn_dims *d, const ck_tensor *dy, int step)
{
    ck_rnn_add_output_grad_rows(r, d, dy, step, 0, d->B);
    if (r->base.mask)
        memcpy(r->keep.data, r->dh.data, (size_t)d->B * (size_t)d->U * sizeof(float));
}

void ck_rnn_mask_rows(const ck_rnn *r, const ck_rnn_dims *d, int t, float *rows, int G)
{
    for (int b = 0; r->base.mask && b < d->B; b++)
        if (!ck_rnn_kept(r->base.mask, d->T, b, t))
            memset(rows + ((size_t)b * (size_t)d->T + (size_t)t) * (size_t)G, 0,
                   (size_t)G * sizeof(float));
}

void ck_rnn_mask_carry_grad(ck_rnn *r, const ck_rnn_dims *d, int t)
{
    size_t U = (size_t)d->U;
    for (int b = 0; r->base.mask && b < d->B; b++)
        if (!ck_rnn_kept(r->base.mask, d->T, b, t))
            memcpy(r->dh.data + (size_t)b * U, r->keep.data + (size_t)b * U, U * sizeof(float));
}

void ck_rnn_mask_hgrad(const ck_rnn *r, const ck_rnn_dims *d, float *g)
{
    if (r->o.recurrent_dropout <= 0)
        return;
    for (size_t i = 0; i < (size_t)d->B * (size_t)d->U; i++)
        g[i] *= r->hmask.data[i];
}

void ck_rnn_sum_rows(const float *src, size_t rows, int G, float *dst)
{
    for (size_t i = 0; i < rows; i++)
        for (int j = 0; j < G; j++)
            dst[j] += src[i * (size_t)G + (size_t)j];
}

void ck_rnn_input_backward(const ck_rnn *r, const ck_rnn_dims *d, int G, const float *x,
                           const float *dpre, const ck_weight *W, float *dbias, float *dx,
                           const ck_gemm_op *rec, int n_rec)
{
    int BT = d->B * d->T, n = 0;
    const float *xin = r->o.dropout > 0 ? r->xdrop.data : x;
    ck_gemm_op ops[CK_GEMM_GROUP_MAX];
    for (; n < n_rec; n++)
        ops[n] = rec[n];
    ops[n++] = ck_gemm_op_tn(d->F, G, BT, xin, d->F, dpre, G, 1.0f, W->grad, G);
    if (dx)
        ops[n++] = ck_gemm_op_nt(BT, d->F, G, dpre, G, W->data, G, 0.0f, dx, d->F);
    ck_gemm_group(ops, n);
    if (dbias)
        ck_rnn_sum_rows(dpre, (size_t)BT, G, dbias);
    if (dx && r->o.dropout > 0)
        apply_xmask(r, d, dx, dx);
}

static ck_status put_flags(const ck_rnn_opts *o, cJSON *cfg)
{
    CK_TRY(ck_config_add_bool(cfg, "return_sequences", o->return_sequences));
    CK_TRY(ck_config_add_bool(cfg, "return_state", o->return_state));
    CK_TRY(ck_config_add_bool(cfg, "go_backwards", o->go_backwards));
    CK_TRY(ck_config_add_bool(cfg, "stateful", o->stateful));
    CK_TRY(ck_config_add_bool(cfg, "unroll", false));
    return ck_config_add_bool(cfg, "time_major", false);
}

ck_status ck_rnn_config_put(const ck_rnn *r, cJSON *cfg, bool with_ract)
{
    const ck_rnn_opts *o = &r->o;
    CK_TRY(put_flags(o, cfg));
    CK_TRY(ck_config_add_number(cfg, "units", o->units));
    CK_TRY(ck_config_add_string(cfg, "activation", ck_act_name(o->act)));
    if (with_ract)
        CK_TRY(ck_config_add_string(cfg, "recurrent_activation", ck_act_name(o->ract)));
    CK_TRY(ck_config_add_bool(cfg, "use_bias", o->use_bias));
    CK_TRY(ck_config_add(cfg, "kernel_initializer", ck_init_to_json(&o->kernel_init)));
    CK_TRY(ck_config_add(cfg, "recurrent_initializer", ck_init_to_json(&o->recurrent_init)));
    CK_TRY(ck_config_add(cfg, "bias_initializer", ck_init_to_json(&o->bias_init)));
    if (r->has_cell)
        CK_TRY(ck_config_add_bool(cfg, "unit_forget_bias", o->unit_forget_bias));
    static const char *const nulls[] = {"kernel_regularizer", "recurrent_regularizer",
                                        "bias_regularizer",   "activity_regularizer",
                                        "kernel_constraint",  "recurrent_constraint",
                                        "bias_constraint",    NULL};
    CK_TRY(ck_config_add_nulls(cfg, nulls));
    CK_TRY(ck_config_add_number(cfg, "dropout", o->dropout));
    CK_TRY(ck_config_add_number(cfg, "recurrent_dropout", o->recurrent_dropout));
    /* Written only when set, as tf.keras does. */
    if (o->zero_output_for_mask)
        CK_TRY(ck_config_add_bool(cfg, "zero_output_for_mask", true));
    return CK_OK;
}

/* Keys every Keras RNN layer may write: enable_caching_device (tf.keras,
 * when not the default), use_cudnn and implementation (Keras 2.0.x writes
 * it for SimpleRNN too) only choose how the same numbers are computed;
 * seed only draws dropout masks. */
static const char *const rnn_keys[] = {"units",
                                       "activation",
                                       "use_bias",
                                       "kernel_initializer",
                                       "recurrent_initializer",
                                       "bias_initializer",
                                       "dropout",
                                       "recurrent_dropout",
                                       "return_sequences",
                                       "return_state",
                                       "go_backwards",
                                       "stateful",
                                       "unroll",
                                       "time_major",
                                       "seed",
                                       "zero_output_for_mask",
                                       "enable_caching_device",
                                       "use_cudnn",
                                       "implementation"};

static ck_status check_rnn_keys(const cJSON *cfg, const char *cls, const char *const *own)
{
    const char *known[sizeof rnn_keys / sizeof rnn_keys[0] + 8];
    size_t n = 0;
    for (size_t i = 0; i < sizeof rnn_keys / sizeof rnn_keys[0]; i++)
        known[n++] = rnn_keys[i];
    for (; *own && n + 1 < sizeof known / sizeof known[0]; own++)
        known[n++] = *own;
    known[n] = NULL;
    return ck_config_check_keys(cfg, cls, known);
}

ck_status ck_rnn_config_get(const cJSON *cfg, const char *cls, const char *const *known,
                            ck_rnn_raw_opts *raw)
{
    ck_rnn_common_options *o = &raw->c;
    bool use_bias = true, unit_forget_bias = true, time_major = false;
    CK_TRY(check_rnn_keys(cfg, cls, known));
    CK_TRY(ck_config_get_int(cfg, "units", &o->units, true));
    CK_TRY(ck_config_get_activation(cfg, "activation", &o->activation));
    CK_TRY(ck_config_get_activation(cfg, "recurrent_activation", &raw->recurrent_activation));
    CK_TRY(ck_config_get_bool(cfg, "use_bias", &use_bias));
    CK_TRY(ck_config_get_bool(cfg, "unit_forget_bias", &unit_forget_bias));
    CK_TRY(ck_config_get_init(cfg, "kernel_initializer", &o->kernel_initializer));
    CK_TRY(ck_config_get_init(cfg, "recurrent_initializer", &o->recurrent_initializer));
    CK_TRY(ck_config_get_init(cfg, "bias_initializer", &o->bias_initializer));
    CK_TRY(ck_config_get_double(cfg, "dropout", &o->dropout));
    CK_TRY(ck_config_get_double(cfg, "recurrent_dropout", &o->recurrent_dropout));
    CK_TRY(ck_config_get_bool(cfg, "return_sequences", &o->return_sequences));
    CK_TRY(ck_config_get_bool(cfg, "return_state", &o->return_state));
    CK_TRY(ck_config_get_bool(cfg, "go_backwards", &o->go_backwards));
    CK_TRY(ck_config_get_bool(cfg, "stateful", &o->stateful));
    CK_TRY(ck_config_get_bool(cfg, "zero_output_for_mask", &o->zero_output_for_mask));
    CK_TRY(ck_config_get_bool(cfg, "time_major", &time_major));
    CK_TRY(ck_config_get_string(cfg, "name", &o->name));
    if (time_major)
        return ck_error(CK_ERR_UNSUPPORTED, "%s: time_major=True is not supported by ckeras", cls);
    o->no_bias = !use_bias;
    raw->no_unit_forget_bias = !unit_forget_bias;
    return CK_OK;
}

bool ck_rnn_has_state(const ck_layer *l)
{
    const ck_rnn *r = (const ck_rnn *)l;
    return r->o.stateful || r->o.return_state || r->state_batch != 0;
}

bool ck_rnn_stateful(const ck_layer *l)
{
    return ((const ck_rnn *)l)->o.stateful;
}

void ck_rnn_reset_state(ck_layer *l)
{
    ((ck_rnn *)l)->state_batch = 0;
}

static bool finite_all(const float *v, size_t n, size_t *bad)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) {
            *bad = i;
            return false;
        }
    return true;
}

static ck_status state_set(ck_rnn *r, const char *fn, const float *h0, const float *c0,
                           int64_t batch)
{
    if (!h0 || (r->has_cell && !c0) || batch <= 0 || batch > INT32_MAX)
        return ck_error(CK_ERR_ARGUMENT, "%s: need %s and a positive batch", fn,
                        r->has_cell ? "h0, c0" : "h0");
    size_t n = (size_t)batch * (size_t)r->o.units, bad = 0;
    /* c0 is non-NULL exactly when the layer has a cell state (checked above
     * and by the callers). */
    if (!finite_all(h0, n, &bad) || (c0 && !finite_all(c0, n, &bad)))
        return ck_error(CK_ERR_NUMERIC, "%s: state value #%zu is not finite", fn, bad);
    CK_TRY(ck_buf_reserve(&r->h0, n));
    if (c0)
        CK_TRY(ck_buf_reserve(&r->c0, n));
    memcpy(r->h0.data, h0, n * sizeof(float));
    if (c0)
        memcpy(r->c0.data, c0, n * sizeof(float));
    r->state_batch = batch;
    return CK_OK;
}

static ck_status state_get(const ck_rnn *r, const char *fn, float *h, float *c, int64_t batch)
{
    if (!h || (r->has_cell && !c) || batch <= 0)
        return ck_error(CK_ERR_ARGUMENT, "%s: need %s and a positive batch", fn,
                        r->has_cell ? "h, c" : "h");
    if (r->last_batch == 0)
        return ck_error(CK_ERR_STATE, "%s: layer %s has not run yet", fn, r->base.name);
    /* The running state holds the last forward's batch only; predict keeps
     * a return_state layer's batch whole (has_state), so this is the call's. */
    if (batch != r->last_batch)
        return ck_error(CK_ERR_STATE, "%s: layer %s last ran on a batch of %lld, not %lld", fn,
                        r->base.name, (long long)r->last_batch, (long long)batch);
    size_t n = (size_t)batch * (size_t)r->o.units;
    memcpy(h, r->h.data, n * sizeof(float));
    if (c)
        memcpy(c, r->c.data, n * sizeof(float));
    return CK_OK;
}

/* The layer behind a public state accessor: an LSTM for the ck_lstm_*
 * functions, a GRU or SimpleRNN for the ck_rnn_* ones. */
static ck_status state_handle(ck_layer *layer, const char *fn, bool lstm, ck_rnn **out)
{
    if (!layer)
        return ck_error(CK_ERR_ARGUMENT, "%s: layer is NULL", fn);
    bool ok = lstm ? layer->ops == &ck_lstm_layer_ops
                   : layer->ops == &ck_gru_layer_ops || layer->ops == &ck_simple_rnn_layer_ops;
    if (!ok)
        return ck_error(CK_ERR_ARGUMENT, "%s: layer %s is a %s, not %s", fn, layer->name,
                        layer->ops->class_name, lstm ? "an LSTM" : "a GRU or SimpleRNN");
    *out = (ck_rnn *)layer;
    return CK_OK;
}

ck_status ck_lstm_set_initial_state(ck_layer *layer, const float *h0, const float *c0,
                                    int64_t batch)
{
    ck_rnn *r = NULL;
    CK_TRY(state_handle(layer, "ck_lstm_set_initial_state", true, &r));
    ck_status st;
    CK_LAYER_GUARDED(st, layer, CK_ACCESS_UPDATE, "ck_lstm_set_initial_state",
                     state_set(r, "ck_lstm_set_initial_state", h0, c0, batch));
    return st;
}

ck_status ck_lstm_get_state(ck_layer *layer, float *h, float *c, int64_t batch)
{
    ck_rnn *r = NULL;
    CK_TRY(state_handle(layer, "ck_lstm_get_state", true, &r));
    ck_status st;
    CK_LAYER_GUARDED(st, layer, CK_ACCESS_READ, "ck_lstm_get_state",
                     state_get(r, "ck_lstm_get_state", h, c, batch));
    return st;
}

ck_status ck_rnn_set_initial_state(ck_layer *layer, const float *h0, int64_t batch)
{
    ck_rnn *r = NULL;
    CK_TRY(state_handle(layer, "ck_rnn_set_initial_state", false, &r));
    ck_status st;
    CK_LAYER_GUARDED(st, layer, CK_ACCESS_UPDATE, "ck_rnn_set_initial_state",
                     state_set(r, "ck_rnn_set_initial_state", h0, NULL, batch));
    return st;
}

ck_status ck_rnn_get_state(ck_layer *layer, float *h, int64_t batch)
{
    ck_rnn *r = NULL;
    CK_TRY(state_handle(layer, "ck_rnn_get_state", false, &r));
    ck_status st;
    CK_LAYER_GUARDED(st, layer, CK_ACCESS_READ, "ck_rnn_get_state",
                     state_get(r, "ck_rnn_get_state", h, NULL, batch));
    return st;
}
