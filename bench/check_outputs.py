#!/usr/bin/python3
"""bench/check_outputs.py — does a run's output match the exported reference?

    /usr/bin/python3 bench/check_outputs.py MODEL_DIR OUT_DIR LABEL

MODEL_DIR is one samples/zoo/export_big.py wrote (output_<k>.npy, and its entry in
MODEL_DIR/../manifest.json: the output names and the measured atol / rtol); OUT_DIR is
where `EXE -i ... -o OUT_DIR` or `kiln run ... -o OUT_DIR` wrote OUTPUT_NAME.npy (names
sanitized as `kiln run` does). The rule is the e2e test's: |got - want| <= atol +
rtol * |want| for every element. Prints one line; exit 1 on a mismatch, so that
bench/models.sh never times an executable that computes something else.
"""
import json
import os
import re
import sys

import numpy as np


def entry_of(d):
    name = os.path.basename(os.path.normpath(d))
    with open(os.path.join(d, "..", "manifest.json")) as f:
        for e in json.load(f)["samples"]:
            if e["name"] == name:
                return e
    sys.exit(f"check_outputs.py: {d}: no entry '{name}' in {os.path.dirname(d)}/manifest.json")


def main(argv):
    if len(argv) != 4:
        sys.exit("usage: check_outputs.py MODEL_DIR OUT_DIR LABEL")
    d, out, label = argv[1:]
    e = entry_of(d)
    atol, rtol = e["atol"], e["rtol"]
    worst = []
    for k, o in enumerate(e["outputs"]):
        path = os.path.join(out, re.sub(r"[^A-Za-z0-9._-]", "_", o["name"]) + ".npy")
        if not os.path.exists(path):
            sys.exit(f"check_outputs.py: {label}: no output {path}")
        got, want = np.load(path), np.load(os.path.join(d, f"output_{k}.npy"))
        if got.shape != want.shape or got.dtype != want.dtype:
            sys.exit(f"check_outputs.py: {label}: {path} is {got.dtype}{list(got.shape)}, "
                     f"expected {want.dtype}{list(want.shape)}")
        err = np.abs(got.astype(np.float64) - want.astype(np.float64))
        bad = err > atol + rtol * np.abs(want.astype(np.float64))
        worst.append(f"{o['name']} max |err| {err.max():.2e}")
        if bad.any():
            i = int(np.argmax(bad.ravel()))
            sys.exit(f"check_outputs.py: {label}: {o['name']} element {i} is {got.ravel()[i]:.9g}, "
                     f"expected {want.ravel()[i]:.9g} ({int(bad.sum())} elements beyond atol {atol:g} "
                     f"+ rtol {rtol:g} * |expected|)")
    print(f"{label}: matches {os.path.basename(os.path.normpath(d))}/output_*.npy "
          f"(atol {atol:g}, rtol {rtol:g}): {', '.join(worst)}")


if __name__ == "__main__":
    main(sys.argv)
