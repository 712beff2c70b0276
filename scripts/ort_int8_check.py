#!/usr/bin/env python3
"""Does ONNX Runtime run an INT8 (QDQ) file right on this machine? Runs the file twice on the same photos:
on ONNX Runtime's int8 kernels (all graph optimizations, as an application would) and with graph
optimizations off, which computes the QDQ file's own arithmetic in float (no int8 kernel). On a CPU
with VNNI the two agree up to rounding: top-1 on nearly every photo, outputs within a few output steps.
On x86 without VNNI, ONNX Runtime's u8 x s8 products saturate on 8-bit weights and the first column
falls apart; `auge quantize --weight-bits 7` writes a file they compute exactly.

Photos are stretched to the model's input size with Pillow (bilinear); mean and std come from the
file's Auge metadata (auge.mean / auge.std), or --mean / --std.

Usage: ort_int8_check.py MODEL.onnx PHOTO_DIR [--mean 0.5,0.5,0.5] [--std 0.25,0.25,0.25]
Prints one line: photos, top-1 agreement, largest absolute output difference."""
import argparse
import glob
import json
import os

import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image


def session(model, optimized):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    if not optimized:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("photos")
    parser.add_argument("--mean")
    parser.add_argument("--std")
    args = parser.parse_args()
    metadata = {p.key: p.value for p in onnx.load(args.model, load_external_data=False).metadata_props}
    mean = np.array(json.loads(f"[{args.mean}]") if args.mean else json.loads(metadata.get("auge.mean", "[0,0,0]")), np.float32)
    std = np.array(json.loads(f"[{args.std}]") if args.std else json.loads(metadata.get("auge.std", "[1,1,1]")), np.float32)
    kernels, plain = session(args.model, True), session(args.model, False)
    name = kernels.get_inputs()[0].name
    _, channels, height, width = kernels.get_inputs()[0].shape
    photos = sorted(p for p in glob.glob(os.path.join(args.photos, "**", "*"), recursive=True) if os.path.isfile(p))
    agree, largest, count = 0, 0.0, 0
    for path in photos:
        try:
            image = Image.open(path).convert("L" if channels == 1 else "RGB").resize((width, height), Image.BILINEAR)
        except OSError:
            continue
        pixels = np.asarray(image, np.float32).reshape(height, width, channels) / 255
        x = ((pixels - mean) / std).transpose(2, 0, 1)[None].astype(np.float32)
        a, b = kernels.run(None, {name: x})[0][0], plain.run(None, {name: x})[0][0]
        agree += int(a.argmax() == b.argmax())
        largest = max(largest, float(np.abs(a - b).max()))
        count += 1
    print(f"{args.model}: {count} photos, ONNX Runtime's int8 kernels against the file's float arithmetic: "
          f"top-1 agrees on {agree}, largest output difference {largest:.4f}")


if __name__ == "__main__":
    main()
