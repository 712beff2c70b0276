#!/usr/bin/env python3
"""Load and crash test of `auge watch`: every photo accounted for exactly once.

Eight producers write PHOTOS photos into the inbox (most written and closed, some written as .tmp or as a
hidden name and renamed, some written slowly in pieces, some corrupt) while the model file
is replaced every few seconds (alternating two versions with different thresholds, by rename) and the
watcher is killed with SIGKILL KILLS times and started again at once. When the producers are done, the
watcher drains the inbox and is stopped. Then: every photo must be in exactly one output folder, the
inbox empty, results.jsonl must hold exactly one well-formed record per photo, the corrupt ones
decided `error`.

Usage: scripts/watch_load_test.py AUGE MODEL [--photos 10000] [--kills 20] [--producers 8]
Prints the counts and exits 0 when every check passed.
"""
import argparse
import collections
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("auge")
    ap.add_argument("model")
    ap.add_argument("--photos", type=int, default=10000)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--producers", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)

    work = tempfile.mkdtemp(prefix="auge-load-")
    inbox, out = os.path.join(work, "inbox"), os.path.join(work, "out")
    os.makedirs(inbox)
    samples = os.path.join(HERE, "..", "SampleImages")
    blobs = []
    for folder in ("ok", "chip", "crack", "dent"):
        for name in sorted(os.listdir(os.path.join(samples, folder)))[:5]:
            with open(os.path.join(samples, folder, name), "rb") as f:
                blobs.append(f.read())
    corrupt = blobs[0][: len(blobs[0]) // 3]  # a JPEG cut off: decided `error`

    # Two versions of the model, swapped in by rename every few seconds.
    model = os.path.join(work, "model.onnx")
    versions = [os.path.join(work, "model-a.onnx"), os.path.join(work, "model-b.onnx")]
    shutil.copy(args.model, versions[0])
    subprocess.run([args.auge, "annotate", args.model, "--threshold", "0.6", "-o", versions[1]], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shutil.copy(versions[0], model)

    expected = {}  # final name -> "error" or "decided"
    expected_lock = threading.Lock()
    per_producer = args.photos // args.producers

    def produce(k):
        local = random.Random(args.seed * 100 + k)
        for i in range(per_producer):
            name = f"p{k}_{i:05d}.jpg"
            path = os.path.join(inbox, name)
            kind = local.randrange(20)
            data = corrupt if kind == 0 else local.choice(blobs)
            if kind in (1, 2, 3, 4, 5):  # .tmp then rename, as cameras are told to
                with open(path + ".tmp", "wb") as f:
                    f.write(data)
                os.rename(path + ".tmp", path)
            elif kind == 6:  # written under a hidden name (ignored), then renamed into view
                hidden = os.path.join(inbox, f".{name}.part")
                with open(hidden, "wb") as f:
                    f.write(data)
                os.rename(hidden, path)
            elif kind == 7:  # written slowly, in pieces
                with open(path, "wb") as f:
                    for start in range(0, len(data), 4096):
                        f.write(data[start:start + 4096])
                        f.flush()
                        time.sleep(0.005)
            else:
                with open(path, "wb") as f:
                    f.write(data)
            with expected_lock:
                expected[name] = "error" if kind == 0 else "decided"
            time.sleep(local.random() * 0.05)  # 8 producers: about 300 photos/s in all, over some 35 s

    def start():
        log = open(os.path.join(work, "watch.log"), "a")
        return subprocess.Popen([args.auge, "watch", inbox, "--out", out, "--model", model, "--status-interval", "3600"],
                                stdout=subprocess.DEVNULL, stderr=log)

    watcher = start()
    producers = [threading.Thread(target=produce, args=(k,)) for k in range(args.producers)]
    for p in producers:
        p.start()
    stop_swapping = threading.Event()

    def swap_models():
        n = 0
        while not stop_swapping.wait(1.5):
            n += 1
            temporary = model + ".new"
            shutil.copy(versions[n % 2], temporary)
            os.rename(temporary, model)

    swapper = threading.Thread(target=swap_models)
    swapper.start()
    kills = 0
    while kills < args.kills:
        time.sleep(rng.uniform(0.5, 3.0))
        watcher.send_signal(signal.SIGKILL)
        watcher.wait()
        kills += 1
        watcher = start()
    for p in producers:
        p.join()
    # Drain: the inbox empties (slow and settling files included), then a clean stop.
    deadline = time.time() + 300
    while time.time() < deadline and any(not n.startswith(".") for n in os.listdir(inbox)):
        time.sleep(0.5)
    stop_swapping.set()
    swapper.join()
    time.sleep(1.5)
    watcher.send_signal(signal.SIGTERM)
    status = watcher.wait(timeout=60)

    failures = []
    left = [n for n in os.listdir(inbox) if not n.startswith(".")]
    if left:
        failures.append(f"{len(left)} photos left in the inbox, e.g. {left[:3]}")
    placed = collections.Counter()
    for decision in ("ok", "defect", "review", "error"):
        folder = os.path.join(out, decision)
        if os.path.isdir(folder):
            for n in os.listdir(folder):
                if not n.endswith(".error.txt") and not n.startswith("."):
                    placed[n] += 1
    records = collections.Counter()
    decisions = {}
    broken = 0
    with open(os.path.join(out, "results.jsonl")) as f:
        for line in f:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                broken += 1
                continue
            name = os.path.basename(record["path"])
            records[name] += 1
            decisions[name] = record["decision"]
    if broken:
        failures.append(f"{broken} broken lines in results.jsonl")
    missing_place = [n for n in expected if placed[n] != 1]
    missing_record = [n for n in expected if records[n] != 1]
    strays = [n for n in placed if n not in expected] + [n for n in records if n not in expected]
    if missing_place:
        failures.append(f"{len(missing_place)} photos not in exactly one output folder, e.g. "
                        + ", ".join(f"{n} x{placed[n]}" for n in missing_place[:3]))
    if missing_record:
        failures.append(f"{len(missing_record)} photos without exactly one record, e.g. "
                        + ", ".join(f"{n} x{records[n]}" for n in missing_record[:3]))
    if strays:
        failures.append(f"{len(strays)} records or files of no photo written, e.g. {strays[:3]}")
    wrong_errors = [n for n, kind in expected.items() if kind == "error" and decisions.get(n) != "error"]
    if wrong_errors:
        failures.append(f"{len(wrong_errors)} corrupt photos not decided error, e.g. {wrong_errors[:3]}")
    if status != 0:
        failures.append(f"the final watcher exited {status}")
    with open(os.path.join(work, "watch.log")) as f:
        log = f.read()
    reloads = log.count("reloaded the model")
    recovered = log.count("after an interrupted run")
    print(f"{len(expected)} photos by {args.producers} producers, {kills} kills (SIGKILL), {reloads} model reloads, "
          f"{recovered} interrupted placements completed at restart")
    print(f"placed once: {sum(1 for n in expected if placed[n] == 1)}, recorded once: {sum(1 for n in expected if records[n] == 1)}, "
          f"errors: {sum(1 for k in expected.values() if k == 'error')}")
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
        print(f"kept for inspection: {work}", file=sys.stderr)
        sys.exit(1)
    shutil.rmtree(work)
    print("every photo accounted for exactly once")


if __name__ == "__main__":
    main()
