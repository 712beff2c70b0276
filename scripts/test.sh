#!/usr/bin/env bash
# Builds and runs the whole test suite in release mode (numeric kernels are ~280x slower in debug).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --build-tests
swift test -c release --skip-build --disable-swift-testing "$@"
