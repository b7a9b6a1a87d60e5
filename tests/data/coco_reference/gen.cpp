// Random COCO box-evaluation cases, for pycocotools to score (see README.md). Two modes:
//   gen cross N          → /tmp/xcheck/cases/{gt,dt,ours}_<i>.json: N cases in COCO's file formats
//                          and attnd's 12 numbers for each (compare.py scores and compares them);
//   gen reference N OUT  → OUT: the inputs of N smaller cases in one compact JSON
//                          (make_reference.py adds pycocotools' 12 numbers per case, giving
//                          tests/data/coco_eval_reference.json).
// Provenance of the test data, not part of the build (CMake globs src/**/*.cpp and
// tests/test_*.cpp only).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <random>
#include <string>

#include "attnd/io/coco_json.h"
#include "attnd/train/coco_eval.h"
using namespace attnd;

namespace {

std::mt19937 rng;
int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }

// The cross-check's cases (1–6 images, 1–4 categories, up to 6 gts per image and category, 1 in 8
// crowd, 1 in 4 with an area field unlike the box, a 4- or 8-pixel grid, scores tied on a 0.1
// grid in 2 of 3 cases, up to 130 detections per image and category in 1 of 5 cases).
void cross(int cases) {
  rng.seed(99);
  for (int trial = 0; trial < cases; ++trial) {
    CocoDataset data;
    const int n_images = pick(1, 6), n_cats = pick(1, 4);
    for (int i = 0; i < n_images; ++i) data.images.push_back({5 + 2 * i, "x.png", 400, 400});
    for (int c = 0; c < n_cats; ++c) data.categories.push_back({c + 1, "c", ""});
    std::vector<CocoDetection> dets;
    int64_t ann = 1;
    const double g = trial % 2 ? 8.0 : 4.0;
    auto random_box = [&]() {
      return BoxXYWH{g * pick(0, 20), g * pick(0, 20), g * pick(1, 30), g * pick(1, 30)};
    };
    for (const auto& im : data.images)
      for (int c = 1; c <= n_cats; ++c) {
        std::vector<BoxXYWH> boxes;
        for (int j = 0, n = pick(0, 6); j < n; ++j) {
          const BoxXYWH box = random_box();
          boxes.push_back(box);
          const double field = pick(0, 3) == 0 ? 64.0 * pick(1, 200) : area(box);
          data.annotations.push_back({ann++, im.id, c, box, field, pick(0, 7) == 0});
        }
        const int n_det = trial % 5 == 0 ? pick(0, 130) : pick(0, 12);
        for (int j = 0; j < n_det; ++j) {
          BoxXYWH box = random_box();
          if (!boxes.empty() && pick(0, 2)) {
            box = boxes[pick(0, (int)boxes.size() - 1)];
            box.x += g * pick(-1, 1);
            box.w = std::max(g, box.w + g * pick(-1, 1));
            box.h = std::max(g, box.h + g * pick(-2, 1));
          }
          const double score =
              trial % 3 == 0 ? std::uniform_real_distribution<double>(0, 1)(rng) : 0.1 * pick(1, 5);
          dets.push_back({im.id, c, box, score});
        }
      }
    if (dets.empty()) dets.push_back({data.images[0].id, 1, {0, 0, 8, 8}, 0.5});
    std::shuffle(dets.begin(), dets.end(), rng);
    const std::string n = std::to_string(trial);
    write_coco_instances("/tmp/xcheck/cases/gt_" + n + ".json", data);
    write_coco_results("/tmp/xcheck/cases/dt_" + n + ".json", dets);
    nlohmann::json ours = nlohmann::json::array();
    for (auto& [name, v] : coco_summary(evaluate_coco(data, dets))) ours.push_back(v);
    std::ofstream("/tmp/xcheck/cases/ours_" + n + ".json") << ours.dump();
  }
}

// The reference file's cases: smaller (1–4 images, 1–3 categories, up to 5 gts and 10 detections
// per image and category) so that 40 fit in ~70 KB, with the same traps: 1 in 6 gts a crowd;
// 1 in 4 with an area field unlike the box, a third of those exactly 32² or 96² (the bounds);
// a 4- or 8-pixel grid (equal IoUs, IoUs exactly 0.5 or 0.75); scores tied on a 0.1 grid in 2 of
// 3 cases, else uniform rounded to 1e-6; image ids listed out of order in 1 of 4 cases; in 1 of 6
// image-category cells a planted tie of IoU (a detection at IoU 0.6 to two gts, which pycocotools
// gives to the later one, and a lower-scored detection on one of them); and in
// cases 4, 14, 24, 34 one image and category with 110–130 detections, so that maxDets 100 cuts.
nlohmann::json reference(int cases) {
  rng.seed(2026);
  nlohmann::json out = nlohmann::json::array();
  for (int trial = 0; trial < cases; ++trial) {
    const bool cut = trial % 10 == 4;
    const int n_images = cut ? pick(1, 2) : pick(1, 4), n_cats = cut ? 1 : pick(1, 3);
    std::vector<int64_t> images, cats;
    for (int i = 0; i < n_images; ++i) images.push_back(5 + 2 * i);
    for (int c = 0; c < n_cats; ++c) cats.push_back(c + 1);
    if (pick(0, 3) == 0) std::shuffle(images.begin(), images.end(), rng);
    const double g = trial % 2 ? 8.0 : 4.0;
    auto random_box = [&]() {
      return BoxXYWH{g * pick(0, 20), g * pick(0, 20), g * pick(1, 30), g * pick(1, 30)};
    };
    nlohmann::json gts = nlohmann::json::array(), dts = nlohmann::json::array();
    for (int64_t im : images)
      for (int64_t c : cats) {
        const bool many = cut && im == images[0];
        std::vector<BoxXYWH> boxes;
        for (int j = 0, n = many ? pick(3, 6) : pick(0, 5); j < n; ++j) {
          const BoxXYWH box = random_box();
          boxes.push_back(box);
          double field = area(box);
          if (pick(0, 3) == 0) {
            const int kind = pick(0, 2);
            field = kind == 0 ? 64.0 * pick(1, 200) : kind == 1 ? 1024.0 : 9216.0;
          }
          gts.push_back({im, c, box.x, box.y, box.w, box.h, field, pick(0, 5) == 0 ? 1 : 0});
        }
        if (!many && pick(0, 5) == 0) {
          // A detection with IoU exactly 0.6 to two gts (the later one takes it), then one on a
          // gt: whether it finds its gt free depends on which of the two the first one took.
          const double s = 4 * g * pick(1, 4), x0 = g * pick(0, 10), y0 = g * pick(0, 10);
          BoxXYWH a{x0, y0, s, s}, b{x0 + s / 2, y0, s, s};
          if (pick(0, 1)) std::swap(a, b);
          for (const BoxXYWH& box : {a, b})
            gts.push_back({im, c, box.x, box.y, box.w, box.h, area(box), 0});
          const bool ties = trial % 3 != 0;
          auto uniform = [&](double lo, double hi) {
            return std::round(std::uniform_real_distribution<double>(lo, hi)(rng) * 1e6) / 1e6;
          };
          dts.push_back({im, c, x0 + s / 4, y0, s, s, ties ? 0.1 * pick(3, 5) : uniform(0.5, 1)});
          dts.push_back({im, c, a.x, a.y, a.w, a.h, ties ? 0.1 * pick(1, 2) : uniform(0, 0.5)});
        }
        const int n_det = many ? pick(110, 130) : pick(0, 10);
        for (int j = 0; j < n_det; ++j) {
          BoxXYWH box = random_box();
          if (!boxes.empty() && pick(0, 2)) {
            box = boxes[pick(0, (int)boxes.size() - 1)];
            box.x += g * pick(-1, 1);
            box.w = std::max(g, box.w + g * pick(-1, 1));
            box.h = std::max(g, box.h + g * pick(-2, 1));
          }
          const double score =
              trial % 3 == 0
                  ? std::round(std::uniform_real_distribution<double>(0, 1)(rng) * 1e6) / 1e6
                  : 0.1 * pick(1, 5);
          dts.push_back({im, c, box.x, box.y, box.w, box.h, score});
        }
      }
    if (dts.empty()) dts.push_back({images[0], 1, 0, 0, 8, 8, 0.5});
    std::vector<nlohmann::json> rows(dts.begin(), dts.end());
    std::shuffle(rows.begin(), rows.end(), rng);
    out.push_back({{"images", images}, {"categories", cats}, {"gts", gts}, {"dts", rows}});
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 2 ? argv[1] : "";
  if (mode == "cross") {
    cross(std::atoi(argv[2]));
  } else if (mode == "reference" && argc == 4) {
    std::ofstream(argv[3]) << nlohmann::json{{"cases", reference(std::atoi(argv[2]))}}.dump();
  } else {
    std::cerr << "usage: gen cross N | gen reference N OUT.json\n";
    return 2;
  }
}
