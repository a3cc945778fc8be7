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
    CK_OPT_INITIAL_ACCUMULATOR_VALUE = 1u << 5,
    CK_OPT_WEIGHT_DECAY = 1u << 6,
    CK_OPT_END_LEARNING_RATE = 1u << 7 /* in ck_lr_schedule.explicit_fields */
};

/* keras.optimizers.schedules.*: the learning rate as a function of the
 * optimizer's step count (iterations before the step, so the first step
 * uses step 0), computed as Keras computes it. class_name NULL: none. */
#define CK_MAX_BOUNDARIES 16
typedef struct ck_lr_schedule {
    int ck_opts_;           /* internal: lets the constructor macros start with a designator */
    const char *class_name; /* "ExponentialDecay", "InverseTimeDecay", "PolynomialDecay",
                                   "PiecewiseConstantDecay", "CosineDecay" */
    const char *name;       /* config "name"; NULL: Keras's default */
    double initial_learning_rate;
    double decay_steps;       /* > 0 */
    double decay_rate;        /* ExponentialDecay, InverseTimeDecay */
    bool staircase;           /* ExponentialDecay, InverseTimeDecay */
    double end_learning_rate; /* PolynomialDecay: 0 means 1e-4 unless CK_OPT_END_LEARNING_RATE */
    double power;             /* PolynomialDecay: 0 means 1 */
    bool cycle;               /* PolynomialDecay */
    double alpha;             /* CosineDecay: the floor, a fraction of the initial rate */
    double warmup_target;     /* CosineDecay: 0 means None (no warm-up) */
    double warmup_steps;      /* CosineDecay */
    int n_boundaries;         /* PiecewiseConstantDecay: boundaries[n], values[n + 1] */
    double boundaries[CK_MAX_BOUNDARIES];
    double values[CK_MAX_BOUNDARIES + 1];
    unsigned explicit_fields; /* CK_OPT_END_LEARNING_RATE: end_learning_rate 0 as given */
} ck_lr_schedule;
#define ck_exponential_decay(...) \
    CK_VALUE_(ck_lr_schedule, .ck_opts_ = 0, .class_name = "ExponentialDecay", __VA_ARGS__)
#define ck_inverse_time_decay(...) \
    CK_VALUE_(ck_lr_schedule, .ck_opts_ = 0, .class_name = "InverseTimeDecay", __VA_ARGS__)
#define ck_polynomial_decay(...) \
    CK_VALUE_(ck_lr_schedule, .ck_opts_ = 0, .class_name = "PolynomialDecay", __VA_ARGS__)
#define ck_piecewise_constant_decay(...) \
    CK_VALUE_(ck_lr_schedule, .ck_opts_ = 0, .class_name = "PiecewiseConstantDecay", __VA_ARGS__)
#define ck_cosine_decay(...) \
    CK_VALUE_(ck_lr_schedule, .ck_opts_ = 0, .class_name = "CosineDecay", __VA_ARGS__)
/* The schedule's learning rate at `step` (Keras schedule(step)); checks
 * the schedule first. Pure: may be called concurrently. */
CK_API ck_status ck_lr_schedule_value(const ck_lr_schedule *schedule, double step, double *lr);

/* keras.optimizers.*: zero fields mean the optimizer's Keras default. So
 * learning_rate, beta_1, beta_2, rho and initial_accumulator_value cannot
 * be exactly 0 from a designated initializer alone: set the field's
 * CK_OPT_* bit in explicit_fields to have 0 taken as given (the Keras
 * config reader does this for every key present in a saved config).
 * epsilon = 0 is refused (it divides 0 by 0 for an untouched weight). */
typedef struct ck_optimizer_options {
    int ck_opts_;         /* internal: lets the constructor macros start with a designator */
    const char *name;     /* "sgd", "adam", "rmsprop", "adagrad", "nadam", "adamax", "adamw"
                              (Keras names, any case) */
    double learning_rate; /* 0: 0.01 for SGD, 0.001 otherwise */
    ck_lr_schedule
        learning_rate_schedule;       /* Keras learning_rate=<schedule>: replaces learning_rate */
    double momentum;                  /* sgd, rmsprop */
    bool nesterov;                    /* sgd */
    double beta_1, beta_2;            /* adam, nadam, adamax, adamw: 0.9, 0.999 */
    double epsilon;                   /* 1e-7 */
    bool amsgrad;                     /* adam, adamw */
    double rho;                       /* rmsprop: 0.9 */
    bool centered;                    /* rmsprop */
    double initial_accumulator_value; /* adagrad: 0.1 */
    double clipnorm, clipvalue, global_clipnorm; /* 0: off */
    /* Keras 3 decoupled weight decay, w -= w * weight_decay * lr before
     * each step: 0 (off) for every optimizer but adamw (0.004). */
    double weight_decay;
    unsigned explicit_fields; /* CK_OPT_* bits: these fields are used as given, even 0 */
} ck_optimizer_options;

/* Optimizer values, Keras style: .optimizer = ck_adam(.learning_rate = 1e-4) */
#define ck_sgd(...) CK_VALUE_(ck_optimizer_options, .ck_opts_ = 0, .name = "sgd", __VA_ARGS__)
#define ck_adam(...) CK_VALUE_(ck_optimizer_options, .ck_opts_ = 0, .name = "adam", __VA_ARGS__)
#define ck_rmsprop(...) \
    CK_VALUE_(ck_optimizer_options, .ck_opts_ = 0, .name = "rmsprop", __VA_ARGS__)
#define ck_adagrad(...) \
    CK_VALUE_(ck_optimizer_options, .ck_opts_ = 0, .name = "adagrad", __VA_ARGS__)
#define ck_nadam(...) CK_VALUE_(ck_optimizer_options, .ck_opts_ = 0, .name = "nadam", __VA_ARGS__)
#define ck_adamax(...) CK_VALUE_(ck_optimizer_options, .ck_opts_ = 0, .name = "adamax", __VA_ARGS__)
#define ck_adamw(...) CK_VALUE_(ck_optimizer_options, .ck_opts_ = 0, .name = "adamw", __VA_ARGS__)

typedef struct ck_compile_options {
    int ck_opts_; /* internal: lets the constructor macros start with a designator */
    ck_optimizer_options optimizer; /* .optimizer = ck_adam() */
    const char *loss;               /* "categorical_crossentropy", "mse", ... */
    bool from_logits;
    double huber_delta; /* loss "huber": 0 means Keras's 1.0 */
    /* Keras loss_weights for the one output: the loss, trained and
     * reported, is this times the loss, plus the regularization; 0 means 1. */
    double loss_weight;
    const char *metrics[8]; /* e.g. {"accuracy"}; NULL-terminated */
    /* Keras weighted_metrics: metrics weighted by sample_weight and
     * class_weight (sum(w * value) / sum(w); counts of precision, recall,
     * AUC and F1 weighted by w), logged after `metrics` under their own
     * name, or "weighted_" + name when `metrics` has that name, as Keras 3
     * names them. At most 8 metrics and weighted metrics together. */
    const char *weighted_metrics[8];
} ck_compile_options;
CK_API ck_status ck_model_compile_with(ck_model *model, const ck_compile_options *opts);
/* ck_model_compile(m, .optimizer = ck_adam(), .loss = "categorical_crossentropy",
 *                  .metrics = {"accuracy"}) */
#define ck_model_compile(model, ...) \
    ck_model_compile_with((model), CK_ADDR_(ck_compile_options, .ck_opts_ = 0, __VA_ARGS__))
CK_API bool ck_model_is_compiled(const ck_model *model);
/* The compile options in effect: the loss by its Keras function name, the
 * optimizer by its Keras class name with every default filled in. The
 * strings belong to the model until it is compiled again or freed.
 * CK_ERR_STATE when the model is not compiled. */
CK_API ck_status ck_model_get_compile_options(const ck_model *model, ck_compile_options *opts);
/* The compiled metrics, in the order of ck_model_evaluate's values: the
 * metrics, then the weighted metrics, by the names Keras logs them under
 * (the names given to compile, "weighted_accuracy" for a weighted
 * "accuracy" that `metrics` also has); NULL for an index out of range.
 * Pure reads: may be called concurrently with each other. */
CK_API int ck_model_metric_count(const ck_model *model);
CK_API const char *ck_model_metric_name(const ck_model *model, int index);

/* ------------------------------------------------------------------ */
/* Learning rate and step count of a compiled model. Not thread-safe    */
/* for the same model (a fit callback on the fitting thread may call    */
/* them); different models may be used concurrently.                    */
/* ------------------------------------------------------------------ */
/* Keras model.optimizer.learning_rate: the rate the next step uses (the
 * schedule's value at the current step when there is one). */
CK_API ck_status ck_model_get_learning_rate(const ck_model *model, double *lr);
/* Keras model.optimizer.learning_rate = lr: keeps the optimizer's state
 * (moments, step count). CK_ERR_STATE when the optimizer has a schedule
 * (Keras refuses that too), CK_ERR_ARGUMENT unless lr is finite and >= 0. */
CK_API ck_status ck_model_set_learning_rate(ck_model *model, double lr);
/* Keras model.optimizer.iterations: optimizer steps taken. */
CK_API ck_status ck_model_get_iterations(const ck_model *model, int64_t *iterations);

/* ------------------------------------------------------------------ */
/* Callbacks (keras.callbacks)                                          */
/* ------------------------------------------------------------------ */
typedef struct ck_history ck_history;

/* What the hooks receive: the epoch's results at its end, the running
 * means of the epoch so far at a batch's end. NAN where not computed. */
typedef struct ck_epoch_logs {
    int epoch; /* 0-based, counting from initial_epoch */
    double loss, val_loss;
    int n_metrics;
    const char *metric_names[8];
    double metrics[8], val_metrics[8];
    /* The history so far; at an epoch's end it holds this epoch as its
     * last row, with every key (the learning rate too, when a callback logs it). */
    const ck_history *history;
} ck_epoch_logs;
/* Return true to stop training (Keras model.stop_training = True). */
typedef bool (*ck_epoch_callback)(ck_model *model, const ck_epoch_logs *logs, void *user_data);

/* One entry of ck_fit_options.callbacks: a Keras callback class and its
 * options, made by the ck_cb_* macros below. The options are read during
 * fit only. */
typedef struct ck_callback_spec {
    const char *class_name; /* "EarlyStopping", ...; NULL ends the list */
    const void *options;    /* the class's options struct */
} ck_callback_spec;
#define CK_MAX_CALLBACKS 8

/* Keras's "auto", "min" and "max" modes of monitored values (NULL: auto:
 * accuracies, precision, recall, AUC and F1 go up, losses and errors down). */

/* keras.callbacks.EarlyStopping. In ck_fit_options.early_stopping a NULL
 * monitor means off; in ck_cb_early_stopping it means "val_loss". */
typedef struct ck_early_stopping {
    int ck_opts_; /* internal: lets the ck_cb_* macros start with a designator */
    const char *monitor;
    int patience;
    double min_delta;
    bool restore_best_weights;
    const char *mode;  /* NULL/"auto", "min", "max" */
    bool use_baseline; /* Keras baseline=...: a value must beat `baseline` to reset the wait */
    double baseline;
    int start_from_epoch; /* epochs before this are not monitored */
    int verbose;          /* 1: print the stop (to ck_fit_options.log) */
} ck_early_stopping;
#define ck_cb_early_stopping(...)                \
    CK_VALUE_(ck_callback_spec, "EarlyStopping", \
              CK_ADDR_(ck_early_stopping, .ck_opts_ = 0, __VA_ARGS__))

/* keras.callbacks.ModelCheckpoint. filepath takes Python format fields:
 * {epoch} (1-based), {batch} (save_freq > 0) and any logged key, with a
 * format spec: "ckpt-{epoch:02d}-{val_loss:.4f}.h5". The suffix picks the
 * file format (ck_model_save / ck_model_save_weights). */
typedef struct ck_model_checkpoint_options {
    int ck_opts_; /* internal: lets the ck_cb_* macros start with a designator */
    const char *filepath;
    const char *monitor; /* NULL: "val_loss" */
    int verbose;
    bool save_best_only;
    bool save_weights_only;
    const char *mode;                 /* NULL/"auto", "min", "max" */
    int save_freq;                    /* 0: "epoch"; N: every N batches */
    bool use_initial_value_threshold; /* Keras initial_value_threshold=... */
    double initial_value_threshold;
} ck_model_checkpoint_options;
#define ck_cb_model_checkpoint(...)                \
    CK_VALUE_(ck_callback_spec, "ModelCheckpoint", \
              CK_ADDR_(ck_model_checkpoint_options, .ck_opts_ = 0, __VA_ARGS__))

/* keras.callbacks.ReduceLROnPlateau: new_lr = max(lr * factor, min_lr)
 * after `patience` epochs without improvement, then `cooldown` epochs of
 * rest. Zero fields take Keras's defaults; a negative patience or
 * min_delta means 0. */
typedef struct ck_reduce_lr_on_plateau_options {
    int ck_opts_;        /* internal: lets the ck_cb_* macros start with a designator */
    const char *monitor; /* NULL: "val_loss" */
    double factor;       /* 0: 0.1; must be < 1 */
    int patience;        /* 0: 10 */
    int verbose;
    const char *mode; /* NULL/"auto", "min", "max" */
    double min_delta; /* 0: 1e-4 */
    int cooldown;
    double min_lr;
} ck_reduce_lr_on_plateau_options;
#define ck_cb_reduce_lr_on_plateau(...)              \
    CK_VALUE_(ck_callback_spec, "ReduceLROnPlateau", \
              CK_ADDR_(ck_reduce_lr_on_plateau_options, .ck_opts_ = 0, __VA_ARGS__))

/* keras.callbacks.LearningRateScheduler: before each epoch the rate
 * becomes schedule(epoch, current rate). */
typedef double (*ck_lr_schedule_fn)(int epoch, double lr, void *user_data);
typedef struct ck_lr_scheduler_options {
    int ck_opts_; /* internal: lets the ck_cb_* macros start with a designator */
    ck_lr_schedule_fn schedule;
    void *user_data;
    int verbose;
} ck_lr_scheduler_options;
#define ck_cb_learning_rate_scheduler(...)               \
    CK_VALUE_(ck_callback_spec, "LearningRateScheduler", \
              CK_ADDR_(ck_lr_scheduler_options, .ck_opts_ = 0, __VA_ARGS__))

/* keras.callbacks.CSVLogger: one row per epoch, keys sorted as Keras
 * sorts them, values as Python prints floats. */
typedef struct ck_csv_logger_options {
    int ck_opts_; /* internal: lets the ck_cb_* macros start with a designator */
    const char *filename;
    const char *separator; /* NULL: "," */
    bool append;           /* keep the file and write no second header */
} ck_csv_logger_options;
#define ck_cb_csv_logger(...)                \
    CK_VALUE_(ck_callback_spec, "CSVLogger", \
              CK_ADDR_(ck_csv_logger_options, .ck_opts_ = 0, __VA_ARGS__))

/* keras.callbacks.TerminateOnNaN: a batch whose loss is NaN or infinite
 * ends training normally (CK_OK) with the last finite weights and the
 * reason in the history; without it fit fails with CK_ERR_NUMERIC. */
#define ck_cb_terminate_on_nan() CK_VALUE_(ck_callback_spec, "TerminateOnNaN", NULL)

/* keras.callbacks.LambdaCallback, or a Callback subclass: any hook may be
 * NULL. A hook's non-OK status ends fit with that status (a Python
 * exception). batch is the 0-based batch of the epoch. What a hook may
 * call on the model is listed in docs/training.md ("What a callback may
 * call"); ck_model_stop_training ends training after the current batch. */
typedef struct ck_lambda_callback_options {
    int ck_opts_; /* internal: lets the ck_cb_* macros start with a designator */
    ck_status (*on_train_begin)(ck_model *model, void *user_data);
    ck_status (*on_train_end)(ck_model *model, const ck_epoch_logs *logs, void *user_data);
    ck_status (*on_epoch_begin)(ck_model *model, int epoch, void *user_data);
    ck_status (*on_epoch_end)(ck_model *model, int epoch, const ck_epoch_logs *logs,
                              void *user_data);
    ck_status (*on_batch_begin)(ck_model *model, int batch, void *user_data);
    ck_status (*on_batch_end)(ck_model *model, int batch, const ck_epoch_logs *logs,
                              void *user_data);
    void *user_data;
} ck_lambda_callback_options;
#define ck_cb_lambda(...)                         \
    CK_VALUE_(ck_callback_spec, "LambdaCallback", \
              CK_ADDR_(ck_lambda_callback_options, .ck_opts_ = 0, __VA_ARGS__))

/* Keras model.stop_training = True, from a callback: fit ends after the
 * current batch (its epoch is still validated and logged) and returns
 * CK_OK with `reason` (may be NULL) in the history. CK_ERR_STATE when the
 * model is not fitting. Call it only from the fitting thread. */
CK_API ck_status ck_model_stop_training(ck_model *model, const char *reason);

/* ------------------------------------------------------------------ */
/* Data-parallel training over MPI (docs/distributed.md)               */
/* ------------------------------------------------------------------ */
/* The processes that train one model together (an MPI communicator).
 * Every rank holds the whole model and the whole data set, takes its
 * slice of every global batch, and the gradients are summed across
 * ranks before the optimizer step. Opaque; the library owns it. These
 * functions exist also where the MPI transport (libckeras_mpi.so, which
 * the library loads on the first ck_mpi_world) was not built, so
 * programs compile either way: ck_mpi_world() then returns NULL. */
typedef struct ck_comm ck_comm;

/* Whether an MPI launcher (mpirun, srun) started this process, as its
 * environment says. Thread-safe. */
CK_API bool ck_mpi_launched(void);
/* All processes of the launch (a duplicate of MPI_COMM_WORLD, so the
 * library's messages never meet the program's), initializing MPI on the
 * first call unless the program already did. NULL with ck_last_error()
 * when the MPI transport cannot be loaded or MPI cannot start. The first
 * call must come from the main thread; later ones return the same
 * pointer from any thread. */
CK_API ck_comm *ck_mpi_world(void);
/* Frees the communicator and finalizes MPI if ck_mpi_world initialized
 * it. Call once, from the main thread, when no fit is running. */
CK_API void ck_mpi_finalize(void);
/* This process's rank (0 to size - 1) and the number of ranks; 0 and 1
 * for NULL (one process alone). Thread-safe. */
CK_API int ck_comm_rank(const ck_comm *comm);
CK_API int ck_comm_size(const ck_comm *comm);
/* Collective (every rank calls it at the same point): each rank passes
 * the status of something it did alone, such as reading its files, and
 * its message (NULL: ck_last_error()). CK_OK when every rank succeeded;
 * otherwise, on every rank, the status of the lowest failed rank and the
 * message "rank R of N: <its message>". NULL comm returns `status`
 * unchanged. Call it from one thread per process. */
CK_API ck_status ck_comm_agree(ck_comm *comm, ck_status status, const char *message);

/* Collective, Horovod's broadcast_parameters: every rank's weights become
 * rank 0's, for models each rank built (ck_model_build) with its own seed;
 * the models must have as many weights (CK_ERR_STATE naming the rank
 * otherwise). A data-parallel fit refuses ranks whose weights differ, so
 * call this before it unless every rank loaded the same file or built
 * with the same seed. Not thread-safe for the same model. */
CK_API ck_status ck_model_broadcast_weights(ck_model *model, ck_comm *comm);

typedef struct ck_fit_options {
    int ck_opts_;   /* internal: lets the constructor macros start with a designator */
    int epochs;     /* 0: 1; the epoch count to reach, as Keras's epochs */
    int batch_size; /* 0: 32, or a stateful model's declared batch (the only one it takes) */
    double validation_split; /* last fraction of x/y, as in Keras */
    const ck_tensor *validation_x, *validation_y;
    /* Keras validation_data=(x, y, sample_weight): one weight per sample of
     * validation_x for the validation loss and weighted metrics (NULL: 1). */
    const float *validation_sample_weight;
    bool no_shuffle; /* Keras shuffle=False */
    int verbose;     /* 0 silent (default), 1 progress bar, 2 one line per epoch */
    FILE *log;       /* where verbose output goes; NULL: stdout */
    /* Keras callbacks=[...], in that order, after those the fields below ask for. */
    ck_callback_spec callbacks[CK_MAX_CALLBACKS];
    int initial_epoch; /* Keras initial_epoch: resume at this 0-based epoch */
    /* Keras sample_weight: one weight per sample of x (validation_split
     * splits it with x). The loss becomes sum(w * loss) / rows. */
    const float *sample_weight;
    /* Keras class_weight: class_weight[c] for class id c (argmax of one-hot
     * targets, the 0/1 target of a single output); classes from
     * n_class_weights on weigh 1. Not together with sample_weight. */
    const float *class_weight;
    int n_class_weights;
    /* Shorthands kept from before `callbacks`: each adds the Keras callback
     * it names, ahead of `callbacks`. */
    ck_epoch_callback on_epoch_end; /* LambdaCallback(on_epoch_end=...) */
    void *user_data;
    ck_early_stopping early_stopping; /* EarlyStopping when monitor is set */
    const char *checkpoint_path;      /* ModelCheckpoint(checkpoint_path) */
    bool checkpoint_best_only; /* save_best_only, monitoring early_stopping.monitor or "val_loss" */
    /* Data-parallel fit over these ranks (ck_mpi_world()); every rank
     * calls fit with the same model and data. batch_size is the global
     * batch. NULL: this process alone. */
    ck_comm *comm;
    /* With comm: gradients summed across ranks in one message, at least;
     * a sum starts while backward still runs on the earlier layers
     * (docs/distributed.md). 0: 256 KiB; SIZE_MAX: one sum after backward. */
    size_t comm_bucket_bytes;
} ck_fit_options;

/* x: (N, ...) inputs; y: (N, ...) targets (class ids (N,) or (N,1) for
 * sparse losses). A stop requested by a callback (early stopping,
 * TerminateOnNaN, ck_model_stop_training) is a normal end: CK_OK, with
 * the reason in ck_history_stop_reason. *history (may be NULL) receives
 * the epochs that ran, also when fit fails after the first epoch. */
CK_API ck_status ck_model_fit_with(ck_model *model, const ck_tensor *x, const ck_tensor *y,
                                   const ck_fit_options *opts, ck_history **history);
#define ck_model_fit(model, x, y, history, ...)                                                \
    ck_model_fit_with((model), (x), (y), CK_ADDR_(ck_fit_options, .ck_opts_ = 0, __VA_ARGS__), \
                      (history))

/* Keras History. Every accessor may be called concurrently on one history. */
CK_API int ck_history_epochs(const ck_history *history);
/* key: "loss", "val_loss", a metric name or "val_" + metric name, and
 * the learning rate when a callback logs it: "learning_rate", or "lr" for
 * a model from a Keras 2 file, as that Keras logged it. NAN where an
 * epoch has no value. */
CK_API ck_status ck_history_get(const ck_history *history, const char *key, int epoch,
                                double *value);
/* The keys in the order of the model's Keras release: sorted (Keras 3;
 * models built in C), or loss, metrics, then the val_ ones (Keras 2);
 * then the keys callbacks log. NULL for an index out of range. */
CK_API int ck_history_key_count(const ck_history *history);
CK_API const char *ck_history_key(const ck_history *history, int index);
/* Keras history.epoch[i]: the 0-based epoch number of row i (initial_epoch + i). */
CK_API int ck_history_epoch_number(const ck_history *history, int row);
/* Why training ended before its last epoch: "" when it ran to the end. */
CK_API const char *ck_history_stop_reason(const ck_history *history);
CK_API void ck_history_free(ck_history *history);

/* loss and one value per compiled metric (metrics may be NULL). */
CK_API ck_status ck_model_evaluate(ck_model *model, const ck_tensor *x, const ck_tensor *y,
                                   int batch_size, double *loss, double *metrics);
typedef struct ck_evaluate_options {
    int ck_opts_;
    int batch_size; /* 0: 32, or a stateful model's declared batch (the only one it takes) */
    const float *sample_weight; /* Keras sample_weight: one per sample */
    const float *class_weight;  /* as in ck_fit_options */
    int n_class_weights;
    /* Keras verbose: 0 silent (default), 1 progress bar, 2 one line, drawn
     * as the model's Keras release draws evaluate's (standalone Keras 2:
     * the bar over the samples alone, nothing at 2). */
    int verbose;
    FILE *log; /* where verbose output goes; NULL: stdout */
} ck_evaluate_options;
/* Keras evaluate(x, y, batch_size=..., sample_weight=...). Like
 * ck_model_evaluate, not thread-safe for the same model. */
CK_API ck_status ck_model_evaluate_with(ck_model *model, const ck_tensor *x, const ck_tensor *y,
                                        const ck_evaluate_options *opts, double *loss,
                                        double *metrics);
/* One optimizer step on one batch; *loss (may be NULL) is the batch loss before the step. */
CK_API ck_status ck_model_train_on_batch(ck_model *model, const ck_tensor *x, const ck_tensor *y,
                                         double *loss);
typedef struct ck_train_on_batch_options {
    int ck_opts_;
    /* A data-parallel step (every rank calls it): x, y are this rank's
     * samples (at least one) of the global batch; the step is the one of
     * all ranks' samples together, the same on every rank, and *loss is
     * their mean. NULL: this process alone. */
    ck_comm *comm;
    size_t comm_bucket_bytes; /* as in ck_fit_options */
} ck_train_on_batch_options;
/* ck_model_train_on_batch with options; opts may be NULL. Not
 * thread-safe for the same model. */
CK_API ck_status ck_model_train_on_batch_with(ck_model *model, const ck_tensor *x,
                                              const ck_tensor *y,
                                              const ck_train_on_batch_options *opts, double *loss);
/* Keras test_on_batch(x, y, sample_weight): the loss and metrics of one
 * batch without a step (sample_weight and metrics may be NULL). Not
 * thread-safe for the same model. */
CK_API ck_status ck_model_test_on_batch(ck_model *model, const ck_tensor *x, const ck_tensor *y,
                                        const float *sample_weight, double *loss, double *metrics);

#ifdef __cplusplus
}
#endif
#endif /* CKERAS_TRAIN_H */
