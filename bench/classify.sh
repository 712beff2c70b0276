#!/usr/bin/env bash
# End-to-end classification benchmark: a folder of 1920x1080 JPEGs classified by `auge classify`,
# by the Python pipeline (Pillow + ONNX Runtime, draft-mode decode) and decoded by libjpeg-turbo alone
# (same DCT scale, one process per core), all in one run, several rounds. Quote the ratios.
# Usage: bench/classify.sh MODEL.onnx [rounds] [files] [PYTHON_MODEL.onnx]
#   e.g. bench/classify.sh /tmp/peers/models/mobilenetv2.onnx
# PYTHON_MODEL (default MODEL) is what the Python pipeline runs: the FP32 file when MODEL is its INT8 copy.
# A plain ONNX model (no Auge metadata) is run with ImageNet mean/std and RGB input.
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1; rounds=${2:-3}; files=${3:-200}; python_model=${4:-$1}
cores=$(nproc)
work=${TMPDIR:-/tmp}/auge-classify-bench
PY=$(scripts/python-env.sh)
"$PY" bench/make_photos.py "$work/photos" "$files"
cc -O2 bench/jpeg_baseline.c -ljpeg -o "$work/jpeg_baseline"
swift build -c release --product auge -Xswiftc -enable-testing >&2
auge=.build/release/auge
size=$("$auge" info --format json "$model" | "$PY" -c 'import json,sys; s=json.load(sys.stdin)["inputs"][0]["shape"]; print(s[3])')
scale=1; for d in 8 4 2; do if [ $((1920 / d)) -ge "$size" ] && [ $((1080 / d)) -ge "$size" ]; then scale=$d; break; fi; done
flags=(); "$auge" info "$model" | grep -q "metadata:   none" && flags=(--mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 --color rgb)
echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $cores cores; $files files 1920x1080; model $(basename "$model") ${size}x${size} (python: $(basename "$python_model")); $(date -u +%F)"
cat "$work"/photos/*.jpg > /dev/null  # warm the page cache
for round in $(seq "$rounds"); do
    start=$(date +%s.%N)
    "$auge" classify --model "$model" "${flags[@]}" --format jsonl --quiet "$work/photos" > "$work/auge.jsonl" 2> "$work/auge.log"
    end=$(date +%s.%N)
    echo "auge images_per_s=$("$PY" -c "print(round($files / ($end - $start), 2))")"
    "$PY" bench/python_pipeline.py "$python_model" "$work/photos" "$cores" draft | sed 's/^/python-draft /'
    # libjpeg-turbo alone: the same files split over one process per core, at the scale Auge decodes
    ls "$work"/photos/*.jpg > "$work/list"
    start=$(date +%s.%N)
    split -n "r/$cores" "$work/list" "$work/part."
    for part in "$work"/part.*; do xargs "$work/jpeg_baseline" "-s$scale" < "$part" > /dev/null & done
    wait
    end=$(date +%s.%N)
    rm -f "$work"/part.*
    echo "libjpeg-turbo images_per_s=$("$PY" -c "print(round($files / ($end - $start), 2))")"
done | tee "$work/results.txt"
"$PY" - "$work/results.txt" <<'PYEOF'
import re, statistics, sys
rates = {}
for line in open(sys.argv[1]):
    m = re.match(r"(\S+) images_per_s=([\d.]+)", line)
    if m:
        rates.setdefault(m[1], []).append(float(m[2]))
med = {k: statistics.median(v) for k, v in rates.items()}
print(f"median images/s: auge {med['auge']:.1f}, python (Pillow draft + ONNX Runtime) {med['python-draft']:.1f}, "
      f"libjpeg-turbo decode only {med['libjpeg-turbo']:.1f}")
print(f"auge / python = {med['auge'] / med['python-draft']:.2f}x (target >= 2.5); "
      f"auge / libjpeg-turbo decode = {med['auge'] / med['libjpeg-turbo']:.2f} (target >= 0.85)")
PYEOF
