/* The communicator of data-parallel training on the MPI transport
 * (ck_transport.h), which is loaded on the first ck_mpi_world(): from the
 * directory of the code calling it (libckeras.so, or a program linked
 * with the library's objects), the directory of the program, the
 * installed library directory, then the dynamic loader's search path. */
#define _GNU_SOURCE
#include "ck_dist.h"
#include "ck_transport.h"

#include <dlfcn.h>
#include <link.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct ck_comm {
    ck_transport_comm *impl;
    int rank, size;
};

static const ck_transport *transport;
static ck_comm world;
static bool have_world;

/* dir/CK_TRANSPORT_FILE opened, for `path` the file in dir. */
static void *open_beside(const char *path, char *why, size_t n)
{
    const char *slash = path ? strrchr(path, '/') : NULL;
    if (!slash)
        return NULL;
    char file[PATH_MAX];
    int len = snprintf(file, sizeof file, "%.*s/%s", (int)(slash - path), path, CK_TRANSPORT_FILE);
    if (len < 0 || (size_t)len >= sizeof file || access(file, F_OK) != 0)
        return NULL;
    /* Open MPI's components look its symbols up in the global scope. */
    void *h = dlopen(file, RTLD_NOW | RTLD_GLOBAL);
    if (!h)
        snprintf(why, n, "%s", dlerror());
    return h;
}

static void program_file(char *buf, size_t n)
{
    ssize_t len = readlink("/proc/self/exe", buf, n - 1);
    buf[len > 0 ? len : 0] = '\0';
}

/* The file holding this code: libckeras.so, or the program when it holds
 * the library's objects (for which dladdr would give argv[0], which the
 * caller of exec chooses). */
static void own_file(char *buf, size_t n)
{
    Dl_info info;
    struct link_map *map = NULL;
    if (dladdr1((void *)own_file, &info, (void **)&map, RTLD_DL_LINKMAP) && map && map->l_name[0])
        snprintf(buf, n, "%s", map->l_name);
    else
        program_file(buf, n);
}

static void *open_transport(char *why, size_t n)
{
    char own[PATH_MAX], exe[PATH_MAX];
    own_file(own, sizeof own);
    program_file(exe, sizeof exe);
    const char *places[] = {own, exe, CK_INSTALL_LIBDIR "/" CK_TRANSPORT_FILE};
    void *h = NULL;
    for (size_t i = 0; !h && !why[0] && i < sizeof places / sizeof places[0]; i++)
        h = open_beside(places[i], why, n);
    if (!h && !why[0] && !(h = dlopen(CK_TRANSPORT_FILE, RTLD_NOW | RTLD_GLOBAL)))
        snprintf(why, n, "%s", dlerror());
    return h;
}

/* Loads the transport once; never unloaded, as MPI cannot start twice. */
static ck_status load_transport(void)
{
    if (transport)
        return CK_OK;
    char why[512] = "";
    void *h = open_transport(why, sizeof why);
    if (h && !(transport = dlsym(h, CK_TRANSPORT_SYMBOL)))
        snprintf(why, sizeof why, "%s has no %s", CK_TRANSPORT_FILE, CK_TRANSPORT_SYMBOL);
    if (transport)
        return CK_OK;
    return ck_error(CK_ERR_UNSUPPORTED,
                    "ck_mpi_world: the MPI transport cannot be loaded (%s); it is built with Open "
                    "MPI (install libopenmpi-dev and reconfigure)",
                    why);
}

ck_comm *ck_mpi_world(void)
{
    if (have_world)
        return &world;
    if (load_transport() != CK_OK)
        return NULL;
    char err[CK_TRANSPORT_ERR] = "";
    if (transport->open_world(&world.impl, &world.rank, &world.size, err) != 0) {
        ck_error(CK_ERR_IO, "%s", err);
        return NULL;
    }
    have_world = true;
    return &world;
}

void ck_mpi_finalize(void)
{
    if (transport)
        transport->finalize();
    have_world = false;
}

int ck_comm_rank(const ck_comm *c)
{
    return c ? c->rank : 0;
}

int ck_comm_size(const ck_comm *c)
{
    return c ? c->size : 1;
}

static ck_status result(int rc, const char *err)
{
    return rc == 0 ? CK_OK : ck_error(CK_ERR_IO, "%s", err);
}

ck_status ck_comm_sum(ck_comm *c, double *v, size_t n)
{
    char err[CK_TRANSPORT_ERR];
    return result(transport->sum(c->impl, v, n, true, err), err);
}

ck_status ck_comm_sum_floats(ck_comm *c, float *v, size_t n)
{
    char err[CK_TRANSPORT_ERR];
    return result(transport->sum(c->impl, v, n, false, err), err);
}

ck_status ck_comm_gather_all(ck_comm *c, const void *mine, void *all, size_t bytes)
{
    char err[CK_TRANSPORT_ERR];
    return result(transport->gather_all(c->impl, mine, all, bytes, err), err);
}

ck_status ck_comm_broadcast(ck_comm *c, void *buf, size_t bytes)
{
    char err[CK_TRANSPORT_ERR];
    return result(transport->broadcast(c->impl, buf, bytes, err), err);
}

ck_status ck_comm_start_sum_floats(ck_comm *c, float *v, size_t n)
{
    char err[CK_TRANSPORT_ERR];
    return result(transport->start_sum_floats(c->impl, v, n, err), err);
}

ck_status ck_comm_progress(ck_comm *c)
{
    char err[CK_TRANSPORT_ERR];
    return result(transport->progress(c->impl, err), err);
}

ck_status ck_comm_finish(ck_comm *c)
{
    char err[CK_TRANSPORT_ERR];
    return result(transport->finish(c->impl, err), err);
}
