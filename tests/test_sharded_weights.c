/* Keras 3.10+ sharded weights (NAME.weights.json and its shards), as
 * tests/data/make_sharded_weights.py writes them the way Keras does, and
 * hostile indexes: each fails naming the file, leaving the weights alone. */
#include "ck_cli_test.h"
#include "ck_test.h"

#include "ck_internal.h"
#include "ck_io.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DATA "tests/data/sharded/"

/* Sequential([Input((5, 3)), LSTM(4, return_sequences=True), LSTM(3), Dense(2)]) */
static ck_model *lstm_model(void)
{
    ck_model *m = ck_sequential(.seed = 7, .semantics = CK_KERAS3);
    ck_assert_ok(ck_model_add(m, ck_input(5, 3)));
    ck_assert_ok(ck_model_add(m, ck_lstm(.units = 4, .return_sequences = true)));
    ck_assert_ok(ck_model_add(m, ck_lstm(.units = 3)));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 2)));
    ck_assert_ok(ck_model_build(m));
    return m;
}

static ck_model *reference(void)
{
    ck_model *ref = lstm_model();
    ck_assert_ok(ck_model_load_weights(ref, DATA "lstm.weights.h5"));
    return ref;
}

static bool same_params(const ck_model *a, const ck_model *b)
{
    return a->n_params == b->n_params &&
           memcmp(a->params, b->params, a->n_params * sizeof(float)) == 0;
}

static const ck_layer *layer_of_class(const ck_model *m, const char *cls)
{
    for (int i = 0; i < m->n_layers; i++)
        if (strcmp(m->layers[i]->ops->class_name, cls) == 0)
            return m->layers[i];
    ck_abort_msg("no %s layer", cls);
    return NULL;
}

START_TEST(keras_split_groups_load)
{
    ck_model *ref = reference(), *m = lstm_model();
    ck_assert(!same_params(ref, m));
    ck_assert_ok(ck_model_load_weights(m, DATA "lstm.weights.json"));
    ck_assert(same_params(ref, m));
    /* The generator's values: (i % 17 - 8) / 16 from offset 6 (kernel), 7 (bias). */
    const ck_layer *dense = layer_of_class(m, "Dense");
    ck_assert_float_eq(dense->weights[0].data[0], -0.125f);
    ck_assert_float_eq(dense->weights[0].data[5], 0.1875f);
    ck_assert_float_eq(dense->weights[1].data[0], -0.0625f);
    ck_model_free(m);
    ck_model_free(ref);
}
END_TEST

/* Keras 3.10 named only the first shard of a split group: Keras cannot
 * load it back (its layer finds too few variables), nor can ckeras. */
START_TEST(keras310_split_group_fails)
{
    ck_model *m = lstm_model(), *before = lstm_model();
    ck_assert_fails(ck_model_load_weights(m, DATA "k310.weights.json"), CK_ERR_SHAPE);
    ck_assert_ptr_nonnull(
        strstr(ck_last_error(), "expects 3 variables in 'layers/lstm/cell/vars'"));
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "the file has 1 in 'k310_00000.weights.h5'"));
    ck_assert(same_params(m, before));
    ck_model_free(before);
    ck_model_free(m);
}
END_TEST

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    ck_assert_ptr_nonnull(in);
    ck_assert_ptr_nonnull(out);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        ck_assert_uint_eq(fwrite(buf, 1, n, out), n);
    fclose(in);
    ck_assert_int_eq(fclose(out), 0);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(text, 1, strlen(text), f), strlen(text));
    ck_assert_int_eq(fclose(f), 0);
}

/* The Keras shards in the scratch directory, for indexes of the tests' own. */
static void copy_shards(void)
{
    for (int i = 0; i < 4; i++) {
        char from[64];
        snprintf(from, sizeof from, DATA "lstm_%05d.weights.h5", i);
        copy_file(from, ck_test_pathf("lstm_%05d.weights.h5", i));
    }
}

/* The generated index with dense's entry replaced. */
static const char *index_with_dense(const char *dense_entry)
{
    static char text[4096];
    snprintf(text, sizeof text,
             "{\"weight_map\": {\"/layers/lstm/cell/vars\": [\"lstm_00000.weights.h5\", "
             "\"lstm_00001.weights.h5\", \"lstm_00002.weights.h5\"], \"/layers/lstm_1/cell/vars\": "
             "[\"lstm_00002.weights.h5\", \"lstm_00003.weights.h5\"], %s}}",
             dense_entry);
    return text;
}

static void expect_refused(const char *index_text, ck_status code, const char *fragment)
{
    const char *path = ck_test_path("m.weights.json");
    write_text(path, index_text);
    ck_model *m = lstm_model(), *before = lstm_model();
    ck_assert_fails(ck_model_load_weights(m, path), code);
    ck_assert_msg(strstr(ck_last_error(), fragment), "'%s' lacks '%s'", ck_last_error(), fragment);
    ck_assert(same_params(m, before));
    ck_model_free(before);
    ck_model_free(m);
}

START_TEST(own_index_forms)
{
    copy_shards();
    ck_model *ref = reference(), *m = lstm_model();
    /* Keras also finds an entry under the object path, before the group's name. */
    const char *path = ck_test_path("m.weights.json");
    write_text(path, "{\"weight_map\": {\"layers/lstm/cell\": [\"lstm_00000.weights.h5\", "
                     "\"lstm_00001.weights.h5\", \"lstm_00002.weights.h5\"], "
                     "\"layers/lstm_1/cell\": [\"lstm_00002.weights.h5\", "
                     "\"lstm_00003.weights.h5\"], \"layers/dense\": \"lstm_00003.weights.h5\", "
                     "\"/layers/dense/vars\": \"lstm_00000.weights.h5\"}}");
    ck_assert_ok(ck_model_load_weights(m, path));
    ck_assert(same_params(ref, m));
    /* An index in the working directory names shards there. */
    char cwd[4096];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_model_free(m);
    m = lstm_model();
    ck_assert_int_eq(chdir(ck_test_path("")), 0);
    ck_status st = ck_model_load_weights(m, "m.weights.json");
    ck_assert_int_eq(chdir(cwd), 0);
    ck_assert_ok(st);
    ck_assert(same_params(ref, m));
    ck_model_free(m);
    ck_model_free(ref);
}
END_TEST

START_TEST(hostile_indexes)
{
    copy_shards();
    expect_refused("{\"weight_map\": ", CK_ERR_FORMAT, "m.weights.json' is not valid JSON");
    expect_refused("[]", CK_ERR_FORMAT, "m.weights.json' is not a JSON object");
    expect_refused("{\"metadata\": {}}", CK_ERR_FORMAT, "has no \"weight_map\" object");
    expect_refused("{\"weight_map\": []}", CK_ERR_FORMAT, "has no \"weight_map\" object");
    const char *wrong_type = "weight_map entry '/layers/dense/vars' is neither";
    expect_refused(index_with_dense("\"/layers/dense/vars\": 3"), CK_ERR_FORMAT, wrong_type);
    expect_refused(index_with_dense("\"/layers/dense/vars\": []"), CK_ERR_FORMAT, wrong_type);
    expect_refused(index_with_dense("\"/layers/dense/vars\": [\"lstm_00003.weights.h5\", 1]"),
                   CK_ERR_FORMAT, wrong_type);
    expect_refused(index_with_dense("\"/layers/dense/vars\": null"), CK_ERR_FORMAT, wrong_type);
    const char *paths[] = {"../sharded/lstm_00003.weights.h5", "/tmp/x.weights.h5",
                           "sub\\\\x.weights.h5", "./lstm_00003.weights.h5"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        char entry[256];
        snprintf(entry, sizeof entry, "\"/layers/dense/vars\": \"%s\"", paths[i]);
        expect_refused(index_with_dense(entry), CK_ERR_FORMAT, "is a path, not a file name");
    }
    expect_refused(index_with_dense("\"/layers/dense/vars\": \"lstm_00003.h5\""), CK_ERR_FORMAT,
                   "does not end in .weights.h5");
    expect_refused(index_with_dense("\"/layers/dense/vars\": \"x.weights.h5\\u0000/../../y\""),
                   CK_ERR_FORMAT, "escaped NUL");
    char long_name[400], entry[512];
    memset(long_name, 'a', 300);
    strcpy(long_name + 300, ".weights.h5");
    snprintf(entry, sizeof entry, "\"/layers/dense/vars\": \"%s\"", long_name);
    expect_refused(index_with_dense(entry), CK_ERR_FORMAT, "longer than 255 bytes");
    expect_refused(index_with_dense("\"/layers/dense/vars\": \"lstm_00009.weights.h5\""), CK_ERR_IO,
                   "(a shard named by '");
    expect_refused(index_with_dense("\"/layers/dense/vars\": \"lstm_00003.weights.h5\", "
                                    "\"/layers/dense/vars\": \"lstm_00003.weights.h5\""),
                   CK_ERR_FORMAT, "has the key '/layers/dense/vars' twice");
    expect_refused(index_with_dense("\"/layers/dense/bias\": \"lstm_00003.weights.h5\""),
                   CK_ERR_FORMAT, "names no shard for 'layers/dense/vars'");
    expect_refused(index_with_dense("\"/layers/dense/vars\": \"lstm_00000.weights.h5\""),
                   CK_ERR_FORMAT,
                   "group 'layers/dense/vars' is missing in 'lstm_00000.weights.h5'");
    write_text(ck_test_path("junk.weights.h5"), "not HDF5");
    expect_refused(index_with_dense("\"/layers/dense/vars\": \"junk.weights.h5\""), CK_ERR_FORMAT,
                   "is not an HDF5 file");
    ck_assert_int_eq(mkdir(ck_test_path("dir.weights.h5"), 0700), 0);
    expect_refused(index_with_dense("\"/layers/dense/vars\": \"dir.weights.h5\""), CK_ERR_IO,
                   "dir.weights.h5");
    /* Keras lists one shard per variable at most. */
    char many[4096] = "\"/layers/dense/vars\": [";
    for (int i = 0; i < 65; i++)
        strcat(many, i ? ", \"lstm_00003.weights.h5\"" : "\"lstm_00003.weights.h5\"");
    strcat(many, "]");
    expect_refused(index_with_dense(many), CK_ERR_FORMAT, "list of 1 to 64 of them");
    ck_model *m = lstm_model();
    ck_assert_fails(ck_model_load_weights(m, ck_test_path("none.weights.json")), CK_ERR_IO);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "none.weights.json"));
    ck_assert_fails(ck_model_load_weights(m, DATA "lstm.weights.json", .by_name = true),
                    CK_ERR_UNSUPPORTED);
    ck_model_free(m);
}
END_TEST

/* More shards than are kept open at once: each group in its own copy of
 * a whole .weights.h5 (a shard may hold other groups too). */
START_TEST(many_shards)
{
    enum { LAYERS = 70 };
    ck_model *ref = ck_sequential(.seed = 3, .semantics = CK_KERAS3);
    ck_assert_ok(ck_model_add(ref, ck_input(2)));
    for (int i = 0; i < LAYERS; i++)
        ck_assert_ok(ck_model_add(ref, ck_dense(.units = 2)));
    ck_assert_ok(ck_model_build(ref));
    ck_assert_ok(ck_model_save_weights(ref, ck_test_path("all.weights.h5")));
    static char text[LAYERS * 80 + 64];
    strcpy(text, "{\"weight_map\": {");
    for (int i = 0; i < LAYERS; i++) {
        ck_assert_int_eq(
            link(ck_test_path("all.weights.h5"), ck_test_pathf("many_%05d.weights.h5", i)), 0);
        /* Layers visit shards 0, 1, ..., and the last the first again. */
        char entry[80];
        snprintf(entry, sizeof entry, "%s\"/layers/dense%s%.0d/vars\": \"many_%05d.weights.h5\"",
                 i ? ", " : "", i ? "_" : "", i, i == LAYERS - 1 ? 0 : i);
        strcat(text, entry);
    }
    strcat(text, "}}");
    write_text(ck_test_path("many.weights.json"), text);
    ck_model *m = ck_sequential(.seed = 4, .semantics = CK_KERAS3);
    ck_assert_ok(ck_model_add(m, ck_input(2)));
    for (int i = 0; i < LAYERS; i++)
        ck_assert_ok(ck_model_add(m, ck_dense(.units = 2)));
    ck_assert_ok(ck_model_build(m));
    ck_assert(!same_params(ref, m));
    ck_assert_ok(ck_model_load_weights(m, ck_test_path("many.weights.json")));
    ck_assert(same_params(ref, m));
    ck_model_free(m);
    ck_model_free(ref);
}
END_TEST

/* The command line's --weights takes the index as the library does. */
START_TEST(cli_weights_index)
{
    ck_model *ref = reference(), *m = lstm_model();
    char *json = ck_model_to_json(m);
    write_text(ck_test_path("lstm.json"), json);
    ck_free(json);
    run_result r;
    run_cli(&r, "convert", "--config", ck_test_path("lstm.json"), "--weights",
            DATA "lstm.weights.json", "-o", ck_test_path("out.weights.h5"), NULL);
    assert_success(&r);
    run_free(&r);
    ck_assert_ok(ck_model_load_weights(m, ck_test_path("out.weights.h5")));
    ck_assert(same_params(ref, m));
    run_cli(&r, "convert", "--config", ck_test_path("lstm.json"), "--weights",
            DATA "k310.weights.json", "-o", ck_test_path("bad.weights.h5"), NULL);
    assert_error(&r, 1, "in 'k310_00000.weights.h5'");
    run_free(&r);
    run_cli(&r, "inspect", DATA "lstm.weights.json", NULL);
    assert_error(&r, 1, "index of Keras sharded weights");
    run_free(&r);
    ck_model_free(m);
    ck_model_free(ref);
}
END_TEST

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    char *buf = calloc(1 << 16, 1);
    ck_assert_uint_lt(fread(buf, 1, (1 << 16) - 1, f), (1 << 16) - 1);
    fclose(f);
    return buf;
}

/* Saving with Keras's max_shard_size splits where Keras does: the index
 * is the generator's byte for byte, and reads back. */
START_TEST(save_as_keras_does)
{
    ck_model *ref = reference(), *m = lstm_model();
    const char *path = ck_test_path("lstm.weights.json");
    ck_assert_ok(ck_model_save_weights(ref, path, .max_shard_size = 300.0 / (1 << 30)));
    char *ours = slurp(path), *keras = slurp(DATA "lstm.weights.json");
    ck_assert_str_eq(ours, keras);
    free(ours);
    free(keras);
    ck_assert_int_eq(access(ck_test_path("lstm_00003.weights.h5"), R_OK), 0);
    ck_assert_int_ne(access(ck_test_path("lstm_00004.weights.h5"), R_OK), 0);
    ck_assert_ok(ck_model_load_weights(m, path));
    ck_assert(same_params(ref, m));
    /* One shard when everything fits: each group's one entry. */
    ck_assert_ok(ck_model_save_weights(ref, ck_test_path("one.weights.json"), .max_shard_size = 1));
    char *one = slurp(ck_test_path("one.weights.json"));
    ck_assert_ptr_nonnull(
        strstr(one, "\"/layers/dense/vars\": [\n            \"one_00000.weights.h5\"\n        ]"));
    ck_assert_ptr_nonnull(strstr(one, "\"total_size\": 928.0\n"));
    free(one);
    ck_assert_int_ne(access(ck_test_path("one_00001.weights.h5"), R_OK), 0);
    ck_model_free(m);
    ck_model_free(ref);
}
END_TEST

/* A save that fails part way (a full disk) leaves the earlier save whole:
 * every shard and the index are written before any replaces its
 * predecessor. Replacing shard by shard left shards of the new weights
 * under the old index, which then loaded a mix of the two. */
START_TEST(failed_save_keeps_earlier_save)
{
    ck_model *ref = reference(), *other = lstm_model(), *back = lstm_model();
    const char *path = ck_test_path("kept.weights.json");
    double max = 300.0 / (1 << 30);
    ck_assert(!same_params(ref, other));
    ck_assert_ok(ck_model_save_weights(ref, path, .max_shard_size = max));
    ck_assert_int_eq(access(ck_test_path("kept_00003.weights.h5"), R_OK), 0);
    for (long fail = 2; fail <= 8; fail++) {
        ck_io_debug_fail_write_after(fail);
        ck_assert_fails(ck_model_save_weights(other, path, .max_shard_size = max), CK_ERR_IO);
        ck_io_debug_fail_write_after(0);
        ck_assert_int_eq(ck_test_count_temp_files(), 0);
        ck_assert_ok(ck_model_load_weights(back, path));
        ck_assert_msg(same_params(ref, back), "failure at write %ld mixed the saves", fail);
    }
    ck_assert_ok(ck_model_save_weights(other, path, .max_shard_size = max));
    ck_assert_ok(ck_model_load_weights(back, path));
    ck_assert(same_params(other, back));
    ck_model_free(back);
    ck_model_free(other);
    ck_model_free(ref);
}
END_TEST

START_TEST(save_refusals)
{
    ck_model *m = lstm_model();
    ck_assert_fails(ck_model_save_weights(m, ck_test_path("a.weights.json")), CK_ERR_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "max_shard_size"));
    ck_assert_fails(ck_model_save_weights(m, ck_test_path("a.weights.h5"), .max_shard_size = 1),
                    CK_ERR_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "weights.json"));
    /* The largest variable, lstm's recurrent kernel, takes 256 bytes. */
    ck_assert_fails(ck_model_save_weights(m, ck_test_path("a.weights.json"),
                                          .max_shard_size = 255.0 / (1 << 30)),
                    CK_ERR_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "layers/lstm/cell/vars/1' takes 256 bytes"));
    ck_assert_int_ne(access(ck_test_path("a.weights.json"), F_OK), 0);
    ck_assert_int_ne(access(ck_test_path("a_00000.weights.h5"), F_OK), 0);
    ck_model_free(m);
}
END_TEST

/* A model without weights: shard 0 exists anyway and the map is empty. */
START_TEST(save_weightless)
{
    ck_model *m = ck_sequential(.semantics = CK_KERAS3);
    ck_assert_ok(ck_model_add(m, ck_input(3)));
    ck_assert_ok(ck_model_add(m, ck_activation(.activation = "relu")));
    ck_assert_ok(ck_model_build(m));
    const char *path = ck_test_path("empty.weights.json");
    ck_assert_ok(ck_model_save_weights(m, path, .max_shard_size = 1));
    char *text = slurp(path);
    ck_assert_str_eq(text, "{\n    \"metadata\": {\n        \"total_size\": 0\n    },\n"
                           "    \"weight_map\": {}\n}");
    free(text);
    ck_assert_int_eq(access(ck_test_path("empty_00000.weights.h5"), R_OK), 0);
    ck_assert_ok(ck_model_load_weights(m, path));
    ck_model_free(m);
}
END_TEST

/* Keras visits a Bidirectional's attributes by name: backward_layer
 * first, so its variables fill the shards first. */
START_TEST(save_bidirectional_order)
{
    ck_model *m = ck_sequential(.seed = 5, .semantics = CK_KERAS3);
    ck_assert_ok(ck_model_add(m, ck_input(4, 3)));
    ck_assert_ok(ck_model_add(m, ck_bidirectional(ck_lstm(2))));
    ck_assert_ok(ck_model_build(m));
    /* Kernels take 96 bytes, recurrent kernels 64, biases 32. */
    const char *path = ck_test_path("bi.weights.json");
    ck_assert_ok(ck_model_save_weights(m, path, .max_shard_size = 192.0 / (1 << 30)));
    char *text = slurp(path);
    const char *back = strstr(text, "\"/layers/bidirectional/backward_layer/cell/vars\": [\n"
                                    "            \"bi_00000.weights.h5\"\n        ]");
    const char *fwd = strstr(text, "\"/layers/bidirectional/forward_layer/cell/vars\": [\n"
                                   "            \"bi_00001.weights.h5\"\n        ]");
    ck_assert_ptr_nonnull(back);
    ck_assert_ptr_nonnull(fwd);
    ck_assert(back < fwd);
    free(text);
    ck_model *copy = ck_sequential(.seed = 6, .semantics = CK_KERAS3);
    ck_assert_ok(ck_model_add(copy, ck_input(4, 3)));
    ck_assert_ok(ck_model_add(copy, ck_bidirectional(ck_lstm(2))));
    ck_assert_ok(ck_model_build(copy));
    ck_assert(!same_params(m, copy));
    ck_assert_ok(ck_model_load_weights(copy, path));
    ck_assert(same_params(m, copy));
    ck_model_free(copy);
    ck_model_free(m);
}
END_TEST

/* convert -o NAME.weights.json --max-shard-size GB writes what Keras
 * writes, and the architecture in NAME.json. */
START_TEST(cli_convert_sharded)
{
    ck_model *m = lstm_model();
    char *json = ck_model_to_json(m);
    write_text(ck_test_path("arch.json"), json);
    ck_free(json);
    ck_assert_int_eq(mkdir(ck_test_path("w"), 0700), 0);
    run_result r;
    run_cli(&r, "convert", "--config", ck_test_path("arch.json"), "--weights",
            DATA "lstm.weights.h5", "-o", ck_test_path("w/lstm.weights.json"), "--max-shard-size",
            "2.793967723846435546875e-07", NULL);
    assert_success(&r);
    run_free(&r);
    char *ours = slurp(ck_test_path("w/lstm.weights.json")),
         *keras = slurp(DATA "lstm.weights.json");
    ck_assert_str_eq(ours, keras);
    free(ours);
    free(keras);
    ck_model *back = NULL, *ref = reference();
    ck_assert_ok(ck_model_load(ck_test_path("w/lstm.json"), &back, .format = CK_FORMAT_JSON));
    ck_assert_ok(ck_model_load_weights(back, ck_test_path("w/lstm.weights.json")));
    ck_assert(same_params(ref, back));
    ck_model_free(back);
    ck_model_free(ref);
    run_cli(&r, "convert", "--config", ck_test_path("arch.json"), "-o",
            ck_test_path("x.weights.json"), NULL);
    assert_error(&r, 2, "need --max-shard-size");
    run_free(&r);
    run_cli(&r, "convert", "--config", ck_test_path("arch.json"), "-o", ck_test_path("x.h5"),
            "--max-shard-size", "1", NULL);
    assert_error(&r, 2, "--max-shard-size needs -o NAME.weights.json");
    run_free(&r);
    /* A shard may not replace an input. */
    copy_file(DATA "lstm.weights.h5", ck_test_path("w/lstm_00000.weights.h5"));
    run_cli(&r, "convert", "--config", ck_test_path("arch.json"), "--weights",
            ck_test_path("w/lstm_00000.weights.h5"), "-o", ck_test_path("w/lstm.weights.json"),
            "--max-shard-size", "1", NULL);
    assert_error(&r, 2, "would replace its shard");
    run_free(&r);
    ck_model_free(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("sharded_weights");
    TCase *tc = tcase_create("sharded");
    tcase_add_unchecked_fixture(tc, ck_test_scratch_fixture, ck_test_remove_dir);
    tcase_add_test(tc, keras_split_groups_load);
    tcase_add_test(tc, keras310_split_group_fails);
    tcase_add_test(tc, own_index_forms);
    tcase_add_test(tc, hostile_indexes);
    tcase_add_test(tc, many_shards);
    tcase_add_test(tc, cli_weights_index);
    tcase_add_test(tc, save_as_keras_does);
    tcase_add_test(tc, failed_save_keeps_earlier_save);
    tcase_add_test(tc, save_refusals);
    tcase_add_test(tc, save_weightless);
    tcase_add_test(tc, save_bidirectional_order);
    tcase_add_test(tc, cli_convert_sharded);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ck_test_run(suite());
}
