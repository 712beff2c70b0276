"""Fill the feature cache: python extract.py DATASET W H MODE [REFLECT]"""
import sys, time
import common as c
ds, W, H, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
r = int(sys.argv[5]) if len(sys.argv) > 5 else 0
t = time.time()
f = c.features(ds, W, H, mode, r, val_def_every=3 if ds == "casting" else 1)
print(ds, W, H, mode, r, {k: v["block4/add"].shape for k, v in f.items()}, f"{time.time()-t:.0f}s")
