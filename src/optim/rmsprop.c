/* keras.optimizers.RMSprop (Keras 3 and tf.keras 2, epsilon inside the root):
 * v = rho v + (1 - rho) g^2; step = lr g / sqrt(v + eps), or
 * lr g / sqrt(v - mg^2 + eps) when centered (mg = rho mg + (1 - rho) g);
 * with momentum: mom = mu mom + step, w -= mom. */
#include "ck_optim.h"

#include <math.h>

static ck_status rmsprop_prepare(ck_optimizer_options *o)
{
    ck_optimizer_default(o, CK_OPT_LEARNING_RATE, &o->learning_rate, 0.001);
    ck_optimizer_default(o, CK_OPT_RHO, &o->rho, 0.9);
    ck_optimizer_default(o, CK_OPT_EPSILON, &o->epsilon, 1e-7);
    if (!(o->rho >= 0 && o->rho < 1) || !(o->momentum >= 0 && o->momentum <= 1) ||
        !(o->epsilon > 0))
        return ck_error(CK_ERR_ARGUMENT,
                        "RMSprop: rho must be in [0, 1), momentum in [0, 1] and epsilon > 0");
    return CK_OK;
}

/* tf.keras 2 slot order: rms, then momentum, then mg, each only when used. */
static int rmsprop_slots(const ck_optimizer_options *o, const char **names, float *init)
{
    int k = 0;
    names[k++] = "rms";
    if (o->momentum > 0)
        names[k++] = "momentum";
    if (o->centered)
        names[k++] = "mg";
    for (int i = 0; i < k; i++)
        init[i] = 0.0f;
    return k;
}

static void rmsprop_update(const ck_optimizer_options *o, double t, float *w, const float *g,
                           float *const *slot, size_t n)
{
    (void)t;
    float lr = (float)o->learning_rate, rho = (float)o->rho, eps = (float)o->epsilon;
    float mu = (float)o->momentum;
    float *v = slot[0], *mom = mu > 0 ? slot[1] : NULL,
          *mg = o->centered ? slot[mu > 0 ? 2 : 1] : NULL;
    for (size_t i = 0; i < n; i++) {
        v[i] = rho * v[i] + (1 - rho) * g[i] * g[i];
        float denom = v[i] + eps;
        if (mg) {
            mg[i] = rho * mg[i] + (1 - rho) * g[i];
            denom -= mg[i] * mg[i];
        }
        float step = lr * g[i] / sqrtf(denom);
        if (mom) {
            mom[i] = mu * mom[i] + step;
            step = mom[i];
        }
        w[i] -= step;
    }
}

/* Standalone Keras 2 and tf.keras 2.0-2.10 without momentum divide by
 * sqrt(v) + eps (sqrt(v - mg^2) + eps centered); with momentum
 * (ResourceApplyRMSProp) they put eps inside the root, as update does. */
static void rmsprop_legacy_update(const ck_optimizer_options *o, double t, float *w, const float *g,
                                  float *const *slot, size_t n)
{
    if (o->momentum > 0) {
        rmsprop_update(o, t, w, g, slot, n);
        return;
    }
    float lr = (float)o->learning_rate, rho = (float)o->rho, eps = (float)o->epsilon;
    float *v = slot[0], *mg = o->centered ? slot[1] : NULL;
    for (size_t i = 0; i < n; i++) {
        v[i] = rho * v[i] + (1 - rho) * g[i] * g[i];
        float denom = v[i];
        if (mg) {
            mg[i] = rho * mg[i] + (1 - rho) * g[i];
            denom -= mg[i] * mg[i];
        }
        w[i] -= lr * g[i] / (sqrtf(denom) + eps);
    }
}

static bool rmsprop_to_json(const ck_optimizer_options *o, cJSON *cfg)
{
    return cJSON_AddNumberToObject(cfg, "rho", o->rho) &&
           cJSON_AddNumberToObject(cfg, "momentum", o->momentum) &&
           cJSON_AddNumberToObject(cfg, "epsilon", o->epsilon) &&
           cJSON_AddBoolToObject(cfg, "centered", o->centered);
}

const ck_optimizer_kind ck_optimizer_rmsprop = {
    .name = "rmsprop",
    .class_name = "RMSprop",
    .prepare = rmsprop_prepare,
    .slots = rmsprop_slots,
    .update = rmsprop_update,
    .legacy_update = rmsprop_legacy_update,
    .to_json = rmsprop_to_json,
};
