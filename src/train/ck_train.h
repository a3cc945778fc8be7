/* Internal training interfaces (src/train): losses, metrics, the state
 * compile gives a model, and its Keras training_config. Nothing here is
 * public API. */
#ifndef CK_TRAIN_H
#define CK_TRAIN_H

#include "ck_internal.h"
#include "ck_optim.h"

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
    /* The user said from_logits=True of a softmax/sigmoid output, and the
     * loss uses that output's logits instead, as TensorFlow does. */
    bool logits_taken;
    double weight; /* Keras loss_weights: scales the loss and its gradient */
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
/* The same with Keras sample weights, one per row (NULL: all 1): each
 * row's loss and gradient are scaled by its weight, the divisor stays the
 * row count (sum_over_batch_size). */
double ck_loss_compute_weighted(const ck_loss *loss, const float *out, const float *y, size_t rows,
                                size_t width, const float *mask, const float *weights, float *grad);

/* ---------------- metrics (metrics.c) ---------------- */
typedef enum ck_metric_kind {
    CK_METRIC_CATEGORICAL_ACCURACY,
    CK_METRIC_SPARSE_CATEGORICAL_ACCURACY,
    CK_METRIC_BINARY_ACCURACY,
    CK_METRIC_MSE,
    CK_METRIC_MAE,
    CK_METRIC_TOP_K,        /* top_k_categorical_accuracy, k = 5 */
    CK_METRIC_SPARSE_TOP_K, /* sparse_top_k_categorical_accuracy, k = 5 */
    CK_METRIC_PRECISION,    /* the metrics from here on keep counts over the epoch */
    CK_METRIC_RECALL,
    CK_METRIC_AUC,
    CK_METRIC_F1_MACRO,
    CK_METRIC_F1_MICRO,
    CK_METRIC_F1_WEIGHTED,
    CK_METRIC_ACCURACY /* "accuracy": resolved by ck_metric_resolve once shapes are known */
} ck_metric_kind;

typedef enum ck_auc_curve { CK_AUC_ROC, CK_AUC_PR } ck_auc_curve;
typedef enum ck_auc_summation {
    CK_AUC_INTERPOLATION,
    CK_AUC_MINORING,
    CK_AUC_MAJORING
} ck_auc_summation;

/* The options of a Keras metric object that ckeras honours. All zero is
 * Keras's defaults, which a metric named by a string has. */
typedef struct ck_metric_params {
    int k;              /* top-k accuracies: 0 means Keras's 5 */
    bool has_threshold; /* else 0.5, and for F1Score the row's maximum */
    double threshold;   /* BinaryAccuracy, Precision, Recall, F1Score; used as float32 */
    int num_thresholds; /* AUC: 0 means Keras's 200 */
    ck_auc_curve curve;
    ck_auc_summation summation;
    bool from_object; /* compiled from a Keras metric object, and saved as one */
} ck_metric_params;

/* Resolves a metric name ("accuracy"/"acc" to CK_METRIC_ACCURACY); a named
 * metric must take targets laid out as the loss takes them. */
ck_status ck_metric_parse(const char *name, const ck_loss *loss, ck_metric_kind *out);
/* The metric used for `kind` with targets of rank y_rank and last dim
 * y_last, and outputs of rank out_rank (batch axis included) and last dim
 * width: CK_METRIC_ACCURACY becomes binary, sparse categorical or
 * categorical accuracy by these shapes, as tf.keras from TF 2.2
 * ("2.3.0-tf") and Keras 3 decide; other kinds are returned unchanged. */
ck_status ck_metric_resolve(ck_metric_kind kind, const ck_loss *loss, int y_rank, int64_t y_last,
                            int out_rank, size_t width, ck_metric_kind *out);
/* The same as Keras 2.0-2.3 and tf.keras "2.2.4-tf" and older decide, by
 * the loss and the output width alone. */
ck_metric_kind ck_metric_resolve_from_loss(ck_metric_kind kind, const ck_loss *loss, size_t width);
/* Number of rows a mask keeps (all when mask is NULL). */
size_t ck_mask_kept(const float *mask, size_t rows);

/* Keras 3 metric direction: accuracies go up, errors down. */
bool ck_metric_higher_is_better(ck_metric_kind kind);
/* Sum of the per-row values of a mean metric (accuracies, errors, top-k),
 * each times its row's weight (NULL: all 1). The weight is the output mask
 * (0 or 1), times the sample weight for a weighted metric; the caller
 * divides by the sum of the weights, as Keras's Mean does. */
double ck_metric_sum(ck_metric_kind kind, const ck_metric_params *p, const float *out,
                     const float *y, size_t rows, size_t width, const float *weights);

/* A metric's running state over an epoch (Keras's metric variables):
 * doubles, zeroed at the start, updated batch by batch with one weight
 * per row as for ck_metric_sum. */
size_t ck_metric_state_size(ck_metric_kind kind, const ck_metric_params *p, size_t width);
void ck_metric_update(ck_metric_kind kind, const ck_metric_params *p, double *state,
                      const float *out, const float *y, size_t rows, size_t width,
                      const float *weights);
/* ck_metric_update of a mean metric (not a counting one) whose batch
 * counts `count` towards the epoch's mean, whatever its weights sum to. */
void ck_metric_update_mean(ck_metric_kind kind, const ck_metric_params *p, double *state,
                           const float *out, const float *y, size_t rows, size_t width,
                           const float *weights, double count);
/* Keras's result(); 0 where it divides by nothing (divide_no_nan). */
double ck_metric_result(ck_metric_kind kind, const ck_metric_params *p, const double *state,
                        size_t width);

/* ---------------- metric objects (metric_objects.c) ---------------- */
/* One entry of a saved metrics list: a name, or a Keras metric object
 * read by its class and options. */
typedef struct ck_metric_spec {
    const char *name;         /* as Keras logs it: the string, or the object's config name */
    const char *compile_name; /* the name compile resolves (kind and layout checks) */
    ck_metric_kind kind;      /* an object's: what its class computes */
    ck_metric_params params;  /* an object's options (params.from_object) */
} ck_metric_spec;

/* Reads a string or a {"class_name", "config"} object. A class ckeras does
 * not have, or an option with a value it does not honour, is
 * CK_ERR_UNSUPPORTED naming the class and the option. The strings stay
 * in `item`. */
ck_status ck_metric_spec_from_json(const cJSON *item, ck_metric_spec *spec);
/* The Keras object of a metric (Keras 3 form when keras3) with the
 * options ckeras honours; NULL when out of memory. */
cJSON *ck_metric_object_to_json(ck_metric_kind kind, const ck_metric_params *p, const char *name,
                                bool keras3);

/* ---------------- counting metrics (counting_metrics.c) ---------------- */
/* Precision, Recall, AUC and F1Score: confusion counts kept over the
 * epoch, with ck_metric_state_size's contract. */
bool ck_counting_metric(ck_metric_kind kind);
size_t ck_counting_state_size(ck_metric_kind kind, const ck_metric_params *p, size_t width);
void ck_counting_update(ck_metric_kind kind, const ck_metric_params *p, double *state,
                        const float *out, const float *y, size_t rows, size_t width,
                        const float *weights);
double ck_counting_result(ck_metric_kind kind, const ck_metric_params *p, const double *state,
                          size_t width);

/* ---------------- training state (compile.c) ---------------- */
/* At most this many metrics per model (ck_compile_options.metrics and
 * weighted_metrics together). */
#define CK_MAX_METRICS 8

/* What compile gives a model: the loss, optimizer and metrics, and the
 * buffers a step reuses. The model keeps it as m->train and frees it
 * through the hooks compile handed over with it. */
typedef struct ck_train_state {
    ck_loss loss;
    ck_optimizer opt;
    int n_metrics;                      /* the metrics, then the weighted metrics */
    char *metric_names[CK_MAX_METRICS]; /* as logged, e.g. "weighted_accuracy" */
    char *given_names[CK_MAX_METRICS];  /* as given to compile, e.g. "accuracy" */
    bool weighted[CK_MAX_METRICS];      /* a weighted metric (Keras weighted_metrics) */
    ck_metric_kind metrics[CK_MAX_METRICS];
    bool accuracy_from_loss; /* ck_metric_resolve_from_loss decides "accuracy" */
    /* Standalone Keras 2.0-2.2.5's weighted_masked_objective: mean metrics
     * are kept-step means per batch, averaged by batch size, and sample
     * weights are divided by the share of them that is not 0. */
    bool keras_2_2_objective;
    ck_metric_params metric_params[CK_MAX_METRICS]; /* zero (Keras's defaults) from compile */
    ck_buf xb, yb, dout;                            /* gathered batch and d(loss)/d(output) */
    ck_buf frozen;           /* non-trainable weights before a training step */
    ck_buf swb, rowb;        /* gathered sample weights, and the same per output row */
    ck_buf metric_w;         /* per output row: mask times sample weight */
    ck_buf batch_mask;       /* per output row: mask and metric_w scaled for keras_2_2_objective */
    struct ck_fit_info *fit; /* the fit in progress (ck_model_stop_training), or NULL */
    struct ck_dist *dist;    /* the data-parallel fit in progress (ck_dist.h), or NULL */
    char *slot_names;        /* optimizer slot names for files (src/io), built on demand */
} ck_train_state;

/* The model's training state; NULL when it is not compiled. */
ck_train_state *ck_train_state_of(const ck_model *m);
/* Names metric k, whose weighted flag is set, as Keras 3's
 * CompileMetrics.result does for one given as `given`: weighted_ before a
 * weighted metric whose name is taken, _1, _2, ... after a repeated name.
 * keys holds the first k metrics' base names and receives k's. */
ck_status ck_metric_name(ck_train_state *s, const ck_model *m, int k, const char *given,
                         char keys[][CK_NAME_MAX]);
/* The same, or CK_ERR_STATE naming the calling function `fn` when the
 * model is not compiled. */
ck_status ck_train_compiled(ck_model *m, const char *fn, ck_train_state **s);

/* ---------------- training_config (training_config.c) ---------------- */
/* Keras training_config JSON ({"loss", "metrics", "optimizer_config", ...})
 * or NULL when the model is not compiled. */
cJSON *ck_train_config_to_json(const ck_model *m);
/* Compiles the model from a Keras training_config object. */
ck_status ck_train_config_from_json(ck_model *m, const cJSON *training_config);

#endif /* CK_TRAIN_H */
