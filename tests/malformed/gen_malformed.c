/* gen_malformed.c — writes the malformed-model corpus (tests/malformed).
 *
 *   gen_malformed OUT_DIR SEED_LIST SRC_ROOT [SEED]
 *
 * Reads the valid models named in SEED_LIST (ONNX and kiln text IR; paths
 * relative to SRC_ROOT unless absolute, missing ones skipped) and writes
 * damaged copies to OUT_DIR: byte damage (truncation, bit flips, inserted
 * and deleted bytes) and structured damage made through the protobuf-c
 * ONNX bindings the frontend uses (each class is a row of `mutations`
 * below). For every model it also writes input files (.npy) made from the
 * graph inputs the damaged model declares, so `kiln run` gets as far as
 * the damage lets it, and one line of OUT_DIR/manifest.tsv:
 *
 *   FILE <tab> CLASS <tab> SEED-MODEL <tab> INPUT.npy INPUT.npy ...
 *
 * Everything is drawn from one splitmix64 stream per (SEED, seed model,
 * class), so a given SEED and seed list always write the same corpus.
 * Memory: every mutation works on a fresh unpack of its seed model and
 * replaces fields with malloc'd copies, so protobuf-c's free_unpacked
 * releases all of it (the generator runs in the sanitizer build too).
 */
#define _POSIX_C_SOURCE 200809L
#include "onnx/onnx.pb-c.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- deterministic randomness --------------------------------------------- */

typedef struct rng { uint64_t s; } rng;

static uint64_t next(rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static size_t pick(rng *r, size_t n) { return n ? (size_t)(next(r) % n) : 0; }

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* ---- small allocation helpers (everything malloc'd: free_unpacked frees it) */

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "gen_malformed: out of memory\n");
        exit(2);
    }
    return p;
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p) {
        fprintf(stderr, "gen_malformed: out of memory\n");
        exit(2);
    }
    return p;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

static void set_str(char **slot, const char *s)
{
    char *old = *slot;
    *slot = xstrdup(s);
    if (old && old != protobuf_c_empty_string)
        free(old);
}

/* A deep copy of a message, by packing and unpacking it. */
static void *clone(const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = xmalloc(n);
    protobuf_c_message_pack(m, buf);
    ProtobufCMessage *c = protobuf_c_message_unpack(m->descriptor, NULL, n, buf);
    free(buf);
    if (!c) {
        fprintf(stderr, "gen_malformed: clone failed\n");
        exit(2);
    }
    return c;
}

#define APPEND(arr, n, x)                                                  \
    do {                                                                   \
        size_t at_ = (n);                                                  \
        (arr) = xrealloc((arr), (at_ + 1) * sizeof *(arr));                \
        (arr)[at_] = (x);                                                  \
        (n) = at_ + 1;                                                     \
    } while (0)

/* Bulk appends (the `huge` class): room first, then plain stores, so that
 * thousands of entries are not thousands of reallocs (each a copy under
 * ASan). */
#define RESERVE(arr, n, extra) ((arr) = xrealloc((arr), ((n) + (size_t)(extra)) * sizeof *(arr)))
#define PUSH(arr, n, x) ((arr)[(n)++] = (x))

/* ---- output ---------------------------------------------------------------- */

static const char *out_dir;
static FILE *manifest;
static int count;
static uint64_t base_seed;

typedef struct npy_type { int onnx; const char *descr; size_t size; } npy_type;
static const npy_type npy_types[] = {
    {1, "<f4", 4}, {2, "|u1", 1}, {3, "|i1", 1}, {4, "<u2", 2}, {5, "<i2", 2},
    {6, "<i4", 4}, {7, "<i8", 8}, {9, "|b1", 1}, {10, "<f2", 2}, {11, "<f8", 8},
    {12, "<u4", 4}, {13, "<u8", 8},
};

static const npy_type *npy_type_of(int onnx)
{
    for (size_t i = 0; i < sizeof npy_types / sizeof *npy_types; i++)
        if (npy_types[i].onnx == onnx)
            return &npy_types[i];
    return NULL;
}

/* Writes DIR/NAME.npy of the given dtype and shape with small values:
 * indices in [0, 2], floats in [-2, 2). False when it would be too big. */
static bool write_npy(const char *name, const npy_type *t, const int64_t *dims, int rank, rng *r)
{
    uint64_t elems = 1;
    for (int i = 0; i < rank; i++) {
        elems *= (uint64_t)dims[i];
        if (elems > (1u << 18))
            return false;
    }
    char header[256];
    int n = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': (", t->descr);
    for (int i = 0; i < rank; i++)
        n += snprintf(header + n, sizeof header - (size_t)n, "%" PRId64 "%s", dims[i], rank == 1 ? "," : (i + 1 < rank ? ", " : ""));
    n += snprintf(header + n, sizeof header - (size_t)n, "), }");
    int total = 10 + n + 1;
    int pad = (64 - total % 64) % 64;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", out_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "gen_malformed: %s: %s\n", path, strerror(errno));
        exit(2);
    }
    uint16_t hlen = (uint16_t)(n + pad + 1);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fputc(hlen & 0xff, f);
    fputc(hlen >> 8, f);
    fwrite(header, 1, (size_t)n, f);
    for (int i = 0; i < pad; i++)
        fputc(' ', f);
    fputc('\n', f);
    for (uint64_t i = 0; i < elems; i++) {
        uint8_t b[8] = {0};
        uint64_t v = next(r);
        if (t->onnx == 1) {
            float x = (float)((int)(v % 4000) - 2000) / 1000.0f;
            memcpy(b, &x, 4);
        } else if (t->onnx == 11) {
            double x = (double)((int)(v % 4000) - 2000) / 1000.0;
            memcpy(b, &x, 8);
        } else if (t->onnx == 10) {
            b[1] = (uint8_t)(0x38 + v % 8); /* a half in [0.5, 2) */
        } else {
            b[0] = (uint8_t)(v % 3);
        }
        fwrite(b, 1, t->size, f);
    }
    fclose(f);
    return true;
}

/* Inputs for the graph inputs a model declares (not those that are
 * initializers): declared dims, unknown or absurd ones replaced by 1. */
static void model_inputs(const Onnx__ModelProto *m, char *list, size_t list_size, rng *r)
{
    list[0] = 0;
    if (!m || !m->graph)
        return;
    const Onnx__GraphProto *g = m->graph;
    size_t used = 0;
    for (size_t i = 0; i < g->n_input && i < 16; i++) {
        const Onnx__ValueInfoProto *vi = g->input[i];
        bool is_init = false;
        for (size_t k = 0; k < g->n_initializer && !is_init; k++)
            is_init = vi->name && g->initializer[k]->name && strcmp(vi->name, g->initializer[k]->name) == 0;
        if (is_init)
            continue;
        const Onnx__TypeProto *tp = vi->type;
        const npy_type *t = NULL;
        int64_t dims[8];
        int rank = 0;
        if (tp && tp->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE && tp->tensor_type) {
            t = npy_type_of(tp->tensor_type->elem_type);
            const Onnx__TensorShapeProto *s = tp->tensor_type->shape;
            for (size_t d = 0; s && d < s->n_dim && rank < 8; d++) {
                const Onnx__TensorShapeProto__Dimension *dim = s->dim[d];
                int64_t v = dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE ? dim->dim_value : 1;
                dims[rank++] = v < 0 || v > 4096 ? 1 : v;
            }
        }
        if (!t)
            t = &npy_types[0];
        char name[64];
        snprintf(name, sizeof name, "%04d-in%zu.npy", count, i);
        if (!write_npy(name, t, dims, rank, r))
            continue;
        used += (size_t)snprintf(list + used, list_size - used, "%s%s", used ? " " : "", name);
        if (used >= list_size - 64)
            break;
    }
}

/* Text IR: inputs from the header `graph @g ... (%x: f32[2,N], ...)`. */
static void text_inputs(const char *text, char *list, size_t list_size, rng *r)
{
    static const struct { const char *name; int onnx; } names[] = {
        {"f32", 1}, {"u8", 2}, {"i8", 3}, {"u16", 4}, {"i16", 5}, {"i32", 6}, {"i64", 7},
        {"bool", 9}, {"f16", 10}, {"f64", 11}, {"u32", 12}, {"u64", 13},
    };
    list[0] = 0;
    const char *p = strstr(text, "graph @");
    if (!p || !(p = strchr(p, '(')))
        return;
    if (strncmp(p, "(\"", 2) == 0 || (p > text && p[-1] == 't')) /* opset("..." ) */
        if (!(p = strchr(strchr(p, ')') ? strchr(p, ')') : p, '(')))
            return;
    size_t used = 0;
    int index = 0;
    for (p++; *p && *p != ')' && index < 16; index++) {
        const char *colon = strchr(p, ':');
        const char *close = strchr(p, ')');
        if (!colon || !close || colon > close)
            return;
        p = colon + 1;
        while (*p == ' ')
            p++;
        const npy_type *t = &npy_types[0];
        for (size_t k = 0; k < sizeof names / sizeof *names; k++)
            if (strncmp(p, names[k].name, strlen(names[k].name)) == 0 && p[strlen(names[k].name)] == '[')
                t = npy_type_of(names[k].onnx);
        int64_t dims[8];
        int rank = 0;
        const char *b = strchr(p, '[');
        const char *e = b ? strchr(b, ']') : NULL;
        if (!b || !e)
            return;
        for (const char *q = b + 1; q < e && rank < 8;) {
            char *end;
            long long v = strtoll(q, &end, 10);
            dims[rank++] = end == q || v < 0 || v > 4096 ? 2 : v;
            const char *comma = memchr(q, ',', (size_t)(e - q));
            if (!comma)
                break;
            q = comma + 1;
        }
        char name[64];
        snprintf(name, sizeof name, "%04d-in%d.npy", count, index);
        if (write_npy(name, t, dims, rank, r))
            used += (size_t)snprintf(list + used, list_size - used, "%s%s", used ? " " : "", name);
        p = e + 1;
        while (*p == ',' || *p == ' ')
            p++;
        if (used >= list_size - 64)
            break;
    }
}

static void write_file(const char *name, const void *data, size_t size)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", out_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        fprintf(stderr, "gen_malformed: %s: cannot write\n", path);
        exit(2);
    }
}

/* One corpus entry: the bytes, inputs from `declared` (the damaged model,
 * or for byte damage whatever still unpacks, else the seed). */
static void emit(const char *cls, const char *seed, const char *ext, const uint8_t *data, size_t size,
                 const Onnx__ModelProto *declared, const char *text, rng *r)
{
    char name[128], inputs[2048];
    snprintf(name, sizeof name, "%04d-%s.%s", count, cls, ext);
    write_file(name, data, size);
    if (text)
        text_inputs(text, inputs, sizeof inputs, r);
    else
        model_inputs(declared, inputs, sizeof inputs, r);
    fprintf(manifest, "%s\t%s\t%s\t%s\n", name, cls, seed, inputs);
    count++;
}

static void emit_model(const char *cls, const char *seed, const Onnx__ModelProto *m, rng *r)
{
    size_t n = onnx__model_proto__get_packed_size(m);
    uint8_t *buf = xmalloc(n);
    onnx__model_proto__pack(m, buf);
    emit(cls, seed, "onnx", buf, n, m, NULL, r);
    free(buf);
}

/* ---- byte damage ------------------------------------------------------------ */

typedef struct blob { uint8_t *data; size_t size; } blob;

/* variant v of byte damage class cls on a copy of b; false: not applicable */
static bool byte_damage(const char *cls, int v, const blob *b, blob *out, rng *r)
{
    if (b->size < 4)
        return false;
    out->size = b->size;
    out->data = xmalloc(b->size + 64);
    memcpy(out->data, b->data, b->size);
    if (strcmp(cls, "truncate") == 0) {
        /* the first bytes (headers), then spread over the file */
        out->size = v < 3 ? (size_t)v * 3 + 1 : 1 + pick(r, b->size - 1);
    } else if (strcmp(cls, "bitflip") == 0) {
        int flips = 1 << (v % 5);
        for (int i = 0; i < flips; i++) {
            size_t at = pick(r, b->size);
            out->data[at] ^= (uint8_t)(1u << pick(r, 8));
        }
    } else if (strcmp(cls, "byteset") == 0) {
        static const uint8_t values[] = {0x00, 0xff, 0x7f, 0x80, 0x0a, 0x12, 0x3a, 0x08};
        size_t at = pick(r, b->size);
        for (int i = 0; i < 1 + v % 3 && at + (size_t)i < b->size; i++)
            out->data[at + (size_t)i] = values[(size_t)v % sizeof values];
    } else if (strcmp(cls, "insert") == 0) {
        size_t at = pick(r, b->size), n = 1 + pick(r, 8);
        memmove(out->data + at + n, out->data + at, b->size - at);
        for (size_t i = 0; i < n; i++)
            out->data[at + i] = (uint8_t)next(r);
        out->size += n;
    } else if (strcmp(cls, "delete") == 0) {
        size_t at = pick(r, b->size - 2), n = 1 + pick(r, b->size - at - 1 < 8 ? b->size - at - 1 : 8);
        memmove(out->data + at, out->data + at + n, b->size - at - n);
        out->size -= n;
    } else {
        free(out->data);
        return false;
    }
    return true;
}

/* ---- structured damage ------------------------------------------------------ */

typedef Onnx__ModelProto model;
typedef Onnx__GraphProto graph;
typedef Onnx__NodeProto node;
typedef Onnx__TensorProto tensor;
typedef Onnx__AttributeProto attr;

static node *pick_node(model *m, rng *r)
{
    return m->graph && m->graph->n_node ? m->graph->node[pick(r, m->graph->n_node)] : NULL;
}

static tensor *pick_init(model *m, rng *r)
{
    return m->graph && m->graph->n_initializer ? m->graph->initializer[pick(r, m->graph->n_initializer)] : NULL;
}

static Onnx__ValueInfoProto *pick_input(model *m, rng *r)
{
    return m->graph && m->graph->n_input ? m->graph->input[pick(r, m->graph->n_input)] : NULL;
}

/* an attribute anywhere in the graph (not in subgraphs) whose type is in mask */
static attr *pick_attr(model *m, rng *r, unsigned mask)
{
    if (!m->graph)
        return NULL;
    size_t total = 0;
    for (size_t i = 0; i < m->graph->n_node; i++)
        for (size_t k = 0; k < m->graph->node[i]->n_attribute; k++)
            total += (mask >> m->graph->node[i]->attribute[k]->type) & 1;
    if (!total)
        return NULL;
    size_t want = pick(r, total);
    for (size_t i = 0; i < m->graph->n_node; i++)
        for (size_t k = 0; k < m->graph->node[i]->n_attribute; k++)
            if (((mask >> m->graph->node[i]->attribute[k]->type) & 1) && want-- == 0)
                return m->graph->node[i]->attribute[k];
    return NULL;
}

#define T_INT (1u << ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT)
#define T_INTS (1u << ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS)
#define T_FLOAT (1u << ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT)
#define T_FLOATS (1u << ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS)
#define T_ANY 0xffffu

static const int64_t extremes[] = {
    INT64_MAX, INT64_MIN, -1, 0, (int64_t)1 << 31, -((int64_t)1 << 40), 1 << 20, 3, -3, 1000000007,
    (int64_t)1 << 62, INT32_MIN,
};
#define N_EXTREMES (sizeof extremes / sizeof *extremes)

static Onnx__TensorShapeProto__Dimension *make_dim(int64_t v, const char *param)
{
    Onnx__TensorShapeProto__Dimension *d = xmalloc(sizeof *d);
    onnx__tensor_shape_proto__dimension__init(d);
    if (param) {
        d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
        d->dim_param = xstrdup(param);
    } else {
        d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        d->dim_value = v;
    }
    return d;
}

static void add_opset(model *m, const char *domain, int64_t version)
{
    Onnx__OperatorSetIdProto *o = xmalloc(sizeof *o);
    onnx__operator_set_id_proto__init(o);
    o->domain = xstrdup(domain);
    o->has_version = 1;
    o->version = version;
    APPEND(m->opset_import, m->n_opset_import, o);
}

static void add_entry(tensor *t, const char *key, const char *value)
{
    Onnx__StringStringEntryProto *e = xmalloc(sizeof *e);
    onnx__string_string_entry_proto__init(e);
    e->key = xstrdup(key);
    e->value = xstrdup(value);
    APPEND(t->external_data, t->n_external_data, e);
}

static void free_msg(void *m) { protobuf_c_message_free_unpacked(m, NULL); }

/* Each mutation edits a fresh model; `own` is the damaged file's own name
 * (for external data naming the model itself). False: not applicable. */
typedef bool mutate_fn(model *m, int v, rng *r, const char *own);

static bool mut_init_dtype(model *m, int v, rng *r, const char *own)
{
    static const int32_t types[] = {0, 8, 16, 99, -1, 2, 7, 11, 9, 14, 17, 22};
    tensor *t = pick_init(m, r);
    if (!t)
        return false;
    t->has_data_type = 1;
    t->data_type = types[(size_t)v % (sizeof types / sizeof *types)];
    return true;
}

static bool mut_raw_length(model *m, int v, rng *r, const char *own)
{
    tensor *t = NULL;
    for (int tries = 0; tries < 8 && (!t || !t->has_raw_data || !t->raw_data.len); tries++)
        t = pick_init(m, r);
    if (!t || !t->has_raw_data || !t->raw_data.len)
        return false;
    size_t n = t->raw_data.len;
    size_t lens[] = {n / 2, n - 1, 0, n + 1, n * 2, n + 4};
    size_t want = lens[v % 6];
    t->raw_data.data = xrealloc(t->raw_data.data, want);
    if (want > n)
        memset(t->raw_data.data + n, 0x41, want - n);
    t->raw_data.len = want;
    return true;
}

static bool mut_init_dims(model *m, int v, rng *r, const char *own)
{
    tensor *t = pick_init(m, r);
    if (!t)
        return false;
    switch (v % 9) {
    case 0: case 1: case 2: case 3: case 4:
        if (!t->n_dims)
            return false;
        t->dims[pick(r, t->n_dims)] = (int64_t[]){-1, 0, (int64_t)1 << 40, INT64_MAX, INT64_MIN}[v % 9];
        break;
    case 5: /* rank 9 and 40 */
    case 6:
        for (int k = v % 9 == 5 ? 9 : 40; (int)t->n_dims < k;)
            APPEND(t->dims, t->n_dims, 1);
        break;
    case 7: /* product overflows int64 */
        t->dims = xrealloc(t->dims, 3 * sizeof *t->dims);
        t->n_dims = 3;
        t->dims[0] = t->dims[1] = t->dims[2] = (int64_t)1 << 32;
        break;
    default: /* rank 0 */
        t->n_dims = 0;
        break;
    }
    return true;
}

static bool mut_init_data(model *m, int v, rng *r, const char *own)
{
    tensor *t = pick_init(m, r);
    if (!t)
        return false;
    switch (v % 5) {
    case 0: /* no data at all */
        free(t->raw_data.data);
        t->raw_data.data = NULL;
        t->raw_data.len = 0;
        t->has_raw_data = 0;
        t->n_float_data = t->n_int64_data = t->n_int32_data = t->n_double_data = 0;
        break;
    case 1: /* typed data with one element too many, alongside raw */
    case 2: /* typed data of the wrong field */
        for (int i = 0; i < 3; i++) {
            APPEND(t->float_data, t->n_float_data, 1.5f);
            APPEND(t->int64_data, t->n_int64_data, (int64_t)1 << 40);
        }
        if (v % 5 == 2) {
            free(t->raw_data.data);
            t->raw_data.data = NULL;
            t->raw_data.len = 0;
            t->has_raw_data = 0;
        }
        break;
    case 3: /* strings in a numeric tensor */
        t->string_data = xrealloc(t->string_data, (t->n_string_data + 1) * sizeof *t->string_data);
        t->string_data[t->n_string_data].data = (uint8_t *)xstrdup("abc");
        t->string_data[t->n_string_data++].len = 3;
        break;
    default: { /* a segment */
        Onnx__TensorProto__Segment *s = xmalloc(sizeof *s);
        onnx__tensor_proto__segment__init(s);
        s->has_begin = s->has_end = 1;
        s->begin = 5;
        s->end = -3;
        if (t->segment)
            free_msg(t->segment);
        t->segment = s;
        break;
    }
    }
    return true;
}

static bool mut_input_type(model *m, int v, rng *r, const char *own)
{
    Onnx__ValueInfoProto *vi = pick_input(m, r);
    if (!vi || !vi->type)
        return false;
    Onnx__TypeProto *tp = vi->type;
    if (tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
        return false;
    Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    Onnx__TensorShapeProto *s = tt->shape;
    switch (v % 10) {
    case 0: tt->elem_type = 0; break;
    case 1: tt->elem_type = 8; break;   /* string */
    case 2: tt->elem_type = 16; break;  /* bfloat16 */
    case 3: tt->elem_type = 1234; break;
    case 4: /* no shape */
        if (s)
            free_msg(s);
        tt->shape = NULL;
        break;
    case 5: case 6: case 7:
        if (!s || !s->n_dim)
            return false;
        {
            Onnx__TensorShapeProto__Dimension *d = s->dim[pick(r, s->n_dim)];
            if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM)
                free(d->dim_param);
            if (v % 10 == 7) {
                d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
                d->dim_param = xstrdup("");
            } else {
                d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
                d->dim_value = v % 10 == 5 ? -7 : INT64_MAX;
            }
        }
        break;
    case 8: /* rank 12 */
        if (!s)
            return false;
        while (s->n_dim < 12)
            APPEND(s->dim, s->n_dim, make_dim(1, NULL));
        break;
    default: { /* a sequence where a tensor was */
        Onnx__TypeProto__Sequence *seq = xmalloc(sizeof *seq);
        onnx__type_proto__sequence__init(seq);
        seq->elem_type = clone(&tp->base);
        free_msg(tt);
        tp->value_case = ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE;
        tp->sequence_type = seq;
        break;
    }
    }
    return true;
}

static bool mut_node_order(model *m, int v, rng *r, const char *own)
{
    graph *g = m->graph;
    if (!g || g->n_node < 2)
        return false;
    if (v % 3 == 0) {
        for (size_t i = 0; i < g->n_node / 2; i++) {
            node *t = g->node[i];
            g->node[i] = g->node[g->n_node - 1 - i];
            g->node[g->n_node - 1 - i] = t;
        }
    } else if (v % 3 == 1) {
        node *last = g->node[g->n_node - 1];
        memmove(g->node + 1, g->node, (g->n_node - 1) * sizeof *g->node);
        g->node[0] = last;
    } else {
        size_t i = pick(r, g->n_node - 1);
        node *t = g->node[i];
        g->node[i] = g->node[i + 1];
        g->node[i + 1] = t;
    }
    return true;
}

static bool mut_self_loop(model *m, int v, rng *r, const char *own)
{
    node *n = pick_node(m, r);
    if (!n || !n->n_input || !n->n_output)
        return false;
    set_str(&n->input[pick(r, n->n_input)], n->output[0]);
    return true;
}

static bool mut_cycle(model *m, int v, rng *r, const char *own)
{
    graph *g = m->graph;
    if (!g || g->n_node < 2)
        return false;
    size_t a = pick(r, g->n_node - 1);
    size_t b = a + 1 + pick(r, g->n_node - a - 1);
    if (!g->node[a]->n_input || !g->node[b]->n_output)
        return false;
    set_str(&g->node[a]->input[0], g->node[b]->output[0]);
    return true;
}

static bool mut_dangling(model *m, int v, rng *r, const char *own)
{
    graph *g = m->graph;
    if (!g)
        return false;
    if (v % 3 == 2) {
        if (!g->n_output)
            return false;
        set_str(&g->output[pick(r, g->n_output)]->name, "no_such_value");
        return true;
    }
    node *n = pick_node(m, r);
    if (!n || !n->n_input)
        return false;
    set_str(&n->input[pick(r, n->n_input)], v % 3 ? "" : "no_such_value");
    return true;
}

static bool mut_duplicate(model *m, int v, rng *r, const char *own)
{
    graph *g = m->graph;
    if (!g)
        return false;
    switch (v % 7) {
    case 0: /* two nodes define one value */
        if (g->n_node < 2)
            return false;
        {
            size_t a = pick(r, g->n_node), b = (a + 1 + pick(r, g->n_node - 1)) % g->n_node;
            if (!g->node[a]->n_output || !g->node[b]->n_output)
                return false;
            set_str(&g->node[b]->output[0], g->node[a]->output[0]);
        }
        return true;
    case 1: /* an initializer twice */
        if (!g->n_initializer)
            return false;
        APPEND(g->initializer, g->n_initializer, clone(&g->initializer[pick(r, g->n_initializer)]->base));
        return true;
    case 2: /* a graph input twice */
        if (!g->n_input)
            return false;
        APPEND(g->input, g->n_input, clone(&g->input[pick(r, g->n_input)]->base));
        return true;
    case 3: /* a graph output twice */
        if (!g->n_output)
            return false;
        APPEND(g->output, g->n_output, clone(&g->output[pick(r, g->n_output)]->base));
        return true;
    case 4: /* a node redefines a graph input */
    case 5: { /* a node redefines an initializer */
        node *n = pick_node(m, r);
        const char *name = v % 7 == 4 ? (g->n_input ? g->input[0]->name : NULL)
                                      : (g->n_initializer ? g->initializer[0]->name : NULL);
        if (!n || !n->n_output || !name)
            return false;
        set_str(&n->output[0], name);
        return true;
    }
    default: { /* a node twice */
        node *n = pick_node(m, r);
        if (!n)
            return false;
        APPEND(g->node, g->n_node, clone(&n->base));
        return true;
    }
    }
}

static bool mut_unknown_op(model *m, int v, rng *r, const char *own)
{
    node *n = pick_node(m, r);
    if (!n)
        return false;
    static const char *const ops[] = {"NoSuchOp", "", "Relu\x01", "relu", "If", "Loop", "Scan",
                                      "SequenceConstruct", "Attention", "Constant"};
    static const char *const domains[] = {"com.evil", "ai.onnx.ml", "com.microsoft", "kiln", "ai.onnx"};
    if (v < 10) {
        set_str(&n->op_type, ops[v]);
    } else if (v < 15) {
        set_str(&n->domain, domains[v - 10]);
    } else {
        char *longname = xmalloc(20001);
        memset(longname, 'A', 20000);
        longname[20000] = 0;
        set_str(&n->op_type, longname);
        free(longname);
    }
    return true;
}

static const Onnx__AttributeProto__AttributeType attr_types[] = {
    ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT,
    ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT,       ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING,
    ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR,    ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH,
    ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS,    ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS,
    ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS,   ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSORS,
    ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSOR, (Onnx__AttributeProto__AttributeType)77,
};

static bool mut_attr_type(model *m, int v, rng *r, const char *own)
{
    attr *a = pick_attr(m, r, T_ANY);
    if (!a)
        return false;
    /* the type field says one thing, the payload is another */
    a->has_type = 1;
    a->type = attr_types[(size_t)v % (sizeof attr_types / sizeof *attr_types)];
    return true;
}

static bool mut_attr_value(model *m, int v, rng *r, const char *own)
{
    attr *a = pick_attr(m, r, T_INT | T_INTS | T_FLOAT | T_FLOATS);
    if (!a)
        return false;
    int64_t x = extremes[(size_t)v % N_EXTREMES];
    if (a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT) {
        a->i = x;
    } else if (a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS) {
        if (v % 4 == 3) { /* a list of the wrong length */
            size_t n = v % 8 == 3 ? 0 : a->n_ints + 1 + pick(r, 5);
            a->ints = xrealloc(a->ints, (n ? n : 1) * sizeof *a->ints);
            for (size_t i = a->n_ints; i < n; i++)
                a->ints[i] = 1;
            a->n_ints = n;
        } else if (a->n_ints) {
            a->ints[pick(r, a->n_ints)] = x;
        } else {
            APPEND(a->ints, a->n_ints, x);
        }
    } else {
        static const float fs[] = {NAN, INFINITY, -INFINITY, -0.0f, 1e38f, -1e-38f, 0.0f, -1.0f};
        float f = fs[(size_t)v % (sizeof fs / sizeof *fs)];
        if (a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT)
            a->f = f;
        else if (a->n_floats)
            a->floats[pick(r, a->n_floats)] = f;
        else
            APPEND(a->floats, a->n_floats, f);
    }
    return true;
}

static bool mut_attr_shape(model *m, int v, rng *r, const char *own)
{
    node *n = pick_node(m, r);
    if (!n)
        return false;
    switch (v % 4) {
    case 0: /* no attributes at all */
        for (size_t i = 0; i < n->n_attribute; i++)
            free_msg(n->attribute[i]);
        n->n_attribute = 0;
        return true;
    case 1: /* one attribute twice */
        if (!n->n_attribute)
            return false;
        APPEND(n->attribute, n->n_attribute, clone(&n->attribute[pick(r, n->n_attribute)]->base));
        return true;
    case 2: /* an attribute with no name and no type */
    default: {
        attr *a = xmalloc(sizeof *a);
        onnx__attribute_proto__init(a);
        a->name = xstrdup(v % 4 == 2 ? "" : "axis");
        if (v % 4 == 3) { /* an `axis` that is a graph */
            a->has_type = 1;
            a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH;
            a->g = clone(&m->graph->base);
        }
        APPEND(n->attribute, n->n_attribute, a);
        return true;
    }
    }
}

static bool mut_arity(model *m, int v, rng *r, const char *own)
{
    node *n = pick_node(m, r);
    if (!n)
        return false;
    switch (v % 5) {
    case 0: /* no inputs */
        for (size_t i = 0; i < n->n_input; i++)
            free(n->input[i]);
        n->n_input = 0;
        break;
    case 1: /* many extra inputs */
        if (!n->n_input)
            return false;
        for (int i = 0; i < 10; i++)
            APPEND(n->input, n->n_input, xstrdup(n->input[0]));
        break;
    case 2: /* extra empty (optional) inputs */
        for (int i = 0; i < 3; i++)
            APPEND(n->input, n->n_input, xstrdup(""));
        break;
    case 3: /* no outputs */
        for (size_t i = 0; i < n->n_output; i++)
            free(n->output[i]);
        n->n_output = 0;
        break;
    default: /* extra outputs */
        for (int i = 0; i < 3; i++) {
            char name[32];
            snprintf(name, sizeof name, "extra_out_%d", i);
            APPEND(n->output, n->n_output, xstrdup(name));
        }
        break;
    }
    return true;
}

/* repeated fields far beyond what a real model has, but within (or just
 * past) the limits in ir/limits.h */
static bool mut_huge(model *m, int v, rng *r, const char *own)
{
    graph *g = m->graph;
    if (!g)
        return false;
    switch (v % 8) {
    case 0: { /* 999 attributes on one node */
        node *n = pick_node(m, r);
        if (!n)
            return false;
        RESERVE(n->attribute, n->n_attribute, 999);
        for (int i = 0; i < 999; i++) {
            attr *a = xmalloc(sizeof *a);
            onnx__attribute_proto__init(a);
            char name[32];
            snprintf(name, sizeof name, "junk%d", i);
            a->name = xstrdup(name);
            a->has_type = a->has_i = 1;
            a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
            a->i = i;
            PUSH(n->attribute, n->n_attribute, a);
        }
        return true;
    }
    case 1: /* 990 opset imports (under the limit) */
    case 2: /* 1001 (over it) */
        for (int i = 0; i < (v % 8 == 1 ? 990 : 1001); i++) {
            char name[32];
            snprintf(name, sizeof name, "com.junk%d", i);
            add_opset(m, name, 1);
        }
        return true;
    case 3: /* 20000 value_info entries */
        RESERVE(g->value_info, g->n_value_info, 20000);
        for (int i = 0; i < 20000; i++) {
            Onnx__ValueInfoProto *vi = xmalloc(sizeof *vi);
            onnx__value_info_proto__init(vi);
            char name[32];
            snprintf(name, sizeof name, "vi%d", i);
            vi->name = xstrdup(name);
            PUSH(g->value_info, g->n_value_info, vi);
        }
        return true;
    case 4: { /* one node with 5000 inputs */
        node *n = pick_node(m, r);
        if (!n || !n->n_input)
            return false;
        RESERVE(n->input, n->n_input, 5000);
        for (int i = 0; i < 5000; i++)
            PUSH(n->input, n->n_input, xstrdup(n->input[0]));
        return true;
    }
    case 5: /* 3000 graph outputs naming one value */
        if (!g->n_output)
            return false;
        RESERVE(g->output, g->n_output, 3000);
        for (int i = 0; i < 3000; i++)
            PUSH(g->output, g->n_output, clone(&g->output[0]->base));
        return true;
    case 6: { /* an INTS attribute with 100000 entries */
        node *n = pick_node(m, r);
        if (!n)
            return false;
        attr *a = xmalloc(sizeof *a);
        onnx__attribute_proto__init(a);
        a->name = xstrdup(v % 2 ? "perm" : "axes");
        a->has_type = 1;
        a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
        a->n_ints = 100000;
        a->ints = xmalloc(a->n_ints * sizeof *a->ints);
        for (size_t i = 0; i < a->n_ints; i++)
            a->ints[i] = (int64_t)i;
        APPEND(n->attribute, n->n_attribute, a);
        return true;
    }
    default: { /* 5000 Identity nodes in a chain */
        if (!g->n_output || !g->n_node || !g->node[g->n_node - 1]->n_output)
            return false;
        node *last = g->node[g->n_node - 1];
        char prev[64], name[64];
        snprintf(prev, sizeof prev, "%s", last->output[0]);
        set_str(&last->output[0], "chain_start");
        snprintf(prev, sizeof prev, "chain_start");
        RESERVE(g->node, g->n_node, 5000);
        for (int i = 0; i < 5000; i++) {
            node *n = xmalloc(sizeof *n);
            onnx__node_proto__init(n);
            n->op_type = xstrdup("Identity");
            snprintf(name, sizeof name, "chain%d", i);
            APPEND(n->input, n->n_input, xstrdup(prev));
            APPEND(n->output, n->n_output, xstrdup(i == 4999 ? g->output[0]->name : name));
            snprintf(prev, sizeof prev, "%s", name);
            PUSH(g->node, g->n_node, n);
        }
        return true;
    }
    }
}

static bool mut_external(model *m, int v, rng *r, const char *own)
{
    tensor *t = pick_init(m, r);
    if (!t)
        return false;
    t->has_data_location = 1;
    t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    if (v % 12 != 11) { /* the raw data goes (kept in the last variant) */
        free(t->raw_data.data);
        t->raw_data.data = NULL;
        t->raw_data.len = 0;
        t->has_raw_data = 0;
    }
    /* ext.bin: a real 4 KiB file beside the models */
    const char *npy = "ext.bin";
    switch (v % 12) {
    case 0: add_entry(t, "location", "no_such_file.bin"); break;
    case 1: add_entry(t, "location", "../outside.bin"); break;
    case 2: add_entry(t, "location", "/etc/passwd"); break;
    case 3: add_entry(t, "location", ""); break;
    case 4: add_entry(t, "location", own); break;
    case 5: add_entry(t, "location", npy); break;
    case 6: add_entry(t, "location", npy); add_entry(t, "offset", "9223372036854775807"); break;
    case 7: add_entry(t, "location", npy); add_entry(t, "offset", "-8"); add_entry(t, "length", "16"); break;
    case 8: add_entry(t, "location", npy); add_entry(t, "length", "abc"); break;
    case 9: add_entry(t, "offset", "0"); break; /* no location */
    case 10: add_entry(t, "location", "."); add_entry(t, "checksum", "x"); break;
    default: add_entry(t, "location", npy); break;
    }
    return true;
}

static bool mut_opset(model *m, int v, rng *r, const char *own)
{
    Onnx__OperatorSetIdProto *def = NULL;
    for (size_t i = 0; i < m->n_opset_import; i++)
        if (!m->opset_import[i]->domain || !m->opset_import[i]->domain[0] ||
            strcmp(m->opset_import[i]->domain, "ai.onnx") == 0)
            def = m->opset_import[i];
    static const int64_t versions[] = {0, -1, 1, 6, 99999, INT64_MAX, INT64_MIN};
    if (v < 7) {
        if (!def)
            return false;
        def->has_version = 1;
        def->version = versions[v];
    } else if (v == 7) { /* none at all */
        for (size_t i = 0; i < m->n_opset_import; i++)
            free_msg(m->opset_import[i]);
        m->n_opset_import = 0;
    } else if (v == 8) { /* the default domain twice, disagreeing */
        add_opset(m, "", 7);
    } else if (v == 9) { /* ai.onnx spelled out beside "" */
        add_opset(m, "ai.onnx", 13);
    } else { /* the version missing */
        if (!def)
            return false;
        def->has_version = 0;
    }
    return true;
}

static bool mut_ir_version(model *m, int v, rng *r, const char *own)
{
    static const int64_t versions[] = {0, -1, 1, 3, 999, INT64_MAX};
    if (v == 6) {
        m->has_ir_version = 0;
    } else {
        m->has_ir_version = 1;
        m->ir_version = versions[v % 6];
    }
    return true;
}

static bool mut_empty(model *m, int v, rng *r, const char *own)
{
    graph *g = m->graph;
    if (!g)
        return false;
    switch (v % 6) {
    case 0: /* no graph */
        free_msg(g);
        m->graph = NULL;
        break;
    case 1: /* no nodes */
        for (size_t i = 0; i < g->n_node; i++)
            free_msg(g->node[i]);
        g->n_node = 0;
        break;
    case 2: /* no outputs */
        for (size_t i = 0; i < g->n_output; i++)
            free_msg(g->output[i]);
        g->n_output = 0;
        break;
    case 3: /* no inputs */
        for (size_t i = 0; i < g->n_input; i++)
            free_msg(g->input[i]);
        g->n_input = 0;
        break;
    case 4: /* no initializers */
        for (size_t i = 0; i < g->n_initializer; i++)
            free_msg(g->initializer[i]);
        g->n_initializer = 0;
        break;
    default: /* an output with no type */
        if (!g->n_output || !g->output[0]->type)
            return false;
        free_msg(g->output[0]->type);
        g->output[0]->type = NULL;
        break;
    }
    return true;
}

static attr *graph_attr(const char *name, graph *body)
{
    attr *a = xmalloc(sizeof *a);
    onnx__attribute_proto__init(a);
    a->name = xstrdup(name);
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH;
    a->g = body;
    return a;
}

/* Replaces the graph's nodes by one If node whose branches are copies of
 * the old graph (the condition is the first graph input); `depth` times. */
static void wrap_in_if(model *m, int depth, bool both)
{
    graph *g = m->graph;
    for (int d = 0; d < depth; d++) {
        graph *body = clone(&g->base);
        /* a branch has no inputs of its own: it reads the outer scope */
        for (size_t i = 0; i < body->n_input; i++)
            free_msg(body->input[i]);
        body->n_input = 0;
        for (size_t i = 0; i < g->n_node; i++)
            free_msg(g->node[i]);
        node *n = xmalloc(sizeof *n);
        onnx__node_proto__init(n);
        n->op_type = xstrdup("If");
        APPEND(n->input, n->n_input, xstrdup(g->n_input ? g->input[0]->name : "cond"));
        for (size_t i = 0; i < g->n_output; i++)
            APPEND(n->output, n->n_output, xstrdup(g->output[i]->name));
        APPEND(n->attribute, n->n_attribute, graph_attr("then_branch", body));
        if (both)
            APPEND(n->attribute, n->n_attribute, graph_attr("else_branch", clone(&body->base)));
        g->node = xrealloc(g->node, sizeof *g->node);
        g->node[0] = n;
        g->n_node = 1;
    }
}

static bool mut_nested(model *m, int v, rng *r, const char *own)
{
    if (!m->graph || !m->graph->n_node || m->graph->n_node > 200)
        return false;
    switch (v % 4) {
    case 0: wrap_in_if(m, 1, true); break;
    case 1: wrap_in_if(m, 1, false); break;  /* else_branch missing */
    case 2: wrap_in_if(m, 8, true); break;
    default: { /* a Loop whose body is the whole graph */
        graph *g = m->graph;
        node *n = pick_node(m, r);
        attr *a = graph_attr("body", clone(&g->base));
        set_str(&n->op_type, "Loop");
        APPEND(n->attribute, n->n_attribute, a);
        break;
    }
    }
    return true;
}

static bool mut_value_info(model *m, int v, rng *r, const char *own)
{
    graph *g = m->graph;
    node *n = pick_node(m, r);
    if (!g || !n || !n->n_output || !g->n_input || !g->input[0]->type)
        return false;
    /* a value_info entry for a node output that lies about its type */
    Onnx__ValueInfoProto *vi = clone(&g->input[0]->base);
    set_str(&vi->name, v % 3 == 2 ? "not_a_value" : n->output[0]);
    if (v % 3 == 1 && vi->type->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE && vi->type->tensor_type)
        vi->type->tensor_type->elem_type = 7;
    APPEND(g->value_info, g->n_value_info, vi);
    if (v % 4 == 3) /* and twice */
        APPEND(g->value_info, g->n_value_info, clone(&vi->base));
    return true;
}

static bool mut_sparse(model *m, int v, rng *r, const char *own)
{
    tensor *t = pick_init(m, r);
    if (!t)
        return false;
    Onnx__SparseTensorProto *s = xmalloc(sizeof *s);
    onnx__sparse_tensor_proto__init(s);
    s->values = clone(&t->base);
    s->indices = xmalloc(sizeof *s->indices);
    onnx__tensor_proto__init(s->indices);
    s->indices->has_data_type = 1;
    s->indices->data_type = 7;
    APPEND(s->indices->int64_data, s->indices->n_int64_data, v % 2 ? INT64_MAX : -1);
    APPEND(s->indices->dims, s->indices->n_dims, 1);
    APPEND(s->dims, s->n_dims, 4);
    APPEND(m->graph->sparse_initializer, m->graph->n_sparse_initializer, s);
    return true;
}

static bool mut_constant(model *m, int v, rng *r, const char *own)
{
    node *n = pick_node(m, r);
    if (!n)
        return false;
    set_str(&n->op_type, "Constant");
    set_str(&n->domain, "");
    for (size_t i = 0; i < n->n_input; i++)
        free(n->input[i]);
    n->n_input = 0;
    for (size_t i = 0; i < n->n_attribute; i++)
        free_msg(n->attribute[i]);
    n->n_attribute = 0;
    if (v % 4 == 0)
        return true; /* no value */
    attr *a = xmalloc(sizeof *a);
    onnx__attribute_proto__init(a);
    a->has_type = 1;
    if (v % 4 == 1) { /* a tensor whose dims promise more than its data */
        a->name = xstrdup("value");
        a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
        a->t = xmalloc(sizeof *a->t);
        onnx__tensor_proto__init(a->t);
        a->t->has_data_type = 1;
        a->t->data_type = 1;
        APPEND(a->t->dims, a->t->n_dims, 1000000);
        APPEND(a->t->float_data, a->t->n_float_data, 1.0f);
    } else if (v % 4 == 2) { /* value_ints, empty */
        a->name = xstrdup("value_ints");
        a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    } else { /* two values */
        a->name = xstrdup("value_float");
        a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
        a->has_f = 1;
        a->f = 2.0f;
        APPEND(n->attribute, n->n_attribute, a);
        a = xmalloc(sizeof *a);
        onnx__attribute_proto__init(a);
        a->has_type = a->has_i = 1;
        a->name = xstrdup("value_int");
        a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
        a->i = 3;
    }
    APPEND(n->attribute, n->n_attribute, a);
    return true;
}

static bool mut_names(model *m, int v, rng *r, const char *own)
{
    node *n = pick_node(m, r);
    graph *g = m->graph;
    if (!n || !n->n_output || !g)
        return false;
    /* rename a node's output everywhere it is used, to an odd name */
    char *odd;
    if (v % 3 == 2) {
        odd = xmalloc(10001);
        memset(odd, 'n', 10000);
        odd[10000] = 0;
    } else {
        odd = xstrdup(v % 3 ? "a\nb\x1b[31m" : "a/b");
    }
    char *old = xstrdup(n->output[0]);
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t k = 0; k < g->node[i]->n_input; k++)
            if (strcmp(g->node[i]->input[k], old) == 0)
                set_str(&g->node[i]->input[k], odd);
    for (size_t i = 0; i < g->n_output; i++)
        if (strcmp(g->output[i]->name, old) == 0)
            set_str(&g->output[i]->name, odd);
    set_str(&n->output[0], odd);
    set_str(&n->name, odd);
    free(old);
    free(odd);
    return true;
}

/* A graph input becomes a constant (an initializer) holding extreme
 * values: shape arguments (Reshape, Expand, Tile, Slice, Pad, TopK, Range,
 * OneHot, ConstantOfShape, Resize ...) then reach inference and folding. */
static bool mut_input_const(model *m, int v, rng *r, const char *own)
{
    graph *g = m->graph;
    Onnx__ValueInfoProto *vi = pick_input(m, r);
    if (!g || !vi || !vi->type || vi->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ||
        !vi->type->tensor_type || !vi->type->tensor_type->shape)
        return false;
    const Onnx__TensorShapeProto *s = vi->type->tensor_type->shape;
    const npy_type *t = npy_type_of(vi->type->tensor_type->elem_type);
    if (!t)
        return false;
    tensor *c = xmalloc(sizeof *c);
    onnx__tensor_proto__init(c);
    c->name = xstrdup(vi->name);
    c->has_data_type = 1;
    c->data_type = vi->type->tensor_type->elem_type;
    size_t elems = 1;
    for (size_t d = 0; d < s->n_dim; d++) {
        int64_t x = s->dim[d]->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE ? s->dim[d]->dim_value : 1;
        if (x < 0 || x > 64 || (elems *= (size_t)x) > 4096) {
            free_msg(c);
            return false;
        }
        APPEND(c->dims, c->n_dims, x);
    }
    c->has_raw_data = 1;
    c->raw_data.len = elems * t->size;
    c->raw_data.data = xmalloc(c->raw_data.len);
    static const double floats[] = {NAN, INFINITY, -INFINITY, 1e38, -0.0, 0.0, 65504, -1e-40};
    for (size_t i = 0; i < elems; i++) {
        /* mostly ordinary small values, one in three extreme */
        bool extreme = pick(r, 3) == 0 || v % 4 == 0;
        int64_t x = extreme ? extremes[pick(r, N_EXTREMES)] : (int64_t)pick(r, 5) - 1;
        double f = extreme ? floats[pick(r, 8)] : (double)x;
        uint8_t *at = c->raw_data.data + i * t->size;
        if (t->onnx == 1) {
            float ff = (float)f;
            memcpy(at, &ff, 4);
        } else if (t->onnx == 11) {
            memcpy(at, &f, 8);
        } else {
            memcpy(at, &x, t->size); /* little-endian: the low bytes */
        }
    }
    APPEND(g->initializer, g->n_initializer, c);
    if (v % 2) { /* and no longer a graph input (else: an input with a default) */
        size_t k = 0;
        for (size_t i = 0; i < g->n_input; i++)
            if (g->input[i] != vi)
                g->input[k++] = g->input[i];
        g->n_input = k;
        free_msg(vi);
    }
    return true;
}

typedef struct mutation {
    const char *name;
    mutate_fn *fn;
    int variants; /* per seed model */
} mutation;

/* Structured damage: one row per class. */
static const mutation mutations[] = {
    {"init-dtype", mut_init_dtype, 12},
    {"raw-length", mut_raw_length, 6},
    {"init-dims", mut_init_dims, 9},
    {"init-data", mut_init_data, 5},
    {"input-type", mut_input_type, 10},
    {"node-order", mut_node_order, 3},
    {"self-loop", mut_self_loop, 2},
    {"cycle", mut_cycle, 2},
    {"dangling", mut_dangling, 3},
    {"duplicate", mut_duplicate, 7},
    {"unknown-op", mut_unknown_op, 16},
    {"attr-type", mut_attr_type, 12},
    {"attr-value", mut_attr_value, 24},
    {"attr-shape", mut_attr_shape, 4},
    {"arity", mut_arity, 5},
    {"huge", mut_huge, 8},
    {"external", mut_external, 12},
    {"opset", mut_opset, 11},
    {"ir-version", mut_ir_version, 7},
    {"empty", mut_empty, 6},
    {"nested", mut_nested, 4},
    {"value-info", mut_value_info, 4},
    {"sparse", mut_sparse, 2},
    {"constant", mut_constant, 4},
    {"names", mut_names, 3},
    {"input-const", mut_input_const, 24},
};

static const struct { const char *name; int variants; } byte_classes[] = {
    {"truncate", 8}, {"bitflip", 10}, {"byteset", 8}, {"insert", 4}, {"delete", 4},
};

/* ---- text IR damage ---------------------------------------------------------- */

static const char *const text_tokens[] = {
    "-1", "0", "9223372036854775807", "-9223372036854775808", "99999999999999999999", "1e999",
    "nan", "%", "%x", "[", "]", "(", ")", "{", "}", "=", ",", "?1", "f32[", "NoSuchOp", "Relu",
    "const", "graph", "\"", "\\", "#", ";", "i64[0]", "kiln-ir 2", "opset(\"\"=999)",
};

static bool text_damage(int v, const blob *b, blob *out, rng *r)
{
    out->data = xmalloc(b->size * 2 + 256);
    memcpy(out->data, b->data, b->size);
    out->size = b->size;
    /* line boundaries */
    size_t starts[4096], nl = 0;
    starts[nl++] = 0;
    for (size_t i = 0; i < b->size && nl < 4095; i++)
        if (b->data[i] == '\n' && i + 1 < b->size)
            starts[nl++] = i + 1;
    starts[nl] = b->size;
    switch (v % 8) {
    case 0: /* truncated */
        out->size = pick(r, b->size);
        break;
    case 1: { /* a line deleted */
        size_t l = 1 + pick(r, nl - 1 ? nl - 1 : 1);
        if (l >= nl)
            l = nl - 1;
        memmove(out->data + starts[l], b->data + starts[l + 1], b->size - starts[l + 1]);
        out->size = b->size - (starts[l + 1] - starts[l]);
        break;
    }
    case 2: { /* a line duplicated */
        size_t l = pick(r, nl), len = starts[l + 1] - starts[l];
        memcpy(out->data + starts[l + 1], b->data + starts[l], len);
        memcpy(out->data + starts[l + 1] + len, b->data + starts[l + 1], b->size - starts[l + 1]);
        out->size = b->size + len;
        break;
    }
    case 3: { /* two lines swapped */
        if (nl < 3)
            return false;
        size_t l = 1 + pick(r, nl - 2);
        size_t a = starts[l], mid = starts[l + 1], e = starts[l + 2 <= nl ? l + 2 : nl];
        memcpy(out->data + a, b->data + mid, e - mid);
        memcpy(out->data + a + (e - mid), b->data + a, mid - a);
        break;
    }
    case 4: case 5: case 6: { /* a token replaced (numbers favoured) */
        size_t at = pick(r, b->size);
        if (v % 8 != 6)
            for (size_t k = 0; k < b->size; k++) {
                size_t i = (at + k) % b->size;
                if (b->data[i] >= '0' && b->data[i] <= '9') {
                    at = i;
                    break;
                }
            }
        size_t end = at;
        while (end < b->size && ((b->data[end] >= '0' && b->data[end] <= '9') || b->data[end] == '.'))
            end++;
        if (end == at)
            end = at + 1 < b->size ? at + 1 : at;
        const char *tok = text_tokens[pick(r, sizeof text_tokens / sizeof *text_tokens)];
        size_t tl = strlen(tok);
        memcpy(out->data + at, tok, tl);
        memcpy(out->data + at + tl, b->data + end, b->size - end);
        out->size = at + tl + (b->size - end);
        break;
    }
    default: /* bytes flipped */
        for (int i = 0; i < 3; i++)
            out->data[pick(r, b->size)] ^= (uint8_t)(1u << pick(r, 8));
        break;
    }
    return true;
}

/* ---- driver -------------------------------------------------------------- */

static bool read_blob(const char *path, blob *b)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    b->data = NULL;
    b->size = 0;
    size_t cap = 0, n;
    uint8_t chunk[65536];
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (b->size + n > cap) {
            cap = (b->size + n) * 2;
            b->data = xrealloc(b->data, cap + 1);
        }
        memcpy(b->data + b->size, chunk, n);
        b->size += n;
    }
    fclose(f);
    if (b->data)
        b->data[b->size] = 0;
    return b->size > 0;
}

static rng stream(const char *seed_name, const char *cls, int v)
{
    rng r = {base_seed ^ hash_str(seed_name) ^ (hash_str(cls) * 31) ^ ((uint64_t)v << 48)};
    next(&r);
    return r;
}

/* Seed model number k gets variant v of a class when (v + k) % SPREAD is 0:
 * every variant lands on a different sixth of the seeds, which keeps the
 * corpus near 2,500 models while each class still meets every kind of
 * graph. Big seeds (each copy costs their size) get half as many. */
enum { SPREAD = 6 };
static int seed_index;

static bool chosen(int v, bool big)
{
    return (v + seed_index) % (big ? 2 * SPREAD : SPREAD) == 0;
}

static void from_onnx(const char *name, const blob *b)
{
    model *seed = onnx__model_proto__unpack(NULL, b->size, b->data);
    if (!seed) {
        fprintf(stderr, "gen_malformed: %s: not a valid ONNX model (a seed must be valid)\n", name);
        exit(2);
    }
    bool big = b->size > 100000;
    for (size_t c = 0; c < sizeof byte_classes / sizeof *byte_classes; c++)
        for (int v = 0; v < byte_classes[c].variants; v++) {
            if (!chosen(v, big))
                continue;
            rng r = stream(name, byte_classes[c].name, v);
            blob out;
            if (!byte_damage(byte_classes[c].name, v, b, &out, &r))
                continue;
            model *back = onnx__model_proto__unpack(NULL, out.size, out.data);
            emit(byte_classes[c].name, name, "onnx", out.data, out.size, back ? back : seed, NULL, &r);
            if (back)
                onnx__model_proto__free_unpacked(back, NULL);
            free(out.data);
        }
    for (size_t c = 0; c < sizeof mutations / sizeof *mutations; c++)
        for (int v = 0; v < mutations[c].variants; v++) {
            if (!chosen(v, big))
                continue;
            rng r = stream(name, mutations[c].name, v);
            model *m = onnx__model_proto__unpack(NULL, b->size, b->data);
            char own[128];
            snprintf(own, sizeof own, "%04d-%s.onnx", count, mutations[c].name);
            if (mutations[c].fn(m, v, &r, own))
                emit_model(mutations[c].name, name, m, &r);
            onnx__model_proto__free_unpacked(m, NULL);
        }
    onnx__model_proto__free_unpacked(seed, NULL);
}

static void from_text(const char *name, const blob *b)
{
    for (int v = 0; v < 16; v++) {
        if (!chosen(v, false) && !chosen(v + 3, false))
            continue;
        rng r = stream(name, "text", v);
        blob out;
        if (!text_damage(v, b, &out, &r))
            continue;
        out.data[out.size] = 0;
        emit("text", name, "kir", out.data, out.size, NULL, (const char *)out.data, &r);
        free(out.data);
    }
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: gen_malformed OUT_DIR SEED_LIST SRC_ROOT [SEED]\n");
        return 2;
    }
    out_dir = argv[1];
    base_seed = argc == 5 ? strtoull(argv[4], NULL, 0) : 13;
    if (mkdir(out_dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "gen_malformed: %s: %s\n", out_dir, strerror(errno));
        return 2;
    }
    FILE *list = fopen(argv[2], "r");
    if (!list) {
        fprintf(stderr, "gen_malformed: %s: %s\n", argv[2], strerror(errno));
        return 2;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/manifest.tsv", out_dir);
    manifest = fopen(path, "w");
    if (!manifest) {
        fprintf(stderr, "gen_malformed: %s: %s\n", path, strerror(errno));
        return 2;
    }
    uint8_t ext[4096];
    for (size_t i = 0; i < sizeof ext; i++)
        ext[i] = (uint8_t)(i * 7);
    write_file("ext.bin", ext, sizeof ext);
    int seeds = 0, skipped = 0;
    char line[1024];
    while (fgets(line, sizeof line, list)) {
        line[strcspn(line, "\r\n#")] = 0;
        size_t n = strlen(line);
        while (n && line[n - 1] == ' ')
            line[--n] = 0;
        if (!n)
            continue;
        int len = line[0] == '/' ? snprintf(path, sizeof path, "%s", line)
                                 : snprintf(path, sizeof path, "%s/%s", argv[3], line);
        if (len < 0 || (size_t)len >= sizeof path) {
            fprintf(stderr, "gen_malformed: %s: seed path too long: %s\n", argv[2], line);
            skipped++;
            continue;
        }
        blob b;
        if (!read_blob(path, &b)) {
            skipped++;
            continue;
        }
        seeds++;
        seed_index++;
        if (n > 4 && strcmp(line + n - 4, ".kir") == 0)
            from_text(line, &b);
        else
            from_onnx(line, &b);
        free(b.data);
    }
    fclose(list);
    fclose(manifest);
    printf("gen_malformed: %d models from %d seed models (%d listed seeds missing) in %s\n", count, seeds,
           skipped, out_dir);
    return 0;
}
