/* Lists of strings from files: string labels as numpy saves them (str
 * '<U..' or bytes '|S..' arrays, in .npy or .npz) or as text, one per line.
 * Everything becomes UTF-8; bytes that are not text are refused. */
#include "ck_io.h"
#include "ck_npy.h"

#include <stdlib.h>
#include <string.h>

/* Label files are small; this only stops a wrong path from filling memory. */
#define MAX_LABEL_FILE ((size_t)1 << 30)

ck_status ck_strings_alloc(int64_t n, size_t chars, ck_strings *out, char **block)
{
    memset(out, 0, sizeof *out);
    size_t ptrs;
    if (n < 0 || !ck_size_mul((size_t)n, sizeof(char *), &ptrs) || chars > SIZE_MAX - ptrs)
        return ck_error(CK_ERR_MEMORY, "%lld strings are too many", (long long)n);
    char **items = ck_alloc(ptrs + chars + 1, 1);
    if (!items)
        return CK_ERR_MEMORY;
    out->n = n;
    out->items = items;
    *block = (char *)items + ptrs;
    return CK_OK;
}

void ck_strings_free(ck_strings *s)
{
    if (!s)
        return;
    free(s->items);
    s->items = NULL;
    s->n = 0;
}

size_t ck_utf8_sequence(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len = c < 0x80                 ? 1
                 : c >= 0xC2 && c <= 0xDF ? 2
                 : c >= 0xE0 && c <= 0xEF ? 3
                 : c >= 0xF0 && c <= 0xF4 ? 4
                                          : 0;
    if (len == 0 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F) || (c == 0xF0 && s[1] < 0x90) ||
        (c == 0xF4 && s[1] > 0x8F))
        return 0;
    return len;
}

/* Offset of the first byte that is not UTF-8 text (or is NUL), or n. */
static size_t first_invalid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    for (size_t k; i < n && s[i] != 0 && (k = ck_utf8_sequence(s + i, n - i)) != 0; i += k)
        ;
    return i;
}

static size_t put_utf8(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static uint32_t ucs4_at(const unsigned char *p, bool big_endian)
{
    return big_endian ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
                      : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* One '<U' element of `units` UCS-4 code units, trailing NULs dropped as
 * numpy does, written as UTF-8 at out; returns the bytes written or -1. */
static long decode_ucs4(const unsigned char *p, size_t units, bool big_endian, char *out)
{
    while (units > 0 && ucs4_at(p + 4 * (units - 1), big_endian) == 0)
        units--;
    size_t len = 0;
    for (size_t i = 0; i < units; i++) {
        uint32_t cp = ucs4_at(p + 4 * i, big_endian);
        if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return -1;
        len += put_utf8(cp, out + len);
    }
    return (long)len;
}

/* One '|S' element: bytes up to the first NUL (numpy pads with NULs). */
static long decode_bytes(const unsigned char *p, size_t size, char *out)
{
    size_t n = 0;
    while (n < size && p[n] != 0)
        n++;
    for (size_t i = n; i < size; i++)
        if (p[i] != 0)
            return -1; /* a NUL inside the string */
    if (first_invalid(p, n) != n)
        return -1;
    memcpy(out, p, n);
    return (long)n;
}

static ck_status strings_from_npy(const unsigned char *buf, size_t len, const char *label,
                                  ck_strings *out)
{
    ck_npy_layout l;
    CK_TRY(ck_npy_parse_layout(buf, len, &l));
    if (l.kind != 'U' && l.kind != 'S')
        return ck_error(CK_ERR_UNSUPPORTED, "%s holds numbers, not strings", label);
    if (len - l.data_start != l.bytes)
        return ck_error(CK_ERR_FORMAT, "%s: the shape needs %zu data bytes, the file has %zu",
                        label, l.bytes, len - l.data_start);
    char *at = NULL;
    /* UTF-8 takes at most 4 bytes per UCS-4 unit, and bytes stay bytes. */
    CK_TRY(ck_strings_alloc((int64_t)l.count, l.bytes + l.count, out, &at));
    const unsigned char *p = buf + l.data_start;
    for (size_t i = 0; i < l.count; i++, p += l.item_size) {
        long n = l.kind == 'U' ? decode_ucs4(p, (size_t)l.item_size / 4, l.big_endian, at)
                               : decode_bytes(p, (size_t)l.item_size, at);
        if (n < 0) {
            ck_strings_free(out);
            return ck_error(CK_ERR_FORMAT, "%s: string %zu is not valid text", label, i);
        }
        out->items[i] = at;
        at[n] = '\0';
        at += n + 1;
    }
    return CK_OK;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* Splits text into trimmed lines; blank lines are allowed only at the end. */
static ck_status strings_from_text(char *text, size_t len, const char *label, ck_strings *out)
{
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
        text += 3;
        len -= 3;
    }
    size_t bad = first_invalid((const unsigned char *)text, len);
    if (bad != len)
        return ck_error(CK_ERR_FORMAT, "%s is not UTF-8 text (byte %zu)", label, bad);
    int64_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    lines += len > 0 && text[len - 1] != '\n';
    char *at = NULL;
    CK_TRY(ck_strings_alloc(lines, len + 1, out, &at));
    int64_t n = 0, first_blank = -1;
    for (char *line = text, *stop = text + len; line < stop; n++) {
        char *nl = memchr(line, '\n', (size_t)(stop - line)), *end = nl ? nl : stop;
        char *next = nl ? nl + 1 : stop;
        while (line < end && is_blank(*line))
            line++;
        while (end > line && is_blank(end[-1]))
            end--;
        if (end == line && first_blank < 0)
            first_blank = n;
        if (end != line && first_blank >= 0) {
            ck_strings_free(out);
            return ck_error(CK_ERR_FORMAT, "%s: line %lld is empty", label,
                            (long long)first_blank + 1);
        }
        out->items[n] = at;
        memcpy(at, line, (size_t)(end - line));
        at += end - line;
        *at++ = '\0';
        line = next;
    }
    out->n = first_blank >= 0 ? first_blank : n;
    return CK_OK;
}

ck_status ck_strings_read(const char *path, const char *member, ck_strings *out)
{
    if (!path || !out)
        return ck_error(CK_ERR_ARGUMENT, "ck_strings_read: NULL argument");
    memset(out, 0, sizeof *out);
    char *buf = NULL, label[512];
    size_t len = 0;
    ck_status st;
    snprintf(label, sizeof label, "%s%s%s", path, member ? ":" : "", member ? member : "");
    bool zip = member || ck_is_zip_file(path);
    if (zip)
        st = ck_npz_load_member(path, member, (void **)&buf, &len);
    else
        st = ck_read_file_limited(path, MAX_LABEL_FILE, &buf, &len);
    if (st == CK_OK && (zip || (len >= 6 && memcmp(buf, "\x93NUMPY", 6) == 0)))
        st = strings_from_npy((const unsigned char *)buf, len, label, out);
    else if (st == CK_OK)
        st = strings_from_text(buf, len, label, out);
    free(buf);
    return st;
}
