/* Keras 3 .keras archives: a zip holding config.json, metadata.json and
 * model.weights.h5. Members are read into memory; the HDF5 part is then
 * opened as a file image. */
#include "ck_io.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zip.h>

/* Deflate expands at most about 1032:1 (258 bytes from one 2-bit code);
 * the slack covers tiny members. */
#define MAX_DEFLATE_RATIO 1032u
#define MAX_DEFLATE_SLACK 64u

bool ck_is_zip_file(const char *path)
{
    unsigned char magic[4] = {0};
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    size_t n = fread(magic, 1, sizeof magic, f);
    fclose(f);
    return n == 4 && memcmp(magic, "PK\x03\x04", 4) == 0;
}

/* The declared size is what gets allocated, so it must be one the member's
 * compressed bytes can produce: equal to them when stored (Keras stores
 * model.weights.h5), within deflate's maximum ratio otherwise. Those bytes
 * must in turn lie in the archive, whose size bounds the allocation. */
static ck_status check_declared_size(const zip_stat_t *st, const char *path, const char *member)
{
    if (!(st->valid & ZIP_STAT_COMP_SIZE) || !(st->valid & ZIP_STAT_COMP_METHOD))
        return ck_error(CK_ERR_FORMAT, "'%s': member %s has no compressed size", path, member);
    struct stat sb;
    if (stat(path, &sb) == 0 && st->comp_size > (zip_uint64_t)sb.st_size)
        return ck_error(CK_ERR_FORMAT,
                        "'%s': member %s claims %llu compressed bytes, more than the "
                        "archive holds (corrupt archive)",
                        path, member, (unsigned long long)st->comp_size);
    bool stored = st->comp_method == ZIP_CM_STORE;
    if (stored ? st->size != st->comp_size
               : st->size / MAX_DEFLATE_RATIO > st->comp_size + MAX_DEFLATE_SLACK)
        return ck_error(CK_ERR_FORMAT,
                        "'%s': member %s declares %llu bytes from %llu %s bytes "
                        "(corrupt archive)",
                        path, member, (unsigned long long)st->size,
                        (unsigned long long)st->comp_size, stored ? "stored" : "compressed");
    return CK_OK;
}

/* Reads one member; text members get a terminating NUL. */
static ck_status read_member(zip_t *za, const char *path, const char *member, size_t limit,
                             bool required, void **data, size_t *size)
{
    zip_stat_t st;
    *data = NULL;
    *size = 0;
    zip_stat_init(&st);
    if (zip_stat(za, member, 0, &st) != 0) {
        if (!required)
            return CK_OK;
        return ck_error(CK_ERR_FORMAT, "'%s' has no %s (not a Keras 3 .keras file?)", path, member);
    }
    if (!(st.valid & ZIP_STAT_SIZE) || st.size > limit)
        return ck_error(CK_ERR_FORMAT, "'%s': member %s is too large or has no size", path, member);
    CK_TRY(check_declared_size(&st, path, member));
    char *buf = ck_alloc((size_t)st.size + 1, 1);
    if (!buf)
        return CK_ERR_MEMORY;
    zip_file_t *zf = zip_fopen(za, member, 0);
    zip_int64_t got = zf ? zip_fread(zf, buf, st.size) : -1;
    if (zf)
        zip_fclose(zf);
    if (got < 0 || (zip_uint64_t)got != st.size) {
        free(buf);
        return ck_error(CK_ERR_FORMAT, "'%s': member %s cannot be read (corrupt archive)", path,
                        member);
    }
    *data = buf;
    *size = (size_t)st.size;
    return CK_OK;
}

ck_status ck_keras_zip_read(const char *path, ck_keras_zip *out)
{
    *out = (ck_keras_zip){0};
    int err = 0;
    zip_t *za = zip_open(path, ZIP_RDONLY, &err);
    if (!za)
        return ck_error(err == ZIP_ER_OPEN || err == ZIP_ER_NOENT ? CK_ERR_IO : CK_ERR_FORMAT,
                        "cannot open '%s' as a .keras archive (libzip error %d)", path, err);
    size_t size;
    void *text = NULL;
    ck_status st = read_member(za, path, "config.json", CK_IO_MAX_JSON, true, &text, &size);
    out->config = text;
    if (st == CK_OK)
        st = read_member(za, path, "metadata.json", 1u << 20, false, &text, &size);
    if (st == CK_OK)
        out->metadata = text;
    if (st == CK_OK)
        st = read_member(za, path, "model.weights.h5", CK_IO_MAX_ZIP_MEMBER, true, &out->weights,
                         &out->weights_size);
    zip_discard(za);
    if (st != CK_OK)
        ck_keras_zip_free(out);
    return st;
}

static bool add_member(zip_t *za, const char *name, const void *data, size_t size)
{
    zip_source_t *src = zip_source_buffer(za, data, size, 0);
    if (!src)
        return false;
    zip_int64_t idx = zip_file_add(za, name, src, ZIP_FL_OVERWRITE | ZIP_FL_ENC_UTF_8);
    if (idx < 0) {
        zip_source_free(src);
        return false;
    }
    return zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_STORE, 0) == 0;
}

ck_status ck_keras_zip_write(const char *path, const ck_keras_zip *z)
{
    int err = 0;
    zip_t *za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &err);
    if (!za)
        return ck_error(CK_ERR_IO, "cannot create archive '%s' (libzip error %d)", path, err);
    /* Keras writes the members in this order. */
    bool ok = add_member(za, "metadata.json", z->metadata, strlen(z->metadata)) &&
              add_member(za, "config.json", z->config, strlen(z->config)) &&
              add_member(za, "model.weights.h5", z->weights, z->weights_size);
    if (ok && zip_close(za) == 0)
        return CK_OK;
    ck_status st = ck_error(CK_ERR_IO, "cannot write archive '%s': %s", path, zip_strerror(za));
    zip_discard(za);
    return st;
}

void ck_keras_zip_free(ck_keras_zip *z)
{
    free(z->config);
    free(z->metadata);
    free(z->weights);
    *z = (ck_keras_zip){0};
}
