/* token_common.c — what the token-reduction passes share
 * (passes/token_common.h): the plan and the checks every pass starts
 * with, the re-layout after a token count changed, names, the sizes chain
 * and the MAC census.
 *
 * The re-layout is written once, here, for all four passes: a pass only
 * inserts its nodes with the counts of the plan; every node downstream
 * is then re-inferred in order, and the few attributes that spell a token
 * count (kiln.Attention's layouts and sizes, kiln.TokenMerge's k_layout,
 * a Reshape's constant shape) are rewritten first from the node's inputs'
 * old and new shapes. A layout number (an offset or a stride into a
 * contiguous tensor whose token axis went from n_old to n_new) is read in
 * mixed radix, x = hi·(n_old·inner) + mid·inner + lo with lo < inner and
 * mid < n_old, and becomes hi·(n_new·inner) + mid·inner + lo: the batch
 * stride of a packed qkv [B, N, 3C] goes from N·3C to N'·3C, the head and
 * token strides and the q/k/v offsets stay.
 */
#include "passes/token_common.h"
#include "ir/edit.h"
#include "ir/infer.h"
#include "ir/interp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- names ------------------------------------------------------------------ */

const char *kiln_token_name(kiln_graph *g, const char *pass, uint32_t block, const char *what)
{
    char buf[160];
    snprintf(buf, sizeof buf, "%s.b%u%s%s", pass, block, what && what[0] ? "." : "", what ? what : "");
    return kiln_graph_intern(g, buf);
}

uint32_t kiln_token_value(kiln_graph *g, const char *pass, uint32_t block, const char *what)
{
    return kiln_value_add(g, kiln_token_name(g, pass, block, what));
}

uint32_t kiln_token_ints(kiln_graph *g, const char *pass, uint32_t block, const char *what,
                         const int64_t *v, uint32_t n)
{
    kiln_shape s = kiln_shape_make(1, (int64_t[]){n});
    return kiln_const_add(g, kiln_token_name(g, pass, block, what), KILN_DT_I64, &s, v, n * sizeof *v, true);
}

void kiln_token_replace_uses(kiln_graph *g, uint32_t from, uint32_t to, uint32_t except)
{
    for (uint32_t id = 1; id < g->n_nodes; id++) {
        if (id == except || kiln_node_is_removed(g, id))
            continue;
        const kiln_node *n = &g->nodes[id];
        for (uint32_t i = 0; i < n->n_in; i++)
            if (kiln_node_input(g, n, i) == from)
                kiln_node_set_input(g, id, i, to);
    }
    for (uint32_t k = 0; k < g->n_outputs; k++)
        if (g->outputs[k] == from)
            g->outputs[k] = to;
}

/* The constant sizes after the pooling that follows block l: the window
 * sums of the (constant) sizes entering it. Pooling comes before any
 * pruning or merging (the plan refused the rest), so the sizes entering a
 * pooling are all ones or an earlier pooling's: constants, computed here
 * when first asked for (the pooling pass does not make them: nothing would
 * read them until a later pass). */
static uint32_t pool_sizes(kiln_graph *g, const kiln_token_ctx *t, uint32_t l)
{
    const char *name = kiln_token_name(g, "token-pool", l, "sizes");
    uint32_t v = kiln_graph_find_value(g, name);
    if (v)
        return v;
    const kiln_token_block *pb = &t->plan.block[l];
    uint32_t in = kiln_token_sizes_before(g, t, l);
    int64_t B = t->site[0].batch, G = pb->grid, Go = (G + 1) / 2, n_in = pb->n_mlp, n_out = 1 + Go * Go;
    const float *src = in ? g->values[in].data : NULL;
    KILN_ASSERT(!in || (src && g->values[in].shape.dim[1] == n_in));
    float *w = kiln_xcalloc((size_t)(B * n_out), sizeof *w);
    for (int64_t b = 0; b < B; b++) {
        const float *s = src ? src + b * n_in : NULL;
        float *row = w + b * n_out;
        row[0] = s ? s[0] : 1;
        for (int64_t i = 0; i < Go; i++)
            for (int64_t j = 0; j < Go; j++)
                for (int64_t di = 0; di < 2; di++)
                    for (int64_t dj = 0; dj < 2; dj++)
                        if (2 * i + di < G && 2 * j + dj < G)
                            row[1 + i * Go + j] += s ? s[1 + (2 * i + di) * G + 2 * j + dj] : 1;
    }
    kiln_shape shape = kiln_shape_make(2, (int64_t[]){B, n_out});
    v = kiln_const_add(g, name, KILN_DT_F32, &shape, w, (size_t)(B * n_out) * sizeof *w, true);
    free(w);
    return v;
}

uint32_t kiln_token_sizes_before(kiln_graph *g, const kiln_token_ctx *t, uint32_t block)
{
    static const char *const producers[] = {"token-merge", "token-prune"};
    char name[160];
    if (!t->plan.track_sizes)
        return 0;
    for (uint32_t l = block; l-- > 0;) {
        for (size_t p = 0; p < sizeof producers / sizeof producers[0]; p++) {
            snprintf(name, sizeof name, "%s.b%u.sizes", producers[p], l);
            uint32_t v = kiln_graph_find_value(g, name);
            if (v)
                return v;
        }
        if (t->plan.block[l].pool != KILN_TOKEN_POOL_NONE)
            return pool_sizes(g, t, l);
    }
    return 0;
}

/* ---- the probabilities output --------------------------------------------------- */

/* Copy node `from`'s attributes onto node `to`. */
static void copy_attrs(kiln_graph *g, uint32_t from, uint32_t to)
{
    uint32_t first = g->nodes[from].attr, n = g->nodes[from].n_attr;
    for (uint32_t k = 0; k < n; k++) {
        kiln_attr a = g->attrs[first + k]; /* by value: setting may move g->attrs */
        switch (a.kind) {
        case KILN_ATTR_INT: kiln_attr_set_int(g, to, a.name, a.u.i); break;
        case KILN_ATTR_FLOAT: kiln_attr_set_float(g, to, a.name, a.u.f); break;
        case KILN_ATTR_STRING: kiln_attr_set_string(g, to, a.name, a.u.s); break;
        case KILN_ATTR_INTS: kiln_attr_set_ints(g, to, a.name, a.u.ints, a.n); break;
        case KILN_ATTR_FLOATS: kiln_attr_set_floats(g, to, a.name, a.u.floats, a.n); break;
        case KILN_ATTR_STRINGS: kiln_attr_set_strings(g, to, a.name, a.u.strings, a.n); break;
        case KILN_ATTR_TENSOR: kiln_attr_set_tensor(g, to, a.name, a.u.tensor); break;
        default: KILN_UNREACHABLE();
        }
    }
}

uint32_t kiln_token_probs(kiln_graph *g, uint32_t *node)
{
    const kiln_node *n = &g->nodes[*node];
    uint32_t p_in = kiln_node_input(g, n, 4);
    if (p_in)
        return p_in;
    if (kiln_node_output(g, n, 1))
        return kiln_node_output(g, n, 1);
    uint32_t ins[8], n_in = n->n_in, y = kiln_node_output(g, n, 0);
    KILN_ASSERT(n_in <= 8);
    for (uint32_t i = 0; i < n_in; i++)
        ins[i] = kiln_node_input(g, n, i);
    char pname[300];
    snprintf(pname, sizeof pname, "%s.probs", g->values[y].name[0] ? g->values[y].name : n->name);
    uint32_t p = kiln_value_add(g, pname);
    const char *name = n->name;
    /* the same attention with a second output: the old node goes, its Y
     * value moves to the new one (appended; kiln_token_finish sorts) */
    uint32_t old = *node;
    uint32_t fresh = kiln_node_add(g, KILN_OP_ATTENTION, name, ins, n_in, (uint32_t[]){y, p}, 2);
    copy_attrs(g, old, fresh);
    kiln_node_remove(g, old);
    g->values[y].kind = KILN_VAL_NODE;
    g->values[y].producer = fresh;
    *node = fresh;
    return p;
}

/* ---- the plan and the model checks ------------------------------------------------- */

/* The first option given, to name in a message about all of them. */
static const char *first_option(const kiln_token_options *o)
{
    return o->prune   ? "--token-prune"
           : o->pool  ? "--token-pool"
           : o->merge ? "--token-merge"
           : o->share ? "--attention-share"
                      : "--no-proportional-attention";
}

/* v is computed from constants only (a Shape counts as constant: shapes
 * are static here). */
static bool from_constants(const kiln_graph *g, uint32_t v, int depth)
{
    const kiln_value *val = &g->values[v];
    if (val->kind == KILN_VAL_CONST || val->data)
        return true;
    if (val->kind != KILN_VAL_NODE || depth > 16)
        return false;
    const kiln_node *n = &g->nodes[val->producer];
    if (n->op == KILN_OP_SHAPE)
        return true;
    for (uint32_t i = 0; i < n->n_in; i++) {
        uint32_t in = kiln_node_input(g, n, i);
        if (in && !from_constants(g, in, depth + 1))
            return false;
    }
    return true;
}

/* The tokens entering block 0 are Concat(class token, patches) on the
 * token axis, where the class token is one token made of constants, maybe
 * plus a position embedding (an Add of a constant). */
static bool has_class_token(const kiln_graph *g, uint32_t x)
{
    for (int hops = 0; hops < 4; hops++) {
        const kiln_value *v = &g->values[x];
        if (v->kind != KILN_VAL_NODE)
            return false;
        const kiln_node *n = &g->nodes[v->producer];
        if (n->op == KILN_OP_ADD && n->n_in == 2) {
            uint32_t a = kiln_node_input(g, n, 0), b = kiln_node_input(g, n, 1);
            if (from_constants(g, b, 0))
                x = a;
            else if (from_constants(g, a, 0))
                x = b;
            else
                return false;
            continue;
        }
        if (n->op != KILN_OP_CONCAT || n->n_in < 2)
            return false;
        int64_t axis = kiln_attr_int(g, n, "axis", 0);
        if (axis < 0)
            axis += v->shape.rank;
        const kiln_value *c = kiln_in(g, n, 0);
        return axis == 1 && c->shape.rank == 3 && c->shape.dim[1] == 1 &&
               from_constants(g, kiln_node_input(g, n, 0), 0);
    }
    return false;
}

static kiln_status refuse(kiln_ctx *ctx, const kiln_graph *g, const char *fmt, ...) KILN_PRINTF(3, 4);
static kiln_status refuse(kiln_ctx *ctx, const kiln_graph *g, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return kiln_error(ctx, KILN_ERR_INVALID, "%s: %s", g->source && g->source[0] ? g->source : "<graph>", msg);
}

/* The plan's message, prefixed with the model's file. */
static kiln_status plan_failed(kiln_ctx *ctx, const kiln_graph *g)
{
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", kiln_ctx_message(ctx));
    return refuse(ctx, g, "%s", msg);
}

static kiln_status check_block(kiln_ctx *ctx, const kiln_graph *g, uint32_t l, kiln_token_site *s)
{
    const kiln_block *b = &s->b;
    if (!b->r1 || !b->r2 || b->post_norm)
        return refuse(ctx, g,
                      "token reduction: block %u is not a pre-norm transformer block (x = x + "
                      "attention(LN(x)); x = x + MLP(LN(x))): %s",
                      l, !b->r1 ? "no attention residual add" : b->post_norm ? "it is post-norm" : "no MLP residual add");
    const kiln_shape *xs = &g->values[b->x].shape;
    if (xs->rank != 3 || !kiln_shape_is_static(xs))
        return refuse(ctx, g, "token reduction: block %u: the tokens entering it are not one static [B, N, D] "
                      "tensor%s", l, xs->rank == 3 ? " (its shape is symbolic: bind the inputs with --shape)" : "");
    s->x = b->x;
    s->r1 = b->r1;
    s->r2 = b->r2;
    s->batch = xs->dim[0];
    s->tokens = xs->dim[1];
    s->dim = xs->dim[2];
    if (b->q_tokens != s->tokens || b->kv_tokens != s->tokens || b->batch != s->batch)
        return refuse(ctx, g,
                      "token reduction: block %u: %lld tokens enter the block but its attention has %lld "
                      "queries and %lld keys (batch %lld): the token count does not match",
                      l, (long long)s->tokens, (long long)b->q_tokens, (long long)b->kv_tokens,
                      (long long)b->batch);
    return KILN_OK;
}

kiln_status kiln_token_begin(kiln_pass_ctx *pc, kiln_graph *g, kiln_token_ctx *t, bool *active)
{
    const kiln_token_options *o = pc->opts->tokens;
    memset(t, 0, sizeof *t);
    t->pass = pc->pass ? pc->pass : "token";
    *active = false;
    if (!kiln_token_options_any(o))
        return KILN_OK;
    t->n_blocks = kiln_blocks_find(g, NULL, 0);
    if (t->n_blocks == 0)
        return refuse(pc->ctx, g,
                      "%s: the model has no transformer blocks (fuse-attention found no attention to "
                      "reduce the tokens of)",
                      first_option(o));
    if (t->n_blocks > KILN_TOKEN_MAX_BLOCKS)
        return refuse(pc->ctx, g, "token reduction: the model has %u blocks, kiln handles at most %d", t->n_blocks,
                      KILN_TOKEN_MAX_BLOCKS);
    if (kiln_token_plan_parse(pc->ctx, o, t->n_blocks, &t->plan) != KILN_OK)
        return plan_failed(pc->ctx, g);
    kiln_block *blocks = kiln_xcalloc(t->n_blocks, sizeof *blocks);
    kiln_blocks_find(g, blocks, t->n_blocks);
    t->site = kiln_xcalloc(t->n_blocks, sizeof *t->site);
    kiln_status st = KILN_OK;
    for (uint32_t l = 0; l < t->n_blocks && !st; l++) {
        t->site[l].b = blocks[l];
        st = check_block(pc->ctx, g, l, &t->site[l]);
    }
    free(blocks);
    if (st)
        return st;
    if (!has_class_token(g, t->site[0].x))
        return refuse(pc->ctx, g,
                      "token reduction: block 0: no class token (the tokens entering it must be "
                      "Concat(class token, patch tokens) on the token axis, the class token made of "
                      "constants, maybe plus a position embedding)");
    if (kiln_token_plan_resolve(pc->ctx, &t->plan, t->site[0].tokens) != KILN_OK)
        return plan_failed(pc->ctx, g);
    t->n_old = g->n_values;
    t->old_shape = kiln_xcalloc(g->n_values, sizeof *t->old_shape);
    for (uint32_t v = 0; v < g->n_values; v++)
        t->old_shape[v] = g->values[v].shape;
    *active = true;
    return KILN_OK;
}

kiln_status kiln_token_finish(kiln_pass_ctx *pc, kiln_graph *g, kiln_token_ctx *t)
{
    kiln_status st = kiln_graph_toposort(pc->ctx, g);
    if (!st)
        st = kiln_token_relayout(pc->ctx, g, t->old_shape, t->n_old);
    return st;
}

void kiln_token_end(kiln_token_ctx *t)
{
    kiln_token_plan_free(&t->plan);
    free(t->site);
    free(t->old_shape);
    memset(t, 0, sizeof *t);
}

/* ---- re-layout --------------------------------------------------------------------- */

/* How one tensor's token axis changed. */
typedef struct token_axis {
    int axis;                 /* -1: unchanged */
    int64_t n_old, n_new, inner;
} token_axis;

/* The axis along which v's shape changed since the snapshot; false when
 * it changed in another way (rank, or several axes). */
static bool changed_axis(const kiln_graph *g, const kiln_shape *old, uint32_t n_old, uint32_t v, token_axis *out)
{
    *out = (token_axis){.axis = -1};
    if (!v || v >= n_old || old[v].rank < 0)
        return true;
    const kiln_shape *o = &old[v], *n = &g->values[v].shape;
    if (o->rank != n->rank)
        return false;
    for (int k = 0; k < o->rank; k++) {
        if (o->dim[k] == n->dim[k])
            continue;
        if (out->axis >= 0 || KILN_DIM_IS_SYM(o->dim[k]) || KILN_DIM_IS_SYM(n->dim[k]))
            return false;
        out->axis = k;
        out->n_old = o->dim[k];
        out->n_new = n->dim[k];
    }
    out->inner = 1;
    for (int k = out->axis + 1; out->axis >= 0 && k < o->rank; k++)
        out->inner *= o->dim[k];
    return true;
}

/* x in mixed radix (hi, mid < n_old, lo < inner) with n_old -> n_new. */
static bool remap(int64_t x, const token_axis *a, int64_t *out)
{
    if (a->axis < 0) {
        *out = x;
        return true;
    }
    int64_t block = a->n_old * a->inner;
    if (x < 0 || block <= 0)
        return false;
    int64_t hi = x / block, rem = x % block, mid = rem / a->inner, lo = rem % a->inner;
    if (mid >= a->n_new)
        return false;
    *out = hi * a->n_new * a->inner + mid * a->inner + lo;
    return true;
}

static kiln_status cannot(kiln_ctx *ctx, const kiln_graph *g, uint32_t node, const char *fmt, ...)
    KILN_PRINTF(4, 5);
static kiln_status cannot(kiln_ctx *ctx, const kiln_graph *g, uint32_t node, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return kiln_node_error(ctx, g, node, KILN_ERR_UNSUPPORTED,
                           "token reduction changed the token count this node sees, and %s", msg);
}

/* Rewrite the 4-int layout attribute `name` for input `slot`'s change. */
static kiln_status fix_layout(kiln_ctx *ctx, kiln_graph *g, uint32_t node, const char *name, const token_axis *a)
{
    uint32_t n = 0;
    const int64_t *l = kiln_attr_ints(g, &g->nodes[node], name, &n);
    int64_t out[4];
    if (a->axis < 0 || !l || n != 4)
        return KILN_OK;
    for (int k = 0; k < 4; k++)
        if (!remap(l[k], a, &out[k]))
            return cannot(ctx, g, node, "its %s does not read a contiguous tensor along the tokens", name);
    kiln_attr_set_ints(g, node, name, out, 4);
    return KILN_OK;
}

static kiln_status fix_attention(kiln_ctx *ctx, kiln_graph *g, uint32_t node, const kiln_shape *old, uint32_t n_old)
{
    static const char *const layouts[3] = {"q_layout", "k_layout", "v_layout"};
    const kiln_node *n = &g->nodes[node];
    int64_t q_old = kiln_attr_int(g, n, "q_tokens", 0), kv_old = kiln_attr_int(g, n, "kv_tokens", 0);
    int64_t q_new = q_old, kv_new = kv_old;
    uint32_t p_in = kiln_node_input(g, n, 4);
    token_axis ax[3];
    for (uint32_t i = 0; i < 3; i++) {
        if (!changed_axis(g, old, n_old, kiln_node_input(g, n, i), &ax[i]))
            return cannot(ctx, g, node, "its input %u changed shape in more than the token axis", i);
        int64_t want = i == 0 ? q_old : kv_old;
        if (ax[i].axis >= 0 && ax[i].n_old != want)
            return cannot(ctx, g, node, "input %u's changed axis (%lld) is not its %lld tokens", i,
                          (long long)ax[i].n_old, (long long)want);
        if (ax[i].axis >= 0)
            *(i == 0 ? &q_new : &kv_new) = ax[i].n_new;
    }
    if (p_in) {
        const kiln_shape *ps = &g->values[p_in].shape;
        if (ps->rank == 4)
            q_new = ps->dim[2], kv_new = ps->dim[3];
    }
    if (q_new == q_old && kv_new == kv_old)
        return KILN_OK;
    for (int i = 0; i < 3; i++) {
        kiln_status st = fix_layout(ctx, g, node, layouts[i], &ax[i]);
        if (st)
            return st;
    }
    uint32_t bias = kiln_node_input(g, n, 3);
    token_axis bx;
    if (bias && changed_axis(g, old, n_old, bias, &bx) && bx.axis < 0) {
        const kiln_shape *bs = &g->values[bias].shape;
        if (bs->rank == 4 && ((bs->dim[2] == q_old && q_old > 1) || (bs->dim[3] == kv_old && kv_old > 1)))
            return cannot(ctx, g, node, "its attention bias %s covers the old %lld tokens",
                          kiln_shape_format(g, bs, (char[64]){0}, 64), (long long)kv_old);
    }
    /* Y: the y_shape axis of the queries is the one whose contiguous
     * stride is y_layout's token stride */
    uint32_t ny = 0, nl = 0;
    const int64_t *ys = kiln_attr_ints(g, n, "y_shape", &ny), *yl = kiln_attr_ints(g, n, "y_layout", &nl);
    if (q_new != q_old && ys && yl && nl == 3) {
        int64_t stride = 1, dims[KILN_MAX_RANK], lay[3];
        int axis = -1;
        for (int k = (int)ny; k-- > 0;) {
            if (axis < 0 && ys[k] == q_old && stride == yl[2])
                axis = k;
            stride *= ys[k];
        }
        if (axis < 0 || ny > KILN_MAX_RANK)
            return cannot(ctx, g, node, "its y_shape has no axis of %lld queries", (long long)q_old);
        token_axis ya = {.axis = axis, .n_old = q_old, .n_new = q_new, .inner = 1};
        for (uint32_t k = (uint32_t)axis + 1; k < ny; k++)
            ya.inner *= ys[k];
        for (int k = 0; k < 3; k++)
            if (!remap(yl[k], &ya, &lay[k]))
                return cannot(ctx, g, node, "its y_layout does not write a contiguous tensor along the tokens");
        memcpy(dims, ys, ny * sizeof *dims);
        dims[axis] = q_new;
        kiln_attr_set_ints(g, node, "y_layout", lay, 3);
        kiln_attr_set_ints(g, node, "y_shape", dims, ny);
    }
    kiln_attr_set_int(g, node, "q_tokens", q_new);
    kiln_attr_set_int(g, node, "kv_tokens", kv_new);
    return KILN_OK;
}

static kiln_status fix_token_merge(kiln_ctx *ctx, kiln_graph *g, uint32_t node, const kiln_shape *old, uint32_t n_old)
{
    token_axis a;
    if (!changed_axis(g, old, n_old, kiln_node_input(g, &g->nodes[node], 1), &a))
        return cannot(ctx, g, node, "its keys changed shape in more than the token axis");
    return fix_layout(ctx, g, node, "k_layout", &a);
}

/* A Reshape whose constant shape names the old count once: a new constant
 * with the new count (the old one may be shared). */
static kiln_status fix_reshape(kiln_ctx *ctx, kiln_graph *g, uint32_t node, const kiln_shape *old, uint32_t n_old)
{
    const kiln_node *n = &g->nodes[node];
    token_axis a;
    if (!changed_axis(g, old, n_old, kiln_node_input(g, n, 0), &a))
        return cannot(ctx, g, node, "its input changed shape in more than the token axis");
    const kiln_value *s = kiln_in(g, n, 1);
    if (a.axis < 0 || !s || !s->data || s->dtype != KILN_DT_I64 || s->shape.rank != 1)
        return KILN_OK;
    int64_t dims[KILN_MAX_RANK];
    int64_t count = s->shape.dim[0];
    if (count > KILN_MAX_RANK)
        return KILN_OK;
    memcpy(dims, s->data, (size_t)count * sizeof *dims);
    int hits = 0, at = -1;
    for (int k = 0; k < count; k++)
        if (dims[k] == a.n_old)
            hits++, at = k;
    if (hits == 0)
        return KILN_OK; /* -1 or 0 follow the input; inference says if not */
    if (hits > 1)
        return cannot(ctx, g, node, "its shape names %lld more than once", (long long)a.n_old);
    dims[at] = a.n_new;
    kiln_shape cs = kiln_shape_make(1, (int64_t[]){count});
    char name[300];
    snprintf(name, sizeof name, "%s.tokens%lld", s->name[0] ? s->name : "shape", (long long)a.n_new);
    uint32_t c = kiln_const_add(g, name, KILN_DT_I64, &cs, dims, (size_t)count * sizeof *dims, true);
    kiln_node_set_input(g, node, 1, c);
    return KILN_OK;
}

typedef kiln_status (*fix_fn)(kiln_ctx *ctx, kiln_graph *g, uint32_t node, const kiln_shape *old, uint32_t n_old);

static fix_fn fix_for(kiln_op op)
{
    switch (op) {
    case KILN_OP_ATTENTION: return fix_attention;
    case KILN_OP_RESHAPE: return fix_reshape;
    case KILN_OP_TOKEN_MERGE: return fix_token_merge;
    default: return NULL;
    }
}

kiln_status kiln_token_relayout(kiln_ctx *ctx, kiln_graph *g, const kiln_shape *old, uint32_t n_old)
{
    for (uint32_t node = 1; node < g->n_nodes; node++) {
        if (kiln_node_is_removed(g, node))
            continue;
        fix_fn fix = fix_for(g->nodes[node].op);
        kiln_status st = fix ? fix(ctx, g, node, old, n_old) : KILN_OK;
        if (st)
            return st;
        const kiln_node *n = &g->nodes[node];
        for (uint32_t i = 0; i < n->n_out; i++) {
            kiln_value *v = kiln_out(g, n, i);
            if (v) {
                v->data = NULL;
                v->nbytes = 0;
                v->svals = NULL;
                v->shape = kiln_shape_unknown();
            }
        }
        st = kiln_infer_node(ctx, g, g->values, node);
        if (st)
            return st;
        if (kiln_fold_ready(g, g->values, node, KILN_INFER_FOLD_MAX_ELEMS)) {
            st = kiln_interp_eval_node(ctx, g, g->values, node, g->arena);
            if (st == KILN_ERR_UNSUPPORTED)
                kiln_ctx_clear(ctx);
            else if (st)
                return st;
        } else {
            kiln_infer c = {.ctx = ctx, .g = g, .id = node, .n = &g->nodes[node], .values = g->values};
            kiln_infer_symbolic(&c);
        }
    }
    return KILN_OK;
}

/* ---- MAC census ----------------------------------------------------------------------- */

static double numel_or_0(const kiln_shape *s)
{
    int64_t n;
    return s && kiln_shape_numel(s, &n) ? (double)n : 0;
}

static double node_macs(const kiln_graph *g, const kiln_node *n)
{
    const kiln_value *a = kiln_in(g, n, 0), *w = kiln_in(g, n, 1), *y = kiln_out(g, n, 0);
    double out = y ? numel_or_0(&y->shape) : 0;
    switch (n->op) {
    case KILN_OP_MATMUL:
    case KILN_OP_FUSEDMATMUL: /* fuse-epilogue's: the same product, its epilogue is not a MAC */
        return a && a->shape.rank >= 1 ? out * (double)a->shape.dim[a->shape.rank - 1] : 0;
    case KILN_OP_GEMM:
        return a && a->shape.rank == 2 ? out * (double)a->shape.dim[kiln_attr_int(g, n, "transA", 0) ? 0 : 1] : 0;
    case KILN_OP_CONV:
    case KILN_OP_FUSEDCONV: /* fuse-epilogue's: the same convolution */
        return w && w->shape.rank >= 1 && w->shape.dim[0] > 0 ? out * numel_or_0(&w->shape) / (double)w->shape.dim[0]
                                                              : 0;
    case KILN_OP_ATTENTION: {
        int64_t b = kiln_attr_int(g, n, "batch", 1);   /* 0: read at run time, counted as 1 */
        double s = (double)(b > 0 ? b : 1) * (double)kiln_attr_int(g, n, "heads", 1) *
                   (double)kiln_attr_int(g, n, "q_tokens", 1) * (double)kiln_attr_int(g, n, "kv_tokens", 1) *
                   (double)kiln_attr_int(g, n, "head_dim", 1);
        return kiln_node_input(g, n, 4) ? s : 2 * s; /* A v, and q kᵀ unless the map is shared */
    }
    default:
        break;
    }
    if (n->op == KILN_OP_TOKEN_MERGE && a && a->shape.rank == 3) {
        /* the metric product: ceil(N/2) x floor(N/2) x head_dim per image */
        int64_t Ni = a->shape.dim[1];
        return (double)a->shape.dim[0] * (double)((Ni + 1) / 2) * (double)(Ni / 2) *
               (double)kiln_attr_int(g, n, "head_dim", 1);
    }
    if (n->op == KILN_OP_TOKEN_PRUNE && a && y && a->shape.rank == 3 && y->shape.rank == 3) {
        /* EViT fusion: the weights times the dropped tokens, when a fused
         * token is appended (1 + keep + 1 outputs) */
        int64_t keep = kiln_attr_int(g, n, "keep", 0), N = a->shape.dim[1];
        if (y->shape.dim[1] == keep + 2)
            return (double)a->shape.dim[0] * (double)(N - 1 - keep) * (double)a->shape.dim[2];
    }
    return 0;
}

/* live[id]: node id contributes to a graph output (fuse-attention leaves
 * the unfused nodes for dce: they must not count). Nodes are in order. */
static bool *live_nodes(const kiln_graph *g)
{
    bool *live = kiln_xcalloc(g->n_nodes, sizeof *live), *used = kiln_xcalloc(g->n_values, sizeof *used);
    for (uint32_t k = 0; k < g->n_outputs; k++)
        used[g->outputs[k]] = true;
    for (uint32_t id = g->n_nodes; id-- > 1;) {
        const kiln_node *n = &g->nodes[id];
        for (uint32_t o = 0; o < n->n_out && !live[id]; o++)
            live[id] = used[kiln_node_output(g, n, o)];
        for (uint32_t i = 0; live[id] && i < n->n_in; i++)
            used[kiln_node_input(g, n, i)] = true;
    }
    free(used);
    return live;
}

void kiln_token_census_take(const kiln_graph *g, kiln_token_census *out)
{
    memset(out, 0, sizeof *out);
    int64_t batch = 0;
    bool *live = live_nodes(g);
    for (uint32_t id = 1; id < g->n_nodes; id++) {
        const kiln_node *n = &g->nodes[id];
        if (kiln_node_is_removed(g, id) || !live[id])
            continue;
        out->macs += node_macs(g, n);
        if (n->op == KILN_OP_ATTENTION) {
            if (!batch)
                batch = kiln_attr_int(g, n, "batch", 1);
            if (out->n_blocks < KILN_TOKEN_MAX_BLOCKS)
                out->tokens[out->n_blocks] = kiln_attr_int(g, n, "q_tokens", 0);
            out->n_blocks++;
        }
    }
    free(live);
    if (!batch && g->n_inputs && g->values[g->inputs[0]].shape.rank > 0 &&
        !KILN_DIM_IS_SYM(g->values[g->inputs[0]].shape.dim[0]))
        batch = g->values[g->inputs[0]].shape.dim[0];
    if (batch > 1)
        out->macs /= (double)batch;
}
