/* .npy arrays from a stream (standard input, a pipe), where arrays follow
 * each other and only their headers tell where each ends. */
#include "ck_io.h"
#include "ck_npy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Bytes read per step: a header that claims more data than arrives costs
 * at most this much memory beyond what did arrive. */
#define STREAM_CHUNK ((size_t)1 << 20)

typedef struct stream_buf {
    FILE *f;
    char *data;
    size_t len, cap;
} stream_buf;

/* Appends bytes until the buffer holds `to` bytes. */
static ck_status fill_to(stream_buf *b, size_t to)
{
    while (b->len < to) {
        size_t want = to - b->len < STREAM_CHUNK ? to - b->len : STREAM_CHUNK;
        if (b->len + want > b->cap) {
            size_t cap = b->cap * 2 > b->len + want ? b->cap * 2 : b->len + want;
            cap = cap < to ? cap : to;
            char *grown = ck_realloc_array(b->data, cap, 1);
            if (!grown)
                return CK_ERR_MEMORY;
            b->data = grown;
            b->cap = cap;
        }
        size_t got = fread(b->data + b->len, 1, want, b->f);
        b->len += got;
        if (got < want)
            return ferror(b->f)
                       ? ck_error(CK_ERR_IO, "cannot read the .npy stream: %s", strerror(errno))
                       : ck_error(CK_ERR_FORMAT,
                                  "truncated .npy stream: the array needs %zu bytes, "
                                  "%zu arrived",
                                  to, b->len);
    }
    return CK_OK;
}

/* Reads the prefix, the header and the data of one array into b. */
static ck_status read_array(stream_buf *b)
{
    static const unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
    CK_TRY(fill_to(b, 10));
    const unsigned char *p = (const unsigned char *)b->data;
    if (memcmp(p, magic, sizeof magic) != 0)
        return ck_error(CK_ERR_FORMAT, "not a .npy stream (bad magic)");
    size_t prefix = p[6] == 1 ? 10 : 12, hlen;
    CK_TRY(fill_to(b, prefix));
    p = (const unsigned char *)b->data;
    hlen = p[6] == 1 ? (size_t)p[8] | (size_t)p[9] << 8
                     : (size_t)p[8] | (size_t)p[9] << 8 | (size_t)p[10] << 16 | (size_t)p[11] << 24;
    if (hlen > CK_NPY_MAX_HEADER)
        return ck_error(CK_ERR_FORMAT, ".npy header of %zu bytes exceeds the %d-byte limit", hlen,
                        CK_NPY_MAX_HEADER);
    CK_TRY(fill_to(b, prefix + hlen));
    ck_npy_layout l;
    CK_TRY(ck_npy_parse_layout(b->data, b->len, &l));
    if (l.bytes > SIZE_MAX - l.data_start)
        return ck_error(CK_ERR_FORMAT, ".npy shape is too large");
    return fill_to(b, l.data_start + l.bytes);
}

ck_status ck_npy_read_stream(FILE *stream, ck_tensor *out, bool *end)
{
    if (!stream || !out || !end)
        return ck_error(CK_ERR_ARGUMENT, "ck_npy_read_stream: NULL argument");
    memset(out, 0, sizeof *out);
    *end = false;
    int c = getc(stream);
    if (c == EOF) {
        if (ferror(stream))
            return ck_error(CK_ERR_IO, "cannot read the .npy stream: %s", strerror(errno));
        *end = true;
        return CK_OK;
    }
    ungetc(c, stream);
    stream_buf b = {.f = stream};
    ck_status st = read_array(&b);
    if (st == CK_OK)
        st = ck_npy_parse(b.data, b.len, out);
    free(b.data);
    return st;
}
