"""Fashion-MNIST from the Debian package `dataset-fashion-mnist`, numpy only.

Shared by train.py and evaluate.py so that both normalise exactly the same way.
"""
import gzip
import os

import numpy as np

DATA = "/usr/share/datasets/fashion-mnist"
# Mean and std of the Fashion-MNIST training pixels after scaling to [0, 1].
MEAN = 0.2860
STD = 0.3530
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def read_idx(path):
    """Read a gzip'd IDX file (big-endian header, unsigned byte data) into a numpy array."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic = int.from_bytes(raw[0:4], "big")
    ndim = magic & 0xFF
    if (magic >> 8) != 0x08:
        raise ValueError(f"{path}: expected unsigned byte IDX data, magic {magic:#x}")
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    return data.reshape(dims)


def load_split(split, data_dir=DATA):
    """split is 'train' or 't10k'. Returns uint8 images [N,28,28] and int64 labels [N]."""
    x = read_idx(os.path.join(data_dir, f"{split}-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(data_dir, f"{split}-labels-idx1-ubyte.gz")).astype(np.int64)
    return x, y


def normalize(x_uint8):
    """uint8 [N,28,28] -> float32 [N,1,28,28]: (x/255 - MEAN) / STD, what the model expects."""
    x = x_uint8.astype(np.float32) / np.float32(255.0)
    x = (x - np.float32(MEAN)) / np.float32(STD)
    return x[:, None, :, :].astype(np.float32)
