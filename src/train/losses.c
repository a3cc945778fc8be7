/* Keras losses with Keras's clipping and reduction. Every loss is a mean
 * over rows (samples, or samples x timesteps for sequence outputs) of a
 * per-row value; element-wise losses also average over the last axis. */
#include "ck_train.h"

#include <math.h>
#include <string.h>

/* keras.config.epsilon(): probabilities are clipped to [EPS, 1 - EPS]. */
#define EPS 1e-7

static const struct {
    const char *name;
    ck_loss_kind kind;
} loss_names[] = {
    {"categorical_crossentropy", CK_LOSS_CATEGORICAL_CE},
    {"sparse_categorical_crossentropy", CK_LOSS_SPARSE_CATEGORICAL_CE},
    {"binary_crossentropy", CK_LOSS_BINARY_CE},
    {"mean_squared_error", CK_LOSS_MSE},
    {"mean_absolute_error", CK_LOSS_MAE},
    {"huber", CK_LOSS_HUBER},
    /* Keras's short aliases (keras.losses.MSE is mean_squared_error). */
    {"mse", CK_LOSS_MSE},
    {"mae", CK_LOSS_MAE},
    {"MSE", CK_LOSS_MSE},
    {"MAE", CK_LOSS_MAE},
    {"huber_loss", CK_LOSS_HUBER},
    /* Keras class names, as loss objects are saved in training configs. */
    {"CategoricalCrossentropy", CK_LOSS_CATEGORICAL_CE},
    {"SparseCategoricalCrossentropy", CK_LOSS_SPARSE_CATEGORICAL_CE},
    {"BinaryCrossentropy", CK_LOSS_BINARY_CE},
    {"MeanSquaredError", CK_LOSS_MSE},
    {"MeanAbsoluteError", CK_LOSS_MAE},
    {"Huber", CK_LOSS_HUBER},
};
#define N_LOSS_NAMES (sizeof loss_names / sizeof loss_names[0])

ck_status ck_loss_parse(const char *name, bool from_logits, ck_loss *out)
{
    if (!name)
        return ck_error(CK_ERR_ARGUMENT, "compile: a loss is required");
    for (size_t i = 0; i < N_LOSS_NAMES; i++)
        if (strcmp(name, loss_names[i].name) == 0) {
            *out = (ck_loss){.kind = loss_names[i].kind,
                             .from_logits = from_logits,
                             .delta = 1.0,
                             .weight = 1.0};
            bool ce = out->kind <= CK_LOSS_BINARY_CE;
            if (from_logits && !ce)
                return ck_error(CK_ERR_ARGUMENT, "loss %s has no from_logits option", name);
            return CK_OK;
        }
    return ck_error(CK_ERR_NAME,
                    "unknown loss '%s' (valid: categorical_crossentropy, "
                    "sparse_categorical_crossentropy, binary_crossentropy, mean_squared_error/mse, "
                    "mean_absolute_error/mae, huber)",
                    name);
}

const char *ck_loss_name(const ck_loss *loss)
{
    for (size_t i = 0; i < N_LOSS_NAMES; i++)
        if (loss_names[i].kind == loss->kind)
            return loss_names[i].name;
    return "";
}

const char *ck_loss_class_name(const ck_loss *loss)
{
    for (size_t i = N_LOSS_NAMES; i-- > 0;)
        if (loss_names[i].kind == loss->kind)
            return loss_names[i].name;
    return "";
}

bool ck_loss_fuses_with(const ck_loss *loss, ck_act act)
{
    if (loss->from_logits)
        return false;
    if (act == CK_ACT_SOFTMAX)
        return loss->kind == CK_LOSS_CATEGORICAL_CE || loss->kind == CK_LOSS_SPARSE_CATEGORICAL_CE;
    return act == CK_ACT_SIGMOID && loss->kind == CK_LOSS_BINARY_CE;
}

bool ck_loss_is_sparse(const ck_loss *loss)
{
    return loss->kind == CK_LOSS_SPARSE_CATEGORICAL_CE;
}

ck_status ck_loss_check_targets(const ck_loss *loss, const float *y, size_t n, size_t width)
{
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(y[i]))
            return ck_error(CK_ERR_NUMERIC, "target value #%zu is not finite", i);
        if (ck_loss_is_sparse(loss) && (y[i] < 0 || y[i] >= (float)width || y[i] != floorf(y[i])))
            return ck_error(CK_ERR_ARGUMENT,
                            "sparse target #%zu is %g; class ids must be integers in [0, %zu)", i,
                            (double)y[i], width);
    }
    return CK_OK;
}

static double clip_prob(double p)
{
    return p < EPS ? EPS : (p > 1 - EPS ? 1 - EPS : p);
}

/* Target of class j in row r: one-hot from a class id for sparse losses. */
static double target(const ck_loss *loss, const float *y, size_t r, size_t width, size_t j)
{
    if (ck_loss_is_sparse(loss))
        return (size_t)y[r] == j ? 1.0 : 0.0;
    return y[r * width + j];
}

static double log_sum_exp(const float *z, size_t n)
{
    double mx = z[0], sum = 0;
    for (size_t j = 1; j < n; j++)
        mx = z[j] > mx ? z[j] : mx;
    for (size_t j = 0; j < n; j++)
        sum += exp(z[j] - mx);
    return mx + log(sum);
}

/* Cross-entropy of one row over the classes; g (may be NULL) receives
 * scale * d(loss)/d(out), or d/d(logits) for logits and fused softmax. */
static double categorical_row(const ck_loss *loss, const float *p, const float *y, size_t r,
                              size_t width, double scale, float *g)
{
    double sum_y = 0, loss_v = 0;
    for (size_t j = 0; j < width; j++)
        sum_y += target(loss, y, r, width, j);
    if (loss->from_logits || loss->fused) {
        /* loss = -sum y log p with log p = z - logsumexp(z); its gradient
         * w.r.t. z is p sum(y) - y. A softmax output already holds p. */
        double lse = loss->from_logits ? log_sum_exp(p, width) : 0;
        for (size_t j = 0; j < width; j++) {
            double t = target(loss, y, r, width, j);
            double logp = loss->from_logits ? p[j] - lse : log(clip_prob(p[j]));
            double prob = loss->from_logits ? exp(logp) : p[j];
            loss_v -= t * logp;
            if (g)
                g[j] = (float)(scale * (prob * sum_y - t));
        }
        return loss_v;
    }
    /* Probabilities: Keras normalises p by its sum, then clips; the
     * gradient goes through both (clipped entries get none). */
    double s = 0, dot = 0;
    for (size_t j = 0; j < width; j++)
        s += p[j];
    for (size_t j = 0; j < width; j++) {
        double q = p[j] / s, t = target(loss, y, r, width, j);
        loss_v -= t * log(clip_prob(q));
        double a = (q > EPS && q < 1 - EPS) ? -t / q : 0;
        if (g)
            g[j] = (float)a;
        dot += a * q;
    }
    for (size_t j = 0; g && j < width; j++)
        g[j] = (float)(scale * (g[j] - dot) / s);
    return loss_v;
}

/* Per-element loss, and d/d(out) in *d, for the element-wise losses. */
static double element_loss(const ck_loss *loss, double p, double t, double *d)
{
    double e = p - t;
    switch (loss->kind) {
    case CK_LOSS_BINARY_CE: {
        if (loss->from_logits) {
            double sig = p >= 0 ? 1 / (1 + exp(-p)) : exp(p) / (1 + exp(p));
            *d = sig - t;
            return (p > 0 ? p : 0) - p * t + log1p(exp(-fabs(p)));
        }
        double c = clip_prob(p), a = loss->bce_log_epsilon ? EPS : 0;
        /* Fused with a sigmoid output, the gradient w.r.t. the logits is p - t. */
        if (loss->fused)
            *d = e;
        else
            *d = (p > EPS && p < 1 - EPS) ? (1 - t) / (1 - c + a) - t / (c + a) : 0;
        return -(t * log(c + a) + (1 - t) * log(1 - c + a));
    }
    case CK_LOSS_MSE:
        *d = 2 * e;
        return e * e;
    case CK_LOSS_MAE:
        *d = e > 0 ? 1 : (e < 0 ? -1 : 0);
        return fabs(e);
    default: /* huber */
        if (fabs(e) <= loss->delta) {
            *d = e;
            return 0.5 * e * e;
        }
        *d = e > 0 ? loss->delta : -loss->delta;
        return loss->delta * (fabs(e) - 0.5 * loss->delta);
    }
}

double ck_loss_compute(const ck_loss *loss, const float *out, const float *y, size_t rows,
                       size_t width, float *grad)
{
    return ck_loss_compute_masked(loss, out, y, rows, width, NULL, grad);
}

size_t ck_mask_kept(const float *mask, size_t rows)
{
    size_t kept = rows;
    for (size_t r = 0; mask && r < rows; r++)
        kept -= mask[r] == 0.0f;
    return kept;
}

/* Both Keras versions reduce with sum_over_batch_size and give masked rows
 * weight 0; they differ in the kept rows' weight. tf.keras 2
 * (LossesContainer) passes the mask as the sample weight, so the sum over
 * the kept rows is divided by all rows. Keras 3 (apply_mask) weights kept
 * rows rows/kept, which makes the loss the mean over the kept rows only.
 * With nothing kept both give 0 (divide_no_nan). */
double ck_loss_compute_masked(const ck_loss *loss, const float *out, const float *y, size_t rows,
                              size_t width, const float *mask, float *grad)
{
    return ck_loss_compute_weighted(loss, out, y, rows, width, mask, NULL, grad);
}

double ck_loss_compute_weighted(const ck_loss *loss, const float *out, const float *y, size_t rows,
                                size_t width, const float *mask, const float *weights, float *grad)
{
    size_t kept = ck_mask_kept(mask, rows);
    size_t count = loss->mask_mean_over_kept ? kept : rows;
    bool categorical = loss->kind == CK_LOSS_CATEGORICAL_CE ||
                       loss->kind == CK_LOSS_SPARSE_CATEGORICAL_CE;
    double denom = categorical ? (double)count : (double)count * (double)width;
    double scale = kept ? 1.0 / denom : 0, total = 0;
    for (size_t r = 0; r < rows; r++) {
        float *g = grad ? grad + r * width : NULL;
        if (mask && mask[r] == 0.0f) {
            if (g)
                memset(g, 0, width * sizeof(float));
            continue;
        }
        double w = weights ? weights[r] : 1.0;
        if (categorical) {
            total += w * categorical_row(loss, out + r * width, y, r, width, w * scale, g);
            continue;
        }
        for (size_t i = r * width; i < (r + 1) * width; i++) {
            double d;
            total += w * element_loss(loss, out[i], y[i], &d);
            if (grad)
                grad[i] = (float)(d * w * scale);
        }
    }
    return categorical ? (kept ? total / denom : 0) : total * scale;
}
