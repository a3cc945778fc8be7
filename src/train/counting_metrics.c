/* Keras's metrics that count over the epoch instead of averaging rows:
 * Precision and Recall (threshold 0.5 by default), AUC (ROC, 200
 * thresholds, interpolation by default) and F1Score (threshold None by
 * default: the row's maximum is the prediction). Every output entry counts, weighted by its row's weight
 * (the mask, times the sample weight for a weighted metric), as Keras's
 * confusion-matrix variables flatten the predictions. */
#include "ck_train.h"

#include <math.h>
#include <string.h>

#define KERAS_EPSILON 1e-7

bool ck_counting_metric(ck_metric_kind kind)
{
    return kind >= CK_METRIC_PRECISION && kind <= CK_METRIC_F1_WEIGHTED;
}

static bool is_f1(ck_metric_kind kind)
{
    return kind >= CK_METRIC_F1_MACRO;
}

static int auc_thresholds(const ck_metric_params *p)
{
    return p->num_thresholds ? p->num_thresholds : 200;
}

size_t ck_counting_state_size(ck_metric_kind kind, const ck_metric_params *p, size_t width)
{
    if (kind == CK_METRIC_AUC)
        return 4 * (size_t)auc_thresholds(p);
    return is_f1(kind) ? 4 * width : 2;
}

/* Keras's evenly spread thresholds for n of them: -epsilon, 1/(n-1), ...,
 * (n-2)/(n-1), 1 + epsilon, in float32. */
static float auc_threshold(int i, int n)
{
    if (i == 0)
        return (float)(0.0 - KERAS_EPSILON);
    if (i == n - 1)
        return (float)(1.0 + KERAS_EPSILON);
    return (float)((double)i / (n - 1));
}

/* AUC state: tp, fp, tn, fn, n thresholds each. */
static void auc_update(double *st, int n, float p, bool positive, double w)
{
    for (int i = 0; i < n; i++) {
        bool predicted = p > auc_threshold(i, n);
        int which = predicted ? (positive ? 0 : 1) : (positive ? 3 : 2);
        st[which * n + i] += w;
    }
}

/* Whether F1Score predicts entry j of row p: above the threshold when one
 * is given, else the row's maximum (ties included) unless it is 0. */
static bool f1_predicted(const ck_metric_params *params, const float *p, size_t j, float top)
{
    if (params->has_threshold)
        return p[j] > (float)params->threshold;
    return p[j] >= top && fabsf(p[j]) > 1e-9f;
}

/* F1 state: tp, fp, fn and the true count (for "weighted"), width each. */
static void f1_update(double *st, const ck_metric_params *params, const float *p, const float *t,
                      size_t width, double w)
{
    float top = p[0];
    for (size_t j = 1; j < width; j++)
        top = p[j] > top ? p[j] : top;
    for (size_t j = 0; j < width; j++) {
        double pred = f1_predicted(params, p, j, top), truth = t[j];
        st[j] += w * pred * truth;
        st[width + j] += w * pred * (1 - truth);
        st[2 * width + j] += w * (1 - pred) * truth;
        st[3 * width + j] += w * truth;
    }
}

void ck_counting_update(ck_metric_kind kind, const ck_metric_params *params, double *st,
                        const float *out, const float *y, size_t rows, size_t width,
                        const float *weights)
{
    float threshold = params->has_threshold ? (float)params->threshold : 0.5f;
    for (size_t r = 0; r < rows; r++) {
        double w = weights ? weights[r] : 1;
        const float *p = out + r * width, *t = y + r * width;
        if (w == 0)
            continue;
        if (is_f1(kind)) {
            f1_update(st, params, p, t, width, w);
            continue;
        }
        for (size_t j = 0; j < width; j++) {
            bool positive = t[j] != 0, predicted = p[j] > threshold;
            if (kind == CK_METRIC_AUC)
                auc_update(st, auc_thresholds(params), p[j], positive, w);
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

/* Keras's interpolate_pr_auc (Davis & Goadrich 2006): precision is
 * interpolated linearly in the true positives between two thresholds. */
static double pr_auc_interpolated(const double *tp, const double *fp, const double *fn, int n)
{
    double area = 0;
    for (int i = 0; i + 1 < n; i++) {
        double p0 = tp[i] + fp[i], p1 = tp[i + 1] + fp[i + 1];
        double dtp = tp[i] - tp[i + 1], slope = divide_no_nan(dtp, fmax(p0 - p1, 0));
        double intercept = tp[i + 1] - slope * p1;
        double ratio = p0 > 0 && p1 > 0 ? divide_no_nan(p0, fmax(p1, 0)) : 1;
        area += divide_no_nan(slope * (dtp + intercept * log(ratio)),
                              fmax(tp[i + 1] + fn[i + 1], 0));
    }
    return area;
}

/* A point of the curve at threshold i: x is the false positive rate (ROC)
 * or the recall (PR), y the recall (ROC) or the precision (PR). */
static void curve_point(const ck_metric_params *p, const double *st, int n, int i, double *x,
                        double *y)
{
    double tp = st[i], fp = st[n + i], tn = st[2 * n + i], fn = st[3 * n + i];
    double recall = divide_no_nan(tp, tp + fn);
    *x = p->curve == CK_AUC_PR ? recall : divide_no_nan(fp, fp + tn);
    *y = p->curve == CK_AUC_PR ? divide_no_nan(tp, tp + fp) : recall;
}

/* Keras's Riemann sum over the thresholds: the height of each step is
 * the mean (interpolation), lesser or greater of its ends. */
static double auc_result(const ck_metric_params *p, const double *st)
{
    int n = auc_thresholds(p);
    if (p->curve == CK_AUC_PR && p->summation == CK_AUC_INTERPOLATION)
        return pr_auc_interpolated(st, st + n, st + 3 * n, n);
    double area = 0;
    for (int i = 0; i + 1 < n; i++) {
        double x0, y0, x1, y1;
        curve_point(p, st, n, i, &x0, &y0);
        curve_point(p, st, n, i + 1, &x1, &y1);
        double height = p->summation == CK_AUC_MINORING   ? fmin(y0, y1)
                        : p->summation == CK_AUC_MAJORING ? fmax(y0, y1)
                                                          : (y0 + y1) / 2;
        area += (x0 - x1) * height;
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

double ck_counting_result(ck_metric_kind kind, const ck_metric_params *p, const double *st,
                          size_t width)
{
    if (kind == CK_METRIC_AUC)
        return auc_result(p, st);
    if (is_f1(kind))
        return f1_result(kind, st, width);
    return divide_no_nan(st[0], st[0] + st[1]);
}
