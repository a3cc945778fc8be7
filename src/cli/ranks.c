/* `mpirun -np N ckeras fit ...` (docs/distributed.md): the command joins
 * the other ranks, they agree on every step a rank does alone, and rank 0
 * alone prints and writes. */
#include "cli.h"

static int this_rank;

int cli_join_ranks(ck_comm **comm)
{
    *comm = NULL;
    if (!ck_mpi_launched())
        return CLI_OK;
    *comm = ck_mpi_world();
    if (!*comm)
        return cli_error(CLI_FAIL,
                         "started by an MPI launcher, but this ckeras cannot train across "
                         "processes: %s",
                         ck_last_error());
    this_rank = ck_comm_rank(*comm);
    return CLI_OK;
}

int cli_agree(ck_comm *comm, int rc)
{
    ck_status st = ck_comm_agree(comm, rc == CLI_OK ? CK_OK : CK_ERR_IO,
                                 rc == CLI_OK ? NULL : cli_error_message());
    if (st == CK_OK || !comm)
        return rc;
    return cli_error(rc != CLI_OK ? rc : CLI_FAIL, "%s", ck_last_error());
}

bool cli_prints(void)
{
    return this_rank == 0;
}
