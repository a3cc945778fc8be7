#include "ck_blas.h"

#include <cblas.h>
#include <ctype.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

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
