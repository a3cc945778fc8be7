/* NumPy .npy arrays (format versions 1.0, 2.0 and 3.0), converted to and
 * from float32. Internal to ckeras: used by the command-line tool and tests. */
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

/* Reads a .npy file with ck_npy_parse; errors name the path. The data is
 * read only when the file's size is the one its header implies. */
ck_status ck_npy_read(const char *path, ck_tensor *out);

/* Writes t as a little-endian float32 .npy (version 1.0, header padded to
 * 64 bytes) atomically (ck_io_atomic_file). t->rank may be 0..CK_MAX_RANK. */
ck_status ck_npy_write(const char *path, const ck_tensor *t);

/* Frees the data of a tensor filled by ck_npy_parse/ck_npy_read. */
void ck_npy_free(ck_tensor *t);

#endif /* CK_NPY_H */
