#include "attnd/core/box.h"

#include <algorithm>

namespace attnd {

BoxXYXY to_xyxy(const BoxXYWH& b) { return {b.x, b.y, b.x + b.w, b.y + b.h}; }

BoxXYXY to_xyxy(const BoxCXCYWH& b) {
  return {b.cx - 0.5 * b.w, b.cy - 0.5 * b.h, b.cx + 0.5 * b.w, b.cy + 0.5 * b.h};
}

BoxXYWH to_xywh(const BoxXYXY& b) { return {b.x0, b.y0, b.x1 - b.x0, b.y1 - b.y0}; }

BoxCXCYWH to_cxcywh(const BoxXYXY& b) {
  return {0.5 * (b.x0 + b.x1), 0.5 * (b.y0 + b.y1), b.x1 - b.x0, b.y1 - b.y0};
}

double area(const BoxXYWH& b) { return b.w * b.h; }

double area(const BoxXYXY& b) { return std::max(0.0, b.x1 - b.x0) * std::max(0.0, b.y1 - b.y0); }

double intersection_area(const BoxXYXY& a, const BoxXYXY& b) {
  const double w = std::min(a.x1, b.x1) - std::max(a.x0, b.x0);
  const double h = std::min(a.y1, b.y1) - std::max(a.y0, b.y0);
  return (w <= 0 || h <= 0) ? 0.0 : w * h;
}

namespace {

// COCO's bbIou, operation for operation: the right edge is x + w (not a stored corner), and the
// union is (da + ga) − i, so that an IoU lying exactly on a threshold compares as it does there.
double coco_box_overlap(const BoxXYWH& d, const BoxXYWH& g, bool crowd) {
  const double w = std::min(d.w + d.x, g.w + g.x) - std::max(d.x, g.x);
  if (w <= 0) return 0.0;
  const double h = std::min(d.h + d.y, g.h + g.y) - std::max(d.y, g.y);
  if (h <= 0) return 0.0;
  const double i = w * h;
  const double da = d.w * d.h;
  const double ga = g.w * g.h;
  const double u = crowd ? da : da + ga - i;
  return i / u;
}

}  // namespace

double iou(const BoxXYWH& a, const BoxXYWH& b) { return coco_box_overlap(a, b, false); }

double iou(const BoxXYXY& a, const BoxXYXY& b) {
  const double i = intersection_area(a, b);
  if (i <= 0) return 0.0;
  return i / (area(a) + area(b) - i);
}

double crowd_iou(const BoxXYWH& detection, const BoxXYWH& crowd_gt) {
  return coco_box_overlap(detection, crowd_gt, true);
}

double coco_iou(const BoxXYWH& detection, const BoxXYWH& gt, bool gt_is_crowd) {
  return coco_box_overlap(detection, gt, gt_is_crowd);
}

double giou(const BoxXYXY& a, const BoxXYXY& b) {
  const double i = intersection_area(a, b);
  const double u = area(a) + area(b) - i;
  const BoxXYXY hull{std::min(a.x0, b.x0), std::min(a.y0, b.y0), std::max(a.x1, b.x1),
                     std::max(a.y1, b.y1)};
  const double c = area(hull);
  if (c <= 0) return 0.0;
  const double overlap = u > 0 ? i / u : 0.0;
  return overlap - (c - u) / c;
}

}  // namespace attnd
