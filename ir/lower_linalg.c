/* lower_linalg.c — lowering of the linalg family: node -> kernel calls
 * (ir/lower.h), one call per node.
 *
 * Descriptors come from the same node readers as shape inference
 * (ir/infer_linalg.h), so the two can never disagree on a window, a pad
 * or a broadcast; this file adds the dtypes and the per-op options, and
 * lists the operands in the order each kernel documents (runtime/
 * krt_linalg.h). Every input the descriptors need (Resize's scales and
 * sizes, MaxUnpool's output_shape) is read through the readers, which
 * fail naming the node when it is not known. Dtypes the readers accept
 * but a kernel has no variant for are refused here, before anything runs.
 */
#include "ir/infer_linalg.h"
#include "ir/lower.h"

/* ---- helpers ---------------------------------------------------------------- */

#define ABSENT UINT32_MAX  /* in an operand list: no operand */

/* The inference view of this node, for the shared node readers (they
 * only read the graph and the values). */
static kiln_infer reader(kiln_lower *l)
{
    return (kiln_infer){.ctx = l->ctx, .g = (kiln_graph *)l->g, .id = l->id, .n = l->n,
                        .values = (kiln_value *)l->values};
}

static krt_dtype in_dtype(const kiln_lower *l, uint32_t i)
{
    return (krt_dtype)kiln_lower_in(l, i)->dtype;
}

/* Elements of input i; 0 when it is absent. */
static int64_t in_numel(const kiln_lower *l, uint32_t i)
{
    return kiln_lower_numel(kiln_lower_in(l, i));
}

/* Emits kernel k over inputs ins[0..n_in) (ABSENT: an absent
 * operand) and then outputs 0..n_out-1 of the node. */
static kiln_status emit(kiln_lower *l, krt_kernel_id k, const void *desc, const uint32_t *ins,
                        uint32_t n_in, uint32_t n_out)
{
    uint32_t ops[16];
    KILN_ASSERT(n_in + n_out <= 16);
    for (uint32_t i = 0; i < n_in; i++)
        ops[i] = ins[i] == ABSENT ? 0 : kiln_lower_in_id(l, ins[i]);
    for (uint32_t i = 0; i < n_out; i++)
        ops[n_in + i] = kiln_lower_out_id(l, i);
    kiln_lower_emit(l, k, desc, ops, n_in + n_out);
    return KILN_OK;
}

#define INS(...) (const uint32_t[]){__VA_ARGS__}, \
    (uint32_t)(sizeof((const uint32_t[]){__VA_ARGS__}) / sizeof(uint32_t))

/* ---- matrix products ------------------------------------------------------ */

static kiln_status matmul_desc(kiln_lower *l, uint32_t ia, uint32_t ib, krt_matmul_desc *d)
{
    const kiln_value *a = kiln_lower_in(l, ia), *b = kiln_lower_in(l, ib);
    if (krt_matmul_desc_init(d, a->shape.rank, a->shape.dim, b->shape.rank, b->shape.dim))
        return kiln_lower_fail(l, "operand shapes do not multiply");
    d->dtype = in_dtype(l, ia);
    return KILN_OK;
}

static kiln_status lower_matmul(kiln_lower *l)
{
    krt_matmul_desc d = {0};
    kiln_status st = matmul_desc(l, 0, 1, &d);
    return st ? st : emit(l, KRT_K_MATMUL, &d, INS(0, 1), 1);
}

static kiln_status lower_gemm(kiln_lower *l)
{
    kiln_infer c = reader(l);
    krt_gemm_desc d = {0};
    kiln_shape y;
    kiln_status st = kiln_linalg_gemm(&c, &d, &y);
    if (st)
        return st;
    d.dtype = in_dtype(l, 0);
    return emit(l, KRT_K_GEMM, &d, INS(0, 1, 2), 1);
}

static kiln_status lower_fused_matmul(kiln_lower *l)
{
    kiln_infer c = reader(l);
    krt_matmul_epi_desc d = {0};
    kiln_shape y, b;
    kiln_status st = kiln_linalg_fused_matmul(&c, &d, &y, &b);
    if (st)
        return st;
    const kiln_value *a = kiln_lower_in(l, 0);
    if (krt_matmul_desc_init(&d.mm, a->shape.rank, a->shape.dim, b.rank, b.dim))
        return kiln_lower_fail(l, "operand shapes do not multiply");
    d.mm.dtype = in_dtype(l, 0);
    return emit(l, KRT_K_MATMUL_EPI, &d, INS(0, 1, 2, 3), 1);
}

/* MatMulInteger (A, B, a_zp?, b_zp?): the qmatmul operands without scales. */
static kiln_status lower_matmul_integer(kiln_lower *l)
{
    krt_qmatmul_desc d = {.b_dtype = in_dtype(l, 1), .y_dtype = KRT_I32,
                          .n_a_zp = in_numel(l, 2), .n_b_zp = in_numel(l, 3)};
    kiln_status st = matmul_desc(l, 0, 1, &d.mm);
    return st ? st : emit(l, KRT_K_QMATMUL, &d, INS(0, ABSENT, 2, 1, ABSENT, 3, ABSENT, ABSENT), 1);
}

static kiln_status lower_qlinear_matmul(kiln_lower *l)
{
    krt_qmatmul_desc d = {.b_dtype = in_dtype(l, 3), .y_dtype = in_dtype(l, 7),
                          .n_a_zp = in_numel(l, 2), .n_b_zp = in_numel(l, 5),
                          .n_y_zp = in_numel(l, 7), .n_a_scale = in_numel(l, 1),
                          .n_b_scale = in_numel(l, 4), .n_y_scale = in_numel(l, 6)};
    kiln_status st = matmul_desc(l, 0, 3, &d.mm);
    return st ? st : emit(l, KRT_K_QMATMUL, &d, INS(0, 1, 2, 3, 4, 5, 6, 7), 1);
}

/* ---- convolutions ------------------------------------------------------------ */

static kiln_status lower_conv(kiln_lower *l)
{
    kiln_infer c = reader(l);
    krt_conv_desc d = {0};
    kiln_shape y;
    kiln_status st = kiln_linalg_conv(&c, &d, &y);
    if (st)
        return st;
    d.dtype = in_dtype(l, 0);
    return emit(l, KRT_K_CONV, &d, INS(0, 1, 2), 1);
}

static kiln_status lower_fused_conv(kiln_lower *l)
{
    kiln_infer c = reader(l);
    krt_conv_epi_desc d = {0};
    kiln_shape y;
    kiln_status st = kiln_linalg_fused_conv(&c, &d, &y);
    if (st)
        return st;
    d.conv.dtype = in_dtype(l, 0);
    return emit(l, KRT_K_CONV_EPI, &d, INS(0, 1, 2, 3), 1);
}

static kiln_status lower_convtranspose(kiln_lower *l)
{
    kiln_infer c = reader(l);
    krt_conv_desc d = {0};
    kiln_shape y;
    kiln_status st = kiln_linalg_convtranspose(&c, &d, &y);
    if (st)
        return st;
    d.dtype = in_dtype(l, 0);
    return emit(l, KRT_K_CONV_TRANSPOSE, &d, INS(0, 1, 2), 1);
}

/* The geometry of ConvInteger / QLinearConv (w is input w). */
static kiln_status qconv_desc(kiln_lower *l, uint32_t w, krt_qconv_desc *d)
{
    kiln_infer c = reader(l);
    kiln_shape y;
    kiln_status st = kiln_linalg_conv(&c, &d->conv, &y);
    d->conv.dtype = in_dtype(l, 0);
    d->w_dtype = in_dtype(l, w);
    d->y_dtype = (krt_dtype)kiln_lower_out(l, 0)->dtype;
    return st;
}

/* ConvInteger (x, w, x_zp?, w_zp?). */
static kiln_status lower_conv_integer(kiln_lower *l)
{
    krt_qconv_desc d = {.n_w_zp = in_numel(l, 3)};
    kiln_status st = qconv_desc(l, 1, &d);
    return st ? st : emit(l, KRT_K_QCONV, &d, INS(0, ABSENT, 2, 1, ABSENT, 3, ABSENT, ABSENT, ABSENT), 1);
}

static kiln_status lower_qlinear_conv(kiln_lower *l)
{
    krt_qconv_desc d = {.n_w_zp = in_numel(l, 5), .n_w_scale = in_numel(l, 4)};
    kiln_status st = qconv_desc(l, 3, &d);
    return st ? st : emit(l, KRT_K_QCONV, &d, INS(0, 1, 2, 3, 4, 5, 6, 7, 8), 1);
}

/* ---- pools ------------------------------------------------------------------- */

static const krt_pool_kind pool_kinds[KILN_OP_COUNT] = {
    [KILN_OP_MAXPOOL] = KRT_POOL_MAX, [KILN_OP_AVERAGEPOOL] = KRT_POOL_AVG,
    [KILN_OP_LPPOOL] = KRT_POOL_LP, [KILN_OP_GLOBALMAXPOOL] = KRT_POOL_MAX,
    [KILN_OP_GLOBALAVERAGEPOOL] = KRT_POOL_AVG, [KILN_OP_GLOBALLPPOOL] = KRT_POOL_LP,
};

/* MaxPool (with Indices as output 1), AveragePool, LpPool. */
static kiln_status lower_pool(kiln_lower *l)
{
    kiln_infer c = reader(l);
    krt_pool_desc d = {0};
    kiln_pool_opts o;
    kiln_shape y;
    kiln_status st = kiln_linalg_pool(&c, &d, &o, &y);
    if (st)
        return st;
    d.dtype = in_dtype(l, 0);
    d.kind = pool_kinds[l->n->op];
    d.storage_order = o.storage_order;
    d.count_include_pad = o.count_include_pad;
    d.p = (double)o.p;
    return emit(l, KRT_K_POOL, &d, INS(0), 2);
}

/* The global pools: one window per (batch, channel) plane. */
static kiln_status lower_global_pool(kiln_lower *l)
{
    const kiln_value *x = kiln_lower_in(l, 0);
    krt_pool_desc d = {.dtype = in_dtype(l, 0), .kind = pool_kinds[l->n->op], .global = 1,
                       .p = (double)kiln_attr_int(l->g, l->n, "p", 2), .nd = x->shape.rank - 2,
                       .batch = x->shape.dim[0], .channels = x->shape.dim[1]};
    for (int i = 0; i < d.nd; i++)
        d.in[i] = d.kernel[i] = x->shape.dim[2 + i];
    return emit(l, KRT_K_POOL, &d, INS(0), 1);
}

static kiln_status lower_maxunpool(kiln_lower *l)
{
    kiln_infer c = reader(l);
    kiln_shape unpooled, y;
    kiln_status st = kiln_linalg_maxunpool(&c, &unpooled, &y);
    if (st)
        return st;
    krt_max_unpool_desc d = {.dtype = in_dtype(l, 0), .rank = y.rank, .n = in_numel(l, 0)};
    for (int i = 0; i < y.rank; i++)
        d.unpooled[i] = unpooled.dim[i], d.out[i] = y.dim[i];
    return emit(l, KRT_K_MAX_UNPOOL, &d, INS(0, 1), 1);
}

/* ---- recurrent cells --------------------------------------------------------- */

/* RNN, GRU, LSTM: the operands in LSTM's order (the shorter cells leave
 * initial_c, P and Y_c absent). */
static kiln_status lower_rnn(kiln_lower *l)
{
    kiln_infer c = reader(l);
    krt_rnn_desc d = {0};
    kiln_shape y[3];
    kiln_status st = kiln_linalg_rnn(&c, &d, y);
    if (st)
        return st;
    d.dtype = in_dtype(l, 0);
    if (d.dtype != KRT_F32)
        return kiln_lower_unsupported(l, "no %s kernel for dtype %s", kiln_op_name(l->n->op),
                                      krt_dtype_name(d.dtype));
    return emit(l, KRT_K_RNN, &d, INS(0, 1, 2, 3, 4, 5, 6, 7), 3);
}

/* ---- sampling ------------------------------------------------------------------ */

static kiln_status lower_resize(kiln_lower *l)
{
    kiln_infer c = reader(l);
    krt_resize_desc d = {0};
    kiln_shape y;
    kiln_status st = kiln_linalg_resize(&c, &d, &y);
    if (st)
        return st;
    /* inference takes an unknown roi for the whole image (the shape does
     * not depend on it); the descriptor would bake that in, silently wrong */
    const kiln_value *roi = kiln_lower_in(l, 1);
    double probe[2 * KRT_MAX_RANK];
    if (d.coord == KRT_COORD_TF_CROP_AND_RESIZE && roi && kiln_lower_numel(roi) > 0 &&
        kiln_lower_floats(l, 1, probe, 2 * KRT_MAX_RANK) == -1)
        return kiln_lower_fail(l, "input 1 (roi) must be known when the node is compiled "
                                  "(coordinate_transformation_mode tf_crop_and_resize)");
    d.dtype = in_dtype(l, 0);
    bool interpolates = d.mode != KRT_RESIZE_NEAREST;
    if (interpolates && d.dtype != KRT_F32 && d.dtype != KRT_F64 && d.dtype != KRT_F16)
        return kiln_lower_unsupported(l, "no %s kernel for dtype %s in mode %s",
                                      kiln_op_name(l->n->op), krt_dtype_name(d.dtype),
                                      d.mode == KRT_RESIZE_LINEAR ? "linear" : "cubic");
    return emit(l, KRT_K_RESIZE, &d, INS(0), 1);
}

static kiln_status lower_gridsample(kiln_lower *l)
{
    kiln_infer c = reader(l);
    krt_grid_sample_desc d = {.dtype = in_dtype(l, 0)};
    kiln_shape y;
    kiln_status st = kiln_linalg_gridsample(&c, &d.g, &y);
    return st ? st : emit(l, KRT_K_GRID_SAMPLE, &d, INS(0, 1), 1);
}

static kiln_status lower_roialign(kiln_lower *l)
{
    kiln_infer c = reader(l);
    krt_roialign_desc d = {0};
    kiln_shape y;
    kiln_status st = kiln_linalg_roialign(&c, &d, &y);
    if (st)
        return st;
    d.dtype = in_dtype(l, 0);
    return emit(l, KRT_K_ROIALIGN, &d, INS(0, 1, 2), 1);
}

/* ---- attention ----------------------------------------------------------------- */

/* kiln.Attention: ops {Q, K, V, bias, p_in, mix, mix_scale, mix_shift, Y,
 * P}; absent inputs and an absent P are operand 0 (the descriptor's flags
 * say which the kernel reads). */
static kiln_status lower_attention(kiln_lower *l)
{
    kiln_infer c = reader(l);
    krt_attention_desc d;
    kiln_shape y, p;
    kiln_status st = kiln_linalg_attention(&c, &d, &y, &p);
    if (!st && KILN_DIM_IS_SYM(d.batch))  /* batch 0 reads V's leading dim: known only at run time */
        return kiln_node_error(l->ctx, l->g, l->id, KILN_ERR_UNSUPPORTED,
                               "the batch (the leading dimension of V) is not known yet: bind the inputs' "
                               "shapes with --shape");
    return st ? st : emit(l, KRT_K_ATTENTION, &d, INS(0, 1, 2, 3, 4, 5, 6, 7), 2);
}

/* ---- token reduction ------------------------------------------------------------- */

/* kiln.TokenMerge: ops {x, k, sizes, y, sizes_out}; kiln.TokenPrune: ops
 * {x, p, sizes, y, sizes_out}; an absent sizes or sizes_out is operand 0. */
static kiln_status lower_token_merge(kiln_lower *l)
{
    kiln_infer c = reader(l);
    krt_token_merge_desc d;
    kiln_shape y, s;
    kiln_status st = kiln_linalg_token_merge(&c, &d, &y, &s);
    return st ? st : emit(l, KRT_K_TOKEN_MERGE, &d, INS(0, 1, 2), 2);
}

static kiln_status lower_token_prune(kiln_lower *l)
{
    kiln_infer c = reader(l);
    krt_token_prune_desc d;
    kiln_shape y, s;
    kiln_status st = kiln_linalg_token_prune(&c, &d, &y, &s);
    return st ? st : emit(l, KRT_K_TOKEN_PRUNE, &d, INS(0, 1, 2), 2);
}

/* ---- the table ----------------------------------------------------------------- */

const kiln_lower_fn kiln_lower_linalg[KILN_OP_COUNT] = {
    [KILN_OP_MATMUL] = lower_matmul,
    [KILN_OP_GEMM] = lower_gemm,
    [KILN_OP_MATMULINTEGER] = lower_matmul_integer,
    [KILN_OP_QLINEARMATMUL] = lower_qlinear_matmul,
    [KILN_OP_CONV] = lower_conv,
    [KILN_OP_CONVTRANSPOSE] = lower_convtranspose,
    [KILN_OP_CONVINTEGER] = lower_conv_integer,
    [KILN_OP_QLINEARCONV] = lower_qlinear_conv,
    [KILN_OP_MAXPOOL] = lower_pool,
    [KILN_OP_AVERAGEPOOL] = lower_pool,
    [KILN_OP_LPPOOL] = lower_pool,
    [KILN_OP_GLOBALAVERAGEPOOL] = lower_global_pool,
    [KILN_OP_GLOBALMAXPOOL] = lower_global_pool,
    [KILN_OP_GLOBALLPPOOL] = lower_global_pool,
    [KILN_OP_MAXUNPOOL] = lower_maxunpool,
    [KILN_OP_RNN] = lower_rnn,
    [KILN_OP_GRU] = lower_rnn,
    [KILN_OP_LSTM] = lower_rnn,
    [KILN_OP_RESIZE] = lower_resize,
    [KILN_OP_GRIDSAMPLE] = lower_gridsample,
    [KILN_OP_ROIALIGN] = lower_roialign,
    [KILN_OP_ATTENTION] = lower_attention,
    [KILN_OP_TOKEN_MERGE] = lower_token_merge,
    [KILN_OP_TOKEN_PRUNE] = lower_token_prune,
    [KILN_OP_FUSEDMATMUL] = lower_fused_matmul,
    [KILN_OP_FUSEDCONV] = lower_fused_conv,
};
