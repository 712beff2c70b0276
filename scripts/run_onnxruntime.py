#!/usr/bin/env python3
"""Runs ONNX models in ONNX Runtime for the Swift round-trip tests (and by hand).

Usage:  run_onnxruntime.py JOBS.json
JOBS.json is a list of {"model": path, "inputs": {name: float32 .npy path}, "outdir": path, "exact": bool}.
"exact" (optional): graph optimizations off, so that a QDQ model runs its float arithmetic as written
rather than on ONNX Runtime's int8 kernels (which saturate on 8-bit weights on x86 without VNNI).
For each job: checks the model with onnx.checker (full check), runs it and writes
outdir/output<i>.npy for the graph outputs in order, plus outdir/result.json:
{"outputs": [names], "metadata": {metadata_props}, "opset": n}.
One process for all jobs, because importing onnxruntime is the slow part.
"""
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort


def run(job):
    model = onnx.load(job["model"])
    onnx.checker.check_model(model, full_check=True)
    feeds = {name: np.load(path) for name, path in job["inputs"].items()}
    options = ort.SessionOptions()
    if job.get("exact"):
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(job["model"], options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    for i, value in enumerate(session.run(names, feeds)):
        np.save(os.path.join(job["outdir"], f"output{i}.npy"), np.ascontiguousarray(value, dtype=np.float32))
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    result = {"outputs": names, "metadata": {p.key: p.value for p in model.metadata_props}, "opset": opset}
    with open(os.path.join(job["outdir"], "result.json"), "w") as f:
        json.dump(result, f)


def main():
    with open(sys.argv[1]) as f:
        for job in json.load(f):
            run(job)


if __name__ == "__main__":
    main()
