/* test_token_ops.c — kiln.TokenMerge and kiln.TokenPrune (docs/
 * token-reduction.md): shape inference, lowering and the kernels
 * (runtime/krt_token.c), against slow references written here, one image
 * at a time, straight from TOKEN-REDUCTION.md: double precision, a full
 * score matrix, the merge order found by repeatedly taking the largest
 * remaining score (lowest position on ties).
 *
 * Cases: random data with B = 3 (different data per image) and odd and
 * even N, sizes given and absent, sizes_out requested or not, r = 0 and
 * r = (N-1)//2, keys read through a packed-qkv layout and a plain
 * [B, H, N, d] one, exact ties (keys from a few directions, scores from
 * three values), fuse with and without something dropped, the two tie
 * examples of reduce_ref.py's self-check with its expected tokens. Every
 * call also runs split into 2, 3 and 5 ranges: identical bytes. Plus the
 * inference errors, each naming the node.
 */
#include "cunit_main.h"
#include "lower_run.h"
#include "runtime/krt_linalg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void expect_close(const float *got, const double *want, int64_t n, double tol)
{
    double worst = 0;
    for (int64_t i = 0; i < n; i++)
        worst = fmax(worst, fabs(got[i] - want[i]) / (1 + fabs(want[i])));
    if (worst > tol)
        fprintf(stderr, "\n  worst relative error %g", worst);
    CU_ASSERT(worst <= tol);
}

/* ---- the references ---------------------------------------------------------------- */

/* ToMe on one image: x [N, D], key(h, n, e), s [N] or NULL. Writes y
 * [(N-r), D] and so [N-r]. */
typedef struct keys_view {
    const float *k;
    int64_t layout[4], heads, hd;
} keys_view;

static double key_at(const keys_view *kv, int64_t b, int64_t h, int64_t n, int64_t e)
{
    return kv->k[kv->layout[0] + b * kv->layout[1] + h * kv->layout[2] + n * kv->layout[3] + e];
}

static void ref_merge(const float *x, const keys_view *kv, int64_t b, const float *s, int64_t N,
                      int64_t D, int64_t r, double *y, double *so)
{
    int64_t hd = kv->hd, na = (N + 1) / 2, nb = N / 2;
    double *m = calloc((size_t)(N * hd), sizeof *m);
    for (int64_t n = 0; n < N; n++) {
        double norm = 0;
        for (int64_t e = 0; e < hd; e++) {
            for (int64_t h = 0; h < kv->heads; h++)
                m[n * hd + e] += key_at(kv, b, h, n, e);
            m[n * hd + e] /= (double)kv->heads;
            norm += m[n * hd + e] * m[n * hd + e];
        }
        for (int64_t e = 0; e < hd; e++)
            m[n * hd + e] /= sqrt(norm);
    }
    int64_t *dst = calloc((size_t)na, sizeof *dst);
    double *best = calloc((size_t)na, sizeof *best);
    for (int64_t i = 0; i < na; i++) {
        best[i] = -INFINITY;
        dst[i] = 0;
        for (int64_t j = 0; i > 0 && j < nb; j++) {
            double sc = 0;
            for (int64_t e = 0; e < hd; e++)
                sc += m[2 * i * hd + e] * m[(2 * j + 1) * hd + e];
            if (j == 0 || sc > best[i])
                best[i] = sc, dst[i] = j;
        }
    }
    /* the r A tokens with the largest best, lowest position first on ties */
    int *merged = calloc((size_t)na, sizeof *merged);
    for (int64_t t = 0; t < r; t++) {
        int64_t pick = -1;
        for (int64_t i = 0; i < na; i++)
            if (!merged[i] && (pick < 0 || best[i] > best[pick]))
                pick = i;
        merged[pick] = 1;
    }
    int64_t o = 0;
    for (int64_t i = 0; i < na; i++)
        if (!merged[i]) {
            for (int64_t e = 0; e < D; e++)
                y[o * D + e] = x[2 * i * D + e];
            so[o++] = s ? s[2 * i] : 1;
        }
    for (int64_t j = 0; j < nb; j++, o++) {
        int64_t n = 2 * j + 1;
        double den = s ? s[n] : 1;
        for (int64_t e = 0; e < D; e++)
            y[o * D + e] = x[n * D + e] * den;
        for (int64_t i = 0; i < na; i++)
            if (merged[i] && dst[i] == j) {
                double si = s ? s[2 * i] : 1;
                for (int64_t e = 0; e < D; e++)
                    y[o * D + e] += x[2 * i * D + e] * si;
                den += si;
            }
        for (int64_t e = 0; e < D; e++)
            y[o * D + e] /= den;
        so[o] = den;
    }
    free(m), free(dst), free(best), free(merged);
}

/* EViT on one image: p [H, Nq, N] (row 0 read). y [1 + keep + fused, D]. */
static int64_t ref_prune(const float *x, const float *p, int64_t H, int64_t Nq, const float *s,
                         int64_t N, int64_t D, int64_t keep, int fuse, double *y, double *so)
{
    int64_t n = N - 1;
    double *sc = calloc((size_t)n, sizeof *sc);
    int *taken = calloc((size_t)n, sizeof *taken);
    for (int64_t j = 0; j < n; j++) {
        for (int64_t h = 0; h < H; h++)
            sc[j] += p[h * Nq * N + 1 + j];
        sc[j] /= (double)H;
    }
    for (int64_t e = 0; e < D; e++)
        y[e] = x[e];
    so[0] = s ? s[0] : 1;
    for (int64_t t = 0; t < keep; t++) {
        int64_t pick = -1;
        for (int64_t j = 0; j < n; j++)
            if (!taken[j] && (pick < 0 || sc[j] > sc[pick]))
                pick = j;
        taken[pick] = 1;
        for (int64_t e = 0; e < D; e++)
            y[(1 + t) * D + e] = x[(1 + pick) * D + e];
        so[1 + t] = s ? s[1 + pick] : 1;
    }
    int64_t rows = 1 + keep;
    if (fuse && keep < n) {
        double total = 0, size = 0;
        for (int64_t j = 0; j < n; j++)
            if (!taken[j])
                total += sc[j], size += s ? s[1 + j] : 1;
        for (int64_t e = 0; e < D; e++) {
            double f = 0;
            for (int64_t j = 0; j < n; j++)
                if (!taken[j])
                    f += sc[j] / total * x[(1 + j) * D + e];
            y[rows * D + e] = f;
        }
        so[rows++] = size;
    }
    free(sc), free(taken);
    return rows;
}

/* ---- graph building ------------------------------------------------------------------ */

/* An f32 graph input; its data is handed to lower() with the others. */
static uint32_t data_input(const char *name, int rank, const int64_t *dims, const float *data)
{
    (void)data;
    return input_of(name, KILN_DT_F32, rank, dims);
}

/* A TokenMerge node over x [B,N,D], keys k of shape kdims read through
 * layout, optional sizes; n_out outputs. Lowered and run whole and split;
 * checked against ref_merge. */
static void check_merge(int64_t B, int64_t N, int64_t D, int64_t H, int64_t hd, int64_t r,
                        const float *x, const float *k, int krank, const int64_t *kdims,
                        const int64_t layout[4], const float *sizes, uint32_t n_out, double tol)
{
    reset();
    uint32_t ix = data_input("x", 3, (int64_t[]){B, N, D}, x);
    uint32_t ik = data_input("k", krank, kdims, k);
    uint32_t is = sizes ? data_input("s", 2, (int64_t[]){B, N}, sizes) : 0;
    if (sizes)
        NODE(KILN_OP_TOKEN_MERGE, n_out, ix, ik, is);
    else
        NODE(KILN_OP_TOKEN_MERGE, n_out, ix, ik);
    kiln_attr_set_int(g, node_id, "r", r);
    kiln_attr_set_int(g, node_id, "heads", H);
    kiln_attr_set_int(g, node_id, "head_dim", hd);
    kiln_attr_set_ints(g, node_id, "k_layout", layout, 4);
    kiln_lowered low;
    const void *datas[3] = {x, k, sizes};
    CU_ASSERT_EQUAL_FATAL(lower(datas, &low), KILN_OK);
    CU_ASSERT_EQUAL_FATAL(low.n_calls, 1);
    const kiln_kernel_call *c = &low.calls[0];
    CU_ASSERT_EQUAL(c->kernel, KRT_K_TOKEN_MERGE);
    CU_ASSERT_EQUAL(c->n_ops, 5);
    CU_ASSERT_EQUAL(c->units, B);
    CU_ASSERT_EQUAL(out_bytes(0), (size_t)(B * (N - r) * D) * sizeof(float));
    if (B > 2)
        run_whole_and_split(c, n_out);
    else
        CU_ASSERT_EQUAL(run_calls(&low, NULL), KRT_OK);
    int64_t M = N - r;
    double *y = calloc((size_t)(B * M * D), sizeof *y), *so = calloc((size_t)(B * M), sizeof *so);
    keys_view kv = {.k = k, .layout = {layout[0], layout[1], layout[2], layout[3]}, .heads = H, .hd = hd};
    for (int64_t b = 0; b < B; b++)
        ref_merge(x + b * N * D, &kv, b, sizes ? sizes + b * N : NULL, N, D, r, y + b * M * D,
                  so + b * M);
    expect_close(out_data(0), y, B * M * D, tol);
    if (n_out > 1)
        expect_close(out_data(1), so, B * M, 1e-6);
    free(y), free(so);
}

static float *random_floats(int64_t n, float lo)
{
    float *v = malloc((size_t)n * sizeof *v);
    for (int64_t i = 0; i < n; i++) /* lo > 0: positive, in [lo, lo + 1) */
        v[i] = lo > 0 ? (frand() + 1) * 0.5f + lo : frand();
    return v;
}

/* sizes in {1, 2, 3, 4} (merged tokens' sizes are integers) */
static float *random_sizes(int64_t n)
{
    float *v = malloc((size_t)n * sizeof *v);
    for (int64_t i = 0; i < n; i++)
        v[i] = (float)(1 + (int)((frand() + 1) * 2) % 4);
    return v;
}

/* ---- TokenMerge --------------------------------------------------------------------- */

/* The packed qkv Linear output [B, N, 3C] as kiln.Attention reads its K. */
static void merge_packed(int64_t B, int64_t N, int64_t H, int64_t hd, int64_t r, bool sizes,
                         uint32_t n_out)
{
    int64_t C = H * hd, D = 24;
    float *x = random_floats(B * N * D, 0), *k = random_floats(B * N * 3 * C, 0);
    float *s = sizes ? random_sizes(B * N) : NULL;
    int64_t layout[4] = {C, N * 3 * C, hd, 3 * C};
    check_merge(B, N, D, H, hd, r, x, k, 3, (int64_t[]){B, N, 3 * C}, layout, s, n_out, 1e-5);
    free(x), free(k), free(s);
}

static void test_merge_random(void)
{
    static const struct {
        int64_t B, N, H, hd, r;
        bool sizes;
        uint32_t n_out;
    } cases[] = {
        {3, 17, 2, 8, 5, true, 2},   /* odd N */
        {3, 16, 2, 8, 5, true, 2},   /* even N */
        {3, 17, 3, 5, 8, false, 2},  /* r = (N-1)//2, sizes absent (ones) */
        {3, 16, 1, 4, 7, true, 1},   /* even N at its cap 7; sizes_out not requested */
        {3, 17, 2, 8, 0, true, 2},   /* r = 0: the split and reorder alone */
        {3, 2, 2, 8, 0, false, 2},   /* N = 2 */
        {3, 1, 2, 8, 0, true, 2},    /* N = 1: nothing to match */
        {4, 197, 2, 32, 16, true, 2},/* the Fashion-MNIST ViT's block shape */
        {1, 65, 4, 16, 32, false, 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        merge_packed(cases[i].B, cases[i].N, cases[i].H, cases[i].hd, cases[i].r, cases[i].sizes,
                     cases[i].n_out);
}

/* Keys as a plain contiguous [B, H, N, hd] tensor. */
static void test_merge_plain_layout(void)
{
    int64_t B = 3, H = 2, N = 13, hd = 6, D = 5;
    float *x = random_floats(B * N * D, 0), *k = random_floats(B * H * N * hd, 0);
    float *s = random_sizes(B * N);
    int64_t layout[4] = {0, H * N * hd, N * hd, hd};
    check_merge(B, N, D, H, hd, 4, x, k, 4, (int64_t[]){B, H, N, hd}, layout, s, 2, 1e-5);
    free(x), free(k), free(s);
}

/* Many exact ties: keys along three axes, so every score is exactly 0 or
 * 1 (in f32 and in double); the first B index and the lower A position
 * must win. */
static void test_merge_ties(void)
{
    int64_t B = 3, H = 1, N = 41, hd = 3, D = 4;
    static const float dirs[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
    float *x = random_floats(B * N * D, 0), *k = malloc(sizeof(float) * (size_t)(B * N * hd));
    for (int64_t i = 0; i < B * N; i++) {
        int c = (int)((frand() + 1) * 1.5f) % 3;
        memcpy(k + i * hd, dirs[c], sizeof dirs[c]);
    }
    float *s = random_sizes(B * N);
    int64_t layout[4] = {0, N * hd, 0, hd};
    for (int64_t r = 1; r <= 20; r += 6)
        check_merge(B, N, D, H, hd, r, x, k, 3, (int64_t[]){B, N, hd}, layout, s, 2, 1e-6);
    free(x), free(k), free(s);
}

/* reduce_ref.py's self-check example: x = 0..6, keys e0 (5 times) then e1
 * (twice), r = 1: A tokens 2 and 4 tie with B token 1; 2 merges:
 * [0, 4, 6, 1.5, 3, 5], sizes [1, 1, 1, 2, 1, 1]. */
static void test_merge_reference_example(void)
{
    float x[7], k[14] = {1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 1, 0, 1};
    for (int i = 0; i < 7; i++)
        x[i] = (float)i;
    reset();
    NODE(KILN_OP_TOKEN_MERGE, 2, data_input("x", 3, (int64_t[]){1, 7, 1}, x),
         data_input("k", 4, (int64_t[]){1, 1, 7, 2}, k));
    kiln_attr_set_int(g, node_id, "r", 1);
    kiln_attr_set_int(g, node_id, "heads", 1);
    kiln_attr_set_int(g, node_id, "head_dim", 2);
    kiln_attr_set_ints(g, node_id, "k_layout", (int64_t[]){0, 14, 14, 2}, 4);
    kiln_lowered low;
    CU_ASSERT_EQUAL_FATAL(lower((const void *[]){x, k}, &low), KILN_OK);
    CU_ASSERT_EQUAL_FATAL(run_calls(&low, NULL), KRT_OK);
    const float want[6] = {0, 4, 6, 1.5f, 3, 5}, want_s[6] = {1, 1, 1, 2, 1, 1};
    CU_ASSERT_EQUAL(memcmp(out_data(0), want, sizeof want), 0);
    CU_ASSERT_EQUAL(memcmp(out_data(1), want_s, sizeof want_s), 0);
}

/* ---- TokenPrune ---------------------------------------------------------------------- */

static void check_prune(int64_t B, int64_t N, int64_t D, int64_t H, int64_t Nq, int64_t keep,
                        int fuse, const float *x, const float *p, const float *sizes, uint32_t n_out)
{
    reset();
    uint32_t ix = data_input("x", 3, (int64_t[]){B, N, D}, x);
    uint32_t ip = data_input("p", 4, (int64_t[]){B, H, Nq, N}, p);
    uint32_t is = sizes ? data_input("s", 2, (int64_t[]){B, N}, sizes) : 0;
    if (sizes)
        NODE(KILN_OP_TOKEN_PRUNE, n_out, ix, ip, is);
    else
        NODE(KILN_OP_TOKEN_PRUNE, n_out, ix, ip);
    kiln_attr_set_int(g, node_id, "keep", keep);
    kiln_attr_set_int(g, node_id, "fuse", fuse);
    kiln_lowered low;
    CU_ASSERT_EQUAL_FATAL(lower((const void *[]){x, p, sizes}, &low), KILN_OK);
    CU_ASSERT_EQUAL_FATAL(low.n_calls, 1);
    const kiln_kernel_call *c = &low.calls[0];
    CU_ASSERT_EQUAL(c->kernel, KRT_K_TOKEN_PRUNE);
    CU_ASSERT_EQUAL(c->units, B);
    int64_t M = 1 + keep + (fuse && keep < N - 1 ? 1 : 0);
    CU_ASSERT_EQUAL_FATAL(out_bytes(0), (size_t)(B * M * D) * sizeof(float));
    if (B > 2)
        run_whole_and_split(c, n_out);
    else
        CU_ASSERT_EQUAL(run_calls(&low, NULL), KRT_OK);
    double *y = calloc((size_t)(B * M * D), sizeof *y), *so = calloc((size_t)(B * M), sizeof *so);
    for (int64_t b = 0; b < B; b++)
        CU_ASSERT_EQUAL(ref_prune(x + b * N * D, p + b * H * Nq * N, H, Nq, sizes ? sizes + b * N : NULL,
                                  N, D, keep, fuse, y + b * M * D, so + b * M),
                        M);
    expect_close(out_data(0), y, B * M * D, 1e-5);
    if (n_out > 1)
        expect_close(out_data(1), so, B * M, 1e-6);
    free(y), free(so);
}

static void prune_random(int64_t B, int64_t N, int64_t H, int64_t Nq, int64_t keep, int fuse,
                         bool sizes, uint32_t n_out, bool ties)
{
    int64_t D = 7;
    float *x = random_floats(B * N * D, 0), *p = random_floats(B * H * Nq * N, 0.1f);
    if (ties) /* scores from {0.1, 0.2, 0.3}, the same in every head: exact ties */
        for (int64_t b = 0; b < B; b++)
            for (int64_t j = 0; j < N; j++) {
                float v = 0.1f * (float)(1 + (int)((frand() + 1) * 1.5f) % 3);
                for (int64_t h = 0; h < H; h++)
                    for (int64_t q = 0; q < Nq; q++)
                        p[((b * H + h) * Nq + q) * N + j] = v;
            }
    float *s = sizes ? random_sizes(B * N) : NULL;
    check_prune(B, N, D, H, Nq, keep, fuse, x, p, s, n_out);
    free(x), free(p), free(s);
}

static void test_prune_random(void)
{
    prune_random(3, 17, 2, 17, 11, 0, true, 2, false);  /* odd N */
    prune_random(3, 16, 3, 16, 5, 1, true, 2, false);   /* even N, fused */
    prune_random(3, 16, 3, 16, 5, 1, false, 1, false);  /* sizes absent, no sizes_out */
    prune_random(3, 16, 3, 1, 1, 1, true, 2, false);    /* Nq = 1 (a class-query map), keep 1 */
    prune_random(3, 16, 2, 16, 15, 1, true, 2, false);  /* keep N-1 with fuse: nothing dropped */
    prune_random(3, 16, 2, 16, 15, 0, false, 2, false);
    prune_random(3, 2, 2, 2, 1, 1, true, 2, false);     /* N = 2 */
    prune_random(4, 197, 2, 197, 138, 0, true, 2, false);
    prune_random(3, 197, 2, 197, 98, 1, true, 2, true); /* 196 tied scores */
    prune_random(3, 40, 1, 40, 20, 0, true, 2, true);
}

/* reduce_ref.py's self-check example: scores [0.1,0.3,0.1,0.3,0.1,0.1],
 * keep 4: [0, 2, 4, 1, 3]. */
static void test_prune_reference_example(void)
{
    float x[7], p[49] = {0};
    static const float row0[6] = {0.1f, 0.3f, 0.1f, 0.3f, 0.1f, 0.1f};
    for (int i = 0; i < 7; i++)
        x[i] = (float)i;
    memcpy(p + 1, row0, sizeof row0);
    reset();
    NODE(KILN_OP_TOKEN_PRUNE, 1, data_input("x", 3, (int64_t[]){1, 7, 1}, x),
         data_input("p", 4, (int64_t[]){1, 1, 7, 7}, p));
    kiln_attr_set_int(g, node_id, "keep", 4);
    kiln_lowered low;
    CU_ASSERT_EQUAL_FATAL(lower((const void *[]){x, p}, &low), KILN_OK);
    CU_ASSERT_EQUAL_FATAL(run_calls(&low, NULL), KRT_OK);
    const float want[5] = {0, 2, 4, 1, 3};
    CU_ASSERT_EQUAL(memcmp(out_data(0), want, sizeof want), 0);
}

/* ---- inference errors --------------------------------------------------------------------- */

typedef void (*build_fn)(void);

static void expect_infer_error(const char *fragment)
{
    kiln_status st = kiln_graph_infer(ctx, g);
    CU_ASSERT_EQUAL(st, KILN_ERR_INVALID);
    const char *m = kiln_ctx_message(ctx);
    if (!strstr(m, fragment) || !strstr(m, "'n'"))
        fprintf(stderr, "\n  message '%s' lacks '%s' or the node name", m, fragment);
    CU_ASSERT_PTR_NOT_NULL(strstr(m, fragment));
    CU_ASSERT_PTR_NOT_NULL(strstr(m, "'n'"));
}

static void merge_node(int64_t N, int64_t r, const int64_t *kdims, const int64_t layout[4],
                       const int64_t *sdims)
{
    reset();
    uint32_t ix = input_of("x", KILN_DT_F32, 3, (int64_t[]){2, N, 8});
    uint32_t ik = input_of("k", KILN_DT_F32, 3, kdims);
    if (sdims)
        NODE(KILN_OP_TOKEN_MERGE, 2, ix, ik, input_of("s", KILN_DT_F32, 2, sdims));
    else
        NODE(KILN_OP_TOKEN_MERGE, 2, ix, ik);
    if (r >= -100)
        kiln_attr_set_int(g, node_id, "r", r);
    kiln_attr_set_int(g, node_id, "heads", 2);
    kiln_attr_set_int(g, node_id, "head_dim", 4);
    kiln_attr_set_ints(g, node_id, "k_layout", layout, 4);
}

static void test_merge_errors(void)
{
    const int64_t packed[4] = {8, 11 * 24, 4, 24};
    const int64_t kd[3] = {2, 11, 24};
    merge_node(11, 5, kd, packed, NULL);
    CU_ASSERT_EQUAL(kiln_graph_infer(ctx, g), KILN_OK); /* the cap itself is fine */
    CU_ASSERT(g->values[kiln_node_output(g, &g->nodes[node_id], 0)].shape.dim[1] == 6);
    merge_node(11, 6, kd, packed, NULL);
    expect_infer_error("attribute 'r' is 6, but 11 tokens allow merging 0 to (N-1)//2 = 5");
    merge_node(12, 6, (int64_t[]){2, 12, 24}, (int64_t[]){8, 12 * 24, 4, 24}, NULL);
    expect_infer_error("attribute 'r' is 6, but 12 tokens allow merging 0 to (N-1)//2 = 5");
    merge_node(11, -1, kd, packed, NULL);
    expect_infer_error("attribute 'r' is -1");
    merge_node(11, -1000, kd, packed, NULL);
    expect_infer_error("attribute 'r' is required");
    merge_node(11, 2, kd, (int64_t[]){16 + 8, 11 * 24, 4, 24}, NULL); /* V's slot plus one head */
    expect_infer_error("attribute 'k_layout' = [24, 264, 4, 24] addresses elements up to 535");
    merge_node(11, 2, kd, packed, (int64_t[]){2, 10});
    expect_infer_error("input 2 (sizes, 's') has shape [2,10], need [B, N] of x's [2,11,8]");
    /* x of rank 2 */
    reset();
    NODE(KILN_OP_TOKEN_MERGE, 1, input_of("x", KILN_DT_F32, 2, (int64_t[]){11, 8}),
         input_of("k", KILN_DT_F32, 3, kd));
    expect_infer_error("input 0 (x, 'x') has rank 2, need 3");
    /* f64 keys */
    reset();
    NODE(KILN_OP_TOKEN_MERGE, 1, input_of("x", KILN_DT_F32, 3, (int64_t[]){2, 11, 8}),
         input_of("k", KILN_DT_F64, 3, kd));
    expect_infer_error("input 1 (k, 'k') has dtype f64, need f32");
}

static void prune_node(int64_t keep, const int64_t *pdims, int fuse)
{
    reset();
    NODE(KILN_OP_TOKEN_PRUNE, 2, input_of("x", KILN_DT_F32, 3, (int64_t[]){2, 9, 8}),
         input_of("p", KILN_DT_F32, 4, pdims));
    if (keep >= -100)
        kiln_attr_set_int(g, node_id, "keep", keep);
    if (fuse >= 0)
        kiln_attr_set_int(g, node_id, "fuse", fuse);
}

static void test_prune_errors(void)
{
    const int64_t p[4] = {2, 3, 9, 9};
    prune_node(8, p, 1);
    CU_ASSERT_EQUAL(kiln_graph_infer(ctx, g), KILN_OK); /* keep N-1 with fuse: 9 tokens out */
    CU_ASSERT(g->values[kiln_node_output(g, &g->nodes[node_id], 0)].shape.dim[1] == 9);
    prune_node(7, p, 1);
    CU_ASSERT_EQUAL(kiln_graph_infer(ctx, g), KILN_OK); /* one dropped: the fused token */
    CU_ASSERT(g->values[kiln_node_output(g, &g->nodes[node_id], 0)].shape.dim[1] == 9);
    prune_node(9, p, 0);
    expect_infer_error("attribute 'keep' is 9, but 9 tokens allow keeping 1 to N-1 = 8");
    prune_node(0, p, 0);
    expect_infer_error("attribute 'keep' is 0, but 9 tokens allow keeping 1 to N-1 = 8");
    prune_node(-1000, p, 0);
    expect_infer_error("attribute 'keep' is required");
    prune_node(3, p, 2);
    expect_infer_error("attribute 'fuse' is 2, need 0 to 1");
    prune_node(3, (int64_t[]){2, 3, 9, 8}, -1);
    expect_infer_error("input 1 (p, 'p') has shape [2,3,9,8], need [B, H, Nq, N] with x's B and N");
    prune_node(3, (int64_t[]){3, 3, 9, 9}, -1);
    expect_infer_error("input 1 (p, 'p') has shape [3,3,9,9]");
}

static CU_TestInfo merge_tests[] = {
    {"random, packed keys, odd and even N, r from 0 to the cap", test_merge_random},
    {"keys as a plain [B, H, N, d] tensor", test_merge_plain_layout},
    {"exact ties: first B index, lower A position", test_merge_ties},
    {"reduce_ref.py's tie example", test_merge_reference_example},
    {"inference errors", test_merge_errors},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo prune_tests[] = {
    {"random and tied scores, fuse, sizes", test_prune_random},
    {"reduce_ref.py's tie example", test_prune_reference_example},
    {"inference errors", test_prune_errors},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"kiln.TokenMerge", setup, teardown, NULL, NULL, merge_tests},
    {"kiln.TokenPrune", setup, teardown, NULL, NULL, prune_tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
