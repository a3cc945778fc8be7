/* ckeras training API: compile, fit, evaluate, train_on_batch.
 * Included by ckeras.h; see docs/api.md for the Keras equivalents. */
#ifndef CKERAS_TRAIN_H
#define CKERAS_TRAIN_H

#ifdef __cplusplus
extern "C" {
#endif

/* Bits of ck_optimizer_options.explicit_fields. */
enum {
    CK_OPT_LEARNING_RATE = 1u << 0,
    CK_OPT_BETA_1 = 1u << 1,
    CK_OPT_BETA_2 = 1u << 2,
    CK_OPT_EPSILON = 1u << 3,
    CK_OPT_RHO = 1u << 4,
    CK_OPT_INITIAL_ACCUMULATOR_VALUE = 1u << 5
};

/* keras.optimizers.*: zero fields mean the optimizer's Keras default. So
 * learning_rate, beta_1, beta_2, rho and initial_accumulator_value cannot
 * be exactly 0 from a designated initializer alone: set the field's
 * CK_OPT_* bit in explicit_fields to have 0 taken as given (the Keras
 * config reader does this for every key present in a saved config).
 * epsilon = 0 is refused (it divides 0 by 0 for an untouched weight). */
typedef struct ck_optimizer_options {
    int ck_opts_;          /* internal: lets the constructor macros start with a designator */
    const char *name;      /* "sgd", "adam", "rmsprop", "adagrad" (Keras names, any case) */
    double learning_rate;  /* 0: 0.01 for SGD, 0.001 otherwise */
    double momentum;       /* sgd, rmsprop */
    bool nesterov;         /* sgd */
    double beta_1, beta_2; /* adam: 0.9, 0.999 */
    double epsilon;        /* 1e-7 */
    bool amsgrad;          /* adam */
    double rho;            /* rmsprop: 0.9 */
    bool centered;         /* rmsprop */
    double initial_accumulator_value;            /* adagrad: 0.1 */
    double clipnorm, clipvalue, global_clipnorm; /* 0: off */
    unsigned explicit_fields; /* CK_OPT_* bits: these fields are used as given, even 0 */
} ck_optimizer_options;

/* Optimizer values, Keras style: .optimizer = ck_adam(.learning_rate = 1e-4) */
#define ck_sgd(...) ((ck_optimizer_options){.ck_opts_ = 0, .name = "sgd", __VA_ARGS__})
#define ck_adam(...) ((ck_optimizer_options){.ck_opts_ = 0, .name = "adam", __VA_ARGS__})
#define ck_rmsprop(...) ((ck_optimizer_options){.ck_opts_ = 0, .name = "rmsprop", __VA_ARGS__})
#define ck_adagrad(...) ((ck_optimizer_options){.ck_opts_ = 0, .name = "adagrad", __VA_ARGS__})

typedef struct ck_compile_options {
    int ck_opts_; /* internal: lets the constructor macros start with a designator */
    ck_optimizer_options optimizer; /* .optimizer = ck_adam() */
    const char *loss;               /* "categorical_crossentropy", "mse", ... */
    bool from_logits;
    double huber_delta;     /* loss "huber": 0 means Keras's 1.0 */
    const char *metrics[8]; /* e.g. {"accuracy"}; NULL-terminated */
} ck_compile_options;
CK_API ck_status ck_model_compile_with(ck_model *model, const ck_compile_options *opts);
/* ck_model_compile(m, .optimizer = ck_adam(), .loss = "categorical_crossentropy",
 *                  .metrics = {"accuracy"}) */
#define ck_model_compile(model, ...) \
    ck_model_compile_with((model), &(ck_compile_options){.ck_opts_ = 0, __VA_ARGS__})
CK_API bool ck_model_is_compiled(const ck_model *model);
/* The compile options in effect: the loss by its Keras function name, the
 * optimizer by its Keras class name with every default filled in. The
 * strings belong to the model until it is compiled again or freed.
 * CK_ERR_STATE when the model is not compiled. */
CK_API ck_status ck_model_get_compile_options(const ck_model *model, ck_compile_options *opts);
/* The compiled metrics, in the order of ck_model_evaluate's values, by the
 * names given to compile; NULL for an index out of range. */
CK_API int ck_model_metric_count(const ck_model *model);
CK_API const char *ck_model_metric_name(const ck_model *model, int index);

/* Per-epoch results handed to callbacks. NAN where not computed. */
typedef struct ck_epoch_logs {
    int epoch; /* 0-based */
    double loss, val_loss;
    int n_metrics;
    const char *metric_names[8];
    double metrics[8], val_metrics[8];
} ck_epoch_logs;
/* Return true to stop training (Keras model.stop_training = True). */
typedef bool (*ck_epoch_callback)(ck_model *model, const ck_epoch_logs *logs, void *user_data);

typedef struct ck_early_stopping {
    const char *monitor; /* NULL: off; "val_loss", "loss", "val_accuracy", ... */
    int patience;
    double min_delta;
    bool restore_best_weights;
} ck_early_stopping;

typedef struct ck_fit_options {
    int ck_opts_;            /* internal: lets the constructor macros start with a designator */
    int epochs;              /* 0: 1 */
    int batch_size;          /* 0: 32 */
    double validation_split; /* last fraction of x/y, as in Keras */
    const ck_tensor *validation_x, *validation_y;
    bool no_shuffle; /* Keras shuffle=False */
    int verbose;     /* 0 silent (default), 1 progress bar, 2 one line per epoch */
    FILE *log;       /* where verbose output goes; NULL: stdout */
    ck_epoch_callback on_epoch_end;
    void *user_data;
    ck_early_stopping early_stopping;
    const char *checkpoint_path; /* ModelCheckpoint: whole-model .h5 after each epoch */
    bool checkpoint_best_only;   /* with early_stopping.monitor or "val_loss" */
} ck_fit_options;

typedef struct ck_history ck_history;
/* x: (N, ...) inputs; y: (N, ...) targets (class ids (N,) or (N,1) for sparse losses). */
CK_API ck_status ck_model_fit_with(ck_model *model, const ck_tensor *x, const ck_tensor *y,
                                   const ck_fit_options *opts, ck_history **history);
#define ck_model_fit(model, x, y, history, ...) \
    ck_model_fit_with((model), (x), (y), &(ck_fit_options){.ck_opts_ = 0, __VA_ARGS__}, (history))

CK_API int ck_history_epochs(const ck_history *history);
/* key: "loss", "val_loss", a metric name or "val_" + metric name. */
CK_API ck_status ck_history_get(const ck_history *history, const char *key, int epoch,
                                double *value);
/* The keys of the history in order ("loss", metrics, "val_loss", ...),
 * as Keras's history.history.keys(); NULL for an index out of range. */
CK_API int ck_history_key_count(const ck_history *history);
CK_API const char *ck_history_key(const ck_history *history, int index);
CK_API void ck_history_free(ck_history *history);

/* loss and one value per compiled metric (metrics may be NULL). */
CK_API ck_status ck_model_evaluate(ck_model *model, const ck_tensor *x, const ck_tensor *y,
                                   int batch_size, double *loss, double *metrics);
/* One optimizer step on one batch; *loss (may be NULL) is the batch loss before the step. */
CK_API ck_status ck_model_train_on_batch(ck_model *model, const ck_tensor *x, const ck_tensor *y,
                                         double *loss);

#ifdef __cplusplus
}
#endif
#endif /* CKERAS_TRAIN_H */
