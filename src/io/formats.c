/* The file formats ckeras reads and writes: one row each, with the file
 * name suffixes that name it, a test of the content (for loading a file
 * whatever its name), and the whole-model loader and saver. Loading,
 * saving, converting and the command-line tool all go through this table. */
#include "ck_blas.h"
#include "ck_io.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct format_row {
    ck_file_format format;
    const char *name;                /* for messages */
    const char *suffixes[3];         /* NULL-terminated; longer suffixes before shorter ones */
    bool (*sniff)(const char *path); /* NULL: recognised by name only */
    ck_status (*load)(const char *path, const ck_load_options *opts, ck_model **out);
    ck_status (*save)(ck_model *m, const char *path, const ck_save_options *opts);
} format_row;

static const format_row formats[] = {
    {CK_FORMAT_KERAS,
     "Keras 3 archive",
     {".keras"},
     ck_is_keras_model,
     ck_io_load_keras,
     ck_io_save_keras},
    {CK_FORMAT_KERAS_WEIGHTS,
     "Keras 3 weights file",
     {".weights.h5"},
     NULL,
     ck_io_load_h5,
     ck_io_save_weights_k3},
    {CK_FORMAT_H5, "Keras HDF5 file", {".h5", ".hdf5"}, NULL, ck_io_load_h5, ck_io_save_h5},
    {CK_FORMAT_JSON, "JSON architecture", {".json"}, NULL, ck_io_load_json, ck_io_save_json},
    {CK_FORMAT_NPY, "NumPy array file", {".npy"}, NULL, NULL, NULL},
};
#define N_FORMATS (sizeof formats / sizeof formats[0])

static const format_row *row_of(ck_file_format format)
{
    for (size_t i = 0; i < N_FORMATS; i++)
        if (formats[i].format == format)
            return &formats[i];
    return NULL;
}

ck_file_format ck_file_format_of(const char *path)
{
    for (size_t i = 0; path && i < N_FORMATS; i++)
        for (const char *const *s = formats[i].suffixes; *s; s++)
            if (ck_str_ends_with(path, *s))
                return formats[i].format;
    return CK_FORMAT_AUTO;
}

static bool exists(const char *path, const char *suffix)
{
    char name[4096];
    struct stat sb;
    int n = snprintf(name, sizeof name, "%s%s", path, suffix);
    return n > 0 && (size_t)n < sizeof name && stat(name, &sb) == 0;
}

/* An HDF5 file (signature at offset 0, where h5py and Keras put it) is
 * never refused for its name. */
static bool is_hdf5(const char *path)
{
    return ck_io_starts_with(path, "\x89HDF\r\n\x1a\n", 8);
}

/* "PREFIX.data-00000-of-00001", the tensors of a TensorFlow checkpoint. */
static bool is_checkpoint_data(const char *base)
{
    const char *p = strstr(base, ".data-");
    unsigned a, b;
    int end = 0;
    return p && sscanf(p, ".data-%5u-of-%5u%n", &a, &b, &end) == 2 && p[end] == '\0';
}

/* What tf.keras 2 wrote when the name had no .h5 or .keras: model.save
 * makes a SavedModel folder, save_weights a checkpoint (PREFIX.index and
 * PREFIX.data-00000-of-00001). Both hold TensorFlow graphs and tensors as
 * protocol buffers, which ckeras does not read. The refusal says what to
 * do instead; NULL for anything else. */
static const char *tensorflow_refusal(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    struct stat sb;
    bool found = stat(path, &sb) == 0;
    bool saved_model = found && S_ISDIR(sb.st_mode)
                           ? exists(path, "/saved_model.pb") || exists(path, "/saved_model.pbtxt")
                           : strcmp(base, "saved_model.pb") == 0 ||
                                 strcmp(base, "saved_model.pbtxt") == 0;
    if (saved_model)
        return "a TensorFlow SavedModel (tf.keras's model.save without .h5 or .keras), which "
               "ckeras does not read; load it in Python and save it as NAME.keras or NAME.h5";
    if ((!found && exists(path, ".index")) ||
        (!is_hdf5(path) && (ck_str_ends_with(base, ".index") || is_checkpoint_data(base))))
        return "a TensorFlow checkpoint (tf.keras's save_weights without .h5), which ckeras "
               "does not read; load the weights in Python and save them as NAME.weights.h5";
    return NULL;
}

/* A file no content test recognises is read as HDF5, whose reader says
 * what is wrong with it, unless its name promises a format that has a
 * content test: "not an HDF5 file" would mislead about a .keras that is
 * no zip. */
ck_status ck_file_format_detect(const char *path, ck_file_format *out)
{
    for (size_t i = 0; i < N_FORMATS; i++)
        if (formats[i].sniff && formats[i].sniff(path)) {
            *out = formats[i].format;
            return CK_OK;
        }
    const format_row *named = row_of(ck_file_format_of(path));
    if (named && named->sniff) {
        /* Unreadable or not a regular file: that is the better message. */
        int fd;
        size_t size;
        CK_TRY(ck_io_open_input(path, &fd, &size));
        close(fd);
        return ck_error(CK_ERR_FORMAT, "'%s' is not a %s (its content does not match its name)",
                        path, named->name);
    }
    const char *tf = tensorflow_refusal(path);
    if (tf)
        return ck_error(CK_ERR_UNSUPPORTED, "'%s' is %s", path, tf);
    *out = CK_FORMAT_H5;
    return CK_OK;
}

/* The row of `format`, or an error naming `fn` when it cannot load (or,
 * with `save`, save) a model. */
static ck_status usable_row(const char *fn, ck_file_format format, bool save,
                            const format_row **out)
{
    *out = row_of(format);
    if (!*out)
        return ck_error(CK_ERR_ARGUMENT, "%s: unknown file format %d", fn, (int)format);
    bool can = save ? (*out)->save != NULL : (*out)->load != NULL;
    return can ? CK_OK : ck_error(CK_ERR_UNSUPPORTED, "%s: a %s holds no model", fn, (*out)->name);
}

/* ck_load_options.weights: the message names the weights file, so that a
 * failure is not taken for one of the model's file. */
static ck_status load_weights_into(ck_model *m, const ck_load_options *opts)
{
    ck_status st = ck_model_load_weights(m, opts->weights, .by_name = opts->by_name);
    if (st != CK_OK && st != CK_ERR_MEMORY && !strstr(ck_last_error(), opts->weights))
        ck_error(st, "weights '%s': %s", opts->weights, ck_last_error());
    return st;
}

ck_status ck_model_load_with(const char *path, ck_model **model, const ck_load_options *opts)
{
    if (model)
        *model = NULL;
    if (!path || !model)
        return ck_error(CK_ERR_ARGUMENT, "ck_model_load: NULL argument");
    /* OpenBLAS's idle threads would spin through the whole load. */
    ck_blas_start();
    ck_file_format format = opts ? opts->format : CK_FORMAT_AUTO;
    if (format == CK_FORMAT_AUTO)
        CK_TRY(ck_file_format_detect(path, &format));
    const format_row *row;
    CK_TRY(usable_row("ck_model_load", format, false, &row));
    ck_h5_quiet q;
    ck_h5_quiet_begin(&q);
    ck_status st = row->load(path, opts, model);
    ck_h5_quiet_end(&q);
    if (st == CK_OK && opts && opts->weights)
        st = load_weights_into(*model, opts);
    if (st != CK_OK) {
        ck_model_free(*model);
        *model = NULL;
    }
    return st;
}

ck_status ck_model_load_as(const char *path, ck_file_format format, ck_model **model)
{
    return ck_model_load(path, model, .format = format);
}

/* ck_model_save writes a .keras archive for that suffix and the Keras 2
 * legacy .h5 layout for any other name. */
ck_status ck_model_save_with(ck_model *m, const char *path, const ck_save_options *opts)
{
    if (!m || !path || !*path)
        return ck_error(CK_ERR_ARGUMENT, "ck_model_save: NULL model or empty path");
    ck_file_format format = opts ? opts->format : CK_FORMAT_AUTO;
    if (format == CK_FORMAT_AUTO)
        format = ck_file_format_of(path) == CK_FORMAT_KERAS ? CK_FORMAT_KERAS : CK_FORMAT_H5;
    const format_row *row;
    CK_TRY(usable_row("ck_model_save", format, true, &row));
    CK_TRY(ck_model_build(m));
    CK_TRY(ck_model_enter(m, CK_ACCESS_READ, "ck_model_save"));
    ck_h5_quiet q;
    ck_h5_quiet_begin(&q);
    const char *json_path = opts ? opts->json_path : NULL;
    ck_io_group *g = json_path ? ck_io_group_begin() : NULL;
    ck_status st = json_path && !g ? CK_ERR_MEMORY : row->save(m, path, opts);
    if (g && st == CK_OK)
        st = ck_io_save_json(m, json_path, opts);
    if (g)
        st = ck_io_group_end(g, st);
    ck_h5_quiet_end(&q);
    ck_model_leave(m);
    return st;
}

ck_status ck_model_save_as(ck_model *m, const char *path, ck_file_format format)
{
    return ck_model_save(m, path, .format = format);
}
