"""PaDiM-style per-position Gaussian on the same cached features (validation, optionally TEST).
python padim.py DATASET W H MODE REFLECT TAPS DIMS [test]"""
import sys, json, time
import numpy as np
import common as c, pc
from run import TAPS

ds, W, H, mode, refl, taps, dims = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), sys.argv[6], int(sys.argv[7])
test = len(sys.argv) > 8
f = c.features(ds, W, H, mode, refl, val_def_every=3 if ds == "casting" else 1)
t0 = time.time()
F = pc.patch_features(f["fit"], TAPS[taps], 1, 8)          # PaDiM: no 3x3 aggregation
rng = np.random.default_rng(0)
sel = np.sort(rng.choice(F.shape[-1], min(dims, F.shape[-1]), replace=False))
F = F[..., sel]
n, h, w, d = F.shape
mu = F.mean(0)
X = F - mu
cov = np.einsum("nhwi,nhwj->hwij", X, X) / (n - 1) + 0.01 * np.eye(d, dtype=np.float32)
icov = np.linalg.inv(cov).astype(np.float32)
fit_s = time.time() - t0


def maps(part):
    Q = pc.patch_features(part, TAPS[taps], 1, 8)[..., sel] - mu
    return np.sqrt(np.maximum(np.einsum("nhwi,hwij,nhwj->nhw", Q, icov, Q, optimize=True), 0))


parts = ["cal", "val_def"] + (["test_good", "test_def"] if test else [])
raw = {p: maps(f[p]) for p in parts}
for pk in [dict(border=0, sigma=1.0), dict(border=1, sigma=1.0), dict(border=2, sigma=1.0)]:
    sm = {p: pc.post(raw[p], **pk) for p in parts}
    row = dict(ds=ds, method="padim", size=f"{W}x{H}", mode=mode, reflect=refl, taps=taps, dims=d, **pk,
               macs_M=round(h * w * d * (d + 1) / 1e6, 1), fit_s=round(fit_s, 1))
    row.update({"val_" + k: round(v, 4) for k, v in pc.image_metrics(sm["cal"][1], sm["cal"][1], sm["val_def"][1]).items()})
    if ds == "mtile":
        row.update({"val_" + k: round(v, 4) for k, v in pc.pixel_metrics([sm["cal"][0], sm["val_def"][0]], [f["cal"], f["val_def"]], mode, (W, H), step=2).items()})
    if test:
        row.update({"TEST_" + k: round(v, 4) for k, v in pc.image_metrics(sm["cal"][1], sm["test_good"][1], sm["test_def"][1]).items()})
        if ds == "mtile":
            row.update({"TEST_" + k: round(v, 4) for k, v in pc.pixel_metrics([sm["test_good"][0], sm["test_def"][0]], [f["test_good"], f["test_def"]], mode, (W, H)).items()})
    print(json.dumps(row), flush=True)
