/* fit / evaluate / train_on_batch: learning, determinism, callbacks,
 * early stopping, NaN handling and the progress output. */
#include "ck_test.h"
#include "ck_internal.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static float XOR_X[] = {0, 0, 0, 1, 1, 0, 1, 1}, XOR_Y[] = {0, 1, 1, 0};

static ck_model *xor_model(uint64_t seed)
{
    ck_model *m = ck_sequential(.seed = seed);
    ck_assert_ok(ck_model_add(m, ck_input(2)));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 8, .activation = "tanh")));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 1, .activation = "sigmoid")));
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_adam(.learning_rate = 0.05),
                                  .loss = "binary_crossentropy", .metrics = {"accuracy"}));
    return m;
}

START_TEST(learns_xor)
{
    ck_model *m = xor_model(1);
    ck_tensor x = {2, {4, 2}, XOR_X}, y = {2, {4, 1}, XOR_Y};
    ck_history *h = NULL;
    ck_assert_ok(ck_model_fit(m, &x, &y, &h, .epochs = 300, .batch_size = 4));
    double loss, acc;
    ck_assert_ok(ck_model_evaluate(m, &x, &y, 0, &loss, &acc));
    ck_assert_msg(acc == 1.0, "XOR accuracy %g (loss %g)", acc, loss);
    ck_assert_double_lt(loss, 0.1);
    double last;
    ck_assert_ok(ck_history_get(h, "accuracy", 299, &last));
    ck_assert_double_eq(last, 1.0);
    ck_assert_int_eq(ck_history_epochs(h), 300);
    ck_assert_fails(ck_history_get(h, "val_loss", 0, &last), CK_ERR_NAME);
    ck_assert_fails(ck_history_get(h, "loss", 300, &last), CK_ERR_ARGUMENT);
    ck_history_free(h);
    ck_model_free(m);
}
END_TEST

/* Three classes: which of three features has the largest sum over time. */
static void sequence_data(int n, float *x, float *y, uint64_t seed)
{
    ck_rng rng;
    ck_rng_seed(&rng, seed);
    for (int i = 0; i < n; i++) {
        double sum[3] = {0};
        for (int t = 0; t < 5; t++)
            for (int f = 0; f < 3; f++) {
                float v = (float)ck_rng_uniform(&rng);
                x[(i * 5 + t) * 3 + f] = v;
                sum[f] += v;
            }
        y[i] = (float)(sum[1] > sum[0] ? (sum[2] > sum[1] ? 2 : 1) : (sum[2] > sum[0] ? 2 : 0));
    }
}

START_TEST(lstm_learns_sequences)
{
    enum { N = 48 };
    static float x[N * 15], y[N];
    sequence_data(N, x, y, 9);
    ck_model *m = ck_sequential(.seed = 2);
    ck_assert_ok(ck_model_add(m, ck_input(5, 3)));
    ck_assert_ok(ck_model_add(m, ck_lstm(.units = 16)));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 3, .activation = "softmax")));
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_adam(.learning_rate = 0.02),
                                  .loss = "sparse_categorical_crossentropy", .metrics = {"acc"}));
    ck_tensor xt = {3, {N, 5, 3}, x}, yt = {1, {N}, y};
    ck_assert_ok(ck_model_fit(m, &xt, &yt, NULL, .epochs = 150, .batch_size = 16));
    double loss, acc;
    ck_assert_ok(ck_model_evaluate(m, &xt, &yt, 7, &loss, &acc));
    ck_assert_msg(acc == 1.0, "sequence accuracy %g (loss %g)", acc, loss);
    ck_model_free(m);
}
END_TEST

START_TEST(same_seed_same_history)
{
    enum { N = 40 };
    static float x[N * 15], y[N];
    sequence_data(N, x, y, 3);
    ck_tensor xt = {3, {N, 5, 3}, x}, yt = {2, {N, 1}, y};
    ck_history *h[2];
    float *params[2];
    for (int r = 0; r < 2; r++) {
        ck_model *m = ck_sequential(.seed = 42);
        ck_assert_ok(ck_model_add(m, ck_input(5, 3)));
        ck_assert_ok(
            ck_model_add(m, ck_lstm(.units = 4, .dropout = 0.2, .recurrent_dropout = 0.1)));
        ck_assert_ok(ck_model_add(m, ck_dropout(.rate = 0.3)));
        ck_assert_ok(ck_model_add(m, ck_dense(.units = 3, .activation = "softmax")));
        ck_assert_ok(ck_model_compile(m, .optimizer = {.name = "rmsprop"},
                                      .loss = "sparse_categorical_crossentropy",
                                      .metrics = {"accuracy"}));
        ck_assert_ok(ck_model_fit(m, &xt, &yt, &h[r], .epochs = 4, .batch_size = 8,
                                  .validation_split = 0.25));
        params[r] = malloc(m->n_params * sizeof(float));
        memcpy(params[r], m->params, m->n_params * sizeof(float));
        if (r == 1)
            ck_assert_int_eq(memcmp(params[0], params[1], m->n_params * sizeof(float)), 0);
        ck_model_free(m);
    }
    const char *keys[] = {"loss", "accuracy", "val_loss", "val_accuracy"};
    for (int e = 0; e < 4; e++)
        for (int k = 0; k < 4; k++) {
            double a, b;
            ck_assert_ok(ck_history_get(h[0], keys[k], e, &a));
            ck_assert_ok(ck_history_get(h[1], keys[k], e, &b));
            ck_assert_int_eq(memcmp(&a, &b, sizeof a), 0);
            ck_assert(isfinite(a));
        }
    double l0, l3;
    ck_history_get(h[0], "loss", 0, &l0);
    ck_history_get(h[0], "loss", 3, &l3);
    ck_assert_double_lt(l3, l0);
    for (int r = 0; r < 2; r++) {
        ck_history_free(h[r]);
        free(params[r]);
    }
}
END_TEST

/* With no shuffling and one batch, an epoch is exactly one optimizer step. */
START_TEST(one_epoch_is_one_step)
{
    ck_tensor x = {2, {4, 2}, XOR_X}, y = {2, {4, 1}, XOR_Y};
    ck_model *a = xor_model(5), *b = xor_model(5);
    ck_assert_ok(ck_model_fit(a, &x, &y, NULL, .epochs = 1, .batch_size = 4, .no_shuffle = true));
    double loss;
    ck_assert_ok(ck_model_train_on_batch(b, &x, &y, &loss));
    ck_assert_int_eq(memcmp(a->params, b->params, a->n_params * sizeof(float)), 0);
    ck_model_free(a);
    ck_model_free(b);
}
END_TEST

typedef struct watch {
    int calls, stop_at;
    float *saved; /* weights after epoch 0 */
    size_t n;
} watch;

static bool on_epoch(ck_model *m, const ck_epoch_logs *logs, void *user)
{
    watch *w = user;
    w->calls++;
    ck_assert_int_eq(logs->epoch, w->calls - 1);
    ck_assert_str_eq(logs->metric_names[0], "accuracy");
    if (logs->epoch == 0) {
        w->n = m->n_params;
        w->saved = malloc(w->n * sizeof(float));
        memcpy(w->saved, m->params, w->n * sizeof(float));
    }
    return w->calls == w->stop_at;
}

START_TEST(callback_stops)
{
    ck_tensor x = {2, {4, 2}, XOR_X}, y = {2, {4, 1}, XOR_Y};
    ck_model *m = xor_model(1);
    watch w = {.stop_at = 2};
    ck_history *h = NULL;
    /* A stop requested by a callback is a normal end, its reason in the history. */
    ck_assert_ok(
        ck_model_fit(m, &x, &y, &h, .epochs = 10, .on_epoch_end = on_epoch, .user_data = &w));
    ck_assert_int_eq(w.calls, 2);
    ck_assert_int_eq(ck_history_epochs(h), 2);
    ck_assert_str_eq(ck_history_stop_reason(h),
                     "training stopped by the epoch callback after epoch 2");
    ck_history_free(h);
    free(w.saved);
    ck_model_free(m);
}
END_TEST

START_TEST(early_stopping_restores_best)
{
    ck_tensor x = {2, {4, 2}, XOR_X}, y = {2, {4, 1}, XOR_Y};
    ck_model *m = xor_model(1);
    watch w = {0};
    ck_history *h = NULL;
    /* No epoch can beat the first by 1e9, so training stops after 1 + patience epochs. */
    ck_assert_ok(ck_model_fit(
        m, &x, &y, &h, .epochs = 50, .on_epoch_end = on_epoch, .user_data = &w, .validation_x = &x,
        .validation_y = &y,
        .early_stopping = {
            .monitor = "val_loss", .patience = 2, .min_delta = 1e9, .restore_best_weights = true}));
    ck_assert_int_eq(ck_history_epochs(h), 3);
    ck_assert_str_eq(ck_history_stop_reason(h),
                     "EarlyStopping: val_loss did not improve for 2 epochs; stopped after epoch 3");
    /* The callback sees the epoch that triggers the stop too. */
    ck_assert_int_eq(w.calls, 3);
    ck_assert_int_eq(memcmp(w.saved, m->params, w.n * sizeof(float)), 0);
    ck_history_free(h);
    free(w.saved);
    /* Monitoring something that is not computed is an error up front. */
    ck_assert_fails(ck_model_fit(m, &x, &y, NULL, .early_stopping = {.monitor = "val_accuracy"}),
                    CK_ERR_ARGUMENT);
    ck_model_free(m);
}
END_TEST

/* Without an early stop, tf.keras up to 2.15 keeps the last weights, and
 * Keras 3 and tf_keras 2.16+ (EarlyStopping.on_train_end) restore the best
 * ones. */
START_TEST(early_stopping_restore_at_end_by_semantics)
{
    ck_tensor x = {2, {4, 2}, XOR_X}, y = {2, {4, 1}, XOR_Y};
    const struct {
        ck_keras_semantics semantics;
        const char *version;
        bool restores;
    } cases[] = {{CK_KERAS2, "", false},
                 {CK_KERAS2, "2.15.0", false},
                 {CK_KERAS2, "2.16.0", true},
                 {CK_KERAS3, "", true}};
    for (int k = 0; k < 4; k++) {
        ck_model *m = ck_sequential(.seed = 1, .semantics = cases[k].semantics);
        snprintf(m->keras_version, sizeof m->keras_version, "%s", cases[k].version);
        ck_assert_ok(ck_model_add(m, ck_input(2)));
        ck_assert_ok(ck_model_add(m, ck_dense(.units = 8, .activation = "tanh")));
        ck_assert_ok(ck_model_add(m, ck_dense(.units = 1, .activation = "sigmoid")));
        ck_assert_ok(ck_model_compile(m, .optimizer = ck_adam(.learning_rate = 0.05),
                                      .loss = "binary_crossentropy", .metrics = {"accuracy"}));
        watch w = {0};
        /* Only epoch 0 counts as an improvement; patience outlasts the run. */
        ck_assert_ok(ck_model_fit(m, &x, &y, NULL, .epochs = 4, .on_epoch_end = on_epoch,
                                  .user_data = &w,
                                  .early_stopping = {.monitor = "loss",
                                                     .patience = 10,
                                                     .min_delta = 1e9,
                                                     .restore_best_weights = true}));
        ck_assert_int_eq(w.calls, 4);
        bool same = memcmp(w.saved, m->params, w.n * sizeof(float)) == 0;
        ck_assert_msg(same == cases[k].restores, "case %d: best weights restored: %d", k, same);
        free(w.saved);
        ck_model_free(m);
    }
}
END_TEST

/* Validation data with other timesteps than the training data (open
 * time axis) is sliced by its own sample size. */
START_TEST(validation_with_other_timesteps)
{
    enum { N = 8, T = 5, NV = 6, TV = 9 };
    static float x[N * T * 3], y[N], vx[NV * TV * 3], vy[NV];
    ck_rng rng;
    ck_rng_seed(&rng, 3);
    for (int i = 0; i < N * T * 3; i++)
        x[i] = (float)ck_rng_uniform(&rng);
    for (int i = 0; i < NV * TV * 3; i++)
        vx[i] = (float)ck_rng_uniform(&rng);
    for (int i = 0; i < N; i++)
        y[i] = (float)(i % 3);
    for (int i = 0; i < NV; i++)
        vy[i] = (float)((i + 1) % 3);
    ck_model *m = ck_sequential(.seed = 2);
    ck_assert_ok(ck_model_add(m, ck_input(CK_NONE, 3)));
    ck_assert_ok(ck_model_add(m, ck_lstm(.units = 4)));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 3, .activation = "softmax")));
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_adam(.learning_rate = 0.01),
                                  .loss = "sparse_categorical_crossentropy",
                                  .metrics = {"accuracy"}));
    ck_tensor xt = {3, {N, T, 3}, x}, yt = {1, {N}, y}, vxt = {3, {NV, TV, 3}, vx},
              vyt = {1, {NV}, vy};
    ck_history *h = NULL;
    ck_assert_ok(ck_model_fit(m, &xt, &yt, &h, .epochs = 1, .batch_size = 4, .validation_x = &vxt,
                              .validation_y = &vyt));
    double val_loss, val_acc, loss, acc;
    ck_assert_ok(ck_history_get(h, "val_loss", 0, &val_loss));
    ck_assert_ok(ck_history_get(h, "val_accuracy", 0, &val_acc));
    ck_assert_ok(ck_model_evaluate(m, &vxt, &vyt, 4, &loss, &acc));
    ck_assert_close(val_loss, loss, 1e-9);
    ck_assert_close(val_acc, acc, 1e-12);
    ck_history_free(h);
    ck_model_free(m);
}
END_TEST

/* A refused step leaves BatchNormalization's moving statistics as they
 * were: the output overflows to infinity, so the loss is not finite. */
START_TEST(refused_step_keeps_moving_statistics)
{
    ck_model *m = ck_sequential(.seed = 1);
    ck_assert_ok(ck_model_add(m, ck_input(2)));
    ck_assert_ok(ck_model_add(m, ck_batch_normalization()));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 1)));
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_sgd(), .loss = "mse"));
    float xd[] = {0, 0, 1, 2}, yd[] = {0, 1};
    ck_tensor x = {2, {2, 2}, xd}, y = {2, {2, 1}, yd};
    size_t n_frozen = m->n_params - m->n_trainable;
    ck_assert_int_eq(n_frozen, 4);
    float before[4];
    memcpy(before, m->params + m->n_trainable, sizeof before);
    ck_weight *kernel = &m->layers[1]->weights[0];
    ck_assert_str_eq(kernel->name, "kernel");
    kernel->data[0] = kernel->data[1] = 3e38f;
    ck_assert_fails(ck_model_train_on_batch(m, &x, &y, NULL), CK_ERR_NUMERIC);
    ck_assert_int_eq(memcmp(before, m->params + m->n_trainable, sizeof before), 0);
    /* A step that is taken does move them. */
    kernel->data[0] = kernel->data[1] = 0.5f;
    ck_assert_ok(ck_model_train_on_batch(m, &x, &y, NULL));
    ck_assert_close(m->params[m->n_trainable], 0.01 * 0.5, 1e-7); /* (1 - 0.99) * batch mean */
    ck_model_free(m);
}
END_TEST

START_TEST(nan_loss_keeps_finite_weights)
{
    ck_model *m = ck_sequential(.seed = 1);
    ck_assert_ok(ck_model_add(m, ck_input(2)));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 1)));
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_sgd(.learning_rate = 1e30), .loss = "mse"));
    float xd[] = {1e3f, -2e3f, 3e3f, 1e3f}, yd[] = {1, -1};
    ck_tensor x = {2, {2, 2}, xd}, y = {2, {2, 1}, yd};
    ck_history *h = NULL;
    ck_assert_fails(ck_model_fit(m, &x, &y, &h, .epochs = 20, .batch_size = 1, .no_shuffle = true),
                    CK_ERR_NUMERIC);
    for (size_t i = 0; i < m->n_params; i++)
        ck_assert(isfinite(m->params[i]));
    ck_history_free(h);
    ck_model_free(m);
}
END_TEST

/* Finite gradients whose update overflows: the step is undone. */
START_TEST(overflowing_update_is_undone)
{
    ck_model *m = ck_sequential(.seed = 1);
    ck_assert_ok(ck_model_add(m, ck_input(1)));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 1)));
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_sgd(.learning_rate = 1e36), .loss = "mse"));
    float xd[] = {1}, yd[] = {1000};
    ck_tensor x = {2, {1, 1}, xd}, y = {2, {1, 1}, yd};
    float before[2];
    memcpy(before, m->params, sizeof before);
    ck_assert_fails(ck_model_train_on_batch(m, &x, &y, NULL), CK_ERR_NUMERIC);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "last finite"));
    ck_assert_int_eq(memcmp(before, m->params, sizeof before), 0);
    ck_model_free(m);
}
END_TEST

START_TEST(bad_arguments)
{
    ck_model *m = xor_model(1);
    ck_tensor x = {2, {4, 2}, XOR_X}, y = {2, {4, 1}, XOR_Y}, y3 = {2, {3, 1}, XOR_Y};
    float bad[] = {0, 2, 1, 0};
    ck_tensor ybad = {2, {4, 1}, bad}, x3 = {2, {2, 4}, XOR_X};
    ck_assert_fails(ck_model_fit(m, &x, &y3, NULL), CK_ERR_SHAPE);
    ck_assert_fails(ck_model_fit(m, &x3, &y3, NULL), CK_ERR_SHAPE);
    ck_assert_fails(ck_model_fit(m, &x, &y, NULL, .validation_split = 1.5), CK_ERR_ARGUMENT);
    ck_assert_ok(ck_model_compile(m, .optimizer = {.name = "sgd"},
                                  .loss = "sparse_categorical_crossentropy"));
    ck_assert_fails(ck_model_fit(m, &x, &ybad, NULL), CK_ERR_ARGUMENT);
    ck_model *raw = ck_sequential();
    ck_assert_ok(ck_model_add(raw, ck_input(2)));
    ck_assert_ok(ck_model_add(raw, ck_dense(.units = 1)));
    ck_assert_fails(ck_model_fit(raw, &x, &y, NULL), CK_ERR_STATE);
    ck_assert_fails(ck_model_compile(raw, .optimizer = {.name = "sgd"}, .loss = "hinge"),
                    CK_ERR_NAME);
    ck_model_free(raw);
    ck_model_free(m);
}
END_TEST

START_TEST(progress_lines)
{
    ck_tensor x = {2, {4, 2}, XOR_X}, y = {2, {4, 1}, XOR_Y};
    ck_model *m = xor_model(1);
    FILE *f = tmpfile();
    ck_assert_ok(ck_model_fit(m, &x, &y, NULL, .epochs = 2, .batch_size = 2, .verbose = 2, .log = f,
                              .validation_split = 0.5));
    ck_assert_ok(
        ck_model_fit(m, &x, &y, NULL, .epochs = 1, .batch_size = 1, .verbose = 1, .log = f));
    char text[2048] = "";
    rewind(f);
    size_t len = fread(text, 1, sizeof text - 1, f);
    text[len] = '\0';
    fclose(f);
    double l, a, vl, va;
    int s1, s2;
    /* A model built in C prints Keras 3's lines, its keys sorted. */
    ck_assert_msg(sscanf(text,
                         "Epoch 1/2\n%d/%d - 0s - %*d%*[mu]s/step - accuracy: %lf - loss: %lf - "
                         "val_accuracy: %lf - val_loss: %lf\nEpoch 2/2\n",
                         &s1, &s2, &a, &l, &va, &vl) == 6,
                  "unexpected output:\n%s", text);
    ck_assert_int_eq(s1, 1);
    ck_assert_int_eq(s2, 1);
    /* Not a terminal: verbose 1 prints only the final bar of each epoch,
     * and no "Epoch 1/1" for a single epoch. */
    const char *bar = strstr(text, "\n4/4 ━━━━━━━━━━━━━━━━━━━━ 0s ");
    ck_assert_msg(bar != NULL, "no final bar in:\n%s", text);
    ck_assert_ptr_nonnull(strstr(bar, "/step - accuracy: "));
    ck_assert_ptr_null(strstr(text, "Epoch 1/1"));
    ck_assert_ptr_null(strchr(text, '\r'));
    ck_assert_ptr_null(strchr(text, '\x1b'));
    ck_model_free(m);
}
END_TEST

START_TEST(checkpoint_when_io_available)
{
    ck_tensor x = {2, {4, 2}, XOR_X}, y = {2, {4, 1}, XOR_Y};
    ck_model *m = xor_model(1);
    char path[64];
    snprintf(path, sizeof path, "/tmp/ck_fit_ckpt_%ld.h5", (long)getpid());
    ck_status st = ck_model_fit(m, &x, &y, NULL, .epochs = 2, .checkpoint_path = path);
    if (st == CK_ERR_UNSUPPORTED) {
        ck_model_free(m);
        return; /* file I/O has not landed yet */
    }
    ck_assert_msg(st == CK_OK, "fit with checkpoint: %s", ck_last_error());
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    remove(path);
    ck_model_free(m);
}
END_TEST

/* Keras keeps a stateful layer's state as (batch, units) variables: fit
 * and evaluate run the input's declared batch, and refuse any other. */
START_TEST(stateful_declared_batch)
{
    ck_model *m = ck_sequential();
    ck_assert_ok(
        ck_model_add(m, ck_input_new(&(ck_input_options){.shape = {3, 4}, .batch_size = 2})));
    ck_assert_ok(ck_model_add(m, ck_lstm(.units = 4, .stateful = true)));
    ck_assert_ok(ck_model_compile(m, .optimizer = {.name = "sgd"}, .loss = "mse"));
    float x[4 * 12], y[4 * 4] = {0}, out[4 * 4];
    for (int i = 0; i < 48; i++)
        x[i] = (float)((i * 7) % 11) / 10.0f - 0.5f;
    ck_assert_ok(ck_model_predict(m, x, 2, out));
    ck_assert_ok(ck_model_predict(m, x + 24, 2, out + 8));
    double want = 0;
    for (int i = 0; i < 16; i++)
        want += out[i] * out[i] / 16.0;
    ck_tensor xt = {3, {4, 3, 4}, x}, yt = {2, {4, 4}, y}, x3 = {3, {3, 3, 4}, x},
              y3 = {2, {3, 4}, y};
    double loss, loss2;
    ck_assert_ok(ck_model_reset_states(m));
    ck_assert_ok(ck_model_evaluate(m, &xt, &yt, 0, &loss, NULL));
    ck_assert_double_eq_tol(loss, want, 1e-6);
    ck_assert_ok(ck_model_reset_states(m));
    ck_assert_ok(ck_model_evaluate(m, &xt, &yt, 2, &loss2, NULL));
    ck_assert_double_eq(loss2, loss);
    ck_assert_fails(ck_model_evaluate(m, &xt, &yt, 4, &loss, NULL), CK_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "got batch_size 4"));
    ck_assert_fails(ck_model_evaluate(m, &x3, &y3, 0, &loss, NULL), CK_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "3 samples leave a partial batch"));
    ck_assert_fails(ck_model_train_on_batch(m, &xt, &yt, &loss), CK_ERR_SHAPE);
    ck_assert_fails(ck_model_fit(m, &xt, &yt, NULL, .batch_size = 4, .verbose = 0), CK_ERR_SHAPE);
    ck_assert_fails(ck_model_fit(m, &xt, &yt, NULL, .validation_x = &x3, .validation_y = &y3,
                                 .verbose = 0),
                    CK_ERR_SHAPE);
    ck_assert_ok(ck_model_fit(m, &xt, &yt, NULL, .verbose = 0));
    ck_tensor x2 = {3, {2, 3, 4}, x}, y2 = {2, {2, 4}, y};
    ck_assert_ok(ck_model_train_on_batch(m, &x2, &y2, &loss));
    ck_model_free(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("fit");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, learns_xor);
    tcase_add_test(tc, stateful_declared_batch);
    tcase_add_test(tc, lstm_learns_sequences);
    tcase_add_test(tc, same_seed_same_history);
    tcase_add_test(tc, one_epoch_is_one_step);
    tcase_add_test(tc, callback_stops);
    tcase_add_test(tc, early_stopping_restores_best);
    tcase_add_test(tc, early_stopping_restore_at_end_by_semantics);
    tcase_add_test(tc, validation_with_other_timesteps);
    tcase_add_test(tc, refused_step_keeps_moving_statistics);
    tcase_add_test(tc, nan_loss_keeps_finite_weights);
    tcase_add_test(tc, overflowing_update_is_undone);
    tcase_add_test(tc, bad_arguments);
    tcase_add_test(tc, progress_lines);
    tcase_add_test(tc, checkpoint_when_io_available);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ck_test_run(suite());
}
