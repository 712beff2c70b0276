#!/usr/bin/env python3
"""Writes N photo-like 1920x1080 JPEGs (quality 90, 4:2:0): smooth colour blobs, gradients, mid-frequency
texture and sensor grain, so file sizes (~400-600 KB) and decode costs are those of real photos.
Usage: make_photos.py OUT_DIR [N]"""
import os
import sys

import numpy as np
from PIL import Image


def photo(seed, w=1920, h=1080):
    rng = np.random.default_rng(seed)
    blobs = (rng.random((h // 120, w // 120, 3)) * 255).astype(np.uint8)
    base = np.asarray(Image.fromarray(blobs).resize((w, h), Image.BICUBIC), np.float32)
    texture = (rng.random((h // 8, w // 8, 3)) * 255).astype(np.uint8)
    texture = np.asarray(Image.fromarray(texture).resize((w, h), Image.BILINEAR), np.float32) - 127.5
    gradient = np.linspace(-40, 40, w, dtype=np.float32)[None, :, None] + np.linspace(30, -30, h, dtype=np.float32)[:, None, None]
    grain = rng.normal(0, 4, (h, w, 3)).astype(np.float32)
    return Image.fromarray(np.clip(base + gradient + 0.25 * texture + grain, 0, 255).astype(np.uint8))


if __name__ == "__main__":
    out, count = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 200
    os.makedirs(out, exist_ok=True)
    for i in range(count):
        path = os.path.join(out, f"part_{i:04d}.jpg")
        if not os.path.exists(path):
            photo(1000 + i).save(path, "JPEG", quality=90, subsampling="4:2:0")
