/* krt_npy.h — reading and writing NumPy .npy files (format versions 1-3).
 *
 * Used by `kiln run` and by the executables kiln generates, so it lives in
 * the runtime and knows nothing of the compiler. Only C-order,
 * little-endian (or byte-sized) arrays of the dtypes in krt_dtypes.def are
 * accepted; everything else is refused with a message saying why.
 */
#ifndef KRT_NPY_H
#define KRT_NPY_H

#include "runtime/krt.h"

typedef struct krt_npy {
    krt_dtype dtype;
    int rank;
    int64_t dims[KRT_MAX_RANK];
    void *data;          /* malloc'd, 64-byte aligned: release with krt_npy_free */
    size_t nbytes;
} krt_npy;

/* Parse the header of an in-memory .npy file of `len` bytes: fills dtype,
 * rank, dims, nbytes (not data) and *data_offset. Returns KRT_OK or
 * KRT_EVALUE with a reason in err. */
krt_status krt_npy_parse_header(const void *buf, size_t len, krt_npy *out,
                                size_t *data_offset, char *err, size_t errlen);

/* Read path into out (out->data malloc'd). The data size must match the
 * header exactly: a truncated or padded file is an error. */
krt_status krt_npy_read(const char *path, krt_npy *out, char *err, size_t errlen);

/* Write an array as .npy (version 1.0) to path; written to a temporary name
 * in the same directory and renamed into place when complete. */
krt_status krt_npy_write(const char *path, krt_dtype dtype, int rank, const int64_t *dims,
                         const void *data, char *err, size_t errlen);
/* Same, but leaves the file at tmp_path for the caller to rename (used to
 * write several outputs all-or-nothing). */
krt_status krt_npy_write_to(const char *tmp_path, krt_dtype dtype, int rank,
                            const int64_t *dims, const void *data, char *err, size_t errlen);

void krt_npy_free(krt_npy *a);

#endif
