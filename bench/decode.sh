#!/usr/bin/env bash
# Decode benchmark: Auge's JPEG decoding vs plain libjpeg-turbo on a 1920x1080 photo, in one run.
# Usage: bench/decode.sh [rounds] [runs-per-round]     (release build; quote the ratios)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}; runs=${2:-100}
work=${TMPDIR:-/tmp}/auge-decode-bench; mkdir -p "$work"
PY=$(scripts/python-env.sh)
"$PY" - "$work/photo-1920x1080.jpg" <<'PYEOF'
import sys
import numpy as np
from PIL import Image
rng = np.random.default_rng(42)
h, w = 1080, 1920
yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
img = np.stack([60 + 120 * xx / w + 25 * np.sin(yy / 40), 80 + 100 * yy / h + 20 * np.cos(xx / 55),
                150 - 60 * (xx + yy) / (w + h)], -1)
img += rng.normal(0, 6, img.shape)  # sensor noise, so the file is photo-sized (~400-500 KB)
Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(sys.argv[1], quality=90)
PYEOF
cc -O2 bench/jpeg_baseline.c -ljpeg -o "$work/jpeg_baseline"
swift build -c release --product DecodeBenchmark -Xswiftc -enable-testing >&2
echo "file: $(stat -c %s "$work/photo-1920x1080.jpg") bytes, 1920x1080; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
for round in $(seq "$rounds"); do
    "$work/jpeg_baseline" "$work/photo-1920x1080.jpg" "$runs" | sed 's/^/libjpeg-turbo /'
    .build/release/DecodeBenchmark "$work/photo-1920x1080.jpg" "$runs" | sed 's/^/auge /'
done | tee "$work/results.txt"
python3 - "$work/results.txt" <<'PYEOF'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    m = re.match(r"(\S+) (\S+) median_ms=([\d.]+)", line)
    if m:
        rows.setdefault((m[1], m[2]), []).append(float(m[3]))
print(f"{'variant':<12} {'libjpeg-turbo ms':>17} {'auge ms':>9} {'auge/libjpeg':>13}")
for variant in ("full", "scaled-224"):
    base = statistics.median(rows[("libjpeg-turbo", variant)])
    ours = statistics.median(rows[("auge", variant)])
    print(f"{variant:<12} {base:>17.3f} {ours:>9.3f} {ours / base:>13.3f}")
PYEOF
