/* Keras's counting metrics (Precision, Recall, AUC, F1Score) and top-k
 * accuracies against hand-worked values from their Keras definitions,
 * kept over batches as Keras keeps its metric variables. */
#include "ck_test.h"
#include "ck_train.h"

#include <math.h>
#include <string.h>

static double run_metric_with(ck_metric_kind kind, const ck_metric_params *p, const float *out,
                              const float *y, size_t rows, size_t width, const float *mask)
{
    double state[1024] = {0};
    ck_assert_uint_le(ck_metric_state_size(kind, p, width), 1024);
    ck_metric_update(kind, p, state, out, y, rows, width, mask);
    return ck_metric_result(kind, p, state, width);
}

/* With Keras's default options, as a metric named by a string. */
static double run_metric(ck_metric_kind kind, const float *out, const float *y, size_t rows,
                         size_t width, const float *mask)
{
    return run_metric_with(kind, &(ck_metric_params){0}, out, y, rows, width, mask);
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
    const ck_metric_params keras = {0};
    for (int r = 0; r < 4; r++)
        ck_metric_update(CK_METRIC_AUC, &keras, state, out + r, y + r, 1, 1, NULL);
    ck_assert_close(ck_metric_result(CK_METRIC_AUC, &keras, state, 1), 0.75, 1e-9);
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

/* BinaryAccuracy(threshold), Precision/Recall(thresholds) and
 * F1Score(threshold): a prediction is positive above the threshold, compared
 * in float32 as Keras compares it (0.7f is not above 0.7f). */
START_TEST(threshold_options)
{
    const ck_metric_params at_07 = {.has_threshold = true, .threshold = 0.7};
    const float pb[] = {0.6f, 0.8f, 0.75f, 0.2f}, yb[] = {1, 1, 0, 0};
    ck_assert_close(run_metric_with(CK_METRIC_BINARY_ACCURACY, &at_07, pb, yb, 4, 1, NULL), 0.5, 0);
    ck_assert_close(run_metric(CK_METRIC_BINARY_ACCURACY, pb, yb, 4, 1, NULL), 0.75, 0);
    const float out[] = {0.9f, 0.2f, 0.6f, 0.1f, 0.7f, 0.3f}, y[] = {1, 0, 0, 0, 0, 1};
    ck_assert_close(run_metric_with(CK_METRIC_PRECISION, &at_07, out, y, 2, 3, NULL), 1, 0);
    ck_assert_close(run_metric_with(CK_METRIC_RECALL, &at_07, out, y, 2, 3, NULL), 0.5, 0);
    const ck_metric_params at_02 = {.has_threshold = true, .threshold = 0.2};
    ck_assert_close(run_metric_with(CK_METRIC_PRECISION, &at_02, out, y, 2, 3, NULL), 0.5, 0);
    ck_assert_close(run_metric_with(CK_METRIC_RECALL, &at_02, out, y, 2, 3, NULL), 1, 0);
    /* At 0.5 rows predict {1, 2}, {1, 2}, {0, 1}: per class tp/fp/fn
     * 1/0/2, 2/1/0, 1/1/0, F1 1/2, 4/5, 2/3. */
    const ck_metric_params at_05 = {.has_threshold = true, .threshold = 0.5};
    const float p3[] = {0.2f, 0.6f, 0.7f, 0.2f, 0.6f, 0.6f, 0.6f, 0.8f, 0.0f};
    const float y3[] = {1, 1, 1, 1, 0, 0, 1, 1, 0};
    ck_assert_close(run_metric_with(CK_METRIC_F1_MACRO, &at_05, p3, y3, 3, 3, NULL),
                    (0.5 + 0.8 + 2.0 / 3) / 3, 1e-6);
}
END_TEST

/* TopKCategoricalAccuracy(k=2): the target is in the top 2 when fewer than
 * 2 classes score higher. */
START_TEST(top_k_option)
{
    const ck_metric_params k2 = {.k = 2};
    const float p[] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f};
    const float fifth[] = {0, 0, 0, 0, 1, 0}, fourth[] = {0, 0, 0, 1, 0, 0}, id3 = 3;
    ck_assert_close(run_metric_with(CK_METRIC_TOP_K, &k2, p, fifth, 1, 6, NULL), 1, 0);
    ck_assert_close(run_metric_with(CK_METRIC_TOP_K, &k2, p, fourth, 1, 6, NULL), 0, 0);
    ck_assert_close(run_metric(CK_METRIC_TOP_K, p, fourth, 1, 6, NULL), 1, 0);
    ck_assert_close(run_metric_with(CK_METRIC_SPARSE_TOP_K, &k2, p, &id3, 1, 6, NULL), 0, 0);
}
END_TEST

/* AUC with num_thresholds 3 (-eps, 0.5, 1 + eps) on the docstring's data
 * (y 0 0 1 1, scores 0 0.5 0.3 0.9): tp/fp/fn are 2/2/0, 1/0/1, 0/0/2.
 * ROC points (fpr, recall) (1, 1), (0, 1/2), (0, 0); PR points (recall,
 * precision) (1, 1/2), (1/2, 1), (0, 0). PR interpolation follows Keras's
 * interpolate_pr_auc: slope 1/3, intercept 2/3 and p ratio 4 over the
 * first step, slope 1 over the second. */
START_TEST(auc_options)
{
    const float out[] = {0, 0.5f, 0.3f, 0.9f}, y[] = {0, 0, 1, 1};
    ck_metric_params p = {.num_thresholds = 3};
    ck_assert_close(run_metric_with(CK_METRIC_AUC, &p, out, y, 4, 1, NULL), 0.75, 1e-12);
    p.summation = CK_AUC_MINORING;
    ck_assert_close(run_metric_with(CK_METRIC_AUC, &p, out, y, 4, 1, NULL), 0.5, 1e-12);
    p.summation = CK_AUC_MAJORING;
    ck_assert_close(run_metric_with(CK_METRIC_AUC, &p, out, y, 4, 1, NULL), 1, 1e-12);
    p.curve = CK_AUC_PR;
    ck_assert_close(run_metric_with(CK_METRIC_AUC, &p, out, y, 4, 1, NULL), 1, 1e-12);
    p.summation = CK_AUC_MINORING;
    ck_assert_close(run_metric_with(CK_METRIC_AUC, &p, out, y, 4, 1, NULL), 0.25, 1e-12);
    p.summation = CK_AUC_INTERPOLATION;
    ck_assert_close(run_metric_with(CK_METRIC_AUC, &p, out, y, 4, 1, NULL),
                    0.5 + (1 + 2.0 / 3 * log(4)) / 6, 1e-12);
    /* Scores 0.3 (negative) and 0.4 (positive) fall between the same two
     * of 3 thresholds, not of 200. */
    const float close[] = {0.3f, 0.4f}, y2[] = {0, 1};
    const ck_metric_params three = {.num_thresholds = 3};
    ck_assert_close(run_metric_with(CK_METRIC_AUC, &three, close, y2, 2, 1, NULL), 0.5, 1e-12);
    ck_assert_close(run_metric(CK_METRIC_AUC, close, y2, 2, 1, NULL), 1, 1e-12);
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

/* "accuracy" of a 3-unit sigmoid output trained with binary_crossentropy,
 * by the release that wrote the model's file. Keras 2.0-2.3.1 and
 * tf.keras "2.2.4-tf" pick it from the loss (binary); tf.keras from
 * "2.3.0-tf" (TF 2.2) and Keras 3 from the shapes (categorical). */
START_TEST(accuracy_by_file_release)
{
    static const struct {
        const char *release;
        double accuracy;
    } cases[] = {
        /* p = sigmoid(2, -2, 1) thresholds to (1, 0, 1): the rows match
         * 3, 0 and 2 of 3 labels, and argmax 0 matches row 0 only. */
        {"2.0.8", 5.0 / 9},    {"2.2.4", 5.0 / 9},  {"2.3.1", 5.0 / 9}, {"2.2.4-tf", 5.0 / 9},
        {"2.3.0-tf", 1.0 / 3}, {"2.15.0", 1.0 / 3}, {"3.8.0", 1.0 / 3}, {"", 1.0 / 3},
    };
    float x[] = {1, 2, -1, 0, 3, -2}, y[] = {1, 0, 1, 0, 1, 0, 0, 0, 1};
    ck_tensor tx = {2, {3, 2}, x}, ty = {2, {3, 3}, y};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_model *m = ck_sequential(.seed = 5);
        ck_assert_ok(ck_model_add(m, ck_input(2)));
        ck_assert_ok(ck_model_add(m, ck_dense(3, .activation = "sigmoid")));
        ck_assert_ok(ck_model_build(m));
        const float w[] = {0, 0, 0, 0, 0, 0, 2, -2, 1};
        memcpy(m->params, w, sizeof w);
        snprintf(m->keras_version, sizeof m->keras_version, "%s", cases[i].release);
        ck_assert_ok(ck_model_compile(m, .optimizer = ck_sgd(), .loss = "binary_crossentropy",
                                      .metrics = {"acc"}));
        double loss, acc;
        ck_assert_ok(ck_model_evaluate(m, &tx, &ty, 2, &loss, &acc));
        ck_assert_msg(fabs(acc - cases[i].accuracy) < 1e-12, "keras_version '%s': accuracy %g",
                      cases[i].release, acc);
        ck_model_free(m);
    }
}
END_TEST

/* The same rule for the other losses: sparse cross-entropy gives sparse
 * categorical accuracy, one output binary accuracy whatever the loss. */
START_TEST(accuracy_from_loss_rule)
{
    ck_loss sparse, mse;
    ck_assert_ok(ck_loss_parse("sparse_categorical_crossentropy", false, &sparse));
    ck_assert_ok(ck_loss_parse("mse", false, &mse));
    ck_assert_int_eq(ck_metric_resolve_from_loss(CK_METRIC_ACCURACY, &sparse, 4),
                     CK_METRIC_SPARSE_CATEGORICAL_ACCURACY);
    ck_assert_int_eq(ck_metric_resolve_from_loss(CK_METRIC_ACCURACY, &sparse, 1),
                     CK_METRIC_BINARY_ACCURACY);
    ck_assert_int_eq(ck_metric_resolve_from_loss(CK_METRIC_ACCURACY, &mse, 4),
                     CK_METRIC_CATEGORICAL_ACCURACY);
    ck_assert_int_eq(ck_metric_resolve_from_loss(CK_METRIC_MAE, &mse, 4), CK_METRIC_MAE);
}
END_TEST

/* Keras 3 names (CompileMetrics.result): a weighted metric keeps its name
 * unless `metrics` has it, then weighted_NAME, then weighted_NAME_1; a
 * repeated plain metric is NAME_1. */
START_TEST(weighted_metric_names)
{
    ck_model *m = ck_sequential();
    ck_assert_ok(ck_model_add(m, ck_input(2)));
    ck_assert_ok(ck_model_add(m, ck_dense(2, .activation = "softmax")));
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_sgd(), .loss = "categorical_crossentropy",
                                  .metrics = {"accuracy", "accuracy"},
                                  .weighted_metrics = {"accuracy", "mse", "accuracy"}));
    const char *want[] = {"accuracy", "accuracy_1", "weighted_accuracy", "mse",
                          "weighted_accuracy_1"};
    ck_assert_int_eq(ck_model_metric_count(m), 5);
    for (int k = 0; k < 5; k++)
        ck_assert_str_eq(ck_model_metric_name(m, k), want[k]);
    ck_compile_options o;
    ck_assert_ok(ck_model_get_compile_options(m, &o));
    ck_assert_str_eq(o.metrics[1], "accuracy");
    ck_assert_ptr_null(o.metrics[2]);
    ck_assert_str_eq(o.weighted_metrics[0], "accuracy");
    ck_assert_str_eq(o.weighted_metrics[1], "mse");
    ck_assert_str_eq(o.weighted_metrics[2], "accuracy");
    ck_assert_ptr_null(o.weighted_metrics[3]);
    ck_assert_fails(ck_model_compile(m, .optimizer = ck_sgd(), .loss = "categorical_crossentropy",
                                     .metrics = {"mse", "mse", "mse", "mse", "mse"},
                                     .weighted_metrics = {"mae", "mae", "mae", "mae"}),
                    CK_ERR_ARGUMENT);
    ck_assert_fails(ck_model_compile(m, .optimizer = ck_sgd(), .loss = "categorical_crossentropy",
                                     .weighted_metrics = {"nope"}),
                    CK_ERR_NAME);
    ck_model_free(m);
}
END_TEST

/* Freezing a layer drops the training state at the next compile; the
 * options read back from it must outlive that drop (the CLI's --freeze). */
START_TEST(recompile_with_own_options)
{
    ck_model *m = ck_sequential();
    ck_layer *first = ck_dense(3);
    ck_assert_ok(ck_model_add(m, ck_input(2)));
    ck_assert_ok(ck_model_add(m, first));
    ck_assert_ok(ck_model_add(m, ck_dense(2, .activation = "softmax")));
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_adam(), .loss = "categorical_crossentropy",
                                  .metrics = {"accuracy", "mae"}, .weighted_metrics = {"mse"}));
    ck_compile_options o;
    ck_assert_ok(ck_model_get_compile_options(m, &o));
    ck_assert_ok(ck_layer_set_trainable(first, false));
    ck_assert_ok(ck_model_compile_with(m, &o));
    const char *want[] = {"accuracy", "mae", "mse"};
    ck_assert_int_eq(ck_model_metric_count(m), 3);
    for (int k = 0; k < 3; k++)
        ck_assert_str_eq(ck_model_metric_name(m, k), want[k]);
    ck_assert_ok(ck_model_get_compile_options(m, &o));
    ck_assert_str_eq(o.loss, "categorical_crossentropy");
    ck_assert_str_eq(o.optimizer.name, "Adam");
    ck_assert_uint_eq(ck_model_count_trainable_params(m), 8);
    ck_model_free(m);
}
END_TEST

/* p = softmax(x, -x): x > 0 predicts class 0. Samples x 1, 2, -1, -2 of
 * classes 0, 1, 1, 1 are right, wrong, right, right. */
static const float wx[] = {1, 2, -1, -2}, wy[] = {1, 0, 0, 1, 0, 1, 0, 1};

static ck_model *sign_model(void)
{
    ck_model *m = ck_sequential();
    ck_assert_ok(ck_model_add(m, ck_input(1)));
    ck_assert_ok(ck_model_add(m, ck_dense(2, .activation = "softmax")));
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_sgd(), .loss = "categorical_crossentropy",
                                  .metrics = {"accuracy"},
                                  .weighted_metrics = {"accuracy", "mse", "precision"}));
    ck_tensor kernel, bias;
    const char *name;
    ck_layer *dense = ck_model_layer(m, 0);
    ck_assert_ok(ck_layer_weight(dense, 0, &name, &kernel));
    ck_assert_ok(ck_layer_weight(dense, 1, &name, &bias));
    kernel.data[0] = 1;
    kernel.data[1] = -1;
    bias.data[0] = bias.data[1] = 0;
    return m;
}

/* Keras's Mean with sample weights: sum(w * value) / sum(w). */
static double weighted_mse(const float *w)
{
    double total = 0, sum_w = 0;
    for (int i = 0; i < 4; i++) {
        double p0 = 1 / (1 + exp(-2.0 * wx[i])), e0 = p0 - wy[2 * i], e1 = 1 - p0 - wy[2 * i + 1];
        total += w[i] * (e0 * e0 + e1 * e1) / 2;
        sum_w += w[i];
    }
    return total / sum_w;
}

START_TEST(weighted_metrics_values)
{
    ck_model *m = sign_model();
    ck_tensor tx = {2, {4, 1}, (float *)wx}, ty = {2, {4, 2}, (float *)wy};
    const float sw[] = {1, 2, 3, 4}, ones[] = {1, 1, 1, 1}, by_class[] = {1, 4, 4, 4};
    double loss, v[4];
    ck_assert_ok(
        ck_model_evaluate_with(m, &tx, &ty, &(ck_evaluate_options){.sample_weight = sw}, &loss, v));
    ck_assert_close(v[0], 0.75, 1e-12);     /* accuracy: not weighted */
    ck_assert_close(v[1], 8.0 / 10, 1e-12); /* (1 + 3 + 4) / (1 + 2 + 3 + 4) */
    ck_assert_close(v[2], weighted_mse(sw), 1e-6);
    ck_assert_close(v[3], 8.0 / 10, 1e-12); /* one predicted entry per row, weighted */
    /* Without weights the weighted metrics are the plain ones. */
    ck_assert_ok(ck_model_evaluate(m, &tx, &ty, 3, &loss, v));
    ck_assert_close(v[1], 0.75, 1e-12);
    ck_assert_close(v[2], weighted_mse(ones), 1e-6);
    /* class_weight {0: 1, 1: 4} weighs the samples 1, 4, 4, 4. */
    ck_assert_ok(ck_model_evaluate_with(m, &tx, &ty,
                                        &(ck_evaluate_options){.batch_size = 3,
                                                               .class_weight = (float[]){1, 4},
                                                               .n_class_weights = 2},
                                        &loss, v));
    ck_assert_close(v[1], 9.0 / 13, 1e-12);
    ck_assert_close(v[2], weighted_mse(by_class), 1e-6);
    ck_assert_ok(ck_model_test_on_batch(m, &tx, &ty, sw, &loss, v));
    ck_assert_close(v[1], 0.8, 1e-12);
    ck_model_free(m);
}
END_TEST

/* Keras 3 (np.round in class_weight_to_sample_weights, tf.round in the
 * tf.data map) and tf.keras 2 (tf.round) round a single output's target
 * half to even: 0.5 is class 0 and 2.5 class 2, not 1 and 3. */
START_TEST(class_weight_rounds_half_to_even)
{
    ck_model *m = ck_sequential();
    ck_assert_ok(ck_model_add(m, ck_input(1)));
    ck_assert_ok(ck_model_add(m, ck_dense(1)));
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_sgd(), .loss = "mse"));
    ck_tensor w;
    const char *name;
    ck_assert_ok(ck_layer_weight(ck_model_layer(m, 0), 0, &name, &w));
    w.data[0] = 1;
    const float x[] = {0, 0, 0, 0}, y[] = {0.5f, 1.5f, 2.5f, 3.5f};
    ck_tensor tx = {2, {4, 1}, (float *)x}, ty = {2, {4, 1}, (float *)y};
    const float cw[] = {1, 10, 100, 1000, 10000}, sw[] = {1, 100, 100, 10000};
    double by_class, by_sample;
    ck_assert_ok(ck_model_evaluate_with(
        m, &tx, &ty, &(ck_evaluate_options){.class_weight = cw, .n_class_weights = 5}, &by_class,
        NULL));
    ck_assert_ok(ck_model_evaluate_with(m, &tx, &ty, &(ck_evaluate_options){.sample_weight = sw},
                                        &by_sample, NULL));
    ck_assert_close(by_class, by_sample, 1e-9);
    ck_model_free(m);
}
END_TEST

/* In fit the class weights weigh the training metrics only, as Keras
 * applies class_weight to the training data; one batch logs the metrics
 * of the weights before its step. */
START_TEST(weighted_metrics_in_fit)
{
    ck_model *m = sign_model();
    ck_tensor tx = {2, {4, 1}, (float *)wx}, ty = {2, {4, 2}, (float *)wy};
    ck_history *h = NULL;
    ck_assert_ok(ck_model_fit(m, &tx, &ty, &h, .epochs = 1, .batch_size = 4, .no_shuffle = true,
                              .class_weight = (float[]){1, 4}, .n_class_weights = 2,
                              .validation_x = &tx, .validation_y = &ty));
    double v;
    ck_assert_ok(ck_history_get(h, "accuracy", 0, &v));
    ck_assert_close(v, 0.75, 1e-12);
    ck_assert_ok(ck_history_get(h, "weighted_accuracy", 0, &v));
    ck_assert_close(v, 9.0 / 13, 1e-12);
    ck_assert_ok(ck_history_get(h, "val_weighted_accuracy", 0, &v));
    double plain;
    ck_assert_ok(ck_history_get(h, "val_accuracy", 0, &plain));
    ck_assert_close(v, plain, 0);
    /* Sorted, as Keras 3 logs them: weighted_ after the val_ keys. */
    ck_assert_str_eq(ck_history_key(h, 8), "val_weighted_accuracy");
    ck_assert_str_eq(ck_history_key(h, 9), "weighted_accuracy");
    ck_history_free(h);
    ck_model_free(m);
    /* validation_data=(x, y, sample_weight): a learning rate of 0 keeps the
     * weights, so the validation pass sees the samples as evaluate does. */
    m = sign_model();
    const float sw[] = {1, 2, 3, 4};
    ck_assert_ok(ck_model_compile(
        m, .optimizer = ck_sgd(.learning_rate = 0, .explicit_fields = CK_OPT_LEARNING_RATE),
        .loss = "categorical_crossentropy", .metrics = {"accuracy"},
        .weighted_metrics = {"accuracy"}));
    ck_assert_ok(ck_model_fit(m, &tx, &ty, &h, .epochs = 1, .validation_x = &tx,
                              .validation_y = &ty, .validation_sample_weight = sw));
    ck_assert_ok(ck_history_get(h, "val_weighted_accuracy", 0, &v));
    ck_assert_close(v, 8.0 / 10, 1e-12);
    ck_assert_ok(ck_history_get(h, "val_accuracy", 0, &v));
    ck_assert_close(v, 0.75, 1e-12);
    double want;
    ck_assert_ok(ck_model_evaluate_with(m, &tx, &ty, &(ck_evaluate_options){.sample_weight = sw},
                                        &want, NULL));
    ck_assert_ok(ck_history_get(h, "val_loss", 0, &v));
    ck_assert_close(v, want, 1e-9);
    ck_history_free(h);
    ck_assert_fails(ck_model_fit(m, &tx, &ty, NULL, .validation_split = 0.5,
                                 .validation_sample_weight = sw),
                    CK_ERR_ARGUMENT);
    ck_model_free(m);
}
END_TEST

/* Saved as Keras saves compile(weighted_metrics=[...]): the names given,
 * null when there are none; read back into the same metrics. */
/* Standalone Keras 2.0 to 2.3 (fit of training.py in 2.0.0, 2.2.4, 2.3.1)
 * turned class_weight into sample weights before taking the
 * validation_split, so the validation loss and weighted metrics are
 * class-weighted too; tf.keras and Keras 3 split first. */
START_TEST(class_weight_splits_with_standalone_keras2)
{
    const char *versions[] = {"2.2.4", ""};
    for (int k = 0; k < 2; k++) {
        ck_model *m = ck_sequential();
        snprintf(m->keras_version, sizeof m->keras_version, "%s", versions[k]);
        ck_assert_ok(ck_model_add(m, ck_input(1)));
        ck_assert_ok(ck_model_add(m, ck_dense(2, .activation = "softmax")));
        ck_assert_ok(ck_model_compile(
            m, .optimizer = ck_sgd(.learning_rate = 0, .explicit_fields = CK_OPT_LEARNING_RATE),
            .loss = "categorical_crossentropy", .weighted_metrics = {"accuracy"}));
        ck_tensor tx = {2, {4, 1}, (float *)wx}, ty = {2, {4, 2}, (float *)wy};
        const float cw[] = {1, 4};
        ck_history *h = NULL;
        ck_assert_ok(ck_model_fit(m, &tx, &ty, &h, .validation_split = 0.5, .no_shuffle = true,
                                  .class_weight = cw, .n_class_weights = 2));
        ck_tensor vx = {2, {2, 1}, (float *)wx + 2}, vy = {2, {2, 2}, (float *)wy + 4};
        double want, got;
        ck_evaluate_options weighted = {.class_weight = cw, .n_class_weights = 2}, plain = {0};
        ck_assert_ok(ck_model_evaluate_with(m, &vx, &vy, k == 0 ? &weighted : &plain, &want, NULL));
        ck_assert_ok(ck_history_get(h, "val_loss", 0, &got));
        ck_assert_msg(fabs(got - want) < 1e-9, "%s: val_loss %.9g, expected %.9g", versions[k], got,
                      want);
        ck_history_free(h);
        ck_model_free(m);
    }
}
END_TEST

START_TEST(weighted_metrics_config)
{
    ck_model *m = sign_model();
    cJSON *j = ck_train_config_to_json(m);
    char *text = cJSON_PrintUnformatted(j);
    ck_assert_ptr_nonnull(strstr(text,
                                 "\"metrics\":[\"accuracy\"],"
                                 "\"weighted_metrics\":[\"accuracy\",\"mse\",\"precision\"]"));
    ck_model *m2 = ck_sequential();
    ck_assert_ok(ck_model_add(m2, ck_input(1)));
    ck_assert_ok(ck_model_add(m2, ck_dense(2, .activation = "softmax")));
    ck_assert_ok(ck_train_config_from_json(m2, j));
    ck_assert_int_eq(ck_model_metric_count(m2), 4);
    ck_assert_str_eq(ck_model_metric_name(m2, 1), "weighted_accuracy");
    ck_assert_str_eq(ck_model_metric_name(m2, 3), "precision");
    cJSON *j2 = ck_train_config_to_json(m2);
    char *text2 = cJSON_PrintUnformatted(j2);
    ck_assert_str_eq(text, text2);
    /* Through the files of both Keras versions. */
    ck_test_make_dir("ck_metrics");
    const char *files[] = {"m.h5", "m.keras"};
    for (int i = 0; i < 2; i++) {
        ck_model *back;
        ck_assert_ok(ck_model_save(m, ck_test_path(files[i])));
        ck_assert_ok(ck_model_load(ck_test_path(files[i]), &back));
        ck_assert_int_eq(ck_model_metric_count(back), 4);
        ck_assert_str_eq(ck_model_metric_name(back, 0), "accuracy");
        ck_assert_str_eq(ck_model_metric_name(back, 1), "weighted_accuracy");
        ck_assert_str_eq(ck_model_metric_name(back, 2), "mse");
        ck_model_free(back);
    }
    ck_test_remove_dir();
    ck_assert_ok(ck_model_compile(m2, .optimizer = ck_sgd(), .loss = "mse"));
    cJSON *none = ck_train_config_to_json(m2);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(none, "weighted_metrics")));
    cJSON_Delete(none);
    cJSON_free(text2);
    cJSON_Delete(j2);
    cJSON_free(text);
    cJSON_Delete(j);
    ck_model_free(m2);
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
    tcase_add_test(tc, accuracy_by_file_release);
    tcase_add_test(tc, accuracy_from_loss_rule);
    tcase_add_test(tc, threshold_options);
    tcase_add_test(tc, top_k_option);
    tcase_add_test(tc, auc_options);
    tcase_add_test(tc, compiled_metrics);
    tcase_add_test(tc, weighted_metric_names);
    tcase_add_test(tc, recompile_with_own_options);
    tcase_add_test(tc, weighted_metrics_values);
    tcase_add_test(tc, class_weight_rounds_half_to_even);
    tcase_add_test(tc, weighted_metrics_in_fit);
    tcase_add_test(tc, class_weight_splits_with_standalone_keras2);
    tcase_add_test(tc, weighted_metrics_config);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ck_test_run(metrics_suite());
}
