/* Keras metric objects in a saved training_config / compile_config: read
 * by class and options (not by config name), logged under their config
 * name, refused when an option ckeras cannot honour is not at its Keras
 * default, and saved back as objects. Values are worked by hand from
 * Keras's definitions, on a model whose outputs are its inputs. */
#include "ck_test.h"
#include "ck_train.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Dense(width) with an identity kernel and no bias: outputs = inputs. */
static ck_model *identity_model(int width)
{
    ck_model *m = ck_sequential();
    ck_assert_ok(ck_model_add(m, ck_input(width)));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = width)));
    ck_assert_ok(ck_model_build(m));
    memset(m->params, 0, (size_t)(width * width + width) * sizeof *m->params);
    for (int i = 0; i < width; i++)
        m->params[i * width + i] = 1;
    return m;
}

static void compile_from(ck_model *m, const char *metrics, const char *weighted)
{
    char text[4096];
    snprintf(text, sizeof text,
             "{\"optimizer\": \"adam\", \"loss\": \"mse\", \"loss_weights\": null, "
             "\"metrics\": %s, \"weighted_metrics\": %s}",
             metrics, weighted);
    cJSON *j = cJSON_Parse(text);
    ck_assert_ptr_nonnull(j);
    ck_assert_ok(ck_train_config_from_json(m, j));
    cJSON_Delete(j);
}

static void assert_metrics(ck_model *m, const float *x, const float *y, int rows, int width,
                           const char *const *names, const double *want, int n)
{
    ck_tensor tx = {2, {rows, width}, (float *)x}, ty = {2, {rows, width}, (float *)y};
    double loss, got[8];
    ck_assert_int_eq(ck_model_metric_count(m), n);
    ck_assert_ok(ck_model_evaluate(m, &tx, &ty, 0, &loss, got));
    for (int k = 0; k < n; k++) {
        ck_assert_str_eq(ck_model_metric_name(m, k), names[k]);
        ck_assert_msg(fabs(got[k] - want[k]) < 1e-6, "%s = %.9g, want %.9g", names[k], got[k],
                      want[k]);
    }
}

/* Scores 0.6 0.8 0.75 0.2 for targets 1 1 0 0. At 0.7 the predictions are
 * 0 1 1 0: accuracy 1/2, precision 1/2, recall 1/2; at 0.5 accuracy 3/4.
 * AUC over 3 thresholds (-eps, 0.5, 1 + eps) has tp/fp 2/2, 2/1, 0/0 and
 * fn 0, 0, 2: Keras's interpolate_pr_auc adds 0 (no new true positive),
 * then slope 2/3 times dtp 2 over tp + fn 2 = 2/3 (ROC would give 3/4). */
static const float bin_x[] = {0.6f, 0.8f, 0.75f, 0.2f}, bin_y[] = {1, 1, 0, 0};
static const char *const bin_names[] = {"accuracy", "precision_at_07", "recall",
                                        "pr",       "binary_accuracy", "weighted_accuracy"};
static const double bin_want[] = {0.5, 0.5, 0.5, 2.0 / 3, 0.75, 0.75};

#define K3(cls, cfg)                                                                \
    "{\"module\": \"keras.metrics\", \"class_name\": \"" cls "\", \"config\": " cfg \
    ", \"registered_name\": null}"

START_TEST(binary_options_keras3)
{
    ck_model *m = identity_model(1);
    /* Every AUC option at its Keras default but num_thresholds and curve. */
    compile_from(m,
                 "[" K3("BinaryAccuracy", "{\"name\": \"accuracy\", \"dtype\": \"float32\", "
                                          "\"threshold\": 0.7}") //
                 ", " K3("Precision", "{\"name\": \"precision_at_07\", \"dtype\": \"float32\", "
                                      "\"thresholds\": [0.7], \"top_k\": null, \"class_id\": "
                                      "null}")                                    //
                 ", " K3("Recall", "{\"name\": \"recall\", \"thresholds\": 0.7}") //
                 ", " K3("AUC", "{\"name\": \"pr\", \"dtype\": \"float32\", \"num_thresholds\": "
                                "3, \"curve\": \"PR\", \"summation_method\": \"interpolation\", "
                                "\"multi_label\": false, \"num_labels\": null, "
                                "\"label_weights\": null, \"from_logits\": false}") //
                 ", \"binary_accuracy\"]",
                 "[" K3("BinaryAccuracy", "{\"name\": \"accuracy\", \"threshold\": 0.5}") "]");
    assert_metrics(m, bin_x, bin_y, 4, 1, bin_names, bin_want, 6);
    ck_model_free(m);
}
END_TEST

/* Compiling again with the model's own options (another optimizer, as
 * `ckeras fit --optimizer` does) keeps each object's class and options;
 * the same name given afresh is the plain Keras metric. */
START_TEST(recompile_keeps_objects)
{
    ck_model *m = identity_model(1);
    compile_from(m, "[" K3("BinaryAccuracy", "{\"name\": \"accuracy\", \"threshold\": 0.7}") "]",
                 "null");
    ck_compile_options o;
    ck_assert_ok(ck_model_get_compile_options(m, &o));
    o.optimizer = ck_sgd();
    ck_assert_ok(ck_model_compile_with(m, &o));
    assert_metrics(m, bin_x, bin_y, 4, 1, bin_names, bin_want, 1);
    ck_assert_ok(
        ck_model_compile(m, .optimizer = ck_sgd(), .loss = "mse", .metrics = {"accuracy"}));
    assert_metrics(m, bin_x, bin_y, 4, 1, bin_names, (double[]){0.75}, 1);
    ck_model_free(m);
}
END_TEST

/* tf.keras 2 writes {"class_name", "config"} in per-output lists. */
START_TEST(binary_options_tf_keras2)
{
    ck_model *m = identity_model(1);
    compile_from(m,
                 "[[{\"class_name\": \"BinaryAccuracy\", \"config\": {\"name\": \"accuracy\", "
                 "\"dtype\": \"float32\", \"threshold\": 0.7}}, {\"class_name\": \"AUC\", "
                 "\"config\": {\"name\": \"pr\", \"num_thresholds\": 3, \"curve\": \"PR\", "
                 "\"summation_method\": \"interpolation\", \"multi_label\": false, "
                 "\"label_weights\": null}}]]",
                 "null");
    const char *const names[] = {"accuracy", "pr"};
    const double want[] = {0.5, 2.0 / 3};
    assert_metrics(m, bin_x, bin_y, 4, 1, names, want, 2);
    ck_model_free(m);
}
END_TEST

/* Rows 0.2 0.6 0.7 | 0.2 0.6 0.6 | 0.6 0.8 0 with classes 2, 0, 1. The
 * target is top 1 in rows 0 and 2 (2/3; k 5 would give 1). F1Score with
 * threshold None predicts the row maximum, ties included: {2}, {1, 2},
 * {1}: tp/fp/fn 2/2/1 in all, micro F1 4/7. At threshold 0.5 rows predict
 * {1, 2}, {1, 2}, {0, 1}: per class F1 0, 1/2, 2/3, macro 7/18. */
START_TEST(categorical_options)
{
    ck_model *m = identity_model(3);
    compile_from(m,
                 "[" K3("TopKCategoricalAccuracy", "{\"name\": \"top1\", \"k\": 1}") //
                 ", " K3("F1Score", "{\"name\": \"f1_score\", \"average\": \"micro\", "
                                    "\"threshold\": null}") //
                 ", " K3("F1Score", "{\"name\": \"f1_score\", \"average\": \"macro\", "
                                    "\"threshold\": 0.5}") //
                 ", " K3("FBetaScore", "{\"average\": \"macro\", \"beta\": 1.0}") "]",
                 "null");
    const float x[] = {0.2f, 0.6f, 0.7f, 0.2f, 0.6f, 0.6f, 0.6f, 0.8f, 0};
    const float y[] = {0, 0, 1, 1, 0, 0, 0, 1, 0};
    /* Keras's F1 adds epsilon 1e-7 to the divisors. */
    const char *const names[] = {"top1", "f1_score", "f1_score_1", "fbeta_score"};
    const double want[] = {2.0 / 3, 4.0 / 7, 7.0 / 18, (0 + 2.0 / 3 + 2.0 / 3) / 3};
    assert_metrics(m, x, y, 3, 3, names, want, 4);
    ck_model_free(m);
}
END_TEST

/* What would change the numbers and is not honoured is refused, naming
 * the class and the option; a class ckeras lacks is refused by name. */
START_TEST(refused_options)
{
    const char *bad[][2] = {
        {K3("AUC", "{\"curve\": \"PRGAIN\"}"), "metric AUC: curve \"PRGAIN\""},
        {K3("AUC", "{\"from_logits\": true}"), "metric AUC: from_logits true"},
        {K3("AUC", "{\"multi_label\": true}"), "metric AUC: multi_label"},
        {K3("AUC", "{\"label_weights\": [1]}"), "metric AUC: label_weights"},
        {K3("AUC", "{\"thresholds\": [0.3, 0.6]}"), "metric AUC: thresholds"},
        {K3("Precision", "{\"top_k\": 2}"), "metric Precision: top_k 2"},
        {K3("Recall", "{\"class_id\": 1}"), "metric Recall: class_id 1"},
        {K3("Precision", "{\"thresholds\": [0.3, 0.7]}"), "metric Precision: thresholds"},
        {K3("F1Score", "{\"average\": null}"), "metric F1Score: average null"},
        {K3("F1Score", "{\"name\": \"f1\"}"), "metric F1Score: average null"},
        {K3("FBetaScore", "{\"average\": \"macro\", \"beta\": 2.0}"), "metric FBetaScore: beta 2"},
        {K3("TopKCategoricalAccuracy", "{\"k\": 1.5}"), "metric TopKCategoricalAccuracy: k"},
        {K3("BinaryAccuracy", "{\"threshold\": \"high\"}"),
         "metric BinaryAccuracy: threshold \"high\""},
        {K3("BinaryAccuracy", "{\"threshold\": 0.5, \"unknown\": 1}"),
         "metric BinaryAccuracy: unknown 1"},
        {K3("Accuracy", "{\"name\": \"accuracy\"}"), "metric class Accuracy"},
        {K3("RootMeanSquaredError", "{}"), "metric class RootMeanSquaredError"},
        {"{\"module\": \"my_metrics\", \"class_name\": \"AUC\", \"config\": {}, "
         "\"registered_name\": \"Custom>AUC\"}",
         "metric class AUC of module my_metrics"},
    };
    ck_model *m = identity_model(1);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char list[512];
        snprintf(list, sizeof list, "[%s]", bad[i][0]);
        char text[1024];
        snprintf(text, sizeof text, "{\"optimizer\": \"adam\", \"loss\": \"mse\", \"metrics\": %s}",
                 list);
        cJSON *j = cJSON_Parse(text);
        ck_assert_ptr_nonnull(j);
        ck_assert_fails(ck_train_config_from_json(m, j), CK_ERR_UNSUPPORTED);
        ck_assert_msg(strstr(ck_last_error(), bad[i][1]), "want \"%s\" in: %s", bad[i][1],
                      ck_last_error());
        cJSON_Delete(j);
    }
    ck_model_free(m);
}
END_TEST

/* A Keras 3 metric function, a tf.keras 2 registered custom class whose
 * class is a Keras one, and a threshold outside [0, 1]. */
START_TEST(functions_and_custom_prefix)
{
    ck_model *m = identity_model(1);
    compile_from(m,
                 "[{\"module\": \"keras.metrics\", \"class_name\": \"function\", \"config\": "
                 "\"binary_accuracy\", \"registered_name\": \"binary_accuracy\"}, "
                 "{\"class_name\": \"Custom>BinaryAccuracy\", \"config\": {\"name\": \"b7\", "
                 "\"threshold\": 0.7}}, {\"class_name\": \"BinaryAccuracy\", \"config\": "
                 "{\"name\": \"logits\", \"threshold\": -1}}]",
                 "null");
    /* Below 0, as for logits: every score is a positive. */
    const char *const names[] = {"binary_accuracy", "b7", "logits"};
    const double want[] = {0.75, 0.5, 0.5};
    assert_metrics(m, bin_x, bin_y, 4, 1, names, want, 3);
    ck_model_free(m);
}
END_TEST

/* Saved as the objects they were read from, options and names kept,
 * through the config and through the files of both Keras versions. */
START_TEST(saved_back_as_objects)
{
    ck_model *m = identity_model(1);
    compile_from(m,
                 "[" K3("BinaryAccuracy", "{\"name\": \"accuracy\", \"threshold\": 0.7}")       //
                 ", " K3("Precision", "{\"name\": \"precision_at_07\", \"thresholds\": 0.7}")   //
                 ", " K3("Recall", "{\"thresholds\": 0.7}")                                     //
                 ", " K3("AUC", "{\"name\": \"pr\", \"num_thresholds\": 3, \"curve\": \"PR\"}") //
                 ", \"binary_accuracy\"]",
                 "[" K3("BinaryAccuracy", "{\"name\": \"accuracy\"}") "]");
    cJSON *j = ck_train_config_to_json(m);
    char *text = cJSON_PrintUnformatted(j);
    ck_assert_ptr_nonnull(strstr(text, "\"class_name\":\"AUC\""));
    ck_assert_ptr_nonnull(strstr(text, "\"curve\":\"PR\""));
    ck_model *m2 = identity_model(1);
    ck_assert_ok(ck_train_config_from_json(m2, j));
    assert_metrics(m2, bin_x, bin_y, 4, 1, bin_names, bin_want, 6);
    cJSON *j2 = ck_train_config_to_json(m2);
    char *text2 = cJSON_PrintUnformatted(j2);
    ck_assert_str_eq(text, text2);
    ck_test_make_dir("ck_metric_objects");
    const char *files[] = {"m.h5", "m.keras"};
    for (int i = 0; i < 2; i++) {
        ck_model *back;
        ck_assert_ok(ck_model_save(m, ck_test_path(files[i])));
        ck_assert_ok(ck_model_load(ck_test_path(files[i]), &back));
        assert_metrics(back, bin_x, bin_y, 4, 1, bin_names, bin_want, 6);
        ck_model_free(back);
    }
    ck_test_remove_dir();
    cJSON_free(text);
    cJSON_free(text2);
    cJSON_Delete(j);
    cJSON_Delete(j2);
    ck_model_free(m);
    ck_model_free(m2);
}
END_TEST

static Suite *metric_objects_suite(void)
{
    Suite *s = suite_create("metric_objects");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, binary_options_keras3);
    tcase_add_test(tc, recompile_keeps_objects);
    tcase_add_test(tc, binary_options_tf_keras2);
    tcase_add_test(tc, categorical_options);
    tcase_add_test(tc, refused_options);
    tcase_add_test(tc, functions_and_custom_prefix);
    tcase_add_test(tc, saved_back_as_objects);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ck_test_run(metric_objects_suite());
}
