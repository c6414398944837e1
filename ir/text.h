/* text.h — kiln's text IR (printer and parser in one module, ir/text.c)
 * and the Graphviz export (ir/dot.c).
 *
 * The text form is deterministic and round-trips exactly:
 * print(parse(print(g))) == print(g). Constants are printed by name, dtype,
 * shape and a digest of their bytes; small ones also inline as hex, large
 * ones point into a weights sidecar file when one is written (see
 * docs/text-ir.md for the grammar), so a saved graph can still be run.
 */
#ifndef KILN_TEXT_H
#define KILN_TEXT_H

#include "ir/ir.h"

/* Magic first line of a kiln text IR file (how loaders tell it from ONNX). */
#define KILN_TEXT_MAGIC "kiln-ir 1"

/* The graph as text; malloc'd, caller frees. Large constants are printed
 * with their digest only (no sidecar). */
char *kiln_text_format(const kiln_graph *g);

/* Parse text (len bytes, need not be NUL-terminated). `path` names the text
 * in messages ("model.kir:12:5: ...") and locates a weights sidecar, if the
 * text refers to one. Values get the printed types; call kiln_graph_infer to
 * re-check them. On success *out is a new graph. */
kiln_status kiln_text_parse(kiln_ctx *ctx, const char *text, size_t len, const char *path,
                            kiln_graph **out);

/* Write g to path as text, with large constants in a sidecar next to it
 * (path + ".weights"), both written to temporary names and renamed into
 * place only when complete. */
kiln_status kiln_text_save(kiln_ctx *ctx, const kiln_graph *g, const char *path);
/* Read a file written by kiln_text_save (or any text IR). */
kiln_status kiln_text_load(kiln_ctx *ctx, const char *path, kiln_graph **out);

/* 64-bit FNV-1a of n bytes: the digest the text IR prints for constants
 * (ir/digest.c). */
uint64_t kiln_digest(const void *data, size_t n);

/* Graphviz DOT: one box per node with op, output dtype and shape; malloc'd. */
char *kiln_dot_format(const kiln_graph *g);

#endif
