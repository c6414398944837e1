/* krt_vmath.h — vectorised f32 exp, erf, tanh, sigmoid and GELU, written
 * once as a template (GCC/Clang vector extensions) and instantiated by
 * each kernel file for the vector widths it runs.
 *
 * A file includes this header once per instruction set, with defined:
 *   VM_VEC     a float vector type (vector_size(VF * 4)), or KRT_VM_SCALAR
 *              for a 1-lane build
 *   VM_VECI    the int32_t vector type of the same width
 *   VM_NAME(f) the function's name (e.g. vm16_##f)
 *   VM_TARGET  a target attribute (empty for the compile target)
 * and gets static inline functions VM_NAME(exp), (erf), (tanh),
 * (sigmoid), (gelu_erf), (gelu_tanh) of one vector. The macros are
 * undefined at the end, ready for the next instance. Functions with a
 * target attribute inline only into callers with the same attribute
 * (krt_elementwise_unary.c and krt_linalg_gemm.c instantiate one copy per
 * ISA they dispatch to).
 *
 * Accuracy against the double-precision libm result (not rounded to
 * float), in float ulps at that result: the worst error tests/unit/
 * test_vmath.c saw (every 257th float bit pattern of the whole range, every
 * float near the branch points, the special values; each ISA this CPU runs,
 * and an FMA-contracted build) / the bound that test enforces:
 *   exp        0.98 (1.01 with FMA contraction) / 1.5; +inf above ~88.72,
 *              subnormal results rounded once, 0 below ~-103.9
 *   erf        1.33 / 1.5
 *   tanh       1.33 / 1.5
 *   sigmoid    2.40 / 2.5 (exp's error and a division; the libm formula
 *              1 / (1 + expf(-x)) has the same two)
 *   gelu_erf   0.62 / 2.5 + 2^-24 |x| absolute; gelu_tanh 1.24 / the same.
 *              The unfused ops lose all relative accuracy where 1 +
 *              erf(x / sqrt2) cancels; these keep it down to x = -5.6 for
 *              erf, everywhere for tanh. For erf, below -5.6 |GELU| < 5e-8
 *              and the result is -0, as the unfused float graph gives;
 *              GELU(-inf) is NaN, as unfused.
 * NaN in gives NaN out, +-inf the limits, -0 gives -0 where f(-0) = -0.
 * The bounds hold with or without FMA contraction (the test also runs an
 * AVX2+FMA instance compiled with contraction on, as the GEMM epilogue is).
 *
 * Methods:
 *   exp:  x = n ln2 + r, |r| <= ln2/2, ln2 in two parts so n ln2 is
 *         exact; Cephes' degree-6 polynomial for exp(r); times 2^n as
 *         two powers of two 2^(n/2) 2^(n - n/2), so that results near
 *         overflow and subnormal results round only once.
 *   erf:  |x| < 0.921875: x + x P(x^2), P degree 5; above: 1 - exp(-(a +
 *         a Q(a))) with a = min(|x|, 4), Q degree 6 (erf(4) rounds to 1).
 *         Both fitted for this file (weighted least squares iterated to
 *         near-minimax, Lawson's method): P on the relative error of erf,
 *         Q on its absolute error (what 1 - erfc keeps).
 *   tanh: |x| < 0.625: x + x^3 R(x^2), R degree 4 (fitted the same way);
 *         above: 1 - 2 / (exp(2 min(|x|, 10)) + 1) with x's sign.
 *   sigmoid: 1 / (1 + e) for x >= 0, e / (1 + e) below, e = exp(-|x|).
 *   gelu_erf:  0.5 x (1 + erf(x / sqrt2)), and 0.5 x erfc(|z|) from erf's
 *         second branch where z = x / sqrt2 < -0.921875 (no cancellation).
 *   gelu_tanh: x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3): the same
 *         function as 0.5 x (1 + tanh(u)), without the cancellation.
 */

#ifndef VM_NAME
#error "define VM_VEC, VM_VECI, VM_NAME and VM_TARGET before including krt_vmath.h"
#endif

#define VM_SPLAT(c) ((VM_VEC){0} + (c))
/* m ? p : q, lane-wise, m a comparison mask (all ones / all zeros). */
#define VM_SEL(m, p, q) ((VM_VEC)(((VM_VECI)(p) & (m)) | ((VM_VECI)(q) & ~(m))))
#define VM_ABS(x) ((VM_VEC)((VM_VECI)(x) & 0x7fffffff))
#define VM_SIGNBIT(x) ((VM_VECI)(x) & (int32_t)0x80000000)
#define VM_OR_SIGN(x, s) ((VM_VEC)((VM_VECI)(x) | (s)))

/* 2^k for integer k in [-126, 127], built in the exponent bits. */
VM_TARGET static inline VM_VEC VM_NAME(pow2i)(VM_VECI k)
{
    return (VM_VEC)((k + 127) << 23);
}

VM_TARGET static inline VM_VEC VM_NAME(exp)(VM_VEC x)
{
    VM_VECI nan = x != x;
    /* Clamp to [-104.5, 89] (exp rounds to 0 / overflows beyond) and set
     * NaN lanes to 0 for the arithmetic; they take x back at the end. */
    VM_VEC c = VM_SEL(x < -104.5f, VM_SPLAT(-104.5f), x);
    c = VM_SEL(c > 89.0f, VM_SPLAT(89.0f), c);
    c = VM_SEL(nan, VM_SPLAT(0.0f), c);
    VM_VEC t = c * 1.44269504088896341f + 12582912.0f;   /* round to nearest: 1.5 * 2^23 */
    VM_VEC n = t - 12582912.0f;
    VM_VEC r = c - n * 0.693359375f;                     /* exact: n has <= 8 bits */
    r = r - n * -2.12194440e-4f;
    VM_VEC p = VM_SPLAT(1.9875691500e-4f);
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    VM_VECI k = __builtin_convertvector(n, VM_VECI);
    VM_VECI k1 = k >> 1;                                 /* arithmetic: floor(k / 2) */
    VM_VEC y = p * VM_NAME(pow2i)(k1) * VM_NAME(pow2i)(k - k1);
    return VM_SEL(nan, x, y);
}

/* erfc(a) = exp(-(a + a Q(a))) for a in [0.921875, 4]. */
VM_TARGET static inline VM_VEC VM_NAME(erfc_big)(VM_VEC a)
{
    VM_VEC q = VM_SPLAT(0x1.84f03ap-17f);
    q = q * a + -0x1.5632d0p-12f;
    q = q * a + 0x1.df46f4p-9f;
    q = q * a + -0x1.85cc32p-6f;
    q = q * a + 0x1.b34856p-4f;
    q = q * a + 0x1.452ffap-1f;
    q = q * a + 0x1.077b56p-3f;
    return VM_NAME(exp)(-(q * a + a));
}

/* erf(x) for |x| < 0.921875: x + x P(x^2). */
VM_TARGET static inline VM_VEC VM_NAME(erf_small)(VM_VEC x)
{
    VM_VEC x2 = x * x;
    VM_VEC p = VM_SPLAT(-0x1.3a1984p-11f);
    p = p * x2 + 0x1.473c26p-8f;
    p = p * x2 + -0x1.b68b6ep-6f;
    p = p * x2 + 0x1.ce1a6ep-4f;
    p = p * x2 + -0x1.8126e6p-2f;
    p = p * x2 + 0x1.06eba6p-3f;
    return x + x * p;
}

VM_TARGET static inline VM_VEC VM_NAME(erf)(VM_VEC x)
{
    VM_VEC a = VM_ABS(x);
    VM_VECI small = a < 0.921875f;
    VM_VEC ab = VM_SEL(a > 4.0f, VM_SPLAT(4.0f), a);    /* NaN stays NaN */
    VM_VEC big = VM_OR_SIGN(1.0f - VM_NAME(erfc_big)(ab), VM_SIGNBIT(x));
    return VM_SEL(small, VM_NAME(erf_small)(x), big);
}

VM_TARGET static inline VM_VEC VM_NAME(tanh)(VM_VEC x)
{
    VM_VEC a = VM_ABS(x);
    VM_VECI small = a < 0.625f;
    VM_VEC x2 = x * x;
    VM_VEC p = VM_SPLAT(-0x1.75e1c2p-8f);
    p = p * x2 + 0x1.52269ap-6f;
    p = p * x2 + -0x1.b83c5ap-5f;
    p = p * x2 + 0x1.110726p-3f;
    p = p * x2 + -0x1.555532p-2f;
    p = p * x2;
    VM_VEC ys = VM_OR_SIGN(a + a * p, VM_SIGNBIT(x));   /* odd; keeps -0 */
    VM_VEC ab = VM_SEL(a > 10.0f, VM_SPLAT(10.0f), a);
    VM_VEC e = VM_NAME(exp)(ab + ab);
    VM_VEC yb = VM_OR_SIGN(1.0f - 2.0f / (e + 1.0f), VM_SIGNBIT(x));
    return VM_SEL(small, ys, yb);
}

VM_TARGET static inline VM_VEC VM_NAME(sigmoid)(VM_VEC x)
{
    VM_VEC e = VM_NAME(exp)(-VM_ABS(x));
    VM_VEC d = e + 1.0f;
    return VM_SEL(x >= 0.0f, 1.0f / d, e / d);  /* NaN: e / d = NaN */
}

VM_TARGET static inline VM_VEC VM_NAME(gelu_erf)(VM_VEC x)
{
    VM_VEC z = x * 0.70710678118654752440f;
    VM_VEC h = x * 0.5f;
    VM_VEC a = VM_ABS(z);
    VM_VEC erfc = VM_NAME(erfc_big)(VM_SEL(a > 4.0f, VM_SPLAT(4.0f), a));
    /* z < -0.921875: 1 + erf(z) = erfc(|z|) (0 below -4, as in float) */
    VM_VEC tail = VM_SEL(z < -4.0f, h * 0.0f, h * erfc);   /* -inf: NaN, as unfused */
    VM_VEC one_plus = VM_SEL(a < 0.921875f, 1.0f + VM_NAME(erf_small)(z), 2.0f - erfc);
    return VM_SEL(z < -0.921875f, tail, h * one_plus);
}

VM_TARGET static inline VM_VEC VM_NAME(gelu_tanh)(VM_VEC x)
{
    VM_VEC u = (x + 0.044715f * x * x * x) * 0.79788456080286535588f;
    return x * VM_NAME(sigmoid)(u + u);
}

#undef VM_SPLAT
#undef VM_SEL
#undef VM_ABS
#undef VM_SIGNBIT
#undef VM_OR_SIGN
#undef VM_VEC
#undef VM_VECI
#undef VM_NAME
#undef VM_TARGET
