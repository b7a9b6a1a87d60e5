// Axis-aligned boxes for detection: COCO's [x, y, width, height], corners [x0, y0, x1, y1] and
// DETR's [cx, cy, w, h]; conversions, area, IoU, generalised IoU (the DETR box loss) and COCO's
// crowd IoU. Plain doubles, no torch: the COCO evaluation and the tests use these directly, and the
// tensor versions of the loss are checked against them.
#pragma once

namespace attnd {

// COCO's box: top-left corner and size, in pixels.
struct BoxXYWH {
  double x = 0, y = 0, w = 0, h = 0;
};

// Corners: (x0, y0) top-left, (x1, y1) bottom-right. A box with x1 < x0 or y1 < y0 is empty.
struct BoxXYXY {
  double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
};

// DETR's box: centre and size (normalised to [0, 1] by the image size in the model's heads).
struct BoxCXCYWH {
  double cx = 0, cy = 0, w = 0, h = 0;
};

BoxXYXY to_xyxy(const BoxXYWH& b);
BoxXYXY to_xyxy(const BoxCXCYWH& b);
BoxXYWH to_xywh(const BoxXYXY& b);
BoxCXCYWH to_cxcywh(const BoxXYXY& b);

// w·h as given (COCO's detection area; a negative size is refused when boxes are read).
double area(const BoxXYWH& b);
// (x1 − x0)·(y1 − y0), 0 for an empty box.
double area(const BoxXYXY& b);

// Area of the overlap, 0 when the boxes only touch or are apart.
double intersection_area(const BoxXYXY& a, const BoxXYXY& b);

// Intersection over union, computed as COCO's bbIou does (same operations, so the same doubles);
// 0 when the boxes do not overlap.
double iou(const BoxXYWH& a, const BoxXYWH& b);
double iou(const BoxXYXY& a, const BoxXYXY& b);

// COCO's IoU against a crowd ground truth: intersection over the *detection's* area, so a detection
// lying inside a crowd region scores 1 however large the region is. 0 without overlap.
double crowd_iou(const BoxXYWH& detection, const BoxXYWH& crowd_gt);

// IoU, crowd_iou when `gt_is_crowd`: the number COCOeval compares with its thresholds.
double coco_iou(const BoxXYWH& detection, const BoxXYWH& gt, bool gt_is_crowd);

// Generalised IoU (Rezatofighi et al. 2019): IoU − (C − U) / C with C the area of the smallest box
// enclosing both and U the union. In [−1, 1]; for disjoint boxes it still says how far apart they
// are, which is why DETR's box loss uses 1 − GIoU. Degenerate pairs (C = 0, both boxes the same
// point or line) give 0.
double giou(const BoxXYXY& a, const BoxXYXY& b);

}  // namespace attnd
