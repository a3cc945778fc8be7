/* One numeric dataset of any HDF5 file as a float32 array: the reader
 * behind FILE.h5:/dataset arguments (ckeras tool, examples), which goes
 * through the same screening as model files, since such a file is just as
 * untrusted; and the writer of a one-dataset file. */
#include "ck_io.h"

#include <stdlib.h>
#include <string.h>

typedef struct array_handles {
    hid_t file, obj, space, type;
} array_handles;

static void close_handles(const array_handles *h)
{
    if (h->type >= 0)
        H5Tclose(h->type);
    if (h->space >= 0)
        H5Sclose(h->space);
    if (h->obj >= 0)
        H5Oclose(h->obj);
    if (h->file >= 0)
        H5Fclose(h->file);
}

/* h5py stores numpy's bool as a one-byte enum of FALSE = 0 and TRUE = 1,
 * which HDF5 will not convert to a number. */
static bool is_h5py_bool(hid_t type)
{
    if (H5Tget_class(type) != H5T_ENUM || H5Tget_size(type) != 1 || H5Tget_nmembers(type) != 2)
        return false;
    signed char value;
    return H5Tenum_valueof(type, "FALSE", &value) >= 0 && value == 0 &&
           H5Tenum_valueof(type, "TRUE", &value) >= 0 && value == 1;
}

/* The bytes of an h5py bool dataset (0 or 1 each), as floats. */
static herr_t read_bools(const array_handles *h, float *out, size_t n)
{
    signed char *bytes = ck_alloc(n, 1);
    herr_t rc = bytes ? H5Dread(h->obj, h->type, H5S_ALL, H5S_ALL, H5P_DEFAULT, bytes) : -1;
    for (size_t i = 0; rc >= 0 && i < n; i++)
        out[i] = bytes[i] != 0;
    free(bytes);
    return rc;
}

static ck_status open_dataset(const char *path, const char *dataset, array_handles *h)
{
    CK_TRY(ck_h5_open(path, &h->file));
    if (!ck_h5_has_link(h->file, dataset) || (h->obj = H5Oopen(h->file, dataset, H5P_DEFAULT)) < 0)
        return ck_error(CK_ERR_FORMAT, "'%s' has no dataset %s", path, dataset);
    H5I_type_t kind = H5Iget_type(h->obj);
    if (kind == H5I_GROUP)
        return ck_error(CK_ERR_FORMAT, "'%s': %s is a group, not a dataset", path, dataset);
    if (kind != H5I_DATASET)
        return ck_error(CK_ERR_FORMAT, "'%s': %s is not a dataset", path, dataset);
    h->space = H5Dget_space(h->obj);
    h->type = H5Dget_type(h->obj);
    if (h->space < 0 || h->type < 0)
        return ck_error(CK_ERR_FORMAT, "'%s': dataset %s is corrupt", path, dataset);
    H5T_class_t cls = H5Tget_class(h->type);
    if (cls != H5T_FLOAT && cls != H5T_INTEGER && !is_h5py_bool(h->type))
        return ck_error(CK_ERR_FORMAT, "'%s': dataset %s is not numeric", path, dataset);
    return CK_OK;
}

/* Rank and dims into out; *count is the number of values, overflow-checked
 * against the bytes of a float copy. */
static ck_status read_shape(const array_handles *h, const char *path, const char *dataset,
                            ck_tensor *out, size_t *count)
{
    int rank = H5Sget_simple_extent_ndims(h->space);
    if (rank < 0 || rank > CK_MAX_RANK)
        return ck_error(CK_ERR_FORMAT, "'%s': dataset %s has rank %d (at most %d is supported)",
                        path, dataset, rank, CK_MAX_RANK);
    hsize_t dims[CK_MAX_RANK];
    if (rank > 0 && H5Sget_simple_extent_dims(h->space, dims, NULL) != rank)
        return ck_error(CK_ERR_FORMAT, "'%s': dataset %s has a corrupt shape", path, dataset);
    size_t n = 1, bytes;
    for (int i = 0; i < rank; i++) {
        if (dims[i] > INT64_MAX || !ck_size_mul(n, (size_t)dims[i], &n))
            return ck_error(CK_ERR_FORMAT, "'%s': dataset %s is too large", path, dataset);
        out->dims[i] = (int64_t)dims[i];
    }
    if (!ck_size_mul(n, sizeof(float), &bytes))
        return ck_error(CK_ERR_FORMAT, "'%s': dataset %s is too large", path, dataset);
    out->rank = rank;
    *count = n;
    return CK_OK;
}

static ck_status read_values(const array_handles *h, const char *path, const char *dataset,
                             ck_tensor *out)
{
    size_t n = 0;
    CK_TRY(read_shape(h, path, dataset, out, &n));
    char what[1024];
    snprintf(what, sizeof what, "'%s': dataset %s", path, dataset);
    CK_TRY(ck_h5_check_dataset(h->obj, what));
    out->data = ck_alloc(n ? n : 1, sizeof(float));
    if (!out->data)
        return CK_ERR_MEMORY;
    /* HDF5 converts every integer and float type to float32 here. */
    bool bools = is_h5py_bool(h->type);
    if (n &&
        (bools ? read_bools(h, out->data, n)
               : H5Dread(h->obj, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out->data)) < 0)
        return ck_error(CK_ERR_FORMAT, "'%s': dataset %s cannot be read (corrupt file?)", path,
                        dataset);
    return CK_OK;
}

ck_status ck_h5_read_array(const char *path, const char *dataset, ck_tensor *out)
{
    if (!path || !dataset || !out)
        return ck_error(CK_ERR_ARGUMENT, "ck_h5_read_array: NULL argument");
    memset(out, 0, sizeof *out);
    ck_h5_quiet q;
    ck_h5_quiet_begin(&q);
    array_handles h = {-1, -1, -1, -1};
    ck_status st = open_dataset(path, dataset, &h);
    if (st == CK_OK)
        st = read_values(&h, path, dataset, out);
    close_handles(&h);
    ck_h5_quiet_end(&q);
    if (st != CK_OK) {
        free(out->data);
        memset(out, 0, sizeof *out);
    }
    return st;
}

typedef struct array_job {
    const char *dataset;
    const ck_tensor *t;
} array_job;

static ck_status write_array(hid_t file, void *ctx)
{
    const array_job *job = ctx;
    return ck_h5_write_floats(file, job->dataset, job->t->rank, job->t->dims, job->t->data);
}

ck_status ck_h5_write_array(const char *path, const char *dataset, const ck_tensor *t)
{
    if (!path || !dataset || !t || (!t->data && ck_tensor_size(t) > 0))
        return ck_error(CK_ERR_ARGUMENT, "ck_h5_write_array: NULL argument");
    ck_h5_quiet q;
    ck_h5_quiet_begin(&q);
    ck_status st = ck_io_atomic_h5(path, write_array, &(array_job){dataset, t});
    ck_h5_quiet_end(&q);
    return st;
}
