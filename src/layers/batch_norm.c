/* keras.layers.BatchNormalization over the last axis. Training normalizes
 * each channel by the (biased) mean and variance of the batch (all other
 * axes) and moves the non-trainable moving_mean/moving_variance towards
 * them; inference uses the moving statistics. Batch renormalization and
 * ghost batches (tf.keras virtual_batch_size) change training only: such
 * a layer loads, keeps its extra variables and shapes for saving, predicts,
 * and refuses to train. */
#include "layer_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct batch_norm {
    ck_layer base;
    ck_norm_common n;
    double momentum;
    ck_init mean_init, var_init;
    bool batch_stats;  /* the last forward used batch statistics */
    bool synchronized; /* Keras: batch statistics over all replicas */
    bool renorm;       /* adds moving_stddev, renorm_mean, renorm_stddev */
    cJSON *renorm_clipping;
    double renorm_momentum;
    int virtual_batch_size; /* 0: None; else every weight is (1, 1, ..., C) */
    ck_buf mean, inv;       /* per channel, from the last forward */
    double *sums;           /* per-channel accumulators */
    size_t sums_cap;
} batch_norm;

extern const ck_layer_ops ck_batch_normalization_layer_ops;

ck_layer *ck_batch_normalization_new(const ck_batch_normalization_options *o)
{
    ck_norm_common n;
    if (!o) {
        ck_error(CK_ERR_ARGUMENT, "BatchNormalization: options are NULL");
        return NULL;
    }
    if (!(o->momentum >= 0 && o->momentum <= 1)) {
        ck_error(CK_ERR_ARGUMENT, "BatchNormalization: momentum must be in [0, 1]");
        return NULL;
    }
    if (ck_norm_setup(&n, "BatchNormalization", o->axis, o->epsilon, o->no_center, o->no_scale,
                      &o->beta_initializer, &o->gamma_initializer) != CK_OK ||
        ck_init_check(&o->moving_mean_initializer) != CK_OK ||
        ck_init_check(&o->moving_variance_initializer) != CK_OK)
        return NULL;
    batch_norm *bn = ck_layer_alloc(sizeof *bn, &ck_batch_normalization_layer_ops, o->name);
    if (!bn)
        return NULL;
    bn->n = n;
    bn->momentum = o->momentum > 0 ? o->momentum : 0.99;
    bn->mean_init = ck_init_or(o->moving_mean_initializer, "zeros");
    bn->var_init = ck_init_or(o->moving_variance_initializer, "ones");
    return &bn->base;
}

/* tf.keras shifts the axis past the ghost-batch axis it adds, and saves
 * it so once built: [2] for a (None, 4) input. */
static int unshifted_axis(const batch_norm *bn, int rank)
{
    return bn->virtual_batch_size && bn->n.axis == rank ? rank - 1 : bn->n.axis;
}

static ck_status bn_output_shape(const ck_layer *l, const ck_shape *in, ck_shape *out)
{
    CK_TRY(ck_shape_same(l, in, out, 2, CK_MAX_RANK));
    return ck_check_last_axis("BatchNormalization", unshifted_axis((const batch_norm *)l, in->rank),
                              in);
}

/* Keras starts a standard deviation at the square root of the variance
 * initializer; only training reads these, and loaded files replace them. */
static ck_init stddev_init(const ck_init *var)
{
    if (var->name && strcmp(var->name, "constant") == 0 && var->value >= 0)
        return (ck_init)CK_INIT("constant", .value = sqrt(var->value));
    if (var->name && strcmp(var->name, "zeros") == 0)
        return *var;
    return (ck_init)CK_INIT("ones");
}

static ck_status add_renorm_weights(ck_layer *l, const int64_t *dims)
{
    batch_norm *bn = (batch_norm *)l;
    ck_init stddev = stddev_init(&bn->var_init);
    if (!ck_layer_add_weight(l, "moving_stddev", 1, dims, &stddev, false) ||
        !ck_layer_add_weight(l, "renorm_mean", 1, dims, &bn->mean_init, false) ||
        !ck_layer_add_weight(l, "renorm_stddev", 1, dims, &stddev, false))
        return ck_error_status();
    return CK_OK;
}

/* tf.keras gives ghost-batch parameters the input's rank plus one, every
 * axis 1 but the channels: (C,) becomes (1, 1, C) after (None, C). */
static ck_status ghost_batch_shapes(ck_layer *l)
{
    int rank = l->in_shape.rank + 1;
    if (rank > 4)
        return ck_error(CK_ERR_UNSUPPORTED,
                        "BatchNormalization '%s': virtual_batch_size on inputs of rank %d (at "
                        "most 3 is supported)",
                        l->name, l->in_shape.rank);
    for (int k = 0; k < l->n_weights; k++) {
        ck_weight *w = &l->weights[k];
        int64_t c = w->dims[0];
        w->rank = rank;
        for (int i = 0; i < rank; i++)
            w->dims[i] = i + 1 < rank ? 1 : c;
    }
    return CK_OK;
}

static ck_status bn_build(ck_layer *l)
{
    batch_norm *bn = (batch_norm *)l;
    int64_t dims[1] = {l->in_shape.dims[l->in_shape.rank - 1]};
    /* Written back unshifted, the form tf.keras can load again. */
    bn->n.axis = unshifted_axis(bn, l->in_shape.rank);
    CK_TRY(ck_norm_build(l, &bn->n));
    if (!ck_layer_add_weight(l, "moving_mean", 1, dims, &bn->mean_init, false) ||
        !ck_layer_add_weight(l, "moving_variance", 1, dims, &bn->var_init, false))
        return ck_error_status();
    if (bn->renorm)
        CK_TRY(add_renorm_weights(l, dims));
    return bn->virtual_batch_size ? ghost_batch_shapes(l) : CK_OK;
}

/* moving_mean and moving_variance follow gamma and beta. */
static ck_weight *moving(ck_layer *l, int which)
{
    batch_norm *bn = (batch_norm *)l;
    return &l->weights[bn->n.scale + bn->n.center + which];
}

/* Two per-channel double accumulators (2*C values, zeroed). */
static ck_status reserve_sums(batch_norm *bn, size_t C)
{
    if (bn->sums_cap < 2 * C) {
        double *p = ck_realloc_array(bn->sums, 2 * C, sizeof *p);
        if (!p)
            return CK_ERR_MEMORY;
        bn->sums = p;
        bn->sums_cap = 2 * C;
    }
    memset(bn->sums, 0, 2 * C * sizeof *bn->sums);
    return CK_OK;
}

/* Batch mean and biased variance of every channel in one row-major pass;
 * sums are taken around the first row, which keeps E[d^2] - E[d]^2 exact
 * enough when the mean is large against the spread. Updates the moving
 * statistics as Keras does. */
static ck_status batch_moments(ck_layer *l, const ck_tensor *x, size_t C)
{
    batch_norm *bn = (batch_norm *)l;
    size_t rows = ck_tensor_size(x) / C;
    CK_TRY(reserve_sums(bn, C));
    double *sum = bn->sums, *sq = bn->sums + C;
    const float *x0 = x->data;
    for (size_t r = 0; r < rows; r++) {
        const float *row = x->data + r * C;
        for (size_t c = 0; c < C; c++) {
            double d = (double)row[c] - x0[c];
            sum[c] += d;
            sq[c] += d * d;
        }
    }
    float *mm = moving(l, 0)->data, *mv = moving(l, 1)->data;
    for (size_t c = 0; c < C; c++) {
        double m = sum[c] / (double)rows, var = sq[c] / (double)rows - m * m;
        double mean = x0[c] + m;
        var = var > 0 ? var : 0;
        mm[c] = (float)(mm[c] * bn->momentum + mean * (1.0 - bn->momentum));
        mv[c] = (float)(mv[c] * bn->momentum + var * (1.0 - bn->momentum));
        bn->mean.data[c] = (float)mean;
        bn->inv.data[c] = (float)(1.0 / sqrt(var + bn->n.epsilon));
    }
    return CK_OK;
}

static ck_status bn_forward(ck_layer *l, const ck_tensor *x, ck_tensor *y, const ck_run_ctx *ctx)
{
    batch_norm *bn = (batch_norm *)l;
    size_t C = (size_t)x->dims[x->rank - 1], rows = ck_tensor_size(x) / C;
    const float *gamma = ck_norm_gamma(l, &bn->n), *beta = ck_norm_beta(l, &bn->n);
    CK_TRY(ck_buf_reserve(&bn->mean, C));
    CK_TRY(ck_buf_reserve(&bn->inv, C));
    /* Keras runs a frozen BatchNormalization in inference mode. */
    bn->batch_stats = ctx->training && !l->frozen;
    if (bn->batch_stats && (bn->renorm || bn->virtual_batch_size))
        return ck_error(CK_ERR_UNSUPPORTED,
                        "BatchNormalization '%s': training with %s is not supported by ckeras "
                        "(predict is; freeze the layer to train the others)",
                        l->name, bn->renorm ? "renorm=True" : "virtual_batch_size");
    if (bn->batch_stats) {
        CK_TRY(batch_moments(l, x, C));
    } else {
        for (size_t c = 0; c < C; c++) {
            bn->mean.data[c] = moving(l, 0)->data[c];
            bn->inv.data[c] = (float)(1.0 / sqrt((double)moving(l, 1)->data[c] + bn->n.epsilon));
        }
    }
    const float *mean = bn->mean.data, *inv = bn->inv.data;
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x->data + r * C;
        float *yr = y->data + r * C;
        for (size_t c = 0; c < C; c++) {
            float v = (xr[c] - mean[c]) * inv[c];
            yr[c] = (gamma ? v * gamma[c] : v) + (beta ? beta[c] : 0.0f);
        }
    }
    return CK_OK;
}

/* With g = dy * gamma, sums over the rows of each channel:
 * dx = inv * (g - (sum g + xhat * sum g*xhat) / rows) with batch statistics,
 * dx = inv * g with the (constant) moving ones. */
static ck_status bn_backward(ck_layer *l, const ck_tensor *x, const ck_tensor *y,
                             const ck_tensor *dy, ck_tensor *dx)
{
    batch_norm *bn = (batch_norm *)l;
    (void)y;
    size_t C = (size_t)x->dims[x->rank - 1], rows = ck_tensor_size(x) / C;
    const float *gamma = ck_norm_gamma(l, &bn->n), *mean = bn->mean.data, *inv = bn->inv.data;
    CK_TRY(reserve_sums(bn, C));
    double *dy_sum = bn->sums, *dyx_sum = bn->sums + C;
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x->data + r * C, *gr = dy->data + r * C;
        for (size_t c = 0; c < C; c++) {
            dy_sum[c] += gr[c];
            dyx_sum[c] += (double)gr[c] * ((xr[c] - mean[c]) * inv[c]);
        }
    }
    for (size_t c = 0; c < C; c++)
        ck_norm_param_grads(l, &bn->n, (int64_t)c, dyx_sum[c], dy_sum[c]);
    double k = bn->batch_stats ? 1.0 / (double)rows : 0.0;
    for (size_t r = 0; dx && r < rows; r++) {
        const float *xr = x->data + r * C, *gr = dy->data + r * C;
        float *dr = dx->data + r * C;
        for (size_t c = 0; c < C; c++) {
            double xhat = (xr[c] - mean[c]) * inv[c];
            double gam = gamma ? gamma[c] : 1.0;
            dr[c] = (float)(inv[c] * gam * (gr[c] - k * (dy_sum[c] + xhat * dyx_sum[c])));
        }
    }
    return CK_OK;
}

static ck_status bn_get_config(const ck_layer *l, cJSON *cfg)
{
    const batch_norm *bn = (const batch_norm *)l;
    bool k3 = ck_layer_semantics(l) == CK_KERAS3;
    CK_TRY(ck_norm_get_config(l, &bn->n, false, cfg));
    CK_TRY(ck_config_add_number(cfg, "momentum", bn->momentum));
    CK_TRY(ck_config_add(cfg, "moving_mean_initializer", ck_init_to_json(&bn->mean_init)));
    CK_TRY(ck_config_add(cfg, "moving_variance_initializer", ck_init_to_json(&bn->var_init)));
    /* tf.keras before 2.12 does not accept synchronized; Keras 3 always
     * writes it. */
    if (k3 || bn->synchronized)
        CK_TRY(ck_config_add_bool(cfg, "synchronized", bn->synchronized));
    /* Written only when on, as tf.keras does: Keras before 3.14 has no renorm. */
    if (bn->renorm) {
        CK_TRY(ck_config_add_bool(cfg, "renorm", true));
        CK_TRY(ck_config_add(cfg, "renorm_clipping",
                             bn->renorm_clipping ? cJSON_Duplicate(bn->renorm_clipping, 1)
                                                 : cJSON_CreateObject()));
        CK_TRY(ck_config_add_number(cfg, "renorm_momentum", bn->renorm_momentum));
    }
    return bn->virtual_batch_size
               ? ck_config_add_number(cfg, "virtual_batch_size", bn->virtual_batch_size)
               : CK_OK;
}

/* The training-only options, kept to be written back. */
static ck_status read_training_options(batch_norm *bn, const cJSON *cfg)
{
    const cJSON *clipping = cJSON_GetObjectItemCaseSensitive(cfg, "renorm_clipping");
    bn->renorm = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cfg, "renorm"));
    bn->renorm_momentum = 0.99;
    CK_TRY(ck_config_get_double(cfg, "renorm_momentum", &bn->renorm_momentum));
    if (bn->renorm && cJSON_IsObject(clipping) &&
        !(bn->renorm_clipping = cJSON_Duplicate(clipping, 1)))
        return CK_ERR_MEMORY;
    const cJSON *ghost = cJSON_GetObjectItemCaseSensitive(cfg, "virtual_batch_size");
    if (cJSON_IsNull(ghost) || !ghost)
        return CK_OK;
    if (!cJSON_IsNumber(ghost) || ghost->valuedouble < 1 || ghost->valuedouble > 1e9 ||
        ghost->valuedouble != (int)ghost->valuedouble)
        return ck_error(CK_ERR_FORMAT,
                        "BatchNormalization: virtual_batch_size must be a positive integer");
    bn->virtual_batch_size = (int)ghost->valuedouble;
    return CK_OK;
}

static ck_layer *bn_from_config(const cJSON *cfg, ck_keras_semantics semantics)
{
    /* fused only picks a TensorFlow kernel; the result is the same. Keras
     * 3.14+ always writes the renorm settings. synchronized changes only
     * training over several replicas, which ckeras's data-parallel fit
     * refuses. */
    static const char *const known[] = {"axis",
                                        "momentum",
                                        "epsilon",
                                        "center",
                                        "scale",
                                        "beta_initializer",
                                        "gamma_initializer",
                                        "moving_mean_initializer",
                                        "moving_variance_initializer",
                                        "synchronized",
                                        "renorm",
                                        "renorm_clipping",
                                        "renorm_momentum",
                                        "fused",
                                        "virtual_batch_size",
                                        NULL};
    (void)semantics;
    ck_batch_normalization_options o = {0};
    if (ck_config_check_keys(cfg, "BatchNormalization", known) != CK_OK ||
        ck_norm_from_config(cfg, "BatchNormalization", &o.axis, &o.epsilon, &o.no_center,
                            &o.no_scale, &o.beta_initializer, &o.gamma_initializer) != CK_OK ||
        ck_config_get_double(cfg, "momentum", &o.momentum) != CK_OK ||
        ck_config_get_init(cfg, "moving_mean_initializer", &o.moving_mean_initializer) != CK_OK ||
        ck_config_get_init(cfg, "moving_variance_initializer", &o.moving_variance_initializer) !=
            CK_OK ||
        ck_config_get_string(cfg, "name", &o.name) != CK_OK)
        return NULL;
    batch_norm *bn = (batch_norm *)ck_batch_normalization_new(&o);
    if (bn) {
        /* momentum 0 in a config is a value (the C option reads 0 as 0.99). */
        if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(cfg, "momentum")))
            bn->momentum = o.momentum;
        bn->synchronized = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cfg, "synchronized"));
        ck_norm_config_epsilon(&bn->n, cfg);
        if (read_training_options(bn, cfg) != CK_OK) {
            ck_layer_free(&bn->base);
            return NULL;
        }
    }
    return bn ? &bn->base : NULL;
}

static void bn_destroy(ck_layer *l)
{
    batch_norm *bn = (batch_norm *)l;
    ck_buf_free(&bn->mean);
    ck_buf_free(&bn->inv);
    free(bn->sums);
    cJSON_Delete(bn->renorm_clipping);
    free(bn);
}

const ck_layer_ops ck_batch_normalization_layer_ops = {
    .class_name = "BatchNormalization",
    .base_name = "batch_normalization",
    .output_shape = bn_output_shape,
    .build = bn_build,
    .forward = bn_forward,
    .backward = bn_backward,
    .compute_mask = ck_mask_pass,
    .get_config = bn_get_config,
    .from_config = bn_from_config,
    .destroy = bn_destroy,
};
