"""Evaluate recipes. Validation = CAL goods vs non-test defects; TEST = held-out every-5th photos.
python run.py DATASET W H MODE REFLECT 'model kwargs' 'post kwargs list' [test]
e.g. python run.py mtile 224 224 stretch 0 "dict(taps=['block4/add','block10/add'])" "[dict(border=0),dict(border=2)]"
"""
import sys, json, time
import numpy as np
import common as c
import pc

TAPS = {"s8": ["block4/add"], "s8+16": ["block4/add", "block10/add"], "s8+16b": ["block4/add", "block7/add", "block10/add"],
        "s4+8+16": ["block2/add", "block4/add", "block10/add"], "s16": ["block10/add"], "s8+16a": ["block4/add", "block7/add"]}


def evaluate(ds, W, H, mode, reflect, mk, posts, test=False, pixel=True, feats=None):
    f = feats or c.features(ds, W, H, mode, reflect, val_def_every=3 if ds == "casting" else 1)
    mk = dict(mk)
    tapname = mk.pop("taps", "s8+16")
    model = pc.Model(f["fit"], TAPS[tapname], **mk)
    parts = ["cal", "val_def"] + (["test_good", "test_def"] if test else [])
    t0 = time.time()
    raw = {p: model.raw_maps(f[p]) for p in parts}
    t_score = (time.time() - t0) / sum(len(raw[p]) for p in parts)
    gh, gw = raw["cal"].shape[1:]
    rows = []
    for pk in posts:
        pk = dict(pk)
        if pk.pop("posnorm", False):
            hm = model.hold_maps
            pk["norm"] = (hm.mean(0), hm.std(0) + 1e-3 * hm.std())
        sm = {p: pc.post(raw[p], **pk) for p in parts}
        row = dict(ds=ds, size=f"{W}x{H}", mode=mode, reflect=reflect, taps=tapname,
                   **{k: v for k, v in mk.items()}, **{k: v for k, v in pk.items() if k != "norm"},
                   posnorm="norm" in pk, dims=model.dims, bank_n=len(model.M), macs_M=round(model.macs(gh, gw) / 1e6, 1),
                   fit_s=round(model.fit_s, 1), score_ms=round(1000 * t_score, 1))
        v = pc.image_metrics(sm["cal"][1], sm["cal"][1], sm["val_def"][1])
        row.update({"val_" + k: round(x, 4) for k, x in v.items()})
        if pixel and ds == "mtile":
            v = pc.pixel_metrics([sm["cal"][0], sm["val_def"][0]], [f["cal"], f["val_def"]], mode, (W, H), step=2)
            row.update({"val_" + k: round(x, 4) for k, x in v.items()})
        if test:
            v = pc.image_metrics(sm["cal"][1], sm["test_good"][1], sm["test_def"][1])
            row.update({"TEST_" + k: round(x, 4) for k, x in v.items()})
            if ds == "mtile":
                v = pc.pixel_metrics([sm["test_good"][0], sm["test_def"][0]], [f["test_good"], f["test_def"]], mode, (W, H))
                row.update({"TEST_" + k: round(x, 4) for k, x in v.items()})
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


if __name__ == "__main__":
    a = sys.argv
    evaluate(a[1], int(a[2]), int(a[3]), a[4], int(a[5]), eval(a[6]), eval(a[7]), test=len(a) > 8 and a[8] == "test")
