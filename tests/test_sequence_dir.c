/* The tutorial's folder layout (src/io/sequence_dir.c):
 * DIR/<class>/<sequence>/<frame>.npy with float64 frames as numpy saves
 * them, class and sequence order, and broken trees. */
#include "ck_test.h"

#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[512];

static void make_root(void)
{
    ck_test_make_dir("ck_seqdir");
    snprintf(root, sizeof root, "%s", ck_test_path(""));
}

#define at ck_test_pathf

/* Frame t of sequence s of class c: values 100c + 10s + t + k/10. */
static void write_frame(int c, const char *cls, int s, int t, int n)
{
    double v[8];
    for (int k = 0; k < n; k++)
        v[k] = 100.0 * c + 10.0 * s + t + 0.1 * k;
    ck_test_write_npy_f64(at("%s/%d/%d.npy", cls, s, t), v, n);
}

/* classes[c] gets `seqs` sequences of `frames` frames of 3 values. */
static void write_tree(const char *const *classes, int n_classes, int seqs, int frames)
{
    for (int c = 0; c < n_classes; c++) {
        ck_assert_int_eq(mkdir(at("%s", classes[c]), 0700), 0);
        for (int s = 0; s < seqs; s++) {
            ck_assert_int_eq(mkdir(at("%s/%d", classes[c], s), 0700), 0);
            for (int t = 0; t < frames; t++)
                write_frame(c, classes[c], s, t, 3);
        }
    }
}

static const char *const actions[] = {"hello", "thanks", "iloveyou"};

START_TEST(test_tutorial_layout)
{
    make_root();
    write_tree(actions, 3, 12, 4);
    /* What a Mac or an editor leaves behind is skipped. */
    FILE *f = fopen(at("hello/.DS_Store"), "w");
    fclose(f);
    f = fopen(at("README.txt"), "w");
    fclose(f);
    f = fopen(at("thanks/3/notes.txt"), "w");
    fclose(f);

    ck_sequence_data d;
    ck_assert_ok(ck_sequence_dir_read(root, &d, .classes = actions, .n_classes = 3));
    ck_assert_int_eq(d.x.rank, 3);
    ck_assert_int_eq(d.x.dims[0], 36);
    ck_assert_int_eq(d.x.dims[1], 4);
    ck_assert_int_eq(d.x.dims[2], 3);
    ck_assert_int_eq(d.classes.n, 3);
    ck_assert_str_eq(d.classes.items[2], "iloveyou");
    /* Sequences in numeric order: 0, 1, ..., 9, 10, 11 (not 0, 1, 10, 11, 2). */
    for (int i = 0; i < 36; i++) {
        int c = i / 12, s = i % 12;
        ck_assert_int_eq(d.ids[i], c);
        for (int t = 0; t < 4; t++)
            for (int k = 0; k < 3; k++)
                ck_assert_float_eq(d.x.data[(i * 4 + t) * 3 + k],
                                   (float)(100.0 * c + 10.0 * s + t + 0.1 * k));
    }
    ck_sequence_data_free(&d);

    /* Without class names: the directories in sorted order. */
    ck_assert_ok(ck_sequence_dir_read(root, &d));
    ck_assert_int_eq(d.classes.n, 3);
    ck_assert_str_eq(d.classes.items[0], "hello");
    ck_assert_str_eq(d.classes.items[1], "iloveyou");
    ck_assert_str_eq(d.classes.items[2], "thanks");
    ck_assert_int_eq(d.ids[12], 1);
    ck_assert_float_eq(d.x.data[12 * 4 * 3], 200.0f); /* iloveyou was written as class 2 */
    ck_sequence_data_free(&d);

    /* frames = 2 reads the first two frames of each sequence. */
    const char *two[] = {"thanks", "hello"};
    ck_assert_ok(ck_sequence_dir_read(root, &d, .classes = two, .n_classes = 2, .frames = 2));
    ck_assert_int_eq(d.x.dims[0], 24);
    ck_assert_int_eq(d.x.dims[1], 2);
    ck_assert_int_eq(d.ids[0], 0);
    ck_assert_float_eq(d.x.data[0], 100.0f);
    ck_assert_float_eq(d.x.data[3], 101.0f);
    ck_sequence_data_free(&d);
    ck_test_remove_dir();
}
END_TEST

/* The tutorial keeps 30 frames a sequence: frame 10 comes after 9, not
 * after 1. */
START_TEST(test_thirty_frames)
{
    make_root();
    write_tree(actions, 3, 2, 30);
    ck_sequence_data d;
    ck_assert_ok(ck_sequence_dir_read(root, &d, .classes = actions, .n_classes = 3));
    ck_assert_int_eq(d.x.dims[0], 6);
    ck_assert_int_eq(d.x.dims[1], 30);
    for (int i = 0; i < 6; i++)
        for (int t = 0; t < 30; t++)
            ck_assert_float_eq(d.x.data[(i * 30 + t) * 3],
                               (float)(100.0 * (i / 2) + 10.0 * (i % 2) + t));
    ck_sequence_data_free(&d);
    /* 03.npy beside 3.npy: two candidates for one frame. */
    double v[3] = {0};
    ck_test_write_npy_f64(at("hello/1/03.npy"), v, 3);
    ck_assert_fails(ck_sequence_dir_read(root, &d, .classes = actions, .n_classes = 3),
                    CK_ERR_FORMAT);
    ck_assert_msg(strstr(ck_last_error(), "hello/1 has two files for frame 3: 03.npy and 3.npy"),
                  "%s", ck_last_error());
    ck_test_remove_dir();
}
END_TEST

/* Reads the tree and expects `code` with `needle` in the message. */
static void assert_tree_fails(ck_status code, const char *needle)
{
    ck_sequence_data d;
    ck_assert_fails(ck_sequence_dir_read(root, &d, .classes = actions, .n_classes = 3), code);
    ck_assert_msg(strstr(ck_last_error(), needle), "'%s' lacks '%s'", ck_last_error(), needle);
    ck_assert_ptr_null(d.x.data);
    ck_assert_ptr_null(d.ids);
}

START_TEST(test_broken_trees)
{
    make_root();
    write_tree(actions, 3, 3, 4);
    ck_assert_int_eq(unlink(at("thanks/1/2.npy")), 0);
    assert_tree_fails(CK_ERR_FORMAT, "thanks/1 has no frame 2.npy");
    write_frame(1, "thanks", 1, 2, 3);

    /* A ragged sequence: one frame more than the others. */
    write_frame(2, "iloveyou", 2, 4, 3);
    assert_tree_fails(CK_ERR_FORMAT, "iloveyou/2 has 5 frames, the sequences before it 4");
    ck_assert_int_eq(unlink(at("iloveyou/2/4.npy")), 0);
    /* With frames = 4 the extra frame is not read. */
    write_frame(2, "iloveyou", 2, 4, 3);
    ck_sequence_data d;
    ck_assert_ok(ck_sequence_dir_read(root, &d, .classes = actions, .n_classes = 3, .frames = 4));
    ck_sequence_data_free(&d);
    ck_assert_fails(ck_sequence_dir_read(root, &d, .classes = actions, .n_classes = 3, .frames = 5),
                    CK_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "has 4 frames, need 5"));
    ck_assert_int_eq(unlink(at("iloveyou/2/4.npy")), 0);

    write_frame(0, "hello", 2, 3, 5);
    assert_tree_fails(CK_ERR_SHAPE, "hello/2/3.npy has shape (5,), the first frame (3,)");
    write_frame(0, "hello", 2, 3, 3);

    FILE *f = fopen(at("thanks/0/last.npy"), "w");
    fclose(f);
    assert_tree_fails(CK_ERR_FORMAT, "thanks/0/last.npy is not a frame");
    unlink(at("thanks/0/last.npy"));

    f = fopen(at("thanks/0/1.npy"), "w");
    fputs("not numpy", f);
    fclose(f);
    assert_tree_fails(CK_ERR_FORMAT, "thanks/0/1.npy");
    write_frame(1, "thanks", 0, 1, 3);

    ck_assert_int_eq(mkdir(at("empty"), 0700), 0);
    const char *with_empty[] = {"hello", "empty"};
    ck_assert_fails(ck_sequence_dir_read(root, &d, .classes = with_empty, .n_classes = 2),
                    CK_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "empty has no sequence directories"));
    const char *missing[] = {"hello", "goodbye"};
    ck_assert_fails(ck_sequence_dir_read(root, &d, .classes = missing, .n_classes = 2), CK_ERR_IO);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "goodbye"));
    const char *escaping[] = {"hello", "../etc"}, *twice[] = {"hello", "hello"};
    ck_assert_fails(ck_sequence_dir_read(root, &d, .classes = escaping, .n_classes = 2),
                    CK_ERR_ARGUMENT);
    ck_assert_fails(ck_sequence_dir_read(root, &d, .classes = twice, .n_classes = 2),
                    CK_ERR_ARGUMENT);
    ck_assert_fails(ck_sequence_dir_read(at("nowhere"), &d), CK_ERR_IO);
    ck_assert_ok(ck_sequence_dir_read(root, &d, .classes = actions, .n_classes = 3));
    ck_assert_int_eq(d.x.dims[0], 9);
    ck_sequence_data_free(&d);
    ck_test_remove_dir();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("sequence_dir");
    TCase *tc = tcase_create("sequence_dir");
    tcase_add_test(tc, test_tutorial_layout);
    tcase_add_test(tc, test_broken_trees);
    tcase_add_test(tc, test_thirty_frames);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ck_test_run(suite());
}
