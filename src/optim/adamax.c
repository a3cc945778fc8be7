/* keras.optimizers.Adamax (Keras 3): m += (g - m)(1 - b1),
 * u = max(b2 u, |g|), w -= lr / (1 - b1^t) * m / (u + eps). tf.keras 2
 * names the slots m and v and applies the same rule. */
#include "ck_optim.h"

#include <math.h>

static ck_status adamax_prepare(ck_optimizer_options *o)
{
    return ck_adam_defaults(o, "Adamax");
}

static void adamax_update(const ck_optimizer_options *o, double t, float *w, const float *g,
                          float *const *slot, size_t n)
{
    float *m = slot[0], *u = slot[1];
    float c1 = (float)(1 - o->beta_1), b2 = (float)o->beta_2, eps = (float)o->epsilon;
    float alpha = (float)o->learning_rate / (1 - (float)pow(o->beta_1, t));
    for (size_t i = 0; i < n; i++) {
        m[i] += (g[i] - m[i]) * c1;
        u[i] = fmaxf(b2 * u[i], fabsf(g[i]));
        w[i] -= alpha * m[i] / (u[i] + eps);
    }
}

const ck_optimizer_kind ck_optimizer_adamax = {
    .name = "adamax",
    .class_name = "Adamax",
    .prepare = adamax_prepare,
    .slots = ck_adam_moment_slots,
    .update = adamax_update,
    .to_json = ck_adam_betas_to_json,
};
