/* .npz archives, .npy streams and string labels (src/io/npz.c,
 * npy_stream.c, strings.c): files numpy wrote (tests/data, made by
 * tests/data/make_numpy_files.py), round trips, and hostile archives,
 * streams and label files. */
#include "ck_test.h"

#include "ck_io.h"

#include <string.h>
#include <unistd.h>
#include <zip.h>

#define DATA "tests/data/"

/* x = arange(12).reshape(3, 4) / 8, ids = [2, 0, 1], labels = [thanks, hello, iloveyou] */
static void assert_numpy_arrays(const char *path)
{
    ck_tensor t;
    ck_assert_ok(ck_npz_read(path, "x", &t));
    ck_assert_int_eq(t.rank, 2);
    ck_assert_int_eq(t.dims[0], 3);
    ck_assert_int_eq(t.dims[1], 4);
    for (int i = 0; i < 12; i++)
        ck_assert_float_eq(t.data[i], (float)i / 8.0f);
    ck_free(t.data);
    ck_assert_ok(ck_npz_read(path, "ids", &t));
    ck_assert_int_eq(t.rank, 1);
    ck_assert_float_eq(t.data[0], 2.0f);
    ck_assert_float_eq(t.data[1], 0.0f);
    ck_assert_float_eq(t.data[2], 1.0f);
    ck_free(t.data);
    ck_strings s;
    ck_assert_ok(ck_strings_read(path, "labels", &s));
    ck_assert_int_eq(s.n, 3);
    ck_assert_str_eq(s.items[0], "thanks");
    ck_assert_str_eq(s.items[1], "hello");
    ck_assert_str_eq(s.items[2], "iloveyou");
    ck_strings_free(&s);
}

START_TEST(test_numpy_savez_stored_and_deflated)
{
    assert_numpy_arrays(DATA "arrays.npz");
    assert_numpy_arrays(DATA "arrays_compressed.npz");
    ck_strings names;
    ck_assert_ok(ck_npz_names(DATA "arrays_compressed.npz", &names));
    ck_assert_int_eq(names.n, 3);
    ck_assert_str_eq(names.items[0], "x");
    ck_assert_str_eq(names.items[1], "ids");
    ck_assert_str_eq(names.items[2], "labels");
    ck_strings_free(&names);
}
END_TEST

START_TEST(test_npz_member_choice)
{
    ck_tensor t;
    /* The only array of an archive needs no name. */
    ck_assert_ok(ck_npz_read(DATA "single.npz", NULL, &t));
    ck_assert_int_eq(t.rank, 1);
    ck_assert_float_eq(t.data[1], -2.0f);
    ck_free(t.data);
    ck_assert_ok(ck_npz_read(DATA "single.npz", "arr_0", &t));
    ck_free(t.data);
    ck_assert_fails(ck_npz_read(DATA "arrays.npz", NULL, &t), CK_ERR_NAME);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "holds 3 arrays"));
    ck_assert_fails(ck_npz_read(DATA "arrays.npz", "y", &t), CK_ERR_NAME);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "has no array y (arrays: x, ids, labels)"));
    ck_assert_ptr_null(t.data);
    /* Numbers are not strings, and strings are not numbers. */
    ck_assert_fails(ck_npz_read(DATA "arrays.npz", "labels", &t), CK_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "holds strings"));
    ck_strings s;
    ck_assert_fails(ck_strings_read(DATA "arrays.npz", "x", &s), CK_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "holds numbers"));
    ck_assert_fails(ck_npz_read("/nonexistent/a.npz", "x", &t), CK_ERR_IO);
    ck_assert_fails(ck_npz_read(DATA "labels_str.npy", "x", &t), CK_ERR_FORMAT);
}
END_TEST

/* Opens path with libzip and returns member i's compression method. */
static int member_method(const char *path, const char *name)
{
    zip_t *za = zip_open(path, ZIP_RDONLY, NULL);
    ck_assert_ptr_nonnull(za);
    zip_stat_t st;
    ck_assert_int_eq(zip_stat(za, name, 0, &st), 0);
    zip_discard(za);
    return st.comp_method;
}

START_TEST(test_npz_write_round_trip)
{
    float a[6] = {1, 2, 3, 4, 5, 6}, b[1] = {-0.5f};
    const ck_tensor ta = {2, {2, 3}, a}, tb = {0, {0}, b};
    const ck_npz_entry entries[] = {{"x", &ta}, {"scale", &tb}};
    for (int compressed = 0; compressed <= 1; compressed++) {
        const char *path = ck_test_path(compressed ? "c.npz" : "s.npz");
        ck_assert_ok(ck_npz_write(path, entries, 2, compressed));
        /* numpy's layout: NAME.npy members, stored or deflated. */
        ck_assert_int_eq(member_method(path, "x.npy"), compressed ? ZIP_CM_DEFLATE : ZIP_CM_STORE);
        ck_assert_int_eq(member_method(path, "scale.npy"),
                         compressed ? ZIP_CM_DEFLATE : ZIP_CM_STORE);
        ck_tensor t;
        ck_assert_ok(ck_npz_read(path, "x", &t));
        ck_assert_int_eq(t.rank, 2);
        ck_assert_int_eq(memcmp(t.data, a, sizeof a), 0);
        ck_free(t.data);
        ck_assert_ok(ck_npz_read(path, "scale", &t));
        ck_assert_int_eq(t.rank, 0);
        ck_assert_float_eq(t.data[0], -0.5f);
        ck_free(t.data);
    }
    ck_assert_int_eq(ck_test_count_temp_files(), 0);
    const ck_npz_entry twice[] = {{"x", &ta}, {"x", &tb}};
    ck_assert_fails(ck_npz_write(ck_test_path("d.npz"), twice, 2, false), CK_ERR_ARGUMENT);
    const ck_npz_entry unnamed[] = {{"", &ta}};
    ck_assert_fails(ck_npz_write(ck_test_path("d.npz"), unnamed, 1, false), CK_ERR_ARGUMENT);
    ck_assert_fails(ck_npz_write(ck_test_path("d.npz"), entries, 0, false), CK_ERR_ARGUMENT);
    const ck_tensor bad = {1, {-3}, a};
    const ck_npz_entry bad_entry[] = {{"x", &bad}};
    ck_assert_fails(ck_npz_write(ck_test_path("d.npz"), bad_entry, 1, true), CK_ERR_ARGUMENT);
    ck_assert_int_eq(access(ck_test_path("d.npz"), F_OK), -1);
    ck_assert_int_eq(ck_test_count_temp_files(), 0);
}
END_TEST

/* ------------------------------------------------------------ hostile archives */

static unsigned char *slurp(const char *path, size_t *len)
{
    char *buf;
    ck_assert_ok(ck_read_file(path, &buf, len));
    return (unsigned char *)buf;
}

static void spit(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Offsets of the local header and central directory entry of the first
 * member (archives written by ck_npz_write without zip64 fields). */
static void first_member_headers(const unsigned char *z, size_t len, size_t *local, size_t *central)
{
    *local = 0;
    ck_assert_int_eq(memcmp(z, "PK\x03\x04", 4), 0);
    *central = 0;
    for (size_t i = 0; i + 4 <= len; i++)
        if (memcmp(z + i, "PK\x01\x02", 4) == 0) {
            *central = i;
            break;
        }
    ck_assert_int_gt(*central, 0);
}

/* A deflated member whose declared size its compressed bytes cannot
 * produce is refused before anything that large is allocated. */
START_TEST(test_npz_member_bomb)
{
    float zeros[4096] = {0};
    const ck_tensor t = {1, {4096}, zeros};
    const ck_npz_entry e[] = {{"x", &t}};
    const char *path = ck_test_path("bomb.npz");
    ck_assert_ok(ck_npz_write(path, e, 1, true));
    size_t len, local, central;
    unsigned char *z = slurp(path, &len);
    first_member_headers(z, len, &local, &central);
    put32(z + local + 22, 0x7FFFFFFFu);   /* uncompressed size */
    put32(z + central + 24, 0x7FFFFFFFu); /* the same in the central directory */
    spit(path, z, len);
    ck_tensor r;
    ck_assert_fails(ck_npz_read(path, "x", &r), CK_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "compressed bytes"));
    ck_assert_ptr_null(r.data);
    free(z);
}
END_TEST

/* Sizes that lie within what deflate allows, a damaged CRC, a second
 * member under the same name and a cut archive all fail cleanly. */
START_TEST(test_npz_corrupt_archives)
{
    float v[64];
    for (int i = 0; i < 64; i++)
        v[i] = (float)i;
    const ck_tensor t = {1, {64}, v};
    const ck_npz_entry e[] = {{"x", &t}, {"y", &t}};
    const char *path = ck_test_path("bad.npz");
    ck_tensor r;
    size_t len, local, central;

    /* Declared 16 bytes larger than the member inflates to. */
    ck_assert_ok(ck_npz_write(path, e, 2, true));
    unsigned char *z = slurp(path, &len);
    first_member_headers(z, len, &local, &central);
    uint32_t size = (uint32_t)z[local + 22] | (uint32_t)z[local + 23] << 8;
    put32(z + local + 22, size + 16);
    put32(z + central + 24, size + 16);
    spit(path, z, len);
    ck_assert_fails(ck_npz_read(path, "x", &r), CK_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "does not have the"));
    ck_assert_ptr_null(r.data);
    free(z);

    /* A flipped data byte of a stored member: the CRC no longer matches. */
    ck_assert_ok(ck_npz_write(path, e, 2, false));
    z = slurp(path, &len);
    first_member_headers(z, len, &local, &central);
    size_t data = local + 30 + ((size_t)z[local + 26] | (size_t)z[local + 27] << 8) +
                  ((size_t)z[local + 28] | (size_t)z[local + 29] << 8);
    z[data + 200] ^= 0x40;
    spit(path, z, len);
    ck_assert_fails(ck_npz_read(path, "x", &r), CK_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "CRC"));
    ck_assert_ptr_null(r.data);

    /* Two members called x.npy: which one is meant depends on the reader. */
    z[data + 200] ^= 0x40;
    for (size_t i = 0; i + 5 <= len; i++)
        if (memcmp(z + i, "y.npy", 5) == 0)
            z[i] = 'x';
    spit(path, z, len);
    ck_assert_fails(ck_npz_read(path, "x", &r), CK_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "ambiguous archive"));
    ck_assert_ptr_null(r.data);

    /* Every cut of the archive fails without a crash. */
    for (size_t cut = 0; cut < len; cut += 7) {
        spit(path, z, cut);
        ck_assert_int_ne(ck_npz_read(path, "x", &r), CK_OK);
        ck_assert_ptr_null(r.data);
    }
    free(z);
}
END_TEST

/* ------------------------------------------------------------ streams */

START_TEST(test_stream_of_arrays)
{
    float a[6] = {1, 2, 3, 4, 5, 6}, b[2] = {7, 8};
    const ck_tensor ta = {2, {2, 3}, a}, tb = {1, {2}, b};
    FILE *f = tmpfile();
    ck_assert_ok(ck_npy_write_stream(f, &ta));
    ck_assert_ok(ck_npy_write_stream(f, &tb));
    rewind(f);
    ck_tensor t;
    bool end;
    ck_assert_ok(ck_npy_read_stream(f, &t, &end));
    ck_assert(!end);
    ck_assert_int_eq(t.rank, 2);
    ck_assert_int_eq(memcmp(t.data, a, sizeof a), 0);
    ck_free(t.data);
    ck_assert_ok(ck_npy_read_stream(f, &t, &end));
    ck_assert(!end);
    ck_assert_int_eq(t.dims[0], 2);
    ck_assert_float_eq(t.data[1], 8.0f);
    ck_free(t.data);
    ck_assert_ok(ck_npy_read_stream(f, &t, &end));
    ck_assert(end);
    ck_assert_ptr_null(t.data);
    fclose(f);

    /* numpy's own files (float64, strings) are streams of one array. */
    f = fopen(DATA "labels_str.npy", "rb");
    ck_assert_ptr_nonnull(f);
    ck_assert_fails(ck_npy_read_stream(f, &t, &end), CK_ERR_UNSUPPORTED);
    fclose(f);
}
END_TEST

static FILE *stream_of(const void *bytes, size_t len)
{
    FILE *f = tmpfile();
    ck_assert_int_eq(fwrite(bytes, 1, len, f), len);
    rewind(f);
    return f;
}

/* A header that claims terabytes, followed by a few bytes, ends with a
 * truncation error; memory follows what arrived. Garbage and every cut of
 * a valid stream fail cleanly. */
START_TEST(test_hostile_streams)
{
    char img[128];
    int h = snprintf(img + 10, sizeof img - 10,
                     "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000,), }");
    memcpy(img, "\x93NUMPY\x01\x00", 8);
    img[8] = (char)h;
    img[9] = 0;
    memcpy(img + 10 + h, "abcdefgh", 8);
    FILE *f = stream_of(img, (size_t)(10 + h + 8));
    ck_tensor t;
    bool end;
    ck_assert_fails(ck_npy_read_stream(f, &t, &end), CK_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "truncated"));
    fclose(f);

    f = stream_of("hello, not numpy at all", 23);
    ck_assert_fails(ck_npy_read_stream(f, &t, &end), CK_ERR_FORMAT);
    fclose(f);

    float v[3] = {1, 2, 3};
    const ck_tensor tv = {1, {3}, v};
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    ck_assert_ok(ck_npy_write_stream(m, &tv));
    fclose(m);
    for (size_t cut = 1; cut < len; cut++) {
        f = stream_of(buf, cut);
        ck_assert_int_ne(ck_npy_read_stream(f, &t, &end), CK_OK);
        ck_assert_ptr_null(t.data);
        fclose(f);
    }
    free(buf);
}
END_TEST

/* ------------------------------------------------------------ string labels */

START_TEST(test_label_files_numpy)
{
    const char *files[] = {DATA "labels_str.npy", DATA "labels_bytes.npy",
                           DATA "labels_big_endian.npy"};
    for (size_t i = 0; i < 3; i++) {
        ck_strings s;
        ck_assert_ok(ck_strings_read(files[i], NULL, &s));
        ck_assert_int_eq(s.n, 3);
        ck_assert_str_eq(s.items[0], "thanks");
        ck_assert_str_eq(s.items[2], "iloveyou");
        ck_strings_free(&s);
    }
    ck_strings s;
    ck_assert_ok(ck_strings_read(DATA "labels_unicode.npy", NULL, &s));
    ck_assert_str_eq(s.items[0], "caf\xc3\xa9");
    ck_assert_str_eq(s.items[1], "\xe6\x97\xa5\xe6\x9c\xac");
    ck_assert_str_eq(s.items[2], "\xf0\x9f\x91\x8b");
    ck_strings_free(&s);
}
END_TEST

static ck_status read_text(const char *text, size_t len, ck_strings *s)
{
    const char *path = ck_test_path("labels.txt");
    spit(path, text, len);
    return ck_strings_read(path, NULL, s);
}

START_TEST(test_label_files_text)
{
    ck_strings s;
    const char crlf[] = "\xEF\xBB\xBFhello\r\n  thanks \r\niloveyou\r\n\r\n\n";
    ck_assert_ok(read_text(crlf, sizeof crlf - 1, &s));
    ck_assert_int_eq(s.n, 3);
    ck_assert_str_eq(s.items[0], "hello");
    ck_assert_str_eq(s.items[1], "thanks");
    ck_assert_str_eq(s.items[2], "iloveyou");
    ck_strings_free(&s);
    ck_assert_ok(read_text("a\nb", 3, &s));
    ck_assert_int_eq(s.n, 2);
    ck_assert_str_eq(s.items[1], "b");
    ck_strings_free(&s);
    ck_assert_ok(read_text("", 0, &s));
    ck_assert_int_eq(s.n, 0);
    ck_strings_free(&s);

    ck_assert_fails(read_text("a\n\nb\n", 5, &s), CK_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "line 2 is empty"));
    ck_assert_ptr_null(s.items);
    ck_assert_fails(read_text("a\nb\0c\n", 6, &s), CK_ERR_FORMAT);
    ck_assert_fails(read_text("a\n\xC0\xAF\n", 4, &s), CK_ERR_FORMAT); /* overlong '/' */
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "not UTF-8 text (byte 2)"));
    ck_assert_fails(read_text("\xED\xA0\x80\n", 4, &s), CK_ERR_FORMAT); /* a surrogate */
    ck_assert_fails(ck_strings_read("/nonexistent/labels.txt", NULL, &s), CK_ERR_IO);
}
END_TEST

/* A .npy with string dtype dict `descr` over `data`. */
static ck_status read_string_npy(const char *descr, const char *shape, const void *data, size_t n,
                                 ck_strings *s)
{
    char img[256];
    int h = snprintf(img + 10, sizeof img - 10,
                     "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape);
    memcpy(img, "\x93NUMPY\x01\x00", 8);
    img[8] = (char)h;
    img[9] = 0;
    memcpy(img + 10 + h, data, n);
    const char *path = ck_test_path("labels.npy");
    spit(path, img, (size_t)(10 + h) + n);
    return ck_strings_read(path, NULL, s);
}

START_TEST(test_label_files_hostile)
{
    ck_strings s;
    const uint32_t surrogate[2] = {0xD800, 'a'}, too_big[1] = {0x110000},
                   inner_nul[3] = {'a', 0, 'b'};
    ck_assert_fails(read_string_npy("<U2", "(1,)", surrogate, 8, &s), CK_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "string 0 is not valid text"));
    ck_assert_fails(read_string_npy("<U1", "(1,)", too_big, 4, &s), CK_ERR_FORMAT);
    ck_assert_fails(read_string_npy("<U3", "(1,)", inner_nul, 12, &s), CK_ERR_FORMAT);
    ck_assert_fails(read_string_npy("|S2", "(1,)", "\xFF\x01", 2, &s), CK_ERR_FORMAT);
    ck_assert_fails(read_string_npy("|S3", "(1,)", "a\0b", 3, &s), CK_ERR_FORMAT);
    /* Sizes: truncated data, an element past the limit, a bad byte order. */
    ck_assert_fails(read_string_npy("<U4", "(2,)", "abcd", 4, &s), CK_ERR_FORMAT);
    ck_assert_fails(read_string_npy("<U99999999", "(1,)", "", 0, &s), CK_ERR_UNSUPPORTED);
    ck_assert_fails(read_string_npy("|U2", "(1,)", "abcdefgh", 8, &s), CK_ERR_UNSUPPORTED);
    ck_assert_fails(read_string_npy("<S2", "(1,)", "ab", 2, &s), CK_ERR_UNSUPPORTED);
    ck_assert_fails(read_string_npy("<U0", "(1,)", "", 0, &s), CK_ERR_UNSUPPORTED);
    ck_assert_ptr_null(s.items);
    /* Trailing NUL padding is dropped, as numpy does; any shape is read in C order. */
    const uint32_t padded[4] = {'o', 'k', 0, 0};
    ck_assert_ok(read_string_npy("<U2", "(1, 2)", padded, 16, &s));
    ck_assert_int_eq(s.n, 2);
    ck_assert_str_eq(s.items[0], "ok");
    ck_assert_str_eq(s.items[1], "");
    ck_strings_free(&s);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("npz");
    TCase *tc = tcase_create("npz");
    tcase_add_checked_fixture(tc, ck_test_scratch_fixture, ck_test_remove_dir);
    tcase_add_test(tc, test_numpy_savez_stored_and_deflated);
    tcase_add_test(tc, test_npz_member_choice);
    tcase_add_test(tc, test_npz_write_round_trip);
    tcase_add_test(tc, test_npz_member_bomb);
    tcase_add_test(tc, test_npz_corrupt_archives);
    tcase_add_test(tc, test_stream_of_arrays);
    tcase_add_test(tc, test_hostile_streams);
    tcase_add_test(tc, test_label_files_numpy);
    tcase_add_test(tc, test_label_files_text);
    tcase_add_test(tc, test_label_files_hostile);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ck_test_run(suite());
}
