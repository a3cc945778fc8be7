/* Keras's ModelCheckpoint: saves the whole model after every epoch, or with
 * checkpoint_best_only only when the monitored value improved. */
#include "ck_io.h"

#include <math.h>

typedef struct checkpoint {
    ck_callback base;
    const char *monitor; /* NULL: save every epoch */
    double best;
} checkpoint;

/* checkpoint_best_only without a path still has its monitor checked. */
static bool ckpt_wanted(const ck_fit_options *o)
{
    return o->checkpoint_path || o->checkpoint_best_only;
}

static ck_status ckpt_begin(ck_callback *cb)
{
    checkpoint *c = (checkpoint *)cb;
    const ck_fit_options *o = cb->fit->options;
    const char *es = o->early_stopping.monitor;
    c->monitor = o->checkpoint_best_only ? (es ? es : "val_loss") : NULL;
    c->best = NAN;
    return ck_monitor_check(cb->fit, c->monitor);
}

static ck_status ckpt_epoch_end(ck_callback *cb, int epoch, const ck_epoch_logs *logs)
{
    checkpoint *c = (checkpoint *)cb;
    const char *path = cb->fit->options->checkpoint_path;
    (void)epoch;
    (void)logs;
    if (!path)
        return CK_OK;
    if (c->monitor) {
        double v = ck_history_last(cb->fit->history, c->monitor);
        if (!ck_monitor_improved(c->monitor, v, c->best, 0))
            return CK_OK;
        c->best = v;
    }
    return ck_model_save(cb->fit->model, path);
}

const ck_callback_kind ck_checkpoint_callback = {
    .name = "ModelCheckpoint",
    .size = sizeof(checkpoint),
    .wanted = ckpt_wanted,
    .on_train_begin = ckpt_begin,
    .on_epoch_end = ckpt_epoch_end,
};
