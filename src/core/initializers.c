#include "ck_blas.h"
#include "ck_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    K_ZEROS,
    K_ONES,
    K_CONSTANT,
    K_RANDOM_NORMAL,
    K_RANDOM_UNIFORM,
    K_TRUNCATED_NORMAL,
    K_VARIANCE,
    K_ORTHOGONAL,
    K_IDENTITY
} init_kind;

/* The VarianceScaling presets carry Keras's (scale, mode, distribution). */
static const struct init_entry {
    const char *name, *class_name;
    init_kind kind;
    double scale;
    const char *mode, *distribution;
} inits[] = {
    {"zeros", "Zeros", K_ZEROS, 0, NULL, NULL},
    {"ones", "Ones", K_ONES, 0, NULL, NULL},
    {"constant", "Constant", K_CONSTANT, 0, NULL, NULL},
    {"random_normal", "RandomNormal", K_RANDOM_NORMAL, 0, NULL, NULL},
    {"random_uniform", "RandomUniform", K_RANDOM_UNIFORM, 0, NULL, NULL},
    {"truncated_normal", "TruncatedNormal", K_TRUNCATED_NORMAL, 0, NULL, NULL},
    {"glorot_uniform", "GlorotUniform", K_VARIANCE, 1, "fan_avg", "uniform"},
    {"glorot_normal", "GlorotNormal", K_VARIANCE, 1, "fan_avg", "truncated_normal"},
    {"he_normal", "HeNormal", K_VARIANCE, 2, "fan_in", "truncated_normal"},
    {"he_uniform", "HeUniform", K_VARIANCE, 2, "fan_in", "uniform"},
    {"lecun_normal", "LecunNormal", K_VARIANCE, 1, "fan_in", "truncated_normal"},
    {"lecun_uniform", "LecunUniform", K_VARIANCE, 1, "fan_in", "uniform"},
    {"variance_scaling", "VarianceScaling", K_VARIANCE, 0, NULL, NULL},
    {"orthogonal", "Orthogonal", K_ORTHOGONAL, 0, NULL, NULL},
    {"identity", "Identity", K_IDENTITY, 0, NULL, NULL},
};
#define N_INITS (sizeof inits / sizeof inits[0])

static const char *const modes[] = {"fan_in", "fan_out", "fan_avg"};
/* "normal" is the Keras 2.0 spelling of truncated_normal. */
static const char *const distributions[] = {"truncated_normal", "untruncated_normal", "uniform",
                                            "normal"};

/* Other spellings Keras loaders accept: Keras 2's compatibility aliases,
 * the Keras 3.0-3.6 class names (which Keras 3.7+ keeps as aliases) and
 * their snake_case forms. */
static const struct {
    const char *alias, *name;
} init_aliases[] = {
    {"normal", "random_normal"},
    {"uniform", "random_uniform"},
    {"zero", "zeros"},
    {"one", "ones"},
    {"OrthogonalInitializer", "orthogonal"},
    {"orthogonal_initializer", "orthogonal"},
    {"IdentityInitializer", "identity"},
    {"identity_initializer", "identity"},
};

static const struct init_entry *find_exact(const char *name)
{
    for (size_t i = 0; i < N_INITS; i++)
        if (strcmp(name, inits[i].name) == 0 || strcmp(name, inits[i].class_name) == 0)
            return &inits[i];
    for (size_t i = 0; i < sizeof init_aliases / sizeof init_aliases[0]; i++)
        if (strcmp(name, init_aliases[i].alias) == 0)
            return find_exact(init_aliases[i].name);
    return NULL;
}

/* tf.keras 2.x also registers every initializer under its name plus "V2"
 * (GlorotUniformV2, glorot_uniformV2, ZerosV2, ...). */
static const struct init_entry *find_init(const char *name)
{
    const struct init_entry *e = find_exact(name);
    size_t n = strlen(name);
    if (e || n < 3 || n >= CK_NAME_MAX || strcmp(name + n - 2, "V2") != 0)
        return e;
    char base[CK_NAME_MAX];
    memcpy(base, name, n - 2);
    base[n - 2] = '\0';
    return find_exact(base);
}

static const char *find_word(const char *s, const char *const *words, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, words[i]) == 0)
            return words[i];
    return NULL;
}

ck_status ck_init_check(const ck_init *init)
{
    if (!init->name)
        return CK_OK;
    const struct init_entry *e = find_init(init->name);
    if (!e) {
        char list[512] = "";
        for (size_t i = 0; i < N_INITS; i++) {
            strncat(list, inits[i].name, sizeof list - strlen(list) - 1);
            if (i + 1 < N_INITS)
                strncat(list, ", ", sizeof list - strlen(list) - 1);
        }
        return ck_error(CK_ERR_NAME, "unknown initializer '%s' (valid: %s)", init->name, list);
    }
    if (init->mode && !find_word(init->mode, modes, 3))
        return ck_error(CK_ERR_NAME,
                        "unknown variance_scaling mode '%s' (valid: fan_in, fan_out, fan_avg)",
                        init->mode);
    if (init->distribution && !find_word(init->distribution, distributions, 4))
        return ck_error(CK_ERR_NAME,
                        "unknown variance_scaling distribution '%s' (valid: truncated_normal, "
                        "untruncated_normal, uniform)",
                        init->distribution);
    if (init->stddev < 0 || init->scale < 0)
        return ck_error(CK_ERR_ARGUMENT, "initializer '%s': stddev and scale must be >= 0",
                        init->name);
    if (!isfinite(init->value) || !isfinite(init->mean) || !isfinite(init->gain))
        return ck_error(CK_ERR_NUMERIC, "initializer '%s': options must be finite", init->name);
    return CK_OK;
}

/* keras.src.initializers.random_initializers.compute_fans */
static void compute_fans(int rank, const int64_t *dims, double *fan_in, double *fan_out)
{
    if (rank == 0) {
        *fan_in = *fan_out = 1;
    } else if (rank == 1) {
        *fan_in = *fan_out = (double)dims[0];
    } else {
        double receptive = 1;
        for (int i = 0; i < rank - 2; i++)
            receptive *= (double)dims[i];
        *fan_in = (double)dims[rank - 2] * receptive;
        *fan_out = (double)dims[rank - 1] * receptive;
    }
}

/* Keras truncates at two standard deviations by redrawing. */
static double truncated(ck_rng *rng)
{
    double v;
    do {
        v = ck_rng_normal(rng);
    } while (fabs(v) > 2.0);
    return v;
}

static void fill_variance(const ck_init *init, const struct init_entry *e, float *w, size_t n,
                          int rank, const int64_t *dims, ck_rng *rng)
{
    double fan_in, fan_out, scale = e->scale ? e->scale : (init->scale ? init->scale : 1.0);
    const char *mode = e->mode ? e->mode : (init->mode ? init->mode : "fan_in");
    const char *dist = e->distribution
                           ? e->distribution
                           : (init->distribution ? init->distribution : "truncated_normal");
    compute_fans(rank, dims, &fan_in, &fan_out);
    double fan = strcmp(mode, "fan_in") == 0    ? fan_in
                 : strcmp(mode, "fan_out") == 0 ? fan_out
                                                : (fan_in + fan_out) / 2.0;
    scale /= fan > 1.0 ? fan : 1.0;
    if (strcmp(dist, "uniform") == 0) {
        double limit = sqrt(3.0 * scale);
        for (size_t i = 0; i < n; i++)
            w[i] = (float)((2.0 * ck_rng_uniform(rng) - 1.0) * limit);
    } else if (strcmp(dist, "untruncated_normal") == 0) {
        double sd = sqrt(scale);
        for (size_t i = 0; i < n; i++)
            w[i] = (float)(ck_rng_normal(rng) * sd);
    } else {
        /* 0.879... is the stddev of a unit normal truncated at +-2. */
        double sd = sqrt(scale) / 0.87962566103423978;
        for (size_t i = 0; i < n; i++)
            w[i] = (float)(truncated(rng) * sd);
    }
}

/* LAPACK from OpenBLAS (Fortran ABI, column-major). */
extern void dgeqrf_(const int *m, const int *n, double *a, const int *lda, double *tau,
                    double *work, const int *lwork, int *info);
extern void dorgqr_(const int *m, const int *n, const int *k, double *a, const int *lda,
                    const double *tau, double *work, const int *lwork, int *info);

/* keras Orthogonal: QR of a normal (max, min) matrix, columns sign-fixed by
 * diag(R), transposed when rows < cols, times gain. */
static ck_status fill_orthogonal(const ck_init *init, float *w, int rank, const int64_t *dims,
                                 ck_rng *rng)
{
    if (rank < 2)
        return ck_error(CK_ERR_SHAPE, "orthogonal initializer needs a weight of rank >= 2");
    int64_t rows = 1, cols = dims[rank - 1];
    for (int i = 0; i < rank - 1; i++)
        rows *= dims[i];
    if (rows > 1 << 15 || cols > 1 << 15)
        return ck_error(CK_ERR_UNSUPPORTED, "orthogonal initializer: shape too large");
    int m = (int)(rows > cols ? rows : cols), n = (int)(rows > cols ? cols : rows);
    double *a = ck_alloc((size_t)m * (size_t)n + (size_t)n, sizeof(double));
    if (!a)
        return CK_ERR_MEMORY;
    double *tau = a + (size_t)m * (size_t)n;
    /* Draw row-major like numpy, store column-major for LAPACK. */
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
            a[i + (size_t)j * (size_t)m] = ck_rng_normal(rng);
    int info = 0, lwork = -1;
    double query;
    ck_blas_start();
    dgeqrf_(&m, &n, a, &m, tau, &query, &lwork, &info);
    lwork = (int)query > n ? (int)query : n;
    double *work = ck_alloc((size_t)lwork + (size_t)n, sizeof(double));
    if (!work) {
        free(a);
        return CK_ERR_MEMORY;
    }
    double *sign = work + lwork;
    dgeqrf_(&m, &n, a, &m, tau, work, &lwork, &info);
    for (int j = 0; j < n && info == 0; j++)
        sign[j] = a[j + (size_t)j * (size_t)m] < 0 ? -1.0 : 1.0;
    if (info == 0)
        dorgqr_(&m, &n, &n, a, &m, tau, work, &lwork, &info);
    if (info == 0) {
        double gain = init->gain ? init->gain : 1.0;
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < cols; j++) {
                /* q is m x n; the result is q (rows >= cols) or q^T. */
                int64_t qi = rows >= cols ? i : j, qj = rows >= cols ? j : i;
                w[i * cols + j] = (float)(gain * sign[qj] * a[qi + qj * (int64_t)m]);
            }
    }
    free(work);
    free(a);
    if (info != 0)
        return ck_error(CK_ERR_NUMERIC, "orthogonal initializer: QR failed (info %d)", info);
    return CK_OK;
}

ck_status ck_init_fill(const ck_init *init, float *w, int rank, const int64_t *dims, ck_rng *rng)
{
    CK_TRY(ck_init_check(init));
    const struct init_entry *e = find_init(init->name ? init->name : "zeros");
    size_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= (size_t)dims[i];
    switch (e->kind) {
    case K_ZEROS:
    case K_ONES:
    case K_CONSTANT: {
        float v = e->kind == K_ZEROS ? 0.0f : e->kind == K_ONES ? 1.0f : (float)init->value;
        for (size_t i = 0; i < n; i++)
            w[i] = v;
        return CK_OK;
    }
    case K_RANDOM_NORMAL:
    case K_TRUNCATED_NORMAL: {
        double sd = init->stddev ? init->stddev : 0.05;
        for (size_t i = 0; i < n; i++) {
            double z = e->kind == K_TRUNCATED_NORMAL ? truncated(rng) : ck_rng_normal(rng);
            w[i] = (float)(init->mean + sd * z);
        }
        return CK_OK;
    }
    case K_RANDOM_UNIFORM: {
        double lo = init->minval, hi = init->maxval;
        if (lo == 0 && hi == 0) {
            lo = -0.05;
            hi = 0.05;
        }
        for (size_t i = 0; i < n; i++)
            w[i] = (float)(lo + (hi - lo) * ck_rng_uniform(rng));
        return CK_OK;
    }
    case K_VARIANCE:
        fill_variance(init, e, w, n, rank, dims, rng);
        return CK_OK;
    case K_ORTHOGONAL:
        return fill_orthogonal(init, w, rank, dims, rng);
    case K_IDENTITY: {
        if (rank != 2)
            return ck_error(CK_ERR_SHAPE, "identity initializer needs a 2-D weight");
        double gain = init->gain ? init->gain : 1.0;
        for (int64_t i = 0; i < dims[0]; i++)
            for (int64_t j = 0; j < dims[1]; j++)
                w[i * dims[1] + j] = i == j ? (float)gain : 0.0f;
        return CK_OK;
    }
    }
    return CK_OK;
}

/* j, or NULL (freeing j) when one of its cJSON_Add* calls ran out of memory,
 * so a half-written initializer never reaches a saved file. */
static cJSON *complete_or_null(cJSON *j, bool ok)
{
    if (ok)
        return j;
    cJSON_Delete(j);
    return NULL;
}

cJSON *ck_init_to_json(const ck_init *init)
{
    const struct init_entry *e = find_init(init->name ? init->name : "zeros");
    cJSON *j = cJSON_CreateObject();
    cJSON *cfg = cJSON_AddObjectToObject(j, "config");
    bool ok = cfg && cJSON_AddStringToObject(j, "class_name", e ? e->class_name : "Zeros");
    if (!e || !ok)
        return complete_or_null(j, ok);
    switch (e->kind) {
    case K_CONSTANT:
        ok = ok && cJSON_AddNumberToObject(cfg, "value", init->value);
        break;
    case K_RANDOM_NORMAL:
    case K_TRUNCATED_NORMAL:
        ok = ok && cJSON_AddNumberToObject(cfg, "mean", init->mean);
        ok = ok && cJSON_AddNumberToObject(cfg, "stddev", init->stddev ? init->stddev : 0.05);
        ok = ok && cJSON_AddNullToObject(cfg, "seed");
        break;
    case K_RANDOM_UNIFORM: {
        bool dflt = init->minval == 0 && init->maxval == 0;
        ok = ok && cJSON_AddNumberToObject(cfg, "minval", dflt ? -0.05 : init->minval);
        ok = ok && cJSON_AddNumberToObject(cfg, "maxval", dflt ? 0.05 : init->maxval);
        ok = ok && cJSON_AddNullToObject(cfg, "seed");
        break;
    }
    case K_VARIANCE:
        if (!e->mode) {
            ok = ok && cJSON_AddNumberToObject(cfg, "scale", init->scale ? init->scale : 1.0);
            ok = ok && cJSON_AddStringToObject(cfg, "mode", init->mode ? init->mode : "fan_in");
            ok = ok && cJSON_AddStringToObject(cfg, "distribution",
                                               init->distribution ? init->distribution
                                                                  : "truncated_normal");
        }
        ok = ok && cJSON_AddNullToObject(cfg, "seed");
        break;
    case K_ORTHOGONAL:
        ok = ok && cJSON_AddNumberToObject(cfg, "gain", init->gain ? init->gain : 1.0);
        ok = ok && cJSON_AddNullToObject(cfg, "seed");
        break;
    case K_IDENTITY:
        ok = ok && cJSON_AddNumberToObject(cfg, "gain", init->gain ? init->gain : 1.0);
        break;
    default:
        break;
    }
    return complete_or_null(j, ok);
}

static double num_or(const cJSON *cfg, const char *key, double dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static const char *word_or_null(const cJSON *cfg, const char *key, const char *const *words,
                                size_t n, bool *bad)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!v || cJSON_IsNull(v))
        return NULL;
    const char *w = cJSON_IsString(v) ? find_word(v->valuestring, words, n) : NULL;
    if (!w)
        *bad = true;
    return w;
}

ck_status ck_init_from_json(const cJSON *json, ck_init *out)
{
    const char *name;
    const cJSON *cfg;
    CK_TRY(ck_json_class(json, "initializer", &name, &cfg));
    const struct init_entry *e = find_init(name);
    if (!e)
        return ck_init_check(&(ck_init){.name = name});
    ck_init r = {.name = e->name};
    if (cJSON_IsObject(cfg)) {
        bool bad = false;
        r.value = num_or(cfg, "value", 0);
        r.mean = num_or(cfg, "mean", 0);
        r.stddev = num_or(cfg, "stddev", 0);
        r.minval = num_or(cfg, "minval", 0);
        r.maxval = num_or(cfg, "maxval", 0);
        r.gain = num_or(cfg, "gain", 0);
        r.scale = num_or(cfg, "scale", 0);
        r.mode = word_or_null(cfg, "mode", modes, 3, &bad);
        r.distribution = word_or_null(cfg, "distribution", distributions, 4, &bad);
        if (bad)
            return ck_error(CK_ERR_FORMAT, "initializer %s: bad mode or distribution", name);
    }
    CK_TRY(ck_init_check(&r));
    *out = r;
    return CK_OK;
}
