/* libzip, opened the first time a .keras or .npz file is read or written. */
#include "ck_libzip.h"
#include "ck_lazy_lib.h"

ck_libzip_fns ck_libzip;

#define FN(name)                               \
    {                                          \
        "zip_" #name, (void **)&ck_libzip.name \
    }
static const ck_lazy_symbol symbols[] = {
    FN(close),
    FN(discard),
    FN(error_code_zip),
    FN(error_fini),
    FN(error_init),
    FN(error_strerror),
    FN(fclose),
    FN(file_add),
    FN(file_strerror),
    FN(fopen_index),
    FN(fread),
    FN(get_name),
    FN(get_num_entries),
    FN(open_from_source),
    FN(set_file_compression),
    FN(source_buffer),
    FN(source_buffer_create),
    FN(source_close),
    FN(source_filep_create),
    FN(source_free),
    FN(source_keep),
    FN(source_open),
    FN(source_read),
    FN(stat_index),
    FN(stat_init),
    FN(strerror),
    {0},
};

static ck_lazy_lib lib = CK_LAZY_LIB(CK_LIBZIP_SONAME, "libzip4",
                                     "reading and writing .keras and .npz files", symbols);

ck_status ck_libzip_open(void)
{
    return ck_lazy_lib_open(&lib);
}
