#!/usr/bin/python3
"""Export the kiln sample zoo: small but faithful attention models from the literature.

    /usr/bin/python3 samples/zoo/export.py              # all samples
    /usr/bin/python3 samples/zoo/export.py deepvit moat # only these (manifest is merged)
    /usr/bin/python3 samples/zoo/export.py --list

For each sample NAME this writes samples/zoo/NAME/{model.onnx, input_<k>.npy, output_<k>.npy}
(k = graph input / output order) and rewrites samples/zoo/manifest.{tsv,json} and the op
table in samples/zoo/README.md (between the `<!-- ops:begin -->` / `<!-- ops:end -->` marks).

Rules every sample follows:
- fixed seed per sample (crc32 of its name), so re-running gives the same files;
- weights are random but scaled so activations are non-trivial: Linear ~ N(0, 1/fan_in),
  LayerNorm affine perturbed around (1, 0), tokens / position embeddings ~ N(0, 0.3^2),
  BatchNorm running statistics measured on a random calibration batch and then perturbed
  (never the defaults 0/1), BatchNorm affine parameters random;
- eval mode, torch.onnx.export with do_constant_folding=True (as users do), which folds
  Conv+BatchNorm pairs; BatchNorm that does not follow a conv stays a BatchNormalization;
- every model is checked with onnx.checker (full_check) and onnx.shape_inference
  (strict); inferred output shapes must match PyTorch's;
- every exported graph is also run by onnx_ref.py (a small numpy evaluator, since there is
  no onnxruntime here) and must match PyTorch's outputs;
- tolerances are measured: the model is run again in float64, and the float32 reference's
  worst error against it and the numpy evaluation's worst error against PyTorch, times 10,
  give atol (floor 1e-4); rtol is 1e-3 unless 10x the measured relative error is larger;
- models with hard decisions (Heaviside spikes, TopK selection) record their decision
  margins during the reference run; the float64 run must take the same decisions.
"""
import argparse
import copy
import json
import math
import os
import sys
import zlib

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import onnx_ref  # noqa: E402  (numpy ONNX evaluator beside this file)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FMNIST_DIR = os.path.join(ROOT, "samples", "fmnist-vit")

SAMPLES = []          # (name, builder) in manifest order
_MARGINS = None       # list of (kind, margin) while a reference run records decision margins


def sample(name):
    def reg(fn):
        SAMPLES.append((name, fn))
        return fn
    return reg


class Spec:
    """What a builder returns: an eval-mode model and how to export it."""

    def __init__(self, model, inputs, input_names, output_names, desc, paper,
                 opset=17, dynamic_axes=None, seed_key=None):
        self.model = model
        self.inputs = inputs                  # tuple of tensors, graph input order
        self.input_names = input_names
        self.output_names = output_names
        self.desc = desc                      # one line: what the model exercises
        self.paper = paper
        self.opset = opset
        self.dynamic_axes = dynamic_axes


def record_margin(kind, value):
    if _MARGINS is not None:
        _MARGINS.append((kind, float(value)))


# ============================================================== weight initialisation

def init_weights(model):
    """Random weights with non-trivial activations (see the module docstring)."""
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 1.0 / math.sqrt(m.in_features))
            if m.bias is not None:
                nn.init.normal_(m.bias, 0.0, 0.1)
        elif isinstance(m, nn.LayerNorm) and m.elementwise_affine:
            nn.init.normal_(m.weight, 1.0, 0.1)
            nn.init.normal_(m.bias, 0.0, 0.1)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, 0.0, 1.0)
    for name, p in model.named_parameters():
        leaf = name.split(".")[-1]
        if "token" in leaf or "pos" in leaf or leaf in ("relative_position_bias_table",):
            with torch.no_grad():
                p.normal_(0.0, 0.3)


def calibrate_bn(model, batch, perturb=True):
    """Measure BatchNorm running statistics on a random batch, then perturb them.

    Running stats become the batch statistics (momentum=None: cumulative average) of each
    BatchNorm's real input, so activations stay normalised; then mean/var are jittered and
    the affine parameters randomised so that nothing is left at the defaults.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    with torch.no_grad():
        model(*batch)
    model.eval()
    if not perturb:
        return
    with torch.no_grad():
        for m in bns:
            std = (m.running_var + m.eps).sqrt()
            m.running_mean.add_(0.1 * std * torch.randn_like(std))
            m.running_var.mul_(torch.empty_like(std).uniform_(0.8, 1.25))
            if m.affine:
                m.weight.uniform_(0.7, 1.3)
                m.bias.normal_(0.0, 0.1)


# ============================================================== shared transformer parts

class MHSA(nn.Module):
    """Multi-head self-attention written out as the exporters see it in timm/DeiT:
    qkv Linear -> reshape (B,N,3,H,d) -> permute -> q @ k^T * scale -> softmax -> @ v ->
    transpose -> reshape (B,N,C) -> proj Linear."""

    def __init__(self, dim, heads, qkv_bias=True):
        super().__init__()
        self.heads = heads
        self.hd = dim // heads
        self.scale = self.hd ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, return_attn=False):                # x: (B, N, C)
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.heads, self.hd).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]                    # (B, H, N, d)
        a = (q @ k.transpose(-2, -1)) * self.scale          # (B, H, N, N)
        a = a.softmax(dim=-1)
        out = self.proj((a @ v).transpose(1, 2).reshape(B, N, C))
        return (out, a) if return_attn else out


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))                # erf GELU


class Block(nn.Module):
    """Pre-norm ViT block: x + MHSA(LN(x)), x + MLP(LN(x))."""

    def __init__(self, dim, heads, mlp_ratio=4, eps=1e-6):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = MHSA(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x, return_attn=False):
        h, a = self.attn(self.norm1(x), return_attn=True)
        x = x + h
        x = x + self.mlp(self.norm2(x))
        return (x, a) if return_attn else x


class PatchEmbed(nn.Module):
    """Conv with kernel = stride = patch, flattened to tokens (B, N, C)."""

    def __init__(self, in_ch, dim, patch):
        super().__init__()
        self.proj = nn.Conv2d(in_ch, dim, patch, patch)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


# ============================================================== ViT / DeiT

class ViT(nn.Module):
    """ViT (Dosovitskiy et al. 2021) as trained in DeiT (Touvron et al. 2021): conv patch
    embedding, class token, learned position embedding, pre-norm blocks, final LN, linear
    head on the class token."""

    def __init__(self, img=56, patch=4, in_ch=3, dim=64, depth=4, heads=2, mlp_ratio=4, classes=10):
        super().__init__()
        n = (img // patch) ** 2
        self.patch_embed = PatchEmbed(in_ch, dim, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, n + 1, dim))
        self.blocks = nn.ModuleList([Block(dim, heads, mlp_ratio) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, classes)

    def forward(self, image):                               # (B, 3, 56, 56)
        x = self.patch_embed(image)                         # (B, 196, C)
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1) + self.pos_embed     # (B, 197, C)
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.norm(x)[:, 0])                # (B, classes)


def build_vit():
    torch.manual_seed(zlib.crc32(b"vit"))                   # the three ViT samples share weights
    m = ViT()
    init_weights(m)
    return m.eval(), (torch.randn(1, 3, 56, 56),)


VIT_DESC = "ViT/DeiT, 56x56 image, 4x4 patches: 196 patch tokens + class token = 197, dim 64, 2 heads, 4 blocks"


@sample("vit-opset17")
def s_vit17():
    m, x = build_vit()
    return Spec(m, x, ["image"], ["logits"], VIT_DESC + "; LayerNormalization, erf-GELU, MHSA via MatMul/Softmax",
                "Dosovitskiy et al. 2021 (ViT); Touvron et al. 2021 (DeiT)", opset=17)


@sample("vit-opset13")
def s_vit13():
    m, x = build_vit()
    return Spec(m, x, ["image"], ["logits"],
                VIT_DESC + "; opset 13: LayerNorm decomposed into ReduceMean/Sub/Pow/Sqrt/Div",
                "Dosovitskiy et al. 2021 (ViT); Touvron et al. 2021 (DeiT)", opset=13)


@sample("vit-dynbatch")
def s_vitdyn():
    m, _ = build_vit()
    torch.manual_seed(zlib.crc32(b"vit-dynbatch"))
    x = (torch.randn(2, 3, 56, 56),)                         # batch 2: the batch is not baked in
    return Spec(m, x, ["image"], ["logits"],
                VIT_DESC + "; dynamic batch dimension 'batch' (sample input has batch 2): Shape/Gather/Concat feeding Reshape/Expand",
                "Dosovitskiy et al. 2021 (ViT); Touvron et al. 2021 (DeiT)", opset=17,
                dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})


# ============================================================== DeepViT

class ReAttention(nn.Module):
    """DeepViT (Zhou et al. 2021, "DeepViT: Towards Deeper Vision Transformer"), eq. 3:
    Re-Attention(Q,K,V) = Norm(Theta^T softmax(Q K^T / sqrt(d))) V. Theta is a learnable
    H x H matrix mixing the attention maps across heads (einsum over the head dim, as in the
    common PyTorch implementations); Norm is BatchNorm over the head channel, as in the
    paper's code (BatchNorm2d(num_heads) on the (B,H,N,N) maps)."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.hd = heads, dim // heads
        self.scale = self.hd ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.theta = nn.Parameter(torch.eye(heads) + 0.3 * torch.randn(heads, heads))
        self.norm = nn.BatchNorm2d(heads)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):                                   # (B, N, C)
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.heads, self.hd).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        a = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)   # (B, H, N, N)
        a = torch.einsum("bhij,hg->bgij", a, self.theta)    # mix heads: Theta^T
        a = self.norm(a)
        out = (a @ v).transpose(1, 2).reshape(B, N, C)
        return self.proj(out)


class DeepViTBlock(Block):
    def __init__(self, dim, heads, mlp_ratio):
        super().__init__(dim, heads, mlp_ratio)
        self.attn = ReAttention(dim, heads)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class DeepViT(ViT):
    def __init__(self, **kw):
        super().__init__(**kw)
        dim, heads = kw["dim"], kw["heads"]
        self.blocks = nn.ModuleList([DeepViTBlock(dim, heads, 4) for _ in range(kw["depth"])])


@sample("deepvit")
def s_deepvit():
    m = DeepViT(img=32, patch=4, dim=64, depth=4, heads=4)
    init_weights(m)
    calibrate_bn(m, (torch.randn(8, 3, 32, 32),))
    # The calibrated BatchNorm maps softmax rows (mean 1/N) to unit variance; the trained
    # DeepViT learns the affine part. Random affine around "undo the scale" keeps a@v in range.
    with torch.no_grad():
        for blk in m.blocks:
            bn = blk.attn.norm
            std = (bn.running_var + bn.eps).sqrt()
            bn.weight.copy_(std * torch.empty_like(std).uniform_(0.5, 1.5))
            bn.bias.copy_(bn.running_mean * torch.empty_like(std).uniform_(0.5, 1.5))
    return Spec(m, (torch.randn(1, 3, 32, 32),), ["image"], ["logits"],
                "DeepViT re-attention: 65 tokens, 4 heads; softmax maps mixed across heads by a learnable 4x4 "
                "matrix (Einsum), BatchNormalization over heads, then x V",
                "Zhou et al. 2021, DeepViT: Towards Deeper Vision Transformer")


# ============================================================== PSViT

class PSBlock(nn.Module):
    """PSViT block. share=False: a normal pre-norm block that also returns its attention
    probabilities. share=True: attention sharing (PSViT sec. 3.2): the block reuses the
    previous layer's attention map and computes only V (no Q/K projections)."""

    def __init__(self, dim, heads, mlp_ratio, share):
        super().__init__()
        self.share, self.heads, self.hd = share, heads, dim // heads
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        if share:
            self.v = nn.Linear(dim, dim)
        else:
            self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, dim * mlp_ratio)

    def forward(self, x, attn=None):                        # x: (B, N, C)
        B, N, C = x.shape
        h = self.norm1(x)
        if self.share:
            v = self.v(h).reshape(B, N, self.heads, self.hd).transpose(1, 2)   # (B, H, N, d)
            a = attn                                        # reused probabilities (B, H, N, N)
        else:
            qkv = self.qkv(h).reshape(B, N, 3, self.heads, self.hd).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            a = ((q @ k.transpose(-2, -1)) * self.hd ** -0.5).softmax(dim=-1)
        x = x + self.proj((a @ v).transpose(1, 2).reshape(B, N, C))
        x = x + self.mlp(self.norm2(x))
        return x, a


class TokenPool(nn.Module):
    """PSViT token pooling between stages (sec. 3.1): patch tokens are put back on their
    grid, pooled 2x2 (4x fewer tokens) and flattened; the class token bypasses the pooling;
    both are projected to the wider next stage."""

    def __init__(self, cin, cout, grid):
        super().__init__()
        self.grid = grid
        self.pool = nn.MaxPool2d(2, 2)
        self.proj = nn.Linear(cin, cout)

    def forward(self, x):                                   # (B, 1 + g*g, C)
        B, N, C = x.shape
        cls, t = x[:, :1], x[:, 1:]
        t = t.transpose(1, 2).reshape(B, C, self.grid, self.grid)
        t = self.pool(t).flatten(2).transpose(1, 2)         # (B, g*g/4, C)
        return self.proj(torch.cat([cls, t], dim=1))


class PSViT(nn.Module):
    def __init__(self, img=32, patch=2, dims=(48, 96), heads=(2, 4), mlp_ratio=4, classes=10):
        super().__init__()
        g = img // patch
        self.patch_embed = PatchEmbed(3, dims[0], patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dims[0]))
        self.pos_embed = nn.Parameter(torch.zeros(1, g * g + 1, dims[0]))
        self.stage1 = nn.ModuleList([PSBlock(dims[0], heads[0], mlp_ratio, s) for s in (False, True)])
        self.pool = TokenPool(dims[0], dims[1], g)
        self.stage2 = nn.ModuleList([PSBlock(dims[1], heads[1], mlp_ratio, s) for s in (False, True)])
        self.norm = nn.LayerNorm(dims[1], eps=1e-6)
        self.head = nn.Linear(dims[1], classes)

    def forward(self, image):
        x = self.patch_embed(image)                         # (B, 256, 48)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], 1) + self.pos_embed
        a = None
        for blk in self.stage1:                             # 257 tokens
            x, a = blk(x, a)
        x = self.pool(x)                                    # 65 tokens, width 96
        a = None
        for blk in self.stage2:
            x, a = blk(x, a)
        return self.head(self.norm(x)[:, 0])


@sample("psvit")
def s_psvit():
    m = PSViT()
    init_weights(m)
    return Spec(m.eval(), (torch.randn(1, 3, 32, 32),), ["image"], ["logits"],
                "PSViT: 257 tokens (16x16 grid + cls) -> 2x2 MaxPool token pooling -> 65 tokens; the 2nd block "
                "of each stage reuses the 1st block's attention probabilities and computes only V",
                "Chen et al. 2021, PSViT: Better Vision Transformer via Token Pooling and Attention Sharing")


# ============================================================== Evo-ViT

class EvoBlock(nn.Module):
    """Evo-ViT slow-fast token evolution (Xu et al. 2022, sec. 3):
    - the global class attention g (B,N) (class token's attention to the patch tokens,
      evolved layer to layer as g = alpha*g + (1-alpha)*current) ranks the patch tokens;
    - TopK keeps k informative tokens, which get the slow update: the full block (MSA+FFN);
    - the other (placeholder) tokens are summarised into one representative token (their
      attention-weighted mean) that goes through the block with them; each placeholder then
      gets the fast update: the representative token's residual, broadcast;
    - tokens are scattered back to their positions (ScatterElements), so the layout is kept.
    k is fixed (static shapes)."""

    def __init__(self, dim, heads, mlp_ratio, keep, alpha=0.5):
        super().__init__()
        self.keep, self.alpha = keep, alpha
        self.block = Block(dim, heads, mlp_ratio)

    def forward(self, x, g):                                # x: (B, 1+N, C), g: (B, N)
        B, N1, C = x.shape
        N = N1 - 1
        cls, patches = x[:, :1], x[:, 1:]
        vals, order = torch.topk(g, N, dim=1)               # full ranking, descending
        record_margin("topk-gap", (vals[:, self.keep - 1] - vals[:, self.keep]).min())
        top_idx, rest_idx = order[:, :self.keep], order[:, self.keep:]
        top = torch.gather(patches, 1, top_idx.unsqueeze(-1).expand(-1, -1, C))     # (B, k, C)
        rest = torch.gather(patches, 1, rest_idx.unsqueeze(-1).expand(-1, -1, C))   # (B, N-k, C)
        w = torch.gather(g, 1, rest_idx)
        w = w / w.sum(dim=1, keepdim=True)                  # (B, N-k)
        rep = (rest * w.unsqueeze(-1)).sum(dim=1, keepdim=True)                     # (B, 1, C)
        y, a = self.block(torch.cat([cls, top, rep], dim=1), return_attn=True)      # slow update
        rest = rest + (y[:, -1:] - rep)                     # fast update of the placeholders
        new = torch.cat([y[:, 1:-1], rest], dim=1)          # (B, N, C) in ranked order
        patches = torch.zeros_like(patches).scatter(1, order.unsqueeze(-1).expand(-1, -1, C), new)
        ca = a[:, :, 0, 1:].mean(dim=1)                     # (B, k+1) cls attention, head mean
        cur = torch.cat([ca[:, :-1], ca[:, -1:] * w], dim=1)  # placeholders share the rep's
        g = self.alpha * g + (1 - self.alpha) * torch.zeros_like(g).scatter(1, order, cur)
        return torch.cat([y[:, :1], patches], dim=1), g


class EvoViT(ViT):
    def __init__(self, keep=98, **kw):
        super().__init__(**kw)
        dim, heads = kw["dim"], kw["heads"]
        self.blocks = nn.ModuleList([Block(dim, heads, 4)] +
                                    [EvoBlock(dim, heads, 4, keep) for _ in range(kw["depth"] - 1)])

    def forward(self, image):
        x = self.patch_embed(image)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], 1) + self.pos_embed
        x, a = self.blocks[0](x, return_attn=True)          # first layer: dense, gives g
        g = a[:, :, 0, 1:].mean(dim=1)                      # (B, 196)
        for blk in self.blocks[1:]:
            x, g = blk(x, g)
        return self.head(self.norm(x)[:, 0])


@sample("evovit")
def s_evovit():
    m = EvoViT(img=56, patch=4, dim=64, depth=4, heads=2, keep=98)
    init_weights(m)
    return Spec(m.eval(), (torch.randn(1, 3, 56, 56),), ["image"], ["logits"],
                "Evo-ViT: 197 tokens; class-attention TopK (k=196 ranking, 98 kept) selects tokens for the full "
                "block, the rest summarised into one token and fast-updated; GatherElements/ScatterElements",
                "Xu et al. 2022, Evo-ViT: Slow-Fast Token Evolution for Dynamic Vision Transformer")


# ============================================================== MobileNetV2 + coordinate attention

def conv_bn(cin, cout, k, s, groups=1, act=nn.ReLU6):
    pad = tuple(kk // 2 for kk in k) if isinstance(k, tuple) else k // 2
    layers = [nn.Conv2d(cin, cout, k, s, pad, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


class HSwish(nn.Module):
    """h_swish as written in the coordinate attention code: x * ReLU6(x + 3) / 6."""

    def forward(self, x):
        return x * F.relu6(x + 3) / 6


class CoordAtt(nn.Module):
    """Coordinate attention (Hou et al. 2021, fig. 2c): average-pool along W (giving H x 1)
    and along H (1 x W), concatenate along the spatial axis, shared 1x1 conv + BN + h_swish,
    split, one 1x1 conv + sigmoid per direction, output = x * a_h * a_w."""

    def __init__(self, ch, reduction=8):
        super().__init__()
        mip = max(8, ch // reduction)
        self.conv1 = nn.Conv2d(ch, mip, 1)
        self.bn1 = nn.BatchNorm2d(mip)
        self.act = HSwish()
        self.conv_h = nn.Conv2d(mip, ch, 1)
        self.conv_w = nn.Conv2d(mip, ch, 1)

    def forward(self, x):                                   # (B, C, H, W)
        B, C, H, W = x.shape
        x_h = x.mean(dim=3, keepdim=True)                   # (B, C, H, 1)
        x_w = x.mean(dim=2, keepdim=True).permute(0, 1, 3, 2)   # (B, C, W, 1)
        y = self.act(self.bn1(self.conv1(torch.cat([x_h, x_w], dim=2))))   # (B, mip, H+W, 1)
        y_h, y_w = torch.split(y, [H, W], dim=2)
        a_h = self.conv_h(y_h).sigmoid()                    # (B, C, H, 1)
        a_w = self.conv_w(y_w.permute(0, 1, 3, 2)).sigmoid()    # (B, C, 1, W)
        return x * a_w * a_h


class InvertedResidualCA(nn.Module):
    """MobileNetV2 inverted residual with CA after the depthwise conv (as in the CA code)."""

    def __init__(self, cin, cout, stride, t):
        super().__init__()
        hid = cin * t
        self.use_res = stride == 1 and cin == cout
        layers = [conv_bn(cin, hid, 1, 1)] if t != 1 else []
        layers += [conv_bn(hid, hid, 3, stride, groups=hid), CoordAtt(hid),
                   conv_bn(hid, cout, 1, 1, act=None)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res else self.conv(x)


class MBV2CA(nn.Module):
    # (t, c, n, s) as in MobileNetV2, shortened and narrowed for a 64x64 input
    CFG = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 2, 2), (6, 64, 2, 2), (6, 96, 1, 1)]

    def __init__(self, classes=10, cfg=None, stem=16, last=320):
        """cfg / stem / last: the full-size network of export_big.py passes MobileNetV2's."""
        super().__init__()
        layers, c = [conv_bn(3, stem, 3, 2)], stem
        for t, cout, n, s in cfg or self.CFG:
            for i in range(n):
                layers.append(InvertedResidualCA(c, cout, s if i == 0 else 1, t))
                c = cout
        layers.append(conv_bn(c, last, 1, 1))
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(last, classes)

    def forward(self, x):
        return self.fc(self.features(x).mean(dim=(2, 3)))


@sample("mbv2-coordatt")
def s_mbv2ca():
    m = MBV2CA()
    init_weights(m)
    calibrate_bn(m, (torch.randn(8, 3, 64, 64),))
    return Spec(m, (torch.randn(1, 3, 64, 64),), ["image"], ["logits"],
                "MobileNetV2 (8 inverted residuals, depthwise convs, ReLU6) with coordinate attention: "
                "directional ReduceMean, Concat, 1x1 conv, Split, two sigmoid gates",
                "Hou et al. 2021, Coordinate Attention for Efficient Mobile Network Design")


# ============================================================== ResNet + triplet attention

class ZPool(nn.Module):
    def forward(self, x):                                   # cat(max, mean) over dim 1
        return torch.cat([x.max(dim=1, keepdim=True)[0], x.mean(dim=1, keepdim=True)], dim=1)


class AttentionGate(nn.Module):
    def __init__(self):
        super().__init__()
        self.zpool = ZPool()
        self.conv = conv_bn(2, 1, 7, 1, act=None)

    def forward(self, x):
        return x * self.conv(self.zpool(x)).sigmoid()


class TripletAttention(nn.Module):
    """Triplet attention (Misra et al. 2021, fig. 3): three branches capture (C,W), (C,H)
    and (H,W) interactions by permuting the tensor so that a different axis is the
    'channel' one, Z-pooling it (max + mean), 7x7 conv + BN, sigmoid, multiplying, and
    permuting back; the three results are averaged."""

    def __init__(self):
        super().__init__()
        self.cw, self.hc, self.hw = AttentionGate(), AttentionGate(), AttentionGate()

    def forward(self, x):                                   # (B, C, H, W)
        o1 = self.cw(x.permute(0, 2, 1, 3)).permute(0, 2, 1, 3)    # H as channels
        o2 = self.hc(x.permute(0, 3, 2, 1)).permute(0, 3, 2, 1)    # W as channels
        o3 = self.hw(x)
        return (o1 + o2 + o3) * (1 / 3)


class BasicBlockTA(nn.Module):
    """ResNet basic block with triplet attention before the residual add (as in the paper)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = conv_bn(cin, cout, 3, stride, act=nn.ReLU)
        self.conv2 = conv_bn(cout, cout, 3, 1, act=None)
        self.ta = TripletAttention()
        self.down = conv_bn(cin, cout, 1, stride, act=None) if stride != 1 or cin != cout else None

    def forward(self, x):
        idn = x if self.down is None else self.down(x)
        return F.relu(self.ta(self.conv2(self.conv1(x))) + idn)


class ResNetTA(nn.Module):
    def __init__(self, widths=(16, 32, 64), classes=10):
        super().__init__()
        self.stem = conv_bn(3, widths[0], 3, 1, act=nn.ReLU)
        blocks, c = [], widths[0]
        for i, w in enumerate(widths):
            blocks += [BasicBlockTA(c, w, 1 if i == 0 else 2), BasicBlockTA(w, w, 1)]
            c = w
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(c, classes)

    def forward(self, x):
        return self.fc(self.blocks(self.stem(x)).mean(dim=(2, 3)))


@sample("resnet-triplet")
def s_resnet_triplet():
    m = ResNetTA()
    init_weights(m)
    calibrate_bn(m, (torch.randn(8, 3, 32, 32),))
    return Spec(m, (torch.randn(1, 3, 32, 32),), ["image"], ["logits"],
                "ResNet-14 (6 basic blocks, 32x32) with triplet attention: Transpose to 3 views, ReduceMax+ReduceMean "
                "Z-pool, 7x7 conv, sigmoid gate, Transpose back, average",
                "Misra et al. 2021, Rotate to Attend: Convolutional Triplet Attention Module")


# ============================================================== strip pooling

class StripPooling(nn.Module):
    """Strip pooling module (Hou et al. 2020, SPNet, fig. 2): average pooling over 1 x W
    strips (giving H x 1) and H x 1 strips (giving 1 x W), a 3x1 / 1x3 conv + BN on each,
    both expanded back to H x W and added, ReLU, 1x1 conv, sigmoid, times the input."""

    def __init__(self, ch, h, w):
        super().__init__()
        self.pool_h = nn.AdaptiveAvgPool2d((h, 1))
        self.pool_w = nn.AdaptiveAvgPool2d((1, w))
        self.conv_h = conv_bn(ch, ch, (3, 1), 1, act=None)
        self.conv_w = conv_bn(ch, ch, (1, 3), 1, act=None)
        self.fuse = nn.Conv2d(ch, ch, 1)

    def forward(self, x):                                   # (B, C, H, W)
        B, C, H, W = x.shape
        a = self.conv_h(self.pool_h(x)).expand(-1, -1, H, W)    # (B, C, H, 1) -> (B, C, H, W)
        b = self.conv_w(self.pool_w(x)).expand(-1, -1, H, W)    # (B, C, 1, W) -> (B, C, H, W)
        return x * self.fuse(F.relu(a + b)).sigmoid()


class SPNet(nn.Module):
    """A small CNN backbone with an SPM after each residual stage (as SPNet inserts them)."""

    def __init__(self, classes=10):
        super().__init__()
        self.stem = conv_bn(3, 16, 3, 2, act=nn.ReLU)                 # 32x32
        self.s1 = nn.Sequential(conv_bn(16, 32, 3, 1, act=nn.ReLU), conv_bn(32, 32, 3, 1, act=nn.ReLU))
        self.sp1 = StripPooling(32, 32, 32)
        self.s2 = nn.Sequential(conv_bn(32, 64, 3, 2, act=nn.ReLU), conv_bn(64, 64, 3, 1, act=nn.ReLU))
        self.sp2 = StripPooling(64, 16, 16)
        self.s3 = nn.Sequential(conv_bn(64, 96, 3, 2, act=nn.ReLU), conv_bn(96, 96, 3, 1, act=nn.ReLU))
        self.sp3 = StripPooling(96, 8, 8)
        self.fc = nn.Linear(96, classes)

    def forward(self, x):
        x = self.stem(x)
        x = self.sp1(self.s1(x))
        x = self.sp2(self.s2(x))
        x = self.sp3(self.s3(x))
        return self.fc(x.mean(dim=(2, 3)))


@sample("strip-pooling")
def s_strip():
    m = SPNet()
    init_weights(m)
    calibrate_bn(m, (torch.randn(8, 3, 64, 64),))
    return Spec(m, (torch.randn(1, 3, 64, 64),), ["image"], ["logits"],
                "CNN with 3 strip pooling modules: AveragePool with 1xW and Hx1 kernels, 3x1 and 1x3 convs, "
                "Expand + Add, 1x1 conv, sigmoid gate",
                "Hou et al. 2020, Strip Pooling: Rethinking Spatial Pooling for Scene Parsing")


# ============================================================== ULSAM

class SubSpace(nn.Module):
    """One ULSAM subspace (Saini et al. 2020, eq. 1-3, and the authors' code): depthwise
    1x1 conv + BN + ReLU, 3x3 max pool (stride 1), pointwise conv to ONE map + BN + ReLU,
    softmax over the H*W positions -> attention map; out = map * x + x."""

    def __init__(self, ch):
        super().__init__()
        self.dws = conv_bn(ch, ch, 1, 1, groups=ch, act=nn.ReLU)
        self.pool = nn.MaxPool2d(3, 1, 1)
        self.point = conv_bn(ch, 1, 1, 1, act=nn.ReLU)

    def forward(self, x):                                   # (B, c, H, W)
        B, c, H, W = x.shape
        a = self.point(self.pool(self.dws(x)))              # (B, 1, H, W)
        a = a.reshape(B, 1, H * W).softmax(dim=2).reshape(B, 1, H, W)
        return a.expand(B, c, H, W) * x + x


class ULSAM(nn.Module):
    """Split channels into g subspaces, attend each independently, concatenate."""

    def __init__(self, ch, groups):
        super().__init__()
        self.groups = groups
        self.subspaces = nn.ModuleList([SubSpace(ch // groups) for _ in range(groups)])

    def forward(self, x):
        parts = torch.chunk(x, self.groups, dim=1)
        return torch.cat([s(p) for s, p in zip(self.subspaces, parts)], dim=1)


def dw_sep(cin, cout, stride):
    return nn.Sequential(conv_bn(cin, cin, 3, stride, groups=cin, act=nn.ReLU),
                         conv_bn(cin, cout, 1, 1, act=nn.ReLU))


class ULSAMNet(nn.Module):
    """Compact MobileNet-V1-style CNN with ULSAM after the middle depthwise-separable layers
    (the paper inserts ULSAM into MobileNet-V1/V2 the same way)."""

    def __init__(self, classes=10):
        super().__init__()
        self.features = nn.Sequential(
            conv_bn(3, 16, 3, 2, act=nn.ReLU),              # 32x32
            dw_sep(16, 32, 1), dw_sep(32, 64, 2),           # 16x16
            ULSAM(64, 4),
            dw_sep(64, 64, 1), dw_sep(64, 128, 2),          # 8x8
            ULSAM(128, 4),
            dw_sep(128, 128, 1), ULSAM(128, 8))
        self.fc = nn.Linear(128, classes)

    def forward(self, x):
        return self.fc(self.features(x).mean(dim=(2, 3)))


@sample("ulsam")
def s_ulsam():
    m = ULSAMNet()
    init_weights(m)
    calibrate_bn(m, (torch.randn(8, 3, 64, 64),))
    return Spec(m, (torch.randn(1, 3, 64, 64),), ["image"], ["logits"],
                "MobileNet-V1-style CNN with 3 ULSAM modules (4, 4, 8 subspaces): Split, depthwise 1x1 conv, "
                "MaxPool 3x3/1, pointwise conv to 1 map, Softmax over H*W, Mul + Add, Concat",
                "Saini et al. 2020, ULSAM: Ultra-Lightweight Subspace Attention Module for Compact CNNs")


# ============================================================== MOAT

class SE(nn.Module):
    def __init__(self, ch, rd):
        super().__init__()
        self.fc1, self.fc2 = nn.Conv2d(ch, rd, 1), nn.Conv2d(rd, ch, 1)

    def forward(self, x):
        return x * self.fc2(F.silu(self.fc1(x.mean(dim=(2, 3), keepdim=True)))).sigmoid()


class MBConv(nn.Module):
    """MBConv as used in MOAT (pre-norm): BN -> 1x1 expand (x4) -> BN -> GELU -> 3x3
    depthwise (stride s) -> BN -> GELU -> [SE] -> 1x1 project; residual, with 2x2 avg pool
    + 1x1 conv on the shortcut when downsampling."""

    def __init__(self, cin, cout, stride, expand=4, se=False):
        super().__init__()
        hid = cin * expand
        self.pre = nn.BatchNorm2d(cin)
        self.expand = conv_bn(cin, hid, 1, 1, act=nn.GELU)
        self.dw = conv_bn(hid, hid, 3, stride, groups=hid, act=nn.GELU)
        self.se = SE(hid, max(8, cin // 4)) if se else nn.Identity()
        self.project = nn.Conv2d(hid, cout, 1)
        short = []
        if stride != 1:
            short.append(nn.AvgPool2d(2, 2))
        if cin != cout:
            short.append(nn.Conv2d(cin, cout, 1))
        self.short = nn.Sequential(*short)

    def forward(self, x):
        return self.short(x) + self.project(self.se(self.dw(self.expand(self.pre(x)))))


class MOATBlock(nn.Module):
    """MOAT block (Yang et al. 2022, fig. 2): the transformer block's MLP is replaced by an
    MBConv (without SE) that is moved BEFORE the self-attention; the MBConv's depthwise conv
    does the downsampling. x = MBConv(x); x = x + MHSA(LN(x)) over the flattened grid.
    (MOAT's relative position bias is left out.)"""

    def __init__(self, cin, cout, stride, heads):
        super().__init__()
        self.mbconv = MBConv(cin, cout, stride, se=False)
        self.norm = nn.LayerNorm(cout, eps=1e-5)
        self.attn = MHSA(cout, heads)

    def forward(self, x):
        x = self.mbconv(x)                                  # (B, C, H, W)
        B, C, H, W = x.shape
        t = x.flatten(2).transpose(1, 2)                    # (B, HW, C)
        t = t + self.attn(self.norm(t))
        return t.transpose(1, 2).reshape(B, C, H, W)


class MOAT(nn.Module):
    """MOAT-0 layout, shrunk: conv stem, MBConv (with SE) stages, then MOAT stages."""

    def __init__(self, classes=10):
        super().__init__()
        self.stem = nn.Sequential(conv_bn(3, 24, 3, 2, act=nn.GELU), nn.Conv2d(24, 24, 3, 1, 1))  # 32x32
        self.mb = nn.Sequential(MBConv(24, 32, 2, se=True), MBConv(32, 32, 1, se=True))            # 16x16
        self.moat = nn.Sequential(MOATBlock(32, 64, 2, 2), MOATBlock(64, 64, 1, 2),               # 8x8, 64 tokens
                                  MOATBlock(64, 96, 2, 3))                                         # 4x4
        self.norm = nn.LayerNorm(96)
        self.head = nn.Linear(96, classes)

    def forward(self, x):
        x = self.moat(self.mb(self.stem(x)))
        return self.head(self.norm(x.mean(dim=(2, 3))))


@sample("moat")
def s_moat():
    m = MOAT()
    init_weights(m)
    calibrate_bn(m, (torch.randn(8, 3, 64, 64),))
    return Spec(m, (torch.randn(1, 3, 64, 64),), ["image"], ["logits"],
                "MOAT: MBConv(+SE) stages then 3 MOAT blocks (pre-norm BatchNormalization, expand conv, GELU, "
                "strided depthwise, project, then global MHSA over 64 / 16 tokens)",
                "Yang et al. 2022, MOAT: Alternating Mobile Convolution and Attention Brings Strong Vision Models")


# ============================================================== LookupViT

class LookupBlock(nn.Module):
    """LookupViT block (Koner et al. 2024, sec. 3): a few compressed lookup tokens L carry the
    heavy computation, the many image tokens X get cheap updates, and the two exchange
    information through multi-head bidirectional cross-attention (MHBC) that computes the
    similarity S = Q_L K_X^T once and uses it in both directions:
      L = L + proj_l(softmax_rows(S) V_X)         information gathering (lookup <- image)
      L = L + MHSA(LN(L));  L = L + MLP(LN(L))    heavy processing of the lookup tokens
      X = X + proj_x(softmax_rows(S^T) V_L)       information propagation (image <- lookup),
                                                  reusing S, with V from the updated L
      X = X + MLP_small(LN(X))                    light MLP (ratio 1) on the image tokens"""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.hd = heads, dim // heads
        self.norm_l, self.norm_x = nn.LayerNorm(dim, eps=1e-6), nn.LayerNorm(dim, eps=1e-6)
        self.q_l, self.k_x = nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.v_x = nn.Linear(dim, dim)
        self.proj_l = nn.Linear(dim, dim)
        self.lookup_block = Block(dim, heads, 4)
        self.norm_l2, self.norm_x2 = nn.LayerNorm(dim, eps=1e-6), nn.LayerNorm(dim, eps=1e-6)
        self.v_l = nn.Linear(dim, dim)
        self.proj_x = nn.Linear(dim, dim)
        self.norm_x3 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp_x = Mlp(dim, dim)

    def heads_of(self, t):                                  # (B, N, C) -> (B, H, N, d)
        B, N, C = t.shape
        return t.reshape(B, N, self.heads, self.hd).transpose(1, 2)

    def merge(self, t):                                     # (B, H, N, d) -> (B, N, C)
        B, H, N, d = t.shape
        return t.transpose(1, 2).reshape(B, N, H * d)

    def forward(self, l, x):                                # l: (B, M, C), x: (B, N, C)
        ln, xn = self.norm_l(l), self.norm_x(x)
        s = (self.heads_of(self.q_l(ln)) @ self.heads_of(self.k_x(xn)).transpose(-2, -1)) * self.hd ** -0.5
        l = l + self.proj_l(self.merge(s.softmax(dim=-1) @ self.heads_of(self.v_x(xn))))     # (B, M, C)
        l = self.lookup_block(l)
        v_l = self.heads_of(self.v_l(self.norm_l2(l)))
        x = x + self.proj_x(self.merge(s.transpose(-2, -1).softmax(dim=-1) @ v_l))        # (B, N, C)
        return l, x + self.mlp_x(self.norm_x3(x))


class LookupViT(nn.Module):
    def __init__(self, img=32, patch=2, dim=64, heads=2, depth=3, lookup=4, classes=10):
        super().__init__()
        self.g, self.lookup = img // patch, lookup
        self.patch_embed = nn.Conv2d(3, dim, patch, patch)
        self.pos_embed = nn.Parameter(torch.zeros(1, self.g * self.g, dim))
        self.lookup_pos = nn.Parameter(torch.zeros(1, lookup * lookup, dim))
        self.blocks = nn.ModuleList([LookupBlock(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(2 * dim)
        self.head = nn.Linear(2 * dim, classes)

    def forward(self, image):
        f = self.patch_embed(image)                         # (B, C, 16, 16)
        # lookup tokens: the feature grid resized (bilinear) to 4x4, as in the paper
        l = F.interpolate(f, size=(self.lookup, self.lookup), mode="bilinear", align_corners=False)
        l = l.flatten(2).transpose(1, 2) + self.lookup_pos  # (B, 16, C)
        x = f.flatten(2).transpose(1, 2) + self.pos_embed   # (B, 256, C)
        for blk in self.blocks:
            l, x = blk(l, x)
        return self.head(self.norm(torch.cat([l.mean(dim=1), x.mean(dim=1)], dim=-1)))


@sample("lookupvit")
def s_lookupvit():
    m = LookupViT()
    init_weights(m)
    return Spec(m.eval(), (torch.randn(1, 3, 32, 32),), ["image"], ["logits"],
                "LookupViT: 256 image tokens, 16 lookup tokens from a bilinear Resize of the feature grid; "
                "bidirectional cross-attention sharing one 16x256 similarity (Softmax on both axes), MHSA on lookup tokens",
                "Koner et al. 2024, LookupViT: Compressing visual information to a limited number of tokens")


# ============================================================== UniFormer

class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over channels of a (B, C, H, W) map via token layout, as in UniFormer's PatchEmbed."""

    def forward(self, x):
        B, C, H, W = x.shape
        t = super().forward(x.flatten(2).transpose(1, 2))
        return t.transpose(1, 2).reshape(B, C, H, W)


class CBlock(nn.Module):
    """UniFormer local block (Li et al. 2022, eq. 1-4 with local MHRA): DPE (3x3 depthwise
    conv, residual); local MHRA = 1x1 conv (V) -> 5x5 depthwise conv (the learnable local
    token affinity) -> 1x1 conv, pre-BN, residual; FFN of 1x1 convs with GELU, pre-BN."""

    def __init__(self, dim, mlp_ratio=4):
        super().__init__()
        self.pos_embed = nn.Conv2d(dim, dim, 3, 1, 1, groups=dim)
        self.norm1 = nn.BatchNorm2d(dim)
        self.conv1 = nn.Conv2d(dim, dim, 1)
        self.attn = nn.Conv2d(dim, dim, 5, 1, 2, groups=dim)
        self.conv2 = nn.Conv2d(dim, dim, 1)
        self.norm2 = nn.BatchNorm2d(dim)
        self.fc1 = nn.Conv2d(dim, dim * mlp_ratio, 1)
        self.fc2 = nn.Conv2d(dim * mlp_ratio, dim, 1)

    def forward(self, x):
        x = x + self.pos_embed(x)
        x = x + self.conv2(self.attn(self.conv1(self.norm1(x))))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class SABlock(nn.Module):
    """UniFormer global block: DPE, then global MHRA = MHSA over all tokens with LN, MLP."""

    def __init__(self, dim, heads, mlp_ratio=4):
        super().__init__()
        self.pos_embed = nn.Conv2d(dim, dim, 3, 1, 1, groups=dim)
        self.block = Block(dim, heads, mlp_ratio)

    def forward(self, x):
        x = x + self.pos_embed(x)
        B, C, H, W = x.shape
        t = self.block(x.flatten(2).transpose(1, 2))
        return t.transpose(1, 2).reshape(B, C, H, W)


class UniFormer(nn.Module):
    def __init__(self, dims=(24, 48, 80, 112), depths=(1, 1, 2, 1), head_dim=16, classes=10):
        super().__init__()
        self.embeds = nn.ModuleList()
        self.stages = nn.ModuleList()
        cin = 3
        for i, (d, n) in enumerate(zip(dims, depths)):
            p = 4 if i == 0 else 2
            self.embeds.append(nn.Sequential(nn.Conv2d(cin, d, p, p), LayerNorm2d(d)))
            blocks = [CBlock(d) if i < 2 else SABlock(d, d // head_dim) for _ in range(n)]
            self.stages.append(nn.Sequential(*blocks))
            cin = d
        self.norm = nn.BatchNorm2d(dims[-1])
        self.head = nn.Linear(dims[-1], classes)

    def forward(self, x):                                   # (B, 3, 112, 112)
        for e, s in zip(self.embeds, self.stages):          # 28x28, 14x14 local; 7x7, 3x3 global
            x = s(e(x))
        return self.head(self.norm(x).mean(dim=(2, 3)))


@sample("uniformer")
def s_uniformer():
    m = UniFormer()
    init_weights(m)
    calibrate_bn(m, (torch.randn(8, 3, 112, 112),))
    return Spec(m, (torch.randn(1, 3, 112, 112),), ["image"], ["logits"],
                "UniFormer: local MHRA (1x1 conv, 5x5 depthwise affinity, 1x1 conv, pre-BN) in stages 1-2, "
                "global MHSA (49 and 9 tokens) in stages 3-4, depthwise-conv dynamic position embedding, LN patch embeds",
                "Li et al. 2022, UniFormer: Unifying Convolution and Self-attention for Visual Recognition")


# ============================================================== MobileNeXt

def make_div(v, d=8):
    return max(d, int(v + d / 2) // d * d)


class SandGlass(nn.Module):
    """MobileNeXt sandglass block (Zhou et al. 2020, fig. 3c, and the authors' SGBlock):
    depthwise 3x3 + BN + ReLU6 on the WIDE input, 1x1 reduce (linear) + BN, 1x1 expand + BN
    + ReLU6, depthwise 3x3 (stride s) + BN (linear). The shortcut joins the wide tensors; with
    the identity tensor multiplier only the first C/2 channels get the shortcut."""

    def __init__(self, cin, cout, stride, reduce, identity_div=2):
        super().__init__()
        hid = cin // reduce
        if hid < cout / 6.0:
            hid = make_div(math.ceil(cout / 6.0), 16)
        self.identity = stride == 1 and cin == cout
        self.identity_div = identity_div
        layers = []
        if stride == 1 or cin == cout:                      # first dw only when shapes allow (as in SGBlock)
            layers.append(conv_bn(cin, cin, 3, 1, groups=cin))
        layers += [conv_bn(cin, hid, 1, 1, act=None), conv_bn(hid, cout, 1, 1),
                   conv_bn(cout, cout, 3, stride, groups=cout, act=None)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        out = self.conv(x)
        if not self.identity:
            return out
        c = x.shape[1] // self.identity_div
        return torch.cat([out[:, :c] + x[:, :c], out[:, c:]], dim=1)


class MobileNeXt(nn.Module):
    # (t, c, n, s) from the paper's table 2, shortened and narrowed for a 64x64 input
    CFG = [(2, 32, 1, 2), (6, 48, 1, 1), (6, 64, 2, 2), (6, 96, 2, 2), (6, 128, 2, 1)]

    def __init__(self, classes=10):
        super().__init__()
        layers, c = [conv_bn(3, 32, 3, 2)], 32
        for t, cout, n, s in self.CFG:
            for i in range(n):
                layers.append(SandGlass(c, cout, s if i == 0 else 1, t))
                c = cout
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(c, classes)

    def forward(self, x):
        return self.fc(self.features(x).mean(dim=(2, 3)))


@sample("mobilenext")
def s_mobilenext():
    m = MobileNeXt()
    init_weights(m)
    calibrate_bn(m, (torch.randn(8, 3, 64, 64),))
    return Spec(m, (torch.randn(1, 3, 64, 64),), ["image"], ["logits"],
                "MobileNeXt: 8 sandglass blocks (depthwise at both wide ends, linear bottleneck), shortcut on the wide "
                "tensors with identity multiplier 1/2 (Slice + Add + Concat)",
                "Zhou et al. 2020, Rethinking Bottleneck Structure for Efficient Mobile Network Design")


# ============================================================== ConvBERT

class MixedAttention(nn.Module):
    """ConvBERT mixed attention (Jiang et al. 2020, sec. 3; follows the reference code):
    heads are split between (a) ordinary self-attention with the additive padding mask and
    (b) span-based dynamic convolution: a depthwise-separable conv over the sequence gives
    span-aware keys K_s; the kernel for each position is softmax(Linear(K_s * Q)) over k taps;
    it is applied to a window of k neighbours of Linear(hidden) (unfold) per head.
    The two groups' outputs are concatenated (head ratio 2)."""

    def __init__(self, hidden, heads, k=9):
        super().__init__()
        self.heads = heads // 2                             # head_ratio = 2
        self.hd = hidden // heads
        self.all = self.heads * self.hd                     # hidden / 2
        self.k = k
        self.query, self.key, self.value = (nn.Linear(hidden, self.all) for _ in range(3))
        self.key_dw = nn.Conv1d(hidden, hidden, k, padding=k // 2, groups=hidden, bias=False)
        self.key_pw = nn.Conv1d(hidden, self.all, 1, bias=False)
        self.key_bias = nn.Parameter(0.1 * torch.randn(self.all, 1))
        self.conv_kernel = nn.Linear(self.all, self.heads * k)
        self.conv_out = nn.Linear(hidden, self.all)

    def split(self, t):                                     # (B, N, all) -> (B, h, N, d)
        B, N, _ = t.shape
        return t.reshape(B, N, self.heads, self.hd).transpose(1, 2)

    def forward(self, h, mask_add):                         # h: (B, N, hidden); mask_add: (B,1,1,N)
        B, N, _ = h.shape
        q = self.query(h)                                   # (B, N, all)
        ks = (self.key_pw(self.key_dw(h.transpose(1, 2))) + self.key_bias).transpose(1, 2)   # (B, N, all)
        kern = self.conv_kernel(ks * q).reshape(B * N * self.heads, self.k, 1).softmax(dim=1)
        co = self.conv_out(h).transpose(1, 2).unsqueeze(-1)                       # (B, all, N, 1)
        co = F.unfold(co, kernel_size=[self.k, 1], padding=[self.k // 2, 0])      # (B, all*k, N)
        co = co.transpose(1, 2).reshape(B * N * self.heads, self.hd, self.k)
        conv = (co @ kern).reshape(B, N, self.heads, self.hd)                     # dynamic conv heads
        s = (self.split(q) @ self.split(self.key(h)).transpose(-1, -2)) * self.hd ** -0.5 + mask_add
        att = (s.softmax(dim=-1) @ self.split(self.value(h))).transpose(1, 2)     # (B, N, h, d)
        return torch.cat([att, conv], dim=2).reshape(B, N, 2 * self.all)


class ConvBertLayer(nn.Module):
    """Post-norm BERT layer with mixed attention."""

    def __init__(self, hidden, heads, inter):
        super().__init__()
        self.attn = MixedAttention(hidden, heads)
        self.out = nn.Linear(hidden, hidden)
        self.ln1 = nn.LayerNorm(hidden, eps=1e-12)
        self.fc1, self.fc2 = nn.Linear(hidden, inter), nn.Linear(inter, hidden)
        self.ln2 = nn.LayerNorm(hidden, eps=1e-12)

    def forward(self, h, mask_add):
        h = self.ln1(h + self.out(self.attn(h, mask_add)))
        return self.ln2(h + self.fc2(F.gelu(self.fc1(h))))


class ConvBert(nn.Module):
    def __init__(self, vocab=1000, emb=32, hidden=64, heads=4, layers=2, inter=128, max_pos=64):
        super().__init__()
        self.word = nn.Embedding(vocab, emb)
        self.pos = nn.Embedding(max_pos, emb)
        self.ln = nn.LayerNorm(emb, eps=1e-12)
        self.project = nn.Linear(emb, hidden)               # embedding_size < hidden_size, as ConvBERT-small
        self.layers = nn.ModuleList([ConvBertLayer(hidden, heads, inter) for _ in range(layers)])
        self.register_buffer("pos_ids", torch.arange(max_pos).unsqueeze(0), persistent=False)

    def forward(self, input_ids, attention_mask):           # (B, N) int64 each
        N = input_ids.shape[1]
        e = self.word(input_ids) + self.pos(self.pos_ids[:, :N])
        h = self.project(self.ln(e))                        # (B, N, hidden)
        mask_add = (1.0 - attention_mask[:, None, None, :].to(h.dtype)) * -10000.0
        for layer in self.layers:
            h = layer(h, mask_add)
        return h


@sample("convbert")
def s_convbert():
    m = ConvBert()
    init_weights(m)
    ids = torch.randint(1, 1000, (1, 32))
    mask = torch.ones(1, 32, dtype=torch.int64)
    ids[0, 27:] = 0                                         # 5 padding tokens at the end
    mask[0, 27:] = 0
    return Spec(m.eval(), (ids, mask), ["input_ids", "attention_mask"], ["last_hidden_state"],
                "ConvBERT, 2 layers, 32 int64 token ids + int64 mask: embedding Gather, 2 self-attention heads with "
                "additive mask + 2 span-based dynamic conv heads (separable Conv1d, softmax kernels, im2col unfold)",
                "Jiang et al. 2020, ConvBERT: Improving BERT with Span-based Dynamic Convolution")


# ============================================================== spike-driven transformer

V_TH = 1.0 + 2.0 ** -10     # thresholds sit between grid points, see SpikeNet


def lif(x, v_th=V_TH, tau=2.0):
    """Multi-step LIF neuron (spikingjelly's defaults in Spikformer / Spike-driven
    Transformer: tau = 2, decay_input, hard reset to 0), unrolled over T = x.shape[0]:
        v = v + (x_t - v) / tau;   s_t = Heaviside(v - v_th);   v = v * (1 - s_t)"""
    v = torch.zeros_like(x[0])
    out = []
    for t in range(x.shape[0]):
        v = v + (x[t] - v) / tau
        record_margin("spike", (v - v_th).abs().min())
        s = (v >= v_th).to(x.dtype)                         # Heaviside: GreaterOrEqual + Cast
        v = v * (1.0 - s)
        out.append(s)
    return torch.stack(out, dim=0)


class ConvBNT(nn.Module):
    """Conv + BN applied to each time step: (T, B, C, H, W) -> (T*B, ...) -> back."""

    def __init__(self, cin, cout, k, conv1d=False):
        super().__init__()
        Conv = nn.Conv1d if conv1d else nn.Conv2d
        BN = nn.BatchNorm1d if conv1d else nn.BatchNorm2d
        self.conv = Conv(cin, cout, k, 1, k // 2, bias=False)
        self.bn = BN(cout)

    def forward(self, x):
        T, B = x.shape[:2]
        y = self.bn(self.conv(x.flatten(0, 1)))
        return y.reshape((T, B) + tuple(y.shape[1:]))


class SDSA(nn.Module):
    """Spike-Driven Self-Attention (Yao et al. 2023, eq. 9-10, SDSA version 1):
    Q, K, V = SN(BN(Conv1x1(S)))  (binary spikes)
    SDSA(Q, K, V) = Q (x) SN(SUM_c(K (x) V))   -- Hadamard products and a column (token) sum,
    no softmax and no matmul; then Conv1x1 + BN."""

    def __init__(self, dim):
        super().__init__()
        self.q, self.k, self.v = ConvBNT(dim, dim, 1, True), ConvBNT(dim, dim, 1, True), ConvBNT(dim, dim, 1, True)
        self.proj = ConvBNT(dim, dim, 1, True)
        self.kv_th = nn.Parameter(torch.tensor(4.0), requires_grad=False)   # set from the counts

    def forward(self, u):                                   # membrane input u: (T, B, C, N)
        s = lif(u)
        q, k, v = lif(self.q(s)), lif(self.k(s)), lif(self.v(s))
        kv = (k * v).sum(dim=3, keepdim=True)               # SUM_c over tokens: spike counts (T, B, C, 1)
        return self.proj(q * lif(kv, v_th=self.kv_th))


class SpikeMLP(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1, self.fc2 = ConvBNT(dim, hidden, 1, True), ConvBNT(hidden, dim, 1, True)

    def forward(self, u):
        return self.fc2(lif(self.fc1(lif(u))))


class SpikeNet(nn.Module):
    """Spike-driven Transformer (Yao et al. 2023): image repeated over T = 4 time steps
    (direct encoding); spiking patch splitting (conv-BN-LIF x3 with two 2x2 max pools, 32x32 ->
    8x8 = 64 tokens) and a conv-BN relative position embedding; encoder blocks with
    membrane shortcuts: U = U + SDSA(U); U = U + MLP(U); head on the mean over tokens and T.

    Spikes never flip under float rounding here: the input image is quantised to 1/8 steps,
    conv/linear weights to 1/16 steps and each BatchNorm's effective scale is a power of two
    with mean/bias on the 1/16 grid, so every membrane potential lies (up to rounding) on a
    2^-k grid and every threshold lies between grid points (V_TH = 1 + 2^-10, and integer +
    1/64 for the spike-count neuron). The export checks the recorded margins."""

    T = 4

    def __init__(self, dim=64, classes=10):
        super().__init__()
        self.sps1, self.sps2, self.sps3 = ConvBNT(3, 16, 3), ConvBNT(16, 32, 3), ConvBNT(32, dim, 3)
        self.rpe = ConvBNT(dim, dim, 3)
        self.blocks = nn.ModuleList([nn.ModuleList([SDSA(dim), SpikeMLP(dim, 4 * dim)]) for _ in range(2)])
        self.head = nn.Linear(dim, classes)

    def forward(self, image):                               # (B, 3, 32, 32)
        x = image.unsqueeze(0).repeat(self.T, 1, 1, 1, 1)   # (T, B, 3, 32, 32)
        x = lif(self.sps1(x))
        x = lif(self.sps2(x))
        T, B = x.shape[:2]
        x = F.max_pool2d(x.flatten(0, 1), 2).reshape(T, B, 32, 16, 16)
        x = lif(self.sps3(x))
        x = F.max_pool2d(x.flatten(0, 1), 2).reshape(T, B, -1, 8, 8)   # spikes (T, B, C, 8, 8)
        u = self.rpe(x) + x                                 # membrane (T, B, C, 8, 8)
        u = u.flatten(3)                                    # (T, B, C, 64)
        for attn, mlp in self.blocks:
            u = u + attn(u)
            u = u + mlp(u)
        return self.head(u.mean(dim=3).mean(dim=0))         # (B, classes)


def quantize_(t, step):
    with torch.no_grad():
        t.copy_(torch.round(t / step) * step)


def grid_bn(model, batch):
    """BatchNorm statistics measured on a batch, then rounded to the grid (see SpikeNet)."""
    calibrate_bn(model, batch, perturb=False)
    g = 1.0 / 16
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                std = (m.running_var + m.eps).sqrt()
                m.running_var.mul_(torch.empty_like(std).uniform_(0.8, 1.25))   # random, not 0/1
                std = (m.running_var.double() + m.eps).sqrt()
                p2 = torch.pow(2.0, torch.round(torch.log2(1.0 / std)))         # effective scale 2^m
                m.weight.copy_((p2 * std).float())
                m.running_mean.copy_(torch.round(m.running_mean / g) * g)
                m.bias.copy_(torch.round(torch.empty_like(std).uniform_(0.0, 0.75).float() / g) * g)


def set_count_thresholds(m, x):
    counts = {}
    for i, (attn, _) in enumerate(m.blocks):
        def capture(u, attn=attn, i=i):
            s = lif(u)
            counts[i] = (lif(attn.k(s)) * lif(attn.v(s))).sum(dim=3)
            return SDSA.forward(attn, u)
        attn.forward = capture
    with torch.no_grad():
        m.eval()(x)
    for i, (attn, _) in enumerate(m.blocks):
        del attn.forward
        attn.kv_th.fill_(max(1.0, math.floor(float(counts[i].median()))) + 1.0 / 64)


@sample("spike-transformer")
def s_spike():
    m = SpikeNet()
    init_weights(m)
    for mod in m.modules():
        if isinstance(mod, (nn.Conv1d, nn.Conv2d)):
            quantize_(mod.weight, 1.0 / 16)
    x = torch.clamp(torch.round(torch.randn(1, 3, 32, 32) * 8) / 8, -2, 2)
    cal = torch.clamp(torch.round(torch.randn(8, 3, 32, 32) * 8) / 8, -2, 2)
    # The spike-count neurons' thresholds and the BatchNorm statistics depend on each other:
    # alternate twice (thresholds at integer + 1/64 near the median count, about half fire).
    for _ in range(2):
        grid_bn(m, (cal,))
        set_count_thresholds(m, x)
    return Spec(m.eval(), (x,), ["image"], ["logits"],
                "Spike-driven Transformer, T=4 unrolled LIF neurons (GreaterOrEqual + Cast Heaviside, hard reset), "
                "spiking patch splitting, SDSA (Hadamard + ReduceSum over 64 tokens, no softmax), membrane shortcuts",
                "Yao et al. 2023, Spike-driven Transformer (after Zhou et al. 2023, Spikformer)")


# ============================================================== MAE encoder

def sincos_2d(dim, grid):
    """MAE's fixed 2D sin-cos position embedding (with a zero row for the class token)."""
    def one_d(d, pos):
        omega = 1.0 / 10000 ** (np.arange(d // 2, dtype=np.float64) / (d / 2.0))
        out = np.einsum("m,d->md", pos.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)
    gh, gw = np.meshgrid(np.arange(grid, dtype=np.float64), np.arange(grid, dtype=np.float64))
    emb = np.concatenate([one_d(dim // 2, gw), one_d(dim // 2, gh)], axis=1)
    emb = np.concatenate([np.zeros([1, dim]), emb], axis=0)
    return torch.from_numpy(emb).float().unsqueeze(0)      # (1, 1 + grid*grid, dim)


class MAEEncoder(nn.Module):
    """MAE encoder (He et al. 2022, sec. 3 and the reference code's forward_encoder):
    patch embedding + fixed sin-cos position embedding; only the visible tokens are kept
    (the random shuffle is done by the caller and passed as `ids_keep`; the encoder gathers
    them with torch.gather -> GatherElements); the class token is appended; ViT blocks; LN.
    Output: the latent of the 1 + 49 visible tokens (mask ratio 0.75 of 196)."""

    def __init__(self, img=56, patch=4, dim=64, depth=4, heads=2):
        super().__init__()
        self.patch_embed = PatchEmbed(3, dim, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.register_buffer("pos_embed", sincos_2d(dim, img // patch))
        self.blocks = nn.ModuleList([Block(dim, heads, 4) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, image, ids_keep):                     # (B, 3, 56, 56), (B, 49) int64
        x = self.patch_embed(image) + self.pos_embed[:, 1:, :]          # (B, 196, C)
        D = x.shape[-1]
        x = torch.gather(x, 1, ids_keep.unsqueeze(-1).repeat(1, 1, D))  # (B, 49, C)
        cls = (self.cls_token + self.pos_embed[:, :1, :]).expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)                                 # (B, 50, C)


@sample("mae-encoder")
def s_mae():
    m = MAEEncoder()
    init_weights(m)
    noise = torch.rand(1, 196)                              # MAE's random_masking: argsort noise
    ids_keep = torch.argsort(noise, dim=1)[:, :49]
    return Spec(m.eval(), (torch.randn(1, 3, 56, 56), ids_keep), ["image", "ids_keep"], ["latent"],
                "MAE encoder: 196 patches, int64 ids_keep input selects 49 visible tokens (Tile + GatherElements), "
                "class token, 4 ViT blocks at 50 tokens, fixed sin-cos position embedding",
                "He et al. 2022, Masked Autoencoders Are Scalable Vision Learners")


# ============================================================== torchvision models

@sample("swin-t")
def s_swin():
    from torchvision.models.swin_transformer import SwinTransformer
    # swin_t's configuration (patch 4, window 7, depths 2-2-6-2, 224x224, 1000 classes) at
    # embed_dim 16 instead of 96 and heads 2-4-8-16 instead of 3-6-12-24 (head dim 8): about
    # 30x fewer weights. The real swin_t (110 MB) is written by export_big.py.
    m = SwinTransformer(patch_size=[4, 4], embed_dim=16, depths=[2, 2, 6, 2], num_heads=[2, 4, 8, 16],
                        window_size=[7, 7], stochastic_depth_prob=0.2)
    init_weights(m)
    return Spec(m.eval(), (torch.randn(1, 3, 224, 224),), ["image"], ["logits"],
                "torchvision SwinTransformer with swin_t's layout (224x224, window 7, shifted windows, relative "
                "position bias, patch merging; exported as traced: Shape/ScatterND/Where mask arithmetic) at embed_dim 16",
                "Liu et al. 2021, Swin Transformer (torchvision implementation)")


@sample("mobilenet-v3-small")
def s_mbv3():
    from torchvision.models import mobilenet_v3_small
    m = mobilenet_v3_small(weights=None)
    init_weights(m)
    calibrate_bn(m, (torch.randn(8, 3, 224, 224),))
    return Spec(m, (torch.randn(1, 3, 224, 224),), ["image"], ["logits"],
                "torchvision mobilenet_v3_small (unchanged, 1000 classes, 224x224): HardSwish, HardSigmoid "
                "squeeze-excitation, depthwise convs",
                "Howard et al. 2019, Searching for MobileNetV3 (torchvision implementation)")


# ============================================================== export machinery

def to_tuple(o):
    return tuple(o) if isinstance(o, (tuple, list)) else (o,)


def run_reference(model, inputs):
    global _MARGINS
    _MARGINS = []
    with torch.no_grad():
        outs = to_tuple(model(*inputs))
    margins, _MARGINS = _MARGINS, None
    return outs, margins


def as64(t):
    return t.double() if t.is_floating_point() else t


def measure_tolerance(model, inputs, outs):
    m64 = copy.deepcopy(model).double()
    o64, margins64 = run_reference(m64, tuple(as64(x) for x in inputs))
    abs_err, rel_err = 0.0, 0.0
    for a, b in zip(outs, o64):
        d = (a.double() - b).abs()
        abs_err = max(abs_err, float(d.max()))
        big = b.abs() >= 0.1                                # relative error where it means something
        if bool(big.any()):
            rel_err = max(rel_err, float((d[big] / b.abs()[big]).max()))
    atol = max(1e-4, 10 * abs_err)
    atol = nice_up(atol)
    rtol = 1e-3 if 10 * rel_err <= 1e-3 else nice_up(10 * rel_err)
    return atol, rtol, abs_err, rel_err, margins64


def nice_up(x):
    """Round up to 1, 2 or 5 times a power of ten."""
    e = math.floor(math.log10(x))
    for m in (1, 2, 5, 10):
        if m * 10 ** e >= x * (1 - 1e-9):
            return float("%.0e" % (m * 10 ** e))
    return x


def op_histogram(m):
    h = {}
    for n in m.graph.node:
        h[n.op_type] = h.get(n.op_type, 0) + 1
    return dict(sorted(h.items()))


DT = {1: "float32", 6: "int32", 7: "int64", 9: "bool", 11: "float64"}


def io_desc(vi):
    t = vi.type.tensor_type
    shape = [d.dim_param if d.dim_param else d.dim_value for d in t.shape.dim]
    return {"name": vi.name, "dtype": DT.get(t.elem_type, str(t.elem_type)), "shape": shape}


def export_one(name, builder, out_root=HERE):
    """Build, check and write one sample to out_root/name; returns its manifest entry."""
    seed = zlib.crc32(name.encode())
    torch.manual_seed(seed)
    np.random.seed(seed % 2 ** 32)
    spec = builder()
    model = spec.model.eval()
    outs, margins = run_reference(model, spec.inputs)
    atol, rtol, abs_err, rel_err, margins64 = measure_tolerance(model, spec.inputs, outs)

    d = os.path.join(out_root, name)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "model.onnx")
    tmp = path + ".tmp"
    torch.onnx.export(model, spec.inputs, tmp, opset_version=spec.opset, input_names=spec.input_names,
                      output_names=spec.output_names, do_constant_folding=True,
                      dynamic_axes=spec.dynamic_axes)
    m = onnx.load(tmp)
    onnx.checker.check_model(m, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(m, strict_mode=True)
    # Independent check of the exported graph: run it with the numpy evaluator.
    ref = onnx_ref.run(m, {n: x.numpy() for n, x in zip(spec.input_names, spec.inputs)})
    ref_err = max(float(np.abs(r.astype(np.float64) - o.double().numpy()).max()) for r, o in zip(ref, outs))
    if ref_err > atol:
        raise SystemExit(f"{name}: numpy evaluation of the ONNX graph differs from PyTorch by {ref_err:.3g} "
                         f"(atol {atol:g})")
    atol = max(atol, nice_up(10 * ref_err))
    os.replace(tmp, path)
    for f in os.listdir(d):                                  # stale inputs/outputs of an older layout
        if f.startswith(("input_", "output_")) and f.endswith(".npy"):
            os.remove(os.path.join(d, f))

    ins = [io_desc(v) for v in m.graph.input]
    outs_desc = [io_desc(v) for v in inferred.graph.output]
    assert [i["name"] for i in ins] == spec.input_names, (name, ins)
    for k, x in enumerate(spec.inputs):
        np.save(os.path.join(d, f"input_{k}.npy"), x.numpy())
    for k, (o, od) in enumerate(zip(outs, outs_desc)):
        want = [s if isinstance(s, int) else None for s in od["shape"]]
        got = list(o.shape)
        assert all(w is None or w == g for w, g in zip(want, got)) and len(want) == len(got), \
            f"{name}: inferred output shape {od['shape']} vs PyTorch {got}"
        np.save(os.path.join(d, f"output_{k}.npy"), o.numpy())

    entry = {
        "name": name,
        "dir": os.path.relpath(d, ROOT) if os.path.abspath(d).startswith(ROOT + os.sep) else os.path.abspath(d),
        "description": spec.desc,
        "paper": spec.paper,
        "opset": spec.opset,
        "inputs": ins,
        "input_shapes_of_sample": [list(x.shape) for x in spec.inputs],
        "outputs": outs_desc,
        "op_histogram": op_histogram(m),
        "nodes": len(m.graph.node),
        "file_size": os.path.getsize(path),
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "atol": atol,
        "rtol": rtol,
        "measured_fp32_vs_fp64": {"max_abs": abs_err, "max_rel": rel_err},
        "measured_onnx_ref_vs_torch": {"max_abs": ref_err},
    }
    line = (f"{name:20s} {entry['nodes']:5d} nodes {entry['file_size'] / 1e6:6.2f} MB  "
            + "  ".join(f"out{k} mean {o.float().mean():+.4f} std {o.float().std():.4f}" for k, o in enumerate(outs))
            + f"  fp64 err {abs_err:.1e} onnx_ref err {ref_err:.1e} -> atol {atol:g} rtol {rtol:g}")
    if margins:
        kinds = sorted({k for k, _ in margins})
        entry["decision_margins"] = {}
        for kind in kinds:
            mm = min(v for k, v in margins if k == kind)
            mm64 = min(v for k, v in margins64 if k == kind)
            entry["decision_margins"][kind] = {"count": sum(1 for k, _ in margins if k == kind),
                                               "min_fp32": mm, "min_fp64": mm64}
            line += f"  min {kind} margin {mm:.2e}"
        if abs_err > 1e-3:
            raise SystemExit(f"{name}: float64 run took different decisions (max err {abs_err})")
    print(line, flush=True)
    return entry


def write_manifest(entries):
    mpath = os.path.join(HERE, "manifest.json")
    old = {}
    if os.path.exists(mpath):
        with open(mpath) as f:
            old = {e["name"]: e for e in json.load(f)["samples"]}
    old.update({e["name"]: e for e in entries})
    order = [n for n, _ in SAMPLES]
    fm = fmnist_entry()
    if fm:
        old[fm["name"]] = fm
        order = [fm["name"]] + order
    samples = [old[n] for n in order if n in old]
    with open(mpath, "w") as f:
        json.dump({"generated_by": "samples/zoo/export.py", "samples": samples}, f, indent=1)
        f.write("\n")
    write_tsv(os.path.join(HERE, "manifest.tsv"), samples)
    update_readme(samples)


def write_tsv(path, samples):
    with open(path, "w") as f:
        f.write("name\tdir\tinputs\toutputs\topset\tatol\trtol\n")
        for e in samples:
            f.write(f"{e['name']}\t{e['dir']}\t{len(e['inputs'])}\t{len(e['outputs'])}\t{e['opset']}\t"
                    f"{e['atol']:g}\t{e['rtol']:g}\n")


def fmnist_entry():
    """The trained demo model is listed too (its files come from samples/fmnist-vit/train.py)."""
    path = os.path.join(FMNIST_DIR, "model.onnx")
    if not os.path.exists(path):
        return None
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(m, strict_mode=True)
    x = np.load(os.path.join(FMNIST_DIR, "input_0.npy"))
    # tolerance: numpy evaluation of the graph vs PyTorch on the 100 saved test images
    imgs = np.load(os.path.join(FMNIST_DIR, "test_images.npy"))
    want = np.load(os.path.join(FMNIST_DIR, "expected_logits.npy")).astype(np.float64)
    name = m.graph.input[0].name
    got = np.concatenate([onnx_ref.run(m, {name: imgs[k:k + 1]})[0] for k in range(len(imgs))])
    ref_err = float(np.abs(got - want).max())
    one = onnx_ref.run(m, {name: x})[0]
    ref_err = max(ref_err, float(np.abs(one - np.load(os.path.join(FMNIST_DIR, "output_0.npy"))).max()))
    print(f"{'fmnist-vit':20s} {len(m.graph.node):5d} nodes {os.path.getsize(path) / 1e6:6.2f} MB  "
          f"onnx_ref err over 100 images {ref_err:.1e}", flush=True)
    return {
        "name": "fmnist-vit",
        "dir": "samples/fmnist-vit",
        "description": "trained DeiT-style ViT on Fashion-MNIST: 28x28, 2x2 patches -> 197 tokens, dim 64, 2 heads, "
                       "4 blocks (see samples/fmnist-vit/README.md)",
        "paper": "Touvron et al. 2021 (DeiT)",
        "opset": m.opset_import[0].version,
        "inputs": [io_desc(v) for v in m.graph.input],
        "input_shapes_of_sample": [list(x.shape)],
        "outputs": [io_desc(v) for v in inferred.graph.output],
        "op_histogram": op_histogram(m),
        "nodes": len(m.graph.node),
        "file_size": os.path.getsize(path),
        "parameters": int(sum(np.prod(t.dims) for t in m.graph.initializer)),
        "atol": max(1e-4, nice_up(10 * ref_err)),
        "rtol": 1e-3,
        "measured_onnx_ref_vs_torch": {"max_abs": ref_err, "images": len(imgs) + 1},
    }


def update_readme(samples):
    path = os.path.join(HERE, "README.md")
    if not os.path.exists(path):
        return
    with open(path) as f:
        text = f.read()
    begin, end = "<!-- ops:begin -->", "<!-- ops:end -->"
    if begin not in text or end not in text:
        return
    rows = ["| sample | opset | nodes | size | atol / rtol | op histogram |", "|---|---|---|---|---|---|"]
    for e in samples:
        hist = ", ".join(f"{k} {v}" for k, v in sorted(e["op_histogram"].items(), key=lambda kv: (-kv[1], kv[0])))
        rows.append(f"| {e['name']} | {e['opset']} | {e['nodes']} | {e['file_size'] / 1e6:.2f} MB | "
                    f"{e['atol']:g} / {e['rtol']:g} | {hist} |")
    pre, rest = text.split(begin, 1)
    post = rest.split(end, 1)[1]
    with open(path, "w") as f:
        f.write(pre + begin + "\n" + "\n".join(rows) + "\n" + end + post)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", help="samples to export (default: all)")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--manifest-only", action="store_true",
                    help="rewrite the manifests and README table from manifest.json (+ fmnist-vit) without exporting")
    args = ap.parse_args()
    if args.list:
        for n, _ in SAMPLES:
            print(n)
        return
    torch.set_num_threads(args.threads)
    if args.manifest_only:
        write_manifest([])
        return
    known = dict(SAMPLES)
    names = args.names or [n for n, _ in SAMPLES]
    for n in names:
        if n not in known:
            raise SystemExit(f"unknown sample '{n}' (see --list)")
    entries = [export_one(n, known[n]) for n in names]
    write_manifest(entries)


if __name__ == "__main__":
    main()
