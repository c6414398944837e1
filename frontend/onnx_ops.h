/* onnx_ops.h — the ONNX operator table: which kiln op an ONNX
 * (domain, op_type) becomes at a given opset, and which upgrade function
 * rewrites that opset's form into kiln's canonical one
 * (docs/canonical-forms.md).
 *
 * One sorted table (onnx_ops.c), one row per (op, version where its form
 * changed for kiln). Lookup finds the op by binary search, then takes the
 * row with the highest since_version not above the model's opset. This
 * header has no protobuf types, so unit tests can walk the table.
 */
#ifndef KILN_ONNX_OPS_H
#define KILN_ONNX_OPS_H

#include "ir/ir.h"

typedef struct onnx_node onnx_node; /* onnx_internal.h */
typedef kiln_status (*onnx_upgrade_fn)(onnx_node *nd);

typedef struct onnx_op_row {
    const char *domain;       /* "" is the default ONNX domain (alias "ai.onnx") */
    const char *op_type;
    int since;                /* first opset with this form */
    kiln_op op;               /* the kiln op the node becomes */
    onnx_upgrade_fn upgrade;  /* rewrite to the canonical form; NULL: as is */
} onnx_op_row;

/* Sorted by (domain, op_type, since). */
extern const onnx_op_row onnx_op_rows[];
extern const size_t onnx_n_op_rows;

/* The row for op_type in `domain` at `opset`, or NULL. When the op is in
 * the table but opset is below its first version, returns NULL and sets
 * *first_since to that version (else 0). "ai.onnx" means "". */
const onnx_op_row *onnx_op_lookup(const char *domain, const char *op_type, int64_t opset,
                                  int *first_since /* OUT, may be NULL */);

/* Why a known ONNX op or domain is not supported ("control flow (sub-graphs)
 * is not supported"), or NULL when kiln just does not know it. */
const char *onnx_unsupported_reason(const char *domain, const char *op_type);

/* The newest default-domain opset whose forms the table knows. */
enum { ONNX_NEWEST_KNOWN_OPSET = 18 };

#endif
