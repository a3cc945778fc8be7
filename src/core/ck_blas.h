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

/* One product of ck_gemm_group, as the three functions above take it:
 * ta means A is stored K x M, tb that B is stored N x K. */
typedef struct ck_gemm_op {
    bool ta, tb;
    int M, N, K;
    const float *A;
    int lda;
    const float *B;
    int ldb;
    float beta;
    float *C;
    int ldc;
} ck_gemm_op;

/* The products of ck_gemm_tn and ck_gemm_nt, as ops. */
static inline ck_gemm_op ck_gemm_op_tn(int M, int N, int K, const float *A, int lda, const float *B,
                                       int ldb, float beta, float *C, int ldc)
{
    return (ck_gemm_op){true, false, M, N, K, A, lda, B, ldb, beta, C, ldc};
}

static inline ck_gemm_op ck_gemm_op_nt(int M, int N, int K, const float *A, int lda, const float *B,
                                       int ldb, float beta, float *C, int ldc)
{
    return (ck_gemm_op){false, true, M, N, K, A, lda, B, ldb, beta, C, ldc};
}

#define CK_GEMM_GROUP_MAX 4

/* Runs n <= CK_GEMM_GROUP_MAX products that write disjoint memory and
 * read none of it, side by side: their pieces share the pool. A layer's
 * weight and input gradients, each too small to split well, then take as
 * long as the longest of them on two threads instead of their sum. Each
 * product is cut as it would be alone, so the results are the same. */
void ck_gemm_group(const ck_gemm_op *ops, int n);

/* CK_OK when OpenBLAS can work on this thread; CK_ERR_MEMORY (instead of
 * OpenBLAS hanging) when its work buffer would not fit. Call before the
 * first BLAS or LAPACK call of a model operation. */
ck_status ck_blas_ready(void);

/* A weight matrix held for many products with different left operands
 * (the per-step recurrent products, small-batch projections): op(B) is
 * K x N, B itself (ld its row stride) or, when trans, B^T with B stored
 * N x K. With a packing backend (CK_BLAS_BACKEND) the matrix is copied
 * once into that backend's layout, so no product re-packs it; without
 * one, products use B where it is. Either way B must stay valid and
 * unchanged while the packed form is used. Zero-initialise before the
 * first ck_pack. */
typedef struct ck_packed {
    const float *B;
    int K, N, ld;
    bool trans;
    unsigned long version; /* the owner's version of B (ck_layer_pack) */
    bool fallback;         /* packed while the fallback was forced */
    void *impl;            /* the backend's copy; NULL: products use B */
} ck_packed;

/* Holds op(B) in p, replacing what p held. CK_ERR_MEMORY leaves p empty. */
ck_status ck_pack(ck_packed *p, const float *B, int K, int N, int ld, bool trans);
/* Whether p holds exactly this matrix, as the current backend wants it. */
bool ck_packed_holds(const ck_packed *p, const float *B, int K, int N, int ld, bool trans);
/* C (M x N) = A (M x K) . op(B) + beta C, beta 0 or 1. */
void ck_gemm_packed(int M, const float *A, int lda, ck_packed *p, float beta, float *C, int ldc);
/* Makes ready what ck_gemm_packed would make on its first call of this
 * form (a backend's kernels), so that threads may then run products of
 * the form on p at the same time: ck_gemm_packed changes p only there. */
void ck_gemm_packed_prepare(ck_packed *p, int M, int lda, float beta, int ldc);
void ck_packed_free(ck_packed *p);
/* Whether a product of `rows` rows should use a packed copy of its
 * weight, when the copy serves this one product only (training: the
 * weights change after every step) or many (inference). The per-step
 * recurrent products always pack: T products share one copy. */
bool ck_pack_pays(int rows, bool one_use);

/* Test hook: while on, products ignore the backend and run the OpenBLAS
 * calls, so both paths can be compared in one process. */
void ck_blas_force_fallback(bool on);

#endif
