/* Learning-rate schedules against Keras's formulas (learning_rate_schedule.py)
 * with the expected rates worked out by hand, applied per optimizer step
 * (iterations before the step), saved in training_config as each Keras
 * writes them, and the learning rate read and set on a compiled model
 * without losing optimizer state. */
#include "ck_test.h"
#include "ck_train.h"

#include <string.h>

static void expect_rate(ck_lr_schedule s, double step, double want)
{
    double lr;
    ck_assert_ok(ck_lr_schedule_value(&s, step, &lr));
    /* Keras keeps the rate in float32. */
    ck_assert_msg(fabs(lr - want) <= 1e-7 * fabs(want) + 1e-12,
                  "%s at step %g: %.9g, expected %.9g", s.class_name, step, lr, want);
}

START_TEST(exponential_and_inverse_time)
{
    ck_lr_schedule e = ck_exponential_decay(.initial_learning_rate = 0.1, .decay_steps = 10,
                                            .decay_rate = 0.5);
    expect_rate(e, 0, 0.1);
    expect_rate(e, 5, 0.1 * sqrt(0.5)); /* 0.5^(5/10) */
    expect_rate(e, 20, 0.025);
    e.staircase = true;
    expect_rate(e, 15, 0.05); /* floor(1.5) = 1 */
    ck_lr_schedule inv = ck_inverse_time_decay(.initial_learning_rate = 0.1, .decay_steps = 10,
                                               .decay_rate = 0.5);
    expect_rate(inv, 5, 0.08); /* 0.1 / (1 + 0.5 * 0.5) */
    inv.staircase = true;
    expect_rate(inv, 15, 0.1 / 1.5);
}
END_TEST

START_TEST(polynomial)
{
    ck_lr_schedule p = ck_polynomial_decay(.initial_learning_rate = 0.1, .decay_steps = 10,
                                           .end_learning_rate = 0.01, .power = 2);
    expect_rate(p, 5, 0.09 * 0.25 + 0.01);
    expect_rate(p, 20, 0.01); /* the step stops at decay_steps */
    p.cycle = true;
    expect_rate(p, 15, 0.09 * 0.0625 + 0.01); /* decay_steps becomes 20: (1 - 0.75)^2 */
    expect_rate(p, 0, 0.1);                   /* multiplier 1 at step 0 */
    /* Keras's defaults: end_learning_rate 1e-4, power 1; an explicit 0 end is kept. */
    ck_lr_schedule d = ck_polynomial_decay(.initial_learning_rate = 0.1, .decay_steps = 10);
    expect_rate(d, 5, (0.1 - 1e-4) * 0.5 + 1e-4);
    d.explicit_fields = CK_OPT_END_LEARNING_RATE;
    expect_rate(d, 10, 0);
}
END_TEST

START_TEST(piecewise_and_cosine)
{
    ck_lr_schedule pw = ck_piecewise_constant_decay(.n_boundaries = 2, .boundaries = {10, 20},
                                                    .values = {1.0, 0.5, 0.1});
    const double steps[] = {0, 10, 11, 20, 21}, want[] = {1.0, 1.0, 0.5, 0.5, 0.1};
    for (int i = 0; i < 5; i++)
        expect_rate(pw, steps[i], want[i]);
    ck_lr_schedule c = ck_cosine_decay(.initial_learning_rate = 0.1, .decay_steps = 10,
                                       .alpha = 0.1);
    expect_rate(c, 5, 0.1 * (0.9 * 0.5 + 0.1));
    expect_rate(c, 10, 0.01);
    expect_rate(c, 25, 0.01);
    /* Keras 3 warm-up: linear from the initial rate to warmup_target, then the cosine. */
    ck_lr_schedule w = ck_cosine_decay(.initial_learning_rate = 0, .decay_steps = 10,
                                       .warmup_target = 0.1, .warmup_steps = 4);
    expect_rate(w, 2, 0.05);
    expect_rate(w, 4, 0.1);
    expect_rate(w, 9, 0.05);
    expect_rate(w, 100, 0);
}
END_TEST

START_TEST(bad_schedules)
{
    double lr;
    ck_lr_schedule s = ck_exponential_decay(.initial_learning_rate = 0.1, .decay_rate = 0.5);
    ck_assert_fails(ck_lr_schedule_value(&s, 0, &lr), CK_ERR_ARGUMENT); /* decay_steps 0 */
    s = (ck_lr_schedule){.class_name = "CosineDecayRestarts"};
    ck_assert_fails(ck_lr_schedule_value(&s, 0, &lr), CK_ERR_NAME);
    s = ck_piecewise_constant_decay(.n_boundaries = 0);
    ck_assert_fails(ck_lr_schedule_value(&s, 0, &lr), CK_ERR_ARGUMENT);
}
END_TEST

static ck_model *line_model(ck_optimizer_options opt)
{
    ck_model *m = ck_sequential(.seed = 3);
    ck_assert_ok(ck_model_add(m, ck_input(1)));
    ck_assert_ok(ck_model_add(m, ck_dense(1, .no_bias = true)));
    ck_assert_ok(ck_model_compile(m, .optimizer = opt, .loss = "mse"));
    m->params[0] = 1.0f;
    return m;
}

/* Keras evaluates the schedule at optimizer.iterations before the step:
 * the first step uses step 0. With values 1 up to step 0 and 0 after it,
 * only the first step moves the weight. */
START_TEST(schedule_applied_per_step)
{
    ck_model *m = line_model(
        ck_sgd(.learning_rate_schedule = ck_piecewise_constant_decay(.n_boundaries = 1,
                                                                     .boundaries = {0},
                                                                     .values = {0.25, 0})));
    float one = 1, zero = 0;
    ck_tensor x = {2, {1, 1}, &one}, y = {2, {1, 1}, &zero};
    double lr;
    ck_assert_ok(ck_model_get_learning_rate(m, &lr));
    ck_assert_close(lr, 0.25, 0);
    ck_assert_ok(ck_model_train_on_batch(m, &x, &y, NULL));
    ck_assert_close(m->params[0], 1 - 0.25 * 2, 1e-7); /* d(w^2)/dw = 2w */
    ck_assert_ok(ck_model_get_learning_rate(m, &lr));
    ck_assert_close(lr, 0, 0);
    ck_assert_ok(ck_model_train_on_batch(m, &x, &y, NULL));
    ck_assert_close(m->params[0], 0.5, 1e-7);
    int64_t it;
    ck_assert_ok(ck_model_get_iterations(m, &it));
    ck_assert_int_eq(it, 2);
    /* Keras refuses to set a rate that a schedule controls. */
    ck_assert_fails(ck_model_set_learning_rate(m, 0.1), CK_ERR_STATE);
    ck_model_free(m);

    /* ExponentialDecay over three steps: w -= lr_t 2 w with lr_t = 0.1 0.5^(t/2). */
    m = line_model(
        ck_sgd(.learning_rate_schedule = ck_exponential_decay(.initial_learning_rate = 0.1,
                                                              .decay_steps = 2,
                                                              .decay_rate = 0.5)));
    double w = 1;
    for (int t = 0; t < 3; t++) {
        ck_assert_ok(ck_model_train_on_batch(m, &x, &y, NULL));
        w -= 0.1 * pow(0.5, t / 2.0) * 2 * w;
    }
    ck_assert_close(m->params[0], w, 1e-6);
    ck_model_free(m);
}
END_TEST

/* Setting the rate keeps Adam's moments and step count: the third step
 * with the new rate equals Adam's formula continued from the first two. */
START_TEST(set_learning_rate_keeps_state)
{
    ck_model *m = line_model(ck_adam(.learning_rate = 0.1));
    float one = 1, zero = 0;
    ck_tensor x = {2, {1, 1}, &one}, y = {2, {1, 1}, &zero};
    double w = 1, mo = 0, v = 0;
    for (int t = 1; t <= 3; t++) {
        double lr = t < 3 ? 0.1 : 0.02;
        if (t == 3)
            ck_assert_ok(ck_model_set_learning_rate(m, lr));
        ck_assert_ok(ck_model_train_on_batch(m, &x, &y, NULL));
        double g = 2 * w;
        mo += (g - mo) * 0.1;
        v += (g * g - v) * 0.001;
        w -= lr * sqrt(1 - pow(0.999, t)) / (1 - pow(0.9, t)) * mo / (sqrt(v) + 1e-7);
    }
    ck_assert_close(m->params[0], w, 1e-6);
    double lr;
    ck_assert_ok(ck_model_get_learning_rate(m, &lr));
    ck_assert_close(lr, (float)0.02, 0);
    ck_assert_fails(ck_model_set_learning_rate(m, -1), CK_ERR_ARGUMENT);
    ck_assert_fails(ck_model_set_learning_rate(m, NAN), CK_ERR_ARGUMENT);
    ck_model_free(m);
    ck_model *raw = ck_sequential();
    ck_assert_ok(ck_model_add(raw, ck_input(1)));
    ck_assert_ok(ck_model_add(raw, ck_dense(1)));
    ck_assert_fails(ck_model_get_learning_rate(raw, &lr), CK_ERR_STATE);
    ck_model_free(raw);
}
END_TEST

static char *config_text(ck_keras_semantics semantics, ck_lr_schedule sched)
{
    ck_model *m = ck_sequential(.semantics = semantics);
    ck_assert_ok(ck_model_add(m, ck_input(1)));
    ck_assert_ok(ck_model_add(m, ck_dense(1)));
    ck_assert_ok(
        ck_model_compile(m, .optimizer = ck_adam(.learning_rate_schedule = sched), .loss = "mse"));
    cJSON *j = ck_train_config_to_json(m);
    cJSON *lr = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(j, "optimizer_config"), "config"), "learning_rate");
    char *text = cJSON_PrintUnformatted(lr);
    cJSON_Delete(j);
    ck_model_free(m);
    return text;
}

/* The serialized forms Keras writes: keras.optimizers.schedules.serialize
 * (Keras 3: module, class_name, config, registered_name; name defaults to
 * the class) and tf.keras 2 (class_name and config; name None). */
START_TEST(saved_as_keras_writes_it)
{
    ck_lr_schedule e = ck_exponential_decay(.initial_learning_rate = 0.1, .decay_steps = 1000,
                                            .decay_rate = 0.96, .staircase = true);
    char *k3 = config_text(CK_KERAS3, e), *k2 = config_text(CK_KERAS2, e);
    ck_assert_str_eq(k3, "{\"module\":\"keras.optimizers.schedules\",\"class_name\":"
                         "\"ExponentialDecay\",\"config\":{\"initial_learning_rate\":0.1,"
                         "\"decay_steps\":1000,\"decay_rate\":0.96,\"staircase\":true,\"name\":"
                         "\"ExponentialDecay\"},\"registered_name\":null}");
    ck_assert_str_eq(k2, "{\"class_name\":\"ExponentialDecay\",\"config\":{\"initial_learning_"
                         "rate\":0.1,\"decay_steps\":1000,\"decay_rate\":0.96,\"staircase\":true,"
                         "\"name\":null}}");
    free(k3);
    free(k2);
    char *cos = config_text(CK_KERAS3,
                            ck_cosine_decay(.initial_learning_rate = 0.1, .decay_steps = 100));
    ck_assert_ptr_nonnull(strstr(cos, "\"alpha\":0,\"warmup_target\":null,\"warmup_steps\":0,"
                                      "\"name\":\"CosineDecay\""));
    free(cos);
    char *pw = config_text(CK_KERAS3,
                           ck_piecewise_constant_decay(.n_boundaries = 1, .boundaries = {5},
                                                       .values = {0.1, 0.01}));
    ck_assert_ptr_nonnull(strstr(pw, "{\"boundaries\":[5],\"values\":[0.1,0.01],\"name\":"
                                     "\"PiecewiseConstant\"}"));
    free(pw);
}
END_TEST

/* Both forms load back into the same schedule. */
START_TEST(loaded_from_either_form)
{
    const char *forms[] = {
        "{\"class_name\": \"Adam\", \"config\": {\"learning_rate\": {\"module\": "
        "\"keras.optimizers.schedules\", \"class_name\": \"PolynomialDecay\", \"config\": "
        "{\"initial_learning_rate\": 0.1, \"decay_steps\": 10, \"end_learning_rate\": 0.0, "
        "\"power\": 2.0, \"cycle\": true, \"name\": \"poly\"}, \"registered_name\": null}}}",
        "{\"class_name\": \"Adam\", \"config\": {\"learning_rate\": {\"class_name\": "
        "\"PolynomialDecay\", \"config\": {\"initial_learning_rate\": 0.1, \"decay_steps\": 10, "
        "\"end_learning_rate\": 0.0, \"power\": 2.0, \"cycle\": true, \"name\": \"poly\"}}}}",
    };
    for (int i = 0; i < 2; i++) {
        cJSON *j = cJSON_Parse(forms[i]);
        ck_optimizer_options o;
        ck_assert_ok(ck_optimizer_from_json(j, &o));
        const ck_lr_schedule *s = &o.learning_rate_schedule;
        ck_assert_str_eq(s->class_name, "PolynomialDecay");
        ck_assert_str_eq(s->name, "poly");
        ck_assert(s->cycle);
        expect_rate(*s, 15, 0.1 * 0.0625); /* the explicit end 0 is kept */
        cJSON_Delete(j);
    }
    cJSON *bad = cJSON_Parse("{\"class_name\": \"Adam\", \"config\": {\"learning_rate\": "
                             "{\"class_name\": \"CosineDecayRestarts\", \"config\": {}}}}");
    ck_optimizer_options o;
    ck_assert_fails(ck_optimizer_from_json(bad, &o), CK_ERR_UNSUPPORTED);
    cJSON_Delete(bad);
}
END_TEST

/* A saved model resumes its schedule at the saved step count. */
START_TEST(schedule_survives_save_and_load)
{
    ck_model *m = line_model(
        ck_adam(.learning_rate_schedule = ck_exponential_decay(.initial_learning_rate = 0.1,
                                                               .decay_steps = 2,
                                                               .decay_rate = 0.5)));
    float one = 1, zero = 0;
    ck_tensor x = {2, {1, 1}, &one}, y = {2, {1, 1}, &zero};
    for (int t = 0; t < 3; t++)
        ck_assert_ok(ck_model_train_on_batch(m, &x, &y, NULL));
    const char *path = ck_test_path("sched.h5");
    ck_assert_ok(ck_model_save(m, path));
    ck_model_free(m);
    ck_assert_ok(ck_model_load(path, &m));
    double lr;
    ck_assert_ok(ck_model_get_learning_rate(m, &lr));
    ck_assert_close(lr, (float)(0.1 * pow(0.5, 1.5)), 1e-9);
    ck_model_free(m);
}
END_TEST

static Suite *schedules_suite(void)
{
    Suite *s = suite_create("schedules");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, ck_test_scratch_fixture, ck_test_remove_dir);
    tcase_add_test(tc, exponential_and_inverse_time);
    tcase_add_test(tc, polynomial);
    tcase_add_test(tc, piecewise_and_cosine);
    tcase_add_test(tc, bad_schedules);
    tcase_add_test(tc, schedule_applied_per_step);
    tcase_add_test(tc, set_learning_rate_keeps_state);
    tcase_add_test(tc, saved_as_keras_writes_it);
    tcase_add_test(tc, loaded_from_either_form);
    tcase_add_test(tc, schedule_survives_save_and_load);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ck_test_run(schedules_suite());
}
