/* Optimizer steps on a tiny linear Dense model against the Keras update
 * formulas, re-derived here in double precision. The model is
 * out = x W + b with MSE, so the gradient has a closed form. */
#include "ck_test.h"
#include "ck_io.h"
#include "ck_train.h"

#include <string.h>

#define NP 6 /* W (2x2) then b (2), the model's parameter order */

static const float X[2] = {1.0f, 2.0f};
static const double W0[NP] = {0.1, 0.2, 0.3, 0.4, 0.5, -0.5};

/* d(MSE)/d(params) for one sample x and target y. */
static void gradient(const double *p, const float *y, double *g)
{
    for (int u = 0; u < 2; u++) {
        double out = X[0] * p[u] + X[1] * p[2 + u] + p[4 + u];
        double e = out - y[u]; /* 2 e / 2 outputs */
        g[u] = X[0] * e;
        g[2 + u] = X[1] * e;
        g[4 + u] = e;
    }
}

/* The keras_version of the file the model is taken to come from ("": one
 * built in C), and whether that release put RMSprop's (without momentum)
 * and Adagrad's epsilon outside the square root. */
static const char *file_version = "";
static bool epsilon_outside;

static ck_model *tiny_model(const ck_optimizer_options *opt)
{
    ck_model *m = ck_sequential(.seed = 1);
    snprintf(m->keras_version, sizeof m->keras_version, "%s", file_version);
    ck_assert_ok(ck_model_add(m, ck_input(2)));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 2)));
    ck_assert_ok(ck_model_compile(m, .optimizer = *opt, .loss = "mse"));
    for (int i = 0; i < NP; i++)
        m->params[i] = (float)W0[i];
    return m;
}

/* Keras clip_by_value over all of g, clip_by_norm over g[from, to). */
static void clamp(double *g, double c)
{
    for (int i = 0; i < NP; i++)
        g[i] = fmax(-c, fmin(c, g[i]));
}

static void scale_norm(double *g, int from, int to, double limit)
{
    double s = 0;
    for (int i = from; i < to; i++)
        s += g[i] * g[i];
    for (int i = from; i < to && sqrt(s) > limit; i++)
        g[i] *= limit / sqrt(s);
}

/* Keras's per-weight clip_by_norm, global norm and value clipping. */
static void clip(const ck_optimizer_options *o, double *g)
{
    if (o->clipnorm > 0) {
        scale_norm(g, 0, 4, o->clipnorm);
        scale_norm(g, 4, NP, o->clipnorm);
    }
    if (o->global_clipnorm > 0)
        scale_norm(g, 0, NP, o->global_clipnorm);
    if (o->clipvalue > 0)
        clamp(g, o->clipvalue);
}

typedef struct ref_state {
    double m[NP], v[NP], vhat[NP], mg[NP];
} ref_state;

/* One step of the Keras formula for o (defaults already applied by the test). */
static void reference_step(const ck_optimizer_options *o, int t, double *p, double *g, ref_state *s)
{
    const char *n = o->name;
    clip(o, g);
    /* Keras 3 decoupled weight decay, before the update (AdamW's default 0.004). */
    for (int i = 0; i < NP; i++)
        p[i] -= p[i] * o->weight_decay * o->learning_rate;
    for (int i = 0; i < NP; i++) {
        if (strcmp(n, "sgd") == 0) {
            if (o->momentum == 0) {
                p[i] -= o->learning_rate * g[i];
                continue;
            }
            s->m[i] = o->momentum * s->m[i] - o->learning_rate * g[i];
            p[i] += o->nesterov ? o->momentum * s->m[i] - o->learning_rate * g[i] : s->m[i];
        } else if (strcmp(n, "nadam") == 0) {
            /* u_t = b1 (1 - 0.5 0.96^t); the products run over steps 1..t and 1..t+1. */
            double u_t = o->beta_1 * (1 - 0.5 * pow(0.96, t));
            double u_next = o->beta_1 * (1 - 0.5 * pow(0.96, t + 1)), prod = 1;
            for (int k = 1; k <= t; k++)
                prod *= o->beta_1 * (1 - 0.5 * pow(0.96, k));
            s->m[i] += (g[i] - s->m[i]) * (1 - o->beta_1);
            s->v[i] += (g[i] * g[i] - s->v[i]) * (1 - o->beta_2);
            double m_hat = u_next * s->m[i] / (1 - prod * u_next) + (1 - u_t) * g[i] / (1 - prod);
            double v_hat = s->v[i] / (1 - pow(o->beta_2, t));
            p[i] -= m_hat * o->learning_rate / (sqrt(v_hat) + o->epsilon);
        } else if (strcmp(n, "adamax") == 0) {
            s->m[i] += (g[i] - s->m[i]) * (1 - o->beta_1);
            s->v[i] = fmax(o->beta_2 * s->v[i], fabs(g[i]));
            p[i] -= o->learning_rate / (1 - pow(o->beta_1, t)) * s->m[i] / (s->v[i] + o->epsilon);
        } else if (strcmp(n, "adam") == 0 || strcmp(n, "adamw") == 0) {
            double alpha = o->learning_rate * sqrt(1 - pow(o->beta_2, t)) / (1 - pow(o->beta_1, t));
            s->m[i] += (g[i] - s->m[i]) * (1 - o->beta_1);
            s->v[i] += (g[i] * g[i] - s->v[i]) * (1 - o->beta_2);
            s->vhat[i] = fmax(s->vhat[i], s->v[i]);
            p[i] -= alpha * s->m[i] / (sqrt(o->amsgrad ? s->vhat[i] : s->v[i]) + o->epsilon);
        } else if (strcmp(n, "rmsprop") == 0) {
            s->v[i] = o->rho * s->v[i] + (1 - o->rho) * g[i] * g[i];
            s->mg[i] = o->rho * s->mg[i] + (1 - o->rho) * g[i];
            double denom = s->v[i] - (o->centered ? s->mg[i] * s->mg[i] : 0);
            double step = epsilon_outside && o->momentum == 0
                              ? o->learning_rate * g[i] / (sqrt(denom) + o->epsilon)
                              : o->learning_rate * g[i] / sqrt(denom + o->epsilon);
            s->m[i] = o->momentum * s->m[i] + step;
            p[i] -= o->momentum > 0 ? s->m[i] : step;
        } else { /* adagrad */
            s->v[i] += g[i] * g[i];
            p[i] -= o->learning_rate * g[i] /
                    (epsilon_outside ? sqrt(s->v[i]) + o->epsilon : sqrt(s->v[i] + o->epsilon));
        }
    }
}

/* Targets per step; the last one is close to the output so that later
 * gradients shrink (this exercises amsgrad's running maximum). */
static const float Y[3][2] = {{1.0f, 1.0f}, {2.0f, -1.0f}, {1.15f, 0.45f}};

/* Trains m (made by tiny_model) `steps` steps beside the Keras formula for `keras`. */
static void check_model_steps(ck_model *m, ck_optimizer_options keras, int steps)
{
    double p[NP], g[NP];
    ref_state s = {0};
    if (strcmp(keras.name, "adagrad") == 0)
        for (int i = 0; i < NP; i++)
            s.v[i] = keras.initial_accumulator_value;
    memcpy(p, W0, sizeof p);
    for (int t = 1; t <= steps; t++) {
        ck_tensor x = {2, {1, 2}, (float *)X}, y = {2, {1, 2}, (float *)Y[t - 1]};
        ck_assert_ok(ck_model_train_on_batch(m, &x, &y, NULL));
        gradient(p, Y[t - 1], g);
        reference_step(&keras, t, p, g, &s);
    }
    for (int i = 0; i < NP; i++)
        ck_assert_msg(fabs(m->params[i] - p[i]) <= 1e-6, "%s step %d: param %d = %.9g, Keras %.9g",
                      keras.name, steps, i, m->params[i], p[i]);
    ck_model_free(m);
}

/* `keras` is o with Keras's defaults spelled out; `given` is what the user passes. */
static void check_steps(ck_optimizer_options given, ck_optimizer_options keras, int steps)
{
    check_model_steps(tiny_model(&given), keras, steps);
}

START_TEST(sgd_plain_first_step_by_hand)
{
    ck_model *m = tiny_model(&(ck_optimizer_options){.name = "SGD", .learning_rate = 0.1});
    ck_tensor x = {2, {1, 2}, (float *)X}, y = {2, {1, 2}, (float *)Y[0]};
    double loss;
    ck_assert_ok(ck_model_train_on_batch(m, &x, &y, &loss));
    /* out = [1.2, 0.5], e = [0.2, -0.5]: loss (0.04 + 0.25) / 2; grad W = x^T e, grad b = e. */
    ck_assert_close(loss, 0.145, 1e-7);
    const double want[NP] = {0.08, 0.25, 0.26, 0.5, 0.48, -0.45};
    for (int i = 0; i < NP; i++)
        ck_assert_close(m->params[i], want[i], 1e-7);
    ck_model_free(m);
}
END_TEST

START_TEST(sgd_variants)
{
    ck_optimizer_options d = {.name = "sgd", .learning_rate = 0.01};
    check_steps((ck_optimizer_options){.name = "sgd"}, d, 3);
    ck_optimizer_options mom = {.name = "sgd", .learning_rate = 0.05, .momentum = 0.9};
    check_steps(mom, mom, 3);
    mom.nesterov = true;
    check_steps(mom, mom, 3);
}
END_TEST

START_TEST(adam_variants)
{
    ck_optimizer_options keras = {
        .name = "adam", .learning_rate = 0.001, .beta_1 = 0.9, .beta_2 = 0.999, .epsilon = 1e-7};
    check_steps((ck_optimizer_options){.name = "Adam"}, keras, 3);
    ck_optimizer_options custom = {.name = "adam",
                                   .learning_rate = 0.1,
                                   .beta_1 = 0.5,
                                   .beta_2 = 0.6,
                                   .epsilon = 1e-3,
                                   .amsgrad = true};
    check_steps(custom, custom, 3);
    custom.amsgrad = false;
    check_steps(custom, custom, 3);
}
END_TEST

/* Keras 3 nadam.py, adamax.py and adamw.py (Adam after w -= w wd lr), one
 * and three steps, defaults and custom values. */
START_TEST(nadam_adamax_adamw)
{
    const char *names[] = {"nadam", "adamax", "adamw"};
    for (int k = 0; k < 3; k++) {
        ck_optimizer_options keras = {.name = names[k],
                                      .learning_rate = 0.001,
                                      .beta_1 = 0.9,
                                      .beta_2 = 0.999,
                                      .epsilon = 1e-7,
                                      .weight_decay = k == 2 ? 0.004 : 0};
        for (int steps = 1; steps <= 3; steps += 2) {
            check_steps((ck_optimizer_options){.name = names[k]}, keras, steps);
            ck_optimizer_options custom = {.name = names[k],
                                           .learning_rate = 0.1,
                                           .beta_1 = 0.5,
                                           .beta_2 = 0.7,
                                           .epsilon = 1e-3,
                                           .weight_decay = 0.05 * k};
            check_steps(custom, custom, steps);
        }
    }
    /* Any Keras 3 optimizer takes weight_decay. */
    ck_optimizer_options sgd = {.name = "sgd", .learning_rate = 0.1, .weight_decay = 0.2};
    check_steps(sgd, sgd, 3);
}
END_TEST

START_TEST(rmsprop_variants)
{
    ck_optimizer_options keras = {
        .name = "rmsprop", .learning_rate = 0.001, .rho = 0.9, .epsilon = 1e-7};
    check_steps((ck_optimizer_options){.name = "rmsprop"}, keras, 3);
    ck_optimizer_options o = {
        .name = "rmsprop", .learning_rate = 0.01, .rho = 0.8, .epsilon = 1e-7, .momentum = 0.5};
    check_steps(o, o, 3);
    o.centered = true;
    check_steps(o, o, 3);
    o.momentum = 0;
    check_steps(o, o, 3);
}
END_TEST

START_TEST(adagrad_defaults)
{
    ck_optimizer_options keras = {.name = "adagrad",
                                  .learning_rate = 0.001,
                                  .initial_accumulator_value = 0.1,
                                  .epsilon = 1e-7};
    check_steps((ck_optimizer_options){.name = "adagrad"}, keras, 3);
    ck_optimizer_options o = {
        .name = "adagrad", .learning_rate = 0.5, .initial_accumulator_value = 1.0, .epsilon = 1e-7};
    check_steps(o, o, 3);
}
END_TEST

/* Standalone Keras 2.0 to 2.3 (optimizers.py of 2.0.0, 2.2.4, 2.3.1)
 * started Adagrad's accumulators at 0 and, like tf.keras 2.0 to 2.10
 * (optimizer_v2: ResourceApplyAdagradV2, and RMSprop without momentum),
 * divided by sqrt(accumulator) + epsilon; RMSprop with momentum
 * (ResourceApplyRMSProp) kept epsilon inside the root. */
START_TEST(keras2_legacy_updates)
{
    epsilon_outside = true;
    file_version = "2.2.4";
    ck_optimizer_options standalone = {
        .name = "adagrad", .learning_rate = 0.1, .initial_accumulator_value = 0, .epsilon = 1e-7};
    check_steps((ck_optimizer_options){.name = "adagrad", .learning_rate = 0.1}, standalone, 3);
    ck_optimizer_options rms = {
        .name = "rmsprop", .learning_rate = 0.01, .rho = 0.9, .epsilon = 0.01};
    check_steps(rms, rms, 3);
    file_version = "2.6.0";
    ck_optimizer_options tf = {
        .name = "adagrad", .learning_rate = 0.1, .initial_accumulator_value = 0.1, .epsilon = 1e-7};
    check_steps((ck_optimizer_options){.name = "adagrad", .learning_rate = 0.1}, tf, 3);
    rms.centered = true;
    check_steps(rms, rms, 3);
    rms.momentum = 0.5;
    check_steps(rms, rms, 3);
    /* tf.keras 2.11 brought Keras 3's rule. */
    epsilon_outside = false;
    file_version = "2.11.0";
    check_steps((ck_optimizer_options){.name = "adagrad", .learning_rate = 0.1}, tf, 3);
    file_version = "";
}
END_TEST

/* tf.keras 2.9 to 2.15 write is_legacy_optimizer into the optimizer
 * config; it names the rule rather than the release: a 2.13 file of a
 * legacy Adagrad puts epsilon outside the root, a 2.10 file of the new
 * (experimental) one inside. */
START_TEST(is_legacy_optimizer_decides)
{
    const struct {
        const char *version, *legacy;
    } cases[] = {{"2.13.1", "true"}, {"2.10.0", "false"}};
    ck_optimizer_options keras = {
        .name = "adagrad", .learning_rate = 0.1, .initial_accumulator_value = 0.1, .epsilon = 0.1};
    for (int k = 0; k < 2; k++) {
        file_version = cases[k].version;
        epsilon_outside = k == 0;
        ck_model *m = tiny_model(&(ck_optimizer_options){.name = "sgd"});
        char text[512];
        snprintf(text, sizeof text,
                 "{\"loss\": \"mse\", \"optimizer_config\": {\"class_name\": \"Adagrad\", "
                 "\"config\": {\"learning_rate\": 0.1, \"initial_accumulator_value\": 0.1, "
                 "\"epsilon\": 0.1, \"is_legacy_optimizer\": %s}}}",
                 cases[k].legacy);
        cJSON *tc = cJSON_Parse(text);
        ck_assert_ok(ck_train_config_from_json(m, tc));
        cJSON_Delete(tc);
        for (int i = 0; i < NP; i++)
            m->params[i] = (float)W0[i];
        check_model_steps(m, keras, 3);
    }
    epsilon_outside = false;
    file_version = "";
}
END_TEST

START_TEST(clipping)
{
    ck_optimizer_options o = {.name = "sgd", .learning_rate = 1.0, .clipnorm = 0.5};
    check_steps(o, o, 2);
    o = (ck_optimizer_options){.name = "sgd", .learning_rate = 1.0, .clipvalue = 0.3};
    check_steps(o, o, 2);
    o = (ck_optimizer_options){.name = "adam",
                               .learning_rate = 0.01,
                               .beta_1 = 0.9,
                               .beta_2 = 0.999,
                               .epsilon = 1e-7,
                               .global_clipnorm = 1.0};
    check_steps(o, o, 2);
    /* First step by hand: ||grad W|| = sqrt(1.45) > 0.5 is scaled, ||grad b|| = sqrt(0.29) too. */
    ck_model *m = tiny_model(
        &(ck_optimizer_options){.name = "sgd", .learning_rate = 1.0, .clipnorm = 0.5});
    ck_tensor x = {2, {1, 2}, (float *)X}, y = {2, {1, 2}, (float *)Y[0]};
    ck_assert_ok(ck_model_train_on_batch(m, &x, &y, NULL));
    ck_assert_close(m->params[0], 0.1 - 0.2 * 0.5 / sqrt(1.45), 1e-7);
    ck_assert_close(m->params[5], -0.5 + 0.5 * 0.5 / sqrt(0.29), 1e-7);
    ck_model_free(m);
}
END_TEST

/* Standalone Keras 2.0 to 2.3 (Optimizer.get_gradients of 2.2.4 and 2.3.1)
 * scales every gradient by clipnorm / n, n the norm of all gradients
 * together, once n >= clipnorm: the rule tf.keras later named
 * global_clipnorm. Models from such files train so. */
START_TEST(standalone_keras2_clipnorm_is_global)
{
    ck_model *m = ck_sequential(.seed = 1);
    snprintf(m->keras_version, sizeof m->keras_version, "2.2.4");
    ck_assert_ok(ck_model_add(m, ck_input(2)));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 2)));
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_sgd(.learning_rate = 1.0, .clipnorm = 0.5),
                                  .loss = "mse"));
    for (int i = 0; i < NP; i++)
        m->params[i] = (float)W0[i];
    ck_tensor x = {2, {1, 2}, (float *)X}, y = {2, {1, 2}, (float *)Y[0]};
    ck_assert_ok(ck_model_train_on_batch(m, &x, &y, NULL));
    /* ||grad W||^2 = 1.45 and ||grad b||^2 = 0.29 are scaled together. */
    ck_assert_close(m->params[0], 0.1 - 0.2 * 0.5 / sqrt(1.74), 1e-7);
    ck_assert_close(m->params[5], -0.5 + 0.5 * 0.5 / sqrt(1.74), 1e-7);
    ck_model_free(m);
}
END_TEST

/* Two clip options at once, one SGD step (lr 1) from W0 towards Y[0],
 * whose gradient is W (0.2, -0.5, 0.4, -1.0), b (0.2, -0.5). Expected
 * gradients by hand, in each release's order (see clip_gradients). */
typedef struct clip_case {
    const char *version;
    double clipnorm, clipvalue, global_clipnorm;
    const char *order; /* v: clipvalue, n: clipnorm per weight, g: the norm of all */
} clip_case;

static const clip_case clip_cases[] = {
    {"2.9.0", 0.5, 0.3, 0, "vn"}, /* tf.keras OptimizerV2 */
    {"2.9.0", 0, 0.3, 0.5, "vg"}, /* clipvalue, then global_clipnorm */
    {"2.15.0", 0.5, 0.3, 0, "n"}, /* the 2.11+ optimizer: the first option only */
    {"2.15.0", 0, 0.3, 0.5, "g"}, /* global_clipnorm before clipvalue */
    {"2.2.4", 0.5, 0.3, 0, "gv"}, /* standalone: clipnorm of all gradients, then clipvalue */
};

START_TEST(clip_combinations_follow_the_release)
{
    const clip_case *c = &clip_cases[_i];
    file_version = c->version;
    double limit = c->clipnorm > 0 ? c->clipnorm : c->global_clipnorm;
    ck_model *m = tiny_model(&(ck_optimizer_options){.name = "sgd",
                                                     .learning_rate = 1.0,
                                                     .clipnorm = c->clipnorm,
                                                     .clipvalue = c->clipvalue,
                                                     .global_clipnorm = c->global_clipnorm});
    file_version = "";
    double g[NP];
    gradient(W0, Y[0], g);
    for (const char *op = c->order; *op; op++) {
        if (*op == 'v')
            clamp(g, c->clipvalue);
        if (*op == 'g')
            scale_norm(g, 0, NP, limit);
        if (*op == 'n') {
            scale_norm(g, 0, 4, limit);
            scale_norm(g, 4, NP, limit);
        }
    }
    ck_tensor x = {2, {1, 2}, (float *)X}, y = {2, {1, 2}, (float *)Y[0]};
    ck_assert_ok(ck_model_train_on_batch(m, &x, &y, NULL));
    for (int i = 0; i < NP; i++)
        ck_assert_msg(fabs(m->params[i] - (W0[i] - g[i])) < 1e-6,
                      "%s %s: parameter %d is %.7f, not %.7f", c->version, c->order, i,
                      (double)m->params[i], W0[i] - g[i]);
    ck_model_free(m);
}
END_TEST

/* Keras 3 and tf.keras 2.0-2.3 (whose optimizer is not among the sources
 * read) keep one option; no Keras takes clipnorm with global_clipnorm. A
 * tf.keras 2.13 config that says is_legacy_optimizer applies OptimizerV2's
 * order. */
START_TEST(clip_combinations_refused_or_read)
{
    const char *refused[][2] = {
        {"", "only one of"}, {"2.3.0-tf", "only one of"}, {"2.9.0", "cannot both"}};
    for (int k = 0; k < 3; k++) {
        ck_model *m = ck_sequential();
        snprintf(m->keras_version, sizeof m->keras_version, "%s", refused[k][0]);
        ck_assert_ok(ck_model_add(m, ck_input(2)));
        ck_assert_ok(ck_model_add(m, ck_dense(.units = 2)));
        ck_optimizer_options o = k < 2 ? ck_sgd(.clipnorm = 1, .clipvalue = 1)
                                       : ck_sgd(.clipnorm = 1, .global_clipnorm = 1);
        ck_assert_fails(ck_model_compile(m, .optimizer = o, .loss = "mse"), CK_ERR_ARGUMENT);
        ck_assert_msg(strstr(ck_last_error(), refused[k][1]), "%s", ck_last_error());
        ck_model_free(m);
    }
    file_version = "2.13.0";
    ck_model *m = tiny_model(&(ck_optimizer_options){.name = "sgd"});
    file_version = "";
    cJSON *tc = cJSON_Parse("{\"loss\": \"mse\", \"optimizer_config\": {\"class_name\": \"SGD\", "
                            "\"config\": {\"learning_rate\": 1.0, \"clipnorm\": 0.5, "
                            "\"clipvalue\": 0.3, \"is_legacy_optimizer\": true}}}");
    ck_assert_ok(ck_train_config_from_json(m, tc));
    cJSON_Delete(tc);
    for (int i = 0; i < NP; i++)
        m->params[i] = (float)W0[i];
    ck_model_weights_changed(m);
    ck_tensor x = {2, {1, 2}, (float *)X}, y = {2, {1, 2}, (float *)Y[0]};
    ck_assert_ok(ck_model_train_on_batch(m, &x, &y, NULL));
    /* Clamped W (0.2, -0.3, 0.3, -0.3) has norm sqrt(0.31) > 0.5; b (0.2, -0.3) stays. */
    ck_assert_close(m->params[3], 0.4 + 0.3 * 0.5 / sqrt(0.31), 1e-6);
    ck_assert_close(m->params[5], -0.5 + 0.3, 1e-6);
    ck_model_free(m);
}
END_TEST

START_TEST(invalid_options)
{
    ck_model *m = ck_sequential();
    ck_assert_ok(ck_model_add(m, ck_input(2)));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 1)));
    ck_assert_fails(ck_model_compile(m, .optimizer = {.name = "lamb"}, .loss = "mse"), CK_ERR_NAME);
    ck_assert_fails(ck_model_compile(m, .optimizer = {.name = NULL}, .loss = "mse"),
                    CK_ERR_ARGUMENT);
    ck_assert_fails(ck_model_compile(m, .optimizer = ck_sgd(.clipnorm = 1, .clipvalue = 1),
                                     .loss = "mse"),
                    CK_ERR_ARGUMENT);
    ck_assert_fails(ck_model_compile(m, .optimizer = ck_sgd(.learning_rate = -1), .loss = "mse"),
                    CK_ERR_ARGUMENT);
    ck_assert_fails(ck_model_compile(m, .optimizer = ck_adam(.beta_1 = 1.5), .loss = "mse"),
                    CK_ERR_ARGUMENT);
    ck_model_free(m);
}
END_TEST

START_TEST(slots_named_like_keras)
{
    ck_model *m = tiny_model(&(ck_optimizer_options){.name = "adam", .amsgrad = true});
    ck_assert_int_eq(ck_optimizer_slot_count(m), 0);
    ck_tensor x = {2, {1, 2}, (float *)X}, y = {2, {1, 2}, (float *)Y[0]};
    ck_assert_ok(ck_model_train_on_batch(m, &x, &y, NULL));
    ck_assert_ok(ck_model_train_on_batch(m, &x, &y, NULL));
    ck_assert_int_eq(ck_optimizer_slot_count(m), 7);
    const char *name;
    float *data;
    int rank;
    int64_t dims[4];
    ck_assert_ok(ck_optimizer_slot(m, 0, &name, &data, &rank, dims));
    ck_assert_str_eq(name, "Adam/iter:0");
    ck_assert_int_eq(rank, 0);
    ck_assert_float_eq(data[0], 2.0f);
    ck_assert_ok(ck_optimizer_slot(m, 1, &name, &data, &rank, dims));
    ck_assert_str_eq(name, "Adam/dense/kernel/m:0");
    ck_assert_int_eq(rank, 2);
    ck_assert_int_eq(dims[0], 2);
    ck_assert_int_eq(dims[1], 2);
    ck_assert_ok(ck_optimizer_slot(m, 4, &name, &data, &rank, dims));
    ck_assert_str_eq(name, "Adam/dense/bias/v:0");
    ck_assert_int_eq(rank, 1);
    ck_assert_ok(ck_optimizer_slot(m, 6, &name, &data, &rank, dims));
    ck_assert_str_eq(name, "Adam/dense/bias/vhat:0");
    ck_assert_fails(ck_optimizer_slot(m, 7, &name, &data, &rank, dims), CK_ERR_ARGUMENT);
    ck_model_free(m);

    m = tiny_model(&(ck_optimizer_options){.name = "rmsprop", .momentum = 0.5, .centered = true});
    ck_assert_ok(ck_optimizer_create_slots(m));
    ck_assert_int_eq(ck_optimizer_slot_count(m), 7);
    ck_assert_ok(ck_optimizer_slot(m, 3, &name, &data, &rank, dims));
    ck_assert_str_eq(name, "RMSprop/dense/kernel/momentum:0");
    ck_assert_ok(ck_optimizer_slot(m, 6, &name, &data, &rank, dims));
    ck_assert_str_eq(name, "RMSprop/dense/bias/mg:0");
    ck_model_free(m);

    m = tiny_model(&(ck_optimizer_options){.name = "adagrad"});
    ck_assert_ok(ck_optimizer_create_slots(m));
    ck_assert_ok(ck_optimizer_slot(m, 2, &name, &data, &rank, dims));
    ck_assert_str_eq(name, "Adagrad/dense/bias/accumulator:0");
    ck_assert_float_eq(data[0], 0.1f);
    ck_model_free(m);
}
END_TEST

START_TEST(training_config_round_trip)
{
    ck_model *m = ck_sequential();
    ck_assert_ok(ck_model_add(m, ck_input(2)));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 3, .activation = "softmax")));
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_rmsprop(.momentum = 0.5, .clipnorm = 2),
                                  .loss = "categorical_crossentropy", .from_logits = true,
                                  .metrics = {"accuracy", "mse"}));
    cJSON *j = ck_train_config_to_json(m);
    ck_assert_ptr_nonnull(j);
    char *text = cJSON_PrintUnformatted(j);
    ck_assert_ptr_nonnull(strstr(text, "\"class_name\":\"RMSprop\""));
    ck_assert_ptr_nonnull(strstr(text, "\"clipnorm\":2"));
    ck_assert_ptr_nonnull(strstr(text, "\"from_logits\":true"));

    ck_model *m2 = ck_sequential();
    ck_assert_ok(ck_model_add(m2, ck_input(2)));
    ck_assert_ok(ck_model_add(m2, ck_dense(.units = 3, .activation = "softmax")));
    ck_assert_ok(ck_train_config_from_json(m2, j));
    cJSON *j2 = ck_train_config_to_json(m2);
    char *text2 = cJSON_PrintUnformatted(j2);
    ck_assert_str_eq(text, text2);
    /* tf.keras 2.2 style: "lr" and a plain loss name. */
    cJSON *old = cJSON_Parse(
        "{\"optimizer_config\": {\"class_name\": \"Adam\", \"config\": {\"lr\": "
        "0.004, \"beta_1\": 0.9, \"beta_2\": 0.999, \"decay\": 0.0, \"epsilon\": "
        "1e-07, \"amsgrad\": false}}, \"loss\": \"mean_squared_error\", "
        "\"metrics\": [\"mae\"], \"sample_weight_mode\": null}");
    ck_assert_ok(ck_train_config_from_json(m2, old));
    cJSON *j3 = ck_train_config_to_json(m2);
    cJSON *lr = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j3, "optimizer_config"),
                                                        "config"),
                                    "learning_rate");
    ck_assert_close(lr->valuedouble, 0.004, 1e-12);
    cJSON *bad = cJSON_Parse("{\"optimizer_config\": {\"class_name\": \"Adam\", \"config\": "
                             "{\"learning_rate\": 0.1, \"decay\": 0.5}}, \"loss\": \"mse\"}");
    ck_assert_fails(ck_train_config_from_json(m2, bad), CK_ERR_UNSUPPORTED);
    cJSON_Delete(bad);
    cJSON_Delete(old);
    cJSON_Delete(j3);
    cJSON_free(text);
    cJSON_free(text2);
    cJSON_Delete(j);
    cJSON_Delete(j2);
    ck_model_free(m);
    ck_model_free(m2);
}
END_TEST

/* Explicit values from a saved config are kept, zeros included. */
START_TEST(explicit_zeros_kept)
{
    const char *cfgs[] = {
        ("{\"class_name\": \"Adam\", \"config\": {\"learning_rate\": 0.01, \"beta_1\": 0.0, "
         "\"beta_2\": 0.0}}"),
        "{\"class_name\": \"RMSprop\", \"config\": {\"rho\": 0.0, \"momentum\": 0.0}}",
        "{\"class_name\": \"Adagrad\", \"config\": {\"initial_accumulator_value\": 0.0}}",
    };
    ck_optimizer_options got[3];
    for (int i = 0; i < 3; i++) {
        cJSON *j = cJSON_Parse(cfgs[i]);
        ck_optimizer_options o;
        ck_assert_ok(ck_optimizer_from_json(j, &o));
        ck_optimizer opt;
        ck_assert_ok(ck_optimizer_init(&opt, &o));
        got[i] = opt.o;
        ck_optimizer_free(&opt);
        cJSON_Delete(j);
    }
    ck_assert_close(got[0].beta_1, 0, 0);
    ck_assert_close(got[0].beta_2, 0, 0);
    ck_assert_close(got[0].epsilon, 1e-7, 0); /* absent: the default */
    ck_assert_close(got[1].rho, 0, 0);
    ck_assert_close(got[1].learning_rate, 0.001, 0);
    ck_assert_close(got[2].initial_accumulator_value, 0, 0);
    /* The steps follow the formulas with those zeros. */
    ck_optimizer_options adam0 = {
        .name = "adam", .learning_rate = 0.01, .beta_1 = 0, .beta_2 = 0, .epsilon = 1e-7};
    check_steps(got[0], adam0, 3);
    ck_optimizer_options rms0 = {
        .name = "rmsprop", .learning_rate = 0.001, .rho = 0, .epsilon = 1e-7};
    check_steps(got[1], rms0, 3);
    /* From C, zero means the default unless its explicit bit is set. */
    ck_optimizer_options c = {.name = "adam", .beta_1 = 0, .explicit_fields = CK_OPT_BETA_1};
    ck_optimizer_options keras = {
        .name = "adam", .learning_rate = 0.001, .beta_1 = 0, .beta_2 = 0.999, .epsilon = 1e-7};
    check_steps(c, keras, 2);
    /* Zero epsilon would divide 0 by 0: refused, not replaced. */
    ck_model *m = ck_sequential();
    ck_assert_ok(ck_model_add(m, ck_input(2)));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 1)));
    ck_assert_fails(ck_model_compile(m, .optimizer = ck_adam(.explicit_fields = CK_OPT_EPSILON),
                                     .loss = "mse"),
                    CK_ERR_ARGUMENT);
    ck_model_free(m);
}
END_TEST

START_TEST(keras3_options_refused)
{
    const char *keys[] = {"\"gradient_accumulation_steps\": 4", "\"loss_scale_factor\": 128.0",
                          "\"use_ema\": true"};
    for (int i = 0; i < 3; i++) {
        char text[200];
        snprintf(text, sizeof text, "{\"class_name\": \"Adam\", \"config\": {%s}}", keys[i]);
        cJSON *j = cJSON_Parse(text);
        ck_optimizer_options o;
        ck_assert_fails(ck_optimizer_from_json(j, &o), CK_ERR_UNSUPPORTED);
        cJSON_Delete(j);
    }
    cJSON *j = cJSON_Parse(
        "{\"class_name\": \"Adam\", \"config\": {\"gradient_accumulation_steps\": "
        "null, \"loss_scale_factor\": null, \"use_ema\": false}}");
    ck_optimizer_options o;
    ck_assert_ok(ck_optimizer_from_json(j, &o));
    cJSON_Delete(j);
}
END_TEST

/* A float count stops at 2^24 (2^24 + 1 rounds back down). */
START_TEST(iterations_past_float_precision)
{
    ck_model *m = tiny_model(&(ck_optimizer_options){.name = "sgd"});
    ck_tensor x = {2, {1, 2}, (float *)X}, y = {2, {1, 2}, (float *)Y[0]};
    ck_assert_ok(ck_model_train_on_batch(m, &x, &y, NULL));
    const char *name;
    float *iter;
    int rank;
    int64_t dims[4];
    ck_assert_ok(ck_optimizer_slot(m, 0, &name, &iter, &rank, dims));
    ck_assert_float_eq(*iter, 1.0f);
    /* A loader writes the count through the float slot. */
    *iter = 16777216.0f;
    ck_assert_ok(ck_model_train_on_batch(m, &x, &y, NULL));
    ck_assert_ok(ck_model_train_on_batch(m, &x, &y, NULL));
    ck_assert_ok(ck_optimizer_slot(m, 0, &name, &iter, &rank, dims));
    ck_assert_float_eq(*iter, 16777218.0f);
    ck_model_free(m);
}
END_TEST

/* With clipnorm the norm pass finds the non-finite gradient: the step is
 * refused and weights and state stay as they were. */
START_TEST(clipnorm_refuses_non_finite)
{
    const ck_optimizer_options opts[] = {
        {.name = "adam", .clipnorm = 1.0},
        {.name = "adam", .global_clipnorm = 1.0},
        {.name = "adam"},
    };
    for (int k = 0; k < 3; k++) {
        ck_model *m = tiny_model(&opts[k]);
        ck_optimizer opt;
        ck_assert_ok(ck_optimizer_init(&opt, &opts[k]));
        for (int i = 0; i < NP; i++)
            m->grads[i] = 0.1f * (float)(i + 1);
        ck_assert_ok(ck_optimizer_step(&opt, m));
        float before[NP], state[2 * NP];
        memcpy(before, m->params, sizeof before);
        memcpy(state, opt.state, sizeof state);
        const float bad[] = {NAN, INFINITY};
        for (int b = 0; b < 2; b++) {
            m->grads[3] = bad[b];
            ck_assert_fails(ck_optimizer_step(&opt, m), CK_ERR_NUMERIC);
            ck_assert_msg(strstr(ck_last_error(), b ? "infinite" : "NaN"), "%s", ck_last_error());
            ck_assert_int_eq(memcmp(before, m->params, sizeof before), 0);
            ck_assert_int_eq(memcmp(state, opt.state, sizeof state), 0);
            ck_assert_int_eq(opt.iterations, 1);
        }
        /* Clipping by norm names the weight whose gradient norm is bad. */
        if (k == 0)
            ck_assert_msg(strstr(ck_last_error(), "dense/kernel"), "%s", ck_last_error());
        ck_optimizer_free(&opt);
        ck_model_free(m);
    }
}
END_TEST

/* cJSON allocation failures: the training config is complete or NULL. */
static long json_allocs_left;
static void *failing_malloc(size_t n)
{
    return json_allocs_left-- > 0 ? malloc(n) : NULL;
}

START_TEST(train_config_json_out_of_memory)
{
    ck_model *m = ck_sequential();
    ck_assert_ok(ck_model_add(m, ck_input(2)));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 3, .activation = "softmax")));
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_adam(.clipnorm = 1),
                                  .loss = "categorical_crossentropy", .from_logits = true,
                                  .metrics = {"accuracy", "mse"}));
    cJSON *full = ck_train_config_to_json(m);
    char *want = cJSON_PrintUnformatted(full);
    cJSON_Delete(full);
    int nulls = 0;
    for (long n = 0; n < 200; n++) {
        json_allocs_left = n;
        cJSON_InitHooks(&(cJSON_Hooks){.malloc_fn = failing_malloc, .free_fn = free});
        cJSON *j = ck_train_config_to_json(m);
        cJSON_InitHooks(NULL);
        if (!j) {
            nulls++;
            ck_assert_int_eq(ck_error_status(), CK_ERR_MEMORY);
            continue;
        }
        char *got = cJSON_PrintUnformatted(j);
        ck_assert_str_eq(got, want);
        cJSON_free(got);
        cJSON_Delete(j);
    }
    ck_assert_int_gt(nulls, 20);
    cJSON_free(want);
    ck_model_free(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("optimizers");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, sgd_plain_first_step_by_hand);
    tcase_add_test(tc, sgd_variants);
    tcase_add_test(tc, adam_variants);
    tcase_add_test(tc, rmsprop_variants);
    tcase_add_test(tc, nadam_adamax_adamw);
    tcase_add_test(tc, adagrad_defaults);
    tcase_add_test(tc, clipping);
    tcase_add_test(tc, keras2_legacy_updates);
    tcase_add_test(tc, is_legacy_optimizer_decides);
    tcase_add_test(tc, standalone_keras2_clipnorm_is_global);
    tcase_add_loop_test(tc, clip_combinations_follow_the_release, 0,
                        (int)(sizeof clip_cases / sizeof clip_cases[0]));
    tcase_add_test(tc, clip_combinations_refused_or_read);
    tcase_add_test(tc, invalid_options);
    tcase_add_test(tc, slots_named_like_keras);
    tcase_add_test(tc, training_config_round_trip);
    tcase_add_test(tc, explicit_zeros_kept);
    tcase_add_test(tc, keras3_options_refused);
    tcase_add_test(tc, iterations_past_float_precision);
    tcase_add_test(tc, clipnorm_refuses_non_finite);
    tcase_add_test(tc, train_config_json_out_of_memory);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ck_test_run(suite());
}
