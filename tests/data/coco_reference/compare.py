import sys, json, types, io, contextlib
for m in ["matplotlib", "matplotlib.pyplot", "matplotlib.collections", "matplotlib.patches"]:
    mod = types.ModuleType(m); mod.PatchCollection = mod.Polygon = None; sys.modules[m] = mod
import numpy as np
np.float = float  # removed in numpy 1.24; cocoeval.accumulate still uses it
sys.path.insert(0, "/tmp/xcheck/pyref")
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
n = int(sys.argv[1]); worst = 0.0; bad = 0
for i in range(n):
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(f"/tmp/xcheck/cases/gt_{i}.json")
        dt = gt.loadRes(f"/tmp/xcheck/cases/dt_{i}.json")
        E = COCOeval(gt, dt, "bbox"); E.evaluate(); E.accumulate(); E.summarize()
    ours = json.load(open(f"/tmp/xcheck/cases/ours_{i}.json"))
    diff = max(abs(a - b) for a, b in zip(E.stats, ours))
    worst = max(worst, diff)
    if diff > 1e-12:
        bad += 1
        if bad <= 5: print("case", i, "ref", list(E.stats), "ours", ours)
print(f"{n} cases, {bad} differ, largest difference {worst:.3g}")
