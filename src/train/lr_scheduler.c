/* Keras's LearningRateScheduler: before each epoch the learning rate
 * becomes the caller's schedule(epoch, lr); logs the rate under the key
 * of the model's Keras release (ck_log_style). */
#include "ck_callback.h"

#include <math.h>

static const ck_lr_scheduler_options *options(const ck_callback *cb)
{
    return cb->options;
}

static ck_status sched_begin(ck_callback *cb)
{
    if (!cb->options || !options(cb)->schedule)
        return ck_error(CK_ERR_ARGUMENT, "LearningRateScheduler: a schedule function is required");
    CK_TRY(
        ck_fit_set_learning_rate(cb->fit, ck_fit_learning_rate(cb->fit), "LearningRateScheduler"));
    const char *key = ck_log_style_of(cb->fit->model).scheduler_lr_key;
    return key ? ck_history_add_key(cb->fit->history, key) : CK_OK;
}

static ck_status sched_epoch_begin(ck_callback *cb, int epoch)
{
    const ck_lr_scheduler_options *o = options(cb);
    double lr = o->schedule(epoch, ck_fit_learning_rate(cb->fit), o->user_data);
    if (!isfinite(lr))
        return ck_error(CK_ERR_NUMERIC,
                        "LearningRateScheduler: the schedule returned %g at epoch %d", lr, epoch);
    CK_TRY(ck_fit_set_learning_rate(cb->fit, lr, "LearningRateScheduler"));
    if (o->verbose)
        ck_fit_print_rate(cb->fit, epoch, ck_log_style_of(cb->fit->model).scheduler_verb, lr);
    return CK_OK;
}

static ck_status sched_epoch_end(ck_callback *cb, int epoch, const ck_epoch_logs *logs)
{
    (void)epoch;
    (void)logs;
    const char *key = ck_log_style_of(cb->fit->model).scheduler_lr_key;
    if (key)
        ck_history_set_last(cb->fit->history, key, ck_fit_learning_rate(cb->fit));
    return CK_OK;
}

const ck_callback_kind ck_lr_scheduler_callback = {
    .name = "LearningRateScheduler",
    .size = sizeof(ck_callback),
    .on_train_begin = sched_begin,
    .on_epoch_begin = sched_epoch_begin,
    .on_epoch_end = sched_epoch_end,
};
