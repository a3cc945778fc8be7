/* .npy reader and writer. The header is a Python dict literal; the parser
 * accepts exactly what numpy writes (plus harmless variations such as
 * double quotes and Python 2 "3L" sizes) and treats everything else as
 * corrupt, so it is safe to run on untrusted bytes. */
#include "ck_npy.h"
#include "ck_io.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

typedef struct npy_dtype {
    char kind; /* 'f', 'i', 'u', 'b'; 'U' and 'S' for strings */
    int size;  /* bytes per value */
    bool big_endian;
} npy_dtype;

typedef struct npy_header {
    npy_dtype dtype;
    bool fortran_order;
    int rank;
    int64_t dims[CK_MAX_RANK];
    unsigned seen; /* bit per key, to catch missing and repeated keys */
} npy_header;

enum { KEY_DESCR = 1, KEY_FORTRAN = 2, KEY_SHAPE = 4, KEY_ALL = 7 };

typedef struct cursor {
    const char *p, *end;
} cursor;

static bool host_is_big_endian(void)
{
    const uint16_t probe = 1;
    unsigned char first;
    memcpy(&first, &probe, 1);
    return first == 0;
}

static ck_status corrupt(const char *what)
{
    return ck_error(CK_ERR_FORMAT, "corrupt .npy header: %s", what);
}

static void skip_space(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static bool accept(cursor *c, char ch)
{
    skip_space(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return true;
    }
    return false;
}

static bool accept_word(cursor *c, const char *word)
{
    size_t n = strlen(word);
    skip_space(c);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
        return false;
    c->p += n;
    return true;
}

/* A quoted string without escapes (numpy never writes any). */
static ck_status parse_string(cursor *c, char *out, size_t cap)
{
    skip_space(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return corrupt("expected a quoted string");
    char quote = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != quote) {
        if (*c->p == '\\' || n + 1 >= cap)
            return corrupt("unexpected string");
        out[n++] = *c->p++;
    }
    if (c->p >= c->end)
        return corrupt("unterminated string");
    c->p++;
    out[n] = '\0';
    return CK_OK;
}

/* numpy's str ('<U8': 8 UCS-4 code units) and bytes ('|S8') dtypes, which
 * label files use; only ck_npy_parse_layout's callers read them. */
static ck_status parse_string_descr(const char *s, npy_dtype *dt)
{
    char *end;
    long n = strtol(s + 2, &end, 10);
    bool unicode = s[1] == 'U';
    bool order_ok = unicode ? s[0] != '|' : s[0] == '|';
    if (*end || s[2] < '1' || s[2] > '9' || n > CK_NPY_MAX_STRING || !order_ok)
        return ck_error(CK_ERR_UNSUPPORTED, ".npy dtype '%s' is not supported", s);
    dt->kind = s[1];
    dt->size = (int)n * (unicode ? 4 : 1);
    dt->big_endian = s[0] == '>' || (s[0] == '=' && host_is_big_endian());
    return CK_OK;
}

static ck_status parse_descr(cursor *c, npy_dtype *dt)
{
    skip_space(c);
    if (c->p < c->end && *c->p == '[')
        return ck_error(CK_ERR_UNSUPPORTED, ".npy structured dtypes are not supported");
    char s[16];
    CK_TRY(parse_string(c, s, sizeof s));
    if (strlen(s) > 2 && (s[1] == 'U' || s[1] == 'S'))
        return parse_string_descr(s, dt);
    if (strlen(s) != 3 || !strchr("<>|=", s[0]) || !strchr("fiub", s[1]) || !strchr("1248", s[2]))
        return ck_error(
            CK_ERR_UNSUPPORTED,
            ".npy dtype '%s' is not supported (use float16/32/64, int8-64, uint8-64 or bool)", s);
    dt->kind = s[1];
    dt->size = s[2] - '0';
    bool valid = dt->kind == 'f' ? dt->size >= 2 : dt->kind == 'b' ? dt->size == 1 : true;
    if (!valid)
        return ck_error(CK_ERR_UNSUPPORTED, ".npy dtype '%s' is not supported", s);
    if (s[0] == '|' && dt->size != 1)
        return corrupt("byte order '|' on a multi-byte dtype");
    dt->big_endian = s[0] == '>' || (s[0] == '=' && host_is_big_endian());
    return CK_OK;
}

static ck_status parse_dim(cursor *c, int64_t *out)
{
    skip_space(c);
    int64_t v = 0;
    const char *start = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        int digit = *c->p++ - '0';
        if (v > (INT64_MAX - digit) / 10)
            return ck_error(CK_ERR_FORMAT, ".npy shape has a dimension too large");
        v = v * 10 + digit;
    }
    if (c->p == start)
        return corrupt("shape must be a tuple of non-negative integers");
    if (c->p < c->end && *c->p == 'L') /* Python 2 long literal */
        c->p++;
    *out = v;
    return CK_OK;
}

/* "()", "(N,)" or "(N, M, ...)" with an optional trailing comma. */
static ck_status parse_shape(cursor *c, npy_header *h)
{
    if (!accept(c, '('))
        return corrupt("shape must be a tuple");
    h->rank = 0;
    if (accept(c, ')'))
        return CK_OK;
    for (;;) {
        if (h->rank == CK_MAX_RANK)
            return ck_error(CK_ERR_UNSUPPORTED,
                            ".npy arrays of more than %d dimensions are not supported",
                            CK_MAX_RANK);
        CK_TRY(parse_dim(c, &h->dims[h->rank++]));
        bool comma = accept(c, ',');
        if (accept(c, ')')) {
            /* "(3)" is the integer 3 in Python, not a tuple. */
            if (h->rank == 1 && !comma)
                return corrupt("shape must be a tuple");
            return CK_OK;
        }
        if (!comma)
            return corrupt("expected ',' or ')' in shape");
    }
}

static ck_status parse_entry(cursor *c, npy_header *h)
{
    char key[32];
    CK_TRY(parse_string(c, key, sizeof key));
    if (!accept(c, ':'))
        return corrupt("expected ':' after a key");
    unsigned bit = strcmp(key, "descr") == 0           ? KEY_DESCR
                   : strcmp(key, "fortran_order") == 0 ? KEY_FORTRAN
                   : strcmp(key, "shape") == 0         ? KEY_SHAPE
                                                       : 0;
    if (!bit)
        return ck_error(CK_ERR_FORMAT, "corrupt .npy header: unexpected key '%s'", key);
    if (h->seen & bit)
        return ck_error(CK_ERR_FORMAT, "corrupt .npy header: key '%s' appears twice", key);
    h->seen |= bit;
    if (bit == KEY_DESCR)
        return parse_descr(c, &h->dtype);
    if (bit == KEY_SHAPE)
        return parse_shape(c, h);
    if (accept_word(c, "True"))
        h->fortran_order = true;
    else if (accept_word(c, "False"))
        h->fortran_order = false;
    else
        return corrupt("fortran_order must be True or False");
    return CK_OK;
}

static ck_status parse_dict(const char *text, size_t len, npy_header *h)
{
    cursor c = {text, text + len};
    if (!accept(&c, '{'))
        return corrupt("expected '{'");
    while (!accept(&c, '}')) {
        CK_TRY(parse_entry(&c, h));
        if (!accept(&c, ',')) {
            if (!accept(&c, '}'))
                return corrupt("expected ',' or '}'");
            break;
        }
    }
    skip_space(&c);
    if (c.p != c.end)
        return corrupt("unexpected text after the dictionary");
    if (h->seen != KEY_ALL)
        return corrupt("'descr', 'fortran_order' and 'shape' are all required");
    if (h->fortran_order)
        return ck_error(
            CK_ERR_UNSUPPORTED,
            ".npy array is in Fortran order; save it in C order (np.ascontiguousarray)");
    return CK_OK;
}

/* Locates the header text: returns its offset and length. */
static ck_status split_prefix(const unsigned char *b, size_t len, size_t *start, size_t *hlen)
{
    if (len < 10 || memcmp(b, npy_magic, sizeof npy_magic) != 0)
        return ck_error(CK_ERR_FORMAT, "not a .npy file (bad magic)");
    if ((b[6] < 1 || b[6] > 3) || b[7] != 0)
        return ck_error(CK_ERR_UNSUPPORTED, ".npy format version %u.%u is not supported", b[6],
                        b[7]);
    if (b[6] == 1) {
        *start = 10;
        *hlen = (size_t)b[8] | (size_t)b[9] << 8;
    } else {
        if (len < 12)
            return ck_error(CK_ERR_FORMAT, "truncated .npy file (header length missing)");
        *start = 12;
        uint32_t n = (uint32_t)b[8] | (uint32_t)b[9] << 8 | (uint32_t)b[10] << 16 |
                     (uint32_t)b[11] << 24;
        if (n > CK_NPY_MAX_HEADER)
            return ck_error(CK_ERR_FORMAT, ".npy header of %lu bytes exceeds the %d-byte limit",
                            (unsigned long)n, CK_NPY_MAX_HEADER);
        *hlen = n;
    }
    if (*hlen > len - *start)
        return ck_error(CK_ERR_FORMAT, "truncated .npy file (header says %zu bytes, %zu present)",
                        *hlen, len - *start);
    return CK_OK;
}

/* IEEE binary16: every value is exact in float32. */
static float half_to_float(uint16_t h)
{
    int exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
    float sign = h >> 15 ? -1.0f : 1.0f;
    if (exponent == 0x1f)
        return mantissa ? NAN : sign * INFINITY;
    if (exponent == 0)
        return sign * ldexpf((float)mantissa, -24);
    return sign * ldexpf((float)(mantissa | 0x400), exponent - 25);
}

static float convert_value(const unsigned char *p, const npy_dtype *dt)
{
    uint64_t u = 0;
    for (int i = 0; i < dt->size; i++) {
        int shift = 8 * (dt->big_endian ? dt->size - 1 - i : i);
        u |= (uint64_t)p[i] << shift;
    }
    if (dt->kind == 'f') {
        if (dt->size == 2)
            return half_to_float((uint16_t)u);
        if (dt->size == 4) {
            uint32_t u32 = (uint32_t)u;
            float f;
            memcpy(&f, &u32, sizeof f);
            return f;
        }
        double d;
        memcpy(&d, &u, sizeof d);
        /* Out-of-range double -> float conversion is undefined in C. */
        if (isfinite(d) && fabs(d) > FLT_MAX)
            return d > 0 ? INFINITY : -INFINITY;
        return (float)d;
    }
    if (dt->kind == 'b')
        return u != 0;
    if (dt->kind == 'u')
        return (float)u;
    int bits = 8 * dt->size;
    if (bits < 64 && (u >> (bits - 1)) & 1)
        u |= ~UINT64_C(0) << bits; /* sign-extend */
    int64_t s;
    memcpy(&s, &u, sizeof s);
    return (float)s;
}

/* float32 in the host's byte order: the bytes are the values. */
static bool is_native_float(const npy_dtype *dt)
{
    return dt->kind == 'f' && dt->size == 4 && dt->big_endian == host_is_big_endian();
}

/* n values from src to dst, converted only when the dtype or byte order
 * requires it; float64 in the host's order (numpy's default dtype) takes
 * a loop without the byte assembly of convert_value. */
static void convert_block(const unsigned char *src, size_t n, const npy_dtype *dt, float *dst)
{
    if (is_native_float(dt)) {
        memcpy(dst, src, n * sizeof(float));
    } else if (dt->kind == 'f' && dt->size == 8 && dt->big_endian == host_is_big_endian()) {
        for (size_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, src + 8 * i, sizeof d);
            dst[i] = isfinite(d) && fabs(d) > FLT_MAX ? (d > 0 ? INFINITY : -INFINITY) : (float)d;
        }
    } else {
        for (size_t i = 0; i < n; i++)
            dst[i] = convert_value(src + i * (size_t)dt->size, dt);
    }
}

static ck_status data_size(const npy_header *h, size_t *count, size_t *bytes)
{
    size_t n = 1;
    for (int i = 0; i < h->rank; i++)
        if ((uint64_t)h->dims[i] > SIZE_MAX || !ck_size_mul(n, (size_t)h->dims[i], &n))
            return ck_error(CK_ERR_FORMAT, ".npy shape is too large");
    if (!ck_size_mul(n, (size_t)h->dtype.size, bytes))
        return ck_error(CK_ERR_FORMAT, ".npy shape is too large");
    *count = n;
    return CK_OK;
}

/* Header, data offset and sizes of a .npy image whose first `len` bytes
 * are in b; `total` is the file size the header implies. */
typedef struct npy_layout {
    npy_header h;
    size_t data_start, count, bytes;
} npy_layout;

static ck_status parse_layout(const unsigned char *b, size_t len, npy_layout *l)
{
    size_t start = 0, hlen = 0;
    CK_TRY(split_prefix(b, len, &start, &hlen));
    CK_TRY(parse_dict((const char *)b + start, hlen, &l->h));
    CK_TRY(data_size(&l->h, &l->count, &l->bytes));
    l->data_start = start + hlen;
    return CK_OK;
}

ck_status ck_npy_parse_layout(const void *buf, size_t len, ck_npy_layout *out)
{
    npy_layout l = {0};
    memset(out, 0, sizeof *out);
    CK_TRY(parse_layout(buf, len, &l));
    *out = (ck_npy_layout){.kind = l.h.dtype.kind,
                           .item_size = l.h.dtype.size,
                           .big_endian = l.h.dtype.big_endian,
                           .rank = l.h.rank,
                           .data_start = l.data_start,
                           .count = l.count,
                           .bytes = l.bytes};
    memcpy(out->dims, l.h.dims, sizeof out->dims);
    return CK_OK;
}

/* The data must be exactly as long as the shape says. */
static ck_status check_data_length(const npy_layout *l, size_t file_size)
{
    size_t have = file_size - l->data_start;
    if (have < l->bytes)
        return ck_error(CK_ERR_FORMAT,
                        "truncated .npy file: the shape needs %zu data bytes, %zu present",
                        l->bytes, have);
    if (have > l->bytes)
        return ck_error(CK_ERR_FORMAT, ".npy file has %zu bytes after the data", have - l->bytes);
    return CK_OK;
}

static ck_status refuse_strings(const npy_dtype *dt)
{
    if (dt->kind != 'U' && dt->kind != 'S')
        return CK_OK;
    return ck_error(CK_ERR_UNSUPPORTED, ".npy array holds strings (numpy dtype %s%d), not numbers",
                    dt->kind == 'U' ? "<U" : "|S", dt->size / (dt->kind == 'U' ? 4 : 1));
}

ck_status ck_npy_parse(const void *buf, size_t len, ck_tensor *out)
{
    if (!out)
        return ck_error(CK_ERR_ARGUMENT, "ck_npy_parse: NULL output");
    memset(out, 0, sizeof *out);
    if (!buf)
        return ck_error(CK_ERR_ARGUMENT, "ck_npy_parse: NULL buffer");
    const unsigned char *b = buf;
    npy_layout l = {0};
    CK_TRY(parse_layout(b, len, &l));
    CK_TRY(refuse_strings(&l.h.dtype));
    CK_TRY(check_data_length(&l, len));
    float *data = ck_alloc_bulk(l.count, sizeof(float));
    if (!data)
        return CK_ERR_MEMORY;
    convert_block(b + l.data_start, l.count, &l.h.dtype, data);
    out->rank = l.h.rank;
    memcpy(out->dims, l.h.dims, sizeof out->dims);
    out->data = data;
    return CK_OK;
}

/* Values per read when they need converting: a chunk's raw bytes are
 * still in cache when they are converted. */
#define CONVERT_CHUNK 8192

static ck_status read_failed(FILE *f, const char *path)
{
    return ck_error(CK_ERR_IO, "cannot read %s: %s", path,
                    ferror(f) ? strerror(errno) : "the file shrank while being read");
}

/* Values [from, from + count) of the data block: read straight into
 * `data` when the file holds float32 in the host's byte order (the read is
 * the only pass), else a chunk at a time and converted. */
static ck_status read_values(FILE *f, const char *path, const npy_layout *l, size_t from,
                             size_t count, float *data)
{
    size_t size = (size_t)l->h.dtype.size;
    if (fseek(f, (long)(l->data_start + from * size), SEEK_SET) != 0)
        return read_failed(f, path);
    if (is_native_float(&l->h.dtype))
        return fread(data, sizeof(float), count, f) == count ? CK_OK : read_failed(f, path);
    unsigned char *raw = ck_alloc(CONVERT_CHUNK, size);
    if (!raw)
        return CK_ERR_MEMORY;
    ck_status st = CK_OK;
    for (size_t i = 0; st == CK_OK && i < count; i += CONVERT_CHUNK) {
        size_t n = count - i < CONVERT_CHUNK ? count - i : CONVERT_CHUNK;
        if (fread(raw, size, n, f) == n)
            convert_block(raw, n, &l->h.dtype, data + i);
        else
            st = read_failed(f, path);
    }
    free(raw);
    return st;
}

/* The header, parsed from the first bytes, and the checks that the data
 * can be read: the file has exactly the size the header implies, and the
 * values are numbers. The data itself is never read whole into a byte
 * buffer (a 25 MB array would cost two copies and their faults). */
static ck_status read_layout(FILE *f, const char *path, size_t size, npy_layout *l)
{
    size_t prefix = size < 12 + CK_NPY_MAX_HEADER ? size : 12 + CK_NPY_MAX_HEADER;
    char *head = NULL;
    ck_status st = ck_file_read_range(f, path, 0, prefix, &head);
    if (st == CK_OK)
        st = parse_layout((const unsigned char *)head, prefix, l);
    free(head);
    if (st == CK_OK)
        st = check_data_length(l, size);
    return st == CK_OK ? refuse_strings(&l->h.dtype) : st;
}

static ck_status read_npy_file(FILE *f, const char *path, size_t size, ck_tensor *out)
{
    npy_layout l = {0};
    CK_TRY(read_layout(f, path, size, &l));
    float *data = ck_alloc_bulk(l.count, sizeof(float));
    if (!data)
        return CK_ERR_MEMORY;
    ck_status st = read_values(f, path, &l, 0, l.count, data);
    if (st != CK_OK) {
        free(data);
        return st;
    }
    out->rank = l.h.rank;
    memcpy(out->dims, l.h.dims, sizeof out->dims);
    out->data = data;
    return CK_OK;
}

/* Messages name the file, once. */
static ck_status naming(ck_status st, const char *path)
{
    if (st == CK_OK || st == CK_ERR_MEMORY || strstr(ck_last_error(), path))
        return st;
    char why[512];
    snprintf(why, sizeof why, "%s", ck_last_error());
    return ck_error(st, "%s: %s", path, why);
}

ck_status ck_npy_read(const char *path, ck_tensor *out)
{
    if (!path || !out)
        return ck_error(CK_ERR_ARGUMENT, "ck_npy_read: NULL argument");
    memset(out, 0, sizeof *out);
    FILE *f;
    size_t size = 0;
    ck_status st = ck_file_open_regular(path, &f, &size);
    if (st == CK_OK) {
        st = read_npy_file(f, path, size, out);
        fclose(f);
    }
    return naming(st, path);
}

struct ck_npy_reader {
    FILE *f;
    char *path;
    npy_layout l;
    size_t row_values; /* values per index of the first axis */
    float *rows;       /* the last rows read; grows, never shrinks */
    size_t cap;        /* floats */
};

void ck_npy_close(ck_npy_reader *reader)
{
    if (!reader)
        return;
    if (reader->f)
        fclose(reader->f);
    free(reader->path);
    free(reader->rows);
    free(reader);
}

static ck_status open_rows(const char *path, ck_npy_reader *r, ck_tensor *shape)
{
    size_t size = 0;
    if (!(r->path = ck_strdup(path)))
        return CK_ERR_MEMORY;
    CK_TRY(ck_file_open_regular(path, &r->f, &size));
    CK_TRY(read_layout(r->f, path, size, &r->l));
    if (r->l.h.rank < 1)
        return ck_error(CK_ERR_SHAPE, "the array is a single value (shape ()): it has no rows");
    /* With no rows the header's size check passes whatever the other
     * axes say; a row must still have a size. */
    r->row_values = 1;
    for (int i = 1; i < r->l.h.rank; i++)
        if (!ck_size_mul(r->row_values, (size_t)r->l.h.dims[i], &r->row_values) ||
            r->row_values > SIZE_MAX / sizeof(double))
            return ck_error(CK_ERR_FORMAT, ".npy shape is too large");
    shape->rank = r->l.h.rank;
    memcpy(shape->dims, r->l.h.dims, sizeof shape->dims);
    return CK_OK;
}

ck_status ck_npy_open(const char *path, ck_npy_reader **reader, ck_tensor *shape)
{
    if (!path || !reader || !shape)
        return ck_error(CK_ERR_ARGUMENT, "ck_npy_open: NULL argument");
    *reader = NULL;
    memset(shape, 0, sizeof *shape);
    ck_npy_reader *r = ck_alloc(1, sizeof *r);
    if (!r)
        return CK_ERR_MEMORY;
    ck_status st = open_rows(path, r, shape);
    if (st != CK_OK) {
        ck_npy_close(r);
        memset(shape, 0, sizeof *shape);
        return naming(st, path);
    }
    *reader = r;
    return CK_OK;
}

ck_status ck_npy_read_rows(ck_npy_reader *reader, int64_t first, int64_t count, const float **rows)
{
    if (!reader || !rows)
        return ck_error(CK_ERR_ARGUMENT, "ck_npy_read_rows: NULL argument");
    *rows = NULL;
    int64_t have = reader->l.h.dims[0];
    if (first < 0 || count < 0 || first > have || count > have - first)
        return ck_error(CK_ERR_ARGUMENT,
                        "ck_npy_read_rows: rows %lld to %lld are outside the %lld rows of %s",
                        (long long)first, (long long)first + (long long)count - 1, (long long)have,
                        reader->path);
    size_t from = (size_t)first * reader->row_values, n = (size_t)count * reader->row_values;
    /* A huge-page buffer, reused: each later batch costs a copy, not
     * fresh memory. */
    if (n > reader->cap) {
        free(reader->rows);
        reader->cap = 0;
        if (!(reader->rows = ck_alloc_bulk(n, sizeof(float))))
            return CK_ERR_MEMORY;
        reader->cap = n;
    }
    CK_TRY(naming(read_values(reader->f, reader->path, &reader->l, from, n, reader->rows),
                  reader->path));
    *rows = reader->rows;
    return CK_OK;
}

/* "(2, 3)", "(5,)" or "()" as Python prints a shape tuple. */
static void format_shape(const ck_tensor *t, char *buf, size_t cap)
{
    size_t used = (size_t)snprintf(buf, cap, "(");
    for (int i = 0; i < t->rank; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%lld", i ? ", " : "",
                                 (long long)t->dims[i]);
    snprintf(buf + used, cap - used, t->rank == 1 ? ",)" : ")");
}

static ck_status write_header(FILE *f, const ck_tensor *t)
{
    char shape[CK_MAX_RANK * 24 + 8], dict[256];
    format_shape(t, shape, sizeof shape);
    int n = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }",
                     shape);
    /* Pad with spaces and end with '\n' so the data starts on a 64-byte
     * boundary, as numpy does. */
    size_t total = 10 + (size_t)n + 1;
    size_t padded = (total + 63) / 64 * 64;
    size_t hlen = padded - 10;
    unsigned char prefix[10];
    memcpy(prefix, npy_magic, sizeof npy_magic);
    prefix[6] = 1;
    prefix[7] = 0;
    prefix[8] = (unsigned char)(hlen & 0xff);
    prefix[9] = (unsigned char)(hlen >> 8);
    bool ok = fwrite(prefix, 1, sizeof prefix, f) == sizeof prefix &&
              fwrite(dict, 1, (size_t)n, f) == (size_t)n;
    for (size_t i = (size_t)n; ok && i + 1 < hlen; i++)
        ok = fputc(' ', f) != EOF;
    ok = ok && fputc('\n', f) != EOF;
    return ok ? CK_OK : CK_ERR_IO;
}

static ck_status write_data(FILE *f, const float *data, size_t count)
{
    unsigned char chunk[4096];
    size_t per = sizeof chunk / 4;
    for (size_t i = 0; i < count; i += per) {
        size_t m = count - i < per ? count - i : per;
        for (size_t j = 0; j < m; j++) {
            uint32_t u;
            memcpy(&u, &data[i + j], sizeof u);
            for (int k = 0; k < 4; k++)
                chunk[4 * j + (size_t)k] = (unsigned char)(u >> (8 * k));
        }
        if (fwrite(chunk, 4, m, f) != m)
            return CK_ERR_IO;
    }
    return CK_OK;
}

static ck_status write_image(FILE *f, const ck_tensor *t, size_t count)
{
    ck_status st = write_header(f, t);
    return st == CK_OK ? write_data(f, t->data, count) : st;
}

/* The number of values of t, or an error (naming `caller`) when t cannot
 * be written. */
static ck_status count_values(const char *caller, const ck_tensor *t, size_t *count)
{
    if (t->rank < 0 || t->rank > CK_MAX_RANK)
        return ck_error(CK_ERR_ARGUMENT, "%s: rank %d is not between 0 and %d", caller, t->rank,
                        CK_MAX_RANK);
    *count = 1;
    for (int i = 0; i < t->rank; i++)
        if (t->dims[i] < 0 || !ck_size_mul(*count, (size_t)t->dims[i], count))
            return ck_error(CK_ERR_ARGUMENT, "%s: invalid dimension %lld", caller,
                            (long long)t->dims[i]);
    if (*count > 0 && !t->data)
        return ck_error(CK_ERR_ARGUMENT, "%s: NULL data", caller);
    return CK_OK;
}

typedef struct npy_job {
    const ck_tensor *t;
    size_t count;
} npy_job;

static ck_status write_npy_file(ck_io_sink *out, void *ctx)
{
    const npy_job *job = ctx;
    FILE *f = ck_io_sink_stream(out);
    if (!f)
        return CK_ERR_MEMORY;
    return ck_io_sink_close_stream(out, f, write_image(f, job->t, job->count));
}

ck_status ck_npy_write(const char *path, const ck_tensor *t)
{
    if (!path || !t)
        return ck_error(CK_ERR_ARGUMENT, "ck_npy_write: NULL argument");
    size_t count;
    CK_TRY(count_values("ck_npy_write", t, &count));
    return ck_io_atomic_file(path, write_npy_file, &(npy_job){t, count});
}

ck_status ck_npy_write_stream(FILE *stream, const ck_tensor *t)
{
    if (!stream || !t)
        return ck_error(CK_ERR_ARGUMENT, "ck_npy_write_stream: NULL argument");
    size_t count;
    CK_TRY(count_values("ck_npy_write_stream", t, &count));
    if (write_image(stream, t, count) != CK_OK || fflush(stream) != 0)
        return ck_error(CK_ERR_IO, "cannot write the .npy stream: %s", strerror(errno));
    return CK_OK;
}

void ck_npy_free(ck_tensor *t)
{
    if (!t)
        return;
    free(t->data);
    t->data = NULL;
}
