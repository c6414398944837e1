#!/bin/sh
# run.sh BUILD LIBDIR ROOT — `make install` and a user's build against it.
#
#   1. `cmake --install BUILD --prefix /opt/kiln-test` under DESTDIR=TMP/stage
#      (what `make install DESTDIR=... PREFIX=...` runs) puts kiln, the
#      flattened runtime headers and sources, libkiln-runtime.a and
#      kiln-runtime.pc under TMP/stage and nowhere else;
#   2. the installed runtime sources are the bytes the installed kiln copies
#      into a generated directory;
#   3. the installed kiln, run from /, compiles samples/fmnist-vit to C
#      sources; with the runtime copies deleted, only NAME.c and
#      NAME_weights.c are compiled, against `pkg-config --cflags --libs
#      kiln-runtime` (PKG_CONFIG_PATH into the staged prefix) with
#      tests/install/model_user.c; its output matches `kiln run`'s
#      (the interpreter) on the sample's input;
#   4. the same through `kiln compile -o NAME.o` (an object carrying its own
#      runtime copy, model symbols only) linked with the installed library.
# Exit status: the number of failures.
set -u
build=$(cd "$1" && pwd)
libdir=$2
root=$(cd "$3" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }

# 1. staged install
prefix=/opt/kiln-test
P=$tmp/stage$prefix
if DESTDIR=$tmp/stage cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1; then ok; else
	bad "cmake --install"; cat "$tmp/install.log"; exit 1
fi
for f in bin/kiln "$libdir/libkiln-runtime.a" "$libdir/pkgconfig/kiln-runtime.pc" \
	include/kiln/kiln_model.h include/kiln/krt_npy.h include/kiln/krt_kernel.h \
	share/kiln/runtime/krt_kernels.c share/kiln/runtime/krt_linalg_gemm.c; do
	if [ -f "$P/$f" ]; then ok; else bad "not installed: $prefix/$f"; fi
done
if [ "$(cd "$tmp/stage" && ls)" = "opt" ] && [ "$(ls "$tmp/stage/opt")" = "kiln-test" ]; then ok; else
	bad "files installed outside DESTDIR/PREFIX"; (cd "$tmp/stage" && find . -maxdepth 2)
fi
if grep -l '#include "runtime/' "$P"/include/kiln/* "$P"/share/kiln/runtime/* >"$tmp/unflat"; then
	bad "installed files still include \"runtime/...\""; cat "$tmp/unflat"
else ok; fi
if nm -g --defined-only "$P/$libdir/libkiln-runtime.a" 2>/dev/null | grep -q ' krt_npy_read$' &&
	nm -g --defined-only "$P/$libdir/libkiln-runtime.a" | grep -q ' krt_kernel_matmul$'; then ok; else
	bad "libkiln-runtime.a lacks krt_npy_read or krt_kernel_matmul"
fi

export PKG_CONFIG_PATH="$P/$libdir/pkgconfig"
if cflags=$(pkg-config --cflags kiln-runtime) && libs=$(pkg-config --libs kiln-runtime); then ok; else
	bad "pkg-config kiln-runtime"; exit "$fail"
fi
case "$cflags $libs" in
*"$P"*) ok ;;
*) bad "pkg-config does not point into the staged prefix: $cflags $libs" ;;
esac

# 2-3. the installed kiln from /, C sources built against the installed runtime
sample=$root/samples/fmnist-vit
(cd / && "$P/bin/kiln" run "$sample/model.onnx" -i "$sample/input_0.npy" -o "$tmp/ref" >/dev/null) ||
	bad "kiln run (interpreter)"
want=$(ls "$tmp"/ref/*.npy | head -1)
if (cd / && "$P/bin/kiln" compile "$sample/model.onnx" -o "$tmp/gen/fmnist" --emit c --quiet); then ok; else
	bad "installed kiln compile --emit c"; exit "$fail"
fi
copies=0
for f in "$tmp"/gen/fmnist/krt_* "$tmp"/gen/fmnist/kiln_model.h; do
	base=$(basename "$f")
	copies=$((copies + 1))
	cmp -s "$f" "$P/share/kiln/runtime/$base" || bad "$base: the generated copy differs from the installed one"
	rm -f "$f"
done
if [ "$copies" -gt 5 ]; then ok; else bad "only $copies runtime copies in the generated directory"; fi
cc_user() {  # cc_user OUT MODEL-OBJECTS...: model_user.c linked with the installed runtime
	out=$1
	shift
	# shellcheck disable=SC2086
	cc -std=c11 -O1 -DMODEL=fmnist -I"$tmp/gen/fmnist" -o "$out" "$here/model_user.c" "$@" \
		$cflags $libs 2>"$tmp/cc.log" || { cat "$tmp/cc.log"; return 1; }
}
# shellcheck disable=SC2086
if (cd "$tmp/gen/fmnist" && cc -std=c11 -O2 -c fmnist.c fmnist_weights.c $cflags 2>"$tmp/cc.log") &&
	cc_user "$tmp/user_src" "$tmp/gen/fmnist/fmnist.o" "$tmp/gen/fmnist/fmnist_weights.o"; then ok; else
	bad "the model sources do not build against the installed runtime"; cat "$tmp/cc.log"
fi
if [ -x "$tmp/user_src" ] && "$tmp/user_src" "$sample/input_0.npy" "$want"; then ok; else
	bad "C sources + libkiln-runtime.a: output differs from the interpreter"
fi

# 4. --emit obj linked with the installed library
if (cd / && "$P/bin/kiln" compile "$sample/model.onnx" -o "$tmp/obj/fmnist.o" --quiet) &&
	cc_user "$tmp/user_obj" "$tmp/obj/fmnist.o"; then ok; else bad "kiln compile -o fmnist.o + pkg-config"; fi
if [ -x "$tmp/user_obj" ] && "$tmp/user_obj" "$sample/input_0.npy" "$want"; then ok; else
	bad "fmnist.o + libkiln-runtime.a: output differs from the interpreter"
fi

echo "install: $pass passed, $fail failed"
exit "$fail"
