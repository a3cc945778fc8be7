/* keras.layers.LSTM. Gate blocks along the 4u axis are i, f, c, o.
 *
 * Forward: one GEMM computes x W for every timestep on the (B*T, F) view;
 * each step then computes h_{t-1} U into a contiguous block and runs one
 * element-wise pass that adds it and the bias and computes the gates, c
 * and h. Where the (B*T, 4u) projection would not stay in cache, each step
 * instead runs one product [x_t, h_{t-1}] [W; U] (runs_joint), or in the
 * cases that excludes projects x_t alone (ck_rnn_project_per_step,
 * inference only). Backward: per step only
 * dh_{t-1} = dz_t U^T; dW and dU are one GEMM each over all timesteps.
 * Buffers grow only, so a fixed batch size never allocates after the
 * first call. Options, state (h and the cell state c), dropout, masking
 * and config are ck_rnn's. */
#include "ck_internal.h"
#include "ck_blas.h"
#include "ck_rnn.h"
#include "ck_pool.h"
#include "ck_vmath.h"

#include <stdlib.h>
#include <string.h>

/* The cell pass of one step is CELL_CHUNKS tasks of whole samples (a
 * fixed count, so no result depends on the thread count), run on the pool
 * from CELL_SPLIT_ELEMENTS batch x units (about 40 us of work on one
 * thread: W3's 32,768 took 148 us), and in training, whose steps keep the
 * pool's workers awake (ck_pool_hold), from CELL_SPLIT_HELD. */
#define CELL_CHUNKS 8
#define CELL_SPLIT_ELEMENTS 8192
#define CELL_SPLIT_HELD 1024

static bool split_cells(const ck_rnn_dims *d, bool training)
{
    return (size_t)d->B * (size_t)d->U >= (training ? CELL_SPLIT_HELD : CELL_SPLIT_ELEMENTS);
}

typedef struct lstm {
    ck_rnn rnn;
    /* (B,T,4u): x W, then the full pre-activations (with h U and the bias);
     * (B,4u), one step's, when inference projects per step. */
    ck_buf z;
    /* (B,4u): one step's h_{t-1} U. Contiguous on purpose: written straight
     * into z's rows (stride T*4u), every sample's block fell on the same
     * few cache sets and the recurrent product ran at half speed. */
    ck_buf zr;
    /* training caches, indexed by real timestep t */
    ck_buf gates;  /* (B,T,4u) activated i, f, g, o */
    ck_buf cells;  /* (B,T,u) c_t */
    ck_buf act_c;  /* (B,T,u) act(c_t) */
    ck_buf cstart; /* (B,u) c before the first step of the last training forward */
    /* backward scratch (also the inference scratch of wide layers) */
    ck_buf dz, dc, tmp;
    /* The joint step product (runs_joint): [W; U] stacked (F+u, 4u), its
     * packed copy, and [x_t, h_{t-1}] (B, F+u). */
    ck_buf wu, xh;
    ck_packed joint;
} lstm;

extern const ck_layer_ops ck_lstm_layer_ops;

static ck_layer *lstm_create(const ck_rnn_raw_opts *raw)
{
    ck_rnn *r = ck_rnn_create(sizeof(lstm), &ck_lstm_layer_ops, raw, 4, true);
    return r ? &r->base : NULL;
}

ck_layer *ck_lstm_new(const ck_lstm_options *o)
{
    if (!o) {
        ck_error(CK_ERR_ARGUMENT, "LSTM: options are NULL");
        return NULL;
    }
    ck_rnn_raw_opts raw = {.recurrent_activation = o->recurrent_activation,
                           .no_unit_forget_bias = o->no_unit_forget_bias};
    CK_RNN_TAKE_OPTIONS(ck_lstm_options, o, &raw.c);
    return lstm_create(&raw);
}

static ck_status lstm_build(ck_layer *l)
{
    ck_rnn *r = (ck_rnn *)l;
    int64_t bd[1] = {4 * (int64_t)r->o.units};
    return ck_rnn_build_weights(r, 4 * r->o.units, 1, bd, "lstm_cell", "cell");
}

/* Keras's unit_forget_bias replaces the forget block of the initial bias
 * with ones (it does not add to it). */
static void lstm_after_init(ck_layer *l)
{
    const ck_rnn_opts *o = &((ck_rnn *)l)->o;
    if (!o->use_bias || !o->unit_forget_bias)
        return;
    float *b = l->weights[2].data;
    for (int j = 0; j < o->units; j++)
        b[o->units + j] = 1.0f;
}

static ck_status reserve_forward(lstm *s, const ck_rnn_dims *d, bool training, bool per_step)
{
    size_t U = (size_t)d->U, BT = (size_t)d->B * (size_t)d->T;
    CK_TRY(ck_buf_reserve(&s->z, (per_step ? (size_t)d->B : BT) * 4 * U));
    CK_TRY(ck_buf_reserve(&s->zr, (size_t)d->B * 4 * U));
    if (!training)
        return ck_buf_reserve(&s->tmp, CELL_CHUNKS * 5 * U);
    CK_TRY(ck_buf_reserve(&s->gates, BT * 4 * U));
    CK_TRY(ck_buf_reserve(&s->cells, BT * U));
    CK_TRY(ck_buf_reserve(&s->act_c, BT * U));
    return ck_buf_reserve(&s->cstart, (size_t)d->B * U);
}

/* An activation computed inline, for the pairings the fused steps take. */
CK_INLINE float act_value(ck_act a, float x)
{
    switch (a) {
    case CK_ACT_SIGMOID:
        return ck_sigmoid1(x);
    case CK_ACT_TANH:
        return ck_tanh1(x);
    case CK_ACT_RELU:
        return x > 0.0f ? x : 0.0f;
    default:
        return x;
    }
}

/* Gates, c and h in one pass. Called with constant activations so that
 * each call site inlines into its own vectorized loop. */
CK_INLINE void fused_step_forward(ck_act act, ck_act ract, int U, const float *restrict z,
                                  float *restrict g, float *restrict h, float *restrict c,
                                  float *restrict actc)
{
    for (int j = 0; j < U; j++) {
        float gi = act_value(ract, z[j]), gf = act_value(ract, z[U + j]);
        float gg = act_value(act, z[2 * U + j]), go = act_value(ract, z[3 * U + j]);
        float cj = gf * c[j] + gi * gg, ac = act_value(act, cj);
        g[j] = gi;
        g[U + j] = gf;
        g[2 * U + j] = gg;
        g[3 * U + j] = go;
        c[j] = cj;
        actc[j] = ac;
        h[j] = go * ac;
    }
}

/* The same for any activation pair, one gate block at a time. */
static void generic_step_forward(int U, ck_act act, ck_act ract, const float *z, float *g, float *h,
                                 float *c, float *actc)
{
    ck_act_forward(ract, z, g, (size_t)U * 2, 0);             /* i, f */
    ck_act_forward(act, z + 2 * U, g + 2 * U, (size_t)U, 0);  /* candidate */
    ck_act_forward(ract, z + 3 * U, g + 3 * U, (size_t)U, 0); /* o */
    for (int j = 0; j < U; j++)
        c[j] = g[U + j] * c[j] + g[j] * g[2 * U + j];
    ck_act_forward(act, c, actc, (size_t)U, 0);
    for (int j = 0; j < U; j++)
        h[j] = g[3 * U + j] * actc[j];
}

/* The element-wise part of one step for one sample, after the recurrent
 * GEMM: adds its result zr and the bias (NULL: none) into z, which then
 * holds the 4u full pre-activations the backward pass needs, activates
 * the gates into g and updates c and h. Keras's default pairings take the
 * fused loop. */
CK_CLONES static void cell_step(int U, ck_act act, ck_act ract, const float *restrict bias,
                                float *restrict z, const float *restrict zr, float *g, float *h,
                                float *c, float *actc)
{
    if (bias)
        for (int j = 0; j < 4 * U; j++)
            z[j] += zr[j] + bias[j];
    else
        for (int j = 0; j < 4 * U; j++)
            z[j] += zr[j];
    if (ract == CK_ACT_SIGMOID && act == CK_ACT_TANH)
        fused_step_forward(CK_ACT_TANH, CK_ACT_SIGMOID, U, z, g, h, c, actc);
    else if (ract == CK_ACT_SIGMOID && act == CK_ACT_RELU)
        fused_step_forward(CK_ACT_RELU, CK_ACT_SIGMOID, U, z, g, h, c, actc);
    else
        generic_step_forward(U, act, ract, z, g, h, c, actc);
}

/* Inference's fused step: the pre-activations are summed where they are
 * used (as cell_step sums them) and only c and h are written, since no
 * backward pass reads z or the gates. */
CK_INLINE void fused_step_infer(ck_act act, ck_act ract, int U, const float *restrict z,
                                const float *restrict zr, const float *restrict bias,
                                float *restrict h, float *restrict c)
{
    for (int j = 0; j < U; j++) {
        float gi = act_value(ract, z[j] + (zr[j] + bias[j]));
        float gf = act_value(ract, z[U + j] + (zr[U + j] + bias[U + j]));
        float gg = act_value(act, z[2 * U + j] + (zr[2 * U + j] + bias[2 * U + j]));
        float go = act_value(ract, z[3 * U + j] + (zr[3 * U + j] + bias[3 * U + j]));
        float cj = gf * c[j] + gi * gg;
        c[j] = cj;
        h[j] = go * act_value(act, cj);
    }
}

/* Keras's default pairings (sigmoid gates with tanh or relu) with a bias:
 * inference's cell then takes fused_step_infer, and the backward pass
 * reads the gates only, not the pre-activations. */
static bool fuses(ck_act act, ck_act ract, const float *bias)
{
    return bias && ract == CK_ACT_SIGMOID && (act == CK_ACT_TANH || act == CK_ACT_RELU);
}

/* cell_step for inference, where the cell fuses. */
CK_CLONES static void cell_step_infer(int U, ck_act act, const float *bias, const float *z,
                                      const float *zr, float *h, float *c)
{
    if (act == CK_ACT_TANH)
        fused_step_infer(CK_ACT_TANH, CK_ACT_SIGMOID, U, z, zr, bias, h, c);
    else
        fused_step_infer(CK_ACT_RELU, CK_ACT_SIGMOID, U, z, zr, bias, h, c);
}

/* One step's cell pass, split into CELL_CHUNKS tasks of whole samples
 * when the batch is wide enough to pay for waking the pool. */
typedef struct cell_pass {
    lstm *s;
    const ck_rnn_dims *d;
    int t;
    bool train, per_step;
    bool infer_fused; /* inference on cell_step_infer */
    ck_act act, ract;
    const float *bias;
    /* The joint product (forward_joint): h lives in the rows of xh (row
     * stride ldxh), and the cell pass writes row `step` of y (when it
     * returns sequences) while that row is in cache. */
    float *xh, *y;
    int ldxh, step;
} cell_pass;

/* The cell pass of samples [b0, b1); scratch holds one sample's gates
 * when inference takes the generic cell. */
static void cells_range(const cell_pass *p, int b0, int b1, float *scratch)
{
    lstm *s = p->s;
    ck_rnn *r = &s->rnn;
    int U = p->d->U;
    size_t G = 4 * (size_t)U;
    for (int b = b0; b < b1; b++) {
        size_t bt = (size_t)b * (size_t)p->d->T + (size_t)p->t;
        float *cb = r->c.data + (size_t)b * (size_t)U;
        float *g = p->train ? s->gates.data + bt * G : scratch;
        float *ac = p->train ? s->act_c.data + bt * (size_t)U : scratch + G;
        float *z = s->z.data + (p->per_step ? (size_t)b : bt) * G, *zr = s->zr.data + (size_t)b * G;
        float *h = r->h.data + (size_t)b * (size_t)U;
        if (p->xh) { /* the joint product: see forward_joint */
            zr = s->zr.data;
            h = p->xh + (size_t)b * (size_t)p->ldxh + p->d->F;
        }
        bool kept = ck_rnn_kept(r->base.mask, p->d->T, b, p->t);
        if (kept && p->infer_fused)
            cell_step_infer(U, p->act, p->bias, z, zr, h, cb);
        else if (kept)
            cell_step(U, p->act, p->ract, p->bias, z, zr, g, h, cb, ac);
        if (p->train)
            memcpy(s->cells.data + bt * (size_t)U, cb, sizeof(float) * (size_t)U);
        if (p->y)
            memcpy(p->y + ((size_t)b * (size_t)p->d->T + (size_t)p->step) * (size_t)U, h,
                   sizeof(float) * (size_t)U);
    }
}

static void cells_forward(void *arg, int chunk)
{
    const cell_pass *p = arg;
    int B = p->d->B;
    /* Inference keeps one sample's gates at a time, in this chunk's scratch. */
    float *scratch = p->train ? NULL : p->s->tmp.data + (size_t)chunk * 5 * (size_t)p->d->U;
    cells_range(p, chunk * B / CELL_CHUNKS, (chunk + 1) * B / CELL_CHUNKS, scratch);
}

static void cells_run(cell_pass *p, int t)
{
    p->t = t;
    if (split_cells(p->d, p->train)) {
        ck_pool_run(CELL_CHUNKS, cells_forward, p);
    } else {
        for (int chunk = 0; chunk < CELL_CHUNKS; chunk++)
            cells_forward(p, chunk);
    }
}

/* [W; U] stacked and packed, refreshed when the weights changed since
 * (always for a layer outside a model, whose weights carry no version). */
static ck_status pack_joint(lstm *s, int F, int U, ck_packed **out)
{
    ck_layer *l = &s->rnn.base;
    size_t G = 4 * (size_t)U, K = (size_t)F + (size_t)U;
    unsigned long version = l->model ? atomic_load(&l->model->weights_version) : 0;
    if (version == 0 || version != s->joint.version || s->joint.K != (int)K) {
        CK_TRY(ck_buf_reserve(&s->wu, K * G));
        memcpy(s->wu.data, l->weights[0].data, sizeof(float) * (size_t)F * G);
        memcpy(s->wu.data + (size_t)F * G, l->weights[1].data, sizeof(float) * (size_t)U * G);
        s->joint.version = 0;
    }
    CK_TRY(ck_layer_pack(l, &s->joint, s->wu.data, (int)K, (int)G, (int)G, false));
    *out = &s->joint;
    return CK_OK;
}

/* Whether a forward runs one product per step, [x_t, h_{t-1}] [W; U],
 * instead of x W for all steps and then h_{t-1} U per step: where the
 * (B*T, 4u) projection would not stay in cache, unmasked, on a cell that fuses (whose backward needs no
 * pre-activations) and without recurrent dropout (h_{t-1} U would take the
 * masked h). The pre-activations are then written and read once per step,
 * in cache, with no zeroing pass over (B*T, 4u), and a step waits for one
 * product instead of two (W3: docs/performance.md). */
static bool runs_joint(const ck_rnn *r, const ck_rnn_dims *d, bool train, bool fused)
{
    return fused && !r->base.mask && ck_rnn_projection_spills(d, 4 * d->U) &&
           !(train && r->o.recurrent_dropout > 0);
}

/* rows x cols floats from src (row stride lds) to dst (row stride ldd). */
static void copy_rows(float *dst, size_t ldd, const float *src, size_t lds, int rows, int cols)
{
    for (int i = 0; i < rows; i++)
        memcpy(dst + (size_t)i * ldd, src + (size_t)i * lds, sizeof(float) * (size_t)cols);
}

/* Sets up the forward of runs_joint: [W; U] packed, h moved into the
 * rows of [x_t, h_{t-1}], and the pass told where h lives. */
static ck_status joint_begin(lstm *s, const ck_rnn_dims *d, cell_pass *pass, float *y,
                             ck_packed **P)
{
    ck_rnn *r = &s->rnn;
    int F = d->F, U = d->U, ld = F + U;
    CK_TRY(pack_joint(s, F, U, P));
    CK_TRY(ck_buf_reserve(&s->xh, (size_t)d->B * (size_t)ld));
    /* z holds h U already: the cell adds a row of zeros where it adds h U
     * otherwise, which leaves every sum as it is and keeps one cell loop. */
    memset(s->zr.data, 0, sizeof(float) * 4 * (size_t)U);
    copy_rows(s->xh.data + F, (size_t)ld, r->h.data, (size_t)U, d->B, U);
    pass->xh = s->xh.data;
    pass->ldxh = ld;
    pass->y = r->o.return_sequences ? y : NULL;
    return CK_OK;
}

static ck_status joint_end(lstm *s, const ck_rnn_dims *d, float *y)
{
    copy_rows(s->rnn.h.data, (size_t)d->U, s->xh.data + d->F, (size_t)(d->F + d->U), d->B, d->U);
    return ck_rnn_finish(&s->rnn, d, y);
}

/* The forward of runs_joint. */
static ck_status forward_joint(lstm *s, const ck_rnn_dims *d, const float *xin, cell_pass *pass,
                               float *y)
{
    ck_rnn *r = &s->rnn;
    int F = d->F, G = 4 * d->U;
    ck_packed *P;
    CK_TRY(joint_begin(s, d, pass, y, &P));
    for (int step = 0; step < d->T; step++) {
        int t = ck_rnn_time(r, step, d->T);
        copy_rows(s->xh.data, (size_t)pass->ldxh, xin + (size_t)t * F, (size_t)d->T * F, d->B, F);
        if (pass->train)
            ck_rnn_record_hprev(r, d, t, s->xh.data + F, pass->ldxh, 0, d->B);
        ck_gemm_packed(d->B, s->xh.data, pass->ldxh, P, 0.0f, s->z.data, G);
        pass->step = step;
        cells_run(pass, t);
    }
    return joint_end(s, d, y);
}

/* Groups of samples (ck_rnn_splits_samples), except where inference
 * projects the input per step without the joint product: that product
 * packs the input kernel on first use. */
static bool splits_samples(const ck_rnn *r, const ck_rnn_dims *d, bool train, bool per_step,
                           bool joint)
{
    return ck_rnn_splits_samples(r, d, train) && (joint || !per_step);
}

typedef struct sample_job {
    lstm *s;
    const ck_rnn_dims *d;
    const cell_pass *pass;
    const float *xin;
    ck_packed *P; /* [W; U] when pass->xh is set, else U */
} sample_job;

/* One step's product for samples [b0, b0 + n): [x_t, h_{t-1}] [W; U] into
 * z, or h_{t-1} U into zr; training records h_{t-1}. */
static void group_product(const sample_job *j, const cell_pass *p, int t, int b0, int n)
{
    ck_rnn *r = &j->s->rnn;
    const ck_rnn_dims *d = j->d;
    size_t G = 4 * (size_t)d->U;
    if (p->xh) {
        float *xh = p->xh + (size_t)b0 * (size_t)p->ldxh;
        copy_rows(xh, (size_t)p->ldxh, j->xin + ((size_t)b0 * d->T + t) * d->F, (size_t)d->T * d->F,
                  n, d->F);
        if (p->train)
            ck_rnn_record_hprev(r, d, t, xh + d->F, p->ldxh, b0, b0 + n);
        ck_gemm_packed(n, xh, p->ldxh, j->P, 0.0f, j->s->z.data + (size_t)b0 * G, (int)G);
        return;
    }
    const float *h = r->h.data + (size_t)b0 * (size_t)d->U;
    if (p->train)
        ck_rnn_record_hprev(r, d, t, h, d->U, b0, b0 + n);
    ck_gemm_packed(n, h, d->U, j->P, 0.0f, j->s->zr.data + (size_t)b0 * G, (int)G);
}

static void forward_group(void *arg, int task)
{
    const sample_job *j = arg;
    const ck_rnn_dims *d = j->d;
    int b0 = ck_rnn_group_start(d, task), n = ck_rnn_group_start(d, task + 1) - b0;
    cell_pass p = *j->pass;
    /* Inference's generic cell keeps one sample's gates in its group's scratch. */
    float *scratch = p.train ? NULL : j->s->tmp.data + (size_t)task * 5 * (size_t)d->U;
    for (int step = 0; step < d->T; step++) {
        int t = ck_rnn_time(&j->s->rnn, step, d->T);
        group_product(j, &p, t, b0, n);
        p.step = step;
        p.t = t;
        cells_range(&p, b0, b0 + n, scratch);
    }
}

/* The forward of splits_samples; the input is projected already unless
 * the pass runs the joint product. */
static ck_status forward_samples(lstm *s, const ck_rnn_dims *d, const float *xin, cell_pass *pass,
                                 float *y, bool joint)
{
    ck_rnn *r = &s->rnn;
    ck_packed *P;
    if (joint) {
        CK_TRY(joint_begin(s, d, pass, y, &P));
    } else {
        CK_TRY(ck_rnn_pack_recurrent(r, 0, 0, 4 * d->U, false, &P));
        pass->y = r->o.return_sequences ? y : NULL;
    }
    ck_rnn_prepare_groups(P, d, joint ? pass->ldxh : d->U, 0.0f, 4 * d->U);
    sample_job job = {s, d, pass, xin, P};
    ck_pool_run(CK_RNN_GROUPS, forward_group, &job);
    return joint ? joint_end(s, d, y) : ck_rnn_finish(r, d, y);
}

static ck_status lstm_forward(ck_layer *l, const ck_tensor *x, ck_tensor *y, const ck_run_ctx *ctx)
{
    lstm *s = (lstm *)l;
    ck_rnn *r = &s->rnn;
    ck_rnn_dims d;
    CK_TRY(ck_rnn_dims_get(r, x, &d));
    int U = d.U, G = 4 * U;
    bool train = ctx->training;
    const float *xin;
    ck_act act = ck_act_resolve(r->o.act, ck_layer_semantics(l));
    ck_act ract = ck_act_resolve(r->o.ract, ck_layer_semantics(l));
    const float *bias = r->o.use_bias ? l->weights[2].data : NULL;
    bool fused = fuses(act, ract, bias), joint = runs_joint(r, &d, train, fused);
    bool per_step = joint || ck_rnn_project_per_step(&d, G, train);
    CK_TRY(ck_rnn_begin(r, &d, x, ctx, &xin));
    CK_TRY(reserve_forward(s, &d, train, per_step));
    if (train)
        memcpy(s->cstart.data, r->c.data, sizeof(float) * (size_t)d.B * (size_t)U);
    /* The bias joins in the per-step cell pass, which reads z anyway. */
    if (!per_step)
        CK_TRY(ck_rnn_project(r, &d, G, train, xin, NULL, s->z.data));
    cell_pass pass = {.s = s,
                      .d = &d,
                      .train = train,
                      .per_step = per_step,
                      .infer_fused = !train && fused,
                      .act = act,
                      .ract = ract,
                      .bias = bias};
    if (splits_samples(r, &d, train, per_step, joint))
        return forward_samples(s, &d, xin, &pass, y->data, joint);
    if (joint)
        return forward_joint(s, &d, xin, &pass, y->data);
    ck_packed *R;
    CK_TRY(ck_rnn_pack_recurrent(r, 0, 0, G, false, &R));
    for (int step = 0; step < d.T; step++) {
        int t = ck_rnn_time(r, step, d.T), ldh;
        if (per_step)
            CK_TRY(ck_rnn_project_step(r, &d, G, xin, t, s->z.data));
        const float *hin = ck_rnn_step_input(r, &d, t, train, &ldh);
        ck_gemm_packed(d.B, hin, ldh, R, 0.0f, s->zr.data, G);
        cells_run(&pass, t);
        ck_rnn_emit(r, &d, step, y->data);
    }
    return ck_rnn_finish(r, &d, y->data);
}

/* Derivative of an activation from its output, for the activations where
 * that is enough (relu: y > 0 exactly when x > 0). */
CK_INLINE float deriv_from_output(ck_act a, float y)
{
    switch (a) {
    case CK_ACT_SIGMOID:
        return y * (1.0f - y);
    case CK_ACT_TANH:
        return 1.0f - y * y;
    case CK_ACT_RELU:
        return y > 0.0f ? 1.0f : 0.0f;
    default:
        return 1.0f;
    }
}

/* The whole cell derivative in one pass. Called with constant activations
 * so that each call site inlines into its own branch-free loop. */
CK_INLINE void fused_step_backward(ck_act act, ck_act ract, int U, const float *restrict g,
                                   const float *restrict ac, const float *restrict cprev,
                                   const float *restrict dh, float *restrict dc, float *restrict dz)
{
    for (int j = 0; j < U; j++) {
        float gi = g[j], gf = g[U + j], gg = g[2 * U + j], go = g[3 * U + j];
        float dcj = dc[j] + dh[j] * go * deriv_from_output(act, ac[j]);
        dz[j] = dcj * gg * deriv_from_output(ract, gi);
        dz[U + j] = dcj * cprev[j] * deriv_from_output(ract, gf);
        dz[2 * U + j] = dcj * gi * deriv_from_output(act, gg);
        dz[3 * U + j] = dh[j] * ac[j] * deriv_from_output(ract, go);
        dc[j] = dcj * gf;
    }
}

/* The same for any activation pair, one gate block at a time. */
static void generic_step_backward(const lstm *s, ck_act act, ck_act ract, size_t bt,
                                  const float *cprev, const float *dh, float *dc, float *dz,
                                  float *tmp)
{
    int U = s->rnn.o.units;
    const float *g = s->gates.data + bt * 4 * (size_t)U, *z = s->z.data + bt * 4 * (size_t)U;
    const float *ac = s->act_c.data + bt * (size_t)U, *cc = s->cells.data + bt * (size_t)U;
    for (int j = 0; j < U; j++)
        tmp[j] = dh[j] * ac[j];
    ck_act_backward(ract, z + 3 * U, g + 3 * U, tmp, dz + 3 * U, (size_t)U, 0);
    for (int j = 0; j < U; j++)
        tmp[j] = dh[j] * g[3 * U + j];
    ck_act_backward(act, cc, ac, tmp, tmp, (size_t)U, 0);
    for (int j = 0; j < U; j++)
        dc[j] += tmp[j];
    for (int j = 0; j < U; j++)
        tmp[j] = dc[j] * g[2 * U + j];
    ck_act_backward(ract, z, g, tmp, dz, (size_t)U, 0);
    for (int j = 0; j < U; j++)
        tmp[j] = dc[j] * g[j];
    ck_act_backward(act, z + 2 * U, g + 2 * U, tmp, dz + 2 * U, (size_t)U, 0);
    for (int j = 0; j < U; j++)
        tmp[j] = dc[j] * cprev[j];
    ck_act_backward(ract, z + U, g + U, tmp, dz + U, (size_t)U, 0);
    for (int j = 0; j < U; j++)
        dc[j] *= g[U + j];
}

/* Gradients of one step for one sample: from dh (and the running dc) to
 * dz = [dz_i, dz_f, dz_g, dz_o]; dc becomes the gradient for c_{t-1}.
 * Keras's default pairings (sigmoid gates; tanh or relu) take the fused
 * loop. */
CK_CLONES static void cell_step_backward(const lstm *s, ck_act act, ck_act ract, size_t bt,
                                         const float *cprev, const float *dh, float *dc, float *dz,
                                         float *tmp)
{
    int U = s->rnn.o.units;
    const float *g = s->gates.data + bt * 4 * (size_t)U, *ac = s->act_c.data + bt * (size_t)U;
    if (ract == CK_ACT_SIGMOID && act == CK_ACT_TANH)
        fused_step_backward(CK_ACT_TANH, CK_ACT_SIGMOID, U, g, ac, cprev, dh, dc, dz);
    else if (ract == CK_ACT_SIGMOID && act == CK_ACT_RELU)
        fused_step_backward(CK_ACT_RELU, CK_ACT_SIGMOID, U, g, ac, cprev, dh, dc, dz);
    else
        generic_step_backward(s, act, ract, bt, cprev, dh, dc, dz, tmp);
}

/* One step's cell gradients, in CELL_CHUNKS tasks of whole samples as
 * the forward's cell pass. */
typedef struct cell_back {
    lstm *s;
    const ck_rnn_dims *d;
    int step;
    ck_act act, ract;
} cell_back;

/* A masked sample computed no gates: its dz row is zero and dh, dc pass
 * through. */
/* Cell gradients of processing step p->step for samples [b0, b1). */
static void cells_backward_range(const cell_back *p, int b0, int b1, float *tmp)
{
    lstm *s = p->s;
    ck_rnn *r = &s->rnn;
    const ck_rnn_dims *d = p->d;
    int U = d->U, t = ck_rnn_time(r, p->step, d->T), tp = r->o.go_backwards ? t + 1 : t - 1;
    size_t G = 4 * (size_t)U;
    for (int b = b0; b < b1; b++) {
        size_t bt = (size_t)b * (size_t)d->T + (size_t)t, bu = (size_t)b * (size_t)U;
        if (!ck_rnn_kept(r->base.mask, d->T, b, t))
            continue;
        const float *cprev = p->step == 0
                                 ? s->cstart.data + bu
                                 : s->cells.data + ((size_t)b * (size_t)d->T + (size_t)tp) * U;
        cell_step_backward(s, p->act, p->ract, bt, cprev, r->dh.data + bu, s->dc.data + bu,
                           s->dz.data + bt * G, tmp);
    }
}

static void cells_backward_chunk(void *arg, int chunk)
{
    const cell_back *p = arg;
    int B = p->d->B;
    size_t per = 5 * (size_t)p->d->U;
    cells_backward_range(p, chunk * B / CELL_CHUNKS, (chunk + 1) * B / CELL_CHUNKS,
                         p->s->tmp.data + (size_t)chunk * per);
}

/* Cell gradients of processing step `step` for the whole batch. */
static void cells_backward(lstm *s, const ck_rnn_dims *d, int step)
{
    ck_rnn *r = &s->rnn;
    ck_layer *l = &r->base;
    cell_back p = {s, d, step, ck_act_resolve(r->o.act, ck_layer_semantics(l)),
                   ck_act_resolve(r->o.ract, ck_layer_semantics(l))};
    if (split_cells(d, true)) {
        ck_pool_run(CELL_CHUNKS, cells_backward_chunk, &p);
    } else {
        for (int chunk = 0; chunk < CELL_CHUNKS; chunk++)
            cells_backward_chunk(&p, chunk);
    }
    ck_rnn_mask_rows(r, d, ck_rnn_time(r, step, d->T), s->dz.data, 4 * d->U);
}

/* The steps of the backward pass, last first: the cell gradients, then
 * dh_{t-1} = dz_t U^T. */
static void backward_steps(lstm *s, const ck_rnn_dims *d, const ck_tensor *dy, ck_packed *RT)
{
    ck_rnn *r = &s->rnn;
    int G = 4 * d->U;
    for (int step = d->T - 1; step >= 0; step--) {
        int t = ck_rnn_time(r, step, d->T);
        ck_rnn_add_output_grad(r, d, dy, step);
        cells_backward(s, d, step);
        if (step == 0)
            break;
        ck_gemm_packed(d->B, s->dz.data + (size_t)t * (size_t)G, d->T * G, RT, 0.0f, r->dh.data,
                       d->U);
        ck_rnn_mask_hgrad(r, d, r->dh.data);
        ck_rnn_mask_carry_grad(r, d, t);
    }
}

typedef struct back_job {
    lstm *s;
    const ck_rnn_dims *d;
    const ck_tensor *dy;
    ck_packed *RT;
} back_job;

/* backward_steps for one group of samples (splits_samples). */
static void backward_group(void *arg, int task)
{
    const back_job *j = arg;
    lstm *s = j->s;
    ck_rnn *r = &s->rnn;
    const ck_rnn_dims *d = j->d;
    int b0 = ck_rnn_group_start(d, task), b1 = ck_rnn_group_start(d, task + 1), G = 4 * d->U;
    cell_back p = {s, d, 0, ck_act_resolve(r->o.act, ck_layer_semantics(&r->base)),
                   ck_act_resolve(r->o.ract, ck_layer_semantics(&r->base))};
    float *tmp = s->tmp.data + (size_t)task * 5 * (size_t)d->U;
    for (int step = d->T - 1; step >= 0; step--) {
        int t = ck_rnn_time(r, step, d->T);
        ck_rnn_add_output_grad_rows(r, d, j->dy, step, b0, b1);
        p.step = step;
        cells_backward_range(&p, b0, b1, tmp);
        if (step == 0)
            break;
        ck_gemm_packed(b1 - b0, s->dz.data + ((size_t)b0 * d->T + t) * (size_t)G, d->T * G, j->RT,
                       0.0f, r->dh.data + (size_t)b0 * d->U, d->U);
    }
}

static ck_status lstm_backward(ck_layer *l, const ck_tensor *x, const ck_tensor *y,
                               const ck_tensor *dy, ck_tensor *dx)
{
    (void)y;
    lstm *s = (lstm *)l;
    ck_rnn *r = &s->rnn;
    ck_rnn_dims d;
    CK_TRY(ck_rnn_dims_get(r, x, &d));
    int U = d.U, G = 4 * U;
    size_t BT = (size_t)d.B * (size_t)d.T, BU = (size_t)d.B * (size_t)U;
    CK_TRY(ck_buf_reserve(&s->dz, BT * (size_t)G));
    CK_TRY(ck_buf_reserve(&s->dc, BU));
    CK_TRY(ck_buf_reserve(&s->tmp, CELL_CHUNKS * ((size_t)G + (size_t)U)));
    CK_TRY(ck_rnn_backward_begin(r, &d));
    ck_packed *RT = NULL;
    if (d.T > 1)
        CK_TRY(ck_rnn_pack_recurrent(r, 0, 0, G, true, &RT));
    memset(s->dc.data, 0, BU * sizeof(float));
    if (splits_samples(r, &d, true, false, false)) {
        if (RT)
            ck_rnn_prepare_groups(RT, &d, d.T * G, 0.0f, U);
        back_job job = {s, &d, dy, RT};
        ck_pool_run(CK_RNN_GROUPS, backward_group, &job);
    } else {
        backward_steps(s, &d, dy, RT);
    }
    ck_gemm_op dU = ck_gemm_op_tn(U, G, (int)BT, ck_rnn_hprev_fed(r), U, s->dz.data, G, 1.0f,
                                  l->weights[1].grad, G);
    ck_rnn_input_backward(r, &d, G, x->data, s->dz.data, &l->weights[0],
                          r->o.use_bias ? l->weights[2].grad : NULL, dx ? dx->data : NULL, &dU, 1);
    return CK_OK;
}

static ck_status lstm_get_config(const ck_layer *l, cJSON *cfg)
{
    CK_TRY(ck_rnn_config_put((const ck_rnn *)l, cfg, true));
    return ck_config_add_number(cfg, "implementation", 2);
}

static ck_layer *lstm_from_config(const cJSON *cfg, ck_keras_semantics semantics)
{
    (void)semantics;
    static const char *const known[] = {"recurrent_activation", "unit_forget_bias", NULL};
    ck_rnn_raw_opts o = {0};
    if (ck_rnn_config_get(cfg, "LSTM", known, &o) != CK_OK)
        return NULL;
    return lstm_create(&o);
}

static void lstm_destroy(ck_layer *l)
{
    lstm *s = (lstm *)l;
    ck_rnn_release(&s->rnn);
    ck_packed_free(&s->joint);
    ck_buf *bufs[] = {&s->z,  &s->zr, &s->gates, &s->cells, &s->act_c, &s->cstart,
                      &s->dz, &s->dc, &s->tmp,   &s->wu,    &s->xh};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        ck_buf_free(bufs[i]);
    free(s);
}

const ck_layer_ops ck_lstm_layer_ops = {
    .class_name = "LSTM",
    .base_name = "lstm",
    .output_shape = ck_rnn_output_shape,
    .build = lstm_build,
    .after_init = lstm_after_init,
    .forward = lstm_forward,
    .backward = lstm_backward,
    .compute_mask = ck_rnn_compute_mask,
    .get_config = lstm_get_config,
    .from_config = lstm_from_config,
    .reset_state = ck_rnn_reset_state,
    .has_state = ck_rnn_has_state,
    .stateful = ck_rnn_stateful,
    .destroy = lstm_destroy,
};
