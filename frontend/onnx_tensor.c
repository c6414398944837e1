/* onnx_tensor.c — TensorProto to a dense kiln tensor, and .pb tensor files.
 *
 * A TensorProto carries its elements in one of three places: raw_data
 * (little-endian bytes, borrowed in place when the caller allows it), a
 * typed field (float_data, int32_data, ... converted element by element
 * into an arena buffer) or an external file (onnx_external.c). Whichever it
 * is, the element count must match the dims exactly; every dims product is
 * overflow-checked. Which typed field holds which dtype, and the range each
 * element must fit, is one table (`typed`) rather than a switch.
 */
#include "frontend/onnx_internal.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "kiln borrows ONNX raw_data (little-endian) in place: big-endian hosts need a byte swap here"
#endif

/* The typed fields of TensorProto, by the offsets of their count and array. */
typedef enum field { F_FLOAT, F_INT32, F_INT64, F_DOUBLE, F_UINT64, F_COUNT } field;

static const struct field_info {
    const char *name;
    size_t count_at, data_at, size;
} fields[F_COUNT] = {
    [F_FLOAT] = {"float_data", offsetof(Onnx__TensorProto, n_float_data),
                 offsetof(Onnx__TensorProto, float_data), sizeof(float)},
    [F_INT32] = {"int32_data", offsetof(Onnx__TensorProto, n_int32_data),
                 offsetof(Onnx__TensorProto, int32_data), sizeof(int32_t)},
    [F_INT64] = {"int64_data", offsetof(Onnx__TensorProto, n_int64_data),
                 offsetof(Onnx__TensorProto, int64_data), sizeof(int64_t)},
    [F_DOUBLE] = {"double_data", offsetof(Onnx__TensorProto, n_double_data),
                  offsetof(Onnx__TensorProto, double_data), sizeof(double)},
    [F_UINT64] = {"uint64_data", offsetof(Onnx__TensorProto, n_uint64_data),
                  offsetof(Onnx__TensorProto, uint64_data), sizeof(uint64_t)},
};

/* Which field holds each dtype, and the range of its elements when the
 * field is wider than the dtype (narrow = true). f16/bf16 travel as their
 * 16-bit patterns in int32_data. */
static const struct typed_rule {
    field f;
    bool narrow;
    int64_t lo;
    uint64_t hi;
} typed[KILN_DT_COUNT] = {
    [KILN_DT_F32] = {F_FLOAT, false, 0, 0},
    [KILN_DT_F64] = {F_DOUBLE, false, 0, 0},
    [KILN_DT_F16] = {F_INT32, true, 0, 0xffff},
    [KILN_DT_BF16] = {F_INT32, true, 0, 0xffff},
    [KILN_DT_I8] = {F_INT32, true, INT8_MIN, INT8_MAX},
    [KILN_DT_I16] = {F_INT32, true, INT16_MIN, INT16_MAX},
    [KILN_DT_I32] = {F_INT32, false, 0, 0},
    [KILN_DT_I64] = {F_INT64, false, 0, 0},
    [KILN_DT_U8] = {F_INT32, true, 0, UINT8_MAX},
    [KILN_DT_U16] = {F_INT32, true, 0, UINT16_MAX},
    [KILN_DT_U32] = {F_UINT64, true, 0, UINT32_MAX},
    [KILN_DT_U64] = {F_UINT64, false, 0, 0},
    [KILN_DT_BOOL] = {F_INT32, true, 0, 1},
};

static size_t field_count(const Onnx__TensorProto *t, field f)
{
    return *(const size_t *)((const char *)t + fields[f].count_at);
}

static const void *field_data(const Onnx__TensorProto *t, field f)
{
    return *(const void *const *)((const char *)t + fields[f].data_at);
}

static kiln_status fail(const onnx_tensor_src *src, kiln_status st, const char *what,
                        const char *fmt, ...) KILN_PRINTF(4, 5);

static kiln_status fail(const onnx_tensor_src *src, kiln_status st, const char *what,
                        const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return kiln_error(src->ctx, st, "%s: %s: %s", src->path, what, msg);
}

/* ---- dtype and shape ------------------------------------------------------ */

static kiln_status tensor_dtype(const onnx_tensor_src *src, const Onnx__TensorProto *t,
                                const char *what, kiln_dtype *dt)
{
    int32_t code = t->has_data_type ? t->data_type : 0;
    *dt = onnx_dtype_to_kiln(code);
    if (*dt != KILN_DT_UNDEF)
        return KILN_OK;
    if (code == ONNX__TENSOR_PROTO__DATA_TYPE__UNDEFINED)
        return kiln_error(src->ctx, KILN_ERR_INVALID, "%s: %s: the tensor has no data_type",
                          src->path, what);
    return kiln_error(src->ctx, KILN_ERR_UNSUPPORTED, "%s: %s: unsupported dtype %s (code %d)",
                      src->path, what, onnx_dtype_name(code), (int)code);
}

static kiln_status tensor_shape(const onnx_tensor_src *src, const Onnx__TensorProto *t,
                                const char *what, kiln_shape *shape, int64_t *numel)
{
    if (t->n_dims > KILN_MAX_RANK)
        return fail(src, KILN_ERR_UNSUPPORTED, what, "rank %zu is above kiln's maximum of %d",
                    t->n_dims, KILN_MAX_RANK);
    *shape = kiln_shape_make((int)t->n_dims, t->dims);
    *numel = 1;
    for (size_t i = 0; i < t->n_dims; i++) {
        if (t->dims[i] < 0)
            return fail(src, KILN_ERR_INVALID, what, "dimension %zu is negative (%lld)", i,
                        (long long)t->dims[i]);
        if (!kiln_mul_size(*numel, t->dims[i], numel))
            return fail(src, KILN_ERR_INVALID, what,
                        "the element count overflows at dimension %zu (%lld)", i,
                        (long long)t->dims[i]);
    }
    return KILN_OK;
}

/* ---- the three data sources ----------------------------------------------- */

static void *alloc_data(const onnx_tensor_src *src, size_t nbytes)
{
    return kiln_arena_alloc(src->arena, nbytes ? nbytes : 1, 64);
}

static kiln_status from_raw(const onnx_tensor_src *src, const Onnx__TensorProto *t,
                            const char *what, kiln_tensor *out)
{
    const ProtobufCBinaryData *raw = &t->raw_data;
    size_t esize = kiln_dtype_size(out->dtype);
    char dims[256];
    if (raw->len != out->nbytes)
        return fail(src, KILN_ERR_INVALID, what,
                    "raw_data has %zu bytes, but dims %s of %s need %zu", raw->len,
                    kiln_shape_format(NULL, &out->shape, dims, sizeof dims),
                    kiln_dtype_name(out->dtype), out->nbytes);
    bool aligned = raw->data && (uintptr_t)raw->data % (esize < 8 ? esize : 8) == 0;
    if (src->borrow && aligned && out->nbytes) {
        out->data = raw->data;
        return KILN_OK;
    }
    void *d = alloc_data(src, out->nbytes);
    if (out->nbytes)
        memcpy(d, raw->data, out->nbytes);
    out->data = d;
    return KILN_OK;
}

/* Narrowing copy of int32_data / uint64_data, every element range-checked;
 * the low bytes of the value are the element (little-endian host). */
static kiln_status narrow(const onnx_tensor_src *src, const char *what, kiln_dtype dt,
                          const void *in, size_t n, uint8_t *outp)
{
    const struct typed_rule *r = &typed[dt];
    size_t esize = kiln_dtype_size(dt);
    for (size_t k = 0; k < n; k++) {
        int64_t v = r->f == F_INT32 ? ((const int32_t *)in)[k] : 0;
        uint64_t u = r->f == F_UINT64 ? ((const uint64_t *)in)[k] : (uint64_t)v;
        bool ok = r->f == F_UINT64 ? u <= r->hi : v >= r->lo && (v < 0 || (uint64_t)v <= r->hi);
        if (!ok)
            return fail(src, KILN_ERR_INVALID, what, "%s element %zu (%lld) is out of range for %s",
                        fields[r->f].name, k, r->f == F_UINT64 ? (long long)u : (long long)v,
                        kiln_dtype_name(dt));
        memcpy(outp + k * esize, r->f == F_UINT64 ? (const void *)&u : (const void *)&v, esize);
    }
    return KILN_OK;
}

static kiln_status from_typed(const onnx_tensor_src *src, const Onnx__TensorProto *t,
                              const char *what, int64_t numel, kiln_tensor *out)
{
    const struct typed_rule *r = &typed[out->dtype];
    size_t n = field_count(t, r->f);
    if ((int64_t)n != numel)
        return fail(src, KILN_ERR_INVALID, what, "%s has %zu values, but the dims need %lld (%s)",
                    fields[r->f].name, n, (long long)numel, kiln_dtype_name(out->dtype));
    uint8_t *d = alloc_data(src, out->nbytes);
    out->data = d;
    if (!r->narrow) {
        if (n)
            memcpy(d, field_data(t, r->f), out->nbytes);
        return KILN_OK;
    }
    return narrow(src, what, out->dtype, field_data(t, r->f), n, d);
}

static bool has_typed_data(const Onnx__TensorProto *t)
{
    for (int f = 0; f < F_COUNT; f++)
        if (field_count(t, (field)f))
            return true;
    return t->n_string_data > 0;
}

static kiln_status check_plain(const onnx_tensor_src *src, const Onnx__TensorProto *t,
                               const char *what)
{
    if (t->segment)
        return kiln_error(src->ctx, KILN_ERR_UNSUPPORTED,
                          "%s: %s: segmented tensors are not supported", src->path, what);
    if (t->has_raw_data && has_typed_data(t))
        return kiln_error(src->ctx, KILN_ERR_INVALID,
                          "%s: %s: the tensor has both raw_data and typed data", src->path, what);
    bool external = t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    if (external && (t->has_raw_data || has_typed_data(t)))
        return kiln_error(src->ctx, KILN_ERR_INVALID,
                          "%s: %s: the tensor is stored as external data but also holds %s; "
                          "one of them would be ignored", src->path, what,
                          t->has_raw_data ? "raw_data" : "typed data");
    return KILN_OK;
}

kiln_status onnx_tensor_convert(const onnx_tensor_src *src, const Onnx__TensorProto *t,
                                const char *what, kiln_tensor *out)
{
    int64_t numel, nbytes;
    memset(out, 0, sizeof *out);
    kiln_status st = tensor_dtype(src, t, what, &out->dtype);
    if (!st)
        st = check_plain(src, t, what);
    if (!st)
        st = tensor_shape(src, t, what, &out->shape, &numel);
    if (st)
        return st;
    if (!kiln_mul_size(numel, (int64_t)kiln_dtype_size(out->dtype), &nbytes) ||
        (uint64_t)nbytes > SIZE_MAX / 2)
        return fail(src, KILN_ERR_INVALID, what, "the byte size overflows (%lld elements)",
                    (long long)numel);
    out->nbytes = (size_t)nbytes;
    if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return onnx_external_read(src, t, what, out->nbytes, &out->data);
    if (t->has_raw_data)
        return from_raw(src, t, what, out);
    return from_typed(src, t, what, numel, out);
}

/* ---- .pb files -------------------------------------------------------------- */

static kiln_status read_tensor_in(kiln_ctx *ctx, const char *path, kiln_arena *arena,
                                  kiln_tensor *out, char **name)
{
    uint8_t *buf;
    size_t len;
    onnx_file_id id;
    kiln_status st = onnx_read_file(ctx, path, &buf, &len, &id);
    if (!st)
        st = onnx_prescan(ctx, path, &onnx__tensor_proto__descriptor, buf, len);
    ProtobufCAllocator alloc = onnx_arena_allocator(arena);
    Onnx__TensorProto *t = st ? NULL : onnx__tensor_proto__unpack(&alloc, len, buf);
    free(buf);
    if (!st && !t)
        st = kiln_error(ctx, KILN_ERR_INVALID, "%s: not a valid ONNX TensorProto file", path);
    if (st)
        return st;
    const char *tname = t->name ? t->name : "";
    char what[300], *dir = onnx_dir_of(path);
    snprintf(what, sizeof what, "tensor '%.256s'", tname);
    onnx_tensor_src src = {.ctx = ctx, .path = path, .dir = dir, .arena = arena, .borrow = true, .model = id};
    st = onnx_tensor_convert(&src, t, what, out);
    free(dir);
    if (!st && name)
        *name = strcpy(kiln_xrealloc(NULL, strlen(tname) + 1), tname);
    return st;
}

kiln_status kiln_onnx_read_tensor(kiln_ctx *ctx, const char *path, kiln_tensor *out, char **name)
{
    kiln_arena *arena = kiln_arena_create();
    kiln_tensor t;
    kiln_status st = read_tensor_in(ctx, path, arena, &t, name);
    if (!st) {
        *out = t;
        void *d = kiln_xrealloc(NULL, t.nbytes ? t.nbytes : 1);
        if (t.nbytes)
            memcpy(d, t.data, t.nbytes);
        out->data = d;
    }
    kiln_arena_destroy(arena);
    return st;
}
