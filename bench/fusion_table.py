#!/usr/bin/python3
"""The numbers issue 8's note asks for, re-runnable (docs/attention.md has the last run).

    /usr/bin/python3 bench/fusion_table.py [--kiln build/kiln] [--big DIR] [--runs N] [--rounds R]

Per attention sample (the rows of the per-sample table in tests/unit/test_fuse_attention.c,
whose expected counts are derived from samples/zoo/export.py; those rows are the samples
issue 8 lists):
  - attention blocks found (kiln.Attention nodes after -O2) vs present (the test's count);
  - nodes before (-O0) and after (-O2), from `kiln info`;
  - the Softmax nodes left after -O2 and the fuse-attention remarks about them (a Softmax
    without a remark is a bug: flagged);
  - every remark that remains (`kiln dump -O2 --remarks`), grouped by pass and reason.
Then the interpreter latency (`kiln run --bench N`, one thread) at -O0 and -O2 of the
full-size DeiT-Tiny and Swin-T in --big (default build/big-models; export them with
`/usr/bin/python3 samples/zoo/export_big.py DIR deit-tiny swin-t`). Wall time is kiln's own
per-run mean and best, CPU time its per-run process CPU time over the same runs (loading,
inference and the passes are left out). -O0 and -O2 alternate for --rounds rounds; the
table gives the median of the rounds' means, the best single run and the median of the
rounds' CPU times. On a loaded machine the wall times wait for the CPU, the CPU times
much less: read those.
Standard library only.
"""
import argparse
import collections
import os
import re
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEST = os.path.join(ROOT, "tests/unit/test_fuse_attention.c")


def samples_from_test():
    """[(dir, present)] from the `samples[]` table of the per-sample attention test."""
    text = open(TEST).read()
    table = text[text.index("static const sample_attn samples[]"):]
    table = table[:table.index("};")]
    rows = re.findall(r'\{"([^"]+)",\s*(\d+),', table)
    if not rows:
        sys.exit(f"{TEST}: no rows in samples[]")
    return [(d, int(n)) for d, n in rows]


def kiln(args, *argv, check=True):
    r = subprocess.run([args.kiln, *argv], capture_output=True, text=True, cwd=ROOT)
    if check and r.returncode != 0:
        sys.exit(f"kiln {' '.join(argv)}: exit {r.returncode}\n{r.stderr}")
    return r


def info(args, model, level):
    """(nodes, {op: count}) from `kiln info`."""
    out = kiln(args, "info", model, level).stdout
    m = re.search(r"ops \((\d+) nodes", out)
    ops = {}
    block = out[m.end():].split("\n\n")[0]
    for line in block.splitlines()[1:]:
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            ops[parts[0]] = int(parts[1])
    return int(m.group(1)), ops


def remarks(args, model):
    """[(pass, reason)] of `kiln dump -O2 --remarks`, node names dropped."""
    err = kiln(args, "dump", model, "-O2", "--remarks").stderr
    out = []
    for line in err.splitlines():
        m = re.match(r"remark: ([\w-]+): .*?: node (?:'[^']*'|producing '[^']*') \(([\w.]+)\): (.*)", line)
        if m:
            out.append((m.group(1), f"{m.group(2)}: {m.group(3)}"))
        elif line.startswith("remark:"):
            out.append(("?", line))
    return out


def sample_table(args):
    print("| sample | attention blocks found / present | nodes -O0 | nodes -O2 | Softmax left | remarks left |")
    print("|---|---:|---:|---:|---:|---:|")
    notes, bugs = [], []
    for d, present in samples_from_test():
        model = os.path.join(d, "model.onnx")
        n0, _ = info(args, model, "-O0")
        n2, ops2 = info(args, model, "-O2")
        found = ops2.get("Attention", 0)
        softmax = ops2.get("Softmax", 0)
        rem = remarks(args, model)
        explained = sum(1 for p, r in rem if p == "fuse-attention")
        name = os.path.basename(d)
        flag = "" if found == present else " (**differs**)"
        print(f"| {name} | {found} / {present}{flag} | {n0} | {n2} | {softmax} | {len(rem)} |")
        if softmax != explained:
            bugs.append(f"{name}: {softmax} Softmax left after -O2, {explained} fuse-attention remarks")
        for (p, r), k in collections.Counter(rem).items():
            notes.append(f"- {name}: {k} x {p}: {r}")
    print()
    print("Remarks left after -O2 (count x pass: node op: reason):")
    print()
    print("\n".join(notes) if notes else "- none")
    if bugs:
        print()
        print("**Softmax without a remark** (a bug per issue 8):")
        for b in bugs:
            print(f"- {b}")
    print()


def bench_once(args, model, inp, level, n):
    """(mean ms, best ms, CPU ms per run) of `kiln run MODEL LEVEL --bench n`."""
    r = kiln(args, "run", model, level, "-i", inp, "--bench", str(n))
    m = re.search(r"interp: \d+ runs, mean ([\d.]+) ms, best ([\d.]+) ms, CPU ([\d.]+) ms/run", r.stderr)
    if not m:
        sys.exit(f"kiln run {model} {level} --bench {n}: no timing in\n{r.stderr}")
    return float(m.group(1)), float(m.group(2)), float(m.group(3))


def latency_table(args):
    models = [("DeiT-Tiny", "deit-tiny"), ("Swin-T", "swin-t")]
    print(f"Interpreter, one thread, {args.runs} runs per round, {args.rounds} rounds "
          f"(-O0 and -O2 alternate); load average before: {os.getloadavg()[0]:.2f}")
    print()
    print("| model | level | median of round means ms | best ms | CPU ms / run | -O0 / -O2 (CPU) |")
    print("|---|---|---:|---:|---:|---:|")
    for label, name in models:
        d = os.path.join(args.big, name)
        model, inp = os.path.join(d, "model.onnx"), os.path.join(d, "input_0.npy")
        if not os.path.exists(model):
            print(f"| {label} | - | missing: /usr/bin/python3 samples/zoo/export_big.py {args.big} {name} | | | |")
            continue
        res = {"-O0": [], "-O2": []}
        for _ in range(args.rounds):
            for level in ("-O0", "-O2"):
                res[level].append(bench_once(args, model, inp, level, args.runs))
        cpu = {lv: statistics.median(r[2] for r in res[lv]) for lv in res}
        for level in ("-O0", "-O2"):
            rs = res[level]
            ratio = f"{cpu['-O0'] / cpu['-O2']:.2f}x" if level == "-O2" else ""
            print(f"| {label} | {level} | {statistics.median(r[0] for r in rs):.1f} | "
                  f"{min(r[1] for r in rs):.1f} | {cpu[level]:.1f} | {ratio} |")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kiln", default=os.path.join(ROOT, "build/kiln"))
    ap.add_argument("--big", default=os.path.join(ROOT, "build/big-models"))
    ap.add_argument("--runs", type=int, default=10, help="--bench N per measurement")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-latency", action="store_true", help="only the per-sample table")
    args = ap.parse_args()
    args.kiln = os.path.abspath(args.kiln)
    args.big = os.path.abspath(args.big)
    if args.runs < 1:
        sys.exit("--runs must be at least 1")
    rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    print(f"kiln {rev.stdout.strip()}, {args.kiln}")
    print()
    sample_table(args)
    if not args.no_latency:
        latency_table(args)


if __name__ == "__main__":
    main()
