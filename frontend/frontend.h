/* frontend.h — how models come into kiln.
 *
 * kiln_onnx_load parses an ONNX file into a kiln graph (the only code that
 * sees protobuf types is in this folder), canonicalizes old opset forms
 * into the newest one, and sorts the nodes; it does not run shape
 * inference, so that callers can bind input shapes first.
 */
#ifndef KILN_FRONTEND_H
#define KILN_FRONTEND_H

#include "ir/ir.h"

/* Largest model file accepted (protobuf's own limit). */
#define KILN_ONNX_MAX_FILE ((int64_t)2 << 30)
/* Deepest protobuf message nesting accepted (checked before parsing). */
#define KILN_ONNX_MAX_NESTING 64

/* Load `path`. On success *out is a new graph (kiln_graph_destroy). Errors
 * name the file and, where there is one, the node, op type and opset:
 * KILN_ERR_IO, KILN_ERR_INVALID, KILN_ERR_UNSUPPORTED. */
kiln_status kiln_onnx_load(kiln_ctx *ctx, const char *path, kiln_graph **out);

/* Read a serialized ONNX TensorProto (.pb), e.g. an ONNX test input.
 * out->data is malloc'd (free it); *name, if not NULL, receives the
 * tensor's name, malloc'd ("" when it has none). */
kiln_status kiln_onnx_read_tensor(kiln_ctx *ctx, const char *path, kiln_tensor *out,
                                  char **name);

#endif
