/* Shared libraries opened on first use (ck_lazy_lib.h). */
#include "ck_lazy_lib.h"

#include <dlfcn.h>
#include <stdio.h>

/* One lock for every table: opening is rare, and a caller that finds the
 * library open takes it only for as long as reading two fields. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void open_lib(ck_lazy_lib *lib)
{
    /* RTLD_LOCAL: its symbols stay out of the way of a program's own. */
    void *h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
    const char *err = h ? NULL : dlerror();
    for (const ck_lazy_symbol *s = lib->symbols; h && s->name; s++)
        if (!(*s->slot = dlsym(h, s->name))) {
            err = dlerror();
            break;
        }
    if (err)
        snprintf(lib->why, sizeof lib->why, "%s", err);
    lib->ready = !err;
    lib->tried = true;
}

ck_status ck_lazy_lib_open(ck_lazy_lib *lib)
{
    pthread_mutex_lock(&lock);
    if (!lib->tried)
        open_lib(lib);
    bool ready = lib->ready;
    pthread_mutex_unlock(&lock);
    if (ready)
        return CK_OK;
    return ck_error(CK_ERR_UNSUPPORTED,
                    "%s needs %s, which cannot be loaded (%s); install the package that "
                    "provides it (%s on Debian 12)",
                    lib->purpose, lib->soname, lib->why, lib->package);
}
