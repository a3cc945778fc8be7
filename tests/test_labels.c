/* Class labels and the confusion matrix (src/train/labels.c,
 * confusion.c): names to ids, ids to the targets each loss takes, targets
 * back to ids, and confusion matrices counted by hand. */
#include "ck_test.h"

#include <string.h>

static const char *const classes[] = {"hello", "thanks", "iloveyou"};

START_TEST(test_class_ids)
{
    const char *labels[] = {"thanks", "hello", "iloveyou", "thanks"};
    int32_t ids[4];
    ck_assert_ok(ck_class_ids(labels, 4, classes, 3, ids));
    ck_assert_int_eq(ids[0], 1);
    ck_assert_int_eq(ids[1], 0);
    ck_assert_int_eq(ids[2], 2);
    ck_assert_int_eq(ids[3], 1);
    const char *bad[] = {"hello", "Hello"};
    ck_assert_fails(ck_class_ids(bad, 2, classes, 3, ids), CK_ERR_NAME);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "label 1 ('Hello')"));
    ck_assert_fails(ck_class_ids(labels, 4, classes, 0, ids), CK_ERR_ARGUMENT);
}
END_TEST

/* Input(2) > Dense(units, activation), compiled with `loss`. */
static ck_model *classifier(int units, const char *activation, const char *loss, bool logits)
{
    ck_model *m = ck_sequential(.seed = 3);
    ck_assert_ok(ck_model_add(m, ck_input(2)));
    ck_assert_ok(ck_model_add(m, ck_dense(units, .activation = activation)));
    ck_assert_ok(ck_model_build(m));
    if (loss)
        ck_assert_ok(
            ck_model_compile(m, .optimizer = ck_sgd(), .loss = loss, .from_logits = logits));
    return m;
}

START_TEST(test_targets_fit_the_loss)
{
    const int32_t ids[3] = {2, 0, 1};
    ck_tensor y;
    ck_model *m = classifier(3, "softmax", "categorical_crossentropy", false);
    ck_assert_ok(ck_model_class_targets(m, ids, 3, 3, &y));
    ck_assert_int_eq(y.rank, 2);
    ck_assert_int_eq(y.dims[1], 3);
    const float one_hot[9] = {0, 0, 1, 1, 0, 0, 0, 1, 0};
    ck_assert_int_eq(memcmp(y.data, one_hot, sizeof one_hot), 0);
    ck_free(y.data);
    /* Four class names for three outputs do not fit. */
    ck_assert_fails(ck_model_class_targets(m, ids, 3, 4, &y), CK_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "outputs 3 values per sample but 4 classes"));
    const int32_t out_of_range[1] = {3};
    ck_assert_fails(ck_model_class_targets(m, out_of_range, 1, 3, &y), CK_ERR_ARGUMENT);
    ck_model_free(m);

    m = classifier(3, "softmax", "sparse_categorical_crossentropy", false);
    ck_assert_ok(ck_model_class_targets(m, ids, 3, 3, &y));
    ck_assert_int_eq(y.rank, 1);
    ck_assert_float_eq(y.data[0], 2.0f);
    ck_assert_float_eq(y.data[2], 1.0f);
    ck_free(y.data);
    ck_model_free(m);

    const int32_t bin[3] = {1, 0, 1};
    m = classifier(1, "sigmoid", "binary_crossentropy", false);
    ck_assert_ok(ck_model_class_targets(m, bin, 3, 2, &y));
    ck_assert_int_eq(y.rank, 2);
    ck_assert_int_eq(y.dims[1], 1);
    ck_assert_float_eq(y.data[0], 1.0f);
    ck_assert_float_eq(y.data[1], 0.0f);
    ck_free(y.data);
    ck_model_free(m);

    m = classifier(3, "softmax", NULL, false);
    ck_assert_fails(ck_model_class_targets(m, ids, 3, 3, &y), CK_ERR_STATE);
    ck_model_free(m);
}
END_TEST

START_TEST(test_target_class_ids)
{
    int32_t ids[4];
    float one_hot[6] = {0, 1, 0, 0.2f, 0.1f, 0.7f};
    ck_tensor y = {2, {2, 3}, one_hot};
    ck_assert_ok(ck_target_class_ids(&y, 3, ids));
    ck_assert_int_eq(ids[0], 1);
    ck_assert_int_eq(ids[1], 2);
    float sparse[4] = {2, 0, 1, 2};
    y = (ck_tensor){2, {4, 1}, sparse};
    ck_assert_ok(ck_target_class_ids(&y, 3, ids));
    ck_assert_int_eq(ids[0], 2);
    ck_assert_int_eq(ids[3], 2);
    float binary[3] = {0, 1, 0.75f};
    y = (ck_tensor){1, {3}, binary};
    ck_assert_ok(ck_target_class_ids(&y, 2, ids));
    ck_assert_int_eq(ids[1], 1);
    ck_assert_int_eq(ids[2], 1);
    float bad[2] = {1.5f, NAN};
    y = (ck_tensor){1, {1}, bad};
    ck_assert_fails(ck_target_class_ids(&y, 3, ids), CK_ERR_ARGUMENT);
    y.data = bad + 1;
    ck_assert_fails(ck_target_class_ids(&y, 3, ids), CK_ERR_ARGUMENT);
    ck_assert_fails(ck_target_class_ids(&y, 2, ids), CK_ERR_ARGUMENT);
    sparse[0] = 3;
    y = (ck_tensor){1, {4}, sparse};
    ck_assert_fails(ck_target_class_ids(&y, 3, ids), CK_ERR_ARGUMENT);
}
END_TEST

/* Sets the Dense layer's kernel and bias. */
static void set_dense(ck_model *m, const float *kernel, const float *bias)
{
    ck_layer *d = ck_model_layer(m, 0);
    const char *name;
    ck_tensor w;
    ck_assert_ok(ck_layer_weight(d, 0, &name, &w));
    memcpy(w.data, kernel, ck_tensor_size(&w) * sizeof(float));
    ck_assert_ok(ck_layer_weight(d, 1, &name, &w));
    memcpy(w.data, bias, ck_tensor_size(&w) * sizeof(float));
}

/* Scores x W + b with W = [[1, 0, -1], [0, 1, -1]], b = [0, 0, 0.5]
 * predict classes 0, 1, 2, 2, 0, 1 for the six inputs below; the true
 * classes are 0, 1, 2, 0, 0, 2. By hand: row 0 (true 0) gets predictions
 * 0, 2, 0 -> [2, 0, 1]; row 1 gets 1 -> [0, 1, 0]; row 2 gets 2, 1 ->
 * [0, 1, 1]. */
static float xs[12] = {2, 0, 0, 2, 0, 0, -1, -1, 3, 1, 1, 3};
static const int64_t expected[9] = {2, 0, 1, 0, 1, 0, 0, 1, 1};

START_TEST(test_confusion_matrix_by_hand)
{
    ck_model *m = classifier(3, NULL, "categorical_crossentropy", true);
    set_dense(m, (const float[]){1, 0, -1, 0, 1, -1}, (const float[]){0, 0, 0.5f});
    ck_tensor x = {2, {6, 2}, xs};
    float one_hot[18] = {0};
    const int truth[6] = {0, 1, 2, 0, 0, 2};
    float sparse[6];
    for (int i = 0; i < 6; i++) {
        one_hot[3 * i + truth[i]] = 1.0f;
        sparse[i] = (float)truth[i];
    }
    const ck_tensor ys[] = {{2, {6, 3}, one_hot}, {1, {6}, sparse}, {2, {6, 1}, sparse}};
    for (size_t v = 0; v < 3; v++) {
        for (int batch = 0; batch <= 4; batch += 4) {
            ck_confusion cm;
            ck_assert_ok(ck_model_confusion_matrix(m, &x, &ys[v], batch, &cm));
            ck_assert_int_eq(cm.n_classes, 3);
            for (int i = 0; i < 9; i++)
                ck_assert_msg(cm.counts[i] == expected[i], "targets %zu, batch %d: cell %d = %lld",
                              v, batch, i, (long long)cm.counts[i]);
            ck_confusion_free(&cm);
        }
    }
    ck_confusion cm;
    ck_tensor short_y = {1, {5}, sparse};
    ck_assert_fails(ck_model_confusion_matrix(m, &x, &short_y, 0, &cm), CK_ERR_SHAPE);
    ck_assert_ptr_null(cm.counts);
    ck_tensor bad_x = {2, {6, 3}, one_hot};
    ck_assert_int_ne(ck_model_confusion_matrix(m, &bad_x, &ys[0], 0, &cm), CK_OK);
    ck_assert_ptr_null(cm.counts);
    ck_model_free(m);
}
END_TEST

/* A one-unit output counts as two classes: above 0.5 on probabilities,
 * above 0 on logits. Output x0 - x1: 2, -2, 0.3, 0, 2, -2. */
START_TEST(test_confusion_matrix_binary)
{
    float xb[12] = {2, 0, 0, 2, 0.3f, 0, -1, -1, 3, 1, 1, 3};
    float truth[6] = {1, 0, 1, 0, 1, 1};
    ck_tensor x = {2, {6, 2}, xb}, y = {2, {6, 1}, truth};
    for (int logits = 0; logits <= 1; logits++) {
        ck_model *m = classifier(1, NULL, "binary_crossentropy", logits);
        set_dense(m, (const float[]){1, -1}, (const float[]){0});
        ck_confusion cm;
        ck_assert_ok(ck_model_confusion_matrix(m, &x, &y, 0, &cm));
        ck_assert_int_eq(cm.n_classes, 2);
        /* true 0: outputs -2, 0 -> predicted 0, 0; true 1: 2, 0.3, 2, -2. */
        const int64_t want[4] = {2, 0, logits ? 1 : 2, logits ? 3 : 2};
        for (int i = 0; i < 4; i++)
            ck_assert_msg(cm.counts[i] == want[i], "logits %d: cell %d = %lld", logits, i,
                          (long long)cm.counts[i]);
        ck_confusion_free(&cm);
        ck_model_free(m);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("labels");
    TCase *tc = tcase_create("labels");
    tcase_add_test(tc, test_class_ids);
    tcase_add_test(tc, test_targets_fit_the_loss);
    tcase_add_test(tc, test_target_class_ids);
    tcase_add_test(tc, test_confusion_matrix_by_hand);
    tcase_add_test(tc, test_confusion_matrix_binary);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ck_test_run(suite());
}
