/* cgen_kernels.c — per-kernel facts the C backend needs that the kernel
 * ABI does not carry: the C type of each kernel's descriptor and the
 * header declaring it (runtime/krt_kernel.h has only the name and size;
 * test_cgen checks every kernel has a row and that sizeof the named type
 * is the kernel's desc_size), and which runtime sources a set of kernels
 * needs.
 *
 * Which source defines a kernel is read from the embedded sources
 * themselves (the line `const krt_kernel_info krt_kernel_<name> =`), so
 * it cannot drift; only the helper dependencies between family sources
 * (conv → gemm's krt_gemm...) are written down, in `helper_deps`.
 */
#include "backends/c/cgen_internal.h"
#include "runtime/krt_elementwise.h"
#include "runtime/krt_linalg.h"
#include "runtime/krt_movement.h"
#include "runtime/krt_reduce.h"

#include <stdio.h>
#include <string.h>

typedef struct desc_row {
    const char *type;       /* the descriptor's C type */
    size_t size;            /* sizeof that type */
    const char *header;     /* the runtime header declaring it */
} desc_row;

#define EW(t) {#t, sizeof(t), "krt_elementwise.h"}
#define RD(t) {#t, sizeof(t), "krt_reduce.h"}
#define LA(t) {#t, sizeof(t), "krt_linalg.h"}
#define MV(t) {#t, sizeof(t), "krt_movement.h"}

static const desc_row desc_rows[KRT_K_COUNT] = {
    [KRT_K_UNARY] = EW(krt_unary_desc),
    [KRT_K_CLIP] = EW(krt_clip_desc),
    [KRT_K_BINARY] = EW(krt_binary_desc),
    [KRT_K_VARIADIC] = EW(krt_variadic_desc),
    [KRT_K_WHERE] = EW(krt_where_desc),
    [KRT_K_CAST] = EW(krt_cast_desc),
    [KRT_K_QUANTIZE_LINEAR] = EW(krt_qlinear_desc),
    [KRT_K_DEQUANTIZE_LINEAR] = EW(krt_qlinear_desc),
    [KRT_K_DYNAMIC_QUANTIZE_LINEAR] = EW(krt_dynamic_quantize_desc),
    [KRT_K_FUSED_EW] = EW(krt_fused_ew_desc),
    [KRT_K_REDUCE] = RD(krt_reduce_desc),
    [KRT_K_MVN] = RD(krt_mvn_desc),
    [KRT_K_ARGREDUCE] = RD(krt_argreduce_desc),
    [KRT_K_CUMSUM] = RD(krt_cumsum_desc),
    [KRT_K_SOFTMAX] = RD(krt_softmax_desc),
    [KRT_K_LOSS] = RD(krt_loss_desc),
    [KRT_K_BATCHNORM] = RD(krt_batchnorm_desc),
    [KRT_K_INSTANCENORM] = RD(krt_instancenorm_desc),
    [KRT_K_LAYERNORM] = RD(krt_layernorm_desc),
    [KRT_K_LPNORM] = RD(krt_lpnorm_desc),
    [KRT_K_LRN] = RD(krt_lrn_desc),
    [KRT_K_TOPK] = RD(krt_topk_desc),
    [KRT_K_EINSUM] = RD(krt_einsum_desc),
    [KRT_K_DET] = RD(krt_det_desc),
    [KRT_K_MATMUL] = LA(krt_matmul_desc),
    [KRT_K_GEMM] = LA(krt_gemm_desc),
    [KRT_K_QMATMUL] = LA(krt_qmatmul_desc),
    [KRT_K_MATMUL_EPI] = LA(krt_matmul_epi_desc),
    [KRT_K_CONV] = LA(krt_conv_desc),
    [KRT_K_CONV_TRANSPOSE] = LA(krt_conv_desc),
    [KRT_K_CONV_EPI] = LA(krt_conv_epi_desc),
    [KRT_K_QCONV] = LA(krt_qconv_desc),
    [KRT_K_POOL] = LA(krt_pool_desc),
    [KRT_K_MAX_UNPOOL] = LA(krt_max_unpool_desc),
    [KRT_K_RNN] = LA(krt_rnn_desc),
    [KRT_K_RESIZE] = LA(krt_resize_desc),
    [KRT_K_GRID_SAMPLE] = LA(krt_grid_sample_desc),
    [KRT_K_ROIALIGN] = LA(krt_roialign_desc),
    [KRT_K_ATTENTION] = LA(krt_attention_desc),
    [KRT_K_TOKEN_MERGE] = LA(krt_token_merge_desc),
    [KRT_K_TOKEN_PRUNE] = LA(krt_token_prune_desc),
    [KRT_K_COPY] = MV(krt_copy_desc),
    [KRT_K_STRIDED] = MV(krt_strided_desc),
    [KRT_K_CONCAT] = MV(krt_concat_desc),
    [KRT_K_SPLIT] = MV(krt_concat_desc),
    [KRT_K_PAD] = MV(krt_pad_desc),
    [KRT_K_TRILU] = MV(krt_trilu_desc),
    [KRT_K_REVERSE_SEQUENCE] = MV(krt_reverse_sequence_desc),
    [KRT_K_GATHER] = MV(krt_gather_desc),
    [KRT_K_GATHER_ELEMENTS] = MV(krt_elements_desc),
    [KRT_K_SCATTER_ELEMENTS] = MV(krt_elements_desc),
    [KRT_K_GATHER_ND] = MV(krt_nd_desc),
    [KRT_K_SCATTER_ND] = MV(krt_nd_desc),
    [KRT_K_ONE_HOT] = MV(krt_one_hot_desc),
    [KRT_K_COMPRESS] = MV(krt_compress_desc),
    [KRT_K_NONZERO] = MV(krt_nonzero_desc),
    [KRT_K_UNIQUE] = MV(krt_unique_desc),
    [KRT_K_FILL] = MV(krt_fill_desc),
    [KRT_K_RANGE] = MV(krt_range_desc),
    [KRT_K_EYE_LIKE] = MV(krt_eye_like_desc),
    [KRT_K_WINDOW] = MV(krt_window_desc),
    [KRT_K_MEL_WEIGHTS] = MV(krt_mel_weights_desc),
    [KRT_K_NMS] = MV(krt_nms_desc),
    [KRT_K_DFT] = MV(krt_dft_desc),
    [KRT_K_STFT] = MV(krt_stft_desc),
};

const char *kiln_cgen_desc_type(krt_kernel_id k)
{
    return (unsigned)k < KRT_K_COUNT ? desc_rows[k].type : NULL;
}

size_t kiln_cgen_desc_size(krt_kernel_id k)
{
    return (unsigned)k < KRT_K_COUNT ? desc_rows[k].size : 0;
}

const char *kiln_cgen_desc_header(krt_kernel_id k)
{
    return (unsigned)k < KRT_K_COUNT ? desc_rows[k].header : NULL;
}

/* ---- runtime file selection ------------------------------------------- */

/* Family sources that call helpers defined in another family source. */
static const struct {
    const char *file, *needs;
} helper_deps[] = {
    {"krt_linalg_conv.c", "krt_linalg_gemm.c"},     /* krt_gemm, krt_widen_f32 */
    {"krt_linalg_rnn.c", "krt_linalg_gemm.c"},      /* krt_sgemm */
    {"krt_linalg_sample.c", "krt_linalg_gemm.c"},   /* krt_widen_f32 */
    {"krt_movement_signal.c", "krt_movement_index.c"}, /* krt_sort_stable */
    {"krt_elementwise_unary.c", "krt_vmath.c"},    /* krt_vmath_f32 */
    {"krt_reduce_softmax.c", "krt_vmath.c"},       /* krt_vmath_f32 */
    {"krt_elementwise_fused.c", "krt_vmath.c"},    /* krt_vmath_f32 */
};

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n > k && strcmp(s + n - k, suffix) == 0;
}

static bool is_source(const kiln_cgen_file *f)
{
    return has_suffix(f->name, ".c");
}

/* Does file f define kernel k? */
static bool defines_kernel(const kiln_cgen_file *f, krt_kernel_id k)
{
    char line[128];
    snprintf(line, sizeof line, "const krt_kernel_info krt_kernel_%s =", krt_kernels[k]->name);
    return is_source(f) && strstr((const char *)f->bytes, line) != NULL;
}

static void keep_named(const char *name, bool *keep)
{
    for (unsigned i = 0; i < kiln_cgen_n_runtime_files; i++)
        if (strcmp(kiln_cgen_runtime_files[i].name, name) == 0)
            keep[i] = true;
}

/* Headers and .def files, except those only a testbench or a threaded
 * caller needs. */
static bool always_kept(const kiln_cgen_file *f, bool npy)
{
    if (strcmp(f->name, "krt_common.c") == 0 || strcmp(f->name, "kiln_model.h") == 0 ||
        strcmp(f->name, "krt_profile.c") == 0)  /* NAME_run_profiled's clock */
        return true;
    if (strcmp(f->name, "krt_pool.h") == 0)
        return false;
    if (strcmp(f->name, "krt_npy.h") == 0 || strcmp(f->name, "krt_npy.c") == 0)
        return npy;
    return has_suffix(f->name, ".h") || has_suffix(f->name, ".def");
}

unsigned kiln_cgen_runtime_select(const bool *used, bool npy, bool *keep)
{
    for (unsigned i = 0; i < kiln_cgen_n_runtime_files; i++) {
        const kiln_cgen_file *f = &kiln_cgen_runtime_files[i];
        keep[i] = always_kept(f, npy);
        for (int k = 1; k < KRT_K_COUNT && !keep[i]; k++)
            keep[i] = used[k] && defines_kernel(f, (krt_kernel_id)k);
    }
    for (size_t d = 0; d < sizeof helper_deps / sizeof helper_deps[0]; d++)
        for (unsigned i = 0; i < kiln_cgen_n_runtime_files; i++)
            if (keep[i] && strcmp(kiln_cgen_runtime_files[i].name, helper_deps[d].file) == 0)
                keep_named(helper_deps[d].needs, keep);
    unsigned n = 0;
    for (unsigned i = 0; i < kiln_cgen_n_runtime_files; i++)
        n += keep[i];
    return n;
}

const kiln_cgen_file *kiln_cgen_find_file(const char *name)
{
    for (unsigned i = 0; i < kiln_cgen_n_runtime_files; i++)
        if (strcmp(kiln_cgen_runtime_files[i].name, name) == 0)
            return &kiln_cgen_runtime_files[i];
    return NULL;
}

void kiln_cgen_flatten_includes(cbuf *b, const kiln_cgen_file *f)
{
    static const char from[] = "#include \"runtime/";
    const char *p = (const char *)f->bytes, *hit;
    while ((hit = strstr(p, from)) != NULL) {
        cbuf_put(b, p, (size_t)(hit - p));
        cbuf_puts(b, "#include \"");
        p = hit + sizeof from - 1;
    }
    cbuf_puts(b, p);
}
