# flatten.cmake — cmake -DSRC=runtime -DOUT=DIR -P flatten.cmake
#
# Copies the runtime files (SRC/*.c, *.h, *.def) into one flat directory with every
# `#include "runtime/X"` rewritten to `#include "X"`: the same rewrite
# kiln_cgen_flatten_includes (backends/c/cgen_kernels.c) applies when it
# copies them into a generated directory, so the installed runtime and a
# generated directory hold the same bytes (tests/install checks it).
file(GLOB FILES ${SRC}/*.c ${SRC}/*.h ${SRC}/*.def)
file(MAKE_DIRECTORY ${OUT})
foreach(f ${FILES})
  get_filename_component(name ${f} NAME)
  file(READ ${f} text)
  string(REPLACE "#include \"runtime/" "#include \"" text "${text}")
  file(WRITE ${OUT}/${name}.tmp "${text}")
  file(RENAME ${OUT}/${name}.tmp ${OUT}/${name})
endforeach()
