/* Vectorized element-wise math (src/core/vmath.c); x and y may alias. */
#ifndef CK_VMATH_H
#define CK_VMATH_H

#include <stddef.h>
#include <stdint.h>

/* Hot element-wise loops get one clone per vector width, picked at load
 * time, so a generic x86-64 build still uses AVX2 or AVX-512. Files using
 * it are built with -O3 (see CMakeLists.txt). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_ADDRESS__)
#define CK_CLONES __attribute__((target_clones("avx512f", "arch=haswell", "default")))
#else
#define CK_CLONES
#endif

/* Helpers of cloned loops must be inlined into each clone: an out-of-line
 * copy would be compiled for the baseline ISA only. */
#if defined(__GNUC__)
#define CK_INLINE static inline __attribute__((always_inline))
#else
#define CK_INLINE static inline
#endif

/* The scalar kernels behind the loops below, inline so that other hot
 * loops (the LSTM cell) can fuse them and still vectorize. Built with
 * -O3 -fno-trapping-math, the comparisons become selects. */

/* e^x = 2^n * e^r with |r| <= ln2/2, for x in about [-104, 89]: the
 * scale 2^n is built as 2^(n/2) * 2^(n - n/2) so that every n in that range
 * (including the subnormal results below 2^-126 and the overflow at 2^128)
 * is reached through two normal floats. */
CK_INLINE float ck_exp_range(float x)
{
    /* Round to nearest with the 1.5*2^23 trick: branch-free, so it vectorizes. */
    float fn = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    int32_t n = (int32_t)fn;
    float r = x - fn * 0.693359375f + fn * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float e = p * r * r + r + 1.0f;
    int32_t n1 = n >> 1;
    union {
        int32_t i;
        float f;
    } s1 = {.i = (n1 + 127) << 23}, s2 = {.i = (n - n1 + 127) << 23};
    return e * s1.f * s2.f;
}

/* For sigmoid and tanh, where e^x only matters up to saturation: clamping
 * to the normal range skips the overflow and underflow handling. */
CK_INLINE float ck_exp_poly(float x)
{
    x = x > 88.3762626647949f ? 88.3762626647949f : x;
    return ck_exp_range(x < -87.3365447504f ? -87.3365447504f : x);
}

CK_INLINE float ck_sigmoid1(float x)
{
    return 1.0f / (1.0f + ck_exp_poly(-x));
}

/* tanh as a rational function, odd degree 13 over even degree 6, on
 * [-7.905, 7.905] (beyond it tanh rounds to +-1 in float): eleven
 * multiply-adds and one division, about half the work of the exp form,
 * which the LSTM cell pays twice per unit and step. Relative error at most
 * 4.1e-7 over every float in [-20, 20] (measured; tests/test_activations.c
 * checks a sample). The coefficients are Eigen's, whose CPU kernels
 * TensorFlow's Keras runs. Below 4e-4 the quotient's leading ratio is not
 * exactly 1, so x itself is returned. */
CK_INLINE float ck_tanh1(float v)
{
    const float limit = 7.90531110763549805f;
    float x = v > limit ? limit : v < -limit ? -limit : v;
    float z = x * x;
    float p = -2.76076847742355e-16f;
    p = p * z + 2.00018790482477e-13f;
    p = p * z - 8.60467152213735e-11f;
    p = p * z + 5.12229709037114e-08f;
    p = p * z + 1.48572235717979e-05f;
    p = p * z + 6.37261928875436e-04f;
    p = p * z + 4.89352455891786e-03f;
    float q = 1.19825839466702e-06f;
    q = q * z + 1.18534705686654e-04f;
    q = q * z + 2.26843463243900e-03f;
    q = q * z + 4.89352518554385e-03f;
    float a = v < 0.0f ? -v : v;
    return a < 4e-4f ? v : p * x / q;
}

void ck_vexp(const float *x, float *y, size_t n);
void ck_vsigmoid(const float *x, float *y, size_t n);
void ck_vtanh(const float *x, float *y, size_t n);
/* Index of the first NaN or Inf in x, or n if all are finite. */
size_t ck_vfind_nonfinite(const float *x, size_t n);
/* The search, and zeroing, over the pool's threads, for whole parameter
 * arrays and input batches (inside a pool task they run on the calling
 * thread; a short search always does). */
size_t ck_vfind_nonfinite_par(const float *x, size_t n);
void ck_vzero_par(float *x, size_t n);

#endif
