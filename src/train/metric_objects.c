/* Keras metric objects in a saved training_config (tf.keras 2) or
 * compile_config (Keras 3), {"class_name": "AUC", "config": {...}}: the
 * class, not the name, says what is computed, and each option is either
 * honoured or refused unless it holds its Keras default, so that a value
 * ckeras cannot honour never changes the numbers silently. */
#include "ck_train.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Reads option `key` (value v) of a metric of class `cls` into spec. */
typedef ck_status (*option_fn)(const char *cls, const char *key, const cJSON *v,
                               ck_metric_spec *spec);

typedef struct metric_class {
    const char *class_name;
    const char *default_name; /* Keras's name when the config has none */
    ck_metric_kind kind;
    option_fn option;
} metric_class;

/* The name ck_metric_parse resolves to each kind a class maps to. */
static const struct {
    ck_metric_kind kind;
    const char *name;
} kind_names[] = {
    {CK_METRIC_CATEGORICAL_ACCURACY, "categorical_accuracy"},
    {CK_METRIC_SPARSE_CATEGORICAL_ACCURACY, "sparse_categorical_accuracy"},
    {CK_METRIC_BINARY_ACCURACY, "binary_accuracy"},
    {CK_METRIC_MSE, "mse"},
    {CK_METRIC_MAE, "mae"},
    {CK_METRIC_TOP_K, "top_k_categorical_accuracy"},
    {CK_METRIC_SPARSE_TOP_K, "sparse_top_k_categorical_accuracy"},
    {CK_METRIC_PRECISION, "precision"},
    {CK_METRIC_RECALL, "recall"},
    {CK_METRIC_AUC, "auc"},
    {CK_METRIC_F1_MACRO, "f1_score"},
    {CK_METRIC_F1_MICRO, "f1_score_micro"},
    {CK_METRIC_F1_WEIGHTED, "f1_score_weighted"},
};

static const char *kind_name(ck_metric_kind kind)
{
    for (size_t i = 0; i < sizeof kind_names / sizeof kind_names[0]; i++)
        if (kind_names[i].kind == kind)
            return kind_names[i].name;
    return NULL;
}

static ck_status refuse(const char *cls, const char *key, const cJSON *v)
{
    char text[64];
    if (!cJSON_PrintPreallocated((cJSON *)v, text, sizeof text, false))
        snprintf(text, sizeof text, "(too long)");
    return ck_error(CK_ERR_UNSUPPORTED, "metric %s: %s %s is not supported", cls, key, text);
}

static bool is_null(const cJSON *v)
{
    return !v || cJSON_IsNull(v);
}

static bool is_number(const cJSON *v, double want)
{
    return cJSON_IsNumber(v) && v->valuedouble == want;
}

/* A threshold, compared in float32 as Keras compares it. Keras checks the
 * range where it has one (Precision [0, 1]); BinaryAccuracy on logits
 * may be below 0. */
static ck_status read_threshold(const char *cls, const char *key, const cJSON *v,
                                ck_metric_spec *spec)
{
    if (!cJSON_IsNumber(v) || !isfinite((float)v->valuedouble))
        return refuse(cls, key, v);
    spec->params.has_threshold = true;
    spec->params.threshold = v->valuedouble;
    return CK_OK;
}

/* Classes whose only options are name and dtype. */
static ck_status no_option(const char *cls, const char *key, const cJSON *v, ck_metric_spec *spec)
{
    (void)spec;
    return refuse(cls, key, v);
}

static ck_status binary_accuracy_option(const char *cls, const char *key, const cJSON *v,
                                        ck_metric_spec *spec)
{
    if (strcmp(key, "threshold") == 0)
        return read_threshold(cls, key, v, spec);
    return refuse(cls, key, v);
}

static ck_status top_k_option(const char *cls, const char *key, const cJSON *v,
                              ck_metric_spec *spec)
{
    if (strcmp(key, "k") == 0) {
        if (!cJSON_IsNumber(v) || !(v->valuedouble >= 1 && v->valuedouble <= 1e9) ||
            v->valuedouble != floor(v->valuedouble))
            return refuse(cls, key, v);
        spec->params.k = (int)v->valuedouble;
        return CK_OK;
    }
    if (strcmp(key, "from_sorted_ids") == 0 && cJSON_IsFalse(v))
        return CK_OK;
    return refuse(cls, key, v);
}

/* Precision and Recall: one threshold (a number or a list of one); top_k
 * and class_id only at their default, None. */
static ck_status confusion_option(const char *cls, const char *key, const cJSON *v,
                                  ck_metric_spec *spec)
{
    if (strcmp(key, "thresholds") == 0) {
        if (is_null(v))
            return CK_OK;
        const cJSON *t = cJSON_IsArray(v) && cJSON_GetArraySize(v) == 1 ? v->child : v;
        return read_threshold(cls, key, t, spec) == CK_OK ? CK_OK : refuse(cls, key, v);
    }
    if ((strcmp(key, "top_k") == 0 || strcmp(key, "class_id") == 0) && is_null(v))
        return CK_OK;
    return refuse(cls, key, v);
}

/* Keras reads curve and summation_method in either case it names them. */
static bool is_word(const cJSON *v, const char *lower, const char *other)
{
    return cJSON_IsString(v) &&
           (strcmp(v->valuestring, lower) == 0 || strcmp(v->valuestring, other) == 0);
}

static ck_status auc_enum_option(const char *cls, const char *key, const cJSON *v,
                                 ck_metric_spec *spec)
{
    ck_metric_params *p = &spec->params;
    if (strcmp(key, "curve") == 0 && (is_word(v, "roc", "ROC") || is_word(v, "pr", "PR"))) {
        p->curve = is_word(v, "pr", "PR") ? CK_AUC_PR : CK_AUC_ROC;
        return CK_OK;
    }
    if (strcmp(key, "summation_method") == 0) {
        if (is_word(v, "interpolation", "Interpolation"))
            p->summation = CK_AUC_INTERPOLATION;
        else if (is_word(v, "minoring", "Minoring"))
            p->summation = CK_AUC_MINORING;
        else if (is_word(v, "majoring", "Majoring"))
            p->summation = CK_AUC_MAJORING;
        else
            return refuse(cls, key, v);
        return CK_OK;
    }
    return refuse(cls, key, v);
}

static ck_status auc_option(const char *cls, const char *key, const cJSON *v, ck_metric_spec *spec)
{
    if (strcmp(key, "num_thresholds") == 0) {
        /* A bound that keeps the state of a few doubles per threshold small. */
        if (!cJSON_IsNumber(v) || !(v->valuedouble > 1 && v->valuedouble <= 1e6) ||
            v->valuedouble != floor(v->valuedouble))
            return refuse(cls, key, v);
        spec->params.num_thresholds = (int)v->valuedouble;
        return CK_OK;
    }
    if (strcmp(key, "multi_label") == 0 || strcmp(key, "from_logits") == 0)
        return cJSON_IsFalse(v) ? CK_OK : refuse(cls, key, v);
    if (strcmp(key, "num_labels") == 0 || strcmp(key, "label_weights") == 0 ||
        strcmp(key, "thresholds") == 0)
        return is_null(v) ? CK_OK : refuse(cls, key, v);
    return auc_enum_option(cls, key, v, spec);
}

/* F1Score, and FBetaScore with beta 1. */
static ck_status f_score_option(const char *cls, const char *key, const cJSON *v,
                                ck_metric_spec *spec)
{
    if (strcmp(key, "threshold") == 0)
        return is_null(v) ? CK_OK : read_threshold(cls, key, v, spec);
    if (strcmp(key, "beta") == 0)
        return is_number(v, 1) ? CK_OK : refuse(cls, key, v);
    if (strcmp(key, "average") != 0 || !cJSON_IsString(v))
        return refuse(cls, key, v);
    if (strcmp(v->valuestring, "macro") == 0)
        spec->kind = CK_METRIC_F1_MACRO;
    else if (strcmp(v->valuestring, "micro") == 0)
        spec->kind = CK_METRIC_F1_MICRO;
    else if (strcmp(v->valuestring, "weighted") == 0)
        spec->kind = CK_METRIC_F1_WEIGHTED;
    else
        return refuse(cls, key, v);
    return CK_OK;
}

static const metric_class classes[] = {
    {"BinaryAccuracy", "binary_accuracy", CK_METRIC_BINARY_ACCURACY, binary_accuracy_option},
    {"CategoricalAccuracy", "categorical_accuracy", CK_METRIC_CATEGORICAL_ACCURACY, no_option},
    {"SparseCategoricalAccuracy", "sparse_categorical_accuracy",
     CK_METRIC_SPARSE_CATEGORICAL_ACCURACY, no_option},
    {"MeanSquaredError", "mean_squared_error", CK_METRIC_MSE, no_option},
    {"MeanAbsoluteError", "mean_absolute_error", CK_METRIC_MAE, no_option},
    {"TopKCategoricalAccuracy", "top_k_categorical_accuracy", CK_METRIC_TOP_K, top_k_option},
    {"SparseTopKCategoricalAccuracy", "sparse_top_k_categorical_accuracy", CK_METRIC_SPARSE_TOP_K,
     top_k_option},
    {"Precision", "precision", CK_METRIC_PRECISION, confusion_option},
    {"Recall", "recall", CK_METRIC_RECALL, confusion_option},
    {"AUC", "auc", CK_METRIC_AUC, auc_option},
    /* average None, the default, is refused unless the config says another. */
    {"F1Score", "f1_score", CK_METRIC_F1_MACRO, f_score_option},
    {"FBetaScore", "fbeta_score", CK_METRIC_F1_MACRO, f_score_option},
};

static const metric_class *find_class(const char *name)
{
    /* tf.keras 2 writes a registered custom class as "Custom>Name". */
    if (strncmp(name, "Custom>", 7) == 0)
        name += 7;
    for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++)
        if (strcmp(name, classes[i].class_name) == 0)
            return &classes[i];
    return NULL;
}

/* F1Score's default average, None, gives one value per class, which a log
 * of one number per metric cannot hold. */
static ck_status check_average(const metric_class *c, const cJSON *cfg)
{
    if (c->option != f_score_option || !is_null(cJSON_GetObjectItemCaseSensitive(cfg, "average")))
        return CK_OK;
    return ck_error(CK_ERR_UNSUPPORTED,
                    "metric %s: average null (one value per class) is not supported",
                    c->class_name);
}

static ck_status read_object(const cJSON *item, ck_metric_spec *spec)
{
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(item, "class_name");
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(item, "config");
    if (!cJSON_IsString(cls) || (cfg && !cJSON_IsObject(cfg) && !cJSON_IsString(cfg)))
        return ck_error(CK_ERR_FORMAT, "training_config: a metric object has no class_name");
    /* Keras 3 writes a metric function as {"class_name": "function",
     * "config": "mean_squared_error"}: a name like a plain string. */
    if (strcmp(cls->valuestring, "function") == 0 && cJSON_IsString(cfg)) {
        spec->name = cfg->valuestring;
        return CK_OK;
    }
    /* A class of the user's own module is not Keras's, whatever its name. */
    const cJSON *module = cJSON_GetObjectItemCaseSensitive(item, "module");
    if (cJSON_IsString(module) && strcmp(module->valuestring, "keras") != 0 &&
        strncmp(module->valuestring, "keras.", 6) != 0)
        return ck_error(CK_ERR_UNSUPPORTED, "metric class %s of module %s is not supported",
                        cls->valuestring, module->valuestring);
    const metric_class *c = find_class(cls->valuestring);
    if (!c)
        return ck_error(CK_ERR_UNSUPPORTED, "metric class %s is not supported", cls->valuestring);
    spec->params.from_object = true;
    spec->kind = c->kind;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(cfg, "name");
    spec->name = cJSON_IsString(name) ? name->valuestring : c->default_name;
    const cJSON *opt;
    cJSON_ArrayForEach(opt, cfg)
    {
        if (strcmp(opt->string, "name") != 0 && strcmp(opt->string, "dtype") != 0)
            CK_TRY(c->option(c->class_name, opt->string, opt, spec));
    }
    CK_TRY(check_average(c, cfg));
    if (strlen(spec->name) >= CK_NAME_MAX)
        return ck_error(CK_ERR_UNSUPPORTED, "metric %s: name longer than %d characters",
                        c->class_name, CK_NAME_MAX - 1);
    spec->compile_name = kind_name(spec->kind);
    return CK_OK;
}

ck_status ck_metric_spec_from_json(const cJSON *item, ck_metric_spec *spec)
{
    *spec = (ck_metric_spec){0};
    if (cJSON_IsString(item))
        spec->name = item->valuestring;
    else if (cJSON_IsObject(item))
        CK_TRY(read_object(item, spec));
    else
        return ck_error(CK_ERR_FORMAT, "training_config: a metric has no name");
    if (!spec->compile_name)
        spec->compile_name = spec->name;
    return CK_OK;
}

/* ------------------------------------------------------------ writing */

static const char *class_of(ck_metric_kind kind)
{
    if (kind == CK_METRIC_F1_MICRO || kind == CK_METRIC_F1_WEIGHTED)
        return "F1Score";
    for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++)
        if (classes[i].kind == kind)
            return classes[i].class_name;
    return NULL;
}

static bool add_threshold(cJSON *cfg, const char *key, const ck_metric_params *p, bool null_default)
{
    if (p->has_threshold)
        return cJSON_AddNumberToObject(cfg, key, p->threshold);
    return null_default ? cJSON_AddNullToObject(cfg, key) != NULL
                        : cJSON_AddNumberToObject(cfg, key, 0.5) != NULL;
}

static bool add_auc_options(cJSON *cfg, const ck_metric_params *p)
{
    static const char *const summation[] = {"interpolation", "minoring", "majoring"};
    return cJSON_AddNumberToObject(cfg, "num_thresholds",
                                   p->num_thresholds ? p->num_thresholds : 200) &&
           cJSON_AddStringToObject(cfg, "curve", p->curve == CK_AUC_PR ? "PR" : "ROC") &&
           cJSON_AddStringToObject(cfg, "summation_method", summation[p->summation]);
}

/* The options ckeras honours, with their values; the others keep Keras's defaults. */
static bool add_options(cJSON *cfg, ck_metric_kind kind, const ck_metric_params *p)
{
    switch (kind) {
    case CK_METRIC_BINARY_ACCURACY:
        return add_threshold(cfg, "threshold", p, false);
    case CK_METRIC_TOP_K:
    case CK_METRIC_SPARSE_TOP_K:
        return cJSON_AddNumberToObject(cfg, "k", p->k ? p->k : 5);
    case CK_METRIC_PRECISION:
    case CK_METRIC_RECALL:
        return add_threshold(cfg, "thresholds", p, true);
    case CK_METRIC_AUC:
        return add_auc_options(cfg, p);
    case CK_METRIC_F1_MACRO:
    case CK_METRIC_F1_MICRO:
    case CK_METRIC_F1_WEIGHTED:
        return cJSON_AddStringToObject(cfg, "average",
                                       kind == CK_METRIC_F1_MACRO   ? "macro"
                                       : kind == CK_METRIC_F1_MICRO ? "micro"
                                                                    : "weighted") &&
               add_threshold(cfg, "threshold", p, true);
    default:
        return true;
    }
}

cJSON *ck_metric_object_to_json(ck_metric_kind kind, const ck_metric_params *p, const char *name,
                                bool keras3)
{
    cJSON *obj = cJSON_CreateObject();
    bool ok = obj && (!keras3 || cJSON_AddStringToObject(obj, "module", "keras.metrics")) &&
              cJSON_AddStringToObject(obj, "class_name", class_of(kind));
    cJSON *cfg = ok ? cJSON_AddObjectToObject(obj, "config") : NULL;
    ok = cfg && cJSON_AddStringToObject(cfg, "name", name) && add_options(cfg, kind, p) &&
         (!keras3 || cJSON_AddNullToObject(obj, "registered_name"));
    if (!ok) {
        cJSON_Delete(obj);
        return NULL;
    }
    return obj;
}
