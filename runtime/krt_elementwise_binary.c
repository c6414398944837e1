/* krt_elementwise_binary.c — broadcasting kernels: `binary` (the binary
 * ops, and Pow with base and exponent of different dtypes), `variadic`
 * (Sum Max Min Mean), `where`.
 *
 * All of them run through run_range: it merges the output dims that are
 * contiguous for every input (a [64,197,768] + [768] add becomes one
 * [64*197, 768] loop, a tensor * scalar one flat loop), then calls a row
 * function once per innermost row (or the part of it inside the work
 * range) with each input's pointer and inner stride. Row functions have
 * explicit paths for (1,1), (1,0) and (0,1) strides so the common cases
 * vectorize; everything else takes the general strided loop. Each op is one expression on `a` and `b` (OPS lists);
 * macros expand it for every dtype the op has.
 */
#define KRT_ELEMENTWISE_SOURCE
#include "runtime/krt_elementwise.h"

#include <math.h>

/* ---- broadcast layout ----------------------------------------------------- */

void krt_bcast_init(krt_bcast *bc, int rank, const int64_t *dims)
{
    memset(bc, 0, sizeof *bc);
    bc->rank = rank < 0 ? 0 : rank > KRT_MAX_RANK ? KRT_MAX_RANK : rank;
    for (int i = 0; i < bc->rank; i++)
        bc->dims[i] = dims[i];
}

krt_status krt_bcast_strides(int out_rank, const int64_t *out, int in_rank, const int64_t *in,
                             int64_t *strides)
{
    int64_t s = 1;
    if (in_rank < 0 || in_rank > out_rank)
        return KRT_EVALUE;
    for (int i = out_rank - 1; i >= 0; i--) {
        int j = i - (out_rank - in_rank);   /* the input's dim aligned with output dim i */
        int64_t d = j >= 0 ? in[j] : 1;
        if (d != out[i] && d != 1)
            return KRT_EVALUE;
        strides[i] = d == 1 ? 0 : s;
        s *= d;
    }
    return KRT_OK;
}

krt_status krt_bcast_add_input(krt_bcast *bc, int rank, const int64_t *dims)
{
    if (bc->n_in >= KRT_BCAST_MAX_IN ||
        krt_bcast_strides(bc->rank, bc->dims, rank, dims, bc->strides[bc->n_in]))
        return KRT_EVALUE;
    bc->n_in++;
    return KRT_OK;
}

int64_t krt_bcast_numel(const krt_bcast *bc)
{
    return krt_numel(bc->rank, bc->dims);
}

/* Drop size-1 dims and merge each dim into the next inner one when every
 * input steps through both as through one. False when there are no
 * elements. The result has rank >= 1. */
static int coalesce(krt_bcast *bc)
{
    int r = 0;
    for (int i = 0; i < bc->rank; i++) {
        if (bc->dims[i] == 0)
            return 0;
        if (bc->dims[i] == 1)
            continue;
        int merge = r > 0;
        for (int k = 0; merge && k < bc->n_in; k++)
            merge = bc->strides[k][r - 1] == bc->strides[k][i] * bc->dims[i];
        if (merge) {
            bc->dims[r - 1] *= bc->dims[i];
            for (int k = 0; k < bc->n_in; k++)
                bc->strides[k][r - 1] = bc->strides[k][i];
            continue;
        }
        bc->dims[r] = bc->dims[i];
        for (int k = 0; k < bc->n_in; k++)
            bc->strides[k][r] = bc->strides[k][i];
        r++;
    }
    if (r == 0) {
        bc->dims[0] = 1;
        for (int k = 0; k < bc->n_in; k++)
            bc->strides[k][0] = 0;
        r = 1;
    }
    bc->rank = r;
    return 1;
}

/* Called once per row of n output elements: x[k] is input k's first
 * element of the row, s[k] its stride along the row. */
typedef void (*row_fn)(void *y, const void *const *x, const int64_t *s, int64_t n);

/* Advance the outer index (all dims but the innermost) by one. */
static void next_row(const krt_bcast *bc, int64_t *idx, int64_t *off)
{
    for (int d = bc->rank - 2; d >= 0; d--) {
        for (int k = 0; k < bc->n_in; k++)
            off[k] += bc->strides[k][d];
        if (++idx[d] < bc->dims[d])
            return;
        for (int k = 0; k < bc->n_in; k++)
            off[k] -= bc->strides[k][d] * bc->dims[d];
        idx[d] = 0;
    }
}

/* The outer index and the inputs' offsets of row `row`. */
static void seek_row(const krt_bcast *bc, int64_t row, int64_t *idx, int64_t *off)
{
    for (int d = bc->rank - 2; d >= 0; d--) {
        idx[d] = row % bc->dims[d];
        row /= bc->dims[d];
        for (int k = 0; k < bc->n_in; k++)
            off[k] += idx[d] * bc->strides[k][d];
    }
}

/* fn over the output elements [lo, hi) of the layout, row by row; the
 * first and the last row may be partial. */
static void run_range(const krt_bcast *layout, const size_t *esz, const void *const *in, void *y,
                      size_t ysz, row_fn fn, int64_t lo, int64_t hi)
{
    krt_bcast bc = *layout;
    if (lo >= hi || !coalesce(&bc))
        return;
    int64_t n = bc.dims[bc.rank - 1], col = lo % n;
    int64_t idx[KRT_MAX_RANK] = {0}, off[KRT_BCAST_MAX_IN] = {0}, s[KRT_BCAST_MAX_IN];
    const void *ptr[KRT_BCAST_MAX_IN];
    seek_row(&bc, lo / n, idx, off);
    for (int k = 0; k < bc.n_in; k++)
        s[k] = bc.strides[k][bc.rank - 1];
    while (lo < hi) {
        int64_t len = n - col < hi - lo ? n - col : hi - lo;
        for (int k = 0; k < bc.n_in; k++)
            ptr[k] = (const char *)in[k] + (off[k] + col * s[k]) * (int64_t)esz[k];
        fn((char *)y + lo * (int64_t)ysz, ptr, s, len);
        lo += len;
        col = 0;
        next_row(&bc, idx, off);
    }
}

/* ---- two-input rows -------------------------------------------------------- */

#define LD_SAME(v) (v)
#define ST_SAME(v) (v)

/* name(y, x, s, n): y[i] = STORE(EXPR) with a = LOADA(x0[..]) of type CA
 * and b = LOADB(x1[..]) of type CB. */
#define DEF_ROW2(name, TA, TB, TO, CA, CB, LOADA, LOADB, STORE, EXPR)                 \
    static void name(void *yv, const void *const *xv, const int64_t *s, int64_t n)    \
    {                                                                                 \
        typedef CA real;                                                              \
        const TA *as = xv[0];                                                         \
        const TB *bs = xv[1];                                                         \
        TO *ys = yv;                                                                  \
        if (s[0] == 1 && s[1] == 1) {                                                 \
            for (int64_t i = 0; i < n; i++) {                                         \
                real a = LOADA(as[i]);                                                \
                CB b = LOADB(bs[i]);                                                  \
                ys[i] = STORE(EXPR);                                                  \
            }                                                                         \
        } else if (s[0] == 1 && s[1] == 0) {                                          \
            const CB b = LOADB(bs[0]);                                                \
            for (int64_t i = 0; i < n; i++) {                                         \
                real a = LOADA(as[i]);                                                \
                ys[i] = STORE(EXPR);                                                  \
            }                                                                         \
        } else if (s[0] == 0 && s[1] == 1) {                                          \
            const real a = LOADA(as[0]);                                              \
            for (int64_t i = 0; i < n; i++) {                                         \
                CB b = LOADB(bs[i]);                                                  \
                ys[i] = STORE(EXPR);                                                  \
            }                                                                         \
        } else {                                                                      \
            for (int64_t i = 0; i < n; i++) {                                         \
                real a = LOADA(as[i * s[0]]);                                         \
                CB b = LOADB(bs[i * s[1]]);                                           \
                ys[i] = STORE(EXPR);                                                  \
            }                                                                         \
        }                                                                             \
    }

/* ---- the ops, one expression each ----------------------------------------- */

/* Wrapping integer arithmetic through uint64_t (signed overflow is UB). */
#define WRAP_(op, a, b) ((real)((uint64_t)(a) op (uint64_t)(b)))
#define PYMOD_(r, b) ((r) != 0 && (((r) < 0) != ((b) < 0)) ? (r) + (b) : (r))
#define FMAX_(a, b) ((a) != (a) || (a) > (b) ? (a) : (b)) /* NaN-propagating */
#define FMIN_(a, b) ((a) != (a) || (a) < (b) ? (a) : (b))

#define FLOAT_ARITH(X)                                          \
    X(ADD, a + b)                                               \
    X(SUB, a - b)                                               \
    X(MUL, a * b)                                               \
    X(DIV, a / b)                                               \
    X(MOD, PYMOD_(fmod(a, b), b))                               \
    X(FMOD, fmod(a, b))                                         \
    X(MAX, FMAX_(a, b))                                         \
    X(MIN, FMIN_(a, b))                                         \
    X(PRELU, a < 0 ? a * b : a)

#define SINT_ARITH(X)                                                          \
    X(ADD, WRAP_(+, a, b))                                                     \
    X(SUB, WRAP_(-, a, b))                                                     \
    X(MUL, WRAP_(*, a, b))                                                     \
    X(DIV, b == 0 ? (real)0 : b == -1 ? WRAP_(-, 0, a) : (real)(a / b))        \
    X(MOD, b == 0 || b == -1 ? (real)0 : (real)PYMOD_(a % b, b))               \
    X(FMOD, b == 0 || b == -1 ? (real)0 : (real)(a % b))                       \
    X(MAX, a > b ? a : b)                                                      \
    X(MIN, a < b ? a : b)                                                      \
    X(PRELU, a < 0 ? WRAP_(*, a, b) : a)

#define UINT_ARITH(X)                                           \
    X(ADD, WRAP_(+, a, b))                                      \
    X(SUB, WRAP_(-, a, b))                                      \
    X(MUL, WRAP_(*, a, b))                                      \
    X(DIV, b == 0 ? (real)0 : (real)(a / b))                    \
    X(MOD, b == 0 ? (real)0 : (real)(a % b))                    \
    X(FMOD, b == 0 ? (real)0 : (real)(a % b))                   \
    X(MAX, a > b ? a : b)                                       \
    X(MIN, a < b ? a : b)                                       \
    X(PRELU, ((void)b, a)) /* never negative */                 \
    X(SHL, b >= 8 * sizeof(real) ? (real)0 : (real)((uint64_t)a << b)) \
    X(SHR, b >= 8 * sizeof(real) ? (real)0 : (real)(a >> b))

#define COMPARE(X)                                              \
    X(EQUAL, a == b)                                            \
    X(GREATER, a > b)                                           \
    X(GREATER_EQUAL, a >= b)                                    \
    X(LESS, a < b)                                              \
    X(LESS_EQUAL, a <= b)

#define LOGIC(X) X(AND, a && b) X(OR, a || b) X(XOR, !a != !b)

/* ---- dtypes: (suffix, ENUM, storage, compute, load, store) ----------------- */

#define FLOAT_TYPES(X, A1, A2)                                                     \
    X(A1, A2, f32, F32, float, float, LD_SAME, ST_SAME)                            \
    X(A1, A2, f64, F64, double, double, LD_SAME, ST_SAME)                          \
    X(A1, A2, f16, F16, uint16_t, float, krt_f16_to_f32, krt_f32_to_f16)           \
    X(A1, A2, bf16, BF16, uint16_t, float, krt_bf16_to_f32, krt_f32_to_bf16)
#define SINT_TYPES(X, A1, A2)                                                      \
    X(A1, A2, i8, I8, int8_t, int8_t, LD_SAME, ST_SAME)                            \
    X(A1, A2, i16, I16, int16_t, int16_t, LD_SAME, ST_SAME)                        \
    X(A1, A2, i32, I32, int32_t, int32_t, LD_SAME, ST_SAME)                        \
    X(A1, A2, i64, I64, int64_t, int64_t, LD_SAME, ST_SAME)
#define UINT_TYPES(X, A1, A2)                                                      \
    X(A1, A2, u8, U8, uint8_t, uint8_t, LD_SAME, ST_SAME)                          \
    X(A1, A2, u16, U16, uint16_t, uint16_t, LD_SAME, ST_SAME)                      \
    X(A1, A2, u32, U32, uint32_t, uint32_t, LD_SAME, ST_SAME)                      \
    X(A1, A2, u64, U64, uint64_t, uint64_t, LD_SAME, ST_SAME)
#define BOOL_TYPE(X, A1, A2) X(A1, A2, bool, BOOL, uint8_t, uint8_t, LD_SAME, ST_SAME)
#define NUM_TYPES(X, A1, A2) FLOAT_TYPES(X, A1, A2) SINT_TYPES(X, A1, A2) UINT_TYPES(X, A1, A2)

#define ROW_SAME(OP, EXPR, sfx, DT, T, C, LD, ST) \
    DEF_ROW2(OP##_##sfx, T, T, T, C, C, LD, LD, ST, EXPR)
#define ROW_BOOL(OP, EXPR, sfx, DT, T, C, LD, ST) \
    DEF_ROW2(OP##_##sfx, T, T, uint8_t, C, C, LD, LD, (uint8_t), EXPR)
#define ENTRY(OP, EXPR, sfx, DT, T, C, LD, ST) [KRT_BIN_##OP][KRT_##DT] = OP##_##sfx,

#define FLOAT_ROWS(OP, EXPR) FLOAT_TYPES(ROW_SAME, OP, EXPR)
#define SINT_ROWS(OP, EXPR) SINT_TYPES(ROW_SAME, OP, EXPR)
#define UINT_ROWS(OP, EXPR) UINT_TYPES(ROW_SAME, OP, EXPR)
#define COMPARE_ROWS(OP, EXPR) NUM_TYPES(ROW_BOOL, OP, EXPR) BOOL_TYPE(ROW_BOOL, OP, EXPR)
#define LOGIC_ROWS(OP, EXPR) BOOL_TYPE(ROW_BOOL, OP, EXPR)
FLOAT_ARITH(FLOAT_ROWS)
SINT_ARITH(SINT_ROWS)
UINT_ARITH(UINT_ROWS)
COMPARE(COMPARE_ROWS)
LOGIC(LOGIC_ROWS)

#define FLOAT_ENTRIES(OP, EXPR) FLOAT_TYPES(ENTRY, OP, EXPR)
#define SINT_ENTRIES(OP, EXPR) SINT_TYPES(ENTRY, OP, EXPR)
#define UINT_ENTRIES(OP, EXPR) UINT_TYPES(ENTRY, OP, EXPR)
#define COMPARE_ENTRIES(OP, EXPR) NUM_TYPES(ENTRY, OP, EXPR) BOOL_TYPE(ENTRY, OP, EXPR)
#define LOGIC_ENTRIES(OP, EXPR) BOOL_TYPE(ENTRY, OP, EXPR)

static const row_fn binary_table[KRT_BINARY_COUNT][KRT_DTYPE_COUNT] = {
    FLOAT_ARITH(FLOAT_ENTRIES)
    SINT_ARITH(SINT_ENTRIES)
    UINT_ARITH(UINT_ENTRIES)
    COMPARE(COMPARE_ENTRIES)
    LOGIC(LOGIC_ENTRIES)
};

/* ---- Pow ------------------------------------------------------------------ */

/* a ** e in wrapping integer arithmetic. */
static int64_t ipow_u(int64_t a, uint64_t e)
{
    uint64_t r = 1, base = (uint64_t)a;
    for (; e; e >>= 1) {
        if (e & 1)
            r *= base;
        base *= base;
    }
    return (int64_t)r;
}

static int64_t ipow_s(int64_t a, int64_t e)
{
    if (e >= 0)
        return ipow_u(a, (uint64_t)e);
    if (a == 1 || a == -1)  /* 1/a**|e| truncated: 0 unless |a| == 1 */
        return a == 1 || !(e & 1) ? 1 : -1;
    return 0;
}

/* One row function per (base, exponent) pair. Base kinds: I32/I64 (exact
 * with an integer exponent, truncated with a float one), FLT (computed in
 * double); exponent kinds: S (signed int), U (unsigned int), F (float). */
#define POW_I32_S(a, b) ipow_s(a, (int64_t)(b))
#define POW_I32_U(a, b) ipow_u(a, (uint64_t)(b))
#define POW_I32_F(a, b) krt_f2i32(pow((double)(a), (double)(b)))
#define POW_I64_S POW_I32_S
#define POW_I64_U POW_I32_U
#define POW_I64_F(a, b) krt_f2i64(pow((double)(a), (double)(b)))
#define POW_FLT_S(a, b) pow(a, (double)(b))
#define POW_FLT_U POW_FLT_S
#define POW_FLT_F POW_FLT_S
#define ST_F16D(v) krt_f32_to_f16((float)(v))
#define ST_BF16D(v) krt_f32_to_bf16((float)(v))

/* X(base..., exponent suffix, ENUM, storage, compute, load, kind) */
#define POW_EXPONENTS(X, ...)                                            \
    X(__VA_ARGS__, i8, I8, int8_t, int8_t, LD_SAME, S)                   \
    X(__VA_ARGS__, i16, I16, int16_t, int16_t, LD_SAME, S)               \
    X(__VA_ARGS__, i32, I32, int32_t, int32_t, LD_SAME, S)               \
    X(__VA_ARGS__, i64, I64, int64_t, int64_t, LD_SAME, S)               \
    X(__VA_ARGS__, u8, U8, uint8_t, uint8_t, LD_SAME, U)                 \
    X(__VA_ARGS__, u16, U16, uint16_t, uint16_t, LD_SAME, U)             \
    X(__VA_ARGS__, u32, U32, uint32_t, uint32_t, LD_SAME, U)             \
    X(__VA_ARGS__, u64, U64, uint64_t, uint64_t, LD_SAME, U)             \
    X(__VA_ARGS__, f32, F32, float, float, LD_SAME, F)                   \
    X(__VA_ARGS__, f64, F64, double, double, LD_SAME, F)                 \
    X(__VA_ARGS__, f16, F16, uint16_t, float, krt_f16_to_f32, F)         \
    X(__VA_ARGS__, bf16, BF16, uint16_t, float, krt_bf16_to_f32, F)

/* B expands to the base's parameters: suffix, ENUM, storage, compute,
 * load, store, kind. */
#define POW_B_i32 i32, I32, int32_t, int64_t, LD_SAME, (int32_t), I32
#define POW_B_i64 i64, I64, int64_t, int64_t, LD_SAME, (int64_t), I64
#define POW_B_f32 f32, F32, float, double, LD_SAME, (float), FLT
#define POW_B_f64 f64, F64, double, double, LD_SAME, (double), FLT
#define POW_B_f16 f16, F16, uint16_t, double, krt_f16_to_f32, ST_F16D, FLT
#define POW_B_bf16 bf16, BF16, uint16_t, double, krt_bf16_to_f32, ST_BF16D, FLT
#define POW_BASES(X) X(POW_B_i32) X(POW_B_i64) X(POW_B_f32) X(POW_B_f64) X(POW_B_f16) X(POW_B_bf16)

#define POW_ROW_(bs, BD, BT, BC, BL, BS, BK, es, ED, ET, EC, EL, EK) \
    DEF_ROW2(pow_##bs##_##es, BT, ET, BT, BC, EC, BL, EL, BS, POW_##BK##_##EK(a, b))
#define POW_ENTRY_(bs, BD, BT, BC, BL, BS, BK, es, ED, ET, EC, EL, EK) \
    [KRT_##BD][KRT_##ED] = pow_##bs##_##es,
/* Indirections so that B is expanded into its parameters before use. */
#define POW_ROW(...) POW_ROW_(__VA_ARGS__)
#define POW_ENTRY(...) POW_ENTRY_(__VA_ARGS__)
#define POW_ROWS_FOR(B) POW_EXPONENTS(POW_ROW, B)
#define POW_ENTRIES_FOR(B) POW_EXPONENTS(POW_ENTRY, B)
POW_BASES(POW_ROWS_FOR)

static const row_fn pow_table[KRT_DTYPE_COUNT][KRT_DTYPE_COUNT] = {
    POW_BASES(POW_ENTRIES_FOR)
};

/* ---- kernel `binary` ------------------------------------------------------- */

static row_fn binary_lookup(const krt_binary_desc *d)
{
    if ((unsigned)d->op >= KRT_BINARY_COUNT || (unsigned)d->dt >= KRT_DTYPE_COUNT ||
        (unsigned)d->b_dt >= KRT_DTYPE_COUNT)
        return NULL;
    if (d->y_dt != (d->op >= KRT_BIN_AND ? KRT_BOOL : d->dt))
        return NULL;
    if (d->op == KRT_BIN_POW)
        return pow_table[d->dt][d->b_dt];
    return d->b_dt == d->dt ? binary_table[d->op][d->dt] : NULL;
}

static int64_t binary_units(const void *desc)
{
    return krt_ew_units(krt_bcast_numel(&((const krt_binary_desc *)desc)->bc));
}

static krt_status binary_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                             krt_error *err)
{
    const krt_binary_desc *d = desc;
    row_fn fn = binary_lookup(d);
    int64_t lo, hi;
    if (!fn)
        return KRT_EDTYPE;
    if (d->bc.n_in != 2) {
        err->what = "a binary layout without two inputs";
        return KRT_EVALUE;
    }
    krt_ew_slice(r, krt_bcast_numel(&d->bc), &lo, &hi);
    size_t esz[2] = {krt_dtype_size(d->dt), krt_dtype_size(d->b_dt)};
    const void *in[2] = {ops[0], ops[1]};
    run_range(&d->bc, esz, in, ops[2], krt_dtype_size(d->y_dt), fn, lo, hi);
    return KRT_OK;
}

const krt_kernel_info krt_kernel_binary = {
    "binary", binary_run, NULL, binary_units, sizeof(krt_binary_desc),
};

/* ---- Where ---------------------------------------------------------------- */

/* Where only moves elements: one variant per element size. */
#define DEF_WHERE(T)                                                                   \
    static void where_##T(void *yv, const void *const *xv, const int64_t *s, int64_t n) \
    {                                                                                  \
        const uint8_t *c = xv[0];                                                      \
        const T *a = xv[1], *b = xv[2];                                                \
        T *y = yv;                                                                     \
        if (s[0] == 1 && s[1] == 1 && s[2] == 1) {                                     \
            for (int64_t i = 0; i < n; i++)                                            \
                y[i] = c[i] ? a[i] : b[i];                                             \
            return;                                                                    \
        }                                                                              \
        for (int64_t i = 0; i < n; i++)                                                \
            y[i] = c[i * s[0]] ? a[i * s[1]] : b[i * s[2]];                            \
    }
DEF_WHERE(uint8_t)
DEF_WHERE(uint16_t)
DEF_WHERE(uint32_t)
DEF_WHERE(uint64_t)

static row_fn where_lookup(krt_dtype dt)
{
    size_t sz = dt == KRT_UNDEF || (unsigned)dt >= KRT_DTYPE_COUNT ? 0 : krt_dtype_size(dt);
    return sz == 1 ? where_uint8_t : sz == 2 ? where_uint16_t
         : sz == 4 ? where_uint32_t : sz == 8 ? where_uint64_t : NULL;
}

static int64_t where_units(const void *desc)
{
    return krt_ew_units(krt_bcast_numel(&((const krt_where_desc *)desc)->bc));
}

static krt_status where_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                            krt_error *err)
{
    const krt_where_desc *d = desc;
    row_fn fn = where_lookup(d->dt);
    int64_t lo, hi;
    if (!fn)
        return KRT_EDTYPE;
    if (d->bc.n_in != 3) {
        err->what = "a Where layout without three inputs";
        return KRT_EVALUE;
    }
    krt_ew_slice(r, krt_bcast_numel(&d->bc), &lo, &hi);
    size_t sz = krt_dtype_size(d->dt), esz[3] = {1, sz, sz};
    const void *in[3] = {ops[0], ops[1], ops[2]};
    run_range(&d->bc, esz, in, ops[3], sz, fn, lo, hi);
    return KRT_OK;
}

const krt_kernel_info krt_kernel_where = {
    "where", where_run, NULL, where_units, sizeof(krt_where_desc),
};

/* ---- Mean's last step: y /= count ----------------------------------------- */

typedef void (*scale_fn)(void *y, int64_t n, int64_t count);

#define DEF_DIV_COUNT(sfx, T, C, LOAD, STORE)                       \
    static void div_count_##sfx(void *yv, int64_t n, int64_t count) \
    {                                                               \
        T *y = yv;                                                  \
        C c = (C)count;                                             \
        for (int64_t i = 0; i < n; i++)                             \
            y[i] = STORE(LOAD(y[i]) / c);                           \
    }
DEF_DIV_COUNT(f32, float, float, LD_SAME, ST_SAME)
DEF_DIV_COUNT(f64, double, double, LD_SAME, ST_SAME)
DEF_DIV_COUNT(f16, uint16_t, float, krt_f16_to_f32, krt_f32_to_f16)
DEF_DIV_COUNT(bf16, uint16_t, float, krt_bf16_to_f32, krt_f32_to_bf16)

static const scale_fn div_count_table[KRT_DTYPE_COUNT] = {
    [KRT_F32] = div_count_f32, [KRT_F64] = div_count_f64,
    [KRT_F16] = div_count_f16, [KRT_BF16] = div_count_bf16,
};

/* ---- kernel `variadic` ------------------------------------------------------
 * Each unit folds its slice of y through all the inputs: y = x0 op x1,
 * then y = y op xk; the order per element is the inputs' order whatever
 * the split. */

static int64_t variadic_units(const void *desc)
{
    const krt_variadic_desc *d = desc;
    return krt_ew_units(krt_numel(d->rank, d->dims));
}

static int variadic_ok(const krt_variadic_desc *d)
{
    return d->n_in >= 2 && d->n_in <= KRT_VARIADIC_MAX_IN && d->rank >= 0 &&
           d->rank <= KRT_MAX_RANK;
}

static krt_status variadic_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                               krt_error *err)
{
    const krt_variadic_desc *d = desc;
    krt_binary_desc b = {.op = d->op, .dt = d->dt, .b_dt = d->dt, .y_dt = d->dt};
    row_fn fn = binary_lookup(&b);
    int64_t lo, hi;
    if (!fn || d->op >= KRT_BIN_AND || (d->divisor && !div_count_table[d->dt]))
        return KRT_EDTYPE;
    if (!variadic_ok(d)) {
        err->what = "a variadic call without 2 to 16 inputs";
        return KRT_EVALUE;
    }
    krt_bcast bc = {.rank = d->rank, .n_in = 2};
    memcpy(bc.dims, d->dims, sizeof bc.dims);
    memcpy(bc.strides[0], d->strides[0], sizeof bc.strides[0]);
    krt_ew_slice(r, krt_numel(d->rank, d->dims), &lo, &hi);
    size_t es = krt_dtype_size(d->dt), esz[2] = {es, es};
    const void *in[2] = {ops[0], ops[1]};
    void *y = ops[d->n_in];
    for (int k = 1; k < d->n_in; k++) {
        in[1] = ops[k];
        memcpy(bc.strides[1], d->strides[k], sizeof bc.strides[1]);
        run_range(&bc, esz, in, y, es, fn, lo, hi);
        in[0] = y;                                  /* y is dense: */
        krt_strides(d->rank, d->dims, bc.strides[0]);
    }
    if (d->divisor && hi > lo)
        div_count_table[d->dt]((char *)y + lo * (int64_t)es, hi - lo, d->divisor);
    return KRT_OK;
}

const krt_kernel_info krt_kernel_variadic = {
    "variadic", variadic_run, NULL, variadic_units, sizeof(krt_variadic_desc),
};
