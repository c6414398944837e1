/* sample_run.h — test helper: a sample's inputs (DIR/input_K.npy, graph
 * order) through the interpreter. Shared by test_passes.c and
 * test_fusion.c, which compare a graph's outputs before and after passes. */
#ifndef SAMPLE_RUN_H
#define SAMPLE_RUN_H

#include "cunit_main.h"
#include "ir/interp.h"
#include "runtime/krt_npy.h"

#include <stdio.h>

/* Runs g on DIR's inputs; *out as kiln_interp_run gives it (free it with
 * kiln_interp_free_outputs). At most 8 inputs. */
static kiln_status interpret(kiln_ctx *ctx, const kiln_graph *g, const char *dir, kiln_tensor *out)
{
    kiln_tensor in[8];
    krt_npy npy[8];
    char path[512], err[256];
    uint32_t n = g->n_inputs;
    CU_ASSERT_FATAL(n <= 8);
    for (uint32_t i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/input_%u.npy", dir, i);
        CU_ASSERT_EQUAL_FATAL(krt_npy_read(path, &npy[i], err, sizeof err), KRT_OK);
        in[i] = (kiln_tensor){.dtype = (kiln_dtype)npy[i].dtype, .data = npy[i].data,
                              .nbytes = npy[i].nbytes,
                              .shape = kiln_shape_make(npy[i].rank, npy[i].dims)};
    }
    kiln_status st = kiln_interp_run(ctx, g, in, n, out);
    for (uint32_t i = 0; i < n; i++)
        krt_npy_free(&npy[i]);
    return st;
}

#endif /* SAMPLE_RUN_H */
