#!/bin/sh
# magnetic tile: input handling, reflect padding, bank size, projection
R="../../.venv/bin/python run.py"
P="[dict(border=0,sigma=1.0), dict(border=1,sigma=1.0), dict(border=2,sigma=1.0), dict(border=1,sigma=1.5)]"
$R mtile 224 224 stretch 16 "dict(taps='s8+16', bank=2000)" "$P"
$R mtile 256 128 rot 16 "dict(taps='s8+16', bank=2000)" "$P"
$R mtile 288 160 rot 16 "dict(taps='s8+16', bank=2000)" "$P"
$R mtile 224 224 pad 0 "dict(taps='s8+16', bank=2000)" "$P"
$R mtile 224 224 stretch 16 "dict(taps='s8+16', bank=8000)" "$P"
$R mtile 224 224 stretch 16 "dict(taps='s8+16', bank=4000, proj=64)" "$P"
