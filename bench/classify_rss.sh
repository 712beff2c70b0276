#!/usr/bin/env bash
# Memory over a long run: `auge classify` over N photos (the 200 benchmark JPEGs hard-linked N/200
# times), with its resident set size sampled every 2 s. Flat RSS means no growth per image.
# Usage: bench/classify_rss.sh MODEL.onnx [N] [extra classify flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1; count=${2:-10000}; shift $(( $# >= 2 ? 2 : 1 ))
work=${TMPDIR:-/tmp}/auge-classify-rss
PY=$(scripts/python-env.sh)
"$PY" bench/make_photos.py "${TMPDIR:-/tmp}/auge-classify-bench/photos" 200
rm -rf "$work" && mkdir -p "$work/photos"
for round in $(seq 0 $(( count / 200 - 1 ))); do
    for photo in "${TMPDIR:-/tmp}"/auge-classify-bench/photos/*.jpg; do ln -f "$photo" "$work/photos/r${round}_$(basename "$photo")"; done
done
swift build -c release --product auge -Xswiftc -enable-testing >&2
.build/release/auge classify --model "$model" "$@" --format jsonl --quiet "$work/photos" > "$work/results.jsonl" 2> "$work/summary.txt" &
pid=$!
while kill -0 $pid 2>/dev/null; do
    rss=$(awk '/VmRSS/{print $2}' /proc/$pid/status 2>/dev/null || true)
    [ -n "$rss" ] && echo "photos=$(wc -l < "$work/results.jsonl") rss_mb=$(( rss / 1024 ))"
    sleep 2
done
wait $pid || true
cat "$work/summary.txt"
