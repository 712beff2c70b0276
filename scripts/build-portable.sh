#!/usr/bin/env bash
# Builds the portable variant of auge, for x86-64 CPUs without AVX2/FMA (before Intel Haswell and AMD
# Zen), and puts it beside the main binary as .build/release/auge-portable: on such a CPU `auge` hands
# every command over to it. Its kernels are plain SSE2 multiply-adds, several times slower.
set -euo pipefail
cd "$(dirname "$0")/.."
AUGE_PORTABLE=1 swift build -c release --product auge --build-path .build/portable >&2
# Beside the main build's binary (.build/release is a link to this folder, made by the main build).
bin=$(swift build -c release --show-bin-path)
mkdir -p "$bin"
cp .build/portable/release/auge "$bin/auge-portable"
echo "wrote $bin/auge-portable" >&2
