/* Shared machinery of the recurrent layers (LSTM, GRU, SimpleRNN): options
 * common to every Keras RNN, the carried state (h, plus c for LSTM), dropout
 * masks, timestep order, masking, the batched input projection and its
 * gradients, the config fields all of them share and the state accessors.
 * Each layer keeps only its cell math.
 *
 * Caches are indexed by real timestep t (not processing step), so the
 * batched GEMMs over (B*T) rows see one consistent layout whatever
 * go_backwards is. */
#ifndef CK_RNN_H
#define CK_RNN_H

#include "ck_blas.h"
#include "ck_internal.h"

#include <stddef.h>
#include <string.h>

/* The options every Keras RNN layer has, already defaulted and checked. */
typedef struct ck_rnn_opts {
    int units;
    ck_act act, ract; /* ract unused by SimpleRNN */
    bool use_bias, return_sequences, return_state, go_backwards, stateful;
    bool zero_output_for_mask;
    bool unit_forget_bias; /* LSTM only */
    double dropout, recurrent_dropout;
    ck_init kernel_init, recurrent_init, bias_init;
} ck_rnn_opts;

/* The CK_RNN_OPTIONS of every recurrent layer's options struct (ckeras.h),
 * before defaults. */
typedef struct ck_rnn_common_options {
    CK_RNN_OPTIONS
} ck_rnn_common_options;

/* What a constructor or a config gives, before defaults. */
typedef struct ck_rnn_raw_opts {
    ck_rnn_common_options c;
    const char *recurrent_activation; /* LSTM, GRU */
    bool no_unit_forget_bias;         /* LSTM only */
} ck_rnn_raw_opts;

/* Copies the CK_RNN_OPTIONS fields at the start of *opts (of `type`, one of
 * the public options structs) into *common. */
#define CK_RNN_TAKE_OPTIONS(type, opts, common)                                       \
    do {                                                                              \
        _Static_assert(offsetof(type, name) == offsetof(ck_rnn_common_options, name), \
                       #type " must start with CK_RNN_OPTIONS");                      \
        memcpy((common), (opts), sizeof(ck_rnn_common_options));                      \
    } while (0)

/* Common head of the recurrent layers (first member of each). */
typedef struct ck_rnn {
    ck_layer base;
    ck_rnn_opts o;
    int gate_blocks;     /* the cell's pre-activation width is gate_blocks * u */
    bool has_cell;       /* LSTM: a second state c next to h */
    ck_buf h, c;         /* (B,u) running state */
    ck_buf h0, c0;       /* (B,u) initial or carried state */
    int64_t state_batch; /* batch of h0/c0; 0 = zeros */
    int64_t last_batch;  /* batch of the last complete forward; 0 = none */
    ck_buf xmask, hmask; /* dropout masks (B,F) and (B,u), scaled */
    ck_buf xdrop;        /* (B,T,F) x * xmask */
    ck_buf hraw;         /* (B,T,u) h_{t-1} per real timestep (training) */
    ck_buf hmasked;      /* (B,T,u) h_{t-1} * hmask, only with recurrent dropout */
    ck_buf dh;           /* (B,u) gradient flowing into h during BPTT */
    ck_buf keep;         /* (B,u) with a mask: h_{t-1} (forward) or dh (backward) to carry */
    /* Packed copies of the kernel (input projection) and of the recurrent
     * kernel's blocks, as the forward (rec) and the backward (rec_t,
     * transposed) products use them. */
    ck_packed kernel, rec[2], rec_t[2];
} ck_rnn;

/* Dimensions of one call, read from the input tensor. */
typedef struct ck_rnn_dims {
    int B, T, F, U;
} ck_rnn_dims;

/* Validates the raw options, fills the defaults (tanh, sigmoid,
 * glorot_uniform, orthogonal, zeros, unit_forget_bias) and allocates a layer
 * struct of `size` bytes whose first member is a ck_rnn; NULL (nothing
 * leaked) on error. */
ck_rnn *ck_rnn_create(size_t size, const ck_layer_ops *ops, const ck_rnn_raw_opts *raw,
                      int gate_blocks, bool has_cell);
void ck_rnn_release(ck_rnn *r);

ck_status ck_rnn_output_shape(const ck_layer *l, const ck_shape *in, ck_shape *out);
/* Declares kernel (F,G), recurrent_kernel (u,G) and, with bias, a bias of
 * bias_rank/bias_dims; every weight gets the given Keras 2 / Keras 3 scopes. */
ck_status ck_rnn_build_weights(ck_rnn *r, int G, int bias_rank, const int64_t *bias_dims,
                               const char *k2_scope, const char *k3_scope);

/* Reads the dimensions, failing when a BLAS argument (rows B*T, a strided
 * row length T*G, or the extent of x or of the (B*T, G) pre-activations)
 * would not fit in an int. */
ck_status ck_rnn_dims_get(const ck_rnn *r, const ck_tensor *x, ck_rnn_dims *d);
/* Real timestep processed at `step`. */
static inline int ck_rnn_time(const ck_rnn *r, int step, int T)
{
    return r->o.go_backwards ? T - 1 - step : step;
}

/* Starts a forward: reserves the shared buffers, sets h (and c) to the
 * initial state, draws the dropout masks and returns the (masked) input. */
ck_status ck_rnn_begin(ck_rnn *r, const ck_rnn_dims *d, const ck_tensor *x, const ck_run_ctx *ctx,
                       const float **xin);
/* out (B*T, G) = xin W + bias_row (bias_row may be NULL), with W the
 * layer's kernel. */
ck_status ck_rnn_project(ck_rnn *r, const ck_rnn_dims *d, int G, bool training, const float *xin,
                         const float *bias_row, float *out);
/* Whether inference should project the input one step at a time
 * (ck_rnn_project_step) rather than all steps before the loop: when the
 * (B*T, G) projection would not stay in cache, writing it to memory and
 * reading it back step by step cost more than projecting per step, and it
 * is memory inference does not otherwise need (docs/performance.md, W3). */
bool ck_rnn_project_per_step(const ck_rnn_dims *d, int G, bool training);
/* Whether the (B*T, G) projection of all steps would not stay in cache:
 * the size above which inference projects per step. */
bool ck_rnn_projection_spills(const ck_rnn_dims *d, int G);
/* out (B, G, row stride G) = the rows of xin at timestep t times W. */
ck_status ck_rnn_project_step(ck_rnn *r, const ck_rnn_dims *d, int G, const float *xin, int t,
                              float *out);
/* Columns [col, col + n) of the recurrent kernel (u, G), packed in
 * r->rec[slot] for the forward products h . U[:, cols] or, transposed, in
 * r->rec_t[slot] for the backward products dz . U[:, cols]^T. */
ck_status ck_rnn_pack_recurrent(ck_rnn *r, int slot, int col, int n, bool transposed,
                                ck_packed **out);
/* A batch goes through the steps in CK_RNN_GROUPS groups of samples, each
 * one pool task, forwards and backwards: samples never meet within the
 * steps, so the groups need not wait for each other, where a step split
 * over threads waits twice a step for the slower one (and W1's 3 us step
 * products are too short to split at all). A fixed count and fixed cuts,
 * so no result depends on the thread count; at least CK_RNN_GROUP_ROWS
 * samples a group, so that a group's products keep whole register blocks
 * busy. Not with a mask or, in training, recurrent dropout: both share
 * per-step buffers across samples. */
#define CK_RNN_GROUPS 2
#define CK_RNN_GROUP_ROWS 8
bool ck_rnn_splits_samples(const ck_rnn *r, const ck_rnn_dims *d, bool training);
/* The first sample of group g (g = CK_RNN_GROUPS: the batch size). */
static inline int ck_rnn_group_start(const ck_rnn_dims *d, int g)
{
    return g * d->B / CK_RNN_GROUPS;
}
/* Makes the kernels of every group's product on P before the groups run
 * (ck_gemm_packed_prepare). */
void ck_rnn_prepare_groups(ck_packed *P, const ck_rnn_dims *d, int lda, float beta, int ldc);
/* Copies h of samples [b0, b1) into their rows of y for processing step
 * `step`, when the layer returns sequences (the unmasked ck_rnn_emit). */
void ck_rnn_emit_rows(const ck_rnn *r, const ck_rnn_dims *d, int step, float *y, int b0, int b1);

/* Records the rows of h (row stride ldh) as h_{t-1} of timestep t, for
 * the backward pass: those of samples [b0, b1), h pointing at b0's. */
void ck_rnn_record_hprev(ck_rnn *r, const ck_rnn_dims *d, int t, const float *h, int ldh, int b0,
                         int b1);
/* Records h_{t-1} for step t (training) and returns the matrix that feeds
 * the recurrent kernel at this step, with its row stride in *ld. */
const float *ck_rnn_step_input(ck_rnn *r, const ck_rnn_dims *d, int t, bool training, int *ld);
/* Ends a step: carries h over the masked samples, and writes row `step`
 * of y when returning sequences. */
void ck_rnn_emit(ck_rnn *r, const ck_rnn_dims *d, int step, float *y);
/* Writes the final output (last h), carries the state when stateful and
 * records the batch for the state accessors. */
ck_status ck_rnn_finish(ck_rnn *r, const ck_rnn_dims *d, float *y);

/* Training caches for the backward pass, row (b, t) of a (B,T,u) array. */
const float *ck_rnn_hprev_raw(const ck_rnn *r, const ck_rnn_dims *d, int b, int t);
/* The (B*T, u) matrix that multiplied the recurrent kernel. */
const float *ck_rnn_hprev_fed(const ck_rnn *r);

/* Starts BPTT: zeroes dh. */
ck_status ck_rnn_backward_begin(ck_rnn *r, const ck_rnn_dims *d);
/* Adds the output gradient of processing step `step` into r->dh and, with
 * a mask, saves dh for the samples the step skips. */
void ck_rnn_add_output_grad(ck_rnn *r, const ck_rnn_dims *d, const ck_tensor *dy, int step);
/* The same for samples [b0, b1) of an unmasked layer. */
void ck_rnn_add_output_grad_rows(ck_rnn *r, const ck_rnn_dims *d, const ck_tensor *dy, int step,
                                 int b0, int b1);
/* With a mask: zeroes the rows (b, t) of a (B,T,G) gradient for the samples
 * skipped at t (they computed no gates). */
void ck_rnn_mask_rows(const ck_rnn *r, const ck_rnn_dims *d, int t, float *rows, int G);
/* With a mask: gives the samples skipped at t back the dh saved by
 * ck_rnn_add_output_grad (their state was carried over unchanged). */
void ck_rnn_mask_carry_grad(ck_rnn *r, const ck_rnn_dims *d, int t);
/* Applies the recurrent dropout mask to a gradient w.r.t. the masked h_{t-1}. */
void ck_rnn_mask_hgrad(const ck_rnn *r, const ck_rnn_dims *d, float *g);
/* Input side of the backward: dW += xin^T dpre, dbias += column sums of
 * dpre (dbias may be NULL), dx = dpre W^T (times the input dropout mask).
 * The n_rec <= 2 products `rec` (the recurrent kernel's gradient) run
 * side by side with the first and last (ck_gemm_group). */
void ck_rnn_input_backward(const ck_rnn *r, const ck_rnn_dims *d, int G, const float *x,
                           const float *dpre, const ck_weight *W, float *dbias, float *dx,
                           const ck_gemm_op *rec, int n_rec);
/* dst[j] += column sums of the (rows, G) matrix src. */
void ck_rnn_sum_rows(const float *src, size_t rows, int G, float *dst);

/* Config fields every RNN writes (recurrent_activation only when the cell
 * has one, unit_forget_bias only for LSTM), and the reverse. */
ck_status ck_rnn_config_put(const ck_rnn *r, cJSON *cfg, bool with_ract);
/* Reads the shared fields; `known` lists the keys of the layer beyond
 * those every Keras RNN has (NULL-terminated). */
ck_status ck_rnn_config_get(const cJSON *cfg, const char *class_name, const char *const *known,
                            ck_rnn_raw_opts *o);

void ck_rnn_reset_state(ck_layer *l);
/* Stateful, an initial state, or return_state (whose state must cover the
 * whole batch, so predict must not split it). */
bool ck_rnn_has_state(const ck_layer *l);
bool ck_rnn_stateful(const ck_layer *l);

/* ---- Keras masking, shared with LSTM ----
 * The mask (l->mask) is (B,T) in real time order. A masked step leaves the
 * state unchanged; its output repeats the previous step's output (zeros
 * before the first kept step, as Keras's TensorFlow backend starts from a
 * zero output), or is zero with zero_output_for_mask. */
static inline bool ck_rnn_kept(const float *mask, int T, int b, int t)
{
    return !mask || mask[(size_t)b * (size_t)T + (size_t)t] != 0.0f;
}
/* compute_mask of every recurrent layer: the input mask goes on (in real
 * time order, even with go_backwards) only with return_sequences. */
ck_status ck_rnn_compute_mask(ck_layer *l, const ck_tensor *x, const float *in_mask, ck_buf *buf,
                              const float **out);
/* Row (b, step) of a (B,T,U) return_sequences output at a masked step. */
void ck_rnn_masked_output(float *y, int T, int U, int b, int step, bool zero_output);
/* Zeroes the rows of a last-step output (B,U), already holding h, whose
 * Keras output is zero: no kept step at all, or with zero_output_for_mask
 * a masked last step (t_last is the real timestep processed last). */
void ck_rnn_masked_last(float *y, const float *mask, int B, int T, int U, int t_last,
                        bool zero_output);
/* Whether the output at real timestep t depends on the state (it does not
 * when zero_output_for_mask zeroes it). */
static inline bool ck_rnn_output_live(const float *mask, int T, int b, int t, bool zero_output)
{
    return !zero_output || ck_rnn_kept(mask, T, b, t);
}

#endif
