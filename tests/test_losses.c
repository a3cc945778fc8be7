/* Losses and metrics on hand-computed numbers, and the fused
 * softmax/sigmoid + cross-entropy gradient through a compiled model. */
#include "ck_test.h"
#include "ck_train.h"

#include <stdio.h>
#include <string.h>

static double loss_of(const char *name, bool logits, bool fused, const float *p, const float *y,
                      size_t rows, size_t width, float *grad)
{
    ck_loss loss;
    ck_assert_ok(ck_loss_parse(name, logits, &loss));
    loss.fused = fused;
    return ck_loss_compute(&loss, p, y, rows, width, grad);
}

static void assert_vec(const float *got, const double *want, size_t n, double tol)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(fabs(got[i] - want[i]) <= tol, "[%zu] = %.9g, expected %.9g", i, got[i],
                      want[i]);
}

START_TEST(categorical_probabilities)
{
    float p[] = {0.2f, 0.7f, 0.1f}, y[] = {0, 1, 0}, g[3];
    ck_assert_close(loss_of("categorical_crossentropy", false, false, p, y, 1, 3, g), 0.356674944,
                    1e-6);
    /* d/dp of -log(p1 / sum p): -1/p1 + 1 on the target, 1 elsewhere. */
    assert_vec(g, (double[]){1.0, 1.0 - 1.0 / 0.7, 1.0}, 3, 1e-5);
    /* Fused with a softmax output: p - y w.r.t. the logits. */
    loss_of("categorical_crossentropy", false, true, p, y, 1, 3, g);
    assert_vec(g, (double[]){0.2, -0.3, 0.1}, 3, 1e-7);
    /* Clipping at 1e-7. */
    float p0[] = {0, 1, 0}, y0[] = {1, 0, 0};
    ck_assert_close(loss_of("categorical_crossentropy", false, false, p0, y0, 1, 3, NULL),
                    16.1180957, 1e-5);
}
END_TEST

START_TEST(categorical_logits_and_sparse)
{
    float z[] = {1, 2, 3, 1, 2, 3}, y[] = {0, 0, 1, 1, 0, 0}, ids[] = {2, 0}, g[6];
    double l0 = 0.407605964, l1 = 2.407605964;
    ck_assert_close(loss_of("categorical_crossentropy", true, false, z, y, 2, 3, g), (l0 + l1) / 2,
                    1e-6);
    double sm[] = {0.0900305732, 0.244728471, 0.665240956};
    assert_vec(
        g, (double[]){sm[0] / 2, sm[1] / 2, (sm[2] - 1) / 2, (sm[0] - 1) / 2, sm[1] / 2, sm[2] / 2},
        6, 1e-6);
    float gs[6];
    ck_assert_close(loss_of("sparse_categorical_crossentropy", true, false, z, ids, 2, 3, gs),
                    (l0 + l1) / 2, 1e-6);
    for (int i = 0; i < 6; i++)
        ck_assert_close(gs[i], g[i], 1e-7);
}
END_TEST

START_TEST(binary)
{
    float p[] = {0.8f, 0.4f}, y[] = {1, 0}, g[2];
    ck_assert_close(loss_of("binary_crossentropy", false, false, p, y, 1, 2, g), 0.366984585, 1e-6);
    assert_vec(g, (double[]){-0.625, 0.833333333}, 2, 1e-5);
    float z[] = {0.5f, -1.0f};
    ck_assert_close(loss_of("binary_crossentropy", true, false, z, y, 1, 2, g), 0.393669336, 1e-6);
    assert_vec(g, (double[]){-0.188770334, 0.134470711}, 2, 1e-6);
    loss_of("binary_crossentropy", false, true, p, y, 1, 2, g);
    assert_vec(g, (double[]){-0.1, 0.2}, 2, 1e-6);
    /* At the clip, tf.keras 2 (epsilon inside the logs) and Keras 3 differ. */
    float pe[] = {0.3f, 1.0f};
    ck_loss l;
    ck_assert_ok(ck_loss_parse("binary_crossentropy", false, &l));
    double k3 = ck_loss_compute(&l, pe, y, 1, 2, g);
    ck_assert_close(k3, (-log(0.3) - log(1e-7)) / 2, 1e-6);
    l.bce_log_epsilon = true;
    double k2 = ck_loss_compute(&l, pe, y, 1, 2, g);
    ck_assert_close(k2, (-log(0.3 + 1e-7) - log(2e-7)) / 2, 1e-6);
    ck_assert_close(g[0], -1 / (0.3 + 1e-7) / 2, 1e-5);
}
END_TEST

START_TEST(regression)
{
    float p[] = {1, 2}, y[] = {0, 4}, g[2];
    ck_assert_close(loss_of("mse", false, false, p, y, 1, 2, g), 2.5, 1e-9);
    assert_vec(g, (double[]){1, -2}, 2, 1e-7);
    ck_assert_close(loss_of("mean_absolute_error", false, false, p, y, 1, 2, g), 1.5, 1e-9);
    assert_vec(g, (double[]){0.5, -0.5}, 2, 1e-7);
    float ph[] = {0.5f, -3.0f}, yh[] = {0, 0};
    ck_assert_close(loss_of("huber", false, false, ph, yh, 1, 2, g), 1.3125, 1e-9);
    assert_vec(g, (double[]){0.25, -0.5}, 2, 1e-7);
    /* Sequence outputs: rows are samples x timesteps, the mean is over all of them. */
    float ps[] = {1, 2, 3, 4}, ys[] = {0, 0, 0, 0};
    ck_assert_close(loss_of("mean_squared_error", false, false, ps, ys, 4, 1, NULL), 7.5, 1e-9);
}
END_TEST

START_TEST(names_and_errors)
{
    ck_loss l;
    ck_assert_ok(ck_loss_parse("mae", false, &l));
    ck_assert_int_eq(l.kind, CK_LOSS_MAE);
    ck_assert_str_eq(ck_loss_name(&l), "mean_absolute_error");
    ck_assert_ok(ck_loss_parse("MSE", false, &l));
    ck_assert_int_eq(l.kind, CK_LOSS_MSE);
    ck_assert_ok(ck_loss_parse("MAE", false, &l));
    ck_assert_int_eq(l.kind, CK_LOSS_MAE);
    ck_assert_ok(ck_loss_parse("SparseCategoricalCrossentropy", true, &l));
    ck_assert_int_eq(l.kind, CK_LOSS_SPARSE_CATEGORICAL_CE);
    ck_assert_fails(ck_loss_parse("hinge", false, &l), CK_ERR_NAME);
    ck_assert_fails(ck_loss_parse("mse", true, &l), CK_ERR_ARGUMENT);
    ck_assert_ok(ck_loss_parse("sparse_categorical_crossentropy", false, &l));
    ck_assert_fails(ck_loss_check_targets(&l, (float[]){0, 3}, 2, 3), CK_ERR_ARGUMENT);
    ck_assert_fails(ck_loss_check_targets(&l, (float[]){0.5f}, 1, 3), CK_ERR_ARGUMENT);
    ck_assert_ok(ck_loss_check_targets(&l, (float[]){0, 2}, 2, 3));
}
END_TEST

START_TEST(metrics)
{
    ck_loss cce, sparse, bce, mse;
    ck_metric_kind k;
    ck_assert_ok(ck_loss_parse("categorical_crossentropy", false, &cce));
    ck_assert_ok(ck_loss_parse("sparse_categorical_crossentropy", false, &sparse));
    ck_assert_ok(ck_loss_parse("binary_crossentropy", false, &bce));
    ck_assert_ok(ck_loss_parse("mse", false, &mse));
    ck_assert_ok(ck_metric_parse("acc", &sparse, &k));
    ck_assert_int_eq(k, CK_METRIC_ACCURACY);
    ck_assert_ok(ck_metric_parse("mae", &mse, &k));
    ck_assert_int_eq(k, CK_METRIC_MAE);
    ck_assert_fails(ck_metric_parse("sparse_categorical_accuracy", &cce, &k), CK_ERR_ARGUMENT);
    ck_assert_fails(ck_metric_parse("f1", &cce, &k), CK_ERR_NAME);
    /* "accuracy" by shapes (tf.keras >= 2.3, Keras 3), not by the loss:
     * y rank, y last dim, output rank, output width. */
    ck_assert_ok(ck_metric_resolve(CK_METRIC_ACCURACY, &cce, 2, 3, 2, 3, &k));
    ck_assert_int_eq(k, CK_METRIC_CATEGORICAL_ACCURACY);
    ck_assert_ok(ck_metric_resolve(CK_METRIC_ACCURACY, &sparse, 1, 8, 2, 3, &k));
    ck_assert_int_eq(k, CK_METRIC_SPARSE_CATEGORICAL_ACCURACY);
    ck_assert_ok(ck_metric_resolve(CK_METRIC_ACCURACY, &sparse, 2, 1, 2, 3, &k));
    ck_assert_int_eq(k, CK_METRIC_SPARSE_CATEGORICAL_ACCURACY);
    ck_assert_ok(ck_metric_resolve(CK_METRIC_ACCURACY, &sparse, 2, 5, 3, 3, &k));
    ck_assert_int_eq(k, CK_METRIC_SPARSE_CATEGORICAL_ACCURACY);
    /* Multi-label binary cross-entropy over 3 outputs: categorical (Keras 2.2.4 said binary). */
    ck_assert_ok(ck_metric_resolve(CK_METRIC_ACCURACY, &bce, 2, 3, 2, 3, &k));
    ck_assert_int_eq(k, CK_METRIC_CATEGORICAL_ACCURACY);
    /* One output: binary, whatever the loss (sparse ids included). */
    ck_assert_ok(ck_metric_resolve(CK_METRIC_ACCURACY, &mse, 2, 1, 2, 1, &k));
    ck_assert_int_eq(k, CK_METRIC_BINARY_ACCURACY);
    ck_assert_ok(ck_metric_resolve(CK_METRIC_ACCURACY, &sparse, 1, 4, 2, 1, &k));
    ck_assert_int_eq(k, CK_METRIC_BINARY_ACCURACY);
    ck_assert_ok(ck_metric_resolve(CK_METRIC_MSE, &sparse, 1, 4, 2, 3, &k));
    ck_assert_int_eq(k, CK_METRIC_MSE);
    /* Flattened one-hot targets of a sequence output: Keras rejects the shapes. */
    ck_assert_fails(ck_metric_resolve(CK_METRIC_ACCURACY, &cce, 2, 12, 3, 3, &k), CK_ERR_SHAPE);

    float p[] = {0.1f, 0.7f, 0.2f, 0.5f, 0.3f, 0.2f}, onehot[] = {0, 1, 0, 0, 0, 1}, ids[] = {1, 2};
    ck_assert_close(ck_metric_sum(CK_METRIC_CATEGORICAL_ACCURACY, &(ck_metric_params){0}, p, onehot,
                                  2, 3, NULL),
                    1.0, 0);
    ck_assert_close(ck_metric_sum(CK_METRIC_SPARSE_CATEGORICAL_ACCURACY, &(ck_metric_params){0}, p,
                                  ids, 2, 3, NULL),
                    1.0, 0);
    float pb[] = {0.6f, 0.4f, 0.5f}, yb[] = {1, 0, 1};
    ck_assert_close(ck_metric_sum(CK_METRIC_BINARY_ACCURACY, &(ck_metric_params){0}, pb, yb, 1, 3,
                                  NULL),
                    2.0 / 3.0, 1e-12);
    float pr[] = {1, 3}, yr[] = {0, 1};
    ck_assert_close(ck_metric_sum(CK_METRIC_MSE, &(ck_metric_params){0}, pr, yr, 1, 2, NULL), 2.5,
                    1e-12);
    ck_assert_close(ck_metric_sum(CK_METRIC_MAE, &(ck_metric_params){0}, pr, yr, 1, 2, NULL), 1.5,
                    1e-12);
    /* Masked rows (Keras: mask as sample weight) are skipped. */
    const float keep_second[] = {0, 1};
    float both_right[] = {1, 0};
    ck_assert_close(ck_metric_sum(CK_METRIC_SPARSE_CATEGORICAL_ACCURACY, &(ck_metric_params){0}, p,
                                  both_right, 2, 3, NULL),
                    2.0, 0);
    ck_assert_close(ck_metric_sum(CK_METRIC_SPARSE_CATEGORICAL_ACCURACY, &(ck_metric_params){0}, p,
                                  both_right, 2, 3, keep_second),
                    1.0, 0);
    ck_assert_close(ck_metric_sum(CK_METRIC_SPARSE_CATEGORICAL_ACCURACY, &(ck_metric_params){0}, p,
                                  ids, 2, 3, keep_second),
                    0.0, 0);
    ck_assert_int_eq(ck_mask_kept(keep_second, 2), 1);
    ck_assert_int_eq(ck_mask_kept(NULL, 2), 2);
}
END_TEST

/* The SGD(lr=1) step gives -gradient; compare it with finite differences
 * of the evaluated loss, which exercises the fused gradient end to end. */
static void check_model_gradient(ck_model *m, const char *loss, const ck_tensor *x,
                                 const ck_tensor *y)
{
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_sgd(.learning_rate = 1.0), .loss = loss));
    size_t n = m->n_trainable;
    float *before = malloc(n * sizeof *before);
    memcpy(before, m->params, n * sizeof *before);
    double num_norm = 0, diff_norm = 0;
    float *numeric = malloc(n * sizeof *numeric);
    for (size_t i = 0; i < n; i++) {
        double lp, lm, h = 1e-2;
        m->params[i] = before[i] + (float)h;
        ck_model_weights_changed(m);
        ck_assert_ok(ck_model_evaluate(m, x, y, 0, &lp, NULL));
        m->params[i] = before[i] - (float)h;
        ck_model_weights_changed(m);
        ck_assert_ok(ck_model_evaluate(m, x, y, 0, &lm, NULL));
        m->params[i] = before[i];
        ck_model_weights_changed(m);
        numeric[i] = (float)((lp - lm) / (2 * h));
    }
    ck_assert_ok(ck_model_train_on_batch(m, x, y, NULL));
    for (size_t i = 0; i < n; i++) {
        double analytic = before[i] - m->params[i];
        diff_norm += (analytic - numeric[i]) * (analytic - numeric[i]);
        num_norm += (double)numeric[i] * numeric[i];
    }
    ck_assert_msg(num_norm > 1e-6, "gradient is zero");
    ck_assert_msg(sqrt(diff_norm / num_norm) < 1e-2, "%s: relative error %g", loss,
                  sqrt(diff_norm / num_norm));
    free(before);
    free(numeric);
}

START_TEST(fused_softmax_dense)
{
    ck_model *m = ck_sequential(.seed = 3);
    ck_assert_ok(ck_model_add(m, ck_input(4)));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 3, .activation = "softmax")));
    float xd[] = {0.5f, -1, 0.2f, 0.3f, -0.4f, 0.8f, 1, -0.6f}, yd[] = {0, 0, 1, 0, 1, 0};
    ck_tensor x = {2, {2, 4}, xd}, y = {2, {2, 3}, yd};
    check_model_gradient(m, "categorical_crossentropy", &x, &y);
    ck_assert(m->layers[0]->fused_loss_grad);
    float ids[] = {2, 1};
    ck_tensor ys = {2, {2, 1}, ids};
    check_model_gradient(m, "sparse_categorical_crossentropy", &x, &ys);
    check_model_gradient(m, "mse", &x, &y);
    ck_assert(!m->layers[0]->fused_loss_grad);
    ck_model_free(m);
}
END_TEST

/* An identity Dense, so the model output is its input. */
static ck_model *identity_model(void)
{
    ck_model *m = ck_sequential(.seed = 1);
    ck_assert_ok(ck_model_add(m, ck_input(2)));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 2)));
    ck_assert_ok(ck_model_build(m));
    const float w[] = {1, 0, 0, 1, 0, 0};
    memcpy(m->params, w, sizeof w);
    return m;
}

START_TEST(huber_delta_and_loss_options)
{
    float ph[] = {0.5f, -3.0f}, yh[] = {0, 0}, g[2];
    ck_loss loss;
    ck_assert_ok(ck_loss_parse("huber", false, &loss));
    ck_assert_close(loss.delta, 1.0, 0);
    loss.delta = 2;
    /* (0.5 * 0.25 + 2 * (3 - 1)) / 2 */
    ck_assert_close(ck_loss_compute(&loss, ph, yh, 1, 2, g), 2.0625, 1e-9);
    assert_vec(g, (double[]){0.25, -1.0}, 2, 1e-7);

    ck_model *m = identity_model();
    ck_tensor x = {2, {1, 2}, ph}, y = {2, {1, 2}, yh};
    cJSON *tc = cJSON_Parse("{\"optimizer_config\": \"sgd\", \"loss\": {\"class_name\": \"Huber\", "
                            "\"config\": {\"reduction\": \"sum_over_batch_size\", \"name\": "
                            "\"huber_loss\", \"delta\": 2.0}}}");
    ck_assert_ok(ck_train_config_from_json(m, tc));
    double l;
    ck_assert_ok(ck_model_evaluate(m, &x, &y, 0, &l, NULL));
    ck_assert_close(l, 2.0625, 1e-7);
    /* Saved back with its delta. */
    cJSON *back = ck_train_config_to_json(m);
    cJSON *d = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(back, "loss"), "config"),
                                   "delta");
    ck_assert(cJSON_IsNumber(d));
    ck_assert_close(d->valuedouble, 2.0, 0);
    cJSON_Delete(back);
    cJSON_Delete(tc);
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_sgd(), .loss = "huber", .huber_delta = 0.5));
    ck_assert_ok(ck_model_evaluate(m, &x, &y, 0, &l, NULL));
    ck_assert_close(l, (0.125 + 0.5 * (3 - 0.25)) / 2, 1e-7);
    ck_assert_fails(ck_model_compile(m, .optimizer = ck_sgd(), .loss = "mse", .huber_delta = 2),
                    CK_ERR_ARGUMENT);
    /* Options ckeras cannot honour are refused, naming the option. */
    const char *bad[][2] = {
        {"{\"reduction\": \"sum\"}", "reduction"},
        {"{\"ignore_class\": 0}", "ignore_class"},
        {"{\"axis\": 1}", "axis"},
        {"{\"label_smoothing\": 0.1}", "label_smoothing"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[256];
        snprintf(text, sizeof text,
                 "{\"optimizer_config\": \"sgd\", \"loss\": {\"class_name\": "
                 "\"SparseCategoricalCrossentropy\", \"config\": %s}}",
                 bad[i][0]);
        cJSON *j = cJSON_Parse(text);
        ck_assert_fails(ck_train_config_from_json(m, j), CK_ERR_UNSUPPORTED);
        ck_assert_msg(strstr(ck_last_error(), bad[i][1]), "%s: %s", bad[i][1], ck_last_error());
        cJSON_Delete(j);
    }
    cJSON *ok = cJSON_Parse("{\"optimizer_config\": \"sgd\", \"loss\": {\"class_name\": "
                            "\"MeanSquaredError\", \"config\": {\"reduction\": \"auto\", "
                            "\"axis\": -1, \"ignore_class\": null}}}");
    ck_assert_ok(ck_train_config_from_json(m, ok));
    cJSON_Delete(ok);
    ck_model_free(m);
}
END_TEST

/* Keras loss_weights of one output scale the loss and its gradient, in
 * every form a saved config gives them. */
START_TEST(loss_weights)
{
    float xd[] = {0.5f, -3.0f}, yd[] = {0, 0};
    ck_tensor x = {2, {1, 2}, xd}, y = {2, {1, 2}, yd};
    const char *forms[] = {"0.25", "[0.25]", "{\"dense\": 0.25}"};
    for (int i = 0; i < 3; i++) {
        ck_model *m = identity_model();
        char text[200];
        snprintf(text, sizeof text,
                 "{\"optimizer_config\": \"sgd\", \"loss\": \"mse\", \"loss_weights\": %s}",
                 forms[i]);
        cJSON *tc = cJSON_Parse(text);
        ck_assert_ok(ck_train_config_from_json(m, tc));
        cJSON_Delete(tc);
        double l;
        ck_assert_ok(ck_model_evaluate(m, &x, &y, 0, &l, NULL));
        ck_assert_close(l, 0.25 * (0.25 + 9) / 2, 1e-7);
        cJSON *back = ck_train_config_to_json(m);
        const cJSON *w = cJSON_GetObjectItem(back, "loss_weights");
        ck_assert(cJSON_IsArray(w) && cJSON_GetArraySize(w) == 1);
        ck_assert_close(cJSON_GetArrayItem(w, 0)->valuedouble, 0.25, 0);
        cJSON_Delete(back);
        ck_model_free(m);
    }
    /* d(0.25 mse)/dW00 = 0.25 * x0 * out0 with lr 1. */
    ck_model *m = identity_model();
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_sgd(.learning_rate = 1), .loss = "mse",
                                  .loss_weight = 0.25));
    double l;
    ck_assert_ok(ck_model_train_on_batch(m, &x, &y, &l));
    ck_assert_close(l, 0.25 * 4.625, 1e-7);
    ck_assert_close(m->params[0], 1 - 0.25 * 0.5 * 0.5, 1e-7);
    const char *bad[] = {"[0.5, 0.5]", "-1", "\"x\""};
    for (int i = 0; i < 3; i++) {
        char text[200];
        snprintf(text, sizeof text,
                 "{\"optimizer_config\": \"sgd\", \"loss\": \"mse\", \"loss_weights\": %s}",
                 bad[i]);
        cJSON *tc = cJSON_Parse(text);
        ck_assert_fails(ck_train_config_from_json(m, tc), CK_ERR_UNSUPPORTED);
        ck_assert_ptr_nonnull(strstr(ck_last_error(), "loss_weights"));
        cJSON_Delete(tc);
    }
    ck_assert_fails(ck_model_compile(m, .optimizer = ck_sgd(), .loss = "mse", .loss_weight = -1),
                    CK_ERR_ARGUMENT);
    ck_model_free(m);
}
END_TEST

/* A loss given for the one output as a list or a dict is that loss. */
START_TEST(loss_of_the_one_output)
{
    float xd[] = {0.5f, -3.0f}, yd[] = {0, 0};
    ck_tensor x = {2, {1, 2}, xd}, y = {2, {1, 2}, yd};
    const char *forms[] = {"[\"mse\"]", "{\"dense\": \"mse\"}",
                           "[{\"class_name\": \"MeanSquaredError\", \"config\": {}}]",
                           "[\"mse\", \"mae\"]"};
    for (int i = 0; i < 4; i++) {
        ck_model *m = identity_model();
        char text[200];
        snprintf(text, sizeof text, "{\"optimizer_config\": \"sgd\", \"loss\": %s}", forms[i]);
        cJSON *tc = cJSON_Parse(text);
        if (i < 3) {
            ck_assert_ok(ck_train_config_from_json(m, tc));
            double l;
            ck_assert_ok(ck_model_evaluate(m, &x, &y, 0, &l, NULL));
            ck_assert_close(l, (0.25 + 9) / 2, 1e-7);
        } else {
            ck_assert_fails(ck_train_config_from_json(m, tc), CK_ERR_UNSUPPORTED);
        }
        cJSON_Delete(tc);
        ck_model_free(m);
    }
}
END_TEST

/* Layers that skip their activation for a fused loss report it through
 * the output_activation op. */
START_TEST(output_activation_op)
{
    ck_layer *d = ck_dense(.units = 2, .activation = "sigmoid");
    ck_layer *a = ck_activation(.activation = "tanh");
    ck_layer *sm = ck_softmax();
    ck_assert_ptr_nonnull(d->ops->output_activation);
    ck_assert_int_eq(d->ops->output_activation(d), CK_ACT_SIGMOID);
    ck_assert_int_eq(a->ops->output_activation(a), CK_ACT_TANH);
    ck_assert_int_eq(sm->ops->output_activation(sm), CK_ACT_SOFTMAX);
    ck_layer_free(d);
    ck_layer_free(a);
    ck_layer_free(sm);
}
END_TEST

START_TEST(fused_softmax_layer_and_sigmoid)
{
    ck_model *m = ck_sequential(.seed = 4);
    ck_assert_ok(ck_model_add(m, ck_input(3)));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 3)));
    ck_assert_ok(ck_model_add(m, ck_softmax()));
    float xd[] = {0.5f, -1, 0.2f, 0.3f, -0.4f, 0.8f}, ids[] = {1, 0};
    ck_tensor x = {2, {2, 3}, xd}, y = {1, {2}, ids};
    check_model_gradient(m, "sparse_categorical_crossentropy", &x, &y);
    ck_model_free(m);

    m = ck_sequential(.seed = 5);
    ck_assert_ok(ck_model_add(m, ck_input(3)));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 2, .activation = "sigmoid")));
    float yb[] = {1, 0, 0, 1};
    ck_tensor y2 = {2, {2, 2}, yb};
    check_model_gradient(m, "binary_crossentropy", &x, &y2);
    ck_model_free(m);
}
END_TEST

START_TEST(fused_sequence_output)
{
    ck_model *m = ck_sequential(.seed = 6);
    ck_assert_ok(ck_model_add(m, ck_input(3, 2)));
    ck_assert_ok(ck_model_add(m, ck_lstm(.units = 4, .return_sequences = true)));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 3, .activation = "softmax")));
    float xd[12] = {0.1f, -0.5f, 0.9f, 0.3f, -0.7f, 0.2f, 0.4f, 0.4f, -0.1f, -0.9f, 0.6f, 0.05f};
    float ids[] = {0, 1, 2, 2, 1, 0};
    ck_tensor x = {3, {2, 3, 2}, xd}, y = {2, {2, 3}, ids};
    check_model_gradient(m, "sparse_categorical_crossentropy", &x, &y);
    ck_model_free(m);
}
END_TEST

/* A softmax or sigmoid output followed by cross-entropy is scored from its
 * logits, as TensorFlow Keras does: where a probability is below the 1e-7
 * clip, the clipped formula would understate the loss. */
/* Standalone Keras 2.0-2.2.5 scored a softmax or sigmoid output from its
 * probabilities clipped to [1e-7, 1 - 1e-7] (tensorflow_backend.py of
 * 2.2.4: categorical_crossentropy and binary_crossentropy), with no logits
 * shortcut: a saturated wrong answer costs -log(1e-7) and, clipped, gives
 * no gradient. Keras 2.3 and later take the logits. */
START_TEST(standalone_keras2_clipped_probabilities)
{
    static const struct {
        const char *release;
        bool clipped;
    } cases[] = {{"2.0.8", true}, {"2.2.4", true}, {"2.3.1", false}, {"2.15.0", false}};
    const double minus_log_eps = -log(1e-7);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_model *m = ck_sequential(.seed = 1);
        ck_assert_ok(ck_model_add(m, ck_input(3)));
        ck_assert_ok(
            ck_model_add(m, ck_dense(.units = 3, .activation = "softmax", .no_bias = true)));
        ck_assert_ok(ck_model_build(m));
        const float eye[] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
        memcpy(m->params, eye, sizeof eye);
        snprintf(m->keras_version, sizeof m->keras_version, "%s", cases[i].release);
        ck_assert_ok(ck_model_compile(m, .optimizer = ck_sgd(.learning_rate = 1),
                                      .loss = "categorical_crossentropy"));
        float xd[] = {-20, 0, 0, 1, 2, 3}, yd[] = {1, 0, 0, 0, 1, 0};
        ck_tensor x = {2, {2, 3}, xd}, y = {2, {2, 3}, yd};
        double l;
        ck_assert_ok(ck_model_evaluate(m, &x, &y, 0, &l, NULL));
        /* -log(softmax(1, 2, 3)[1]) = 1.4076059 for the second sample. */
        double second = log(exp(1) + exp(2) + exp(3)) - 2;
        double want = cases[i].clipped ? (minus_log_eps + second) / 2 : 11.0503766;
        ck_assert_msg(fabs(l - want) < 1e-6, "keras_version %s: loss %.7f, want %.7f",
                      cases[i].release, l, want);
        /* The first sample alone: clipped, no step moves the weights. */
        ck_tensor x0 = {2, {1, 3}, xd}, y0 = {2, {1, 3}, yd};
        ck_assert_ok(ck_model_train_on_batch(m, &x0, &y0, &l));
        ck_assert_int_eq(memcmp(m->params, eye, sizeof eye) == 0, cases[i].clipped);
        ck_model_free(m);

        m = ck_sequential(.seed = 1);
        ck_assert_ok(ck_model_add(m, ck_input(1)));
        ck_assert_ok(
            ck_model_add(m, ck_dense(.units = 1, .activation = "sigmoid", .no_bias = true)));
        ck_assert_ok(ck_model_build(m));
        m->params[0] = 1;
        snprintf(m->keras_version, sizeof m->keras_version, "%s", cases[i].release);
        ck_assert_ok(ck_model_compile(m, .optimizer = ck_sgd(), .loss = "binary_crossentropy"));
        float xb[] = {-30}, yb[] = {1};
        ck_tensor x1 = {2, {1, 1}, xb}, y1 = {2, {1, 1}, yb};
        ck_assert_ok(ck_model_evaluate(m, &x1, &y1, 0, &l, NULL));
        /* -log(clip(sigmoid(-30))) against softplus(30) */
        want = cases[i].clipped ? minus_log_eps : 30.0;
        ck_assert_msg(fabs(l - want) < 1e-6, "keras_version %s: BCE %.7f, want %.7f",
                      cases[i].release, l, want);
        ck_model_free(m);
    }
}
END_TEST

/* Dense(3, softmax) with an identity kernel: the outputs are the softmax
 * of the inputs. */
static ck_model *softmax_of_inputs(void)
{
    ck_model *m = ck_sequential(.seed = 1);
    ck_assert_ok(ck_model_add(m, ck_input(3)));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 3, .activation = "softmax", .no_bias = true)));
    ck_assert_ok(ck_model_build(m));
    const float eye[] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    memcpy(m->params, eye, sizeof eye);
    return m;
}

START_TEST(fused_loss_value_from_logits)
{
    ck_model *m = softmax_of_inputs();
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_sgd(), .loss = "categorical_crossentropy"));
    float xd[] = {-20, 0, 0, 1, 2, 3}, yd[] = {1, 0, 0, 0, 1, 0};
    ck_tensor x = {2, {2, 3}, xd}, y = {2, {2, 3}, yd};
    double l;
    ck_assert_ok(ck_model_evaluate(m, &x, &y, 0, &l, NULL));
    /* (20 + log(2 + e^-20) + log(e + e^2 + e^3) - 2) / 2; clipped: 8.7628509 */
    ck_assert_close(l, 11.0503766, 1e-6);
    ck_model_free(m);

    m = ck_sequential(.seed = 1);
    ck_assert_ok(ck_model_add(m, ck_input(1)));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 1, .activation = "sigmoid", .no_bias = true)));
    ck_assert_ok(ck_model_build(m));
    m->params[0] = 1;
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_sgd(), .loss = "binary_crossentropy"));
    float xb[] = {30}, yb[] = {0};
    ck_tensor x1 = {2, {1, 1}, xb}, y1 = {2, {1, 1}, yb};
    ck_assert_ok(ck_model_evaluate(m, &x1, &y1, 0, &l, NULL));
    /* softplus(30); the clipped formula gives -log(1e-7) = 16.1 */
    ck_assert_close(l, 30.0, 1e-6);
    ck_model_free(m);
}
END_TEST

/* from_logits=True on a softmax output: TensorFlow Keras (tf.keras 2.5+,
 * Keras 3) takes the output's logits and warns; older Keras applied the
 * softmax a second time. */
static double logits_on_softmax_loss(const char *keras_version, bool *warned, bool *declared)
{
    ck_model *m = softmax_of_inputs();
    snprintf(m->keras_version, sizeof m->keras_version, "%s", keras_version);
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_sgd(), .loss = "categorical_crossentropy",
                                  .from_logits = true));
    float xd[] = {1, 2, 3}, yd[] = {0, 1, 0};
    ck_tensor x = {2, {1, 3}, xd}, y = {2, {1, 3}, yd};
    double l;
    ck_assert_ok(ck_model_evaluate(m, &x, &y, 0, &l, NULL));
    *warned = strstr(ck_model_warnings(m), "from_logits=True") != NULL;
    ck_compile_options o;
    ck_assert_ok(ck_model_get_compile_options(m, &o));
    *declared = o.from_logits;
    ck_model_free(m);
    return l;
}

START_TEST(from_logits_on_probabilities)
{
    bool warned, declared;
    const char *tensorflow[] = {"", "2.5.0", "2.15.0", "3.8.0"};
    for (int i = 0; i < 4; i++) {
        /* log(e + e^2 + e^3) - 2 */
        ck_assert_close(logits_on_softmax_loss(tensorflow[i], &warned, &declared), 1.407605964,
                        1e-6);
        ck_assert(warned);
        ck_assert(declared);
    }
    ck_assert_close(logits_on_softmax_loss("2.4.0", &warned, &declared), 1.217702819, 1e-6);
    ck_assert(!warned);
    ck_assert(declared);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("losses");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, categorical_probabilities);
    tcase_add_test(tc, categorical_logits_and_sparse);
    tcase_add_test(tc, binary);
    tcase_add_test(tc, standalone_keras2_clipped_probabilities);
    tcase_add_test(tc, regression);
    tcase_add_test(tc, names_and_errors);
    tcase_add_test(tc, metrics);
    tcase_add_test(tc, huber_delta_and_loss_options);
    tcase_add_test(tc, loss_weights);
    tcase_add_test(tc, loss_of_the_one_output);
    tcase_add_test(tc, output_activation_op);
    tcase_add_test(tc, fused_softmax_dense);
    tcase_add_test(tc, fused_softmax_layer_and_sigmoid);
    tcase_add_test(tc, fused_sequence_output);
    tcase_add_test(tc, fused_loss_value_from_logits);
    tcase_add_test(tc, from_logits_on_probabilities);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ck_test_run(suite());
}
