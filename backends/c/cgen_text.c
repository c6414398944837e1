/* cgen_text.c — the C backend's text helpers: a growable buffer and the
 * escaping that keeps names from the model (any bytes at all) from
 * breaking the generated C: in string literals, in comments and in
 * identifiers. */
#include "backends/c/cgen_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void reserve(cbuf *b, size_t more)
{
    if (b->len + more + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1)
        cap *= 2;
    b->p = kiln_xrealloc(b->p, cap);
    b->cap = cap;
}

void cbuf_put(cbuf *b, const char *s, size_t n)
{
    reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

void cbuf_puts(cbuf *b, const char *s)
{
    cbuf_put(b, s, strlen(s));
}

void cbuf_printf(cbuf *b, const char *fmt, ...)
{
    va_list ap, copy;
    va_start(ap, fmt);
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    KILN_ASSERT(n >= 0);
    reserve(b, (size_t)n);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void cbuf_free(cbuf *b)
{
    free(b->p);
    *b = (cbuf){0};
}

void cbuf_c_string(cbuf *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\' || *p == '?')
            cbuf_printf(b, "\\%c", *p);
        else if (*p < 0x20 || *p >= 0x7f)
            cbuf_printf(b, "\\%03o", *p);
        else
            cbuf_put(b, (const char *)p, 1);
    }
}

void cbuf_comment(cbuf *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((p[0] == '*' && p[1] == '/') || (p[0] == '/' && p[1] == '*') ||
            (p[0] == '?' && p[1] == '?'))
            cbuf_printf(b, "%c ", *p);  /* "* /", "/ *", "? ?" */
        else if (*p < 0x20 || *p >= 0x7f || *p == '\\')
            cbuf_printf(b, "\\x%02x", *p);
        else
            cbuf_put(b, (const char *)p, 1);
    }
}

static bool ident_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

void cbuf_ident(cbuf *b, char prefix, uint32_t id, const char *name)
{
    cbuf_printf(b, "%c%u", prefix, id);
    size_t n = 0;
    bool gap = true;  /* collapse runs of replaced characters into one '_' */
    for (const char *p = name; p && *p && n < 32; p++) {
        if (ident_char(*p)) {
            if (gap)
                cbuf_put(b, "_", 1), n++;
            cbuf_put(b, p, 1), n++;
            gap = false;
        } else {
            gap = true;
        }
    }
}

char *kiln_cgen_c_name(const char *text, char *out, size_t size)
{
    size_t n = 0;
    KILN_ASSERT(size >= 8);
    for (const char *p = text; p && *p && n + 1 < size; p++) {
        if (n == 0 && *p >= '0' && *p <= '9')
            out[n++] = 'm';
        if (n + 1 < size)
            out[n++] = ident_char(*p) ? *p : '_';
    }
    out[n] = 0;
    if (n == 0)
        snprintf(out, size, "model");
    return out;
}
