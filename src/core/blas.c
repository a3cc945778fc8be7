/* MAP_ANONYMOUS and MAP_NORESERVE are not POSIX. */
#define _DEFAULT_SOURCE
#include "ck_blas.h"
#include "ck_internal.h"

#include <cblas.h>
#include <ctype.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>

/* OpenBLAS's AVX2-and-older sgemm kernels run a one-row product several
 * times slower than sgemv; its AVX-512 kernels are faster than sgemv
 * (measured on the batch-1 LSTM workload). Ask once which kernels it loaded. */
static bool one_row_prefers_gemv(void)
{
    static atomic_int cached = -1;
    int v = atomic_load(&cached);
    if (v < 0) {
        const char *core = openblas_get_corename();
        char name[32] = "";
        for (size_t i = 0; core && core[i] && i + 1 < sizeof name; i++)
            name[i] = (char)tolower((unsigned char)core[i]);
        bool avx512 = strstr(name, "skylakex") || strstr(name, "cooperlake") ||
                      strstr(name, "sapphire");
        v = !avx512;
        atomic_store(&cached, v);
    }
    return v == 1;
}

void ck_gemm(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float beta,
             float *C, int ldc)
{
    if (M == 1 && one_row_prefers_gemv()) {
        /* sgemv may scale an uninitialised y by 0 and keep NaN bit patterns. */
        if (beta == 0.0f)
            memset(C, 0, sizeof(float) * (size_t)N);
        cblas_sgemv(CblasRowMajor, CblasTrans, K, N, 1.0f, B, ldb, A, 1, beta == 0.0f ? 1.0f : beta,
                    C, 1);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, A, lda, B, ldb, beta, C,
                ldc);
}

void ck_gemm_tn(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float beta,
                float *C, int ldc)
{
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, M, N, K, 1.0f, A, lda, B, ldb, beta, C,
                ldc);
}

void ck_gemm_nt(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float beta,
                float *C, int ldc)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, A, lda, B, ldb, beta, C,
                ldc);
}

/* OpenBLAS gives each thread that calls it a work buffer of 128 MiB of
 * address space, and when it cannot map one (ulimit -v) it retries
 * forever. Mapping as much ourselves first, once per thread, turns that
 * hang into an "out of memory" error. */
#define OPENBLAS_BUFFER (128u << 20)
#define BUFFER_SLACK (8u << 20)

ck_status ck_blas_ready(void)
{
    static _Thread_local bool ready;
    if (ready)
        return CK_OK;
    void *probe = mmap(NULL, OPENBLAS_BUFFER + BUFFER_SLACK, PROT_NONE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (probe == MAP_FAILED)
        return ck_error(CK_ERR_MEMORY,
                        "out of memory: OpenBLAS needs %u MiB of address space for "
                        "its work buffer",
                        OPENBLAS_BUFFER >> 20);
    munmap(probe, OPENBLAS_BUFFER + BUFFER_SLACK);
    ready = true;
    return CK_OK;
}
