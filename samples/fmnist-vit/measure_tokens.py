#!/usr/bin/python3
"""Issue 12's measurements of kiln's token reduction on the 10,000 Fashion-MNIST test images.

  measure_tokens.py accuracy --reference DIR   # every configuration of reduce_ref/manifest.tsv
  measure_tokens.py latency                    # batch-1 latency of the same, against exact kiln
  measure_tokens.py sweep                      # per kind, the largest MAC reduction within 1 point

Common options: --kiln build/kiln, --work DIR (compiled libraries, logits; default
/tmp/kiln-measure-tokens), --backend c|llvm (the backend of the compiled libraries).

accuracy: for each configuration, `kiln compile model-dynbatch.onnx --shape image=CHUNKx1x28x28
OPTIONS -o NAME.so`, then the library is loaded into this process (ctypes, its C ABI: NAME_run,
one thread) and run on the 10k test images (data.py, normalised as in training) CHUNK at a time
(the last chunk padded with zero images, dropped). Reported: kiln's accuracy; the PyTorch
reference's accuracy and the top-1 agreement between kiln and it, from DIR/<name>.npy, the
[10000,10] logits `reduce_ref.py --full DIR` writes; how many images agree on top-1 but have a
logit off by more than 1e-4 (a near-tie in a discrete choice that went the other way), and the
largest difference on the remaining images; the MACs per image from `kiln info`. --check makes
the exit status 1 unless top-1 agrees on >= 99.5% and the images off by more than 1e-4 are
within the same 0.5% (the criterion of tests/tokens/agree.c, on all 10k images).

latency: each configuration compiled for batch 1 by the C backend and by the LLVM backend, all
loaded into this process; after --warmup calls each, --rounds rounds in which every library is
called once, the order rotating each round (so load changes hit every configuration alike).
Each call is timed by the thread's CPU time (what a loaded shared machine disturbs least) and by
wall time; medians are reported. Speed-up = exact's median / the configuration's, on the same
backend; ideal = MACs_exact / MACs; the target is speed-up >= 1 + 0.8 x (ideal - 1).

sweep: the same 10k accuracy through kiln (no reference needed) for a grid of each kind's
parameters (merge r uniform and per block, prune location x keep, pool location x kind, share
pairs); prints every point and, per kind, the largest MAC reduction within 1 point of exact.

Every command writes its table (markdown) to stdout and its rows to WORK/<command>.tsv.
"""
import argparse
import ctypes
import os
import shlex
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from data import load_split, normalize  # noqa: E402

MODEL = os.path.join(HERE, "model.onnx")
DYNBATCH = os.path.join(HERE, "model-dynbatch.onnx")
MANIFEST = os.path.join(HERE, "reduce_ref", "manifest.tsv")
MAX_LOGIT_DIFF = 1e-4
MIN_AGREEMENT = 0.995


def read_manifest(path=MANIFEST):
    rows = []
    with open(path) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            name, options = line.rstrip("\n").split("\t")[:2]
            rows.append((name, options))
    return rows


def sh(cmd):
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"`{shlex.join(cmd)}` exited with {res.returncode}:\n{res.stderr.strip()}")
    return res.stdout


def kiln_macs(args, options):
    """The MACs per image after the token passes, as `kiln info` prints them."""
    out = sh([args.kiln, "info", MODEL] + shlex.split(options))
    for line in out.splitlines():
        if "MACs per image (" in line:
            return int(line.rsplit(")", 1)[1].strip().replace(",", ""))
    raise RuntimeError(f"kiln info {options}: no 'MACs per image' line")


def compile_lib(args, name, options, batch, backend):
    """`kiln compile` to WORK/lib/<backend>-b<batch>-<name>.so (reused when newer than kiln)."""
    cname = "m_" + "".join(c if c.isalnum() else "_" for c in name)
    path = os.path.join(args.work, "lib", f"{backend}-b{batch}-{cname}.so")
    stamp = path + ".options"
    key = f"{options}\n{os.path.getmtime(args.kiln)}\n"
    if os.path.exists(path) and os.path.exists(stamp) and open(stamp).read() == key:
        return path, cname
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sh([args.kiln, "compile", DYNBATCH, "--shape", f"image={batch}x1x28x28", "--backend", backend,
        "--name", cname, "--quiet", "-o", path] + shlex.split(options))
    with open(stamp, "w") as f:
        f.write(key)
    return path, cname


class Lib:
    """A compiled model loaded through its C ABI: NAME_workspace_size, NAME_run."""

    def __init__(self, path, cname, batch):
        self.dll = ctypes.CDLL(os.path.abspath(path))
        self.run_fn = getattr(self.dll, cname + "_run")
        self.run_fn.restype = ctypes.c_int
        self.run_fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        size_fn = getattr(self.dll, cname + "_workspace_size")
        size_fn.restype = ctypes.c_size_t
        self.ws_buf = np.zeros(size_fn() + 64, dtype=np.uint8)
        self.ws = (self.ws_buf.ctypes.data + 63) // 64 * 64
        self.batch = batch
        self.x = np.zeros((batch, 1, 28, 28), dtype=np.float32)
        self.y = np.zeros((batch, 10), dtype=np.float32)
        self.ins = (ctypes.c_void_p * 1)(self.x.ctypes.data)
        self.outs = (ctypes.c_void_p * 1)(self.y.ctypes.data)

    def call(self):
        rc = self.run_fn(self.ins, self.outs, ctypes.c_void_p(self.ws))
        if rc != 0:
            raise RuntimeError(f"NAME_run returned {rc}")

    def logits(self, xs):
        out = np.zeros((len(xs), 10), dtype=np.float32)
        for lo in range(0, len(xs), self.batch):
            hi = min(lo + self.batch, len(xs))
            self.x[:] = 0
            self.x[:hi - lo] = xs[lo:hi]
            self.call()
            out[lo:hi] = self.y[:hi - lo]
        return out


def test_set(args):
    xs_u8, ys = load_split("t10k")
    xs = normalize(xs_u8)
    if args.limit:
        xs, ys = xs[:args.limit], ys[:args.limit]
    return xs, ys


class Interp:
    """`kiln run --backend interp` on model-dynbatch.onnx, CHUNK images per call: no compile, the
    same kernels (kiln's own build of the runtime) through the interpreter."""

    def __init__(self, args, name, options):
        self.args, self.options, self.name = args, options, name

    def logits(self, xs):
        a, b = self.args, self.args.chunk
        d = os.path.join(a.work, "interp", "".join(c if c.isalnum() else "_" for c in self.name))
        os.makedirs(d, exist_ok=True)
        out = np.zeros((len(xs), 10), dtype=np.float32)
        for lo in range(0, len(xs), b):
            hi = min(lo + b, len(xs))
            x = np.zeros((b, 1, 28, 28), dtype=np.float32)
            x[:hi - lo] = xs[lo:hi]
            np.save(os.path.join(d, "image.npy"), x)
            sh([a.kiln, "run", "--backend", "interp", DYNBATCH, "--shape", f"image={b}x1x28x28", "--threads", "1",
                "-i", os.path.join(d, "image.npy"), "-o", d] + shlex.split(self.options))
            out[lo:hi] = np.load(os.path.join(d, "logits.npy"))[:hi - lo]
        return out


def kiln_logits(args, name, options):
    if args.backend == "interp":
        return Interp(args, name, options)
    path, cname = compile_lib(args, name, options, args.chunk, args.backend)
    return Lib(path, cname, args.chunk)


def load_avg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def write_tsv(args, command, header, rows):
    path = os.path.join(args.work, f"{command}.tsv")
    with open(path, "w") as f:
        f.write("\t".join(header) + "\n")
        for r in rows:
            f.write("\t".join(str(v) for v in r) + "\n")
    print(f"\n(rows in {path})")


# ---------------------------------------------------------------- accuracy

def cmd_accuracy(args):
    xs, ys = test_set(args)
    configs = read_manifest()
    if args.only:
        configs = [c for c in configs if c[0] in args.only.split(",")]
    print(f"# {len(xs)} test images, kiln backend {args.backend}, batch {args.chunk}, 1 thread; "
          f"load average {load_avg()}", flush=True)
    macs0 = kiln_macs(args, "")
    rows, failed = [], 0
    for name, options in configs:
        t0 = time.time()
        saved = os.path.join(args.work, f"kiln-{name}.npy")
        if args.reuse and os.path.exists(saved):
            got = np.load(saved)[:len(xs)]       # the logits of an earlier run (--save-logits)
            t1 = t2 = time.time()
        else:
            lib = kiln_logits(args, name, options)
            t1 = time.time()
            got = lib.logits(xs)
            t2 = time.time()
        macs = kiln_macs(args, options)
        acc = float((got.argmax(1) == ys).mean())
        row = dict(name=name, options=options, acc=acc, macs=macs, compile_s=t1 - t0, run_s=t2 - t1)
        ref_path = os.path.join(args.reference, f"{name}.npy") if args.reference else ""
        if ref_path and os.path.exists(ref_path):
            want = np.load(ref_path)[:len(xs)]
            same = got.argmax(1) == want.argmax(1)
            diff = np.abs(got.astype(np.float64) - want.astype(np.float64)).max(1)
            diff[np.isnan(diff)] = np.inf
            off = same & ~(diff <= MAX_LOGIT_DIFF)
            ok = same.mean() >= MIN_AGREEMENT and (same & ~off).mean() >= MIN_AGREEMENT
            failed += not ok
            row.update(ref_acc=float((want.argmax(1) == ys).mean()), agree=int(same.sum()),
                       off=int(off.sum()), worst=float(diff[same & ~off].max(initial=0.0)),
                       flips=[int(i) for i in np.nonzero(~same)[0]], ok=ok)
        rows.append(row)
        print(f"{name:22s} kiln {acc * 100:6.2f}%  " +
              (f"reference {row['ref_acc'] * 100:6.2f}%  top-1 agree {row['agree']}/{len(xs)}  "
               f"off>1e-4 {row['off']}  max diff elsewhere {row['worst']:.1e}  "
               if "ref_acc" in row else "(no reference logits)  ") +
              f"MACs {macs:,}  (compile {t1 - t0:.0f} s, run {t2 - t1:.0f} s)", flush=True)
        if args.save_logits:
            np.save(os.path.join(args.work, f"kiln-{name}.npy"), got)
    n = len(xs)
    print(f"\nload average at the end {load_avg()}\n")
    print("| config | options | kiln accuracy | reference accuracy | top-1 agreement | top-1 agrees, "
          "a logit off > 1e-4 | max diff, other images | MACs | MACs vs exact |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ref = (f"{r['ref_acc'] * 100:.2f} % | {r['agree']}/{n} ({r['agree'] / n * 100:.2f} %) | {r['off']} | "
               f"{r['worst']:.1e}" if "ref_acc" in r else "- | - | - | -")
        print(f"| {r['name']} | `{r['options'] or '(none)'}` | {r['acc'] * 100:.2f} % | {ref} | "
              f"{r['macs']:,} | {r['macs'] / macs0 * 100:.1f} % |")
    for r in rows:
        if r.get("flips"):
            print(f"{r['name']}: top-1 differs on images {r['flips'][:40]}{' ...' if len(r['flips']) > 40 else ''}")
    write_tsv(args, "accuracy", ["name", "options", "kiln_acc", "ref_acc", "agree", "off_1e-4", "max_diff_other",
                                 "macs"],
              [(r["name"], r["options"], f"{r['acc']:.4f}", f"{r.get('ref_acc', float('nan')):.4f}",
                r.get("agree", ""), r.get("off", ""), f"{r.get('worst', float('nan')):.2e}", r["macs"])
               for r in rows])
    if args.check and failed:
        print(f"FAILED: {failed} configuration(s) below {MIN_AGREEMENT * 100:.1f}% agreement")
        return 1
    return 0


# ---------------------------------------------------------------- latency

def cmd_latency(args):
    configs = read_manifest()
    if args.only:                                 # manifest names, or the sweep grid's
        only = args.only.split(",")
        configs = [c for c in configs if c[0] in only]
        configs += [(n, o) for _, n, o in sweep_configs() if n in only and n not in dict(configs)]
    backends = args.backends.split(",")
    xs, _ = test_set(args)
    libs = []                                     # (backend, name, options, macs, Lib)
    for name, options in configs:
        macs = kiln_macs(args, options)
        for be in backends:
            path, cname = compile_lib(args, name, options, 1, be)
            lib = Lib(path, cname, 1)
            lib.x[:] = xs[0:1]
            libs.append((be, name, options, macs, lib))
    load0 = load_avg()
    for _, _, _, _, lib in libs:                  # warm-up
        for _ in range(args.warmup):
            lib.call()
    cpu = [[] for _ in libs]
    wall = [[] for _ in libs]
    for rnd in range(args.rounds):
        k0 = rnd % len(libs)
        for k in list(range(k0, len(libs))) + list(range(k0)):
            lib = libs[k][4]
            c0, w0 = time.thread_time_ns(), time.perf_counter_ns()
            lib.call()
            w1, c1 = time.perf_counter_ns(), time.thread_time_ns()
            cpu[k].append((c1 - c0) * 1e-6)
            wall[k].append((w1 - w0) * 1e-6)
    load1 = load_avg()
    med_cpu = [statistics.median(v) for v in cpu]
    med_wall = [statistics.median(v) for v in wall]
    exact = {be: k for k, (be, name, _, _, _) in enumerate(libs) if name == "exact"}
    print(f"# batch 1, 1 thread, {args.warmup} warm-up calls, then {args.rounds} interleaved rounds; "
          f"load average {load0} at the start, {load1} at the end")
    print("| backend | config | MACs | ideal speed-up | CPU ms (median) | wall ms (median) | speed-up (CPU) | "
          "speed-up (wall) | target 1+0.8(ideal-1) | met (CPU) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for k, (be, name, options, macs, _) in enumerate(libs):
        e = exact[be]
        ideal = libs[e][3] / macs
        sp_cpu, sp_wall = med_cpu[e] / med_cpu[k], med_wall[e] / med_wall[k]
        target = 1 + 0.8 * (ideal - 1)
        met = "-" if name == "exact" else ("yes" if sp_cpu >= target else "no")
        print(f"| {be} | {name} | {macs:,} | {ideal:.3f} | {med_cpu[k]:.3f} | {med_wall[k]:.3f} | {sp_cpu:.3f} | "
              f"{sp_wall:.3f} | {target:.3f} | {met} |")
        rows.append((be, name, options, macs, f"{ideal:.4f}", f"{med_cpu[k]:.4f}", f"{med_wall[k]:.4f}",
                     f"{sp_cpu:.4f}", f"{sp_wall:.4f}", f"{target:.4f}", met))
    write_tsv(args, "latency", ["backend", "name", "options", "macs", "ideal", "cpu_ms", "wall_ms", "speedup_cpu",
                                "speedup_wall", "target", "met"], rows)
    return 0


# ---------------------------------------------------------------- sweep

def sweep_configs():
    """Each kind's parameter grid (this model has 4 blocks of 197 tokens; r <= 98 per block)."""
    out = []
    for r in (16, 24, 32, 36, 40, 48, 56, 64):
        out.append(("merge", f"merge{r}", f"--token-merge {r}"))
    for sched in ("0=48,1=40,2=32,3=24", "0=64,1=32,2=16,3=8", "0=48,1=48,2=16,3=0", "0=32,1=48,2=48,3=48", "0=16,1=48,2=48,3=48"):
        out.append(("merge", "merge-" + sched.replace(",", "-").replace("=", "_"), f"--token-merge {sched}"))
    for loc, keep in ((3, "0.1"), (3, "0.3"), (3, "0.5"), (2, "0.9"), (2, "0.8"), (1, "0.9"), (0, "0.9"),
                      (0, "0.7")):
        out.append(("prune", f"prune{loc}-{keep}", f"--token-prune {loc}={keep}"))
    out.append(("prune", "prune3-0.1-fuse", "--token-prune 3=0.1,fuse"))
    # after the last block's attention only the class token reaches the head: pruning there
    # to one token cannot change the logits
    out.append(("prune", "prune3-0.005", "--token-prune 3=0.005"))
    out.append(("prune", "prune1-0.8", "--token-prune 1=0.8"))
    out.append(("prune", "prune1-0.9-3-0.005", "--token-prune 1=0.9,3=0.005"))
    out.append(("prune", "prune1-0.7", "--token-prune 1=0.7"))
    out.append(("prune", "prune1-0.8-3-0.005", "--token-prune 1=0.8,3=0.005"))
    out.append(("prune", "prune1-0.7-3-0.005", "--token-prune 1=0.7,3=0.005"))
    out.append(("prune", "prune1-0.6", "--token-prune 1=0.6"))
    out.append(("prune", "prune2-0.9-3-0.5", "--token-prune 2=0.9,3=0.5"))
    for loc in (0, 1, 2):
        for kind in ("avg", "max"):
            out.append(("pool", f"pool{loc}-{kind}", f"--token-pool {loc}={kind}"))
    for pairs in ("0:1", "0:2", "0:3", "1:2", "1:3", "2:3", "0:1,2:3"):
        out.append(("share", "share" + pairs.replace(",", "-").replace(":", "-"), f"--attention-share {pairs}"))
    return out


def cmd_sweep(args):
    xs, ys = test_set(args)
    grid = sweep_configs()
    if args.only:
        grid = [g for g in grid if g[0] in args.only.split(",") or g[1] in args.only.split(",")]
    print(f"# sweep: {len(grid)} configurations, {len(xs)} test images, kiln backend {args.backend}, "
          f"batch {args.chunk}; load average {load_avg()}", flush=True)
    macs0 = kiln_macs(args, "")
    saved = os.path.join(args.work, "kiln-exact.npy")
    if args.reuse and os.path.exists(saved):
        exact = np.load(saved)[:len(xs)]              # an earlier run's exact logits (--save-logits)
    else:
        exact = kiln_logits(args, "exact", "").logits(xs)
    acc0 = float((exact.argmax(1) == ys).mean())
    print(f"exact: {acc0 * 100:.2f} %, {macs0:,} MACs", flush=True)
    rows = []
    for kind, name, options in grid:
        t0 = time.time()
        got = kiln_logits(args, name, options).logits(xs)
        macs = kiln_macs(args, options)
        acc = float((got.argmax(1) == ys).mean())
        agree = float((got.argmax(1) == exact.argmax(1)).mean())
        rows.append((kind, name, options, acc, agree, macs))
        print(f"{kind:6s} {name:28s} {acc * 100:6.2f}%  ({(acc - acc0) * 100:+.2f})  agree {agree * 100:6.2f}%  "
              f"MACs {macs / macs0 * 100:5.1f}%  ({time.time() - t0:.0f} s)", flush=True)
    print(f"\nload average at the end {load_avg()}\n")
    print("| kind | config | options | accuracy | vs exact (points) | agreement with exact kiln | MACs | "
          "MACs vs exact |")
    print("|---|---|---|---|---|---|---|---|")
    for kind, name, options, acc, agree, macs in rows:
        print(f"| {kind} | {name} | `{options}` | {acc * 100:.2f} % | {(acc - acc0) * 100:+.2f} | "
              f"{agree * 100:.2f} % | {macs:,} | {macs / macs0 * 100:.1f} % |")
    print("\nLargest MAC reduction within 1 point of exact kiln "
          f"({acc0 * 100:.2f} %), per kind:\n")
    print("| kind | options | accuracy | vs exact (points) | MACs | MAC reduction |")
    print("|---|---|---|---|---|---|")
    for kind in dict.fromkeys(r[0] for r in rows):
        ok = [r for r in rows if r[0] == kind and acc0 - r[3] <= 0.01 + 1e-12]
        if not ok:
            print(f"| {kind} | (none of the grid within 1 point) | | | | |")
            continue
        kind_, name, options, acc, agree, macs = min(ok, key=lambda r: (r[5], -r[3]))
        print(f"| {kind} | `{options}` | {acc * 100:.2f} % | {(acc - acc0) * 100:+.2f} | {macs:,} | "
              f"{(1 - macs / macs0) * 100:.1f} % |")
    write_tsv(args, "sweep", ["kind", "name", "options", "acc", "agree_exact", "macs"],
              [(k, n, o, f"{a:.4f}", f"{g:.4f}", m) for k, n, o, a, g, m in rows])
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["accuracy", "latency", "sweep"])
    ap.add_argument("--kiln", default=os.path.join(HERE, "..", "..", "build", "kiln"))
    ap.add_argument("--work", default="/tmp/kiln-measure-tokens")
    ap.add_argument("--backend", default="c", choices=["c", "llvm", "interp"],
                    help="accuracy/sweep: the compiled libraries' backend, or interp (no compile)")
    ap.add_argument("--backends", default="c,llvm", help="latency: the backends compared")
    ap.add_argument("--chunk", type=int, default=250, help="accuracy/sweep: images per call")
    ap.add_argument("--limit", type=int, default=0, help="only the first N test images")
    ap.add_argument("--reference", help="accuracy: reduce_ref.py --full's directory of [10000,10] logits")
    ap.add_argument("--only", help="comma-separated config names (accuracy, latency) or kinds (sweep)")
    ap.add_argument("--check", action="store_true", help="accuracy: exit 1 below 99.5%% agreement")
    ap.add_argument("--save-logits", action="store_true", help="accuracy: keep WORK/kiln-<name>.npy")
    ap.add_argument("--reuse", action="store_true",
                    help="accuracy: compare WORK/kiln-<name>.npy of an earlier --save-logits run, do not run kiln; "
                         "sweep: take exact's logits from WORK/kiln-exact.npy")
    ap.add_argument("--rounds", type=int, default=40, help="latency: interleaved rounds (calls per library)")
    ap.add_argument("--warmup", type=int, default=5, help="latency: warm-up calls per library")
    args = ap.parse_args()
    args.kiln = os.path.abspath(args.kiln)
    os.makedirs(args.work, exist_ok=True)
    return {"accuracy": cmd_accuracy, "latency": cmd_latency, "sweep": cmd_sweep}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
