/* Real Keras files from ../shared/fixtures/keras load and predict what
 * Keras (or an independent numpy forward pass) computed. */
#include "ck_test.h"

#include "ck_io.h"

#include <string.h>

#define FIX "fixtures/keras/"

/* ck_test_shared returns a static buffer, so keep a copy per path. */
#define SHARED(var, rel)                      \
    char var[512];                            \
    do {                                      \
        const char *p_ = ck_test_shared(rel); \
        if (!p_)                              \
            return;                           \
        snprintf(var, sizeof var, "%s", p_);  \
    } while (0)

/* Largest |a - b| over n values. */
static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        worst = d > worst ? d : worst;
    }
    return worst;
}

/* Predicts expected:/x_name and compares with expected:/y_name. */
static void check_predictions(ck_model *m, const char *expected, const char *x_name,
                              const char *y_name, double tol)
{
    float *x, *y;
    int xr, yr;
    long long xd[6], yd[6];
    size_t nx = ck_test_read_h5(expected, x_name, &x, &xr, xd);
    size_t ny = ck_test_read_h5(expected, y_name, &y, &yr, yd);
    ck_assert_msg(nx > 0 && ny > 0, "cannot read %s / %s from %s", x_name, y_name, expected);
    float *out = malloc(ny * sizeof *out);
    ck_assert_ptr_nonnull(out);
    ck_assert_ok(ck_model_predict(m, x, xd[0], out));
    double diff = max_abs_diff(out, y, ny);
    ck_assert_msg(diff <= tol, "%s: max |diff| = %g over %zu outputs (tol %g)", expected, diff, ny,
                  tol);
    free(out);
    free(x);
    free(y);
}

START_TEST(hanh_action_full_model)
{
    SHARED(path, FIX "hanh_action.h5");
    ck_model *m = NULL;
    ck_assert_ok(ck_model_load(path, &m));
    ck_assert_str_eq(ck_model_name(m), "sequential_1");
    ck_assert_int_eq(m->semantics, CK_KERAS2);
    ck_assert_uint_eq(ck_model_count_params(m), 596675);
    ck_assert_int_eq(ck_model_layer_count(m), 6);
    const char *names[] = {"lstm_3", "lstm_4", "lstm_5", "dense_3", "dense_4", "dense_5"};
    for (int i = 0; i < 6; i++)
        ck_assert_str_eq(ck_layer_name(ck_model_layer(m, i)), names[i]);
    char *text = ck_test_summary(m, CK_SUMMARY_KERAS2);
    ck_assert_msg(strstr(text, "lstm_3 (LSTM)") && strstr(text, "dense_5 (Dense)"), "%s", text);
    ck_assert_msg(strstr(text, "Total params: 596,675"), "%s", text);
    free(text);
    SHARED(expected, FIX "hanh_action.expected.h5");
    check_predictions(m, expected, "/x_random", "/y_random", 1e-5);
    ck_model_free(m);
}
END_TEST

/* The first LSTM's output for sample 0 pins the loader (kernel layout,
 * gate order) independently of the later layers. */
START_TEST(hanh_action_first_layer_output)
{
    SHARED(path, FIX "hanh_action.h5");
    ck_model *m = NULL;
    ck_assert_ok(ck_model_load(path, &m));
    SHARED(expected, FIX "hanh_action.expected.h5");
    float *x, *want;
    int r;
    long long d[6];
    size_t nx = ck_test_read_h5(expected, "/x_random", &x, &r, d);
    size_t nw = ck_test_read_h5(expected, "/layer_outputs_random0/01_lstm_3", &want, &r, d);
    ck_assert_msg(nx > 0 && nw == 30 * 64, "layer output dataset not found (%zu values)", nw);
    ck_tensor tx = {.rank = 3, .dims = {1, 30, 1662}, .data = x};
    ck_assert_ok(ck_model_forward(m, &tx, false));
    double diff = max_abs_diff(m->act_views[0].data, want, nw);
    ck_assert_msg(diff <= 1e-5, "lstm_3 output differs by %g", diff);
    free(x);
    free(want);
    ck_model_free(m);
}
END_TEST

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = calloc((size_t)n + 1, 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return buf;
}

static ck_model *avishake_model(void)
{
    const char *arch = ck_test_shared(FIX "avishake_model_weights.architecture.json");
    if (!arch)
        return NULL;
    char *json = read_text(arch);
    ck_model *m = NULL;
    ck_assert_ok(ck_model_from_json(json, &m));
    free(json);
    return m;
}

START_TEST(avishake_weights_only)
{
    SHARED(path, FIX "avishake_model_weights.h5");
    ck_model *m = avishake_model();
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(ck_model_count_params(m), 596675);
    ck_assert_ok(ck_model_load_weights(m, path));
    SHARED(expected, FIX "avishake_model_weights.expected.h5");
    check_predictions(m, expected, "/x_random", "/y_random", 1e-5);
    ck_model_free(m);
}
END_TEST

START_TEST(avishake_weights_by_name)
{
    SHARED(path, FIX "avishake_model_weights.h5");
    ck_model *m = avishake_model();
    ck_assert_ptr_nonnull(m);
    ck_assert_ok(ck_model_load_weights(m, path, .by_name = true));
    SHARED(expected, FIX "avishake_model_weights.expected.h5");
    check_predictions(m, expected, "/x_random", "/y_random", 1e-5);
    ck_model_free(m);
}
END_TEST

/* load_weights on a whole-model file reads /model_weights by layer order,
 * so differing layer names do not matter; by_name then finds nothing. */
START_TEST(whole_model_file_as_weights)
{
    SHARED(path, FIX "hanh_action.h5");
    ck_model *m = avishake_model();
    ck_assert_ptr_nonnull(m);
    float *before = malloc(m->n_params * sizeof(float));
    memcpy(before, m->params, m->n_params * sizeof(float));
    ck_assert_ok(ck_model_load_weights(m, path, .by_name = true));
    ck_assert_int_eq(memcmp(before, m->params, m->n_params * sizeof(float)), 0);
    ck_assert_ok(ck_model_load_weights(m, path));
    SHARED(expected, FIX "hanh_action.expected.h5");
    check_predictions(m, expected, "/x_random", "/y_random", 1e-5);
    free(before);
    ck_model_free(m);
}
END_TEST

START_TEST(keras2c_functional_hard_sigmoid)
{
    SHARED(path, FIX "keras2c_model.h5");
    ck_model *m = NULL;
    ck_assert_ok(ck_model_load(path, &m));
    ck_assert_str_eq(ck_model_name(m), "model_1");
    ck_assert_int_eq(m->semantics, CK_KERAS2);
    ck_assert_str_eq(m->input->name, "input_1");
    ck_assert_uint_eq(ck_model_count_params(m), 4990);
    ck_assert_int_eq(ck_model_layer_count(m), 4);
    ck_assert_str_eq(ck_layer_class_name(ck_model_layer(m, 2)), "LSTM");
    SHARED(expected, FIX "keras2c_model.expected.h5");
    check_predictions(m, expected, "/keras_truth/x", "/keras_truth/y_keras", 1e-5);
    ck_model_free(m);
}
END_TEST

/* The same file read with Keras 3 semantics must differ, which proves the
 * file's keras_version is what selected hard_sigmoid above. */
START_TEST(keras2c_semantics_matter)
{
    SHARED(path, FIX "keras2c_model.h5");
    SHARED(expected, FIX "keras2c_model.expected.h5");
    ck_model *m = NULL;
    ck_assert_ok(ck_model_load(path, &m));
    m->semantics = CK_KERAS3;
    float *x, *y;
    int r;
    long long d[6];
    size_t nx = ck_test_read_h5(expected, "/keras_truth/x", &x, &r, d);
    size_t ny = ck_test_read_h5(expected, "/keras_truth/y_keras", &y, &r, d);
    ck_assert(nx > 0 && ny > 0);
    float *out = malloc(ny * sizeof *out);
    ck_assert_ok(ck_model_predict(m, x, 10, out));
    ck_assert_msg(max_abs_diff(out, y, ny) > 1e-3, "Keras 3 hard_sigmoid gave the Keras 2 numbers");
    free(out);
    free(x);
    free(y);
    ck_model_free(m);
}
END_TEST

/* Keras 2.2.4 printed no Model: line (from 2.2.5 on) and its InputLayer's
 * shape as a tuple (tf.keras's is a list of one); the file's version picks
 * that layout (keras/utils/layer_utils.py and engine/base_layer.py at 2.2.4). */
START_TEST(keras2c_summary_as_keras_2_2_4)
{
    SHARED(path, FIX "keras2c_model.h5");
    ck_model *m = NULL;
    ck_assert_ok(ck_model_load(path, &m));
    ck_assert_int_eq(ck_model_summary_style(m), CK_SUMMARY_KERAS2_2);
    const char *want = "_________________________________________________________________\n"
                       "Layer (type)                 Output Shape              Param #   \n"
                       "=================================================================\n"
                       "input_1 (InputLayer)         (None, 8, 32)             0         \n"
                       "_________________________________________________________________\n"
                       "dense_1 (Dense)              (None, 8, 20)             660       \n"
                       "_________________________________________________________________\n"
                       "dense_2 (Dense)              (None, 8, 20)             420       \n"
                       "_________________________________________________________________\n"
                       "lstm_1 (LSTM)                (None, 20)                3280      \n"
                       "_________________________________________________________________\n"
                       "dense_3 (Dense)              (None, 30)                630       \n"
                       "=================================================================\n"
                       "Total params: 4,990\n"
                       "Trainable params: 4,990\n"
                       "Non-trainable params: 0\n"
                       "_________________________________________________________________\n";
    char *text = ck_test_summary(m, ck_model_summary_style(m));
    ck_assert_str_eq(text, want);
    free(text);
    ck_model_free(m);
}
END_TEST

/* The file holds Keras 2.2.4's Adam state (iterations, m, v and (1,)
 * vhat placeholders, by position): loading keeps it, as load_model does. */
START_TEST(keras2c_optimizer_state)
{
    SHARED(path, FIX "keras2c_model.h5");
    ck_model *m = NULL;
    ck_assert_ok(ck_model_load(path, &m));
    ck_assert_int_eq(ck_optimizer_slot_count(m), 1 + 2 * 9);
    ck_assert_float_eq(ck_test_slot(m, 0)[0], 11808.0f);
    float *want;
    int rank;
    long long d[6];
    /* Slot 10 is v of the first kernel: Variable_9 in the file. */
    size_t n = ck_test_read_h5(path, "/optimizer_weights/training/Adam/Variable_9:0", &want, &rank,
                               d);
    ck_assert_uint_eq(n, 32 * 20);
    ck_assert_int_eq(memcmp(ck_test_slot(m, 10), want, n * sizeof(float)), 0);
    free(want);
    ck_model_free(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("fixtures");
    TCase *tc = tcase_create("keras_files");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, hanh_action_full_model);
    tcase_add_test(tc, hanh_action_first_layer_output);
    tcase_add_test(tc, avishake_weights_only);
    tcase_add_test(tc, avishake_weights_by_name);
    tcase_add_test(tc, whole_model_file_as_weights);
    tcase_add_test(tc, keras2c_functional_hard_sigmoid);
    tcase_add_test(tc, keras2c_semantics_matter);
    tcase_add_test(tc, keras2c_summary_as_keras_2_2_4);
    tcase_add_test(tc, keras2c_optimizer_state);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ck_test_run(suite());
}
