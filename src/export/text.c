/* Growing text buffers for the generated files. A failed allocation is
 * remembered and checked once, when the text is complete. */
#include "ck_export.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool reserve(ck_text *t, size_t extra)
{
    if (t->failed)
        return false;
    if (t->len + extra + 1 <= t->cap)
        return true;
    size_t cap = t->cap ? t->cap : 4096;
    while (cap < t->len + extra + 1)
        cap *= 2;
    char *p = ck_realloc_array(t->buf, cap, 1);
    if (!p) {
        t->failed = true;
        return false;
    }
    t->buf = p;
    t->cap = cap;
    return true;
}

void ck_text_append(ck_text *t, const char *s, size_t n)
{
    if (!reserve(t, n))
        return;
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = '\0';
}

void ck_text_printf(ck_text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(t, (size_t)n)) {
        t->failed = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(t->buf + t->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

void ck_text_free(ck_text *t)
{
    free(t->buf);
    *t = (ck_text){0};
}
