#!/usr/bin/env python3
"""The typical Python pipeline Auge is compared with: read -> Pillow decode (draft mode: DCT-domain
downscale, or full) -> resize to the model size (bilinear) -> normalise -> ONNX Runtime, batch 1.
Prints one line: images_per_s=... for the folder. Usage: python_pipeline.py MODEL.onnx DIR THREADS draft|full"""
import os
import sys
import time

import numpy as np
import onnxruntime as ort
from PIL import Image

MEAN = np.array([0.485, 0.456, 0.406], np.float32) * 255
STD = np.array([0.229, 0.224, 0.225], np.float32) * 255


def main():
    model, folder, threads, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    _, _, height, width = session.get_inputs()[0].shape
    files = sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".jpg"))
    for _ in range(5):
        session.run(None, {name: np.zeros((1, 3, height, width), np.float32)})
    start = time.perf_counter()
    for path in files:
        image = Image.open(path)
        if mode == "draft":
            image.draft("RGB", (width, height))
        image = image.convert("RGB").resize((width, height), Image.BILINEAR)
        x = ((np.asarray(image, np.float32) - MEAN) / STD).transpose(2, 0, 1)[None]
        session.run(None, {name: np.ascontiguousarray(x)})
    elapsed = time.perf_counter() - start
    print(f"images_per_s={len(files) / elapsed:.2f} files={len(files)} seconds={elapsed:.3f}")


if __name__ == "__main__":
    main()
