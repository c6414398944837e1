/* infer.c — the shape and dtype inference driver and the helpers that the
 * per-family inference functions (infer_<family>.c) share.
 *
 * kiln_graph_infer walks the nodes in topological order. After inferring a
 * node whose inputs are all known (constants, or values computed earlier)
 * and whose outputs are small, it evaluates the node with the interpreter's
 * kernels: that is how Shape -> Gather -> Concat -> Reshape chains turn into
 * concrete shapes at compile time. The `fold` pass does the general case.
 */
#include "ir/infer.h"
#include "ir/interp.h"
#include "ir/limits.h"
#include "runtime/krt.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>


kiln_infer_fn kiln_infer_lookup(kiln_op op)
{
    static const kiln_infer_fn *const families[KILN_FAMILY_COUNT] = {
        [KILN_FAMILY_ELEMENTWISE] = kiln_infer_elementwise,
        [KILN_FAMILY_REDUCE] = kiln_infer_reduce,
        [KILN_FAMILY_LINALG] = kiln_infer_linalg,
        [KILN_FAMILY_MOVEMENT] = kiln_infer_movement,
    };
    if ((unsigned)op >= KILN_OP_COUNT)
        return NULL;
    return families[kiln_op_infos[op].family][op];
}

/* ---- helpers ------------------------------------------------------------ */

kiln_status kiln_infer_fail(kiln_infer *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    kiln_status st = kiln_node_verror(c->ctx, c->g, c->id, KILN_ERR_INVALID, fmt, ap);
    va_end(ap);
    return st;
}

kiln_status kiln_infer_unsupported(kiln_infer *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    kiln_status st = kiln_node_verror(c->ctx, c->g, c->id, KILN_ERR_UNSUPPORTED, fmt, ap);
    va_end(ap);
    return st;
}

const void *kiln_infer_data(kiln_infer *c, uint32_t i)
{
    kiln_value *v = kiln_infer_in(c, i);
    return v && v->data ? v->data : NULL;
}

/* Element k of a known tensor as int64 (integer and bool dtypes only) or as
 * double (any numeric dtype); kiln_dtype and krt_dtype share their values. */
static bool elem_int(kiln_dtype dt, const void *p, int64_t k, int64_t *out)
{
    if (!kiln_dtype_is_int(dt) && dt != KILN_DT_BOOL)
        return false;
    *out = krt_load_i64((krt_dtype)dt, p, k);
    return true;
}

static bool elem_float(kiln_dtype dt, const void *p, int64_t k, double *out)
{
    if (dt == KILN_DT_UNDEF || dt >= KILN_DT_COUNT)
        return false;
    *out = krt_load_f64((krt_dtype)dt, p, k);
    return true;
}

static int64_t known_count(kiln_infer *c, uint32_t i, int64_t max)
{
    kiln_value *v = kiln_infer_in(c, i);
    int64_t n;
    if (!v || !v->data || !kiln_shape_numel(&v->shape, &n))
        return -1;
    return n > max ? -2 : n;
}

int64_t kiln_infer_ints(kiln_infer *c, uint32_t i, int64_t *out, int64_t max)
{
    int64_t n = known_count(c, i, max);
    kiln_value *v = kiln_infer_in(c, i);
    for (int64_t k = 0; k < n; k++)
        if (!elem_int(v->dtype, v->data, k, &out[k]))
            return -1;
    return n;
}

int64_t kiln_infer_floats(kiln_infer *c, uint32_t i, double *out, int64_t max)
{
    int64_t n = known_count(c, i, max);
    kiln_value *v = kiln_infer_in(c, i);
    for (int64_t k = 0; k < n; k++)
        if (!elem_float(v->dtype, v->data, k, &out[k]))
            return -1;
    return n;
}

int64_t kiln_infer_svals(kiln_infer *c, uint32_t i, kiln_sval *out, int64_t max)
{
    kiln_value *v = kiln_infer_in(c, i);
    int64_t n;
    if (!v || (!kiln_dtype_is_int(v->dtype) && v->dtype != KILN_DT_BOOL) ||
        !kiln_shape_numel(&v->shape, &n) || (!v->data && !v->svals))
        return -1;
    if (n > max)
        return -2;
    for (int64_t k = 0; k < n; k++)
        out[k] = v->data ? (kiln_sval){krt_load_i64((krt_dtype)v->dtype, v->data, k), 0} : v->svals[k];
    return n;
}

void kiln_infer_set(kiln_infer *c, uint32_t i, kiln_dtype dt, const kiln_shape *shape)
{
    uint32_t v = kiln_node_output(c->g, c->n, i);
    if (!v)
        return;
    c->values[v].dtype = dt;
    c->values[v].shape = *shape;
}

kiln_dim kiln_infer_unknown_dim(kiln_infer *c)
{
    /* The interpreter infers on its own copy of the values and must not
     * change the graph; there every input is known, and a dimension it
     * cannot size is reported as a bug by the interpreter. */
    if (c->values != c->g->values)
        return KILN_DIM_UNKNOWN_RUNTIME;
    return KILN_DIM_SYM(kiln_graph_symbol(c->g, NULL));
}

bool kiln_norm_axis(int64_t axis, int rank, int *out)
{
    if (axis < -rank || axis >= rank)
        return false;
    *out = (int)(axis < 0 ? axis + rank : axis);
    return true;
}

kiln_status kiln_infer_broadcast(kiln_infer *c, const kiln_shape *a, const kiln_shape *b,
                                 kiln_shape *out)
{
    char sa[256], sb[256];
    int rank = a->rank > b->rank ? a->rank : b->rank;
    kiln_shape r = {.rank = rank};
    for (int i = 0; i < rank; i++) {
        int ia = i - (rank - a->rank), ib = i - (rank - b->rank);
        kiln_dim da = ia >= 0 ? a->dim[ia] : 1, db = ib >= 0 ? b->dim[ib] : 1;
        if (da == db || db == 1)
            r.dim[i] = da;
        else if (da == 1)
            r.dim[i] = db;
        else if (KILN_DIM_IS_SYM(da) && !KILN_DIM_IS_SYM(db))
            r.dim[i] = db;
        else if (KILN_DIM_IS_SYM(db) && !KILN_DIM_IS_SYM(da))
            r.dim[i] = da;
        else if (KILN_DIM_IS_SYM(da) && KILN_DIM_IS_SYM(db))
            r.dim[i] = kiln_infer_unknown_dim(c);
        else
            return kiln_infer_fail(c, "cannot broadcast shapes %s and %s (dimension %d: %lld vs %lld)",
                                   kiln_shape_format(c->g, a, sa, sizeof sa),
                                   kiln_shape_format(c->g, b, sb, sizeof sb), i,
                                   (long long)da, (long long)db);
    }
    *out = r;
    return KILN_OK;
}

kiln_status kiln_infer_need(kiln_infer *c, uint32_t i, kiln_value **v)
{
    *v = kiln_infer_in(c, i);
    if (!*v)
        return kiln_infer_fail(c, "input %u is required", i);
    if ((*v)->shape.rank < 0)
        return kiln_infer_fail(c, "input %u ('%s') has an unknown rank", i, (*v)->name);
    return KILN_OK;
}

/* ---- one node -------------------------------------------------------------- */

static const char *arity_text(uint16_t lo, uint16_t hi, char *buf, size_t size)
{
    if (hi == KILN_N)
        snprintf(buf, size, "%u or more", lo);
    else if (lo == hi)
        snprintf(buf, size, "%u", lo);
    else
        snprintf(buf, size, "%u to %u", lo, hi);
    return buf;
}

static kiln_status check_arity(kiln_infer *c)
{
    const kiln_op_info *info = &kiln_op_infos[c->n->op];
    char want[32];
    if (c->n->n_in < info->min_in || (info->max_in != KILN_N && c->n->n_in > info->max_in))
        return kiln_infer_fail(c, "has %u inputs, %s takes %s", c->n->n_in, info->name,
                               arity_text(info->min_in, info->max_in, want, sizeof want));
    if (c->n->n_out < info->min_out || (info->max_out != KILN_N && c->n->n_out > info->max_out))
        return kiln_infer_fail(c, "has %u outputs, %s gives %s", c->n->n_out, info->name,
                               arity_text(info->min_out, info->max_out, want, sizeof want));
    for (uint32_t i = 0; i < c->n->n_in; i++) {
        kiln_value *v = kiln_infer_in(c, i);
        if (!v && i < info->min_in)
            return kiln_infer_fail(c, "input %u is required", i);
        if (v && v->dtype == KILN_DT_UNDEF)
            return kiln_infer_fail(c, "input %u ('%s') has no known type", i, v->name);
    }
    return KILN_OK;
}

/* A type the value had before (declared in the model) must agree with
 * the inferred one wherever both are concrete. */
static kiln_status check_declared(kiln_infer *c, uint32_t out, kiln_dtype dt, const kiln_shape *s)
{
    kiln_value *v = &c->values[kiln_node_output(c->g, c->n, out)];
    char sa[256], sb[256];
    if (dt != KILN_DT_UNDEF && v->dtype != dt)
        return kiln_infer_fail(c, "output %u ('%s') is declared %s but computes %s", out, v->name,
                               kiln_dtype_name(dt), kiln_dtype_name(v->dtype));
    if (s->rank < 0)
        return KILN_OK;
    bool conflict = v->shape.rank != s->rank;
    for (int i = 0; !conflict && i < s->rank; i++)
        conflict = !KILN_DIM_IS_SYM(s->dim[i]) && !KILN_DIM_IS_SYM(v->shape.dim[i]) &&
                   s->dim[i] != v->shape.dim[i];
    if (conflict)
        return kiln_infer_fail(c, "output %u ('%s') is declared with shape %s but computes %s",
                               out, v->name, kiln_shape_format(c->g, s, sa, sizeof sa),
                               kiln_shape_format(c->g, &v->shape, sb, sizeof sb));
    return KILN_OK;
}

kiln_status kiln_infer_node(kiln_ctx *ctx, kiln_graph *g, kiln_value *values, uint32_t node)
{
    kiln_infer c = {.ctx = ctx, .g = g, .id = node, .n = &g->nodes[node], .values = values};
    kiln_infer_fn fn = kiln_infer_lookup(c.n->op);
    if (!fn)
        return kiln_infer_unsupported(&c, "kiln has no shape inference for %s", kiln_op_name(c.n->op));
    kiln_status st = check_arity(&c);
    if (st)
        return st;

    kiln_dtype decl_dt[16];
    kiln_shape decl_shape[16];
    uint32_t n_decl = c.n->n_out < 16 ? c.n->n_out : 16;
    for (uint32_t i = 0; i < n_decl; i++) {
        uint32_t v = kiln_node_output(g, c.n, i);
        decl_dt[i] = v ? values[v].dtype : KILN_DT_UNDEF;
        decl_shape[i] = v ? values[v].shape : kiln_shape_unknown();
    }
    st = fn(&c);
    for (uint32_t i = 0; st == KILN_OK && i < n_decl; i++)
        if (kiln_node_output(g, c.n, i))
            st = check_declared(&c, i, decl_dt[i], &decl_shape[i]);
    return st;
}

/* ---- the whole graph ------------------------------------------------------- */

bool kiln_fold_ready(const kiln_graph *g, const kiln_value *values, uint32_t id, int64_t max_elems)
{
    const kiln_node *n = &g->nodes[id];
    if (!kiln_interp_can_run(n->op))
        return false;
    for (uint32_t i = 0; i < n->n_in; i++) {
        uint32_t v = g->operands[n->in + i];
        if (v && !values[v].data)
            return false;
    }
    for (uint32_t i = 0; i < n->n_out; i++) {
        uint32_t v = g->operands[n->out + i];
        int64_t numel;
        if (v && (!kiln_shape_numel(&values[v].shape, &numel) || numel > max_elems))
            return false;
    }
    return true;
}

/* Bytes of the node's outputs (all static: kiln_fold_ready said so). */
static int64_t outputs_bytes(const kiln_graph *g, const kiln_node *n)
{
    int64_t total = 0, numel, b;
    for (uint32_t i = 0; i < n->n_out; i++) {
        const kiln_value *v = kiln_out(g, n, i);
        if (v && kiln_shape_numel(&v->shape, &numel) && kiln_mul_size(numel, (int64_t)kiln_dtype_size(v->dtype), &b))
            total += b;
    }
    return total;
}

kiln_status kiln_graph_infer(kiln_ctx *ctx, kiln_graph *g)
{
    int64_t folded = 0; /* each node's outputs are small, but a graph may have a million */
    for (uint32_t node = 1; node < g->n_nodes; node++) {
        const kiln_node *n = &g->nodes[node];
        for (uint32_t i = 0; i < n->n_out; i++) {
            kiln_value *v = kiln_out(g, n, i);
            if (v) {
                v->data = NULL;  /* computed by an earlier run: recompute */
                v->nbytes = 0;
                v->svals = NULL;
            }
        }
        kiln_status st = kiln_infer_node(ctx, g, g->values, node);
        if (st)
            return st;
        if (!kiln_fold_ready(g, g->values, node, KILN_INFER_FOLD_MAX_ELEMS)) {
            kiln_infer c = {.ctx = ctx, .g = g, .id = node, .n = &g->nodes[node], .values = g->values};
            kiln_infer_symbolic(&c);
            continue;
        }
        folded += outputs_bytes(g, &g->nodes[node]);
        if (folded > KILN_MAX_FOLD_BYTES)
            return kiln_node_error(ctx, g, node, KILN_ERR_INVALID,
                                   "shape inference would fold more than %lld bytes of constants in this "
                                   "graph, kiln's limit (README, 'Limits')", (long long)KILN_MAX_FOLD_BYTES);
        st = kiln_interp_eval_node(ctx, g, g->values, node, g->arena);
        if (st == KILN_ERR_UNSUPPORTED) {
            /* no kernel variant for these dtypes: the value stays unknown */
            for (uint32_t i = 0; i < n->n_out; i++) {
                kiln_value *v = kiln_out(g, &g->nodes[node], i);
                if (v)
                    v->data = NULL, v->nbytes = 0;
            }
            kiln_ctx_clear(ctx);
        } else if (st) {
            return st;
        }
    }
    return KILN_OK;
}
