#!/bin/sh
# magnetic tile, 224 stretch: layers / aggregation / border / score
R="../../.venv/bin/python run.py"
P="[dict(border=0), dict(border=1), dict(border=2), dict(border=2,sigma=0), dict(border=2,sigma=1.0), dict(border=2,score='topk')]"
$R mtile 224 224 stretch 0 "dict(taps='s8+16', bank=2000)" "$P"
$R mtile 224 224 stretch 0 "dict(taps='s8+16', bank=2000, agg=1)" "[dict(border=2)]"
$R mtile 224 224 stretch 0 "dict(taps='s8+16', bank=2000, method='random')" "[dict(border=2)]"
$R mtile 224 224 stretch 0 "dict(taps='s8', bank=2000)" "[dict(border=2)]"
$R mtile 224 224 stretch 0 "dict(taps='s8+16b', bank=2000)" "[dict(border=2)]"
$R mtile 224 224 stretch 0 "dict(taps='s4+8+16', bank=2000)" "[dict(border=2)]"
$R mtile 224 224 stretch 0 "dict(taps='s8+16', bank=2000, std=True)" "[dict(border=2)]"
