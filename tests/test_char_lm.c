/* The character language model: the example's text pipeline (vocabulary,
 * sequential and random windows), the stateful LSTM it relies on, and a
 * tiny text memorised end to end. */
#include "ck_test.h"

#include <string.h>

/* The pipeline is part of the example, not of the library; compiling it in
 * here tests exactly the code the example runs. */
#include "../examples/char_lm/text.c"

START_TEST(test_vocab_letters)
{
    const char *text = "The Time-Machine!! 42\nA tee";
    lm_corpus c;
    ck_assert(lm_corpus_from_text(text, strlen(text), false, &c));
    /* "the time machine a tee": e x5, space x4, t x3, ... */
    ck_assert_uint_eq(c.n, strlen("the time machine a tee"));
    ck_assert_int_eq(c.vocab.size, 1 + 9);
    ck_assert_int_eq(c.vocab.chars[1], 'e');
    ck_assert_int_eq(c.vocab.chars[2], ' ');
    ck_assert_int_eq(c.vocab.chars[3], 't');
    ck_assert_int_eq(c.ids[0], 3);
    ck_assert_int_eq(c.ids[3], 2);
    ck_assert_int_eq(lm_vocab_id(&c.vocab, 'T', false), 3);
    ck_assert_int_eq(lm_vocab_id(&c.vocab, '-', false), 2);
    ck_assert_int_eq(lm_vocab_id(&c.vocab, 'z', false), 0);
    lm_corpus_free(&c);
}
END_TEST

START_TEST(test_vocab_all_chars)
{
    const char *text = "Aa\nAa!";
    lm_corpus c;
    ck_assert(lm_corpus_from_text(text, strlen(text), true, &c));
    ck_assert_uint_eq(c.n, 6);
    ck_assert_int_eq(c.vocab.size, 1 + 4);
    /* A and a twice each (ties by byte value), then '\n' and '!' */
    ck_assert_int_eq(c.vocab.chars[1], 'A');
    ck_assert_int_eq(c.vocab.chars[2], 'a');
    ck_assert_int_eq(c.vocab.chars[3], '\n');
    ck_assert_int_eq(c.vocab.chars[4], '!');
    ck_assert_int_eq(c.ids[2], 3);
    lm_corpus_free(&c);
}
END_TEST

START_TEST(test_time_machine_corpus)
{
    CK_SHARED_OR_SKIP(path, "data/timemachine.txt");
    lm_corpus c;
    char err[256];
    ck_assert_msg(lm_corpus_load(path, false, &c, err, sizeof err), "%s", err);
    /* d2l: len(corpus), len(vocab) == 173428, 28 */
    ck_assert_uint_eq(c.n, 173428);
    ck_assert_int_eq(c.vocab.size, 28);
    ck_assert_int_eq(c.vocab.chars[1], ' ');
    ck_assert_int_eq(c.vocab.chars[2], 'e');
    lm_corpus_free(&c);
    ck_assert(!lm_corpus_load("no/such/file.txt", false, &c, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "no/such/file.txt"));
}
END_TEST

/* A corpus whose ids are their own positions, so windows are easy to check. */
static lm_corpus counting_corpus(size_t n)
{
    lm_corpus c = {.n = n};
    c.ids = malloc(n * sizeof *c.ids);
    for (size_t i = 0; i < n; i++)
        c.ids[i] = (int)i;
    return c;
}

START_TEST(test_sequential_windows)
{
    enum { B = 4, T = 5, N = 203 };
    lm_corpus c = counting_corpus(N);
    lm_rng rng = {3};
    lm_epoch e;
    ck_assert(lm_epoch_make(&c, LM_SEQUENTIAL, B, T, &rng, &e));
    int offset = (int)e.x[0];
    ck_assert(offset >= 0 && offset < T);
    int row_len = (N - offset - 1) / B;
    ck_assert_int_eq(e.n_batches, row_len / T);
    for (int i = 0; i < e.n_batches; i++)
        for (int r = 0; r < B; r++)
            for (int t = 0; t < T; t++) {
                size_t at = ((size_t)i * B + (size_t)r) * T + (size_t)t;
                /* row r of batch i continues row r of batch i-1 */
                ck_assert_int_eq((int)e.x[at], offset + r * row_len + i * T + t);
                ck_assert_int_eq((int)e.y[at], (int)e.x[at] + 1);
            }
    lm_epoch_free(&e);
    lm_corpus_free(&c);
}
END_TEST

START_TEST(test_random_windows)
{
    enum { B = 3, T = 4, N = 150 };
    lm_corpus c = counting_corpus(N);
    lm_rng rng = {5};
    lm_epoch e;
    ck_assert(lm_epoch_make(&c, LM_RANDOM, B, T, &rng, &e));
    int offset = (int)e.x[0] % T, windows = (N - offset - 1) / T;
    ck_assert_int_eq(e.n_batches, windows / B);
    bool seen[N] = {false};
    bool in_order = true;
    for (int w = 0; w < e.n_batches * B; w++) {
        int start = (int)e.x[w * T];
        ck_assert_int_eq((start - offset) % T, 0);
        ck_assert(!seen[start]);
        seen[start] = true;
        in_order = in_order && start == offset + w * T;
        for (int t = 0; t < T; t++) {
            ck_assert_int_eq((int)e.x[w * T + t], start + t);
            ck_assert_int_eq((int)e.y[w * T + t], start + t + 1);
        }
    }
    ck_assert_msg(!in_order, "random windows came out in text order");
    lm_epoch_free(&e);
    lm_corpus_free(&c);
}
END_TEST

START_TEST(test_text_too_short)
{
    lm_corpus c = counting_corpus(20);
    lm_rng rng = {1};
    lm_epoch e;
    ck_assert(!lm_epoch_make(&c, LM_SEQUENTIAL, 8, 5, &rng, &e));
    ck_assert_int_eq(e.n_batches, 0);
    ck_assert(!lm_epoch_make(&c, LM_RANDOM, 2, 30, &rng, &e));
    ck_assert_int_eq(e.n_batches, 0);
    lm_corpus_free(&c);
}
END_TEST

/* ---- stateful LSTM ---- */
enum { SB = 2, ST = 6, SF = 3, SU = 4 };

static ck_model *stateful_model(void)
{
    ck_model *m = ck_sequential(.seed = 11);
    ck_assert_ok(ck_model_add(m, ck_input(CK_NONE, SF)));
    ck_assert_ok(ck_model_add(m, ck_lstm(SU, .return_sequences = true, .stateful = true)));
    ck_assert_ok(ck_model_build(m));
    return m;
}

/* Runs x[:, from:from+len] through the model; out receives (SB, len, SU). */
static ck_status run_part(ck_model *m, const float *x, int from, int len, float *out)
{
    float part[SB * ST * SF];
    for (int b = 0; b < SB; b++)
        memcpy(part + (size_t)b * len * SF, x + ((size_t)b * ST + (size_t)from) * SF,
               sizeof(float) * (size_t)len * SF);
    ck_tensor tx = {.rank = 3, .dims = {SB, len, SF}, .data = part};
    ck_tensor ty = {.rank = 1, .dims = {SB * ST * SU}, .data = out};
    return ck_model_predict_tensor(m, &tx, &ty);
}

static double max_diff_part(const float *whole, int from, int len, const float *part)
{
    double d = 0;
    for (int b = 0; b < SB; b++)
        for (int i = 0; i < len * SU; i++)
            d = fmax(d, fabs(whole[((size_t)b * ST + (size_t)from) * SU + (size_t)i] -
                             part[(size_t)b * len * SU + (size_t)i]));
    return d;
}

START_TEST(test_stateful_halves_equal_whole)
{
    ck_model *m = stateful_model();
    float x[SB * ST * SF], whole[SB * ST * SU], first[SB * ST * SU], second[SB * ST * SU],
        again[SB * ST * SU];
    for (int i = 0; i < SB * ST * SF; i++)
        x[i] = (float)sin(0.7 * i + 0.3);
    ck_assert_ok(run_part(m, x, 0, ST, whole));
    ck_assert_ok(ck_model_reset_states(m));
    ck_assert_ok(run_part(m, x, 0, ST / 2, first));
    ck_assert_ok(run_part(m, x, ST / 2, ST / 2, second));
    ck_assert_msg(max_diff_part(whole, 0, ST / 2, first) < 1e-6, "first half differs");
    ck_assert_msg(max_diff_part(whole, ST / 2, ST / 2, second) < 1e-6, "second half differs");
    /* Without a reset the state carries on, so the first half now differs... */
    ck_assert_ok(run_part(m, x, 0, ST / 2, again));
    ck_assert_msg(max_diff_part(whole, 0, ST / 2, again) > 1e-3, "state was not carried");
    /* ...and after a reset it starts from zeros again (up to rounding: a
     * product over fewer timesteps may use other kernels). */
    ck_assert_ok(ck_model_reset_states(m));
    ck_assert_ok(run_part(m, x, 0, ST / 2, again));
    ck_assert_msg(max_diff_part(whole, 0, ST / 2, again) < 1e-6, "reset did not zero the state");
    /* The second half from a zero state differs from the carried one. */
    ck_assert_ok(ck_model_reset_states(m));
    ck_assert_ok(run_part(m, x, ST / 2, ST / 2, again));
    ck_assert_msg(max_diff_part(whole, ST / 2, ST / 2, again) > 1e-3, "state made no difference");
    ck_model_free(m);
}
END_TEST

START_TEST(test_stateful_batch_change_needs_reset)
{
    ck_model *m = stateful_model();
    float x[SB * ST * SF] = {0}, y[SB * ST * SU];
    ck_assert_ok(run_part(m, x, 0, 2, y));
    ck_tensor one = {.rank = 3, .dims = {1, 2, SF}, .data = x};
    ck_tensor ty = {.rank = 1, .dims = {SB * ST * SU}, .data = y};
    ck_assert_fails(ck_model_predict_tensor(m, &one, &ty), CK_ERR_SHAPE);
    ck_assert_ok(ck_model_reset_states(m));
    ck_assert_ok(ck_model_predict_tensor(m, &one, &ty));
    ck_model_free(m);
}
END_TEST

/* ---- memorising a tiny text ---- */

/* Mean cross-entropy of one epoch of sequential windows. */
static ck_status train_epoch(ck_model *m, const lm_corpus *c, lm_rng *rng, double *mean_loss)
{
    lm_epoch e;
    ck_assert(lm_epoch_make(c, LM_SEQUENTIAL, 4, 12, rng, &e));
    ck_status st = ck_model_reset_states(m);
    double sum = 0;
    for (int i = 0; st == CK_OK && i < e.n_batches; i++) {
        size_t at = (size_t)i * 4 * 12;
        ck_tensor x = {.rank = 2, .dims = {4, 12}, .data = e.x + at};
        ck_tensor y = {.rank = 2, .dims = {4, 12}, .data = e.y + at};
        double loss = 0;
        st = ck_model_train_on_batch(m, &x, &y, &loss);
        sum += loss;
    }
    *mean_loss = sum / e.n_batches;
    lm_epoch_free(&e);
    return st;
}

START_TEST(test_memorise_tiny_text)
{
    char text[12 * 60 + 1] = "";
    for (int i = 0; i < 60; i++)
        strcat(text, "hello world ");
    lm_corpus c;
    ck_assert(lm_corpus_from_text(text, strlen(text), false, &c));
    ck_assert_int_eq(c.vocab.size, 9);
    ck_model *m = ck_sequential(.seed = 1);
    ck_assert_ok(ck_model_add(m, ck_input(CK_NONE)));
    ck_assert_ok(ck_model_add(m, ck_embedding(c.vocab.size, 8)));
    ck_assert_ok(ck_model_add(m, ck_lstm(32, .return_sequences = true, .stateful = true)));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = c.vocab.size)));
    ck_status st = ck_model_compile(
        m, .optimizer = ck_adam(.learning_rate = 0.01, .global_clipnorm = 1),
        .loss = "sparse_categorical_crossentropy", .from_logits = true);
    lm_rng rng = {2};
    double first = 0, loss = 0;
    if (st == CK_OK)
        st = train_epoch(m, &c, &rng, &first);
    if (st == CK_ERR_UNSUPPORTED) {
        ck_test_skip("training not available (%s)", ck_last_error());
        ck_model_free(m);
        lm_corpus_free(&c);
        return;
    }
    ck_assert_ok(st);
    /* Uniform guessing over 9 tokens is perplexity 9. */
    ck_assert_msg(exp(first) > 4, "first epoch perplexity %g", exp(first));
    for (int epoch = 0; epoch < 40; epoch++)
        ck_assert_ok(train_epoch(m, &c, &rng, &loss));
    ck_assert_msg(exp(loss) < 1.2, "perplexity after training %g", exp(loss));
    ck_model_free(m);
    lm_corpus_free(&c);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("char_lm");
    TCase *text = tcase_create("text");
    tcase_add_test(text, test_vocab_letters);
    tcase_add_test(text, test_vocab_all_chars);
    tcase_add_test(text, test_time_machine_corpus);
    tcase_add_test(text, test_sequential_windows);
    tcase_add_test(text, test_random_windows);
    tcase_add_test(text, test_text_too_short);
    suite_add_tcase(s, text);
    TCase *state = tcase_create("stateful");
    tcase_add_test(state, test_stateful_halves_equal_whole);
    tcase_add_test(state, test_stateful_batch_change_needs_reset);
    suite_add_tcase(s, state);
    TCase *train = tcase_create("train");
    tcase_set_timeout(train, 60);
    tcase_add_test(train, test_memorise_tiny_text);
    suite_add_tcase(s, train);
    return s;
}

int main(void)
{
    return ck_test_run(suite());
}
