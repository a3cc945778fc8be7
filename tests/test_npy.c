/* The .npy reader/writer (src/io/npy.c): header versions, dtypes, shapes,
 * byte order, corrupt and truncated input, write -> read round trips, and
 * reading a file's rows a few at a time. */
#include "ck_test.h"

#include "ck_npy.h"

#include <stdint.h>
#include <string.h>
#include <unistd.h>

/* Builds a .npy image: magic, version, header length, the dict text padded
 * to 16 bytes with spaces and '\n' (as numpy does), then `data`. */
static unsigned char *make_npy(int major, const char *dict, const void *data, size_t n, size_t *len)
{
    size_t prefix = major == 1 ? 10 : 12;
    size_t hlen = strlen(dict) + 1;
    hlen += (16 - (prefix + hlen) % 16) % 16;
    *len = prefix + hlen + n;
    unsigned char *b = malloc(*len);
    ck_assert_ptr_nonnull(b);
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (unsigned char)major;
    b[7] = 0;
    for (size_t i = 8; i < prefix; i++)
        b[i] = (unsigned char)(hlen >> (8 * (i - 8)));
    memset(b + prefix, ' ', hlen);
    memcpy(b + prefix, dict, strlen(dict));
    b[prefix + hlen - 1] = '\n';
    if (n)
        memcpy(b + prefix + hlen, data, n);
    return b;
}

static ck_status parse_dict(const char *dict, const void *data, size_t n, ck_tensor *t)
{
    size_t len;
    unsigned char *b = make_npy(1, dict, data, n, &len);
    ck_status st = ck_npy_parse(b, len, t);
    free(b);
    return st;
}

static char dict_buf[256];
static const char *dict_for(const char *descr, const char *shape)
{
    snprintf(dict_buf, sizeof dict_buf, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
             descr, shape);
    return dict_buf;
}

/* ------------------------------------------------------------ dtypes */

START_TEST(test_float32_matrix)
{
    const float v[6] = {1.5f, -2.25f, 0.0f, 3.0e-8f, 1e30f, -7.0f};
    ck_tensor t;
    ck_assert_ok(parse_dict(dict_for("<f4", "(2, 3)"), v, sizeof v, &t));
    ck_assert_int_eq(t.rank, 2);
    ck_assert_int_eq(t.dims[0], 2);
    ck_assert_int_eq(t.dims[1], 3);
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(t.data[i], v[i]);
    ck_npy_free(&t);
    ck_assert_ptr_null(t.data);
}
END_TEST

START_TEST(test_float64_converted)
{
    const double v[3] = {0.1, -1e300, 2.5};
    ck_tensor t;
    ck_assert_ok(parse_dict(dict_for("<f8", "(3,)"), v, sizeof v, &t));
    ck_assert_int_eq(t.rank, 1);
    ck_assert_int_eq(t.dims[0], 3);
    ck_assert_float_eq(t.data[0], 0.1f);
    ck_assert(isinf(t.data[1]) && t.data[1] < 0); /* out of float range */
    ck_assert_float_eq(t.data[2], 2.5f);
    ck_npy_free(&t);
}
END_TEST

/* numpy float16 (as np.float16(v).tobytes() gives them): exact in float32,
 * subnormals, infinity and NaN included; big-endian too. */
START_TEST(test_float16_converted)
{
    const unsigned char le[] = {0x66, 0x2e, 0x00, 0xbc, 0xff, 0x7b, 0x01,
                                0x00, 0x00, 0x7c, 0x00, 0x7e, 0x00, 0x80},
                        be[] = {0x2e, 0x66};
    const float want[] = {0.0999755859375f, -1.0f, 65504.0f, 5.9604644775390625e-08f, INFINITY};
    ck_tensor t;
    ck_assert_ok(parse_dict(dict_for("<f2", "(7,)"), le, sizeof le, &t));
    for (int i = 0; i < 5; i++)
        ck_assert_msg(t.data[i] == want[i], "%d: %.9g", i, t.data[i]);
    ck_assert(isnan(t.data[5]));
    ck_assert(t.data[6] == 0.0f && signbit(t.data[6]));
    ck_npy_free(&t);
    ck_assert_ok(parse_dict(dict_for(">f2", "(1,)"), be, sizeof be, &t));
    ck_assert(t.data[0] == want[0]);
    ck_npy_free(&t);
}
END_TEST

START_TEST(test_signed_integers)
{
    const int8_t i1[3] = {-128, 0, 127};
    const int16_t i2[3] = {-32768, 1, 32767};
    const int32_t i4[3] = {-2000000000, 7, 2000000000};
    const int64_t i8[3] = {-5, INT64_C(1) << 40, 3};
    struct {
        const char *descr;
        const void *data;
        size_t n;
        float want[3];
    } cases[] = {
        {"|i1", i1, sizeof i1, {-128, 0, 127}},
        {"<i2", i2, sizeof i2, {-32768, 1, 32767}},
        {"<i4", i4, sizeof i4, {-2e9f, 7, 2e9f}},
        {"<i8", i8, sizeof i8, {-5, 1099511627776.0f, 3}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        ck_tensor t;
        ck_assert_ok(parse_dict(dict_for(cases[c].descr, "(3,)"), cases[c].data, cases[c].n, &t));
        for (int i = 0; i < 3; i++)
            ck_assert_msg(t.data[i] == cases[c].want[i], "%s[%d] = %g, expected %g", cases[c].descr,
                          i, t.data[i], cases[c].want[i]);
        ck_npy_free(&t);
    }
}
END_TEST

START_TEST(test_unsigned_and_bool)
{
    const uint8_t u1[3] = {0, 200, 255};
    const uint16_t u2[3] = {65535, 2, 3};
    const uint32_t u4[3] = {4000000000u, 0, 9};
    const uint64_t u8[3] = {UINT64_MAX, 1, 2};
    const uint8_t b1[3] = {0, 1, 1};
    struct {
        const char *descr;
        const void *data;
        size_t n;
        float want[3];
    } cases[] = {
        {"|u1", u1, sizeof u1, {0, 200, 255}},
        {"<u2", u2, sizeof u2, {65535, 2, 3}},
        {"<u4", u4, sizeof u4, {4e9f, 0, 9}},
        {"<u8", u8, sizeof u8, {18446744073709551616.0f, 1, 2}},
        {"|b1", b1, sizeof b1, {0, 1, 1}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        ck_tensor t;
        ck_assert_ok(parse_dict(dict_for(cases[c].descr, "(3,)"), cases[c].data, cases[c].n, &t));
        for (int i = 0; i < 3; i++)
            ck_assert_msg(t.data[i] == cases[c].want[i], "%s[%d] = %g, expected %g", cases[c].descr,
                          i, t.data[i], cases[c].want[i]);
        ck_npy_free(&t);
    }
}
END_TEST

START_TEST(test_big_endian_is_swapped)
{
    /* 1.0f = 0x3f800000 and -2 as big-endian int16 = 0xfffe. */
    const unsigned char f4[4] = {0x3f, 0x80, 0x00, 0x00};
    const unsigned char i2[4] = {0xff, 0xfe, 0x01, 0x00};
    ck_tensor t;
    ck_assert_ok(parse_dict(dict_for(">f4", "(1,)"), f4, sizeof f4, &t));
    ck_assert_float_eq(t.data[0], 1.0f);
    ck_npy_free(&t);
    ck_assert_ok(parse_dict(dict_for(">i2", "(2,)"), i2, sizeof i2, &t));
    ck_assert_float_eq(t.data[0], -2.0f);
    ck_assert_float_eq(t.data[1], 256.0f);
    ck_npy_free(&t);
}
END_TEST

START_TEST(test_unsupported_dtypes)
{
    const char *bad[] = {"<f1", "<c8", "<U4", "|O", "<f16", "<b2", "|f4", "f4"};
    const unsigned char zeros[64] = {0};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_tensor t;
        ck_status st = parse_dict(dict_for(bad[i], "(1,)"), zeros, 4, &t);
        ck_assert_msg(st == CK_ERR_UNSUPPORTED || st == CK_ERR_FORMAT, "descr %s accepted", bad[i]);
        ck_assert_ptr_null(t.data);
    }
    ck_tensor t;
    ck_assert_fails(parse_dict("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }",
                               zeros, 4, &t),
                    CK_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "structured"));
}
END_TEST

/* ------------------------------------------------------------ versions and header */

START_TEST(test_versions_2_and_3)
{
    const float v[2] = {4, 5};
    for (int major = 2; major <= 3; major++) {
        size_t len;
        unsigned char *b = make_npy(major, dict_for("<f4", "(2,)"), v, sizeof v, &len);
        ck_tensor t;
        ck_assert_ok(ck_npy_parse(b, len, &t));
        ck_assert_float_eq(t.data[1], 5.0f);
        ck_npy_free(&t);
        b[6] = 4; /* unknown major version */
        ck_assert_fails(ck_npy_parse(b, len, &t), CK_ERR_UNSUPPORTED);
        b[6] = (unsigned char)major;
        b[7] = 1; /* unknown minor version */
        ck_assert_fails(ck_npy_parse(b, len, &t), CK_ERR_UNSUPPORTED);
        free(b);
    }
}
END_TEST

START_TEST(test_bad_magic)
{
    const float v[1] = {1};
    size_t len;
    unsigned char *b = make_npy(1, dict_for("<f4", "(1,)"), v, sizeof v, &len);
    b[1] = 'n';
    ck_tensor t;
    ck_assert_fails(ck_npy_parse(b, len, &t), CK_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "magic"));
    ck_assert_fails(ck_npy_parse(b, 0, &t), CK_ERR_FORMAT);
    free(b);
}
END_TEST

START_TEST(test_fortran_order_rejected)
{
    const float v[4] = {0};
    ck_tensor t;
    ck_assert_fails(parse_dict("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", v,
                               sizeof v, &t),
                    CK_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "Fortran"));
}
END_TEST

START_TEST(test_header_variations_accepted)
{
    /* Key order, double quotes, no trailing comma, Python 2 longs. */
    const float v[6] = {1, 2, 3, 4, 5, 6};
    const char *ok[] = {
        "{'shape': (3, 2), 'fortran_order': False, 'descr': '<f4'}",
        "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (3L, 2L)}",
        "{ 'descr' : '<f4' , 'fortran_order' : False , 'shape' : ( 3 , 2 , ) , }",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        ck_tensor t;
        ck_assert_ok(parse_dict(ok[i], v, sizeof v, &t));
        ck_assert_int_eq(t.rank, 2);
        ck_assert_int_eq(t.dims[0], 3);
        ck_assert_float_eq(t.data[5], 6.0f);
        ck_npy_free(&t);
    }
}
END_TEST

START_TEST(test_corrupt_headers)
{
    const float v[2] = {1, 2};
    const char *bad[] = {
        "",
        "[]",
        "{'descr': '<f4', 'fortran_order': False}", /* no shape */
        "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}",
        "{'descr': '<f4', 'fortran_order': 0, 'shape': (2,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': [2]}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2)}", /* int, not tuple */
        "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2 1)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} junk",
        "{'descr': '<f\\4', 'fortran_order': False, 'shape': (2,)}",
        "{'descr': '<f4, 'fortran_order': False, 'shape': (2,)}",
        "{'descr': '<f4' 'fortran_order': False, 'shape': (2,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 2)}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_tensor t;
        ck_status st = parse_dict(bad[i], v, sizeof v, &t);
        ck_assert_msg(st == CK_ERR_FORMAT || st == CK_ERR_UNSUPPORTED, "header #%zu accepted: %s",
                      i, bad[i]);
        ck_assert_msg(ck_last_error()[0] != '\0', "header #%zu: no message", i);
        ck_assert_ptr_null(t.data);
    }
}
END_TEST

START_TEST(test_header_length_capped)
{
    /* A v2 header claiming 100000 bytes is refused before anything else. */
    unsigned char b[16] = {0x93, 'N',  'U',  'M',  'P', 'Y', 2,   0,
                           0xa0, 0x86, 0x01, 0x00, '{', '}', ' ', '\n'};
    ck_tensor t;
    ck_assert_fails(ck_npy_parse(b, sizeof b, &t), CK_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "limit"));
    /* A v1 header longer than the file. */
    unsigned char c[12] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0x40, 0x00, '{', '}'};
    ck_assert_fails(ck_npy_parse(c, sizeof c, &t), CK_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "truncated"));
}
END_TEST

/* ------------------------------------------------------------ shapes and sizes */

START_TEST(test_scalar_and_empty_shapes)
{
    const double v = 42.0;
    ck_tensor t;
    ck_assert_ok(parse_dict(dict_for("<f8", "()"), &v, sizeof v, &t));
    ck_assert_int_eq(t.rank, 0);
    ck_assert_float_eq(t.data[0], 42.0f);
    ck_npy_free(&t);
    ck_assert_ok(parse_dict(dict_for("<f4", "(0, 3)"), NULL, 0, &t));
    ck_assert_int_eq(t.rank, 2);
    ck_assert_int_eq(t.dims[0], 0);
    ck_assert_int_eq(t.dims[1], 3);
    ck_npy_free(&t);
    ck_assert_ok(parse_dict(dict_for("<f4", "(1, 1, 1, 1, 1, 2)"), &v, sizeof v, &t));
    ck_assert_int_eq(t.rank, CK_MAX_RANK);
    ck_npy_free(&t);
}
END_TEST

START_TEST(test_huge_shapes_overflow)
{
    const float v[4] = {0};
    const char *shapes[] = {
        "(9223372036854775807, 9223372036854775807)", /* count overflows */
        "(99999999999999999999,)",                    /* does not fit int64 */
        "(2305843009213693952,)",                     /* count * 8 bytes overflows */
        "(1000000, 1000000)",                         /* fits, but the data is absent */
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        ck_tensor t;
        ck_assert_fails(parse_dict(dict_for("<f8", shapes[i]), v, sizeof v, &t), CK_ERR_FORMAT);
        ck_assert_ptr_null(t.data);
    }
}
END_TEST

START_TEST(test_truncated_and_extra_data)
{
    const float v[4] = {1, 2, 3, 4};
    ck_tensor t;
    ck_assert_fails(parse_dict(dict_for("<f4", "(2, 2)"), v, 15, &t), CK_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "truncated"));
    ck_assert_fails(parse_dict(dict_for("<f4", "(3,)"), v, sizeof v, &t), CK_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "after the data"));
}
END_TEST

/* Every prefix of a valid file, each in an exactly-sized allocation so
 * AddressSanitizer catches any read past the end, must fail cleanly. */
START_TEST(test_every_prefix_fails_cleanly)
{
    const int32_t v[6] = {1, 2, 3, 4, 5, 6};
    size_t len;
    unsigned char *b = make_npy(2, dict_for("<i4", "(2, 3)"), v, sizeof v, &len);
    for (size_t n = 0; n < len; n++) {
        unsigned char *p = malloc(n ? n : 1);
        memcpy(p, b, n);
        ck_tensor t;
        ck_assert_msg(ck_npy_parse(p, n, &t) != CK_OK, "prefix of %zu bytes accepted", n);
        ck_assert_ptr_null(t.data);
        free(p);
    }
    /* Flipping any single header byte either still parses or fails cleanly. */
    for (size_t i = 0; i < len - sizeof v; i++) {
        unsigned char *p = malloc(len);
        memcpy(p, b, len);
        p[i] ^= 0x5a;
        ck_tensor t;
        if (ck_npy_parse(p, len, &t) == CK_OK)
            ck_npy_free(&t);
        free(p);
    }
    free(b);
}
END_TEST

START_TEST(test_allocation_failure)
{
    const float v[2] = {1, 2};
    size_t len;
    unsigned char *b = make_npy(1, dict_for("<f4", "(2,)"), v, sizeof v, &len);
    ck_tensor t;
    ck_debug_fail_alloc_after(1);
    ck_assert_fails(ck_npy_parse(b, len, &t), CK_ERR_MEMORY);
    ck_debug_fail_alloc_after(0);
    ck_assert_ptr_null(t.data);
    free(b);
}
END_TEST

/* ------------------------------------------------------------ files */

static char tmpdir[64];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ck_npy_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    unsigned char *b = malloc(1 << 16);
    *len = fread(b, 1, 1 << 16, f);
    fclose(f);
    return b;
}

START_TEST(test_write_read_round_trip)
{
    make_tmpdir();
    char path[128];
    snprintf(path, sizeof path, "%s/a.npy", tmpdir);
    float data[24];
    for (int i = 0; i < 24; i++)
        data[i] = (float)i * 0.37f - 4.0f;
    const ck_tensor shapes[] = {
        {.rank = 3, .dims = {2, 3, 4}, .data = data},
        {.rank = 1, .dims = {24}, .data = data},
        {.rank = 0, .data = data},
        {.rank = 2, .dims = {0, 5}, .data = NULL},
    };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const ck_tensor *w = &shapes[s];
        ck_assert_ok(ck_npy_write(path, w));
        size_t len;
        unsigned char *raw = read_all(path, &len);
        size_t hlen = (size_t)raw[8] | (size_t)raw[9] << 8;
        ck_assert_int_eq((10 + hlen) % 64, 0);
        ck_assert_int_eq(raw[6], 1);
        ck_assert_int_eq(raw[9 + hlen], '\n');
        ck_assert_int_eq(
            memcmp(raw + 10, "{'descr': '<f4', 'fortran_order': False, 'shape': (", 51), 0);
        free(raw);
        ck_tensor r;
        ck_assert_ok(ck_npy_read(path, &r));
        ck_assert_int_eq(r.rank, w->rank);
        size_t n = 1;
        for (int i = 0; i < w->rank; i++) {
            ck_assert_int_eq(r.dims[i], w->dims[i]);
            n *= (size_t)w->dims[i];
        }
        if (n)
            ck_assert_int_eq(memcmp(r.data, data, n * sizeof(float)), 0);
        ck_npy_free(&r);
    }
    /* Exact text of a (24,) header, as numpy would write it. */
    ck_assert_ok(ck_npy_write(path, &shapes[1]));
    size_t len;
    unsigned char *raw = read_all(path, &len);
    ck_assert_int_eq(len, 128 + 24 * 4);
    ck_assert_int_eq(
        memcmp(raw + 10, "{'descr': '<f4', 'fortran_order': False, 'shape': (24,), }", 58), 0);
    free(raw);
    unlink(path);
    rmdir(tmpdir);
}
END_TEST

START_TEST(test_file_errors)
{
    ck_tensor t;
    ck_assert_fails(ck_npy_read("/nonexistent/x.npy", &t), CK_ERR_IO);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "/nonexistent/x.npy"));
    make_tmpdir();
    char path[128];
    snprintf(path, sizeof path, "%s/bad.npy", tmpdir);
    FILE *f = fopen(path, "wb");
    fputs("hello, not numpy", f);
    fclose(f);
    ck_assert_fails(ck_npy_read(path, &t), CK_ERR_FORMAT);
    /* The message names the file and the reason. */
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "bad.npy"));
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "magic"));
    unlink(path);
    const ck_tensor bad = {.rank = 1, .dims = {-1}};
    ck_assert_fails(ck_npy_write(path, &bad), CK_ERR_ARGUMENT);
    const ck_tensor ok = {.rank = 1, .dims = {1}, .data = (float[]){1}};
    snprintf(path, sizeof path, "%s/missing/dir.npy", tmpdir);
    ck_assert_fails(ck_npy_write(path, &ok), CK_ERR_IO);
    rmdir(tmpdir);
}
END_TEST

static void write_file(const char *path, const void *b, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(b, 1, len, f), len);
    fclose(f);
}

/* Rows of a (5, 3, 2) array, float32 and big-endian int16 (converted),
 * match ck_npy_read's values for every range, the empty one included. */
START_TEST(test_reader_rows)
{
    make_tmpdir();
    char path[128];
    snprintf(path, sizeof path, "%s/rows.npy", tmpdir);
    float f32[30];
    unsigned char i16[60];
    for (int i = 0; i < 30; i++) {
        f32[i] = (float)i * 0.5f - 3.0f;
        i16[2 * i] = (unsigned char)((i * 7 - 100) >> 8 & 0xff);
        i16[2 * i + 1] = (unsigned char)((i * 7 - 100) & 0xff);
    }
    const struct {
        const char *descr;
        const void *data;
        size_t n;
    } kinds[] = {{"<f4", f32, sizeof f32}, {">i2", i16, sizeof i16}};
    for (size_t k = 0; k < 2; k++) {
        size_t len;
        unsigned char *b = make_npy(1, dict_for(kinds[k].descr, "(5, 3, 2)"), kinds[k].data,
                                    kinds[k].n, &len);
        write_file(path, b, len);
        free(b);
        ck_tensor whole, shape;
        ck_assert_ok(ck_npy_read(path, &whole));
        ck_npy_reader *r;
        ck_assert_ok(ck_npy_open(path, &r, &shape));
        ck_assert_int_eq(shape.rank, 3);
        ck_assert_int_eq(shape.dims[0], 5);
        ck_assert_int_eq(shape.dims[2], 2);
        ck_assert_ptr_null(shape.data);
        const float *rows;
        for (int count = 5; count >= 0; count--)
            for (int first = 0; first + count <= 5; first++) {
                ck_assert_ok(ck_npy_read_rows(r, first, count, &rows));
                ck_assert_int_eq(memcmp(rows, whole.data + first * 6, sizeof(float) * 6 * count),
                                 0);
            }
        ck_assert_fails(ck_npy_read_rows(r, 4, 2, &rows), CK_ERR_ARGUMENT);
        ck_assert_ptr_null(rows);
        ck_assert_ptr_nonnull(strstr(ck_last_error(), "rows 4 to 5 are outside the 5 rows"));
        ck_assert_fails(ck_npy_read_rows(r, -1, 1, &rows), CK_ERR_ARGUMENT);
        ck_assert_fails(ck_npy_read_rows(r, 0, 1, NULL), CK_ERR_ARGUMENT);
        ck_npy_close(r);
        ck_npy_free(&whole);
    }
    unlink(path);
    rmdir(tmpdir);
}
END_TEST

/* What ck_npy_read refuses, opening refuses; a scalar has no rows; a file
 * that shrinks after opening fails the read instead of coming up short. */
START_TEST(test_reader_errors)
{
    ck_npy_reader *r = (ck_npy_reader *)1;
    ck_tensor shape;
    ck_assert_fails(ck_npy_open("/nonexistent/x.npy", &r, &shape), CK_ERR_IO);
    ck_assert_ptr_null(r);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "/nonexistent/x.npy"));
    ck_assert_fails(ck_npy_open(NULL, &r, &shape), CK_ERR_ARGUMENT);
    ck_npy_close(NULL);
    make_tmpdir();
    char path[128];
    snprintf(path, sizeof path, "%s/e.npy", tmpdir);
    const float v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    size_t len;
    unsigned char *b = make_npy(1, dict_for("<f4", "()"), v, 4, &len);
    write_file(path, b, len);
    free(b);
    ck_assert_fails(ck_npy_open(path, &r, &shape), CK_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "e.npy"));
    b = make_npy(1, dict_for("<f4", "(0, 4294967296, 4294967296)"), NULL, 0, &len);
    write_file(path, b, len);
    free(b);
    ck_assert_fails(ck_npy_open(path, &r, &shape), CK_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "too large"));
    b = make_npy(1, dict_for("<f4", "(4, 2)"), v, sizeof v - 4, &len);
    write_file(path, b, len);
    ck_assert_fails(ck_npy_open(path, &r, &shape), CK_ERR_FORMAT);
    ck_assert_int_eq(shape.rank, 0);
    free(b);
    b = make_npy(1, dict_for("<f4", "(4, 2)"), v, sizeof v, &len);
    write_file(path, b, len);
    ck_assert_ok(ck_npy_open(path, &r, &shape));
    ck_assert_int_eq(truncate(path, (off_t)(len - 8)), 0);
    const float *rows;
    ck_assert_ok(ck_npy_read_rows(r, 0, 3, &rows));
    ck_assert_float_eq(rows[5], 6.0f);
    ck_assert_fails(ck_npy_read_rows(r, 2, 2, &rows), CK_ERR_IO);
    ck_assert_ptr_nonnull(strstr(ck_last_error(), "shrank"));
    ck_npy_close(r);
    free(b);
    unlink(path);
    rmdir(tmpdir);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("npy");
    TCase *tc = tcase_create("npy");
    tcase_add_test(tc, test_float32_matrix);
    tcase_add_test(tc, test_float64_converted);
    tcase_add_test(tc, test_float16_converted);
    tcase_add_test(tc, test_signed_integers);
    tcase_add_test(tc, test_unsigned_and_bool);
    tcase_add_test(tc, test_big_endian_is_swapped);
    tcase_add_test(tc, test_unsupported_dtypes);
    tcase_add_test(tc, test_versions_2_and_3);
    tcase_add_test(tc, test_bad_magic);
    tcase_add_test(tc, test_fortran_order_rejected);
    tcase_add_test(tc, test_header_variations_accepted);
    tcase_add_test(tc, test_corrupt_headers);
    tcase_add_test(tc, test_header_length_capped);
    tcase_add_test(tc, test_scalar_and_empty_shapes);
    tcase_add_test(tc, test_huge_shapes_overflow);
    tcase_add_test(tc, test_truncated_and_extra_data);
    tcase_add_test(tc, test_every_prefix_fails_cleanly);
    tcase_add_test(tc, test_allocation_failure);
    tcase_add_test(tc, test_write_read_round_trip);
    tcase_add_test(tc, test_file_errors);
    tcase_add_test(tc, test_reader_rows);
    tcase_add_test(tc, test_reader_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ck_test_run(suite());
}
