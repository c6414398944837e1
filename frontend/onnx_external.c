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
    char shown[300];      /* location for messages: control characters escaped */
    int64_t offset;
    int64_t length;       /* -1: to the end of the file */
    bool seen[3];         /* location, offset, length: each at most once */
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
    static const char *const keys[3] = {"location", "offset", "length"};
    const char *key = e->key ? e->key : "", *val = e->value ? e->value : "";
    char shown[300];
    for (int k = 0; k < 3; k++) {
        if (strcmp(key, keys[k]) != 0)
            continue;
        /* the last one would win: a bad entry could hide behind a good one */
        if (ref->seen[k])
            return ext_fail(src, KILN_ERR_INVALID, what, "the key '%s' is given twice", key);
        ref->seen[k] = true;
        if (k == 0) {
            ref->location = val;
            kiln_escape(val, ref->shown, sizeof ref->shown);
        } else if (!parse_size(val, k == 1 ? &ref->offset : &ref->length)) {
            return ext_fail(src, KILN_ERR_INVALID, what, "%s '%s' is not a non-negative integer", key,
                            kiln_escape(val, shown, sizeof shown));
        }
    }
    return KILN_OK; /* "checksum" and unknown keys carry nothing kiln needs */
}

static kiln_status parse_ref(const onnx_tensor_src *src, const Onnx__TensorProto *t,
                             const char *what, ext_ref *ref)
{
    *ref = (ext_ref){.location = NULL, .offset = 0, .length = -1};
    if (t->n_external_data > 64) /* a handful of keys; a hostile file may repeat thousands */
        return ext_fail(src, KILN_ERR_INVALID, what, "%zu key/value entries (at most 64)", t->n_external_data);
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

static kiln_status check_location(const onnx_tensor_src *src, const char *what, const ext_ref *ref)
{
    const char *loc = ref->location;
    if (loc[0] == '/')
        return ext_fail(src, KILN_ERR_INVALID, what,
                        "location '%s' is an absolute path; external data must be a relative "
                        "path inside the model's directory", ref->shown);
    for (const char *c = loc; *c;) {
        size_t n = strcspn(c, "/");
        if (n == 2 && c[0] == '.' && c[1] == '.')
            return ext_fail(src, KILN_ERR_INVALID, what,
                            "location '%s' has a '..' component; external data must stay inside "
                            "the model's directory", ref->shown);
        c += n + (c[n] == '/');
    }
    if (loc[strlen(loc) - 1] == '/')
        return ext_fail(src, KILN_ERR_INVALID, what, "location '%s' ends with '/'; it must name a file",
                        ref->shown);
    return KILN_OK;
}

/* Opens the next path component under dirfd, never following a link. */
static int open_component(const onnx_tensor_src *src, const char *what, const char *loc, int dirfd,
                          const char *part, bool last, kiln_status *st)
{
    int fd = openat(dirfd, part,
                    O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | (last ? 0 : O_DIRECTORY));
    if (fd >= 0)
        return fd;
    int err = errno;
    struct stat sb;
    char name[300];
    kiln_escape(part, name, sizeof name);
    bool link = err == ELOOP || (err == ENOTDIR && !fstatat(dirfd, part, &sb, AT_SYMLINK_NOFOLLOW) &&
                                 S_ISLNK(sb.st_mode));
    errno = err;
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
                         const char *shown, kiln_status *st)
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
            *st = ext_fail(src, KILN_ERR_INVALID, what, "location '%.64s...' is too long", shown);
            close(fd);
            return -1;
        }
        memcpy(part, c, n);
        part[n] = 0;
        int next = open_component(src, what, shown, fd, part, last, st);
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
                        ref->shown, (long long)file_size);
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
            return ext_fail(src, KILN_ERR_IO, what, "cannot read '%s': %s", ref->shown,
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
        return ext_fail(src, KILN_ERR_IO, what, "cannot stat '%s': %s", ref->shown, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return ext_fail(src, KILN_ERR_INVALID, what, "'%s' is not a regular file", ref->shown);
    /* a hard link in the model's directory may be the name of a file
     * anywhere on the file system: the confined walk cannot tell */
    if (st.st_nlink > 1)
        return ext_fail(src, KILN_ERR_INVALID, what,
                        "'%s' has %ld hard links; kiln reads external data only from files with one "
                        "name (copy the file instead of linking it)", ref->shown, (long)st.st_nlink);
    if (src->model.known && (uint64_t)st.st_dev == src->model.dev && (uint64_t)st.st_ino == src->model.ino)
        return ext_fail(src, KILN_ERR_INVALID, what, "location '%s' is the model file itself", ref->shown);
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
        st = check_location(src, what, &ref);
    if (st)
        return st;
    int fd = open_confined(src, what, ref.location, ref.shown, &st);
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
