/* Shared helpers for the Check test binaries. */
#ifndef CK_TEST_H
#define CK_TEST_H

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "ckeras.h"

/* Exit status of a test program that cannot run at all: every test is
 * registered with SKIP_RETURN_CODE 77, so ctest reports it as skipped. */
#define CK_TEST_SKIP 77

/* Defined in the sanitizer build (gcc and clang announce it differently). */
#if defined(__SANITIZE_ADDRESS__)
#define CK_TEST_UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CK_TEST_UNDER_SANITIZER 1
#endif
#endif

/* Shared material lives beside the project root; tests run from the root. */
#define CK_SHARED_DIR "../shared"

/* Prints "SKIP: <why>" for a check that cannot run here and makes
 * ck_test_run exit CK_TEST_SKIP (when nothing failed), so ctest counts the
 * program as skipped instead of passed. Works from Check's forked tests. */
void ck_test_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Returns the path of a file under ../shared, or NULL (after ck_test_skip
 * says why) when it is absent. The buffer is static. */
const char *ck_test_shared(const char *relative);

/* Skips the rest of a test when a shared file is missing. */
#define CK_SHARED_OR_SKIP(var, rel)        \
    const char *var = ck_test_shared(rel); \
    if (!var)                              \
    return

/* |a - b| <= tol, with a message naming the index. */
#define ck_assert_close(a, b, tol)                                                               \
    ck_assert_msg(fabs((double)(a) - (double)(b)) <= (tol), "%s = %.9g, expected %.9g (tol %g)", \
                  #a, (double)(a), (double)(b), (double)(tol))

/* Asserts a ckeras call succeeds, printing ck_last_error() if not. */
#define ck_assert_ok(expr)                                                           \
    do {                                                                             \
        ck_status st_ = (expr);                                                      \
        ck_assert_msg(st_ == CK_OK, "%s failed: %s: %s", #expr, ck_status_name(st_), \
                      ck_last_error());                                              \
    } while (0)

/* Asserts a call fails with `code` and leaves a non-empty message. */
#define ck_assert_fails(expr, code)                                                   \
    do {                                                                              \
        ck_status st_ = (expr);                                                       \
        ck_assert_msg(st_ == (code), "%s returned %s, expected %s (%s)", #expr,       \
                      ck_status_name(st_), ck_status_name(code), ck_last_error());    \
        ck_assert_msg(ck_last_error()[0] != '\0', "%s left no error message", #expr); \
    } while (0)

/* Builds the layers of a model under test into out (at most cap);
 * returns how many. Called once per attempt, after a failure is armed. */
typedef int (*ck_test_layers_fn)(ck_layer **out, int cap);

/* Makes allocation 1, 2, ... up to max_allocs fail in turn while the
 * layers are made, the Sequential model on x's sample shape is built and
 * runs a training forward on x and a backward of dy: every failure must
 * be CK_ERR_MEMORY (ASan checks nothing leaks), until one attempt runs
 * through. */
void ck_test_survives_alloc_failures(ck_test_layers_fn make, const ck_tensor *x,
                                     const ck_tensor *dy, long max_allocs);

/* Reads a whole float dataset (any float type converted to float32) from an
 * HDF5 file. *data is malloc'ed; dims receives up to 6 sizes. Returns the
 * number of values, 0 on failure. */
size_t ck_test_read_h5(const char *path, const char *dataset, float **data, int *rank,
                       long long dims[6]);
/* Gives obj (an HDF5 file, group or dataset id) a scalar attribute of len
 * bytes of fixed-length string, as h5py writes Python bytes. */
void ck_test_write_string_attr(int64_t obj, const char *name, const char *text, size_t len);

/* A scratch directory per test binary: make, path of a file in it (the
 * last eight results stay valid), and remove with its files. */
void ck_test_make_dir(const char *prefix);
const char *ck_test_path(const char *name);
/* ck_test_path of a printf-formatted name ("MP_Data/%s/%d"). */
const char *ck_test_pathf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Removes the scratch directory with everything below it. */
void ck_test_remove_dir(void);
/* ck_test_make_dir("cktest") with the signature Check wants of a fixture. */
void ck_test_scratch_fixture(void);
/* Leftover temporary files of atomic saves in the scratch directory. */
int ck_test_count_temp_files(void);

/* Writes a float64 vector as numpy's np.save does (version 1.0, header
 * padded to 64 bytes, little-endian data): the tutorials' frame files. */
void ck_test_write_npy_f64(const char *path, const double *v, int n);

/* The model's summary in a style, as one malloc'ed string. */
char *ck_test_summary(ck_model *m, ck_summary_style style);

/* The data of optimizer slot i of a model (asserts that it exists). */
float *ck_test_slot(ck_model *m, int i);

/* Runs one suite with Check's runner; returns the process exit status:
 * failure if a test failed, else CK_TEST_SKIP if one skipped, else success. */
int ck_test_run(Suite *suite);

#endif
