/* pack_weights.c — pass `pack-weights`: a MatMul's or kiln.FusedMatMul's
 * constant f32 weight matrix B is packed here, once, into the micro-panels
 * the GEMM micro-kernel reads, instead of by pack_b on every run (on
 * DeiT-Tiny that copy was 25 MB per inference and 22% of the profile).
 *
 * Pattern: MatMul(a, W) or kiln.FusedMatMul(a, W, ...) with W an f32
 * constant of rank 2 whose data is known, K and N > 0, a of rank >= 1,
 * output f32. A MatMul becomes a kiln.FusedMatMul without an epilogue (the
 * same product through the same GEMM: matmul_epi's kernel is matmul's f32
 * path plus the epilogue fields). Not packed: Gemm (its own kernel, with
 * transposes and alpha/beta; DeiT's only Gemm is the 192x1000 head), a B
 * of rank > 2 (batched weights), non-f32, a B that is computed, and a B
 * whose panels would be more than half zeros (N < nr / 2, e.g. a 3-column
 * B for AVX-512's 64-column panels: packing a few columns per call costs
 * little, and the packed copy would be mostly padding).
 * Needs: inferred types; runs after fuse-epilogue (-O2, -O3) so the fused
 * node is the one marked. Produces: a new 1-D constant "W.packed" of
 * krt_sgemm_packed_numel(N, K, nr) floats (one per distinct W: MatMuls
 * sharing a weight share the packed copy; the original goes to dce when
 * nothing else reads it) and the attributes packed_nr, packed_kc (the
 * layout) and packed_n (N, which the 1-D constant no longer says).
 *   before: %y = kiln.FusedMatMul(%x, %w, %b, _) {activation = "gelu"}
 *   after:  %y = kiln.FusedMatMul(%x, %w.packed, %b, _) {activation = "gelu",
 *                packed_kc = 256, packed_n = 20, packed_nr = 16}
 *
 * Which layout. The micro-kernels differ in register width nr (AVX-512
 * 64, AVX2 16, NEON 12, 4-wide 8, scalar 4) and K slice kc (128 or 256),
 * and kc fixes the summation order, so no one layout serves them all
 * without changing results. The pass packs for one kernel, the one the
 * code will most likely run (pass option pack_for, `--pack-for`): by
 * default the kernel krt_sgemm picks on this CPU, which is what the
 * interpreter, the LLVM JIT and a C-backend executable compiled here with
 * -march=native (or any x86 --cpu: it dispatches at run time) run here;
 * `kiln compile --backend llvm` passes its kernel build's (x86-64-v4:
 * avx512, v3: avx2, baseline: vec4, aarch64: neon), and `--target
 * aarch64` neon. The kernel checks at run time (krt_sgemm_packed_ex): the
 * layout is used in place only when the kernel it picked has that nr and
 * kc; any other kernel repacks from the packed array into its own layout
 * per call, which is what the unpacked path did, bit for bit. A wrong
 * guess costs the copy this pass removes, never a wrong result.
 * (tests/ir/pass_pack_weights.kir, tests/unit/test_pack_weights.c;
 * layout: runtime/krt_linalg_gemm.c, docs/compiler-core.md "Packed weights")
 */
#include "passes/pass.h"
#include "ir/edit.h"
#include "runtime/krt_linalg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* W's packed copy for this pass run (one per weight). */
typedef struct packed_map {
    uint32_t *of;               /* value -> its packed constant, 0: not yet */
    int nr, kc;
} packed_map;

/* The packable weight of node id (input 1), else 0. */
static uint32_t packable(const kiln_graph *g, uint32_t id, int nr)
{
    const kiln_node *nd = &g->nodes[id];
    if (nd->op != KILN_OP_MATMUL && nd->op != KILN_OP_FUSEDMATMUL)
        return 0;
    if (nd->op == KILN_OP_FUSEDMATMUL && kiln_attr_int(g, nd, "packed_nr", 0) != 0)
        return 0;                                   /* packed already */
    uint32_t a = kiln_node_input(g, nd, 0), w = kiln_node_input(g, nd, 1);
    uint32_t y = kiln_node_output(g, nd, 0);
    const kiln_value *wv = &g->values[w];
    if (!a || wv->kind != KILN_VAL_CONST || !wv->data || wv->dtype != KILN_DT_F32 ||
        wv->shape.rank != 2 || g->values[a].shape.rank < 1 || g->values[y].dtype != KILN_DT_F32)
        return 0;
    int64_t K = wv->shape.dim[0], N = wv->shape.dim[1];
    if (K <= 0 || N <= 0 || wv->nbytes != (size_t)(K * N) * sizeof(float))
        return 0;
    if (krt_sgemm_packed_numel(N, K, nr) > 2 * K * N)
        return 0;                                   /* mostly padding: see the header */
    return w;
}

static uint32_t packed_const(kiln_graph *g, packed_map *m, uint32_t w)
{
    if (m->of[w])
        return m->of[w];
    const kiln_value *wv = &g->values[w];
    int64_t K = wv->shape.dim[0], N = wv->shape.dim[1];
    int64_t n = krt_sgemm_packed_numel(N, K, m->nr);
    float *buf = kiln_xcalloc((size_t)n, sizeof *buf);
    krt_sgemm_pack_b(K, N, wv->data, N, 1, m->nr, m->kc, buf);
    char name[512];
    snprintf(name, sizeof name, "%s.packed", wv->name[0] ? wv->name : "weight");
    kiln_shape s = {.rank = 1, .dim = {n}};
    m->of[w] = kiln_const_add(g, name, KILN_DT_F32, &s, buf, (size_t)n * sizeof *buf, true);
    free(buf);
    return m->of[w];
}

static void pack_one(kiln_graph *g, packed_map *m, uint32_t id, uint32_t w)
{
    int64_t N = g->values[w].shape.dim[1];
    uint32_t p = packed_const(g, m, w);         /* may grow g->values: read N first */
    kiln_node *nd = &g->nodes[id];
    if (nd->op == KILN_OP_MATMUL) {
        uint32_t a = kiln_node_input(g, nd, 0);
        nd->op = KILN_OP_FUSEDMATMUL;
        kiln_node_set_inputs(g, id, (const uint32_t[]){a, p, 0, 0}, 4);
    } else {
        kiln_node_set_input(g, id, 1, p);
    }
    kiln_attr_set_int(g, id, "packed_nr", m->nr);
    kiln_attr_set_int(g, id, "packed_kc", m->kc);
    kiln_attr_set_int(g, id, "packed_n", N);
}

kiln_status kiln_pass_pack_weights(kiln_pass_ctx *pc, kiln_graph *g)
{
    const char *target = pc->opts ? pc->opts->pack_for : NULL;
    packed_map m = {0};
    if (target && strcmp(target, "none") == 0)
        return KILN_OK;
    if (!krt_sgemm_pack_geometry(target, &m.nr, &m.kc))
        return kiln_error(pc->ctx, KILN_ERR_INVALID, "--pack-for '%s': not a GEMM kernel; use "
                          "avx512, avx2, neon, vec4, scalar or none", target);
    uint32_t n_values = g->n_values;           /* packed constants are added after these */
    m.of = kiln_xcalloc(n_values, sizeof *m.of);
    for (uint32_t id = 1; id < g->n_nodes; id++) {
        uint32_t w = kiln_node_is_removed(g, id) ? 0 : packable(g, id, m.nr);
        if (w && w < n_values) {
            pack_one(g, &m, id, w);
            pc->changes++;
        }
    }
    free(m.of);
    return KILN_OK;
}
