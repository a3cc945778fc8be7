/* The callback interface of fit: Keras's Callback hooks. A callback is one
 * file defining a ck_callback_kind plus one row in the table of callback
 * classes (src/io/callbacks.c, the one place that sees both the training
 * callbacks and those that write files). */
#ifndef CK_CALLBACK_H
#define CK_CALLBACK_H

#include "ck_internal.h"

#include <stdio.h>

/* What every callback of one fit sees. */
typedef struct ck_fit_info {
    ck_model *model;
    const ck_fit_options *options;
    int initial_epoch; /* the first epoch number */
    int epochs;        /* the epoch number to reach (Keras's epochs) */
    size_t steps;      /* batches per epoch */
    size_t samples;    /* per epoch */
    size_t batch_size;
    bool has_validation; /* the logs carry val_ values */
    ck_history *history; /* one row per finished epoch, the current one at its end */
    FILE *log;           /* where callbacks print (verbose) */
    bool quiet;          /* a rank other than 0 of a data-parallel fit: prints nothing */
    /* Keras stop_training: the first request's reason, "" when none. */
    char stop_reason[256];
    bool stop;
} ck_fit_info;

typedef struct ck_callback ck_callback;

/* One kind of callback. Every hook is optional; a hook that fails ends fit
 * with its status, skipping the callbacks after it. `logs` hold the running
 * means of the epoch so far (batch end) or the epoch's results (epoch end);
 * NAN where not computed. */
typedef struct ck_callback_kind {
    const char *name; /* Keras class: "EarlyStopping" */
    size_t size;      /* of the instance: a struct whose first member is ck_callback */
    /* Prints or writes files: in a data-parallel fit, rank 0 runs it alone. */
    bool first_rank_only;
    /* Once the data and the history are set up; checks options, allocates. */
    ck_status (*on_train_begin)(ck_callback *cb);
    /* After the last epoch or a stop request, unless a hook or a step failed. */
    ck_status (*on_train_end)(ck_callback *cb);
    ck_status (*on_epoch_begin)(ck_callback *cb, int epoch);
    /* After the validation pass, with the epoch already in the history. */
    ck_status (*on_epoch_end)(ck_callback *cb, int epoch, const ck_epoch_logs *logs);
    ck_status (*on_batch_begin)(ck_callback *cb, size_t batch);
    ck_status (*on_batch_end)(ck_callback *cb, size_t batch, const ck_epoch_logs *logs);
    /* Frees what the hooks allocated (fit frees the instance itself). */
    void (*destroy)(ck_callback *cb);
} ck_callback_kind;

struct ck_callback {
    const ck_callback_kind *kind;
    ck_fit_info *fit;
    const void *options; /* the kind's options struct (ck_callback_spec.options) */
};

/* Keras model.stop_training = True: fit ends after the current batch with
 * CK_OK and the first request's reason in the history. */
void ck_fit_stop(ck_fit_info *fit, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints one line to the fit's log (a callback's verbose output). */
void ck_fit_print(const ck_fit_info *fit, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "\nEpoch 2: <who> learning rate to 0.05000000074505806.": the message of
 * ReduceLROnPlateau and LearningRateScheduler, the epoch padded as the
 * model's Keras did and the rate as Python's str. */
void ck_fit_print_rate(const ck_fit_info *fit, int epoch, const char *who, double rate);
/* "Epoch 00002" or "Epoch 2": epoch index `epoch` as the model's Keras
 * names it in a callback's message. */
const char *ck_fit_epoch_label(const ck_fit_info *fit, int epoch, char *buf, size_t len);

/* A monitored value and when it improves (Keras MonitorCallback). */
typedef struct ck_monitor {
    const char *key;
    bool up;          /* larger is better */
    double min_delta; /* >= 0 */
} ck_monitor;
/* Checks that the history has `key` and resolves `mode` (NULL/"auto":
 * by the metric's direction, losses and errors down); `who` names the
 * callback in messages. */
ck_status ck_monitor_init(ck_monitor *mon, const ck_fit_info *fit, const char *key,
                          const char *mode, double min_delta, const char *who);
/* Keras _is_improvement: reference NAN stands for None (anything
 * improves on it); a NAN current never improves. */
bool ck_monitor_improved(const ck_monitor *mon, double current, double reference);
/* The monitored value of the epoch just ended. */
double ck_monitor_value(const ck_monitor *mon, const ck_fit_info *fit);

/* The history's value of `key` in its last epoch; NAN when it has none. */
double ck_history_last(const ck_history *h, const char *key);
bool ck_history_has_key(const ck_history *h, const char *key);
/* The keys of the epoch's logs (ck_history_key lists them first); the
 * keys callbacks log follow them. */
int ck_history_logged_key_count(const ck_history *h);
/* Adds a key logged by a callback ("learning_rate", "lr"): NAN in earlier rows. */
ck_status ck_history_add_key(ck_history *h, const char *key);
/* Sets `key` in the last row. */
void ck_history_set_last(ck_history *h, const char *key, double value);

/* Python's str(float): shortest round-trip digits, "1.0", "1e-05", "nan". */
void ck_format_py_float(double v, char *buf, size_t len);
/* NumPy's str of a float32: the shortest digits that read back as v in
 * float32, "0.001" where the double's repr is 0.0010000000474974513. */
void ck_format_py_float32(float v, char *buf, size_t len);
/* Looks up the logged value of a template key; false when there is none. */
typedef bool (*ck_log_lookup)(const void *ctx, const char *key, double *value);
/* Python str.format on `tmpl` with {epoch}, {batch} (when batch > 0, both
 * 1-based, as integers) and the logged values: "{epoch:02d}-{val_loss:.4f}".
 * CK_ERR_ARGUMENT naming the field for unknown keys or bad specs. */
ck_status ck_format_template(const char *tmpl, int epoch, long batch, ck_log_lookup lookup,
                             const void *ctx, char *out, size_t len);

/* How the logs of an epoch are ordered; the keys callbacks add follow. */
typedef enum ck_key_order {
    CK_KEYS_COMPILED,     /* loss, the metrics, then their val_ versions (Keras 2) */
    CK_KEYS_SORTED_APART, /* the training keys sorted, then the val_ ones (Keras 3.0-3.6) */
    CK_KEYS_SORTED        /* all sorted (Keras 3.7+) */
} ck_key_order;

/* What the Keras release of a model prints and logs at an epoch's end
 * (docs/keras-compatibility.md, "Progress output"). */
typedef struct ck_log_style {
    bool keras3_bar;              /* Keras 3's Progbar, else tf.keras 2's */
    bool averaged_bar;            /* the bar shows the mean of the steps' running values */
    bool progbar_last;            /* ProgbarLogger runs after the other callbacks */
    bool epoch_times;             /* verbose 2 ends with the epoch's and a step's times */
    bool skips_first_step;        /* verbose 1's time per step leaves step 1 out */
    int epoch_digits;             /* a callback's message pads its epoch to: "Epoch 00002" */
    int epoch_base;               /* the first epoch's number there; 0 (its index) before 2.0.9 */
    bool checkpoint_newline;      /* ModelCheckpoint's message starts a new line */
    bool checkpoint_from;         /* "did not improve from 0.12345" */
    bool best_none;               /* ModelCheckpoint's first best prints None, not inf */
    bool restore_names_epoch;     /* "Restoring model weights ... best epoch: 3." */
    bool restore_period;          /* "... best epoch." when the epoch is not named */
    bool checkpoint_finished;     /* ModelCheckpoint's "finished saving model to" after a save */
    bool checkpoint_unmonitored;  /* a batch's save happens without the monitored key */
    bool csv_val_columns;         /* CSVLogger adds val_ columns when no key is one */
    bool lr_float32;              /* the logged rate is a float32 ("0.001" in a CSV) */
    bool counts_samples;          /* the bar counts samples, verbose 2 prints no count */
    bool epoch_header_always;     /* "Epoch 1/1" even when fit runs one epoch */
    const char *plateau_verb;     /* ReduceLROnPlateau's message: "... reducing learning rate" */
    const char *scheduler_verb;   /* LearningRateScheduler's */
    ck_key_order key_order;       /* of the logs and the history */
    const char *lr_key;           /* ReduceLROnPlateau's key of the rate */
    const char *scheduler_lr_key; /* LearningRateScheduler's; NULL: it logs none */
} ck_log_style;
ck_log_style ck_log_style_of(const ck_model *m);

/* Appends the end of tf.keras 2.7+'s verbose-2 line, " - 13ms/epoch -
 * 3ms/step": the epoch's time and the mean step's, `elapsed` seconds
 * over `steps`, each in the unit Progbar._format_time picks. */
void ck_progbar_epoch_times(char *buf, size_t len, double elapsed, size_t steps);

/* Sets the model's learning rate (ReduceLROnPlateau, LearningRateScheduler);
 * `who` names the caller in messages. */
ck_status ck_fit_set_learning_rate(ck_fit_info *fit, double lr, const char *who);
double ck_fit_learning_rate(const ck_fit_info *fit);

/* The callbacks src/train provides. */
extern const ck_callback_kind ck_progress_callback, ck_early_stopping_callback,
    ck_epoch_function_callback, ck_lambda_callback, ck_reduce_lr_callback, ck_lr_scheduler_callback,
    ck_terminate_on_nan_callback;

/* Runs fit with the callbacks its options ask for, taking each class from
 * `kinds` by name; ck_model_fit_with's contract otherwise. */
ck_status ck_train_fit(ck_model *m, const ck_tensor *x, const ck_tensor *y, const ck_fit_options *o,
                       const ck_callback_kind *const *kinds, int n_kinds, ck_history **history);

#endif /* CK_CALLBACK_H */
