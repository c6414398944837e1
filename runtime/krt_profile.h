/* krt_profile.h — per-node timing of a compiled model, and the table
 * `kiln run --profile` and a compiled executable's --profile print.
 *
 * In the runtime, not the compiler, because three kinds of program share
 * it: the generated NAME_run_profiled reads the clock (krt_profile_now;
 * the LLVM backend's through glue/glue.c, from the kernel bitcode), and
 * both kiln and the generated testbench print the same table from the
 * same numbers (krt_profile_report). It knows nothing of the IR: a model
 * is its kiln_model_profile (names, op kinds, FLOPs per node).
 */
#ifndef KRT_PROFILE_H
#define KRT_PROFILE_H

#include "runtime/kiln_model.h"

#include <stdio.h>

/* Nanoseconds on a monotonic clock (CLOCK_MONOTONIC; C's clock() where
 * there is none). */
uint64_t krt_profile_now(void);

/* Print the profile of `runs` runs of model p to out:
 *
 *   ns[r * p->n_nodes + i]  node i's time in run r (NAME_run_profiled's
 *                           array of run r)
 *   run_ns[r]               the whole call of run r, timed by the caller
 *
 * Of the runs, the faster half by whole-call time counts (a run another
 * process slowed is dropped whole); over those, the mean time of every
 * node and of the whole call; then one table by op kind (nodes, total ms,
 * share of the nodes' sum, GFLOP/s) and the `top` slowest nodes (name,
 * op, ms, share, GFLOP/s, FLOP), both sorted by time. `title` names the model and how it ran. Returns 0, or
 * -1 when runs is 0 or memory runs out (nothing printed). */
int krt_profile_report(FILE *out, const char *title, const kiln_model_profile *p,
                       const uint64_t *ns, const uint64_t *run_ns, uint32_t runs, uint32_t top);

#endif /* KRT_PROFILE_H */
