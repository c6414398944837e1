/* krt_vec.h — the portable vector type of the kernels written with GCC/clang
 * vector extensions (attention, token merge/prune): VF floats, the widest
 * the compile target has (AVX-512 16, AVX 8, otherwise 4). KRT_HAVE_VEC is
 * defined when the compiler has the extensions; the kernels keep a scalar
 * path for the others. The width follows the compile target: the
 * interpreter in a baseline kiln binary gets 4.
 */
#ifndef KRT_VEC_H
#define KRT_VEC_H

#if defined(__AVX512F__)
#define VF 16
#elif defined(__AVX__)
#define VF 8
#else
#define VF 4
#endif

#if defined(__GNUC__) || defined(__clang__)
#define KRT_HAVE_VEC 1
typedef float vf __attribute__((vector_size(VF * 4)));
typedef float vfu __attribute__((vector_size(VF * 4), aligned(4))); /* unaligned access */
#endif

#endif /* KRT_VEC_H */
