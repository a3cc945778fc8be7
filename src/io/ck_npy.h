/* NumPy .npy arrays: the parser behind the public ck_npy_read, exposed for
 * the fuzzer and the tests. */
#ifndef CK_NPY_H
#define CK_NPY_H

#include "ck_internal.h"

/* Longest header accepted, in bytes. numpy itself refuses headers over
 * 10000 bytes by default; a little slack covers hand-written files. */
#define CK_NPY_MAX_HEADER 65536

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
