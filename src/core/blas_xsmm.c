/* The libxsmm backend (CK_BLAS_BACKEND=xsmm, or auto when libxsmm is
 * found): a packed matrix is copied once into column panels of PANEL
 * columns, each panel K x width and contiguous, and every product runs
 * libxsmm's JIT kernels over (row block, panel) units. OpenBLAS re-packs
 * B at every call, which dominated the per-step recurrent products.
 *
 * libxsmm (1.x API) is column-major: C = A . op(B) row-major is
 * C^T = op(B)^T . A^T, so a panel is libxsmm's left operand (w x K,
 * leading dimension w) and the rows of A its right operand (K x rows,
 * leading dimension lda). A unit computes whole dot products, so results
 * do not depend on how units are spread over threads. (They may differ in
 * the last bits with the number of rows or the row stride of C: libxsmm
 * chooses its register blocking by those, as OpenBLAS's Haswell kernels
 * do by the row count.) */
#include "ck_blas_backend.h"
#include "ck_internal.h"
#include "ck_pool.h"

#include <libxsmm.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PANEL 64
#define ROWS 64 /* rows of A per kernel call */
#define KERNEL_SLOTS 4

/* The kernels of one product form: [full or last panel][full or last row block]. */
typedef struct kernel_set {
    int M, lda, ldc;
    float beta;
    libxsmm_smmfunction k[2][2];
} kernel_set;

typedef struct xsmm_pack {
    float *panels;
    size_t cap; /* floats */
    int n_panels, last_width;
    kernel_set sets[KERNEL_SLOTS];
    int n_sets, next_set;
} xsmm_pack;

const char *ck_backend_name(void)
{
    return "libxsmm " LIBXSMM_VERSION;
}

/* libxsmm_init maps its code registry (milliseconds), so it runs on the
 * first packed matrix, not when the library loads. It also creates a lock
 * file /tmp/.libxsmm.<uid> that only its exit handler removes; a process
 * that leaves without exit handlers (the command-line tool does) would
 * leave it behind. The file only marks one process per user as the one
 * that prints libxsmm's statistics, so the process that created it
 * removes it at once. */
static void start_libxsmm(void)
{
    char lock[64];
    snprintf(lock, sizeof lock, "/tmp/.libxsmm.%u", (unsigned)getuid());
    bool existed = access(lock, F_OK) == 0;
    libxsmm_init();
    if (!existed)
        unlink(lock);
}

static int panel_width(const xsmm_pack *x, int q)
{
    return q == x->n_panels - 1 ? x->last_width : PANEL;
}

static void copy_panels(const ck_packed *p, xsmm_pack *x)
{
    for (int q = 0; q < x->n_panels; q++) {
        int w = panel_width(x, q);
        float *dst = x->panels + (size_t)q * PANEL * (size_t)p->K;
        if (p->trans) {
            /* Rows q*PANEL.. of B (w x K, row stride ld) are a column-major
             * K x w matrix; its transpose is the panel. */
            libxsmm_otrans(dst, p->B + (size_t)q * PANEL * (size_t)p->ld, sizeof(float), p->K, w,
                           p->ld, w);
        } else {
            for (int k = 0; k < p->K; k++)
                memcpy(dst + (size_t)k * (size_t)w, p->B + (size_t)k * (size_t)p->ld + q * PANEL,
                       sizeof(float) * (size_t)w);
        }
    }
}

void ck_backend_start(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, start_libxsmm);
}

ck_status ck_backend_pack(ck_packed *p)
{
    ck_backend_start();
    xsmm_pack *x = p->impl;
    if (!x) {
        x = ck_alloc(1, sizeof *x);
        if (!x)
            return CK_ERR_MEMORY;
        p->impl = x;
    }
    x->n_panels = (p->N + PANEL - 1) / PANEL;
    x->last_width = p->N - (x->n_panels - 1) * PANEL;
    size_t need = (size_t)p->K * (size_t)p->N;
    if (need > x->cap) {
        free(x->panels);
        x->cap = 0;
        x->panels = ck_alloc_bulk(need, sizeof(float));
        if (!x->panels)
            return CK_ERR_MEMORY;
        x->cap = need;
    }
    x->n_sets = x->next_set = 0;
    copy_panels(p, x);
    return CK_OK;
}

void ck_backend_free(ck_packed *p)
{
    xsmm_pack *x = p->impl;
    if (x)
        free(x->panels);
    free(x);
    p->impl = NULL;
}

/* A kernel for `width` columns of B (row stride ldb) by `rows` rows of A. */
static libxsmm_smmfunction dispatch(int width, int rows, int K, int ldb, int lda, int ldc,
                                    float beta)
{
    libxsmm_blasint m = width, n = rows, k = K, la = ldb, lb = lda, lc = ldc;
    float alpha = 1.0f;
    int flags = LIBXSMM_GEMM_FLAGS('N', 'N');
    return libxsmm_smmdispatch(m, n, k, &la, &lb, &lc, &alpha, &beta, &flags, NULL);
}

/* The kernels for this product form, from the cache or just generated;
 * NULL when libxsmm cannot generate one of them. */
static const kernel_set *kernels_for(const ck_packed *p, xsmm_pack *x, int M, int lda, int ldc,
                                     float beta)
{
    for (int i = 0; i < x->n_sets; i++) {
        const kernel_set *s = &x->sets[i];
        if (s->M == M && s->lda == lda && s->ldc == ldc && s->beta == beta)
            return s;
    }
    kernel_set s = {M, lda, ldc, beta, {{NULL}}};
    int rows[2] = {M < ROWS ? M : ROWS, M - (M - 1) / ROWS * ROWS};
    /* A product narrower than a panel has no full panel, and libxsmm
     * refuses a kernel wider than ldc. */
    int widths[2] = {x->n_panels > 1 ? PANEL : x->last_width, x->last_width};
    for (int w = 0; w < 2; w++)
        for (int r = 0; r < 2; r++)
            if (!(s.k[w][r] = dispatch(widths[w], rows[r], p->K, widths[w], lda, ldc, beta)))
                return NULL;
    kernel_set *slot = &x->sets[x->next_set];
    *slot = s;
    x->next_set = (x->next_set + 1) % KERNEL_SLOTS;
    if (x->n_sets < KERNEL_SLOTS)
        x->n_sets++;
    return slot;
}

typedef struct xsmm_product {
    const xsmm_pack *x;
    const kernel_set *ks;
    int K, M, row_blocks;
    const float *A;
    int lda;
    float *C;
    int ldc;
} xsmm_product;

static void run_unit(void *arg, int u)
{
    const xsmm_product *pr = arg;
    const xsmm_pack *x = pr->x;
    int q = u % x->n_panels, rb = u / x->n_panels;
    bool last_rows = rb == pr->row_blocks - 1;
    const float *panel = x->panels + (size_t)q * PANEL * (size_t)pr->K;
    const float *a = pr->A + (size_t)rb * ROWS * (size_t)pr->lda;
    float *c = pr->C + (size_t)rb * ROWS * (size_t)pr->ldc + (size_t)q * PANEL;
    pr->ks->k[q == x->n_panels - 1][last_rows](panel, a, c);
}

void ck_backend_prepare(ck_packed *p, int M, int lda, float beta, int ldc)
{
    if (p->impl && (beta == 0.0f || beta == 1.0f))
        kernels_for(p, p->impl, M, lda, ldc, beta);
}

bool ck_backend_gemm(ck_packed *p, int M, const float *A, int lda, float beta, float *C, int ldc)
{
    xsmm_pack *x = p->impl;
    if (beta != 0.0f && beta != 1.0f)
        return false;
    const kernel_set *ks = kernels_for(p, x, M, lda, ldc, beta);
    if (!ks)
        return false;
    xsmm_product pr = {x, ks, p->K, M, (M + ROWS - 1) / ROWS, A, lda, C, ldc};
    int units = pr.row_blocks * x->n_panels;
    if (ck_blas_worth_splitting(M, p->N, p->K)) {
        ck_pool_run(units, run_unit, &pr);
    } else {
        for (int u = 0; u < units; u++)
            run_unit(&pr, u);
    }
    return true;
}

/* A product whose rows fit one kernel call reads each column panel of B
 * once, so it needs no packed copy: the kernels take B where it is, with
 * its row stride as their leading dimension. */
typedef struct direct_product {
    libxsmm_smmfunction k[2]; /* full panel, last panel */
    int n_panels;
    const float *A, *B;
    float *C;
} direct_product;

static void run_direct_panel(void *arg, int q)
{
    const direct_product *d = arg;
    d->k[q == d->n_panels - 1](d->B + (size_t)q * PANEL, d->A, d->C + (size_t)q * PANEL);
}

bool ck_backend_gemm_direct(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                            float beta, float *C, int ldc)
{
    if (M > ROWS || (beta != 0.0f && beta != 1.0f))
        return false;
    ck_backend_start();
    direct_product d = {.n_panels = (N + PANEL - 1) / PANEL, .A = A, .B = B, .C = C};
    int widths[2] = {N < PANEL ? N : PANEL, N - (d.n_panels - 1) * PANEL};
    for (int w = 0; w < 2; w++)
        if (!(d.k[w] = dispatch(widths[w], M, K, ldb, lda, ldc, beta)))
            return false;
    if (ck_blas_worth_splitting(M, N, K))
        ck_pool_run(d.n_panels, run_direct_panel, &d);
    else
        for (int q = 0; q < d.n_panels; q++)
            run_direct_panel(&d, q);
    return true;
}
