/* Shared libraries opened on first use. libzip (and with it libcrypto,
 * libbz2) is needed for .keras and .npz files only, libcrypto for the
 * checksums of `ckeras export`; linked, their relocations cost every
 * start of the tool about 3 ms on the project machine (libcrypto alone
 * 2.3 ms: 21,000 relocations, most in pages that fault on first write),
 * whatever file it reads. (A program linked with libckeras.so still loads
 * libcrypto at start: Debian's shared libhdf5 needs it, the tool's static
 * HDF5 does not.) A user of one calls ck_lazy_lib_open before its first
 * call into the table.
 *
 *   static struct { __typeof__(zip_fread) *fread; } zip;
 *   static const ck_lazy_symbol zip_symbols[] = {{"zip_fread", (void **)&zip.fread}, {0}};
 *   static ck_lazy_lib zip_lib = CK_LAZY_LIB("libzip.so.4", "libzip4", ".keras files",
 *                                            zip_symbols);
 *   CK_TRY(ck_lazy_lib_open(&zip_lib));
 *   zip.fread(f, buf, n);
 */
#ifndef CK_LAZY_LIB_H
#define CK_LAZY_LIB_H

#include "ck_internal.h"

typedef struct ck_lazy_symbol {
    const char *name;
    void **slot; /* a function pointer of the caller's table, as POSIX's dlsym example */
} ck_lazy_symbol;

typedef struct ck_lazy_lib {
    const char *soname;            /* the file name the dynamic loader knows */
    const char *package;           /* Debian 12's package that installs it, for the message */
    const char *purpose;           /* what needs it, for the message */
    const ck_lazy_symbol *symbols; /* ends with {0} */
    bool tried, ready;
    char why[256]; /* dlerror()'s text when it cannot be opened */
} ck_lazy_lib;

#define CK_LAZY_LIB(soname, package, purpose, symbols)              \
    {                                                               \
        (soname), (package), (purpose), (symbols), false, false, "" \
    }

/* Opens the library and fills its table, once per process (the library
 * is never closed); CK_ERR_UNSUPPORTED naming the library, its package
 * and what needs it when it or one of its symbols is missing. Thread-safe. */
ck_status ck_lazy_lib_open(ck_lazy_lib *lib);

#endif
