/* keras.layers.Bidirectional around LSTM, GRU or SimpleRNN.
 *
 * The wrapper owns two complete inner layers: the given one (forward) and a
 * copy rebuilt from its config with go_backwards flipped (backward), which
 * is how Keras creates it. The inner layers' weights live in the wrapper's
 * weight list (forward first, as in Keras files) and the inner layers point
 * into the model's parameter array through it. With return_sequences the
 * backward output is flipped back in time before merging, as Keras does.
 * Both inner layers see the input mask (each in its own time order); with
 * return_sequences tf.keras and Keras 3 force zero_output_for_mask on them,
 * so masked steps of the merged output are zeros. Standalone Keras 2.0-2.3
 * had no such switch: there each direction repeats its last output, as a
 * lone RNN does (a model loaded from its files keeps that). */
#include "ck_internal.h"
#include "ck_layers.h"
#include "ck_pool.h"
#include "ck_rnn.h"

#include <stdlib.h>
#include <string.h>

typedef enum merge_mode { MERGE_CONCAT, MERGE_SUM, MERGE_MUL, MERGE_AVE } merge_mode;
static const char *const merge_names[] = {"concat", "sum", "mul", "ave"};

typedef struct bidir {
    ck_layer base;
    ck_layer *fwd, *bwd;
    merge_mode mode;
    char inner_name[CK_NAME_MAX]; /* wrapped layer's name without "forward_"; "" = default */
    ck_buf yf, yb;                /* inner outputs of the last forward */
    ck_tensor tyf, tyb;
    ck_buf dyf, dyb, dxb;
    bool zero_masked; /* of the last forward: masked steps give zeros */
} bidir;

extern const ck_layer_ops ck_bidirectional_layer_ops;

static bool is_wrappable(const ck_layer *l)
{
    static const char *const ok[] = {"LSTM", "GRU", "SimpleRNN"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (strcmp(l->ops->class_name, ok[i]) == 0)
            return true;
    return false;
}

/* The inner layer's own Keras config (without name). */
static cJSON *inner_config(const ck_layer *l)
{
    cJSON *cfg = cJSON_CreateObject();
    if (!cfg) {
        ck_error(CK_ERR_MEMORY, "Bidirectional: out of memory building a config");
        return NULL;
    }
    if (ck_layer_get_config(l, cfg) != CK_OK) {
        cJSON_Delete(cfg);
        return NULL;
    }
    return cfg;
}

/* A fresh layer equal to `l` but running the other way in time. */
static ck_layer *mirror_of(const ck_layer *l)
{
    cJSON *cfg = inner_config(l);
    if (!cfg)
        return NULL;
    const cJSON *gb = cJSON_GetObjectItemCaseSensitive(cfg, "go_backwards");
    cJSON *flipped = cJSON_CreateBool(!cJSON_IsTrue(gb));
    ck_layer *out = NULL;
    if (!flipped)
        ck_error(CK_ERR_MEMORY, "Bidirectional: out of memory building a config");
    else if (cJSON_ReplaceItemInObjectCaseSensitive(cfg, "go_backwards", flipped))
        out = ck_layer_from_config(l->ops->class_name, cfg, ck_layer_semantics(l));
    else {
        cJSON_Delete(flipped);
        ck_error(CK_ERR_STATE, "Bidirectional: %s config has no go_backwards", l->ops->class_name);
    }
    cJSON_Delete(cfg);
    return out;
}

static ck_status check_inner(const ck_layer *l)
{
    if (!is_wrappable(l))
        return ck_error(CK_ERR_UNSUPPORTED,
                        "Bidirectional: can wrap LSTM, GRU or SimpleRNN, not %s",
                        l->ops->class_name);
    cJSON *cfg = inner_config(l);
    if (!cfg)
        return ck_error_status();
    bool return_state = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cfg, "return_state"));
    bool zero_last = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cfg, "zero_output_for_mask")) &&
                     !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cfg, "return_sequences"));
    cJSON_Delete(cfg);
    if (return_state)
        return ck_error(
            CK_ERR_UNSUPPORTED,
            "Bidirectional: return_state=True gives several outputs, which a Sequential model cannot pass on");
    /* Keras overrides it with return_sequences; refuse rather than differ. */
    if (zero_last)
        return ck_error(
            CK_ERR_UNSUPPORTED,
            "Bidirectional: a wrapped layer with zero_output_for_mask=True needs return_sequences=True");
    return CK_OK;
}

static ck_status parse_merge_mode(const char *name, merge_mode *out)
{
    if (!name) {
        *out = MERGE_CONCAT;
        return CK_OK;
    }
    for (size_t i = 0; i < sizeof merge_names / sizeof merge_names[0]; i++)
        if (strcmp(name, merge_names[i]) == 0) {
            *out = (merge_mode)i;
            return CK_OK;
        }
    return ck_error(CK_ERR_ARGUMENT,
                    "Bidirectional: merge_mode '%s' is not one of concat, sum, mul, ave", name);
}

static void bidir_destroy(ck_layer *l)
{
    bidir *s = (bidir *)l;
    ck_layer_free(s->fwd);
    ck_layer_free(s->bwd);
    ck_buf *bufs[] = {&s->yf, &s->yb, &s->dyf, &s->dyb, &s->dxb};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        ck_buf_free(bufs[i]);
    free(s);
}

static const char *strip_prefix(const char *name, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(name, prefix, n) == 0 && name[n] ? name + n : name;
}

/* Takes ownership of `inner` in every case. */
static ck_layer *bidir_create(ck_layer *inner, const char *merge, const char *name)
{
    if (!inner) {
        if (ck_error_status() == CK_OK)
            ck_error(CK_ERR_ARGUMENT, "Bidirectional: the wrapped layer is NULL");
        return NULL;
    }
    if (inner->model) {
        ck_error(CK_ERR_STATE, "Bidirectional: layer %s already belongs to a model", inner->name);
        return NULL;
    }
    merge_mode mode = MERGE_CONCAT;
    bidir *s = NULL;
    if (check_inner(inner) != CK_OK || parse_merge_mode(merge, &mode) != CK_OK ||
        !(s = ck_alloc(1, sizeof *s))) {
        ck_layer_free(inner);
        return NULL;
    }
    s->fwd = inner;
    s->mode = mode;
    snprintf(s->inner_name, sizeof s->inner_name, "%s", strip_prefix(inner->name, "forward_"));
    if (ck_layer_init(&s->base, &ck_bidirectional_layer_ops, name) != CK_OK ||
        !(s->bwd = mirror_of(inner))) {
        bidir_destroy(&s->base);
        return NULL;
    }
    s->base.nested_activity = inner->activity.kind != CK_REG_NONE;
    return &s->base;
}

ck_layer *ck_bidirectional_new(const ck_bidirectional_options *o)
{
    if (!o) {
        ck_error(CK_ERR_ARGUMENT, "Bidirectional: options are NULL");
        return NULL;
    }
    return bidir_create(o->layer, o->merge_mode, o->name);
}

static ck_status bidir_output_shape(const ck_layer *l, const ck_shape *in, ck_shape *out)
{
    const bidir *s = (const bidir *)l;
    CK_TRY(s->fwd->ops->output_shape(s->fwd, in, out));
    if (s->mode == MERGE_CONCAT)
        out->dims[out->rank - 1] *= 2;
    return CK_OK;
}

static ck_status name_inner(bidir *s, ck_layer *inner, const char *prefix)
{
    const char *base = s->inner_name[0] ? s->inner_name : inner->ops->base_name;
    int n = snprintf(inner->name, sizeof inner->name, "%s%s", prefix, base);
    if (n < 0 || (size_t)n >= sizeof inner->name)
        return ck_error(CK_ERR_ARGUMENT, "Bidirectional %s: wrapped layer name '%s' is too long",
                        s->base.name, base);
    inner->model = s->base.model;
    return CK_OK;
}

static ck_status build_inner(ck_layer *inner, const ck_shape *in)
{
    inner->in_shape = *in;
    inner->n_weights = 0;
    CK_TRY(inner->ops->output_shape(inner, in, &inner->out_shape));
    if (inner->ops->build)
        CK_TRY(inner->ops->build(inner));
    inner->built = true;
    return CK_OK;
}

/* Re-declares an inner weight on the wrapper, scoped under the inner layer. */
static ck_status adopt_weights(ck_layer *l, const ck_layer *inner, const char *k3_name)
{
    for (int k = 0; k < inner->n_weights; k++) {
        const ck_weight *w = &inner->weights[k];
        ck_weight *o = ck_layer_add_weight(l, w->name, w->rank, w->dims, &w->init, w->trainable);
        if (!o)
            return ck_error_status();
        o->rule = w->rule;
        int n2 = snprintf(o->k2_scope, sizeof o->k2_scope, "%s/%s", inner->name, w->k2_scope);
        int n3 = snprintf(o->k3_scope, sizeof o->k3_scope, "%s/%s", k3_name, w->k3_scope);
        if (n2 < 0 || n3 < 0 || (size_t)n2 >= sizeof o->k2_scope ||
            (size_t)n3 >= sizeof o->k3_scope)
            return ck_error(CK_ERR_UNSUPPORTED,
                            "Bidirectional %s: weight path %s/%s is too long for ckeras", l->name,
                            inner->name, w->k2_scope);
    }
    return CK_OK;
}

static ck_status bidir_build(ck_layer *l)
{
    bidir *s = (bidir *)l;
    if (!s->inner_name[0] && l->model)
        ck_model_unique_name(l->model, s->fwd->ops->base_name, s->inner_name, sizeof s->inner_name);
    CK_TRY(name_inner(s, s->fwd, "forward_"));
    CK_TRY(name_inner(s, s->bwd, "backward_"));
    CK_TRY(build_inner(s->fwd, &l->in_shape));
    CK_TRY(build_inner(s->bwd, &l->in_shape));
    CK_TRY(adopt_weights(l, s->fwd, "forward_layer"));
    return adopt_weights(l, s->bwd, "backward_layer");
}

/* Points the inner layers' weights at the wrapper's slices of the model arrays. */
static void link_weights(bidir *s)
{
    ck_layer *inner[2] = {s->fwd, s->bwd};
    int k = 0;
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < inner[i]->n_weights; j++, k++) {
            inner[i]->weights[j].data = s->base.weights[k].data;
            inner[i]->weights[j].grad = s->base.weights[k].grad;
        }
}

static void bidir_after_init(ck_layer *l)
{
    bidir *s = (bidir *)l;
    link_weights(s);
    if (s->fwd->ops->after_init) {
        s->fwd->ops->after_init(s->fwd);
        s->bwd->ops->after_init(s->bwd);
    }
}

/* Row of the backward output that lines up with row i of the forward one. */
static size_t mirror_row(const ck_tensor *t, size_t i)
{
    if (t->rank != 3)
        return i;
    size_t T = (size_t)t->dims[1], b = i / T;
    return b * T + (T - 1 - i % T);
}

static ck_status run_inner(ck_layer *inner, const ck_tensor *x, ck_buf *buf, ck_tensor *y,
                           const ck_run_ctx *ctx)
{
    ck_shape in = {.rank = x->rank}, out;
    memcpy(in.dims, x->dims, sizeof in.dims);
    CK_TRY(inner->ops->output_shape(inner, &in, &out));
    y->rank = out.rank;
    memcpy(y->dims, out.dims, sizeof y->dims);
    CK_TRY(ck_buf_reserve(buf, ck_tensor_size(y)));
    y->data = buf->data;
    return inner->ops->forward(inner, x, y, ctx);
}

/* Inference runs the two directions as two pool tasks: they share only
 * their input. Training keeps them in order, since both draw their
 * dropout masks from one generator. A task's error message lives in its
 * thread, so it is kept here for the caller. */
typedef struct directions {
    bidir *s;
    const ck_tensor *x;
    const ck_run_ctx *ctx;
    ck_status st[2];
    char msg[2][1024];
} directions;

static void run_direction(void *arg, int i)
{
    directions *j = arg;
    bidir *s = j->s;
    j->st[i] = i ? run_inner(s->bwd, j->x, &s->yb, &s->tyb, j->ctx)
                 : run_inner(s->fwd, j->x, &s->yf, &s->tyf, j->ctx);
    if (j->st[i] != CK_OK)
        snprintf(j->msg[i], sizeof j->msg[i], "%s", ck_last_error());
}

static ck_status run_directions(bidir *s, const ck_tensor *x, const ck_run_ctx *ctx)
{
    directions j = {s, x, ctx, {CK_OK, CK_OK}, {"", ""}};
    if (ctx->training) {
        for (int i = 0; i < 2; i++)
            run_direction(&j, i);
    } else {
        ck_pool_run(2, run_direction, &j);
    }
    for (int i = 0; i < 2; i++)
        if (j.st[i] != CK_OK)
            return ck_error(j.st[i], "%s", j.msg[i]);
    return CK_OK;
}

/* Whether merged row i is a masked step of a sequence output (zeros). */
static bool row_masked(const bidir *s, size_t i)
{
    return s->zero_masked && s->tyf.rank == 3 && s->base.mask && s->base.mask[i] == 0.0f;
}

static ck_status bidir_forward(ck_layer *l, const ck_tensor *x, ck_tensor *y, const ck_run_ctx *ctx)
{
    bidir *s = (bidir *)l;
    link_weights(s);
    s->zero_masked = !ck_model_from_standalone_keras2(l->model);
    s->fwd->mask = s->bwd->mask = l->mask;
    CK_TRY(run_directions(s, x, ctx));
    size_t U = (size_t)s->tyf.dims[s->tyf.rank - 1], rows = ck_tensor_size(&s->tyf) / U;
    size_t width = U * (s->mode == MERGE_CONCAT ? 2 : 1);
    for (size_t i = 0; i < rows; i++) {
        const float *f = s->yf.data + i * U, *b = s->yb.data + mirror_row(&s->tyf, i) * U;
        float *o = y->data + i * width;
        if (row_masked(s, i)) {
            memset(o, 0, width * sizeof(float));
            continue;
        }
        for (size_t j = 0; j < U; j++) {
            switch (s->mode) {
            case MERGE_CONCAT:
                o[j] = f[j];
                o[U + j] = b[j];
                break;
            case MERGE_SUM:
                o[j] = f[j] + b[j];
                break;
            case MERGE_MUL:
                o[j] = f[j] * b[j];
                break;
            case MERGE_AVE:
                o[j] = 0.5f * (f[j] + b[j]);
                break;
            }
        }
    }
    return CK_OK;
}

/* Splits the merged output gradient into the two inner output gradients. */
static void split_grad(bidir *s, const float *dy)
{
    size_t U = (size_t)s->tyf.dims[s->tyf.rank - 1], rows = ck_tensor_size(&s->tyf) / U;
    for (size_t i = 0; i < rows; i++) {
        size_t m = mirror_row(&s->tyf, i) * U;
        const float *g = dy + i * U * (s->mode == MERGE_CONCAT ? 2 : 1);
        float *df = s->dyf.data + i * U, *db = s->dyb.data + m;
        if (row_masked(s, i)) {
            memset(df, 0, U * sizeof(float));
            memset(db, 0, U * sizeof(float));
            continue;
        }
        for (size_t j = 0; j < U; j++) {
            switch (s->mode) {
            case MERGE_CONCAT:
                df[j] = g[j];
                db[j] = g[U + j];
                break;
            case MERGE_SUM:
                df[j] = db[j] = g[j];
                break;
            case MERGE_MUL:
                df[j] = g[j] * s->yb.data[m + j];
                db[j] = g[j] * s->yf.data[i * U + j];
                break;
            case MERGE_AVE:
                df[j] = db[j] = 0.5f * g[j];
                break;
            }
        }
    }
}

static ck_status bidir_backward(ck_layer *l, const ck_tensor *x, const ck_tensor *y,
                                const ck_tensor *dy, ck_tensor *dx)
{
    (void)y;
    bidir *s = (bidir *)l;
    size_t n = ck_tensor_size(&s->tyf);
    CK_TRY(ck_buf_reserve(&s->dyf, n));
    CK_TRY(ck_buf_reserve(&s->dyb, n));
    split_grad(s, dy->data);
    ck_tensor tdf = s->tyf, tdb = s->tyb, tdx;
    tdf.data = s->dyf.data;
    tdb.data = s->dyb.data;
    CK_TRY(s->fwd->ops->backward(s->fwd, x, &s->tyf, &tdf, dx));
    if (dx) {
        tdx = *dx;
        CK_TRY(ck_buf_reserve(&s->dxb, ck_tensor_size(dx)));
        tdx.data = s->dxb.data;
    }
    CK_TRY(s->bwd->ops->backward(s->bwd, x, &s->tyb, &tdb, dx ? &tdx : NULL));
    if (dx)
        for (size_t i = 0; i < ck_tensor_size(dx); i++)
            dx->data[i] += s->dxb.data[i];
    return CK_OK;
}

static ck_status bidir_get_config(const ck_layer *l, cJSON *cfg)
{
    const bidir *s = (const bidir *)l;
    cJSON *inner = inner_config(s->fwd);
    if (!inner)
        return ck_error_status();
    cJSON_AddStringToObject(inner, "name",
                            s->inner_name[0] ? s->inner_name : s->fwd->ops->base_name);
    cJSON_AddBoolToObject(inner, "trainable", true);
    cJSON_AddStringToObject(inner, "dtype", "float32");
    cJSON *wrapped = cJSON_AddObjectToObject(cfg, "layer");
    if (!wrapped || !cJSON_AddStringToObject(wrapped, "class_name", s->fwd->ops->class_name) ||
        !cJSON_AddItemToObject(wrapped, "config", inner)) {
        cJSON_Delete(inner);
        return ck_config_check(NULL);
    }
    cJSON_AddStringToObject(cfg, "merge_mode", merge_names[s->mode]);
    return ck_config_check(cfg);
}

/* Builds an inner layer from a {"class_name", "config"} object. */
static ck_layer *inner_from_json(const cJSON *obj, const char *key, ck_keras_semantics semantics)
{
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(obj, "class_name");
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(obj, "config");
    if (!cJSON_IsString(cls) || !cJSON_IsObject(cfg)) {
        ck_error(CK_ERR_FORMAT, "Bidirectional: config '%s' needs a class_name and a config", key);
        return NULL;
    }
    ck_layer *l = ck_layer_from_config(cls->valuestring, cfg, semantics);
    if (!l)
        ck_error(ck_error_status(), "Bidirectional: %s", ck_last_error());
    return l;
}

/* Keras 2.15+/3 also store the backward layer; ckeras always derives it, so
 * a stored one must be exactly that mirror (names aside). */
static ck_status check_backward(const bidir *s, const cJSON *obj, ck_keras_semantics semantics)
{
    ck_layer *given = inner_from_json(obj, "backward_layer", semantics);
    if (!given)
        return ck_error_status();
    cJSON *a = given->ops == s->bwd->ops ? inner_config(given) : NULL;
    cJSON *b = a ? inner_config(s->bwd) : NULL;
    bool same = b && cJSON_Compare(a, b, true);
    ck_status st = CK_OK;
    if (a && !b)
        st = ck_error_status();
    else if (!same)
        st = ck_error(
            CK_ERR_UNSUPPORTED,
            "Bidirectional: a backward_layer that differs from the mirror of 'layer' is not supported");
    cJSON_Delete(a);
    cJSON_Delete(b);
    ck_layer_free(given);
    return st;
}

static ck_layer *bidir_from_config(const cJSON *cfg, ck_keras_semantics semantics)
{
    static const char *const known[] = {"layer", "merge_mode", "backward_layer", NULL};
    const char *merge = NULL, *name = NULL;
    if (ck_config_check_keys(cfg, "Bidirectional", known) != CK_OK ||
        ck_config_get_string(cfg, "merge_mode", &merge) != CK_OK ||
        ck_config_get_string(cfg, "name", &name) != CK_OK)
        return NULL;
    if (cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(cfg, "merge_mode"))) {
        ck_error(
            CK_ERR_UNSUPPORTED,
            "Bidirectional: merge_mode=None gives two outputs, which a Sequential model cannot pass on");
        return NULL;
    }
    const cJSON *layer = cJSON_GetObjectItemCaseSensitive(cfg, "layer");
    if (!cJSON_IsObject(layer)) {
        ck_error(CK_ERR_FORMAT, "Bidirectional: config is missing 'layer'");
        return NULL;
    }
    ck_layer *l = bidir_create(inner_from_json(layer, "layer", semantics), merge, name);
    const cJSON *back = cJSON_GetObjectItemCaseSensitive(cfg, "backward_layer");
    if (l && back && !cJSON_IsNull(back) &&
        check_backward((const bidir *)l, back, semantics) != CK_OK) {
        ck_layer_free(l);
        return NULL;
    }
    return l;
}

static void bidir_reset_state(ck_layer *l)
{
    bidir *s = (bidir *)l;
    s->fwd->ops->reset_state(s->fwd);
    s->bwd->ops->reset_state(s->bwd);
}

static bool bidir_has_state(const ck_layer *l)
{
    const bidir *s = (const bidir *)l;
    return s->fwd->ops->has_state(s->fwd) || s->bwd->ops->has_state(s->bwd);
}

/* Keras builds both directions from one config: one stateful, both. */
static bool bidir_stateful(const ck_layer *l)
{
    const ck_layer *fwd = ((const bidir *)l)->fwd;
    return fwd->ops->stateful && fwd->ops->stateful(fwd);
}

const ck_layer_ops ck_bidirectional_layer_ops = {
    .class_name = "Bidirectional",
    .base_name = "bidirectional",
    .output_shape = bidir_output_shape,
    .build = bidir_build,
    .after_init = bidir_after_init,
    .forward = bidir_forward,
    .backward = bidir_backward,
    .compute_mask = ck_rnn_compute_mask,
    .get_config = bidir_get_config,
    .from_config = bidir_from_config,
    .reset_state = bidir_reset_state,
    .has_state = bidir_has_state,
    .stateful = bidir_stateful,
    .destroy = bidir_destroy,
};
