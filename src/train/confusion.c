/* The confusion matrix of an evaluation set, as tf.math.confusion_matrix
 * counts it: rows are true classes, columns predicted classes. */
#include "ck_batch.h"

#include <stdlib.h>
#include <string.h>

typedef struct cm_run {
    ck_model *m;
    const ck_tensor *x;
    int64_t width, batch;
    float threshold;
    size_t rows_per_sample;
} cm_run;

/* Predicts x batch by batch and counts each output row against its true id. */
static ck_status count(const cm_run *r, const int32_t *truth, ck_confusion *out)
{
    size_t in_sample = ck_tensor_size(r->x) / (size_t)r->x->dims[0];
    size_t out_sample = r->rows_per_sample * (size_t)r->width;
    float *buf = ck_alloc((size_t)r->batch * out_sample, sizeof(float));
    int32_t *pred = buf ? ck_alloc((size_t)r->batch * r->rows_per_sample, sizeof *pred) : NULL;
    if (!pred) {
        free(buf);
        return CK_ERR_MEMORY;
    }
    ck_status st = CK_OK;
    for (int64_t start = 0; st == CK_OK && start < r->x->dims[0]; start += r->batch) {
        ck_tensor xc = *r->x;
        xc.dims[0] = r->x->dims[0] - start < r->batch ? r->x->dims[0] - start : r->batch;
        xc.data = r->x->data + (size_t)start * in_sample;
        ck_tensor yc = {1, {(int64_t)((size_t)xc.dims[0] * out_sample)}, buf};
        st = ck_model_predict_tensor(r->m, &xc, &yc);
        if (st == CK_OK)
            st = ck_output_class_ids(&yc, r->threshold, pred);
        size_t first = (size_t)start * r->rows_per_sample;
        for (size_t i = 0; st == CK_OK && i < (size_t)xc.dims[0] * r->rows_per_sample; i++)
            out->counts[(size_t)truth[first + i] * (size_t)out->n_classes + (size_t)pred[i]]++;
    }
    free(buf);
    free(pred);
    return st;
}

/* Output width and rows per sample for x; the targets must give one class
 * per output row. */
static ck_status plan(ck_model *m, const ck_tensor *x, const ck_tensor *y, cm_run *r, int *k)
{
    int rank;
    int64_t dims[CK_MAX_RANK];
    if (x->rank < 1 || x->dims[0] < 1 || !x->data || !y->data)
        return ck_error(CK_ERR_ARGUMENT, "ck_model_confusion_matrix: no samples");
    CK_TRY(ck_model_compute_output_shape(m, x->rank, x->dims, &rank, dims));
    dims[0] = x->dims[0];
    ck_tensor shape = {rank, {0}, NULL};
    memcpy(shape.dims, dims, sizeof dims);
    r->width = dims[rank - 1];
    *k = r->width == 1 ? 2 : (int)r->width;
    size_t rows = ck_tensor_size(&shape) / (size_t)r->width;
    r->rows_per_sample = rows / (size_t)x->dims[0];
    if (ck_target_rows(y, *k) != rows)
        return ck_error(CK_ERR_SHAPE,
                        "ck_model_confusion_matrix: the model gives %zu rows of class scores, "
                        "the targets %zu",
                        rows, ck_target_rows(y, *k));
    return CK_OK;
}

ck_status ck_model_confusion_matrix(ck_model *m, const ck_tensor *x, const ck_tensor *y,
                                    int batch_size, ck_confusion *out)
{
    if (!out || !m || !x || !y || batch_size < 0)
        return ck_error(CK_ERR_ARGUMENT, "ck_model_confusion_matrix: NULL or negative argument");
    memset(out, 0, sizeof *out);
    const ck_train_state *s = ck_train_state_of(m);
    size_t batch;
    CK_TRY(ck_batch_size(m, batch_size, x->dims[0], "ck_model_confusion_matrix", &batch));
    cm_run r = {.m = m,
                .x = x,
                .batch = (int64_t)batch,
                .threshold = s && s->loss.from_logits ? 0.0f : 0.5f};
    int k = 0;
    CK_TRY(plan(m, x, y, &r, &k));
    /* A batch larger than the data is all of it, as in Keras. */
    if (r.batch > x->dims[0])
        r.batch = x->dims[0];
    size_t rows = ck_target_rows(y, k);
    int32_t *truth = ck_alloc(rows, sizeof *truth);
    out->counts = truth ? ck_alloc((size_t)k * (size_t)k, sizeof *out->counts) : NULL;
    ck_status st = out->counts ? CK_OK : CK_ERR_MEMORY;
    out->n_classes = k;
    if (st == CK_OK)
        st = ck_target_class_ids(y, k, truth);
    if (st == CK_OK)
        st = count(&r, truth, out);
    free(truth);
    if (st != CK_OK)
        ck_confusion_free(out);
    return st;
}

void ck_confusion_free(ck_confusion *c)
{
    if (!c)
        return;
    free(c->counts);
    c->counts = NULL;
    c->n_classes = 0;
}
