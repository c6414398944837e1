/* flops.h — how many floating-point operations a node does, from its
 * inferred shapes: the one count `kiln info`, `kiln run --profile` and
 * the compiled executable's --profile report (the backends write it into
 * NAME_profile at compile time).
 *
 * What is counted (ir/flops.c has the table, one row per op, each with the
 * sentence `kiln info` prints beside it):
 *  - products: 2 per multiply-add. MatMul, Gemm, kiln.FusedMatMul
 *    2·M·N·K; Conv 2·|Y|·(C/group)·kh·kw; ConvTranspose 2·|X|·|W|/C_in;
 *    Einsum 2·(product of every index letter's size); RNN/GRU/LSTM
 *    2·T·B·(|W| + |R|). A bias, and each step of a FusedMatMul's
 *    epilogue (bias, activation, residual), adds 1 per output element.
 *  - kiln.Attention: per score (B·H·Nq·Nk of them) 2·D for q·kᵀ, 2·D for
 *    p·v and 7 for the scale, bias and softmax, as the unfused graph counts
 *    them; with p_in (shared probabilities) only p·v; 2·H more with the
 *    re-attention head mix.
 *  - elementwise ops: 1 per output element, whatever the formula (a
 *    transcendental counts 1); kiln.FusedElementwise 1 per instruction per
 *    element; kiln.Gelu what it replaces (5, or 8 for the tanh form);
 *    Sum/Max/Min/Mean 1 per element and extra input.
 *  - reductions, norms, softmax, pooling: a fixed count per element from
 *    the usual formula (Softmax 5: max, sub, exp, sum, div; the
 *    normalizations 8; BatchNormalization 2, folded), pooling 1 per window
 *    element of each output.
 *  - data movement, indexing, shape ops, copies, generators: no arithmetic
 *    (no sentence: `kiln info` lists them as not counted, a profile shows
 *    their time with no GFLOP/s).
 * Integer and quantized products (MatMulInteger, QLinearConv...) are
 * counted as their float forms (operations, not strictly FLOPs).
 */
#ifndef KILN_FLOPS_H
#define KILN_FLOPS_H

#include "ir/ir.h"

/* The count for node `node` of g with the types and shapes of `values`
 * (g->values, or an interpreter's run-time copy). A symbolic dimension
 * counts as 1 (and, when sym_used is not NULL, sym_used[k] is set for each
 * symbol k so counted: `kiln info` says which); -1 when a shape it needs
 * has no known rank; 0 for an op that does no arithmetic. */
double kiln_node_flops(const kiln_graph *g, const kiln_value *values, uint32_t node,
                       bool *sym_used /* [g->n_syms], or NULL */);

/* The same for a profile: 0 where the count is unknown (-1). */
static inline double kiln_node_flops_known(const kiln_graph *g, const kiln_value *values, uint32_t node)
{
    double f = kiln_node_flops(g, values, node, NULL);
    return f > 0 ? f : 0;
}

/* How op is counted, as `kiln info` prints it ("2 per multiply-add");
 * NULL for an op without arithmetic (not counted). */
const char *kiln_flops_rule(kiln_op op);

/* Whether op has a row in the table, arithmetic or not
 * (tests/unit/test_flops.c names any op without one). */
bool kiln_flops_has_row(kiln_op op);

/* The name a profile shows for node: its own, else its first output's
 * ("" when neither has one). Borrowed from the graph. */
const char *kiln_node_profile_name(const kiln_graph *g, uint32_t node);

#endif /* KILN_FLOPS_H */
