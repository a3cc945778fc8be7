/* keras.layers.SimpleRNN: h_t = act(x_t W + h_{t-1} U + b).
 *
 * The input projection for every timestep is one GEMM; each step adds
 * h_{t-1} U into its strided rows in place. Backward keeps one (B,u) GEMM
 * per step for dh_{t-1}; dW, dU and dx are one GEMM each. */
#include "ck_rnn.h"
#include "ck_blas.h"
#include "ck_pool.h"

#include <stdlib.h>
#include <string.h>

typedef struct simple_rnn {
    ck_rnn rnn;
    ck_buf z;    /* (B,T,u) pre-activations */
    ck_buf hseq; /* (B,T,u) h_t per real timestep (training) */
    ck_buf dpre; /* (B,T,u) gradient w.r.t. the pre-activations */
} simple_rnn;

extern const ck_layer_ops ck_simple_rnn_layer_ops;

static ck_layer *simple_rnn_create(const ck_rnn_raw_opts *raw)
{
    ck_rnn *r = ck_rnn_create(sizeof(simple_rnn), &ck_simple_rnn_layer_ops, raw, 1, false);
    return r ? &r->base : NULL;
}

ck_layer *ck_simple_rnn_new(const ck_simple_rnn_options *o)
{
    if (!o) {
        ck_error(CK_ERR_ARGUMENT, "SimpleRNN: options are NULL");
        return NULL;
    }
    ck_rnn_raw_opts raw = {0};
    CK_RNN_TAKE_OPTIONS(ck_simple_rnn_options, o, &raw.c);
    return simple_rnn_create(&raw);
}

static ck_status simple_rnn_build(ck_layer *l)
{
    ck_rnn *r = (ck_rnn *)l;
    int64_t bd[1] = {r->o.units};
    return ck_rnn_build_weights(r, r->o.units, 1, bd, "simple_rnn_cell", "cell");
}

/* h_t = act(z) for samples [b0, b1) of step t; training keeps h_t. */
static void cells_rows(simple_rnn *s, const ck_rnn_dims *d, int t, ck_act act, bool train, int b0,
                       int b1)
{
    size_t U = (size_t)d->U;
    for (int b = b0; b < b1; b++) {
        size_t bt = ((size_t)b * (size_t)d->T + (size_t)t) * U;
        float *hb = s->rnn.h.data + (size_t)b * U;
        ck_act_forward(act, s->z.data + bt, hb, U, 0);
        if (train)
            memcpy(s->hseq.data + bt, hb, U * sizeof(float));
    }
}

/* The pre-activation gradients of step t for samples [b0, b1). */
static void backward_rows(simple_rnn *s, const ck_rnn_dims *d, int t, ck_act act, int b0, int b1)
{
    size_t U = (size_t)d->U;
    for (int b = b0; b < b1; b++) {
        size_t bt = ((size_t)b * (size_t)d->T + (size_t)t) * U;
        ck_act_backward(act, s->z.data + bt, s->hseq.data + bt, s->rnn.dh.data + (size_t)b * U,
                        s->dpre.data + bt, U, 0);
    }
}

/* One group of samples (ck_rnn_splits_samples) through every step. */
typedef struct group_job {
    simple_rnn *s;
    const ck_rnn_dims *d;
    ck_packed *P; /* U forwards, U^T backwards */
    ck_act act;
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
    const float *h = r->h.data + (size_t)b0 * (size_t)d->U;
    for (int step = 0; step < d->T; step++) {
        int t = ck_rnn_time(r, step, d->T);
        if (j->train)
            ck_rnn_record_hprev(r, d, t, h, d->U, b0, b1);
        ck_gemm_packed(b1 - b0, h, d->U, j->P, 1.0f,
                       j->s->z.data + ((size_t)b0 * d->T + t) * (size_t)d->U, d->T * d->U);
        cells_rows(j->s, d, t, j->act, j->train, b0, b1);
        ck_rnn_emit_rows(r, d, step, j->y, b0, b1);
    }
}

static void backward_group(void *arg, int g)
{
    const group_job *j = arg;
    ck_rnn *r = &j->s->rnn;
    const ck_rnn_dims *d = j->d;
    int b0 = ck_rnn_group_start(d, g), b1 = ck_rnn_group_start(d, g + 1);
    for (int step = d->T - 1; step >= 0; step--) {
        int t = ck_rnn_time(r, step, d->T);
        ck_rnn_add_output_grad_rows(r, d, j->dy, step, b0, b1);
        backward_rows(j->s, d, t, j->act, b0, b1);
        if (step == 0)
            break;
        ck_gemm_packed(b1 - b0, j->s->dpre.data + ((size_t)b0 * d->T + t) * (size_t)d->U,
                       d->T * d->U, j->P, 0.0f, r->dh.data + (size_t)b0 * d->U, d->U);
    }
}

static ck_status simple_rnn_forward(ck_layer *l, const ck_tensor *x, ck_tensor *y,
                                    const ck_run_ctx *ctx)
{
    simple_rnn *s = (simple_rnn *)l;
    ck_rnn *r = &s->rnn;
    ck_rnn_dims d;
    CK_TRY(ck_rnn_dims_get(r, x, &d));
    size_t U = (size_t)d.U, BTU = (size_t)d.B * (size_t)d.T * U;
    ck_act act = ck_act_resolve(r->o.act, ck_layer_semantics(l));
    bool train = ctx->training;
    const float *xin;
    CK_TRY(ck_rnn_begin(r, &d, x, ctx, &xin));
    CK_TRY(ck_buf_reserve(&s->z, BTU));
    if (train)
        CK_TRY(ck_buf_reserve(&s->hseq, BTU));
    CK_TRY(ck_rnn_project(r, &d, d.U, train, xin, r->o.use_bias ? l->weights[2].data : NULL,
                          s->z.data));
    ck_packed *R;
    CK_TRY(ck_rnn_pack_recurrent(r, 0, 0, d.U, false, &R));
    if (ck_rnn_splits_samples(r, &d, train)) {
        ck_rnn_prepare_groups(R, &d, d.U, 1.0f, d.T * d.U);
        group_job job = {s, &d, R, act, train, y->data, NULL};
        ck_pool_run(CK_RNN_GROUPS, forward_group, &job);
        return ck_rnn_finish(r, &d, y->data);
    }
    for (int step = 0; step < d.T; step++) {
        int t = ck_rnn_time(r, step, d.T), ld;
        const float *hin = ck_rnn_step_input(r, &d, t, train, &ld);
        ck_gemm_packed(d.B, hin, ld, R, 1.0f, s->z.data + (size_t)t * U, d.T * d.U);
        cells_rows(s, &d, t, act, train, 0, d.B);
        ck_rnn_emit(r, &d, step, y->data);
    }
    return ck_rnn_finish(r, &d, y->data);
}

/* The steps of the backward pass for the whole batch, last first. */
static void backward_steps(const group_job *j)
{
    ck_rnn *r = &j->s->rnn;
    const ck_rnn_dims *d = j->d;
    for (int step = d->T - 1; step >= 0; step--) {
        int t = ck_rnn_time(r, step, d->T);
        ck_rnn_add_output_grad(r, d, j->dy, step);
        backward_rows(j->s, d, t, j->act, 0, d->B);
        ck_rnn_mask_rows(r, d, t, j->s->dpre.data, d->U);
        if (step == 0)
            break;
        ck_gemm_packed(d->B, j->s->dpre.data + (size_t)t * (size_t)d->U, d->T * d->U, j->P, 0.0f,
                       r->dh.data, d->U);
        ck_rnn_mask_hgrad(r, d, r->dh.data);
        ck_rnn_mask_carry_grad(r, d, t);
    }
}

static ck_status simple_rnn_backward(ck_layer *l, const ck_tensor *x, const ck_tensor *y,
                                     const ck_tensor *dy, ck_tensor *dx)
{
    (void)y;
    simple_rnn *s = (simple_rnn *)l;
    ck_rnn *r = &s->rnn;
    ck_rnn_dims d;
    CK_TRY(ck_rnn_dims_get(r, x, &d));
    size_t U = (size_t)d.U, BT = (size_t)d.B * (size_t)d.T;
    ck_act act = ck_act_resolve(r->o.act, ck_layer_semantics(l));
    CK_TRY(ck_buf_reserve(&s->dpre, BT * U));
    CK_TRY(ck_rnn_backward_begin(r, &d));
    ck_packed *RT = NULL;
    if (d.T > 1)
        CK_TRY(ck_rnn_pack_recurrent(r, 0, 0, d.U, true, &RT));
    group_job job = {s, &d, RT, act, true, NULL, dy};
    if (ck_rnn_splits_samples(r, &d, true)) {
        if (RT)
            ck_rnn_prepare_groups(RT, &d, d.T * d.U, 0.0f, d.U);
        ck_pool_run(CK_RNN_GROUPS, backward_group, &job);
    } else {
        backward_steps(&job);
    }
    ck_gemm_op dU = ck_gemm_op_tn(d.U, d.U, (int)BT, ck_rnn_hprev_fed(r), d.U, s->dpre.data, d.U,
                                  1.0f, l->weights[1].grad, d.U);
    ck_rnn_input_backward(r, &d, d.U, x->data, s->dpre.data, &l->weights[0],
                          r->o.use_bias ? l->weights[2].grad : NULL, dx ? dx->data : NULL, &dU, 1);
    return CK_OK;
}

static ck_status simple_rnn_get_config(const ck_layer *l, cJSON *cfg)
{
    return ck_rnn_config_put((const ck_rnn *)l, cfg, false);
}

static ck_layer *simple_rnn_from_config(const cJSON *cfg, ck_keras_semantics semantics)
{
    (void)semantics;
    static const char *const known[] = {NULL};
    ck_rnn_raw_opts o = {0};
    if (ck_rnn_config_get(cfg, "SimpleRNN", known, &o) != CK_OK)
        return NULL;
    return simple_rnn_create(&o);
}

static void simple_rnn_destroy(ck_layer *l)
{
    simple_rnn *s = (simple_rnn *)l;
    ck_rnn_release(&s->rnn);
    ck_buf_free(&s->z);
    ck_buf_free(&s->hseq);
    ck_buf_free(&s->dpre);
    free(s);
}

const ck_layer_ops ck_simple_rnn_layer_ops = {
    .class_name = "SimpleRNN",
    .base_name = "simple_rnn",
    .output_shape = ck_rnn_output_shape,
    .build = simple_rnn_build,
    .forward = simple_rnn_forward,
    .backward = simple_rnn_backward,
    .compute_mask = ck_rnn_compute_mask,
    .get_config = simple_rnn_get_config,
    .from_config = simple_rnn_from_config,
    .reset_state = ck_rnn_reset_state,
    .has_state = ck_rnn_has_state,
    .stateful = ck_rnn_stateful,
    .destroy = simple_rnn_destroy,
};
