/* keras.optimizers.Adam in the "epsilon hat" form Keras uses:
 * alpha = lr sqrt(1 - b2^t) / (1 - b1^t), w -= alpha m / (sqrt(v) + eps);
 * amsgrad uses the running maximum of v instead of v. */
#include "ck_optim.h"
#include "ck_vmath.h"

#include <math.h>

/* The ranges of the Adam family (Adam, AdamW, Nadam, Adamax). */
static ck_status adam_check(const ck_optimizer_options *o, const char *cls)
{
    if (!(o->beta_1 >= 0 && o->beta_1 < 1) || !(o->beta_2 >= 0 && o->beta_2 < 1) ||
        !(o->epsilon > 0))
        return ck_error(CK_ERR_ARGUMENT, "%s: beta_1 and beta_2 must be in [0, 1) and epsilon > 0",
                        cls);
    return CK_OK;
}

ck_status ck_adam_defaults(ck_optimizer_options *o, const char *cls)
{
    ck_optimizer_default(o, CK_OPT_LEARNING_RATE, &o->learning_rate, 0.001);
    ck_optimizer_default(o, CK_OPT_BETA_1, &o->beta_1, 0.9);
    ck_optimizer_default(o, CK_OPT_BETA_2, &o->beta_2, 0.999);
    ck_optimizer_default(o, CK_OPT_EPSILON, &o->epsilon, 1e-7);
    return adam_check(o, cls);
}

static ck_status adam_prepare(ck_optimizer_options *o)
{
    return ck_adam_defaults(o, "Adam");
}

int ck_adam_moment_slots(const ck_optimizer_options *o, const char **names, float *init)
{
    (void)o;
    names[0] = "m";
    names[1] = "v";
    init[0] = init[1] = 0.0f;
    return 2;
}

int ck_adam_slots(const ck_optimizer_options *o, const char **names, float *init)
{
    names[0] = "m";
    names[1] = "v";
    names[2] = "vhat";
    init[0] = init[1] = init[2] = 0.0f;
    return o->amsgrad ? 3 : 2;
}

/* The two forms are separate loops so each vectorizes (sqrt and divide
 * dominate a scalar loop over every weight). */
CK_CLONES static void adam_plain(float *restrict w, const float *restrict g, float *restrict m,
                                 float *restrict v, size_t n, float c1, float c2, float alpha,
                                 float eps)
{
    for (size_t i = 0; i < n; i++) {
        m[i] += (g[i] - m[i]) * c1;
        v[i] += (g[i] * g[i] - v[i]) * c2;
        w[i] -= alpha * m[i] / (sqrtf(v[i]) + eps);
    }
}

CK_CLONES static void adam_amsgrad(float *restrict w, const float *restrict g, float *restrict m,
                                   float *restrict v, float *restrict vhat, size_t n, float c1,
                                   float c2, float alpha, float eps)
{
    for (size_t i = 0; i < n; i++) {
        m[i] += (g[i] - m[i]) * c1;
        v[i] += (g[i] * g[i] - v[i]) * c2;
        vhat[i] = vhat[i] > v[i] ? vhat[i] : v[i];
        w[i] -= alpha * m[i] / (sqrtf(vhat[i]) + eps);
    }
}

void ck_adam_update(const ck_optimizer_options *o, double t, float *w, const float *g,
                    float *const *slot, size_t n)
{
    /* Keras computes 1 - beta in double and multiplies in float32. */
    float c1 = (float)(1 - o->beta_1), c2 = (float)(1 - o->beta_2), eps = (float)o->epsilon;
    float alpha = (float)(o->learning_rate * sqrt(1 - pow(o->beta_2, t)) / (1 - pow(o->beta_1, t)));
    if (o->amsgrad)
        adam_amsgrad(w, g, slot[0], slot[1], slot[2], n, c1, c2, alpha, eps);
    else
        adam_plain(w, g, slot[0], slot[1], n, c1, c2, alpha, eps);
}

bool ck_adam_betas_to_json(const ck_optimizer_options *o, cJSON *cfg)
{
    return cJSON_AddNumberToObject(cfg, "beta_1", o->beta_1) &&
           cJSON_AddNumberToObject(cfg, "beta_2", o->beta_2) &&
           cJSON_AddNumberToObject(cfg, "epsilon", o->epsilon);
}

bool ck_adam_to_json(const ck_optimizer_options *o, cJSON *cfg)
{
    return ck_adam_betas_to_json(o, cfg) && cJSON_AddBoolToObject(cfg, "amsgrad", o->amsgrad);
}

const ck_optimizer_kind ck_optimizer_adam = {
    .name = "adam",
    .class_name = "Adam",
    .prepare = adam_prepare,
    .slots = ck_adam_slots,
    .update = ck_adam_update,
    .to_json = ck_adam_to_json,
};
