/* Internal training interfaces: losses, metrics and optimizers.
 * train.c drives them; nothing here is public API. */
#ifndef CK_TRAIN_H
#define CK_TRAIN_H

#include "ck_internal.h"

/* ---------------- losses (losses.c) ---------------- */
typedef enum ck_loss_kind {
    CK_LOSS_CATEGORICAL_CE,
    CK_LOSS_SPARSE_CATEGORICAL_CE,
    CK_LOSS_BINARY_CE,
    CK_LOSS_MSE,
    CK_LOSS_MAE,
    CK_LOSS_HUBER
} ck_loss_kind;

typedef struct ck_loss {
    ck_loss_kind kind;
    bool from_logits;
    double delta; /* huber: where the quadratic part ends (Keras default 1) */
    /* How a masked loss is reduced: false (tf.keras 2) divides the sum over
     * kept rows by all rows, true (Keras 3) by the kept rows only. */
    bool mask_mean_over_kept;
    /* tf.keras 2 binary cross-entropy on probabilities adds epsilon inside
     * both logs after the clip; Keras 3 does not. */
    bool bce_log_epsilon;
    /* The output is softmax/sigmoid and the loss is the matching cross-entropy:
     * the gradient is taken w.r.t. the logits, (p - y) / rows. */
    bool fused;
} ck_loss;

/* Keras names and aliases ("mse", "categorical_crossentropy", ...); delta 1. */
ck_status ck_loss_parse(const char *name, bool from_logits, ck_loss *out);
/* The Keras function name ("mean_squared_error") and class name ("MeanSquaredError"). */
const char *ck_loss_name(const ck_loss *loss);
const char *ck_loss_class_name(const ck_loss *loss);
/* Whether this loss can be fused with an output activation `act`. */
bool ck_loss_fuses_with(const ck_loss *loss, ck_act act);
/* Sparse losses take one class id per row; the others one target per output. */
bool ck_loss_is_sparse(const ck_loss *loss);
/* Checks that every target is usable (finite; integer class ids in [0, width) for sparse). */
ck_status ck_loss_check_targets(const ck_loss *loss, const float *y, size_t n, size_t width);
/* Mean loss over `rows` rows of `width` outputs (Keras sum_over_batch_size);
 * grad, when not NULL, receives d(mean loss)/d(out), or d/d(logits) when fused. */
double ck_loss_compute(const ck_loss *loss, const float *out, const float *y, size_t rows,
                       size_t width, float *grad);
/* The same with a mask of the output (one value per row, 0 = masked, NULL =
 * none): masked rows count for nothing, and the sum over the kept rows is
 * divided as loss->mask_mean_over_kept says. */
double ck_loss_compute_masked(const ck_loss *loss, const float *out, const float *y, size_t rows,
                              size_t width, const float *mask, float *grad);

/* ---------------- metrics (metrics.c) ---------------- */
typedef enum ck_metric_kind {
    CK_METRIC_CATEGORICAL_ACCURACY,
    CK_METRIC_SPARSE_CATEGORICAL_ACCURACY,
    CK_METRIC_BINARY_ACCURACY,
    CK_METRIC_MSE,
    CK_METRIC_MAE,
    CK_METRIC_ACCURACY /* "accuracy": resolved by ck_metric_resolve once shapes are known */
} ck_metric_kind;

/* Resolves a metric name ("accuracy"/"acc" to CK_METRIC_ACCURACY); a named
 * metric must take targets laid out as the loss takes them. */
ck_status ck_metric_parse(const char *name, const ck_loss *loss, ck_metric_kind *out);
/* The metric used for `kind` with targets of rank y_rank and last dim
 * y_last, and outputs of rank out_rank (batch axis included) and last dim
 * width: CK_METRIC_ACCURACY becomes binary, sparse categorical or
 * categorical accuracy by these shapes, as tf.keras >= 2.3 and Keras 3
 * decide; other kinds are returned unchanged. */
ck_status ck_metric_resolve(ck_metric_kind kind, const ck_loss *loss, int y_rank, int64_t y_last,
                            int out_rank, size_t width, ck_metric_kind *out);
/* Number of rows a mask keeps (all when mask is NULL). */
size_t ck_mask_kept(const float *mask, size_t rows);

/* Sum over the kept rows (mask as for losses) of the per-row metric value;
 * the caller divides by the kept row count, as Keras weights metrics by the mask. */
double ck_metric_sum(ck_metric_kind kind, const float *out, const float *y, size_t rows,
                     size_t width, const float *mask);

/* ---------------- optimizers (src/optim) ---------------- */
#define CK_OPT_MAX_SLOTS 3

/* One optimizer algorithm: one file in src/optim each. */
typedef struct ck_optimizer_kind {
    const char *name;       /* lower-case Keras name: "adam" */
    const char *class_name; /* Keras class: "Adam" */
    /* Replaces zero fields not in o->explicit_fields with the Keras
     * defaults (ck_optimizer_default) and checks the ranges. */
    ck_status (*prepare)(ck_optimizer_options *o);
    /* Names of the per-weight state slots in Keras order ("m", "v"), and
     * each slot's initial value; returns how many. */
    int (*slots)(const ck_optimizer_options *o, const char **names, float *init);
    /* One update of n weights w with gradients g; slot[k] is the k-th state
     * array over the same n entries; t is the 1-based step number. */
    void (*update)(const ck_optimizer_options *o, double t, float *w, const float *g,
                   float *const *slot, size_t n);
    /* Adds the algorithm's own keys to a Keras optimizer config; false
     * when cJSON runs out of memory. */
    bool (*to_json)(const ck_optimizer_options *o, cJSON *config);
} ck_optimizer_kind;

extern const ck_optimizer_kind ck_optimizer_sgd, ck_optimizer_adam, ck_optimizer_rmsprop,
    ck_optimizer_adagrad;

typedef struct ck_optimizer {
    const ck_optimizer_kind *kind;
    ck_optimizer_options o; /* defaults filled in; o.name is the Keras class name */
    int n_slots;
    const char *slot_names[CK_OPT_MAX_SLOTS];
    float slot_init[CK_OPT_MAX_SLOTS];
    bool created;       /* state exists (after the first step or for a loader) */
    int64_t iterations; /* Keras "iter": steps taken */
    /* iterations as the float slot 0 that savers and loaders go through
     * (ck_optimizer_iter_slot); a loader's write is adopted at the next step. */
    float iter_slot;
    float *state;  /* n_slots arrays of n floats, parallel to the trainable weights */
    float *backup; /* n floats: the weights before the current step */
    size_t n;
    double *norms; /* clipnorm: one gradient norm per trainable weight */
    size_t n_norms;
} ck_optimizer;

/* Sets *field to def unless it is nonzero or `bit` is in o->explicit_fields. */
void ck_optimizer_default(const ck_optimizer_options *o, unsigned bit, double *field, double def);
/* The iteration count as a float slot for saving and loading. */
float *ck_optimizer_iter_slot(ck_optimizer *opt);

/* Finds the algorithm by Keras name (any case) and fills in its defaults. */
ck_status ck_optimizer_init(ck_optimizer *opt, const ck_optimizer_options *options);
/* Allocates the slot arrays for n weights (no-op when they exist). */
ck_status ck_optimizer_ensure_state(ck_optimizer *opt, size_t n);
/* Clips the model's trainable gradients as the options ask, then updates the weights. */
ck_status ck_optimizer_step(ck_optimizer *opt, ck_model *m);
/* Keras optimizer_config JSON: {"class_name": ..., "config": {...}}. */
cJSON *ck_optimizer_to_json(const ck_optimizer *opt);
/* Reads a Keras optimizer_config object into options. */
ck_status ck_optimizer_from_json(const cJSON *json, ck_optimizer_options *out);
void ck_optimizer_free(ck_optimizer *opt);

#endif /* CK_TRAIN_H */
