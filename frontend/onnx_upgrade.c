/* onnx_upgrade.c — older ONNX operator forms rewritten into kiln's one
 * canonical form per op (docs/canonical-forms.md is the contract).
 *
 * Each function is named in a row of the opset table (onnx_ops.c) and gets
 * a node whose inputs are resolved and whose outputs have values. It edits
 * nd->ins / nd->outs, calls onnx_emit (which converts the attributes it is
 * not told to skip), then sets the canonical attributes; extra nodes
 * (Flatten, Reshape, CastLike, Unsqueeze...) come from onnx_add_node.
 * A form that kiln cannot express canonically is refused with a message
 * saying why and what to do. Before inference the importer knows only the
 * declared types (graph inputs, constants, value_info), so rewrites that
 * need a rank or dtype use those and otherwise fall back to a form that
 * works for any type (CastLike), or refuse.
 */
#include "frontend/onnx_internal.h"

#include <math.h>
#include <string.h>

#define SKIP(...) ((const char *const[]){__VA_ARGS__, NULL})

typedef Onnx__AttributeProto__AttributeType attr_type;
#define A_FLOAT ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT
#define A_INT ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT
#define A_STRING ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING
#define A_FLOATS ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS
#define A_INTS ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS

/* ---- reading attributes ---------------------------------------------------- */

/* The attribute `name` if present with type `want`; NULL if absent; an
 * error when present with another type. */
static kiln_status attr_of(onnx_node *nd, const char *name, attr_type want,
                           const Onnx__AttributeProto **out)
{
    static const char *const names[] = {[A_FLOAT] = "a float", [A_INT] = "an int",
                                        [A_STRING] = "a string", [A_FLOATS] = "a list of floats",
                                        [A_INTS] = "a list of ints"};
    *out = onnx_attr(nd, name);
    if (*out && onnx_attr_type(*out) != want)
        return onnx_node_fail(nd, KILN_ERR_INVALID, "attribute '%s' must be %s", name, names[want]);
    return KILN_OK;
}

static kiln_status attr_int(onnx_node *nd, const char *name, int64_t dflt, int64_t *v)
{
    const Onnx__AttributeProto *a;
    kiln_status st = attr_of(nd, name, A_INT, &a);
    *v = a ? a->i : dflt;
    return st;
}

static kiln_status attr_string(onnx_node *nd, const char *name, const char *dflt, char *buf,
                               size_t size)
{
    const Onnx__AttributeProto *a;
    kiln_status st = attr_of(nd, name, A_STRING, &a);
    size_t n = st ? 0 : a ? (a->s.len < size ? a->s.len : size - 1) : strlen(dflt);
    if (n)
        memcpy(buf, a ? (const char *)a->s.data : dflt, n);
    buf[n] = 0;
    return st;
}

static kiln_status require(onnx_node *nd, const char *name)
{
    if (!onnx_attr(nd, name))
        return onnx_node_fail(nd, KILN_ERR_INVALID, "attribute '%s' is required", name);
    return KILN_OK;
}

/* ---- building blocks --------------------------------------------------------- */

static void set_input(onnx_node *nd, uint32_t pos, uint32_t v)
{
    KILN_ASSERT(pos < ONNX_SPARE_INPUTS || pos < nd->n_in);
    while (nd->n_in <= pos)
        nd->ins[nd->n_in++] = 0;
    nd->ins[pos] = v;
}

/* A list-of-ints attribute becomes an i64 1-D constant at input `pos`
 * (absent attribute: the input stays absent). */
static kiln_status ints_to_input(onnx_node *nd, const char *name, uint32_t pos)
{
    const Onnx__AttributeProto *a;
    kiln_status st = attr_of(nd, name, A_INTS, &a);
    if (!st && a)
        set_input(nd, pos, onnx_const_i64(nd, name, a->ints, (uint32_t)a->n_ints, false));
    return st;
}

/* A scalar with the dtype of value `like`: a constant when that dtype is a
 * known float type, else CastLike(f32 constant, like). */
static uint32_t scalar_like(onnx_node *nd, const char *suffix, double v, uint32_t like)
{
    kiln_dtype dt = onnx_known_dtype(nd, like);
    if (kiln_dtype_is_float(dt))
        return onnx_const_float(nd, suffix, dt, v);
    uint32_t c = onnx_const_float(nd, suffix, KILN_DT_F32, v);
    uint32_t out = onnx_fresh_value(nd, suffix);
    onnx_add_node(nd, KILN_OP_CASTLIKE, suffix, (const uint32_t[]){c, like}, 2, &out, 1);
    return out;
}

/* A float attribute becomes a scalar input of the data's dtype. */
static kiln_status float_to_input(onnx_node *nd, const char *name, uint32_t pos)
{
    const Onnx__AttributeProto *a;
    kiln_status st = attr_of(nd, name, A_FLOAT, &a);
    if (!st && a)
        set_input(nd, pos, scalar_like(nd, name, a->f, nd->ins[0]));
    return st;
}

/* An ONNX TensorProto.DataType code as kiln's dtype name attribute. */
static kiln_status dtype_attr(onnx_node *nd, const char *name, int64_t code)
{
    kiln_dtype dt = code >= 0 && code <= INT32_MAX ? onnx_dtype_to_kiln((int32_t)code) : KILN_DT_UNDEF;
    if (dt == KILN_DT_UNDEF)
        return onnx_node_fail(nd, KILN_ERR_UNSUPPORTED, "%s = %s (code %lld) is not supported",
                              name, onnx_dtype_name((int32_t)code), (long long)code);
    kiln_attr_set_string(nd->imp->g, nd->id, name, kiln_dtype_name(dt));
    return KILN_OK;
}

/* ---- attributes that simply went away ----------------------------------------- */

kiln_status up_consumed(onnx_node *nd)
{
    return onnx_emit(nd, SKIP("consumed_inputs"));
}

kiln_status up_gemm_broadcast(onnx_node *nd)
{
    /* broadcast = 1 allowed C to broadcast unidirectionally: numpy rules
     * cover that, and broadcast = 0 (same shape) is a special case */
    return onnx_emit(nd, SKIP("broadcast"));
}

kiln_status up_rnn_v1(onnx_node *nd)
{
    /* output_sequence only said whether Y is produced; a named Y says so */
    return onnx_emit(nd, SKIP("output_sequence"));
}

kiln_status up_tile_v1(onnx_node *nd)
{
    return onnx_node_fail(nd, KILN_ERR_UNSUPPORTED,
                          "Tile before opset 6 (scalar tiles and axis inputs) is not supported; "
                          "re-export the model with opset 6 or newer");
}

/* ---- legacy broadcasting (opset < 7) ------------------------------------------ */

/* Input 1 gets trailing 1-dims so that numpy broadcasting puts its dims at
 * `axis` of input 0: Unsqueeze(B, [rb .. ra-axis-1]). */
static kiln_status align_at_axis(onnx_node *nd, int64_t axis)
{
    int ra = onnx_known_rank(nd, nd->ins[0]), rb = onnx_known_rank(nd, nd->ins[1]);
    if (ra < 0 || rb < 0)
        return onnx_node_fail(nd, KILN_ERR_UNSUPPORTED,
                              "legacy broadcast with axis = %lld needs the ranks of both inputs, "
                              "which the model does not declare; add value_info for them or "
                              "re-export with opset 7 or newer", (long long)axis);
    if (axis < 0)
        axis += ra;
    if (axis < 0 || axis + rb > ra)
        return onnx_node_fail(nd, KILN_ERR_INVALID,
                              "broadcast axis %lld does not fit input 1 (rank %d) into input 0 (rank %d)",
                              (long long)axis, rb, ra);
    int64_t axes[KILN_MAX_RANK];
    uint32_t n = (uint32_t)(ra - axis - rb);
    if (n == 0)
        return KILN_OK; /* trailing alignment: what numpy does anyway */
    for (uint32_t k = 0; k < n; k++)
        axes[k] = rb + (int64_t)k;
    uint32_t c = onnx_const_i64(nd, "broadcast_axes", axes, n, false);
    uint32_t b = onnx_fresh_value(nd, "broadcast");
    onnx_add_node(nd, KILN_OP_UNSQUEEZE, "broadcast", (const uint32_t[]){nd->ins[1], c}, 2, &b, 1);
    nd->ins[1] = b;
    return KILN_OK;
}

kiln_status up_broadcast(onnx_node *nd)
{
    int64_t bcast;
    kiln_status st = attr_int(nd, "broadcast", 0, &bcast);
    const Onnx__AttributeProto *axis;
    if (!st)
        st = attr_of(nd, "axis", A_INT, &axis);
    if (!st && bcast && axis)
        st = align_at_axis(nd, axis->i);
    return st ? st : onnx_emit(nd, SKIP("consumed_inputs", "broadcast", "axis"));
}

/* PRelu < 7: a 1-D slope holds one value per channel (axis 1). */
kiln_status up_prelu_channel(onnx_node *nd)
{
    const kiln_value *s = nd->ins[1] ? &nd->imp->g->values[nd->ins[1]] : NULL;
    int rx = onnx_known_rank(nd, nd->ins[0]);
    int64_t numel;
    bool single = s && kiln_shape_numel(&s->shape, &numel) && numel == 1;
    if (s && !single && (s->shape.rank < 0 || (s->shape.rank == 1 && rx < 0)))
        return onnx_node_fail(nd, KILN_ERR_UNSUPPORTED,
                              "PRelu before opset 7 applies a 1-D slope per channel; kiln needs the "
                              "ranks of X and slope to express that, and the model does not "
                              "declare them (add value_info or re-export with opset 7 or newer)");
    if (s && !single && s->shape.rank == 1 && rx > 2) {
        int64_t axes[KILN_MAX_RANK];
        for (int k = 0; k < rx - 2; k++)
            axes[k] = k + 1;
        uint32_t c = onnx_const_i64(nd, "slope_axes", axes, (uint32_t)(rx - 2), false);
        uint32_t v = onnx_fresh_value(nd, "slope");
        onnx_add_node(nd, KILN_OP_UNSQUEEZE, "slope", (const uint32_t[]){nd->ins[1], c}, 2, &v, 1);
        nd->ins[1] = v;
    }
    return onnx_emit(nd, SKIP("consumed_inputs"));
}

/* ---- dtype attributes as kiln names ---------------------------------------------- */

static kiln_status cast_to(onnx_node *nd, int64_t code)
{
    kiln_status st = onnx_emit(nd, SKIP("to"));
    return st ? st : dtype_attr(nd, "to", code);
}

kiln_status up_cast(onnx_node *nd)
{
    int64_t code;
    kiln_status st = require(nd, "to");
    if (!st)
        st = attr_int(nd, "to", 0, &code);
    return st ? st : cast_to(nd, code);
}

/* Cast-1 named the type as a string ("FLOAT"); later ones use the code. */
kiln_status up_cast_name(onnx_node *nd)
{
    const Onnx__AttributeProto *a = onnx_attr(nd, "to");
    char name[64];
    if (!a || onnx_attr_type(a) != A_STRING)
        return up_cast(nd);
    kiln_status st = attr_string(nd, "to", "", name, sizeof name);
    const ProtobufCEnumValue *e =
        protobuf_c_enum_descriptor_get_value_by_name(&onnx__tensor_proto__data_type__descriptor, name);
    if (!st && !e)
        st = onnx_node_fail(nd, KILN_ERR_INVALID, "to = '%s' is not an ONNX data type", name);
    return st ? st : cast_to(nd, e->value);
}

kiln_status up_eyelike(onnx_node *nd)
{
    const Onnx__AttributeProto *a;
    kiln_status st = attr_of(nd, "dtype", A_INT, &a);
    if (!st)
        st = onnx_emit(nd, SKIP("dtype"));
    return st || !a ? st : dtype_attr(nd, "dtype", a->i);
}

/* ---- attributes that became inputs ------------------------------------------------ */

kiln_status up_axes_attr(onnx_node *nd)
{
    kiln_status st = ints_to_input(nd, "axes", 1);
    return st ? st : onnx_emit(nd, SKIP("axes"));
}

kiln_status up_reshape_attr(onnx_node *nd)
{
    kiln_status st = require(nd, "shape");
    if (!st)
        st = ints_to_input(nd, "shape", 1);
    return st ? st : onnx_emit(nd, SKIP("shape", "consumed_inputs"));
}

kiln_status up_split_attr(onnx_node *nd)
{
    /* Split-1 could also take `split` as its second input */
    kiln_status st = nd->n_in >= 2 && nd->ins[1] ? KILN_OK : ints_to_input(nd, "split", 1);
    return st ? st : onnx_emit(nd, SKIP("split"));
}

kiln_status up_split_outputs(onnx_node *nd)
{
    int64_t n;
    kiln_status st = attr_int(nd, "num_outputs", nd->n_out, &n);
    if (!st && n != nd->n_out)
        st = onnx_node_fail(nd, KILN_ERR_INVALID, "num_outputs = %lld but the node has %u outputs",
                            (long long)n, nd->n_out);
    return st ? st : onnx_emit(nd, SKIP("num_outputs"));
}

kiln_status up_slice_attrs(onnx_node *nd)
{
    kiln_status st = require(nd, "starts");
    if (!st)
        st = require(nd, "ends");
    if (!st)
        st = ints_to_input(nd, "starts", 1);
    if (!st)
        st = ints_to_input(nd, "ends", 2);
    if (!st)
        st = ints_to_input(nd, "axes", 3);
    return st ? st : onnx_emit(nd, SKIP("starts", "ends", "axes"));
}

kiln_status up_pad_attrs(onnx_node *nd)
{
    const char *pads = nd->opset < 2 ? "paddings" : "pads";
    kiln_status st = require(nd, pads);
    if (!st)
        st = ints_to_input(nd, pads, 1);
    if (!st)
        st = float_to_input(nd, "value", 2);
    return st ? st : onnx_emit(nd, SKIP("paddings", "pads", "value"));
}

kiln_status up_clip_attrs(onnx_node *nd)
{
    kiln_status st = float_to_input(nd, "min", 1);
    if (!st)
        st = float_to_input(nd, "max", 2);
    return st ? st : onnx_emit(nd, SKIP("min", "max", "consumed_inputs"));
}

kiln_status up_topk_attr(onnx_node *nd)
{
    int64_t k;
    kiln_status st = require(nd, "k");
    if (!st)
        st = attr_int(nd, "k", 0, &k);
    if (!st)
        set_input(nd, 1, onnx_const_i64(nd, "k", &k, 1, false));
    return st ? st : onnx_emit(nd, SKIP("k"));
}

kiln_status up_dropout(onnx_node *nd)
{
    const Onnx__AttributeProto *ratio;
    kiln_status st = attr_of(nd, "ratio", A_FLOAT, &ratio);
    if (!st && ratio)
        set_input(nd, 1, onnx_const_float(nd, "ratio", KILN_DT_F32, ratio->f));
    /* before opset 10 the mask had the data's dtype; canonical masks are bool */
    uint32_t mask = nd->opset < 10 && nd->n_out > 1 ? nd->outs[1] : 0;
    if (mask)
        nd->outs[1] = onnx_fresh_value(nd, "mask_bool");
    if (!st)
        st = onnx_emit(nd, SKIP("ratio", "is_test", "consumed_inputs"));
    if (!st && mask)
        onnx_add_node(nd, KILN_OP_CASTLIKE, "mask", (const uint32_t[]){nd->outs[1], nd->ins[0]}, 2,
                      &mask, 1);
    return st;
}

kiln_status up_concat_axis(onnx_node *nd)
{
    kiln_status st = onnx_emit(nd, NULL);
    if (!st && !onnx_attr(nd, "axis"))
        kiln_attr_set_int(nd->imp->g, nd->id, "axis", 1); /* Concat-1's default */
    return st;
}

/* LpPool-1 / GlobalLpPool-1 took p as a float. */
kiln_status up_lp_p(onnx_node *nd)
{
    const Onnx__AttributeProto *a = onnx_attr(nd, "p");
    if (!a || onnx_attr_type(a) != A_FLOAT)
        return onnx_emit(nd, NULL);
    if (a->f != floorf(a->f) || a->f < 1 || a->f > 1e6f)
        return onnx_node_fail(nd, KILN_ERR_UNSUPPORTED, "p = %g is not a positive integer", a->f);
    kiln_status st = onnx_emit(nd, SKIP("p"));
    if (!st)
        kiln_attr_set_int(nd->imp->g, nd->id, "p", (int64_t)a->f);
    return st;
}

/* ---- Resize and its ancestors ------------------------------------------------------- */

/* Opset-10 Resize and Upsample used asymmetric coordinates and, for
 * nearest, floor rounding: spell those out in the opset-11 form. */
static kiln_status legacy_resize(onnx_node *nd, uint32_t scales)
{
    char mode[32];
    kiln_status st = attr_string(nd, "mode", "nearest", mode, sizeof mode);
    if (st)
        return st;
    if (!strcmp(mode, "bilinear") || !strcmp(mode, "trilinear"))
        strcpy(mode, "linear");
    if (strcmp(mode, "nearest") && strcmp(mode, "linear"))
        return onnx_node_fail(nd, KILN_ERR_INVALID, "mode '%s' is not nearest or linear", mode);
    nd->n_in = 1;
    set_input(nd, 2, scales);
    st = onnx_emit(nd, SKIP("mode", "scales", "height_scale", "width_scale"));
    if (st)
        return st;
    kiln_attr_set_string(nd->imp->g, nd->id, "mode", mode);
    kiln_attr_set_string(nd->imp->g, nd->id, "coordinate_transformation_mode", "asymmetric");
    if (!strcmp(mode, "nearest"))
        kiln_attr_set_string(nd->imp->g, nd->id, "nearest_mode", "floor");
    return KILN_OK;
}

kiln_status up_resize10(onnx_node *nd)
{
    return legacy_resize(nd, nd->n_in > 1 ? nd->ins[1] : 0);
}

kiln_status up_upsample9(onnx_node *nd)
{
    return legacy_resize(nd, nd->n_in > 1 ? nd->ins[1] : 0);
}

static uint32_t const_f32s(onnx_node *nd, const char *suffix, const float *v, uint32_t n)
{
    int64_t dims[1] = {n};
    kiln_shape shape = kiln_shape_make(1, dims);
    return onnx_const(nd, suffix, KILN_DT_F32, &shape, v, n * sizeof *v);
}

kiln_status up_upsample7(onnx_node *nd)
{
    const Onnx__AttributeProto *a;
    kiln_status st = require(nd, "scales");
    if (!st)
        st = attr_of(nd, "scales", A_FLOATS, &a);
    return st ? st : legacy_resize(nd, const_f32s(nd, "scales", a->floats, (uint32_t)a->n_floats));
}

kiln_status up_upsample1(onnx_node *nd)
{
    const Onnx__AttributeProto *h, *w;
    int rank = onnx_known_rank(nd, nd->ins[0]);
    kiln_status st = require(nd, "height_scale");
    if (!st)
        st = require(nd, "width_scale");
    if (!st)
        st = attr_of(nd, "height_scale", A_FLOAT, &h);
    if (!st)
        st = attr_of(nd, "width_scale", A_FLOAT, &w);
    if (!st && rank >= 0 && rank != 4)
        st = onnx_node_fail(nd, KILN_ERR_INVALID, "Upsample-1 takes a 4-D NCHW input, not rank %d",
                            rank);
    if (st)
        return st;
    float scales[4] = {1, 1, h->f, w->f};
    return legacy_resize(nd, const_f32s(nd, "scales", scales, 4));
}

/* ---- Softmax, LogSoftmax, Hardmax before opset 13 ------------------------------------- */

/* They flattened the input to 2-D at `axis` and normalized each row. With
 * axis = -1 (or the last axis of a known rank) that is the same as the
 * canonical op on the last axis; otherwise Flatten -> op(axis=1) ->
 * Reshape(Shape(x)). */
kiln_status up_softmax_2d(onnx_node *nd)
{
    int64_t axis;
    kiln_status st = attr_int(nd, "axis", 1, &axis);
    int rank = onnx_known_rank(nd, nd->ins[0]);
    if (st)
        return st;
    if (axis == -1 || (rank >= 0 && axis == rank - 1)) {
        st = onnx_emit(nd, SKIP("axis"));
        if (!st)
            kiln_attr_set_int(nd->imp->g, nd->id, "axis", -1);
        return st;
    }
    uint32_t x = nd->ins[0], y = nd->outs[0];
    uint32_t flat = onnx_fresh_value(nd, "flat"), rows = onnx_fresh_value(nd, "rows");
    uint32_t shape = onnx_fresh_value(nd, "shape");
    uint32_t fl = onnx_add_node(nd, KILN_OP_FLATTEN, "flatten", &x, 1, &flat, 1);
    kiln_attr_set_int(nd->imp->g, fl, "axis", axis);
    nd->ins[0] = flat;
    nd->outs[0] = rows;
    st = onnx_emit(nd, SKIP("axis"));
    if (st)
        return st;
    kiln_attr_set_int(nd->imp->g, nd->id, "axis", 1);
    onnx_add_node(nd, KILN_OP_SHAPE, "shape", &x, 1, &shape, 1);
    uint32_t rs = onnx_add_node(nd, KILN_OP_RESHAPE, "reshape", (const uint32_t[]){rows, shape}, 2,
                                &y, 1);
    kiln_attr_set_int(nd->imp->g, rs, "allowzero", 1); /* a 0 in Shape(x) means 0 */
    return KILN_OK;
}

/* ---- BatchNormalization ------------------------------------------------------------------ */

/* Inference form only: spatial = 0 (per-activation statistics), training
 * mode, or training outputs that something uses are refused; unused
 * training outputs are dropped. */
kiln_status up_batchnorm(onnx_node *nd)
{
    int64_t spatial, training;
    kiln_status st = attr_int(nd, "spatial", 1, &spatial);
    if (!st)
        st = attr_int(nd, "training_mode", 0, &training);
    if (!st && !spatial)
        return onnx_node_fail(nd, KILN_ERR_UNSUPPORTED,
                              "spatial = 0 (per-activation statistics) is not supported");
    if (!st && training)
        return onnx_node_fail(nd, KILN_ERR_UNSUPPORTED,
                              "training_mode = 1 is not supported: kiln compiles inference only");
    for (uint32_t k = 1; !st && k < nd->n_out; k++) {
        const char *name = nd->proto->output[k];
        if (nd->outs[k] && onnx_name_is_used(nd->imp, name))
            return onnx_node_fail(nd, KILN_ERR_UNSUPPORTED,
                                  "output %u ('%s') holds training statistics, which kiln does not "
                                  "compute (inference only)", k, name);
    }
    nd->n_out = 1;
    return st ? st : onnx_emit(nd, SKIP("consumed_inputs", "is_test", "spatial", "training_mode"));
}
