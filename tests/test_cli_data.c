/* The data forms of the ckeras tool: FILE.npz:NAME arrays, string labels
 * with --classes, the --data folder, standard input and output, --argmax,
 * --shuffle-before-split and its warning, the confusion matrix and the
 * SVG pictures. Each form is checked against the same data given plainly. */
#include "ck_test.h"

#include "ck_cli_test.h"
#include "ck_svg_check.h"

#include "ck_io.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DATA "tests/data/"

static void setup(void)
{
    ck_test_make_dir("ck_cli_data");
}

#define at ck_test_pathf

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void write_npy(const char *path, int rank, const int64_t *dims, const float *data)
{
    ck_tensor t = {rank, {0}, (float *)data};
    memcpy(t.dims, dims, sizeof(int64_t) * (size_t)rank);
    ck_assert_ok(ck_npy_write(path, &t));
}

/* Input(4) > Dense(3, softmax), saved without a training config. */
static const char *dense_model(void)
{
    ck_model *m = ck_sequential(.seed = 5);
    ck_assert_ok(ck_model_add(m, ck_input(4)));
    ck_assert_ok(ck_model_add(m, ck_dense(3, .activation = "softmax")));
    ck_assert_ok(ck_model_build(m));
    static char path[512];
    snprintf(path, sizeof path, "%s", at("dense.h5"));
    ck_assert_ok(ck_model_save(m, path));
    ck_model_free(m);
    return path;
}

/* Input(3, 4) > LSTM(5) > Dense(3, softmax): three frames of four values. */
static const char *sequence_model(void)
{
    ck_model *m = ck_sequential(.seed = 7);
    ck_assert_ok(ck_model_add(m, ck_input(3, 4)));
    ck_assert_ok(ck_model_add(m, ck_lstm(5)));
    ck_assert_ok(ck_model_add(m, ck_dense(3, .activation = "softmax")));
    ck_assert_ok(ck_model_build(m));
    static char path[512];
    snprintf(path, sizeof path, "%s", at("seq.h5"));
    ck_assert_ok(ck_model_save(m, path));
    ck_model_free(m);
    return path;
}

/* ------------------------------------------------------------ arrays */

START_TEST(test_npz_inputs)
{
    const char *model = dense_model();
    /* x of arrays.npz as a plain .npy: arange(12).reshape(3, 4) / 8. */
    float x[12];
    for (int i = 0; i < 12; i++)
        x[i] = (float)i / 8.0f;
    write_npy(at("x.npy"), 2, (int64_t[]){3, 4}, x);
    run_result plain, stored, deflated;
    run_cli(&plain, "predict", model, at("x.npy"), NULL);
    run_cli(&stored, "predict", model, DATA "arrays.npz:x", NULL);
    run_cli(&deflated, "predict", model, DATA "arrays_compressed.npz:x", NULL);
    assert_success(&plain);
    assert_success(&stored);
    assert_success(&deflated);
    ck_assert_int_eq(strlen(plain.out) > 20, 1);
    ck_assert_str_eq(stored.out, plain.out);
    ck_assert_str_eq(deflated.out, plain.out);
    run_free(&plain);
    run_free(&stored);
    run_free(&deflated);

    run_result r;
    run_cli(&r, "predict", model, DATA "arrays.npz:nothing", NULL);
    assert_error(&r, 1, "has no array nothing (arrays: x, ids, labels)");
    run_free(&r);
    run_cli(&r, "predict", model, DATA "arrays.npz", NULL);
    assert_error(&r, 1, "holds 3 arrays: name one as");
    run_free(&r);
    run_cli(&r, "predict", model, DATA "arrays.npz:labels", NULL);
    assert_error(&r, 1, "holds strings");
    run_free(&r);
}
END_TEST

/* Both runs succeeded and printed the same; frees them. */
static void assert_same_output(run_result *plain, run_result *table)
{
    assert_success(plain);
    assert_success(table);
    ck_assert_str_eq(table->out, plain->out);
    run_free(plain);
    run_free(table);
}

/* A text table holds one sample per row: for the sequence model a row of
 * 12 numbers is its three frames of four, as x.reshape(-1, 3, 4). predict,
 * evaluate and fit give what the same data as .npy gives; targets read
 * from a table are numbers, with or without --classes. */
START_TEST(test_csv_inputs)
{
    const char *model = sequence_model();
    float x[2 * 12];
    char csv[1024] = "# two sequences of three frames\nf0,f1,f2,f3,f4,f5,f6,f7,f8,f9,f10,f11\n";
    for (int i = 0; i < 24; i++) {
        x[i] = (float)(i % 7) / 4.0f - 0.5f;
        snprintf(csv + strlen(csv), sizeof csv - strlen(csv), "%g%s", (double)x[i],
                 i % 12 == 11 ? "\n" : ",");
    }
    write_npy(at("x.npy"), 3, (int64_t[]){2, 3, 4}, x);
    write_text(at("x.csv"), csv);
    write_npy(at("y.npy"), 2, (int64_t[]){2, 3}, (float[]){0, 1, 0, 1, 0, 0});
    write_text(at("y.csv"), "0,1,0\n1,0,0\n");
    run_result plain, table;
    run_cli(&plain, "predict", model, at("x.npy"), NULL);
    run_cli(&table, "predict", model, at("x.csv"), NULL);
    assert_same_output(&plain, &table);
    run_cli(&plain, "evaluate", model, "--x", at("x.npy"), "--y", at("y.npy"), "--loss",
            "categorical_crossentropy", NULL);
    run_cli(&table, "evaluate", model, "--x", at("x.csv"), "--y", at("y.csv"), "--loss",
            "categorical_crossentropy", "--classes", "a,b,c", NULL);
    assert_same_output(&plain, &table);
    /* One column with --classes stays labels, though they read as numbers:
     * class "1" is id 0 here. */
    write_text(at("ids.csv"), "2\n1\n");
    run_cli(&plain, "evaluate", model, "--x", at("x.npy"), "--y", at("y.npy"), "--loss",
            "categorical_crossentropy", NULL);
    run_cli(&table, "evaluate", model, "--x", at("x.csv"), "--y", at("ids.csv"), "--loss",
            "categorical_crossentropy", "--classes", "1,2,3", NULL);
    assert_same_output(&plain, &table);
    /* -o OUT.csv: a sample per line, every float32 back exactly. */
    run_cli(&plain, "predict", model, at("x.csv"), "-o", at("p.npy"), NULL);
    run_cli(&table, "predict", model, at("x.csv"), "-o", at("p.csv"), NULL);
    assert_success(&plain);
    assert_success(&table);
    run_free(&plain);
    run_free(&table);
    ck_tensor p, q;
    ck_assert_ok(ck_npy_read(at("p.npy"), &p));
    ck_assert_ok(ck_csv_read(at("p.csv"), &q));
    ck_assert_int_eq(q.dims[0], 2);
    ck_assert_int_eq(q.dims[1], 3);
    ck_assert_int_eq(memcmp(p.data, q.data, 6 * sizeof(float)), 0);
    ck_free(p.data);
    ck_free(q.data);
    /* A model that takes any number of frames gets as many as a row holds. */
    ck_model *open = ck_sequential(.seed = 7);
    ck_assert_ok(ck_model_add(open, ck_input(CK_NONE, 4)));
    ck_assert_ok(ck_model_add(open, ck_lstm(5)));
    ck_assert_ok(ck_model_build(open));
    ck_assert_ok(ck_model_save(open, at("open.h5")));
    ck_model_free(open);
    run_cli(&plain, "predict", at("open.h5"), at("x.npy"), NULL);
    run_cli(&table, "predict", at("open.h5"), at("x.csv"), NULL);
    assert_same_output(&plain, &table);
    /* A row that is not a whole sample keeps the table's shape. */
    write_text(at("short.csv"), "1,2,3,4\n");
    run_cli(&table, "predict", model, at("short.csv"), NULL);
    assert_error(&table, 1, "has shape (1, 4) but model");
    run_free(&table);
    write_text(at("ragged.csv"), "1,2,3,4,5,6,7,8,9,10,11,12\n1,2\n");
    run_cli(&table, "predict", model, at("ragged.csv"), NULL);
    assert_error(&table, 1, "line 2 has 2 numbers, the first row 12");
    run_free(&table);
}
END_TEST

/* ------------------------------------------------------------ string labels */

/* evaluate on arrays.npz:x (3 samples) with `y` and `loss`. */
static char *evaluate_with(const char *model, const char *y, const char *classes, const char *loss)
{
    run_result r;
    if (classes)
        run_cli(&r, "evaluate", model, "--x", DATA "arrays.npz:x", "--y", y, "--classes", classes,
                "--loss", loss, "--metrics", "accuracy", NULL);
    else
        run_cli(&r, "evaluate", model, "--x", DATA "arrays.npz:x", "--y", y, "--loss", loss,
                "--metrics", "accuracy", NULL);
    assert_success(&r);
    free(r.err);
    return r.out;
}

START_TEST(test_string_labels)
{
    const char *model = dense_model();
    /* The labels are thanks, hello, iloveyou: ids 1, 0, 2 of these classes. */
    const char *classes = "hello,thanks,iloveyou";
    write_npy(at("onehot.npy"), 2, (int64_t[]){3, 3}, (float[]){0, 1, 0, 1, 0, 0, 0, 0, 1});
    write_npy(at("ids.npy"), 1, (int64_t[]){3}, (float[]){1, 0, 2});
    write_text(at("labels.txt"), "thanks\nhello\r\niloveyou\n");
    const char *forms[] = {DATA "labels_str.npy", DATA "labels_bytes.npy", DATA "arrays.npz:labels",
                           DATA "arrays_compressed.npz:labels", at("labels.txt")};
    char *want = evaluate_with(model, at("onehot.npy"), NULL, "categorical_crossentropy");
    char *want_sparse = evaluate_with(model, at("ids.npy"), NULL,
                                      "sparse_categorical_crossentropy");
    ck_assert_ptr_nonnull(strstr(want, "loss: "));
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        char *got = evaluate_with(model, forms[i], classes, "categorical_crossentropy");
        ck_assert_msg(strcmp(got, want) == 0, "%s: %s vs %s", forms[i], got, want);
        free(got);
        got = evaluate_with(model, forms[i], classes, "sparse_categorical_crossentropy");
        ck_assert_msg(strcmp(got, want_sparse) == 0, "%s (sparse): %s vs %s", forms[i], got,
                      want_sparse);
        free(got);
    }
    /* Numbers stay numbers with --classes. */
    char *got = evaluate_with(model, at("ids.npy"), classes, "sparse_categorical_crossentropy");
    ck_assert_str_eq(got, want_sparse);
    free(got);
    free(want);
    free(want_sparse);
}
END_TEST

/* fit's validation targets take string labels as --y does: the run logs
 * what the same run with one-hot arrays logs. */
START_TEST(test_validation_string_labels)
{
    const char *model = dense_model(), *x = DATA "arrays.npz:x";
    write_npy(at("onehot.npy"), 2, (int64_t[]){3, 3}, (float[]){0, 1, 0, 1, 0, 0, 0, 0, 1});
    write_text(at("labels.txt"), "thanks\nhello\niloveyou\n");
    const char *targets[] = {at("onehot.npy"), at("labels.txt")}, *logs[] = {"a.csv", "b.csv"};
    char *text[2];
    for (int i = 0; i < 2; i++) {
        char target[512], log[512];
        snprintf(target, sizeof target, "%s", targets[i]);
        snprintf(log, sizeof log, "%s", at("%s", logs[i]));
        run_result r;
        run_cli(&r, "fit", model, "--x", x, "--y", target, "--validation-x", x, "--validation-y",
                target, "--classes", "hello,thanks,iloveyou", "--loss", "categorical_crossentropy",
                "--epochs", "2", "--seed", "1", "--csv-log", log, "--verbose", "0", "-o",
                at("out.h5"), NULL);
        assert_success(&r);
        run_free(&r);
        size_t len;
        ck_assert_ok(ck_read_file(log, &text[i], &len));
    }
    ck_assert_ptr_nonnull(strstr(text[0], "val_loss"));
    ck_assert_str_eq(text[0], text[1]);
    free(text[0]);
    free(text[1]);
    write_text(at("two.txt"), "thanks\nhello\n");
    run_result r;
    run_cli(&r, "fit", model, "--x", x, "--y", at("labels.txt"), "--validation-x", x,
            "--validation-y", at("two.txt"), "--classes", "hello,thanks,iloveyou", "--loss",
            "categorical_crossentropy", "-o", at("out.h5"), NULL);
    assert_error(&r, 1, "--validation-y has 2 labels but --validation-x has 3 samples");
    run_free(&r);
}
END_TEST

START_TEST(test_bad_labels)
{
    const char *model = dense_model();
    const char *x = DATA "arrays.npz:x";
    run_result r;
    write_text(at("unknown.txt"), "thanks\ngoodbye\nhello\n");
    run_cli(&r, "evaluate", model, "--x", x, "--y", at("unknown.txt"), "--classes",
            "hello,thanks,iloveyou", "--loss", "mse", NULL);
    assert_error(&r, 1, "label 1 ('goodbye') is not one of the 3 classes");
    run_free(&r);
    write_text(at("short.txt"), "thanks\nhello\n");
    run_cli(&r, "evaluate", model, "--x", x, "--y", at("short.txt"), "--classes",
            "hello,thanks,iloveyou", "--loss", "mse", NULL);
    assert_error(&r, 1, "--y has 2 labels but --x has 3 samples");
    run_free(&r);
    write_text(at("gap.txt"), "thanks\n\nhello\n");
    run_cli(&r, "evaluate", model, "--x", x, "--y", at("gap.txt"), "--classes",
            "hello,thanks,iloveyou", "--loss", "mse", NULL);
    assert_error(&r, 1, "line 2 is empty");
    run_free(&r);
    run_cli(&r, "evaluate", model, "--x", x, "--y", DATA "labels_str.npy", "--loss", "mse", NULL);
    assert_error(&r, 2, "holds string labels: name the classes in output order with --classes");
    run_free(&r);
    run_cli(&r, "evaluate", model, "--x", x, "--y", DATA "labels_str.npy", "--classes",
            "hello,thanks", "--loss", "mse", NULL);
    assert_error(&r, 2, "--classes names 2 classes but model sequential outputs 3");
    run_free(&r);
    run_cli(&r, "evaluate", model, "--x", x, "--y", DATA "labels_str.npy", "--classes",
            "hello,,thanks", "--loss", "mse", NULL);
    assert_error(&r, 2, "--classes: name 2 is empty");
    run_free(&r);
    run_cli(&r, "predict", model, x, "--classes", "a,b,a", NULL);
    assert_error(&r, 2, "--classes: 'a' is given twice");
    run_free(&r);
}
END_TEST

/* ------------------------------------------------------------ --data folders */


static const char *const actions[] = {"hello", "thanks", "iloveyou"};

static double frame_value(int c, int s, int t, int k)
{
    return 0.3 * c - 0.05 * s + 0.1 * t * (k % 2 ? 1 : -1) + 0.01 * k;
}

/* MP_Data/<action>/<0..3>/<0..3>.npy: four frames of four float64 values
 * (the model takes three). Also x.npy and y.npy with the same first three
 * frames and one-hot classes, in the same order. */
static const char *write_mp_data(void)
{
    static char root[512];
    snprintf(root, sizeof root, "%s", at("MP_Data"));
    ck_assert_int_eq(mkdir(root, 0700), 0);
    float x[12 * 3 * 4], y[12 * 3] = {0};
    for (int c = 0; c < 3; c++) {
        ck_assert_int_eq(mkdir(at("MP_Data/%s", actions[c]), 0700), 0);
        for (int s = 0; s < 4; s++) {
            ck_assert_int_eq(mkdir(at("MP_Data/%s/%d", actions[c], s), 0700), 0);
            y[(c * 4 + s) * 3 + c] = 1.0f;
            for (int t = 0; t < 4; t++) {
                double v[4];
                for (int k = 0; k < 4; k++) {
                    v[k] = frame_value(c, s, t, k);
                    if (t < 3)
                        x[((c * 4 + s) * 3 + t) * 4 + k] = (float)v[k];
                }
                ck_test_write_npy_f64(at("MP_Data/%s/%d/%d.npy", actions[c], s, t), v, 4);
            }
        }
    }
    write_npy(at("x.npy"), 3, (int64_t[]){12, 3, 4}, x);
    write_npy(at("y.npy"), 2, (int64_t[]){12, 3}, y);
    return root;
}

START_TEST(test_data_folder)
{
    const char *model = sequence_model(), *root = write_mp_data();
    run_result a, b;
    run_cli(&a, "evaluate", model, "--data", root, "--classes", "hello,thanks,iloveyou", "--loss",
            "categorical_crossentropy", "--metrics", "accuracy", NULL);
    run_cli(&b, "evaluate", model, "--x", at("x.npy"), "--y", at("y.npy"), "--loss",
            "categorical_crossentropy", "--metrics", "accuracy", NULL);
    assert_success(&a);
    assert_success(&b);
    ck_assert_str_eq(a.out, b.out);
    run_free(&a);
    run_free(&b);

    /* Without --classes the directories are taken in sorted order. */
    run_cli(&a, "evaluate", model, "--data", root, "--loss", "categorical_crossentropy",
            "--confusion-matrix", NULL);
    assert_success(&a);
    ck_assert_ptr_nonnull(strstr(a.out, "       hello     iloveyou       thanks"));
    run_free(&a);

    /* A missing frame and a ragged sequence are named. */
    ck_assert_int_eq(unlink(at("MP_Data/thanks/2/1.npy")), 0);
    run_cli(&a, "fit", model, "--data", root, "--loss", "categorical_crossentropy", "-o",
            at("out.h5"), NULL);
    assert_error(&a, 1, "MP_Data/thanks/2 has no frame 1.npy");
    run_free(&a);
    ck_assert_int_eq(rename(at("MP_Data/thanks/2/3.npy"), at("MP_Data/thanks/2/1.npy")), 0);
    run_cli(&a, "evaluate", model, "--data", root, "--loss", "categorical_crossentropy", NULL);
    assert_success(&a);
    run_free(&a);
    ck_assert_int_eq(unlink(at("MP_Data/hello/1/3.npy")), 0);
    ck_assert_int_eq(unlink(at("MP_Data/hello/1/2.npy")), 0);
    run_cli(&a, "evaluate", model, "--data", root, "--loss", "categorical_crossentropy", NULL);
    assert_error(&a, 1, "MP_Data/hello/1 has 2 frames, need 3");
    run_free(&a);
    run_cli(&a, "evaluate", model, "--data", root, "--x", at("x.npy"), NULL);
    assert_error(&a, 2, "--data replaces --x and --y");
    run_free(&a);
}
END_TEST

/* Class-sorted data: --validation-split holds out only the last class,
 * which the tool warns about; --shuffle-before-split mixes the classes
 * (seed 1 puts all three in the last quarter). */
START_TEST(test_split_warning_and_shuffle)
{
    const char *model = sequence_model(), *root = write_mp_data();
    run_result r;
    run_cli(&r, "fit", model, "--data", root, "--classes", "hello,thanks,iloveyou", "--loss",
            "categorical_crossentropy", "--validation-split", "0.25", "--verbose", "0", "-o",
            at("sorted.h5"), NULL);
    ck_assert_msg(r.status == 0, "%s", r.err);
    ck_assert_str_eq(r.err, "ckeras: warning: --validation-split 0.25 holds out the last 3 "
                            "samples, none of class hello, thanks (2 of 3 classes); if the data "
                            "is sorted by class, add --shuffle-before-split\n");
    run_free(&r);
    run_cli(&r, "fit", model, "--data", root, "--loss", "categorical_crossentropy",
            "--validation-split", "0.25", "--shuffle-before-split", "--seed", "1", "--verbose", "0",
            "-o", at("shuffled.h5"), NULL);
    assert_success(&r);
    run_free(&r);
    /* The shuffle is seeded: the same seed trains the same model. */
    run_cli(&r, "fit", model, "--data", root, "--loss", "categorical_crossentropy",
            "--validation-split", "0.25", "--shuffle-before-split", "--seed", "1", "--verbose", "0",
            "-o", at("again.h5"), NULL);
    assert_success(&r);
    run_free(&r);
    run_result a, b;
    run_cli(&a, "predict", at("shuffled.h5"), at("x.npy"), NULL);
    run_cli(&b, "predict", at("again.h5"), at("x.npy"), NULL);
    assert_success(&a);
    ck_assert_str_eq(a.out, b.out);
    run_free(&a);
    run_free(&b);
}
END_TEST

/* Targets of another width than the output are no classes to count for
 * the split's warning: the fit refuses them, having read nothing past y. */
START_TEST(test_split_targets_of_other_width)
{
    const char *model = dense_model();
    float x[8 * 4] = {0}, y[8 * 5] = {0};
    write_npy(at("x.npy"), 2, (int64_t[]){8, 4}, x);
    write_npy(at("y.npy"), 2, (int64_t[]){8, 5}, y);
    run_result r;
    run_cli(&r, "fit", model, "--x", at("x.npy"), "--y", at("y.npy"), "--loss", "mse",
            "--validation-split", "0.5", "--verbose", "0", "-o", at("out.h5"), NULL);
    assert_error(&r, 1, "y has 5 values per sample");
    ck_assert_msg(!strstr(r.err, "warning"), "%s", r.err);
    run_free(&r);
}
END_TEST

/* ------------------------------------------------------------ stdin and stdout */

/* Writes the arrays as one .npy stream to path. */
static void write_stream(const char *path, const ck_tensor *arrays, int n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < n; i++)
        ck_assert_ok(ck_npy_write_stream(f, &arrays[i]));
    fclose(f);
}

START_TEST(test_stdin_and_stdout)
{
    const char *model = dense_model();
    float x[12];
    for (int i = 0; i < 12; i++)
        x[i] = (float)i / 8.0f;
    write_npy(at("x.npy"), 2, (int64_t[]){3, 4}, x);
    /* A batch of two samples, then one sample without a batch axis. */
    const ck_tensor parts[] = {{2, {2, 4}, x}, {1, {4}, x + 8}};
    write_stream(at("in.npy"), parts, 2);
    run_result want, got;
    run_cli(&want, "predict", model, at("x.npy"), NULL);
    run_cli_input(&got, at("in.npy"), "predict", model, "-", NULL);
    assert_success(&want);
    assert_success(&got);
    ck_assert_str_eq(got.out, want.out);
    run_free(&got);
    run_free(&want);

    /* An array of no samples stops the stream with a message. */
    const ck_tensor empty[] = {{2, {0, 4}, x}};
    write_stream(at("empty.npy"), empty, 1);
    run_cli_input(&got, at("empty.npy"), "predict", model, "-", NULL);
    ck_assert_msg(got.status == 1 && strstr(got.err, "INPUT has an array of no samples"), "%d %s",
                  got.status, got.err);
    run_free(&got);

    /* -o -: one .npy per input array on standard output. */
    run_cli_input(&got, at("in.npy"), "predict", model, "-", "-o", "-", NULL);
    assert_success(&got);
    FILE *f = fmemopen(got.out, got.out_len, "rb");
    ck_tensor t;
    bool end;
    ck_assert_ok(ck_npy_read_stream(f, &t, &end));
    ck_assert_int_eq(t.dims[0], 2);
    ck_assert_int_eq(t.dims[1], 3);
    ck_free(t.data);
    ck_assert_ok(ck_npy_read_stream(f, &t, &end));
    ck_assert_int_eq(t.dims[0], 1);
    ck_free(t.data);
    ck_assert_ok(ck_npy_read_stream(f, &t, &end));
    ck_assert(end);
    fclose(f);
    run_free(&got);

    /* evaluate --x -: the arrays of standard input are the samples. */
    write_npy(at("y.npy"), 1, (int64_t[]){3}, (float[]){1, 0, 2});
    const ck_tensor batches[] = {{2, {1, 4}, x}, {2, {2, 4}, x + 4}};
    write_stream(at("batches.npy"), batches, 2);
    run_cli(&want, "evaluate", model, "--x", at("x.npy"), "--y", at("y.npy"), "--loss",
            "sparse_categorical_crossentropy", NULL);
    run_cli_input(&got, at("batches.npy"), "evaluate", model, "--x", "-", "--y", at("y.npy"),
                  "--loss", "sparse_categorical_crossentropy", NULL);
    assert_success(&got);
    ck_assert_str_eq(got.out, want.out);
    run_free(&got);
    run_free(&want);

    /* Hostile standard input: garbage, a cut array, a wrong shape. */
    write_text(at("garbage"), "frames? no.");
    run_cli_input(&got, at("garbage"), "predict", model, "-", NULL);
    assert_error(&got, 1, "not a .npy stream");
    run_free(&got);
    FILE *cut = fopen(at("cut.npy"), "wb");
    ck_assert_ok(ck_npy_write_stream(cut, &parts[0]));
    fclose(cut);
    ck_assert_int_eq(truncate(at("cut.npy"), 128 + 20), 0);
    run_cli_input(&got, at("cut.npy"), "predict", model, "-", NULL);
    assert_error(&got, 1, "truncated .npy stream");
    run_free(&got);
    const ck_tensor wrong = {2, {1, 5}, x};
    write_stream(at("wrong.npy"), &wrong, 1);
    run_cli_input(&got, at("wrong.npy"), "predict", model, "-", NULL);
    assert_error(&got, 1, "has shape (1, 5) but model sequential expects (None, 4)");
    run_free(&got);
    run_cli_input(&got, at("in.npy"), "predict", model, "-", "-o", at("p.npy"), NULL);
    assert_error(&got, 2, "predictions of standard input go to standard output");
    run_free(&got);
    run_cli(&got, "evaluate", model, "--x", "-", "--y", "-", "--loss", "mse", NULL);
    assert_error(&got, 2, "cannot both be standard input");
    run_free(&got);
}
END_TEST

/* Frames piped one at a time, as a camera pipeline sends them: after
 * three frames every new frame gives the prediction of the last three. */
START_TEST(test_stdin_frames_window)
{
    const char *model = sequence_model();
    float frames[5 * 4], windows[3 * 3 * 4];
    for (int i = 0; i < 20; i++)
        frames[i] = (float)((i * 37) % 11) / 10.0f - 0.5f;
    for (int w = 0; w < 3; w++)
        memcpy(windows + w * 12, frames + w * 4, sizeof(float) * 12);
    write_npy(at("windows.npy"), 3, (int64_t[]){3, 3, 4}, windows);
    ck_tensor each[5];
    for (int i = 0; i < 5; i++)
        each[i] = (ck_tensor){1, {4}, frames + 4 * i};
    write_stream(at("frames.npy"), each, 5);
    run_result want, got;
    run_cli(&want, "predict", model, at("windows.npy"), "--argmax", "--classes",
            "hello,thanks,iloveyou", NULL);
    run_cli_input(&got, at("frames.npy"), "predict", model, "-", "--argmax", "--classes",
                  "hello,thanks,iloveyou", NULL);
    assert_success(&want);
    assert_success(&got);
    ck_assert_str_eq(got.out, want.out);
    run_free(&want);
    run_free(&got);
    /* The values agree up to BLAS rounding (one window per call here). */
    run_cli(&want, "predict", model, at("windows.npy"), NULL);
    run_cli_input(&got, at("frames.npy"), "predict", model, "-", NULL);
    const char *w = want.out, *g = got.out;
    for (int i = 0; i < 9; i++) {
        char *we, *ge;
        double a = strtod(w, &we), b = strtod(g, &ge);
        ck_assert_msg(we != w && ge != g, "value %d missing: %s", i, got.out);
        ck_assert_double_eq_tol(a, b, 1e-6);
        w = we;
        g = ge;
    }
    ck_assert_str_eq(g, "\n");
    run_free(&want);
    run_free(&got);
}
END_TEST

/* Frames of a model with an open axis, (5, None, 4): a window takes the
 * first frame's shape, and a frame of another shape is refused, not
 * copied into a window sized for the first. */
START_TEST(test_stdin_frames_open_axis)
{
    write_text(at("open.json"),
               "{\"class_name\": \"Sequential\", \"config\": {\"name\": \"s\", \"layers\": ["
               "{\"class_name\": \"InputLayer\", \"config\": {\"name\": \"in\", "
               "\"batch_input_shape\": [null, 5, null, 4]}},"
               "{\"class_name\": \"Activation\", \"config\": {\"name\": \"a\", "
               "\"activation\": \"relu\"}}]}}");
    run_result r;
    run_cli(&r, "convert", "--config", at("open.json"), "-o", at("open.h5"), NULL);
    assert_success(&r);
    run_free(&r);
    float v[6][8], big[100 * 4] = {0};
    ck_tensor each[7];
    for (int i = 0; i < 6; i++) {
        for (int k = 0; k < 8; k++)
            v[i][k] = (float)(i - 2);
        each[i] = (ck_tensor){2, {2, 4}, v[i]};
    }
    write_stream(at("frames.npy"), each, 6);
    run_cli_input(&r, at("frames.npy"), "predict", at("open.h5"), "-", NULL);
    assert_success(&r);
    /* relu of windows -2..2 and -1..3, eight values per frame. */
    char want[512] = "";
    for (int w = 0; w < 2; w++)
        for (int i = 0; i < 5; i++)
            for (int k = 0; k < 8; k++) {
                int x = w + i - 2;
                strcat(want, x > 0 ? (x == 1 ? "1" : x == 2 ? "2" : "3") : "0");
                strcat(want, i == 4 && k == 7 ? "\n" : " ");
            }
    ck_assert_str_eq(r.out, want);
    run_free(&r);
    each[1] = (ck_tensor){2, {100, 4}, big};
    write_stream(at("frames.npy"), each, 6);
    run_cli_input(&r, at("frames.npy"), "predict", at("open.h5"), "-", NULL);
    assert_error(&r, 1, "a frame of shape (100, 4) after frames of shape (2, 4)");
    run_free(&r);
}
END_TEST

/* ------------------------------------------------------------ argmax */

START_TEST(test_predict_argmax)
{
    const char *model = dense_model();
    float x[12];
    for (int i = 0; i < 12; i++)
        x[i] = (float)((i * 5) % 7) - 3.0f;
    write_npy(at("x.npy"), 2, (int64_t[]){3, 4}, x);
    run_result probs, names, ids;
    run_cli(&probs, "predict", model, at("x.npy"), NULL);
    run_cli(&names, "predict", model, at("x.npy"), "--argmax", "--classes", "a b,c,d", NULL);
    run_cli(&ids, "predict", model, at("x.npy"), "--argmax", "-o", at("ids.npy"), NULL);
    assert_success(&probs);
    assert_success(&names);
    assert_success(&ids);
    ck_tensor t;
    ck_assert_ok(ck_npy_read(at("ids.npy"), &t));
    ck_assert_int_eq(t.rank, 1);
    ck_assert_int_eq(t.dims[0], 3);
    /* Each printed name is the one of the largest output of its line. */
    const char *row = probs.out, *name = names.out;
    const char *all[] = {"a b", "c", "d"};
    for (int i = 0; i < 3; i++) {
        double p[3];
        ck_assert_int_eq(sscanf(row, "%lf %lf %lf", &p[0], &p[1], &p[2]), 3);
        int best = p[1] > p[0] ? 1 : 0;
        best = p[2] > p[best] ? 2 : best;
        ck_assert_int_eq((int)t.data[i], best);
        ck_assert_int_eq(strncmp(name, all[best], strlen(all[best])), 0);
        ck_assert_int_eq(name[strlen(all[best])], '\n');
        row = strchr(row, '\n') + 1;
        name = strchr(name, '\n') + 1;
    }
    ck_free(t.data);
    run_free(&probs);
    run_free(&names);
    run_free(&ids);
    run_result r;
    run_cli(&r, "predict", model, at("x.npy"), "--argmax", "--classes", "a,b", NULL);
    assert_error(&r, 2, "--classes names 2 classes but model sequential outputs 3");
    run_free(&r);
}
END_TEST

/* ------------------------------------------------------------ confusion matrix, pictures */

/* Input(2) > Dense(3) with scores x W + b, W = [[1, 0, -1], [0, 1, -1]],
 * b = [0, 0, 0.5]: the six inputs are predicted 0, 1, 2, 2, 0, 1; their
 * labels are hello, thanks, iloveyou, hello, hello, iloveyou (0, 1, 2, 0,
 * 0, 2). Counted by hand: hello [2, 0, 1], thanks [0, 1, 0], iloveyou
 * [0, 1, 1]; 4 of 6 right. */
static const char *scores_model(void)
{
    ck_model *m = ck_sequential(.seed = 5);
    ck_assert_ok(ck_model_add(m, ck_input(2)));
    ck_assert_ok(ck_model_add(m, ck_dense(3)));
    ck_assert_ok(ck_model_build(m));
    const char *name;
    ck_tensor w;
    ck_assert_ok(ck_layer_weight(ck_model_layer(m, 0), 0, &name, &w));
    memcpy(w.data, (float[]){1, 0, -1, 0, 1, -1}, sizeof(float) * 6);
    ck_assert_ok(ck_layer_weight(ck_model_layer(m, 0), 1, &name, &w));
    memcpy(w.data, (float[]){0, 0, 0.5f}, sizeof(float) * 3);
    static char path[512];
    snprintf(path, sizeof path, "%s", at("scores.h5"));
    ck_assert_ok(ck_model_save(m, path));
    ck_model_free(m);
    return path;
}

START_TEST(test_confusion_matrix_and_plots)
{
    const char *model = scores_model();
    write_npy(at("x.npy"), 2, (int64_t[]){6, 2}, (float[]){2, 0, 0, 2, 0, 0, -1, -1, 3, 1, 1, 3});
    write_text(at("labels.txt"), "hello\nthanks\niloveyou\nhello\nhello\niloveyou\n");
    run_result r;
    run_cli(&r, "evaluate", model, "--x", at("x.npy"), "--y", at("labels.txt"), "--classes",
            "hello,thanks,iloveyou", "--loss", "categorical_crossentropy", "--from-logits",
            "--metrics", "accuracy", "--confusion-matrix", "--plot", at("cm.svg"), NULL);
    assert_success(&r);
    ck_assert_ptr_nonnull(strstr(r.out, "accuracy: 0.666666667\n"));
    ck_assert_ptr_nonnull(strstr(r.out,
                                 "confusion matrix (rows: true class, columns: predicted class):\n"
                                 "                    hello       thanks     iloveyou\n"
                                 "       hello            2            0            1\n"
                                 "      thanks            0            1            0\n"
                                 "    iloveyou            0            1            1\n"));
    run_free(&r);
    xmlDocPtr doc = ck_svg_parse(at("cm.svg"));
    xmlXPathObjectPtr cells = ck_svg_find(doc, "//s:rect[@class='cell']");
    const int counts[9] = {2, 0, 1, 0, 1, 0, 0, 1, 1};
    ck_assert_int_eq(cells->nodesetval->nodeNr, 9);
    for (int i = 0; i < 9; i++)
        ck_assert_int_eq((int)ck_svg_number(cells->nodesetval->nodeTab[i], "data-count"),
                         counts[i]);
    xmlXPathFreeObject(cells);
    xmlFreeDoc(doc);

    /* fit --plot: the curves of the history. */
    run_cli(&r, "fit", model, "--x", at("x.npy"), "--y", at("labels.txt"), "--classes",
            "hello,thanks,iloveyou", "--loss", "categorical_crossentropy", "--from-logits",
            "--metrics", "accuracy", "--epochs", "3", "--validation-split", "0.5", "--verbose", "0",
            "-o", at("fitted.h5"), "--plot", at("curves.svg"), NULL);
    ck_assert_msg(r.status == 0, "%s", r.err);
    run_free(&r);
    doc = ck_svg_parse(at("curves.svg"));
    xmlXPathObjectPtr points = ck_svg_find(doc, "//s:circle");
    ck_assert_int_eq(points->nodesetval->nodeNr, 4 * 3);
    xmlXPathFreeObject(points);
    xmlFreeDoc(doc);

    run_cli(&r, "evaluate", model, "--x", at("x.npy"), "--y", at("labels.txt"), "--classes",
            "hello,thanks,iloveyou", "--loss", "mse", "--plot", at("cm.svg"), NULL);
    assert_error(&r, 2, "add --confusion-matrix");
    run_free(&r);
    run_cli(&r, "fit", model, "--x", at("x.npy"), "--y", at("labels.txt"), "--classes",
            "hello,thanks,iloveyou", "--loss", "mse", "-o", at("o.h5"), "--plot", at("c.png"),
            NULL);
    assert_error(&r, 2, "the picture is written as SVG");
    run_free(&r);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("cli_data");
    TCase *tc = tcase_create("cli_data");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, ck_test_remove_dir);
    tcase_add_test(tc, test_npz_inputs);
    tcase_add_test(tc, test_csv_inputs);
    tcase_add_test(tc, test_string_labels);
    tcase_add_test(tc, test_validation_string_labels);
    tcase_add_test(tc, test_bad_labels);
    tcase_add_test(tc, test_data_folder);
    tcase_add_test(tc, test_split_warning_and_shuffle);
    tcase_add_test(tc, test_split_targets_of_other_width);
    tcase_add_test(tc, test_stdin_and_stdout);
    tcase_add_test(tc, test_stdin_frames_window);
    tcase_add_test(tc, test_stdin_frames_open_axis);
    tcase_add_test(tc, test_predict_argmax);
    tcase_add_test(tc, test_confusion_matrix_and_plots);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ck_test_run(suite());
}
