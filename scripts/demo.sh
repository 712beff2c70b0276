#!/usr/bin/env bash
# Builds auge (release) and runs the main job on the shipped samples: classify every photo in
# SampleImages/ with the default model (Models/default.onnx), then check the decisions against the
# folders' labels with `auge eval` (incoming/ holds unlabelled photos: classified, not scored).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# The same compiler flags as scripts/test.sh (testable modules, flag in the same place), so that
# neither script rebuilds what the other built.
swift build -c release --product auge -Xswiftc -enable-testing >&2
# An x86-64 CPU without AVX2/FMA runs the portable build, which auge hands over to by itself.
if [ "$(uname -m)" = x86_64 ] && ! grep -qw avx2 /proc/cpuinfo 2>/dev/null; then scripts/build-portable.sh; fi
auge=.build/release/auge
"$auge" classify --model Models/default.onnx SampleImages
echo
"$auge" eval --model Models/default.onnx SampleImages
