/* onnx_internal.h — shared inside frontend/ only: the generated protobuf
 * types never leave this folder.
 *
 * The loader is split by stage, one file each:
 *   onnx_read.c      file -> bytes -> wire-format pre-scan -> unpacked model
 *   onnx_tensor.c    TensorProto -> dense kiln tensor (raw, typed, external)
 *   onnx_external.c  external data files, confined to the model's directory
 *   onnx_load.c      the graph: opsets, initializers, inputs, outputs, types
 *   onnx_node.c      nodes: names, Constant, attributes, emitting kiln nodes
 *   onnx_ops.c       the (domain, op_type, since_version) table
 *   onnx_upgrade.c   rewrites of older operator forms (docs/canonical-forms.md)
 */
#ifndef KILN_ONNX_INTERNAL_H
#define KILN_ONNX_INTERNAL_H

#include "frontend/frontend.h"
#include "frontend/onnx_ops.h"
#include "onnx/onnx.pb-c.h"

/* ---- dtypes (onnx_dtype.c) ----------------------------------------------- */

/* KILN_DT_UNDEF for types kiln does not support (string, complex...). */
kiln_dtype onnx_dtype_to_kiln(int32_t code);
/* "f32", "STRING", ... for messages. */
const char *onnx_dtype_name(int32_t code);

/* ---- reading and unpacking (onnx_read.c) --------------------------------- */

/* The whole of a regular file of at most KILN_ONNX_MAX_FILE bytes, in a
 * malloc'd buffer (free it). KILN_ERR_IO / KILN_ERR_INVALID naming path. */
/* Which file it was (external data must not name the model itself). */
typedef struct onnx_file_id {
    uint64_t dev, ino;
    bool known;
} onnx_file_id;
kiln_status onnx_read_file(kiln_ctx *ctx, const char *path, uint8_t **buf, size_t *len,
                           onnx_file_id *id /* OUT, may be NULL */);
/* Walks the wire format of a `desc` message before protobuf-c sees it:
 * every tag, wire type and length must be well formed and in bounds, and
 * message-typed fields (found through the generated descriptors, so the
 * walk follows the .proto exactly) may nest at most KILN_ONNX_MAX_NESTING
 * deep. protobuf-c recurses without a limit; this keeps it safe. */
kiln_status onnx_prescan(kiln_ctx *ctx, const char *path, const ProtobufCMessageDescriptor *desc,
                         const uint8_t *buf, size_t len);
/* A protobuf-c allocator drawing from `arena` (free is a no-op; the arena
 * goes all at once). Blocks of 64 bytes or more are 64-byte aligned, so
 * raw_data buffers can be borrowed as tensor data. */
ProtobufCAllocator onnx_arena_allocator(kiln_arena *arena);

/* ---- tensors (onnx_tensor.c, onnx_external.c) ---------------------------- */

/* Where a tensor's bytes end up. */
typedef struct onnx_tensor_src {
    kiln_ctx *ctx;
    const char *path;     /* file named in messages */
    const char *dir;      /* external data is looked up under this directory */
    kiln_arena *arena;    /* converted and external data go here */
    bool borrow;          /* raw_data may be used in place (it outlives the result) */
    onnx_file_id model;   /* the model file: not external data */
} onnx_tensor_src;

/* TensorProto -> dense tensor. `what` names it in messages ("initializer
 * 'w'"). Data is borrowed from raw_data or allocated in src->arena; never
 * NULL, even for empty tensors (a constant's data pointer means "known"). */
kiln_status onnx_tensor_convert(const onnx_tensor_src *src, const Onnx__TensorProto *t,
                                const char *what, kiln_tensor *out /* OUT */);
/* Reads the `nbytes` of an external-data tensor into src->arena. */
kiln_status onnx_external_read(const onnx_tensor_src *src, const Onnx__TensorProto *t,
                               const char *what, size_t nbytes, const void **data /* OUT */);
/* The directory part of path ("." when none), malloc'd. */
char *onnx_dir_of(const char *path);

/* ---- the import state (onnx_load.c, onnx_node.c) ------------------------- */

/* Names to value indices (ONNX names are unique: SSA). Open addressing. */
typedef struct onnx_names {
    const char **keys;    /* arena strings; NULL = empty slot */
    uint32_t *vals;
    uint32_t cap, n;      /* cap is a power of two */
} onnx_names;

typedef struct onnx_import {
    kiln_ctx *ctx;
    kiln_graph *g;
    const char *path;     /* the model file, for messages */
    const Onnx__ModelProto *model;
    onnx_tensor_src tensors; /* borrow from the model, convert into g->arena */
    onnx_names names;
    kiln_arena *scratch;  /* per-node temporaries, reset between nodes */
    kiln_status deferred; /* an unsupported graph input/output type, reported */
    char *deferred_msg;   /* only if nothing else fails first (malloc'd) */
} onnx_import;

uint32_t onnx_names_find(const onnx_names *m, const char *name); /* 0 if absent */
void onnx_names_put(onnx_names *m, const char *name, uint32_t value); /* name must outlive m */
void onnx_names_free(onnx_names *m);

/* TypeProto -> dtype and shape (dim_param -> named symbol, neither ->
 * anonymous symbol). Non-tensor types and unsupported dtypes are errors
 * naming `what`. */
kiln_status onnx_type(onnx_import *imp, const Onnx__TypeProto *tp, const char *what,
                      kiln_dtype *dt /* OUT */, kiln_shape *shape /* OUT */);

/* Pass 0: every node's operator is in the opset table (so an unsupported
 * operator is what gets reported, not a type it uses). */
kiln_status onnx_nodes_check(onnx_import *imp);
/* Pass A: every node's outputs get values (Constant nodes become constants). */
kiln_status onnx_nodes_declare(onnx_import *imp);
/* Pass B: every other node becomes kiln node(s), canonicalized. */
kiln_status onnx_nodes_build(onnx_import *imp);

/* ---- one node (onnx_node.c), the API of the upgrade functions ----------- */

struct onnx_node {
    onnx_import *imp;
    const Onnx__NodeProto *proto;
    uint32_t index;       /* position in graph.node: names unnamed nodes */
    const char *domain;   /* as written in the model */
    int64_t opset;        /* the model's opset for that domain */
    kiln_op op;           /* from the table row */
    uint32_t *ins, n_in;  /* resolved inputs (0 = absent); room for n_in + ONNX_SPARE_INPUTS */
    uint32_t *outs, n_out;/* the values pass A created (0 = absent optional) */
    uint32_t id;          /* the kiln node once emitted, else 0 */
};
enum { ONNX_SPARE_INPUTS = 8 };

/* A node for messages: "'name'", "producing 'y'" or "#index" (onnx_node.c). */
const char *onnx_node_who(const Onnx__NodeProto *p, size_t index, char *buf, size_t size);
/* Record "<file>: node 'name' (Op, domain 'd', opset N): <message>". */
kiln_status onnx_node_fail(const onnx_node *nd, kiln_status st, const char *fmt, ...)
    KILN_PRINTF(3, 4);
/* The node's attribute `name`, or NULL. */
const Onnx__AttributeProto *onnx_attr(const onnx_node *nd, const char *name);
/* Its type (taken from the field that is set when `type` is missing). */
Onnx__AttributeProto__AttributeType onnx_attr_type(const Onnx__AttributeProto *a);
/* Adds the kiln node (nd->op, nd->ins, nd->outs) with every ONNX attribute
 * converted, except those named in `skip` (NULL-terminated, may be NULL). */
kiln_status onnx_emit(onnx_node *nd, const char *const *skip);
/* A further node an upgrade needs (named "<node>/<suffix>"); no attributes. */
uint32_t onnx_add_node(onnx_node *nd, kiln_op op, const char *suffix, const uint32_t *ins,
                       uint32_t n_in, const uint32_t *outs, uint32_t n_out);
/* A fresh value named "<first output>/<suffix>", unique in the graph. */
uint32_t onnx_fresh_value(onnx_node *nd, const char *suffix);
/* A constant (data copied) named after the node's first output. */
uint32_t onnx_const(onnx_node *nd, const char *suffix, kiln_dtype dt, const kiln_shape *shape,
                    const void *data, size_t nbytes);
uint32_t onnx_const_i64(onnx_node *nd, const char *suffix, const int64_t *v, uint32_t n,
                        bool scalar);
/* A scalar constant of dtype dt (a float type) holding v. */
uint32_t onnx_const_float(onnx_node *nd, const char *suffix, kiln_dtype dt, double v);
/* What the importer knows about a value before inference (declared,
 * constant or graph input): its rank (-1 unknown) and dtype. */
int onnx_known_rank(const onnx_node *nd, uint32_t v);
kiln_dtype onnx_known_dtype(const onnx_node *nd, uint32_t v);
/* True when a node or a graph output uses the ONNX value `name`. */
bool onnx_name_is_used(const onnx_import *imp, const char *name);


/* ---- upgrade functions (onnx_upgrade.c), named in the table ------------- */

kiln_status up_axes_attr(onnx_node *nd);
kiln_status up_batchnorm(onnx_node *nd);
kiln_status up_broadcast(onnx_node *nd);
kiln_status up_cast(onnx_node *nd);
kiln_status up_cast_name(onnx_node *nd);
kiln_status up_clip_attrs(onnx_node *nd);
kiln_status up_concat_axis(onnx_node *nd);
kiln_status up_consumed(onnx_node *nd);
kiln_status up_dropout(onnx_node *nd);
kiln_status up_eyelike(onnx_node *nd);
kiln_status up_gemm_broadcast(onnx_node *nd);
kiln_status up_lp_p(onnx_node *nd);
kiln_status up_pad_attrs(onnx_node *nd);
kiln_status up_prelu_channel(onnx_node *nd);
kiln_status up_reshape_attr(onnx_node *nd);
kiln_status up_resize10(onnx_node *nd);
kiln_status up_rnn_v1(onnx_node *nd);
kiln_status up_slice_attrs(onnx_node *nd);
kiln_status up_softmax_2d(onnx_node *nd);
kiln_status up_split_attr(onnx_node *nd);
kiln_status up_split_outputs(onnx_node *nd);
kiln_status up_tile_v1(onnx_node *nd);
kiln_status up_topk_attr(onnx_node *nd);
kiln_status up_upsample1(onnx_node *nd);
kiln_status up_upsample7(onnx_node *nd);
kiln_status up_upsample9(onnx_node *nd);

#endif
