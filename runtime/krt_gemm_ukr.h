/* krt_gemm_ukr.h — the f32 GEMM micro-kernel, written once as a template.
 *
 * runtime/krt_linalg_gemm.c includes this file once per instruction set it
 * builds (AVX-512, AVX2, the compile target's own vectors, or scalar), each
 * time with these macros defined:
 *   UKR_FN       the function's name
 *   UKR_VEC      the vector type (GCC/Clang vector extension, or float)
 *   UKR_VECU     the same type with 4-byte alignment (unaligned loads)
 *   UKR_VF       floats per vector
 *   UKR_MR       rows of the register tile
 *   UKR_NV       vectors per row: the tile is UKR_MR x UKR_NV*UKR_VF
 *   UKR_TARGET   a target attribute (empty for the compile target)
 *   UKR_ACT(x, act, lo, hi)   the activation `act` of one vector (a
 *                function with the kernel's target, on the vector math
 *                of krt_vmath.h; undefined at the end of this file)
 * and ukr_epi, UKR_UNROLL, UKR_PREFETCH(p), CONTRACT_FN, CONTRACT_BODY
 * already defined.
 *
 * The kernel computes one MR x NR tile of C from MR rows of A, read in
 * place through strides (A(r, k) = a[r * a_rs + k * a_cs]; a packed,
 * zero-padded panel is a_rs 1, a_cs MR) and a packed B micro-panel
 * b[k][j], keeping MR*NV accumulators in registers, then runs the
 * epilogue on the registers before the one store of each vector:
 *   x = alpha * acc  (+ beta * C  when beta != 0)
 *                    (+ bias_scale * bias(r, j)  when bias)
 *   x = act(x)  (+ residual(r, j)  when residual);  C = x
 * Every element of C sums its k in order 0..kc-1 and goes through the
 * same operations whatever tile it sits in: the driver computes edge
 * tiles through this same function on a full-size copy, which is what
 * makes the result independent of how rows are split.
 */

UKR_TARGET CONTRACT_FN static void UKR_FN(int64_t kc, const float *restrict a, int64_t a_rs,
                                          int64_t a_cs, const float *restrict b, float *c,
                                          int64_t ldc, const ukr_epi *e)
{
    CONTRACT_BODY
    UKR_VEC acc[UKR_MR][UKR_NV];
    UKR_UNROLL
    for (int r = 0; r < UKR_MR; r++) {
        UKR_UNROLL
        for (int v = 0; v < UKR_NV; v++)
            acc[r][v] = (UKR_VEC){0};
    }
    /* C is read and written only after the k loop: start fetching it now
     * (a C row of a large matrix is usually in L3 or memory by then). */
    UKR_UNROLL
    for (int r = 0; r < UKR_MR; r++) {
        UKR_UNROLL
        for (int v = 0; v < UKR_NV; v++)
            UKR_PREFETCH(c + r * ldc + v * UKR_VF);
        UKR_PREFETCH(c + r * ldc + UKR_NV * UKR_VF - 1);
    }
    for (int64_t k = 0; k < kc; k++, a += a_cs, b += UKR_NV * UKR_VF) {
        UKR_VEC bv[UKR_NV];
        UKR_UNROLL
        for (int v = 0; v < UKR_NV; v++)
            bv[v] = *(const UKR_VECU *)(b + v * UKR_VF);
        UKR_UNROLL
        for (int r = 0; r < UKR_MR; r++) {
            float ar = a[r * a_rs];
            UKR_UNROLL
            for (int v = 0; v < UKR_NV; v++)
                acc[r][v] += ar * bv[v];
        }
    }

    const float alpha = e->alpha, beta = e->beta, bsc = e->bias_scale;
    const UKR_VEC lo = (UKR_VEC){0} + e->lo, hi = (UKR_VEC){0} + e->hi;
    UKR_UNROLL
    for (int r = 0; r < UKR_MR; r++) {
        float *cr = c + r * ldc;
        const float *br = e->bias ? e->bias + r * e->bias_rs : NULL;
        const float *rr = e->residual ? e->residual + r * e->residual_ld : NULL;
        UKR_UNROLL
        for (int v = 0; v < UKR_NV; v++) {
            UKR_VEC x = acc[r][v] * alpha;
            if (beta != 0.0f)
                x += beta * *(const UKR_VECU *)(cr + v * UKR_VF);
            if (br)
                x += bsc * (e->bias_cs ? *(const UKR_VECU *)(br + v * UKR_VF)
                                       : (UKR_VEC){0} + br[0]);
            if (e->act != KRT_GEMM_ACT_NONE)
                x = UKR_ACT(x, e->act, lo, hi);
            if (rr)
                x += *(const UKR_VECU *)(rr + v * UKR_VF);
            *(UKR_VECU *)(cr + v * UKR_VF) = x;
        }
    }
}

#undef UKR_FN
#undef UKR_VEC
#undef UKR_VECU
#undef UKR_VF
#undef UKR_MR
#undef UKR_NV
#undef UKR_TARGET
#undef UKR_ACT
