/* Internal interfaces of the file I/O module (src/io). Keras layouts are
 * described in ../shared/notes/keras-facts.md section 11. */
#ifndef CK_IO_H
#define CK_IO_H

#include "ck_callback.h"
#include "ck_train.h"

#include <hdf5.h>
#include <sys/types.h>

/* Where a file being saved goes (a temporary file, files.c); messages
 * name the user's file, never the temporary. */
typedef struct ck_io_sink ck_io_sink;
struct zip; /* libzip's archive (zip_t) */

/* Sanity limits, so hostile files fail cleanly instead of exhausting memory. */
#define CK_IO_MAX_LAYERS 10000
#define CK_IO_MAX_JSON (64u << 20)    /* model_config, config.json */
#define CK_IO_MAX_STRINGS 1000000     /* entries in a name-list attribute */
#define CK_IO_MAX_METADATA (1u << 20) /* metadata.json */

/* Version strings written to files. tf.keras 2.15.0 is the last Keras 2
 * release; models with Keras 3 semantics are labelled 3.3.3 so that the
 * hard_sigmoid choice survives a save/load round trip. */
#define CK_IO_KERAS2_VERSION "2.15.0"
#define CK_IO_KERAS3_VERSION "3.3.3"
const char *ck_io_keras_version(ck_keras_semantics semantics);
/* Major version of a "2.4.0"-style string; 2 when unparsable. */
ck_keras_semantics ck_io_semantics_of(const char *keras_version);

/* ---------------- HDF5 helpers (h5_util.c) ---------------- */
/* HDF5 prints its error stack by default; every entry point silences it
 * and restores the caller's setting afterwards. */
typedef struct ck_h5_quiet {
    H5E_auto2_t func;
    void *data;
} ck_h5_quiet;
void ck_h5_quiet_begin(ck_h5_quiet *q);
/* The link-walking API changed its info type in HDF5 1.12. */
#if H5_VERSION_GE(1, 12, 0)
typedef H5L_info2_t ck_h5_link_info;
#define ck_h5_visit_links H5Lvisit2
#define ck_h5_iterate_links_by_name H5Literate_by_name2
#else
typedef H5L_info_t ck_h5_link_info;
#define ck_h5_visit_links H5Lvisit
#define ck_h5_iterate_links_by_name H5Literate_by_name
#endif
void ck_h5_quiet_end(const ck_h5_quiet *q);

/* Opens an HDF5 file read-only; CK_ERR_IO when unreadable, CK_ERR_FORMAT
 * when not HDF5 or corrupt. */
ck_status ck_h5_open(const char *path, hid_t *file);
/* Opens an in-memory HDF5 image read-only (label names it in errors).
 * HDF5 reads buf in place: it must stay unchanged until H5Fclose, which
 * closes whatever of the file is still open. */
ck_status ck_h5_open_image(const void *buf, size_t size, const char *label, hid_t *file);
/* Rejects bytes that would hang libhdf5 1.10 (see h5_guard.c); both
 * openers above call these first. */
ck_status ck_h5_screen(const void *buf, size_t size, const char *label);
/* The same over an open file of `size` bytes. */
ck_status ck_h5_screen_fd(int fd, size_t size, const char *label);
/* Fails (naming `what`) unless the dataset's values are stored in its own
 * file (no external storage, no virtual dataset) and H5Dread can read
 * them without crashing on corrupt storage. */
ck_status ck_h5_check_dataset(hid_t dataset, const char *what);

typedef struct ck_strlist {
    char **items;
    int n;
} ck_strlist;
void ck_strlist_free(ck_strlist *l);
/* True when `name` or its split form `name0` is an attribute of obj. */
bool ck_h5_has_attr(hid_t obj, const char *name);
/* Reads a list of strings from attribute `name`, or from name0, name1, ...
 * (Keras splits long lists). Fixed-length and variable-length strings are
 * both accepted; an empty numeric array (a weightless layer) is an empty
 * list. */
ck_status ck_h5_read_strings(hid_t obj, const char *name, ck_strlist *out);
/* One string attribute (scalar or one-element array); *out is ck_alloc'ed. */
ck_status ck_h5_read_string(hid_t obj, const char *name, char **out);
bool ck_h5_has_link(hid_t loc, const char *path);

ck_status ck_h5_write_string(hid_t obj, const char *name, const char *value);
/* Fixed-length NULL-padded strings as h5py writes numpy 'S' arrays, split
 * into name0, name1, ... beyond the object-header limit as Keras does. An
 * empty list is written as an empty float64 array, like Keras. */
ck_status ck_h5_write_strings(hid_t obj, const char *name, const char *const *items, int n);
/* Reads a float dataset (any_number: integers too, e.g. an optimizer's
 * iteration count) whose shape must equal the weight's; the error names
 * the layer, the weight and both shapes. */
ck_status ck_h5_read_weight(hid_t loc, const char *path, const char *layer, const ck_weight *w,
                            bool any_number, float *dst);
/* Writes a float32 dataset, creating intermediate groups (rank 0: scalar,
 * at most CK_MAX_RANK). */
ck_status ck_h5_write_floats(hid_t loc, const char *path, int rank, const int64_t *dims,
                             const float *data);
/* Shape of a dataset of rank <= 4; false when absent or unreadable. */
bool ck_h5_dataset_dims(hid_t loc, const char *path, int *rank, int64_t dims[4]);
/* Writes an int64 scalar dataset (Keras's optimizer iteration count). */
ck_status ck_h5_write_int64(hid_t loc, const char *path, int64_t value);
/* ck_h5_read_weight of weight w of a layer being loaded, integers
 * accepted for an int64 weight, whose exact value a scalar keeps. */
ck_status ck_h5_read_layer_weight(hid_t loc, const char *path, const char *layer, ck_weight *w,
                                  float *dst);
/* Writes weight w as Keras stores it: float32, or int64 (w->int64). */
ck_status ck_h5_write_weight(hid_t loc, const char *path, const ck_weight *w);
typedef ck_status (*ck_h5_writer)(hid_t file, void *ctx);
/* ck_io_atomic_file for an HDF5 file that fn fills. The file is built in
 * memory and written by ck_io_sink_write, so a full disk is reported
 * with its reason and never leaves libhdf5 a half-closed file. */
ck_status ck_io_atomic_h5(const char *path, ck_h5_writer fn, void *ctx);
/* An HDF5 file that fn fills, built in memory: *buf (free it) holds its
 * *size bytes; `label` names it in messages. */
ck_status ck_h5_image(const char *label, ck_h5_writer fn, void *ctx, void **buf, size_t *size);
/* Test hook: the n-th dataset write from now fails (0 disables). */
void ck_io_debug_fail_write_after(long n);

/* ---------------- staged loading (stage.c) ---------------- */
/* Loads go into a copy of the parameter array, committed only once
 * everything has been read and checked. */
float *ck_stage_new(const ck_model *m);
float *ck_stage_slot(float *stage, const ck_model *m, const ck_weight *w);
void ck_stage_commit(float *stage, ck_model *m);

/* ---------------- weights (weights.c) ---------------- */
/* Loads weights from an open HDF5 file of any supported layout (opts may
 * be NULL: by order); whole_model: the file is read by load_model, so
 * Keras 2 weights come from /model_weights only. fresh: m was created by
 * this load and is freed if it fails, so nobody sees half-read weights and
 * they are read in place (a staged copy of a 2.4 MB model costs more than
 * the rest of the load: two copies and their page faults). */
ck_status ck_weights_read_h5(hid_t file, ck_model *m, const ck_weights_options *opts,
                             bool whole_model, bool fresh);

/* ---------------- layouts ---------------- */
/* The layer groups of a legacy weights root, as layer_names lists them,
 * and each one's weight_names. */
typedef struct ck_k2_layer {
    const char *name;
    ck_strlist weights;
} ck_k2_layer;
typedef struct ck_k2_file {
    ck_strlist names;
    ck_k2_layer *layers;
    /* Keras 2 reads a file without keras_version as Keras 1. */
    bool keras1;
    /* Written by Keras 2 on Theano, whose convolution flips the kernel. */
    bool theano;
} ck_k2_file;
ck_status ck_k2_file_read(hid_t root, ck_k2_file *out);
void ck_k2_file_free(ck_k2_file *f);
/* The group holding the Keras 2 weights of a file: the root (save_weights)
 * or /model_weights (a whole model; the only place whole_model looks);
 * false when neither. */
bool ck_k2_root(hid_t file, bool whole_model, hid_t *root);
/* The group that holds the layers of a Keras 3 object-path file ("layers",
 * or tf.keras 2.13/2.14's "_layer_checkpoint_dependencies"), NULL when none. */
const char *ck_k3_layer_root(hid_t file);
/* Keras 2 legacy (weights_k2.c): `root` is / or /model_weights. */
ck_status ck_k2_read(hid_t root, ck_model *m, const ck_weights_options *opts, float *stage);
ck_status ck_k2_write(hid_t root, ck_model *m);
/* Optimizer state of a compiled model (optimizer_state.c): Keras 2's
 * /optimizer_weights. */
ck_status ck_k2_write_optimizer(hid_t file, ck_model *m);
/* Restores optimizer state when it is laid out as ckeras writes it (the
 * legacy tf.keras order: iterations, then every first slot, every second
 * slot, ...) and fits the compiled optimizer. Anything else, e.g. the
 * variables of tf.keras 2.11+ non-legacy optimizers (is_legacy_optimizer
 * false in training_config) or of Keras 3, leaves a fresh optimizer, as
 * Keras does on a mismatch; state that was there but did not fit leaves a
 * warning saying why. */
ck_status ck_k2_read_optimizer(hid_t file, const cJSON *training_config, ck_model *m);
/* Keras 3's optimizer/vars of a .keras weights member into the optimizer
 * of compiled m (whose slots exist), for the optimizers whose variable
 * order ckeras knows; otherwise, or when they do not fit, m keeps a fresh
 * optimizer, as Keras does, with a warning saying why. */
ck_status ck_k3_read_optimizer(hid_t file, ck_model *m);
/* The optimizer state of m as Keras 3 writes optimizer/vars, for the
 * optimizers ck_k3_read_optimizer reads; nothing for the others. */
ck_status ck_k3_write_optimizer(hid_t file, ck_model *m);
/* Keras 1 per-gate recurrent weights (weights_legacy.c): true when a file
 * layer with n_file_weights arrays is the per-gate form of l (LSTM, GRU
 * with reset_after=False, or a Bidirectional of them). */
bool ck_k1_applies(const ck_layer *l, int n_file_weights);
/* Reads the per-gate arrays listed in `names` (group g) into l's fused
 * weights in the staging array. */
ck_status ck_k1_read_layer(hid_t g, const ck_strlist *names, const ck_model *m, const ck_layer *l,
                           float *stage);
/* CuDNNLSTM / CuDNNGRU weights of tf.keras 2.x (weights_legacy.c), which
 * Keras converts when loading them into LSTM / GRU(reset_after=True):
 * true when the file layer (group g, 3 arrays per recurrent layer) has
 * the CuDNN bias shape for l. */
bool ck_cudnn_applies(hid_t g, const ck_strlist *names, const ck_layer *l);
ck_status ck_cudnn_read_layer(hid_t g, const ck_strlist *names, const ck_model *m,
                              const ck_layer *l, float *stage);
/* Keras 3 object-path layout (weights_k3.c). */
bool ck_k3_is_layout(hid_t file);
ck_status ck_k3_read(hid_t file, ck_model *m, float *stage);
/* A file the vars groups of the layout are read from; name (for
 * messages) is NULL for a lone .weights.h5, the shard's file name for
 * sharded weights. */
typedef struct ck_k3_file {
    hid_t file;
    const char *name;
} ck_k3_file;
/* Sets *files to the n >= 1 files that may hold the group `vars`
 * ("layers/dense/vars"), in the order they are searched; they stay valid
 * until the next call. */
typedef ck_status (*ck_k3_locate)(void *ctx, const char *vars, const ck_k3_file **files, int *n);
/* ck_k3_read with the groups under "layers" wherever locate finds them. */
ck_status ck_k3_read_located(ck_k3_locate locate, void *ctx, ck_model *m, float *stage);
/* A variable of the Keras 3 layout: its group ("layers/lstm/cell/vars")
 * and index there. */
typedef struct ck_k3_var {
    const ck_weight *w;
    int layer, index;
    char vars[400];
} ck_k3_var;
/* Every variable of m in the order Keras's save writes them (*out is
 * ck_alloc'ed). */
ck_status ck_k3_vars(const ck_model *m, ck_k3_var **out, int *n);
/* Writes m's weights as Keras 3.10+ save_weights(path, max_shard_size)
 * does, max_shard_size in GB (weights_shards_save.c). */
ck_status ck_io_save_weights_sharded(ck_model *m, const char *path, double max_shard_size);
/* Keras 3.10+ sharded weights (weights_shards.c): the index `path`
 * (NAME.weights.json) and the shards it names beside it, read into m all
 * or nothing. */
ck_status ck_weights_read_sharded(const char *path, ck_model *m, const ck_weights_options *opts);
ck_status ck_k3_write(hid_t file, ck_model *m);

/* ---------------- optimizer state (optimizer_slots.c) ---------------- */
/* Optimizer state arrays in Keras optimizer_weights order (iteration count
 * first). 0 when not compiled or before the first step. */
int ck_optimizer_slot_count(const ck_model *m);
/* Slot i: a Keras-style name ("Adam/iter:0", "Adam/dense/kernel/m:0"), its
 * data (writable, so loading can fill it) and shape. */
ck_status ck_optimizer_slot(ck_model *m, int i, const char **name, float **data, int *rank,
                            int64_t dims[4]);
/* Makes the optimizer slots exist (as after one step) so a loader can fill them. */
ck_status ck_optimizer_create_slots(ck_model *m);
/* Undoes ck_optimizer_create_slots when the saved state did not fit, so
 * the model starts with a fresh optimizer and saves none. */
void ck_optimizer_drop_slots(ck_model *m);

/* ---------------- loading a model config ---------------- */
/* What reading a model config knows besides the JSON. */
typedef struct ck_io_load {
    ck_keras_semantics semantics;
    const char *keras_version;   /* of the writer; NULL when unknown */
    const ck_load_options *opts; /* never NULL */
    bool weights_follow;         /* the file's weights are loaded next */
    bool legacy_weights;         /* and they are a legacy .h5's per-layer lists */
    uint64_t source_bytes;       /* then: the bytes they come from (0: unknown) */
    ck_model *model;             /* once created: where warnings go */
} ck_io_load;
/* A load of JSON from `keras_version` (NULL: unknown, semantics as given). */
ck_io_load ck_io_load_init(const ck_load_options *opts, const char *keras_version,
                           ck_keras_semantics semantics, bool weights_follow);
/* " (written by Keras 2.4.0)" for messages, "" when the version is unknown. */
void ck_io_writer_note(const ck_io_load *ld, char *buf, size_t len);

/* Readies a copy of a layer's config (config_prepare.c) for the layer,
 * whatever release wrote it: checks the dtype policy (a compute dtype
 * other than float32, a quantised layer: refused), applies the caller's
 * name map to activations and initializers, and replaces initializers
 * ckeras does not know with null, with a warning. Wrapped layers too. */
ck_status ck_io_prepare_layer(ck_io_load *ld, const char *layer, const char *class_name,
                              cJSON *cfg);
/* CuDNNLSTM and CuDNNGRU (Keras 2.1.3 to 2.3, tf.keras 1.x, tf.compat.v1)
 * are the LSTM and GRU cuDNN computes: tanh and sigmoid, the GRU's reset
 * gate after the product. *cls becomes "LSTM" or "GRU" and cfg says so;
 * the weight readers convert their cuDNN weight layout as Keras does.
 * Other classes are left alone. */
ck_status ck_io_cudnn_as_plain(const char **cls, cJSON *cfg);
/* Warns about regularizers and constraints that are kept for saving but
 * that ckeras cannot compute. */
ck_status ck_io_warn_kept_rules(ck_model *m);
/* The model-level "dtype" of a Keras 3 config (DTypePolicyMap). */
ck_status ck_io_check_model_dtype(const ck_io_load *ld, const cJSON *model_cfg);

/* Keras 3 Functional op entries (config_mask_ops.c): sets mask_op[i] for
 * every op entry that only recomputes the mask of a Masking or
 * Embedding(mask_zero=True) layer for a later layer's "mask" keyword;
 * any other op entry, or a mask from elsewhere, is refused. */
ck_status ck_io_find_mask_ops(const cJSON *const *entries, int n, bool *mask_op);
/* Keeps, for the summary, the rows Keras 3 prints for a Functional model
 * loaded from `layers` (its config's list) when one of its nodes takes
 * more than one tensor (a mask): every layer and op, with the tensors each
 * was called on. Nothing for any other model. */
ck_status ck_io_graph_rows(const cJSON *layers, ck_model *m);
/* The name the loader gives the layer of a config entry: config.name,
 * else the entry's own "name"; NULL when neither. */
const char *ck_io_layer_name(const cJSON *entry);
/* The producer named by a Keras 3 node's "mask" keyword, NULL when none. */
const char *ck_io_mask_source(const cJSON *kwargs);
/* Refuses a Keras 3 Functional config whose layer takes, by its "mask"
 * keyword, a mask other than the one ckeras hands it along the chain of
 * m, built from that config's layers. */
ck_status ck_io_check_mask_flow(const cJSON *layers, const ck_model *m);

/* ---------------- JSON configs (config.c) ---------------- */
/* Parses JSON text of at most CK_IO_MAX_JSON bytes; errors name `subject`
 * ("model_config", "training_config", "config.json"). */
ck_status ck_io_parse_json(const char *subject, const char *text, size_t len, cJSON **out);
/* {"class_name": "Sequential", "config": {...}} as Keras writes model_config. */
cJSON *ck_io_model_config(const ck_model *m);
/* Builds a model from a parsed model_config / to_json / config.json. The
 * JSON's own keras_version, when present, overrides the load's. */
ck_status ck_io_model_from_config(const cJSON *root, ck_io_load *ld, ck_model **out);

/* Keras 3 config.json (config_k3.c): the model_config with module,
 * registered_name and build_config added as Keras 3 serializes them. */
cJSON *ck_io_model_config_k3(const ck_model *m);
/* Adds "compile_config" to a config.json root when the model is compiled. */
ck_status ck_io_add_compile_config_k3(const ck_model *m, cJSON *root);

/* ---------------- file formats (formats.c) ---------------- */
/* The format of a file's content: the first row whose content test
 * matches, else CK_FORMAT_H5 (whose reader explains what is wrong); a
 * name promising a format with a content test that fails is refused. */
ck_status ck_file_format_detect(const char *path, ck_file_format *out);
/* The loaders and savers of the table's rows; the caller checks the
 * arguments, builds the model before saving and silences HDF5. */
ck_status ck_io_load_h5(const char *path, const ck_load_options *opts, ck_model **out);
ck_status ck_io_load_keras(const char *path, const ck_load_options *opts, ck_model **out);
ck_status ck_io_load_json(const char *path, const ck_load_options *opts, ck_model **out);
/* ck_model_from_json; with weights_follow the initializers are not run,
 * since the caller loads every weight next. */
ck_status ck_io_model_from_json(const char *json, const ck_load_options *opts, bool weights_follow,
                                ck_model **model);
ck_status ck_io_save_h5(ck_model *m, const char *path, const ck_save_options *opts);
ck_status ck_io_save_keras(ck_model *m, const char *path, const ck_save_options *opts);
ck_status ck_io_save_weights_k3(ck_model *m, const char *path, const ck_save_options *opts);
ck_status ck_io_save_json(ck_model *m, const char *path, const ck_save_options *opts);

/* ---------------- .keras zip (keras_zip.c) ---------------- */
typedef struct ck_keras_zip {
    char *config;   /* config.json */
    char *metadata; /* metadata.json, NULL if absent */
    void *weights;  /* model.weights.h5 */
    size_t weights_size;
} ck_keras_zip;
bool ck_is_zip_file(const char *path);
/* A directory holding config.json: a Keras 3 model saved unzipped. */
bool ck_is_keras_dir(const char *path);
/* A .keras archive: a zip, or a model directory. */
bool ck_is_keras_model(const char *path);
/* An archive (or model directory) open for reading. Opening an archive
 * checks that the central directory and the local headers agree
 * (ZIP_CHECKCONS). */
typedef struct ck_zip_in ck_zip_in;
ck_status ck_keras_zip_open(const char *path, ck_zip_in **out);
void ck_keras_zip_close(ck_zip_in *z);
/* The members of an open archive: their number, and the name of one. */
int64_t ck_keras_zip_count(const ck_zip_in *z);
const char *ck_keras_zip_name(const ck_zip_in *z, int64_t index);
/* The most bytes a member may inflate to, and why, for the message. */
typedef struct ck_zip_limit {
    uint64_t bytes;
    const char *why;
} ck_zip_limit;
/* The limit the user sets with ck_set_limit(CK_LIMIT_ARCHIVE_MEMBER). */
ck_zip_limit ck_zip_user_limit(void);
/* Reads member `name` into a new buffer with a NUL appended (*size
 * excludes it). Refused: a name that occurs twice, an encrypted member, a
 * declared size over the limit or one its compressed bytes cannot
 * produce, and data that does not match the declared size or CRC. An
 * absent member is an error when required, else *data is NULL. */
ck_status ck_keras_zip_member(ck_zip_in *z, const char *name, const ck_zip_limit *limit,
                              bool required, void **data, size_t *size);
/* The size member `name` declares, without reading it; an error when the
 * member is absent or ambiguous. */
ck_status ck_keras_zip_member_size(ck_zip_in *z, const char *name, uint64_t *size);
/* Writes config.json, metadata.json and model.weights.h5 (stored, not
 * compressed, like Keras) as a new archive into out. */
ck_status ck_keras_zip_write(ck_io_sink *out, const ck_keras_zip *z);
/* Builds an archive in memory with fill (which adds its members) and
 * writes it into out: libzip never writes files of its own (it would put
 * a temporary of its own beside ours). */
ck_status ck_zip_write(ck_io_sink *out, ck_status (*fill)(struct zip *za, const void *ctx),
                       const void *ctx);
/* Reads the three members of the archive at path, each within its limit. */
ck_status ck_keras_zip_read(const char *path, ck_keras_zip *out);
void ck_keras_zip_free(ck_keras_zip *z);

/* ---------------- data files (npz.c, strings.c) ---------------- */
/* The bytes of the .npy member holding array `name` of an .npz (NULL: its
 * only array), checked as ck_keras_zip_member checks members. */
ck_status ck_npz_load_member(const char *path, const char *name, void **data, size_t *size);
/* A list of n strings and a block of `chars` bytes for their text, in one
 * allocation that ck_strings_free releases; the caller fills items[]. */
ck_status ck_strings_alloc(int64_t n, size_t chars, ck_strings *out, char **block);
/* Length of the valid UTF-8 sequence at s[0..n), 0 if it is not one
 * (overlong forms, surrogates and code points past U+10FFFF are not). */
size_t ck_utf8_sequence(const unsigned char *s, size_t n);

/* ---------------- SVG pictures (svg.c) ---------------- */
/* A picture being written: text goes to `f`, an in-memory stream. */
typedef struct ck_svg {
    FILE *f;
    char *buf;
    size_t len;
} ck_svg;
/* Starts a width x height picture on a white background. */
ck_status ck_svg_begin(ck_svg *s, double width, double height);
/* Writes text as XML character data: markup characters escaped, control
 * bytes and invalid UTF-8 replaced by U+FFFD, at most max_bytes of it
 * (then an ellipsis). */
void ck_svg_text(ck_svg *s, const char *text, size_t max_bytes);
/* A <text> element at (x, y) with the given anchor and extra attributes. */
void ck_svg_label(ck_svg *s, double x, double y, const char *anchor, const char *attrs,
                  const char *text);
/* Closes the picture and replaces path with it atomically; frees s. */
ck_status ck_svg_finish(ck_svg *s, const char *path);

/* ---------------- files and paths (files.c) ---------------- */
/* Writes all len bytes (retrying short writes); the error names the
 * user's file and the reason ("No space left on device"). */
ck_status ck_io_sink_write(ck_io_sink *out, const void *data, size_t len);
/* The user's file that out will replace. */
const char *ck_io_sink_path(const ck_io_sink *out);
/* A stdio stream whose writes go to out through ck_io_sink_write; NULL
 * (with the error set) when it cannot be made. */
FILE *ck_io_sink_stream(ck_io_sink *out);
/* Closes such a stream and returns st, or the write error that stopped
 * it (naming the user's file and the reason). */
ck_status ck_io_sink_close_stream(ck_io_sink *out, FILE *f, ck_status st);
typedef ck_status (*ck_file_writer)(ck_io_sink *out, void *ctx);
/* Saves path atomically: checks the target (a regular file, followed
 * through symbolic links, that the user may write, or none yet; devices,
 * FIFOs, sockets, folders and dangling links are refused naming the kind,
 * before anything is written), lets fn write a temporary file beside it,
 * fsyncs it and renames it over the target, then removes temporaries that
 * dead saves of the same target left. On failure the temporary is removed
 * and the target is untouched. A new file gets 0666 less the umask, a
 * replaced one keeps its mode. Inside a group (ck_io_group_begin) the
 * rename waits for ck_io_group_end. */
ck_status ck_io_atomic_file(const char *path, ck_file_writer fn, void *ctx);
/* Writes len bytes with ck_io_atomic_file. */
ck_status ck_io_atomic_bytes(const char *path, const void *data, size_t len);
/* Files that are replaced together or not at all (a .weights.h5 and its
 * JSON, a .c and its .h, sharded weights and their index): every
 * ck_io_atomic_file of this thread between begin and end writes its
 * temporary only; end renames them all, in the order written, when st is
 * CK_OK and every one was written, else removes them, and returns the
 * first failure (CK_ERR_MEMORY when begin returned NULL). Each temporary
 * stays open (and locked) until then, so at most CK_IO_GROUP_MAX. */
#define CK_IO_GROUP_MAX 512
typedef struct ck_io_group ck_io_group;
ck_io_group *ck_io_group_begin(void);
ck_status ck_io_group_end(ck_io_group *g, ck_status st);
/* "a FIFO (named pipe)", "a character device", ... for a file's mode. */
const char *ck_io_kind_of(mode_t mode);

/* ---------------- temporary files (temp_files.c) ---------------- */
/* Longest temporary name (NAME_MAX of Linux file systems; less when the
 * folder's file system says so). */
#define CK_TEMP_NAME_MAX 255
/* "<target name>.tmp-<8 hex digits>" in the target's folder, the target's
 * name cut short when the whole would not fit the folder's name limit.
 * Open read-write and locked (flock) until closed, and listed for ck_remove_temporary_files while it exists. */
typedef struct ck_temp_file {
    int dir, fd, slot;
    char name[CK_TEMP_NAME_MAX + 1];
} ck_temp_file;
/* Creates the temporary for the file `base` in folder dir_path; `target`
 * names the user's file in messages. */
ck_status ck_temp_create(const char *dir_path, const char *base, const char *target,
                         ck_temp_file *t);
/* Renames the temporary to `base` (in its folder); on failure it is removed. */
ck_status ck_temp_commit(ck_temp_file *t, const char *base, const char *target);
/* Removes the temporary and closes it (nothing when none was created). */
void ck_temp_discard(ck_temp_file *t);
/* Closes a committed temporary's descriptors. */
void ck_temp_close(ck_temp_file *t);
/* Removes the temporaries of `base` in t's folder that no live writer
 * holds locked (left by a process that was killed). */
void ck_temp_sweep(const ck_temp_file *t, const char *base);

/* Opens path read-only without blocking and only when it is a regular
 * file (a FIFO, device, socket or directory is refused, naming its kind:
 * a FIFO would block, /dev/zero never ends); *size gets its size. Close
 * *fd when done. */
ck_status ck_io_open_input(const char *path, int *fd, size_t *size);
/* Whether path is a regular file that starts with the n (at most 16)
 * bytes of magic; false for anything unreadable. */
bool ck_io_starts_with(const char *path, const char *magic, size_t n);
/* CK_OK for a regular file's mode, else the error naming path's kind. */
ck_status ck_io_check_regular(const char *path, mode_t mode);
/* A name under which a library that opens by name reaches the file open
 * as fd (/proc/self/fd/N), or path itself when there is none. */
void ck_io_fd_path(int fd, const char *path, char *buf, size_t len);
/* ck_io_open_input as a stdio stream. */
ck_status ck_file_open_regular(const char *path, FILE **f, size_t *size);
/* Grows *buf to n bytes plus a NUL and fills bytes [from, n) from f. */
ck_status ck_file_read_range(FILE *f, const char *path, size_t from, size_t n, char **buf);
/* Reads a whole regular file into a new buffer with a NUL appended, so
 * text files can be used as strings; *len excludes the NUL. Files over
 * `limit` bytes are refused. Release with free(). Errors name the path. */
/* ck_csv_read of text already in memory; `label` names it in messages
 * ("'x.csv'"). */
ck_status ck_csv_parse(const char *text, size_t len, const char *label, ck_tensor *out);
ck_status ck_read_file_limited(const char *path, size_t limit, char **buf, size_t *len);
/* ck_read_file_limited without a size limit. */
ck_status ck_read_file(const char *path, char **buf, size_t *len);

/* ---------------- fit callbacks ---------------- */
/* Keras's ModelCheckpoint (checkpoint.c): saves the model after each epoch. */
extern const ck_callback_kind ck_checkpoint_callback, ck_csv_logger_callback;

#endif /* CK_IO_H */
