/* limits.h — how big a graph kiln accepts (README, "Limits").
 *
 * A model is untrusted input: without a bound, a small file can ask for
 * unbounded work (100k opset imports, 100k attributes on one node, a shape
 * sub-graph that folds to gigabytes). Each limit below is far above what
 * real models use (the largest exported LLMs have ~100k nodes, a few opset
 * imports, a few dozen attributes on a node) and is checked before the
 * work it bounds, with its own message, so a hostile file is rejected in
 * time and memory linear in its size. The ONNX loader and the text-IR
 * parser check the same numbers.
 */
#ifndef KILN_IR_LIMITS_H
#define KILN_IR_LIMITS_H

#include <stdint.h>

#define KILN_MAX_NODES          1000000  /* nodes in a graph */
#define KILN_MAX_NODE_ATTRS     1000     /* attributes on one node */
#define KILN_MAX_OPSET_IMPORTS  1000     /* opset_import entries */
#define KILN_MAX_VALUE_INFO     1000000  /* value_info entries (ONNX) */
#define KILN_MAX_GRAPH_INPUTS   100000   /* graph inputs */
#define KILN_MAX_GRAPH_OUTPUTS  100000   /* graph outputs */
/* Bytes of constants that folding (shape inference's and the `fold` pass's)
 * may create for one graph, on top of the bytes of its own constants:
 * folding a real model's weights creates at most about as much again. */
#define KILN_MAX_FOLD_BYTES     ((int64_t)256 << 20)

#endif
