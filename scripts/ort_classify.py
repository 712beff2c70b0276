#!/usr/bin/env python3
"""ONNX Runtime's class probabilities for photos that are already at the model's input size, so no
resize is involved: the reference for `auge classify --scores` (Tests/AugeCLITests).
Pixels are read with Pillow, scaled to 0...1, normalised with the given mean/std, fed as NCHW; a
softmax is applied when the model's output is not already a probability vector.
Usage: ort_classify.py MODEL.onnx gray|rgb MEAN STD IMAGE...   (MEAN/STD comma-separated)
Prints one JSON object: {image path: [probabilities]}."""
import json
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image


def main():
    model, color, mean, std, images = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
    mean = np.array([float(v) for v in mean.split(",")], np.float32)
    std = np.array([float(v) for v in std.split(",")], np.float32)
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    result = {}
    for path in images:
        pixels = np.asarray(Image.open(path).convert("L" if color == "gray" else "RGB"), np.float32) / 255
        if pixels.ndim == 2:
            pixels = pixels[:, :, None]
        x = ((pixels - mean) / std).transpose(2, 0, 1)[None].astype(np.float32)
        y = session.run(None, {name: x})[0][0].astype(np.float64)
        if not (np.all(y >= 0) and abs(y.sum() - 1) < 1e-4):
            y = np.exp(y - y.max())
            y /= y.sum()
        result[path] = y.tolist()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
