/* NumPy .npy arrays: the parser behind the public ck_npy_read, exposed for
 * the fuzzer and the tests. */
#ifndef CK_NPY_H
#define CK_NPY_H

#include "ck_internal.h"

/* Longest header accepted, in bytes. numpy itself refuses headers over
 * 10000 bytes by default; a little slack covers hand-written files. */
#define CK_NPY_MAX_HEADER 65536

/* Longest string element accepted ('<U4096', '|S4096'): labels are short. */
#define CK_NPY_MAX_STRING 4096

/* What the prefix and header of a .npy say. */
typedef struct ck_npy_layout {
    char kind;     /* 'f', 'i', 'u', 'b'; 'U' (UCS-4 strings), 'S' (byte strings) */
    int item_size; /* bytes per element ('<U8': 32) */
    bool big_endian;
    int rank;
    int64_t dims[CK_MAX_RANK];
    size_t data_start; /* offset of the data: prefix and header length */
    size_t count;      /* elements */
    size_t bytes;      /* data bytes the shape needs */
} ck_npy_layout;

/* Parses the prefix and header at the start of buf[0..len); the data need
 * not follow. Accepts the string dtypes too, which ck_npy_parse refuses. */
ck_status ck_npy_parse_layout(const void *buf, size_t len, ck_npy_layout *out);

/* Parses a complete .npy image of `len` bytes. Accepted dtypes: float
 * (f4, f8), signed (i1, i2, i4, i8), unsigned (u1, u2, u4, u8) and bool
 * (b1), in either byte order; values are converted to float32. Only C
 * order is accepted, the data must be exactly as long as the shape says,
 * and rank must be 0..CK_MAX_RANK (rank 0 is one value). On success
 * out->data is allocated (release with ck_npy_free); on failure *out is
 * zeroed. Never reads outside buf[0..len). */
ck_status ck_npy_parse(const void *buf, size_t len, ck_tensor *out);

/* Frees the data of a tensor filled by ck_npy_parse/ck_npy_read. */
void ck_npy_free(ck_tensor *t);

#endif /* CK_NPY_H */
