/* keras.optimizers.SGD: w -= lr g; with momentum m = mu m - lr g, then
 * w += m, or w += mu m - lr g (Nesterov, with the updated m). */
#include "ck_optim.h"

static ck_status sgd_prepare(ck_optimizer_options *o)
{
    ck_optimizer_default(o, CK_OPT_LEARNING_RATE, &o->learning_rate, 0.01);
    if (!(o->momentum >= 0 && o->momentum <= 1))
        return ck_error(CK_ERR_ARGUMENT, "SGD: momentum must be in [0, 1], got %g", o->momentum);
    return CK_OK;
}

static int sgd_slots(const ck_optimizer_options *o, const char **names, float *init)
{
    if (o->momentum == 0)
        return 0;
    names[0] = "momentum";
    init[0] = 0.0f;
    return 1;
}

static void sgd_update(const ck_optimizer_options *o, double t, float *w, const float *g,
                       float *const *slot, size_t n)
{
    (void)t;
    float lr = (float)o->learning_rate, mu = (float)o->momentum;
    if (mu == 0) {
        for (size_t i = 0; i < n; i++)
            w[i] -= lr * g[i];
        return;
    }
    float *m = slot[0];
    for (size_t i = 0; i < n; i++) {
        m[i] = mu * m[i] - lr * g[i];
        w[i] += o->nesterov ? mu * m[i] - lr * g[i] : m[i];
    }
}

static bool sgd_to_json(const ck_optimizer_options *o, cJSON *cfg)
{
    return cJSON_AddNumberToObject(cfg, "momentum", o->momentum) &&
           cJSON_AddBoolToObject(cfg, "nesterov", o->nesterov);
}

const ck_optimizer_kind ck_optimizer_sgd = {
    .name = "sgd",
    .class_name = "SGD",
    .prepare = sgd_prepare,
    .slots = sgd_slots,
    .update = sgd_update,
    .to_json = sgd_to_json,
};
