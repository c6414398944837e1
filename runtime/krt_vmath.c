/* krt_vmath.c — krt_vmath_f32: one f32 math function over an array, at the
 * widest vectors this CPU has (the functions: runtime/krt_vmath.h; the
 * API: runtime/krt_elementwise.h). The unary kernel (Exp, Erf, Tanh,
 * Sigmoid, Gelu) and Softmax call it.
 *
 * Instances, as in krt_linalg_gemm.c: on x86-64 with GCC/Clang the
 * AVX-512 (16 lanes) and AVX2 (8 lanes) loops are compiled with target
 * attributes and picked at run time by __builtin_cpu_supports, so the
 * kiln binary (built for baseline x86-64) runs them at full width; a
 * build whose target already has them (kiln compile's -march=native),
 * or KRT_GEMM_NO_DISPATCH (the LLVM backend's bitcode, which knows its
 * CPU), compiles only the compile target's own width. Other compilers
 * get libm, one element at a time.
 *
 * Every element goes through the same vector function whatever its
 * position: the tail is run as one padded vector, so a split of an array
 * over threads gives the same bytes. Contraction is left off (ISO C's
 * default) so the AVX-512 clone and a -march=native build compute the
 * same bits.
 */
#include "runtime/krt_elementwise.h"

#include <math.h>
#include <string.h>

/* The functions, in krt_vmath_op order: X(ENUM, vmath name, libm expression). */
#define VMATH_OPS(X)                                                          \
    X(EXP, exp, expf(v))                                                      \
    X(ERF, erf, erff(v))                                                      \
    X(TANH, tanh, tanhf(v))                                                   \
    X(SIGMOID, sigmoid, v >= 0 ? 1 / (1 + expf(-v)) : expf(v) / (1 + expf(v))) \
    X(GELU_ERF, gelu_erf, 0.5f * v * (1 + erff(v * 0.70710678118654752440f))) \
    X(GELU_TANH, gelu_tanh,                                                   \
      0.5f * v * (1 + tanhf(0.79788456080286535588f * (v + 0.044715f * v * v * v))))

typedef void (*vmath_loop)(const float *x, float *y, int64_t n);

/* One loop per (instance, op): whole vectors, then the tail as one
 * zero-padded vector. */
#define VMATH_LOOP(E, f, LIBM)                                                \
    VM_LOOP_TARGET static void VM_LOOP_NAME(f)(const float *x, float *y, int64_t n) \
    {                                                                         \
        int64_t i = 0;                                                        \
        for (; i + VM_LOOP_VF <= n; i += VM_LOOP_VF) {                        \
            VM_LOOP_VEC v;                                                    \
            memcpy(&v, x + i, sizeof v);                                      \
            v = VM_LOOP_FN(f)(v);                                             \
            memcpy(y + i, &v, sizeof v);                                      \
        }                                                                     \
        if (i < n) {                                                          \
            VM_LOOP_VEC v = {0};                                              \
            memcpy(&v, x + i, (size_t)(n - i) * sizeof(float));               \
            v = VM_LOOP_FN(f)(v);                                             \
            memcpy(y + i, &v, (size_t)(n - i) * sizeof(float));               \
        }                                                                     \
    }
#define VMATH_ENTRY(E, f, LIBM) [KRT_VM_##E] = VM_LOOP_NAME(f),

#if defined(__GNUC__) || defined(__clang__)
#define KRT_VMATH_VEC 1
#define VM_TYPES(n)                                                           \
    typedef float vm##n##f __attribute__((vector_size(n * 4)));               \
    typedef int32_t vm##n##i __attribute__((vector_size(n * 4)));
VM_TYPES(4)
VM_TYPES(8)
VM_TYPES(16)
#endif

/* ---- x86-64: AVX-512 and AVX2 clones, picked at run time ----------------- */

#if defined(KRT_VMATH_VEC) && defined(__x86_64__) && !defined(KRT_GEMM_NO_DISPATCH)
#if !defined(__AVX512F__)
#define VM_VEC vm16f
#define VM_VECI vm16i
#define VM_NAME(f) vm_avx512_##f
#define VM_TARGET __attribute__((target("avx512f,avx2,fma")))
#include "runtime/krt_vmath.h"
#define VM_LOOP_TARGET __attribute__((target("avx512f,avx2,fma")))
#define VM_LOOP_NAME(f) loop_avx512_##f
#define VM_LOOP_FN(f) vm_avx512_##f
#define VM_LOOP_VEC vm16f
#define VM_LOOP_VF 16
VMATH_OPS(VMATH_LOOP)
static const vmath_loop loops_avx512[KRT_VM_COUNT] = {VMATH_OPS(VMATH_ENTRY)};
#undef VM_LOOP_TARGET
#undef VM_LOOP_NAME
#undef VM_LOOP_FN
#undef VM_LOOP_VEC
#undef VM_LOOP_VF
#define HAVE_VM_AVX512 1
#endif
#if !defined(__AVX2__)
#define VM_VEC vm8f
#define VM_VECI vm8i
#define VM_NAME(f) vm_avx2_##f
#define VM_TARGET __attribute__((target("avx2,fma")))
#include "runtime/krt_vmath.h"
#define VM_LOOP_TARGET __attribute__((target("avx2,fma")))
#define VM_LOOP_NAME(f) loop_avx2_##f
#define VM_LOOP_FN(f) vm_avx2_##f
#define VM_LOOP_VEC vm8f
#define VM_LOOP_VF 8
VMATH_OPS(VMATH_LOOP)
static const vmath_loop loops_avx2[KRT_VM_COUNT] = {VMATH_OPS(VMATH_ENTRY)};
#undef VM_LOOP_TARGET
#undef VM_LOOP_NAME
#undef VM_LOOP_FN
#undef VM_LOOP_VEC
#undef VM_LOOP_VF
#define HAVE_VM_AVX2 1
#endif
#endif

/* ---- the compile target's own width ---------------------------------------- */

#if defined(KRT_VMATH_VEC)
#if defined(__AVX512F__)
#define NATIVE_VF 16
#define NATIVE_NAME "avx512"
#elif defined(__AVX__)
#define NATIVE_VF 8
#define NATIVE_NAME "avx"
#elif defined(__aarch64__) || defined(__ARM_NEON)
#define NATIVE_VF 4
#define NATIVE_NAME "neon"
#else
#define NATIVE_VF 4
#define NATIVE_NAME "vec4"
#endif
#define VM_CAT_(a, b) a##b
#define VM_CAT(a, b) VM_CAT_(a, b)
#define NATIVE_VEC VM_CAT(VM_CAT(vm, NATIVE_VF), f)
#define VM_VEC NATIVE_VEC
#define VM_VECI VM_CAT(VM_CAT(vm, NATIVE_VF), i)
#define VM_NAME(f) vm_native_##f
#define VM_TARGET
#include "runtime/krt_vmath.h"
#define VM_LOOP_TARGET
#define VM_LOOP_NAME(f) loop_native_##f
#define VM_LOOP_FN(f) vm_native_##f
#define VM_LOOP_VEC NATIVE_VEC
#define VM_LOOP_VF NATIVE_VF
VMATH_OPS(VMATH_LOOP)
#else
#define NATIVE_NAME "libm"
#define LIBM_LOOP(E, f, LIBM)                                                 \
    static void loop_native_##f(const float *x, float *y, int64_t n)          \
    {                                                                         \
        for (int64_t i = 0; i < n; i++) {                                     \
            float v = x[i];                                                   \
            y[i] = LIBM;                                                      \
        }                                                                     \
    }
VMATH_OPS(LIBM_LOOP)
#define VM_LOOP_NAME(f) loop_native_##f
#endif
#undef VM_LOOP_NAME
#define VM_LOOP_NAME(f) loop_native_##f
static const vmath_loop loops_native[KRT_VM_COUNT] = {VMATH_OPS(VMATH_ENTRY)};

/* ---- dispatch ------------------------------------------------------------------ */

#ifdef HAVE_VM_AVX512
static int supports_avx512(void) { return __builtin_cpu_supports("avx512f"); }
#endif
#ifdef HAVE_VM_AVX2
static int supports_avx2(void)
{
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif
static int supports_native(void) { return 1; }

static const struct {
    const char *name;
    const vmath_loop *loops;
    int (*supported)(void);
} isas[] = {
#ifdef HAVE_VM_AVX512
    {"avx512", loops_avx512, supports_avx512},
#endif
#ifdef HAVE_VM_AVX2
    {"avx2", loops_avx2, supports_avx2},
#endif
    {NATIVE_NAME, loops_native, supports_native},
};
enum { N_ISAS = sizeof isas / sizeof isas[0] };

static int forced = -1;   /* krt_vmath_use_isa; -1: the best */

static const vmath_loop *pick(void)
{
    if (forced >= 0)
        return isas[forced].loops;
    for (int i = 0; i < N_ISAS; i++)
        if (isas[i].supported())
            return isas[i].loops;
    return loops_native;
}

void krt_vmath_f32(krt_vmath_op op, const float *x, float *y, int64_t n)
{
    if ((unsigned)op < KRT_VM_COUNT && n > 0)
        pick()[op](x, y, n);
}

const char *krt_vmath_isa(int i)
{
    for (int k = 0; k < N_ISAS; k++)
        if (isas[k].supported() && i-- == 0)
            return isas[k].name;
    return NULL;
}

_Bool krt_vmath_use_isa(const char *name)
{
    forced = -1;
    for (int k = 0; name && k < N_ISAS; k++)
        if (isas[k].supported() && strcmp(isas[k].name, name) == 0)
            forced = k;
    return name == NULL || forced >= 0;
}

/* ---- one vector at a time, for generated loops ----------------------------------- */

/* krt_vmath_block_<f>(x, y): y[0..VF) = f(x[0..VF)) at the compile target's
 * own width, the functions the LLVM backend's fused elementwise loops call
 * (through memory, so that the C ABI of vector arguments plays no part;
 * once inlined, the loads and stores fold into registers). */
#if defined(KRT_VMATH_VEC)
const int32_t krt_vmath_block_width = NATIVE_VF;
#define VMATH_BLOCK(E, f, LIBM)                                               \
    void krt_vmath_block_##f(const float *x, float *y);                       \
    void krt_vmath_block_##f(const float *x, float *y)                        \
    {                                                                         \
        NATIVE_VEC v;                                                         \
        memcpy(&v, x, sizeof v);                                              \
        v = vm_native_##f(v);                                                 \
        memcpy(y, &v, sizeof v);                                              \
    }
VMATH_OPS(VMATH_BLOCK)
#define VMATH_BLOCK_ENTRY(E, f, LIBM) [KRT_VM_##E] = krt_vmath_block_##f,
static void (*const blocks[KRT_VM_COUNT])(const float *, float *) = {VMATH_OPS(VMATH_BLOCK_ENTRY)};
void krt_vmath_block_f32(krt_vmath_op op, const float *x, float *y)
{
    if ((unsigned)op < KRT_VM_COUNT)
        blocks[op](x, y);
}
#else
const int32_t krt_vmath_block_width = 0;
void krt_vmath_block_f32(krt_vmath_op op, const float *x, float *y)
{
    (void)op, (void)x, (void)y;
}
#endif
