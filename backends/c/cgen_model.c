/* cgen_model.c — NAME.c, NAME.h and NAME_weights.c for one graph.
 *
 * NAME_run is straight-line code: after checking its pointers, one kernel
 * call per lowered call (ir/lower.h), in node order, exactly as the
 * interpreter runs them (ir/interp.c, run_call; with --threads N through
 * the krt_pool bound to the workspace, as the interpreter's pool): the same
 * descriptor bytes, operands resolved to the same places the memory plan
 * gives (passes/plan.h): an arena tensor at workspace + offset, node
 * scratch at workspace + scratch_offset, constants from NAME_weights.c,
 * graph inputs and outputs in the caller's buffers. A graph output a node
 * computes is written straight into outputs[k]; one that is a graph input,
 * a constant or the same value as an earlier output is copied at the end.
 *
 * The calls live in one static body, run(..., ns), which NAME_run calls
 * with ns NULL and NAME_run_profiled with the caller's array: after each
 * node `if (ns) t = stamp(ns, i, t);` writes node i's wall time. NAME_profile
 * names every node, its op and its FLOPs (ir/flops.h), in the same order
 * (docs/c-backend.md, "Profiling").
 *
 * Nothing here allocates at run time and nothing is mutable at file scope,
 * so two threads with two workspaces can run a model at once.
 *
 * Weights are emitted as 64-bit words in hex, the tensor's bytes packed
 * little-endian (kiln's tensors are little-endian; so is every target it
 * has): compilers parse one word per 8 bytes several times faster than a
 * byte list, and ISO C's 4095-character cap on string literals rules out
 * strings under -pedantic. Hex is still slow for a large model (DeiT-Small:
 * 88 MB of weights, 233 MB of hex, gcc -O2 over 10 minutes and 1.5 GB), so
 * the same bytes also go to NAME_weights.bin, laid out as the --weights
 * file payload (each tensor at a 64-byte offset), and NAME_weights.c
 * defines the symbols from it through the assembler's .incbin when the
 * build defines KILN_WEIGHTS_BIN as the path of that file and the compiler
 * is GNU-compatible on an ELF target (kiln's own cc stage and the Makefile
 * do); otherwise, e.g. `cc -std=c99 *.c` as it comes, the hex. Both define
 * the same symbols with the same bytes. The path is left to the build, not
 * written into the file: the sources stay byte-identical wherever they are
 * generated, and the assembler resolves a relative path against its own
 * working directory, not the source's.
 */
#include "backends/c/cgen_internal.h"
#include "ir/flops.h"
#include "ir/lower.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct emitter {
    kiln_ctx *ctx;
    const kiln_graph *g;
    const kiln_plan *plan;
    const char *name;          /* the C prefix */
    cbuf descs, body, tail;    /* descriptor constants, NAME_run's calls, output copies */
    cbuf profile;              /* NAME_profile's rows, one per node */
    uint32_t n_profiled;       /* rows so far: the next node's index in NAME_profile */
    cbuf weights;              /* NAME_weights.c: the hex definitions */
    cbuf incbin;               /* NAME_weights.c: the same symbols from NAME_weights.bin */
    cbuf wdecls;               /* extern declarations of the weights, for NAME.c */
    bool wfile;                /* --weights file: constants in `payload`, not NAME_weights.c */
    cbuf payload;              /* NAME.weights after its header; else NAME_weights.bin */
    size_t *woff;              /* [n_values] a constant's offset in payload */
    uint64_t layout;           /* NAME.weights' layout id */
    int threads;               /* --threads N: calls split over a bound krt_pool; 1: none */
    bool used[KRT_K_COUNT];    /* kernels called */
    uint32_t *in_slot;         /* [n_values] graph input index + 1; 0: not an input */
    uint32_t *out_slot;        /* [n_values] first graph output index + 1 it is */
    bool *weight_done;         /* [n_values] emitted into NAME_weights.c */
    kiln_arena *arena;         /* lowering results, reset per node */
    kiln_cgen_stats *stats;
} emitter;

/* kiln_dtype → the ONNX TensorProto number kiln_model.h uses. */
static const int32_t onnx_dtype[KILN_DT_COUNT] = {
    [KILN_DT_F32] = 1, [KILN_DT_U8] = 2, [KILN_DT_I8] = 3, [KILN_DT_U16] = 4,
    [KILN_DT_I16] = 5, [KILN_DT_I32] = 6, [KILN_DT_I64] = 7, [KILN_DT_BOOL] = 9,
    [KILN_DT_F16] = 10, [KILN_DT_F64] = 11, [KILN_DT_U32] = 12, [KILN_DT_U64] = 13,
    [KILN_DT_BF16] = 16,
};

int32_t kiln_cgen_abi_dtype(kiln_dtype dt)
{
    return onnx_dtype[dt];
}

size_t kiln_cgen_value_bytes(const kiln_value *v)
{
    int64_t numel = 0;
    kiln_shape_numel(&v->shape, &numel);
    return (size_t)numel * kiln_dtype_size(v->dtype);
}

/* "x f32[1,4,8]" for comments. */
static void describe_value(emitter *e, cbuf *b, uint32_t v)
{
    char shape[256];
    const kiln_value *val = &e->g->values[v];
    cbuf_comment(b, val->name[0] ? val->name : "(anonymous)");
    cbuf_printf(b, " %s%s", kiln_dtype_name(val->dtype),
                kiln_shape_format(e->g, &val->shape, shape, sizeof shape));
}

/* ---- weights ---------------------------------------------------------- */

static void hex_words(cbuf *b, const unsigned char *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    char line[4 * 20 + 2];
    size_t words = (n + 7) / 8;
    for (size_t w = 0; w < words;) {
        size_t at = 0;
        for (int k = 0; k < 4 && w < words; k++, w++) {
            unsigned char bytes[8] = {0};
            memcpy(bytes, p + w * 8, n - w * 8 < 8 ? n - w * 8 : 8);
            line[at++] = '0', line[at++] = 'x';
            for (int i = 7; i >= 0; i--)  /* little-endian: byte 7 is the top digit pair */
                line[at++] = digits[bytes[i] >> 4], line[at++] = digits[bytes[i] & 15];
            line[at++] = 'u', line[at++] = ',';
        }
        line[at++] = '\n';
        cbuf_put(b, line, at);
    }
}

/* The C symbol of constant v: NAME_w<id>_<name>. */
static void weight_symbol(emitter *e, cbuf *b, uint32_t v)
{
    cbuf_printf(b, "%s_", e->name);
    cbuf_ident(b, 'w', v, e->g->values[v].name);
}

/* --weights file: the constant's bytes at the next 64-byte offset of the
 * payload (the payload stays whole 64-byte lines). */
static void file_weight(emitter *e, uint32_t v)
{
    static const char zeros[64] = {0};
    const kiln_value *val = &e->g->values[v];
    e->woff[v] = e->payload.len;
    kiln_cgen_weights_layout(&e->layout, val->name, kiln_cgen_abi_dtype(val->dtype), val->shape.rank,
                             val->shape.dim, e->woff[v], val->nbytes);
    cbuf_put(&e->payload, (const char *)val->data, val->nbytes);
    cbuf_put(&e->payload, zeros, (64 - e->payload.len % 64) % 64);
}

/* The .incbin definition of constant v: its n bytes from NAME_weights.bin
 * at woff[v], zero-padded to whole words, as an object of the same symbol
 * and size as the hex one. One __asm__ per constant keeps each string far
 * below C99's 4095 characters (-pedantic's -Woverlength-strings);
 * .pushsection leaves the compiler's current section as it was. */
static void incbin_weight(emitter *e, uint32_t v, size_t n, size_t words)
{
    cbuf sym = {0};
    weight_symbol(e, &sym, v);
    cbuf_printf(&e->incbin, "__asm__(\"\\t.pushsection .rodata\\n\\t.balign 64\\n\\t.globl %s\\n"
                            "\\t.type %s, %%object\\n\\t.size %s, %zu\\n%s:\\n\"\n",
                sym.p, sym.p, sym.p, words * 8, sym.p);
    if (n)
        cbuf_printf(&e->incbin, "        \"\\t.incbin \\\"\" KILN_WEIGHTS_BIN \"\\\", %zu, %zu\\n\"\n",
                    e->woff[v], n);
    if (words * 8 > n)
        cbuf_printf(&e->incbin, "        \"\\t.zero %zu\\n\"\n", words * 8 - n);
    cbuf_puts(&e->incbin, "        \"\\t.popsection\\n\");\n");
    cbuf_free(&sym);
}

static void emit_weight(emitter *e, uint32_t v)
{
    const kiln_value *val = &e->g->values[v];
    size_t n = val->nbytes, words = n ? (n + 7) / 8 : 1;
    if (e->weight_done[v])
        return;
    e->weight_done[v] = true;
    e->stats->n_weights++;
    e->stats->weight_bytes += n;
    file_weight(e, v);  /* NAME.weights, or NAME_weights.bin */
    if (e->wfile)
        return;
    incbin_weight(e, v, n, words);
    cbuf_puts(&e->weights, "\n/* ");
    describe_value(e, &e->weights, v);
    cbuf_printf(&e->weights, ", %zu bytes */\nKILN_ALIGN64 const uint64_t ", n);
    weight_symbol(e, &e->weights, v);
    cbuf_printf(&e->weights, "[%zu] = {\n", words);
    if (n)
        hex_words(&e->weights, val->data, n);
    else
        cbuf_puts(&e->weights, "0\n");
    cbuf_puts(&e->weights, "};\n");
    cbuf_puts(&e->wdecls, "extern const uint64_t ");
    weight_symbol(e, &e->wdecls, v);
    cbuf_printf(&e->wdecls, "[%zu];\n", words);
}

/* ---- operands --------------------------------------------------------- */

/* The C expression for value v's data as a kernel operand. */
static kiln_status operand(emitter *e, uint32_t node, cbuf *b, uint32_t v)
{
    const kiln_value *val = &e->g->values[v];
    size_t off = v ? e->plan->offset[v] : 0;
    if (!v)
        cbuf_puts(b, "NULL");
    else if (e->in_slot[v])
        cbuf_printf(b, "(void *)inputs[%u]", e->in_slot[v] - 1);
    else if (val->kind == KILN_VAL_CONST && e->wfile) {
        emit_weight(e, v);
        cbuf_printf(b, "(void *)(W + %zu)", e->woff[v]);
    } else if (val->kind == KILN_VAL_CONST) {
        emit_weight(e, v);
        cbuf_puts(b, "(void *)");
        weight_symbol(e, b, v);
    } else if (e->out_slot[v])
        cbuf_printf(b, "outputs[%u]", e->out_slot[v] - 1);
    else if (off == KILN_PLAN_DYNAMIC)
        return kiln_node_error(e->ctx, e->g, node, KILN_ERR_UNSUPPORTED,
                               "'%s' has a shape known only at run time (it depends on input "
                               "values); the C backend needs static shapes", val->name);
    else if (off == KILN_PLAN_NONE)
        return kiln_node_error(e->ctx, e->g, node, KILN_ERR_UNSUPPORTED,
                               "'%s' has no place in the memory plan", val->name);
    else
        cbuf_printf(b, "ws + %zu", off);
    return KILN_OK;
}

/* ---- kernel calls ----------------------------------------------------- */

static void emit_desc(emitter *e, uint32_t node, uint32_t k, const kiln_kernel_call *call)
{
    size_t n = krt_kernels[call->kernel]->desc_size;
    const unsigned char *p = call->desc;
    cbuf_printf(&e->descs, "static const union { %s d; unsigned char b[%zu]; } d%u_%u = {.b = {",
                kiln_cgen_desc_type(call->kernel), n, node, k);
    for (size_t i = 0; i < n; i++)
        cbuf_printf(&e->descs, "%s%s%u", i ? "," : "", i % 24 ? "" : "\n    ", p[i]);
    cbuf_puts(&e->descs, "}};\n");
}

static kiln_status emit_call(emitter *e, uint32_t node, uint32_t k, const kiln_kernel_call *call)
{
    const char *kname = krt_kernels[call->kernel]->name;
    size_t scratch = e->plan->scratch_bytes[node];
    if (!kiln_cgen_desc_type(call->kernel))
        return kiln_node_error(e->ctx, e->g, node, KILN_ERR_UNSUPPORTED,
                               "kernel '%s' is missing from the C backend's table "
                               "(backends/c/cgen_kernels.c)", kname);
    if (call->scratch > scratch)
        return kiln_node_error(e->ctx, e->g, node, KILN_ERR_UNSUPPORTED,
                               "kernel '%s' needs %zu bytes of scratch, the plan has %zu",
                               kname, call->scratch, scratch);
    if (call->units <= 0) {
        cbuf_printf(&e->body, "    /* %s: empty, nothing to compute */\n", kname);
        return KILN_OK;
    }
    e->used[call->kernel] = true;
    e->stats->n_calls++;
    emit_desc(e, node, k, call);
    cbuf_printf(&e->body, "    if ((rc = run_call(%s&krt_kernel_%s, &d%u_%u.d, (void *const[]){",
                e->threads > 1 ? "pool, " : "", kname, node, k);
    for (uint32_t i = 0; i < call->n_ops; i++) {
        cbuf_puts(&e->body, i ? ", " : "");
        kiln_status st = operand(e, node, &e->body, call->ops[i]);
        if (st)
            return st;
    }
    if (call->n_ops == 0)
        cbuf_puts(&e->body, "NULL");
    if (call->scratch && e->threads > 1)  /* thread t's scratch: ws + offset + t * stride */
        cbuf_printf(&e->body, "}, ws + %zu, %zu, %lld)))\n", e->plan->scratch_offset[node],
                    (call->scratch + KILN_PLAN_ALIGN - 1) / KILN_PLAN_ALIGN * KILN_PLAN_ALIGN,
                    (long long)call->units);
    else if (call->scratch)
        cbuf_printf(&e->body, "}, ws + %zu, %zu, %lld)))\n", e->plan->scratch_offset[node],
                    scratch, (long long)call->units);
    else
        cbuf_printf(&e->body, "}, NULL, 0, %lld)))\n", (long long)call->units);
    cbuf_puts(&e->body, "        return rc;\n");
    return KILN_OK;
}

/* "node 3 'name' (MatMul): x f32[..], w f32[..] -> y f32[..]" */
static void node_comment(emitter *e, uint32_t node)
{
    const kiln_node *n = &e->g->nodes[node];
    char op[64];
    cbuf_printf(&e->body, "\n    /* node %u '", node);
    cbuf_comment(&e->body, n->name);
    cbuf_printf(&e->body, "' (%s): ", kiln_op_text_name(n->op, op, sizeof op));
    for (uint32_t i = 0; i < n->n_in; i++) {
        uint32_t v = e->g->operands[n->in + i];
        cbuf_puts(&e->body, i ? ", " : "");
        if (v)
            describe_value(e, &e->body, v);
        else
            cbuf_puts(&e->body, "(none)");
    }
    cbuf_puts(&e->body, " -> ");
    for (uint32_t i = 0; i < n->n_out; i++) {
        uint32_t v = e->g->operands[n->out + i];
        cbuf_puts(&e->body, i ? ", " : "");
        if (v)
            describe_value(e, &e->body, v);
    }
    cbuf_puts(&e->body, " */\n");
}

/* The node's row of NAME_profile: name, op, FLOPs (ir/flops.h). */
static void profile_row(emitter *e, uint32_t node)
{
    char op[64];
    cbuf_puts(&e->profile, "    {\"");
    cbuf_c_string(&e->profile, kiln_node_profile_name(e->g, node));
    cbuf_puts(&e->profile, "\", \"");
    cbuf_c_string(&e->profile, kiln_op_text_name(e->g->nodes[node].op, op, sizeof op));
    cbuf_printf(&e->profile, "\", %.17g},\n", kiln_node_flops_known(e->g, e->g->values, node));
}

static kiln_status emit_node(emitter *e, uint32_t node)
{
    kiln_lowered low;
    kiln_arena_reset(e->arena);
    kiln_status st = kiln_plan_require_static(e->ctx, e->g, e->plan, node, "C");
    if (st == KILN_OK)
        st = kiln_lower_node(e->ctx, e->g, e->g->values, node, e->arena, &low);
    if (st)
        return st;
    e->stats->n_nodes++;
    node_comment(e, node);
    for (uint32_t k = 0; k < low.n_calls && st == KILN_OK; k++)
        st = emit_call(e, node, k, &low.calls[k]);
    profile_row(e, node);
    /* NAME_run_profiled: the node's wall time (all its calls, every thread) */
    cbuf_printf(&e->body, "    if (ns)\n        t = stamp(ns, %u, t);\n", e->n_profiled++);
    return st;
}

/* ---- graph outputs that no node writes -------------------------------- */

static kiln_status emit_output_copies(emitter *e)
{
    const kiln_graph *g = e->g;
    for (uint32_t k = 0; k < g->n_outputs; k++) {
        uint32_t v = g->outputs[k];
        size_t n = kiln_cgen_value_bytes(&g->values[v]);
        if (e->out_slot[v] == k + 1 && !e->in_slot[v] && g->values[v].kind != KILN_VAL_CONST)
            continue;  /* written by its node */
        if (n == 0)
            continue;
        cbuf_printf(&e->tail, "    memcpy(outputs[%u], ", k);
        kiln_status st = e->out_slot[v] != k + 1 && !e->in_slot[v] && g->values[v].kind != KILN_VAL_CONST
                             ? (cbuf_printf(&e->tail, "outputs[%u]", e->out_slot[v] - 1), KILN_OK)
                             : operand(e, 0, &e->tail, v);
        if (st)
            return st;
        cbuf_printf(&e->tail, ", %zu); /* ", n);
        describe_value(e, &e->tail, v);
        cbuf_puts(&e->tail, " */\n");
    }
    return KILN_OK;
}

/* ---- NAME.c ----------------------------------------------------------- */

static void tensor_row(emitter *e, cbuf *b, uint32_t v)
{
    const kiln_value *val = &e->g->values[v];
    cbuf_puts(b, "    {\"");
    cbuf_c_string(b, val->name);
    cbuf_printf(b, "\", %d, %d, {", kiln_cgen_abi_dtype(val->dtype), val->shape.rank);
    for (int i = 0; i < val->shape.rank; i++)
        cbuf_printf(b, "%s%lld", i ? ", " : "", (long long)val->shape.dim[i]);
    cbuf_printf(b, "%s}, %zu},\n", val->shape.rank ? "" : "0", kiln_cgen_value_bytes(val));
}

static void tensor_table(emitter *e, cbuf *b, const char *what, const uint32_t *vals, uint32_t n)
{
    if (!n)
        return;
    cbuf_printf(b, "static const kiln_model_tensor %s[%u] = {\n", what, n);
    for (uint32_t i = 0; i < n; i++)
        tensor_row(e, b, vals[i]);
    cbuf_puts(b, "};\n");
}

/* The workspace: the arena, behind the bound weights' address with --weights file. */
static bool ws_header(const emitter *e)
{
    return e->wfile || e->threads > 1;
}

static size_t workspace_bytes(const emitter *e)
{
    return e->plan->peak + (ws_header(e) ? KILN_CGEN_WEIGHTS_HEADER : 0);
}

static void emit_info(emitter *e, cbuf *b)
{
    const kiln_graph *g = e->g;
    tensor_table(e, b, "inputs_", g->inputs, g->n_inputs);
    tensor_table(e, b, "outputs_", g->outputs, g->n_outputs);
    cbuf_printf(b, "\nconst kiln_model_info %s_info = {\n"
                   "    KILN_MODEL_ABI_VERSION, sizeof(kiln_model_info), \"%s\",\n"
                   "    %u, %u, %s, %s, %zu,\n};\n\n"
                   "size_t %s_workspace_size(void)\n{\n    return %zu;\n}\n",
                e->name, e->name, g->n_inputs, g->n_outputs, g->n_inputs ? "inputs_" : "NULL",
                g->n_outputs ? "outputs_" : "NULL", workspace_bytes(e), e->name, workspace_bytes(e));
}

static const char run_call_text[] =
    "\n/* One kernel call over all its units; a kernel's error as a KILN_RUN_* code.\n"
    " * The scratch was planned with kiln's build of the kernel: a build of the\n"
    " * runtime that wants more (another vector width) is refused, not overrun. */\n"
    "static int run_call(const krt_kernel_info *k, const void *desc, void *const *ops, void *scratch,\n"
    "                    size_t scratch_bytes, int64_t units)\n"
    "{\n"
    "    krt_error err = {.operand = -1};\n"
    "    if (k->scratch_size && k->scratch_size(desc) > scratch_bytes)\n"
    "        return KILN_RUN_EVALUE;\n"
    "    krt_status st = k->run(desc, ops, scratch, (krt_span){0, units}, &err);\n"
    "    return st == KRT_OK ? KILN_RUN_OK : st == KRT_EINDEX ? KILN_RUN_EINDEX : KILN_RUN_EVALUE;\n"
    "}\n";

/* --threads N: each call over the bound pool, thread t on scratch slice t. */
static const char run_call_pool_text[] =
    "\n/* One kernel call over all its units, split over the pool's threads (thread\n"
    " * t's scratch is scratch + t * stride; pool NULL: one call on this thread);\n"
    " * a kernel's error as a KILN_RUN_* code. A build of the runtime whose kernel\n"
    " * wants more scratch than was planned is refused, not overrun. */\n"
    "static int run_call(krt_pool *pool, const krt_kernel_info *k, const void *desc,\n"
    "                    void *const *ops, void *scratch, size_t stride, int64_t units)\n"
    "{\n"
    "    krt_error err = {.operand = -1};\n"
    "    if (k->scratch_size && k->scratch_size(desc) > stride)\n"
    "        return KILN_RUN_EVALUE;\n"
    "    krt_status st = krt_pool_run(pool, k, desc, ops, scratch, stride, units, &err);\n"
    "    return st == KRT_OK ? KILN_RUN_OK : st == KRT_EINDEX ? KILN_RUN_EINDEX : KILN_RUN_EVALUE;\n"
    "}\n";

static void emit_pool_functions(emitter *e, cbuf *b)
{
    cbuf_printf(b, "\n/* --threads %d: the pool bound to a workspace (bytes 16..31 of its header). */\n"
                   "#define POOL_TAG UINT64_C(0x6b696c6e706f6f6c) /* \"kilnpool\" */\n\n"
                   "int %s_set_pool(void *workspace, struct krt_pool *pool)\n{\n"
                   "    uint64_t tag = POOL_TAG;\n"
                   "    if (!workspace || (uintptr_t)workspace %% 64 != 0)\n        return KILN_RUN_EARG;\n"
                   "    if (pool && krt_pool_threads(pool) > %d)\n"
                   "        return KILN_RUN_EARG;  /* the scratch was planned for %d threads */\n"
                   "    memcpy((unsigned char *)workspace + 16, &tag, sizeof tag);\n"
                   "    memcpy((unsigned char *)workspace + 24, &pool, sizeof pool);\n"
                   "    return KILN_RUN_OK;\n}\n\n"
                   "/* %s_THREADS, for a caller that has only the library (kiln run LIB.so). */\n"
                   "int %s_max_threads(void)\n{\n    return %d;\n}\n\n"
                   "/* The pool bound to this workspace; NULL (one thread) when none is. */\n"
                   "static krt_pool *bound_pool(const void *workspace)\n{\n"
                   "    uint64_t tag;\n    krt_pool *pool;\n"
                   "    memcpy(&tag, (const unsigned char *)workspace + 16, sizeof tag);\n"
                   "    if (tag != POOL_TAG)\n        return NULL;\n"
                   "    memcpy(&pool, (const unsigned char *)workspace + 24, sizeof pool);\n"
                   "    return pool;\n}\n",
                e->threads, e->name, e->threads, e->threads, e->name, e->name, e->threads);
}

static void emit_check(emitter *e, cbuf *b)
{
    cbuf_printf(b, "\n/* NULL pointers (for tensors with data) and a misaligned workspace. */\n"
                   "static int check_args(const void *const *inputs, void *const *outputs, void *workspace)\n"
                   "{\n"
                   "    const kiln_model_info *m = &%s_info;\n"
                   "    if ((m->n_inputs && !inputs) || (m->n_outputs && !outputs))\n"
                   "        return KILN_RUN_EARG;\n"
                   "    if (m->workspace_size && (!workspace || (uintptr_t)workspace %% 64 != 0))\n"
                   "        return KILN_RUN_EARG;\n"
                   "    for (uint32_t i = 0; i < m->n_inputs; i++)\n"
                   "        if (!inputs[i] && m->inputs[i].nbytes)\n"
                   "            return KILN_RUN_EARG;\n"
                   "    for (uint32_t i = 0; i < m->n_outputs; i++)\n"
                   "        if (!outputs[i] && m->outputs[i].nbytes)\n"
                   "            return KILN_RUN_EARG;\n"
                   "    return KILN_RUN_OK;\n"
                   "}\n", e->name);
}

static void emit_includes(emitter *e, cbuf *b)
{
    bool done[4] = {0};
    static const char *const headers[] = {"krt_elementwise.h", "krt_reduce.h", "krt_linalg.h",
                                          "krt_movement.h"};
    cbuf_printf(b, "#include \"%s.h\"\n#include \"krt_kernel.h\"\n#include \"krt_profile.h\"\n%s", e->name,
                e->threads > 1 ? "#include \"krt_pool.h\"\n" : "");
    for (int i = 0; i < 4; i++)
        for (int k = 1; k < KRT_K_COUNT && !done[i]; k++)
            if (e->used[k] && strcmp(kiln_cgen_desc_header((krt_kernel_id)k), headers[i]) == 0) {
                cbuf_printf(b, "#include \"%s\"\n", headers[i]);
                done[i] = true;
            }
    cbuf_printf(b, "\n%s#include <stdint.h>\n#include <string.h>\n", e->wfile ? "#include <stdio.h>\n" : "");
}

/* NAME_profile (kiln_model.h) and the stamp NAME_run_profiled takes after
 * each node. */
static void emit_profile(emitter *e, cbuf *c)
{
    cbuf_puts(c, "\n/* every node in run order: name, op, FLOPs per run (kiln's count, ir/flops.h) */\n");
    if (e->n_profiled)
        cbuf_printf(c, "static const kiln_model_node nodes_[%u] = {\n%s};\n", e->n_profiled,
                    e->profile.p ? e->profile.p : "");
    cbuf_printf(c, "\nconst kiln_model_profile %s_profile = {sizeof(kiln_model_profile), %u, %s};\n",
                e->name, e->n_profiled, e->n_profiled ? "nodes_" : "NULL");
    if (e->n_profiled)
        cbuf_puts(c, "\n/* Node i's time (ns since `start`) into ns[i]; returns now, the next node's start. */\n"
                     "static uint64_t stamp(uint64_t *ns, uint32_t i, uint64_t start)\n{\n"
                     "    uint64_t now = krt_profile_now();\n    ns[i] = now - start;\n    return now;\n}\n");
}

static void emit_source(emitter *e, cbuf *c, const char *model)
{
    cbuf_printf(c, "/* %s.c — generated by kiln from ", e->name);
    cbuf_comment(c, model);
    cbuf_printf(c, "; do not edit.\n * %u nodes, %u kernel calls; workspace %zu bytes (64-byte aligned)."
                   " Built as C11. */\n", e->stats->n_nodes, e->stats->n_calls, e->plan->peak);
    emit_includes(e, c);
    if (!e->wfile) {
        cbuf_puts(c, "\n/* constants (");
        cbuf_printf(c, "%s_weights.c) */\n", e->name);
        cbuf_put(c, e->wdecls.p ? e->wdecls.p : "", e->wdecls.len);
    }
    cbuf_puts(c, "\n");
    emit_info(e, c);
    if (e->wfile)
        kiln_cgen_weights_functions(c, e->name, e->layout, &e->payload);
    if (e->threads > 1)
        emit_pool_functions(e, c);
    cbuf_puts(c, e->threads > 1 ? run_call_pool_text : run_call_text);
    emit_check(e, c);
    cbuf_puts(c, "\n/* kernel descriptors: the bytes kiln's lowering produced */\n");
    cbuf_put(c, e->descs.p ? e->descs.p : "", e->descs.len);
    emit_profile(e, c);
    cbuf_puts(c, "\n/* NAME_run and NAME_run_profiled; ns: NULL, or where each node's time goes */\n"
                 "static int run(const void *const *inputs, void *const *outputs, void *workspace, uint64_t *ns)\n{\n");
    if (ws_header(e)) {
        cbuf_printf(c, "    unsigned char *ws;\n    uint64_t t;\n%s%s"
                       "    int rc = check_args(inputs, outputs, workspace);\n"
                       "    if (rc)\n        return rc;\n",
                    e->wfile ? "    const unsigned char *W;\n" : "", e->threads > 1 ? "    krt_pool *pool;\n" : "");
        if (e->wfile)
            cbuf_printf(c, "    if (!(W = bound_weights(workspace))) /* %s_set_weights */\n"
                           "        return KILN_RUN_ENOWEIGHTS;\n    (void)W;\n", e->name);
        if (e->threads > 1)
            cbuf_printf(c, "    pool = bound_pool(workspace); /* %s_set_pool */\n    (void)pool;\n", e->name);
        cbuf_printf(c, "    /* the arena follows the workspace's 64-byte header */\n"
                       "    ws = (unsigned char *)workspace + %d;\n    (void)ws;\n", KILN_CGEN_WEIGHTS_HEADER);
    } else
        cbuf_puts(c, "    unsigned char *ws = workspace;\n    uint64_t t;\n"
                     "    int rc = check_args(inputs, outputs, workspace);\n"
                     "    if (rc)\n        return rc;\n    (void)ws;\n");
    cbuf_puts(c, "    t = ns ? krt_profile_now() : 0;\n    (void)t;\n");
    cbuf_put(c, e->body.p ? e->body.p : "", e->body.len);
    if (e->tail.len)
        cbuf_puts(c, "\n    /* graph outputs no node writes */\n");
    cbuf_put(c, e->tail.p ? e->tail.p : "", e->tail.len);
    cbuf_puts(c, "    return KILN_RUN_OK;\n}\n");
    cbuf_printf(c, "\nint %s_run(const void *const *inputs, void *const *outputs, void *workspace)\n{\n"
                   "    return run(inputs, outputs, workspace, NULL);\n}\n\n"
                   "int %s_run_profiled(const void *const *inputs, void *const *outputs, void *workspace, uint64_t *ns)\n{\n"
                   "%s    return run(inputs, outputs, workspace, ns);\n}\n", e->name, e->name,
                e->n_profiled ? "    if (!ns)\n        return KILN_RUN_EARG;\n" : "");
}

/* ---- NAME.h ----------------------------------------------------------- */

static void header_tensor_lines(emitter *e, cbuf *h, const char *what, const uint32_t *vals, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        cbuf_printf(h, " *   %s[%u]  ", what, i);
        describe_value(e, h, vals[i]);
        cbuf_puts(h, "\n");
    }
}

static void emit_header(emitter *e, cbuf *h, const char *model)
{
    cbuf_printf(h, "/* %s.h — generated by kiln from ", e->name);
    cbuf_comment(h, model);
    cbuf_puts(h, "; do not edit.\n *\n");
    header_tensor_lines(e, h, "inputs", e->g->inputs, e->g->n_inputs);
    header_tensor_lines(e, h, "outputs", e->g->outputs, e->g->n_outputs);
    cbuf_printf(h, " *\n * %s_run returns 0 or a KILN_RUN_* code; the workspace is %s_workspace_size()\n"
                   " * bytes aligned to 64. Reentrant: nothing global is written.\n */\n",
                e->name, e->name);
    cbuf_printf(h, "#ifndef KILN_MODEL_%s_H\n#define KILN_MODEL_%s_H\n\n"
                   "#include <stddef.h>\n#include \"kiln_model.h\"\n\n"
                   "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n"
                   "extern const kiln_model_info %s_info;\n"
                   "size_t %s_workspace_size(void);\n"
                   "int %s_run(const void *const *inputs, void *const *outputs, void *workspace);\n\n"
                   "/* The same run, timed: ns[i] gets the nanoseconds node i of %s_profile\n"
                   " * took (wall time; with a pool, across its threads). KILN_RUN_EARG when\n"
                   " * ns is NULL. */\n"
                   "extern const kiln_model_profile %s_profile;\n"
                   "int %s_run_profiled(const void *const *inputs, void *const *outputs, void *workspace,\n"
                   "                    uint64_t *ns);\n\n",
                e->name, e->name, e->name, e->name, e->name, e->name, e->name, e->name);
    if (e->wfile)
        kiln_cgen_weights_decls(h, e->name);
    if (e->threads > 1)
        cbuf_printf(h, "/* --threads %d: %s_run splits each kernel call over the krt_pool bound\n"
                       " * to the workspace (krt_pool.h, copied beside these sources), of at most\n"
                       " * %s_THREADS threads; results are bit-identical for any count. One pool\n"
                       " * per workspace: a pool serves one caller at a time.\n"
                       " *\n"
                       " *     struct krt_pool *pool = krt_pool_create(%s_THREADS);\n"
                       " *     int rc = %s_set_pool(workspace, pool);  // 0, or KILN_RUN_EARG\n"
                       " *\n"
                       " * A workspace with no pool bound (or NULL) runs on the caller's thread.\n"
                       " * %s_max_threads() returns %s_THREADS. */\n"
                       "#define %s_THREADS %d\nstruct krt_pool;\n"
                       "int %s_set_pool(void *workspace, struct krt_pool *pool);\n"
                       "int %s_max_threads(void);\n\n",
                    e->threads, e->name, e->name, e->name, e->name, e->name, e->name, e->name,
                    e->threads, e->name, e->name);
    cbuf_puts(h, "#ifdef __cplusplus\n}\n#endif\n\n#endif\n");
}

/* ---- driver ----------------------------------------------------------- */

static kiln_status check_graph(emitter *e)
{
    const kiln_graph *g = e->g;
    char shape[256];
    KILN_ASSERT(e->plan->n_values == g->n_values && e->plan->n_nodes == g->n_nodes);
    if (kiln_graph_check_data(e->ctx, g) != KILN_OK)
        return kiln_ctx_status(e->ctx);
    for (uint32_t k = 0; k < g->n_inputs; k++) {
        const kiln_value *v = &g->values[g->inputs[k]];
        if (!kiln_shape_is_static(&v->shape))
            return kiln_error(e->ctx, KILN_ERR_UNSUPPORTED,
                              "%s: input '%s' has shape %s: bind its dimensions with --shape %s=...",
                              g->source, v->name, kiln_shape_format(g, &v->shape, shape, sizeof shape),
                              v->name);
    }
    return KILN_OK;
}

static void map_slots(emitter *e)
{
    const kiln_graph *g = e->g;
    for (uint32_t k = 0; k < g->n_inputs; k++)
        e->in_slot[g->inputs[k]] = k + 1;
    for (uint32_t k = 0; k < g->n_outputs; k++)
        if (!e->out_slot[g->outputs[k]])
            e->out_slot[g->outputs[k]] = k + 1;
}

/* NAME_weights.c: the .incbin definitions where the build asks for them and
 * can take them, else the hex ones from NAME_weights_hex.h (a file of its
 * own: skipping 200 MB of hex in an #else still costs the preprocessor
 * seconds). */
static void weights_source(emitter *e, cbuf *w, cbuf *hex, const char *model)
{
    cbuf_printf(w, "/* %s_weights.c — generated by kiln from ", e->name);
    cbuf_comment(w, model);
    cbuf_printf(w, "; do not edit.\n"
                   " * Each tensor's bytes, packed little-endian into 64-bit words, defined one\n"
                   " * of two ways with the same symbols, sizes and bytes:\n"
                   " *  - built with -DKILN_WEIGHTS_BIN='\"PATH/%s_weights.bin\"' by a GNU-compatible\n"
                   " *    compiler for an ELF target (kiln compile and the Makefile do): read from\n"
                   " *    that file by the assembler's .incbin, which takes a moment whatever\n"
                   " *    the size (a relative PATH is from the compiler's working directory);\n"
                   " *  - otherwise: as hex, which any C99 compiler takes, slowly for a large model. */\n"
                   "#include <stdint.h>\n\n"
                   "#if defined(KILN_WEIGHTS_BIN) && defined(__GNUC__) && defined(__ELF__)\n",
                e->name);
    cbuf_put(w, e->incbin.p ? e->incbin.p : "", e->incbin.len);
    cbuf_printf(w, "\n#else\n#include \"%s_weights_hex.h\"\n#endif\n", e->name);
    cbuf_printf(hex, "/* %s_weights_hex.h — generated by kiln from ", e->name);
    cbuf_comment(hex, model);
    cbuf_printf(hex, "; do not edit.\n"
                     " * The weights as hex, for %s_weights.c when it does not take them\n"
                     " * from %s_weights.bin through .incbin (it says when). */\n\n"
                     "/* Cache-line alignment where the compiler can say it: C99 has no\n"
                     " * spelling for it, and no kernel depends on it. */\n"
                     "#if defined(__GNUC__)\n#define KILN_ALIGN64 __attribute__((aligned(64)))\n"
                     "#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L\n"
                     "#define KILN_ALIGN64 _Alignas(64)\n#else\n#define KILN_ALIGN64\n#endif\n",
                e->name, e->name);
    cbuf_put(hex, e->weights.p ? e->weights.p : "", e->weights.len);
}

kiln_status kiln_cgen_model(kiln_ctx *ctx, const kiln_graph *g, const kiln_plan *plan,
                            const char *name, const char *model, bool weights_file, int threads,
                            cbuf *c, cbuf *h, cbuf *w, cbuf *hex, cbuf *bin, bool *used,
                            kiln_cgen_stats *stats)
{
    emitter e = {.ctx = ctx, .g = g, .plan = plan, .name = name, .stats = stats,
                 .wfile = weights_file, .threads = threads > 1 ? threads : 1};
    kiln_status st = check_graph(&e);
    if (st)
        return st;
    e.in_slot = kiln_xcalloc(g->n_values, sizeof *e.in_slot);
    e.out_slot = kiln_xcalloc(g->n_values, sizeof *e.out_slot);
    e.weight_done = kiln_xcalloc(g->n_values, sizeof *e.weight_done);
    e.woff = kiln_xcalloc(g->n_values, sizeof *e.woff);
    e.arena = kiln_arena_create();
    map_slots(&e);
    for (uint32_t node = 1; node < g->n_nodes && st == KILN_OK; node++)
        st = emit_node(&e, node);
    if (st == KILN_OK)
        st = emit_output_copies(&e);
    if (st == KILN_OK) {
        emit_source(&e, c, model);
        emit_header(&e, h, model);
        if (e.wfile) {
            kiln_cgen_weights_file(w, name, e.layout, &e.payload);
        } else {
            weights_source(&e, w, hex, model);
            *bin = e.payload, e.payload = (cbuf){0};
        }
        memcpy(used, e.used, sizeof e.used);
    }
    cbuf_free(&e.descs), cbuf_free(&e.body), cbuf_free(&e.tail), cbuf_free(&e.profile);
    cbuf_free(&e.weights), cbuf_free(&e.incbin), cbuf_free(&e.wdecls), cbuf_free(&e.payload);
    free(e.in_slot), free(e.out_slot), free(e.weight_done), free(e.woff);
    kiln_arena_destroy(e.arena);
    return st;
}
