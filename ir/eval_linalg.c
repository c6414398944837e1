/* eval_linalg.c — interpreter entries for the linalg family: read the node
 * into the runtime kernel's descriptor (through the same node readers as
 * shape inference, ir/infer_linalg.h), point the kernel at the input and
 * output buffers, and turn a krt_status into a message naming the node.
 *
 * Every input's data is known here and every output is allocated with its
 * inferred shape, so descriptors are complete. The arithmetic lives in
 * runtime/krt_linalg*.c only.
 */
#include "ir/infer_linalg.h"
#include "ir/interp.h"

#include <stdio.h>

/* ---- helpers ---------------------------------------------------------------- */

/* The inference view of this node, for the shared node readers. */
static kiln_infer reader(kiln_eval *e)
{
    kiln_infer c = {.ctx = e->ctx, .g = (kiln_graph *)e->g, .id = e->id, .n = e->n,
                    .values = e->values};
    return c;
}

static const void *in_data(kiln_eval *e, uint32_t i)
{
    const kiln_value *v = kiln_eval_in(e, i);
    return v ? v->data : NULL;
}

static int64_t in_numel(kiln_eval *e, uint32_t i)
{
    const kiln_value *v = kiln_eval_in(e, i);
    int64_t n = 0;
    if (v)
        kiln_shape_numel(&v->shape, &n);
    return n;
}

static krt_dtype in_dtype(kiln_eval *e, uint32_t i)
{
    return (krt_dtype)kiln_eval_in(e, i)->dtype;
}

/* A kernel's status as the node's result. */
static kiln_status done(kiln_eval *e, krt_status st)
{
    if (st == KRT_OK)
        return KILN_OK;
    if (st == KRT_EDTYPE)
        return kiln_eval_unsupported(e, "the interpreter has no %s kernel for dtype %s",
                                     kiln_op_name(e->n->op),
                                     kiln_dtype_name(kiln_eval_in(e, 0)->dtype));
    return kiln_eval_fail(e, "the kernel rejected its operands (status %d)", (int)st);
}

/* A quantized operand: data at input `data`, zero point and scale at the
 * given inputs (UINT32_MAX: none). */
static krt_qtensor qtensor(kiln_eval *e, uint32_t data, uint32_t scale, uint32_t zp)
{
    bool has_scale = scale != UINT32_MAX && kiln_eval_in(e, scale);
    bool has_zp = zp != UINT32_MAX && kiln_eval_in(e, zp);
    krt_qtensor q = {.dt = in_dtype(e, data), .data = in_data(e, data)};
    if (has_zp)
        q.zp = in_data(e, zp), q.n_zp = in_numel(e, zp);
    if (has_scale)
        q.scale = in_data(e, scale), q.n_scale = in_numel(e, scale);
    return q;
}

/* ---- matrix products ------------------------------------------------------ */

static kiln_status matmul_desc(kiln_eval *e, uint32_t ia, uint32_t ib, krt_matmul_desc *d)
{
    const kiln_value *a = kiln_eval_in(e, ia), *b = kiln_eval_in(e, ib);
    if (krt_matmul_desc_init(d, a->shape.rank, a->shape.dim, b->shape.rank, b->shape.dim))
        return kiln_eval_fail(e, "operand shapes do not multiply");
    return KILN_OK;
}

static kiln_status eval_matmul(kiln_eval *e)
{
    krt_matmul_desc d;
    kiln_status st = matmul_desc(e, 0, 1, &d);
    if (st)
        return st;
    krt_dtype dt = in_dtype(e, 0);
    void *scratch = kiln_eval_scratch(e, krt_matmul_scratch_size(&d, dt));
    return done(e, krt_matmul(&d, dt, in_data(e, 0), in_data(e, 1), kiln_eval_out_data(e, 0), scratch));
}

static kiln_status eval_gemm(kiln_eval *e)
{
    kiln_infer c = reader(e);
    krt_gemm_desc d;
    kiln_shape y;
    kiln_status st = kiln_linalg_gemm(&c, &d, &y);
    if (st)
        return st;
    krt_dtype dt = in_dtype(e, 0);
    void *scratch = kiln_eval_scratch(e, krt_gemm_op_scratch_size(&d, dt));
    return done(e, krt_gemm_op(&d, dt, in_data(e, 0), in_data(e, 1), in_data(e, 2),
                               kiln_eval_out_data(e, 0), scratch));
}

static kiln_status eval_matmul_integer(kiln_eval *e)
{
    krt_matmul_desc d;
    kiln_status st = matmul_desc(e, 0, 1, &d);
    if (st)
        return st;
    krt_qtensor a = qtensor(e, 0, UINT32_MAX, 2), b = qtensor(e, 1, UINT32_MAX, 3);
    void *scratch = kiln_eval_scratch(e, krt_matmul_integer_scratch_size(&d));
    return done(e, krt_matmul_integer(&d, &a, &b, kiln_eval_out_data(e, 0), scratch));
}

static kiln_status eval_qlinear_matmul(kiln_eval *e)
{
    krt_matmul_desc d;
    kiln_status st = matmul_desc(e, 0, 3, &d);
    if (st)
        return st;
    krt_qtensor a = qtensor(e, 0, 1, 2), b = qtensor(e, 3, 4, 5), y = qtensor(e, 7, 6, 7);
    void *scratch = kiln_eval_scratch(e, krt_qlinear_matmul_scratch_size(&d));
    return done(e, krt_qlinear_matmul(&d, &a, &b, &y, kiln_eval_out_data(e, 0), scratch));
}

/* ---- convolutions ------------------------------------------------------------ */

static kiln_status eval_conv(kiln_eval *e)
{
    kiln_infer c = reader(e);
    krt_conv_desc d;
    kiln_shape y;
    kiln_status st = kiln_linalg_conv(&c, &d, &y);
    if (st)
        return st;
    krt_dtype dt = in_dtype(e, 0);
    void *scratch = kiln_eval_scratch(e, krt_conv_scratch_size(&d, dt));
    return done(e, krt_conv(&d, dt, in_data(e, 0), in_data(e, 1), in_data(e, 2),
                            kiln_eval_out_data(e, 0), scratch));
}

static kiln_status eval_convtranspose(kiln_eval *e)
{
    kiln_infer c = reader(e);
    krt_conv_desc d;
    kiln_shape y;
    kiln_status st = kiln_linalg_convtranspose(&c, &d, &y);
    if (st)
        return st;
    krt_dtype dt = in_dtype(e, 0);
    void *scratch = kiln_eval_scratch(e, krt_convtranspose_scratch_size(&d, dt));
    return done(e, krt_convtranspose(&d, dt, in_data(e, 0), in_data(e, 1), in_data(e, 2),
                                     kiln_eval_out_data(e, 0), scratch));
}

static kiln_status eval_conv_integer(kiln_eval *e)
{
    kiln_infer c = reader(e);
    krt_conv_desc d;
    kiln_shape y;
    kiln_status st = kiln_linalg_conv(&c, &d, &y);
    if (st)
        return st;
    krt_qtensor x = qtensor(e, 0, UINT32_MAX, 2), w = qtensor(e, 1, UINT32_MAX, 3);
    void *scratch = kiln_eval_scratch(e, krt_conv_integer_scratch_size(&d));
    return done(e, krt_conv_integer(&d, &x, &w, kiln_eval_out_data(e, 0), scratch));
}

static kiln_status eval_qlinear_conv(kiln_eval *e)
{
    kiln_infer c = reader(e);
    krt_conv_desc d;
    kiln_shape y;
    kiln_status st = kiln_linalg_conv(&c, &d, &y);
    if (st)
        return st;
    krt_qtensor x = qtensor(e, 0, 1, 2), w = qtensor(e, 3, 4, 5), yq = qtensor(e, 7, 6, 7);
    void *scratch = kiln_eval_scratch(e, krt_qlinear_conv_scratch_size(&d));
    return done(e, krt_qlinear_conv(&d, &x, &w, in_data(e, 8), &yq, kiln_eval_out_data(e, 0),
                                    scratch));
}

/* ---- pools ------------------------------------------------------------------- */

static kiln_status eval_pool(kiln_eval *e)
{
    kiln_infer c = reader(e);
    krt_pool_desc d;
    kiln_pool_opts o;
    kiln_shape y;
    kiln_status st = kiln_linalg_pool(&c, &d, &o, &y);
    if (st)
        return st;
    krt_dtype dt = in_dtype(e, 0);
    const void *x = in_data(e, 0);
    void *out = kiln_eval_out_data(e, 0);
    if (e->n->op == KILN_OP_MAXPOOL)
        return done(e, krt_maxpool(&d, dt, x, out, kiln_eval_out_data(e, 1), o.storage_order));
    if (e->n->op == KILN_OP_AVERAGEPOOL)
        return done(e, krt_avgpool(&d, dt, x, out, o.count_include_pad));
    return done(e, krt_lppool(&d, dt, x, out, (double)o.p));
}

static const krt_global_kind global_kinds[KILN_OP_COUNT] = {
    [KILN_OP_GLOBALAVERAGEPOOL] = KRT_GLOBAL_AVG,
    [KILN_OP_GLOBALMAXPOOL] = KRT_GLOBAL_MAX,
    [KILN_OP_GLOBALLPPOOL] = KRT_GLOBAL_LP,
};

static kiln_status eval_global_pool(kiln_eval *e)
{
    const kiln_value *x = kiln_eval_in(e, 0);
    int64_t planes = x->shape.dim[0] * x->shape.dim[1];
    int64_t size = planes ? in_numel(e, 0) / planes : 0;
    double p = (double)kiln_attr_int(e->g, e->n, "p", 2);
    return done(e, krt_global_pool(global_kinds[e->n->op], in_dtype(e, 0), planes, size, x->data,
                                   kiln_eval_out_data(e, 0), p));
}

static kiln_status eval_maxunpool(kiln_eval *e)
{
    kiln_infer c = reader(e);
    kiln_shape unpooled, y;
    int64_t bad = 0, limit = 0;
    kiln_status st = kiln_linalg_maxunpool(&c, &unpooled, &y);
    if (st)
        return st;
    const int64_t *idx = in_data(e, 1);
    krt_status ks = krt_maxunpool(in_dtype(e, 0), y.rank, unpooled.dim, y.dim, in_numel(e, 0),
                                  in_data(e, 0), idx, kiln_eval_out_data(e, 0), &bad);
    kiln_shape_numel(&unpooled, &limit);
    if (ks == KRT_EINDEX)
        return kiln_eval_fail(e, "index %lld at position %lld of input 1 ('%s') is out of range [0, %lld)",
                              (long long)idx[bad], (long long)bad, kiln_eval_in(e, 1)->name,
                              (long long)limit);
    return done(e, ks);
}

/* ---- recurrent cells ------------------------------------------------------------ */

static kiln_status bad_seq_len(kiln_eval *e, const krt_rnn_desc *d, const int32_t *lens)
{
    for (int64_t b = 0; b < d->batch; b++)
        if (lens[b] < 0 || lens[b] > d->seq)
            return kiln_eval_fail(e, "sequence length %d of batch item %lld in input 4 ('%s') is outside [0, %lld]",
                                  (int)lens[b], (long long)b, kiln_eval_in(e, 4)->name,
                                  (long long)d->seq);
    return kiln_eval_fail(e, "bad sequence lengths in input 4");
}

static kiln_status eval_rnn(kiln_eval *e)
{
    kiln_infer c = reader(e);
    krt_rnn_desc d;
    kiln_shape y[3];
    kiln_status st = kiln_linalg_rnn(&c, &d, y);
    if (st)
        return st;
    if (in_dtype(e, 0) != KRT_F32)
        return done(e, KRT_EDTYPE);
    krt_rnn_io io = {in_data(e, 0), in_data(e, 1), in_data(e, 2), in_data(e, 3), in_data(e, 4),
                     in_data(e, 5), in_data(e, 6), in_data(e, 7), kiln_eval_out_data(e, 0),
                     kiln_eval_out_data(e, 1), kiln_eval_out_data(e, 2)};
    if (d.kind != KRT_LSTM)
        io.initial_c = io.P = NULL;
    void *scratch = kiln_eval_scratch(e, krt_rnn_scratch_size(&d));
    krt_status ks = krt_rnn(&d, &io, scratch);
    return ks == KRT_EVALUE ? bad_seq_len(e, &d, io.seq_lens) : done(e, ks);
}

/* ---- sampling ---------------------------------------------------------------------- */

static kiln_status eval_resize(kiln_eval *e)
{
    kiln_infer c = reader(e);
    krt_resize_desc d;
    kiln_shape y;
    kiln_status st = kiln_linalg_resize(&c, &d, &y);
    if (st)
        return st;
    krt_dtype dt = in_dtype(e, 0);
    void *scratch = kiln_eval_scratch(e, krt_resize_scratch_size(&d, dt));
    return done(e, krt_resize(&d, dt, in_data(e, 0), kiln_eval_out_data(e, 0), scratch));
}

static kiln_status eval_gridsample(kiln_eval *e)
{
    kiln_infer c = reader(e);
    krt_gridsample_desc d;
    kiln_shape y;
    kiln_status st = kiln_linalg_gridsample(&c, &d, &y);
    if (st)
        return st;
    return done(e, krt_gridsample(&d, in_dtype(e, 0), in_data(e, 0), in_data(e, 1),
                                  kiln_eval_out_data(e, 0)));
}

static kiln_status eval_roialign(kiln_eval *e)
{
    kiln_infer c = reader(e);
    krt_roialign_desc d;
    kiln_shape y;
    int64_t bad = 0;
    kiln_status st = kiln_linalg_roialign(&c, &d, &y);
    if (st)
        return st;
    const int64_t *bi = in_data(e, 2);
    krt_status ks = krt_roialign(&d, in_dtype(e, 0), in_data(e, 0), in_data(e, 1), bi,
                                 kiln_eval_out_data(e, 0), &bad);
    if (ks == KRT_EINDEX)
        return kiln_eval_fail(e, "batch index %lld of roi %lld in input 2 ('%s') is out of range [0, %lld)",
                              (long long)bi[bad], (long long)bad, kiln_eval_in(e, 2)->name,
                              (long long)d.batch);
    return done(e, ks);
}

/* ---- the table ----------------------------------------------------------------------- */

const kiln_eval_fn kiln_eval_linalg[KILN_OP_COUNT] = {
    [KILN_OP_MATMUL] = eval_matmul,
    [KILN_OP_GEMM] = eval_gemm,
    [KILN_OP_MATMULINTEGER] = eval_matmul_integer,
    [KILN_OP_QLINEARMATMUL] = eval_qlinear_matmul,
    [KILN_OP_CONV] = eval_conv,
    [KILN_OP_CONVTRANSPOSE] = eval_convtranspose,
    [KILN_OP_CONVINTEGER] = eval_conv_integer,
    [KILN_OP_QLINEARCONV] = eval_qlinear_conv,
    [KILN_OP_MAXPOOL] = eval_pool,
    [KILN_OP_AVERAGEPOOL] = eval_pool,
    [KILN_OP_LPPOOL] = eval_pool,
    [KILN_OP_GLOBALAVERAGEPOOL] = eval_global_pool,
    [KILN_OP_GLOBALMAXPOOL] = eval_global_pool,
    [KILN_OP_GLOBALLPPOOL] = eval_global_pool,
    [KILN_OP_MAXUNPOOL] = eval_maxunpool,
    [KILN_OP_RNN] = eval_rnn,
    [KILN_OP_GRU] = eval_rnn,
    [KILN_OP_LSTM] = eval_rnn,
    [KILN_OP_RESIZE] = eval_resize,
    [KILN_OP_GRIDSAMPLE] = eval_gridsample,
    [KILN_OP_ROIALIGN] = eval_roialign,
};
