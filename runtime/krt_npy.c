/* krt_npy.c — .npy reading and writing.
 *
 * The header is a Python dict literal, e.g.
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 224, 224), }
 * parsed here by a small scanner that accepts exactly those three keys in
 * any order. Sizes are checked against overflow and against the file size.
 */
#define _POSIX_C_SOURCE 200809L
#include "runtime/krt_npy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
    const char *descr;  /* without the byte-order character */
    krt_dtype dtype;
} descrs[] = {
    {"f4", KRT_F32}, {"f8", KRT_F64}, {"f2", KRT_F16},
    {"i1", KRT_I8},  {"i2", KRT_I16}, {"i4", KRT_I32}, {"i8", KRT_I64},
    {"u1", KRT_U8},  {"u2", KRT_U16}, {"u4", KRT_U32}, {"u8", KRT_U64},
    {"b1", KRT_BOOL},
};

static krt_status fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return KRT_EVALUE;
}

/* ---- header scanning --------------------------------------------------- */

typedef struct scan {
    const char *p, *end;
} scan;

static void skip_space(scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static int accept(scan *s, char c)
{
    skip_space(s);
    if (s->p < s->end && *s->p == c) {
        s->p++;
        return 1;
    }
    return 0;
}

/* A quoted Python string into buf; 0 on failure. */
static int read_string(scan *s, char *buf, size_t size)
{
    skip_space(s);
    if (s->p >= s->end || (*s->p != '\'' && *s->p != '"'))
        return 0;
    char q = *s->p++;
    size_t n = 0;
    while (s->p < s->end && *s->p != q) {
        if (n + 1 >= size || (unsigned char)*s->p < 0x20) /* '<f4\0' must not read as '<f4' */
            return 0;
        buf[n++] = *s->p++;
    }
    if (s->p >= s->end)
        return 0;
    s->p++;
    buf[n] = 0;
    return 1;
}

static int read_bool(scan *s, int *out)
{
    skip_space(s);
    if (s->end - s->p >= 4 && memcmp(s->p, "True", 4) == 0) {
        s->p += 4;
        *out = 1;
        return 1;
    }
    if (s->end - s->p >= 5 && memcmp(s->p, "False", 5) == 0) {
        s->p += 5;
        *out = 0;
        return 1;
    }
    return 0;
}

/* A shape tuple "(1, 3, 224)" / "(5,)" / "()". */
static int read_shape(scan *s, krt_npy *a)
{
    a->rank = 0;
    if (!accept(s, '('))
        return 0;
    for (;;) {
        if (accept(s, ')'))
            return 1;
        skip_space(s);
        int64_t d = 0;
        const char *start = s->p;
        while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
            if (d > (INT64_MAX - 9) / 10)
                return 0;
            d = d * 10 + (*s->p++ - '0');
        }
        if (s->p == start || a->rank >= KRT_MAX_RANK)
            return 0;
        a->dims[a->rank++] = d;
        if (!accept(s, ',')) {
            if (!accept(s, ')'))
                return 0;
            return 1;
        }
    }
}

static krt_status parse_descr(const char *descr, krt_npy *a, char *err, size_t errlen)
{
    char order = descr[0];
    size_t n = sizeof descrs / sizeof descrs[0];
    for (size_t i = 0; i < n; i++) {
        if (strcmp(descr + 1, descrs[i].descr) != 0)
            continue;
        size_t size = krt_dtype_size(descrs[i].dtype);
        if (order == '<' || order == '|' || (order == '=' ) || (order == '>' && size == 1)) {
            a->dtype = descrs[i].dtype;
            return KRT_OK;
        }
        return fail(err, errlen, "big-endian array '%s' is not supported (save it little-endian)", descr);
    }
    return fail(err, errlen, "unsupported dtype '%s' (kiln reads f16/f32/f64, i8-i64, u8-u64, bool)", descr);
}

static krt_status parse_dict(scan *s, krt_npy *a, char *err, size_t errlen)
{
    int have_descr = 0, have_order = 0, have_shape = 0, fortran = 0;
    char key[32], descr[32];
    if (!accept(s, '{'))
        return fail(err, errlen, "malformed header (no '{')");
    while (!accept(s, '}')) {
        if (!read_string(s, key, sizeof key) || !accept(s, ':'))
            return fail(err, errlen, "malformed header (expected 'key':)");
        if (strcmp(key, "descr") == 0 && read_string(s, descr, sizeof descr))
            have_descr = 1;
        else if (strcmp(key, "fortran_order") == 0 && read_bool(s, &fortran))
            have_order = 1;
        else if (strcmp(key, "shape") == 0 && read_shape(s, a))
            have_shape = 1;
        else
            return fail(err, errlen, "malformed header near key '%s'", key);
        if (!accept(s, ',') && !(skip_space(s), s->p < s->end && *s->p == '}'))
            return fail(err, errlen, "malformed header (expected ',' or '}')");
    }
    if (!have_descr || !have_order || !have_shape)
        return fail(err, errlen, "header lacks descr, fortran_order or shape");
    if (fortran)
        return fail(err, errlen, "Fortran-order arrays are not supported (use numpy.ascontiguousarray)");
    return parse_descr(descr, a, err, errlen);
}

krt_status krt_npy_parse_header(const void *buf, size_t len, krt_npy *out,
                                size_t *data_offset, char *err, size_t errlen)
{
    const unsigned char *b = buf;
    memset(out, 0, sizeof *out);
    if (len < 10 || memcmp(b, "\x93NUMPY", 6) != 0)
        return fail(err, errlen, "not a .npy file (bad magic)");
    size_t hlen, start;
    if (b[6] == 1) {
        hlen = b[8] | (size_t)b[9] << 8;
        start = 10;
    } else if (b[6] == 2 || b[6] == 3) {
        if (len < 12)
            return fail(err, errlen, "truncated .npy header");
        hlen = b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
        start = 12;
    } else {
        return fail(err, errlen, ".npy format version %d is not supported", b[6]);
    }
    if (hlen > len - start)
        return fail(err, errlen, "truncated .npy header");
    scan s = {(const char *)b + start, (const char *)b + start + hlen};
    krt_status st = parse_dict(&s, out, err, errlen);
    if (st)
        return st;
    uint64_t n = krt_dtype_size(out->dtype);
    for (int i = 0; i < out->rank; i++)
        if (out->dims[i] && n > UINT64_MAX / (uint64_t)out->dims[i])
            return fail(err, errlen, "shape too large");
        else
            n *= (uint64_t)out->dims[i];
    if (n > SIZE_MAX / 2)
        return fail(err, errlen, "shape too large");
    out->nbytes = (size_t)n;
    *data_offset = start + hlen;
    return KRT_OK;
}

/* ---- files --------------------------------------------------------------- */

static void *aligned_buffer(size_t n)
{
    size_t size = (n + 63) / 64 * 64;
    void *p = NULL;  /* posix_memalign, not C11 aligned_alloc: the copied sources build as C99 */
    if (posix_memalign(&p, 64, size ? size : 64) != 0)
        return NULL;
    if (p)
        memset(p, 0, size ? size : 64);
    return p;
}

krt_status krt_npy_read(const char *path, krt_npy *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    struct stat sb;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not hang us */
    if (fd < 0)
        return fail(err, errlen, "%s: %s", path, strerror(errno));
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return fail(err, errlen, "%s: not a regular file", path);
    }
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return fail(err, errlen, "%s: %s", path, strerror(errno));
    }
    unsigned char head[65536 + 12];
    size_t got = fread(head, 1, sizeof head, f), off;
    krt_status st = krt_npy_parse_header(head, got, out, &off, err, errlen);
    long size = -1;
    if (st == KRT_OK && fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    if (st == KRT_OK && (size < 0 || (uint64_t)size - off != out->nbytes))
        st = fail(err, errlen, "%s: %ld bytes of data, the header says %zu (truncated or padded file)",
                  path, size < 0 ? -1L : size - (long)off, out->nbytes);
    if (st == KRT_OK && !(out->data = aligned_buffer(out->nbytes)))
        st = fail(err, errlen, "%s: out of memory (%zu bytes)", path, out->nbytes);
    if (st == KRT_OK && (fseek(f, (long)off, SEEK_SET) != 0 ||
                         fread(out->data, 1, out->nbytes, f) != out->nbytes))
        st = fail(err, errlen, "%s: read error", path);
    fclose(f);
    if (st != KRT_OK) {
        char keep[1024];
        if (strncmp(err, path, strlen(path)) != 0) {    /* prefix the path once */
            snprintf(keep, sizeof keep, "%s", err);
            snprintf(err, errlen, "%s: %s", path, keep);
        }
        krt_npy_free(out);
    }
    return st;
}

/* The numpy descr of dt ("<f4", "|b1") into buf[8]; 0 if none. */
static int descr_of(krt_dtype dt, char *buf)
{
    for (size_t i = 0; i < sizeof descrs / sizeof descrs[0]; i++)
        if (descrs[i].dtype == dt) {
            snprintf(buf, 8, "%c%s", krt_dtype_size(dt) == 1 ? '|' : '<', descrs[i].descr);
            return 1;
        }
    return 0;
}

krt_status krt_npy_write_to(const char *tmp_path, krt_dtype dtype, int rank,
                            const int64_t *dims, const void *data, char *err, size_t errlen)
{
    char descr[8], header[512], shape[300] = "";
    if (!descr_of(dtype, descr))
        return fail(err, errlen, "cannot write dtype %s as .npy", krt_dtype_name(dtype));
    size_t at = 0;
    for (int i = 0; i < rank; i++)
        at += (size_t)snprintf(shape + at, sizeof shape - at, "%lld,%s", (long long)dims[i],
                               i + 1 < rank ? " " : "");
    int n = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }",
                     descr, shape);
    size_t total = 10 + (size_t)n + 1, pad = (64 - total % 64) % 64;  /* align data to 64 */
    memset(header + n, ' ', pad);
    header[n + pad] = '\n';
    size_t hlen = (size_t)n + pad + 1;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                             (unsigned char)(hlen & 0xff), (unsigned char)(hlen >> 8)};
    size_t bytes = krt_dtype_size(dtype) * (size_t)krt_numel(rank, dims);
    FILE *f = fopen(tmp_path, "wb");
    if (!f)
        return fail(err, errlen, "%s: %s", tmp_path, strerror(errno));
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(header, 1, hlen, f) == hlen &&
             (bytes == 0 || fwrite(data, 1, bytes, f) == bytes);
    ok = (fclose(f) == 0) && ok;
    if (!ok) {
        unlink(tmp_path);
        return fail(err, errlen, "%s: write error: %s", tmp_path, strerror(errno));
    }
    return KRT_OK;
}

krt_status krt_npy_write(const char *path, krt_dtype dtype, int rank, const int64_t *dims,
                         const void *data, char *err, size_t errlen)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    krt_status st = krt_npy_write_to(tmp, dtype, rank, dims, data, err, errlen);
    if (st == KRT_OK && rename(tmp, path) != 0) {
        unlink(tmp);
        return fail(err, errlen, "%s: %s", path, strerror(errno));
    }
    return st;
}

void krt_npy_free(krt_npy *a)
{
    free(a->data);
    a->data = NULL;
}
