/* infer_linalg.h — the linalg family's node readers, shared by its shape
 * inference (ir/infer_linalg.c, where they are defined) and its lowering
 * to kernel calls (ir/lower_linalg.c).
 *
 * Each reader validates a node's inputs and attributes (errors name the
 * node, through kiln_infer_fail) and computes two things from one source:
 * the output shape(s) for inference, and the geometry of the runtime
 * kernel's descriptor (the lowering adds dtypes and per-op options). With
 * symbolic dims or unknown data (static inference) the affected output
 * dims are fresh unknown dims and the matching descriptor fields are
 * meaningless; lowering needs static shapes, so its descriptors are
 * complete.
 */
#ifndef KILN_INFER_LINALG_H
#define KILN_INFER_LINALG_H

#include "ir/infer.h"
#include "runtime/krt_linalg.h"

/* Gemm: Y's shape (M, N) and the descriptor. */
kiln_status kiln_linalg_gemm(kiln_infer *c, krt_gemm_desc *d, kiln_shape *y);
/* kiln.FusedMatMul: the epilogue fields of d (act, lo, hi, has_bias,
 * has_residual, and b_nr, b_kc when pack-weights packed B; not mm), the
 * output shape, and B's shape as a matrix (input 1's own, or [K, N] when
 * packed); the activation's attribute spelling of a krt_gemm_act (NULL
 * when out of range). */
kiln_status kiln_linalg_fused_matmul(kiln_infer *c, krt_matmul_epi_desc *d, kiln_shape *y,
                                     kiln_shape *b_matrix);
const char *kiln_fused_act_name(krt_gemm_act act);

/* Conv, ConvInteger, QLinearConv (x is input 0, w input 1, or 3 for
 * QLinearConv) and ConvTranspose. */
kiln_status kiln_linalg_conv(kiln_infer *c, krt_conv_desc *d, kiln_shape *y);
kiln_status kiln_linalg_convtranspose(kiln_infer *c, krt_conv_desc *d, kiln_shape *y);
/* kiln.FusedConv: the whole descriptor but conv.dtype, and the output shape. */
kiln_status kiln_linalg_fused_conv(kiln_infer *c, krt_conv_epi_desc *d, kiln_shape *y);

/* MaxPool, AveragePool, LpPool: the window plus the per-op options. */
typedef struct kiln_pool_opts {
    int storage_order;          /* MaxPool */
    int count_include_pad;      /* AveragePool */
    int64_t p;                  /* LpPool */
} kiln_pool_opts;
kiln_status kiln_linalg_pool(kiln_infer *c, krt_pool_desc *d, kiln_pool_opts *o, kiln_shape *y);

/* MaxUnpool: the unpooled shape (from kernel, strides, pads) and the
 * output's (output_shape when given, else the same). */
kiln_status kiln_linalg_maxunpool(kiln_infer *c, kiln_shape *unpooled, kiln_shape *y);

/* RNN, GRU, LSTM: shapes of Y, Y_h and Y_c (Y_c only for LSTM). */
kiln_status kiln_linalg_rnn(kiln_infer *c, krt_rnn_desc *d, kiln_shape y[3]);

kiln_status kiln_linalg_resize(kiln_infer *c, krt_resize_desc *d, kiln_shape *y);
kiln_status kiln_linalg_gridsample(kiln_infer *c, krt_gridsample_desc *d, kiln_shape *y);
kiln_status kiln_linalg_roialign(kiln_infer *c, krt_roialign_desc *d, kiln_shape *y);

/* kiln.Attention (docs/attention.md): checks the attributes, which inputs
 * are given, that the Q/K/V layouts stay inside their inputs and that
 * y_layout covers y_shape exactly once, the shapes of bias, p_in and the
 * mix inputs; gives Y's shape, P's ([B, H, Nq, Nk]) and the descriptor
 * (p_out set when the node has output 1). */
kiln_status kiln_linalg_attention(kiln_infer *c, krt_attention_desc *d, kiln_shape *y, kiln_shape *p);

/* kiln.TokenMerge / kiln.TokenPrune (ir/infer_token.c, docs/token-reduction.md):
 * check x, k or p, sizes and the attributes; give Y's shape, sizes_out's and
 * the descriptor. kiln_infer_token_* are their rows in the linalg table. */
kiln_status kiln_linalg_token_merge(kiln_infer *c, krt_token_merge_desc *d, kiln_shape *y,
                                    kiln_shape *sizes);
kiln_status kiln_linalg_token_prune(kiln_infer *c, krt_token_prune_desc *d, kiln_shape *y,
                                    kiln_shape *sizes);
kiln_status kiln_infer_token_merge(kiln_infer *c);
kiln_status kiln_infer_token_prune(kiln_infer *c);

#endif /* KILN_INFER_LINALG_H */
