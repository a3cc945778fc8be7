/* The training options of `ckeras fit` and `evaluate` on their success
 * paths: validation data, frozen layers, ReduceLROnPlateau, checkpoints
 * (save_best_only, {val_loss:.4f} names), early stopping with restored
 * weights, class weights (a JSON file and balanced), weighted metrics and
 * --threads. Each result is read back from the files the tool wrote (the
 * model, the checkpoints, the CSV log) and checked against values worked
 * out here. */
#include "ck_test.h"

#include "ck_cli_test.h"

#include "ck_io.h"

#include <dirent.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#define at ck_test_pathf

enum { N = 24, F = 4, C = 3, NV = 12 };

/* Classes 0, 1, 2 with 12, 8 and 4 samples (imbalanced, as recordings are). */
static int label_of(int i)
{
    return i < 12 ? 0 : i < 20 ? 1 : 2;
}

static void write_npy(const char *path, int rank, const int64_t *dims, const float *data)
{
    ck_tensor t = {rank, {0}, (float *)data};
    memcpy(t.dims, dims, sizeof(int64_t) * (size_t)rank);
    ck_assert_ok(ck_npy_write(path, &t));
}

/* two.h5: Input(4) > Dense(6, relu, "hidden") > Dense(3, softmax, "head"),
 * without a training config; x.npy, y.npy (class ids) and the validation
 * set xv.npy, yv.npy: every second sample, half of them with the label
 * moved on by one, so val_loss falls at first and rises once the training
 * labels are learnt. */
static void setup(void)
{
    ck_test_make_dir("ck_cli_fit");
    ck_model *m = ck_sequential(.seed = 3);
    ck_assert_ok(ck_model_add(m, ck_input(F)));
    ck_assert_ok(ck_model_add(m, ck_dense(6, .activation = "relu", .name = "hidden")));
    ck_assert_ok(ck_model_add(m, ck_dense(C, .activation = "softmax", .name = "head")));
    ck_assert_ok(ck_model_build(m));
    ck_assert_ok(ck_model_save(m, at("two.h5")));
    ck_model_free(m);
    float x[N * F], y[N], yv[NV];
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < F; j++)
            x[i * F + j] = sinf((float)(i * F + j) * 0.7f) + (float)label_of(i) * 0.5f;
        y[i] = (float)label_of(i);
    }
    for (int i = 0; i < NV; i++)
        yv[i] = (float)((label_of(i * 2) + i % 2) % C);
    float xv[NV * F];
    for (int i = 0; i < NV; i++)
        memcpy(xv + i * F, x + i * 2 * F, F * sizeof *x);
    write_npy(at("x.npy"), 2, (int64_t[]){N, F}, x);
    write_npy(at("y.npy"), 1, (int64_t[]){N}, y);
    write_npy(at("xv.npy"), 2, (int64_t[]){NV, F}, xv);
    write_npy(at("yv.npy"), 1, (int64_t[]){NV}, yv);
}

/* Copies weight `index` of `layer` in the model file `path` into out. */
static size_t layer_weight(const char *path, const char *layer, int index, float *out, size_t cap)
{
    ck_model *m;
    ck_assert_ok(ck_model_load(path, &m));
    ck_layer *l = ck_model_get_layer(m, layer);
    ck_assert_ptr_nonnull(l);
    const char *name;
    ck_tensor v;
    ck_assert_ok(ck_layer_weight(l, index, &name, &v));
    size_t n = ck_tensor_size(&v);
    ck_assert_uint_le(n, cap);
    memcpy(out, v.data, n * sizeof *out);
    ck_model_free(m);
    return n;
}

/* Every weight of the two Dense layers is bit for bit the same in a and b. */
static bool same_layer(const char *a, const char *b, const char *layer)
{
    bool same = true;
    for (int i = 0; i < 2; i++) {
        float wa[512], wb[512];
        size_t na = layer_weight(a, layer, i, wa, 512), nb = layer_weight(b, layer, i, wb, 512);
        same = same && na == nb && memcmp(wa, wb, na * sizeof *wa) == 0;
    }
    return same;
}

/* The column `key` of a CSVLogger file (Keras's csv: "\r\n" rows). */
static int csv_column(const char *path, const char *key, double *out, int max)
{
    char *text;
    size_t len;
    ck_assert_ok(ck_read_file(path, &text, &len));
    int col = -1, n = 0, c = 0;
    const char *p = text;
    for (; *p && *p != '\r'; c++) {
        size_t w = strcspn(p, ",\r");
        if (w == strlen(key) && strncmp(p, key, w) == 0)
            col = c;
        p += w + (p[w] == ',');
    }
    ck_assert_msg(col >= 0, "no column %s in %s", key, text);
    while (*p && n < max) {
        p += strspn(p, "\r\n");
        for (c = 0; *p && c < col; c++)
            p += strcspn(p, ",") + 1;
        if (!*p)
            break;
        out[n++] = strtod(p, NULL);
        p += strcspn(p, "\n");
    }
    free(text);
    return n;
}

static double value_after(const char *out, const char *key)
{
    const char *p = strstr(out, key);
    ck_assert_msg(p != NULL, "'%s' missing from: %s", key, out);
    return strtod(p + strlen(key), NULL);
}

/* ------------------------------------------------------------ validation and freezing */

/* --validation-x/--validation-y are the validation data: the last epoch's
 * val_loss is the saved model's loss on them. */
START_TEST(test_validation_data)
{
    run_result r;
    run_cli(&r, "fit", at("two.h5"), "--x", at("x.npy"), "--y", at("y.npy"), "--loss",
            "sparse_categorical_crossentropy", "--optimizer", "adam", "--epochs", "3",
            "--validation-x", at("xv.npy"), "--validation-y", at("yv.npy"), "--csv-log",
            at("log.csv"), "--verbose", "2", "-o", at("out.h5"), NULL);
    assert_success(&r);
    ck_assert_ptr_nonnull(strstr(r.out, "val_loss: "));
    run_free(&r);
    double val[8];
    ck_assert_int_eq(csv_column(at("log.csv"), "val_loss", val, 8), 3);
    run_cli(&r, "evaluate", at("out.h5"), "--x", at("xv.npy"), "--y", at("yv.npy"), NULL);
    assert_success(&r);
    ck_assert_close(value_after(r.out, "loss: "), val[2], 1e-6);
    run_free(&r);
}
END_TEST

/* --freeze hidden: its kernel and bias are bit for bit those of the input
 * file after fit, while the head trained. */
START_TEST(test_freeze_keeps_weights)
{
    run_result r;
    run_cli(&r, "fit", at("two.h5"), "--x", at("x.npy"), "--y", at("y.npy"), "--loss",
            "sparse_categorical_crossentropy", "--optimizer", "adam", "--learning-rate", "0.05",
            "--epochs", "3", "--batch-size", "8", "--freeze", "hidden", "--verbose", "0", "-o",
            at("frozen.h5"), NULL);
    assert_success(&r);
    run_free(&r);
    ck_assert(same_layer(at("two.h5"), at("frozen.h5"), "hidden"));
    ck_assert(!same_layer(at("two.h5"), at("frozen.h5"), "head"));
    ck_model *m;
    ck_assert_ok(ck_model_load(at("frozen.h5"), &m));
    ck_assert(!ck_layer_is_trainable(ck_model_get_layer(m, "hidden")));
    ck_model_free(m);
}
END_TEST

/* ------------------------------------------------------------ learning rate */

/* ReduceLROnPlateau on an accuracy that a rate of 1e-6 cannot move: the
 * first epoch sets the best, every later one is a plateau with patience 1,
 * so the rate halves after epochs 2, 3 and 4. The CSV logs the rate each
 * epoch trained with, and the saved optimizer has the last one. */
START_TEST(test_reduce_lr_on_plateau)
{
    run_result r;
    run_cli(&r, "fit", at("two.h5"), "--x", at("x.npy"), "--y", at("y.npy"), "--loss",
            "sparse_categorical_crossentropy", "--metrics", "accuracy", "--optimizer", "sgd",
            "--learning-rate", "1e-6", "--epochs", "4", "--no-shuffle", "--reduce-lr-on-plateau",
            "accuracy:0.5:1", "--csv-log", at("log.csv"), "--verbose", "2", "-o", at("out.h5"),
            NULL);
    assert_success(&r);
    ck_assert_ptr_nonnull(strstr(
        r.out, "Epoch 2: ReduceLROnPlateau reducing learning rate to 4.999999987376214e-07."));
    ck_assert_ptr_nonnull(strstr(
        r.out, "Epoch 4: ReduceLROnPlateau reducing learning rate to 1.2499999968440534e-07."));
    run_free(&r);
    double lr[8];
    /* ckeras saved two.h5 as keras_version 2.15.0: tf.keras 2 logs "lr". */
    ck_assert_int_eq(csv_column(at("log.csv"), "lr", lr, 8), 4);
    const double want[] = {1e-6, 1e-6, 5e-7, 2.5e-7};
    for (int e = 0; e < 4; e++)
        ck_assert_close(lr[e], want[e], 1e-13);
    ck_model *m;
    double saved;
    ck_assert_ok(ck_model_load(at("out.h5"), &m));
    ck_assert_ok(ck_model_get_learning_rate(m, &saved));
    ck_assert_close(saved, 1.25e-7, 1e-13);
    ck_model_free(m);
}
END_TEST

/* Keras takes learning_rate=0, beta_1=0 and rho=0 as given. A zero must
 * not fall back to the default: the weights stay as they were, and the
 * saved optimizer holds the zeros. */
START_TEST(test_zero_hyperparameters_as_given)
{
    const char *const cases[][4] = {{"adam", "--beta-1", "zero_adam.h5", "beta_1"},
                                    {"rmsprop", "--rho", "zero_rms.h5", "rho"}};
    for (int c = 0; c < 2; c++) {
        run_result r;
        run_cli(&r, "fit", at("two.h5"), "--x", at("x.npy"), "--y", at("y.npy"), "--loss",
                "sparse_categorical_crossentropy", "--optimizer", cases[c][0], "--learning-rate",
                "0", cases[c][1], "0", "--epochs", "2", "--verbose", "0", "-o",
                at("%s", cases[c][2]), NULL);
        assert_success(&r);
        run_free(&r);
        ck_assert(same_layer(at("two.h5"), at("%s", cases[c][2]), "hidden"));
        ck_assert(same_layer(at("two.h5"), at("%s", cases[c][2]), "head"));
        ck_model *m;
        ck_compile_options o;
        ck_assert_ok(ck_model_load(at("%s", cases[c][2]), &m));
        ck_assert_ok(ck_model_get_compile_options(m, &o));
        ck_assert_double_eq(o.optimizer.learning_rate, 0);
        ck_assert_double_eq(c == 0 ? o.optimizer.beta_1 : o.optimizer.rho, 0);
        ck_assert_double_eq(c == 0 ? o.optimizer.beta_2 : 0, c == 0 ? 0.999 : 0);
        ck_model_free(m);
    }
}
END_TEST

/* ------------------------------------------------------------ checkpoints and early stopping */

static int count_files(const char *suffix)
{
    DIR *d = opendir(at("."));
    ck_assert_ptr_nonnull(d);
    int n = 0;
    size_t ls = strlen(suffix);
    for (struct dirent *e = readdir(d); e; e = readdir(d)) {
        size_t l = strlen(e->d_name);
        n += l > ls && strcmp(e->d_name + l - ls, suffix) == 0;
    }
    closedir(d);
    return n;
}

/* save_best_only on val_loss: a file for each epoch that beat the best so
 * far (Keras: strictly lower), none for the others, each named by the
 * epoch and by the logged val_loss as Python's format(val_loss, ".4f"). */
START_TEST(test_checkpoint_save_best_only)
{
    char pattern[512];
    snprintf(pattern, sizeof pattern, "%s", at("ckpt-{epoch:02d}-{val_loss:.4f}.ckpt.h5"));
    run_result r;
    run_cli(&r, "fit", at("two.h5"), "--x", at("x.npy"), "--y", at("y.npy"), "--loss",
            "sparse_categorical_crossentropy", "--optimizer", "adam", "--learning-rate", "0.05",
            "--epochs", "12", "--batch-size", "8", "--seed", "1", "--validation-x", at("xv.npy"),
            "--validation-y", at("yv.npy"), "--checkpoint", pattern, "--save-best-only",
            "--csv-log", at("log.csv"), "--verbose", "0", "-o", at("out.h5"), NULL);
    assert_success(&r);
    run_free(&r);
    double val[16];
    int epochs = csv_column(at("log.csv"), "val_loss", val, 16), saved = 0, skipped = 0;
    ck_assert_int_eq(epochs, 12);
    double best = INFINITY;
    for (int e = 0; e < epochs; e++) {
        char name[64];
        snprintf(name, sizeof name, "ckpt-%02d-%.4f.ckpt.h5", e + 1, val[e]);
        bool improved = val[e] < best;
        ck_assert_msg((access(at("%s", name), F_OK) == 0) == improved, "epoch %d val_loss %.6f: %s",
                      e + 1, val[e], improved ? "not saved" : "saved");
        best = improved ? val[e] : best;
        saved += improved;
        skipped += !improved;
    }
    ck_assert_int_eq(count_files(".ckpt.h5"), saved);
    ck_assert_msg(saved >= 2 && skipped >= 2,
                  "%d saved, %d skipped: the data should give both (%g %g %g %g ... %g)", saved,
                  skipped, val[0], val[1], val[2], val[3], val[11]);
}
END_TEST

/* --early-stopping val_loss:2:restore: training ends two epochs after the
 * best val_loss and the saved model has that epoch's weights, bit for bit
 * the checkpoint written at its end. */
START_TEST(test_early_stopping_restores_best)
{
    char pattern[512];
    snprintf(pattern, sizeof pattern, "%s", at("ep{epoch:02d}.h5"));
    run_result r;
    run_cli(&r, "fit", at("two.h5"), "--x", at("x.npy"), "--y", at("y.npy"), "--loss",
            "sparse_categorical_crossentropy", "--optimizer", "adam", "--learning-rate", "0.05",
            "--epochs", "40", "--batch-size", "8", "--seed", "1", "--validation-x", at("xv.npy"),
            "--validation-y", at("yv.npy"), "--checkpoint", pattern, "--early-stopping",
            "val_loss:2:restore", "--csv-log", at("log.csv"), "--verbose", "2", "-o", at("out.h5"),
            NULL);
    assert_success(&r);
    ck_assert_ptr_nonnull(strstr(r.out, "EarlyStopping"));
    run_free(&r);
    double val[48];
    int epochs = csv_column(at("log.csv"), "val_loss", val, 48), best = 0;
    for (int e = 1; e < epochs; e++)
        best = val[e] < val[best] ? e : best;
    ck_assert_msg(epochs < 40, "no early stop in 40 epochs");
    ck_assert_int_eq(epochs, best + 1 + 2);
    char name[32];
    snprintf(name, sizeof name, "ep%02d.h5", best + 1);
    for (int l = 0; l < 2; l++) {
        const char *layer = l ? "head" : "hidden";
        ck_assert(same_layer(at("%s", name), at("out.h5"), layer));
    }
    snprintf(name, sizeof name, "ep%02d.h5", epochs);
    ck_assert(!same_layer(at("%s", name), at("out.h5"), "head"));
}
END_TEST

/* ------------------------------------------------------------ class weights */

/* The loss Keras reports with class weights w: sum(w_i * ce_i) / N, on the
 * weights of two.h5 (the first batch of one full batch is before its step);
 * *acc and *wacc receive the plain and the weighted accuracy. */
static double weighted_loss(const float *w, double *acc, double *wacc)
{
    ck_model *m;
    ck_assert_ok(ck_model_load(at("two.h5"), &m));
    float x[N * F], p[N * C];
    ck_tensor tx;
    ck_assert_ok(ck_npy_read(at("x.npy"), &tx));
    memcpy(x, tx.data, sizeof x);
    ck_free(tx.data);
    ck_assert_ok(ck_model_predict(m, x, N, p));
    ck_model_free(m);
    double loss = 0, right = 0, wright = 0, wsum = 0;
    for (int i = 0; i < N; i++) {
        int c = label_of(i), best = 0;
        for (int k = 1; k < C; k++)
            best = p[i * C + k] > p[i * C + best] ? k : best;
        loss -= w[c] * log(p[i * C + c]);
        right += best == c;
        wright += w[c] * (best == c);
        wsum += w[c];
    }
    *acc = right / N;
    *wacc = wright / wsum;
    return loss / N;
}

/* {"0": 0.5, "2": 3}: class 1, not listed, weighs 1. balanced is
 * N / (classes * count): 24 / 36, 24 / 24, 24 / 12. */
START_TEST(test_class_weights)
{
    FILE *f = fopen(at("cw.json"), "w");
    ck_assert_ptr_nonnull(f);
    fputs("{\"0\": 0.5, \"2\": 3}\n", f);
    fclose(f);
    char json[512];
    snprintf(json, sizeof json, "%s", at("cw.json"));
    const struct {
        const char *spec;
        float w[C];
    } cases[] = {{json, {0.5f, 1, 3}}, {"balanced", {24.0f / 36, 1, 2}}};
    for (int k = 0; k < 2; k++) {
        double acc, wacc, want = weighted_loss(cases[k].w, &acc, &wacc);
        run_result r;
        run_cli(&r, "fit", at("two.h5"), "--x", at("x.npy"), "--y", at("y.npy"), "--loss",
                "sparse_categorical_crossentropy", "--metrics", "accuracy", "--weighted-metrics",
                "accuracy", "--optimizer", "sgd", "--epochs", "1", "--batch-size", "24",
                "--class-weight", cases[k].spec, "--csv-log", at("log.csv"), "--verbose", "0", "-o",
                at("out.h5"), NULL);
        assert_success(&r);
        run_free(&r);
        double v;
        ck_assert_int_eq(csv_column(at("log.csv"), "loss", &v, 1), 1);
        ck_assert_close(v, want, 1e-5);
        ck_assert_int_eq(csv_column(at("log.csv"), "weighted_accuracy", &v, 1), 1);
        ck_assert_close(v, wacc, 1e-9);
        ck_assert_int_eq(csv_column(at("log.csv"), "accuracy", &v, 1), 1);
        ck_assert_close(v, acc, 1e-9);
        run_cli(&r, "evaluate", at("two.h5"), "--x", at("x.npy"), "--y", at("y.npy"), "--loss",
                "sparse_categorical_crossentropy", "--metrics", "accuracy", "--weighted-metrics",
                "accuracy", "--class-weight", cases[k].spec, NULL);
        assert_success(&r);
        ck_assert_close(value_after(r.out, "loss: "), want, 1e-5);
        ck_assert_close(value_after(r.out, "\naccuracy: "), acc, 1e-9);
        ck_assert_close(value_after(r.out, "\nweighted_accuracy: "), wacc, 1e-7);
        run_free(&r);
    }
    /* The weighted metrics are saved with the model and used again. */
    run_result r;
    run_cli(&r, "evaluate", at("out.h5"), "--x", at("x.npy"), "--y", at("y.npy"), NULL);
    assert_success(&r);
    ck_assert_ptr_nonnull(strstr(r.out, "\nweighted_accuracy: "));
    run_free(&r);
}
END_TEST

/* ------------------------------------------------------------ threads */

/* Input(8, 128) > LSTM(128) > Dense(3): the input products of a batch of
 * 32 are big enough to be cut into pieces run by the pool. The same model
 * gives the same predictions, and trains to the same weights, on 1 and on
 * 2 threads. */
START_TEST(test_threads_same_results)
{
    enum { S = 64, T = 8, D = 128 };
    ck_model *m = ck_sequential(.seed = 11);
    ck_assert_ok(ck_model_add(m, ck_input(T, D)));
    ck_assert_ok(ck_model_add(m, ck_lstm(128, .name = "lstm")));
    ck_assert_ok(ck_model_add(m, ck_dense(C, .activation = "softmax", .name = "head")));
    ck_assert_ok(ck_model_build(m));
    ck_assert_ok(ck_model_save(m, at("seq.h5")));
    ck_model_free(m);
    static float x[S * T * D], y[S];
    for (int i = 0; i < S * T * D; i++)
        x[i] = sinf((float)i * 0.37f);
    for (int i = 0; i < S; i++)
        y[i] = (float)(i % C);
    write_npy(at("sx.npy"), 3, (int64_t[]){S, T, D}, x);
    write_npy(at("sy.npy"), 1, (int64_t[]){S}, y);
    run_result one, two;
    run_cli(&one, "predict", at("seq.h5"), at("sx.npy"), "--threads", "1", NULL);
    run_cli(&two, "predict", at("seq.h5"), at("sx.npy"), "--threads", "2", NULL);
    assert_success(&one);
    assert_success(&two);
    ck_assert_str_eq(one.out, two.out);
    run_free(&one);
    run_free(&two);
    const char *threads[] = {"1", "2"}, *outs[] = {"t1.h5", "t2.h5"};
    for (int k = 0; k < 2; k++) {
        run_cli(&one, "fit", at("seq.h5"), "--x", at("sx.npy"), "--y", at("sy.npy"), "--loss",
                "sparse_categorical_crossentropy", "--optimizer", "adam", "--epochs", "2", "--seed",
                "4", "--threads", threads[k], "--verbose", "0", "-o", at("%s", outs[k]), NULL);
        assert_success(&one);
        run_free(&one);
    }
    ck_assert(same_layer(at("t1.h5"), at("t2.h5"), "head"));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("cli_fit");
    TCase *tc = tcase_create("cli_fit");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, ck_test_remove_dir);
    tcase_add_test(tc, test_validation_data);
    tcase_add_test(tc, test_freeze_keeps_weights);
    tcase_add_test(tc, test_reduce_lr_on_plateau);
    tcase_add_test(tc, test_zero_hyperparameters_as_given);
    tcase_add_test(tc, test_checkpoint_save_best_only);
    tcase_add_test(tc, test_early_stopping_restores_best);
    tcase_add_test(tc, test_class_weights);
    tcase_add_test(tc, test_threads_same_results);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ck_test_run(suite());
}
