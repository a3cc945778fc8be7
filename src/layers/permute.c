/* keras.layers.Permute: reorders the non-batch axes (1-based dims). */
#include "layer_util.h"

#include <stdlib.h>
#include <string.h>

typedef struct permute {
    ck_layer base;
    int rank;                  /* batch excluded */
    int dims[CK_MAX_RANK - 1]; /* 1-based input axis of each output axis */
} permute;

extern const ck_layer_ops ck_permute_layer_ops;

ck_layer *ck_permute_new(const ck_permute_options *o)
{
    if (!o) {
        ck_error(CK_ERR_ARGUMENT, "Permute: options are NULL");
        return NULL;
    }
    int rank = 0;
    bool seen[CK_MAX_RANK] = {false};
    while (rank < CK_MAX_RANK - 1 && o->dims[rank] != 0)
        rank++;
    for (int i = 0; i < rank; i++) {
        int d = o->dims[i];
        if (d < 1 || d > rank || seen[d]) {
            ck_error(CK_ERR_ARGUMENT, "Permute: dims must be a permutation of 1..%d", rank);
            return NULL;
        }
        seen[d] = true;
    }
    if (rank == 0) {
        ck_error(CK_ERR_ARGUMENT, "Permute: dims is empty");
        return NULL;
    }
    permute *p = ck_layer_alloc(sizeof *p, &ck_permute_layer_ops, o->name);
    if (!p)
        return NULL;
    p->rank = rank;
    memcpy(p->dims, o->dims, sizeof p->dims);
    return &p->base;
}

static ck_status permute_output_shape(const ck_layer *l, const ck_shape *in, ck_shape *out)
{
    const permute *p = (const permute *)l;
    if (in->rank != p->rank + 1)
        return ck_error(CK_ERR_SHAPE,
                        "Permute with %d dims needs an input of rank %d (batch "
                        "included), got rank %d",
                        p->rank, p->rank + 1, in->rank);
    out->rank = in->rank;
    out->dims[0] = in->dims[0];
    for (int i = 0; i < p->rank; i++)
        out->dims[i + 1] = in->dims[p->dims[i]];
    return CK_OK;
}

/* Walks the output in row-major order; `off` follows the matching input
 * element. Backward runs the same walk with the copy direction swapped. */
static void transpose(const permute *p, const ck_tensor *x, const float *src, float *dst,
                      bool to_input)
{
    int r = p->rank;
    int64_t in_stride[CK_MAX_RANK], step[CK_MAX_RANK], extent[CK_MAX_RANK], idx[CK_MAX_RANK] = {0};
    in_stride[r] = 1;
    for (int a = r - 1; a >= 0; a--)
        in_stride[a] = in_stride[a + 1] * x->dims[a + 1]; /* of input axis a; a = 0: a sample */
    for (int i = 0; i < r; i++) {
        step[i] = in_stride[p->dims[i]]; /* stride of input axis dims[i] */
        extent[i] = x->dims[p->dims[i]];
    }
    size_t sample = (size_t)in_stride[0], n = ck_tensor_size(x);
    for (size_t base = 0; base < n; base += sample) {
        int64_t off = 0;
        for (size_t o = 0; o < sample; o++) {
            if (to_input)
                dst[base + (size_t)off] = src[base + o];
            else
                dst[base + o] = src[base + (size_t)off];
            for (int i = r - 1; i >= 0; i--) { /* odometer increment */
                off += step[i];
                if (++idx[i] < extent[i])
                    break;
                off -= step[i] * extent[i];
                idx[i] = 0;
            }
        }
    }
}

static ck_status permute_forward(ck_layer *l, const ck_tensor *x, ck_tensor *y,
                                 const ck_run_ctx *ctx)
{
    (void)ctx;
    transpose((const permute *)l, x, x->data, y->data, false);
    return CK_OK;
}

static ck_status permute_backward(ck_layer *l, const ck_tensor *x, const ck_tensor *y,
                                  const ck_tensor *dy, ck_tensor *dx)
{
    (void)y;
    if (dx)
        transpose((const permute *)l, x, dy->data, dx->data, true);
    return CK_OK;
}

static ck_status permute_get_config(const ck_layer *l, cJSON *cfg)
{
    const permute *p = (const permute *)l;
    return ck_config_add(cfg, "dims", cJSON_CreateIntArray(p->dims, p->rank));
}

static ck_layer *permute_from_config(const cJSON *cfg, ck_keras_semantics semantics)
{
    static const char *const known[] = {"dims", NULL};
    (void)semantics;
    ck_permute_options o = {0};
    int64_t dims[CK_MAX_RANK - 1];
    int n;
    if (ck_config_check_keys(cfg, "Permute", known) != CK_OK ||
        ck_config_get_int_list(cfg, "Permute", "dims", dims, CK_MAX_RANK - 1, &n) != CK_OK ||
        ck_config_get_string(cfg, "name", &o.name) != CK_OK)
        return NULL;
    for (int i = 0; i < n; i++)
        o.dims[i] = dims[i] >= 1 && dims[i] <= n ? (int)dims[i] : -1; /* -1: rejected below */
    return ck_permute_new(&o);
}

static void permute_destroy(ck_layer *l)
{
    free(l);
}

const ck_layer_ops ck_permute_layer_ops = {
    .class_name = "Permute",
    .base_name = "permute",
    .output_shape = permute_output_shape,
    .forward = permute_forward,
    .backward = permute_backward,
    .get_config = permute_get_config,
    .from_config = permute_from_config,
    .destroy = permute_destroy,
};
