#!/usr/bin/python3
"""Accuracy of any variant of the Fashion-MNIST ViT on the 10,000 test images.

The images are read from the Debian package's files (/usr/share/datasets/fashion-mnist)
and normalised exactly as in training (data.py). Three ways to run the model:

  --kiln "CMD"   run a command per batch, e.g.
                 --kiln "build/kiln run --backend interp samples/fmnist-vit/model.onnx"
                 evaluate.py appends `-i BATCH.npy -o OUTDIR` (kiln run's documented
                 interface), then reads OUTDIR/<output>.npy: --output-name, or the only .npy
                 file the command wrote. A compiled executable (`kiln compile ... -o exe`)
                 takes the same options, so --kiln "./exe" works too.
  --torch        PyTorch on the training checkpoint (--ckpt, default /tmp/fmnist-vit.pt).
  --onnx-ref M   the ONNX model M evaluated in numpy by samples/zoo/onnx_ref.py (slow: use
                 model-dynbatch.onnx with --batch 500).

Batches: --batch B images per call (1 for model.onnx, whose batch is fixed at 1; any B for
model-dynbatch.onnx). A short last batch is padded with zero images, their outputs dropped.
--limit N evaluates the first N images only; --jobs J runs J commands at once.

Prints the accuracy; --save-logits FILE keeps all logits ([N,10] float32) for comparisons.
Exit status: 0 on success, 1 if the command failed or produced unreadable output.
"""
import argparse
import concurrent.futures
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from data import CLASSES, load_split, normalize  # noqa: E402


def sanitize(name):
    """kiln writes output NAME as NAME with every char outside [A-Za-z0-9._-] replaced by _."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def batches(n, size):
    return [(i, min(i + size, n)) for i in range(0, n, size)]


def padded(x, size):
    if len(x) == size:
        return x
    pad = np.zeros((size - len(x),) + x.shape[1:], dtype=x.dtype)
    return np.concatenate([x, pad], axis=0)


# ---------------------------------------------------------------- backends

def run_kiln(cmd, x, args):
    """x: float32 [N,1,28,28] -> logits [N,10], one process per batch."""
    base = shlex.split(cmd)
    work = tempfile.mkdtemp(prefix="fmnist-eval-", dir=args.workdir)
    spans = batches(len(x), args.batch)
    out = [None] * len(spans)

    def one(k):
        lo, hi = spans[k]
        d = os.path.join(work, f"b{k:05d}")
        os.makedirs(d)
        inp = os.path.join(d, "image.npy")
        np.save(inp, padded(x[lo:hi], args.batch))
        res = subprocess.run(base + ["-i", inp, "-o", d], capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"batch {k} (images {lo}..{hi - 1}): `{' '.join(base)} -i {inp} -o {d}` "
                               f"exited with {res.returncode}\n{res.stderr.strip()}")
        if args.output_name:
            path = os.path.join(d, sanitize(args.output_name) + ".npy")
        else:
            npys = [f for f in os.listdir(d) if f.endswith(".npy") and f != "image.npy"]
            if len(npys) != 1:
                raise RuntimeError(f"batch {k}: expected one output .npy in {d}, found {npys}; use --output-name")
            path = os.path.join(d, npys[0])
        y = np.load(path).reshape(args.batch, -1)[: hi - lo]
        if not args.keep:
            shutil.rmtree(d)
        return k, y

    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
            for done, (k, y) in enumerate(pool.map(one, range(len(spans)))):
                out[k] = y
                progress(done + 1, len(spans))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return np.concatenate(out, axis=0)


def run_torch(x, args):
    import torch
    import train
    torch.set_num_threads(args.threads)
    model, ck = train.load_checkpoint(args.ckpt)
    print(f"checkpoint {args.ckpt}: epoch {ck['epoch']}", file=sys.stderr)
    outs = []
    spans = batches(len(x), max(args.batch, 100))
    with torch.no_grad():
        for k, (lo, hi) in enumerate(spans):
            outs.append(model(torch.from_numpy(x[lo:hi])).numpy())
            progress(k + 1, len(spans))
    return np.concatenate(outs, axis=0)


def run_onnx_ref(model_path, x, args):
    import onnx
    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "zoo"))
    import onnx_ref
    model = onnx.load(model_path)
    name = model.graph.input[0].name
    outs = []
    spans = batches(len(x), args.batch)
    for k, (lo, hi) in enumerate(spans):
        y = onnx_ref.run(model, {name: padded(x[lo:hi], args.batch)})[0]
        outs.append(y.reshape(args.batch, -1)[: hi - lo])
        progress(k + 1, len(spans))
    return np.concatenate(outs, axis=0)


_last = [0.0]


def progress(done, total):
    now = time.time()
    if sys.stderr.isatty() and (now - _last[0] > 0.5 or done == total):
        _last[0] = now
        print(f"\r{done}/{total} batches", end="\n" if done == total else "", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--kiln", metavar="CMD", help="command to run per batch (-i FILE -o DIR appended)")
    mode.add_argument("--torch", action="store_true", help="PyTorch on the training checkpoint")
    mode.add_argument("--onnx-ref", metavar="MODEL", help="numpy evaluation of an ONNX model")
    ap.add_argument("--batch", type=int, default=1, help="images per call (default 1, the exported batch)")
    ap.add_argument("--limit", type=int, default=None, help="only the first N test images")
    ap.add_argument("--jobs", type=int, default=1, help="commands run at once (--kiln)")
    ap.add_argument("--output-name", help="ONNX output name to read (default: the only .npy written)")
    ap.add_argument("--ckpt", default="/tmp/fmnist-vit.pt", help="checkpoint for --torch")
    ap.add_argument("--threads", type=int, default=2, help="torch threads for --torch")
    ap.add_argument("--workdir", default=None, help="where batch files go (default: system temp)")
    ap.add_argument("--keep", action="store_true", help="keep the batch inputs and outputs")
    ap.add_argument("--save-logits", metavar="FILE", help="write all logits [N,10] as .npy")
    args = ap.parse_args()
    if args.batch < 1 or args.jobs < 1:
        ap.error("--batch and --jobs must be >= 1")

    x_u8, y = load_split("t10k")
    if args.limit is not None:
        x_u8, y = x_u8[: args.limit], y[: args.limit]
    x = normalize(x_u8)

    t0 = time.time()
    try:
        if args.kiln:
            logits = run_kiln(args.kiln, x, args)
        elif args.torch:
            logits = run_torch(x, args)
        else:
            logits = run_onnx_ref(args.onnx_ref, x, args)
    except (RuntimeError, OSError, ValueError) as e:
        print(f"evaluate.py: {e}", file=sys.stderr)
        return 1
    dt = time.time() - t0
    if logits.shape != (len(x), len(CLASSES)):
        print(f"evaluate.py: got logits of shape {logits.shape}, expected {(len(x), len(CLASSES))}", file=sys.stderr)
        return 1
    if args.save_logits:
        np.save(args.save_logits, logits.astype(np.float32))
    pred = logits.argmax(axis=1)
    correct = int((pred == y).sum())
    per_class = ", ".join(f"{c} {((pred == y) & (y == k)).sum() / max(1, (y == k).sum()) * 100:.1f}%"
                          for k, c in enumerate(CLASSES))
    print(f"per class: {per_class}")
    print(f"accuracy {correct / len(y) * 100:.2f}% ({correct}/{len(y)} test images) in {dt:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
