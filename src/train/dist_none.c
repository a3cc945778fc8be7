/* The transport of a library built without MPI: no communicator exists,
 * so the collectives are never reached; ck_mpi_world() says why. */
#include "ck_dist.h"


ck_comm *ck_mpi_world(void)
{
    ck_error(CK_ERR_UNSUPPORTED,
             "ck_mpi_world: ckeras was built without MPI (install libopenmpi-dev and "
             "reconfigure)");
    return NULL;
}

void ck_mpi_finalize(void)
{
}

int ck_comm_rank(const ck_comm *c)
{
    (void)c;
    return 0;
}

int ck_comm_size(const ck_comm *c)
{
    (void)c;
    return 1;
}

static ck_status no_mpi(void)
{
    return ck_error(CK_ERR_UNSUPPORTED, "ckeras was built without MPI");
}

ck_status ck_comm_sum(ck_comm *c, double *v, size_t n)
{
    (void)c, (void)v, (void)n;
    return no_mpi();
}

ck_status ck_comm_sum_floats(ck_comm *c, float *v, size_t n)
{
    (void)c, (void)v, (void)n;
    return no_mpi();
}

ck_status ck_comm_gather_all(ck_comm *c, const void *mine, void *all, size_t bytes)
{
    (void)c, (void)mine, (void)all, (void)bytes;
    return no_mpi();
}

ck_status ck_comm_broadcast(ck_comm *c, void *buf, size_t bytes)
{
    (void)c, (void)buf, (void)bytes;
    return no_mpi();
}

ck_status ck_comm_start_sum_floats(ck_comm *c, float *v, size_t n)
{
    (void)c, (void)v, (void)n;
    return no_mpi();
}

ck_status ck_comm_progress(ck_comm *c)
{
    (void)c;
    return no_mpi();
}

ck_status ck_comm_finish(ck_comm *c)
{
    (void)c;
    return no_mpi();
}
