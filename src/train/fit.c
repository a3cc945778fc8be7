/* fit: the Keras training loop. Every epoch shuffles with the model's RNG,
 * trains batch by batch (batch.c), runs the validation pass, appends to the
 * history and hands the epoch to the callbacks, which print progress, save
 * checkpoints, change the learning rate and stop training. */
#include "ck_dist.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The callbacks the older ck_fit_options fields ask for, ahead of
 * ck_fit_options.callbacks. */
#define MAX_SPECS (CK_MAX_CALLBACKS + 4)

typedef struct fit_run {
    ck_fit_info info; /* what the callbacks see */
    ck_model *m;
    ck_train_state *s;
    const ck_fit_options *o;
    const ck_tensor *x, *y; /* training data (first n of the given x, y) */
    ck_tensor vx, vy;       /* validation data; vx.data NULL when none */
    float *sw, *vsw;        /* sample weights of x and of the validation data; NULL: none */
    float *vsw_copy;        /* vsw when it is a checked copy of validation_sample_weight */
    ck_layout lay, vlay;    /* of the training and the validation data */
    size_t n, batch;
    size_t *order; /* per-epoch sample order */
    ck_history *h;
    ck_callback_list callbacks;
    ck_model_checkpoint_options checkpoint; /* from checkpoint_path */
    ck_dist dist, *d;                       /* d: &dist in a data-parallel fit, else NULL */
} fit_run;

static ck_status prepare_validation(fit_run *r, const ck_tensor *x, const ck_tensor *y)
{
    const ck_fit_options *o = r->o;
    size_t total = (size_t)x->dims[0];
    r->n = total;
    r->vlay = r->lay;
    if (o->validation_x || o->validation_y) {
        if (!o->validation_x || !o->validation_y)
            return ck_error(CK_ERR_ARGUMENT,
                            "ck_model_fit: validation_x and validation_y go together");
        /* Open axes (timesteps) may differ from the training data. */
        CK_TRY(ck_data_layout(r->m, r->s, o->validation_x, o->validation_y, "validation data",
                              &r->vlay));
        r->vx = *o->validation_x;
        r->vy = *o->validation_y;
        CK_TRY(ck_sample_weights(r->s, &r->vlay, &r->vy, o->validation_sample_weight, NULL, 0,
                                 &r->vsw_copy));
        r->vsw = r->vsw_copy;
        return CK_OK;
    }
    if (o->validation_sample_weight)
        return ck_error(CK_ERR_ARGUMENT,
                        "ck_model_fit: validation_sample_weight needs validation_x and "
                        "validation_y (a validation_split splits sample_weight)");
    if (!(o->validation_split >= 0 && o->validation_split < 1))
        return ck_error(CK_ERR_ARGUMENT, "ck_model_fit: validation_split must be in [0, 1), got %g",
                        o->validation_split);
    if (o->validation_split == 0)
        return CK_OK;
    /* Keras keeps the first floor(N (1 - split)) samples for training. */
    r->n = (size_t)floor((double)total * (1.0 - o->validation_split));
    if (r->n == 0 || r->n == total)
        return ck_error(CK_ERR_ARGUMENT,
                        "ck_model_fit: validation_split %g of %zu samples leaves an empty set",
                        o->validation_split, total);
    r->vx = ck_batch_view(x, r->lay.x_sample, r->n, total - r->n);
    r->vy = ck_batch_view(y, r->lay.y_sample, r->n, total - r->n);
    /* Keras splits sample weights with the data; class weights apply to
     * training only, except in standalone Keras 2.0-2.3, whose fit made
     * them sample weights before the split. */
    if (r->sw && (o->sample_weight || ck_model_from_standalone_keras2(r->m)))
        r->vsw = r->sw + r->n;
    return CK_OK;
}

/* The callback list: the older shorthands first, then ck_fit_options.callbacks;
 * ProgbarLogger first or last as the model's Keras release put it. */
static int callback_specs(fit_run *r, ck_callback_spec *specs)
{
    const ck_fit_options *o = r->o;
    bool progbar_last = ck_log_style_of(r->m).progbar_last;
    int n = 0;
    if (o->verbose && !progbar_last)
        specs[n++] = (ck_callback_spec){"ProgbarLogger", NULL};
    if (o->checkpoint_path || o->checkpoint_best_only) {
        const char *es = o->early_stopping.monitor;
        r->checkpoint = (ck_model_checkpoint_options){.filepath = o->checkpoint_path,
                                                      .monitor = es ? es : "val_loss",
                                                      .save_best_only = o->checkpoint_best_only};
        specs[n++] = (ck_callback_spec){"ModelCheckpoint", &r->checkpoint};
    }
    if (o->early_stopping.monitor)
        specs[n++] = (ck_callback_spec){"EarlyStopping", &o->early_stopping};
    if (o->on_epoch_end)
        specs[n++] = (ck_callback_spec){"ck_epoch_function", o};
    for (int i = 0; i < CK_MAX_CALLBACKS && o->callbacks[i].class_name; i++)
        specs[n++] = o->callbacks[i];
    if (o->verbose && progbar_last)
        specs[n++] = (ck_callback_spec){"ProgbarLogger", NULL};
    return n;
}

static ck_status check_options(const ck_fit_options *o)
{
    if (o->epochs < 0 || o->batch_size < 0 || o->verbose < 0 || o->verbose > 2)
        return ck_error(CK_ERR_ARGUMENT,
                        "ck_model_fit: epochs and batch_size must be >= 0, verbose 0-2");
    int epochs = o->epochs ? o->epochs : 1;
    if (o->initial_epoch < 0 || o->initial_epoch >= epochs)
        return ck_error(CK_ERR_ARGUMENT,
                        "ck_model_fit: initial_epoch %d must be in [0, epochs) with epochs %d "
                        "(Keras's epochs is the epoch to reach, not a count)",
                        o->initial_epoch, epochs);
    return CK_OK;
}

static ck_status prepare_fit(fit_run *r, const ck_tensor *x, const ck_tensor *y,
                             const ck_callback_kind *const *kinds, int n_kinds)
{
    const ck_fit_options *o = r->o;
    CK_TRY(check_options(o));
    CK_TRY(ck_data_layout(r->m, r->s, x, y, "ck_model_fit", &r->lay));
    CK_TRY(ck_sample_weights(r->s, &r->lay, y, o->sample_weight, o->class_weight,
                             o->n_class_weights, &r->sw));
    CK_TRY(prepare_validation(r, x, y));
    CK_TRY(ck_batch_size(r->m, o->batch_size, (int64_t)r->n, "ck_model_fit", &r->batch));
    if (r->vx.data)
        CK_TRY(ck_batch_size(r->m, (int)r->batch, r->vx.dims[0], "ck_model_fit (validation)",
                             &(size_t){0}));
    /* Keras takes a batch larger than the data as one batch of all of it;
     * the batch buffers are sized by it (INT_MAX samples would not fit). */
    if (r->batch > r->n)
        r->batch = r->n;
    r->order = ck_alloc(r->n, sizeof *r->order);
    r->h = r->order ? ck_history_new(r->s, r->vx.data != NULL, o->initial_epoch,
                                     ck_log_style_of(r->m).key_order)
                    : NULL;
    if (!r->h)
        return CK_ERR_MEMORY;
    r->info = (ck_fit_info){.model = r->m,
                            .options = o,
                            .initial_epoch = o->initial_epoch,
                            .epochs = o->epochs ? o->epochs : 1,
                            .steps = (r->n + r->batch - 1) / r->batch,
                            .samples = r->n,
                            .batch_size = r->batch,
                            .has_validation = r->vx.data != NULL,
                            .history = r->h,
                            .log = o->log ? o->log : stdout,
                            .quiet = ck_comm_rank(o->comm) != 0};
    ck_callback_spec specs[MAX_SPECS];
    int n_specs = callback_specs(r, specs);
    CK_TRY(ck_callbacks_new(&r->callbacks, kinds, n_kinds, specs, n_specs, &r->info));
    return ck_callbacks_call(&r->callbacks, CK_ON_TRAIN_BEGIN, 0, NULL);
}

/* Metric state doubles of totals over data laid out as lay. */
static size_t state_doubles(const ck_train_state *s, const ck_layout *lay)
{
    size_t n = 0;
    for (int k = 0; k < s->n_metrics; k++)
        n += ck_metric_state_size(lay->metrics[k], &s->metric_params[k], lay->width);
    return n;
}

/* Joins the other ranks after preparing alone (status st). */
static ck_status start_ranks(fit_run *r, ck_status st)
{
    const ck_fit_options *o = r->o;
    size_t train_state = state_doubles(r->s, &r->lay), val_state = state_doubles(r->s, &r->vlay);
    const size_t sizes[] = {r->n,
                            r->vx.data ? (size_t)r->vx.dims[0] : 0,
                            r->batch,
                            (size_t)r->info.epochs,
                            (size_t)o->initial_epoch,
                            train_state,
                            o->no_shuffle};
    r->d = &r->dist;
    CK_TRY(ck_dist_start(r->d, o->comm, r->m, r->s, st, sizes, (int)(sizeof sizes / sizeof *sizes),
                         train_state > val_state ? train_state : val_state, o->comm_bucket_bytes));
    r->s->dist = r->d;
    return CK_OK;
}

static void gather(const float *src, size_t sample, const size_t *idx, size_t count, float *dst)
{
    for (size_t i = 0; i < count; i++)
        memcpy(dst + i * sample, src + idx[i] * sample, sample * sizeof *dst);
}

static void shuffle(fit_run *r)
{
    for (size_t i = 0; i < r->n; i++)
        r->order[i] = i;
    /* Fisher-Yates from the model's RNG: the same seed gives the same
     * order. Ranks share rank 0's, which dropout on them does not move. */
    ck_rng *rng = r->d ? &r->d->order : &r->m->rng;
    for (size_t i = r->n; !r->o->no_shuffle && i > 1; i--) {
        size_t j = (size_t)ck_rng_below(rng, i), tmp = r->order[i - 1];
        r->order[i - 1] = r->order[j];
        r->order[j] = tmp;
    }
}

/* A batch whose loss is not finite fails fit, unless a callback
 * (TerminateOnNaN) stops training on seeing it: then the epoch ends there
 * and fit returns normally with the weights of the last finite step. */
static ck_status train_batch(fit_run *r, size_t start, size_t b, size_t batch, ck_totals *t,
                             ck_epoch_logs *logs)
{
    ck_train_state *s = r->s;
    CK_TRY(ck_callbacks_call(&r->callbacks, CK_ON_BATCH_BEGIN, batch, NULL));
    gather(r->x->data, r->lay.x_sample, r->order + start, b, s->xb.data);
    gather(r->y->data, r->lay.y_sample, r->order + start, b, s->yb.data);
    if (r->sw)
        gather(r->sw, 1, r->order + start, b, s->swb.data);
    ck_tensor xb = *r->x;
    xb.dims[0] = (int64_t)b;
    xb.data = s->xb.data;
    ck_status st = ck_run_batch(r->m, s, &xb, s->yb.data, r->sw ? s->swb.data : NULL, true, t,
                                NULL);
    ck_totals_logs(s, r->d ? &r->d->sum : t, logs);
    if (st == CK_ERR_NUMERIC && !isfinite(logs->loss)) {
        char message[512];
        snprintf(message, sizeof message, "%s", ck_last_error());
        CK_TRY(ck_callbacks_call(&r->callbacks, CK_ON_BATCH_END, batch, logs));
        return r->info.stop ? CK_OK : ck_error(st, "%s", message);
    }
    CK_TRY(st);
    return ck_callbacks_call(&r->callbacks, CK_ON_BATCH_END, batch, logs);
}

/* This rank's slice of a global batch; then every rank learns of the
 * others' failures and stop requests, so all leave the epoch together. */
static ck_status train_slice(fit_run *r, size_t start, size_t b, size_t batch, ck_totals *t,
                             ck_epoch_logs *logs)
{
    size_t offset, count;
    ck_dist_slice(r->d, b, &offset, &count);
    ck_status st = train_batch(r, start + offset, count, batch, t, logs);
    bool stop = r->info.stop;
    CK_TRY(ck_dist_agree(r->d, st, &stop, NULL, 0));
    if (stop && !r->info.stop)
        ck_fit_stop(&r->info, "another rank stopped training");
    return CK_OK;
}

static ck_status train_epoch(fit_run *r, ck_epoch_logs *logs)
{
    ck_train_state *s = r->s;
    ck_totals t;
    shuffle(r);
    CK_TRY(ck_buf_reserve(&s->xb, r->batch * r->lay.x_sample));
    CK_TRY(ck_buf_reserve(&s->yb, r->batch * r->lay.y_sample));
    CK_TRY(ck_buf_reserve(&s->swb, r->batch));
    CK_TRY(ck_totals_init(&t, s, &r->lay));
    ck_status st = CK_OK;
    if (r->d) {
        ck_totals_free(&r->d->sum);
        st = ck_totals_init(&r->d->sum, s, &r->lay);
    }
    /* Keras checks stop_training after every batch. */
    for (size_t start = 0, batch = 0; st == CK_OK && start < r->n && !r->info.stop;
         start += r->batch, batch++) {
        size_t b = r->n - start < r->batch ? r->n - start : r->batch;
        st = r->d ? train_slice(r, start, b, batch, &t, logs)
                  : train_batch(r, start, b, batch, &t, logs);
    }
    ck_totals_free(&t);
    return st;
}

static ck_status validate_epoch(fit_run *r, ck_epoch_logs *logs)
{
    ck_totals t;
    logs->val_loss = NAN;
    for (int k = 0; k < CK_MAX_METRICS; k++)
        logs->val_metrics[k] = NAN;
    if (!r->vx.data)
        return CK_OK;
    if (r->d) {
        /* Each rank its shard, then the totals of all. */
        size_t offset, count;
        ck_dist_slice(r->d, (size_t)r->vx.dims[0], &offset, &count);
        ck_tensor vx = ck_batch_view(&r->vx, r->vlay.x_sample, offset, count);
        ck_tensor vy = ck_batch_view(&r->vy, r->vlay.y_sample, offset, count);
        ck_status st = ck_evaluate_all(r->m, r->s, &vx, &vy, r->vsw ? r->vsw + offset : NULL,
                                       &r->vlay, r->batch, NULL, &t);
        CK_TRY(ck_dist_totals(r->d, st, &t));
    } else {
        CK_TRY(ck_evaluate_all(r->m, r->s, &r->vx, &r->vy, r->vsw, &r->vlay, r->batch, NULL, &t));
    }
    logs->val_loss = ck_totals_loss(&t);
    for (int k = 0; k < r->s->n_metrics; k++)
        logs->val_metrics[k] = ck_totals_metric(&t, k);
    ck_totals_free(&t);
    return CK_OK;
}

/* Runs the epochs until the last one or a callback's stop request (Keras
 * stop_training, honoured after the batch that set it; the epoch is still
 * validated and every callback sees its end). */
static ck_status run_epochs(fit_run *r)
{
    for (int epoch = r->info.initial_epoch; epoch < r->info.epochs && !r->info.stop; epoch++) {
        ck_epoch_logs logs = {.epoch = epoch, .history = r->h};
        CK_TRY(ck_callbacks_call(&r->callbacks, CK_ON_EPOCH_BEGIN, (size_t)epoch, NULL));
        CK_TRY(train_epoch(r, &logs));
        CK_TRY(validate_epoch(r, &logs));
        CK_TRY(ck_history_append(r->h, &logs));
        CK_TRY(ck_callbacks_call(&r->callbacks, CK_ON_EPOCH_END, (size_t)epoch, &logs));
    }
    CK_TRY(ck_callbacks_call(&r->callbacks, CK_ON_TRAIN_END, 0, NULL));
    ck_history_set_stop_reason(r->h, r->info.stop_reason);
    return CK_OK;
}

ck_status ck_train_fit(ck_model *m, const ck_tensor *x, const ck_tensor *y, const ck_fit_options *o,
                       const ck_callback_kind *const *kinds, int n_kinds, ck_history **history)
{
    if (history)
        *history = NULL;
    fit_run r = {.m = m, .o = o, .x = x, .y = y};
    if (!o)
        return ck_error(CK_ERR_ARGUMENT, "ck_model_fit: options are NULL");
    /* An uncompiled model on one rank still tells the others. */
    ck_status compiled = ck_train_compiled(m, "ck_model_fit", &r.s);
    if (compiled != CK_OK)
        return o->comm ? ck_comm_agree(o->comm, compiled, NULL) : compiled;
    r.s->fit = &r.info;
    ck_status st = prepare_fit(&r, x, y, kinds, n_kinds);
    if (o->comm)
        st = start_ranks(&r, st);
    if (st == CK_OK)
        st = run_epochs(&r);
    if (r.d) {
        /* Ranks that ended well learn here of one that did not. */
        st = ck_dist_agree(r.d, st, NULL, NULL, 0);
        ck_dist_free(r.d);
        r.s->dist = NULL;
    }
    /* A failure is recorded as the history's reason for ending. */
    if (st != CK_OK && r.h)
        ck_history_set_stop_reason(r.h, ck_last_error());
    r.s->fit = NULL;
    ck_callbacks_free(&r.callbacks);
    free(r.order);
    free(r.sw);
    free(r.vsw_copy);
    /* The history of the epochs that ran is returned even when training failed. */
    if (history && ck_history_epochs(r.h) > 0)
        *history = r.h;
    else
        ck_history_free(r.h);
    return st;
}

static ck_status stop_training(ck_model *m, const char *reason)
{
    ck_train_state *s = ck_train_state_of(m);
    if (!s || !s->fit)
        return ck_error(CK_ERR_STATE, "ck_model_stop_training: model %s is not fitting", m->name);
    ck_fit_stop(s->fit, "%s", reason ? reason : "training stopped by a callback");
    return CK_OK;
}

ck_status ck_model_stop_training(ck_model *m, const char *reason)
{
    if (!m)
        return ck_error(CK_ERR_STATE, "ck_model_stop_training: model (NULL) is not fitting");
    ck_status st;
    /* Another thread than fit's is refused by the guard. */
    CK_GUARDED(st, m, CK_ACCESS_UPDATE, "ck_model_stop_training", stop_training(m, reason));
    return st;
}
