/* The Keras callbacks of fit against the rules of the files of keras/src/callbacks,
 * with the expected epochs, rates, file names and file contents worked out
 * by hand; class and sample weights against hand-computed losses; the
 * calls a callback may not make. */
#include "ck_callback.h"
#include "ck_test.h"

#include <string.h>
#include <unistd.h>

/* out = w x with one weight and no bias, w starting at 1. */
static ck_model *line_model(ck_optimizer_options opt, const char *loss)
{
    ck_model *m = ck_sequential(.seed = 3);
    ck_assert_ok(ck_model_add(m, ck_input(1)));
    ck_assert_ok(ck_model_add(m, ck_dense(1, .no_bias = true)));
    ck_assert_ok(ck_model_compile(m, .optimizer = opt, .loss = loss));
    m->params[0] = 1.0f;
    return m;
}

/* x = 0, y = 1: the loss is 1 in every epoch whatever the rate (no gradient). */
static float ZERO[4] = {0, 0, 0, 0}, ONE[4] = {1, 1, 1, 1};
static const ck_tensor FLAT_X = {2, {4, 1}, ZERO}, FLAT_Y = {2, {4, 1}, ONE};
/* x = 1, y = 0 with SGD: the loss w^2 falls every epoch. */
static const ck_tensor FALL_X = {2, {4, 1}, ONE}, FALL_Y = {2, {4, 1}, ZERO};

static double hist(const ck_history *h, const char *key, int epoch)
{
    double v;
    ck_assert_ok(ck_history_get(h, key, epoch, &v));
    return v;
}

START_TEST(early_stopping_patience_and_start)
{
    ck_model *m = line_model(ck_sgd(.learning_rate = 0.1), "mse");
    ck_history *h;
    /* Flat loss: epoch 0 sets the best, epochs 1 and 2 wait, the stop follows epoch 3. */
    ck_assert_ok(ck_model_fit(m, &FLAT_X, &FLAT_Y, &h, .epochs = 20,
                              .callbacks = {ck_cb_early_stopping("loss", 2)}));
    ck_assert_int_eq(ck_history_epochs(h), 3);
    ck_assert_str_eq(ck_history_stop_reason(h),
                     "EarlyStopping: loss did not improve for 2 epochs; stopped after epoch 3");
    ck_history_free(h);
    /* start_from_epoch 2: epochs 0 and 1 are not watched. */
    ck_assert_ok(
        ck_model_fit(m, &FLAT_X, &FLAT_Y, &h, .epochs = 20,
                     .callbacks = {ck_cb_early_stopping("loss", 2, .start_from_epoch = 2)}));
    ck_assert_int_eq(ck_history_epochs(h), 5);
    ck_history_free(h);
    /* A baseline the loss never beats: the first epoch improves on None but
     * does not reset the wait, so the stop follows epoch 2. */
    ck_assert_ok(ck_model_fit(
        m, &FLAT_X, &FLAT_Y, &h, .epochs = 20,
        .callbacks = {ck_cb_early_stopping("loss", 2, .use_baseline = true, .baseline = 0.5)}));
    ck_assert_int_eq(ck_history_epochs(h), 2);
    ck_history_free(h);
    ck_model_free(m);
}
END_TEST

/* Standalone Keras 2.0 to 2.3 (callbacks.py of 2.2.4 and 2.3.1) starts
 * from the baseline as the best value and counts only epochs that do not
 * improve on it: a loss that keeps falling never stops with patience 0,
 * and one that starts above the baseline waits from the first epoch.
 * tf.keras 2.7 to 2.11 count every epoch and reset only on beating both;
 * 2.5 and 2.6 (callbacks.py of v2.6.0) also checked the wait after epoch
 * 0, so patience 0 stopped after the first epoch (keras-team/keras#14750
 * added the `epoch > 0` in 2.7). */
START_TEST(early_stopping_standalone_keras2)
{
    const struct {
        const char *version;
        int patience;
        bool use_baseline;
        int epochs;
    } cases[] = {{"2.2.4", 0, false, 6}, {"2.11.0", 0, false, 2}, {"2.3.1", 1, true, 1},
                 {"2.11.0", 1, true, 2}, {"2.6.0", 0, false, 1},  {"2.5.0", 0, false, 1},
                 {"2.7.0", 0, false, 2}};
    for (int k = 0; k < 7; k++) {
        ck_model *m = line_model(ck_sgd(.learning_rate = 0.05), "mse");
        snprintf(m->keras_version, sizeof m->keras_version, "%s", cases[k].version);
        ck_history *h;
        /* The losses are 0.81^epoch: 1, 0.81, 0.656, ...; the baseline 0.7. */
        ck_assert_ok(ck_model_fit(m, &FALL_X, &FALL_Y, &h, .epochs = 6,
                                  .callbacks = {ck_cb_early_stopping(
                                      "loss", cases[k].patience,
                                      .use_baseline = cases[k].use_baseline, .baseline = 0.7)}));
        ck_assert_msg(ck_history_epochs(h) == cases[k].epochs, "case %d: %d epochs, expected %d", k,
                      ck_history_epochs(h), cases[k].epochs);
        ck_history_free(h);
        ck_model_free(m);
    }
}
END_TEST

/* Standalone Keras 2.0.0 to 2.0.8 (EarlyStopping) and 2.0.0 to 2.1.5
 * (ReduceLROnPlateau) compared the wait with the patience before counting
 * the epoch, so each acted one epoch later; 2.0.9 and 2.1.6 count first. */
START_TEST(callbacks_of_keras_2_0_count_late)
{
    const struct {
        const char *version;
        int es_epochs;
        double lr[7];
    } cases[] = {{"2.0.8", 4, {0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.025}},
                 {"2.1.5", 3, {0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.025}},
                 {"2.1.6", 3, {0.1, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025}}};
    for (int k = 0; k < 3; k++) {
        ck_model *m = line_model(ck_sgd(.learning_rate = 0.1), "mse");
        snprintf(m->keras_version, sizeof m->keras_version, "%s", cases[k].version);
        ck_history *h;
        ck_assert_ok(ck_model_fit(m, &FLAT_X, &FLAT_Y, &h, .epochs = 20,
                                  .callbacks = {ck_cb_early_stopping("loss", 2)}));
        ck_assert_msg(ck_history_epochs(h) == cases[k].es_epochs, "%s: %d epochs, expected %d",
                      cases[k].version, ck_history_epochs(h), cases[k].es_epochs);
        ck_history_free(h);
        ck_assert_ok(ck_model_set_learning_rate(m, 0.1));
        ck_assert_ok(ck_model_fit(
            m, &FLAT_X, &FLAT_Y, &h, .epochs = 7,
            .callbacks = {ck_cb_reduce_lr_on_plateau("loss", .factor = 0.5, .patience = 2)}));
        /* Standalone Keras logs the rate as "lr". */
        for (int e = 0; e < 7; e++)
            ck_assert_msg(hist(h, "lr", e) == (double)(float)cases[k].lr[e],
                          "%s epoch %d: lr %g, expected %g", cases[k].version, e, hist(h, "lr", e),
                          cases[k].lr[e]);
        ck_history_free(h);
        ck_model_free(m);
    }
}
END_TEST

START_TEST(early_stopping_modes)
{
    ck_history *h;
    ck_model *m = line_model(ck_sgd(.learning_rate = 0.05), "mse");
    /* A falling loss improves every epoch in "min" (and "auto") mode... */
    ck_assert_ok(ck_model_fit(m, &FALL_X, &FALL_Y, &h, .epochs = 6,
                              .callbacks = {ck_cb_early_stopping("loss", 1, .mode = "min")}));
    ck_assert_int_eq(ck_history_epochs(h), 6);
    ck_assert_str_eq(ck_history_stop_reason(h), "");
    ck_history_free(h);
    /* ...and never after the first in "max" mode. */
    ck_assert_ok(ck_model_fit(m, &FALL_X, &FALL_Y, &h, .epochs = 6,
                              .callbacks = {ck_cb_early_stopping("loss", 1, .mode = "max")}));
    ck_assert_int_eq(ck_history_epochs(h), 2);
    ck_history_free(h);
    ck_assert_fails(ck_model_fit(m, &FALL_X, &FALL_Y, NULL,
                                 .callbacks = {ck_cb_early_stopping("loss", .mode = "up")}),
                    CK_ERR_ARGUMENT);
    ck_assert_fails(ck_model_fit(m, &FALL_X, &FALL_Y, NULL,
                                 .callbacks = {ck_cb_early_stopping("val_loss")}),
                    CK_ERR_ARGUMENT);
    ck_model_free(m);
}
END_TEST

/* Keras's trace for patience 2, factor 0.5, cooldown 2, min_lr 0.01 on a
 * flat loss: the rate is logged before the reduction of its epoch, the
 * wait counts again only once the cooldown is over (reductions after
 * epochs 2, 5, 8, 11), and a rate at min_lr (compared in float32) is not
 * reduced again. */
START_TEST(reduce_lr_on_plateau_fires)
{
    ck_model *m = line_model(ck_sgd(.learning_rate = 0.1), "mse");
    ck_history *h;
    ck_assert_ok(
        ck_model_fit(m, &FLAT_X, &FLAT_Y, &h, .epochs = 15,
                     .callbacks = {ck_cb_reduce_lr_on_plateau("loss", .factor = 0.5, .patience = 2,
                                                              .cooldown = 2, .min_lr = 0.01)}));
    const double want[] = {0.1,   0.1,    0.1,    0.05,   0.05, 0.05, 0.025, 0.025,
                           0.025, 0.0125, 0.0125, 0.0125, 0.01, 0.01, 0.01};
    ck_assert_int_eq(ck_history_epochs(h), 15);
    for (int e = 0; e < 15; e++)
        ck_assert_msg(hist(h, "learning_rate", e) == (double)(float)want[e],
                      "epoch %d: learning_rate %.9g, expected %.9g", e, hist(h, "learning_rate", e),
                      want[e]);
    double lr;
    ck_assert_ok(ck_model_get_learning_rate(m, &lr));
    ck_assert_close(lr, (float)0.01, 0);
    ck_history_free(h);
    ck_assert_fails(ck_model_fit(m, &FLAT_X, &FLAT_Y, NULL,
                                 .callbacks = {ck_cb_reduce_lr_on_plateau("loss", .factor = 1.5)}),
                    CK_ERR_ARGUMENT);
    ck_model_free(m);
    /* Keras refuses a rate that follows a schedule. */
    m = line_model(
        ck_sgd(.learning_rate_schedule = ck_exponential_decay(.initial_learning_rate = 0.1,
                                                              .decay_steps = 2, .decay_rate = 0.5)),
        "mse");
    ck_assert_fails(ck_model_fit(m, &FLAT_X, &FLAT_Y, NULL,
                                 .callbacks = {ck_cb_reduce_lr_on_plateau("loss")}),
                    CK_ERR_STATE);
    ck_model_free(m);
}
END_TEST

static double halve_after_first(int epoch, double lr, void *user_data)
{
    ++*(int *)user_data;
    return epoch == 0 ? lr : lr / 2;
}

/* LearningRateScheduler sets schedule(epoch, lr) before each epoch, and the
 * weights follow it: w -= lr 2 w per full batch with SGD. */
START_TEST(learning_rate_scheduler)
{
    ck_model *m = line_model(ck_sgd(.learning_rate = 0.1), "mse");
    ck_history *h;
    int calls = 0;
    FILE *log = tmpfile();
    ck_assert_ptr_nonnull(log);
    ck_assert_ok(ck_model_fit(
        m, &FALL_X, &FALL_Y, &h, .epochs = 3, .batch_size = 4, .log = log,
        .callbacks = {ck_cb_learning_rate_scheduler(halve_after_first, &calls, .verbose = 1)}));
    ck_assert_int_eq(calls, 3);
    /* What the schedule returned as Python's str: 0.1 in float32, halved. */
    char text[4096];
    rewind(log);
    text[fread(text, 1, sizeof text - 1, log)] = '\0';
    fclose(log);
    ck_assert_ptr_nonnull(strstr(
        text, "\nEpoch 2: LearningRateScheduler setting learning rate to 0.05000000074505806."));
    double w = 1, lr = 0.1;
    for (int e = 0; e < 3; e++) {
        lr = e == 0 ? lr : lr / 2;
        ck_assert_close(hist(h, "learning_rate", e), (float)lr, 1e-9);
        w -= (float)lr * 2 * w;
    }
    ck_assert_close(m->params[0], w, 1e-6);
    ck_history_free(h);
    ck_model_free(m);
}
END_TEST

START_TEST(python_float_format)
{
    const double v[] = {1.0,    0.1,  1e-05, 0.0001, 123456.789,  1e16,
                        1.5e16, -2.5, 0.5,   100.0,  (double)0.1f};
    const char *want[] = {"1.0",     "0.1",  "1e-05", "0.0001", "123456.789",         "1e+16",
                          "1.5e+16", "-2.5", "0.5",   "100.0",  "0.10000000149011612"};
    char buf[64];
    for (int i = 0; i < 11; i++) {
        ck_format_py_float(v[i], buf, sizeof buf);
        ck_assert_str_eq(buf, want[i]);
    }
    ck_format_py_float(NAN, buf, sizeof buf);
    ck_assert_str_eq(buf, "nan");
}
END_TEST

typedef struct weights_log {
    float w[16];
} weights_log;

static ck_status record_weight(ck_model *m, int epoch, const ck_epoch_logs *logs, void *user_data)
{
    (void)logs;
    ck_layer *l = ck_model_layer(m, 0);
    const char *name;
    ck_tensor view;
    ck_assert_ok(ck_layer_weight(l, 0, &name, &view));
    ((weights_log *)user_data)->w[epoch] = view.data[0];
    return CK_OK;
}

static float saved_weight(const char *path, bool weights_only)
{
    ck_model *m;
    if (weights_only) {
        m = line_model(ck_sgd(), "mse");
        ck_assert_ok(ck_model_load_weights(m, path));
    } else {
        ck_assert_ok(ck_model_load(path, &m));
    }
    float w = m->params[0];
    ck_model_free(m);
    return w;
}

static bool lookup_loss(const void *ctx, const char *key, double *v)
{
    *v = *(const double *)ctx;
    return strcmp(key, "loss") == 0;
}

/* File name fields formatted as Python's str.format does (expected names
 * from Python 3.11); specs it would not read as numbers are refused. */
START_TEST(template_fields_as_python)
{
    static const struct {
        const char *tmpl;
        int epoch;
        double loss;
        const char *want;
    } ok[] = {
        {"{epoch:02d}", 3, 0, "03"},
        {"{epoch:+5}", 3, 0, "   +3"},
        {"{epoch}-{{x}}", 12, 0, "12-{x}"},
        {"{loss:.4f}", 1, 0.123456789, "0.1235"},
        {"{loss}", 1, 0.123456789, "0.123456789"},
        {"{loss:10}", 1, 0.123456789, "0.123456789"},
        {"{loss:+012}", 1, 0.5, "+000000000.5"},
        {"{loss:012}", 1, -0.5, "-000000000.5"},
        {"{loss: .2e}", 1, 0.000123, " 1.23e-04"},
        {"{loss:.1%}", 1, 0.25, "25.0%"},
        {"{loss:08.3f}", 1, -1.5, "-001.500"},
        {"{loss:.3}", 1, 2.0, "2.0"},
        {"{loss:.3g}", 1, 2.0, "2"},
        {"{loss:.2}", 1, 123.0, "1.2e+02"},
    };
    char out[64];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        ck_assert_ok(ck_format_template(ok[i].tmpl, ok[i].epoch, 0, lookup_loss, &ok[i].loss, out,
                                        sizeof out));
        ck_assert_str_eq(out, ok[i].want);
    }
    /* Malformed (printf would misread them), huge (a precision of 10^9
     * digits), past int, a precision Python refuses, too long a name. */
    static const char *const bad[] = {"{loss:..f}",   "{loss:.999999999f}", "{epoch:9999999999d}",
                                      "{epoch:.3d}",  "{epoch:.2}",         "{loss:.0}",
                                      "{loss:<8.2f}", "{loss:,.2f}",        "{loss:.2fx}",
                                      "{loss:200.1f}"};
    double loss = 0.5;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_fails(ck_format_template(bad[i], 1, 0, lookup_loss, &loss, out, sizeof out),
                        CK_ERR_ARGUMENT);
        ck_assert_msg(ck_last_error()[0] != '\0', "%s: no message", bad[i]);
    }
    ck_assert_fails(ck_format_template("{loss:d}", 1, 0, lookup_loss, &(double){1e30}, out,
                                       sizeof out),
                    CK_ERR_ARGUMENT);
}
END_TEST

/* File names from {epoch:02d} and {loss:.4f}, each file holding the model
 * of its epoch; save_best_only saves only improvements of the monitor. */
START_TEST(model_checkpoint_names_and_contents)
{
    ck_model *m = line_model(ck_sgd(.learning_rate = 0.05), "mse");
    weights_log log = {0};
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/sub/ckpt-{epoch:02d}-{loss:.4f}.h5", ck_test_path(""));
    ck_assert_ok(ck_model_fit(
        m, &FALL_X, &FALL_Y, NULL, .epochs = 3, .batch_size = 4,
        .callbacks = {ck_cb_model_checkpoint(tmpl),
                      ck_cb_lambda(.on_epoch_end = record_weight, .user_data = &log)}));
    /* The loss of epoch e is w_e^2 before its step, w_{e+1} = 0.9 w_e. */
    double w = 1;
    for (int e = 0; e < 3; e++) {
        char name[64];
        snprintf(name, sizeof name, "sub/ckpt-%02d-%.4f.h5", e + 1, w * w);
        ck_assert_msg(access(ck_test_path(name), F_OK) == 0, "missing %s", name);
        ck_assert_float_eq(saved_weight(ck_test_path(name), false), log.w[e]);
        w *= 0.9;
    }
    /* Only improving epochs: "max" on a falling loss keeps epoch 1 alone. */
    snprintf(tmpl, sizeof tmpl, "%s/best-{epoch}.weights.h5", ck_test_path(""));
    ck_assert_ok(ck_model_fit(
        m, &FALL_X, &FALL_Y, NULL, .epochs = 3, .batch_size = 4,
        .callbacks = {ck_cb_model_checkpoint(tmpl, .monitor = "loss", .mode = "max",
                                             .save_best_only = true, .save_weights_only = true),
                      ck_cb_lambda(.on_epoch_end = record_weight, .user_data = &log)}));
    ck_assert_int_eq(access(ck_test_path("best-1.weights.h5"), F_OK), 0);
    ck_assert_int_ne(access(ck_test_path("best-2.weights.h5"), F_OK), 0);
    ck_assert_float_eq(saved_weight(ck_test_path("best-1.weights.h5"), true), log.w[0]);
    /* The .weights.h5 name alone writes Keras 3 weights, not a whole model. */
    snprintf(tmpl, sizeof tmpl, "%s/last.weights.h5", ck_test_path(""));
    ck_assert_ok(ck_model_fit(m, &FALL_X, &FALL_Y, NULL, .batch_size = 4,
                              .callbacks = {ck_cb_model_checkpoint(tmpl)}));
    ck_model *whole = NULL;
    ck_assert_int_ne(ck_model_load(tmpl, &whole), CK_OK);
    ck_assert_float_eq(saved_weight(tmpl, true), m->params[0]);
    /* A key that is not logged names itself. */
    snprintf(tmpl, sizeof tmpl, "%s/x-{val_loss:.2f}.h5", ck_test_path(""));
    ck_assert_fails(ck_model_fit(m, &FALL_X, &FALL_Y, NULL,
                                 .callbacks = {ck_cb_model_checkpoint(tmpl)}),
                    CK_ERR_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "val_loss"));
    ck_model_free(m);
}
END_TEST

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    static char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Keys sorted, val_ keys added as NA when there is no validation, floats
 * as Python prints them, "\r\n" rows; append adds rows without a header. */
START_TEST(csv_logger_rows)
{
    ck_model *m = line_model(ck_sgd(.learning_rate = 0.1), "mse");
    const char *path = ck_test_path("log.csv");
    ck_callback_spec rlr = ck_cb_reduce_lr_on_plateau("loss", .patience = 1, .factor = 0.5);
    ck_assert_ok(ck_model_fit(m, &FLAT_X, &FLAT_Y, NULL, .epochs = 2,
                              .callbacks = {rlr, ck_cb_csv_logger(path)}));
    ck_assert_str_eq(read_text(path), "epoch,learning_rate,loss,val_learning_rate,val_loss\r\n"
                                      "0,0.10000000149011612,1.0,NA,NA\r\n"
                                      "1,0.10000000149011612,1.0,NA,NA\r\n");
    ck_assert_ok(
        ck_model_fit(m, &FLAT_X, &FLAT_Y, NULL, .epochs = 3, .initial_epoch = 2,
                     .callbacks = {ck_cb_csv_logger(path, .separator = ";", .append = true)}));
    ck_assert_str_eq(read_text(path), "epoch,learning_rate,loss,val_learning_rate,val_loss\r\n"
                                      "0,0.10000000149011612,1.0,NA,NA\r\n"
                                      "1,0.10000000149011612,1.0,NA,NA\r\n"
                                      "2;1.0;NA\r\n");
    ck_model_free(m);
}
END_TEST

/* A loss that overflows: TerminateOnNaN ends fit normally with the weights
 * of the last finite step; without it fit fails. */
START_TEST(terminate_on_nan)
{
    static float big[1] = {1e30f}, zero[1] = {0};
    ck_tensor x = {2, {1, 1}, big}, y = {2, {1, 1}, zero};
    ck_model *m = line_model(ck_sgd(.learning_rate = 0.1), "mse");
    m->params[0] = 1e10f;
    ck_history *h;
    FILE *log = tmpfile();
    ck_assert_ptr_nonnull(log);
    /* Keras prints the stop whatever the verbosity. */
    ck_assert_ok(ck_model_fit(m, &x, &y, &h, .epochs = 5, .log = log,
                              .callbacks = {ck_cb_terminate_on_nan()}));
    rewind(log);
    char text[256];
    text[fread(text, 1, sizeof text - 1, log)] = '\0';
    fclose(log);
    ck_assert_str_eq(text, "Batch 0: Invalid loss, terminating training\n");
    ck_assert_int_eq(ck_history_epochs(h), 1);
    ck_assert(isinf(hist(h, "loss", 0)));
    ck_assert_ptr_nonnull(strstr(ck_history_stop_reason(h), "TerminateOnNaN"));
    ck_assert_float_eq(m->params[0], 1e10f);
    ck_history_free(h);
    ck_assert_fails(ck_model_fit(m, &x, &y, &h, .epochs = 5), CK_ERR_NUMERIC);
    ck_assert_ptr_null(h);
    ck_model_free(m);
}
END_TEST

typedef struct trace {
    char text[512];
    int stop_at_batch;
} trace;

static void add(trace *t, const char *fmt, int i)
{
    size_t n = strlen(t->text);
    snprintf(t->text + n, sizeof t->text - n, fmt, i);
}

static ck_status t_train_begin(ck_model *m, void *u)
{
    (void)m;
    add(u, "TB%.0d ", 0);
    return CK_OK;
}
static ck_status t_train_end(ck_model *m, const ck_epoch_logs *l, void *u)
{
    (void)m;
    (void)l;
    add(u, "TE%.0d", 0);
    return CK_OK;
}
static ck_status t_epoch_begin(ck_model *m, int e, void *u)
{
    (void)m;
    add(u, "EB%d ", e);
    return CK_OK;
}
static ck_status t_epoch_end(ck_model *m, int e, const ck_epoch_logs *l, void *u)
{
    (void)m;
    ck_assert_int_eq(ck_history_epochs(l->history), e - 3 + 1);
    add(u, "EE%d ", e);
    return CK_OK;
}
static ck_status t_batch_begin(ck_model *m, int b, void *u)
{
    (void)m;
    add(u, "BB%d ", b);
    return CK_OK;
}
static ck_status t_batch_end(ck_model *m, int b, const ck_epoch_logs *l, void *u)
{
    trace *t = u;
    (void)l;
    add(u, "BE%d ", b);
    if (b == t->stop_at_batch)
        ck_assert_ok(ck_model_stop_training(m, "stop from a batch"));
    return t->stop_at_batch == -2 ? CK_ERR_IO : CK_OK;
}

/* Every hook in Keras's order, initial_epoch numbering, and a stop request
 * honoured after the batch that made it (the epoch still ends). */
START_TEST(lambda_hooks_and_stop)
{
    ck_model *m = line_model(ck_sgd(.learning_rate = 0.01), "mse");
    trace t = {.stop_at_batch = -1};
    ck_lambda_callback_options hooks = {.on_train_begin = t_train_begin,
                                        .on_train_end = t_train_end,
                                        .on_epoch_begin = t_epoch_begin,
                                        .on_epoch_end = t_epoch_end,
                                        .on_batch_begin = t_batch_begin,
                                        .on_batch_end = t_batch_end,
                                        .user_data = &t};
    ck_history *h;
    ck_assert_ok(ck_model_fit(m, &FALL_X, &FALL_Y, &h, .epochs = 5, .initial_epoch = 3,
                              .batch_size = 2, .callbacks = {{"LambdaCallback", &hooks}}));
    ck_assert_str_eq(t.text, "TB EB3 BB0 BE0 BB1 BE1 EE3 EB4 BB0 BE0 BB1 BE1 EE4 TE");
    ck_assert_int_eq(ck_history_epoch_number(h, 0), 3);
    ck_assert_int_eq(ck_history_epoch_number(h, 1), 4);
    ck_history_free(h);
    t = (trace){.stop_at_batch = 0};
    ck_assert_ok(ck_model_fit(m, &FALL_X, &FALL_Y, &h, .epochs = 5, .initial_epoch = 3,
                              .batch_size = 2, .callbacks = {{"LambdaCallback", &hooks}}));
    ck_assert_str_eq(t.text, "TB EB3 BB0 BE0 EE3 TE");
    ck_assert_str_eq(ck_history_stop_reason(h), "stop from a batch");
    ck_history_free(h);
    /* A hook's failure ends fit with its status. */
    t = (trace){.stop_at_batch = -2};
    ck_assert_int_eq(ck_model_fit(m, &FALL_X, &FALL_Y, NULL, .epochs = 5, .initial_epoch = 3,
                                  .callbacks = {{"LambdaCallback", &hooks}}),
                     CK_ERR_IO);
    ck_assert_fails(ck_model_stop_training(m, NULL), CK_ERR_STATE);
    ck_assert_fails(ck_model_fit(m, &FALL_X, &FALL_Y, NULL, .epochs = 2, .initial_epoch = 2),
                    CK_ERR_ARGUMENT);
    ck_assert_fails(ck_model_fit(m, &FALL_X, &FALL_Y, NULL, .callbacks = {{"Nope", NULL}}),
                    CK_ERR_NAME);
    ck_model_free(m);
}
END_TEST

/* Calls that would change what fit is using (each of the list in
 * docs/training.md) are refused from a callback (run under ASan by the
 * sanitizer build); reading, saving, evaluating and setting the rate are
 * allowed. */
static ck_status forbidden(ck_model *m, int epoch, const ck_epoch_logs *logs, void *u)
{
    (void)epoch;
    (void)logs;
    (void)u;
    ck_assert_fails(ck_model_compile(m, .optimizer = ck_adam(), .loss = "mse"), CK_ERR_STATE);
    ck_assert_fails(ck_model_fit(m, &FALL_X, &FALL_Y, NULL), CK_ERR_STATE);
    ck_assert_fails(ck_model_train_on_batch(m, &FALL_X, &FALL_Y, NULL), CK_ERR_STATE);
    ck_assert_fails(ck_model_add(m, ck_dense(1)), CK_ERR_STATE);
    ck_assert_fails(ck_model_pop(m), CK_ERR_STATE);
    ck_assert_fails(ck_layer_set_trainable(ck_model_layer(m, 0), false), CK_ERR_STATE);
    /* Freeing the model in use leaves it whole, with the reason. */
    ck_model_free(m);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "is in use and was not freed"));
    ck_assert_int_eq(ck_model_layer_count(m), 1);
    double loss;
    ck_assert_ok(ck_model_evaluate(m, &FALL_X, &FALL_Y, 0, &loss, NULL));
    ck_assert_ok(ck_model_test_on_batch(m, &FALL_X, &FALL_Y, NULL, &loss, NULL));
    ck_assert_ok(ck_model_set_learning_rate(m, 0.02));
    return CK_OK;
}

START_TEST(callback_contract)
{
    ck_model *m = line_model(ck_sgd(.learning_rate = 0.01), "mse");
    ck_assert_ok(ck_model_fit(m, &FALL_X, &FALL_Y, NULL, .epochs = 2,
                              .callbacks = {ck_cb_lambda(.on_epoch_end = forbidden)}));
    double lr;
    ck_assert_ok(ck_model_get_learning_rate(m, &lr));
    ck_assert_close(lr, (float)0.02, 0);
    ck_model_free(m);
}
END_TEST

/* x = (1, 2, 3), y = 0, w = 1: per-sample MSE 1, 4, 9. Keras weights each
 * and divides by the sample count (sum_over_batch_size). */
static float X3[3] = {1, 2, 3}, Y3[3] = {0, 0, 0};
static const ck_tensor WX = {2, {3, 1}, X3}, WY = {2, {3, 1}, Y3};

START_TEST(sample_weights_of_the_loss)
{
    ck_model *m = line_model(ck_sgd(.learning_rate = 0.01), "mse");
    const float sw[3] = {1, 0, 2};
    double loss;
    ck_assert_ok(ck_model_evaluate_with(m, &WX, &WY, &(ck_evaluate_options){.sample_weight = sw},
                                        &loss, NULL));
    ck_assert_close(loss, 19.0 / 3, 1e-6);
    ck_assert_ok(ck_model_test_on_batch(m, &WX, &WY, sw, &loss, NULL));
    ck_assert_close(loss, 19.0 / 3, 1e-6);
    /* One full-batch step: d/dw sum(sw x^2 w^2) / 3 = 2 (1 + 18) / 3. */
    ck_history *h;
    ck_assert_ok(ck_model_fit(m, &WX, &WY, &h, .batch_size = 3, .sample_weight = sw));
    ck_assert_close(hist(h, "loss", 0), 19.0 / 3, 1e-6);
    ck_assert_close(m->params[0], 1 - 0.01 * 38.0 / 3, 1e-6);
    ck_history_free(h);
    const float bad[3] = {1, -1, 0};
    ck_assert_fails(ck_model_fit(m, &WX, &WY, NULL, .sample_weight = bad), CK_ERR_ARGUMENT);
    ck_model_free(m);
}
END_TEST

/* Binary cross-entropy at p = 0.5 is ln 2 per sample; classes 0, 1, 1 with
 * class_weight {0: 3, 1: 1} give (3 + 1 + 1) ln 2 / 3. */
START_TEST(class_weights_of_the_loss)
{
    ck_model *m = ck_sequential(.seed = 1);
    ck_assert_ok(ck_model_add(m, ck_input(1)));
    ck_assert_ok(ck_model_add(m, ck_dense(1, .activation = "sigmoid")));
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_sgd(), .loss = "binary_crossentropy"));
    m->params[0] = m->params[1] = 0;
    static float y[3] = {0, 1, 1};
    ck_tensor ty = {2, {3, 1}, y};
    const float cw[2] = {3, 1};
    double loss;
    ck_assert_ok(ck_model_evaluate_with(
        m, &WX, &ty, &(ck_evaluate_options){.class_weight = cw, .n_class_weights = 2}, &loss,
        NULL));
    ck_assert_close(loss, 5 * log(2.0) / 3, 1e-6);
    /* A class beyond the table weighs 1: {0: 3} alone gives (3 + 1 + 1) too. */
    ck_assert_ok(ck_model_evaluate_with(
        m, &WX, &ty, &(ck_evaluate_options){.class_weight = cw, .n_class_weights = 1}, &loss,
        NULL));
    ck_assert_close(loss, 5 * log(2.0) / 3, 1e-6);
    ck_history *h;
    ck_assert_ok(
        ck_model_fit(m, &WX, &ty, &h, .batch_size = 3, .class_weight = cw, .n_class_weights = 2));
    ck_assert_close(hist(h, "loss", 0), 5 * log(2.0) / 3, 1e-6);
    ck_history_free(h);
    ck_assert_fails(ck_model_fit(m, &WX, &ty, NULL, .class_weight = cw, .n_class_weights = 2,
                                 .sample_weight = cw),
                    CK_ERR_ARGUMENT);
    ck_model_free(m);
}
END_TEST

START_TEST(history_keys_for_plots)
{
    ck_model *m = ck_sequential(.seed = 1);
    ck_assert_ok(ck_model_add(m, ck_input(1)));
    ck_assert_ok(ck_model_add(m, ck_dense(1, .activation = "sigmoid")));
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_sgd(), .loss = "binary_crossentropy",
                                  .metrics = {"accuracy"}));
    static float y[3] = {0, 1, 1};
    ck_tensor ty = {2, {3, 1}, y};
    ck_history *h;
    ck_assert_ok(ck_model_fit(m, &WX, &ty, &h, .epochs = 2, .validation_x = &WX,
                              .validation_y = &ty, .callbacks = {ck_cb_reduce_lr_on_plateau()}));
    /* Keras 3 sorts the logs; the rate, logged after, comes last. */
    const char *keys[] = {"accuracy", "loss", "val_accuracy", "val_loss", "learning_rate"};
    ck_assert_int_eq(ck_history_key_count(h), 5);
    for (int i = 0; i < 5; i++)
        ck_assert_str_eq(ck_history_key(h, i), keys[i]);
    ck_assert_ptr_null(ck_history_key(h, 5));
    ck_assert_int_eq(ck_history_epoch_number(h, 1), 1);
    ck_assert_int_eq(ck_history_epoch_number(h, 2), -1);
    ck_history_free(h);
    ck_model_free(m);
}
END_TEST

static Suite *callbacks_suite(void)
{
    Suite *s = suite_create("callbacks");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, ck_test_scratch_fixture, ck_test_remove_dir);
    tcase_add_test(tc, template_fields_as_python);
    tcase_add_test(tc, early_stopping_patience_and_start);
    tcase_add_test(tc, early_stopping_modes);
    tcase_add_test(tc, callbacks_of_keras_2_0_count_late);
    tcase_add_test(tc, early_stopping_standalone_keras2);
    tcase_add_test(tc, reduce_lr_on_plateau_fires);
    tcase_add_test(tc, learning_rate_scheduler);
    tcase_add_test(tc, python_float_format);
    tcase_add_test(tc, model_checkpoint_names_and_contents);
    tcase_add_test(tc, csv_logger_rows);
    tcase_add_test(tc, terminate_on_nan);
    tcase_add_test(tc, lambda_hooks_and_stop);
    tcase_add_test(tc, callback_contract);
    tcase_add_test(tc, sample_weights_of_the_loss);
    tcase_add_test(tc, class_weights_of_the_loss);
    tcase_add_test(tc, history_keys_for_plots);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ck_test_run(callbacks_suite());
}
