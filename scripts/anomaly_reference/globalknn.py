"""Image-level kNN on pooled cached tap features (keeps coarse layout): python globalknn.py DATASET W H MODE REFLECT"""
import sys, json
import numpy as np
import common as c, pc

ds, W, H, mode, refl = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
test = len(sys.argv) > 6
f = c.features(ds, W, H, mode, refl, val_def_every=3 if ds == "casting" else 1)


def desc(part, taps, g):
    """Average-pool each tap to g x g cells, flatten, concat; g=1 is global average pooling."""
    out = []
    for t in taps:
        a = part[t].astype(np.float32)
        n, C, h, w = a.shape
        a = a[:, :, :h - h % g, :w - w % g].reshape(n, C, g, (h - h % g) // g, g, (w - w % g) // g).mean((3, 5))
        out.append(a.reshape(n, -1))
    return np.concatenate(out, 1)


parts = ["cal", "val_def"] + (["test_good", "test_def"] if test else [])
for taps in [["block10/add"], ["block7/add", "block10/add"], ["block4/add", "block7/add", "block10/add"]]:
    for g in [1, 2, 4, 7]:
        M = desc(f["fit"], taps, g)
        s = {p: pc.nn_dist(desc(f[p], taps, g), M) for p in parts}
        row = dict(ds=ds, method="global-knn", size=f"{W}x{H}", reflect=refl, taps=taps, grid=g, dims=M.shape[1],
                   macs_M=round(M.size / 1e6, 1))
        row.update({"val_" + k: round(v, 4) for k, v in pc.image_metrics(s["cal"], s["cal"], s["val_def"]).items()})
        if test:
            row.update({"TEST_" + k: round(v, 4) for k, v in pc.image_metrics(s["cal"], s["test_good"], s["test_def"]).items()})
        print(json.dumps(row), flush=True)
