/* The callback interface of fit: Keras's Callback hooks. A callback is one
 * file defining a ck_callback_kind plus one row in the table of the
 * callbacks fit runs (src/io/callbacks.c, the one place that sees both the
 * training callbacks and those that write files). */
#ifndef CK_CALLBACK_H
#define CK_CALLBACK_H

#include "ck_internal.h"

/* What every callback of one fit sees. */
typedef struct ck_fit_info {
    ck_model *model;
    const ck_fit_options *options;
    int epochs;                /* epochs to run unless a callback stops training */
    size_t steps;              /* batches per epoch */
    bool has_validation;       /* the logs carry val_ values */
    const ck_history *history; /* one row per finished epoch, the current one at its end */
    /* Keras stop_training: the first request's reason, "" when none. */
    char stop_reason[256];
} ck_fit_info;

typedef struct ck_callback ck_callback;

/* One kind of callback. Every hook is optional; a hook that fails ends fit
 * with its status, skipping the callbacks after it. `logs` hold the running
 * means of the epoch so far (batch end) or the epoch's results (epoch end);
 * NAN where not computed. */
typedef struct ck_callback_kind {
    const char *name; /* Keras class: "EarlyStopping" */
    size_t size;      /* of the instance: a struct whose first member is ck_callback */
    /* Whether the fit options ask for this callback. */
    bool (*wanted)(const ck_fit_options *o);
    /* Once the data and the history are set up; checks options, allocates. */
    ck_status (*on_train_begin)(ck_callback *cb);
    /* After the last epoch, unless a hook or a step failed. */
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
};

/* Keras model.stop_training = True: fit ends after this epoch with
 * CK_ERR_STOPPED and the message of the first request. */
void ck_fit_stop(ck_callback *cb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Keras's "auto" mode: accuracies improve upwards, everything else
 * downwards; NAN never improves, and anything improves on a NAN best. */
bool ck_monitor_improved(const char *monitor, double current, double best, double min_delta);
/* CK_ERR_ARGUMENT unless the history has the key `monitor` (NULL: none). */
ck_status ck_monitor_check(const ck_fit_info *fit, const char *monitor);

/* The history's value of `key` in its last epoch; NAN when it has none. */
double ck_history_last(const ck_history *h, const char *key);
bool ck_history_has_key(const ck_history *h, const char *key);

/* The callbacks src/train provides. */
extern const ck_callback_kind ck_progress_callback, ck_early_stopping_callback,
    ck_epoch_function_callback;

/* Runs fit with every callback in `kinds` whose options ask for it, in that
 * order; ck_model_fit_with's contract otherwise. */
ck_status ck_train_fit(ck_model *m, const ck_tensor *x, const ck_tensor *y, const ck_fit_options *o,
                       const ck_callback_kind *const *kinds, int n_kinds, ck_history **history);

#endif /* CK_CALLBACK_H */
