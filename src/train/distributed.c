/* Data-parallel training (docs/distributed.md), Horovod's and DDP's
 * synchronous scheme: every rank shuffles alike, takes its slice of each
 * global batch, and the gradients are summed across ranks (weighted so the
 * sum is the gradient of the global batch mean) before the same optimizer
 * step on every rank.
 *
 * Every agreement between ranks is one sum of the same number of doubles
 * (failures, stop requests, a payload). A rank that fails takes its
 * failure to the next agreement it reaches, whichever that is, so the
 * other ranks learn of it there and every rank ends with the same error
 * naming the failed rank instead of waiting for it forever. */
#include "ck_dist.h"

#include <stdlib.h>
#include <string.h>

bool ck_mpi_launched(void)
{
    /* Open MPI, then the PMI(x) variables MPICH, Slurm and others set. */
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i]))
            return true;
    return false;
}

/* ------------------------------------------------------------ failures */

typedef struct rank_report {
    int status;
    char message[500];
} rank_report;

/* Once every rank knows some rank failed: the lowest failed rank's status
 * and message become every rank's error. */
static ck_status share_failure(ck_comm *c, ck_status st, const char *message)
{
    int size = ck_comm_size(c);
    rank_report mine = {.status = (int)st};
    if (st != CK_OK)
        snprintf(mine.message, sizeof mine.message, "%s", message ? message : ck_last_error());
    rank_report *all = ck_alloc((size_t)size, sizeof *all);
    if (!all)
        return CK_ERR_MEMORY;
    ck_status got = ck_comm_gather_all(c, &mine, all, sizeof mine);
    int r = 0, failed = 0;
    for (int k = 0; got == CK_OK && k < size; k++)
        failed += all[k].status != CK_OK;
    while (got == CK_OK && r < size - 1 && all[r].status == CK_OK)
        r++;
    /* Every rank failing (a non-finite global loss) is no one rank's fault. */
    if (got == CK_OK && size > 1 && failed == size)
        got = ck_error((ck_status)all[0].status, "all %d ranks: %s", size, all[0].message);
    else if (got == CK_OK)
        got = ck_error((ck_status)all[r].status, "rank %d of %d: %s", r, size, all[r].message);
    free(all);
    return got;
}

ck_status ck_comm_agree(ck_comm *c, ck_status st, const char *message)
{
    if (!c)
        return st;
    double failed = st != CK_OK;
    CK_TRY(ck_comm_sum(c, &failed, 1));
    return failed > 0 ? share_failure(c, st, message) : CK_OK;
}

ck_status ck_dist_agree(ck_dist *d, ck_status st, bool *stop, double *v, size_t n)
{
    if (d->settled)
        return st;
    double *b = d->buf;
    memset(b, 0, (2 + d->n_agree) * sizeof *b);
    b[0] = st != CK_OK;
    b[1] = stop && *stop;
    if (n)
        memcpy(b + 2, v, n * sizeof *v);
    ck_status got = ck_comm_sum(d->comm, b, 2 + d->n_agree);
    if (got != CK_OK || b[0] > 0) {
        d->settled = true;
        return got != CK_OK ? got : share_failure(d->comm, st, NULL);
    }
    if (stop)
        *stop = b[1] > 0;
    if (n)
        memcpy(v, b + 2, n * sizeof *v);
    return CK_OK;
}

/* ------------------------------------------------------------ the start */

/* FNV-1a, 64 bits: a checksum to compare ranks, not a defence. */
static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t hash_text(uint64_t h, const char *s)
{
    return hash_bytes(h, s, strlen(s) + 1);
}

#define HASH_START 0xcbf29ce484222325ull

/* The architecture (classes, names, shapes, weights) and the compile
 * settings: what makes two ranks train the same model. */
static ck_status config_hash(const ck_model *m, uint64_t *out)
{
    uint64_t h = HASH_START;
    for (int i = 0; i < m->n_layers; i++) {
        const ck_layer *l = m->layers[i];
        h = hash_text(hash_text(h, l->ops->class_name), l->name);
        h = hash_bytes(h, l->out_shape.dims, (size_t)l->out_shape.rank * sizeof(int64_t));
        for (int k = 0; k < l->n_weights; k++) {
            const ck_weight *w = &l->weights[k];
            h = hash_text(h, w->name);
            h = hash_bytes(h, w->dims, (size_t)w->rank * sizeof w->dims[0]);
            h = hash_bytes(h, &w->trainable, sizeof w->trainable);
        }
    }
    cJSON *json = ck_train_config_to_json(m);
    char *text = json ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    if (!text)
        return ck_error(CK_ERR_MEMORY, "ck_model_fit: cannot write the training configuration");
    *out = hash_text(h, text);
    cJSON_free(text);
    return CK_OK;
}

/* The weights and the optimizer's state, where training resumes from. */
static uint64_t weights_hash(const ck_model *m, const ck_train_state *s)
{
    uint64_t h = hash_bytes(HASH_START, m->params, m->n_params * sizeof *m->params);
    const ck_optimizer *o = &s->opt;
    h = hash_bytes(h, &o->iterations, sizeof o->iterations);
    if (o->created && o->state)
        h = hash_bytes(h, o->state, (size_t)o->n_slots * m->n_trainable * sizeof *o->state);
    return h;
}

/* Whether a layer's config, wrapped layers included, asks for
 * "synchronized": true (Keras's BatchNormalization over all replicas). */
static bool asks_synchronized(const cJSON *cfg)
{
    const cJSON *v;
    cJSON_ArrayForEach(v, cfg)
    {
        if (v->string && strcmp(v->string, "synchronized") == 0 && cJSON_IsTrue(v))
            return true;
        if (cJSON_IsObject(v) && asks_synchronized(v))
            return true;
    }
    return false;
}

/* Keras's synchronized batch statistics are over the global batch; each
 * rank here would normalize by its own slice and train other weights. */
static ck_status refuse_synchronized(const ck_model *m)
{
    for (int i = 0; i < m->n_layers; i++) {
        cJSON *cfg = cJSON_CreateObject();
        ck_status st = cfg ? ck_layer_get_config(m->layers[i], cfg)
                           : ck_error(CK_ERR_MEMORY, "out of memory");
        bool sync = st == CK_OK && asks_synchronized(cfg);
        cJSON_Delete(cfg);
        CK_TRY(st);
        if (sync)
            return ck_error(CK_ERR_UNSUPPORTED,
                            "ck_model_fit: layer '%s' has synchronized=True (batch statistics "
                            "over all replicas); data-parallel training computes them per rank",
                            m->layers[i]->name);
    }
    return CK_OK;
}

#define MAX_SIZES 8

typedef struct start_record {
    uint64_t config, weights;
    uint64_t sizes[MAX_SIZES];
} start_record;

static const char *const size_names[MAX_SIZES] = {"training samples", "validation samples",
                                                  "batch size",       "epochs",
                                                  "initial epoch",    "metric state",
                                                  "shuffle",          "verbose"};

/* Every rank against rank 0; the same verdict on every rank. */
static ck_status compare_ranks(const start_record *all, int size, int n_sizes)
{
    for (int r = 1; r < size; r++) {
        if (all[r].config != all[0].config)
            return ck_error(CK_ERR_STATE,
                            "ck_model_fit: rank %d of %d has another model than rank 0 (the "
                            "configuration or compile settings differ: checksum %016llx against "
                            "%016llx); every rank must load the same model",
                            r, size, (unsigned long long)all[r].config,
                            (unsigned long long)all[0].config);
        if (all[r].weights != all[0].weights)
            return ck_error(CK_ERR_STATE,
                            "ck_model_fit: rank %d of %d starts from other weights than rank 0 "
                            "(checksum %016llx against %016llx); load the same file everywhere or "
                            "build with the same seed",
                            r, size, (unsigned long long)all[r].weights,
                            (unsigned long long)all[0].weights);
        for (int k = 0; k < n_sizes; k++)
            if (all[r].sizes[k] != all[0].sizes[k])
                return ck_error(CK_ERR_STATE,
                                "ck_model_fit: rank %d of %d has %llu %s, rank 0 has %llu; every "
                                "rank must fit the same data with the same options",
                                r, size, (unsigned long long)all[r].sizes[k], size_names[k],
                                (unsigned long long)all[0].sizes[k]);
    }
    return CK_OK;
}

static ck_status check_ranks(ck_dist *d, ck_model *m, ck_train_state *s, const size_t *sizes,
                             int n_sizes)
{
    start_record mine = {.weights = weights_hash(m, s)};
    for (int k = 0; k < n_sizes; k++)
        mine.sizes[k] = sizes[k];
    ck_status st = config_hash(m, &mine.config);
    start_record *all = ck_alloc((size_t)d->size, sizeof *all);
    if (!all)
        st = CK_ERR_MEMORY;
    /* Hashing and allocating can fail on one rank alone. */
    st = ck_comm_agree(d->comm, st, NULL);
    if (st == CK_OK)
        st = ck_comm_gather_all(d->comm, &mine, all, sizeof mine);
    if (st == CK_OK)
        st = compare_ranks(all, d->size, n_sizes);
    free(all);
    return st;
}

/* Big enough that a bucket is worth a message, small enough that the
 * flagship's 800 KB of gradients make several. */
#define DEFAULT_BUCKET_BYTES (256 * 1024)

ck_status ck_dist_begin(ck_dist *d, ck_comm *c, ck_status st, size_t n_state, size_t bucket_bytes)
{
    *d = (ck_dist){.comm = c,
                   .rank = ck_comm_rank(c),
                   .size = ck_comm_size(c),
                   .bucket_bytes = bucket_bytes ? bucket_bytes : DEFAULT_BUCKET_BYTES};
    /* Enough for a batch's loss, samples and totals, or a validation's totals. */
    d->n_agree = 2 + 2 + n_state;
    if (st == CK_OK && !(d->buf = ck_alloc(2 + 2 * d->n_agree, sizeof *d->buf)))
        st = CK_ERR_MEMORY;
    return st;
}

ck_status ck_dist_start(ck_dist *d, ck_comm *c, ck_model *m, ck_train_state *s, ck_status st,
                        const size_t *sizes, int n_sizes, size_t n_state, size_t bucket_bytes)
{
    if (n_sizes > MAX_SIZES)
        st = ck_error(CK_ERR_ARGUMENT, "ck_dist_start: %d sizes", n_sizes);
    if (st == CK_OK && ck_comm_size(c) > 1)
        st = refuse_synchronized(m);
    ck_status got = ck_comm_agree(c, ck_dist_begin(d, c, st, n_state, bucket_bytes), NULL);
    if (got == CK_OK)
        got = check_ranks(d, m, s, sizes, n_sizes);
    d->order = m->rng;
    if (got == CK_OK)
        got = ck_comm_broadcast(c, &d->order, sizeof d->order);
    /* A failed start is every rank's verdict: nothing is left to agree on. */
    d->settled = got != CK_OK;
    return got;
}

void ck_dist_free(ck_dist *d)
{
    ck_totals_free(&d->sum);
    free(d->buf);
    d->buf = NULL;
}

/* After each rank's own preparation (status st): rank 0's weights to all. */
static ck_status broadcast_weights(ck_model *m, ck_comm *c, ck_status st)
{
    int size = ck_comm_size(c);
    uint64_t mine = st == CK_OK ? m->n_params : 0, *all = ck_alloc((size_t)size, sizeof *all);
    if (!all && st == CK_OK)
        st = CK_ERR_MEMORY;
    st = ck_comm_agree(c, st, NULL);
    if (st == CK_OK)
        st = ck_comm_gather_all(c, &mine, all, sizeof mine);
    for (int r = 1; st == CK_OK && r < size; r++)
        if (all[r] != all[0])
            st = ck_error(CK_ERR_STATE,
                          "ck_model_broadcast_weights: rank %d of %d has %llu weights, rank 0 has "
                          "%llu",
                          r, size, (unsigned long long)all[r], (unsigned long long)all[0]);
    free(all);
    if (st == CK_OK) {
        st = ck_comm_broadcast(c, m->params, m->n_params * sizeof *m->params);
        ck_model_weights_changed(m);
    }
    return st;
}

ck_status ck_model_broadcast_weights(ck_model *m, ck_comm *c)
{
    if (!c)
        return ck_error(CK_ERR_ARGUMENT, "ck_model_broadcast_weights: comm is NULL");
    /* A rank that may not go on still joins the others, to tell them. */
    ck_status st = m ? ck_model_enter(m, CK_ACCESS_TRAIN, "ck_model_broadcast_weights")
                     : ck_error(CK_ERR_ARGUMENT, "ck_model_broadcast_weights: model is NULL");
    bool entered = st == CK_OK;
    if (st == CK_OK && !m->built)
        st = ck_error(CK_ERR_STATE, "ck_model_broadcast_weights: model %s is not built", m->name);
    st = broadcast_weights(m, c, st);
    if (entered)
        ck_model_leave(m);
    return st;
}

/* ------------------------------------------------------------ batches */

void ck_dist_slice(const ck_dist *d, size_t n, size_t *start, size_t *count)
{
    /* Keras's split of a partial batch: the first ranks get the smaller
     * slices, a rank may get none. */
    size_t r = (size_t)d->rank, p = (size_t)d->size;
    *start = n * r / p;
    *count = n * (r + 1) / p - *start;
}

static size_t totals_doubles(const ck_totals *t)
{
    size_t n = 2;
    for (int k = 0; k < t->n_metrics; k++)
        n += ck_metric_state_size(t->kinds[k], &t->params[k], t->width);
    return n;
}

static void totals_pack(const ck_totals *t, double *v)
{
    v[0] = t->loss;
    v[1] = t->samples;
    if (totals_doubles(t) > 2)
        memcpy(v + 2, t->state[0], (totals_doubles(t) - 2) * sizeof *v);
}

static void totals_unpack(ck_totals *t, const double *v)
{
    t->loss = v[0];
    t->samples = v[1];
    if (totals_doubles(t) > 2)
        memcpy(t->state[0], v + 2, (totals_doubles(t) - 2) * sizeof *v);
}

/* What this rank brings to an agreement: the half of d->buf past it. */
static double *payload(ck_dist *d)
{
    double *v = d->buf + 2 + d->n_agree;
    memset(v, 0, d->n_agree * sizeof *v);
    return v;
}

ck_status ck_dist_batch(ck_dist *d, ck_status st, double *loss, size_t samples, const ck_totals *t)
{
    double *v = payload(d);
    if (st == CK_OK && samples)
        v[0] = *loss * (double)samples;
    v[1] = (double)samples;
    if (st == CK_OK && t)
        totals_pack(t, v + 2);
    CK_TRY(ck_dist_agree(d, st, NULL, v, d->n_agree));
    d->global = (size_t)v[1];
    *loss = v[0] / v[1];
    if (t)
        totals_unpack(&d->sum, v + 2);
    return CK_OK;
}

/* One backward pass's buckets: the gradients from `from` on are summing. */
typedef struct buckets {
    ck_dist *d;
    ck_model *m;
    float share;
    size_t from, low; /* low: where the gradients of the layers done so far begin */
} buckets;

static ck_status start_bucket(buckets *b, size_t low)
{
    /* Each slice's gradient is of its own mean; weighting by the slice's
     * share of the global batch makes the sum the global batch mean's. */
    for (size_t i = low; i < b->from; i++)
        b->m->grads[i] *= b->share;
    ck_status st = ck_comm_start_sum_floats(b->d->comm, b->m->grads + low, b->from - low);
    b->from = low;
    return st;
}

/* The trainable weights of a Sequential's layers lie in layer order
 * (ck_model_build), so once layer i is done, so is everything from its
 * first trainable gradient on. */
static ck_status layer_done(void *ctx, int layer)
{
    buckets *b = ctx;
    const ck_layer *l = b->m->layers[layer];
    for (int k = 0; k < l->n_weights; k++)
        if (l->weights[k].trainable && (size_t)(l->weights[k].grad - b->m->grads) < b->low)
            b->low = (size_t)(l->weights[k].grad - b->m->grads);
    if ((b->from - b->low) * sizeof(float) >= b->d->bucket_bytes)
        CK_TRY(start_bucket(b, b->low));
    return ck_comm_progress(b->d->comm);
}

ck_status ck_dist_backward(ck_dist *d, ck_model *m, const ck_tensor *dy, size_t samples)
{
    buckets b = {d, m, (float)((double)samples / (double)d->global), m->n_trainable,
                 m->n_trainable};
    ck_status st = dy ? ck_model_backward_each(m, dy, layer_done, &b) : CK_OK;
    /* An empty slice sends the same buckets as the other ranks, of zeros. */
    for (int i = m->n_layers - 1; !dy && st == CK_OK && i >= 0; i--)
        st = layer_done(&b, i);
    if (st == CK_OK && b.from > 0)
        st = start_bucket(&b, 0);
    ck_status waited = ck_comm_finish(d->comm);
    return st != CK_OK ? st : waited;
}

ck_status ck_dist_totals(ck_dist *d, ck_status st, ck_totals *t)
{
    double *v = payload(d);
    if (st == CK_OK)
        totals_pack(t, v);
    CK_TRY(ck_dist_agree(d, st, NULL, v, d->n_agree));
    totals_unpack(t, v);
    return CK_OK;
}
