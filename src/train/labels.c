/* Class labels as users have them: names to class ids, class ids to the
 * targets a compiled loss takes, and targets back to class ids. */
#include "ck_train.h"

#include <math.h>
#include <string.h>

ck_status ck_class_ids(const char *const *labels, int64_t n, const char *const *classes,
                       int n_classes, int32_t *ids)
{
    if ((n > 0 && (!labels || !ids)) || !classes || n < 0 || n_classes < 1)
        return ck_error(CK_ERR_ARGUMENT, "ck_class_ids: no labels, classes or ids");
    for (int64_t i = 0; i < n; i++) {
        int k = 0;
        while (k < n_classes && strcmp(labels[i], classes[k]) != 0)
            k++;
        if (k == n_classes)
            return ck_error(CK_ERR_NAME, "label %lld ('%.64s') is not one of the %d classes",
                            (long long)i, labels[i], n_classes);
        ids[i] = k;
    }
    return CK_OK;
}

/* The number of values per sample of the model's output, which must be
 * one row (batch, width). */
static ck_status output_width(const ck_model *m, int64_t *width)
{
    int rank;
    int64_t dims[CK_MAX_RANK];
    CK_TRY(ck_model_output_shape(m, &rank, dims));
    if (rank != 1 || dims[0] < 1)
        return ck_error(CK_ERR_SHAPE,
                        "model %s does not output one row of class scores per sample "
                        "(its output has rank %d)",
                        m->name, rank + 1);
    *width = dims[0];
    return CK_OK;
}

ck_status ck_model_class_targets(ck_model *m, const int32_t *ids, int64_t n, int n_classes,
                                 ck_tensor *y)
{
    if (!y || (n > 0 && !ids) || n < 1 || n_classes < 1)
        return ck_error(CK_ERR_ARGUMENT, "ck_model_class_targets: no ids or no output");
    memset(y, 0, sizeof *y);
    ck_train_state *s;
    int64_t width = 0;
    CK_TRY(ck_train_compiled(m, "ck_model_class_targets", &s));
    CK_TRY(output_width(m, &width));
    bool binary = width == 1 && n_classes == 2;
    if (width != n_classes && !binary)
        return ck_error(CK_ERR_SHAPE,
                        "model %s outputs %lld values per sample but %d classes "
                        "were given",
                        m->name, (long long)width, n_classes);
    for (int64_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= n_classes)
            return ck_error(CK_ERR_ARGUMENT, "class id %d of sample %lld is not in [0, %d)",
                            (int)ids[i], (long long)i, n_classes);
    bool one_hot = !ck_loss_is_sparse(&s->loss) && !binary;
    *y = one_hot  ? (ck_tensor){2, {n, n_classes}, NULL}
         : binary ? (ck_tensor){2, {n, 1}, NULL}
                  : (ck_tensor){1, {n}, NULL};
    y->data = ck_alloc(ck_tensor_size(y), sizeof(float));
    if (!y->data)
        return CK_ERR_MEMORY;
    for (int64_t i = 0; i < n; i++) {
        if (one_hot)
            y->data[i * n_classes + ids[i]] = 1.0f;
        else
            y->data[i] = (float)ids[i];
    }
    return CK_OK;
}

/* Rows of targets y: one per class-score row when its last axis holds
 * the n_classes scores, else one per value. */
static size_t target_rows(const ck_tensor *y, int n_classes, bool *scores)
{
    size_t n = ck_tensor_size(y);
    *scores = n_classes >= 2 && y->rank >= 1 && y->dims[y->rank - 1] == n_classes;
    return *scores ? n / (size_t)n_classes : n;
}

/* The class of one target row: the argmax of class scores, a class id, or
 * with two classes a 0/1 target (above 0.5 is class 1, as Keras's
 * binary accuracy counts it). */
static ck_status target_id(const float *row, bool scores, int n_classes, size_t i, int32_t *id)
{
    int best = 0;
    for (int k = 1; scores && k < n_classes; k++)
        best = row[k] > row[best] ? k : best;
    float v = row[0];
    bool binary = !scores && n_classes == 2 && v >= 0.0f && v <= 1.0f;
    bool whole = isfinite(v) && v == floorf(v) && v >= 0.0f && v < (float)n_classes;
    if (!scores && !binary && !whole)
        return ck_error(CK_ERR_ARGUMENT,
                        "target %zu (%g) is not a class id in [0, %d) nor a row of %d class "
                        "scores",
                        i, (double)v, n_classes, n_classes);
    *id = scores ? best : binary ? v > 0.5f : (int32_t)v;
    return CK_OK;
}

ck_status ck_target_class_ids(const ck_tensor *y, int n_classes, int32_t *ids)
{
    if (!y || !y->data || !ids || n_classes < 1 || y->rank < 0 || y->rank > CK_MAX_RANK)
        return ck_error(CK_ERR_ARGUMENT, "ck_target_class_ids: no targets or no ids");
    bool scores;
    size_t rows = target_rows(y, n_classes, &scores);
    for (size_t i = 0; i < rows; i++)
        CK_TRY(target_id(y->data + (scores ? i * (size_t)n_classes : i), scores, n_classes, i,
                         &ids[i]));
    return CK_OK;
}

size_t ck_target_rows(const ck_tensor *y, int n_classes)
{
    if (!y || y->rank < 0 || y->rank > CK_MAX_RANK)
        return 0;
    bool scores;
    return target_rows(y, n_classes, &scores);
}

ck_status ck_output_class_ids(const ck_tensor *out, float threshold, int32_t *ids)
{
    if (!out || !out->data || !ids || out->rank < 1 || out->rank > CK_MAX_RANK ||
        out->dims[out->rank - 1] < 1)
        return ck_error(CK_ERR_ARGUMENT, "ck_output_class_ids: no outputs or no ids");
    int64_t width = out->dims[out->rank - 1];
    size_t rows = ck_tensor_size(out) / (size_t)width;
    for (size_t i = 0; i < rows; i++) {
        const float *row = out->data + i * (size_t)width;
        int32_t best = 0;
        for (int64_t k = 1; k < width; k++)
            best = row[k] > row[best] ? (int32_t)k : best;
        ids[i] = width == 1 ? row[0] > threshold : best;
    }
    return CK_OK;
}
