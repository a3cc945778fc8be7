/* Process-wide safety limits (ck_set_limit). Atomics, so any thread may
 * read or change them while others load models. */
#include "ck_internal.h"

#include <stdatomic.h>

static _Atomic uint64_t limits[CK_LIMIT_COUNT] = {
    [CK_LIMIT_MODEL_BYTES] = 4ull << 30,
    [CK_LIMIT_ARCHIVE_MEMBER] = 4ull << 30,
};

uint64_t ck_set_limit(ck_limit which, uint64_t value)
{
    if ((unsigned)which >= CK_LIMIT_COUNT)
        return 0;
    return value ? atomic_exchange(&limits[which], value) : atomic_load(&limits[which]);
}

uint64_t ck_limit_get(ck_limit which)
{
    return ck_set_limit(which, 0);
}
