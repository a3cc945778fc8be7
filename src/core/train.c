/* compile, fit, evaluate and train_on_batch: the Keras training loop over
 * the model's forward/backward, a loss (losses.c), metrics (metrics.c)
 * and an optimizer (src/optim). Buffers only grow, so steps after the
 * first do not allocate. */
#include "ck_train.h"
#include "ck_vmath.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_METRICS 8
#define SLOT_NAME_MAX 320

typedef struct train_state {
    ck_loss loss;
    ck_optimizer opt;
    int n_metrics;
    char *metric_names[MAX_METRICS]; /* as given, e.g. "accuracy" */
    ck_metric_kind metrics[MAX_METRICS];
    ck_buf xb, yb, dout; /* gathered batch and d(loss)/d(output) */
    ck_buf frozen;       /* non-trainable weights before a training step */
    char *slot_names;    /* ck_optimizer_slot names, built on demand */
} train_state;

void ck_train_state_free(void *state)
{
    train_state *s = state;
    if (!s)
        return;
    for (int i = 0; i < s->n_metrics; i++)
        free(s->metric_names[i]);
    ck_optimizer_free(&s->opt);
    ck_buf_free(&s->xb);
    ck_buf_free(&s->yb);
    ck_buf_free(&s->dout);
    ck_buf_free(&s->frozen);
    free(s->slot_names);
    free(s);
}

/* ------------------------------------------------------------------ compile */

static ck_status setup_metrics(train_state *s, const ck_compile_options *o)
{
    for (int i = 0; i < MAX_METRICS && o->metrics[i]; i++) {
        CK_TRY(ck_metric_parse(o->metrics[i], &s->loss, &s->metrics[i]));
        s->metric_names[i] = ck_strdup(o->metrics[i]);
        if (!s->metric_names[i])
            return CK_ERR_MEMORY;
        s->n_metrics = i + 1;
    }
    return CK_OK;
}

static ck_status setup(train_state *s, ck_model *m, const ck_compile_options *o)
{
    const ck_layer *last = m->layers[m->n_layers - 1];
    CK_TRY(ck_loss_parse(o->loss, o->from_logits, &s->loss));
    if (o->huber_delta != 0) {
        if (s->loss.kind != CK_LOSS_HUBER || !(o->huber_delta > 0 && isfinite(o->huber_delta)))
            return ck_error(CK_ERR_ARGUMENT,
                            "compile: huber_delta %g needs loss huber and a finite "
                            "value > 0",
                            o->huber_delta);
        s->loss.delta = o->huber_delta;
    }
    s->loss.mask_mean_over_kept = m->semantics == CK_KERAS3;
    s->loss.bce_log_epsilon = m->semantics == CK_KERAS2;
    /* Only layers that skip their activation on request report it. */
    ck_act act = last->ops->output_activation ? last->ops->output_activation(last) : CK_ACT_LINEAR;
    s->loss.fused = ck_loss_fuses_with(&s->loss, act);
    CK_TRY(ck_optimizer_init(&s->opt, &o->optimizer));
    return setup_metrics(s, o);
}

ck_status ck_model_compile_with(ck_model *m, const ck_compile_options *o)
{
    if (!m || !o)
        return ck_error(CK_ERR_ARGUMENT, "ck_model_compile: NULL argument");
    CK_TRY(ck_model_build(m));
    train_state *s = ck_alloc(1, sizeof *s);
    if (!s)
        return CK_ERR_MEMORY;
    ck_status st = setup(s, m, o);
    if (st != CK_OK) {
        ck_train_state_free(s);
        return st;
    }
    ck_train_state_free(m->train);
    m->train = s;
    m->layers[m->n_layers - 1]->fused_loss_grad = s->loss.fused;
    return CK_OK;
}

static ck_status compiled_state(ck_model *m, const char *fn, train_state **s)
{
    if (!m)
        return ck_error(CK_ERR_ARGUMENT, "%s: model is NULL", fn);
    if (!m->train)
        return ck_error(CK_ERR_STATE, "%s: model %s is not compiled; call ck_model_compile first",
                        fn, m->name);
    *s = m->train;
    return CK_OK;
}

/* ------------------------------------------------------------------ data checks */

/* Floats per sample of x and y, the loss's view of the output: rows of
 * `width` values (samples, or samples x timesteps), and the metrics as
 * these shapes resolve them. */
typedef struct layout {
    size_t x_sample, y_sample, rows_per_sample, width;
    ck_metric_kind metrics[MAX_METRICS];
} layout;

static ck_status check_shapes(const ck_model *m, const ck_tensor *x, const ck_tensor *y,
                              const char *what)
{
    if (!x || !y || !x->data || !y->data)
        return ck_error(CK_ERR_ARGUMENT, "%s: x and y are required", what);
    if (x->rank < 1 || x->rank > CK_MAX_RANK || y->rank < 1 || y->rank > CK_MAX_RANK)
        return ck_error(CK_ERR_SHAPE, "%s: x and y need ranks between 1 and %d", what, CK_MAX_RANK);
    if (x->dims[0] <= 0 || x->dims[0] != y->dims[0])
        return ck_error(CK_ERR_SHAPE, "%s: x has %lld samples but y has %lld", what,
                        (long long)x->dims[0], (long long)y->dims[0]);
    const ck_shape *in = &m->input->out_shape;
    bool ok = x->rank == in->rank;
    for (int i = 1; ok && i < x->rank; i++)
        ok = x->dims[i] > 0 && (in->dims[i] == CK_NONE || in->dims[i] == x->dims[i]);
    if (!ok) {
        char want[96];
        ck_shape_format(in, want, sizeof want);
        return ck_error(CK_ERR_SHAPE, "%s: x does not match the model input shape %s", what, want);
    }
    return CK_OK;
}

static ck_status data_layout(const ck_model *m, const train_state *s, const ck_tensor *x,
                             const ck_tensor *y, const char *what, layout *lay)
{
    CK_TRY(check_shapes(m, x, y, what));
    ck_shape shape = {.rank = x->rank};
    memcpy(shape.dims, x->dims, sizeof shape.dims);
    for (int i = 0; i < m->n_layers; i++) {
        ck_shape out;
        CK_TRY(m->layers[i]->ops->output_shape(m->layers[i], &shape, &out));
        shape = out;
    }
    size_t n = (size_t)x->dims[0], out_sample = ck_shape_sample_size(&shape);
    lay->x_sample = ck_tensor_size(x) / n;
    lay->y_sample = ck_tensor_size(y) / n;
    lay->width = (size_t)shape.dims[shape.rank - 1];
    lay->rows_per_sample = out_sample / lay->width;
    size_t want = ck_loss_is_sparse(&s->loss) ? lay->rows_per_sample : out_sample;
    if (lay->y_sample != want)
        return ck_error(CK_ERR_SHAPE, "%s: y has %zu values per sample but loss %s needs %zu", what,
                        lay->y_sample, ck_loss_name(&s->loss), want);
    for (int k = 0; k < s->n_metrics; k++)
        CK_TRY(ck_metric_resolve(s->metrics[k], &s->loss, y->rank, y->dims[y->rank - 1], shape.rank,
                                 lay->width, &lay->metrics[k]));
    size_t bad = ck_vfind_nonfinite(x->data, n * lay->x_sample);
    if (bad < n * lay->x_sample)
        return ck_error(CK_ERR_NUMERIC, "%s: input value #%zu is not finite", what, bad);
    return ck_loss_check_targets(&s->loss, y->data, n * lay->y_sample, lay->width);
}

/* ------------------------------------------------------------------ one batch */

/* Running sums over an epoch, reduced the Keras way: the loss weighted by
 * batch size, metrics averaged over the rows the output mask keeps (Keras
 * hands the mask to metrics as sample weights). */
typedef struct totals {
    double loss, samples, rows;
    double metric[MAX_METRICS];
} totals;

static double totals_loss(const totals *t)
{
    return t->samples > 0 ? t->loss / t->samples : NAN;
}

static double totals_metric(const totals *t, int k)
{
    if (t->samples == 0)
        return NAN;
    return t->rows > 0 ? t->metric[k] / t->rows : 0; /* Keras divide_no_nan */
}

static void add_totals(totals *t, const train_state *s, const layout *lay, const ck_tensor *out,
                       const float *y, const float *mask, double loss, int64_t samples)
{
    size_t width = (size_t)out->dims[out->rank - 1], rows = ck_tensor_size(out) / width;
    t->loss += loss * (double)samples;
    t->samples += (double)samples;
    t->rows += (double)ck_mask_kept(mask, rows);
    for (int k = 0; k < s->n_metrics; k++)
        t->metric[k] += ck_metric_sum(lay->metrics[k], out->data, y, rows, width, mask);
}

/* Backward and one optimizer step after a training forward whose loss
 * gradient is in s->dout. */
static ck_status step(ck_model *m, train_state *s, const ck_tensor *out, double loss)
{
    if (!isfinite(loss))
        return ck_error(CK_ERR_NUMERIC,
                        "the loss is %s; training stopped, the weights are the last "
                        "finite ones",
                        isnan(loss) ? "NaN" : "infinite");
    memset(m->grads, 0, m->n_params * sizeof *m->grads);
    ck_tensor dy = *out;
    dy.data = s->dout.data;
    CK_TRY(ck_model_backward(m, &dy));
    return ck_optimizer_step(&s->opt, m);
}

/* Forward on one batch and, when training, backward and one optimizer
 * step. The loss and metrics are those of the forward, before the step. */
static ck_status forward_and_step(ck_model *m, train_state *s, const layout *lay,
                                  const ck_tensor *x, const float *y, bool train, totals *t,
                                  double *loss_out)
{
    CK_TRY(ck_model_forward(m, x, train));
    const ck_tensor *out = &m->act_views[m->n_layers - 1];
    const float *mask = m->mask_views[m->n_layers - 1];
    size_t n = ck_tensor_size(out), width = (size_t)out->dims[out->rank - 1];
    if (train)
        CK_TRY(ck_buf_reserve(&s->dout, n));
    /* A fused loss takes the logits: same gradient, and the TensorFlow value
     * when a probability is below the 1e-7 clip. */
    const float *logits = m->layers[m->n_layers - 1]->logits;
    ck_loss on_logits = s->loss;
    if (s->loss.fused && logits) {
        on_logits.from_logits = true;
        on_logits.fused = false;
    }
    double loss = ck_loss_compute_masked(&on_logits, s->loss.fused && logits ? logits : out->data,
                                         y, n / width, width, mask, train ? s->dout.data : NULL);
    if (loss_out)
        *loss_out = loss;
    if (t)
        add_totals(t, s, lay, out, y, mask, loss, x->dims[0]);
    return train ? step(m, s, out, loss) : CK_OK;
}

static ck_status run_batch(ck_model *m, train_state *s, const layout *lay, const ck_tensor *x,
                           const float *y, bool train, totals *t, double *loss_out)
{
    if (!train)
        return forward_and_step(m, s, lay, x, y, false, t, loss_out);
    /* A training forward moves non-trainable state (BatchNormalization's
     * moving statistics); a refused step must not keep that move. */
    size_t n_frozen = m->n_params - m->n_trainable;
    float *frozen = m->params + m->n_trainable;
    CK_TRY(ck_buf_reserve(&s->frozen, n_frozen));
    if (n_frozen)
        memcpy(s->frozen.data, frozen, n_frozen * sizeof *frozen);
    ck_status st = forward_and_step(m, s, lay, x, y, true, t, loss_out);
    if (st != CK_OK && n_frozen)
        memcpy(frozen, s->frozen.data, n_frozen * sizeof *frozen);
    return st;
}

static ck_tensor batch_view(const ck_tensor *x, size_t sample, size_t start, size_t count)
{
    ck_tensor v = *x;
    v.dims[0] = (int64_t)count;
    v.data = x->data + start * sample;
    return v;
}

static ck_status evaluate_all(ck_model *m, train_state *s, const ck_tensor *x, const ck_tensor *y,
                              const layout *lay, size_t batch, totals *t)
{
    size_t n = (size_t)x->dims[0];
    memset(t, 0, sizeof *t);
    for (size_t start = 0; start < n; start += batch) {
        size_t b = n - start < batch ? n - start : batch;
        ck_tensor xb = batch_view(x, lay->x_sample, start, b);
        CK_TRY(run_batch(m, s, lay, &xb, y->data + start * lay->y_sample, false, t, NULL));
    }
    return CK_OK;
}

ck_status ck_model_evaluate(ck_model *m, const ck_tensor *x, const ck_tensor *y, int batch_size,
                            double *loss, double *metrics)
{
    train_state *s = NULL;
    layout lay;
    totals t;
    CK_TRY(compiled_state(m, "ck_model_evaluate", &s));
    CK_TRY(data_layout(m, s, x, y, "ck_model_evaluate", &lay));
    if (batch_size < 0)
        return ck_error(CK_ERR_ARGUMENT, "ck_model_evaluate: batch_size must be >= 0");
    CK_TRY(evaluate_all(m, s, x, y, &lay, batch_size ? (size_t)batch_size : 32, &t));
    if (loss)
        *loss = totals_loss(&t);
    for (int k = 0; metrics && k < s->n_metrics; k++)
        metrics[k] = totals_metric(&t, k);
    return CK_OK;
}

ck_status ck_model_train_on_batch(ck_model *m, const ck_tensor *x, const ck_tensor *y, double *loss)
{
    train_state *s = NULL;
    layout lay;
    CK_TRY(compiled_state(m, "ck_model_train_on_batch", &s));
    CK_TRY(data_layout(m, s, x, y, "ck_model_train_on_batch", &lay));
    return run_batch(m, s, &lay, x, y->data, true, NULL, loss);
}

/* ------------------------------------------------------------------ history */

#define MAX_KEYS (2 * (MAX_METRICS + 1))

struct ck_history {
    int n_keys, n_epochs;
    char keys[MAX_KEYS][CK_NAME_MAX + 4];
    double *values; /* n_epochs rows of n_keys */
};

static ck_history *history_new(const train_state *s, bool has_val)
{
    ck_history *h = ck_alloc(1, sizeof *h);
    if (!h)
        return NULL;
    for (int v = 0; v <= (int)has_val; v++) {
        const char *prefix = v ? "val_" : "";
        snprintf(h->keys[h->n_keys++], sizeof h->keys[0], "%sloss", prefix);
        for (int k = 0; k < s->n_metrics; k++)
            snprintf(h->keys[h->n_keys++], sizeof h->keys[0], "%s%s", prefix, s->metric_names[k]);
    }
    return h;
}

static ck_status history_append(ck_history *h, const ck_epoch_logs *logs)
{
    size_t n = (size_t)(h->n_epochs + 1) * (size_t)h->n_keys;
    double *p = ck_realloc_array(h->values, n, sizeof *p);
    if (!p)
        return CK_ERR_MEMORY;
    h->values = p;
    double *row = p + (size_t)h->n_epochs * (size_t)h->n_keys;
    int per = logs->n_metrics + 1;
    for (int i = 0; i < h->n_keys; i++) {
        bool val = i >= per;
        int k = i % per;
        row[i] = k == 0 ? (val ? logs->val_loss : logs->loss)
                        : (val ? logs->val_metrics[k - 1] : logs->metrics[k - 1]);
    }
    h->n_epochs++;
    return CK_OK;
}

static int history_key(const ck_history *h, const char *key)
{
    for (int i = 0; key && i < h->n_keys; i++)
        if (strcmp(h->keys[i], key) == 0)
            return i;
    return -1;
}

int ck_history_epochs(const ck_history *h)
{
    return h ? h->n_epochs : 0;
}

ck_status ck_history_get(const ck_history *h, const char *key, int epoch, double *value)
{
    if (!h || !key || !value)
        return ck_error(CK_ERR_ARGUMENT, "ck_history_get: NULL argument");
    int k = history_key(h, key);
    if (k < 0)
        return ck_error(CK_ERR_NAME, "history has no key '%s'", key);
    if (epoch < 0 || epoch >= h->n_epochs)
        return ck_error(CK_ERR_ARGUMENT, "history has %d epochs, no epoch %d", h->n_epochs, epoch);
    *value = h->values[(size_t)epoch * (size_t)h->n_keys + (size_t)k];
    return CK_OK;
}

void ck_history_free(ck_history *h)
{
    if (!h)
        return;
    free(h->values);
    free(h);
}

/* ------------------------------------------------------------------ progress output */

typedef struct progress {
    FILE *out;
    int verbose;
    bool tty;
    int epochs;
    size_t steps;
    double start;
    int last_len;
} progress;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Appends " - name: value" the way Keras's Progbar formats numbers. */
static void append_value(char *buf, size_t len, const char *prefix, const char *name, double v)
{
    size_t used = strlen(buf);
    snprintf(buf + used, len - used, fabs(v) > 1e-3 ? " - %s%s: %.4f" : " - %s%s: %.4e", prefix,
             name, v);
}

static void append_logs(char *buf, size_t len, const ck_epoch_logs *logs, bool val)
{
    append_value(buf, len, val ? "val_" : "", "loss", val ? logs->val_loss : logs->loss);
    for (int k = 0; k < logs->n_metrics; k++)
        append_value(buf, len, val ? "val_" : "", logs->metric_names[k],
                     val ? logs->val_metrics[k] : logs->metrics[k]);
}

static void format_bar(char *buf, size_t len, size_t step, size_t steps)
{
    enum { WIDTH = 30 };
    char bar[WIDTH + 1];
    size_t done = WIDTH * step / steps;
    for (size_t i = 0; i < WIDTH; i++)
        bar[i] = i + 1 < done ? '=' : (i + 1 == done ? (step < steps ? '>' : '=') : '.');
    bar[WIDTH] = '\0';
    int digits = snprintf(NULL, 0, "%zu", steps);
    snprintf(buf, len, "%*zu/%zu [%s]", digits, step, steps, bar);
}

static void format_duration(char *buf, size_t len, double seconds)
{
    long s = (long)seconds;
    if (s >= 3600)
        snprintf(buf, len, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
    else if (s >= 60)
        snprintf(buf, len, "%ld:%02ld", s / 60, s % 60);
    else
        snprintf(buf, len, "%lds", s);
}

static void progress_epoch_start(progress *p, int epoch)
{
    p->start = now_seconds();
    p->last_len = 0;
    if (p->verbose)
        fprintf(p->out, "Epoch %d/%d\n", epoch + 1, p->epochs);
}

/* Live bar after each step: only on a terminal, where \r can redraw it. */
static void progress_step(progress *p, size_t step, const ck_epoch_logs *running)
{
    if (p->verbose != 1 || !p->tty || step == p->steps)
        return;
    char line[1024], eta[32];
    format_bar(line, sizeof line, step, p->steps);
    double elapsed = now_seconds() - p->start;
    format_duration(eta, sizeof eta, elapsed / (double)step * (double)(p->steps - step));
    size_t used = strlen(line);
    snprintf(line + used, sizeof line - used, " - ETA: %s", eta);
    append_logs(line, sizeof line, running, false);
    int len = (int)strlen(line);
    fprintf(p->out, "\r%s%*s", line, p->last_len > len ? p->last_len - len : 0, "");
    fflush(p->out);
    p->last_len = len;
}

static void progress_epoch_end(progress *p, const ck_epoch_logs *logs, bool has_val)
{
    if (!p->verbose)
        return;
    char line[1024];
    double elapsed = now_seconds() - p->start, per_step = elapsed / (double)p->steps;
    if (p->verbose == 1) {
        format_bar(line, sizeof line, p->steps, p->steps);
        const char *unit = per_step >= 1 ? "s" : (per_step >= 1e-3 ? "ms" : "us");
        double scale = per_step >= 1 ? 1 : (per_step >= 1e-3 ? 1e3 : 1e6);
        size_t used = strlen(line);
        snprintf(line + used, sizeof line - used, " - %.0fs %.0f%s/step", elapsed, per_step * scale,
                 unit);
    } else {
        /* Keras prints the epoch time in whole seconds (65s, not 1:05). */
        snprintf(line, sizeof line, "%zu/%zu - %.0fs", p->steps, p->steps, elapsed);
    }
    append_logs(line, sizeof line, logs, false);
    if (has_val)
        append_logs(line, sizeof line, logs, true);
    int len = (int)strlen(line);
    bool redraw = p->verbose == 1 && p->tty;
    fprintf(p->out, "%s%s%*s\n", redraw ? "\r" : "", line,
            redraw && p->last_len > len ? p->last_len - len : 0, "");
    fflush(p->out);
}

/* ------------------------------------------------------------------ fit */

/* Keras's "auto" mode: accuracies improve upwards, everything else downwards. */
static bool improved(const char *monitor, double current, double best, double min_delta)
{
    if (isnan(current))
        return false;
    if (isnan(best))
        return true;
    if (strstr(monitor, "acc"))
        return current - fabs(min_delta) > best;
    return current + fabs(min_delta) < best;
}

typedef struct fit_run {
    ck_model *m;
    train_state *s;
    const ck_fit_options *o;
    const ck_tensor *x, *y; /* training data (first n of the given x, y) */
    ck_tensor vx, vy;       /* validation data; vx.data NULL when none */
    layout lay, vlay;       /* of the training and the validation data */
    size_t n, batch;
    size_t *order; /* per-epoch sample order */
    ck_history *h;
    progress prog;
    /* early stopping and checkpointing */
    const char *es_monitor, *ckpt_monitor;
    double es_best, ckpt_best;
    int wait;
    float *best_weights;
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
        CK_TRY(
            data_layout(r->m, r->s, o->validation_x, o->validation_y, "validation data", &r->vlay));
        r->vx = *o->validation_x;
        r->vy = *o->validation_y;
        return CK_OK;
    }
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
    r->vx = batch_view(x, r->lay.x_sample, r->n, total - r->n);
    r->vy = batch_view(y, r->lay.y_sample, r->n, total - r->n);
    return CK_OK;
}

static ck_status check_monitor(const fit_run *r, const char *monitor)
{
    if (monitor && history_key(r->h, monitor) < 0)
        return ck_error(CK_ERR_ARGUMENT,
                        "ck_model_fit: cannot monitor '%s'; it is not computed "
                        "(loss, metrics, and val_ versions with validation data)",
                        monitor);
    return CK_OK;
}

static ck_status prepare_fit(fit_run *r, const ck_tensor *x, const ck_tensor *y)
{
    const ck_fit_options *o = r->o;
    if (o->epochs < 0 || o->batch_size < 0 || o->verbose < 0 || o->verbose > 2)
        return ck_error(CK_ERR_ARGUMENT,
                        "ck_model_fit: epochs and batch_size must be >= 0, verbose 0-2");
    CK_TRY(data_layout(r->m, r->s, x, y, "ck_model_fit", &r->lay));
    CK_TRY(prepare_validation(r, x, y));
    r->batch = o->batch_size ? (size_t)o->batch_size : 32;
    r->order = ck_alloc(r->n, sizeof *r->order);
    r->h = r->order ? history_new(r->s, r->vx.data != NULL) : NULL;
    if (!r->h)
        return CK_ERR_MEMORY;
    r->es_monitor = o->early_stopping.monitor;
    r->ckpt_monitor = o->checkpoint_best_only ? (r->es_monitor ? r->es_monitor : "val_loss") : NULL;
    CK_TRY(check_monitor(r, r->es_monitor));
    CK_TRY(check_monitor(r, r->ckpt_monitor));
    r->es_best = r->ckpt_best = NAN;
    if (r->es_monitor && o->early_stopping.restore_best_weights) {
        r->best_weights = ck_alloc(r->m->n_params, sizeof(float));
        if (!r->best_weights)
            return CK_ERR_MEMORY;
    }
    r->prog = (progress){.out = o->log ? o->log : stdout,
                         .verbose = o->verbose,
                         .epochs = o->epochs ? o->epochs : 1,
                         .steps = (r->n + r->batch - 1) / r->batch};
    r->prog.tty = isatty(fileno(r->prog.out));
    return CK_OK;
}

static void fill_logs(ck_epoch_logs *logs, const train_state *s, const totals *t)
{
    logs->loss = totals_loss(t);
    logs->n_metrics = s->n_metrics;
    for (int k = 0; k < s->n_metrics; k++) {
        logs->metric_names[k] = s->metric_names[k];
        logs->metrics[k] = totals_metric(t, k);
    }
}

static void gather(const float *src, size_t sample, const size_t *idx, size_t count, float *dst)
{
    for (size_t i = 0; i < count; i++)
        memcpy(dst + i * sample, src + idx[i] * sample, sample * sizeof *dst);
}

static ck_status train_epoch(fit_run *r, ck_epoch_logs *logs)
{
    train_state *s = r->s;
    totals t = {0};
    for (size_t i = 0; i < r->n; i++)
        r->order[i] = i;
    /* Fisher-Yates from the model's RNG: the same seed gives the same order. */
    for (size_t i = r->n; !r->o->no_shuffle && i > 1; i--) {
        size_t j = (size_t)ck_rng_below(&r->m->rng, i), tmp = r->order[i - 1];
        r->order[i - 1] = r->order[j];
        r->order[j] = tmp;
    }
    CK_TRY(ck_buf_reserve(&s->xb, r->batch * r->lay.x_sample));
    CK_TRY(ck_buf_reserve(&s->yb, r->batch * r->lay.y_sample));
    for (size_t start = 0, step = 1; start < r->n; start += r->batch, step++) {
        size_t b = r->n - start < r->batch ? r->n - start : r->batch;
        gather(r->x->data, r->lay.x_sample, r->order + start, b, s->xb.data);
        gather(r->y->data, r->lay.y_sample, r->order + start, b, s->yb.data);
        ck_tensor xb = *r->x;
        xb.dims[0] = (int64_t)b;
        xb.data = s->xb.data;
        CK_TRY(run_batch(r->m, s, &r->lay, &xb, s->yb.data, true, &t, NULL));
        fill_logs(logs, s, &t);
        progress_step(&r->prog, step, logs);
    }
    return CK_OK;
}

static ck_status validate_epoch(fit_run *r, ck_epoch_logs *logs)
{
    totals t;
    logs->val_loss = NAN;
    for (int k = 0; k < MAX_METRICS; k++)
        logs->val_metrics[k] = NAN;
    if (!r->vx.data)
        return CK_OK;
    CK_TRY(evaluate_all(r->m, r->s, &r->vx, &r->vy, &r->vlay, r->batch, &t));
    logs->val_loss = totals_loss(&t);
    for (int k = 0; k < r->s->n_metrics; k++)
        logs->val_metrics[k] = totals_metric(&t, k);
    return CK_OK;
}

static double monitored(const fit_run *r, const char *monitor)
{
    double v = NAN;
    ck_history_get(r->h, monitor, r->h->n_epochs - 1, &v);
    return v;
}

static ck_status checkpoint(fit_run *r)
{
    if (!r->o->checkpoint_path)
        return CK_OK;
    if (r->ckpt_monitor) {
        double v = monitored(r, r->ckpt_monitor);
        if (!improved(r->ckpt_monitor, v, r->ckpt_best, 0))
            return CK_OK;
        r->ckpt_best = v;
    }
    return ck_model_save(r->m, r->o->checkpoint_path);
}

static void restore_best(fit_run *r)
{
    if (r->best_weights && !isnan(r->es_best))
        memcpy(r->m->params, r->best_weights, r->m->n_params * sizeof(float));
}

/* Keras EarlyStopping.on_epoch_end; returns true when training should stop. */
static bool early_stop(fit_run *r, int epoch)
{
    const ck_early_stopping *es = &r->o->early_stopping;
    if (!r->es_monitor)
        return false;
    double v = monitored(r, r->es_monitor);
    if (improved(r->es_monitor, v, r->es_best, es->min_delta)) {
        r->es_best = v;
        r->wait = 0;
        if (r->best_weights)
            memcpy(r->best_weights, r->m->params, r->m->n_params * sizeof(float));
        return false;
    }
    if (++r->wait < es->patience || epoch == 0)
        return false;
    /* tf.keras 2 restores here, so only when it stops; Keras 3 in on_train_end. */
    if (r->m->semantics != CK_KERAS3)
        restore_best(r);
    return true;
}

/* Runs the epochs; *stop receives the error for a stop requested by early
 * stopping or the callback (both Keras stop_training after the epoch). */
static ck_status epoch_loop(fit_run *r, ck_status *stop)
{
    int epochs = r->o->epochs ? r->o->epochs : 1;
    for (int epoch = 0; epoch < epochs; epoch++) {
        ck_epoch_logs logs = {.epoch = epoch};
        progress_epoch_start(&r->prog, epoch);
        CK_TRY(train_epoch(r, &logs));
        CK_TRY(validate_epoch(r, &logs));
        CK_TRY(history_append(r->h, &logs));
        progress_epoch_end(&r->prog, &logs, r->vx.data != NULL);
        CK_TRY(checkpoint(r));
        /* Every callback sees the epoch, the stopping one included. */
        bool es_stop = early_stop(r, epoch);
        bool user_stop = r->o->on_epoch_end && r->o->on_epoch_end(r->m, &logs, r->o->user_data);
        if (es_stop) {
            *stop = ck_error(CK_ERR_STOPPED,
                             "early stopping after epoch %d: %s did not improve for "
                             "%d epochs",
                             epoch + 1, r->es_monitor, r->o->early_stopping.patience);
            return CK_OK;
        }
        if (user_stop) {
            *stop = ck_error(CK_ERR_STOPPED,
                             "training stopped by the epoch callback after epoch %d", epoch + 1);
            return CK_OK;
        }
    }
    return CK_OK;
}

static ck_status run_epochs(fit_run *r)
{
    ck_status stop = CK_OK;
    CK_TRY(epoch_loop(r, &stop));
    /* Keras 3 EarlyStopping.on_train_end restores the best weights whether
     * or not it stopped training. */
    if (r->m->semantics == CK_KERAS3)
        restore_best(r);
    return stop;
}

ck_status ck_model_fit_with(ck_model *m, const ck_tensor *x, const ck_tensor *y,
                            const ck_fit_options *o, ck_history **history)
{
    if (history)
        *history = NULL;
    fit_run r = {.m = m, .o = o, .x = x, .y = y};
    CK_TRY(compiled_state(m, "ck_model_fit", &r.s));
    if (!o)
        return ck_error(CK_ERR_ARGUMENT, "ck_model_fit: options are NULL");
    ck_status st = prepare_fit(&r, x, y);
    if (st == CK_OK)
        st = run_epochs(&r);
    free(r.order);
    free(r.best_weights);
    /* The history of the epochs that ran is returned even when training stopped early. */
    if (history && r.h && r.h->n_epochs > 0)
        *history = r.h;
    else
        ck_history_free(r.h);
    return st;
}

/* ------------------------------------------------------------------ optimizer slots */

int ck_optimizer_slot_count(const ck_model *m)
{
    const train_state *s = m ? m->train : NULL;
    if (!s || !s->opt.created)
        return 0;
    int n_weights = 0;
    for (int i = 0; i < m->n_layers; i++)
        for (int k = 0; k < m->layers[i]->n_weights; k++)
            n_weights += m->layers[i]->weights[k].trainable;
    return 1 + s->opt.n_slots * n_weights;
}

size_t ck_optimizer_param_count(const ck_model *m, size_t *bytes)
{
    const train_state *s = m ? m->train : NULL;
    *bytes = 0;
    if (!s || !s->opt.created)
        return 0;
    size_t slots = (size_t)s->opt.n_slots * m->n_trainable;
    *bytes = 4 * (slots + 1) + 8;
    return slots + 2;
}

/* The j-th trainable weight in parameter order, and its layer. */
static ck_weight *trainable_weight(ck_model *m, int j, ck_layer **layer)
{
    for (int i = 0; i < m->n_layers; i++)
        for (int k = 0; k < m->layers[i]->n_weights; k++)
            if (m->layers[i]->weights[k].trainable && j-- == 0) {
                *layer = m->layers[i];
                return &m->layers[i]->weights[k];
            }
    return NULL;
}

/* Keras 2 names: "Adam/iter:0", then "Adam/<layer>/[<cell>/]<weight>/<slot>:0"
 * for every slot kind over every trainable weight. */
static ck_status build_slot_names(ck_model *m, train_state *s, int count)
{
    if (s->slot_names)
        return CK_OK;
    s->slot_names = ck_alloc((size_t)count, SLOT_NAME_MAX);
    if (!s->slot_names)
        return CK_ERR_MEMORY;
    const char *cls = s->opt.kind->class_name;
    snprintf(s->slot_names, SLOT_NAME_MAX, "%s/iter:0", cls);
    int n_weights = (count - 1) / (s->opt.n_slots ? s->opt.n_slots : 1);
    for (int i = 1; i < count; i++) {
        ck_layer *l;
        ck_weight *w = trainable_weight(m, (i - 1) % n_weights, &l);
        snprintf(s->slot_names + (size_t)i * SLOT_NAME_MAX, SLOT_NAME_MAX, "%s/%s/%s%s%s/%s:0", cls,
                 l->name, w->k2_scope, w->k2_scope[0] ? "/" : "", w->name,
                 s->opt.slot_names[(i - 1) / n_weights]);
    }
    return CK_OK;
}

ck_status ck_optimizer_slot(ck_model *m, int i, const char **name, float **data, int *rank,
                            int64_t dims[4])
{
    int count = ck_optimizer_slot_count(m);
    if (!name || !data || !rank || !dims)
        return ck_error(CK_ERR_ARGUMENT, "ck_optimizer_slot: NULL argument");
    if (i < 0 || i >= count)
        return ck_error(CK_ERR_ARGUMENT, "optimizer slot %d does not exist (the optimizer has %d)",
                        i, count);
    train_state *s = m->train;
    CK_TRY(build_slot_names(m, s, count));
    *name = s->slot_names + (size_t)i * SLOT_NAME_MAX;
    memset(dims, 0, 4 * sizeof *dims);
    if (i == 0) {
        *data = ck_optimizer_iter_slot(&s->opt);
        *rank = 0;
        return CK_OK;
    }
    int n_weights = (count - 1) / s->opt.n_slots;
    ck_layer *l;
    ck_weight *w = trainable_weight(m, (i - 1) % n_weights, &l);
    *data = s->opt.state + (size_t)((i - 1) / n_weights) * s->opt.n + (size_t)(w->data - m->params);
    *rank = w->rank;
    memcpy(dims, w->dims, sizeof w->dims);
    return CK_OK;
}

ck_status ck_optimizer_create_slots(ck_model *m)
{
    train_state *s = NULL;
    CK_TRY(compiled_state(m, "ck_optimizer_create_slots", &s));
    return ck_optimizer_ensure_state(&s->opt, m->n_trainable);
}

void ck_optimizer_drop_slots(ck_model *m)
{
    train_state *s = m ? m->train : NULL;
    if (s)
        ck_optimizer_free(&s->opt);
}

/* ------------------------------------------------------------------ training_config */

static cJSON *loss_to_json(const ck_loss *loss)
{
    bool huber = loss->kind == CK_LOSS_HUBER;
    if (!loss->from_logits && (!huber || loss->delta == 1.0))
        return cJSON_CreateString(ck_loss_name(loss));
    cJSON *obj = cJSON_CreateObject(), *cfg = cJSON_AddObjectToObject(obj, "config");
    bool ok = cfg && cJSON_AddStringToObject(obj, "class_name", ck_loss_class_name(loss)) &&
              cJSON_AddStringToObject(cfg, "name", ck_loss_name(loss)) &&
              cJSON_AddStringToObject(cfg, "reduction", "auto") &&
              (huber ? cJSON_AddNumberToObject(cfg, "delta", loss->delta)
                     : cJSON_AddBoolToObject(cfg, "from_logits", true));
    if (!ok) {
        cJSON_Delete(obj);
        return NULL;
    }
    return obj;
}

static bool metrics_to_json(const train_state *s, cJSON *root)
{
    cJSON *metrics = cJSON_AddArrayToObject(root, "metrics");
    for (int k = 0; metrics && k < s->n_metrics; k++) {
        cJSON *name = cJSON_CreateString(s->metric_names[k]);
        if (!name || !cJSON_AddItemToArray(metrics, name)) {
            cJSON_Delete(name);
            return false;
        }
    }
    return metrics != NULL;
}

/* Adds item to obj, or frees it when either is missing or adding fails. */
static bool add_item(cJSON *obj, const char *key, cJSON *item)
{
    if (item && cJSON_AddItemToObject(obj, key, item))
        return true;
    cJSON_Delete(item);
    return false;
}

cJSON *ck_train_config_to_json(const ck_model *m)
{
    const train_state *s = m ? m->train : NULL;
    if (!s)
        return NULL;
    cJSON *root = cJSON_CreateObject();
    bool ok = root && add_item(root, "loss", loss_to_json(&s->loss)) && metrics_to_json(s, root) &&
              cJSON_AddNullToObject(root, "weighted_metrics") &&
              cJSON_AddNullToObject(root, "loss_weights") &&
              add_item(root, "optimizer_config", ck_optimizer_to_json(&s->opt));
    if (!ok) {
        cJSON_Delete(root);
        ck_error(CK_ERR_MEMORY, "out of memory writing the training config");
        return NULL;
    }
    return root;
}

/* Loss options ckeras cannot honour are refused rather than ignored. */
static ck_status check_loss_options(const cJSON *cfg)
{
    const cJSON *ls = cJSON_GetObjectItemCaseSensitive(cfg, "label_smoothing");
    if (cJSON_IsNumber(ls) && ls->valuedouble != 0)
        return ck_error(CK_ERR_UNSUPPORTED, "training_config: loss option label_smoothing is not "
                                            "supported");
    const cJSON *red = cJSON_GetObjectItemCaseSensitive(cfg, "reduction");
    if (red && !cJSON_IsNull(red) &&
        !(cJSON_IsString(red) && (strcmp(red->valuestring, "auto") == 0 ||
                                  strcmp(red->valuestring, "sum_over_batch_size") == 0)))
        return ck_error(CK_ERR_UNSUPPORTED,
                        "training_config: loss option reduction %s is not "
                        "supported (auto and sum_over_batch_size are)",
                        cJSON_IsString(red) ? red->valuestring : "(not a string)");
    const cJSON *ignore = cJSON_GetObjectItemCaseSensitive(cfg, "ignore_class");
    if (ignore && !cJSON_IsNull(ignore))
        return ck_error(CK_ERR_UNSUPPORTED, "training_config: loss option ignore_class is not "
                                            "supported");
    const cJSON *axis = cJSON_GetObjectItemCaseSensitive(cfg, "axis");
    if (axis && !cJSON_IsNull(axis) && !(cJSON_IsNumber(axis) && axis->valuedouble == -1))
        return ck_error(CK_ERR_UNSUPPORTED,
                        "training_config: loss option axis other than -1 is not "
                        "supported");
    return CK_OK;
}

static ck_status loss_from_json(const cJSON *j, ck_compile_options *o)
{
    if (cJSON_IsString(j)) {
        o->loss = j->valuestring;
        return CK_OK;
    }
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(j, "class_name");
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(j, "config");
    if (!cJSON_IsString(cls))
        return ck_error(CK_ERR_UNSUPPORTED,
                        "training_config: only a single named loss is supported");
    CK_TRY(check_loss_options(cfg));
    o->loss = cls->valuestring;
    o->from_logits = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cfg, "from_logits"));
    const cJSON *delta = cJSON_GetObjectItemCaseSensitive(cfg, "delta");
    if (delta && !cJSON_IsNull(delta)) {
        if (!cJSON_IsNumber(delta) || !(delta->valuedouble > 0))
            return ck_error(CK_ERR_UNSUPPORTED, "training_config: loss option delta must be a "
                                                "number > 0");
        o->huber_delta = delta->valuedouble;
    }
    return CK_OK;
}

/* Metric names from a flat or per-output nested list of names or objects. */
static ck_status metrics_from_json(const cJSON *j, ck_compile_options *o, int *n)
{
    const cJSON *item;
    cJSON_ArrayForEach(item, j)
    {
        if (cJSON_IsArray(item)) {
            CK_TRY(metrics_from_json(item, o, n));
            continue;
        }
        const cJSON *name = cJSON_IsObject(item)
                                ? cJSON_GetObjectItemCaseSensitive(
                                      cJSON_GetObjectItemCaseSensitive(item, "config"), "name")
                                : item;
        if (!cJSON_IsString(name))
            return ck_error(CK_ERR_FORMAT, "training_config: a metric has no name");
        if (*n >= MAX_METRICS)
            return ck_error(CK_ERR_UNSUPPORTED, "training_config: more than %d metrics",
                            MAX_METRICS);
        o->metrics[(*n)++] = name->valuestring;
    }
    return CK_OK;
}

ck_status ck_train_config_from_json(ck_model *m, const cJSON *tc)
{
    if (!m || !cJSON_IsObject(tc))
        return ck_error(CK_ERR_ARGUMENT,
                        "ck_train_config_from_json: need a model and a JSON object");
    ck_compile_options o = {0};
    int n = 0;
    /* tf.keras 2 training_config says optimizer_config; Keras 3 compile_config says optimizer. */
    const cJSON *opt = cJSON_GetObjectItemCaseSensitive(tc, "optimizer_config");
    if (!opt)
        opt = cJSON_GetObjectItemCaseSensitive(tc, "optimizer");
    if (cJSON_IsString(opt))
        o.optimizer.name = opt->valuestring;
    else
        CK_TRY(ck_optimizer_from_json(opt, &o.optimizer));
    CK_TRY(loss_from_json(cJSON_GetObjectItemCaseSensitive(tc, "loss"), &o));
    CK_TRY(metrics_from_json(cJSON_GetObjectItemCaseSensitive(tc, "metrics"), &o, &n));
    return ck_model_compile_with(m, &o);
}
