#!/bin/sh
# profile.sh KILN ROOT — `--profile` on every path that runs a model:
# kiln run (interpreter, --backend c, --backend llvm, a LIB.so, a LIB.so
# compiled with --threads 2) and the compiled executables (C, LLVM, C with
# --threads 2), on tests/e2e/profile.kir (12 nodes, one per kind) and on
# samples/fmnist-vit (36 nodes; interpreter, C and LLVM).
#
# Each table is checked, not just looked at:
#  - its structure: the header lines, the op-kind table, the node table;
#  - the nodes' times add up: their sum is within [80%, 100%] of the
#    whole call's time (plus rounding), the op kinds' totals add up to the
#    same sum, their shares to 100%, their node counts to the node count;
#  - both tables are sorted by time, and every GFLOP/s is FLOP / time;
#  - profile.kir: every node's FLOP column is the count worked out by hand
#    in profile.kir's comment (tests/unit/test_flops.c checks the same);
#  - fmnist-vit: every backend shows the same FLOPs per node.
# Exit status: the number of failures.
set -u
kiln=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
root=$2
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d /tmp/kiln-profile.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }

# npy FILE "D0, D1" COUNT: a float32 .npy of COUNT zeros (the values do not
# matter to a profile).
npy() {
	hdr="{'descr': '<f4', 'fortran_order': False, 'shape': ($2), }"
	pad=$(((64 - (${#hdr} + 11) % 64) % 64))
	len=$((${#hdr} + pad + 1))
	{
		printf '\223NUMPY\001\000'
		printf "\\$(printf %03o $((len % 256)))\\$(printf %03o $((len / 256)))"
		printf '%s%*s\n' "$hdr" "$pad" ''
		head -c $(($3 * 4)) /dev/zero
	} >"$1"
}
npy "$tmp/a.npy" "2, 3, 8" 48
npy "$tmp/b.npy" "8, 6" 48
npy "$tmp/m.npy" "3, 8" 24
npy "$tmp/c.npy" "6," 6
npy "$tmp/img.npy" "1, 4, 9, 9" 324
npy "$tmp/w.npy" "6, 2, 3, 3" 108
npy "$tmp/bias.npy" "6," 6
npy "$tmp/qkv.npy" "2, 4, 24" 192
npy "$tmp/g.npy" "8," 8
npy "$tmp/be.npy" "8," 8
kir_inputs=""
for x in a b m c img w bias qkv g be; do
	kir_inputs="$kir_inputs -i $x=$tmp/$x.npy"
done

# check NAME FILE [EXPECTED-FLOPS-FILE]: the table in FILE (stderr of a
# --profile run); the node table's "name flop" pairs go to FILE.flops.
check() {
	awk -v want="${3:-}" -v flops_out="$2.flops" '
	function fail(msg) { print "  " msg; bad = 1 }
	function near(x, y, tol) { return x - y <= tol && y - x <= tol }
	BEGIN { if (want != "") while ((getline line < want) > 0) { split(line, f, " "); expect[f[1]] = f[2]; n_expect++ } }
	/^profile: / { seen_title = 1 }
	/^the faster [0-9]+ of [0-9]+ runs/ { seen_runs = 1 }
	/^total / { total = $2; nodes = $10; sum = $14; seen_total = 1 }
	/^work / { seen_work = 1 }
	/^by op kind:/ { part = "kinds"; getline; next }
	/^top [0-9]+ of [0-9]+ nodes:/ { part = "nodes"; shown = $2; getline; next }
	/^$/ { part = "" }
	part == "kinds" && NF == 5 {
		n_kinds++; kind_ms += $3; kind_nodes += $2; share = $4; sub(/%/, "", share); shares += share
		if (n_kinds > 1 && $3 > last_kind + 1e-9) fail("op kinds not sorted by time: " $1)
		last_kind = $3
	}
	part == "nodes" && NF == 6 {
		n_rows++; ms = $3; rate = $5; fl = $6
		if (n_rows > 1 && ms > last_ms + 1e-9) fail("nodes not sorted by time: " $1)
		last_ms = ms
		if ((fl == 0) != (rate == "-")) fail("node " $1 ": FLOP " fl " but GFLOP/s " rate)
		if (rate != "-" && ms >= 0.01 && !near(rate, fl / (ms * 1e6), 0.02 * rate + 0.01))
			fail("node " $1 ": GFLOP/s " rate " is not FLOP/time " fl / (ms * 1e6))
		print $1, fl > flops_out
		if (want != "") {
			if (!($1 in expect)) fail("node " $1 ": not in profile.kir")
			else if (expect[$1] != fl) fail("node " $1 ": FLOP " fl ", counted by hand " expect[$1])
			got[$1] = 1
		}
	}
	END {
		if (!seen_title || !seen_runs || !seen_total || !seen_work) fail("a header line is missing")
		if (n_kinds == 0 || n_rows == 0) fail("a table is missing")
		if (!(sum <= total + 0.0002 && sum >= 0.8 * total - 0.0005))
			fail("the nodes sum to " sum " ms, the whole call took " total " ms")
		if (!near(kind_ms, sum, 0.0001 * n_kinds + 0.0002)) fail("op kinds add to " kind_ms " ms, nodes to " sum)
		if (!near(shares, 100, 0.05 * n_kinds + 0.1)) fail("shares add to " shares "%")
		if (kind_nodes != nodes) fail("op kinds count " kind_nodes " nodes, the header " nodes)
		for (k in expect) if (!(k in got)) fail("node " k " of profile.kir is not in the table")
		exit bad
	}' "$2" && ok "$1" || { bad "$1"; sed -n 1,12p "$2"; }
}

# profile.kir's comment: "name ... = FLOPS" lines.
sed -n 's/^;   \([a-z0-9]*\) .*= *\([0-9]*\)$/\1 \2/p' "$here/profile.kir" >"$tmp/expected"
[ "$(wc -l <"$tmp/expected")" -eq 12 ] && ok "profile.kir lists 12 hand counts" || bad "profile.kir's counts"

k="$here/profile.kir"
run_kir() { # NAME COMMAND...: the table on stderr, checked against the hand counts
	name=$1
	shift
	if "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"; then
		check "profile.kir $name" "$tmp/$name.err" "$tmp/expected"
	else
		bad "profile.kir $name: exit $?"
		cat "$tmp/$name.err"
	fi
}
# shellcheck disable=SC2086
{
	run_kir interp "$kiln" run "$k" -O0 $kir_inputs --profile --bench 6
	run_kir backend-c "$kiln" run "$k" -O0 $kir_inputs --profile --bench 6 --backend c
	run_kir backend-llvm "$kiln" run "$k" -O0 $kir_inputs --profile --bench 6 --backend llvm
	"$kiln" compile "$k" -O0 -o "$tmp/libkir.so" --quiet && run_kir lib "$kiln" run "$tmp/libkir.so" $kir_inputs --profile
	"$kiln" compile "$k" -O0 -o "$tmp/libkir2.so" --threads 2 --quiet &&
		run_kir lib-threads "$kiln" run "$tmp/libkir2.so" $kir_inputs --profile --threads 2
	"$kiln" compile "$k" -O0 -o "$tmp/kir-c" --quiet && run_kir c-exe "$tmp/kir-c" $kir_inputs --profile --bench 8
	"$kiln" compile "$k" -O0 -o "$tmp/kir-c2" --threads 2 --quiet &&
		run_kir c-exe-threads "$tmp/kir-c2" $kir_inputs --profile --threads 2
	"$kiln" compile "$k" -O0 -o "$tmp/kir-llvm" --backend llvm --quiet && run_kir llvm-exe "$tmp/kir-llvm" $kir_inputs --profile
}
grep -q "2 threads; a node's time is its wall time across them" "$tmp/c-exe-threads.err" &&
	ok "the threaded table says what a node's time is" || bad "threads not named in the title"

# fmnist-vit: the same FLOPs per node on every backend, and its tables check.
s="$root/samples/fmnist-vit"
for b in interp c llvm; do
	if "$kiln" run "$s/model.onnx" -i "$s/input_0.npy" --backend "$b" --profile --bench 6 >/dev/null 2>"$tmp/fm-$b.err"; then
		check "fmnist-vit $b" "$tmp/fm-$b.err"
	else
		bad "fmnist-vit $b: exit $?"
		cat "$tmp/fm-$b.err"
	fi
done
for b in c llvm; do
	sort "$tmp/fm-interp.err.flops" >"$tmp/fi"
	sort "$tmp/fm-$b.err.flops" >"$tmp/fb"
	# the 20 slowest nodes differ between backends: compare those both show
	if join "$tmp/fi" "$tmp/fb" | awk '$2 != $3 { bad = 1; print "  " $0 } END { exit bad || NR < 5 }'; then
		ok "fmnist-vit: $b shows the interpreter's FLOPs"
	else
		bad "fmnist-vit: $b's FLOPs differ from the interpreter's"
	fi
done

# --profile on a library without NAME_profile (an older kiln's, as the
# hand-written tests/ffi/tiny_add.c is): refused, saying what to do.
lib=$(dirname "$kiln")/tests/ffi/libtiny_add.so
if [ -f "$lib" ]; then
	npy "$tmp/x23.npy" "2, 3" 6
	"$kiln" run "$lib" -i "$tmp/x23.npy" -i "$tmp/x23.npy" --profile >/dev/null 2>"$tmp/old.err"
	rc=$?
	if [ "$rc" = 1 ] && grep -q "has no tiny_add_profile and tiny_add_run_profiled (compiled by an older kiln): compile it again" "$tmp/old.err"; then
		ok "a library without a profile is refused"
	else
		bad "a library without a profile: exit $rc"
		cat "$tmp/old.err"
	fi
fi
echo "profile: $pass passed, $fail failed"
exit "$fail"
