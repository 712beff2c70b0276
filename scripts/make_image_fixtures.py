#!/usr/bin/env python3
"""Writes the image-decoding and preprocessing fixtures for Tests/AugeImageTests/Fixtures.

Run:  PY=$(scripts/python-env.sh) && $PY scripts/make_image_fixtures.py

PNG files are written by a small encoder here (zlib + struct), so every colour type and bit depth
(1/2/4/8/16, palette with tRNS, Adam7) is covered exactly; the Swift tests compute the expected
pixels from the same pattern formulas (see `pattern` below and ImageDecodingTests.swift).
JPEG files and reference results come from Pillow (libjpeg-turbo), the expected pixels being Pillow's
own decode. Preprocessing references are Pillow's float ("F" mode) BILINEAR resize.
Everything is deterministic.
"""
import io
import json
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image, ImageOps

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "AugeImageTests", "Fixtures")
W, H = 13, 7  # odd sizes catch stride and padding mistakes


# ---------------------------------------------------------------------------------------- PNG writer
def chunk(kind, body):
    data = kind + body
    return struct.pack(">I", len(body)) + data + struct.pack(">I", zlib.crc32(data) & 0xFFFFFFFF)


def pack_row(samples, depth):
    if depth == 16:
        return b"".join(struct.pack(">H", s) for s in samples)
    if depth == 8:
        return bytes(samples)
    out, acc, bits = bytearray(), 0, 0
    for s in samples:
        acc = (acc << depth) | s
        bits += depth
        if bits == 8:
            out.append(acc)
            acc, bits = 0, 0
    if bits:
        out.append(acc << (8 - bits))
    return bytes(out)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def write_png(name, width, height, color_type, depth, pixel, palette=None, trns=None, interlace=False, extra=b""):
    """pixel(x, y) -> tuple of samples for one pixel."""
    raw = bytearray()
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    for x0, y0, dx, dy in passes:
        xs = list(range(x0, width, dx))
        if not xs:
            continue
        for y in range(y0, height, dy):
            raw.append(0)  # filter: none
            raw += pack_row([s for x in xs for s in pixel(x, y)], depth)
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 1 if interlace else 0)
    body = chunk(b"IHDR", ihdr) + extra
    if palette is not None:
        body += chunk(b"PLTE", bytes(c for rgb in palette for c in rgb))
    if trns is not None:
        body += chunk(b"tRNS", trns)
    body += chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + chunk(b"IEND", b"")
    data = b"\x89PNG\r\n\x1a\n" + body
    with open(os.path.join(OUT, "png", name), "wb") as f:
        f.write(data)
    return data


def pattern(x, y, levels):
    """The sample pattern the Swift tests recompute: distinct values across the image."""
    return (x * 7 + y * 3) % levels


def alpha(x, y):
    return (x * 20 + y * 35) % 256


def make_pngs():
    os.makedirs(os.path.join(OUT, "png"), exist_ok=True)
    for depth in (1, 2, 4, 8, 16):
        write_png(f"gray{depth}.png", W, H, 0, depth, lambda x, y, d=depth: (pattern(x, y, 1 << d),))
    write_png("gray8-adam7.png", W, H, 0, 8, lambda x, y: (pattern(x, y, 256),), interlace=True)
    write_png("gray-alpha8.png", W, H, 4, 8, lambda x, y: (pattern(x, y, 256), alpha(x, y)))
    write_png("rgb8.png", W, H, 2, 8, lambda x, y: (pattern(x, y, 256), pattern(y, x, 256), (x * y) % 256))
    write_png("rgb16.png", W, H, 2, 16, lambda x, y: (pattern(x, y, 65536), pattern(y, x, 65536), (x * y * 257) % 65536))
    write_png("rgb8-adam7.png", W, H, 2, 8, lambda x, y: (pattern(x, y, 256), pattern(y, x, 256), (x * y) % 256),
              interlace=True)
    write_png("rgba8.png", W, H, 6, 8, lambda x, y: (pattern(x, y, 256), pattern(y, x, 256), (x * y) % 256, alpha(x, y)))
    palette = [((i * 50) % 256, (i * 90) % 256, (i * 130) % 256) for i in range(16)]
    write_png("palette4.png", W, H, 3, 4, lambda x, y: (pattern(x, y, 16),), palette=palette)
    # tRNS: entries 0..3 transparent to various degrees
    write_png("palette8-trns.png", W, H, 3, 8, lambda x, y: (pattern(x, y, 16),), palette=palette,
              trns=bytes([0, 64, 128, 192]))
    with open(os.path.join(OUT, "png", "palette.json"), "w") as f:
        json.dump({"palette": palette, "trns": [0, 64, 128, 192]}, f)


# ---------------------------------------------------------------------------------------- JPEG
def photo_like(width, height, seed):
    """A smooth gradient with shapes and mild noise: compresses like a photo, asymmetric."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    r = 40 + 150 * xx / width + 20 * np.sin(yy / 5)
    g = 60 + 120 * yy / height
    b = 200 - 100 * (xx + yy) / (width + height)
    img = np.stack([r, g, b], -1)
    img[height // 5: height // 2, width // 6: width // 3] = (230, 40, 40)  # a red block, top left
    img += rng.normal(0, 3, img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


def save_jpeg(img, name, **options):
    path = os.path.join(OUT, "jpeg", name)
    img.save(path, "JPEG", **options)
    return path


def write_expected(path, img):
    """The pixels Pillow decodes, raw interleaved 8-bit, next to the file."""
    with open(path + ".expected", "wb") as f:
        f.write(img.tobytes())


def make_jpegs():
    os.makedirs(os.path.join(OUT, "jpeg"), exist_ok=True)
    img = photo_like(61, 37, 1)
    variants = {
        "baseline-420.jpg": dict(quality=90, subsampling=2),
        "baseline-422.jpg": dict(quality=90, subsampling=1),
        "baseline-444.jpg": dict(quality=90, subsampling=0),
        "progressive.jpg": dict(quality=90, progressive=True),
        "restart-markers.jpg": dict(quality=90, restart_marker_blocks=2),
    }
    for name, options in variants.items():
        path = save_jpeg(img, name, **options)
        write_expected(path, Image.open(path).convert("RGB"))
    path = save_jpeg(img.convert("L"), "grayscale.jpg", quality=90)
    write_expected(path, Image.open(path).convert("L"))
    # CMYK: uniform patches with known inks; expected values are computed in the test.
    cmyk = Image.new("CMYK", (16, 8), (0, 0, 0, 0))
    cmyk.paste((0, 255, 255, 0), (0, 0, 8, 8))    # red
    cmyk.paste((0, 0, 0, 128), (8, 0, 16, 8))     # 50 % grey
    save_jpeg(cmyk, "cmyk.jpg", quality=100)
    # A larger photo for DCT-domain scaling: 1/2, 1/4, 1/8 decodes compared with Pillow's draft mode.
    big = photo_like(400, 240, 2)
    path = save_jpeg(big, "large-420.jpg", quality=90)
    for denominator in (2, 4, 8):
        draft = Image.open(path)
        draft.draft("RGB", (400 // denominator, 240 // denominator))
        assert draft.size == (400 // denominator, 240 // denominator), draft.size
        write_expected(path + f".scale{denominator}", draft.convert("RGB"))

    # EXIF orientation 1..8 on a non-square, asymmetric picture (48x32, red block top left).
    base = photo_like(48, 32, 3)
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        path = save_jpeg(base, f"orientation-{orientation}.jpg", quality=95, exif=exif.tobytes())
        write_expected(path, ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
    exif = Image.Exif()
    exif[0x0112] = 6
    base.save(os.path.join(OUT, "png", "orientation-6.png"), "PNG", exif=exif.tobytes())


# ---------------------------------------------------------------------------------------- resize
def make_resize_references():
    """Pillow float BILINEAR resizes of one RGB image, over several geometries."""
    os.makedirs(os.path.join(OUT, "resize"), exist_ok=True)
    rng = np.random.default_rng(7)
    height, width = 61, 97
    yy, xx = np.mgrid[0:height, 0:width]
    rgb = np.stack([(xx * 2 + yy) % 256, (yy * 4) % 256, rng.integers(0, 256, (height, width))], -1).astype(np.uint8)
    Image.fromarray(rgb, "RGB").save(os.path.join(OUT, "resize", "source.png"))
    cases = [
        # name, output (w, h), box (x0, y0, x1, y1) in source pixels
        ("down", (32, 20), (0, 0, width, height)),
        ("strong-down", (13, 7), (0, 0, width, height)),
        ("up", (150, 90), (0, 0, width, height)),
        ("roi", (24, 24), (10, 5, 60, 45)),
        ("crop-centre", (40, 40), ((width - height) / 2, 0, (width + height) / 2, height)),
    ]
    manifest = []
    for name, (ow, oh), box in cases:
        planes = []
        for c in range(3):
            channel = Image.fromarray(rgb[:, :, c].astype(np.float32), "F")
            planes.append(np.asarray(channel.resize((ow, oh), Image.BILINEAR, box=box), dtype=np.float32))
        np.stack(planes).astype("<f4").tofile(os.path.join(OUT, "resize", f"{name}.f32"))
        manifest.append({"name": name, "width": ow, "height": oh, "box": list(box)})
    with open(os.path.join(OUT, "resize", "cases.json"), "w") as f:
        json.dump(manifest, f, indent=1)


# ---------------------------------------------------------------------------------------- bad files
def make_bad_corpus():
    """Files that must each give a clear error, never a crash."""
    bad = os.path.join(OUT, "bad")
    os.makedirs(bad, exist_ok=True)

    def put(name, data):
        with open(os.path.join(bad, name), "wb") as f:
            f.write(data)

    jpeg = open(os.path.join(OUT, "jpeg", "baseline-420.jpg"), "rb").read()
    png = open(os.path.join(OUT, "png", "rgb8.png"), "rb").read()
    put("empty.jpg", b"")
    put("random.jpg", np.random.default_rng(3).integers(0, 256, 2000, dtype=np.uint8).tobytes())
    # Cut in the middle of the entropy-coded data, after the headers.
    large = open(os.path.join(OUT, "jpeg", "large-420.jpg"), "rb").read()
    scan = large.index(b"\xff\xda")
    put("truncated.jpg", large[: scan + (len(large) - scan) // 2])
    put("truncated.png", png[: len(png) // 2])
    crc = bytearray(png)
    crc[29] ^= 0xFF  # last byte of IHDR's CRC
    put("bad-crc.png", bytes(crc))
    # Corrupt deflate stream inside IDAT with a *valid* CRC, so the zlib error is what trips.
    idat = png.index(b"IDAT")
    length = struct.unpack(">I", png[idat - 4: idat])[0]
    body = bytearray(png[idat + 4: idat + 4 + length])
    body[2:10] = b"\xff" * 8
    fixed = png[: idat - 4] + chunk(b"IDAT", bytes(body)) + png[idat + 4 + length + 4:]
    put("bad-zlib.png", fixed)
    # Bomb headers: huge dimensions, tiny files.
    put("bomb.png", b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))
    sof = jpeg.index(b"\xff\xc0")
    bomb = bytearray(jpeg)
    bomb[sof + 5: sof + 9] = struct.pack(">HH", 60000, 60000)
    put("bomb.jpg", bytes(bomb))
    put("gif-named.jpg", b"GIF89a" + b"\0" * 64)
    put("webp.webp", b"RIFF\x24\0\0\0WEBPVP8 " + b"\0" * 40)
    put("bitmap.bmp", b"BM" + b"\0" * 64)
    put("scan.tiff", b"II*\0" + b"\0" * 64)
    put("notes.png", b"this is a text file, not an image\n")
    # A real PNG with a .jpg name: must decode (content decides, not the extension).
    put("png-named.jpg", png)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    make_pngs()
    make_jpegs()
    make_resize_references()
    make_bad_corpus()
    print("fixtures written to", OUT, file=sys.stderr)
