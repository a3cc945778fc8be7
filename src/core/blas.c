/* MAP_ANONYMOUS and MAP_NORESERVE are not POSIX. */
#define _DEFAULT_SOURCE
#include "ck_blas.h"
#include "ck_blas_backend.h"
#include "ck_internal.h"
#include "ck_pool.h"

#include <cblas.h>
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

/* ---------------- when to split ---------------- */

/* Single-thread throughput of the small products on the project machine
 * (flops and bytes per microsecond), and the estimated times above which
 * a second thread pays for its wake-up and the split (docs/performance.md,
 * "Threads"): for the backend's units, which share one packed copy, from
 * about 8 us; for OpenBLAS calls, where every piece packs its operands
 * again, from about 100 us (OpenBLAS's own two threads, which share the
 * packing, gained 1.08x at 30 us and 1.5x at 180 us). */
#define FLOPS_PER_US 150e3
#define BYTES_PER_US 50e3
#define SPLIT_US 8.0
#define OPENBLAS_SPLIT_US 100.0
/* OpenBLAS pieces: about this long each, at least two, at most eight. */
#define PIECE_US 50.0
#define MAX_PIECES 8
/* Every piece reads and packs the whole operand the cut leaves whole; their
 * copies together stay under this many bytes where that leaves two pieces
 * or more (W3's training products over 6,400 rows re-read 6.5-13 MB per
 * piece: 3-9% faster in 2 pieces than in 8). */
#define REPACK_BYTES ((double)(16u << 20))

static double estimate_us(int M, int N, int K)
{
    double flops = 2.0 * M * N * K;
    double bytes = 4.0 * ((double)K * N + (double)M * K + (double)M * N);
    double by_flops = flops / FLOPS_PER_US, by_bytes = bytes / BYTES_PER_US;
    return by_flops > by_bytes ? by_flops : by_bytes;
}

bool ck_blas_worth_splitting(int M, int N, int K)
{
    return estimate_us(M, N, K) > SPLIT_US;
}

/* ---------------- OpenBLAS calls ---------------- */

/* OpenBLAS's pthreads build starts its threads when it loads (again on
 * openblas_set_num_threads after a fork) and lets them spin in sched_yield
 * for 2^28 cycles, about 0.1 s, before they sleep: the whole life of a
 * `ckeras predict`, on the cores the pool needs. With one OpenBLAS thread
 * they have no work, so they are stopped; a later openblas_set_num_threads
 * from the application starts them again. Weak: OpenBLAS's serial build
 * and other BLAS libraries have no such function. Process-wide, so
 * documented at ck_set_num_threads. */
extern int blas_thread_shutdown_(void) __attribute__((weak));

static void pin_openblas(void)
{
    openblas_set_num_threads(1);
    if (blas_thread_shutdown_)
        blas_thread_shutdown_();
}

void ck_blas_start(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, pin_openblas);
}

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

typedef ck_gemm_op product;

/* Set on a thread once OpenBLAS has run a product there, and so holds its
 * work buffer (see ck_blas_ready). */
static _Thread_local bool has_work_buffer;

static void run_product(const product *p)
{
    has_work_buffer = true;
    if (p->M == 1 && !p->ta && !p->tb && one_row_prefers_gemv()) {
        /* sgemv may scale an uninitialised y by 0 and keep NaN bit patterns. */
        if (p->beta == 0.0f)
            memset(p->C, 0, sizeof(float) * (size_t)p->N);
        cblas_sgemv(CblasRowMajor, CblasTrans, p->K, p->N, 1.0f, p->B, p->ldb, p->A, 1,
                    p->beta == 0.0f ? 1.0f : p->beta, p->C, 1);
        return;
    }
    cblas_sgemm(CblasRowMajor, p->ta ? CblasTrans : CblasNoTrans, p->tb ? CblasTrans : CblasNoTrans,
                p->M, p->N, p->K, 1.0f, p->A, p->lda, p->B, p->ldb, p->beta, p->C, p->ldc);
}

/* A product cut into pieces along the rows of C (by_rows) or its columns. */
typedef struct pieces {
    product whole;
    bool by_rows;
    int count;
} pieces;

/* Start of piece i of `len`, column starts on 16-float (64-byte) bounds. */
static int piece_start(const pieces *s, int i, int len)
{
    int64_t at = (int64_t)len * i / s->count;
    if (!s->by_rows && i > 0 && i < s->count)
        at = (at + 8) / 16 * 16;
    return (int)(at < len ? at : len);
}

static void run_piece(void *arg, int i)
{
    const pieces *s = arg;
    product p = s->whole;
    int len = s->by_rows ? p.M : p.N;
    int lo = piece_start(s, i, len), hi = piece_start(s, i + 1, len);
    if (hi <= lo)
        return;
    if (s->by_rows) {
        p.M = hi - lo;
        p.A += p.ta ? (size_t)lo : (size_t)lo * (size_t)p.lda;
        p.C += (size_t)lo * (size_t)p.ldc;
    } else {
        p.N = hi - lo;
        p.B += p.tb ? (size_t)lo * (size_t)p.ldb : (size_t)lo;
        p.C += (size_t)lo;
    }
    run_product(&p);
}

/* p whole (one piece) when it takes `us` or less, else in pieces that
 * depend on the size only, never on the thread count. Every piece packs
 * the whole of the operand it does not cut, so the cut goes across the
 * larger side of C. */
static pieces cut(const product *p, double us)
{
    if (us <= OPENBLAS_SPLIT_US)
        return (pieces){*p, true, 1};
    bool by_rows = p->M > p->N;
    double whole = 4.0 * p->K * (by_rows ? p->N : p->M);
    double count = fmin(fmin(us / PIECE_US, MAX_PIECES), REPACK_BYTES / whole);
    return (pieces){*p, by_rows, count < 2 ? 2 : (int)count};
}

/* A product of a few rows by a large B runs on the backend's kernels
 * reading B in place: OpenBLAS packs B at every call, which for W4's
 * 30 x 1662 by 1662 x 256 input projection in training means reading and
 * writing its 1.7 MB twice more (0.23 against 0.18 ms on one thread). */
#define DIRECT_MAX_ROWS 64
#define DIRECT_MIN_WEIGHTS ((size_t)1 << 18)

static atomic_bool force_fallback;

static bool backend_direct(const product *p)
{
    return !p->ta && !p->tb && p->M <= DIRECT_MAX_ROWS &&
           (size_t)p->K * (size_t)p->N >= DIRECT_MIN_WEIGHTS && !atomic_load(&force_fallback) &&
           ck_backend_gemm_direct(p->M, p->N, p->K, p->A, p->lda, p->B, p->ldb, p->beta, p->C,
                                  p->ldc);
}

/* Runs p whole, or in pieces over the pool when it is large. */
static void run_split(const product *p)
{
    ck_blas_start();
    if (backend_direct(p))
        return;
    pieces s = cut(p, estimate_us(p->M, p->N, p->K));
    if (s.count == 1)
        run_product(p);
    else
        ck_pool_run(s.count, run_piece, &s);
}

/* ---------------- independent products together ---------------- */

/* Products side by side pay for handing pieces to the pool from about
 * this many microseconds together: the flagship's gradients at batch 32
 * (100-280 us per layer) took 6-12% less time per training step on two
 * threads, its 30-50 us layers at batch 1 were level or slower. */
#define GROUP_SPLIT_US 60.0

/* The pieces of a group's products in the order they are claimed: the
 * longest first, so that the last claims are short. */
typedef struct group {
    pieces of[CK_GEMM_GROUP_MAX];
    struct {
        int op, i;
    } piece[CK_GEMM_GROUP_MAX * MAX_PIECES];
} group;

static void run_group_piece(void *arg, int k)
{
    group *g = arg;
    run_piece(&g->of[g->piece[k].op], g->piece[k].i);
}

void ck_gemm_group(const ck_gemm_op *ops, int n)
{
    ck_blas_start();
    group g;
    double each[CK_GEMM_GROUP_MAX], total = 0;
    int order[CK_GEMM_GROUP_MAX], count = 0;
    for (int k = 0; k < n; k++) {
        double us = estimate_us(ops[k].M, ops[k].N, ops[k].K);
        g.of[k] = cut(&ops[k], us);
        each[k] = us / g.of[k].count;
        total += us;
        int at = k;
        for (; at > 0 && each[order[at - 1]] < each[k]; at--)
            order[at] = order[at - 1];
        order[at] = k;
    }
    if (total <= GROUP_SPLIT_US) {
        for (int k = 0; k < n; k++)
            run_product(&ops[k]);
        return;
    }
    for (int k = 0; k < n; k++)
        for (int i = 0; i < g.of[order[k]].count; i++, count++) {
            g.piece[count].op = order[k];
            g.piece[count].i = i;
        }
    ck_pool_run(count, run_group_piece, &g);
}

void ck_gemm(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float beta,
             float *C, int ldc)
{
    run_split(&(product){false, false, M, N, K, A, lda, B, ldb, beta, C, ldc});
}

void ck_gemm_tn(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float beta,
                float *C, int ldc)
{
    run_split(&(product){true, false, M, N, K, A, lda, B, ldb, beta, C, ldc});
}

void ck_gemm_nt(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float beta,
                float *C, int ldc)
{
    run_split(&(product){false, true, M, N, K, A, lda, B, ldb, beta, C, ldc});
}

/* ---------------- packed weights ---------------- */

void ck_blas_force_fallback(bool on)
{
    atomic_store(&force_fallback, on);
}

bool ck_packed_holds(const ck_packed *p, const float *B, int K, int N, int ld, bool trans)
{
    return p->B == B && p->K == K && p->N == N && p->ld == ld && p->trans == trans &&
           p->fallback == atomic_load(&force_fallback);
}

ck_status ck_pack(ck_packed *p, const float *B, int K, int N, int ld, bool trans)
{
    ck_blas_start();
    p->B = B;
    p->K = K;
    p->N = N;
    p->ld = ld;
    p->trans = trans;
    p->fallback = atomic_load(&force_fallback);
    if (p->fallback) {
        ck_backend_free(p);
        return CK_OK;
    }
    ck_status st = ck_backend_pack(p);
    if (st != CK_OK)
        ck_packed_free(p);
    return st;
}

/* A copy made for one product (training: the weights change after every
 * step) pays back from about PACK_ONCE_MIN_ROWS rows, where packing costs
 * about what the product saves, up to PACK_MAX_ROWS, above which OpenBLAS
 * is as fast. A copy kept for many products (inference) pays at any row
 * count: there the backend's kernels also save OpenBLAS's packing of the
 * rows and its zeroing pass over C for beta 0 (W2 and W3 inference, whose
 * input projections have 960 and 6,400 rows: 7-15% less CPU time). */
#define PACK_MAX_ROWS 512
#define PACK_ONCE_MIN_ROWS 128

void ck_gemm_packed(int M, const float *A, int lda, ck_packed *p, float beta, float *C, int ldc)
{
    if (p->impl && !atomic_load(&force_fallback) && ck_backend_gemm(p, M, A, lda, beta, C, ldc))
        return;
    run_split(&(product){false, p->trans, M, p->N, p->K, A, lda, p->B, p->ld, beta, C, ldc});
}

void ck_gemm_packed_prepare(ck_packed *p, int M, int lda, float beta, int ldc)
{
    if (p->impl && !atomic_load(&force_fallback))
        ck_backend_prepare(p, M, lda, beta, ldc);
}

bool ck_pack_pays(int rows, bool one_use)
{
    return !one_use || (rows >= PACK_ONCE_MIN_ROWS && rows <= PACK_MAX_ROWS);
}

void ck_packed_free(ck_packed *p)
{
    ck_backend_free(p);
    *p = (ck_packed){0};
}

/* ---------------- public ---------------- */

static char backend_text[128];

static void describe_backend(void)
{
    const char *core = openblas_get_corename();
    snprintf(backend_text, sizeof backend_text, "%s, OpenBLAS (%s kernels)", ck_backend_name(),
             core ? core : "unknown");
}

void ck_warm_up(void)
{
    ck_blas_start();
    ck_backend_start();
    ck_pool_start();
}

const char *ck_blas_backend(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, describe_backend);
    return backend_text;
}

/* OpenBLAS gives each thread that calls it a work buffer of 128 MiB of
 * address space, and when it cannot map one (ulimit -v) it retries
 * forever. Mapping as much ourselves first turns that hang into an "out
 * of memory" error. The probe is repeated until OpenBLAS has its buffer:
 * one probe at build time passed, then loading the weights took the room
 * and the first product hung (predict under 'ulimit -v 200000'). */
#define OPENBLAS_BUFFER (128u << 20)
#define BUFFER_SLACK (8u << 20)

ck_status ck_blas_ready(void)
{
    ck_blas_start();
    struct rlimit rl;
    if (has_work_buffer || (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur == RLIM_INFINITY))
        return CK_OK;
    void *probe = mmap(NULL, OPENBLAS_BUFFER + BUFFER_SLACK, PROT_NONE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (probe == MAP_FAILED)
        return ck_error(CK_ERR_MEMORY,
                        "out of memory: OpenBLAS needs %u MiB of address space for "
                        "its work buffer",
                        OPENBLAS_BUFFER >> 20);
    munmap(probe, OPENBLAS_BUFFER + BUFFER_SLACK);
    return CK_OK;
}
