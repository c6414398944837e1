#!/usr/bin/python3
"""Export the full-size models that are too big to commit (random weights, like the zoo).

    /usr/bin/python3 samples/zoo/export_big.py [OUTDIR] [NAME ...]     (OUTDIR default: build/big-models)

Writes OUTDIR/NAME/{model.onnx, input_0.npy, output_0.npy} and OUTDIR/manifest.{tsv,json}
in the zoo's format, so the end-to-end runner takes them with
`--manifest build/big-models/manifest.tsv`. Same checks as export.py (onnx.checker, strict
shape inference, numpy evaluation of the graph against PyTorch, float64 tolerance).

  deit-tiny   DeiT-Tiny/16 at 224x224: 196 patches + class token = 197 tokens, dim 192,
              3 heads, 12 blocks, 1000 classes (5.7M parameters, ~23 MB)
  deit-small  DeiT-Small/16: dim 384, 6 heads, 12 blocks (22M parameters, ~88 MB)
  swin-t      torchvision swin_t(weights=None), unchanged (28M parameters, ~113 MB)
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export as Z  # noqa: E402


def deit(dim, heads):
    def build():
        m = Z.ViT(img=224, patch=16, dim=dim, depth=12, heads=heads, mlp_ratio=4, classes=1000)
        Z.init_weights(m)
        return Z.Spec(m.eval(), (torch.randn(1, 3, 224, 224),), ["image"], ["logits"],
                      f"DeiT/16 at 224x224, 197 tokens, dim {dim}, {heads} heads, 12 blocks, random weights",
                      "Touvron et al. 2021 (DeiT)")
    return build


def swin_t():
    from torchvision.models import swin_t as tv_swin_t
    m = tv_swin_t(weights=None)
    Z.init_weights(m)
    return Z.Spec(m.eval(), (torch.randn(1, 3, 224, 224),), ["image"], ["logits"],
                  "torchvision swin_t(weights=None) at 224x224, random weights",
                  "Liu et al. 2021, Swin Transformer (torchvision implementation)")


BIG = [("deit-tiny", deit(192, 3)), ("deit-small", deit(384, 6)), ("swin-t", swin_t)]


def main(argv):
    out = os.path.abspath(argv[1] if len(argv) > 1 else os.path.join(Z.ROOT, "build", "big-models"))
    names = argv[2:] or [n for n, _ in BIG]
    known = dict(BIG)
    torch.set_num_threads(2)
    os.makedirs(out, exist_ok=True)
    entries = [Z.export_one(n, known[n], out_root=out) for n in names]
    mpath = os.path.join(out, "manifest.json")
    old = {}
    if os.path.exists(mpath):
        with open(mpath) as f:
            old = {e["name"]: e for e in json.load(f)["samples"]}
    old.update({e["name"]: e for e in entries})
    samples = [old[n] for n, _ in BIG if n in old]
    with open(mpath, "w") as f:
        json.dump({"generated_by": "samples/zoo/export_big.py", "samples": samples}, f, indent=1)
        f.write("\n")
    Z.write_tsv(os.path.join(out, "manifest.tsv"), samples)
    print(f"wrote {out}/manifest.tsv")


if __name__ == "__main__":
    main(sys.argv)
