/* One batch: forward, the loss and metrics, and for training backward and
 * an optimizer step; evaluate and train_on_batch. Buffers only grow, so
 * steps after the first do not allocate. */
#include "ck_dist.h"
#include "ck_pool.h"
#include "ck_vmath.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

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

ck_status ck_data_layout(const ck_model *m, const ck_train_state *s, const ck_tensor *x,
                         const ck_tensor *y, const char *what, ck_layout *lay)
{
    CK_TRY(check_shapes(m, x, y, what));
    ck_shape in = {.rank = x->rank}, shape;
    memcpy(in.dims, x->dims, sizeof in.dims);
    CK_TRY(ck_model_shape_for(m, &in, &shape));
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
        if (s->accuracy_from_loss)
            lay->metrics[k] = ck_metric_resolve_from_loss(s->metrics[k], &s->loss, lay->width);
        else
            CK_TRY(ck_metric_resolve(s->metrics[k], &s->loss, y->rank, y->dims[y->rank - 1],
                                     shape.rank, lay->width, &lay->metrics[k]));
    size_t bad = ck_vfind_nonfinite(x->data, n * lay->x_sample);
    if (bad < n * lay->x_sample)
        return ck_error(CK_ERR_NUMERIC, "%s: input value #%zu is not finite", what, bad);
    return ck_loss_check_targets(&s->loss, y->data, n * lay->y_sample, lay->width);
}

/* ------------------------------------------------------------------ one batch */

ck_status ck_totals_init(ck_totals *t, const ck_train_state *s, const ck_layout *lay)
{
    memset(t, 0, sizeof *t);
    t->n_metrics = s->n_metrics;
    t->width = lay->width;
    size_t total = 0, at = 0;
    for (int k = 0; k < s->n_metrics; k++) {
        t->kinds[k] = lay->metrics[k];
        t->params[k] = s->metric_params[k];
        t->weighted[k] = s->weighted[k];
        total += ck_metric_state_size(t->kinds[k], &t->params[k], lay->width);
    }
    if (total == 0)
        return CK_OK;
    double *buf = ck_alloc(total, sizeof *buf);
    if (!buf)
        return CK_ERR_MEMORY;
    for (int k = 0; k < s->n_metrics; k++) {
        t->state[k] = buf + at;
        at += ck_metric_state_size(t->kinds[k], &t->params[k], lay->width);
    }
    return CK_OK;
}

void ck_totals_free(ck_totals *t)
{
    free(t->state[0]);
    memset(t->state, 0, sizeof t->state);
}

double ck_totals_loss(const ck_totals *t)
{
    return t->samples > 0 ? t->loss / t->samples : NAN;
}

double ck_totals_metric(const ck_totals *t, int k)
{
    return t->samples > 0 ? ck_metric_result(t->kinds[k], &t->params[k], t->state[k], t->width)
                          : NAN;
}

/* The weights of the output rows for the metrics (NULL: all 1): the mask,
 * and the mask times the sample weights for the weighted metrics; mean
 * metrics take the `mean` pair, which per_batch may rescale, and a
 * weighted one counts mean_count towards the epoch (< 0: its weights). */
typedef struct metric_rows {
    const float *mask, *mask_w, *mean, *mean_w;
    double mean_count;
} metric_rows;

static void add_totals(ck_totals *t, const ck_tensor *out, const float *y, const metric_rows *w,
                       double loss, int64_t samples)
{
    size_t width = (size_t)out->dims[out->rank - 1], rows = ck_tensor_size(out) / width;
    t->loss += loss * (double)samples;
    t->samples += (double)samples;
    for (int k = 0; k < t->n_metrics; k++) {
        bool counting = ck_counting_metric(t->kinds[k]);
        const float *plain = counting ? w->mask : w->mean;
        const float *weighted = counting ? w->mask_w : w->mean_w;
        if (!counting && t->weighted[k] && w->mean_count >= 0)
            ck_metric_update_mean(t->kinds[k], &t->params[k], t->state[k], out->data, y, rows,
                                  width, weighted, w->mean_count);
        else
            ck_metric_update(t->kinds[k], &t->params[k], t->state[k], out->data, y, rows, width,
                             t->weighted[k] ? weighted : plain);
    }
}

/* The first layer whose output holds a non-finite value, or NULL. */
static const char *first_non_finite_layer(const ck_model *m)
{
    for (int i = 0; i < m->n_layers; i++) {
        size_t n = ck_tensor_size(&m->act_views[i]);
        if (ck_vfind_nonfinite(m->act_views[i].data, n) < n)
            return m->layers[i]->name;
    }
    return NULL;
}

/* Backward and one optimizer step after a training forward whose loss
 * gradient is in s->dout. out is NULL on a rank of a data-parallel fit whose slice of the batch
 * is empty: it still joins the sum of the gradients. */
static ck_status step(ck_model *m, ck_train_state *s, const ck_tensor *out, double loss,
                      size_t samples)
{
    if (!isfinite(loss)) {
        const char *layer = first_non_finite_layer(m);
        return ck_error(CK_ERR_NUMERIC,
                        "the loss is %s%s%s%s; training stopped, the weights are the last "
                        "finite ones (clip the gradients, e.g. clipnorm=1.0, or lower the "
                        "learning rate)",
                        isnan(loss) ? "NaN" : "infinite",
                        layer ? " (the first non-finite output is layer '" : "", layer ? layer : "",
                        layer ? "')" : "");
    }
    ck_vzero_par(m->grads, m->n_params);
    ck_tensor dy = out ? *out : (ck_tensor){0};
    dy.data = s->dout.data;
    if (s->dist)
        CK_TRY(ck_dist_backward(s->dist, m, out ? &dy : NULL, samples));
    else
        CK_TRY(ck_model_backward(m, &dy));
    /* The penalties' gradients are the same on every rank: added once, after the sum. */
    ck_model_penalty_grads(m);
    CK_TRY(ck_optimizer_step(&s->opt, m));
    return ck_model_apply_constraints(m);
}

/* Keras broadcasts a sample's weight over its output rows (timesteps);
 * *mask_w receives the same times the output mask (Keras's apply_mask
 * for metrics). */
static ck_status weights_per_row(ck_train_state *s, const float *sw, size_t samples, size_t rows,
                                 const float *mask, const float **out, const float **mask_w)
{
    size_t per = rows / samples;
    CK_TRY(ck_buf_reserve(&s->rowb, rows));
    CK_TRY(ck_buf_reserve(&s->metric_w, rows));
    for (size_t r = 0; r < rows; r++) {
        s->rowb.data[r] = sw[r / per];
        s->metric_w.data[r] = mask ? s->rowb.data[r] * mask[r] : s->rowb.data[r];
    }
    *out = s->rowb.data;
    *mask_w = s->metric_w.data;
    return CK_OK;
}

/* Standalone Keras up to 2.2.5 (weighted_masked_objective) took each
 * batch's mean metrics as mean(score * mask / mean(mask) * weight /
 * mean(weight != 0)) and the epoch's as the mean of the batches weighted
 * by batch size. Rows weighted mask * rows / kept (times the weight and
 * rows / nonzero for a weighted metric, which then counts all rows) give
 * that mean. A batch with nothing kept, or no weight, adds nothing. */
/* sw_rows: the sample weight of each row (scaled alike: only which are 0
 * matters here), NULL without. */
static ck_status per_batch(ck_train_state *s, size_t rows, const float *sw_rows, metric_rows *w)
{
    size_t kept = w->mask ? ck_mask_kept(w->mask, rows) : rows, nonzero = 0;
    for (size_t r = 0; sw_rows && r < rows; r++)
        nonzero += sw_rows[r] != 0.0f;
    double scale = kept ? (double)rows / (double)kept : 0;
    double scale_w = sw_rows && nonzero ? scale * (double)rows / (double)nonzero : 0;
    CK_TRY(ck_buf_reserve(&s->batch_mask, 2 * rows));
    float *mean = s->batch_mask.data, *mean_w = mean + rows;
    for (size_t r = 0; r < rows; r++) {
        mean[r] = (float)((w->mask ? w->mask[r] : 1.0f) * scale);
        mean_w[r] = (float)((w->mask_w ? w->mask_w[r] : 1.0f) * (sw_rows ? scale_w : scale));
    }
    w->mean = mean;
    w->mean_w = mean_w;
    if (sw_rows)
        w->mean_count = kept && nonzero ? (double)rows : 0;
    return CK_OK;
}

/* Standalone Keras up to 2.2.5 divided a sample-weighted loss by the share
 * of the weights that are not 0 (score_array /= K.mean(K.cast(
 * K.not_equal(weights, 0)))), so zero weights leave the others' mean. */
static void scale_by_nonzero(float *w, size_t rows)
{
    size_t nonzero = 0;
    for (size_t r = 0; r < rows; r++)
        nonzero += w[r] != 0.0f;
    float scale = nonzero ? (float)((double)rows / (double)nonzero) : 0;
    for (size_t r = 0; r < rows; r++)
        w[r] *= scale;
}

/* Forward on one batch, its loss into *loss and the totals t (may be NULL). */
static ck_status forward_loss(ck_model *m, ck_train_state *s, const ck_tensor *x, const float *y,
                              const float *sw, bool train, ck_totals *t, double *loss_out)
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
    const float *row_weights = NULL, *mask_w = mask;
    if (sw)
        CK_TRY(weights_per_row(s, sw, (size_t)x->dims[0], n / width, mask, &row_weights, &mask_w));
    /* After weights_per_row took the metrics' weights from the same rows. */
    if (sw && s->keras_2_2_objective)
        scale_by_nonzero(s->rowb.data, n / width);
    /* Keras's loss (trained and reported) includes the regularization,
     * which loss_weights leave out. */
    double loss = ck_loss_compute_weighted(&on_logits, s->loss.fused && logits ? logits : out->data,
                                           y, n / width, width, mask, row_weights,
                                           train ? s->dout.data : NULL);
    if (s->loss.weight != 1.0 && train)
        for (size_t i = 0; i < n; i++)
            s->dout.data[i] = (float)(s->dout.data[i] * s->loss.weight);
    loss = loss * s->loss.weight + ck_model_penalty(m);
    *loss_out = loss;
    metric_rows w = {mask, mask_w, mask, mask_w, -1};
    if (t && (mask || sw) && s->keras_2_2_objective)
        CK_TRY(per_batch(s, n / width, sw ? row_weights : NULL, &w));
    if (t)
        add_totals(t, out, y, &w, loss, x->dims[0]);
    return CK_OK;
}

/* Forward on one batch and, when training, backward and one optimizer
 * step. The loss and metrics are those of the forward, before the step;
 * in a data-parallel fit those of the global batch. */
static ck_status forward_and_step(ck_model *m, ck_train_state *s, const ck_tensor *x,
                                  const float *y, const float *sw, bool train, ck_totals *t,
                                  double *loss_out)
{
    size_t samples = (size_t)x->dims[0];
    double loss = 0;
    ck_status st = samples ? forward_loss(m, s, x, y, sw, train, t, &loss) : CK_OK;
    /* Every rank learns here of another's failed forward, and the loss is the global batch's. */
    if (train && s->dist)
        st = ck_dist_batch(s->dist, st, &loss, samples, t);
    CK_TRY(st);
    if (loss_out)
        *loss_out = loss;
    const ck_tensor *out = samples ? &m->act_views[m->n_layers - 1] : NULL;
    return train ? step(m, s, out, loss, samples) : CK_OK;
}

static ck_status run_batch(ck_model *m, ck_train_state *s, const ck_tensor *x, const float *y,
                           const float *sw, bool train, ck_totals *t, double *loss_out)
{
    if (!train)
        return forward_and_step(m, s, x, y, sw, false, t, loss_out);
    /* A training forward moves non-trainable state (BatchNormalization's
     * moving statistics); a refused step must not keep that move. */
    size_t n_frozen = m->n_params - m->n_trainable;
    float *frozen = m->params + m->n_trainable;
    CK_TRY(ck_buf_reserve(&s->frozen, n_frozen));
    if (n_frozen)
        memcpy(s->frozen.data, frozen, n_frozen * sizeof *frozen);
    ck_status st = forward_and_step(m, s, x, y, sw, true, t, loss_out);
    if (st != CK_OK && n_frozen)
        memcpy(frozen, s->frozen.data, n_frozen * sizeof *frozen);
    return st;
}

ck_status ck_run_batch(ck_model *m, ck_train_state *s, const ck_tensor *x, const float *y,
                       const float *sw, bool train, ck_totals *t, double *loss_out)
{
    ck_pool_hold();
    ck_status st = run_batch(m, s, x, y, sw, train, t, loss_out);
    ck_pool_release();
    return st;
}

ck_tensor ck_batch_view(const ck_tensor *x, size_t sample, size_t start, size_t count)
{
    ck_tensor v = *x;
    v.dims[0] = (int64_t)count;
    v.data = x->data + start * sample;
    return v;
}

void ck_totals_logs(const ck_train_state *s, const ck_totals *t, ck_epoch_logs *logs)
{
    logs->loss = ck_totals_loss(t);
    logs->n_metrics = s->n_metrics;
    for (int k = 0; k < s->n_metrics; k++) {
        logs->metric_names[k] = s->metric_names[k];
        logs->metrics[k] = ck_totals_metric(t, k);
    }
}

ck_status ck_evaluate_all(ck_model *m, ck_train_state *s, const ck_tensor *x, const ck_tensor *y,
                          const float *sw, const ck_layout *lay, size_t batch, ck_test_bar *bar,
                          ck_totals *t)
{
    size_t n = (size_t)x->dims[0];
    CK_TRY(ck_totals_init(t, s, lay));
    for (size_t start = 0; start < n; start += batch) {
        size_t b = n - start < batch ? n - start : batch;
        ck_tensor xb = ck_batch_view(x, lay->x_sample, start, b);
        ck_status st = ck_run_batch(m, s, &xb, y->data + start * lay->y_sample,
                                    sw ? sw + start : NULL, false, t, NULL);
        if (st != CK_OK) {
            ck_totals_free(t);
            return st;
        }
        if (bar) {
            ck_epoch_logs running = {0};
            ck_totals_logs(s, t, &running);
            ck_test_bar_step(bar, start / batch, &running);
        }
    }
    return CK_OK;
}

/* The class of each sample as Keras's class_weight sees it: the id of a
 * sparse target, the argmax of one-hot rows, the single output rounded
 * half to even (np.round, tf.round): 0.5 is class 0. */
static long sample_class(const ck_train_state *s, const ck_layout *lay, const float *y)
{
    if (ck_loss_is_sparse(&s->loss) || lay->y_sample == 1)
        return lrint(y[0]);
    size_t best = 0;
    for (size_t j = 1; j < lay->y_sample; j++)
        if (y[j] > y[best])
            best = j;
    return (long)best;
}

static ck_status check_weights(const float *w, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (!(isfinite(w[i]) && w[i] >= 0))
            return ck_error(CK_ERR_ARGUMENT, "%s #%zu is %g; weights must be finite and >= 0", what,
                            i, (double)w[i]);
    return CK_OK;
}

ck_status ck_sample_weights(const ck_train_state *s, const ck_layout *lay, const ck_tensor *y,
                            const float *sample_weight, const float *class_weight,
                            int n_class_weights, float **out)
{
    size_t n = (size_t)y->dims[0];
    *out = NULL;
    if (sample_weight && class_weight)
        return ck_error(CK_ERR_ARGUMENT,
                        "sample_weight and class_weight cannot be used together (as in Keras)");
    if (class_weight && (n_class_weights <= 0 || lay->rows_per_sample != 1))
        return ck_error(CK_ERR_ARGUMENT,
                        "class_weight needs n_class_weights > 0 and one output row per sample");
    if (!sample_weight && !class_weight)
        return CK_OK;
    if (class_weight)
        CK_TRY(check_weights(class_weight, (size_t)n_class_weights, "class_weight"));
    else
        CK_TRY(check_weights(sample_weight, n, "sample_weight"));
    float *w = ck_alloc(n, sizeof *w);
    if (!w)
        return CK_ERR_MEMORY;
    for (size_t i = 0; i < n; i++) {
        long c = class_weight ? sample_class(s, lay, y->data + i * lay->y_sample) : -1;
        w[i] = !class_weight ? sample_weight[i]
                             : (c >= 0 && c < n_class_weights ? class_weight[c] : 1.0f);
    }
    *out = w;
    return CK_OK;
}

ck_status ck_batch_size(const ck_model *m, int asked, int64_t n, const char *fn, size_t *batch)
{
    int64_t fixed = ck_model_state_batch(m);
    if (asked < 0)
        return ck_error(CK_ERR_ARGUMENT, "%s: batch_size must be >= 0", fn);
    *batch = asked ? (size_t)asked : fixed ? (size_t)fixed : 32;
    if (fixed && (int64_t)*batch != fixed)
        return ck_error(CK_ERR_SHAPE,
                        "%s: model %s carries state between batches of %lld (its input's batch "
                        "size), got batch_size %zu",
                        fn, m->name, (long long)fixed, *batch);
    if (fixed && n % fixed)
        return ck_error(CK_ERR_SHAPE,
                        "%s: model %s carries state between batches of %lld (its input's batch "
                        "size): %lld samples leave a partial batch",
                        fn, m->name, (long long)fixed, (long long)n);
    return CK_OK;
}

static ck_status evaluate_with(ck_model *m, const ck_tensor *x, const ck_tensor *y,
                               const ck_evaluate_options *o, double *loss, double *metrics)
{
    ck_train_state *s = NULL;
    ck_layout lay;
    ck_totals t;
    float *sw = NULL;
    CK_TRY(ck_train_compiled(m, "ck_model_evaluate", &s));
    if (!o)
        return ck_error(CK_ERR_ARGUMENT, "ck_model_evaluate: options are NULL");
    CK_TRY(ck_data_layout(m, s, x, y, "ck_model_evaluate", &lay));
    size_t batch;
    CK_TRY(ck_batch_size(m, o->batch_size, x->dims[0], "ck_model_evaluate", &batch));
    if (o->verbose < 0 || o->verbose > 2)
        return ck_error(CK_ERR_ARGUMENT, "ck_model_evaluate: verbose must be 0, 1 or 2, got %d",
                        o->verbose);
    CK_TRY(
        ck_sample_weights(s, &lay, y, o->sample_weight, o->class_weight, o->n_class_weights, &sw));
    ck_test_bar *bar = NULL;
    ck_status st = ck_test_bar_new(m, s, o->log ? o->log : stdout, o->verbose, (size_t)x->dims[0],
                                   batch, &bar);
    if (st == CK_OK)
        st = ck_evaluate_all(m, s, x, y, sw, &lay, batch, bar, &t);
    free(sw);
    if (st != CK_OK) {
        ck_test_bar_free(bar);
        return st;
    }
    ck_epoch_logs logs = {0};
    ck_totals_logs(s, &t, &logs);
    ck_test_bar_end(bar, &logs);
    ck_test_bar_free(bar);
    if (loss)
        *loss = logs.loss;
    for (int k = 0; metrics && k < s->n_metrics; k++)
        metrics[k] = logs.metrics[k];
    ck_totals_free(&t);
    return CK_OK;
}

ck_status ck_model_evaluate_with(ck_model *m, const ck_tensor *x, const ck_tensor *y,
                                 const ck_evaluate_options *o, double *loss, double *metrics)
{
    if (!m)
        return ck_error(CK_ERR_ARGUMENT, "ck_model_evaluate: model is NULL");
    ck_status st;
    CK_GUARDED(st, m, CK_ACCESS_UPDATE, "ck_model_evaluate",
               evaluate_with(m, x, y, o, loss, metrics));
    return st;
}

ck_status ck_model_evaluate(ck_model *m, const ck_tensor *x, const ck_tensor *y, int batch_size,
                            double *loss, double *metrics)
{
    return ck_model_evaluate_with(m, x, y, &(ck_evaluate_options){.batch_size = batch_size}, loss,
                                  metrics);
}

ck_status ck_model_test_on_batch(ck_model *m, const ck_tensor *x, const ck_tensor *y,
                                 const float *sample_weight, double *loss, double *metrics)
{
    int64_t n = x && x->rank > 0 ? x->dims[0] : 0;
    return ck_model_evaluate_with(
        m, x, y,
        &(ck_evaluate_options){.batch_size = n > 0 && n < INT32_MAX ? (int)n : 0,
                               .sample_weight = sample_weight},
        loss, metrics);
}

/* A data-parallel step: this rank's samples x, y of the global batch. */
static ck_status train_on_ranks(ck_model *m, ck_train_state *s, const ck_tensor *x,
                                const ck_tensor *y, const ck_train_on_batch_options *o,
                                double *loss)
{
    ck_layout lay;
    ck_dist d;
    ck_status st = ck_data_layout(m, s, x, y, "ck_model_train_on_batch", &lay);
    st = ck_comm_agree(o->comm, ck_dist_begin(&d, o->comm, st, 0, o->comm_bucket_bytes), NULL);
    if (st == CK_OK) {
        s->dist = &d;
        st = ck_run_batch(m, s, x, y->data, NULL, true, NULL, loss);
        s->dist = NULL;
    }
    ck_dist_free(&d);
    return st;
}

static ck_status train_on_batch(ck_model *m, const ck_tensor *x, const ck_tensor *y,
                                const ck_train_on_batch_options *o, double *loss)
{
    ck_train_state *s = NULL;
    ck_layout lay;
    CK_TRY(ck_train_compiled(m, "ck_model_train_on_batch", &s));
    if (o && o->comm)
        return train_on_ranks(m, s, x, y, o, loss);
    CK_TRY(ck_data_layout(m, s, x, y, "ck_model_train_on_batch", &lay));
    size_t batch;
    int64_t n = x->dims[0];
    CK_TRY(ck_batch_size(m, n < INT_MAX ? (int)n : INT_MAX, n, "ck_model_train_on_batch", &batch));
    return ck_run_batch(m, s, x, y->data, NULL, true, NULL, loss);
}

ck_status ck_model_train_on_batch_with(ck_model *m, const ck_tensor *x, const ck_tensor *y,
                                       const ck_train_on_batch_options *o, double *loss)
{
    if (!m)
        return ck_error(CK_ERR_ARGUMENT, "ck_model_train_on_batch: model is NULL");
    ck_status st;
    CK_GUARDED(st, m, CK_ACCESS_TRAIN, "ck_model_train_on_batch", train_on_batch(m, x, y, o, loss));
    return st;
}

ck_status ck_model_train_on_batch(ck_model *m, const ck_tensor *x, const ck_tensor *y, double *loss)
{
    return ck_model_train_on_batch_with(m, x, y, NULL, loss);
}
