/* Character-level language model on H. G. Wells' "The Time Machine", the
 * classic recurrent-network exercise of the d2l textbook (chapter 9):
 *
 *   ids (batch, 35) -> one-hot or Embedding -> LSTM(256, return_sequences)
 *                   -> Dense(vocab) on every step -> softmax cross-entropy
 *
 * trained with SGD (learning rate 1) and gradient clipping to global norm 1,
 * printing perplexity and tokens/s per epoch, then generating text from a
 * prefix, greedily and with a temperature.
 *
 *   char_lm [--text FILE] [--epochs N] [--hidden N] [--lr X] [--seed N]
 *           [--sampling seq|random] [--input onehot|embedding] ...  (--help)
 */
#include "text.h"

#include <ckeras.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct options {
    const char *text, *optimizer, *prefix;
    int epochs, hidden, batch, steps, embed_dim, gen_len, sample_every;
    double lr, clip, temperature, time_limit;
    unsigned long long seed;
    lm_sampling sampling;
    bool all_chars, onehot;
} options;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: char_lm [options]\n"
            "  --text FILE          training text (default ../shared/data/timemachine.txt)\n"
            "  --epochs N           epochs (default 500, as the textbook)\n"
            "  --time-limit SEC     stop after the epoch that passes SEC seconds (default 600;\n"
            "                       0: no limit)\n"
            "  --hidden N           LSTM units (default 256)\n"
            "  --lr X               learning rate (default 1, as the textbook)\n"
            "  --optimizer NAME     sgd (default) or adam, rmsprop, adagrad\n"
            "  --clip X             global gradient-norm clip (default 1; 0 disables)\n"
            "  --seed N             seed of the weights and the sampling (default 42)\n"
            "  --sampling seq|random  window sampling (default seq)\n"
            "  --input onehot|embedding  input encoding (default onehot, as the textbook)\n"
            "  --embed-dim N        Embedding size (default 32)\n"
            "  --batch N, --steps N batch size and window length (default 32, 35)\n"
            "  --all-chars          keep every character (default: letters and space)\n"
            "  --prefix TEXT        generation prefix (default \"time traveller\")\n"
            "  --gen-len N          characters to generate (default 50)\n"
            "  --temperature X      temperature of the sampled generation (default 0.6)\n"
            "  --sample-every N     print a greedy sample every N epochs (default 10)\n");
}

/* Parses a number option; returns false on a malformed value. */
static bool parse_number(const char *flag, const char *s, double lo, double hi, double *out)
{
    char *end = NULL;
    double v = s ? strtod(s, &end) : NAN;
    if (!s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "char_lm: %s needs a number in [%g, %g], got '%s'\n", flag, lo, hi,
                s ? s : "");
        return false;
    }
    *out = v;
    return true;
}

static bool parse_int(const char *flag, const char *s, int lo, int hi, int *out)
{
    double v;
    if (!parse_number(flag, s, lo, hi, &v))
        return false;
    if (v != floor(v)) {
        fprintf(stderr, "char_lm: %s needs an integer, got '%s'\n", flag, s);
        return false;
    }
    *out = (int)v;
    return true;
}

static bool parse_choice(const char *flag, const char *s, const char *a, const char *b, bool *is_a)
{
    if (s && (strcmp(s, a) == 0 || strcmp(s, b) == 0)) {
        *is_a = strcmp(s, a) == 0;
        return true;
    }
    fprintf(stderr, "char_lm: %s must be %s or %s\n", flag, a, b);
    return false;
}

static bool parse_one(options *o, const char *flag, const char *val, bool *used_val)
{
    double d;
    bool is_a;
    *used_val = true;
    if (!strcmp(flag, "--text") && val)
        o->text = val;
    else if (!strcmp(flag, "--optimizer") && val)
        o->optimizer = val;
    else if (!strcmp(flag, "--prefix") && val && *val)
        o->prefix = val;
    else if (!strcmp(flag, "--epochs"))
        return parse_int(flag, val, 1, 1000000, &o->epochs);
    else if (!strcmp(flag, "--hidden"))
        return parse_int(flag, val, 1, 1 << 16, &o->hidden);
    else if (!strcmp(flag, "--batch"))
        return parse_int(flag, val, 1, 1 << 16, &o->batch);
    else if (!strcmp(flag, "--steps"))
        return parse_int(flag, val, 1, 1 << 16, &o->steps);
    else if (!strcmp(flag, "--embed-dim"))
        return parse_int(flag, val, 1, 1 << 16, &o->embed_dim);
    else if (!strcmp(flag, "--gen-len"))
        return parse_int(flag, val, 0, 1 << 20, &o->gen_len);
    else if (!strcmp(flag, "--sample-every"))
        return parse_int(flag, val, 0, 1 << 20, &o->sample_every);
    else if (!strcmp(flag, "--lr"))
        return parse_number(flag, val, 1e-9, 1e6, &o->lr);
    else if (!strcmp(flag, "--clip"))
        return parse_number(flag, val, 0, 1e9, &o->clip);
    else if (!strcmp(flag, "--temperature"))
        return parse_number(flag, val, 1e-3, 100, &o->temperature);
    else if (!strcmp(flag, "--time-limit"))
        return parse_number(flag, val, 0, 1e9, &o->time_limit);
    else if (!strcmp(flag, "--seed")) {
        if (!parse_number(flag, val, 0, 1e15, &d))
            return false;
        o->seed = (unsigned long long)d;
    } else if (!strcmp(flag, "--sampling")) {
        if (!parse_choice(flag, val, "seq", "random", &is_a))
            return false;
        o->sampling = is_a ? LM_SEQUENTIAL : LM_RANDOM;
    } else if (!strcmp(flag, "--input")) {
        if (!parse_choice(flag, val, "onehot", "embedding", &o->onehot))
            return false;
    } else {
        *used_val = false;
        if (!strcmp(flag, "--all-chars")) {
            o->all_chars = true;
            return true;
        }
        fprintf(stderr, "char_lm: unknown or incomplete option '%s'\n", flag);
        return false;
    }
    return true;
}

/* Returns 0 to go on, 1 for --help, -1 on a bad option. */
static int parse_args(int argc, char **argv, options *o)
{
    *o = (options){.text = "../shared/data/timemachine.txt",
                   .optimizer = "sgd",
                   .prefix = "time traveller",
                   .epochs = 500,
                   .hidden = 256,
                   .batch = 32,
                   .steps = 35,
                   .embed_dim = 32,
                   .gen_len = 50,
                   .sample_every = 10,
                   .lr = 1.0,
                   .clip = 1.0,
                   .temperature = 0.6,
                   .time_limit = 600,
                   .seed = 42,
                   .sampling = LM_SEQUENTIAL,
                   .onehot = true};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return 1;
        bool used_val;
        if (!parse_one(o, argv[i], i + 1 < argc ? argv[i + 1] : NULL, &used_val))
            return -1;
        i += used_val;
    }
    return 0;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static bool check(ck_status st, const char *what)
{
    if (st != CK_OK)
        fprintf(stderr, "char_lm: %s: %s: %s\n", what, ck_status_name(st), ck_last_error());
    return st == CK_OK;
}

/* The LSTM is always stateful: sequential sampling carries the state across
 * the batches of an epoch, random sampling resets it before every batch,
 * and generation feeds one character at a time on top of the carried state. */
static ck_model *build_model(const options *o, int vocab)
{
    ck_model *m = ck_sequential(.name = "char_lm", .seed = o->seed);
    if (!m) {
        fprintf(stderr, "char_lm: model: %s\n", ck_last_error());
        return NULL;
    }
    bool ok = o->onehot
                  ? check(ck_model_add(m, ck_input(CK_NONE, vocab)), "input")
                  : check(ck_model_add(m, ck_input(CK_NONE)), "input") &&
                        check(ck_model_add(m, ck_embedding(vocab, o->embed_dim)), "embedding");
    ok = ok &&
         check(ck_model_add(m, ck_lstm(o->hidden, .return_sequences = true, .stateful = true)),
               "lstm") &&
         check(ck_model_add(m, ck_dense(.units = vocab)), "dense") &&
         check(ck_model_compile(m,
                                .optimizer = {.name = o->optimizer,
                                              .learning_rate = o->lr,
                                              .global_clipnorm = o->clip},
                                .loss = "sparse_categorical_crossentropy", .from_logits = true),
               "compile");
    if (!ok) {
        ck_model_free(m);
        return NULL;
    }
    return m;
}

/* Model inputs for n ids: the ids themselves for an Embedding, or one-hot
 * rows of the vocabulary size. */
typedef struct encoder {
    bool onehot;
    int vocab;
    float *buf;
} encoder;

static ck_tensor encode(encoder *e, const float *ids, int batch, int steps)
{
    ck_tensor x = {.rank = 2, .dims = {batch, steps}, .data = (float *)ids};
    if (!e->onehot)
        return x;
    size_t n = (size_t)batch * (size_t)steps;
    memset(e->buf, 0, n * (size_t)e->vocab * sizeof(float));
    for (size_t i = 0; i < n; i++)
        e->buf[i * (size_t)e->vocab + (size_t)ids[i]] = 1.0f;
    x.rank = 3;
    x.dims[2] = e->vocab;
    x.data = e->buf;
    return x;
}

/* Trains one epoch; *ppl = exp(mean cross-entropy over its batches). */
static bool train_epoch(ck_model *m, const options *o, const lm_epoch *ep, encoder *enc,
                        double *ppl)
{
    size_t per_batch = (size_t)ep->batch * (size_t)ep->steps;
    double sum = 0;
    if (o->sampling == LM_SEQUENTIAL && !check(ck_model_reset_states(m), "reset_states"))
        return false;
    for (int b = 0; b < ep->n_batches; b++) {
        if (o->sampling == LM_RANDOM && !check(ck_model_reset_states(m), "reset_states"))
            return false;
        ck_tensor x = encode(enc, ep->x + (size_t)b * per_batch, ep->batch, ep->steps);
        ck_tensor y = {
            .rank = 2, .dims = {ep->batch, ep->steps}, .data = ep->y + (size_t)b * per_batch};
        double loss;
        if (!check(ck_model_train_on_batch(m, &x, &y, &loss), "train_on_batch"))
            return false;
        sum += loss;
    }
    *ppl = exp(sum / ep->n_batches);
    return true;
}

/* Greedy when temperature <= 0, else a draw from softmax(logits / temperature). */
static int pick(const float *logits, int vocab, double temperature, lm_rng *rng)
{
    int best = 1;
    for (int k = 1; k < vocab; k++)
        if (logits[k] > logits[best])
            best = k;
    if (temperature <= 0)
        return best;
    double total = 0, p[257];
    for (int k = 1; k < vocab; k++)
        total += p[k] = exp((logits[k] - logits[best]) / temperature);
    double u = lm_rng_uniform(rng) * total;
    for (int k = 1; k < vocab; k++)
        if ((u -= p[k]) < 0)
            return k;
    return best;
}

/* Feeds the prefix, then one character at a time on the carried state.
 * <unk> (id 0) is never generated. Writes a NUL-terminated string. */
static bool generate(ck_model *m, const options *o, const lm_vocab *v, encoder *enc,
                     double temperature, lm_rng *rng, char *out)
{
    size_t plen = strlen(o->prefix);
    if (plen == 0 || !check(ck_model_reset_states(m), "reset_states"))
        return false;
    float *ids = malloc(plen * sizeof(float)),
          *logits = malloc(plen * (size_t)v->size * sizeof(float));
    bool ok = ids && logits;
    if (!ok)
        fprintf(stderr, "char_lm: out of memory\n");
    for (size_t i = 0; ok && i < plen; i++) {
        ids[i] = (float)lm_vocab_id(v, (unsigned char)o->prefix[i], o->all_chars);
        out[i] = ids[i] ? (char)v->chars[(int)ids[i]] : '?';
    }
    int steps = (int)plen;
    for (int g = 0; ok && g <= o->gen_len; g++) {
        ck_tensor x = encode(enc, ids, 1, steps);
        ck_tensor y = {.rank = 1, .dims = {(int64_t)steps * v->size}, .data = logits};
        ok = check(ck_model_predict_tensor(m, &x, &y), "predict");
        if (!ok || g == o->gen_len)
            break;
        int next = pick(logits + (size_t)(steps - 1) * (size_t)v->size, v->size, temperature, rng);
        out[plen + (size_t)g] = (char)v->chars[next];
        ids[0] = (float)next;
        steps = 1;
    }
    out[ok ? plen + (size_t)o->gen_len : 0] = '\0';
    free(ids);
    free(logits);
    return ok;
}

static bool print_sample(ck_model *m, const options *o, const lm_vocab *v, encoder *enc,
                         double temperature, lm_rng *rng)
{
    char *text = malloc(strlen(o->prefix) + (size_t)o->gen_len + 1);
    bool ok = text && generate(m, o, v, enc, temperature, rng, text);
    if (ok && temperature > 0)
        printf("  sample (temperature %.2f): %s\n", temperature, text);
    else if (ok)
        printf("  sample (greedy): %s\n", text);
    free(text);
    return ok;
}

static bool train(ck_model *m, const options *o, const lm_corpus *c, encoder *enc)
{
    lm_rng rng = {o->seed};
    double start = now_seconds(), all_tokens = 0;
    int epoch = 1, below2 = 0;
    for (; epoch <= o->epochs; epoch++) {
        lm_epoch ep;
        if (!lm_epoch_make(c, o->sampling, o->batch, o->steps, &rng, &ep)) {
            fprintf(stderr, "char_lm: %s\n",
                    ep.n_batches ? "out of memory" : "the text is too short for one batch");
            return false;
        }
        double t0 = now_seconds(), ppl = 0;
        bool ok = train_epoch(m, o, &ep, enc, &ppl);
        double dt = now_seconds() - t0, tokens = (double)ep.n_batches * ep.batch * ep.steps;
        lm_epoch_free(&ep);
        if (!ok)
            return false;
        double elapsed = now_seconds() - start;
        all_tokens += tokens;
        if (!below2 && ppl < 2.0)
            below2 = epoch;
        printf("epoch %4d  perplexity %8.3f  %8.0f tokens/s  %7.1f s\n", epoch, ppl, tokens / dt,
               elapsed);
        bool last = epoch == o->epochs || (o->time_limit > 0 && elapsed >= o->time_limit);
        if ((last || (o->sample_every && epoch % o->sample_every == 0)) &&
            !print_sample(m, o, &c->vocab, enc, 0, &rng))
            return false;
        fflush(stdout);
        if (last)
            break;
    }
    double total = now_seconds() - start;
    printf("trained %d epochs in %.1f s, %.0f tokens/s; ", epoch > o->epochs ? o->epochs : epoch,
           total, all_tokens / total);
    if (below2)
        printf("perplexity below 2.0 from epoch %d\n", below2);
    else
        printf("perplexity not yet below 2.0\n");
    return print_sample(m, o, &c->vocab, enc, o->temperature, &rng);
}

int main(int argc, char **argv)
{
    options o;
    int pa = parse_args(argc, argv, &o);
    if (pa != 0) {
        usage(pa > 0 ? stdout : stderr);
        return pa > 0 ? 0 : 2;
    }
    lm_corpus corpus;
    char err[512];
    if (!lm_corpus_load(o.text, o.all_chars, &corpus, err, sizeof err)) {
        fprintf(stderr, "char_lm: %s\n", err);
        return 1;
    }
    printf("text %s: %zu tokens, vocabulary %d (with <unk>)\n", o.text, corpus.n,
           corpus.vocab.size);
    printf("hidden %d, batch %d, steps %d, %s sampling, %s input, %s lr %g, clip %g, seed %llu\n",
           o.hidden, o.batch, o.steps, o.sampling == LM_SEQUENTIAL ? "sequential" : "random",
           o.onehot ? "one-hot" : "embedding", o.optimizer, o.lr, o.clip, o.seed);
    /* The one-hot buffer serves a training batch and the generation prefix. */
    size_t rows = (size_t)o.batch * (size_t)o.steps, prefix_len = strlen(o.prefix);
    if (prefix_len > rows)
        rows = prefix_len;
    encoder enc = {.onehot = o.onehot, .vocab = corpus.vocab.size};
    if (o.onehot)
        enc.buf = malloc(rows * (size_t)enc.vocab * sizeof(float));
    ck_model *m = build_model(&o, corpus.vocab.size);
    bool ok = m && (!o.onehot || enc.buf) &&
              check(ck_model_summary(m, stdout, CK_SUMMARY_KERAS2), "summary") &&
              train(m, &o, &corpus, &enc);
    ck_model_free(m);
    free(enc.buf);
    lm_corpus_free(&corpus);
    return ok ? 0 : 1;
}
