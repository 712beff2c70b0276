#!/usr/bin/env python3
"""Runs one ONNX model in ONNX Runtime for the Swift round-trip tests (and by hand).

Usage:  run_onnxruntime.py MODEL OUTDIR NAME=INPUT.npy [NAME=INPUT.npy ...]
Checks the model with onnx.checker (full check), runs it on the float32 .npy inputs and writes
OUTDIR/output<i>.npy for the graph outputs in order, plus OUTDIR/result.json:
{"outputs": [names], "metadata": {metadata_props}, "opset": n}.
"""
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort


def main():
    model_path, out_dir, *feeds = sys.argv[1:]
    model = onnx.load(model_path)
    onnx.checker.check_model(model, full_check=True)
    inputs = {}
    for feed in feeds:
        name, path = feed.split("=", 1)
        inputs[name] = np.load(path)
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    for i, value in enumerate(session.run(names, inputs)):
        np.save(os.path.join(out_dir, f"output{i}.npy"), np.ascontiguousarray(value, dtype=np.float32))
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    result = {"outputs": names, "metadata": {p.key: p.value for p in model.metadata_props}, "opset": opset}
    with open(os.path.join(out_dir, "result.json"), "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
