import sys, json, types, io, contextlib
for m in ["matplotlib", "matplotlib.pyplot", "matplotlib.collections", "matplotlib.patches"]:
    mod = types.ModuleType(m); mod.PatchCollection = mod.Polygon = None; sys.modules[m] = mod
import numpy as np
np.float = float
sys.path.insert(0, "/tmp/xcheck/pyref")
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
def run(gts, dts, images=(1,), cats=(1,)):
    ds = {"images": [{"id": i, "width": 640, "height": 480, "file_name": "x"} for i in images],
          "categories": [{"id": c, "name": "c"} for c in cats], "annotations": []}
    for k, (img, box, cat, crowd, area) in enumerate(gts):
        ds["annotations"].append({"id": k + 1, "image_id": img, "category_id": cat, "bbox": box,
                                  "iscrowd": int(crowd), "area": area if area is not None else box[2] * box[3]})
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(); gt.dataset = ds; gt.createIndex()
        dt = gt.loadRes([{"image_id": i, "bbox": b, "score": s, "category_id": c} for (i, b, s, c) in dts])
        E = COCOeval(gt, dt, "bbox"); E.evaluate(); E.accumulate(); E.summarize()
    return E.stats
G = lambda img, box, cat=1, crowd=False, area=None: (img, box, cat, crowd, area)
D = lambda img, box, s, cat=1: (img, box, s, cat)
# recall threshold quirk: expect 718/909
gts = [G(1, [20.0 * j, 0, 10, 10]) for j in range(10)]
dts = [D(1, [20.0 * j, 0, 10, 10], 0.9 - 0.01 * j) for j in range(7)] + [D(1, [500, 400, 10, 10], 0.5), D(1, [140, 0, 10, 10], 0.4)]
print("quirk", run(gts, dts)[0], 718 / 909)
print("tie across images (1.0, 0.5):", run([G(1, [0,0,10,10])], [D(2,[0,0,10,10],.5), D(1,[0,0,10,10],.5)], images=(1,2))[0],
      run([G(2, [0,0,10,10])], [D(2,[0,0,10,10],.5), D(1,[0,0,10,10],.5)], images=(1,2))[0])
print("tie in image (0.5, 1.0):", run([G(1,[0,0,10,10])],[D(1,[50,50,10,10],.7),D(1,[0,0,10,10],.7)])[0], run([G(1,[0,0,10,10])],[D(1,[0,0,10,10],.7),D(1,[50,50,10,10],.7)])[0])
print("crowd (1.0):", run([G(1,[100,100,100,100],crowd=True), G(1,[0,0,10,10])], [D(1,[120,120,20,20],.9), D(1,[150,150,10,10],.8), D(1,[0,0,10,10],.7)])[0])
s = run([G(1,[0,0,10,10]), G(1,[100,0,50,50]), G(1,[0,200,100,100])], [D(1,[300,300,120,120],.95), D(1,[0,0,10,10],.9), D(1,[100,0,50,50],.8)])
print("areas", list(s), 134/303)
print("iou .5 / .75:", list(run([G(1,[0,0,10,10])],[D(1,[0,0,10,5],.9)])[:3]), list(run([G(1,[0,0,10,10])],[D(1,[0,0,10,7.5],.9)])[:3]))
print("declared area 5000 (APs -1, APm 1):", list(run([G(1,[0,0,10,10],area=5000)],[D(1,[0,0,10,10],.9)])[3:6]))
print("maxdets AR1 1/3:", list(run([G(1,[0,0,10,10]),G(1,[20,0,10,10]),G(1,[40,0,10,10])],[D(1,[0,0,10,10],.9),D(1,[20,0,10,10],.8),D(1,[40,0,10,10],.7)])[6:9]))
