/* What fit prints and logs per the Keras release of the model: the lines
 * of Keras 3's Progbar (keras/src/utils/progbar.py of v3.15.1) for models
 * built in C or read from Keras 3 files, those of tf.keras 2's for Keras
 * 2 files; ProgbarLogger after the other callbacks in Keras 3 and
 * tf.keras 2.7+; keys sorted in Keras 3; the rate as "lr" in Keras 2.
 * The output goes to a file, not a terminal, and its times are masked. */
#define _XOPEN_SOURCE 600 /* posix_openpt */

#include "ck_callback.h"
#include "ck_test.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define BAR20 "━━━━━━━━━━━━━━━━━━━━"

/* x = 0, y = 1 under mse: every loss is 1 and binary_accuracy 0, at any rate. */
static float ZERO[4] = {0, 0, 0, 0}, ONE[4] = {1, 1, 1, 1};
static const ck_tensor X = {2, {4, 1}, ZERO}, Y = {2, {4, 1}, ONE};

/* binary_accuracy sorts before loss, so the order shows whether keys are sorted. */
static ck_model *flat_model(const char *keras_version)
{
    ck_model *m = ck_sequential(.seed = 3);
    ck_assert_ok(ck_model_add(m, ck_input(1)));
    ck_assert_ok(ck_model_add(m, ck_dense(1, .no_bias = true)));
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_sgd(.learning_rate = 0.1), .loss = "mse",
                                  .metrics = {"binary_accuracy"}));
    m->params[0] = 1.0f;
    snprintf(m->keras_version, sizeof m->keras_version, "%s", keras_version);
    return m;
}

/* Dense(1) on one feature, not compiled, as the Keras of keras_version
 * wrote it: compile reads the version. */
static ck_model *one_unit(const char *keras_version, const char *activation)
{
    ck_model *m = ck_sequential(.seed = 3);
    ck_assert_ok(ck_model_add(m, ck_input(1)));
    ck_assert_ok(ck_model_add(m, ck_dense(1, .activation = activation)));
    snprintf(m->keras_version, sizeof m->keras_version, "%s", keras_version);
    return m;
}

/* The log written to f, which is closed. */
static void read_back(FILE *f, char *text, size_t len)
{
    rewind(f);
    text[fread(text, 1, len - 1, f)] = '\0';
    fclose(f);
}

/* Whether q, after digits, is a unit of time; *skip: its length when it is
 * one of a time per step or epoch ("ms/step" and the like become
 * "#/step"), 0 when it is the epoch's seconds ("0s" becomes "#s"). */
static bool time_unit(const char *q, size_t *skip)
{
    *skip = strncmp(q, "ms/", 3) == 0 || strncmp(q, "us/", 3) == 0 ? 2
            : strncmp(q, "s/", 2) == 0                             ? 1
                                                                   : 0;
    return *skip > 0 || *q == 's';
}

/* Times vary: "0s" becomes "#s", "12ms/step" and "3us/step" "#/step",
 * "13ms/epoch" "#/epoch". */
static void mask_times(char *s)
{
    char *out = s;
    for (const char *p = s; *p;) {
        const char *q = p;
        while (isdigit((unsigned char)*q))
            q++;
        size_t skip;
        /* After a space, a '/' or the 'm' ending an escape: not a digit of a value. */
        bool starts = p == s || strchr(" /m", p[-1]) != NULL;
        if (q > p && starts && time_unit(q, &skip)) {
            *out++ = '#';
            p = q + skip;
        } else {
            *out++ = *p++;
        }
    }
    *out = '\0';
}

/* fit's output on a file, times masked, with ReduceLROnPlateau halving
 * the rate after epoch 2 and saying so. */
static void fit_output(const char *keras_version, int verbose, int epochs, int batch_size,
                       bool validation, char *text, size_t len)
{
    ck_model *m = flat_model(keras_version);
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    ck_assert_ok(ck_model_fit(m, &X, &Y, NULL, .epochs = epochs, .batch_size = batch_size,
                              .verbose = verbose, .log = f, .validation_x = validation ? &X : NULL,
                              .validation_y = validation ? &Y : NULL,
                              .callbacks = {ck_cb_reduce_lr_on_plateau(
                                  "loss", .patience = 1, .factor = 0.5, .verbose = 1)}));
    read_back(f, text, len);
    mask_times(text);
    ck_model_free(m);
}

/* 0.1 in float32, halved in double, as Python's str; the epoch as tf.keras
 * 2.8+ and Keras 3 print it (REDUCED) and as earlier releases padded it. */
#define REDUCED_AS(epoch) \
    "\nEpoch " epoch ": ReduceLROnPlateau reducing learning rate to 0.05000000074505806.\n"
#define REDUCED REDUCED_AS("2")
#define REDUCED_PADDED REDUCED_AS("00002")

START_TEST(time_masking)
{
    char s[] = "1/1 - 0s - 13ms/step - loss: 1.0000 - x: 2.5000e-05 1:05 9us/step 2s/step 4/4s "
               "\x1b[1m12s\x1b[0m - 13ms/epoch - 0s/epoch";
    mask_times(s);
    ck_assert_str_eq(s, "1/1 - #s - #/step - loss: 1.0000 - x: 2.5000e-05 1:05 #/step #/step 4/#s "
                        "\x1b[1m#s\x1b[0m - #/epoch - #/epoch");
}
END_TEST

/* Keras 3: "count - time - time/step", keys sorted, the rate the other
 * callbacks logged at the end, the line after their messages. */
START_TEST(keras3_verbose2)
{
    const char *versions[] = {"", "3.15.1"};
    for (int v = 0; v < 2; v++) {
        char text[4096];
        fit_output(versions[v], 2, 2, 4, true, text, sizeof text);
        ck_assert_str_eq(text,
                         "Epoch 1/2\n"
                         "1/1 - #s - #/step - binary_accuracy: 0.0000e+00 - loss: 1.0000 - "
                         "val_binary_accuracy: 0.0000e+00 - val_loss: 1.0000 - learning_rate: "
                         "0.1000\n"
                         "Epoch 2/2\n" REDUCED
                         "1/1 - #s - #/step - binary_accuracy: 0.0000e+00 - loss: 1.0000 - "
                         "val_binary_accuracy: 0.0000e+00 - val_loss: 1.0000 - learning_rate: "
                         "0.1000\n");
    }
}
END_TEST

/* Keras 3's bar: 20 ━, the elapsed seconds then the time per step; no
 * "Epoch 1/1" for a single epoch. Off a terminal no escapes, no redraws. */
START_TEST(keras3_verbose1)
{
    char text[4096];
    fit_output("", 1, 1, 2, false, text, sizeof text);
    ck_assert_str_eq(text, "2/2 ━━━━━━━━━━━━━━━━━━━━ #s #/step - binary_accuracy: 0.0000e+00 - "
                           "loss: 1.0000 - learning_rate: 0.1000\n");
    fit_output("3.0.0", 1, 2, 4, false, text, sizeof text);
    ck_assert_str_eq(text, "Epoch 1/2\n"
                           "1/1 ━━━━━━━━━━━━━━━━━━━━ #s #/step - binary_accuracy: 0.0000e+00 - "
                           "loss: 1.0000 - learning_rate: 0.1000\n"
                           "Epoch 2/2\n" REDUCED
                           "1/1 ━━━━━━━━━━━━━━━━━━━━ #s #/step - binary_accuracy: 0.0000e+00 - "
                           "loss: 1.0000 - learning_rate: 0.1000\n");
}
END_TEST

/* x = 1, y = 0, w = 1 under SGD(0.1), two batches of the same samples:
 * the losses are 1 and 0.64, the running means 1 and 0.82. Keras 3.0 to
 * 3.14 showed in the bar the mean of the running means and the epoch's
 * value, (1 + 0.82 + 0.82) / 3; 3.15 the epoch's (keras-team/keras
 * 8bd6635a3e). */
START_TEST(keras3_bar_averaged_before_3_15)
{
    static float one[4] = {1, 1, 1, 1}, zero[4] = {0, 0, 0, 0};
    const ck_tensor x = {2, {4, 1}, one}, y = {2, {4, 1}, zero};
    const struct {
        const char *version;
        int verbose;
        const char *line;
    } cases[] = {{"3.14.0", 1, "2/2 " BAR20 " #s #/step - loss: 0.8800\n"},
                 {"3.0.0", 1, "2/2 " BAR20 " #s #/step - loss: 0.8800\n"},
                 {"3.14.0", 2, "2/2 - #s - #/step - loss: 0.8200\n"},
                 {"3.15.0", 1, "2/2 " BAR20 " #s #/step - loss: 0.8200\n"},
                 {"", 1, "2/2 " BAR20 " #s #/step - loss: 0.8200\n"}};
    for (int c = 0; c < 5; c++) {
        ck_model *m = ck_sequential(.seed = 3);
        ck_assert_ok(ck_model_add(m, ck_input(1)));
        ck_assert_ok(ck_model_add(m, ck_dense(1, .no_bias = true)));
        ck_assert_ok(ck_model_compile(m, .optimizer = ck_sgd(.learning_rate = 0.1), .loss = "mse"));
        m->params[0] = 1.0f;
        snprintf(m->keras_version, sizeof m->keras_version, "%s", cases[c].version);
        FILE *f = tmpfile();
        ck_assert_ptr_nonnull(f);
        ck_assert_ok(ck_model_fit(m, &x, &y, NULL, .batch_size = 2, .no_shuffle = true,
                                  .verbose = cases[c].verbose, .log = f));
        char text[1024];
        read_back(f, text, sizeof text);
        mask_times(text);
        ck_assert_msg(strcmp(text, cases[c].line) == 0, "%s verbose %d:\n%s", cases[c].version,
                      cases[c].verbose, text);
        ck_model_free(m);
    }
}
END_TEST

/* tf.keras 2.7+ appends ProgbarLogger, so its line follows the other
 * callbacks and shows their "lr"; the keys stay in compile order. Its
 * verbose-2 line ends with the epoch's and the step's times. */
START_TEST(tf_keras_2_7_and_later)
{
    char text[4096];
    const char *versions[] = {"2.15.0", "2.7.0"};
    const char *reduced[] = {REDUCED, REDUCED_PADDED};
    for (int v = 0; v < 2; v++) {
        fit_output(versions[v], 2, 2, 4, true, text, sizeof text);
        char want[1024];
        snprintf(want, sizeof want,
                 "Epoch 1/2\n"
                 "1/1 - #s - loss: 1.0000 - binary_accuracy: 0.0000e+00 - "
                 "val_loss: 1.0000 - val_binary_accuracy: 0.0000e+00 - lr: "
                 "0.1000 - #/epoch - #/step\n"
                 "Epoch 2/2\n%s"
                 "1/1 - #s - loss: 1.0000 - binary_accuracy: 0.0000e+00 - "
                 "val_loss: 1.0000 - val_binary_accuracy: 0.0000e+00 - lr: "
                 "0.1000 - #/epoch - #/step\n",
                 reduced[v]);
        ck_assert_msg(strcmp(text, want) == 0, "%s:\n%s", versions[v], text);
    }
    /* One epoch is not named (ProgbarLogger.on_epoch_begin of v2.6.0 on). */
    fit_output("2.7.0", 1, 1, 2, false, text, sizeof text);
    ck_assert_str_eq(text, "2/2 [==============================] - #s #/step - loss: 1.0000 - "
                           "binary_accuracy: 0.0000e+00 - lr: 0.1000\n");
}
END_TEST

/* The tail of tf.keras 2.7+'s verbose-2 line for given times: each as
 * Progbar._format_time writes it, whole s from 1 s or at 0, else ms from
 * 1 ms, else us, rounded half to even as Python's "%.0f" (65 s stays
 * "65s", 0.9996 s becomes "1000ms"); the step's the epoch's over the
 * steps. Expected strings from generic_utils.py of v2.15.0 run in Python. */
START_TEST(tf_keras_2_7_epoch_times)
{
    const struct {
        double elapsed;
        size_t steps;
        const char *tail;
    } cases[] = {
        {0.013, 4, " - 13ms/epoch - 3ms/step"},   {0, 4, " - 0s/epoch - 0s/step"},
        {2.5, 2, " - 2s/epoch - 1s/step"},        {0.0009, 3, " - 900us/epoch - 300us/step"},
        {1.5, 1000, " - 2s/epoch - 2ms/step"},    {0.9996, 1, " - 1000ms/epoch - 1000ms/step"},
        {65, 100, " - 65s/epoch - 650ms/step"},   {0.0125, 1, " - 12ms/epoch - 12ms/step"},
        {3599.7, 7, " - 3600s/epoch - 514s/step"}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char line[64] = "1/1 - 0s";
        ck_progbar_epoch_times(line, sizeof line, cases[c].elapsed, cases[c].steps);
        ck_assert_str_eq(line + strlen("1/1 - 0s"), cases[c].tail);
    }
}
END_TEST

/* tf.keras 2.6 and standalone Keras 2 ran ProgbarLogger before the
 * callbacks of the call: the line comes first, without the rate.
 * Standalone Keras's Progbar printed no count in verbose 2
 * (generic_utils.py of 2.2.4), and its bar counted samples, with the time
 * per sample as "/step" (count_mode 'samples', training_arrays.py); it
 * named a single epoch too. */
START_TEST(keras2_progbar_first)
{
    const char *versions[] = {"2.6.0", "2.2.4", "2.3.0-tf"};
    const char *counts[] = {"1/1", "", "1/1"};
    for (int v = 0; v < 3; v++) {
        char text[4096], want[1024];
        fit_output(versions[v], 2, 2, 4, false, text, sizeof text);
        snprintf(want, sizeof want,
                 "Epoch 1/2\n"
                 "%s - #s - loss: 1.0000 - binary_accuracy: 0.0000e+00\n"
                 "Epoch 2/2\n"
                 "%s - #s - loss: 1.0000 - binary_accuracy: 0.0000e+00\n" REDUCED_PADDED,
                 counts[v], counts[v]);
        ck_assert_msg(strcmp(text, want) == 0, "%s:\n%s", versions[v], text);
    }
    char text[4096];
    fit_output("2.2.4", 1, 1, 2, false, text, sizeof text);
    ck_assert_str_eq(text, "Epoch 1/1\n"
                           "4/4 [==============================] - #s #/step - loss: 1.0000 - "
                           "binary_accuracy: 0.0000e+00\n");
}
END_TEST

/* evaluate's output on a file, times masked: batches of 2 over the 4 samples. */
static void evaluate_output(const char *keras_version, int verbose, char *text, size_t len)
{
    ck_model *m = flat_model(keras_version);
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    double loss, metric;
    ck_assert_ok(ck_model_evaluate_with(
        m, &X, &Y, &(ck_evaluate_options){.batch_size = 2, .verbose = verbose, .log = f}, &loss,
        &metric));
    ck_assert_double_eq(loss, 1.0);
    read_back(f, text, len);
    mask_times(text);
    ck_model_free(m);
}

/* evaluate draws one epoch's bar with no "Epoch" line: ProgbarLogger's
 * on_test_end in tf.keras 2 (callbacks.py of v2.15.0, whose Progbar ends
 * verbose 2 with the times) and Keras 3 (keys sorted); standalone Keras 2's
 * test_loop its own Progbar over the samples, without values, at verbose 1
 * only (training_arrays.py of 2.2.4). */
START_TEST(evaluate_bar_per_release)
{
    const struct {
        const char *version;
        int verbose;
        const char *want;
    } cases[] = {
        {"", 1, "2/2 " BAR20 " #s #/step - binary_accuracy: 0.0000e+00 - loss: 1.0000\n"},
        {"3.0.0", 1, "2/2 " BAR20 " #s #/step - binary_accuracy: 0.0000e+00 - loss: 1.0000\n"},
        {"3.15.1", 2, "2/2 - #s - #/step - binary_accuracy: 0.0000e+00 - loss: 1.0000\n"},
        {"2.15.0", 1,
         "2/2 [==============================] - #s #/step - loss: 1.0000 - "
         "binary_accuracy: 0.0000e+00\n"},
        {"2.15.0", 2, "2/2 - #s - loss: 1.0000 - binary_accuracy: 0.0000e+00 - #/epoch - #/step\n"},
        {"2.2.4", 1, "4/4 [==============================] - #s #/step\n"},
        {"2.2.4", 2, ""},
        {"2.15.0", 0, ""},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char text[1024];
        evaluate_output(cases[c].version, cases[c].verbose, text, sizeof text);
        ck_assert_msg(strcmp(text, cases[c].want) == 0, "%s verbose %d:\n%s", cases[c].version,
                      cases[c].verbose, text);
    }
}
END_TEST

/* Step 1 builds and compiles in Keras: a callback stands in for it. */
static ck_status slow_first_step(ck_model *m, int batch, const ck_epoch_logs *logs, void *user)
{
    (void)m, (void)logs, (void)user;
    struct timespec pause = {0, 300 * 1000 * 1000};
    if (batch == 0)
        nanosleep(&pause, NULL);
    return CK_OK;
}

/* The time per step of verbose 1's last line, in ms. */
static double verbose1_step_ms(const char *keras_version)
{
    ck_model *m = flat_model(keras_version);
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    ck_assert_ok(ck_model_fit(m, &X, &Y, NULL, .epochs = 1, .batch_size = 1, .verbose = 1, .log = f,
                              .callbacks = {ck_cb_lambda(.on_batch_end = slow_first_step)}));
    char text[1024];
    read_back(f, text, sizeof text);
    ck_model_free(m);
    const char *at = strstr(text, "] - ");
    ck_assert_ptr_nonnull(at);
    double t = 0;
    char unit[4] = "";
    ck_assert_int_eq(sscanf(at, "] - %*ds %lf%2[mu]s/step", &t, unit), 2);
    return unit[0] == 'u' ? t / 1e3 : t;
}

/* Progbar._estimate_step_duration: tf.keras 2.6+ leaves step 1 out of
 * verbose 1's time per step (its ProgbarLogger, last from 2.7, sees step 1
 * end after the slow callback), standalone Keras 2 divides the whole
 * epoch's time, 300 ms of it in step 1, by the 4 steps. */
START_TEST(tf_keras_2_6_leaves_step_1_out)
{
    ck_assert_double_lt(verbose1_step_ms("2.15.0"), 50);
    ck_assert_double_ge(verbose1_step_ms("2.2.4"), 75);
}
END_TEST

/* The callbacks' messages padded the epoch to 5 digits ("Epoch %05d")
 * until tf.keras 2.8 wrote them as f-strings; EarlyStopping's message on
 * restoring the best weights had no period in standalone Keras, one in
 * tf.keras up to 2.6, the best epoch from 2.7 (callbacks.py of 2.2.4,
 * v2.6.0, v2.7.0, v2.8.0). With every loss equal, EarlyStopping stops
 * after epoch 2 of 3. */
START_TEST(early_stopping_messages_per_release)
{
    const struct {
        const char *version, *stop, *restore;
    } cases[] = {{"2.2.4", "Epoch 00002: early stopping", "the best epoch\n"},
                 {"2.6.0", "Epoch 00002: early stopping", "the best epoch.\n"},
                 {"2.7.0", "Epoch 00002: early stopping", "the best epoch: 1.\n"},
                 {"2.8.0", "Epoch 2: early stopping", "the best epoch: 1.\n"},
                 {"3.6.0", "Epoch 2: early stopping", "the best epoch: 1.\n"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_model *m = flat_model(cases[i].version);
        FILE *f = tmpfile();
        ck_assert_ptr_nonnull(f);
        ck_assert_ok(ck_model_fit(
            m, &X, &Y, NULL, .epochs = 3, .log = f,
            .callbacks = {ck_cb_early_stopping(.monitor = "loss", .patience = 1,
                                               .restore_best_weights = true, .verbose = 1)}));
        char text[2048], restore[128];
        read_back(f, text, sizeof text);
        snprintf(restore, sizeof restore, "Restoring model weights from the end of %s",
                 cases[i].restore);
        ck_assert_msg(strstr(text, cases[i].stop), "%s:\n%s", cases[i].version, text);
        ck_assert_msg(strstr(text, restore), "%s:\n%s", cases[i].version, text);
        ck_model_free(m);
    }
}
END_TEST

/* A pseudo-terminal that passes bytes as written (no \r before \n);
 * NULL (skipped) where the system has none. */
static FILE *open_terminal(int *master)
{
    *master = posix_openpt(O_RDWR | O_NOCTTY);
    if (*master < 0) {
        ck_test_skip("no pseudo-terminal for the terminal progress bar");
        return NULL;
    }
    ck_assert_int_eq(grantpt(*master), 0);
    ck_assert_int_eq(unlockpt(*master), 0);
    int slave = open(ptsname(*master), O_RDWR | O_NOCTTY);
    ck_assert_int_ge(slave, 0);
    struct termios t;
    ck_assert_int_eq(tcgetattr(slave, &t), 0);
    t.c_oflag &= ~(tcflag_t)OPOST;
    ck_assert_int_eq(tcsetattr(slave, TCSANOW, &t), 0);
    fcntl(*master, F_SETFL, O_NONBLOCK);
    return fdopen(slave, "w");
}

#define BAR5 "━━━━━"
#define BAR10 BAR5 BAR5

/* What fit, or evaluate, of the flat model in batches of 2 writes at
 * verbose 1 to a terminal, times masked, without the blanks that clear a
 * longer live line (they depend on the times); false when there is no
 * pseudo-terminal. */
static bool terminal_output(bool evaluate, char *text, size_t len)
{
    int master;
    FILE *tty = open_terminal(&master);
    if (!tty)
        return false;
    ck_model *m = flat_model("");
    if (evaluate)
        ck_assert_ok(ck_model_evaluate_with(
            m, &X, &Y, &(ck_evaluate_options){.batch_size = 2, .verbose = 1, .log = tty}, NULL,
            NULL));
    else
        ck_assert_ok(ck_model_fit(m, &X, &Y, NULL, .batch_size = 2, .verbose = 1, .log = tty));
    fclose(tty);
    size_t n = 0;
    for (ssize_t got; n < len - 1 && (got = read(master, text + n, len - 1 - n)) > 0;)
        n += (size_t)got;
    close(master);
    ck_assert_uint_gt(n, 0);
    text[n] = '\0';
    mask_times(text);
    char *end = strchr(text, '\n');
    ck_assert_ptr_nonnull(end);
    char *blank = end;
    while (blank > text && blank[-1] == ' ')
        blank--;
    memmove(blank, end, strlen(end) + 1);
    ck_model_free(m);
    return true;
}

/* On a terminal Keras 3 redraws the bar after each step with \r, the
 * count and times bold, the done part green and the rest white; evaluate
 * draws it as fit does (without the "Epoch" line, which one epoch has not). */
START_TEST(keras3_on_a_terminal)
{
    for (int evaluate = 0; evaluate < 2; evaluate++) {
        char text[4096];
        if (!terminal_output(evaluate, text, sizeof text))
            return;
        ck_assert_msg(strcmp(text, "\r\x1b[1m1/2\x1b[0m \33[32m" BAR10 "\x1b[0m\33[37m" BAR10
                                   "\x1b[0m \x1b[1m#s\x1b[0m #/step - binary_accuracy: "
                                   "0.0000e+00 - loss: 1.0000"
                                   "\r\x1b[1m2/2\x1b[0m \33[32m" BAR10 BAR10
                                   "\x1b[0m\33[37m\x1b[0m \x1b[1m#s\x1b[0m #/step - "
                                   "binary_accuracy: 0.0000e+00 - loss: 1.0000\n") == 0,
                      "%s:\n%s", evaluate ? "evaluate" : "fit", text);
    }
}
END_TEST

static double keep(int epoch, double lr, void *user_data)
{
    (void)epoch;
    (void)user_data;
    return lr;
}

static void assert_keys(const ck_history *h, const char *const *keys, int n)
{
    ck_assert_int_eq(ck_history_key_count(h), n);
    for (int i = 0; i < n; i++)
        ck_assert_str_eq(ck_history_key(h, i), keys[i]);
}

/* The History lists the logged keys as the progress line does. */
START_TEST(history_keys_per_release)
{
    const char *k3[] = {"binary_accuracy", "loss", "val_binary_accuracy", "val_loss",
                        "learning_rate"};
    const char *k2[] = {"loss", "binary_accuracy", "val_loss", "val_binary_accuracy", "lr"};
    const char *versions[] = {"", "3.7.0", "2.15.0", "2.2.4"};
    for (int v = 0; v < 4; v++) {
        ck_model *m = flat_model(versions[v]);
        ck_history *h;
        ck_assert_ok(ck_model_fit(m, &X, &Y, &h, .epochs = 2, .validation_x = &X,
                                  .validation_y = &Y,
                                  .callbacks = {ck_cb_reduce_lr_on_plateau("loss")}));
        assert_keys(h, v < 2 ? k3 : k2, 5);
        double lr;
        ck_assert_ok(ck_history_get(h, v < 2 ? "learning_rate" : "lr", 1, &lr));
        ck_assert_close(lr, (float)0.1, 0);
        ck_history_free(h);
        ck_model_free(m);
    }
}
END_TEST

/* Keras 3.0 to 3.6 sorted the training and the validation logs apart
 * (Trainer._pythonify_logs of v3.6.0), 3.7 all of them at once
 * (python_utils.pythonify_logs): a key after "val_" tells them apart. */
START_TEST(keras3_sorts_validation_apart_before_3_7)
{
    const char *apart[] = {"binary_accuracy",     "loss",     "weighted_binary_accuracy",
                           "val_binary_accuracy", "val_loss", "val_weighted_binary_accuracy"};
    const char *together[] = {"binary_accuracy",
                              "loss",
                              "val_binary_accuracy",
                              "val_loss",
                              "val_weighted_binary_accuracy",
                              "weighted_binary_accuracy"};
    const char *versions[] = {"3.6.0", "3.7.0", ""};
    for (int v = 0; v < 3; v++) {
        ck_model *m = ck_sequential(.seed = 3);
        ck_assert_ok(ck_model_add(m, ck_input(1)));
        ck_assert_ok(ck_model_add(m, ck_dense(1)));
        ck_assert_ok(ck_model_compile(m, .optimizer = ck_sgd(), .loss = "mse",
                                      .metrics = {"binary_accuracy"},
                                      .weighted_metrics = {"binary_accuracy"}));
        snprintf(m->keras_version, sizeof m->keras_version, "%s", versions[v]);
        ck_history *h;
        ck_assert_ok(
            ck_model_fit(m, &X, &Y, &h, .epochs = 1, .validation_x = &X, .validation_y = &Y));
        assert_keys(h, v == 0 ? apart : together, 6);
        ck_history_free(h);
        ck_model_free(m);
    }
}
END_TEST

/* The callbacks' messages changed over standalone Keras 2 (callbacks.py of
 * each release): the epoch's index, not its number, until 2.0.9;
 * ModelCheckpoint's on a line of its own and ReduceLROnPlateau's naming
 * the callback from 2.1.3; "did not improve from <best>" from 2.1.6;
 * LearningRateScheduler "reducing" until 2.2.1, then "setting".
 * ModelCheckpoint's first best is inf, None from Keras 3.11
 * (MonitorCallback). With every loss equal, the rate halves after one
 * epoch without improvement (two before 2.1.6) and training stops after
 * two (three before 2.0.9). */
static void fit_messages(const char *version, char *text, size_t len)
{
    ck_model *m = flat_model(version);
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    const char *path = ck_test_path("messages.weights.h5");
    ck_assert_ok(ck_model_fit(
        m, &X, &Y, NULL, .epochs = 4, .log = f,
        .callbacks = {ck_cb_model_checkpoint(path, .monitor = "loss", .save_best_only = true,
                                             .save_weights_only = true, .verbose = 1),
                      ck_cb_reduce_lr_on_plateau(.monitor = "loss", .factor = 0.5, .patience = 1,
                                                 .verbose = 1),
                      ck_cb_early_stopping(.monitor = "loss", .patience = 2, .verbose = 1)}));
    ck_assert_ok(ck_model_fit(m, &X, &Y, NULL, .epochs = 1, .log = f,
                              .callbacks = {ck_cb_learning_rate_scheduler(keep, .verbose = 1)}));
    read_back(f, text, len);
    ck_model_free(m);
}

#define HALF "0.05000000074505806.\n"

START_TEST(callback_messages_per_release)
{
    const struct {
        const char *version, *first, *second, *plateau, *stop, *scheduler;
    } cases[] = {
        {"2.0.8", "Epoch 00000: loss improved from inf to 1.00000, saving model to /",
         "h5\nEpoch 00001: loss did not improve\n",
         "\nEpoch 00002: reducing learning rate to " HALF, "Epoch 00003: early stopping\n",
         "\nEpoch 00000: LearningRateScheduler reducing"},
        {"2.0.9", "Epoch 00001: loss improved from inf", "h5\nEpoch 00002: loss did not improve\n",
         "\nEpoch 00003: reducing learning rate to " HALF, "Epoch 00003: early stopping\n",
         "\nEpoch 00001: LearningRateScheduler reducing"},
        {"2.1.3", "\nEpoch 00001: loss improved from inf",
         "h5\n\nEpoch 00002: loss did not improve\n",
         "\nEpoch 00003: ReduceLROnPlateau reducing learning rate to " HALF,
         "Epoch 00003: early stopping\n", "\nEpoch 00001: LearningRateScheduler reducing"},
        {"2.1.6", "\nEpoch 00001: loss improved from inf",
         "h5\n\nEpoch 00002: loss did not improve from 1.00000\n",
         "\nEpoch 00002: ReduceLROnPlateau reducing learning rate to " HALF,
         "Epoch 00003: early stopping\n", "\nEpoch 00001: LearningRateScheduler reducing"},
        {"2.2.1", "\nEpoch 00001: loss improved from inf",
         "h5\n\nEpoch 00002: loss did not improve from 1.00000\n",
         "\nEpoch 00002: ReduceLROnPlateau reducing learning rate to " HALF,
         "Epoch 00003: early stopping\n", "\nEpoch 00001: LearningRateScheduler setting"},
        {"2.7.0", "\nEpoch 00001: loss improved from inf",
         "h5\n\nEpoch 00002: loss did not improve from 1.00000\n",
         "\nEpoch 00002: ReduceLROnPlateau reducing learning rate to " HALF,
         "Epoch 00003: early stopping\n", "\nEpoch 00001: LearningRateScheduler setting"},
        {"3.10.0", "\nEpoch 1: loss improved from inf to 1.00000, saving model to /",
         "h5\n\nEpoch 2: loss did not improve from 1.00000\n",
         "\nEpoch 2: ReduceLROnPlateau reducing learning rate to " HALF,
         "Epoch 3: early stopping\n", "\nEpoch 1: LearningRateScheduler setting"},
        {"3.11.0", "\nEpoch 1: loss improved from None to 1.00000, saving model to /",
         "h5\n\nEpoch 2: loss did not improve from 1.00000\n",
         "\nEpoch 2: ReduceLROnPlateau reducing learning rate to " HALF,
         "Epoch 3: early stopping\n", "\nEpoch 1: LearningRateScheduler setting"},
        {"", "\nEpoch 1: loss improved from None", "h5\n\nEpoch 2: loss did not improve from 1.",
         "\nEpoch 2: ReduceLROnPlateau reducing learning rate to " HALF,
         "Epoch 3: early stopping\n", "\nEpoch 1: LearningRateScheduler setting"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[4096];
        fit_messages(cases[i].version, text, sizeof text);
        const char *want[] = {cases[i].first, cases[i].second, cases[i].plateau, cases[i].stop,
                              cases[i].scheduler};
        for (int k = 0; k < 5; k++)
            ck_assert_msg(strstr(text, want[k]), "%s: no \"%s\" in:\n%s", cases[i].version, want[k],
                          text);
    }
}
END_TEST

/* A NaN initial_value_threshold is Keras's best as given, which no value
 * beats (model_checkpoint.py of v3.6.0); ckeras took it for no best. */
START_TEST(checkpoint_nan_threshold_never_beaten)
{
    ck_model *m = flat_model("3.6.0");
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    const char *path = ck_test_path("nan_threshold.weights.h5");
    unlink(path);
    ck_assert_ok(ck_model_fit(m, &X, &Y, NULL, .epochs = 1, .log = f,
                              .callbacks = {ck_cb_model_checkpoint(
                                  path, .monitor = "loss", .save_best_only = true,
                                  .save_weights_only = true, .use_initial_value_threshold = true,
                                  .initial_value_threshold = NAN, .verbose = 1)}));
    char text[1024];
    read_back(f, text, sizeof text);
    ck_assert_msg(strstr(text, "\nEpoch 1: loss did not improve from nan\n"), "%s", text);
    ck_assert_int_ne(access(path, F_OK), 0);
    ck_model_free(m);
}
END_TEST

/* Fits two epochs with ReduceLROnPlateau and a CSVLogger (first, or
 * after it) and checks the file the logger wrote. */
static void assert_csv_log(const char *version, bool logger_first, const char *want)
{
    const char *path = ck_test_path("log.csv");
    ck_model *m = flat_model(version);
    ck_callback_spec plateau = ck_cb_reduce_lr_on_plateau("loss", .patience = 1, .factor = 0.5),
                     logger = ck_cb_csv_logger(path);
    ck_assert_ok(ck_model_fit(m, &X, &Y, NULL, .epochs = 2,
                              .callbacks = {logger_first ? logger : plateau,
                                            logger_first ? plateau : logger}));
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    char text[1024];
    read_back(f, text, sizeof text);
    ck_assert_msg(strcmp(text, want) == 0, "%s:\n%s", version, text);
    ck_model_free(m);
}

/* CSVLogger added val_ columns (NA without validation) from tf.keras
 * 2.13 (keras-team/keras 5aa5fb60f3) and in Keras 3; Keras 2 logged the
 * rate as the optimizer's float32, which the csv module writes as NumPy's
 * str ("0.1"), Keras 3 as a Python float (callbacks.py of 2.2.4, v2.12.0,
 * v2.13.1; csv_logger.py and reduce_lr_on_plateau.py of v3.6.0). */
START_TEST(csv_logger_per_release)
{
    assert_csv_log("2.2.4", false,
                   "epoch,binary_accuracy,loss,lr\r\n0,0.0,1.0,0.1\r\n1,0.0,1.0,0.1\r\n");
    assert_csv_log("2.12.0", false,
                   "epoch,binary_accuracy,loss,lr\r\n0,0.0,1.0,0.1\r\n1,0.0,1.0,0.1\r\n");
    assert_csv_log("2.13.1", false,
                   "epoch,binary_accuracy,loss,lr,val_binary_accuracy,val_loss,val_lr\r\n"
                   "0,0.0,1.0,0.1,NA,NA,NA\r\n1,0.0,1.0,0.1,NA,NA,NA\r\n");
    assert_csv_log("3.6.0", false,
                   "epoch,binary_accuracy,learning_rate,loss,val_binary_accuracy,"
                   "val_learning_rate,val_loss\r\n0,0.0,0.10000000149011612,1.0,NA,NA,NA\r\n"
                   "1,0.0,0.10000000149011612,1.0,NA,NA,NA\r\n");
}
END_TEST

/* Placed before ReduceLROnPlateau, CSVLogger writes when the logs hold no
 * rate yet, and keeps the first epoch's columns (callbacks.py of v2.12.0,
 * csv_logger.py of v3.6.0). */
START_TEST(csv_logger_before_plateau)
{
    assert_csv_log("2.12.0", true, "epoch,binary_accuracy,loss\r\n0,0.0,1.0\r\n1,0.0,1.0\r\n");
    assert_csv_log("3.6.0", true,
                   "epoch,binary_accuracy,loss,val_binary_accuracy,val_loss\r\n"
                   "0,0.0,1.0,NA,NA\r\n1,0.0,1.0,NA,NA\r\n");
}
END_TEST

/* Keras 3.13 on prints a second line once ModelCheckpoint's file is
 * written (model_checkpoint.py of v3.12.0, v3.13.0). */
START_TEST(checkpoint_finished_saving_from_3_13)
{
    const char *versions[] = {"3.12.0", "3.13.0", ""};
    for (int v = 0; v < 3; v++) {
        ck_model *m = flat_model(versions[v]);
        FILE *f = tmpfile();
        ck_assert_ptr_nonnull(f);
        const char *path = ck_test_path("finished.weights.h5");
        ck_assert_ok(ck_model_fit(m, &X, &Y, NULL, .epochs = 1, .log = f,
                                  .callbacks = {ck_cb_model_checkpoint(path, .verbose = 1)}));
        char text[1024], want[512];
        read_back(f, text, sizeof text);
        snprintf(want, sizeof want,
                 "\nEpoch 1: saving model to %s\n\nEpoch 1: finished saving model to %s\n", path,
                 path);
        if (v == 0)
            ck_assert_msg(!strstr(text, "finished saving"), "%s", text);
        else
            ck_assert_msg(strstr(text, want), "%s:\n%s", versions[v], text);
        ck_model_free(m);
    }
}
END_TEST

/* ReduceLROnPlateau reduces while the rate exceeds min_lr: in float32 in
 * tf.keras (v2.6.0), as a double in standalone Keras from 2.1.6, by
 * min_lr * 1e-4 before (2.1.5's lr_epsilon, and its wait counted after
 * the check). The float32 rate 0.05 is above the double 0.05, so 2.2.4
 * "reduces" it to 0.05 at every plateau. */
START_TEST(plateau_floor_per_release)
{
    const struct {
        const char *version;
        int messages;
    } cases[] = {{"2.1.5", 1}, {"2.2.4", 3}, {"2.6.0", 1}, {"3.6.0", 1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_model *m = flat_model(cases[i].version);
        FILE *f = tmpfile();
        ck_assert_ptr_nonnull(f);
        ck_assert_ok(
            ck_model_fit(m, &X, &Y, NULL, .epochs = 4, .log = f,
                         .callbacks = {ck_cb_reduce_lr_on_plateau(
                             "loss", .patience = 1, .factor = 0.5, .min_lr = 0.05, .verbose = 1)}));
        char text[2048];
        read_back(f, text, sizeof text);
        int n = 0;
        for (const char *p = text; (p = strstr(p, "reducing learning rate to")); p++)
            n++;
        ck_assert_msg(n == cases[i].messages, "%s: %d messages:\n%s", cases[i].version, n, text);
        ck_model_free(m);
    }
}
END_TEST

/* Standalone Keras before 2.3 logged accuracy as acc, other metrics by
 * their function's name and every weighted metric with weighted_
 * (training.py of 2.2.4); 2.3 keeps the strings given, and adds weighted_
 * only to a name taken (training_utils.py of 2.3.1). */
START_TEST(metric_keys_of_standalone_keras)
{
    const struct {
        const char *version, *keys[4];
    } cases[] = {{"2.2.4", {"loss", "acc", "mean_squared_error", "weighted_mean_absolute_error"}},
                 {"2.3.1", {"loss", "accuracy", "mse", "mae"}}};
    for (int c = 0; c < 2; c++) {
        ck_model *m = one_unit(cases[c].version, NULL);
        ck_assert_ok(ck_model_compile(m, .optimizer = ck_sgd(.learning_rate = 0.1), .loss = "mse",
                                      .metrics = {"accuracy", "mse"}, .weighted_metrics = {"mae"}));
        ck_history *h;
        ck_assert_ok(ck_model_fit(m, &X, &Y, &h, .epochs = 1));
        assert_keys(h, cases[c].keys, 4);
        ck_history_free(h);
        ck_model_free(m);
    }
}
END_TEST

/* Until Keras 3.11, ModelCheckpoint's "auto" read the monitored name: up
 * only when it holds "acc", so auc went down and its best started at inf
 * (model_checkpoint.py of v3.10.0, callbacks.py of v2.15.0). */
START_TEST(checkpoint_auto_mode_by_name)
{
    const char *versions[] = {"2.2.4", "2.15.0", "3.10.0"};
    for (int v = 0; v < 3; v++) {
        ck_model *m = one_unit(versions[v], "sigmoid");
        ck_assert_ok(ck_model_compile(m, .optimizer = ck_sgd(), .loss = "binary_crossentropy",
                                      .metrics = {"auc"}));
        FILE *f = tmpfile();
        ck_assert_ptr_nonnull(f);
        const char *path = ck_test_path("auc.weights.h5");
        ck_assert_ok(ck_model_fit(
            m, &X, &Y, NULL, .epochs = 1, .log = f,
            .callbacks = {ck_cb_model_checkpoint(path, .monitor = "auc", .save_best_only = true,
                                                 .save_weights_only = true, .verbose = 1)}));
        char text[1024];
        read_back(f, text, sizeof text);
        ck_assert_msg(strstr(text, "auc improved from inf") || strstr(text, "not improve from inf"),
                      "%s:\n%s", versions[v], text);
        ck_model_free(m);
    }
}
END_TEST

/* A save every 2 batches monitoring val_loss, which a batch's logs never
 * hold: tf.keras and Keras up to 3.9 warn and skip it (so does a model
 * of standalone Keras, which had no batch saves), 3.10 on and a model
 * built in C warn and save; the warning comes once (model_checkpoint.py
 * of v3.9.0, v3.10.0; callbacks.py of v2.15.0). */
START_TEST(checkpoint_batch_without_monitor)
{
    const struct {
        const char *version;
        bool saves;
    } cases[] = {
        {"2.2.4", false}, {"2.15.0", false}, {"3.9.0", false}, {"3.10.0", true}, {"", true}};
    for (int c = 0; c < 5; c++) {
        ck_model *m = flat_model(cases[c].version);
        const char *path = ck_test_path("every-2-batches.h5");
        unlink(path);
        ck_assert_ok(ck_model_fit(
            m, &X, &Y, NULL, .epochs = 2, .batch_size = 1, .validation_split = 0.5,
            .callbacks = {ck_cb_model_checkpoint(path, .save_best_only = true, .save_freq = 2)}));
        ck_assert_msg((access(path, F_OK) == 0) == cases[c].saves, "%s", cases[c].version);
        const char *w = ck_model_warnings(m),
                   *first = strstr(w, "Can save best model only with val_loss available");
        ck_assert_msg(first && !strstr(first + 1, "Can save best"), "%s: %s", cases[c].version, w);
        ck_assert_msg(strstr(first, cases[c].saves ? "available.\n" : "available, skipping.\n"),
                      "%s: %s", cases[c].version, w);
        ck_model_free(m);
    }
}
END_TEST

/* LearningRateScheduler logged the rate from standalone Keras 2.2.3 on
 * (keras-team/keras cf7d3d259f), as "lr" until Keras 3. */
START_TEST(scheduler_key_per_release)
{
    const struct {
        const char *version, *key;
    } cases[] = {{"2.2.2", NULL}, {"2.2.3", "lr"}, {"2.11.0", "lr"}, {"", "learning_rate"}};
    for (int c = 0; c < 4; c++) {
        ck_model *m = flat_model(cases[c].version);
        ck_history *h;
        ck_assert_ok(ck_model_fit(m, &X, &Y, &h, .epochs = 1,
                                  .callbacks = {ck_cb_learning_rate_scheduler(keep, NULL)}));
        const char *k2[] = {"loss", "binary_accuracy", cases[c].key};
        const char *k3[] = {"binary_accuracy", "loss", cases[c].key};
        assert_keys(h, cases[c].version[0] ? k2 : k3, cases[c].key ? 3 : 2);
        ck_history_free(h);
        ck_model_free(m);
    }
}
END_TEST

static Suite *progress_suite(void)
{
    Suite *s = suite_create("progress");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, time_masking);
    tcase_add_test(tc, keras3_verbose2);
    tcase_add_test(tc, keras3_verbose1);
    tcase_add_test(tc, keras3_on_a_terminal);
    tcase_add_test(tc, keras3_bar_averaged_before_3_15);
    tcase_add_test(tc, tf_keras_2_7_and_later);
    tcase_add_test(tc, tf_keras_2_7_epoch_times);
    tcase_add_test(tc, keras2_progbar_first);
    tcase_add_test(tc, tf_keras_2_6_leaves_step_1_out);
    tcase_add_test(tc, early_stopping_messages_per_release);
    tcase_add_test(tc, evaluate_bar_per_release);
    tcase_add_test(tc, callback_messages_per_release);
    tcase_add_test(tc, checkpoint_nan_threshold_never_beaten);
    tcase_add_test(tc, csv_logger_per_release);
    tcase_add_test(tc, csv_logger_before_plateau);
    tcase_add_test(tc, checkpoint_finished_saving_from_3_13);
    tcase_add_test(tc, plateau_floor_per_release);
    tcase_add_test(tc, metric_keys_of_standalone_keras);
    tcase_add_test(tc, checkpoint_auto_mode_by_name);
    tcase_add_test(tc, checkpoint_batch_without_monitor);
    tcase_add_test(tc, history_keys_per_release);
    tcase_add_test(tc, scheduler_key_per_release);
    tcase_add_test(tc, keras3_sorts_validation_apart_before_3_7);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ck_test_run(progress_suite());
}
