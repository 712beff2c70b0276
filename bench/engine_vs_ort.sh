#!/usr/bin/env bash
# Batch-1 latency of the Auge engine and ONNX Runtime on the same machine in one run, with ratios.
#
#   bench/engine_vs_ort.sh [seconds-per-config]
#
# Auge builds the networks in code (Sources/AugeEngine/Zoo); ONNX Runtime runs the peer kit's ONNX
# files of the same architectures (PEERS, default /tmp/peers: see its README; the models are made
# on first use). Both use seeded random weights; latency does not depend on the values.
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS=${PEERS:-/tmp/peers}
SECONDS_PER_CONFIG=${1:-3}
OUT=$(mktemp -d)

swift build -c release --product auge-engine-bench -Xswiftc -enable-testing >/dev/null
[ -f "$PEERS/models/resnet18.onnx" ] || (cd "$PEERS" && venv/bin/python make_models.py >/dev/null)

echo "== Auge engine"
.build/release/auge-engine-bench --threads 1,2 --seconds "$SECONDS_PER_CONFIG" | tee "$OUT/auge.txt"
echo "== ONNX Runtime"
(cd "$PEERS" && venv/bin/python bench_peers.py --runtimes ort --threads 1,2 --no-b16 \
    --min-time "$SECONDS_PER_CONFIG" --json "$OUT/ort.json" >"$OUT/ort.log" 2>&1) || { cat "$OUT/ort.log"; exit 1; }

python3 - "$OUT/auge.txt" "$OUT/ort.json" <<'PY'
import json, sys
auge = {}
for line in open(sys.argv[1]):
    parts = line.split()
    if len(parts) >= 4 and parts[1].isdigit():
        auge[(parts[0], int(parts[1]))] = (float(parts[2]), float(parts[3]))
ort = {(r["model"], int(r["threads"])): r for r in json.load(open(sys.argv[2]))["results"] if "lat_med_ms" in r}
print(f"{'model':15s} {'threads':>7s} {'auge ms':>9s} {'ort ms':>9s} {'auge/ort':>9s}  (target <= 0.80)")
for key in sorted(auge, key=lambda k: (k[0], k[1])):
    a = auge[key][0]
    o = ort.get(key, {}).get("lat_med_ms")
    print(f"{key[0]:15s} {key[1]:7d} {a:9.3f} " + (f"{o:9.3f} {a / o:9.2f}" if o else f"{'-':>9s} {'-':>9s}"))
PY
rm -rf "$OUT"
