#!/usr/bin/env python3
"""Looks for near-copies in an ImageFolder dataset: for each named photo, the most similar photo of
the training part (the same split as `auge train --val-split 1/N`: every N-th photo of each class,
sorted by name, is held out), with its label. A held-out defect photo whose nearest training photo
is a good part, far closer than photos usually are, is a sign of a label problem rather than a model
problem.

Similarity is the correlation of the photos as grey SIZExSIZE images, the best over the eight flips
and quarter turns (datasets such as casting were enlarged by turning and flipping photos). As a
yardstick it also prints, for a random sample of held-out photos, how often the nearest training
photo has the same label and the median correlation.

Usage: nearest_photos.py DATASET PHOTO_NAME... [--holdout 5] [--size 96] [--sample 150]
Example (the casting photos every model calls OK; docs/results.md):
    nearest_photos.py ../shared/datasets/casting/train cast_def_0_4073 cast_def_0_7057
"""
import argparse
import os
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from holdout_split import photos_and_holdout  # noqa: E402


def load(path, size):
    a = np.asarray(Image.open(path).convert("L").resize((size, size), Image.BILINEAR), dtype=np.float32)
    a -= a.mean()
    return a / max(float(np.linalg.norm(a)), 1e-12)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset")
    ap.add_argument("photos", nargs="+", help="file names, with or without extension")
    ap.add_argument("--holdout", type=int, default=5)
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--sample", type=int, default=150)
    args = ap.parse_args()

    items, held = photos_and_holdout(args.dataset, args.holdout)
    images = np.stack([load(os.path.join(args.dataset, c, f), args.size) for c, f in items])
    train = np.array(sorted(set(range(len(items))) - set(held)))
    train_flat = images[train].reshape(len(train), -1)

    def nearest(k):
        best = np.full(len(train), -1.0)
        for turns in range(4):
            view = np.rot90(images[k], turns)
            for v in (view, view[:, ::-1]):
                best = np.maximum(best, train_flat @ np.ascontiguousarray(v).reshape(-1))
        best[train == k] = -1.0  # a photo is not its own neighbour
        j = int(np.argmax(best))
        return train[j], float(best[j])

    sample = np.random.default_rng(0).choice(held, min(args.sample, len(held)), replace=False)
    found = [nearest(k) for k in sample]
    same = sum(items[j][0] == items[k][0] for k, (j, _) in zip(sample, found))
    print(f"yardstick: {same} of {len(sample)} held-out photos have a same-label nearest training photo; "
          f"median correlation {np.median([c for _, c in found]):.3f}")
    for name in args.photos:
        matches = [k for k, (_, f) in enumerate(items) if f == name or os.path.splitext(f)[0] == name]
        if not matches:
            print(f"{name}: not in {args.dataset}")
            continue
        k = matches[0]
        j, c = nearest(k)
        print(f"{items[k][0]}/{items[k][1]}: nearest training photo {items[j][0]}/{items[j][1]}, correlation {c:.4f}")


if __name__ == "__main__":
    main()
