/* onnx_load.c — kiln_onnx_load: an ONNX file becomes a kiln graph.
 *
 * Order of work (each step may fail with a message naming the file and,
 * where there is one, the node or value):
 *   1. read, pre-scan and unpack the file into an arena (onnx_read.c); the
 *      arena becomes the graph's owner, so constants borrow raw_data;
 *   2. opset imports ("ai.onnx" is stored as "", the same domain);
 *   3. initializers -> constants; graph inputs without one -> inputs;
 *   4. pass A: every node output gets a value (Constant nodes: constants),
 *      so that nodes may use names defined later in the list;
 *   5. graph outputs, then the declared types of outputs and value_info
 *      entries are set on their values (inference checks them later);
 *   6. pass B: nodes are looked up in the opset table and canonicalized;
 *   7. kiln_graph_toposort.
 * Names resolve through one hash map: ONNX is SSA, so a second definition
 * of a name is an error, as is a use of a name nothing defines.
 */
#include "frontend/onnx_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the name map ----------------------------------------------------------- */

static uint32_t hash_name(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

uint32_t onnx_names_find(const onnx_names *m, const char *name)
{
    if (!m->cap)
        return 0;
    for (uint32_t i = hash_name(name) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->keys[i])
            return 0;
        if (strcmp(m->keys[i], name) == 0)
            return m->vals[i];
    }
}

static void names_insert(onnx_names *m, const char *name, uint32_t value)
{
    uint32_t i = hash_name(name) & (m->cap - 1);
    while (m->keys[i] && strcmp(m->keys[i], name) != 0)
        i = (i + 1) & (m->cap - 1);
    m->n += !m->keys[i];
    m->keys[i] = name;
    m->vals[i] = value;
}

static void names_grow(onnx_names *m)
{
    onnx_names bigger = {.cap = m->cap ? m->cap * 2 : 64};
    bigger.keys = kiln_xcalloc(bigger.cap, sizeof *bigger.keys);
    bigger.vals = kiln_xcalloc(bigger.cap, sizeof *bigger.vals);
    for (uint32_t i = 0; i < m->cap; i++)
        if (m->keys[i])
            names_insert(&bigger, m->keys[i], m->vals[i]);
    onnx_names_free(m);
    *m = bigger;
}

void onnx_names_put(onnx_names *m, const char *name, uint32_t value)
{
    if ((m->n + 1) * 2 > m->cap)
        names_grow(m);
    names_insert(m, name, value);
}

void onnx_names_free(onnx_names *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

/* ---- types ---------------------------------------------------------------- */

static const char *const type_kinds[] = {
    [ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE] = "a sequence",
    [ONNX__TYPE_PROTO__VALUE_MAP_TYPE] = "a map",
    [ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE] = "an optional",
    [ONNX__TYPE_PROTO__VALUE_SPARSE_TENSOR_TYPE] = "a sparse tensor",
};

static kiln_status type_dim(onnx_import *imp, const Onnx__TensorShapeProto__Dimension *d,
                            const char *what, int i, kiln_dim *out)
{
    if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
        *out = d->dim_value;
        if (d->dim_value < 0)
            return kiln_error(imp->ctx, KILN_ERR_INVALID, "%s: %s: dimension %d is negative (%lld)",
                              imp->path, what, i, (long long)d->dim_value);
        return KILN_OK;
    }
    bool named = d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM &&
                 d->dim_param && d->dim_param[0];
    *out = KILN_DIM_SYM(kiln_graph_symbol(imp->g, named ? d->dim_param : NULL));
    return KILN_OK;
}

static kiln_status type_shape(onnx_import *imp, const Onnx__TensorShapeProto *sp,
                              const char *what, kiln_shape *shape)
{
    *shape = kiln_shape_unknown();
    if (!sp)
        return KILN_OK;
    if (sp->n_dim > KILN_MAX_RANK)
        return kiln_error(imp->ctx, KILN_ERR_UNSUPPORTED,
                          "%s: %s: rank %zu is above kiln's maximum of %d", imp->path, what,
                          sp->n_dim, KILN_MAX_RANK);
    shape->rank = (int32_t)sp->n_dim;
    for (size_t i = 0; i < sp->n_dim; i++) {
        kiln_status st = type_dim(imp, sp->dim[i], what, (int)i, &shape->dim[i]);
        if (st)
            return st;
    }
    return KILN_OK;
}

kiln_status onnx_type(onnx_import *imp, const Onnx__TypeProto *tp, const char *what,
                      kiln_dtype *dt, kiln_shape *shape)
{
    *dt = KILN_DT_UNDEF;
    *shape = kiln_shape_unknown();
    unsigned k = tp ? (unsigned)tp->value_case : 0;
    if (k == ONNX__TYPE_PROTO__VALUE__NOT_SET)
        return kiln_error(imp->ctx, KILN_ERR_INVALID, "%s: %s has no type", imp->path, what);
    if (k != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE) {
        const char *kind = k < sizeof type_kinds / sizeof type_kinds[0] && type_kinds[k]
                               ? type_kinds[k] : "an unknown";
        return kiln_error(imp->ctx, KILN_ERR_UNSUPPORTED,
                          "%s: %s has %s type, which is not supported (kiln handles tensors)",
                          imp->path, what, kind);
    }
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    int32_t code = tt && tt->has_elem_type ? tt->elem_type : 0;
    *dt = onnx_dtype_to_kiln(code);
    if (code && *dt == KILN_DT_UNDEF)
        return kiln_error(imp->ctx, KILN_ERR_UNSUPPORTED, "%s: %s: unsupported dtype %s (code %d)",
                          imp->path, what, onnx_dtype_name(code), (int)code);
    return type_shape(imp, tt ? tt->shape : NULL, what, shape);
}

/* ---- declared types --------------------------------------------------------- */

static bool shapes_agree(const kiln_shape *a, const kiln_shape *b)
{
    if (a->rank < 0 || b->rank < 0)
        return true;
    if (a->rank != b->rank)
        return false;
    for (int i = 0; i < a->rank; i++)
        if (!KILN_DIM_IS_SYM(a->dim[i]) && !KILN_DIM_IS_SYM(b->dim[i]) && a->dim[i] != b->dim[i])
            return false;
    return true;
}

/* A declared type meets what the value already has (a constant's, an
 * input's, or an earlier declaration): concrete parts must agree. */
static kiln_status declare(onnx_import *imp, uint32_t v, const Onnx__TypeProto *tp, const char *what)
{
    kiln_dtype dt;
    kiln_shape shape;
    char a[256], b[256];
    kiln_status st = onnx_type(imp, tp, what, &dt, &shape);
    if (st)
        return st;
    kiln_value *val = &imp->g->values[v];
    if (dt && val->dtype && dt != val->dtype)
        return kiln_error(imp->ctx, KILN_ERR_INVALID,
                          "%s: %s is declared %s, but the value is %s (graph input, initializer "
                          "or an earlier declaration)", imp->path,
                          what, kiln_dtype_name(dt), kiln_dtype_name(val->dtype));
    if (!shapes_agree(&shape, &val->shape))
        return kiln_error(imp->ctx, KILN_ERR_INVALID,
                          "%s: %s is declared with shape %s, but the value has %s (graph input, "
                          "initializer or an earlier declaration)",
                          imp->path, what, kiln_shape_format(imp->g, &shape, a, sizeof a),
                          kiln_shape_format(imp->g, &val->shape, b, sizeof b));
    if (!val->dtype)
        val->dtype = dt;
    if (val->shape.rank < 0)
        val->shape = shape;
    return KILN_OK;
}

/* An unsupported type on a graph input or output is reported only when
 * nothing else fails: the operator that needs it usually says more. */
static const Onnx__NodeProto *first_user(const onnx_import *imp, const char *name, size_t *index)
{
    const Onnx__GraphProto *gp = imp->model->graph;
    for (size_t i = 0; i < gp->n_node; i++)
        for (size_t k = 0; k < gp->node[i]->n_input; k++)
            if (gp->node[i]->input[k] && strcmp(gp->node[i]->input[k], name) == 0) {
                *index = i;
                return gp->node[i];
            }
    return NULL;
}

static kiln_status defer(onnx_import *imp, kiln_status st, const char *name)
{
    if (st != KILN_ERR_UNSUPPORTED)
        return st;
    if (!imp->deferred) {
        size_t index, n = strlen(kiln_ctx_message(imp->ctx)) + 600;
        const Onnx__NodeProto *user = first_user(imp, name, &index);
        imp->deferred = st;
        imp->deferred_msg = kiln_xrealloc(NULL, n);
        char who[300];
        if (user)
            snprintf(imp->deferred_msg, n, "%s (it feeds node %s (%.64s))", kiln_ctx_message(imp->ctx),
                     onnx_node_who(user, index, who, sizeof who), user->op_type ? user->op_type : "");
        else
            snprintf(imp->deferred_msg, n, "%s", kiln_ctx_message(imp->ctx));
    }
    kiln_ctx_clear(imp->ctx);
    return KILN_OK;
}

/* ---- the graph's parts --------------------------------------------------------- */

static kiln_status define(onnx_import *imp, const char *name, const char *what, uint32_t v)
{
    if (!name || !name[0])
        return kiln_error(imp->ctx, KILN_ERR_INVALID, "%s: %s has no name", imp->path, what);
    if (onnx_names_find(&imp->names, name))
        return kiln_error(imp->ctx, KILN_ERR_INVALID, "%s: %s: the name '%s' is defined twice",
                          imp->path, what, name);
    onnx_names_put(&imp->names, imp->g->values[v].name, v);
    return KILN_OK;
}

static kiln_status add_initializer(onnx_import *imp, const Onnx__TensorProto *t)
{
    char what[300], name[260];
    kiln_tensor k;
    snprintf(what, sizeof what, "initializer '%s'", kiln_escape(t->name ? t->name : "", name, sizeof name));
    kiln_status st = onnx_tensor_convert(&imp->tensors, t, what, &k);
    if (st)
        return st;
    uint32_t v = kiln_const_add(imp->g, t->name, k.dtype, &k.shape, k.data, k.nbytes, false);
    return define(imp, t->name, what, v);
}

static kiln_status add_input(onnx_import *imp, const Onnx__ValueInfoProto *vi)
{
    char what[300];
    const char *name = vi->name ? vi->name : "";
    snprintf(what, sizeof what, "graph input '%.256s'", name);
    uint32_t known = name[0] ? onnx_names_find(&imp->names, name) : 0;
    if (known && imp->g->values[known].kind == KILN_VAL_CONST)
        return declare(imp, known, vi->type, what); /* has an initializer: a constant */
    kiln_dtype dt;
    kiln_shape shape;
    kiln_status st = defer(imp, onnx_type(imp, vi->type, what, &dt, &shape), name);
    if (!st && !dt && !imp->deferred)
        st = kiln_error(imp->ctx, KILN_ERR_INVALID, "%s: %s has no element type", imp->path, what);
    return st ? st : define(imp, name, what, kiln_input_add(imp->g, name, dt, &shape));
}

static kiln_status add_output(onnx_import *imp, const Onnx__ValueInfoProto *vi)
{
    char what[300];
    const char *name = vi->name ? vi->name : "";
    snprintf(what, sizeof what, "graph output '%.256s'", name);
    uint32_t v = name[0] ? onnx_names_find(&imp->names, name) : 0;
    if (!v)
        return kiln_error(imp->ctx, KILN_ERR_INVALID,
                          "%s: %s is not produced by any node, initializer or graph input",
                          imp->path, what);
    kiln_output_add(imp->g, v);
    return vi->type ? defer(imp, declare(imp, v, vi->type, what), name) : KILN_OK;
}

static kiln_status add_value_info(onnx_import *imp, const Onnx__ValueInfoProto *vi)
{
    char what[300];
    const char *name = vi->name ? vi->name : "";
    uint32_t v = name[0] ? onnx_names_find(&imp->names, name) : 0;
    snprintf(what, sizeof what, "value_info '%.256s'", name);
    if (!v) {
        kiln_note(imp->ctx, "%s: %s names no value of the graph; ignored", imp->path, what);
        return KILN_OK;
    }
    return vi->type ? defer(imp, declare(imp, v, vi->type, what), name) : KILN_OK;
}

/* ---- opsets ------------------------------------------------------------------ */

static kiln_status add_opsets(onnx_import *imp)
{
    const Onnx__ModelProto *m = imp->model;
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = m->opset_import[i];
        const char *d = o->domain && strcmp(o->domain, "ai.onnx") ? o->domain : "";
        if (!o->has_version || o->version < 1)
            return kiln_error(imp->ctx, KILN_ERR_INVALID,
                              "%s: opset import for domain '%s' has no valid version", imp->path, d);
        kiln_graph_add_opset(imp->g, d, o->version);
    }
    if (!m->n_opset_import && m->has_ir_version && m->ir_version < 3)
        kiln_graph_add_opset(imp->g, "", 1); /* IR v1/v2 predate opset imports */
    int64_t v = kiln_graph_opset(imp->g, "");
    if (v > ONNX_NEWEST_KNOWN_OPSET)
        kiln_note(imp->ctx, "%s: the model imports opset %lld; kiln reads operators in their "
                  "opset-%d forms", imp->path, (long long)v, ONNX_NEWEST_KNOWN_OPSET);
    return KILN_OK;
}

/* ---- the whole model ------------------------------------------------------------ */

typedef kiln_status (*value_info_fn)(onnx_import *, const Onnx__ValueInfoProto *);

static kiln_status each_value_info(onnx_import *imp, Onnx__ValueInfoProto *const *list, size_t n,
                                   value_info_fn fn)
{
    kiln_status st = KILN_OK;
    for (size_t i = 0; i < n && !st; i++)
        st = fn(imp, list[i]);
    return st;
}

static kiln_status import_values(onnx_import *imp)
{
    const Onnx__GraphProto *gp = imp->model->graph;
    kiln_status st = KILN_OK;
    if (gp->n_sparse_initializer)
        return kiln_error(imp->ctx, KILN_ERR_UNSUPPORTED,
                          "%s: sparse initializer '%s' is not supported (sparse tensors)", imp->path,
                          gp->sparse_initializer[0]->values && gp->sparse_initializer[0]->values->name
                              ? gp->sparse_initializer[0]->values->name : "");
    for (size_t i = 0; i < gp->n_initializer && !st; i++)
        st = add_initializer(imp, gp->initializer[i]);
    return st ? st : each_value_info(imp, gp->input, gp->n_input, add_input);
}

static kiln_status import_graph(onnx_import *imp)
{
    const Onnx__GraphProto *gp = imp->model->graph;
    if (!gp)
        return kiln_error(imp->ctx, KILN_ERR_INVALID, "%s: the model has no graph", imp->path);
    kiln_status st = add_opsets(imp); /* counts were bounded by onnx_prescan */
    if (!st)
        st = onnx_nodes_check(imp);
    if (!st)
        st = import_values(imp);
    if (!st)
        st = onnx_nodes_declare(imp);
    if (!st)
        st = each_value_info(imp, gp->output, gp->n_output, add_output);
    if (!st)
        st = each_value_info(imp, gp->value_info, gp->n_value_info, add_value_info);
    if (!st)
        st = onnx_nodes_build(imp);
    if (!st && imp->deferred)
        st = kiln_error(imp->ctx, imp->deferred, "%s", imp->deferred_msg);
    return st ? st : kiln_graph_toposort(imp->ctx, imp->g);
}

static kiln_status unpack_model(kiln_ctx *ctx, const char *path, kiln_arena *arena,
                                Onnx__ModelProto **model, onnx_file_id *id)
{
    uint8_t *buf;
    size_t len;
    kiln_status st = onnx_read_file(ctx, path, &buf, &len, id);
    if (st)
        return st;
    st = onnx_prescan(ctx, path, &onnx__model_proto__descriptor, buf, len);
    ProtobufCAllocator alloc = onnx_arena_allocator(arena);
    *model = st ? NULL : onnx__model_proto__unpack(&alloc, len, buf);
    free(buf);
    if (!st && !*model)
        st = kiln_error(ctx, KILN_ERR_INVALID,
                        "%s: not a valid ONNX model (protobuf-c could not decode it)", path);
    return st;
}

static void owner_free(void *arena)
{
    kiln_arena_destroy(arena);
}

kiln_status kiln_onnx_load(kiln_ctx *ctx, const char *path, kiln_graph **out)
{
    *out = NULL;
    kiln_arena *arena = kiln_arena_create();
    Onnx__ModelProto *m;
    onnx_file_id id;
    kiln_status st = unpack_model(ctx, path, arena, &m, &id);
    if (st) {
        kiln_arena_destroy(arena);
        return st;
    }
    const char *gname = m->graph && m->graph->name && m->graph->name[0] ? m->graph->name : "main";
    kiln_graph *g = kiln_graph_create(gname, path);
    kiln_graph_set_owner(g, arena, owner_free);
    char *dir = onnx_dir_of(path);
    onnx_import imp = {.ctx = ctx, .g = g, .path = g->source, .model = m,
                       .tensors = {.ctx = ctx, .path = g->source, .dir = dir, .arena = g->arena,
                                   .borrow = true, .model = id},
                       .scratch = kiln_arena_create()};
    st = import_graph(&imp);
    onnx_names_free(&imp.names);
    free(imp.deferred_msg);
    kiln_arena_destroy(imp.scratch);
    free(dir);
    if (st)
        kiln_graph_destroy(g);
    else
        *out = g;
    return st;
}
