#!/usr/bin/env bash
# Builds auge (release) and runs the main job on the shipped samples: classify every photo in
# SampleImages/ with the default model (Models/default.onnx), then check the decisions against the
# folders' labels with `auge eval` (incoming/ holds unlabelled photos: classified, not scored).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --product auge >&2
auge=.build/release/auge
"$auge" classify --model Models/default.onnx SampleImages
echo
"$auge" eval --model Models/default.onnx SampleImages
