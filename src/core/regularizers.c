/* Keras weight regularizers: L1, L2 and L1L2, one table row each. Keras
 * writes {"class_name": "L1L2", "config": {"l1": 0.0, "l2": 0.01}} up to
 * 2.3, L1/L2/L1L2 classes in tf.keras 2.3+ and Keras 3 (with "module" and
 * "registered_name" in Keras 3 and tf.keras 2.13+ configs). Classes ckeras
 * cannot compute are kept as written, so a file still loads and saves. */
#include "ck_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct reg_kind {
    const char *class_name, *snake;
    ck_reg_kind kind;
    double l1, l2; /* Keras's defaults */
} kinds[] = {
    {"L1", "l1", CK_REG_L1, 0.01, 0},
    {"L2", "l2", CK_REG_L2, 0, 0.01},
    {"L1L2", "l1_l2", CK_REG_L1L2, 0, 0},
};
#define N_KINDS (sizeof kinds / sizeof kinds[0])

static const struct reg_kind *find_kind(const char *name)
{
    for (size_t i = 0; name && i < N_KINDS; i++)
        if (strcmp(name, kinds[i].class_name) == 0 || strcmp(name, kinds[i].snake) == 0)
            return &kinds[i];
    return NULL;
}

static const struct reg_kind *kind_of(ck_reg_kind k)
{
    for (size_t i = 0; i < N_KINDS; i++)
        if (kinds[i].kind == k)
            return &kinds[i];
    return NULL;
}

static ck_status factor(const cJSON *cfg, const char *key, double dflt, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    *out = dflt;
    if (!v || cJSON_IsNull(v))
        return CK_OK;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0)
        return ck_error(CK_ERR_FORMAT, "regularizer '%s' must be a number >= 0", key);
    *out = v->valuedouble;
    return CK_OK;
}

ck_status ck_reg_from_json(const cJSON *json, ck_reg *out)
{
    *out = (ck_reg){0};
    if (!json || cJSON_IsNull(json))
        return CK_OK;
    const char *name;
    const cJSON *cfg;
    CK_TRY(ck_json_class(json, "regularizer", &name, &cfg));
    const struct reg_kind *k = find_kind(name);
    if (!k) {
        out->kind = CK_REG_OTHER;
        return ck_json_keep(json, name, &out->raw, out->other_class, sizeof out->other_class);
    }
    out->kind = k->kind;
    CK_TRY(factor(cfg, "l1", k->l1, &out->l1));
    return factor(cfg, "l2", k->l2, &out->l2);
}

ck_status ck_reg_from_options(const ck_regularizer *o, ck_reg *out)
{
    *out = (ck_reg){0};
    const struct reg_kind *k = find_kind(o->name);
    if (!k)
        return ck_error(CK_ERR_NAME, "unknown regularizer '%s' (valid: l1, l2, l1_l2)",
                        o->name ? o->name : "(null)");
    if (!(o->l1 >= 0 && o->l2 >= 0 && isfinite(o->l1) && isfinite(o->l2)))
        return ck_error(CK_ERR_ARGUMENT, "regularizer %s: factors must be finite and >= 0",
                        k->snake);
    out->kind = k->kind;
    out->l1 = k->kind == CK_REG_L1 && o->l1 == 0 ? k->l1 : o->l1;
    out->l2 = k->kind == CK_REG_L2 && o->l2 == 0 ? k->l2 : o->l2;
    return CK_OK;
}

cJSON *ck_reg_to_json(const ck_reg *r)
{
    if (r->kind == CK_REG_NONE)
        return cJSON_CreateNull();
    if (r->kind == CK_REG_OTHER)
        return cJSON_Parse(r->raw);
    const struct reg_kind *k = kind_of(r->kind);
    cJSON *cfg, *j = ck_json_class_new(k->class_name, &cfg);
    bool ok = j != NULL;
    if (ok && r->kind != CK_REG_L2)
        ok = cJSON_AddNumberToObject(cfg, "l1", r->l1);
    if (ok && r->kind != CK_REG_L1)
        ok = cJSON_AddNumberToObject(cfg, "l2", r->l2);
    if (!ok) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

const char *ck_reg_class_name(const ck_reg *r)
{
    const struct reg_kind *k = kind_of(r->kind);
    return k ? k->class_name : r->other_class;
}

double ck_reg_penalty(const ck_reg *r, const float *w, size_t n)
{
    double a = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        a += fabs((double)w[i]);
        s += (double)w[i] * (double)w[i];
    }
    return r->l1 * a + r->l2 * s;
}

/* The gradient of |w| at 0 is 0, as TensorFlow's sign(). */
void ck_reg_add_grad(const ck_reg *r, const float *w, float *g, size_t n, double scale)
{
    double a = scale * r->l1, b = 2.0 * scale * r->l2;
    for (size_t i = 0; i < n; i++) {
        double sign = w[i] > 0 ? 1.0 : w[i] < 0 ? -1.0 : 0.0;
        g[i] += (float)(a * sign + b * (double)w[i]);
    }
}

void ck_reg_free(ck_reg *r)
{
    free(r->raw);
    *r = (ck_reg){0};
}
