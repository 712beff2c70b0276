#!/usr/bin/env python3
"""Auge against its peers on the same ONNX models, same thread counts, same session.

For each model and thread count, in alternating rounds: `auge bench` (batch-1 latency p50, its own
warm-up and timing), ONNX Runtime (CPU provider, all graph optimisations, intra-op threads = T),
OpenVINO when it is installed (FP32, latency hint, T threads) and ncnn when it is installed (FP32
storage and arithmetic, T threads; the ONNX file converted once with the pnnx tool). Prints one table
with medians over the rounds and the ratios Auge / peer (below 1: Auge is faster), and each peer's
largest output difference from ONNX Runtime as a check that all ran the same model.

Optional peers: `$PY -m pip install openvino ncnn` and `$PY -m pip install --no-deps pnnx` (pnnx
declares a torch dependency that its converter binary does not need).

Models: the peer kit's benchmark models (inspect-small 128x128, MobileNetV2 and ResNet-18 224x224,
seeded random weights), built with ../shared/peers/make_models.py into --models-dir, or any .onnx
files given with --model.

Usage: PY=$(scripts/python-env.sh); $PY bench/compare.py [--threads 1,2] [--rounds 3] [--seconds 2]
"""
import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def auge_p50(auge, model, threads, seconds):
    out = subprocess.run([auge, "bench", "--model", model, "--threads", str(threads), "--batch", "1",
                          "--seconds", str(seconds), "--format", "json"], check=True, capture_output=True, text=True).stdout
    return json.loads(out)["runs"][0]["latency_ms"]["p50"]


def timed_p50(run, seconds):
    for _ in range(10):
        run()
    times, end = [], time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 20:
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def ort_p50(model, threads, seconds):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    x = np.random.default_rng(0).standard_normal([1] + list(inp.shape[1:])).astype(np.float32)
    return timed_p50(lambda: session.run(None, {inp.name: x}), seconds)


def openvino_p50(model, threads, seconds, precision="f32"):
    """OpenVINO's latency; precision None leaves its default (BF16 on a CPU with AVX512_BF16; a QDQ file's
    int8 layers run in int8 either way)."""
    try:
        import openvino as ov
    except ImportError:
        return None
    core = ov.Core()
    network = core.read_model(model)
    shape = [1] + [d.get_length() for d in network.inputs[0].get_partial_shape()[1:]]
    network.reshape({network.inputs[0]: shape})
    config = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1", "INFERENCE_NUM_THREADS": str(threads)}
    if precision:
        config["INFERENCE_PRECISION_HINT"] = precision
    compiled = core.compile_model(network, "CPU", config)
    request = compiled.create_infer_request()
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    return timed_p50(lambda: request.infer({0: x}), seconds)


def pnnx_binary():
    """The converter binary inside the pnnx package, found without importing it (the module imports torch)."""
    spec = importlib.util.find_spec("pnnx")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(spec.submodule_search_locations[0], "pnnx")
    return path if os.access(path, os.X_OK) else None


class NcnnModel:
    """One model converted to ncnn (FP32 weights), run batch-1 like ncnn's own benchmark: a fresh extractor per run."""

    def __init__(self, model, work):
        import ncnn
        self.ncnn = ncnn
        session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
        self.shape = [1] + list(session.get_inputs()[0].shape[1:])
        base = os.path.join(work, os.path.basename(model)[:-5].replace("-", "_"))
        if not os.path.exists(base + ".ncnn.param"):
            target = base + ".onnx"
            subprocess.run(["cp", model, target], check=True)
            subprocess.run([pnnx_binary(), target, "inputshape=[" + ",".join(map(str, self.shape)) + "]", "fp16=0"],
                           cwd=work, check=True, capture_output=True)
        self.base = base

    def net(self, threads):
        net = self.ncnn.Net()
        options = net.opt
        options.num_threads = threads
        options.lightmode = True
        options.use_fp16_storage = options.use_fp16_packed = options.use_fp16_arithmetic = options.use_bf16_storage = False
        net.load_param(self.base + ".ncnn.param")
        net.load_model(self.base + ".ncnn.bin")
        return net

    def infer(self, net, x):
        extractor = net.create_extractor()
        extractor.input("in0", self.ncnn.Mat(x[0]).clone())
        _, out = extractor.extract("out0")
        return np.array(out).reshape(-1)

    def p50(self, threads, seconds):
        net = self.net(threads)
        x = np.random.default_rng(0).standard_normal(self.shape).astype(np.float32)
        return timed_p50(lambda: self.infer(net, x), seconds)

    def max_difference(self):
        session = ort.InferenceSession(self.base + ".onnx", providers=["CPUExecutionProvider"])
        x = np.random.default_rng(1).standard_normal(self.shape).astype(np.float32)
        reference = session.run(None, {session.get_inputs()[0].name: x})[0].reshape(-1)
        return float(np.abs(self.infer(self.net(1), x) - reference).max())


def ncnn_models(models, work):
    """ncnn versions of the models, or {} (saying why) when ncnn or pnnx is not installed."""
    if importlib.util.find_spec("ncnn") is None or pnnx_binary() is None:
        print("# ncnn: not installed (pip install ncnn; pip install --no-deps pnnx), left out", file=sys.stderr)
        return {}
    return {model: NcnnModel(model, work) for model in models}


def max_difference(auge, model, work):
    """Largest |Auge - ONNX Runtime| over the outputs for one random batch-1 input (a correctness check)."""
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    x = np.random.default_rng(1).standard_normal([1] + list(inp.shape[1:])).astype(np.float32)
    np.save(os.path.join(work, "x.npy"), x)
    subprocess.run([auge, "run", model, "--input", os.path.join(work, "x.npy"), "-o", os.path.join(work, "y.npy")], check=True)
    return float(np.abs(np.load(os.path.join(work, "y.npy")) - session.run(None, {inp.name: x})[0]).max())


def peer_arguments(description):
    """The options every peer comparison takes: where the peer kit and its models are, threads, rounds, auge."""
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models-dir", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "auge-peer-models"))
    ap.add_argument("--peers", default=os.path.join(ROOT, "..", "shared", "peers"))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--auge", default=os.path.join(ROOT, ".build", "release", "auge"))
    return ap


def peer_models(args):
    """The peer kit's three benchmark models, built into --models-dir the first time."""
    names = ("inspect-small", "mobilenetv2", "resnet18")
    if not all(os.path.exists(os.path.join(args.models_dir, name + ".onnx")) for name in names):
        subprocess.run([sys.executable, os.path.join(args.peers, "make_models.py"), args.models_dir], check=True,
                       stdout=subprocess.DEVNULL)
    return [os.path.join(args.models_dir, name + ".onnx") for name in names]


def main():
    ap = peer_arguments(__doc__)
    ap.add_argument("--model", action="append", help="an ONNX model (repeatable); default: the peer kit's three")
    args = ap.parse_args()
    models = args.model or peer_models(args)
    threads = [int(t) for t in args.threads.split(",")]
    work = tempfile.mkdtemp(prefix="auge-compare-")
    differences = {model: max_difference(args.auge, model, work) for model in models}
    ncnn = ncnn_models(models, work)
    ncnn_differences = {model: converted.max_difference() for model, converted in ncnn.items()}
    results = {}
    for _ in range(args.rounds):
        for model in models:
            for t in threads:
                row = results.setdefault((model, t), {"auge": [], "ort": [], "openvino": [], "ncnn": []})
                row["auge"].append(auge_p50(args.auge, model, t, args.seconds))
                row["ort"].append(ort_p50(model, t, args.seconds))
                ov = openvino_p50(model, t, args.seconds)
                if ov is not None:
                    row["openvino"].append(ov)
                if model in ncnn:
                    row["ncnn"].append(ncnn[model].p50(t, args.seconds))
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
    print(f"# {cpu}, {os.cpu_count()} cores; {time.strftime('%Y-%m-%d', time.gmtime())}; batch-1 latency p50 in ms, "
          f"median of {args.rounds} rounds; onnxruntime {ort.__version__}")
    print("| model | threads | Auge | ONNX Runtime | Auge / ORT | OpenVINO | Auge / OpenVINO | ncnn | Auge / ncnn "
          "| max abs diff vs ORT: Auge | ncnn |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for (model, t), row in results.items():
        a, o = statistics.median(row["auge"]), statistics.median(row["ort"])

        def peer(name):
            if not row[name]:
                return "- | -"
            p = statistics.median(row[name])
            return f"{p:.3f} | {a / p:.2f}"
        ncnn_difference = f"{ncnn_differences[model]:.1e}" if model in ncnn_differences else "-"
        print(f"| {os.path.basename(model)[:-5]} | {t} | {a:.3f} | {o:.3f} | {a / o:.2f} | {peer('openvino')} | {peer('ncnn')} "
              f"| {differences[model]:.1e} | {ncnn_difference} |")


if __name__ == "__main__":
    main()
