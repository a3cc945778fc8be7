/* Data-parallel training throughput (docs/distributed.md, docs/performance.md):
 * sequences per second of the flagship model's training on workload W1
 * (5 x 126) or W2 (30 x 1662) with a global batch of 32, and the time of
 * one allreduce of the model's gradients (203,459 floats).
 *   dist_bench --workload W2 --threads 2              one process, 2 threads
 *   mpirun -np 2 dist_bench --workload W2 --threads 1 two processes, 1 thread each
 * --bucket-bytes max: one gradient sum after backward, no overlap.
 * Rank 0 prints one line per run. */
#include "ckeras.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { BATCH = 32, CLASSES = 3 };

typedef struct options {
    int timesteps, features, threads, steps;
    const char *workload;
    size_t bucket_bytes; /* ck_fit_options.comm_bucket_bytes */
} options;

static int parse(int argc, char **argv, options *o)
{
    *o = (options){5, 126, 1, 40, "W1", 0};
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--workload") == 0 && strcmp(argv[i + 1], "W2") == 0)
            *o = (options){30, 1662, o->threads, o->steps, "W2", o->bucket_bytes};
        else if (strcmp(argv[i], "--threads") == 0)
            o->threads = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--bucket-bytes") == 0)
            o->bucket_bytes = strcmp(argv[i + 1], "max") == 0 ? SIZE_MAX
                                                              : (size_t)atol(argv[i + 1]);
        else if (strcmp(argv[i], "--steps") == 0)
            o->steps = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--workload") != 0)
            return fprintf(stderr, "dist_bench: unknown option %s\n", argv[i]), 2;
    }
    return o->threads > 0 && o->steps > 0 ? 0 : 2;
}

static ck_model *flagship(const options *o)
{
    ck_model *m = ck_sequential(.seed = 1);
    ck_status st = ck_model_add(m, ck_input(o->timesteps, o->features));
    st = st ? st : ck_model_add(m, ck_lstm(64, .return_sequences = true, .activation = "relu"));
    st = st ? st : ck_model_add(m, ck_lstm(128, .return_sequences = true, .activation = "relu"));
    st = st ? st : ck_model_add(m, ck_lstm(64, .activation = "relu"));
    st = st ? st : ck_model_add(m, ck_dense(64, .activation = "relu"));
    st = st ? st : ck_model_add(m, ck_dense(32, .activation = "relu"));
    st = st ? st : ck_model_add(m, ck_dense(CLASSES, .activation = "softmax"));
    st = st ? st : ck_model_compile(m, .optimizer = ck_adam(), .loss = "categorical_crossentropy");
    if (st != CK_OK) {
        fprintf(stderr, "dist_bench: %s\n", ck_last_error());
        ck_model_free(m);
        return NULL;
    }
    return m;
}

/* Seconds of one epoch of `steps` global batches. */
static double time_fit(ck_model *m, const options *o, ck_comm *comm, int steps)
{
    size_t n = (size_t)steps * BATCH, per = (size_t)o->timesteps * (size_t)o->features;
    float *x = malloc(n * per * sizeof *x), *y = calloc(n * CLASSES, sizeof *y);
    double seconds = -1;
    if (x && y) {
        for (size_t i = 0; i < n * per; i++)
            x[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
        for (size_t i = 0; i < n; i++)
            y[i * CLASSES + i % CLASSES] = 1;
        ck_tensor tx = {3, {(int64_t)n, o->timesteps, o->features}, x};
        ck_tensor ty = {2, {(int64_t)n, CLASSES}, y};
        double start = MPI_Wtime();
        if (ck_model_fit(m, &tx, &ty, NULL, .batch_size = BATCH, .comm = comm,
                         .comm_bucket_bytes = o->bucket_bytes) == CK_OK)
            seconds = MPI_Wtime() - start;
        else
            fprintf(stderr, "dist_bench: %s\n", ck_last_error());
    }
    free(x);
    free(y);
    return seconds;
}

/* Median of 21 allreduces of n floats over all processes, in seconds. */
static double time_allreduce(size_t n)
{
    float *g = calloc(n, sizeof *g);
    double t[21];
    for (int i = 0; g && i < 21; i++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double start = MPI_Wtime();
        MPI_Allreduce(MPI_IN_PLACE, g, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        t[i] = MPI_Wtime() - start;
    }
    free(g);
    for (int i = 1; i < 21; i++)
        for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
            double s = t[j];
            t[j] = t[j - 1];
            t[j - 1] = s;
        }
    return g ? t[10] : -1;
}

int main(int argc, char **argv)
{
    options o;
    if (parse(argc, argv, &o) != 0) {
        fprintf(stderr, "usage: [mpirun -np P] dist_bench [--workload W1|W2] [--threads N] "
                        "[--steps N] [--bucket-bytes N|max]\n");
        return 2;
    }
    ck_comm *comm = ck_mpi_world();
    if (!comm) {
        fprintf(stderr, "dist_bench: %s\n", ck_last_error());
        return 1;
    }
    ck_set_num_threads(o.threads);
    int ranks = ck_comm_size(comm), rc = 1;
    ck_model *m = flagship(&o);
    /* The first epoch warms caches and the pool; the second is timed. */
    double seconds = m && time_fit(m, &o, comm, 3) >= 0 ? time_fit(m, &o, comm, o.steps) : -1;
    size_t n_params = m ? ck_model_count_trainable_params(m) : 0;
    double reduce = ranks > 1 ? time_allreduce(n_params) : 0;
    if (seconds > 0) {
        rc = 0;
        if (ck_comm_rank(comm) == 0)
            printf("%s: %d process(es) x %d thread(s): %.1f sequences/s (%d steps of %d in %.3f "
                   "s); allreduce of %zu gradients: %.3f ms\n",
                   o.workload, ranks, o.threads, o.steps * BATCH / seconds, o.steps, BATCH, seconds,
                   n_params, reduce * 1e3);
    }
    ck_model_free(m);
    ck_mpi_finalize();
    return rc;
}
