/* Vectorizable exp, sigmoid and tanh for the hot element-wise loops.
 * libm's scalar expf/tanhf dominated LSTM time (one call per gate value);
 * these use a Cephes-style range reduction and polynomial (about 1 ulp),
 * written as branch-free loops that GCC vectorizes (the file is built with
 * -O3 -fno-trapping-math so comparisons can become selects), cloned for
 * AVX2 and AVX-512 so one binary uses the widest unit the CPU has. */
#include "ck_vmath.h"
#include "ck_pool.h"

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

/* Accurate over the whole float range: +inf above ln(FLT_MAX), 0 below
 * the smallest subnormal, subnormals in between. */
static inline float exp_full(float x)
{
    float c = x > 89.0f ? 89.0f : x;
    c = c < -104.0f ? -104.0f : c;
    float y = ck_exp_range(c);
    y = x > 88.72283935546875f ? __builtin_inff() : y;
    return x < -103.972084f ? 0.0f : y;
}

CK_CLONES static void vexp_loop(const float *x, float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = exp_full(x[i]);
}

CK_CLONES static void vsigmoid_loop(const float *x, float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = ck_sigmoid1(x[i]);
}

CK_CLONES static void vtanh_loop(const float *x, float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = ck_tanh1(x[i]);
}

CK_CLONES static size_t find_nonfinite_loop(const float *x, size_t n)
{
    /* Integer test on the exponent bits: an OR-reduction the compiler
     * vectorizes, with a scalar rescan only in the block that failed. */
    const size_t block = 4096;
    for (size_t start = 0; start < n; start += block) {
        size_t end = n - start < block ? n : start + block;
        uint32_t bad = 0;
        for (size_t i = start; i < end; i++) {
            union {
                float f;
                uint32_t u;
            } v = {.f = x[i]};
            bad |= (v.u & 0x7f800000u) == 0x7f800000u;
        }
        if (bad)
            for (size_t i = start; i < end; i++) {
                union {
                    float f;
                    uint32_t u;
                } v = {.f = x[i]};
                if ((v.u & 0x7f800000u) == 0x7f800000u)
                    return i;
            }
    }
    return n;
}

/* The cloned loops stay static: GCC would export the dispatcher of an
 * extern clone from the shared library, whatever -fvisibility says. */
void ck_vexp(const float *x, float *y, size_t n)
{
    vexp_loop(x, y, n);
}

void ck_vsigmoid(const float *x, float *y, size_t n)
{
    vsigmoid_loop(x, y, n);
}

void ck_vtanh(const float *x, float *y, size_t n)
{
    vtanh_loop(x, y, n);
}

size_t ck_vfind_nonfinite(const float *x, size_t n)
{
    return find_nonfinite_loop(x, n);
}

/* Passes over a whole parameter array (2.4 MB for the flagship at batch
 * 1) run over the pool in chunks of this many floats: one thread alone
 * does not reach the memory bandwidth two do. */
#define PAR_CHUNK 16384

typedef struct par_job {
    const float *in; /* searched */
    float *out;      /* zeroed */
    size_t n;
    atomic_size_t first; /* of a non-finite value; n when none */
} par_job;

static size_t chunk_len(const par_job *j, size_t lo)
{
    return j->n - lo < PAR_CHUNK ? j->n - lo : PAR_CHUNK;
}

static void find_chunk(void *arg, int i)
{
    par_job *j = arg;
    size_t lo = (size_t)i * PAR_CHUNK, len = chunk_len(j, lo),
           bad = find_nonfinite_loop(j->in + lo, len);
    size_t seen = atomic_load(&j->first);
    while (bad < len && lo + bad < seen &&
           !atomic_compare_exchange_weak(&j->first, &seen, lo + bad))
        ;
}

static void zero_chunk(void *arg, int i)
{
    par_job *j = arg;
    size_t lo = (size_t)i * PAR_CHUNK;
    memset(j->out + lo, 0, chunk_len(j, lo) * sizeof *j->out);
}

static int par_chunks(size_t n)
{
    return (int)((n + PAR_CHUNK - 1) / PAR_CHUNK);
}

/* Below this many chunks, waking a second thread costs about what it saves. */
#define PAR_MIN_CHUNKS 8

size_t ck_vfind_nonfinite_par(const float *x, size_t n)
{
    if (par_chunks(n) < PAR_MIN_CHUNKS)
        return find_nonfinite_loop(x, n);
    par_job j = {.in = x, .n = n};
    atomic_init(&j.first, n);
    ck_pool_run(par_chunks(n), find_chunk, &j);
    return atomic_load(&j.first);
}

void ck_vzero_par(float *x, size_t n)
{
    par_job j = {.out = x, .n = n};
    ck_pool_run(par_chunks(n), zero_chunk, &j);
}
