/* onnx_internal.h — shared inside frontend/ only: the generated protobuf
 * types never leave this folder. */
#ifndef KILN_ONNX_INTERNAL_H
#define KILN_ONNX_INTERNAL_H

#include "frontend/frontend.h"
#include "onnx/onnx.pb-c.h"

/* KILN_DT_UNDEF for types kiln does not support (string, complex...). */
kiln_dtype onnx_dtype_to_kiln(int32_t code);
/* "f32", "STRING", ... for messages. */
const char *onnx_dtype_name(int32_t code);

#endif
