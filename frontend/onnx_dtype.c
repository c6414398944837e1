/* onnx_dtype.c — ONNX TensorProto.DataType codes to kiln dtypes. */
#include "frontend/onnx_internal.h"

static const kiln_dtype from_onnx[] = {
    [ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT] = KILN_DT_F32,
    [ONNX__TENSOR_PROTO__DATA_TYPE__UINT8] = KILN_DT_U8,
    [ONNX__TENSOR_PROTO__DATA_TYPE__INT8] = KILN_DT_I8,
    [ONNX__TENSOR_PROTO__DATA_TYPE__UINT16] = KILN_DT_U16,
    [ONNX__TENSOR_PROTO__DATA_TYPE__INT16] = KILN_DT_I16,
    [ONNX__TENSOR_PROTO__DATA_TYPE__INT32] = KILN_DT_I32,
    [ONNX__TENSOR_PROTO__DATA_TYPE__INT64] = KILN_DT_I64,
    [ONNX__TENSOR_PROTO__DATA_TYPE__BOOL] = KILN_DT_BOOL,
    [ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16] = KILN_DT_F16,
    [ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE] = KILN_DT_F64,
    [ONNX__TENSOR_PROTO__DATA_TYPE__UINT32] = KILN_DT_U32,
    [ONNX__TENSOR_PROTO__DATA_TYPE__UINT64] = KILN_DT_U64,
    [ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16] = KILN_DT_BF16,
};

static const char *const onnx_code_names[] = {
    [ONNX__TENSOR_PROTO__DATA_TYPE__UNDEFINED] = "UNDEFINED",
    [ONNX__TENSOR_PROTO__DATA_TYPE__STRING] = "STRING",
    [ONNX__TENSOR_PROTO__DATA_TYPE__COMPLEX64] = "COMPLEX64",
    [ONNX__TENSOR_PROTO__DATA_TYPE__COMPLEX128] = "COMPLEX128",
};

kiln_dtype onnx_dtype_to_kiln(int32_t code)
{
    if (code < 0 || (size_t)code >= sizeof from_onnx / sizeof from_onnx[0])
        return KILN_DT_UNDEF;
    return from_onnx[code];
}

const char *onnx_dtype_name(int32_t code)
{
    kiln_dtype dt = onnx_dtype_to_kiln(code);
    if (dt != KILN_DT_UNDEF)
        return kiln_dtype_name(dt);
    if (code >= 0 && (size_t)code < sizeof onnx_code_names / sizeof onnx_code_names[0] && onnx_code_names[code])
        return onnx_code_names[code];
    return "unknown";
}
