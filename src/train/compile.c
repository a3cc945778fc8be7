/* compile: the loss, optimizer and metrics a model trains with, kept as
 * the model's training state. */
#include "ck_train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void state_free(void *state)
{
    ck_train_state *s = state;
    if (!s)
        return;
    for (int i = 0; i < s->n_metrics; i++) {
        free(s->metric_names[i]);
        free(s->given_names[i]);
    }
    ck_optimizer_free(&s->opt);
    ck_buf_free(&s->xb);
    ck_buf_free(&s->yb);
    ck_buf_free(&s->dout);
    ck_buf_free(&s->frozen);
    ck_buf_free(&s->swb);
    ck_buf_free(&s->rowb);
    ck_buf_free(&s->metric_w);
    ck_buf_free(&s->batch_mask);
    free(s->slot_names);
    free(s);
}

/* Keras 3 counts the built optimizer's variables in a summary: the slot
 * arrays plus the int64 iteration and the float learning_rate. */
static size_t optimizer_params(const void *state, size_t *bytes)
{
    const ck_train_state *s = state;
    *bytes = 0;
    if (!s->opt.created)
        return 0;
    size_t slots = (size_t)s->opt.n_slots * s->opt.n;
    *bytes = 4 * (slots + 1) + 8;
    return slots + 2;
}

static const ck_train_hooks hooks = {.free = state_free, .optimizer_params = optimizer_params};

/* How many of the first n metrics have the base name `key`. */
static int key_count(char keys[][CK_NAME_MAX], int n, const char *key)
{
    int count = 0;
    for (int i = 0; i < n; i++)
        count += strcmp(keys[i], key) == 0;
    return count;
}

/* Standalone Keras before 2.3 logged accuracy and crossentropy as acc and
 * ce, any other metric by its function's name (mse as mean_squared_error),
 * and every weighted metric with weighted_ (training.py of 2.2.4); 2.3
 * keeps the string given (training_utils.get_metric_name). */
static const char *keras22_metric_name(const char *given)
{
    static const char *const names[][2] = {{"accuracy", "acc"},
                                           {"acc", "acc"},
                                           {"crossentropy", "ce"},
                                           {"ce", "ce"},
                                           {"mse", "mean_squared_error"},
                                           {"MSE", "mean_squared_error"},
                                           {"mae", "mean_absolute_error"},
                                           {"MAE", "mean_absolute_error"},
                                           {"mape", "mean_absolute_percentage_error"},
                                           {"MAPE", "mean_absolute_percentage_error"},
                                           {"msle", "mean_squared_logarithmic_error"},
                                           {"MSLE", "mean_squared_logarithmic_error"},
                                           {"cosine", "cosine_proximity"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(given, names[i][0]) == 0)
            return names[i][1];
    return given;
}

ck_status ck_metric_name(ck_train_state *s, const ck_model *m, int k, const char *given,
                         char keys[][CK_NAME_MAX])
{
    if (ck_model_standalone_keras_below(m, 2, 3, 0))
        snprintf(keys[k], CK_NAME_MAX, "%s%s", s->weighted[k] ? "weighted_" : "",
                 keras22_metric_name(given));
    else
        snprintf(keys[k], CK_NAME_MAX, "%s%s",
                 s->weighted[k] && key_count(keys, k, given) ? "weighted_" : "", given);
    int before = key_count(keys, k, keys[k]);
    char name[CK_NAME_MAX + 16];
    snprintf(name, sizeof name, "%s", keys[k]);
    if (before)
        snprintf(name + strlen(name), 16, "_%d", before);
    char *shown = ck_strdup(name), *kept = ck_strdup(given);
    if (!shown || !kept) {
        free(shown);
        free(kept);
        return CK_ERR_MEMORY;
    }
    free(s->metric_names[k]);
    free(s->given_names[k]);
    s->metric_names[k] = shown;
    s->given_names[k] = kept;
    return CK_OK;
}

static ck_status add_metric(ck_train_state *s, const ck_model *m, const char *given, bool weighted,
                            char keys[][CK_NAME_MAX])
{
    int k = s->n_metrics;
    if (k == CK_MAX_METRICS)
        return ck_error(CK_ERR_ARGUMENT,
                        "compile: at most %d metrics and weighted_metrics together",
                        CK_MAX_METRICS);
    /* Parsed names are Keras's own, short enough for the buffers below. */
    CK_TRY(ck_metric_parse(given, &s->loss, &s->metrics[k]));
    s->weighted[k] = weighted;
    s->n_metrics = k + 1;
    return ck_metric_name(s, m, k, given, keys);
}

/* A name that is the model's own string (ck_model_get_compile_options)
 * keeps what the model read it as: a Keras metric object's class and
 * options, which its name alone does not say. */
static void keep_own_metric(ck_train_state *s, const ck_train_state *old, const char *given)
{
    int k = s->n_metrics - 1;
    for (int j = 0; old && j < old->n_metrics; j++)
        if (old->given_names[j] == given && old->weighted[j] == s->weighted[k]) {
            s->metrics[k] = old->metrics[j];
            s->metric_params[k] = old->metric_params[j];
        }
}

static ck_status setup_metrics(ck_train_state *s, const ck_model *m, const ck_compile_options *o)
{
    enum { LIST = sizeof o->metrics / sizeof o->metrics[0] };
    const ck_train_state *old = ck_train_state_of(m);
    char keys[CK_MAX_METRICS][CK_NAME_MAX];
    for (int i = 0; i < LIST && o->metrics[i]; i++) {
        CK_TRY(add_metric(s, m, o->metrics[i], false, keys));
        keep_own_metric(s, old, o->metrics[i]);
    }
    for (int i = 0; i < LIST && o->weighted_metrics[i]; i++) {
        CK_TRY(add_metric(s, m, o->weighted_metrics[i], true, keys));
        keep_own_metric(s, old, o->weighted_metrics[i]);
    }
    return CK_OK;
}

/* TensorFlow keeps the logits of a softmax or sigmoid output (tf.keras
 * 2.5+, and Keras 3 on its default backend) and computes a cross-entropy
 * from them even when told from_logits=True, with a warning: the model
 * trains on the loss of from_logits=False. Standalone Keras and tf.keras
 * up to 2.4 applied the activation a second time. */
static bool keeps_logits(const ck_model *m)
{
    bool tf_keras;
    int release = ck_model_keras_release(m, &tf_keras);
    return release == 0 || release >= 205;
}

static void take_logits(ck_train_state *s, ck_model *m, ck_act act)
{
    ck_loss plain = s->loss;
    plain.from_logits = false;
    if (!s->loss.from_logits || !ck_loss_fuses_with(&plain, act) || !keeps_logits(m))
        return;
    s->loss.from_logits = false;
    s->loss.logits_taken = true;
    (void)ck_model_warn(m,
                        "loss %s: from_logits=True, but the output is a %s, not logits; as "
                        "TensorFlow Keras does, the loss takes the logits before it",
                        ck_loss_name(&s->loss), act == CK_ACT_SOFTMAX ? "softmax" : "sigmoid");
}

/* tf.keras's compile_utils (TF 2.2, "2.3.0-tf") began choosing "accuracy"
 * by the shapes; Keras 2.3.x, a separate package, kept the loss rule. */
static bool accuracy_from_loss(const ck_model *m)
{
    bool tf_keras;
    int release = ck_model_keras_release(m, &tf_keras);
    return release > 0 && (release <= 202 || (release == 203 && !tf_keras));
}

/* Standalone Keras up to 2.2.5 had its own training code, replaced in 2.3
 * by tf.keras's. Its weighted_masked_objective divided a masked loss, and
 * its metrics, by each batch's kept steps (Keras 2.3 and tf.keras made the
 * mask a sample weight, divided by all steps for the loss and by the
 * epoch's kept steps for the metrics), and its backend cross-entropies
 * took the logs of the clipped probabilities, softmax and sigmoid outputs
 * included (no logits, no epsilon inside the logs). */
static bool standalone_keras_2_2(const ck_model *m)
{
    bool tf_keras;
    int release = ck_model_keras_release(m, &tf_keras);
    return release > 0 && release <= 202 && !tf_keras;
}

/* Standalone Keras 2 and tf.keras up to 2.10 (OptimizerV2) put RMSprop's
 * (without momentum) and Adagrad's epsilon outside the square root;
 * tf.keras 2.11 moved to Keras 3's optimizers. A model built in C
 * follows Keras 3. */
static bool legacy_optimizers(const ck_model *m)
{
    bool tf_keras;
    int release = ck_model_keras_release(m, &tf_keras);
    return release > 0 && release <= 210;
}

static ck_clip_rule clip_rule(const ck_model *m)
{
    bool tf_keras;
    int release = ck_model_keras_release(m, &tf_keras);
    if (ck_model_from_standalone_keras2(m))
        return CK_CLIP_STANDALONE;
    /* tf.keras 2.0-2.3's optimizer is not among the sources read; a model
     * built in C is refused a combination that tf.keras 2.11+ would apply
     * in part. */
    return release >= 204 && release < 300 ? CK_CLIP_TF_KERAS : CK_CLIP_ONE;
}

/* Standalone Keras 2.0-2.3 had no initial_accumulator_value: Adagrad's
 * accumulators started at 0. */
static ck_optimizer_options optimizer_of(const ck_model *m, const ck_optimizer_options *o)
{
    ck_optimizer_options out = *o;
    if (ck_model_from_standalone_keras2(m) && o->name && strcasecmp(o->name, "adagrad") == 0 &&
        !(o->explicit_fields & CK_OPT_INITIAL_ACCUMULATOR_VALUE)) {
        out.initial_accumulator_value = 0;
        out.explicit_fields |= CK_OPT_INITIAL_ACCUMULATOR_VALUE;
    }
    return out;
}

static ck_status setup(ck_train_state *s, ck_model *m, const ck_compile_options *o)
{
    const ck_layer *last = m->layers[m->n_layers - 1];
    CK_TRY(ck_loss_parse(o->loss, o->from_logits, &s->loss));
    if (o->huber_delta != 0) {
        if (s->loss.kind != CK_LOSS_HUBER || !(o->huber_delta > 0 && isfinite(o->huber_delta)))
            return ck_error(CK_ERR_ARGUMENT,
                            "compile: huber_delta %g needs loss huber and a finite "
                            "value > 0",
                            o->huber_delta);
        s->loss.delta = o->huber_delta;
    }
    if (o->loss_weight != 0) {
        if (!(o->loss_weight > 0 && isfinite(o->loss_weight)))
            return ck_error(CK_ERR_ARGUMENT, "compile: loss_weight %g must be a finite value > 0",
                            o->loss_weight);
        s->loss.weight = o->loss_weight;
    }
    bool keras_2_2 = standalone_keras_2_2(m);
    s->keras_2_2_objective = keras_2_2;
    /* Keras 3 divides a masked loss by the kept steps too. */
    s->loss.mask_mean_over_kept = m->semantics == CK_KERAS3 || keras_2_2;
    s->loss.bce_log_epsilon = m->semantics == CK_KERAS2 && !keras_2_2;
    s->accuracy_from_loss = accuracy_from_loss(m);
    /* Only layers that skip their activation on request report it. */
    ck_act act = last->ops->output_activation ? last->ops->output_activation(last) : CK_ACT_LINEAR;
    take_logits(s, m, act);
    /* An activity penalty needs the gradient w.r.t. the probabilities, and
     * so does a clip in the value, which stops the gradient. */
    s->loss.fused = ck_loss_fuses_with(&s->loss, act) && last->activity.kind == CK_REG_NONE &&
                    !keras_2_2;
    ck_optimizer_options opt = optimizer_of(m, &o->optimizer);
    CK_TRY(ck_optimizer_init(&s->opt, &opt));
    CK_TRY(ck_optimizer_set_clip_rule(&s->opt, clip_rule(m)));
    s->opt.legacy = legacy_optimizers(m);
    return setup_metrics(s, m, o);
}

static ck_status compile(ck_model *m, const ck_compile_options *o)
{
    CK_TRY(ck_model_build(m));
    CK_TRY(ck_model_check_penalties(m));
    ck_train_state *s = ck_alloc(1, sizeof *s);
    if (!s)
        return CK_ERR_MEMORY;
    /* The options may be the model's own (ck_model_get_compile_options),
     * owned by the state that applying trainable flags drops: copy first. */
    ck_status st = setup(s, m, o);
    if (st == CK_OK)
        st = ck_model_apply_trainable(m);
    if (st != CK_OK) {
        state_free(s);
        return st;
    }
    ck_model_set_train(m, s, &hooks);
    m->layers[m->n_layers - 1]->fused_loss_grad = s->loss.fused;
    return CK_OK;
}

ck_status ck_model_compile_with(ck_model *m, const ck_compile_options *o)
{
    if (!m || !o)
        return ck_error(CK_ERR_ARGUMENT, "ck_model_compile: NULL argument");
    ck_status st;
    CK_GUARDED(st, m, CK_ACCESS_CHANGE, "ck_model_compile", compile(m, o));
    return st;
}

ck_train_state *ck_train_state_of(const ck_model *m)
{
    return m ? m->train : NULL;
}

ck_status ck_train_compiled(ck_model *m, const char *fn, ck_train_state **s)
{
    if (!m)
        return ck_error(CK_ERR_ARGUMENT, "%s: model is NULL", fn);
    if (!m->train)
        return ck_error(CK_ERR_STATE, "%s: model %s is not compiled; call ck_model_compile first",
                        fn, m->name);
    *s = m->train;
    return CK_OK;
}

bool ck_model_is_compiled(const ck_model *m)
{
    return ck_train_state_of(m) != NULL;
}

ck_status ck_model_get_compile_options(const ck_model *m, ck_compile_options *out)
{
    const ck_train_state *s = ck_train_state_of(m);
    if (!out)
        return ck_error(CK_ERR_ARGUMENT, "ck_model_get_compile_options: NULL argument");
    if (!s)
        return ck_error(CK_ERR_STATE, "ck_model_get_compile_options: model %s is not compiled",
                        m ? m->name : "(NULL)");
    *out = (ck_compile_options){.optimizer = s->opt.o,
                                .loss = ck_loss_name(&s->loss),
                                .from_logits = s->loss.from_logits || s->loss.logits_taken,
                                .huber_delta = s->loss.kind == CK_LOSS_HUBER ? s->loss.delta : 0,
                                .loss_weight = s->loss.weight};
    int n[2] = {0, 0};
    for (int k = 0; k < s->n_metrics; k++) {
        const char **list = s->weighted[k] ? out->weighted_metrics : out->metrics;
        list[n[s->weighted[k]]++] = s->given_names[k];
    }
    return CK_OK;
}

int ck_model_metric_count(const ck_model *m)
{
    const ck_train_state *s = ck_train_state_of(m);
    return s ? s->n_metrics : 0;
}

const char *ck_model_metric_name(const ck_model *m, int index)
{
    const ck_train_state *s = ck_train_state_of(m);
    return s && index >= 0 && index < s->n_metrics ? s->metric_names[index] : NULL;
}
