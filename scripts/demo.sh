#!/usr/bin/env bash
# Builds auge (release) and runs the main job on the shipped samples: the default model classifies
# every photo in SampleImages/, then `auge eval` checks the decisions against the folders' labels.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --product auge >&2
auge=.build/release/auge
echo "== auge classify SampleImages (default model: Models/default.onnx)"
"$auge" classify SampleImages --format table
echo
echo "== auge eval: decisions against the labels of SampleImages/<class>/ (incoming/ is unlabelled)"
"$auge" eval SampleImages
