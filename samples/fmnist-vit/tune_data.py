"""Writes the Fashion-MNIST test set as `kiln tune` takes it: IMAGES.npy, float32
[N,1,28,28] normalised as the model expects (data.normalize), and LABELS.npy, int64 [N].

    /usr/bin/python3 samples/fmnist-vit/tune_data.py /tmp/fmnist            # all 10,000
    /usr/bin/python3 samples/fmnist-vit/tune_data.py /tmp/fmnist --limit 200

writes /tmp/fmnist-images.npy and /tmp/fmnist-labels.npy (31 MB for 10k: not for the
repository). Needs the Debian package dataset-fashion-mnist.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("prefix", help="writes PREFIX-images.npy and PREFIX-labels.npy")
    ap.add_argument("--limit", type=int, default=0, help="only the first N test images")
    args = ap.parse_args()
    x, y = data.load_split("t10k")
    if args.limit:
        x, y = x[:args.limit], y[:args.limit]
    images = data.normalize(x)
    np.save(args.prefix + "-images.npy", images)
    np.save(args.prefix + "-labels.npy", y.astype(np.int64))
    print(f"{args.prefix}-images.npy {images.dtype}{list(images.shape)}, "
          f"{args.prefix}-labels.npy int64[{len(y)}]")


if __name__ == "__main__":
    main()
