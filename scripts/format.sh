#!/usr/bin/env bash
# Formats the Swift sources with the toolchain's swift-format and the checked-in .swift-format
# (generated code excepted). `scripts/format.sh --check` changes nothing and fails on any difference.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.swift' | grep -v '/Generated/')
if [ "${1:-}" = --check ]; then
    swift format lint --strict --configuration .swift-format "${files[@]}" \
        || { echo "the Swift sources are not formatted: run scripts/format.sh" >&2; exit 1; }
else
    swift format format --in-place --configuration .swift-format "${files[@]}"
fi
