/* The one door to BLAS (src/core/blas.c): every matrix product of the
 * library goes through these functions. All matrices are row-major; lda,
 * ldb and ldc are row strides. Products large enough to gain from it are
 * split over the thread pool (ck_pool.h) in pieces that do not depend on
 * the thread count, so results are the same for any ck_set_num_threads. */
#ifndef CK_BLAS_H
#define CK_BLAS_H

#include "ckeras.h"

/* Sets OpenBLAS to one thread, once: the pool is ckeras's only source of
 * threads. Every OpenBLAS or LAPACK call runs after it (the products
 * below call it themselves). */
void ck_blas_start(void);

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

#endif
