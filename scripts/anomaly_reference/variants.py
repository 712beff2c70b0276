"""PatchCore scoring variants on magnetic tile (224 stretch, reflect 16, taps s8+16b, 3x3 agg, 28x28 grid).
Validation = CAL goods vs the 254 non-test defect photos; sigma 1, border 2 throughout.
python variants.py BANKS [test VARIANT]
  BANKS: comma list of dims:bank:source, source 'fit' (all FIT) or 'A' (even FIT photos; B = odd ones give
  per-cell statistics of the nearest distances), e.g. 64:3072:fit,64:3072:A
  Variants per bank: k in {1,3} x norm in {none, z, mean} x score in {max, top3}; norm only if source A,
  or with 'fit' banks when the same dims:bank also has an A bank (statistics from A->B, applied to FIT maps).
"""
import os, sys, json, time
import numpy as np
import common as c
import pc

TAPS = ["block4/add", "block7/add", "block10/add"]
POOL, SIGMA, BORDER = 200000, 1.0, 2
SEED = int(os.environ.get("SEED", 0))  # projection, pool and coreset seed
t00 = time.time()


def build_bank(F, dims, n_bank):
    """Same steps and random order as pc.Model: projection, random pool, greedy k-centre coreset."""
    rng = np.random.default_rng(SEED)
    P = (rng.standard_normal((F.shape[-1], dims)) / np.sqrt(dims)).astype(np.float32)
    X = F.reshape(-1, F.shape[-1]) @ P
    if len(X) > POOL:
        X = X[rng.choice(len(X), POOL, replace=False)]
    return P, X[pc.greedy_coreset(X, n_bank, rng)]


def maps_k(F, P, M, ks=(1, 3), chunk=8000):
    """Nearest-distance maps {k: [n,h,w]}: mean of the k smallest Euclidean distances."""
    n, h, w, D = F.shape
    Q = F.reshape(-1, D) @ P
    mn = (M * M).sum(1)
    out = {k: np.empty(len(Q), np.float32) for k in ks}
    for i in range(0, len(Q), chunk):
        q = Q[i:i + chunk]
        d2 = (q * q).sum(1)[:, None] - 2 * q @ M.T + mn[None]
        small = np.sort(np.partition(d2, max(ks) - 1, axis=1)[:, :max(ks)], 1)
        dk = np.sqrt(np.maximum(small, 0))
        for k in ks:
            out[k][i:i + chunk] = dk[:, :k].mean(1)
    return {k: v.reshape(n, h, w) for k, v in out.items()}


def normalise(m, stats, how):
    if how == "none":
        return m
    mu, sd = stats
    return (m - mu) / sd if how == "z" else m / mu


def evaluate(name, maps, parts, f, score, pixel, macs, test=False):
    k = 3 if score == "top3" else 1
    sm = {p: pc.post(maps[p], sigma=SIGMA, border=BORDER, score="max" if k == 1 else "topk", k=k) for p in maps}
    row = dict(variant=name, macs_M=round(macs / 1e6, 1))
    row["val_auroc"] = round(pc.image_metrics(sm["cal"][1], sm["cal"][1], sm["val_def"][1])["auroc"], 4)
    if pixel:
        row["val_pix_auroc"] = round(pc.pixel_metrics([sm["cal"][0], sm["val_def"][0]], [f["cal"], f["val_def"]],
                                                      "stretch", (224, 224), step=2)["pix_auroc"], 4)
    if test:
        v = pc.image_metrics(sm["cal"][1], sm["test_good"][1], sm["test_def"][1])
        row.update(TEST_auroc=round(v["auroc"], 4), TEST_missed=round(v["missed"], 4), TEST_frr=round(v["frr"], 4))
        v = pc.pixel_metrics([sm["test_good"][0], sm["test_def"][0]], [f["test_good"], f["test_def"]], "stretch", (224, 224))
        row.update(TEST_pix_auroc=round(v["pix_auroc"], 4))
    row["t"] = round(time.time() - t00)
    print(json.dumps(row), flush=True)


def main():
    banks = [tuple(b.split(":")) for b in sys.argv[1].split(",")]
    test_variant = sys.argv[3] if len(sys.argv) > 3 and sys.argv[2] == "test" else None
    parts = ["cal", "val_def"] + (["test_good", "test_def"] if test_variant else [])
    f = c.features("mtile", 224, 224, "stretch", 16, parts=["fit"] + parts)
    F = {p: pc.patch_features(f[p], TAPS, 3, 8) for p in ["fit"] + parts}
    h, w = F["fit"].shape[1:3]
    A, B = F["fit"][0::2], F["fit"][1::2]
    stats = {}  # (dims, bank, k) -> (mean map, std map) of B against the A bank
    for dims, nb, src in sorted(banks, key=lambda b: b[2] != "A"):  # A banks first: their stats serve FIT banks
        dims, nb = int(dims), int(nb)
        t0 = time.time()
        P, M = build_bank(A if src == "A" else F["fit"], dims, nb)
        raw = {p: maps_k(F[p], P, M) for p in parts}
        print(f"# bank {dims}:{nb}:{src} built+scored in {time.time() - t0:.0f}s", flush=True)
        if src == "A":
            mb = maps_k(B, P, M)
            for k in (1, 3):
                stats[(dims, nb, k)] = (mb[k].mean(0), mb[k].std(0) + 1e-3 * mb[k].std())
        macs = h * w * dims * nb
        for k in (1, 3):
            for how in ["none", "z", "mean"]:
                if how != "none" and (dims, nb, k) not in stats:
                    continue
                for score in ["max", "top3"]:
                    name = f"d{dims} bank{nb} {src} knn{k} norm={how} score={score}"
                    if test_variant and name != test_variant:
                        continue
                    mp = {p: normalise(raw[p][k], stats.get((dims, nb, k)), how) for p in parts}
                    evaluate(name, mp, parts, f, score, "nopix" not in sys.argv, macs, test=bool(test_variant))


if __name__ == "__main__":
    main()
