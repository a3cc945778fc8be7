/* One model shared by threads: concurrent predicts give the serial
 * results for every layer type; training from two threads, and any call
 * from another thread during fit, is refused; a fit callback may make the
 * calls the contract allows and gets CK_ERR_STATE for the others;
 * ck_warm_up is callable while other threads predict; .keras files load
 * from several threads at once. Run
 * under ThreadSanitizer in CI (-DCK_TSAN=ON). */
#include "ck_test.h"

#include "ck_internal.h"
#include "ckeras_export.h"

#include <pthread.h>
#include <string.h>

#define THREADS 4
#define CALLS 1000
#define SAMPLES 8

/* Models that together hold every layer type, each with its input size. */
static ck_model *model_of(int which, int *in_size)
{
    ck_model *m = ck_sequential(.seed = 100 + (uint64_t)which);
    *in_size = 6 * 4;
    switch (which) {
    case 0:
        ck_assert_ok(ck_model_add(m, ck_input(6, 4)));
        ck_assert_ok(ck_model_add(m, ck_masking()));
        ck_assert_ok(ck_model_add(m, ck_conv1d(5, 3, .padding = "same", .activation = "relu")));
        ck_assert_ok(ck_model_add(m, ck_batch_normalization()));
        ck_assert_ok(ck_model_add(m, ck_layer_normalization()));
        ck_assert_ok(ck_model_add(m, ck_lstm(8, .return_sequences = true)));
        ck_assert_ok(ck_model_add(m, ck_gru(6, .return_sequences = true)));
        ck_assert_ok(ck_model_add(m, ck_simple_rnn(5, .return_sequences = true)));
        ck_assert_ok(ck_model_add(m, ck_bidirectional(ck_lstm(4, .return_sequences = true))));
        ck_assert_ok(ck_model_add(m, ck_time_distributed(.layer = ck_dense(3))));
        ck_assert_ok(ck_model_add(m, ck_max_pooling1d()));
        ck_assert_ok(ck_model_add(m, ck_average_pooling1d(.pool_size = 1)));
        ck_assert_ok(ck_model_add(m, ck_global_max_pooling1d()));
        break;
    case 1:
        ck_assert_ok(ck_model_add(m, ck_input(6, 4)));
        ck_assert_ok(ck_model_add(m, ck_gaussian_noise(.stddev = 0.1)));
        ck_assert_ok(ck_model_add(m, ck_spatial_dropout1d(.rate = 0.2)));
        ck_assert_ok(ck_model_add(m, ck_dropout(.rate = 0.2)));
        ck_assert_ok(ck_model_add(m, ck_permute(2, 1)));
        ck_assert_ok(ck_model_add(m, ck_global_average_pooling1d()));
        ck_assert_ok(ck_model_add(m, ck_repeat_vector(.n = 3)));
        ck_assert_ok(ck_model_add(m, ck_flatten()));
        ck_assert_ok(ck_model_add(m, ck_reshape(2, 9)));
        ck_assert_ok(ck_model_add(m, ck_flatten()));
        ck_assert_ok(ck_model_add(m, ck_dense(4, .activation = "relu")));
        ck_assert_ok(ck_model_add(m, ck_activation(.activation = "tanh")));
        ck_assert_ok(ck_model_add(m, ck_softmax()));
        break;
    default:
        *in_size = 5;
        ck_assert_ok(ck_model_add(m, ck_input(5)));
        ck_assert_ok(ck_model_add(m, ck_embedding(10, 4, .mask_zero = true)));
        ck_assert_ok(ck_model_add(m, ck_lstm(3)));
        ck_assert_ok(ck_model_add(m, ck_dense(2, .activation = "sigmoid")));
        break;
    }
    ck_assert_ok(ck_model_build(m));
    return m;
}

typedef struct shared_run {
    ck_model *m;
    const float *x;    /* SAMPLES inputs */
    const float *want; /* their serial outputs */
    int in_size, out_size;
    int mismatches, failures;
} shared_run;

static void *predict_many(void *arg)
{
    shared_run *r = arg;
    float y[64];
    for (int i = 0; i < CALLS; i++) {
        int k = i % SAMPLES;
        /* The backend's setup may be asked for while others predict. */
        if (i % 250 == 0)
            ck_warm_up();
        if (ck_model_predict(r->m, r->x + k * r->in_size, 1, y) != CK_OK) {
            __atomic_fetch_add(&r->failures, 1, __ATOMIC_RELAXED);
            continue;
        }
        if (memcmp(y, r->want + k * r->out_size, sizeof(float) * (size_t)r->out_size) != 0)
            __atomic_fetch_add(&r->mismatches, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

/* The serial outputs of r->x, then THREADS threads predicting them at once. */
static void predict_round(shared_run *r, float *want)
{
    for (int k = 0; k < SAMPLES; k++)
        ck_assert_ok(ck_model_predict(r->m, r->x + k * r->in_size, 1, want + k * r->out_size));
    r->want = want;
    r->mismatches = r->failures = 0;
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, predict_many, r), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    ck_assert_int_eq(r->failures, 0);
    ck_assert_int_eq(r->mismatches, 0);
}

/* Halves every weight through the writable views ck_layer_weight hands out. */
static void halve_weights(ck_model *m)
{
    for (int i = 0; i < ck_model_layer_count(m); i++) {
        ck_layer *l = ck_model_layer(m, i);
        for (int k = 0; k < ck_layer_weight_count(l); k++) {
            ck_tensor v;
            ck_assert_ok(ck_layer_weight(l, k, NULL, &v));
            for (size_t j = 0; j < ck_tensor_size(&v); j++)
                v.data[j] *= 0.5f;
        }
    }
}

START_TEST(concurrent_predicts_match_serial)
{
    shared_run r = {0};
    ck_model *m = r.m = model_of(_i, &r.in_size);
    int rank;
    int64_t dims[CK_MAX_RANK];
    ck_assert_ok(ck_model_output_shape(m, &rank, dims));
    r.out_size = 1;
    for (int i = 0; i < rank; i++)
        r.out_size *= (int)dims[i];
    ck_assert_int_le(r.out_size, 64);
    float *x = malloc(sizeof(float) * (size_t)(SAMPLES * r.in_size));
    float *want = malloc(sizeof(float) * (size_t)(SAMPLES * r.out_size));
    for (int i = 0; i < SAMPLES * r.in_size; i++)
        x[i] = _i == 2 ? (float)((i * 7) % 10) : (float)((i * 37) % 23) / 11.0f - 1.0f;
    r.x = x;
    predict_round(&r, want);
    /* Spare workspaces now exist; they must follow weights written in
     * place (and their packed copies with them). */
    size_t bytes = sizeof(float) * (size_t)(SAMPLES * r.out_size);
    float *before = malloc(bytes);
    memcpy(before, want, bytes);
    halve_weights(m);
    predict_round(&r, want);
    ck_assert(memcmp(before, want, bytes) != 0);
    free(before);
    free(x);
    free(want);
    ck_model_free(m);
}
END_TEST

/* ---------------------------------------------------------------- loading */

typedef struct keras_loads {
    const char *path[2];
    const float *x;             /* SAMPLES inputs of model_of(2) */
    float want[2][SAMPLES * 2]; /* the outputs of the two saved models */
    int failures;
} keras_loads;

typedef struct keras_loader {
    keras_loads *k;
    int which;
} keras_loader;

static void *load_many(void *arg)
{
    keras_loader *l = arg;
    keras_loads *k = l->k;
    for (int i = 0; i < 10; i++) {
        int w = (l->which + i) % 2;
        ck_model *m;
        float y[SAMPLES * 2];
        if (ck_model_load(k->path[w], &m) != CK_OK) {
            __atomic_fetch_add(&k->failures, 1, __ATOMIC_RELAXED);
            continue;
        }
        if (ck_model_predict(m, k->x, SAMPLES, y) != CK_OK || memcmp(y, k->want[w], sizeof y) != 0)
            __atomic_fetch_add(&k->failures, 1, __ATOMIC_RELAXED);
        ck_model_free(m);
    }
    return NULL;
}

/* A .keras file's weights are opened in place, each image under a name of
 * its own (HDF5 takes two open images of one name for one file): loads of
 * two files from THREADS threads at once all succeed and predict as the
 * model each file holds. */
START_TEST(concurrent_keras_loads)
{
    static keras_loads k;
    memset(&k, 0, sizeof k);
    float x[SAMPLES * 5];
    for (int i = 0; i < SAMPLES * 5; i++)
        x[i] = (float)((i * 7) % 10);
    k.x = x;
    for (int w = 0; w < 2; w++) {
        int in_size;
        ck_model *m = model_of(2, &in_size);
        if (w)
            halve_weights(m);
        k.path[w] = ck_strdup(ck_test_path(w ? "threads_b.keras" : "threads_a.keras"));
        ck_assert_ok(ck_model_predict(m, x, SAMPLES, k.want[w]));
        ck_assert_ok(ck_model_save(m, k.path[w]));
        ck_model_free(m);
    }
    ck_assert(memcmp(k.want[0], k.want[1], sizeof k.want[0]) != 0);
    pthread_t t[THREADS];
    keras_loader l[THREADS];
    for (int i = 0; i < THREADS; i++) {
        l[i] = (keras_loader){&k, i % 2};
        ck_assert_int_eq(pthread_create(&t[i], NULL, load_many, &l[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    ck_assert_int_eq(k.failures, 0);
    for (int w = 0; w < 2; w++) {
        remove(k.path[w]);
        free((char *)k.path[w]);
    }
}
END_TEST

/* ---------------------------------------------------------------- during fit */

static ck_model *trainable_model(void)
{
    ck_model *m = ck_sequential(.seed = 7);
    ck_assert_ok(ck_model_add(m, ck_input(3)));
    ck_assert_ok(ck_model_add(m, ck_dense(4, .activation = "tanh")));
    ck_assert_ok(ck_model_add(m, ck_dense(1)));
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_sgd(), .loss = "mse"));
    return m;
}

static float train_x[16 * 3], train_y[16];
static const ck_tensor tx = {.rank = 2, .dims = {16, 3}, .data = train_x};
static const ck_tensor ty = {.rank = 2, .dims = {16, 1}, .data = train_y};

typedef struct rendezvous {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stage; /* 1: fit is in its callback; 2: the other thread has tried */
    ck_model *m;
    ck_status other_fit, other_predict, other_compile;
} rendezvous;

static void advance(rendezvous *z, int stage)
{
    pthread_mutex_lock(&z->lock);
    z->stage = stage;
    pthread_cond_broadcast(&z->cond);
    pthread_mutex_unlock(&z->lock);
}

static void await(rendezvous *z, int stage)
{
    pthread_mutex_lock(&z->lock);
    while (z->stage < stage)
        pthread_cond_wait(&z->cond, &z->lock);
    pthread_mutex_unlock(&z->lock);
}

static bool hold_in_callback(ck_model *m, const ck_epoch_logs *logs, void *user)
{
    (void)m;
    rendezvous *z = user;
    if (logs->epoch == 0) {
        advance(z, 1);
        await(z, 2);
    }
    return false;
}

static void *fit_thread(void *arg)
{
    rendezvous *z = arg;
    ck_status *st = malloc(sizeof *st);
    *st = ck_model_fit(z->m, &tx, &ty, NULL, .epochs = 2, .on_epoch_end = hold_in_callback,
                       .user_data = z);
    return st;
}

START_TEST(other_threads_refused_during_fit)
{
    rendezvous z = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    z.m = trainable_model();
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, fit_thread, &z), 0);
    await(&z, 1);
    float y[1];
    ck_assert_fails(ck_model_fit(z.m, &tx, &ty, NULL), CK_ERR_STATE);
    ck_assert_msg(strstr(ck_last_error(), "busy training in another thread"), "%s",
                  ck_last_error());
    ck_assert_fails(ck_model_train_on_batch(z.m, &tx, &ty, NULL), CK_ERR_STATE);
    ck_assert_fails(ck_model_predict(z.m, train_x, 1, y), CK_ERR_STATE);
    ck_assert_fails(ck_model_compile(z.m, .optimizer = ck_adam(), .loss = "mse"), CK_ERR_STATE);
    ck_assert_fails(ck_model_save(z.m, "/nonexistent/x.h5"), CK_ERR_STATE);
    ck_assert_fails(ck_model_set_learning_rate(z.m, 0.5), CK_ERR_STATE);
    ck_assert_fails(ck_model_stop_training(z.m, NULL), CK_ERR_STATE);
    ck_assert_fails(ck_model_pop(z.m), CK_ERR_STATE);
    advance(&z, 2);
    ck_status *st;
    pthread_join(t, (void **)&st);
    ck_assert_int_eq(*st, CK_OK);
    free(st);
    /* Once fit is done the model is everyone's again. */
    ck_assert_ok(ck_model_predict(z.m, train_x, 1, y));
    ck_model_free(z.m);
}
END_TEST

/* Every public call that touches the model, made from inside fit's
 * callback: the allowed ones succeed, the others fail with CK_ERR_STATE
 * and leave fit able to go on. */
typedef struct contract_log {
    int checked, wrong;
    char first_wrong[256];
} contract_log;

static void expect(contract_log *c, const char *what, ck_status got, ck_status want)
{
    c->checked++;
    if (got != want && !c->wrong++)
        snprintf(c->first_wrong, sizeof c->first_wrong, "%s returned %s (%s)", what,
                 ck_status_name(got), ck_last_error());
}

static bool call_everything(ck_model *m, const ck_epoch_logs *logs, void *user)
{
    contract_log *c = user;
    if (logs->epoch != 0)
        return false;
    float y[16], h[4];
    ck_tensor yt = {.rank = 1, .dims = {16}, .data = y}, view;
    double loss;
    char *json = ck_model_to_json(m);
    expect(c, "to_json", json ? CK_OK : ck_error_status(), CK_OK);
    ck_free(json);
    FILE *devnull = fopen("/dev/null", "w");
    expect(c, "summary", ck_model_summary(m, devnull, CK_SUMMARY_KERAS2), CK_OK);
    fclose(devnull);
    expect(c, "predict", ck_model_predict(m, train_x, 2, y), CK_OK);
    expect(c, "predict_tensor", ck_model_predict_tensor(m, &tx, &yt), CK_OK);
    expect(c, "evaluate", ck_model_evaluate(m, &tx, &ty, 4, &loss, NULL), CK_OK);
    expect(c, "save", ck_model_save(m, ck_test_path("cb.h5")), CK_OK);
    expect(c, "save_weights", ck_model_save_weights(m, ck_test_path("cb.weights.h5")), CK_OK);
    expect(c, "load_weights", ck_model_load_weights(m, ck_test_path("cb.weights.h5")), CK_OK);
    expect(c, "reset_states", ck_model_reset_states(m), CK_OK);
    expect(c, "build", ck_model_build(m), CK_OK);
    expect(c, "layer_weight", ck_layer_weight(ck_model_layer(m, 0), 0, NULL, &view), CK_OK);
    expect(c, "rnn_get_state", ck_rnn_get_state(ck_model_layer(m, 0), h, 1), CK_ERR_ARGUMENT);
    expect(c, "test_on_batch", ck_model_test_on_batch(m, &tx, &ty, NULL, &loss, NULL), CK_OK);
    expect(c, "set_learning_rate", ck_model_set_learning_rate(m, 0.02), CK_OK);
    expect(c, "set_seed", ck_model_set_seed(m, 7), CK_OK);
    ck_export_options eo = ck_export_default_options();
    eo.c_path = ck_test_path("cb.c");
    expect(c, "export_c", ck_model_export_c(m, &eo), CK_OK);
    expect(c, "compile", ck_model_compile(m, .optimizer = ck_adam(), .loss = "mse"), CK_ERR_STATE);
    expect(c, "fit", ck_model_fit(m, &tx, &ty, NULL), CK_ERR_STATE);
    expect(c, "train_on_batch", ck_model_train_on_batch(m, &tx, &ty, NULL), CK_ERR_STATE);
    expect(c, "add", ck_model_add(m, ck_dense(2)), CK_ERR_STATE);
    expect(c, "set_trainable", ck_layer_set_trainable(ck_model_layer(m, 0), false), CK_ERR_STATE);
    expect(c, "pop", ck_model_pop(m), CK_ERR_STATE);
    ck_clear_error();
    ck_model_free(m);
    expect(c, "free", ck_error_status(), CK_ERR_STATE);
    return false;
}

START_TEST(callback_contract)
{
    ck_test_make_dir("ckthr");
    ck_model *m = trainable_model();
    contract_log c = {0};
    ck_history *h = NULL;
    ck_assert_ok(ck_model_fit(m, &tx, &ty, &h, .epochs = 3, .on_epoch_end = call_everything,
                              .user_data = &c));
    ck_assert_msg(c.wrong == 0, "%d of %d calls broke the contract; first: %s", c.wrong, c.checked,
                  c.first_wrong);
    ck_assert_int_eq(ck_history_epochs(h), 3);
    ck_history_free(h);
    float y[1];
    ck_assert_ok(ck_model_predict(m, train_x, 1, y));
    ck_assert(isfinite(y[0]));
    ck_model_free(m);
    ck_test_remove_dir();
}
END_TEST

static Suite *suite(void)
{
    for (int i = 0; i < 16 * 3; i++)
        train_x[i] = (float)((i * 13) % 7) / 7.0f;
    for (int i = 0; i < 16; i++)
        train_y[i] = train_x[3 * i] - train_x[3 * i + 1];
    Suite *s = suite_create("threads");
    TCase *tc = tcase_create("threads");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, concurrent_predicts_match_serial, 0, 3);
    tcase_add_test(tc, concurrent_keras_loads);
    tcase_add_test(tc, other_threads_refused_during_fit);
    tcase_add_test(tc, callback_contract);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ck_test_run(suite());
}
