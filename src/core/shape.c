#include "ck_internal.h"

#include <inttypes.h>
#include <stdint.h>
#include <string.h>

/* A count whose float bytes overflow pointer arithmetic cannot describe a
 * real array, so callers treat it like an overflowing product. */
static bool fits_in_memory(size_t n)
{
    return n <= (size_t)PTRDIFF_MAX / sizeof(float);
}

size_t ck_shape_sample_size(const ck_shape *s)
{
    size_t n = 1;
    for (int i = 1; i < s->rank; i++) {
        if (s->dims[i] <= 0 || !ck_size_mul(n, (size_t)s->dims[i], &n))
            return 0;
    }
    return fits_in_memory(n) ? n : 0;
}

size_t ck_tensor_size(const ck_tensor *t)
{
    size_t n = 1;
    for (int i = 0; i < t->rank; i++) {
        if (t->dims[i] <= 0 || !ck_size_mul(n, (size_t)t->dims[i], &n))
            return 0;
    }
    return fits_in_memory(n) ? n : 0;
}

void ck_shape_format(const ck_shape *s, char *buf, size_t len)
{
    size_t used = 0;
    used += (size_t)snprintf(buf, len, "(");
    for (int i = 0; i < s->rank && used < len; i++) {
        const char *sep = i ? ", " : "";
        if (s->dims[i] < 0)
            used += (size_t)snprintf(buf + used, len - used, "%sNone", sep);
        else
            used += (size_t)snprintf(buf + used, len - used, "%s%" PRId64, sep, s->dims[i]);
    }
    /* Python prints a one-element tuple as "(None,)". */
    if (used < len)
        snprintf(buf + used, len - used, s->rank == 1 ? ",)" : ")");
}

void ck_shape_string(int rank, const int64_t *dims, char *buf, size_t len)
{
    ck_shape s = {.rank = rank < 0 ? 0 : rank > CK_MAX_RANK ? CK_MAX_RANK : rank};
    if (dims)
        memcpy(s.dims, dims, (size_t)s.rank * sizeof *dims);
    ck_shape_format(&s, buf, len);
}

bool ck_shape_equal(const ck_shape *a, const ck_shape *b)
{
    return a->rank == b->rank && memcmp(a->dims, b->dims, sizeof(int64_t) * (size_t)a->rank) == 0;
}
