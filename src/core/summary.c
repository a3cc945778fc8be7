/* model.summary() in the text formats of the Keras releases, byte for byte
 * (keras/utils/layer_utils.py print_summary; keras/src/utils/summary_utils.py). */
#include "ck_internal.h"

#include <stdio.h>
#include <string.h>

#define K2_WIDTH 65
#define K3_WIDTH 76
static const int k2_positions[3] = {29, 55, 65};

/* 1234567 -> "1,234,567" (Python's "{:,}"). */
static void with_commas(size_t v, char *out, size_t len)
{
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%zu", v), o = 0;
    for (int i = 0; i < n && (size_t)o + 2 < len; i++) {
        if (i && (n - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
}

/* Keras's readable_memory_size: base 1024, two decimals. */
static void memory_text(double bytes, const char *byte_unit, char *out, size_t len)
{
    const char *units[] = {byte_unit, "KB", "MB", "GB", "TB", "PB"};
    double v = bytes;
    int u = 0;
    while (u < 5 && v / 1024.0 >= 1.0) {
        v /= 1024.0;
        u++;
    }
    snprintf(out, len, "%.2f %s", v, units[u]);
}

/* float32 weights */
static void memory_size(size_t params, const char *byte_unit, char *out, size_t len)
{
    memory_text((double)params * 4.0, byte_unit, out, len);
}

static void rule(FILE *out, char c, int n)
{
    for (int i = 0; i < n; i++)
        fputc(c, out);
    fputc('\n', out);
}

/* Keras <= 2.6 print_row: each cell cut at its column end, the last
 * character of a full cell replaced by a space. */
static void row_style_a(FILE *out, const char *fields[3])
{
    char line[K2_WIDTH + 1];
    int len = 0;
    for (int c = 0; c < 3; c++) {
        if (c > 0)
            line[len - 1] = ' ';
        for (const char *p = fields[c]; *p && len < k2_positions[c]; p++)
            line[len++] = *p;
        while (len < k2_positions[c])
            line[len++] = ' ';
    }
    line[len] = '\0';
    fprintf(out, "%s\n", line);
}

/* First index just past one of Keras's line-break markers, or 0. */
static size_t break_point(const char *s, size_t n)
{
    static const char *marks[] = {"),", "},", "],", "',"};
    size_t best = 0;
    for (int k = 0; k < 4; k++) {
        for (size_t i = 0; i + 1 < n; i++)
            if (s[i] == marks[k][0] && s[i + 1] == marks[k][1]) {
                if (!best || i + 2 < best)
                    best = i + 2;
                break;
            }
    }
    return best;
}

/* Keras 2.7+ print_row: cells wrap onto more lines, two spaces between
 * columns, one leading space. */
static void row_style_b(FILE *out, const char *fields[3])
{
    const char *left[3] = {fields[0], fields[1], fields[2]};
    while (*left[0] || *left[1] || *left[2]) {
        char line[256];
        int len = 0;
        for (int c = 0; c < 3; c++) {
            int start = c ? k2_positions[c - 1] : 0, end = k2_positions[c];
            int space = c != 2 ? 2 : 0;
            size_t cutoff = (size_t)(end - start - space), avail = strlen(left[c]);
            size_t fit = avail < cutoff ? avail : cutoff;
            size_t br = break_point(left[c], fit);
            if (br)
                fit = cutoff = br;
            if (c == 0)
                line[len++] = ' ';
            memcpy(line + len, left[c], fit);
            len += (int)fit;
            for (int s = 0; s < space; s++)
                line[len++] = ' ';
            left[c] += cutoff < avail ? cutoff : avail;
            while (len < end)
                line[len++] = ' ';
        }
        line[len] = '\0';
        fprintf(out, "%s\n", line);
    }
}

void ck_escape_controls(const char *name, char *out, size_t len)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p && n + 5 < len; p++) {
        if (*p == '\n' || *p == '\r' || *p == '\t')
            n += (size_t)snprintf(out + n, len - n, "\\%c",
                                  *p == '\n'   ? 'n'
                                  : *p == '\r' ? 'r'
                                               : 't');
        else if (*p < 0x20 || *p == 0x7f)
            n += (size_t)snprintf(out + n, len - n, "\\x%02x", *p);
        else
            out[n++] = (char)*p;
    }
    out[n] = '\0';
}

static void print_model_name(FILE *out, const ck_model *m)
{
    char safe[4 * CK_NAME_MAX];
    ck_escape_controls(m->name, safe, sizeof safe);
    fprintf(out, "Model: \"%s\"\n", safe);
}

static void layer_fields(const ck_layer *l, char *name, size_t nlen, char *shape, size_t slen,
                         char *params, size_t plen, bool commas)
{
    char safe[4 * CK_NAME_MAX];
    ck_escape_controls(l->name, safe, sizeof safe);
    snprintf(name, nlen, "%s (%s)", safe, l->ops->class_name);
    ck_shape_format(&l->out_shape, shape, slen);
    if (commas)
        with_commas(ck_layer_count_params(l), params, plen);
    else
        snprintf(params, plen, "%zu", ck_layer_count_params(l));
}

/* A Functional model's layer list starts with its InputLayer, whose output
 * shape tf.keras 2 prints as a list of one tuple (its node's output_shapes);
 * standalone Keras and Keras 3 unpack it to the tuple. */
static void input_fields(const ck_model *m, bool as_list, char *name, size_t nlen, char *shape,
                         size_t slen)
{
    char tuple[80], safe[4 * CK_NAME_MAX];
    ck_escape_controls(m->input->name, safe, sizeof safe);
    snprintf(name, nlen, "%s (InputLayer)", safe);
    ck_shape_format(&m->input->out_shape, tuple, sizeof tuple);
    snprintf(shape, slen, as_list ? "[%s]" : "%s", tuple);
}

/* The cells of row i (-1: a Functional model's InputLayer); Keras 3 puts
 * thousands separators in the counts. */
static void row_fields(const ck_model *m, int i, bool keras3, bool input_list, char *name,
                       size_t nlen, char *shape, size_t slen, char *params, size_t plen)
{
    if (i < 0) {
        input_fields(m, input_list, name, nlen, shape, slen);
        snprintf(params, plen, "0");
    } else {
        layer_fields(m->layers[i], name, nlen, shape, slen, params, plen, keras3);
    }
}

static void summary_keras2(ck_model *m, FILE *out, ck_summary_style style)
{
    /* Standalone Keras printed an InputLayer's shape as a tuple, and the
     * model's name from 2.2.5 on. */
    bool standalone = style == CK_SUMMARY_KERAS2_2 || style == CK_SUMMARY_KERAS2_3;
    bool style_a = style == CK_SUMMARY_KERAS2 || standalone;
    void (*row)(FILE *, const char **) = style_a ? row_style_a : row_style_b;
    const char *header[3] = {"Layer (type)", "Output Shape", "Param #"};
    if (style != CK_SUMMARY_KERAS2_2)
        print_model_name(out, m);
    rule(out, '_', K2_WIDTH);
    row(out, header);
    rule(out, '=', K2_WIDTH);
    for (int i = m->functional ? -1 : 0; i < m->n_layers; i++) {
        char name[4 * CK_NAME_MAX + 48], shape[96], params[32];
        row_fields(m, i, false, !standalone, name, sizeof name, shape, sizeof shape, params,
                   sizeof params);
        const char *fields[3] = {name, shape, params};
        row(out, fields);
        if (!style_a)
            fprintf(out, "%*s\n", K2_WIDTH, "");
        else if (i + 1 < m->n_layers)
            rule(out, '_', K2_WIDTH);
    }
    rule(out, '=', K2_WIDTH);
    size_t tr = ck_model_count_trainable_params(m), nt = ck_model_count_non_trainable_params(m);
    size_t counts[3] = {tr + nt, tr, nt};
    const char *labels[3] = {"Total params", "Trainable params", "Non-trainable params"};
    for (int k = 0; k < 3; k++) {
        char num[32], mem[32];
        if (style == CK_SUMMARY_KERAS2_13) {
            memory_size(counts[k], "Byte", mem, sizeof mem);
            fprintf(out, "%s: %zu (%s)\n", labels[k], counts[k], mem);
        } else {
            with_commas(counts[k], num, sizeof num);
            fprintf(out, "%s: %s\n", labels[k], num);
        }
    }
    rule(out, '_', K2_WIDTH);
}

/* Keras 3's rich table: its columns, the horizontal characters of each
 * (padding included) and which one is right-aligned. */
typedef struct k3_table {
    int n;
    int runs[4];
    int right; /* Param # */
} k3_table;

/* Python's round(): halves go to the even neighbour. */
static int round_half_even(int num, int den)
{
    int q = num / den, twice = 2 * (num % den);
    return twice > den || (twice == den && q % 2) ? q + 1 : q;
}

/* Keras asks rich for columns ending at positions * 76, each with one space
 * of padding either side; what does not fit beside the n + 1 borders rich
 * takes off the columns in turn (ratio_reduce with equal ratios). */
static k3_table k3_layout(const double *positions, int n)
{
    k3_table t = {.n = n, .right = 2};
    int want[4], prev = 0, total = 0;
    for (int c = 0; c < n; c++) {
        int end = (int)(positions[c] * K3_WIDTH);
        want[c] = end - prev + 2;
        total += want[c];
        prev = end;
    }
    int excess = total - (K3_WIDTH - (n + 1));
    for (int c = 0; c < n; c++) {
        int cut = excess > 0 ? round_half_even(excess, n - c) : 0;
        t.runs[c] = want[c] - cut;
        excess -= cut;
    }
    return t;
}

static void repeat(FILE *out, const char *s, int n)
{
    for (int i = 0; i < n; i++)
        fputs(s, out);
}

/* One horizontal border of the table. */
static void k3_border(FILE *out, const k3_table *t, const char *l, const char *h, const char *mid,
                      const char *r)
{
    fputs(l, out);
    for (int c = 0; c < t->n; c++) {
        repeat(out, h, t->runs[c]);
        fputs(c + 1 < t->n ? mid : r, out);
    }
    fputc('\n', out);
}

#define K3_MAX_LINES 16

/* One line of a cell: its text, and whether rich cut it with an ellipsis. */
typedef struct k3_line {
    const char *text;
    int len;
    bool cut;
} k3_line;

static void k3_emit(k3_line *lines, int *n, const char *from, const char *to, int width)
{
    while (to > from && to[-1] == ' ')
        to--;
    int len = (int)(to - from);
    if (*n < K3_MAX_LINES)
        lines[(*n)++] = (k3_line){from, len > width ? width - 1 : len, len > width};
}

/* One cell split as rich wraps table text (divide_line without folding):
 * greedily at spaces; a word longer than the column starts a line of its
 * own, which rich's default overflow cuts to the column with an ellipsis.
 * Returns the number of lines (>= 1). */
static int k3_wrap(const char *s, int width, k3_line lines[K3_MAX_LINES])
{
    int n = 0, offset = 0;
    const char *line = s, *p = s;
    while (*p) {
        const char *word = p;
        while (*p == ' ')
            p++;
        while (*p && *p != ' ')
            p++;
        int len = (int)(p - word);
        while (*p == ' ')
            p++;
        if (width - offset >= len) {
            offset += (int)(p - word);
            continue;
        }
        bool alone = len > width;
        if ((alone || offset) && word != s) {
            k3_emit(lines, &n, line, word, width);
            line = word;
        }
        if (alone || (offset && word != s))
            offset = (int)(p - word);
    }
    k3_emit(lines, &n, line, p, width);
    return n;
}

/* A table row; it grows to as many lines as its tallest cell. */
static void k3_row(FILE *out, const k3_table *t, const char *bar, const char *const *fields)
{
    k3_line lines[4][K3_MAX_LINES];
    int count[4], height = 0;
    for (int c = 0; c < t->n; c++) {
        count[c] = k3_wrap(fields[c], t->runs[c] - 2, lines[c]);
        height = count[c] > height ? count[c] : height;
    }
    for (int k = 0; k < height; k++) {
        fputs(bar, out);
        for (int c = 0; c < t->n; c++) {
            k3_line l = k < count[c] ? lines[c][k] : (k3_line){"", 0, false};
            int pad = t->runs[c] - 2 - l.len - l.cut;
            fprintf(out, " %*s%.*s%s%*s %s", c == t->right ? pad : 0, "", l.len, l.text,
                    l.cut ? "…" : "", c == t->right ? 0 : pad, "", bar);
        }
        fputc('\n', out);
    }
}

/* Cells of row i: a layer (-1: the InputLayer), or graph row i when the
 * model has them; Connected to (escaped into `connected`) only then. */
static void k3_fields(const ck_model *m, int i, char name[], size_t nlen, char shape[], size_t slen,
                      char params[], size_t plen, char connected[], size_t clen)
{
    const ck_graph_row *g = m->n_graph_rows ? &m->graph_rows[i] : NULL;
    int layer = g ? g->layer : i;
    if (g)
        ck_escape_controls(g->connected, connected, clen);
    if (layer == -2) {
        ck_escape_controls(g->op, name, nlen);
        snprintf(shape, slen, "%s", g->op_shape);
        snprintf(params, plen, "0");
        return;
    }
    row_fields(m, layer, true, false, name, nlen, shape, slen, params, plen);
}

/* Keras 3.0.5+ columns, 3.0.0-3.0.4 ones, and those of a model that is
 * not a chain of single-tensor calls to Keras (summary_utils.py). */
static const double k3_positions[3][4] = {
    {0.45, 0.80, 1.0}, {0.45, 0.84, 1.0}, {0.3, 0.56, 0.74, 1.0}};

static void k3_table_rows(ck_model *m, FILE *out, const k3_table *t)
{
    int first = m->n_graph_rows ? 0 : m->functional ? -1 : 0;
    int last = m->n_graph_rows ? m->n_graph_rows : m->n_layers;
    for (int i = first; i < last; i++) {
        char name[4 * CK_NAME_MAX + 48], shape[96], params[32];
        char connected[4 * sizeof m->graph_rows->connected];
        const char *fields[4] = {name, shape, params, connected};
        k3_fields(m, i, name, sizeof name, shape, sizeof shape, params, sizeof params, connected,
                  sizeof connected);
        k3_row(out, t, "│", fields);
        if (i + 1 < last)
            k3_border(out, t, "├", "─", "┼", "┤");
    }
}

/* Bytes of the weights that train (or not), as Keras 3 counts them from
 * their dtypes: 4 per float32, 8 per int64 (Normalization's count, int64
 * under the TensorFlow backend). */
static double weight_bytes(const ck_model *m, bool trainable)
{
    double bytes = 0;
    for (int i = 0; i < m->n_layers; i++)
        for (int k = 0; k < m->layers[i]->n_weights; k++) {
            const ck_weight *w = &m->layers[i]->weights[k];
            if (ck_weight_trains(m->layers[i], w) == trainable)
                bytes += (double)w->size * (w->int64 ? 8 : 4);
        }
    return bytes;
}

static void summary_keras3(ck_model *m, FILE *out, ck_summary_style style)
{
    k3_table t = m->n_graph_rows ? k3_layout(k3_positions[2], 4)
                                 : k3_layout(k3_positions[style == CK_SUMMARY_KERAS3_0], 3);
    const char *header[4] = {"Layer (type)", "Output Shape", "Param #", "Connected to"};
    print_model_name(out, m);
    k3_border(out, &t, "┏", "━", "┳", "┓");
    k3_row(out, &t, "┃", header);
    k3_border(out, &t, "┡", "━", "╇", "┩");
    k3_table_rows(m, out, &t);
    k3_border(out, &t, "└", "─", "┴", "┘");
    size_t tr = ck_model_count_trainable_params(m), nt = ck_model_count_non_trainable_params(m);
    size_t opt_bytes = 0;
    size_t opt = m->train ? m->train_hooks->optimizer_params(m->train, &opt_bytes) : 0;
    /* Keras 3 adds the built optimizer's variables to the total. */
    size_t counts[4] = {tr + nt + opt, tr, nt, opt};
    double tr_bytes = weight_bytes(m, true), nt_bytes = weight_bytes(m, false);
    double bytes[4] = {tr_bytes + nt_bytes + (double)opt_bytes, tr_bytes, nt_bytes,
                       (double)opt_bytes};
    const char *labels[4] = {"Total params", "Trainable params", "Non-trainable params",
                             "Optimizer params"};
    for (int k = 0; k < (opt ? 4 : 3); k++) {
        char num[32], mem[32];
        with_commas(counts[k], num, sizeof num);
        memory_text(bytes[k], "B", mem, sizeof mem);
        fprintf(out, " %s: %s (%s)\n", labels[k], num, mem);
    }
}

ck_status ck_model_summary(ck_model *m, FILE *out, ck_summary_style style)
{
    if (!m || !out)
        return ck_error(CK_ERR_ARGUMENT, "ck_model_summary: NULL argument");
    if (style < CK_SUMMARY_KERAS2 || style > CK_SUMMARY_KERAS2_3)
        return ck_error(CK_ERR_ARGUMENT, "ck_model_summary: unknown style %d", (int)style);
    CK_TRY(ck_model_build(m));
    CK_TRY(ck_model_enter(m, CK_ACCESS_READ, "ck_model_summary"));
    if (style == CK_SUMMARY_KERAS3 || style == CK_SUMMARY_KERAS3_0)
        summary_keras3(m, out, style);
    else
        summary_keras2(m, out, style);
    ck_model_leave(m);
    if (ferror(out))
        return ck_error(CK_ERR_IO, "ck_model_summary: write failed");
    return CK_OK;
}

ck_summary_style ck_model_summary_style(const ck_model *m)
{
    if (!m)
        return CK_SUMMARY_KERAS2;
    int major = 0, minor = 0, patch = 0;
    if (sscanf(m->keras_version, "%d.%d.%d", &major, &minor, &patch) < 2)
        return m->semantics == CK_KERAS3 ? CK_SUMMARY_KERAS3 : CK_SUMMARY_KERAS2;
    if (major >= 3)
        return major == 3 && minor == 0 && patch <= 4 ? CK_SUMMARY_KERAS3_0 : CK_SUMMARY_KERAS3;
    /* Standalone Keras ended at 2.3.1 (2.4 on is tf.keras); tf.keras 1.x wrote
     * "2.2.4-tf" and printed as tf.keras does. */
    bool standalone = major == 2 && !strstr(m->keras_version, "-tf");
    if (standalone && minor < 4)
        return minor < 2 || (minor == 2 && patch <= 4) ? CK_SUMMARY_KERAS2_2 : CK_SUMMARY_KERAS2_3;
    if (major < 2 || minor < 7)
        return CK_SUMMARY_KERAS2;
    return minor < 13 ? CK_SUMMARY_KERAS2_7 : CK_SUMMARY_KERAS2_13;
}
