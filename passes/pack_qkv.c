/* pack_qkv.c — pass `pack-qkv`: separate Q/K/V projections of one input
 * become one GEMM whose output kiln.Attention reads through its layouts.
 *
 * BERT-style exports (and cross attention's K and V) project the same
 * activation x three times, x·Wq, x·Wk and x·Wv, each a GEMM with few
 * columns. One GEMM x·[Wq Wk Wv] reads x once and gives the micro-kernel
 * three times the columns; kiln.Attention already reads Q, K and V through
 * [offset, batch, head, token] strides (docs/attention.md), so the packed
 * output needs no Slice: each layout is re-aimed at its column block.
 *
 * Pattern: the distinct Q/K/V inputs of a kiln.Attention that are each
 *   MatMul(x, W) or kiln.FusedMatMul(x, W, bias|_, _) with no activation
 * with the same x, W an f32 constant [K, C] (C the output's last dim),
 * bias an f32 constant [C], and every use of the output a Q/K/V input of
 * some kiln.Attention (so every reader's layout can be re-aimed; a value
 * also read by another op, e.g. kiln.TokenMerge's keys, is left alone).
 * Two or three of them become one node over W' = [W1 W2 W3] (columns
 * concatenated) and bias' (a missing bias is zeros); every reader's layout
 * maps element e of a C-wide row to (e / C)·C' + offset_i + e % C.
 * The arithmetic per output element is unchanged (the same K-long dot
 * product, then the bias), so the result is bit-identical.
 * Runs after fuse-epilogue (biases are already inside kiln.FusedMatMul)
 * and dce (the head-split views fuse-attention left dead still read the
 * projections until dce removes them), and before pack-weights. The old
 * projections are removed here. One change per packed group.
 *   before: %q = kiln.FusedMatMul(%x, %wq, %bq, _)   %k = ... (%x, %wk, %bk, _)
 *           %v = kiln.FusedMatMul(%x, %wv, %bv, _)
 *           %y = kiln.Attention(%q, %k, %v) {q_layout = [0, 0, 16, 32], ...}
 *   after:  %qkv = kiln.FusedMatMul(%x, %wqkv, %bqkv, _)
 *           %y = kiln.Attention(%qkv, %qkv, %qkv) {q_layout = [0, 0, 16, 96],
 *                k_layout = [32, 0, 16, 96], v_layout = [64, 0, 16, 96], ...}
 * (tests/ir/pass_pack_qkv.kir; the convbert and lookupvit samples)
 */
#include "passes/pass.h"
#include "ir/edit.h"

#include <stdio.h>
#include <string.h>

enum { MAX_MEMBERS = 3, MAX_ROWS = 1 << 22 };

/* One projection of a group. */
typedef struct proj {
    uint32_t node, out;         /* the MatMul / kiln.FusedMatMul and its output */
    uint32_t w, bias;           /* constants; bias 0: none */
    int64_t cols;               /* C */
} proj;

/* Layout attribute name and token-count attribute of Q/K/V input slot s. */
static const struct {
    const char *layout, *tokens;
} slot_attr[3] = {{"q_layout", "q_tokens"}, {"k_layout", "kv_tokens"}, {"v_layout", "kv_tokens"}};

static const kiln_value *val(const kiln_graph *g, uint32_t v) { return &g->values[v]; }

static bool is_f32_const(const kiln_graph *g, uint32_t v, int rank)
{
    return v && val(g, v)->kind == KILN_VAL_CONST && val(g, v)->data &&
           val(g, v)->dtype == KILN_DT_F32 && val(g, v)->shape.rank == rank &&
           kiln_shape_is_static(&val(g, v)->shape);
}

/* Every use of v is input 0..2 of a kiln.Attention (none a graph output). */
static bool only_attention_reads(const kiln_graph *g, const kiln_users *u, uint32_t v)
{
    if (kiln_users_count(u, v) == 0)
        return false;
    for (uint32_t i = u->first[v]; i < u->first[v + 1]; i++) {
        const kiln_use *use = &u->use[i];
        if (use->node == 0 || g->nodes[use->node].op != KILN_OP_ATTENTION || use->slot > 2)
            return false;
    }
    return true;
}

/* v as a packable projection: fills *p, returns its x (0: not one). */
static uint32_t projection(const kiln_graph *g, const kiln_users *u, uint32_t v, proj *p)
{
    uint32_t n = kiln_match_op(g, v, KILN_OP_COUNT);
    if (!n)
        return 0;
    const kiln_node *nd = &g->nodes[n];
    bool fused = nd->op == KILN_OP_FUSEDMATMUL;
    if (nd->op != KILN_OP_MATMUL && !fused)
        return 0;
    if (fused && (kiln_node_input(g, nd, 3) ||
                  strcmp(kiln_attr_string(g, nd, "activation", "none"), "none") != 0))
        return 0;
    uint32_t x = kiln_node_input(g, nd, 0), w = kiln_node_input(g, nd, 1);
    uint32_t bias = fused ? kiln_node_input(g, nd, 2) : 0;
    const kiln_value *y = val(g, v);
    if (!is_f32_const(g, w, 2) || (bias && !is_f32_const(g, bias, 1)) || y->dtype != KILN_DT_F32 ||
        !kiln_shape_is_static(&y->shape) || y->shape.rank < 2 || val(g, x)->shape.rank < 2)
        return 0;
    int64_t cols = val(g, w)->shape.dim[1];
    if (y->shape.dim[y->shape.rank - 1] != cols || (bias && val(g, bias)->shape.dim[0] != cols) ||
        !only_attention_reads(g, u, v))
        return 0;
    *p = (proj){.node = n, .out = v, .w = w, .bias = bias, .cols = cols};
    return x;
}

/* e, an element index into a C-wide row-major tensor, in the packed
 * C'-wide one whose columns [col0, col0 + C) it becomes. */
static int64_t remap(int64_t e, int64_t c, int64_t packed, int64_t col0)
{
    return e / c * packed + col0 + e % c;
}

/* The layout of attention node `att`, slot s, re-aimed; false when it does
 * not map row for row (a row crossing a C boundary, a stride that is not
 * linear in the packed tensor), checked over every row it addresses. */
static bool remap_layout(const kiln_graph *g, uint32_t att, int s, int64_t c, int64_t packed,
                         int64_t col0, int64_t out[4])
{
    const kiln_node *nd = &g->nodes[att];
    uint32_t n;
    const int64_t *l = kiln_attr_ints(g, nd, slot_attr[s].layout, &n);
    int64_t B = kiln_attr_int(g, nd, "batch", 0), H = kiln_attr_int(g, nd, "heads", 0);
    int64_t N = kiln_attr_int(g, nd, slot_attr[s].tokens, 0), D = kiln_attr_int(g, nd, "head_dim", 0);
    if (!l || n != 4 || B < 1 || H < 1 || N < 1 || D < 1 || D > c || B * H > MAX_ROWS / N)
        return false;
    out[0] = remap(l[0], c, packed, 0) + col0;
    for (int i = 1; i < 4; i++)
        out[i] = l[i] / c * packed + l[i] % c;
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t t = 0; t < N; t++) {
                int64_t e = l[0] + b * l[1] + h * l[2] + t * l[3];
                if (e % c + D > c || remap(e, c, packed, col0) != out[0] + b * out[1] + h * out[2] + t * out[3])
                    return false;
            }
    return true;
}

/* Concatenate the members' constants along their last dim (rows: K for W,
 * 1 for bias; a missing bias is zeros). */
static uint32_t concat_columns(kiln_graph *g, const proj *m, int n, bool bias, int64_t rows,
                               int64_t packed, const char *name)
{
    float *data = kiln_arena_alloc(g->arena, (size_t)(rows * packed) * sizeof *data, 64);
    int64_t col0 = 0;
    for (int i = 0; i < n; i++) {
        uint32_t src = bias ? m[i].bias : m[i].w;
        for (int64_t r = 0; r < rows; r++) {
            float *dst = data + r * packed + col0;
            if (src)
                memcpy(dst, (const float *)val(g, src)->data + r * m[i].cols, (size_t)m[i].cols * sizeof *dst);
            else
                memset(dst, 0, (size_t)m[i].cols * sizeof *dst);
        }
        col0 += m[i].cols;
    }
    int64_t dims[2] = {rows, packed};
    kiln_shape s = bias ? kiln_shape_make(1, &packed) : kiln_shape_make(2, dims);
    return kiln_const_add(g, name, KILN_DT_F32, &s, data, (size_t)(rows * packed) * sizeof *data, false);
}

/* Pack group m[0..n) (same x): one new node, every reader re-aimed. False,
 * changing nothing, when some reader's layout does not map. */
static bool pack(kiln_graph *g, const kiln_users *u, uint32_t x, const proj *m, int n)
{
    int64_t packed = 0, col0[MAX_MEMBERS];
    bool any_bias = false;
    for (int i = 0; i < n; i++) {
        col0[i] = packed;
        packed += m[i].cols;
        any_bias |= m[i].bias != 0;
    }
    /* Check every reader first: all or nothing. */
    int64_t layout[4];
    for (int i = 0; i < n; i++)
        for (uint32_t k = u->first[m[i].out]; k < u->first[m[i].out + 1]; k++)
            if (!remap_layout(g, u->use[k].node, (int)u->use[k].slot, m[i].cols, packed, col0[i], layout))
                return false;

    char name[256];
    const kiln_value *y0 = val(g, m[0].out);
    kiln_shape shape = y0->shape;   /* values may move when one is added */
    snprintf(name, sizeof name, "pack-qkv.%s", y0->name && y0->name[0] ? y0->name : "x");
    char wname[300];
    snprintf(wname, sizeof wname, "%s.weight", name);
    uint32_t ins[4] = {x, concat_columns(g, m, n, false, val(g, m[0].w)->shape.dim[0], packed, wname), 0, 0};
    snprintf(wname, sizeof wname, "%s.bias", name);
    if (any_bias)
        ins[2] = concat_columns(g, m, n, true, 1, packed, wname);
    uint32_t out = kiln_value_add(g, name);
    kiln_value *yv = &g->values[out];
    yv->dtype = KILN_DT_F32;
    yv->shape = shape;
    yv->shape.dim[shape.rank - 1] = packed;
    kiln_node_add(g, any_bias ? KILN_OP_FUSEDMATMUL : KILN_OP_MATMUL, name, ins, any_bias ? 4 : 2, &out, 1);

    for (int i = 0; i < n; i++) {
        for (uint32_t k = u->first[m[i].out]; k < u->first[m[i].out + 1]; k++) {
            uint32_t att = u->use[k].node;
            int s = (int)u->use[k].slot;
            KILN_ASSERT(remap_layout(g, att, s, m[i].cols, packed, col0[i], layout));
            kiln_attr_set_ints(g, att, slot_attr[s].layout, layout, 4);
            kiln_node_set_input(g, att, (uint32_t)s, out);
        }
        kiln_node_remove(g, m[i].node);
    }
    return true;
}

kiln_status kiln_pass_pack_qkv(kiln_pass_ctx *pc, kiln_graph *g)
{
    uint32_t n_nodes = g->n_nodes;
    for (uint32_t id = 1; id < n_nodes; id++) {
        if (g->nodes[id].op != KILN_OP_ATTENTION)
            continue;
        /* A fresh snapshot per attention node: an earlier packing changed uses. */
        kiln_users *u = kiln_users_build(g);
        proj m[MAX_MEMBERS];
        uint32_t xs[MAX_MEMBERS];
        int n = 0;
        for (uint32_t s = 0; s < 3; s++) {
            uint32_t v = kiln_node_input(g, &g->nodes[id], s);
            bool seen = false;
            for (int i = 0; i < n; i++)
                seen |= m[i].out == v;
            if (v && !seen && (xs[n] = projection(g, u, v, &m[n])))
                n++;
        }
        /* The largest set with one x: all of them, or the two that share it. */
        bool done = false;
        if (n == 3 && xs[0] == xs[1] && xs[1] == xs[2])
            done = pack(g, u, xs[0], m, 3);
        for (int a = 0; a < n && !done; a++)
            for (int b = a + 1; b < n && !done; b++)
                if (xs[a] == xs[b])
                    done = pack(g, u, xs[a], (proj[]){m[a], m[b]}, 2);
        kiln_users_destroy(u);
        pc->changes += done;
    }
    return pc->changes ? kiln_graph_toposort(pc->ctx, g) : KILN_OK;
}
