/* ckeras file I/O: Keras HDF5 and .keras files, JSON architectures.
 * Included by ckeras.h; see docs/keras-compatibility.md for the layouts. */
#ifndef CKERAS_IO_H
#define CKERAS_IO_H

#ifdef __cplusplus
extern "C" {
#endif

/* The file formats ckeras reads and writes, chosen by a file name's suffix
 * (ck_file_format_of) or, for CK_FORMAT_AUTO, as documented below. */
typedef enum ck_file_format {
    CK_FORMAT_AUTO = 0,      /* load: by content; save: .keras archive or else .h5 */
    CK_FORMAT_KERAS,         /* .keras: Keras 3 archive (config.json, weights) */
    CK_FORMAT_KERAS_WEIGHTS, /* .weights.h5: Keras 3 weights only */
    CK_FORMAT_H5,            /* .h5, .hdf5: Keras 2 legacy HDF5 (whole model) */
    CK_FORMAT_JSON,          /* .json: the architecture only (model.to_json()) */
    CK_FORMAT_NPY            /* .npy: a NumPy array (ck_npy_read, ck_npy_write), no model */
} ck_file_format;
/* The format a file name's suffix names; CK_FORMAT_AUTO for none. */
CK_API ck_file_format ck_file_format_of(const char *path);

typedef struct ck_save_options {
    int ck_opts_;      /* internal: lets the constructor macros start with a designator */
    bool no_optimizer; /* Keras include_optimizer=False: no training config, no optimizer state */
    ck_file_format format; /* CK_FORMAT_AUTO: by the suffix, as below */
    const char *json_path; /* also write the architecture (model.to_json()) here; the two files
                              are replaced together or, on any failure, neither is */
} ck_save_options;

/* Whole model in the Keras 2 legacy .h5 layout (model_config, model_weights,
 * training_config and optimizer state when compiled). Atomic: the file is
 * written beside the target and renamed over it; a device, FIFO, socket,
 * folder, dangling symbolic link or read-only file as the target is
 * refused before anything is written (CK_ERR_IO naming the kind), and a
 * symbolic link to a regular file replaces that file. Temporaries that a
 * killed save of the same target left are removed. keras_version is "2.15.0"
 * (tf.keras reads it), or "3.3.3" for models with Keras 3 semantics so that
 * hard_sigmoid survives the round trip. A path ending in ".keras" gets a
 * Keras 3 archive instead (config.json, metadata.json, model.weights.h5;
 * compile_config when compiled, no optimizer state). A model with a
 * stateful layer whose input leaves the batch open is refused
 * (CK_ERR_SHAPE naming the layer), here and by ck_model_to_json: Keras
 * could not build it from the config; its weights can be saved.
 *     ck_model_save(m, "m.h5");  ck_model_save(m, "m.h5", .no_optimizer = true);
 * Not thread-safe for the same model; different models may be saved
 * concurrently. */
CK_API ck_status ck_model_save_with(ck_model *model, const char *path, const ck_save_options *opts);
#define ck_model_save(model, path, ...) \
    ck_model_save_with((model), (path), CK_ADDR_(ck_save_options, .ck_opts_ = 0, __VA_ARGS__))

/* Keras's custom_objects for names ckeras does not know: a custom
 * activation or initializer `from` ("my_act", or its registered name
 * "Custom>my_act") is read as the built-in `to` ("relu"). */
typedef struct ck_name_map {
    const char *from, *to;
} ck_name_map;

typedef struct ck_load_options {
    int ck_opts_;           /* internal: lets the constructor macros start with a designator */
    const ck_name_map *map; /* n_map entries */
    int n_map;
    ck_file_format format; /* CK_FORMAT_AUTO: by content */
    /* Keras's model_from_json(...) then load_weights(weights, by_name=...):
     * ck_model_load loads this weights file into the model before it
     * returns it (or fails, naming the file, and returns none). Without
     * by_name every layer's weights come from the file, so an architecture
     * file's initializers are not run. */
    const char *weights;
    bool by_name;
} ck_load_options;

/* Loads a whole model: Keras 2 / Keras 3 legacy .h5 or a .keras zip (Keras
 * 3, or tf.keras 2.13+). hard_sigmoid and other version-dependent
 * semantics follow keras_version. The file's weights are loaded without
 * running any initializer, so an unknown or custom initializer is only a
 * warning (ck_model_warnings), as are other config entries that cannot
 * change the numbers; what would change them (an unknown activation or
 * layer, a float16 or quantised dtype policy, ...) fails with
 * CK_ERR_UNSUPPORTED or CK_ERR_NAME naming the layer, the key, the value
 * and the Keras version that wrote the file; a stateful layer whose input
 * leaves the batch open, which Keras refuses to build, with CK_ERR_SHAPE. A training_config ckeras
 * cannot compile (e.g. a custom loss) leaves the model loaded but
 * uncompiled, like Keras's load_model(compile=False), with a warning line
 * that starts with CK_TRAINING_CONFIG_UNUSED and says why; saved optimizer
 * state that does not fit the compiled optimizer is left out, as Keras
 * leaves it, with a warning saying why. A config that
 * declares more weights than the file could hold (1032 times its bytes,
 * deflate's largest ratio) fails with CK_ERR_FORMAT before anything that
 * large is allocated.
 *     ck_model_load("m.h5", &m);
 *     ck_model_load("m.h5", &m, .map = (ck_name_map[]){{"my_act", "relu"}}, .n_map = 1);
 * Safe to call concurrently from several threads (each gets its own model). */
CK_API ck_status ck_model_load_with(const char *path, ck_model **model,
                                    const ck_load_options *opts);
#define CK_TRAINING_CONFIG_UNUSED "training configuration not used: "
#define ck_model_load(path, model, ...) \
    ck_model_load_with((path), (model), CK_ADDR_(ck_load_options, .ck_opts_ = 0, __VA_ARGS__))
/* ck_model_load(path, model, .format = format) and ck_model_save(model,
 * path, .format = format): a .json file gives a model with freshly
 * initialised weights; a .weights.h5 file saves the weights only.
 * CK_ERR_UNSUPPORTED for formats that hold no model. */
CK_API ck_status ck_model_load_as(const char *path, ck_file_format format, ck_model **model);
CK_API ck_status ck_model_save_as(ck_model *model, const char *path, ck_file_format format);

typedef struct ck_weights_options {
    int ck_opts_; /* internal: lets the constructor macros start with a designator */
    bool by_name; /* match layers by name instead of order */
    bool
        skip_mismatch; /* with by_name: a layer whose weights do not fit keeps its own (a warning) */
    bool keras3_layout; /* save: Keras 3 .weights.h5 layout (also chosen by that suffix) */
    /* save: Keras 3.10+ max_shard_size in GB (2^30 bytes); needed for, and
     * only for, a name ending in weights.json */
    double max_shard_size;
} ck_weights_options;
/* Weights only: Keras 2 legacy layout, or Keras 3 layout for *.weights.h5,
 * or for NAME.weights.json Keras 3.10+ sharded weights: NAME_00000.weights.h5,
 * NAME_00001.weights.h5, ... beside it, each file written atomically and
 * the index last (a failure can leave some shards new and the old index). */
CK_API ck_status ck_model_save_weights_with(ck_model *model, const char *path,
                                            const ck_weights_options *opts);
/* Loads weights of any supported layout into a built model; on any error the
 * model's weights are left unchanged. */
CK_API ck_status ck_model_load_weights_with(ck_model *model, const char *path,
                                            const ck_weights_options *opts);
#define ck_model_save_weights(model, path, ...) \
    ck_model_save_weights_with((model), (path), \
                               CK_ADDR_(ck_weights_options, .ck_opts_ = 0, __VA_ARGS__))
#define ck_model_load_weights(model, path, ...) \
    ck_model_load_weights_with((model), (path), \
                               CK_ADDR_(ck_weights_options, .ck_opts_ = 0, __VA_ARGS__))

/* Architecture as Keras JSON (model.to_json()); free with ck_free(). */
CK_API char *ck_model_to_json(ck_model *model);
/* Builds a model from Keras JSON (model_config / to_json / config.json):
 * Sequential, or Functional models that are a single chain of layers.
 * Semantics follow the JSON's keras_version; without one, Keras 3 when the
 * JSON has Keras 3's "module" key, else Keras 2. The weights are
 * initialized; an unknown initializer is replaced by the layer's default
 * (with a warning) unless opts maps it (opts->format, weights and by_name
 * are not used). Safe to call concurrently. */
CK_API ck_status ck_model_from_json_with(const char *json, ck_model **model,
                                         const ck_load_options *opts);
#define ck_model_from_json(json, model, ...) \
    ck_model_from_json_with((json), (model), CK_ADDR_(ck_load_options, .ck_opts_ = 0, __VA_ARGS__))
CK_API void ck_free(void *ptr);

/* What a Keras file holds, read without building a model: its kind, the
 * writer's keras_version, whether it has a model config, a training config
 * and optimizer state, and every layer group with its weight names and
 * shapes (ckeras inspect). Text, one item per line; free with ck_free.
 * NULL on failure. Safe to call concurrently. */
CK_API char *ck_file_describe(const char *path);
/* For a file that holds weights only: a Keras JSON architecture (the
 * model.to_json() form) inferred from the weight shapes of a stack of
 * LSTM, GRU, SimpleRNN and Dense layers, for the user to complete
 * (activations, timesteps, weightless layers such as Dropout). NULL with
 * CK_ERR_UNSUPPORTED when the shapes are not such a stack. Free with
 * ck_free. Safe to call concurrently. */
CK_API char *ck_file_template(const char *path);
/* Checks that path may be the target of a save, as every save does before
 * it writes anything: CK_ERR_IO naming a device, FIFO, socket, folder,
 * dangling symbolic link or read-only file, or a file in a folder that is
 * missing or not writable (writes nothing). Lets a program refuse an
 * output before long work. Safe to call concurrently. */
CK_API ck_status ck_check_output(const char *path);

/* Removes the temporary files of the saves in progress, for a signal
 * handler that then ends the process (those saves fail, or are lost with
 * the process). Async-signal-safe: it only reads a fixed table and calls
 * unlinkat; callable from any thread or handler. The library installs no
 * signal handler itself. Saves of more than 32 files at once in one
 * process are not all listed. */
CK_API void ck_remove_temporary_files(void);

/* Writes text and a final newline to path (a template from
 * ck_file_template, say), replacing it atomically as every file ckeras
 * writes. Safe to call concurrently for different paths. */
CK_API ck_status ck_text_write(const char *path, const char *text);

/* Reads one dataset of an HDF5 file ("/x", "/group/y"): any integer or
 * float type, converted to float32, rank 0..CK_MAX_RANK. out->data is
 * allocated (free with ck_free). The file is screened like a model file:
 * corrupt files, external and soft links are refused with an error. */
CK_API ck_status ck_h5_read_array(const char *path, const char *dataset, ck_tensor *out);

/* Writes t as the float32 dataset `dataset` ("/y") of a new HDF5 file,
 * replacing path atomically. */
CK_API ck_status ck_h5_write_array(const char *path, const char *dataset, const ck_tensor *t);

/* NumPy .npy arrays (format versions 1.0 to 3.0). Reading accepts float,
 * signed and unsigned integer and bool dtypes in either byte order,
 * converted to float32; C order only; rank 0..CK_MAX_RANK. out->data is
 * allocated (free with ck_free). Pipes and devices are refused. */
CK_API ck_status ck_npy_read(const char *path, ck_tensor *out);
/* The rows (indices of the first axis) of a .npy file, a few at a time:
 * for arrays larger than memory, or to start on the first samples before
 * the rest is read, without fresh memory for the whole array.
 *     ck_npy_reader *r;
 *     ck_tensor shape;                 // rank and dims; data stays NULL
 *     ck_npy_open("x.npy", &r, &shape);
 *     const float *rows;
 *     ck_npy_read_rows(r, 0, 32, &rows); // 32 x (dims[1] * ...) floats
 *     ck_npy_close(r);
 * Opening reads and checks the header as ck_npy_read does; the array must
 * have rank 1 or more. Rows are converted to float32 as ck_npy_read
 * converts them, into the reader's buffer: *rows stays valid until the
 * next read or the close, and the buffer (as large as the most rows asked
 * for at once) is reused. A file that shrinks after opening is an error,
 * not a short read. A reader is used by one thread at a time; different readers
 * may be used concurrently. ck_npy_close(NULL) does nothing. */
typedef struct ck_npy_reader ck_npy_reader;
CK_API ck_status ck_npy_open(const char *path, ck_npy_reader **reader, ck_tensor *shape);
CK_API ck_status ck_npy_read_rows(ck_npy_reader *reader, int64_t first, int64_t count,
                                  const float **rows);
CK_API void ck_npy_close(ck_npy_reader *reader);
/* Writes t as a little-endian float32 .npy (version 1.0), replacing path
 * atomically; t->rank may be 0..CK_MAX_RANK. */
CK_API ck_status ck_npy_write(const char *path, const ck_tensor *t);
/* Reads the next .npy array of a stream (a pipe, standard input): arrays
 * follow each other with nothing between them. At the end of the stream,
 * before an array starts, *end is set and out is empty. Memory grows with
 * the bytes that arrive, not with what a header claims. */
CK_API ck_status ck_npy_read_stream(FILE *stream, ck_tensor *out, bool *end);
/* Writes t to a stream as ck_npy_write writes a file, and flushes it. */
CK_API ck_status ck_npy_write_stream(FILE *stream, const ck_tensor *t);

#ifdef __cplusplus
}
#endif
#endif /* CKERAS_IO_H */
