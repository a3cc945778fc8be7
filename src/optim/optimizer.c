/* What every optimizer shares: lookup by Keras name, state arrays laid out
 * parallel to the model's trainable weights, gradient clipping, the step
 * and the Keras optimizer_config JSON. The algorithms live one per file. */
#include "ck_optim.h"
#include "ck_pool.h"
#include "ck_vmath.h"

#include <math.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const ck_optimizer_kind *const kinds[] = {
    &ck_optimizer_sgd,   &ck_optimizer_adam,   &ck_optimizer_rmsprop, &ck_optimizer_adagrad,
    &ck_optimizer_nadam, &ck_optimizer_adamax, &ck_optimizer_adamw,
};
#define N_KINDS (sizeof kinds / sizeof kinds[0])

static const ck_optimizer_kind *find_kind(const char *name)
{
    for (size_t i = 0; i < N_KINDS; i++)
        if (strcasecmp(name, kinds[i]->name) == 0)
            return kinds[i];
    return NULL;
}

static ck_status check_common(const ck_optimizer_options *o)
{
    const struct {
        const char *key;
        double v;
    } nonneg[] = {{"learning_rate", o->learning_rate},
                  {"clipnorm", o->clipnorm},
                  {"clipvalue", o->clipvalue},
                  {"global_clipnorm", o->global_clipnorm},
                  {"weight_decay", o->weight_decay}};
    for (size_t i = 0; i < sizeof nonneg / sizeof nonneg[0]; i++)
        if (!(nonneg[i].v >= 0 && isfinite(nonneg[i].v)))
            return ck_error(CK_ERR_ARGUMENT, "optimizer %s: %s must be a finite value >= 0, got %g",
                            o->name, nonneg[i].key, nonneg[i].v);
    return CK_OK;
}

ck_status ck_optimizer_set_clip_rule(ck_optimizer *opt, ck_clip_rule rule)
{
    const ck_optimizer_options *o = &opt->o;
    int set = (o->clipnorm > 0) + (o->clipvalue > 0) + (o->global_clipnorm > 0);
    if (rule == CK_CLIP_ONE && set > 1)
        return ck_error(CK_ERR_ARGUMENT,
                        "optimizer %s: only one of clipnorm, clipvalue and global_clipnorm can "
                        "be set (Keras 3; tf.keras 2.0-2.3 is not known to combine them)",
                        o->name);
    /* tf.keras refuses the pair; standalone Keras 2's clipnorm is a global one already. */
    if (o->clipnorm > 0 && o->global_clipnorm > 0)
        return ck_error(CK_ERR_ARGUMENT,
                        "optimizer %s: clipnorm and global_clipnorm cannot both be set", o->name);
    opt->clip_rule = rule;
    return CK_OK;
}

void ck_optimizer_default(const ck_optimizer_options *o, unsigned bit, double *field, double def)
{
    if (*field == 0 && !(o->explicit_fields & bit))
        *field = def;
}

ck_status ck_optimizer_init(ck_optimizer *opt, const ck_optimizer_options *options)
{
    memset(opt, 0, sizeof *opt);
    const char *name = options->name;
    if (!name)
        return ck_error(CK_ERR_ARGUMENT,
                        "compile: an optimizer is required, e.g. .optimizer = ck_adam()");
    opt->kind = find_kind(name);
    if (!opt->kind)
        return ck_error(CK_ERR_NAME,
                        "unknown optimizer '%s' (valid: sgd, adam, rmsprop, adagrad, nadam, "
                        "adamax, adamw)",
                        name);
    opt->o = *options;
    ck_lr_schedule *sched = &opt->o.learning_rate_schedule;
    if (sched->class_name) {
        CK_TRY(ck_lr_schedule_prepare(sched));
        if (sched->name) {
            snprintf(opt->schedule_name, sizeof opt->schedule_name, "%s", sched->name);
            sched->name = opt->schedule_name;
        }
        /* The fixed rate is unused; keep it the schedule's start for readers. */
        opt->o.learning_rate = ck_lr_schedule_at(sched, 0);
        opt->o.explicit_fields |= CK_OPT_LEARNING_RATE;
    }
    CK_TRY(check_common(&opt->o));
    CK_TRY(opt->kind->prepare(&opt->o));
    opt->o.name = opt->kind->class_name;
    opt->n_slots = opt->kind->slots(&opt->o, opt->slot_names, opt->slot_init);
    return CK_OK;
}

ck_status ck_optimizer_ensure_state(ck_optimizer *opt, size_t n)
{
    if (opt->created)
        return CK_OK;
    size_t total;
    if (opt->n_slots > 0) {
        if (!ck_size_mul((size_t)opt->n_slots, n, &total))
            return ck_error(CK_ERR_MEMORY, "optimizer state for %zu weights is too large", n);
        /* Streamed at every step, with the copy aside, the parameters and
         * the gradients: on huge pages as they are (fewer TLB misses; W4's
         * update pass 0.35-0.37 against 0.36-0.41 ms on 4 KiB pages). */
        opt->state = ck_alloc_bulk(total, sizeof(float));
        if (!opt->state)
            return CK_ERR_MEMORY;
        for (int k = 0; k < opt->n_slots; k++)
            for (size_t i = 0; i < n; i++)
                opt->state[(size_t)k * n + i] = opt->slot_init[k];
    }
    opt->n = n;
    opt->created = true;
    return CK_OK;
}

static double l2_norm(const float *g, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)g[i] * g[i];
    return sqrt(s);
}

/* Keras clip_by_norm: g * limit / max(norm, limit). */
static void scale_to_norm(float *g, size_t n, double norm, double limit)
{
    if (norm <= limit)
        return;
    float s = (float)(limit / norm);
    for (size_t i = 0; i < n; i++)
        g[i] *= s;
}

/* The layer and weight that hold parameter `index`, as "lstm_1/kernel". */
static void name_param(const ck_model *m, size_t index, char *buf, size_t len)
{
    snprintf(buf, len, "parameter #%zu", index);
    for (int l = 0; l < m->n_layers; l++)
        for (int i = 0; i < m->layers[l]->n_weights; i++) {
            const ck_weight *w = &m->layers[l]->weights[i];
            size_t at = (size_t)(w->data - m->params);
            if (index >= at && index < at + w->size)
                snprintf(buf, len, "%s/%s", m->layers[l]->name, w->name);
        }
}

static ck_status non_finite(const char *what, double v)
{
    return ck_error(CK_ERR_NUMERIC,
                    "%s is %s; the step was not applied (clip the gradients, e.g. clipnorm=1.0, "
                    "or lower the learning rate)",
                    what, isnan(v) ? "NaN" : "infinite");
}

/* A non-finite gradient would poison the weights and the state, so the
 * step is refused. */
static ck_status check_gradients(const ck_model *m)
{
    const float *g = m->grads;
    size_t n = m->n_trainable, bad = ck_vfind_nonfinite_par(g, n);
    if (bad == n)
        return CK_OK;
    char owner[CK_NAME_MAX + 48], what[CK_NAME_MAX + 96];
    name_param(m, bad, owner, sizeof owner);
    snprintf(what, sizeof what, "the gradient of %s", owner);
    return non_finite(what, g[bad]);
}

static void clip_value(ck_model *m, double limit)
{
    if (limit <= 0)
        return;
    float c = (float)limit, *g = m->grads;
    for (size_t i = 0; i < m->n_trainable; i++)
        g[i] = g[i] > c ? c : (g[i] < -c ? -c : g[i]);
}

/* Keras clip_by_norm on each trainable weight's gradient. */
static void clip_each_norm(ck_model *m, double limit)
{
    if (limit <= 0)
        return;
    for (int l = 0; l < m->n_layers; l++)
        for (int i = 0; i < m->layers[l]->n_weights; i++) {
            ck_weight *w = &m->layers[l]->weights[i];
            if (w->trainable)
                scale_to_norm(w->grad, w->size, l2_norm(w->grad, w->size), limit);
        }
}

static void clip_global_norm(ck_model *m, double limit)
{
    if (limit > 0)
        scale_to_norm(m->grads, m->n_trainable, l2_norm(m->grads, m->n_trainable), limit);
}

/* The clip options in the order the model's Keras applied them:
 * - standalone Keras 2.0-2.3 (Optimizer.get_gradients of 2.2.4, 2.3.1):
 *   clipnorm by the norm of all gradients together, then clipvalue;
 * - tf.keras's OptimizerV2, the optimizer of 2.4-2.10 and the legacy one
 *   after (_transform_gradients, keras v2.6.0 to v2.15.0): clipvalue,
 *   clipnorm, global_clipnorm in turn;
 * - tf.keras 2.11+'s optimizer (_clip_gradients of
 *   optimizer_experimental/optimizer.py) only the first set of clipnorm,
 *   global_clipnorm, clipvalue; with one option set, every rule agrees. */
static void clip_gradients(const ck_optimizer *opt, ck_model *m)
{
    const ck_optimizer_options *o = &opt->o;
    if (opt->clip_rule == CK_CLIP_STANDALONE) {
        clip_global_norm(m, o->clipnorm > 0 ? o->clipnorm : o->global_clipnorm);
        clip_value(m, o->clipvalue);
    } else if (opt->clip_rule == CK_CLIP_TF_KERAS && opt->legacy) {
        clip_value(m, o->clipvalue);
        clip_each_norm(m, o->clipnorm);
        clip_global_norm(m, o->global_clipnorm);
    } else if (o->clipnorm > 0) {
        clip_each_norm(m, o->clipnorm);
    } else if (o->global_clipnorm > 0) {
        clip_global_norm(m, o->global_clipnorm);
    } else {
        clip_value(m, o->clipvalue);
    }
}

float *ck_optimizer_iter_slot(ck_optimizer *opt)
{
    return &opt->iter_slot;
}

int64_t ck_optimizer_iterations(const ck_optimizer *opt)
{
    /* A loader writes the count through the float slot. */
    float f = opt->iter_slot;
    if (f != (float)opt->iterations && f >= 0 && f < 0x1p62f)
        return (int64_t)f;
    return opt->iterations;
}

void ck_optimizer_set_iterations(ck_optimizer *opt, int64_t n)
{
    opt->iterations = n;
    opt->iter_slot = (float)n;
}

static void adopt_loaded_iterations(ck_optimizer *opt)
{
    opt->iterations = ck_optimizer_iterations(opt);
}

double ck_optimizer_learning_rate(const ck_optimizer *opt)
{
    const ck_lr_schedule *sched = &opt->o.learning_rate_schedule;
    if (sched->class_name)
        return ck_lr_schedule_at(sched, (double)ck_optimizer_iterations(opt));
    return (double)(float)opt->o.learning_rate;
}

ck_status ck_optimizer_set_learning_rate(ck_optimizer *opt, double lr, const char *who)
{
    if (opt->o.learning_rate_schedule.class_name)
        return ck_error(CK_ERR_STATE,
                        "%s: the optimizer's learning rate follows a %s schedule and cannot be "
                        "set (as in Keras)",
                        who, opt->o.learning_rate_schedule.class_name);
    if (!(lr >= 0 && isfinite(lr)))
        return ck_error(CK_ERR_ARGUMENT, "%s: the learning rate must be finite and >= 0, got %g",
                        who, lr);
    opt->o.learning_rate = (double)(float)lr;
    return CK_OK;
}

/* Keras 3 decoupled weight decay, before the gradient step with the same rate. */
static void apply_weight_decay(const ck_optimizer_options *o, float *w, size_t n)
{
    if (o->weight_decay == 0)
        return;
    float wd = (float)o->weight_decay, lr = (float)o->learning_rate;
    for (size_t i = 0; i < n; i++)
        w[i] -= w[i] * wd * lr;
}

/* The update of a step, over the pool in chunks of UPDATE_CHUNK weights.
 * Each chunk is copied aside, updated and checked while it is in cache
 * (three passes over the weights were as long as the products of a
 * batch-1 step). Every update is elementwise, so the chunks and the
 * thread count cannot change a result. */
#define UPDATE_CHUNK 16384

typedef struct update_job {
    void (*update)(const ck_optimizer_options *o, double t, float *w, const float *g,
                   float *const *slot, size_t n);
    const ck_optimizer_options *now;
    double t;
    float *w, *backup;
    const float *g;
    float *slot[CK_OPT_MAX_SLOTS];
    int n_slots;
    size_t n;
    atomic_size_t first_bad; /* n when every updated weight is finite */
} update_job;

static void update_chunk(void *arg, int i)
{
    update_job *j = arg;
    size_t lo = (size_t)i * UPDATE_CHUNK, len = j->n - lo < UPDATE_CHUNK ? j->n - lo : UPDATE_CHUNK;
    float *w = j->w + lo, *slot[CK_OPT_MAX_SLOTS] = {0};
    for (int k = 0; k < j->n_slots; k++)
        slot[k] = j->slot[k] + lo;
    memcpy(j->backup + lo, w, len * sizeof *w);
    apply_weight_decay(j->now, w, len);
    j->update(j->now, j->t, w, j->g + lo, slot, len);
    size_t bad = ck_vfind_nonfinite(w, len);
    if (bad == len)
        return;
    size_t seen = atomic_load(&j->first_bad);
    while (lo + bad < seen && !atomic_compare_exchange_weak(&j->first_bad, &seen, lo + bad))
        ;
}

/* Updates the weights; the index of the first non-finite new weight, or n. */
static size_t update(ck_optimizer *opt, ck_model *m, const ck_optimizer_options *now)
{
    size_t n = m->n_trainable;
    bool legacy = opt->legacy && opt->kind->legacy_update;
    update_job j = {.update = legacy ? opt->kind->legacy_update : opt->kind->update,
                    .now = now,
                    .t = (double)opt->iterations,
                    .w = m->params,
                    .backup = opt->backup,
                    .g = m->grads,
                    .n_slots = opt->n_slots,
                    .n = n};
    for (int k = 0; k < opt->n_slots; k++)
        j.slot[k] = opt->state + (size_t)k * n;
    atomic_init(&j.first_bad, n);
    ck_pool_run((int)((n + UPDATE_CHUNK - 1) / UPDATE_CHUNK), update_chunk, &j);
    return atomic_load(&j.first_bad);
}

ck_status ck_optimizer_step(ck_optimizer *opt, ck_model *m)
{
    size_t n = m->n_trainable;
    CK_TRY(check_gradients(m));
    CK_TRY(ck_optimizer_ensure_state(opt, n));
    if (opt->n != n)
        return ck_error(CK_ERR_STATE, "optimizer state holds %zu weights but the model has %zu",
                        opt->n, n);
    clip_gradients(opt, m);
    adopt_loaded_iterations(opt);
    if (!opt->backup && !(opt->backup = ck_alloc_bulk(n ? n : 1, sizeof(float))))
        return CK_ERR_MEMORY;
    /* The rate at the step count before the step, as Keras reads it. */
    ck_optimizer_options now = opt->o;
    now.learning_rate = ck_optimizer_learning_rate(opt);
    opt->iterations++;
    opt->iter_slot = (float)opt->iterations;
    /* Finite gradients can still overflow a weight (a huge learning rate):
     * such a step is undone, so the weights stay the last finite ones. */
    size_t bad = update(opt, m, &now);
    ck_model_weights_changed(m);
    if (bad < n) {
        memcpy(m->params, opt->backup, n * sizeof(float));
        opt->iterations--;
        opt->iter_slot = (float)opt->iterations;
        char owner[CK_NAME_MAX + 48];
        name_param(m, bad, owner, sizeof owner);
        return ck_error(CK_ERR_NUMERIC,
                        "the update made %s non-finite; training stopped, the weights are the "
                        "last finite ones (lower the learning rate or clip the gradients)",
                        owner);
    }
    return CK_OK;
}

void ck_optimizer_free(ck_optimizer *opt)
{
    free(opt->state);
    free(opt->backup);
    opt->state = NULL;
    opt->backup = NULL;
    opt->created = false;
}

/* Option fields by their Keras config key. */
typedef struct option_key {
    const char *key;
    size_t offset;
    unsigned bit; /* CK_OPT_* when a zero value differs from the default */
} option_key;
#define OPTION(field)                                    \
    {                                                    \
#field, offsetof(ck_optimizer_options, field), 0 \
    }
#define OPTION_BIT(field, bit)                             \
    {                                                      \
#field, offsetof(ck_optimizer_options, field), bit \
    }
static const option_key number_keys[] = {
    OPTION_BIT(learning_rate, CK_OPT_LEARNING_RATE),
    OPTION(momentum),
    OPTION_BIT(beta_1, CK_OPT_BETA_1),
    OPTION_BIT(beta_2, CK_OPT_BETA_2),
    OPTION_BIT(epsilon, CK_OPT_EPSILON),
    OPTION_BIT(rho, CK_OPT_RHO),
    OPTION_BIT(initial_accumulator_value, CK_OPT_INITIAL_ACCUMULATOR_VALUE),
    OPTION(clipnorm),
    OPTION(clipvalue),
    OPTION(global_clipnorm),
    OPTION_BIT(weight_decay, CK_OPT_WEIGHT_DECAY),
};
static const option_key bool_keys[] = {OPTION(nesterov), OPTION(amsgrad), OPTION(centered)};
static const option_key clip_keys[] = {OPTION(clipnorm), OPTION(clipvalue),
                                       OPTION(global_clipnorm)};
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static double *number_field(ck_optimizer_options *o, const option_key *k)
{
    return (double *)(void *)((char *)o + k->offset);
}

static bool learning_rate_to_json(const ck_optimizer *opt, bool keras3, cJSON *cfg)
{
    const ck_lr_schedule *sched = &opt->o.learning_rate_schedule;
    if (!sched->class_name)
        return cJSON_AddNumberToObject(cfg, "learning_rate", opt->o.learning_rate) != NULL;
    cJSON *j = ck_lr_schedule_to_json(sched, keras3);
    if (j && cJSON_AddItemToObject(cfg, "learning_rate", j))
        return true;
    cJSON_Delete(j);
    return false;
}

static bool config_to_json(const ck_optimizer *opt, bool keras3, cJSON *root, cJSON *cfg)
{
    bool ok = cJSON_AddStringToObject(root, "class_name", opt->kind->class_name) &&
              cJSON_AddStringToObject(cfg, "name", opt->kind->class_name) &&
              learning_rate_to_json(opt, keras3, cfg) &&
              cJSON_AddNumberToObject(cfg, "decay", 0.0) && opt->kind->to_json(&opt->o, cfg);
    /* Only optimizers with a weight_decay argument (Keras 3, tf.keras 2.11+) write it. */
    ok = ok && (opt->o.weight_decay == 0 ||
                cJSON_AddNumberToObject(cfg, "weight_decay", opt->o.weight_decay));
    /* tf.keras 2 writes the clipping keys only when they are set. */
    ck_optimizer_options o = opt->o;
    for (size_t i = 0; ok && i < N_OF(clip_keys); i++) {
        double v = *number_field(&o, &clip_keys[i]);
        ok = v <= 0 || cJSON_AddNumberToObject(cfg, clip_keys[i].key, v);
    }
    return ok;
}

cJSON *ck_optimizer_to_json(const ck_optimizer *opt, bool keras3)
{
    cJSON *root = cJSON_CreateObject(), *cfg = cJSON_CreateObject();
    if (!root || !cfg || !cJSON_AddItemToObject(root, "config", cfg)) {
        cJSON_Delete(root);
        cJSON_Delete(cfg);
        return NULL;
    }
    if (!config_to_json(opt, keras3, root, cfg)) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

/* Rejects config values ckeras would otherwise silently ignore. */
static ck_status check_unsupported(const cJSON *cfg)
{
    const char *zero_keys[] = {"decay"};
    for (size_t i = 0; i < N_OF(zero_keys); i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, zero_keys[i]);
        if (v && !cJSON_IsNull(v) && !(cJSON_IsNumber(v) && v->valuedouble == 0))
            return ck_error(CK_ERR_UNSUPPORTED, "optimizer option %s is not supported by ckeras",
                            zero_keys[i]);
    }
    /* Keras 3 options whose default is null. */
    const char *null_keys[] = {"gradient_accumulation_steps", "loss_scale_factor"};
    for (size_t i = 0; i < N_OF(null_keys); i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, null_keys[i]);
        if (v && !cJSON_IsNull(v))
            return ck_error(CK_ERR_UNSUPPORTED, "optimizer option %s is not supported by ckeras",
                            null_keys[i]);
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cfg, "use_ema")))
        return ck_error(CK_ERR_UNSUPPORTED, "optimizer option use_ema is not supported by ckeras");
    return CK_OK;
}

ck_status ck_optimizer_from_json(const cJSON *json, ck_optimizer_options *out)
{
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(json, "class_name");
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(json, "config");
    if (!cJSON_IsString(cls) || !cJSON_IsObject(cfg))
        return ck_error(CK_ERR_FORMAT, "optimizer_config needs a class_name and a config object");
    /* tf.keras 2.11 to 2.15 and tf_keras save their own optimizers by their
     * registered name, in the default package: "Custom>Adam". */
    const char *name = cls->valuestring;
    if (strncmp(name, "Custom>", 7) == 0)
        name += 7;
    const ck_optimizer_kind *kind = find_kind(name);
    if (!kind)
        return ck_error(CK_ERR_UNSUPPORTED,
                        "optimizer %s is not supported by ckeras (SGD, Adam, RMSprop, Adagrad, "
                        "Nadam, Adamax, AdamW are)",
                        cls->valuestring);
    CK_TRY(check_unsupported(cfg));
    *out = (ck_optimizer_options){.name = kind->name};
    for (size_t i = 0; i < N_OF(number_keys); i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, number_keys[i].key);
        /* Keras 2.2 wrote the learning rate as "lr". */
        if (!v && i == 0)
            v = cJSON_GetObjectItemCaseSensitive(cfg, "lr");
        if (!v || cJSON_IsNull(v))
            continue;
        if (i == 0 && cJSON_IsObject(v)) {
            CK_TRY(ck_lr_schedule_from_json(v, &out->learning_rate_schedule));
            continue;
        }
        if (!cJSON_IsNumber(v))
            return ck_error(CK_ERR_UNSUPPORTED, "optimizer %s: %s must be a number or a schedule",
                            kind->class_name, number_keys[i].key);
        *number_field(out, &number_keys[i]) = v->valuedouble;
        out->explicit_fields |= number_keys[i].bit;
    }
    for (size_t i = 0; i < N_OF(bool_keys); i++)
        *(bool *)(void *)((char *)out + bool_keys[i].offset) = cJSON_IsTrue(
            cJSON_GetObjectItemCaseSensitive(cfg, bool_keys[i].key));
    return CK_OK;
}
