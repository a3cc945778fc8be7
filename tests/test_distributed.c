/* Data-parallel fit (docs/distributed.md). ctest runs this program alone
 * (one rank) and under mpirun with 2 and 3 ranks (CMakeLists.txt): every
 * rank runs every test, in the same order. Equivalence: a data-parallel
 * fit ends with the weights and history of one process training on the
 * same global batches in the same order. Faults: a failure on one rank
 * or a model that differs ends fit on every rank with one message naming
 * the rank. */
#include "ck_dist.h"
#include "ck_test.h"

#include <string.h>

static ck_comm *world;
static int rank, size;

enum { SAMPLES = 12, BATCH = 4, EPOCHS = 2, CLASSES = 3 };

typedef struct model_case {
    const char *name;
    int timesteps, features;
    void (*add_layers)(ck_model *m);
} model_case;

/* The flagship example's model (examples/action_recognition). */
static void flagship_layers(ck_model *m)
{
    ck_assert_ok(ck_model_add(m, ck_lstm(64, .return_sequences = true, .activation = "relu")));
    ck_assert_ok(ck_model_add(m, ck_lstm(128, .return_sequences = true, .activation = "relu")));
    ck_assert_ok(ck_model_add(m, ck_lstm(64, .activation = "relu")));
    ck_assert_ok(ck_model_add(m, ck_dense(64, .activation = "relu")));
    ck_assert_ok(ck_model_add(m, ck_dense(32, .activation = "relu")));
    ck_assert_ok(ck_model_add(m, ck_dense(CLASSES, .activation = "softmax")));
}

static void gru_layers(ck_model *m)
{
    ck_assert_ok(ck_model_add(m, ck_gru(16)));
    ck_assert_ok(ck_model_add(m, ck_dense(CLASSES, .activation = "softmax")));
}

static const model_case models[] = {{"flagship", 5, 126, flagship_layers},
                                    {"gru", 8, 6, gru_layers}};

static ck_optimizer_options optimizer(int which, double global_clipnorm)
{
    ck_optimizer_options o[] = {ck_sgd(.learning_rate = 0.05, .momentum = 0.9),
                                ck_adam(.learning_rate = 0.01), ck_rmsprop(.learning_rate = 0.01)};
    o[which].global_clipnorm = global_clipnorm;
    return o[which];
}

static ck_model *compiled(const model_case *mc, uint64_t seed, ck_optimizer_options opt)
{
    ck_model *m = ck_sequential(.seed = seed);
    ck_assert_ok(ck_model_add(m, ck_input(mc->timesteps, mc->features)));
    mc->add_layers(m);
    ck_assert_ok(ck_model_compile(m, .optimizer = opt, .loss = "categorical_crossentropy",
                                  .metrics = {"accuracy"}));
    return m;
}

typedef struct data_set {
    float *x, *y;
    ck_tensor tx, ty;
} data_set;

static data_set make_data(const model_case *mc, int samples)
{
    size_t per = (size_t)mc->timesteps * (size_t)mc->features;
    data_set d = {.x = malloc((size_t)samples * per * sizeof(float)),
                  .y = calloc((size_t)samples * CLASSES, sizeof(float))};
    ck_assert(d.x && d.y);
    ck_rng rng;
    ck_rng_seed(&rng, 11);
    for (size_t i = 0; i < (size_t)samples * per; i++)
        d.x[i] = (float)(2 * ck_rng_uniform(&rng) - 1);
    for (int i = 0; i < samples; i++)
        d.y[i * CLASSES + (int)ck_rng_below(&rng, CLASSES)] = 1;
    d.tx = (ck_tensor){3, {samples, mc->timesteps, mc->features}, d.x};
    d.ty = (ck_tensor){2, {samples, CLASSES}, d.y};
    return d;
}

static void free_data(data_set *d)
{
    free(d->x);
    free(d->y);
}

/* max |a - b| against max |b|: relative to the scale of the weights. */
static double relative_error(const float *a, const float *b, size_t n)
{
    double diff = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        diff = fmax(diff, fabs((double)a[i] - (double)b[i]));
        scale = fmax(scale, fabs((double)b[i]));
    }
    return diff / scale;
}

/* Every rank holds the same bytes. */
static void assert_same_on_all_ranks(const float *v, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    const unsigned char *b = (const unsigned char *)v;
    for (size_t i = 0; i < n * sizeof *v; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    uint64_t *all = calloc((size_t)size, sizeof *all);
    ck_assert_ok(ck_comm_gather_all(world, &h, all, sizeof h));
    for (int r = 1; r < size; r++)
        ck_assert_msg(all[r] == all[0], "rank %d's weights differ from rank 0's", r);
    free(all);
}

static void assert_history_close(const ck_history *a, const ck_history *b)
{
    ck_assert_int_eq(ck_history_epochs(a), ck_history_epochs(b));
    ck_assert_int_eq(ck_history_key_count(a), ck_history_key_count(b));
    for (int k = 0; k < ck_history_key_count(b); k++)
        for (int e = 0; e < ck_history_epochs(b); e++) {
            double va, vb;
            ck_assert_ok(ck_history_get(a, ck_history_key(b, k), e, &va));
            ck_assert_ok(ck_history_get(b, ck_history_key(b, k), e, &vb));
            ck_assert_msg(fabs(va - vb) <= 1e-5 * fmax(fabs(vb), 1e-3), "%s epoch %d: %.9g vs %.9g",
                          ck_history_key(b, k), e, va, vb);
        }
}

/* _i: model (2) x optimizer (3) x global clipping (2). */
START_TEST(same_as_one_process)
{
    const model_case *mc = &models[_i / 6];
    ck_optimizer_options opt = optimizer(_i / 2 % 3, _i % 2 ? 0.01 : 0);
    data_set d = make_data(mc, SAMPLES);
    ck_model *par = compiled(mc, 5, opt), *one = compiled(mc, 5, opt);
    ck_history *hp = NULL, *h1 = NULL;
    /* 9 training samples in batches of 4, 4, 1: with 3 ranks some slices are empty. */
    /* Buckets of one layer each, the default, and one sum after backward. */
    const size_t buckets[] = {1, 0, SIZE_MAX};
    ck_assert_ok(ck_model_fit(par, &d.tx, &d.ty, &hp, .epochs = EPOCHS, .batch_size = BATCH,
                              .validation_split = 0.25, .comm = world,
                              .comm_bucket_bytes = buckets[_i % 3]));
    ck_assert_ok(ck_model_fit(one, &d.tx, &d.ty, &h1, .epochs = EPOCHS, .batch_size = BATCH,
                              .validation_split = 0.25));
    double err = relative_error(par->params, one->params, one->n_params);
    ck_assert_msg(err <= 1e-5, "%s, %s, clip %g: weights differ by %g relative", mc->name, opt.name,
                  opt.global_clipnorm, err);
    assert_same_on_all_ranks(par->params, par->n_params);
    assert_history_close(hp, h1);
    ck_history_free(hp);
    ck_history_free(h1);
    ck_model_free(par);
    ck_model_free(one);
    free_data(&d);
}
END_TEST

/* Rank r's share of n samples, uneven on purpose: [n r^2 / p^2, n (r+1)^2 / p^2). */
static ck_tensor uneven_part(const ck_tensor *t, size_t per)
{
    int64_t n = t->dims[0], p2 = (int64_t)size * size;
    int64_t from = n * rank * rank / p2, to = n * (rank + 1) * (rank + 1) / p2;
    ck_tensor v = *t;
    v.dims[0] = to - from;
    v.data = t->data + (size_t)from * per;
    return v;
}

/* Each rank steps on its own samples: the steps of one process on all of them. */
START_TEST(train_on_batch_of_all_ranks)
{
    const model_case *mc = &models[1];
    data_set d = make_data(mc, SAMPLES);
    ck_model *par = compiled(mc, 5, ck_rmsprop()), *one = compiled(mc, 5, ck_rmsprop());
    ck_tensor x = uneven_part(&d.tx, (size_t)mc->timesteps * (size_t)mc->features);
    ck_tensor y = uneven_part(&d.ty, CLASSES);
    for (int step = 0; step < 3; step++) {
        double lp, l1;
        ck_assert_ok(ck_model_train_on_batch_with(
            par, &x, &y, &(ck_train_on_batch_options){.comm = world}, &lp));
        ck_assert_ok(ck_model_train_on_batch(one, &d.tx, &d.ty, &l1));
        ck_assert_msg(fabs(lp - l1) <= 1e-5 * fabs(l1), "step %d: loss %.9g vs %.9g", step, lp, l1);
    }
    double err = relative_error(par->params, one->params, one->n_params);
    ck_assert_msg(err <= 1e-5, "weights differ by %g relative", err);
    assert_same_on_all_ranks(par->params, par->n_params);
    ck_model_free(par);
    ck_model_free(one);
    free_data(&d);
}
END_TEST

/* Each rank builds with its own seed; after the broadcast all train from
 * rank 0's weights. */
START_TEST(broadcast_gives_rank_0_weights)
{
    const model_case *mc = &models[1];
    data_set d = make_data(mc, SAMPLES);
    ck_model *par = compiled(mc, 5 + (uint64_t)rank, ck_adam()), *one = compiled(mc, 5, ck_adam());
    ck_assert_ok(ck_model_build(par));
    ck_assert_ok(ck_model_broadcast_weights(par, world));
    ck_assert_ok(ck_model_fit(par, &d.tx, &d.ty, NULL, .batch_size = BATCH, .comm = world));
    ck_assert_ok(ck_model_fit(one, &d.tx, &d.ty, NULL, .batch_size = BATCH));
    double err = relative_error(par->params, one->params, one->n_params);
    ck_assert_msg(err <= 1e-5, "weights differ by %g relative", err);
    ck_model *raw = ck_sequential();
    ck_assert_fails(ck_model_broadcast_weights(raw, world), CK_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "is not built"));
    ck_assert_fails(ck_model_broadcast_weights(raw, NULL), CK_ERR_ARGUMENT);
    ck_model_free(raw);
    ck_model_free(par);
    ck_model_free(one);
    free_data(&d);
}
END_TEST

/* The same seed on every rank but the last. */
START_TEST(other_weights_refused)
{
    data_set d = make_data(&models[1], SAMPLES);
    ck_model *m = compiled(&models[1], rank == size - 1 && size > 1 ? 6 : 5, ck_adam());
    ck_status st = ck_model_fit(m, &d.tx, &d.ty, NULL, .batch_size = BATCH, .comm = world);
    if (size > 1) {
        ck_assert_int_eq(st, CK_ERR_STATE);
        char want[64];
        snprintf(want, sizeof want, "rank %d of %d starts from other weights", size - 1, size);
        ck_assert_msg(strstr(ck_last_error(), want), "%s", ck_last_error());
    } else {
        ck_assert_ok(st);
    }
    ck_model_free(m);
    free_data(&d);
}
END_TEST

START_TEST(other_data_size_refused)
{
    data_set d = make_data(&models[1], SAMPLES);
    ck_model *m = compiled(&models[1], 5, ck_adam());
    if (rank == size - 1 && size > 1)
        d.tx.dims[0] = d.ty.dims[0] = SAMPLES - 1;
    ck_status st = ck_model_fit(m, &d.tx, &d.ty, NULL, .batch_size = BATCH, .comm = world);
    if (size > 1) {
        ck_assert_int_eq(st, CK_ERR_STATE);
        ck_assert_msg(strstr(ck_last_error(), "training samples"), "%s", ck_last_error());
    }
    ck_model_free(m);
    free_data(&d);
}
END_TEST

/* Keras's synchronized BatchNormalization normalizes by the statistics of
 * the global batch; per-rank statistics would train other weights. */
START_TEST(synchronized_batch_norm_refused)
{
    static const char json[] =
        "{\"class_name\": \"Sequential\", \"keras_version\": \"3.15.1\", \"config\": {\"layers\": ["
        "{\"class_name\": \"InputLayer\", \"config\": {\"batch_shape\": [null, 4]}},"
        "{\"class_name\": \"BatchNormalization\", \"config\": {\"name\": \"bn\", "
        "\"synchronized\": true}},"
        "{\"class_name\": \"Dense\", \"config\": {\"name\": \"out\", \"units\": 3, "
        "\"activation\": \"softmax\"}}]}}";
    ck_model *m = NULL;
    ck_assert_ok(ck_model_from_json(json, &m));
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_adam(), .loss = "categorical_crossentropy"));
    float x[SAMPLES * 4], y[SAMPLES * CLASSES] = {0};
    for (int i = 0; i < SAMPLES * 4; i++)
        x[i] = (float)(i % 7) / 7.0f;
    for (int i = 0; i < SAMPLES; i++)
        y[i * CLASSES + i % CLASSES] = 1;
    ck_tensor tx = {2, {SAMPLES, 4}, x}, ty = {2, {SAMPLES, CLASSES}, y};
    ck_status st = ck_model_fit(m, &tx, &ty, NULL, .batch_size = BATCH, .comm = world);
    if (size > 1) {
        ck_assert_int_eq(st, CK_ERR_UNSUPPORTED);
        ck_assert_msg(strstr(ck_last_error(), "layer 'bn' has synchronized=True"), "%s",
                      ck_last_error());
    } else {
        ck_assert_ok(st);
    }
    ck_model_free(m);
}
END_TEST

/* The last rank forgot to compile: every rank fails naming it. */
START_TEST(uncompiled_model_on_one_rank)
{
    data_set d = make_data(&models[1], SAMPLES);
    ck_model *m = rank == size - 1 ? ck_sequential(.seed = 5) : compiled(&models[1], 5, ck_adam());
    if (rank == size - 1) {
        ck_assert_ok(ck_model_add(m, ck_input(models[1].timesteps, models[1].features)));
        models[1].add_layers(m);
    }
    ck_assert_fails(ck_model_fit(m, &d.tx, &d.ty, NULL, .batch_size = BATCH, .comm = world),
                    CK_ERR_STATE);
    char want[32];
    snprintf(want, sizeof want, "rank %d of %d:", size - 1, size);
    ck_assert_msg(strstr(ck_last_error(), want) && strstr(ck_last_error(), "compile"), "%s",
                  ck_last_error());
    ck_model_free(m);
    free_data(&d);
}
END_TEST

/* Rank 1's data is bad: every rank fails with rank 1's message. */
START_TEST(one_rank_fails_to_start)
{
    data_set d = make_data(&models[1], SAMPLES);
    ck_model *m = compiled(&models[1], 5, ck_adam());
    int bad = size > 1 ? 1 : 0;
    if (rank == bad)
        d.x[7] = NAN;
    ck_assert_fails(ck_model_fit(m, &d.tx, &d.ty, NULL, .batch_size = BATCH, .comm = world),
                    CK_ERR_NUMERIC);
    char want[64];
    snprintf(want, sizeof want, "rank %d of %d: ck_model_fit: input value #7", bad, size);
    ck_assert_msg(strstr(ck_last_error(), want), "%s", ck_last_error());
    ck_model_free(m);
    free_data(&d);
}
END_TEST

static ck_status fail_on_last_rank(ck_model *m, int batch, const ck_epoch_logs *logs, void *user)
{
    (void)m, (void)logs, (void)user;
    if (rank == size - 1 && batch == 1)
        return ck_error(CK_ERR_IO, "the disk of the last rank is full");
    return CK_OK;
}

/* A failure in the middle of an epoch on the last rank ends fit on all. */
START_TEST(one_rank_fails_while_training)
{
    data_set d = make_data(&models[1], SAMPLES);
    ck_model *m = compiled(&models[1], 5, ck_adam());
    ck_history *h = NULL;
    ck_assert_fails(ck_model_fit(m, &d.tx, &d.ty, &h, .epochs = 3, .batch_size = BATCH,
                                 .comm = world,
                                 .callbacks = {ck_cb_lambda(.on_batch_end = fail_on_last_rank)}),
                    CK_ERR_IO);
    char want[80];
    snprintf(want, sizeof want, "rank %d of %d: the disk of the last rank is full", size - 1, size);
    ck_assert_msg(strstr(ck_last_error(), want), "%s", ck_last_error());
    ck_assert_ptr_null(h);
    ck_model_free(m);
    free_data(&d);
}
END_TEST

static ck_status stop_on_rank_0(ck_model *m, int batch, const ck_epoch_logs *logs, void *user)
{
    (void)logs, (void)user;
    return rank == 0 && batch == 1 ? ck_model_stop_training(m, "rank 0 has seen enough") : CK_OK;
}

/* A stop requested on one rank stops every rank after the same batch. */
START_TEST(stop_on_one_rank_stops_all)
{
    data_set d = make_data(&models[1], SAMPLES);
    ck_model *m = compiled(&models[1], 5, ck_adam());
    ck_history *h = NULL;
    ck_assert_ok(ck_model_fit(m, &d.tx, &d.ty, &h, .epochs = 3, .batch_size = BATCH, .comm = world,
                              .callbacks = {ck_cb_lambda(.on_batch_end = stop_on_rank_0)}));
    ck_assert_int_eq(ck_history_epochs(h), 1);
    ck_assert_str_eq(ck_history_stop_reason(h),
                     rank == 0 ? "rank 0 has seen enough" : "another rank stopped training");
    assert_same_on_all_ranks(m->params, m->n_params);
    ck_history_free(h);
    ck_model_free(m);
    free_data(&d);
}
END_TEST

/* A non-finite global loss stops every rank alike, with the last finite
 * weights; TerminateOnNaN makes that a normal end on every rank. */
START_TEST(divergence_stops_every_rank)
{
    data_set d = make_data(&models[1], SAMPLES);
    for (int terminate = 0; terminate < 2; terminate++) {
        ck_model *m = compiled(&models[1], 5, ck_sgd(.learning_rate = 1e38));
        ck_history *h = NULL;
        ck_status st = ck_model_fit(
            m, &d.tx, &d.ty, &h, .epochs = 3, .batch_size = BATCH, .comm = world,
            .callbacks = {terminate ? ck_cb_terminate_on_nan() : (ck_callback_spec){NULL, NULL}});
        if (terminate) {
            ck_assert_ok(st);
            ck_assert_ptr_nonnull(strstr(ck_history_stop_reason(h), "NaN"));
        } else {
            ck_assert_int_eq(st, CK_ERR_NUMERIC);
            char want[32];
            snprintf(want, sizeof want,
                     size > 1 ? "all %d ranks: the loss is" : "rank 0 of 1:", size);
            ck_assert_msg(strstr(ck_last_error(), want), "%s", ck_last_error());
        }
        for (size_t i = 0; i < m->n_params; i++)
            ck_assert_msg(isfinite(m->params[i]), "weight %zu is %g", i, (double)m->params[i]);
        assert_same_on_all_ranks(m->params, m->n_params);
        ck_history_free(h);
        ck_model_free(m);
    }
    free_data(&d);
}
END_TEST

/* Only rank 0 prints the progress. */
START_TEST(only_rank_0_prints)
{
    data_set d = make_data(&models[1], SAMPLES);
    ck_model *m = compiled(&models[1], 5, ck_adam());
    FILE *log = tmpfile();
    ck_assert_ptr_nonnull(log);
    ck_assert_ok(ck_model_fit(m, &d.tx, &d.ty, NULL, .batch_size = BATCH, .verbose = 2, .log = log,
                              .comm = world,
                              .early_stopping = {.monitor = "loss", .patience = 0, .verbose = 1}));
    long printed = ftell(log);
    fclose(log);
    if (rank == 0)
        ck_assert_int_gt(printed, 0);
    else
        ck_assert_int_eq(printed, 0);
    ck_model_free(m);
    free_data(&d);
}
END_TEST

START_TEST(agree_names_the_failed_rank)
{
    int bad = size - 1;
    ck_status mine = rank == bad ? CK_ERR_IO : CK_OK;
    ck_assert_fails(ck_comm_agree(world, mine, "cannot open x.npy"), CK_ERR_IO);
    char want[64];
    snprintf(want, sizeof want, "rank %d of %d: cannot open x.npy", bad, size);
    ck_assert_str_eq(ck_last_error(), want);
    /* Without a message, the rank's last error. */
    mine = rank == bad ? ck_error(CK_ERR_SHAPE, "x has 3 axes") : CK_OK;
    ck_assert_fails(ck_comm_agree(world, mine, NULL), CK_ERR_SHAPE);
    snprintf(want, sizeof want, "rank %d of %d: x has 3 axes", bad, size);
    ck_assert_str_eq(ck_last_error(), want);
    ck_assert_ok(ck_comm_agree(world, CK_OK, NULL));
    ck_assert_int_eq(ck_comm_agree(NULL, CK_ERR_SHAPE, NULL), CK_ERR_SHAPE);
    ck_assert_int_eq(ck_comm_rank(NULL), 0);
    ck_assert_int_eq(ck_comm_size(NULL), 1);
}
END_TEST

int main(void)
{
    world = ck_mpi_world();
    if (!world) {
        printf("SKIP: %s\n", ck_last_error());
        return CK_TEST_SKIP;
    }
    rank = ck_comm_rank(world);
    size = ck_comm_size(world);
    Suite *s = suite_create("distributed");
    TCase *tc = tcase_create("distributed");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, same_as_one_process, 0, 12);
    tcase_add_test(tc, train_on_batch_of_all_ranks);
    tcase_add_test(tc, broadcast_gives_rank_0_weights);
    tcase_add_test(tc, other_weights_refused);
    tcase_add_test(tc, other_data_size_refused);
    tcase_add_test(tc, synchronized_batch_norm_refused);
    tcase_add_test(tc, one_rank_fails_to_start);
    tcase_add_test(tc, uncompiled_model_on_one_rank);
    tcase_add_test(tc, one_rank_fails_while_training);
    tcase_add_test(tc, stop_on_one_rank_stops_all);
    tcase_add_test(tc, divergence_stops_every_rank);
    tcase_add_test(tc, only_rank_0_prints);
    tcase_add_test(tc, agree_names_the_failed_rank);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    /* Forked test processes cannot use the parent's MPI connection. */
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, rank == 0 ? CK_NORMAL : CK_SILENT);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    ck_mpi_finalize();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
