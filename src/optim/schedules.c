/* keras.optimizers.schedules: the learning rate as a function of the step
 * (the optimizer's iterations before the step), one table row per class,
 * computed with Keras's formulas and read and written as Keras serializes
 * them: {"class_name", "config"} (tf.keras 2) with "module" added by
 * Keras 3. */
#include "ck_optim.h"

#include <math.h>
#include <string.h>

static const double PI = 3.14159265358979323846;

static double exponential(const ck_lr_schedule *s, double step)
{
    double p = step / s->decay_steps;
    return s->initial_learning_rate * pow(s->decay_rate, s->staircase ? floor(p) : p);
}

static double inverse_time(const ck_lr_schedule *s, double step)
{
    double p = step / s->decay_steps;
    return s->initial_learning_rate / (1 + s->decay_rate * (s->staircase ? floor(p) : p));
}

static double polynomial(const ck_lr_schedule *s, double step)
{
    double decay_steps = s->decay_steps;
    if (s->cycle) /* the first multiple of decay_steps above the step; 1 at step 0 */
        decay_steps *= step == 0 ? 1 : ceil(step / s->decay_steps);
    else
        step = fmin(step, decay_steps);
    double end = s->end_learning_rate;
    return (s->initial_learning_rate - end) * pow(1 - step / decay_steps, s->power) + end;
}

static double piecewise(const ck_lr_schedule *s, double step)
{
    int n = s->n_boundaries;
    for (int i = 0; i < n; i++)
        if (step <= s->boundaries[i])
            return s->values[i];
    return s->values[n];
}

/* Keras 3 CosineDecay: a linear warm-up from the initial rate to
 * warmup_target over warmup_steps, then the cosine from there. */
static double cosine(const ck_lr_schedule *s, double step)
{
    double from = s->initial_learning_rate, warmup = 0;
    if (s->warmup_target != 0) {
        warmup = s->warmup_steps;
        step = fmin(step, s->decay_steps + warmup);
        if (step < warmup)
            return (s->warmup_target - from) * (step / warmup) + from;
        from = s->warmup_target;
    } else {
        step = fmin(step, s->decay_steps);
    }
    double done = (step - warmup) / s->decay_steps;
    double decayed = 0.5 * (1 + cos(PI * done));
    return from * ((1 - s->alpha) * decayed + s->alpha);
}

typedef struct schedule_class {
    const char *class_name, *default_name;
    double (*value)(const ck_lr_schedule *s, double step);
    const char *keys; /* config keys after "initial_learning_rate", "decay_steps" */
} schedule_class;

static const schedule_class classes[] = {
    {"ExponentialDecay", "ExponentialDecay", exponential, "decay_rate staircase"},
    {"InverseTimeDecay", "InverseTimeDecay", inverse_time, "decay_rate staircase"},
    {"PolynomialDecay", "PolynomialDecay", polynomial, "end_learning_rate power cycle"},
    {"PiecewiseConstantDecay", "PiecewiseConstant", piecewise, ""},
    {"CosineDecay", "CosineDecay", cosine, "alpha warmup_target warmup_steps"},
};
#define N_CLASSES (sizeof classes / sizeof classes[0])

static const schedule_class *find_class(const char *name)
{
    for (size_t i = 0; name && i < N_CLASSES; i++)
        if (strcmp(classes[i].class_name, name) == 0)
            return &classes[i];
    return NULL;
}

static bool is_piecewise(const ck_lr_schedule *s)
{
    return strcmp(s->class_name, "PiecewiseConstantDecay") == 0;
}

static ck_status check_piecewise(const ck_lr_schedule *s)
{
    if (s->n_boundaries < 1 || s->n_boundaries > CK_MAX_BOUNDARIES)
        return ck_error(CK_ERR_ARGUMENT,
                        "PiecewiseConstantDecay: n_boundaries must be 1-%d (values has one more)",
                        CK_MAX_BOUNDARIES);
    for (int i = 0; i <= s->n_boundaries; i++)
        if (!isfinite(s->values[i]) || (i < s->n_boundaries && !isfinite(s->boundaries[i])))
            return ck_error(CK_ERR_ARGUMENT, "PiecewiseConstantDecay: values must be finite");
    return CK_OK;
}

ck_status ck_lr_schedule_prepare(ck_lr_schedule *s)
{
    const schedule_class *c = find_class(s->class_name);
    if (!c)
        return ck_error(CK_ERR_NAME,
                        "unknown learning rate schedule '%s' (valid: ExponentialDecay, "
                        "InverseTimeDecay, PolynomialDecay, PiecewiseConstantDecay, CosineDecay)",
                        s->class_name ? s->class_name : "(NULL)");
    s->class_name = c->class_name;
    if (is_piecewise(s))
        return check_piecewise(s);
    if (s->end_learning_rate == 0 && !(s->explicit_fields & CK_OPT_END_LEARNING_RATE))
        s->end_learning_rate = 1e-4;
    if (s->power == 0)
        s->power = 1;
    double v[] = {
        s->initial_learning_rate, s->decay_rate,  s->end_learning_rate, s->power, s->alpha,
        s->warmup_target,         s->warmup_steps};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        if (!isfinite(v[i]))
            return ck_error(CK_ERR_ARGUMENT, "%s: every parameter must be finite", c->class_name);
    if (!(s->decay_steps > 0 && isfinite(s->decay_steps)) || s->warmup_steps < 0 ||
        (s->warmup_target != 0 && s->warmup_steps <= 0 &&
         strcmp(c->class_name, "CosineDecay") == 0))
        return ck_error(CK_ERR_ARGUMENT,
                        "%s: decay_steps must be > 0 (and warmup_steps > 0 with a warmup_target)",
                        c->class_name);
    return CK_OK;
}

double ck_lr_schedule_at(const ck_lr_schedule *s, double step)
{
    /* Keras keeps the rate in float32. */
    return (double)(float)find_class(s->class_name)->value(s, step);
}

ck_status ck_lr_schedule_value(const ck_lr_schedule *schedule, double step, double *lr)
{
    if (!schedule || !lr || !(step >= 0))
        return ck_error(CK_ERR_ARGUMENT, "ck_lr_schedule_value: NULL argument or negative step");
    ck_lr_schedule s = *schedule;
    CK_TRY(ck_lr_schedule_prepare(&s));
    *lr = ck_lr_schedule_at(&s, step);
    return CK_OK;
}

/* ------------------------------------------------------------------ JSON */

static bool add_number_list(cJSON *cfg, const char *key, const double *v, int n)
{
    cJSON *a = cJSON_AddArrayToObject(cfg, key);
    for (int i = 0; a && i < n; i++) {
        cJSON *x = cJSON_CreateNumber(v[i]);
        if (!x || !cJSON_AddItemToArray(a, x)) {
            cJSON_Delete(x);
            return false;
        }
    }
    return a != NULL;
}

/* One config key of the schedule by its Keras name. */
static bool add_key(const ck_lr_schedule *s, const char *key, bool keras3, cJSON *cfg)
{
    if (strcmp(key, "staircase") == 0 || strcmp(key, "cycle") == 0)
        return cJSON_AddBoolToObject(cfg, key, key[0] == 's' ? s->staircase : s->cycle);
    if (strcmp(key, "warmup_target") == 0)
        return s->warmup_target == 0 ? (!keras3 || cJSON_AddNullToObject(cfg, key))
                                     : cJSON_AddNumberToObject(cfg, key, s->warmup_target) != NULL;
    if (strcmp(key, "warmup_steps") == 0)
        return (!keras3 && s->warmup_target == 0) ||
               cJSON_AddNumberToObject(cfg, key, s->warmup_steps);
    double v = strcmp(key, "decay_rate") == 0          ? s->decay_rate
               : strcmp(key, "end_learning_rate") == 0 ? s->end_learning_rate
               : strcmp(key, "power") == 0             ? s->power
                                                       : s->alpha;
    return cJSON_AddNumberToObject(cfg, key, v) != NULL;
}

static bool config_to_json(const ck_lr_schedule *s, const schedule_class *c, bool keras3,
                           cJSON *cfg)
{
    bool ok = true;
    if (is_piecewise(s)) {
        ok = add_number_list(cfg, "boundaries", s->boundaries, s->n_boundaries) &&
             add_number_list(cfg, "values", s->values, s->n_boundaries + 1);
    } else {
        ok = cJSON_AddNumberToObject(cfg, "initial_learning_rate", s->initial_learning_rate) &&
             cJSON_AddNumberToObject(cfg, "decay_steps", s->decay_steps);
        char keys[64];
        snprintf(keys, sizeof keys, "%s", c->keys);
        char *save = NULL;
        for (char *k = strtok_r(keys, " ", &save); ok && k; k = strtok_r(NULL, " ", &save))
            ok = add_key(s, k, keras3, cfg);
    }
    /* tf.keras 2 schedules default to name=None, Keras 3 to the class's name. */
    const char *name = s->name ? s->name : (keras3 ? c->default_name : NULL);
    return ok && (name ? cJSON_AddStringToObject(cfg, "name", name) != NULL
                       : cJSON_AddNullToObject(cfg, "name") != NULL);
}

cJSON *ck_lr_schedule_to_json(const ck_lr_schedule *s, bool keras3)
{
    const schedule_class *c = find_class(s->class_name);
    cJSON *root = cJSON_CreateObject(), *cfg = cJSON_CreateObject();
    bool ok = root && cfg &&
              (!keras3 || cJSON_AddStringToObject(root, "module", "keras.optimizers.schedules")) &&
              cJSON_AddStringToObject(root, "class_name", c->class_name);
    ok = ok && cJSON_AddItemToObject(root, "config", cfg);
    if (!ok)
        cJSON_Delete(cfg);
    if (ok && (!config_to_json(s, c, keras3, cfg) ||
               (keras3 && !cJSON_AddNullToObject(root, "registered_name"))))
        ok = false;
    if (!ok) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

static ck_status read_numbers(const cJSON *cfg, const char *key, double *out, int max, int *n)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(cfg, key), *v;
    *n = 0;
    if (!cJSON_IsArray(a))
        return ck_error(CK_ERR_FORMAT, "PiecewiseConstantDecay: %s must be a list", key);
    cJSON_ArrayForEach(v, a)
    {
        if (!cJSON_IsNumber(v) || *n == max)
            return ck_error(CK_ERR_UNSUPPORTED,
                            "PiecewiseConstantDecay: %s must be at most %d numbers", key, max);
        out[(*n)++] = v->valuedouble;
    }
    return CK_OK;
}

static ck_status read_piecewise(const cJSON *cfg, ck_lr_schedule *s)
{
    int nv;
    CK_TRY(read_numbers(cfg, "boundaries", s->boundaries, CK_MAX_BOUNDARIES, &s->n_boundaries));
    CK_TRY(read_numbers(cfg, "values", s->values, CK_MAX_BOUNDARIES + 1, &nv));
    if (nv != s->n_boundaries + 1)
        return ck_error(CK_ERR_FORMAT,
                        "PiecewiseConstantDecay: %d values for %d boundaries (one more expected)",
                        nv, s->n_boundaries);
    return CK_OK;
}

static ck_status read_key(const cJSON *cfg, const char *key, ck_lr_schedule *s)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!v || cJSON_IsNull(v))
        return CK_OK;
    if (strcmp(key, "staircase") == 0 || strcmp(key, "cycle") == 0) {
        *(key[0] == 's' ? &s->staircase : &s->cycle) = cJSON_IsTrue(v);
        return CK_OK;
    }
    if (!cJSON_IsNumber(v))
        return ck_error(CK_ERR_FORMAT, "%s: %s must be a number", s->class_name, key);
    double *field = strcmp(key, "initial_learning_rate") == 0 ? &s->initial_learning_rate
                    : strcmp(key, "decay_steps") == 0         ? &s->decay_steps
                    : strcmp(key, "decay_rate") == 0          ? &s->decay_rate
                    : strcmp(key, "end_learning_rate") == 0   ? &s->end_learning_rate
                    : strcmp(key, "power") == 0               ? &s->power
                    : strcmp(key, "alpha") == 0               ? &s->alpha
                    : strcmp(key, "warmup_target") == 0       ? &s->warmup_target
                                                              : &s->warmup_steps;
    *field = v->valuedouble;
    if (field == &s->end_learning_rate)
        s->explicit_fields |= CK_OPT_END_LEARNING_RATE;
    return CK_OK;
}

ck_status ck_lr_schedule_from_json(const cJSON *json, ck_lr_schedule *s)
{
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(json, "class_name");
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(json, "config");
    if (!cJSON_IsString(cls) || !cJSON_IsObject(cfg))
        return ck_error(CK_ERR_FORMAT, "learning_rate schedule needs a class_name and a config");
    const schedule_class *c = find_class(cls->valuestring);
    if (!c)
        return ck_error(CK_ERR_UNSUPPORTED,
                        "learning rate schedule %s is not supported by ckeras (ExponentialDecay, "
                        "InverseTimeDecay, PolynomialDecay, PiecewiseConstantDecay, CosineDecay "
                        "are)",
                        cls->valuestring);
    *s = (ck_lr_schedule){.class_name = c->class_name};
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(cfg, "name");
    s->name = cJSON_IsString(name) ? name->valuestring : NULL;
    if (is_piecewise(s))
        CK_TRY(read_piecewise(cfg, s));
    char keys[96];
    snprintf(keys, sizeof keys, "initial_learning_rate decay_steps %s", c->keys);
    char *save = NULL;
    for (char *k = strtok_r(keys, " ", &save); !is_piecewise(s) && k;
         k = strtok_r(NULL, " ", &save))
        CK_TRY(read_key(cfg, k, s));
    return ck_lr_schedule_prepare(s);
}
