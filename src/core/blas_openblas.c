/* No packing backend (CK_BLAS_BACKEND=openblas, or libxsmm not found):
 * a packed matrix is the matrix where it is, and every product is an
 * OpenBLAS call that packs its operands itself. */
#include "ck_blas_backend.h"

const char *ck_backend_name(void)
{
    return "no packing backend";
}

void ck_backend_start(void)
{
}

ck_status ck_backend_pack(ck_packed *p)
{
    p->impl = NULL;
    return CK_OK;
}

void ck_backend_free(ck_packed *p)
{
    p->impl = NULL;
}

bool ck_backend_gemm(ck_packed *p, int M, const float *A, int lda, float beta, float *C, int ldc)
{
    (void)p, (void)M, (void)A, (void)lda, (void)beta, (void)C, (void)ldc;
    return false;
}

bool ck_backend_gemm_direct(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                            float beta, float *C, int ldc)
{
    (void)M, (void)N, (void)K, (void)A, (void)lda, (void)B, (void)ldb, (void)beta, (void)C,
        (void)ldc;
    return false;
}

void ck_backend_prepare(ck_packed *p, int M, int lda, float beta, int ldc)
{
    (void)p, (void)M, (void)lda, (void)beta, (void)ldc;
}
