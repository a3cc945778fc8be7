/* Regularizers and constraints on their own: penalties, gradients and
 * projections against values worked out by hand from Keras's formulas
 * (keras/src/regularizers/regularizers.py, keras/src/constraints/
 * constraints.py: L1 l1*sum|w|, L2 l2*sum w^2, norms over `axis` with
 * epsilon 1e-7), and the JSON forms of every Keras release. */
#include "ck_gradcheck.h"
#include "ck_test.h"

#include "ck_internal.h"
#include "ck_io.h"

#include <string.h>

static const float w4[4] = {1, -2, 3, -4};

static ck_reg reg_of(const char *json)
{
    cJSON *j = cJSON_Parse(json);
    ck_assert_ptr_nonnull(j);
    ck_reg r;
    ck_assert_ok(ck_reg_from_json(j, &r));
    cJSON_Delete(j);
    return r;
}

static ck_con con_of(const char *json)
{
    cJSON *j = cJSON_Parse(json);
    ck_assert_ptr_nonnull(j);
    ck_con c;
    ck_assert_ok(ck_con_from_json(j, &c));
    cJSON_Delete(j);
    return c;
}

START_TEST(test_penalties)
{
    /* sum|w| = 10, sum w^2 = 30. */
    ck_reg l1 = reg_of("{\"class_name\": \"L1\", \"config\": {\"l1\": 0.01}}");
    ck_reg l2 = reg_of(
        "{\"module\": \"keras.regularizers\", \"class_name\": \"L2\", \"config\": {\"l2\": 0.01}, "
        "\"registered_name\": null}");
    ck_reg both = reg_of("{\"class_name\": \"L1L2\", \"config\": {\"l1\": 0.01, \"l2\": 0.02}}");
    ck_assert_close(ck_reg_penalty(&l1, w4, 4), 0.1, 1e-12);
    ck_assert_close(ck_reg_penalty(&l2, w4, 4), 0.3, 1e-12);
    ck_assert_close(ck_reg_penalty(&both, w4, 4), 0.7, 1e-12);
    /* d/dw of 0.5|w| + 0.25 w^2 = 0.5 sign(w) + 0.5 w. */
    ck_reg g = reg_of("{\"class_name\": \"L1L2\", \"config\": {\"l1\": 0.5, \"l2\": 0.25}}");
    float grad[4] = {0};
    ck_reg_add_grad(&g, w4, grad, 4, 1.0);
    const float want[4] = {1.0f, -1.5f, 2.0f, -2.5f};
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(grad[i], want[i]);
    /* |w| has no slope at 0 (TensorFlow's sign(0) = 0). */
    float zero = 0, gz = 0;
    ck_reg_add_grad(&l1, &zero, &gz, 1, 1.0);
    ck_assert_float_eq(gz, 0.0f);
}
END_TEST

/* Keras 2.0-2.3 wrote every regularizer as L1L2 with float32 factors;
 * defaults apply to keys left out; unknown classes are kept verbatim. */
START_TEST(test_regularizer_forms)
{
    ck_reg k2 = reg_of(
        "{\"class_name\": \"L1L2\", \"config\": {\"l1\": 0.0, \"l2\": 0.009999999776482582}}");
    ck_assert_int_eq(k2.kind, CK_REG_L1L2);
    ck_assert_close(k2.l2, 0.01, 1e-9);
    ck_reg dflt = reg_of("{\"class_name\": \"L2\", \"config\": {}}");
    ck_assert_close(dflt.l2, 0.01, 0);
    ck_reg s = reg_of("\"l1\"");
    ck_assert_close(s.l1, 0.01, 0);
    ck_reg other = reg_of(
        "{\"module\": \"keras.regularizers\", \"class_name\": \"OrthogonalRegularizer\", "
        "\"config\": {\"factor\": 0.01, \"mode\": \"rows\"}, \"registered_name\": null}");
    ck_assert_int_eq(other.kind, CK_REG_OTHER);
    ck_assert_str_eq(ck_reg_class_name(&other), "OrthogonalRegularizer");
    cJSON *back = ck_reg_to_json(&other);
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(back, "config"), "mode")->valuestring,
                     "rows");
    cJSON_Delete(back);
    ck_reg_free(&other);
    cJSON *j = ck_reg_to_json(&k2);
    char *text = cJSON_PrintUnformatted(j);
    ck_assert_str_eq(text,
                     "{\"class_name\":\"L1L2\",\"config\":{\"l1\":0,\"l2\":0.00999999977648258}}");
    free(text);
    cJSON_Delete(j);
    cJSON *bad = cJSON_Parse("{\"class_name\": \"L2\", \"config\": {\"l2\": \"a lot\"}}");
    ck_reg r;
    ck_assert_fails(ck_reg_from_json(bad, &r), CK_ERR_FORMAT);
    cJSON_Delete(bad);
}
END_TEST

static void project(const char *json, float *w, int rank, const int64_t *dims)
{
    ck_con c = con_of(json);
    ck_assert_ok(ck_con_apply(&c, w, rank, dims));
    ck_con_free(&c);
}

START_TEST(test_max_norm_and_unit_norm)
{
    /* Columns (axis 0) of [[3, 0], [4, 1]] have norms 5 and 1. */
    const int64_t d[2] = {2, 2};
    float w[4] = {3, 0, 4, 1};
    project("{\"class_name\": \"MaxNorm\", \"config\": {\"max_value\": 2, \"axis\": 0}}", w, 2, d);
    ck_assert_close(w[0], 3 * 2 / (5 + 1e-7), 1e-6);
    ck_assert_close(w[2], 4 * 2 / (5 + 1e-7), 1e-6);
    ck_assert_close(w[3], 1 / (1 + 1e-7), 1e-6);
    float u[4] = {3, 0, 4, 1};
    project("{\"class_name\": \"UnitNorm\", \"config\": {\"axis\": 0}}", u, 2, d);
    ck_assert_close(u[0], 0.6, 1e-6);
    ck_assert_close(u[2], 0.8, 1e-6);
    /* axis 1: the norms of the rows, 3 and sqrt(17). */
    float r[4] = {3, 0, 4, 1};
    project("{\"class_name\": \"UnitNorm\", \"config\": {\"axis\": 1}}", r, 2, d);
    ck_assert_close(r[0], 1.0, 1e-6);
    ck_assert_close(r[2], 4 / sqrt(17.0), 1e-6);
    /* A list of axes reduces over all of them: one norm sqrt(26) here. */
    float a[4] = {3, 0, 4, 1};
    project("{\"class_name\": \"MaxNorm\", \"config\": {\"max_value\": 1, \"axis\": [0, 1]}}", a, 2,
            d);
    ck_assert_close(a[0], 3 / sqrt(26.0), 1e-6);
    ck_assert_close(a[3], 1 / sqrt(26.0), 1e-6);
}
END_TEST

START_TEST(test_min_max_norm_and_non_neg)
{
    /* Column norms 5 and 0.2; rate 0.5 moves halfway into [0.5, 1]:
     * desired 0.5*1 + 0.5*5 = 3 and 0.5*0.5 + 0.5*0.2 = 0.35. */
    const int64_t d[2] = {2, 2};
    float w[4] = {3, 0.2f, 4, 0};
    project("{\"class_name\": \"MinMaxNorm\", \"config\": {\"min_value\": 0.5, \"max_value\": 1.0, "
            "\"rate\": 0.5, \"axis\": 0}}",
            w, 2, d);
    ck_assert_close(w[0], 1.8, 1e-6);
    ck_assert_close(w[2], 2.4, 1e-6);
    ck_assert_close(w[1], 0.35, 1e-6);
    /* A bias (rank 1) with the default axis 0: one norm over all of it. */
    const int64_t b1[1] = {2};
    float b[2] = {3, 4};
    project("{\"class_name\": \"MaxNorm\", \"config\": {}}", b, 1, b1);
    ck_assert_close(b[0], 1.2, 1e-6);
    float n[3] = {-1, 0, 2};
    const int64_t n1[1] = {3};
    project("\"non_neg\"", n, 1, n1);
    ck_assert_float_eq(n[0], 0.0f);
    ck_assert_float_eq(n[2], 2.0f);
}
END_TEST

START_TEST(test_constraint_errors)
{
    ck_con c = con_of("{\"class_name\": \"UnitNorm\", \"config\": {\"axis\": 2}}");
    float w[2] = {1, 1};
    const int64_t d[1] = {2};
    ck_assert_fails(ck_con_apply(&c, w, 1, d), CK_ERR_SHAPE);
    ck_con other = con_of("{\"class_name\": \"RadialConstraint\", \"config\": {}}");
    ck_assert_int_eq(other.kind, CK_CON_OTHER);
    ck_con_free(&other);
    cJSON *bad = cJSON_Parse(
        "{\"class_name\": \"MinMaxNorm\", \"config\": {\"min_value\": 2, \"max_value\": 1}}");
    ck_assert_fails(ck_con_from_json(bad, &c), CK_ERR_ARGUMENT);
    cJSON_Delete(bad);
    ck_assert_fails(ck_con_from_options(&(ck_constraint){.name = "max_nrm"}, &c), CK_ERR_NAME);
}
END_TEST

/* The C API sets the same rules, with Keras's defaults for zero fields. */
START_TEST(test_layer_api)
{
    ck_layer *d = ck_dense(3);
    ck_assert_ok(ck_layer_set_regularizer(d, "kernel", ck_l2(0)));
    ck_assert_ok(ck_layer_set_regularizer(d, "activity", ck_l1(0.5)));
    ck_assert_ok(ck_layer_set_constraint(d, "bias", ck_max_norm()));
    ck_assert_fails(ck_layer_set_regularizer(d, "kernal", ck_l2(0.1)), CK_ERR_NAME);
    ck_assert_fails(ck_layer_set_regularizer(d, "recurrent", ck_l2(0.1)), CK_ERR_NAME);
    ck_layer *drop = ck_dropout(.rate = 0.5), *bi = ck_bidirectional(ck_lstm(2));
    ck_assert_fails(ck_layer_set_constraint(drop, "kernel", ck_non_neg()), CK_ERR_NAME);
    ck_assert_fails(ck_layer_set_regularizer(bi, "kernel", ck_l2(0.1)), CK_ERR_NAME);
    ck_assert_ok(ck_layer_set_regularizer(drop, "activity", ck_l2(0.1)));
    ck_layer_free(drop);
    ck_layer_free(bi);
    ck_assert_fails(ck_layer_set_regularizer(d, "bias", &(ck_regularizer){.name = "l3"}),
                    CK_ERR_NAME);
    const ck_weight_rule *k = ck_layer_rule_for(d, "kernel"), *b = ck_layer_rule_for(d, "bias");
    ck_assert_ptr_nonnull(k);
    ck_assert_close(k->reg.l2, 0.01, 0);
    ck_assert_close(d->activity.l1, 0.5, 0);
    ck_assert_close(b->con.max_value, 2.0, 0);
    ck_assert_ptr_null(ck_layer_rule_for(d, "gamma"));
    ck_layer *r = ck_lstm(2);
    ck_assert_ok(ck_layer_set_constraint(r, "recurrent", ck_unit_norm(.axis = {1})));
    ck_assert_ptr_nonnull(ck_layer_rule_for(r, "recurrent_kernel"));
    ck_assert_ptr_null(ck_layer_rule_for(r, "kernel"));
    ck_layer_free(d);
    ck_layer_free(r);
}
END_TEST

/* Loaded with a model and written back in its config, nested layers too. */
START_TEST(test_config_round_trip)
{
    const char *json =
        "{\"class_name\": \"Sequential\", \"config\": {\"name\": \"s\", \"layers\": ["
        "{\"class_name\": \"InputLayer\", \"config\": {\"batch_input_shape\": [null, 4, 3]}},"
        "{\"class_name\": \"Bidirectional\", \"config\": {\"name\": \"bi\", \"merge_mode\": \"concat\", "
        "\"layer\": {\"class_name\": \"LSTM\", \"config\": {\"name\": \"l\", \"units\": 2, "
        "\"return_sequences\": true, \"kernel_regularizer\": {\"class_name\": \"L2\", \"config\": {\"l2\": 0.5}}}}}},"
        "{\"class_name\": \"Dense\", \"config\": {\"name\": \"d\", \"units\": 2, "
        "\"kernel_constraint\": {\"class_name\": \"MaxNorm\", \"config\": {\"max_value\": 3, \"axis\": 0}}, "
        "\"activity_regularizer\": {\"class_name\": \"L1\", \"config\": {\"l1\": 0.25}}}}]}}";
    ck_model *m = NULL;
    ck_assert_ok(ck_model_from_json(json, &m));
    /* Both directions of the Bidirectional carry the wrapped layer's rule. */
    ck_layer *bi = ck_model_layer(m, 0);
    ck_assert_ptr_nonnull(bi->weights[0].rule);
    ck_assert_ptr_nonnull(bi->weights[3].rule);
    ck_assert_close(bi->weights[3].rule->reg.l2, 0.5, 0);
    ck_assert_ptr_null(bi->weights[1].rule);
    char *out = ck_model_to_json(m);
    ck_assert_ptr_nonnull(
        strstr(out, "\"kernel_regularizer\":{\"class_name\":\"L2\",\"config\":{\"l2\":0.5}}"));
    ck_assert_ptr_nonnull(strstr(
        out,
        "\"kernel_constraint\":{\"class_name\":\"MaxNorm\",\"config\":{\"max_value\":3,\"axis\":0}}"));
    ck_assert_ptr_nonnull(
        strstr(out, "\"activity_regularizer\":{\"class_name\":\"L1\",\"config\":{\"l1\":0.25}}"));
    ck_model *again = NULL;
    ck_assert_ok(ck_model_from_json(out, &again));
    char *out2 = ck_model_to_json(again);
    ck_assert_str_eq(out, out2);
    ck_free(out);
    ck_free(out2);
    ck_model_free(m);
    ck_model_free(again);
}
END_TEST

/* ---------------------------------------------------------------- training */

/* Dense(2), kernel [[1, -1], [0.5, 2]], zero bias, input [1, 2], target 0:
 * the prediction is [2, 3] and the MSE 6.5. */
static ck_model *dense_model(ck_keras_semantics semantics, const ck_regularizer *kernel_reg,
                             const ck_constraint *kernel_con)
{
    ck_model *m = ck_sequential(.semantics = semantics);
    ck_layer *d = ck_dense(2, .name = "d");
    if (kernel_reg)
        ck_assert_ok(ck_layer_set_regularizer(d, "kernel", kernel_reg));
    if (kernel_con)
        ck_assert_ok(ck_layer_set_constraint(d, "kernel", kernel_con));
    ck_assert_ok(ck_model_add(m, ck_input(2)));
    ck_assert_ok(ck_model_add(m, d));
    ck_assert_ok(ck_model_build(m));
    const float k[4] = {1, -1, 0.5f, 2};
    memcpy(d->weights[0].data, k, sizeof k);
    memset(d->weights[1].data, 0, 2 * sizeof(float));
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_sgd(.learning_rate = 0.1), .loss = "mse"));
    return m;
}

static float x1[2] = {1, 2}, y1[2] = {0, 0};
static ck_tensor tx1 = {.rank = 2, .dims = {1, 2}, .data = x1},
                 ty1 = {.rank = 2, .dims = {1, 2}, .data = y1};

/* Keras: loss = MSE + 0.5 * sum(W^2) = 6.5 + 3.125; the step follows
 * dMSE/dW = x^T [2, 3] plus 2 * 0.5 * W. */
START_TEST(test_l2_in_loss_and_step)
{
    ck_model *m = dense_model(CK_KERAS2, ck_l2(0.5), NULL);
    double loss;
    ck_assert_ok(ck_model_evaluate(m, &tx1, &ty1, 1, &loss, NULL));
    ck_assert_close(loss, 9.625, 1e-6);
    ck_assert_ok(ck_model_train_on_batch(m, &tx1, &ty1, &loss));
    ck_assert_close(loss, 9.625, 1e-6);
    const float *k = m->layers[0]->weights[0].data, *b = m->layers[0]->weights[1].data;
    const double want[4] = {0.7, -1.2, 0.05, 1.2};
    for (int i = 0; i < 4; i++)
        ck_assert_close(k[i], want[i], 1e-6);
    ck_assert_close(b[0], -0.2, 1e-6);
    ck_assert_close(b[1], -0.3, 1e-6);
    ck_model_free(m);
}
END_TEST

/* MaxNorm(1) after the same step: column 0 ([0.7, 0.05], norm 0.7018)
 * stays, column 1 ([-1.2, 1.2], norm 1.697) is scaled to norm 1. */
START_TEST(test_max_norm_after_step)
{
    ck_model *m = dense_model(CK_KERAS2, ck_l2(0.5), ck_max_norm(.max_value = 1));
    ck_assert_ok(ck_model_train_on_batch(m, &tx1, &ty1, NULL));
    const float *k = m->layers[0]->weights[0].data;
    double n1 = sqrt(1.2 * 1.2 * 2);
    ck_assert_close(k[0], 0.7 * 0.70178344 / (0.70178344 + 1e-7), 1e-6);
    ck_assert_close(k[1], -1.2 / (n1 + 1e-7), 1e-6);
    ck_assert_close(k[3], 1.2 / (n1 + 1e-7), 1e-6);
    ck_model_free(m);
}
END_TEST

/* An activity penalty on the output: tf.keras 2 and Keras 3.14+ divide it
 * by the batch size, standalone Keras 2.0-2.3 and Keras 3.0-3.13 do not.
 * Batch [1, 2], [1, 2] gives outputs [2, 3] twice: 0.1 * 10 = 1. */
START_TEST(test_activity_penalty_scale)
{
    float x2[4] = {1, 2, 1, 2}, y2[4] = {0};
    ck_tensor tx = {.rank = 2, .dims = {2, 2}, .data = x2},
              ty = {.rank = 2, .dims = {2, 2}, .data = y2};
    const struct {
        ck_keras_semantics sem;
        const char *version;
        double penalty;
    } rows[] = {{CK_KERAS2, "2.15.0", 0.5}, {CK_KERAS2, "2.2.4-tf", 0.5},
                {CK_KERAS2, "2.2.4", 1.0},  {CK_KERAS2, "2.3.1", 1.0},
                {CK_KERAS3, "3.3.3", 1.0},  {CK_KERAS3, "3.14.0", 0.5}};
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        ck_model *m = dense_model(rows[r].sem, NULL, NULL);
        ck_assert_ok(ck_layer_set_regularizer(m->layers[0], "activity", ck_l1(0.1)));
        snprintf(m->keras_version, sizeof m->keras_version, "%s", rows[r].version);
        double loss;
        ck_assert_ok(ck_model_evaluate(m, &tx, &ty, 2, &loss, NULL));
        ck_assert_close(loss, 6.5 + rows[r].penalty, 1e-6);
        ck_model_free(m);
    }
}
END_TEST

/* The gradient of the whole loss (MSE, L1L2 on the kernel, an activity
 * penalty and a bias penalty) against finite differences of evaluate. */
START_TEST(test_penalty_gradients)
{
    ck_model *m = ck_sequential(.seed = 4);
    ck_layer *h = ck_dense(3, .activation = "tanh"), *o = ck_dense(2);
    ck_assert_ok(ck_layer_set_regularizer(h, "kernel", ck_l1_l2(0.03, 0.2)));
    ck_assert_ok(ck_layer_set_regularizer(h, "activity", ck_l2(0.3)));
    ck_assert_ok(ck_layer_set_regularizer(o, "bias", ck_l2(0.5)));
    ck_assert_ok(ck_model_add(m, ck_input(2)));
    ck_assert_ok(ck_model_add(m, h));
    ck_assert_ok(ck_model_add(m, o));
    ck_assert_ok(ck_model_build(m));
    ck_fd_check_sgd_step(m);
    ck_model_free(m);
}
END_TEST

/* A frozen layer's penalty: a constant in tf.keras 2's loss, left out by
 * Keras 3. */
START_TEST(test_frozen_penalty_by_semantics)
{
    for (int sem = CK_KERAS2; sem <= CK_KERAS3; sem++) {
        ck_model *m = dense_model((ck_keras_semantics)sem, ck_l2(0.5), NULL);
        ck_assert_ok(ck_layer_set_trainable(m->layers[0], false));
        ck_assert_ok(ck_model_compile(m, .optimizer = ck_sgd(), .loss = "mse"));
        double loss;
        ck_assert_ok(ck_model_evaluate(m, &tx1, &ty1, 1, &loss, NULL));
        ck_assert_close(loss, sem == CK_KERAS2 ? 9.625 : 6.5, 1e-6);
        ck_model_free(m);
    }
}
END_TEST

/* fit reports the loss with the penalty, and L2 keeps the weights smaller
 * than the same training without it. */
START_TEST(test_fit_with_l2)
{
    float x[64 * 2], y[64 * 2];
    for (int i = 0; i < 64 * 2; i++) {
        x[i] = (float)sin(0.7 * i);
        y[i] = (float)(3 * cos(0.3 * i));
    }
    ck_tensor tx = {.rank = 2, .dims = {64, 2}, .data = x},
              ty = {.rank = 2, .dims = {64, 2}, .data = y};
    double norm[2];
    for (int with = 0; with < 2; with++) {
        ck_model *m = dense_model(CK_KERAS3, with ? ck_l2(0.1) : NULL, NULL);
        double before;
        ck_assert_ok(ck_model_evaluate(m, &tx, &ty, 64, &before, NULL));
        ck_history *h = NULL;
        ck_assert_ok(ck_model_compile(
            m, .optimizer = ck_sgd(.learning_rate = 0, .explicit_fields = CK_OPT_LEARNING_RATE),
            .loss = "mse"));
        ck_assert_ok(ck_model_fit(m, &tx, &ty, &h, .epochs = 1, .batch_size = 64));
        double reported;
        ck_assert_ok(ck_history_get(h, "loss", 0, &reported));
        ck_assert_close(reported, before, 1e-5);
        ck_history_free(h);
        ck_assert_ok(
            ck_model_compile(m, .optimizer = ck_adam(.learning_rate = 0.05), .loss = "mse"));
        ck_assert_ok(ck_model_fit(m, &tx, &ty, NULL, .epochs = 30, .batch_size = 16));
        const float *k = m->layers[0]->weights[0].data;
        norm[with] = 0;
        for (int i = 0; i < 4; i++)
            norm[with] += k[i] * k[i];
        ck_model_free(m);
    }
    ck_assert_msg(norm[1] < norm[0], "L2 %g, none %g", norm[1], norm[0]);
}
END_TEST

/* A regularizer ckeras cannot compute loads (a warning) but training is
 * refused rather than silently different. */
START_TEST(test_unknown_regularizer_refuses_training)
{
    const char *json =
        "{\"class_name\": \"Sequential\", \"config\": {\"layers\": ["
        "{\"class_name\": \"InputLayer\", \"config\": {\"batch_input_shape\": [null, 3]}},"
        "{\"class_name\": \"Dense\", \"config\": {\"name\": \"d\", \"units\": 2, \"kernel_regularizer\": "
        "{\"module\": \"keras.regularizers\", \"class_name\": \"OrthogonalRegularizer\", \"config\": "
        "{\"factor\": 0.01, \"mode\": \"rows\"}, \"registered_name\": null}}}]}}";
    ck_model *m = NULL;
    ck_assert_ok(ck_model_from_json(json, &m));
    ck_assert_ptr_nonnull(strstr(ck_model_warnings(m), "OrthogonalRegularizer"));
    ck_assert_fails(ck_model_compile(m, .optimizer = ck_sgd(), .loss = "mse"), CK_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "OrthogonalRegularizer"));
    char *back = ck_model_to_json(m);
    ck_assert_ptr_nonnull(strstr(back, "\"mode\":\"rows\""));
    ck_free(back);
    /* A .keras config keeps it as read: its one "module", no second one. */
    const char *path = ck_test_path("orthogonal.keras");
    ck_assert_ok(ck_model_save(m, path));
    ck_keras_zip z;
    ck_assert_ok(ck_keras_zip_read(path, &z));
    cJSON *cfg = cJSON_Parse(z.config);
    const cJSON *layers = cJSON_GetObjectItem(cJSON_GetObjectItem(cfg, "config"), "layers"), *v;
    const cJSON *reg = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetArrayItem(layers, 1), "config"), "kernel_regularizer");
    int modules = 0;
    cJSON_ArrayForEach(v, reg)
    {
        modules += strcmp(v->string, "module") == 0;
    }
    ck_assert_int_eq(modules, 1);
    cJSON_Delete(cfg);
    ck_keras_zip_free(&z);
    ck_model *again = NULL;
    ck_assert_ok(ck_model_load(path, &again));
    ck_assert_ptr_nonnull(strstr(ck_model_warnings(again), "OrthogonalRegularizer"));
    ck_model_free(again);
    ck_model_free(m);
}
END_TEST

/* SimpleRNN(2, linear) over x = [1, 2] (one feature), W = [1, 0.5],
 * U = [[0.5, -0.25], [0.25, 0.5]], b = 0, target 0, L2(0.5) on U, SGD 0.1,
 * worked out by hand: h1 = [1, 0.5], h2 = [2.625, 1], MSE 3.9453125,
 * penalty 0.5 * 0.625. Backward through time: dL/dh2 = h2, dL/dh1 =
 * h2 U^T = [1.0625, 1.15625]; dU = h1^T h2 + U = [[3.125, 0.75],
 * [1.5625, 1]], so the step takes U to [[0.1875, -0.325], [0.09375, 0.4]]
 * and NonNeg on the recurrent kernel clips the -0.325 to 0. */
static ck_model *rnn_model(const ck_constraint *recurrent_con)
{
    ck_model *m = ck_sequential();
    ck_layer *r = ck_simple_rnn(2, .activation = "linear");
    ck_assert_ok(ck_layer_set_regularizer(r, "recurrent", ck_l2(0.5)));
    if (recurrent_con)
        ck_assert_ok(ck_layer_set_constraint(r, "recurrent", recurrent_con));
    ck_assert_ok(ck_model_add(m, ck_input(2, 1)));
    ck_assert_ok(ck_model_add(m, r));
    ck_assert_ok(ck_model_build(m));
    const float w[2] = {1, 0.5f}, u[4] = {0.5f, -0.25f, 0.25f, 0.5f};
    memcpy(r->weights[0].data, w, sizeof w);
    memcpy(r->weights[1].data, u, sizeof u);
    memset(r->weights[2].data, 0, 2 * sizeof(float));
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_sgd(.learning_rate = 0.1), .loss = "mse"));
    return m;
}

START_TEST(test_recurrent_l2_and_non_neg_step)
{
    float x[2] = {1, 2}, y[2] = {0, 0};
    ck_tensor tx = {.rank = 3, .dims = {1, 2, 1}, .data = x},
              ty = {.rank = 2, .dims = {1, 2}, .data = y};
    for (int constrained = 0; constrained < 2; constrained++) {
        ck_model *m = rnn_model(constrained ? ck_non_neg() : NULL);
        double loss;
        ck_assert_ok(ck_model_train_on_batch(m, &tx, &ty, &loss));
        ck_assert_close(loss, 3.9453125 + 0.3125, 1e-6);
        const ck_layer *r = m->layers[0];
        const float *w = r->weights[0].data, *u = r->weights[1].data, *b = r->weights[2].data;
        const double want_w[2] = {0.36875, 0.184375}, want_b[2] = {-0.36875, -0.215625};
        const double want_u[4] = {0.1875, constrained ? 0 : -0.325, 0.09375, 0.4};
        for (int i = 0; i < 2; i++) {
            ck_assert_close(w[i], want_w[i], 1e-6);
            ck_assert_close(b[i], want_b[i], 1e-6);
        }
        for (int i = 0; i < 4; i++)
            ck_assert_close(u[i], want_u[i], 1e-6);
        ck_model_free(m);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("regularizers");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, ck_test_scratch_fixture, ck_test_remove_dir);
    tcase_add_test(tc, test_penalties);
    tcase_add_test(tc, test_regularizer_forms);
    tcase_add_test(tc, test_max_norm_and_unit_norm);
    tcase_add_test(tc, test_min_max_norm_and_non_neg);
    tcase_add_test(tc, test_constraint_errors);
    tcase_add_test(tc, test_layer_api);
    tcase_add_test(tc, test_config_round_trip);
    tcase_add_test(tc, test_l2_in_loss_and_step);
    tcase_add_test(tc, test_max_norm_after_step);
    tcase_add_test(tc, test_activity_penalty_scale);
    tcase_add_test(tc, test_penalty_gradients);
    tcase_add_test(tc, test_frozen_penalty_by_semantics);
    tcase_add_test(tc, test_fit_with_l2);
    tcase_add_test(tc, test_recurrent_l2_and_non_neg_step);
    tcase_add_test(tc, test_unknown_regularizer_refuses_training);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ck_test_run(suite());
}
