#!/usr/bin/env python3
"""Builds the ONNX fixtures of the AugeONNX tests with onnx.helper and seeded numpy weights.

For every case it writes  <case>.onnx, its inputs and ONNX Runtime's outputs as float32 .npy files,
and a manifest.json the Swift tests read. It also writes a corpus of malformed models (malformed/),
each with the words its error message must contain.

Cases cover every op the importer supports, the opset quirks (Clip min/max attributes vs inputs,
Pad attributes vs inputs vs axes, Reshape, Split, Softmax's axis before and after opset 13, Squeeze
and Unsqueeze axes as input, Dropout, Constant node forms, typed initializers), a PyTorch-style
shape-arithmetic export, and reduced-width MobileNetV2, ResNet-18, EfficientNet-Lite and SqueezeNet.

Usage:  PY=$(scripts/python-env.sh) && $PY scripts/make_onnx_fixtures.py [outdir]
        (default outdir: Tests/AugeONNXTests/Fixtures). Deterministic: reruns give identical files.
"""
import json
import os
import shutil
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "Tests", "AugeONNXTests", "Fixtures")
TOLERANCE = 1e-4


class Builder:
    """Accumulates nodes and initializers of one model; weights come from one seeded generator."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.nodes = []
        self.initializers = []
        self.counter = 0

    def uid(self, prefix):
        self.counter += 1
        return f"{prefix}{self.counter}"

    def const(self, name, array, raw=True):
        """An initializer; raw=False stores it in the typed field (float_data, int64_data, ...)."""
        array = np.asarray(array)
        if raw:
            tensor = numpy_helper.from_array(array, name)
        else:
            data_type = helper.np_dtype_to_tensor_dtype(array.dtype)
            tensor = helper.make_tensor(name, data_type, array.shape, array.flatten().tolist(), raw=False)
        self.initializers.append(tensor)
        return name

    def node(self, op, inputs, outputs=None, name=None, **attrs):
        name = name or self.uid(op.lower())
        outputs = outputs or [name + "_out"]
        self.nodes.append(helper.make_node(op, inputs, outputs, name=name, **attrs))
        return outputs[0] if len(outputs) == 1 else outputs

    def weights(self, shape, fan_in):
        return (self.rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)

    def conv(self, x, cin, cout, k, stride=1, group=1, bias=True, pad=None, raw=True, **attrs):
        name = self.uid("conv")
        inputs = [x, self.const(name + ".weight", self.weights((cout, cin // group, k, k), cin // group * k * k), raw)]
        if bias:
            inputs.append(self.const(name + ".bias", (self.rng.standard_normal(cout) * 0.1).astype(np.float32), raw))
        p = k // 2 if pad is None else pad
        if "auto_pad" not in attrs:
            attrs["pads"] = [p, p, p, p]
        return self.node("Conv", inputs, name=name, kernel_shape=[k, k], strides=[stride, stride], group=group, **attrs)

    def bn(self, x, c, **attrs):
        name = self.uid("bn")
        r = self.rng
        params = [
            (1.0 + 0.1 * r.standard_normal(c)),
            (0.1 * r.standard_normal(c)),
            (0.1 * r.standard_normal(c)),
            (1.0 + 0.2 * np.abs(r.standard_normal(c))),
        ]
        inputs = [x] + [self.const(f"{name}.{p}", v.astype(np.float32)) for p, v in zip(["scale", "B", "mean", "var"], params)]
        return self.node("BatchNormalization", inputs, name=name, epsilon=1e-3, **attrs)

    def gemm(self, x, cin, cout, trans_b=1, **attrs):
        name = self.uid("gemm")
        w = self.weights((cout, cin) if trans_b else (cin, cout), cin)
        b = (self.rng.standard_normal(cout) * 0.1).astype(np.float32)
        return self.node("Gemm", [x, self.const(name + ".weight", w), self.const(name + ".bias", b)], name=name, transB=trans_b, **attrs)

    def relu6(self, x, opset):
        if opset < 11:
            return self.node("Clip", [x], min=0.0, max=6.0)
        return self.node("Clip", [x, self.const(self.uid("six_min"), np.float32(0)), self.const(self.uid("six_max"), np.float32(6))])

    def model(self, inputs, outputs, opset, ir_version=None, initializers_as_inputs=False):
        graph_inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs]
        if initializers_as_inputs:  # how IR version 3 files (opset <= 8 era) list their weights
            graph_inputs += [helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in self.initializers]
        graph = helper.make_graph(
            self.nodes, "g", graph_inputs,
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in outputs],
            self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="make_onnx_fixtures")
        model.ir_version = ir_version or min(onnx.helper.find_min_ir_version_for([helper.make_opsetid("", opset)]), 10)
        return model


CASES = []


def case(name, opset, inputs, batch=1, ir_version=None, initializers_as_inputs=False, step=None, quantized_layers=None):
    """Registers a fixture: the decorated function fills a Builder and returns its output names.
    inputs: [(name, shape with "N" for the symbolic batch)]. step: a quantized output's quantization
    step; a runtime that sums in another order may land one step away where a value sits on a
    rounding edge, so results are compared to within one step there. quantized_layers: requantizations in
    series before the output (default 1); each may move a value on an edge, so more of them may differ."""
    def register(build):
        CASES.append(dict(name=name, opset=opset, inputs=inputs, batch=batch, build=build,
                          ir_version=ir_version, initializers_as_inputs=initializers_as_inputs, step=step,
                          quantized_layers=quantized_layers))
        return build
    return register


X = [("x", ["N", 3, 8, 8])]
X1 = [("x", [1, 3, 8, 8])]

# ---- single ops ----------------------------------------------------------------------------------


@case("conv_basic", 13, X, batch=2)
def _(b):
    return [b.conv("x", 3, 4, 3)]


@case("conv_strided_dilated_asymmetric", 11, X1)
def _(b):
    return [b.conv("x", 3, 5, 3, stride=2, bias=False, pad=0, pads=[0, 1, 2, 1], dilations=[2, 2])]


@case("conv_auto_pad_same_upper", 9, X1)
def _(b):
    return [b.conv("x", 3, 4, 3, stride=2, auto_pad="SAME_UPPER")]


@case("conv_grouped_and_depthwise_float_data", 13, X1)
def _(b):
    g = b.conv("x", 3, 6, 3, group=3, raw=False)
    return [b.conv(g, 6, 6, 3, group=2, raw=False, pad=1)]


@case("batchnorm_opset7_spatial", 7, X1, ir_version=3, initializers_as_inputs=True)
def _(b):
    return [b.bn("x", 3, spatial=1)]


@case("batchnorm_opset15_training_mode_off", 15, X1)
def _(b):
    return [b.bn("x", 3, training_mode=0)]


@case("activations", 14, X1)
def _(b):
    return [
        b.node("Relu", ["x"]),
        b.node("LeakyRelu", ["x"], alpha=0.2),
        b.node("Sigmoid", ["x"]),
        b.node("HardSigmoid", ["x"], alpha=0.3, beta=0.4),
        b.node("HardSwish", ["x"]),
        b.node("Tanh", ["x"]),
    ]


@case("silu_sigmoid_mul", 13, X1)
def _(b):
    return [b.node("Mul", ["x", b.node("Sigmoid", ["x"])])]


@case("clip_opset7_attributes", 7, X1)
def _(b):
    return [b.node("Clip", ["x"], min=-0.5, max=0.7), b.node("Clip", ["x"], max=0.1)]


@case("clip_opset11_inputs", 11, X1)
def _(b):
    lo, hi = b.const("lo", np.float32(-0.3)), b.const("hi", np.float32(0.4))
    return [b.node("Clip", ["x", lo, hi]), b.node("Clip", ["x", "", hi]), b.node("Clip", ["x", lo]), b.node("Clip", ["x"])]


@case("clip_opset13_constant_node_bounds", 13, X1)
def _(b):
    lo = b.node("Constant", [], value=numpy_helper.from_array(np.array(-1.0, np.float32)))
    hi = b.node("Constant", [], value_float=0.25)
    return [b.node("Clip", ["x", lo, hi])]


@case("binary_ops_broadcast", 13, [("x", ["N", 3, 8, 8]), ("y", ["N", 3, 8, 8])], batch=2)
def _(b):
    per_channel = b.const("per_channel", b.rng.standard_normal((1, 3, 1, 1)).astype(np.float32))
    row = b.const("row", b.rng.standard_normal(8).astype(np.float32))
    s = b.node("Add", ["x", "y"])
    m = b.node("Mul", [s, per_channel])
    a = b.node("Add", [row, m])
    d = b.node("Div", [a, b.const("two", np.float32(2.0))])
    return [b.node("Sub", [d, per_channel]), b.node("Mul", ["x", "y"])]


@case("reciprocal_and_div", 13, [("x", ["N", 3, 5, 7]), ("y", ["N", 3, 5, 7])], batch=2)
def _(b):
    # Divisors kept away from zero: y² + 0.5.
    divisor = b.node("Add", [b.node("Mul", ["y", "y"]), b.const("half", np.float32(0.5))])
    per_channel = b.node("ReduceMean", [divisor], axes=[2, 3], keepdims=1)
    return [
        b.node("Reciprocal", [divisor]),
        b.node("Div", ["x", divisor]),
        b.node("Div", ["x", per_channel]),
        b.node("Div", [b.const("three", np.float32(3.0)), divisor]),
    ]


@case("pooling", 10, [("x", [1, 3, 9, 9])])
def _(b):
    return [
        b.node("MaxPool", ["x"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        b.node("MaxPool", ["x"], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1),
        b.node("AveragePool", ["x"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 0, 1, 2], count_include_pad=0),
        b.node("AveragePool", ["x"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1),
        b.node("AveragePool", ["x"], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1),
        b.node("GlobalAveragePool", ["x"]),
    ]


@case("pooling_opset7_auto_pad", 7, X1)
def _(b):
    return [
        b.node("MaxPool", ["x"], kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER"),
        b.node("AveragePool", ["x"], kernel_shape=[2, 2], auto_pad="VALID"),
    ]


@case("concat_reduce_mean", 13, X, batch=2)
def _(b):
    c = b.node("Concat", ["x", b.node("Relu", ["x"])], axis=1)
    return [c, b.node("ReduceMean", [c], axes=[2, 3], keepdims=1), b.node("ReduceMean", [c], axes=[-1, -2], keepdims=0)]


@case("reduce_min_max_resize_sqrt", 13, X, batch=2)
def _(b):
    # The operators of Auge's anomaly models: nearest-neighbour ReduceMin, bilinear Resize (both forms), Sqrt.
    r = b.node("Relu", ["x"])
    scales = b.const("scales", np.array([1, 1, 2, 2], np.float32))
    sizes = b.const("sizes", np.array([2, 3, 5, 7], np.int64))
    return [
        b.node("ReduceMin", [r], axes=[1], keepdims=1),
        b.node("ReduceMax", [r], axes=[-1], keepdims=0),
        b.node("Sqrt", [r]),
        b.node("Resize", [r, "", scales], mode="linear", coordinate_transformation_mode="half_pixel"),
        b.node("Resize", [r, "", "", sizes], mode="linear", coordinate_transformation_mode="pytorch_half_pixel"),
    ]


@case("reduce_min_axes_input_opset18", 18, X1)
def _(b):
    return [b.node("ReduceMin", ["x", b.const("axes", np.array([1], np.int64))], keepdims=1)]


@case("pad_opset7_attributes", 7, X1)
def _(b):
    return [b.node("Pad", ["x"], pads=[0, 0, 1, 2, 0, 0, 2, 1], value=0.5, mode="constant")]


@case("pad_opset11_inputs", 11, X1)
def _(b):
    pads = b.const("pads", np.array([0, 0, 0, 1, 0, 0, 2, 0], np.int64))
    return [b.node("Pad", ["x", pads, b.const("value", np.float32(-1.5))]), b.node("Pad", ["x", pads])]


@case("pad_opset18_axes", 18, X1)
def _(b):
    pads = b.const("pads", np.array([1, 2, 3, 0], np.int64))
    axes = b.const("axes", np.array([-1, 2], np.int64))
    return [b.node("Pad", ["x", pads, b.const("value", np.float32(0.25)), axes])]


@case("flatten_reshape", 13, X, batch=2)
def _(b):
    f1 = b.node("Flatten", ["x"], axis=1)
    f2 = b.node("Flatten", ["x"], axis=-2)
    r = b.node("Reshape", ["x", b.const("shape", np.array([0, 6, -1, 2], np.int64))])
    r0 = b.node("Reshape", ["x", b.const("shape_flat", np.array([0, -1], np.int64))])
    return [f1, f2, r, r0]


@case("reshape_allowzero_int32_shape", 14, X1)
def _(b):
    shape32 = b.const("shape32", np.array([1, 12, 16], np.int32), raw=False)
    shape = b.node("Cast", [shape32], to=TensorProto.INT64)
    return [b.node("Reshape", ["x", shape], allowzero=1)]


@case("squeeze_unsqueeze_opset11_attributes", 11, X)
def _(b):
    p = b.node("GlobalAveragePool", ["x"])
    s = b.node("Squeeze", [p], axes=[2, 3])
    u = b.node("Unsqueeze", [s], axes=[1])
    return [s, u]


@case("squeeze_unsqueeze_opset13_inputs", 13, X)
def _(b):
    p = b.node("GlobalAveragePool", ["x"])
    s = b.node("Squeeze", [p, b.const("squeeze_axes", np.array([-1, -2], np.int64))])
    u = b.node("Unsqueeze", [s, b.const("unsqueeze_axes", np.array([2, -1], np.int64))])
    return [s, u]


@case("gemm_variants", 11, [("x", ["N", 12])], batch=3)
def _(b):
    g1 = b.gemm("x", 12, 5, alpha=0.5, beta=2.0)
    g2 = b.gemm("x", 12, 4, trans_b=0)
    w = b.const("matmul.weight", b.weights((12, 6), 12))
    g3 = b.node("Gemm", ["x", b.const("gemm_no_c.weight", b.weights((7, 12), 12))], transB=1)
    return [g1, g2, b.node("MatMul", ["x", w]), g3]


@case("gemm_opset7_required_c", 7, [("x", [2, 12])], ir_version=3)
def _(b):
    return [b.gemm("x", 12, 5)]


@case("softmax_opset11_coerced_2d", 11, X1)
def _(b):
    return [b.node("Softmax", ["x"], axis=1), b.node("Softmax", ["x"])]


@case("softmax_opset13_single_axis", 13, X1)
def _(b):
    return [b.node("Softmax", ["x"], axis=1), b.node("Softmax", ["x"])]


@case("identity_dropout", 12, X1)
def _(b):
    d1 = b.node("Dropout", ["x"], outputs=["d1", "mask"])
    d2 = b.node("Dropout", [d1[0], b.const("ratio", np.float32(0.3))])
    return [b.node("Identity", [d2])]


@case("dropout_opset7_ratio_attribute", 7, X1)
def _(b):
    return [b.node("Relu", [b.node("Dropout", ["x"], ratio=0.4)])]


@case("typed_initializers", 13, X1)
def _(b):
    scale64 = b.const("scale64", np.linspace(0.5, 1.5, 3).reshape(1, 3, 1, 1), raw=False)
    scale = b.node("Cast", [scale64], to=TensorProto.FLOAT)
    bias = b.const("bias_float_data", np.array([0.1, -0.2, 0.3], np.float32).reshape(1, 3, 1, 1), raw=False)
    shape = b.const("shape_int64_data", np.array([1, -1], np.int64), raw=False)
    return [b.node("Reshape", [b.node("Add", [b.node("Mul", ["x", scale]), bias]), shape])]


@case("split_constant_folded", 13, X)
def _(b):
    # A constant split by Split (sizes as input since opset 13) feeding Reshape and Mul.
    parts = b.node("Split", [b.const("packed", np.array([0, 24, 8, 2, 1, 3], np.int64)), b.const("sizes", np.array([3, 3], np.int64))],
                   outputs=["shape_part", "scale_part"], axis=0)
    r = b.node("Reshape", ["x", parts[0]])
    scale = b.node("Cast", [b.node("Reshape", [parts[1], b.const("to_channel", np.array([1, 3, 1, 1], np.int64))])], to=TensorProto.FLOAT)
    return [r, b.node("Mul", ["x", scale])]


@case("split_opset18_num_outputs", 18, X1)
def _(b):
    parts = b.node("Split", [b.const("halves", np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], np.float32))], outputs=["h1", "h2"], num_outputs=2)
    return [b.node("Add", ["x", b.node("Reshape", [parts[1], b.const("channel", np.array([1, 3, 1, 1], np.int64))])])]


@case("pytorch_export_shape_arithmetic", 11, X, batch=2)
def _(b):
    # What torch.onnx.export emits for x.view(x.size(0), -1) and x.reshape(n, c * h, w) (opset 11).
    c = b.conv("x", 3, 4, 3)
    shape = b.node("Shape", [c])
    n = b.node("Gather", [shape, b.const("zero", np.array(0, np.int64))], axis=0)
    ch = b.node("Mul", [b.node("Gather", [shape, b.const("one", np.array(1, np.int64))]),
                        b.node("Gather", [shape, b.const("two", np.array(2, np.int64))])])
    w = b.node("Slice", [shape, b.const("s3", np.array([3], np.int64)), b.const("s4", np.array([4], np.int64))])
    view = b.node("Concat", [b.node("Unsqueeze", [n], axes=[0]), b.const("minus_one", np.array([-1], np.int64))], axis=0)
    flat = b.node("Reshape", [c, view])
    three = b.node("Concat", [b.node("Unsqueeze", [n], axes=[0]), b.node("Unsqueeze", [ch], axes=[0]), w], axis=0)
    return [b.gemm(flat, 256, 3), b.node("Reshape", [c, three])]


@case("pytorch_export_opset13_flatten_variants", 13, X, batch=2)
def _(b):
    c = b.node("Relu", [b.conv("x", 3, 2, 3)])
    shape = b.node("Shape", [c])
    n = b.node("Gather", [shape, b.const("zero", np.array(0, np.int64))], axis=0)
    n1 = b.node("Unsqueeze", [n, b.const("axes0", np.array([0], np.int64))])
    view = b.node("Concat", [n1, b.const("minus_one", np.array([-1], np.int64))], axis=0)
    rest = b.node("Slice", [shape, b.const("from2", np.array([2], np.int64)), b.const("end", np.array([np.iinfo(np.int64).max], np.int64))])
    size = b.node("ReduceProd", [rest], keepdims=1)
    keep_channels = b.node("Concat", [n1, b.const("two_ch", np.array([2], np.int64)), size], axis=0)
    return [b.node("Reshape", [c, view]), b.node("Flatten", [c], axis=1), b.node("Reshape", [c, keep_channels])]


@case("opset21_axes_as_inputs", 21, X, batch=2)
def _(b):
    # Opset 18+ forms at the newest supported opset: ReduceMean axes and Pad axes as inputs.
    c = b.node("Relu", [b.conv("x", 3, 4, 3)])
    padded = b.node("Pad", [c, b.const("pads", np.array([1, 1], np.int64)), b.const("value", np.float32(0.5)), b.const("pad_axes", np.array([3], np.int64))])
    pooled = b.node("ReduceMean", [padded, b.const("mean_axes", np.array([2, 3], np.int64))], keepdims=0)
    return [b.gemm(pooled, 4, 3), b.node("Softmax", [padded], axis=1)]


# ---- quantized (QDQ) ----------------------------------------------------------------------------


def quantize_per_channel(w):
    """Symmetric int8 per output channel, as ORT's quantizer writes weights: int8 values and scales."""
    scales = np.maximum(np.abs(w).reshape(w.shape[0], -1).max(axis=1), 1e-8) / 127
    q = np.clip(np.rint(w / scales.reshape((-1,) + (1,) * (w.ndim - 1))), -127, 127).astype(np.int8)
    return q, scales.astype(np.float32)


@case("qdq_conv_uint8_per_channel", 13, X, batch=2, step=0.05)
def _(b):
    def qdq(x, scale, zero):
        s, z = b.const(b.uid("scale"), np.float32(scale)), b.const(b.uid("zero"), zero)
        return b.node("DequantizeLinear", [b.node("QuantizeLinear", [x, s, z]), s, z])
    x = qdq("x", 0.02, np.uint8(128))
    q, scales = quantize_per_channel(b.weights((5, 3, 3, 3), 27))
    w = b.node("DequantizeLinear", [b.const("conv.weight.q", q), b.const("conv.weight.scale", scales),
                                    b.const("conv.weight.zero", np.zeros(5, np.int8))], axis=0)
    bias = b.const("conv.bias", (b.rng.standard_normal(5) * 0.1).astype(np.float32))
    y = b.node("Relu", [b.node("Conv", [x, w, bias], kernel_shape=[3, 3], pads=[1, 1, 1, 1])])
    return [qdq(y, 0.05, np.uint8(0))]


@case("qdq_residual_block_int8", 13, [("x", ["N", 3, 9, 9])], batch=2, step=0.04, quantized_layers=5)
def _(b):
    # The int8 kernels' paths in one file, as ORT's quantizer writes them (ReLU folded into the
    # following Q): a 3x3 stride-2 first layer (gathered), a 1x1 expansion read directly, a depthwise
    # 3x3 and a 1x1 projection that adds the block's input on codes.
    def qdq(x, scale, zero):
        s, z = b.const(b.uid("scale"), np.float32(scale)), b.const(b.uid("zero"), np.uint8(zero))
        return b.node("DequantizeLinear", [b.node("QuantizeLinear", [x, s, z]), s, z])
    def conv(x, cin, cout, k, stride=1, group=1):
        q, scales = quantize_per_channel(b.weights((cout, cin // group, k, k), cin // group * k * k))
        name = b.uid("conv")
        w = b.node("DequantizeLinear", [b.const(f"{name}.q", q), b.const(f"{name}.scale", scales),
                                        b.const(f"{name}.zero", np.zeros(cout, np.int8))], axis=0)
        bias = b.const(f"{name}.bias", (b.rng.standard_normal(cout) * 0.1).astype(np.float32))
        return b.node("Conv", [x, w, bias], kernel_shape=[k, k], strides=[stride, stride], pads=[k // 2] * 4, group=group)
    x = qdq("x", 0.03, 120)
    stem = qdq(conv(x, 3, 17, 3, stride=2), 0.02, 0)
    expanded = qdq(conv(stem, 17, 40, 1), 0.02, 0)
    depthwise = qdq(conv(expanded, 40, 40, 3, group=40), 0.02, 0)
    projected = qdq(conv(depthwise, 40, 17, 1), 0.03, 128)
    return [qdq(b.node("Add", [projected, stem]), 0.04, 100)]


@case("qdq_gemm_int8_typed_fields", 13, X1)
def _(b):
    pooled = b.node("Flatten", [b.node("GlobalAveragePool", ["x"])])
    s, z = b.const("act.scale", np.float32(0.01)), b.const("act.zero", np.int8(-3), raw=False)
    x = b.node("DequantizeLinear", [b.node("QuantizeLinear", [pooled, s, z]), s, z])
    q, scales = quantize_per_channel(b.weights((4, 3), 3))
    w = b.node("DequantizeLinear", [b.const("fc.weight.q", q, raw=False), b.const("fc.weight.scale", np.float32(scales.max()))])
    bias = b.const("fc.bias", (b.rng.standard_normal(4) * 0.1).astype(np.float32))
    return [b.node("Gemm", [x, w, bias], transB=1)]


# ---- reduced-width networks ----------------------------------------------------------------------

NET_INPUT = [("x", ["N", 3, 32, 32])]


@case("mobilenetv2_small", 11, NET_INPUT, batch=2)
def _(b):
    def block(x, cin, cout, stride, expand):
        hidden = cin * expand
        y = x
        if expand != 1:
            y = b.relu6(b.bn(b.conv(y, cin, hidden, 1, bias=False), hidden), 11)
        y = b.relu6(b.bn(b.conv(y, hidden, hidden, 3, stride=stride, group=hidden, bias=False), hidden), 11)
        y = b.bn(b.conv(y, hidden, cout, 1, bias=False), cout)
        return b.node("Add", [x, y]) if stride == 1 and cin == cout else y

    y = b.relu6(b.bn(b.conv("x", 3, 8, 3, stride=2, bias=False), 8), 11)
    y = block(y, 8, 8, 1, 1)
    for cin, cout, stride in [(8, 12, 2), (12, 12, 1), (12, 16, 2), (16, 16, 1), (16, 24, 1)]:
        y = block(y, cin, cout, stride, 4)
    y = b.relu6(b.bn(b.conv(y, 24, 64, 1, bias=False), 64), 11)
    y = b.node("Flatten", [b.node("GlobalAveragePool", [y])], axis=1)
    return [b.gemm(b.node("Dropout", [y]), 64, 5)]


@case("resnet18_small", 9, NET_INPUT)
def _(b):
    def basic(x, cin, cout, stride):
        y = b.node("Relu", [b.bn(b.conv(x, cin, cout, 3, stride=stride, bias=False), cout)])
        y = b.bn(b.conv(y, cout, cout, 3, bias=False), cout)
        shortcut = x if stride == 1 and cin == cout else b.bn(b.conv(x, cin, cout, 1, stride=stride, bias=False), cout)
        return b.node("Relu", [b.node("Add", [y, shortcut])])

    y = b.node("Relu", [b.bn(b.conv("x", 3, 4, 7, stride=2, bias=False), 4)])
    y = b.node("MaxPool", [y], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    cin = 4
    for cout, stride in [(4, 1), (8, 2), (16, 2), (32, 2)]:
        y = basic(basic(y, cin, cout, stride), cout, cout, 1)
        cin = cout
    y = b.node("Flatten", [b.node("GlobalAveragePool", [y])])
    return [b.gemm(y, 32, 4)]


@case("efficientnet_lite_small", 13, NET_INPUT, batch=2)
def _(b):
    def mbconv(x, cin, cout, k, stride, expand):
        hidden = cin * expand
        y = x if expand == 1 else b.relu6(b.bn(b.conv(x, cin, hidden, 1, bias=False), hidden), 13)
        y = b.relu6(b.bn(b.conv(y, hidden, hidden, k, stride=stride, group=hidden, bias=False), hidden), 13)
        y = b.bn(b.conv(y, hidden, cout, 1, bias=False), cout)
        return b.node("Add", [x, y]) if stride == 1 and cin == cout else y

    y = b.relu6(b.bn(b.conv("x", 3, 8, 3, stride=2, bias=False), 8), 13)
    y = mbconv(y, 8, 8, 3, 1, 1)
    for cin, cout, k, stride in [(8, 12, 3, 2), (12, 12, 3, 1), (12, 16, 5, 2), (16, 16, 5, 1), (16, 24, 3, 2)]:
        y = mbconv(y, cin, cout, k, stride, 6)
    y = b.relu6(b.bn(b.conv(y, 24, 48, 1, bias=False), 48), 13)
    y = b.node("ReduceMean", [y], axes=[2, 3], keepdims=0)
    return [b.node("Softmax", [b.gemm(y, 48, 6)], axis=-1)]


@case("squeezenet_small", 10, NET_INPUT)
def _(b):
    def fire(x, cin, squeeze, expand):
        s = b.node("Relu", [b.conv(x, cin, squeeze, 1)])
        e1 = b.node("Relu", [b.conv(s, squeeze, expand, 1)])
        e3 = b.node("Relu", [b.conv(s, squeeze, expand, 3)])
        return b.node("Concat", [e1, e3], axis=1)

    y = b.node("Relu", [b.conv("x", 3, 8, 3, stride=2, pad=0)])
    y = b.node("MaxPool", [y], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)
    y = fire(fire(y, 8, 4, 8), 16, 4, 8)
    y = b.node("MaxPool", [y], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)
    y = fire(y, 16, 6, 12)
    y = b.node("Dropout", [y], ratio=0.5)
    y = b.node("Relu", [b.conv(y, 24, 5, 1)])
    return [b.node("Flatten", [b.node("GlobalAveragePool", [y])])]


# ---- malformed corpus ----------------------------------------------------------------------------

def malformed_models():
    """(file name, bytes, substrings the error must contain). Substrings are matched case-insensitively."""

    def build(nodes_fn, opset=13, inputs=X1, outputs=None):
        b = Builder(7)
        outs = nodes_fn(b)
        return b.model(inputs, outputs or outs, opset)

    valid = build(lambda b: [b.node("Relu", [b.conv("x", 3, 4, 3)])]).SerializeToString()
    yield "truncated.onnx", valid[: len(valid) // 2], ["truncated.onnx", "protobuf"]
    yield "garbage.onnx", bytes(np.random.default_rng(3).integers(0, 256, 300, dtype=np.uint8)), ["garbage.onnx"]
    yield "empty.onnx", b"", ["empty.onnx", "no graph"]

    def unsupported(b):
        t = b.node("Transpose", ["x"], name="swap_axes", perm=[0, 1, 3, 2])
        l = b.node("LRN", [t], name="local_norm", size=3)
        return [b.node("CustomThing", [l], name="plugin", domain="com.example")]
    yield "unsupported_ops.onnx", build(unsupported).SerializeToString(), ["unsupported", "swap_axes", "Transpose", "local_norm", "LRN", "plugin", "com.example", "opset 13"]

    m = build(lambda b: [b.conv("x", 3, 4, 3)])
    w = m.graph.initializer[0]
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    w.external_data.add(key="location", value="weights.bin")
    yield "external_data.onnx", m.SerializeToString(), ["external", w.name]

    m = build(lambda b: [b.conv("x", 3, 4, 3)])
    m.graph.initializer[0].raw_data = m.graph.initializer[0].raw_data[:100]
    yield "weight_size_mismatch.onnx", m.SerializeToString(), [m.graph.initializer[0].name, "100 bytes"]

    def wrong_channels(b):
        w = b.const("w", b.weights((4, 5, 3, 3), 45))
        return [b.node("Conv", ["x", w], name="bad_conv", kernel_shape=[3, 3])]
    yield "conv_channel_mismatch.onnx", build(wrong_channels).SerializeToString(), ["bad_conv", "channels"]

    yield "dangling_input.onnx", build(lambda b: [b.node("Add", ["x", "nowhere"], name="adder")]).SerializeToString(), ["adder", "nowhere"]

    def cycle(b):
        b.node("Relu", ["x", ], outputs=["a"], name="first")
        b.node("Add", ["a", "c"], outputs=["b"], name="second")
        b.node("Relu", ["b"], outputs=["c"], name="third")
        return ["c"]
    yield "cycle.onnx", build(cycle).SerializeToString(), ["cycle", "second"]

    def mismatched_add(b):
        return [b.node("Add", ["x", b.const("four", np.ones((1, 4, 1, 1), np.float32))], name="broadcast_add")]
    yield "impossible_broadcast.onnx", build(mismatched_add).SerializeToString(), ["broadcast_add", "broadcast"]

    def bad_reshape(b):
        return [b.node("Reshape", ["x", b.const("shape", np.array([5, -1], np.int64))], name="reshaper")]
    yield "impossible_reshape.onnx", build(bad_reshape).SerializeToString(), ["reshaper", "192"]

    def big_pool(b):
        return [b.node("MaxPool", ["x"], name="huge_pool", kernel_shape=[11, 11])]
    yield "pool_larger_than_input.onnx", build(big_pool).SerializeToString(), ["huge_pool"]

    m = build(lambda b: [b.node("Relu", ["x"], name="r")], inputs=[("x", [1, 3, 1 << 20, 1 << 20])])
    yield "absurd_input_dims.onnx", m.SerializeToString(), ["x", "elements"]

    m = build(lambda b: [b.node("Mul", ["x", "huge"], name="scaler")])
    huge = m.graph.initializer.add(name="huge", data_type=TensorProto.FLOAT)
    huge.dims.extend([1 << 20, 1 << 20])
    yield "absurd_initializer_dims.onnx", m.SerializeToString(), ["huge", "elements"]

    m = build(lambda b: [b.node("Relu", ["x"], name="r")])
    m.opset_import[0].version = 6
    yield "opset_too_old.onnx", m.SerializeToString(), ["opset 6", "7"]
    m.opset_import[0].version = 22
    yield "opset_too_new.onnx", m.SerializeToString(), ["opset 22", "21"]
    del m.opset_import[:]
    yield "no_opset.onnx", m.SerializeToString(), ["opset"]

    m = build(lambda b: [b.node("Mul", ["x", "half"], name="halver")])
    m.graph.initializer.append(helper.make_tensor("half", TensorProto.FLOAT16, [1], np.array([0.5], np.float16).view(np.uint16).tolist()))
    yield "float16_initializer.onnx", m.SerializeToString(), ["half", "FLOAT16"]

    def twice(b):
        b.node("Relu", ["x"], outputs=["y"], name="one")
        b.node("Sigmoid", ["x"], outputs=["y"], name="two")
        return ["y"]
    yield "value_defined_twice.onnx", build(twice).SerializeToString(), ["two", "y", "twice"]

    yield "missing_output.onnx", build(lambda b: [b.node("Relu", ["x"])], outputs=["ghost"]).SerializeToString(), ["ghost"]

    m = build(lambda b: [b.node("Relu", ["x"], name="r")])
    m.graph.input[0].type.tensor_type.elem_type = TensorProto.INT64
    yield "integer_input.onnx", m.SerializeToString(), ["x", "INT64"]

    def reflect_pad(b):
        return [b.node("Pad", ["x", b.const("pads", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64))], name="mirror", mode="reflect")]
    yield "pad_reflect.onnx", build(reflect_pad).SerializeToString(), ["mirror", "reflect"]

    m = build(lambda b: [b.node("Relu", ["x"], name="r")], inputs=[("x", ["N", 3, "H", "W"])])
    yield "symbolic_spatial_dims.onnx", m.SerializeToString(), ["'x'", "'H'", "axis 2"]

    def runtime_gather(b):
        return [b.node("Gather", ["x", b.const("index", np.array([0, 2], np.int64))], name="picker", axis=1)]
    yield "gather_on_runtime_tensor.onnx", build(runtime_gather).SerializeToString(), ["picker", "Gather", "constants"]

    def broadcast_explosion(b):
        # Broadcasting two small constants would fold into 2^25 elements.
        column = b.const("column", np.ones((4096, 1), np.float32))
        row = b.const("row", np.ones((1, 8192), np.float32))
        return [b.node("Mul", ["x", b.node("Add", [column, row], name="grow")], name="user")]
    yield "folding_explosion.onnx", build(broadcast_explosion).SerializeToString(), ["grow", "folding", "elements"]

    def absurd_pads(b):
        return [b.node("Pad", ["x", b.const("pads", np.array([0, 0, 1 << 62, 0, 0, 0, 1 << 62, 0], np.int64))], name="padder")]
    yield "absurd_pads.onnx", build(absurd_pads).SerializeToString(), ["padder", "overflows"]

    def absurd_conv_pads(b):
        return [b.conv("x", 3, 4, 3, pad=1 << 62)]
    yield "absurd_conv_pads.onnx", build(absurd_conv_pads).SerializeToString(), ["conv1", "absurdly large"]

    def negative_dim(b):
        return [b.node("Mul", ["x", b.const("neg", np.ones((1, 3, 1, 1), np.float32))], name="m")]
    m = build(negative_dim)
    m.graph.initializer[0].dims[1] = -3
    yield "negative_dims.onnx", m.SerializeToString(), ["neg", "-3"]


# ---- writing -------------------------------------------------------------------------------------

def save_npy(path, array):
    np.save(path, np.ascontiguousarray(array, dtype=np.float32), allow_pickle=False)


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(os.path.join(OUT, "malformed"))
    manifest = {"tolerance": TOLERANCE, "cases": [], "malformed": []}
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    for c in CASES:
        b = Builder(sum(map(ord, c["name"])))
        outputs = c["build"](b)
        model = b.model(c["inputs"], outputs, c["opset"], c["ir_version"], c["initializers_as_inputs"])
        name = c["name"]
        onnx.save(model, os.path.join(OUT, name + ".onnx"))
        rng = np.random.default_rng(len(name))
        feeds = {n: rng.standard_normal([c["batch"] if d == "N" else d for d in s]).astype(np.float32) for n, s in c["inputs"]}
        session = ort.InferenceSession(os.path.join(OUT, name + ".onnx"), options, providers=["CPUExecutionProvider"])
        results = session.run(outputs, feeds)
        entry = {"name": name, "model": name + ".onnx", "opset": c["opset"], "inputs": {}, "outputs": {}}
        if c["step"]:
            entry["step"] = c["step"]
        if c["quantized_layers"]:
            entry["quantized_layers"] = c["quantized_layers"]
        for i, (n, array) in enumerate(feeds.items()):
            entry["inputs"][n] = f"{name}.in{i}.npy"
            save_npy(os.path.join(OUT, entry["inputs"][n]), array)
        for i, (n, array) in enumerate(zip(outputs, results)):
            entry["outputs"][n] = f"{name}.out{i}.npy"
            save_npy(os.path.join(OUT, entry["outputs"][n]), array)
        manifest["cases"].append(entry)
    for file, data, expected in malformed_models():
        with open(os.path.join(OUT, "malformed", file), "wb") as f:
            f.write(data)
        manifest["malformed"].append({"file": file, "expect": expected})
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
    print(f"{len(manifest['cases'])} cases, {len(manifest['malformed'])} malformed models, {total / 1e6:.2f} MB in {OUT}")


if __name__ == "__main__":
    main()
