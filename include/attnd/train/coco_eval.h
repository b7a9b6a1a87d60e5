// COCO box evaluation: AP@[.50:.95], AP50, AP75, AP small/medium/large and AR@1/10/100,
// small/medium/large — the 12 numbers of pycocotools' COCOeval for iouType "bbox", computed by the
// same protocol (written here from its description and source, not a port):
//  - per image and category, detections sorted by score (stable: equal scores keep their order in
//    the results), at most maxDets of them;
//  - at each IoU threshold, each detection in turn takes the unmatched ground truth of highest IoU
//    (≥ the threshold; a later one wins a tie), preferring gts that are not ignored; a crowd gt is
//    compared by intersection over the detection's area, may take any number of detections, and
//    makes them ignored (neither true nor false positives);
//  - per area range (all, small < 32², medium, large > 96²; bounds inclusive on both sides), gts
//    whose `area` field lies outside are ignored, and so are unmatched detections whose box area
//    lies outside;
//  - per category, detections of all images ranked by score, precision made monotone from the
//    right and read at recall 0:0.01:1 (the first point reaching each recall, 0 past the last);
//    recall is the last point's; −1 where a category has no (non-ignored) gt, left out of means.
// Used by `attnd detect eval` and the detection task kind on a whole evaluation set (AP does not
// add across shards: the detections are collected first).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "attnd/io/coco_json.h"
#include "attnd/train/eval_sums.h"

namespace attnd {

struct CocoAreaRange {
  std::string name;
  double min_area = 0, max_area = 0;  // inclusive
};

struct CocoEvalParams {
  std::vector<double> iou_thresholds;      // COCO: 0.50, 0.55, ..., 0.95
  std::vector<double> recall_thresholds;   // COCO: 0.00, 0.01, ..., 1.00
  std::vector<CocoAreaRange> area_ranges;  // COCO: all, small, medium, large
  std::vector<int64_t> max_dets;           // ascending; COCO: 1, 10, 100
};

// COCOeval's defaults. The thresholds are computed as numpy.linspace computes them
// (start + i·step), since a recall such as 7/10 compares with 70·0.01 = 0.7000000000000001, not
// 0.7.
CocoEvalParams coco_eval_params();

struct CocoEvalResult {
  CocoEvalParams params;
  std::vector<int64_t> category_ids;  // ascending, the K of the arrays
  // precision[t][r][k][a][m] and recall[t][k][a][m], flattened in that order; −1 where the setting
  // has no ground truth that counts.
  std::vector<double> precision;
  std::vector<double> recall;

  double precision_at(size_t t, size_t r, size_t k, size_t a, size_t m) const;
  double recall_at(size_t t, size_t k, size_t a, size_t m) const;
};

// InputError when a detection names an image or category that `ground_truth` lacks, or has a
// non-finite score or box.
CocoEvalResult evaluate_coco(const CocoDataset& ground_truth,
                             const std::vector<CocoDetection>& detections,
                             const CocoEvalParams& params = coco_eval_params());

// Mean precision (ap = true) or recall over the entries > −1 of the settings selected: one IoU
// threshold (iou < 0: all of them; else the one equal to it, as COCOeval's summarize looks it up),
// an area range by name, a maxDets value. −1 when nothing is left.
double coco_mean(const CocoEvalResult& result, bool ap, double iou, const std::string& area,
                 int64_t max_dets);

// The 12 standard numbers, in COCO's order: AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs,
// ARm, ARl (AR names take the three maxDets values of the params).
std::vector<std::pair<std::string, double>> coco_summary(const CocoEvalResult& result);
Metrics coco_metrics(const CocoEvalResult& result);

// AP@[.50:.95] (area all, the largest maxDets) of each category, −1 for one without ground truth.
std::vector<std::pair<int64_t, double>> coco_category_ap(const CocoEvalResult& result);

// The summary as COCOeval prints it, one line each:
// " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.512".
std::string format_coco_summary(const CocoEvalResult& result);

}  // namespace attnd
