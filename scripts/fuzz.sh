#!/usr/bin/env bash
# Builds one libFuzzer target (Fuzz/, outside the normal build) with AddressSanitizer and runs it for
# SECONDS. Exit 0 when it found nothing; otherwise the input that crashed, hung (> 10 s) or allocated
# beyond the limits is in .build-fuzz/crashes/TARGET/ and libFuzzer's report is on stderr.
#   scripts/fuzz.sh images|onnx|journal|npy SECONDS [more libFuzzer flags]
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:-}; seconds=${2:-60}
case "$target" in images|onnx|journal|npy) ;; *) echo "usage: scripts/fuzz.sh images|onnx|journal|npy SECONDS" >&2; exit 64 ;; esac
shift $(( $# < 2 ? $# : 2 ))
scripts/install-deps.sh
# --sanitize=fuzzer instruments the target's own module only: the coverage flags reach every Swift module
# and Auge's C code. -enable-testing: the journal target reaches the watcher's journal through @testable import.
AUGE_FUZZ=1 swift build -c release --scratch-path .build-fuzz --product "auge-fuzz-$target" \
    --sanitize=fuzzer --sanitize=address -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp -Xcc -fsanitize=fuzzer-no-link \
    -Xswiftc -enable-testing >&2
corpus=$PWD/.build-fuzz/corpus/$target
crashes=$PWD/.build-fuzz/crashes/$target
mkdir -p "$corpus" "$crashes"
python3 scripts/make_fuzz_corpus.py "$target" "$corpus"
# New inputs go to the first folder; Fuzz/Regressions/TARGET holds every input that once failed.
mkdir -p "Fuzz/Regressions/$target"
# ASan's leak check stays on: a leak is a failure too (Fuzz/lsan.supp: third-party leaks, documented).
# Swift's own backtracer is off so that libFuzzer sees a trap as the crash it is.
LSAN_OPTIONS="suppressions=$PWD/Fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}" SWIFT_BACKTRACE=enable=no exec ".build-fuzz/release/auge-fuzz-$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=3072 -malloc_limit_mb=1536 \
    -artifact_prefix="$crashes/" -print_final_stats=1 "$@" "$corpus" "$PWD/Fuzz/Regressions/$target"
