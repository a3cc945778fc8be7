/* Keras's ModelCheckpoint: saves the model (or its weights) after every
 * epoch or every save_freq batches, to a file name formatted from the
 * epoch and the logs, or with save_best_only only when the monitored value
 * improved. */
#include "ck_io.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

typedef struct checkpoint {
    ck_callback base;
    const ck_model_checkpoint_options *o;
    ck_monitor mon;
    double best;
    bool has_best; /* Keras's best is not its start (inf or None) */
    long batches_since_save;
    int epoch;
    bool warned; /* of a batch's logs without the monitored key */
} checkpoint;

/* Any logged key, with a value no integer field accepts, as Python's
 * format refuses 'd' for every logged (float) value. */
static bool any_key(const void *ctx, const char *key, double *v)
{
    (void)ctx;
    (void)key;
    *v = 0.5;
    return true;
}

static ck_status ckpt_begin(ck_callback *cb)
{
    checkpoint *c = (checkpoint *)cb;
    c->o = cb->options;
    if (!c->o || !c->o->filepath)
        return ck_error(CK_ERR_ARGUMENT, "ModelCheckpoint: a filepath is required");
    if (c->o->save_freq < 0)
        return ck_error(CK_ERR_ARGUMENT, "ModelCheckpoint: save_freq must be >= 0");
    /* A template that cannot be formatted fails now, not after an epoch's
     * training; whether its keys are logged is known only then. */
    char path[4096];
    CK_TRY(ck_format_template(c->o->filepath, 1, c->o->save_freq > 0, any_key, NULL, path,
                              sizeof path));
    c->has_best = c->o->use_initial_value_threshold;
    c->best = c->o->initial_value_threshold;
    if (!c->o->save_best_only)
        return CK_OK;
    return ck_monitor_init(&c->mon, cb->fit, c->o->monitor ? c->o->monitor : "val_loss", c->o->mode,
                           0, "ModelCheckpoint");
}

/* Template keys: the last history row at an epoch's end, the running
 * training logs during an epoch. */
typedef struct lookup_ctx {
    const ck_fit_info *fit;
    const ck_epoch_logs *batch_logs; /* NULL at an epoch's end */
} lookup_ctx;

static bool lookup(const void *p, const char *key, double *v)
{
    const lookup_ctx *ctx = p;
    if (!ctx->batch_logs) {
        *v = ck_history_last(ctx->fit->history, key);
        return ck_history_has_key(ctx->fit->history, key);
    }
    const ck_epoch_logs *l = ctx->batch_logs;
    if (strcmp(key, "loss") == 0) {
        *v = l->loss;
        return true;
    }
    for (int k = 0; k < l->n_metrics; k++)
        if (strcmp(key, l->metric_names[k]) == 0) {
            *v = l->metrics[k];
            return true;
        }
    return false;
}

/* Keras creates the file's directory (and its parents) when missing. */
static ck_status make_parent_dirs(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    for (char *p = strchr(dir + 1, '/'); p; p = strchr(p + 1, '/')) {
        *p = '\0';
        if (mkdir(dir, 0777) != 0 && errno != EEXIST)
            return ck_error(CK_ERR_IO, "ModelCheckpoint: cannot create directory %s: %s", dir,
                            strerror(errno));
        *p = '/';
    }
    return CK_OK;
}

static ck_status save_file(checkpoint *c, const char *path)
{
    CK_TRY(make_parent_dirs(path));
    ck_model *m = c->base.fit->model;
    /* NAME.weights.h5 holds Keras 3 weights alone whatever the option says:
     * Keras 3 loads that name only in that layout. */
    bool weights = c->o->save_weights_only || ck_file_format_of(path) == CK_FORMAT_KERAS_WEIGHTS;
    return weights ? ck_model_save_weights(m, path) : ck_model_save(m, path);
}

/* Keras 3.13 on says when the file is written. */
static ck_status save(checkpoint *c, const ck_log_style *style, const char *label, const char *path)
{
    CK_TRY(save_file(c, path));
    if (c->o->verbose && style->checkpoint_finished)
        ck_fit_print(c->base.fit, "\n%s: finished saving model to %s", label, path);
    return CK_OK;
}

/* The best so far as the model's Keras prints it. */
static const char *best_text(const checkpoint *c, const ck_log_style *style, char *buf, size_t len)
{
    if (c->has_best)
        snprintf(buf, len, "%.5f", c->best);
    else
        snprintf(buf, len, "%s", style->best_none ? "None" : c->mon.up ? "-inf" : "inf");
    return buf;
}

/* Keras started from inf (-inf for a value that should go up), which a
 * NaN or an infinite first value does not beat; 3.11's None is beaten by
 * any value, NaN too, and a NaN best by none. */
static bool improved(const checkpoint *c, const ck_log_style *style, double current)
{
    if (!c->has_best && style->best_none)
        return true;
    double best = c->has_best ? c->best : c->mon.up ? -INFINITY : INFINITY;
    return !isnan(best) && ck_monitor_improved(&c->mon, current, best);
}

/* A batch's logs never hold a val_ key. Keras warns (once, as Python
 * shows a warning) and skips the save, or from 3.10 saves it with no
 * message (model_checkpoint.py of v3.9.0 and v3.10.0; tf.keras's
 * callbacks.py of v2.15.0 skips too). */
static ck_status save_unmonitored(checkpoint *c, const ck_log_style *style, const char *label,
                                  const char *path)
{
    if (!c->warned)
        (void)ck_model_warn(c->base.fit->model,
                            "ModelCheckpoint: Can save best model only with %s available%s",
                            c->mon.key, style->checkpoint_unmonitored ? "." : ", skipping.");
    c->warned = true;
    return style->checkpoint_unmonitored ? save(c, style, label, path) : CK_OK;
}

static ck_status save_model(checkpoint *c, int epoch, long batch, const ck_epoch_logs *batch_logs)
{
    char path[4096];
    lookup_ctx ctx = {c->base.fit, batch_logs};
    CK_TRY(ck_format_template(c->o->filepath, epoch + 1, batch, lookup, &ctx, path, sizeof path));
    ck_log_style style = ck_log_style_of(c->base.fit->model);
    char label[32], best[32];
    const char *lead = style.checkpoint_newline ? "\n" : "";
    ck_fit_epoch_label(c->base.fit, epoch, label, sizeof label);
    if (!c->o->save_best_only) {
        if (c->o->verbose)
            ck_fit_print(c->base.fit, "%s%s: saving model to %s", lead, label, path);
        return save(c, &style, label, path);
    }
    double current = batch_logs ? NAN : ck_monitor_value(&c->mon, c->base.fit);
    if (batch_logs && !lookup(&ctx, c->mon.key, &current))
        return save_unmonitored(c, &style, label, path);
    if (!improved(c, &style, current)) {
        if (c->o->verbose)
            ck_fit_print(c->base.fit, "%s%s: %s did not improve%s%s", lead, label, c->mon.key,
                         style.checkpoint_from ? " from " : "",
                         style.checkpoint_from ? best_text(c, &style, best, sizeof best) : "");
        return CK_OK;
    }
    if (c->o->verbose)
        ck_fit_print(c->base.fit, "%s%s: %s improved from %s to %.5f, saving model to %s", lead,
                     label, c->mon.key, best_text(c, &style, best, sizeof best), current, path);
    c->best = current;
    c->has_best = true;
    return save(c, &style, label, path);
}

static ck_status ckpt_epoch_begin(ck_callback *cb, int epoch)
{
    checkpoint *c = (checkpoint *)cb;
    c->epoch = epoch;
    return CK_OK;
}

static ck_status ckpt_batch_end(ck_callback *cb, size_t batch, const ck_epoch_logs *logs)
{
    checkpoint *c = (checkpoint *)cb;
    if (c->o->save_freq == 0 || ++c->batches_since_save < c->o->save_freq)
        return CK_OK;
    c->batches_since_save = 0;
    return save_model(c, c->epoch, (long)batch + 1, logs);
}

static ck_status ckpt_epoch_end(ck_callback *cb, int epoch, const ck_epoch_logs *logs)
{
    checkpoint *c = (checkpoint *)cb;
    (void)logs;
    return c->o->save_freq == 0 ? save_model(c, epoch, 0, NULL) : CK_OK;
}

const ck_callback_kind ck_checkpoint_callback = {
    .name = "ModelCheckpoint",
    .size = sizeof(checkpoint),
    .first_rank_only = true,
    .on_train_begin = ckpt_begin,
    .on_epoch_begin = ckpt_epoch_begin,
    .on_batch_end = ckpt_batch_end,
    .on_epoch_end = ckpt_epoch_end,
};
