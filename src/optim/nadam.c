/* keras.optimizers.Nadam (Keras 3): Adam with Nesterov momentum and
 * Dozat's momentum schedule u_t = b1 (1 - 0.5 * 0.96^t):
 *   m += (g - m)(1 - b1), v += (g^2 - v)(1 - b2),
 *   m_hat = u_{t+1} m / (1 - prod_{s<=t+1} u_s) + (1 - u_t) g / (1 - prod_{s<=t} u_s),
 *   v_hat = v / (1 - b2^t), w -= lr m_hat / (sqrt(v_hat) + eps).
 * Keras keeps the product of the u_s as a variable; it is a function of
 * t alone, so it is recomputed here. */
#include "ck_optim.h"

#include <math.h>

static ck_status nadam_prepare(ck_optimizer_options *o)
{
    return ck_adam_defaults(o, "Nadam");
}

static double momentum_at(double beta_1, double t)
{
    return beta_1 * (1 - 0.5 * pow(0.96, t));
}

/* prod_{s=1..t} u_s; once below 1e-30 it no longer changes 1 - prod. */
static double momentum_product(double beta_1, double t)
{
    double p = 1, decay = 1;
    for (double s = 1; s <= t && p > 1e-30; s++) {
        decay *= 0.96;
        p *= beta_1 * (1 - 0.5 * decay);
    }
    return p;
}

static void nadam_update(const ck_optimizer_options *o, double t, float *w, const float *g,
                         float *const *slot, size_t n)
{
    float *m = slot[0], *v = slot[1];
    double u_t = momentum_at(o->beta_1, t), u_next = momentum_at(o->beta_1, t + 1);
    double prod_t = momentum_product(o->beta_1, t), prod_next = prod_t * u_next;
    float c1 = (float)(1 - o->beta_1), c2 = (float)(1 - o->beta_2), eps = (float)o->epsilon;
    float lr = (float)o->learning_rate;
    float un = (float)u_next, ut = (float)u_t, pn = (float)prod_next, pt = (float)prod_t;
    float vden = 1 - (float)pow(o->beta_2, t);
    for (size_t i = 0; i < n; i++) {
        m[i] += (g[i] - m[i]) * c1;
        v[i] += (g[i] * g[i] - v[i]) * c2;
        float m_hat = un * m[i] / (1 - pn) + (1 - ut) * g[i] / (1 - pt);
        w[i] -= m_hat * lr / (sqrtf(v[i] / vden) + eps);
    }
}

const ck_optimizer_kind ck_optimizer_nadam = {
    .name = "nadam",
    .class_name = "Nadam",
    .prepare = nadam_prepare,
    .slots = ck_adam_moment_slots,
    .update = nadam_update,
    .to_json = ck_adam_betas_to_json,
};
