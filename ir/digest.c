/* digest.c — the 64-bit FNV-1a digest the text IR prints for constants.
 *
 * FNV-1a is tiny, has no tables and is stable across platforms (bytes in,
 * one integer out), which is all a "did these weights change?" check
 * needs; it is not a cryptographic hash.
 */
#include "ir/text.h"

uint64_t kiln_digest(const void *data, size_t n)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ull; /* FNV offset basis */
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull; /* FNV prime */
    }
    return h;
}
