/* keras.optimizers.Adagrad as in Keras 3: acc += g^2; w -= lr g / sqrt(acc + eps).
 * Standalone Keras 2 and tf.keras 2.0-2.10 put eps outside the root (the
 * legacy update). */
#include "ck_optim.h"

#include <math.h>

static ck_status adagrad_prepare(ck_optimizer_options *o)
{
    ck_optimizer_default(o, CK_OPT_LEARNING_RATE, &o->learning_rate, 0.001);
    ck_optimizer_default(o, CK_OPT_INITIAL_ACCUMULATOR_VALUE, &o->initial_accumulator_value, 0.1);
    ck_optimizer_default(o, CK_OPT_EPSILON, &o->epsilon, 1e-7);
    if (!(o->initial_accumulator_value >= 0 && isfinite(o->initial_accumulator_value)) ||
        !(o->epsilon > 0))
        return ck_error(CK_ERR_ARGUMENT,
                        "Adagrad: initial_accumulator_value must be >= 0 and epsilon > 0");
    return CK_OK;
}

static int adagrad_slots(const ck_optimizer_options *o, const char **names, float *init)
{
    names[0] = "accumulator";
    init[0] = (float)o->initial_accumulator_value;
    return 1;
}

/* Called with a constant `outside` so that each update vectorizes alone. */
static inline void adagrad_step(const ck_optimizer_options *o, float *w, const float *g, float *acc,
                                size_t n, bool outside)
{
    float lr = (float)o->learning_rate, eps = (float)o->epsilon;
    for (size_t i = 0; i < n; i++) {
        acc[i] += g[i] * g[i];
        w[i] -= lr * g[i] / (outside ? sqrtf(acc[i]) + eps : sqrtf(acc[i] + eps));
    }
}

static void adagrad_update(const ck_optimizer_options *o, double t, float *w, const float *g,
                           float *const *slot, size_t n)
{
    (void)t;
    adagrad_step(o, w, g, slot[0], n, false);
}

/* ResourceApplyAdagradV2 of tf.keras 2.0-2.10, and standalone Keras 2. */
static void adagrad_legacy_update(const ck_optimizer_options *o, double t, float *w, const float *g,
                                  float *const *slot, size_t n)
{
    (void)t;
    adagrad_step(o, w, g, slot[0], n, true);
}

static bool adagrad_to_json(const ck_optimizer_options *o, cJSON *cfg)
{
    return cJSON_AddNumberToObject(cfg, "initial_accumulator_value",
                                   o->initial_accumulator_value) &&
           cJSON_AddNumberToObject(cfg, "epsilon", o->epsilon);
}

const ck_optimizer_kind ck_optimizer_adagrad = {
    .name = "adagrad",
    .class_name = "Adagrad",
    .prepare = adagrad_prepare,
    .slots = adagrad_slots,
    .update = adagrad_update,
    .legacy_update = adagrad_legacy_update,
    .to_json = adagrad_to_json,
};
