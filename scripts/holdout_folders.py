#!/usr/bin/env python3
"""Splits an ImageFolder dataset into two folders of symbolic links, OUT/train and OUT/test, with the
held-out split the analysis scripts use (every N-th photo of each class by name goes to test), so that
`auge train OUT/train` never sees a test photo and `auge eval ... OUT/test` measures on photos no step of
training saw (`auge train` then holds out its own calibration photos inside OUT/train).

Usage: holdout_folders.py DATASET OUT [--every N]   (N defaults to 5)"""
import argparse
import os
import shutil

from holdout_split import photos_and_holdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset")
    parser.add_argument("out")
    parser.add_argument("--every", type=int, default=5)
    args = parser.parse_args()
    items, held = photos_and_holdout(args.dataset, args.every)
    held = set(held)
    for part in ("train", "test"):
        shutil.rmtree(os.path.join(args.out, part), ignore_errors=True)
    counts = {"train": 0, "test": 0}
    for index, (label, name) in enumerate(items):
        part = "test" if index in held else "train"
        folder = os.path.join(args.out, part, label)
        os.makedirs(folder, exist_ok=True)
        os.symlink(os.path.abspath(os.path.join(args.dataset, label, name)), os.path.join(folder, name))
        counts[part] += 1
    print(f"{args.out}: {counts['train']} photos in train/, {counts['test']} in test/")


if __name__ == "__main__":
    main()
