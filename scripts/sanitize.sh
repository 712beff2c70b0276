#!/usr/bin/env bash
# The test suite under AddressSanitizer + UndefinedBehaviorSanitizer, and the threaded tests (thread
# pool, pipeline, watcher, line station) under ThreadSanitizer, in release mode (the kernels are far too
# slow in debug). Each sanitizer builds into its own folder; the first run of each takes a full build.
#   scripts/sanitize.sh [address|thread|all]      (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:-all}
scripts/install-deps.sh
if [[ $which == all || $which == address ]]; then
    # Leak checking stays on; Fuzz/lsan.supp lists the documented third-party leaks.
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} LSAN_OPTIONS="suppressions=$PWD/Fuzz/lsan.supp" \
        swift test -c release --scratch-path .build-asan --sanitize=address --sanitize=undefined --disable-swift-testing
fi
if [[ $which == all || $which == thread ]]; then
    swift test -c release --scratch-path .build-tsan --sanitize=thread --disable-swift-testing \
        --filter 'ThreadPoolTests|InspectionPipelineTests|WatchCommandTests|AugeStationTests|StationCommandTests'
fi
