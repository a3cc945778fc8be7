/* The Sequential model: owns the layers and one contiguous parameter array
 * (with a matching gradient array), and only walks the layers. */
#include "ck_blas.h"
#include "ck_internal.h"
#include "ck_vmath.h"

#include <math.h>
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

static void release_buffers(ck_model *m)
{
    for (int i = 0; m->acts && i < m->n_layers; i++)
        ck_buf_free(&m->acts[i]);
    for (int i = 0; m->masks && i < m->n_layers; i++)
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
    /* Freeing a model another call still uses would pull it from under
     * that call; it stays allocated instead (a leak, not a crash). */
    if (ck_model_busy(m)) {
        ck_error(CK_ERR_STATE, "ck_model_free: model %s is in use and was not freed", m->name);
        return;
    }
    for (int i = 0; i < m->guard.n_spares; i++)
        ck_model_free(m->guard.spares[i]);
    free(m->guard.spares);
    ck_guard_destroy(&m->guard);
    ck_model_set_train(m, NULL, NULL);
    release_buffers(m);
    for (int i = 0; i < m->n_layers; i++)
        ck_layer_free(m->layers[i]);
    ck_layer_free(m->input);
    free(m->layers);
    free(m->params);
    free(m->grads);
    free(m);
}

void ck_model_set_train(ck_model *m, void *state, const ck_train_hooks *hooks)
{
    if (m->train)
        m->train_hooks->free(m->train);
    m->train = state;
    m->train_hooks = hooks;
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
    if (m->built) {
        ck_layer_free(l);
        return ck_error(CK_ERR_STATE, "model %s is already built; add layers before building",
                        m->name);
    }
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
    return CK_OK;
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
    ck_model_leave(m, CK_ACCESS_CHANGE);
    return st;
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
    /* Checked before anything is allocated: a few bytes of hostile config
     * can declare gigabytes of weights. */
    uint64_t limit = ck_limit_get(CK_LIMIT_MODEL_BYTES);
    if (total > limit / sizeof(float))
        return ck_error(
            CK_ERR_MEMORY,
            "model %s declares %zu weights (%llu bytes), more than CK_LIMIT_MODEL_BYTES "
            "(%llu bytes)",
            m->name, total, (unsigned long long)total * sizeof(float), (unsigned long long)limit);
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

static ck_status init_params(ck_model *m)
{
    for (int i = 0; i < m->n_layers; i++) {
        ck_layer *l = m->layers[i];
        for (int k = 0; k < l->n_weights; k++) {
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

static ck_status build(ck_model *m)
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
    /* A failed build must leave no trace, the RNG position included, so a
     * retry gives the same weights as a first-time build. */
    CK_TRY(ck_blas_ready());
    ck_rng rng_before = m->rng;
    ck_status st = infer_shapes(m);
    if (st == CK_OK)
        st = allocate_params(m);
    if (st == CK_OK)
        st = init_params(m);
    if (st == CK_OK) {
        m->acts = ck_alloc((size_t)m->n_layers, sizeof *m->acts);
        m->act_views = m->acts ? ck_alloc((size_t)m->n_layers, sizeof *m->act_views) : NULL;
        m->masks = m->act_views ? ck_alloc((size_t)m->n_layers, sizeof *m->masks) : NULL;
        m->mask_views = m->masks ? ck_alloc((size_t)m->n_layers, sizeof *m->mask_views) : NULL;
        st = m->mask_views ? CK_OK : CK_ERR_MEMORY;
    }
    if (st != CK_OK) {
        unbuild(m);
        m->rng = rng_before;
        return st;
    }
    pthread_mutex_lock(&m->guard.lock);
    m->built = true;
    pthread_mutex_unlock(&m->guard.lock);
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
    ck_model_leave(m, CK_ACCESS_CHANGE);
    return st;
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
    CK_TRY(ck_blas_ready());
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

/* ---------------- workspaces for concurrent predicts ---------------- */

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

/* A copy of m's layers with their own buffers: what a predict runs on
 * while another predict uses m's. Its weights are copied from m. */
static ck_status make_spare(ck_model *m, ck_model **out)
{
    ck_model *r = ck_sequential(.name = m->name, .seed = m->seed, .semantics = m->semantics);
    ck_status st = r ? CK_OK : CK_ERR_MEMORY;
    for (int i = -1; st == CK_OK && i < m->n_layers; i++) {
        ck_layer *l = i < 0 ? m->input : m->layers[i];
        st = add_layer(r, ck_layer_clone(l, m->semantics));
    }
    if (st == CK_OK)
        st = build(r);
    if (st == CK_OK && r->n_params != m->n_params)
        st = ck_error(CK_ERR_STATE, "model %s: a copy of its layers has another weight layout",
                      m->name);
    if (st != CK_OK) {
        ck_model_free(r);
        return st;
    }
    *out = r;
    return CK_OK;
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
    unsigned long generation = g->generation;
    pthread_mutex_unlock(&g->lock);
    if (st != CK_OK || *ws == m)
        return st;
    if (!spare) {
        CK_TRY(make_spare(m, &spare));
        spare->copied = generation - 1;
    }
    if (spare->copied != generation) {
        memcpy(spare->params, m->params, sizeof(float) * m->n_params);
        spare->copied = generation;
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

/* Runs ws (m or one of its spares) over x in chunks into y. */
static ck_status predict_chunks(ck_model *ws, const ck_tensor *x, ck_tensor *y)
{
    size_t capacity = ck_tensor_size(y);
    int64_t batch = x->dims[0], chunk_size = PREDICT_CHUNK;
    /* Carried state belongs to whole batches: never split them. */
    if (carries_state(ws))
        chunk_size = batch;
    size_t in_sample = ck_tensor_size(x) / (size_t)batch, out_sample = 0;
    for (int64_t start = 0; start < batch; start += chunk_size) {
        ck_tensor chunk = *x;
        chunk.dims[0] = batch - start < chunk_size ? batch - start : chunk_size;
        chunk.data = x->data + (size_t)start * in_sample;
        CK_TRY(ck_model_forward(ws, &chunk, false));
        const ck_tensor *out = &ws->act_views[ws->n_layers - 1];
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
    ck_model_leave(m, CK_ACCESS_READ);
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
    ck_model_leave(m, CK_ACCESS_UPDATE);
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

static size_t count_params(const ck_model *m, int which)
{
    size_t n = 0;
    for (int i = 0; m && i < m->n_layers; i++)
        for (int k = 0; k < m->layers[i]->n_weights; k++) {
            const ck_weight *w = &m->layers[i]->weights[k];
            if (which < 0 || (which == 1) == w->trainable)
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
