/* Between the files of src/train: how a data set is laid out for the loss
 * and the metrics, the running totals of an epoch, one batch, and the
 * history fit returns. */
#ifndef CK_BATCH_H
#define CK_BATCH_H

#include "ck_callback.h"
#include "ck_train.h"

/* ---------------- batches (batch.c) ---------------- */
/* Floats per sample of x and y, the loss's view of the output: rows of
 * `width` values (samples, or samples x timesteps), and the metrics as
 * these shapes resolve them. */
typedef struct ck_layout {
    size_t x_sample, y_sample, rows_per_sample, width;
    ck_metric_kind metrics[CK_MAX_METRICS];
} ck_layout;

/* Checks x and y against the model and the loss (`what` names them in
 * messages) and works out their layout. */
ck_status ck_data_layout(const ck_model *m, const ck_train_state *s, const ck_tensor *x,
                         const ck_tensor *y, const char *what, ck_layout *lay);

/* The batch size of a run over n samples (`fn` names it in messages):
 * the one asked for, else the model's fixed batch, else Keras's 32. A
 * model that carries state takes only its fixed batch, and only data that
 * fills every batch. */
ck_status ck_batch_size(const ck_model *m, int asked, int64_t n, const char *fn, size_t *batch);

/* Running totals over an epoch, reduced the Keras way: the loss weighted
 * by batch size, each metric's state (ck_metric_update; Keras hands the
 * output mask to metrics as sample weights, times the sample weights for
 * weighted metrics). */
typedef struct ck_totals {
    double loss, samples;
    int n_metrics;
    ck_metric_kind kinds[CK_MAX_METRICS];
    ck_metric_params params[CK_MAX_METRICS];
    bool weighted[CK_MAX_METRICS];
    size_t width;
    double *state[CK_MAX_METRICS]; /* into one allocation, state[0] */
} ck_totals;
/* Zeroed totals for the metrics of `lay`; free with ck_totals_free. */
ck_status ck_totals_init(ck_totals *t, const ck_train_state *s, const ck_layout *lay);
void ck_totals_free(ck_totals *t);
double ck_totals_loss(const ck_totals *t);
double ck_totals_metric(const ck_totals *t, int k);

/* Forward on one batch (x, targets y, per-sample weights sw or NULL) and,
 * when training, backward and one optimizer step. The loss (*loss_out,
 * may be NULL) and the totals (t, may be NULL) are those of the forward,
 * before the step. */
ck_status ck_run_batch(ck_model *m, ck_train_state *s, const ck_tensor *x, const float *y,
                       const float *sw, bool train, ck_totals *t, double *loss_out);
/* Keras's sample weights for fit and evaluate: sample_weight as given, or
 * class_weight looked up by each sample's class (others weigh 1). *out is
 * NULL when neither is given; free it with free(). */
ck_status ck_sample_weights(const ck_train_state *s, const ck_layout *lay, const ck_tensor *y,
                            const float *sample_weight, const float *class_weight,
                            int n_class_weights, float **out);
/* Samples [start, start + count) of x, whose samples are `sample` floats. */
ck_tensor ck_batch_view(const ck_tensor *x, size_t sample, size_t start, size_t count);
/* The logs of totals: the loss and the metrics with their names. */
void ck_totals_logs(const ck_train_state *s, const ck_totals *t, ck_epoch_logs *logs);
/* evaluate's progress bar, as the model's Keras release draws it for
 * evaluate(verbose=...) over `samples` in batches of `batch`. *bar is NULL
 * when that draws nothing; every call takes NULL. Steps get the running
 * logs, the end the pass's; `s` gives the logged keys. */
typedef struct ck_test_bar ck_test_bar;
ck_status ck_test_bar_new(ck_model *m, const ck_train_state *s, FILE *out, int verbose,
                          size_t samples, size_t batch, ck_test_bar **bar);
void ck_test_bar_step(ck_test_bar *bar, size_t batch, const ck_epoch_logs *running);
void ck_test_bar_end(ck_test_bar *bar, const ck_epoch_logs *logs);
void ck_test_bar_free(ck_test_bar *bar);

/* Totals of an inference pass over x, y (sample weights sw or NULL) in
 * batches of `batch`, drawn on bar (may be NULL) after each batch; t is
 * set up here (free it with ck_totals_free). */
ck_status ck_evaluate_all(ck_model *m, ck_train_state *s, const ck_tensor *x, const ck_tensor *y,
                          const float *sw, const ck_layout *lay, size_t batch, ck_test_bar *bar,
                          ck_totals *t);

/* ---------------- history (history.c) ---------------- */
/* An empty history with keys loss, the metrics, and their val_ versions
 * when has_val, listed in `order`; its first row is epoch first_epoch. */
ck_history *ck_history_new(const ck_train_state *s, bool has_val, int first_epoch,
                           ck_key_order order);
ck_status ck_history_append(ck_history *h, const ck_epoch_logs *logs);
void ck_history_set_stop_reason(ck_history *h, const char *reason);

/* ---------------- the callbacks of one fit (callbacks.c) ---------------- */
typedef struct ck_callback_list {
    ck_callback **items;
    int n;
} ck_callback_list;

/* Creates one callback per spec, in order, its class found in `kinds` by name. */
ck_status ck_callbacks_new(ck_callback_list *l, const ck_callback_kind *const *kinds, int n_kinds,
                           const ck_callback_spec *specs, int n_specs, ck_fit_info *fit);
void ck_callbacks_free(ck_callback_list *l);

typedef enum ck_callback_event {
    CK_ON_TRAIN_BEGIN,
    CK_ON_TRAIN_END,
    CK_ON_EPOCH_BEGIN,
    CK_ON_EPOCH_END,
    CK_ON_BATCH_BEGIN,
    CK_ON_BATCH_END
} ck_callback_event;

/* Calls every callback's hook for `event` in order; index is the epoch or
 * the batch, logs as the hook takes them. Stops at the first failure. */
ck_status ck_callbacks_call(const ck_callback_list *l, ck_callback_event event, size_t index,
                            const ck_epoch_logs *logs);

#endif /* CK_BATCH_H */
