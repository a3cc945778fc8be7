/* What blas.c asks of the packing backend, one file chosen at build time
 * (CK_BLAS_BACKEND): blas_xsmm.c (libxsmm's JIT kernels) or
 * blas_openblas.c (none: every product stays an OpenBLAS call). */
#ifndef CK_BLAS_BACKEND_H
#define CK_BLAS_BACKEND_H

#include "ck_blas.h"

/* The backend's name for ck_blas_backend(). */
const char *ck_backend_name(void);
/* Copies p's matrix (p->B, K, N, ld, trans are set) into p->impl, or
 * leaves p->impl NULL when the backend does not take this matrix. */
/* Does the backend's one-time start (libxsmm maps its code registry);
 * ck_backend_pack does it too. Any thread, any number of times. */
void ck_backend_start(void);
ck_status ck_backend_pack(ck_packed *p);
void ck_backend_free(ck_packed *p);
/* Runs C = A . op(B) + beta C with p->impl; false when the backend cannot
 * run this product (OpenBLAS then does). */
bool ck_backend_gemm(ck_packed *p, int M, const float *A, int lda, float beta, float *C, int ldc);
/* Runs C = A . B + beta C (all row-major, A at most 64 rows) on B where
 * it is, over the pool when that pays; false, with C untouched, when the
 * backend cannot. */
bool ck_backend_gemm_direct(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                            float beta, float *C, int ldc);
/* ck_gemm_packed_prepare for the backend. */
void ck_backend_prepare(ck_packed *p, int M, int lda, float beta, int ldc);

/* Whether a product of this size gains from being split over threads
 * (estimated single-thread time above the threshold measured in
 * docs/performance.md). */
bool ck_blas_worth_splitting(int M, int N, int K);

#endif
