/* keras.layers.GRU. Gate blocks along the 3u axis are z (update), r (reset)
 * and h (candidate); h_t = z * h_{t-1} + (1 - z) * hh.
 *   reset_after=True:  hh = act(x W_h + b_ih + r * (h_{t-1} U_h + b_rh)),
 *                      bias is (2, 3u): input row, then recurrent row.
 *   reset_after=False: hh = act(x W_h + b_h + (r * h_{t-1}) U_h), bias (3u).
 *
 * The input projection for all timesteps is one GEMM into xp, which each
 * step completes in place into the full pre-activations. Per step there is
 * one recurrent GEMM (two without reset_after, whose U_h product needs r
 * first); backward mirrors that, and dW, dU, dx are GEMMs over all steps. */
#include "ck_rnn.h"
#include "ck_blas.h"
#include "ck_pool.h"

#include <stdlib.h>
#include <string.h>

typedef struct gru {
    ck_rnn rnn;
    bool reset_after;
    ck_buf xp;    /* (B,T,3u) pre-activations */
    ck_buf rec;   /* (B,3u) recurrent product of the current step */
    ck_buf rh;    /* (B,T,u) training, (B,u) inference: h_{t-1} U_h + b_rh
                      with reset_after, else r * h_{t-1} (the input of U_h) */
    ck_buf gates; /* (B,T,3u) training, (B,3u) inference: z, r, hh */
    /* backward */
    ck_buf dpre;  /* (B,T,3u) gradient w.r.t. the pre-activations (input side) */
    ck_buf drec;  /* reset_after: (B,T,3u) gradient w.r.t. the recurrent product;
                      else (B,u) gradient w.r.t. r * h_{t-1} of one step */
    ck_buf carry; /* (B,u) the part of dh_{t-1} flowing through z * h_{t-1} */
    ck_buf dhm;   /* (B,u) gradient w.r.t. the h_{t-1} fed to the recurrent kernel */
} gru;

extern const ck_layer_ops ck_gru_layer_ops;

static ck_layer *gru_create(const ck_rnn_raw_opts *raw, bool reset_after)
{
    gru *s = (gru *)ck_rnn_create(sizeof *s, &ck_gru_layer_ops, raw, 3, false);
    if (!s)
        return NULL;
    s->reset_after = reset_after;
    return &s->rnn.base;
}

ck_layer *ck_gru_new(const ck_gru_options *o)
{
    if (!o) {
        ck_error(CK_ERR_ARGUMENT, "GRU: options are NULL");
        return NULL;
    }
    ck_rnn_raw_opts raw = {.recurrent_activation = o->recurrent_activation};
    CK_RNN_TAKE_OPTIONS(ck_gru_options, o, &raw.c);
    return gru_create(&raw, !o->no_reset_after);
}

static ck_status gru_build(ck_layer *l)
{
    gru *s = (gru *)l;
    int64_t G = 3 * (int64_t)s->rnn.o.units, b2[2] = {2, G}, b1[1] = {G};
    return ck_rnn_build_weights(&s->rnn, (int)G, s->reset_after ? 2 : 1, s->reset_after ? b2 : b1,
                                "gru_cell", "cell");
}

static ck_status gru_reserve(gru *s, const ck_rnn_dims *d, bool train)
{
    size_t U = (size_t)d->U, B = (size_t)d->B, T = train ? (size_t)d->T : 1;
    CK_TRY(ck_buf_reserve(&s->xp, B * (size_t)d->T * 3 * U));
    CK_TRY(ck_buf_reserve(&s->rec, B * 3 * U));
    CK_TRY(ck_buf_reserve(&s->rh, B * T * U));
    return ck_buf_reserve(&s->gates, B * T * 3 * U);
}

/* z and r from their completed pre-activations (first 2u of pre). */
static void gates_zr(ck_act ract, float *pre, const float *rec, float *g, int U)
{
    for (int j = 0; j < 2 * U; j++)
        pre[j] += rec[j];
    ck_act_forward(ract, pre, g, 2 * (size_t)U, 0);
}

/* hh from its completed pre-activation, then the new h. */
static void gate_h(ck_act act, const float *pre_h, float *g, float *h, int U)
{
    const float *z = g;
    float *hh = g + 2 * U;
    ck_act_forward(act, pre_h, hh, (size_t)U, 0);
    for (int j = 0; j < U; j++)
        h[j] = z[j] * h[j] + (1.0f - z[j]) * hh[j];
}

/* One timestep for samples [b0, b1). hin (row stride ldh) is h_{t-1} as
 * fed to U; gates and rh rows for this step start at g/rh with strides
 * gld/rld; all three point at sample 0's rows. */
typedef struct step_rows {
    const float *hin;
    float *g, *rh;
    int ldh, gld, rld, b0, b1;
} step_rows;

static void gru_step(gru *s, const ck_rnn_dims *d, int t, const step_rows *sr, ck_act act,
                     ck_act ract)
{
    ck_layer *l = &s->rnn.base;
    int U = d->U, G = 3 * U, ldx = d->T * G, n = sr->b1 - sr->b0;
    float *xp = s->xp.data + (size_t)t * (size_t)G, *rec = s->rec.data;
    const float *hin = sr->hin + (size_t)sr->b0 * (size_t)sr->ldh;
    if (s->reset_after) {
        const float *brec = s->rnn.o.use_bias ? l->weights[2].data + G : NULL;
        for (int b = sr->b0; b < sr->b1 && brec; b++)
            memcpy(rec + (size_t)b * (size_t)G, brec, sizeof(float) * (size_t)G);
        ck_gemm_packed(n, hin, sr->ldh, &s->rnn.rec[0], brec ? 1.0f : 0.0f,
                       rec + (size_t)sr->b0 * (size_t)G, G);
        for (int b = sr->b0; b < sr->b1; b++) {
            float *pre = xp + (size_t)b * (size_t)ldx, *gb = sr->g + (size_t)b * (size_t)sr->gld;
            const float *rb = rec + (size_t)b * (size_t)G;
            float *rhb = sr->rh + (size_t)b * (size_t)sr->rld;
            gates_zr(ract, pre, rb, gb, U);
            memcpy(rhb, rb + 2 * U, sizeof(float) * (size_t)U);
            for (int j = 0; j < U; j++)
                pre[2 * U + j] += gb[U + j] * rhb[j];
            gate_h(act, pre + 2 * U, gb, s->rnn.h.data + (size_t)b * (size_t)U, U);
        }
        return;
    }
    ck_gemm_packed(n, hin, sr->ldh, &s->rnn.rec[0], 0.0f, rec + (size_t)sr->b0 * (size_t)G, G);
    for (int b = sr->b0; b < sr->b1; b++) {
        float *pre = xp + (size_t)b * (size_t)ldx, *gb = sr->g + (size_t)b * (size_t)sr->gld;
        const float *hb = sr->hin + (size_t)b * (size_t)sr->ldh;
        float *rhb = sr->rh + (size_t)b * (size_t)sr->rld;
        gates_zr(ract, pre, rec + (size_t)b * (size_t)G, gb, U);
        for (int j = 0; j < U; j++)
            rhb[j] = gb[U + j] * hb[j];
    }
    ck_gemm_packed(n, sr->rh + (size_t)sr->b0 * (size_t)sr->rld, sr->rld, &s->rnn.rec[1], 1.0f,
                   xp + (size_t)sr->b0 * (size_t)ldx + 2 * U, ldx);
    for (int b = sr->b0; b < sr->b1; b++)
        gate_h(act, xp + (size_t)b * (size_t)ldx + 2 * U, sr->g + (size_t)b * (size_t)sr->gld,
               s->rnn.h.data + (size_t)b * (size_t)U, U);
}

/* The rows of step t as gru_step takes them: training keeps every step's
 * gates and rh, inference one step's. */
static step_rows rows_of(gru *s, const ck_rnn_dims *d, int t, bool train, const float *hin, int ldh,
                         int b0, int b1)
{
    int U = d->U, G = 3 * U;
    if (train)
        return (step_rows){hin,
                           s->gates.data + (size_t)t * (size_t)G,
                           s->rh.data + (size_t)t * (size_t)U,
                           ldh,
                           d->T * G,
                           d->T * U,
                           b0,
                           b1};
    return (step_rows){hin, s->gates.data, s->rh.data, ldh, G, U, b0, b1};
}

/* The recurrent kernel in r->rec (forward) or r->rec_t (backward): whole,
 * or with reset_after=False as the z, r block (slot 0) and the candidate
 * block (slot 1), which multiply different left operands. */
static ck_status pack_recurrent(gru *s, bool transposed)
{
    ck_rnn *r = &s->rnn;
    int U = r->o.units;
    ck_packed *p;
    if (s->reset_after)
        return ck_rnn_pack_recurrent(r, 0, 0, 3 * U, transposed, &p);
    CK_TRY(ck_rnn_pack_recurrent(r, 0, 0, 2 * U, transposed, &p));
    return ck_rnn_pack_recurrent(r, 1, 2 * U, U, transposed, &p);
}

/* One group of samples (ck_rnn_splits_samples) through every step. */
typedef struct group_job {
    gru *s;
    const ck_rnn_dims *d;
    ck_act act, ract;
    bool train;
    float *y;
    const ck_tensor *dy;
} group_job;

static void forward_group(void *arg, int g)
{
    const group_job *j = arg;
    ck_rnn *r = &j->s->rnn;
    const ck_rnn_dims *d = j->d;
    int b0 = ck_rnn_group_start(d, g), b1 = ck_rnn_group_start(d, g + 1);
    for (int step = 0; step < d->T; step++) {
        int t = ck_rnn_time(r, step, d->T);
        if (j->train)
            ck_rnn_record_hprev(r, d, t, r->h.data + (size_t)b0 * (size_t)d->U, d->U, b0, b1);
        step_rows sr = rows_of(j->s, d, t, j->train, r->h.data, d->U, b0, b1);
        gru_step(j->s, d, t, &sr, j->act, j->ract);
        ck_rnn_emit_rows(r, d, step, j->y, b0, b1);
    }
}

/* The kernels of forward_group's products, h_{t-1} from r->h. */
static void prepare_forward(gru *s, const ck_rnn_dims *d, bool train)
{
    int U = d->U, G = 3 * U;
    if (s->reset_after) {
        ck_rnn_prepare_groups(&s->rnn.rec[0], d, U, s->rnn.o.use_bias ? 1.0f : 0.0f, G);
        return;
    }
    ck_rnn_prepare_groups(&s->rnn.rec[0], d, U, 0.0f, G);
    ck_rnn_prepare_groups(&s->rnn.rec[1], d, train ? d->T * U : U, 1.0f, d->T * G);
}

static ck_status gru_forward(ck_layer *l, const ck_tensor *x, ck_tensor *y, const ck_run_ctx *ctx)
{
    gru *s = (gru *)l;
    ck_rnn *r = &s->rnn;
    ck_rnn_dims d;
    CK_TRY(ck_rnn_dims_get(r, x, &d));
    int G = 3 * d.U;
    ck_act act = ck_act_resolve(r->o.act, ck_layer_semantics(l));
    ck_act ract = ck_act_resolve(r->o.ract, ck_layer_semantics(l));
    bool train = ctx->training;
    const float *xin;
    CK_TRY(ck_rnn_begin(r, &d, x, ctx, &xin));
    CK_TRY(gru_reserve(s, &d, train));
    CK_TRY(ck_rnn_project(r, &d, G, train, xin, r->o.use_bias ? l->weights[2].data : NULL,
                          s->xp.data));
    CK_TRY(pack_recurrent(s, false));
    group_job job = {s, &d, act, ract, train, y->data, NULL};
    if (ck_rnn_splits_samples(r, &d, train)) {
        prepare_forward(s, &d, train);
        ck_pool_run(CK_RNN_GROUPS, forward_group, &job);
        return ck_rnn_finish(r, &d, y->data);
    }
    for (int step = 0; step < d.T; step++) {
        int t = ck_rnn_time(r, step, d.T), ldh;
        const float *hin = ck_rnn_step_input(r, &d, t, train, &ldh);
        step_rows sr = rows_of(s, &d, t, train, hin, ldh, 0, d.B);
        gru_step(s, &d, t, &sr, act, ract);
        ck_rnn_emit(r, &d, step, y->data);
    }
    return ck_rnn_finish(r, &d, y->data);
}

static ck_status gru_reserve_backward(gru *s, const ck_rnn_dims *d)
{
    size_t B = (size_t)d->B, U = (size_t)d->U, BT = B * (size_t)d->T;
    CK_TRY(ck_buf_reserve(&s->dpre, BT * 3 * U));
    CK_TRY(ck_buf_reserve(&s->drec, s->reset_after ? BT * 3 * U : B * U));
    CK_TRY(ck_buf_reserve(&s->carry, B * U));
    return ck_buf_reserve(&s->dhm, B * U);
}

/* Per sample: dz and dhh from dh, then their pre-activation gradients;
 * with reset_after also dr and the recurrent-product gradient. */
static void step_backward_a(const gru *s, const ck_rnn_dims *d, int b, int t, ck_act act,
                            ck_act ract)
{
    int U = d->U, G = 3 * U;
    size_t bt = (size_t)b * (size_t)d->T + (size_t)t, bu = (size_t)b * (size_t)U;
    const float *g = s->gates.data + bt * (size_t)G, *pre = s->xp.data + bt * (size_t)G;
    const float *hp = ck_rnn_hprev_raw(&s->rnn, d, b, t), *dh = s->rnn.dh.data + bu;
    float *dp = s->dpre.data + bt * (size_t)G, *carry = s->carry.data + bu, *tmp = s->dhm.data + bu;
    for (int j = 0; j < U; j++) {
        tmp[j] = dh[j] * (hp[j] - g[2 * U + j]);
        carry[j] = dh[j] * g[j];
    }
    ck_act_backward(ract, pre, g, tmp, dp, (size_t)U, 0);
    for (int j = 0; j < U; j++)
        tmp[j] = dh[j] * (1.0f - g[j]);
    ck_act_backward(act, pre + 2 * U, g + 2 * U, tmp, dp + 2 * U, (size_t)U, 0);
    if (!s->reset_after)
        return;
    const float *rh = s->rh.data + bt * (size_t)U;
    float *dr = s->drec.data + bt * (size_t)G;
    for (int j = 0; j < U; j++) {
        tmp[j] = dp[2 * U + j] * rh[j];
        dr[2 * U + j] = dp[2 * U + j] * g[U + j];
    }
    ck_act_backward(ract, pre + U, g + U, tmp, dp + U, (size_t)U, 0);
    memcpy(dr, dp, sizeof(float) * 2 * (size_t)U);
}

/* Without reset_after, given d(r * h_{t-1}) in drec: dr, and the direct
 * part of the h_{t-1} gradient (into dhm). */
static void step_backward_b(const gru *s, const ck_rnn_dims *d, int b, int t, ck_act ract)
{
    int U = d->U, G = 3 * U;
    size_t bt = (size_t)b * (size_t)d->T + (size_t)t, bu = (size_t)b * (size_t)U;
    const float *g = s->gates.data + bt * (size_t)G, *pre = s->xp.data + bt * (size_t)G;
    const float *hm = ck_rnn_hprev_fed(&s->rnn) + bt * (size_t)U, *drh = s->drec.data + bu;
    float *tmp = s->dhm.data + bu;
    for (int j = 0; j < U; j++)
        tmp[j] = drh[j] * hm[j];
    ck_act_backward(ract, pre + U, g + U, tmp, s->dpre.data + bt * (size_t)G + U, (size_t)U, 0);
    for (int j = 0; j < U; j++)
        tmp[j] = drh[j] * g[U + j];
}

/* dh_{t-1} = carry + mask * (gradient through the recurrent kernel), for
 * samples [b0, b1); the recurrent dropout mask only on the whole batch
 * (groups of samples run without one). */
static void step_backward_h(gru *s, const ck_rnn_dims *d, int t, int b0, int b1)
{
    int U = d->U, G = 3 * U, ld = d->T * G;
    size_t at = ((size_t)b0 * (size_t)d->T + (size_t)t) * (size_t)G, bu = (size_t)b0 * (size_t)U;
    if (s->reset_after)
        ck_gemm_packed(b1 - b0, s->drec.data + at, ld, &s->rnn.rec_t[0], 0.0f, s->dhm.data + bu, U);
    else
        ck_gemm_packed(b1 - b0, s->dpre.data + at, ld, &s->rnn.rec_t[0], 1.0f, s->dhm.data + bu, U);
    if (b1 - b0 == d->B)
        ck_rnn_mask_hgrad(&s->rnn, d, s->dhm.data);
    for (size_t i = bu; i < (size_t)b1 * (size_t)U; i++)
        s->rnn.dh.data[i] = s->carry.data[i] + s->dhm.data[i];
}

/* One backward step for samples [b0, b1); the masks only apply to the
 * whole batch (groups of samples run without them). */
static void backward_step(const group_job *j, int step, int b0, int b1)
{
    gru *s = j->s;
    ck_rnn *r = &s->rnn;
    const ck_rnn_dims *d = j->d;
    int U = d->U, G = 3 * U, t = ck_rnn_time(r, step, d->T);
    bool whole = b1 - b0 == d->B;
    if (whole)
        ck_rnn_add_output_grad(r, d, j->dy, step);
    else
        ck_rnn_add_output_grad_rows(r, d, j->dy, step, b0, b1);
    for (int b = b0; b < b1; b++)
        step_backward_a(s, d, b, t, j->act, j->ract);
    if (whole) {
        ck_rnn_mask_rows(r, d, t, s->dpre.data, G);
        if (s->reset_after)
            ck_rnn_mask_rows(r, d, t, s->drec.data, G);
    }
    if (!s->reset_after) {
        ck_gemm_packed(b1 - b0, s->dpre.data + ((size_t)b0 * d->T + t) * (size_t)G + 2 * U,
                       d->T * G, &r->rec_t[1], 0.0f, s->drec.data + (size_t)b0 * U, U);
        for (int b = b0; b < b1; b++)
            step_backward_b(s, d, b, t, j->ract);
    }
    if (step == 0)
        return;
    step_backward_h(s, d, t, b0, b1);
    if (whole)
        ck_rnn_mask_carry_grad(r, d, t);
}

static void backward_group(void *arg, int g)
{
    const group_job *j = arg;
    int b0 = ck_rnn_group_start(j->d, g), b1 = ck_rnn_group_start(j->d, g + 1);
    for (int step = j->d->T - 1; step >= 0; step--)
        backward_step(j, step, b0, b1);
}

/* The kernels of backward_group's products. */
static void prepare_backward(gru *s, const ck_rnn_dims *d)
{
    int U = d->U, ld = d->T * 3 * U;
    if (!s->reset_after)
        ck_rnn_prepare_groups(&s->rnn.rec_t[1], d, ld, 0.0f, U);
    ck_rnn_prepare_groups(&s->rnn.rec_t[0], d, ld, s->reset_after ? 0.0f : 1.0f, U);
}

/* The recurrent kernel's gradient as the products that make it (ops),
 * for ck_rnn_input_backward to run; returns how many. */
static int recurrent_weight_grads(gru *s, const ck_rnn_dims *d, ck_gemm_op *ops)
{
    ck_layer *l = &s->rnn.base;
    int U = d->U, G = 3 * U, BT = d->B * d->T;
    const float *hm = ck_rnn_hprev_fed(&s->rnn);
    float *dU = l->weights[1].grad;
    if (s->reset_after) {
        ops[0] = ck_gemm_op_tn(U, G, BT, hm, U, s->drec.data, G, 1.0f, dU, G);
        if (s->rnn.o.use_bias)
            ck_rnn_sum_rows(s->drec.data, (size_t)BT, G, l->weights[2].grad + G);
        return 1;
    }
    ops[0] = ck_gemm_op_tn(U, 2 * U, BT, hm, U, s->dpre.data, G, 1.0f, dU, G);
    ops[1] = ck_gemm_op_tn(U, U, BT, s->rh.data, U, s->dpre.data + 2 * U, G, 1.0f, dU + 2 * U, G);
    return 2;
}

static ck_status gru_backward(ck_layer *l, const ck_tensor *x, const ck_tensor *y,
                              const ck_tensor *dy, ck_tensor *dx)
{
    (void)y;
    gru *s = (gru *)l;
    ck_rnn *r = &s->rnn;
    ck_rnn_dims d;
    CK_TRY(ck_rnn_dims_get(r, x, &d));
    int U = d.U, G = 3 * U;
    ck_act act = ck_act_resolve(r->o.act, ck_layer_semantics(l));
    ck_act ract = ck_act_resolve(r->o.ract, ck_layer_semantics(l));
    CK_TRY(gru_reserve_backward(s, &d));
    CK_TRY(ck_rnn_backward_begin(r, &d));
    CK_TRY(pack_recurrent(s, true));
    group_job job = {s, &d, act, ract, true, NULL, dy};
    if (ck_rnn_splits_samples(r, &d, true)) {
        prepare_backward(s, &d);
        ck_pool_run(CK_RNN_GROUPS, backward_group, &job);
    } else {
        for (int step = d.T - 1; step >= 0; step--)
            backward_step(&job, step, 0, d.B);
    }
    ck_gemm_op dU[2];
    int n_dU = recurrent_weight_grads(s, &d, dU);
    ck_rnn_input_backward(r, &d, G, x->data, s->dpre.data, &l->weights[0],
                          r->o.use_bias ? l->weights[2].grad : NULL, dx ? dx->data : NULL, dU,
                          n_dU);
    return CK_OK;
}

static ck_status gru_get_config(const ck_layer *l, cJSON *cfg)
{
    const gru *s = (const gru *)l;
    CK_TRY(ck_rnn_config_put(&s->rnn, cfg, true));
    CK_TRY(ck_config_add_bool(cfg, "reset_after", s->reset_after));
    return ck_config_add_number(cfg, "implementation", 2);
}

static ck_layer *gru_from_config(const cJSON *cfg, ck_keras_semantics semantics)
{
    (void)semantics;
    static const char *const known[] = {"recurrent_activation", "reset_after", NULL};
    ck_rnn_raw_opts o = {0};
    /* Every writer that has reset_after writes it; a config without it comes
     * from Keras <= 2.1, whose GRU had no reset_after (False). */
    bool reset_after = false;
    if (ck_rnn_config_get(cfg, "GRU", known, &o) != CK_OK ||
        ck_config_get_bool(cfg, "reset_after", &reset_after) != CK_OK)
        return NULL;
    return gru_create(&o, reset_after);
}

static void gru_destroy(ck_layer *l)
{
    gru *s = (gru *)l;
    ck_rnn_release(&s->rnn);
    ck_buf *bufs[] = {&s->xp, &s->rec, &s->rh, &s->gates, &s->dpre, &s->drec, &s->carry, &s->dhm};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        ck_buf_free(bufs[i]);
    free(s);
}

const ck_layer_ops ck_gru_layer_ops = {
    .class_name = "GRU",
    .base_name = "gru",
    .output_shape = ck_rnn_output_shape,
    .build = gru_build,
    .forward = gru_forward,
    .backward = gru_backward,
    .compute_mask = ck_rnn_compute_mask,
    .get_config = gru_get_config,
    .from_config = gru_from_config,
    .reset_state = ck_rnn_reset_state,
    .has_state = ck_rnn_has_state,
    .stateful = ck_rnn_stateful,
    .destroy = gru_destroy,
};
