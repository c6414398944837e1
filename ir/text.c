/* text.c — kiln's text IR: the printer and the parser, in one module so
 * that the two cannot drift apart (docs/text-ir.md has the grammar).
 *
 * The printer is deterministic: it walks graph inputs, constants (in value
 * order) and nodes (in node order); anonymous values print as %~k and
 * anonymous dimensions as ?k, both numbered in order of appearance, so the
 * same graph always gives the same bytes and parse(print(g)) prints the
 * same text again. Floats print as the shortest decimal that reads back to
 * the same bits (NaN payloads as raw bits), so every literal is exact.
 *
 * Constants of up to INLINE_MAX elements print inline; larger ones print
 * their digest only (kiln_text_format: the parsed constant has no data and
 * cannot be run) or point into a weights sidecar (kiln_text_save).
 *
 * The parser never trusts its input: every count, size and index is
 * checked, and errors name path:line:col and what was expected there.
 */
#define _POSIX_C_SOURCE 200809L
#include "ir/text.h"
#include "ir/limits.h"
#include "runtime/krt.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
    INLINE_MAX = 16,     /* constants with at most this many elements print inline */
    SIDECAR_ALIGN = 64,  /* every tensor in a sidecar starts at a multiple of this */
    NUM_MAX = 64,        /* longest number token accepted */
};
#define SIDECAR_MAGIC "kiln-weights 1\n"

/* ===== growable byte buffer ============================================== */

typedef struct buf {
    char *p;
    size_t n, cap;
} buf;

static void buf_put(buf *b, const void *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        b->p = kiln_xrealloc(b->p, cap);
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void buf_puts(buf *b, const char *s) { buf_put(b, s, strlen(s)); }

static KILN_PRINTF(2, 3) void buf_printf(buf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    KILN_ASSERT(n >= 0 && (size_t)n < sizeof tmp);
    buf_put(b, tmp, (size_t)n);
}

/* ===== string -> index map (open addressing) ============================== */

typedef struct strmap {
    const char **keys;   /* borrowed; NULL = empty slot */
    uint32_t *vals;
    uint32_t cap, n;
} strmap;

static uint32_t str_hash(const char *s)
{
    return (uint32_t)kiln_digest(s, strlen(s));
}

static uint32_t *map_find(strmap *m, const char *key)
{
    if (!m->cap)
        return NULL;
    for (uint32_t i = str_hash(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->keys[i])
            return NULL;
        if (strcmp(m->keys[i], key) == 0)
            return &m->vals[i];
    }
}

static void map_grow(strmap *m);

/* Inserts key (which must be absent) with value v. */
static void map_put(strmap *m, const char *key, uint32_t v)
{
    if ((m->n + 1) * 2 > m->cap)
        map_grow(m);
    uint32_t i = str_hash(key) & (m->cap - 1);
    while (m->keys[i])
        i = (i + 1) & (m->cap - 1);
    m->keys[i] = key;
    m->vals[i] = v;
    m->n++;
}

static void map_grow(strmap *m)
{
    strmap old = *m;
    m->cap = old.cap ? old.cap * 2 : 64;
    m->keys = kiln_xcalloc(m->cap, sizeof *m->keys);
    m->vals = kiln_xcalloc(m->cap, sizeof *m->vals);
    m->n = 0;
    for (uint32_t i = 0; i < old.cap; i++)
        if (old.keys[i])
            map_put(m, old.keys[i], old.vals[i]);
    free(old.keys);
    free(old.vals);
}

static void map_free(strmap *m)
{
    free(m->keys);
    free(m->vals);
}

/* ===== lexical rules shared by printer and parser ========================= */

static bool is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static bool is_digit(int c) { return c >= '0' && c <= '9'; }
static bool is_hex(int c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
/* Characters of a bare name after %, @ or # (ONNX names like "/blocks.0/Add_1"). */
static bool name_char(int c) { return is_alpha(c) || is_digit(c) || c == '_' || c == '.' || c == '-' || c == '/'; }

static bool bare_name(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!name_char((unsigned char)*s))
            return false;
    return true;
}

/* A word (attribute name, dimension symbol) that needs no quotes: starts
 * like an identifier and is not one of the lexer's special words. */
static bool bare_word(const char *s)
{
    if (!(is_alpha((unsigned char)s[0]) || s[0] == '_') || strcmp(s, "_") == 0 ||
        strcmp(s, "inf") == 0 || strcmp(s, "nan") == 0)
        return false;
    return bare_name(s);
}

static void put_quoted(buf *b, const char *s)
{
    buf_puts(b, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            buf_printf(b, "\\%c", c);
        else if (c == '\n')
            buf_puts(b, "\\n");
        else if (c == '\t')
            buf_puts(b, "\\t");
        else if (c < 0x20 || c == 0x7f)
            buf_printf(b, "\\x%02x", c);
        else
            buf_put(b, &c, 1);
    }
    buf_puts(b, "\"");
}

static void put_name(buf *b, const char *s)
{
    if (bare_name(s))
        buf_puts(b, s);
    else
        put_quoted(b, s);
}

static void put_word(buf *b, const char *s)
{
    if (bare_word(s))
        buf_puts(b, s);
    else
        put_quoted(b, s);
}

/* ===== numbers: exact float text ========================================= */

/* Reads s back in dtype dt and compares the bits with the original. */
static bool float_reads_back(const char *s, kiln_dtype dt, uint64_t bits)
{
    if (dt == KILN_DT_F64) {
        double d = strtod(s, NULL);
        uint64_t got;
        memcpy(&got, &d, 8);
        return got == bits;
    }
    float f = strtof(s, NULL);
    uint32_t got;
    memcpy(&got, &f, 4);
    if (dt == KILN_DT_F16)
        return krt_f32_to_f16(f) == bits;
    if (dt == KILN_DT_BF16)
        return krt_f32_to_bf16(f) == bits;
    return got == bits;
}

/* %g picks exponent form for 100 at precision 1 ("1e+02"): for exponents
 * 0..6 reprint in fixed form with as many digits as the integer part. */
static void widen_fixed(char *out, size_t size, double x, int prec)
{
    const char *e = strchr(out, 'e');
    if (!e)
        return;
    int exp10 = atoi(e + 1);
    if (exp10 >= 0 && exp10 <= 6 && exp10 + 1 > prec)
        snprintf(out, size, "%.*g", exp10 + 1, x);
}

/* Shortest decimal for a finite value of dt (given as double x and its raw
 * bits) that reads back to the same bits, with ".0" added to integers so
 * that the text says "float". */
static void fmt_finite(char *out, size_t size, double x, kiln_dtype dt, uint64_t bits)
{
    int maxp = dt == KILN_DT_F64 ? 17 : 9;
    int p = 1;
    for (; p <= maxp; p++) {
        snprintf(out, size, "%.*g", p, x);
        if (float_reads_back(out, dt, bits))
            break;
    }
    widen_fixed(out, size, x, p > maxp ? maxp : p);
    if (!strpbrk(out, ".e"))
        strncat(out, ".0", size - strlen(out) - 1);
}

/* Element k of float data of dtype dt, as a double and as raw bits. */
static void float_elem(kiln_dtype dt, const void *data, size_t k, double *x, uint64_t *bits)
{
    const unsigned char *p = data;
    if (dt == KILN_DT_F64) {
        memcpy(x, p + 8 * k, 8);
        memcpy(bits, p + 8 * k, 8);
    } else if (dt == KILN_DT_F32) {
        float f;
        uint32_t b;
        memcpy(&f, p + 4 * k, 4);
        memcpy(&b, p + 4 * k, 4);
        *x = f, *bits = b;
    } else {
        uint16_t h;
        memcpy(&h, p + 2 * k, 2);
        *x = dt == KILN_DT_F16 ? krt_f16_to_f32(h) : krt_bf16_to_f32(h);
        *bits = h;
    }
}

/* The default quiet NaN of each float dtype: printed as plain "nan". */
static uint64_t quiet_nan(kiln_dtype dt)
{
    switch (dt) {
    case KILN_DT_F64: return 0x7ff8000000000000ull;
    case KILN_DT_F32: return 0x7fc00000u;
    case KILN_DT_F16: return 0x7e00u;
    default: return 0x7fc0u; /* bf16 */
    }
}

static uint64_t sign_bit(kiln_dtype dt)
{
    return dt == KILN_DT_F64 ? 1ull << 63 : dt == KILN_DT_F32 ? 1ull << 31 : 1ull << 15;
}

static void fmt_float(char *out, size_t size, kiln_dtype dt, const void *data, size_t k)
{
    double x;
    uint64_t bits;
    float_elem(dt, data, k, &x, &bits);
    if (isnan(x)) {
        if (bits == quiet_nan(dt))
            snprintf(out, size, "nan");
        else if (bits == (quiet_nan(dt) | sign_bit(dt)))
            snprintf(out, size, "-nan");
        else
            snprintf(out, size, "nan(0x%llx)", (unsigned long long)bits);
    } else if (isinf(x)) {
        snprintf(out, size, x < 0 ? "-inf" : "inf");
    } else {
        fmt_finite(out, size, x, dt, bits);
    }
}

/* Element k of integer (or bool) data, as text. */
static void fmt_int(char *out, size_t size, kiln_dtype dt, const void *data, size_t k)
{
    const unsigned char *p = data;
    int64_t v = 0;
    switch (dt) {
    case KILN_DT_I8: { int8_t x; memcpy(&x, p + k, 1); v = x; break; }
    case KILN_DT_I16: { int16_t x; memcpy(&x, p + 2 * k, 2); v = x; break; }
    case KILN_DT_I32: { int32_t x; memcpy(&x, p + 4 * k, 4); v = x; break; }
    case KILN_DT_I64: { memcpy(&v, p + 8 * k, 8); break; }
    case KILN_DT_U8: case KILN_DT_BOOL: v = p[k]; break;
    case KILN_DT_U16: { uint16_t x; memcpy(&x, p + 2 * k, 2); v = x; break; }
    case KILN_DT_U32: { uint32_t x; memcpy(&x, p + 4 * k, 4); v = x; break; }
    case KILN_DT_U64: {
        uint64_t x;
        memcpy(&x, p + 8 * k, 8);
        snprintf(out, size, "%llu", (unsigned long long)x);
        return;
    }
    default: KILN_UNREACHABLE();
    }
    if (dt == KILN_DT_BOOL && (v == 0 || v == 1))
        snprintf(out, size, v ? "true" : "false");
    else
        snprintf(out, size, "%lld", (long long)v);
}

static void fmt_elem(char *out, size_t size, kiln_dtype dt, const void *data, size_t k)
{
    if (kiln_dtype_is_float(dt))
        fmt_float(out, size, dt, data, k);
    else
        fmt_int(out, size, dt, data, k);
}

/* ===== printer ============================================================ */

typedef struct printer {
    buf out;
    const kiln_graph *g;
    strmap names;        /* printed name -> the value that owns it */
    uint32_t *val_k;     /* value -> its %~k number (anonymous values) */
    uint32_t *val_named; /* value -> 1 if it prints under its own name */
    uint32_t n_anon_val;
    uint32_t *sym_k;     /* symbol id -> its ?k number (anonymous symbols) */
    uint32_t n_anon_sym;
    buf *sidecar;        /* kiln_text_save: large constants go here */
} printer;

/* A value prints under its name unless it has none or an earlier value
 * already took that name; such values print as %~k. Decided lazily, in
 * order of appearance, which is the order the parser meets them. */
static void put_value(printer *pr, uint32_t v)
{
    const char *name = pr->g->values[v].name;
    buf_puts(&pr->out, "%");
    if (!pr->val_named[v] && !pr->val_k[v]) {
        if (name[0] && !map_find(&pr->names, name)) {
            map_put(&pr->names, name, v);
            pr->val_named[v] = 1;
        } else {
            pr->val_k[v] = ++pr->n_anon_val;
        }
    }
    if (pr->val_named[v])
        put_name(&pr->out, name);
    else
        buf_printf(&pr->out, "~%u", pr->val_k[v]);
}

static void put_dim(printer *pr, kiln_dim d)
{
    uint32_t id = KILN_DIM_SYM_ID(d);
    if (!KILN_DIM_IS_SYM(d)) {
        buf_printf(&pr->out, "%lld", (long long)d);
    } else if (id >= pr->g->n_syms) {
        buf_puts(&pr->out, "?0");   /* not a symbol of this graph: verify flags it */
    } else if (pr->g->syms[id]) {
        put_word(&pr->out, pr->g->syms[id]);
    } else {
        if (!pr->sym_k[id])
            pr->sym_k[id] = ++pr->n_anon_sym;
        buf_printf(&pr->out, "?%u", pr->sym_k[id]);
    }
}

static void put_type(printer *pr, kiln_dtype dt, const kiln_shape *s)
{
    buf_puts(&pr->out, kiln_dtype_name(dt));
    if (s->rank < 0 || s->rank > KILN_MAX_RANK) {
        buf_puts(&pr->out, "[*]");
        return;
    }
    buf_puts(&pr->out, "[");
    for (int i = 0; i < s->rank; i++) {
        if (i)
            buf_puts(&pr->out, ",");
        put_dim(pr, s->dim[i]);
    }
    buf_puts(&pr->out, "]");
}

/* "%name: type", the type left out while it is entirely unknown. */
static void put_typed_value(printer *pr, uint32_t v)
{
    const kiln_value *val = &pr->g->values[v];
    put_value(pr, v);
    if (val->dtype == KILN_DT_UNDEF && val->shape.rank < 0)
        return;
    buf_puts(&pr->out, ": ");
    put_type(pr, val->dtype, &val->shape);
}

static void put_elems(printer *pr, kiln_dtype dt, const void *data, size_t n)
{
    char tmp[64];
    buf_puts(&pr->out, "[");
    for (size_t k = 0; k < n; k++) {
        fmt_elem(tmp, sizeof tmp, dt, data, k);
        buf_printf(&pr->out, "%s%s", k ? ", " : "", tmp);
    }
    buf_puts(&pr->out, "]");
}

/* Element count of a constant whose bytes match its type, else -1. */
static int64_t const_numel(const kiln_value *v)
{
    int64_t numel, bytes;
    if (v->dtype == KILN_DT_UNDEF || !kiln_shape_is_static(&v->shape) ||
        !kiln_shape_numel(&v->shape, &numel) ||
        !kiln_mul_size(numel, (int64_t)kiln_dtype_size(v->dtype), &bytes) ||
        (v->data && (uint64_t)bytes != v->nbytes))
        return -1;
    return numel;
}

static void put_sidecar_ref(printer *pr, const kiln_value *v)
{
    buf *sc = pr->sidecar;
    static const char zeros[SIDECAR_ALIGN];
    if (sc->n % SIDECAR_ALIGN)
        buf_put(sc, zeros, SIDECAR_ALIGN - sc->n % SIDECAR_ALIGN);
    buf_printf(&pr->out, " sidecar(%zu, %zu)", sc->n, v->nbytes);
    buf_put(sc, v->data, v->nbytes);
}

static void put_const(printer *pr, uint32_t v)
{
    const kiln_value *val = &pr->g->values[v];
    int64_t numel = const_numel(val);
    buf_puts(&pr->out, "  const ");
    put_typed_value(pr, v);
    if (val->data && numel >= 0 && numel <= INLINE_MAX) {
        buf_puts(&pr->out, " = ");
        put_elems(pr, val->dtype, val->data, (size_t)numel);
    } else {
        uint64_t d = val->data ? kiln_digest(val->data, val->nbytes) : val->digest;
        buf_printf(&pr->out, " digest %016llx", (unsigned long long)d);
        if (val->data && numel >= 0 && pr->sidecar)
            put_sidecar_ref(pr, val);
    }
    buf_puts(&pr->out, "\n");
}

static void put_strings(buf *b, const char *const *s, uint32_t n)
{
    buf_puts(b, "[");
    for (uint32_t k = 0; k < n; k++) {
        if (k)
            buf_puts(b, ", ");
        put_quoted(b, s[k]);
    }
    buf_puts(b, "]");
}

static void put_attr_value(printer *pr, const kiln_attr *a)
{
    static const char *const empty[KILN_ATTR_KIND_COUNT] = {
        [KILN_ATTR_INTS] = "ints[]", [KILN_ATTR_FLOATS] = "floats[]", [KILN_ATTR_STRINGS] = "strings[]",
    };
    char tmp[64];
    if (empty[a->kind] && a->n == 0) {
        buf_puts(&pr->out, empty[a->kind]);
        return;
    }
    switch (a->kind) {
    case KILN_ATTR_INT: buf_printf(&pr->out, "%lld", (long long)a->u.i); break;
    case KILN_ATTR_FLOAT:
        fmt_float(tmp, sizeof tmp, KILN_DT_F32, &a->u.f, 0);
        buf_puts(&pr->out, tmp);
        break;
    case KILN_ATTR_STRING: put_quoted(&pr->out, a->u.s); break;
    case KILN_ATTR_INTS: put_elems(pr, KILN_DT_I64, a->u.ints, a->n); break;
    case KILN_ATTR_FLOATS: put_elems(pr, KILN_DT_F32, a->u.floats, a->n); break;
    case KILN_ATTR_STRINGS: put_strings(&pr->out, a->u.strings, a->n); break;
    case KILN_ATTR_TENSOR: {
        const kiln_tensor *t = a->u.tensor;
        int64_t numel = 0;
        put_type(pr, t->dtype, &t->shape);
        buf_puts(&pr->out, " ");
        if (!kiln_shape_numel(&t->shape, &numel) ||
            (uint64_t)numel * kiln_dtype_size(t->dtype) != t->nbytes)
            numel = 0;  /* inconsistent tensor: print what parses (verify flags it) */
        put_elems(pr, t->dtype, t->data, (size_t)numel);
        break;
    }
    default: KILN_UNREACHABLE();
    }
}

static void put_attrs(printer *pr, const kiln_node *n)
{
    const kiln_attr *attrs = &pr->g->attrs[n->attr];
    buf_puts(&pr->out, " {");
    for (uint32_t i = 0; i < n->n_attr; i++) {
        buf_puts(&pr->out, i ? ", " : "");
        put_word(&pr->out, attrs[i].name);
        buf_puts(&pr->out, " = ");
        put_attr_value(pr, &attrs[i]);
    }
    buf_puts(&pr->out, "}");
}

static void put_operand(printer *pr, uint32_t v)
{
    if (v && v < pr->g->n_values)
        put_value(pr, v);
    else
        buf_puts(&pr->out, "_");
}

static void put_node(printer *pr, uint32_t id)
{
    const kiln_graph *g = pr->g;
    const kiln_node *n = &g->nodes[id];
    buf_puts(&pr->out, "  ");
    for (uint32_t i = 0; i < n->n_out; i++) {
        uint32_t v = g->operands[n->out + i];
        buf_puts(&pr->out, i ? ", " : "");
        if (v && v < g->n_values)
            put_typed_value(pr, v);
        else
            buf_puts(&pr->out, "_");
    }
    char opname[64];
    buf_printf(&pr->out, "%s%s(", n->n_out ? " = " : "", kiln_op_text_name(n->op, opname, sizeof opname));
    for (uint32_t i = 0; i < n->n_in; i++) {
        buf_puts(&pr->out, i ? ", " : "");
        put_operand(pr, g->operands[n->in + i]);
    }
    buf_puts(&pr->out, ")");
    if (n->n_attr)
        put_attrs(pr, n);
    if (n->name[0]) {
        buf_puts(&pr->out, " #");
        put_name(&pr->out, n->name);
    }
    buf_puts(&pr->out, "\n");
}

static void put_header(printer *pr)
{
    const kiln_graph *g = pr->g;
    buf_puts(&pr->out, KILN_TEXT_MAGIC "\ngraph @");
    put_name(&pr->out, g->name);
    for (uint32_t i = 0; i < g->n_opsets; i++) {
        buf_puts(&pr->out, i ? ", " : " opset(");
        put_quoted(&pr->out, g->opsets[i].domain);
        buf_printf(&pr->out, "=%lld", (long long)g->opsets[i].version);
    }
    buf_puts(&pr->out, g->n_opsets ? ") (" : " (");
    for (uint32_t i = 0; i < g->n_inputs; i++) {
        buf_puts(&pr->out, i ? ", " : "");
        put_typed_value(pr, g->inputs[i]);
    }
    buf_puts(&pr->out, ") -> (");
    for (uint32_t i = 0; i < g->n_outputs; i++) {
        buf_puts(&pr->out, i ? ", " : "");
        put_operand(pr, g->outputs[i]);
    }
    buf_puts(&pr->out, ") {\n");
}

static char *print_graph(const kiln_graph *g, buf *sidecar)
{
    printer pr = {.g = g, .sidecar = sidecar};
    pr.val_k = kiln_xcalloc(g->n_values, sizeof *pr.val_k);
    pr.val_named = kiln_xcalloc(g->n_values, sizeof *pr.val_named);
    pr.sym_k = kiln_xcalloc(g->n_syms, sizeof *pr.sym_k);
    put_header(&pr);
    for (uint32_t v = 1; v < g->n_values; v++)
        if (g->values[v].kind == KILN_VAL_CONST)
            put_const(&pr, v);
    for (uint32_t id = 1; id < g->n_nodes; id++)
        put_node(&pr, id);
    buf_puts(&pr.out, "}\n");
    map_free(&pr.names);
    free(pr.val_k);
    free(pr.val_named);
    free(pr.sym_k);
    return pr.out.p;
}

char *kiln_text_format(const kiln_graph *g)
{
    return print_graph(g, NULL);
}

/* ===== lexer ============================================================== */

typedef enum tkind {
    T_EOF,
    T_WORD,    /* graph const opset f32 MatMul axis N ... */
    T_NUM,     /* 12 -3 0.5 1e-05 inf -nan 0x7fc00001 */
    T_STR,     /* "..." */
    T_VAL,     /* %name %"name" %~3 */
    T_GRAPH,   /* @name */
    T_NODE,    /* #name */
    T_DIM,     /* ?3 */
    T_ABSENT,  /* _ */
    T_ARROW,   /* -> */
    T_PUNCT,   /* ( ) [ ] { } , : = * ? */
} tkind;

typedef struct token {
    tkind kind;
    const char *s;   /* the token's text (for sigils: after the sigil) */
    size_t n;
    bool quoted;     /* s..s+n is a "quoted string" (with its quotes) */
    bool anon;       /* %~k */
    int line, col;
} token;

typedef struct valinfo {
    bool defined;
    int line, col;   /* where it was first named */
    const char *key; /* its name as written, for messages: "'%x'", "'%~3'" */
} valinfo;

typedef struct parser {
    kiln_ctx *ctx;
    const char *path;
    const char *text;
    size_t len, pos;
    int line, col;
    token tok;           /* the current token (one-token lookahead) */
    kiln_graph *g;
    kiln_arena *tmp;     /* map keys and other scratch */
    strmap names;        /* value name -> value */
    strmap anon;         /* "k" of %~k -> value */
    strmap dims;         /* "k" of ?k -> symbol id */
    valinfo *info;       /* per value */
    uint32_t cap_info;
    unsigned char *side; /* the weights sidecar, read on first use */
    size_t side_len;
} parser;

#define TRY(x)                      \
    do {                            \
        kiln_status st_ = (x);      \
        if (st_ != KILN_OK)         \
            return st_;             \
    } while (0)

static KILN_PRINTF(4, 5) kiln_status fail_at(parser *p, int line, int col, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return kiln_error(p->ctx, KILN_ERR_INVALID, "%s:%d:%d: %s", p->path, line, col, msg);
}

#define FAIL_TOK(p, ...) fail_at((p), (p)->tok.line, (p)->tok.col, __VA_ARGS__)

static int cur(const parser *p) { return p->pos < p->len ? (unsigned char)p->text[p->pos] : -1; }
static int peek_at(const parser *p, size_t k)
{
    return p->pos + k < p->len ? (unsigned char)p->text[p->pos + k] : -1;
}

static void adv(parser *p)
{
    if (p->text[p->pos] == '\n')
        p->line++, p->col = 1;
    else
        p->col++;
    p->pos++;
}

static void skip_space(parser *p)
{
    for (;;) {
        int c = cur(p);
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            adv(p);
        else if (c == ';')
            while (cur(p) != -1 && cur(p) != '\n')
                adv(p);
        else
            return;
    }
}

static kiln_status lex_string(parser *p)
{
    adv(p); /* opening quote */
    for (;;) {
        int c = cur(p);
        if (c == -1 || c == '\n')
            return fail_at(p, p->tok.line, p->tok.col, "unterminated string");
        if (c == '"')
            break;
        if (c < 0x20 || c == 0x7f)
            return fail_at(p, p->line, p->col, "control character 0x%02x in a string (write it as \\x%02x)", c, c);
        if (c == '\\') {
            int e = peek_at(p, 1);
            if (e == 'x' && is_hex(peek_at(p, 2)) && is_hex(peek_at(p, 3)) &&
                !(peek_at(p, 2) == '0' && peek_at(p, 3) == '0'))
                adv(p), adv(p), adv(p);
            else if (e == '"' || e == '\\' || e == 'n' || e == 't')
                adv(p);
            else
                return fail_at(p, p->line, p->col, "bad escape in a string: expected \\\" \\\\ \\n \\t or \\xHH (not \\x00)");
        }
        adv(p);
    }
    adv(p); /* closing quote */
    return KILN_OK;
}

/* A name after a sigil: "quoted", or bare name characters. */
static kiln_status lex_name(parser *p, const char *what)
{
    if (cur(p) == '"') {
        p->tok.quoted = true;
        p->tok.s = p->text + p->pos;
        TRY(lex_string(p));
    } else {
        p->tok.s = p->text + p->pos;
        while (cur(p) != -1 && name_char(cur(p)))
            adv(p);
        if (p->text + p->pos == p->tok.s)
            return FAIL_TOK(p, "expected %s after '%c'", what, p->tok.s[-1]);
    }
    p->tok.n = (size_t)(p->text + p->pos - p->tok.s);
    return KILN_OK;
}

static kiln_status lex_digits_after(parser *p, tkind kind, const char *what)
{
    adv(p);
    p->tok.kind = kind;
    p->tok.s = p->text + p->pos;
    while (is_digit(cur(p)))
        adv(p);
    p->tok.n = (size_t)(p->text + p->pos - p->tok.s);
    if (!p->tok.n || p->tok.n > 9)
        return FAIL_TOK(p, "expected %s", what);
    return KILN_OK;
}

static kiln_status lex_value(parser *p)
{
    adv(p);
    p->tok.kind = T_VAL;
    if (cur(p) == '~') {
        p->tok.anon = true;
        TRY(lex_digits_after(p, T_VAL, "a number after '%~'"));
        return KILN_OK;
    }
    return lex_name(p, "a value name");
}

static bool word_is(const char *s, size_t n, const char *w) { return strlen(w) == n && memcmp(s, w, n) == 0; }

static kiln_status lex_number(parser *p)
{
    const char *s = p->text + p->pos;
    p->tok.kind = T_NUM;
    if (cur(p) == '-' || cur(p) == '+')
        adv(p);
    if (cur(p) == '0' && (peek_at(p, 1) == 'x' || peek_at(p, 1) == 'X')) {
        adv(p), adv(p);
        while (is_hex(cur(p)))
            adv(p);
    } else if (is_alpha(cur(p))) {
        const char *w = p->text + p->pos;
        while (is_alpha(cur(p)))
            adv(p);
        if (!word_is(w, (size_t)(p->text + p->pos - w), "inf") && !word_is(w, (size_t)(p->text + p->pos - w), "nan"))
            return FAIL_TOK(p, "malformed number (expected digits, inf or nan)");
    } else {
        while (is_digit(cur(p)) || cur(p) == '.')
            adv(p);
        if ((cur(p) == 'e' || cur(p) == 'E') &&
            (is_digit(peek_at(p, 1)) || ((peek_at(p, 1) == '-' || peek_at(p, 1) == '+') && is_digit(peek_at(p, 2))))) {
            adv(p), adv(p);
            while (is_digit(cur(p)))
                adv(p);
        }
    }
    p->tok.s = s;
    p->tok.n = (size_t)(p->text + p->pos - s);
    if (cur(p) != -1 && name_char(cur(p)))
        return FAIL_TOK(p, "malformed number '%.*s%c'", (int)p->tok.n, s, cur(p));
    if (p->tok.n > NUM_MAX)
        return FAIL_TOK(p, "number too long");
    return KILN_OK;
}

static kiln_status lex_word(parser *p)
{
    p->tok.kind = T_WORD;
    p->tok.s = p->text + p->pos;
    while (cur(p) != -1 && name_char(cur(p)))
        adv(p);
    p->tok.n = (size_t)(p->text + p->pos - p->tok.s);
    if (word_is(p->tok.s, p->tok.n, "_"))
        p->tok.kind = T_ABSENT;
    else if (word_is(p->tok.s, p->tok.n, "inf") || word_is(p->tok.s, p->tok.n, "nan"))
        p->tok.kind = T_NUM;
    return KILN_OK;
}

static bool starts_number(const parser *p)
{
    int c = cur(p), d = peek_at(p, 1);
    if (is_digit(c))
        return true;
    return (c == '-' || c == '+') && (is_digit(d) || d == '.' || d == 'i' || d == 'n');
}

/* Reads the next token into p->tok. */
static kiln_status next(parser *p)
{
    skip_space(p);
    token t = {.kind = T_PUNCT, .s = p->text + p->pos, .n = 1, .line = p->line, .col = p->col};
    p->tok = t;
    int c = cur(p);
    if (c == -1) {
        p->tok.kind = T_EOF;
        p->tok.n = 0;
        return KILN_OK;
    }
    if (c == '%')
        return lex_value(p);
    if (c == '@' || c == '#') {
        p->tok.kind = c == '@' ? T_GRAPH : T_NODE;
        adv(p);
        return lex_name(p, c == '@' ? "a graph name" : "a node name");
    }
    if (c == '?' && is_digit(peek_at(p, 1)))
        return lex_digits_after(p, T_DIM, "a number after '?'");
    if (c == '"') {
        p->tok.kind = T_STR;
        p->tok.quoted = true;
        TRY(lex_string(p));
        p->tok.n = (size_t)(p->text + p->pos - p->tok.s);
        return KILN_OK;
    }
    if (c == '-' && peek_at(p, 1) == '>') {
        p->tok.kind = T_ARROW;
        p->tok.n = 2;
        adv(p), adv(p);
        return KILN_OK;
    }
    if (starts_number(p))
        return lex_number(p);
    if (is_alpha(c) || c == '_')
        return lex_word(p);
    if (c && strchr("()[]{},:=*?", c)) {
        adv(p);
        return KILN_OK;
    }
    if (c >= 0x20 && c < 0x7f)
        return FAIL_TOK(p, "unexpected character '%c'", c);
    return FAIL_TOK(p, "unexpected byte 0x%02x", c);
}

/* ===== parser helpers ====================================================== */

/* How the current token reads in a message: "'foo'", "end of input". */
static const char *tok_desc(const parser *p, char *out, size_t size)
{
    static const char *const sigil[] = {[T_VAL] = "%", [T_GRAPH] = "@", [T_NODE] = "#", [T_DIM] = "?"};
    const token *t = &p->tok;
    if (t->kind == T_EOF)
        return "end of input";
    int n = t->n > 40 ? 40 : (int)t->n;
    const char *pre = t->kind < sizeof sigil / sizeof sigil[0] && sigil[t->kind] ? sigil[t->kind] : "";
    snprintf(out, size, "'%s%s%.*s%s'", pre, t->anon ? "~" : "", n, t->s, t->n > 40 ? "..." : "");
    return out;
}

static kiln_status expected(parser *p, const char *what)
{
    char d[96];
    return FAIL_TOK(p, "expected %s, got %s", what, tok_desc(p, d, sizeof d));
}

static bool is_punct(const parser *p, char c) { return p->tok.kind == T_PUNCT && p->tok.s[0] == c; }
static bool is_word(const parser *p, const char *w)
{
    return p->tok.kind == T_WORD && word_is(p->tok.s, p->tok.n, w);
}

static kiln_status expect_punct(parser *p, char c)
{
    char what[8];
    snprintf(what, sizeof what, "'%c'", c);
    if (!is_punct(p, c))
        return expected(p, what);
    return next(p);
}

/* Accepts c if it is the current token. */
static bool accept_punct(parser *p, char c, kiln_status *st)
{
    if (!is_punct(p, c))
        return false;
    *st = next(p);
    return true;
}

static int hexval(int c) { return is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10; }

/* The text of a token: a quoted string decoded (escapes were checked by
 * the lexer), else the raw characters. Allocated in the scratch arena. */
static char *tok_text(parser *p)
{
    const token *t = &p->tok;
    if (!t->quoted)
        return kiln_arena_strndup(p->tmp, t->s, t->n);
    char *out = kiln_arena_alloc(p->tmp, t->n, 1), *o = out;
    for (size_t i = 1; i + 1 < t->n; i++) {
        char c = t->s[i];
        if (c != '\\') {
            *o++ = c;
            continue;
        }
        c = t->s[++i];
        if (c == 'x') {
            *o++ = (char)(hexval((unsigned char)t->s[i + 1]) * 16 + hexval((unsigned char)t->s[i + 2]));
            i += 2;
        } else {
            *o++ = c == 'n' ? '\n' : c == 't' ? '\t' : c;
        }
    }
    *o = 0;
    return out;
}

/* ---- numbers ------------------------------------------------------------- */

static bool num_is_hex(const token *t)
{
    return memchr(t->s, 'x', t->n) || memchr(t->s, 'X', t->n);
}

/* inf, nan, or a decimal with a point or an exponent. */
static bool num_is_float_syntax(const token *t)
{
    if (num_is_hex(t))
        return false;
    return memchr(t->s, 'n', t->n) || memchr(t->s, '.', t->n) || memchr(t->s, 'e', t->n) ||
           memchr(t->s, 'E', t->n);
}

static void tok_copy(const parser *p, char *out /* [NUM_MAX + 1] */)
{
    memcpy(out, p->tok.s, p->tok.n);
    out[p->tok.n] = 0;
}

/* An integer token into [lo, hi] (signed) */
static kiln_status parse_i64(parser *p, int64_t lo, int64_t hi, int64_t *out)
{
    char s[NUM_MAX + 1], *end;
    if (p->tok.kind != T_NUM || num_is_float_syntax(&p->tok))
        return expected(p, "an integer");
    tok_copy(p, s);
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end)
        return FAIL_TOK(p, "malformed integer '%s' (decimal digits expected)", s);
    if (errno == ERANGE || v < lo || v > hi)
        return FAIL_TOK(p, "integer '%s' out of range [%lld, %lld]", s, (long long)lo, (long long)hi);
    *out = v;
    return next(p);
}

static kiln_status parse_u64(parser *p, uint64_t *out)
{
    char s[NUM_MAX + 1], *end;
    if (p->tok.kind != T_NUM || num_is_float_syntax(&p->tok) || p->tok.s[0] == '-')
        return expected(p, "a non-negative integer");
    tok_copy(p, s);
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end)
        return FAIL_TOK(p, "malformed integer '%s' (decimal digits expected)", s);
    if (errno == ERANGE)
        return FAIL_TOK(p, "integer '%s' out of range for u64", s);
    *out = v;
    return next(p);
}

/* "nan(0xBITS)": a NaN given by its raw bits. */
static kiln_status parse_nan_bits(parser *p, kiln_dtype dt, uint64_t *bits)
{
    char s[NUM_MAX + 1], *end;
    TRY(next(p));
    if (p->tok.kind != T_NUM || p->tok.n < 3 || p->tok.s[0] != '0' || (p->tok.s[1] | 0x20) != 'x')
        return expected(p, "the raw bits of a NaN in hex (nan(0x7fc00001))");
    tok_copy(p, s);
    errno = 0;
    *bits = strtoull(s, &end, 16);
    uint64_t exp_mask = dt == KILN_DT_F64 ? 0x7ff0000000000000ull : dt == KILN_DT_F32 ? 0x7f800000u
                        : dt == KILN_DT_F16 ? 0x7c00u : 0x7f80u;
    uint64_t all = dt == KILN_DT_F64 ? ~0ull : (sign_bit(dt) << 1) - 1;
    if (*end || errno == ERANGE || (*bits & ~all) || (*bits & exp_mask) != exp_mask || !(*bits & ~exp_mask & ~sign_bit(dt)))
        return FAIL_TOK(p, "'%s' is not the bit pattern of a %s NaN", s, kiln_dtype_name(dt));
    TRY(next(p));
    return expect_punct(p, ')');
}

/* A float literal of dtype dt, as raw bits. */
static kiln_status parse_float_bits(parser *p, kiln_dtype dt, uint64_t *bits)
{
    char s[NUM_MAX + 1], *end;
    if (p->tok.kind != T_NUM || num_is_hex(&p->tok))
        return expected(p, "a number");
    tok_copy(p, s);
    const char *body = s + (s[0] == '-' || s[0] == '+');
    if (strcmp(body, "nan") == 0) {
        TRY(next(p));
        if (is_punct(p, '(') && s[0] != '-' && s[0] != '+')
            return parse_nan_bits(p, dt, bits);
        *bits = quiet_nan(dt) | (s[0] == '-' ? sign_bit(dt) : 0);
        return KILN_OK;
    }
    errno = 0;
    if (dt == KILN_DT_F64) {
        double d = strtod(s, &end);
        memcpy(bits, &d, 8);
    } else {
        float f = strtof(s, &end);
        uint32_t b;
        memcpy(&b, &f, 4);
        *bits = dt == KILN_DT_F16 ? krt_f32_to_f16(f) : dt == KILN_DT_BF16 ? krt_f32_to_bf16(f) : b;
    }
    if (*end)
        return FAIL_TOK(p, "malformed number '%s'", s);
    return next(p);
}

/* ---- literals --------------------------------------------------------------- */

static kiln_status parse_int_elem(parser *p, kiln_dtype dt, buf *out)
{
    static const struct { int64_t lo, hi; } range[KILN_DT_COUNT] = {
        [KILN_DT_I8] = {INT8_MIN, INT8_MAX}, [KILN_DT_I16] = {INT16_MIN, INT16_MAX},
        [KILN_DT_I32] = {INT32_MIN, INT32_MAX}, [KILN_DT_I64] = {INT64_MIN, INT64_MAX},
        [KILN_DT_U8] = {0, UINT8_MAX}, [KILN_DT_U16] = {0, UINT16_MAX},
        [KILN_DT_U32] = {0, UINT32_MAX}, [KILN_DT_BOOL] = {0, UINT8_MAX},
    };
    unsigned char bytes[8];
    size_t size = kiln_dtype_size(dt);
    if (dt == KILN_DT_BOOL && (is_word(p, "true") || is_word(p, "false"))) {
        bytes[0] = is_word(p, "true");
        buf_put(out, bytes, 1);
        return next(p);
    }
    if (dt == KILN_DT_U64) {
        uint64_t u;
        TRY(parse_u64(p, &u));
        memcpy(bytes, &u, 8);
    } else {
        int64_t v = 0;
        TRY(parse_i64(p, range[dt].lo, range[dt].hi, &v));
        /* little-endian hosts only (as is the whole runtime): low bytes */
        memcpy(bytes, &v, 8);
    }
    buf_put(out, bytes, size);
    return KILN_OK;
}

static kiln_status parse_elem(parser *p, kiln_dtype dt, buf *out)
{
    if (!kiln_dtype_is_float(dt))
        return parse_int_elem(p, dt, out);
    uint64_t bits = 0;
    TRY(parse_float_bits(p, dt, &bits));
    if (dt == KILN_DT_F64) {
        buf_put(out, &bits, 8);
    } else if (dt == KILN_DT_F32) {
        uint32_t b = (uint32_t)bits;
        buf_put(out, &b, 4);
    } else {
        uint16_t h = (uint16_t)bits;
        buf_put(out, &h, 2);
    }
    return KILN_OK;
}

/* "[e, e, ...]" of dtype dt, exactly numel elements, into out. */
static kiln_status parse_elems(parser *p, kiln_dtype dt, int64_t numel, buf *out)
{
    int line = p->tok.line, col = p->tok.col;
    int64_t count = 0;
    kiln_status st = KILN_OK;
    TRY(expect_punct(p, '['));
    if (!accept_punct(p, ']', &st)) {
        do {
            if (count++ >= numel)
                return FAIL_TOK(p, "too many elements: the type has %lld", (long long)numel);
            TRY(parse_elem(p, dt, out));
        } while (accept_punct(p, ',', &st) && st == KILN_OK);
        TRY(st);
        TRY(expect_punct(p, ']'));
    }
    TRY(st);
    if (count != numel)
        return fail_at(p, line, col, "%lld elements given, the type has %lld", (long long)count, (long long)numel);
    return KILN_OK;
}

/* ---- types --------------------------------------------------------------- */

static kiln_status parse_dim(parser *p, kiln_dim *d)
{
    if (p->tok.kind == T_NUM) {
        int64_t v = 0;
        TRY(parse_i64(p, 0, INT64_MAX, &v));
        *d = v;
        return KILN_OK;
    }
    if (p->tok.kind == T_DIM) {
        char *k = tok_text(p);
        uint32_t *sym = map_find(&p->dims, k);
        if (!sym) {
            map_put(&p->dims, k, kiln_graph_symbol(p->g, NULL));
            sym = map_find(&p->dims, k);
        }
        *d = KILN_DIM_SYM(*sym);
        return next(p);
    }
    if (p->tok.kind == T_WORD || p->tok.kind == T_STR) {
        char *name = tok_text(p);
        if (!name[0])
            return FAIL_TOK(p, "a dimension symbol needs a name (or ?k for an anonymous one)");
        *d = KILN_DIM_SYM(kiln_graph_symbol(p->g, name));
        return next(p);
    }
    return expected(p, "a dimension (a size, a symbol or ?k)");
}

static kiln_status parse_shape(parser *p, kiln_shape *s)
{
    kiln_status st = KILN_OK;
    TRY(expect_punct(p, '['));
    *s = kiln_shape_make(0, NULL);
    if (accept_punct(p, '*', &st)) {
        *s = kiln_shape_unknown();
        TRY(st);
        return expect_punct(p, ']');
    }
    if (accept_punct(p, ']', &st))
        return st;
    do {
        if (s->rank == KILN_MAX_RANK)
            return FAIL_TOK(p, "more than %d dimensions (kiln's maximum rank)", KILN_MAX_RANK);
        TRY(parse_dim(p, &s->dim[s->rank++]));
    } while (accept_punct(p, ',', &st) && st == KILN_OK);
    TRY(st);
    return expect_punct(p, ']');
}

/* "f32[2,N]" or "?[*]". */
static kiln_status parse_type(parser *p, kiln_dtype *dt, kiln_shape *s)
{
    if (is_punct(p, '?')) {
        *dt = KILN_DT_UNDEF;
    } else {
        char *name = p->tok.kind == T_WORD ? tok_text(p) : NULL;
        *dt = name ? kiln_dtype_from_name(name) : KILN_DT_UNDEF;
        if (*dt == KILN_DT_UNDEF)
            return expected(p, "a dtype (f32 f64 f16 bf16 i8 i16 i32 i64 u8 u16 u32 u64 bool or ?)");
    }
    TRY(next(p));
    return parse_shape(p, s);
}

/* Bytes of a static shape of dtype dt; error when not static or too big. */
static kiln_status static_bytes(parser *p, int line, int col, kiln_dtype dt, const kiln_shape *s,
                                int64_t *numel, int64_t *bytes)
{
    if (dt == KILN_DT_UNDEF || !kiln_shape_is_static(s))
        return fail_at(p, line, col, "a tensor needs a known dtype and a static shape");
    if (!kiln_shape_numel(s, numel) || !kiln_mul_size(*numel, (int64_t)kiln_dtype_size(dt), bytes))
        return fail_at(p, line, col, "the tensor's size overflows");
    return KILN_OK;
}

/* ---- values ---------------------------------------------------------------- */

static valinfo *info_of(parser *p, uint32_t v)
{
    if (v >= p->cap_info) {
        uint32_t cap = p->cap_info ? p->cap_info : 64;
        while (cap <= v)
            cap *= 2;
        p->info = kiln_xrealloc(p->info, cap * sizeof *p->info);
        memset(p->info + p->cap_info, 0, (cap - p->cap_info) * sizeof *p->info);
        p->cap_info = cap;
    }
    return &p->info[v];
}

/* The value the current %token names (created on first mention). */
static uint32_t value_ref(parser *p)
{
    strmap *m = p->tok.anon ? &p->anon : &p->names;
    char *key = tok_text(p);
    uint32_t *v = map_find(m, key);
    if (v)
        return *v;
    uint32_t id = kiln_value_add(p->g, p->tok.anon ? "" : key);
    map_put(m, key, id);
    valinfo *vi = info_of(p, id);
    vi->line = p->tok.line;
    vi->col = p->tok.col;
    vi->key = kiln_arena_strdup(p->tmp, tok_desc(p, (char[96]){0}, 96));
    return id;
}

/* Marks the current %token's value as defined here; error if it already was. */
static kiln_status value_def(parser *p, uint32_t *out)
{
    char d[96];
    if (p->tok.kind != T_VAL)
        return expected(p, "a value (%name)");
    uint32_t v = value_ref(p);
    valinfo *vi = info_of(p, v);
    if (vi->defined)
        return FAIL_TOK(p, "value %s is defined twice (first at line %d, column %d)",
                        tok_desc(p, d, sizeof d), vi->line, vi->col);
    vi->defined = true;
    vi->line = p->tok.line;
    vi->col = p->tok.col;
    *out = v;
    return next(p);
}

static kiln_status value_use(parser *p, uint32_t *out)
{
    if (p->tok.kind == T_ABSENT) {
        *out = 0;
        return next(p);
    }
    if (p->tok.kind != T_VAL)
        return expected(p, "a value (%name) or _ for an absent input");
    *out = value_ref(p);
    return next(p);
}

/* ": type", optional (an untyped value keeps dtype ? and rank *). */
static kiln_status parse_opt_type(parser *p, uint32_t v)
{
    kiln_status st = KILN_OK;
    kiln_dtype dt;
    kiln_shape s;
    if (!accept_punct(p, ':', &st))
        return KILN_OK;
    TRY(st);
    TRY(parse_type(p, &dt, &s));
    p->g->values[v].dtype = dt;
    p->g->values[v].shape = s;
    return KILN_OK;
}

/* ---- the weights sidecar --------------------------------------------------- */

static kiln_status read_file(kiln_ctx *ctx, const char *path, size_t align, unsigned char **data, size_t *len);

static kiln_status load_sidecar(parser *p, int line, int col)
{
    char side[4096];
    if (p->side)
        return KILN_OK;
    if (snprintf(side, sizeof side, "%s.weights", p->path) >= (int)sizeof side)
        return fail_at(p, line, col, "path too long for a weights sidecar");
    if (read_file(p->ctx, side, SIDECAR_ALIGN, &p->side, &p->side_len))
        return fail_at(p, line, col, "this constant is in the weights sidecar: %s", kiln_ctx_message(p->ctx));
    if (p->side_len < sizeof SIDECAR_MAGIC - 1 || memcmp(p->side, SIDECAR_MAGIC, sizeof SIDECAR_MAGIC - 1)) {
        free(p->side);
        p->side = NULL;
        return fail_at(p, line, col, "%s is not a kiln weights file (no '%.14s' header)", side, SIDECAR_MAGIC);
    }
    return KILN_OK;
}

/* "sidecar(OFFSET, LENGTH)": the constant's bytes, checked against its
 * size and digest. */
static kiln_status parse_sidecar(parser *p, kiln_value *v, int64_t bytes, uint64_t digest)
{
    int line = p->tok.line, col = p->tok.col;
    uint64_t off, len;
    TRY(next(p));
    TRY(expect_punct(p, '('));
    TRY(parse_u64(p, &off));
    TRY(expect_punct(p, ','));
    TRY(parse_u64(p, &len));
    TRY(expect_punct(p, ')'));
    if (len != (uint64_t)bytes)
        return fail_at(p, line, col, "sidecar length %llu, the type needs %lld bytes", (unsigned long long)len, (long long)bytes);
    if (off % SIDECAR_ALIGN)
        return fail_at(p, line, col, "sidecar offset %llu is not a multiple of %d", (unsigned long long)off, SIDECAR_ALIGN);
    TRY(load_sidecar(p, line, col));
    if (off > p->side_len || len > p->side_len - off)
        return fail_at(p, line, col, "sidecar range [%llu, +%llu) is past the end of %s.weights (%zu bytes)",
                       (unsigned long long)off, (unsigned long long)len, p->path, p->side_len);
    if (kiln_digest(p->side + off, len) != digest)
        return fail_at(p, line, col, "the bytes in %s.weights do not match the digest (the file changed?)", p->path);
    v->data = p->side + off;
    v->nbytes = len;
    return KILN_OK;
}

/* "digest 9f2c01aa5e3b7d10", the current token being the keyword. The
 * lexer would split the hex digits at a digit/letter boundary, so they are
 * read straight from the text. */
static kiln_status parse_digest(parser *p, uint64_t *digest)
{
    char hex[17];
    size_t n = 0;
    skip_space(p);
    int line = p->line, col = p->col;
    while (n < 17 && is_hex(peek_at(p, n)))
        n++;
    if (n != 16 || name_char(peek_at(p, n)))
        return fail_at(p, line, col, "expected a digest of 16 hex digits after 'digest'");
    memcpy(hex, p->text + p->pos, 16);
    hex[16] = 0;
    *digest = strtoull(hex, NULL, 16);
    for (n = 0; n < 16; n++)
        adv(p);
    return next(p);
}

/* The part after "const %name: type". */
static kiln_status parse_const_body(parser *p, kiln_value *v, int line, int col)
{
    int64_t numel, bytes;
    kiln_status st = KILN_OK;
    TRY(static_bytes(p, line, col, v->dtype, &v->shape, &numel, &bytes));
    if (accept_punct(p, '=', &st)) {
        buf data = {0};
        TRY(st);
        st = parse_elems(p, v->dtype, numel, &data);
        if (st == KILN_OK) {
            void *d = kiln_arena_alloc(p->g->arena, data.n ? data.n : 1, 64);
            memcpy(d, data.p ? data.p : "", data.n);
            v->data = d;
            v->nbytes = data.n;
        }
        free(data.p);
        return st;
    }
    if (!is_word(p, "digest"))
        return expected(p, "'= [...]' or 'digest'");
    uint64_t digest = 0;
    TRY(parse_digest(p, &digest));
    v->nbytes = (size_t)bytes;
    if (is_word(p, "sidecar"))
        return parse_sidecar(p, v, bytes, digest);
    v->digest = digest; /* elided: no data */
    return KILN_OK;
}

static kiln_status parse_const(parser *p)
{
    uint32_t v = 0;
    TRY(next(p)); /* "const" */
    int line = p->tok.line, col = p->tok.col;
    TRY(value_def(p, &v));
    TRY(expect_punct(p, ':'));
    kiln_value *val = &p->g->values[v];
    val->kind = KILN_VAL_CONST;
    TRY(parse_type(p, &val->dtype, &val->shape));
    return parse_const_body(p, &p->g->values[v], line, col);
}

/* ---- attributes -------------------------------------------------------------- */

static kiln_status parse_tensor_attr(parser *p, uint32_t node, const char *name)
{
    kiln_tensor t;
    int64_t numel, bytes;
    int line = p->tok.line, col = p->tok.col;
    buf data = {0};
    TRY(parse_type(p, &t.dtype, &t.shape));
    TRY(static_bytes(p, line, col, t.dtype, &t.shape, &numel, &bytes));
    kiln_status st = parse_elems(p, t.dtype, numel, &data);
    if (st == KILN_OK) {
        t.data = data.p ? data.p : "";
        t.nbytes = data.n;
        kiln_attr_set_tensor(p->g, node, name, &t);
    }
    free(data.p);
    return st;
}

typedef enum list_kind { L_ANY, L_INTS, L_FLOATS, L_STRINGS } list_kind;

/* The elements of a list attribute, gathered in every form they can take. */
typedef struct list {
    buf ints, floats;      /* int64_t / float elements (ints also as floats) */
    const char **strs;
    uint32_t n;
    bool any_float, any_num, any_str;
} list;

static kiln_status list_elem(parser *p, list *l, list_kind kind)
{
    if (p->tok.kind == T_STR) {
        if (kind == L_INTS || kind == L_FLOATS || l->any_num)
            return expected(p, "a number (the list holds numbers)");
        l->any_str = true;
        l->strs = kiln_xrealloc(l->strs, (l->n + 1) * sizeof *l->strs);
        l->strs[l->n++] = tok_text(p);
        return next(p);
    }
    if (p->tok.kind != T_NUM || kind == L_STRINGS || l->any_str)
        return expected(p, kind == L_STRINGS || l->any_str ? "a string (the list holds strings)" : "a number");
    if (num_is_float_syntax(&p->tok)) {
        uint64_t bits = 0;
        if (kind == L_INTS)
            return expected(p, "an integer (the list holds ints)");
        TRY(parse_float_bits(p, KILN_DT_F32, &bits));
        uint32_t b = (uint32_t)bits;
        buf_put(&l->floats, &b, 4);
        l->any_float = true;
    } else {
        int64_t v = 0;
        TRY(parse_i64(p, INT64_MIN, INT64_MAX, &v));
        float f = (float)v;
        buf_put(&l->ints, &v, 8);
        buf_put(&l->floats, &f, 4);
    }
    l->any_num = true;
    l->n++;
    return KILN_OK;
}

static kiln_status parse_list_items(parser *p, list *l, list_kind kind)
{
    int line = p->tok.line, col = p->tok.col;
    kiln_status st = KILN_OK;
    TRY(expect_punct(p, '['));
    if (!accept_punct(p, ']', &st)) {
        do
            TRY(list_elem(p, l, kind));
        while (accept_punct(p, ',', &st) && st == KILN_OK);
        TRY(st);
        TRY(expect_punct(p, ']'));
    }
    TRY(st);
    if (kind == L_ANY && l->n == 0)
        return fail_at(p, line, col, "an empty list needs its kind: ints[], floats[] or strings[]");
    return KILN_OK;
}

/* "[1, 2]", "[0.5]", ["a"], or tagged: "ints[]", "floats[1, 2]". An
 * untagged list of numbers is a float list if any element looks like one. */
static kiln_status parse_list_attr(parser *p, uint32_t node, const char *name, list_kind kind)
{
    list l = {0};
    kiln_status st = parse_list_items(p, &l, kind);
    if (st == KILN_OK && kind == L_ANY)
        kind = l.any_str ? L_STRINGS : l.any_float ? L_FLOATS : L_INTS;
    if (st == KILN_OK && kind == L_INTS)
        kiln_attr_set_ints(p->g, node, name, (const int64_t *)(l.n ? l.ints.p : ""), l.n);
    else if (st == KILN_OK && kind == L_FLOATS)
        kiln_attr_set_floats(p->g, node, name, (const float *)(l.n ? l.floats.p : ""), l.n);
    else if (st == KILN_OK)
        kiln_attr_set_strings(p->g, node, name, l.strs, l.n);
    free(l.ints.p);
    free(l.floats.p);
    free(l.strs);
    return st;
}

static kiln_status parse_scalar_attr(parser *p, uint32_t node, const char *name)
{
    if (p->tok.kind == T_STR) {
        kiln_attr_set_string(p->g, node, name, tok_text(p));
        return next(p);
    }
    if (p->tok.kind != T_NUM)
        return expected(p, "an attribute value (number, string, [list], ints[] or a tensor)");
    if (num_is_float_syntax(&p->tok)) {
        uint64_t bits = 0;
        TRY(parse_float_bits(p, KILN_DT_F32, &bits));
        uint32_t b = (uint32_t)bits;
        float f;
        memcpy(&f, &b, 4);
        kiln_attr_set_float(p->g, node, name, f);
        return KILN_OK;
    }
    int64_t v = 0;
    TRY(parse_i64(p, INT64_MIN, INT64_MAX, &v));
    kiln_attr_set_int(p->g, node, name, v);
    return KILN_OK;
}

static kiln_status parse_attr_value(parser *p, uint32_t node, const char *name)
{
    static const struct { const char *tag; list_kind kind; } tags[] = {
        {"ints", L_INTS}, {"floats", L_FLOATS}, {"strings", L_STRINGS},
    };
    if (is_punct(p, '['))
        return parse_list_attr(p, node, name, L_ANY);
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++)
        if (is_word(p, tags[i].tag)) {
            TRY(next(p));
            return parse_list_attr(p, node, name, tags[i].kind);
        }
    if (p->tok.kind == T_WORD || is_punct(p, '?'))
        return parse_tensor_attr(p, node, name);
    return parse_scalar_attr(p, node, name);
}

/* The first attribute the node's op does not take (ir/op_attrs.c): the
 * parser reports it once the node's name, which follows the attributes,
 * is known. */
typedef struct stray_attr {
    const char *name; /* NULL: none */
    int line, col;
} stray_attr;

static kiln_status parse_attrs(parser *p, uint32_t node, stray_attr *stray)
{
    kiln_status st = KILN_OK;
    TRY(next(p)); /* '{' */
    if (accept_punct(p, '}', &st))
        return st;
    do {
        if (p->tok.kind != T_WORD && p->tok.kind != T_STR)
            return expected(p, "an attribute name");
        char *name = tok_text(p);
        if (kiln_attr_find(p->g, &p->g->nodes[node], name))
            return FAIL_TOK(p, "attribute '%s' is given twice", name);
        if (p->g->nodes[node].n_attr >= KILN_MAX_NODE_ATTRS)
            return FAIL_TOK(p, "the node has more than kiln's limit of %d attributes (README, 'Limits')",
                            KILN_MAX_NODE_ATTRS);
        if (!stray->name && !kiln_op_takes_attr(p->g->nodes[node].op, name))
            *stray = (stray_attr){name, p->tok.line, p->tok.col};
        TRY(next(p));
        TRY(expect_punct(p, '='));
        TRY(parse_attr_value(p, node, name));
    } while (accept_punct(p, ',', &st) && st == KILN_OK);
    TRY(st);
    return expect_punct(p, '}');
}

/* ---- nodes ------------------------------------------------------------------- */

typedef struct ulist {
    uint32_t *v;
    uint32_t n, cap;
} ulist;

static void ulist_push(ulist *l, uint32_t x)
{
    if (l->n == l->cap)
        l->v = kiln_xrealloc(l->v, (l->cap = l->cap ? l->cap * 2 : 8) * sizeof *l->v);
    l->v[l->n++] = x;
}

static kiln_status parse_outputs(parser *p, ulist *outs)
{
    kiln_status st = KILN_OK;
    do {
        uint32_t v = 0;
        if (p->tok.kind == T_ABSENT)
            return FAIL_TOK(p, "a node output cannot be absent ('_'): give it a name");
        TRY(value_def(p, &v));
        TRY(parse_opt_type(p, v));
        ulist_push(outs, v);
    } while (accept_punct(p, ',', &st) && st == KILN_OK);
    TRY(st);
    return expect_punct(p, '=');
}

static kiln_status parse_inputs(parser *p, ulist *ins)
{
    kiln_status st = KILN_OK;
    TRY(expect_punct(p, '('));
    if (accept_punct(p, ')', &st))
        return st;
    do {
        uint32_t v = 0;
        TRY(value_use(p, &v));
        ulist_push(ins, v);
    } while (accept_punct(p, ',', &st) && st == KILN_OK);
    TRY(st);
    return expect_punct(p, ')');
}

static kiln_status parse_op(parser *p, kiln_op *op)
{
    if (p->tok.kind != T_WORD)
        return expected(p, "an operator name");
    char *name = tok_text(p);
    *op = kiln_op_from_name(name);
    if (*op == KILN_OP_COUNT)
        return FAIL_TOK(p, "unknown operator '%s'", name);
    return next(p);
}

/* "node producing 'y' (Conv): attribute 'foo' is not one Conv takes; it
 * takes auto_pad, dilations, ..." */
static kiln_status fail_stray_attr(parser *p, uint32_t node, const stray_attr *a)
{
    char who[600], name[260], op[64];
    const char *names = kiln_op_attrs(p->g->nodes[node].op);
    kiln_op_text_name(p->g->nodes[node].op, op, sizeof op);
    buf takes = {0};
    buf_puts(&takes, names[0] ? "it takes " : "it takes none");
    for (const char *c = names; *c; c++)
        buf_puts(&takes, *c == ' ' ? ", " : (char[2]){*c, 0});
    kiln_status st = fail_at(p, a->line, a->col,
                             "node %s: attribute '%s' is not one %s takes; %s (an attribute of an older "
                             "opset may be an input in kiln's IR: docs/canonical-forms.md)",
                             kiln_node_describe(p->g, node, who, sizeof who),
                             kiln_escape(a->name, name, sizeof name), op, takes.p);
    free(takes.p);
    return st;
}

static kiln_status parse_node_rest(parser *p, ulist *outs, ulist *ins)
{
    kiln_op op = KILN_OP_COUNT;
    if (p->tok.kind == T_VAL)
        TRY(parse_outputs(p, outs));
    TRY(parse_op(p, &op));
    TRY(parse_inputs(p, ins));
    if (p->g->n_nodes > KILN_MAX_NODES) /* node 0 is reserved */
        return FAIL_TOK(p, "the graph has more than kiln's limit of %d nodes (README, 'Limits')", KILN_MAX_NODES);
    uint32_t node = kiln_node_add(p->g, op, "", ins->v, ins->n, outs->v, outs->n);
    stray_attr stray = {0};
    if (is_punct(p, '{'))
        TRY(parse_attrs(p, node, &stray));
    if (p->tok.kind == T_NODE) {
        p->g->nodes[node].name = kiln_graph_intern(p->g, tok_text(p));
        TRY(next(p));
    }
    return stray.name ? fail_stray_attr(p, node, &stray) : KILN_OK;
}

static kiln_status parse_node(parser *p)
{
    ulist outs = {0}, ins = {0};
    kiln_status st = parse_node_rest(p, &outs, &ins);
    free(outs.v);
    free(ins.v);
    return st;
}

/* ---- the graph ---------------------------------------------------------------- */

static kiln_status parse_magic(parser *p)
{
    size_t n = strlen(KILN_TEXT_MAGIC), eol = 0;
    while (eol < p->len && p->text[eol] != '\n')
        eol++;
    size_t end = eol > 0 && p->text[eol - 1] == '\r' ? eol - 1 : eol;
    if (end != n || memcmp(p->text, KILN_TEXT_MAGIC, n) != 0) {
        if (end > 8 && memcmp(p->text, "kiln-ir ", 8) == 0)
            return fail_at(p, 1, 1, "unsupported text IR version '%.*s' (this kiln reads '%s')",
                           (int)(end > 40 ? 40 : end), p->text, KILN_TEXT_MAGIC);
        return fail_at(p, 1, 1, "expected '%s' on the first line", KILN_TEXT_MAGIC);
    }
    while (p->pos < eol)
        adv(p);
    return next(p);
}

static kiln_status parse_opsets(parser *p)
{
    kiln_status st = KILN_OK;
    TRY(next(p)); /* "opset" */
    TRY(expect_punct(p, '('));
    if (accept_punct(p, ')', &st))
        return st;
    do {
        if (p->tok.kind != T_STR)
            return expected(p, "an opset domain string (\"\" for ai.onnx)");
        char *domain = tok_text(p);
        int64_t version;
        if (p->g->n_opsets >= KILN_MAX_OPSET_IMPORTS)
            return FAIL_TOK(p, "more than kiln's limit of %d opset imports (README, 'Limits')",
                            KILN_MAX_OPSET_IMPORTS);
        if (kiln_graph_opset(p->g, domain))
            return FAIL_TOK(p, "opset domain \"%s\" is given twice", domain);
        TRY(next(p));
        TRY(expect_punct(p, '='));
        TRY(parse_i64(p, 1, INT64_MAX, &version));
        kiln_graph_add_opset(p->g, domain, version);
    } while (accept_punct(p, ',', &st) && st == KILN_OK);
    TRY(st);
    return expect_punct(p, ')');
}

/* A graph input: always new (nothing can name a value before the inputs
 * but another input). */
static kiln_status input_def(parser *p)
{
    char d[96];
    if (p->tok.kind != T_VAL)
        return expected(p, "a graph input (%name)");
    strmap *m = p->tok.anon ? &p->anon : &p->names;
    char *key = tok_text(p);
    if (map_find(m, key))
        return FAIL_TOK(p, "graph input %s is given twice", tok_desc(p, d, sizeof d));
    if (p->g->n_inputs >= KILN_MAX_GRAPH_INPUTS)
        return FAIL_TOK(p, "more than kiln's limit of %d graph inputs (README, 'Limits')", KILN_MAX_GRAPH_INPUTS);
    uint32_t v = kiln_input_add(p->g, p->tok.anon ? "" : key, KILN_DT_UNDEF, NULL);
    map_put(m, key, v);
    valinfo *vi = info_of(p, v);
    *vi = (valinfo){.defined = true, .line = p->tok.line, .col = p->tok.col};
    TRY(next(p));
    return parse_opt_type(p, v);
}

static kiln_status parse_graph_inputs(parser *p)
{
    kiln_status st = KILN_OK;
    TRY(expect_punct(p, '('));
    if (accept_punct(p, ')', &st))
        return st;
    do
        TRY(input_def(p));
    while (accept_punct(p, ',', &st) && st == KILN_OK);
    TRY(st);
    return expect_punct(p, ')');
}

static kiln_status parse_graph_outputs(parser *p)
{
    kiln_status st = KILN_OK;
    TRY(expect_punct(p, '('));
    if (accept_punct(p, ')', &st))
        return st;
    do {
        if (p->tok.kind != T_VAL)
            return expected(p, "a graph output (%name)");
        if (p->g->n_outputs >= KILN_MAX_GRAPH_OUTPUTS)
            return FAIL_TOK(p, "more than kiln's limit of %d graph outputs (README, 'Limits')",
                            KILN_MAX_GRAPH_OUTPUTS);
        kiln_output_add(p->g, value_ref(p));
        TRY(next(p));
    } while (accept_punct(p, ',', &st) && st == KILN_OK);
    TRY(st);
    return expect_punct(p, ')');
}

static kiln_status parse_header(parser *p)
{
    if (!is_word(p, "graph"))
        return expected(p, "'graph'");
    TRY(next(p));
    if (p->tok.kind != T_GRAPH)
        return expected(p, "the graph name (@name)");
    p->g->name = kiln_graph_intern(p->g, tok_text(p));
    TRY(next(p));
    if (is_word(p, "opset"))
        TRY(parse_opsets(p));
    TRY(parse_graph_inputs(p));
    if (p->tok.kind != T_ARROW)
        return expected(p, "'->'");
    TRY(next(p));
    TRY(parse_graph_outputs(p));
    return expect_punct(p, '{');
}

static kiln_status parse_body(parser *p)
{
    while (!is_punct(p, '}')) {
        if (p->tok.kind == T_EOF)
            return expected(p, "'}' to close the graph");
        if (is_word(p, "const"))
            TRY(parse_const(p));
        else if (p->tok.kind == T_VAL || p->tok.kind == T_WORD)
            TRY(parse_node(p));
        else
            return expected(p, "a node, 'const' or '}'");
    }
    TRY(next(p));
    if (p->tok.kind != T_EOF)
        return expected(p, "end of input after the graph");
    return KILN_OK;
}

/* Every value named somewhere must be defined somewhere. */
static kiln_status check_defined(parser *p)
{
    for (uint32_t v = 1; v < p->g->n_values; v++) {
        valinfo *vi = info_of(p, v);
        if (!vi->defined)
            return fail_at(p, vi->line, vi->col, "value %s is used but never defined", vi->key);
    }
    return KILN_OK;
}

static void free_sidecar(void *side) { free(side); }

kiln_status kiln_text_parse(kiln_ctx *ctx, const char *text, size_t len, const char *path,
                            kiln_graph **out)
{
    parser p = {.ctx = ctx, .path = path ? path : "<text>", .text = text, .len = len, .line = 1, .col = 1};
    p.g = kiln_graph_create("main", p.path);
    p.tmp = kiln_arena_create();
    *out = NULL;
    kiln_status st = parse_magic(&p);
    if (st == KILN_OK)
        st = parse_header(&p);
    if (st == KILN_OK)
        st = parse_body(&p);
    if (st == KILN_OK)
        st = check_defined(&p);
    if (p.side)
        kiln_graph_set_owner(p.g, p.side, free_sidecar);
    if (st == KILN_OK)
        *out = p.g;
    else
        kiln_graph_destroy(p.g);
    map_free(&p.names);
    map_free(&p.anon);
    map_free(&p.dims);
    free(p.info);
    kiln_arena_destroy(p.tmp);
    return st;
}

/* ===== files ================================================================= */

/* Whole file into a buffer aligned to `align` (NUL-terminated, freed with free). */
static kiln_status read_file(kiln_ctx *ctx, const char *path, size_t align, unsigned char **data, size_t *len)
{
    struct stat sb;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not hang us */
    if (fd < 0)
        return kiln_error(ctx, KILN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return kiln_error(ctx, KILN_ERR_IO, "%s: not a regular file", path);
    }
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return kiln_error(ctx, KILN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    size_t size = (size_t)sb.st_size, alloc = (size + 1 + align - 1) / align * align;
    unsigned char *p = aligned_alloc(align, alloc);
    if (!p) {
        fclose(f);
        return kiln_error(ctx, KILN_ERR_IO, "%s: out of memory for %zu bytes", path, size);
    }
    size_t got = fread(p, 1, size, f);
    int err = ferror(f);
    fclose(f);
    if (got != size || err) {
        free(p);
        return kiln_error(ctx, KILN_ERR_IO, "%s: read error", path);
    }
    p[size] = 0;
    *data = p;
    *len = size;
    return KILN_OK;
}

kiln_status kiln_text_load(kiln_ctx *ctx, const char *path, kiln_graph **out)
{
    unsigned char *text;
    size_t len;
    *out = NULL;
    TRY(read_file(ctx, path, 16, &text, &len));
    kiln_status st = kiln_text_parse(ctx, (const char *)text, len, path, out);
    free(text);
    return st;
}

/* Writes data to a fresh temporary file next to path; its name goes to tmp. */
static kiln_status write_temp(kiln_ctx *ctx, const char *path, const void *data, size_t n,
                              char *tmp, size_t tmp_size)
{
    int fd = -1;
    for (int attempt = 0; fd < 0 && attempt < 100; attempt++) {
        if (snprintf(tmp, tmp_size, "%s.tmp%ld.%d", path, (long)getpid(), attempt) >= (int)tmp_size)
            return kiln_error(ctx, KILN_ERR_IO, "%s: path too long", path);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0)
        return kiln_error(ctx, KILN_ERR_IO, "%s: cannot create a temporary file: %s", path, strerror(errno));
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            return kiln_error(ctx, KILN_ERR_IO, "%s: write error: %s", tmp, strerror(e));
        }
        p += w, n -= (size_t)w;
    }
    if (close(fd) != 0) {
        unlink(tmp);
        return kiln_error(ctx, KILN_ERR_IO, "%s: write error: %s", tmp, strerror(errno));
    }
    return KILN_OK;
}

static kiln_status rename_into_place(kiln_ctx *ctx, const char *tmp, const char *path)
{
    if (rename(tmp, path) == 0)
        return KILN_OK;
    int e = errno;
    unlink(tmp);
    return kiln_error(ctx, KILN_ERR_IO, "%s: cannot rename into place: %s", path, strerror(e));
}

/* Both files are complete under temporary names before either is renamed;
 * the sidecar goes first, so a text never points at a missing sidecar (a
 * stale one is caught by the digests). */
static kiln_status save_files(kiln_ctx *ctx, const char *path, const char *text, const buf *side,
                              const char *side_path)
{
    char side_tmp[4200], text_tmp[4200];
    bool has_side = side->n > sizeof SIDECAR_MAGIC - 1;
    if (has_side)
        TRY(write_temp(ctx, side_path, side->p, side->n, side_tmp, sizeof side_tmp));
    kiln_status st = write_temp(ctx, path, text, strlen(text), text_tmp, sizeof text_tmp);
    if (st != KILN_OK) {
        if (has_side)
            unlink(side_tmp);
        return st;
    }
    if (has_side && (st = rename_into_place(ctx, side_tmp, side_path)) != KILN_OK) {
        unlink(text_tmp);
        return st;
    }
    return rename_into_place(ctx, text_tmp, path);
}

kiln_status kiln_text_save(kiln_ctx *ctx, const kiln_graph *g, const char *path)
{
    char side_path[4096];
    buf side = {0};
    if (snprintf(side_path, sizeof side_path, "%s.weights", path) >= (int)sizeof side_path)
        return kiln_error(ctx, KILN_ERR_IO, "%s: path too long", path);
    buf_puts(&side, SIDECAR_MAGIC);
    char *text = print_graph(g, &side);
    kiln_status st = save_files(ctx, path, text, &side, side_path);
    free(text);
    free(side.p);
    return st;
}
