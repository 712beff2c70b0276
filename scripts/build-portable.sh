#!/usr/bin/env bash
# Builds the portable variant of auge, for x86-64 CPUs without AVX2/FMA (before Intel Haswell and AMD
# Zen), and puts it beside the main binary as .build/release/auge-portable: on such a CPU `auge` hands
# every command over to it. Its kernels are plain SSE2 multiply-adds, several times slower.
set -euo pipefail
cd "$(dirname "$0")/.."
AUGE_PORTABLE=1 swift build -c release --product auge --build-path .build/portable >&2
mkdir -p .build/release
cp .build/portable/release/auge .build/release/auge-portable
echo "wrote .build/release/auge-portable" >&2
