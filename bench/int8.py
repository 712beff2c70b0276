#!/usr/bin/env python3
"""INT8 beside every peer at any precision, on the same files, in one run.

For each model: the FP32 file, and an INT8 QDQ file that every runtime runs as it is (per-channel int8
weights, uint8 activations). The peer kit's benchmark models (seeded random weights) are quantized by
ONNX Runtime's `quantize_static` on random inputs (their figures are for latency only); Auge's default
model is quantized by `auge quantize --calibrate SampleImages` (Auge's own QDQ writer). Timed in
alternating rounds at each thread count, batch 1: Auge FP32 and INT8 (`auge bench`), ONNX Runtime FP32
and INT8, OpenVINO FP32 and its default precision (BF16 on a CPU with AVX512_BF16) on the FP32 file,
and OpenVINO on the QDQ file. Prints medians over the rounds, the best peer at any precision, and Auge
INT8 against it (below 1: Auge is faster); also Auge INT8's largest output difference from ONNX
Runtime INT8 on one random input.

Usage: PY=$(scripts/python-env.sh); $PY bench/int8.py [--threads 1,2] [--rounds 3] [--seconds 2]
(openvino: `$PY -m pip install openvino`; without it those columns are left out)
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import ROOT, auge_p50, max_difference, openvino_p50, ort_p50, peer_arguments, peer_models  # noqa: E402


class RandomInputs(CalibrationDataReader):
    def __init__(self, name, shape, count=16):
        rng = np.random.default_rng(0)
        self.batches = iter([{name: rng.standard_normal(shape).astype(np.float32)} for _ in range(count)])

    def get_next(self):
        return next(self.batches, None)


def quantize_with_ort(model, work):
    """ORT's static QDQ quantizer on a batch-1 copy of `model`; returns the QDQ file."""
    base = os.path.join(work, os.path.basename(model)[:-5])
    network = onnx.load(model)
    dims = network.graph.input[0].type.tensor_type.shape.dim
    shape = [1] + [d.dim_value for d in dims[1:]]
    dims[0].ClearField("dim_param")
    dims[0].dim_value = 1
    onnx.save(network, base + ".batch1.onnx")
    quant_pre_process(base + ".batch1.onnx", base + ".pre.onnx", skip_symbolic_shape=True)
    quantize_static(base + ".pre.onnx", base + ".int8.onnx", RandomInputs(network.graph.input[0].name, shape),
                    quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8)
    return base + ".int8.onnx"


def main():
    args = peer_arguments(__doc__).parse_args()
    work = tempfile.mkdtemp(prefix="auge-int8-")
    pairs = [(fp32, quantize_with_ort(fp32, work)) for fp32 in peer_models(args)]
    default = os.path.join(ROOT, "Models", "default.onnx")
    default_int8 = os.path.join(work, "default.int8.onnx")
    subprocess.run([args.auge, "quantize", default, "--calibrate", os.path.join(ROOT, "SampleImages"), "-o", default_int8],
                   check=True, capture_output=True)
    pairs.append((default, default_int8))
    differences = {int8: max_difference(args.auge, int8, work) for _, int8 in pairs}
    threads = [int(t) for t in args.threads.split(",")]
    columns = ("auge_fp32", "auge_int8", "ort_fp32", "ort_int8", "openvino_fp32", "openvino_default", "openvino_int8")
    results = {}
    for _ in range(args.rounds):
        for fp32, int8 in pairs:
            for t in threads:
                row = results.setdefault((fp32, t), {c: [] for c in columns})
                measured = {
                    "auge_fp32": auge_p50(args.auge, fp32, t, args.seconds),
                    "auge_int8": auge_p50(args.auge, int8, t, args.seconds),
                    "ort_fp32": ort_p50(fp32, t, args.seconds),
                    "ort_int8": ort_p50(int8, t, args.seconds),
                    "openvino_fp32": openvino_p50(fp32, t, args.seconds),
                    "openvino_default": openvino_p50(fp32, t, args.seconds, precision=None),
                    "openvino_int8": openvino_p50(int8, t, args.seconds, precision=None),
                }
                for column, value in measured.items():
                    if value is not None:
                        row[column].append(value)
    print(f"# {time.strftime('%Y-%m-%d', time.gmtime())}, {os.cpu_count()} cores; batch-1 latency p50 in ms, median of "
          f"{args.rounds} rounds; onnxruntime {ort.__version__}; auge: {args.auge}")
    print("| model | threads | Auge FP32 | Auge INT8 | ORT FP32 | ORT INT8 | OpenVINO FP32 | OpenVINO default (BF16) "
          "| OpenVINO INT8 | best peer | Auge INT8 / best peer | max abs diff Auge INT8 vs ORT INT8 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for (fp32, t), row in results.items():
        median = {c: statistics.median(v) if v else None for c, v in row.items()}
        best = min(v for c, v in median.items() if v is not None and not c.startswith("auge"))
        cells = " | ".join(f"{median[c]:.3f}" if median[c] is not None else "-" for c in columns)
        int8 = dict(pairs)[fp32]
        print(f"| {os.path.basename(fp32)[:-5]} | {t} | {cells} | {best:.3f} | {median['auge_int8'] / best:.2f} "
              f"| {differences[int8]:.1e} |")


if __name__ == "__main__":
    main()
