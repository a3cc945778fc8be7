/* Text tables of numbers (src/io/csv_array.c): what np.savetxt, pandas's
 * to_csv and spreadsheets write, and tables that must be refused. */
#include "ck_test.h"

#include "ck_io.h"

#include <math.h>
#include <string.h>

static const char *table_file(const char *name, const char *text, size_t len)
{
    const char *path = ck_test_path(name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(text, 1, len, f), len);
    fclose(f);
    return path;
}

/* Reads text as a table and checks its shape and every value. */
static void assert_table(const char *text, int64_t rows, int64_t cols, const float *want)
{
    ck_tensor t;
    ck_assert_ok(ck_csv_read(table_file("t.csv", text, strlen(text)), &t));
    ck_assert_int_eq(t.rank, 2);
    ck_assert_int_eq(t.dims[0], rows);
    ck_assert_int_eq(t.dims[1], cols);
    for (int64_t i = 0; i < rows * cols; i++)
        ck_assert_msg(t.data[i] == want[i], "value %lld: %g, want %g", (long long)i,
                      (double)t.data[i], (double)want[i]);
    ck_free(t.data);
}

/* The fixed forms: np.savetxt (%.18e, delimiter ","), its default blank
 * separator, a tab-separated export, and a single column. */
START_TEST(test_numeric_tables)
{
    const float six[] = {1.5f, -2, 0.25f, 3e-3f, 1e10f, -0.0f};
    assert_table("1.500000000000000000e+00,-2.000000000000000000e+00,2.5e-01\n"
                 "3.000000000000000062e-03,1e10,-0\n",
                 2, 3, six);
    assert_table("1.5 -2 0.25\n0.003   1e10\t-0\n", 2, 3, six);
    assert_table("1.5\t-2\t0.25\n0.003\t1e10\t-0\n", 2, 3, six);
    /* A one-column table of class ids keeps its first row, 0 included. */
    assert_table("0\n2\n1\n", 3, 1, (const float[]){0, 2, 1});
    /* Two columns that count 0, 1 are data (a one-hot row), not names. */
    assert_table("0,1\n1,0\n", 2, 2, (const float[]){0, 1, 1, 0});
    /* Past float's range: infinity, as numpy's float32 conversion gives. */
    assert_table("1e39,-1e39,3.4e38\n", 1, 3, (const float[]){INFINITY, -INFINITY, 3.4e38f});
}
END_TEST

/* Headers, comments, blank lines, CRLF, a byte-order mark and quotes, as
 * spreadsheets and pandas write them. */
START_TEST(test_headers_and_decoration)
{
    const float four[] = {1, 2, 3, 4};
    assert_table("\xEF\xBB\xBF"
                 "a,b\r\n1,2\r\n\r\n3,4\r\n",
                 2, 2, four);
    assert_table("# recorded 2026-12-07\n\"x1\",\"x2\"\n\"1\",\"2\"\n# pause\n3, 4\n", 2, 2, four);
    /* pd.DataFrame(x).to_csv(): the index column is dropped. */
    assert_table(",0,1\n0,1,2\n1,3,4\n", 2, 2, four);
    /* pd.DataFrame(x).to_csv(index=False): the names 0, 1, 2 are a header. */
    assert_table("0,1,2\n1,2,3\n4,5,6\n", 2, 3, (const float[]){1, 2, 3, 4, 5, 6});
    /* Out of float range: infinity, as numpy's float32 conversion gives. */
    ck_tensor t;
    ck_assert_ok(ck_csv_read(table_file("big.csv", "1e39,1e-50\n", 11), &t));
    ck_assert(isinf(t.data[0]) && t.data[0] > 0);
    ck_assert_float_eq(t.data[1], 0.0f);
    ck_free(t.data);
}
END_TEST

/* len 0: the text's length. */
static void assert_refused(const char *text, size_t len, ck_status code, const char *message)
{
    ck_tensor t = {.data = (float *)1};
    ck_assert_fails(ck_csv_read(table_file("bad.csv", text, len ? len : strlen(text)), &t), code);
    ck_assert_ptr_null(t.data);
    ck_assert_msg(strstr(ck_last_error(), message), "'%s' not in: %s", message, ck_last_error());
}

START_TEST(test_bad_tables)
{
    assert_refused("1,2,3\n4,5\n", 0, CK_ERR_SHAPE, "line 2 has 2 numbers, the first row 3");
    assert_refused("a,b\n1,2\n\n# c\n3,x7\n", 0, CK_ERR_FORMAT, "line 5, column 2 ('x7')");
    assert_refused("1,,3\n", 0, CK_ERR_FORMAT, "line 1, column 2 is empty");
    assert_refused("1,2,\n", 0, CK_ERR_FORMAT, "line 1, column 3 is empty");
    assert_refused("\n", 0, CK_ERR_FORMAT, "holds no numbers");
    assert_refused("# only\n\n", 0, CK_ERR_FORMAT, "holds no numbers");
    assert_refused("a,b\n", 0, CK_ERR_FORMAT, "holds no rows of numbers");
    assert_refused("1,2\n3\0,4\n", 9, CK_ERR_FORMAT, "NUL byte");
    ck_assert_fails(ck_csv_read(ck_test_path("missing.csv"), &(ck_tensor){0}), CK_ERR_IO);
    ck_assert_fails(ck_csv_read(NULL, &(ck_tensor){0}), CK_ERR_ARGUMENT);
}
END_TEST

/* ck_csv_write: a sample per line that ck_csv_read gives back bit for bit,
 * awkward float32 values included. */
START_TEST(test_write_round_trip)
{
    float v[2 * 2 * 3] = {0.1f,   -1e-38f, 3.4e38f,   1.0f / 3.0f, 16777217.0f, -0.0f,
                          1e-45f, 2.5f,    -7.25e-8f, 123456.789f, 0.7f,        -2.0f};
    ck_tensor t = {3, {2, 2, 3}, v}, back;
    const char *path = ck_test_path("w.csv");
    ck_assert_ok(ck_csv_write(path, &t));
    ck_assert_ok(ck_csv_read(path, &back));
    ck_assert_int_eq(back.dims[0], 2);
    ck_assert_int_eq(back.dims[1], 6);
    ck_assert_int_eq(memcmp(back.data, v, sizeof v), 0);
    ck_free(back.data);
    ck_assert_fails(ck_csv_write(path, &(ck_tensor){0, {0}, v}), CK_ERR_ARGUMENT);
    ck_assert_fails(ck_csv_write(ck_test_path("no/such/dir.csv"), &t), CK_ERR_IO);
}
END_TEST

/* Every allocation failing in turn is CK_ERR_MEMORY with nothing leaked. */
START_TEST(test_allocation_failures)
{
    const char *path = table_file("a.csv", "x,y\n1,2\n3,4\n", 12);
    for (long n = 1;; n++) {
        ck_tensor t = {0};
        ck_debug_fail_alloc_after(n);
        ck_status st = ck_csv_read(path, &t);
        ck_debug_fail_alloc_after(0);
        if (st == CK_OK) {
            ck_assert_float_eq(t.data[3], 4.0f);
            ck_free(t.data);
            ck_assert_int_gt(n, 1);
            break;
        }
        ck_assert_msg(st == CK_ERR_MEMORY, "allocation %ld: %s", n, ck_last_error());
        ck_assert_ptr_null(t.data);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("csv");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, ck_test_scratch_fixture, ck_test_remove_dir);
    tcase_add_test(tc, test_numeric_tables);
    tcase_add_test(tc, test_headers_and_decoration);
    tcase_add_test(tc, test_bad_tables);
    tcase_add_test(tc, test_write_round_trip);
    tcase_add_test(tc, test_allocation_failures);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ck_test_run(suite());
}
