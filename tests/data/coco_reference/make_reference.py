# Adds pycocotools' 12 numbers to each case that `gen reference` wrote, and writes the reference
# file the test suite reads: python3 make_reference.py IN.json OUT.json (see README.md).
import sys, json, types, io, contextlib, copy
for m in ["matplotlib", "matplotlib.pyplot", "matplotlib.collections", "matplotlib.patches"]:
    mod = types.ModuleType(m); mod.PatchCollection = mod.Polygon = None; sys.modules[m] = mod
import numpy as np
np.float = float  # removed in numpy 1.24; cocoeval.accumulate still uses it
sys.path.insert(0, "/tmp/xcheck/pyref")
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from pycocotools import mask as stub

def evaluate(case, max_dets=None):
    ds = {"images": [{"id": i, "file_name": "x.png", "width": 400, "height": 400} for i in case["images"]],
          "categories": [{"id": c, "name": "c"} for c in case["categories"]],
          "annotations": [{"id": k + 1, "image_id": g[0], "category_id": g[1], "bbox": g[2:6],
                           "area": g[6], "iscrowd": g[7]} for k, g in enumerate(case["gts"])]}
    dts = [{"image_id": d[0], "category_id": d[1], "bbox": d[2:6], "score": d[6]} for d in case["dts"]]
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(); gt.dataset = copy.deepcopy(ds); gt.createIndex()
        dt = gt.loadRes(copy.deepcopy(dts))
        E = COCOeval(gt, dt, "bbox")
        if max_dets: E.params.maxDets = max_dets
        E.evaluate(); E.accumulate(); E.summarize()
    return [float(x) for x in E.stats]

cases = json.load(open(sys.argv[1]))["cases"]
thr = set(np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True).tolist())
tally = dict(crowds=0, area_unlike_box=0, area_on_bound=0, tied_scores=0, iou_on_threshold=0,
             cuts=0, minus_one=0)
for case in cases:
    case["stats"] = evaluate(case)
    tally["crowds"] += sum(g[7] for g in case["gts"])
    tally["area_unlike_box"] += sum(g[6] != g[4] * g[5] for g in case["gts"])
    tally["area_on_bound"] += sum(g[6] in (1024, 9216) for g in case["gts"])
    scores = [d[6] for d in case["dts"]]
    tally["tied_scores"] += len(scores) - len(set(scores))
    for g in case["gts"]:
        for d in case["dts"]:
            if d[:2] == g[:2]:
                tally["iou_on_threshold"] += float(stub.iou([d[2:6]], [g[2:6]], [g[7]])[0][0]) in thr
    cells = {}
    for d in case["dts"]: cells[tuple(d[:2])] = cells.get(tuple(d[:2]), 0) + 1
    if max(cells.values()) > 100:
        assert evaluate(case, [1, 10, 1000]) != case["stats"], "maxDets 100 changes nothing"
        tally["cuts"] += 1
    tally["minus_one"] += case["stats"].count(-1.0)
print(len(cases), "cases;", tally)

def num(x):
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(float(x))
def row(r):
    return "[" + ",".join(num(x) for x in r) + "]"
about = ("pycocotools' COCOeval (iouType bbox) on random cases: inputs made by "
         "tests/data/coco_reference/gen.cpp, the 12 numbers of E.stats by its make_reference.py "
         "(see its README.md). gts: [image_id, category_id, x, y, w, h, area, iscrowd]; "
         "dts: [image_id, category_id, x, y, w, h, score], in results-file order.")
with open(sys.argv[2], "w") as f:
    f.write('{"about": ' + json.dumps(about) + ',\n"cases": [\n')
    for i, c in enumerate(cases):
        f.write('{"images": %s, "categories": %s,\n "stats": [%s],\n "gts": [%s],\n "dts": [%s]}%s\n' % (
            json.dumps(c["images"]), json.dumps(c["categories"]),
            ", ".join(repr(x) for x in c["stats"]),
            ",\n  ".join(row(g) for g in c["gts"]), ",\n  ".join(row(d) for d in c["dts"]),
            "," if i + 1 < len(cases) else ""))
    f.write("]}\n")
