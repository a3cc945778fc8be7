/* Data-parallel training (docs/distributed.md): what fit and one batch
 * need from distributed.c, and the transport it stands on (dist_load.c,
 * over the MPI module dist_mpi.c: ck_transport.h). */
#ifndef CK_DIST_H
#define CK_DIST_H

#include "ck_batch.h"

/* ---------------- transport (dist_load.c) ---------------- */
/* Collectives over all ranks of c; every rank calls them in the same
 * order. Sums are in place. */
ck_status ck_comm_sum(ck_comm *c, double *v, size_t n);
ck_status ck_comm_sum_floats(ck_comm *c, float *v, size_t n);
/* all[r * bytes ...] receives rank r's `mine`. */
ck_status ck_comm_gather_all(ck_comm *c, const void *mine, void *all, size_t bytes);
/* Rank 0's buf to every rank. */
ck_status ck_comm_broadcast(ck_comm *c, void *buf, size_t bytes);
/* A sum started now and finished by ck_comm_finish, which waits for every
 * one started; ck_comm_progress moves them on meanwhile. One backward
 * pass at a time per communicator. */
ck_status ck_comm_start_sum_floats(ck_comm *c, float *v, size_t n);
ck_status ck_comm_progress(ck_comm *c);
ck_status ck_comm_finish(ck_comm *c);

/* ---------------- one data-parallel fit (distributed.c) ---------------- */
typedef struct ck_dist {
    ck_comm *comm;
    int rank, size;
    ck_rng order;        /* rank 0's RNG at the start: every rank shuffles alike */
    size_t global;       /* samples of the global batch being trained (ck_dist_batch) */
    size_t bucket_bytes; /* gradients summed at once, at least (ck_dist_backward) */
    size_t n_agree;      /* payload doubles of every agreement, the same on all ranks */
    /* The agreement (failures, stop requests, n_agree payload doubles),
     * then n_agree doubles of this rank's payload. */
    double *buf;
    ck_totals sum; /* the epoch's totals over all ranks so far */
    bool settled;  /* a failure was shared: leaving fit needs no more agreement */
} ck_dist;

/* Sets d up for ranks of c (status st: how this rank's preparation went;
 * returned, or the failure to allocate). n_state: metric state doubles
 * of one set of totals; bucket_bytes as the options give it (0: the
 * default). Every rank then agrees on the result. */
ck_status ck_dist_begin(ck_dist *d, ck_comm *c, ck_status st, size_t n_state, size_t bucket_bytes);
/* Starts a fit over c after each rank prepared it alone (status st):
 * shares failures, refuses ranks whose model (configuration, weights),
 * options or data sizes differ from rank 0's, and takes rank 0's RNG for
 * the order. sizes: what must match (training and validation samples,
 * batch, epochs...); n_state: metric state doubles of one set of totals. */
ck_status ck_dist_start(ck_dist *d, ck_comm *c, ck_model *m, ck_train_state *s, ck_status st,
                        const size_t *sizes, int n_sizes, size_t n_state, size_t bucket_bytes);
void ck_dist_free(ck_dist *d);
/* This rank's slice [*start, *start + *count) of n samples. */
void ck_dist_slice(const ck_dist *d, size_t n, size_t *start, size_t *count);
/* Collective agreement: every rank's status st, the stop requests, and
 * the sums of `n` payload doubles (v may be NULL when n is 0). A failure
 * anywhere fails every rank, naming the lowest failed one. */
ck_status ck_dist_agree(ck_dist *d, ck_status st, bool *stop, double *v, size_t n);
/* After a training forward on this rank's slice of `samples` (status st):
 * the global batch loss into *loss, the epoch totals so far into d->sum
 * (t may be NULL: train_on_batch). */
ck_status ck_dist_batch(ck_dist *d, ck_status st, double *loss, size_t samples, const ck_totals *t);
/* Backward on this rank's slice of `samples` (dy NULL: an empty slice),
 * ending with the gradient of the global batch mean, the same on every
 * rank. The sums of bucket_bytes of gradients start as soon as the
 * layers behind them are done, and run while the earlier layers are. */
ck_status ck_dist_backward(ck_dist *d, ck_model *m, const ck_tensor *dy, size_t samples);
/* Totals of this rank's shard, replaced by those of all ranks (st: how
 * the shard's pass went; t unset when it failed). */
ck_status ck_dist_totals(ck_dist *d, ck_status st, ck_totals *t);

#endif /* CK_DIST_H */
