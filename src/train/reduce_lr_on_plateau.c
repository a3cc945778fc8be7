/* Keras's ReduceLROnPlateau: after `patience` epochs without improvement
 * the learning rate becomes max(lr * factor, min_lr), then `cooldown`
 * epochs pass before counting again. Logs the rate every epoch, as "lr"
 * in Keras 2 and "learning_rate" in Keras 3 (ck_log_style). */
#include "ck_callback.h"

#include <math.h>

typedef struct reduce_lr {
    ck_callback base;
    ck_reduce_lr_on_plateau_options o; /* defaults filled in */
    ck_monitor mon;
    double best;
    int wait, cooldown_counter;
} reduce_lr;

static ck_status rlr_begin(ck_callback *cb)
{
    reduce_lr *r = (reduce_lr *)cb;
    if (!cb->options)
        return ck_error(CK_ERR_ARGUMENT, "ReduceLROnPlateau: options are NULL");
    r->o = *(const ck_reduce_lr_on_plateau_options *)cb->options;
    ck_reduce_lr_on_plateau_options *o = &r->o;
    o->factor = o->factor == 0 ? 0.1 : o->factor;
    o->patience = o->patience == 0 ? 10 : (o->patience < 0 ? 0 : o->patience);
    o->min_delta = o->min_delta == 0 ? 1e-4 : (o->min_delta < 0 ? 0 : o->min_delta);
    if (!(o->factor < 1 && o->factor > 0) || o->cooldown < 0 || !(o->min_lr >= 0))
        return ck_error(CK_ERR_ARGUMENT,
                        "ReduceLROnPlateau: factor must be in (0, 1) (Keras refuses >= 1), "
                        "cooldown and min_lr >= 0; got factor %g",
                        o->factor);
    r->best = NAN;
    CK_TRY(ck_monitor_init(&r->mon, cb->fit, o->monitor ? o->monitor : "val_loss", o->mode,
                           o->min_delta, "ReduceLROnPlateau"));
    /* Fails now, not at the first plateau, when the rate follows a schedule. */
    CK_TRY(ck_fit_set_learning_rate(cb->fit, ck_fit_learning_rate(cb->fit), "ReduceLROnPlateau"));
    return ck_history_add_key(cb->fit->history, ck_log_style_of(cb->fit->model).lr_key);
}

/* The rate min_lr must be exceeded by for a reduction: tf.keras and Keras 3
 * compare in float32 (v2.6.0), standalone Keras with the double, and
 * before 2.1.6 by a margin of min_lr * 1e-4 (lr_epsilon), so a float32
 * rate just above min_lr is "reduced" to it again at every plateau there. */
static double reduce_floor(const reduce_lr *r)
{
    const ck_model *m = r->base.fit->model;
    double min_lr = r->o.min_lr;
    if (!ck_model_from_standalone_keras2(m))
        return (double)(float)min_lr;
    return ck_model_standalone_keras_below(m, 2, 1, 6) ? min_lr + min_lr * 1e-4 : min_lr;
}

static ck_status reduce(reduce_lr *r, int epoch)
{
    double old_lr = ck_fit_learning_rate(r->base.fit);
    if (!(old_lr > reduce_floor(r)))
        return CK_OK;
    double new_lr = fmax(old_lr * r->o.factor, r->o.min_lr);
    CK_TRY(ck_fit_set_learning_rate(r->base.fit, new_lr, "ReduceLROnPlateau"));
    /* Keras prints the double it computed from the float32 rate: 0.1
     * halved is 0.05000000074505806. */
    if (r->o.verbose)
        ck_fit_print_rate(r->base.fit, epoch, ck_log_style_of(r->base.fit->model).plateau_verb,
                          new_lr);
    r->cooldown_counter = r->o.cooldown;
    r->wait = 0;
    return CK_OK;
}

/* An epoch without improvement out of cooldown. Standalone Keras 2.0.0 to
 * 2.1.5 compared the wait with the patience before counting the epoch,
 * so it reduced one epoch later and restarted at a wait of 1. */
static ck_status no_improvement(reduce_lr *r, int epoch)
{
    if (!ck_model_standalone_keras_below(r->base.fit->model, 2, 1, 6))
        return ++r->wait >= r->o.patience ? reduce(r, epoch) : CK_OK;
    ck_status st = r->wait >= r->o.patience ? reduce(r, epoch) : CK_OK;
    r->wait++;
    return st;
}

static ck_status rlr_epoch_end(ck_callback *cb, int epoch, const ck_epoch_logs *logs)
{
    reduce_lr *r = (reduce_lr *)cb;
    (void)logs;
    ck_history_set_last(cb->fit->history, ck_log_style_of(cb->fit->model).lr_key,
                        ck_fit_learning_rate(cb->fit));
    double current = ck_monitor_value(&r->mon, cb->fit);
    if (r->cooldown_counter > 0) {
        r->cooldown_counter--;
        r->wait = 0;
    }
    if (ck_monitor_improved(&r->mon, current, r->best)) {
        r->best = current;
        r->wait = 0;
    } else if (r->cooldown_counter <= 0) {
        return no_improvement(r, epoch);
    }
    return CK_OK;
}

const ck_callback_kind ck_reduce_lr_callback = {
    .name = "ReduceLROnPlateau",
    .size = sizeof(reduce_lr),
    .on_train_begin = rlr_begin,
    .on_epoch_end = rlr_epoch_end,
};
