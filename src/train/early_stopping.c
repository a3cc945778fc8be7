/* Keras's EarlyStopping: stops training when the monitored value has not
 * improved for `patience` epochs, optionally restoring the best weights. */
#include "ck_callback.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct early_stopping {
    ck_callback base;
    const ck_early_stopping *o;
    ck_monitor mon;
    double best;
    int wait, best_epoch, stopped_epoch;
    float *best_weights; /* with restore_best_weights */
    bool have_best_weights;
} early_stopping;

static ck_status es_begin(ck_callback *cb)
{
    early_stopping *es = (early_stopping *)cb;
    const ck_model *m = cb->fit->model;
    es->o = cb->options;
    es->best = NAN;
    es->stopped_epoch = -1;
    const char *monitor = es->o->monitor ? es->o->monitor : "val_loss";
    CK_TRY(ck_monitor_init(&es->mon, cb->fit, monitor, es->o->mode, es->o->min_delta,
                           "EarlyStopping"));
    if (es->o->patience < 0 || es->o->start_from_epoch < 0)
        return ck_error(CK_ERR_ARGUMENT,
                        "EarlyStopping: patience and start_from_epoch must be >= 0");
    if (es->o->restore_best_weights && !(es->best_weights = ck_alloc(m->n_params, sizeof(float))))
        return CK_ERR_MEMORY;
    /* Standalone Keras 2.2 and 2.3 start from the baseline as the best. */
    if (ck_model_from_standalone_keras2(m) && es->o->use_baseline)
        es->best = es->o->baseline;
    return CK_OK;
}

static void keep_weights(early_stopping *es)
{
    const ck_model *m = es->base.fit->model;
    if (es->best_weights) {
        memcpy(es->best_weights, m->params, m->n_params * sizeof(float));
        es->have_best_weights = true;
    }
}

static void restore_best(early_stopping *es)
{
    ck_model *m = es->base.fit->model;
    if (!es->have_best_weights)
        return;
    memcpy(m->params, es->best_weights, m->n_params * sizeof(float));
    ck_model_weights_changed(m);
    if (!es->o->verbose)
        return;
    ck_log_style style = ck_log_style_of(m);
    if (style.restore_names_epoch)
        ck_fit_print(es->base.fit, "Restoring model weights from the end of the best epoch: %d.",
                     es->best_epoch + 1);
    else
        ck_fit_print(es->base.fit, "Restoring model weights from the end of the best epoch%s",
                     style.restore_period ? "." : "");
}

/* The model follows Keras 3's EarlyStopping, or that of tf.keras 2.minor
 * and later: tf.keras moved to it in two steps. */
static bool keras3_rule_since(const ck_model *m, int minor)
{
    bool tf_keras;
    int release = ck_model_keras_release(m, &tf_keras);
    return m->semantics == CK_KERAS3 || (release >= 200 + minor && release < 300);
}

static ck_status stop(early_stopping *es, int epoch)
{
    es->stopped_epoch = epoch;
    /* tf.keras up to 2.15 restores when it stops; Keras 3 and tf_keras
     * 2.16+ in on_train_end. */
    if (!keras3_rule_since(es->base.fit->model, 16))
        restore_best(es);
    ck_fit_stop(es->base.fit,
                "EarlyStopping: %s did not improve for %d epochs; stopped after epoch %d",
                es->mon.key, es->wait, epoch + 1);
    return CK_OK;
}

/* Standalone Keras 2.0 to 2.3 (callbacks.py of 2.2.4 and 2.3.1) counts
 * only the epochs that do not improve on the best (from the baseline,
 * when given), so an improving epoch never stops training. */
static ck_status standalone_epoch_end(early_stopping *es, int epoch, double v)
{
    if (ck_monitor_improved(&es->mon, v, es->best)) {
        es->best = v;
        es->best_epoch = epoch;
        es->wait = 0;
        keep_weights(es);
        return CK_OK;
    }
    /* 2.0.0 to 2.0.8 compared before counting the epoch. */
    if (ck_model_standalone_keras_below(es->base.fit->model, 2, 0, 9))
        return es->wait++ < es->o->patience ? CK_OK : stop(es, epoch);
    return ++es->wait < es->o->patience ? CK_OK : stop(es, epoch);
}

/* tf.keras 2.5 and 2.6 could stop after epoch 0 (patience 0 always did);
 * 2.7 added `epoch > 0` (keras-team/keras#14750). */
static bool checks_first_epoch(const ck_model *m)
{
    bool tf_keras;
    int release = ck_model_keras_release(m, &tf_keras);
    return release == 205 || release == 206;
}

/* Keras 3 and tf.keras 2.12+ return after an improvement; older tf.keras
 * still checks the wait, which matters with a baseline (an improvement
 * that does not beat it keeps counting) and with patience 0. */
static ck_status es_epoch_end(ck_callback *cb, int epoch, const ck_epoch_logs *logs)
{
    early_stopping *es = (early_stopping *)cb;
    bool returns = keras3_rule_since(cb->fit->model, 12);
    (void)logs;
    double v = ck_monitor_value(&es->mon, cb->fit);
    if (isnan(v) || epoch < es->o->start_from_epoch)
        return CK_OK;
    if (ck_model_from_standalone_keras2(cb->fit->model))
        return standalone_epoch_end(es, epoch, v);
    if (es->o->restore_best_weights && !es->have_best_weights) {
        keep_weights(es);
        es->best_epoch = epoch;
    }
    es->wait++;
    if (ck_monitor_improved(&es->mon, v, es->best)) {
        es->best = v;
        es->best_epoch = epoch;
        keep_weights(es);
        if (!es->o->use_baseline || ck_monitor_improved(&es->mon, v, es->o->baseline))
            es->wait = 0;
        if (returns)
            return CK_OK;
    }
    if (es->wait < es->o->patience || (epoch == 0 && !checks_first_epoch(cb->fit->model)))
        return CK_OK;
    return stop(es, epoch);
}

/* Keras 3 and tf_keras 2.16+ restore the best weights whether or not
 * training stopped. */
static ck_status es_end(ck_callback *cb)
{
    early_stopping *es = (early_stopping *)cb;
    char label[32];
    if (es->stopped_epoch > 0 && es->o->verbose)
        ck_fit_print(cb->fit, "%s: early stopping",
                     ck_fit_epoch_label(cb->fit, es->stopped_epoch, label, sizeof label));
    if (keras3_rule_since(cb->fit->model, 16))
        restore_best(es);
    return CK_OK;
}

static void es_destroy(ck_callback *cb)
{
    free(((early_stopping *)cb)->best_weights);
}

const ck_callback_kind ck_early_stopping_callback = {
    .name = "EarlyStopping",
    .size = sizeof(early_stopping),
    .on_train_begin = es_begin,
    .on_epoch_end = es_epoch_end,
    .on_train_end = es_end,
    .destroy = es_destroy,
};
