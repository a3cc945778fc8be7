/* Arrays on the command line: FILE.npy, FILE.npz[:NAME], FILE.h5:/dataset
 * (any integer or float type, converted to float32), a text table
 * (FILE.csv, .tsv, .txt), or - for .npy arrays on standard input. Outputs
 * are written atomically, or to standard output for -o -. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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

/* Splits "FILE.npz:NAME" after the last ".npz"; NULL when spec has no
 * member or names an existing file as a whole. */
static const char *member_part(const char *spec)
{
    if (access(spec, F_OK) == 0)
        return NULL;
    const char *colon = NULL;
    for (const char *p = strstr(spec, ".npz:"); p; p = strstr(p + 1, ".npz:"))
        colon = p + 4;
    return colon;
}

/* Where the file name of a spec ends. */
static size_t file_length(const char *spec)
{
    const char *colon = dataset_part(spec);
    if (!colon)
        colon = member_part(spec);
    return colon ? (size_t)(colon - spec) : strlen(spec);
}

/* The file part of an array spec, in a new string (NULL: out of memory). */
static char *spec_file(const char *spec)
{
    size_t n = file_length(spec);
    char *file = calloc(n + 1, 1);
    if (file)
        memcpy(file, spec, n);
    return file;
}

static bool is_npz(const char *file)
{
    size_t n = strlen(file);
    return n > 4 && strcasecmp(file + n - 4, ".npz") == 0;
}

/* Appends the arrays of standard input along the first axis. */
static int read_stdin(const char *what, ck_tensor *out)
{
    for (;;) {
        ck_tensor t;
        bool end;
        if (ck_npy_read_stream(stdin, &t, &end) != CK_OK)
            return cli_lib_error(what);
        if (end)
            return out->data ? CLI_OK : cli_error(CLI_FAIL, "%s: standard input is empty", what);
        int rc = cli_append_samples(out, &t, what);
        ck_free(t.data);
        if (rc != CLI_OK)
            return rc;
    }
}

int cli_append_samples(ck_tensor *all, const ck_tensor *t, const char *what)
{
    bool first = !all->data;
    bool same = t->rank >= 1 && (first || t->rank == all->rank);
    for (int i = 1; same && !first && i < t->rank; i++)
        same = t->dims[i] == all->dims[i];
    if (!same)
        return cli_error(CLI_FAIL,
                         "%s: the arrays of the stream must have one shape after the "
                         "first axis",
                         what);
    size_t have = first ? 0 : ck_tensor_size(all), more = ck_tensor_size(t);
    float *grown = realloc(all->data, (have + more) * sizeof(float) + 1);
    if (!grown)
        return cli_no_memory();
    memcpy(grown + have, t->data, more * sizeof(float));
    int64_t n = first ? 0 : all->dims[0];
    *all = *t;
    all->dims[0] = n + t->dims[0];
    all->data = grown;
    return CLI_OK;
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n > k && strcasecmp(s + n - k, suffix) == 0;
}

bool cli_is_table(const char *spec)
{
    return has_suffix(spec, ".csv") || has_suffix(spec, ".tsv") || has_suffix(spec, ".txt");
}

/* Whether spec names a plain .npy file: not -, a dataset, an archive
 * member, an .npz, a text table or a model file. */
static bool is_npy_spec(const char *spec)
{
    return strcmp(spec, "-") != 0 && !dataset_part(spec) && !member_part(spec) && !is_npz(spec) &&
           !cli_is_table(spec) && !is_model_file_name(spec);
}

static int read_any(const char *spec, const char *what, ck_tensor *out)
{
    if (cli_is_table(spec))
        return ck_csv_read(spec, out) == CK_OK ? CLI_OK : cli_lib_error(spec);
    if (is_npy_spec(spec))
        return ck_npy_read(spec, out) == CK_OK ? CLI_OK : cli_lib_error(spec);
    if (strcmp(spec, "-") == 0)
        return read_stdin(what, out);
    const char *colon = dataset_part(spec), *member = colon ? NULL : member_part(spec);
    if (!colon && !member && !is_npz(spec))
        return cli_error(CLI_USAGE, "%s: give the dataset of an HDF5 file as %s:/DATASET", what,
                         spec);
    char *file = spec_file(spec);
    if (!file)
        return cli_no_memory();
    ck_status st = colon ? ck_h5_read_array(file, colon + 1, out)
                         : ck_npz_read(file, member ? member + 1 : NULL, out);
    free(file);
    return st == CK_OK ? CLI_OK : cli_lib_error(spec);
}

static int no_samples(const char *spec, const char *what)
{
    return cli_error(CLI_FAIL, "%s (%s) has no samples: the first axis is the batch", what, spec);
}

int cli_read_array(const char *spec, const char *what, ck_tensor *out)
{
    memset(out, 0, sizeof *out);
    int rc = read_any(spec, what, out);
    if (rc == CLI_OK && (out->rank < 1 || out->dims[0] < 1))
        rc = no_samples(spec, what);
    if (rc != CLI_OK) {
        ck_free(out->data);
        out->data = NULL;
    }
    return rc;
}

int cli_rows_open(const char *spec, const char *what, cli_rows *r)
{
    memset(r, 0, sizeof *r);
    r->spec = spec;
    if (!is_npy_spec(spec))
        return cli_read_array(spec, what, &r->shape);
    if (ck_npy_open(spec, &r->reader, &r->shape) != CK_OK)
        return cli_lib_error(spec);
    if (r->shape.dims[0] >= 1)
        return CLI_OK;
    cli_rows_free(r);
    return no_samples(spec, what);
}

int cli_rows_get(cli_rows *r, int64_t first, int64_t count, const float **data)
{
    size_t per = 1;
    for (int i = 1; i < r->shape.rank; i++)
        per *= (size_t)r->shape.dims[i];
    if (!r->reader)
        *data = r->shape.data + (size_t)first * per;
    else if (first == r->first && count == r->count && r->rows)
        *data = r->rows;
    else if (ck_npy_read_rows(r->reader, first, count, &r->rows) == CK_OK) {
        r->first = first;
        r->count = count;
        *data = r->rows;
    } else {
        r->rows = NULL;
        return cli_lib_error(r->spec);
    }
    return CLI_OK;
}

void cli_rows_free(cli_rows *r)
{
    ck_npy_close(r->reader);
    ck_free(r->shape.data);
    memset(r, 0, sizeof *r);
}

int cli_read_strings(const char *spec, ck_strings *out, bool *numbers)
{
    memset(out, 0, sizeof *out);
    *numbers = strcmp(spec, "-") == 0 || dataset_part(spec);
    ck_tensor table;
    if (!*numbers && cli_is_table(spec)) {
        /* A table of several columns of numbers holds targets (one-hot
         * rows); one column stays labels, which may be numbers ("1"). */
        *numbers = ck_csv_read(spec, &table) == CK_OK && table.dims[1] > 1;
        ck_free(table.data);
    }
    if (*numbers)
        return CLI_OK;
    const char *member = member_part(spec);
    char *file = spec_file(spec);
    if (!file)
        return cli_no_memory();
    ck_status st = ck_strings_read(file, member ? member + 1 : NULL, out);
    free(file);
    *numbers = st == CK_ERR_UNSUPPORTED;
    return st == CK_OK || *numbers ? CLI_OK : cli_lib_error(spec);
}

/* Both paths name the same existing file (device and inode, so symbolic
 * and hard links count). */
static bool same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

/* A Keras 3 model saved unzipped is read from the files inside its
 * directory, so writing one of them destroys the model as surely as writing
 * over an archive would. */
bool cli_is_directory(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static bool member_of_model_dir(const char *output, const char *dir)
{
    static const char *const members[] = {"config.json", "metadata.json", "model.weights.h5"};
    if (!cli_is_directory(dir))
        return false;
    for (size_t i = 0; i < sizeof members / sizeof members[0]; i++) {
        char member[4096];
        int n = snprintf(member, sizeof member, "%s/%s", dir, members[i]);
        if (n > 0 && (size_t)n < sizeof member && same_file(output, member))
            return true;
    }
    return false;
}

int cli_check_output_distinct(const char *output, const char *const *inputs, int n)
{
    return cli_check_option_output("-o", output, inputs, n);
}

int cli_check_option_output(const char *option, const char *output, const char *const *inputs,
                            int n)
{
    for (int i = 0; i < n; i++) {
        if (!inputs[i])
            continue;
        char *file = spec_file(inputs[i]);
        if (!file)
            return cli_no_memory();
        bool same = same_file(output, file) || member_of_model_dir(output, file);
        free(file);
        if (same)
            return cli_error(CLI_USAGE, "%s %s is also an input (%s): write to another file",
                             option, output, inputs[i]);
    }
    return CLI_OK;
}

/* Arrays are written as .npy, as the dataset /y of an HDF5 file, or as a
 * comma-separated table. */
typedef enum { OUT_NONE, OUT_NPY, OUT_H5, OUT_CSV } array_output;

static array_output output_kind(const char *path)
{
    ck_file_format f = ck_file_format_of(path);
    if (f == CK_FORMAT_NPY)
        return OUT_NPY;
    if (f == CK_FORMAT_H5 || f == CK_FORMAT_KERAS_WEIGHTS)
        return OUT_H5;
    return has_suffix(path, ".csv") ? OUT_CSV : OUT_NONE;
}

int cli_check_array_output(const char *path)
{
    if (strcmp(path, "-") == 0)
        return isatty(STDOUT_FILENO) ? cli_error(CLI_USAGE, "-o -: standard output is a terminal; "
                                                            "redirect it to a file or a pipe")
                                     : CLI_OK;
    if (output_kind(path) != OUT_NONE)
        return CLI_OK;
    return cli_error(CLI_USAGE, "-o %s: the output must end in .npy, .h5 or .csv, or be -", path);
}

int cli_write_array(const char *path, const ck_tensor *t)
{
    if (strcmp(path, "-") == 0)
        return ck_npy_write_stream(stdout, t) == CK_OK ? CLI_OK : cli_lib_error("-o -");
    int rc = cli_check_array_output(path);
    if (rc != CLI_OK)
        return rc;
    array_output kind = output_kind(path);
    ck_status st = kind == OUT_NPY   ? ck_npy_write(path, t)
                   : kind == OUT_CSV ? ck_csv_write(path, t)
                                     : ck_h5_write_array(path, "y", t);
    return st == CK_OK ? CLI_OK : cli_lib_error(path);
}
