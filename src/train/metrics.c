/* Keras metrics as per-row values, weighted and summed over the epoch, and
 * divided by the sum of the weights at its end (Keras's Mean). */
#include "ck_train.h"

#include <math.h>
#include <string.h>

static const struct {
    const char *name;
    ck_metric_kind kind;
} metric_names[] = {
    {"categorical_accuracy", CK_METRIC_CATEGORICAL_ACCURACY},
    {"sparse_categorical_accuracy", CK_METRIC_SPARSE_CATEGORICAL_ACCURACY},
    {"binary_accuracy", CK_METRIC_BINARY_ACCURACY},
    {"mean_squared_error", CK_METRIC_MSE},
    {"mse", CK_METRIC_MSE},
    {"mean_absolute_error", CK_METRIC_MAE},
    {"mae", CK_METRIC_MAE},
    {"top_k_categorical_accuracy", CK_METRIC_TOP_K},
    {"sparse_top_k_categorical_accuracy", CK_METRIC_SPARSE_TOP_K},
    {"precision", CK_METRIC_PRECISION},
    {"recall", CK_METRIC_RECALL},
    {"auc", CK_METRIC_AUC},
    {"f1_score", CK_METRIC_F1_MACRO},
    {"f1_score_micro", CK_METRIC_F1_MICRO},
    {"f1_score_weighted", CK_METRIC_F1_WEIGHTED},
};

static ck_status check_layout(const char *name, ck_metric_kind kind, const ck_loss *loss)
{
    /* The targets' layout is set by the loss, so the metric must agree. */
    bool sparse_metric = kind == CK_METRIC_SPARSE_CATEGORICAL_ACCURACY ||
                         kind == CK_METRIC_SPARSE_TOP_K;
    if (sparse_metric != ck_loss_is_sparse(loss))
        return ck_error(CK_ERR_ARGUMENT, "metric %s needs %s targets, but loss %s takes %s targets",
                        name, sparse_metric ? "class-id" : "per-output", ck_loss_name(loss),
                        ck_loss_is_sparse(loss) ? "class-id" : "per-output");
    return CK_OK;
}

ck_status ck_metric_parse(const char *name, const ck_loss *loss, ck_metric_kind *out)
{
    if (strcmp(name, "accuracy") == 0 || strcmp(name, "acc") == 0) {
        *out = CK_METRIC_ACCURACY;
        return CK_OK;
    }
    for (size_t i = 0; i < sizeof metric_names / sizeof metric_names[0]; i++)
        if (strcmp(name, metric_names[i].name) == 0) {
            *out = metric_names[i].kind;
            return check_layout(name, *out, loss);
        }
    return ck_error(CK_ERR_NAME,
                    "unknown metric '%s' (valid: accuracy/acc, categorical_accuracy, "
                    "sparse_categorical_accuracy, binary_accuracy, mse, mae, "
                    "top_k_categorical_accuracy, sparse_top_k_categorical_accuracy, precision, "
                    "recall, auc, f1_score, f1_score_micro, f1_score_weighted)",
                    name);
}

/* tf.keras from TF 2.2 and Keras 3 pick the accuracy from the shapes of
 * the targets and the outputs, not from the loss (older Keras did, see
 * ck_metric_resolve_from_loss). */
ck_status ck_metric_resolve(ck_metric_kind kind, const ck_loss *loss, int y_rank, int64_t y_last,
                            int out_rank, size_t width, ck_metric_kind *out)
{
    *out = kind;
    if (kind != CK_METRIC_ACCURACY)
        return CK_OK;
    bool sparse = y_rank < out_rank || (y_last == 1 && width > 1);
    if (width == 1)
        *out = CK_METRIC_BINARY_ACCURACY;
    else
        *out = sparse ? CK_METRIC_SPARSE_CATEGORICAL_ACCURACY : CK_METRIC_CATEGORICAL_ACCURACY;
    /* Shapes Keras would reject, such as flattened one-hot targets. */
    if (width > 1 && sparse != ck_loss_is_sparse(loss))
        return ck_error(CK_ERR_SHAPE,
                        "metric accuracy: targets of rank %d for outputs of rank %d "
                        "and width %zu do not fit loss %s",
                        y_rank, out_rank, width, ck_loss_name(loss));
    return CK_OK;
}

/* Keras 2.0-2.3 and tf.keras before TF 2.2 (training.py of 2.2.4,
 * get_metric_function of 2.3.1 and of TF 1.x) picked it from the loss:
 * a multi-label sigmoid output trained with binary_crossentropy gets
 * binary accuracy at any width. */
ck_metric_kind ck_metric_resolve_from_loss(ck_metric_kind kind, const ck_loss *loss, size_t width)
{
    if (kind != CK_METRIC_ACCURACY)
        return kind;
    if (width == 1 || loss->kind == CK_LOSS_BINARY_CE)
        return CK_METRIC_BINARY_ACCURACY;
    return ck_loss_is_sparse(loss) ? CK_METRIC_SPARSE_CATEGORICAL_ACCURACY
                                   : CK_METRIC_CATEGORICAL_ACCURACY;
}

static size_t argmax(const float *v, size_t n)
{
    size_t best = 0;
    for (size_t j = 1; j < n; j++)
        if (v[j] > v[best])
            best = j;
    return best;
}

/* Keras (TensorFlow's in_top_k): the target is in the top k when fewer
 * than k classes score strictly higher, so ties at the boundary count. */
static double in_top_k(const float *p, size_t target, size_t width, int k)
{
    size_t higher = 0;
    for (size_t j = 0; j < width; j++)
        higher += p[j] > p[target];
    return higher < (size_t)k;
}

/* The value of one row (already averaged over its outputs). */
static double row_value(ck_metric_kind kind, const ck_metric_params *params, const float *p,
                        const float *y, size_t r, size_t width)
{
    const float *t = y + r * width;
    /* Keras compares float32 predictions with the threshold as float32. */
    float threshold = params->has_threshold ? (float)params->threshold : 0.5f;
    int k = params->k ? params->k : 5;
    double sum = 0;
    switch (kind) {
    case CK_METRIC_CATEGORICAL_ACCURACY:
        return argmax(p, width) == argmax(t, width);
    case CK_METRIC_SPARSE_CATEGORICAL_ACCURACY:
        return argmax(p, width) == (size_t)y[r];
    case CK_METRIC_BINARY_ACCURACY:
        for (size_t j = 0; j < width; j++)
            sum += (p[j] > threshold ? 1.0f : 0.0f) == t[j];
        break;
    case CK_METRIC_MSE:
        for (size_t j = 0; j < width; j++)
            sum += ((double)p[j] - t[j]) * ((double)p[j] - t[j]);
        break;
    case CK_METRIC_MAE:
        for (size_t j = 0; j < width; j++)
            sum += fabs((double)p[j] - t[j]);
        break;
    case CK_METRIC_TOP_K:
        return in_top_k(p, argmax(t, width), width, k);
    case CK_METRIC_SPARSE_TOP_K:
        return in_top_k(p, (size_t)y[r], width, k);
    default: /* counting metrics, and accuracy, which is resolved before use */
        break;
    }
    return sum / (double)width;
}

double ck_metric_sum(ck_metric_kind kind, const ck_metric_params *p, const float *out,
                     const float *y, size_t rows, size_t width, const float *weights)
{
    double total = 0;
    for (size_t r = 0; r < rows; r++) {
        double w = weights ? weights[r] : 1;
        if (w != 0)
            total += w * row_value(kind, p, out + r * width, y, r, width);
    }
    return total;
}

static double weight_sum(const float *weights, size_t rows)
{
    double total = 0;
    for (size_t r = 0; r < rows; r++)
        total += weights ? weights[r] : 1;
    return total;
}

bool ck_metric_higher_is_better(ck_metric_kind kind)
{
    return kind != CK_METRIC_MSE && kind != CK_METRIC_MAE;
}

/* Mean metrics keep the weighted sum of row values and the sum of weights. */
size_t ck_metric_state_size(ck_metric_kind kind, const ck_metric_params *p, size_t width)
{
    return ck_counting_metric(kind) ? ck_counting_state_size(kind, p, width) : 2;
}

void ck_metric_update(ck_metric_kind kind, const ck_metric_params *p, double *state,
                      const float *out, const float *y, size_t rows, size_t width,
                      const float *weights)
{
    if (ck_counting_metric(kind)) {
        ck_counting_update(kind, p, state, out, y, rows, width, weights);
        return;
    }
    ck_metric_update_mean(kind, p, state, out, y, rows, width, weights, weight_sum(weights, rows));
}

void ck_metric_update_mean(ck_metric_kind kind, const ck_metric_params *p, double *state,
                           const float *out, const float *y, size_t rows, size_t width,
                           const float *weights, double count)
{
    state[0] += ck_metric_sum(kind, p, out, y, rows, width, weights);
    state[1] += count;
}

double ck_metric_result(ck_metric_kind kind, const ck_metric_params *p, const double *state,
                        size_t width)
{
    if (ck_counting_metric(kind))
        return ck_counting_result(kind, p, state, width);
    return state[1] > 0 ? state[0] / state[1] : 0;
}
