/* End-to-end tests of the ckeras tool: runs the built binary
 * ($CK_BUILD_DIR/ckeras) and checks exit codes, stdout and the single
 * "ckeras: error:" line on stderr. */
#include "ck_test.h"

#include "ck_cli_test.h"

#include "ck_io.h"
#include "ck_npy.h"

#include <dirent.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HANH "fixtures/keras/hanh_action.h5"
#define HANH_EXPECTED "fixtures/keras/hanh_action.expected.h5"

static char tmpdir[64];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ck_cli_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
    DIR *d = opendir(tmpdir);
    if (!d)
        return;
    char path[512];
    for (struct dirent *e = readdir(d); e; e = readdir(d)) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
            unlink(path);
        }
    }
    closedir(d);
    rmdir(tmpdir);
}

/* tmpdir/name in a rotating static buffer, so a few can be alive at once. */
static const char *tmp(const char *name)
{
    static char bufs[8][256];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", tmpdir, name);
    return b;
}

static char *slurp_text(const char *path)
{
    char *buf;
    size_t len;
    ck_assert_ok(ck_read_file(path, &buf, &len));
    return buf;
}

static void copy_path(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src);
}

/* ------------------------------------------------------------ no model needed */

START_TEST(test_version)
{
    make_tmpdir();
    run_result r;
    run_cli(&r, "--version", NULL);
    assert_success(&r);
    const char *first = "ckeras " CK_VERSION_STRING "\nmatrix products: ";
    ck_assert_msg(strncmp(r.out, first, strlen(first)) == 0, "unexpected: %s", r.out);
    ck_assert_msg(strstr(r.out, "OpenBLAS") != NULL, "no BLAS named: %s", r.out);
    run_free(&r);
    remove_tmpdir();
}
END_TEST

START_TEST(test_help)
{
    make_tmpdir();
    const char *words[] = {"summary", "predict",   "fit",     "evaluate",
                           "convert", "--version", "--config"};
    const char *flags[] = {"--help", "-h"};
    for (int f = 0; f < 2; f++) {
        run_result r;
        run_cli(&r, flags[f], NULL);
        assert_success(&r);
        for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
            ck_assert_msg(strstr(r.out, words[i]), "help lacks %s", words[i]);
        run_free(&r);
    }
    run_result r;
    run_cli(&r, "predict", "--help", NULL);
    assert_success(&r);
    ck_assert_ptr_nonnull(strstr(r.out, "usage: ckeras predict MODEL INPUT"));
    ck_assert_ptr_nonnull(strstr(r.out, "--batch-size N"));
    ck_assert_ptr_null(strstr(r.out, "--epochs"));
    run_free(&r);
    /* Every fit option of the issue is documented. */
    const char *fit_opts[] = {
        "--x",       "--y",          "--loss",       "--optimizer", "--learning-rate",
        "--epochs",  "--batch-size", "--no-shuffle", "--seed",      "--validation-split",
        "--verbose", "--momentum",   "--nesterov",   "--beta-1",    "--beta-2",
        "--epsilon", "--rho",        "--clipnorm",   "--clipvalue", "-o, --output"};
    run_cli(&r, "fit", "-h", NULL);
    assert_success(&r);
    for (size_t i = 0; i < sizeof fit_opts / sizeof fit_opts[0]; i++)
        ck_assert_msg(strstr(r.out, fit_opts[i]), "fit --help lacks %s", fit_opts[i]);
    run_free(&r);
    remove_tmpdir();
}
END_TEST

START_TEST(test_usage_errors)
{
    make_tmpdir();
    struct {
        const char *args[8];
        const char *needle;
    } cases[] = {
        {{NULL}, "no command"},
        {{"frobnicate"}, "unknown command 'frobnicate'"},
        {{"--frob"}, "unknown option '--frob'"},
        {{"predict"}, "missing MODEL"},
        {{"predict", "m.h5"}, "missing INPUT"},
        {{"summary", "a.h5", "b.h5"}, "unexpected argument 'b.h5'"},
        {{"summary", "--config", "a.json", "b.h5"}, "unexpected argument 'b.h5'"},
        {{"predict", "m.h5", "x.npy", "--batch-size", "abc"}, "--batch-size needs an integer"},
        {{"predict", "m.h5", "x.npy", "--batch-size=0"}, "--batch-size"},
        {{"predict", "m.h5", "x.npy", "-o", "out.txt"}, "out.txt"},
        {{"fit", "m.h5", "--x", "x.npy", "--y", "y.npy", "--epochs"}, "--epochs needs a value"},
        {{"fit", "m.h5", "--x", "x.npy", "--y", "y.npy"}, "-o"},
        {{"fit", "m.h5", "-o", "o.h5", "--validation-split", "1"}, "--validation-split"},
        {{"fit", "m.h5", "-o", "o.h5", "--verbose", "3"}, "--verbose"},
        {{"fit", "m.h5", "-o", "o.h5", "--learning-rate", "nan"}, "--learning-rate"},
        {{"fit", "m.h5", "-o", "o.h5", "--learning-rate", "1e30"}, "below 1e+18, got '1e30'"},
        {{"fit", "m.h5", "-o", "o.h5", "--learning-rate", "0x10"}, "got '0x10'"},
        {{"fit", "m.h5", "-o", "o.h5", "--beta-1", "1"}, "--beta-1 needs a number in [0, 1)"},
        {{"fit", "m.h5", "-o", "o.h5", "--rho", "1"}, "--rho needs a number in [0, 1)"},
        {{"fit", "m.h5", "--no-shuffle=yes"}, "takes no value"},
        {{"summary", "m.h5", "--x", "x.npy"}, "does not apply to 'summary'"},
        {{"summary", "m.h5", "--style", "keras9"}, "keras9"},
        {{"evaluate", "m.h5"}, "--x"},
        {{"convert", "m.h5"}, "-o"},
        {{"convert", "m.h5", "-o", "m.zip"}, "m.zip"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *const *a = cases[i].args;
        run_result r;
        run_cli(&r, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], NULL);
        assert_error(&r, 2, cases[i].needle);
        run_free(&r);
    }
    remove_tmpdir();
}
END_TEST

START_TEST(test_missing_and_corrupt_files)
{
    make_tmpdir();
    run_result r;
    run_cli(&r, "summary", "/nonexistent/model.h5", NULL);
    assert_error(&r, 1, "/nonexistent/model.h5");
    run_free(&r);
    run_cli(&r, "summary", "--config", "/nonexistent/arch.json", NULL);
    assert_error(&r, 1, "/nonexistent/arch.json");
    run_free(&r);
    FILE *f = fopen(tmp("corrupt.h5"), "wb");
    ck_assert_ptr_nonnull(f);
    fputs("\x89HDF\r\n\x1a\n this is not really HDF5", f);
    fclose(f);
    run_cli(&r, "summary", tmp("corrupt.h5"), NULL);
    assert_error(&r, 1, "corrupt.h5");
    run_free(&r);
    remove_tmpdir();
}
END_TEST

/* ------------------------------------------------------------ Keras fixtures */

static void assert_rows_match(const char *out, const float *want, int rows, int cols, double tol)
{
    const char *p = out;
    for (int i = 0; i < rows; i++) {
        for (int j = 0; j < cols; j++) {
            char *end;
            double v = strtod(p, &end);
            ck_assert_msg(end != p, "row %d: expected %d numbers: %s", i, cols, out);
            ck_assert_msg(fabs(v - want[i * cols + j]) <= tol, "y[%d][%d] = %.9g, expected %.9g", i,
                          j, v, (double)want[i * cols + j]);
            ck_assert_msg(*end == (j + 1 < cols ? ' ' : '\n'), "bad separator after y[%d][%d]", i,
                          j);
            p = end + 1;
        }
    }
    ck_assert_msg(*p == '\0', "extra output: %s", p);
}

START_TEST(test_summary_fixture)
{
    CK_SHARED_OR_SKIP(shared, HANH);
    char model[512];
    copy_path(model, sizeof model, shared);
    make_tmpdir();
    run_result r;
    run_cli(&r, "summary", model, NULL);
    assert_success(&r);
    ck_assert_ptr_nonnull(strstr(r.out, "Total params: 596,675\n"));
    ck_assert_ptr_nonnull(strstr(r.out, "Trainable params: 596,675\n"));
    ck_assert_ptr_nonnull(
        strstr(r.out, "lstm_3 (LSTM)                (None, 30, 64)            442112"));
    ck_assert_ptr_nonnull(
        strstr(r.out, "dense_5 (Dense)              (None, 3)                 99"));
    run_free(&r);
    run_cli(&r, "summary", "--style", "keras3", model, NULL);
    assert_success(&r);
    ck_assert_ptr_nonnull(strstr(r.out, " Total params: 596,675 (2.28 MB)"));
    run_free(&r);
    remove_tmpdir();
}
END_TEST

/* Without --style, a Keras 3 model gets the Keras 3 table. */
START_TEST(test_summary_style_follows_keras_version)
{
    make_tmpdir();
    FILE *f = fopen(tmp("k3.json"), "w");
    ck_assert_ptr_nonnull(f);
    fputs("{\"module\": \"keras\", \"class_name\": \"Sequential\", \"config\": {\"name\": \"seq\", "
          "\"layers\": [{\"module\": \"keras.layers\", \"class_name\": \"InputLayer\", \"config\": "
          "{\"batch_shape\": [null, 3], \"name\": \"inp\"}}, {\"module\": \"keras.layers\", "
          "\"class_name\": \"Dense\", \"config\": {\"name\": \"d\", \"units\": 2}}]}}",
          f);
    fclose(f);
    run_result r;
    run_cli(&r, "summary", "--config", tmp("k3.json"), NULL);
    assert_success(&r);
    ck_assert_msg(
        strstr(r.out,
               "│ d (Dense)                       │ (None, 2)              │             8 │"),
        "%s", r.out);
    run_free(&r);
    run_cli(&r, "summary", "--config", tmp("k3.json"), "--style", "keras2", NULL);
    assert_success(&r);
    ck_assert_msg(strstr(r.out, "d (Dense)                    (None, 2)                 8"), "%s",
                  r.out);
    run_free(&r);
    remove_tmpdir();
}
END_TEST

/* Standalone Keras 2.3.1 printed the InputLayer's shape as a tuple, tf.keras
 * as a list; the file's version picks the first, --style either. */
START_TEST(test_summary_style_keras2_3)
{
    make_tmpdir();
    FILE *f = fopen(tmp("k23.json"), "w");
    ck_assert_ptr_nonnull(f);
    fputs("{\"class_name\": \"Model\", \"config\": {\"name\": \"model_1\", \"layers\": [{\"name\": "
          "\"input_1\", \"class_name\": \"InputLayer\", \"config\": {\"batch_input_shape\": "
          "[null, 3], \"name\": \"input_1\"}, \"inbound_nodes\": []}, {\"name\": \"d\", "
          "\"class_name\": \"Dense\", \"config\": {\"name\": \"d\", \"units\": 2}, "
          "\"inbound_nodes\": [[[\"input_1\", 0, 0, {}]]]}], \"input_layers\": [[\"input_1\", 0, "
          "0]], \"output_layers\": [[\"d\", 0, 0]]}, \"keras_version\": \"2.3.1\"}",
          f);
    fclose(f);
    static const char model_line[] = "Model: \"model_1\"\n";
    const char *styles[] = {NULL, "keras2.3", "keras2"};
    for (int k = 0; k < 3; k++) {
        run_result r;
        if (styles[k])
            run_cli(&r, "summary", "--config", tmp("k23.json"), "--style", styles[k], NULL);
        else
            run_cli(&r, "summary", "--config", tmp("k23.json"), NULL);
        assert_success(&r);
        ck_assert_msg(!strncmp(r.out, model_line, sizeof model_line - 1), "%s", r.out);
        ck_assert_msg(strstr(r.out,
                             k < 2 ? "input_1 (InputLayer)         (None, 3)                 0"
                                   : "input_1 (InputLayer)         [(None, 3)]               0"),
                      "%s", r.out);
        run_free(&r);
    }
    remove_tmpdir();
}
END_TEST

START_TEST(test_predict_fixture)
{
    CK_SHARED_OR_SKIP(m_path, HANH);
    char model[512], input[600];
    copy_path(model, sizeof model, m_path);
    CK_SHARED_OR_SKIP(e_path, HANH_EXPECTED);
    snprintf(input, sizeof input, "%s:/x_random", e_path);
    float *want;
    int rank;
    long long dims[6];
    ck_assert_int_eq(ck_test_read_h5(e_path, "/y_random", &want, &rank, dims), 12);
    make_tmpdir();
    run_result r;
    run_cli(&r, "predict", model, input, NULL);
    assert_success(&r);
    assert_rows_match(r.out, want, 4, 3, 1e-5);
    /* Batching changes the numbers by float rounding only (BLAS picks
     * other kernels for other row counts). */
    float first[12];
    const char *p = r.out;
    for (int i = 0; i < 12; i++)
        first[i] = strtof(p, (char **)&p);
    run_result r3;
    run_cli(&r3, "predict", "--batch-size", "3", model, input, NULL);
    assert_success(&r3);
    assert_rows_match(r3.out, first, 4, 3, 1e-6);
    /* A .npy INPUT is read a batch at a time (3 samples, then 1): the same
     * numbers as the whole array read at once. */
    float *x;
    int x_rank;
    long long x_dims[6];
    ck_assert_int_eq(ck_test_read_h5(e_path, "/x_random", &x, &x_rank, x_dims), 4 * 30 * 1662);
    const ck_tensor xt = {.rank = 3, .dims = {4, 30, 1662}, .data = x};
    ck_assert_ok(ck_npy_write(tmp("x.npy"), &xt));
    free(x);
    run_result rn;
    run_cli(&rn, "predict", "--batch-size", "3", model, tmp("x.npy"), NULL);
    assert_success(&rn);
    ck_assert_str_eq(rn.out, r3.out);
    run_free(&rn);
    run_cli(&rn, "predict", model, tmp("x.npy"), NULL);
    assert_success(&rn);
    ck_assert_str_eq(rn.out, r.out);
    run_free(&rn);
    run_free(&r3);
    /* The thread count never changes a result. */
    run_cli(&r3, "predict", "--threads", "2", model, input, NULL);
    assert_success(&r3);
    ck_assert_str_eq(r3.out, r.out);
    run_free(&r3);
    run_cli(&r3, "predict", "--threads", "0", model, input, NULL);
    assert_error(&r3, 2, "--threads needs an integer in [1, 64]");
    run_free(&r3);
    /* -o out.npy: float32 with the output shape. */
    run_cli(&r3, "predict", model, input, "-o", tmp("y.npy"), NULL);
    assert_success(&r3);
    ck_assert_str_eq(r3.out, "");
    run_free(&r3);
    ck_tensor y;
    ck_assert_ok(ck_npy_read(tmp("y.npy"), &y));
    ck_assert_int_eq(y.rank, 2);
    ck_assert_int_eq(y.dims[0], 4);
    ck_assert_int_eq(y.dims[1], 3);
    for (int i = 0; i < 12; i++)
        ck_assert_close(y.data[i], want[i], 1e-5);
    ck_npy_free(&y);
    /* -o out.h5: dataset /y. */
    run_cli(&r3, "predict", model, input, "--output=", NULL);
    assert_error(&r3, 2, "must end in .npy, .h5 or .csv");
    run_free(&r3);
    run_cli(&r3, "predict", model, input, "-o", tmp("y.h5"), NULL);
    assert_success(&r3);
    run_free(&r3);
    float *got;
    ck_assert_int_eq(ck_test_read_h5(tmp("y.h5"), "/y", &got, &rank, dims), 12);
    ck_assert_int_eq(rank, 2);
    ck_assert_int_eq(dims[1], 3);
    for (int i = 0; i < 12; i++)
        ck_assert_close(got[i], want[i], 1e-5);
    free(got);
    run_free(&r);
    free(want);
    remove_tmpdir();
}
END_TEST

START_TEST(test_predict_errors)
{
    CK_SHARED_OR_SKIP(m_path, HANH);
    char model[512], missing_ds[600];
    copy_path(model, sizeof model, m_path);
    CK_SHARED_OR_SKIP(e_path, HANH_EXPECTED);
    snprintf(missing_ds, sizeof missing_ds, "%s:/no_such_dataset", e_path);
    make_tmpdir();
    float small[10] = {0};
    ck_tensor t = {.rank = 2, .dims = {2, 5}, .data = small};
    ck_assert_ok(ck_npy_write(tmp("small.npy"), &t));
    FILE *f = fopen(tmp("bad.npy"), "wb");
    fputs("not numpy at all", f);
    fclose(f);
    run_result r;
    run_cli(&r, "predict", model, tmp("small.npy"), NULL);
    assert_error(&r, 1, "INPUT has shape (2, 5) but model ");
    ck_assert_ptr_nonnull(strstr(r.err, " expects (None, 30, 1662)"));
    run_free(&r);
    run_cli(&r, "predict", model, tmp("bad.npy"), NULL);
    assert_error(&r, 1, "bad magic");
    run_free(&r);
    run_cli(&r, "predict", model, missing_ds, NULL);
    assert_error(&r, 1, "no dataset /no_such_dataset");
    run_free(&r);
    run_cli(&r, "predict", model, m_path, NULL);
    assert_error(&r, 2, ":/DATASET");
    run_free(&r);
    run_cli(&r, "predict", model, tmp("absent.npy"), NULL);
    assert_error(&r, 1, "absent.npy");
    run_free(&r);
    /* INPUT is read while the model loads; the model's failure is the one
     * reported, as when the two were read one after the other. */
    run_cli(&r, "predict", tmp("absent.h5"), tmp("bad.npy"), NULL);
    assert_error(&r, 1, "absent.h5");
    ck_assert_ptr_null(strstr(r.err, "bad magic"));
    run_free(&r);
    remove_tmpdir();
}
END_TEST

/* A stateful model declaring batch 2 predicts in batches of 2 by default,
 * state carried from one to the next; another --batch-size is refused. */
START_TEST(test_predict_stateful_declared_batch)
{
    make_tmpdir();
    ck_model *m = ck_sequential();
    ck_assert_ok(
        ck_model_add(m, ck_input_new(&(ck_input_options){.shape = {3, 2}, .batch_size = 2})));
    ck_assert_ok(ck_model_add(m, ck_lstm(2, .stateful = true)));
    ck_assert_ok(ck_model_build(m));
    ck_assert_ok(ck_model_save(m, tmp("stateful.h5")));
    float x[24], want[8];
    for (int i = 0; i < 24; i++)
        x[i] = (float)(i % 7) / 7.0f - 0.4f;
    ck_tensor t = {.rank = 3, .dims = {4, 3, 2}, .data = x};
    ck_assert_ok(ck_npy_write(tmp("x.npy"), &t));
    ck_assert_ok(ck_model_predict(m, x, 2, want));
    ck_assert_ok(ck_model_predict(m, x + 12, 2, want + 4));
    ck_model_free(m);
    run_result r;
    run_cli(&r, "predict", tmp("stateful.h5"), tmp("x.npy"), NULL);
    ck_assert_int_eq(r.status, 0);
    assert_rows_match(r.out, want, 4, 2, 1e-6);
    run_free(&r);
    run_cli(&r, "predict", tmp("stateful.h5"), tmp("x.npy"), "--batch-size", "4", NULL);
    assert_error(&r, 1,
                 "carries state between batches of 2 (its input's batch size), got a batch of 4");
    run_free(&r);
    remove_tmpdir();
}
END_TEST

START_TEST(test_convert_round_trip)
{
    CK_SHARED_OR_SKIP(m_path, HANH);
    char model[512], input[600];
    copy_path(model, sizeof model, m_path);
    CK_SHARED_OR_SKIP(e_path, HANH_EXPECTED);
    snprintf(input, sizeof input, "%s:/x_random", e_path);
    make_tmpdir();
    run_result direct, r;
    run_cli(&direct, "predict", model, input, NULL);
    run_cli(&r, "convert", model, "-o", tmp("m.weights.h5"), NULL);
    assert_success(&direct);
    assert_success(&r);
    ck_assert_int_eq(access(tmp("m.json"), R_OK), 0);
    run_free(&r);
    /* Keras 3 weights + JSON predict exactly like the original. */
    run_cli(&r, "predict", "--config", tmp("m.json"), "--weights", tmp("m.weights.h5"), input,
            NULL);
    assert_success(&r);
    ck_assert_str_eq(r.out, direct.out);
    run_free(&r);
    /* ... and convert back to a Keras 2 whole-model file. */
    run_cli(&r, "convert", "--config", tmp("m.json"), "--weights", tmp("m.weights.h5"), "-o",
            tmp("back.h5"), NULL);
    assert_success(&r);
    run_free(&r);
    run_cli(&r, "predict", tmp("back.h5"), input, NULL);
    assert_success(&r);
    ck_assert_str_eq(r.out, direct.out);
    run_free(&r);
    /* ckeras writes keras_version 2.15.0, so the summary is tf.keras 2.15's. */
    run_cli(&r, "summary", tmp("back.h5"), NULL);
    assert_success(&r);
    ck_assert_ptr_nonnull(strstr(r.out, "Total params: 596675 (2.28 MB)"));
    run_free(&r);
    run_free(&direct);
    remove_tmpdir();
}
END_TEST

/* ------------------------------------------------------------ fit / evaluate on a tiny model */

enum { N = 8, F = 4, C = 3 };

static void tiny_data(float x[N * F], float labels[N])
{
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < F; j++)
            x[i * F + j] = sinf((float)(i * F + j) * 0.7f);
        labels[i] = (float)(i % C);
    }
}

/* Keras's sparse categorical crossentropy on softmax outputs. */
static double sparse_ce(const float *p, const float *labels)
{
    double sum = 0;
    for (int i = 0; i < N; i++)
        sum -= log(p[i * C + (int)labels[i]]);
    return sum / N;
}

/* Writes tiny.h5 (Dense(3, softmax) on 4 features), x.npy, y.npy and
 * y1.npy (the labels as (N, 1)); returns the model. */
static ck_model *write_tiny(float x[N * F], float labels[N])
{
    ck_model *m = ck_sequential(.seed = 7);
    ck_assert_ok(ck_model_add(m, ck_input(F)));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = C, .activation = "softmax")));
    ck_assert_ok(ck_model_build(m));
    ck_assert_ok(ck_model_save(m, tmp("tiny.h5")));
    tiny_data(x, labels);
    ck_tensor tx = {.rank = 2, .dims = {N, F}, .data = x};
    ck_tensor ty = {.rank = 1, .dims = {N}, .data = labels};
    ck_tensor ty1 = {.rank = 2, .dims = {N, 1}, .data = labels};
    ck_assert_ok(ck_npy_write(tmp("x.npy"), &tx));
    ck_assert_ok(ck_npy_write(tmp("y.npy"), &ty));
    ck_assert_ok(ck_npy_write(tmp("y1.npy"), &ty1));
    return m;
}

static double parse_value(const char *out, const char *key)
{
    const char *p = strstr(out, key);
    ck_assert_msg(p != NULL, "'%s' missing from: %s", key, out);
    return strtod(p + strlen(key), NULL);
}

START_TEST(test_evaluate_tiny)
{
    make_tmpdir();
    float x[N * F], labels[N], p[N * C];
    ck_model *m = write_tiny(x, labels);
    ck_assert_ok(ck_model_predict(m, x, N, p));
    int correct = 0;
    for (int i = 0; i < N; i++) {
        int best = 0;
        for (int c = 1; c < C; c++)
            best = p[i * C + c] > p[i * C + best] ? c : best;
        correct += best == (int)labels[i];
    }
    run_result r;
    run_cli(&r, "evaluate", tmp("tiny.h5"), "--x", tmp("x.npy"), "--y", tmp("y.npy"), "--loss",
            "sparse_categorical_crossentropy", "--metrics", "accuracy", NULL);
    assert_success(&r);
    ck_assert_close(parse_value(r.out, "loss: "), sparse_ce(p, labels), 1e-5);
    ck_assert_close(parse_value(r.out, "\naccuracy: "), (double)correct / N, 1e-6);
    ck_assert_msg(strncmp(r.out, "loss: ", 6) == 0, "no bar unless asked for:\n%s", r.out);
    run_free(&r);
    /* --verbose 1: evaluate's bar (one batch), then the same values. */
    run_cli(&r, "evaluate", tmp("tiny.h5"), "--x", tmp("x.npy"), "--y", tmp("y.npy"), "--loss",
            "sparse_categorical_crossentropy", "--metrics", "accuracy", "--verbose", "1", NULL);
    assert_success(&r);
    const char *values = strstr(r.out, "/step - "), *eol = strchr(r.out, '\n');
    ck_assert_msg(strncmp(r.out, "1/1 ", 4) == 0 && values && values < eol &&
                      strstr(values, "accuracy: ") < eol,
                  "no bar:\n%s", r.out);
    ck_assert_close(parse_value(r.out, "\nloss: "), sparse_ce(p, labels), 1e-5);
    run_free(&r);
    /* No --loss and no training config in the file. */
    run_cli(&r, "evaluate", tmp("tiny.h5"), "--x", tmp("x.npy"), "--y", tmp("y.npy"), NULL);
    assert_error(&r, 2, "--loss is required");
    run_free(&r);
    run_cli(&r, "evaluate", tmp("tiny.h5"), "--x", tmp("x.npy"), "--y", tmp("y.npy"), "--loss",
            "no_such_loss", NULL);
    assert_error(&r, 1, "no_such_loss");
    run_free(&r);
    /* Targets must have one per sample. */
    ck_tensor y7 = {.rank = 1, .dims = {7}, .data = labels};
    ck_assert_ok(ck_npy_write(tmp("y7.npy"), &y7));
    run_cli(&r, "evaluate", tmp("tiny.h5"), "--x", tmp("x.npy"), "--y", tmp("y7.npy"), "--loss",
            "sparse_categorical_crossentropy", NULL);
    assert_error(&r, 1, "--y has 7 samples but --x has 8");
    run_free(&r);
    ck_model_free(m);
    remove_tmpdir();
}
END_TEST

/* One SGD step on the whole batch, done by hand: softmax + mean sparse CE
 * gives d logits = (p - onehot) / N. */
static void sgd_step(ck_model *m, const float *x, const float *labels, double lr, float *kernel,
                     float *bias)
{
    float p[N * C];
    ck_assert_ok(ck_model_predict(m, x, N, p));
    for (int i = 0; i < N; i++)
        p[i * C + (int)labels[i]] -= 1.0f;
    for (int c = 0; c < C; c++) {
        double gb = 0;
        for (int i = 0; i < N; i++)
            gb += p[i * C + c] / N;
        bias[c] -= (float)(lr * gb);
        for (int j = 0; j < F; j++) {
            double gw = 0;
            for (int i = 0; i < N; i++)
                gw += x[i * F + j] * p[i * C + c] / N;
            kernel[j * C + c] -= (float)(lr * gw);
        }
    }
}

/* softmax(x kernel + bias) for the tiny model. */
static void tiny_forward(const float *x, const float *kernel, const float *bias, float *p)
{
    for (int i = 0; i < N; i++) {
        double z[C], max = -INFINITY, sum = 0;
        for (int c = 0; c < C; c++) {
            z[c] = bias[c];
            for (int j = 0; j < F; j++)
                z[c] += (double)x[i * F + j] * kernel[j * C + c];
            max = z[c] > max ? z[c] : max;
        }
        for (int c = 0; c < C; c++)
            sum += exp(z[c] - max);
        for (int c = 0; c < C; c++)
            p[i * C + c] = (float)(exp(z[c] - max) / sum);
    }
}

static void dense_weights(ck_model *m, float **kernel, float **bias)
{
    ck_layer *dense = ck_model_layer(m, 0);
    const char *name;
    ck_tensor k, b;
    ck_assert_ok(ck_layer_weight(dense, 0, &name, &k));
    ck_assert_ok(ck_layer_weight(dense, 1, &name, &b));
    *kernel = k.data;
    *bias = b.data;
}

START_TEST(test_fit_tiny_one_step)
{
    make_tmpdir();
    float x[N * F], labels[N];
    ck_model *m = write_tiny(x, labels);
    float *k0, *b0, want_k[F * C], want_b[C];
    dense_weights(m, &k0, &b0);
    memcpy(want_k, k0, sizeof want_k);
    memcpy(want_b, b0, sizeof want_b);
    sgd_step(m, x, labels, 0.5, want_k, want_b);
    const char *ys[] = {"y.npy", "y1.npy"}; /* (N,) and (N, 1) targets */
    for (int v = 0; v < 2; v++) {
        run_result r;
        run_cli(&r, "fit", tmp("tiny.h5"), "--x", tmp("x.npy"), "--y", tmp(ys[v]), "--loss",
                "sparse_categorical_crossentropy", "--optimizer", "sgd", "--learning-rate", "0.5",
                "--epochs", "1", "--batch-size", "8", "--no-shuffle", "--verbose", "0", "-o",
                tmp("trained.h5"), NULL);
        assert_success(&r);
        ck_assert_str_eq(r.out, "");
        run_free(&r);
        ck_model *t;
        ck_assert_ok(ck_model_load(tmp("trained.h5"), &t));
        float *k, *b;
        dense_weights(t, &k, &b);
        for (int i = 0; i < F * C; i++)
            ck_assert_close(k[i], want_k[i], 1e-5);
        for (int i = 0; i < C; i++)
            ck_assert_close(b[i], want_b[i], 1e-5);
        ck_model_free(t);
        /* The saved file keeps the compilation: evaluate needs no --loss. */
        run_cli(&r, "evaluate", tmp("trained.h5"), "--x", tmp("x.npy"), "--y", tmp(ys[v]), NULL);
        assert_success(&r);
        float p[N * C];
        tiny_forward(x, want_k, want_b, p);
        ck_assert_close(parse_value(r.out, "loss: "), sparse_ce(p, labels), 1e-5);
        run_free(&r);
    }
    ck_model_free(m);
    remove_tmpdir();
}
END_TEST

/* A run that diverges keeps its finished steps: the last finite weights are
 * saved to -o, the exit is a failure, and the message names the layer and
 * a remedy. Plain SGD with a huge rate on a linear output grows the
 * weights geometrically until they overflow. */
START_TEST(test_fit_divergence_saves_last_finite_weights)
{
    make_tmpdir();
    float x[N * F], labels[N];
    ck_model_free(write_tiny(x, labels));
    ck_model *m = ck_sequential(.seed = 7);
    ck_assert_ok(ck_model_add(m, ck_input(F)));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 1, .name = "head")));
    ck_assert_ok(ck_model_build(m));
    ck_assert_ok(ck_model_save(m, tmp("linear.h5")));
    float *k0, *b0;
    dense_weights(m, &k0, &b0);
    run_result r;
    run_cli(&r, "fit", tmp("linear.h5"), "--x", tmp("x.npy"), "--y", tmp("y1.npy"), "--loss", "mse",
            "--optimizer", "sgd", "--learning-rate", "1e15", "--epochs", "50", "--batch-size", "8",
            "--no-shuffle", "--verbose", "0", "-o", tmp("diverged.h5"), NULL);
    assert_error(&r, 1, "the last finite weights were saved to");
    ck_assert_msg(strstr(r.err, "head") && strstr(r.err, "clip"), "%s", r.err);
    run_free(&r);
    ck_model *t;
    ck_assert_ok(ck_model_load(tmp("diverged.h5"), &t));
    float *k, *b;
    dense_weights(t, &k, &b);
    bool moved = false;
    for (int i = 0; i < F; i++) {
        ck_assert(isfinite(k[i]));
        moved |= fabsf(k[i] - k0[i]) > 1.0f;
    }
    ck_assert_msg(moved, "the saved weights are the initial ones: no step was kept");
    ck_assert(isfinite(b[0]));
    ck_model_free(t);
    ck_model_free(m);
    remove_tmpdir();
}
END_TEST

/* A value that is not finite is counted within INPUT, not its batch. */
START_TEST(test_predict_nonfinite_position)
{
    make_tmpdir();
    float x[N * F], labels[N];
    ck_model_free(write_tiny(x, labels));
    x[5 * F + 2] = INFINITY;
    ck_tensor tx = {.rank = 2, .dims = {N, F}, .data = x};
    ck_assert_ok(ck_npy_write(tmp("x_inf.npy"), &tx));
    run_result r;
    run_cli(&r, "predict", tmp("tiny.h5"), tmp("x_inf.npy"), "--batch-size", "2", NULL);
    assert_error(&r, 1, "value #22 (in sample 5) is infinite");
    run_free(&r);
    remove_tmpdir();
}
END_TEST

/* Data that is not finite stops fit before its first step: no weight has
 * changed, so -o is left as it was (a file there is not replaced). */
START_TEST(test_fit_nan_data_leaves_output)
{
    make_tmpdir();
    float x[N * F], labels[N];
    ck_model_free(write_tiny(x, labels));
    x[2 * F + 1] = NAN;
    ck_tensor tx = {.rank = 2, .dims = {N, F}, .data = x};
    ck_assert_ok(ck_npy_write(tmp("x_nan.npy"), &tx));
    FILE *f = fopen(tmp("kept.h5"), "w");
    ck_assert_ptr_nonnull(f);
    fputs("precious", f);
    fclose(f);
    run_result r;
    run_cli(&r, "fit", tmp("tiny.h5"), "--x", tmp("x_nan.npy"), "--y", tmp("y.npy"), "--loss",
            "sparse_categorical_crossentropy", "--verbose", "0", "-o", tmp("kept.h5"), NULL);
    assert_error(&r, 1, "not finite");
    ck_assert_msg(!strstr(r.err, "saved"), "%s", r.err);
    run_free(&r);
    char buf[16] = {0};
    f = fopen(tmp("kept.h5"), "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(fgets(buf, sizeof buf, f));
    fclose(f);
    ck_assert_str_eq(buf, "precious");
    remove_tmpdir();
}
END_TEST

/* fit -o picks the format by suffix: a .keras archive, Keras 3 weights
 * (which inspect describes and turns into a template that loads them). */
START_TEST(test_fit_output_formats_and_inspect)
{
    make_tmpdir();
    float x[N * F], labels[N];
    ck_model *m = write_tiny(x, labels);
    const char *outs[] = {"t.keras", "t.weights.h5"};
    const char *kinds[] = {"kind: .keras archive\n", "kind: Keras 3 weights (.weights.h5)\n"};
    for (int i = 0; i < 2; i++) {
        run_result r;
        run_cli(&r, "fit", tmp("tiny.h5"), "--x", tmp("x.npy"), "--y", tmp("y.npy"), "--loss",
                "sparse_categorical_crossentropy", "--epochs", "1", "--verbose", "0", "-o",
                tmp(outs[i]), NULL);
        assert_success(&r);
        run_free(&r);
        run_cli(&r, "inspect", tmp(outs[i]), NULL);
        assert_success(&r);
        ck_assert_msg(strstr(r.out, kinds[i]), "%s", r.out);
        ck_assert_msg(strstr(r.out, "layers (1") || strstr(r.out, "layer groups (1"), "%s", r.out);
        run_free(&r);
    }
    run_result r;
    run_cli(&r, "inspect", tmp("t.weights.h5"), "-o", tmp("template.json"), NULL);
    assert_success(&r);
    ck_assert_msg(strstr(r.out, "vars/0 (4, 3)"), "%s", r.out);
    run_free(&r);
    run_cli(&r, "predict", "--config", tmp("template.json"), "--weights", tmp("t.weights.h5"),
            tmp("x.npy"), NULL);
    assert_success(&r);
    run_free(&r);
    run_cli(&r, "fit", tmp("tiny.h5"), "--x", tmp("x.npy"), "--y", tmp("y.npy"), "-o", tmp("t.npy"),
            NULL);
    assert_error(&r, 2, "OUT.weights.h5");
    run_free(&r);
    ck_model_free(m);
    remove_tmpdir();
}
END_TEST

/* --map reads a custom activation as a built-in one; --verbose prints
 * what loading tolerated (here a custom initializer). */
START_TEST(test_map_and_verbose_warnings)
{
    make_tmpdir();
    FILE *f = fopen(tmp("custom.json"), "w");
    ck_assert_ptr_nonnull(f);
    fputs(
        "{\"class_name\": \"Sequential\", \"keras_version\": \"2.2.4\", \"config\": {\"name\": \"s\", "
        "\"layers\": [{\"class_name\": \"Dense\", \"config\": {\"name\": \"d\", \"units\": 2, "
        "\"batch_input_shape\": [null, 3], \"activation\": \"my_act\", \"kernel_initializer\": "
        "\"weight_variable\"}}]}}",
        f);
    fclose(f);
    run_result r;
    run_cli(&r, "summary", "--config", tmp("custom.json"), NULL);
    assert_error(&r, 1, "my_act");
    run_free(&r);
    run_cli(&r, "summary", "--config", tmp("custom.json"), "--map", "my_act=relu", NULL);
    assert_success(&r);
    ck_assert_str_eq(r.err, "");
    run_free(&r);
    run_cli(&r, "summary", "--config", tmp("custom.json"), "--map", "my_act=relu", "--verbose",
            NULL);
    ck_assert_int_eq(r.status, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "d (Dense)"));
    ck_assert_msg(strstr(r.err, "ckeras: warning: layer 'd': kernel_initializer 'weight_variable'"),
                  "%s", r.err);
    run_free(&r);
    run_cli(&r, "summary", "--config", tmp("custom.json"), "--map", "my_act", NULL);
    assert_error(&r, 2, "FROM=TO");
    run_free(&r);
    remove_tmpdir();
}
END_TEST

/* --map on an initializer, with --config alone: the initializers run, so
 * the mapping decides the weights. Dense(2) with kernel and bias "ones"
 * gives x0 + x1 + x2 + 1 in both columns. */
START_TEST(test_map_initializer_with_config)
{
    make_tmpdir();
    FILE *f = fopen(tmp("init.json"), "w");
    ck_assert_ptr_nonnull(f);
    fputs(
        "{\"class_name\": \"Sequential\", \"keras_version\": \"2.0.9\", \"config\": [{\"class_name\": "
        "\"Dense\", \"config\": {\"name\": \"dense_1\", \"units\": 2, \"batch_input_shape\": [null, 3], "
        "\"activation\": \"linear\", \"kernel_initializer\": \"weight_variable\", "
        "\"bias_initializer\": \"bias_variable\"}}]}",
        f);
    fclose(f);
    float x[6] = {0.5f, -2, 4, 1, 1, 1};
    ck_tensor tx = {.rank = 2, .dims = {2, 3}, .data = x};
    ck_assert_ok(ck_npy_write(tmp("x.npy"), &tx));
    const struct {
        const char *map;
        float want[4];
    } rows[] = {{"weight_variable=ones,bias_variable=ones", {3.5f, 3.5f, 4, 4}},
                {"weight_variable=zeros,bias_variable=ones", {1, 1, 1, 1}}};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        run_result r;
        run_cli(&r, "predict", "--config", tmp("init.json"), tmp("x.npy"), "--map", rows[i].map,
                NULL);
        assert_success(&r);
        assert_rows_match(r.out, rows[i].want, 2, 2, 1e-6);
        run_free(&r);
    }
    remove_tmpdir();
}
END_TEST

START_TEST(test_fit_options_and_errors)
{
    make_tmpdir();
    float x[N * F], labels[N];
    ck_model *m = write_tiny(x, labels);
    run_result r;
    run_cli(&r, "fit", tmp("tiny.h5"), "--x", tmp("x.npy"), "--y", tmp("y.npy"), "--loss",
            "sparse_categorical_crossentropy", "--optimizer", "adam", "--learning-rate", "0.01",
            "--beta-1", "0.8", "--beta-2", "0.99", "--epsilon", "1e-6", "--clipnorm", "1",
            "--epochs", "3", "--batch-size", "4", "--seed", "3", "--validation-split", "0.25",
            "--verbose", "2", "-o", tmp("adam.h5"), NULL);
    assert_success(&r);
    ck_assert_msg(strstr(r.out, "loss"), "verbose 2 prints the epochs: %s", r.out);
    run_free(&r);
    ck_assert_int_eq(access(tmp("adam.h5"), R_OK), 0);
    run_cli(&r, "fit", tmp("tiny.h5"), "--x", tmp("x.npy"), "--y", tmp("y.npy"), "--loss",
            "sparse_categorical_crossentropy", "--optimizer", "rmsprop", "--rho", "0.8",
            "--momentum", "0.5", "--clipvalue", "0.1", "--verbose", "0", "-o", tmp("rms.h5"), NULL);
    assert_success(&r);
    run_free(&r);
    run_cli(&r, "fit", tmp("tiny.h5"), "--x", tmp("x.npy"), "--y", tmp("y.npy"), "--loss",
            "sparse_categorical_crossentropy", "--optimizer", "sgd", "--momentum", "0.9",
            "--nesterov", "--verbose", "0", "-o", tmp("sgd.h5"), NULL);
    assert_success(&r);
    run_free(&r);
    /* --seed makes shuffled training reproducible. */
    const char *seeds[] = {"5", "5", "6"}, *outs[] = {"s5a.h5", "s5b.h5", "s6.h5"};
    float kernels[3][F * C];
    for (int i = 0; i < 3; i++) {
        run_cli(&r, "fit", tmp("tiny.h5"), "--x", tmp("x.npy"), "--y", tmp("y.npy"), "--loss",
                "sparse_categorical_crossentropy", "--optimizer", "sgd", "--learning-rate", "0.5",
                "--epochs", "2", "--batch-size", "2", "--seed", seeds[i], "--verbose", "0", "-o",
                tmp(outs[i]), NULL);
        assert_success(&r);
        run_free(&r);
        ck_model *t;
        float *k, *b;
        ck_assert_ok(ck_model_load(tmp(outs[i]), &t));
        dense_weights(t, &k, &b);
        memcpy(kernels[i], k, sizeof kernels[i]);
        ck_model_free(t);
    }
    ck_assert_int_eq(memcmp(kernels[0], kernels[1], sizeof kernels[0]), 0);
    ck_assert_int_ne(memcmp(kernels[0], kernels[2], sizeof kernels[0]), 0);
    run_cli(&r, "fit", tmp("tiny.h5"), "--x", tmp("x.npy"), "--y", tmp("y.npy"), "--loss", "mse",
            "--optimizer", "nadamax", "-o", tmp("bad.h5"), NULL);
    assert_error(&r, 1, "nadamax");
    run_free(&r);
    /* Training options that do not parse name themselves. */
    char cw_null[256], ckpt_bad[256];
    snprintf(cw_null, sizeof cw_null, "%s", tmp("cw_null.json"));
    snprintf(ckpt_bad, sizeof ckpt_bad, "%s", tmp("c_{loss:.999999999f}.h5"));
    FILE *cw = fopen(cw_null, "w");
    ck_assert_ptr_nonnull(cw);
    fputs("{\"0\": 2, \"1\": null, \"2\": true}", cw);
    fclose(cw);
    const struct {
        const char *option, *value, *needle;
    } bad[] = {
        {"--early-stopping", "loss", "expected MONITOR:PATIENCE[:restore]"},
        {"--early-stopping", "loss:2:keep", "expected MONITOR:PATIENCE[:restore]"},
        {"--lr-schedule", "exponential:0.1", "exponential takes 3 to 4 fields"},
        {"--lr-schedule", "exponential:0.1:10:0.5:stairs", "must be staircase"},
        {"--lr-schedule", "piecewise:1,2:0.1", "one value more than boundaries"},
        {"--lr-schedule", "step:1", "unknown schedule"},
        {"--reduce-lr-on-plateau", "loss:x", "expected MONITOR[:FACTOR"},
        {"--reduce-lr-on-plateau", "loss:0.5:3e9", "expected MONITOR[:FACTOR"},
        {"--reduce-lr-on-plateau", "loss:0.5:3:0:3e9", "expected MONITOR[:FACTOR"},
        {"--class-weight", cw_null, "expected {\"CLASS\": WEIGHT"},
        {"--checkpoint", ckpt_bad, "unsupported format spec"},
        {"--freeze", "nope", "has no layer 'nope'"},
        {"--class-weight", "nope.json", "cannot open"},
        {"--validation-x", "x.npy", "--validation-x and --validation-y go together"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        run_cli(&r, "fit", tmp("tiny.h5"), "--x", tmp("x.npy"), "--y", tmp("y.npy"), "--loss",
                "sparse_categorical_crossentropy", bad[i].option, bad[i].value, "-o", tmp("bad.h5"),
                NULL);
        ck_assert_msg(r.status != 0 && strstr(r.err, bad[i].needle), "%s %s: %s", bad[i].option,
                      bad[i].value, r.err);
        run_free(&r);
    }
    run_cli(&r, "fit", tmp("tiny.h5"), "--x", tmp("x.npy"), "--y", tmp("y.npy"), "--loss",
            "sparse_categorical_crossentropy", "--save-best-only", "-o", tmp("bad.h5"), NULL);
    assert_error(&r, 2, "--save-best-only needs --checkpoint");
    run_free(&r);
    /* A schedule and Nadam, saved in the training config. */
    run_cli(&r, "fit", tmp("tiny.h5"), "--x", tmp("x.npy"), "--y", tmp("y.npy"), "--loss",
            "sparse_categorical_crossentropy", "--optimizer", "nadam", "--lr-schedule",
            "cosine:0.1:10:0:0.2:2", "--epochs", "2", "--verbose", "0", "-o", tmp("sched.h5"),
            NULL);
    assert_success(&r);
    run_free(&r);
    ck_model *sm;
    ck_assert_ok(ck_model_load(tmp("sched.h5"), &sm));
    ck_compile_options co;
    ck_assert_ok(ck_model_get_compile_options(sm, &co));
    ck_assert_str_eq(co.optimizer.name, "Nadam");
    ck_assert_str_eq(co.optimizer.learning_rate_schedule.class_name, "CosineDecay");
    ck_assert_double_eq(co.optimizer.learning_rate_schedule.warmup_target, 0.2);
    ck_model_free(sm);
    /* Keras refuses an argument its optimizer does not have. */
    run_cli(&r, "fit", tmp("tiny.h5"), "--x", tmp("x.npy"), "--y", tmp("y.npy"), "--loss", "mse",
            "--optimizer", "adam", "--momentum", "0.9", "-o", tmp("bad.h5"), NULL);
    assert_error(&r, 2, "--momentum does not apply to optimizer adam");
    run_free(&r);
    /* A new learning rate alone keeps the file's optimizer class. */
    run_cli(&r, "fit", tmp("adam.h5"), "--x", tmp("x.npy"), "--y", tmp("y.npy"), "--learning-rate",
            "0.05", "--verbose", "0", "-o", tmp("adam2.h5"), NULL);
    assert_success(&r);
    run_free(&r);
    ck_model *t;
    ck_assert_ok(ck_model_load(tmp("adam2.h5"), &t));
    cJSON *tc = ck_train_config_to_json(t);
    char *text = cJSON_PrintUnformatted(tc);
    ck_assert_msg(strstr(text, "\"Adam\"") && strstr(text, "0.05"), "%s", text);
    free(text);
    cJSON_Delete(tc);
    ck_model_free(t);
    run_cli(&r, "fit", tmp("tiny.h5"), "--x", tmp("x.npy"), "--y", tmp("y.npy"), "--loss",
            "bogus_loss", "-o", tmp("bad.h5"), NULL);
    assert_error(&r, 1, "bogus_loss");
    ck_assert_int_ne(access(tmp("bad.h5"), F_OK), 0);
    run_free(&r);
    ck_model_free(m);
    remove_tmpdir();
}
END_TEST


/* ------------------------------------------------------------ hostile inputs and outputs */

#define RAW_CORPUS "tests/fuzz/corpus/fuzz_h5_weights_raw"

/* Every raw fuzz input, as FILE:/path for a few paths, fails with exit 1
 * and one error line (the corrupt compact dataset used to crash). */
START_TEST(test_predict_fuzz_corpus)
{
    make_tmpdir();
    float x[N * F], labels[N];
    ck_model_free(write_tiny(x, labels));
    const char *paths[] = {"/layers/batch_normalization/vars/2", "/model_weights", "/x", "/"};
    DIR *d = opendir(RAW_CORPUS);
    ck_assert_ptr_nonnull(d);
    int files = 0;
    for (struct dirent *e = readdir(d); e; e = readdir(d)) {
        if (e->d_name[0] == '.')
            continue;
        files++;
        for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
            char spec[600];
            snprintf(spec, sizeof spec, "%s/%s:%s", RAW_CORPUS, e->d_name, paths[i]);
            run_result r;
            run_cli(&r, "predict", tmp("tiny.h5"), spec, NULL);
            assert_error(&r, 1, "");
            run_free(&r);
        }
    }
    closedir(d);
    ck_assert_int_ge(files, 3);
    run_result r;
    run_cli(&r, "predict", tmp("tiny.h5"),
            RAW_CORPUS "/crash_compact_no_data.h5:/layers/batch_normalization/vars/2", NULL);
    assert_error(&r, 1, "corrupt");
    run_free(&r);
    run_cli(&r, "predict", tmp("tiny.h5"), RAW_CORPUS "/small_k2.h5:/dense", NULL);
    assert_error(&r, 1, "/dense is a group, not a dataset");
    run_free(&r);
    run_cli(&r, "predict", tmp("tiny.h5"), "/dev/zero", NULL);
    assert_error(&r, 1, "is a character device");
    run_free(&r);
    run_cli(&r, "predict", "--config", "/dev/zero", tmp("x.npy"), NULL);
    assert_error(&r, 1, "is a character device");
    run_free(&r);
    remove_tmpdir();
}
END_TEST

/* data.h5 with /x (the tiny inputs) and /keep. */
static void write_data_h5(const char *path, const float *x)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(f, 0);
    ck_assert_ok(ck_h5_write_floats(f, "x", 2, (int64_t[]){N, F}, x));
    ck_assert_ok(ck_h5_write_floats(f, "keep", 1, (int64_t[]){1}, (float[]){42}));
    H5Fclose(f);
}

START_TEST(test_output_must_not_be_an_input)
{
    make_tmpdir();
    float x[N * F], labels[N];
    ck_model_free(write_tiny(x, labels));
    write_data_h5(tmp("data.h5"), x);
    char spec[300];
    snprintf(spec, sizeof spec, "%s:/x", tmp("data.h5"));
    ck_assert_int_eq(symlink(tmp("data.h5"), tmp("alias.h5")), 0);
    const char *outs[] = {tmp("data.h5"), tmp("alias.h5")};
    for (int i = 0; i < 2; i++) {
        run_result r;
        run_cli(&r, "predict", tmp("tiny.h5"), spec, "-o", outs[i], NULL);
        assert_error(&r, 2, "is also an input");
        run_free(&r);
    }
    run_result r;
    run_cli(&r, "predict", tmp("tiny.h5"), tmp("x.npy"), "-o", tmp("x.npy"), NULL);
    assert_error(&r, 2, "is also an input");
    run_free(&r);
    run_cli(&r, "fit", tmp("tiny.h5"), "--x", spec, "--y", tmp("y.npy"), "--loss",
            "sparse_categorical_crossentropy", "-o", tmp("alias.h5"), NULL);
    assert_error(&r, 2, "is also an input");
    run_free(&r);
    ck_tensor t;
    /* fit's other outputs: a log over MODEL or the data, a checkpoint
     * over the data, a log and a checkpoint in one file. */
    const char *fit_outputs[][2] = {{"--csv-log", tmp("tiny.h5")},
                                    {"--csv-log", tmp("y.npy")},
                                    {"--checkpoint", tmp("x.npy")},
                                    {"--csv-log", tmp("out.h5")}};
    for (int i = 0; i < 4; i++) {
        run_cli(&r, "fit", tmp("tiny.h5"), "--x", tmp("x.npy"), "--y", tmp("y.npy"), "--loss",
                "sparse_categorical_crossentropy", "--verbose", "0", "-o", tmp("out.h5"),
                fit_outputs[i][0], fit_outputs[i][1], NULL);
        assert_error(&r, 2, "is also an input");
        ck_assert_msg(strstr(r.err, fit_outputs[i][0]), "%s", r.err);
        run_free(&r);
    }
    ck_model *kept;
    ck_assert_ok(ck_model_load(tmp("tiny.h5"), &kept));
    ck_model_free(kept);
    ck_assert_ok(ck_npy_read(tmp("x.npy"), &t));
    ck_assert_int_eq(t.dims[0], N);
    ck_free(t.data);
    run_cli(&r, "predict", tmp("tiny.h5"), spec, "-o", tmp("y.h5"), NULL);
    assert_success(&r);
    run_free(&r);
    ck_assert_ok(ck_h5_read_array(tmp("data.h5"), "/keep", &t));
    ck_assert_float_eq(t.data[0], 42.0f);
    ck_free(t.data);
    ck_assert_ok(ck_h5_read_array(tmp("y.h5"), "/y", &t));
    ck_assert_int_eq(t.dims[0], N);
    ck_free(t.data);
    /* convert: OUT.weights.h5 writes OUT.json, which may be the --config input. */
    run_cli(&r, "convert", tmp("tiny.h5"), "-o", tmp("m.weights.h5"), NULL);
    assert_success(&r);
    run_free(&r);
    char *before = slurp_text(tmp("m.json"));
    run_cli(&r, "convert", "--config", tmp("m.json"), "--weights", tmp("m.weights.h5"), "-o",
            tmp("m.weights.h5"), NULL);
    assert_error(&r, 2, "is also an input");
    run_free(&r);
    char *after = slurp_text(tmp("m.json"));
    ck_assert_str_eq(after, before);
    free(before);
    free(after);
    remove_tmpdir();
}
END_TEST

/* A model saved unzipped is read from its members: no output may name one. */
START_TEST(test_output_must_not_be_a_model_member)
{
    make_tmpdir();
    float x[N * F], labels[N];
    ck_model_free(write_tiny(x, labels));
    ck_assert_int_eq(mkdir(tmp("dir"), 0700), 0);
    run_result r;
    run_cli(&r, "convert", tmp("tiny.h5"), "-o", tmp("dir/model.weights.h5"), NULL);
    assert_success(&r);
    run_free(&r);
    ck_assert_int_eq(rename(tmp("dir/model.json"), tmp("dir/config.json")), 0);
    char *config = slurp_text(tmp("dir/config.json"));
    run_cli(&r, "predict", tmp("dir"), tmp("x.npy"), "-o", tmp("dir/model.weights.h5"), NULL);
    assert_error(&r, 2, "is also an input");
    run_free(&r);
    run_cli(&r, "convert", tmp("dir"), "-o", tmp("dir/config.json"), NULL);
    assert_error(&r, 2, "is also an input");
    run_free(&r);
    const char *fit_outputs[][2] = {{"--csv-log", "dir/config.json"},
                                    {"-o", "dir/model.weights.h5"},
                                    {"--checkpoint", "dir/model.weights.h5"}};
    for (int i = 0; i < 3; i++) {
        bool own_o = i == 1;
        run_cli(&r, "fit", tmp("dir"), "--x", tmp("x.npy"), "--y", tmp("y.npy"), "--loss",
                "sparse_categorical_crossentropy", "--verbose", "0", "-o",
                tmp(own_o ? fit_outputs[i][1] : "out.h5"), own_o ? NULL : fit_outputs[i][0],
                tmp(fit_outputs[i][1]), NULL);
        assert_error(&r, 2, "is also an input");
        run_free(&r);
    }
    char *kept = slurp_text(tmp("dir/config.json"));
    ck_assert_str_eq(kept, config);
    free(config);
    free(kept);
    run_cli(&r, "predict", tmp("dir"), tmp("x.npy"), "-o", tmp("dir/y.npy"), NULL);
    assert_success(&r);
    run_free(&r);
    remove_tmpdir();
}
END_TEST

START_TEST(test_convert_to_keras_archive)
{
    make_tmpdir();
    float x[N * F], labels[N];
    ck_model_free(write_tiny(x, labels));
    run_result direct, r;
    run_cli(&direct, "predict", tmp("tiny.h5"), tmp("x.npy"), NULL);
    assert_success(&direct);
    run_cli(&r, "convert", tmp("tiny.h5"), "-o", tmp("tiny.keras"), NULL);
    assert_success(&r);
    run_free(&r);
    run_cli(&r, "predict", tmp("tiny.keras"), tmp("x.npy"), NULL);
    assert_success(&r);
    ck_assert_str_eq(r.out, direct.out);
    run_free(&r);
    run_free(&direct);
    remove_tmpdir();
}
END_TEST

/* A compiled model has up to 8 metrics; evaluate names every one, a
 * repeated name as Keras 3 logs it (accuracy_1, ...). */
START_TEST(test_evaluate_eight_metrics)
{
    make_tmpdir();
    float x[N * F], labels[N];
    ck_model_free(write_tiny(x, labels));
    run_result r;
    run_cli(&r, "evaluate", tmp("tiny.h5"), "--x", tmp("x.npy"), "--y", tmp("y.npy"), "--loss",
            "sparse_categorical_crossentropy", "--metrics",
            "accuracy,accuracy,accuracy,accuracy,accuracy,accuracy,accuracy,accuracy", NULL);
    assert_success(&r);
    int lines = 0;
    for (const char *p = strstr(r.out, "accuracy"); p; p = strstr(p + 1, "accuracy"))
        lines++;
    ck_assert_int_eq(lines, 8);
    ck_assert_ptr_nonnull(strstr(r.out, "\naccuracy: "));
    ck_assert_ptr_nonnull(strstr(r.out, "\naccuracy_7: "));
    run_free(&r);
    remove_tmpdir();
}
END_TEST

/* A compile option without --loss keeps the file's loss, from_logits included. */
START_TEST(test_file_loss_keeps_from_logits)
{
    make_tmpdir();
    float x[N * F], labels[N];
    ck_model_free(write_tiny(x, labels));
    /* Logits out: on a softmax output the loss would take its logits anyway. */
    ck_model *m = ck_sequential(.seed = 7);
    ck_assert_ok(ck_model_add(m, ck_input(F)));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = C)));
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_sgd(),
                                  .loss = "sparse_categorical_crossentropy", .from_logits = true));
    ck_assert_ok(ck_model_save(m, tmp("logits.h5")));
    ck_model_free(m);
    run_result a, b, c;
    run_cli(&a, "evaluate", tmp("logits.h5"), "--x", tmp("x.npy"), "--y", tmp("y.npy"), NULL);
    run_cli(&b, "evaluate", tmp("logits.h5"), "--x", tmp("x.npy"), "--y", tmp("y.npy"), "--metrics",
            "accuracy", NULL);
    run_cli(&c, "evaluate", tmp("logits.h5"), "--x", tmp("x.npy"), "--y", tmp("y.npy"), "--loss",
            "sparse_categorical_crossentropy", NULL);
    assert_success(&a);
    assert_success(&b);
    assert_success(&c);
    ck_assert_close(parse_value(b.out, "loss: "), parse_value(a.out, "loss: "), 1e-7);
    /* --loss replaces the file's loss with Keras's default from_logits=False. */
    ck_assert(fabs(parse_value(c.out, "loss: ") - parse_value(a.out, "loss: ")) > 1e-3);
    run_free(&a);
    run_free(&b);
    run_free(&c);
    remove_tmpdir();
}
END_TEST


/* Loads a model file and returns a copy of layer `name`'s weight `index`. */
static float *weight_copy(const char *path, const char *name, int index, size_t *n)
{
    ck_model *m;
    ck_assert_ok(ck_model_load(path, &m));
    ck_layer *l = ck_model_get_layer(m, name);
    ck_assert_ptr_nonnull(l);
    const char *wname;
    ck_tensor v;
    ck_assert_ok(ck_layer_weight(l, index, &wname, &v));
    *n = ck_tensor_size(&v);
    float *copy = malloc(*n * sizeof *copy);
    memcpy(copy, v.data, *n * sizeof *copy);
    ck_model_free(m);
    return copy;
}

/* Weight `index` of `layer` is bit for bit the same in files a and b. */
static bool same_weight_at(const char *a, const char *b, const char *layer, int index)
{
    size_t na, nb;
    float *wa = weight_copy(a, layer, index, &na), *wb = weight_copy(b, layer, index, &nb);
    bool same = na == nb && memcmp(wa, wb, na * sizeof *wa) == 0;
    free(wa);
    free(wb);
    return same;
}

static bool same_weight(const char *a, const char *b, const char *layer)
{
    return same_weight_at(a, b, layer, 0);
}

/* Kernel, recurrent kernel and bias of an LSTM. */
static bool same_weights(const char *a, const char *b, const char *layer)
{
    bool same = true;
    for (int i = 0; i < 3; i++)
        same = same && same_weight_at(a, b, layer, i);
    return same;
}

/* Fine-tuning the real action model through the CLI: the LSTMs frozen,
 * the head trained with balanced class weights on imbalanced classes, a
 * schedule whose rate drops to 0 after two steps (so early stopping on the
 * loss must fire), a checkpoint per epoch; then a resume from the last
 * checkpoint with --initial-epoch, appending to the CSV log. */
START_TEST(test_fine_tune_action_model)
{
    CK_SHARED_OR_SKIP(model, HANH);
    make_tmpdir();
    static const char *const lstms[] = {"lstm_3", "lstm_4", "lstm_5"};
    enum { S = 12, T = 30, D = 1662 };
    static float x[S * T * D], y[S * 3];
    uint64_t seed = 7;
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++) {
        seed = seed * 6364136223846793005u + 1442695040888963407u;
        x[i] = (float)((seed >> 40) % 1000) / 1000.0f - 0.5f;
    }
    for (int i = 0; i < S; i++) /* classes 6 / 4 / 2 */
        y[i * 3 + (i < 6 ? 0 : i < 10 ? 1 : 2)] = 1;
    ck_assert_ok(ck_npy_write(tmp("x.npy"), &(ck_tensor){3, {S, T, D}, x}));
    ck_assert_ok(ck_npy_write(tmp("y.npy"), &(ck_tensor){2, {S, 3}, y}));
    char pattern[300];
    snprintf(pattern, sizeof pattern, "%s/ckpt-{epoch:02d}.h5", tmpdir);
    run_result r;
    run_cli(&r, "fit", model, "--x", tmp("x.npy"), "--y", tmp("y.npy"), "--loss",
            "categorical_crossentropy", "--metrics", "accuracy", "--optimizer", "adam",
            "--lr-schedule", "piecewise:1:0.001,0", "--class-weight", "balanced",
            "--early-stopping", "loss:2", "--checkpoint", pattern, "--csv-log", tmp("log.csv"),
            "--freeze", "lstm_3,lstm_4", "--freeze", "lstm_5", "--epochs", "20", "--batch-size",
            "12", "--no-shuffle", "--verbose", "2", "-o", tmp("tuned.h5"), NULL);
    assert_success(&r);
    const char *last = strstr(r.out, "saved ");
    ck_assert_ptr_nonnull(last);
    int epochs = 0;
    ck_assert_int_eq(sscanf(last + strlen("saved ") + strlen(tmp("tuned.h5")),
                            ": the model after epoch %d", &epochs),
                     1);
    ck_assert_msg(epochs >= 3 && epochs <= 5, "stopped after %d epochs: %s", epochs, r.out);
    ck_assert_ptr_nonnull(strstr(last, "(EarlyStopping: loss did not improve for 2 epochs"));
    run_free(&r);
    /* One checkpoint per epoch run, none after, the last one the final model. */
    char name[64];
    for (int e = 1; e <= epochs + 1; e++) {
        snprintf(name, sizeof name, "ckpt-%02d.h5", e);
        ck_assert_int_eq(access(tmp(name), F_OK) == 0, e <= epochs);
    }
    snprintf(name, sizeof name, "ckpt-%02d.h5", epochs);
    ck_assert(!same_weight(model, tmp("tuned.h5"), "dense_5"));
    ck_assert(same_weight(tmp(name), tmp("tuned.h5"), "dense_5"));
    for (int l = 0; l < 3; l++)
        ck_assert(same_weights(model, tmp("tuned.h5"), lstms[l]));
    /* Resume from the last checkpoint: two more epochs numbered on from it. */
    char until[16], from[16];
    snprintf(from, sizeof from, "%d", epochs);
    snprintf(until, sizeof until, "%d", epochs + 2);
    run_cli(&r, "fit", tmp(name), "--x", tmp("x.npy"), "--y", tmp("y.npy"), "--initial-epoch", from,
            "--epochs", until, "--checkpoint", pattern, "--csv-log", tmp("log2.csv"),
            "--batch-size", "12", "--no-shuffle", "--verbose", "2", "-o", tmp("resumed.h5"), NULL);
    assert_success(&r);
    char first[32];
    snprintf(first, sizeof first, "Epoch %d/%d\n", epochs + 1, epochs + 2);
    ck_assert_msg(strncmp(r.out, first, strlen(first)) == 0, "%s", r.out);
    run_free(&r);
    snprintf(name, sizeof name, "ckpt-%02d.h5", epochs + 2);
    ck_assert_int_eq(access(tmp(name), F_OK), 0);
    char *csv = slurp_text(tmp("log2.csv"));
    char rows[64];
    snprintf(rows, sizeof rows, "\r\n%d,", epochs);
    ck_assert_msg(strncmp(csv, "epoch,accuracy,loss,", 20) == 0 && strstr(csv, rows), "%s", csv);
    free(csv);
    /* The optimizer continued from the checkpoint's step count. */
    ck_model *m;
    ck_assert_ok(ck_model_load(tmp("resumed.h5"), &m));
    int64_t it;
    ck_assert_ok(ck_model_get_iterations(m, &it));
    ck_assert_int_eq(it, epochs + 2);
    ck_model_free(m);
    /* The file keeps the LSTMs frozen, so the resumed run left them too. */
    for (int l = 0; l < 3; l++)
        ck_assert(same_weights(model, tmp("resumed.h5"), lstms[l]));
    remove_tmpdir();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("cli");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_version);
    tcase_add_test(tc, test_help);
    tcase_add_test(tc, test_usage_errors);
    tcase_add_test(tc, test_missing_and_corrupt_files);
    tcase_add_test(tc, test_summary_fixture);
    tcase_add_test(tc, test_summary_style_follows_keras_version);
    tcase_add_test(tc, test_summary_style_keras2_3);
    tcase_add_test(tc, test_predict_fixture);
    tcase_add_test(tc, test_predict_errors);
    tcase_add_test(tc, test_predict_stateful_declared_batch);
    tcase_add_test(tc, test_convert_round_trip);
    tcase_add_test(tc, test_evaluate_tiny);
    tcase_add_test(tc, test_fit_tiny_one_step);
    tcase_add_test(tc, test_fit_divergence_saves_last_finite_weights);
    tcase_add_test(tc, test_fit_nan_data_leaves_output);
    tcase_add_test(tc, test_fit_options_and_errors);
    tcase_add_test(tc, test_fit_output_formats_and_inspect);
    tcase_add_test(tc, test_map_and_verbose_warnings);
    tcase_add_test(tc, test_map_initializer_with_config);
    tcase_add_test(tc, test_predict_fuzz_corpus);
    tcase_add_test(tc, test_output_must_not_be_an_input);
    tcase_add_test(tc, test_output_must_not_be_a_model_member);
    tcase_add_test(tc, test_predict_nonfinite_position);
    tcase_add_test(tc, test_convert_to_keras_archive);
    tcase_add_test(tc, test_evaluate_eight_metrics);
    tcase_add_test(tc, test_file_loss_keeps_from_logits);
    tcase_add_test(tc, test_fine_tune_action_model);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ck_test_run(suite());
}
