/* Shared helpers of the C export tests: export a model as "model", build
 * the generated file with a harness under the strict flags, run it. */
#ifndef CK_EXPORT_TEST_H
#define CK_EXPORT_TEST_H

#include "ck_test.h"

#include <stdbool.h>

/* The warning flags every generated file must pass. */
#define CK_EXPORT_CFLAGS "-std=c99 -pedantic -Wall -Wextra -Werror -O2"

/* Whether a compiler can be run ("gcc", "clang", "arm-none-eabi-gcc"). */
bool ck_export_have(const char *cc);

/* Runs a shell command; returns its exit status (-1: did not exit). */
int ck_export_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Exports m as `name` to c_path and h_path (NULL: no header), stored as q;
 * sample and report may be NULL. Asserts success. */
void ck_export_files(ck_model *m, const char *c_path, const char *h_path, const char *name,
                     ck_export_quantize q, const ck_tensor *sample, ck_export_report *report);

/* Writes a float array to a raw file in the scratch directory. */
void ck_export_write_floats(const char *name, const float *v, size_t n);
/* Reads n floats from a raw file in the scratch directory (malloc'ed). */
float *ck_export_read_floats(const char *name, size_t n);

#endif
