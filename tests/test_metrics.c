/* Keras's counting metrics (Precision, Recall, AUC, F1Score) and top-k
 * accuracies against hand-worked values from their Keras definitions,
 * kept over batches as Keras keeps its metric variables. */
#include "ck_test.h"
#include "ck_train.h"

#include <string.h>

static double run_metric(ck_metric_kind kind, const float *out, const float *y, size_t rows,
                         size_t width, const float *mask)
{
    double state[1024] = {0};
    ck_assert_uint_le(ck_metric_state_size(kind, width), 1024);
    ck_metric_update(kind, state, out, y, rows, width, mask);
    return ck_metric_result(kind, state, width);
}

/* Every entry is a binary decision at 0.5: predicted positives 0.9 (true),
 * 0.6 and 0.7 (false); the true 0.3 is missed. */
START_TEST(precision_and_recall)
{
    const float out[] = {0.9f, 0.2f, 0.6f, 0.1f, 0.7f, 0.3f}, y[] = {1, 0, 0, 0, 0, 1};
    ck_assert_close(run_metric(CK_METRIC_PRECISION, out, y, 2, 3, NULL), 1.0 / 3, 1e-12);
    ck_assert_close(run_metric(CK_METRIC_RECALL, out, y, 2, 3, NULL), 0.5, 1e-12);
    const float keep_first[] = {1, 0};
    ck_assert_close(run_metric(CK_METRIC_PRECISION, out, y, 2, 3, keep_first), 0.5, 1e-12);
    ck_assert_close(run_metric(CK_METRIC_RECALL, out, y, 2, 3, keep_first), 1.0, 1e-12);
    /* Nothing predicted: divide_no_nan gives 0. */
    const float none[] = {0.1f, 0.2f, 0.3f};
    ck_assert_close(run_metric(CK_METRIC_PRECISION, none, y, 1, 3, NULL), 0, 0);
}
END_TEST

/* The example of Keras's AUC docstring: y [0, 0, 1, 1], scores
 * [0, 0.5, 0.3, 0.9]: three of the four positive-negative pairs are
 * ordered, 0.75; fed one row per batch, the counts give the same. */
START_TEST(auc_roc)
{
    const float out[] = {0, 0.5f, 0.3f, 0.9f}, y[] = {0, 0, 1, 1};
    ck_assert_close(run_metric(CK_METRIC_AUC, out, y, 4, 1, NULL), 0.75, 1e-9);
    double state[800] = {0};
    for (int r = 0; r < 4; r++)
        ck_metric_update(CK_METRIC_AUC, state, out + r, y + r, 1, 1, NULL);
    ck_assert_close(ck_metric_result(CK_METRIC_AUC, state, 1), 0.75, 1e-9);
    const float perfect[] = {0.1f, 0.2f, 0.8f, 0.9f};
    ck_assert_close(run_metric(CK_METRIC_AUC, perfect, y, 4, 1, NULL), 1.0, 1e-9);
}
END_TEST

/* F1Score(threshold=None): the row maximum (ties included) is predicted.
 * Rows predict {2}, {1, 2}, {1}: per class tp/fp/fn 0/0/3, 1/1/1, 1/1/0,
 * F1 0, 1/2, 2/3; micro 2/2/4; true counts 3, 2, 1 weigh "weighted". */
START_TEST(f1_scores)
{
    const float out[] = {0.2f, 0.6f, 0.7f, 0.2f, 0.6f, 0.6f, 0.6f, 0.8f, 0.0f};
    const float y[] = {1, 1, 1, 1, 0, 0, 1, 1, 0};
    ck_assert_close(run_metric(CK_METRIC_F1_MACRO, out, y, 3, 3, NULL), (0 + 0.5 + 2.0 / 3) / 3,
                    1e-6);
    ck_assert_close(run_metric(CK_METRIC_F1_MICRO, out, y, 3, 3, NULL), 0.4, 1e-6);
    ck_assert_close(run_metric(CK_METRIC_F1_WEIGHTED, out, y, 3, 3, NULL),
                    0.5 * 2 / 6 + 2.0 / 3 / 6, 1e-6);
}
END_TEST

/* k = 5 over six classes; classes tied with the target count as below it. */
START_TEST(top_k)
{
    const float p[] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f};
    const float first[] = {1, 0, 0, 0, 0, 0}, second[] = {0, 1, 0, 0, 0, 0};
    ck_assert_close(run_metric(CK_METRIC_TOP_K, p, first, 1, 6, NULL), 0, 0);
    ck_assert_close(run_metric(CK_METRIC_TOP_K, p, second, 1, 6, NULL), 1, 0);
    const float id0 = 0, id1 = 1, flat[6] = {0.2f, 0.2f, 0.2f, 0.2f, 0.2f, 0.2f};
    ck_assert_close(run_metric(CK_METRIC_SPARSE_TOP_K, p, &id0, 1, 6, NULL), 0, 0);
    ck_assert_close(run_metric(CK_METRIC_SPARSE_TOP_K, p, &id1, 1, 6, NULL), 1, 0);
    ck_assert_close(run_metric(CK_METRIC_SPARSE_TOP_K, flat, &id0, 1, 6, NULL), 1, 0);
}
END_TEST

/* Through compile and evaluate: the values do not depend on the batch
 * size (counts, not means of batches), and the layout rules hold. */
START_TEST(compiled_metrics)
{
    ck_model *m = ck_sequential(.seed = 5);
    ck_assert_ok(ck_model_add(m, ck_input(2)));
    ck_assert_ok(ck_model_add(m, ck_dense(3, .activation = "softmax")));
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_adam(), .loss = "categorical_crossentropy",
                                  .metrics = {"precision", "recall", "auc", "f1_score",
                                              "top_k_categorical_accuracy"}));
    float x[] = {1, 0, 0, 1, 1, 1, -1, 2, 0.5f, -0.5f};
    float y[] = {1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0, 1, 0, 0};
    ck_tensor tx = {2, {5, 2}, x}, ty = {2, {5, 3}, y};
    double l1, l5, m1[5], m5[5];
    ck_assert_ok(ck_model_evaluate(m, &tx, &ty, 1, &l1, m1));
    ck_assert_ok(ck_model_evaluate(m, &tx, &ty, 5, &l5, m5));
    float p[15];
    ck_assert_ok(ck_model_predict(m, x, 5, p));
    const ck_metric_kind kinds[] = {CK_METRIC_PRECISION, CK_METRIC_RECALL, CK_METRIC_AUC,
                                    CK_METRIC_F1_MACRO, CK_METRIC_TOP_K};
    for (int k = 0; k < 5; k++) {
        ck_assert_close(m1[k], m5[k], 1e-12);
        ck_assert_close(m5[k], run_metric(kinds[k], p, y, 5, 3, NULL), 1e-12);
    }
    ck_assert_close(m5[4], 1, 0); /* three classes are always in the top 5 */
    ck_assert_fails(ck_model_compile(m, .optimizer = ck_adam(),
                                     .loss = "sparse_categorical_crossentropy",
                                     .metrics = {"precision"}),
                    CK_ERR_ARGUMENT);
    ck_model_free(m);
}
END_TEST

static Suite *metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, precision_and_recall);
    tcase_add_test(tc, auc_roc);
    tcase_add_test(tc, f1_scores);
    tcase_add_test(tc, top_k);
    tcase_add_test(tc, compiled_metrics);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ck_test_run(metrics_suite());
}
