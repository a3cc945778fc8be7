/* keras.layers.Embedding: a table lookup. The input holds integer ids stored
 * as float; the output appends an axis of output_dim. Backward scatter-adds
 * the output gradient into the rows that were looked up; ids are not
 * differentiable, so the input gradient is zero. With mask_zero, id 0 is
 * padding: the output mask is (id != 0), one value per id. */
#include "ck_internal.h"
#include "layer_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct embedding {
    ck_layer base;
    int input_dim, output_dim;
    bool mask_zero;
    ck_init init;
} embedding;

extern const ck_layer_ops ck_embedding_layer_ops;

static ck_status check_options(const ck_embedding_options *o)
{
    if (!o)
        return ck_error(CK_ERR_ARGUMENT, "Embedding: options are NULL");
    if (o->input_dim <= 0 || o->output_dim <= 0)
        return ck_error(CK_ERR_ARGUMENT,
                        "Embedding: input_dim and output_dim must be positive, got %d and %d",
                        o->input_dim, o->output_dim);
    return ck_init_check(&o->embeddings_initializer);
}

ck_layer *ck_embedding_new(const ck_embedding_options *o)
{
    if (check_options(o) != CK_OK)
        return NULL;
    embedding *e = ck_layer_alloc(sizeof *e, &ck_embedding_layer_ops, o->name);
    if (!e)
        return NULL;
    e->input_dim = o->input_dim;
    e->output_dim = o->output_dim;
    e->mask_zero = o->mask_zero;
    /* Keras "uniform": random_uniform whose 0/0 bounds mean -0.05/0.05 */
    e->init = ck_init_or(o->embeddings_initializer, "random_uniform");
    return &e->base;
}

static ck_status embedding_output_shape(const ck_layer *l, const ck_shape *in, ck_shape *out)
{
    const embedding *e = (const embedding *)l;
    if (in->rank < 1 || in->rank >= CK_MAX_RANK)
        return ck_error(CK_ERR_SHAPE,
                        "Embedding needs an input of rank 1 to %d (batch included), got %d",
                        CK_MAX_RANK - 1, in->rank);
    *out = *in;
    out->dims[in->rank] = e->output_dim;
    out->rank = in->rank + 1;
    return CK_OK;
}

static ck_status embedding_build(ck_layer *l)
{
    embedding *e = (embedding *)l;
    int64_t dims[2] = {e->input_dim, e->output_dim};
    if (!ck_layer_add_weight(l, "embeddings", 2, dims, &e->init, true))
        return ck_error_status();
    return CK_OK;
}

/* Validates every id of x, so a bad id never reads or writes outside the table. */
static ck_status check_ids(const embedding *e, const ck_tensor *x)
{
    size_t n = ck_tensor_size(x);
    for (size_t i = 0; i < n; i++) {
        float v = x->data[i];
        if (!(v >= 0 && v < (float)e->input_dim) || v != floorf(v))
            return ck_error(CK_ERR_ARGUMENT,
                            "Embedding %s: input #%zu is %g, not an integer id in [0, %d)",
                            e->base.name, i, (double)v, e->input_dim);
    }
    return CK_OK;
}

static ck_status embedding_forward(ck_layer *l, const ck_tensor *x, ck_tensor *y,
                                   const ck_run_ctx *ctx)
{
    (void)ctx;
    const embedding *e = (const embedding *)l;
    CK_TRY(check_ids(e, x));
    size_t n = ck_tensor_size(x), D = (size_t)e->output_dim;
    const float *table = l->weights[0].data;
    for (size_t i = 0; i < n; i++)
        memcpy(y->data + i * D, table + (size_t)x->data[i] * D, D * sizeof(float));
    return CK_OK;
}

static ck_status embedding_backward(ck_layer *l, const ck_tensor *x, const ck_tensor *y,
                                    const ck_tensor *dy, ck_tensor *dx)
{
    (void)y;
    /* x is the input of the last training forward, whose ids passed check_ids. */
    const embedding *e = (const embedding *)l;
    size_t n = ck_tensor_size(x), D = (size_t)e->output_dim;
    float *grad = l->weights[0].grad;
    for (size_t i = 0; i < n; i++) {
        float *row = grad + (size_t)x->data[i] * D;
        const float *g = dy->data + i * D;
        for (size_t k = 0; k < D; k++)
            row[k] += g[k];
    }
    if (dx)
        memset(dx->data, 0, n * sizeof(float));
    return CK_OK;
}

static ck_status embedding_compute_mask(ck_layer *l, const ck_tensor *x, const float *in_mask,
                                        ck_buf *buf, const float **out)
{
    (void)in_mask;
    *out = NULL;
    if (!((const embedding *)l)->mask_zero)
        return CK_OK;
    size_t n = ck_tensor_size(x);
    CK_TRY(ck_buf_reserve(buf, n));
    for (size_t i = 0; i < n; i++)
        buf->data[i] = x->data[i] != 0.0f ? 1.0f : 0.0f;
    *out = buf->data;
    return CK_OK;
}

static ck_status embedding_get_config(const ck_layer *l, cJSON *cfg)
{
    const embedding *e = (const embedding *)l;
    static const char *const nulls[] = {"embeddings_regularizer", "activity_regularizer",
                                        "embeddings_constraint", NULL};
    CK_TRY(ck_config_add_number(cfg, "input_dim", e->input_dim));
    CK_TRY(ck_config_add_number(cfg, "output_dim", e->output_dim));
    CK_TRY(ck_config_add(cfg, "embeddings_initializer", ck_init_to_json(&e->init)));
    CK_TRY(ck_config_add_nulls(cfg, nulls));
    return ck_config_add_bool(cfg, "mask_zero", e->mask_zero);
}

/* Keras options that are accepted only at their inactive value. */
static ck_status check_inactive_options(const cJSON *cfg)
{
    bool sparse = false;
    int lora = 0;
    CK_TRY(ck_config_get_bool(cfg, "sparse", &sparse));
    CK_TRY(ck_config_get_int(cfg, "lora_rank", &lora, false));
    if (sparse)
        return ck_error(CK_ERR_UNSUPPORTED,
                        "Embedding: option 'sparse' is not supported by ckeras");
    if (lora)
        return ck_error(CK_ERR_UNSUPPORTED,
                        "Embedding: option 'lora_rank' is not supported by ckeras");
    return CK_OK;
}

static ck_layer *embedding_from_config(const cJSON *cfg, ck_keras_semantics semantics)
{
    /* Regularizers and constraints are absent from the list, so a non-null
     * one is rejected rather than ignored. */
    static const char *const known[] = {"input_dim", "output_dim", "embeddings_initializer",
                                        "mask_zero", "sparse",     "lora_rank",
                                        NULL};
    (void)semantics;
    ck_embedding_options o = {0};
    if (ck_config_check_keys(cfg, "Embedding", known) != CK_OK ||
        ck_config_get_int(cfg, "input_dim", &o.input_dim, true) != CK_OK ||
        ck_config_get_int(cfg, "output_dim", &o.output_dim, true) != CK_OK ||
        ck_config_get_init(cfg, "embeddings_initializer", &o.embeddings_initializer) != CK_OK ||
        ck_config_get_bool(cfg, "mask_zero", &o.mask_zero) != CK_OK ||
        check_inactive_options(cfg) != CK_OK || ck_config_get_string(cfg, "name", &o.name) != CK_OK)
        return NULL;
    return ck_embedding_new(&o);
}

static void embedding_destroy(ck_layer *l)
{
    free(l);
}

const ck_layer_ops ck_embedding_layer_ops = {
    .class_name = "Embedding",
    .base_name = "embedding",
    .output_shape = embedding_output_shape,
    .build = embedding_build,
    .forward = embedding_forward,
    .backward = embedding_backward,
    .compute_mask = embedding_compute_mask,
    .get_config = embedding_get_config,
    .from_config = embedding_from_config,
    .destroy = embedding_destroy,
};
