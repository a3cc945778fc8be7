/* libzip's functions, from libzip opened on first use (ck_lazy_lib.h):
 * ck_libzip.fread(...) for zip_fread(...), after ck_libzip_open(). */
#ifndef CK_LIBZIP_H
#define CK_LIBZIP_H

#include "ck_internal.h"

#include <zip.h>

typedef struct ck_libzip_fns {
    __typeof__(zip_close) *close;
    __typeof__(zip_discard) *discard;
    __typeof__(zip_error_code_zip) *error_code_zip;
    __typeof__(zip_error_fini) *error_fini;
    __typeof__(zip_error_init) *error_init;
    __typeof__(zip_error_strerror) *error_strerror;
    __typeof__(zip_fclose) *fclose;
    __typeof__(zip_file_add) *file_add;
    __typeof__(zip_file_strerror) *file_strerror;
    __typeof__(zip_fopen_index) *fopen_index;
    __typeof__(zip_fread) *fread;
    __typeof__(zip_get_name) *get_name;
    __typeof__(zip_get_num_entries) *get_num_entries;
    __typeof__(zip_open_from_source) *open_from_source;
    __typeof__(zip_set_file_compression) *set_file_compression;
    __typeof__(zip_source_buffer) *source_buffer;
    __typeof__(zip_source_buffer_create) *source_buffer_create;
    __typeof__(zip_source_close) *source_close;
    __typeof__(zip_source_filep_create) *source_filep_create;
    __typeof__(zip_source_free) *source_free;
    __typeof__(zip_source_keep) *source_keep;
    __typeof__(zip_source_open) *source_open;
    __typeof__(zip_source_read) *source_read;
    __typeof__(zip_stat_index) *stat_index;
    __typeof__(zip_stat_init) *stat_init;
    __typeof__(zip_strerror) *strerror;
} ck_libzip_fns;

extern ck_libzip_fns ck_libzip;

/* Before the first call through ck_libzip; CK_ERR_UNSUPPORTED when libzip
 * cannot be loaded. Thread-safe. */
ck_status ck_libzip_open(void);

#endif
