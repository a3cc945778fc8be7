/* Keras's training_config (tf.keras 2 .h5 files) and compile_config
 * (Keras 3): the loss, metrics and optimizer of a compiled model as JSON,
 * and back. */
#include "ck_train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cJSON *loss_to_json(const ck_loss *loss)
{
    bool huber = loss->kind == CK_LOSS_HUBER;
    if (!loss->from_logits && !loss->logits_taken && (!huber || loss->delta == 1.0))
        return cJSON_CreateString(ck_loss_name(loss));
    cJSON *obj = cJSON_CreateObject(), *cfg = cJSON_AddObjectToObject(obj, "config");
    bool ok = cfg && cJSON_AddStringToObject(obj, "class_name", ck_loss_class_name(loss)) &&
              cJSON_AddStringToObject(cfg, "name", ck_loss_name(loss)) &&
              cJSON_AddStringToObject(cfg, "reduction", "auto") &&
              (huber ? cJSON_AddNumberToObject(cfg, "delta", loss->delta)
                     : cJSON_AddBoolToObject(cfg, "from_logits", true));
    if (!ok) {
        cJSON_Delete(obj);
        return NULL;
    }
    return obj;
}

/* The metrics (weighted false) or weighted metrics by the names given to
 * compile, or as the Keras objects they were read from (Keras 3 form when
 * keras3); Keras writes null for no weighted metrics. */
static cJSON *metrics_to_json(const ck_train_state *s, bool weighted, bool keras3)
{
    int count = 0;
    for (int k = 0; k < s->n_metrics; k++)
        count += s->weighted[k] == weighted;
    if (weighted && count == 0)
        return cJSON_CreateNull();
    cJSON *list = cJSON_CreateArray();
    for (int k = 0; list && k < s->n_metrics; k++) {
        if (s->weighted[k] != weighted)
            continue;
        const ck_metric_params *p = &s->metric_params[k];
        cJSON *item = p->from_object
                          ? ck_metric_object_to_json(s->metrics[k], p, s->given_names[k], keras3)
                          : cJSON_CreateString(s->given_names[k]);
        if (!item || !cJSON_AddItemToArray(list, item)) {
            cJSON_Delete(item);
            cJSON_Delete(list);
            return NULL;
        }
    }
    return list;
}

/* Adds item to obj, or frees it when either is missing or adding fails. */
static bool add_item(cJSON *obj, const char *key, cJSON *item)
{
    if (item && cJSON_AddItemToObject(obj, key, item))
        return true;
    cJSON_Delete(item);
    return false;
}

/* Keras writes null when compile had no loss_weights. */
static cJSON *loss_weights_to_json(const ck_loss *loss)
{
    if (loss->weight == 1.0)
        return cJSON_CreateNull();
    return cJSON_CreateDoubleArray(&loss->weight, 1);
}

cJSON *ck_train_config_to_json(const ck_model *m)
{
    const ck_train_state *s = ck_train_state_of(m);
    if (!s)
        return NULL;
    cJSON *root = cJSON_CreateObject();
    bool ok = root && add_item(root, "loss", loss_to_json(&s->loss)) &&
              add_item(root, "metrics", metrics_to_json(s, false, m->semantics == CK_KERAS3)) &&
              add_item(root, "weighted_metrics",
                       metrics_to_json(s, true, m->semantics == CK_KERAS3)) &&
              add_item(root, "loss_weights", loss_weights_to_json(&s->loss)) &&
              add_item(root, "optimizer_config",
                       ck_optimizer_to_json(&s->opt, m->semantics == CK_KERAS3));
    if (!ok) {
        cJSON_Delete(root);
        ck_error(CK_ERR_MEMORY, "out of memory writing the training config");
        return NULL;
    }
    return root;
}

/* Loss options ckeras cannot honour are refused rather than ignored. */
static ck_status check_loss_options(const cJSON *cfg)
{
    const cJSON *ls = cJSON_GetObjectItemCaseSensitive(cfg, "label_smoothing");
    if (cJSON_IsNumber(ls) && ls->valuedouble != 0)
        return ck_error(CK_ERR_UNSUPPORTED, "training_config: loss option label_smoothing is not "
                                            "supported");
    const cJSON *red = cJSON_GetObjectItemCaseSensitive(cfg, "reduction");
    if (red && !cJSON_IsNull(red) &&
        !(cJSON_IsString(red) && (strcmp(red->valuestring, "auto") == 0 ||
                                  strcmp(red->valuestring, "sum_over_batch_size") == 0)))
        return ck_error(CK_ERR_UNSUPPORTED,
                        "training_config: loss option reduction %s is not "
                        "supported (auto and sum_over_batch_size are)",
                        cJSON_IsString(red) ? red->valuestring : "(not a string)");
    const cJSON *ignore = cJSON_GetObjectItemCaseSensitive(cfg, "ignore_class");
    if (ignore && !cJSON_IsNull(ignore))
        return ck_error(CK_ERR_UNSUPPORTED, "training_config: loss option ignore_class is not "
                                            "supported");
    const cJSON *axis = cJSON_GetObjectItemCaseSensitive(cfg, "axis");
    if (axis && !cJSON_IsNull(axis) && !(cJSON_IsNumber(axis) && axis->valuedouble == -1))
        return ck_error(CK_ERR_UNSUPPORTED,
                        "training_config: loss option axis other than -1 is not "
                        "supported");
    return CK_OK;
}

static ck_status loss_from_json(const cJSON *j, ck_compile_options *o)
{
    /* A list of one, or a dict naming the one output: that output's loss. */
    bool keyed = cJSON_IsObject(j) && !cJSON_GetObjectItemCaseSensitive(j, "class_name");
    if ((cJSON_IsArray(j) || keyed) && cJSON_GetArraySize(j) == 1)
        return loss_from_json(j->child, o);
    if (cJSON_IsString(j)) {
        o->loss = j->valuestring;
        return CK_OK;
    }
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(j, "class_name");
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(j, "config");
    if (!cJSON_IsString(cls))
        return ck_error(CK_ERR_UNSUPPORTED,
                        "training_config: only a single named loss is supported");
    CK_TRY(check_loss_options(cfg));
    o->loss = cls->valuestring;
    o->from_logits = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cfg, "from_logits"));
    const cJSON *delta = cJSON_GetObjectItemCaseSensitive(cfg, "delta");
    if (delta && !cJSON_IsNull(delta)) {
        if (!cJSON_IsNumber(delta) || !(delta->valuedouble > 0))
            return ck_error(CK_ERR_UNSUPPORTED, "training_config: loss option delta must be a "
                                                "number > 0");
        o->huber_delta = delta->valuedouble;
    }
    return CK_OK;
}

/* Metrics from a flat or per-output nested list of names or objects
 * (null: none) into `specs`, and the names compile resolves into `names`. */
static ck_status metrics_from_json(const cJSON *j, ck_metric_spec *specs, const char **names,
                                   int *n)
{
    const cJSON *item;
    cJSON_ArrayForEach(item, j)
    {
        if (cJSON_IsArray(item)) {
            CK_TRY(metrics_from_json(item, specs, names, n));
            continue;
        }
        if (*n >= CK_MAX_METRICS)
            return ck_error(CK_ERR_UNSUPPORTED, "training_config: more than %d metrics",
                            CK_MAX_METRICS);
        CK_TRY(ck_metric_spec_from_json(item, &specs[*n]));
        names[*n] = specs[*n].compile_name;
        (*n)++;
    }
    return CK_OK;
}

/* Compile resolved each metric object by the name of its kind: give it
 * its options and the name Keras logs it under, its config name. */
static ck_status apply_objects(ck_model *m, const ck_metric_spec *specs)
{
    ck_train_state *s = ck_train_state_of(m);
    char keys[CK_MAX_METRICS][CK_NAME_MAX];
    for (int k = 0; k < s->n_metrics; k++) {
        s->metric_params[k] = specs[k].params;
        CK_TRY(ck_metric_name(s, m, k, specs[k].name, keys));
    }
    return CK_OK;
}

/* Keras's loss_weights of the one output: null, a number, a list of one or
 * a dict of one output name. */
static ck_status loss_weight_from_json(const cJSON *j, ck_compile_options *o)
{
    if (!j || cJSON_IsNull(j))
        return CK_OK;
    if (cJSON_IsArray(j) || cJSON_IsObject(j)) {
        if (cJSON_GetArraySize(j) != 1)
            return ck_error(CK_ERR_UNSUPPORTED,
                            "training_config: loss_weights has %d entries; a model of one output "
                            "takes one",
                            cJSON_GetArraySize(j));
        j = j->child;
    }
    if (!cJSON_IsNumber(j) || !(j->valuedouble > 0 && isfinite(j->valuedouble)))
        return ck_error(CK_ERR_UNSUPPORTED,
                        "training_config: loss_weights must be a finite number > 0");
    o->loss_weight = j->valuedouble;
    return CK_OK;
}

ck_status ck_train_config_from_json(ck_model *m, const cJSON *tc)
{
    if (!m)
        return ck_error(CK_ERR_ARGUMENT, "ck_train_config_from_json: model is NULL");
    if (!cJSON_IsObject(tc))
        return ck_error(CK_ERR_FORMAT, "training_config is not a JSON object");
    ck_compile_options o = {0};
    ck_metric_spec specs[2 * CK_MAX_METRICS];
    int n = 0, n_weighted = 0;
    /* tf.keras 2 training_config says optimizer_config; Keras 3 compile_config says optimizer. */
    const cJSON *opt = cJSON_GetObjectItemCaseSensitive(tc, "optimizer_config");
    if (!opt)
        opt = cJSON_GetObjectItemCaseSensitive(tc, "optimizer");
    if (cJSON_IsString(opt))
        o.optimizer.name = opt->valuestring;
    else
        CK_TRY(ck_optimizer_from_json(opt, &o.optimizer));
    CK_TRY(loss_from_json(cJSON_GetObjectItemCaseSensitive(tc, "loss"), &o));
    CK_TRY(loss_weight_from_json(cJSON_GetObjectItemCaseSensitive(tc, "loss_weights"), &o));
    CK_TRY(
        metrics_from_json(cJSON_GetObjectItemCaseSensitive(tc, "metrics"), specs, o.metrics, &n));
    CK_TRY(metrics_from_json(cJSON_GetObjectItemCaseSensitive(tc, "weighted_metrics"), specs + n,
                             o.weighted_metrics, &n_weighted));
    CK_TRY(ck_model_compile_with(m, &o));
    /* tf.keras 2.9 to 2.15 say which optimizer they saved: the legacy
     * OptimizerV2 (true) or the new one, Keras 3's rules (false). */
    const cJSON *legacy = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(opt, "config"), "is_legacy_optimizer");
    if (cJSON_IsBool(legacy))
        ck_train_state_of(m)->opt.legacy = cJSON_IsTrue(legacy);
    return apply_objects(m, specs);
}
