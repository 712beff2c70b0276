#!/usr/bin/env python3
"""Writes the seed corpus of one libFuzzer target (scripts/fuzz.sh) into a folder.

images: the decoder test fixtures (PNG, JPEG with EXIF, truncated and corrupt files) and a few sample photos;
onnx:   the small ONNX fixtures of the importer tests (each under 64 KiB), some with auge.* metadata;
journal: watch journals as crashes leave them (open intent, done, torn line, --keep ledger), NUL, a results tail;
npy:    the .npy fixtures of the importer tests and hand-made headers (v1, v2, Fortran order, odd dtypes).
Usage: scripts/make_fuzz_corpus.py TARGET FOLDER
"""
import json
import os
import shutil
import struct
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def files_under(folder, endings, limit=65536):
    for base, _, names in os.walk(os.path.join(ROOT, folder)):
        for name in sorted(names):
            path = os.path.join(base, name)
            if name.lower().endswith(endings) and os.path.getsize(path) <= limit:
                yield path


def journal_seeds():
    source, target = "inbox/a.png", "out/ok/a.png"
    record = {"path": source, "label": "ok", "score": 0.9, "decision": "ok", "ms": 1.0, "id": "seed-1", "moved_to": target,
              "model": "m.onnx", "time": "2026-12-04T00:00:00.000Z"}
    line = json.dumps(record, sort_keys=True)
    intent = {"intent": {"id": "seed-1", "source": source, "target": target, "line": line}}
    with_sidecar = {"intent": {"id": "seed-2", "source": source, "target": "out/error/a.png", "sidecar": "a.png: corrupt\n", "line": line}}
    kept = {"intent": {"id": "seed-3", "source": source, "line": line}}
    done = {"done": "seed-1"}
    entries = [json.dumps(e) for e in (intent, with_sidecar, kept, done)]
    yield "open-intent", entries[0] + "\n"
    yield "done", entries[0] + "\n" + entries[3] + "\n"
    yield "torn", entries[0] + "\n" + entries[1][: len(entries[1]) // 2]
    yield "sidecar", entries[1] + "\n"
    yield "keep", entries[2] + "\n"
    yield "record-written", entries[0] + "\n\0" + line + "\n"
    yield "record-torn", entries[0] + "\n\0" + line[:20]
    yield "kept-ledger", entries[2] + "\n\0\0" + "a.png\t5\t1700000000.0\n"


def npy_seeds():
    def npy(header, payload, version=1):
        text = repr(header).encode() if isinstance(header, dict) else header
        pad = (64 - (10 + len(text) + 1) % 64) % 64
        text = text + b" " * pad + b"\n"
        size = struct.pack("<H", len(text)) if version == 1 else struct.pack("<I", len(text))
        return b"\x93NUMPY" + bytes([version, 0]) + size + text + payload
    yield "f4", npy({"descr": "<f4", "fortran_order": False, "shape": (2, 3)}, struct.pack("<6f", *range(6)))
    yield "f8-v2", npy({"descr": "<f8", "fortran_order": False, "shape": (3,)}, struct.pack("<3d", 1, 2, 3), version=2)
    yield "fortran", npy({"descr": "<f4", "fortran_order": True, "shape": (2, 2)}, struct.pack("<4f", 1, 2, 3, 4))
    yield "scalar", npy({"descr": "<f4", "fortran_order": False, "shape": ()}, struct.pack("<f", 1))
    yield "i8", npy({"descr": "<i8", "fortran_order": False, "shape": (2,)}, struct.pack("<2q", 1, 2))
    yield "big-endian", npy({"descr": ">f4", "fortran_order": False, "shape": (1,)}, struct.pack(">f", 1))


def main():
    target, folder = sys.argv[1], sys.argv[2]
    os.makedirs(folder, exist_ok=True)
    if target == "images":
        seeds = list(files_under("Tests/AugeImageTests/Fixtures", (".png", ".jpg", ".jpeg", ".bin", ".gif", ".bmp", ".txt")))
        seeds += list(files_under("SampleImages/ok", (".jpg", ".png"), limit=1 << 20))[:3]
        for path in seeds:
            shutil.copy(path, os.path.join(folder, os.path.relpath(path, ROOT).replace("/", "_")))
    elif target == "onnx":
        for path in files_under("Tests/AugeONNXTests/Fixtures", (".onnx",)):
            shutil.copy(path, os.path.join(folder, os.path.basename(path)))
    elif target == "journal":
        for name, text in journal_seeds():
            with open(os.path.join(folder, name), "wb") as f:
                f.write(text.encode())
    elif target == "npy":
        for path in list(files_under("Tests/AugeONNXTests/Fixtures", (".npy",), limit=4096))[:40]:
            shutil.copy(path, os.path.join(folder, os.path.basename(path)))
        for name, data in npy_seeds():
            with open(os.path.join(folder, name + ".npy"), "wb") as f:
                f.write(data)
    else:
        sys.exit(f"unknown target {target}: images, onnx, journal or npy")


if __name__ == "__main__":
    main()
