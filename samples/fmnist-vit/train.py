#!/usr/bin/python3
"""Train a small DeiT-style ViT on Fashion-MNIST and export it to ONNX.

Run with /usr/bin/python3 (torch 1.13, onnx 1.12, numpy), from the repo root:

    nice -n 10 /usr/bin/python3 samples/fmnist-vit/train.py            # train, then export
    /usr/bin/python3 samples/fmnist-vit/train.py --export-only         # re-export from checkpoint

Data: the Debian package `dataset-fashion-mnist`
(/usr/share/datasets/fashion-mnist/*-ubyte.gz, IDX format).

Model (DeiT, Touvron et al. 2021, without the distillation token): 2x2 patches on a 28x28
image -> 196 patch tokens + 1 class token = 197 tokens, learned position embeddings,
pre-norm blocks x = x + MHSA(LN(x)); x = x + MLP(LN(x)), GELU (erf) MLP, final LayerNorm,
linear head on the class token. Attention is written with plain matmul/softmax so the ONNX
graph shows the MatMul -> Mul(scale) -> Softmax -> MatMul pattern with its head
split/merge Reshape/Transpose.

The checkpoint (not committed) is written to --ckpt after every epoch and training resumes
from it, so an interrupted run loses at most one epoch.
"""
import argparse
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from data import CLASSES, MEAN, STD, load_split, normalize  # noqa: E402  (numpy-only helpers beside this file)

CONFIG = dict(img=28, patch=2, dim=64, depth=4, heads=2, mlp_ratio=2, classes=10)


# ---------------------------------------------------------------- model

class Attention(nn.Module):
    """Multi-head self-attention, written out: softmax(Q K^T * scale) V."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):                                   # x: (B, N, C)
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.heads, C // self.heads)
        qkv = qkv.permute(2, 0, 3, 1, 4)                    # (3, B, H, N, d)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q @ k.transpose(-2, -1)) * self.scale       # (B, H, N, N)
        attn = attn.softmax(dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(B, N, C)   # (B, N, C)
        return self.proj(out)


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))                # erf GELU


class Block(nn.Module):
    """Pre-norm transformer block."""

    def __init__(self, dim, heads, mlp_ratio):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, dim * mlp_ratio)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        x = x + self.mlp(self.norm2(x))
        return x


class ViT(nn.Module):
    def __init__(self, img=28, patch=2, dim=64, depth=5, heads=4, mlp_ratio=2, classes=10):
        super().__init__()
        self.num_patches = (img // patch) ** 2
        self.patch_embed = nn.Conv2d(1, dim, kernel_size=patch, stride=patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, self.num_patches + 1, dim))
        self.blocks = nn.ModuleList([Block(dim, heads, mlp_ratio) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, classes)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.apply(self._init)

    @staticmethod
    def _init(m):
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, image):                               # image: (B, 1, 28, 28)
        x = self.patch_embed(image)                         # (B, C, 14, 14)
        x = x.flatten(2).transpose(1, 2)                    # (B, 196, C)
        cls = self.cls_token.expand(x.shape[0], -1, -1)     # (B, 1, C)
        x = torch.cat([cls, x], dim=1) + self.pos_embed     # (B, 197, C)
        for blk in self.blocks:
            x = blk(x)
        x = self.norm(x)
        return self.head(x[:, 0])                           # (B, 10)


def build_model():
    return ViT(**CONFIG)


def load_checkpoint(path):
    ck = torch.load(path, map_location="cpu")
    model = ViT(**ck["config"])
    model.load_state_dict(ck["model"])
    model.eval()
    return model, ck


# ---------------------------------------------------------------- training

def evaluate(model, x, y, batch=500):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            logits = model(torch.from_numpy(x[i:i + batch]))
            correct += int((logits.argmax(1).numpy() == y[i:i + batch]).sum())
    return correct / len(x)


def augment(xb, gen):
    """Random horizontal flip + random shift by up to 2 pixels (zero = background padding)."""
    B = xb.shape[0]
    flip = torch.rand(B, generator=gen) < 0.5
    xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
    bg = (0.0 - MEAN) / STD
    pad = F.pad(xb, (2, 2, 2, 2), value=bg)
    dx, dy = torch.randint(0, 5, (2,), generator=gen).tolist()
    return pad[:, :, dy:dy + 28, dx:dx + 28].contiguous()


def train(args):
    torch.manual_seed(0)
    np.random.seed(0)
    gen = torch.Generator().manual_seed(1)
    xtr_u8, ytr = load_split("train")
    xte_u8, yte = load_split("t10k")
    xtr, xte = normalize(xtr_u8), normalize(xte_u8)
    xtr_t, ytr_t = torch.from_numpy(xtr), torch.from_numpy(ytr)

    model = build_model()
    nparam = sum(p.numel() for p in model.parameters())
    print(f"config {CONFIG} params {nparam}", flush=True)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embed" not in n and "token" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embed" not in n and "token" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.wd},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr)
    steps_per_epoch = len(xtr) // args.batch
    total = steps_per_epoch * args.epochs
    warm = steps_per_epoch // 2

    def lr_at(step):
        if step < warm:
            return args.lr * (step + 1) / warm
        t = (step - warm) / max(1, total - warm)
        return args.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * t)))

    def save(epoch, it_next, perm, run_loss, run_n):
        """Checkpoint; it_next > 0 marks a mid-epoch save (epoch = completed epochs)."""
        tmp = args.ckpt + ".tmp"
        torch.save(dict(config=CONFIG, model=model.state_dict(), opt=opt.state_dict(), epoch=epoch,
                        it_next=it_next, perm=perm, run_loss=run_loss, run_n=run_n,
                        elapsed=elapsed, history=history, gen=gen.get_state(), rng=torch.get_rng_state(),
                        args=vars(args)), tmp)
        os.replace(tmp, args.ckpt)

    start_epoch, elapsed, history, resume = 0, 0.0, [], None
    if os.path.exists(args.ckpt):
        ck = torch.load(args.ckpt, map_location="cpu")
        if ck.get("config") == CONFIG and "opt" in ck:
            model.load_state_dict(ck["model"])
            opt.load_state_dict(ck["opt"])
            start_epoch, elapsed, history = ck["epoch"], ck["elapsed"], ck["history"]
            gen.set_state(ck["gen"])
            torch.set_rng_state(ck["rng"])
            if ck.get("it_next", 0) > 0:
                resume = (ck["it_next"], ck["perm"], ck["run_loss"], ck["run_n"])
            print(f"resumed from {args.ckpt} at epoch {start_epoch}"
                  + (f" iteration {resume[0]}" if resume else ""), flush=True)

    for epoch in range(start_epoch, args.epochs):
        model.train()
        t0 = t_epoch = time.time()                          # t0: start of the unsaved stretch
        if resume:
            it0, perm, run_loss, run_n = resume
            resume = None
        else:
            it0, perm, run_loss, run_n = 0, torch.randperm(len(xtr), generator=gen), 0.0, 0
        for it in range(it0, steps_per_epoch):
            step = epoch * steps_per_epoch + it
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            idx = perm[it * args.batch:(it + 1) * args.batch]
            xb, yb = xtr_t[idx], ytr_t[idx]
            if args.augment:
                xb = augment(xb, gen)
            loss = F.cross_entropy(model(xb), yb, label_smoothing=args.smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            run_loss += loss.item() * len(idx)
            run_n += len(idx)
            if it % 100 == 0:
                print(f"epoch {epoch + 1} it {it}/{steps_per_epoch} loss {run_loss / run_n:.4f} "
                      f"lr {lr_at(step):.2e} {time.time() - t_epoch:.0f}s", flush=True)
            if it % 50 == 49 and it + 1 < steps_per_epoch:
                now = time.time()
                elapsed += now - t0
                t0 = now
                save(epoch, it + 1, perm, run_loss, run_n)
        elapsed += time.time() - t0
        acc = evaluate(model, xte, yte)
        history.append(dict(epoch=epoch + 1, loss=run_loss / run_n, test_acc=acc, elapsed=elapsed))
        print(f"== epoch {epoch + 1}/{args.epochs} train loss {run_loss / run_n:.4f} "
              f"test acc {acc * 100:.2f}% train time {elapsed / 60:.1f} min", flush=True)
        save(epoch + 1, 0, None, 0.0, 0)
    return model


# ---------------------------------------------------------------- export

def export(args):
    import onnx

    model, ck = load_checkpoint(args.ckpt)
    xte_u8, yte = load_split("t10k")
    xte = normalize(xte_u8)
    acc = evaluate(model, xte, yte)
    print(f"checkpoint: epoch {ck['epoch']} train time {ck['elapsed'] / 60:.1f} min "
          f"test acc {acc * 100:.2f}% (10000 images)", flush=True)

    out = args.out
    imgs, labels = xte[:100].copy(), yte[:100].copy()
    with torch.no_grad():
        logits = model(torch.from_numpy(imgs)).numpy().astype(np.float32)
        one = model(torch.from_numpy(imgs[:1])).numpy().astype(np.float32)
        l64 = model.double()(torch.from_numpy(imgs).double()).numpy()
        model.float()
    print(f"float32 vs float64 logits on the 100 saved images: max abs diff {np.abs(logits - l64).max():.2e}")
    for h in ck["history"]:
        print(f"  epoch {h['epoch']}: train loss {h['loss']:.4f} test acc {h['test_acc'] * 100:.2f}% "
              f"after {h['elapsed'] / 60:.1f} min")
    np.save(os.path.join(out, "test_images.npy"), imgs)
    np.save(os.path.join(out, "test_labels.npy"), labels.astype(np.int64))
    np.save(os.path.join(out, "expected_logits.npy"), logits)
    np.save(os.path.join(out, "input_0.npy"), imgs[:1])
    np.save(os.path.join(out, "output_0.npy"), one)
    with open(os.path.join(out, "classes.txt"), "w") as f:
        f.write("\n".join(CLASSES) + "\n")

    for name, dyn in (("model.onnx", False), ("model-dynbatch.onnx", True)):
        path = os.path.join(out, name)
        kw = {}
        if dyn:
            kw["dynamic_axes"] = {"image": {0: "batch"}, "logits": {0: "batch"}}
        torch.onnx.export(model, torch.from_numpy(imgs[:1]), path, opset_version=17,
                          input_names=["image"], output_names=["logits"],
                          do_constant_folding=True, **kw)
        m = onnx.load(path)
        onnx.checker.check_model(m, full_check=True)
        onnx.shape_inference.infer_shapes(m, strict_mode=True)
        hist = {}
        for n in m.graph.node:
            hist[n.op_type] = hist.get(n.op_type, 0) + 1
        print(f"wrote {path} ({os.path.getsize(path)} bytes) ops {dict(sorted(hist.items()))}")
    print(f"first-100 accuracy {(logits.argmax(1) == labels).mean() * 100:.1f}%  "
          f"logits mean {logits.mean():.4f} std {logits.std():.4f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--wd", type=float, default=0.05)
    ap.add_argument("--smoothing", type=float, default=0.1)
    ap.add_argument("--augment", action="store_true", help="random flip + 2-pixel shift")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ckpt", default="/tmp/fmnist-vit.pt", help="checkpoint path (not committed)")
    ap.add_argument("--out", default=HERE, help="where to write model.onnx and the .npy files")
    ap.add_argument("--export-only", action="store_true")
    ap.add_argument("--bench", action="store_true", help="time a few training steps and exit")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.bench:
        model = build_model()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        x = torch.randn(args.batch, 1, 28, 28)
        y = torch.randint(0, 10, (args.batch,))
        for i in range(6):
            if i == 1:
                t0 = time.time()
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        dt = (time.time() - t0) / 5
        print(f"{dt:.3f} s/step, {dt * (60000 // args.batch) / 60:.1f} min/epoch")
        return
    if not args.export_only:
        train(args)
    export(args)


if __name__ == "__main__":
    sys.exit(main())
