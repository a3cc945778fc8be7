/* One batch: forward, the loss and metrics, and for training backward and
 * an optimizer step; evaluate and train_on_batch. Buffers only grow, so
 * steps after the first do not allocate. */
#include "ck_batch.h"
#include "ck_vmath.h"

#include <math.h>
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
        CK_TRY(ck_metric_resolve(s->metrics[k], &s->loss, y->rank, y->dims[y->rank - 1], shape.rank,
                                 lay->width, &lay->metrics[k]));
    size_t bad = ck_vfind_nonfinite(x->data, n * lay->x_sample);
    if (bad < n * lay->x_sample)
        return ck_error(CK_ERR_NUMERIC, "%s: input value #%zu is not finite", what, bad);
    return ck_loss_check_targets(&s->loss, y->data, n * lay->y_sample, lay->width);
}

/* ------------------------------------------------------------------ one batch */

double ck_totals_loss(const ck_totals *t)
{
    return t->samples > 0 ? t->loss / t->samples : NAN;
}

double ck_totals_metric(const ck_totals *t, int k)
{
    if (t->samples == 0)
        return NAN;
    return t->rows > 0 ? t->metric[k] / t->rows : 0; /* Keras divide_no_nan */
}

static void add_totals(ck_totals *t, const ck_train_state *s, const ck_layout *lay,
                       const ck_tensor *out, const float *y, const float *mask, double loss,
                       int64_t samples)
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
static ck_status step(ck_model *m, ck_train_state *s, const ck_tensor *out, double loss)
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
static ck_status forward_and_step(ck_model *m, ck_train_state *s, const ck_layout *lay,
                                  const ck_tensor *x, const float *y, bool train, ck_totals *t,
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

ck_status ck_run_batch(ck_model *m, ck_train_state *s, const ck_layout *lay, const ck_tensor *x,
                       const float *y, bool train, ck_totals *t, double *loss_out)
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

ck_tensor ck_batch_view(const ck_tensor *x, size_t sample, size_t start, size_t count)
{
    ck_tensor v = *x;
    v.dims[0] = (int64_t)count;
    v.data = x->data + start * sample;
    return v;
}

ck_status ck_evaluate_all(ck_model *m, ck_train_state *s, const ck_tensor *x, const ck_tensor *y,
                          const ck_layout *lay, size_t batch, ck_totals *t)
{
    size_t n = (size_t)x->dims[0];
    memset(t, 0, sizeof *t);
    for (size_t start = 0; start < n; start += batch) {
        size_t b = n - start < batch ? n - start : batch;
        ck_tensor xb = ck_batch_view(x, lay->x_sample, start, b);
        CK_TRY(ck_run_batch(m, s, lay, &xb, y->data + start * lay->y_sample, false, t, NULL));
    }
    return CK_OK;
}

static ck_status evaluate(ck_model *m, const ck_tensor *x, const ck_tensor *y, int batch_size,
                          double *loss, double *metrics)
{
    ck_train_state *s = NULL;
    ck_layout lay;
    ck_totals t;
    CK_TRY(ck_train_compiled(m, "ck_model_evaluate", &s));
    CK_TRY(ck_data_layout(m, s, x, y, "ck_model_evaluate", &lay));
    if (batch_size < 0)
        return ck_error(CK_ERR_ARGUMENT, "ck_model_evaluate: batch_size must be >= 0");
    CK_TRY(ck_evaluate_all(m, s, x, y, &lay, batch_size ? (size_t)batch_size : 32, &t));
    if (loss)
        *loss = ck_totals_loss(&t);
    for (int k = 0; metrics && k < s->n_metrics; k++)
        metrics[k] = ck_totals_metric(&t, k);
    return CK_OK;
}

ck_status ck_model_evaluate(ck_model *m, const ck_tensor *x, const ck_tensor *y, int batch_size,
                            double *loss, double *metrics)
{
    if (!m)
        return ck_error(CK_ERR_ARGUMENT, "ck_model_evaluate: model is NULL");
    ck_status st;
    CK_GUARDED(st, m, CK_ACCESS_UPDATE, "ck_model_evaluate",
               evaluate(m, x, y, batch_size, loss, metrics));
    return st;
}

static ck_status train_on_batch(ck_model *m, const ck_tensor *x, const ck_tensor *y, double *loss)
{
    ck_train_state *s = NULL;
    ck_layout lay;
    CK_TRY(ck_train_compiled(m, "ck_model_train_on_batch", &s));
    CK_TRY(ck_data_layout(m, s, x, y, "ck_model_train_on_batch", &lay));
    return ck_run_batch(m, s, &lay, x, y->data, true, NULL, loss);
}

ck_status ck_model_train_on_batch(ck_model *m, const ck_tensor *x, const ck_tensor *y, double *loss)
{
    if (!m)
        return ck_error(CK_ERR_ARGUMENT, "ck_model_train_on_batch: model is NULL");
    ck_status st;
    CK_GUARDED(st, m, CK_ACCESS_TRAIN, "ck_model_train_on_batch", train_on_batch(m, x, y, loss));
    return st;
}
