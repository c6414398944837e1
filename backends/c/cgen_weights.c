/* cgen_weights.c — `--weights file`: the constants in a separate
 * NAME.weights instead of static arrays in NAME_weights.c.
 *
 * The file is a 64-byte header, then the constants, each at a 64-byte
 * aligned offset (little-endian throughout):
 *
 *   0   "KILNWTS1"                 magic
 *   8   u64 payload bytes          everything after the header
 *   16  u64 payload digest         FNV-1a over the payload's 64-bit words
 *   24  u64 layout id              FNV-1a over each constant's name, dtype,
 *                                  shape, offset and size, in order
 *   32  char[32] model name        the C prefix, NUL-padded (31 at most)
 *
 * The generated code knows the layout id, the name and the sizes, not the
 * digest: a NAME.weights written by another compile of a model with the
 * same constants (retrained weights) loads; one of another model is
 * refused (KILN_WEIGHTS_EMODEL), as are a truncated or padded file
 * (KILN_WEIGHTS_ESIZE) and changed bytes (KILN_WEIGHTS_EDIGEST: the digest
 * finds any single changed word, it is not a cryptographic check).
 *
 * The caller owns the loaded image and binds it to each workspace with
 * NAME_set_weights, which checks it whole and stores its address in the
 * workspace's first 64 bytes; NAME_run reads it from there (so NAME_run
 * keeps the three-argument ABI, writes no global, and any number of
 * workspaces share one image). An unbound workspace gives
 * KILN_RUN_ENOWEIGHTS, never a read through a garbage pointer: the tag
 * stored beside the address is the layout id.
 */
#include "backends/c/cgen_internal.h"

#include <string.h>

enum { HEADER = KILN_CGEN_WEIGHTS_HEADER };

static const uint64_t fnv_basis = 14695981039346656037ull, fnv_prime = 1099511628211ull;

uint64_t kiln_cgen_weights_digest(const unsigned char *p, size_t n)
{
    uint64_t h = fnv_basis;
    for (size_t i = 0; i < n; i += 8) {
        unsigned char b[8] = {0};
        uint64_t w = 0;
        memcpy(b, p + i, n - i < 8 ? n - i : 8);
        for (int k = 7; k >= 0; k--)  /* little-endian, whatever the host */
            w = w << 8 | b[k];
        h = (h ^ w) * fnv_prime;
    }
    return h;
}

void kiln_cgen_weights_layout(uint64_t *id, const char *name, int32_t dtype, int rank,
                              const int64_t *dims, size_t offset, size_t nbytes)
{
    uint64_t h = *id ? *id : fnv_basis;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * fnv_prime;
    int64_t fields[4 + 8] = {dtype, rank, (int64_t)offset, (int64_t)nbytes};
    for (int i = 0; i < rank && i < 8; i++)
        fields[4 + i] = dims[i];
    for (int i = 0; i < 4 + 8; i++)
        h = (h ^ (uint64_t)fields[i]) * fnv_prime;
    *id = h;
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* The 64 header bytes for this model's payload. */
static void header_bytes(unsigned char *hd, const char *name, uint64_t layout, const cbuf *payload)
{
    memset(hd, 0, HEADER);
    memcpy(hd, "KILNWTS1", 8);
    put_u64(hd + 8, payload->len);
    put_u64(hd + 16, kiln_cgen_weights_digest((const unsigned char *)payload->p, payload->len));
    put_u64(hd + 24, layout);
    size_t n = strlen(name);
    memcpy(hd + 32, name, n < 31 ? n : 31);
}

void kiln_cgen_weights_file(cbuf *out, const char *name, uint64_t layout, const cbuf *payload)
{
    unsigned char hd[HEADER];
    header_bytes(hd, name, layout, payload);
    cbuf_put(out, (const char *)hd, HEADER);
    cbuf_put(out, payload->p ? payload->p : "", payload->len);
}

void kiln_cgen_weights_decls(cbuf *h, const char *name)
{
    cbuf_printf(h,
        "/* --weights file: the constants are in %s.weights (written beside these\n"
        " * sources). Load them once into a buffer of %s_weights_size() bytes,\n"
        " * 64-byte aligned (or map the whole file there), then bind every workspace\n"
        " * to it before %s_run:\n"
        " *\n"
        " *     void *w = aligned_alloc(64, (%s_weights_size() + 63) / 64 * 64);\n"
        " *     int rc = %s_load_weights(\"path/%s.weights\", w);  // 0 or KILN_WEIGHTS_*\n"
        " *     rc = rc ? rc : %s_set_weights(workspace, w);       // per workspace\n"
        " *\n"
        " * The image is only read: any number of workspaces (threads) share one.\n"
        " * %s_load_weights and %s_check_weights return 0, KILN_RUN_EARG (NULL or\n"
        " * misaligned), KILN_WEIGHTS_EOPEN, _EFORMAT, _EMODEL (another model's\n"
        " * weights), _ESIZE (truncated or padded) or _EDIGEST (corrupted);\n"
        " * %s_run returns KILN_RUN_ENOWEIGHTS for a workspace never bound. */\n"
        "#define %s_WEIGHTS_FILE \"%s.weights\"\n"
        "size_t %s_weights_size(void);\n"
        "int %s_load_weights(const char *path, void *weights);\n"
        "int %s_check_weights(const void *weights, size_t size);\n"
        "int %s_set_weights(void *workspace, const void *weights);\n\n",
        name, name, name, name, name, name, name, name, name, name, name, name, name, name, name,
        name);
}

static void byte_table(cbuf *c, const char *what, const unsigned char *p, size_t n)
{
    cbuf_printf(c, "static const unsigned char %s[%zu] = {", what, n);
    for (size_t i = 0; i < n; i++)
        cbuf_printf(c, "%s%u", i ? "," : "", p[i]);
    cbuf_puts(c, "};\n");
}

void kiln_cgen_weights_functions(cbuf *c, const char *name, uint64_t layout, const cbuf *payload)
{
    unsigned char hd[HEADER];
    header_bytes(hd, name, layout, payload);
    cbuf_printf(c, "\n/* --weights file: %s.weights is a 64-byte header (magic, payload bytes,\n"
                   " * payload digest, layout id, model name), then the constants at the\n"
                   " * offsets NAME_run uses (backends/c/cgen_weights.c describes it). */\n"
                   "#define WEIGHTS_PAYLOAD %zuu\n"
                   "#define WEIGHTS_LAYOUT UINT64_C(0x%016llx)\n", name, payload->len,
                (unsigned long long)layout);
    byte_table(c, "weights_magic", hd, 8);
    byte_table(c, "weights_model", hd + 32, 32);
    cbuf_printf(c,
        "\n/* FNV-1a over little-endian 64-bit words (the payload is whole words). */\n"
        "static uint64_t weights_digest(const unsigned char *p, size_t n)\n{\n"
        "    uint64_t h = UINT64_C(14695981039346656037);\n"
        "    size_t i;\n"
        "    for (i = 0; i + 8 <= n; i += 8) {\n"
        "        uint64_t w = 0;\n"
        "        int k;\n"
        "        for (k = 7; k >= 0; k--)\n"
        "            w = w << 8 | p[i + (size_t)k];\n"
        "        h = (h ^ w) * UINT64_C(1099511628211);\n"
        "    }\n"
        "    return h;\n}\n\n"
        "static uint64_t weights_u64(const unsigned char *p)\n{\n"
        "    uint64_t v = 0;\n    int k;\n"
        "    for (k = 7; k >= 0; k--)\n        v = v << 8 | p[k];\n    return v;\n}\n\n"
        "size_t %s_weights_size(void)\n{\n    return 64 + WEIGHTS_PAYLOAD;\n}\n\n"
        "int %s_check_weights(const void *weights, size_t size)\n{\n"
        "    const unsigned char *p = weights;\n"
        "    if (!p || (uintptr_t)p %% 64 != 0)\n        return KILN_RUN_EARG;\n"
        "    if (size < 64)\n        return KILN_WEIGHTS_ESIZE;\n"
        "    if (memcmp(p, weights_magic, 8) != 0)\n        return KILN_WEIGHTS_EFORMAT;\n"
        "    if (weights_u64(p + 24) != WEIGHTS_LAYOUT || memcmp(p + 32, weights_model, 32) != 0)\n"
        "        return KILN_WEIGHTS_EMODEL;\n"
        "    if (weights_u64(p + 8) != WEIGHTS_PAYLOAD || size != 64 + (size_t)WEIGHTS_PAYLOAD)\n"
        "        return KILN_WEIGHTS_ESIZE;\n"
        "    if (weights_u64(p + 16) != weights_digest(p + 64, WEIGHTS_PAYLOAD))\n"
        "        return KILN_WEIGHTS_EDIGEST;\n"
        "    return KILN_RUN_OK;\n}\n\n"
        "int %s_load_weights(const char *path, void *weights)\n{\n"
        "    size_t got;\n    int extra;\n    FILE *f;\n"
        "    if (!path || !weights || (uintptr_t)weights %% 64 != 0)\n        return KILN_RUN_EARG;\n"
        "    f = fopen(path, \"rb\");\n"
        "    if (!f)\n        return KILN_WEIGHTS_EOPEN;\n"
        "    got = fread(weights, 1, 64 + (size_t)WEIGHTS_PAYLOAD, f);\n"
        "    extra = got == 64 + (size_t)WEIGHTS_PAYLOAD && getc(f) != EOF;\n"
        "    fclose(f);\n"
        "    return %s_check_weights(weights, got + (size_t)extra);\n}\n\n"
        "int %s_set_weights(void *workspace, const void *weights)\n{\n"
        "    uint64_t tag = WEIGHTS_LAYOUT;\n"
        "    int rc;\n"
        "    if (!workspace || (uintptr_t)workspace %% 64 != 0)\n        return KILN_RUN_EARG;\n"
        "    if ((rc = %s_check_weights(weights, 64 + (size_t)WEIGHTS_PAYLOAD)) != 0)\n"
        "        return rc;\n"
        "    memcpy(workspace, &tag, sizeof tag);\n"
        "    memcpy((unsigned char *)workspace + 8, &weights, sizeof weights);\n"
        "    return KILN_RUN_OK;\n}\n\n"
        "/* The payload bound to this workspace, or NULL. */\n"
        "static const unsigned char *bound_weights(const void *workspace)\n{\n"
        "    uint64_t tag;\n    const unsigned char *w;\n"
        "    memcpy(&tag, workspace, sizeof tag);\n"
        "    if (tag != WEIGHTS_LAYOUT)\n        return NULL;\n"
        "    memcpy(&w, (const unsigned char *)workspace + 8, sizeof w);\n"
        "    return w + 64;\n}\n",
        name, name, name, name, name, name);
}
