/* krt_reduce_topk.c — kernel `topk`: TopK along one axis.
 *
 * Every dtype is mapped to an order-preserving unsigned 64-bit key (IEEE
 * floats: flip the sign bit of positives, all bits of negatives; signed
 * ints: flip the sign bit), so one selection routine serves all dtypes and
 * the values are then copied bytewise. "Smallest" is "largest" of ~key.
 * Every NaN maps to the key of +NaN, above +inf.
 *
 * Selection keeps the best k seen so far in a binary heap whose root is the
 * worst of them: O(n log k) per slice. Order is (key descending, index
 * ascending), a total order, so ties go to the lower index as the spec
 * says and the result is deterministic.
 */
#define KRT_REDUCE_SOURCE
#include "runtime/krt_reduce.h"

typedef uint64_t (*key_fn)(const void *x, int64_t i);

static uint64_t key_f32(const void *x, int64_t i)
{
    uint32_t b;
    memcpy(&b, (const float *)x + i, 4);
    if ((b & 0x7fffffffu) > 0x7f800000u)
        b = 0x7fc00000u; /* any NaN */
    if (b == 0x80000000u)
        b = 0; /* -0 == +0 */
    return b & 0x80000000u ? ~b & 0xffffffffu : b | 0x80000000u;
}

static uint64_t key_f64(const void *x, int64_t i)
{
    uint64_t b;
    memcpy(&b, (const double *)x + i, 8);
    if ((b & 0x7fffffffffffffffu) > 0x7ff0000000000000u)
        b = 0x7ff8000000000000u;
    if (b == 0x8000000000000000u)
        b = 0;
    return b & 0x8000000000000000u ? ~b : b | 0x8000000000000000u;
}

/* f16 and bf16: sign bit 15, exponent all ones = inf/NaN. */
static uint64_t key_half(uint16_t b, uint16_t inf)
{
    if ((b & 0x7fffu) > inf)
        b = (uint16_t)(inf | (inf >> 1 & ~inf)); /* canonical positive NaN */
    if (b == 0x8000u)
        b = 0;
    return b & 0x8000u ? (uint16_t)~b : (uint16_t)(b | 0x8000u);
}
static uint64_t key_f16(const void *x, int64_t i)
{
    return key_half(((const uint16_t *)x)[i], 0x7c00);
}
static uint64_t key_bf16(const void *x, int64_t i)
{
    return key_half(((const uint16_t *)x)[i], 0x7f80);
}

#define SIGN64 0x8000000000000000u
static uint64_t key_i8(const void *x, int64_t i)
{
    return (uint64_t)(int64_t)((const int8_t *)x)[i] ^ SIGN64;
}
static uint64_t key_i16(const void *x, int64_t i)
{
    return (uint64_t)(int64_t)((const int16_t *)x)[i] ^ SIGN64;
}
static uint64_t key_i32(const void *x, int64_t i)
{
    return (uint64_t)(int64_t)((const int32_t *)x)[i] ^ SIGN64;
}
static uint64_t key_i64(const void *x, int64_t i)
{
    return (uint64_t)((const int64_t *)x)[i] ^ SIGN64;
}
static uint64_t key_u8(const void *x, int64_t i)
{
    return ((const uint8_t *)x)[i];
}
static uint64_t key_u16(const void *x, int64_t i)
{
    return ((const uint16_t *)x)[i];
}
static uint64_t key_u32(const void *x, int64_t i)
{
    return ((const uint32_t *)x)[i];
}
static uint64_t key_u64(const void *x, int64_t i)
{
    return ((const uint64_t *)x)[i];
}

static const key_fn key_fns[KRT_DTYPE_COUNT] = {
    [KRT_F32] = key_f32, [KRT_F64] = key_f64, [KRT_F16] = key_f16, [KRT_BF16] = key_bf16,
    [KRT_I8] = key_i8,   [KRT_I16] = key_i16, [KRT_I32] = key_i32, [KRT_I64] = key_i64,
    [KRT_U8] = key_u8,   [KRT_U16] = key_u16, [KRT_U32] = key_u32, [KRT_U64] = key_u64,
};

/* ---- the heap of the best k ------------------------------------------------ */

typedef struct entry {
    uint64_t key;
    int64_t idx;
} entry;

/* a ranks below b: smaller key, or the same key and a later index. */
static bool worse(entry a, entry b)
{
    return a.key < b.key || (a.key == b.key && a.idx > b.idx);
}

static void sift_down(entry *h, int64_t n, int64_t i)
{
    for (;;) {
        int64_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && worse(h[l], h[m]))
            m = l;
        if (r < n && worse(h[r], h[m]))
            m = r;
        if (m == i)
            return;
        entry t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void sift_up(entry *h, int64_t i)
{
    while (i > 0 && worse(h[i], h[(i - 1) / 2])) {
        entry t = h[i];
        h[i] = h[(i - 1) / 2];
        h[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

/* The best k of one slice (element i at x[base + i*stride]), best first, into h. */
static void select_best(key_fn key, const void *x, int64_t base, int64_t stride, int64_t n,
                        int64_t k, uint64_t flip, entry *h)
{
    int64_t size = 0;
    for (int64_t i = 0; i < n; i++) {
        entry e = {key(x, base + i * stride) ^ flip, i};
        if (size < k) {
            h[size] = e;
            sift_up(h, size++);
        } else if (worse(h[0], e)) {
            h[0] = e;
            sift_down(h, k, 0);
        }
    }
    for (int64_t last = k - 1; last > 0; last--) { /* heap sort: worst to the end */
        entry t = h[0];
        h[0] = h[last];
        h[last] = t;
        sift_down(h, last, 0);
    }
}

/* ---- kernel `topk` ----------------------------------------------------------- */

static size_t topk_scratch(const void *desc)
{
    const krt_topk_desc *d = desc;
    return (size_t)(d->k > 0 ? d->k : 1) * sizeof(entry);
}

static int64_t topk_units(const void *desc)
{
    const krt_topk_desc *d = desc;
    return krt_row_units(d->outer, d->n * d->inner);
}

/* Slices (o, j) of outer rows [first, end), each into the heap h. */
static void topk_rows(const krt_topk_desc *d, int64_t first, int64_t end, const void *x,
                      void *values, int64_t *indices, entry *h)
{
    size_t es = krt_dtype_size(d->dt);
    for (int64_t o = first; o < end; o++)
        for (int64_t j = 0; j < d->inner; j++) {
            select_best(key_fns[d->dt], x, o * d->n * d->inner + j, d->inner, d->n, d->k,
                        d->largest ? 0 : ~(uint64_t)0, h);
            for (int64_t r = 0; r < d->k; r++) {
                int64_t at = (o * d->k + r) * d->inner + j;
                int64_t from = (o * d->n + h[r].idx) * d->inner + j;
                memcpy((char *)values + at * (int64_t)es, (const char *)x + from * (int64_t)es, es);
                indices[at] = h[r].idx;
            }
        }
}

static krt_status topk_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                           krt_error *err)
{
    const krt_topk_desc *d = desc;
    int64_t first, end;
    if ((unsigned)d->dt >= KRT_DTYPE_COUNT || !key_fns[d->dt])
        return KRT_EDTYPE;
    if (d->k < 0 || d->k > d->n) {
        err->what = "a K above the axis length";
        return KRT_EVALUE;
    }
    krt_unit_rows(r, d->outer, d->n * d->inner, &first, &end);
    if (d->k > 0)  /* else the outputs are empty */
        topk_rows(d, first, end, ops[0], ops[1], ops[2], scratch);
    return KRT_OK;
}

const krt_kernel_info krt_kernel_topk = {
    "topk", topk_run, topk_scratch, topk_units, sizeof(krt_topk_desc),
};
