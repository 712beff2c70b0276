#!/usr/bin/env bash
# Builds and runs the whole test suite in release mode (numeric kernels are ~280x slower in debug).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# Python (onnx, onnxruntime) lets the tests compare with ONNX Runtime; without it those tests skip, saying so.
scripts/python-env.sh > /dev/null || echo "no Python venv: the ONNX Runtime comparisons will be skipped" >&2
# `swift test` builds with testing enabled (the engine tests use @testable import) and runs XCTest.
swift test -c release --disable-swift-testing "$@"
