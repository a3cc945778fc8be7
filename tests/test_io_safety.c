/* File I/O against hostile or unusual inputs: the screened array reader,
 * HDF5 links, bounded reads, zip member sizes, chance "GCOL" bytes, JSON
 * nesting, optimizer layouts; and how saves treat umask and symlinks. */
#include "ck_test.h"

#include "ck_internal.h"
#include "ck_io.h"
#include "ck_lazy_lib.h"
#include "ck_npy.h"

#include <dirent.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>


/* The raw HDF5 inputs of the fuzz_h5_weights corpus. */
#define RAW_CORPUS "tests/fuzz/corpus/fuzz_h5_weights_raw/"

static void assert_error_has(const char *needle)
{
    ck_assert_msg(strstr(ck_last_error(), needle), "error lacks '%s': %s", needle, ck_last_error());
}

/* A file with float dataset /x = {1, 2, 3, 4, 5, 6} (2, 3), int dataset
 * /g/n = {7, 8} and group /g. */
static void write_arrays(const char *path)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(f, 0);
    const float x[6] = {1, 2, 3, 4, 5, 6};
    ck_assert_ok(ck_h5_write_floats(f, "x", 2, (int64_t[]){2, 3}, x));
    ck_assert_ok(ck_h5_write_int64(f, "g/n", 7));
    H5Fclose(f);
}

/* ---------------------------------------------------------------- array reader */

START_TEST(read_array_values_and_errors)
{
    ck_test_make_dir("ckios");
    write_arrays(ck_test_path("a.h5"));
    ck_tensor t;
    ck_assert_ok(ck_h5_read_array(ck_test_path("a.h5"), "/x", &t));
    ck_assert_int_eq(t.rank, 2);
    ck_assert_int_eq(t.dims[0], 2);
    ck_assert_int_eq(t.dims[1], 3);
    ck_assert_float_eq(t.data[5], 6.0f);
    ck_free(t.data);
    ck_assert_ok(ck_h5_read_array(ck_test_path("a.h5"), "/g/n", &t));
    ck_assert_int_eq(t.rank, 0);
    ck_assert_float_eq(t.data[0], 7.0f);
    ck_free(t.data);
    ck_assert_fails(ck_h5_read_array(ck_test_path("a.h5"), "/g", &t), CK_ERR_FORMAT);
    assert_error_has("/g is a group, not a dataset");
    ck_assert_ptr_null(t.data);
    ck_assert_fails(ck_h5_read_array(ck_test_path("a.h5"), "/nope", &t), CK_ERR_FORMAT);
    assert_error_has("has no dataset /nope");
    ck_assert_fails(ck_h5_read_array(ck_test_path("absent.h5"), "/x", &t), CK_ERR_IO);
    ck_test_remove_dir();
}
END_TEST

/* numpy bools saved by h5py read as 0 and 1. */
START_TEST(read_array_h5py_bool)
{
    ck_tensor t;
    ck_assert_ok(ck_h5_read_array("tests/data/bool_y.h5", "/y", &t));
    ck_assert_int_eq(t.rank, 2);
    ck_assert_int_eq(t.dims[0], 3);
    ck_assert_int_eq(t.dims[1], 1);
    ck_assert_float_eq(t.data[0], 1.0f);
    ck_assert_float_eq(t.data[1], 0.0f);
    ck_assert_float_eq(t.data[2], 1.0f);
    ck_free(t.data);
}
END_TEST

/* Attributes of every kind h5py writes (bool and other enumerations,
 * compound, array, opaque, empty, strings of both kinds) pass the screen
 * that checks attribute messages. */
START_TEST(read_array_with_every_attribute_kind)
{
    ck_tensor t;
    ck_assert_ok(ck_h5_read_array("tests/data/attrs_x.h5", "/x", &t));
    ck_assert_int_eq(t.rank, 2);
    ck_assert_float_eq(t.data[5], 5.0f);
    ck_free(t.data);
}
END_TEST

/* A filter outside libhdf5 (h5py's LZF) is named, not called corruption. */
START_TEST(read_array_missing_filter)
{
    ck_tensor t;
    ck_assert_fails(ck_h5_read_array("tests/data/lzf_x.h5", "/x", &t), CK_ERR_UNSUPPORTED);
    assert_error_has("filter 32000 (lzf)");
    ck_assert_ptr_null(t.data);
}
END_TEST

/* The fuzz corpus file whose compact dataset crashed H5Dread. */
START_TEST(read_array_corrupt_dataset)
{
    ck_tensor t;
    ck_assert_fails(ck_h5_read_array(RAW_CORPUS "crash_compact_no_data.h5",
                                     "/layers/batch_normalization/vars/2", &t),
                    CK_ERR_FORMAT);
    assert_error_has("corrupt");
    ck_assert_ptr_null(t.data);
}
END_TEST

/* A chunked (rows, 8) float dataset /x, gzipped zeros when `write`,
 * else never written (every value the fill value, no chunk stored). */
static void write_chunked(const char *path, hsize_t rows, bool write)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[2] = {rows, 8}, chunk[2] = {rows < 20000 ? rows : 20000, 8};
    hid_t space = H5Screate_simple(2, dims, NULL), plist = H5Pcreate(H5P_DATASET_CREATE);
    ck_assert_int_ge(H5Pset_chunk(plist, 2, chunk), 0);
    ck_assert_int_ge(H5Pset_deflate(plist, 9), 0);
    hid_t d = H5Dcreate2(f, "x", H5T_IEEE_F32LE, space, H5P_DEFAULT, plist, H5P_DEFAULT);
    ck_assert_int_ge(d, 0);
    if (write) {
        float *zeros = ck_alloc(rows * 8, sizeof(float));
        ck_assert_int_ge(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, zeros), 0);
        ck_free(zeros);
    }
    H5Dclose(d);
    H5Pclose(plist);
    H5Sclose(space);
    H5Fclose(f);
}

/* 1.4 KB that would read as terabytes of fill values is refused before
 * anything is allocated; compressed zeros that are really stored read. */
START_TEST(read_array_unwritten_dataset)
{
    ck_test_make_dir("ckios");
    write_chunked(ck_test_path("bomb.h5"), 1000000000000ull, false);
    ck_tensor t;
    ck_assert_fails(ck_h5_read_array(ck_test_path("bomb.h5"), "/x", &t), CK_ERR_FORMAT);
    assert_error_has("claims 32000000000000 bytes but the file stores 0 of them");
    ck_assert_ptr_null(t.data);
    write_chunked(ck_test_path("small.h5"), 1000, false);
    ck_assert_ok(ck_h5_read_array(ck_test_path("small.h5"), "/x", &t));
    ck_assert_float_eq(t.data[7999], 0.0f);
    ck_free(t.data);
    write_chunked(ck_test_path("zeros.h5"), 200000, true);
    ck_assert_ok(ck_h5_read_array(ck_test_path("zeros.h5"), "/x", &t));
    ck_assert_int_eq(t.dims[0], 200000);
    ck_assert_float_eq(t.data[200000 * 8 - 1], 0.0f);
    ck_free(t.data);
    ck_test_remove_dir();
}
END_TEST

/* ---------------------------------------------------------------- links */

static void write_linking_file(const char *path, const char *target, bool external)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(f, 0);
    ck_assert_ok(ck_h5_write_floats(f, "real", 1, (int64_t[]){1}, (float[]){0}));
    herr_t rc = external ? H5Lcreate_external(target, "/x", f, "x", H5P_DEFAULT, H5P_DEFAULT)
                         : H5Lcreate_soft("/real", f, "x", H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(rc, 0);
    H5Fclose(f);
}

START_TEST(external_and_soft_links_refused)
{
    ck_test_make_dir("ckios");
    write_arrays(ck_test_path("secret.h5"));
    write_linking_file(ck_test_path("ext.h5"), ck_test_path("secret.h5"), true);
    write_linking_file(ck_test_path("soft.h5"), NULL, false);
    ck_tensor t;
    ck_assert_fails(ck_h5_read_array(ck_test_path("ext.h5"), "/x", &t), CK_ERR_FORMAT);
    assert_error_has("'x' is an external link");
    ck_assert_fails(ck_h5_read_array(ck_test_path("soft.h5"), "/real", &t), CK_ERR_FORMAT);
    assert_error_has("'x' is a soft link");
    /* Model loading goes through the same opener. */
    ck_model *m = NULL;
    ck_assert_fails(ck_model_load(ck_test_path("ext.h5"), &m), CK_ERR_FORMAT);
    ck_assert_ptr_null(m);
    ck_test_remove_dir();
}
END_TEST

/* ---------------------------------------------------------------- writing */

START_TEST(write_rank_is_checked)
{
    ck_test_make_dir("ckios");
    hid_t f = H5Fcreate(ck_test_path("r.h5"), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(f, 0);
    float v[1] = {3};
    int64_t dims[CK_MAX_RANK + 1] = {1, 1, 1, 1, 1, 1, 1};
    /* Rank 6 used to overflow a 4-element shape buffer. */
    ck_assert_ok(ck_h5_write_floats(f, "six", CK_MAX_RANK, dims, v));
    ck_assert_fails(ck_h5_write_floats(f, "seven", CK_MAX_RANK + 1, dims, v), CK_ERR_ARGUMENT);
    ck_assert_fails(ck_h5_write_floats(f, "neg", -1, dims, v), CK_ERR_ARGUMENT);
    H5Fclose(f);
    ck_tensor t;
    ck_assert_ok(ck_h5_read_array(ck_test_path("r.h5"), "/six", &t));
    ck_assert_int_eq(t.rank, CK_MAX_RANK);
    ck_free(t.data);
    ck_test_remove_dir();
}
END_TEST

static ck_model *tiny_model(void)
{
    ck_model *m = ck_sequential(.seed = 3);
    ck_assert_ok(ck_model_add(m, ck_input(4)));
    ck_assert_ok(ck_model_add(m, ck_dense(.units = 2)));
    ck_assert_ok(ck_model_build(m));
    return m;
}

static mode_t mode_of(const char *path)
{
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    return sb.st_mode & 0777;
}

START_TEST(new_files_follow_umask)
{
    ck_test_make_dir("ckios");
    ck_model *m = tiny_model();
    mode_t old = umask(027);
    ck_status st = ck_model_save(m, ck_test_path("m.h5"));
    ck_status st2 = ck_model_save(m, ck_test_path("m.keras"));
    ck_tensor t = {.rank = 1, .dims = {2}, .data = (float[]){1, 2}};
    ck_status st3 = ck_npy_write(ck_test_path("a.npy"), &t);
    umask(old);
    ck_assert_ok(st);
    ck_assert_ok(st2);
    ck_assert_ok(st3);
    ck_assert_uint_eq(mode_of(ck_test_path("m.h5")), 0640);
    ck_assert_uint_eq(mode_of(ck_test_path("m.keras")), 0640);
    ck_assert_uint_eq(mode_of(ck_test_path("a.npy")), 0640);
    /* A replaced file keeps its mode. */
    ck_assert_int_eq(chmod(ck_test_path("m.h5"), 0600), 0);
    ck_assert_ok(ck_model_save(m, ck_test_path("m.h5")));
    ck_assert_uint_eq(mode_of(ck_test_path("m.h5")), 0600);
    ck_model_free(m);
    ck_test_remove_dir();
}
END_TEST

START_TEST(save_through_symlink_keeps_link)
{
    ck_test_make_dir("ckios");
    ck_model *m = tiny_model();
    ck_assert_ok(ck_model_save(m, ck_test_path("target.h5")));
    ck_assert_int_eq(symlink("target.h5", ck_test_path("link.h5")), 0);
    m->params[0] = 0.5f;
    ck_assert_ok(ck_model_save(m, ck_test_path("link.h5")));
    struct stat sb;
    ck_assert_int_eq(lstat(ck_test_path("link.h5"), &sb), 0);
    ck_assert(S_ISLNK(sb.st_mode));
    ck_model *back = NULL;
    ck_assert_ok(ck_model_load(ck_test_path("target.h5"), &back));
    ck_assert_float_eq(back->params[0], 0.5f);
    ck_model_free(back);
    ck_model_free(m);
    ck_test_remove_dir();
}
END_TEST

START_TEST(npy_write_replaces_atomically)
{
    ck_test_make_dir("ckios");
    ck_tensor t = {.rank = 1, .dims = {2}, .data = (float[]){1, 2}};
    ck_assert_ok(ck_npy_write(ck_test_path("a.npy"), &t));
    /* A hard link sees the old contents: the file was replaced, not
     * rewritten in place. */
    ck_assert_int_eq(link(ck_test_path("a.npy"), ck_test_path("old.npy")), 0);
    t.data[0] = 9;
    ck_assert_ok(ck_npy_write(ck_test_path("a.npy"), &t));
    ck_tensor a, old;
    ck_assert_ok(ck_npy_read(ck_test_path("a.npy"), &a));
    ck_assert_ok(ck_npy_read(ck_test_path("old.npy"), &old));
    ck_assert_float_eq(a.data[0], 9.0f);
    ck_assert_float_eq(old.data[0], 1.0f);
    ck_npy_free(&a);
    ck_npy_free(&old);
    ck_test_remove_dir();
}
END_TEST

/* ---------------------------------------------------------------- bounded reads */

START_TEST(devices_and_oversized_files_refused)
{
    ck_tensor t;
    ck_assert_fails(ck_npy_read("/dev/zero", &t), CK_ERR_IO);
    assert_error_has("is a character device");
    char *buf = NULL;
    size_t len = 0;
    ck_assert_fails(ck_read_file("/dev/zero", &buf, &len), CK_ERR_IO);
    ck_assert_ptr_null(buf);
    ck_test_make_dir("ckios");
    FILE *f = fopen(ck_test_path("big.json"), "w");
    ck_assert_ptr_nonnull(f);
    fputs("{\"a\": 12345678901234567890}", f);
    fclose(f);
    ck_assert_fails(ck_read_file_limited(ck_test_path("big.json"), 10, &buf, &len), CK_ERR_FORMAT);
    assert_error_has("10-byte limit");
    ck_assert_ok(ck_read_file_limited(ck_test_path("big.json"), 100, &buf, &len));
    ck_assert_uint_eq(len, 27);
    free(buf);
    /* A header promising more data than the file holds fails before the
     * data is read. */
    ck_tensor big = {.rank = 1, .dims = {4}, .data = (float[]){1, 2, 3, 4}};
    ck_assert_ok(ck_npy_write(ck_test_path("t.npy"), &big));
    ck_assert_int_eq(truncate(ck_test_path("t.npy"), 64 + 8), 0);
    ck_assert_fails(ck_npy_read(ck_test_path("t.npy"), &t), CK_ERR_FORMAT);
    assert_error_has("truncated .npy file");
    ck_test_remove_dir();
}
END_TEST

/* ---------------------------------------------------------------- zip sizes */

/* Rewrites the uncompressed size of every member named `member` (local
 * header and central directory) to `size`. */
static void patch_zip_size(const char *path, const char *member, uint32_t size)
{
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    unsigned char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    ck_assert_uint_lt(n, sizeof buf);
    size_t name_len = strlen(member);
    int patched = 0;
    for (size_t i = 0; i + 46 + name_len <= n; i++) {
        bool local = memcmp(buf + i, "PK\3\4", 4) == 0 &&
                     memcmp(buf + i + 30, member, name_len) == 0;
        bool central = memcmp(buf + i, "PK\1\2", 4) == 0 &&
                       memcmp(buf + i + 46, member, name_len) == 0;
        if (!local && !central)
            continue;
        size_t at = i + (local ? 22 : 24);
        for (int k = 0; k < 4; k++)
            buf[at + (size_t)k] = (unsigned char)(size >> (8 * k));
        patched++;
    }
    ck_assert_int_eq(patched, 2);
    rewind(f);
    ck_assert_uint_eq(fwrite(buf, 1, n, f), n);
    fclose(f);
}

START_TEST(zip_member_size_must_be_plausible)
{
    ck_test_make_dir("ckios");
    ck_model *m = tiny_model();
    ck_assert_ok(ck_model_save(m, ck_test_path("m.keras")));
    patch_zip_size(ck_test_path("m.keras"), "model.weights.h5", 3u << 30);
    ck_model *back = NULL;
    ck_assert_fails(ck_model_load(ck_test_path("m.keras"), &back), CK_ERR_FORMAT);
    assert_error_has("declares 3221225472 bytes");
    ck_assert_ptr_null(back);
    ck_model_free(m);
    ck_test_remove_dir();
}
END_TEST

/* ---------------------------------------------------------------- libraries opened on use */

static double (*test_cos)(double);
static const ck_lazy_symbol cos_symbols[] = {{"cos", (void **)&test_cos}, {0}};
static const ck_lazy_symbol missing_symbols[] = {{"ck_no_such_function", (void **)&test_cos}, {0}};

/* A machine without the library, or with a build of it that lacks a
 * function, gets an error naming it, its package and what needs it, on
 * every attempt; one that has it gets working functions. */
START_TEST(lazy_library_named_when_missing)
{
    ck_lazy_lib absent = CK_LAZY_LIB("libck-no-such.so.9", "ck-no-such9", "reading test files",
                                     cos_symbols);
    for (int attempt = 0; attempt < 2; attempt++) {
        ck_assert_fails(ck_lazy_lib_open(&absent), CK_ERR_UNSUPPORTED);
        assert_error_has("reading test files needs libck-no-such.so.9");
        assert_error_has("install the package that provides it (ck-no-such9 on Debian 12)");
    }
    ck_lazy_lib incomplete = CK_LAZY_LIB("libm.so.6", "libc6", "a test", missing_symbols);
    ck_assert_fails(ck_lazy_lib_open(&incomplete), CK_ERR_UNSUPPORTED);
    assert_error_has("ck_no_such_function");
    ck_lazy_lib libm = CK_LAZY_LIB("libm.so.6", "libc6", "a test", cos_symbols);
    ck_assert_ok(ck_lazy_lib_open(&libm));
    ck_assert_double_eq(test_cos(0.0), 1.0);
}
END_TEST

/* ---------------------------------------------------------------- heap screen */

/* Float weights whose bytes spell a global heap collection header with a
 * zero-size object, which the screen used to reject as a corrupt heap. */
START_TEST(gcol_bytes_in_float_data_accepted)
{
    ck_test_make_dir("ckios");
    ck_model *m = tiny_model();
    unsigned char fake[32] = {'G', 'C', 'O', 'L', 1, 0, 0, 0, 0x00, 0x10};
    memcpy(m->params, fake, sizeof fake); /* kernel (4, 2): exactly 32 bytes */
    ck_assert_uint_ge(m->n_params, 8);
    float before[8];
    memcpy(before, m->params, sizeof before);
    ck_assert_ok(ck_model_save_weights(m, ck_test_path("w.h5")));
    memset(m->params, 0, sizeof before);
    ck_assert_ok(ck_model_load_weights(m, ck_test_path("w.h5")));
    ck_assert_int_eq(memcmp(before, m->params, sizeof before), 0);
    ck_model_free(m);
    ck_test_remove_dir();
}
END_TEST

/* Offset of the first global heap collection in a file, 0 if none. */
static uint64_t first_collection(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    static unsigned char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    for (size_t i = 0; i + 5 <= n; i++)
        if (memcmp(buf + i, "GCOL\1", 5) == 0)
            return i;
    return 0;
}

/* Weights whose bits read as a string reference to the model's own heap
 * collection (denormals and zeros, common in Adam state and dead units):
 * the saved whole model loads again. */
START_TEST(reference_bits_in_float_data_accepted)
{
    ck_test_make_dir("ckios");
    ck_model *m = tiny_model();
    ck_assert_ok(ck_model_save(m, ck_test_path("m.h5")));
    uint64_t addr = first_collection(ck_test_path("m.h5"));
    ck_assert_uint_gt(addr, 0);
    uint32_t bits[4] = {0x80, (uint32_t)addr, (uint32_t)(addr >> 32), 0x7777};
    memcpy(m->params, bits, sizeof bits);
    ck_assert_ok(ck_model_save(m, ck_test_path("m.h5")));
    ck_assert_uint_eq(first_collection(ck_test_path("m.h5")), addr);
    ck_model *back = NULL;
    ck_assert_ok(ck_model_load(ck_test_path("m.h5"), &back));
    ck_assert_int_eq(memcmp(back->params, bits, sizeof bits), 0);
    ck_model_free(back);
    ck_model_free(m);
    ck_test_remove_dir();
}
END_TEST

/* The corpus inputs that hung or crashed libhdf5 stay refused. */
START_TEST(heap_corpus_still_refused)
{
    const char *files[] = {RAW_CORPUS "hang_gcol_zero_size.h5",
                           RAW_CORPUS "crash_heap_bad_index.h5"};
    for (int i = 0; i < 2; i++) {
        ck_model *m = NULL;
        ck_assert_fails(ck_model_load(files[i], &m), CK_ERR_FORMAT);
        assert_error_has("global heap");
    }
    /* keras2c_model.h5 with one byte of a continuation length changed:
     * libhdf5 asked malloc for 512 TiB. */
    ck_model *m = NULL;
    ck_assert_fails(ck_model_load(RAW_CORPUS "crash_continuation_size.h5", &m), CK_ERR_FORMAT);
    assert_error_has("object header continuation at byte 6592 lies past its end");
    /* The same file with the dataspace size of its first attribute made
     * 47,128 bytes: libhdf5 read past the message. */
    ck_assert_fails(ck_model_load(RAW_CORPUS "crash_attribute_size.h5", &m), CK_ERR_FORMAT);
    assert_error_has("attribute message at byte 1808 declares more than it holds");
    /* ...and with an object header's first block made 7 MiB long: libhdf5
     * failed leaving objects open, a leak and a message at exit. */
    ck_assert_fails(ck_model_load(RAW_CORPUS "leak_object_header_size.h5", &m), CK_ERR_FORMAT);
    assert_error_has("object header at byte 27352 runs past its end");
    /* A Keras 3 weights file whose last object header's block was made
     * 303 bytes, not a multiple of 8, running past the end: the same. */
    ck_model *w = tiny_model();
    ck_assert_fails(ck_model_load_weights(w, RAW_CORPUS "leak_object_header_odd_size.weights.h5"),
                    CK_ERR_FORMAT);
    assert_error_has("object header at byte 13240 runs past its end");
    ck_model_free(w);
    /* ...and with the length of its keras_version string, or the size of
     * a string's character, made gigabytes: libhdf5 cleared that much
     * memory before reading the string, for minutes. */
    /* ...or model_config's datatype made an enumeration of garbage
     * members: libhdf5 read past the message copying them. And a tf.keras
     * file whose second weight name points at no heap object: libhdf5
     * leaked the first name it had read. */
    const char *vlen[] = {RAW_CORPUS "hang_vlen_length.h5", RAW_CORPUS "hang_vlen_base_size.h5",
                          RAW_CORPUS "crash_attribute_enum.h5",
                          RAW_CORPUS "leak_vlen_array_address.h5"};
    const char *where[] = {"at byte 824 declares", "at byte 824 declares", "at byte 976 declares",
                           "at byte 7528 declares"};
    for (int i = 0; i < 4; i++) {
        ck_assert_fails(ck_model_load(vlen[i], &m), CK_ERR_FORMAT);
        assert_error_has(where[i]);
    }
}
END_TEST

/* bool_y.h5 with the first block of its root group's object header made
 * 177 bytes, so H5Fopen fails. libhdf5 kept the failure on the calling
 * thread's error stack; a thread that ended with one leaked its entries,
 * and they kept libhdf5 from closing at exit ("infinite loop closing
 * library" after `ckeras predict M FILE.h5:/y`, which reads on a thread).
 * Every entry point leaves the stack empty. */
START_TEST(failed_loads_leave_no_hdf5_error_stack)
{
    const char *bad = RAW_CORPUS "leak_thread_error_stack.h5";
    ck_tensor t;
    ck_assert_fails(ck_h5_read_array(bad, "/y", &t), CK_ERR_FORMAT);
    assert_error_has("is a corrupt or truncated HDF5 file");
    ck_assert_int_eq(H5Eget_num(H5E_DEFAULT), 0);
    ck_model *m = NULL;
    ck_assert_fails(ck_model_load(bad, &m), CK_ERR_FORMAT);
    assert_error_has("is a corrupt or truncated HDF5 file");
    ck_assert_int_eq(H5Eget_num(H5E_DEFAULT), 0);
    ck_model *w = tiny_model();
    ck_assert_fails(ck_model_load_weights(w, bad), CK_ERR_FORMAT);
    ck_assert_int_eq(H5Eget_num(H5E_DEFAULT), 0);
    ck_model_free(w);
    ck_assert_ptr_null(ck_file_describe(bad));
    ck_assert_int_eq(H5Eget_num(H5E_DEFAULT), 0);
}
END_TEST

/* ---------------------------------------------------------------- JSON */

START_TEST(json_nesting_limit_named)
{
    size_t depth = 1200;
    char *json = malloc(2 * depth + 1);
    ck_assert_ptr_nonnull(json);
    memset(json, '[', depth);
    memset(json + depth, ']', depth);
    json[2 * depth] = '\0';
    ck_model *m = NULL;
    ck_assert_fails(ck_model_from_json(json, &m), CK_ERR_FORMAT);
    assert_error_has("more than 1000 levels deep");
    free(json);
    ck_assert_fails(ck_model_from_json("{\"class_name\": ", &m), CK_ERR_FORMAT);
    assert_error_has("model JSON is not valid JSON");
}
END_TEST

static void replace_string_attr(hid_t obj, const char *name, const char *value)
{
    ck_assert_int_ge(H5Adelete(obj, name), 0);
    ck_assert_ok(ck_h5_write_string(obj, name, value));
}

START_TEST(json_errors_name_their_subject)
{
    ck_test_make_dir("ckios");
    ck_model *m = tiny_model();
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_sgd(), .loss = "mse"));
    ck_assert_ok(ck_model_save(m, ck_test_path("m.h5")));
    hid_t f = H5Fopen(ck_test_path("m.h5"), H5F_ACC_RDWR, H5P_DEFAULT);
    ck_assert_int_ge(f, 0);
    replace_string_attr(f, "training_config", "{\"loss\": ");
    H5Fclose(f);
    ck_model *back = NULL;
    ck_assert_fails(ck_model_load(ck_test_path("m.h5"), &back), CK_ERR_FORMAT);
    assert_error_has("training_config is not valid JSON");
    ck_model_free(m);
    ck_test_remove_dir();
}
END_TEST

/* ---------------------------------------------------------------- optimizer state */

/* Adam trained for one step, saved to path. */
static void save_trained(const char *path)
{
    ck_model *m = tiny_model();
    ck_assert_ok(ck_model_compile(m, .optimizer = ck_adam(), .loss = "mse"));
    float x[8] = {1, 2, 3, 4, 5, 6, 7, 8}, y[4] = {1, 0, 0, 1};
    ck_tensor tx = {.rank = 2, .dims = {2, 4}, .data = x},
              ty = {.rank = 2, .dims = {2, 2}, .data = y};
    ck_assert_ok(ck_model_fit(m, &tx, &ty, NULL, .epochs = 1, .batch_size = 2));
    ck_assert_ok(ck_model_save(m, path));
    ck_model_free(m);
}

/* Iteration count of the optimizer restored from path; 0 when fresh. */
static float restored_iterations(const char *path)
{
    ck_model *m = NULL;
    ck_assert_ok(ck_model_load(path, &m));
    float iter = ck_optimizer_slot_count(m) > 0 && m->train ? ck_test_slot(m, 0)[0] : 0;
    ck_model_free(m);
    return iter;
}

/* As tf.keras 2.11 to 2.15 write their new optimizers: by registered name,
 * "Custom>Adam", with is_legacy_optimizer false. */
static void edit_training_config(const char *path)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    ck_assert_int_ge(f, 0);
    char *text;
    ck_assert_ok(ck_h5_read_string(f, "training_config", &text));
    cJSON *tc = cJSON_Parse(text);
    free(text);
    cJSON *cfg = cJSON_GetObjectItem(cJSON_GetObjectItem(tc, "optimizer_config"), "config");
    ck_assert_ptr_nonnull(cfg);
    cJSON_AddBoolToObject(cfg, "is_legacy_optimizer", false);
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(tc, "optimizer_config"), "class_name",
                              cJSON_CreateString("Custom>Adam"));
    char *out = cJSON_PrintUnformatted(tc);
    replace_string_attr(f, "training_config", out);
    cJSON_free(out);
    cJSON_Delete(tc);
    H5Fclose(f);
}

/* Swaps the names of the first two slot arrays of the first weight (the
 * kernel's m and v have the same shape, so position alone cannot tell). */
static void swap_slot_names(const char *path)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    ck_assert_int_ge(f, 0);
    hid_t g = H5Gopen2(f, "optimizer_weights", H5P_DEFAULT);
    ck_strlist names;
    ck_assert_ok(ck_h5_read_strings(g, "weight_names", &names));
    ck_assert_int_eq(names.n, 5); /* iter, m kernel, m bias, v kernel, v bias */
    char *t = names.items[1];
    names.items[1] = names.items[3];
    names.items[3] = t;
    ck_assert_int_ge(H5Adelete(g, "weight_names"), 0);
    ck_assert_ok(ck_h5_write_strings(g, "weight_names", (const char *const *)names.items, names.n));
    ck_strlist_free(&names);
    H5Gclose(g);
    H5Fclose(f);
}

START_TEST(optimizer_layout_checked)
{
    ck_test_make_dir("ckios");
    save_trained(ck_test_path("m.h5"));
    ck_assert_float_eq(restored_iterations(ck_test_path("m.h5")), 1.0f);
    save_trained(ck_test_path("new.h5"));
    edit_training_config(ck_test_path("new.h5"));
    ck_assert_float_eq(restored_iterations(ck_test_path("new.h5")), 0.0f);
    ck_model *tf = NULL;
    ck_compile_options co;
    ck_assert_ok(ck_model_load(ck_test_path("new.h5"), &tf));
    ck_assert_ok(ck_model_get_compile_options(tf, &co));
    ck_assert_str_eq(co.optimizer.name, "Adam");
    ck_model_free(tf);
    save_trained(ck_test_path("swapped.h5"));
    swap_slot_names(ck_test_path("swapped.h5"));
    ck_assert_float_eq(restored_iterations(ck_test_path("swapped.h5")), 0.0f);
    /* A refused state leaves no zeroed state behind to be saved as real,
     * and the warnings say why, as Keras warns that it starts fresh. */
    ck_model *m = NULL;
    ck_assert_ok(ck_model_load(ck_test_path("swapped.h5"), &m));
    ck_assert_int_eq(ck_optimizer_slot_count(m), 0);
    ck_assert_str_eq(ck_model_warnings(m),
                     "saved optimizer state not used, the optimizer starts fresh: optimizer weight "
                     "1 is 'Adam/dense/kernel/v:0', expected 'Adam/dense/kernel/m:0'\n");
    ck_model_free(m);
    ck_test_remove_dir();
}
END_TEST

#define ITER "optimizer_weights/Adam/iter:0"

/* Replaces the saved iteration count in path with an int64 or a float. */
static void replace_count(const char *path, bool integer, int64_t i, float f)
{
    hid_t file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    ck_assert_int_ge(file, 0);
    ck_assert_int_ge(H5Ldelete(file, ITER, H5P_DEFAULT), 0);
    if (integer)
        ck_assert_ok(ck_h5_write_int64(file, ITER, i));
    else
        ck_assert_ok(ck_h5_write_floats(file, ITER, 0, NULL, &f));
    H5Fclose(file);
}

/* Keras counts steps in an int64 (a float before 2.0.8): a count below
 * 0, not whole, or past 2^53, where the double of the update stops
 * counting exactly, is none Keras saved. Taken as 0 it would restart
 * Adam's bias correction under moments of many steps: the state is
 * refused, the optimizer starts fresh and the warning names the count. */
START_TEST(hostile_iteration_count_refused)
{
    const struct {
        bool integer;
        int64_t i;
        float f;
        const char *why;
    } cases[] = {
        {true, -3, 0, "optimizer iterations is -3 (" ITER ")"},
        {false, 0, -1.0f, "optimizer iterations is -1 (" ITER ")"},
        {false, 0, 2.5f, "optimizer iterations is 2.5 (" ITER ")"},
        {false, 0, NAN, "weight 'Adam/iter:0': value #0 is NaN"},
        {true, (INT64_C(1) << 53) + 1, 0, "optimizer iterations is 9007199254740993 (" ITER ")"},
        {true, INT64_MAX, 0, "optimizer iterations is 9223372036854775807 (" ITER ")"},
        {false, 0, 1e30f, "optimizer iterations is 1.0000000150474662e+30 (" ITER ")"},
    };
    ck_test_make_dir("ckios");
    const char *path = ck_test_path("m.h5");
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        save_trained(path);
        replace_count(path, cases[c].integer, cases[c].i, cases[c].f);
        ck_model *m = NULL;
        ck_assert_ok(ck_model_load(path, &m));
        ck_assert_int_eq(ck_optimizer_slot_count(m), 0);
        int64_t n = -1;
        ck_assert_ok(ck_model_get_iterations(m, &n));
        ck_assert_int_eq(n, 0);
        ck_assert_msg(strstr(ck_model_warnings(m), cases[c].why), "case %zu: %s", c,
                      ck_model_warnings(m));
        ck_model_free(m);
    }
    ck_test_remove_dir();
}
END_TEST

/* Counts Keras could have saved load as they are, past float32's 2^24 and
 * up to 2^53; a whole float as Keras before 2.0.8 wrote it too. */
START_TEST(valid_iteration_counts_load_exactly)
{
    const int64_t counts[] = {0, 1, 123456789, INT64_C(1) << 40 | 1, INT64_C(1) << 53};
    ck_test_make_dir("ckios");
    const char *path = ck_test_path("m.h5");
    for (size_t c = 0; c <= sizeof counts / sizeof counts[0]; c++) {
        bool integer = c < sizeof counts / sizeof counts[0];
        save_trained(path);
        replace_count(path, integer, integer ? counts[c] : 0, 16777216.0f);
        ck_model *m = NULL;
        ck_assert_ok(ck_model_load(path, &m));
        ck_assert_int_eq(ck_optimizer_slot_count(m), 5);
        int64_t n = -1;
        ck_assert_ok(ck_model_get_iterations(m, &n));
        ck_assert_int_eq(n, (integer ? counts[c] : 16777216));
        ck_assert_str_eq(ck_model_warnings(m), "");
        ck_model_free(m);
    }
    ck_test_remove_dir();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("io_safety");
    TCase *tc = tcase_create("io_safety");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, read_array_values_and_errors);
    tcase_add_test(tc, read_array_corrupt_dataset);
    tcase_add_test(tc, read_array_missing_filter);
    tcase_add_test(tc, read_array_h5py_bool);
    tcase_add_test(tc, read_array_with_every_attribute_kind);
    tcase_add_test(tc, read_array_unwritten_dataset);
    tcase_add_test(tc, external_and_soft_links_refused);
    tcase_add_test(tc, write_rank_is_checked);
    tcase_add_test(tc, new_files_follow_umask);
    tcase_add_test(tc, save_through_symlink_keeps_link);
    tcase_add_test(tc, npy_write_replaces_atomically);
    tcase_add_test(tc, devices_and_oversized_files_refused);
    tcase_add_test(tc, zip_member_size_must_be_plausible);
    tcase_add_test(tc, lazy_library_named_when_missing);
    tcase_add_test(tc, gcol_bytes_in_float_data_accepted);
    tcase_add_test(tc, reference_bits_in_float_data_accepted);
    tcase_add_test(tc, heap_corpus_still_refused);
    tcase_add_test(tc, failed_loads_leave_no_hdf5_error_stack);
    tcase_add_test(tc, json_nesting_limit_named);
    tcase_add_test(tc, json_errors_name_their_subject);
    tcase_add_test(tc, optimizer_layout_checked);
    tcase_add_test(tc, hostile_iteration_count_refused);
    tcase_add_test(tc, valid_iteration_counts_load_exactly);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ck_test_run(suite());
}
