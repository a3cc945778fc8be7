/* Numbers in a text table (CSV, TSV, or columns separated by blanks), the
 * form sensor recordings and spreadsheet exports take: what np.loadtxt or
 * pd.read_csv give a Keras user, one sample per row. */
#include "ck_io.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Text larger than this is not a table anyone types or exports. */
#define MAX_TABLE_FILE ((size_t)1 << 32)

typedef struct table {
    const char *label;
    char sep;           /* ',', '\t' or ' ' (runs of blanks) */
    bool header, index; /* the first line names columns; column 0 is pandas's index */
    int64_t rows, cols;
} table;

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* One line without its end, its blanks at both ends or a comment line. */
static bool next_line(const char **p, const char *stop, const char **line, const char **end)
{
    while (*p < stop) {
        const char *nl = memchr(*p, '\n', (size_t)(stop - *p)), *e = nl ? nl : stop;
        const char *s = *p;
        *p = nl ? nl + 1 : stop;
        while (s < e && is_blank(*s))
            s++;
        while (e > s && is_blank(e[-1]))
            e--;
        if (s < e && *s != '#') {
            *line = s;
            *end = e;
            return true;
        }
    }
    return false;
}

/* The next field of a line (surrounding blanks and double quotes off);
 * false at the line's end, where *p becomes NULL. */
static bool next_field(const char **p, const char *end, char sep, const char **f, size_t *n)
{
    if (!*p)
        return false;
    const char *s = *p;
    if (sep == ' ')
        while (s < end && is_blank(*s))
            s++;
    if (sep == ' ' && s == end)
        return false;
    const char *e = s;
    while (e < end && (sep == ' ' ? !is_blank(*e) : *e != sep))
        e++;
    *p = e < end ? e + 1 : NULL;
    while (s < e && is_blank(*s))
        s++;
    const char *t = e;
    while (t > s && is_blank(t[-1]))
        t--;
    if (t - s >= 2 && *s == '"' && t[-1] == '"') {
        s++;
        t--;
    }
    *f = s;
    *n = (size_t)(t - s);
    return true;
}

/* A field as a number, the way strtod reads it (out of range: infinity
 * or zero), all of it used. */
static bool parse_number(const char *f, size_t n, double *v)
{
    char buf[128];
    if (n == 0 || n >= sizeof buf)
        return false;
    memcpy(buf, f, n);
    buf[n] = '\0';
    char *rest;
    *v = strtod(buf, &rest);
    return *rest == '\0';
}

/* Whether field f is k in plain digits, as pandas names a column. */
static bool is_count(const char *f, size_t n, int64_t k)
{
    char text[24];
    int len = snprintf(text, sizeof text, "%lld", (long long)k);
    return (size_t)len == n && memcmp(text, f, n) == 0;
}

/* Separator and header from the first line: a comma, else a tab, else
 * blanks. The line is a header when a field is not a number, or when it
 * counts 0, 1, 2, ... in plain digits over three columns or more: the
 * column names pandas gives a DataFrame made from an array
 * (pd.DataFrame(x).to_csv(..., index=False)), which would otherwise become
 * a sample. A first line whose first field alone is empty is pandas's
 * to_csv header with the index: the first column numbers the rows and is
 * not data. */
static void read_layout(const char *line, const char *end, table *t)
{
    t->sep = memchr(line, ',', (size_t)(end - line))    ? ','
             : memchr(line, '\t', (size_t)(end - line)) ? '\t'
                                                        : ' ';
    const char *p = line, *f;
    size_t n;
    double v;
    bool counts = true, names = false, empty = false;
    int64_t k = 0;
    for (; next_field(&p, end, t->sep, &f, &n); k++) {
        names = names || (n > 0 && !parse_number(f, n, &v));
        if (k == 0)
            t->index = n == 0 && t->sep != ' ';
        else
            empty = empty || n == 0;
        counts = counts && is_count(f, n, k);
    }
    t->index = t->index && !empty && k > 1;
    t->header = names || t->index || (counts && k >= 3);
}

static ck_status bad_field(const table *t, int64_t line, int64_t col, const char *f, size_t n)
{
    if (n == 0)
        return ck_error(CK_ERR_FORMAT, "%s: line %lld, column %lld is empty", t->label,
                        (long long)line, (long long)col);
    return ck_error(CK_ERR_FORMAT, "%s: line %lld, column %lld ('%.*s') is not a number", t->label,
                    (long long)line, (long long)col, (int)(n > 40 ? 40 : n), f);
}

/* The fields of a data line, pandas's index column left out. */
static int64_t count_fields(const table *t, const char *line, const char *end)
{
    const char *p = line, *f;
    size_t n;
    int64_t k = 0;
    while (next_field(&p, end, t->sep, &f, &n))
        k++;
    return t->index && k > 0 ? k - 1 : k;
}

/* Parses a data line of t->cols fields (counted before) into row. */
static ck_status read_row(const table *t, const char *line, const char *end, int64_t number,
                          float *row)
{
    const char *p = line, *f;
    size_t n;
    for (int64_t k = 0, c = 0; next_field(&p, end, t->sep, &f, &n); k++) {
        if (k == 0 && t->index)
            continue;
        double v;
        if (!parse_number(f, n, &v))
            return bad_field(t, number, k + 1, f, n);
        /* Past float's range the conversion is undefined in C; numpy and
         * pandas give infinity, which the model's input check reports. */
        row[c++] = isfinite(v) && fabs(v) > FLT_MAX ? (v > 0 ? INFINITY : -INFINITY) : (float)v;
    }
    return CK_OK;
}

/* Data lines in order with their line numbers in the file, as an editor
 * counts them. */
typedef struct cursor {
    const char *p, *stop, *seen;
    int64_t number;
} cursor;

static bool next_data_line(cursor *c, const char **line, const char **end)
{
    if (!next_line(&c->p, c->stop, line, end))
        return false;
    for (; c->seen < *line; c->seen++)
        c->number += *c->seen == '\n';
    return true;
}

/* Every row must have the first row's length, checked before the table's
 * memory is taken (a long first row over many short ones must not ask
 * for rows x columns). */
static ck_status measure(cursor c, table *t)
{
    const char *line, *end;
    for (; next_data_line(&c, &line, &end); t->rows++) {
        int64_t k = count_fields(t, line, end);
        if (t->rows == 0)
            t->cols = k;
        else if (k != t->cols)
            return ck_error(CK_ERR_SHAPE, "%s: line %lld has %lld numbers, the first row %lld",
                            t->label, (long long)c.number, (long long)k, (long long)t->cols);
    }
    if (t->rows == 0 || t->cols == 0)
        return ck_error(CK_ERR_FORMAT, "%s holds no rows of numbers", t->label);
    return CK_OK;
}

static ck_status read_table(const char *text, size_t len, table *t, ck_tensor *out)
{
    const char *stop = text + len, *p = text, *line, *end;
    if (!next_line(&p, stop, &line, &end))
        return ck_error(CK_ERR_FORMAT, "%s holds no numbers", t->label);
    read_layout(line, end, t);
    cursor start = {t->header ? p : line, stop, text, 1}, c = start;
    CK_TRY(measure(start, t));
    float *data = ck_alloc_bulk((size_t)t->rows * (size_t)t->cols, sizeof(float));
    if (!data)
        return ck_error(CK_ERR_MEMORY, "%s: out of memory for %lld x %lld numbers", t->label,
                        (long long)t->rows, (long long)t->cols);
    ck_status st = CK_OK;
    for (int64_t r = 0; st == CK_OK && next_data_line(&c, &line, &end); r++)
        st = read_row(t, line, end, c.number, data + r * t->cols);
    if (st != CK_OK) {
        ck_free(data);
        return st;
    }
    *out = (ck_tensor){.rank = 2, .dims = {t->rows, t->cols}, .data = data};
    return CK_OK;
}

ck_status ck_csv_parse(const char *text, size_t len, const char *label, ck_tensor *out)
{
    memset(out, 0, sizeof *out);
    table t = {.label = label};
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
        text += 3;
        len -= 3;
    }
    if (memchr(text, '\0', len))
        return ck_error(CK_ERR_FORMAT, "%s is not text (it holds a NUL byte)", label);
    return read_table(text, len, &t, out);
}

ck_status ck_csv_read(const char *path, ck_tensor *out)
{
    if (!path || !out)
        return ck_error(CK_ERR_ARGUMENT, "ck_csv_read: NULL argument");
    memset(out, 0, sizeof *out);
    char *buf = NULL, label[1024];
    size_t len = 0;
    CK_TRY(ck_read_file_limited(path, MAX_TABLE_FILE, &buf, &len));
    snprintf(label, sizeof label, "'%s'", path);
    ck_status st = ck_csv_parse(buf, len, label, out);
    free(buf);
    return st;
}

/* One sample (everything after the first axis) per line; %.9g gives back
 * every float32 exactly, as np.loadtxt reads it. */
static ck_status write_rows(ck_io_sink *out, void *ctx)
{
    const ck_tensor *t = ctx;
    FILE *f = ck_io_sink_stream(out);
    if (!f)
        return ck_error_status();
    size_t per = 1, rows = t->rank > 0 ? (size_t)t->dims[0] : 1;
    for (int i = 1; i < t->rank; i++)
        per *= (size_t)t->dims[i];
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < per; c++)
            fprintf(f, "%.9g%c", (double)t->data[r * per + c], c + 1 < per ? ',' : '\n');
    return ck_io_sink_close_stream(out, f, CK_OK);
}

ck_status ck_csv_write(const char *path, const ck_tensor *t)
{
    if (!path || !t || (!t->data && ck_tensor_size(t)))
        return ck_error(CK_ERR_ARGUMENT, "ck_csv_write: NULL argument");
    if (t->rank < 1 || t->rank > CK_MAX_RANK)
        return ck_error(CK_ERR_ARGUMENT, "ck_csv_write: rank %d (a table needs 1 to %d)", t->rank,
                        CK_MAX_RANK);
    return ck_io_atomic_file(path, write_rows, (void *)t);
}
