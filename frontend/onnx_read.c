/* onnx_read.c — from a file name to an unpacked protobuf message, safely.
 *
 * Three steps, each refusing what the next could not survive:
 *   1. the file is a regular file of at most KILN_ONNX_MAX_FILE bytes
 *      (checked with fstat before a byte is read);
 *   2. a pre-scan walks the wire format with the generated descriptors:
 *      every tag, wire type and length is checked against the bytes left,
 *      and message-typed fields (and only those: a raw_data blob is never
 *      mistaken for a message) may nest KILN_ONNX_MAX_NESTING deep at most,
 *      because protobuf-c's unpacker recurses without a limit;
 *   3. protobuf-c unpacks through an allocator backed by a kiln arena, so
 *      the message and every buffer it owns go away with the arena.
 */
#define _POSIX_C_SOURCE 200809L
#include "frontend/onnx_internal.h"
#include "ir/limits.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- 1. the file ----------------------------------------------------------- */

static kiln_status read_all(kiln_ctx *ctx, const char *path, int fd, uint8_t *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = read(fd, buf + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return kiln_error(ctx, KILN_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
        if (r == 0)
            return kiln_error(ctx, KILN_ERR_IO, "%s: the file shrank while being read", path);
        got += (size_t)r;
    }
    return KILN_OK;
}

static kiln_status check_size(kiln_ctx *ctx, const char *path, const struct stat *st)
{
    if (!S_ISREG(st->st_mode))
        return kiln_error(ctx, KILN_ERR_IO, "%s: not a regular file", path);
    if ((int64_t)st->st_size > KILN_ONNX_MAX_FILE)
        return kiln_error(ctx, KILN_ERR_INVALID,
                          "%s: the file has %lld bytes, more than the 2 GiB protobuf limit "
                          "(store the weights as external data)",
                          path, (long long)st->st_size);
    return KILN_OK;
}

kiln_status onnx_read_file(kiln_ctx *ctx, const char *path, uint8_t **buf, size_t *len,
                           onnx_file_id *id)
{
    struct stat st;
    *buf = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not hang us */
    if (fd < 0)
        return kiln_error(ctx, KILN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    kiln_status s = fstat(fd, &st) ? kiln_error(ctx, KILN_ERR_IO, "%s: cannot stat: %s", path,
                                                strerror(errno))
                                   : check_size(ctx, path, &st);
    *len = s ? 0 : (size_t)st.st_size;
    if (!s && id)
        *id = (onnx_file_id){.dev = (uint64_t)st.st_dev, .ino = (uint64_t)st.st_ino, .known = true};
    if (!s) {
        *buf = kiln_xrealloc(NULL, *len ? *len : 1);
        s = read_all(ctx, path, fd, *buf, *len);
    }
    close(fd);
    if (s) {
        free(*buf);
        *buf = NULL;
    }
    return s;
}

/* ---- 2. the wire-format pre-scan ------------------------------------------- */

typedef struct scan {
    kiln_ctx *ctx;
    const char *path;
    const uint8_t *base;  /* start of the file, for byte offsets in messages */
} scan;

enum { WIRE_VARINT = 0, WIRE_FIXED64 = 1, WIRE_LEN = 2, WIRE_FIXED32 = 5 };

static kiln_status malformed(const scan *s, const uint8_t *at, const char *what)
{
    return kiln_error(s->ctx, KILN_ERR_INVALID,
                      "%s: not a valid ONNX protobuf file: %s at byte %zu (truncated or corrupt?)",
                      s->path, what, (size_t)(at - s->base));
}

/* A base-128 varint of at most 10 bytes that ends before `end`. */
static bool varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 70 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

static kiln_status scan_message(const scan *s, const ProtobufCMessageDescriptor *desc,
                                const uint8_t *p, const uint8_t *end, int depth);

/* One length-delimited field: a nested message is scanned, anything else
 * (strings, bytes, packed numbers) only bounds-checked. */
static kiln_status scan_len(const scan *s, const ProtobufCMessageDescriptor *desc, uint32_t field,
                            const uint8_t **p, const uint8_t *end, int depth)
{
    uint64_t len;
    const uint8_t *at = *p;
    if (!varint(p, end, &len))
        return malformed(s, at, "a bad length");
    if (len > (uint64_t)(end - *p))
        return malformed(s, at, "a length past the end of its message");
    const ProtobufCFieldDescriptor *f = desc ? protobuf_c_message_descriptor_get_field(desc, field) : NULL;
    kiln_status st = KILN_OK;
    if (f && f->type == PROTOBUF_C_TYPE_MESSAGE)
        st = scan_message(s, f->descriptor, *p, *p + len, depth + 1);
    /* protobuf-c hands strings over NUL-terminated: "data.bin\0../x" would
     * silently become "data.bin" (bytes fields keep their length) */
    const uint8_t *nul = f && f->type == PROTOBUF_C_TYPE_STRING ? memchr(*p, 0, len) : NULL;
    if (nul)
        st = kiln_error(s->ctx, KILN_ERR_INVALID,
                        "%s: the string field '%s' of a %s holds a NUL byte (at byte %zu); "
                        "refusing a malformed or hostile file", s->path, f->name, desc->short_name,
                        (size_t)(nul - s->base));
    *p += len;
    return st;
}

static kiln_status scan_field(const scan *s, const ProtobufCMessageDescriptor *desc,
                              const uint8_t **p, const uint8_t *end, int depth)
{
    uint64_t tag, ignored;
    const uint8_t *at = *p;
    if (!varint(p, end, &tag) || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff)
        return malformed(s, at, "a bad field tag");
    switch (tag & 7) {
    case WIRE_VARINT:
        return varint(p, end, &ignored) ? KILN_OK : malformed(s, at, "a truncated number");
    case WIRE_FIXED64:
    case WIRE_FIXED32: {
        size_t n = (tag & 7) == WIRE_FIXED64 ? 8 : 4;
        if ((size_t)(end - *p) < n)
            return malformed(s, at, "a truncated number");
        *p += n;
        return KILN_OK;
    }
    case WIRE_LEN:
        return scan_len(s, desc, (uint32_t)(tag >> 3), p, end, depth);
    default:
        return malformed(s, at, "an unknown wire type");
    }
}

/* Repeated fields kiln bounds (ir/limits.h), counted here, before
 * protobuf-c unpacks a single entry: a hostile file is refused in the time
 * of one scan. (Attributes per node are checked by the loader, which can
 * name the node.) */
static const struct {
    const ProtobufCMessageDescriptor *desc;
    uint32_t field;
    long limit;
    const char *what;
} counted[] = {
    {&onnx__model_proto__descriptor, 8, KILN_MAX_OPSET_IMPORTS, "opset imports"},
    {&onnx__graph_proto__descriptor, 1, KILN_MAX_NODES, "nodes"},
    {&onnx__graph_proto__descriptor, 11, KILN_MAX_GRAPH_INPUTS, "graph inputs"},
    {&onnx__graph_proto__descriptor, 12, KILN_MAX_GRAPH_OUTPUTS, "graph outputs"},
    {&onnx__graph_proto__descriptor, 13, KILN_MAX_VALUE_INFO, "value_info entries"},
};
enum { N_COUNTED = sizeof counted / sizeof counted[0] };

/* The field number of the tag at p (0 if unreadable: scan_field says why). */
static uint32_t peek_field(const uint8_t *p, const uint8_t *end)
{
    uint64_t tag;
    return varint(&p, end, &tag) && (tag >> 3) <= 0x1fffffff ? (uint32_t)(tag >> 3) : 0;
}

static kiln_status count_field(const scan *s, const ProtobufCMessageDescriptor *desc, uint32_t field,
                               long *count)
{
    for (size_t i = 0; i < N_COUNTED; i++)
        if (counted[i].desc == desc && counted[i].field == field && ++count[i] > counted[i].limit)
            return kiln_error(s->ctx, KILN_ERR_INVALID,
                              "%s: the model has more than %ld %s, kiln's limit (README, 'Limits')",
                              s->path, counted[i].limit, counted[i].what);
    return KILN_OK;
}

static kiln_status scan_message(const scan *s, const ProtobufCMessageDescriptor *desc,
                                const uint8_t *p, const uint8_t *end, int depth)
{
    long count[N_COUNTED] = {0};
    if (depth > KILN_ONNX_MAX_NESTING)
        return kiln_error(s->ctx, KILN_ERR_INVALID,
                          "%s: protobuf messages nested more than %d levels deep (at byte %zu); "
                          "refusing to parse a malformed or hostile file",
                          s->path, KILN_ONNX_MAX_NESTING, (size_t)(p - s->base));
    while (p < end) {
        kiln_status st = count_field(s, desc, peek_field(p, end), count);
        if (!st)
            st = scan_field(s, desc, &p, end, depth);
        if (st)
            return st;
    }
    return KILN_OK;
}

kiln_status onnx_prescan(kiln_ctx *ctx, const char *path, const ProtobufCMessageDescriptor *desc,
                         const uint8_t *buf, size_t len)
{
    scan s = {.ctx = ctx, .path = path, .base = buf};
    return scan_message(&s, desc, buf, buf + len, 1);
}

/* ---- 3. unpacking into an arena ------------------------------------------- */

static void *arena_alloc(void *arena, size_t size)
{
    /* 64-byte alignment for anything that may be a tensor's raw_data */
    return kiln_arena_alloc(arena, size ? size : 1, size >= 64 ? 64 : 16);
}

static void arena_free(void *arena, void *p)
{
    (void)arena;
    (void)p; /* released with the arena */
}

ProtobufCAllocator onnx_arena_allocator(kiln_arena *arena)
{
    ProtobufCAllocator a = {.alloc = arena_alloc, .free = arena_free, .allocator_data = arena};
    return a;
}
