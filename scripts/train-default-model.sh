#!/usr/bin/env bash
# Reproduces Models/default.onnx: renders a training set and a separate, never-seen test set of
# synthetic washer photos (auge-samples, fixed seeds), trains with `auge train` and evaluates the
# result on the test set with `auge eval`.
# Usage: scripts/train-default-model.sh [photos-per-class] [epochs]
set -euo pipefail
cd "$(dirname "$0")/.."
per_class=${1:-350}; epochs=${2:-30}
work=${TMPDIR:-/tmp}/auge-default-model
scripts/install-deps.sh
swift build -c release --product auge -Xswiftc -enable-testing >&2
swift build -c release --product auge-samples -Xswiftc -enable-testing >&2
rm -rf "$work" && mkdir -p "$work"
# The two sets render in parallel: the generator is single-threaded.
.build/release/auge-samples generate "$work/train" --per-class "$per_class" --seed 1 --format mixed &
.build/release/auge-samples generate "$work/test" --per-class 200 --seed 777 --format mixed
wait
mkdir -p Models
.build/release/auge train "$work/train" --out Models/default.onnx --size 256 --color rgb --arch small \
    --pool max --epochs "$epochs" --patience 10 --seed 1 --threads "$(nproc)" --time-budget 0 --checkpoint "$work/default.checkpoint"
.build/release/auge eval --model Models/default.onnx "$work/test"
