/* onnx_external.c — tensors whose bytes live in a separate file.
 *
 * A model names the file (`location`) and the byte range (`offset`,
 * `length`) in TensorProto.external_data. A model is untrusted input, so
 * the location is confined to the model's own directory: absolute paths,
 * any `..` component, and symbolic links anywhere along the way are
 * refused. The walk opens one component at a time with openat() and
 * O_NOFOLLOW, so nothing can be swapped for a link between check and use.
 * The range is checked against the file size with overflow-safe sums and
 * must hold exactly the tensor's bytes; they are read into the arena.
 */
#define _POSIX_C_SOURCE 200809L
#include "frontend/onnx_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct ext_ref {
    const char *location;
    int64_t offset;
    int64_t length;       /* -1: to the end of the file */
} ext_ref;

static kiln_status ext_fail(const onnx_tensor_src *src, kiln_status st, const char *what,
                            const char *fmt, ...) KILN_PRINTF(4, 5);

static kiln_status ext_fail(const onnx_tensor_src *src, kiln_status st, const char *what,
                            const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return kiln_error(src->ctx, st, "%s: %s: external data: %s", src->path, what, msg);
}

/* ---- the key/value entries ------------------------------------------------ */

/* A non-negative decimal integer, digits only, overflow-checked. */
static bool parse_size(const char *s, int64_t *out)
{
    int64_t v = 0;
    if (!s || !*s)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || !kiln_mul_size(v, 10, &v) || !kiln_add_size(v, *s - '0', &v))
            return false;
    }
    *out = v;
    return true;
}

static kiln_status parse_entry(const onnx_tensor_src *src, const char *what,
                               const Onnx__StringStringEntryProto *e, ext_ref *ref)
{
    const char *key = e->key ? e->key : "", *val = e->value ? e->value : "";
    if (strcmp(key, "location") == 0) {
        ref->location = val;
        return KILN_OK;
    }
    int64_t *dst = strcmp(key, "offset") == 0 ? &ref->offset
                 : strcmp(key, "length") == 0 ? &ref->length : NULL;
    if (dst && !parse_size(val, dst))
        return ext_fail(src, KILN_ERR_INVALID, what, "%s '%s' is not a non-negative integer", key,
                        val);
    return KILN_OK; /* "checksum" and unknown keys carry nothing kiln needs */
}

static kiln_status parse_ref(const onnx_tensor_src *src, const Onnx__TensorProto *t,
                             const char *what, ext_ref *ref)
{
    *ref = (ext_ref){.location = NULL, .offset = 0, .length = -1};
    for (size_t i = 0; i < t->n_external_data; i++) {
        kiln_status st = parse_entry(src, what, t->external_data[i], ref);
        if (st)
            return st;
    }
    if (!ref->location || !ref->location[0])
        return ext_fail(src, KILN_ERR_INVALID, what, "no 'location' entry");
    return KILN_OK;
}

/* ---- confining the path --------------------------------------------------- */

static kiln_status check_location(const onnx_tensor_src *src, const char *what, const char *loc)
{
    if (loc[0] == '/')
        return ext_fail(src, KILN_ERR_INVALID, what,
                        "location '%s' is an absolute path; external data must be a relative "
                        "path inside the model's directory", loc);
    for (const char *c = loc; *c;) {
        size_t n = strcspn(c, "/");
        if (n == 2 && c[0] == '.' && c[1] == '.')
            return ext_fail(src, KILN_ERR_INVALID, what,
                            "location '%s' has a '..' component; external data must stay inside "
                            "the model's directory", loc);
        c += n + (c[n] == '/');
    }
    return KILN_OK;
}

/* Opens the next path component under dirfd, never following a link. */
static int open_component(const onnx_tensor_src *src, const char *what, const char *loc, int dirfd,
                          const char *name, bool last, kiln_status *st)
{
    int fd = openat(dirfd, name,
                    O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | (last ? 0 : O_DIRECTORY));
    if (fd >= 0)
        return fd;
    struct stat sb;
    bool link = errno == ELOOP || (errno == ENOTDIR && !fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) &&
                                   S_ISLNK(sb.st_mode));
    if (link || errno == ENOTDIR)
        *st = ext_fail(src, KILN_ERR_INVALID, what,
                       "location '%s': '%s' is %s; kiln reads external data only through plain "
                       "directories and files", loc, name, link ? "a symbolic link" : "not a directory");
    else
        *st = ext_fail(src, KILN_ERR_IO, what, "cannot open '%s/%s': %s", src->dir, loc,
                       strerror(errno));
    return -1;
}

/* Walks `loc` one component at a time from the base directory. */
static int open_confined(const onnx_tensor_src *src, const char *what, const char *loc,
                         kiln_status *st)
{
    int fd = open(src->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        *st = ext_fail(src, KILN_ERR_IO, what, "cannot open directory '%s': %s", src->dir,
                       strerror(errno));
        return -1;
    }
    char part[4096];
    for (const char *c = loc; fd >= 0 && *c;) {
        size_t n = strcspn(c, "/");
        bool last = c[n] == 0 || c[n + strspn(c + n, "/")] == 0;
        if (n == 0 || (n == 1 && c[0] == '.')) {
            c += n + strspn(c + n, "/");
            continue;
        }
        if (n >= sizeof part) {
            *st = ext_fail(src, KILN_ERR_INVALID, what, "location '%.64s...' is too long", loc);
            close(fd);
            return -1;
        }
        memcpy(part, c, n);
        part[n] = 0;
        int next = open_component(src, what, loc, fd, part, last, st);
        close(fd);
        fd = next;
        c += n + strspn(c + n, "/");
    }
    return fd;
}

/* ---- reading the range ------------------------------------------------------ */

static kiln_status check_range(const onnx_tensor_src *src, const char *what, const ext_ref *ref,
                               int64_t file_size, size_t nbytes, int64_t *length)
{
    int64_t end;
    *length = ref->length >= 0 ? ref->length : file_size - ref->offset;
    if (!kiln_add_size(ref->offset, *length, &end) || end > file_size || *length < 0)
        return ext_fail(src, KILN_ERR_INVALID, what,
                        "offset %lld + length %lld is beyond the end of '%s' (%lld bytes)",
                        (long long)ref->offset, (long long)(ref->length >= 0 ? ref->length : 0),
                        ref->location, (long long)file_size);
    if ((uint64_t)*length != nbytes)
        return ext_fail(src, KILN_ERR_INVALID, what,
                        "length %lld does not match the tensor's %zu bytes (dims x dtype size)",
                        (long long)*length, nbytes);
    return KILN_OK;
}

static kiln_status read_range(const onnx_tensor_src *src, const char *what, int fd,
                              const ext_ref *ref, uint8_t *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(fd, buf + got, len - got, (off_t)(ref->offset + (int64_t)got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return ext_fail(src, KILN_ERR_IO, what, "cannot read '%s': %s", ref->location,
                            r < 0 ? strerror(errno) : "unexpected end of file");
        got += (size_t)r;
    }
    return KILN_OK;
}

static kiln_status read_from(const onnx_tensor_src *src, const char *what, int fd,
                             const ext_ref *ref, size_t nbytes, const void **data)
{
    struct stat st;
    int64_t length;
    if (fstat(fd, &st))
        return ext_fail(src, KILN_ERR_IO, what, "cannot stat '%s': %s", ref->location,
                        strerror(errno));
    if (!S_ISREG(st.st_mode))
        return ext_fail(src, KILN_ERR_INVALID, what, "'%s' is not a regular file", ref->location);
    kiln_status s = check_range(src, what, ref, (int64_t)st.st_size, nbytes, &length);
    if (s)
        return s;
    uint8_t *buf = kiln_arena_alloc(src->arena, nbytes ? nbytes : 1, 64);
    *data = buf;
    return read_range(src, what, fd, ref, buf, nbytes);
}

kiln_status onnx_external_read(const onnx_tensor_src *src, const Onnx__TensorProto *t,
                               const char *what, size_t nbytes, const void **data)
{
    ext_ref ref;
    kiln_status st = parse_ref(src, t, what, &ref);
    if (!st)
        st = check_location(src, what, ref.location);
    if (st)
        return st;
    int fd = open_confined(src, what, ref.location, &st);
    if (fd < 0)
        return st;
    st = read_from(src, what, fd, &ref, nbytes, data);
    close(fd);
    return st;
}

char *onnx_dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strcpy(kiln_xrealloc(NULL, 2), ".");
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    char *d = kiln_xrealloc(NULL, n + 1);
    memcpy(d, path, n);
    d[n] = 0;
    return d;
}
