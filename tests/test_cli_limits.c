/* The tool at the edges of its inputs and of the machine: address-space
 * limits ('ulimit -v'), batch sizes larger than the data, metric lists
 * with empty names, training configurations it cannot use, and names
 * from files in its warnings. */
#include "ck_test.h"

#include "ck_cli_test.h"

#include "ck_io.h"
#include "ck_npy.h"

#include <string.h>

#define N 5

/* Input(3) > Dense(2, softmax), compiled (so the file holds a training
 * configuration), saved as m.h5 with x.npy and one-hot y.npy. */
static void write_model_and_data(void)
{
    ck_model *m = ck_sequential(.seed = 21);
    ck_assert_ok(ck_model_add(m, ck_input(3)));
    ck_assert_ok(ck_model_add(m, ck_dense(2, .activation = "softmax")));
    ck_assert_ok(ck_model_compile(m, .loss = "categorical_crossentropy", .metrics = {"accuracy"},
                                  .optimizer = ck_sgd(.learning_rate = 0.1)));
    ck_assert_ok(ck_model_save(m, ck_test_path("m.h5")));
    ck_model_free(m);
    float x[N * 3], y[N * 2];
    for (int i = 0; i < N * 3; i++)
        x[i] = (float)((i * 7) % 11) / 5.0f - 1.0f;
    for (int i = 0; i < N; i++) {
        y[2 * i] = (float)(i % 2);
        y[2 * i + 1] = (float)(1 - i % 2);
    }
    ck_assert_ok(ck_npy_write(ck_test_path("x.npy"), &(ck_tensor){2, {N, 3}, x}));
    ck_assert_ok(ck_npy_write(ck_test_path("y.npy"), &(ck_tensor){2, {N, 2}, y}));
}

static char *stdout_of(const char *cmd, const char *batch, const char *extra)
{
    run_result r;
    if (strcmp(cmd, "predict") == 0)
        run_cli(&r, "predict", ck_test_path("m.h5"), ck_test_path("x.npy"), "--batch-size", batch,
                NULL);
    else
        run_cli(&r, cmd, ck_test_path("m.h5"), "--x", ck_test_path("x.npy"), "--y",
                ck_test_path("y.npy"), "--batch-size", batch, extra, NULL);
    assert_success(&r);
    free(r.err);
    return r.out;
}

static void predict_file(const char *path, float *y)
{
    ck_model *m = NULL;
    float x[N * 3];
    ck_tensor t;
    ck_assert_ok(ck_model_load(path, &m));
    ck_assert_ok(ck_npy_read(ck_test_path("x.npy"), &t));
    memcpy(x, t.data, sizeof x);
    ck_free(t.data);
    ck_assert_ok(ck_model_predict(m, x, N, y));
    ck_model_free(m);
}

/* Keras takes a batch larger than the data as one batch of all of it;
 * 2^31 - 1 samples once made fit allocate 2 TB. */
START_TEST(batch_larger_than_data_is_one_batch)
{
    ck_test_make_dir("ckclilim");
    write_model_and_data();
    static const char *const commands[][2] = {
        {"predict", NULL}, {"evaluate", NULL}, {"evaluate", "--confusion-matrix"}};
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        char *whole = stdout_of(commands[i][0], "5", commands[i][1]);
        char *huge = stdout_of(commands[i][0], "2147483647", commands[i][1]);
        ck_assert_str_eq(huge, whole);
        free(whole);
        free(huge);
    }
    const char *outs[2] = {ck_test_path("five.h5"), ck_test_path("huge.h5")};
    const char *batches[2] = {"5", "2147483647"};
    for (int i = 0; i < 2; i++) {
        run_result r;
        run_cli(&r, "fit", ck_test_path("m.h5"), "--x", ck_test_path("x.npy"), "--y",
                ck_test_path("y.npy"), "--batch-size", batches[i], "--no-shuffle", "--epochs", "2",
                "--verbose", "0", "-o", outs[i], NULL);
        assert_success(&r);
        run_free(&r);
    }
    float five[N * 2], huge[N * 2], before[N * 2];
    predict_file(outs[0], five);
    predict_file(outs[1], huge);
    predict_file(ck_test_path("m.h5"), before);
    ck_assert_mem_eq(huge, five, sizeof five);
    ck_assert_int_ne(memcmp(five, before, sizeof five), 0);
    ck_test_remove_dir();
}
END_TEST

START_TEST(empty_metric_names_refused)
{
    ck_test_make_dir("ckclilim");
    write_model_and_data();
    static const char *const lists[] = {"", ",", "accuracy,", "accuracy,,mse"};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        run_result r;
        run_cli(&r, "evaluate", ck_test_path("m.h5"), "--x", ck_test_path("x.npy"), "--y",
                ck_test_path("y.npy"), "--metrics", lists[i], NULL);
        assert_error(&r, 2, "--metrics needs comma-separated metric names");
        run_free(&r);
    }
    ck_test_remove_dir();
}
END_TEST

/* Replaces attribute `name` of m.h5 with `text`, as h5py writes it. */
static void set_root_attr(const char *name, const char *text)
{
    hid_t f = H5Fopen(ck_test_path("m.h5"), H5F_ACC_RDWR, H5P_DEFAULT);
    ck_assert_int_ge(f, 0);
    ck_assert_int_ge(H5Adelete(f, name), 0);
    ck_test_write_string_attr(f, name, text, strlen(text));
    H5Fclose(f);
}

/* A configuration Keras can compile and ckeras cannot loads the model
 * uncompiled; without --loss, the tool says what it could not use. */
START_TEST(unusable_training_config_named)
{
    ck_test_make_dir("ckclilim");
    write_model_and_data();
    static const struct {
        const char *config, *why;
    } cases[] = {
        {"{\"loss\": \"my_loss\", \"metrics\": [], \"optimizer_config\": {\"class_name\": "
         "\"SGD\", \"config\": {\"learning_rate\": 0.1}}}",
         "unknown loss 'my_loss'"},
        {"{\"loss\": \"mse\", \"metrics\": [], \"optimizer_config\": {\"class_name\": "
         "\"Lion\", \"config\": {\"learning_rate\": 0.1}}}",
         "optimizer Lion is not supported"},
        {"[1, 2]", "training_config is not a JSON object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        set_root_attr("training_config", cases[i].config);
        ck_model *m = NULL;
        ck_assert_ok(ck_model_load(ck_test_path("m.h5"), &m));
        ck_assert(!ck_model_is_compiled(m));
        const char *w = strstr(ck_model_warnings(m), CK_TRAINING_CONFIG_UNUSED);
        ck_assert_msg(w && strstr(w, cases[i].why), "warnings: %s", ck_model_warnings(m));
        ck_model_free(m);
        run_result r;
        run_cli(&r, "evaluate", ck_test_path("m.h5"), "--x", ck_test_path("x.npy"), "--y",
                ck_test_path("y.npy"), NULL);
        assert_error(&r, 2, "--loss is required: the training configuration of model");
        ck_assert_msg(strstr(r.err, cases[i].why), "stderr: %s", r.err);
        run_free(&r);
        run_cli(&r, "predict", ck_test_path("m.h5"), ck_test_path("x.npy"), NULL);
        assert_success(&r);
        run_free(&r);
    }
    ck_test_remove_dir();
}
END_TEST

/* A kernel initializer named with a terminal escape and a forged line:
 * the weights come from the file, so it is only a warning, which quotes
 * the name escaped, on one line. */
START_TEST(warnings_print_no_control_bytes)
{
    ck_test_make_dir("ckclilim");
    write_model_and_data();
    ck_model *m = NULL;
    ck_assert_ok(ck_model_load(ck_test_path("m.h5"), &m));
    char *json = ck_model_to_json(m);
    ck_model_free(m);
    const char *at = strstr(json, "GlorotUniform");
    ck_assert_ptr_nonnull(at);
    char config[8192];
    snprintf(config, sizeof config, "%.*sEvil\\u001b[31m\\r\\nckeras: error: forged%s",
             (int)(at - json), json, at + strlen("GlorotUniform"));
    ck_free(json);
    set_root_attr("model_config", config);
    run_result r;
    run_cli(&r, "summary", ck_test_path("m.h5"), "--verbose", NULL);
    ck_assert_int_eq(r.status, 0);
    ck_assert_msg(strstr(r.err, "ckeras: warning: ") == r.err, "stderr: %s", r.err);
    ck_assert_msg(strstr(r.err, "'Evil\\x1b[31m\\r\\nckeras: error: forged'"), "stderr: %s", r.err);
    ck_assert_ptr_null(strchr(r.err, '\x1b'));
    ck_assert_ptr_null(strchr(r.err, '\r'));
    ck_assert_ptr_null(strstr(r.err, "\nckeras: error"));
    run_free(&r);
    ck_test_remove_dir();
}
END_TEST

/* Under 'ulimit -v' the tool ends with its outputs or with one "out of
 * memory" error line: never a crash or a hang (predict of the 2.4 MB
 * action model hung at 200 MiB, in OpenBLAS retrying its work buffer). */
static void assert_ends_cleanly(const run_result *r, unsigned long long mib)
{
    ck_assert_msg(r->status == 0 || r->status == 1, "at %llu MiB: status %d, stderr: %s", mib,
                  r->status, r->err);
    if (r->status == 0) {
        ck_assert_str_eq(r->err, "");
        ck_assert_uint_gt(strlen(r->out), 0);
    } else {
        assert_error(r, 1, "out of memory");
    }
}

START_TEST(address_space_limits_end_cleanly)
{
#ifdef CK_TEST_UNDER_SANITIZER
    printf("SKIP: address_space_limits_end_cleanly: sanitizers reserve terabytes of address "
           "space\n");
    return;
#endif
    CK_SHARED_OR_SKIP(model, "fixtures/keras/hanh_action.h5");
    ck_test_make_dir("ckclilim");
    enum { SAMPLES = 2, STEPS = 30, FEATURES = 1662 };
    float *x = calloc(SAMPLES * STEPS * FEATURES, sizeof *x);
    ck_assert_ptr_nonnull(x);
    for (int i = 0; i < SAMPLES * STEPS * FEATURES; i++)
        x[i] = (float)(i % 17) / 17.0f;
    ck_assert_ok(
        ck_npy_write(ck_test_path("x.npy"), &(ck_tensor){3, {SAMPLES, STEPS, FEATURES}, x}));
    free(x);
    static const unsigned long long mib[] = {96, 128, 160, 200, 240, 320};
    int succeeded = 0;
    for (size_t i = 0; i < sizeof mib / sizeof mib[0]; i++) {
        run_result r;
        run_cli_limited(&r, mib[i] << 20, 30, "predict", model, ck_test_path("x.npy"), NULL);
        assert_ends_cleanly(&r, mib[i]);
        succeeded += r.status == 0;
        run_free(&r);
    }
    /* The largest limit leaves room enough. */
    ck_assert_int_ge(succeeded, 1);
    run_result r;
    run_cli_limited(&r, 150ull << 20, 30, "--version", NULL);
    assert_success(&r);
    ck_assert_ptr_nonnull(strstr(r.out, "ckeras"));
    run_free(&r);
    ck_test_remove_dir();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("cli_limits");
    TCase *tc = tcase_create("limits");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, batch_larger_than_data_is_one_batch);
    tcase_add_test(tc, empty_metric_names_refused);
    tcase_add_test(tc, unusable_training_config_named);
    tcase_add_test(tc, warnings_print_no_control_bytes);
    tcase_add_test(tc, address_space_limits_end_cleanly);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ck_test_run(suite());
}
