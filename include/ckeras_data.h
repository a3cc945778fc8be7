/* ckeras data API: arrays and labels as Keras users keep them (.npz
 * archives, string labels, the tutorial's folder of .npy frames), the
 * confusion matrix of an evaluation set, and pictures (SVG) of training
 * curves and confusion matrices. Included by ckeras.h; see docs/api.md.
 *
 * Threads: functions that take no model may be called from any thread at
 * once; those that take a model follow the model rule of ckeras.h (one
 * thread per model at a time). */
#ifndef CKERAS_DATA_H
#define CKERAS_DATA_H

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* .npz archives (numpy.savez, numpy.savez_compressed)                 */
/* ------------------------------------------------------------------ */
/* A list of strings; items point into memory owned by the list. */
typedef struct ck_strings {
    int64_t n;
    char **items;
} ck_strings;
CK_API void ck_strings_free(ck_strings *strings);

/* The array names of an .npz archive, in archive order, as numpy's
 * np.load(path).files gives them (member names without ".npy"). */
CK_API ck_status ck_npz_names(const char *path, ck_strings *names);
/* Reads the array `name` of an .npz archive (stored or deflated members)
 * like ck_npy_read reads a .npy; name NULL reads the only array of a
 * one-array archive. Members are checked before they are inflated: a size
 * that the compressed bytes cannot produce, one over the archive-member
 * limit, a name that occurs twice, or data that does not match its size
 * or CRC are refused. out->data is allocated (free with ck_free). */
CK_API ck_status ck_npz_read(const char *path, const char *name, ck_tensor *out);

typedef struct ck_npz_entry {
    const char *name; /* non-empty, unique; stored as NAME.npy */
    const ck_tensor *array;
} ck_npz_entry;
/* Writes the arrays as numpy.savez does (each a float32 .npy member
 * NAME.npy, stored), or with `compressed` as numpy.savez_compressed does
 * (deflated); replaces path atomically. */
CK_API ck_status ck_npz_write(const char *path, const ck_npz_entry *entries, int n,
                              bool compressed);

/* ------------------------------------------------------------------ */
/* Text tables (CSV, TSV, blank-separated columns)                     */
/* ------------------------------------------------------------------ */
/* Reads a table of numbers as a (rows, columns) float32 array, one sample
 * per row, as np.loadtxt or pd.read_csv would: columns separated by
 * commas, else tabs, else blanks (decided by the first line); lines
 * starting with '#' and empty lines skipped; a UTF-8 BOM, CRLF line ends
 * and double quotes around a field accepted. The first line is a header
 * and skipped when a field of it is not a number, or when it counts
 * 0, 1, 2, ... over three or more columns (pandas's names for the columns
 * of an array); a header starting with an empty name (pandas's index)
 * drops the first column. Every row must hold as many numbers as the
 * first; an empty or non-numeric field is an error naming its line and
 * column. out->data is allocated (free with ck_free). */
CK_API ck_status ck_csv_read(const char *path, ck_tensor *out);
/* Writes t as a comma-separated table, one sample (everything after the
 * first axis, in C order) per line, each value with 9 significant digits
 * (the float32 comes back exactly); replaces path atomically. */
CK_API ck_status ck_csv_write(const char *path, const ck_tensor *t);

/* ------------------------------------------------------------------ */
/* String labels                                                        */
/* ------------------------------------------------------------------ */
/* Reads strings as UTF-8 from
 *  - a .npy of numpy str ('<U..') or bytes ('|S..') values, any shape (C
 *    order), e.g. np.save("labels.npy", np.array(["hello", "thanks"]));
 *  - the array `member` of an .npz archive (NULL: its only array);
 *  - else a text file, one string per line (a final newline, '\r' before
 *    it, a UTF-8 byte-order mark and blanks around each line are
 *    dropped; an empty line is an error naming it).
 * Invalid UTF-8, NUL bytes and code points outside Unicode are refused;
 * an array of numbers is CK_ERR_UNSUPPORTED. */
CK_API ck_status ck_strings_read(const char *path, const char *member, ck_strings *out);

/* ids[i] = the index of labels[i] in classes[0..n_classes); an unknown
 * label is an error naming it and its position. */
CK_API ck_status ck_class_ids(const char *const *labels, int64_t n, const char *const *classes,
                              int n_classes, int32_t *ids);
/* Targets for class ids, built to fit the model's compiled loss and its
 * output (batch, K): class ids (n,) for sparse_categorical_crossentropy,
 * ids as 0/1 in (n, 1) for a one-unit output with 2 classes
 * (binary_crossentropy), one-hot (n, K) otherwise. K must equal n_classes
 * (or be 1 with 2 classes). y->data is allocated (free with ck_free).
 * CK_ERR_STATE when the model is not compiled. */
CK_API ck_status ck_model_class_targets(ck_model *model, const int32_t *ids, int64_t n,
                                        int n_classes, ck_tensor *y);
/* The class of each sample of targets y for n_classes classes: the
 * argmax of one-hot rows (..., n_classes), the value of class ids (n,) or
 * (n, 1), or y > 0.5 for 0/1 targets when n_classes is 2. ids has one
 * entry per sample (the product of y's dimensions but the class axis). */
CK_API ck_status ck_target_class_ids(const ck_tensor *y, int n_classes, int32_t *ids);
/* How many ids ck_target_class_ids writes for y: size ids with it. A
 * caller that expects one class per sample checks it against dims[0]. */
CK_API size_t ck_target_rows(const ck_tensor *y, int n_classes);

/* The class of each row of model outputs `out` (the last axis holds the
 * class scores): the argmax, or for a one-unit output out > threshold
 * (0.5 for probabilities, 0 for logits). ids has one entry per row. */
CK_API ck_status ck_output_class_ids(const ck_tensor *out, float threshold, int32_t *ids);

/* ------------------------------------------------------------------ */
/* The tutorial's folder layout: DIR/<class>/<sequence>/<frame>.npy     */
/* ------------------------------------------------------------------ */
typedef struct ck_sequence_dir_options {
    int ck_opts_;               /* internal: lets the constructor macros start with a designator */
    const char *const *classes; /* NULL: every subdirectory of DIR, sorted by name */
    int n_classes;
    int64_t frames; /* 0: every sequence has all its frames, the same number each */
} ck_sequence_dir_options;

typedef struct ck_sequence_data {
    ck_tensor x;        /* (sequences, frames, ...frame shape), class by class */
    int32_t *ids;       /* class id of each sequence */
    ck_strings classes; /* class names in id order */
} ck_sequence_data;

/* Reads DIR/<class>/<sequence>/<frame>.npy as numpy's tutorials save
 * keypoints (one float64 or float32 array per frame). Sequences are taken
 * in numeric order of their names (2 before 10); frames are 0.npy,
 * 1.npy, ... without gaps; with opts->frames only the first that many
 * are read. Every frame must have the shape of the first. Names starting
 * with '.' and files other than .npy are skipped. */
CK_API ck_status ck_sequence_dir_read_with(const char *dir, const ck_sequence_dir_options *opts,
                                           ck_sequence_data *out);
#define ck_sequence_dir_read(dir, out, ...) \
    ck_sequence_dir_read_with(              \
        (dir), CK_ADDR_(ck_sequence_dir_options, .ck_opts_ = 0, __VA_ARGS__), (out))
CK_API void ck_sequence_data_free(ck_sequence_data *data);

/* ------------------------------------------------------------------ */
/* Confusion matrix                                                    */
/* ------------------------------------------------------------------ */
typedef struct ck_confusion {
    int n_classes;
    int64_t *counts; /* n_classes x n_classes; row: true class, column: predicted class */
} ck_confusion;
/* Predicts x in batches of batch_size (0: 32) and counts each sample by
 * its true class (ck_target_class_ids of y) and its predicted class: the
 * argmax of the output's last axis, or for a one-unit output the output
 * above 0.5 (above 0 when compiled with from_logits). Outputs with more
 * axes count every position of the leading axes, as Keras's accuracy
 * does. Same as tf.math.confusion_matrix(labels, predictions). */
CK_API ck_status ck_model_confusion_matrix(ck_model *model, const ck_tensor *x, const ck_tensor *y,
                                           int batch_size, ck_confusion *out);
CK_API void ck_confusion_free(ck_confusion *confusion);

/* ------------------------------------------------------------------ */
/* Pictures (standalone SVG files, replaced atomically)                 */
/* ------------------------------------------------------------------ */
/* One chart per quantity of the history (loss, then each metric), value
 * against epoch, training solid and validation dashed. */
CK_API ck_status ck_history_plot_svg(const ck_history *history, const char *path);
/* The matrix as a grid of cells shaded by the share of the true class
 * (row) and labelled with the count; class_names may be NULL (0, 1, ...). */
CK_API ck_status ck_confusion_plot_svg(const ck_confusion *confusion,
                                       const char *const *class_names, const char *path);

#ifdef __cplusplus
}
#endif
#endif /* CKERAS_DATA_H */
