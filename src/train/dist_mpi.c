/* The MPI transport of data-parallel training: the world communicator and
 * the few collectives distributed.c uses. Errors come back as statuses
 * (MPI_ERRORS_RETURN) instead of MPI's default abort. */
#include "ck_dist.h"

#include <limits.h>
#include <mpi.h>

/* Non-blocking sums in flight: the buckets of one backward pass. */
#define MAX_PENDING 64

struct ck_comm {
    MPI_Comm mpi;
    int rank, size;
    MPI_Request pending[MAX_PENDING];
    int n_pending;
};

static ck_comm world;
static bool have_world, we_initialized;

static ck_status mpi_failed(int rc, const char *what)
{
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS)
        len = 0;
    text[len] = '\0';
    return ck_error(CK_ERR_IO, "%s failed: %s", what, len ? text : "unknown MPI error");
}

#define MPI_TRY(call, what)                 \
    do {                                    \
        int rc_ = (call);                   \
        if (rc_ != MPI_SUCCESS)             \
            return mpi_failed(rc_, (what)); \
    } while (0)

static ck_status open_world(void)
{
    int ready = 0;
    MPI_TRY(MPI_Initialized(&ready), "MPI_Initialized");
    if (!ready) {
        int provided = 0;
        /* fit may run on another thread than main, one at a time. */
        MPI_TRY(MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided), "MPI_Init_thread");
        we_initialized = true;
    }
    MPI_TRY(MPI_Comm_dup(MPI_COMM_WORLD, &world.mpi), "MPI_Comm_dup");
    MPI_TRY(MPI_Comm_set_errhandler(world.mpi, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    MPI_TRY(MPI_Comm_rank(world.mpi, &world.rank), "MPI_Comm_rank");
    MPI_TRY(MPI_Comm_size(world.mpi, &world.size), "MPI_Comm_size");
    have_world = true;
    return CK_OK;
}

ck_comm *ck_mpi_world(void)
{
    if (!have_world && open_world() != CK_OK)
        return NULL;
    return &world;
}

void ck_mpi_finalize(void)
{
    if (have_world)
        MPI_Comm_free(&world.mpi);
    have_world = false;
    int done = 0;
    if (we_initialized && MPI_Finalized(&done) == MPI_SUCCESS && !done)
        MPI_Finalize();
    we_initialized = false;
}

int ck_comm_rank(const ck_comm *c)
{
    return c ? c->rank : 0;
}

int ck_comm_size(const ck_comm *c)
{
    return c ? c->size : 1;
}

/* MPI counts are ints: larger buffers go in pieces. */
#define CHUNK ((size_t)INT_MAX / 8)

ck_status ck_comm_sum(ck_comm *c, double *v, size_t n)
{
    for (size_t at = 0; at < n; at += CHUNK) {
        int count = (int)(n - at < CHUNK ? n - at : CHUNK);
        MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, v + at, count, MPI_DOUBLE, MPI_SUM, c->mpi),
                "MPI_Allreduce");
    }
    return CK_OK;
}

ck_status ck_comm_sum_floats(ck_comm *c, float *v, size_t n)
{
    for (size_t at = 0; at < n; at += CHUNK) {
        int count = (int)(n - at < CHUNK ? n - at : CHUNK);
        MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, v + at, count, MPI_FLOAT, MPI_SUM, c->mpi),
                "MPI_Allreduce");
    }
    return CK_OK;
}

ck_status ck_comm_gather_all(ck_comm *c, const void *mine, void *all, size_t bytes)
{
    if (bytes > CHUNK)
        return ck_error(CK_ERR_ARGUMENT, "ck_comm_gather_all: %zu bytes per rank", bytes);
    MPI_TRY(MPI_Allgather(mine, (int)bytes, MPI_BYTE, all, (int)bytes, MPI_BYTE, c->mpi),
            "MPI_Allgather");
    return CK_OK;
}

ck_status ck_comm_broadcast(ck_comm *c, void *buf, size_t bytes)
{
    for (size_t at = 0; at < bytes; at += CHUNK) {
        int count = (int)(bytes - at < CHUNK ? bytes - at : CHUNK);
        MPI_TRY(MPI_Bcast((char *)buf + at, count, MPI_BYTE, 0, c->mpi), "MPI_Bcast");
    }
    return CK_OK;
}

ck_status ck_comm_start_sum_floats(ck_comm *c, float *v, size_t n)
{
    /* Beyond what fits in flight, the sum is done at once. */
    if (c->n_pending == MAX_PENDING || n > CHUNK)
        return ck_comm_sum_floats(c, v, n);
    MPI_TRY(MPI_Iallreduce(MPI_IN_PLACE, v, (int)n, MPI_FLOAT, MPI_SUM, c->mpi,
                           &c->pending[c->n_pending]),
            "MPI_Iallreduce");
    c->n_pending++;
    return CK_OK;
}

ck_status ck_comm_progress(ck_comm *c)
{
    int done = 0;
    /* Open MPI moves non-blocking collectives on only inside MPI calls. */
    MPI_TRY(MPI_Testall(c->n_pending, c->pending, &done, MPI_STATUSES_IGNORE), "MPI_Testall");
    return CK_OK;
}

ck_status ck_comm_finish(ck_comm *c)
{
    int n = c->n_pending;
    c->n_pending = 0;
    MPI_TRY(MPI_Waitall(n, c->pending, MPI_STATUSES_IGNORE), "MPI_Waitall");
    return CK_OK;
}
