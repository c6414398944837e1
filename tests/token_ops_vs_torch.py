#!/usr/bin/python3
"""kiln.TokenMerge and kiln.TokenPrune against the PyTorch reference itself.

    token_ops_vs_torch.py KILN

Runs samples/fmnist-vit/reduce_ref.py's merge() and prune() (the functions
its forward pass uses) on random f32 tensors, and the same inputs through
`kiln run` on a text-IR graph of the two ops; every output must agree
within 1e-5 and every size exactly. Cases: ToMe with r from 0 to the cap,
odd and even N, sizes given, keys as the packed qkv Linear output
(kiln.Attention's k_layout); EViT with and without fuse, keep ratios that
drop nothing, one and many tokens, and maps with exact ties. Each case
uses several images with different data.

Exits 77 (skip) when /usr/bin/python3 has no torch.
"""
import os
import subprocess
import sys
import tempfile
from fractions import Fraction

try:
    import numpy as np
    import torch
except ImportError:
    print("SKIP: this python has no torch")
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "samples", "fmnist-vit"))
import reduce_ref as R  # noqa: E402

TOL = 1e-5
failures = []


def run_kiln(kiln, kir, inputs, outdir):
    args = [kiln, "run", kir, "-o", outdir]
    for path in inputs:
        args += ["-i", path]
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"kiln run failed: {r.stderr.strip()}")


def check(name, got, want, exact=False):
    got, want = np.asarray(got), np.asarray(want, dtype=np.float32)
    if got.shape != want.shape:
        failures.append(name)
        print(f"FAIL {name}: shape {got.shape}, torch {want.shape}")
        return
    err = float(np.max(np.abs(got - want) / (1 + np.abs(want)))) if got.size else 0.0
    ok = err == 0 if exact else err <= TOL
    print(f"{'ok  ' if ok else 'FAIL'} {name}: max rel err {err:.2e}")
    if not ok:
        failures.append(name)


def merge_case(kiln, tmp, B, N, H, hd, D, r, seed, ties=False, zero_keys=()):
    g = torch.Generator().manual_seed(seed)
    C = H * hd
    x = torch.randn(B, N, D, generator=g)
    if ties:   # keys along three axes: scores exactly 0 or 1
        qkv = torch.zeros(B, N, 3 * C)
        axis = torch.randint(0, 3, (B, N), generator=g)
        for b in range(B):
            for n in range(N):
                for h in range(H):
                    qkv[b, n, C + h * hd + int(axis[b, n])] = 1.0
    else:
        qkv = torch.randn(B, N, 3 * C, generator=g)
    for n in zero_keys:   # a zero key row: its metric is NaN (no epsilon), which torch ranks first
        qkv[0, n, C:2 * C] = 0
    size = torch.randint(1, 5, (B, N, 1), generator=g).float()
    keys = qkv.reshape(B, N, 3, H, hd).permute(2, 0, 3, 1, 4)[1]      # [B, H, N, hd]
    want_x, want_s = R.merge(x.clone(), keys, size, r)
    kir = os.path.join(tmp, "merge.kir")
    with open(kir, "w") as f:
        f.write("kiln-ir 1\n"
                f"graph @merge (%x: f32[{B},{N},{D}], %qkv: f32[{B},{N},{3 * C}], %s: f32[{B},{N}]) -> (%y, %so) {{\n"
                f"  %y, %so = kiln.TokenMerge(%x, %qkv, %s) {{r = {r}, heads = {H}, head_dim = {hd}, "
                f"k_layout = [{C}, {N * 3 * C}, {hd}, {3 * C}]}}\n}}\n")
    paths = []
    for name, t in (("x", x), ("qkv", qkv), ("s", size[..., 0])):
        paths.append(os.path.join(tmp, name + ".npy"))
        np.save(paths[-1], t.numpy().astype(np.float32))
    out = os.path.join(tmp, "out")
    run_kiln(kiln, kir, paths, out)
    tag = f"merge B={B} N={N} H={H} hd={hd} r={r}{' ties' if ties else ''}{f' zero keys {zero_keys}' if zero_keys else ''}"
    check(tag + " y", np.load(os.path.join(out, "y.npy")), want_x.numpy())
    check(tag + " sizes", np.load(os.path.join(out, "so.npy")), want_s[..., 0].numpy(), exact=True)


def prune_case(kiln, tmp, B, N, H, D, keep, fuse, seed, ties=False):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, N, D, generator=g)
    if ties:   # class-row scores from {0.1, 0.2, 0.3}, equal in every head
        A = torch.softmax(torch.randn(B, H, N, N, generator=g), -1)
        row = torch.tensor([0.1, 0.2, 0.3])[torch.randint(0, 3, (B, 1, N), generator=g)]
        A[:, :, 0, :] = row
    else:
        A = torch.softmax(torch.randn(B, H, N, N, generator=g), -1)
    size = torch.randint(1, 5, (B, N, 1), generator=g).float()
    k = R.prune_count(keep, N - 1)
    want_x, want_s = R.prune(x.clone(), A, size, keep, fuse)
    kir = os.path.join(tmp, "prune.kir")
    with open(kir, "w") as f:
        f.write("kiln-ir 1\n"
                f"graph @prune (%x: f32[{B},{N},{D}], %p: f32[{B},{H},{N},{N}], %s: f32[{B},{N}]) -> (%y, %so) {{\n"
                f"  %y, %so = kiln.TokenPrune(%x, %p, %s) {{keep = {k}, fuse = {int(fuse)}}}\n}}\n")
    paths = []
    for name, t in (("x", x), ("p", A), ("s", size[..., 0])):
        paths.append(os.path.join(tmp, name + ".npy"))
        np.save(paths[-1], t.numpy().astype(np.float32))
    out = os.path.join(tmp, "out")
    run_kiln(kiln, kir, paths, out)
    tag = f"prune B={B} N={N} H={H} keep={keep} (k={k}) fuse={fuse}{' ties' if ties else ''}"
    check(tag + " y", np.load(os.path.join(out, "y.npy")), want_x.numpy())
    check(tag + " sizes", np.load(os.path.join(out, "so.npy")), want_s[..., 0].numpy(), exact=True)


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    kiln = os.path.abspath(sys.argv[1])
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="kiln-token-") as tmp:
        seed = 0
        for B, N, H, hd, D, r in ((3, 197, 2, 32, 64, 16), (3, 197, 2, 32, 64, 98), (2, 50, 3, 8, 16, 0),
                                  (2, 50, 3, 8, 16, 24), (4, 27, 1, 4, 8, 5), (2, 2, 2, 4, 8, 0)):
            merge_case(kiln, tmp, B, N, H, hd, D, r, seed := seed + 1)
        for r in (5, 40, 98):
            merge_case(kiln, tmp, 2, 197, 1, 3, 16, r, seed := seed + 1, ties=True)
        for zero in ((6,), (7,), (6, 7, 30)):   # an A token, a B token (column of NaN), both
            merge_case(kiln, tmp, 2, 41, 2, 8, 8, 5, seed := seed + 1, zero_keys=zero)
        for B, N, H, D, keep, fuse in ((3, 197, 2, 64, "0.7", False), (3, 197, 2, 64, "0.5", True),
                                       (2, 139, 2, 64, "0.7", True), (2, 17, 3, 8, "1", True),
                                       (2, 17, 3, 8, "0.001", True), (2, 2, 1, 8, "0.5", True),
                                       (3, 101, 2, 8, "0.07", True)):
            prune_case(kiln, tmp, B, N, H, D, Fraction(keep), fuse, seed := seed + 1)
        for fuse in (False, True):
            prune_case(kiln, tmp, 2, 197, 2, 16, Fraction("0.5"), fuse, seed := seed + 1, ties=True)
    print(f"\n{'FAILED: ' + str(len(failures)) if failures else 'all cases agree with reduce_ref.py'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
