"""PatchCore-style scoring on cached backbone features, and the metrics."""
import time
import numpy as np
from PIL import Image
from scipy import ndimage
from sklearn.metrics import roc_auc_score
import common as c


def resize(a, H, W):
    """Bilinear, half-pixel centres (ONNX Resize linear/half_pixel, torch align_corners=False). a: [N,C,h,w]."""
    def axis(n_in, n_out):
        s = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
        s = np.clip(s, 0, n_in - 1)
        i0 = np.floor(s).astype(int)
        i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, (s - i0).astype(np.float32)
    h, w = a.shape[-2:]
    if (h, w) == (H, W):
        return a
    y0, y1, wy = axis(h, H)
    x0, x1, wx = axis(w, W)
    a = a[..., y0, :] * (1 - wy)[:, None] + a[..., y1, :] * wy[:, None]
    return a[..., x0] * (1 - wx) + a[..., x1] * wx


def avgpool3(a):
    """3x3 stride-1 average, padding excluded from the count (ONNX AveragePool count_include_pad=0)."""
    s = ndimage.uniform_filter(a, size=(1, 1, 3, 3), mode="constant", cval=0.0)
    ones = np.ones(a.shape[-2:], np.float32)
    cnt = ndimage.uniform_filter(ones, size=3, mode="constant", cval=0.0)
    return s / cnt


def patch_features(part, taps, agg, grid, chan_stats=None):
    """-> [N, h, w, D] float32 on the grid of stride `grid` (8 or 16)."""
    ref = part["block4/add"] if grid == 8 else part["block7/add"]
    H, W = ref.shape[-2:]
    out = []
    for t in taps:
        a = part[t].astype(np.float32)
        if agg > 1:
            a = avgpool3(a)
        out.append(resize(a, H, W))
    f = np.concatenate(out, 1).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(f)


def greedy_coreset(X, k, rng, sel_dims=64):
    """Greedy k-centre (PatchCore) on a random projection of X; returns indices."""
    P = (rng.standard_normal((X.shape[1], sel_dims)) / np.sqrt(sel_dims)).astype(np.float32)
    Z = X @ P if X.shape[1] > sel_dims else X
    zn = (Z * Z).sum(1)
    idx = [int(rng.integers(len(Z)))]
    mind = zn - 2 * Z @ Z[idx[0]] + zn[idx[0]]
    for _ in range(k - 1):
        j = int(np.argmax(mind))
        idx.append(j)
        np.minimum(mind, zn - 2 * Z @ Z[j] + zn[j], out=mind)
    return np.array(idx)


def nn_dist(F, M, chunk=20000):
    """sqrt(min_m ||f - m||^2) for F [n, D] against bank M [B, D]."""
    mn = (M * M).sum(1)
    out = np.empty(len(F), np.float32)
    for i in range(0, len(F), chunk):
        q = F[i:i + chunk]
        d = (q * q).sum(1)[:, None] - 2 * q @ M.T + mn[None]
        out[i:i + chunk] = np.sqrt(np.maximum(d.min(1), 0))
    return out


class Model:
    def __init__(self, fit, taps, agg=3, grid=8, proj=None, bank=4000, method="greedy", pool=200000, seed=0,
                 std=False, hold=False):
        t0 = time.time()
        self.taps, self.agg, self.grid = taps, agg, grid
        rng = np.random.default_rng(seed)
        F = patch_features(fit, taps, agg, grid)
        n, h, w, D = F.shape
        self.hold_maps = None
        if hold:  # keep every 5th FIT photo out of the bank, for per-position score statistics
            keep = np.arange(n) % 5 != 0
            Fh, F = F[~keep], F[keep]
        X = F.reshape(-1, D)
        self.mu, self.sd = (X.mean(0), X.std(0) + 1e-6) if std else (np.zeros(D, np.float32), np.ones(D, np.float32))
        self.P = None
        if proj:
            self.P = (rng.standard_normal((D, proj)) / np.sqrt(proj)).astype(np.float32)
        X = self.tf(X)
        if len(X) > pool:
            X = X[rng.choice(len(X), pool, replace=False)]
        if bank >= len(X):
            self.M = X
        elif method == "greedy":
            self.M = X[greedy_coreset(X, bank, rng)]
        else:
            self.M = X[rng.choice(len(X), bank, replace=False)]
        self.dims = X.shape[1]
        if hold:
            self.hold_maps = self.raw_maps_from(Fh)
        self.fit_s = time.time() - t0

    def tf(self, X):
        X = (X - self.mu) / self.sd
        return X @ self.P if self.P is not None else X

    def raw_maps_from(self, F):
        n, h, w, D = F.shape
        return nn_dist(self.tf(F.reshape(-1, D)), self.M).reshape(n, h, w)

    def raw_maps(self, part):
        return self.raw_maps_from(patch_features(part, self.taps, self.agg, self.grid))

    def macs(self, h, w):
        return h * w * self.dims * len(self.M)


def post(maps, sigma=0.5, border=0, score="max", norm=None, k=10):
    """Smoothed maps and image scores. norm: (mean map, std map) for per-position normalisation."""
    m = maps
    if norm is not None:
        m = (m - norm[0]) / norm[1]
    if sigma > 0:
        m = ndimage.gaussian_filter(m, sigma=(0, sigma, sigma), mode="nearest", truncate=2.0)
    inner = m[:, border:m.shape[1] - border, border:m.shape[2] - border] if border else m
    flat = inner.reshape(len(m), -1)
    if score == "max":
        s = flat.max(1)
    else:
        s = np.sort(flat, 1)[:, -k:].mean(1)
    return m, s


def image_metrics(s_cal, s_good, s_def):
    """AUROC (goods vs defects), and at the 99th-percentile-of-CAL threshold: missed defects, false rejects."""
    y = np.r_[np.zeros(len(s_good)), np.ones(len(s_def))]
    auc = roc_auc_score(y, np.r_[s_good, s_def])
    thr = np.percentile(s_cal, 99)
    return dict(auroc=auc, missed=float((s_def <= thr).mean()), frr=float((s_good > thr).mean()))


def to_photo(m, box, orig, mode, in_wh):
    """Grid map -> photo-sized map (bilinear), undoing pad/rotation."""
    W, H = in_wh
    gh, gw = m.shape
    x0, y0, x1, y1 = box
    sx, sy = gw / W, gh / H
    im = Image.fromarray(m.astype(np.float32), "F")
    w, h = orig
    if mode == "rot" and h > w:
        out = np.asarray(im.resize((h, w), Image.BILINEAR))  # rotated photo is h wide, w high
        return np.rot90(out, -1)
    im = im.resize((w, h), Image.BILINEAR, box=(x0 * sx, y0 * sy, x1 * sx, y1 * sy))
    return np.asarray(im)


def pixel_metrics(maps, parts, mode, in_wh, step=1):
    """Pixel AUROC and PRO (FPR 0..0.3, normalised) over photos. maps: list of grid maps; parts: list of split parts."""
    scores, labels, weights = [], [], []
    nreg = 0
    regs = []
    for m_all, part in zip(maps, parts):
        for m, box, orig, mp in zip(m_all, part["box"], part["orig"], part["masks"]):
            a = to_photo(m, box, orig, mode, in_wh)[::step, ::step]
            g = np.asarray(Image.open(mp).convert("L"))[::step, ::step] >= 128
            assert g.shape == a.shape, (g.shape, a.shape, mp)
            lab, k = ndimage.label(g, structure=np.ones((3, 3)))
            wgt = np.zeros(g.shape, np.float64)
            for r in range(1, k + 1):
                sel = lab == r
                wgt[sel] = 1.0 / sel.sum()
            nreg += k
            scores.append(a.ravel()); labels.append(g.ravel()); weights.append(wgt.ravel())
    s, y, wt = np.concatenate(scores), np.concatenate(labels), np.concatenate(weights)
    pauc = roc_auc_score(y, s)
    o = np.argsort(-s, kind="stable")
    s, y, wt = s[o], y[o], wt[o]
    fpr = np.cumsum(~y) / (~y).sum()
    pro = np.cumsum(wt) / nreg
    last = np.r_[s[1:] != s[:-1], True]  # end of each tie group
    fpr, pro = np.r_[0, fpr[last]], np.r_[0, pro[last]]
    lim = 0.3
    i = np.searchsorted(fpr, lim)
    p_lim = np.interp(lim, fpr, pro)
    f, p = np.r_[fpr[:i], lim], np.r_[pro[:i], p_lim]
    return dict(pix_auroc=pauc, pro=float(np.trapezoid(p, f) / lim))
