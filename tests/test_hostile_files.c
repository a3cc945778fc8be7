/* Crafted hostile files, each made here from a valid save: special files
 * instead of files, flooded and padded HDF5 files, zip bombs and ambiguous
 * archives, datasets whose values live elsewhere, JSON with bytes after
 * it, and a whole-model file with two sets of weights. Cases that used to
 * hang run in a child process with a deadline; the zip bomb runs under an
 * address-space limit. */
#include "ck_test.h"

#include "ck_internal.h"
#include "ck_io.h"
#include "ck_npy.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zip.h>

static void assert_error_has(const char *needle)
{
    ck_assert_msg(strstr(ck_last_error(), needle), "error lacks '%s': %s", needle, ck_last_error());
}

static ck_model *small_model(uint64_t seed)
{
    ck_model *m = ck_sequential(.seed = seed);
    ck_assert_ok(ck_model_add(m, ck_input(3)));
    ck_assert_ok(ck_model_add(m, ck_dense(4, .activation = "tanh")));
    ck_assert_ok(ck_model_add(m, ck_dense(2)));
    ck_assert_ok(ck_model_build(m));
    return m;
}

static void predict_one(ck_model *m, float y[2])
{
    ck_assert_ok(ck_model_predict(m, (const float[]){0.5f, -1.0f, 2.0f}, 1, y));
}

/* ---------------------------------------------------------------- bytes */

/* Offsets of up to `max` places where `needle` occurs in buf. */
static int find_all(const unsigned char *buf, size_t n, const char *needle, size_t *at, int max)
{
    int found = 0;
    size_t len = strlen(needle);
    for (size_t i = 0; i + len <= n && found < max; i++)
        if (memcmp(buf + i, needle, len) == 0)
            at[found++] = i;
    return found;
}

static size_t slurp(const char *path, unsigned char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    ck_assert_uint_lt(n, cap);
    return n;
}

static void spill(const char *path, const unsigned char *buf, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(buf, 1, n, f), n);
    fclose(f);
}

/* ---------------------------------------------------------------- deadlines */

/* Runs fn in a child that SIGALRM ends after `seconds`; fn returns 0 when
 * every check held, else the number of the failed one. */
static void run_within(int (*fn)(void), unsigned seconds, const char *what)
{
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        alarm(seconds);
        _exit(fn());
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(!(WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM), "%s took more than %u s",
                  what, seconds);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: check %d failed (status %d)",
                  what, WIFEXITED(status) ? WEXITSTATUS(status) : -1, status);
}

static int refused(ck_status got, ck_status want, const char *needle)
{
    if (got != want || !strstr(ck_last_error(), needle)) {
        fprintf(stderr, "got %s: %s (wanted %s, '%s')\n", ck_status_name(got), ck_last_error(),
                ck_status_name(want), needle);
        return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------- special files */

static int read_every_way_from_fifo(void)
{
    const char *fifo = ck_test_path("pipe"), *fifo_keras = ck_test_path("pipe.keras");
    ck_model *m = NULL, *small = small_model(1);
    ck_tensor t;
    char *text;
    size_t len;
    int bad = 0;
    bad += refused(ck_model_load(fifo, &m), CK_ERR_IO, "is a FIFO");
    bad += refused(ck_model_load(fifo_keras, &m), CK_ERR_IO, "is a FIFO");
    bad += refused(ck_model_load_weights(small, fifo), CK_ERR_IO, "is a FIFO");
    bad += refused(ck_model_load_weights(small, fifo_keras), CK_ERR_IO, "is a FIFO");
    bad += refused(ck_npy_read(fifo, &t), CK_ERR_IO, "is a FIFO");
    bad += refused(ck_read_file(fifo, &text, &len), CK_ERR_IO, "is a FIFO");
    bad += refused(ck_h5_read_array(fifo, "/x", &t), CK_ERR_IO, "is a FIFO");
    ck_model_free(small);
    return bad;
}

START_TEST(fifo_refused_without_blocking)
{
    ck_test_make_dir("ckhost");
    ck_assert_int_eq(mkfifo(ck_test_path("pipe"), 0600), 0);
    ck_assert_int_eq(mkfifo(ck_test_path("pipe.keras"), 0600), 0);
    run_within(read_every_way_from_fifo, 10, "reading a FIFO");
    ck_test_remove_dir();
}
END_TEST

START_TEST(directory_and_device_named)
{
    ck_model *m = NULL;
    ck_assert_fails(ck_model_load("/tmp", &m), CK_ERR_IO);
    assert_error_has("is a directory");
    ck_assert_fails(ck_model_load("/dev/null", &m), CK_ERR_IO);
    assert_error_has("is a character device");
    ck_assert_ptr_null(m);
}
END_TEST

/* ---------------------------------------------------------------- flooded and padded HDF5 */

/* The superblock (version 0, as HDF5 writes by default) declares where
 * the file ends; the crafted files move that end over what they add. */
static void set_declared_end(const char *path, uint64_t end)
{
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    unsigned char sb[48];
    ck_assert_int_eq(pread(fd, sb, sizeof sb, 0), (ssize_t)sizeof sb);
    ck_assert_int_eq(sb[8], 0);
    for (int k = 0; k < 8; k++)
        sb[40 + k] = (unsigned char)(end >> (8 * k));
    ck_assert_int_eq(pwrite(fd, sb + 40, 8, 40), 8);
    close(fd);
}

/* Appends `count` minimal global heap collections (32 bytes each), every
 * other one malformed, each followed by a look-alike string reference to
 * it, and extends the declared end over them. */
static void flood_heap(const char *path, int count)
{
    FILE *f = fopen(path, "ab");
    ck_assert_ptr_nonnull(f);
    long at = ftell(f);
    for (int i = 0; i < count; i++, at += 48) {
        unsigned char c[48] = "GCOL\1";
        c[8] = 32;
        c[16] = 1; /* object 1 of size 0 */
        if (i % 2)
            c[16] = 0, c[24] = 0; /* free space of size 0: malformed */
        c[32] = 8;                /* a reference: length 8, address, index 1 */
        for (int k = 0; k < 8; k++)
            c[36 + k] = (unsigned char)((uint64_t)at >> (8 * k));
        c[44] = 1;
        ck_assert_uint_eq(fwrite(c, 1, sizeof c, f), sizeof c);
    }
    fclose(f);
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    set_declared_end(path, (uint64_t)sb.st_size);
}

static int load_flooded(void)
{
    ck_model *m = NULL;
    ck_status st = ck_model_load(ck_test_path("flood.h5"), &m);
    ck_model_free(m);
    return refused(st, CK_ERR_FORMAT, "corrupt HDF5 file");
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Loads a file within a second and 256 MiB of resident memory, whatever
 * it holds or declares; sanitizers get more. */
#ifdef CK_TEST_UNDER_SANITIZER
#define QUICK_SECONDS 3.0
#define SMALL_KIB (768 * 1024)
#else
#define QUICK_SECONDS 1.0
#define SMALL_KIB (256 * 1024)
#endif

static ck_status load_quick_and_small(const char *name, int *bad)
{
    double start = seconds_now();
    ck_model *m = NULL;
    ck_status st = ck_model_load(ck_test_path(name), &m);
    ck_model_free(m);
    double took = seconds_now() - start;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    if (took > QUICK_SECONDS || ru.ru_maxrss > SMALL_KIB) {
        fprintf(stderr, "%s took %.2f s and %ld KiB\n", name, took, ru.ru_maxrss);
        *bad = 8;
    }
    return st;
}

/* Faulting in the holes took 10 s and 2 GiB. */
static int load_padded(void)
{
    int bad = 0;
    ck_status st = load_quick_and_small("padded.h5", &bad);
    /* Zeros past the real end: libhdf5 itself reads the file fine. */
    return bad ? bad : st == CK_OK ? 0 : refused(st, CK_ERR_FORMAT, "'");
}

START_TEST(flooded_heap_screened_in_linear_time)
{
    ck_test_make_dir("ckhost");
    ck_model *m = small_model(2);
    ck_assert_ok(ck_model_save(m, ck_test_path("flood.h5")));
    ck_model_free(m);
    flood_heap(ck_test_path("flood.h5"), 16384); /* 768 KiB, as in the report */
    run_within(load_flooded, 5, "screening a flooded global heap");
    ck_test_remove_dir();
}
END_TEST

static int load_flooded_keras(void)
{
    ck_model *m = NULL;
    ck_status st = ck_model_load(ck_test_path("flood.keras"), &m);
    ck_model_free(m);
    return refused(st, CK_ERR_FORMAT, "corrupt HDF5 file");
}

/* Makes the first local heap with a free block in the file at path list
 * that block as its own successor; 0 when no heap has a free block. */
static int loop_local_heap_free_list(const char *path)
{
    static unsigned char b[1 << 16];
    size_t n = slurp(path, b, sizeof b), at[16];
    int heaps = find_all(b, n, "HEAP", at, 16), looped = 0;
    for (int i = 0; i < heaps && !looped; i++) {
        uint64_t f[3]; /* segment size, first free block, segment address */
        if (at[i] + 32 > n || b[at[i] + 4] != 0)
            continue;
        memcpy(f, b + at[i] + 8, sizeof f); /* little-endian host, as the file */
        if (f[1] == 1 || f[2] + f[0] > n || f[1] + 16 > f[0])
            continue;
        memcpy(b + f[2] + f[1], &f[1], 8);
        looped = 1;
    }
    spill(path, b, n);
    return looped;
}

static int load_looped_heap(void)
{
    ck_model *m = NULL;
    ck_status st = ck_model_load(ck_test_path("loop.h5"), &m);
    ck_model_free(m);
    return refused(st, CK_ERR_FORMAT, "free list that loops");
}

/* libhdf5 1.10 followed a local heap's free list that comes back on
 * itself for ever, allocating all the while (found by fuzz_h5_weights). */
START_TEST(local_heap_free_list_loop_refused)
{
    ck_test_make_dir("ckhost");
    ck_model *m = small_model(3);
    ck_assert_ok(ck_model_save(m, ck_test_path("loop.h5")));
    ck_model_free(m);
    ck_assert_int_eq(loop_local_heap_free_list(ck_test_path("loop.h5")), 1);
    run_within(load_looped_heap, 5, "loading a file whose local heap's free list loops");
    ck_test_remove_dir();
}
END_TEST

/* The same flood in the weights member of a .keras (screened in memory). */
START_TEST(flooded_heap_in_keras_screened_in_linear_time)
{
    ck_test_make_dir("ckhost");
    ck_model *m = small_model(15);
    const char *keras = ck_test_path("flood.keras"), *weights = ck_test_path("flood.weights.h5");
    ck_assert_ok(ck_model_save(m, keras));
    ck_assert_ok(ck_model_save_weights(m, weights));
    ck_model_free(m);
    flood_heap(weights, 16384);
    int err = 0;
    zip_t *za = zip_open(keras, 0, &err);
    ck_assert_ptr_nonnull(za);
    zip_source_t *src = zip_source_file(za, weights, 0, -1);
    ck_assert_ptr_nonnull(src);
    ck_assert_int_ge(zip_file_add(za, "model.weights.h5", src, ZIP_FL_OVERWRITE), 0);
    ck_assert_int_eq(zip_close(za), 0);
    run_within(load_flooded_keras, 5, "screening a flooded global heap in a .keras");
    ck_test_remove_dir();
}
END_TEST

START_TEST(sparse_file_screened_quickly)
{
    ck_test_make_dir("ckhost");
    ck_model *m = small_model(3);
    ck_assert_ok(ck_model_save(m, ck_test_path("padded.h5")));
    ck_model_free(m);
    ck_assert_int_eq(truncate(ck_test_path("padded.h5"), 2ll << 30), 0);
    run_within(load_padded, 5, "a 2 GiB sparse file");
    /* The same with the superblock declaring all of it as the file. */
    set_declared_end(ck_test_path("padded.h5"), 2ull << 30);
    run_within(load_padded, 5, "a 2 GiB sparse file declared whole");
    ck_test_remove_dir();
}
END_TEST

/* ---------------------------------------------------------------- values from elsewhere */

/* /x (2, 3) float32 whose values are stored in secret.bin (external
 * storage), and /v, a virtual dataset mapping /x of other.h5. */
static void write_foreign_datasets(const char *path)
{
    float secret[6] = {1, 2, 3, 4, 5, 6};
    FILE *s = fopen(ck_test_path("secret.bin"), "wb");
    ck_assert_ptr_nonnull(s);
    fwrite(secret, sizeof secret, 1, s);
    fclose(s);
    hid_t other = H5Fcreate(ck_test_path("other.h5"), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_ok(ck_h5_write_floats(other, "x", 2, (int64_t[]){2, 3}, secret));
    H5Fclose(other);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[2] = {2, 3};
    hid_t space = H5Screate_simple(2, dims, NULL), ext = H5Pcreate(H5P_DATASET_CREATE);
    ck_assert_int_ge(H5Pset_external(ext, ck_test_path("secret.bin"), 0, sizeof secret), 0);
    hid_t d = H5Dcreate2(f, "x", H5T_IEEE_F32LE, space, H5P_DEFAULT, ext, H5P_DEFAULT);
    ck_assert_int_ge(d, 0);
    H5Dclose(d);
    hid_t vds = H5Pcreate(H5P_DATASET_CREATE);
    ck_assert_int_ge(H5Pset_virtual(vds, space, ck_test_path("other.h5"), "/x", space), 0);
    d = H5Dcreate2(f, "v", H5T_IEEE_F32LE, space, H5P_DEFAULT, vds, H5P_DEFAULT);
    ck_assert_int_ge(d, 0);
    H5Dclose(d);
    H5Pclose(vds);
    H5Pclose(ext);
    H5Sclose(space);
    H5Fclose(f);
}

START_TEST(external_storage_and_virtual_datasets_refused)
{
    ck_test_make_dir("ckhost");
    write_foreign_datasets(ck_test_path("foreign.h5"));
    ck_tensor t;
    ck_assert_fails(ck_h5_read_array(ck_test_path("foreign.h5"), "/x", &t), CK_ERR_FORMAT);
    assert_error_has("external files");
    ck_assert_fails(ck_h5_read_array(ck_test_path("foreign.h5"), "/v", &t), CK_ERR_FORMAT);
    assert_error_has("virtual dataset");
    ck_test_remove_dir();
}
END_TEST

/* A weights file whose first kernel is replaced by one with external
 * storage: loading it must fail and leave the model's weights alone. */
START_TEST(external_weight_refused)
{
    ck_test_make_dir("ckhost");
    ck_model *m = small_model(4);
    const char *path = ck_test_path("w.h5");
    ck_assert_ok(ck_model_save_weights(m, path));
    float kernel[12] = {0};
    FILE *s = fopen(ck_test_path("kernel.bin"), "wb");
    fwrite(kernel, sizeof kernel, 1, s);
    fclose(s);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    const char *name = "dense/dense/kernel:0";
    ck_assert_int_ge(H5Ldelete(f, name, H5P_DEFAULT), 0);
    hsize_t dims[2] = {3, 4};
    hid_t space = H5Screate_simple(2, dims, NULL), ext = H5Pcreate(H5P_DATASET_CREATE);
    ck_assert_int_ge(H5Pset_external(ext, ck_test_path("kernel.bin"), 0, sizeof kernel), 0);
    hid_t d = H5Dcreate2(f, name, H5T_IEEE_F32LE, space, H5P_DEFAULT, ext, H5P_DEFAULT);
    ck_assert_int_ge(d, 0);
    H5Dclose(d);
    H5Pclose(ext);
    H5Sclose(space);
    H5Fclose(f);
    float before[2], after[2];
    predict_one(m, before);
    ck_assert_fails(ck_model_load_weights(m, path), CK_ERR_FORMAT);
    assert_error_has("external files");
    predict_one(m, after);
    ck_assert_mem_eq(before, after, sizeof before);
    ck_model_free(m);
    ck_test_remove_dir();
}
END_TEST

/* ---------------------------------------------------------------- version 2 headers */

static herr_t copy_attribute(hid_t src, const char *name, const H5A_info_t *info, void *dst)
{
    (void)info;
    hid_t a = H5Aopen(src, name, H5P_DEFAULT), t = H5Aget_type(a), s = H5Aget_space(a);
    size_t n = H5Tget_size(t) * (size_t)H5Sget_simple_extent_npoints(s);
    void *buf = calloc(n ? n : 1, 1);
    herr_t rc = H5Aread(a, t, buf);
    hid_t b = rc >= 0 ? H5Acreate2(*(hid_t *)dst, name, t, s, H5P_DEFAULT, H5P_DEFAULT) : -1;
    rc = b >= 0 ? H5Awrite(b, t, buf) : -1;
#if H5_VERSION_GE(1, 12, 0)
    H5Treclaim(t, s, H5P_DEFAULT, buf);
#else
    H5Dvlen_reclaim(t, s, H5P_DEFAULT, buf);
#endif
    free(buf);
    if (b >= 0)
        H5Aclose(b);
    H5Sclose(s);
    H5Tclose(t);
    H5Aclose(a);
    return rc;
}

static void copy_attributes(hid_t src, hid_t dst)
{
    hsize_t idx = 0;
    ck_assert_int_ge(H5Aiterate2(src, H5_INDEX_NAME, H5_ITER_INC, &idx, copy_attribute, &dst), 0);
}

static void copy_dataset(hid_t src, hid_t dst, const char *name)
{
    hid_t d = H5Dopen2(src, name, H5P_DEFAULT), t = H5Dget_type(d), s = H5Dget_space(d);
    size_t n = H5Tget_size(t) * (size_t)H5Sget_simple_extent_npoints(s);
    void *buf = calloc(n ? n : 1, 1);
    ck_assert_int_ge(H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf), 0);
    hid_t e = H5Dcreate2(dst, name, t, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(e, 0);
    ck_assert_int_ge(H5Dwrite(e, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf), 0);
    copy_attributes(d, e);
    free(buf);
    H5Dclose(e);
    H5Sclose(s);
    H5Tclose(t);
    H5Dclose(d);
}

static void copy_group(hid_t src, hid_t dst);

/* Makes each object again (H5Ocopy would keep its header's version). */
static herr_t copy_object(hid_t src, const char *name, const ck_h5_link_info *info, void *dst)
{
    (void)info;
    H5O_type_t type = H5O_TYPE_UNKNOWN;
#if H5_VERSION_GE(1, 12, 0)
    H5O_info2_t oi;
    ck_assert_int_ge(H5Oget_info_by_name3(src, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT), 0);
#else
    H5O_info_t oi;
    ck_assert_int_ge(H5Oget_info_by_name2(src, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT), 0);
#endif
    type = oi.type;
    if (type == H5O_TYPE_DATASET) {
        copy_dataset(src, *(hid_t *)dst, name);
        return 0;
    }
    hid_t from = H5Gopen2(src, name, H5P_DEFAULT),
          to = H5Gcreate2(*(hid_t *)dst, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(to, 0);
    copy_group(from, to);
    H5Gclose(to);
    H5Gclose(from);
    return 0;
}

static void copy_group(hid_t src, hid_t dst)
{
    copy_attributes(src, dst);
    hsize_t idx = 0;
    ck_assert_int_ge(H5Literate(src, H5_INDEX_NAME, H5_ITER_INC, &idx, copy_object, &dst), 0);
}

/* The weights file `from` made again as `to` in libhdf5's newest format:
 * version 2 object headers ("OHDR"), each with a checksum. The first
 * layer's group gets attributes last, so some of its header lives in a
 * continuation block ("OCHK"). */
static void copy_as_version_2(const char *from, const char *to)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    ck_assert_int_ge(H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST), 0);
    hid_t src = H5Fopen(from, H5F_ACC_RDONLY, H5P_DEFAULT),
          dst = H5Fcreate(to, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    copy_group(src, dst);
    hid_t g = H5Gopen2(dst, "dense", H5P_DEFAULT);
    char text[200];
    memset(text, 'x', sizeof text);
    for (int i = 0; i < 20; i++) {
        char name[16];
        snprintf(name, sizeof name, "note_%d", i);
        ck_test_write_string_attr(g, name, text, sizeof text);
    }
    H5Gclose(g);
    H5Fclose(dst);
    H5Fclose(src);
    H5Pclose(fapl);
}

/* libhdf5's checksum of metadata (exported, not in its headers). */
extern uint32_t H5_checksum_metadata(const void *data, size_t len, uint32_t initval);

enum { NESTED_BYTES = 64 << 10, NESTED_STEP = 64 };

/* Version 2 headers nested one inside the other, each with a valid
 * checksum: a file of a few megabytes made so would be hashed gigabytes
 * over, header by header. Made small here, where writing it costs what
 * checking it would. */
static void screen_nested_headers(void)
{
    static unsigned char b[NESTED_BYTES];
    size_t n = NESTED_BYTES / (2 * NESTED_STEP);
    for (size_t i = 0; i < n; i++) {
        unsigned char *h = b + i * NESTED_STEP;
        uint64_t chunk = NESTED_BYTES - 2 * i * NESTED_STEP - 18;
        uint16_t nil = (uint16_t)(chunk - 4); /* one NIL message: the inner headers */
        memcpy(h, "OHDR\x02\x03", 6);
        memcpy(h + 6, &chunk, 8);
        memcpy(h + 15, &nil, 2);
    }
    for (size_t i = n; i-- > 0;) {
        size_t at = i * NESTED_STEP, len = NESTED_BYTES - 2 * at;
        uint32_t sum = H5_checksum_metadata(b + at, len - 4, 0);
        memcpy(b + at + len - 4, &sum, 4);
    }
    ck_assert_fails(ck_h5_screen(b, NESTED_BYTES, "nested"), CK_ERR_FORMAT);
    assert_error_has("overlaps others");
}

/* libhdf5 1.10 keeps a file open for good when a version 2 object header
 * fails its checksum ("infinite loop closing library" at exit), so the
 * screen checks every header and continuation block first. A valid file
 * in that format loads; one byte changed in any header is refused by
 * name, with the model's weights left alone; headers that claim the same
 * bytes over and over are refused. */
START_TEST(version_2_header_checksums_screened)
{
    ck_test_make_dir("ckhost");
    char w[4096], v2[4096], bad[4096];
    snprintf(w, sizeof w, "%s", ck_test_path("w.h5"));
    snprintf(v2, sizeof v2, "%s", ck_test_path("v2.h5"));
    snprintf(bad, sizeof bad, "%s", ck_test_path("bad.h5"));
    ck_model *m = small_model(5), *loaded = small_model(6);
    ck_assert_ok(ck_model_save_weights(m, w));
    copy_as_version_2(w, v2);
    ck_assert_ok(ck_model_load_weights(loaded, v2));
    float want[2], got[2];
    predict_one(m, want);
    predict_one(loaded, got);
    ck_assert_mem_eq(want, got, sizeof want);
    static unsigned char b[1 << 16];
    size_t n = slurp(v2, b, sizeof b), at[16];
    int headers = find_all(b, n, "OHDR", at, 8);
    int blocks = find_all(b, n, "OCHK", at + headers, 8);
    ck_assert_int_ge(headers, 4);
    ck_assert_int_ge(blocks, 1);
    for (int i = 0; i < headers + blocks; i++) {
        b[at[i] + 9] ^= 0x5a;
        spill(bad, b, n);
        b[at[i] + 9] ^= 0x5a;
        ck_assert_fails(ck_model_load_weights(loaded, bad), CK_ERR_FORMAT);
        assert_error_has("fails its checksum");
        predict_one(loaded, got);
        ck_assert_mem_eq(want, got, sizeof want);
    }
    ck_model_free(m);
    ck_model_free(loaded);
    screen_nested_headers();
    ck_test_remove_dir();
}
END_TEST

/* ---------------------------------------------------------------- model_config text */

/* Replaces the model_config attribute with `len` bytes of fixed-length
 * string, as h5py writes Python bytes. */
static void set_model_config(const char *path, const char *text, size_t len)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    ck_assert_int_ge(H5Adelete(f, "model_config"), 0);
    ck_test_write_string_attr(f, "model_config", text, len);
    H5Fclose(f);
}

START_TEST(model_config_must_end_with_its_json)
{
    ck_test_make_dir("ckhost");
    ck_model *m = small_model(5), *back = NULL;
    const char *path = ck_test_path("m.h5");
    ck_assert_ok(ck_model_save(m, path));
    char *json = ck_model_to_json(m);
    size_t n = strlen(json);
    char *text = calloc(n + 16, 1);
    memcpy(text, json, n);
    /* The same JSON in h5py's fixed-length form loads. */
    set_model_config(path, text, n);
    ck_assert_ok(ck_model_load(path, &back));
    ck_model_free(back);
    memcpy(text + n, " \n{\"x\": 1}", 10);
    set_model_config(path, text, n + 10);
    ck_assert_fails(ck_model_load(path, &back), CK_ERR_FORMAT);
    assert_error_has("trailing bytes after its JSON value");
    memcpy(text + n, "\0{\"x\": 1}", 9);
    set_model_config(path, text, n + 9);
    ck_assert_fails(ck_model_load(path, &back), CK_ERR_FORMAT);
    assert_error_has("NUL byte inside a string");
    ck_assert_ptr_null(back);
    free(text);
    ck_free(json);
    ck_model_free(m);
    ck_test_remove_dir();
}
END_TEST

/* Python's json keeps the last of two equal keys, cJSON the first: a
 * config with a key twice in one object (at any depth) is refused rather
 * than run with the other value. */
START_TEST(json_key_given_twice_refused)
{
    static const char form[] =
        "{\"class_name\": \"Sequential\", \"config\": {\"name\": \"s\", \"layers\": ["
        "{\"class_name\": \"InputLayer\", \"config\": {\"batch_input_shape\": [null, 3], "
        "\"name\": \"in\"}}, {\"class_name\": \"Dense\", \"config\": {\"name\": \"d\", "
        "\"units\": 2, %s\"kernel_initializer\": {\"class_name\": \"GlorotUniform\", "
        "\"config\": {%s\"seed\": 1}}}}]}}";
    const char *twice[][2] = {{"", ""},
                              {"\"activation\": \"relu\", \"activation\": \"linear\", ", ""},
                              {"", "\"seed\": 2, "}};
    for (int i = 0; i < 3; i++) {
        char json[1024];
        snprintf(json, sizeof json, form, twice[i][0], twice[i][1]);
        ck_model *m = NULL;
        if (i == 0) {
            ck_assert_ok(ck_model_from_json(json, &m));
            ck_model_free(m);
            continue;
        }
        ck_assert_fails(ck_model_from_json(json, &m), CK_ERR_FORMAT);
        ck_assert_ptr_null(m);
        assert_error_has(i == 1 ? "has the key 'activation' twice in one object"
                                : "has the key 'seed' twice in one object");
    }
    /* cJSON would end "relu\u0000x" at the NUL and run relu; Python keeps
     * it, and Keras refuses the activation. */
    char json[1024];
    snprintf(json, sizeof json, form, "\"activation\": \"relu\\u0000x\", ", "");
    ck_model *m = NULL;
    ck_assert_fails(ck_model_from_json(json, &m), CK_ERR_FORMAT);
    assert_error_has("holds an escaped NUL (\\u0000) at byte");
}
END_TEST

/* ---------------------------------------------------------------- declared sizes */

/* Input(1000) > Dense(750000): 3 GB of weights in a few bytes of JSON. */
static const char huge_config[] =
    "{\"class_name\": \"Sequential\", \"config\": {\"name\": \"huge\", \"layers\": ["
    "{\"class_name\": \"InputLayer\", \"config\": {\"batch_input_shape\": [null, 1000], "
    "\"name\": \"in\"}}, {\"class_name\": \"Dense\", \"config\": {\"name\": \"d\", "
    "\"units\": 750000}}]}}";

static int load_huge(void)
{
    int bad = 0;
    ck_status st = load_quick_and_small("huge.h5", &bad);
    bad += refused(st, CK_ERR_FORMAT, "more than its file of");
    st = load_quick_and_small("huge.keras", &bad);
    return bad + refused(st, CK_ERR_FORMAT, "more than its file of");
}

/* A whole-model file whose config declares more weights than the file can
 * hold is refused before they are allocated: the weights would come from
 * the file (summary and convert of such a file took 70 s and 3 GB). */
START_TEST(config_larger_than_its_file_refused_before_allocating)
{
    ck_test_make_dir("ckhost");
    ck_model *m = small_model(14);
    ck_assert_ok(ck_model_save(m, ck_test_path("huge.h5")));
    ck_assert_ok(ck_model_save(m, ck_test_path("huge.keras")));
    ck_model_free(m);
    set_model_config(ck_test_path("huge.h5"), huge_config, sizeof huge_config - 1);
    int err = 0;
    zip_t *za = zip_open(ck_test_path("huge.keras"), 0, &err);
    ck_assert_ptr_nonnull(za);
    zip_source_t *src = zip_source_buffer(za, huge_config, sizeof huge_config - 1, 0);
    ck_assert_int_ge(zip_file_add(za, "config.json", src, ZIP_FL_OVERWRITE), 0);
    ck_assert_int_eq(zip_close(za), 0);
    run_within(load_huge, 10, "a config declaring 3 GB in a small file");
    ck_test_remove_dir();
}
END_TEST

/* ---------------------------------------------------------------- two sets of weights */

/* A whole-model file that also holds another model's weights at the root,
 * in the weights-only layout. load_model reads /model_weights, Keras 2
 * load_weights the root (its layer_names come first). */
START_TEST(whole_model_reads_model_weights)
{
    ck_test_make_dir("ckhost");
    ck_model *a = small_model(6), *b = small_model(7);
    const char *path = ck_test_path("both.h5");
    ck_assert_ok(ck_model_save(a, path));
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    ck_assert_int_ge(H5Adelete(f, "backend"), 0);
    ck_assert_int_ge(H5Adelete(f, "keras_version"), 0);
    ck_assert_ok(ck_k2_write(f, b));
    H5Fclose(f);
    float want_a[2], want_b[2], got[2];
    predict_one(a, want_a);
    predict_one(b, want_b);
    ck_model *back = NULL;
    ck_assert_ok(ck_model_load(path, &back));
    predict_one(back, got);
    ck_assert_mem_eq(got, want_a, sizeof got);
    ck_assert_ok(ck_model_load_weights(back, path));
    predict_one(back, got);
    ck_assert_mem_eq(got, want_b, sizeof got);
    ck_model_free(back);
    ck_model_free(a);
    ck_model_free(b);
    ck_test_remove_dir();
}
END_TEST

/* ---------------------------------------------------------------- .keras archives */

static const char *saved_keras(uint64_t seed)
{
    ck_model *m = small_model(seed);
    const char *path = ck_test_path("m.keras");
    ck_assert_ok(ck_model_save(m, path));
    ck_model_free(m);
    return path;
}

START_TEST(keras_crc_mismatch_refused)
{
    ck_test_make_dir("ckhost");
    const char *path = saved_keras(8);
    static unsigned char buf[1 << 16];
    size_t n = slurp(path, buf, sizeof buf), at[4];
    /* config.json is stored: change one letter of the model's name. */
    ck_assert_int_ge(find_all(buf, n, "\"sequential\"", at, 4), 1);
    buf[at[0] + 1] = 'S';
    spill(path, buf, n);
    ck_model *m = NULL;
    ck_assert_fails(ck_model_load(path, &m), CK_ERR_FORMAT);
    assert_error_has("CRC");
    ck_test_remove_dir();
}
END_TEST

START_TEST(keras_duplicate_member_refused)
{
    ck_test_make_dir("ckhost");
    ck_model *m = small_model(9);
    const char *path = ck_test_path("dup.keras");
    ck_assert_ok(ck_model_save(m, path));
    ck_model_free(m);
    /* A second config.json, spelled config.jsoN until it is in place. */
    int err = 0;
    zip_t *za = zip_open(path, 0, &err);
    ck_assert_ptr_nonnull(za);
    static const char other[] = "{\"class_name\": \"Sequential\"}";
    zip_source_t *src = zip_source_buffer(za, other, sizeof other - 1, 0);
    ck_assert_int_ge(zip_file_add(za, "config.jsoN", src, 0), 0);
    ck_assert_int_eq(zip_close(za), 0);
    static unsigned char buf[1 << 16];
    size_t n = slurp(path, buf, sizeof buf), at[4];
    ck_assert_int_eq(find_all(buf, n, "config.jsoN", at, 4), 2);
    buf[at[0] + 10] = buf[at[1] + 10] = 'n';
    spill(path, buf, n);
    ck_assert_fails(ck_model_load(path, &m), CK_ERR_FORMAT);
    assert_error_has("more than one member");
    ck_test_remove_dir();
}
END_TEST

START_TEST(keras_encrypted_member_named)
{
    ck_test_make_dir("ckhost");
    const char *path = saved_keras(10);
    static unsigned char buf[1 << 16];
    size_t n = slurp(path, buf, sizeof buf), at[4];
    /* Set the "encrypted" bit of config.json in both headers. */
    int hits = find_all(buf, n, "config.json", at, 4);
    ck_assert_int_eq(hits, 2);
    for (int i = 0; i < hits; i++) {
        bool local = memcmp(buf + at[i] - 30, "PK\3\4", 4) == 0;
        buf[at[i] - (local ? 30 - 6 : 46 - 8)] |= 1;
    }
    spill(path, buf, n);
    ck_model *m = NULL;
    ck_assert_fails(ck_model_load(path, &m), CK_ERR_UNSUPPORTED);
    assert_error_has("is encrypted");
    ck_test_remove_dir();
}
END_TEST

START_TEST(keras_not_zip_and_truncated_named)
{
    ck_test_make_dir("ckhost");
    ck_model *m = NULL;
    const char *text = ck_test_path("text.keras");
    spill(text, (const unsigned char *)"hello", 5);
    ck_assert_fails(ck_model_load(text, &m), CK_ERR_FORMAT);
    assert_error_has("is not a Keras 3 archive");
    const char *path = saved_keras(11);
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(truncate(path, sb.st_size / 2), 0);
    ck_assert_fails(ck_model_load(path, &m), CK_ERR_FORMAT);
    assert_error_has("truncated or corrupt zip");
    ck_assert_ptr_null(m);
    ck_test_remove_dir();
}
END_TEST

/* model.weights.h5 replaced by `size` deflated zeros. */
static void write_bomb(const char *path, size_t size)
{
    int err = 0;
    zip_t *za = zip_open(path, 0, &err);
    ck_assert_ptr_nonnull(za);
    void *zeros = calloc(size, 1);
    ck_assert_ptr_nonnull(zeros);
    zip_source_t *src = zip_source_buffer(za, zeros, size, 0);
    zip_int64_t idx = zip_file_add(za, "model.weights.h5", src, ZIP_FL_OVERWRITE);
    ck_assert_int_ge(idx, 0);
    ck_assert_int_eq(zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_DEFLATE, 9), 0);
    ck_assert_int_eq(zip_close(za), 0);
    free(zeros);
}

static size_t address_space_in_use(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (f && fscanf(f, "%lu", &pages) != 1)
        pages = 0;
    if (f)
        fclose(f);
    return pages * (size_t)sysconf(_SC_PAGESIZE);
}

static int load_bomb_with_little_memory(void)
{
    /* 192 MiB more than in use now: inflating the 256 MiB member would not
     * fit, OpenBLAS's work buffer (136 MiB with slack, see ck_blas_ready)
     * does, whether or not this process has run an OpenBLAS product yet. */
    struct rlimit rl;
    rl.rlim_cur = rl.rlim_max = address_space_in_use() + (192u << 20);
    if (setrlimit(RLIMIT_AS, &rl) != 0)
        return 9;
    ck_model *m = NULL;
    int bad = refused(ck_model_load(ck_test_path("bomb.keras"), &m), CK_ERR_FORMAT,
                      "the most model");
    ck_model *w = small_model(12);
    bad += refused(ck_model_load_weights(w, ck_test_path("bomb.keras")), CK_ERR_FORMAT, "declares");
    ck_model_free(w);
    return bad;
}

START_TEST(keras_zip_bomb_refused_before_inflating)
{
    ck_test_make_dir("ckhost");
    ck_model *m = small_model(12);
    const char *path = ck_test_path("bomb.keras");
    ck_assert_ok(ck_model_save(m, path));
    ck_model_free(m);
    write_bomb(path, 256u << 20);
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_lt(sb.st_size, 1 << 20);
    run_within(load_bomb_with_little_memory, 20, "a zip bomb");
    /* The user's limit applies too, whatever the model. */
    uint64_t old = ck_set_limit(CK_LIMIT_ARCHIVE_MEMBER, 1000);
    ck_assert_fails(ck_model_load(saved_keras(13), &m), CK_ERR_FORMAT);
    assert_error_has("CK_LIMIT_ARCHIVE_MEMBER");
    ck_assert_uint_eq(ck_set_limit(CK_LIMIT_ARCHIVE_MEMBER, old), 1000);
    ck_test_remove_dir();
}
END_TEST

/* ---------------------------------------------------------------- names are data */

START_TEST(summary_escapes_names)
{
    ck_model *m = ck_sequential(.name = "evil\nckeras: error: forged\r\x1b[31m");
    ck_assert_ok(ck_model_add(m, ck_input(3)));
    ck_assert_ok(ck_model_add(m, ck_dense(2, .name = "d\x1b]0;title\x07")));
    for (int style = CK_SUMMARY_KERAS2; style <= CK_SUMMARY_KERAS2_3; style++) {
        char *text = ck_test_summary(m, (ck_summary_style)style);
        ck_assert_ptr_null(strchr(text, '\x1b'));
        ck_assert_ptr_null(strchr(text, '\r'));
        ck_assert_ptr_null(strchr(text, '\x07'));
        /* Standalone Keras 2.2.4 printed no model name. */
        if (style != CK_SUMMARY_KERAS2_2)
            ck_assert_ptr_nonnull(
                strstr(text, "Model: \"evil\\nckeras: error: forged\\r\\x1b[31m\"\n"));
        ck_assert_ptr_nonnull(strstr(text, "d\\x1b]0;title\\x07 (Dense)"));
        free(text);
    }
    ck_model_free(m);
}
END_TEST

/* The same for the graph rows of a Keras 3 Functional model with mask ops:
 * op names and the layer names in Connected to come from the config. */
START_TEST(summary_escapes_graph_rows)
{
    char *json = NULL;
    size_t len = 0;
    ck_assert_ok(
        ck_read_file("tests/data/keras_compat/k3_3_3_functional_masking.json", &json, &len));
    /* "not_equal" and "masking" take a terminal escape, everywhere. */
    const char *from[] = {"\"not_equal\"", "\"masking\""},
               *to[] = {"\"n\\u001b[31m\"", "\"m\\u0007\""};
    for (int k = 0; k < 2; k++) {
        for (char *p = strstr(json, from[k]); p; p = strstr(json, from[k])) {
            size_t a = strlen(from[k]), b = strlen(to[k]), tail = strlen(p + a);
            json = realloc(json, strlen(json) + b + 1);
            p = strstr(json, from[k]);
            memmove(p + b, p + a, tail + 1);
            memcpy(p, to[k], b);
        }
    }
    ck_model *m = NULL;
    ck_assert_ok(ck_model_from_json(json, &m));
    char *text = ck_test_summary(m, CK_SUMMARY_KERAS3);
    ck_assert_ptr_null(strchr(text, '\x1b'));
    ck_assert_ptr_null(strchr(text, '\x07'));
    ck_assert_msg(strstr(text, "│ n\\x1b[31m           │") &&
                      strstr(text, "│ n\\x1b[31m[0][0]   │") &&
                      strstr(text, "│ m\\x07[0][0],      │"),
                  "%s", text);
    free(text);
    ck_model_free(m);
    free(json);
}
END_TEST

START_TEST(model_size_limit_checked_before_allocating)
{
    uint64_t old = ck_set_limit(CK_LIMIT_MODEL_BYTES, 1000);
    ck_model *m = ck_sequential();
    ck_assert_ok(ck_model_add(m, ck_input(100)));
    ck_assert_ok(ck_model_add(m, ck_dense(100)));
    ck_assert_fails(ck_model_build(m), CK_ERR_MEMORY);
    assert_error_has("CK_LIMIT_MODEL_BYTES");
    ck_set_limit(CK_LIMIT_MODEL_BYTES, old);
    ck_assert_ok(ck_model_build(m));
    ck_model_free(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("hostile_files");
    TCase *tc = tcase_create("files");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, fifo_refused_without_blocking);
    tcase_add_test(tc, directory_and_device_named);
    tcase_add_test(tc, flooded_heap_screened_in_linear_time);
    tcase_add_test(tc, flooded_heap_in_keras_screened_in_linear_time);
    tcase_add_test(tc, local_heap_free_list_loop_refused);
    tcase_add_test(tc, sparse_file_screened_quickly);
    tcase_add_test(tc, version_2_header_checksums_screened);
    tcase_add_test(tc, external_storage_and_virtual_datasets_refused);
    tcase_add_test(tc, external_weight_refused);
    tcase_add_test(tc, model_config_must_end_with_its_json);
    tcase_add_test(tc, json_key_given_twice_refused);
    tcase_add_test(tc, config_larger_than_its_file_refused_before_allocating);
    tcase_add_test(tc, whole_model_reads_model_weights);
    tcase_add_test(tc, keras_crc_mismatch_refused);
    tcase_add_test(tc, keras_duplicate_member_refused);
    tcase_add_test(tc, keras_encrypted_member_named);
    tcase_add_test(tc, keras_not_zip_and_truncated_named);
    tcase_add_test(tc, keras_zip_bomb_refused_before_inflating);
    tcase_add_test(tc, summary_escapes_names);
    tcase_add_test(tc, summary_escapes_graph_rows);
    tcase_add_test(tc, model_size_limit_checked_before_allocating);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ck_test_run(suite());
}
