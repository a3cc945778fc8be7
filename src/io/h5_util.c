/* HDF5 plumbing shared by every layout: quiet error handling, opening
 * files, the many string-attribute encodings Keras writers produced, and
 * float datasets with shape checks. */
#include "ck_io.h"
#include "ck_vmath.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Keras's HDF5_OBJECT_HEADER_LIMIT: larger attributes are split. */
#define OBJECT_HEADER_LIMIT 64512
/* Total bytes of one string attribute we agree to read. */
#define MAX_ATTR_BYTES (256u << 20)

void ck_h5_quiet_begin(ck_h5_quiet *q)
{
    H5Eget_auto2(H5E_DEFAULT, &q->func, &q->data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

/* libhdf5 keeps each thread's error stack until its next API call, and a
 * thread that ends with one frees the stack but not its entries: a failed
 * load on a thread of the caller's leaked them, and the references they
 * hold kept libhdf5 from closing at exit ("infinite loop closing
 * library"). So no call leaves an error stack behind. */
void ck_h5_quiet_end(const ck_h5_quiet *q)
{
    H5Eclear2(H5E_DEFAULT);
    H5Eset_auto2(H5E_DEFAULT, q->func, q->data);
}

/* Keras files only hold hard links. An external link would let a hostile
 * file pull in any HDF5 file on disk, unscreened, and a soft link could
 * alias a path the checks already passed; both are refused up front. */
typedef struct link_check {
    char name[256];
    H5L_type_t type;
} link_check;

static herr_t check_link(hid_t group, const char *name, const ck_h5_link_info *info, void *ctx)
{
    (void)group;
    link_check *c = ctx;
    if (info->type == H5L_TYPE_HARD)
        return 0;
    c->type = info->type;
    snprintf(c->name, sizeof c->name, "%s", name);
    return 1;
}

static ck_status refuse_non_hard_links(hid_t file, const char *label)
{
    link_check c = {.type = H5L_TYPE_HARD};
    herr_t rc = ck_h5_visit_links(file, H5_INDEX_NAME, H5_ITER_NATIVE, check_link, &c);
    if (rc < 0)
        return ck_error(CK_ERR_FORMAT, "%s is a corrupt HDF5 file (its groups cannot be listed)",
                        label);
    if (rc > 0)
        return ck_error(CK_ERR_FORMAT, "%s: '%s' is %s link; only hard links are accepted", label,
                        c.name,
                        c.type == H5L_TYPE_EXTERNAL ? "an external"
                        : c.type == H5L_TYPE_SOFT   ? "a soft"
                                                    : "a user-defined");
    return CK_OK;
}

static ck_status checked_open(hid_t *file, const char *label)
{
    if (*file < 0)
        return ck_error(CK_ERR_FORMAT, "%s is a corrupt or truncated HDF5 file", label);
    ck_status st = refuse_non_hard_links(*file, label);
    if (st != CK_OK) {
        H5Fclose(*file);
        *file = -1;
    }
    return st;
}

ck_status ck_h5_open(const char *path, hid_t *file)
{
    *file = -1;
    int fd;
    size_t size;
    CK_TRY(ck_io_open_input(path, &fd, &size));
    char label[1024], name[4096];
    snprintf(label, sizeof label, "'%s'", path);
    ck_io_fd_path(fd, path, name, sizeof name);
    ck_status st = H5Fis_hdf5(name) > 0 ? ck_h5_screen_fd(fd, size, label)
                                        : ck_error(CK_ERR_FORMAT, "'%s' is not an HDF5 file", path);
    if (st == CK_OK) {
        *file = H5Fopen(name, H5F_ACC_RDONLY, H5P_DEFAULT);
        st = checked_open(file, label);
    }
    close(fd);
    return st;
}

/* An image HDF5 reads in place. Without callbacks, H5Pset_file_image and
 * the core driver each keep a copy (for a 2.4 MB model.weights.h5, 15 ms
 * of fresh memory on a first load). With these, every "allocation" of the
 * image is the caller's buffer (the udata) and every copy of it onto
 * itself is skipped; a read-only file never resizes it. HDF5's high-level
 * H5LTopen_file_image does the same, but in HDF5 1.10 (Debian 12) leaks
 * its own 72-byte state at every open (HDFGroup/hdf5#827). */
static void *image_in_place(size_t size, H5FD_file_image_op_t op, void *buf)
{
    (void)size, (void)op;
    return buf;
}

static void *copy_unless_same(void *dest, const void *src, size_t size, H5FD_file_image_op_t op,
                              void *buf)
{
    (void)op, (void)buf;
    return dest == src ? dest : memcpy(dest, src, size);
}

static void *no_resize(void *ptr, size_t size, H5FD_file_image_op_t op, void *buf)
{
    (void)ptr, (void)size, (void)op, (void)buf;
    return NULL;
}

static herr_t keep_image(void *ptr, H5FD_file_image_op_t op, void *buf)
{
    (void)ptr, (void)op, (void)buf;
    return 0;
}

static void *same_buffer(void *buf)
{
    return buf;
}

static herr_t nothing_to_free(void *buf)
{
    (void)buf;
    return 0;
}

ck_status ck_h5_open_image(const void *buf, size_t size, const char *label, hid_t *file)
{
    *file = -1;
    CK_TRY(ck_h5_screen(buf, size, label));
    H5FD_file_image_callbacks_t in_place = {image_in_place, copy_unless_same, no_resize,
                                            keep_image,     same_buffer,      nothing_to_free,
                                            (void *)buf};
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    /* H5Fclose then ends the file even if an object of it were left
     * open: the caller frees buf right after. */
    bool ok = fapl >= 0 && H5Pset_fapl_core(fapl, 1 << 20, 0) >= 0 &&
              H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) >= 0 &&
              H5Pset_file_image_callbacks(fapl, &in_place) >= 0 &&
              H5Pset_file_image(fapl, (void *)buf, size) >= 0;
    if (ok) {
        /* HDF5 takes two open images of one name for one file: the name
         * carries the buffer's address, unique while it is open. */
        char name[64];
        snprintf(name, sizeof name, "ckeras-image-%p", buf);
        *file = H5Fopen(name, H5F_ACC_RDONLY, fapl);
    }
    if (fapl >= 0)
        H5Pclose(fapl);
    return ok ? checked_open(file, label)
              : ck_error(CK_ERR_MEMORY, "out of memory opening %s", label);
}

void ck_strlist_free(ck_strlist *l)
{
    for (int i = 0; l->items && i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

static ck_status strlist_push(ck_strlist *l, const char *s, size_t len)
{
    if (l->n >= CK_IO_MAX_STRINGS)
        return ck_error(CK_ERR_FORMAT, "name list has more than %d entries", CK_IO_MAX_STRINGS);
    char **items = ck_realloc_array(l->items, (size_t)l->n + 1, sizeof *items);
    if (!items)
        return CK_ERR_MEMORY;
    l->items = items;
    char *copy = ck_alloc(len + 1, 1);
    if (!copy)
        return CK_ERR_MEMORY;
    memcpy(copy, s, len);
    l->items[l->n++] = copy;
    return CK_OK;
}

static ck_status read_vlen(hid_t a, hid_t ftype, hid_t space, size_t n, const char *name,
                           ck_strlist *out)
{
    char **buf = ck_alloc(n ? n : 1, sizeof *buf);
    if (!buf)
        return CK_ERR_MEMORY;
    /* Same character set as the file, since HDF5 refuses ASCII<->UTF-8. */
    hid_t mt = H5Tcopy(H5T_C_S1);
    ck_status st = CK_OK;
    if (mt < 0 || H5Tset_size(mt, H5T_VARIABLE) < 0 || H5Tset_cset(mt, H5Tget_cset(ftype)) < 0 ||
        H5Aread(a, mt, buf) < 0) {
        st = ck_error(CK_ERR_FORMAT, "attribute '%s' cannot be read as strings", name);
    } else {
        for (size_t i = 0; i < n && st == CK_OK; i++)
            st = strlist_push(out, buf[i] ? buf[i] : "", buf[i] ? strlen(buf[i]) : 0);
#if H5_VERSION_GE(1, 12, 0)
        H5Treclaim(mt, space, H5P_DEFAULT, buf);
#else
        H5Dvlen_reclaim(mt, space, H5P_DEFAULT, buf);
#endif
    }
    if (mt >= 0)
        H5Tclose(mt);
    free(buf);
    return st;
}

/* Fixed-length strings are NULL-padded; the longest one fills its slot
 * and has no terminator, hence strnlen. */
static ck_status read_fixed(hid_t a, hid_t ftype, size_t n, const char *name, ck_strlist *out)
{
    size_t width = H5Tget_size(ftype), total;
    if (width == 0 || !ck_size_mul(width, n, &total) || total > MAX_ATTR_BYTES)
        return ck_error(CK_ERR_FORMAT, "attribute '%s' has an implausible size", name);
    char *buf = ck_alloc(total ? total : 1, 1);
    if (!buf)
        return CK_ERR_MEMORY;
    ck_status st = CK_OK;
    if (H5Aread(a, ftype, buf) < 0)
        st = ck_error(CK_ERR_FORMAT, "attribute '%s' cannot be read as strings", name);
    for (size_t i = 0; i < n && st == CK_OK; i++) {
        const char *item = buf + i * width;
        size_t len = strnlen(item, width);
        /* Padding is all NULs; text after a NUL would be silently lost. */
        for (size_t k = len; k < width && st == CK_OK; k++)
            if (item[k])
                st = ck_error(CK_ERR_FORMAT,
                              "attribute '%s' has a NUL byte inside a string (at byte %zu)", name,
                              len);
        if (st == CK_OK)
            st = strlist_push(out, item, len);
    }
    free(buf);
    return st;
}

/* Appends the strings of one attribute to out. */
static ck_status read_one_attr(hid_t obj, const char *name, ck_strlist *out)
{
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0)
        return ck_error(CK_ERR_FORMAT, "attribute '%s' cannot be opened", name);
    hid_t t = H5Aget_type(a), s = H5Aget_space(a);
    hssize_t n = s >= 0 ? H5Sget_simple_extent_npoints(s) : -1;
    ck_status st;
    if (t < 0 || n < 0 || n > CK_IO_MAX_STRINGS)
        st = ck_error(CK_ERR_FORMAT, "attribute '%s' is corrupt or too large", name);
    else if (H5Tget_class(t) == H5T_STRING)
        st = H5Tis_variable_str(t) > 0 ? read_vlen(a, t, s, (size_t)n, name, out)
                                       : read_fixed(a, t, (size_t)n, name, out);
    else if (n == 0)
        st = CK_OK; /* Keras stores an empty name list as an empty float64 array */
    else
        st = ck_error(CK_ERR_FORMAT, "attribute '%s' does not hold strings", name);
    if (t >= 0)
        H5Tclose(t);
    if (s >= 0)
        H5Sclose(s);
    H5Aclose(a);
    return st;
}

static bool attr_exists(hid_t obj, const char *name)
{
    return H5Aexists(obj, name) > 0;
}

bool ck_h5_has_attr(hid_t obj, const char *name)
{
    char split[CK_NAME_MAX + 16];
    snprintf(split, sizeof split, "%s0", name);
    return attr_exists(obj, name) || attr_exists(obj, split);
}

ck_status ck_h5_read_strings(hid_t obj, const char *name, ck_strlist *out)
{
    *out = (ck_strlist){0};
    ck_status st = CK_OK;
    if (attr_exists(obj, name)) {
        st = read_one_attr(obj, name, out);
    } else {
        char split[CK_NAME_MAX + 16];
        int k = 0;
        for (; st == CK_OK && k < CK_IO_MAX_STRINGS; k++) {
            snprintf(split, sizeof split, "%s%d", name, k);
            if (!attr_exists(obj, split))
                break;
            st = read_one_attr(obj, split, out);
        }
        if (st == CK_OK && k == 0)
            st = ck_error(CK_ERR_FORMAT, "attribute '%s' is missing", name);
    }
    if (st != CK_OK)
        ck_strlist_free(out);
    return st;
}

ck_status ck_h5_read_string(hid_t obj, const char *name, char **out)
{
    ck_strlist l;
    CK_TRY(ck_h5_read_strings(obj, name, &l));
    if (l.n != 1) {
        ck_strlist_free(&l);
        return ck_error(CK_ERR_FORMAT, "attribute '%s' should hold one string", name);
    }
    *out = l.items[0];
    free(l.items);
    return CK_OK;
}

bool ck_h5_has_link(hid_t loc, const char *path)
{
    char buf[1024];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, path, len + 1);
    /* H5Lexists needs every intermediate link to exist, so walk prefixes. */
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char saved = buf[i];
        buf[i] = '\0';
        bool ok = H5Lexists(loc, buf, H5P_DEFAULT) > 0;
        buf[i] = saved;
        if (!ok)
            return false;
    }
    return true;
}

ck_status ck_h5_write_string(hid_t obj, const char *name, const char *value)
{
    hid_t t = H5Tcopy(H5T_C_S1), s = H5Screate(H5S_SCALAR), a = -1;
    bool ok = t >= 0 && s >= 0 && H5Tset_size(t, H5T_VARIABLE) >= 0 &&
              H5Tset_cset(t, H5T_CSET_UTF8) >= 0;
    if (ok)
        a = H5Acreate2(obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    ok = ok && a >= 0 && H5Awrite(a, t, &value) >= 0;
    if (a >= 0)
        H5Aclose(a);
    if (s >= 0)
        H5Sclose(s);
    if (t >= 0)
        H5Tclose(t);
    return ok ? CK_OK : ck_error(CK_ERR_IO, "cannot write attribute '%s'", name);
}

static ck_status write_empty_list(hid_t obj, const char *name)
{
    hsize_t zero = 0;
    hid_t s = H5Screate_simple(1, &zero, NULL);
    hid_t a = s >= 0 ? H5Acreate2(obj, name, H5T_IEEE_F64LE, s, H5P_DEFAULT, H5P_DEFAULT) : -1;
    if (a >= 0)
        H5Aclose(a);
    if (s >= 0)
        H5Sclose(s);
    return a >= 0 ? CK_OK : ck_error(CK_ERR_IO, "cannot write attribute '%s'", name);
}

static ck_status write_fixed_chunk(hid_t obj, const char *name, const char *const *items, size_t n,
                                   size_t width)
{
    char *buf = ck_alloc(n * width, 1);
    if (!buf)
        return CK_ERR_MEMORY;
    for (size_t i = 0; i < n; i++)
        memcpy(buf + i * width, items[i], strlen(items[i]));
    hsize_t dim = n;
    hid_t t = H5Tcopy(H5T_C_S1), s = H5Screate_simple(1, &dim, NULL), a = -1;
    bool ok = t >= 0 && s >= 0 && H5Tset_size(t, width) >= 0 &&
              H5Tset_strpad(t, H5T_STR_NULLPAD) >= 0;
    if (ok)
        a = H5Acreate2(obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    ok = ok && a >= 0 && H5Awrite(a, t, buf) >= 0;
    if (a >= 0)
        H5Aclose(a);
    if (s >= 0)
        H5Sclose(s);
    if (t >= 0)
        H5Tclose(t);
    free(buf);
    return ok ? CK_OK : ck_error(CK_ERR_IO, "cannot write attribute '%s'", name);
}

ck_status ck_h5_write_strings(hid_t obj, const char *name, const char *const *items, int n)
{
    if (n == 0)
        return write_empty_list(obj, name);
    size_t width = 1, count = (size_t)n;
    for (size_t i = 0; i < count; i++) {
        size_t len = strlen(items[i]);
        width = len > width ? len : width;
    }
    if (width > OBJECT_HEADER_LIMIT)
        return ck_error(CK_ERR_ARGUMENT, "name '%.40s...' is too long for an HDF5 attribute",
                        items[0]);
    /* numpy.array_split into k parts: the first n % k parts are one longer. */
    size_t k = 1;
    while ((count + k - 1) / k * width > OBJECT_HEADER_LIMIT)
        k++;
    if (k == 1)
        return write_fixed_chunk(obj, name, items, count, width);
    char split[CK_NAME_MAX + 16];
    for (size_t c = 0, start = 0; c < k; c++) {
        size_t len = count / k + (c < count % k);
        snprintf(split, sizeof split, "%s%zu", name, c);
        CK_TRY(write_fixed_chunk(obj, split, items + start, len, width));
        start += len;
    }
    return CK_OK;
}

static void format_dims(int rank, const int64_t *dims, char *buf, size_t len)
{
    size_t used = (size_t)snprintf(buf, len, "(");
    for (int i = 0; i < rank && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, i ? ", %lld" : "%lld", (long long)dims[i]);
    if (used < len)
        snprintf(buf + used, len - used, rank == 1 ? ",)" : ")");
}

static const char *type_class_name(H5T_class_t c)
{
    switch (c) {
    case H5T_INTEGER:
        return "integer";
    case H5T_STRING:
        return "string";
    case H5T_COMPOUND:
        return "compound";
    default:
        return "non-float";
    }
}

/* Keras 3.1+ stores a bfloat16 variable as its raw 2-byte values (an
 * opaque type, since h5py knows no bfloat16) with attribute
 * dtype = "bfloat16". */
static bool is_bfloat16(hid_t d)
{
    char *dtype = NULL;
    if (!ck_h5_has_attr(d, "dtype") || ck_h5_read_string(d, "dtype", &dtype) != CK_OK) {
        ck_clear_error();
        return false;
    }
    hid_t t = H5Dget_type(d);
    bool bf16 = strcmp(dtype, "bfloat16") == 0 && t >= 0 && H5Tget_size(t) == 2;
    if (t >= 0)
        H5Tclose(t);
    free(dtype);
    return bf16;
}

/* Values of an integer dataset holding a weight: int8 ones are the kernel
 * of a quantised layer. */
static ck_status not_floats(const char *layer, const ck_weight *w, const char *path,
                            H5T_class_t cls, size_t size)
{
    if (cls == H5T_INTEGER && size == 1)
        return ck_error(
            CK_ERR_UNSUPPORTED,
            "layer '%s', weight '%s': dataset '%s' holds int8 values: an int8-quantised "
            "layer (QuantizedDTypePolicy) is not supported by ckeras",
            layer, w->name, path);
    return ck_error(CK_ERR_FORMAT,
                    "layer '%s', weight '%s': dataset '%s' holds %s values, not floats", layer,
                    w->name, path, type_class_name(cls));
}

/* Checks class and shape of an open dataset against the weight. */
static ck_status check_dataset(hid_t d, const char *path, const char *layer, const ck_weight *w,
                               bool any_number, bool bf16)
{
    hid_t t = H5Dget_type(d), s = H5Dget_space(d);
    H5T_class_t cls = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
    size_t size = t >= 0 ? H5Tget_size(t) : 0;
    int rank = s >= 0 ? H5Sget_simple_extent_ndims(s) : -1;
    hsize_t hd[H5S_MAX_RANK] = {0};
    int64_t found[H5S_MAX_RANK] = {0};
    if (rank >= 0 && rank <= H5S_MAX_RANK)
        H5Sget_simple_extent_dims(s, hd, NULL);
    if (t >= 0)
        H5Tclose(t);
    if (s >= 0)
        H5Sclose(s);
    if (cls != H5T_FLOAT && !(any_number && cls == H5T_INTEGER) && !bf16)
        return not_floats(layer, w, path, cls, size);
    if (rank < 0 || rank > H5S_MAX_RANK)
        return ck_error(CK_ERR_FORMAT, "layer '%s', weight '%s': dataset '%s' has a corrupt shape",
                        layer, w->name, path);
    bool same = rank == w->rank;
    for (int i = 0; i < rank; i++) {
        found[i] = (int64_t)hd[i];
        same = same && found[i] == w->dims[i];
    }
    if (!same) {
        char want[96], got[96];
        format_dims(w->rank, w->dims, want, sizeof want);
        format_dims(rank, found, got, sizeof got);
        return ck_error(CK_ERR_SHAPE, "layer '%s', weight '%s' (%s): expected shape %s, found %s",
                        layer, w->name, path, want, got);
    }
    return CK_OK;
}

/* The raw 2-byte values land in the first half of dst and widen in place,
 * last first: value i moves to bytes 4i..4i+3, which only held values >= i.
 * bfloat16 is the top half of a float32, as Keras converts it on load. */
static herr_t read_bfloat16(hid_t d, float *dst, size_t n)
{
    hid_t t = H5Dget_type(d);
    herr_t rc = t >= 0 ? H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, dst) : -1;
    if (t >= 0)
        H5Tclose(t);
    const unsigned char *raw = (const unsigned char *)dst;
    for (size_t i = n; rc >= 0 && i-- > 0;) {
        uint32_t bits = ((uint32_t)raw[2 * i] | (uint32_t)raw[2 * i + 1] << 8) << 16;
        memcpy(&dst[i], &bits, sizeof bits);
    }
    return rc;
}

ck_status ck_h5_read_weight(hid_t loc, const char *path, const char *layer, const ck_weight *w,
                            bool any_number, float *dst)
{
    if (!ck_h5_has_link(loc, path))
        return ck_error(CK_ERR_FORMAT, "layer '%s', weight '%s': dataset '%s' is missing", layer,
                        w->name, path);
    hid_t d = H5Dopen2(loc, path, H5P_DEFAULT);
    if (d < 0)
        return ck_error(CK_ERR_FORMAT, "layer '%s', weight '%s': '%s' is not a dataset", layer,
                        w->name, path);
    bool bf16 = is_bfloat16(d);
    ck_status st = check_dataset(d, path, layer, w, any_number, bf16);
    char what[CK_NAME_MAX + 1100];
    snprintf(what, sizeof what, "layer '%s', weight '%s': dataset '%s'", layer, w->name, path);
    if (st == CK_OK)
        st = ck_h5_check_dataset(d, what);
    /* HDF5 converts float64 (and other float widths) to float32 here. */
    if (st == CK_OK &&
        (bf16 ? read_bfloat16(d, dst, w->size)
              : H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, dst)) < 0)
        st = ck_error(CK_ERR_FORMAT,
                      "layer '%s', weight '%s': dataset '%s' cannot be read (corrupt file?)", layer,
                      w->name, path);
    H5Dclose(d);
    /* A NaN or Inf weight would silently poison every prediction. */
    size_t bad = st == CK_OK ? ck_vfind_nonfinite(dst, w->size) : w->size;
    if (bad < w->size)
        st = ck_error(CK_ERR_NUMERIC, "layer '%s', weight '%s': value #%zu is %s", layer, w->name,
                      bad, dst[bad] != dst[bad] ? "NaN" : "infinite");
    return st;
}

/* Per thread, like the allocation-failure hook, so a test that injects a
 * failure never hits another thread's save. */
static _Thread_local long fail_countdown;

void ck_io_debug_fail_write_after(long n)
{
    fail_countdown = n;
}

/* Called before each dataset write; returns the injected failure. */
static ck_status write_point(void)
{
    if (fail_countdown > 0 && --fail_countdown == 0)
        return ck_error(CK_ERR_IO, "injected write failure (test hook)");
    return CK_OK;
}

static ck_status write_dataset(hid_t loc, const char *path, int rank, const int64_t *dims,
                               hid_t file_type, hid_t mem_type, const void *data)
{
    CK_TRY(write_point());
    hsize_t hd[CK_MAX_RANK];
    if (rank < 0 || rank > CK_MAX_RANK)
        return ck_error(CK_ERR_ARGUMENT, "cannot write dataset '%s' of rank %d (at most %d)", path,
                        rank, CK_MAX_RANK);
    for (int i = 0; i < rank; i++)
        hd[i] = (hsize_t)dims[i];
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    hid_t s = rank ? H5Screate_simple(rank, hd, NULL) : H5Screate(H5S_SCALAR), d = -1;
    if (lcpl >= 0 && s >= 0 && H5Pset_create_intermediate_group(lcpl, 1) >= 0)
        d = H5Dcreate2(loc, path, file_type, s, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    bool ok = d >= 0 && H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0;
    if (d >= 0)
        H5Dclose(d);
    if (s >= 0)
        H5Sclose(s);
    if (lcpl >= 0)
        H5Pclose(lcpl);
    return ok ? CK_OK : ck_error(CK_ERR_IO, "cannot write dataset '%s'", path);
}

ck_status ck_h5_write_floats(hid_t loc, const char *path, int rank, const int64_t *dims,
                             const float *data)
{
    return write_dataset(loc, path, rank, dims, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, data);
}

ck_status ck_h5_write_int64(hid_t loc, const char *path, int64_t value)
{
    return write_dataset(loc, path, 0, NULL, H5T_STD_I64LE, H5T_NATIVE_INT64, &value);
}

ck_status ck_h5_read_layer_weight(hid_t loc, const char *path, const char *layer, ck_weight *w,
                                  float *dst)
{
    CK_TRY(ck_h5_read_weight(loc, path, layer, w, w->int64, dst));
    if (!w->int64 || w->size != 1)
        return CK_OK;
    /* The same dataset again, converted by HDF5 to int64 this time. */
    hid_t d = H5Dopen2(loc, path, H5P_DEFAULT);
    int64_t v = 0;
    if (d < 0 || H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v) < 0)
        v = llroundf(*dst);
    if (d >= 0)
        H5Dclose(d);
    w->exact = v;
    return CK_OK;
}

ck_status ck_h5_write_weight(hid_t loc, const char *path, const ck_weight *w)
{
    if (!w->int64)
        return ck_h5_write_floats(loc, path, w->rank, w->dims, w->data);
    int64_t *v = ck_alloc(w->size, sizeof *v);
    if (!v)
        return CK_ERR_MEMORY;
    for (size_t i = 0; i < w->size; i++)
        v[i] = (int64_t)llroundf(w->data[i]);
    if (w->size == 1 && (float)w->exact == w->data[0])
        v[0] = w->exact;
    ck_status st = write_dataset(loc, path, w->rank, w->dims, H5T_STD_I64LE, H5T_NATIVE_INT64, v);
    free(v);
    return st;
}

bool ck_h5_dataset_dims(hid_t loc, const char *path, int *rank, int64_t dims[4])
{
    if (!ck_h5_has_link(loc, path))
        return false;
    hid_t d = H5Dopen2(loc, path, H5P_DEFAULT);
    hid_t s = d >= 0 ? H5Dget_space(d) : -1;
    int r = s >= 0 ? H5Sget_simple_extent_ndims(s) : -1;
    hsize_t hd[4] = {0};
    bool ok = r >= 0 && r <= 4 && H5Sget_simple_extent_dims(s, hd, NULL) >= 0;
    for (int i = 0; ok && i < r; i++)
        dims[i] = (int64_t)hd[i];
    *rank = r;
    if (s >= 0)
        H5Sclose(s);
    if (d >= 0)
        H5Dclose(d);
    return ok;
}

ck_status ck_h5_image(const char *label, ck_h5_writer fn, void *ctx, void **buf, size_t *size)
{
    /* The core driver without a backing store keeps the file in memory;
     * the name only has to differ from other files open at once. */
    static _Atomic unsigned long serial;
    char name[64];
    snprintf(name, sizeof name, "ckeras-image-%lu.h5", serial++);
    *buf = NULL;
    *size = 0;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), f = -1;
    if (fapl >= 0 && H5Pset_fapl_core(fapl, 1 << 16, 0) >= 0)
        f = H5Fcreate(name, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (fapl >= 0)
        H5Pclose(fapl);
    if (f < 0)
        return ck_error(CK_ERR_MEMORY, "cannot create the HDF5 file for '%s' in memory", label);
    ck_status st = fn(f, ctx);
    ssize_t n = st == CK_OK && H5Fflush(f, H5F_SCOPE_GLOBAL) >= 0 ? H5Fget_file_image(f, NULL, 0)
                                                                  : -1;
    if (st == CK_OK && n <= 0)
        st = ck_error(CK_ERR_MEMORY, "cannot serialize the HDF5 file for '%s'", label);
    if (st == CK_OK && !(*buf = ck_alloc((size_t)n, 1)))
        st = CK_ERR_MEMORY;
    if (st == CK_OK && H5Fget_file_image(f, *buf, (size_t)n) != n)
        st = ck_error(CK_ERR_MEMORY, "cannot serialize the HDF5 file for '%s'", label);
    H5Fclose(f);
    if (st != CK_OK) {
        free(*buf);
        *buf = NULL;
        return st;
    }
    *size = (size_t)n;
    return CK_OK;
}

typedef struct h5_job {
    ck_h5_writer fn;
    void *ctx;
    const char *path;
} h5_job;

static ck_status write_h5_file(ck_io_sink *out, void *ctx)
{
    const h5_job *job = ctx;
    void *buf;
    size_t size;
    CK_TRY(ck_h5_image(job->path, job->fn, job->ctx, &buf, &size));
    ck_status st = ck_io_sink_write(out, buf, size);
    free(buf);
    return st;
}

ck_status ck_io_atomic_h5(const char *path, ck_h5_writer fn, void *ctx)
{
    h5_job job = {fn, ctx, path};
    return ck_io_atomic_file(path, write_h5_file, &job);
}
