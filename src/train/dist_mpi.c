/* The MPI transport of data-parallel training, built as libckeras_mpi.so
 * (ck_transport.h): the world communicator and the few collectives
 * distributed.c uses. Errors come back as codes with MPI's text
 * (MPI_ERRORS_RETURN) instead of MPI's default abort. */
#include "ck_transport.h"

#include <limits.h>
#include <mpi.h>
#include <stdio.h>

/* Non-blocking sums in flight: the buckets of one backward pass. */
#define MAX_PENDING 64

struct ck_transport_comm {
    MPI_Comm mpi;
    MPI_Request pending[MAX_PENDING];
    int n_pending;
};

static ck_transport_comm world;
static bool have_world, we_initialized;

static int failed(int rc, const char *what, char *err)
{
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS)
        len = 0;
    text[len] = '\0';
    snprintf(err, CK_TRANSPORT_ERR, "%s failed: %s", what, len ? text : "unknown MPI error");
    return rc;
}

#define MPI_TRY(call, what)                  \
    do {                                     \
        int rc_ = (call);                    \
        if (rc_ != MPI_SUCCESS)              \
            return failed(rc_, (what), err); \
    } while (0)

static int open_world(ck_transport_comm **out, int *rank, int *size, char *err)
{
    if (!have_world) {
        int ready = 0;
        MPI_TRY(MPI_Initialized(&ready), "MPI_Initialized");
        if (!ready) {
            int provided = 0;
            /* fit may run on another thread than main, one at a time. */
            MPI_TRY(MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided),
                    "MPI_Init_thread");
            we_initialized = true;
        }
        MPI_TRY(MPI_Comm_dup(MPI_COMM_WORLD, &world.mpi), "MPI_Comm_dup");
        MPI_TRY(MPI_Comm_set_errhandler(world.mpi, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
        have_world = true;
    }
    MPI_TRY(MPI_Comm_rank(world.mpi, rank), "MPI_Comm_rank");
    MPI_TRY(MPI_Comm_size(world.mpi, size), "MPI_Comm_size");
    *out = &world;
    return 0;
}

static void finalize(void)
{
    if (have_world)
        MPI_Comm_free(&world.mpi);
    have_world = false;
    int done = 0;
    if (we_initialized && MPI_Finalized(&done) == MPI_SUCCESS && !done)
        MPI_Finalize();
    we_initialized = false;
}

/* MPI counts are ints: larger buffers go in pieces. */
#define CHUNK ((size_t)INT_MAX / 8)

static int sum(ck_transport_comm *c, void *v, size_t n, bool doubles, char *err)
{
    size_t width = doubles ? sizeof(double) : sizeof(float);
    for (size_t at = 0; at < n; at += CHUNK) {
        int count = (int)(n - at < CHUNK ? n - at : CHUNK);
        MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, (char *)v + at * width, count,
                              doubles ? MPI_DOUBLE : MPI_FLOAT, MPI_SUM, c->mpi),
                "MPI_Allreduce");
    }
    return 0;
}

static int gather_all(ck_transport_comm *c, const void *mine, void *all, size_t bytes, char *err)
{
    if (bytes > CHUNK) {
        snprintf(err, CK_TRANSPORT_ERR, "MPI_Allgather: %zu bytes per rank", bytes);
        return 1;
    }
    MPI_TRY(MPI_Allgather(mine, (int)bytes, MPI_BYTE, all, (int)bytes, MPI_BYTE, c->mpi),
            "MPI_Allgather");
    return 0;
}

static int broadcast(ck_transport_comm *c, void *buf, size_t bytes, char *err)
{
    for (size_t at = 0; at < bytes; at += CHUNK) {
        int count = (int)(bytes - at < CHUNK ? bytes - at : CHUNK);
        MPI_TRY(MPI_Bcast((char *)buf + at, count, MPI_BYTE, 0, c->mpi), "MPI_Bcast");
    }
    return 0;
}

static int start_sum_floats(ck_transport_comm *c, float *v, size_t n, char *err)
{
    /* Beyond what fits in flight, the sum is done at once. */
    if (c->n_pending == MAX_PENDING || n > CHUNK)
        return sum(c, v, n, false, err);
    MPI_TRY(MPI_Iallreduce(MPI_IN_PLACE, v, (int)n, MPI_FLOAT, MPI_SUM, c->mpi,
                           &c->pending[c->n_pending]),
            "MPI_Iallreduce");
    c->n_pending++;
    return 0;
}

static int progress(ck_transport_comm *c, char *err)
{
    int done = 0;
    /* Open MPI moves non-blocking collectives on only inside MPI calls. */
    MPI_TRY(MPI_Testall(c->n_pending, c->pending, &done, MPI_STATUSES_IGNORE), "MPI_Testall");
    return 0;
}

static int finish(ck_transport_comm *c, char *err)
{
    int n = c->n_pending;
    c->n_pending = 0;
    MPI_TRY(MPI_Waitall(n, c->pending, MPI_STATUSES_IGNORE), "MPI_Waitall");
    return 0;
}

/* The one symbol the library looks up (CK_TRANSPORT_SYMBOL). */
__attribute__((visibility("default"))) const ck_transport ck_transport_mpi_1 = {
    .open_world = open_world,
    .finalize = finalize,
    .sum = sum,
    .gather_all = gather_all,
    .broadcast = broadcast,
    .start_sum_floats = start_sum_floats,
    .progress = progress,
    .finish = finish,
};
