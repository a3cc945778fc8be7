/* The optimizer interface (src/optim): one algorithm per file, listed in
 * the kinds table of optimizer.c. Training (src/train) drives it; nothing
 * here is public API. */
#ifndef CK_OPTIM_H
#define CK_OPTIM_H

#include "ck_internal.h"

#define CK_OPT_MAX_SLOTS 3

/* One optimizer algorithm: one file in src/optim each. */
typedef struct ck_optimizer_kind {
    const char *name;       /* lower-case Keras name: "adam" */
    const char *class_name; /* Keras class: "Adam" */
    /* Replaces zero fields not in o->explicit_fields with the Keras
     * defaults (ck_optimizer_default) and checks the ranges. */
    ck_status (*prepare)(ck_optimizer_options *o);
    /* Names of the per-weight state slots in Keras order ("m", "v"), and
     * each slot's initial value; returns how many. */
    int (*slots)(const ck_optimizer_options *o, const char **names, float *init);
    /* One update of n weights w with gradients g; slot[k] is the k-th state
     * array over the same n entries; t is the 1-based step number. */
    void (*update)(const ck_optimizer_options *o, double t, float *w, const float *g,
                   float *const *slot, size_t n);
    /* The update of standalone Keras 2 and tf.keras 2.0-2.10 where it
     * differs from update (NULL: it does not). */
    void (*legacy_update)(const ck_optimizer_options *o, double t, float *w, const float *g,
                          float *const *slot, size_t n);
    /* Adds the algorithm's own keys to a Keras optimizer config; false
     * when cJSON runs out of memory. */
    bool (*to_json)(const ck_optimizer_options *o, cJSON *config);
} ck_optimizer_kind;

extern const ck_optimizer_kind ck_optimizer_sgd, ck_optimizer_adam, ck_optimizer_rmsprop,
    ck_optimizer_adagrad, ck_optimizer_nadam, ck_optimizer_adamax, ck_optimizer_adamw;

/* Adam's pieces, shared with AdamW, Nadam and Adamax (adam.c): the
 * defaults and ranges of lr, beta_1, beta_2, epsilon (cls names the class
 * in messages), the two moment slots m and v. */
ck_status ck_adam_defaults(ck_optimizer_options *o, const char *cls);
int ck_adam_moment_slots(const ck_optimizer_options *o, const char **names, float *init);
int ck_adam_slots(const ck_optimizer_options *o, const char **names, float *init);
void ck_adam_update(const ck_optimizer_options *o, double t, float *w, const float *g,
                    float *const *slot, size_t n);
bool ck_adam_to_json(const ck_optimizer_options *o, cJSON *config);
/* beta_1, beta_2 and epsilon (Nadam's and Adamax's whole config). */
bool ck_adam_betas_to_json(const ck_optimizer_options *o, cJSON *config);

/* ---------------- learning rate schedules (schedules.c) ---------------- */
/* Checks a schedule and fills in its defaults. */
ck_status ck_lr_schedule_prepare(ck_lr_schedule *s);
/* The rate of a prepared schedule at `step`, rounded to float32 as Keras keeps it. */
double ck_lr_schedule_at(const ck_lr_schedule *s, double step);
/* Keras's serialized schedule: {"class_name", "config"}, plus "module" and
 * "registered_name" for Keras 3. */
cJSON *ck_lr_schedule_to_json(const ck_lr_schedule *s, bool keras3);
/* Reads either form; string fields point into json. */
ck_status ck_lr_schedule_from_json(const cJSON *json, ck_lr_schedule *s);

/* How clipnorm, clipvalue and global_clipnorm combine, by the Keras that
 * wrote the model (clip_gradients in optimizer.c says what each does). */
typedef enum ck_clip_rule {
    CK_CLIP_ONE,        /* models built in C or of Keras 3 or tf.keras 2.0-2.3: one at most */
    CK_CLIP_STANDALONE, /* standalone Keras 2.0-2.3: clipnorm is a norm over all gradients */
    CK_CLIP_TF_KERAS,   /* tf.keras 2.4+: any two but clipnorm and global_clipnorm */
} ck_clip_rule;

typedef struct ck_optimizer {
    const ck_optimizer_kind *kind;
    ck_optimizer_options o; /* defaults filled in; o.name is the Keras class name */
    int n_slots;
    const char *slot_names[CK_OPT_MAX_SLOTS];
    float slot_init[CK_OPT_MAX_SLOTS];
    bool created;       /* state exists (after the first step or for a loader) */
    int64_t iterations; /* Keras "iter": steps taken */
    /* iterations as the float slot 0 that savers and loaders go through
     * (ck_optimizer_iter_slot); a loader's write is adopted at the next step. */
    float iter_slot;
    float *state;  /* n_slots arrays of n floats, parallel to the trainable weights */
    float *backup; /* n floats: the weights before the current step */
    size_t n;
    ck_clip_rule clip_rule; /* set by compile */
    bool legacy; /* a model of Keras up to 2.10: the kind's legacy_update (set by compile) */
    char schedule_name[64]; /* o.learning_rate_schedule.name points here */
} ck_optimizer;

/* Steps taken, including a count a loader wrote. */
int64_t ck_optimizer_iterations(const ck_optimizer *opt);
/* Sets the steps taken: a loader's exact count, or 0 for a fresh start. */
void ck_optimizer_set_iterations(ck_optimizer *opt, int64_t n);
/* The rate the next step uses: the schedule at the current step, or the
 * fixed rate (float32, as Keras's variable). */
double ck_optimizer_learning_rate(const ck_optimizer *opt);
/* Replaces the fixed rate, keeping all state; CK_ERR_STATE with a schedule. */
ck_status ck_optimizer_set_learning_rate(ck_optimizer *opt, double lr, const char *who);

/* Sets *field to def unless it is nonzero or `bit` is in o->explicit_fields. */
void ck_optimizer_default(const ck_optimizer_options *o, unsigned bit, double *field, double def);
/* The iteration count as a float slot for saving and loading. */
float *ck_optimizer_iter_slot(ck_optimizer *opt);

/* Finds the algorithm by Keras name (any case) and fills in its defaults. */
ck_status ck_optimizer_init(ck_optimizer *opt, const ck_optimizer_options *options);
/* Sets the rule by which the clip options combine, refusing a combination
 * the rule's Keras refused (or that ckeras does not know it to apply). */
ck_status ck_optimizer_set_clip_rule(ck_optimizer *opt, ck_clip_rule rule);
/* Allocates the slot arrays for n weights (no-op when they exist). */
ck_status ck_optimizer_ensure_state(ck_optimizer *opt, size_t n);
/* Clips the model's trainable gradients as the options ask, then updates the weights. */
ck_status ck_optimizer_step(ck_optimizer *opt, ck_model *m);
/* Keras optimizer_config JSON: {"class_name": ..., "config": {...}};
 * keras3 picks the serialized form of a schedule. */
cJSON *ck_optimizer_to_json(const ck_optimizer *opt, bool keras3);
/* Reads a Keras optimizer_config object into options (a schedule's
 * strings point into json). */
ck_status ck_optimizer_from_json(const cJSON *json, ck_optimizer_options *out);
void ck_optimizer_free(ck_optimizer *opt);

#endif /* CK_OPTIM_H */
