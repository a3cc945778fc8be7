#define _XOPEN_SOURCE 700 /* nftw */
#define _DEFAULT_SOURCE   /* MAP_ANONYMOUS */

#include "ck_test.h"

#include "ck_internal.h"
#include "ck_io.h"

#include <hdf5.h>
#include <dirent.h>
#include <ftw.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* The number of skipped checks, in memory that Check's forked tests share
 * with the runner. Mapped before the runner forks (ck_test_run). */
static int *skip_count(void)
{
    static int *count;
    static int fallback;
    if (!count) {
        void *p = mmap(NULL, sizeof *count, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
                       0);
        count = p == MAP_FAILED ? &fallback : p;
    }
    return count;
}

void ck_test_skip(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("SKIP: ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    __atomic_add_fetch(skip_count(), 1, __ATOMIC_SEQ_CST);
}

const char *ck_test_shared(const char *relative)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/%s", CK_SHARED_DIR, relative);
    if (access(path, R_OK) != 0) {
        ck_test_skip("%s is absent (shared material not available)", path);
        return NULL;
    }
    return path;
}

void ck_test_write_string_attr(int64_t obj, const char *name, const char *text, size_t len)
{
    hid_t t = H5Tcopy(H5T_C_S1), s = H5Screate(H5S_SCALAR);
    H5Tset_size(t, len);
    hid_t a = H5Acreate2((hid_t)obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(a, 0);
    ck_assert_int_ge(H5Awrite(a, t, text), 0);
    H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
}

size_t ck_test_read_h5(const char *path, const char *dataset, float **data, int *rank,
                       long long dims[6])
{
    size_t n = 0;
    *data = NULL;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0)
        return 0;
    hid_t d = H5Dopen2(f, dataset, H5P_DEFAULT);
    if (d >= 0) {
        hid_t sp = H5Dget_space(d);
        hsize_t hd[6] = {0};
        int r = H5Sget_simple_extent_ndims(sp);
        if (r >= 0 && r <= 6) {
            H5Sget_simple_extent_dims(sp, hd, NULL);
            n = 1;
            for (int i = 0; i < r; i++) {
                dims[i] = (long long)hd[i];
                n *= hd[i];
            }
            *rank = r;
            *data = malloc(n * sizeof(float) + 1);
            if (!*data || H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, *data) < 0) {
                free(*data);
                *data = NULL;
                n = 0;
            }
        }
        H5Sclose(sp);
        H5Dclose(d);
    }
    H5Fclose(f);
    return n;
}

int ck_test_run(Suite *suite)
{
    int *skipped = skip_count();
    SRunner *sr = srunner_create(suite);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (failed)
        return EXIT_FAILURE;
    if (__atomic_load_n(skipped, __ATOMIC_SEQ_CST)) {
        printf("%d check(s) skipped: exiting %d, ctest's skip code\n", *skipped, CK_TEST_SKIP);
        return CK_TEST_SKIP;
    }
    return EXIT_SUCCESS;
}

static char scratch_dir[64];

void ck_test_make_dir(const char *prefix)
{
    snprintf(scratch_dir, sizeof scratch_dir, "/tmp/%s-XXXXXX", prefix);
    ck_assert_ptr_nonnull(mkdtemp(scratch_dir));
}

const char *ck_test_path(const char *name)
{
    static char paths[8][512];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 512, "%s/%s", scratch_dir, name);
    return p;
}

void ck_test_scratch_fixture(void)
{
    ck_test_make_dir("cktest");
}

int ck_test_count_temp_files(void)
{
    DIR *d = opendir(scratch_dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strstr(e->d_name, ".tmp-") != NULL;
    closedir(d);
    return n;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

void ck_test_remove_dir(void)
{
    nftw(scratch_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *ck_test_pathf(const char *fmt, ...)
{
    char rel[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rel, sizeof rel, fmt, ap);
    va_end(ap);
    return ck_test_path(rel);
}

float *ck_test_slot(ck_model *m, int i)
{
    const char *name;
    float *data;
    int rank;
    int64_t dims[4];
    ck_assert_ok(ck_optimizer_slot(m, i, &name, &data, &rank, dims));
    return data;
}

char *ck_test_summary(ck_model *m, ck_summary_style style)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    ck_assert_ok(ck_model_summary(m, f, style));
    fclose(f);
    return buf;
}

void ck_test_write_npy_f64(const char *path, const double *v, int n)
{
    char header[128];
    int len = snprintf(header, sizeof header,
                       "{'descr': '<f8', 'fortran_order': False, 'shape': (%d,), }", n);
    while ((len + 11) % 64 != 0)
        header[len++] = ' ';
    header[len++] = '\n';
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)len, 0};
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fwrite(pre, 1, sizeof pre, f), sizeof pre);
    ck_assert_int_eq(fwrite(header, 1, (size_t)len, f), (size_t)len);
    /* The test hosts are little-endian. */
    ck_assert_int_eq(fwrite(v, sizeof *v, (size_t)n, f), (size_t)n);
    fclose(f);
}

/* One attempt: the status of the first step that fails. */
static ck_status train_once(ck_test_layers_fn make, const ck_tensor *x, const ck_tensor *dy)
{
    ck_layer *layers[32];
    int n = make(layers, 32);
    ck_input_options in = {0};
    for (int i = 1; i < x->rank; i++)
        in.shape[i - 1] = x->dims[i];
    ck_model *m = ck_sequential();
    ck_status st = m ? ck_model_add(m, ck_input_new(&in)) : CK_ERR_MEMORY;
    for (int i = 0; i < n; i++)
        st = st == CK_OK ? ck_model_add(m, layers[i]) : (ck_layer_free(layers[i]), st);
    if (st == CK_OK)
        st = ck_model_build(m);
    if (st == CK_OK)
        st = ck_model_forward(m, x, true);
    if (st == CK_OK)
        st = ck_model_backward(m, dy);
    ck_model_free(m);
    return st;
}

void ck_test_survives_alloc_failures(ck_test_layers_fn make, const ck_tensor *x,
                                     const ck_tensor *dy, long max_allocs)
{
    for (long n = 1; n < max_allocs; n++) {
        ck_debug_fail_alloc_after(n);
        ck_status st = train_once(make, x, dy);
        ck_debug_fail_alloc_after(0);
        if (st == CK_OK)
            return;
        ck_assert_msg(st == CK_ERR_MEMORY, "allocation #%ld: %s", n, ck_last_error());
    }
    ck_abort_msg("the model kept failing");
}
