#!/usr/bin/env bash
# Reproduces the anomaly-detection figures of docs/anomaly-detection.md: for casting and magnetic tile,
# a held-out test split (every 5th photo of each class), `auge train --anomaly` on the rest (which holds
# out its own calibration photos), `auge eval` on the test photos (magnetic tile with its masks), and
# the models' latency beside ONNX Runtime on the same files.
#
#   scripts/anomaly_results.sh [OUT]     (default OUT: /tmp/auge-anomaly-results; needs ../shared/datasets)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/datasets}
OUT=${1:-/tmp/auge-anomaly-results}
[ -d "$DATA/casting/train" ] || { echo "no datasets at $DATA: nothing to measure" >&2; exit 0; }
swift build -c release --product auge -Xswiftc -enable-testing >&2
auge=.build/release/auge
PY=$(scripts/python-env.sh)
mkdir -p "$OUT"
run() {  # name, dataset folder, OK label, extra train flags...
    local name=$1 dataset=$2 ok=$3; shift 3
    "$PY" scripts/holdout_folders.py "$dataset" "$OUT/$name-split"
    "$auge" train "$OUT/$name-split/train" --anomaly --ok-labels "$ok" --out "$OUT/$name.onnx" "$@" | tee "$OUT/$name.train.txt"
    local masks=()
    [ -d "$DATA/magnetic-tile/masks/train" ] && [ "$name" != casting ] && masks=(--masks "$DATA/magnetic-tile/masks/train")
    "$auge" eval --model "$OUT/$name.onnx" "$OUT/$name-split/test" "${masks[@]}" | tee "$OUT/$name.eval.txt"
}
run casting "$DATA/casting/train" ok_front
run magnetic-tile "$DATA/magnetic-tile/train" MT_Free
run magnetic-tile-float-search "$DATA/magnetic-tile/train" MT_Free --no-int8-search --bank-size 3072
"$PY" bench/compare.py --model "$OUT/casting.onnx" --model "$OUT/magnetic-tile.onnx" --model "$OUT/magnetic-tile-float-search.onnx" \
    --threads 1,2 --rounds 3 --seconds 2 | tee "$OUT/latency.txt"
