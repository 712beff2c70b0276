#!/usr/bin/env python3
"""Held-out accuracy of trained models in ONNX Runtime: each model alone, each model on flipped and
turned copies of the photos (and averaged over them), and the models averaged with each other. It
answers "would test-time flips or an ensemble help?" without building either into Auge, and lists
the photos every model gets wrong.

The held-out photos are those of `auge train --val-split 1/N` (every N-th photo of each class,
sorted by name). `auge preview` renders each at the first model's input size and colour, exactly
as Auge resizes it, into 8-bit PNGs; the models must share that input and normalisation (read from
the first model's metadata). 8-bit rounding moves a photo or two against `auge eval`.

Usage: holdout_views.py DATASET MODEL.onnx... [--holdout 5] [--auge .build/release/auge]
"""
import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from holdout_split import photos_and_holdout  # noqa: E402

VIEWS = {  # the eight flips and quarter turns of an NCHW batch
    "as is": lambda x: x,
    "left-right": lambda x: x[..., ::-1],
    "up-down": lambda x: x[..., ::-1, :],
    "half turn": lambda x: x[..., ::-1, ::-1],
    "transposed": lambda x: x.swapaxes(-1, -2),
    "quarter turn": lambda x: x.swapaxes(-1, -2)[..., ::-1],
    "three-quarter turn": lambda x: x.swapaxes(-1, -2)[..., ::-1, :],
    "anti-transposed": lambda x: x.swapaxes(-1, -2)[..., ::-1, ::-1],
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset")
    ap.add_argument("models", nargs="+")
    ap.add_argument("--holdout", type=int, default=5)
    ap.add_argument("--auge", default=os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                                   ".build", "release", "auge"))
    args = ap.parse_args()
    items, held = photos_and_holdout(args.dataset, args.holdout)

    meta = {p.key: p.value for p in onnx.load(args.models[0], load_external_data=False).metadata_props}
    labels, ok_labels = json.loads(meta["auge.labels"]), set(json.loads(meta.get("auge.ok_labels", "[]")))
    mean = np.asarray(json.loads(meta["auge.mean"]), np.float32)[:, None, None]
    std = np.asarray(json.loads(meta["auge.std"]), np.float32)[:, None, None]
    color = meta.get("auge.color", "rgb")

    photos, truth, inputs = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for k, (label, name) in enumerate(items[i] for i in held):
            png = os.path.join(tmp, f"{k}.png")
            subprocess.run([args.auge, "preview", os.path.join(args.dataset, label, name), "--output", png,
                            "--size", meta["auge.input_size"], "--color", color,
                            "--resize", meta.get("auge.resize", "stretch")], check=True, stdout=subprocess.DEVNULL)
            image = Image.open(png).convert("RGB" if color == "rgb" else "L")
            x = np.asarray(image, np.float32) / 255
            x = x.transpose(2, 0, 1) if x.ndim == 3 else x[None]
            inputs.append((x - mean) / std)
            photos.append(f"{label}/{name}")
            truth.append(labels.index(label))
    batch, truth = np.stack(inputs).astype(np.float32), np.array(truth)
    defect = np.array([labels[t] not in ok_labels for t in truth])
    ok_index = [i for i, name in enumerate(labels) if name in ok_labels]

    def report(name, probabilities):
        predicted = probabilities.argmax(1)
        line = f"{name:48s} accuracy {np.mean(predicted == truth) * 100:6.2f} % ({np.sum(predicted != truth)} wrong)"
        if ok_index and defect.any():  # as Auge counts it: defect probability 1 - P(OK classes) >= 0.5
            called_defect = 1 - probabilities[:, ok_index].sum(1) >= 0.5
            line += f"  defect recall {np.mean(called_defect[defect]) * 100:6.2f} %"
        print(line)
        return predicted

    results = {}
    for path in args.models:
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        input_name = session.get_inputs()[0].name

        def run(x):
            return np.concatenate([session.run(None, {input_name: np.ascontiguousarray(x[i:i + 16])})[0]
                                   for i in range(0, len(x), 16)])
        name = os.path.basename(path)
        views = {view: run(transform(batch)) for view, transform in VIEWS.items()}
        results[name] = views["as is"]
        for view, probabilities in views.items():
            report(f"{name}, {view}", probabilities)
        report(f"{name}, averaged with left-right", (views["as is"] + views["left-right"]) / 2)
        report(f"{name}, averaged over all eight", sum(views.values()) / len(views))
    for size in range(2, len(results) + 1):
        for group in itertools.combinations(results, size):
            report(" + ".join(group), sum(results[m] for m in group) / size)
    wrong = sum((p.argmax(1) != truth).astype(int) for p in results.values())
    print(f"wrong in every model ({len(results)}):")
    for k in np.flatnonzero(wrong == len(results)):
        print(f"  {photos[k]}: " + ", ".join(labels[p[k].argmax()] for p in results.values()))


if __name__ == "__main__":
    main()
