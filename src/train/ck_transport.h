/* The table between the library and its MPI transport, libckeras_mpi.so
 * (dist_mpi.c), which the library loads on the first ck_mpi_world()
 * (dist_load.c). So libckeras.so, and every program using it, starts
 * without Open MPI's libraries and runs where they are not installed;
 * only data-parallel training needs them. The transport links nothing of
 * the library: every entry returns 0, or non-zero with a message in
 * err[0..CK_TRANSPORT_ERR). */
#ifndef CK_TRANSPORT_H
#define CK_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>

#define CK_TRANSPORT_FILE "libckeras_mpi.so"
/* The version is in the name: a transport of another layout is not found. */
#define CK_TRANSPORT_SYMBOL "ck_transport_mpi_1"
#define CK_TRANSPORT_ERR 400

typedef struct ck_transport_comm ck_transport_comm;

typedef struct ck_transport {
    /* The world communicator, initializing MPI unless the program did. */
    int (*open_world)(ck_transport_comm **world, int *rank, int *size, char *err);
    /* Frees the world and finalizes MPI if open_world initialized it. */
    void (*finalize)(void);
    /* In-place sums of n doubles or floats. */
    int (*sum)(ck_transport_comm *c, void *v, size_t n, bool doubles, char *err);
    int (*gather_all)(ck_transport_comm *c, const void *mine, void *all, size_t bytes, char *err);
    int (*broadcast)(ck_transport_comm *c, void *buf, size_t bytes, char *err);
    /* Non-blocking float sums, moved on by progress, waited for by finish. */
    int (*start_sum_floats)(ck_transport_comm *c, float *v, size_t n, char *err);
    int (*progress)(ck_transport_comm *c, char *err);
    int (*finish)(ck_transport_comm *c, char *err);
} ck_transport;

#endif
