/* kiln_model.h — the descriptor types of a compiled model's C ABI
 * (DESIGN.md, "The generated C ABI"). This is the one kiln header a
 * generated NAME.h includes: it is copied into every generated directory
 * and installed with the runtime, so it depends on nothing but <stddef.h>
 * and <stdint.h>, and it never changes incompatibly (new fields go at the
 * end of a struct whose size a version field announces).
 *
 * For a model compiled under the name `deit`:
 *
 *     extern const kiln_model_info deit_info;
 *     size_t deit_workspace_size(void);
 *     int    deit_run(const void *const *inputs, void *const *outputs, void *workspace);
 *
 * inputs[i] points at graph input i (dense, C order, the dtype and shape
 * deit_info gives), outputs[i] at a caller buffer for graph output i;
 * workspace at deit_workspace_size() bytes aligned to 64. deit_run returns
 * 0, or a KILN_RUN_* code (it never reads or writes out of bounds).
 *
 * Every model also exports its profile (node names, op kinds, FLOPs) and a
 * timed entry point, the same computation as NAME_run:
 *
 *     extern const kiln_model_profile deit_profile;
 *     int    deit_run_profiled(const void *const *inputs, void *const *outputs,
 *                              void *workspace, uint64_t *ns);
 *
 * ns points at deit_profile.n_nodes entries; entry i gets the nanoseconds
 * node i (deit_profile.nodes[i], in run order) took: wall time on a
 * monotonic clock, so with a thread pool bound it is the node's time
 * across all its threads. NAME_run itself reads no clock.
 */
#ifndef KILN_MODEL_H
#define KILN_MODEL_H

#include <stddef.h>
#include <stdint.h>

#define KILN_MODEL_ABI_VERSION 1

/* Element types, numbered as ONNX TensorProto.DataType numbers them. */
typedef enum kiln_model_dtype {
    KILN_MODEL_F32 = 1,
    KILN_MODEL_U8 = 2,
    KILN_MODEL_I8 = 3,
    KILN_MODEL_U16 = 4,
    KILN_MODEL_I16 = 5,
    KILN_MODEL_I32 = 6,
    KILN_MODEL_I64 = 7,
    KILN_MODEL_BOOL = 9,
    KILN_MODEL_F16 = 10,
    KILN_MODEL_F64 = 11,
    KILN_MODEL_U32 = 12,
    KILN_MODEL_U64 = 13,
    KILN_MODEL_BF16 = 16,
} kiln_model_dtype;

#define KILN_MODEL_MAX_RANK 8

typedef struct kiln_model_tensor {
    const char *name;                     /* the ONNX name, as in the model */
    int32_t dtype;                        /* a kiln_model_dtype */
    int32_t rank;
    int64_t dims[KILN_MODEL_MAX_RANK];    /* static: every dimension bound at compile time */
    uint64_t nbytes;                      /* bytes of the dense tensor */
} kiln_model_tensor;

typedef struct kiln_model_info {
    uint32_t abi_version;                 /* KILN_MODEL_ABI_VERSION */
    uint32_t size;                        /* sizeof(kiln_model_info) the model was built with */
    const char *name;                     /* the model's C name (the NAME_ prefix) */
    uint32_t n_inputs, n_outputs;
    const kiln_model_tensor *inputs;      /* [n_inputs], in graph order */
    const kiln_model_tensor *outputs;     /* [n_outputs], in graph order */
    uint64_t workspace_size;              /* what NAME_workspace_size() returns */
} kiln_model_info;

/* One node of a compiled model, in the order NAME_run runs them. */
typedef struct kiln_model_node {
    const char *name;                     /* the node's name in the graph (its first
                                             output's when the model gave none) */
    const char *op;                       /* its op as the text IR spells it:
                                             "MatMul", "kiln.Attention" */
    double flops;                         /* floating-point operations per run, as
                                             kiln counts them (ir/flops.h); 0: none */
} kiln_model_node;

typedef struct kiln_model_profile {
    uint32_t size;                        /* sizeof(kiln_model_profile) the model was built with */
    uint32_t n_nodes;
    const kiln_model_node *nodes;         /* [n_nodes] */
} kiln_model_profile;

/* NAME_run's result codes. */
enum {
    KILN_RUN_OK = 0,
    KILN_RUN_EARG = 1,                    /* a NULL or misaligned pointer */
    KILN_RUN_EINDEX = 2,                  /* an index input out of range */
    KILN_RUN_EVALUE = 3,                  /* an input value a kernel cannot take */
    KILN_RUN_ENOWEIGHTS = 4,              /* --weights file: NAME_set_weights was not
                                             called on this workspace */
};

/* --weights file: NAME_load_weights / NAME_check_weights / NAME_set_weights
 * return 0, KILN_RUN_EARG, or one of these (the NAME.h of such a model
 * documents the entry points). */
enum {
    KILN_WEIGHTS_EOPEN = 5,               /* the file cannot be opened (errno says why) */
    KILN_WEIGHTS_EFORMAT = 6,             /* not a NAME.weights file kiln wrote */
    KILN_WEIGHTS_EMODEL = 7,              /* the weights of another model */
    KILN_WEIGHTS_ESIZE = 8,               /* truncated, or bytes after the end */
    KILN_WEIGHTS_EDIGEST = 9,             /* bytes changed since kiln wrote it */
};

#endif /* KILN_MODEL_H */
