#!/usr/bin/env bash
# The test suite under AddressSanitizer + UndefinedBehaviorSanitizer (UBSan instruments Auge's C code;
# Swift itself traps on overflow and out-of-bounds access, and swiftc has no UBSan on Linux), and the threaded tests (thread
# pool, pipeline, watcher, line station) under ThreadSanitizer, in release mode (the kernels are far too
# slow in debug). Each sanitizer builds into its own folder; the first run of each takes a full build.
#   scripts/sanitize.sh [address|thread|all]      (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:-all}
scripts/install-deps.sh
if [[ $which == all || $which == address ]]; then
    # No leak check at the test process's exit: XCTest and Foundation's Process keep every test case's
    # objects through Swift weak-reference side tables they never free, and LeakSanitizer reports all of
    # them. Leaks in Auge's own code are checked by the fuzz targets, which run with it on.
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0} \
        swift test -c release --scratch-path .build-asan --sanitize=address -Xcc -fsanitize=undefined --disable-swift-testing
fi
if [[ $which == all || $which == thread ]]; then
    swift test -c release --scratch-path .build-tsan --sanitize=thread --disable-swift-testing \
        --filter 'ThreadPoolTests|InspectionPipelineTests|WatchCommandTests|AugeStationTests|StationCommandTests'
fi
