#!/usr/bin/python3
"""Export the full-size models that are too big to commit (random weights, like the zoo).

    /usr/bin/python3 samples/zoo/export_big.py [OUTDIR] [NAME ...]     (OUTDIR default: build/big-models)

Writes OUTDIR/NAME/{model.onnx, input_0.npy, output_0.npy} and OUTDIR/manifest.{tsv,json}
in the zoo's format, so the end-to-end runner takes them with
`--manifest build/big-models/manifest.tsv`. Same checks as export.py (onnx.checker, strict
shape inference, numpy evaluation of the graph against PyTorch, float64 tolerance).

Beside them, what PyTorch eager needs to run the same model with the same weights (for
bench/torch_run.py): OUTDIR/NAME/torch_state.pt (the state dict) and torch_model.json
({"name": NAME}: `torch_model(NAME)` below rebuilds the architecture to load it into).

  deit-tiny   DeiT-Tiny/16 at 224x224: 196 patches + class token = 197 tokens, dim 192,
              3 heads, 12 blocks, 1000 classes (5.7M parameters, ~23 MB)
  deit-small  DeiT-Small/16: dim 384, 6 heads, 12 blocks (22M parameters, ~88 MB)
  swin-t      torchvision swin_t(weights=None), unchanged (28M parameters, ~113 MB)
  resnet18    torchvision resnet18(weights=None) at 224x224, BatchNorm calibrated as the zoo
              does (11.7M parameters, ~47 MB)
  mbv2-coordatt  MobileNetV2 1.0 at 224x224 (stem 32, the paper's 17 inverted residuals,
              1280 features, 1000 classes) built from the zoo sample's blocks (export.py
              InvertedResidualCA: coordinate attention after every depthwise conv, reduction 8)
              (5.2M parameters, ~21 MB)
  convbert    ConvBERT-small's shape (Jiang et al. 2020, HF YituTech/conv-bert-small):
              vocab 30522, embedding 128, hidden 256, 12 layers, 4 heads (2 self-attention +
              2 dynamic-conv), intermediate 1024, kernel 9; 128 int64 token ids (the last 16
              padding) + int64 mask (13.1M parameters, ~53 MB), from the zoo sample's modules
  vit-b16     torchvision vit_b_16(weights=None), unchanged: ViT-B/16 at 224x224, 197 tokens,
              dim 768, 12 heads, 12 blocks (86M parameters, ~346 MB)
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export as Z  # noqa: E402


def deit_arch(dim, heads):
    return lambda: Z.ViT(img=224, patch=16, dim=dim, depth=12, heads=heads, mlp_ratio=4, classes=1000)


def swin_t_arch():
    from torchvision.models import swin_t as tv_swin_t
    return tv_swin_t(weights=None)


def vit_b16_arch():
    from torchvision.models import vit_b_16 as tv_vit_b_16
    return tv_vit_b_16(weights=None)


# The architecture of each model with untrained weights: what torch_state.pt loads into.
ARCH = {"deit-tiny": deit_arch(192, 3), "deit-small": deit_arch(384, 6), "swin-t": swin_t_arch,
        "vit-b16": vit_b16_arch}


def torch_model(name):
    """The eval-mode PyTorch module NAME as exported, weights from OUTDIR/NAME/torch_state.pt
    still to be loaded (bench/torch_run.py does)."""
    return ARCH[name]().eval()


def deit(dim, heads):
    def build():
        m = deit_arch(dim, heads)()
        Z.init_weights(m)
        return Z.Spec(m.eval(), (torch.randn(1, 3, 224, 224),), ["image"], ["logits"],
                      f"DeiT/16 at 224x224, 197 tokens, dim {dim}, {heads} heads, 12 blocks, random weights",
                      "Touvron et al. 2021 (DeiT)")
    return build


def swin_t():
    m = swin_t_arch()
    Z.init_weights(m)
    return Z.Spec(m.eval(), (torch.randn(1, 3, 224, 224),), ["image"], ["logits"],
                  "torchvision swin_t(weights=None) at 224x224, random weights",
                  "Liu et al. 2021, Swin Transformer (torchvision implementation)")


def vit_b16():
    m = vit_b16_arch()
    Z.init_weights(m)
    return Z.Spec(m.eval(), (torch.randn(1, 3, 224, 224),), ["image"], ["logits"],
                  "torchvision vit_b_16(weights=None) at 224x224, random weights",
                  "Dosovitskiy et al. 2021, ViT-B/16 (torchvision implementation)")


BIG = [("deit-tiny", deit(192, 3)), ("deit-small", deit(384, 6)), ("swin-t", swin_t),
       ("vit-b16", vit_b16)]


# ---- issue 11's other full-size models: ResNet-18, MobileNetV2 + coordinate attention, ConvBERT

def resnet18_arch():
    from torchvision.models import resnet18 as tv_resnet18
    return tv_resnet18(weights=None)


# MobileNetV2 (Sandler et al. 2018, table 2): (t, c, n, s) per stage; stem 32, head 1280.
MBV2_CFG = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
            (6, 160, 3, 2), (6, 320, 1, 1)]


def mbv2ca_arch():
    return Z.MBV2CA(classes=1000, cfg=MBV2_CFG, stem=32, last=1280)


# ConvBERT-small (the smallest published ConvBERT, so a realistic latency target for one core):
# its hidden 256 / embedding 128 / 12 layers / 4 heads / intermediate 1024 / vocab 30522, at a
# sequence of 128 tokens (a common serving length; the position table keeps BERT's 512).
CONVBERT_SMALL = dict(vocab=30522, emb=128, hidden=256, heads=4, layers=12, inter=1024, max_pos=512)
CONVBERT_SEQ, CONVBERT_PAD = 128, 16


def convbert_arch():
    return Z.ConvBert(**CONVBERT_SMALL)


ARCH.update({"resnet18": resnet18_arch, "mbv2-coordatt": mbv2ca_arch, "convbert": convbert_arch})


def resnet18():
    m = resnet18_arch()
    Z.init_weights(m)
    Z.calibrate_bn(m, (torch.randn(8, 3, 224, 224),))
    return Z.Spec(m.eval(), (torch.randn(1, 3, 224, 224),), ["image"], ["logits"],
                  "torchvision resnet18(weights=None) at 224x224, random weights, calibrated BatchNorm",
                  "He et al. 2016, Deep Residual Learning (torchvision implementation)")


def mbv2_coordatt():
    m = mbv2ca_arch()
    Z.init_weights(m)
    Z.calibrate_bn(m, (torch.randn(8, 3, 224, 224),))
    return Z.Spec(m.eval(), (torch.randn(1, 3, 224, 224),), ["image"], ["logits"],
                  "MobileNetV2 1.0 at 224x224 (17 inverted residuals) with coordinate attention after every "
                  "depthwise conv, 1000 classes, random weights, calibrated BatchNorm",
                  "Hou et al. 2021, Coordinate Attention for Efficient Mobile Network Design")


def convbert():
    m = convbert_arch()
    Z.init_weights(m)
    n, pad = CONVBERT_SEQ, CONVBERT_PAD
    ids = torch.randint(1, CONVBERT_SMALL["vocab"], (1, n))
    mask = torch.ones(1, n, dtype=torch.int64)
    ids[0, n - pad:] = 0                                    # padding tokens at the end
    mask[0, n - pad:] = 0
    return Z.Spec(m.eval(), (ids, mask), ["input_ids", "attention_mask"], ["last_hidden_state"],
                  f"ConvBERT-small shape: 12 layers, hidden 256, {n} int64 token ids ({pad} padding) + int64 mask, "
                  "2 self-attention + 2 span-based dynamic conv heads per layer, random weights",
                  "Jiang et al. 2020, ConvBERT: Improving BERT with Span-based Dynamic Convolution")


BIG += [("resnet18", resnet18), ("mbv2-coordatt", mbv2_coordatt), ("convbert", convbert)]


def export_with_state(name, builder, out):
    """export_one, then the exported module's state dict and how to rebuild it."""
    built = []

    def keep():
        spec = builder()
        built.append(spec.model)
        return spec
    entry = Z.export_one(name, keep, out_root=out)
    d = os.path.join(out, name)
    tmp = os.path.join(d, "torch_state.pt.tmp")
    torch.save(built[0].state_dict(), tmp)
    os.replace(tmp, os.path.join(d, "torch_state.pt"))
    with open(os.path.join(d, "torch_model.json"), "w") as f:
        json.dump({"name": name, "built_by": "samples/zoo/export_big.py torch_model(name)"}, f)
        f.write("\n")
    return entry


def main(argv):
    out = os.path.abspath(argv[1] if len(argv) > 1 else os.path.join(Z.ROOT, "build", "big-models"))
    names = argv[2:] or [n for n, _ in BIG]
    known = dict(BIG)
    torch.set_num_threads(2)
    os.makedirs(out, exist_ok=True)
    entries = [export_with_state(n, known[n], out) for n in names]
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
