#!/bin/sh
# casting: input size, reflect padding, border, layers
R="../../.venv/bin/python run.py"
P="[dict(border=0,sigma=1.0), dict(border=1,sigma=1.0), dict(border=2,sigma=1.0), dict(border=2,sigma=0.5)]"
$R casting 224 224 stretch 0 "dict(taps='s8+16', bank=2000)" "$P"
$R casting 224 224 stretch 16 "dict(taps='s8+16', bank=2000)" "$P"
$R casting 224 224 stretch 16 "dict(taps='s8+16b', bank=2000)" "$P"
$R casting 320 320 stretch 0 "dict(taps='s8+16', bank=2000)" "$P"
