/* The Sequential model: owns the layers and one contiguous parameter array
 * (with a matching gradient array), and only walks the layers. */
#include "ck_blas.h"
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
    ck_guard_init(&m->guard);
    m->seed = o.seed;
    m->semantics = o.semantics;
    ck_rng_seed(&m->rng, o.seed);
    return m;
}

/* Spare workspaces (see take_workspace) have the layout of the model they
 * were made for: every release of its buffers (free, rebuilds) drops them.
 * Only calls that have the model to themselves get here, so none is in use. */
static void drop_spares(ck_guard *g)
{
    for (int i = 0; i < g->n_spares; i++)
        ck_model_free(g->spares[i]);
    free(g->spares);
    g->spares = NULL;
    g->n_spares = g->cap_spares = 0;
}

static void release_buffers(ck_model *m)
{
    drop_spares(&m->guard);
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
    ck_buf_free(&m->input_cast);
    ck_buf_free(&m->grad_bufs[0]);
    ck_buf_free(&m->grad_bufs[1]);
}

void ck_model_free(ck_model *m)
{
    if (!m)
        return;
    /* Freeing a model another call still uses would pull it from under
     * that call; it stays allocated instead (a leak, not a crash). */
    if (ck_model_busy(m)) {
        ck_error(CK_ERR_STATE, "ck_model_free: model %s is in use and was not freed", m->name);
        return;
    }
    ck_model_set_train(m, NULL, NULL);
    release_buffers(m);
    ck_guard_destroy(&m->guard);
    for (int i = 0; i < m->n_layers; i++)
        ck_layer_free(m->layers[i]);
    ck_layer_free(m->input);
    free(m->layers);
    ck_free_zeroed(m->params, m->n_params, sizeof(float));
    ck_free_zeroed(m->grads, m->n_params, sizeof(float));
    free(m->warnings);
    free(m->graph_rows);
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
    char text[1024], line[4 * sizeof text];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    ck_escape_controls(text, line, sizeof line);
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

int ck_model_keras_release(const ck_model *m, bool *tf_keras)
{
    int major, minor;
    *tf_keras = m && strstr(m->keras_version, "-tf");
    if (!m || sscanf(m->keras_version, "%d.%d", &major, &minor) != 2 || major < 0 || minor < 0 ||
        major > 99 || minor > 99)
        return 0;
    return major * 100 + minor;
}

bool ck_model_from_standalone_keras2(const ck_model *m)
{
    bool tf_keras;
    int release = ck_model_keras_release(m, &tf_keras);
    return release >= 200 && release <= 203 && !tf_keras;
}

bool ck_model_standalone_keras_below(const ck_model *m, int major, int minor, int patch)
{
    int v[3];
    if (strstr(m->keras_version, "-tf") ||
        sscanf(m->keras_version, "%d.%d.%d", &v[0], &v[1], &v[2]) != 3)
        return false;
    int want[3] = {major, minor, patch};
    for (int i = 0; i < 3; i++)
        if (v[i] != want[i])
            return v[i] < want[i];
    return false;
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

/* Keras 3's graph rows of a loaded Functional model stop describing it
 * once a layer is added or removed. */
static void forget_graph(ck_model *m)
{
    free(m->graph_rows);
    m->graph_rows = NULL;
    m->n_graph_rows = 0;
}

static ck_status add_layer(ck_model *m, ck_layer *l)
{
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
    forget_graph(m);
    return m->built ? add_to_built(m, l) : CK_OK;
}

ck_status ck_model_add(ck_model *m, ck_layer *l)
{
    if (!m) {
        ck_layer_free(l);
        return ck_error(CK_ERR_ARGUMENT, "ck_model_add: model is NULL");
    }
    if (ck_model_enter(m, CK_ACCESS_CHANGE, "ck_model_add") != CK_OK) {
        /* Not freed when it belongs to a model: that model owns it. */
        if (l && !l->model)
            ck_layer_free(l);
        return CK_ERR_STATE;
    }
    ck_status st = add_layer(m, l);
    ck_model_leave(m);
    return st;
}

static void unbuild(ck_model *m)
{
    for (int i = 0; i < m->n_layers; i++) {
        m->layers[i]->built = false;
        m->layers[i]->n_weights = 0;
    }
    release_buffers(m);
    ck_free_zeroed(m->params, m->n_params, sizeof(float));
    ck_free_zeroed(m->grads, m->n_params, sizeof(float));
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
    /* Checked before anything is allocated: a few bytes of hostile config
     * can declare gigabytes of weights. */
    if (m->skip_init && m->source_bytes &&
        total / CK_DEFLATE_MAX_RATIO > m->source_bytes / sizeof(float))
        return ck_error(CK_ERR_FORMAT,
                        "model %s declares %zu weights (%llu bytes), more than its file of %llu "
                        "bytes can hold, even compressed",
                        m->name, total, (unsigned long long)total * sizeof(float),
                        (unsigned long long)m->source_bytes);
    uint64_t limit = ck_limit_get(CK_LIMIT_MODEL_BYTES);
    if (total > limit / sizeof(float))
        return ck_error(
            CK_ERR_MEMORY,
            "model %s declares %zu weights (%llu bytes), more than CK_LIMIT_MODEL_BYTES "
            "(%llu bytes)",
            m->name, total, (unsigned long long)total * sizeof(float), (unsigned long long)limit);
    /* Zeroed untouched: the gradients of a model that only predicts are
     * never written. */
    m->params = ck_alloc_zeroed(total, sizeof(float));
    m->grads = m->params ? ck_alloc_zeroed(total, sizeof(float)) : NULL;
    m->n_params = total;
    if (!m->grads)
        return CK_ERR_MEMORY;
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

static ck_status build(ck_model *m)
{
    CK_TRY(check_buildable(m));
    CK_TRY(ck_blas_ready());
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
    pthread_mutex_lock(&m->guard.lock);
    m->built = true;
    /* Only the weights of the first build come from a file. */
    m->skip_init = false;
    pthread_mutex_unlock(&m->guard.lock);
    ck_model_weights_changed(m);
    return CK_OK;
}

/* Read under the guard's lock: another thread may be building. */
static bool built_now(ck_model *m)
{
    pthread_mutex_lock(&m->guard.lock);
    bool built = m->built;
    pthread_mutex_unlock(&m->guard.lock);
    return built;
}

ck_status ck_model_build(ck_model *m)
{
    if (!m)
        return ck_error(CK_ERR_ARGUMENT, "ck_model_build: model is NULL");
    if (built_now(m))
        return CK_OK;
    CK_TRY(ck_model_enter(m, CK_ACCESS_CHANGE, "ck_model_build"));
    ck_status st = m->built ? CK_OK : build(m);
    ck_model_leave(m);
    return st;
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
        ck_free_zeroed(s->params, s->n_params, sizeof(float));
        ck_free_zeroed(s->grads, s->n_params, sizeof(float));
    }
    free(s->values);
    free(s->layers);
}

static void roll_back(ck_model *m, model_state *s)
{
    release_buffers(m);
    ck_free_zeroed(m->params, m->n_params, sizeof(float));
    ck_free_zeroed(m->grads, m->n_params, sizeof(float));
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

static ck_status pop_layer(ck_model *m)
{
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
    forget_graph(m);
    return CK_OK;
}

ck_status ck_model_pop(ck_model *m)
{
    if (!m)
        return ck_error(CK_ERR_ARGUMENT, "ck_model_pop: model is NULL");
    ck_status st;
    CK_GUARDED(st, m, CK_ACCESS_CHANGE, "ck_model_pop", pop_layer(m));
    return st;
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
    return ck_model_forward_to(m, x, training, NULL, 0);
}

ck_status ck_model_forward_to(ck_model *m, const ck_tensor *x, bool training, float *out,
                              size_t out_cap)
{
    CK_TRY(ck_blas_ready());
    ck_run_ctx ctx = {.training = training, .rng = &m->rng};
    const ck_tensor *in = x;
    const float *mask = NULL;
    /* An InputLayer runs only when it casts what is fed to its dtype. */
    ck_tensor cast = *x;
    if (m->input && m->input->ops->forward) {
        CK_TRY(ck_buf_reserve(&m->input_cast, ck_tensor_size(x)));
        cast.data = m->input_cast.data;
        CK_TRY(m->input->ops->forward(m->input, x, &cast, &ctx));
        in = &cast;
    }
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
        if (out && i == m->n_layers - 1 && n <= out_cap) {
            y->data = out;
        } else {
            CK_TRY(ck_buf_reserve(&m->acts[i], n));
            y->data = m->acts[i].data;
        }
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
    m->last_input = cast;
    return CK_OK;
}

ck_status ck_model_backward(ck_model *m, const ck_tensor *dy)
{
    return ck_model_backward_each(m, dy, NULL, NULL);
}

ck_status ck_model_backward_each(ck_model *m, const ck_tensor *dy,
                                 ck_status (*done)(void *ctx, int layer), void *ctx)
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
        if (done)
            CK_TRY(done(ctx, i));
        cur = dx;
    }
    return CK_OK;
}

/* True when outputs depend on state carried between calls, or a layer
 * keeps its final state for reading (return_state): such a model predicts
 * with its own layers only, one call at a time. */
static bool carries_state(const ck_model *m)
{
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i]->ops->has_state && m->layers[i]->ops->has_state(m->layers[i]))
            return true;
    return false;
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
    /* Keras keeps a stateful layer's state as (batch_size, units) variables:
     * another batch cannot continue it. */
    if (s->dims[0] > 0 && x->dims[0] != s->dims[0] && carries_state(m))
        return ck_error(CK_ERR_SHAPE,
                        "model %s carries state between batches of %lld (its input's batch "
                        "size), got a batch of %lld",
                        m->name, (long long)s->dims[0], (long long)x->dims[0]);
    size_t n = ck_tensor_size(x);
    if (n == 0)
        return ck_error(CK_ERR_SHAPE, "input shape %s is too large", got);
    size_t bad = ck_vfind_nonfinite_par(x->data, n);
    if (bad < n)
        return ck_error(CK_ERR_NUMERIC, "input value #%zu is %s", bad,
                        isnan(x->data[bad]) ? "NaN" : "infinite");
    return CK_OK;
}

/* ---------------- workspaces for concurrent predicts ---------------- */

static bool same_weights(const ck_layer *a, const ck_layer *b)
{
    if (a->n_weights != b->n_weights)
        return false;
    for (int k = 0; k < a->n_weights; k++)
        if (a->weights[k].size != b->weights[k].size)
            return false;
    return true;
}

/* A copy of m's layers with their own buffers: what a predict runs on
 * while another predict uses m's. Its weights are copied from m. */
static ck_status make_spare(ck_model *m, ck_model **out)
{
    ck_model *r = ck_sequential(.name = m->name, .seed = m->seed, .semantics = m->semantics);
    ck_status st = r ? CK_OK : CK_ERR_MEMORY;
    /* The writer's version picks version-dependent behaviour too. */
    if (r)
        memcpy(r->keras_version, m->keras_version, sizeof r->keras_version);
    /* m's weights overwrite whatever the initializers would draw. */
    if (r)
        r->skip_init = true;
    for (int i = -1; st == CK_OK && i < m->n_layers; i++) {
        ck_layer *l = i < 0 ? m->input : m->layers[i];
        st = add_layer(r, ck_layer_clone(l, m->semantics));
    }
    if (st == CK_OK)
        st = build(r);
    for (int i = 0; st == CK_OK && i < m->n_layers; i++)
        if (!same_weights(r->layers[i], m->layers[i]))
            st = ck_error(CK_ERR_STATE, "model %s: a copy of layer %s has other weights", m->name,
                          m->layers[i]->name);
    if (st != CK_OK) {
        ck_model_free(r);
        return st;
    }
    *out = r;
    return CK_OK;
}

/* Weight by weight: m's parameter array may still have the layout of
 * trainable flags changed since (it follows them at the next compile). */
static void copy_weights(ck_model *spare, const ck_model *m)
{
    for (int i = 0; i < m->n_layers; i++)
        for (int k = 0; k < m->layers[i]->n_weights; k++)
            memcpy(spare->layers[i]->weights[k].data, m->layers[i]->weights[k].data,
                   sizeof(float) * m->layers[i]->weights[k].size);
    ck_model_weights_changed(spare);
}

/* The buffers a predict runs on: m's own when free (or when m carries
 * state), else an idle spare, else a new one. */
static ck_status take_workspace(ck_model *m, ck_model **ws)
{
    ck_guard *g = &m->guard;
    bool stateful = carries_state(m);
    pthread_mutex_lock(&g->lock);
    /* On the thread that owns m (a fit callback), m's buffers are fit's. */
    bool owner = g->depth > 0 && pthread_equal(g->owner, pthread_self());
    ck_model *spare = NULL;
    ck_status st = CK_OK;
    if (!g->primary_busy && !owner) {
        g->primary_busy = true;
        *ws = m;
    } else if (stateful) {
        *ws = m;
        if (!owner)
            st = ck_error(CK_ERR_STATE,
                          "model %s carries state between calls (a stateful or return_state layer, "
                          "or an initial state): predict with it from one thread at a time",
                          m->name);
    } else if (g->n_spares > 0) {
        spare = g->spares[--g->n_spares];
    }
    pthread_mutex_unlock(&g->lock);
    if (st != CK_OK || *ws == m)
        return st;
    if (!spare) {
        CK_TRY(make_spare(m, &spare));
        spare->copied = 0;
    }
    unsigned long version = atomic_load(&m->weights_version);
    if (spare->copied != version) {
        copy_weights(spare, m);
        spare->copied = version;
    }
    *ws = spare;
    return CK_OK;
}

static void give_back_workspace(ck_model *m, ck_model *ws)
{
    ck_guard *g = &m->guard;
    pthread_mutex_lock(&g->lock);
    bool keep = true;
    if (ws == m) {
        bool owner = g->depth > 0 && pthread_equal(g->owner, pthread_self());
        g->primary_busy = g->primary_busy && owner;
    } else if (g->n_spares == g->cap_spares) {
        int cap = g->cap_spares ? 2 * g->cap_spares : 4;
        ck_model **p = ck_realloc_array(g->spares, (size_t)cap, sizeof *p);
        keep = p != NULL;
        if (p) {
            g->spares = p;
            g->cap_spares = cap;
        }
    }
    if (ws != m && keep)
        g->spares[g->n_spares++] = ws;
    pthread_mutex_unlock(&g->lock);
    if (!keep)
        ck_model_free(ws);
}

static bool overlaps(const float *a, size_t na, const float *b, size_t nb)
{
    return (uintptr_t)a < (uintptr_t)(b + nb) && (uintptr_t)b < (uintptr_t)(a + na);
}

/* One chunk of x (samples from `start`) into y. The last layer writes into
 * y itself (W3's 13 MB output is then not copied again), unless y overlaps
 * x, whose later rows the layers may still have to read. *out_sample is
 * known from the second chunk on (the first starts at 0). */
static ck_status forward_chunk(ck_model *ws, const ck_tensor *x, const ck_tensor *chunk,
                               int64_t start, ck_tensor *y, size_t capacity, size_t *out_sample)
{
    size_t at = (size_t)start * *out_sample;
    bool direct = at <= capacity && !overlaps(y->data, capacity, x->data, ck_tensor_size(x));
    CK_TRY(ck_model_forward_to(ws, chunk, false, direct ? y->data + at : NULL,
                               direct ? capacity - at : 0));
    const ck_tensor *out = &ws->act_views[ws->n_layers - 1];
    *out_sample = ck_tensor_size(out) / (size_t)chunk->dims[0];
    size_t need;
    if (!ck_size_mul(*out_sample, (size_t)x->dims[0], &need) || need > capacity)
        return ck_error(CK_ERR_SHAPE, "output buffer holds %zu values but the output needs %zu",
                        capacity, *out_sample * (size_t)x->dims[0]);
    if (out->data != y->data + at)
        memcpy(y->data + at, out->data, sizeof(float) * ck_tensor_size(out));
    y->rank = out->rank;
    memcpy(y->dims, out->dims, sizeof y->dims);
    return CK_OK;
}

/* Runs ws (m or one of its spares) over x in chunks into y. */
static ck_status predict_chunks(ck_model *ws, const ck_tensor *x, ck_tensor *y)
{
    size_t capacity = ck_tensor_size(y);
    int64_t batch = x->dims[0], chunk_size = PREDICT_CHUNK;
    /* Carried state belongs to whole batches: never split them. */
    if (carries_state(ws))
        chunk_size = batch;
    size_t in_sample = ck_tensor_size(x) / (size_t)batch, out_sample = 0;
    ck_status st = CK_OK;
    for (int64_t start = 0; st == CK_OK && start < batch; start += chunk_size) {
        ck_tensor chunk = *x;
        chunk.dims[0] = batch - start < chunk_size ? batch - start : chunk_size;
        chunk.data = x->data + (size_t)start * in_sample;
        st = forward_chunk(ws, x, &chunk, start, y, capacity, &out_sample);
    }
    /* The last layer's view must not keep pointing at the caller's array. */
    ws->act_views[ws->n_layers - 1].data = ws->acts[ws->n_layers - 1].data;
    if (st == CK_OK)
        y->dims[0] = batch;
    return st;
}

ck_status ck_model_predict_tensor(ck_model *m, const ck_tensor *x, ck_tensor *y)
{
    if (!m || !x || !y || !x->data || !y->data)
        return ck_error(CK_ERR_ARGUMENT, "ck_model_predict: NULL argument");
    if (x->rank < 1 || x->rank > CK_MAX_RANK)
        return ck_error(CK_ERR_SHAPE, "input rank %d is not between 1 and %d", x->rank,
                        CK_MAX_RANK);
    CK_TRY(ck_model_build(m));
    CK_TRY(ck_model_enter(m, CK_ACCESS_READ, "ck_model_predict"));
    ck_model *ws = NULL;
    ck_status st = check_input(m, x);
    if (st == CK_OK)
        st = take_workspace(m, &ws);
    if (st == CK_OK) {
        st = predict_chunks(ws, x, y);
        give_back_workspace(m, ws);
    }
    ck_model_leave(m);
    return st;
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
    CK_TRY(ck_model_enter(m, CK_ACCESS_UPDATE, "ck_model_reset_states"));
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i]->ops->reset_state)
            m->layers[i]->ops->reset_state(m->layers[i]);
    ck_model_leave(m);
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

int64_t ck_model_input_batch_size(const ck_model *m)
{
    return m && m->input && m->input->out_shape.dims[0] > 0 ? m->input->out_shape.dims[0] : 0;
}

int64_t ck_model_state_batch(const ck_model *m)
{
    return carries_state(m) ? ck_model_input_batch_size(m) : 0;
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
    CK_TRY(ck_model_enter(m, CK_ACCESS_UPDATE, "ck_model_set_seed"));
    m->seed = seed;
    ck_rng_seed(&m->rng, seed);
    ck_model_leave(m);
    return CK_OK;
}
