/* onnx_node.c — ONNX nodes become kiln nodes.
 *
 * Pass A (onnx_nodes_declare) gives every node output a value, so a node
 * may use a name that a later node defines (kiln_graph_toposort orders
 * them afterwards); `Constant` nodes are not operators in kiln and become
 * constants right there. Pass B (onnx_nodes_build) finds each node's row
 * in the opset table, resolves its inputs and hands it to the row's
 * upgrade function, or emits it as is. This file also holds the small API
 * the upgrade functions build with (onnx_emit, onnx_const_*, ...).
 *
 * Absent optional outputs in the middle of a node's list get an anonymous
 * value (kiln_node_add wants every output slot filled); absent trailing
 * inputs and outputs are dropped.
 */
#include "frontend/onnx_internal.h"
#include "ir/limits.h"
#include "runtime/krt.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef Onnx__AttributeProto__AttributeType attr_type;

static const char *str(const char *s) { return s ? s : ""; }

/* ---- messages ------------------------------------------------------------ */

/* "'name'", or "producing 'y'" by its first named output, as
 * kiln_node_describe says it once the node is in the graph (a loader
 * message and an inference message name a node the same way); "#index"
 * (its place in the file, from 0) only for a node without either. */
const char *onnx_node_who(const Onnx__NodeProto *p, size_t index, char *buf, size_t size)
{
    char name[260];
    const char *out = NULL;
    for (size_t i = 0; i < p->n_output && !out; i++)
        if (p->output[i] && p->output[i][0])
            out = p->output[i];
    if (p->name && p->name[0])
        snprintf(buf, size, "'%s'", kiln_escape(p->name, name, sizeof name));
    else if (out)
        snprintf(buf, size, "producing '%s'", kiln_escape(out, name, sizeof name));
    else
        snprintf(buf, size, "#%zu", index);
    return buf;
}

static kiln_status node_vfail(const onnx_import *imp, const Onnx__NodeProto *p, uint32_t index,
                              int64_t opset, kiln_status st, const char *fmt, va_list ap)
{
    char msg[1536], who[300], op[80], dom[80];
    vsnprintf(msg, sizeof msg, fmt, ap);
    return kiln_error(imp->ctx, st, "%s: node %s (%s, domain '%s', opset %lld): %s", imp->path,
                      onnx_node_who(p, index, who, sizeof who), kiln_escape(str(p->op_type), op, sizeof op),
                      kiln_escape(str(p->domain), dom, sizeof dom), (long long)opset, msg);
}

kiln_status onnx_node_fail(const onnx_node *nd, kiln_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    st = node_vfail(nd->imp, nd->proto, nd->index, nd->opset, st, fmt, ap);
    va_end(ap);
    return st;
}

/* ---- attributes ------------------------------------------------------------ */

const Onnx__AttributeProto *onnx_attr(const onnx_node *nd, const char *name)
{
    for (size_t i = 0; i < nd->proto->n_attribute; i++)
        if (strcmp(str(nd->proto->attribute[i]->name), name) == 0)
            return nd->proto->attribute[i];
    return NULL;
}

/* Models from before IR v3 may leave `type` unset: take it from the field. */
attr_type onnx_attr_type(const Onnx__AttributeProto *a)
{
    if (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED)
        return a->type;
    return a->has_f ? ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT
         : a->has_i ? ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT
         : a->has_s ? ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING
         : a->t ? ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR
         : a->g || a->n_graphs ? ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH
         : a->n_floats ? ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS
         : a->n_ints ? ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS
         : a->n_strings ? ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS
         : ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED;
}

/* A protobuf string (bytes, not NUL-terminated) as a C string in scratch. */
static kiln_status attr_cstr(onnx_node *nd, const Onnx__AttributeProto *a,
                             const ProtobufCBinaryData *b, const char **out)
{
    if (b->len && memchr(b->data, 0, b->len))
        return onnx_node_fail(nd, KILN_ERR_INVALID, "attribute '%s' holds a string with a NUL byte",
                              str(a->name));
    *out = kiln_arena_strndup(nd->imp->scratch, b->len ? (const char *)b->data : "", b->len);
    return KILN_OK;
}

typedef kiln_status (*attr_conv)(onnx_node *nd, const Onnx__AttributeProto *a);

static kiln_status conv_float(onnx_node *nd, const Onnx__AttributeProto *a)
{
    kiln_attr_set_float(nd->imp->g, nd->id, a->name, a->f);
    return KILN_OK;
}

static kiln_status conv_int(onnx_node *nd, const Onnx__AttributeProto *a)
{
    kiln_attr_set_int(nd->imp->g, nd->id, a->name, a->i);
    return KILN_OK;
}

static kiln_status conv_string(onnx_node *nd, const Onnx__AttributeProto *a)
{
    const char *s = NULL;
    kiln_status st = attr_cstr(nd, a, &a->s, &s);
    if (!st)
        kiln_attr_set_string(nd->imp->g, nd->id, a->name, s);
    return st;
}

static kiln_status check_count(onnx_node *nd, const Onnx__AttributeProto *a, size_t n)
{
    if (n > UINT32_MAX)
        return onnx_node_fail(nd, KILN_ERR_INVALID, "attribute '%s' has too many elements (%zu)",
                              str(a->name), n);
    return KILN_OK;
}

static kiln_status conv_floats(onnx_node *nd, const Onnx__AttributeProto *a)
{
    kiln_status st = check_count(nd, a, a->n_floats);
    if (!st)
        kiln_attr_set_floats(nd->imp->g, nd->id, a->name, a->floats, (uint32_t)a->n_floats);
    return st;
}

static kiln_status conv_ints(onnx_node *nd, const Onnx__AttributeProto *a)
{
    kiln_status st = check_count(nd, a, a->n_ints);
    if (!st)
        kiln_attr_set_ints(nd->imp->g, nd->id, a->name, a->ints, (uint32_t)a->n_ints);
    return st;
}

static kiln_status conv_strings(onnx_node *nd, const Onnx__AttributeProto *a)
{
    kiln_status st = check_count(nd, a, a->n_strings);
    const char **v = kiln_arena_alloc(nd->imp->scratch, (a->n_strings + 1) * sizeof *v, 8);
    for (size_t i = 0; !st && i < a->n_strings; i++)
        st = attr_cstr(nd, a, &a->strings[i], &v[i]);
    if (!st)
        kiln_attr_set_strings(nd->imp->g, nd->id, a->name, v, (uint32_t)a->n_strings);
    return st;
}

static void attr_what(const onnx_node *nd, const char *attr, char *buf, size_t size)
{
    const Onnx__NodeProto *p = nd->proto;
    char who[300], a[80];
    snprintf(buf, size, "node %s (%.64s) attribute '%s'", onnx_node_who(p, nd->index, who, sizeof who),
             str(p->op_type), kiln_escape(attr, a, sizeof a));
}

static kiln_status conv_tensor(onnx_node *nd, const Onnx__AttributeProto *a)
{
    char what[400];
    kiln_tensor t;
    if (!a->t)
        return onnx_node_fail(nd, KILN_ERR_INVALID, "tensor attribute '%s' has no tensor",
                              str(a->name));
    attr_what(nd, str(a->name), what, sizeof what);
    kiln_status st = onnx_tensor_convert(&nd->imp->tensors, a->t, what, &t);
    if (!st)
        kiln_attr_set_tensor(nd->imp->g, nd->id, a->name, &t);
    return st;
}

static const attr_conv attr_convs[] = {
    [ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT] = conv_float,
    [ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT] = conv_int,
    [ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING] = conv_string,
    [ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR] = conv_tensor,
    [ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS] = conv_floats,
    [ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS] = conv_ints,
    [ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS] = conv_strings,
};

/* Why an attribute kind kiln has no conversion for is refused. */
static const char *const attr_refusals[] = {
    [ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED] = "has no type",
    [ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH] = "is a sub-graph: control flow (sub-graphs) is not supported",
    [ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS] = "is a list of sub-graphs: control flow (sub-graphs) is not supported",
    [ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSOR] = "is a sparse tensor, which kiln does not support",
    [ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSORS] = "is a list of sparse tensors, which kiln does not support",
    [ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSORS] = "is a list of tensors, which kiln does not support",
    [ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTO] = "is a type, which kiln does not support",
    [ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTOS] = "is a list of types, which kiln does not support",
};

static kiln_status convert_attr(onnx_node *nd, const Onnx__AttributeProto *a)
{
    attr_type k = onnx_attr_type(a);
    size_t nk = sizeof attr_convs / sizeof attr_convs[0];
    size_t nr = sizeof attr_refusals / sizeof attr_refusals[0];
    if (a->ref_attr_name && a->ref_attr_name[0])
        return onnx_node_fail(nd, KILN_ERR_INVALID,
                              "attribute '%s' refers to '%s', which only a function body may do",
                              str(a->name), a->ref_attr_name);
    if ((size_t)k < nk && attr_convs[k])
        return attr_convs[k](nd, a);
    const char *why = (size_t)k < nr && attr_refusals[k] ? attr_refusals[k] : "has an unknown type";
    return onnx_node_fail(nd, k == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED
                                  ? KILN_ERR_INVALID : KILN_ERR_UNSUPPORTED,
                          "attribute '%s' %s", str(a->name), why);
}

static bool skipped(const char *name, const char *const *skip)
{
    for (; skip && *skip; skip++)
        if (strcmp(*skip, name) == 0)
            return true;
    return false;
}

/* ---- emitting -------------------------------------------------------------- */

static const char *base_name(const onnx_node *nd)
{
    const Onnx__NodeProto *p = nd->proto;
    for (size_t i = 0; i < p->n_output; i++)
        if (p->output[i] && p->output[i][0])
            return p->output[i];
    return p->name && p->name[0] ? p->name : "node";
}

/* "<base>/<suffix>", made unique among the graph's names. */
static const char *fresh_name(onnx_node *nd, const char *suffix)
{
    onnx_import *imp = nd->imp;
    char buf[512];
    snprintf(buf, sizeof buf, "%.400s/%s", base_name(nd), suffix);
    size_t len = strlen(buf);
    for (unsigned k = 2; onnx_names_find(&imp->names, buf); k++)
        snprintf(buf + len, sizeof buf - len, ".%u", k);
    return kiln_graph_intern(imp->g, buf);
}

uint32_t onnx_fresh_value(onnx_node *nd, const char *suffix)
{
    const char *name = fresh_name(nd, suffix);
    uint32_t v = kiln_value_add(nd->imp->g, name);
    onnx_names_put(&nd->imp->names, name, v);
    return v;
}

uint32_t onnx_const(onnx_node *nd, const char *suffix, kiln_dtype dt, const kiln_shape *shape,
                    const void *data, size_t nbytes)
{
    const char *name = fresh_name(nd, suffix);
    uint32_t c = kiln_const_add(nd->imp->g, name, dt, shape, data, nbytes, true);
    onnx_names_put(&nd->imp->names, name, c);
    return c;
}

uint32_t onnx_const_i64(onnx_node *nd, const char *suffix, const int64_t *v, uint32_t n, bool scalar)
{
    KILN_ASSERT(!scalar || n == 1);
    int64_t dims[1] = {n};
    kiln_shape shape = kiln_shape_make(scalar ? 0 : 1, dims);
    return onnx_const(nd, suffix, KILN_DT_I64, &shape, v, n * sizeof *v);
}

uint32_t onnx_const_float(onnx_node *nd, const char *suffix, kiln_dtype dt, double v)
{
    float f = (float)v;
    uint16_t h = dt == KILN_DT_F16 ? krt_f32_to_f16(f) : krt_f32_to_bf16(f);
    const void *data = dt == KILN_DT_F64 ? (const void *)&v
                     : dt == KILN_DT_F32 ? (const void *)&f : (const void *)&h;
    KILN_ASSERT(kiln_dtype_is_float(dt));
    kiln_shape scalar = kiln_shape_make(0, NULL);
    return onnx_const(nd, suffix, dt, &scalar, data, kiln_dtype_size(dt));
}

/* Output slots: trailing absent ones dropped, inner ones anonymous. */
static uint32_t fill_outputs(onnx_node *nd, const uint32_t *outs, uint32_t n, uint32_t *filled)
{
    while (n && !outs[n - 1])
        n--;
    for (uint32_t i = 0; i < n; i++)
        filled[i] = outs[i] ? outs[i] : kiln_value_add(nd->imp->g, "");
    return n;
}

uint32_t onnx_add_node(onnx_node *nd, kiln_op op, const char *suffix, const uint32_t *ins,
                       uint32_t n_in, const uint32_t *outs, uint32_t n_out)
{
    char name[512];
    uint32_t *filled = kiln_arena_alloc(nd->imp->scratch, (n_out + 1) * sizeof *filled, 4);
    snprintf(name, sizeof name, "%.400s/%s",
             nd->proto->name && nd->proto->name[0] ? nd->proto->name : base_name(nd), suffix);
    while (n_in && !ins[n_in - 1])
        n_in--;
    n_out = fill_outputs(nd, outs, n_out, filled);
    return kiln_node_add(nd->imp->g, op, name, ins, n_in, filled, n_out);
}

static int attr_by_name(const void *a, const void *b)
{
    return strcmp(str((*(const Onnx__AttributeProto *const *)a)->name),
                  str((*(const Onnx__AttributeProto *const *)b)->name));
}

kiln_status onnx_emit(onnx_node *nd, const char *const *skip)
{
    uint32_t *filled = kiln_arena_alloc(nd->imp->scratch, (nd->n_out + 1) * sizeof *filled, 4);
    uint32_t n_in = nd->n_in, n_out = fill_outputs(nd, nd->outs, nd->n_out, filled);
    while (n_in && !nd->ins[n_in - 1])
        n_in--;
    nd->id = kiln_node_add(nd->imp->g, nd->op, str(nd->proto->name), nd->ins, n_in, filled, n_out);
    /* in name order: the graph appends each in O(1), and a repeat is adjacent */
    size_t n = nd->proto->n_attribute;
    const Onnx__AttributeProto **sorted = kiln_arena_alloc(nd->imp->scratch, (n + 1) * sizeof *sorted, 8);
    if (n) { /* attribute is NULL when there are none */
        memcpy(sorted, nd->proto->attribute, n * sizeof *sorted);
        qsort(sorted, n, sizeof *sorted, attr_by_name);
    }
    kiln_status st = KILN_OK;
    for (size_t i = 0; i < n && !st; i++) {
        const Onnx__AttributeProto *a = sorted[i];
        if (i && strcmp(str(a->name), str(sorted[i - 1]->name)) == 0)
            st = onnx_node_fail(nd, KILN_ERR_INVALID, "attribute '%s' is given twice", str(a->name));
        else if (!skipped(str(a->name), skip))
            st = convert_attr(nd, a);
    }
    return st;
}

/* ---- what is known before inference ---------------------------------------- */

int onnx_known_rank(const onnx_node *nd, uint32_t v)
{
    return v ? nd->imp->g->values[v].shape.rank : -1;
}

kiln_dtype onnx_known_dtype(const onnx_node *nd, uint32_t v)
{
    return v ? nd->imp->g->values[v].dtype : KILN_DT_UNDEF;
}

bool onnx_name_is_used(const onnx_import *imp, const char *name)
{
    const Onnx__GraphProto *gp = imp->model->graph;
    for (size_t i = 0; i < gp->n_node; i++)
        for (size_t k = 0; k < gp->node[i]->n_input; k++)
            if (strcmp(str(gp->node[i]->input[k]), name) == 0)
                return true;
    for (size_t i = 0; i < gp->n_output; i++)
        if (strcmp(str(gp->output[i]->name), name) == 0)
            return true;
    return false;
}

/* ---- Constant nodes ---------------------------------------------------------- */

static bool is_default_domain(const char *d)
{
    return !d || !d[0] || strcmp(d, "ai.onnx") == 0;
}

static bool is_constant(const Onnx__NodeProto *p)
{
    return is_default_domain(p->domain) && strcmp(str(p->op_type), "Constant") == 0;
}

static int64_t domain_opset(const onnx_import *imp, const char *domain)
{
    return kiln_graph_opset(imp->g, is_default_domain(domain) ? "" : domain);
}

/* value_float(s) / value_int(s): small lists, copied. */
static uint32_t constant_list(onnx_node *nd, const Onnx__AttributeProto *a, const char *out)
{
    kiln_graph *g = nd->imp->g;
    bool is_float = onnx_attr_type(a) == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT ||
                    onnx_attr_type(a) == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS;
    bool scalar = onnx_attr_type(a) == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT ||
                  onnx_attr_type(a) == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    size_t n = scalar ? 1 : is_float ? a->n_floats : a->n_ints;
    const void *data = scalar ? (is_float ? (const void *)&a->f : (const void *)&a->i)
                              : (is_float ? (const void *)a->floats : (const void *)a->ints);
    int64_t dims[1] = {(int64_t)n};
    kiln_shape shape = kiln_shape_make(scalar ? 0 : 1, dims);
    kiln_dtype dt = is_float ? KILN_DT_F32 : KILN_DT_I64;
    return kiln_const_add(g, out, dt, &shape, data, n * kiln_dtype_size(dt), true);
}

static kiln_status constant_tensor(onnx_node *nd, const Onnx__AttributeProto *a, const char *out,
                                   uint32_t *v)
{
    char what[400];
    kiln_tensor t;
    attr_what(nd, str(a->name), what, sizeof what);
    if (!a->t)
        return onnx_node_fail(nd, KILN_ERR_INVALID, "attribute 'value' has no tensor");
    kiln_status st = onnx_tensor_convert(&nd->imp->tensors, a->t, what, &t);
    if (!st)
        *v = kiln_const_add(nd->imp->g, out, t.dtype, &t.shape, t.data, t.nbytes, false);
    return st;
}

static kiln_status constant_value(onnx_node *nd, const Onnx__AttributeProto *a, const char *out,
                                  uint32_t *v)
{
    const char *name = str(a->name);
    if (strcmp(name, "value") == 0)
        return constant_tensor(nd, a, out, v);
    if (!strcmp(name, "value_float") || !strcmp(name, "value_floats") ||
        !strcmp(name, "value_int") || !strcmp(name, "value_ints")) {
        *v = constant_list(nd, a, out);
        return KILN_OK;
    }
    if (!strcmp(name, "sparse_value"))
        return onnx_node_fail(nd, KILN_ERR_UNSUPPORTED, "sparse tensors are not supported");
    if (!strcmp(name, "value_string") || !strcmp(name, "value_strings"))
        return onnx_node_fail(nd, KILN_ERR_UNSUPPORTED, "string tensors are not supported");
    return onnx_node_fail(nd, KILN_ERR_INVALID, "unknown attribute '%s'", name);
}

static kiln_status declare_constant(onnx_node *nd)
{
    const Onnx__NodeProto *p = nd->proto;
    uint32_t v = 0;
    if (p->n_output != 1 || !p->output[0] || !p->output[0][0])
        return onnx_node_fail(nd, KILN_ERR_INVALID, "a Constant has exactly one named output");
    if (onnx_names_find(&nd->imp->names, p->output[0]))
        return onnx_node_fail(nd, KILN_ERR_INVALID,
                              "output '%s' is already defined (names must be unique)", p->output[0]);
    if (p->n_attribute != 1)
        return onnx_node_fail(nd, KILN_ERR_INVALID,
                              "a Constant has exactly one value attribute, this one has %zu",
                              p->n_attribute);
    kiln_status st = constant_value(nd, p->attribute[0], p->output[0], &v);
    if (!st)
        onnx_names_put(&nd->imp->names, nd->imp->g->values[v].name, v);
    return st;
}

/* ---- pass A: outputs ---------------------------------------------------------- */

static kiln_status declare_outputs(onnx_node *nd)
{
    onnx_import *imp = nd->imp;
    for (size_t k = 0; k < nd->proto->n_output; k++) {
        const char *name = str(nd->proto->output[k]);
        if (!name[0])
            continue;
        if (onnx_names_find(&imp->names, name))
            return onnx_node_fail(nd, KILN_ERR_INVALID,
                                  "output '%s' is already defined (names must be unique)", name);
        uint32_t v = kiln_value_add(imp->g, name);
        onnx_names_put(&imp->names, imp->g->values[v].name, v);
    }
    return KILN_OK;
}

static onnx_node node_at(onnx_import *imp, uint32_t i)
{
    const Onnx__NodeProto *p = imp->model->graph->node[i];
    onnx_node nd = {.imp = imp, .proto = p, .index = i, .domain = str(p->domain),
                    .opset = domain_opset(imp, p->domain)};
    return nd;
}

kiln_status onnx_nodes_declare(onnx_import *imp)
{
    kiln_status st = KILN_OK;
    for (uint32_t i = 0; i < imp->model->graph->n_node && !st; i++) {
        onnx_node nd = node_at(imp, i);
        st = is_constant(nd.proto) ? declare_constant(&nd) : declare_outputs(&nd);
    }
    return st;
}

/* ---- pass B: operators ----------------------------------------------------------- */

static kiln_status unsupported(const onnx_node *nd, int first_since)
{
    const char *why = onnx_unsupported_reason(nd->domain, str(nd->proto->op_type));
    if (first_since)
        return onnx_node_fail(nd, KILN_ERR_UNSUPPORTED,
                              "operator not supported by kiln at this opset (%s exists from opset %d)",
                              str(nd->proto->op_type), first_since);
    if (why)
        return onnx_node_fail(nd, KILN_ERR_UNSUPPORTED, "operator not supported by kiln: %s", why);
    return onnx_node_fail(nd, KILN_ERR_UNSUPPORTED, "operator not supported by kiln");
}

static kiln_status resolve_inputs(onnx_node *nd)
{
    const Onnx__NodeProto *p = nd->proto;
    nd->n_in = (uint32_t)p->n_input;
    nd->ins = kiln_arena_alloc(nd->imp->scratch, (p->n_input + ONNX_SPARE_INPUTS) * sizeof *nd->ins, 4);
    for (uint32_t k = 0; k < nd->n_in; k++) {
        const char *name = str(p->input[k]);
        nd->ins[k] = name[0] ? onnx_names_find(&nd->imp->names, name) : 0;
        if (name[0] && !nd->ins[k])
            return onnx_node_fail(nd, KILN_ERR_INVALID,
                                  "input %u '%s' is not defined by any node, initializer or graph input",
                                  k, name);
    }
    return KILN_OK;
}

static void resolve_outputs(onnx_node *nd)
{
    const Onnx__NodeProto *p = nd->proto;
    nd->n_out = (uint32_t)p->n_output;
    nd->outs = kiln_arena_alloc(nd->imp->scratch, (p->n_output + 1) * sizeof *nd->outs, 4);
    for (uint32_t k = 0; k < nd->n_out; k++) {
        const char *name = str(p->output[k]);
        nd->outs[k] = name[0] ? onnx_names_find(&nd->imp->names, name) : 0;
    }
}

static kiln_status find_row(const onnx_node *nd, const onnx_op_row **row)
{
    int first_since = 0;
    if (!nd->opset)
        return onnx_node_fail(nd, KILN_ERR_INVALID,
                              "the model imports no opset for domain '%s' (add it to opset_import)",
                              nd->domain);
    *row = onnx_op_lookup(nd->domain, str(nd->proto->op_type), nd->opset, &first_since);
    return *row ? KILN_OK : unsupported(nd, first_since);
}

kiln_status onnx_nodes_check(onnx_import *imp)
{
    kiln_status st = KILN_OK;
    for (uint32_t i = 0; i < imp->model->graph->n_node && !st; i++) {
        onnx_node nd = node_at(imp, i);
        const onnx_op_row *row;
        if (nd.proto->n_attribute > KILN_MAX_NODE_ATTRS)
            st = onnx_node_fail(&nd, KILN_ERR_INVALID,
                                "has %zu attributes, more than kiln's limit of %d per node (README, 'Limits')",
                                nd.proto->n_attribute, KILN_MAX_NODE_ATTRS);
        else if (!is_constant(nd.proto))
            st = find_row(&nd, &row);
    }
    return st;
}

static kiln_status build_node(onnx_node *nd)
{
    const onnx_op_row *row;
    kiln_status st = find_row(nd, &row);
    if (st)
        return st;
    nd->op = row->op;
    st = resolve_inputs(nd);
    if (st)
        return st;
    resolve_outputs(nd);
    st = row->upgrade ? row->upgrade(nd) : onnx_emit(nd, NULL);
    KILN_ASSERT(st || nd->id);
    return st;
}

kiln_status onnx_nodes_build(onnx_import *imp)
{
    kiln_status st = KILN_OK;
    for (uint32_t i = 0; i < imp->model->graph->n_node && !st; i++) {
        onnx_node nd = node_at(imp, i);
        if (is_constant(nd.proto))
            continue;
        st = build_node(&nd);
        kiln_arena_reset(imp->scratch);
    }
    return st;
}
