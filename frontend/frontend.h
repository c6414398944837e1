/* frontend.h — how models come into kiln.
 *
 * kiln_onnx_load parses an ONNX file into a kiln graph (the only code that
 * sees protobuf types is in this folder), canonicalizes old opset forms
 * into the newest one (docs/canonical-forms.md), and sorts the nodes; it
 * does not run shape inference, so that callers can bind input shapes
 * first. The file is untrusted input: its size, protobuf nesting, every
 * length and dimension product, and any external-data path are checked
 * before use (frontend/onnx_internal.h lists which file does what).
 */
#ifndef KILN_FRONTEND_H
#define KILN_FRONTEND_H

#include "ir/ir.h"

/* Largest model file accepted (protobuf's own limit). */
#define KILN_ONNX_MAX_FILE ((int64_t)2 << 30)
/* Deepest protobuf message nesting accepted (checked before parsing). */
#define KILN_ONNX_MAX_NESTING 64

/* Load `path`. On success *out is a new graph (kiln_graph_destroy). Its
 * constants borrow the model's raw_data in place: the unpacked model is
 * the graph's owner and lives as long as the graph. Declared types
 * (graph outputs, value_info) are set on their values for kiln_graph_infer
 * to check. Informational notes (an opset newer than kiln's table, a
 * value_info naming nothing) go to kiln_ctx_notes.
 * Errors name the file and, where there is one, the node (its name, or #k
 * for the k-th node of the model, from 0, when unnamed), op type, domain
 * and opset:
 *   KILN_ERR_IO           the file (or an external-data file) cannot be read
 *   KILN_ERR_INVALID      malformed protobuf, bad tensor, undefined or
 *                         duplicate name, conflicting declared types...
 *   KILN_ERR_UNSUPPORTED  valid ONNX that kiln does not handle (an operator,
 *                         domain, dtype, sub-graphs, sequences, sparse...)
 * On failure *out is NULL. */
kiln_status kiln_onnx_load(kiln_ctx *ctx, const char *path, kiln_graph **out);

/* Read a serialized ONNX TensorProto (.pb), e.g. an ONNX test input, with
 * the same checks as the tensors of a model (external data is looked up
 * next to the .pb file). out->data is malloc'd (free it; never NULL, even
 * for an empty tensor); *name, if not NULL, receives the tensor's name,
 * malloc'd ("" when it has none). */
kiln_status kiln_onnx_read_tensor(kiln_ctx *ctx, const char *path, kiln_tensor *out,
                                  char **name);

#endif
