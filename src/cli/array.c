/* Arrays on the command line: FILE.npy, or FILE.h5:/dataset read through
 * the library's screened HDF5 reader (any integer or float type, converted
 * to float32). Outputs are written atomically. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A model file (HDF5 or .keras) where an array is expected: the HDF5
 * dataset is missing from the spec. */
static bool is_model_file_name(const char *s)
{
    ck_file_format f = ck_file_format_of(s);
    return f == CK_FORMAT_H5 || f == CK_FORMAT_KERAS_WEIGHTS || f == CK_FORMAT_KERAS;
}

/* Splits "FILE.h5:/path" at the last ":/"; NULL when spec has none or
 * names an existing file as a whole. */
static const char *dataset_part(const char *spec)
{
    if (access(spec, F_OK) == 0)
        return NULL;
    const char *colon = NULL;
    for (const char *p = strstr(spec, ":/"); p; p = strstr(p + 1, ":/"))
        colon = p;
    return colon && colon != spec ? colon : NULL;
}

/* The file part of an array spec, in a new string (NULL: out of memory). */
static char *spec_file(const char *spec)
{
    const char *colon = dataset_part(spec);
    size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
    char *file = calloc(n + 1, 1);
    if (file)
        memcpy(file, spec, n);
    return file;
}

static int read_any(const char *spec, const char *what, ck_tensor *out)
{
    const char *colon = dataset_part(spec);
    if (colon) {
        char *file = spec_file(spec);
        if (!file)
            return cli_lib_error(what);
        ck_status st = ck_h5_read_array(file, colon + 1, out);
        free(file);
        return st == CK_OK ? CLI_OK : cli_lib_error(spec);
    }
    if (is_model_file_name(spec))
        return cli_error(CLI_USAGE, "%s: give the dataset of an HDF5 file as %s:/DATASET", what,
                         spec);
    if (ck_npy_read(spec, out) != CK_OK)
        return cli_lib_error(spec);
    return CLI_OK;
}

int cli_read_array(const char *spec, const char *what, ck_tensor *out)
{
    memset(out, 0, sizeof *out);
    int rc = read_any(spec, what, out);
    if (rc == CLI_OK && (out->rank < 1 || out->dims[0] < 1))
        rc = cli_error(CLI_FAIL, "%s (%s) has no samples: the first axis is the batch", what, spec);
    if (rc != CLI_OK) {
        ck_free(out->data);
        out->data = NULL;
    }
    return rc;
}

/* Both paths name the same existing file (device and inode, so symbolic
 * and hard links count). */
static bool same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

int cli_check_output_distinct(const char *output, const char *const *inputs, int n)
{
    for (int i = 0; i < n; i++) {
        if (!inputs[i])
            continue;
        char *file = spec_file(inputs[i]);
        if (!file)
            return cli_no_memory();
        bool same = same_file(output, file);
        free(file);
        if (same)
            return cli_error(CLI_USAGE, "-o %s is also an input (%s): write to another file",
                             output, inputs[i]);
    }
    return CLI_OK;
}

/* Arrays are written as .npy or as the dataset /y of an HDF5 file. */
static bool is_array_output(const char *path, bool *npy)
{
    ck_file_format f = ck_file_format_of(path);
    *npy = f == CK_FORMAT_NPY;
    return *npy || f == CK_FORMAT_H5 || f == CK_FORMAT_KERAS_WEIGHTS;
}

int cli_check_array_output(const char *path)
{
    bool npy;
    if (is_array_output(path, &npy))
        return CLI_OK;
    return cli_error(CLI_USAGE, "-o %s: the output must end in .npy or .h5", path);
}

int cli_write_array(const char *path, const ck_tensor *t)
{
    int rc = cli_check_array_output(path);
    if (rc != CLI_OK)
        return rc;
    bool npy;
    is_array_output(path, &npy);
    ck_status st = npy ? ck_npy_write(path, t) : ck_h5_write_array(path, "y", t);
    return st == CK_OK ? CLI_OK : cli_lib_error(path);
}
