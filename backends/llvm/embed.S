/* embed.S — the kernel bitcode, one linked module per target triple
 * (backends/llvm/CMakeLists.txt builds them and writes kernels.inc), as
 * read-only bytes in kiln: kiln_llvm_bc_<arch> .. kiln_llvm_bc_<arch>_end.
 * An arch kiln was built without gets an empty range. */
#define KILN_BC(arch, file)                 \
    .section .rodata;                       \
    .balign 16;                             \
    .globl kiln_llvm_bc_##arch;             \
kiln_llvm_bc_##arch:                        \
    .incbin file;                           \
    .globl kiln_llvm_bc_##arch##_end;       \
kiln_llvm_bc_##arch##_end:

#define KILN_BC_NONE(arch)                  \
    .section .rodata;                       \
    .globl kiln_llvm_bc_##arch;             \
kiln_llvm_bc_##arch:                        \
    .globl kiln_llvm_bc_##arch##_end;       \
kiln_llvm_bc_##arch##_end:

#include "kernels.inc"

    .section .note.GNU-stack,"",@progbits
