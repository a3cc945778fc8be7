/* NumPy .npz archives: a zip with one .npy member per array, NAME.npy,
 * stored (numpy.savez) or deflated (numpy.savez_compressed). Members are
 * read through the checked archive reader of keras_zip.c and parsed by
 * the .npy parser. */
#include "ck_io.h"
#include "ck_libzip.h"
#include "ck_npy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NPY_SUFFIX ".npy"
/* Names of arrays listed in a "has no array" message, at most. */
#define LISTED_NAMES_CHARS 200

/* numpy's key of a member: its name without ".npy". */
static size_t key_length(const char *member)
{
    size_t n = strlen(member);
    return ck_str_ends_with(member, NPY_SUFFIX) ? n - strlen(NPY_SUFFIX) : n;
}

static bool key_is(const char *member, const char *name)
{
    size_t k = key_length(member);
    return k == strlen(name) && strncmp(member, name, k) == 0;
}

/* "x, y, labels" for a message, cut short when long. */
static void list_keys(const ck_zip_in *z, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int64_t i = 0; i < ck_keras_zip_count(z) && used + 8 < cap; i++) {
        const char *m = ck_keras_zip_name(z, i);
        if (!m)
            continue;
        int n = snprintf(buf + used, cap - used, "%s%.*s", used ? ", " : "", (int)key_length(m), m);
        used = n < 0 || (size_t)n >= cap - used ? cap - 1 : used + (size_t)n;
    }
    if (used + 1 >= cap && cap > 4)
        memcpy(buf + cap - 4, "...", 4);
}

/* The member holding array `name` (NULL: the only member). */
static ck_status find_key(const ck_zip_in *z, const char *path, const char *name,
                          const char **member)
{
    int64_t n = ck_keras_zip_count(z);
    *member = NULL;
    for (int64_t i = 0; i < n; i++) {
        const char *m = ck_keras_zip_name(z, i);
        if (!m || (name && !key_is(m, name)))
            continue;
        if (*member && name)
            return ck_error(CK_ERR_FORMAT, "'%s' has more than one array named %s", path, name);
        if (*member)
            return ck_error(CK_ERR_NAME, "'%s' holds %lld arrays: name one as %s:NAME", path,
                            (long long)n, path);
        *member = m;
    }
    if (*member)
        return CK_OK;
    char keys[LISTED_NAMES_CHARS];
    list_keys(z, keys, sizeof keys);
    return ck_error(CK_ERR_NAME, "'%s' has no array %s%s(arrays: %s)", path, name ? name : "",
                    name ? " " : "", keys[0] ? keys : "none");
}

ck_status ck_npz_load_member(const char *path, const char *name, void **data, size_t *size)
{
    *data = NULL;
    *size = 0;
    ck_zip_in *z;
    CK_TRY(ck_keras_zip_open(path, &z));
    const char *member;
    ck_zip_limit limit = ck_zip_user_limit();
    ck_status st = find_key(z, path, name, &member);
    if (st == CK_OK)
        st = ck_keras_zip_member(z, member, &limit, true, data, size);
    ck_keras_zip_close(z);
    return st;
}

ck_status ck_npz_read(const char *path, const char *name, ck_tensor *out)
{
    if (!path || !out)
        return ck_error(CK_ERR_ARGUMENT, "ck_npz_read: NULL argument");
    memset(out, 0, sizeof *out);
    void *data;
    size_t size;
    CK_TRY(ck_npz_load_member(path, name, &data, &size));
    ck_status st = ck_npy_parse(data, size, out);
    free(data);
    if (st != CK_OK && st != CK_ERR_MEMORY) {
        char why[512];
        snprintf(why, sizeof why, "%s", ck_last_error());
        return ck_error(st, "%s:%s: %s", path, name ? name : "", why);
    }
    return st;
}

ck_status ck_npz_names(const char *path, ck_strings *names)
{
    if (!path || !names)
        return ck_error(CK_ERR_ARGUMENT, "ck_npz_names: NULL argument");
    memset(names, 0, sizeof *names);
    ck_zip_in *z;
    CK_TRY(ck_keras_zip_open(path, &z));
    int64_t n = ck_keras_zip_count(z);
    size_t chars = 0;
    for (int64_t i = 0; i < n; i++) {
        const char *m = ck_keras_zip_name(z, i);
        chars += (m ? key_length(m) : 0) + 1;
    }
    char *at;
    ck_status st = ck_strings_alloc(n, chars, names, &at);
    for (int64_t i = 0; st == CK_OK && i < n; i++) {
        const char *m = ck_keras_zip_name(z, i);
        size_t k = m ? key_length(m) : 0;
        names->items[i] = at;
        memcpy(at, m ? m : "", k);
        at[k] = '\0';
        at += k + 1;
    }
    ck_keras_zip_close(z);
    return st;
}

/* ---------------------------------------------------------------- writing */

typedef struct npz_job {
    const ck_npz_entry *entries;
    int n;
    bool compressed;
} npz_job;

/* The .npy image of one array, in memory. */
static ck_status render_npy(const ck_tensor *t, char **buf, size_t *len)
{
    *buf = NULL;
    FILE *f = open_memstream(buf, len);
    if (!f)
        return CK_ERR_MEMORY;
    ck_status st = ck_npy_write_stream(f, t);
    if (fclose(f) != 0 && st == CK_OK)
        st = CK_ERR_MEMORY;
    if (st != CK_OK) {
        free(*buf);
        *buf = NULL;
    }
    return st;
}

static ck_status add_array(zip_t *za, const ck_npz_entry *e, bool compressed)
{
    char *buf;
    size_t len;
    CK_TRY(render_npy(e->array, &buf, &len));
    size_t name_len = strlen(e->name) + sizeof NPY_SUFFIX;
    char *member = ck_alloc(name_len, 1);
    zip_source_t *src = member ? ck_libzip.source_buffer(za, buf, len, 1) : NULL;
    if (!src) {
        free(buf);
        free(member);
        return CK_ERR_MEMORY;
    }
    snprintf(member, name_len, "%s%s", e->name, NPY_SUFFIX);
    zip_int64_t idx = ck_libzip.file_add(za, member, src, ZIP_FL_ENC_UTF_8);
    free(member);
    if (idx < 0) {
        ck_libzip.source_free(src);
        return ck_error(CK_ERR_IO, "cannot add %s to the archive: %s", e->name,
                        ck_libzip.strerror(za));
    }
    if (ck_libzip.set_file_compression(za, (zip_uint64_t)idx,
                                       compressed ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0) != 0)
        return ck_error(CK_ERR_IO, "cannot compress %s: %s", e->name, ck_libzip.strerror(za));
    return CK_OK;
}

static ck_status fill_npz(zip_t *za, const void *ctx)
{
    const npz_job *job = ctx;
    ck_status st = CK_OK;
    for (int i = 0; st == CK_OK && i < job->n; i++)
        st = add_array(za, &job->entries[i], job->compressed);
    return st;
}

static ck_status write_npz_file(ck_io_sink *out, void *ctx)
{
    return ck_zip_write(out, fill_npz, ctx);
}

static ck_status check_entries(const ck_npz_entry *entries, int n)
{
    if (n < 1 || !entries)
        return ck_error(CK_ERR_ARGUMENT, "ck_npz_write: no arrays to write");
    for (int i = 0; i < n; i++) {
        if (!entries[i].name || !entries[i].name[0] || !entries[i].array)
            return ck_error(CK_ERR_ARGUMENT, "ck_npz_write: entry %d has no name or no array", i);
        for (int j = 0; j < i; j++)
            if (strcmp(entries[i].name, entries[j].name) == 0)
                return ck_error(CK_ERR_ARGUMENT, "ck_npz_write: two arrays are named %s",
                                entries[i].name);
    }
    return CK_OK;
}

ck_status ck_npz_write(const char *path, const ck_npz_entry *entries, int n, bool compressed)
{
    if (!path)
        return ck_error(CK_ERR_ARGUMENT, "ck_npz_write: NULL path");
    CK_TRY(check_entries(entries, n));
    return ck_io_atomic_file(path, write_npz_file, &(npz_job){entries, n, compressed});
}
