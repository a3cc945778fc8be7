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
/* String labels                                                        */
/* ------------------------------------------------------------------ */
/* Reads strings as UTF-8 from
 *  - a .npy of numpy str ('<U..') or bytes ('|S..') values, any shape (C
 *    order), e.g. np.save("labels.npy", np.array(["hello", "thanks"]));
 *  - the array `member` of an .npz archive (NULL: its only array);
 *  - else a text file, one string per line (a final newline, '\r' before
 *    it, a UTF-8 byte-order mark and blanks around each line are
 *    dropped; an empty line is an error naming it).
 * Invalid UTF-8, NUL bytes and code points outside Unicode are refused. */
CK_API ck_status ck_strings_read(const char *path, const char *member, ck_strings *out);

#ifdef __cplusplus
}
#endif
#endif /* CKERAS_DATA_H */
