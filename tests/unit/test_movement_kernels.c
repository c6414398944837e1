/* test_movement_kernels.c — the movement-family kernels (runtime/krt_movement.h)
 * against independent references: naive index loops written here, the
 * examples of the ONNX spec, and values computed with numpy (pasted with a
 * comment saying how). */
#include "cunit_main.h"
#include "kernel_run.h"
#include "runtime/krt_movement.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define N_OF(a) ((int64_t)(sizeof(a) / sizeof((a)[0])))

static void fill_iota(float *p, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        p[i] = (float)i;
}

/* Flat index of coordinate c in dims (C order). */
static int64_t flat(int rank, const int64_t *dims, const int64_t *c)
{
    int64_t f = 0;
    for (int k = 0; k < rank; k++)
        f = f * dims[k] + c[k];
    return f;
}

/* Next coordinate in C order; false after the last. */
static int next_coord(int rank, const int64_t *dims, int64_t *c)
{
    for (int k = rank - 1; k >= 0; k--) {
        if (++c[k] < dims[k])
            return 1;
        c[k] = 0;
    }
    return 0;
}

/* ---- the kernels through their kernel-call interface (kernel_run.h),
 * with the argument lists of the functions they replaced ---------------------- */

/* Units of the whole call; err (may be NULL) gets the kernel's detail. */
static krt_status call(const krt_kernel_info *k, const void *d, void *const *ops, krt_error *err)
{
    return kernel_run_range(k, d, ops, 0, kernel_units(k, d), err);
}

static void strided(void *dst, const void *src, const krt_strided_desc *d)
{
    CU_ASSERT_EQUAL(call(&krt_kernel_strided, d, OPS((void *)src, dst), NULL), KRT_OK);
}

static void transpose(void *dst, const void *src, size_t es, int r, const int64_t *dims,
                      const int64_t *perm)
{
    krt_strided_desc d;
    krt_view_transpose(&d, es, r, dims, perm);
    strided(dst, src, &d);
}

static void slice(void *dst, const void *src, size_t es, int r, const int64_t *in_dims,
                  const int64_t *starts, const int64_t *steps, const int64_t *out_dims)
{
    krt_strided_desc d;
    krt_view_slice(&d, es, r, in_dims, starts, steps, out_dims);
    strided(dst, src, &d);
}

static void expand(void *dst, const void *src, size_t es, int r, const int64_t *out_dims,
                   int in_rank, const int64_t *in_dims)
{
    krt_strided_desc d;
    krt_view_expand(&d, es, r, out_dims, in_rank, in_dims);
    strided(dst, src, &d);
}

static void tile(void *dst, const void *src, size_t es, int r, const int64_t *in_dims,
                 const int64_t *reps)
{
    krt_strided_desc d;
    krt_view_tile(&d, es, r, in_dims, reps);
    strided(dst, src, &d);
}

static void depth_to_space(void *dst, const void *src, size_t es, const int64_t *dims, int64_t bs,
                           int crd)
{
    krt_strided_desc d;
    krt_view_depth_to_space(&d, es, dims, bs, crd);
    strided(dst, src, &d);
}

static void space_to_depth(void *dst, const void *src, size_t es, const int64_t *dims, int64_t bs)
{
    krt_strided_desc d;
    krt_view_space_to_depth(&d, es, dims, bs);
    strided(dst, src, &d);
}

static krt_concat_desc concat_desc(const int64_t *sizes, int n, size_t es, int64_t outer,
                                   int64_t inner)
{
    krt_concat_desc d = {.esize = (int64_t)es, .outer = outer, .inner = inner, .n = n};
    for (int i = 0; i < n; i++)
        d.axis_dims[i] = sizes[i], d.total += sizes[i];
    return d;
}

static void concat(void *dst, const void *const *srcs, const int64_t *sizes, int n, size_t es,
                   int64_t outer, int64_t inner)
{
    krt_concat_desc d = concat_desc(sizes, n, es, outer, inner);
    void *ops[KRT_CONCAT_MAX_PARTS + 1];
    for (int i = 0; i < n; i++)
        ops[i] = (void *)srcs[i];
    ops[n] = dst;
    CU_ASSERT_EQUAL(call(&krt_kernel_concat, &d, ops, NULL), KRT_OK);
}

static void split(void *const *dsts, const void *src, const int64_t *sizes, int n, size_t es,
                  int64_t outer, int64_t inner)
{
    krt_concat_desc d = concat_desc(sizes, n, es, outer, inner);
    void *ops[KRT_CONCAT_MAX_PARTS + 1] = {(void *)src};
    for (int i = 0; i < n; i++)
        ops[1 + i] = dsts[i];
    CU_ASSERT_EQUAL(call(&krt_kernel_split, &d, ops, NULL), KRT_OK);
}

static krt_status pad(void *dst, const void *src, size_t es, int r, const int64_t *dims,
                      const int64_t *pads, krt_pad_mode mode, const void *value)
{
    krt_pad_desc d = {.esize = (int64_t)es, .mode = mode, .rank = r};
    memcpy(d.in, dims, (size_t)r * 8);
    memcpy(d.pads, pads, (size_t)r * 16);
    return call(&krt_kernel_pad, &d, OPS((void *)src, (void *)value, dst), NULL);
}

static void trilu(void *dst, const void *src, size_t es, int64_t batch, int64_t rows, int64_t cols,
                  int64_t k, int upper)
{
    krt_trilu_desc d = {.esize = (int64_t)es, .batch = batch, .rows = rows, .cols = cols, .upper = upper};
    CU_ASSERT_EQUAL(call(&krt_kernel_trilu, &d, OPS((void *)src, &k, dst), NULL), KRT_OK);
}

static krt_status reverse_sequence(void *dst, const void *src, size_t es, int64_t d0, int64_t d1,
                                   int64_t inner, int time_axis, const int64_t *lens, krt_error *err)
{
    krt_reverse_sequence_desc d = {.esize = (int64_t)es, .d0 = d0, .d1 = d1, .inner = inner,
                                   .time_axis = time_axis};
    return call(&krt_kernel_reverse_sequence, &d, OPS((void *)src, (void *)lens, dst), err);
}

static krt_status gather(void *dst, const void *src, size_t es, int64_t outer, int64_t axis_dim,
                         int64_t inner, const void *idx, krt_dtype idx_dt, int64_t n_idx,
                         krt_error *err)
{
    krt_gather_desc d = {.esize = (int64_t)es, .idx_dtype = idx_dt, .outer = outer, .axis_dim = axis_dim,
                         .inner = inner, .n_idx = n_idx};
    return call(&krt_kernel_gather, &d, OPS((void *)src, (void *)idx, dst), err);
}

/* A dtype of element size es (the gathers only move bytes). */
static krt_dtype sized(size_t es)
{
    return es == 1 ? KRT_U8 : es == 2 ? KRT_U16 : es == 4 ? KRT_U32 : KRT_U64;
}

static krt_elements_desc elements_desc(krt_dtype dt, int rank, const int64_t *data_dims,
                                       const int64_t *idx_dims, int axis, krt_dtype idx_dt,
                                       krt_reduction red)
{
    krt_elements_desc d = {.dtype = dt, .idx_dtype = idx_dt, .reduction = red, .rank = rank,
                           .axis = axis};
    memcpy(d.data_dims, data_dims, (size_t)rank * 8);
    memcpy(d.idx_dims, idx_dims, (size_t)rank * 8);
    return d;
}

static krt_status gather_elements(void *dst, const void *src, size_t es, int rank,
                                  const int64_t *data_dims, const int64_t *idx_dims, int axis,
                                  const void *idx, krt_dtype idx_dt, krt_error *err)
{
    krt_elements_desc d = elements_desc(sized(es), rank, data_dims, idx_dims, axis, idx_dt, KRT_RED_NONE);
    return call(&krt_kernel_gather_elements, &d, OPS((void *)src, (void *)idx, dst), err);
}

static krt_status scatter_elements(void *dst, const void *data, krt_dtype dt, int rank,
                                   const int64_t *data_dims, const int64_t *idx_dims, int axis,
                                   const void *idx, krt_dtype idx_dt, const void *upd,
                                   krt_reduction red, krt_error *err)
{
    krt_elements_desc d = elements_desc(dt, rank, data_dims, idx_dims, axis, idx_dt, red);
    return call(&krt_kernel_scatter_elements, &d, OPS((void *)data, (void *)idx, (void *)upd, dst), err);
}

static krt_nd_desc nd_desc(krt_dtype dt, int rank, const int64_t *dims, int b, int64_t n_tuples,
                           int k, krt_dtype idx_dt, krt_reduction red)
{
    krt_nd_desc d = {.dtype = dt, .idx_dtype = idx_dt, .reduction = red, .rank = rank,
                     .batch_dims = b, .k = k, .n_tuples = n_tuples};
    memcpy(d.data_dims, dims, (size_t)rank * 8);
    return d;
}

static krt_status gather_nd(void *dst, const void *src, size_t es, int rank, const int64_t *dims,
                            int b, int64_t n_tuples, int k, const void *idx, krt_dtype idx_dt,
                            krt_error *err)
{
    krt_nd_desc d = nd_desc(sized(es), rank, dims, b, n_tuples, k, idx_dt, KRT_RED_NONE);
    return call(&krt_kernel_gather_nd, &d, OPS((void *)src, (void *)idx, dst), err);
}

static krt_status scatter_nd(void *dst, const void *data, krt_dtype dt, int rank,
                             const int64_t *dims, int64_t n_tuples, int k, const void *idx,
                             krt_dtype idx_dt, const void *upd, krt_reduction red, krt_error *err)
{
    krt_nd_desc d = nd_desc(dt, rank, dims, 0, n_tuples, k, idx_dt, red);
    return call(&krt_kernel_scatter_nd, &d, OPS((void *)data, (void *)idx, (void *)upd, dst), err);
}

static void one_hot(void *dst, size_t es, const void *offon, const void *idx, krt_dtype idx_dt,
                    int64_t outer, int64_t depth, int64_t inner)
{
    krt_one_hot_desc d = {.esize = (int64_t)es, .idx_dtype = idx_dt, .outer = outer, .depth = depth,
                          .inner = inner};
    CU_ASSERT_EQUAL(call(&krt_kernel_one_hot, &d, OPS((void *)idx, (void *)offon, dst), NULL), KRT_OK);
}

static krt_status compress(void *dst, const void *src, size_t es, int64_t outer, int64_t axis_dim,
                           int64_t inner, const uint8_t *cond, int64_t n_cond, krt_error *err)
{
    krt_compress_desc d = {(int64_t)es, outer, axis_dim, inner, n_cond};
    return call(&krt_kernel_compress, &d, OPS((void *)src, (void *)cond, dst), err);
}

static krt_status nonzero(int64_t *dst, const void *src, krt_dtype dt, int rank,
                          const int64_t *dims, int64_t count)
{
    krt_nonzero_desc d = {.dtype = dt, .rank = rank, .count = count};
    memcpy(d.dims, dims, (size_t)rank * 8);
    return call(&krt_kernel_nonzero, &d, OPS((void *)src, dst), NULL);
}

static krt_status range(void *dst, krt_dtype dt, const void *start, const void *delta, int64_t n)
{
    krt_range_desc d = {.dtype = dt, .n = n};
    return call(&krt_kernel_range, &d, OPS((void *)start, (void *)delta, dst), NULL);
}

static void eye_like(void *dst, krt_dtype dt, int64_t rows, int64_t cols, int64_t k)
{
    krt_eye_like_desc d = {.dtype = dt, .rows = rows, .cols = cols, .k = k};
    CU_ASSERT_EQUAL(call(&krt_kernel_eye_like, &d, OPS(dst), NULL), KRT_OK);
}

static void window_fn(void *dst, krt_dtype dt, krt_window kind, int64_t size, int periodic)
{
    krt_window_desc d = {.dtype = dt, .kind = kind, .size = size, .periodic = periodic};
    CU_ASSERT_EQUAL(call(&krt_kernel_window, &d, OPS(dst), NULL), KRT_OK);
}

static krt_status mel_weight_matrix(void *dst, krt_dtype dt, int64_t bins, int64_t dft_length,
                                    int64_t rate, double lo, double hi)
{
    krt_mel_weights_desc d = {.dtype = dt, .num_mel_bins = bins, .dft_length = dft_length,
                              .sample_rate = rate, .lower_hz = lo, .upper_hz = hi};
    return call(&krt_kernel_mel_weights, &d, OPS(dst), NULL);
}

static krt_status dft(void *dst, const void *src, krt_dtype dt, int64_t outer, int64_t sig_len,
                      int64_t inner, int c_in, int64_t n_fft, int64_t n_out, int inverse)
{
    krt_dft_desc d = {.dtype = dt, .outer = outer, .sig_len = sig_len, .inner = inner,
                      .c_in = c_in, .inverse = inverse, .n_fft = n_fft, .n_out = n_out};
    return call(&krt_kernel_dft, &d, OPS((void *)src, dst), NULL);
}

static krt_status stft(void *dst, const void *sig, krt_dtype dt, int64_t batch, int64_t sig_len,
                       int c_in, int64_t step, int64_t frame_len, const void *win, int64_t n_frames,
                       int64_t n_out)
{
    krt_stft_desc d = {.dtype = dt, .batch = batch, .sig_len = sig_len, .c_in = c_in,
                       .step = step, .frame_len = frame_len, .n_frames = n_frames, .n_out = n_out};
    return call(&krt_kernel_stft, &d, OPS((void *)sig, (void *)win, dst), NULL);
}

/* ---- element access ------------------------------------------------------- */

static void test_load_store(void)
{
    int8_t i8[1];
    uint16_t h[1];
    float f[2] = {-2.75f, 1e30f};
    krt_store_f64(KRT_I8, i8, 0, 300.0);
    CU_ASSERT_EQUAL(i8[0], 127);          /* saturated */
    krt_store_f64(KRT_I8, i8, 0, -7.9);
    CU_ASSERT_EQUAL(i8[0], -7);           /* truncated toward zero */
    CU_ASSERT_EQUAL(krt_load_i64(KRT_F32, f, 0), -2);
    CU_ASSERT_EQUAL(krt_load_i64(KRT_F32, f, 1), INT64_MAX);
    krt_store_f64(KRT_F16, h, 0, 1.5);
    CU_ASSERT_EQUAL(h[0], 0x3e00);        /* 1.5 in binary16 */
    CU_ASSERT_DOUBLE_EQUAL(krt_load_f64(KRT_F16, h, 0), 1.5, 0);
}

/* ---- transpose, slice, expand, tile -------------------------------------- */

/* Naive transpose over bytes of an esize-byte element type. */
static void naive_transpose(unsigned char *dst, const unsigned char *src, size_t es, int r,
                            const int64_t *dims, const int64_t *perm)
{
    int64_t od[KRT_MAX_RANK], c[KRT_MAX_RANK] = {0}, ic[KRT_MAX_RANK];
    for (int k = 0; k < r; k++)
        od[k] = dims[perm[k]];
    do {
        for (int k = 0; k < r; k++)
            ic[perm[k]] = c[k];
        memcpy(dst + flat(r, od, c) * es, src + flat(r, dims, ic) * es, es);
    } while (next_coord(r, od, c));
}

static void check_transpose(size_t es, int r, const int64_t *dims, const int64_t *perm)
{
    int64_t n = krt_numel(r, dims);
    unsigned char *src = malloc(n * es), *got = malloc(n * es), *want = malloc(n * es);
    for (int64_t i = 0; i < n * (int64_t)es; i++)
        src[i] = (unsigned char)(i * 7 + 3);
    naive_transpose(want, src, es, r, dims, perm);
    transpose(got, src, es, r, dims, perm);
    CU_ASSERT_EQUAL(memcmp(got, want, n * es), 0);
    free(src), free(got), free(want);
}

static void test_transpose_all_perms(void)
{
    static const int64_t dims[4] = {2, 3, 1, 5};
    size_t sizes[] = {1, 2, 3, 4, 8};
    int64_t perm[4];
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++)
            for (int c = 0; c < 4; c++) {
                int d = 6 - a - b - c;
                if (a == b || a == c || b == c || d < 0 || d > 3 || d == a || d == b || d == c)
                    continue;
                perm[0] = a, perm[1] = b, perm[2] = c, perm[3] = d;
                for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
                    check_transpose(sizes[s], 4, dims, perm);
            }
    /* large enough for the tiled path, with partial tiles */
    static const int64_t big[3] = {17, 33, 9}, p[3] = {2, 0, 1};
    static const int64_t mat[3] = {3, 45, 70}, swap[3] = {0, 2, 1};
    check_transpose(4, 3, big, p);
    check_transpose(2, 3, mat, swap);
    check_transpose(8, 3, mat, swap);
}

static void test_slice_negative_steps(void)
{
    /* x[4, 5] = iota; x[3:0:-2, -1:-6:-3] -> rows 3,1, cols 4,1 */
    float x[20], got[4];
    fill_iota(x, 20);
    int64_t dims[2] = {4, 5}, first[2], steps[2] = {-2, -3}, out[2];
    out[0] = krt_slice_axis(4, 3, 0, -2, &first[0]);
    out[1] = krt_slice_axis(5, -1, -6, -3, &first[1]);
    CU_ASSERT_EQUAL(out[0], 2);
    CU_ASSERT_EQUAL(out[1], 2);
    slice(got, x, 4, 2, dims, first, steps, out);
    float want[4] = {19, 16, 9, 6};
    CU_ASSERT_EQUAL(memcmp(got, want, sizeof want), 0);
}

static void test_slice_axis_clamping(void)
{
    int64_t first;
    CU_ASSERT_EQUAL(krt_slice_axis(10, 2, 1000, 1, &first), 8);
    CU_ASSERT_EQUAL(first, 2);
    CU_ASSERT_EQUAL(krt_slice_axis(10, -1000, 3, 1, &first), 3);
    CU_ASSERT_EQUAL(first, 0);
    CU_ASSERT_EQUAL(krt_slice_axis(10, 20, 30, 1, &first), 0);
    CU_ASSERT_EQUAL(krt_slice_axis(10, INT64_MAX, INT64_MIN, -1, &first), 10);
    CU_ASSERT_EQUAL(first, 9);
    CU_ASSERT_EQUAL(krt_slice_axis(10, 5, 0, 3, &first), 0);
    CU_ASSERT_EQUAL(krt_slice_axis(10, 8, 1, INT64_MIN, &first), 1);
    CU_ASSERT_EQUAL(krt_slice_axis(10, 0, 10, 4, &first), 3);  /* 0, 4, 8 */
}

static void test_expand_and_tile(void)
{
    float x[3] = {1, 2, 3}, got[24];
    int64_t in_dims[2] = {3, 1}, out_dims[3] = {2, 3, 4};
    expand(got, x, 4, 3, out_dims, 2, in_dims);
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 3; b++)
            for (int c = 0; c < 4; c++)
                CU_ASSERT_EQUAL(got[(a * 3 + b) * 4 + c], x[b]);
    /* tile [2, 3] by [2, 3] -> [4, 9] */
    float t[6], tg[36];
    fill_iota(t, 6);
    int64_t td[2] = {2, 3}, reps[2] = {2, 3};
    tile(tg, t, 4, 2, td, reps);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 9; j++)
            CU_ASSERT_EQUAL(tg[i * 9 + j], t[(i % 2) * 3 + j % 3]);
}

static void test_concat_split_round_trip(void)
{
    /* [2, 1, 3] ++ [2, 2, 3] on axis 1 -> [2, 3, 3] */
    float a[6], b[12], got[18], a2[6], b2[12];
    fill_iota(a, 6);
    for (int i = 0; i < 12; i++)
        b[i] = 100.0f + (float)i;
    const void *srcs[2] = {a, b};
    int64_t sizes[2] = {1, 2};
    concat(got, srcs, sizes, 2, 4, 2, 3);
    for (int o = 0; o < 2; o++)
        for (int j = 0; j < 3; j++)
            for (int i = 0; i < 3; i++)
                CU_ASSERT_EQUAL(got[(o * 3 + j) * 3 + i], j == 0 ? a[o * 3 + i] : b[(o * 2 + j - 1) * 3 + i]);
    void *dsts[2] = {a2, b2};
    split(dsts, got, sizes, 2, 4, 2, 3);
    CU_ASSERT_EQUAL(memcmp(a, a2, sizeof a), 0);
    CU_ASSERT_EQUAL(memcmp(b, b2, sizeof b), 0);
}

/* ---- pad --------------------------------------------------------------------- */

static void check_pad(krt_pad_mode mode, const int64_t *pads, const int32_t *value,
                      const int32_t *want, int64_t n_want)
{
    int32_t x[12], got[64];
    for (int i = 0; i < 12; i++)
        x[i] = i;
    int64_t dims[2] = {3, 4};
    CU_ASSERT_EQUAL(pad(got, x, 4, 2, dims, pads, mode, value), KRT_OK);
    CU_ASSERT_EQUAL(memcmp(got, want, (size_t)n_want * 4), 0);
}

static void test_pad_modes(void)
{
    /* numpy: np.pad(np.arange(12).reshape(3, 4), ((1, 2), (2, 3)), 'reflect') */
    static const int32_t reflect[] = {6, 5, 4, 5, 6, 7, 6, 5, 4, 2, 1, 0, 1, 2, 3, 2, 1, 0, 6, 5, 4, 5, 6, 7, 6, 5, 4,
                                      10, 9, 8, 9, 10, 11, 10, 9, 8, 6, 5, 4, 5, 6, 7, 6, 5, 4, 2, 1, 0, 1, 2, 3, 2, 1, 0};
    /* numpy: np.pad(..., ((2, 0), (1, 1)), 'edge') */
    static const int32_t edge[] = {0, 0, 1, 2, 3, 3, 0, 0, 1, 2, 3, 3, 0, 0, 1, 2, 3, 3,
                                   4, 4, 5, 6, 7, 7, 8, 8, 9, 10, 11, 11};
    /* numpy: np.pad(..., ((0, 1), (1, 0)), 'constant', constant_values=-1) */
    static const int32_t constant[] = {-1, 0, 1, 2, 3, -1, 4, 5, 6, 7, -1, 8, 9, 10, 11, -1, -1, -1, -1, -1};
    /* crop first (rows 1:, cols :2), then numpy reflect ((0, 0), (1, 0)) */
    static const int32_t crop[] = {5, 4, 5, 9, 8, 9};
    int64_t p1[4] = {1, 2, 2, 3}, p2[4] = {2, 1, 0, 1}, p3[4] = {0, 1, 1, 0}, p4[4] = {-1, 1, 0, -2};
    int32_t minus1 = -1;
    check_pad(KRT_PAD_REFLECT, p1, NULL, reflect, N_OF(reflect));
    check_pad(KRT_PAD_EDGE, p2, NULL, edge, N_OF(edge));
    check_pad(KRT_PAD_CONSTANT, p3, &minus1, constant, N_OF(constant));
    check_pad(KRT_PAD_REFLECT, p4, NULL, crop, N_OF(crop));
}

static void test_pad_long_reflect_and_errors(void)
{
    /* numpy: np.pad([1, 2, 3], (5, 6), 'reflect') */
    static const int32_t want[] = {2, 1, 2, 3, 2, 1, 2, 3, 2, 1, 2, 3, 2, 1};
    int32_t x[3] = {1, 2, 3}, got[14];
    int64_t dims[1] = {3}, pads[2] = {5, 6};
    CU_ASSERT_EQUAL(pad(got, x, 4, 1, dims, pads, KRT_PAD_REFLECT, NULL), KRT_OK);
    CU_ASSERT_EQUAL(memcmp(got, want, sizeof want), 0);
    int64_t crop_all[2] = {-3, 1};  /* nothing left to reflect */
    CU_ASSERT_EQUAL(pad(got, x, 4, 1, dims, crop_all, KRT_PAD_EDGE, NULL), KRT_EVALUE);
    CU_ASSERT_EQUAL(pad(got, x, 4, 1, dims, crop_all, KRT_PAD_CONSTANT, NULL), KRT_OK);
    CU_ASSERT_EQUAL(got[0], 0);
}

/* ---- depth/space, trilu, reverse-sequence --------------------------------------- */

static void test_depth_to_space_modes(void)
{
    /* N=1, C=8, H=2, W=3, bs=2: reference from the ONNX definitions
     * DCR: y[n, c, h*bs+i, w*bs+j] = x[n, (i*bs + j)*C' + c, h, w]
     * CRD: y[n, c, h*bs+i, w*bs+j] = x[n, c*bs*bs + i*bs + j, h, w] */
    float x[48], got[48], back[48];
    fill_iota(x, 48);
    int64_t dims[4] = {1, 8, 2, 3}, od[4] = {1, 2, 4, 6};
    for (int crd = 0; crd < 2; crd++) {
        depth_to_space(got, x, 4, dims, 2, crd);
        for (int c = 0; c < 2; c++)
            for (int h = 0; h < 2; h++)
                for (int w = 0; w < 3; w++)
                    for (int i = 0; i < 2; i++)
                        for (int j = 0; j < 2; j++) {
                            int ch = crd ? c * 4 + i * 2 + j : (i * 2 + j) * 2 + c;
                            CU_ASSERT_EQUAL(got[(c * 4 + h * 2 + i) * 6 + w * 2 + j], x[(ch * 2 + h) * 3 + w]);
                        }
    }
    /* SpaceToDepth inverts DCR */
    depth_to_space(got, x, 4, dims, 2, 0);
    space_to_depth(back, got, 4, od, 2);
    CU_ASSERT_EQUAL(memcmp(back, x, sizeof x), 0);
}

static void test_trilu(void)
{
    int64_t x[2 * 3 * 4], got[24];
    for (int i = 0; i < 24; i++)
        x[i] = i + 1;
    for (int upper = 0; upper < 2; upper++)
        for (int64_t k = -4; k <= 5; k++) {
            trilu(got, x, 8, 2, 3, 4, k, upper);
            for (int b = 0; b < 2; b++)
                for (int i = 0; i < 3; i++)
                    for (int j = 0; j < 4; j++) {
                        int keep = upper ? j - i >= k : j - i <= k;
                        int64_t at = (b * 3 + i) * 4 + j;
                        CU_ASSERT_EQUAL(got[at], keep ? x[at] : 0);
                    }
        }
    trilu(got, x, 8, 1, 3, 4, INT64_MAX, 1);  /* no overflow: everything zero */
    CU_ASSERT_EQUAL(got[3], 0);
}

static void test_reverse_sequence(void)
{
    /* ONNX spec, example 1 (time_axis 0, batch_axis 1) */
    float x[16] = {0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15}, got[16];
    float want[16] = {3, 6, 9, 12, 2, 5, 8, 13, 1, 4, 10, 14, 0, 7, 11, 15};
    int64_t lens[4] = {4, 3, 2, 1}, bad[4] = {4, 5, 2, 1};
    krt_error err;
    CU_ASSERT_EQUAL(reverse_sequence(got, x, 4, 4, 4, 1, 0, lens, &err), KRT_OK);
    CU_ASSERT_EQUAL(memcmp(got, want, sizeof want), 0);
    /* example 2: time_axis 1, batch_axis 0 */
    float x2[16], want2[16] = {0, 1, 2, 3, 5, 4, 6, 7, 10, 9, 8, 11, 15, 14, 13, 12};
    int64_t lens2[4] = {1, 2, 3, 4};
    fill_iota(x2, 16);
    CU_ASSERT_EQUAL(reverse_sequence(got, x2, 4, 4, 4, 1, 1, lens2, &err), KRT_OK);
    CU_ASSERT_EQUAL(memcmp(got, want2, sizeof want2), 0);
    CU_ASSERT_EQUAL(reverse_sequence(got, x, 4, 4, 4, 1, 0, bad, &err), KRT_EINDEX);
    CU_ASSERT_EQUAL(err.value, 5);
    CU_ASSERT_EQUAL(err.pos, 1);
}

/* ---- gathers ------------------------------------------------------------------------- */

static void test_gather(void)
{
    /* data [3, 4], axis 1, indices [[0, -1], [2, 1]] -> [3, 2, 2] */
    float x[12], got[12];
    fill_iota(x, 12);
    int64_t idx[4] = {0, -1, 2, 1};
    int32_t idx32[4] = {0, -1, 2, 1};
    krt_error err;
    CU_ASSERT_EQUAL(gather(got, x, 4, 3, 4, 1, idx, KRT_I64, 4, &err), KRT_OK);
    for (int o = 0; o < 3; o++)
        for (int j = 0; j < 4; j++)
            CU_ASSERT_EQUAL(got[o * 4 + j], x[o * 4 + (idx[j] + 4) % 4]);
    float got32[12];
    CU_ASSERT_EQUAL(gather(got32, x, 4, 3, 4, 1, idx32, KRT_I32, 4, &err), KRT_OK);
    CU_ASSERT_EQUAL(memcmp(got, got32, sizeof got), 0);
    int64_t bad[2] = {1, -5};
    CU_ASSERT_EQUAL(gather(got, x, 4, 3, 4, 1, bad, KRT_I64, 2, &err), KRT_EINDEX);
    CU_ASSERT_EQUAL(err.value, -5);
    CU_ASSERT_EQUAL(err.lo, -4);
    CU_ASSERT_EQUAL(err.hi, 4);
    CU_ASSERT_EQUAL(err.pos, 1);
    CU_ASSERT_EQUAL(gather(got, x, 4, 3, 4, 1, bad, KRT_F32, 2, &err), KRT_EDTYPE);
}

static void test_gather_elements(void)
{
    /* ONNX spec example: data [[1, 2], [3, 4]], axis 1, indices [[0, 0], [1, 0]] */
    float x[4] = {1, 2, 3, 4}, got[4], want[4] = {1, 1, 4, 3};
    int64_t dims[2] = {2, 2}, idx[4] = {0, 0, -1, 0};
    krt_error err;
    CU_ASSERT_EQUAL(gather_elements(got, x, 4, 2, dims, dims, 1, idx, KRT_I64, &err), KRT_OK);
    CU_ASSERT_EQUAL(memcmp(got, want, sizeof want), 0);
    /* axis 0 with indices [2, 3] into data [3, 3]: out[i][j] = x[idx[i][j]][j] */
    float x3[9], g3[6];
    fill_iota(x3, 9);
    int64_t d3[2] = {3, 3}, id[2] = {2, 3}, i3[6] = {1, 2, 0, 2, 0, 0};
    CU_ASSERT_EQUAL(gather_elements(g3, x3, 4, 2, d3, id, 0, i3, KRT_I64, &err), KRT_OK);
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            CU_ASSERT_EQUAL(g3[i * 3 + j], x3[i3[i * 3 + j] * 3 + j]);
    int64_t wide[2] = {2, 4};  /* wider than data off the axis */
    CU_ASSERT_EQUAL(gather_elements(g3, x3, 4, 2, d3, wide, 0, i3, KRT_I64, &err), KRT_EVALUE);
}

static void test_gather_nd(void)
{
    /* ONNX spec example 5: batch_dims 1, data [[[0,1],[2,3]],[[4,5],[6,7]]],
     * indices [[1],[0]] -> [[2,3],[4,5]] */
    int32_t x[8] = {0, 1, 2, 3, 4, 5, 6, 7}, got[4], want[4] = {2, 3, 4, 5};
    int64_t dims[3] = {2, 2, 2}, idx[2] = {1, 0};
    krt_error err;
    CU_ASSERT_EQUAL(gather_nd(got, x, 4, 3, dims, 1, 1, 1, idx, KRT_I64, &err), KRT_OK);
    CU_ASSERT_EQUAL(memcmp(got, want, sizeof want), 0);
    /* example 2: batch_dims 0, data [[0,1],[2,3]], indices [[1],[0]] -> [[2,3],[0,1]] */
    int64_t d2[2] = {2, 2};
    int32_t want2[4] = {2, 3, 0, 1};
    CU_ASSERT_EQUAL(gather_nd(got, x, 4, 2, d2, 0, 2, 1, idx, KRT_I64, &err), KRT_OK);
    CU_ASSERT_EQUAL(memcmp(got, want2, sizeof want2), 0);
    int64_t bad[4] = {0, 1, 2, 0};
    CU_ASSERT_EQUAL(gather_nd(got, x, 4, 2, d2, 0, 2, 2, bad, KRT_I64, &err), KRT_EINDEX);
    CU_ASSERT_EQUAL(err.value, 2);
    CU_ASSERT_EQUAL(err.pos, 2);
}

/* ---- scatters ------------------------------------------------------------------------- */

static void test_scatter_elements_reductions(void)
{
    /* data [1, 5] = [1..5], axis 1, indices [[1, 1, -1]], updates [[1.1, 2.1, 3]] */
    float x[5] = {1, 2, 3, 4, 5}, upd[3] = {1.5f, 2.5f, 3}, got[5];
    int64_t dims[2] = {1, 5}, idims[2] = {1, 3}, idx[3] = {1, 1, -1};
    krt_error err;
    CU_ASSERT_EQUAL(scatter_elements(got, x, KRT_F32, 2, dims, idims, 1, idx, KRT_I64, upd, KRT_RED_ADD, &err), KRT_OK);
    float add[5] = {1, 6, 3, 4, 8};
    CU_ASSERT_EQUAL(memcmp(got, add, sizeof add), 0);
    CU_ASSERT_EQUAL(scatter_elements(got, x, KRT_F32, 2, dims, idims, 1, idx, KRT_I64, upd, KRT_RED_MUL, &err), KRT_OK);
    float mul[5] = {1, 7.5f, 3, 4, 15};
    CU_ASSERT_EQUAL(memcmp(got, mul, sizeof mul), 0);
    CU_ASSERT_EQUAL(scatter_elements(got, x, KRT_F32, 2, dims, idims, 1, idx, KRT_I64, upd, KRT_RED_MAX, &err), KRT_OK);
    float max[5] = {1, 2.5f, 3, 4, 5};
    CU_ASSERT_EQUAL(memcmp(got, max, sizeof max), 0);
    CU_ASSERT_EQUAL(scatter_elements(got, x, KRT_F32, 2, dims, idims, 1, idx, KRT_I64, upd, KRT_RED_MIN, &err), KRT_OK);
    float min[5] = {1, 1.5f, 3, 4, 3};
    CU_ASSERT_EQUAL(memcmp(got, min, sizeof min), 0);
    int64_t bad[3] = {0, 5, 1};
    CU_ASSERT_EQUAL(scatter_elements(got, x, KRT_F32, 2, dims, idims, 1, bad, KRT_I64, upd, KRT_RED_NONE, &err), KRT_EINDEX);
    CU_ASSERT_EQUAL(err.value, 5);
    uint8_t b[5] = {0};
    CU_ASSERT_EQUAL(scatter_elements(b, b, KRT_BOOL, 2, dims, idims, 1, idx, KRT_I64, b, KRT_RED_ADD, &err), KRT_EDTYPE);
}

static void test_scatter_nd(void)
{
    /* ONNX spec example 2: data [4, 4, 4], indices [[0], [2]], updates [2, 4, 4] */
    float x[64], upd[32], got[64];
    for (int i = 0; i < 64; i++)
        x[i] = 1.0f + (float)(i % 7);
    for (int i = 0; i < 32; i++)
        upd[i] = (float)(i + 1);
    int64_t dims[3] = {4, 4, 4}, idx[2] = {0, -2};
    krt_error err;
    CU_ASSERT_EQUAL(scatter_nd(got, x, KRT_F32, 3, dims, 2, 1, idx, KRT_I64, upd, KRT_RED_MUL, &err), KRT_OK);
    for (int i = 0; i < 64; i++) {
        int slab = i / 16, at = i % 16;
        float want = slab == 0 ? x[i] * upd[at] : slab == 2 ? x[i] * upd[16 + at] : x[i];
        CU_ASSERT_EQUAL(got[i], want);
    }
    int64_t scalar_idx[3] = {3, 3, 3};
    float one = 42;
    CU_ASSERT_EQUAL(scatter_nd(got, x, KRT_F32, 3, dims, 1, 3, scalar_idx, KRT_I64, &one, KRT_RED_NONE, &err), KRT_OK);
    CU_ASSERT_EQUAL(got[63], 42);
    CU_ASSERT_EQUAL(got[62], x[62]);
}

/* ---- one-hot, compress, nonzero, unique ----------------------------------------------------- */

static void test_one_hot(void)
{
    /* indices [[0, -1], [2, 7]] (f32 indices truncate), depth 3, axis 1:
     * out [2, 3, 2]; 7 is out of range -> all off */
    float idx[4] = {0, -1, 2.9f, 7};
    int32_t offon[2] = {5, 9}, got32[12];
    one_hot(got32, 4, offon, idx, KRT_F32, 2, 3, 2);
    int32_t want[12] = {9, 5, 5, 5, 5, 9, /* batch 1 */ 5, 5, 5, 5, 9, 5};
    CU_ASSERT_EQUAL(memcmp(got32, want, sizeof want), 0);
}

static void test_compress(void)
{
    /* ONNX spec: [[1, 2], [3, 4], [5, 6]], condition [0, 1, 1], axis 0 -> [[3, 4], [5, 6]] */
    float x[6] = {1, 2, 3, 4, 5, 6}, got[6];
    uint8_t cond[3] = {0, 1, 1}, cond2[2] = {0, 1}, too_long[4] = {0, 1, 0, 1};
    krt_error err;
    CU_ASSERT_EQUAL(krt_count_true(cond, 3), 2);
    CU_ASSERT_EQUAL(compress(got, x, 4, 1, 3, 2, cond, 3, &err), KRT_OK);
    float want0[4] = {3, 4, 5, 6};
    CU_ASSERT_EQUAL(memcmp(got, want0, sizeof want0), 0);
    /* axis 1, condition [0, 1] -> [[2], [4], [6]] */
    CU_ASSERT_EQUAL(compress(got, x, 4, 3, 2, 1, cond2, 2, &err), KRT_OK);
    float want1[3] = {2, 4, 6};
    CU_ASSERT_EQUAL(memcmp(got, want1, sizeof want1), 0);
    CU_ASSERT_EQUAL(compress(got, x, 4, 1, 3, 2, too_long, 4, &err), KRT_EINDEX);
    CU_ASSERT_EQUAL(err.value, 3);
}

static void test_nonzero(void)
{
    /* ONNX spec: [[1, 0], [1, 1]] -> [[0, 1, 1], [0, 0, 1]]; -0.0 is zero, NaN is not */
    float x[4] = {1, -0.0f, 1, NAN};
    int64_t dims[2] = {2, 2}, got[6], want[6] = {0, 1, 1, 0, 0, 1};
    CU_ASSERT_EQUAL(krt_nonzero_count(x, KRT_F32, 4), 3);
    CU_ASSERT_EQUAL(nonzero(got, x, KRT_F32, 2, dims, 3), KRT_OK);
    CU_ASSERT_EQUAL(memcmp(got, want, sizeof want), 0);
    int16_t s[5] = {0, 0, 256, 0, -1};
    int64_t d1[1] = {5}, g1[2];
    CU_ASSERT_EQUAL(krt_nonzero_count(s, KRT_I16, 5), 2);
    nonzero(g1, s, KRT_I16, 1, d1, 2);
    CU_ASSERT_EQUAL(g1[0], 2);
    CU_ASSERT_EQUAL(g1[1], 4);
}

static void run_unique(const float *x, int64_t outer, int64_t n, int64_t inner, int sorted,
                       int64_t want_u, const float *want_y, const int64_t *want_first,
                       const int64_t *want_inv, const int64_t *want_counts)
{
    void *scratch = malloc(krt_unique_scratch_size(n));
    float y[64];
    int64_t u = -1, first[64], inv[64], counts[64];
    CU_ASSERT_EQUAL(krt_unique(x, KRT_F32, outer, n, inner, sorted, scratch, &u, NULL, NULL, NULL, NULL), KRT_OK);
    CU_ASSERT_EQUAL(u, want_u);
    CU_ASSERT_EQUAL(krt_unique(x, KRT_F32, outer, n, inner, sorted, scratch, &u, y, first, inv, counts), KRT_OK);
    CU_ASSERT_EQUAL(memcmp(y, want_y, (size_t)(outer * u * inner) * sizeof *y), 0);
    CU_ASSERT_EQUAL(memcmp(first, want_first, (size_t)u * sizeof *first), 0);
    CU_ASSERT_EQUAL(memcmp(inv, want_inv, (size_t)n * sizeof *inv), 0);
    CU_ASSERT_EQUAL(memcmp(counts, want_counts, (size_t)u * sizeof *counts), 0);
    free(scratch);
}

static void test_unique(void)
{
    /* ONNX spec example 1 (sorted = 0): [2, 1, 1, 3, 4, 3] */
    float x1[6] = {2, 1, 1, 3, 4, 3}, y1[4] = {2, 1, 3, 4};
    int64_t f1[4] = {0, 1, 3, 4}, i1[6] = {0, 1, 1, 2, 3, 2}, c1[4] = {1, 2, 2, 1};
    run_unique(x1, 1, 6, 1, 0, 4, y1, f1, i1, c1);
    /* example 2 (sorted, flattened): [[1, 3], [2, 3]] (numpy np.unique agrees) */
    float x2[4] = {1, 3, 2, 3}, y2[3] = {1, 2, 3};
    int64_t f2[3] = {0, 2, 1}, i2[4] = {0, 2, 1, 2}, c2[3] = {1, 1, 2};
    run_unique(x2, 1, 4, 1, 1, 3, y2, f2, i2, c2);
    /* example 4: axis 1 of [[[1, 1], [0, 1], [2, 1], [0, 1]], [[1, 1], [0, 1], [2, 1], [0, 1]]] */
    float x4[16] = {1, 1, 0, 1, 2, 1, 0, 1, 1, 1, 0, 1, 2, 1, 0, 1};
    float y4[12] = {0, 1, 1, 1, 2, 1, 0, 1, 1, 1, 2, 1};
    int64_t f4[3] = {1, 0, 2}, i4[4] = {1, 0, 2, 0}, c4[3] = {2, 1, 1};
    run_unique(x4, 2, 4, 2, 1, 3, y4, f4, i4, c4);
}

/* ---- generators ------------------------------------------------------------------------- */

static void test_range(void)
{
    int32_t s = 10, l = 4, d = -3, got[2];
    CU_ASSERT_EQUAL(krt_range_count(KRT_I32, &s, &l, &d), 2);
    CU_ASSERT_EQUAL(range(got, KRT_I32, &s, &d, 2), KRT_OK);
    CU_ASSERT_EQUAL(got[0], 10);
    CU_ASSERT_EQUAL(got[1], 7);
    float fs = 1, fl = 2, fd = 0.25f, fg[4];
    CU_ASSERT_EQUAL(krt_range_count(KRT_F32, &fs, &fl, &fd), 4);
    range(fg, KRT_F32, &fs, &fd, 4);
    CU_ASSERT_EQUAL(fg[3], 1.75f);
    int64_t a = 0, b = 10, z = 0, back = -1;
    CU_ASSERT_EQUAL(krt_range_count(KRT_I64, &a, &b, &z), -1);
    CU_ASSERT_EQUAL(krt_range_count(KRT_I64, &a, &b, &back), 0);
    uint8_t u = 0;
    CU_ASSERT_EQUAL(range(&u, KRT_U8, &u, &u, 1), KRT_EDTYPE);
}

static void test_eye_like(void)
{
    double got[12];
    for (int64_t k = -3; k <= 4; k++) {
        eye_like(got, KRT_F64, 3, 4, k);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 4; j++)
                CU_ASSERT_EQUAL(got[i * 4 + j], j - i == k ? 1.0 : 0.0);
    }
    eye_like(got, KRT_F64, 3, 4, INT64_MAX);
    eye_like(got, KRT_F64, 3, 4, INT64_MIN);
    for (int i = 0; i < 12; i++)
        CU_ASSERT_EQUAL(got[i], 0.0);
}

static void test_windows(void)
{
    /* scipy.signal.get_window definitions; periodic = length N + 1 symmetric, first N */
    double got[8];
    const double pi = 3.14159265358979323846;
    for (int periodic = 0; periodic < 2; periodic++) {
        double d = periodic ? 8 : 7;
        window_fn(got, KRT_F64, KRT_WIN_HANN, 8, periodic);
        for (int n = 0; n < 8; n++)
            CU_ASSERT_DOUBLE_EQUAL(got[n], sin(pi * n / d) * sin(pi * n / d), 1e-12);
        window_fn(got, KRT_F64, KRT_WIN_HAMMING, 8, periodic);
        for (int n = 0; n < 8; n++)
            CU_ASSERT_DOUBLE_EQUAL(got[n], 25.0 / 46 - 21.0 / 46 * cos(2 * pi * n / d), 1e-12);
        window_fn(got, KRT_F64, KRT_WIN_BLACKMAN, 8, periodic);
        for (int n = 0; n < 8; n++)
            CU_ASSERT_DOUBLE_EQUAL(got[n], 0.42 - 0.5 * cos(2 * pi * n / d) + 0.08 * cos(4 * pi * n / d), 1e-12);
    }
}

static void test_mel_weight_matrix(void)
{
    /* the ONNX reference generator (melweightmatrix.py) run with numpy for
     * num_mel_bins 4, dft_length 64, sample_rate 8000, band [0, 4000] Hz:
     * rows 0..21 below, rows 22..32 zero */
    static const float want[22][4] = {
        {0, 0, 0, 0}, {0.5f, 0, 0, 0}, {1, 0, 0, 0}, {2 / 3.0f, 1 / 3.0f, 0, 0}, {1 / 3.0f, 2 / 3.0f, 0, 0},
        {0, 1, 0, 0}, {0, 0.75f, 0.25f, 0}, {0, 0.5f, 0.5f, 0}, {0, 0.25f, 0.75f, 0}, {0, 0, 1, 0},
        {0, 0, 0.8f, 0.2f}, {0, 0, 0.6f, 0.4f}, {0, 0, 0.4f, 0.6f}, {0, 0, 0.2f, 0.8f}, {0, 0, 0, 1},
        {0, 0, 0, 0.875f}, {0, 0, 0, 0.75f}, {0, 0, 0, 0.625f}, {0, 0, 0, 0.5f}, {0, 0, 0, 0.375f},
        {0, 0, 0, 0.25f}, {0, 0, 0, 0.125f},
    };
    float got[33 * 4];
    CU_ASSERT_EQUAL(mel_weight_matrix(got, KRT_F32, 4, 64, 8000, 0, 4000), KRT_OK);
    for (int r = 0; r < 33; r++)
        for (int m = 0; m < 4; m++)
            CU_ASSERT_DOUBLE_EQUAL(got[r * 4 + m], r < 22 ? want[r][m] : 0.0f, 1e-6);
    CU_ASSERT_EQUAL(mel_weight_matrix(got, KRT_F32, 4, 64, 8000, 0, 16000), KRT_EVALUE);
}

/* ---- NMS -------------------------------------------------------------------------------- */

static void test_nms(void)
{
    /* the ONNX backend test "suppress_by_IOU" (nonmaxsuppression.py) */
    static const float boxes[6 * 4] = {0, 0, 1, 1, 0, 0.1f, 1, 1.1f, 0, -0.1f, 1, 0.9f,
                                       0, 10, 1, 11, 0, 10.1f, 1, 11.1f, 0, 100, 1, 101};
    static const float scores[6] = {0.9f, 0.75f, 0.6f, 0.95f, 0.5f, 0.3f};
    int64_t sel[18], want[9] = {0, 0, 3, 0, 0, 0, 0, 0, 5};
    void *scratch = malloc(krt_nms_scratch_size(6));
    CU_ASSERT_EQUAL(krt_nms(NULL, boxes, scores, 1, 1, 6, 3, 0.5f, 0, 1, 0, scratch), 3);
    CU_ASSERT_EQUAL(krt_nms(sel, boxes, scores, 1, 1, 6, 3, 0.5f, 0, 1, 0, scratch), 3);
    CU_ASSERT_EQUAL(memcmp(sel, want, sizeof want), 0);
    /* score threshold 0.4 drops box 5; limit 2 keeps the first two */
    CU_ASSERT_EQUAL(krt_nms(sel, boxes, scores, 1, 1, 6, 3, 0.5f, 0.4f, 1, 0, scratch), 2);
    CU_ASSERT_EQUAL(krt_nms(sel, boxes, scores, 1, 1, 6, 2, 0.5f, 0, 0, 0, scratch), 2);
    CU_ASSERT_EQUAL(krt_nms(sel, boxes, scores, 1, 1, 6, 0, 0.5f, 0, 0, 0, scratch), 0);
    /* center format of the same boxes selects the same */
    float centers[6 * 4];
    for (int b = 0; b < 6; b++) {
        const float *p = boxes + 4 * b;
        centers[4 * b] = (p[1] + p[3]) / 2, centers[4 * b + 1] = (p[0] + p[2]) / 2;
        centers[4 * b + 2] = p[3] - p[1], centers[4 * b + 3] = p[2] - p[0];
    }
    CU_ASSERT_EQUAL(krt_nms(sel, centers, scores, 1, 1, 6, 3, 0.5f, 0, 1, 1, scratch), 3);
    CU_ASSERT_EQUAL(memcmp(sel, want, sizeof want), 0);
    free(scratch);
}

/* ---- DFT / STFT ------------------------------------------------------------------------- */

/* Direct complex DFT in double, written independently of the kernel. */
static void naive_dft(const double *re, const double *im, int64_t n, int inverse, double *ore, double *oim)
{
    const double pi = 3.14159265358979323846;
    for (int64_t k = 0; k < n; k++) {
        double sr = 0, si = 0;
        for (int64_t j = 0; j < n; j++) {
            double a = (inverse ? 2 : -2) * pi * (double)(j * k) / (double)n;
            sr += re[j] * cos(a) - im[j] * sin(a);
            si += re[j] * sin(a) + im[j] * cos(a);
        }
        ore[k] = inverse ? sr / n : sr;
        oim[k] = inverse ? si / n : si;
    }
}

static void check_dft(int64_t n, int64_t sig_len, int inverse)
{
    /* [outer 2, sig_len, inner 3, 2] complex input, transform of length n */
    int64_t outer = 2, inner = 3;
    double *x = malloc(sizeof(double) * outer * sig_len * inner * 2);
    double *y = malloc(sizeof(double) * outer * n * inner * 2);
    double *re = calloc(2 * n, sizeof *re), *im = re + n, *wr = malloc(2 * n * sizeof *wr), *wi = wr + n;
    for (int64_t i = 0; i < outer * sig_len * inner * 2; i++)
        x[i] = sin(0.37 * (double)i) + 0.1 * (double)(i % 5);
    CU_ASSERT_EQUAL(dft(y, x, KRT_F64, outer, sig_len, inner, 2, n, n, inverse), KRT_OK);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            for (int64_t j = 0; j < n; j++) {
                int64_t at = ((o * sig_len + j) * inner + i) * 2;
                re[j] = j < sig_len ? x[at] : 0, im[j] = j < sig_len ? x[at + 1] : 0;
            }
            naive_dft(re, im, n, inverse, wr, wi);
            for (int64_t k = 0; k < n; k++) {
                int64_t at = ((o * n + k) * inner + i) * 2;
                CU_ASSERT_DOUBLE_EQUAL(y[at], wr[k], 1e-9);
                CU_ASSERT_DOUBLE_EQUAL(y[at + 1], wi[k], 1e-9);
            }
        }
    free(x), free(y), free(re), free(wr);
}

static void test_dft(void)
{
    check_dft(16, 16, 0);  /* radix-2 */
    check_dft(16, 16, 1);
    check_dft(12, 12, 0);  /* Bluestein */
    check_dft(10, 7, 1);   /* zero-padded */
    check_dft(8, 11, 0);   /* truncated */
    check_dft(1, 1, 0);
    check_dft(3, 3, 1);
    check_dft(400, 400, 0);  /* a speech frame (n_fft 400) */
    check_dft(401, 390, 1);
}

static void test_dft_real_onesided_and_stft(void)
{
    /* real input [1, 6, 1, 1]: bins 0..3 of the full transform */
    float x[6] = {1, 2, 0, -1, 3, 0.5f}, y[8];
    double re[6], im[6] = {0}, wr[6], wi[6];
    for (int i = 0; i < 6; i++)
        re[i] = x[i];
    CU_ASSERT_EQUAL(dft(y, x, KRT_F32, 1, 6, 1, 1, 6, 4, 0), KRT_OK);
    naive_dft(re, im, 6, 0, wr, wi);
    for (int k = 0; k < 4; k++) {
        CU_ASSERT_DOUBLE_EQUAL(y[2 * k], wr[k], 1e-5);
        CU_ASSERT_DOUBLE_EQUAL(y[2 * k + 1], wi[k], 1e-5);
    }
    /* STFT of 20 samples, frames of 8 every 4 (4 frames), window w: frame f
     * is the DFT of x[4f .. 4f+8) * w */
    float sig[20], win[8], out[4 * 5 * 2];
    for (int i = 0; i < 20; i++)
        sig[i] = (float)((i * 7) % 5) - 2.0f;
    for (int i = 0; i < 8; i++)
        win[i] = 0.5f + 0.1f * (float)i;
    CU_ASSERT_EQUAL(stft(out, sig, KRT_F32, 1, 20, 1, 4, 8, win, 4, 5), KRT_OK);
    for (int f = 0; f < 4; f++) {
        double fr[8], fi[8] = {0}, orr[8], oi[8];
        for (int j = 0; j < 8; j++)
            fr[j] = (double)sig[4 * f + j] * (double)win[j];
        naive_dft(fr, fi, 8, 0, orr, oi);
        for (int k = 0; k < 5; k++) {
            CU_ASSERT_DOUBLE_EQUAL(out[(f * 5 + k) * 2], orr[k], 1e-4);
            CU_ASSERT_DOUBLE_EQUAL(out[(f * 5 + k) * 2 + 1], oi[k], 1e-4);
        }
    }
    int32_t ints[2];
    CU_ASSERT_EQUAL(dft(ints, ints, KRT_I32, 1, 1, 1, 2, 1, 1, 0), KRT_EDTYPE);
}

/* ---- work ranges: any split of the units gives the whole call's bytes ----------------------- */

/* Runs k on d whole and split into 2, 3 and 7 ranges; the output operand
 * ops[out] (bytes long) must be the same each time. */
static void expect_split_identical(const krt_kernel_info *k, const void *d, void **ops, int out,
                                   size_t bytes)
{
    unsigned char *whole = malloc(bytes), *y = ops[out];
    CU_ASSERT_FATAL(kernel_units(k, d) > 1);
    memset(y, 0x11, bytes);
    CU_ASSERT_EQUAL(kernel_run(k, d, ops), KRT_OK);
    memcpy(whole, y, bytes);
    for (int parts = 2; parts <= 7; parts += parts == 2 ? 1 : 4) {
        memset(y, 0xee, bytes);
        CU_ASSERT_EQUAL(kernel_run_split(k, d, ops, parts), KRT_OK);
        CU_ASSERT_EQUAL(memcmp(whole, y, bytes), 0);
    }
    free(whole);
}

static void test_split_ranges(void)
{
    enum { A = 64, B = 48, C = 40, N = A * B * C };
    float *x = malloc(N * 4), *y = malloc(4 * N * 4);
    fill_iota(x, N);
    krt_strided_desc d;
    /* transpose (tiled inner copies), a strided slice, an expand, a tile */
    krt_view_transpose(&d, 4, 3, (int64_t[]){A, B, C}, (int64_t[]){2, 0, 1});
    expect_split_identical(&krt_kernel_strided, &d, (void *[]){x, y}, 1, N * 4);
    krt_view_slice(&d, 4, 3, (int64_t[]){A, B, C}, (int64_t[]){A - 1, 1, 2}, (int64_t[]){-1, 2, 3},
                   (int64_t[]){A, B / 2, (C - 2) / 3});
    expect_split_identical(&krt_kernel_strided, &d, (void *[]){x, y}, 1, A * (B / 2) * ((C - 2) / 3) * 4);
    krt_view_expand(&d, 4, 3, (int64_t[]){A, B, C}, 2, (int64_t[]){B, 1});
    expect_split_identical(&krt_kernel_strided, &d, (void *[]){x, y}, 1, N * 4);
    krt_view_tile(&d, 4, 2, (int64_t[]){B, C}, (int64_t[]){A / 8, 4});
    expect_split_identical(&krt_kernel_strided, &d, (void *[]){x, y}, 1, N / 2 * 4);
    /* concat of three parts along axis 1 of (A, ., C), then split back */
    krt_concat_desc c = {.esize = 4, .outer = A, .inner = C, .total = B, .n = 3,
                         .axis_dims = {10, 0, B - 10}};
    float *p0 = x, *p2 = x + A * 10 * C;
    expect_split_identical(&krt_kernel_concat, &c, (void *[]){p0, NULL, p2, y}, 3, N * 4);
    float *q0 = y, *q2 = y + A * 10 * C;
    expect_split_identical(&krt_kernel_split, &c, (void *[]){x, q0, NULL, q2}, 1, A * 10 * C * 4);
    /* gather rows of a (A*B, C) table */
    int64_t idx[300];
    for (int i = 0; i < 300; i++)
        idx[i] = (i * 37) % (A * B) - (i % 2 ? A * B : 0);
    krt_gather_desc g = {.esize = 4, .idx_dtype = KRT_I64, .outer = 1, .axis_dim = A * B, .inner = C, .n_idx = 300};
    expect_split_identical(&krt_kernel_gather, &g, (void *[]){x, idx, y}, 2, 300 * C * 4);
    /* one-hot over outer rows, trilu over matrices */
    krt_one_hot_desc o = {.esize = 4, .idx_dtype = KRT_I64, .outer = 60, .depth = 7, .inner = 5};
    int32_t offon[2] = {-1, 1};
    expect_split_identical(&krt_kernel_one_hot, &o, (void *[]){idx, offon, y}, 2, 60 * 7 * 5 * 4);
    krt_trilu_desc t = {.esize = 4, .batch = A, .rows = B, .cols = C, .upper = 0};
    int64_t k = 3;
    expect_split_identical(&krt_kernel_trilu, &t, (void *[]){x, &k, y}, 2, N * 4);
    free(x), free(y);
}

static CU_TestInfo movement_tests[] = {
    {"load/store saturate and convert", test_load_store},
    {"transpose: every perm of rank 4, odd element sizes", test_transpose_all_perms},
    {"slice: negative steps", test_slice_negative_steps},
    {"slice: axis clamping", test_slice_axis_clamping},
    {"expand and tile", test_expand_and_tile},
    {"concat/split round trip", test_concat_split_round_trip},
    {"pad: constant/reflect/edge/crop (numpy)", test_pad_modes},
    {"pad: long reflect, empty axis", test_pad_long_reflect_and_errors},
    {"depth-to-space DCR/CRD, space-to-depth", test_depth_to_space_modes},
    {"trilu", test_trilu},
    {"reverse-sequence", test_reverse_sequence},
    {"split work ranges are bit-identical", test_split_ranges},
    {NULL, NULL},
};

static CU_TestInfo index_tests[] = {
    {"gather (i32/i64, negative, out of range)", test_gather},
    {"gather-elements", test_gather_elements},
    {"gather-nd (batch_dims)", test_gather_nd},
    {"scatter-elements reductions", test_scatter_elements_reductions},
    {"scatter-nd", test_scatter_nd},
    {"one-hot", test_one_hot},
    {"compress", test_compress},
    {"nonzero", test_nonzero},
    {"unique (spec examples)", test_unique},
    {NULL, NULL},
};

static CU_TestInfo signal_tests[] = {
    {"range", test_range},
    {"eye-like", test_eye_like},
    {"windows", test_windows},
    {"mel weight matrix (numpy reference)", test_mel_weight_matrix},
    {"non-max suppression", test_nms},
    {"dft vs direct sum", test_dft},
    {"dft onesided, stft", test_dft_real_onesided_and_stft},
    {NULL, NULL},
};

static CU_SuiteInfo suites[] = {
    {"movement kernels", NULL, NULL, NULL, NULL, movement_tests},
    {"indexing kernels", NULL, NULL, NULL, NULL, index_tests},
    {"generator and signal kernels", NULL, NULL, NULL, NULL, signal_tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
