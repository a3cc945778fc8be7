/* madvise's MADV_HUGEPAGE is outside POSIX. */
#define _DEFAULT_SOURCE
#include "ck_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* A transparent huge page (x86-64 and most 64-bit Linux ports). */
#define HUGE_PAGE ((size_t)2 << 20)

/* Countdown for the allocation-failure tests: when it reaches zero the
 * allocation fails. Thread-local so parallel tests do not interfere. */
static _Thread_local long fail_countdown;

void ck_debug_fail_alloc_after(long n)
{
    fail_countdown = n;
}

static bool injected_failure(void)
{
    if (fail_countdown <= 0)
        return false;
    return --fail_countdown == 0;
}

bool ck_size_mul(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return false;
    *out = a * b;
    return true;
}

void *ck_alloc(size_t count, size_t size)
{
    size_t bytes;
    if (!ck_size_mul(count, size, &bytes) || bytes > (size_t)PTRDIFF_MAX) {
        ck_error(CK_ERR_MEMORY, "allocation of %zu x %zu bytes overflows", count, size);
        return NULL;
    }
    void *p = injected_failure() ? NULL : calloc(bytes ? bytes : 1, 1);
    if (!p)
        ck_error(CK_ERR_MEMORY, "out of memory allocating %zu bytes", bytes);
    return p;
}

void *ck_realloc_array(void *ptr, size_t count, size_t size)
{
    size_t bytes;
    if (!ck_size_mul(count, size, &bytes) || bytes > (size_t)PTRDIFF_MAX) {
        ck_error(CK_ERR_MEMORY, "allocation of %zu x %zu bytes overflows", count, size);
        return NULL;
    }
    void *p = injected_failure() ? NULL : realloc(ptr, bytes ? bytes : 1);
    if (!p)
        ck_error(CK_ERR_MEMORY, "out of memory allocating %zu bytes", bytes);
    return p;
}

/* From here on a buffer starts on a huge page; it is rounded up to whole
 * huge pages when that adds at most a quarter (a 1.7 MB packed kernel then
 * costs one fault instead of 425, a 2.4 MB parameter array stays 2.4 MB:
 * one huge page and 4 KiB pages after it). */
#define HUGE_FROM ((size_t)1 << 20)

void *ck_alloc_bulk(size_t count, size_t size)
{
    size_t bytes;
    if (!ck_size_mul(count, size, &bytes) || bytes > (size_t)PTRDIFF_MAX - HUGE_PAGE) {
        ck_error(CK_ERR_MEMORY, "allocation of %zu x %zu bytes overflows", count, size);
        return NULL;
    }
    bool huge = bytes >= HUGE_FROM;
    size_t rounded = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    if (huge && rounded - bytes <= bytes / 4)
        bytes = rounded;
    void *p = NULL;
    if (injected_failure() || posix_memalign(&p, huge ? HUGE_PAGE : 64, bytes ? bytes : 64) != 0)
        p = NULL;
    if (!p) {
        ck_error(CK_ERR_MEMORY, "out of memory allocating %zu bytes", bytes);
        return NULL;
    }
#ifdef MADV_HUGEPAGE
    /* Only a hint: where the kernel has no huge page, 4 KiB pages serve. */
    if (huge && bytes >= HUGE_PAGE)
        madvise(p, bytes / HUGE_PAGE * HUGE_PAGE, MADV_HUGEPAGE);
#endif
    return p;
}

/* Under AddressSanitizer the arrays come from calloc, whose redzones
 * catch a write past their end; a mapping has none. */
#if defined(__SANITIZE_ADDRESS__)
#define ZEROED_BY_CALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ZEROED_BY_CALLOC 1
#endif
#endif

#ifdef ZEROED_BY_CALLOC
void *ck_alloc_zeroed(size_t count, size_t size)
{
    return ck_alloc(count, size);
}

void ck_free_zeroed(void *p, size_t count, size_t size)
{
    (void)count, (void)size;
    free(p);
}
#else
/* The mapping behind ck_alloc_zeroed: whole pages, whole huge pages from
 * HUGE_FROM on. */
static size_t zeroed_length(size_t bytes)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE), unit = bytes >= HUGE_FROM ? HUGE_PAGE : page;
    return bytes == 0 ? page : (bytes + unit - 1) / unit * unit;
}

void *ck_alloc_zeroed(size_t count, size_t size)
{
    size_t bytes;
    if (!ck_size_mul(count, size, &bytes) || bytes > (size_t)PTRDIFF_MAX - 2 * HUGE_PAGE) {
        ck_error(CK_ERR_MEMORY, "allocation of %zu x %zu bytes overflows", count, size);
        return NULL;
    }
    size_t len = zeroed_length(bytes), slack = len >= HUGE_PAGE ? HUGE_PAGE : 0;
    char *map = injected_failure() ? MAP_FAILED
                                   : mmap(NULL, len + slack, PROT_READ | PROT_WRITE,
                                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) {
        ck_error(CK_ERR_MEMORY, "out of memory allocating %zu bytes", bytes);
        return NULL;
    }
    /* A huge page needs a 2 MiB boundary: the slack before and after it
     * goes back at once. */
    char *p = map;
    if (slack) {
        p = (char *)(((uintptr_t)map + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
        if (p > map)
            munmap(map, (size_t)(p - map));
        if (p + len < map + len + slack)
            munmap(p + len, (size_t)(map + len + slack - (p + len)));
#ifdef MADV_HUGEPAGE
        madvise(p, len, MADV_HUGEPAGE);
#endif
    }
    return p;
}

void ck_free_zeroed(void *p, size_t count, size_t size)
{
    if (p)
        munmap(p, zeroed_length(count * size));
}
#endif

char *ck_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = ck_alloc(n, 1);
    if (p)
        memcpy(p, s, n);
    return p;
}

bool ck_str_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Workspaces from here on are mapped in one call when they grow. A first
 * touch that traps costs about 5 us per 4 KiB page on a virtual machine
 * (3.2 ms per MB against 1.8 ms populated: docs/performance.md), and every
 * workspace is written whole by the pass that reserved it. */
#define POPULATE_FROM ((size_t)256 << 10)

static void populate(void *p, size_t bytes)
{
#ifdef MADV_POPULATE_WRITE
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), lo = ((uintptr_t)p + page - 1) & ~(page - 1),
              hi = ((uintptr_t)p + bytes) & ~(page - 1);
    /* Only a hint: kernels before 5.14 refuse it, and the first touch then
     * maps the pages as before. */
    if (hi > lo)
        madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE);
#else
    (void)p, (void)bytes;
#endif
}

/* A large workspace goes on huge pages as ck_alloc_bulk's arrays do: then
 * populating 2 MB is one fault, not 512. */
static float *grow(float *old, size_t old_n, size_t n)
{
    if (n * sizeof(float) < HUGE_FROM)
        return ck_realloc_array(old, n, sizeof(float));
    float *p = ck_alloc_bulk(n, sizeof(float));
    if (p && old)
        memcpy(p, old, old_n * sizeof(float));
    if (p)
        free(old);
    return p;
}

ck_status ck_buf_reserve(ck_buf *b, size_t n)
{
    if (n <= b->cap)
        return CK_OK;
    float *p = grow(b->data, b->cap, n);
    if (!p)
        return CK_ERR_MEMORY;
    b->data = p;
    b->cap = n;
    if (n * sizeof(float) >= POPULATE_FROM)
        populate(p, n * sizeof(float));
    return CK_OK;
}

void ck_buf_free(ck_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->cap = 0;
}

void ck_free(void *ptr)
{
    free(ptr);
}
