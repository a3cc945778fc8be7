/* Keras's EarlyStopping: stops training when the monitored value has not
 * improved for `patience` epochs, optionally restoring the best weights. */
#include "ck_callback.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct early_stopping {
    ck_callback base;
    const ck_early_stopping *o;
    double best;
    int wait;
    float *best_weights; /* with restore_best_weights */
} early_stopping;

static bool es_wanted(const ck_fit_options *o)
{
    return o->early_stopping.monitor != NULL;
}

static ck_status es_begin(ck_callback *cb)
{
    early_stopping *es = (early_stopping *)cb;
    const ck_model *m = cb->fit->model;
    es->o = &cb->fit->options->early_stopping;
    es->best = NAN;
    CK_TRY(ck_monitor_check(cb->fit, es->o->monitor));
    if (es->o->restore_best_weights && !(es->best_weights = ck_alloc(m->n_params, sizeof(float))))
        return CK_ERR_MEMORY;
    return CK_OK;
}

static void restore_best(early_stopping *es)
{
    ck_model *m = es->base.fit->model;
    if (es->best_weights && !isnan(es->best)) {
        memcpy(m->params, es->best_weights, m->n_params * sizeof(float));
        ck_model_weights_changed(m);
    }
}

static ck_status es_epoch_end(ck_callback *cb, int epoch, const ck_epoch_logs *logs)
{
    early_stopping *es = (early_stopping *)cb;
    ck_model *m = cb->fit->model;
    (void)logs;
    double v = ck_history_last(cb->fit->history, es->o->monitor);
    if (ck_monitor_improved(es->o->monitor, v, es->best, es->o->min_delta)) {
        es->best = v;
        es->wait = 0;
        if (es->best_weights)
            memcpy(es->best_weights, m->params, m->n_params * sizeof(float));
        return CK_OK;
    }
    if (++es->wait < es->o->patience || epoch == 0)
        return CK_OK;
    /* tf.keras 2 restores here, so only when it stops; Keras 3 in on_train_end. */
    if (m->semantics != CK_KERAS3)
        restore_best(es);
    ck_fit_stop(cb, "early stopping after epoch %d: %s did not improve for %d epochs", epoch + 1,
                es->o->monitor, es->o->patience);
    return CK_OK;
}

/* Keras 3 restores the best weights whether or not it stopped training. */
static ck_status es_end(ck_callback *cb)
{
    if (cb->fit->model->semantics == CK_KERAS3)
        restore_best((early_stopping *)cb);
    return CK_OK;
}

static void es_destroy(ck_callback *cb)
{
    free(((early_stopping *)cb)->best_weights);
}

const ck_callback_kind ck_early_stopping_callback = {
    .name = "EarlyStopping",
    .size = sizeof(early_stopping),
    .wanted = es_wanted,
    .on_train_begin = es_begin,
    .on_epoch_end = es_epoch_end,
    .on_train_end = es_end,
    .destroy = es_destroy,
};
