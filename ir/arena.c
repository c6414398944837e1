/* arena.c — bump allocator in chunks; everything is freed at once.
 *
 * Each graph owns one arena for its strings, attribute payloads and
 * constants it copies; passes may use their own scratch arena and reset it.
 * Allocations are zero-filled so that structs start in a known state.
 */
#include "ir/ir.h"

#include <stdlib.h>
#include <string.h>

enum { CHUNK_MIN = 64 * 1024 };

typedef struct chunk {
    struct chunk *next;
    size_t size, used;     /* bytes in data[] */
    unsigned char data[];  /* malloc alignment only: offsets are aligned by address */
} chunk;

struct kiln_arena {
    chunk *head;           /* newest chunk first */
    size_t total;          /* bytes handed out, for statistics */
};

kiln_arena *kiln_arena_create(void)
{
    return kiln_xcalloc(1, sizeof(kiln_arena));
}

void kiln_arena_destroy(kiln_arena *a)
{
    if (!a)
        return;
    for (chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(a);
}

static chunk *chunk_new(size_t need)
{
    size_t size = need > CHUNK_MIN ? need : CHUNK_MIN;
    chunk *c = malloc(sizeof(chunk) + size);
    if (!c)
        kiln_panic(__FILE__, __LINE__, "out of memory (arena chunk of %zu bytes)", size);
    c->next = NULL;
    c->size = size;
    c->used = 0;
    return c;
}

static size_t aligned_offset(const chunk *c, size_t align)
{
    uintptr_t at = (uintptr_t)c->data + c->used;
    return (size_t)(((at + align - 1) & ~(uintptr_t)(align - 1)) - (uintptr_t)c->data);
}

void *kiln_arena_alloc(kiln_arena *a, size_t size, size_t align)
{
    KILN_ASSERT(align && align <= 4096 && (align & (align - 1)) == 0);
    chunk *c = a->head;
    size_t at = c ? aligned_offset(c, align) : 0;
    if (!c || at > c->size || size > c->size - at) {
        if (size > SIZE_MAX / 2)
            kiln_panic(__FILE__, __LINE__, "out of memory (arena request of %zu bytes)", size);
        c = chunk_new(size + align);
        c->next = a->head;
        a->head = c;
        at = aligned_offset(c, align);
    }
    c->used = at + size;
    a->total += size;
    void *p = c->data + at;
    memset(p, 0, size);
    return p;
}

char *kiln_arena_strndup(kiln_arena *a, const char *s, size_t n)
{
    char *d = kiln_arena_alloc(a, n + 1, 1);
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

char *kiln_arena_strdup(kiln_arena *a, const char *s)
{
    return kiln_arena_strndup(a, s, strlen(s));
}

void kiln_arena_reset(kiln_arena *a)
{
    if (!a->head)
        return;
    chunk *keep = a->head;
    while (keep->next) {   /* keep the oldest (first) chunk */
        chunk *c = keep;
        keep = keep->next;
        free(c);
    }
    keep->used = 0;
    a->head = keep;
    a->total = 0;
}

size_t kiln_arena_used(const kiln_arena *a) { return a->total; }
