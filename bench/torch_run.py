#!/usr/bin/python3
"""bench/torch_run.py — PyTorch eager beside the others in bench/models.js.

    OPENBLAS_NUM_THREADS=T OMP_NUM_THREADS=T /usr/bin/python3 bench/torch_run.py MODEL_DIR T

MODEL_DIR is one written by samples/zoo/export_big.py: the module is rebuilt by
`torch_model(NAME)` (NAME from torch_model.json), torch_state.pt loaded into it, and the
output on input_0.npy, input_1.npy, ... (the graph inputs in order: ConvBERT takes int64
token ids and an int64 mask) checked against output_0.npy (the ONNX export's reference)
before anything is timed, so the weights are the ones the other configurations run.

Then a line protocol on stdin/stdout, so that models.js can interleave it with the other
configurations of a round: for each line "run" it does one untimed forward pass (the other
processes of the round evict the weights; kiln's executables also time their second run)
and one timed one, and answers "ms <wall> <cpu>" (wall-clock and process CPU time of the
timed pass, in milliseconds). EOF ends it.

Threads: torch.set_num_threads(T) for the intra-op pool, and OPENBLAS_NUM_THREADS (read by
OpenBLAS when it loads, before this script runs) for the GEMMs: Debian's torch calls the
system libblas.so.3, which the libopenblas0-pthread alternative provides, and torch does
not pass its own thread count on to OpenBLAS. The script refuses to run if the environment
disagrees with T or the BLAS it finds is not OpenBLAS.
"""
import json
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "samples", "zoo"))
import export_big  # noqa: E402


def blas_library():
    """The BLAS shared object this process has mapped (torch links libblas.so.3)."""
    with open("/proc/self/maps") as f:
        libs = {line.split()[-1] for line in f if "blas" in line.lower() and "/" in line}
    return sorted(os.path.realpath(p) for p in libs)


def input_files(d):
    """MODEL_DIR/input_0.npy, input_1.npy, ... up to the first one missing."""
    files = []
    while os.path.exists(os.path.join(d, f"input_{len(files)}.npy")):
        files.append(os.path.join(d, f"input_{len(files)}.npy"))
    if not files:
        sys.exit(f"torch_run.py: {d}: no input_0.npy")
    return files


def main(argv):
    if len(argv) != 3:
        sys.exit("usage: OPENBLAS_NUM_THREADS=T OMP_NUM_THREADS=T torch_run.py MODEL_DIR T")
    d, threads = argv[1], int(argv[2])
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        if os.environ.get(var) != str(threads):
            sys.exit(f"torch_run.py: set {var}={threads} (OpenBLAS reads it when it loads)")
    blas = blas_library()
    if not any("openblas" in p for p in blas):
        sys.exit(f"torch_run.py: torch is not using OpenBLAS (mapped: {blas or 'no BLAS'}); "
                 "install libopenblas0-pthread")
    torch.set_num_threads(threads)
    with open(os.path.join(d, "torch_model.json")) as f:
        name = json.load(f)["name"]
    model = export_big.torch_model(name)
    model.load_state_dict(torch.load(os.path.join(d, "torch_state.pt")))
    xs = [torch.from_numpy(np.load(f)) for f in input_files(d)]
    want = np.load(os.path.join(d, "output_0.npy"))
    with torch.inference_mode():
        got = model(*xs).numpy()
        err = float(np.abs(got - want).max())
        if err > 1e-3:
            sys.exit(f"torch_run.py: {d}: output differs from output_0.npy by {err:.3g}: "
                     "torch_state.pt is not the exported model's")
        print(f"torch {torch.__version__}, {threads} thread(s), BLAS {' '.join(blas)}, "
              f"max |torch - output_0.npy| {err:.2e}", file=sys.stderr, flush=True)
        print("ready", flush=True)
        for line in sys.stdin:
            if line.strip() != "run":
                continue
            model(*xs)
            c0, t0 = time.process_time(), time.perf_counter()
            model(*xs)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            print(f"ms {wall * 1e3:.4f} {cpu * 1e3:.4f}", flush=True)


if __name__ == "__main__":
    main(sys.argv)
