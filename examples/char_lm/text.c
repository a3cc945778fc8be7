#include "text.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Letters-only mode maps every non-letter to a space; runs of them collapse
 * into one (see lm_corpus_from_text). */
static unsigned char normalise(unsigned char ch, bool all_chars)
{
    if (all_chars)
        return ch;
    return isalpha(ch) ? (unsigned char)tolower(ch) : ' ';
}

int lm_vocab_id(const lm_vocab *v, unsigned char ch, bool all_chars)
{
    return v->ids[normalise(ch, all_chars)];
}

static void build_vocab(lm_vocab *v, const size_t counts[256])
{
    memset(v, 0, sizeof *v);
    v->size = 1;
    bool taken[256] = {false};
    for (;;) {
        int best = -1;
        for (int ch = 0; ch < 256; ch++)
            if (counts[ch] && !taken[ch] && (best < 0 || counts[ch] > counts[best]))
                best = ch;
        if (best < 0)
            break;
        taken[best] = true;
        v->chars[v->size] = (unsigned char)best;
        v->ids[best] = v->size++;
    }
}

bool lm_corpus_from_text(const char *text, size_t len, bool all_chars, lm_corpus *out)
{
    memset(out, 0, sizeof *out);
    unsigned char *norm = malloc(len ? len : 1);
    if (!norm)
        return false;
    size_t n = 0, counts[256] = {0};
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = normalise((unsigned char)text[i], all_chars);
        if (!all_chars && ch == ' ' && n > 0 && norm[n - 1] == ' ')
            continue;
        norm[n++] = ch;
        counts[ch]++;
    }
    build_vocab(&out->vocab, counts);
    out->ids = malloc((n ? n : 1) * sizeof *out->ids);
    if (!out->ids) {
        free(norm);
        return false;
    }
    for (size_t i = 0; i < n; i++)
        out->ids[i] = out->vocab.ids[norm[i]];
    out->n = n;
    free(norm);
    return true;
}

bool lm_corpus_load(const char *path, bool all_chars, lm_corpus *out, char *err, size_t err_len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_len, "cannot open %s: %s", path, strerror(errno));
        return false;
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    bool ok = true;
    for (;;) {
        if (len == cap) {
            size_t ncap = cap ? 2 * cap : (size_t)1 << 16;
            char *p = realloc(text, ncap);
            if (!p) {
                ok = false;
                break;
            }
            text = p;
            cap = ncap;
        }
        size_t got = fread(text + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    ok = ok && !ferror(f);
    fclose(f);
    if (!ok) {
        snprintf(err, err_len, "cannot read %s", path);
        free(text);
        return false;
    }
    ok = lm_corpus_from_text(text, len, all_chars, out);
    free(text);
    if (!ok)
        snprintf(err, err_len, "out of memory reading %s", path);
    return ok;
}

void lm_corpus_free(lm_corpus *c)
{
    free(c->ids);
    c->ids = NULL;
    c->n = 0;
}

uint64_t lm_rng_next(lm_rng *r)
{
    uint64_t z = (r->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t lm_rng_below(lm_rng *r, uint64_t n)
{
    return n ? lm_rng_next(r) % n : 0;
}

double lm_rng_uniform(lm_rng *r)
{
    return (double)(lm_rng_next(r) >> 11) * 0x1.0p-53;
}

/* Copies one window of `steps` inputs and their next-character targets. */
static void put_window(const lm_corpus *c, size_t start, int steps, float *x, float *y)
{
    for (int t = 0; t < steps; t++) {
        x[t] = (float)c->ids[start + (size_t)t];
        y[t] = (float)c->ids[start + (size_t)t + 1];
    }
}

static bool alloc_epoch(lm_epoch *e, int batch, int steps, int n_batches)
{
    size_t n = (size_t)n_batches * (size_t)batch * (size_t)steps;
    e->batch = batch;
    e->steps = steps;
    e->n_batches = n_batches;
    e->x = malloc(n * sizeof(float));
    e->y = malloc(n * sizeof(float));
    return e->x && e->y;
}

static bool make_sequential(const lm_corpus *c, size_t offset, int batch, int steps, lm_epoch *e)
{
    size_t row_len = (c->n - offset - 1) / (size_t)batch;
    if (!alloc_epoch(e, batch, steps, (int)(row_len / (size_t)steps)))
        return false;
    for (int i = 0; i < e->n_batches; i++)
        for (int r = 0; r < batch; r++) {
            size_t start = offset + (size_t)r * row_len + (size_t)i * (size_t)steps;
            size_t at = ((size_t)i * (size_t)batch + (size_t)r) * (size_t)steps;
            put_window(c, start, steps, e->x + at, e->y + at);
        }
    return true;
}

static bool make_random(const lm_corpus *c, size_t offset, int batch, int steps, lm_rng *rng,
                        lm_epoch *e)
{
    size_t n_windows = (c->n - offset - 1) / (size_t)steps;
    if (!alloc_epoch(e, batch, steps, (int)(n_windows / (size_t)batch)))
        return false;
    size_t *starts = malloc((n_windows ? n_windows : 1) * sizeof *starts);
    if (!starts)
        return false;
    for (size_t w = 0; w < n_windows; w++)
        starts[w] = offset + w * (size_t)steps;
    for (size_t w = n_windows; w > 1; w--) {
        size_t k = (size_t)lm_rng_below(rng, w), tmp = starts[w - 1];
        starts[w - 1] = starts[k];
        starts[k] = tmp;
    }
    for (size_t w = 0; w < (size_t)e->n_batches * (size_t)batch; w++)
        put_window(c, starts[w], steps, e->x + w * (size_t)steps, e->y + w * (size_t)steps);
    free(starts);
    return true;
}

bool lm_epoch_make(const lm_corpus *c, lm_sampling sampling, int batch, int steps, lm_rng *rng,
                   lm_epoch *out)
{
    memset(out, 0, sizeof *out);
    if (batch <= 0 || steps <= 0 || c->n < (size_t)steps + 1)
        return false;
    size_t offset = (size_t)lm_rng_below(rng, (uint64_t)steps);
    bool ok = sampling == LM_SEQUENTIAL ? make_sequential(c, offset, batch, steps, out)
                                        : make_random(c, offset, batch, steps, rng, out);
    if (!ok || out->n_batches == 0) {
        lm_epoch_free(out);
        return false;
    }
    return true;
}

void lm_epoch_free(lm_epoch *e)
{
    free(e->x);
    free(e->y);
    e->x = e->y = NULL;
}
