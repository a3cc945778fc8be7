/* The one door to BLAS (src/core/blas.c): every matrix product of the
 * library goes through these functions, so another backend replaces one
 * file. All matrices are row-major; lda, ldb and ldc are row strides. */
#ifndef CK_BLAS_H
#define CK_BLAS_H

#include "ckeras.h"

/* C (M x N) = A (M x K) . B (K x N) + beta C. One-row products go to sgemv
 * where that is faster. */
void ck_gemm(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float beta,
             float *C, int ldc);
/* C (M x N) = A^T . B + beta C, with A stored as K x M (weight gradients). */
void ck_gemm_tn(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float beta,
                float *C, int ldc);
/* C (M x N) = A . B^T + beta C, with B stored as N x K (input gradients). */
void ck_gemm_nt(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float beta,
                float *C, int ldc);

/* CK_OK when OpenBLAS can work on this thread; CK_ERR_MEMORY (instead of
 * OpenBLAS hanging) when its work buffer would not fit. Call before the
 * first BLAS or LAPACK call of a model operation. */
ck_status ck_blas_ready(void);

#endif
