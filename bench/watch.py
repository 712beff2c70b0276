#!/usr/bin/env python3
"""Latency and idle-CPU benchmark of `auge watch`.

A producer drops 1920x1080 JPEGs into the inbox at a steady rate (written as NAME.tmp, closed, renamed:
the rename is the moment the file is "closed" for the line). Latency is from that moment to the
moment the watcher's results line arrives on its stdout (--jsonl: written after the record is
fsynced and the file moved). Then the watcher idles with no files and its CPU time is read from
/proc. Prints p50/p90/p99/max latency and the idle CPU share.

With --screen, the same run is made twice, side by side: without the line station, then with
`--http` and open screens (--screen-clients live event streams, and a client polling the status, the
latest parts and their thumbnails every 200 ms, as the live screen does). Heatmaps are off in both
runs (--no-http-heatmaps), so the difference is the server's alone.

Usage: bench/watch.py MODEL.onnx [--rate 20] [--files 400] [--idle 60] [--screen] [--screen-clients 5] [--auge .build/release/auge]
Photos come from bench/make_photos.py (generated on first use).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--rate", type=float, default=20)
    ap.add_argument("--files", type=int, default=400)
    ap.add_argument("--idle", type=float, default=60)
    ap.add_argument("--auge", default=os.path.join(HERE, "..", ".build", "release", "auge"))
    ap.add_argument("--photos", default=os.path.join(tempfile.gettempdir(), "auge-classify-bench", "photos"))
    ap.add_argument("--screen", action="store_true", help="also run with the line station and open screens, side by side")
    ap.add_argument("--screen-clients", type=int, default=5)
    args = ap.parse_args()
    subprocess.run([sys.executable, os.path.join(HERE, "make_photos.py"), args.photos, "50"], check=True)
    photos = sorted(os.path.join(args.photos, f) for f in os.listdir(args.photos) if f.endswith(".jpg"))[:50]
    blobs = [open(p, "rb").read() for p in photos]
    print(f"# {os.path.basename(args.model)}, {args.files} files 1920x1080 JPEG at {args.rate:g} files/s, "
          f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d', time.gmtime())}")
    for screen in ([False, True] if args.screen else [False]):
        measure(args, blobs, screen)


def open_screens(base, clients, stop):
    """Live event streams that read everything, and one client polling what the live screen polls."""
    def stream():
        with urllib.request.urlopen(base + "/api/events") as events:
            while not stop.is_set() and events.readline():
                pass

    def poll():
        while not stop.is_set():
            urllib.request.urlopen(base + "/api/status").read()
            for part in json.loads(urllib.request.urlopen(base + "/api/parts?limit=24").read())["parts"][:4]:
                if part.get("photo_url"):
                    urllib.request.urlopen(base + part["photo_url"]).read()
            time.sleep(0.2)

    for target in [stream] * clients + [poll]:
        threading.Thread(target=target, daemon=True).start()


def measure(args, blobs, screen):
    work = tempfile.mkdtemp(prefix="auge-watch-bench-")
    inbox, out = os.path.join(work, "in"), os.path.join(work, "out")
    os.makedirs(inbox)
    command = [args.auge, "watch", inbox, "--out", out, "--model", args.model, "--jsonl", "--status-interval", "3600"]
    if screen:
        command += ["--http", "127.0.0.1:0", "--no-http-heatmaps"]
    watcher = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE if screen else subprocess.DEVNULL, text=True)
    stop = threading.Event()
    if screen:
        base = watcher.stderr.readline().split("line station at ", 1)[1].strip().rstrip("/")
        open_screens(base, args.screen_clients, stop)
    closed = {}
    latencies = []
    done = threading.Event()

    def reader():
        for line in watcher.stdout:
            now = time.perf_counter()
            name = os.path.basename(line.split('"path":"', 1)[1].split('"', 1)[0])
            if name in closed:
                latencies.append(now - closed[name])
            if len(latencies) >= args.files:
                done.set()

    threading.Thread(target=reader, daemon=True).start()
    time.sleep(1.0)  # model load and warm-up are not part of the steady state
    start = time.perf_counter()
    for i in range(args.files):
        due = start + i / args.rate
        time.sleep(max(0, due - time.perf_counter()))
        name = f"part_{i:05d}.jpg"
        tmp = os.path.join(inbox, name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(blobs[i % len(blobs)])
        closed[name] = time.perf_counter()
        os.rename(tmp, os.path.join(inbox, name))
    done.wait(timeout=60)
    time.sleep(1.0)
    idle_start, cpu_start = time.perf_counter(), cpu_seconds(watcher.pid)
    time.sleep(args.idle)
    idle_cpu = (cpu_seconds(watcher.pid) - cpu_start) / (time.perf_counter() - idle_start)
    stop.set()
    watcher.terminate()
    watcher.wait(timeout=10)
    shutil.rmtree(work)

    ms = sorted(x * 1000 for x in latencies)
    pick = lambda p: ms[min(len(ms) - 1, int(len(ms) * p))]
    what = f"with the station and {args.screen_clients} open screens" if screen else "without the station"
    print(f"{what}: {len(ms)}/{args.files} records")
    print(f"  latency closed->record ms: p50 {pick(0.5):.2f}  p90 {pick(0.9):.2f}  p99 {pick(0.99):.2f}  max {ms[-1]:.2f}")
    print(f"  idle CPU over {args.idle:g} s with no new files: {idle_cpu * 100:.2f} % of one core")


if __name__ == "__main__":
    main()
