/* Keras's metrics that count over the epoch instead of averaging rows:
 * Precision and Recall (threshold 0.5), AUC (ROC, 200 thresholds,
 * interpolation) and F1Score (threshold None: the row's maximum is the
 * prediction). Every output entry counts, weighted by its row's weight
 * (the mask, times the sample weight for a weighted metric), as Keras's
 * confusion-matrix variables flatten the predictions. */
#include "ck_train.h"

#include <math.h>
#include <string.h>

#define AUC_THRESHOLDS 200
#define KERAS_EPSILON 1e-7

bool ck_counting_metric(ck_metric_kind kind)
{
    return kind >= CK_METRIC_PRECISION && kind <= CK_METRIC_F1_WEIGHTED;
}

static bool is_f1(ck_metric_kind kind)
{
    return kind >= CK_METRIC_F1_MACRO;
}

size_t ck_counting_state_size(ck_metric_kind kind, size_t width)
{
    if (kind == CK_METRIC_AUC)
        return 4 * AUC_THRESHOLDS;
    return is_f1(kind) ? 4 * width : 2;
}

/* Keras's evenly spread thresholds: -epsilon, 1/199, ..., 198/199, 1 + epsilon, in float32. */
static float auc_threshold(int i)
{
    if (i == 0)
        return (float)(0.0 - KERAS_EPSILON);
    if (i == AUC_THRESHOLDS - 1)
        return (float)(1.0 + KERAS_EPSILON);
    return (float)((double)i / (AUC_THRESHOLDS - 1));
}

/* AUC state: tp, fp, tn, fn, AUC_THRESHOLDS each. */
static void auc_update(double *st, float p, bool positive, double w)
{
    for (int i = 0; i < AUC_THRESHOLDS; i++) {
        bool predicted = p > auc_threshold(i);
        int which = predicted ? (positive ? 0 : 1) : (positive ? 3 : 2);
        st[which * AUC_THRESHOLDS + i] += w;
    }
}

/* F1 state: tp, fp, fn and the true count (for "weighted"), width each. */
static void f1_update(double *st, const float *p, const float *t, size_t width, double w)
{
    float top = p[0];
    for (size_t j = 1; j < width; j++)
        top = p[j] > top ? p[j] : top;
    for (size_t j = 0; j < width; j++) {
        double pred = p[j] >= top && fabsf(p[j]) > 1e-9f, truth = t[j];
        st[j] += w * pred * truth;
        st[width + j] += w * pred * (1 - truth);
        st[2 * width + j] += w * (1 - pred) * truth;
        st[3 * width + j] += w * truth;
    }
}

void ck_counting_update(ck_metric_kind kind, double *st, const float *out, const float *y,
                        size_t rows, size_t width, const float *weights)
{
    for (size_t r = 0; r < rows; r++) {
        double w = weights ? weights[r] : 1;
        const float *p = out + r * width, *t = y + r * width;
        if (w == 0)
            continue;
        if (is_f1(kind)) {
            f1_update(st, p, t, width, w);
            continue;
        }
        for (size_t j = 0; j < width; j++) {
            bool positive = t[j] != 0, predicted = p[j] > 0.5f;
            if (kind == CK_METRIC_AUC)
                auc_update(st, p[j], positive, w);
            else if (kind == CK_METRIC_PRECISION && predicted)
                st[positive ? 0 : 1] += w; /* tp, fp */
            else if (kind == CK_METRIC_RECALL && positive)
                st[predicted ? 0 : 1] += w; /* tp, fn */
        }
    }
}

static double divide_no_nan(double a, double b)
{
    return b == 0 ? 0 : a / b;
}

/* ROC curve by the trapezoidal rule over the thresholds (Keras's "interpolation"). */
static double auc_result(const double *st)
{
    const double *tp = st, *fp = st + AUC_THRESHOLDS, *tn = st + 2 * AUC_THRESHOLDS,
                 *fn = st + 3 * AUC_THRESHOLDS;
    double area = 0;
    for (int i = 0; i + 1 < AUC_THRESHOLDS; i++) {
        double x0 = divide_no_nan(fp[i], fp[i] + tn[i]),
               x1 = divide_no_nan(fp[i + 1], fp[i + 1] + tn[i + 1]);
        double y0 = divide_no_nan(tp[i], tp[i] + fn[i]),
               y1 = divide_no_nan(tp[i + 1], tp[i + 1] + fn[i + 1]);
        area += (x0 - x1) * (y0 + y1) / 2;
    }
    return area;
}

static double f1_of(double tp, double fp, double fn)
{
    double precision = tp / (tp + fp + KERAS_EPSILON), recall = tp / (tp + fn + KERAS_EPSILON);
    return 2 * precision * recall / (precision + recall + KERAS_EPSILON);
}

static double f1_result(ck_metric_kind kind, const double *st, size_t width)
{
    const double *tp = st, *fp = st + width, *fn = st + 2 * width, *support = st + 3 * width;
    if (kind == CK_METRIC_F1_MICRO) {
        double t = 0, p = 0, n = 0;
        for (size_t j = 0; j < width; j++) {
            t += tp[j];
            p += fp[j];
            n += fn[j];
        }
        return f1_of(t, p, n);
    }
    double total = 0, sum = 0;
    for (size_t j = 0; j < width; j++)
        total += support[j];
    for (size_t j = 0; j < width; j++) {
        double f1 = f1_of(tp[j], fp[j], fn[j]);
        sum += kind == CK_METRIC_F1_WEIGHTED ? f1 * support[j] / (total + KERAS_EPSILON) : f1;
    }
    return kind == CK_METRIC_F1_WEIGHTED ? sum : sum / (double)width;
}

double ck_counting_result(ck_metric_kind kind, const double *st, size_t width)
{
    if (kind == CK_METRIC_AUC)
        return auc_result(st);
    if (is_f1(kind))
        return f1_result(kind, st, width);
    return divide_no_nan(st[0], st[0] + st[1]);
}
