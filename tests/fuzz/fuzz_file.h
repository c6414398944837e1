/* fuzz_file.h — the fuzz targets hand their input to kiln's real entry
 * points, which take a path: the bytes go to one file per process in a
 * private directory (under /dev/shm when there is one), rewritten for
 * every input. The directory holds nothing else, so external data that a
 * fuzzed model names is never found. */
#ifndef KILN_FUZZ_FILE_H
#define KILN_FUZZ_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *fuzz_file(const uint8_t *data, size_t size, const char *name)
{
    static char dir[64], path[128];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "%s/kiln-fuzz-XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        if (!mkdtemp(dir))
            abort();
    }
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
        abort();
    return path;
}

#endif
