"""Shared helpers for the anomaly-detection exploration: split, image loading, truncated backbone, cache."""
import os
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
import numpy as np
import onnx
import onnxruntime as ort
from onnx import shape_inference
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
BACKBONE = os.path.join(HERE, "..", "..", "Models", "backbones", "efficientnet-lite0.onnx")
CACHE = os.environ.get("ANOMALY_CACHE", "/tmp/anomaly_cache")
# The shared datasets beside the checkout (never copied into the repository).
DATASETS = os.environ.get("AUGE_DATASETS", os.path.join(HERE, "..", "..", "..", "shared", "datasets"))
DATA = {
    "casting": (os.path.join(DATASETS, "casting/train"), ["ok_front"], ["def_front"], None),
    "mtile": (os.path.join(DATASETS, "magnetic-tile/train"), ["MT_Free"],
              ["MT_Blowhole", "MT_Break", "MT_Crack", "MT_Fray", "MT_Uneven"],
              os.path.join(DATASETS, "magnetic-tile/masks/train")),
}
TAPS = ["block2/add", "block4/add", "block7/add", "block10/add"]  # strides 4, 8, 16, 16; 24, 40, 80, 112 ch


def split(ds):
    """{'fit','cal','test_good','test_def','val_def'}: lists of (path, mask path or None)."""
    root, goods, defs, maskroot = DATA[ds]
    out = {k: [] for k in ["fit", "cal", "test_good", "test_def", "val_def"]}
    for cls in goods + defs:
        names = sorted(os.listdir(os.path.join(root, cls)))
        rest = []
        for i, n in enumerate(names, 1):
            p = os.path.join(root, cls, n)
            m = os.path.join(maskroot, cls, os.path.splitext(n)[0] + ".png") if maskroot else None
            if i % 5 == 0:
                out["test_good" if cls in goods else "test_def"].append((p, m))
            else:
                rest.append((p, m))
        if cls in goods:
            for j, pm in enumerate(rest, 1):
                out["cal" if j % 5 == 0 else "fit"].append(pm)
        else:
            out["val_def"] += rest
    return out


def load(path, W, H, mode):
    """-> (x [3,H,W] float32 normalised, valid box (x0,y0,x1,y1) in input pixels, original (w,h)).
    mode: 'stretch' = resize to WxH; 'rot' = rotate portrait photos to landscape, then stretch;
    'pad' = keep aspect, fit inside WxH, pad by edge replication (box tells the valid part)."""
    im = Image.open(path).convert("L")
    w, h = im.size
    box = (0, 0, W, H)
    if mode == "rot" and h > w:
        im = im.transpose(Image.Transpose.ROTATE_90)
    if mode == "pad":
        s = min(W / w, H / h)
        nw, nh = max(1, round(w * s)), max(1, round(h * s))
        a = np.asarray(im.resize((nw, nh), Image.BILINEAR), np.float32)
        x0, y0 = (W - nw) // 2, (H - nh) // 2
        a = np.pad(a, ((y0, H - nh - y0), (x0, W - nw - x0)), mode="edge")
        box = (x0, y0, x0 + nw, y0 + nh)
    else:
        a = np.asarray(im.resize((W, H), Image.BILINEAR), np.float32)
    a = (a / 255.0 - 0.498) / 0.502
    return np.repeat(a[None], 3, 0), box, (w, h)


def truncated_backbone(taps=TAPS):
    m = onnx.load(BACKBONE)
    path = os.path.join(CACHE, "trunc_" + "_".join(t.replace("/", "-") for t in taps) + ".onnx")
    if not os.path.exists(path):
        onnx.utils.extract_model(BACKBONE, path, ["input"], list(taps))
        # let H, W be free
        mm = onnx.load(path)
        d = mm.graph.input[0].type.tensor_type.shape.dim
        d[2].dim_param, d[3].dim_param = "H", "W"
        for o in mm.graph.output:
            o.type.tensor_type.ClearField("shape")
        onnx.save(mm, path)
    return path


def session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def conv_macs(model_path, H, W, upto=None):
    """Multiply-accumulates of Conv/Gemm nodes for an HxW input (upto: stop after that node output)."""
    m = onnx.load(model_path)
    m.graph.input[0].type.tensor_type.shape.dim[2].dim_value = H
    m.graph.input[0].type.tensor_type.shape.dim[3].dim_value = W
    m.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
    mi = shape_inference.infer_shapes(m)
    shp = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in list(mi.graph.value_info) + list(mi.graph.output)}
    init = {i.name: list(i.dims) for i in m.graph.initializer}
    tot = 0
    for n in m.graph.node:
        if n.op_type == "Conv":
            wsh = init[n.input[1]]
            o = shp[n.output[0]]
            tot += o[1] * o[2] * o[3] * wsh[1] * wsh[2] * wsh[3]
        if upto and n.output[0] == upto:
            break
    return tot


def features(ds, W, H, mode, reflect=0, parts=("fit", "cal", "test_good", "test_def", "val_def"), val_def_every=1):
    """Cached tap features per split: dict part -> dict(tap -> float16 [N,C,h,w], 'box', 'orig', 'paths', 'masks').
    reflect: reflect-pad the input by this many pixels before the backbone (maps cropped back after)."""
    key = f"{ds}_{W}x{H}_{mode}_r{reflect}"
    sp = split(ds)
    sess = None
    out = {}
    for part in parts:
        f = os.path.join(CACHE, f"{key}_{part}.npz")
        items = sp[part][::val_def_every] if part == "val_def" else sp[part]
        if not os.path.exists(f):
            if sess is None:
                sess = session(truncated_backbone())
            acc = {t: [] for t in TAPS}
            boxes, origs = [], []
            for p, _ in items:
                x, box, orig = load(p, W, H, mode)
                if reflect:
                    x = np.pad(x, ((0, 0), (reflect, reflect), (reflect, reflect)), mode="reflect")
                outs = sess.run(TAPS, {"input": x[None]})
                for t, o in zip(TAPS, outs):
                    o = o[0]
                    if reflect:
                        s = (H + 2 * reflect) // o.shape[1]
                        c = reflect // s
                        o = o[:, c:o.shape[1] - c, c:o.shape[2] - c]
                    acc[t].append(o.astype(np.float16))
                boxes.append(box)
                origs.append(orig)
            np.savez(f, **{t.replace("/", "-"): np.stack(v) for t, v in acc.items()},
                     box=np.array(boxes), orig=np.array(origs))
        z = np.load(f)
        d = {t: z[t.replace("/", "-")] for t in TAPS}
        d["box"], d["orig"] = z["box"], z["orig"]
        d["paths"] = [p for p, _ in items]
        d["masks"] = [m for _, m in items]
        out[part] = d
    return out
