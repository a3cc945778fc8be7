/* Who may use a model right now. Every public call that touches a model
 * enters it with one access kind and leaves it on return, so the rules
 * live here and nowhere else:
 *  - READ calls (predict, summary, save, to_json, ...) run on any number
 *    of threads at once; each concurrent predict gets its own workspace;
 *  - UPDATE calls (load_weights, reset_states, evaluate, initial states,
 *    the learning rate, export) and CHANGE calls (add, pop, build, compile,
 *    set_trainable, free) and TRAIN calls (fit, train_on_batch) need the
 *    model to themselves;
 *  - while fit runs, its own thread (a callback) may make READ and UPDATE
 *    calls, never CHANGE or TRAIN ones, and other threads may make none.
 * A call that breaks a rule fails with CK_ERR_STATE and touches nothing. */
#include "ck_internal.h"

#include <stdlib.h>
#include <string.h>

static const char *const access_names[] = {
    [CK_ACCESS_READ] = "reading",
    [CK_ACCESS_UPDATE] = "updating",
    [CK_ACCESS_CHANGE] = "changing",
    [CK_ACCESS_TRAIN] = "training",
};

void ck_guard_init(ck_guard *g)
{
    memset(g, 0, sizeof *g);
    pthread_mutex_init(&g->lock, NULL);
}

void ck_guard_destroy(ck_guard *g)
{
    pthread_mutex_destroy(&g->lock);
}

static bool owned_here(const ck_guard *g)
{
    return g->depth > 0 && pthread_equal(g->owner, pthread_self());
}

/* Whether a call of kind `a` may run now; the message says why not. */
static ck_status admit(ck_guard *g, const ck_model *m, ck_access a, const char *fn)
{
    if (owned_here(g)) {
        /* A nested call on the owning thread: a fit callback, or one
         * public call made inside another. */
        if (g->owner_access == CK_ACCESS_TRAIN && a >= CK_ACCESS_CHANGE)
            return ck_error(CK_ERR_STATE,
                            "%s: model %s is training; a fit callback may read, save, predict "
                            "and evaluate it, load weights, reset states and set the learning "
                            "rate, but not compile or train it or change its layers",
                            fn, m->name);
        g->depth++;
        return CK_OK;
    }
    if (g->depth > 0)
        return ck_error(CK_ERR_STATE, "%s: model %s is busy %s in another thread", fn, m->name,
                        access_names[g->owner_access]);
    if (a == CK_ACCESS_READ) {
        g->readers++;
        return CK_OK;
    }
    if (g->readers > 0)
        return ck_error(CK_ERR_STATE,
                        "%s: model %s is in use by another thread; %s it needs the model "
                        "to itself",
                        fn, m->name, access_names[a]);
    g->owner = pthread_self();
    g->owner_access = a;
    g->depth = 1;
    return CK_OK;
}

ck_status ck_model_enter(ck_model *m, ck_access a, const char *fn)
{
    pthread_mutex_lock(&m->guard.lock);
    ck_status st = admit(&m->guard, m, a, fn);
    pthread_mutex_unlock(&m->guard.lock);
    return st;
}

void ck_model_leave(ck_model *m)
{
    ck_guard *g = &m->guard;
    pthread_mutex_lock(&g->lock);
    if (owned_here(g)) {
        g->depth--;
    } else {
        g->readers--;
    }
    pthread_mutex_unlock(&g->lock);
}

bool ck_model_busy(ck_model *m)
{
    pthread_mutex_lock(&m->guard.lock);
    bool busy = m->guard.depth > 0 || m->guard.readers > 0;
    pthread_mutex_unlock(&m->guard.lock);
    return busy;
}

ck_status ck_layer_enter(ck_layer *l, ck_access a, const char *fn)
{
    return l->model ? ck_model_enter(l->model, a, fn) : CK_OK;
}

void ck_layer_leave(ck_layer *l)
{
    if (l->model)
        ck_model_leave(l->model);
}
