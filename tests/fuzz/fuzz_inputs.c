/* fuzz_inputs.c — the readers of `kiln run -i`: the input is read as a
 * .npy file and as an ONNX TensorProto .pb file (the same bytes, both
 * ways); a successful read must describe exactly the bytes it returns. */
#define _POSIX_C_SOURCE 200809L
#include "frontend/frontend.h"
#include "runtime/krt_npy.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    krt_npy a;
    char err[1024];
    if (krt_npy_read(fuzz_file(data, size, "x.npy"), &a, err, sizeof err) == KRT_OK) {
        if (a.nbytes != krt_dtype_size(a.dtype) * (size_t)krt_numel(a.rank, a.dims))
            abort();
        krt_npy_free(&a);
    }
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_tensor t;
    char *name = NULL;
    if (kiln_onnx_read_tensor(ctx, fuzz_file(data, size, "x.pb"), &t, &name) == KILN_OK) {
        int64_t numel;
        if (!kiln_shape_numel(&t.shape, &numel) || (uint64_t)numel * kiln_dtype_size(t.dtype) != t.nbytes)
            abort();
        free((void *)t.data);
        free(name);
    }
    kiln_ctx_destroy(ctx);
    return 0;
}
