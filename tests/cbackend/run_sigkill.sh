#!/bin/sh
# run_sigkill.sh KILN ROOT — atomic writes: `kiln compile` killed with
# SIGKILL in the middle leaves either the previous output or the new one,
# whole, never a partial one; its temporaries are removed by the next
# compile to the same output.
#
#   1. --emit c of samples/zoo/mobilenet-v3-small (25 MB of sources, about a
#      second), over an earlier output: compiles under --name m and --name
#      other alternate, each killed (with its process group) after 0.05 .. 1.5 s;
#      after every kill the output is exactly the m or the other directory;
#   2. the same into a fresh place: nothing, or the whole directory;
#   3. an executable (the C compiler running): killed while its build
#      directory exists, no executable and no NAME.weights (--weights file)
#      is left; the stray OUT.tmp<pid>.d is there, and the next compile
#      removes it.
# Exit status: the number of failures.
set -u
kiln=$1
root=$(cd "$2" && pwd)
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
model=$root/samples/zoo/mobilenet-v3-small/model.onnx
if ! command -v setsid >/dev/null || [ ! -x /bin/kill ]; then
	echo "SKIP: needs setsid and /bin/kill (util-linux, procps)"
	exit 77
fi

# killed DELAY OUT ARGS...: start kiln compile in its own process group,
# SIGKILL the group after DELAY seconds (or let it finish first)
killed() {
	delay=$1
	shift
	setsid "$kiln" compile "$model" --quiet "$@" 2>/dev/null &
	pid=$!
	sleep "$delay"
	/bin/kill -KILL -- "-$pid" 2>/dev/null  # dash's kill takes no process group
	wait "$pid" 2>/dev/null
	[ $? = 137 ] && kills=$((kills + 1))
}

# 1. replacing an earlier output
"$kiln" compile "$model" -o "$tmp/ref/a" --emit c --name m --quiet || { bad "compile a"; exit 1; }
"$kiln" compile "$model" -o "$tmp/ref/b" --emit c --name other --quiet || { bad "compile b"; exit 1; }
cp -r "$tmp/ref/a" "$tmp/out"
mkdir -p "$tmp/live"
i=0
seen=0
kills=0
for delay in 0.05 0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8 0.9 1.0 1.2 1.5; do
	i=$((i + 1))
	if [ $((i % 2)) = 1 ]; then
		killed "$delay" -o "$tmp/out" --emit c --name other
	else
		killed "$delay" -o "$tmp/out" --emit c --name m
	fi
	seen=$((seen + $(ls -a "$tmp" | grep -c '^out\.')))
	if diff -r "$tmp/out" "$tmp/ref/a" >/dev/null 2>&1 || diff -r "$tmp/out" "$tmp/ref/b" >/dev/null 2>&1; then
		ok
	else
		bad "killed after ${delay}s: $tmp/out is neither the old nor the new output"
		ls "$tmp"
	fi
	# 2. a fresh output
	killed "$delay" -o "$tmp/live/fresh$i" --emit c --name m
	if [ ! -e "$tmp/live/fresh$i" ] || diff -r "$tmp/live/fresh$i" "$tmp/ref/a" >/dev/null; then ok; else
		bad "killed after ${delay}s: a partial fresh$i"
	fi
done
echo "replacing: $kills of $((2 * i)) compiles killed before they finished; $seen times a stray out.tmp<pid> was left (each removed by the next compile)"
"$kiln" compile "$model" -o "$tmp/out" --emit c --name m --quiet || bad "compile after the kills"
if diff -r "$tmp/out" "$tmp/ref/a" >/dev/null && [ "$(ls -a "$tmp" | grep -c '^out\.')" = 0 ]; then ok; else
	bad "the next compile left temporaries: $(ls -a "$tmp" | grep '^out\.')"
fi

# 3. an executable with --weights file, killed while the C compiler runs
# (no object cache: the runtime's files take seconds to compile)
mkdir -p "$tmp/exe"
KILN_CACHE_DIR=off setsid "$kiln" compile "$model" -o "$tmp/exe/m" --weights file --quiet 2>/dev/null &
pid=$!
n=0
while [ $n -lt 600 ] && ! ls "$tmp/exe/m.tmp$pid.d/src"/*.o >/dev/null 2>&1; do
	sleep 0.05
	n=$((n + 1))
done
/bin/kill -KILL -- "-$pid" 2>/dev/null
wait "$pid" 2>/dev/null
if [ $? = 137 ] && [ $n -lt 600 ]; then ok; else bad "not killed while the C compiler ran in m.tmp$pid.d"; fi
if [ ! -e "$tmp/exe/m" ] && [ ! -e "$tmp/exe/m.weights" ]; then ok; else bad "a killed compile left m or m.weights"; fi
if [ -d "$tmp/exe/m.tmp$pid.d" ]; then ok; else bad "expected the stray m.tmp$pid.d"; fi
CC=false "$kiln" compile "$model" -o "$tmp/exe/m" --weights file --quiet 2>/dev/null
if [ -z "$(ls -A "$tmp/exe")" ]; then ok; else bad "the next (failed) compile left: $(ls -A "$tmp/exe")"; fi

echo "sigkill: $pass passed, $fail failed"
exit "$fail"
