/* Keras 3 .keras archives: a zip holding config.json, metadata.json and
 * model.weights.h5. Members are read into memory; the HDF5 part is then
 * opened as a file image. */
#include "ck_io.h"
#include "ck_libzip.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

/* Covers tiny members at deflate's largest ratio. */
#define MAX_DEFLATE_SLACK 64u

/* An archive, or a directory holding the same members as files (Keras
 * 3.4+ model.save(path, zipped=False), and models from the Hugging Face
 * Hub): za is NULL then. */
struct ck_zip_in {
    zip_t *za;
    const char *path;
    uint64_t archive_size;
    const char *files[3]; /* of a directory: the members it holds */
    int n_files;
};

static const char *const keras_members[] = {"config.json", "metadata.json", "model.weights.h5"};

static bool is_directory(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static ck_status member_path(const ck_zip_in *z, const char *member, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/%s", z->path, member);
    if (n < 0 || (size_t)n >= cap)
        return ck_error(CK_ERR_ARGUMENT, "path %s/%s is too long", z->path, member);
    return CK_OK;
}

/* A directory model: its members are the Keras ones present as files. */
static ck_status open_directory(const char *path, ck_zip_in **out)
{
    ck_zip_in *z = ck_alloc(1, sizeof *z);
    if (!z)
        return CK_ERR_MEMORY;
    z->path = path;
    char file[4096];
    for (size_t i = 0; i < sizeof keras_members / sizeof keras_members[0]; i++) {
        struct stat sb;
        if (member_path(z, keras_members[i], file, sizeof file) == CK_OK && lstat(file, &sb) == 0)
            z->files[z->n_files++] = keras_members[i];
    }
    ck_clear_error();
    *out = z;
    return CK_OK;
}

bool ck_is_keras_dir(const char *path)
{
    char file[4096];
    int n = snprintf(file, sizeof file, "%s/config.json", path);
    struct stat sb;
    return n > 0 && (size_t)n < sizeof file && is_directory(path) && stat(file, &sb) == 0;
}

bool ck_is_keras_model(const char *path)
{
    return ck_is_keras_dir(path) || ck_is_zip_file(path);
}

bool ck_is_zip_file(const char *path)
{
    return ck_io_starts_with(path, "PK\x03\x04", 4);
}

static ck_status zip_failure(const char *path, zip_error_t *ze)
{
    int code = ck_libzip.error_code_zip(ze);
    if (code == ZIP_ER_EXISTS) {
        ck_libzip.error_fini(ze);
        return ck_error(CK_ERR_FORMAT,
                        "'%s' has more than one member with the same name (ambiguous archive)",
                        path);
    }
    ck_status st = ck_error(
        CK_ERR_FORMAT, "'%s' is not a readable zip archive: %s%s", path,
        ck_libzip.error_strerror(ze),
        code == ZIP_ER_NOZIP || code == ZIP_ER_INCONS ? " (truncated or corrupt zip)" : "");
    ck_libzip.error_fini(ze);
    return st;
}

ck_status ck_keras_zip_open(const char *path, ck_zip_in **out)
{
    *out = NULL;
    if (is_directory(path))
        return open_directory(path, out);
    int fd;
    size_t size;
    CK_TRY(ck_io_open_input(path, &fd, &size));
    /* After the open: a missing file is reported as one, libzip or not. */
    ck_status have_zip = ck_libzip_open();
    if (have_zip != CK_OK) {
        close(fd);
        return have_zip;
    }
    FILE *f = fdopen(fd, "rb");
    ck_zip_in *z = f ? ck_alloc(1, sizeof *z) : NULL;
    if (!z) {
        f ? fclose(f) : close(fd);
        return ck_error(CK_ERR_MEMORY, "out of memory opening '%s'", path);
    }
    zip_error_t ze;
    ck_libzip.error_init(&ze);
    /* The source owns f from here on. */
    zip_source_t *src = ck_libzip.source_filep_create(f, 0, -1, &ze);
    if (!src)
        fclose(f);
    /* ZIP_CHECKCONS: the central directory must agree with every local
     * header (names, sizes, CRCs), so no member can hide behind another. */
    z->za = src ? ck_libzip.open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze) : NULL;
    if (!z->za) {
        if (src)
            ck_libzip.source_free(src);
        free(z);
        return zip_failure(path, &ze);
    }
    ck_libzip.error_fini(&ze);
    z->path = path;
    z->archive_size = size;
    *out = z;
    return CK_OK;
}

void ck_keras_zip_close(ck_zip_in *z)
{
    if (z && z->za)
        ck_libzip.discard(z->za);
    free(z);
}

int64_t ck_keras_zip_count(const ck_zip_in *z)
{
    return z->za ? ck_libzip.get_num_entries(z->za, 0) : z->n_files;
}

const char *ck_keras_zip_name(const ck_zip_in *z, int64_t index)
{
    if (!z->za)
        return index >= 0 && index < z->n_files ? z->files[index] : NULL;
    return ck_libzip.get_name(z->za, (zip_uint64_t)index, ZIP_FL_ENC_RAW);
}

/* Index of the only member called `name`; -1 when there is none. Python's
 * zipfile, which Keras uses, reads the last of several members with one
 * name, libzip the first: such an archive means different things to
 * different readers and is refused. */
static ck_status find_member(const ck_zip_in *z, const char *name, zip_int64_t *index)
{
    *index = -1;
    zip_int64_t n = ck_libzip.get_num_entries(z->za, 0);
    for (zip_int64_t i = 0; i < n; i++) {
        const char *entry = ck_libzip.get_name(z->za, (zip_uint64_t)i, ZIP_FL_ENC_RAW);
        if (!entry || strcmp(entry, name) != 0)
            continue;
        if (*index >= 0)
            return ck_error(CK_ERR_FORMAT,
                            "'%s' has more than one member named %s (ambiguous archive)", z->path,
                            name);
        *index = i;
    }
    return CK_OK;
}

/* Whether the archive or folder has member `name`. */
static bool has_member(const ck_zip_in *z, const char *name)
{
    if (!z->za) {
        char file[4096];
        struct stat sb;
        return member_path(z, name, file, sizeof file) == CK_OK && stat(file, &sb) == 0;
    }
    zip_int64_t index;
    bool found = find_member(z, name, &index) == CK_OK && index >= 0;
    ck_clear_error();
    return found;
}

/* Keras 3 saves weights as model.weights.npz with weights_format="npz":
 * numpy pickles each layer's dict of arrays there, which ckeras does not
 * unpickle. */
static ck_status missing_member(const ck_zip_in *z, const char *member)
{
    if (strcmp(member, "model.weights.h5") == 0 && has_member(z, "model.weights.npz"))
        return ck_error(CK_ERR_UNSUPPORTED,
                        "'%s' keeps its weights in model.weights.npz (Keras 3's "
                        "weights_format=\"npz\", Python pickles) which ckeras does not read; "
                        "save it again with the default weights_format=\"h5\"",
                        z->path);
    return ck_error(CK_ERR_FORMAT, "'%s' has no %s (not a Keras 3 %s?)", z->path, member,
                    z->za ? ".keras file" : "model directory");
}

/* A member of a directory model: a regular file, read whole when within
 * the limit. */
static ck_status read_file_member(const ck_zip_in *z, const char *member, const ck_zip_limit *limit,
                                  bool required, void **data, size_t *size)
{
    char file[4096];
    CK_TRY(member_path(z, member, file, sizeof file));
    struct stat sb;
    if (lstat(file, &sb) != 0)
        return required ? missing_member(z, member) : CK_OK;
    char *buf = NULL;
    size_t len = 0;
    ck_status st = ck_read_file_limited(file, limit ? limit->bytes : SIZE_MAX - 1, &buf, &len);
    if (st != CK_OK)
        return st;
    *data = buf;
    *size = len;
    return CK_OK;
}

/* The declared size is what gets allocated, so it must be one the member's
 * compressed bytes can produce: equal to them when stored (Keras stores
 * model.weights.h5), within deflate's maximum ratio otherwise. Those bytes
 * must in turn lie in the archive, whose size bounds the allocation. */
static ck_status check_declared_size(const ck_zip_in *z, const zip_stat_t *st, const char *member,
                                     const ck_zip_limit *limit)
{
    if (!(st->valid & ZIP_STAT_SIZE) || !(st->valid & ZIP_STAT_COMP_SIZE) ||
        !(st->valid & ZIP_STAT_COMP_METHOD))
        return ck_error(CK_ERR_FORMAT, "'%s': member %s has no size", z->path, member);
    if (st->valid & ZIP_STAT_ENCRYPTION_METHOD && st->encryption_method != ZIP_EM_NONE)
        return ck_error(CK_ERR_UNSUPPORTED, "'%s': member %s is encrypted; Keras archives are not",
                        z->path, member);
    if (st->size > limit->bytes)
        return ck_error(CK_ERR_FORMAT, "'%s': member %s declares %llu bytes, more than %llu (%s)",
                        z->path, member, (unsigned long long)st->size,
                        (unsigned long long)limit->bytes, limit->why);
    if (st->comp_size > z->archive_size)
        return ck_error(CK_ERR_FORMAT,
                        "'%s': member %s claims %llu compressed bytes, more than the "
                        "archive holds (corrupt archive)",
                        z->path, member, (unsigned long long)st->comp_size);
    bool stored = st->comp_method == ZIP_CM_STORE;
    if (stored ? st->size != st->comp_size
               : st->size / CK_DEFLATE_MAX_RATIO > st->comp_size + MAX_DEFLATE_SLACK)
        return ck_error(CK_ERR_FORMAT,
                        "'%s': member %s declares %llu bytes from %llu %s bytes "
                        "(corrupt archive)",
                        z->path, member, (unsigned long long)st->size,
                        (unsigned long long)st->comp_size, stored ? "stored" : "compressed");
    return CK_OK;
}

/* Reads exactly the declared bytes; the extra read must find the end,
 * which is where libzip checks the CRC. */
static ck_status inflate_member(const ck_zip_in *z, zip_int64_t index, const char *member,
                                char *buf, zip_uint64_t size)
{
    zip_file_t *zf = ck_libzip.fopen_index(z->za, (zip_uint64_t)index, 0);
    if (!zf)
        return ck_error(CK_ERR_FORMAT, "'%s': member %s cannot be opened: %s", z->path, member,
                        ck_libzip.strerror(z->za));
    char extra;
    zip_int64_t got = ck_libzip.fread(zf, buf, size);
    bool whole = got >= 0 && (zip_uint64_t)got == size;
    zip_int64_t more = whole ? ck_libzip.fread(zf, &extra, 1) : 0;
    ck_status st = CK_OK;
    if (got < 0 || more < 0)
        st = ck_error(CK_ERR_FORMAT, "'%s': member %s cannot be read: %s (corrupt archive)",
                      z->path, member, ck_libzip.file_strerror(zf));
    else if (!whole || more != 0)
        st = ck_error(CK_ERR_FORMAT,
                      "'%s': member %s does not have the %llu bytes it declares "
                      "(corrupt archive)",
                      z->path, member, (unsigned long long)size);
    ck_libzip.fclose(zf);
    return st;
}

ck_status ck_keras_zip_member_size(ck_zip_in *z, const char *member, uint64_t *size)
{
    *size = 0;
    if (!z->za) {
        char file[4096];
        struct stat sb;
        CK_TRY(member_path(z, member, file, sizeof file));
        if (stat(file, &sb) != 0 || !S_ISREG(sb.st_mode))
            return missing_member(z, member);
        *size = (uint64_t)sb.st_size;
        return CK_OK;
    }
    zip_int64_t index;
    CK_TRY(find_member(z, member, &index));
    zip_stat_t st;
    ck_libzip.stat_init(&st);
    if (index < 0)
        return missing_member(z, member);
    if (ck_libzip.stat_index(z->za, (zip_uint64_t)index, 0, &st) != 0 ||
        !(st.valid & ZIP_STAT_SIZE))
        return ck_error(CK_ERR_FORMAT, "'%s': member %s is corrupt", z->path, member);
    *size = st.size;
    return CK_OK;
}

ck_status ck_keras_zip_member(ck_zip_in *z, const char *member, const ck_zip_limit *limit,
                              bool required, void **data, size_t *size)
{
    *data = NULL;
    *size = 0;
    if (!z->za)
        return read_file_member(z, member, limit, required, data, size);
    zip_int64_t index;
    CK_TRY(find_member(z, member, &index));
    if (index < 0)
        return required ? missing_member(z, member) : CK_OK;
    zip_stat_t st;
    ck_libzip.stat_init(&st);
    if (ck_libzip.stat_index(z->za, (zip_uint64_t)index, 0, &st) != 0)
        return ck_error(CK_ERR_FORMAT, "'%s': member %s is corrupt", z->path, member);
    CK_TRY(check_declared_size(z, &st, member, limit));
    /* Filled at once by inflating: huge pages from 1 MiB on (a 2.4 MB
     * model.weights.h5 took 7 ms more on 4 KiB pages). */
    char *buf = ck_alloc_bulk((size_t)st.size + 1, 1);
    if (!buf)
        return CK_ERR_MEMORY;
    buf[st.size] = '\0';
    ck_status rc = inflate_member(z, index, member, buf, st.size);
    if (rc != CK_OK) {
        free(buf);
        return rc;
    }
    *data = buf;
    *size = (size_t)st.size;
    return CK_OK;
}

ck_zip_limit ck_zip_user_limit(void)
{
    return (ck_zip_limit){ck_limit_get(CK_LIMIT_ARCHIVE_MEMBER),
                          "the limit CK_LIMIT_ARCHIVE_MEMBER"};
}

ck_status ck_keras_zip_read(const char *path, ck_keras_zip *out)
{
    *out = (ck_keras_zip){0};
    ck_zip_in *z;
    CK_TRY(ck_keras_zip_open(path, &z));
    static const ck_zip_limit json = {CK_IO_MAX_JSON, "the JSON size limit"};
    static const ck_zip_limit metadata = {CK_IO_MAX_METADATA, "the metadata size limit"};
    const ck_zip_limit weights = ck_zip_user_limit();
    size_t size;
    void *text = NULL;
    ck_status st = ck_keras_zip_member(z, "config.json", &json, true, &text, &size);
    out->config = text;
    if (st == CK_OK)
        st = ck_keras_zip_member(z, "metadata.json", &metadata, false, &text, &size);
    if (st == CK_OK)
        out->metadata = text;
    if (st == CK_OK)
        st = ck_keras_zip_member(z, "model.weights.h5", &weights, true, &out->weights,
                                 &out->weights_size);
    ck_keras_zip_close(z);
    if (st != CK_OK)
        ck_keras_zip_free(out);
    return st;
}

static bool add_member(zip_t *za, const char *name, const void *data, size_t size)
{
    zip_source_t *src = ck_libzip.source_buffer(za, data, size, 0);
    if (!src)
        return false;
    zip_int64_t idx = ck_libzip.file_add(za, name, src, ZIP_FL_OVERWRITE | ZIP_FL_ENC_UTF_8);
    if (idx < 0) {
        ck_libzip.source_free(src);
        return false;
    }
    return ck_libzip.set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_STORE, 0) == 0;
}

/* Copies the finished archive out of its memory source. */
static ck_status copy_out(zip_source_t *src, ck_io_sink *out)
{
    if (ck_libzip.source_open(src) != 0)
        return ck_error(CK_ERR_MEMORY, "cannot read back the archive for '%s'",
                        ck_io_sink_path(out));
    static const size_t chunk = 1 << 16;
    char *buf = ck_alloc(chunk, 1);
    ck_status st = buf ? CK_OK : CK_ERR_MEMORY;
    for (zip_int64_t n; st == CK_OK && (n = ck_libzip.source_read(src, buf, chunk)) != 0;)
        st = n > 0 ? ck_io_sink_write(out, buf, (size_t)n)
                   : ck_error(CK_ERR_MEMORY, "cannot read back the archive for '%s'",
                              ck_io_sink_path(out));
    free(buf);
    ck_libzip.source_close(src);
    return st;
}

ck_status ck_zip_write(ck_io_sink *out, ck_status (*fill)(zip_t *za, const void *ctx),
                       const void *ctx)
{
    CK_TRY(ck_libzip_open());
    zip_error_t ze;
    ck_libzip.error_init(&ze);
    zip_source_t *src = ck_libzip.source_buffer_create(NULL, 0, 0, &ze);
    zip_t *za = src ? ck_libzip.open_from_source(src, ZIP_TRUNCATE, &ze) : NULL;
    if (!za) {
        ck_libzip.source_free(src);
        ck_libzip.error_fini(&ze);
        return ck_error(CK_ERR_MEMORY, "cannot start the archive for '%s'", ck_io_sink_path(out));
    }
    ck_libzip.error_fini(&ze);
    /* The archive owns the source; one more reference keeps its bytes
     * after zip_close. */
    ck_libzip.source_keep(src);
    ck_status st = fill(za, ctx);
    if (st == CK_OK && ck_libzip.close(za) != 0)
        st = ck_error(CK_ERR_MEMORY, "cannot build the archive for '%s': %s", ck_io_sink_path(out),
                      ck_libzip.strerror(za));
    if (st != CK_OK)
        ck_libzip.discard(za);
    else
        st = copy_out(src, out);
    ck_libzip.source_free(src);
    return st;
}

static ck_status fill_keras(zip_t *za, const void *ctx)
{
    const ck_keras_zip *z = ctx;
    /* Keras writes the members in this order. */
    bool ok = add_member(za, "metadata.json", z->metadata, strlen(z->metadata)) &&
              add_member(za, "config.json", z->config, strlen(z->config)) &&
              add_member(za, "model.weights.h5", z->weights, z->weights_size);
    return ok ? CK_OK
              : ck_error(CK_ERR_MEMORY, "cannot add to the archive: %s", ck_libzip.strerror(za));
}

ck_status ck_keras_zip_write(ck_io_sink *out, const ck_keras_zip *z)
{
    return ck_zip_write(out, fill_keras, z);
}

void ck_keras_zip_free(ck_keras_zip *z)
{
    free(z->config);
    free(z->metadata);
    free(z->weights);
    *z = (ck_keras_zip){0};
}
