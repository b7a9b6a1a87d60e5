#include "attnd/train/coco_eval.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <optional>
#include <sstream>

#include "attnd/core/box.h"
#include "attnd/core/error.h"

namespace attnd {

namespace {

// numpy.linspace(start, stop, num): start + i·(stop − start)/(num − 1), the last one exactly stop.
std::vector<double> linspace(double start, double stop, int num) {
  std::vector<double> out(num);
  const double step = (stop - start) / (num - 1);
  for (int i = 0; i < num; ++i) out[i] = static_cast<double>(i) * step + start;
  out[num - 1] = stop;
  return out;
}

// Detections of one image and category after matching, in one area range.
struct CellEval {
  std::vector<double> scores;              // descending, at most the largest maxDets
  std::vector<std::vector<char>> matched;  // [t][d]
  std::vector<std::vector<char>> ignored;  // [t][d]
  int64_t counted_gts = 0;                 // gts that are not ignored
};

struct Gt {
  BoxXYWH box;
  double area;
  bool crowd;
};
struct Dt {
  BoxXYWH box;
  double score;
};

// The greedy matching of COCOeval::evaluateImg for one image, category and area range.
// `dts` are sorted by score and truncated; `ious[d][g]` against `gts` in their given order.
CellEval evaluate_cell(const std::vector<Gt>& gts, const std::vector<Dt>& dts,
                       const std::vector<std::vector<double>>& ious, const CocoAreaRange& range,
                       const std::vector<double>& iou_thresholds) {
  const size_t G = gts.size(), D = dts.size(), T = iou_thresholds.size();
  auto outside = [&](double a) { return a < range.min_area || a > range.max_area; };
  // Gts that do not count (crowds, and those outside the area range) go last, order kept: a
  // detection looks at them only when no counted gt is good enough.
  std::vector<char> gt_ignored(G);
  for (size_t g = 0; g < G; ++g) gt_ignored[g] = gts[g].crowd || outside(gts[g].area);
  std::vector<size_t> order(G);
  for (size_t g = 0; g < G; ++g) order[g] = g;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return gt_ignored[a] < gt_ignored[b]; });

  CellEval cell;
  for (const auto& d : dts) cell.scores.push_back(d.score);
  cell.matched.assign(T, std::vector<char>(D, 0));
  cell.ignored.assign(T, std::vector<char>(D, 0));
  for (size_t g = 0; g < G; ++g) cell.counted_gts += gt_ignored[g] ? 0 : 1;

  for (size_t t = 0; t < T; ++t) {
    std::vector<char> gt_taken(G, 0);
    for (size_t d = 0; d < D; ++d) {
      // The threshold itself matches (≥); capped below 1 so that a perfect box still can.
      double best_iou = std::min(iou_thresholds[t], 1 - 1e-10);
      std::optional<size_t> best;
      for (size_t g : order) {
        // A crowd region stands for many objects: any number of detections may fall in it.
        if (gt_taken[g] && !gts[g].crowd) continue;
        // Once a counted gt is matched, ignored gts (all after it) cannot take its place.
        if (best && !gt_ignored[*best] && gt_ignored[g]) break;
        if (ious[d][g] < best_iou) continue;
        best_iou = ious[d][g];  // an equal IoU further on replaces this one, as in COCOeval
        best = g;
      }
      if (!best) continue;
      cell.matched[t][d] = 1;
      cell.ignored[t][d] = gt_ignored[*best];  // matched to a crowd or an out-of-range gt
      gt_taken[*best] = 1;
    }
    // An unmatched detection of a size outside the range is no false positive of that range.
    for (size_t d = 0; d < D; ++d)
      if (!cell.matched[t][d] && outside(area(dts[d].box))) cell.ignored[t][d] = 1;
  }
  return cell;
}

// COCOeval::accumulate for one category, area range and maxDets: fills precision[t][r], recall[t].
void accumulate(const std::vector<const CellEval*>& cells, int64_t max_det, const CocoEvalParams& p,
                std::vector<std::vector<double>>& precision, std::vector<double>& recall) {
  struct Ranked {
    double score;
    const CellEval* cell;
    size_t d;
  };
  std::vector<Ranked> ranked;
  int64_t counted_gts = 0;
  for (const CellEval* c : cells) {
    const size_t n = std::min(c->scores.size(), static_cast<size_t>(max_det));
    for (size_t d = 0; d < n; ++d) ranked.push_back({c->scores[d], c, d});
    counted_gts += c->counted_gts;
  }
  if (counted_gts == 0) return;  // stays −1
  // Stable: equal scores stay in image order, then score order within the image.
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const Ranked& a, const Ranked& b) { return a.score > b.score; });
  const double eps = std::numeric_limits<double>::epsilon();  // numpy.spacing(1)
  for (size_t t = 0; t < p.iou_thresholds.size(); ++t) {
    // Every detection is a point of the curve, ignored ones too (they repeat the point before).
    std::vector<double> rc, pr;
    double tp = 0, fp = 0;
    for (const auto& r : ranked) {
      if (!r.cell->ignored[t][r.d]) (r.cell->matched[t][r.d] ? tp : fp) += 1;
      rc.push_back(tp / static_cast<double>(counted_gts));
      pr.push_back(tp / (fp + tp + eps));
    }
    recall[t] = rc.empty() ? 0.0 : rc.back();
    for (size_t i = pr.size(); i-- > 1;) pr[i - 1] = std::max(pr[i - 1], pr[i]);
    for (size_t ri = 0; ri < p.recall_thresholds.size(); ++ri) {
      // The first point whose recall reaches the threshold (numpy.searchsorted, side "left").
      const size_t i = std::lower_bound(rc.begin(), rc.end(), p.recall_thresholds[ri]) - rc.begin();
      precision[t][ri] = i < pr.size() ? pr[i] : 0.0;
    }
  }
}

}  // namespace

CocoEvalParams coco_eval_params() {
  CocoEvalParams p;
  p.iou_thresholds = linspace(0.5, 0.95, 10);
  p.recall_thresholds = linspace(0.0, 1.0, 101);
  p.area_ranges = {{"all", 0, 1e10},
                   {"small", 0, 32.0 * 32},
                   {"medium", 32.0 * 32, 96.0 * 96},
                   {"large", 96.0 * 96, 1e10}};
  p.max_dets = {1, 10, 100};
  return p;
}

double CocoEvalResult::precision_at(size_t t, size_t r, size_t k, size_t a, size_t m) const {
  const size_t R = params.recall_thresholds.size(), K = category_ids.size(),
               A = params.area_ranges.size(), M = params.max_dets.size();
  return precision[(((t * R + r) * K + k) * A + a) * M + m];
}

double CocoEvalResult::recall_at(size_t t, size_t k, size_t a, size_t m) const {
  const size_t K = category_ids.size(), A = params.area_ranges.size(), M = params.max_dets.size();
  return recall[((t * K + k) * A + a) * M + m];
}

CocoEvalResult evaluate_coco(const CocoDataset& ground_truth,
                             const std::vector<CocoDetection>& detections,
                             const CocoEvalParams& params) {
  ATTND_CHECK(!params.iou_thresholds.empty() && !params.recall_thresholds.empty() &&
                  !params.area_ranges.empty() && !params.max_dets.empty(),
              "empty COCO evaluation parameters");
  ATTND_CHECK(std::is_sorted(params.max_dets.begin(), params.max_dets.end()),
              "max_dets must be ascending");
  check_results_fit(detections, "detections", ground_truth, "the ground truth");

  // Images and categories in ascending id order, as COCOeval sorts them: ties of score between
  // images are broken by this order.
  std::vector<int64_t> image_ids;
  for (const auto& im : ground_truth.images) image_ids.push_back(im.id);
  std::sort(image_ids.begin(), image_ids.end());
  CocoEvalResult result;
  result.params = params;
  for (const auto& c : ground_truth.categories) result.category_ids.push_back(c.id);
  std::sort(result.category_ids.begin(), result.category_ids.end());
  std::map<int64_t, size_t> image_index, category_index;
  for (size_t i = 0; i < image_ids.size(); ++i) image_index[image_ids[i]] = i;
  for (size_t k = 0; k < result.category_ids.size(); ++k)
    category_index[result.category_ids[k]] = k;

  const size_t I = image_ids.size(), K = result.category_ids.size();
  const size_t T = params.iou_thresholds.size(), R = params.recall_thresholds.size(),
               A = params.area_ranges.size(), M = params.max_dets.size();
  std::vector<std::vector<Gt>> gts(K * I);
  std::vector<std::vector<Dt>> dts(K * I);
  for (const auto& a : ground_truth.annotations)
    gts[category_index.at(a.category_id) * I + image_index.at(a.image_id)].push_back(
        {a.bbox, a.area, a.iscrowd});
  for (size_t i = 0; i < detections.size(); ++i) {
    const auto& d = detections[i];
    ATTND_CHECK_INPUT(std::isfinite(d.score), "detections: [", i, "].score is ", d.score);
    ATTND_CHECK_INPUT(std::isfinite(d.bbox.x) && std::isfinite(d.bbox.y) &&
                          std::isfinite(d.bbox.w) && std::isfinite(d.bbox.h),
                      "detections: [", i, "].bbox is not finite");
    dts[category_index.at(d.category_id) * I + image_index.at(d.image_id)].push_back(
        {d.bbox, d.score});
  }

  // evaluated[(k·A + a)·I + i]: empty where the image has neither gts nor detections of k.
  std::vector<std::optional<CellEval>> evaluated(K * A * I);
  const int64_t max_det = params.max_dets.back();
  for (size_t k = 0; k < K; ++k)
    for (size_t i = 0; i < I; ++i) {
      const auto& g = gts[k * I + i];
      auto d = dts[k * I + i];
      if (g.empty() && d.empty()) continue;
      std::stable_sort(d.begin(), d.end(),
                       [](const Dt& a, const Dt& b) { return a.score > b.score; });
      if (static_cast<int64_t>(d.size()) > max_det) d.resize(max_det);
      std::vector<std::vector<double>> ious(d.size(), std::vector<double>(g.size()));
      for (size_t x = 0; x < d.size(); ++x)
        for (size_t y = 0; y < g.size(); ++y) ious[x][y] = coco_iou(d[x].box, g[y].box, g[y].crowd);
      for (size_t a = 0; a < A; ++a)
        evaluated[(k * A + a) * I + i] =
            evaluate_cell(g, d, ious, params.area_ranges[a], params.iou_thresholds);
    }

  result.precision.assign(T * R * K * A * M, -1.0);
  result.recall.assign(T * K * A * M, -1.0);
  for (size_t k = 0; k < K; ++k)
    for (size_t a = 0; a < A; ++a) {
      std::vector<const CellEval*> cells;
      for (size_t i = 0; i < I; ++i)
        if (const auto& c = evaluated[(k * A + a) * I + i]) cells.push_back(&*c);
      if (cells.empty()) continue;
      for (size_t m = 0; m < M; ++m) {
        std::vector<std::vector<double>> precision(T, std::vector<double>(R, -1.0));
        std::vector<double> recall(T, -1.0);
        accumulate(cells, params.max_dets[m], params, precision, recall);
        for (size_t t = 0; t < T; ++t) {
          result.recall[((t * K + k) * A + a) * M + m] = recall[t];
          for (size_t r = 0; r < R; ++r)
            result.precision[(((t * R + r) * K + k) * A + a) * M + m] = precision[t][r];
        }
      }
    }
  return result;
}

double coco_mean(const CocoEvalResult& result, bool ap, double iou, const std::string& area,
                 int64_t max_dets) {
  const auto& p = result.params;
  double sum = 0;
  size_t count = 0;
  for (size_t t = 0; t < p.iou_thresholds.size(); ++t) {
    if (iou >= 0 && p.iou_thresholds[t] != iou) continue;  // exact, as COCOeval's np.where
    for (size_t a = 0; a < p.area_ranges.size(); ++a) {
      if (p.area_ranges[a].name != area) continue;
      for (size_t m = 0; m < p.max_dets.size(); ++m) {
        if (p.max_dets[m] != max_dets) continue;
        for (size_t k = 0; k < result.category_ids.size(); ++k) {
          if (ap) {
            for (size_t r = 0; r < p.recall_thresholds.size(); ++r) {
              const double x = result.precision_at(t, r, k, a, m);
              if (x > -1) sum += x, ++count;
            }
          } else {
            const double x = result.recall_at(t, k, a, m);
            if (x > -1) sum += x, ++count;
          }
        }
      }
    }
  }
  return count == 0 ? -1.0 : sum / static_cast<double>(count);
}

std::vector<std::pair<std::string, double>> coco_summary(const CocoEvalResult& result) {
  const auto& md = result.params.max_dets;
  ATTND_CHECK(md.size() == 3, "the COCO summary needs 3 maxDets values, got ", md.size());
  const int64_t last = md.back();
  return {{"AP", coco_mean(result, true, -1, "all", last)},
          {"AP50", coco_mean(result, true, 0.5, "all", last)},
          {"AP75", coco_mean(result, true, 0.75, "all", last)},
          {"APs", coco_mean(result, true, -1, "small", last)},
          {"APm", coco_mean(result, true, -1, "medium", last)},
          {"APl", coco_mean(result, true, -1, "large", last)},
          {"AR" + std::to_string(md[0]), coco_mean(result, false, -1, "all", md[0])},
          {"AR" + std::to_string(md[1]), coco_mean(result, false, -1, "all", md[1])},
          {"AR" + std::to_string(md[2]), coco_mean(result, false, -1, "all", md[2])},
          {"ARs", coco_mean(result, false, -1, "small", last)},
          {"ARm", coco_mean(result, false, -1, "medium", last)},
          {"ARl", coco_mean(result, false, -1, "large", last)}};
}

Metrics coco_metrics(const CocoEvalResult& result) {
  Metrics out;
  for (const auto& [name, value] : coco_summary(result)) out[name] = value;
  return out;
}

std::vector<std::pair<int64_t, double>> coco_category_ap(const CocoEvalResult& result) {
  const auto& p = result.params;
  size_t all = 0;
  while (all < p.area_ranges.size() && p.area_ranges[all].name != "all") ++all;
  ATTND_CHECK(all < p.area_ranges.size(), "no area range named \"all\"");
  const size_t m = p.max_dets.size() - 1;
  std::vector<std::pair<int64_t, double>> out;
  for (size_t k = 0; k < result.category_ids.size(); ++k) {
    double sum = 0;
    size_t count = 0;
    for (size_t t = 0; t < p.iou_thresholds.size(); ++t)
      for (size_t r = 0; r < p.recall_thresholds.size(); ++r) {
        const double x = result.precision_at(t, r, k, all, m);
        if (x > -1) sum += x, ++count;
      }
    out.push_back({result.category_ids[k], count == 0 ? -1.0 : sum / static_cast<double>(count)});
  }
  return out;
}

std::string format_coco_summary(const CocoEvalResult& result) {
  const auto summary = coco_summary(result);
  const auto& md = result.params.max_dets;
  struct Line {
    bool ap;
    const char* iou;
    const char* area;
    int64_t max_dets;
  };
  const Line lines[12] = {
      {true, "0.50:0.95", "all", md[2]},     {true, "0.50", "all", md[2]},
      {true, "0.75", "all", md[2]},          {true, "0.50:0.95", "small", md[2]},
      {true, "0.50:0.95", "medium", md[2]},  {true, "0.50:0.95", "large", md[2]},
      {false, "0.50:0.95", "all", md[0]},    {false, "0.50:0.95", "all", md[1]},
      {false, "0.50:0.95", "all", md[2]},    {false, "0.50:0.95", "small", md[2]},
      {false, "0.50:0.95", "medium", md[2]}, {false, "0.50:0.95", "large", md[2]}};
  std::ostringstream out;
  for (size_t i = 0; i < 12; ++i) {
    char text[160];
    std::snprintf(text, sizeof text, " %-18s %s @[ IoU=%-9s | area=%6s | maxDets=%3lld ] = %0.3f\n",
                  lines[i].ap ? "Average Precision" : "Average Recall",
                  lines[i].ap ? "(AP)" : "(AR)", lines[i].iou, lines[i].area,
                  static_cast<long long>(lines[i].max_dets), summary[i].second);
    out << text;
  }
  return out.str();
}

}  // namespace attnd
