/* The Sequential model: owns the layers and one contiguous parameter array
 * (with a matching gradient array), and only walks the layers. */
#include "ck_internal.h"
#include "ck_vmath.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* predict() runs at most this many samples at once, bounding the memory
 * of the activation buffers for very large inputs. */
#define PREDICT_CHUNK 256

ck_model *ck_sequential_new(const ck_model_options *opts)
{
    ck_model_options o = opts ? *opts : (ck_model_options){0};
    const char *name = o.name ? o.name : "sequential";
    if (!*name || strlen(name) >= CK_NAME_MAX) {
        ck_error(CK_ERR_ARGUMENT, "model name must have 1 to %d characters", CK_NAME_MAX - 1);
        return NULL;
    }
    if (o.semantics != CK_KERAS2 && o.semantics != CK_KERAS3) {
        ck_error(CK_ERR_ARGUMENT, "unknown Keras semantics %d", (int)o.semantics);
        return NULL;
    }
    ck_model *m = ck_alloc(1, sizeof *m);
    if (!m)
        return NULL;
    snprintf(m->name, sizeof m->name, "%s", name);
    m->seed = o.seed;
    m->semantics = o.semantics;
    ck_rng_seed(&m->rng, o.seed);
    return m;
}

static void release_buffers(ck_model *m)
{
    for (int i = 0; m->acts && i < m->n_acts; i++)
        ck_buf_free(&m->acts[i]);
    for (int i = 0; m->masks && i < m->n_acts; i++)
        ck_buf_free(&m->masks[i]);
    free(m->acts);
    free(m->act_views);
    free(m->masks);
    free(m->mask_views);
    m->acts = NULL;
    m->act_views = NULL;
    m->masks = NULL;
    m->mask_views = NULL;
    ck_buf_free(&m->grad_bufs[0]);
    ck_buf_free(&m->grad_bufs[1]);
}

void ck_model_free(ck_model *m)
{
    if (!m)
        return;
    ck_model_set_train(m, NULL, NULL);
    release_buffers(m);
    for (int i = 0; i < m->n_layers; i++)
        ck_layer_free(m->layers[i]);
    ck_layer_free(m->input);
    free(m->layers);
    free(m->params);
    free(m->grads);
    free(m->warnings);
    free(m);
}

void ck_model_set_train(ck_model *m, void *state, const ck_train_hooks *hooks)
{
    if (m->train)
        m->train_hooks->free(m->train);
    m->train = state;
    m->train_hooks = hooks;
}

ck_status ck_model_warn(ck_model *m, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    size_t old = m->warnings ? strlen(m->warnings) : 0, add = strlen(line);
    char *grown = ck_realloc_array(m->warnings, old + add + 2, 1);
    if (!grown)
        return CK_ERR_MEMORY;
    memcpy(grown + old, line, add);
    memcpy(grown + old + add, "\n", 2);
    m->warnings = grown;
    return CK_OK;
}

const char *ck_model_warnings(const ck_model *m)
{
    return m && m->warnings ? m->warnings : "";
}

const char *ck_model_keras_version(const ck_model *m)
{
    return m ? m->keras_version : "";
}

static bool name_taken(const ck_model *m, const char *name)
{
    if (m->input && strcmp(m->input->name, name) == 0)
        return true;
    for (int i = 0; i < m->n_layers; i++)
        if (strcmp(m->layers[i]->name, name) == 0)
            return true;
    return false;
}

void ck_model_unique_name(const ck_model *m, const char *base, char *out, size_t len)
{
    snprintf(out, len, "%s", base);
    for (int k = 1; name_taken(m, out); k++)
        snprintf(out, len, "%s_%d", base, k);
}

static ck_status add_input(ck_model *m, ck_layer *l)
{
    if (m->input || m->n_layers > 0) {
        ck_layer_free(l);
        return ck_error(CK_ERR_STATE,
                        "model %s: the input layer must be added first, and only once", m->name);
    }
    if (!l->name[0])
        ck_model_unique_name(m, "input_1", l->name, sizeof l->name);
    m->input = l;
    l->model = m;
    return CK_OK;
}

static ck_status add_to_built(ck_model *m, ck_layer *l);

ck_status ck_model_add(ck_model *m, ck_layer *l)
{
    if (!m) {
        ck_layer_free(l);
        return ck_error(CK_ERR_ARGUMENT, "ck_model_add: model is NULL");
    }
    if (!l) {
        /* The constructor already explained why; remember the model is
         * incomplete so a later build cannot silently skip the layer. */
        m->error_sticky = true;
        ck_status st = ck_error_status();
        return st != CK_OK ? st : ck_error(CK_ERR_ARGUMENT, "ck_model_add: layer is NULL");
    }
    /* Not freed: it belongs to the other model. */
    if (l->model)
        return ck_error(CK_ERR_STATE, "layer %s already belongs to model %s", l->name,
                        l->model->name);
    if (strcmp(l->ops->class_name, "InputLayer") == 0)
        return add_input(m, l);
    if (l->name[0] && name_taken(m, l->name)) {
        ck_status st = ck_error(
            CK_ERR_NAME, "model %s already has a layer named '%s'; layer names must be unique",
            m->name, l->name);
        ck_layer_free(l);
        return st;
    }
    if (m->n_layers == m->cap_layers) {
        int cap = m->cap_layers ? 2 * m->cap_layers : 8;
        ck_layer **p = ck_realloc_array(m->layers, (size_t)cap, sizeof *p);
        if (!p) {
            ck_layer_free(l);
            return CK_ERR_MEMORY;
        }
        m->layers = p;
        m->cap_layers = cap;
    }
    if (!l->name[0])
        ck_model_unique_name(m, l->ops->base_name, l->name, sizeof l->name);
    l->model = m;
    m->layers[m->n_layers++] = l;
    return m->built ? add_to_built(m, l) : CK_OK;
}

static void unbuild(ck_model *m)
{
    for (int i = 0; i < m->n_layers; i++) {
        m->layers[i]->built = false;
        m->layers[i]->n_weights = 0;
    }
    release_buffers(m);
    free(m->params);
    free(m->grads);
    m->params = m->grads = NULL;
    m->n_params = m->n_trainable = 0;
}

static ck_status infer_shapes(ck_model *m)
{
    ck_shape in = m->input->out_shape;
    for (int i = 0; i < m->n_layers; i++) {
        ck_layer *l = m->layers[i];
        ck_shape out;
        char sh[96];
        l->in_shape = in;
        l->n_weights = 0;
        ck_status st = l->ops->output_shape(l, &in, &out);
        if (st == CK_OK && l->ops->build)
            st = l->ops->build(l);
        if (st != CK_OK) {
            ck_shape_format(&in, sh, sizeof sh);
            const char *prev = i ? m->layers[i - 1]->name : m->input->name;
            return ck_error(st, "layer '%s' (%s) cannot take the output of '%s' with shape %s: %s",
                            l->name, l->ops->class_name, prev, sh, ck_last_error());
        }
        l->out_shape = out;
        l->built = true;
        in = out;
    }
    return CK_OK;
}

/* Lays out every weight in one array, trainable ones first, so that an
 * optimizer step or a save is a single loop. */
static ck_status allocate_params(ck_model *m)
{
    size_t trainable = 0, total = 0;
    for (int i = 0; i < m->n_layers; i++)
        for (int k = 0; k < m->layers[i]->n_weights; k++) {
            const ck_weight *w = &m->layers[i]->weights[k];
            total += w->size;
            trainable += w->trainable ? w->size : 0;
        }
    m->params = ck_alloc(total, sizeof(float));
    m->grads = m->params ? ck_alloc(total, sizeof(float)) : NULL;
    if (!m->grads)
        return CK_ERR_MEMORY;
    m->n_params = total;
    m->n_trainable = trainable;
    size_t off_t = 0, off_n = trainable;
    for (int i = 0; i < m->n_layers; i++)
        for (int k = 0; k < m->layers[i]->n_weights; k++) {
            ck_weight *w = &m->layers[i]->weights[k];
            size_t *off = w->trainable ? &off_t : &off_n;
            w->data = m->params + *off;
            w->grad = m->grads + *off;
            *off += w->size;
        }
    return CK_OK;
}

/* Fills the weights of layers from `first` on with their initializers
 * (unless a file provides them), then lets each layer adjust them. */
static ck_status init_params(ck_model *m, int first)
{
    for (int i = first; i < m->n_layers; i++) {
        ck_layer *l = m->layers[i];
        for (int k = 0; !m->skip_init && k < l->n_weights; k++) {
            ck_weight *w = &l->weights[k];
            ck_status st = ck_init_fill(&w->init, w->data, w->rank, w->dims, &m->rng);
            if (st != CK_OK)
                return ck_error(st, "layer %s, weight %s: %s", l->name, w->name, ck_last_error());
        }
        if (l->ops->after_init)
            l->ops->after_init(l);
    }
    return CK_OK;
}

static ck_status alloc_activations(ck_model *m)
{
    m->acts = ck_alloc((size_t)m->n_layers, sizeof *m->acts);
    m->act_views = m->acts ? ck_alloc((size_t)m->n_layers, sizeof *m->act_views) : NULL;
    m->masks = m->act_views ? ck_alloc((size_t)m->n_layers, sizeof *m->masks) : NULL;
    m->mask_views = m->masks ? ck_alloc((size_t)m->n_layers, sizeof *m->mask_views) : NULL;
    m->n_acts = m->mask_views ? m->n_layers : 0;
    return m->mask_views ? CK_OK : CK_ERR_MEMORY;
}

static ck_status check_buildable(const ck_model *m)
{
    if (m->error_sticky)
        return ck_error(
            CK_ERR_STATE,
            "model %s: a layer could not be created or added, so the model is incomplete", m->name);
    if (!m->input)
        return ck_error(CK_ERR_STATE, "model %s has no input shape: add ck_input(...) first",
                        m->name);
    if (m->n_layers == 0)
        return ck_error(CK_ERR_STATE, "model %s has no layers", m->name);
    return CK_OK;
}

ck_status ck_model_build(ck_model *m)
{
    if (!m)
        return ck_error(CK_ERR_ARGUMENT, "ck_model_build: model is NULL");
    if (m->built)
        return CK_OK;
    CK_TRY(check_buildable(m));
    /* A failed build must leave no trace, the RNG position included, so a
     * retry gives the same weights as a first-time build. */
    ck_rng rng_before = m->rng;
    ck_status st = infer_shapes(m);
    if (st == CK_OK)
        st = allocate_params(m);
    if (st == CK_OK)
        st = init_params(m, 0);
    if (st == CK_OK)
        st = alloc_activations(m);
    if (st != CK_OK) {
        unbuild(m);
        m->rng = rng_before;
        return st;
    }
    m->built = true;
    /* Only the weights of the first build come from a file. */
    m->skip_init = false;
    ck_model_weights_changed(m);
    return CK_OK;
}

/* ---------------- changing a built model ---------------- */

/* What a rebuild replaces, to put it back when the rebuild fails. */
typedef struct layer_state {
    ck_weight weights[CK_MAX_WEIGHTS];
    int n_weights;
    ck_shape in_shape, out_shape;
    bool built;
} layer_state;

typedef struct model_state {
    layer_state *layers;
    int n_layers;
    float *params, *grads, *values;
    size_t n_params, n_trainable;
    ck_rng rng;
} model_state;

static ck_status save_state(const ck_model *m, model_state *s)
{
    *s = (model_state){.n_layers = m->n_layers,
                       .params = m->params,
                       .grads = m->grads,
                       .n_params = m->n_params,
                       .n_trainable = m->n_trainable,
                       .rng = m->rng};
    s->layers = ck_alloc((size_t)m->n_layers + 1, sizeof *s->layers);
    s->values = s->layers ? ck_alloc(m->n_params + 1, sizeof(float)) : NULL;
    if (!s->values) {
        free(s->layers);
        return CK_ERR_MEMORY;
    }
    memcpy(s->values, m->params, m->n_params * sizeof(float));
    for (int i = 0; i < m->n_layers; i++) {
        const ck_layer *l = m->layers[i];
        layer_state *ls = &s->layers[i];
        memcpy(ls->weights, l->weights, sizeof ls->weights);
        ls->n_weights = l->n_weights;
        ls->in_shape = l->in_shape;
        ls->out_shape = l->out_shape;
        ls->built = l->built;
    }
    return CK_OK;
}

/* The saved values of layer i's weights back into its (new) slots; after
 * after_init, which also points wrapped layers at the new slots. */
static void restore_values(ck_model *m, const model_state *s, int i)
{
    ck_layer *l = m->layers[i];
    const layer_state *ls = &s->layers[i];
    if (!ls->built)
        return;
    if (l->ops->after_init)
        l->ops->after_init(l);
    for (int k = 0; k < l->n_weights && k < ls->n_weights; k++)
        if (l->weights[k].size == ls->weights[k].size)
            memcpy(l->weights[k].data, s->values + (ls->weights[k].data - s->params),
                   l->weights[k].size * sizeof(float));
}

static void drop_state(model_state *s, bool keep_old_arrays)
{
    if (!keep_old_arrays) {
        free(s->params);
        free(s->grads);
    }
    free(s->values);
    free(s->layers);
}

static void roll_back(ck_model *m, model_state *s)
{
    release_buffers(m);
    free(m->params);
    free(m->grads);
    m->params = s->params;
    m->grads = s->grads;
    m->n_params = s->n_params;
    m->n_trainable = s->n_trainable;
    m->rng = s->rng;
    for (int i = 0; i < s->n_layers; i++) {
        ck_layer *l = m->layers[i];
        const layer_state *ls = &s->layers[i];
        memcpy(l->weights, ls->weights, sizeof ls->weights);
        l->n_weights = ls->n_weights;
        l->in_shape = ls->in_shape;
        l->out_shape = ls->out_shape;
        l->built = ls->built;
        restore_values(m, s, i);
    }
    /* Without activation buffers the model rebuilds them at its next use. */
    if (alloc_activations(m) != CK_OK)
        release_buffers(m);
}

/* Lays the model out again after layers were added or removed or trainable
 * flags changed: the first `kept` layers keep their weights' values, the
 * others are initialised. All or nothing. */
static ck_status rebuild(ck_model *m, int kept)
{
    model_state s;
    CK_TRY(save_state(m, &s));
    release_buffers(m);
    m->params = m->grads = NULL;
    ck_status st = infer_shapes(m);
    if (st == CK_OK)
        st = allocate_params(m);
    for (int i = 0; st == CK_OK && i < kept; i++)
        restore_values(m, &s, i);
    if (st == CK_OK)
        st = init_params(m, kept);
    if (st == CK_OK)
        st = alloc_activations(m);
    if (st != CK_OK) {
        ck_error(st, "model %s: %s", m->name, ck_last_error());
        roll_back(m, &s);
    }
    drop_state(&s, st != CK_OK);
    /* New arrays, or the old ones put back: packed copies are stale either way. */
    ck_model_weights_changed(m);
    return st;
}

/* A model whose layers change must be compiled again (Keras recompiles
 * too): the optimizer state and the fused output belong to the old one. */
static void uncompile(ck_model *m)
{
    ck_model_set_train(m, NULL, NULL);
    for (int i = 0; i < m->n_layers; i++)
        m->layers[i]->fused_loss_grad = false;
}

/* Appends a layer to a built model, keeping every existing weight. */
static ck_status add_to_built(ck_model *m, ck_layer *l)
{
    ck_shape out;
    ck_status st = l->ops->output_shape(l, &m->layers[m->n_layers - 2]->out_shape, &out);
    if (st == CK_OK) {
        uncompile(m);
        st = rebuild(m, m->n_layers - 1);
    }
    if (st != CK_OK) {
        ck_error(st, "cannot add layer %s to model %s: %s", l->name, m->name, ck_last_error());
        m->n_layers--;
        ck_layer_free(l);
    }
    return st;
}

ck_status ck_model_pop(ck_model *m)
{
    if (!m)
        return ck_error(CK_ERR_ARGUMENT, "ck_model_pop: model is NULL");
    if (m->n_layers == 0)
        return ck_error(CK_ERR_STATE, "model %s has no layers to pop", m->name);
    ck_layer *last = m->layers[--m->n_layers];
    if (m->built && m->n_layers == 0) {
        unbuild(m);
        m->built = false;
    } else if (m->built) {
        ck_status st = rebuild(m, m->n_layers);
        if (st != CK_OK) {
            m->n_layers++;
            return st;
        }
    }
    uncompile(m);
    ck_layer_free(last);
    return CK_OK;
}

bool ck_weight_trains(const ck_layer *l, const ck_weight *w)
{
    return w->declared_trainable && !l->frozen;
}

ck_status ck_model_apply_trainable(ck_model *m)
{
    bool stale = false;
    for (int i = 0; m->built && i < m->n_layers; i++)
        for (int k = 0; k < m->layers[i]->n_weights; k++)
            stale = stale || m->layers[i]->weights[k].trainable !=
                                 ck_weight_trains(m->layers[i], &m->layers[i]->weights[k]);
    if (!stale)
        return CK_OK;
    CK_TRY(rebuild(m, m->n_layers));
    uncompile(m);
    return CK_OK;
}

void ck_model_weights_changed(ck_model *m)
{
    atomic_fetch_add(&m->weights_version, 1);
}

bool ck_model_is_built(const ck_model *m)
{
    return m && m->built;
}

/* Rows of a tensor: every axis but the last, one mask value each. */
static size_t rows_of(const ck_tensor *t)
{
    return ck_tensor_size(t) / (size_t)t->dims[t->rank - 1];
}

static void tensor_shape(const ck_tensor *t, ck_shape *s)
{
    s->rank = t->rank;
    memcpy(s->dims, t->dims, sizeof s->dims);
}

ck_status ck_mask_pass(ck_layer *l, const ck_tensor *x, const float *in_mask, ck_buf *buf,
                       const float **out)
{
    (void)l, (void)x, (void)buf;
    *out = in_mask;
    return CK_OK;
}

ck_status ck_model_forward(ck_model *m, const ck_tensor *x, bool training)
{
    ck_run_ctx ctx = {.training = training, .rng = &m->rng};
    const ck_tensor *in = x;
    const float *mask = NULL;
    for (int i = 0; i < m->n_layers; i++) {
        ck_layer *l = m->layers[i];
        ck_shape s_in, s_out;
        tensor_shape(in, &s_in);
        CK_TRY(l->ops->output_shape(l, &s_in, &s_out));
        ck_tensor *y = &m->act_views[i];
        y->rank = s_out.rank;
        memcpy(y->dims, s_out.dims, sizeof y->dims);
        size_t n = ck_tensor_size(y);
        if (n == 0)
            return ck_error(CK_ERR_SHAPE, "layer %s: output size is zero or overflows", l->name);
        CK_TRY(ck_buf_reserve(&m->acts[i], n));
        y->data = m->acts[i].data;
        l->mask = mask;
        CK_TRY(l->ops->forward(l, in, y, &ctx));
        mask = NULL;
        if (l->ops->compute_mask)
            CK_TRY(l->ops->compute_mask(l, in, l->mask, &m->masks[i], &mask));
        /* A mask passed on is only meaningful if the rows are unchanged. */
        if (mask && mask == l->mask && rows_of(in) != rows_of(y))
            mask = NULL;
        m->mask_views[i] = mask;
        in = y;
    }
    m->last_input = *x;
    return CK_OK;
}

ck_status ck_model_backward(ck_model *m, const ck_tensor *dy)
{
    const ck_tensor *cur = dy;
    ck_tensor bufs[2];
    for (int i = m->n_layers - 1; i >= 0; i--) {
        ck_layer *l = m->layers[i];
        const ck_tensor *x = i ? &m->act_views[i - 1] : &m->last_input;
        ck_tensor *dx = NULL;
        if (i > 0) {
            dx = &bufs[i & 1];
            *dx = *x;
            CK_TRY(ck_buf_reserve(&m->grad_bufs[i & 1], ck_tensor_size(x)));
            dx->data = m->grad_bufs[i & 1].data;
        }
        if (!l->ops->backward)
            return ck_error(CK_ERR_UNSUPPORTED, "layer %s (%s) has no backward pass", l->name,
                            l->ops->class_name);
        ck_model_activity_grad(m, i, cur->data);
        CK_TRY(l->ops->backward(l, x, &m->act_views[i], cur, dx));
        cur = dx;
    }
    return CK_OK;
}

/* Checks a batch against the model's input shape: rank, fixed axes, and
 * that every value is finite. */
static ck_status check_input(const ck_model *m, const ck_tensor *x)
{
    const ck_shape *s = &m->input->out_shape;
    char want[96], got[96];
    ck_shape gs = {.rank = x->rank};
    memcpy(gs.dims, x->dims, sizeof gs.dims);
    ck_shape_format(s, want, sizeof want);
    ck_shape_format(&gs, got, sizeof got);
    if (x->rank != s->rank)
        return ck_error(CK_ERR_SHAPE, "model %s expects input of shape %s, got %s", m->name, want,
                        got);
    for (int i = 0; i < x->rank; i++)
        if (x->dims[i] <= 0 || (i > 0 && s->dims[i] > 0 && s->dims[i] != x->dims[i]))
            return ck_error(CK_ERR_SHAPE, "model %s expects input of shape %s, got %s", m->name,
                            want, got);
    size_t n = ck_tensor_size(x);
    if (n == 0)
        return ck_error(CK_ERR_SHAPE, "input shape %s is too large", got);
    size_t bad = ck_vfind_nonfinite(x->data, n);
    if (bad < n)
        return ck_error(CK_ERR_NUMERIC, "input value #%zu is %s", bad,
                        isnan(x->data[bad]) ? "NaN" : "infinite");
    return CK_OK;
}

ck_status ck_model_predict_tensor(ck_model *m, const ck_tensor *x, ck_tensor *y)
{
    if (!m || !x || !y || !x->data || !y->data)
        return ck_error(CK_ERR_ARGUMENT, "ck_model_predict: NULL argument");
    if (x->rank < 1 || x->rank > CK_MAX_RANK)
        return ck_error(CK_ERR_SHAPE, "input rank %d is not between 1 and %d", x->rank,
                        CK_MAX_RANK);
    CK_TRY(ck_model_build(m));
    CK_TRY(check_input(m, x));
    size_t capacity = ck_tensor_size(y);
    int64_t batch = x->dims[0], chunk_size = PREDICT_CHUNK;
    /* Carried state belongs to whole batches: never split them. */
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i]->ops->has_state && m->layers[i]->ops->has_state(m->layers[i]))
            chunk_size = batch;
    size_t in_sample = ck_tensor_size(x) / (size_t)batch, out_sample = 0;
    for (int64_t start = 0; start < batch; start += chunk_size) {
        ck_tensor chunk = *x;
        chunk.dims[0] = batch - start < chunk_size ? batch - start : chunk_size;
        chunk.data = x->data + (size_t)start * in_sample;
        CK_TRY(ck_model_forward(m, &chunk, false));
        const ck_tensor *out = &m->act_views[m->n_layers - 1];
        out_sample = ck_tensor_size(out) / (size_t)chunk.dims[0];
        size_t need;
        if (!ck_size_mul(out_sample, (size_t)batch, &need) || need > capacity)
            return ck_error(CK_ERR_SHAPE, "output buffer holds %zu values but the output needs %zu",
                            capacity, out_sample * (size_t)batch);
        memcpy(y->data + (size_t)start * out_sample, out->data,
               sizeof(float) * out_sample * (size_t)chunk.dims[0]);
        y->rank = out->rank;
        memcpy(y->dims, out->dims, sizeof y->dims);
    }
    y->dims[0] = batch;
    return CK_OK;
}

ck_status ck_model_predict(ck_model *m, const float *x, int64_t batch, float *y)
{
    if (!m || !x || !y)
        return ck_error(CK_ERR_ARGUMENT, "ck_model_predict: NULL argument");
    if (batch <= 0)
        return ck_error(CK_ERR_ARGUMENT, "ck_model_predict: batch must be positive, got %lld",
                        (long long)batch);
    CK_TRY(ck_model_build(m));
    const ck_shape *in = &m->input->out_shape, *out = &m->layers[m->n_layers - 1]->out_shape;
    size_t out_n = ck_shape_sample_size(out);
    if (ck_shape_sample_size(in) == 0 || out_n == 0)
        return ck_error(CK_ERR_SHAPE, "model %s has open input axes; use ck_model_predict_tensor",
                        m->name);
    ck_tensor tx = {.rank = in->rank, .data = (float *)x};
    memcpy(tx.dims, in->dims, sizeof tx.dims);
    tx.dims[0] = batch;
    size_t cap;
    if (!ck_size_mul(out_n, (size_t)batch, &cap) || cap > INT64_MAX)
        return ck_error(CK_ERR_SHAPE, "batch of %lld is too large", (long long)batch);
    ck_tensor ty = {.rank = 1, .dims = {(int64_t)cap}, .data = y};
    return ck_model_predict_tensor(m, &tx, &ty);
}

ck_status ck_model_reset_states(ck_model *m)
{
    if (!m)
        return ck_error(CK_ERR_ARGUMENT, "ck_model_reset_states: model is NULL");
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i]->ops->reset_state)
            m->layers[i]->ops->reset_state(m->layers[i]);
    return CK_OK;
}

const char *ck_model_name(const ck_model *m)
{
    return m ? m->name : "";
}

int ck_model_layer_count(const ck_model *m)
{
    return m ? m->n_layers : 0;
}

ck_layer *ck_model_layer(ck_model *m, int index)
{
    if (!m || index < 0 || index >= m->n_layers) {
        ck_error(CK_ERR_ARGUMENT, "ck_model_layer: no layer #%d", index);
        return NULL;
    }
    return m->layers[index];
}

ck_layer *ck_model_get_layer(ck_model *m, const char *name)
{
    for (int i = 0; m && name && i < m->n_layers; i++)
        if (strcmp(m->layers[i]->name, name) == 0)
            return m->layers[i];
    ck_error(CK_ERR_NAME, "no layer named '%s'", name ? name : "(null)");
    return NULL;
}

/* Counts follow the trainable flags at once, as Keras's do; the parameter
 * layout catches up at the next compile. */
static size_t count_params(const ck_model *m, int which)
{
    size_t n = 0;
    for (int i = 0; m && i < m->n_layers; i++)
        for (int k = 0; k < m->layers[i]->n_weights; k++) {
            const ck_weight *w = &m->layers[i]->weights[k];
            if (which < 0 || (which == 1) == ck_weight_trains(m->layers[i], w))
                n += w->size;
        }
    return n;
}

size_t ck_model_count_params(const ck_model *m)
{
    return count_params(m, -1);
}

size_t ck_model_count_trainable_params(const ck_model *m)
{
    return count_params(m, 1);
}

size_t ck_model_count_non_trainable_params(const ck_model *m)
{
    return count_params(m, 0);
}

static void copy_sample_shape(const ck_shape *s, int *rank, int64_t dims[CK_MAX_RANK])
{
    *rank = s->rank - 1;
    memset(dims, 0, sizeof(int64_t) * CK_MAX_RANK);
    memcpy(dims, s->dims + 1, sizeof(int64_t) * (size_t)(s->rank - 1));
}

ck_status ck_model_input_shape(const ck_model *m, int *rank, int64_t dims[CK_MAX_RANK])
{
    if (!m || !rank || !dims)
        return ck_error(CK_ERR_ARGUMENT, "ck_model_input_shape: NULL argument");
    if (!m->input)
        return ck_error(CK_ERR_STATE, "model %s has no input layer", m->name);
    copy_sample_shape(&m->input->out_shape, rank, dims);
    return CK_OK;
}

ck_status ck_model_output_shape(const ck_model *m, int *rank, int64_t dims[CK_MAX_RANK])
{
    if (!m || !rank || !dims)
        return ck_error(CK_ERR_ARGUMENT, "ck_model_output_shape: NULL argument");
    if (!m->built)
        return ck_error(CK_ERR_STATE, "model %s is not built", m->name);
    copy_sample_shape(&m->layers[m->n_layers - 1]->out_shape, rank, dims);
    return CK_OK;
}

ck_status ck_model_shape_for(const ck_model *m, const ck_shape *in, ck_shape *out)
{
    ck_shape shape = *in;
    for (int i = 0; i < m->n_layers; i++) {
        ck_shape next;
        CK_TRY(m->layers[i]->ops->output_shape(m->layers[i], &shape, &next));
        shape = next;
    }
    *out = shape;
    return CK_OK;
}

ck_status ck_model_compute_output_shape(const ck_model *m, int rank, const int64_t *dims,
                                        int *out_rank, int64_t out_dims[CK_MAX_RANK])
{
    if (!m || !dims || !out_rank || !out_dims)
        return ck_error(CK_ERR_ARGUMENT, "ck_model_compute_output_shape: NULL argument");
    if (!m->built)
        return ck_error(CK_ERR_STATE, "model %s is not built", m->name);
    if (rank < 1 || rank > CK_MAX_RANK)
        return ck_error(CK_ERR_SHAPE, "ck_model_compute_output_shape: rank %d is not in 1..%d",
                        rank, CK_MAX_RANK);
    ck_shape in = {.rank = rank}, out;
    memcpy(in.dims, dims, (size_t)rank * sizeof *dims);
    CK_TRY(ck_model_shape_for(m, &in, &out));
    *out_rank = out.rank;
    memcpy(out_dims, out.dims, sizeof out.dims);
    return CK_OK;
}

ck_keras_semantics ck_model_semantics(const ck_model *m)
{
    return m ? m->semantics : CK_KERAS2;
}

ck_status ck_model_set_seed(ck_model *m, uint64_t seed)
{
    if (!m)
        return ck_error(CK_ERR_ARGUMENT, "ck_model_set_seed: model is NULL");
    m->seed = seed;
    ck_rng_seed(&m->rng, seed);
    return CK_OK;
}
